// Comparison of two already-parsed documents, `lsblk -J -O -b` and `diskinv scan --json`, for
// the QEMU lab, where both ran inside a guest and only their JSON (plus the guest's captured
// sysfs tree) reaches the host. The rules are those of tests/support/lsblk_compare.cc
// (CompareWithLsblk), which runs both tools itself and so cannot be used across the VM
// boundary: lsblk's tree flattened by kernel name, every scalar key both report compared, pkname
// among lsblk's parents, and the same tolerated differences, each checked against the value the
// kernel really holds (read from `files_root`, the captured tree).
// Keep KnownDifferences() in step with lsblk_compare.cc until that file exposes a function over
// parsed documents (CompareLsblkJson) that this header can call instead.
//
// Also: expectations, the identity a scenario configured in QEMU, checked against diskinv's JSON.
// One per line, '#' comments:  SELECTOR FIELD VALUE
//   SELECTOR  a kname (nvme0n1) or FIELD=VALUE (serial=LAB0001, nvme.nsid=2, hctl=0:0:1:0); must
//             match exactly one device
//   FIELD     a key, or a dotted path into nested objects (nvme.subsysnqn, scsi.vpd83.0.value)
//   VALUE     the rest of the line; strings compare as is, other JSON values by their dump
//             (true, 4096, null); a VALUE starting with '~' is a substring the value must contain
// Special lines: "count FIELD=VALUE N" (N devices match), "absent SELECTOR" (no device matches).
#pragma once

#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/parse.h"

namespace diskinv::lab {

using nlohmann::json;

struct LabCompareResult {
  std::vector<std::string> mismatches;  // one per differing field or device
  std::vector<std::string> known;       // tolerated differences that applied (with reason)
  std::vector<std::string> errors;      // diskinv's per-device "errors" and walk "messages"
  size_t devices = 0, fields = 0;
};

namespace internal {

inline const json* UdevProp(const json& ours, const char* key) {
  if (!ours.contains("udev") || !ours["udev"].is_object()) return nullptr;
  const json& p = ours["udev"]["properties"];
  if (!p.is_object() || !p.contains(key)) return nullptr;
  return &p[key];
}

inline std::string ReadFile(const std::string& root, const std::string& rel) {
  std::ifstream f(root + "/" + rel);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

struct KnownDifference {
  const char* field;
  const char* reason;
  // sysroot_mode: lsblk ran with --sysroot (reads dev/<name> files instead of the udev db).
  std::function<bool(const std::string& root, bool sysroot_mode, const json& l, const json& o)> applies;
};

inline const std::vector<KnownDifference>& KnownDifferences() {
  static const std::vector<KnownDifference> k = {
      {"tran", "lsblk 2.38 get_transport() has no virtio case; diskinv reports virtio for virtio-blk",
       [](const std::string&, bool, const json& l, const json& o) {
         return l["tran"].is_null() && o["tran"] == "virtio" &&
                o["kname"].get<std::string>().rfind("vd", 0) == 0;
       }},
      {"serial",
       "lsblk reads only device/serial; virtio-blk exposes its serial as the disk's own 'serial' "
       "attribute, which diskinv uses when the udev db has none",
       [](const std::string& root, bool, const json& l, const json& o) {
         return l["serial"].is_null() && o["serial"].is_string() &&
                o["serial"] == ReadFile(root, "sys/block/" + o["kname"].get<std::string>() + "/serial");
       }},
      {"wwn",
       "lsblk has no sysfs fallback for WWN; without a udev record diskinv derives it from sysfs "
       "(SCSI VPD 0x83 NAA or wwid, NVMe wwid) as udev would",
       [](const std::string&, bool, const json& l, const json& o) {
         return l["wwn"].is_null() && o["wwn"].is_string() && !UdevProp(o, "ID_WWN") &&
                (o["wwid"].is_string() || (o["scsi"].is_object() && !o["scsi"]["vpd83"].empty()));
       }},
      {"model",
       "lsblk --sysroot reads ID_MODEL (spaces replaced by '_'); live lsblk and diskinv use "
       "ID_MODEL_ENC decoded, whitespace normalized",
       [](const std::string&, bool sysroot_mode, const json& l, const json& o) {
         const json* raw = UdevProp(o, "ID_MODEL");
         const json* enc = UdevProp(o, "ID_MODEL_ENC");
         return sysroot_mode && raw && enc && l["model"] == *raw &&
                o["model"] == NormalizeWhitespace(UnhexMangle(enc->get<std::string>()));
       }},
      {"serial", "lsblk --sysroot copies udev serials verbatim; live lsblk and diskinv normalize whitespace",
       [](const std::string&, bool sysroot_mode, const json& l, const json& o) {
         return sysroot_mode && l["serial"].is_string() && o["serial"].is_string() &&
                NormalizeWhitespace(l["serial"].get<std::string>()) == o["serial"];
       }},
  };
  return k;
}

inline void Flatten(const json& node, std::map<std::string, std::vector<json>>& out, const json& parent) {
  json copy = node;
  copy.erase("children");
  if (!parent.is_null() && copy["pkname"].is_null()) copy["pkname"] = parent["kname"];
  out[node["kname"].get<std::string>()].push_back(copy);
  if (node.contains("children")) {
    for (const auto& c : node["children"]) Flatten(c, out, node);
  }
}

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

}  // namespace internal

// lsblk: `lsblk -J -O -b` output; ours: `diskinv scan --json` output; files_root: a tree with
// the guest's sys/ (the capture) for the rules that check the kernel's value.
inline LabCompareResult CompareScanJson(const json& lsblk, const json& ours, const std::string& files_root,
                                        bool sysroot_mode = false) {
  using namespace internal;
  LabCompareResult r;
  std::map<std::string, std::vector<json>> theirs;
  for (const auto& n : lsblk["blockdevices"]) Flatten(n, theirs, json());
  std::map<std::string, json> mine;
  for (const auto& d : ours["blockdevices"]) mine[d["kname"].get<std::string>()] = d;
  for (const auto& m : ours.value("messages", json::array())) r.errors.push_back("walk: " + m.dump());
  for (const auto& [k, d] : mine) {
    if (d.contains("errors") && d["errors"].is_array()) {
      for (const auto& e : d["errors"]) r.errors.push_back(k + ": " + e.dump());
    }
  }
  for (const auto& [k, v] : theirs) {
    if (!mine.count(k)) r.mismatches.push_back(k + ": listed by lsblk, missing in diskinv");
  }
  for (const auto& [k, v] : mine) {
    if (!theirs.count(k)) r.mismatches.push_back(k + ": listed by diskinv, not by lsblk");
  }
  for (const auto& [kname, entries] : theirs) {
    auto it = mine.find(kname);
    if (it == mine.end()) continue;
    const json& od = it->second;
    const json& ld = entries.front();
    ++r.devices;
    for (const auto& [key, lval] : ld.items()) {
      if (!od.contains(key) || od[key].is_object() || od[key].is_array()) continue;
      ++r.fields;
      if (key == "pkname") {
        bool found = false;
        for (const auto& e : entries) found |= e["pkname"] == od["pkname"];
        if (!found) r.mismatches.push_back(kname + ": pkname: ours " + od["pkname"].dump() + " not among lsblk's parents");
        continue;
      }
      if (lval == od[key]) continue;
      bool known = false;
      for (const auto& kd : KnownDifferences()) {
        if (key == kd.field && kd.applies(files_root, sysroot_mode, ld, od)) {
          r.known.push_back(kname + ": " + key + ": lsblk " + lval.dump() + ", diskinv " + od[key].dump() + " (" +
                            kd.reason + ")");
          known = true;
          break;
        }
      }
      if (!known) r.mismatches.push_back(kname + ": " + key + ": lsblk " + lval.dump() + ", diskinv " + od[key].dump());
    }
  }
  return r;
}

// Checks `expectations` (format above) against diskinv's JSON; returns one line per failure.
inline std::vector<std::string> CheckExpectations(const json& ours, const std::string& expectations) {
  using namespace internal;
  std::vector<std::string> fails;
  auto select = [&](const std::string& sel) {
    std::vector<const json*> out;
    auto eq = sel.find('=');
    for (const auto& d : ours["blockdevices"]) {
      if (eq == std::string::npos ? d["kname"] == sel : ValueMatches(Lookup(d, sel.substr(0, eq)), sel.substr(eq + 1))) {
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
      if (std::to_string(n) != value) fails.push_back("count " + field + ": " + std::to_string(n) + " devices, want " + value);
      continue;
    }
    if (sel == "absent") {
      if (!select(field).empty()) fails.push_back("absent " + field + ": a device matches");
      continue;
    }
    auto devs = select(sel);
    if (devs.size() != 1) {
      fails.push_back(t + ": selector " + sel + " matches " + std::to_string(devs.size()) + " devices");
      continue;
    }
    const json* v = Lookup(*devs[0], field);
    if (!ValueMatches(v, value)) {
      fails.push_back((*devs[0])["kname"].get<std::string>() + ": " + field + ": diskinv " + Show(v) + ", configured " + value);
    }
  }
  return fails;
}

}  // namespace diskinv::lab
