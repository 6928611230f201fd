#include "model/fields.h"

#include <fmt/format.h>
#include <strings.h>

#include <charconv>

namespace diskinv {
namespace {

template <typename T>
FieldValue Opt(const std::optional<T>& v) {
  if (!v) return std::monostate{};
  return FieldValue(*v);
}
FieldValue Str(const std::string& s) {
  if (s.empty()) return std::monostate{};
  return s;
}
// A udev property as lsblk shows it; `unhex` for the *_ENC properties ("\x20" -> ' ').
FieldValue Udev(const BlockDevice& d, std::string_view key, bool unhex = false) {
  std::optional<std::string_view> v = d.udev.Get(key);
  if (!v) return std::monostate{};
  return unhex ? UnhexMangle(*v) : std::string(*v);
}
// "8:16", without a format string: every device of a scan needs it.
FieldValue MajMin(DevNum n) {
  char buf[24];
  char* end = std::to_chars(buf, buf + 10, n.major).ptr;
  *end++ = ':';
  end = std::to_chars(end, buf + sizeof(buf), n.minor).ptr;
  return std::string(buf, end);
}
FieldValue Bytes512(const std::optional<uint64_t>& sectors) {
  if (!sectors || *sectors > UINT64_MAX / 512) return std::monostate{};
  return *sectors * 512;
}

constexpr auto L = FieldAlign::kLeft;
constexpr auto R = FieldAlign::kRight;

// clang-format off
const std::vector<FieldDef> kFields = {
  {"NAME", "name", "device name (dm map name for dm devices)", true, false, L, [](const BlockDevice& d) { return Str(d.name); }},
  {"KNAME", "kname", "internal kernel device name", true, false, L, [](const BlockDevice& d) { return Str(d.kname); }},
  {"PATH", "path", "path to the device node", true, false, L, [](const BlockDevice& d) { return Str(d.path); }},
  {"MAJ:MIN", "maj:min", "major:minor device number", true, false, L, [](const BlockDevice& d) { return MajMin(d.devnum); }},
  {"RM", "rm", "removable device", true, false, R, [](const BlockDevice& d) { return Opt(d.removable); }},
  {"RO", "ro", "read-only device", true, false, R, [](const BlockDevice& d) { return Opt(d.ro); }},
  {"SIZE", "size", "size of the device in bytes", true, true, R, [](const BlockDevice& d) { return Opt(d.size_bytes); }},
  {"TYPE", "type", "device type", true, false, L, [](const BlockDevice& d) { return Str(d.type); }},
  {"TRAN", "tran", "device transport type", true, false, L, [](const BlockDevice& d) { return Opt(d.tran); }},
  {"VENDOR", "vendor", "device vendor", true, false, L, [](const BlockDevice& d) { return Opt(d.vendor); }},
  {"MODEL", "model", "device identifier", true, false, L, [](const BlockDevice& d) { return Opt(d.model); }},
  {"SERIAL", "serial", "disk serial number", true, false, L, [](const BlockDevice& d) { return Opt(d.serial); }},
  {"WWN", "wwn", "unique storage identifier", true, false, L, [](const BlockDevice& d) { return Opt(d.wwn); }},
  {"REV", "rev", "device revision", true, false, L, [](const BlockDevice& d) { return Opt(d.rev); }},
  {"HCTL", "hctl", "Host:Channel:Target:Lun for SCSI", true, false, L, [](const BlockDevice& d) { return Opt(d.hctl); }},
  {"STATE", "state", "state of the device", true, false, L, [](const BlockDevice& d) { return Opt(d.state); }},
  {"ROTA", "rota", "rotational device", true, false, R, [](const BlockDevice& d) { return Opt(d.queue->rotational); }},
  {"RAND", "rand", "adds randomness", true, false, R, [](const BlockDevice& d) { return Opt(d.queue->add_random); }},
  {"SCHED", "sched", "I/O scheduler name", true, false, L, [](const BlockDevice& d) { return Opt(d.queue->scheduler); }},
  {"RQ-SIZE", "rq-size", "request queue size", true, false, R, [](const BlockDevice& d) { return Opt(d.queue->nr_requests); }},
  {"RA", "ra", "read-ahead of the device (KiB)", true, false, R, [](const BlockDevice& d) { return Opt(d.queue->read_ahead_kb); }},
  {"LOG-SEC", "log-sec", "logical sector size", true, false, R, [](const BlockDevice& d) { return Opt(d.queue->logical_block_size); }},
  {"PHY-SEC", "phy-sec", "physical sector size", true, false, R, [](const BlockDevice& d) { return Opt(d.queue->physical_block_size); }},
  {"MIN-IO", "min-io", "minimum I/O size", true, false, R, [](const BlockDevice& d) { return Opt(d.queue->minimum_io_size); }},
  {"OPT-IO", "opt-io", "optimal I/O size", true, false, R, [](const BlockDevice& d) { return Opt(d.queue->optimal_io_size); }},
  {"ALIGNMENT", "alignment", "alignment offset", true, false, R, [](const BlockDevice& d) { return Opt(d.alignment_offset); }},
  {"DISC-ALN", "disc-aln", "discard alignment offset", true, false, R, [](const BlockDevice& d) { return Opt(d.discard_alignment); }},
  {"DISC-GRAN", "disc-gran", "discard granularity", true, true, R, [](const BlockDevice& d) { return Opt(d.queue->discard_granularity); }},
  {"DISC-MAX", "disc-max", "discard max bytes", true, true, R, [](const BlockDevice& d) { return Opt(d.queue->discard_max_bytes); }},
  {"DISC-ZERO", "disc-zero", "discard zeroes data", true, false, R, [](const BlockDevice& d) { return Opt(d.queue->discard_zeroes_data); }},
  {"WSAME", "wsame", "write same max bytes", true, true, R, [](const BlockDevice& d) { return Opt(d.queue->write_same_max_bytes); }},
  {"ZONED", "zoned", "zone model", true, false, L, [](const BlockDevice& d) { return Opt(d.queue->zoned); }},
  {"ZONE-NR", "zone-nr", "number of zones", true, false, R, [](const BlockDevice& d) { return Opt(d.queue->nr_zones); }},
  {"ZONE-OMAX", "zone-omax", "maximum number of open zones", true, false, R, [](const BlockDevice& d) { return Opt(d.queue->max_open_zones); }},
  {"ZONE-AMAX", "zone-amax", "maximum number of active zones", true, false, R, [](const BlockDevice& d) { return Opt(d.queue->max_active_zones); }},
  {"ZONE-SZ", "zone-sz", "zone size (chunk_sectors in bytes)", true, true, R, [](const BlockDevice& d) { return Bytes512(d.queue->chunk_sectors); }},
  {"ZONE-WGRAN", "zone-wgran", "zone write granularity", true, true, R, [](const BlockDevice& d) { return Opt(d.queue->zone_write_granularity); }},
  {"ZONE-APP", "zone-app", "zone append max bytes", true, true, R, [](const BlockDevice& d) { return Opt(d.queue->zone_append_max_bytes); }},
  {"DAX", "dax", "dax-capable device", true, false, R, [](const BlockDevice& d) { return Opt(d.queue->dax); }},
  {"PKNAME", "pkname", "internal parent kernel device name", true, false, L, [](const BlockDevice& d) { return Str(d.pkname); }},
  {"START", "start", "partition start offset (sectors)", true, false, R, [](const BlockDevice& d) { return Opt(d.start); }},
  {"HOTPLUG", "hotplug", "removable or hotplug device (usb, pcmcia, ...)", true, false, R, [](const BlockDevice& d) { return Opt(d.hotplug); }},
  {"SUBSYSTEMS", "subsystems", "de-duplicated chain of subsystems", true, false, L, [](const BlockDevice& d) { return Opt(d.subsystems); }},
  {"FSTYPE", "fstype", "filesystem type (udev ID_FS_TYPE)", true, false, L, [](const BlockDevice& d) { return Udev(d, "ID_FS_TYPE"); }},
  {"FSVER", "fsver", "filesystem version (udev ID_FS_VERSION)", true, false, L, [](const BlockDevice& d) { return Udev(d, "ID_FS_VERSION"); }},
  {"LABEL", "label", "filesystem LABEL (udev ID_FS_LABEL_ENC)", true, false, L, [](const BlockDevice& d) { return Udev(d, "ID_FS_LABEL_ENC", true); }},
  {"UUID", "uuid", "filesystem UUID (udev ID_FS_UUID_ENC)", true, false, L, [](const BlockDevice& d) { return Udev(d, "ID_FS_UUID_ENC", true); }},
  {"PTUUID", "ptuuid", "partition table identifier (udev ID_PART_TABLE_UUID)", true, false, L, [](const BlockDevice& d) { return Udev(d, "ID_PART_TABLE_UUID"); }},
  {"PTTYPE", "pttype", "partition table type (udev ID_PART_TABLE_TYPE)", true, false, L, [](const BlockDevice& d) { return Udev(d, "ID_PART_TABLE_TYPE"); }},
  {"PARTTYPE", "parttype", "partition type code or UUID (udev ID_PART_ENTRY_TYPE)", true, false, L, [](const BlockDevice& d) { return Udev(d, "ID_PART_ENTRY_TYPE"); }},
  {"PARTLABEL", "partlabel", "partition LABEL (udev ID_PART_ENTRY_NAME)", true, false, L, [](const BlockDevice& d) { return Udev(d, "ID_PART_ENTRY_NAME", true); }},
  {"PARTUUID", "partuuid", "partition UUID (udev ID_PART_ENTRY_UUID)", true, false, L, [](const BlockDevice& d) { return Udev(d, "ID_PART_ENTRY_UUID"); }},
  {"PARTFLAGS", "partflags", "partition flags (udev ID_PART_ENTRY_FLAGS)", true, false, L, [](const BlockDevice& d) { return Udev(d, "ID_PART_ENTRY_FLAGS"); }},
  {"PARTN", "partn", "partition number", false, false, R, [](const BlockDevice& d) { return Opt(d.partn); }},
  {"DISK-SEQ", "disk-seq", "disk sequence number", false, false, R, [](const BlockDevice& d) { return Opt(d.diskseq); }},
  {"DISC-MAX-HW", "disc-max-hw", "discard max hardware bytes", false, true, R, [](const BlockDevice& d) { return Opt(d.queue->discard_max_hw_bytes); }},
  {"WZEROES", "wzeroes", "write zeroes max bytes", false, true, R, [](const BlockDevice& d) { return Opt(d.queue->write_zeroes_max_bytes); }},
  {"MAX-SECT-KB", "max-sectors-kb", "max request size (KiB)", false, false, R, [](const BlockDevice& d) { return Opt(d.queue->max_sectors_kb); }},
  {"MAX-HW-SECT-KB", "max-hw-sectors-kb", "max hardware request size (KiB)", false, false, R, [](const BlockDevice& d) { return Opt(d.queue->max_hw_sectors_kb); }},
  {"CHUNK-SECT", "chunk-sectors", "chunk (zone) size in sectors", false, false, R, [](const BlockDevice& d) { return Opt(d.queue->chunk_sectors); }},
  {"RQ-AFFINITY", "rq-affinity", "completion CPU affinity", false, false, R, [](const BlockDevice& d) { return Opt(d.queue->rq_affinity); }},
  {"WWID", "wwid", "sysfs wwid (SCSI device/wwid, NVMe wwid)", false, false, L, [](const BlockDevice& d) { return Opt(d.wwid); }},
  {"FIRMWARE", "firmware", "firmware revision (NVMe firmware_rev, SCSI rev)", false, false, L, [](const BlockDevice& d) { return Opt(d.firmware_rev); }},
  {"DEVPATH", "devpath", "sysfs device path", false, false, L, [](const BlockDevice& d) { return Str(d.devpath); }},
  {"HIDDEN", "hidden", "hidden device (NVMe multipath path)", false, false, R, [](const BlockDevice& d) { return FieldValue(d.hidden); }},
  {"BACK-FILE", "back-file", "loop backing file", false, false, L, [](const BlockDevice& d) { return Opt(d.loop_backing_file); }},
  {"DM-UUID", "dm-uuid", "device-mapper uuid", false, false, L, [](const BlockDevice& d) { return Opt(d.dm_uuid); }},
  {"MD-LEVEL", "md-level", "md RAID level", false, false, L, [](const BlockDevice& d) { return Opt(d.md_level); }},
};
// clang-format on

}  // namespace

const std::vector<FieldDef>& AllFields() { return kFields; }

const FieldDef* FindField(std::string_view column) {
  for (const auto& f : kFields) {
    if (column.size() == std::char_traits<char>::length(f.column) &&
        strncasecmp(column.data(), f.column, column.size()) == 0) {
      return &f;
    }
  }
  return nullptr;
}

std::string HumanSize(uint64_t bytes) {
  static const char kUnits[] = "BKMGTPE";
  if (bytes < 1024) return fmt::format("{}B", bytes);
  int exp = 0;
  double v = static_cast<double>(bytes);
  while (v >= 1024.0 && exp < 6) {
    v /= 1024.0;
    ++exp;
  }
  std::string s = fmt::format("{:.1f}", v);
  if (s.size() > 2 && s.compare(s.size() - 2, 2, ".0") == 0) s.resize(s.size() - 2);
  return s + kUnits[exp];
}

std::string FieldToText(const FieldValue& v, bool size_like, bool bytes) {
  struct V {
    bool size_like, bytes;
    std::string operator()(std::monostate) const { return ""; }
    std::string operator()(const std::string& s) const { return s; }
    std::string operator()(uint64_t u) const {
      return size_like && !bytes ? HumanSize(u) : std::to_string(u);
    }
    std::string operator()(int64_t i) const { return std::to_string(i); }
    std::string operator()(bool b) const { return b ? "1" : "0"; }
  };
  return std::visit(V{size_like, bytes}, v);
}

}  // namespace diskinv
