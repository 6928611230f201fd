#include "store/node_index.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>

#include "store/device_row.h"

namespace diskinv {
namespace {

uint32_t PartitionNumber(const std::optional<uint64_t>& partn) {
  return partn && *partn <= UINT32_MAX ? static_cast<uint32_t>(*partn) : 0;
}

}  // namespace

// --- Entry representation ---

NodeIndex::Links& NodeIndex::L(Entry& e) {
  if (!e.links) e.links = std::make_unique<Links>();
  return *e.links;
}

void NodeIndex::Trim(Entry& e) {
  if (e.links && e.links->empty()) e.links.reset();
}

const std::vector<std::string>& NodeIndex::Slaves(const Entry& e) {
  static const std::vector<std::string> kNone;
  return e.links ? e.links->slaves : kNone;
}

// A derived partition's whole disk is in the index with an identity (SetId's condition, kept
// by Update: a disk's partitions are redone with it).
std::string NodeIndex::Uid(const Entry& e) const {
  if (e.id) return e.id->uid;
  return DiskIdentity::PartitionUid(entries_.at(e.parent).id->uid, e.partn);
}

DiskIdentity NodeIndex::IdOf(const Entry& e) const {
  if (e.id) return *e.id;
  return DiskIdentity::ForPartition(*entries_.at(e.parent).id, e.partn);
}

std::string NodeIndex::BaseOf(const Entry& e) const {
  if (e.links && !e.links->base_uid.empty()) return e.links->base_uid;
  return e.grouped ? e.id->uid : std::string();
}

void NodeIndex::SetBase(Entry& e, const std::string& uid) {
  e.grouped = !uid.empty();
  if (e.grouped && !(e.id && e.id->uid == uid)) {
    L(e).base_uid = uid;
  } else if (e.links) {
    e.links->base_uid.clear();
    Trim(e);
  }
}

void NodeIndex::SetId(Entry& e, DiskIdentity id) {
  if (e.partition && e.partn != 0 && id.source == IdentitySource::kPartition &&
      id.rejected.empty() && id.conflict.empty()) {
    auto p = entries_.find(e.parent);
    if (p != entries_.end() && !p->second.partition && p->second.id && p->second.id->ok() &&
        id.uid == DiskIdentity::PartitionUid(p->second.id->uid, e.partn)) {
      e.id.reset();
      return;
    }
  }
  e.id = std::make_unique<DiskIdentity>(std::move(id));
}

// --- Full build ---

void NodeIndex::Rebuild(const DeviceSource& src) {
  *this = NodeIndex(std::move(node_));
  src.ForEach([this](const BlockDevice& d) { Add(d); });
  Finish(src);
}

void NodeIndex::SetRowEtag(const BlockDevice& dev, Entry& e) {
  DeviceRow row = MakeDeviceRow(dev, IdOf(e));
  e.row_etag = std::strtoull(row.etag.c_str(), nullptr, 16);
  e.row_known = true;
}

// Whole disks get their identity before disambiguation; partitions one from their whole disk
// when it was added before them (a walk's order) and has one, else in Finish.
void NodeIndex::Add(const BlockDevice& d) {
  Entry& e = entries_[d.kname];
  e = Entry{};
  if (!d.slaves.empty()) L(e).slaves = d.slaves;
  if (d.is_partition) {
    e.partition = true;
    e.parent = d.pkname;
    e.partn = PartitionNumber(d.partn);
    auto p = entries_.find(d.pkname);
    if (e.partn != 0 && p != entries_.end() && !p->second.partition && p->second.id &&
        p->second.id->ok()) {
      SetId(e, DiskIdentity::ForPartition(*p->second.id, e.partn));
      SetRowEtag(d, e);
    } else {
      e.id = std::make_unique<DiskIdentity>();  // decided in Finish
    }
    return;
  }
  e.id = std::make_unique<DiskIdentity>(DiskIdentity::FromDevice(d, node_));
  if (e.id->ok()) {
    SetBase(e, e.id->uid);
    groups_[e.id->uid].insert(d.kname);
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
      L(e).base_uid = uid;  // the uid changes below
      // A device that vanished since it was added is left out; its removal comes as a change.
      if (const BlockDevice* d = src.Find(k)) group.emplace_back(d, e.id.get());
    }
    if (group.size() >= 2) MarkDuplicates(group, node_);
  }
  // Partitions, from their (now final) whole disks.
  std::vector<std::string> vanished;
  for (auto& [kname, e] : entries_) {
    if (!e.partition) continue;
    auto p = entries_.find(e.parent);
    const DiskIdentity* parent =
        p != entries_.end() && !p->second.partition ? p->second.id.get() : nullptr;
    DiskIdentity id;
    if (parent != nullptr && parent->ok() && e.partn != 0) {
      id = DiskIdentity::ForPartition(*parent, e.partn);
    } else if (const BlockDevice* d = src.Find(kname)) {
      id = DiskIdentity::FromDevice(*d, node_, parent);
    } else {
      vanished.push_back(kname);
      continue;
    }
    // A row etag from Add was made with the disk's uid before disambiguation.
    if (p != entries_.end() && p->second.links && !p->second.links->base_uid.empty()) {
      e.row_known = false;
    }
    SetId(e, std::move(id));
  }
  for (const std::string& k : vanished) entries_.erase(k);
  IndexChange ignored;
  for (auto& [kname, e] : entries_) {
    Learn(kname, e.parent, e, ignored);
    std::vector<std::string> slaves =
        e.links ? std::move(e.links->slaves) : std::vector<std::string>{};
    Link(kname, std::move(slaves), e, nullptr);
  }
}

// --- Queries ---

std::optional<DiskIdentity> NodeIndex::Find(std::string_view kname) const {
  auto it = entries_.find(std::string(kname));
  if (it == entries_.end()) return std::nullopt;
  return IdOf(it->second);
}

std::string NodeIndex::RowEtag(std::string_view kname) const {
  auto it = entries_.find(std::string(kname));
  if (it == entries_.end() || !it->second.row_known) return {};
  return fmt::format("{:016x}", it->second.row_etag);
}

void NodeIndex::ForEach(
    const std::function<void(const std::string&, const DiskIdentity&)>& fn) const {
  for (const auto& [kname, e] : entries_) {
    if (e.id) {
      fn(kname, *e.id);
    } else {
      fn(kname, IdOf(e));
    }
  }
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
    if (!Ok(e)) out.push_back(kname);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// --- Links, conflicts, partitions ---

void NodeIndex::Unlink(const std::string& kname, Entry& e, IndexChange* out) {
  if (!e.links) return;
  for (const HolderEdge& edge : e.links->edges) {
    if (--edges_[edge] == 0) edges_.erase(edge);
    if (out != nullptr) out->edges.insert(edge);
  }
  e.links->edges.clear();
  for (const std::string& s : e.links->slaves) {
    if (auto h = holders_.find(s); h != holders_.end()) {
      h->second.erase(kname);
      if (h->second.empty()) holders_.erase(h);
    }
  }
  e.links->slaves.clear();
  Trim(e);
}

void NodeIndex::Link(const std::string& kname, std::vector<std::string> slaves, Entry& e,
                     IndexChange* out) {
  if (slaves.empty()) {
    if (e.links) e.links->slaves.clear();
    Trim(e);
    return;
  }
  Links& l = L(e);
  l.slaves = std::move(slaves);
  for (const std::string& s : l.slaves) holders_[s].insert(kname);
  if (!Ok(e)) return;
  std::string uid = Uid(e);
  for (const std::string& s : l.slaves) {
    // The index holds exactly the devices present (Update's contract).
    auto it = entries_.find(s);
    if (it == entries_.end() || !Ok(it->second)) continue;
    HolderEdge edge{Uid(it->second), uid};
    ++edges_[edge];
    if (out != nullptr) out->edges.insert(edge);
    l.edges.push_back(std::move(edge));
  }
}

// Drops what `e` contributed to the conflicts and the partition index.
void NodeIndex::Forget(const std::string& kname, Entry& e, IndexChange& out) {
  if (e.links) {
    for (auto& [key, reason] : e.links->conflicts) {
      out.conflicts.insert(key);
      auto it = conflicts_.find(key);
      if (it != conflicts_.end() && it->second.erase(kname) > 0 && it->second.empty()) {
        conflicts_.erase(it);
      }
    }
    e.links->conflicts.clear();
    Trim(e);
  }
  if (e.partition) {
    if (auto it = parts_.find(e.parent); it != parts_.end()) {
      it->second.erase(kname);
      if (it->second.empty()) parts_.erase(it);
    }
  }
  if (!Ok(e)) --unidentified_;
}

void NodeIndex::Learn(const std::string& kname, const std::string& parent, Entry& e,
                      IndexChange& out) {
  if (!Ok(e)) ++unidentified_;
  if (e.partition) {
    e.parent = parent;
    parts_[parent].insert(kname);
  }
  if (!e.id) return;  // derived: no rejected identifier, no conflict
  const DiskIdentity& id = *e.id;
  std::vector<std::pair<ConflictKey, std::string>> conflicts;
  for (const RejectedIdentifier& rej : id.rejected) {
    conflicts.emplace_back(ConflictKey{"bogus", fmt::format("{}:{}", rej.kind, rej.value)},
                           rej.reason);
  }
  if (id.ok() && !id.conflict.empty()) {
    conflicts.emplace_back(
        ConflictKey{"duplicate",
                    fmt::format("{}:{}", IdentitySourceName(id.source), id.identifier)},
        id.conflict);
  }
  for (const auto& [key, reason] : conflicts) {
    conflicts_[key][kname] = reason;
    out.conflicts.insert(key);
  }
  if (!conflicts.empty()) L(e).conflicts = std::move(conflicts);
}

// --- Device by device ---

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
    if (it != entries_.end() && it->second.grouped) {
      std::string b = BaseOf(it->second);
      groups_[b].erase(k);
      groups.insert(b);
      SetBase(it->second, "");
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
  // 3. The state before of those disks and of their partitions, taken now: a derived
  // partition's uid changes with its disk's.
  auto uid = [&](const std::string& k) {
    auto it = entries_.find(k);
    return it == entries_.end() || !Ok(it->second) ? std::string() : Uid(it->second);
  };
  auto state = [&](const std::string& k) {  // "\1": not in the index
    return entries_.contains(k) ? uid(k) : std::string("\1");
  };
  std::map<std::string, std::string> disk_before, part_before;
  for (const std::string& k : disks) {
    disk_before[k] = state(k);
    if (auto it = parts_.find(k); it != parts_.end()) {
      for (const std::string& p : it->second) part_before[p] = uid(p);
    }
  }
  for (const std::string& k : parts) out.knames[k] = uid(k);
  // 4. Apply: disks first (partitions derive from them), then partitions.
  std::vector<std::string> redone;
  auto apply = [&](const std::string& k, const BlockDevice* d, std::optional<DiskIdentity> id) {
    auto it = entries_.find(k);
    if (!out.knames.contains(k)) {
      out.knames[k] = it == entries_.end() || !Ok(it->second) ? std::string() : Uid(it->second);
    }
    if (it != entries_.end()) Forget(k, it->second, out);
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
    e.partition = d->is_partition;
    e.parent = d->is_partition ? d->pkname : std::string();
    e.partn = d->is_partition ? PartitionNumber(d->partn) : 0;
    e.row_known = false;
    SetId(e, std::move(*id));
    if (auto b = base.find(k); b != base.end()) SetBase(e, b->second);
    Learn(k, e.parent, e, out);
  };
  for (const std::string& k : disks) {
    const BlockDevice* d = src.Find(k);
    auto id = ids.find(k);
    apply(k, d, d != nullptr && id != ids.end() ? std::optional(id->second) : std::nullopt);
  }
  // Partitions touched, and those of the disks whose identity changed: a partition's identity
  // depends on its own device only through its own events (touched), and on its disk's
  // presence and uid. The others are not asked for (for the agent: not probed again).
  for (const std::string& k : disks) {
    if (state(k) == disk_before[k]) continue;
    if (auto it = parts_.find(k); it != parts_.end()) {
      for (const std::string& p : it->second) {
        if (parts.insert(p).second) out.knames[p] = part_before[p];
      }
    }
  }
  for (const std::string& k : parts) {
    const BlockDevice* d = src.Find(k);
    if (d == nullptr) {
      apply(k, nullptr, std::nullopt);
      continue;
    }
    std::optional<DiskIdentity> parent = Find(d->pkname);
    apply(k, d, DiskIdentity::FromDevice(*d, node_, parent ? &*parent : nullptr));
  }
  // 5. Edges of the devices redone and of the holders of those whose uid changed.
  std::set<std::string> holders;
  for (const std::string& k : redone) {
    auto it = entries_.find(k);
    if (it != entries_.end()) holders.insert(k);
    std::string now = it != entries_.end() && Ok(it->second) ? Uid(it->second) : std::string();
    if (now == out.knames[k]) continue;
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
      slaves = Slaves(it->second);
    }
    Unlink(k, it->second, &out);
    Link(k, std::move(slaves), it->second, &out);
  }
  return out;
}

}  // namespace diskinv
