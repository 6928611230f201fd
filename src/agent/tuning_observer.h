// TuningObserver: the queue tuning of `diskinv agent` (config key `tuning`, on by default).
// It runs a TuningAgent (tuning_agent.h: desired values from diskinv.disk_tuning, validated,
// written to sysfs, observed values and rejections reported) on a thread of its own, so that
// database round trips and sysfs writes never hold up the event loop, and follows the agent as
// one of its AgentObservers:
//   - OnNodeRegistered: the node is known; (re)connect with its machine id;
//   - OnInventoryChanged (committed): a disk appeared, came back or changed, or a full walk
//     ran: a pass soon (a returning disk has the kernel's default queue settings again: drift);
//   - OnTick: follows the configuration (tuning on/off, database_url, sysroot) after SIGHUP.
// The thread also wakes on NOTIFY diskinv_tuning for this node (the controller changed a
// desired row). A pass covers every desired row of the node; passes after inventory changes
// are at least `change_delay` apart (one pass per burst), after notifications
// `notify_delay`. A failed connection or pass is retried with backoff (common/backoff.h).
// Counters go to AgentCounters (tuning_*), so the metrics endpoint shows them.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "agent/agent.h"

namespace diskinv {

struct TuningObserverOptions {
  std::chrono::milliseconds change_delay{2000};  // min. time between change-driven passes
  std::chrono::milliseconds notify_delay{200};   // min. time between notify-driven passes
  std::chrono::milliseconds reconnect_min{500};
  std::chrono::milliseconds reconnect_max{30000};
};

class TuningObserver final : public AgentObserver {
 public:
  // `agent` gives the configuration (read on the agent thread) and the counters; it must
  // outlive this object. The thread starts at once and idles until the node is registered.
  explicit TuningObserver(Agent* agent, TuningObserverOptions options = {});
  ~TuningObserver() override;  // stops the thread after the pass in progress
  TuningObserver(const TuningObserver&) = delete;
  TuningObserver& operator=(const TuningObserver&) = delete;

  void OnNodeRegistered(const NodeRef& node, InventoryStore&) override;
  void OnInventoryChanged(const LiveInventory&, const InventoryDiff&, bool committed) override;
  void OnTick(std::chrono::steady_clock::time_point) override;

 private:
  struct Settings {
    bool enabled = false;
    std::string url, sysroot, machine_id;
    bool operator==(const Settings&) const = default;
  };
  void Run();
  void Wake();

  Agent* agent_;
  AgentCounters& counters_;
  TuningObserverOptions opt_;
  std::mutex mu_;
  Settings settings_;     // guarded by mu_
  bool changed_ = false;  // guarded by mu_: an inventory change asks for a pass
  bool stop_ = false;     // guarded by mu_
  int wake_fd_ = -1;      // eventfd: interrupts the thread's poll on the LISTEN socket
  std::thread thread_;
};

}  // namespace diskinv
