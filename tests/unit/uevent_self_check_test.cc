// RunSelfCheck over a temporary sysroot: the "kernel" is a fake source that answers what was
// written into the uevent file, as the real kernel does; and the failures a user can hit.
#include "uevent/self_check.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "uevent/fake_uevent_source.h"

namespace diskinv {
namespace {

namespace fs = std::filesystem;

class SelfCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("diskinv-selfcheck-" + std::to_string(getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    for (const char* name : {"vdb", "loop3", "vda"}) {
      fs::create_directories(root_ / "sys/class/block" / name);
      std::ofstream(root_ / "sys/class/block" / name / "uevent");
      fs::create_directories(root_ / "sys/block" / name);
    }
  }
  void TearDown() override { fs::remove_all(root_); }

  std::string Written(const std::string& dev) {
    std::ifstream f(root_ / "sys/class/block" / dev / "uevent");
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }

  // What the kernel would send for what was written into `dev`'s uevent file.
  Uevent Answer(const std::string& dev, uint64_t seqnum) {
    std::istringstream in(Written(dev));
    std::string action, uuid, arg;
    in >> action >> uuid >> arg;
    std::vector<UeventProperty> props = {{"ACTION", action},
                                         {"DEVPATH", "/devices/virtual/block/" + dev},
                                         {"SUBSYSTEM", "block"},
                                         {"SYNTH_UUID", uuid},
                                         {"SYNTH_ARG_" + arg.substr(0, arg.find('=')),
                                          arg.substr(arg.find('=') + 1)},
                                         {"SEQNUM", std::to_string(seqnum)}};
    Result<Uevent> ev = UeventFromProperties(UeventOrigin::kKernel, std::move(props));
    EXPECT_TRUE(ev.ok()) << ev.status().message();
    return *ev;
  }

  fs::path root_;
};

TEST_F(SelfCheckTest, RoundTripPassesAndNothingIsSwallowed) {
  FakeUeventSource kernel, udev;
  // Already queued: an unrelated event and a Resync, which must reach the sink, in order.
  Result<Uevent> other = UeventFromProperties(
      UeventOrigin::kKernel, {{"ACTION", "add"},
                              {"DEVPATH", "/devices/virtual/block/loop7"},
                              {"SUBSYSTEM", "block"},
                              {"SEQNUM", "10"}});
  ASSERT_TRUE(other.ok());
  kernel.Push(*other);
  udev.Push(Resync{ResyncReason::kOverflow, 0, "test"});
  std::vector<std::string> sunk;
  bool answered = false;
  auto sink = [&](size_t i, SourceEvent e) {
    if (const auto* u = std::get_if<Uevent>(&e)) {
      sunk.push_back(fmt::format("{} {} {}", i, ToString(u->action), u->devpath));
    } else {
      sunk.push_back(fmt::format("{} resync", i));
    }
    // Once the kernel source was read, the write has happened: answer it on both.
    if (!answered && i == 0) {
      answered = true;
      kernel.Push(Answer("loop3", 11));
      udev.Push(Answer("loop3", 11));
    }
  };
  Result<SelfCheckReport> r =
      RunSelfCheck({&kernel, &udev}, {.sysroot = root_.string(), .device = "loop3"}, sink);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->device, "loop3");
  EXPECT_TRUE(std::regex_match(r->uuid, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-"
                                                   "[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
      << r->uuid;
  EXPECT_EQ(Written("loop3"), "change " + r->uuid + " DISKINV=selftest");
  ASSERT_EQ(r->round_trip.size(), 2u);
  EXPECT_GE(r->round_trip[0].count(), 0);
  EXPECT_GE(r->round_trip[1].count(), 0);
  // In arrival order per source.
  std::stable_sort(sunk.begin(), sunk.end(),
                   [](const std::string& a, const std::string& b) { return a[0] < b[0]; });
  EXPECT_EQ(sunk, (std::vector<std::string>{"0 add /devices/virtual/block/loop7",
                                            "0 change /devices/virtual/block/loop3", "1 resync",
                                            "1 change /devices/virtual/block/loop3"}));
}

TEST_F(SelfCheckTest, DefaultDeviceIsTheFirstInSysBlock) {
  FakeUeventSource kernel;
  Result<SelfCheckReport> r = RunSelfCheck(
      {&kernel}, {.sysroot = root_.string(), .device = "", .timeout = std::chrono::milliseconds(10)});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ETIMEDOUT);
  EXPECT_NE(Written("loop3").find("change "), std::string::npos);  // "loop3" < "vda" < "vdb"
  EXPECT_TRUE(Written("vda").empty());
}

TEST_F(SelfCheckTest, SilenceIsATimeoutNamingTheSilentSource) {
  FakeUeventSource kernel, udev;
  Result<SelfCheckReport> r = RunSelfCheck(
      {&kernel, &udev},
      {.sysroot = root_.string(), .device = "vda", .timeout = std::chrono::milliseconds(50)},
      [&](size_t, SourceEvent) {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ETIMEDOUT);
  EXPECT_TRUE(std::regex_search(r.status().message(),
                                std::regex("no event with SYNTH_UUID=[-0-9a-f]{36} for vda from "
                                           "fake, fake within 50 ms")))
      << r.status().message();
}

TEST_F(SelfCheckTest, BadDeviceTagAndSourcesAreClearErrors) {
  FakeUeventSource kernel;
  Result<SelfCheckReport> r =
      RunSelfCheck({&kernel}, {.sysroot = root_.string(), .device = "sdz"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ENOENT);
  EXPECT_NE(r.status().message().find("no block device \"sdz\""), std::string::npos)
      << r.status().message();
  r = RunSelfCheck({&kernel}, {.sysroot = root_.string(), .device = "../vda"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not a kernel device name"), std::string::npos);
  r = RunSelfCheck({&kernel}, {.sysroot = root_.string(),
                                 .device = "",
                                 .timeout = std::chrono::milliseconds(10),
                                 .tag = "two words"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("tag must be printable"), std::string::npos);
  r = RunSelfCheck({}, SelfCheckOptions{});
  ASSERT_FALSE(r.ok());
  r = RunSelfCheck({&kernel}, {.sysroot = (root_ / "nowhere").string(), .device = ""});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ENOENT);
  kernel.FailNextReceive(Status::FromErrno(EBADF, "recvmsg"));
  kernel.Push(Resync{});  // makes the fd readable
  r = RunSelfCheck({&kernel}, {.sysroot = root_.string(), .device = "vda"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("fake source: recvmsg"), std::string::npos)
      << r.status().message();
}

TEST(SelfCheck, TriggerAndUuidFormat) {
  EXPECT_EQ(SelfCheckTrigger("u", "selftest"), "change u DISKINV=selftest");
  EXPECT_NE(NewUuid(), NewUuid());
  EXPECT_EQ(NewUuid().size(), 36u);
}

}  // namespace
}  // namespace diskinv
