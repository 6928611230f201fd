// AgentCounters: every number the agent keeps about its own work, in one struct that any
// thread may read while the agent runs (relaxed atomics; each value is exact, a set of values
// read together is not a snapshot). The Prometheus endpoint (src/agent/metrics*) exports them
// through ForEach without knowing the fields: a new counter is one member and one line in
// ForEach.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string_view>

namespace diskinv {

class Counter {
 public:
  void Add(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

class Gauge {
 public:
  void Set(double v) { v_.store(v, std::memory_order_relaxed); }
  double value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

// Cumulative histogram of durations with fixed bounds (Prometheus "le" buckets, seconds).
class LatencyHistogram {
 public:
  static constexpr std::array<double, 14> kBounds = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
                                                     0.1,    0.25,  0.5,   1,     2.5,  5,    10};
  void Observe(std::chrono::nanoseconds d);
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum_seconds() const { return sum_ns_.load(std::memory_order_relaxed) / 1e9; }
  // Observations <= kBounds[i] (cumulative); i == kBounds.size() is +Inf.
  uint64_t cumulative(size_t i) const;
  // Upper bound of the bucket holding quantile q (0..1); 0 when empty. For logs.
  double QuantileBound(double q) const;

 private:
  std::array<std::atomic<uint64_t>, kBounds.size() + 1> buckets_{};
  std::atomic<uint64_t> count_{0}, sum_ns_{0};
};

class MetricVisitor {
 public:
  virtual ~MetricVisitor() = default;
  virtual void OnCounter(std::string_view name, std::string_view help, uint64_t value) = 0;
  virtual void OnGauge(std::string_view name, std::string_view help, double value) = 0;
  virtual void OnHistogram(std::string_view name, std::string_view help,
                           const LatencyHistogram& h) = 0;
};

struct AgentCounters {
  // uevent sources (kernel netlink, libudev monitor).
  Counter kernel_events;    // accepted kernel uevents (block subsystem)
  Counter udev_events;      // accepted udev events
  Counter events_rejected;  // malformed, truncated or untrusted datagrams, dropped
  Counter enobufs;          // receive-queue overflows (ENOBUFS)
  Counter seqnum_gaps;      // kernel SEQNUM gaps or regressions
  Counter events_lost;      // events known lost (SEQNUM gap sizes, events a burst dropped)
  Counter tail_losses;      // losses at the end of a burst, found by the idle check
  Counter events_deferred;  // kernel events left to udev's own (no udev record yet)
  // Self-check (a synthetic event round trip through every source).
  Gauge self_check_ok;          // 1 after a passing check, 0 after a failing one
  Counter self_check_failures;  // failed checks (start-up and retries)
  Gauge self_check_seconds;     // slowest source's round trip in the last passing check
  // Coalescer and inventory.
  Counter events_coalesced;   // events merged into an earlier one for the same device
  Counter reprobes;           // coalesced events applied (device re-probes)
  Counter resyncs;            // full walks because events were or may have been lost
  Counter periodic_resyncs;   // full walks of the periodic resync
  Counter full_walks;         // all full walks, the first one included
  Counter inventory_changes;  // applied events and walks that changed the inventory
  Gauge devices;              // devices in the inventory
  // Store.
  Counter db_transactions;  // committed
  Counter rows_inserted, rows_updated, rows_revived, rows_moved, rows_tombstoned;
  Counter edges_written, conflicts_written;
  Counter writes_skipped;             // devices diffed whose row was already equal: no write
  Counter etag_retries;               // optimistic-lock races lost and retried
  Counter db_errors;                  // failed syncs (database down, SQL errors)
  Counter reconnects;                 // successful (re)connections after the first
  Gauge db_connected;                 // 1 while the last database call succeeded
  Gauge db_behind;                    // 1 while the inventory has changes the database does not
  Gauge last_full_scan;               // unix time of the last full walk
  LatencyHistogram db_write_latency;  // BEGIN to COMMIT of each transaction
  // Queue tuning (TuningObserver: desired values from the database applied to sysfs).
  Counter tuning_passes;    // passes over the node's desired tuning rows
  Counter tuning_writes;    // attribute values written to sysfs
  Counter tuning_rejected;  // rows with a value rejected (not written), per pass
  Counter tuning_drift;     // rows found drifted from the desired values, per pass
  Counter tuning_errors;    // failed passes and rows whose apply failed
  Gauge tuning_connected;   // 1 while the tuning connection (LISTEN) is up

  void ForEach(MetricVisitor& v) const;
};

}  // namespace diskinv
