#include "model/inventory.h"

#include <algorithm>

namespace diskinv {

void Inventory::Add(BlockDevice dev) {
  if (auto it = by_name_.find(dev.kname); it != by_name_.end()) {
    size_t i = it->second;
    by_devnum_.erase(Key(devices_[i].devnum));
    devices_[i] = std::move(dev);
    by_devnum_[Key(devices_[i].devnum)] = i;
    return;
  }
  size_t i = devices_.size();
  by_name_.emplace(dev.kname, i);
  by_devnum_[Key(dev.devnum)] = i;
  devices_.push_back(std::move(dev));
}

bool Inventory::Remove(std::string_view kname) {
  auto it = by_name_.find(std::string(kname));
  if (it == by_name_.end()) return false;
  // O(1): the last device takes the removed one's slot.
  size_t i = it->second;
  by_devnum_.erase(Key(devices_[i].devnum));
  by_name_.erase(it);
  if (i + 1 != devices_.size()) {
    devices_[i] = std::move(devices_.back());
    by_name_[devices_[i].kname] = i;
    by_devnum_[Key(devices_[i].devnum)] = i;
  }
  devices_.pop_back();
  return true;
}

const BlockDevice* Inventory::FindByName(std::string_view kname) const {
  auto it = by_name_.find(std::string(kname));
  return it == by_name_.end() ? nullptr : &devices_[it->second];
}

const BlockDevice* Inventory::FindByDevNum(DevNum num) const {
  auto it = by_devnum_.find(Key(num));
  return it == by_devnum_.end() ? nullptr : &devices_[it->second];
}

}  // namespace diskinv
