// NodeIndex: the identities, stacking edges and identity conflicts of every device of a node,
// kept up to date device by device, so that an event costs O(devices it touched), not
// O(devices on the node).
//
// Rebuild(inv) gives exactly what IdentifyInventory and BuildNodeRows give for `inv`.
// Update(inv, touched), after the devices `touched` were added, changed or removed in `inv`,
// re-identifies them and what depends on them: the other members of their duplicate groups
// (old and new uid), the partitions of a whole disk, the holders that name them as slaves;
// afterwards the index equals Rebuild(inv). It returns what may differ: those knames (with the
// uid each had before), the edges and the conflict keys that were added or removed.
// Indexes: whole disks by their uid before disambiguation (duplicate groups), partitions by
// their whole disk's kname, holders by the knames of their slaves.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model/disk_identity.h"
#include "model/inventory.h"
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

  void Rebuild(const Inventory& inv);
  IndexChange Update(const Inventory& inv, const std::vector<std::string>& touched);

  const DiskIdentity* Find(std::string_view kname) const;
  bool HasEdge(const HolderEdge& e) const { return edges_.contains(e); }
  std::optional<ConflictRow> Conflict(const ConflictKey& key) const;
  // Everything, as BuildNodeRows gives it (O(size)).
  std::set<HolderEdge> Edges() const;
  std::map<ConflictKey, ConflictRow> Conflicts() const;
  std::vector<std::string> Unidentified() const;  // sorted
  size_t unidentified() const { return unidentified_; }
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    DiskIdentity id;
    std::string base_uid;  // whole disks: the uid before disambiguation
    std::string parent;    // partitions: the whole disk's kname
    std::vector<std::string> slaves;
    std::vector<HolderEdge> edges;  // edges to this device from its slaves
    std::vector<std::pair<ConflictKey, std::string>> conflicts;  // key, reason
  };
  void Forget(const std::string& kname, Entry& e, IndexChange& out);
  // Drops `e`'s edges and its places in the holder index; records `d`'s slaves and the edges
  // from those that have an identity. `out` (optional) gets the edges.
  void Unlink(const std::string& kname, Entry& e, IndexChange* out);
  void Link(const Inventory& inv, const BlockDevice& d, Entry& e, IndexChange* out);
  void Learn(const BlockDevice& dev, const std::string& kname, Entry& e, IndexChange& out);

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
