// AgentMetrics: what `diskinv agent --metrics-listen` serves (names and meanings:
// docs/metrics.md), registered on a MetricsRegistry:
//   - every AgentCounters value (the agent's own counters; names in agent_counters.cc),
//     read at scrape time through a collector: they are relaxed atomics;
//   - diskinv_build_info{version};
//   - diskinv_disks{state,transport}: kept equal to the inventory as an AgentObserver (on the
//     agent thread), or set by whoever knows the counts (SetDisks);
//   - diskinv_cdc_lag_seconds / _bytes{slot}: for a CDC consumer running in the process.
// Updating is cheap (atomics, a map lookup); the metrics server renders concurrently.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "agent/agent.h"
#include "agent/agent_counters.h"
#include "agent/metrics.h"
#include "model/inventory.h"

namespace diskinv {

class AgentMetrics final : public AgentObserver {
 public:
  // Registers everything; `counters` (may be null) must outlive the registry's use.
  static Result<std::unique_ptr<AgentMetrics>> Register(MetricsRegistry* registry,
                                                        std::string_view version,
                                                        const AgentCounters* counters);

  // (state, transport) -> number of disks; replaces the previous counts (pairs not given
  // drop to 0). CountDisks: the present whole disks of an inventory (not partitions, not
  // hidden NVMe paths), by transport ("none" where the kernel reports none).
  using DiskCounts = std::map<std::pair<std::string, std::string>, int64_t>;
  void SetDisks(const DiskCounts& counts);
  static DiskCounts CountDisks(const Inventory& inventory);

  // How far a change feed followed in this process trails the server.
  void SetCdcLag(std::string_view slot, std::chrono::duration<double> lag, uint64_t bytes);

  // AgentObserver: diskinv_disks follows the inventory.
  void OnInventoryChanged(const Inventory& inventory, const InventoryDiff&, bool) override {
    SetDisks(CountDisks(inventory));
  }

 private:
  AgentMetrics() = default;

  GaugeFamily* disks_ = nullptr;
  GaugeFamily *cdc_lag_seconds_ = nullptr, *cdc_lag_bytes_ = nullptr;
  std::set<std::pair<std::string, std::string>> disk_keys_;  // every pair ever set
};

// Writes AgentCounters through MetricsWriter (the collector AgentMetrics registers).
void WriteAgentCounters(const AgentCounters& counters, MetricsWriter& writer);

}  // namespace diskinv
