#include "uevent/netlink_socket.h"

#include <fmt/format.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/logging.h"

namespace diskinv {
namespace {

spdlog::logger& Log() {
  static std::shared_ptr<spdlog::logger> log = Logger("uevent");
  return *log;
}

}  // namespace

std::optional<Resync> SeqnumTracker::Observe(uint64_t seqnum) {
  std::optional<uint64_t> prev = last_;
  last_ = seqnum;
  if (!prev || seqnum == *prev + 1) return std::nullopt;
  if (seqnum > *prev) {
    return Resync{ResyncReason::kSeqnumGap, seqnum - *prev - 1,
                  fmt::format("SEQNUM {} after {}", seqnum, *prev)};
  }
  return Resync{ResyncReason::kSeqnumGap, 0,
                fmt::format("SEQNUM went back from {} to {}", *prev, seqnum)};
}

Result<std::unique_ptr<NetlinkSocket>> NetlinkSocket::Open(const NetlinkSocketOptions& options) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_KOBJECT_UEVENT);
  if (fd < 0) return Status::FromErrno(errno, "socket(AF_NETLINK, NETLINK_KOBJECT_UEVENT)");
  std::unique_ptr<NetlinkSocket> s(new NetlinkSocket(fd, options));
  int size = options.receive_buffer_bytes;
  if (size > 0) {
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) == 0) {
      s->forced_ = true;
    } else {
      int err = errno;
      if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size) < 0) {
        return Status::FromErrno(errno, "setsockopt(SO_RCVBUF) on the uevent socket");
      }
      Log().warn("SO_RCVBUFFORCE({}) refused ({}); SO_RCVBUF is capped by net.core.rmem_max", size,
                 std::strerror(err));
    }
  }
  socklen_t len = sizeof s->rcvbuf_;
  getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &s->rcvbuf_, &len);
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0) {
    return Status::FromErrno(errno, "setsockopt(SO_PASSCRED) on the uevent socket");
  }
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = options.groups;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    return Status::FromErrno(errno, fmt::format("bind(netlink uevent group {})", options.groups));
  }
  len = sizeof addr;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) s->port_id_ = addr.nl_pid;
  Log().debug("kernel uevent socket: port {}, receive buffer {} bytes{}", s->port_id_, s->rcvbuf_,
              s->forced_ ? " (forced)" : "");
  return s;
}

NetlinkSocket::~NetlinkSocket() {
  if (fd_ >= 0) close(fd_);
}

bool NetlinkSocket::Wanted(const Uevent& ev) const {
  const auto& subs = options_.subsystems;
  return subs.empty() || std::find(subs.begin(), subs.end(), ev.subsystem) != subs.end();
}

Result<std::vector<SourceEvent>> NetlinkSocket::Receive(size_t max_datagrams) {
  std::vector<SourceEvent> out;
  auto resync = [&](Resync r) {
    ++stats_.resyncs;
    Log().debug("kernel uevent resync ({}): {}", ToString(r.reason), r.detail);
    out.emplace_back(std::move(r));
  };
  for (size_t i = 0; i < max_datagrams; ++i) {
    iovec iov{buf_.data(), buf_.size()};
    sockaddr_nl sender{};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
    msghdr msg{};
    msg.msg_name = &sender;
    msg.msg_namelen = sizeof sender;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = recvmsg(fd_, &msg, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) {
        // The queue overflowed; what is still queued is valid, so keep reading after it.
        ++stats_.overflows;
        seq_.Reset();
        resync({ResyncReason::kOverflow, 0, "ENOBUFS: uevent receive queue overflowed"});
        continue;
      }
      return Status::FromErrno(errno, "recvmsg(uevent socket)");
    }
    ++stats_.datagrams;
    if (msg.msg_namelen < sizeof sender || sender.nl_family != AF_NETLINK || sender.nl_pid != 0) {
      stats_.rejected.Add(UeventReject::kUntrustedSender);
      Log().debug("uevent datagram from netlink port {} ignored", sender.nl_pid);
      continue;
    }
    const ucred* cred = nullptr;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
          c->cmsg_len >= CMSG_LEN(sizeof(ucred))) {
        cred = reinterpret_cast<const ucred*>(CMSG_DATA(c));
      }
    }
    if (!cred) {
      stats_.rejected.Add(UeventReject::kNoCredentials);
      continue;
    }
    if (cred->uid != 0) {
      stats_.rejected.Add(UeventReject::kUntrustedSender);
      Log().debug("uevent datagram with uid {} ignored", cred->uid);
      continue;
    }
    if (msg.msg_flags & MSG_TRUNC) {
      stats_.rejected.Add(UeventReject::kTruncated);
      resync({ResyncReason::kTruncated, 1, "kernel uevent larger than the receive buffer"});
      continue;
    }
    UeventReject why;
    Result<Uevent> ev = ParseKernelUevent(std::string_view(buf_.data(), n), &why);
    if (!ev.ok()) {
      // A kernel datagram we cannot read is a lost event; the SEQNUM gap it leaves reports it.
      stats_.rejected.Add(why);
      Log().debug("{}", ev.status().message());
      continue;
    }
    if (std::optional<Resync> gap = seq_.Observe(ev->seqnum)) {
      ++stats_.seqnum_gaps;
      stats_.lost += gap->lost;
      resync(std::move(*gap));
    }
    if (!Wanted(*ev)) {
      ++stats_.filtered;
      continue;
    }
    ++stats_.accepted;
    out.emplace_back(std::move(ev).value());
  }
  return out;
}

}  // namespace diskinv
