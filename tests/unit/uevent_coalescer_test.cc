// Coalescer with a fake clock: debounce, storms of change, add/remove ordering, bursts, Resyncs.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "uevent/coalescer.h"

namespace diskinv {
namespace {

using std::chrono::milliseconds;
using TimePoint = std::chrono::steady_clock::time_point;

struct FakeClock {
  TimePoint now{std::chrono::seconds(1000)};
  CoalescerClock fn() {
    return [this] { return now; };
  }
  void Advance(milliseconds d) { now += d; }
};

uint64_t g_seq = 100;

Uevent Ev(UeventAction action, std::string name, std::string old_name = "") {
  std::vector<UeventProperty> props = {{"ACTION", std::string(ToString(action))},
                                       {"DEVPATH", "/devices/virtual/block/" + name},
                                       {"SUBSYSTEM", "block"},
                                       {"SEQNUM", std::to_string(++g_seq)}};
  if (!old_name.empty()) props.push_back({"DEVPATH_OLD", "/devices/virtual/block/" + old_name});
  Result<Uevent> ev = UeventFromProperties(UeventOrigin::kKernel, std::move(props));
  EXPECT_TRUE(ev.ok()) << ev.status().message();
  return *ev;
}

// "add loop0 x1", "resync burst lost=3": a compact view of the output for assertions.
std::vector<std::string> Show(const std::vector<CoalescerOutput>& out) {
  std::vector<std::string> s;
  for (const auto& o : out) {
    if (const auto* c = std::get_if<CoalescedEvent>(&o)) {
      std::string name = c->event.devpath.substr(c->event.devpath.rfind('/') + 1);
      s.push_back(fmt::format("{} {} x{}", ToString(c->event.action), name, c->merged));
    } else {
      const Resync& r = std::get<Resync>(o);
      s.push_back(fmt::format("resync {} lost={}", ToString(r.reason), r.lost));
    }
  }
  return s;
}

using V = std::vector<std::string>;

TEST(Coalescer, DebouncesAStormOfChangesIntoOneReprobe) {
  FakeClock clock;
  Coalescer c({.leading_edge = false}, clock.fn());
  uint64_t first = g_seq + 1;
  for (int i = 0; i < 100; ++i) {
    c.Push(Ev(UeventAction::kChange, "loop0"));
    clock.Advance(milliseconds(1));
  }
  EXPECT_TRUE(c.Poll().empty());
  ASSERT_TRUE(c.NextDeadline());
  EXPECT_EQ(*c.NextDeadline(), clock.now - milliseconds(1) + milliseconds(50));
  clock.Advance(milliseconds(48));
  EXPECT_TRUE(c.Poll().empty());
  clock.Advance(milliseconds(1));
  auto out = c.Poll();
  EXPECT_EQ(Show(out), V{"change loop0 x100"});
  const auto& ev = std::get<CoalescedEvent>(out[0]);
  EXPECT_EQ(ev.event.seqnum, first);
  EXPECT_EQ(ev.last_seqnum, g_seq);
  EXPECT_EQ(c.stats().received, 100u);
  EXPECT_EQ(c.stats().coalesced, 99u);
  EXPECT_EQ(c.stats().emitted, 1u);
  EXPECT_FALSE(c.NextDeadline());
}

TEST(Coalescer, IdleEventIsDueAtOnceAndTheStormAfterItIsDebounced) {
  FakeClock clock;
  Coalescer c({}, clock.fn());
  c.Push(Ev(UeventAction::kChange, "loop0"));
  EXPECT_EQ(c.NextDeadline(), clock.now);
  EXPECT_EQ(Show(c.Poll()), V{"change loop0 x1"});  // no wait: the device was idle
  for (int i = 0; i < 100; ++i) {
    clock.Advance(milliseconds(1));
    c.Push(Ev(UeventAction::kChange, "loop0"));
    if (i == 50) {
      c.Push(Ev(UeventAction::kAdd, "loop1"));  // another device, idle: at once
      EXPECT_EQ(Show(c.Poll()), V{"add loop1 x1"});
    }
    EXPECT_TRUE(c.Poll().empty());
  }
  clock.Advance(milliseconds(49));
  EXPECT_TRUE(c.Poll().empty());
  clock.Advance(milliseconds(1));
  EXPECT_EQ(Show(c.Poll()), V{"change loop0 x100"});
  // 50 ms after its last event the device is idle again: at once.
  c.Push(Ev(UeventAction::kChange, "loop0"));
  EXPECT_EQ(Show(c.Poll()), V{"change loop0 x1"});
  // 49 ms after it, not yet: debounced.
  clock.Advance(milliseconds(49));
  c.Push(Ev(UeventAction::kChange, "loop0"));
  EXPECT_TRUE(c.Poll().empty());
  clock.Advance(milliseconds(50));
  EXPECT_EQ(Show(c.Poll()), V{"change loop0 x1"});
  clock.Advance(milliseconds(50));
  c.Push(Ev(UeventAction::kRemove, "loop0"));
  c.Push(Ev(UeventAction::kAdd, "loop0"));  // same batch: both due at once, in order
  EXPECT_EQ(Show(c.Poll()), (V{"remove loop0 x1", "add loop0 x1"}));
  EXPECT_EQ(c.stats().emitted, 7u);
}

TEST(Coalescer, NeverEndingStormStillEmitsAfterMaxDelay) {
  FakeClock clock;
  Coalescer c({.window = milliseconds(50), .max_delay = milliseconds(200), .leading_edge = false},
              clock.fn());
  std::vector<std::string> seen;
  for (int i = 0; i < 100; ++i) {  // one change every 10 ms for 1 s: never 50 ms quiet
    c.Push(Ev(UeventAction::kChange, "loop0"));
    clock.Advance(milliseconds(10));
    for (auto& s : Show(c.Poll())) seen.push_back(s);
  }
  EXPECT_EQ(seen, (V{"change loop0 x20", "change loop0 x20", "change loop0 x20", "change loop0 x20",
                     "change loop0 x20"}));
}

TEST(Coalescer, AddRemoveOrderIsKeptAndChangesMergeIntoTheAdd) {
  FakeClock clock;
  Coalescer c({}, clock.fn());
  c.Push(Ev(UeventAction::kAdd, "loop8"));
  c.Push(Ev(UeventAction::kChange, "loop8"));
  c.Push(Ev(UeventAction::kChange, "loop8"));
  c.Push(Ev(UeventAction::kRemove, "loop8"));
  c.Push(Ev(UeventAction::kChange, "loop8"));  // after remove: its own run
  c.Push(Ev(UeventAction::kAdd, "loop8"));
  c.Push(Ev(UeventAction::kRemove, "loop8"));
  clock.Advance(milliseconds(50));
  EXPECT_EQ(Show(c.Poll()), (V{"add loop8 x3", "remove loop8 x1", "change loop8 x1", "add loop8 x1",
                               "remove loop8 x1"}));
}

TEST(Coalescer, DevicesAreIndependentAndEmittedInDeadlineOrder) {
  FakeClock clock;
  Coalescer c({.leading_edge = false}, clock.fn());
  c.Push(Ev(UeventAction::kAdd, "zram1"));
  clock.Advance(milliseconds(10));
  c.Push(Ev(UeventAction::kAdd, "loop3"));
  clock.Advance(milliseconds(30));
  c.Push(Ev(UeventAction::kChange, "zram1"));  // pushes zram1's deadline past loop3's
  clock.Advance(milliseconds(20));
  EXPECT_EQ(Show(c.Poll()), V{"add loop3 x1"});
  clock.Advance(milliseconds(30));
  EXPECT_EQ(Show(c.Poll()), V{"add zram1 x2"});
}

TEST(Coalescer, MoveCarriesPendingRunsToTheNewName) {
  FakeClock clock;
  Coalescer c({}, clock.fn());
  c.Push(Ev(UeventAction::kAdd, "a"));
  c.Push(Ev(UeventAction::kMove, "b", "a"));
  c.Push(Ev(UeventAction::kChange, "b"));
  EXPECT_EQ(c.pending_devices(), 1u);
  EXPECT_EQ(Show(c.Flush()), (V{"add a x1", "move b x2"}));
}

TEST(Coalescer, BurstBecomesOneResyncAfterTheStorm) {
  FakeClock clock;
  Coalescer c({.burst_threshold = 100, .burst_window = milliseconds(1000)}, clock.fn());
  std::vector<std::string> seen;
  for (int i = 0; i < 1000; ++i) {  // 1000 devices in 100 ms
    c.Push(Ev(UeventAction::kAdd, "loop" + std::to_string(i)));
    if (i % 10 == 0) clock.Advance(milliseconds(1));
    for (auto& s : Show(c.Poll())) seen.push_back(s);
  }
  // Idle devices pass at once (leading edge) until the threshold; the rest wait for the walk.
  ASSERT_EQ(seen.size(), 100u);
  EXPECT_EQ(seen[99], "add loop99 x1");
  clock.Advance(milliseconds(50));
  EXPECT_EQ(Show(c.Poll()), V{"resync burst lost=900"});
  EXPECT_EQ(c.stats().bursts, 1u);
  EXPECT_EQ(c.stats().resyncs, 1u);
  EXPECT_EQ(c.stats().dropped, 900u);
  EXPECT_EQ(c.pending_devices(), 0u);
  // After the storm, normal service.
  clock.Advance(milliseconds(1000));
  c.Push(Ev(UeventAction::kChange, "loop1"));
  clock.Advance(milliseconds(50));
  EXPECT_EQ(Show(c.Poll()), V{"change loop1 x1"});
}

TEST(Coalescer, TooManyPendingDevicesIsABurst) {
  FakeClock clock;
  Coalescer c({.burst_threshold = 0, .max_pending = 10}, clock.fn());
  for (int i = 0; i < 11; ++i) c.Push(Ev(UeventAction::kAdd, "d" + std::to_string(i)));
  EXPECT_EQ(Show(c.Flush()), V{"resync burst lost=11"});
}

TEST(Coalescer, SourceResyncsSupersedePendingEventsAndMergeIntoOne) {
  FakeClock clock;
  Coalescer c({}, clock.fn());
  c.Push(Ev(UeventAction::kAdd, "loop0"));
  c.Push(Resync{ResyncReason::kOverflow, 0, "ENOBUFS"});
  clock.Advance(milliseconds(10));
  c.Push(Ev(UeventAction::kChange, "loop1"));  // covered by the pending walk
  c.Push(Resync{ResyncReason::kSeqnumGap, 5, "gap"});
  clock.Advance(milliseconds(49));
  EXPECT_TRUE(c.Poll().empty());
  clock.Advance(milliseconds(1));
  EXPECT_EQ(Show(c.Poll()), V{"resync overflow lost=7"});
  EXPECT_EQ(c.stats().resync_requests, 2u);
  EXPECT_EQ(c.stats().resyncs, 1u);
  EXPECT_EQ(c.stats().dropped, 2u);
}

TEST(Coalescer, ZeroWindowPassesEventsThroughImmediately) {
  FakeClock clock;
  Coalescer c({.window = milliseconds(0)}, clock.fn());
  c.Push(Ev(UeventAction::kAdd, "loop0"));
  EXPECT_EQ(Show(c.Poll()), V{"add loop0 x1"});
}

}  // namespace
}  // namespace diskinv
