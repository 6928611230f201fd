// Kernel-mirroring validation of queue tuning, the rooted writer, and the applier over a fake
// sysfs: rejected values are reported with reasons and never written; drift is repaired or
// reported.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "agent/tuning_applier.h"
#include "agent/tuning_sysfs_writer.h"
#include "agent/tuning_validator.h"
#include "sysfs/fake_sysfs_reader.h"

namespace diskinv {
namespace {

// A blk-mq SSD queue as Linux 6.x shows it.
void AddQueue(FakeSysfsReader& fs, const std::string& kname) {
  std::string q = "sys/block/" + kname + "/queue/";
  fs.AddFile(q + "scheduler", "[none] mq-deadline kyber\n");
  fs.AddFile(q + "nr_requests", "256\n");
  fs.AddFile(q + "read_ahead_kb", "128\n");
  fs.AddFile(q + "max_sectors_kb", "1280\n");
  fs.AddFile(q + "max_hw_sectors_kb", "2048\n");
  fs.AddFile(q + "discard_max_bytes", "2199023255040\n");
  fs.AddFile(q + "discard_max_hw_bytes", "4294966784\n");
  fs.AddFile(q + "discard_granularity", "4096\n");
  fs.AddFile(q + "logical_block_size", "4096\n");
  fs.AddFile(q + "rq_affinity", "1\n");
  fs.AddFile(q + "nomerges", "0\n");
  fs.AddFile(q + "add_random", "0\n");
  fs.AddFile(q + "iostats", "1\n");
  fs.AddFile("sys/block/" + kname + "/mq/0/nr_tags", "1023\n");
  fs.AddFile("sys/block/" + kname + "/mq/0/nr_reserved_tags", "0\n");
}

std::map<std::string, TuningVerdict> Verdicts(const std::map<std::string, std::string>& want,
                                              const QueueState& st) {
  std::map<std::string, TuningVerdict> out;
  for (auto& v : ValidateTuning(want, st, 4096)) out[v.attribute] = v;
  return out;
}

TEST(TuningValidator, ReadsTheQueue) {
  FakeSysfsReader fs;
  AddQueue(fs, "nvme0n1");
  auto st = ReadQueueState(fs, "nvme0n1");
  ASSERT_TRUE(st.ok()) << st.status().message();
  EXPECT_EQ(st->scheduler, "none");
  EXPECT_EQ(st->schedulers.size(), 3u);
  EXPECT_TRUE(st->blk_mq);
  EXPECT_EQ(st->nr_tags, 1023u);
  EXPECT_EQ(st->Current("nr_requests"), "256");
  EXPECT_EQ(ReadQueueState(fs, "gone").status().code(), ENOENT);
  EXPECT_FALSE(ReadQueueState(fs, "../../etc").ok());
}

TEST(TuningValidator, MirrorsTheKernel) {
  FakeSysfsReader fs;
  AddQueue(fs, "sda");
  auto st = *ReadQueueState(fs, "sda");
  auto ok = [&](const char* attr, const char* value) {
    auto v = Verdicts({{attr, value}}, st);
    EXPECT_TRUE(v[attr].ok) << attr << "=" << value << ": " << v[attr].reason;
  };
  auto bad = [&](const char* attr, const char* value, const char* why,
                 std::map<std::string, std::string> also = {}) {
    also[attr] = value;
    auto v = Verdicts(also, st);
    EXPECT_FALSE(v[attr].ok) << attr << "=" << value;
    EXPECT_NE(v[attr].reason.find(why), std::string::npos) << v[attr].reason;
  };
  ok("scheduler", "mq-deadline");
  bad("scheduler", "bfq", "not one of the schedulers the device lists (none mq-deadline kyber)");
  bad("scheduler", "Deadline", "not a scheduler name");
  ok("discard_max_bytes", "1048576");
  ok("discard_max_bytes", "0");
  bad("discard_max_bytes", "1000", "not a multiple of discard_granularity 4096");
  bad("discard_max_bytes", "4294967296", "above UINT_MAX");
  bad("discard_max_bytes", "8589930496", "above UINT_MAX");
  ok("discard_max_bytes", "4294963200");
  ok("max_sectors_kb", "512");
  bad("max_sectors_kb", "4096", "above max_hw_sectors_kb 2048");
  bad("max_sectors_kb", "2", "below the minimum segment size");
  bad("max_sectors_kb", "0", "default");
  bad("max_sectors_kb", "6", "multiple of the logical block size (4 KiB): the kernel would store 4");
  ok("read_ahead_kb", "4096");
  bad("read_ahead_kb", "130", "would store 128");
  // nr_requests is judged against the scheduler that will be active.
  ok("nr_requests", "512");                      // none: <= nr_tags 1023
  bad("nr_requests", "2000", "hardware queue depth 1023");
  {
    auto v = Verdicts({{"nr_requests", "2000"}, {"scheduler", "mq-deadline"}}, st);
    EXPECT_TRUE(v["nr_requests"].ok) << v["nr_requests"].reason;
  }
  bad("nr_requests", "4096", "MAX_SCHED_RQ", {{"scheduler", "mq-deadline"}});
  bad("nr_requests", "2", "BLKDEV_MIN_RQ");
  bad("nr_requests", "64x", "not a decimal number");
  ok("rq_affinity", "2");
  bad("rq_affinity", "3", "accepts and ignores");
  bad("nomerges", "5", "out of range");
  ok("iostats", "0");
  bad("add_random", "2", "would store 1");
  bad("rotational", "1", "not on the whitelist");
  // No discard support: only 0.
  fs.AddFile("sys/block/sda/queue/discard_granularity", "0\n");
  fs.AddFile("sys/block/sda/queue/discard_max_hw_bytes", "0\n");
  st = *ReadQueueState(fs, "sda");
  bad("discard_max_bytes", "4096", "no discard support");
  ok("discard_max_bytes", "0");
  // A bio-based queue refuses nr_requests.
  fs.Remove("sys/block/sda/mq");
  st = *ReadQueueState(fs, "sda");
  bad("nr_requests", "64", "not a blk-mq queue");
}

// With scheduler none, nr_requests is capped by the hardware tags, whatever MAX_SCHED_RQ is.
TEST(TuningValidator, NoneSchedulerCapsNrRequestsAtTheTags) {
  FakeSysfsReader fs;
  AddQueue(fs, "sda");
  auto st = *ReadQueueState(fs, "sda");
  EXPECT_FALSE(Verdicts({{"nr_requests", "2000"}}, st)["nr_requests"].ok);
}

TEST(TuningApplier, AppliesValidValuesAndReportsRejections) {
  FakeSysfsReader fs;
  AddQueue(fs, "sda");
  FakeTuningSysfsWriter writer(&fs);
  TuningApplier applier(fs, writer, 4096);
  TuningOutcome out = applier.Apply(
      "sda", {{"scheduler", "mq-deadline"}, {"nr_requests", "64"}, {"discard_max_bytes", "1000"},
              {"read_ahead_kb", "128"}},
      /*resync=*/false, true);
  EXPECT_EQ(out.status, "partial");
  // Scheduler first (it resets nr_requests in the kernel), then nr_requests; read_ahead_kb
  // already had the value: not written. The rejected value is never written.
  EXPECT_EQ(writer.writes(), (std::vector<std::string>{"sda/scheduler=mq-deadline",
                                                       "sda/nr_requests=64"}));
  EXPECT_EQ(out.observed["scheduler"], "mq-deadline");
  EXPECT_EQ(out.observed["nr_requests"], "64");
  EXPECT_EQ(out.observed["discard_max_bytes"], "2199023255040");
  ASSERT_EQ(out.rejected.count("discard_max_bytes"), 1u);
  EXPECT_NE(out.rejected["discard_max_bytes"].find("discard_granularity"), std::string::npos);
  EXPECT_EQ(*fs.ReadFile("sys/block/sda/queue/scheduler", 4096), "none [mq-deadline] kyber\n");
}

TEST(TuningApplier, KernelRefusalAndClampAreRejections) {
  FakeSysfsReader fs;
  AddQueue(fs, "sda");
  FakeTuningSysfsWriter writer(&fs);
  writer.FailWrites("rq_affinity", EINVAL);
  TuningApplier applier(fs, writer, 4096);
  TuningOutcome out = applier.Apply("sda", {{"rq_affinity", "2"}}, false, true);
  EXPECT_EQ(out.status, "rejected");
  EXPECT_NE(out.rejected["rq_affinity"].find("the kernel refused it"), std::string::npos);
  EXPECT_EQ(out.observed["rq_affinity"], "1");
  // A kernel that stores something else than what was written: not "applied".
  writer.StoreInstead("iostats", "1");
  out = applier.Apply("sda", {{"iostats", "0"}}, false, true);
  EXPECT_NE(out.rejected["iostats"].find("written, but the kernel reports 1"), std::string::npos)
      << out.rejected["iostats"];
}

TEST(TuningApplier, DriftIsRepairedOrReported) {
  FakeSysfsReader fs;
  AddQueue(fs, "sda");
  FakeTuningSysfsWriter writer(&fs);
  TuningApplier applier(fs, writer, 4096);
  std::map<std::string, std::string> want = {{"scheduler", "kyber"}};
  EXPECT_EQ(applier.Apply("sda", want, false, true).status, "applied");
  // Nothing changed: a resync writes nothing.
  TuningOutcome same = applier.Apply("sda", want, true, true);
  EXPECT_EQ(same.status, "applied");
  EXPECT_TRUE(same.written.empty());
  EXPECT_TRUE(same.drift.empty());
  // Someone switched it by hand.
  fs.AddFile("sys/block/sda/queue/scheduler", "[none] mq-deadline kyber\n");
  TuningOutcome report = applier.Apply("sda", want, true, /*repair_drift=*/false);
  EXPECT_EQ(report.status, "drift");
  EXPECT_EQ(report.drift["scheduler"].found, "none");
  EXPECT_FALSE(report.drift["scheduler"].repaired);
  EXPECT_TRUE(report.written.empty());
  TuningOutcome repair = applier.Apply("sda", want, true, true);
  EXPECT_EQ(repair.status, "applied");
  EXPECT_TRUE(repair.drift["scheduler"].repaired);
  EXPECT_EQ(repair.observed["scheduler"], "kyber");
  // A device that is gone.
  EXPECT_EQ(applier.Apply("sdz", want, false, true).status, "error");
}

TEST(TuningSysfsWriter, WritesOnlyWhitelistedAttributesInsideItsRoot) {
  std::string root = ::testing::TempDir() + "/tuning-root";
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root + "/sys/devices/virtual/block/loop9/queue");
  std::filesystem::create_directories(root + "/sys/block");
  std::filesystem::create_directory_symlink("../devices/virtual/block/loop9",
                                            root + "/sys/block/loop9");
  std::ofstream(root + "/sys/devices/virtual/block/loop9/queue/read_ahead_kb") << "128\n";
  std::filesystem::create_symlink("/etc/passwd",
                                  root + "/sys/devices/virtual/block/loop9/queue/nr_requests");
  auto w = RealTuningSysfsWriter::Open(root);
  ASSERT_TRUE(w.ok());
  EXPECT_TRUE((*w)->WriteQueueAttribute("loop9", "read_ahead_kb", "256").ok());
  std::ifstream in(root + "/sys/devices/virtual/block/loop9/queue/read_ahead_kb");
  std::string v;
  in >> v;
  EXPECT_EQ(v, "256");
  EXPECT_EQ((*w)->WriteQueueAttribute("loop9", "rotational", "1").code(), EPERM);
  EXPECT_EQ((*w)->WriteQueueAttribute("../../etc", "read_ahead_kb", "1").code(), EPERM);
  // The last component is never followed: a symlinked attribute is refused (ELOOP).
  Status s = (*w)->WriteQueueAttribute("loop9", "nr_requests", "64");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), ELOOP) << s.message();
  EXPECT_EQ((*w)->WriteQueueAttribute("loop8", "read_ahead_kb", "1").code(), ENOENT);
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace diskinv
