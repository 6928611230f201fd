#include "sysfs/parallel_walk.h"

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <future>
#include <latch>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

namespace diskinv {
namespace {

void AddStats(ScanStats& to, ScanStats&& from) {
  to.devices += from.devices;
  to.field_errors += from.field_errors;
  to.vanished += from.vanished;
  to.walk_errors += from.walk_errors;
  for (auto& m : from.messages) to.messages.push_back(std::move(m));
}

// The hand-off between the walkers and the sink: the group of disk i waits in slot i % size
// until the sink takes it, in order. A walker may fill slot i only once i < taken + size (the
// slot's previous group is gone); the sink never waits for room, only for the next group.
class Window {
 public:
  explicit Window(size_t size) : slots_(size) {}

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

  void Put(size_t i, std::vector<BlockDevice>&& group) {
    std::lock_guard lock(mu_);
    Slot& s = slots_[i % slots_.size()];
    s.group = std::move(group);
    s.ready = true;
    if (i == taken_ && sink_waiting_) ready_.notify_one();
  }

  // The next group in order: nullopt when it is not ready and `wait` is false.
  std::optional<std::vector<BlockDevice>> Take(bool wait) {
    std::unique_lock lock(mu_);
    Slot& s = slots_[taken_ % slots_.size()];
    if (!s.ready) {
      if (!wait) return std::nullopt;
      sink_waiting_ = true;
      ready_.wait(lock, [&] { return s.ready; });
      sink_waiting_ = false;
    }
    std::optional<std::vector<BlockDevice>> out(std::move(s.group));
    s.group.clear();
    s.ready = false;
    ++taken_;
    if (room_waiters_ > 0) room_.notify_all();
    return out;
  }
  size_t taken() {
    std::lock_guard lock(mu_);
    return taken_;
  }

  void Abandon() {
    std::lock_guard lock(mu_);
    abandoned_ = true;
    room_.notify_all();
  }

 private:
  struct Slot {
    std::vector<BlockDevice> group;
    bool ready = false;
  };
  std::mutex mu_;
  std::condition_variable ready_;  // the sink waits for the group at taken_
  std::condition_variable room_;   // walkers wait for the sink to take groups
  std::vector<Slot> slots_;
  size_t taken_ = 0;
  unsigned room_waiters_ = 0;
  bool sink_waiting_ = false;
  bool abandoned_ = false;
};

}  // namespace

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
  auto listed = lead.ListDisks();
  if (!listed.ok()) {
    stats.walk_errors++;
    stats.messages.push_back(listed.status().message());
    return stats;
  }
  const std::vector<std::string>& disks = *listed;
  const size_t n = disks.size();
  const size_t block = std::max<size_t>(parallel.block, 1);
  const size_t blocks = (n + block - 1) / block;
  const unsigned threads = static_cast<unsigned>(
      std::min<size_t>(std::max(parallel.threads, 1u), std::max<size_t>(blocks, 1)));
  if (threads == 1) {
    for (const auto& name : disks) {
      for (auto& d : lead.WalkDisk(name, stats)) sink(std::move(d));
    }
    lead.EndWalk();
    return stats;
  }

  const size_t window_size = std::max(parallel.window > 0 ? parallel.window : 4 * block * threads,
                                      block);  // at least a block, or a walker waits for ever
  Window window(window_size);
  std::atomic<size_t> next_block{0};
  auto walk_block = [&](Walker& w, ScanStats& st, size_t b) {
    for (size_t i = b * block; i < std::min(n, (b + 1) * block); ++i) {
      window.Put(i, w.WalkDisk(disks[i], st));
    }
  };
  // Each worker opens its reader and reports; nothing is walked until every reader is open.
  std::vector<Status> opened(threads - 1);
  std::latch all_opened(threads - 1);
  std::promise<bool> go_promise;
  std::shared_future<bool> go = go_promise.get_future().share();
  std::vector<ScanStats> worker_stats(threads - 1);
  std::vector<std::thread> workers;
  workers.reserve(threads - 1);
  for (unsigned t = 0; t + 1 < threads; ++t) {
    workers.emplace_back([&, t] {
    // A file descriptor table of its own: every open and close of the walk allocates and
    // frees a descriptor, and with one shared table the two threads' opens contend for it
    // (at 1,000 disks, 10% of the CPU time of a two-thread walk). Best effort: a thread that
    // cannot unshare walks with the shared table.
#ifndef __SANITIZE_THREAD__
      // (ThreadSanitizer models descriptors as the process's: the same number open in two
      // tables looks like a race to it. Its builds keep the shared table.)
      (void)unshare(CLONE_FILES);
#endif
      auto reader = open_reader();
      opened[t] = reader.ok() ? Status() : reader.status();
      all_opened.count_down();
      if (!go.get() || !reader.ok()) return;
      Walker w(**reader, options);
      w.BeginWalk();
      for (;;) {
        size_t b = next_block.fetch_add(1);
        if (b >= blocks || !window.WaitForRoom(std::min(n, (b + 1) * block))) break;
        walk_block(w, worker_stats[t], b);
      }
      w.EndWalk();
      // The reader's descriptors are in this thread's table: it is closed here, not by the
      // caller.
    });
  }
  all_opened.wait();
  for (const Status& s : opened) {
    if (!s.ok()) {
      go_promise.set_value(false);
      for (auto& t : workers) t.join();
      return s;
    }
  }
  go_promise.set_value(true);
  // The calling thread sinks every group in order and, while the next one is not ready and the
  // window has room, walks blocks itself.
  std::exception_ptr failed;
  try {
    for (size_t sunk = 0; sunk < n; ++sunk) {
      std::optional<std::vector<BlockDevice>> group = window.Take(false);
      while (!group) {
        size_t b = next_block.load();
        if (b < blocks && window.Fits(std::min(n, (b + 1) * block)) &&
            next_block.compare_exchange_strong(b, b + 1)) {
          walk_block(lead, stats, b);
          group = window.Take(false);
        } else if (b >= blocks || !window.Fits(std::min(n, (b + 1) * block))) {
          group = window.Take(true);
        }
      }
      for (auto& d : *group) sink(std::move(d));
    }
  } catch (...) {
    failed = std::current_exception();
    window.Abandon();
  }
  for (auto& t : workers) t.join();
  lead.EndWalk();
  if (failed) std::rethrow_exception(failed);
  for (auto& st : worker_stats) AddStats(stats, std::move(st));
  return stats;
}

}  // namespace diskinv
