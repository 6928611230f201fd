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

LiveDevice Record(const BlockDevice& d, uint32_t walk) {
  LiveDevice r;
  r.digest = DeviceDigest(d);
  r.is_partition = d.is_partition;
  r.SetRelations(d.is_partition ? d.pkname : std::string(), d.partitions, d.slaves);
  if (d.tran && !d.tran->empty()) r.transport = InternTransport(*d.tran);
  r.hidden = d.hidden;
  r.walk = walk;
  return r;
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

void LiveDevice::SetRelations(const std::string& pkname, const std::vector<std::string>& parts,
                              const std::vector<std::string>& slaves_of) {
  relations.clear();
  if (!pkname.empty()) relations.push_back(pkname);
  for (const std::string& p : parts) relations.push_back(p);
  if (slaves_of.empty()) return;
  relations.push_back("");
  for (const std::string& s : slaves_of) relations.push_back(s);
}

std::string_view LiveDevice::pkname() const {
  if (!is_partition || relations.empty()) return {};
  return *relations.begin();
}

std::vector<std::string> LiveDevice::partitions() const {
  std::vector<std::string> out;
  if (is_partition) return out;
  for (std::string_view s : relations) {
    if (s.empty()) break;
    out.emplace_back(s);
  }
  return out;
}

std::vector<std::string> LiveDevice::slaves() const {
  std::vector<std::string> out;
  bool after = false;
  for (std::string_view s : relations) {
    if (after) out.emplace_back(s);
    if (s.empty()) after = true;
  }
  return out;
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
  auto it = devices_.find(std::string(kname));
  return it == devices_.end() ? nullptr : &it->second;
}

void LiveInventory::Put(BlockDevice&& dev, bool keep_probed) {
  devices_[dev.kname] = Record(dev, walks_);
  if (opt_.keep_devices) {
    if (keep_probed) probed_.Add(dev);
    inv_.Add(std::move(dev));
  } else if (keep_probed) {
    probed_.Add(std::move(dev));
  }
}

void LiveInventory::Remove(const std::string& kname) {
  devices_.erase(kname);
  inv_.Remove(kname);
  probed_.Remove(kname);
}

// Streams the walk device by device: only the digests of the node are kept.
InventoryDiff LiveInventory::Resync(const std::function<void(const BlockDevice&)>& each) {
  ++stats_.full_walks;
  ++walks_;
  probed_ = Inventory();
  InventoryDiff d;
  ScanStats scan = walker_.Walk([&](BlockDevice&& dev) {
    if (each) each(dev);
    auto it = devices_.find(dev.kname);
    if (it == devices_.end()) {
      d.added.push_back(dev.kname);
    } else if (it->second.digest == DeviceDigest(dev)) {
      it->second.walk = walks_;
      return;
    } else if (!opt_.keep_devices) {
      d.changed.push_back({dev.kname, {}});
    } else if (const BlockDevice* old = inv_.FindByName(dev.kname); old && !(*old == dev)) {
      if (auto ch = DiffDevice(*old, dev); !ch.empty())
        d.changed.push_back({dev.kname, std::move(ch)});
    }
    Put(std::move(dev), false);
  });
  for (const auto& [kname, dev] : devices_) {
    if (dev.walk != walks_) d.removed.push_back(kname);
  }
  for (const std::string& k : d.removed) Remove(k);
  scan.devices = devices_.size();
  scan_ = std::move(scan);
  if (opt_.keep_devices) inv_.stats() = scan_;
  return d;
}

void LiveInventory::RemoveWithPartitions(Change& c, const std::string& kname) {
  const LiveDevice* d = Find(kname);
  if (!d) return;
  std::vector<std::string> parts = d->partitions();
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
  const LiveDevice* old = Find(kname);
  std::vector<std::string> old_parts = old ? old->partitions() : std::vector<std::string>{};
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
    if (d->is_partition) related.emplace(d->pkname());
    for (std::string& s : d->slaves()) related.insert(std::move(s));
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
