#include "common/parse.h"

#include <charconv>
#include <limits>

#include <fmt/format.h>

namespace diskinv {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

template <typename T>
Result<T> ParseInteger(std::string_view raw, const char* what) {
  std::string_view s = Trim(raw);
  if (s.empty()) return Status::Invalid(fmt::format("empty {} value", what));
  if (std::is_unsigned_v<T> && s.front() == '-') {
    return Status::Invalid(fmt::format("negative {} value {}", what, QuoteForError(raw)));
  }
  T v{};
  const char* first = s.data();
  if (*first == '+') ++first;
  auto [ptr, ec] = std::from_chars(first, s.data() + s.size(), v, 10);
  if (ec == std::errc::result_out_of_range) {
    return Status::Invalid(fmt::format("{} value out of range {}", what, QuoteForError(raw)));
  }
  if (ec != std::errc() || ptr != s.data() + s.size() || first == s.data() + s.size()) {
    return Status::Invalid(fmt::format("not a {} value: {}", what, QuoteForError(raw)));
  }
  return v;
}

}  // namespace

std::string_view TrimTrailing(std::string_view s) {
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

std::string_view Trim(std::string_view s) {
  s = TrimTrailing(s);
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  return s;
}

Result<uint64_t> ParseU64(std::string_view s) { return ParseInteger<uint64_t>(s, "unsigned integer"); }

Result<int64_t> ParseI64(std::string_view s) { return ParseInteger<int64_t>(s, "integer"); }

Result<DevNum> ParseDevNum(std::string_view raw) {
  std::string_view s = Trim(raw);
  size_t colon = s.find(':');
  if (colon == std::string_view::npos) {
    return Status::Invalid(fmt::format("not MAJ:MIN: {}", QuoteForError(raw)));
  }
  auto maj = ParseInteger<uint32_t>(s.substr(0, colon), "major");
  auto min = ParseInteger<uint32_t>(s.substr(colon + 1), "minor");
  if (!maj.ok() || !min.ok()) {
    return Status::Invalid(fmt::format("not MAJ:MIN: {}", QuoteForError(raw)));
  }
  return DevNum{*maj, *min};
}

std::string NormalizeWhitespace(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool pending_space = false;
  for (char c : Trim(s)) {
    if (IsSpace(c)) {
      pending_space = true;
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

std::string UnhexMangle(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] == 'x') {
      int hi = HexValue(s[i + 2]);
      int lo = HexValue(s[i + 3]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 3;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

std::string QuoteForError(std::string_view s) {
  constexpr size_t kMax = 32;
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < kMax; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  out += s.size() > kMax ? "\"..." : "\"";
  return out;
}

}  // namespace diskinv
