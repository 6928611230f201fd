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

// --- Entries by name ---

uint32_t NodeIndex::Slot(std::string_view kname) {
  uint32_t id = names_.Intern(kname);
  if (id >= entries_.size()) {
    entries_.resize(id + 1);
    first_part_.resize(id + 1, kNone);
    next_part_.resize(id + 1, kNone);
  }
  return id;
}

NodeIndex::Entry& NodeIndex::Use(uint32_t id) {
  Entry& e = entries_[id];
  if (e.used) {
    ClearId(e);
  } else {
    ++size_;
  }
  e = Entry{};
  e.used = true;
  return e;
}

void NodeIndex::Drop(uint32_t id) {
  Entry& e = entries_[id];
  if (!e.used) return;
  ClearId(e);
  e = Entry{};
  --size_;
}

std::vector<uint32_t> NodeIndex::Partitions(uint32_t disk) const {
  std::vector<uint32_t> out;
  if (disk >= first_part_.size()) return out;
  for (uint32_t p = first_part_[disk]; p != kNone; p = next_part_[p]) out.push_back(p);
  return out;
}

void NodeIndex::Groups::Insert(std::string_view uid, uint32_t id) {
  std::pair<uint64_t, uint32_t> x{hash_(uid), id};
  if (!sorted_) {
    v_.push_back(x);
    return;
  }
  auto it = std::lower_bound(v_.begin(), v_.end(), x);
  if (it == v_.end() || *it != x) v_.insert(it, x);
}

void NodeIndex::Groups::Erase(std::string_view uid, uint32_t id) {
  Sort();
  std::pair<uint64_t, uint32_t> x{hash_(uid), id};
  auto it = std::lower_bound(v_.begin(), v_.end(), x);
  if (it != v_.end() && *it == x) v_.erase(it);
}

void NodeIndex::Groups::Sort() {
  if (sorted_) return;
  std::sort(v_.begin(), v_.end());
  v_.erase(std::unique(v_.begin(), v_.end()), v_.end());
  v_.shrink_to_fit();
  sorted_ = true;
}

void NodeIndex::Groups::Remap(const std::vector<uint32_t>& to) {
  for (auto& [hash, id] : v_) id = id < to.size() ? to[id] : kNone;
  std::erase_if(v_, [](const auto& x) { return x.second == kNone; });  // none: all in use
  sorted_ = false;
  Sort();
}

std::vector<uint32_t> NodeIndex::Groups::Candidates(std::string_view uid) const {
  std::vector<uint32_t> out;
  uint64_t h = hash_(uid);
  auto it = std::lower_bound(v_.begin(), v_.end(), std::pair<uint64_t, uint32_t>{h, 0});
  for (; it != v_.end() && it->first == h; ++it) out.push_back(it->second);
  return out;
}

std::vector<std::vector<uint32_t>> NodeIndex::Groups::Crowded() const {
  std::vector<std::vector<uint32_t>> out;
  for (size_t i = 0; i < v_.size();) {
    size_t j = i;
    while (j < v_.size() && v_[j].first == v_[i].first) ++j;
    if (j - i >= 2) {
      out.emplace_back();
      for (size_t k = i; k < j; ++k) out.back().push_back(v_[k].second);
    }
    i = j;
  }
  return out;
}

// --- Identities ---

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

bool NodeIndex::IdOk(const Entry& e) const {
  if (!e.has_id) return false;
  if (e.links && e.links->id) return e.links->id->ok();
  return e.uid_len > 0;
}

std::string NodeIndex::StoredUid(const Entry& e) const {
  if (e.links && e.links->id) return e.links->id->uid;
  return uids_.substr(e.uid_off, e.uid_len);
}

DiskIdentity NodeIndex::StoredId(const Entry& e) const {
  if (e.links && e.links->id) return *e.links->id;
  DiskIdentity id;
  id.uid = uids_.substr(e.uid_off, e.uid_len);
  id.source = e.source;
  id.identifier = id.uid.substr(e.ident_pos, e.ident_len);
  return id;
}

// A derived partition's whole disk is in the index with an identity (SetId's condition, kept
// by Update: a disk's partitions are redone with it).
std::string NodeIndex::Uid(const Entry& e) const {
  if (e.has_id) return StoredUid(e);
  return DiskIdentity::PartitionUid(StoredUid(entries_[e.parent]), e.partn);
}

DiskIdentity NodeIndex::IdOf(const Entry& e) const {
  if (e.has_id) return StoredId(e);
  return DiskIdentity::ForPartition(StoredId(entries_[e.parent]), e.partn);
}

std::string NodeIndex::BaseOf(const Entry& e) const {
  if (e.links && !e.links->base_uid.empty()) return e.links->base_uid;
  return e.grouped ? StoredUid(e) : std::string();
}

void NodeIndex::SetBase(Entry& e, const std::string& uid) {
  e.grouped = !uid.empty();
  if (e.grouped && !(e.has_id && StoredUid(e) == uid)) {
    L(e).base_uid = uid;
  } else if (e.links) {
    e.links->base_uid.clear();
    Trim(e);
  }
}

void NodeIndex::ClearId(Entry& e) {
  uids_garbage_ += e.uid_len;
  e.uid_off = e.uid_len = e.ident_len = e.ident_pos = 0;
  e.source = IdentitySource::kNone;
  e.has_id = false;
  if (e.links) {
    e.links->id.reset();
    Trim(e);
  }
}

// Rewrites uids_ with only the uids in use, once most of it is left over from replaced ones.
void NodeIndex::CompactUids() {
  if (uids_garbage_ < 4096 || uids_garbage_ * 2 < uids_.size()) return;
  std::string out;
  out.reserve(uids_.size() - uids_garbage_);
  for (Entry& e : entries_) {
    if (!e.used || e.uid_len == 0) continue;
    out.append(uids_, e.uid_off, e.uid_len);
    e.uid_off = static_cast<uint32_t>(out.size() - e.uid_len);
  }
  uids_ = std::move(out);
  uids_garbage_ = 0;
}

void NodeIndex::CompactNames() {
  if (names_.size() < 1024 || names_.size() < 2 * size_ + 64) return;
  NameTable names;
  std::vector<uint32_t> to(names_.size(), kNone);
  auto map = [&](uint32_t old) {
    if (old != kNone && to[old] == kNone) to[old] = names.Intern(names_.Name(old));
    return old == kNone ? kNone : to[old];
  };
  for (uint32_t k = 0; k < entries_.size(); ++k) {
    if (!entries_[k].used) continue;
    map(k);
    map(entries_[k].parent);
  }
  std::vector<Entry> entries(names.size());
  for (uint32_t k = 0; k < entries_.size(); ++k) {
    if (!entries_[k].used) continue;
    Entry& e = entries[to[k]];
    e = std::move(entries_[k]);
    e.parent = map(e.parent);
  }
  // The partition lists hold every partition Learn() saw, that is every one in the index.
  std::vector<uint32_t> first(names.size(), kNone), next(names.size(), kNone);
  for (uint32_t k = 0; k < entries.size(); ++k) {
    if (!entries[k].used || !entries[k].partition || entries[k].parent == kNone) continue;
    next[k] = first[entries[k].parent];
    first[entries[k].parent] = k;
  }
  groups_.Remap(to);
  names_ = std::move(names);
  entries_ = std::move(entries);
  first_part_ = std::move(first);
  next_part_ = std::move(next);
}

void NodeIndex::SetId(Entry& e, DiskIdentity id) {
  if (e.partition && e.partn != 0 && id.source == IdentitySource::kPartition &&
      id.rejected.empty() && id.conflict.empty()) {
    const Entry* p = Get(e.parent);
    if (p != nullptr && !p->partition && IdOk(*p) &&
        id.uid == DiskIdentity::PartitionUid(StoredUid(*p), e.partn)) {
      ClearId(e);
      return;
    }
  }
  // The same uid again (most events change no identity): nothing to append.
  bool same = e.has_id && !(e.links && e.links->id) && e.uid_len == id.uid.size() &&
              std::string_view(uids_).substr(e.uid_off, e.uid_len) == id.uid;
  size_t pos = id.uid.find(id.identifier);
  if (id.rejected.empty() && id.conflict.empty() && id.uid.size() <= UINT16_MAX &&
      pos != std::string::npos && pos <= UINT8_MAX && uids_.size() + id.uid.size() <= UINT32_MAX) {
    if (!same) {
      ClearId(e);
      CompactUids();
      e.uid_off = static_cast<uint32_t>(uids_.size());
      e.uid_len = static_cast<uint16_t>(id.uid.size());
      uids_.append(id.uid);
    }
    e.ident_pos = static_cast<uint8_t>(pos);
    e.ident_len = static_cast<uint16_t>(id.identifier.size());
    e.source = id.source;
    e.has_id = true;
    return;
  }
  ClearId(e);
  e.has_id = true;
  L(e).id = std::make_unique<DiskIdentity>(std::move(id));
}

// --- Full build ---

void NodeIndex::Rebuild(const DeviceSource& src) {
  *this = NodeIndex(std::move(node_), groups_.hash());
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
  uint32_t parent = d.is_partition ? Slot(d.pkname) : kNone;
  uint32_t id = Slot(d.kname);
  Entry& e = Use(id);
  if (!d.slaves.empty()) L(e).slaves = d.slaves;
  if (d.is_partition) {
    e.partition = true;
    e.parent = parent;
    e.partn = PartitionNumber(d.partn);
    const Entry* p = Get(parent);
    if (e.partn != 0 && p != nullptr && !p->partition && IdOk(*p)) {
      SetId(e, DiskIdentity::ForPartition(StoredId(*p), e.partn));
      SetRowEtag(d, e);
    } else {
      SetId(e, DiskIdentity());  // decided in Finish
    }
    return;
  }
  SetId(e, DiskIdentity::FromDevice(d, node_));
  if (IdOk(e)) {
    std::string uid = StoredUid(e);
    SetBase(e, uid);
    groups_.Insert(uid, id);
    SetRowEtag(d, e);
  }
}

void NodeIndex::Finish(const DeviceSource& src) {
  groups_.Sort();
  for (const std::vector<uint32_t>& crowd : groups_.Crowded()) {
    // One hash, usually one uid; a collision would put two groups here.
    std::map<std::string, std::vector<uint32_t>> by_uid;
    for (uint32_t k : crowd) by_uid[BaseOf(entries_[k])].push_back(k);
    for (const auto& [uid, members] : by_uid) {
      if (members.size() < 2) continue;
      std::vector<uint32_t> found;
      std::vector<const BlockDevice*> devs;
      for (uint32_t k : members) {
        Entry& e = entries_[k];
        e.row_known = false;
        L(e).base_uid = uid;  // the uid changes below
        // A device that vanished since it was added is left out; its removal comes as a change.
        if (const BlockDevice* d = src.Find(names_.Name(k))) {
          found.push_back(k);
          devs.push_back(d);
        }
      }
      if (found.size() < 2) continue;
      std::vector<DiskIdentity> ids;
      for (uint32_t k : found) ids.push_back(StoredId(entries_[k]));
      std::vector<std::pair<const BlockDevice*, DiskIdentity*>> group;
      for (size_t i = 0; i < found.size(); ++i) group.emplace_back(devs[i], &ids[i]);
      MarkDuplicates(group, node_);
      for (size_t i = 0; i < found.size(); ++i) SetId(entries_[found[i]], std::move(ids[i]));
    }
  }
  // Partitions, from their (now final) whole disks.
  std::vector<uint32_t> vanished;
  for (uint32_t k = 0; k < entries_.size(); ++k) {
    Entry& e = entries_[k];
    if (!e.used || !e.partition) continue;
    const Entry* p = Get(e.parent);
    std::optional<DiskIdentity> parent;
    if (p != nullptr && !p->partition) parent = StoredId(*p);
    DiskIdentity id;
    if (parent && parent->ok() && e.partn != 0) {
      id = DiskIdentity::ForPartition(*parent, e.partn);
    } else if (const BlockDevice* d = src.Find(names_.Name(k))) {
      id = DiskIdentity::FromDevice(*d, node_, parent ? &*parent : nullptr);
    } else {
      vanished.push_back(k);
      continue;
    }
    // A row etag from Add was made with the disk's uid before disambiguation.
    if (p != nullptr && p->links && !p->links->base_uid.empty()) e.row_known = false;
    SetId(e, std::move(id));
  }
  for (uint32_t k : vanished) Drop(k);
  IndexChange ignored;
  for (uint32_t k = 0; k < entries_.size(); ++k) {
    Entry& e = entries_[k];
    if (!e.used) continue;
    Learn(k, e, ignored);
    std::vector<std::string> slaves =
        e.links ? std::move(e.links->slaves) : std::vector<std::string>{};
    Link(k, std::move(slaves), e, nullptr);
  }
}

// --- Queries ---

std::optional<DiskIdentity> NodeIndex::Find(std::string_view kname) const {
  const Entry* e = Get(kname);
  if (e == nullptr) return std::nullopt;
  return IdOf(*e);
}

std::string NodeIndex::RowEtag(std::string_view kname) const {
  const Entry* e = Get(kname);
  if (e == nullptr || !e->row_known) return {};
  return fmt::format("{:016x}", e->row_etag);
}

void NodeIndex::ForEach(
    const std::function<void(const std::string&, const DiskIdentity&)>& fn) const {
  for (uint32_t k = 0; k < entries_.size(); ++k) {
    if (entries_[k].used) fn(Name(k), IdOf(entries_[k]));
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
  for (uint32_t k = 0; k < entries_.size(); ++k) {
    if (entries_[k].used && !Ok(entries_[k])) out.push_back(Name(k));
  }
  std::sort(out.begin(), out.end());
  return out;
}

// --- Links, conflicts, partitions ---

void NodeIndex::Unlink(uint32_t id, Entry& e, IndexChange* out) {
  if (!e.links) return;
  for (const HolderEdge& edge : e.links->edges) {
    if (--edges_[edge] == 0) edges_.erase(edge);
    if (out != nullptr) out->edges.insert(edge);
  }
  e.links->edges.clear();
  std::string kname = Name(id);
  for (const std::string& s : e.links->slaves) {
    if (auto h = holders_.find(s); h != holders_.end()) {
      h->second.erase(kname);
      if (h->second.empty()) holders_.erase(h);
    }
  }
  e.links->slaves.clear();
  Trim(e);
}

void NodeIndex::Link(uint32_t id, std::vector<std::string> slaves, Entry& e, IndexChange* out) {
  if (slaves.empty()) {
    if (e.links) e.links->slaves.clear();
    Trim(e);
    return;
  }
  Links& l = L(e);
  l.slaves = std::move(slaves);
  std::string kname = Name(id);
  for (const std::string& s : l.slaves) holders_[s].insert(kname);
  if (!Ok(e)) return;
  std::string uid = Uid(e);
  for (const std::string& s : l.slaves) {
    // The index holds exactly the devices present (Update's contract).
    const Entry* slave = Get(s);
    if (slave == nullptr || !Ok(*slave)) continue;
    HolderEdge edge{Uid(*slave), uid};
    ++edges_[edge];
    if (out != nullptr) out->edges.insert(edge);
    l.edges.push_back(std::move(edge));
  }
}

// Drops what `e` contributed to the conflicts and the partition lists.
void NodeIndex::Forget(uint32_t id, Entry& e, IndexChange& out) {
  if (e.links) {
    std::string kname = Name(id);
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
  if (e.partition && e.parent != kNone) {
    for (uint32_t* p = &first_part_[e.parent]; *p != kNone; p = &next_part_[*p]) {
      if (*p == id) {
        *p = next_part_[id];
        next_part_[id] = kNone;
        break;
      }
    }
  }
  if (!Ok(e)) --unidentified_;
}

void NodeIndex::Learn(uint32_t id, Entry& e, IndexChange& out) {
  if (!Ok(e)) ++unidentified_;
  if (e.partition && e.parent != kNone) {
    bool listed = false;
    for (uint32_t p = first_part_[e.parent]; p != kNone && !listed; p = next_part_[p]) {
      listed = p == id;
    }
    if (!listed) {
      next_part_[id] = first_part_[e.parent];
      first_part_[e.parent] = id;
    }
  }
  // Only an identity that did not fit an Entry has rejected identifiers or a conflict.
  if (!e.has_id || !e.links || !e.links->id) return;
  const DiskIdentity& ident = *e.links->id;
  std::vector<std::pair<ConflictKey, std::string>> conflicts;
  for (const RejectedIdentifier& rej : ident.rejected) {
    conflicts.emplace_back(ConflictKey{"bogus", fmt::format("{}:{}", rej.kind, rej.value)},
                           rej.reason);
  }
  if (ident.ok() && !ident.conflict.empty()) {
    conflicts.emplace_back(
        ConflictKey{"duplicate",
                    fmt::format("{}:{}", IdentitySourceName(ident.source), ident.identifier)},
        ident.conflict);
  }
  std::string kname = Name(id);
  for (const auto& [key, reason] : conflicts) {
    conflicts_[key][kname] = reason;
    out.conflicts.insert(key);
  }
  if (!conflicts.empty()) L(e).conflicts = std::move(conflicts);
}

// --- Device by device ---

IndexChange NodeIndex::Update(const DeviceSource& src, const std::vector<std::string>& touched) {
  IndexChange out;
  groups_.Sort();
  // 1. Whole disks touched: their new uid before disambiguation; the groups they leave or join.
  std::set<std::string> disks, parts, groups;
  std::map<std::string, DiskIdentity> ids;  // the new identities
  for (const std::string& k : touched) {
    const BlockDevice* d = src.Find(k);
    uint32_t kid = names_.Find(k);
    Entry* e = Get(kid);
    bool was_part = e != nullptr && e->partition;
    if (d ? d->is_partition : was_part) {
      parts.insert(k);
      continue;
    }
    disks.insert(k);
    std::optional<DiskIdentity> id;
    if (d != nullptr) id = DiskIdentity::FromDevice(*d, node_);
    std::string b = e != nullptr && e->grouped ? BaseOf(*e) : std::string();
    // Most events leave the uid as it was: the disk stays in its group (no move in groups_).
    bool stays = !b.empty() && id && id->ok() && id->uid == b;
    if (!b.empty()) {
      if (!stays) groups_.Erase(b, kid);
      groups.insert(b);
      SetBase(*e, "");
    }
    if (id) {
      if (id->ok()) {
        if (!stays) groups_.Insert(id->uid, Slot(k));
        groups.insert(id->uid);
      }
      ids[k] = std::move(*id);
    }
  }
  // 2. Every member of those groups, disambiguated when there are several.
  std::map<std::string, std::string> base;  // whole disk -> its uid before disambiguation
  for (const std::string& g : groups) {
    std::vector<std::pair<const BlockDevice*, DiskIdentity*>> members;
    std::vector<std::string> knames;
    for (uint32_t kid : groups_.Candidates(g)) {
      std::string k = Name(kid);
      const BlockDevice* d = src.Find(k);
      if (d == nullptr) continue;  // vanished since: its removal comes as a change
      DiskIdentity id = DiskIdentity::FromDevice(*d, node_);
      if (id.uid != g) continue;  // another uid with the same hash
      disks.insert(k);
      base[k] = g;
      ids[k] = std::move(id);
      knames.push_back(k);
    }
    for (const std::string& k : knames) members.emplace_back(src.Find(k), &ids[k]);
    if (members.size() >= 2) MarkDuplicates(members, node_);
  }
  // 3. The state before of those disks and of their partitions, taken now: a derived
  // partition's uid changes with its disk's.
  auto uid = [&](const std::string& k) {
    const Entry* e = Get(k);
    return e == nullptr || !Ok(*e) ? std::string() : Uid(*e);
  };
  auto state = [&](const std::string& k) {  // "\1": not in the index
    return Get(k) != nullptr ? uid(k) : std::string("\1");
  };
  std::map<std::string, std::string> disk_before, part_before;
  for (const std::string& k : disks) {
    disk_before[k] = state(k);
    for (uint32_t p : Partitions(names_.Find(k))) part_before[Name(p)] = uid(Name(p));
  }
  for (const std::string& k : parts) out.knames[k] = uid(k);
  // 4. Apply: disks first (partitions derive from them), then partitions.
  std::vector<std::string> redone;
  auto apply = [&](const std::string& k, const BlockDevice* d, std::optional<DiskIdentity> id) {
    uint32_t kid = names_.Find(k);
    Entry* e = Get(kid);
    if (!out.knames.contains(k)) {
      out.knames[k] = e == nullptr || !Ok(*e) ? std::string() : Uid(*e);
    }
    if (e != nullptr) Forget(kid, *e, out);
    redone.push_back(k);
    if (d == nullptr || !id) {
      if (e != nullptr) {
        Unlink(kid, *e, &out);
        Drop(kid);
      }
      return;
    }
    uint32_t parent = d->is_partition ? Slot(d->pkname) : kNone;
    kid = Slot(k);
    if (Get(kid) == nullptr) {
      Use(kid);
    }
    Entry& n = entries_[kid];
    n.partition = d->is_partition;
    n.parent = parent;
    n.partn = d->is_partition ? PartitionNumber(d->partn) : 0;
    n.row_known = false;
    SetId(n, std::move(*id));
    if (auto b = base.find(k); b != base.end()) SetBase(n, b->second);
    Learn(kid, n, out);
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
    for (uint32_t pid : Partitions(names_.Find(k))) {
      std::string p = Name(pid);
      if (parts.insert(p).second) out.knames[p] = part_before[p];
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
    const Entry* e = Get(k);
    if (e != nullptr) holders.insert(k);
    std::string now = e != nullptr && Ok(*e) ? Uid(*e) : std::string();
    if (now == out.knames[k]) continue;
    if (auto h = holders_.find(k); h != holders_.end()) {
      holders.insert(h->second.begin(), h->second.end());
    }
    if (const BlockDevice* d = src.Find(k)) holders.insert(d->holders.begin(), d->holders.end());
  }
  std::set<std::string> redone_set(redone.begin(), redone.end());
  for (const std::string& k : holders) {
    uint32_t kid = names_.Find(k);
    Entry* e = Get(kid);
    if (e == nullptr) continue;
    // A device redone may have new slaves; the others' are the ones recorded.
    std::vector<std::string> slaves;
    if (redone_set.contains(k)) {
      const BlockDevice* d = src.Find(k);
      if (d == nullptr) continue;
      slaves = d->slaves;
    } else {
      slaves = Slaves(*e);
    }
    Unlink(kid, *e, &out);
    Link(kid, std::move(slaves), *e, &out);
  }
  CompactNames();
  return out;
}

}  // namespace diskinv
