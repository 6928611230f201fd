// DeviceSource: where the store and its index get the devices of a node, by kernel name or all
// of them in turn. An Inventory is one (it holds every device); the agent's is another (it keeps
// a digest per device and probes sysfs again when a device is asked for, agent/live_source.h).
//
// Find(kname) returns nullptr for a device the source does not hold; the pointer stays valid as
// long as the source is not changed (for the agent's: until its Reset()). ForEach visits every
// device once, in the source's order, with a reference valid during the call only. Both may do
// I/O; neither reports errors: a device that cannot be read is not there.
#pragma once

#include <functional>
#include <string_view>

#include "model/block_device.h"

namespace diskinv {

class DeviceSource {
 public:
  virtual ~DeviceSource() = default;
  virtual const BlockDevice* Find(std::string_view kname) const = 0;
  virtual void ForEach(const std::function<void(const BlockDevice&)>& fn) const = 0;
  // A hint: the pointers Find() gave so far are no longer used (a source that reads devices
  // on demand may free them; one that holds them all ignores it).
  virtual void Release() const {}
};

}  // namespace diskinv
