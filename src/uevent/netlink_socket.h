// NetlinkSocket: the kernel's uevent broadcast (AF_NETLINK, NETLINK_KOBJECT_UEVENT, group 1)
// as a UeventSource, distrusting every datagram the way sd-device does:
//  - only datagrams whose netlink sender pid is 0 (the kernel) and whose SCM_CREDENTIALS say
//    uid 0 are accepted; anything a user-space process multicasts to the group is dropped;
//  - MSG_TRUNC datagrams are dropped (and, from the kernel, reported as a Resync);
//  - ENOBUFS (receive queue overflow) becomes a Resync{kOverflow}, returned once the queue has
//    been drained: after an overflow the kernel drops every datagram for this socket until
//    its queue is empty and reports ENOBUFS only once, so only a walk started after the drain
//    covers the whole episode. Its `lost` is the kernel's counter minus the last SEQNUM read;
//  - SEQNUM is tracked over every accepted kernel event, before the subsystem filter (it is
//    global), and a gap or regression becomes a Resync{kSeqnumGap};
//  - CheckIdle() compares <sysroot>/sys/kernel/uevent_seqnum with the last SEQNUM received: a
//    loss at the very end of a burst leaves no later event to show a gap (Resync{kTailLoss}).
// The receive buffer is raised with SO_RCVBUFFORCE (needs CAP_NET_ADMIN), falling back to
// SO_RCVBUF (capped by net.core.rmem_max) with a warning.
//
// Caveat: SEQNUM is global, but uevents of kobjects owned by another network namespace (a
// veth moved into a container) are broadcast only there; such a namespace makes a gap here
// that is not a loss. The resulting Resync is redundant, never wrong.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "uevent/uevent_source.h"

namespace diskinv {

// Follows the kernel's SEQNUM; pure, for the netlink source and its tests.
class SeqnumTracker {
 public:
  // Continues from the kernel's counter (/sys/kernel/uevent_seqnum) instead of an event: the
  // next event expected is base + 1. Events up to `base` that were still on their way when the
  // counter was read arrive silently.
  void Start(uint64_t base);
  // Returns a Resync when `seqnum` is not the successor of the previous one.
  std::optional<Resync> Observe(uint64_t seqnum);
  // `counter`: the kernel's counter read while nothing was queued. Above the last SEQNUM means
  // the events in between were lost with nothing after them to show the gap: returns a
  // Resync{kTailLoss} once and continues from `counter`.
  std::optional<Resync> ObserveCounter(uint64_t counter);
  void Reset() { last_.reset(), from_base_ = false; }
  std::optional<uint64_t> last() const { return last_; }

 private:
  std::optional<uint64_t> last_;
  bool from_base_ = false;  // last_ came from Start(), not from an event
};

struct NetlinkSocketOptions {
  int receive_buffer_bytes = 128 << 20;
  // Events of other subsystems are dropped (counted as filtered); empty: keep all.
  std::vector<std::string> subsystems;
  uint32_t groups = 1;  // the kernel's group; tests never need another
  // Root of sys/kernel/uevent_seqnum for CheckIdle() and overflow accounting; empty: none.
  std::string sysroot = "/";
};

class NetlinkSocket final : public UeventSource {
 public:
  static Result<std::unique_ptr<NetlinkSocket>> Open(const NetlinkSocketOptions& options = {});
  ~NetlinkSocket() override;
  NetlinkSocket(const NetlinkSocket&) = delete;
  NetlinkSocket& operator=(const NetlinkSocket&) = delete;

  int fd() const override { return fd_; }
  Result<std::vector<SourceEvent>> Receive(size_t max_datagrams = 256) override;
  // Drains the socket, then compares the kernel's counter with the last SEQNUM received.
  Result<std::vector<SourceEvent>> CheckIdle() override;
  const UeventSourceStats& stats() const override { return stats_; }
  std::string_view name() const override { return "kernel"; }

  // The receive buffer the kernel granted (getsockopt SO_RCVBUF: twice the requested size).
  int receive_buffer_bytes() const { return rcvbuf_; }
  // False when SO_RCVBUFFORCE was refused and SO_RCVBUF (rmem_max-capped) was used.
  bool receive_buffer_forced() const { return forced_; }
  uint32_t port_id() const { return port_id_; }  // our netlink address, for tests

 private:
  NetlinkSocket(int fd, NetlinkSocketOptions options) : fd_(fd), options_(std::move(options)) {}
  bool Wanted(const Uevent& ev) const;
  // <sysroot>/sys/kernel/uevent_seqnum; nullopt when there is none or it cannot be read.
  std::optional<uint64_t> ReadCounter() const;
  // The queue is empty: turns a pending overflow into its Resync.
  void EndOverflow(std::vector<SourceEvent>& out);

  int fd_ = -1;
  NetlinkSocketOptions options_;
  int rcvbuf_ = 0;
  bool forced_ = false;
  uint32_t port_id_ = 0;
  std::string counter_path_;
  bool overflow_ = false;  // ENOBUFS seen, queue not drained yet
  SeqnumTracker seq_;
  UeventSourceStats stats_;
  std::array<char, kMaxUeventDatagram> buf_;
};

}  // namespace diskinv
