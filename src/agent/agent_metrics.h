// AgentMetrics: what `diskinv agent --metrics-listen` serves (names and meanings:
// docs/metrics.md), registered on a MetricsRegistry:
//   - every AgentCounters value (the agent's own counters; names in agent_counters.cc),
//     read at scrape time through a collector: they are relaxed atomics;
//   - diskinv_build_info{version};
//   - diskinv_disks{state,transport}: kept up to date as an AgentObserver (on the agent
//     thread): state="present" from the inventory after every change; state="removed" (this
//     node's tombstones) from a query on the store's connection while it is idle
//     (OnStoreIdle), after the node registered and after commits that added or removed disks,
//     at most once per `removed_refresh`; or set by whoever knows the counts (SetDisks).
// Updating is cheap (atomics, a map lookup); the metrics server renders concurrently.
// The CDC lag gauges are the reconciler's (reconcile_metrics.h).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "agent/agent.h"
#include "agent/agent_counters.h"
#include "agent/live_inventory.h"
#include "agent/metrics.h"

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
  static DiskCounts CountDisks(const std::vector<LiveDevice>& devices);  // present ones

  // AgentObserver: diskinv_disks follows the inventory and the node's tombstones.
  void OnNodeRegistered(const NodeRef&, InventoryStore&) override { removed_stale_ = true; }
  void OnInventoryChanged(const LiveInventory& inventory, const InventoryDiff& diff,
                          bool committed) override;
  void OnStoreIdle(const NodeRef& node, InventoryStore& store) override;

  std::chrono::milliseconds removed_refresh{1000};

 private:
  AgentMetrics() = default;
  void Publish();

  GaugeFamily* disks_ = nullptr;
  std::set<std::pair<std::string, std::string>> disk_keys_;  // every pair ever set
  DiskCounts present_, removed_;
  bool removed_stale_ = true;
  std::chrono::steady_clock::time_point removed_at_{};
};

// Writes AgentCounters through MetricsWriter (the collector AgentMetrics registers).
void WriteAgentCounters(const AgentCounters& counters, MetricsWriter& writer);

}  // namespace diskinv
