#include "agent/agent_metrics.h"

#include <fmt/format.h>

#include <vector>

namespace diskinv {
namespace {

class WriterVisitor final : public MetricVisitor {
 public:
  explicit WriterVisitor(MetricsWriter& w) : w_(w) {}
  void OnCounter(std::string_view name, std::string_view help, uint64_t value) override {
    w_.WriteCounter(name, help, value);
  }
  void OnGauge(std::string_view name, std::string_view help, double value) override {
    w_.WriteGauge(name, help, value);
  }
  void OnHistogram(std::string_view name, std::string_view help,
                   const LatencyHistogram& h) override {
    constexpr auto& bounds = LatencyHistogram::kBounds;
    std::array<uint64_t, bounds.size() + 1> cumulative;
    for (size_t i = 0; i <= bounds.size(); ++i) cumulative[i] = h.cumulative(i);
    w_.WriteHistogram(name, help, bounds, cumulative, h.sum_seconds());
  }

 private:
  MetricsWriter& w_;
};

}  // namespace

void WriteAgentCounters(const AgentCounters& counters, MetricsWriter& writer) {
  WriterVisitor v(writer);
  counters.ForEach(v);
}

Result<std::unique_ptr<AgentMetrics>> AgentMetrics::Register(MetricsRegistry* r,
                                                             std::string_view version,
                                                             const AgentCounters* counters) {
  std::unique_ptr<AgentMetrics> m(new AgentMetrics());
  if (Status st = AddBuildInfo(r, version); !st.ok()) return st;
  auto disks = r->AddGauge("diskinv_disks",
                           "Whole disks by state (present, removed) and transport (nvme, sas, "
                           "sata, virtio, ...; none when the kernel reports none)",
                           {"state", "transport"});
  if (!disks.ok()) return disks.status();
  m->disks_ = *disks;
  if (counters != nullptr) {
    Status st = r->AddCollector([counters](MetricsWriter& w) { WriteAgentCounters(*counters, w); });
    if (!st.ok()) return st;
  }
  return m;
}

void AgentMetrics::SetDisks(const DiskCounts& counts) {
  for (const auto& key : disk_keys_) {
    if (!counts.contains(key)) disks_->WithLabels({key.first, key.second}).Set(0);
  }
  for (const auto& [key, n] : counts) {
    disks_->WithLabels({key.first, key.second}).Set(static_cast<double>(n));
    disk_keys_.insert(key);
  }
}

AgentMetrics::DiskCounts AgentMetrics::CountDisks(const std::vector<LiveDevice>& devices) {
  // Few distinct transports: count in a small vector, then build the map.
  std::vector<std::pair<std::string_view, int64_t>> by_tran;
  for (const LiveDevice& d : devices) {
    if (!d.present || d.is_partition || d.hidden) continue;
    std::string_view tran = !d.tran().empty() ? d.tran() : "none";
    auto it = by_tran.begin();
    while (it != by_tran.end() && it->first != tran) ++it;
    if (it == by_tran.end()) {
      by_tran.emplace_back(tran, 1);
    } else {
      ++it->second;
    }
  }
  DiskCounts counts;
  for (const auto& [tran, n] : by_tran) counts[{"present", std::string(tran)}] = n;
  return counts;
}

void AgentMetrics::Publish() {
  DiskCounts all = present_;
  for (const auto& [key, n] : removed_) all[key] = n;
  SetDisks(all);
}

void AgentMetrics::OnInventoryChanged(const LiveInventory& inventory, const InventoryDiff& diff,
                                      bool committed) {
  present_ = CountDisks(inventory.records());
  // A disk added may have revived a tombstone, one removed made one: count them again.
  if (committed && !(diff.added.empty() && diff.removed.empty())) removed_stale_ = true;
  Publish();
}

void AgentMetrics::OnStoreIdle(const NodeRef& node, InventoryStore& store) {
  auto now = std::chrono::steady_clock::now();
  if (!removed_stale_ || now - removed_at_ < removed_refresh) return;
  removed_at_ = now;
  auto r = store.connection().Exec(
      "SELECT COALESCE(NULLIF(transport, ''), 'none'), count(*) FROM diskinv.disk WHERE "
      "node_id = $1 AND state = 'removed' GROUP BY 1",
      {std::to_string(node.id)});
  if (!r.ok()) return;  // the store sees the broken connection at its next write
  removed_stale_ = false;
  removed_.clear();
  for (int i = 0; i < r->rows(); ++i) removed_[{"removed", r->Str(i, 0)}] = r->Int(i, 1);
  Publish();
}

}  // namespace diskinv
