// rules/60-diskinv.rules with a real systemd-udevd: installed into the runtime rules
// directory (/run/udev/rules.d), with an ignore rule in 59-diskinv-ignore.rules, then new loop
// devices (each with a partition) appear. Checks the udev database (tag, SYSTEMD_WANTS,
// DISKINV_IGNORE inherited by partitions) and that the agent's libudev source, filtered by
// the tag, sees the tagged devices and never the ignored ones. Also `udevadm test` (and
// `udevadm verify` where udev has it) on the rules and the shipped ignore example. The rules
// are removed afterwards.
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <linux/blkpg.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "support/loop_device.h"  // LoopControlAdd/Remove
#include "support/lsblk_compare.h"
#include "support/shell.h"
#include "support/udev_fixtures.h"
#include "support/udevd.h"
#include "uevent/udev_monitor.h"

namespace diskinv {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using testing::Udevd;

const fs::path kRunRules = testing::kRunUdevRules;
using testing::FreshLoop;
using testing::RuntimeRules;
using testing::UnusedLoopIndex;

std::string DevNum(const std::string& sysfs_dir) {
  std::string s = testing::ReadWholeFile(sysfs_dir + "/dev");
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

// The udev database record of a block device ("b7:0").
std::string UdevDb(const std::string& devnum) {
  return testing::ReadWholeFile("/run/udev/data/b" + devnum);
}

class UdevRules : public ::testing::Test {
 protected:
  static void TearDownTestSuite() { udevd_.reset(); }
  void SetUp() override {
    std::string missing = testing::LoopDevicesAndUdevd(udevd_);
    DISKINV_REQUIRE_FACILITY(missing.empty(), missing);
    src_ = testing::SourceDir();
    rules_ = src_ / "rules/60-diskinv.rules";
    example_ = src_ / "rules/59-diskinv-ignore.rules.example";
    ASSERT_TRUE(fs::exists(rules_)) << rules_;
    ASSERT_TRUE(fs::exists(example_)) << example_;
  }
  void TearDown() override {
    if (udevd_) (void)udevd_->ReloadRules();  // the RuntimeRules of the test are gone by now
  }

  static inline std::unique_ptr<Udevd> udevd_;
  fs::path src_, rules_, example_;
};

// The line "KEY=..." of `udevadm test` output (its property dump), or "".
std::string PropertyLine(const std::string& out, const std::string& key) {
  size_t p = out.find("\n" + key + "=");
  return p == std::string::npos ? "" : out.substr(p + 1, out.find('\n', p + 1) - p - 1);
}

TEST_F(UdevRules, UdevadmFindsNoProblemInTheRulesAndTheExample) {
  auto [vrc, vout] = testing::RunShell("udevadm verify --help");
  if (vrc == 0) {
    auto [rc, out] = testing::RunShell("udevadm verify --resolve-names=never " + rules_.string() +
                                       " " + example_.string());
    EXPECT_EQ(rc, 0) << out;
  } else {
    auto [rc, version] = testing::RunShell("udevadm --version");
    std::printf(
        "[ info ] udevadm %s has no 'verify' (systemd >= 253): checked with 'udevadm test'\n",
        version.substr(0, version.find('\n')).c_str());
  }
  auto loop = FreshLoop::Create(4 << 20);
  ASSERT_TRUE(loop.ok()) << loop.status().message();
  ASSERT_TRUE(udevd_->Settle().ok());
  std::string test = "udevadm test --action=add /sys/class/block/" + (*loop)->name();
  std::string test_part = "udevadm test --action=add /sys/class/block/" + (*loop)->name() + "p1";
  // Each file was read and produced no diagnostic ("<file>:<line> <problem>").
  auto clean = [](const std::string& out, const std::string& file) {
    std::string path = (kRunRules / file).string();
    EXPECT_NE(out.find("Reading rules file: " + path), std::string::npos) << out;
    EXPECT_EQ(out.find(path + ":"), std::string::npos) << out;
  };
  {
    RuntimeRules installed;
    installed.Install(rules_, "60-diskinv.rules");
    auto [rc, out] = testing::RunShell(test);
    ASSERT_EQ(rc, 0) << out;
    clean(out, "60-diskinv.rules");
    EXPECT_NE(PropertyLine(out, "CURRENT_TAGS").find(":diskinv:"), std::string::npos) << out;
    EXPECT_EQ(PropertyLine(out, "SYSTEMD_WANTS"), "SYSTEMD_WANTS=diskinv-agent.service") << out;
    EXPECT_EQ(PropertyLine(out, "DISKINV_IGNORE"), "") << out;
    auto [prc, pout] = testing::RunShell(test_part);
    ASSERT_EQ(prc, 0) << pout;
    EXPECT_NE(PropertyLine(pout, "CURRENT_TAGS").find(":diskinv:"), std::string::npos) << pout;
    EXPECT_EQ(PropertyLine(pout, "SYSTEMD_WANTS"), "") << pout;  // disks only
  }
  {
    // The shipped example, whose last rule ignores every loop device.
    RuntimeRules installed;
    installed.Install(rules_, "60-diskinv.rules");
    installed.Install(example_, "59-diskinv-ignore.rules");
    auto [rc, out] = testing::RunShell(test);
    ASSERT_EQ(rc, 0) << out;
    clean(out, "60-diskinv.rules");
    clean(out, "59-diskinv-ignore.rules");
    EXPECT_EQ(PropertyLine(out, "DISKINV_IGNORE"), "DISKINV_IGNORE=1") << out;
    EXPECT_EQ(PropertyLine(out, "CURRENT_TAGS").find(":diskinv:"), std::string::npos) << out;
    EXPECT_EQ(PropertyLine(out, "SYSTEMD_WANTS"), "") << out;
  }
}

TEST_F(UdevRules, RealUdevdTagsDevicesAndTheTagFilteredMonitorSeesOnlyThem) {
  // The ignored device is chosen by its kernel name, which it has from its first event on.
  const int ignored_index = UnusedLoopIndex();
  RuntimeRules installed;
  installed.Install(rules_, "60-diskinv.rules");
  installed.Append(
      "59-diskinv-ignore.rules",
      fmt::format("SUBSYSTEM==\"block\", KERNEL==\"loop{}\", ENV{{DISKINV_IGNORE}}=\"1\"",
                  ignored_index));
  ASSERT_TRUE(udevd_->ReloadRules().ok());
  Result<std::unique_ptr<UdevMonitor>> mon = UdevMonitor::Open({.tag = "diskinv"});
  ASSERT_TRUE(mon.ok()) << mon.status().message();

  auto kept = FreshLoop::Create(4 << 20);
  auto ignored = FreshLoop::Create(4 << 20, ignored_index);
  ASSERT_TRUE(kept.ok()) << kept.status().message();
  ASSERT_TRUE(ignored.ok()) << ignored.status().message();
  const std::string kept_part = (*kept)->part_devpath();
  const std::string ignored_part = (*ignored)->part_devpath();

  // Everything the tag-filtered monitor delivers, until the kept disk and its partition
  // were seen, then one more second for anything (wrongly) late.
  std::vector<Uevent> seen;
  auto collect = [&](auto done, milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline && !done()) {
      pollfd p{(*mon)->fd(), POLLIN, 0};
      poll(&p, 1, 100);
      Result<std::vector<SourceEvent>> got = (*mon)->Receive();
      ASSERT_TRUE(got.ok()) << got.status().message();
      for (SourceEvent& e : *got) {
        if (auto* u = std::get_if<Uevent>(&e)) seen.push_back(*u);
      }
    }
  };
  auto saw = [&](const std::string& devpath, UeventAction action) {
    for (const Uevent& u : seen) {
      if (u.devpath == devpath && u.action == action) return true;
    }
    return false;
  };
  collect(
      [&] {
        return saw((*kept)->devpath(), UeventAction::kChange) && saw(kept_part, UeventAction::kAdd);
      },
      milliseconds(10000));
  ASSERT_TRUE(udevd_->Settle().ok());
  collect([] { return false; }, milliseconds(1000));

  EXPECT_TRUE(saw((*kept)->devpath(), UeventAction::kChange));
  EXPECT_TRUE(saw(kept_part, UeventAction::kAdd));
  for (const Uevent& u : seen) {
    EXPECT_NE(u.devpath, (*ignored)->devpath()) << "ignored disk delivered: " << u.devpath;
    EXPECT_NE(u.devpath, ignored_part) << "ignored partition delivered";
    ASSERT_NE(u.Find("TAGS"), nullptr);
    EXPECT_NE(u.Find("TAGS")->find(":diskinv:"), std::string::npos);
  }

  // The udev database: tag (and its index), SYSTEMD_WANTS on the disk only.
  const std::string kept_num = DevNum("/sys/block/" + (*kept)->name());
  const std::string kept_part_num =
      DevNum("/sys/block/" + (*kept)->name() + "/" + (*kept)->name() + "p1");
  const std::string ign_num = DevNum("/sys/block/" + (*ignored)->name());
  const std::string ign_part_num =
      DevNum("/sys/block/" + (*ignored)->name() + "/" + (*ignored)->name() + "p1");
  std::string db = UdevDb(kept_num);
  EXPECT_NE(db.find("\nG:diskinv\n"), std::string::npos) << db;
  EXPECT_NE(db.find("\nQ:diskinv\n"), std::string::npos) << db;  // current tag too
  EXPECT_NE(db.find("\nE:SYSTEMD_WANTS=diskinv-agent.service\n"), std::string::npos) << db;
  EXPECT_TRUE(fs::exists("/run/udev/tags/diskinv/b" + kept_num));
  db = UdevDb(kept_part_num);
  EXPECT_NE(db.find("\nG:diskinv\n"), std::string::npos) << db;
  EXPECT_EQ(db.find("SYSTEMD_WANTS"), std::string::npos) << db;
  for (const std::string& num : {ign_num, ign_part_num}) {
    db = UdevDb(num);
    EXPECT_NE(db.find("\nE:DISKINV_IGNORE=1\n"), std::string::npos) << num << ": " << db;
    EXPECT_EQ(db.find("G:diskinv"), std::string::npos) << num << ": " << db;
    EXPECT_FALSE(fs::exists("/run/udev/tags/diskinv/b" + num));
  }

  // Removal reaches the agent too: udev keeps the tag of a removed device's last record.
  seen.clear();
  const std::string kept_devpath = (*kept)->devpath();
  ASSERT_TRUE((*kept)->Detach().ok());
  ASSERT_TRUE(udevd_->Settle().ok());
  Status removed;
  for (int i = 0; i < 50; ++i) {  // EBUSY while udev workers still have it open
    if ((removed = (*kept)->Remove()).ok()) break;
    std::this_thread::sleep_for(milliseconds(20));
  }
  ASSERT_TRUE(removed.ok()) << removed.message();
  collect([&] { return saw(kept_devpath, UeventAction::kRemove); }, milliseconds(10000));
  EXPECT_TRUE(saw(kept_part, UeventAction::kRemove));  // the partition went with the detach
  EXPECT_TRUE(saw(kept_devpath, UeventAction::kRemove));
}

// Documents a udev behaviour the agent must handle: a device ignored only after it was
// tagged keeps "diskinv" in TAGS (which the monitor's filter matches) and loses it from
// CURRENT_TAGS; DISKINV_IGNORE=1 is in its events.
TEST_F(UdevRules, IgnoringATaggedDeviceLaterKeepsItInTheMonitorWithoutCurrentTag) {
  RuntimeRules installed;
  installed.Install(rules_, "60-diskinv.rules");
  ASSERT_TRUE(udevd_->ReloadRules().ok());
  auto made = FreshLoop::Create(2 << 20);
  ASSERT_TRUE(made.ok()) << made.status().message();
  FreshLoop* loop = made->get();
  ASSERT_TRUE(udevd_->Settle().ok());
  ASSERT_NE(UdevDb(DevNum("/sys/block/" + loop->name())).find("\nG:diskinv\n"), std::string::npos);
  installed.Append("59-diskinv-ignore.rules",
                   fmt::format("SUBSYSTEM==\"block\", KERNEL==\"{}\", ENV{{DISKINV_IGNORE}}=\"1\"",
                               loop->name()));
  ASSERT_TRUE(udevd_->ReloadRules().ok());
  Result<std::unique_ptr<UdevMonitor>> mon = UdevMonitor::Open({.tag = "diskinv"});
  ASSERT_TRUE(mon.ok());
  std::ofstream("/sys/block/" + loop->name() + "/uevent") << "change";
  std::optional<Uevent> got;
  auto deadline = Clock::now() + milliseconds(10000);
  while (!got && Clock::now() < deadline) {
    pollfd p{(*mon)->fd(), POLLIN, 0};
    poll(&p, 1, 100);
    Result<std::vector<SourceEvent>> r = (*mon)->Receive();
    ASSERT_TRUE(r.ok());
    for (SourceEvent& e : *r) {
      if (auto* u = std::get_if<Uevent>(&e); u && u->devpath == loop->devpath()) got = *u;
    }
  }
  ASSERT_TRUE(got) << "the tag filter no longer passes the device";
  ASSERT_NE(got->Find("DISKINV_IGNORE"), nullptr);
  EXPECT_EQ(*got->Find("DISKINV_IGNORE"), "1");
  EXPECT_NE(got->Find("TAGS")->find(":diskinv:"), std::string::npos);
  ASSERT_NE(got->Find("CURRENT_TAGS"), nullptr);
  EXPECT_EQ(got->Find("CURRENT_TAGS")->find(":diskinv:"), std::string::npos);
}

}  // namespace
}  // namespace diskinv
