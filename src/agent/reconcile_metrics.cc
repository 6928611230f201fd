#include "agent/reconcile_metrics.h"

namespace diskinv {

void WriteReconcilerStats(const ReconcilerStats& s, MetricsWriter& w) {
  w.WriteCounter("diskinv_reconcile_changes_total", "Change events seen", s.changes.load());
  w.WriteCounter("diskinv_reconcile_disks_total", "Disk reconciliations", s.disks.load());
  w.WriteCounter("diskinv_reconcile_claims_total", "Disks claimed into a pool", s.claims.load());
  w.WriteCounter("diskinv_reconcile_claim_conflicts_total",
                 "Claims not made because of an identity conflict", s.claim_conflicts.load());
  w.WriteCounter("diskinv_reconcile_releases_total", "Claims released after the grace period",
                 s.releases.load());
  w.WriteCounter("diskinv_reconcile_tuning_writes_total", "Desired tuning rows written",
                 s.tuning_writes.load());
  w.WriteCounter("diskinv_reconcile_tuning_deletes_total", "Desired tuning rows removed",
                 s.tuning_deletes.load());
  w.WriteCounter("diskinv_reconcile_lost_races_total", "Optimistic-lock races lost and retried",
                 s.lost_races.load());
  w.WriteCounter("diskinv_reconcile_full_passes_total", "Passes over every disk",
                 s.full_passes.load());
}

void WriteConsumerStats(const ConsumerStats& s, MetricsWriter& w) {
  w.WriteCounter("diskinv_cdc_transactions_total", "Transactions handled", s.transactions.load());
  w.WriteCounter("diskinv_cdc_changes_total", "Row changes handled", s.changes.load());
  w.WriteCounter("diskinv_cdc_handler_errors_total", "Handler calls that failed and were retried",
                 s.handler_errors.load());
  w.WriteCounter("diskinv_cdc_decode_errors_total", "Messages that could not be decoded",
                 s.decode_errors.load());
  w.WriteCounter("diskinv_cdc_sessions_total",
                 "Replication sessions started (the first one and every reconnect)",
                 s.sessions.load());
  w.WriteGauge("diskinv_cdc_queue_bytes", "Decoded changes waiting for the handler",
               static_cast<double>(s.queue_bytes.load()));
  // LSNs as numbers (pg_lsn 'X/Y' is X * 2^32 + Y); exact up to 2^53 bytes of WAL (8 PiB).
  w.WriteGauge("diskinv_cdc_received_lsn", "Last WAL position received from the server",
               static_cast<double>(s.received_lsn.load()));
  w.WriteGauge("diskinv_cdc_processed_lsn", "End LSN of the last transaction handled",
               static_cast<double>(s.processed_lsn.load()));
  w.WriteGauge("diskinv_cdc_acked_lsn", "Last flush LSN acknowledged to the server",
               static_cast<double>(s.acked_lsn.load()));
}

Result<std::unique_ptr<ReconcileMetrics>> ReconcileMetrics::Register(
    MetricsRegistry* r, std::string_view version, const ReconcilerStats* reconciler,
    const ConsumerStats* consumer) {
  std::unique_ptr<ReconcileMetrics> m(new ReconcileMetrics());
  if (Status st = AddBuildInfo(r, version); !st.ok()) return st;
  auto lag_s = r->AddGauge("diskinv_cdc_lag_seconds",
                           "How long the consumer trails the server (walsender flush lag; while "
                           "not streaming, the time since the stream stopped)",
                           {"slot"});
  if (!lag_s.ok()) return lag_s.status();
  m->lag_seconds_ = *lag_s;
  auto lag_b = r->AddGauge(
      "diskinv_cdc_lag_bytes",
      "WAL bytes between the server's current position and the consumer's confirmed one", {"slot"});
  if (!lag_b.ok()) return lag_b.status();
  m->lag_bytes_ = *lag_b;
  Status st = r->AddCollector([reconciler, consumer](MetricsWriter& w) {
    if (reconciler) WriteReconcilerStats(*reconciler, w);
    if (consumer) WriteConsumerStats(*consumer, w);
  });
  if (!st.ok()) return st;
  return m;
}

void ReconcileMetrics::SetCdcLag(std::string_view slot, std::chrono::duration<double> lag,
                                 uint64_t bytes) {
  std::string s(slot);
  lag_seconds_->WithLabels({s}).Set(lag.count());
  lag_bytes_->WithLabels({s}).Set(static_cast<double>(bytes));
}

}  // namespace diskinv
