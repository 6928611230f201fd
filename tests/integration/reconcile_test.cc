// Reconciliation end to end with the diskinv binary, a real PostgreSQL 15 and real loop
// devices: a new disk is claimed and tuned through CDC, the agent side writes sysfs and
// reports what it observed; kill -9 around the acknowledgement; slots lost to
// max_slot_wal_keep_size or dropped; replay; a second controller; the CLI's contracts; a
// 1,000,000-row transaction through `cdc tail` with bounded memory.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "cdc/lsn.h"
#include "store/inventory_store.h"
#include "support/cdc_harness.h"
#include "support/http_client.h"
#include "support/loop_device.h"
#include "support/lsblk_compare.h"
#include "support/prometheus_text.h"
#include "sysfs/real_sysfs_reader.h"
#include "sysfs/walker.h"

namespace diskinv {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using testing::CdcDatabase;
using testing::Diskinv;
using testing::DiskinvBackground;
using testing::LoopDevice;
using testing::WaitFor;

std::string Cli(const CdcDatabase& db, const std::string& args, int expect = 0) {
  int rc = -1;
  std::string out = Diskinv(db.url, args, &rc);
  EXPECT_EQ(rc, expect) << "diskinv " << args << ":\n" << out;
  return out;
}

std::string ReadSys(const std::string& path) {
  std::ifstream in(path);
  std::string s;
  std::getline(in, s);
  return s;
}

void WriteSys(const std::string& path, const std::string& v) { std::ofstream(path) << v; }

// A node and a synthetic disk row, as an agent writes them.
int64_t AddDisk(CdcDatabase& db, const std::string& uid, const std::string& kname,
                const std::string& conflict = "") {
  if (db.Int("SELECT count(*) FROM diskinv.node WHERE machine_id = 'm1'") == 0) {
    EXPECT_EQ(db.Exec("INSERT INTO diskinv.node (machine_id, hostname) VALUES ('m1', 'host1')"),
              "");
  }
  return db.Int(
      "INSERT INTO diskinv.disk (uid, node_id, kname, transport, rotational, size_bytes, "
      "identity_source, identity_conflict, etag) SELECT '" +
      uid + "', id, '" + kname + "', 'nvme', false, 1000000000000, 'wwn', " +
      (conflict.empty() ? std::string("NULL") : "'" + conflict + "'") +
      ", 'e' FROM diskinv.node WHERE machine_id = 'm1' RETURNING id");
}

int64_t Claims(CdcDatabase& db, int64_t disk_id) {
  return db.Int("SELECT count(*) FROM diskinv.disk_claim WHERE disk_id = " +
                std::to_string(disk_id));
}

// Spec shared by the synthetic tests: every nvme disk to pool "fast", tuned.
void MakeSpec(CdcDatabase& db) {
  Cli(db, "cdc slots sync");
  Cli(db, "pool create fast --grace '1 hour'");
  Cli(db, "pool policy add nvme --pool fast --transport nvme");
  Cli(db, "tune profile add fastq --pool fast --set scheduler=none --set nr_requests=64");
}

constexpr const char* kReconcileSlot =
    "FROM pg_replication_slots WHERE slot_name = 'diskinv_reconcile'";

// Whether a consumer streams from the reconciler's slot: "t" or "f".
std::string SlotActive(CdcDatabase& db) {
  return db.Scalar(std::string("SELECT active ") + kReconcileSlot);
}

// Runs the reconciler until it has handled everything up to now, then stops it.
void DrainReconciler(CdcDatabase& db) {
  auto p = DiskinvBackground(db.url, {"reconcile", "--no-list"});
  ASSERT_TRUE(p);
  std::string now = db.Scalar("SELECT pg_current_wal_lsn()");
  const std::string slot = kReconcileSlot;
  ASSERT_TRUE(WaitFor([&] { return SlotActive(db) == "t"; }, 20s)) << p->Output();
  ASSERT_TRUE(WaitFor(
      [&] { return db.Scalar("SELECT confirmed_flush_lsn >= '" + now + "' " + slot) == "t"; }, 20s))
      << p->Output();
  p->Signal(SIGINT);
  EXPECT_EQ(p->ExitCode(20s), 0) << p->Output();
}

TEST(Reconcile, LoopDeviceIsClaimedTunedAndObserved) {
  REQUIRE_CDC_DATABASE(db, "e2e_loop");
  if (geteuid() != 0) {
    if (std::getenv("CI")) FAIL() << "needs root (loop devices, sysfs writes)";
    GTEST_SKIP() << "needs root (loop devices, sysfs writes); set CI to fail instead";
  }
  auto store = InventoryStore::Connect(db.url);
  ASSERT_TRUE(store.ok()) << store.status().message();
  auto node = (*store)->RegisterNode({"e2e-machine", "e2e-host", "boot", "test"});
  ASSERT_TRUE(node.ok()) << node.status().message();
  auto reader = RealSysfsReader::Open("/");
  ASSERT_TRUE(reader.ok());
  Walker walker(**reader, {});
  ASSERT_TRUE((*store)->Sync(*node, walker.WalkAll()).ok());

  Cli(db, "cdc slots sync");
  Cli(db, "pool create e2e --grace '2 seconds'");
  auto reconcile = DiskinvBackground(db.url, {"reconcile", "--due-interval", "1"});
  ASSERT_TRUE(reconcile);

  // A new disk appears and the agent writes its row.
  auto loop = LoopDevice::Attach(64 << 20);
  ASSERT_TRUE(loop.ok()) << loop.status().message();
  const std::string kname = loop->name();
  const std::string q = "/sys/block/" + kname + "/queue/";
  const std::string orig_sched = ReadSys(q + "scheduler"), orig_nr = ReadSys(q + "nr_requests"),
                    orig_ra = ReadSys(q + "read_ahead_kb"),
                    orig_disc = ReadSys(q + "discard_max_bytes");
  Cli(db, "pool policy add e2e-loop --pool e2e --kname " + kname + " --min-size 32M");
  Cli(db,
      "tune profile add e2e-q --pool e2e --set scheduler=mq-deadline --set nr_requests=64 "
      "--set read_ahead_kb=256 --set discard_max_bytes=1000");
  ASSERT_TRUE((*store)->Sync(*node, walker.WalkAll()).ok());
  int64_t disk =
      db.Int("SELECT id FROM diskinv.disk WHERE kname = '" + kname + "' AND state = 'present'");
  ASSERT_GT(disk, 0);
  std::string d = std::to_string(disk);
  // CDC -> claim and desired tuning.
  ASSERT_TRUE(WaitFor([&] { return Claims(db, disk) == 1; }, 20s)) << reconcile->Output();
  ASSERT_TRUE(WaitFor(
      [&] {
        return db.Int(
                   "SELECT count(*) FROM diskinv.disk_tuning WHERE "
                   "disk_id = " +
                   d) == 1;
      },
      20s));
  EXPECT_EQ(db.Scalar("SELECT p.name FROM diskinv.disk_claim c JOIN diskinv.pool p ON p.id = "
                      "c.pool_id WHERE disk_id = " +
                      d),
            "e2e");

  // The agent side: validate, write sysfs, re-read, report.
  std::string out = Cli(db, "tune apply --once --machine-id e2e-machine", 3);
  EXPECT_NE(out.find("1 partial"), std::string::npos) << out;
  EXPECT_NE(ReadSys(q + "scheduler").find("[mq-deadline]"), std::string::npos);
  EXPECT_EQ(ReadSys(q + "nr_requests"), "64");
  EXPECT_EQ(ReadSys(q + "read_ahead_kb"), "256");
  EXPECT_EQ(ReadSys(q + "discard_max_bytes"), orig_disc);  // rejected: never written
  std::string row = "FROM diskinv.disk_tuning WHERE disk_id = " + d;
  EXPECT_EQ(db.Scalar("SELECT status " + row), "partial");
  for (const char* attr : {"scheduler", "nr_requests", "read_ahead_kb"}) {
    EXPECT_EQ(db.Scalar(std::string("SELECT observed->>'") + attr + "' = desired->>'" + attr +
                        "' " + row),
              "t")
        << attr << ": " << db.Scalar("SELECT observed::text " + row);
  }
  EXPECT_EQ(db.Scalar("SELECT observed->>'discard_max_bytes' " + row), orig_disc);
  std::string why = db.Scalar("SELECT rejected->>'discard_max_bytes' " + row);
  EXPECT_NE(why.find("not a multiple of discard_granularity"), std::string::npos) << why;
  EXPECT_EQ(db.Scalar("SELECT applied_generation = desired_generation " + row), "t");
  // Nothing changed: a second pass writes nothing, to sysfs or the table.
  int64_t gen = db.Int("SELECT generation " + row);
  out = Cli(db, "tune apply --once --machine-id e2e-machine", 3);
  EXPECT_NE(out.find("0 attribute write(s), 0 report(s) updated"), std::string::npos) << out;
  EXPECT_EQ(db.Int("SELECT generation " + row), gen);

  // Drift: changed by hand, found on the next pass and repaired (profile says repair).
  WriteSys(q + "scheduler", "none");
  out = Cli(db, "tune apply --once --machine-id e2e-machine", 3);
  EXPECT_NE(ReadSys(q + "scheduler").find("[mq-deadline]"), std::string::npos) << out;
  EXPECT_EQ(db.Scalar("SELECT drift->'scheduler'->>'found' " + row), "none");
  EXPECT_EQ(db.Scalar("SELECT drift->'scheduler'->>'repaired' " + row), "true");
  // A profile that only reports drift.
  Cli(db, "tune profile remove e2e-q");
  Cli(db, "tune profile add e2e-r --pool e2e --set scheduler=kyber --drift report");
  ASSERT_TRUE(
      WaitFor([&] { return db.Scalar("SELECT desired->>'scheduler' " + row) == "kyber"; }, 20s));
  Cli(db, "tune apply --once --machine-id e2e-machine");
  EXPECT_NE(ReadSys(q + "scheduler").find("[kyber]"), std::string::npos);
  WriteSys(q + "scheduler", "none");
  Cli(db, "tune apply --once --machine-id e2e-machine", 3);
  EXPECT_NE(ReadSys(q + "scheduler").find("[none]"), std::string::npos);
  EXPECT_EQ(db.Scalar("SELECT status " + row), "drift");
  EXPECT_EQ(db.Scalar("SELECT drift->'scheduler'->>'repaired' " + row), "false");

  // Restore what the test changed, then remove the disk: released after the grace period.
  WriteSys(q + "scheduler", orig_sched.substr(orig_sched.find('[') + 1,
                                              orig_sched.find(']') - orig_sched.find('[') - 1));
  WriteSys(q + "nr_requests", orig_nr);
  WriteSys(q + "read_ahead_kb", orig_ra);
  ASSERT_TRUE(loop->Detach().ok());
  ASSERT_TRUE((*store)->Sync(*node, walker.WalkAll()).ok());
  EXPECT_EQ(db.Scalar("SELECT state FROM diskinv.disk WHERE id = " + d), "removed");
  EXPECT_EQ(Claims(db, disk), 1);  // within the grace period it stays claimed
  ASSERT_TRUE(WaitFor([&] { return Claims(db, disk) == 0; }, 20s)) << reconcile->Output();
  EXPECT_NE(db.Scalar("SELECT reason FROM diskinv.disk_claim_history WHERE disk_id = " + d)
                .find("removed for"),
            std::string::npos);
  reconcile->Signal(SIGINT);
  EXPECT_EQ(reconcile->ExitCode(20s), 0) << reconcile->Output();
}

// kill -9 before the handler's transaction commits, and after it commits but before the
// acknowledgement: the effect happens once, the claim is never made twice.
TEST(Reconcile, KilledAroundTheAcknowledgementTheEffectHappensOnce) {
  REQUIRE_CDC_DATABASE(db, "e2e_kill");
  MakeSpec(db);
  int64_t conflicted = AddDisk(db, "wwn-dup", "nvme9n1", "duplicate serial");
  DrainReconciler(db);
  EXPECT_EQ(Claims(db, conflicted), 0);  // an identity conflict is never claimed
  std::string pos = "SELECT confirmed_lsn FROM diskinv.cdc_consumer WHERE app = 'reconcile'";

  // 1. Killed after the handler ran, before its transaction (effect + position) committed.
  int64_t a = AddDisk(db, "wwn-a", "nvme0n1");
  std::string before = db.Scalar(pos);
  auto p = DiskinvBackground(db.url, {"reconcile", "--no-list"},
                             {"DISKINV_CDC_FAULT=kill-before-commit"});
  ASSERT_EQ(p->ExitCode(30s), 128 + SIGKILL) << p->Output();
  EXPECT_EQ(Claims(db, a), 0);
  EXPECT_EQ(db.Scalar(pos), before);
  // Restarted (no list pass: only the redelivered event can claim it).
  DrainReconciler(db);
  EXPECT_EQ(Claims(db, a), 1);
  EXPECT_EQ(db.Int("SELECT desired_generation FROM diskinv.disk_tuning WHERE disk_id = " +
                   std::to_string(a)),
            1);

  // 2. Killed after the commit, before the acknowledgement reached the server.
  int64_t b = AddDisk(db, "wwn-b", "nvme1n1");
  p = DiskinvBackground(db.url, {"reconcile", "--no-list"},
                        {"DISKINV_CDC_FAULT=kill-after-commit"});
  ASSERT_EQ(p->ExitCode(30s), 128 + SIGKILL) << p->Output();
  EXPECT_EQ(Claims(db, b), 1);
  std::string claimed_at =
      db.Scalar("SELECT claimed_at FROM diskinv.disk_claim WHERE disk_id = " + std::to_string(b));
  std::string own = db.Scalar(pos);
  // The slot was not told: it would redeliver; the consumer's own position covers it.
  EXPECT_EQ(db.Scalar("SELECT confirmed_flush_lsn < '" + own +
                      "' FROM pg_replication_slots WHERE slot_name = 'diskinv_reconcile'"),
            "t");
  std::string transactions =
      "SELECT transactions FROM diskinv.cdc_consumer WHERE app = 'reconcile'";
  int64_t handled = db.Int(transactions);
  DrainReconciler(db);
  EXPECT_EQ(db.Int(transactions), handled);  // not handled again
  EXPECT_EQ(Claims(db, b), 1);

  // 3. The same, but without our own position (as when a PG <= 16 restart moves the slot
  // back and the position were lost): the server redelivers the transaction and the
  // level-triggered handler absorbs the duplicate.
  int64_t c = AddDisk(db, "wwn-c", "nvme2n1");
  p = DiskinvBackground(db.url, {"reconcile", "--no-list"},
                        {"DISKINV_CDC_FAULT=kill-after-commit"});
  ASSERT_EQ(p->ExitCode(30s), 128 + SIGKILL) << p->Output();
  ASSERT_EQ(Claims(db, c), 1);
  std::string c_claimed_at =
      db.Scalar("SELECT claimed_at FROM diskinv.disk_claim WHERE disk_id = " + std::to_string(c));
  ASSERT_EQ(db.Exec("UPDATE diskinv.cdc_consumer SET confirmed_lsn = (SELECT confirmed_flush_lsn "
                    "FROM pg_replication_slots WHERE slot_name = 'diskinv_reconcile')"),
            "");
  int64_t before_redelivery = db.Int(transactions);
  DrainReconciler(db);
  EXPECT_GT(db.Int(transactions), before_redelivery);  // it was handled again...
  EXPECT_EQ(Claims(db, c), 1);                         // ...and changed nothing
  EXPECT_EQ(
      db.Scalar("SELECT claimed_at FROM diskinv.disk_claim WHERE disk_id = " + std::to_string(c)),
      c_claimed_at);
  EXPECT_EQ(
      db.Scalar("SELECT claimed_at FROM diskinv.disk_claim WHERE disk_id = " + std::to_string(b)),
      claimed_at);
  EXPECT_EQ(db.Int("SELECT max(desired_generation) FROM diskinv.disk_tuning"), 1);
  EXPECT_EQ(db.Int("SELECT count(*) FROM diskinv.disk_claim_history"), 0);
}

// A slot invalidated by max_slot_wal_keep_size, and a dropped one: a clear error and an alarm,
// never a silent restart; `cdc slots sync` recreates it and `cdc replay` repairs the gap.
TEST(Reconcile, LostSlotRaisesAnAlarmAndReplayRepairsTheGap) {
  REQUIRE_CDC_DATABASE(db, "e2e_lost");
  MakeSpec(db);
  AddDisk(db, "wwn-before", "nvme0n1");
  DrainReconciler(db);
  ASSERT_EQ(db.Exec("ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'"), "");
  ASSERT_EQ(db.Exec("SELECT pg_reload_conf()"), "");
  int64_t gap_disk = AddDisk(db, "wwn-gap", "nvme1n1");  // committed while nobody streams
  ASSERT_EQ(db.Exec("CREATE TABLE filler (v text)"), "");
  ASSERT_TRUE(WaitFor(
      [&] {
        db.Exec("INSERT INTO filler SELECT repeat('f', 1000) FROM generate_series(1, 5000)");
        db.Exec("SELECT pg_switch_wal()");
        db.Exec("CHECKPOINT");
        return db.Scalar(
                   "SELECT wal_status FROM pg_replication_slots WHERE slot_name = "
                   "'diskinv_reconcile'") == "lost";
      },
      60s));
  int rc = -1;
  std::string out = Diskinv(db.url, "reconcile --no-list", &rc);
  EXPECT_EQ(rc, 4) << out;
  EXPECT_NE(out.find("diskinv_reconcile"), std::string::npos) << out;
  EXPECT_EQ(db.Int("SELECT count(*) FROM diskinv.cdc_alarm WHERE kind = 'slot_invalidated' AND "
                   "cleared_at IS NULL"),
            1);
  std::string gap = db.Scalar("SELECT gap_since FROM diskinv.cdc_alarm WHERE cleared_at IS NULL");
  ASSERT_FALSE(gap.empty());
  out = Cli(db, "cdc status", 3);
  EXPECT_NE(out.find("ALARM slot_invalidated"), std::string::npos) << out;
  ASSERT_EQ(db.Exec("ALTER SYSTEM RESET max_slot_wal_keep_size"), "");
  ASSERT_EQ(db.Exec("SELECT pg_reload_conf()"), "");
  out = Cli(db, "cdc slots sync");
  EXPECT_NE(out.find("dropped invalidated slot diskinv_reconcile"), std::string::npos) << out;
  EXPECT_NE(out.find("created slot diskinv_reconcile"), std::string::npos) << out;
  EXPECT_EQ(Claims(db, gap_disk), 0);
  // Replay the window: the gap's disk is claimed and the alarm cleared.
  out = Cli(db, "cdc replay -t disk -e insert --margin 0 --since '" + gap + "'");
  EXPECT_NE(out.find("replayed 1 insert row(s)"), std::string::npos) << out;
  EXPECT_NE(out.find("cleared 1 alarm(s)"), std::string::npos) << out;
  EXPECT_EQ(Claims(db, gap_disk), 1);
  Cli(db, "cdc status");  // exit 0: no alarm open
  // Replaying again changes nothing (duplicates are absorbed).
  out = Cli(db, "cdc replay -t disk -e insert --since '" + gap + "'");
  EXPECT_NE(out.find("replayed 2 insert row(s)"), std::string::npos) << out;  // margin: 5 min
  EXPECT_EQ(db.Int("SELECT count(*) FROM diskinv.disk_claim"), 2);
  EXPECT_EQ(db.Int("SELECT max(desired_generation) FROM diskinv.disk_tuning"), 1);

  // A dropped slot.
  DrainReconciler(db);
  // (the walsender of the stopped reconciler may take a moment to release the slot)
  ASSERT_TRUE(WaitFor(
      [&] { return db.Exec("SELECT pg_drop_replication_slot('diskinv_reconcile')") == ""; }, 10s));
  out = Diskinv(db.url, "reconcile --no-list", &rc);
  EXPECT_EQ(rc, 4) << out;
  EXPECT_NE(out.find("does not exist"), std::string::npos) << out;
  EXPECT_EQ(db.Int("SELECT count(*) FROM diskinv.cdc_alarm WHERE kind = 'slot_missing' AND "
                   "cleared_at IS NULL"),
            1);
}

// now() in cdc_inserted is the transaction's *start*: a transaction that began before --since
// and committed after it is missed by a bare time window. The overlap margin catches it, and
// with track_commit_timestamp=on the commit time does, exactly.
TEST(Reconcile, ReplayWindowCatchesLateCommits) {
  REQUIRE_CDC_DATABASE(db, "e2e_window");
  MakeSpec(db);
  auto late_commit = [&](const std::string& uid) {
    auto other = PgConnection::Connect(db.url);
    EXPECT_TRUE(other.ok());
    EXPECT_TRUE((*other)->Exec("BEGIN").ok());
    EXPECT_TRUE((*other)
                    ->Exec("INSERT INTO diskinv.disk (uid, node_id, kname, transport, "
                           "identity_source, etag) SELECT '" +
                           uid +
                           "', id, 'nvme5n1', "
                           "'nvme', 'wwn', 'e' FROM diskinv.node LIMIT 1")
                    .ok());
    std::this_thread::sleep_for(1100ms);
    std::string since = db.Scalar("SELECT clock_timestamp()");
    EXPECT_TRUE((*other)->Exec("COMMIT").ok());
    return since;
  };
  AddDisk(db, "wwn-first", "nvme0n1");
  std::this_thread::sleep_for(2000ms);
  std::string since = late_commit("wwn-late");
  std::string out =
      Cli(db, "cdc replay -t disk -e insert --dry-run --margin 0 --since '" + since + "'");
  EXPECT_NE(out.find("would replay 0 insert row(s)"), std::string::npos) << out;  // the trap
  // A margin longer than the writer's transaction (1.1 s) catches it, not the row before.
  out = Cli(db, "cdc replay -t disk -e insert --dry-run --margin 2 --since '" + since + "'");
  EXPECT_NE(out.find("would replay 1 insert row(s)"), std::string::npos) << out;
  // With commit timestamps the window needs no margin.
  ASSERT_EQ(db.Exec("ALTER SYSTEM SET track_commit_timestamp = on"), "");
  ASSERT_TRUE(db.cluster->Stop().ok());
  ASSERT_TRUE(db.cluster->Start().ok());
  ASSERT_EQ(db.Exec("SELECT 1"), "");
  since = late_commit("wwn-late2");
  out = Cli(db, "cdc replay -t disk -e insert --margin 0 --since '" + since + "'");
  EXPECT_NE(out.find("replayed 1 insert row(s)"), std::string::npos) << out;
  EXPECT_NE(out.find("commit timestamps (track_commit_timestamp=on)"), std::string::npos) << out;
  EXPECT_EQ(db.Int("SELECT count(*) FROM diskinv.disk_claim c JOIN diskinv.disk d ON d.id = "
                   "c.disk_id WHERE d.uid = 'wwn-late2'"),
            1);
}

// The node side learns desired tuning by NOTIFY (no resync needed) and applies it, here to a
// sysroot tree whose queue attributes are plain files (the rooted writer never leaves it).
TEST(Reconcile, AgentLearnsDesiredTuningByNotify) {
  REQUIRE_CDC_DATABASE(db, "e2e_notify");
  std::string root = ::testing::TempDir() + "/notify-root";
  std::filesystem::remove_all(root);
  std::string q = root + "/sys/block/fake0/queue/";
  std::filesystem::create_directories(q);
  std::filesystem::create_directories(root + "/sys/block/fake0/mq/0");
  auto put = [&](const std::string& f, const std::string& v) { std::ofstream(f) << v << "\n"; };
  put(q + "scheduler", "[none] mq-deadline kyber");
  put(q + "nr_requests", "256");
  put(q + "read_ahead_kb", "128");
  put(root + "/sys/block/fake0/mq/0/nr_tags", "1023");
  put(root + "/sys/block/fake0/mq/0/nr_reserved_tags", "0");
  int64_t disk = AddDisk(db, "wwn-fake0", "fake0");
  ASSERT_GT(disk, 0);
  MakeSpec(db);
  auto reconcile = DiskinvBackground(db.url, {"reconcile"});
  auto agent = DiskinvBackground(db.url, {"tune", "apply", "--sysroot", root, "--machine-id", "m1",
                                          "--resync-interval", "3600"});
  std::string row = "FROM diskinv.disk_tuning WHERE disk_id = " + std::to_string(disk);
  ASSERT_TRUE(WaitFor([&] { return db.Scalar("SELECT status " + row) == "applied"; }, 20s))
      << agent->Output() << reconcile->Output();
  EXPECT_EQ(ReadSys(q + "nr_requests"), "64");
  // A new desired state reaches the running agent through NOTIFY, well before its resync.
  Cli(db, "tune profile remove fastq");
  // (plain files do not behave like queue/scheduler: numbers only here; the scheduler's kernel
  // behaviour is the loop device test's)
  Cli(db, "tune profile add deep --pool fast --set nr_requests=32 --set read_ahead_kb=512");
  ASSERT_TRUE(WaitFor([&] { return ReadSys(q + "read_ahead_kb") == "512"; }, 20s))
      << agent->Output();
  EXPECT_EQ(ReadSys(q + "nr_requests"), "32");
  EXPECT_TRUE(WaitFor(
      [&] {
        return db.Scalar("SELECT status || ' ' || (observed->>'read_ahead_kb') " + row) ==
               "applied 512";
      },
      10s));
  agent->Signal(SIGTERM);
  EXPECT_EQ(agent->ExitCode(20s), 0) << agent->Output();
  reconcile->Signal(SIGTERM);
  EXPECT_EQ(reconcile->ExitCode(20s), 0) << reconcile->Output();
  std::filesystem::remove_all(root);
}

// `reconcile --metrics-listen`: the CDC lag gauges (bytes and seconds by slot), the positions
// received, processed and acknowledged, and the counters; a killed walsender is followed by a
// reconnect within the capped backoff (at most 2 s per wait).
TEST(Reconcile, MetricsShowTheCdcLagAndFollowAReconnect) {
  REQUIRE_CDC_DATABASE(db, "e2e_metrics");
  MakeSpec(db);
  const uint16_t port = testing::FreeLoopbackPort();
  auto rec = DiskinvBackground(
      db.url, {"reconcile", "--metrics-listen", fmt::format("127.0.0.1:{}", port)});
  ASSERT_TRUE(rec);
  using testing::PromText;
  using testing::PromValue;
  const std::map<std::string, std::string> slot = {{"slot", "diskinv_reconcile"}};
  std::string why;
  auto t = testing::ScrapeUntil(
      port,
      [&](const PromText& s) {
        return PromValue(s, "diskinv_cdc_sessions_total") == 1 &&
               PromValue(s, "diskinv_cdc_lag_bytes", slot) >= 0 &&
               PromValue(s, "diskinv_cdc_lag_seconds", slot) >= 0;
      },
      20s, &why);
  ASSERT_TRUE(t) << why << rec->Output();
  EXPECT_EQ(t->Family("diskinv_cdc_lag_bytes")->type, "gauge");
  // A disk row: claimed through the stream; the acknowledged position passes its commit and
  // the byte lag comes down to what the server wrote since (nothing else writes here).
  AddDisk(db, "wwn-metrics", "nvme7n1");
  const double lsn = static_cast<double>(db.Int("SELECT pg_current_wal_lsn() - '0/0'"));
  t = testing::ScrapeUntil(
      port,
      [&](const PromText& s) {
        return PromValue(s, "diskinv_reconcile_claims_total") == 1 &&
               PromValue(s, "diskinv_cdc_transactions_total") >= 1 &&
               PromValue(s, "diskinv_cdc_acked_lsn") >= lsn &&
               PromValue(s, "diskinv_cdc_processed_lsn") >= lsn &&
               PromValue(s, "diskinv_cdc_lag_bytes", slot) >= 0 &&
               PromValue(s, "diskinv_cdc_lag_bytes", slot) < 1 << 20;
      },
      20s, &why);
  ASSERT_TRUE(t) << why << rec->Output();
  EXPECT_GE(PromValue(*t, "diskinv_cdc_received_lsn"), PromValue(*t, "diskinv_cdc_acked_lsn"));
  EXPECT_EQ(PromValue(*t, "diskinv_cdc_decode_errors_total"), 0);
  // The walsender goes away: the controller is back streaming within seconds.
  auto killed = Clock::now();
  ASSERT_EQ(db.Scalar("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE "
                      "slot_name = 'diskinv_reconcile'"),
            "t");
  t = testing::ScrapeUntil(
      port, [&](const PromText& s) { return PromValue(s, "diskinv_cdc_sessions_total") == 2; }, 10s,
      &why);
  ASSERT_TRUE(t) << why << rec->Output();
  EXPECT_LT(Clock::now() - killed, 5s) << rec->Output();
  rec->Signal(SIGTERM);
  EXPECT_EQ(rec->ExitCode(20s), 0) << rec->Output();
  // Not HOST:PORT: a usage error before anything is touched.
  Cli(db, "reconcile --metrics-listen nohost", 2);
}

TEST(Reconcile, SecondControllerIsRefused) {
  REQUIRE_CDC_DATABASE(db, "e2e_second");
  MakeSpec(db);
  auto first = DiskinvBackground(db.url, {"reconcile"});
  ASSERT_TRUE(WaitFor([&] { return SlotActive(db) == "t"; }, 20s)) << first->Output();
  int rc = -1;
  std::string out = Diskinv(db.url, "reconcile --no-list", &rc);
  EXPECT_EQ(rc, 5) << out;
  EXPECT_NE(out.find("is active for PID"), std::string::npos) << out;
  EXPECT_TRUE(first->running());
  first->Signal(SIGTERM);
  EXPECT_EQ(first->ExitCode(20s), 0) << first->Output();
}

// As a service the controller logs at info (the slot it streams, its acknowledged stop);
// DISKINV_LOG_LEVEL and --log-level choose otherwise (cli.cc marks both as explicit).
TEST(Reconcile, ServiceLogsAtInfoUnlessALevelIsChosen) {
  REQUIRE_CDC_DATABASE(db, "e2e_loglevel");
  MakeSpec(db);
  auto run = [&](const std::vector<std::string>& args, const std::vector<std::string>& env) {
    auto p = DiskinvBackground(db.url, args, env);
    EXPECT_TRUE(p);
    if (!p) return std::string();
    EXPECT_TRUE(WaitFor([&] { return SlotActive(db) == "t"; }, 20s)) << p->Output();
    p->Signal(SIGTERM);
    EXPECT_EQ(p->ExitCode(20s), 0) << p->Output();
    // The slot is released when the process is gone: wait, so the next run can take it.
    EXPECT_TRUE(WaitFor([&] { return SlotActive(db) == "f"; }, 20s));
    return p->Output();
  };
  std::string plain = run({"reconcile", "--no-list"}, {});
  EXPECT_NE(plain.find("info [cdc] streaming slot diskinv_reconcile"), std::string::npos) << plain;
  EXPECT_NE(plain.find("info [cdc] stopped; acknowledged"), std::string::npos) << plain;
  std::string env = run({"reconcile", "--no-list"}, {"DISKINV_LOG_LEVEL=warn"});
  EXPECT_EQ(env.find("info ["), std::string::npos) << env;
  std::string opt = run({"--log-level", "warn", "reconcile", "--no-list"}, {});
  EXPECT_EQ(opt.find("info ["), std::string::npos) << opt;
}

TEST(Reconcile, CommandLineContracts) {
  REQUIRE_CDC_DATABASE(db, "e2e_cli");
  // Install-time safety: sync twice, and twice at once.
  std::string out = Cli(db, "cdc slots sync");
  EXPECT_NE(out.find("created publication diskinv_reconcile"), std::string::npos) << out;
  out = Cli(db, "cdc slots sync");
  EXPECT_NE(out.find("nothing to do"), std::string::npos) << out;
  Cli(db, "cdc slots drop");
  auto a = DiskinvBackground(db.url, {"cdc", "slots", "sync"});
  auto b = DiskinvBackground(db.url, {"cdc", "slots", "sync"});
  EXPECT_EQ(a->ExitCode(30s), 0) << a->Output();
  EXPECT_EQ(b->ExitCode(30s), 0) << b->Output();
  EXPECT_EQ(db.Int("SELECT count(*) FROM pg_replication_slots"), 1);
  EXPECT_EQ(db.Int("SELECT count(*) FROM pg_publication"), 2);
  out = Cli(db, "cdc slots list");
  EXPECT_NE(out.find("diskinv_reconcile"), std::string::npos) << out;
  // A publication that drifted is corrected.
  ASSERT_EQ(db.Exec("ALTER PUBLICATION diskinv_reconcile DROP TABLE diskinv.holder"), "");
  out = Cli(db, "cdc slots sync");
  EXPECT_NE(out.find("corrected the table list"), std::string::npos) << out;
  // Help and usage errors.
  for (const char* cmd : {"cdc", "reconcile", "pool", "tune"}) {
    int rc = -1;
    std::string help = testing::RunCommand(
        testing::ShellQuote(testing::DiskinvBinary()) + " " + cmd + " --help", &rc);
    EXPECT_EQ(rc, 0) << cmd;
    EXPECT_NE(help.find("Exit status"), std::string::npos) << cmd;
  }
  Cli(db, "cdc frobnicate", 2);
  Cli(db, "cdc replay -t disk", 2);
  Cli(db, "cdc replay -t disk -e insert --id 1 --since now", 2);
  Cli(db, "cdc replay -t secrets -e insert", 2);
  Cli(db, "tune profile add x --set rotational=1", 2);
  Cli(db, "pool policy add p --transport nvme", 2);
  Cli(db, "pool policy add p --pool nope --transport nvme", 1);
  Cli(db, "pool create fast");
  out = Cli(db, "pool create fast", 1);
  EXPECT_NE(out.find("exists already"), std::string::npos) << out;
  Cli(db, "pool policy add p --pool fast --min-size 1Q", 2);
  // A database that is not there: a clear error, exit 1.
  int rc = -1;
  out = testing::RunCommand(testing::ShellQuote(testing::DiskinvBinary()) +
                                " cdc status --database-url postgresql://x@127.0.0.1:1/none 2>&1",
                            &rc);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("cannot connect"), std::string::npos) << out;
}

// 1,000,000 rows in one transaction pass through `cdc tail` in bounded parts: the consumer's
// peak memory stays far below the transaction's size.
TEST(Reconcile, MillionRowTransactionWithBoundedMemory) {
  REQUIRE_CDC_DATABASE(db, "e2e_million");
  ASSERT_EQ(db.Exec("CREATE TABLE big (k int, pad text); CREATE PUBLICATION big_pub FOR TABLE "
                    "big"),
            "");
  auto tail = DiskinvBackground(
      db.url, {"cdc", "tail", "--publication", "big_pub", "--summary", "--limit", "1"});
  ASSERT_TRUE(WaitFor(
      [&] {
        return db.Int("SELECT count(*) FROM pg_replication_slots WHERE temporary AND active") == 1;
      },
      20s))
      << tail->Output();
  ASSERT_EQ(db.Exec("INSERT INTO big SELECT i, repeat(md5(i::text), 6) FROM generate_series(1, "
                    "1000000) i"),
            "");
  int64_t table_bytes = db.Int("SELECT pg_table_size('big')");
  auto rc = tail->ExitCode(300s);
  ASSERT_EQ(rc, 0) << tail->Output();
  std::string out = tail->Output();
  EXPECT_NE(out.find("transactions 1 changes 1000000 "), std::string::npos) << out;
  size_t at = out.find("peak_rss_kb ");
  ASSERT_NE(at, std::string::npos) << out;
  int64_t peak_kb = std::stoll(out.substr(at + 12));
  std::printf("1,000,000-row transaction (%lld MB on disk): consumer peak RSS %lld MB\n",
              static_cast<long long>(table_bytes >> 20), static_cast<long long>(peak_kb >> 10));
  EXPECT_GT(table_bytes, int64_t{200} << 20);
  EXPECT_LT(peak_kb * 1024, table_bytes / 3);
}

}  // namespace
}  // namespace diskinv
