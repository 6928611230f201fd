#include "sysfs/parallel_walk.h"

#include <linux/close_range.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <exception>
#include <future>
#include <latch>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "common/logging.h"
#include "sysfs/real_sysfs_reader.h"

namespace diskinv {
namespace {

void AddStats(ScanStats& to, ScanStats&& from) {
  to.devices += from.devices;
  to.field_errors += from.field_errors;
  to.vanished += from.vanished;
  to.walk_errors += from.walk_errors;
  for (auto& m : from.messages) to.messages.push_back(std::move(m));
}

// The hand-off between the walkers and the sink. Each disk is claimed by exactly one walker
// (walkers take blocks for locality but claim their disks one at a time), and its group waits
// in slot i % size until the sink takes it, in order. A walker may fill slot i only once
// i < taken + size (the slot's previous group is gone). The sink never waits for room; when the
// next group is not ready and nobody has claimed its disk yet (its walker is still on an earlier
// disk, or waits for a CPU), the sink walks that disk itself.
class Window {
 public:
  Window(size_t disks, size_t size) : slots_(size), claimed_(disks, 0) {}

  // Waits until disks below `end` fit; false when the walk was abandoned.
  bool WaitForRoom(size_t end) {
    std::unique_lock lock(mu_);
    if (end > taken_ + slots_.size() && !abandoned_) {
      ++room_waiters_;
      room_.wait(lock, [&] { return end <= taken_ + slots_.size() || abandoned_; });
      --room_waiters_;
    }
    return !abandoned_;
  }
  bool Fits(size_t end) {
    std::lock_guard lock(mu_);
    return end <= taken_ + slots_.size();
  }
  // Whether the caller is the one to walk disk i (the first to ask).
  bool Claim(size_t i) {
    std::lock_guard lock(mu_);
    return !abandoned_ && !std::exchange(claimed_[i], 1);
  }

  void Put(size_t i, std::vector<BlockDevice>&& group) {
    std::lock_guard lock(mu_);
    Slot& s = slots_[i % slots_.size()];
    s.group = std::move(group);
    s.ready = true;
    if (i == taken_ && sink_waiting_) ready_.notify_one();
  }

  enum class Next { kReady, kClaimed, kBusy };
  // The next group in order into *group (kReady); or its disk, now claimed by the caller, who
  // walks it and calls Advance (kClaimed); or kBusy: another walker has the disk.
  Next TakeNext(std::vector<BlockDevice>* group, size_t* disk) {
    std::lock_guard lock(mu_);
    Slot& s = slots_[taken_ % slots_.size()];
    if (s.ready) {
      *group = std::move(s.group);
      s.group.clear();
      s.ready = false;
      AdvanceLocked();
      return Next::kReady;
    }
    if (!std::exchange(claimed_[taken_], 1)) {
      *disk = taken_;
      return Next::kClaimed;
    }
    return Next::kBusy;
  }
  void Advance() {
    std::lock_guard lock(mu_);
    AdvanceLocked();
  }
  // Waits for the next group; false when the walk was abandoned.
  bool WaitReady() {
    std::unique_lock lock(mu_);
    sink_waiting_ = true;
    ready_.wait(lock, [&] { return slots_[taken_ % slots_.size()].ready || abandoned_; });
    sink_waiting_ = false;
    return !abandoned_;
  }

  // Stops the walk: walkers waiting for room and a sink waiting for a group return.
  void Abandon() {
    std::lock_guard lock(mu_);
    abandoned_ = true;
    room_.notify_all();
    ready_.notify_all();
  }

 private:
  void AdvanceLocked() {
    ++taken_;
    if (room_waiters_ > 0) room_.notify_all();
  }
  struct Slot {
    std::vector<BlockDevice> group;
    bool ready = false;
  };
  std::mutex mu_;
  std::condition_variable ready_;  // the sink waits for the group at taken_
  std::condition_variable room_;   // walkers wait for the sink to take groups
  std::vector<Slot> slots_;
  std::vector<uint8_t> claimed_;  // by disk index
  size_t taken_ = 0;
  unsigned room_waiters_ = 0;
  bool sink_waiting_ = false;
  bool abandoned_ = false;
};

#if defined(__SANITIZE_THREAD__)
#define DISKINV_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define DISKINV_TSAN 1
#endif
#endif

// A descriptor table of the calling thread's own, holding only stdin, stdout and stderr of the
// process's: every open and close of a walk allocates and frees a descriptor, and with one
// shared table the threads' opens and closes contend for it (at 1,000 disks two threads took
// 1.29x the CPU of one with it, 1.18x without). Closing the copies of the other descriptors
// (the caller's reader, a database connection) keeps this thread from holding them open.
// Best effort: a thread that can do neither walks with the shared table.
void GiveThreadItsOwnDescriptors() {
#ifndef DISKINV_TSAN
  if (close_range(3, ~0U, CLOSE_RANGE_UNSHARE) != 0) (void)unshare(CLONE_FILES);
#endif
  // (ThreadSanitizer models descriptors as the process's: the same number open in two tables
  // looks like a race to it. Its builds keep the shared table.)
}

}  // namespace

ReaderFactory RealSysfsReaders(std::string root) {
  return [root = std::move(root)]() -> Result<std::unique_ptr<SysfsReader>> {
    auto r = RealSysfsReader::Open(root);
    if (!r.ok()) return r.status();
    return std::unique_ptr<SysfsReader>(std::move(*r));
  };
}

unsigned AvailableCpus(unsigned cap) {
  unsigned n = 0;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) n = static_cast<unsigned>(CPU_COUNT(&set));
  if (n == 0) n = std::thread::hardware_concurrency();
  return std::clamp(n, 1u, std::max(cap, 1u));
}

Result<ScanStats> ParallelWalk(const ReaderFactory& open_reader, const WalkOptions& options,
                               const ParallelWalkOptions& parallel,
                               const Walker::DeviceSink& sink) {
  auto lead_reader = open_reader();
  if (!lead_reader.ok()) return lead_reader.status();
  Walker lead(**lead_reader, options);
  lead.BeginWalk();
  ScanStats stats;
  auto listed = lead.ListDisks(stats);
  if (!listed) return stats;
  const std::vector<std::string>& disks = *listed;
  const size_t n = disks.size();
  const size_t block = std::max<size_t>(parallel.block, 1);
  const size_t blocks = (n + block - 1) / block;
  const size_t most = std::max<size_t>(
      1, parallel.min_disks_per_thread > 0 ? n / parallel.min_disks_per_thread : blocks);
  const unsigned threads = static_cast<unsigned>(
      std::min({std::max<size_t>(parallel.threads, 1), std::max<size_t>(blocks, 1), most}));
  Logger("sysfs")->debug("walking {} disks with {} thread(s), blocks of {}", n, threads, block);
  if (threads == 1) {
    for (const auto& name : disks) {
      for (auto& d : lead.WalkDisk(name, stats)) sink(std::move(d));
    }
    lead.EndWalk();
    return stats;
  }

  // (A window below a block is correct, only slow: a walker waits for room before its block
  // while the sink walks that block's disks itself.)
  const size_t window_size = parallel.window > 0 ? parallel.window : 4 * block * threads;
  Window window(n, window_size);
  std::atomic<size_t> next_block{0};
  auto block_end = [&](size_t b) { return std::min(n, (b + 1) * block); };  // past its last disk
  auto walk_block = [&](Walker& w, ScanStats& st, size_t b) {
    for (size_t i = b * block; i < block_end(b); ++i) {
      if (window.Claim(i)) window.Put(i, w.WalkDisk(disks[i], st));
    }
  };
  // Each worker opens its reader and reports; nothing is walked until every worker has.
  const unsigned wanted = threads - 1;
  std::vector<Status> opened(wanted);
  std::vector<std::exception_ptr> worker_failed(wanted);
  std::latch all_opened(wanted);
  std::promise<bool> go_promise;
  std::shared_future<bool> go = go_promise.get_future().share();
  std::vector<ScanStats> worker_stats(wanted);
  std::vector<std::thread> workers;
  workers.reserve(wanted);
  auto worker = [&, go](unsigned t) {
    bool reported = false;
    try {
      GiveThreadItsOwnDescriptors();
      auto reader = open_reader();
      opened[t] = reader.ok() ? Status() : reader.status();
      reported = true;
      all_opened.count_down();
      if (!go.get() || !reader.ok()) return;
      Walker w(**reader, options);
      w.BeginWalk();
      for (;;) {
        size_t b = next_block.fetch_add(1);
        if (b >= blocks || !window.WaitForRoom(block_end(b))) break;
        walk_block(w, worker_stats[t], b);
      }
      w.EndWalk();
      // The reader is closed here, on its own thread: its descriptors are in this table.
    } catch (...) {  // (std::bad_alloc): the caller rethrows it once every thread is joined
      worker_failed[t] = std::current_exception();
      if (!reported) {
        opened[t] = Status(ECANCELED, "a walker thread failed before it started");
        all_opened.count_down();
      }
      window.Abandon();
    }
  };
  std::exception_ptr failed;
  try {
    for (unsigned t = 0; t < wanted; ++t) workers.emplace_back(worker, t);
  } catch (...) {
    // No thread to start (EAGAIN: a pids limit): walk with those that did start, and count
    // down for the others.
    all_opened.count_down(wanted - workers.size());
    Logger("sysfs")->debug("started {} of {} walker threads", workers.size(), wanted);
  }
  all_opened.wait();
  const Status* not_opened = nullptr;
  for (unsigned t = 0; t < workers.size(); ++t) {
    if (worker_failed[t] && !failed) failed = worker_failed[t];
    if (!opened[t].ok() && !not_opened) not_opened = &opened[t];
  }
  if (failed || not_opened) {
    go_promise.set_value(false);
    for (auto& t : workers) t.join();
    if (failed) std::rethrow_exception(failed);
    return *not_opened;
  }
  go_promise.set_value(true);
  // The calling thread sinks every group in order. While the next one is not ready it walks
  // that disk itself when nobody has claimed it, else the next free block that fits the window,
  // else it waits.
  try {
    for (size_t sunk = 0; sunk < n;) {
      std::vector<BlockDevice> group;
      size_t disk = 0;
      switch (window.TakeNext(&group, &disk)) {
        case Window::Next::kReady:
          break;
        case Window::Next::kClaimed:
          group = lead.WalkDisk(disks[disk], stats);
          window.Advance();
          break;
        case Window::Next::kBusy: {
          size_t b = next_block.load();
          if (b < blocks && window.Fits(block_end(b)) &&
              next_block.compare_exchange_strong(b, b + 1)) {
            walk_block(lead, stats, b);
          } else if ((b >= blocks || !window.Fits(block_end(b))) && !window.WaitReady()) {
            sunk = n;  // a walker failed: its exception is rethrown below
          }
          continue;
        }
      }
      ++sunk;
      for (auto& d : group) sink(std::move(d));
    }
  } catch (...) {
    failed = std::current_exception();
    window.Abandon();
  }
  for (auto& t : workers) t.join();
  lead.EndWalk();
  if (failed) std::rethrow_exception(failed);
  for (auto& e : worker_failed) {
    if (e) std::rethrow_exception(e);
  }
  for (auto& st : worker_stats) AddStats(stats, std::move(st));
  return stats;
}

}  // namespace diskinv
