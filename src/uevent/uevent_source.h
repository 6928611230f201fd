// UeventSource: where device events come from (kernel netlink, libudev monitor, a fake), as a
// pollable fd plus a non-blocking Receive(). Besides events a source yields Resync markers:
// "events were or may have been lost before this point; re-walk the whole tree and diff"
// (ENOBUFS, a SEQNUM gap, a truncated datagram, or a burst the coalescer chose not to follow
// one by one). A walk started after a Resync was received covers every event it stands for.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/status.h"
#include "uevent/uevent.h"

namespace diskinv {

enum class ResyncReason : uint8_t {
  kOverflow,   // ENOBUFS: the socket's receive queue overflowed, datagrams were dropped
  kSeqnumGap,  // kernel SEQNUM skipped (or went back): events were lost somewhere
  kTruncated,  // a trusted datagram did not fit the receive buffer (MSG_TRUNC)
  kBurst,      // coalescer: more events than the burst threshold, dropped in favour of a walk
  kTailLoss,   // kernel: /sys/kernel/uevent_seqnum is ahead of the last SEQNUM received while
               // the socket is idle: events lost at the end of a burst (CheckIdle)
};
std::string_view ToString(ResyncReason reason);

struct Resync {
  ResyncReason reason = ResyncReason::kOverflow;
  uint64_t lost = 0;   // events known lost (SEQNUM gap size, burst events dropped); 0: unknown
  std::string detail;  // for logs: "SEQNUM 841 after 838"
  bool operator==(const Resync&) const = default;
};

// In arrival order: a Resync sits where the loss was noticed.
using SourceEvent = std::variant<Uevent, Resync>;

struct UeventSourceStats {
  uint64_t datagrams = 0;    // read from the socket (or pushed into a fake), good or bad
  uint64_t accepted = 0;     // returned as events
  uint64_t filtered = 0;     // valid but outside the subsystem filter
  uint64_t overflows = 0;    // ENOBUFS seen
  uint64_t seqnum_gaps = 0;  // gaps or regressions of the kernel SEQNUM
  uint64_t tail_losses = 0;  // CheckIdle found the kernel's counter ahead of what we received
  uint64_t lost = 0;         // events known lost: gap sizes, tail losses, overflow episodes
  uint64_t resyncs = 0;      // Resync markers returned
  UeventRejectCounters rejected;
};

class UeventSource {
 public:
  virtual ~UeventSource() = default;
  // Readable (POLLIN) when Receive() has something to return.
  virtual int fd() const = 0;
  // Returns what is queued now without blocking, reading at most `max_datagrams`; an empty
  // vector when nothing is queued. Bad or untrusted datagrams are counted and dropped, not
  // errors; an error is a failure of the source itself (the socket is unusable).
  virtual Result<std::vector<SourceEvent>> Receive(size_t max_datagrams = 256) = 0;
  // Call when the source has been quiet for a while after activity (e.g. fd not readable for
  // 100 ms): a source that can see a loss that left no trace in the stream reports it here as
  // a Resync (the kernel source compares /sys/kernel/uevent_seqnum with the last SEQNUM it
  // received); it may also return events that arrived meanwhile. Default: nothing.
  virtual Result<std::vector<SourceEvent>> CheckIdle() { return std::vector<SourceEvent>{}; }
  virtual const UeventSourceStats& stats() const = 0;
  virtual std::string_view name() const = 0;  // "kernel", "udev", "fake"
};

}  // namespace diskinv
