// PlanReconcile and the selectors: claims exactly once, limits, identity conflicts, release
// after the grace period, tuning rows written only when they differ; a plan applied is empty
// the second time (level-triggered, idempotent).
#include <gtest/gtest.h>

#include "reconcile/disk_selector.h"
#include "reconcile/queue_attribute.h"
#include "reconcile/reconcile_plan.h"

namespace diskinv {
namespace {

DiskFacts Disk(int64_t id, std::string kname, int64_t node = 1) {
  DiskFacts d;
  d.id = id;
  d.uid = "uid-" + std::to_string(id);
  d.node_id = node;
  d.hostname = "node" + std::to_string(node);
  d.kname = std::move(kname);
  d.transport = "nvme";
  d.rotational = false;
  d.size_bytes = int64_t{4} << 40;
  d.model = "Samsung SSD 990";
  d.vendor = "NVMe";
  return d;
}

Spec NvmeSpec() {
  Spec s;
  s.pools.push_back({10, "fast", std::nullopt, 3600});
  PoolPolicy p;
  p.id = 100;
  p.name = "nvme";
  p.pool_id = 10;
  p.selector.transport = "nvme";
  p.selector.require_unpartitioned = true;
  p.selector.require_no_holders = true;
  s.policies.push_back(p);
  TuningProfile t;
  t.id = 1000;
  t.name = "fastq";
  t.selector.pool_id = 10;
  t.settings_json = R"({"scheduler": "none"})";
  t.settings = {{"scheduler", "none"}};
  s.profiles.push_back(t);
  return s;
}

// Applies a plan to the facts as the database would.
void ApplyToFacts(const ReconcilePlan& plan, std::vector<DiskFacts>& disks) {
  for (auto& d : disks) {
    for (const auto& c : plan.claims) {
      if (c.disk_id == d.id) d.claim_pool_id = c.pool_id, d.claim_policy_id = c.policy_id;
    }
    for (const auto& r : plan.releases) {
      if (r.disk_id == d.id) d.claim_pool_id.reset(), d.claim_policy_id.reset();
    }
    for (const auto& w : plan.tuning_writes) {
      if (w.disk_id != d.id) continue;
      d.has_tuning = true;
      d.tuning_profile_id = w.profile_id;
      d.tuning_desired = w.desired_json;
      d.tuning_drift_action = w.drift_action;
      d.tuning_node_id = w.node_id;
    }
    for (const auto& x : plan.tuning_deletes) {
      if (x.disk_id == d.id) d.has_tuning = false;
    }
  }
}

TEST(DiskSelector, EveryCriterion) {
  DiskFacts d = Disk(1, "nvme0n1");
  DiskSelector s;
  EXPECT_TRUE(SelectorMatches(s, d, std::nullopt));
  s.kname_pattern = "nvme*n1";
  s.node_pattern = "node?";
  s.transport = "nvme";
  s.rotational = false;
  s.min_size_bytes = int64_t{1} << 40;
  s.max_size_bytes = int64_t{8} << 40;
  s.model_pattern = "Samsung*";
  s.vendor_pattern = "NVMe";
  s.require_unpartitioned = true;
  s.require_no_holders = true;
  EXPECT_EQ(SelectorMismatch(s, d, std::nullopt), "");
  auto fails = [&](auto change, const char* why) {
    DiskFacts x = d;
    change(x);
    EXPECT_NE(SelectorMismatch(s, x, std::nullopt).find(why), std::string::npos)
        << SelectorMismatch(s, x, std::nullopt);
  };
  fails([](DiskFacts& x) { x.kname = "sda"; }, "kname");
  fails([](DiskFacts& x) { x.hostname = "other"; }, "node");
  fails([](DiskFacts& x) { x.transport = "sata"; }, "transport is 'sata'");
  fails([](DiskFacts& x) { x.transport.reset(); }, "transport is unknown");
  fails([](DiskFacts& x) { x.rotational = true; }, "rotational");
  fails([](DiskFacts& x) { x.size_bytes = 1; }, "below");
  fails([](DiskFacts& x) { x.size_bytes = int64_t{9} << 40; }, "above");
  fails([](DiskFacts& x) { x.size_bytes.reset(); }, "size is unknown");
  fails([](DiskFacts& x) { x.model = "WDC"; }, "model");
  fails([](DiskFacts& x) { x.vendor.reset(); }, "vendor unknown");
  fails([](DiskFacts& x) { x.partitioned = true; }, "partitions");
  fails([](DiskFacts& x) { x.has_holders = true; }, "holders");
  s = {};
  s.pool_id = 7;
  EXPECT_FALSE(SelectorMatches(s, d, std::nullopt));
  EXPECT_TRUE(SelectorMatches(s, d, 7));
}

TEST(DiskSelector, ParseSize) {
  EXPECT_EQ(*ParseSize("512"), 512);
  EXPECT_EQ(*ParseSize("100G"), int64_t{100} << 30);
  EXPECT_EQ(*ParseSize("1.5T"), int64_t{3} << 39);
  EXPECT_EQ(*ParseSize("64MiB"), int64_t{64} << 20);
  EXPECT_EQ(*ParseSize("4kb"), 4096);
  for (const char* bad : {"", "G", "1X", "1.2.3", "-1", "99999999P"}) {
    EXPECT_FALSE(ParseSize(bad).ok()) << bad;
  }
}

TEST(QueueAttribute, WhitelistAndSyntax) {
  EXPECT_EQ(TunableQueueAttributes().front().name, std::string("scheduler"));
  EXPECT_TRUE(CheckTuningSetting("scheduler", "mq-deadline").ok());
  EXPECT_TRUE(CheckTuningSetting("nr_requests", "64").ok());
  EXPECT_TRUE(CheckTuningSetting("discard_max_bytes", "4294967295").ok());
  EXPECT_FALSE(CheckTuningSetting("discard_max_bytes", "4294967296").ok());
  EXPECT_FALSE(CheckTuningSetting("rq_affinity", "3").ok());
  EXPECT_FALSE(CheckTuningSetting("nr_requests", "-1").ok());
  EXPECT_FALSE(CheckTuningSetting("nr_requests", " 64").ok());
  EXPECT_FALSE(CheckTuningSetting("scheduler", "../../x").ok());
  EXPECT_FALSE(CheckTuningSetting("scheduler", "a-very-long-scheduler-name").ok());
  Status s = CheckTuningSetting("rotational", "0");
  EXPECT_NE(s.message().find("not a tunable"), std::string::npos);
}

TEST(ReconcilePlan, ClaimsMatchingDisksOnceAndWritesTuning) {
  Spec spec = NvmeSpec();
  std::vector<DiskFacts> disks = {Disk(1, "nvme0n1"), Disk(2, "sda")};
  disks[1].transport = "sata";
  ClaimCounts counts;
  ReconcilePlan plan = PlanReconcile(spec, disks, &counts);
  ASSERT_EQ(plan.claims.size(), 1u);
  EXPECT_EQ(plan.claims[0].disk_id, 1);
  EXPECT_EQ(plan.claims[0].pool_id, 10);
  EXPECT_EQ(plan.claims[0].policy_id, 100);
  ASSERT_EQ(plan.tuning_writes.size(), 1u);  // the pool's profile follows the new claim
  EXPECT_EQ(plan.tuning_writes[0].disk_id, 1);
  EXPECT_FALSE(plan.tuning_writes[0].exists);
  EXPECT_EQ(counts.per_pool[10], 1);
  ApplyToFacts(plan, disks);
  // The same facts again (a duplicate or replayed event): nothing to do.
  ReconcilePlan again = PlanReconcile(spec, disks, &counts);
  EXPECT_TRUE(again.empty());
}

TEST(ReconcilePlan, NeverClaimsADiskWithAnIdentityConflict) {
  Spec spec = NvmeSpec();
  std::vector<DiskFacts> disks = {Disk(1, "nvme0n1")};
  disks[0].identity_conflict = true;
  ClaimCounts counts;
  ReconcilePlan plan = PlanReconcile(spec, disks, &counts);
  EXPECT_TRUE(plan.claims.empty());
  ASSERT_EQ(plan.notes.size(), 1u);
  EXPECT_NE(plan.notes[0].find("identity conflict"), std::string::npos);
}

TEST(ReconcilePlan, RespectsPoolAndPerNodeLimitsAndFallsThrough) {
  Spec spec = NvmeSpec();
  spec.pools[0].max_disks = 2;
  spec.policies[0].max_per_node = 1;
  spec.pools.push_back({20, "overflow", std::nullopt, 0});
  PoolPolicy spill;
  spill.id = 200;
  spill.name = "spill";
  spill.pool_id = 20;
  spill.priority = 200;
  spec.policies.push_back(spill);
  std::vector<DiskFacts> disks = {Disk(1, "nvme0n1", 1), Disk(2, "nvme1n1", 1),
                                  Disk(3, "nvme0n1", 2), Disk(4, "nvme0n1", 3)};
  ClaimCounts counts;
  ReconcilePlan plan = PlanReconcile(spec, disks, &counts);
  ASSERT_EQ(plan.claims.size(), 4u);
  EXPECT_EQ(plan.claims[0].pool_id, 10);  // node 1's first
  EXPECT_EQ(plan.claims[1].pool_id, 20);  // node 1 is at its per-node limit: next policy
  EXPECT_EQ(plan.claims[2].pool_id, 10);  // node 2
  EXPECT_EQ(plan.claims[3].pool_id, 20);  // the pool is full (2)
  EXPECT_EQ(counts.per_pool[10], 2);
  EXPECT_EQ(plan.notes.size(), 2u);
  // Counts from the database (other batches, other controllers) are honoured too.
  ClaimCounts full;
  full.per_pool[10] = 2;
  ReconcilePlan p2 = PlanReconcile(spec, {Disk(5, "nvme9n1", 9)}, &full);
  ASSERT_EQ(p2.claims.size(), 1u);
  EXPECT_EQ(p2.claims[0].pool_id, 20);
}

TEST(ReconcilePlan, ReleasesOnlyAfterTheGracePeriod) {
  Spec spec = NvmeSpec();
  std::vector<DiskFacts> disks = {Disk(1, "nvme0n1")};
  disks[0].claim_pool_id = 10;
  disks[0].present = false;
  disks[0].removed_seconds = 60;
  ClaimCounts counts;
  counts.per_pool[10] = 1;
  ReconcilePlan plan = PlanReconcile(spec, disks, &counts);
  EXPECT_TRUE(plan.releases.empty());  // 60 s < 1 h: it may come back
  disks[0].removed_seconds = 3601;
  plan = PlanReconcile(spec, disks, &counts);
  ASSERT_EQ(plan.releases.size(), 1u);
  EXPECT_NE(plan.releases[0].reason.find("grace 3600"), std::string::npos);
  EXPECT_EQ(counts.per_pool[10], 0);
  // A removed, unclaimed disk is never claimed.
  disks[0].claim_pool_id.reset();
  EXPECT_TRUE(PlanReconcile(spec, disks, &counts).claims.empty());
}

TEST(ReconcilePlan, TuningFollowsTheProfiles) {
  Spec spec = NvmeSpec();
  std::vector<DiskFacts> disks = {Disk(1, "nvme0n1")};
  disks[0].claim_pool_id = 10;
  disks[0].has_tuning = true;
  disks[0].tuning_profile_id = 1000;
  disks[0].tuning_desired = R"({"scheduler": "none"})";
  disks[0].tuning_drift_action = "repair";
  disks[0].tuning_node_id = 1;
  disks[0].tuning_etag = "e1";
  ClaimCounts counts;
  EXPECT_TRUE(PlanReconcile(spec, disks, &counts).empty());
  // The profile changed: one guarded update with the etag read.
  spec.profiles[0].settings_json = R"({"scheduler": "mq-deadline"})";
  ReconcilePlan plan = PlanReconcile(spec, disks, &counts);
  ASSERT_EQ(plan.tuning_writes.size(), 1u);
  EXPECT_TRUE(plan.tuning_writes[0].exists);
  EXPECT_EQ(plan.tuning_writes[0].etag, "e1");
  // The disk moved to another node: the row follows it.
  spec.profiles[0].settings_json = R"({"scheduler": "none"})";
  disks[0].node_id = 2;
  EXPECT_EQ(PlanReconcile(spec, disks, &counts).tuning_writes.size(), 1u);
  // No profile matches any more: the row goes.
  spec.profiles[0].enabled = false;
  plan = PlanReconcile(spec, disks, &counts);
  ASSERT_EQ(plan.tuning_deletes.size(), 1u);
  EXPECT_EQ(plan.tuning_deletes[0].etag, "e1");
}

}  // namespace
}  // namespace diskinv
