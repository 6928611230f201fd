#include "sysfs/udev_db.h"

#include <algorithm>

#include "common/parse.h"

namespace diskinv {

UdevRecord ParseUdevDbRecord(std::string_view data, UdevDbParseStats* stats) {
  UdevDbParseStats local;
  UdevDbParseStats& st = stats ? *stats : local;
  UdevRecord rec;
  rec.present = true;
  // Size the property and link lists once: growing them move-constructed every string again
  // (a tenth of a 10,000-disk scan was this parser's allocations).
  size_t props = 0, links = 0;
  for (size_t p = 0; p < data.size();) {
    props += data[p] == 'E';
    links += data[p] == 'S';
    size_t nl = data.find('\n', p);
    if (nl == std::string_view::npos) break;
    p = nl + 1;
  }
  rec.properties.reserve(std::min<size_t>(props, kUdevDbMaxLines));
  rec.links.reserve(std::min<size_t>(links, kUdevDbMaxLines));
  size_t pos = 0;
  while (pos < data.size() && st.lines < kUdevDbMaxLines) {
    size_t nl = data.find('\n', pos);
    if (nl == std::string_view::npos) nl = data.size();
    std::string_view line = data.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty()) continue;
    ++st.lines;
    if (line.size() < 2 || line[1] != ':') {
      ++st.malformed;
      continue;
    }
    std::string_view value = line.substr(2);
    switch (line[0]) {
      case 'E': {
        size_t eq = value.find('=');
        if (eq == 0 || eq == std::string_view::npos) {
          ++st.malformed;
          break;
        }
        rec.properties.emplace_back(std::string(value.substr(0, eq)),
                                    std::string(value.substr(eq + 1)));
        break;
      }
      case 'S':
        rec.links.emplace_back(value);
        break;
      case 'G':
        rec.tags.emplace_back(value);
        break;
      case 'Q':
        rec.current_tags.emplace_back(value);
        break;
      case 'I': {
        auto v = ParseU64(value);
        if (v.ok()) {
          rec.initialized_usec = *v;
        } else {
          ++st.malformed;
        }
        break;
      }
      case 'W':
      case 'L':
      case 'V':
      case 'N':
        break;  // known, not used by the inventory
      default:
        ++st.unknown;
        break;
    }
  }
  return rec;
}

}  // namespace diskinv
