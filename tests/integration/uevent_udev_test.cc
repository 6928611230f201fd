// UdevMonitor against a real systemd-udevd (the running one, or one started by tests/support):
// events arrive after udev processing, with udev's properties, filtered to block and, with a
// rule we install for the test, to the tag "diskinv".
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <vector>

#include "integration/uevent_test_support.h"
#include "support/loop_device.h"
#include "support/udevd.h"
#include "uevent/netlink_socket.h"
#include "uevent/self_check.h"
#include "uevent/udev_monitor.h"

namespace diskinv {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using testing::LoopDevice;
using testing::Udevd;

struct Seen {
  Uevent event;
  Clock::time_point at;
};

// Reads every source until `done` says so or the timeout; events are stamped on arrival.
std::vector<std::vector<Seen>> Collect(
    const std::vector<UeventSource*>& srcs, const std::function<bool(const Uevent&)>& keep,
    const std::function<bool(const std::vector<std::vector<Seen>>&)>& done,
    milliseconds timeout = milliseconds(10000)) {
  std::vector<std::vector<Seen>> seen(srcs.size());
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline && !done(seen)) {
    std::vector<pollfd> p;
    for (UeventSource* s : srcs) p.push_back({s->fd(), POLLIN, 0});
    poll(p.data(), p.size(), 100);
    for (size_t i = 0; i < srcs.size(); ++i) {
      if (!(p[i].revents & POLLIN)) continue;
      auto now = Clock::now();
      Result<std::vector<SourceEvent>> got = srcs[i]->Receive();
      EXPECT_TRUE(got.ok()) << got.status().message();
      if (!got.ok()) return seen;
      for (SourceEvent& e : *got) {
        if (auto* u = std::get_if<Uevent>(&e); u && keep(*u)) seen[i].push_back({*u, now});
      }
    }
  }
  return seen;
}

class UdevUevents : public ::testing::Test {
 protected:
  // One udevd for the suite: started (if none runs) by the first test, stopped after the last.
  static void TearDownTestSuite() { udevd_.reset(); }
  void SetUp() override {
    std::string missing = testing::LoopDevicesAndUdevd(udevd_);
    DISKINV_REQUIRE_FACILITY(missing.empty(), missing);
  }
  static inline std::unique_ptr<Udevd> udevd_;
};

TEST_F(UdevUevents, SeesLoopEventsAfterUdevProcessingWithUdevProperties) {
  Result<std::unique_ptr<UdevMonitor>> mon = UdevMonitor::Open();
  ASSERT_TRUE(mon.ok()) << mon.status().message();
  EXPECT_GE((*mon)->receive_buffer_bytes(), 128 << 20);
  Result<std::unique_ptr<NetlinkSocket>> kernel = NetlinkSocket::Open({.subsystems = {"block"}});
  ASSERT_TRUE(kernel.ok());

  Result<LoopDevice> loop = LoopDevice::Attach(4 << 20);
  ASSERT_TRUE(loop.ok()) << loop.status().message();
  auto mine = [&](const Uevent& e) { return e.devpath == loop->devpath(); };
  auto both = [](size_t n) {
    return [n](const auto& s) { return s[0].size() >= n && s[1].size() >= n; };
  };
  auto attach = Collect({kernel->get(), mon->get()}, mine, both(1));
  ASSERT_EQ(attach[0].size(), 1u);
  ASSERT_EQ(attach[1].size(), 1u);
  const Uevent& k = attach[0][0].event;
  const Uevent& u = attach[1][0].event;
  EXPECT_EQ(u.origin, UeventOrigin::kUdev);
  EXPECT_EQ(u.action, UeventAction::kChange);
  EXPECT_EQ(u.seqnum, k.seqnum);  // the same kernel event, after udev
  EXPECT_EQ(u.devname, "/dev/" + loop->name());
  EXPECT_EQ(u.major, k.major);
  EXPECT_EQ(u.minor, k.minor);
  EXPECT_EQ(u.diskseq, k.diskseq);
  // udev's own properties: the database stamp, its symlinks and tags.
  EXPECT_NE(u.Find("USEC_INITIALIZED"), nullptr);
  ASSERT_NE(u.Find("DEVLINKS"), nullptr);
  EXPECT_NE(u.Find("DEVLINKS")->find(fmt::format("/dev/disk/by-diskseq/{}", *k.diskseq)),
            std::string::npos)
      << *u.Find("DEVLINKS");
  EXPECT_NE(u.Find("TAGS"), nullptr);
  EXPECT_EQ(k.Find("DEVLINKS"), nullptr);
  EXPECT_GE(attach[1][0].at, attach[0][0].at);

  // The self-check round trip through udev, and the kernel-to-udev delay of a few events.
  std::vector<double> delays_ms;
  for (int i = 0; i < 20; ++i) {
    std::string uuid = fmt::format("00000000-0000-4000-8000-{:012x}", i + 1);
    {
      std::ofstream f("/sys/block/" + loop->name() + "/uevent");
      f << "change " << uuid << " DISKINV=selftest";
    }
    auto got = Collect({kernel->get(), mon->get()}, mine, both(1));
    ASSERT_EQ(got[0].size(), 1u);
    ASSERT_EQ(got[1].size(), 1u);
    EXPECT_EQ(got[1][0].event.synth_uuid, uuid);
    EXPECT_EQ(*got[1][0].event.Find("SYNTH_ARG_DISKINV"), "selftest");
    EXPECT_NE(got[1][0].event.Find("USEC_INITIALIZED"), nullptr);
    delays_ms.push_back(
        std::chrono::duration<double, std::milli>(got[1][0].at - got[0][0].at).count());
  }
  std::sort(delays_ms.begin(), delays_ms.end());
  std::printf("[ info ] kernel->udev delay over %zu changes: p50 %.2f ms, max %.2f ms\n",
              delays_ms.size(), delays_ms[delays_ms.size() / 2], delays_ms.back());

  ASSERT_TRUE(loop->Detach().ok());
  auto detach = Collect({kernel->get(), mon->get()}, mine, both(2));
  ASSERT_EQ(detach[1].size(), 2u);
  EXPECT_EQ(*detach[1][1].event.Find("DISK_MEDIA_CHANGE"), "1");
  EXPECT_EQ((*mon)->stats().rejected.total(), 0u) << (*mon)->stats().rejected.ToString();
  EXPECT_EQ((*mon)->stats().overflows, 0u);
}

TEST_F(UdevUevents, LoopControlAddRemoveAfterUdev) {
  Result<std::unique_ptr<UdevMonitor>> mon = UdevMonitor::Open();
  ASSERT_TRUE(mon.ok()) << mon.status().message();
  Result<int> idx = testing::LoopControlAdd();
  ASSERT_TRUE(idx.ok()) << idx.status().message();
  std::string devpath = fmt::format("/devices/virtual/block/loop{}", *idx);
  auto mine = [&](const Uevent& e) { return e.devpath == devpath || e.subsystem != "block"; };
  auto add = Collect({mon->get()}, mine, [](const auto& s) { return s[0].size() >= 1; });
  ASSERT_TRUE(udevd_->Settle().ok());
  ASSERT_TRUE(testing::LoopControlRemove(*idx).ok());
  auto rm = Collect({mon->get()}, mine, [](const auto& s) { return s[0].size() >= 1; });
  ASSERT_EQ(add[0].size(), 1u);
  ASSERT_EQ(rm[0].size(), 1u);
  EXPECT_EQ(add[0][0].event.action, UeventAction::kAdd);  // and no bdi: filtered in the kernel
  EXPECT_EQ(add[0][0].event.devname, fmt::format("/dev/loop{}", *idx));
  EXPECT_EQ(rm[0][0].event.action, UeventAction::kRemove);
}

// A loop index with no device and no udev database record: udev keeps every tag a device ever
// had in TAGS (sticky since systemd 247) and libudev's tag filter matches TAGS, so a reused
// loopN tagged by an earlier run would pass the filter.
int FreshLoopIndex(int from) {
  for (int i = from; i < from + 1000; ++i) {
    if (access(fmt::format("/sys/block/loop{}", i).c_str(), F_OK) != 0 &&
        access(fmt::format("/run/udev/data/b7:{}", i).c_str(), F_OK) != 0) {
      return i;
    }
  }
  return -1;
}

TEST_F(UdevUevents, TagFilterPassesOnlyDevicesOurRuleTagged) {
  int tagged = FreshLoopIndex(200), other = FreshLoopIndex(tagged + 1);
  ASSERT_GE(tagged, 0);
  ASSERT_GE(other, 0);
  ASSERT_TRUE(testing::LoopControlAdd(tagged).ok());
  ASSERT_TRUE(testing::LoopControlAdd(other).ok());
  const std::filesystem::path rules = "/run/udev/rules.d/99-diskinv-test.rules";
  std::filesystem::create_directories(rules.parent_path());
  {
    std::ofstream f(rules);
    f << fmt::format("SUBSYSTEM==\"block\", KERNEL==\"loop{}\", TAG+=\"diskinv\"\n", tagged);
  }
  ASSERT_TRUE(udevd_->Settle().ok());
  ASSERT_TRUE(udevd_->ReloadRules().ok());
  Result<std::unique_ptr<UdevMonitor>> mon = UdevMonitor::Open({.tag = "diskinv"});
  ASSERT_TRUE(mon.ok()) << mon.status().message();
  for (int i : {other, tagged}) {  // the untagged one first
    std::ofstream f(fmt::format("/sys/block/loop{}/uevent", i));
    f << "change";
  }
  // Only the two loops count: any other device tagged "diskinv" on this machine (a disk the
  // installed 60-diskinv.rules tags, another process's loop device) may send events meanwhile.
  auto ours = [&](const Uevent& e) {
    return e.devpath == fmt::format("/devices/virtual/block/loop{}", tagged) ||
           e.devpath == fmt::format("/devices/virtual/block/loop{}", other);
  };
  auto got = Collect({mon->get()}, ours, [](const auto& s) { return !s[0].empty(); });
  auto late = Collect(
      {mon->get()}, ours, [](const auto&) { return false; }, milliseconds(500));
  for (Seen& s : late[0]) got[0].push_back(std::move(s));
  std::filesystem::remove(rules);
  EXPECT_TRUE(udevd_->ReloadRules().ok());
  // Removed while udevd runs, so their database records (and sticky tags) go too.
  EXPECT_TRUE(testing::LoopControlRemove(tagged).ok());
  EXPECT_TRUE(testing::LoopControlRemove(other).ok());
  EXPECT_TRUE(udevd_->Settle().ok());
  ASSERT_EQ(got[0].size(), 1u);
  EXPECT_EQ(got[0][0].event.devpath, fmt::format("/devices/virtual/block/loop{}", tagged));
  EXPECT_NE(got[0][0].event.Find("TAGS")->find(":diskinv:"), std::string::npos);
  EXPECT_EQ(access(fmt::format("/run/udev/data/b7:{}", tagged).c_str(), F_OK), -1);
}

TEST_F(UdevUevents, SelfCheckRoundTripThroughKernelAndUdev) {
  Result<std::unique_ptr<NetlinkSocket>> kernel = NetlinkSocket::Open({.subsystems = {"block"}});
  ASSERT_TRUE(kernel.ok());
  Result<std::unique_ptr<UdevMonitor>> mon = UdevMonitor::Open();
  ASSERT_TRUE(mon.ok()) << mon.status().message();
  Result<LoopDevice> loop = LoopDevice::Attach(1 << 20);
  ASSERT_TRUE(loop.ok()) << loop.status().message();
  ASSERT_TRUE(udevd_->Settle().ok());
  std::vector<std::string> seen;
  auto sink = [&](size_t i, SourceEvent e) {
    if (const auto* u = std::get_if<Uevent>(&e); u && u->devpath == loop->devpath()) {
      seen.push_back(fmt::format("{} {}", i, u->synth_uuid.value_or("-")));
    }
  };
  Result<SelfCheckReport> r =
      RunSelfCheck({kernel->get(), mon->get()}, {.sysroot = "/", .device = loop->name()}, sink);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->round_trip.size(), 2u);
  EXPECT_GE(r->round_trip[1], r->round_trip[0]);  // udev answers after the kernel
  // The attach event (read on the way) and the self-check event, from both sources.
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<std::string>{"0 -", "0 " + r->uuid, "1 -", "1 " + r->uuid}));
  std::printf("[ info ] self-check round trip: kernel %ld us, udev %ld us\n",
              static_cast<long>(r->round_trip[0].count()),
              static_cast<long>(r->round_trip[1].count()));

  // A tag-filtered monitor never sees an untagged device: the check names the silent source.
  Result<std::unique_ptr<UdevMonitor>> tagged = UdevMonitor::Open({.tag = "diskinv-none"});
  ASSERT_TRUE(tagged.ok());
  r = RunSelfCheck({kernel->get(), tagged->get()},
                   {.sysroot = "/", .device = loop->name(), .timeout = milliseconds(300)});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ETIMEDOUT);
  EXPECT_NE(r.status().message().find(" from udev within 300 ms; answered: kernel in "),
            std::string::npos)
      << r.status().message();
  ASSERT_TRUE(loop->Detach().ok());
  EXPECT_TRUE(udevd_->Settle().ok());
}

}  // namespace
}  // namespace diskinv
