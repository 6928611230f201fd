// LiveSource: the agent's DeviceSource. The agent keeps digests, not devices (LiveInventory):
// the store gets a device by probing sysfs again, for the devices LiveInventory lists only.
//
// Find(kname): nullptr unless LiveInventory lists `kname`; else the device the last event
// probed (LiveInventory::Probed), or a fresh Walker::Probe, kept until Release() or Reset()
// (one Sync call asks for the same neighbour several times). A device that cannot be probed
// any more is not there: its removal comes as the next change. ForEach: one streaming walk,
// restricted to the devices LiveInventory lists. The current state in sysfs is the right
// state to write: it is what the next event or walk would report.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "agent/live_inventory.h"
#include "model/device_source.h"

namespace diskinv {

class LiveSource final : public DeviceSource {
 public:
  LiveSource(Walker& walker, const LiveInventory& live) : walker_(walker), live_(live) {}

  const BlockDevice* Find(std::string_view kname) const override;
  void ForEach(const std::function<void(const BlockDevice&)>& fn) const override;
  void Release() const override { probes_.clear(); }
  // Forgets every device probed (call after each Sync).
  void Reset() { probes_.clear(); }

  size_t probes() const { return probe_count_; }  // Walker::Probe calls so far

 private:
  Walker& walker_;
  const LiveInventory& live_;
  mutable std::map<std::string, std::optional<BlockDevice>, std::less<>> probes_;
  mutable size_t probe_count_ = 0;
};

}  // namespace diskinv
