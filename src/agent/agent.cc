#include "agent/agent.h"

#include <fmt/format.h>
#include <linux/netlink.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <random>
#include <set>

#include "agent/live_inventory.h"
#include "agent/live_source.h"
#include "agent/node_identity.h"
#include "common/logging.h"
#include "common/parse.h"
#include "store/device_row.h"
#include "sysfs/real_sysfs_reader.h"
#include "sysfs/udev_db.h"
#include "sysfs/walker.h"
#include "uevent/coalescer.h"
#include "uevent/netlink_socket.h"
#include "uevent/self_check.h"
#include "uevent/udev_monitor.h"

namespace diskinv {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::duration;
using std::chrono::milliseconds;

constexpr std::string_view kPeriodicResync = "periodic resync";

spdlog::logger& Log() {
  static std::shared_ptr<spdlog::logger> log = Logger("agent");
  return *log;
}

double Seconds(Clock::duration d) { return duration<double>(d).count(); }

// How long a source must be quiet after activity before CheckIdle() looks for a tail loss
// (docs/uevent.md): long enough that a burst is over, short against the resync interval.
constexpr milliseconds kIdleCheckDelay{100};

std::string DiffSummary(const InventoryDiff& d) {
  std::vector<std::string> parts;
  for (const auto& k : d.added) parts.push_back("+" + k);
  for (const auto& k : d.removed) parts.push_back("-" + k);
  for (const auto& c : d.changed) parts.push_back("~" + c.kname);
  if (parts.size() > 8) {
    size_t more = parts.size() - 6;
    parts.resize(6);
    parts.push_back(fmt::format("and {} more", more));
  }
  return fmt::format("{}", fmt::join(parts, " "));
}

std::vector<std::string> Touched(const InventoryDiff& d) {
  std::vector<std::string> out = d.added;
  out.insert(out.end(), d.removed.begin(), d.removed.end());
  for (const auto& c : d.changed) out.push_back(c.kname);
  return out;
}

}  // namespace

Agent::Agent(AgentOptions options)
    : opt_(std::move(options)), notify_(SdNotifier::FromEnvironment()) {}

Agent::~Agent() {
  Teardown();
  if (signal_fd_ >= 0) close(signal_fd_);
  if (wake_fd_ >= 0) close(wake_fd_);
}

void Agent::Stop() {
  stop_ = true;
  if (wake_fd_ >= 0) {
    uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof one);
  }
}

void Agent::Reload() {
  reload_ = true;
  if (wake_fd_ >= 0) {
    uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof one);
  }
}

void Agent::RequestReprobe(const std::string& kname) { reprobe_.push_back(kname); }

StoreOptions Agent::MakeStoreOptions() {
  StoreOptions o;
  o.batch_rows = opt_.config.batch_rows;
  o.statement_timeout = opt_.config.statement_timeout;
  o.on_commit = [this](std::chrono::nanoseconds elapsed, uint64_t) {
    counters_.db_transactions.Add();
    counters_.db_write_latency.Observe(elapsed);
  };
  // A large sync pings the watchdog between its transactions and stops early on SIGTERM.
  o.between_transactions = [this] {
    PingWatchdog(Clock::now());
    if (signal_fd_ >= 0) {
      signalfd_siginfo si;
      while (read(signal_fd_, &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGHUP) {
          reload_ = true;
        } else {
          stop_ = true;
        }
      }
    }
    return !stop_.load();
  };
  return o;
}

Status Agent::OpenSources() {
  const AgentConfig& c = opt_.config;
  EventSources ev = c.events;
  bool asked = ev != EventSources::kAuto;
  if (ev == EventSources::kAuto) ev = c.sysroot == "/" ? EventSources::kBoth : EventSources::kNone;
  if (ev == EventSources::kBoth || ev == EventSources::kKernel) {
    auto k = NetlinkSocket::Open(
        {.receive_buffer_bytes = c.rcvbuf, .subsystems = {"block"}, .sysroot = c.sysroot});
    if (k.ok()) {
      kernel_ = std::move(*k);
      // Test hook (like DISKINV_CDC_FAULT): an overflow drops events without ENOBUFS, the
      // way a loss at the very end of a burst looks (only the idle check can see it).
      if (const char* f = std::getenv("DISKINV_AGENT_FAULT");
          f != nullptr && std::string_view(f) == "netlink-no-enobufs") {
        int one = 1;
        if (setsockopt(kernel_->fd(), SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof one) != 0) {
          return Status::FromErrno(errno, "DISKINV_AGENT_FAULT: NETLINK_NO_ENOBUFS");
        }
        Log().warn("DISKINV_AGENT_FAULT=netlink-no-enobufs: kernel socket overflows are silent");
      }
    } else if (asked) {
      return Status(k.status().code(), "kernel uevents: " + k.status().message());
    } else {
      Log().warn("kernel uevents unavailable ({}): relying on udev events and resyncs",
                 k.status().message());
    }
  }
  if (ev == EventSources::kBoth || ev == EventSources::kUdev) {
    std::string tag = c.udev_tag;
    if (tag == "auto") {
      tag.clear();
      for (const char* dir : {"etc", "run", "usr/lib", "lib"}) {
        if (root_->Exists(fmt::format("{}/udev/rules.d/60-diskinv.rules", dir))) tag = "diskinv";
      }
    }
    udev_tag_ = tag;
    UdevMonitorOptions uo;
    uo.subsystem = "block";
    if (!tag.empty()) uo.tag = tag;
    uo.receive_buffer_bytes = c.rcvbuf;
    uo.run_dir = (c.sysroot == "/" ? std::string() : c.sysroot) + "/run/udev";
    auto u = UdevMonitor::Open(uo);
    if (u.ok()) {
      udev_ = std::move(*u);
    } else if (asked) {
      return Status(u.status().code(), "udev events: " + u.status().message());
    } else {
      Log().warn("udev events unavailable ({}): relying on kernel events and resyncs",
                 u.status().message());
    }
    Log().info("udev events: {}", tag.empty() ? "all block devices" : "tag " + tag);
  }
  return Status::Ok();
}

Status Agent::Start() {
  const AgentConfig& c = opt_.config;
  auto root = RealSysfsReader::Open(c.sysroot);
  if (!root.ok()) return root.status();
  root_ = std::move(*root);
  auto info = ReadNodeIdentity(*root_, c);
  if (!info.ok()) return info.status();
  node_info_ = *info;
  node_.reset();
  if (Status s = OpenSources(); !s.ok()) return s;
  CoalescerOptions co;
  co.window = c.coalesce_window;
  co.max_delay = c.coalesce_max_delay;
  co.burst_threshold = c.burst_threshold;
  coalescer_ = std::make_unique<Coalescer>(co);
  // Every device stays in memory (LiveInventory): with only the udev properties the store
  // writes, not the whole record and its links (about a fifth of the agent's memory).
  walker_ = std::make_unique<Walker>(
      *root_, WalkOptions{.skip_ignored = true, .udev_properties = StoredUdevProperties()});
  live_ = std::make_unique<LiveInventory>(*walker_);
  source_ = std::make_unique<LiveSource>(*walker_, *live_);
  Log().info("node {} (machine-id {}), sysroot {}, events: kernel {}, udev {}", node_info_.hostname,
             node_info_.machine_id, c.sysroot, kernel_ ? "on" : "off", udev_ ? "on" : "off");
  auto t0 = Clock::now();
  Walk(false, 0, "start");
  startup_ = {};
  startup_.walk = Clock::now() - t0;
  startup_.devices = live_->size();
  startup_.hostname = node_info_.hostname;
  behind_ = true;
  next_db_attempt_ = Clock::now();
  auto t1 = Clock::now();
  startup_.synced = TryDatabase();
  startup_.sync = Clock::now() - t1;
  if (node_) startup_.node = *node_;
  self_check_failed_ = false;
  counters_.self_check_ok.Set(-1);
  if (!opt_.once) SelfCheck("start-up");
  UpdateStatus();
  if (observer_) observer_->OnStarted(startup_);
  (void)notify_.Ready(startup_.synced ? fmt::format("watching {} devices", startup_.devices)
                                      : "database unreachable; watching devices");
  return Status::Ok();
}

void Agent::Teardown() {
  kernel_.reset();
  udev_.reset();
  // New sources count from 0 again.
  kernel_seen_ = udev_seen_ = SourceSeen{};
  kernel_idle_ = udev_idle_ = IdleCheck{};
  coalescer_.reset();
  walked_.reset();
  source_.reset();
  live_.reset();
  walker_.reset();
  root_.reset();
}

void Agent::Walk(bool resync, uint64_t lost, std::string_view why) {
  auto t0 = Clock::now();
  // The full sync that follows needs nothing of the last one: free it before the walk, and
  // identify the devices during the walk (the sync then need not walk again).
  if (store_) store_->DropMirror();
  walked_.reset();
  NodeIndex index(node_info_.machine_id);
  InventoryDiff diff = live_->Resync([&](const BlockDevice& d) { index.Add(d); });
  index.Finish(*source_);
  source_->Reset();
  walked_ = std::move(index);
  malloc_trim(0);  // the walk's devices were freed: give the pages back
  counters_.full_walks.Add();
  if (resync) counters_.resyncs.Add();
  auto now_sys = std::chrono::system_clock::now();
  counters_.last_full_scan.Set(duration<double>(now_sys.time_since_epoch()).count());
  counters_.devices.Set(static_cast<double>(live_->size()));
  FullScanRecord rec = scan_.value_or(FullScanRecord{});
  rec.at = now_sys;
  rec.missed_events += lost;
  rec.resyncs += resync ? 1 : 0;
  scan_ = rec;
  // A periodic walk that found nothing is not recorded on the node: it would be the only write
  // of an idle fleet (one row and one CDC event per node per interval). It is recorded with the
  // next write that matters (docs/agent.md, "last_full_scan"); the metric has every walk.
  if (why != kPeriodicResync || resync || lost > 0 || !diff.empty()) scan_due_ = true;
  if (opt_.config.resync_interval.count() > 0) {
    next_resync_ = Clock::now() + opt_.config.resync_interval;
  }
  Log().info("full walk ({}): {} devices in {:.3f} s{}", why, live_->size(),
             Seconds(Clock::now() - t0), diff.empty() ? "" : "; changed: " + DiffSummary(diff));
  if (!diff.empty()) counters_.inventory_changes.Add();
  WriteChange(diff, true);
}

void Agent::RecordSync(const WriteStats& st) {
  counters_.rows_inserted.Add(st.inserted);
  counters_.rows_updated.Add(st.updated);
  counters_.rows_revived.Add(st.revived);
  counters_.rows_moved.Add(st.moved);
  counters_.rows_tombstoned.Add(st.tombstoned);
  counters_.edges_written.Add(st.edges_added + st.edges_removed);
  counters_.conflicts_written.Add(st.conflicts_opened + st.conflicts_resolved);
  counters_.writes_skipped.Add(st.skipped);
  counters_.etag_retries.Add(st.retries);
}

void Agent::WriteChange(const InventoryDiff& diff, bool full) {
  if (!full && diff.empty()) return;
  if (store_ == nullptr || behind_ || !node_) {
    behind_ = true;  // written by the next successful full sync
    counters_.db_behind.Set(1);
    if (observer_) observer_->OnInventoryChanged(*live_, diff, false);
    return;
  }
  std::vector<std::string> touched = Touched(diff);
  auto t0 = Clock::now();
  auto st = store_->Sync(*node_, *source_, full ? nullptr : &touched,
                         full && walked_ ? &*walked_ : nullptr);
  if (full) walked_.reset();
  source_->Reset();
  if (!st.ok()) {
    DatabaseFailed(st.status());
    if (observer_) observer_->OnInventoryChanged(*live_, diff, false);
    return;
  }
  RecordSync(*st);
  if (full) malloc_trim(0);  // the rows of a full sync were freed: give the pages back
  if (scan_ && (scan_due_ || st->writes() > 0)) {
    if (Status s = store_->RecordFullScan(*node_, *scan_); !s.ok()) {
      DatabaseFailed(s);
      return;
    }
    scan_.reset();
    scan_due_ = false;
  }
  if (st->writes() > 0 || full) {
    Log().info("{}: {} in {:.1f} ms", full ? "full sync" : DiffSummary(diff), st->Summary(),
               Seconds(Clock::now() - t0) * 1e3);
  }
  if (observer_) observer_->OnInventoryChanged(*live_, diff, true);
}

bool Agent::TryDatabase() {
  auto t0 = Clock::now();
  if (store_ == nullptr) {
    auto s = InventoryStore::Connect(opt_.config.database_url, MakeStoreOptions());
    if (!s.ok()) {
      DatabaseFailed(s.status());
      return false;
    }
    store_ = std::move(*s);
  }
  auto ref = store_->RegisterNode(node_info_);
  if (!ref.ok()) {
    DatabaseFailed(ref.status());
    return false;
  }
  bool new_node = !node_ || node_->id != ref->id;
  node_ = *ref;
  if (observer_) observer_->OnNodeRegistered(*node_, *store_);
  auto st = store_->Sync(*node_, *source_, nullptr, walked_ ? &*walked_ : nullptr);
  walked_.reset();
  source_->Reset();
  if (!st.ok()) {
    DatabaseFailed(st.status());
    return false;
  }
  RecordSync(*st);
  startup_.stats = *st;
  malloc_trim(0);  // the rows of a full sync were freed: give the pages back
  if (scan_) {
    if (Status s = store_->RecordFullScan(*node_, *scan_); !s.ok()) {
      DatabaseFailed(s);
      return false;
    }
    scan_.reset();
    scan_due_ = false;
  }
  if (failures_ > 0) {
    Log().warn(
        "database {} answers again after {:.1f} s ({} failed attempts); wrote the "
        "difference: {}",
        store_->connection().display_url(), Seconds(Clock::now() - down_since_), failures_,
        st->Summary());
  } else {
    Log().info("database {}: node {} ({}){}; {} in {:.1f} ms", store_->connection().display_url(),
               node_->id, node_info_.hostname, new_node ? " registered" : "", st->Summary(),
               Seconds(Clock::now() - t0) * 1e3);
  }
  if (ever_connected_ && failures_ > 0) counters_.reconnects.Add();
  ever_connected_ = true;
  failures_ = 0;
  behind_ = false;
  last_db_error_.clear();
  counters_.db_connected.Set(1);
  counters_.db_behind.Set(0);
  UpdateStatus();
  return true;
}

void Agent::DatabaseFailed(const Status& s) {
  if (s.code() == EINTR && stop_) {  // SIGTERM between two transactions of a large sync
    Log().info("stopping in the middle of a sync: {}; the next start writes the rest", s.message());
    behind_ = true;
    return;
  }
  counters_.db_errors.Add();
  counters_.db_connected.Set(0);
  counters_.db_behind.Set(1);
  behind_ = true;
  auto now = Clock::now();
  // Exponential backoff with +-20% jitter, so that a fleet does not reconnect in lockstep.
  double base =
      duration<double>(opt_.config.reconnect_min).count() * std::pow(2.0, std::min(failures_, 30));
  base = std::min(base, duration<double>(opt_.config.reconnect_max).count());
  static thread_local std::mt19937 rng{std::random_device{}()};
  double delay = base * std::uniform_real_distribution<double>(0.8, 1.2)(rng);
  next_db_attempt_ = now + std::chrono::duration_cast<Clock::duration>(duration<double>(delay));
  if (failures_ == 0) {
    down_since_ = now;
    last_down_warning_ = now;
    Log().warn(
        "database write failed: {}; keeping the observed state in memory, retrying in "
        "{:.1f} s (backoff up to {:.0f} s)",
        s.message(), delay, duration<double>(opt_.config.reconnect_max).count());
  } else if (now - last_down_warning_ >= std::chrono::minutes(1) || s.message() != last_db_error_) {
    last_down_warning_ = now;
    Log().warn(
        "database still unavailable after {:.0f} s ({} attempts): {}; next attempt in "
        "{:.1f} s",
        Seconds(now - down_since_), failures_ + 1, s.message(), delay);
  } else {
    Log().debug("database attempt {} failed: {}; next in {:.1f} s", failures_ + 1, s.message(),
                delay);
  }
  last_db_error_ = s.message();
  ++failures_;
  UpdateStatus();
}

void Agent::UpdateStatus() {
  size_t n = live_ ? live_->size() : 0;
  std::string status =
      behind_ ? fmt::format(
                    "{} devices; database unavailable ({} attempts), changes kept in "
                    "memory: {}",
                    n, failures_, last_db_error_.empty() ? "not connected" : last_db_error_)
              : fmt::format("{} devices; database in sync", n);
  if (self_check_failed_) {
    status = fmt::format("uevent self-check failed ({}), walking every {:.0f} s; {}",
                         self_check_error_, Seconds(opt_.config.self_check_retry), status);
  }
  (void)notify_.SetStatus(status.substr(0, 400));
}

void Agent::PingWatchdog(TimePoint now) {
  auto wd = notify_.watchdog_interval();
  if (!wd || now < next_watchdog_) return;
  (void)notify_.Watchdog();
  next_watchdog_ = now + std::chrono::duration_cast<Clock::duration>(*wd / 2);
}

void Agent::ReadSource(bool kernel) {
  UeventSource& src = kernel ? *kernel_ : *udev_;
  uint64_t before = src.stats().datagrams;
  // Bounded per loop iteration so that signals and timers are never starved by a storm.
  for (int round = 0; round < 64; ++round) {
    auto got = src.Receive(256);
    if (!got.ok()) {
      CloseSource(kernel, got.status());
      return;
    }
    size_t n = got->size();
    coalescer_->Push(std::move(*got));
    if (n < 256) break;
  }
  CountSourceStats(kernel);
  if (src.stats().datagrams != before) {
    IdleCheck& idle = kernel ? kernel_idle_ : udev_idle_;
    idle.armed = true;
    idle.due = Clock::now() + kIdleCheckDelay;
  }
}

void Agent::CountSourceStats(bool kernel) {
  const UeventSource* src = kernel ? kernel_.get() : udev_.get();
  if (src == nullptr) return;
  const UeventSourceStats& s = src->stats();
  SourceSeen& seen = kernel ? kernel_seen_ : udev_seen_;
  (kernel ? counters_.kernel_events : counters_.udev_events).Add(s.accepted - seen.accepted);
  counters_.events_rejected.Add(s.rejected.total() - seen.rejected);
  counters_.enobufs.Add(s.overflows - seen.overflows);
  // A tail loss is counted as a gap by the source too: count it once, as what it is.
  uint64_t tails = s.tail_losses - seen.tail_losses;
  counters_.tail_losses.Add(tails);
  counters_.seqnum_gaps.Add(s.seqnum_gaps - seen.gaps - tails);
  seen = {s.accepted, s.rejected.total(), s.overflows, s.seqnum_gaps, s.tail_losses};
}

void Agent::CloseSource(bool kernel, const Status& why) {
  std::unique_ptr<UeventSource>& src = kernel ? kernel_ : udev_;
  Log().error(
      "{} uevent source failed: {}; closing it, walking now and relying on the other "
      "source and the periodic resync",
      src->name(), why.message());
  CountSourceStats(kernel);
  coalescer_->Push(SourceEvent(Resync{ResyncReason::kOverflow, 0, why.message()}));
  src.reset();
  (kernel ? kernel_seen_ : udev_seen_) = SourceSeen{};
  (kernel ? kernel_idle_ : udev_idle_) = IdleCheck{};
}

void Agent::CheckIdleSources(TimePoint now) {
  for (bool kernel : {true, false}) {
    IdleCheck& idle = kernel ? kernel_idle_ : udev_idle_;
    UeventSource* src = kernel ? kernel_.get() : udev_.get();
    if (src == nullptr || !idle.armed || now < idle.due) continue;
    idle.armed = false;
    auto got = src->CheckIdle();
    if (!got.ok()) {
      CloseSource(kernel, got.status());
      continue;
    }
    bool events = std::any_of(got->begin(), got->end(), [](const SourceEvent& e) {
      return std::holds_alternative<Uevent>(e);
    });
    coalescer_->Push(std::move(*got));
    CountSourceStats(kernel);
    if (events) {  // not quiet after all: look again after these
      idle.armed = true;
      idle.due = now + kIdleCheckDelay;
    }
  }
}

// A kernel event for a device udevd has not processed yet (its first "add", or the "change"
// that attaches a loop device right after LOOP_CTL_ADD) arrives before udevd has written the
// device's udev record, which holds the DISKINV_IGNORE decision and the identifiers rules
// import. While udevd runs (its control socket exists) and the udev source is open, udevd's
// own event follows once the record is written, and only for devices our rule tags: leave
// the device to it, so that an ignored device is never inventoried, not even for a moment.
// (A full walk that runs while udevd works lists such a device; udevd's event then removes
// it again.) Without udevd nothing is deferred.
bool Agent::AwaitsUdev(const Uevent& e) const {
  if (!udev_ || e.origin != UeventOrigin::kKernel) return false;
  if (e.action == UeventAction::kRemove || e.action == UeventAction::kMove) return false;
  if (!e.major || !e.minor || !root_->Exists("run/udev/control")) return false;
  return !root_->Exists(fmt::format("run/udev/data/b{}:{}", *e.major, *e.minor));
}

std::string Agent::SelfCheckDevice(bool* udev_sees_it) const {
  *udev_sees_it = true;
  const std::string& want = opt_.config.self_check;
  if (want != "auto") return want;
  auto names = root_->ListDir("sys/block");
  if (!names.ok()) return "";
  std::vector<std::string> sorted;
  for (const auto& e : *names) sorted.push_back(e.name);
  std::sort(sorted.begin(), sorted.end());
  // A whole disk whose udev record exists, is not ignored and, when the udev monitor filters by
  // tag, carries the tag (udev keeps tags in TAGS, which the filter matches): both sources
  // then report its event. Failing that, any disk, for the kernel source alone.
  for (const std::string& name : sorted) {
    auto dev = root_->ReadFile("sys/block/" + name + "/dev", 64);
    if (!dev.ok()) continue;
    std::string devnum(Trim(*dev));
    auto rec = root_->ReadFile("run/udev/data/b" + devnum, 256 * 1024);
    if (!rec.ok()) continue;
    UdevRecord u = ParseUdevDbRecord(*rec);
    if (IgnoredByUdev(u)) continue;
    if (!udev_tag_.empty() && std::find(u.tags.begin(), u.tags.end(), udev_tag_) == u.tags.end()) {
      continue;
    }
    return name;
  }
  *udev_sees_it = false;
  return sorted.empty() ? "" : sorted.front();
}

void Agent::SelfCheck(std::string_view why) {
  const AgentConfig& c = opt_.config;
  if (c.self_check == "off" || (!kernel_ && !udev_)) return;
  bool udev_sees_it = true;
  std::string device = SelfCheckDevice(&udev_sees_it);
  std::vector<UeventSource*> sources;
  if (kernel_) sources.push_back(kernel_.get());
  if (udev_ && udev_sees_it) sources.push_back(udev_.get());
  if (device.empty() || sources.empty()) {
    Log().info("uevent self-check ({}) skipped: {}", why,
               device.empty() ? "no block device to trigger"
                              : fmt::format("no disk carries the udev tag {} yet", udev_tag_));
    return;
  }
  if (udev_ && !udev_sees_it) {
    Log().info(
        "uevent self-check ({}): the udev source is not checked: no disk carries the "
        "udev tag {} yet",
        why, udev_tag_);
  }
  PingWatchdog(Clock::now());
  auto r = RunSelfCheck(
      sources,
      {.sysroot = c.sysroot, .device = device, .timeout = c.self_check_timeout, .tag = "selftest"},
      [this](size_t, SourceEvent ev) { coalescer_->Push(std::move(ev)); });
  CountSourceStats(true);
  CountSourceStats(false);
  PingWatchdog(Clock::now());
  if (r.ok()) {
    std::vector<std::string> trips;
    double slowest = 0;
    for (size_t i = 0; i < sources.size(); ++i) {
      double ms = static_cast<double>(r->round_trip[i].count()) / 1000.0;
      slowest = std::max(slowest, ms / 1000.0);
      trips.push_back(fmt::format("{} {:.2f} ms", sources[i]->name(), ms));
    }
    counters_.self_check_ok.Set(1);
    counters_.self_check_seconds.Set(slowest);
    Log().info("uevent self-check ({}) passed on {}: {}{}", why, r->device, fmt::join(trips, ", "),
               self_check_failed_ ? "; leaving degraded mode" : "");
    self_check_failed_ = false;
    self_check_error_.clear();
  } else {
    counters_.self_check_ok.Set(0);
    counters_.self_check_failures.Add();
    self_check_failed_ = true;
    self_check_error_ = r.status().message();
    next_self_check_ = Clock::now() + c.self_check_retry;
    Log().error(
        "uevent self-check ({}) on {} failed: {}; events may be missed: the agent keeps "
        "running, walks everything every {:.0f} s and checks again until a check passes",
        why, device, self_check_error_, Seconds(c.self_check_retry));
  }
  UpdateStatus();
}

void Agent::ApplyCoalesced() {
  for (const std::string& kname : reprobe_) {
    // The device's own DEVPATH, so that the coalescer merges it with the kernel's events.
    auto d = walker_->Probe(kname);
    Uevent ev;
    ev.action = UeventAction::kChange;
    ev.subsystem = "block";
    ev.devpath = d.ok() && !d->devpath.empty() ? d->devpath : "/devices/virtual/block/" + kname;
    coalescer_->Push(SourceEvent(std::move(ev)));
  }
  reprobe_.clear();
  std::vector<CoalescerOutput> outs = coalescer_->Poll();
  counters_.events_coalesced.Add(coalescer_->stats().coalesced - coalesced_seen_);
  coalesced_seen_ = coalescer_->stats().coalesced;
  for (const CoalescerOutput& out : outs) {
    if (const auto* ev = std::get_if<CoalescedEvent>(&out); ev && AwaitsUdev(ev->event)) {
      counters_.events_deferred.Add();
      continue;
    }
    if (const auto* r = std::get_if<Resync>(&out)) {
      counters_.events_lost.Add(r->lost);
      Log().warn("events lost or skipped ({}: {}{}): walking everything", ToString(r->reason),
                 r->detail, r->lost ? fmt::format(", {} events", r->lost) : "");
      Walk(true, r->lost, ToString(r->reason));
      continue;
    }
    counters_.reprobes.Add();
    InventoryDiff diff = live_->Apply(out);
    if (diff.empty()) continue;
    walked_.reset();  // no longer the index of the inventory
    counters_.inventory_changes.Add();
    counters_.devices.Set(static_cast<double>(live_->size()));
    WriteChange(diff, false);
    if (stop_) return;  // the transaction in progress is done; the rest waits for no one
  }
}

bool Agent::HandleReload() {
  reload_ = false;
  (void)notify_.Reloading();
  auto next = LoadAgentConfig(opt_.config_path, opt_.config_explicit, opt_.overrides);
  if (!next.ok()) {
    Log().error("reload: {}; keeping the running configuration", next.status().message());
    (void)notify_.Ready("reload failed, running configuration kept: " + next.status().message());
    return false;
  }
  AgentConfig old = opt_.config;
  opt_.config = *next;
  std::vector<std::string> changed;
  std::string a = old.Describe(), b = next->Describe();
  for (size_t pa = 0, pb = 0; pa < a.size() && pb < b.size();) {
    size_t ea = a.find('\n', pa), eb = b.find('\n', pb);
    if (a.compare(pa, ea - pa, b, pb, eb - pb) != 0) {
      changed.push_back(a.substr(pa, a.find(' ', pa) - pa));
    }
    pa = ea + 1;
    pb = eb + 1;
  }
  if (!opt_.config.log_level.empty() && !LogLevelFromCommandLine()) {
    (void)SetLogLevel(opt_.config.log_level);
  }
  Log().info("configuration reloaded{}{}", changed.empty() ? " (no change)" : ": changed ",
             fmt::format("{}", fmt::join(changed, ", ")));
  auto has = [&](std::string_view k) {
    return std::find(changed.begin(), changed.end(), k) != changed.end();
  };
  bool restart = has("sysroot") || has("events") || has("udev_tag") || has("rcvbuf") ||
                 has("machine_id") || has("hostname") || has("coalesce_window") ||
                 has("coalesce_max_delay") || has("burst_threshold");
  if (has("database_url") || has("batch_rows") || has("statement_timeout")) {
    store_.reset();  // reconnect with the new settings; a full sync follows
    behind_ = true;
    failures_ = 0;
    next_db_attempt_ = Clock::now();
  }
  if (has("resync_interval")) {
    next_resync_ = Clock::now() + opt_.config.resync_interval;
  }
  if (has("metrics_listen")) {
    Log().warn("reload: metrics_listen changes take effect when the agent restarts");
  }
  if (!restart) {
    (void)notify_.Ready("configuration reloaded");
    UpdateStatus();
  }
  return restart;
}

Agent::LoopEnd Agent::Loop() {
  while (!stop_) {
    if (reload_ && HandleReload()) return LoopEnd::kRestart;
    auto now = Clock::now();
    TimePoint wake = now + std::chrono::seconds(1);
    if (auto d = coalescer_->NextDeadline()) wake = std::min(wake, *d);
    if (opt_.config.resync_interval.count() > 0) wake = std::min(wake, next_resync_);
    if (behind_) wake = std::min(wake, next_db_attempt_);
    if (notify_.watchdog_interval()) wake = std::min(wake, next_watchdog_);
    if (kernel_idle_.armed) wake = std::min(wake, kernel_idle_.due);
    if (udev_idle_.armed) wake = std::min(wake, udev_idle_.due);
    if (self_check_failed_) wake = std::min(wake, next_self_check_);
    if (!reprobe_.empty()) wake = now;
    std::vector<pollfd> fds;
    fds.push_back({wake_fd_, POLLIN, 0});
    if (signal_fd_ >= 0) fds.push_back({signal_fd_, POLLIN, 0});
    size_t first_source = fds.size();
    if (kernel_) fds.push_back({kernel_->fd(), POLLIN, 0});
    if (udev_) fds.push_back({udev_->fd(), POLLIN, 0});
    size_t end_sources = fds.size();
    auto ms = std::chrono::ceil<milliseconds>(std::max(wake - now, Clock::duration::zero()));
    int n = poll(fds.data(), fds.size(), static_cast<int>(ms.count()));
    if (n < 0 && errno != EINTR) {
      Log().error("poll: {}", std::strerror(errno));
      return LoopEnd::kStop;
    }
    if (fds[0].revents & POLLIN) {
      uint64_t v;
      (void)!read(wake_fd_, &v, sizeof v);
    }
    if (signal_fd_ >= 0 && (fds[1].revents & POLLIN)) {
      signalfd_siginfo si;
      while (read(signal_fd_, &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGHUP) {
          reload_ = true;
        } else {
          Log().info("{} received: stopping", strsignal(static_cast<int>(si.ssi_signo)));
          stop_ = true;
        }
      }
    }
    if (stop_) break;
    for (size_t i = first_source; i < end_sources; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLERR))) continue;
      bool kernel = kernel_ && fds[i].fd == kernel_->fd();
      if (kernel ? kernel_ != nullptr : udev_ != nullptr) ReadSource(kernel);
    }
    CheckIdleSources(Clock::now());
    ApplyCoalesced();
    if (stop_) break;
    now = Clock::now();
    if (opt_.config.resync_interval.count() > 0 && now >= next_resync_) {
      counters_.periodic_resyncs.Add();
      Walk(false, 0, kPeriodicResync);
    }
    if (self_check_failed_ && now >= next_self_check_) {
      counters_.periodic_resyncs.Add();
      Walk(false, 0, "self-check failed");
      SelfCheck("retry");
    }
    if (behind_ && Clock::now() >= next_db_attempt_ && live_) TryDatabase();
    PingWatchdog(Clock::now());
    if (observer_ && store_ && !behind_ && node_) observer_->OnStoreIdle(*node_, *store_);
    if (observer_) observer_->OnTick(Clock::now());
  }
  return LoopEnd::kStop;
}

Status Agent::Run() {
  if (wake_fd_ < 0) {
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) return Status::FromErrno(errno, "eventfd");
  }
  if (opt_.handle_signals && signal_fd_ < 0) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    if (pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) return Status::FromErrno(errno, "sigmask");
    signal_fd_ = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (signal_fd_ < 0) return Status::FromErrno(errno, "signalfd");
  }
  if (!opt_.config.log_level.empty() && !LogLevelFromCommandLine()) {
    (void)SetLogLevel(opt_.config.log_level);
  }
  for (;;) {
    if (Status s = Start(); !s.ok()) {
      Teardown();
      return s;
    }
    if (opt_.once) {
      if (!startup_.synced) {
        return Status(ENOTCONN, fmt::format("could not write the inventory: {}", last_db_error_));
      }
      break;
    }
    if (Loop() == LoopEnd::kStop) break;
    Log().info("restarting the sources and the walk for the new configuration");
    Teardown();
  }
  (void)notify_.Stopping();
  Log().info(
      "stopped: {} events (kernel {}, udev {}), {} transactions, {} rows written, {} "
      "writes skipped",
      counters_.kernel_events.value() + counters_.udev_events.value(),
      counters_.kernel_events.value(), counters_.udev_events.value(),
      counters_.db_transactions.value(),
      counters_.rows_inserted.value() + counters_.rows_updated.value() +
          counters_.rows_revived.value() + counters_.rows_moved.value() +
          counters_.rows_tombstoned.value(),
      counters_.writes_skipped.value());
  Teardown();
  return Status::Ok();
}

}  // namespace diskinv
