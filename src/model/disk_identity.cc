#include "model/disk_identity.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <map>

#include "common/parse.h"

namespace diskinv {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// Lower-case hex without the separators kernels and tools put in (spaces in the NVMe `eui`
// attribute, dashes in `nguid`/`uuid`, colons, dots).
std::string HexDigits(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c != ' ' && c != '-' && c != ':' && c != '.') out += c;
  }
  return Lower(out);
}

std::string Scoped(std::string_view prefix, std::string_view node, std::string_view value) {
  return node.empty() ? fmt::format("{}:{}", prefix, value)
                      : fmt::format("{}:{}:{}", prefix, node, value);
}

struct Builder {
  DiskIdentity id;
  bool Done() const { return id.ok(); }
  void Set(IdentitySource src, std::string uid, std::string identifier) {
    id.source = src;
    id.uid = std::move(uid);
    id.identifier = std::move(identifier);
  }
  // Accepts a hex identifier (WWN/EUI/NGUID) unless it is bogus; records a rejection.
  void TryHex(IdentitySource src, const char* kind, const char* prefix,
              const std::optional<std::string>& raw, std::string_view strip = {}) {
    if (Done() || !raw || raw->empty()) return;
    std::string v = Lower(*raw);
    if (!strip.empty() && StartsWith(v, strip)) v = v.substr(strip.size());
    v = HexDigits(v);
    if (std::string why = BogusHexIdReason(v); !why.empty()) {
      id.rejected.push_back({kind, *raw, why});
      return;
    }
    Set(src, fmt::format("{}:{}", prefix, v), v);
  }
};

// A WWN as lsblk/udev print it: "0x5000c500a1b2c3d4", "naa.5000...", "eui.0025...", or NVMe
// wwids ("nvme.1b36-...", "t10.ATA ...") that are vendor/model/serial in disguise.
void TryWwn(Builder& b, const std::optional<std::string>& wwn) {
  if (!wwn || wwn->empty()) return;
  std::string v = Lower(*wwn);
  if (StartsWith(v, "eui.")) {
    b.TryHex(v.size() > 4 + 16 ? IdentitySource::kNguid : IdentitySource::kEui64,
             v.size() > 4 + 16 ? "nguid" : "eui64", v.size() > 4 + 16 ? "nguid" : "eui", wwn,
             "eui.");
  } else if (StartsWith(v, "uuid.")) {
    b.TryHex(IdentitySource::kNsUuid, "uuid", "uuid", wwn, "uuid.");
  } else if (StartsWith(v, "0x") || StartsWith(v, "naa.")) {
    b.TryHex(IdentitySource::kWwn, "wwn", "wwn", wwn, StartsWith(v, "0x") ? "0x" : "naa.");
  } else if (!StartsWith(v, "nvme.") && !StartsWith(v, "t10.")) {
    b.TryHex(IdentitySource::kWwn, "wwn", "wwn", wwn);
  }
}

void TryWholeDisk(Builder& b, const BlockDevice& d, std::string_view node) {
  if (d.dm_uuid && !d.dm_uuid->empty()) {
    b.Set(IdentitySource::kDmUuid, "dm:" + *d.dm_uuid, *d.dm_uuid);
    return;
  }
  if (d.md_uuid && !d.md_uuid->empty()) {
    std::string u = HexDigits(*d.md_uuid);
    b.Set(IdentitySource::kMdUuid, "md:" + u, u);
    return;
  }
  if (d.loop_backing_file && !d.loop_backing_file->empty()) {
    b.Set(IdentitySource::kLoop, Scoped("loop", node, *d.loop_backing_file), *d.loop_backing_file);
    return;
  }
  TryWwn(b, d.wwn);
  if (d.scsi) {
    for (const VpdDesignator& v : d.scsi->vpd83) {  // logical-unit NAA, then EUI-64
      if (v.association == 0 && v.type == 3) b.TryHex(IdentitySource::kWwn, "wwn", "wwn", v.value);
    }
    for (const VpdDesignator& v : d.scsi->vpd83) {
      if (v.association == 0 && v.type == 2) {
        b.TryHex(IdentitySource::kEui64, "eui64", "eui", v.value);
      }
    }
  }
  if (d.wwid && d.wwid != d.wwn) TryWwn(b, d.wwid);
  if (d.nvme) {
    b.TryHex(IdentitySource::kEui64, "eui64", "eui", d.nvme->eui64);
    b.TryHex(IdentitySource::kNguid, "nguid", "nguid", d.nvme->nguid);
    b.TryHex(IdentitySource::kNsUuid, "uuid", "uuid", d.nvme->uuid);
  }
  if (b.Done()) return;
  std::optional<std::string> serial = d.serial;
  if ((!serial || serial->empty()) && d.nvme) serial = d.nvme->serial;
  if (serial && !serial->empty()) {
    std::string s = NormalizeWhitespace(*serial);
    if (std::string why = BogusSerialReason(s); !why.empty()) {
      b.id.rejected.push_back({"serial", *serial, why});
    } else {
      std::string model =
          NormalizeWhitespace(d.model.value_or(d.nvme ? d.nvme->model.value_or("") : ""));
      std::string key =
          fmt::format("{}:{}:{}", NormalizeWhitespace(d.vendor.value_or("")), model, s);
      b.Set(IdentitySource::kSerial, "serial:" + key, key);
      return;
    }
  }
  if (auto p = d.udev.Get("ID_PATH"); p && !p->empty()) {
    b.Set(IdentitySource::kPath, Scoped("path", node, *p), std::string(*p));
    return;
  }
  const std::string& name = d.name.empty() ? d.kname : d.name;
  if (!name.empty()) b.Set(IdentitySource::kName, Scoped("name", node, name), name);
}

// Serial strings that firmware, USB bridges and VMs use when they have none.
constexpr std::array<std::string_view, 18> kPlaceholderSerials = {
    "to be filled by o.e.m.",
    "default string",
    "none",
    "n/a",
    "na",
    "not specified",
    "not available",
    "unknown",
    "serial",
    "serialnumber",
    "serial number",
    "no serial",
    "system serial number",
    "0123456789",
    "123456789",
    "1234567890",
    "0123456789abcdef",
    "00000000-0000-0000-0000-000000000000"};

}  // namespace

std::string_view IdentitySourceName(IdentitySource s) {
  switch (s) {
    case IdentitySource::kNone:
      return "none";
    case IdentitySource::kWwn:
      return "wwn";
    case IdentitySource::kEui64:
      return "eui64";
    case IdentitySource::kNguid:
      return "nguid";
    case IdentitySource::kNsUuid:
      return "uuid";
    case IdentitySource::kSerial:
      return "serial";
    case IdentitySource::kPath:
      return "path";
    case IdentitySource::kDmUuid:
      return "dm_uuid";
    case IdentitySource::kMdUuid:
      return "md_uuid";
    case IdentitySource::kLoop:
      return "loop";
    case IdentitySource::kPartition:
      return "partition";
    case IdentitySource::kName:
      return "name";
  }
  return "none";
}

std::string BogusHexIdReason(std::string_view hex) {
  if (hex.empty()) return "empty";
  if (!std::all_of(hex.begin(), hex.end(),
                   [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); })) {
    return "not hexadecimal";
  }
  if (hex.size() < 16) return fmt::format("too short ({} hex digits)", hex.size());
  if (hex.find_first_not_of('0') == std::string_view::npos) return "all zeros";
  if (hex.find_first_not_of("fF") == std::string_view::npos) return "all ones (0xff...)";
  if (hex.find_first_not_of('0', 1) == std::string_view::npos) {
    return "zero apart from the NAA type digit";
  }
  return {};
}

std::string BogusSerialReason(std::string_view s) {
  if (s.empty()) return "empty or whitespace";
  if (s.size() < 3) return "too short";
  if (s.find_first_not_of(s[0]) == std::string_view::npos) return "one repeated character";
  std::string l = Lower(s);
  if (std::find(kPlaceholderSerials.begin(), kPlaceholderSerials.end(), l) !=
      kPlaceholderSerials.end()) {
    return "placeholder";
  }
  return {};
}

DiskIdentity DiskIdentity::FromDevice(const BlockDevice& dev, std::string_view node,
                                      const DiskIdentity* parent) {
  Builder b;
  if (dev.is_partition && dev.partn) {
    DiskIdentity base;
    if (parent != nullptr) {
      base = *parent;
    } else {
      BlockDevice whole = dev;
      whole.is_partition = false;
      whole.loop_backing_file.reset();
      base = FromDevice(whole, node);
    }
    if (base.ok()) return ForPartition(base, *dev.partn);
  }
  TryWholeDisk(b, dev, node);
  return b.id;
}

DiskIdentity DiskIdentity::ForPartition(const DiskIdentity& parent, uint64_t partn) {
  Builder b;
  b.Set(IdentitySource::kPartition, PartitionUid(parent.uid, partn), parent.uid);
  return b.id;
}

std::string DiskIdentity::PartitionUid(std::string_view parent_uid, uint64_t partn) {
  return fmt::format("{}-part{}", parent_uid, partn);
}

void MarkDuplicates(const std::vector<std::pair<const BlockDevice*, DiskIdentity*>>& group,
                    std::string_view node) {
  std::vector<std::string> names;
  for (const auto& [dev, id] : group) names.push_back(dev->kname);
  // Sorted: the inventory's order changes with removals, the reason must not.
  std::sort(names.begin(), names.end());
  // Paths of one multipath map share its holder; say so, it is the expected duplicate. The first
  // shared holder of the member with the lowest kname, so that the order of `group` is moot.
  const BlockDevice* ref =
      std::min_element(group.begin(), group.end(), [](const auto& a, const auto& b) {
        return a.first->kname < b.first->kname;
      })->first;
  std::string via;
  for (const std::string& h : ref->holders) {
    if (std::all_of(group.begin(), group.end(), [&](const auto& m) {
          const auto& hs = m.first->holders;
          return std::find(hs.begin(), hs.end(), h) != hs.end();
        })) {
      via = fmt::format(" (paths of {})", h);
      break;
    }
  }
  const DiskIdentity& first = *group[0].second;
  std::string why = fmt::format("duplicate {} '{}' on {}{}", IdentitySourceName(first.source),
                                first.identifier, fmt::join(names, ", "), via);
  for (const auto& [dev, id] : group) {
    auto path = dev->udev.Get("ID_PATH");
    std::string tag = path && !path->empty() ? std::string(*path) : dev->kname;
    id->uid += node.empty() ? "~" + tag : fmt::format("~{}:{}", node, tag);
    id->conflict = why;
  }
}

std::vector<DiskIdentity> IdentifyInventory(const Inventory& inv, std::string_view node) {
  const auto& devs = inv.devices();
  std::vector<DiskIdentity> ids(devs.size());
  std::map<std::string, std::vector<size_t>> by_uid;
  for (size_t i = 0; i < devs.size(); ++i) {
    if (devs[i].is_partition) continue;
    ids[i] = DiskIdentity::FromDevice(devs[i], node);
    if (ids[i].ok()) by_uid[ids[i].uid].push_back(i);
  }
  for (const auto& [uid, members] : by_uid) {
    if (members.size() < 2) continue;
    std::vector<std::pair<const BlockDevice*, DiskIdentity*>> group;
    for (size_t i : members) group.emplace_back(&devs[i], &ids[i]);
    MarkDuplicates(group, node);
  }
  for (size_t i = 0; i < devs.size(); ++i) {
    if (!devs[i].is_partition) continue;
    const BlockDevice* disk = inv.FindByName(devs[i].pkname);
    const DiskIdentity* parent = nullptr;
    if (disk != nullptr) parent = &ids[static_cast<size_t>(disk - devs.data())];
    ids[i] = DiskIdentity::FromDevice(devs[i], node, parent);
  }
  return ids;
}

}  // namespace diskinv
