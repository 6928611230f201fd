#include "agent/agent_metrics.h"

#include <fmt/format.h>

namespace diskinv {
namespace {

// Result<T*> -> T*, keeping the first error.
template <typename T>
T* Take(Result<T*> r, Status* first_error) {
  if (!r.ok()) {
    if (first_error->ok()) *first_error = r.status();
    return nullptr;
  }
  return *r;
}

}  // namespace

Result<std::unique_ptr<AgentMetrics>> AgentMetrics::Register(MetricsRegistry* r,
                                                             std::string_view version) {
  std::unique_ptr<AgentMetrics> m(new AgentMetrics());
  Status err;
  GaugeFamily* build =
      Take(r->AddGauge("diskinv_build_info", "Always 1; the version label is this agent's version",
                       {"version"}),
           &err);
  m->disks_ = Take(r->AddGauge("diskinv_disks",
                               "Whole disks by state (present, removed) and transport (nvme, "
                               "sas, sata, virtio, ...; none when the kernel reports none)",
                               {"state", "transport"}),
                   &err);
  m->received_ = Take(r->AddCounter("diskinv_uevents_received_total",
                                    "Datagrams read from an event source, good or bad", {"source"}),
                      &err);
  m->accepted_ = Take(r->AddCounter("diskinv_uevents_accepted_total",
                                    "Events parsed, trusted and passed on", {"source"}),
                      &err);
  m->filtered_ = Take(r->AddCounter("diskinv_uevents_filtered_total",
                                    "Valid events outside the subsystem filter", {"source"}),
                      &err);
  m->rejected_ = Take(
      r->AddCounter("diskinv_uevents_rejected_total",
                    "Datagrams dropped as malformed or untrusted, by reason", {"source", "reason"}),
      &err);
  m->enobufs_ =
      Take(r->AddCounter("diskinv_uevent_enobufs_total",
                         "Receive queue overflows (ENOBUFS): events were lost", {"source"}),
           &err);
  m->seqnum_gaps_ = Take(r->AddCounter("diskinv_uevent_seqnum_gaps_total",
                                       "Gaps or regressions of the kernel's SEQNUM", {"source"}),
                         &err);
  m->lost_ = Take(r->AddCounter("diskinv_uevents_lost_total",
                                "Events known lost (sum of the SEQNUM gap sizes)", {"source"}),
                  &err);
  CounterFamily* coalesced =
      Take(r->AddCounter("diskinv_uevents_coalesced_total",
                         "Events merged by the coalescer into an earlier event of the same device"),
           &err);
  CounterFamily* dropped =
      Take(r->AddCounter("diskinv_uevents_dropped_total",
                         "Events the coalescer dropped because a full resync covers them"),
           &err);
  CounterFamily* bursts =
      Take(r->AddCounter("diskinv_uevent_bursts_total",
                         "Event storms answered with a full resync instead of one probe per event"),
           &err);
  m->resyncs_ = Take(r->AddCounter("diskinv_resyncs_total",
                                   "Full walks and diffs, by reason (startup, periodic, signal, "
                                   "overflow, seqnum_gap, truncated, burst)",
                                   {"reason"}),
                     &err);
  GaugeFamily* last_scan = Take(r->AddGauge("diskinv_last_full_scan_timestamp_seconds",
                                            "Unix time at which the last full walk finished"),
                                &err);
  HistogramFamily* db_write =
      Take(r->AddHistogram("diskinv_db_write_duration_seconds",
                           "Time to write one observed change: its transaction, commit included",
                           {std::begin(kDbWriteBuckets), std::end(kDbWriteBuckets)}),
           &err);
  CounterFamily* writes = Take(
      r->AddCounter("diskinv_db_writes_total", "Changes written (one transaction each)"), &err);
  CounterFamily* skipped =
      Take(r->AddCounter("diskinv_db_writes_skipped_total",
                         "Probes whose result equalled the stored rows: nothing written"),
           &err);
  CounterFamily* failed =
      Take(r->AddCounter("diskinv_db_write_failures_total",
                         "Transactions that failed (kept in memory and retried after reconnect)"),
           &err);
  CounterFamily* reconnects = Take(
      r->AddCounter("diskinv_db_reconnects_total", "Database connections re-established"), &err);
  GaugeFamily* up =
      Take(r->AddGauge("diskinv_db_up", "1 while the database connection works, else 0"), &err);
  m->cdc_lag_seconds_ = Take(
      r->AddGauge("diskinv_cdc_lag_seconds",
                  "Time between the server's latest commit and the last one processed, by slot",
                  {"slot"}),
      &err);
  m->cdc_lag_bytes_ = Take(
      r->AddGauge("diskinv_cdc_lag_bytes",
                  "WAL bytes between the server's current position and the slot's confirmed one",
                  {"slot"}),
      &err);
  if (!err.ok()) return err;
  build->WithLabels({std::string(version)}).Set(1);
  m->coalesced_ = &coalesced->Get();
  m->coalescer_dropped_ = &dropped->Get();
  m->bursts_ = &bursts->Get();
  m->last_full_scan_ = &last_scan->Get();
  m->db_write_seconds_ = &db_write->Get();
  m->db_writes_ = &writes->Get();
  m->db_writes_skipped_ = &skipped->Get();
  m->db_writes_failed_ = &failed->Get();
  m->db_reconnects_ = &reconnects->Get();
  m->db_up_ = &up->Get();
  // Known label values start at 0, so rate() and absent() work from the first scrape.
  for (const char* reason :
       {"startup", "periodic", "signal", "overflow", "seqnum_gap", "truncated", "burst"}) {
    m->resyncs_->WithLabels({reason});
  }
  return m;
}

AgentMetrics::SourceChildren& AgentMetrics::Source(std::string_view source) {
  auto it = sources_.find(source);
  if (it != sources_.end()) return it->second;
  std::string s(source);
  SourceChildren c{.received = &received_->WithLabels({s}),
                   .accepted = &accepted_->WithLabels({s}),
                   .filtered = &filtered_->WithLabels({s}),
                   .enobufs = &enobufs_->WithLabels({s}),
                   .seqnum_gaps = &seqnum_gaps_->WithLabels({s}),
                   .lost = &lost_->WithLabels({s}),
                   .rejected = {}};
  for (size_t i = 1; i < kUeventRejectCount; ++i) {
    auto reason = static_cast<UeventReject>(i);
    c.rejected[reason] = &rejected_->WithLabels({s, std::string(ToString(reason))});
  }
  return sources_.emplace(std::move(s), std::move(c)).first->second;
}

void AgentMetrics::UpdateSource(std::string_view source, const UeventSourceStats& stats) {
  SourceChildren& c = Source(source);
  c.received->Set(stats.datagrams);
  c.accepted->Set(stats.accepted);
  c.filtered->Set(stats.filtered);
  c.enobufs->Set(stats.overflows);
  c.seqnum_gaps->Set(stats.seqnum_gaps);
  c.lost->Set(stats.lost);
  for (auto& [reason, counter] : c.rejected) counter->Set(stats.rejected.count(reason));
}

void AgentMetrics::UpdateCoalescer(const CoalescerStats& stats) {
  coalesced_->Set(stats.coalesced);
  coalescer_dropped_->Set(stats.dropped);
  bursts_->Set(stats.bursts);
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

AgentMetrics::DiskCounts AgentMetrics::CountDisks(const Inventory& inventory) {
  DiskCounts counts;
  for (const BlockDevice& d : inventory.devices()) {
    if (d.is_partition || d.hidden) continue;
    std::string tran = d.tran && !d.tran->empty() ? *d.tran : "none";
    ++counts[{"present", tran}];
  }
  return counts;
}

void AgentMetrics::CountResync(std::string_view reason) {
  resyncs_->WithLabels({std::string(reason)}).Inc();
}

void AgentMetrics::SetLastFullScan(std::chrono::system_clock::time_point when) {
  last_full_scan_->Set(std::chrono::duration<double>(when.time_since_epoch()).count());
}

void AgentMetrics::ObserveDbWrite(std::chrono::duration<double> latency) {
  db_write_seconds_->Observe(latency.count());
  db_writes_->Inc();
}

void AgentMetrics::SetCdcLag(std::string_view slot, std::chrono::duration<double> lag,
                             uint64_t bytes) {
  std::string s(slot);
  cdc_lag_seconds_->WithLabels({s}).Set(lag.count());
  cdc_lag_bytes_->WithLabels({s}).Set(static_cast<double>(bytes));
}

}  // namespace diskinv
