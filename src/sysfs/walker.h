// Walker: builds an Inventory from a (rooted) sysfs tree and the udev database.
//
// Reads sys/block/* (whole disks), their partition subdirectories, each device's attributes,
// queue limits, stacking (holders/slaves, NVMe multipath), SCSI and NVMe identity and the udev
// record run/udev/data/bMAJ:MIN, all through a SysfsReader, so the same code walks "/" and a
// fixture tree. Field semantics follow lsblk 2.38 where lsblk has the field (see fields.h and
// docs/fields.md); where sysfs has an identifier lsblk ignores (virtio serial, SCSI wwid, NVMe
// wwid when the udev db has no record), the walker fills it from sysfs and notes the source.
//
// Bad input never stops the walk: every attribute that is unreadable, malformed, or behind a
// dangling or looping link becomes a FieldError on its device; a device that vanishes mid-walk
// is counted in ScanStats::vanished. Walker keeps caches for one walk only (WalkAll resets them).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model/inventory.h"
#include "sysfs/sysfs_reader.h"

namespace diskinv {

struct WalkOptions {
  // Also list what lsblk hides: empty loop devices and hidden devices (NVMe multipath paths).
  bool all = false;
  // Read run/udev/data records.
  bool udev = true;
  // Leave out devices whose udev record has DISKINV_IGNORE=1 (rules/60-diskinv.rules; a
  // partition of an ignored disk imports it), and with a whole disk its partitions. The agent
  // sets it; `diskinv scan` shows every device, as lsblk does.
  bool skip_ignored = false;
  // Non-empty: keep only these udev properties (and DISKINV_IGNORE) and no links of each
  // device, once the walker has taken what it needs from the record. The agent holds every
  // device in memory and stores a few properties (StoredUdevProperties in store/device_row.h).
  std::vector<std::string> udev_properties = {};
};

// The udev property rules/60-diskinv.rules sets to "1" on devices diskinv must leave alone.
inline constexpr std::string_view kIgnoreProperty = "DISKINV_IGNORE";
// Whether the udev record of `d` marks it as not to be inventoried (DISKINV_IGNORE=1).
bool IgnoredByUdev(const UdevRecord& record);
bool IgnoredByUdev(const BlockDevice& d);

class Walker {
 public:
  Walker(SysfsReader& reader, WalkOptions options) : r_(reader), opt_(options) {}

  // Receives each listed device of a walk, in walk order (whole disks sorted by name, each
  // followed by its partitions), as soon as it has been read.
  using DeviceSink = std::function<void(BlockDevice&&)>;

  // One full walk, streamed: nothing is kept after `sink` returns, so memory does not grow with
  // the number of devices. Returns the walk's statistics (devices = the number sunk).
  ScanStats Walk(const DeviceSink& sink);

  // One full walk into an Inventory (Walk() collecting every device).
  Inventory WalkAll();

  // Walk() in parts, for a walk shared by several Walkers (ParallelWalk: one per thread, each
  // with its own reader). BeginWalk empties the per-walk memos; ListDisks lists sys/block,
  // sorted, once for all of them (nullopt when it cannot: counted in `stats` as a walk error
  // with its message); WalkDisk reads one disk and its partitions (the group Walk
  // would sink for it, empty when the disk vanished or is not listed) and counts them in
  // `stats`; EndWalk frees the memos a walk needs only while it runs.
  void BeginWalk();
  std::optional<std::vector<std::string>> ListDisks(ScanStats& stats);
  std::vector<BlockDevice> WalkDisk(const std::string& name, ScanStats& stats);
  void EndWalk();

  // Re-probes one device by kernel name (disk or partition), for event-driven updates.
  // ENOENT when the device does not exist (any more). Does not apply Listed().
  Result<BlockDevice> Probe(std::string_view kname);

  // Whether a walk lists `d`: lsblk hides hidden devices (NVMe multipath paths) and empty loop
  // devices without a backing file; WalkOptions::all shows them. With skip_ignored, a device
  // its udev record ignores is never listed.
  bool Listed(const BlockDevice& d) const;

 private:
  struct Ctx;
  // Probes a whole disk at sys/block/<name>; nullopt when it vanished (counted).
  std::optional<BlockDevice> ProbeDisk(const std::string& name, ScanStats& stats);
  std::optional<BlockDevice> ProbePartition(const BlockDevice& disk, const std::string& name,
                                            const std::string& dir, ScanStats& stats);
  void ReadCommon(Ctx& c, BlockDevice& d);
  void ReadQueue(Ctx& c, QueueLimits& q);
  void ReadIdentity(Ctx& c, BlockDevice& d);
  void ReadScsi(Ctx& c, BlockDevice& d, const std::string& device_dir);
  void ReadNvme(Ctx& c, BlockDevice& d, const std::string& device_dir);
  void ReadUdev(Ctx& c, BlockDevice& d);
  // Whether the udev record of the whole disk of partition `part` ignores it.
  bool ParentIgnored(const BlockDevice& part) const;
  void ApplyUdevIdentity(BlockDevice& d);
  // WalkOptions::udev_properties: drops the other properties and the links of `d`.
  void ProjectUdev(BlockDevice& d) const;
  std::vector<std::string> PartitionNames(const std::string& disk_name, const std::string& dir);
  std::string SubsystemOfController(const std::string& ctrl);
  // lsblk's SUBSYSTEMS and HOTPLUG for the device directory `dir`.
  void ReadSubsystems(BlockDevice& d, const std::string& dir);
  struct Chain {
    std::string names;  // "block:scsi:pci": from `dir` up, neighbours de-duplicated
    bool hotplug = false;
  };
  // Memoized per directory: thousands of disks share their HBA's and PCI bridges' ancestors.
  // A partition's directory is a leaf nobody asks about again: computed from its (memoized)
  // disk's chain without being remembered, which keeps the memo a third of the device count.
  const Chain& SubsystemChain(std::string_view dir);
  Chain LeafSubsystemChain(std::string_view dir);
  // Adds `dir`'s own subsystem link to its parent's chain.
  void ExtendChain(std::string_view dir, Chain& c);
  // lsblk's get_transport for the SCSI device at `device_dir` (root-relative, resolved).
  std::string ScsiTransport(const std::string& device_dir, unsigned host);

  SysfsReader& r_;
  WalkOptions opt_;
  // NVMe controller -> subsystem, from listing sys/class/nvme-subsystem/*. Built once per walk;
  // kept across probes, where a hit is checked with one lookup (controller names are reused
  // after a hot-remove) and a miss lists again, at most once per probe. Kept after a walk (one
  // entry per controller, thousands at 10,000 disks), so by number: nvme<N> -> 1 + the M of
  // nvme-subsys<M> (0: none); names of another form, which the kernel does not use, by name.
  std::vector<uint32_t> ctrl_to_subsys_;
  std::unordered_map<std::string, std::string> odd_ctrl_to_subsys_;
  bool subsys_fresh_ = false;  // built during the current walk or probe
  void MapController(const std::string& ctrl, const std::string& subsys);
  std::optional<std::string> MappedSubsystem(const std::string& ctrl) const;
  // SCSI host number -> its class facts (HostFacts bits), kHostKnown once read. Host numbers are
  // small and never reused until reboot; hosts above kMaxHostMemo are not remembered.
  static constexpr uint16_t kHostKnown = 1 << 15;
  static constexpr unsigned kMaxHostMemo = 1 << 20;
  std::vector<uint16_t> hosts_;
  // Looked up by std::string_view (a device's ancestors are prefixes of its path: no copies).
  struct ViewHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, Chain, ViewHash, std::equal_to<>> chains_;  // dir -> chain
  static constexpr size_t kChainMemoEntries = 4096;  // at most (Walk empties it when above)
};

// The lsblk TYPE of a SCSI peripheral device type code; nullptr for codes lsblk does not name.
const char* ScsiTypeName(int64_t type);

}  // namespace diskinv
