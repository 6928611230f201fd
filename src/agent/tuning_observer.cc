#include "agent/tuning_observer.h"

#include <fmt/format.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>

#include "agent/tuning_agent.h"
#include "agent/tuning_sysfs_writer.h"
#include "common/backoff.h"
#include "common/logging.h"
#include "sysfs/real_sysfs_reader.h"

namespace diskinv {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

spdlog::logger& Log() {
  static std::shared_ptr<spdlog::logger> log = Logger("agent");
  return *log;
}

}  // namespace

TuningObserver::TuningObserver(Agent* agent, TuningObserverOptions options)
    : agent_(agent), counters_(agent->counters()), opt_(options) {
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  // Signals stay with the agent's thread (its signalfd): the new thread blocks them all.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  thread_ = std::thread([this] { Run(); });
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

TuningObserver::~TuningObserver() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  Wake();
  thread_.join();
  if (wake_fd_ >= 0) close(wake_fd_);
}

void TuningObserver::Wake() {
  uint64_t one = 1;
  if (wake_fd_ >= 0) (void)!write(wake_fd_, &one, sizeof one);
}

void TuningObserver::OnNodeRegistered(const NodeRef& node, InventoryStore&) {
  std::lock_guard lock(mu_);
  if (settings_.machine_id == node.machine_id) return;
  settings_.machine_id = node.machine_id;
  Wake();
}

void TuningObserver::OnInventoryChanged(const LiveInventory&, const InventoryDiff&,
                                        bool committed) {
  if (!committed) return;  // the rows are not there yet; the sync that writes them calls again
  std::lock_guard lock(mu_);
  changed_ = true;
  Wake();
}

void TuningObserver::OnTick(std::chrono::steady_clock::time_point) {
  const AgentConfig& c = agent_->config();
  std::lock_guard lock(mu_);
  if (settings_.enabled == c.tuning && settings_.url == c.database_url &&
      settings_.sysroot == c.sysroot) {
    return;
  }
  settings_.enabled = c.tuning;
  settings_.url = c.database_url;
  settings_.sysroot = c.sysroot;
  Wake();
}

void TuningObserver::Run() {
  Settings current;  // what `tuning` was created with
  std::unique_ptr<RealSysfsReader> reader;
  std::unique_ptr<RealTuningSysfsWriter> writer;
  std::unique_ptr<TuningAgent> tuning;
  Backoff backoff({.initial = opt_.reconnect_min, .max = opt_.reconnect_max, .jitter = 0.2});
  Clock::time_point next_connect{}, pass_at{}, last_pass{};
  bool pass_due = false, warned = false;
  const uint64_t page_size = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  auto drop = [&](std::string_view why) {
    if (tuning) Log().info("tuning: {}", why);
    tuning.reset();
    counters_.tuning_connected.Set(0);
  };
  for (;;) {
    Settings want;
    bool changed;
    {
      std::lock_guard lock(mu_);
      if (stop_) break;
      want = settings_;
      changed = changed_;
      changed_ = false;
    }
    auto now = Clock::now();
    if (changed) {
      pass_due = true;
      pass_at = std::max({pass_at, now, last_pass + opt_.change_delay});
    }
    if (!want.enabled || want.machine_id.empty()) {
      if (tuning) drop(want.enabled ? "waiting for the node" : "turned off (tuning = off)");
    } else if (tuning && !(want == current)) {
      drop("configuration changed: reconnecting");
    }
    if (want.enabled && !want.machine_id.empty() && !tuning && now >= next_connect) {
      Status st;
      if (!(want.sysroot == current.sysroot) || !reader) {
        auto r = RealSysfsReader::Open(want.sysroot);
        auto w = RealTuningSysfsWriter::Open(want.sysroot);
        if (!r.ok()) st = r.status();
        if (!w.ok()) st = w.status();
        if (st.ok()) {
          reader = std::move(*r);
          writer = std::move(*w);
        }
      }
      if (st.ok()) {
        TuningAgentOptions o;
        o.url = want.url;
        o.machine_id = want.machine_id;
        o.page_size = page_size;
        auto t = TuningAgent::Create(o, reader.get(), writer.get());
        if (t.ok()) {
          tuning = std::move(*t);
        } else {
          st = t.status();
        }
      }
      if (st.ok()) {
        current = want;
        backoff.Reset();
        warned = false;
        pass_due = true;
        pass_at = now;
        counters_.tuning_connected.Set(1);
        Log().info("tuning: following desired queue tuning of node {} (LISTEN diskinv_tuning)",
                   tuning->node_id());
      } else {
        milliseconds wait = backoff.Next();
        next_connect = now + wait;
        if (!warned) {
          Log().warn("tuning: {}; retrying (backoff up to {} s)", st.message(),
                     opt_.reconnect_max.count() / 1000);
          warned = true;
        } else {
          Log().debug("tuning: {}; next attempt in {} ms", st.message(), wait.count());
        }
      }
    }
    now = Clock::now();
    if (tuning && pass_due && now >= pass_at) {
      auto st = tuning->SyncOnce();
      last_pass = Clock::now();
      counters_.tuning_passes.Add();
      if (st.ok()) {
        pass_due = false;
        counters_.tuning_writes.Add(st->written);
        counters_.tuning_rejected.Add(st->rejected + st->partial);
        counters_.tuning_drift.Add(st->drift);
        counters_.tuning_errors.Add(st->errors);
        auto log_level =
            st->written + st->reported > 0 ? spdlog::level::info : spdlog::level::debug;
        Log().log(log_level,
                  "tuning pass: {} disk(s): {} applied, {} partial, {} rejected, {} drift, {} "
                  "errors; {} attribute write(s), {} report(s) updated",
                  st->rows, st->applied, st->partial, st->rejected, st->drift, st->errors,
                  st->written, st->reported);
      } else {
        counters_.tuning_errors.Add();
        Log().warn("tuning pass failed: {}; reconnecting", st.status().message());
        drop("pass failed");
        next_connect = Clock::now() + backoff.Next();
      }
    }
    // Wait for: the wake eventfd, a notification, the next pass or connection attempt.
    now = Clock::now();
    Clock::time_point until = now + std::chrono::seconds(1);
    if (tuning && pass_due) until = std::min(until, pass_at);
    if (!tuning && want.enabled && !want.machine_id.empty()) until = std::min(until, next_connect);
    pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {tuning ? tuning->socket() : -1, POLLIN, 0}};
    auto ms = std::chrono::ceil<milliseconds>(std::max(until - now, Clock::duration::zero()));
    int n = poll(fds, fds[1].fd >= 0 ? 2 : 1, static_cast<int>(ms.count()));
    if (n > 0 && (fds[0].revents & POLLIN)) {
      uint64_t v;
      (void)!read(wake_fd_, &v, sizeof v);
    }
    if (tuning && n > 0 && fds[1].fd >= 0 && (fds[1].revents & (POLLIN | POLLERR | POLLHUP))) {
      if (tuning->DrainNotifications()) {
        pass_due = true;
        pass_at = std::max({Clock::now(), last_pass + opt_.notify_delay});
      }
      // A closed LISTEN connection has no socket any more: reconnect (and LISTEN again).
      if (tuning->socket() < 0) {
        drop("the LISTEN connection closed; reconnecting");
        next_connect = Clock::now() + backoff.Next();
        pass_due = true;
      }
    }
  }
  counters_.tuning_connected.Set(0);
}

}  // namespace diskinv
