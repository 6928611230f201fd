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
  explicit NodeIndex(std::string node_key = {}) : node_(std::move(node_key)) {}

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
  size_t size() const { return entries_.size(); }
  const std::string& node_key() const { return node_; }

 private:
  // What few devices have: stacking, conflicts, a uid before disambiguation.
  struct Links {
    std::vector<std::string> slaves;
    std::vector<HolderEdge> edges;  // edges to this device from its slaves
    std::vector<std::pair<ConflictKey, std::string>> conflicts;  // key, reason
    std::string base_uid;  // a duplicate whole disk: its uid before disambiguation
    bool empty() const {
      return slaves.empty() && edges.empty() && conflicts.empty() && base_uid.empty();
    }
  };
  // One device, 64 bytes: most have no Links, and a partition of an identified whole disk no
  // identity of its own (nullptr: ForPartition of the parent's, see Derivable).
  struct Entry {
    std::unique_ptr<DiskIdentity> id;
    std::string parent;  // partitions: the whole disk's kname
    std::unique_ptr<Links> links;
    uint64_t row_etag = 0;  // see RowEtag
    uint32_t partn = 0;     // partitions: the number (0: none)
    bool partition = false;
    bool grouped = false;  // a whole disk in groups_ (under links->base_uid, else its uid)
    bool row_known = false;
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
  static Links& L(Entry& e);
  static void Trim(Entry& e);  // frees empty Links
  static const std::vector<std::string>& Slaves(const Entry& e);
  bool Ok(const Entry& e) const { return !e.id || e.id->ok(); }
  std::string Uid(const Entry& e) const;
  DiskIdentity IdOf(const Entry& e) const;
  std::string BaseOf(const Entry& e) const;
  void SetBase(Entry& e, const std::string& uid);
  // Stores `id` in `e` (e.partition, e.parent, e.partn set), or nothing when it is derivable.
  void SetId(Entry& e, DiskIdentity id);
  void Forget(const std::string& kname, Entry& e, IndexChange& out);
  // Drops `e`'s edges and its places in the holder index (Unlink); records `slaves` and the
  // edges from those that have an identity (Link). `out` (optional) gets the edges.
  void Unlink(const std::string& kname, Entry& e, IndexChange* out);
  void Link(const std::string& kname, std::vector<std::string> slaves, Entry& e, IndexChange* out);
  // Records `e`'s conflicts and its place in the partition index (`parent`: its whole disk).
  void Learn(const std::string& kname, const std::string& parent, Entry& e, IndexChange& out);
  void SetRowEtag(const BlockDevice& dev, Entry& e);

  std::string node_;
  std::unordered_map<std::string, Entry> entries_;
  std::unordered_map<std::string, NameSet> groups_;   // base uid -> whole disks
  std::unordered_map<std::string, NameSet> parts_;    // disk -> partitions
  std::unordered_map<std::string, NameSet> holders_;  // slave -> holders naming it
  std::map<HolderEdge, int> edges_;
  std::map<ConflictKey, std::map<std::string, std::string>> conflicts_;  // -> kname, reason
  size_t unidentified_ = 0;
};

}  // namespace diskinv
