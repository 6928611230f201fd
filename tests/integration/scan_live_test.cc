// diskinv scan on this machine's real / against lsblk -J -O -b, field by field.
#include <gtest/gtest.h>

#include "support/lsblk_compare.h"

namespace diskinv::testing {
namespace {

TEST(ScanLive, AgreesWithLsblkOnEveryDeviceAndField) {
  CompareResult r = CompareWithLsblk("", DiskinvBinary());
  for (const auto& k : r.known) std::printf("known difference: %s\n", k.c_str());
  EXPECT_TRUE(r.mismatches.empty()) << ::testing::PrintToString(r.mismatches);
  // This machine always has at least vda and zram0; a comparison of nothing proves nothing.
  EXPECT_GE(r.devices, 2u);
  EXPECT_GE(r.fields, r.devices * 30);
}

// The walk of the real sysfs (kernfs, not a tmpfs tree) by several threads, each with its own
// descriptor table, prints what one thread prints. The node's devices could change between two
// runs (another test's loop device): -j 1 runs before and after, and only a run between two
// equal ones counts; three tries.
TEST(ScanLive, SeveralThreadsPrintWhatOneThreadPrints) {
  const std::string scan = ShellQuote(DiskinvBinary()) + " scan --json --all";
  bool compared = false;
  for (int attempt = 0; attempt < 3 && !compared; ++attempt) {
    int rc1 = -1, rc4 = -1, rc1b = -1;
    std::string one = RunCommand(scan + " -j 1", &rc1);
    std::string four = RunCommand(scan + " -j 4", &rc4);
    std::string again = RunCommand(scan + " -j 1", &rc1b);
    ASSERT_EQ(rc1, 0);
    ASSERT_EQ(rc4, 0);
    if (one != again || rc1b != 0) continue;  // the node changed under the runs
    compared = true;
    EXPECT_EQ(four, one);
    // More than one block of disks (8): the other thread really walked some of them.
    auto j = nlohmann::json::parse(one);
    size_t disks = 0;
    for (const auto& d : j["blockdevices"]) disks += d["type"] != "part";
    if (disks <= 8 && std::getenv("CI") == nullptr) {
      GTEST_SKIP() << "only " << disks << " whole disks: one block, one thread";
    }
    EXPECT_GT(disks, 8u) << "this machine has vda, zram0 and loop0-7";
  }
  EXPECT_TRUE(compared) << "the devices changed during all three tries";
}

TEST(ScanLive, VirtioDiskIdentityComesFromSysfsWithoutUdev) {
  int rc = 0;
  std::string out =
      RunCommand(ShellQuote(DiskinvBinary()) + " scan --json -o KNAME,TRAN,SERIAL", &rc);
  ASSERT_EQ(rc, 0) << out;
  auto j = nlohmann::json::parse(out);
  bool saw_vda = false;
  for (const auto& d : j["blockdevices"]) {
    if (d["kname"] != "vda") continue;
    saw_vda = true;
    EXPECT_EQ(d["tran"], "virtio");
    std::string serial;
    if (FILE* f = std::fopen("/sys/block/vda/serial", "r")) {
      char buf[256] = {};
      if (std::fgets(buf, sizeof(buf), f)) serial = buf;
      std::fclose(f);
    }
    while (!serial.empty() && serial.back() == '\n') serial.pop_back();
    if (serial.empty()) {
      EXPECT_TRUE(d["serial"].is_null());
    } else {
      EXPECT_EQ(d["serial"], serial);
    }
  }
  if (!saw_vda && std::getenv("CI") == nullptr) GTEST_SKIP() << "no vda on this machine";
  EXPECT_TRUE(saw_vda);
}

}  // namespace
}  // namespace diskinv::testing
