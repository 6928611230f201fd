// Coalescer: turns the event stream of one or more UeventSources into re-probe work.
//
//  - Leading edge: the first event of a device that had no event for `window` is due at once,
//    so an idle event costs a probe and no wait (`leading_edge`, on by default).
//  - Trailing edge: further events of that device are held for a debounce window (default
//    50 ms) after its last event, and at most `max_delay` after the first held one, so a storm
//    of change events for one disk becomes two re-probes (the first event at once, the rest
//    merged after the storm) and a never-ending storm still makes progress.
//  - change-like actions (change, online, offline, bind, unbind) merge into the run before
//    them; add, remove and move start a new run, so add -> remove -> add is emitted in order.
//    A move re-keys the device's pending runs from DEVPATH_OLD to DEVPATH.
//  - More than `burst_threshold` events within `burst_window`, more than `max_pending` devices
//    pending, or a Resync from a source: everything pending is dropped and one Resync is
//    emitted once the stream has been quiet for `window` (or after `max_delay`), so the
//    consumer walks the tree after the storm, not during it. Events that arrive while such a
//    Resync is pending are covered by it.
// Time comes from an injectable clock; the Coalescer never sleeps: callers poll its fd-less
// deadline (NextDeadline) and call Poll(). Not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "uevent/uevent_source.h"

namespace diskinv {

using CoalescerClock = std::function<std::chrono::steady_clock::time_point()>;

struct CoalescerOptions {
  std::chrono::milliseconds window{50};
  std::chrono::milliseconds max_delay{500};
  size_t burst_threshold = 5000;  // events per burst_window; 0 disables burst detection
  std::chrono::milliseconds burst_window{1000};
  size_t max_pending = 16384;  // devices with pending runs
  // Emit the first event of an idle device at once (see above); false: every event waits.
  bool leading_edge = true;
};

// One re-probe: the run's first event (its action is the run's action) and how many source
// events it stands for (1 + the change-like events merged into it).
struct CoalescedEvent {
  Uevent event;
  uint32_t merged = 1;
  uint64_t last_seqnum = 0;  // SEQNUM of the newest merged event
};
using CoalescerOutput = std::variant<CoalescedEvent, Resync>;

struct CoalescerStats {
  uint64_t received = 0;         // events pushed
  uint64_t coalesced = 0;        // events merged into an earlier run
  uint64_t emitted = 0;          // CoalescedEvents returned
  uint64_t resyncs = 0;          // Resyncs returned
  uint64_t resync_requests = 0;  // Resyncs pushed by sources
  uint64_t bursts = 0;           // burst episodes detected
  uint64_t dropped = 0;          // events dropped because a Resync covers them
};

class Coalescer {
 public:
  explicit Coalescer(CoalescerOptions options = {}, CoalescerClock clock = nullptr);

  void Push(SourceEvent event);
  void Push(std::vector<SourceEvent> events);
  // Everything due now, in order: per device in arrival order; devices in deadline order.
  std::vector<CoalescerOutput> Poll();
  // Everything pending regardless of deadlines (shutdown, tests).
  std::vector<CoalescerOutput> Flush();
  // When Poll() will next have something; nullopt when nothing is pending.
  std::optional<std::chrono::steady_clock::time_point> NextDeadline() const;
  size_t pending_devices() const { return devices_.size(); }
  const CoalescerStats& stats() const { return stats_; }

 private:
  using TimePoint = std::chrono::steady_clock::time_point;
  struct Device {
    std::deque<CoalescedEvent> runs;
    TimePoint first, last;
    uint64_t order;          // arrival of the first pending event, to break deadline ties
    bool immediate = false;  // leading edge: due at `first`
  };
  TimePoint Deadline(const Device& d) const;
  TimePoint ResyncDeadline() const;
  void PushEvent(Uevent ev, TimePoint now);
  void StartResync(Resync r, TimePoint now);
  std::vector<CoalescerOutput> Collect(TimePoint now, bool all);

  CoalescerOptions options_;
  CoalescerClock clock_;
  std::map<std::string, Device, std::less<>> devices_;
  // Last event time of devices with nothing pending, to tell an idle device from a storm;
  // entries older than `window` are pruned.
  std::map<std::string, TimePoint, std::less<>> recent_;
  TimePoint pruned_{};
  uint64_t next_order_ = 0;
  // Pending resync: the first reason wins; `lost` accumulates.
  std::optional<Resync> resync_;
  TimePoint resync_first_, resync_last_;
  TimePoint burst_start_{};
  size_t burst_count_ = 0;
  CoalescerStats stats_;
};

}  // namespace diskinv
