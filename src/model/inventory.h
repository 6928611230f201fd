// Inventory: the set of block devices seen by one walk, indexed by kernel name and dev_t.
//
// A walk stores devices in walk order (whole disks sorted by name, each followed by its
// partitions); Remove() moves the last device into the hole (O(1)), so after removals the
// order is arbitrary. Lookups never scan the vector: Add() and Remove() keep the indexes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model/block_device.h"
#include "model/device_source.h"

namespace diskinv {

struct ScanStats {
  uint64_t devices = 0;
  uint64_t field_errors = 0;          // FieldErrors recorded on devices
  uint64_t vanished = 0;              // devices listed, then gone before they could be read
  uint64_t walk_errors = 0;           // directories of the walk itself that could not be read
  std::vector<std::string> messages;  // walk-level problems, for the operator
  // True when every listed device was read, even if some attributes were missing.
  bool complete() const { return walk_errors == 0 && vanished == 0; }
};

class Inventory final : public DeviceSource {
 public:
  // Appends a device; a device with the same kname replaces the earlier one.
  void Add(BlockDevice dev);
  // Removes a device by kernel name in O(1); returns false when it was not there.
  bool Remove(std::string_view kname);

  const std::vector<BlockDevice>& devices() const { return devices_; }
  size_t size() const { return devices_.size(); }

  const BlockDevice* FindByName(std::string_view kname) const;
  const BlockDevice* FindByDevNum(DevNum num) const;

  // DeviceSource: FindByName, and every device in order.
  const BlockDevice* Find(std::string_view kname) const override { return FindByName(kname); }
  void ForEach(const std::function<void(const BlockDevice&)>& fn) const override {
    for (const BlockDevice& d : devices_) fn(d);
  }

  ScanStats& stats() { return stats_; }
  const ScanStats& stats() const { return stats_; }

 private:
  static uint64_t Key(DevNum n) { return (uint64_t{n.major} << 32) | n.minor; }

  std::vector<BlockDevice> devices_;
  std::unordered_map<std::string, size_t> by_name_;
  std::unordered_map<uint64_t, size_t> by_devnum_;
  ScanStats stats_;
};

}  // namespace diskinv
