// UeventSource: where device events come from (kernel netlink, libudev monitor, a fake), as a
// pollable fd plus a non-blocking Receive(). Besides events a source yields Resync markers:
// "events were or may have been lost here; re-walk the whole tree and diff" (ENOBUFS, a SEQNUM
// gap, a truncated datagram, or a burst the coalescer chose not to follow one by one).
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
  uint64_t lost = 0;         // sum of the gap sizes: events known lost
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
  virtual const UeventSourceStats& stats() const = 0;
  virtual std::string_view name() const = 0;  // "kernel", "udev", "fake"
};

}  // namespace diskinv
