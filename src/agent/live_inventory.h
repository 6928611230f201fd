// LiveInventory: the node's current inventory, kept exact by re-probing only what an event
// touched, and by a full walk + diff when events were lost (Resync).
//
// An event names a device by DEVPATH; the kernel name is its last component. add/change/move/
// online re-probe that device (a probe that finds it gone is a removal); remove drops it and
// its partitions. Because the kernel sends no event for the other end of a relation, the
// device's whole disk (for partitions) and its slaves (for dm/md) are re-probed with it, so
// `partitions` and `holders` stay exact too. Every call returns what changed.
#pragma once

#include <string>

#include "model/inventory_diff.h"
#include "sysfs/walker.h"
#include "uevent/coalescer.h"

namespace diskinv {

struct LiveInventoryStats {
  uint64_t events = 0;      // events applied
  uint64_t probes = 0;      // single-device probes
  uint64_t full_walks = 0;  // Resync walks (including the first)
  uint64_t unchanged = 0;   // events after which nothing differed
};

class LiveInventory {
 public:
  explicit LiveInventory(Walker& walker) : walker_(walker) {}

  // Walks everything and diffs against what was known (first call: all devices are "added").
  InventoryDiff Resync();
  // Applies one event (block subsystem; other subsystems are ignored and change nothing).
  InventoryDiff Apply(const Uevent& event);
  // Applies a coalescer output: a re-probe or a Resync.
  InventoryDiff Apply(const CoalescerOutput& out);

  const Inventory& inventory() const { return inv_; }
  const LiveInventoryStats& stats() const { return stats_; }

 private:
  struct Change;
  // Re-probes `kname`; removes it (and its partitions) when it is gone or unlisted.
  void Reprobe(Change& c, const std::string& kname);
  void RemoveWithPartitions(Change& c, const std::string& kname);

  Walker& walker_;
  Inventory inv_;
  LiveInventoryStats stats_;
};

}  // namespace diskinv
