// NodeRows: what a node's tables should hold for one Inventory, built without I/O.
//
// Identities come from a NodeIndex of the whole inventory (the same as IdentifyInventory:
// duplicates are a property of the node, not of one device), so `uid_by_kname`, `edges` and
// `conflicts` always describe every device; `rows` holds only the devices a caller selected (all of
// them by default), so an event that touched one disk builds one or two rows, not ten thousand.
#pragma once

#include <compare>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model/disk_identity.h"
#include "model/inventory.h"
#include "store/device_row.h"

namespace diskinv {

// diskinv.holder: `child_uid` is built on `parent_uid`.
struct HolderEdge {
  std::string parent_uid, child_uid;
  auto operator<=>(const HolderEdge&) const = default;
};

// diskinv.identity_conflict, keyed by (kind, identifier).
struct ConflictKey {
  std::string kind;        // "duplicate" or "bogus"
  std::string identifier;  // "serial:ATA:Model:123", "wwn:0x0000000000000000"
  auto operator<=>(const ConflictKey&) const = default;
};
struct ConflictRow {
  std::string reason;
  std::string devices;  // knames, sorted, comma separated
  bool operator==(const ConflictRow&) const = default;
};

struct NodeRows {
  std::vector<DeviceRow> rows;                                // the selected devices
  std::unordered_map<std::string, std::string> uid_by_kname;  // every identified device
  std::set<HolderEdge> edges;                                 // every stacking edge
  std::map<ConflictKey, ConflictRow> conflicts;               // every open conflict
  std::vector<std::string> unidentified;  // knames without any usable identifier (not stored)
};

// `select(device, identity)` says which identified devices get a DeviceRow; empty: all.
using RowSelector = std::function<bool(const BlockDevice& dev, const DiskIdentity& id)>;
NodeRows BuildNodeRows(const Inventory& inv, std::string_view node_key,
                       const RowSelector& select = {});

}  // namespace diskinv
