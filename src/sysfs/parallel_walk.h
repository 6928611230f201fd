// ParallelWalk: one walk of sys/block by several Walkers at once, for `diskinv scan`.
//
// A walk is system calls: an open, a read and a close for each of ~35 attributes per device,
// two thirds of its time in the kernel, and no user-space change makes those faster on one
// core. Disks are independent, so the walk is shared: each thread has its own Walker and its
// own reader (both keep per-walk memos and directory handles, and neither is thread-safe),
// takes the next block of consecutive disks (they share ancestors, so the memos still hit),
// and hands each disk's group (the disk, then its partitions) to the calling thread, which
// also walks and sinks every group in sys/block order. The output is exactly Walker::Walk's:
// the same devices, the same order, the same statistics.
//
// Memory stays bounded: at most `window` groups wait for the sink; a walker that would get
// further ahead waits. The agent keeps its single Walker: it holds 30,000 devices under a
// 20 MB budget, and its event probes read one device.
#pragma once

#include <functional>
#include <memory>

#include "common/status.h"
#include "sysfs/walker.h"

namespace diskinv {

struct ParallelWalkOptions {
  // Walkers (the calling thread is one of them); 1 walks on the calling thread only. Never
  // more than there are blocks.
  unsigned threads = 1;
  // Consecutive disks a walker takes at a time.
  size_t block = 8;
  // Disks per walker at least (0: one block): a thread costs about what walking a dozen disks
  // does, so a small node walks on one.
  size_t min_disks_per_thread = 0;
  // Groups read but not yet sunk, at most; 0: 4 blocks per walker. A window smaller than a
  // block is correct but serializes the walk.
  size_t window = 0;
};

// Opens one reader per walker (every reader must see the same tree). Called on the walker's
// own thread, at the same time as on the others: it must be thread-safe.
using ReaderFactory = std::function<Result<std::unique_ptr<SysfsReader>>()>;
// RealSysfsReader::Open(root), one per call.
ReaderFactory RealSysfsReaders(std::string root);

// Walks like Walker(reader, options).Walk(sink), with `parallel.threads` walkers. `sink` runs
// on the calling thread only. Fails (before any device is read) when a reader cannot be opened;
// an unlistable sys/block is a walk error in the statistics, as with Walker::Walk. An exception
// on any thread (the sink's, a walker's) stops every thread and is rethrown here. Each walker
// thread gets a descriptor table of its own (close_range(CLOSE_RANGE_UNSHARE), keeping only
// stdin, stdout and stderr), so the descriptors a reader opens belong to its thread, and a
// reader is closed on the thread that opened it. When fewer threads can be started than asked
// for, the walk goes on with those that started.
Result<ScanStats> ParallelWalk(const ReaderFactory& open_reader, const WalkOptions& options,
                               const ParallelWalkOptions& parallel, const Walker::DeviceSink& sink);

// The CPUs this process may run on (its affinity mask), at most `cap`.
unsigned AvailableCpus(unsigned cap);

}  // namespace diskinv
