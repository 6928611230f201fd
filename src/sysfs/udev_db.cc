#include "sysfs/udev_db.h"

#include "common/parse.h"

namespace diskinv {

UdevRecord ParseUdevDbRecord(std::string_view data, UdevDbParseStats* stats) {
  UdevDbParseStats local;
  UdevDbParseStats& st = stats ? *stats : local;
  UdevRecord rec;
  rec.present = true;
  // Parsed into per-thread scratch lists, then copied once at their exact size: the agent
  // keeps 30,000 records at 10,000 disks, and growth would leave up to half of each block
  // unused (well-known property keys make the final size unknown until the end).
  thread_local PackedProperties properties;
  thread_local PackedStrings links;
  properties.clear();
  links.clear();
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
        properties.Add(value.substr(0, eq), value.substr(eq + 1));
        break;
      }
      case 'S':
        links.push_back(value);
        break;
      case 'G':
        rec.tags.push_back(value);
        break;
      case 'Q':
        rec.current_tags.push_back(value);
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
  rec.properties = properties;
  rec.links = links;
  return rec;
}

}  // namespace diskinv
