#include "store/node_index.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>

#include "store/device_row.h"

namespace diskinv {

void NodeIndex::Rebuild(const DeviceSource& src) {
  *this = NodeIndex(std::move(node_));
  src.ForEach([this](const BlockDevice& d) { Add(d); });
  Finish(src);
}

void NodeIndex::SetRowEtag(const BlockDevice& dev, Entry& e) {
  DeviceRow row = MakeDeviceRow(dev, e.id);
  e.row_etag = std::strtoull(row.etag.c_str(), nullptr, 16);
  e.row_known = true;
}

// Whole disks get their identity before disambiguation; partitions one from their whole disk
// when it was added before them (a walk's order) and has one, else in Finish.
void NodeIndex::Add(const BlockDevice& d) {
  Entry& e = entries_[d.kname];
  e = Entry{};
  e.slaves = d.slaves;
  if (d.is_partition) {
    e.partition = true;
    e.parent = d.pkname;
    e.partn = d.partn;
    auto p = entries_.find(d.pkname);
    if (d.partn && p != entries_.end() && !p->second.partition && p->second.id.ok()) {
      e.id = DiskIdentity::ForPartition(p->second.id, *d.partn);
      SetRowEtag(d, e);
    }
    return;
  }
  e.id = DiskIdentity::FromDevice(d, node_);
  if (e.id.ok()) {
    e.base_uid = e.id.uid;
    groups_[e.id.uid].insert(d.kname);
    SetRowEtag(d, e);
  }
}

void NodeIndex::Finish(const DeviceSource& src) {
  for (const auto& [uid, members] : groups_) {
    if (members.size() < 2) continue;
    std::vector<std::pair<const BlockDevice*, DiskIdentity*>> group;
    for (const std::string& k : members) {
      Entry& e = entries_[k];
      e.row_known = false;
      // A device that vanished since it was added is left out; its removal comes as a change.
      if (const BlockDevice* d = src.Find(k)) group.emplace_back(d, &e.id);
    }
    if (group.size() >= 2) MarkDuplicates(group, node_);
  }
  std::vector<std::string> vanished;
  for (auto& [kname, e] : entries_) {
    if (!e.partition) continue;
    auto p = entries_.find(e.parent);
    const DiskIdentity* parent =
        p != entries_.end() && !p->second.partition ? &p->second.id : nullptr;
    DiskIdentity id;
    if (parent != nullptr && parent->ok() && e.partn) {
      id = DiskIdentity::ForPartition(*parent, *e.partn);
    } else if (const BlockDevice* d = src.Find(kname)) {
      id = DiskIdentity::FromDevice(*d, node_, parent);
    } else {
      vanished.push_back(kname);
      continue;
    }
    if (id.uid != e.id.uid) e.row_known = false;
    e.id = std::move(id);
    e.partn.reset();
  }
  for (const std::string& k : vanished) entries_.erase(k);
  IndexChange ignored;
  for (auto& [kname, e] : entries_) {
    Learn(kname, e.parent, e, ignored);
    Link(kname, std::move(e.slaves), e, nullptr);
  }
}

std::string NodeIndex::RowEtag(std::string_view kname) const {
  auto it = entries_.find(std::string(kname));
  if (it == entries_.end() || !it->second.row_known) return {};
  return fmt::format("{:016x}", it->second.row_etag);
}

void NodeIndex::ForEach(
    const std::function<void(const std::string&, const DiskIdentity&)>& fn) const {
  for (const auto& [kname, e] : entries_) fn(kname, e.id);
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

void NodeIndex::Link(const std::string& kname, std::vector<std::string> slaves, Entry& e,
                     IndexChange* out) {
  e.slaves = std::move(slaves);
  for (const std::string& s : e.slaves) holders_[s].insert(kname);
  if (!e.id.ok()) return;
  for (const std::string& s : e.slaves) {
    // The index holds exactly the devices present (Update's contract).
    const DiskIdentity* sid = Find(s);
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

void NodeIndex::Learn(const std::string& kname, const std::string& parent, Entry& e,
                      IndexChange& out) {
  if (!e.id.ok()) ++unidentified_;
  if (e.partition) {
    e.parent = parent;
    parts_[parent].insert(kname);
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

IndexChange NodeIndex::Update(const DeviceSource& src, const std::vector<std::string>& touched) {
  IndexChange out;
  // 1. Whole disks touched: their new uid before disambiguation; the groups they leave or join.
  std::set<std::string> disks, parts, groups;
  std::map<std::string, DiskIdentity> ids;  // the new identities
  for (const std::string& k : touched) {
    const BlockDevice* d = src.Find(k);
    auto it = entries_.find(k);
    bool was_part = it != entries_.end() && it->second.partition;
    if (d ? d->is_partition : was_part) {
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
      const BlockDevice* d = src.Find(k);
      if (d == nullptr) continue;  // vanished since: its removal comes as a change
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
  auto apply = [&](const std::string& k, const BlockDevice* d, std::optional<DiskIdentity> id) {
    auto it = entries_.find(k);
    std::string before;
    if (it != entries_.end()) {
      before = it->second.id.uid;
      Forget(k, it->second, out);
    }
    out.knames[k] = before;
    redone.push_back(k);
    if (d == nullptr || !id) {
      if (it != entries_.end()) {
        Unlink(k, it->second, &out);
        entries_.erase(it);
      }
      return;
    }
    if (it == entries_.end()) it = entries_.emplace(k, Entry{}).first;
    Entry& e = it->second;
    e.id = std::move(*id);
    e.partition = d->is_partition;
    e.row_known = false;
    if (auto b = base.find(k); b != base.end()) e.base_uid = b->second;
    Learn(k, d->pkname, e, out);
  };
  for (const std::string& k : disks) {
    const BlockDevice* d = src.Find(k);
    auto id = ids.find(k);
    apply(k, d, d != nullptr && id != ids.end() ? std::optional(id->second) : std::nullopt);
  }
  for (const std::string& k : parts) {
    const BlockDevice* d = src.Find(k);
    if (d == nullptr) {
      apply(k, nullptr, std::nullopt);
      continue;
    }
    apply(k, d, DiskIdentity::FromDevice(*d, node_, Find(d->pkname)));
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
    if (const BlockDevice* d = src.Find(k)) holders.insert(d->holders.begin(), d->holders.end());
  }
  std::set<std::string> redone_set(redone.begin(), redone.end());
  for (const std::string& k : holders) {
    auto it = entries_.find(k);
    if (it == entries_.end()) continue;
    // A device redone may have new slaves; the others' are the ones recorded.
    std::vector<std::string> slaves;
    if (redone_set.contains(k)) {
      const BlockDevice* d = src.Find(k);
      if (d == nullptr) continue;
      slaves = d->slaves;
    } else {
      slaves = it->second.slaves;
    }
    Unlink(k, it->second, &out);
    Link(k, std::move(slaves), it->second, &out);
  }
  return out;
}

}  // namespace diskinv
