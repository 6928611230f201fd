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

TEST(ScanLive, VirtioDiskIdentityComesFromSysfsWithoutUdev) {
  int rc = 0;
  std::string out = RunCommand(ShellQuote(DiskinvBinary()) + " scan --json -o KNAME,TRAN,SERIAL", &rc);
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
