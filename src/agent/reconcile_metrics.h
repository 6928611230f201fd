// ReconcileMetrics: what `diskinv reconcile --metrics-listen HOST:PORT` serves (names and
// meanings: docs/metrics.md), registered on a MetricsRegistry:
//   - diskinv_build_info{version};
//   - diskinv_cdc_lag_seconds / diskinv_cdc_lag_bytes{slot}: how far the controller's change
//     feed trails the server, set by the command from GetCdcLag (cdc/slot_manager.h);
//   - diskinv_reconcile_* (the Reconciler's counters) and diskinv_cdc_* (its CdcConsumer's),
//     read at scrape time through a collector: they are atomics.
#pragma once

#include <chrono>
#include <memory>
#include <string_view>

#include "agent/metrics.h"
#include "cdc/cdc_consumer.h"
#include "reconcile/reconciler.h"

namespace diskinv {

class ReconcileMetrics {
 public:
  // `reconciler` and `consumer` (either may be null) must outlive the registry's use.
  static Result<std::unique_ptr<ReconcileMetrics>> Register(MetricsRegistry* registry,
                                                            std::string_view version,
                                                            const ReconcilerStats* reconciler,
                                                            const ConsumerStats* consumer);

  void SetCdcLag(std::string_view slot, std::chrono::duration<double> lag, uint64_t bytes);

 private:
  ReconcileMetrics() = default;
  GaugeFamily *lag_seconds_ = nullptr, *lag_bytes_ = nullptr;
};

// Writes the counters through MetricsWriter (the collector Register adds).
void WriteReconcilerStats(const ReconcilerStats& s, MetricsWriter& w);
void WriteConsumerStats(const ConsumerStats& s, MetricsWriter& w);

}  // namespace diskinv
