// NameTable: device names (knames) interned as dense 32-bit ids, for the agent's per-device
// tables at 10,000 disks (30,000 devices).
//
// A std::unordered_map<std::string, T> costs a 32-byte key and a hash node (about 50 bytes) per
// name before T; here all names are one byte buffer, an offset per name and an open-addressing
// slot array, about 16 bytes per name, and T lives in a plain vector indexed by id. Ids are
// dense (0, 1, 2, ... in order of first Intern) and never reused for another name; names are
// never removed. Knames recur (sdb after a hot-remove), so the table holds each distinct name
// once; an owner whose names churn (dm-N counts up) rebuilds its table from its live names now
// and then (see NodeIndex, LiveInventory).
//
// Name(id) is a view into the buffer: valid until the next Intern of a new name.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace diskinv {

class NameTable {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;

  // The id of `name`, added when new.
  uint32_t Intern(std::string_view name);
  // The id of `name`, or kNone.
  uint32_t Find(std::string_view name) const;
  std::string_view Name(uint32_t id) const {
    return std::string_view(bytes_).substr(offsets_[id], offsets_[id + 1] - offsets_[id]);
  }
  size_t size() const { return offsets_.size() - 1; }
  // Heap bytes held (for the memory accounting in tests and benchmarks).
  size_t bytes() const;

 private:
  size_t Slot(std::string_view name) const;  // the slot holding `name`, or the empty one to use
  void Grow();

  std::string bytes_;
  std::vector<uint32_t> offsets_ = {0};  // id -> start in bytes_; one more: the end
  std::vector<uint32_t> slots_;          // ids; kNone: empty; size a power of two
};

}  // namespace diskinv
