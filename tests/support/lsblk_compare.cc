#include "support/lsblk_compare.h"

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "common/parse.h"

namespace diskinv::testing {
namespace {

using nlohmann::json;

const json* UdevProp(const json& ours, const char* key) {
  const json& u = ours["udev"];
  if (!u.is_object() || !u["properties"].contains(key)) return nullptr;
  return &u["properties"][key];
}

std::string ReadSysFile(const std::string& root, const std::string& rel) {
  std::ifstream f((root.empty() ? std::string("/") : root + "/") + rel);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

struct KnownDifference {
  const char* field;
  const char* reason;
  // True when the difference is the known one AND our value is the right one. `root` holds the
  // kernel's files ("" = /); `sysroot` says lsblk ran with --sysroot.
  std::function<bool(const std::string& root, bool sysroot, const json& l, const json& o)> applies;
};

const std::vector<KnownDifference>& KnownDifferences() {
  static const std::vector<KnownDifference> k = {
      {"tran",
       "lsblk 2.38 get_transport() has no virtio case; diskinv reports virtio for virtio-blk",
       [](const std::string&, bool, const json& l, const json& o) {
         return l["tran"].is_null() && o["tran"] == "virtio" &&
                o["kname"].get<std::string>().rfind("vd", 0) == 0;
       }},
      {"serial",
       "lsblk reads only device/serial; virtio-blk exposes its serial as the disk's own "
       "'serial' attribute, which diskinv uses when the udev db has none",
       [](const std::string& root, bool, const json& l, const json& o) {
         return l["serial"].is_null() && o["serial"].is_string() &&
                o["serial"] ==
                    ReadSysFile(root, "sys/block/" + o["kname"].get<std::string>() + "/serial");
       }},
      {"wwn",
       "lsblk has no sysfs fallback for WWN; without a udev record diskinv derives it from "
       "sysfs (SCSI VPD 0x83 NAA or wwid, NVMe wwid) as udev would",
       [](const std::string&, bool, const json& l, const json& o) {
         return l["wwn"].is_null() && o["wwn"].is_string() && !UdevProp(o, "ID_WWN") &&
                (o["wwid"].is_string() || (o["scsi"].is_object() && !o["scsi"]["vpd83"].empty()));
       }},
      {"model",
       "lsblk --sysroot reads ID_MODEL (spaces replaced by '_'); live lsblk and diskinv use "
       "ID_MODEL_ENC decoded, whitespace normalized",
       [](const std::string&, bool sysroot, const json& l, const json& o) {
         const json* raw = UdevProp(o, "ID_MODEL");
         const json* enc = UdevProp(o, "ID_MODEL_ENC");
         return sysroot && raw && enc && l["model"] == *raw &&
                o["model"] == NormalizeWhitespace(UnhexMangle(enc->get<std::string>()));
       }},
      {"serial",
       "lsblk --sysroot copies udev serials verbatim; live lsblk and diskinv normalize whitespace",
       [](const std::string&, bool sysroot, const json& l, const json& o) {
         return sysroot && l["serial"].is_string() && o["serial"].is_string() &&
                NormalizeWhitespace(l["serial"].get<std::string>()) == o["serial"];
       }},
  };
  return k;
}

// lsblk -O columns diskinv does not report, each with the reason. Every other lsblk key must
// be present in diskinv's output and is compared.
const std::map<std::string, const char*>& NotReported() {
  static const std::map<std::string, const char*> k = {
      {"mode", "device node permissions: a stat of /dev, not sysfs or the udev db"},
      {"owner", "device node owner: a stat of /dev"},
      {"group", "device node group: a stat of /dev"},
      {"fsavail", "statfs of a mounted filesystem"},
      {"fssize", "statfs of a mounted filesystem"},
      {"fsused", "statfs of a mounted filesystem"},
      {"fsuse%", "statfs of a mounted filesystem"},
      {"mountpoint", "the mount table"},
      {"mountpoints", "the mount table"},
      {"fsroots", "the mount table"},
      {"parttypename", "libfdisk's table of partition type names; diskinv reports parttype"},
  };
  return k;
}

void Flatten(const json& node, std::map<std::string, std::vector<json>>& out, const json& parent) {
  json copy = node;
  copy.erase("children");
  if (!parent.is_null() && copy["pkname"].is_null()) copy["pkname"] = parent["kname"];
  out[node["kname"].get<std::string>()].push_back(copy);
  if (node.contains("children")) {
    for (const auto& c : node["children"]) Flatten(c, out, node);
  }
}

std::string Dump(const json& j) { return j.dump(); }

// lsblk hides an empty loop device (size 0) unless it has a backing file, and asks
// loopdev_has_backing_file("/dev/loopN"), which reads the HOST's loop device even under
// --sysroot. So whether lsblk lists an empty loop of a tree depends on what this machine has
// attached at that moment (tests attach loop devices all the time): the comparison of trees
// with empty loops was flaky. diskinv decides from the tree (size 0 and no loop/backing_file
// there: hidden). The difference is tolerated only when it is exactly that: a loop device of
// size 0 in the tree, and lsblk's choice matches the host's loop of that name, not the tree.
constexpr const char* kHostLoopReason =
    "empty loop device: lsblk 2.38 decides from the host's /dev/loopN backing file even under "
    "--sysroot; diskinv from the tree";

bool HostLoopLeak(const std::string& root, const std::string& kname, const json& dev,
                  bool listed_by_lsblk) {
  if (kname.rfind("loop", 0) != 0 || root.empty()) return false;
  if (!dev["maj:min"].is_string() || dev["maj:min"].get<std::string>().rfind("7:", 0) != 0) {
    return false;
  }
  if (ReadSysFile(root, "sys/block/" + kname + "/size") != "0") return false;
  bool tree_backed = !ReadSysFile(root, "sys/block/" + kname + "/loop/backing_file").empty();
  bool host_backed = !ReadSysFile("", "sys/block/" + kname + "/loop/backing_file").empty();
  // lsblk listed it: the host's loop is bound, the tree's is not (diskinv hid it). diskinv
  // listed it: the tree's loop is bound, the host's is not (lsblk hid it).
  return listed_by_lsblk ? host_backed && !tree_backed : tree_backed && !host_backed;
}

}  // namespace

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out.push_back(c);
    }
  }
  return out + "'";
}

std::string RunCommand(const std::string& cmd, int* exit_code) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) {
    *exit_code = -1;
    return out;
  }
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int st = pclose(p);
  *exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

std::string DiskinvBinary() {
  const char* b = std::getenv("DISKINV_BINARY");
  return b ? b : DISKINV_BINARY_DEFAULT;
}

std::string MktreeBinary() {
  const char* b = std::getenv("DISKINV_MKTREE");
  return b ? b : DISKINV_MKTREE_DEFAULT;
}

std::string SourceDir() {
  const char* s = std::getenv("DISKINV_SOURCE_DIR");
  return s ? s : DISKINV_SOURCE_DIR_DEFAULT;
}

CompareResult CompareWithLsblk(const std::string& sysroot, const std::string& diskinv) {
  CompareResult r;
  std::string root_arg = sysroot.empty() ? "" : " --sysroot " + ShellQuote(sysroot);
  int rc = 0;
  std::string l = RunCommand("lsblk -J -O -b" + root_arg, &rc);
  if (rc != 0) {
    r.mismatches.push_back("lsblk failed with exit code " + std::to_string(rc));
    return r;
  }
  std::string o = RunCommand(ShellQuote(diskinv) + " scan --json" + root_arg, &rc);
  if (rc != 0 && rc != 3) {
    r.mismatches.push_back("diskinv scan failed with exit code " + std::to_string(rc));
    return r;
  }
  json lj, oj;
  try {
    lj = json::parse(l);
    oj = json::parse(o);
  } catch (const json::exception& e) {
    r.mismatches.push_back(std::string("unparsable JSON: ") + e.what());
    return r;
  }
  return CompareLsblkJson(lj, oj, sysroot, !sysroot.empty());
}

CompareResult CompareLsblkJson(const json& lsblk, const json& ours_doc,
                               const std::string& files_root, bool sysroot_mode) {
  CompareResult r;
  r.lsblk = lsblk;
  r.ours = ours_doc;
  std::map<std::string, std::vector<json>> theirs;
  for (const auto& n : r.lsblk["blockdevices"]) Flatten(n, theirs, json());
  std::map<std::string, json> ours;
  for (const auto& d : r.ours["blockdevices"]) ours[d["kname"].get<std::string>()] = d;
  for (const auto& [k, v] : theirs) {
    if (ours.count(k)) continue;
    if (sysroot_mode && HostLoopLeak(files_root, k, v.front(), true)) {
      r.known.push_back(k + ": listed by lsblk only (" + kHostLoopReason + ")");
      continue;
    }
    r.mismatches.push_back(k + ": listed by lsblk, missing in diskinv");
  }
  for (const auto& [k, v] : ours) {
    if (theirs.count(k)) continue;
    if (sysroot_mode && HostLoopLeak(files_root, k, v, false)) {
      r.known.push_back(k + ": listed by diskinv only (" + kHostLoopReason + ")");
      continue;
    }
    r.mismatches.push_back(k + ": listed by diskinv, not by lsblk");
  }
  for (const auto& [kname, entries] : theirs) {
    auto it = ours.find(kname);
    if (it == ours.end()) continue;
    const json& od = it->second;
    const json& ld = entries.front();
    ++r.devices;
    for (const auto& [key, lval] : ld.items()) {
      if (NotReported().count(key)) continue;
      if (!od.contains(key)) {
        r.mismatches.push_back(kname + ": " + key + ": reported by lsblk, missing in diskinv");
        continue;
      }
      if (od[key].is_object() || od[key].is_array()) {
        r.mismatches.push_back(kname + ": " + key + ": diskinv's value is not a scalar");
        continue;
      }
      ++r.fields;
      if (key == "pkname") {
        bool found = false;
        for (const auto& e : entries) found |= e["pkname"] == od["pkname"];
        if (!found)
          r.mismatches.push_back(kname + ": pkname: ours " + Dump(od["pkname"]) +
                                 " not among lsblk's parents");
        continue;
      }
      if (lval == od[key]) continue;
      bool known = false;
      for (const auto& kd : KnownDifferences()) {
        if (key == kd.field && kd.applies(files_root, sysroot_mode, ld, od)) {
          r.known.push_back(kname + ": " + key + ": lsblk " + Dump(lval) + ", diskinv " +
                            Dump(od[key]) + " (" + kd.reason + ")");
          known = true;
          break;
        }
      }
      if (!known) {
        r.mismatches.push_back(kname + ": " + key + ": lsblk " + Dump(lval) + ", diskinv " +
                               Dump(od[key]));
      }
    }
  }
  return r;
}

}  // namespace diskinv::testing
