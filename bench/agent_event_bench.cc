// Event -> committed row latency of the agent on a real loop device (issue 4: p99 < 20 ms).
//
// One iteration: LOOP_SET_CAPACITY gives a loop device a new size; the kernel sends a change
// uevent; the agent (in-process, defaults but for the database) coalesces, re-probes, and
// commits the row. The time runs from just before the ioctl to the agent's commit of the row
// with the new size (the observer hook, called after COMMIT returned). Side by side, in the
// same iterations: when the kernel uevent reached a plain netlink listener (the floor: what any
// listener sees) and when udevd's event did (as `udevadm monitor --udev`). The database is a
// private PostgreSQL with production settings (fsync on, synchronous_commit on) in /var/tmp.
//
//   sudo build/bench/agent_event_bench --benchmark_repetitions=3
//   sudo DISKINV_COALESCE_WINDOW=2ms build/bench/agent_event_bench    (other settings)
//
// Needs root (loop devices, netlink) and postgresql-15; starts a udevd when none runs.
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>

#include "agent/agent.h"
#include "agent/live_inventory.h"
#include "store/embedded_postgres.h"
#include "store/migrations.h"
#include "support/loop_device.h"
#include "support/udevd.h"
#include "uevent/netlink_socket.h"
#include "uevent/udev_monitor.h"

namespace diskinv {
namespace {

using Clock = std::chrono::steady_clock;

// Records when the agent committed a given size for a given device.
class CommitWatch : public AgentObserver {
 public:
  void Expect(const std::string& kname, uint64_t size) {
    std::lock_guard l(mu_);
    kname_ = kname;
    size_ = size;
    at_.reset();
  }
  void OnInventoryChanged(const LiveInventory& inv, const InventoryDiff&, bool committed) override {
    if (!committed) return;
    std::lock_guard l(mu_);
    const BlockDevice* d = inv.Probed(kname_);  // the device the event probed
    if (!at_ && d && d->size_bytes == size_) {
      at_ = Clock::now();
      cv_.notify_all();
    }
  }
  std::optional<Clock::time_point> Wait(std::chrono::milliseconds timeout) {
    std::unique_lock l(mu_);
    cv_.wait_for(l, timeout, [&] { return at_.has_value(); });
    return at_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::string kname_;
  uint64_t size_ = 0;
  std::optional<Clock::time_point> at_;
};

// Reads both listeners until each delivered an event of `devpath`; their arrival times.
std::pair<std::optional<Clock::time_point>, std::optional<Clock::time_point>> Arrivals(
    UeventSource& kernel, UeventSource& udev, const std::string& devpath,
    std::chrono::milliseconds timeout) {
  std::optional<Clock::time_point> at[2];
  UeventSource* src[2] = {&kernel, &udev};
  auto deadline = Clock::now() + timeout;
  while ((!at[0] || !at[1]) && Clock::now() < deadline) {
    pollfd p[2] = {{kernel.fd(), POLLIN, 0}, {udev.fd(), POLLIN, 0}};
    poll(p, 2, 10);
    auto now = Clock::now();
    for (int i = 0; i < 2; ++i) {
      if (!(p[i].revents & POLLIN)) continue;
      auto got = src[i]->Receive();
      if (!got.ok()) return {};
      for (auto& e : *got) {
        if (auto* u = std::get_if<Uevent>(&e); u && u->devpath == devpath && !at[i]) at[i] = now;
      }
    }
  }
  return {at[0], at[1]};
}

double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

void BM_EventToCommit(benchmark::State& state) {
  if (geteuid() != 0) {
    state.SkipWithError("needs root");
    return;
  }
  auto udevd = testing::Udevd::Ensure();  // the running one, or one of our own
  if (!udevd.ok()) {
    state.SkipWithError(udevd.status().message().c_str());
    return;
  }
  std::string dir = fmt::format("/var/tmp/diskinv-bench-pg.{}", getpid());
  EmbeddedPostgresOptions po;
  po.state_dir = dir;
  po.port = 55441;
  auto pg = EmbeddedPostgres::Start(po);
  if (!pg.ok()) {
    state.SkipWithError(pg.status().message().c_str());
    return;
  }
  {
    auto c = PgConnection::Connect((*pg)->url());
    if (!c.ok() || !Migrate(**c).ok()) {
      state.SkipWithError("migration failed");
      return;
    }
  }
  auto kernel = NetlinkSocket::Open({.receive_buffer_bytes = 8 << 20, .subsystems = {"block"}});
  auto udev = UdevMonitor::Open({});
  if (!kernel.ok() || !udev.ok()) {
    state.SkipWithError("cannot open the uevent listeners");
    return;
  }
  auto loop = testing::LoopDevice::Attach(64 << 20);
  if (!loop.ok()) {
    state.SkipWithError(loop.status().message().c_str());
    return;
  }
  AgentOptions opt;
  // Defaults, or DISKINV_* variables (DISKINV_COALESCE_WINDOW=2ms ...) to compare settings.
  if (Status s = ApplyAgentEnvironment([](const char* n) { return std::getenv(n); }, opt.config);
      !s.ok()) {
    state.SkipWithError(s.message().c_str());
    return;
  }
  opt.config.database_url = (*pg)->url();
  opt.handle_signals = false;
  CommitWatch watch;
  Agent agent(opt);
  agent.AddObserver(&watch);
  std::thread runner([&] { (void)agent.Run(); });
  // Let the first walk and sync finish and the attach events drain.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  (void)(*kernel)->Receive(100000);
  (void)(*udev)->Receive(100000);

  std::vector<double> commit_ms, kernel_ms, udev_ms;
  uint64_t size = 64 << 20;
  for (auto _ : state) {
    size = size == (64u << 20) ? (72u << 20) : (64u << 20);
    watch.Expect(loop->name(), size);
    auto t0 = Clock::now();
    if (!loop->Resize(size).ok()) {
      state.SkipWithError("resize failed");
      break;
    }
    auto [k, u] = Arrivals(**kernel, **udev, loop->devpath(), std::chrono::milliseconds(2000));
    auto c = watch.Wait(std::chrono::milliseconds(2000));
    if (!k || !c || !u) {
      std::string why = fmt::format("within 2 s: kernel event {}, udev event {}, commit {}",
                                    k ? "yes" : "no", u ? "yes" : "no", c ? "yes" : "no");
      state.SkipWithError(why.c_str());
      break;
    }
    auto ms = [&](Clock::time_point t) {
      return std::chrono::duration<double, std::milli>(t - t0).count();
    };
    commit_ms.push_back(ms(*c));
    kernel_ms.push_back(ms(*k));
    udev_ms.push_back(ms(*u));
    state.SetIterationTime(ms(*c) / 1000);
    // Quiet gap so that iterations do not coalesce into each other.
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
  }
  agent.Stop();
  runner.join();
  state.counters["commit_p50_ms"] = Quantile(commit_ms, 0.5);
  state.counters["commit_p99_ms"] = Quantile(commit_ms, 0.99);
  state.counters["commit_max_ms"] = Quantile(commit_ms, 1.0);
  state.counters["kernel_p50_ms"] = Quantile(kernel_ms, 0.5);
  state.counters["udev_p50_ms"] = Quantile(udev_ms, 0.5);
  state.counters["udev_p99_ms"] = Quantile(udev_ms, 0.99);
  state.counters["db_txn_p50_le_ms"] = agent.counters().db_write_latency.QuantileBound(0.5) * 1000;
  loop->Detach();
  (*pg)->Stop();
  std::filesystem::remove_all(dir);
}

BENCHMARK(BM_EventToCommit)->Iterations(200)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace diskinv
