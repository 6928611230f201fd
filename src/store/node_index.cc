#include "store/node_index.h"

#include <fmt/format.h>

#include <algorithm>

namespace diskinv {

// The same result as Update(inv, every kname) from empty, in one pass per kind and without
// recording the change (a full sync of 30,000 devices rebuilds it).
void NodeIndex::Rebuild(const Inventory& inv) {
  *this = NodeIndex(std::move(node_));
  entries_.reserve(inv.size());
  for (const BlockDevice& d : inv.devices()) {
    if (d.is_partition) continue;
    Entry& e = entries_[d.kname];
    e.id = DiskIdentity::FromDevice(d, node_);
    if (e.id.ok()) {
      e.base_uid = e.id.uid;
      groups_[e.id.uid].insert(d.kname);
    }
  }
  for (const auto& [uid, members] : groups_) {
    if (members.size() < 2) continue;
    std::vector<std::pair<const BlockDevice*, DiskIdentity*>> group;
    for (const std::string& k : members) group.emplace_back(inv.FindByName(k), &entries_[k].id);
    MarkDuplicates(group, node_);
  }
  for (const BlockDevice& d : inv.devices()) {
    if (!d.is_partition) continue;
    const DiskIdentity* parent = inv.FindByName(d.pkname) ? Find(d.pkname) : nullptr;
    DiskIdentity id = DiskIdentity::FromDevice(d, node_, parent);
    entries_[d.kname].id = std::move(id);
  }
  IndexChange ignored;
  for (const BlockDevice& d : inv.devices()) {
    Entry& e = entries_[d.kname];
    Learn(d, d.kname, e, ignored);
    Link(inv, d, e, nullptr);
  }
}

void NodeIndex::Unlink(const std::string& kname, Entry& e, IndexChange* out) {
  for (const HolderEdge& edge : e.edges) {
    if (--edges_[edge] == 0) edges_.erase(edge);
    if (out != nullptr) out->edges.insert(edge);
  }
  e.edges.clear();
  for (const std::string& s : e.slaves) {
    if (auto h = holders_.find(s); h != holders_.end()) {
      h->second.erase(kname);
      if (h->second.empty()) holders_.erase(h);
    }
  }
  e.slaves.clear();
}

void NodeIndex::Link(const Inventory& inv, const BlockDevice& d, Entry& e, IndexChange* out) {
  e.slaves = d.slaves;
  for (const std::string& s : e.slaves) holders_[s].insert(d.kname);
  if (!e.id.ok()) return;
  for (const std::string& s : e.slaves) {
    const DiskIdentity* sid = inv.FindByName(s) ? Find(s) : nullptr;
    if (sid == nullptr || !sid->ok()) continue;
    HolderEdge edge{sid->uid, e.id.uid};
    ++edges_[edge];
    if (out != nullptr) out->edges.insert(edge);
    e.edges.push_back(std::move(edge));
  }
}

const DiskIdentity* NodeIndex::Find(std::string_view kname) const {
  auto it = entries_.find(std::string(kname));
  return it == entries_.end() ? nullptr : &it->second.id;
}

std::optional<ConflictRow> NodeIndex::Conflict(const ConflictKey& key) const {
  auto it = conflicts_.find(key);
  if (it == conflicts_.end() || it->second.empty()) return std::nullopt;
  std::vector<std::string> names;
  for (const auto& [kname, reason] : it->second) names.push_back(kname);
  return ConflictRow{it->second.begin()->second, fmt::format("{}", fmt::join(names, ","))};
}

std::set<HolderEdge> NodeIndex::Edges() const {
  std::set<HolderEdge> out;
  for (const auto& [e, n] : edges_) out.insert(e);
  return out;
}

std::map<ConflictKey, ConflictRow> NodeIndex::Conflicts() const {
  std::map<ConflictKey, ConflictRow> out;
  for (const auto& [key, members] : conflicts_) out.emplace(key, *Conflict(key));
  return out;
}

std::vector<std::string> NodeIndex::Unidentified() const {
  std::vector<std::string> out;
  for (const auto& [kname, e] : entries_) {
    if (!e.id.ok()) out.push_back(kname);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Drops what `e` contributed to the conflicts and the partition index.
void NodeIndex::Forget(const std::string& kname, Entry& e, IndexChange& out) {
  for (auto& [key, reason] : e.conflicts) {
    out.conflicts.insert(key);
    auto it = conflicts_.find(key);
    if (it != conflicts_.end() && it->second.erase(kname) > 0 && it->second.empty()) {
      conflicts_.erase(it);
    }
  }
  e.conflicts.clear();
  if (!e.parent.empty()) {
    if (auto it = parts_.find(e.parent); it != parts_.end()) {
      it->second.erase(kname);
      if (it->second.empty()) parts_.erase(it);
    }
    e.parent.clear();
  }
  if (!e.id.ok()) --unidentified_;
}

void NodeIndex::Learn(const BlockDevice& dev, const std::string& kname, Entry& e,
                      IndexChange& out) {
  if (!e.id.ok()) ++unidentified_;
  if (dev.is_partition) {
    e.parent = dev.pkname;
    parts_[dev.pkname].insert(kname);
  }
  for (const RejectedIdentifier& rej : e.id.rejected) {
    e.conflicts.emplace_back(ConflictKey{"bogus", fmt::format("{}:{}", rej.kind, rej.value)},
                             rej.reason);
  }
  if (e.id.ok() && !e.id.conflict.empty()) {
    e.conflicts.emplace_back(
        ConflictKey{"duplicate",
                    fmt::format("{}:{}", IdentitySourceName(e.id.source), e.id.identifier)},
        e.id.conflict);
  }
  for (const auto& [key, reason] : e.conflicts) {
    conflicts_[key][kname] = reason;
    out.conflicts.insert(key);
  }
}

IndexChange NodeIndex::Update(const Inventory& inv, const std::vector<std::string>& touched) {
  IndexChange out;
  // 1. Whole disks touched: their new uid before disambiguation; the groups they leave or join.
  std::set<std::string> disks, parts, groups;
  std::map<std::string, DiskIdentity> ids;  // the new identities
  for (const std::string& k : touched) {
    const BlockDevice* d = inv.FindByName(k);
    auto it = entries_.find(k);
    bool was_part = it != entries_.end() && it->second.id.source == IdentitySource::kPartition;
    if (d ? d->is_partition : (it != entries_.end() && !it->second.parent.empty()) || was_part) {
      parts.insert(k);
      continue;
    }
    disks.insert(k);
    if (it != entries_.end() && !it->second.base_uid.empty()) {
      groups_[it->second.base_uid].erase(k);
      groups.insert(it->second.base_uid);
      it->second.base_uid.clear();
    }
    if (d != nullptr) {
      DiskIdentity id = DiskIdentity::FromDevice(*d, node_);
      if (id.ok()) {
        groups_[id.uid].insert(k);
        groups.insert(id.uid);
      }
      ids[k] = std::move(id);
    }
  }
  // 2. Every member of those groups, disambiguated when there are several.
  std::map<std::string, std::string> base;  // whole disk -> its uid before disambiguation
  for (const std::string& g : groups) {
    auto it = groups_.find(g);
    if (it == groups_.end()) continue;
    if (it->second.empty()) {
      groups_.erase(it);
      continue;
    }
    std::vector<std::pair<const BlockDevice*, DiskIdentity*>> members;
    for (const std::string& k : it->second) {
      const BlockDevice* d = inv.FindByName(k);
      if (d == nullptr) continue;  // cannot happen: a group holds present disks only
      disks.insert(k);
      base[k] = g;
      ids[k] = DiskIdentity::FromDevice(*d, node_);
      members.emplace_back(d, &ids[k]);
    }
    if (members.size() >= 2) MarkDuplicates(members, node_);
  }
  // 3. Partitions of those disks, and partitions touched.
  for (const std::string& k : disks) {
    if (auto it = parts_.find(k); it != parts_.end())
      parts.insert(it->second.begin(), it->second.end());
  }
  // 4. Apply: disks first (partitions derive from them), then partitions.
  std::vector<std::string> redone;
  auto apply = [&](const std::string& k, std::optional<DiskIdentity> id) {
    auto it = entries_.find(k);
    std::string before;
    if (it != entries_.end()) {
      before = it->second.id.uid;
      Forget(k, it->second, out);
    }
    out.knames[k] = before;
    redone.push_back(k);
    const BlockDevice* d = inv.FindByName(k);
    if (d == nullptr || !id) {
      if (it != entries_.end()) {
        Unlink(k, it->second, &out);
        entries_.erase(it);
      }
      return;
    }
    if (it == entries_.end()) it = entries_.emplace(k, Entry{}).first;
    it->second.id = std::move(*id);
    if (auto b = base.find(k); b != base.end()) it->second.base_uid = b->second;
    Learn(*d, k, it->second, out);
  };
  for (const std::string& k : disks) {
    const BlockDevice* d = inv.FindByName(k);
    auto id = ids.find(k);
    apply(k, d != nullptr && id != ids.end() ? std::optional(id->second) : std::nullopt);
  }
  for (const std::string& k : parts) {
    const BlockDevice* d = inv.FindByName(k);
    if (d == nullptr) {
      apply(k, std::nullopt);
      continue;
    }
    const DiskIdentity* parent = inv.FindByName(d->pkname) ? Find(d->pkname) : nullptr;
    apply(k, DiskIdentity::FromDevice(*d, node_, parent));
  }
  // 5. Edges of the devices redone and of the holders of those whose uid changed.
  std::set<std::string> holders;
  for (const std::string& k : redone) {
    const DiskIdentity* now = Find(k);
    if (entries_.contains(k)) holders.insert(k);
    if ((now ? now->uid : std::string()) == out.knames[k]) continue;
    if (auto h = holders_.find(k); h != holders_.end()) {
      holders.insert(h->second.begin(), h->second.end());
    }
    if (const BlockDevice* d = inv.FindByName(k))
      holders.insert(d->holders.begin(), d->holders.end());
  }
  for (const std::string& k : holders) {
    auto it = entries_.find(k);
    const BlockDevice* d = inv.FindByName(k);
    if (it == entries_.end() || d == nullptr) continue;
    Unlink(k, it->second, &out);
    Link(inv, *d, it->second, &out);
  }
  return out;
}

}  // namespace diskinv
