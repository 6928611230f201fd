#include "sysfs/walker.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cerrno>

#include "common/logging.h"
#include "common/parse.h"
#include "sysfs/attr_parse.h"
#include "sysfs/udev_db.h"
#include "sysfs/vpd.h"

namespace diskinv {
namespace {

constexpr uint32_t kLoopMajor = 7;

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// lsblk's ul_path_read_string: the file content without its one trailing newline.
std::string StripNewline(std::string s) {
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

std::string Basename(std::string_view p) {
  size_t s = p.rfind('/');
  return std::string(s == std::string_view::npos ? p : p.substr(s + 1));
}

std::vector<std::string> Names(const Result<std::vector<DirEntry>>& r) {
  std::vector<std::string> out;
  if (r.ok()) {
    for (const auto& e : *r) out.push_back(e.name);
  }
  return out;
}

// Kernel names use '!' for '/' (cciss!c0d0 -> /dev/cciss/c0d0), as sysfs_devname_sys_to_dev.
std::string DevNodePath(std::string_view kname) {
  std::string p = "/dev/";
  for (char c : kname) p.push_back(c == '!' ? '/' : c);
  return p;
}

// "naa.5000c500a1b2c3d4" / "eui.0025388b..." / "t10.ATA ..." -> the WWN udev would show
// ("0x5000c500a1b2c3d4" for NAA and EUI-64), or the wwid unchanged for other forms.
std::string WwnFromWwid(std::string_view wwid) {
  wwid = Trim(wwid);
  if (StartsWith(wwid, "naa.") || (StartsWith(wwid, "eui.") && wwid.size() == 4 + 16)) {
    std::string out = "0x";
    for (char c : wwid.substr(4))
      out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    return out;
  }
  // A T10 vendor-id ("t10.ATA  MODEL  SERIAL") or SCSI-name wwid is no WWN; udev sets no ID_WWN
  // for such devices either (seen on QEMU ide-hd/scsi_debug under a real kernel).
  return {};
}

}  // namespace

const char* ScsiTypeName(int64_t type) {
  switch (type) {
    case 0x00:
      return "disk";
    case 0x01:
      return "tape";
    case 0x02:
      return "printer";
    case 0x03:
      return "processor";
    case 0x04:
      return "worm";
    case 0x05:
      return "rom";
    case 0x06:
      return "scanner";
    case 0x07:
      return "mo-disk";
    case 0x08:
      return "changer";
    case 0x09:
      return "comm";
    case 0x0c:
      return "raid";
    case 0x0d:
      return "enclosure";
    case 0x0e:
      return "rbc";
    case 0x11:
      return "osd";
    case 0x7f:
      return "no-lun";
    default:
      return nullptr;  // lsblk 2.38 then says "disk" (e.g. 0x14, ZBC)
  }
}

// Per-device reading context: the device directory and where errors go.
struct Walker::Ctx {
  SysfsReader& r;
  std::string dir;  // device directory relative to the root
  BlockDevice& dev;
  std::string buf = {};  // Path()'s buffer: no allocation per attribute

  // dir/attr, valid until the next call.
  const std::string& Path(std::string_view attr) {
    buf.assign(dir);
    buf.push_back('/');
    buf.append(attr);
    return buf;
  }

  void Error(std::string field, std::string path, const Status& st) {
    dev.errors.push_back({std::move(field), std::move(path), st.message(), st.code()});
  }

  // Reads dir/attr. ENOENT means "not provided" unless `required`.
  std::optional<std::string> Read(const std::string& path, const char* field, bool required) {
    auto v = r.ReadFile(path);
    if (v.ok()) return std::move(*v);
    if (v.status().code() != ENOENT || required) Error(field, path, v.status());
    return std::nullopt;
  }
  std::optional<std::string> Str(std::string_view attr, const char* field, bool required = false) {
    auto v = Read(Path(attr), field, required);
    if (!v) return std::nullopt;
    return StripNewline(std::move(*v));
  }
  // Reads and parses a number; garbage is a FieldError, not a value.
  template <typename T>
  std::optional<T> Number(std::string_view attr, const char* field, bool required,
                          Result<T> (*parse)(std::string_view)) {
    const std::string& path = Path(attr);
    auto v = Read(path, field, required);
    if (!v) return std::nullopt;
    auto n = parse(*v);
    if (!n.ok()) {
      Error(field, path, n.status());
      return std::nullopt;
    }
    return *n;
  }
  std::optional<uint64_t> U64(std::string_view attr, const char* field, bool required = false) {
    return Number<uint64_t>(attr, field, required, ParseU64);
  }
  std::optional<int64_t> I64(std::string_view attr, const char* field) {
    return Number<int64_t>(attr, field, false, ParseI64);
  }
  std::optional<bool> Bool(std::string_view attr, const char* field, bool required = false) {
    const std::string& path = Path(attr);
    auto v = Read(path, field, required);
    if (!v) return std::nullopt;
    auto b = ParseBool01(*v);
    if (!b) {
      // Some kernels print other positive values for flags; any number != 0 is "true".
      auto n = ParseU64(*v);
      if (n.ok()) return *n != 0;
      Error(field, path, Status::Invalid(fmt::format("not a 0/1 flag: {}", QuoteForError(*v))));
    }
    return b;
  }
};

void Walker::BeginWalk() {
  r_.DropCaches();
  ctrl_to_subsys_.clear();
  odd_ctrl_to_subsys_.clear();
  subsys_fresh_ = false;
  hosts_.clear();
  chains_.clear();
}

void Walker::EndWalk() {
  // The memo serves one walk only, and the agent keeps its Walker between walks.
  decltype(chains_)().swap(chains_);
}

std::optional<std::vector<std::string>> Walker::ListDisks(ScanStats& stats) {
  auto entries = r_.ListDir("sys/block");
  if (!entries.ok()) {
    stats.walk_errors++;
    stats.messages.push_back(
        fmt::format("cannot list block devices: {}", entries.status().message()));
    return std::nullopt;
  }
  std::vector<std::string> names;
  names.reserve(entries->size());
  for (auto& e : *entries) names.push_back(std::move(e.name));
  return names;
}

std::vector<BlockDevice> Walker::WalkDisk(const std::string& name, ScanStats& stats) {
  std::vector<BlockDevice> group;
  // The subsystem-chain memo gets an entry for every device directory and every ancestor
  // (~10 MB at 30,000 devices); disks listed one after the other share their ancestors, so
  // a bounded memo saves nearly every link read as well. Emptied between two disks only:
  // nobody holds one of its entries then.
  if (chains_.size() > kChainMemoEntries) chains_.clear();
  auto disk = ProbeDisk(name, stats);
  if (!disk || !Listed(*disk)) return group;
  std::vector<std::string> parts = disk->partitions;
  std::string dir = disk->devpath.empty() ? "sys/block/" + disk->kname : "sys" + disk->devpath;
  // Partitions need the disk's queue, removable flag and name, not the whole device: the
  // disk is moved into the group first and read from there.
  group.reserve(1 + parts.size());
  group.push_back(std::move(*disk));
  for (const auto& p : parts) {
    auto part = ProbePartition(group.front(), p, dir + "/" + p, stats);
    // (the disk is listed: only the partition's own record can ignore it)
    if (part && !(opt_.skip_ignored && IgnoredByUdev(*part))) group.push_back(std::move(*part));
  }
  for (const auto& d : group) {
    stats.field_errors += d.errors.size();
    stats.devices++;
  }
  return group;
}

ScanStats Walker::Walk(const DeviceSink& sink) {
  BeginWalk();
  ScanStats stats;
  auto disks = ListDisks(stats);
  if (!disks) return stats;
  for (const auto& name : *disks) {
    for (auto& d : WalkDisk(name, stats)) sink(std::move(d));
  }
  EndWalk();
  return stats;
}

Inventory Walker::WalkAll() {
  Inventory inv;
  ScanStats stats = Walk([&](BlockDevice&& d) { inv.Add(std::move(d)); });
  stats.devices = inv.size();
  inv.stats() = std::move(stats);
  return inv;
}

bool IgnoredByUdev(const UdevRecord& r) {
  auto v = r.Get(kIgnoreProperty);
  return v && *v == "1";
}

bool IgnoredByUdev(const BlockDevice& d) { return IgnoredByUdev(d.udev); }

bool Walker::ParentIgnored(const BlockDevice& part) const {
  if (part.pkname.empty()) return false;
  auto dev = r_.ReadFile("sys/block/" + part.pkname + "/dev", 64);
  if (!dev.ok()) return false;
  auto rec = r_.ReadFile(fmt::format("run/udev/data/b{}", Trim(*dev)), 256 * 1024);
  if (!rec.ok()) return false;
  return IgnoredByUdev(ParseUdevDbRecord(*rec));
}

bool Walker::Listed(const BlockDevice& d) const {
  // A partition's record gets DISKINV_IGNORE from its disk only at the partition's next udev
  // event (60-diskinv.rules imports it): ask the disk's record too.
  if (opt_.skip_ignored && (IgnoredByUdev(d) || (d.is_partition && ParentIgnored(d)))) {
    return false;
  }
  if (opt_.all || d.is_partition) return true;
  if (d.hidden) return false;
  return !(d.devnum.major == kLoopMajor && d.size_bytes.value_or(0) == 0 && !d.loop_backing_file);
}

Result<BlockDevice> Walker::Probe(std::string_view kname) {
  // NVMe controllers come and go with hotplug: the controller -> subsystem map is checked
  // (SubsystemOfController), not listed again for every probe, which cost O(subsystems) per
  // event. SCSI host numbers are never reused until reboot, so their class facts stay valid.
  subsys_fresh_ = false;
  chains_.clear();
  r_.DropCaches();
  ScanStats stats;
  std::string name(kname);
  if (r_.Exists("sys/block/" + name)) {
    auto d = ProbeDisk(name, stats);
    if (d) return std::move(*d);
    return Status(ENOENT, fmt::format("{}: device vanished", name));
  }
  // A partition: sys/class/block/<name> leads to <disk dir>/<name>.
  auto link = r_.ReadLink("sys/class/block/" + name);
  if (!link.ok()) return Status(ENOENT, fmt::format("{}: no such block device", name));
  std::string dir = ResolveLinkTarget("sys/class/block/" + name, *link);
  std::string disk_dir = dir.substr(0, dir.rfind('/'));
  std::string disk_name = Basename(disk_dir);
  auto disk = ProbeDisk(disk_name, stats);
  if (!disk) return Status(ENOENT, fmt::format("{}: parent {} vanished", name, disk_name));
  auto part = ProbePartition(*disk, name, dir, stats);
  if (!part) return Status(ENOENT, fmt::format("{}: device vanished", name));
  return std::move(*part);
}

std::optional<BlockDevice> Walker::ProbeDisk(const std::string& name, ScanStats& stats) {
  BlockDevice d;
  d.kname = name;
  d.name = name;
  d.path = DevNodePath(name);
  std::string link_path = "sys/block/" + name;
  auto link = r_.ReadLink(link_path);
  std::string dir;
  if (link.ok()) {
    dir = ResolveLinkTarget(link_path, *link);
    if (!r_.IsDir(dir)) {
      if (!r_.Exists(link_path) && !r_.ReadLink(link_path).ok()) {
        stats.vanished++;
        return std::nullopt;
      }
      d.errors.push_back(
          {"devpath", link_path, fmt::format("{}: dangling link to {}", link_path, *link), ENOENT});
      dir = link_path;
    }
  } else if (link.status().code() == EINVAL && r_.IsDir(link_path)) {
    dir = link_path;  // a plain directory (older sysfs layouts, hand-made trees)
  } else if (link.status().code() == ENOENT) {
    stats.vanished++;
    return std::nullopt;
  } else {
    d.errors.push_back({"devpath", link_path, link.status().message(), link.status().code()});
    dir = link_path;
  }
  if (StartsWith(dir, "sys/")) d.devpath = dir.substr(3);
  Ctx c{r_, dir, d};
  auto dev = c.Str("dev", "maj:min", true);
  if (!dev) {
    // Gone since it was listed (its sys/block entry too): vanished, not an error.
    if (!r_.Exists(dir) && r_.ReadLink(link_path).status().code() == ENOENT) {
      stats.vanished++;
      return std::nullopt;
    }
  } else if (auto num = ParseDevNum(*dev); num.ok()) {
    d.devnum = *num;
  } else {
    c.Error("maj:min", dir + "/dev", num.status());
  }
  d.hidden = c.Bool("hidden", "hidden").value_or(false);
  ReadCommon(c, d);
  d.removable = c.Bool("removable", "rm");
  d.diskseq = c.U64("diskseq", "disk-seq");
  d.ext_range = c.U64("ext_range", "ext_range");
  ReadQueue(c, d.queue.Mutable());
  d.holders = Names(r_.ListDir(dir + "/holders"));
  d.slaves = Names(r_.ListDir(dir + "/slaves"));
  d.partitions = PartitionNames(name, dir);
  ReadSubsystems(d, dir);

  // Type and stacking-specific attributes, as lsblk's get_type().
  if (StartsWith(name, "dm-")) {
    d.dm_name = c.Str("dm/name", "dm-name");
    d.dm_uuid = c.Str("dm/uuid", "dm-uuid");
    if (d.dm_name) {
      d.name = *d.dm_name;
      d.path = "/dev/mapper/" + *d.dm_name;
    }
    std::string t = "dm";
    if (d.dm_uuid && !d.dm_uuid->empty()) {
      std::string prefix = d.dm_uuid->substr(0, d.dm_uuid->find('-'));
      if (prefix.size() >= 4 && strncasecmp(prefix.c_str(), "part", 4) == 0) prefix.resize(4);
      if (!prefix.empty()) t = prefix;
    }
    d.type = t;
    if (auto s = c.U64("dm/suspended", "state")) d.state = *s ? "suspended" : "running";
  } else if (StartsWith(name, "loop")) {
    d.type = "loop";
    d.loop_backing_file = c.Str("loop/backing_file", "back-file");
  } else if (StartsWith(name, "md")) {
    d.md_level = c.Str("md/level", "md-level");
    d.md_uuid = c.Str("md/uuid", "md-uuid");
    d.type = d.md_level && !d.md_level->empty() ? *d.md_level : "md";
  }
  ReadIdentity(c, d);
  if (d.type.empty()) {
    const char* t = d.scsi && d.scsi->device_type ? ScsiTypeName(*d.scsi->device_type) : nullptr;
    d.type = t ? t : "disk";
  }
  for (auto& ch : d.type) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (!d.slaves.empty()) d.pkname = d.slaves.front();
  if (opt_.udev) ReadUdev(c, d);
  ApplyUdevIdentity(d);
  // lsblk shows vendor/model/serial/rev only for devices that are not stacked on others.
  if (!d.slaves.empty()) {
    d.vendor.reset();
    d.model.reset();
    d.serial.reset();
    d.rev.reset();
  }
  ProjectUdev(d);
  return d;
}

std::optional<BlockDevice> Walker::ProbePartition(const BlockDevice& disk, const std::string& name,
                                                  const std::string& dir, ScanStats& stats) {
  BlockDevice d;
  d.kname = name;
  d.name = name;
  d.path = DevNodePath(name);
  d.is_partition = true;
  d.type = "part";
  d.pkname = disk.kname;
  if (StartsWith(dir, "sys/")) d.devpath = dir.substr(3);
  Ctx c{r_, dir, d};
  auto dev = c.Str("dev", "maj:min", true);
  if (!dev) {
    if (!r_.Exists(dir)) {
      stats.vanished++;
      return std::nullopt;
    }
  } else if (auto num = ParseDevNum(*dev); num.ok()) {
    d.devnum = *num;
  } else {
    c.Error("maj:min", dir + "/dev", num.status());
  }
  ReadCommon(c, d);
  // The kernel gives partitions no `removable` (block/partitions/core.c, part_attrs): lsblk's
  // ENOENT fallback to the whole disk's flag, without the failed open per partition.
  d.removable = disk.removable;
  d.partn = c.U64("partition", "partn");
  d.start = c.U64("start", "start");
  d.queue = disk.queue;  // the queue is the whole disk's (lsblk redirects queue/ too)
  d.holders = Names(r_.ListDir(dir + "/holders"));
  ReadSubsystems(d, dir);
  d.tran = StartsWith(name, "nvme") ? std::optional<std::string>("nvme") : std::nullopt;
  if (opt_.udev) ReadUdev(c, d);
  // A partition's WWN is its disk's (udev copies ID_WWN to partitions); lsblk reads it
  // from the partition's own record, so do the same.
  if (auto w = d.udev.Get("ID_WWN_WITH_EXTENSION")) {
    d.wwn = *w;
  } else if (auto w2 = d.udev.Get("ID_WWN")) {
    d.wwn = *w2;
  }
  ProjectUdev(d);
  return d;
}

void Walker::ProjectUdev(BlockDevice& d) const {
  if (opt_.udev_properties.empty() || !d.udev.present) return;
  PackedProperties kept;
  for (const auto& [key, value] : d.udev.properties) {
    if (key == kIgnoreProperty ||
        std::find(opt_.udev_properties.begin(), opt_.udev_properties.end(), key) !=
            opt_.udev_properties.end()) {
      kept.Add(key, value);
    }
  }
  d.udev.properties = std::move(kept);
  d.udev.links.clear();
}

void Walker::ReadCommon(Ctx& c, BlockDevice& d) {
  if (auto sectors = c.U64("size", "size", true)) {
    if (*sectors > UINT64_MAX / 512) {
      c.Error("size", c.dir + "/size", Status::Invalid("size in sectors overflows bytes"));
    } else {
      d.size_bytes = *sectors * 512;
    }
  }
  d.ro = c.Bool("ro", "ro", true);
  d.alignment_offset = c.I64("alignment_offset", "alignment");
  d.discard_alignment = c.I64("discard_alignment", "disc-aln");
}

void Walker::ReadQueue(Ctx& c, QueueLimits& q) {
  q.rotational = c.Bool("queue/rotational", "rota");
  q.logical_block_size = c.U64("queue/logical_block_size", "log-sec");
  q.physical_block_size = c.U64("queue/physical_block_size", "phy-sec");
  q.minimum_io_size = c.U64("queue/minimum_io_size", "min-io");
  q.optimal_io_size = c.U64("queue/optimal_io_size", "opt-io");
  q.discard_granularity = c.U64("queue/discard_granularity", "disc-gran");
  q.discard_max_bytes = c.U64("queue/discard_max_bytes", "disc-max");
  q.discard_max_hw_bytes = c.U64("queue/discard_max_hw_bytes", "disc-max-hw");
  q.write_same_max_bytes = c.U64("queue/write_same_max_bytes", "wsame");
  q.write_zeroes_max_bytes = c.U64("queue/write_zeroes_max_bytes", "wzeroes");
  q.max_sectors_kb = c.U64("queue/max_sectors_kb", "max-sectors-kb");
  q.max_hw_sectors_kb = c.U64("queue/max_hw_sectors_kb", "max-hw-sectors-kb");
  q.read_ahead_kb = c.U64("queue/read_ahead_kb", "ra");
  q.nr_requests = c.U64("queue/nr_requests", "rq-size");
  q.rq_affinity = c.U64("queue/rq_affinity", "rq-affinity");
  q.add_random = c.Bool("queue/add_random", "rand");
  q.dax = c.Bool("queue/dax", "dax");
  q.zoned = c.Str("queue/zoned", "zoned");
  q.nr_zones = c.U64("queue/nr_zones", "zone-nr");
  q.chunk_sectors = c.U64("queue/chunk_sectors", "chunk-sectors");
  q.max_open_zones = c.U64("queue/max_open_zones", "zone-omax");
  q.max_active_zones = c.U64("queue/max_active_zones", "zone-amax");
  q.zone_write_granularity = c.U64("queue/zone_write_granularity", "zone-wgran");
  q.zone_append_max_bytes = c.U64("queue/zone_append_max_bytes", "zone-app");
  if (auto s = c.Str("queue/scheduler", "sched")) {
    SchedulerList sl = ParseScheduler(*s);
    q.scheduler = std::move(sl.selected);
    q.schedulers = std::move(sl.available);
  }
  // lsblk reports discard_zeroes_data only when the device discards at all, and 0 for the
  // zone limits and WSAME when the kernel has no such attribute.
  if (q.discard_granularity.value_or(0) > 0) {
    q.discard_zeroes_data = c.Bool("queue/discard_zeroes_data", "disc-zero");
  } else {
    q.discard_zeroes_data = false;
  }
  if (!q.write_same_max_bytes) q.write_same_max_bytes = 0;
  if (!q.max_open_zones) q.max_open_zones = 0;
  if (!q.max_active_zones) q.max_active_zones = 0;
}

std::vector<std::string> Walker::PartitionNames(const std::string& disk_name,
                                                const std::string& dir) {
  std::vector<std::string> out;
  auto entries = r_.ListDir(dir);
  if (!entries.ok()) return out;
  for (const auto& e : *entries) {
    if (e.type != EntryType::kDir && e.type != EntryType::kSymlink && e.type != EntryType::kOther)
      continue;
    const std::string& n = e.name;
    // "<disk><digit>" or "<disk>p<digit>", as lsblk's sysfs_blkdev_is_partition_dirent.
    if (n.size() <= disk_name.size() || n.compare(0, disk_name.size(), disk_name) != 0) continue;
    char next = n[disk_name.size()];
    bool digit = std::isdigit(static_cast<unsigned char>(next)) != 0;
    bool pdigit = next == 'p' && n.size() > disk_name.size() + 1 &&
                  std::isdigit(static_cast<unsigned char>(n[disk_name.size() + 1])) != 0;
    if (digit || pdigit) out.push_back(n);
  }
  return out;
}

void Walker::ReadIdentity(Ctx& c, BlockDevice& d) {
  std::string link_path = c.dir + "/device";
  auto link = r_.ReadLink(link_path);
  if (!link.ok()) {
    if (link.status().code() != ENOENT) c.Error("device", link_path, link.status());
    return;
  }
  std::string device_dir = ResolveLinkTarget(link_path, *link);
  if (!r_.IsDir(device_dir)) {
    c.Error("device", link_path,
            Status(ENOENT, fmt::format("{}: dangling link to {}", link_path, *link)));
    return;
  }
  Ctx dc{r_, device_dir, d};
  // lsblk's sysfs-side identity: device/{vendor,model,serial,rev,state}. An NVMe controller or
  // subsystem (the device/ of a namespace) has no vendor or rev attribute: not tried.
  const bool nvme_device = StartsWith(Basename(*link), "nvme");
  if (!nvme_device) d.vendor = dc.Str("vendor", "vendor");
  d.model = dc.Str("model", "model");
  d.serial = dc.Str("serial", "serial");
  if (!nvme_device) d.rev = dc.Str("rev", "rev");
  d.state = dc.Str("state", "state");
  if (auto hctl = ParseHctl(Basename(*link))) {
    d.hctl = fmt::format("{}:{}:{}:{}", hctl->host, hctl->channel, hctl->target, hctl->lun);
    ReadScsi(c, d, device_dir);
    if (std::string t = ScsiTransport(device_dir, hctl->host); !t.empty()) d.tran = t;
  } else if (StartsWith(d.kname, "nvme")) {
    ReadNvme(c, d, device_dir);
  }
  if (StartsWith(d.kname, "nvme")) d.tran = "nvme";
  // virtio-blk: lsblk 2.38 has no transport for it, and reads no serial (the serial is on the
  // disk itself, not on device/). Both are real identity for an inventory: fill them.
  if (!d.tran && StartsWith(d.kname, "vd") && link->find("virtio") != std::string::npos) {
    d.tran = "virtio";
  }
  if (!d.serial) {
    if (auto s = c.Str("serial", "serial"); s && !s->empty()) d.serial = s;
  }
  if (!d.wwid) {
    if (auto w = c.Str("wwid", "wwid"); w && !w->empty()) d.wwid = std::string(Trim(*w));
  }
}

void Walker::ReadScsi(Ctx& c, BlockDevice& d, const std::string& device_dir) {
  Ctx dc{r_, device_dir, d};
  ScsiIdentity s;
  s.hctl = *d.hctl;
  s.vendor = d.vendor;
  s.model = d.model;
  s.rev = d.rev;
  s.state = d.state;
  s.device_type = dc.I64("type", "scsi.type");
  // The kernel's wwid fails with ENXIO (no VPD page 0x83) or EINVAL (no usable designator) on
  // devices without an identifier, e.g. ATAPI and scsi-cd drives: no wwid, not an error.
  if (auto w = r_.ReadFile(device_dir + "/wwid"); w.ok()) {
    s.wwid = std::string(Trim(StripNewline(std::move(*w))));
  } else if (int e = w.status().code(); e != ENOENT && e != ENXIO && e != EINVAL) {
    c.Error("wwid", device_dir + "/wwid", w.status());
  }
  s.sas_address = dc.Str("sas_address", "sas_address");
  auto page = r_.ReadFile(device_dir + "/vpd_pg83");
  if (page.ok()) {
    VpdParse vp = ParseVpdPage83(*page);
    if (!vp.status.ok()) c.Error("vpd_pg83", device_dir + "/vpd_pg83", vp.status);
    s.vpd83 = std::move(vp.designators);
  } else if (page.status().code() != ENOENT) {
    c.Error("vpd_pg83", device_dir + "/vpd_pg83", page.status());
  }
  d.wwid = s.wwid;
  d.firmware_rev = s.rev;
  d.scsi = std::move(s);
}

namespace {

// What ScsiTransport needs of a SCSI host, in the bits of one number.
enum HostFacts : uint16_t {
  kSpi = 1 << 0,
  kFc = 1 << 1,
  kFcNamed = 1 << 2,  // fc_host/symbolic_name could be read
  kFcoe = 1 << 3,     // ... and says " over " (FCoE)
  kSas = 1 << 4,
  kIscsi = 1 << 5,
  kSata = 1 << 6,  // scsi_host/proc_name starts with "ahci" or "sata"
  kAta = 1 << 7,   // ... or else contains "ata"
};

}  // namespace

std::string Walker::ScsiTransport(const std::string& device_dir, unsigned host) {
  // lsblk's get_transport (after lsscsi): the class of the SCSI host decides, then a few
  // per-device hints. Host facts are kept: thousands of disks share few hosts.
  uint16_t h = host < hosts_.size() ? hosts_[host] : 0;
  if (!(h & kHostKnown)) {
    auto is = [&](const char* type) {
      return r_.IsDir(fmt::format("sys/class/{}_host/host{}", type, host));
    };
    h = kHostKnown;
    if (is("spi")) h |= kSpi;
    if (is("fc")) {
      h |= kFc;
      auto name = r_.ReadFile(fmt::format("sys/class/fc_host/host{}/symbolic_name", host));
      if (name.ok()) h |= kFcNamed | (name->find(" over ") != std::string::npos ? kFcoe : 0);
    }
    if (is("sas")) h |= kSas;
    if (is("iscsi")) h |= kIscsi;
    if (is("scsi")) {
      auto proc = r_.ReadFile(fmt::format("sys/class/scsi_host/host{}/proc_name", host));
      if (proc.ok()) {
        std::string p = StripNewline(*proc);
        if (StartsWith(p, "ahci") || StartsWith(p, "sata")) {
          h |= kSata;
        } else if (p.find("ata") != std::string::npos) {
          h |= kAta;
        }
      }
    }
    if (host < kMaxHostMemo) {
      if (host >= hosts_.size()) hosts_.resize(host + 1, 0);
      hosts_[host] = h;
    }
  }
  // lsblk looks at sys/bus/scsi/devices/H:C:T:L, a link to the very directory the disk's
  // `device` link resolves to: use that directory (already open) and its path.
  const std::string& scsi_dev = device_dir;
  if (h & kSpi) return "spi";
  if (h & kFc) {
    if (!(h & kFcNamed)) return {};
    return h & kFcoe ? "fcoe" : "fc";
  }
  if ((h & kSas) || r_.Exists(scsi_dev + "/sas_device")) return "sas";
  if (r_.Exists(scsi_dev + "/ieee1394_id")) return "sbp";
  if (h & kIscsi) return "iscsi";
  if (device_dir.find("usb") != std::string::npos) return "usb";
  if (h & kSata) return "sata";
  if (h & kAta) return "ata";
  return {};
}

void Walker::ExtendChain(std::string_view dir, Chain& c) {
  std::string path;
  path.reserve(dir.size() + 10);
  path.append(dir).append("/subsystem");
  auto link = r_.ReadLink(path);
  if (!link.ok()) return;
  std::string sub = Basename(*link);
  // lsblk de-duplicates neighbours only: "block:scsi:pci", never "block:scsi:scsi:pci".
  if (c.names != sub && !StartsWith(c.names, sub + ":")) {
    c.names = c.names.empty() ? sub : sub + ":" + c.names;
  }
  for (const char* h : {"usb", "ieee1394", "pcmcia", "mmc", "ccw"}) c.hotplug |= sub == h;
}

const Walker::Chain& Walker::SubsystemChain(std::string_view dir) {
  if (auto it = chains_.find(dir); it != chains_.end()) return it->second;
  Chain c = LeafSubsystemChain(dir);
  return chains_.emplace(std::string(dir), std::move(c)).first->second;
}

Walker::Chain Walker::LeafSubsystemChain(std::string_view dir) {
  Chain c;
  size_t slash = dir.rfind('/');
  // Stop at the root and at "sys": lsblk climbs further, but nothing above sys/devices has a
  // subsystem link.
  if (slash != std::string_view::npos && dir != "sys") {
    c = SubsystemChain(dir.substr(0, slash));
  }
  ExtendChain(dir, c);
  return c;
}

void Walker::ReadSubsystems(BlockDevice& d, const std::string& dir) {
  Chain leaf;
  const Chain* chain = nullptr;
  if (d.is_partition) {
    // A partition is a block-class device inside its disk's directory: its own link can only
    // add "block", which the disk's chain already starts with (and lsblk de-duplicates). Read
    // it only when the disk's chain does not start with "block" (a tree without the link).
    size_t slash = dir.rfind('/');
    std::string_view path = dir;
    const Chain& disk = SubsystemChain(path.substr(0, slash));  // npos: the whole path
    bool block = disk.names == "block" || StartsWith(disk.names, "block:");
    chain = block ? &disk : &(leaf = LeafSubsystemChain(dir));
  } else {
    chain = &SubsystemChain(dir);
  }
  const Chain& c = *chain;
  if (!c.names.empty()) d.subsystems = c.names;
  // lsblk: the device's own `removable` attribute (partitions have none), then the chain.
  d.hotplug = c.hotplug || (!d.is_partition && d.removable.value_or(false));
}

namespace {

// N of "<prefix>N" (digits only, no leading zero unless "0"), or nullopt.
std::optional<uint32_t> NumberAfter(std::string_view name, std::string_view prefix) {
  if (!StartsWith(name, prefix)) return std::nullopt;
  std::string_view digits = name.substr(prefix.size());
  if (digits.empty() || digits.size() > 9 || (digits.size() > 1 && digits[0] == '0')) {
    return std::nullopt;
  }
  uint32_t n = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<uint32_t>(c - '0');
  }
  return n;
}

constexpr uint32_t kMaxControllerMemo = 1 << 20;

}  // namespace

void Walker::MapController(const std::string& ctrl, const std::string& subsys) {
  auto c = NumberAfter(ctrl, "nvme");
  auto s = NumberAfter(subsys, "nvme-subsys");
  if (c && s && *c < kMaxControllerMemo) {
    if (*c >= ctrl_to_subsys_.size()) ctrl_to_subsys_.resize(*c + 1, 0);
    ctrl_to_subsys_[*c] = *s + 1;
  } else {
    odd_ctrl_to_subsys_[ctrl] = subsys;
  }
}

std::optional<std::string> Walker::MappedSubsystem(const std::string& ctrl) const {
  auto c = NumberAfter(ctrl, "nvme");
  if (c && *c < ctrl_to_subsys_.size() && ctrl_to_subsys_[*c] != 0) {
    return fmt::format("nvme-subsys{}", ctrl_to_subsys_[*c] - 1);
  }
  if (auto it = odd_ctrl_to_subsys_.find(ctrl); it != odd_ctrl_to_subsys_.end()) return it->second;
  return std::nullopt;
}

std::string Walker::SubsystemOfController(const std::string& ctrl) {
  if (auto sub = MappedSubsystem(ctrl)) {
    if (subsys_fresh_ || r_.Exists("sys/class/nvme-subsystem/" + *sub + "/" + ctrl)) {
      return *sub;
    }
  } else if (subsys_fresh_) {
    return {};
  }
  ctrl_to_subsys_.clear();
  odd_ctrl_to_subsys_.clear();
  subsys_fresh_ = true;
  auto subs = r_.ListDir("sys/class/nvme-subsystem");
  if (subs.ok()) {
    for (const auto& s : *subs) {
      auto entries = r_.ListDir("sys/class/nvme-subsystem/" + s.name);
      if (!entries.ok()) continue;
      for (const auto& e : *entries) {
        // Controllers appear as nvmeN links; namespaces heads as nvmeNnM directories.
        if (StartsWith(e.name, "nvme") && e.name.find('n', 4) == std::string::npos) {
          MapController(e.name, s.name);
        }
      }
    }
  }
  return MappedSubsystem(ctrl).value_or(std::string());
}

void Walker::ReadNvme(Ctx& c, BlockDevice& d, const std::string& device_dir) {
  NvmeIdentity n;
  n.eui64 = c.Str("eui", "nvme.eui");
  n.nguid = c.Str("nguid", "nvme.nguid");
  n.uuid = c.Str("uuid", "nvme.uuid");
  if (auto w = c.Str("wwid", "wwid")) n.wwid = std::string(Trim(*w));
  n.nsid = c.U64("nsid", "nvme.nsid");
  std::string base = Basename(device_dir);
  Ctx dc{r_, device_dir, d};
  std::string ctrl_dir = device_dir;
  if (StartsWith(base, "nvme-subsys")) {
    // Native multipath head: device/ is the subsystem; paths are in multipath/.
    n.subsystem = base;
    for (const auto& e : Names(r_.ListDir(device_dir))) {
      if (StartsWith(e, "nvme") && e.find('n', 4) == std::string::npos) n.controllers.push_back(e);
    }
    if (r_.IsDir(c.dir + "/multipath")) {
      n.paths = Names(r_.ListDir(c.dir + "/multipath"));
    } else {
      // Kernels before the multipath/ links (Debian 12's 6.1): head nvme<S>n<N> has the path
      // nvme<S>c<C>n<N> under each controller nvme<C> that reaches it.
      size_t npos = d.kname.rfind('n');
      for (const auto& ctrl : n.controllers) {
        std::string path = fmt::format("nvme{}c{}{}", d.kname.substr(4, npos - 4), ctrl.substr(4),
                                       d.kname.substr(npos));
        if (r_.Exists(device_dir + "/" + ctrl + "/" + path)) n.paths.push_back(path);
      }
    }
    n.subsysnqn = dc.Str("subsysnqn", "nvme.subsysnqn");
    n.serial = d.serial;  // read by ReadIdentity from this directory
    n.model = d.model;
    n.firmware_rev = dc.Str("firmware_rev", "firmware");
    // The transport and address are per controller: take the first path's controller.
    if (!n.controllers.empty()) ctrl_dir = device_dir + "/" + n.controllers.front();
    Ctx cc{r_, ctrl_dir, d};
    n.transport = cc.Str("transport", "nvme.transport");
  } else {
    n.controller = base;
    n.subsystem = SubsystemOfController(base);
    n.serial = d.serial;  // read by ReadIdentity from this directory
    n.model = d.model;
    n.firmware_rev = dc.Str("firmware_rev", "firmware");
    n.transport = dc.Str("transport", "nvme.transport");
    n.subsysnqn = dc.Str("subsysnqn", "nvme.subsysnqn");
    n.address = dc.Str("address", "nvme.address");
    n.cntlid = dc.U64("cntlid", "nvme.cntlid");
    n.controllers.push_back(base);
  }
  if (!n.state) n.state = d.state;
  for (auto* s : {&n.serial, &n.model, &n.firmware_rev, &n.subsysnqn}) {
    if (*s) *s = std::string(Trim(**s));
  }
  d.wwid = n.wwid;
  d.firmware_rev = n.firmware_rev;
  d.nvme = std::move(n);
}

void Walker::ReadUdev(Ctx& c, BlockDevice& d) {
  std::string path = fmt::format("run/udev/data/b{}:{}", d.devnum.major, d.devnum.minor);
  auto rec = r_.ReadFile(path, 256 * 1024);
  if (!rec.ok()) {
    if (rec.status().code() != ENOENT) c.Error("udev", path, rec.status());
    return;
  }
  UdevDbParseStats st;
  d.udev = ParseUdevDbRecord(*rec, &st);
  if (st.malformed > 0) {
    c.Error("udev", path,
            Status::Invalid(fmt::format("{} malformed line(s) in udev record", st.malformed)));
  }
}

void Walker::ApplyUdevIdentity(BlockDevice& d) {
  const UdevRecord& u = d.udev;
  auto note = [&](const char* field, const std::optional<std::string>& sysfs,
                  const std::string& udev) {
    if (sysfs && !sysfs->empty() && NormalizeWhitespace(*sysfs) != NormalizeWhitespace(udev)) {
      d.disagreements[field] = {"udev", udev, *sysfs};
    }
  };
  // Serial: lsblk's priority among udev properties, whitespace normalized; else sysfs.
  for (const char* key : {"SCSI_IDENT_SERIAL", "ID_SCSI_SERIAL", "ID_SERIAL_SHORT", "ID_SERIAL"}) {
    if (auto v = u.Get(key)) {
      std::string s = NormalizeWhitespace(*v);
      note("serial", d.serial, s);
      d.serial = s;
      break;
    }
  }
  if (auto v = u.Get("ID_MODEL_ENC")) {
    std::string m = NormalizeWhitespace(UnhexMangle(*v));
    note("model", d.model, m);
    d.model = m;
  } else if (auto v2 = u.Get("ID_MODEL")) {
    std::string m = NormalizeWhitespace(*v2);
    note("model", d.model, m);
    d.model = m;
  }
  // WWN: udev's, else derived from the sysfs wwid (lsblk has no sysfs fallback).
  std::optional<std::string> sysfs_wwn;
  if (d.scsi && !d.scsi->vpd83.empty()) {
    if (std::string naa = PreferredNaa(d.scsi->vpd83); !naa.empty()) sysfs_wwn = naa;
  }
  // udev sets ID_WWN of NVMe namespaces to the wwid attribute verbatim (60-persistent-storage
  // rules); for SCSI/ATA it prints NAA/EUI-64 designators as 0x-prefixed hex.
  if (!sysfs_wwn && d.wwid) {
    if (std::string w = d.nvme ? *d.wwid : WwnFromWwid(*d.wwid); !w.empty()) sysfs_wwn = w;
  }
  auto w = u.Get("ID_WWN_WITH_EXTENSION");
  if (!w) w = u.Get("ID_WWN");
  if (w) {
    if (sysfs_wwn && *sysfs_wwn != *w && !StartsWith(*w, *sysfs_wwn)) {
      d.disagreements["wwn"] = {"udev", std::string(*w), *sysfs_wwn};
    }
    d.wwn = *w;
  } else if (sysfs_wwn) {
    d.wwn = sysfs_wwn;  // no udev value: sysfs is the only source, nothing disagrees
  }
}

}  // namespace diskinv
