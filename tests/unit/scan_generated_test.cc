// diskinv scan --sysroot against lsblk --sysroot on generated trees: N synthetic disks
// (round-robin NVMe, SAS, SATA, each with GPT partitions) written by TreeBuilder.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <set>
#include <string>

#include "support/lsblk_compare.h"
#include "support/tree_builder.h"

namespace diskinv::testing {
namespace {

class TempDir {
 public:
  // tmpfs when there is one: a tree is thousands of small files, slow to write to a disk.
  TempDir() {
    std::error_code ec;
    std::filesystem::path base = std::filesystem::is_directory("/dev/shm", ec)
                                     ? std::filesystem::path("/dev/shm")
                                     : std::filesystem::temp_directory_path();
    std::string t = (base / "diskinv-gen.XXXXXX").string();
    if (mkdtemp(t.data())) path_ = t;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct Case {
  int disks;
  int partitions;
  uint64_t seed;
};

// A synthetic tree at `root`, written by one thread with identical files hard-linked.
void WriteSynthetic(const SyntheticSpec& spec, const std::string& root) {
  BuilderOptions opt;
  opt.threads = 1;
  opt.hardlink_identical = true;
  TreeBuilder b(opt);
  BuildSynthetic(spec, b);
  ASSERT_TRUE(b.WriteTo(root)) << b.error();
}

class ScanGenerated : public ::testing::TestWithParam<Case> {};

TEST_P(ScanGenerated, AgreesWithLsblk) {
  const Case& c = GetParam();
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  std::string root = dir.path() + "/tree";
  ASSERT_NO_FATAL_FAILURE(WriteSynthetic({c.disks, c.partitions, c.seed}, root));

  CompareResult r = CompareWithLsblk(root, DiskinvBinary());
  EXPECT_TRUE(r.mismatches.empty()) << ::testing::PrintToString(r.mismatches);
  EXPECT_TRUE(r.known.empty()) << ::testing::PrintToString(r.known);
  const size_t expected = static_cast<size_t>(c.disks) * (1 + c.partitions);
  EXPECT_EQ(r.devices, expected);
  EXPECT_EQ(r.ours["devices"], expected);
  EXPECT_EQ(r.ours["complete"], true);
  EXPECT_EQ(r.ours["field_errors"], 0);
  // The mix really is mixed: every transport of the round robin is there.
  std::set<std::string> trans;
  for (const auto& d : r.ours["blockdevices"]) {
    if (d["tran"].is_string()) trans.insert(d["tran"].get<std::string>());
  }
  EXPECT_EQ(trans, (std::set<std::string>{"nvme", "sas", "sata"}));
  EXPECT_GT(r.fields, expected * 40) << "too few fields compared";
}

// The comparison can fail: a diskinv whose output differs in one field, or lacks a column lsblk
// has, is reported field by field.
TEST(ScanGeneratedCheck, ComparisonCatchesAWrongValueAndAMissingColumn) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  std::string root = dir.path() + "/tree";
  TreeBuilder b;
  BuildSynthetic({3, 1, 5}, b);
  ASSERT_TRUE(b.WriteTo(root)) << b.error();
  std::string wrapper = dir.path() + "/wrong-diskinv";
  FILE* f = fopen(wrapper.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fprintf(f,
          "#!/bin/sh\n%s \"$@\" | sed -e 's/\"rota\":false/\"rota\":true/g' "
          "-e 's/\"zone-app\":[0-9]*,//g'\n",
          ShellQuote(DiskinvBinary()).c_str());
  fclose(f);
  ASSERT_EQ(chmod(wrapper.c_str(), 0755), 0);
  CompareResult r = CompareWithLsblk(root, wrapper);
  std::string all = ::testing::PrintToString(r.mismatches);
  EXPECT_NE(all.find("nvme0n1: rota: lsblk false, diskinv true"), std::string::npos) << all;
  EXPECT_NE(all.find("sda: zone-app: reported by lsblk, missing in diskinv"), std::string::npos)
      << all;
}

// `diskinv scan` walks with one thread per CPU by default; the output may not depend on it.
TEST(ScanGeneratedJobs, EveryNumberOfThreadsPrintsTheSameBytes) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  std::string root = dir.path() + "/tree";
  ASSERT_NO_FATAL_FAILURE(WriteSynthetic({50, 2, 11}, root));
  const std::string scan = ShellQuote(DiskinvBinary()) + " scan --sysroot " + ShellQuote(root);
  for (const char* format : {" --json", "", " -o NAME,SERIAL,WWN,TRAN,HCTL"}) {
    int code = -1;
    const std::string one = RunCommand(scan + format + " -j 1", &code);
    ASSERT_EQ(code, 0) << format;
    ASSERT_GT(one.size(), 50u * 3 * 20) << format;
    for (const char* jobs : {" -j 2", " --jobs 3", " -j 7", " --jobs=64", ""}) {
      EXPECT_EQ(RunCommand(scan + format + jobs, &code), one) << format << jobs;
      EXPECT_EQ(code, 0) << format << jobs;
    }
  }
  for (const char* bad : {" -j 0", " --jobs x", " --jobs 257", " -j", " --jobs=", " -j ''"}) {
    int code = -1;
    std::string err = RunCommand(scan + bad + " 2>&1", &code);
    EXPECT_EQ(code, 2) << bad;
    EXPECT_NE(err.find("diskinv scan:"), std::string::npos) << bad << ": " << err;
  }
}

INSTANTIATE_TEST_SUITE_P(Trees, ScanGenerated,
                         ::testing::Values(Case{3, 2, 1}, Case{60, 2, 7}, Case{90, 0, 42},
                                           Case{30, 5, 1000}),
                         [](const auto& info) {
                           return "disks" + std::to_string(info.param.disks) + "_parts" +
                                  std::to_string(info.param.partitions) + "_seed" +
                                  std::to_string(info.param.seed);
                         });

}  // namespace
}  // namespace diskinv::testing
