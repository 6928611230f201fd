// uevent_storm: storms of real uevents through diskinv's real pipeline (NetlinkSocket ->
// Coalescer -> LiveInventory re-probing sysfs and the udev db), measured. Not a test: it
// prints what it saw; bench/uevent_storm runs every scenario several times and keeps medians.
//
//   uevent_storm loops|zram [--cycles 1000]       (a) loop-control add/remove, zram hot_add/remove
//   uevent_storm burst [--writes 20000] [--udevd] (b) "change" writes as fast as possible
//   uevent_storm lossy [--rcvbuf 65536] [--slow-us 50]  (c) small buffer + slowed handler
//   uevent_storm drain [--writes 20000]           queue filled while the pipeline waits, then
//   drained uevent_storm latency [--samples 200] [--udevd]  idle event -> state; udevd's delay as
//   the peer common: --runs N (default 3), --devices N (loop devices, default 4)
//
// Needs root, /dev/loop-control and zram. Runs under `flock /tmp/diskinv-test.lock` (the
// script does that): concurrent uevent tests would disturb both.
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "agent/live_inventory.h"
#include "common/parse.h"
#include "support/loop_device.h"
#include "support/udevd.h"
#include "sysfs/real_sysfs_reader.h"
#include "sysfs/walker.h"
#include "uevent/coalescer.h"
#include "uevent/netlink_socket.h"
#include "uevent/udev_monitor.h"

namespace diskinv {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "uevent_storm: %s\n", msg.c_str());
  std::exit(1);
}

template <typename T>
T Check(Result<T> r, const char* what) {
  if (!r.ok()) Die(fmt::format("{}: {}", what, r.status().message()));
  return std::move(r).value();
}

void Check(const Status& s, const char* what) {
  if (!s.ok()) Die(fmt::format("{}: {}", what, s.message()));
}

std::string ReadSys(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) Die("open " + path);
  char buf[256];
  ssize_t n = read(fd, buf, sizeof buf);
  close(fd);
  std::string s(buf, n > 0 ? n : 0);
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

void WriteSys(const std::string& path, const std::string& value) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, value.data(), value.size()) != static_cast<ssize_t>(value.size())) {
    Die(fmt::format("write {} to {}: {}", value, path, std::strerror(errno)));
  }
  close(fd);
}

uint64_t KernelSeqnum() { return std::stoull(ReadSys("/sys/kernel/uevent_seqnum")); }

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// ---------------------------------------------------------------------------------------------
// The agent's pipeline on its own thread, instrumented.

struct PipelineOptions {
  int rcvbuf = 128 << 20;
  int slow_us = 0;            // busy work per received event, to make the handler slow
  bool udev_monitor = false;  // also timestamp udevd's broadcasts (the peer), not processed
  bool paused = false;        // open everything but do not read until Resume()
};

class Pipeline {
 public:
  explicit Pipeline(PipelineOptions o) : o_(o) {
    NetlinkSocketOptions nl;
    nl.receive_buffer_bytes = o.rcvbuf;
    nl.subsystems = {"block"};
    kernel_ = Check(NetlinkSocket::Open(nl), "kernel socket");
    if (o.udev_monitor) udev_ = Check(UdevMonitor::Open(), "udev monitor");
    reader_ = Check(RealSysfsReader::Open("/"), "sysroot");
    walker_ = std::make_unique<Walker>(*reader_, WalkOptions{.all = true, .udev = true});
    live_ = std::make_unique<LiveInventory>(*walker_, LiveInventory::Options{.keep_devices = true});
    live_->Resync();
    stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    paused_ = o.paused;
    Touch();
    thread_ = std::thread([this] { Run(); });
  }
  ~Pipeline() {
    if (thread_.joinable()) Stop();
    close(stop_fd_);
  }

  void Resume() {
    std::lock_guard lock(mu_);
    paused_ = false;
    cv_.notify_all();
  }
  // Waits until nothing arrived or was applied for `quiet`, nothing is pending and the idle
  // check ran. False on `limit`.
  bool WaitQuiet(milliseconds quiet, milliseconds limit) {
    auto end = Clock::now() + limit;
    while (Clock::now() < end) {
      auto since = Clock::now() - Clock::time_point(Clock::duration(last_activity_.load()));
      if (since >= quiet && !pending_.load() && idle_checked_.load()) return true;
      std::this_thread::sleep_for(milliseconds(5));
    }
    return false;
  }
  bool StopWhenQuiet(milliseconds quiet, milliseconds limit) {
    bool ok = WaitQuiet(quiet, limit);
    Stop();
    return ok;
  }
  // Waits until udevd broadcast an event with SEQNUM >= `seqnum`.
  bool WaitForUdev(uint64_t seqnum, milliseconds limit) {
    auto end = Clock::now() + limit;
    while (Clock::now() < end) {
      if (udev_max_seqnum_.load() >= seqnum) return true;
      std::this_thread::sleep_for(milliseconds(5));
    }
    return false;
  }
  void Stop() {
    uint64_t one = 1;
    (void)!write(stop_fd_, &one, sizeof one);
    Resume();
    thread_.join();
  }
  uint64_t received() const { return received_.load(); }
  uint64_t last_seqnum() const { return kernel_max_seqnum_.load(); }

  // Results: read after Stop().
  struct Seen {
    uint64_t seqnum;
    Clock::time_point at;
  };
  std::vector<Seen> events;  // block events received
  std::unordered_map<std::string, Clock::time_point> synth_received, synth_applied, synth_udev;
  std::vector<Seen> udev_events;
  std::vector<Clock::time_point> walk_starts;
  std::vector<Resync> source_resyncs;
  Clock::time_point last_received{}, last_applied{};
  uint64_t applies = 0;
  const NetlinkSocket& kernel() const { return *kernel_; }
  const Coalescer& coalescer() const { return coalescer_; }
  const LiveInventory& live() const { return *live_; }

 private:
  void Touch() { last_activity_ = Clock::now().time_since_epoch().count(); }
  void Push(std::vector<SourceEvent>& got, Clock::time_point at) {
    for (SourceEvent& e : got) {
      if (auto* u = std::get_if<Uevent>(&e)) {
        events.push_back({u->seqnum, at});
        kernel_max_seqnum_ = std::max(kernel_max_seqnum_.load(), u->seqnum);
        if (u->synth_uuid && *u->synth_uuid != "0") synth_received.emplace(*u->synth_uuid, at);
        if (o_.slow_us > 0) {
          auto until = Clock::now() + std::chrono::microseconds(o_.slow_us);
          while (Clock::now() < until) {
          }
        }
      } else {
        source_resyncs.push_back(std::get<Resync>(e));
      }
      coalescer_.Push(std::move(e));
    }
    received_ += got.size();
    if (!got.empty()) last_received = at;
  }
  void Apply() {
    for (CoalescerOutput& out : coalescer_.Poll()) {
      Clock::time_point start = Clock::now();
      live_->Apply(out);
      Clock::time_point done = Clock::now();
      ++applies;
      last_applied = done;
      if (const auto* c = std::get_if<CoalescedEvent>(&out)) {
        if (c->event.synth_uuid) synth_applied.emplace(*c->event.synth_uuid, done);
      } else {
        walk_starts.push_back(start);
      }
      Touch();
    }
    pending_ = coalescer_.NextDeadline().has_value();
  }
  void Run() {
    constexpr auto kIdleCheck = milliseconds(100);
    bool active = true;
    for (;;) {
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return !paused_; });
      }
      int timeout = 100;
      Clock::time_point now = Clock::now();
      if (auto d = coalescer_.NextDeadline()) {
        timeout = static_cast<int>(
            std::clamp<int64_t>(std::chrono::ceil<milliseconds>(*d - now).count(), 0, timeout));
      }
      pollfd fds[3] = {
          {kernel_->fd(), POLLIN, 0}, {stop_fd_, POLLIN, 0}, {udev_ ? udev_->fd() : -1, POLLIN, 0}};
      poll(fds, 3, timeout);
      if (fds[1].revents & POLLIN) return;
      bool any = false;
      if (fds[0].revents & POLLIN) {
        Clock::time_point at = Clock::now();
        std::vector<SourceEvent> got = Check(kernel_->Receive(), "kernel receive");
        Push(got, at);
        any = true;
      }
      if (udev_ && (fds[2].revents & POLLIN)) {
        Clock::time_point at = Clock::now();
        for (SourceEvent& e : Check(udev_->Receive(), "udev receive")) {
          if (auto* u = std::get_if<Uevent>(&e)) {
            udev_events.push_back({u->seqnum, at});
            udev_max_seqnum_ = std::max(udev_max_seqnum_.load(), u->seqnum);
            if (u->synth_uuid && *u->synth_uuid != "0") synth_udev.emplace(*u->synth_uuid, at);
          }
        }
      }
      Apply();
      if (any) {
        Touch();
        active = true;
        idle_checked_ = false;
      } else if (active &&
                 Clock::now() - Clock::time_point(Clock::duration(last_activity_)) >= kIdleCheck) {
        // Quiet: the kernel's counter tells whether the tail of a burst was lost.
        std::vector<SourceEvent> got = Check(kernel_->CheckIdle(), "idle check");
        Push(got, Clock::now());
        Apply();
        active = !got.empty();
        idle_checked_ = !active;
      }
    }
  }

  PipelineOptions o_;
  std::unique_ptr<NetlinkSocket> kernel_;
  std::unique_ptr<UdevMonitor> udev_;
  std::unique_ptr<RealSysfsReader> reader_;
  std::unique_ptr<Walker> walker_;
  std::unique_ptr<LiveInventory> live_;
  Coalescer coalescer_;
  int stop_fd_ = -1;
  std::mutex mu_;
  std::condition_variable cv_;
  bool paused_ = false;
  std::atomic<int64_t> last_activity_{0};
  std::atomic<bool> pending_{false}, idle_checked_{false};
  std::atomic<uint64_t> received_{0}, udev_max_seqnum_{0}, kernel_max_seqnum_{0};
  std::thread thread_;
};

// Whether the live inventory equals a fresh full walk; prints the difference when not.
bool Exact(const Pipeline& p) {
  auto reader = Check(RealSysfsReader::Open("/"), "sysroot");
  Walker w(*reader, {.all = true, .udev = true});
  InventoryDiff d = DiffInventories(p.live().inventory(), w.WalkAll());
  if (d.empty()) return true;
  std::fprintf(stderr, "  inventory differs from a fresh walk: +%zu -%zu ~%zu\n", d.added.size(),
               d.removed.size(), d.changed.size());
  for (const auto& c : d.changed) {
    for (const auto& f : c.changes) {
      std::fprintf(stderr, "    %s %s: %s -> %s\n", c.kname.c_str(), f.field.c_str(),
                   FieldValueToString(f.before).c_str(), FieldValueToString(f.after).c_str());
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Scenarios. Each returns named metrics; main() prints them per run and their medians.

using Metrics = std::vector<std::pair<std::string, double>>;

struct Args {
  std::string scenario;
  int runs = 3, cycles = 1000, writes = 20000, devices = 4, rcvbuf = 65536, slow_us = 50,
      samples = 200;
  bool udevd = false;
};

std::string SourceLine(const Pipeline& p) {
  const UeventSourceStats& s = p.kernel().stats();
  const CoalescerStats& c = p.coalescer().stats();
  return fmt::format(
      "events seen {}, ENOBUFS {}, SEQNUM gaps {}, tail losses {}, lost {}, source resyncs {}; "
      "coalescer: {} re-probes, {} bursts, {} walks",
      p.events.size(), s.overflows, s.seqnum_gaps, s.tail_losses, s.lost, s.resyncs, c.emitted,
      c.bursts, p.walk_starts.size());
}

void AddSourceMetrics(Metrics& m, const Pipeline& p) {
  const UeventSourceStats& s = p.kernel().stats();
  m.push_back({"events_seen", static_cast<double>(p.events.size())});
  m.push_back({"enobufs", static_cast<double>(s.overflows)});
  m.push_back({"seqnum_gaps", static_cast<double>(s.seqnum_gaps)});
  m.push_back({"tail_losses", static_cast<double>(s.tail_losses)});
  m.push_back({"lost", static_cast<double>(s.lost)});
  m.push_back({"walks", static_cast<double>(p.walk_starts.size())});
}

// (a) add/remove cycles: loop devices through /dev/loop-control, or zram hot_add/hot_remove.
Metrics AddRemove(const Args& a, bool zram) {
  Pipeline p({});
  uint64_t before = KernelSeqnum();
  Clock::time_point start = Clock::now();
  for (int i = 0; i < a.cycles; ++i) {
    if (zram) {
      std::string id = ReadSys("/sys/class/zram-control/hot_add");
      WriteSys("/sys/class/zram-control/hot_remove", id);
    } else {
      int idx = Check(testing::LoopControlAdd(), "LOOP_CTL_ADD");
      Check(testing::LoopControlRemove(idx), "LOOP_CTL_REMOVE");
    }
  }
  Clock::time_point last = Clock::now();
  bool quiet = p.StopWhenQuiet(milliseconds(300), milliseconds(60000));
  uint64_t after = KernelSeqnum();
  size_t mine = std::count_if(p.events.begin(), p.events.end(),
                              [&](const Pipeline::Seen& s) { return s.seqnum > before; });
  double secs = Ms(last - start) / 1000;
  bool exact = Exact(p);
  std::printf("  %d %s cycles in %.2f s: %.0f block events/s; %s; kernel SEQNUM +%lu\n", a.cycles,
              zram ? "zram hot_add/hot_remove" : "loop-control add/remove", secs,
              static_cast<double>(mine) / secs, SourceLine(p).c_str(),
              static_cast<unsigned long>(after - before));
  // The ioctl or sysfs write returns well after its event went out (device teardown), so the
  // last event's receipt is the reference here.
  std::printf("  state final %.1f ms after the last event was received; inventory %s%s\n",
              Ms(p.last_applied - p.last_received), exact ? "== fresh walk" : "DIFFERS",
              quiet ? "" : " (never quiet)");
  Metrics m = {{"block_events", static_cast<double>(mine)},
               {"expected", 2.0 * a.cycles},
               {"events_per_s", static_cast<double>(mine) / secs}};
  AddSourceMetrics(m, p);
  m.push_back({"final_ms", Ms(p.last_applied - p.last_received)});
  m.push_back({"exact", exact ? 1 : 0});
  return m;
}

std::vector<testing::LoopDevice> AttachLoops(int n) {
  std::vector<testing::LoopDevice> loops;
  for (int i = 0; i < n; ++i)
    loops.push_back(Check(testing::LoopDevice::Attach(1 << 20), "attach"));
  std::this_thread::sleep_for(milliseconds(200));  // let their attach events pass
  return loops;
}

// Writes `writes` "change" into the loops' uevent files round robin, as fast as one thread
// can; every writes/10 one loop grows by 1 MiB, and the very last operation is such a resize
// (a real change at the tail of the burst). Returns {first write, after the last operation}.
std::pair<Clock::time_point, Clock::time_point> Burst(std::vector<testing::LoopDevice>& loops,
                                                      int writes) {
  std::vector<int> fds;
  std::vector<uint64_t> sizes(loops.size(), 1 << 20);
  for (auto& l : loops) {
    int fd = open(("/sys/block/" + l.name() + "/uevent").c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) Die("open uevent of " + l.name());
    fds.push_back(fd);
  }
  int resize_every = std::max(1, writes / 10);
  Clock::time_point start = Clock::now();
  for (int i = 0; i < writes; ++i) {
    size_t d = static_cast<size_t>(i) % fds.size();
    if (pwrite(fds[d], "change", 6, 0) != 6) Die(fmt::format("write: {}", std::strerror(errno)));
    if ((i + 1) % resize_every == 0) {
      sizes[d] += 1 << 20;
      Check(loops[d].Resize(sizes[d]), "resize");
    }
  }
  Clock::time_point end = Clock::now();
  for (int fd : fds) close(fd);
  return {start, end};
}

// (b) and (c): a burst of change writes with the pipeline reading live.
Metrics BurstScenario(const Args& a, bool lossy) {
  std::unique_ptr<testing::Udevd> udevd;
  if (a.udevd) udevd = Check(testing::Udevd::Ensure(), "udevd");
  std::vector<testing::LoopDevice> loops = AttachLoops(a.devices);
  if (udevd) Check(udevd->Settle(), "udevadm settle");
  // Ground truth for (c): a second socket with the big buffer that only records.
  std::unique_ptr<Pipeline> ref;
  if (lossy) ref = std::make_unique<Pipeline>(PipelineOptions{});
  PipelineOptions po;
  if (lossy) {
    po.rcvbuf = a.rcvbuf;
    po.slow_us = a.slow_us;
  }
  po.udev_monitor = udevd != nullptr;
  Pipeline p(po);
  uint64_t before = KernelSeqnum();
  auto [start, last] = Burst(loops, a.writes);
  int ops = a.writes + 10;
  bool quiet = p.WaitQuiet(milliseconds(500), milliseconds(120000));
  bool exact = Exact(p);  // now: udevd may still be rewriting its database for a while
  uint64_t after = KernelSeqnum();
  bool udev_done = udevd && p.WaitForUdev(p.last_seqnum(), milliseconds(180000));
  p.Stop();
  if (ref) ref->StopWhenQuiet(milliseconds(100), milliseconds(60000));
  double secs = Ms(last - start) / 1000;
  Metrics m = {{"write_rate", ops / secs}};
  std::printf("  %d writes + 10 resizes in %.3f s (%.0f events/s produced)\n", a.writes, secs,
              ops / secs);
  std::printf("  %s\n", SourceLine(p).c_str());
  AddSourceMetrics(m, p);
  double lag = Ms(p.last_received - last), final_ms = Ms(p.last_applied - last);
  std::printf(
      "  last event received %.1f ms, state final %.1f ms after the last event; "
      "inventory %s%s\n",
      lag, final_ms, exact ? "== fresh walk" : "DIFFERS", quiet ? "" : " (never quiet)");
  m.push_back({"receive_lag_ms", lag});
  m.push_back({"final_ms", final_ms});
  m.push_back({"exact", exact ? 1 : 0});
  if (!lossy) {
    uint64_t mine = std::count_if(p.events.begin(), p.events.end(),
                                  [&](const Pipeline::Seen& s) { return s.seqnum > before; });
    std::printf("  kernel SEQNUM +%lu, block events received after the start %lu (expected %d)\n",
                static_cast<unsigned long>(after - before), static_cast<unsigned long>(mine), ops);
    m.push_back({"events_lost", static_cast<double>(ops) - static_cast<double>(mine)});
  }
  if (udevd) {
    // udevd's side: when its broadcast of the last event arrived, and how many it sent.
    std::optional<Clock::time_point> udev_last;
    size_t udev_mine = 0;
    for (const auto& s : p.udev_events) {
      if (s.seqnum <= before) continue;
      ++udev_mine;
      udev_last = s.at;
    }
    double udev_ms = udev_last ? Ms(*udev_last - last) : -1;
    std::printf(
        "  udevd (side by side): broadcast %zu of our %d events, the last %.0f ms after "
        "the last event (%.0f events/s)%s\n",
        udev_mine, ops, udev_ms,
        udev_last ? static_cast<double>(udev_mine) / (Ms(*udev_last - start) / 1000) : 0,
        udev_done ? "" : " (did not finish within 180 s)");
    m.push_back({"udevd_final_ms", udev_ms});
    m.push_back({"udevd_events", static_cast<double>(udev_mine)});
  }
  if (lossy) {
    // Every block event the reference saw but the pipeline did not is lost; consecutive lost
    // events (no received one between) form an episode, which a walk started after its last
    // event must cover.
    std::map<uint64_t, Clock::time_point> ref_at;
    for (const auto& s : ref->events) ref_at[s.seqnum] = s.at;
    std::unordered_map<uint64_t, bool> received;
    for (const auto& s : p.events) received[s.seqnum] = true;
    size_t lost = 0, episodes = 0, covered = 0;
    bool in_episode = false;
    Clock::time_point episode_end{};
    auto close_episode = [&] {
      if (!in_episode) return;
      ++episodes;
      if (std::any_of(p.walk_starts.begin(), p.walk_starts.end(),
                      [&](Clock::time_point w) { return w >= episode_end; })) {
        ++covered;
      }
      in_episode = false;
    };
    for (const auto& [seq, at] : ref_at) {
      if (received.count(seq)) {
        close_episode();
      } else {
        ++lost;
        in_episode = true;
        episode_end = at;
      }
    }
    close_episode();
    const UeventSourceStats& rs = ref->kernel().stats();
    std::printf(
        "  reference socket: %zu block events, ENOBUFS %lu, gaps %lu; lost by the "
        "pipeline: %zu in %zu episodes, %zu covered by a later walk\n",
        ref->events.size(), static_cast<unsigned long>(rs.overflows),
        static_cast<unsigned long>(rs.seqnum_gaps), lost, episodes, covered);
    m.push_back({"episodes", static_cast<double>(episodes)});
    m.push_back({"episodes_covered", static_cast<double>(covered)});
    m.push_back({"events_lost", static_cast<double>(lost)});
  }
  return m;
}

// Queue filled while the pipeline does not read, then drained with the full per-event work.
Metrics Drain(const Args& a) {
  std::vector<testing::LoopDevice> loops = AttachLoops(a.devices);
  Pipeline p({.paused = true});
  Burst(loops, a.writes);
  uint64_t ops = static_cast<uint64_t>(a.writes) + 10;
  std::this_thread::sleep_for(milliseconds(100));
  Clock::time_point resume = Clock::now();
  p.Resume();
  Clock::time_point drained{};
  while (Clock::now() - resume < std::chrono::seconds(60)) {
    if (p.received() >= ops) {
      drained = Clock::now();
      break;
    }
    std::this_thread::yield();
  }
  p.StopWhenQuiet(milliseconds(300), milliseconds(60000));
  bool exact = Exact(p);
  // The pipeline's own timestamp of its last receive is the precise end of the drain.
  double drain_ms = Ms(p.last_received - resume);
  double rate = static_cast<double>(p.events.size()) / (drain_ms / 1000);
  std::printf("  %lu queued events drained in %.1f ms: %.0f events/s; %s\n",
              static_cast<unsigned long>(ops), drain_ms, rate, SourceLine(p).c_str());
  std::printf("  state final %.1f ms after the drain started; inventory %s%s\n",
              Ms(p.last_applied - resume), exact ? "== fresh walk" : "DIFFERS",
              drained == Clock::time_point{} ? " (not all events arrived)" : "");
  Metrics m = {{"drain_events_per_s", rate}, {"drain_ms", drain_ms}};
  AddSourceMetrics(m, p);
  m.push_back({"final_ms", Ms(p.last_applied - resume)});
  m.push_back({"exact", exact ? 1 : 0});
  return m;
}

// Idle events, one at a time, each on a device that had no event for 80 ms (leading edge):
// time from the write() that makes the kernel send it to the updated inventory, and udevd's
// own kernel -> broadcast delay for the same events.
Metrics Latency(const Args& a) {
  std::unique_ptr<testing::Udevd> udevd;
  if (a.udevd) udevd = Check(testing::Udevd::Ensure(), "udevd");
  std::vector<testing::LoopDevice> loops = AttachLoops(a.devices);
  if (udevd) Check(udevd->Settle(), "udevadm settle");
  Pipeline p({.udev_monitor = udevd != nullptr});
  std::this_thread::sleep_for(milliseconds(200));
  struct Sent {
    std::string uuid;
    Clock::time_point start, returned;  // of the write(): the kernel broadcasts within it
  };
  std::vector<Sent> sent;
  std::vector<int> fds;
  for (const auto& l : loops) {
    fds.push_back(open(("/sys/block/" + l.name() + "/uevent").c_str(), O_WRONLY | O_CLOEXEC));
  }
  for (int i = 0; i < a.samples; ++i) {
    std::string text = fmt::format("change 00000000-0000-4000-8000-{:012x}", i + 1);
    Clock::time_point start = Clock::now();
    if (pwrite(fds[static_cast<size_t>(i) % fds.size()], text.data(), text.size(), 0) !=
        static_cast<ssize_t>(text.size())) {
      Die(fmt::format("write: {}", std::strerror(errno)));
    }
    sent.push_back({text.substr(7), start, Clock::now()});
    std::this_thread::sleep_for(milliseconds(80 / a.devices));
  }
  for (int fd : fds) close(fd);
  std::this_thread::sleep_for(milliseconds(200));
  p.StopWhenQuiet(milliseconds(200), milliseconds(30000));
  std::vector<double> total, after_write, deliver, ours, udev;
  for (const Sent& s : sent) {
    auto r = p.synth_received.find(s.uuid), ap = p.synth_applied.find(s.uuid);
    if (r == p.synth_received.end() || ap == p.synth_applied.end()) continue;
    total.push_back(Ms(ap->second - s.start));
    after_write.push_back(Ms(ap->second - s.returned));
    deliver.push_back(Ms(r->second - s.start));
    ours.push_back(Ms(ap->second - r->second));
    if (auto u = p.synth_udev.find(s.uuid); u != p.synth_udev.end()) {
      udev.push_back(Ms(u->second - r->second));
    }
  }
  std::printf("  %zu of %d samples applied one by one\n", total.size(), a.samples);
  auto show = [](const char* what, const std::vector<double>& v) {
    std::printf("  %-44s p50 %.3f ms  p99 %.3f ms  max %.3f ms\n", what, Percentile(v, 0.5),
                Percentile(v, 0.99), v.empty() ? 0 : *std::max_element(v.begin(), v.end()));
  };
  show("write() called -> inventory updated:", total);
  show("write() returned -> inventory updated:", after_write);
  show("write() called -> received on our socket:", deliver);
  show("received -> inventory updated (diskinv):", ours);
  if (udevd) show("kernel -> udevd broadcast received (peer):", udev);
  Metrics m = {{"applied", static_cast<double>(total.size())},
               {"write_to_state_p50_ms", Percentile(total, 0.5)},
               {"write_to_state_p99_ms", Percentile(total, 0.99)},
               {"returned_to_state_p50_ms", Percentile(after_write, 0.5)},
               {"returned_to_state_p99_ms", Percentile(after_write, 0.99)},
               {"recv_to_state_p50_ms", Percentile(ours, 0.5)},
               {"recv_to_state_p99_ms", Percentile(ours, 0.99)}};
  if (udevd) {
    m.push_back({"udevd_delay_p50_ms", Percentile(udev, 0.5)});
    m.push_back({"udevd_delay_p99_ms", Percentile(udev, 0.99)});
  }
  return m;
}

int Main(int argc, char** argv) {
  Args a;
  if (argc < 2 || std::string(argv[1]) == "-h" || std::string(argv[1]) == "--help") {
    std::printf(
        "usage: uevent_storm loops|zram|burst|lossy|drain|latency [--runs N] "
        "[--cycles N] [--writes N] [--devices N] [--rcvbuf BYTES] [--slow-us N] "
        "[--samples N] [--udevd]\n");
    return argc < 2 ? 2 : 0;
  }
  a.scenario = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string k = argv[i];
    auto num = [&]() {
      if (i + 1 >= argc) Die(k + " needs a value");
      return static_cast<int>(Check(ParseU64(argv[++i]), k.c_str()));
    };
    if (k == "--runs") {
      a.runs = num();
    } else if (k == "--cycles") {
      a.cycles = num();
    } else if (k == "--writes") {
      a.writes = num();
    } else if (k == "--devices") {
      a.devices = std::max(1, num());
    } else if (k == "--rcvbuf") {
      a.rcvbuf = num();
    } else if (k == "--slow-us") {
      a.slow_us = num();
    } else if (k == "--samples") {
      a.samples = num();
    } else if (k == "--udevd") {
      a.udevd = true;
    } else {
      Die("unknown argument " + k);
    }
  }
  if (geteuid() != 0) Die("needs root");
  std::map<std::string, std::vector<double>> all;
  std::vector<std::string> order;
  for (int run = 1; run <= a.runs; ++run) {
    std::printf("%s run %d/%d\n", a.scenario.c_str(), run, a.runs);
    std::fflush(stdout);
    Metrics m;
    if (a.scenario == "loops" || a.scenario == "zram") {
      m = AddRemove(a, a.scenario == "zram");
    } else if (a.scenario == "burst" || a.scenario == "lossy") {
      m = BurstScenario(a, a.scenario == "lossy");
    } else if (a.scenario == "drain") {
      m = Drain(a);
    } else if (a.scenario == "latency") {
      m = Latency(a);
    } else {
      Die("unknown scenario " + a.scenario);
    }
    for (auto& [k, v] : m) {
      if (!all.count(k)) order.push_back(k);
      all[k].push_back(v);
    }
    std::fflush(stdout);
  }
  std::printf("%s: medians over %d runs:", a.scenario.c_str(), a.runs);
  for (const auto& k : order) {
    double med = Percentile(all[k], 0.5);
    std::printf(" %s=%s", k.c_str(),
                med == static_cast<double>(static_cast<int64_t>(med))
                    ? fmt::format("{}", static_cast<int64_t>(med)).c_str()
                    : fmt::format("{:.3f}", med).c_str());
  }
  std::printf("\n");
  return 0;
}

}  // namespace
}  // namespace diskinv

int main(int argc, char** argv) { return diskinv::Main(argc, argv); }
