// Differences between two observations: of one device (field by field) and of two
// inventories (devices added, removed, changed). Used by `diskinv monitor --inventory`, by the
// resync after lost events and by the store to skip writes that change nothing.
#pragma once

#include <string>
#include <vector>

#include "model/fields.h"
#include "model/inventory.h"

namespace diskinv {

struct FieldChange {
  std::string field;  // JSON key of a scalar field, or "udev.properties.KEY", "holders", ...
  FieldValue before, after;
};

// The fields of `b` that differ from `a` (same device, two probes). Scalar fields, the udev
// properties and links, stacking and per-field errors are compared.
std::vector<FieldChange> DiffDevice(const BlockDevice& a, const BlockDevice& b);

struct InventoryDiff {
  std::vector<std::string> added;    // knames present only in the new inventory
  std::vector<std::string> removed;  // knames present only in the old inventory
  struct Changed {
    std::string kname;
    std::vector<FieldChange> changes;
  };
  std::vector<Changed> changed;
  bool empty() const { return added.empty() && removed.empty() && changed.empty(); }
};

// Devices are matched by kernel name; a kname whose dev_t changed (removed and re-added
// between the two walks) is reported as changed ("maj:min").
InventoryDiff DiffInventories(const Inventory& before, const Inventory& after);

// "a" for a string, 12 for a number, true, null: for logs and JSON-less output.
std::string FieldValueToString(const FieldValue& v);

}  // namespace diskinv
