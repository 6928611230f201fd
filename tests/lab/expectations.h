// Expectations of a QEMU lab scenario: the identity it configured in QEMU (serials, WWNs, EUIs,
// NQNs, HCTLs, sizes...), checked against `diskinv scan --json` from the guest. The field-by-field
// comparison with lsblk is tests/support/lsblk_compare (CompareLsblkJson), shared with the fixture
// tests; this header adds only what the lab configures.
//
// One expectation per line, '#' comments:  SELECTOR FIELD VALUE
//   SELECTOR  a kname (nvme0n1) or FIELD=VALUE (serial=LAB0001, nvme.nsid=2, hctl=0:0:1:0); must
//             match exactly one device
//   FIELD     a key, or a dotted path into nested objects (nvme.subsysnqn, scsi.vpd83.0.value)
//   VALUE     the rest of the line; strings compare as is, other JSON values by their dump
//             (true, 4096, null); a VALUE starting with '~' is a substring the value must contain;
//             <missing> means the key is absent
// Special lines:
//   count FIELD=VALUE N     N devices match
//   absent SELECTOR         no device matches
//   knames NAME...          the inventory is exactly these devices (any order)
//   event ACTION KNAME      the step's event log has that event ("add nvme0n1", "remove sdb")
//   events N                the step's event log has exactly N events
#pragma once

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "common/parse.h"

namespace diskinv::lab {

using nlohmann::json;

namespace internal {

// Follows a dotted path (array elements by index); nullptr when any step is missing.
inline const json* Lookup(const json& root, const std::string& path) {
  const json* cur = &root;
  std::stringstream ss(path);
  std::string part;
  while (std::getline(ss, part, '.')) {
    if (cur->is_object()) {
      auto it = cur->find(part);
      if (it == cur->end()) return nullptr;
      cur = &*it;
    } else if (cur->is_array()) {
      size_t i = 0;
      try {
        i = std::stoul(part);
      } catch (...) {
        return nullptr;
      }
      if (i >= cur->size()) return nullptr;
      cur = &(*cur)[i];
    } else {
      return nullptr;
    }
  }
  return cur;
}

inline bool ValueMatches(const json* v, const std::string& want) {
  if (!v) return want == "<missing>";
  if (!want.empty() && want[0] == '~') {
    std::string s = v->is_string() ? v->get<std::string>() : v->dump();
    return s.find(want.substr(1)) != std::string::npos;
  }
  if (v->is_string()) return v->get<std::string>() == want;
  return v->dump() == want;
}

inline std::string Show(const json* v) { return v ? v->dump() : "<missing>"; }

inline std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace internal

// Checks `expectations` (format above) against diskinv's JSON; returns one line per failure.
// `events`: the step's events, one "ACTION KNAME" each (hotplug scenarios), or nullptr.
inline std::vector<std::string> CheckExpectations(
    const json& ours, const std::string& expectations,
    const std::vector<std::string>* events = nullptr) {
  using namespace internal;
  std::vector<std::string> fails;
  auto select = [&](const std::string& sel) {
    std::vector<const json*> out;
    auto eq = sel.find('=');
    for (const auto& d : ours["blockdevices"]) {
      if (eq == std::string::npos
              ? d["kname"] == sel
              : ValueMatches(Lookup(d, sel.substr(0, eq)), sel.substr(eq + 1))) {
        out.push_back(&d);
      }
    }
    return out;
  };
  std::stringstream in(expectations);
  std::string line;
  while (std::getline(in, line)) {
    std::string t(Trim(line));
    if (t.empty() || t[0] == '#') continue;
    std::stringstream ls(t);
    std::string sel, field, value;
    ls >> sel >> field;
    std::getline(ls, value);
    value = std::string(Trim(value));
    if (sel == "count") {
      size_t n = select(field).size();
      if (std::to_string(n) != value)
        fails.push_back("count " + field + ": " + std::to_string(n) + " devices, want " + value);
      continue;
    }
    if (sel == "knames") {
      std::vector<std::string> want{field}, have;
      std::stringstream vs(value);
      for (std::string k; vs >> k;) want.push_back(k);
      for (const auto& d : ours["blockdevices"]) have.push_back(d.value("kname", ""));
      std::sort(want.begin(), want.end());
      std::sort(have.begin(), have.end());
      if (want != have)
        fails.push_back("knames: diskinv has [" + Join(have) + "], want [" + Join(want) + "]");
      continue;
    }
    if (sel == "event" || sel == "events") {
      if (!events) {
        fails.push_back(t + ": no event log for this step");
      } else if (sel == "events" && std::to_string(events->size()) != field) {
        fails.push_back("events: " + std::to_string(events->size()) + " events [" + Join(*events) +
                        "], want " + field);
      } else if (sel == "event" &&
                 std::find(events->begin(), events->end(), field + " " + value) == events->end()) {
        fails.push_back("event " + field + " " + value + ": not among [" + Join(*events) + "]");
      }
      continue;
    }
    if (sel == "absent") {
      if (!select(field).empty()) fails.push_back("absent " + field + ": a device matches");
      continue;
    }
    auto devs = select(sel);
    if (devs.size() != 1) {
      fails.push_back(t + ": selector " + sel + " matches " + std::to_string(devs.size()) +
                      " devices");
      continue;
    }
    const json* v = Lookup(*devs[0], field);
    if (!ValueMatches(v, value)) {
      fails.push_back((*devs[0])["kname"].get<std::string>() + ": " + field + ": diskinv " +
                      Show(v) + ", configured " + value);
    }
  }
  return fails;
}

}  // namespace diskinv::lab
