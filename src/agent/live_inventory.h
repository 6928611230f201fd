// LiveInventory: the node's current set of devices, kept exact by re-probing only what an event
// touched, and by a full walk + diff when events were lost (Resync).
//
// An event names a device by DEVPATH; the kernel name is its last component. add/change/move/
// online re-probe that device (a probe that finds it gone is a removal); remove drops it and
// its partitions. Because the kernel sends no event for the other end of a relation, the
// device's whole disk (for partitions) and its slaves (for dm/md) are re-probed with it, so
// `partitions` and `holders` stay exact too. Every call returns what changed.
//
// Per device it keeps a LiveDevice: the relations it needs to know what to re-probe, the
// transport (for the metrics) and a digest of the whole BlockDevice (model/device_digest.h),
// not the device: a change is a change of digest, and InventoryDiff::Changed::changes stays
// empty. With Options::keep_devices (diskinv monitor) it also keeps every BlockDevice and
// reports the fields that changed. Whoever needs a device's values asks sysfs again (the
// agent's LiveSource); the devices the last Apply() probed are kept until the next call
// (Probed), since the store asks for exactly those right after.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "model/inventory_diff.h"
#include "model/name_table.h"
#include "sysfs/walker.h"
#include "uevent/coalescer.h"

namespace diskinv {

struct LiveInventoryStats {
  uint64_t events = 0;      // events applied
  uint64_t probes = 0;      // single-device probes
  uint64_t full_walks = 0;  // Resync walks (including the first)
  uint64_t unchanged = 0;   // events after which nothing differed
};

// What LiveInventory keeps of one device: 32 bytes in a vector indexed by the id of its name
// (NameTable); the name ids of its partitions and slaves, when it has any, in one shared array.
struct LiveDevice {
  static constexpr uint32_t kNone = NameTable::kNone;
  uint64_t digest = 0;                     // DeviceDigest of the device as last probed
  const std::string* transport = nullptr;  // interned (InternTransport); nullptr: none
  uint32_t walk = 0;                       // the last Resync that saw it
  uint32_t parent = kNone;                 // partitions: the name id of the whole disk
  uint32_t relations = kNone;              // offset in LiveInventory's relation array, kNone: none
  bool present = false;                    // a device of the inventory (else a free slot)
  bool is_partition = false;
  bool hidden = false;

  std::string_view tran() const { return transport ? std::string_view(*transport) : ""; }
};

// One copy of each transport name ("nvme", "sata", ...) for the life of the process.
const std::string* InternTransport(std::string_view tran);

class LiveInventory {
 public:
  struct Options {
    bool keep_devices = false;  // keep every BlockDevice (inventory()), report changed fields
  };
  explicit LiveInventory(Walker& walker) : LiveInventory(walker, Options{}) {}
  LiveInventory(Walker& walker, Options options) : walker_(walker), opt_(options) {}

  // Walks everything and diffs against what was known (first call: all devices are "added").
  // `each` (optional) sees every device of the walk, in walk order, before it is dropped.
  InventoryDiff Resync(const std::function<void(const BlockDevice&)>& each = {});
  // Applies one event (block subsystem; other subsystems are ignored and change nothing).
  InventoryDiff Apply(const Uevent& event);
  // Applies a coalescer output: a re-probe or a Resync.
  InventoryDiff Apply(const CoalescerOutput& out);

  size_t size() const { return size_; }
  const LiveDevice* Find(std::string_view kname) const;
  // Relations of a device present ("" / empty when absent or none); PkName is a view, valid
  // until the inventory changes.
  std::string_view PkName(std::string_view kname) const;              // partitions: the disk
  std::vector<std::string> Partitions(std::string_view kname) const;  // whole disks
  std::vector<std::string> Slaves(std::string_view kname) const;
  // Every device: kname and record, in no particular order.
  void ForEach(const std::function<void(std::string_view, const LiveDevice&)>& fn) const;
  // The records by name id, free slots included (present == false).
  const std::vector<LiveDevice>& records() const { return devices_; }
  // Names interned and relation entries held, used or not (their growth is bounded: Compact).
  size_t names() const { return names_.size(); }
  size_t relation_entries() const { return relations_.size(); }
  // The walk-level outcome of the last Resync.
  const ScanStats& scan_stats() const { return scan_; }
  // A device the last Apply() probed and kept, else nullptr.
  const BlockDevice* Probed(std::string_view kname) const { return probed_.FindByName(kname); }
  // Every device, with keep_devices only (else empty).
  const Inventory& inventory() const { return inv_; }
  const LiveInventoryStats& stats() const { return stats_; }

 private:
  struct Change;
  // Re-probes `kname`; removes it (and its partitions) when it is gone or unlisted.
  void Reprobe(Change& c, const std::string& kname);
  void RemoveWithPartitions(Change& c, const std::string& kname);
  void Put(BlockDevice&& dev, bool keep_probed);
  void Remove(const std::string& kname);
  // The relations of `d` as stored: partitions (whole disks), slaves; interned.
  std::vector<uint32_t> RelationIds(const BlockDevice& d);
  // `ids` (RelationIds): the first `parts` are partitions, the rest slaves.
  void SetRelations(LiveDevice& r, const std::vector<uint32_t>& ids, size_t parts);
  std::vector<std::string> Relation(std::string_view kname, bool slaves) const;
  void Free(LiveDevice& r);
  // A new NameTable of the names in use when most are gone; the relation array without the
  // lists of devices that were removed or probed again, when they are most of it.
  void Compact();

  Walker& walker_;
  Options opt_;
  NameTable names_;
  std::vector<LiveDevice> devices_;  // by name id
  // Per device with relations, at LiveDevice::relations: the number of partitions, the number
  // of slaves, then their name ids.
  std::vector<uint32_t> relations_;
  size_t relations_garbage_ = 0;  // entries of relations_ no device uses
  size_t size_ = 0;
  Inventory inv_;     // keep_devices only
  Inventory probed_;  // the devices the last Apply() probed
  ScanStats scan_;
  uint32_t walks_ = 0;
  LiveInventoryStats stats_;
};

}  // namespace diskinv
