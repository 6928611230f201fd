// `diskinv agent` as an operator runs it, on the real kernel with a real systemd-udevd and a
// real PostgreSQL: a device that the udev rules ignore (DISKINV_IGNORE=1) is never
// inventoried while a normal one is, and one that becomes ignored is tombstoned; the daemon
// applies this node's desired queue tuning (written by `diskinv reconcile`) to a loop
// device's queue, reports observed values and rejections, and repairs drift at its resync;
// the uevent self-check passes at start-up on both sources, and an agent whose check cannot
// pass keeps running, degraded, and says so.
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "integration/uevent_test_support.h"
#include "support/agent_process.h"
#include "support/cdc_harness.h"
#include "support/http_client.h"
#include "support/loop_device.h"
#include "support/lsblk_compare.h"
#include "support/prometheus_text.h"
#include "support/shell.h"
#include "support/udev_fixtures.h"
#include "support/udevd.h"

namespace diskinv {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::AgentProcess;
using testing::CdcDatabase;
using testing::PromText;
using testing::PromValue;
using testing::ReadSys;
using testing::ScrapeUntil;
using testing::WaitFor;

class AgentOps : public ::testing::Test {
 protected:
  static void TearDownTestSuite() { udevd_.reset(); }

  void SetUp() override {
    std::string missing = testing::LoopDevicesAndUdevd(udevd_);
    DISKINV_REQUIRE_FACILITY(missing.empty(), missing);
    char tmpl[] = "/tmp/diskinv-agent-ops.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    port_ = testing::FreeLoopbackPort();
  }
  void TearDown() override {
    if (udevd_) (void)udevd_->ReloadRules();  // a test's RuntimeRules are gone by now
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  // The agent's configuration file: the database, the metrics endpoint, `extra` lines.
  std::string Config(const std::string& url, const std::string& extra = "") {
    std::string path = dir_ + "/diskinv.conf";
    std::ofstream(path) << fmt::format(
        "database_url = {}\nmetrics_listen = 127.0.0.1:{}\nreconnect_min = 100ms\n{}", url, port_,
        extra);
    return path;
  }

  // Scrapes until `ok`; fails the test (with the last scrape) when it never holds.
  std::optional<PromText> Scrape(const std::function<bool(const PromText&)>& ok,
                                 std::chrono::milliseconds timeout = 10s) {
    std::string why;
    auto t = ScrapeUntil(port_, ok, timeout, &why);
    EXPECT_TRUE(t) << why;
    return t;
  }

  // Whether the database has a present disk row for `kname`, within `timeout`.
  static bool WaitDiskPresent(CdcDatabase& db, const std::string& kname,
                              std::chrono::milliseconds timeout = 10s) {
    return WaitFor(
        [&] {
          return db.Int("SELECT count(*) FROM diskinv.disk WHERE state = 'present' AND kname = '" +
                        kname + "'") == 1;
        },
        timeout);
  }

  // Still running; SIGTERM ends it with 0.
  static void ExpectCleanStop(AgentProcess& agent) {
    EXPECT_TRUE(agent.alive()) << agent.LogText();
    agent.Signal(SIGTERM);
    EXPECT_EQ(agent.WaitExit(), 0) << agent.LogText();
  }

  static std::string Cli(const CdcDatabase& db, const std::string& args, int expect = 0) {
    int rc = -1;
    std::string out = testing::Diskinv(db.url, args, &rc);
    EXPECT_EQ(rc, expect) << "diskinv " << args << ":\n" << out;
    return out;
  }

  static inline std::unique_ptr<testing::Udevd> udevd_;
  std::string dir_;
  uint16_t port_ = 0;
};

// The rules installed, one loop device ignored by a rule on its kernel name: the agent (both
// event sources, udev filtered by the tag) inventories the other one and its partition and
// never the ignored one, not even for a moment (no row at all, not even a tombstone). Then a
// rule ignores the kept disk as well: after its next event, its rows are tombstoned.
TEST_F(AgentOps, IgnoredDeviceIsNeverInventoriedAndOneThatBecomesIgnoredIsTombstoned) {
  REQUIRE_CDC_DATABASE(db, "agent_ignore");
  const int ignored_index = testing::UnusedLoopIndex();
  testing::RuntimeRules installed;
  installed.Install(testing::SourceDir() + "/rules/60-diskinv.rules", "60-diskinv.rules");
  installed.Append(
      "59-diskinv-ignore.rules",
      fmt::format("SUBSYSTEM==\"block\", KERNEL==\"loop{}\", ENV{{DISKINV_IGNORE}}=\"1\"",
                  ignored_index));
  ASSERT_TRUE(udevd_->ReloadRules().ok());
  // The self-check needs a whole disk that carries the tag to check the udev source through
  // the tag filter. On a node the rules tag every disk as its events come; on a fresh machine
  // no disk has had an event since the rules were installed, and none carries it. A change
  // event tags loop0 (never the ignored one: UnusedLoopIndex starts at 200).
  ASSERT_NE(ignored_index, 0);
  Status tagged = testing::RunProgram(
      {"udevadm", "trigger", "--action=change", "--settle", "/sys/class/block/loop0"});
  ASSERT_TRUE(tagged.ok()) << tagged.message();

  AgentProcess agent(dir_, Config(db.url), {{"DISKINV_EVENTS", "both"}});
  ASSERT_TRUE(agent.WaitReady()) << agent.LogText();
  EXPECT_TRUE(agent.Logged("info", "udev events: tag diskinv")) << agent.LogText();
  // The start-up self-check passed on both sources (the udev one through the tag filter).
  auto t =
      Scrape([](const PromText& s) { return PromValue(s, "diskinv_agent_self_check_ok") == 1; });
  ASSERT_TRUE(t) << agent.LogText();
  EXPECT_TRUE(agent.Logged("info", "uevent self-check (start-up) passed")) << agent.LogText();
  EXPECT_FALSE(agent.Logged("info", "the udev source is not checked")) << agent.LogText();

  auto kept = testing::FreshLoop::Create(8 << 20);
  ASSERT_TRUE(kept.ok()) << kept.status().message();
  auto ignored = testing::FreshLoop::Create(8 << 20, ignored_index);
  ASSERT_TRUE(ignored.ok()) << ignored.status().message();
  const std::string k = (*kept)->name(), kp = k + "p1", i = (*ignored)->name();
  auto state = [&](const std::string& table, const std::string& kname) {
    return db.Scalar(fmt::format("SELECT string_agg(state, ',') FROM diskinv.{} WHERE kname = '{}'",
                                 table, kname));
  };
  ASSERT_TRUE(WaitFor(
      [&] { return state("disk", k) == "present" && state("partition", kp) == "present"; }, 15s))
      << agent.LogText();
  // udevd is done with every device and the agent has had a second for what follows.
  ASSERT_TRUE(udevd_->Settle().ok());
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(state("disk", i), "") << agent.LogText();
  EXPECT_EQ(state("partition", i + "p1"), "") << agent.LogText();
  EXPECT_EQ(db.Int("SELECT count(*) FROM diskinv.disk WHERE kname = '" + i + "'"), 0);

  // The kept disk becomes ignored: the rule, then an event for it (its partition follows it).
  installed.Append(
      "59-diskinv-ignore.rules",
      fmt::format("SUBSYSTEM==\"block\", KERNEL==\"{}\", ENV{{DISKINV_IGNORE}}=\"1\"", k));
  ASSERT_TRUE(udevd_->ReloadRules().ok());
  std::ofstream("/sys/block/" + k + "/uevent") << "change";
  EXPECT_TRUE(WaitFor(
      [&] { return state("disk", k) == "removed" && state("partition", kp) == "removed"; }, 15s))
      << state("disk", k) << " " << state("partition", kp) << "\n"
      << agent.LogText();
  ExpectCleanStop(agent);
}

// `diskinv reconcile --once` writes the desired tuning of a pool's loop device; the running
// agent learns it (NOTIFY), validates it as the kernel would, writes read_ahead_kb, leaves the
// rejected discard_max_bytes alone and reports both; a value changed by hand is drift that its
// next resync repairs. Counters on the metrics endpoint.
TEST_F(AgentOps, DaemonAppliesDesiredTuningToALoopDeviceAndReportsIt) {
  REQUIRE_CDC_DATABASE(db, "agent_tuning");
  auto loop = testing::LoopDevice::Attach(64 << 20, dir_);
  ASSERT_TRUE(loop.ok()) << loop.status().message();
  const std::string kname = loop->name(), q = "/sys/block/" + kname + "/queue/";
  const std::string orig_ra = ReadSys(q + "read_ahead_kb");
  const std::string orig_disc = ReadSys(q + "discard_max_bytes");
  const std::string want = orig_ra == "384" ? "640" : "384";
  // Full walks every 2 s: a tuning pass follows each (drift found at the resync).
  AgentProcess agent(dir_, Config(db.url, "resync_interval = 2s\n"),
                     {{"DISKINV_EVENTS", "kernel"}});
  ASSERT_TRUE(agent.WaitReady()) << agent.LogText();
  ASSERT_TRUE(WaitDiskPresent(db, kname)) << agent.LogText();
  ASSERT_TRUE(Scrape([](const PromText& s) {
    return PromValue(s, "diskinv_agent_tuning_connected") == 1;
  })) << agent.LogText();

  Cli(db, "pool create ops");
  Cli(db, "pool policy add ops-loop --pool ops --kname " + kname);
  Cli(db, "tune profile add ops-q --pool ops --set read_ahead_kb=" + want +
              " --set discard_max_bytes=1000");
  Cli(db, "reconcile --once");
  const std::string row =
      "FROM diskinv.disk_tuning t JOIN diskinv.disk d ON d.id = t.disk_id WHERE d.kname = '" +
      kname + "' AND d.state = 'present'";
  ASSERT_EQ(db.Int("SELECT count(*) " + row), 1);
  EXPECT_TRUE(WaitFor([&] { return ReadSys(q + "read_ahead_kb") == want; }, 10s))
      << agent.LogText();
  EXPECT_TRUE(WaitFor([&] { return db.Scalar("SELECT t.status " + row) == "partial"; }, 10s))
      << db.Scalar("SELECT t.status " + row) << "\n"
      << agent.LogText();
  EXPECT_EQ(db.Scalar("SELECT t.observed->>'read_ahead_kb' " + row), want);
  EXPECT_EQ(ReadSys(q + "discard_max_bytes"), orig_disc);  // rejected: never written
  EXPECT_EQ(db.Scalar("SELECT t.observed->>'discard_max_bytes' " + row), orig_disc);
  std::string why = db.Scalar("SELECT t.rejected->>'discard_max_bytes' " + row);
  EXPECT_NE(why.find("not a multiple of discard_granularity"), std::string::npos) << why;
  EXPECT_TRUE(agent.Logged("info", "tuning pass:")) << agent.LogText();
  auto t = Scrape([](const PromText& s) {
    return PromValue(s, "diskinv_agent_tuning_writes_total") >= 1 &&
           PromValue(s, "diskinv_agent_tuning_rejected_total") >= 1;
  });
  ASSERT_TRUE(t);
  EXPECT_EQ(PromValue(*t, "diskinv_agent_tuning_errors_total"), 0);

  // Drift: changed by hand, repaired by the pass after the next resync walk.
  std::ofstream(q + "read_ahead_kb") << orig_ra;
  ASSERT_EQ(ReadSys(q + "read_ahead_kb"), orig_ra);
  EXPECT_TRUE(WaitFor([&] { return ReadSys(q + "read_ahead_kb") == want; }, 10s))
      << agent.LogText();
  // (the row's drift record lasts until the next pass finds none: the log keeps it)
  EXPECT_TRUE(WaitFor(
      [&] {
        return agent.Logged("info", fmt::format("{}: read_ahead_kb drifted to {} (desired {}), "
                                                "repaired",
                                                kname, orig_ra, want));
      },
      5s))
      << agent.LogText();
  ExpectCleanStop(agent);
  std::ofstream(q + "read_ahead_kb") << orig_ra;  // the agent is gone: nothing repairs it now
  EXPECT_EQ(ReadSys(q + "read_ahead_kb"), orig_ra);
}

// A self-check that cannot pass (the device to trigger does not exist) does not stop the
// agent: it is ready, serves diskinv_agent_self_check_ok 0, says so in its systemd STATUS,
// walks and checks again every self_check_retry, and stops cleanly.
TEST_F(AgentOps, FailingSelfCheckLeavesTheAgentRunningDegraded) {
  REQUIRE_CDC_DATABASE(db, "agent_selfcheck");
  AgentProcess agent(dir_,
                     Config(db.url,
                            "self_check = nosuchdisk9\nself_check_timeout = 200ms\n"
                            "self_check_retry = 1s\n"),
                     {{"DISKINV_EVENTS", "kernel"}});
  ASSERT_TRUE(agent.WaitReady()) << agent.LogText();
  auto t = Scrape([](const PromText& s) {
    return PromValue(s, "diskinv_agent_self_check_ok") == 0 &&
           PromValue(s, "diskinv_agent_self_check_failures_total") >= 2;  // start-up + a retry
  });
  ASSERT_TRUE(t) << agent.LogText();
  EXPECT_TRUE(agent.Logged("error", "uevent self-check (start-up) on nosuchdisk9 failed"))
      << agent.LogText();
  EXPECT_TRUE(agent.Logged("error", "uevent self-check (retry)")) << agent.LogText();
  EXPECT_NE(agent.LastStatus().find("uevent self-check failed"), std::string::npos)
      << agent.LastStatus();
  EXPECT_GE(PromValue(*t, "diskinv_agent_periodic_resyncs_total"), 1);  // the degraded walks
  // Still doing its job: a new loop device gets its row.
  auto loop = testing::LoopDevice::Attach(16 << 20, dir_);
  ASSERT_TRUE(loop.ok()) << loop.status().message();
  EXPECT_TRUE(WaitDiskPresent(db, loop->name())) << agent.LogText();
  ExpectCleanStop(agent);
}

// A loss at the very end of a burst leaves no later event to show a SEQNUM gap, and with
// NETLINK_NO_ENOBUFS (the agent's test hook) no ENOBUFS either: the agent is stopped while a
// burst overflows its small receive queue, so every event after the queue filled up, the
// last ones included, is dropped. Resumed, it reads what was queued, and ~100 ms after the
// socket went quiet its idle check finds the kernel's counter ahead: a tail loss and a walk.
TEST_F(AgentOps, LossAtTheTailOfABurstIsFoundByTheIdleCheck) {
  REQUIRE_CDC_DATABASE(db, "agent_tail");
  auto loop = testing::LoopDevice::Attach(16 << 20, dir_);
  ASSERT_TRUE(loop.ok()) << loop.status().message();
  AgentProcess agent(dir_, Config(db.url, "rcvbuf = 64K\nself_check = off\n"),
                     {{"DISKINV_EVENTS", "kernel"}, {"DISKINV_AGENT_FAULT", "netlink-no-enobufs"}});
  ASSERT_TRUE(agent.WaitReady()) << agent.LogText();
  auto t =
      Scrape([](const PromText& s) { return PromValue(s, "diskinv_agent_full_walks_total") >= 1; });
  ASSERT_TRUE(t);
  const double walks = PromValue(*t, "diskinv_agent_full_walks_total");
  EXPECT_EQ(PromValue(*t, "diskinv_agent_tail_losses_total"), 0);
  agent.Signal(SIGSTOP);
  {
    int fd = open(("/sys/block/" + loop->name() + "/uevent").c_str(), O_WRONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    for (int i = 0; i < 1000; ++i) ASSERT_EQ(write(fd, "change", 6), 6) << i;
    close(fd);
  }
  agent.Signal(SIGCONT);
  t = Scrape([&](const PromText& s) {
    return PromValue(s, "diskinv_agent_tail_losses_total") >= 1 &&
           PromValue(s, "diskinv_agent_full_walks_total") > walks;
  });
  ASSERT_TRUE(t) << agent.LogText();
  EXPECT_EQ(PromValue(*t, "diskinv_agent_enobufs_total"), 0);  // silent: the hook's point
  EXPECT_GE(PromValue(*t, "diskinv_agent_events_lost_total"), 1);
  EXPECT_TRUE(agent.Logged("warning", "events lost or skipped")) << agent.LogText();
  ExpectCleanStop(agent);
}

}  // namespace
}  // namespace diskinv
