#include "sysfs/sysfs_reader.h"

#include <string>

namespace diskinv {

std::string NormalizePath(std::string_view path) {
  // One pass into one buffer: ".." drops the last component written (never above the root).
  std::string out;
  out.reserve(path.size());
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view part = path.substr(i, j - i);
    if (part == "..") {
      size_t last = out.rfind('/');
      out.resize(last == std::string::npos ? 0 : last);
    } else if (!part.empty() && part != ".") {
      if (!out.empty()) out.push_back('/');
      out.append(part);
    }
    i = j + 1;
  }
  return out;
}

std::string ResolveLinkTarget(std::string_view link_path, std::string_view target) {
  if (!target.empty() && target.front() == '/') return NormalizePath(target);
  size_t slash = link_path.rfind('/');
  std::string_view dir =
      slash == std::string_view::npos ? std::string_view() : link_path.substr(0, slash);
  std::string base;
  base.reserve(dir.size() + 1 + target.size());
  base.append(dir);
  if (!base.empty()) base.push_back('/');
  base.append(target);
  return NormalizePath(base);
}

}  // namespace diskinv
