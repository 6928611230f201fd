// NodeIndex: the identities, stacking edges and identity conflicts of every device of a node,
// kept up to date device by device, so that an event costs O(devices it touched), not
// O(devices on the node).
//
// Rebuild(src) gives exactly what IdentifyInventory and BuildNodeRows give for the devices of
// `src`, in one pass over them (ForEach): Add() for each device, in any order, then Finish(),
// which asks `src` again (Find) only for the members of duplicate groups and for partitions
// whose whole disk has no identity (rare). A caller that walks anyway can Add() during its own
// walk and Finish() after it, and need not walk again. Add() also records the etag of the
// device's row (DeviceRow::etag) under the identity Add() could give it; Finish() keeps it when
// that identity turned out final, so that a full sync can tell an unchanged row without the
// device (RowEtag).
// Update(src, touched), after the devices `touched` were added, changed or removed in `src`,
// re-identifies them and what depends on them: the other members of their duplicate groups
// (old and new uid), the partitions of a whole disk, the holders that name them as slaves;
// afterwards the index equals Rebuild(src) (but knows no row etags). It returns what may
// differ: those knames (with the uid each had before), the edges and the conflict keys that
// were added or removed. Only these devices are asked for (Find).
// Indexes: whole disks by their uid before disambiguation (duplicate groups), partitions by
// their whole disk's kname, holders by the knames of their slaves.
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model/device_source.h"
#include "model/disk_identity.h"
#include "model/name_table.h"
#include "store/node_rows.h"

namespace diskinv {

struct IndexChange {
  // Devices touched or re-identified -> their uid before ("" when they had none).
  std::map<std::string, std::string> knames;
  std::set<HolderEdge> edges;       // edges that appeared or went away
  std::set<ConflictKey> conflicts;  // conflicts opened, changed or resolved
};

class NodeIndex {
 public:
  // The hash that files whole disks into duplicate groups (a parameter for tests: collisions).
  using UidHash = uint64_t (*)(std::string_view uid);
  static uint64_t DefaultUidHash(std::string_view uid) {
    return std::hash<std::string_view>{}(uid);
  }
  explicit NodeIndex(std::string node_key = {}, UidHash hash = DefaultUidHash)
      : node_(std::move(node_key)), groups_(hash) {}

  void Rebuild(const DeviceSource& src);
  void Add(const BlockDevice& dev);
  void Finish(const DeviceSource& src);
  IndexChange Update(const DeviceSource& src, const std::vector<std::string>& touched);

  // The identity of `kname` (nullopt when not in the index). A partition of a whole disk with
  // an identity is not stored: its identity is derived from its disk's (a copy is returned).
  std::optional<DiskIdentity> Find(std::string_view kname) const;
  // The row etag Add() computed for `kname` ("" when unknown: not built by Add, or its identity
  // changed in Finish, or it has none).
  std::string RowEtag(std::string_view kname) const;
  // Every device: kname and identity (unordered).
  void ForEach(const std::function<void(const std::string&, const DiskIdentity&)>& fn) const;
  bool HasEdge(const HolderEdge& e) const { return edges_.contains(e); }
  std::optional<ConflictRow> Conflict(const ConflictKey& key) const;
  // Everything, as BuildNodeRows gives it (O(size)).
  std::set<HolderEdge> Edges() const;
  std::map<ConflictKey, ConflictRow> Conflicts() const;
  std::vector<std::string> Unidentified() const;  // sorted
  size_t unidentified() const { return unidentified_; }
  size_t size() const { return size_; }
  size_t uid_bytes() const { return uids_.size(); }  // the uid buffer, used or not (tests)
  size_t names() const { return names_.size(); }     // names interned, used or not (tests)
  const std::string& node_key() const { return node_; }

 private:
  static constexpr uint32_t kNone = NameTable::kNone;
  // What few devices have: stacking, conflicts, a uid before disambiguation, an identity that
  // does not fit an Entry (rejected identifiers, a duplicate's conflict, a uid over 64 KiB).
  struct Links {
    std::vector<std::string> slaves;
    std::vector<HolderEdge> edges;  // edges to this device from its slaves
    std::vector<std::pair<ConflictKey, std::string>> conflicts;  // key, reason
    std::string base_uid;  // a duplicate whole disk: its uid before disambiguation
    std::unique_ptr<DiskIdentity> id;
    bool empty() const {
      return slaves.empty() && edges.empty() && conflicts.empty() && base_uid.empty() && !id;
    }
  };
  // One device, 40 bytes, in a vector indexed by its name's id (names_). Its identity is a
  // uid in uids_ (source and identifier: what DiskIdentity holds, the identifier a part of the
  // uid), or Links::id; a partition of an identified whole disk has none of its own (has_id
  // false: ForPartition of its disk's, see SetId).
  struct Entry {
    std::unique_ptr<Links> links;
    uint64_t row_etag = 0;    // see RowEtag
    uint32_t parent = kNone;  // partitions: the whole disk's name id
    uint32_t partn = 0;       // partitions: the number (0: none)
    uint32_t uid_off = 0;     // the uid: uids_[uid_off, +uid_len)
    uint16_t uid_len = 0;
    uint16_t ident_len = 0;  // the identifier: the uid's [ident_pos, +ident_len)
    uint8_t ident_pos = 0;
    IdentitySource source = IdentitySource::kNone;
    bool used = false;  // a device of the index (else a free slot)
    bool has_id = false;
    bool partition = false;
    bool grouped = false;  // a whole disk in groups_ (under links->base_uid, else its uid)
    bool row_known = false;
  };
  static_assert(sizeof(Entry) == 40, "an Entry per device: keep it small");
  // Whole disks by the hash of their uid before disambiguation: (hash, name id), sorted once
  // Finish() ran. A hash names a group only together with the uid: members are checked.
  class Groups {
   public:
    explicit Groups(UidHash hash) : hash_(hash) {}
    UidHash hash() const { return hash_; }
    void Insert(std::string_view uid, uint32_t id);
    void Erase(std::string_view uid, uint32_t id);
    void Sort();
    void Remap(const std::vector<uint32_t>& to);  // new name ids (CompactNames)
    // The name ids under `uid`'s hash (a superset of the group).
    std::vector<uint32_t> Candidates(std::string_view uid) const;
    // Every hash with two or more name ids, with them.
    std::vector<std::vector<uint32_t>> Crowded() const;

   private:
    UidHash hash_;
    std::vector<std::pair<uint64_t, uint32_t>> v_;
    bool sorted_ = true;
  };
  // A sorted set of knames in one vector (most hold one or two): a third of std::set's bytes.
  class NameSet {
   public:
    void insert(const std::string& s) {
      auto it = std::lower_bound(v_.begin(), v_.end(), s);
      if (it == v_.end() || *it != s) v_.insert(it, s);
    }
    size_t erase(const std::string& s) {
      auto it = std::lower_bound(v_.begin(), v_.end(), s);
      if (it == v_.end() || *it != s) return 0;
      v_.erase(it);
      return 1;
    }
    bool empty() const { return v_.empty(); }
    size_t size() const { return v_.size(); }
    std::vector<std::string>::const_iterator begin() const { return v_.begin(); }
    std::vector<std::string>::const_iterator end() const { return v_.end(); }

   private:
    std::vector<std::string> v_;
  };

  // --- entries by name ---
  uint32_t Slot(std::string_view kname);  // interns; the vectors grow with names_
  Entry* Get(uint32_t id) {
    return id < entries_.size() && entries_[id].used ? &entries_[id] : nullptr;
  }
  const Entry* Get(uint32_t id) const {
    return id < entries_.size() && entries_[id].used ? &entries_[id] : nullptr;
  }
  Entry* Get(std::string_view kname) { return Get(names_.Find(kname)); }
  const Entry* Get(std::string_view kname) const { return Get(names_.Find(kname)); }
  Entry& Use(uint32_t id);  // a fresh entry at `id` (kept parts list)
  void Drop(uint32_t id);
  std::string Name(uint32_t id) const { return std::string(names_.Name(id)); }
  std::vector<uint32_t> Partitions(uint32_t disk) const;

  // --- identities ---
  static Links& L(Entry& e);
  static void Trim(Entry& e);  // frees empty Links
  static const std::vector<std::string>& Slaves(const Entry& e);
  bool IdOk(const Entry& e) const;  // has_id and a uid
  bool Ok(const Entry& e) const { return !e.has_id || IdOk(e); }
  std::string StoredUid(const Entry& e) const;  // has_id only
  DiskIdentity StoredId(const Entry& e) const;  // has_id only
  std::string Uid(const Entry& e) const;
  DiskIdentity IdOf(const Entry& e) const;
  std::string BaseOf(const Entry& e) const;
  void SetBase(Entry& e, const std::string& uid);
  // Stores `id` in `e` (e.partition, e.parent, e.partn set), or nothing when it is derivable.
  void SetId(Entry& e, DiskIdentity id);
  void ClearId(Entry& e);
  void CompactUids();
  // A new NameTable of the names in use, when most are not: names are never removed from a
  // NameTable, and devices that come and go under ever new names (dm-N counts up) would pile
  // up between two rebuilds (a full sync builds a new index).
  void CompactNames();
  void Forget(uint32_t id, Entry& e, IndexChange& out);
  // Drops `e`'s edges and its places in the holder index (Unlink); records `slaves` and the
  // edges from those that have an identity (Link). `out` (optional) gets the edges.
  void Unlink(uint32_t id, Entry& e, IndexChange* out);
  void Link(uint32_t id, std::vector<std::string> slaves, Entry& e, IndexChange* out);
  // Records `e`'s conflicts and its place in its whole disk's partition list (e.parent).
  void Learn(uint32_t id, Entry& e, IndexChange& out);
  void SetRowEtag(const BlockDevice& dev, Entry& e);

  std::string node_;
  NameTable names_;
  std::vector<Entry> entries_;        // by name id
  std::vector<uint32_t> first_part_;  // by name id: a whole disk's first partition, kNone
  std::vector<uint32_t> next_part_;   // by name id: the next partition of the same disk
  size_t size_ = 0;                   // entries used
  std::string uids_;                  // the entries' uids, back to back
  size_t uids_garbage_ = 0;           // bytes of uids_ no entry uses
  Groups groups_;
  std::unordered_map<std::string, NameSet> holders_;  // slave -> holders naming it
  std::map<HolderEdge, int> edges_;
  std::map<ConflictKey, std::map<std::string, std::string>> conflicts_;  // -> kname, reason
  size_t unidentified_ = 0;
};

}  // namespace diskinv
