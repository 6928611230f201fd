// NetlinkSocket: the kernel's uevent broadcast (AF_NETLINK, NETLINK_KOBJECT_UEVENT, group 1)
// as a UeventSource, distrusting every datagram the way sd-device does:
//  - only datagrams whose netlink sender pid is 0 (the kernel) and whose SCM_CREDENTIALS say
//    uid 0 are accepted; anything a user-space process multicasts to the group is dropped;
//  - MSG_TRUNC datagrams are dropped (and, from the kernel, reported as a Resync);
//  - ENOBUFS (receive queue overflow) becomes a Resync{kOverflow};
//  - SEQNUM is tracked over every accepted kernel event, before the subsystem filter (it is
//    global), and a gap or regression becomes a Resync{kSeqnumGap}.
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
  // Returns a Resync when `seqnum` is not the successor of the previous one.
  std::optional<Resync> Observe(uint64_t seqnum);
  // After an overflow the next gap is already accounted for.
  void Reset() { last_.reset(); }
  std::optional<uint64_t> last() const { return last_; }

 private:
  std::optional<uint64_t> last_;
};

struct NetlinkSocketOptions {
  int receive_buffer_bytes = 128 << 20;
  // Events of other subsystems are dropped (counted as filtered); empty: keep all.
  std::vector<std::string> subsystems;
  uint32_t groups = 1;  // the kernel's group; tests never need another
};

class NetlinkSocket final : public UeventSource {
 public:
  static Result<std::unique_ptr<NetlinkSocket>> Open(const NetlinkSocketOptions& options = {});
  ~NetlinkSocket() override;
  NetlinkSocket(const NetlinkSocket&) = delete;
  NetlinkSocket& operator=(const NetlinkSocket&) = delete;

  int fd() const override { return fd_; }
  Result<std::vector<SourceEvent>> Receive(size_t max_datagrams = 256) override;
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

  int fd_ = -1;
  NetlinkSocketOptions options_;
  int rcvbuf_ = 0;
  bool forced_ = false;
  uint32_t port_id_ = 0;
  SeqnumTracker seq_;
  UeventSourceStats stats_;
  std::array<char, kMaxUeventDatagram> buf_;
};

}  // namespace diskinv
