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

#include <functional>
#include <map>
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

  const DiskIdentity* Find(std::string_view kname) const;
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
  struct Entry {
    DiskIdentity id;
    std::string base_uid;  // whole disks: the uid before disambiguation
    std::string parent;    // partitions: the whole disk's kname
    std::vector<std::string> slaves;
    std::vector<HolderEdge> edges;  // edges to this device from its slaves
    std::vector<std::pair<ConflictKey, std::string>> conflicts;  // key, reason
    bool partition = false;
    std::optional<uint64_t> partn;  // partitions, between Add and Finish
    uint64_t row_etag = 0;          // see RowEtag; 0 unknown
    bool row_known = false;
  };
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
  std::unordered_map<std::string, std::set<std::string>> groups_;   // base uid -> whole disks
  std::unordered_map<std::string, std::set<std::string>> parts_;    // disk -> partitions
  std::unordered_map<std::string, std::set<std::string>> holders_;  // slave -> holders naming it
  std::map<HolderEdge, int> edges_;
  std::map<ConflictKey, std::map<std::string, std::string>> conflicts_;  // -> kname, reason
  size_t unidentified_ = 0;
};

}  // namespace diskinv
