// Agent: the node daemon (`diskinv agent`, docs/agent.md).
//
// Start: open the uevent sources first (so nothing that happens during the walk is lost), walk
// the sysroot, connect, register the node, write the difference (InventoryStore::Sync). Then
// one loop on one thread:
//   poll(kernel socket, udev monitor, signalfd, wake eventfd) with a timeout for the next
//   coalescer deadline, periodic resync, reconnect attempt and watchdog ping;
//   events -> Coalescer -> LiveInventory -> InventoryStore::Sync, one transaction per change;
//   a Resync from the coalescer (ENOBUFS, SEQNUM gap, burst) or the periodic timer: full walk,
//   full diff, and a record on the node (last_full_scan, missed_events, resyncs) unless it was
//   a periodic walk that found nothing (no idle writes).
// Database down or restarted: LiveInventory stays exact (state, not a queue of events); the
// agent retries with exponential backoff (reconnect_min doubling to reconnect_max, +-20%
// jitter) and, when the database answers again, writes the difference in one full Sync.
// SIGTERM/SIGINT: the transaction in progress finishes, the loop ends. SIGHUP: the config is
// read again; a bad one is logged and the running one kept. sd_notify READY/STATUS/WATCHDOG
// when $NOTIFY_SOCKET is set. Counters of everything are in counters() (AgentCounters).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/agent_config.h"
#include "agent/agent_counters.h"
#include "agent/sd_notify.h"
#include "model/inventory_diff.h"
#include "store/inventory_store.h"

namespace diskinv {

class LiveInventory;
class LiveSource;
class Walker;
class RealSysfsReader;
class Coalescer;
class UeventSource;
struct Uevent;

// What the first walk and sync did, for `--once` and the startup log line.
struct StartupReport {
  size_t devices = 0;
  std::chrono::duration<double> walk{0}, sync{0};
  bool synced = false;
  WriteStats stats;
  NodeRef node;
  std::string hostname;
};

// Work that follows the inventory plugs in here, on the agent thread: the metrics
// (agent_metrics.h) and the desired-tuning applier (tuning_observer.h). Any number may be
// added (Agent::AddObserver); each gets every call, in the order they were added. Calls must
// be quick; they run in the loop.
class AgentObserver {
 public:
  virtual ~AgentObserver() = default;
  // After the first walk and the first database attempt (report.synced: it succeeded).
  virtual void OnStarted(const StartupReport&) {}
  // After every (re)registration of the node: the store may be used for reads and for writes
  // of other tables until the call returns.
  virtual void OnNodeRegistered(const NodeRef&, InventoryStore&) {}
  // After an event or a walk changed the inventory. `committed`: the database holds it now;
  // false while the database is down (it will get the difference later, in one sync).
  virtual void OnInventoryChanged(const LiveInventory&, const InventoryDiff&, bool /*committed*/) {}
  // Once per loop iteration while the database holds the inventory (no write pending): the
  // store's connection may be used for quick reads until the call returns.
  virtual void OnStoreIdle(const NodeRef&, InventoryStore&) {}
  // Once per loop iteration (at least every second).
  virtual void OnTick(std::chrono::steady_clock::time_point) {}
};

// Fans every call out to the observers added, in order.
class AgentObservers final : public AgentObserver {
 public:
  void Add(AgentObserver* o) {
    if (o != nullptr) list_.push_back(o);
  }
  const std::vector<AgentObserver*>& list() const { return list_; }

  void OnStarted(const StartupReport& r) override {
    for (auto* o : list_) o->OnStarted(r);
  }
  void OnNodeRegistered(const NodeRef& n, InventoryStore& s) override {
    for (auto* o : list_) o->OnNodeRegistered(n, s);
  }
  void OnInventoryChanged(const LiveInventory& inv, const InventoryDiff& d,
                          bool committed) override {
    for (auto* o : list_) o->OnInventoryChanged(inv, d, committed);
  }
  void OnStoreIdle(const NodeRef& n, InventoryStore& s) override {
    for (auto* o : list_) o->OnStoreIdle(n, s);
  }
  void OnTick(std::chrono::steady_clock::time_point t) override {
    for (auto* o : list_) o->OnTick(t);
  }

 private:
  std::vector<AgentObserver*> list_;
};

struct AgentOptions {
  AgentConfig config;
  std::string config_path;       // re-read on SIGHUP / Reload(); empty: environment only
  bool config_explicit = false;  // the path was given: it must exist
  ConfigOverrides overrides;     // command-line options, applied again on reload
  bool once = false;             // stop after the first full sync (fails if it cannot write)
  bool handle_signals = true;    // block TERM/INT/HUP in this thread and read them (signalfd)
};

class Agent {
 public:
  explicit Agent(AgentOptions options);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Runs until Stop(), SIGTERM/SIGINT, or (once) the first sync. Fails when it cannot start
  // (unreadable sysroot, no machine-id, an event source that was asked for cannot be opened)
  // or, with once, when the database cannot be written.
  Status Run();
  // Thread-safe; the loop wakes up and ends after the transaction in progress.
  void Stop();
  // Thread-safe; as SIGHUP.
  void Reload();

  // Agent thread only (from an observer): re-probe one device soon, as if it had an event.
  void RequestReprobe(const std::string& kname);

  // Before Run(); the observer must outlive it.
  void AddObserver(AgentObserver* observer) { observers_.Add(observer); }
  const AgentCounters& counters() const { return counters_; }
  AgentCounters& counters() { return counters_; }  // observers count their own work here
  const StartupReport& startup() const { return startup_; }
  const AgentConfig& config() const { return opt_.config; }

 private:
  enum class LoopEnd { kStop, kRestart };
  using TimePoint = std::chrono::steady_clock::time_point;

  Status Start();
  void Teardown();
  Status OpenSources();
  LoopEnd Loop();
  void ReadSource(bool kernel);  // closes the source when it is broken
  void CountSourceStats(bool kernel);
  void CloseSource(bool kernel, const Status& why);
  // ~100 ms after a source went quiet: UeventSource::CheckIdle (loss at the tail of a burst).
  void CheckIdleSources(TimePoint now);
  // A kernel "add" of a device udevd has not processed yet (see agent.cc).
  bool AwaitsUdev(const Uevent& event) const;
  // The uevent self-check (uevent/self_check.h) on the open sources; see AgentConfig.
  void SelfCheck(std::string_view why);
  std::string SelfCheckDevice(bool* udev_sees_it) const;
  void ApplyCoalesced();
  void Walk(bool resync, uint64_t lost, std::string_view why);
  void WriteChange(const InventoryDiff& diff, bool full);
  bool TryDatabase();
  void DatabaseFailed(const Status& s);
  void RecordSync(const WriteStats& st);
  bool HandleReload();  // true: restart (sysroot, sources or node identity changed)
  void UpdateStatus();
  StoreOptions MakeStoreOptions();
  void PingWatchdog(TimePoint now);

  AgentOptions opt_;
  AgentCounters counters_;
  SdNotifier notify_;
  AgentObservers observers_;
  AgentObserver* observer_ = &observers_;
  StartupReport startup_;
  int signal_fd_ = -1;
  int wake_fd_ = -1;
  std::atomic<bool> stop_{false}, reload_{false};

  std::unique_ptr<RealSysfsReader> root_;
  std::unique_ptr<Walker> walker_;
  std::unique_ptr<LiveInventory> live_;
  std::unique_ptr<LiveSource> source_;  // the store's view of live_: re-probes (live_source.h)
  // The index built during the last walk, while the inventory has not changed since: the full
  // Sync that follows takes it instead of walking again.
  std::optional<NodeIndex> walked_;
  std::unique_ptr<UeventSource> kernel_, udev_;
  std::string udev_tag_;  // the udev monitor's tag filter in effect ("" none)
  struct IdleCheck {
    bool armed = false;  // the source had activity since its last idle check
    TimePoint due{};
  } kernel_idle_, udev_idle_;
  // Self-check: failed means degraded (walk every self_check_retry, then check again).
  bool self_check_failed_ = false;
  std::string self_check_error_;
  TimePoint next_self_check_{};
  std::unique_ptr<Coalescer> coalescer_;
  std::unique_ptr<InventoryStore> store_;
  NodeInfo node_info_;
  std::optional<NodeRef> node_;
  std::vector<std::string> reprobe_;  // RequestReprobe, applied in the loop

  // Database state: `behind` while the inventory has changes the database does not.
  bool behind_ = true;
  bool ever_connected_ = false;
  int failures_ = 0;
  TimePoint next_db_attempt_{};
  TimePoint down_since_{}, last_down_warning_{};
  std::string last_db_error_;
  // A finished walk not yet recorded on the node.
  std::optional<FullScanRecord> scan_;
  bool scan_due_ = false;  // scan_ is written with the next Sync, even one that writes nothing
  TimePoint next_resync_{}, next_watchdog_{};
  // Last values of the sources' and coalescer's own cumulative counters (for deltas).
  struct SourceSeen {
    uint64_t accepted = 0, rejected = 0, overflows = 0, gaps = 0, tail_losses = 0;
  } kernel_seen_, udev_seen_;
  uint64_t coalesced_seen_ = 0;
};

}  // namespace diskinv
