#include "sysfs/sysfs_reader.h"

#include <vector>

namespace diskinv {

std::string NormalizePath(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view part = path.substr(i, j - i);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    i = j + 1;
  }
  std::string out;
  for (auto p : parts) {
    if (!out.empty()) out.push_back('/');
    out.append(p);
  }
  return out;
}

std::string ResolveLinkTarget(std::string_view link_path, std::string_view target) {
  if (!target.empty() && target.front() == '/') return NormalizePath(target);
  size_t slash = link_path.rfind('/');
  std::string base(slash == std::string_view::npos ? std::string_view() : link_path.substr(0, slash));
  if (!base.empty()) base.push_back('/');
  base.append(target);
  return NormalizePath(base);
}

}  // namespace diskinv
