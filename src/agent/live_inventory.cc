#include "agent/live_inventory.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <unordered_set>

namespace diskinv {
namespace {

std::string LastComponent(const std::string& devpath) {
  size_t slash = devpath.rfind('/');
  return slash == std::string::npos ? devpath : devpath.substr(slash + 1);
}

}  // namespace

// The devices one event touched, as they were before it: the diff is computed over these only,
// so an event costs O(devices touched), not O(inventory).
struct LiveInventory::Change {
  std::map<std::string, std::optional<BlockDevice>> before;
  void Touch(const Inventory& inv, const std::string& kname) {
    if (before.count(kname)) return;
    const BlockDevice* d = inv.FindByName(kname);
    before[kname] = d ? std::optional<BlockDevice>(*d) : std::nullopt;
  }
};

// Streams the walk into the inventory device by device (no second copy of the node: a
// periodic resync of 30,000 devices would otherwise hold two).
InventoryDiff LiveInventory::Resync() {
  ++stats_.full_walks;
  InventoryDiff d;
  std::unordered_set<std::string> seen;
  ScanStats scan = walker_.Walk([&](BlockDevice&& dev) {
    seen.insert(dev.kname);
    const BlockDevice* old = inv_.FindByName(dev.kname);
    if (old == nullptr) {
      d.added.push_back(dev.kname);
    } else if (*old == dev) {
      return;
    } else if (auto ch = DiffDevice(*old, dev); !ch.empty()) {
      d.changed.push_back({dev.kname, std::move(ch)});
    }
    inv_.Add(std::move(dev));
  });
  for (const BlockDevice& dev : inv_.devices()) {
    if (!seen.contains(dev.kname)) d.removed.push_back(dev.kname);
  }
  for (const std::string& k : d.removed) inv_.Remove(k);
  scan.devices = inv_.size();
  inv_.stats() = std::move(scan);
  return d;
}

void LiveInventory::RemoveWithPartitions(Change& c, const std::string& kname) {
  const BlockDevice* d = inv_.FindByName(kname);
  if (!d) return;
  std::vector<std::string> parts = d->partitions;
  for (const auto& p : parts) {
    c.Touch(inv_, p);
    inv_.Remove(p);
  }
  c.Touch(inv_, kname);
  inv_.Remove(kname);
}

void LiveInventory::Reprobe(Change& c, const std::string& kname) {
  ++stats_.probes;
  auto dev = walker_.Probe(kname);
  if (!dev.ok() || !walker_.Listed(*dev)) {
    RemoveWithPartitions(c, kname);
    return;
  }
  c.Touch(inv_, kname);
  if (dev->is_partition) {
    inv_.Add(std::move(*dev));
    return;
  }
  // A whole disk that became listed (a loop device got its backing file) brings its
  // partitions; one whose partition list shrank loses the partitions that are gone.
  const BlockDevice* old = inv_.FindByName(kname);
  std::vector<std::string> old_parts = old ? old->partitions : std::vector<std::string>{};
  std::vector<std::string> new_parts = dev->partitions;
  inv_.Add(std::move(*dev));
  for (const auto& p : old_parts) {
    if (std::find(new_parts.begin(), new_parts.end(), p) == new_parts.end()) {
      c.Touch(inv_, p);
      inv_.Remove(p);
    }
  }
  for (const auto& p : new_parts) {
    if (inv_.FindByName(p)) continue;
    ++stats_.probes;
    if (auto part = walker_.Probe(p); part.ok() && walker_.Listed(*part)) {
      c.Touch(inv_, p);
      inv_.Add(std::move(*part));
    }
  }
}

InventoryDiff LiveInventory::Apply(const Uevent& e) {
  if (e.subsystem != "block") return {};
  ++stats_.events;
  Change c;
  std::string kname = LastComponent(e.devpath);
  // Devices whose view of this one changes with it (the kernel sends them no event): its
  // whole disk and its slaves, before and after the event.
  std::set<std::string> related;
  auto collect = [&](const std::string& name) {
    const BlockDevice* d = inv_.FindByName(name);
    if (!d) return;
    if (d->is_partition) related.insert(d->pkname);
    related.insert(d->slaves.begin(), d->slaves.end());
  };
  collect(kname);
  if (e.action == UeventAction::kMove && !e.devpath_old.empty()) {
    std::string old = LastComponent(e.devpath_old);
    collect(old);
    RemoveWithPartitions(c, old);
  }
  if (e.action == UeventAction::kRemove) {
    RemoveWithPartitions(c, kname);
  } else {
    Reprobe(c, kname);
    collect(kname);
  }
  for (const auto& r : related) {
    if (r != kname && !r.empty()) Reprobe(c, r);
  }
  InventoryDiff d;
  for (const auto& [name, before] : c.before) {
    const BlockDevice* now = inv_.FindByName(name);
    if (!before && now) {
      d.added.push_back(name);
    } else if (before && !now) {
      d.removed.push_back(name);
    } else if (before && now && !(*before == *now)) {
      if (auto ch = DiffDevice(*before, *now); !ch.empty())
        d.changed.push_back({name, std::move(ch)});
    }
  }
  if (d.empty()) ++stats_.unchanged;
  return d;
}

InventoryDiff LiveInventory::Apply(const CoalescerOutput& out) {
  if (const auto* c = std::get_if<CoalescedEvent>(&out)) return Apply(c->event);
  return Resync();
}

}  // namespace diskinv
