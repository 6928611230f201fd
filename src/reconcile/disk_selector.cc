#include "reconcile/disk_selector.h"

#include <fnmatch.h>

#include <cmath>
#include <string>

#include <fmt/format.h>

#include "common/parse.h"

namespace diskinv {
namespace {

bool Glob(const std::string& pattern, const std::optional<std::string>& value) {
  return value && fnmatch(pattern.c_str(), value->c_str(), 0) == 0;
}

std::string Show(const std::optional<std::string>& v) { return v ? "'" + *v + "'" : "unknown"; }

}  // namespace

std::string SelectorMismatch(const DiskSelector& s, const DiskFacts& d,
                             std::optional<int64_t> claim_pool_id) {
  if (s.pool_id && claim_pool_id != s.pool_id) return "not claimed into the profile's pool";
  if (s.node_pattern && !Glob(*s.node_pattern, d.hostname)) {
    return fmt::format("node '{}' does not match '{}'", d.hostname, *s.node_pattern);
  }
  if (s.kname_pattern && !Glob(*s.kname_pattern, d.kname)) {
    return fmt::format("kname '{}' does not match '{}'", d.kname, *s.kname_pattern);
  }
  if (s.transport && d.transport != s.transport) {
    return fmt::format("transport is {}, not '{}'", Show(d.transport), *s.transport);
  }
  if (s.rotational && d.rotational != s.rotational) {
    return d.rotational ? fmt::format("rotational is {}", *d.rotational) : "rotational is unknown";
  }
  if ((s.min_size_bytes || s.max_size_bytes) && !d.size_bytes) return "size is unknown";
  if (s.min_size_bytes && *d.size_bytes < *s.min_size_bytes) {
    return fmt::format("size {} is below {}", *d.size_bytes, *s.min_size_bytes);
  }
  if (s.max_size_bytes && *d.size_bytes > *s.max_size_bytes) {
    return fmt::format("size {} is above {}", *d.size_bytes, *s.max_size_bytes);
  }
  if (s.model_pattern && !Glob(*s.model_pattern, d.model)) {
    return fmt::format("model {} does not match '{}'", Show(d.model), *s.model_pattern);
  }
  if (s.vendor_pattern && !Glob(*s.vendor_pattern, d.vendor)) {
    return fmt::format("vendor {} does not match '{}'", Show(d.vendor), *s.vendor_pattern);
  }
  if (s.require_unpartitioned && d.partitioned) return "it has partitions";
  if (s.require_no_holders && d.has_holders) return "something is built on it (holders)";
  return "";
}

Result<int64_t> ParseSize(std::string_view in) {
  std::string_view s = Trim(in);
  size_t i = 0;
  while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) ++i;
  std::string num(s.substr(0, i));
  std::string unit(s.substr(i));
  if (num.empty() || num.find('.') != num.rfind('.')) {
    return Status::Invalid(fmt::format("{} is not a size (e.g. 512, 100G, 1.5T)", QuoteForError(in)));
  }
  for (auto& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (unit.ends_with("IB")) unit.resize(unit.size() - 2);
  else if (unit.size() > 1 && unit.ends_with("B")) unit.pop_back();
  if (unit == "B") unit.clear();
  int shift = 0;
  if (unit.empty()) shift = 0;
  else if (unit == "K") shift = 10;
  else if (unit == "M") shift = 20;
  else if (unit == "G") shift = 30;
  else if (unit == "T") shift = 40;
  else if (unit == "P") shift = 50;
  else return Status::Invalid(fmt::format("{}: unknown size unit '{}' (K M G T P)", QuoteForError(in), unit));
  double v = std::stod(num) * std::ldexp(1.0, shift);
  if (!(v >= 0) || v > 9.2e18) return Status::Invalid(fmt::format("{} is out of range", QuoteForError(in)));
  return static_cast<int64_t>(std::llround(v));
}

}  // namespace diskinv
