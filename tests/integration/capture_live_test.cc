// Capture of the real machine: `lsblk --sysroot CAPTURE -J -O -b` must report the same devices
// and values as `lsblk -J -O -b` on the live system, field by field. Adds its own loop device
// with two partitions so partitions are always part of the comparison.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/blkpg.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>

#include "sysfs/capture.h"

namespace diskinv {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Columns lsblk derives from the mount table (<root>/proc/self/mountinfo and statvfs() of the
// mountpoint), which the capture deliberately does not copy. Every other -O column is compared:
// sysfs attributes, the udev properties (the capture's dev/<name> files carry them) and
// MODE/OWNER/GROUP (the capture records the device node's, as lsblk's fake-file keys).
const std::set<std::string> kNotCaptured = {"mountpoint", "mountpoints", "fsavail", "fssize",
                                            "fsused",     "fsuse%",      "fsroots"};

struct CommandResult {
  int status = -1;
  std::string out;
};

CommandResult Shell(const std::string& cmd) {
  CommandResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) {
    return r;
  }
  char buf[8192];
  while (size_t n = fread(buf, 1, sizeof(buf), p)) {
    r.out.append(buf, n);
  }
  r.status = pclose(p);
  return r;
}

// Every device in lsblk's tree keyed by its path from the root ("vda", "loop3/loop3p1"), so a
// device shown under two parents is compared in both places. The kNotCaptured columns are
// dropped here: fsavail/fsused of a mounted root change from one listing to the next.
void Flatten(const json& devices, const std::string& prefix, std::map<std::string, json>* out) {
  for (const auto& d : devices) {
    std::string key = prefix + d.value("name", std::string("?"));
    json copy = d;
    copy.erase("children");
    for (const auto& field : kNotCaptured) {
      copy.erase(field);
    }
    (*out)[key] = copy;
    if (d.contains("children")) {
      Flatten(d["children"], key + "/", out);
    }
  }
}

std::map<std::string, json> Lsblk(const std::string& sysroot, std::string* raw) {
  std::string cmd = "/usr/bin/lsblk -J -O -b";
  if (!sysroot.empty()) {
    cmd += " --sysroot '" + sysroot + "'";
  }
  CommandResult r = Shell(cmd + " 2>&1");
  *raw = r.out;
  std::map<std::string, json> flat;
  if (r.status != 0) {
    return flat;
  }
  json j = json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.contains("blockdevices")) {
    return flat;
  }
  Flatten(j["blockdevices"], "", &flat);
  return flat;
}

class CaptureLiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (geteuid() != 0) {
      why = "needs root (loop devices, device nodes)";
    } else if (access("/usr/bin/lsblk", X_OK) != 0) {
      why = "needs /usr/bin/lsblk";
    } else if (access("/dev/loop-control", F_OK) != 0) {
      why = "needs /dev/loop-control";
    }
    if (!why.empty()) {
      if (std::getenv("CI") == nullptr) {
        GTEST_SKIP() << why << " (CI is unset)";
      }
      FAIL() << why;
    }
    char tmpl[] = "/tmp/capture_live.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    tmp_ = tmpl;
    AttachLoopWithPartitions();
  }

  void TearDown() override {
    if (!loop_.empty()) {
      Shell("/usr/sbin/losetup -d " + loop_ + " 2>&1");
    }
    std::error_code ec;
    if (!tmp_.empty()) {
      fs::remove_all(tmp_, ec);
    }
  }

  // This kernel may have no partition-table parsers (CONFIG_MSDOS_PARTITION unset), so the
  // partitions are added with BLKPG, as partx does, not by a table scan.
  void AttachLoopWithPartitions() {
    const fs::path img = tmp_ / "disk.img";
    {
      int fd = open(img.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
      ASSERT_GE(fd, 0);
      ASSERT_EQ(ftruncate(fd, 32 << 20), 0);
      close(fd);
    }
    CommandResult r = Shell("/usr/sbin/losetup -f --show -P '" + img.string() + "' 2>&1");
    ASSERT_EQ(r.status, 0) << r.out;
    loop_ = r.out.substr(0, r.out.find('\n'));
    loop_name_ = fs::path(loop_).filename().string();
    // Attaching leaves a partition rescan pending for the first opener (udevd's probe or ours);
    // a rescan with no table parser drops BLKPG partitions, so let it happen first, and re-add
    // if one still raced with us.
    Shell("udevadm settle -t 10 >/dev/null 2>&1");
    for (int attempt = 0; attempt < 3 && !HasPartitions(); ++attempt) {
      int fd = open(loop_.c_str(), O_RDONLY | O_CLOEXEC);
      ASSERT_GE(fd, 0) << loop_;
      for (int pno = 1; pno <= 2; ++pno) {
        blkpg_partition part{};
        part.start = static_cast<long long>(pno) << 20;  // 1 MiB, 2 MiB
        part.length = 1 << 20;
        part.pno = pno;
        blkpg_ioctl_arg arg{};
        arg.op = BLKPG_ADD_PARTITION;
        arg.datalen = sizeof(part);
        arg.data = &part;
        if (ioctl(fd, BLKPG, &arg) != 0 && errno != EBUSY) {  // EBUSY: already there
          ADD_FAILURE() << loop_ << "p" << pno << ": " << strerror(errno);
        }
      }
      close(fd);
      // Let a running udevd finish the new devices' records; without udevd this returns at once.
      Shell("udevadm settle -t 10 >/dev/null 2>&1");
    }
    ASSERT_TRUE(HasPartitions()) << loop_ << ": partitions vanished three times";
  }

  bool HasPartitions() const {
    const fs::path dir = fs::path("/sys/block") / loop_name_;
    return fs::exists(dir / (loop_name_ + "p1")) && fs::exists(dir / (loop_name_ + "p2"));
  }

  fs::path tmp_;
  std::string loop_, loop_name_;
};

TEST_F(CaptureLiveTest, LsblkReadsTheCaptureAsTheLiveSystem) {
  // Other tests and udevd may change the device set while this runs; a comparison counts only if
  // two live listings around the capture agree.
  std::map<std::string, json> before, after, captured;
  std::string raw_before, raw_after, raw_captured;
  fs::path cap;
  CaptureReport report;
  bool stable = false;
  for (int attempt = 0; attempt < 5 && !stable; ++attempt) {
    if (attempt) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    cap = tmp_ / ("cap" + std::to_string(attempt));
    before = Lsblk("", &raw_before);
    CaptureOptions o;
    o.source_root = "/";
    o.output_dir = cap.string();
    auto r = CaptureTree(o);
    ASSERT_TRUE(r.ok()) << r.status().message();
    report = *r;
    after = Lsblk("", &raw_after);
    stable = !before.empty() && before == after;
  }
  ASSERT_TRUE(stable) << "the live device set kept changing:\n" << raw_before << "\n" << raw_after;
  captured = Lsblk(cap.string(), &raw_captured);
  ASSERT_FALSE(captured.empty()) << raw_captured;

  // Our loop device and its partitions are in both listings.
  ASSERT_TRUE(after.count(loop_name_)) << raw_after;
  EXPECT_TRUE(after.count(loop_name_ + "/" + loop_name_ + "p1")) << raw_after;
  EXPECT_TRUE(after.count(loop_name_ + "/" + loop_name_ + "p2")) << raw_after;

  std::set<std::string> live_names, cap_names;
  for (const auto& [k, v] : after) {
    live_names.insert(k);
  }
  for (const auto& [k, v] : captured) {
    cap_names.insert(k);
  }
  EXPECT_EQ(live_names, cap_names);

  int compared = 0;
  for (const auto& [name, live] : after) {
    auto it = captured.find(name);
    if (it == captured.end()) {
      continue;
    }
    const json& got = it->second;
    for (const auto& [field, value] : live.items()) {
      ASSERT_TRUE(got.contains(field)) << name << ": no " << field;
      EXPECT_EQ(got[field], value) << name << " " << field;
      ++compared;
    }
    for (const auto& [field, value] : got.items()) {
      EXPECT_TRUE(live.contains(field)) << name << ": extra field " << field;
    }
  }
  EXPECT_GT(compared, 100);
  RecordProperty("fields_compared", compared);
  RecordProperty("capture_files", static_cast<int>(report.files));
  RecordProperty("capture_skipped", static_cast<int>(report.skipped));
}

TEST_F(CaptureLiveTest, CaptureOfTheLiveSystemIsSmallAndHasNoPolicyExclusions) {
  const fs::path cap = tmp_ / "cap";
  CaptureOptions o;
  o.source_root = "/";
  o.output_dir = cap.string();
  auto r = CaptureTree(o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  uint64_t bytes = 0, entries = 0;
  bool saw_mq = false, saw_power = false;
  for (auto it = fs::recursive_directory_iterator(cap); it != fs::recursive_directory_iterator();
       ++it) {
    ++entries;
    const std::string name = it->path().filename().string();
    if (!it->is_symlink() && it->is_directory()) {
      saw_mq |= name == "mq";
      saw_power |= name == "power";
    }
    if (it->is_regular_file() && !it->is_symlink()) {
      bytes += it->file_size();
    }
  }
  EXPECT_FALSE(saw_mq);
  EXPECT_FALSE(saw_power);
  EXPECT_LT(bytes, 2u << 20);
  EXPECT_LT(entries, 20000u);
  EXPECT_EQ(r->files + r->symlinks + r->dirs, entries);
  // The loop device's identity files and udev-independent attributes are present.
  EXPECT_TRUE(fs::exists(cap / "sys/block" / loop_name_ / "loop/backing_file"));
  EXPECT_TRUE(fs::exists(cap / "sys/class/block" / (loop_name_ + "p1") / "partition"));
}

}  // namespace
}  // namespace diskinv
