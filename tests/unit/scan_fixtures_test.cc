// diskinv scan --sysroot <fixture> against lsblk --sysroot <fixture>, for every tree under
// fixtures/sysfs/ (captured from real machines and hand-built in the kernel's layout).
#include <dirent.h>

#include <algorithm>

#include <gtest/gtest.h>

#include "support/lsblk_compare.h"

namespace diskinv::testing {
namespace {

std::vector<std::string> Fixtures() {
  std::vector<std::string> out;
  std::string dir = SourceDir() + "/fixtures/sysfs";
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n[0] != '.' && e->d_type == DT_DIR) out.push_back(n);
    }
    closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

class ScanFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(ScanFixture, AgreesWithLsblk) {
  std::string root = SourceDir() + "/fixtures/sysfs/" + GetParam();
  CompareResult r = CompareWithLsblk(root, DiskinvBinary());
  for (const auto& k : r.known) std::printf("known difference: %s\n", k.c_str());
  EXPECT_TRUE(r.mismatches.empty()) << ::testing::PrintToString(r.mismatches);
  EXPECT_GE(r.devices, 1u);
  EXPECT_EQ(r.ours["complete"], true);
  EXPECT_EQ(r.ours["field_errors"], 0) << r.ours.dump(1).substr(0, 4000);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ScanFixture, ::testing::ValuesIn(Fixtures()),
                         [](const auto& info) {
                           std::string n = info.param;
                           std::replace_if(n.begin(), n.end(), [](char c) { return !isalnum(c); }, '_');
                           return n;
                         });

TEST(ScanFixtures, ThereAreFixtures) { EXPECT_GE(Fixtures().size(), 1u); }

}  // namespace
}  // namespace diskinv::testing
