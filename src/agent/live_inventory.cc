#include "agent/live_inventory.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>
#include <set>

#include "model/device_digest.h"

namespace diskinv {
namespace {

std::string LastComponent(const std::string& devpath) {
  size_t slash = devpath.rfind('/');
  return slash == std::string::npos ? devpath : devpath.substr(slash + 1);
}

}  // namespace

const std::string* InternTransport(std::string_view tran) {
  static std::mutex mu;
  static std::set<std::string, std::less<>> names;
  std::lock_guard lock(mu);
  auto it = names.find(tran);
  if (it == names.end()) it = names.emplace(tran).first;
  return &*it;
}

// The devices one event touched, as they were before it: the diff is computed over these only,
// so an event costs O(devices touched), not O(inventory).
struct LiveInventory::Change {
  struct Before {
    std::optional<uint64_t> digest;
    std::optional<BlockDevice> device;  // keep_devices only
  };
  std::map<std::string, Before> before;
  void Touch(const LiveInventory& live, const std::string& kname) {
    if (before.count(kname)) return;
    Before& b = before[kname];
    if (const LiveDevice* d = live.Find(kname)) b.digest = d->digest;
    if (const BlockDevice* d = live.inv_.FindByName(kname)) b.device = *d;
  }
};

const LiveDevice* LiveInventory::Find(std::string_view kname) const {
  uint32_t id = names_.Find(kname);
  return id < devices_.size() && devices_[id].present ? &devices_[id] : nullptr;
}

std::string_view LiveInventory::PkName(std::string_view kname) const {
  const LiveDevice* d = Find(kname);
  return d == nullptr || d->parent == LiveDevice::kNone ? std::string_view()
                                                        : names_.Name(d->parent);
}

std::vector<std::string> LiveInventory::Relation(std::string_view kname, bool slaves) const {
  std::vector<std::string> out;
  const LiveDevice* d = Find(kname);
  if (d == nullptr || d->relations == LiveDevice::kNone) return out;
  const uint32_t* r = &relations_[d->relations];
  uint32_t begin = slaves ? r[0] : 0, end = slaves ? r[0] + r[1] : r[0];
  for (uint32_t i = begin; i < end; ++i) out.emplace_back(names_.Name(r[2 + i]));
  return out;
}

std::vector<std::string> LiveInventory::Partitions(std::string_view kname) const {
  return Relation(kname, false);
}

std::vector<std::string> LiveInventory::Slaves(std::string_view kname) const {
  return Relation(kname, true);
}

void LiveInventory::ForEach(
    const std::function<void(std::string_view, const LiveDevice&)>& fn) const {
  for (uint32_t id = 0; id < devices_.size(); ++id) {
    if (devices_[id].present) fn(names_.Name(id), devices_[id]);
  }
}

void LiveInventory::Free(LiveDevice& r) {
  if (r.relations != LiveDevice::kNone) {
    relations_garbage_ += 2 + relations_[r.relations] + relations_[r.relations + 1];
  }
  r = LiveDevice{};
}

std::vector<uint32_t> LiveInventory::RelationIds(const BlockDevice& d) {
  std::vector<uint32_t> ids;
  if (!d.is_partition) {
    for (const std::string& p : d.partitions) ids.push_back(names_.Intern(p));
  }
  for (const std::string& s : d.slaves) ids.push_back(names_.Intern(s));
  return ids;
}

void LiveInventory::SetRelations(LiveDevice& r, const std::vector<uint32_t>& ids, size_t parts) {
  if (ids.empty()) return;
  r.relations = static_cast<uint32_t>(relations_.size());
  relations_.push_back(static_cast<uint32_t>(parts));
  relations_.push_back(static_cast<uint32_t>(ids.size() - parts));
  relations_.insert(relations_.end(), ids.begin(), ids.end());
}

void LiveInventory::Put(BlockDevice&& dev, bool keep_probed) {
  // Names first: interning may add slots to devices_.
  uint32_t parent = dev.is_partition ? names_.Intern(dev.pkname) : LiveDevice::kNone;
  uint32_t id = names_.Intern(dev.kname);
  std::vector<uint32_t> rel = RelationIds(dev);
  if (names_.size() > devices_.size()) devices_.resize(names_.size());
  LiveDevice& r = devices_[id];
  if (r.present) {
    Free(r);
  } else {
    ++size_;
  }
  r.present = true;
  r.digest = DeviceDigest(dev);
  r.is_partition = dev.is_partition;
  r.parent = parent;
  SetRelations(r, rel, dev.is_partition ? 0 : dev.partitions.size());
  if (dev.tran && !dev.tran->empty()) r.transport = InternTransport(*dev.tran);
  r.hidden = dev.hidden;
  r.walk = walks_;
  if (opt_.keep_devices) {
    if (keep_probed) probed_.Add(dev);
    inv_.Add(std::move(dev));
  } else if (keep_probed) {
    probed_.Add(std::move(dev));
  }
}

void LiveInventory::Remove(const std::string& kname) {
  uint32_t id = names_.Find(kname);
  if (id < devices_.size() && devices_[id].present) {
    Free(devices_[id]);
    --size_;
  }
  inv_.Remove(kname);
  probed_.Remove(kname);
}

// Names are never removed from a NameTable; when devices came and went under ever new names
// (dm-N counts up), the table is built again from the names in use. Relation lists of devices
// removed or probed again are left in relations_ until they are most of it.
void LiveInventory::Compact() {
  bool names = names_.size() >= 1024 && names_.size() >= 2 * size_;
  bool relations = relations_garbage_ >= 4096 && relations_garbage_ * 2 >= relations_.size();
  if (!names && !relations) return;
  NameTable new_names;
  auto name = [&](uint32_t old) { return names ? new_names.Intern(names_.Name(old)) : old; };
  std::vector<LiveDevice> devices;
  std::vector<uint32_t> rel;
  rel.reserve(relations_.size() - relations_garbage_);
  for (uint32_t id = 0; id < devices_.size(); ++id) {
    LiveDevice r = devices_[id];
    if (!r.present) continue;
    if (r.parent != LiveDevice::kNone) r.parent = name(r.parent);
    if (r.relations != LiveDevice::kNone) {
      const uint32_t* old = &relations_[r.relations];
      r.relations = static_cast<uint32_t>(rel.size());
      rel.push_back(old[0]);
      rel.push_back(old[1]);
      for (uint32_t i = 0; i < old[0] + old[1]; ++i) rel.push_back(name(old[2 + i]));
    }
    uint32_t n = name(id);
    if (n >= devices.size()) devices.resize(n + 1);
    devices[n] = r;
  }
  if (names) names_ = std::move(new_names);
  if (names_.size() > devices.size()) devices.resize(names_.size());
  devices_ = std::move(devices);
  relations_ = std::move(rel);
  relations_garbage_ = 0;
}

// Streams the walk device by device: only the digests of the node are kept.
InventoryDiff LiveInventory::Resync(const std::function<void(const BlockDevice&)>& each) {
  ++stats_.full_walks;
  ++walks_;
  probed_ = Inventory();
  InventoryDiff d;
  ScanStats scan = walker_.Walk([&](BlockDevice&& dev) {
    if (each) each(dev);
    uint32_t id = names_.Find(dev.kname);
    LiveDevice* r = id < devices_.size() && devices_[id].present ? &devices_[id] : nullptr;
    if (r == nullptr) {
      d.added.push_back(dev.kname);
    } else if (r->digest == DeviceDigest(dev)) {
      r->walk = walks_;
      return;
    } else if (!opt_.keep_devices) {
      d.changed.push_back({dev.kname, {}});
    } else if (const BlockDevice* old = inv_.FindByName(dev.kname); old && !(*old == dev)) {
      if (auto ch = DiffDevice(*old, dev); !ch.empty())
        d.changed.push_back({dev.kname, std::move(ch)});
    }
    Put(std::move(dev), false);
  });
  ForEach([&](std::string_view kname, const LiveDevice& dev) {
    if (dev.walk != walks_) d.removed.emplace_back(kname);
  });
  for (const std::string& k : d.removed) Remove(k);
  Compact();
  scan.devices = size_;
  scan_ = std::move(scan);
  if (opt_.keep_devices) inv_.stats() = scan_;
  return d;
}

void LiveInventory::RemoveWithPartitions(Change& c, const std::string& kname) {
  if (!Find(kname)) return;
  std::vector<std::string> parts = Partitions(kname);
  for (const auto& p : parts) {
    c.Touch(*this, p);
    Remove(p);
  }
  c.Touch(*this, kname);
  Remove(kname);
}

void LiveInventory::Reprobe(Change& c, const std::string& kname) {
  ++stats_.probes;
  auto dev = walker_.Probe(kname);
  if (!dev.ok() || !walker_.Listed(*dev)) {
    RemoveWithPartitions(c, kname);
    return;
  }
  c.Touch(*this, kname);
  if (dev->is_partition) {
    Put(std::move(*dev), true);
    return;
  }
  // A whole disk that became listed (a loop device got its backing file) brings its
  // partitions; one whose partition list shrank loses the partitions that are gone.
  std::vector<std::string> old_parts = Partitions(kname);
  std::vector<std::string> new_parts = dev->partitions;
  Put(std::move(*dev), true);
  for (const auto& p : old_parts) {
    if (std::find(new_parts.begin(), new_parts.end(), p) == new_parts.end()) {
      c.Touch(*this, p);
      Remove(p);
    }
  }
  for (const auto& p : new_parts) {
    if (Find(p)) continue;
    ++stats_.probes;
    if (auto part = walker_.Probe(p); part.ok() && walker_.Listed(*part)) {
      c.Touch(*this, p);
      Put(std::move(*part), true);
    }
  }
}

InventoryDiff LiveInventory::Apply(const Uevent& e) {
  if (e.subsystem != "block") return {};
  ++stats_.events;
  probed_ = Inventory();
  Change c;
  std::string kname = LastComponent(e.devpath);
  // Devices whose view of this one changes with it (the kernel sends them no event): its
  // whole disk and its slaves, before and after the event.
  std::set<std::string> related;
  auto collect = [&](const std::string& name) {
    const LiveDevice* d = Find(name);
    if (!d) return;
    if (d->is_partition) related.emplace(PkName(name));
    for (std::string& s : Slaves(name)) related.insert(std::move(s));
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
    const LiveDevice* now = Find(name);
    if (!before.digest && now) {
      d.added.push_back(name);
    } else if (before.digest && !now) {
      d.removed.push_back(name);
    } else if (before.digest && now && *before.digest != now->digest) {
      if (!opt_.keep_devices) {
        d.changed.push_back({name, {}});
      } else if (const BlockDevice* dev = inv_.FindByName(name);
                 dev && before.device && !(*before.device == *dev)) {
        if (auto ch = DiffDevice(*before.device, *dev); !ch.empty())
          d.changed.push_back({name, std::move(ch)});
      }
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
