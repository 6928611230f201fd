#include "sysfs/attr_parse.h"

#include "common/parse.h"

namespace diskinv {

SchedulerList ParseScheduler(std::string_view s) {
  SchedulerList out;
  s = Trim(s);
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    size_t j = s.find(' ', i);
    if (j == std::string_view::npos) j = s.size();
    std::string_view tok = s.substr(i, j - i);
    i = j;
    if (tok.empty()) continue;
    if (tok.size() >= 2 && tok.front() == '[' && tok.back() == ']') {
      tok = tok.substr(1, tok.size() - 2);
      if (!out.selected) out.selected = std::string(tok);
    }
    out.available.emplace_back(tok);
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> ParseUeventFile(std::string_view s) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t nl = s.find('\n', pos);
    if (nl == std::string_view::npos) nl = s.size();
    std::string_view line = s.substr(pos, nl - pos);
    pos = nl + 1;
    size_t eq = line.find('=');
    if (eq == std::string_view::npos || eq == 0) continue;
    out.emplace_back(std::string(line.substr(0, eq)), std::string(line.substr(eq + 1)));
  }
  return out;
}

std::optional<Hctl> ParseHctl(std::string_view name) {
  Hctl h;
  unsigned* parts[] = {&h.host, &h.channel, &h.target, &h.lun};
  size_t i = 0;
  for (int k = 0; k < 4; ++k) {
    size_t start = i;
    uint64_t v = 0;
    while (i < name.size() && name[i] >= '0' && name[i] <= '9') {
      v = v * 10 + static_cast<uint64_t>(name[i] - '0');
      if (v > 0xFFFFFFFFu) return std::nullopt;
      ++i;
    }
    if (i == start) return std::nullopt;
    *parts[k] = static_cast<unsigned>(v);
    if (k < 3) {
      if (i >= name.size() || name[i] != ':') return std::nullopt;
      ++i;
    }
  }
  return h;
}

std::optional<bool> ParseBool01(std::string_view s) {
  s = Trim(s);
  if (s == "0") return false;
  if (s == "1") return true;
  return std::nullopt;
}

}  // namespace diskinv
