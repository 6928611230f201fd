#include "uevent/netlink_socket.h"

#include <fmt/format.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <limits>

#include "common/logging.h"

namespace diskinv {
namespace {

spdlog::logger& Log() {
  static std::shared_ptr<spdlog::logger> log = Logger("uevent");
  return *log;
}

}  // namespace

void SeqnumTracker::Start(uint64_t base) {
  last_ = base;
  from_base_ = true;
}

std::optional<Resync> SeqnumTracker::Observe(uint64_t seqnum) {
  if (from_base_ && seqnum <= *last_) return std::nullopt;  // sent before the counter was read
  from_base_ = false;
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

std::optional<Resync> SeqnumTracker::ObserveCounter(uint64_t counter) {
  if (last_ && counter <= *last_) return std::nullopt;
  std::optional<Resync> r;
  if (last_) {
    r = Resync{ResyncReason::kTailLoss, counter - *last_,
               fmt::format("uevent_seqnum is {} but the last SEQNUM received was {}", counter,
                           *last_)};
  }
  Start(counter);
  return r;
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
  if (!options.sysroot.empty()) {
    // Read after bind: every event above this value reaches the socket (or is lost).
    s->counter_path_ = options.sysroot;
    if (s->counter_path_.back() != '/') s->counter_path_ += '/';
    s->counter_path_ += "sys/kernel/uevent_seqnum";
    if (std::optional<uint64_t> c = s->ReadCounter()) {
      s->seq_.Start(*c);
    } else {
      Log().debug("{} unreadable: no tail-loss check", s->counter_path_);
      s->counter_path_.clear();
    }
  }
  Log().debug("kernel uevent socket: port {}, receive buffer {} bytes{}", s->port_id_, s->rcvbuf_,
              s->forced_ ? " (forced)" : "");
  return s;
}

NetlinkSocket::~NetlinkSocket() {
  if (fd_ >= 0) close(fd_);
}

std::optional<uint64_t> NetlinkSocket::ReadCounter() const {
  if (counter_path_.empty()) return std::nullopt;
  int fd = open(counter_path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buf[32];
  ssize_t n = read(fd, buf, sizeof buf);
  close(fd);
  uint64_t v = 0;
  if (n <= 0) return std::nullopt;
  auto [p, ec] = std::from_chars(buf, buf + n, v);
  if (ec != std::errc() || p == buf || (p != buf + n && *p != '\n')) return std::nullopt;
  return v;
}

void NetlinkSocket::EndOverflow(std::vector<SourceEvent>& out) {
  overflow_ = false;
  Resync r{ResyncReason::kOverflow, 0, "ENOBUFS: the uevent receive queue overflowed"};
  // Everything after the last SEQNUM read up to the counter now was dropped (or is on its way
  // and will arrive silently): continue from the counter, so the loss is not reported twice.
  if (std::optional<uint64_t> c = ReadCounter(); c && (!seq_.last() || *c > *seq_.last())) {
    if (seq_.last()) {
      r.lost = *c - *seq_.last();
      r.detail += fmt::format("; SEQNUM {}..{} dropped", *seq_.last() + 1, *c);
    }
    seq_.Start(*c);
  }
  stats_.lost += r.lost;
  ++stats_.resyncs;
  Log().debug("kernel uevent resync (overflow): {}", r.detail);
  out.emplace_back(std::move(r));
}

Result<std::vector<SourceEvent>> NetlinkSocket::CheckIdle() {
  std::optional<uint64_t> counter = ReadCounter();  // before draining: see EndOverflow
  Result<std::vector<SourceEvent>> out = Receive(std::numeric_limits<size_t>::max());
  if (!out.ok() || !counter || (seq_.last() && *counter <= *seq_.last())) return out;
  // The kernel bumps the counter just before it broadcasts: give such an event a moment.
  pollfd p{fd_, POLLIN, 0};
  poll(&p, 1, 20);
  Result<std::vector<SourceEvent>> more = Receive(std::numeric_limits<size_t>::max());
  if (!more.ok()) return more;
  for (SourceEvent& e : *more) out->push_back(std::move(e));
  if (std::optional<Resync> r = seq_.ObserveCounter(*counter)) {
    ++stats_.seqnum_gaps;
    ++stats_.tail_losses;
    stats_.lost += r->lost;
    ++stats_.resyncs;
    Log().debug("kernel uevent resync (tail_loss): {}", r->detail);
    out->emplace_back(std::move(*r));
  }
  return out;
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
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (overflow_) EndOverflow(out);
        break;
      }
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) {
        // The queue overflowed; what is still queued is valid, so keep reading after it. The
        // Resync waits for the drain (EndOverflow): the kernel keeps dropping until then.
        ++stats_.overflows;
        overflow_ = true;
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
