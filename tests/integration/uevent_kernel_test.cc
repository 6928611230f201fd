// NetlinkSocket against the real kernel: loop attach/resize/synthetic change/detach, loop-control
// add/remove, zram hot_add/hot_remove, a forged datagram from user space, and an overflowing
// receive buffer. Root only; skips (outside CI) when a facility is missing.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>

#include "integration/uevent_test_support.h"
#include "support/loop_device.h"
#include "uevent/netlink_socket.h"

namespace diskinv {
namespace {

using std::chrono::milliseconds;
using testing::LoopControlAdd;
using testing::LoopControlRemove;
using testing::LoopDevice;
using testing::ReadSys;
using testing::WriteSys;

struct Collected {
  std::vector<Uevent> events;
  std::vector<Resync> resyncs;
};

// Reads `src` until `want` events pass `keep`, then `quiet` longer to catch any extra one.
Collected Collect(UeventSource& src, const std::function<bool(const Uevent&)>& keep, size_t want,
                  milliseconds timeout = milliseconds(5000),
                  milliseconds quiet = milliseconds(300)) {
  Collected c;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool reached = false;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{src.fd(), POLLIN, 0};
    auto left =
        std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
    poll(&p, 1, static_cast<int>(std::max<int64_t>(left.count(), 0)));
    Result<std::vector<SourceEvent>> got = src.Receive();
    EXPECT_TRUE(got.ok()) << got.status().message();
    if (!got.ok()) break;
    for (SourceEvent& e : *got) {
      if (auto* r = std::get_if<Resync>(&e)) {
        c.resyncs.push_back(*r);
      } else if (keep(std::get<Uevent>(e))) {
        c.events.push_back(std::move(std::get<Uevent>(e)));
      }
    }
    if (!reached && c.events.size() >= want) {
      reached = true;
      deadline = std::chrono::steady_clock::now() + quiet;
    }
  }
  return c;
}

std::function<bool(const Uevent&)> For(const std::string& devpath) {
  return [devpath](const Uevent& e) { return e.devpath == devpath; };
}

std::string NewUuid() {
  std::random_device rd;
  std::mt19937_64 g(rd());
  uint64_t a = g(), b = g();
  return fmt::format("{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}", a >> 32, (a >> 16) & 0xffff, a & 0xfff,
                     0x8000 | (b >> 48 & 0x3fff), b & 0xffffffffffff);
}

std::string Prop(const Uevent& e, const char* key) {
  const std::string* v = e.Find(key);
  return v ? *v : "<none>";
}

class KernelUevents : public ::testing::Test {
 protected:
  void SetUp() override {
    DISKINV_REQUIRE_FACILITY(geteuid() == 0, "needs root (NETLINK_KOBJECT_UEVENT, loop ioctls)");
    Result<std::unique_ptr<NetlinkSocket>> s = NetlinkSocket::Open({.subsystems = {"block"}});
    ASSERT_TRUE(s.ok()) << s.status().message();
    sock_ = std::move(s).value();
  }
  void TearDown() override {
    if (!sock_) return;
    // Idle now: the kernel's counter agrees with what the big socket received.
    Result<std::vector<SourceEvent>> idle = sock_->CheckIdle();
    ASSERT_TRUE(idle.ok()) << idle.status().message();
    for (const SourceEvent& e : *idle) {
      EXPECT_FALSE(std::holds_alternative<Resync>(e)) << std::get<Resync>(e).detail;
    }
    // With a 256 MiB buffer on an idle machine nothing may be lost.
    EXPECT_EQ(sock_->stats().overflows, 0u);
    EXPECT_EQ(sock_->stats().seqnum_gaps, 0u) << "lost " << sock_->stats().lost;
    EXPECT_EQ(sock_->stats().rejected.total(), expected_rejects_)
        << sock_->stats().rejected.ToString();
  }
  std::unique_ptr<NetlinkSocket> sock_;
  uint64_t expected_rejects_ = 0;
};

TEST_F(KernelUevents, ReceiveBufferIsForcedTo128MiB) {
  EXPECT_TRUE(sock_->receive_buffer_forced());
  EXPECT_GE(sock_->receive_buffer_bytes(), 128 << 20);  // the kernel doubles it: 256 MiB
  EXPECT_NE(sock_->port_id(), 0u);
}

TEST_F(KernelUevents, LoopAttachResizeSynthChangeDetach) {
  DISKINV_REQUIRE_FACILITY(access("/dev/loop-control", F_OK) == 0, "no /dev/loop-control");
  Result<LoopDevice> loop = LoopDevice::Attach(4 << 20);
  ASSERT_TRUE(loop.ok()) << loop.status().message();
  const std::string sys = "/sys/block/" + loop->name();

  Collected attach = Collect(*sock_, For(loop->devpath()), 1);
  ASSERT_EQ(attach.events.size(), 1u);
  const Uevent& a = attach.events[0];
  EXPECT_EQ(a.action, UeventAction::kChange);
  EXPECT_EQ(a.origin, UeventOrigin::kKernel);
  EXPECT_EQ(a.subsystem, "block");
  EXPECT_EQ(a.devtype, "disk");
  EXPECT_EQ(a.devname, loop->name());
  EXPECT_EQ(a.major, 7u);
  EXPECT_EQ(a.minor, static_cast<uint32_t>(loop->index()));
  EXPECT_EQ(a.diskseq, std::stoull(ReadSys(sys + "/diskseq")));
  EXPECT_FALSE(a.synth_uuid);
  EXPECT_EQ(ReadSys(sys + "/size"), std::to_string((4 << 20) / 512));

  ASSERT_TRUE(loop->Resize(8 << 20).ok());
  Collected resize = Collect(*sock_, For(loop->devpath()), 1);
  ASSERT_EQ(resize.events.size(), 1u);
  EXPECT_EQ(Prop(resize.events[0], "RESIZE"), "1");
  EXPECT_GT(resize.events[0].seqnum, a.seqnum);
  EXPECT_EQ(ReadSys(sys + "/size"), std::to_string((8 << 20) / 512));

  // The self-check round trip: our uuid and a tag come back as SYNTH_UUID and SYNTH_ARG_*.
  std::string uuid = NewUuid();
  ASSERT_TRUE(WriteSys(sys + "/uevent", "change " + uuid + " DISKINV=selftest"));
  ASSERT_TRUE(WriteSys(sys + "/uevent", "change"));
  Collected synth = Collect(*sock_, For(loop->devpath()), 2);
  ASSERT_EQ(synth.events.size(), 2u);
  EXPECT_EQ(synth.events[0].synth_uuid, uuid);
  EXPECT_EQ(Prop(synth.events[0], "SYNTH_ARG_DISKINV"), "selftest");
  EXPECT_EQ(synth.events[1].synth_uuid, "0");
  EXPECT_EQ(synth.events[1].Find("SYNTH_ARG_DISKINV"), nullptr);
  // Keys must be alphanumeric: the kernel refuses the write and sends nothing.
  EXPECT_FALSE(WriteSys(sys + "/uevent", "change " + uuid + " BAD_KEY=x"));
  EXPECT_FALSE(WriteSys(sys + "/uevent", "change not-a-uuid"));

  std::string diskseq_before = ReadSys(sys + "/diskseq");
  ASSERT_TRUE(loop->Detach().ok());
  Collected detach = Collect(*sock_, For(loop->devpath()), 2);
  ASSERT_EQ(detach.events.size(), 2u);
  EXPECT_EQ(detach.events[0].Find("DISK_MEDIA_CHANGE"), nullptr);
  EXPECT_EQ(Prop(detach.events[1], "DISK_MEDIA_CHANGE"), "1");
  // The media-change event is sent before the kernel bumps diskseq.
  EXPECT_EQ(std::to_string(*detach.events[1].diskseq), diskseq_before);
  EXPECT_EQ(std::stoull(ReadSys(sys + "/diskseq")), std::stoull(diskseq_before) + 1);
  EXPECT_EQ(ReadSys(sys + "/size"), "0");
  EXPECT_TRUE(attach.resyncs.empty() && resize.resyncs.empty() && detach.resyncs.empty());
}

TEST_F(KernelUevents, LoopControlAddRemove) {
  DISKINV_REQUIRE_FACILITY(access("/dev/loop-control", F_OK) == 0, "no /dev/loop-control");
  Result<std::unique_ptr<NetlinkSocket>> all = NetlinkSocket::Open();  // every subsystem
  ASSERT_TRUE(all.ok());
  Result<int> idx = LoopControlAdd();
  ASSERT_TRUE(idx.ok()) << idx.status().message();
  std::string devpath = fmt::format("/devices/virtual/block/loop{}", *idx);
  Collected add = Collect(*sock_, For(devpath), 1);
  ASSERT_EQ(add.events.size(), 1u);
  EXPECT_EQ(add.events[0].action, UeventAction::kAdd);
  EXPECT_EQ(add.events[0].devname, fmt::format("loop{}", *idx));
  EXPECT_EQ(add.events[0].minor, static_cast<uint32_t>(*idx));
  ASSERT_TRUE(LoopControlRemove(*idx).ok());
  Collected rm = Collect(*sock_, For(devpath), 1);
  ASSERT_EQ(rm.events.size(), 1u);
  EXPECT_EQ(rm.events[0].action, UeventAction::kRemove);
  EXPECT_EQ(rm.events[0].diskseq, add.events[0].diskseq);
  // The unfiltered socket also saw the backing-dev-info device come and go, in order.
  std::string bdi = fmt::format("/devices/virtual/bdi/7:{}", *idx);
  Collected both = Collect(
      **all, [&](const Uevent& e) { return e.devpath == bdi || e.devpath == devpath; }, 4);
  ASSERT_EQ(both.events.size(), 4u);
  std::vector<std::string> seen;
  for (const Uevent& e : both.events) {
    seen.push_back(fmt::format("{} {}", ToString(e.action), e.subsystem));
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"add bdi", "add block", "remove bdi", "remove block"}));
  EXPECT_EQ((*all)->stats().filtered, 0u);
  EXPECT_GE(sock_->stats().filtered, 2u);  // the bdi events
}

TEST_F(KernelUevents, ZramHotAddHotRemove) {
  const std::string ctl = "/sys/class/zram-control";
  DISKINV_REQUIRE_FACILITY(access((ctl + "/hot_add").c_str(), F_OK) == 0,
                           "no zram-control (modprobe zram)");
  std::string id = ReadSys(ctl + "/hot_add");  // reading hot_add creates the device
  ASSERT_FALSE(id.empty());
  std::string devpath = "/devices/virtual/block/zram" + id;
  Collected add = Collect(*sock_, For(devpath), 1);
  ASSERT_EQ(add.events.size(), 1u);
  EXPECT_EQ(add.events[0].action, UeventAction::kAdd);
  EXPECT_EQ(add.events[0].devname, "zram" + id);
  EXPECT_EQ(add.events[0].devtype, "disk");
  EXPECT_EQ(std::to_string(*add.events[0].minor), id);
  EXPECT_TRUE(add.events[0].diskseq);
  ASSERT_TRUE(WriteSys(ctl + "/hot_remove", id));
  Collected rm = Collect(*sock_, For(devpath), 1);
  ASSERT_EQ(rm.events.size(), 1u);
  EXPECT_EQ(rm.events[0].action, UeventAction::kRemove);
  EXPECT_GT(rm.events[0].seqnum, add.events[0].seqnum);
}

TEST_F(KernelUevents, DatagramFromUserSpaceIsRejected) {
  DISKINV_REQUIRE_FACILITY(access("/dev/loop-control", F_OK) == 0, "no /dev/loop-control");
  int tx = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);
  ASSERT_GE(tx, 0);
  sockaddr_nl src{};
  src.nl_family = AF_NETLINK;
  ASSERT_EQ(bind(tx, reinterpret_cast<sockaddr*>(&src), sizeof src), 0);
  // A perfectly well-formed kernel datagram announcing a disk that does not exist.
  const std::string fake = "/devices/virtual/block/diskinv-forged";
  std::string d = fmt::format("add@{0}", fake) + '\0' + "ACTION=add" + '\0' + "DEVPATH=" + fake +
                  '\0' + "SUBSYSTEM=block" + '\0' + "SEQNUM=1" + '\0';
  ASSERT_TRUE(ParseKernelUevent(d).ok());
  sockaddr_nl dst{};
  dst.nl_family = AF_NETLINK;
  dst.nl_groups = 1;
  ASSERT_EQ(sendto(tx, d.data(), d.size(), 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst),
            static_cast<ssize_t>(d.size()))
      << std::strerror(errno);
  close(tx);
  // A real event after it, as a sentinel: once it arrives the forged one was read too.
  Result<LoopDevice> loop = LoopDevice::Attach(1 << 20);
  ASSERT_TRUE(loop.ok()) << loop.status().message();
  Collected c = Collect(
      *sock_, [&](const Uevent& e) { return e.devpath == fake || e.devpath == loop->devpath(); },
      1);
  ASSERT_EQ(c.events.size(), 1u);
  EXPECT_EQ(c.events[0].devpath, loop->devpath());
  EXPECT_EQ(sock_->stats().rejected.count(UeventReject::kUntrustedSender), 1u);
  sock_->Receive();  // and the detach
  ASSERT_TRUE(loop->Detach().ok());
  Collect(*sock_, For(loop->devpath()), 2);
  expected_rejects_ = 1;
}

// Everything `src` has queued now, in order, events and Resyncs alike.
std::vector<SourceEvent> Drain(UeventSource& src) {
  std::vector<SourceEvent> all;
  for (;;) {
    Result<std::vector<SourceEvent>> got = src.Receive();
    EXPECT_TRUE(got.ok()) << got.status().message();
    if (!got.ok() || got->empty()) return all;
    for (SourceEvent& e : *got) all.push_back(std::move(e));
  }
}

// Events of every subsystem the reference socket saw with SEQNUM in (after, upto].
size_t CountBetween(const std::vector<Uevent>& ref, uint64_t after, uint64_t upto) {
  return std::count_if(ref.begin(), ref.end(),
                       [&](const Uevent& e) { return e.seqnum > after && e.seqnum <= upto; });
}

uint64_t LastSeqnum(const std::vector<SourceEvent>& v) {
  uint64_t last = 0;
  for (const SourceEvent& e : v) {
    if (const auto* u = std::get_if<Uevent>(&e)) last = u->seqnum;
  }
  return last;
}

// The kernel stops delivering to an overflowed socket until its queue is empty and reports
// ENOBUFS once: the Resync must come after the drain, counting what the episode dropped.
TEST_F(KernelUevents, OverflowResyncComesAfterTheDrainAndCountsTheLoss) {
  Result<std::unique_ptr<NetlinkSocket>> ref = NetlinkSocket::Open();  // all subsystems
  ASSERT_TRUE(ref.ok());
  Result<std::unique_ptr<NetlinkSocket>> small =
      NetlinkSocket::Open({.receive_buffer_bytes = 4096, .subsystems = {"block"}});
  ASSERT_TRUE(small.ok());
  Result<LoopDevice> loop = LoopDevice::Attach(1 << 20);
  ASSERT_TRUE(loop.ok()) << loop.status().message();
  const std::string uevent = "/sys/block/" + loop->name() + "/uevent";
  constexpr int kWrites = 500;
  for (int i = 0; i < kWrites; ++i) ASSERT_TRUE(WriteSys(uevent, "change"));
  Collected big = Collect(*sock_, For(loop->devpath()), kWrites + 1);
  Collected all = Collect(
      **ref, [](const Uevent&) { return true; }, kWrites + 1);
  EXPECT_EQ(big.events.size(), static_cast<size_t>(kWrites + 1));  // attach + the writes
  EXPECT_TRUE(big.resyncs.empty());

  std::vector<SourceEvent> lossy = Drain(**small);
  ASSERT_FALSE(lossy.empty());
  ASSERT_TRUE(std::holds_alternative<Resync>(lossy.back())) << "the Resync is last";
  const Resync& r = std::get<Resync>(lossy.back());
  EXPECT_EQ(r.reason, ResyncReason::kOverflow);
  size_t kept = lossy.size() - 1;
  EXPECT_LT(kept, big.events.size());
  for (size_t i = 0; i < kept; ++i) EXPECT_TRUE(std::holds_alternative<Uevent>(lossy[i]));
  uint64_t last_kept = LastSeqnum(lossy);
  EXPECT_EQ(r.lost, CountBetween(all.events, last_kept, all.events.back().seqnum)) << r.detail;
  EXPECT_EQ((*small)->stats().overflows, 1u);
  EXPECT_EQ((*small)->stats().resyncs, 1u);
  EXPECT_EQ((*small)->stats().lost, r.lost);
  // The loss is accounted once: no SEQNUM gap on the next event, nothing when idle.
  ASSERT_TRUE(WriteSys(uevent, "change"));
  Collect(*sock_, For(loop->devpath()), 1);
  std::vector<SourceEvent> next = Drain(**small);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<Uevent>(next[0]));
  Result<std::vector<SourceEvent>> idle = (*small)->CheckIdle();
  ASSERT_TRUE(idle.ok());
  EXPECT_TRUE(idle->empty());
  EXPECT_EQ((*small)->stats().seqnum_gaps, 0u);
  std::printf("[ info ] %d changes into a %d-byte buffer: kept %zu, lost %lu, 1 ENOBUFS\n", kWrites,
              (*small)->receive_buffer_bytes(), kept, r.lost);
  ASSERT_TRUE(loop->Detach().ok());
  Collect(*sock_, For(loop->devpath()), 2);
}

// With ENOBUFS turned off (NETLINK_NO_ENOBUFS) a full queue drops silently; the events lost at
// the end of the burst leave no gap behind them. The kernel's counter, read when idle, does.
TEST_F(KernelUevents, TailLossIsFoundByCheckIdle) {
  Result<std::unique_ptr<NetlinkSocket>> ref = NetlinkSocket::Open();
  ASSERT_TRUE(ref.ok());
  Result<std::unique_ptr<NetlinkSocket>> small =
      NetlinkSocket::Open({.receive_buffer_bytes = 4096, .subsystems = {"block"}});
  ASSERT_TRUE(small.ok());
  int one = 1;
  ASSERT_EQ(setsockopt((*small)->fd(), SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof one), 0);
  Result<LoopDevice> loop = LoopDevice::Attach(1 << 20);
  ASSERT_TRUE(loop.ok()) << loop.status().message();
  const std::string uevent = "/sys/block/" + loop->name() + "/uevent";
  constexpr int kWrites = 300;
  for (int i = 0; i < kWrites; ++i) ASSERT_TRUE(WriteSys(uevent, "change"));
  Collect(*sock_, For(loop->devpath()), kWrites + 1);
  Collected all = Collect(
      **ref, [](const Uevent&) { return true; }, kWrites + 1);

  std::vector<SourceEvent> lossy = Drain(**small);
  ASSERT_FALSE(lossy.empty());
  for (const SourceEvent& e : lossy) ASSERT_TRUE(std::holds_alternative<Uevent>(e));
  EXPECT_LT(lossy.size(), static_cast<size_t>(kWrites + 1));
  EXPECT_EQ((*small)->stats().overflows, 0u);
  Result<std::vector<SourceEvent>> idle = (*small)->CheckIdle();
  ASSERT_TRUE(idle.ok()) << idle.status().message();
  ASSERT_EQ(idle->size(), 1u);
  ASSERT_TRUE(std::holds_alternative<Resync>((*idle)[0]));
  const Resync& r = std::get<Resync>((*idle)[0]);
  EXPECT_EQ(r.reason, ResyncReason::kTailLoss);
  EXPECT_EQ(r.lost, CountBetween(all.events, LastSeqnum(lossy), all.events.back().seqnum))
      << r.detail;
  EXPECT_EQ((*small)->stats().tail_losses, 1u);
  EXPECT_EQ((*small)->stats().resyncs, 1u);
  Result<std::vector<SourceEvent>> again = (*small)->CheckIdle();
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->empty()) << "reported once";
  ASSERT_TRUE(loop->Detach().ok());
  Collect(*sock_, For(loop->devpath()), 2);
}

}  // namespace
}  // namespace diskinv
