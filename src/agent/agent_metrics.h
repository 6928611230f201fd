// AgentMetrics: the agent's metric set (names, help, labels: docs/metrics.md) registered on a
// MetricsRegistry, and the calls that feed it from the counters the agent's parts already keep
// (UeventSourceStats, CoalescerStats, an Inventory) or from events the agent sees (a database
// write took 3 ms, a reconnect, a resync). Every call is cheap (atomics; a map lookup at most)
// and meant for the agent's own thread; the metrics server renders concurrently.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "agent/metrics.h"
#include "model/inventory.h"
#include "uevent/coalescer.h"
#include "uevent/uevent_source.h"

namespace diskinv {

class AgentMetrics {
 public:
  // Registers every metric; fails only if a name is already taken in `registry`.
  static Result<std::unique_ptr<AgentMetrics>> Register(MetricsRegistry* registry,
                                                        std::string_view version);

  // Mirrors a source's counters ("kernel", "udev"); call after its Receive().
  void UpdateSource(std::string_view source, const UeventSourceStats& stats);
  void UpdateCoalescer(const CoalescerStats& stats);

  // (state, transport) -> number of disks; replaces the previous counts (pairs not given
  // drop to 0). CountDisks gives the present whole disks of an inventory, by transport.
  using DiskCounts = std::map<std::pair<std::string, std::string>, int64_t>;
  void SetDisks(const DiskCounts& counts);
  static DiskCounts CountDisks(const Inventory& inventory);

  // One full walk and diff, with its reason: "startup", "periodic", "signal", or a source's
  // ResyncReason ("overflow", "seqnum_gap", "truncated", "burst").
  void CountResync(std::string_view reason);
  void SetLastFullScan(std::chrono::system_clock::time_point when);

  // One change written (its transaction, commit included), or skipped because nothing changed.
  void ObserveDbWrite(std::chrono::duration<double> latency);
  void CountDbWriteSkipped() { db_writes_skipped_->Inc(); }
  void CountDbWriteFailed() { db_writes_failed_->Inc(); }
  void CountDbReconnect() { db_reconnects_->Inc(); }
  void SetDbUp(bool up) { db_up_->Set(up ? 1 : 0); }

  // How far the change feed the agent follows trails the server.
  void SetCdcLag(std::string_view slot, std::chrono::duration<double> lag, uint64_t bytes);

 private:
  struct SourceChildren {
    CounterMetric *received, *accepted, *filtered, *enobufs, *seqnum_gaps, *lost;
    std::map<UeventReject, CounterMetric*> rejected;
  };
  AgentMetrics() = default;
  SourceChildren& Source(std::string_view source);

  GaugeFamily* disks_ = nullptr;
  CounterFamily *received_ = nullptr, *accepted_ = nullptr, *filtered_ = nullptr,
                *rejected_ = nullptr, *enobufs_ = nullptr, *seqnum_gaps_ = nullptr,
                *lost_ = nullptr, *resyncs_ = nullptr;
  CounterMetric *coalesced_ = nullptr, *coalescer_dropped_ = nullptr, *bursts_ = nullptr;
  GaugeMetric* last_full_scan_ = nullptr;
  HistogramMetric* db_write_seconds_ = nullptr;
  CounterMetric *db_writes_ = nullptr, *db_writes_skipped_ = nullptr, *db_writes_failed_ = nullptr,
                *db_reconnects_ = nullptr;
  GaugeMetric* db_up_ = nullptr;
  GaugeFamily *cdc_lag_seconds_ = nullptr, *cdc_lag_bytes_ = nullptr;

  std::map<std::string, SourceChildren, std::less<>> sources_;
  std::set<std::pair<std::string, std::string>> disk_keys_;  // every pair ever set
};

// Upper bounds of diskinv_db_write_duration_seconds (0.5 ms .. 10 s; the target p99 is 20 ms).
inline constexpr double kDbWriteBuckets[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
                                             0.1,    0.25,  0.5,   1,     2.5,  10};

}  // namespace diskinv
