#include "agent/agent_counters.h"

namespace diskinv {

void LatencyHistogram::Observe(std::chrono::nanoseconds d) {
  double s = std::chrono::duration<double>(d).count();
  size_t i = 0;
  while (i < kBounds.size() && s > kBounds[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<uint64_t>(d.count() < 0 ? 0 : d.count()),
                    std::memory_order_relaxed);
}

uint64_t LatencyHistogram::cumulative(size_t i) const {
  uint64_t n = 0;
  for (size_t k = 0; k <= i && k < buckets_.size(); ++k) {
    n += buckets_[k].load(std::memory_order_relaxed);
  }
  return n;
}

double LatencyHistogram::QuantileBound(double q) const {
  uint64_t total = count();
  if (total == 0) return 0;
  for (size_t i = 0; i < kBounds.size(); ++i) {
    if (static_cast<double>(cumulative(i)) >= q * static_cast<double>(total)) return kBounds[i];
  }
  return kBounds.back() * 10;
}

void AgentCounters::ForEach(MetricVisitor& v) const {
  auto c = [&v](std::string_view n, std::string_view h, const Counter& x) {
    v.OnCounter(n, h, x.value());
  };
  auto g = [&v](std::string_view n, std::string_view h, const Gauge& x) {
    v.OnGauge(n, h, x.value());
  };
  c("diskinv_agent_kernel_events_total", "Kernel uevents accepted", kernel_events);
  c("diskinv_agent_udev_events_total", "udev events accepted", udev_events);
  c("diskinv_agent_events_rejected_total", "Malformed, truncated or untrusted datagrams dropped",
    events_rejected);
  c("diskinv_agent_enobufs_total", "uevent socket receive-queue overflows (ENOBUFS)", enobufs);
  c("diskinv_agent_seqnum_gaps_total", "Kernel SEQNUM gaps or regressions", seqnum_gaps);
  c("diskinv_agent_events_lost_total", "Events known lost (SEQNUM gaps, tail losses, bursts)",
    events_lost);
  c("diskinv_agent_tail_losses_total",
    "Losses at the end of a burst found by the idle check (kernel counter ahead)", tail_losses);
  c("diskinv_agent_events_deferred_total",
    "Kernel events left to udev's own event (no udev record yet)", events_deferred);
  g("diskinv_agent_self_check_ok", "1 after a passing uevent self-check, 0 after a failing one",
    self_check_ok);
  c("diskinv_agent_self_check_failures_total", "Failed uevent self-checks", self_check_failures);
  g("diskinv_agent_self_check_seconds", "Slowest round trip of the last passing self-check",
    self_check_seconds);
  c("diskinv_agent_events_coalesced_total", "Events merged into an earlier one", events_coalesced);
  c("diskinv_agent_reprobes_total", "Coalesced events applied (device re-probes)", reprobes);
  c("diskinv_agent_resyncs_total", "Full walks after lost events", resyncs);
  c("diskinv_agent_periodic_resyncs_total", "Full walks of the periodic resync", periodic_resyncs);
  c("diskinv_agent_full_walks_total", "Full walks, the first one included", full_walks);
  c("diskinv_agent_inventory_changes_total", "Events and walks that changed the inventory",
    inventory_changes);
  g("diskinv_agent_devices", "Devices in the inventory", devices);
  c("diskinv_agent_db_transactions_total", "Committed transactions", db_transactions);
  c("diskinv_agent_rows_inserted_total", "Rows inserted", rows_inserted);
  c("diskinv_agent_rows_updated_total", "Rows updated in place", rows_updated);
  c("diskinv_agent_rows_revived_total", "Tombstones revived", rows_revived);
  c("diskinv_agent_rows_moved_total", "Rows moved in from another node", rows_moved);
  c("diskinv_agent_rows_tombstoned_total", "Rows tombstoned", rows_tombstoned);
  c("diskinv_agent_edges_written_total", "Holder edges added or removed", edges_written);
  c("diskinv_agent_conflicts_written_total", "Identity conflicts opened or resolved",
    conflicts_written);
  c("diskinv_agent_writes_skipped_total", "Devices whose row was already equal (no write)",
    writes_skipped);
  c("diskinv_agent_etag_retries_total", "Optimistic-lock races lost and retried", etag_retries);
  c("diskinv_agent_db_errors_total", "Failed database syncs", db_errors);
  c("diskinv_agent_db_reconnects_total", "Successful reconnections", reconnects);
  g("diskinv_agent_db_connected", "1 while the database answers", db_connected);
  g("diskinv_agent_db_behind", "1 while the database lags the inventory", db_behind);
  g("diskinv_agent_last_full_scan_seconds", "Unix time of the last full walk", last_full_scan);
  v.OnHistogram("diskinv_agent_db_write_seconds", "Transaction latency, BEGIN to COMMIT",
                db_write_latency);
  c("diskinv_agent_tuning_passes_total", "Passes over the node's desired queue tuning",
    tuning_passes);
  c("diskinv_agent_tuning_writes_total", "Queue attribute values written to sysfs", tuning_writes);
  c("diskinv_agent_tuning_rejected_total", "Tuning rows with a rejected value, per pass",
    tuning_rejected);
  c("diskinv_agent_tuning_drift_total", "Tuning rows found drifted, per pass", tuning_drift);
  c("diskinv_agent_tuning_errors_total", "Failed tuning passes and rows", tuning_errors);
  g("diskinv_agent_tuning_connected", "1 while the tuning connection (LISTEN) is up",
    tuning_connected);
}

}  // namespace diskinv
