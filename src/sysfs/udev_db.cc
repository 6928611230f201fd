#include "sysfs/udev_db.h"

#include <algorithm>

#include "common/parse.h"

namespace diskinv {

namespace {

// Calls fn(type, value) for each of the first kUdevDbMaxLines non-empty lines of `data` that
// have the "X:value" shape, and malformed() for the other counted lines.
template <typename Fn, typename Malformed>
void ForEachLine(std::string_view data, Fn fn, Malformed malformed) {
  size_t pos = 0;
  for (uint32_t lines = 0; pos < data.size() && lines < kUdevDbMaxLines;) {
    size_t nl = data.find('\n', pos);
    if (nl == std::string_view::npos) nl = data.size();
    std::string_view line = data.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty()) continue;
    ++lines;
    if (line.size() < 2 || line[1] != ':') {
      malformed();
    } else {
      fn(line[0], line.substr(2));
    }
  }
}

// An E: value's '=' position, or npos when the line is malformed (no '=', or an empty key).
size_t PropertySplit(std::string_view value) {
  size_t eq = value.find('=');
  return eq == 0 ? std::string_view::npos : eq;
}

}  // namespace

UdevRecord ParseUdevDbRecord(std::string_view data, UdevDbParseStats* stats) {
  UdevDbParseStats local;
  UdevDbParseStats& st = stats ? *stats : local;
  UdevRecord rec;
  rec.present = true;
  // Size the packed property and link lists exactly, once: each is one heap block, and the
  // agent keeps 30,000 of them at 10,000 disks (growth would leave up to half of each unused).
  size_t prop_bytes = 0, link_bytes = 0;
  ForEachLine(
      data,
      [&](char type, std::string_view value) {
        if (type == 'E') {
          if (size_t eq = PropertySplit(value); eq != std::string_view::npos) {
            prop_bytes += PackedProperties::EncodedSize(eq, value.size() - eq - 1);
          }
        } else if (type == 'S') {
          link_bytes += PackedStrings::EncodedSize(value.size());
        }
      },
      [] {});
  rec.properties.reserve(prop_bytes);
  rec.links.reserve(link_bytes);
  ForEachLine(
      data,
      [&](char type, std::string_view value) {
        ++st.lines;
        switch (type) {
          case 'E': {
            size_t eq = PropertySplit(value);
            if (eq == std::string_view::npos) {
              ++st.malformed;
              break;
            }
            rec.properties.Add(value.substr(0, eq), value.substr(eq + 1));
            break;
          }
          case 'S':
            rec.links.push_back(value);
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
      },
      [&] {
        ++st.lines;
        ++st.malformed;
      });
  return rec;
}

}  // namespace diskinv
