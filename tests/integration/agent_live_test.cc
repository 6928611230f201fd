// `diskinv agent` as a process on the real kernel (loop devices, kernel and udev events) with a
// real PostgreSQL: rows follow attach/detach/reattach; a restart with nothing changed writes
// nothing; kill -9 in a storm, then a restart, leaves the tables equal to a fresh walk; the
// database going away and coming back loses nothing; SIGTERM, SIGHUP, sd_notify, bad config.
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "store/device_row.h"
#include "store/node_rows.h"
#include "store_test_support.h"
#include "support/agent_process.h"
#include "support/loop_device.h"
#include "support/lsblk_compare.h"
#include "support/shell.h"
#include "support/udevd.h"
#include "sysfs/real_sysfs_reader.h"
#include "sysfs/walker.h"

namespace diskinv {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using testing::AgentProcess;
using testing::Count;
using testing::DiskinvBinary;
using testing::LoopDevice;
using testing::MustConnect;
using testing::One;
using testing::RunCommand;
using testing::ShellQuote;
using testing::Snapshot;

bool WaitFor(const std::function<bool()>& cond, milliseconds timeout = milliseconds(10000)) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return cond();
}

std::string MachineId() {
  std::string s = testing::ReadWholeFile("/etc/machine-id");
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

class AgentLive : public ::testing::Test {
 protected:
  static void TearDownTestSuite() { udevd_.reset(); }

  void SetUp() override {
    std::string missing = testing::LoopDevicesAndUdevd(udevd_);
    DISKINV_REQUIRE_FACILITY(missing.empty(), missing);
    DISKINV_REQUIRE_FACILITY(MachineId().size() == 32, "no /etc/machine-id");
    auto cluster = testing::SharedPgCluster();
    DISKINV_REQUIRE_FACILITY(cluster.ok(), "no PostgreSQL: " + cluster.status().message());
    char tmpl[] = "/tmp/diskinv-agent-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    loops_.clear();
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  // A fresh migrated database on the shared test cluster.
  std::string Database(const std::string& name) {
    auto cluster = testing::SharedPgCluster();
    if (!cluster.ok()) {
      ADD_FAILURE() << cluster.status().message();
      return "";
    }
    auto url = testing::FreshDatabase(**cluster, name);
    EXPECT_TRUE(url.ok()) << url.status().message();
    auto c = MustConnect(*url);
    EXPECT_TRUE(c && Migrate(*c).ok());
    return url.ok() ? *url : "";
  }

  std::string Config(const std::string& url, const std::string& extra = "") {
    std::string path = dir_ + "/diskinv.conf";
    std::ofstream(path) << fmt::format(
        "database_url = {}\nreconnect_min = 100ms\nreconnect_max = 1s\n{}", url, extra);
    return path;
  }

  std::unique_ptr<AgentProcess> Start(const std::string& config,
                                      std::map<std::string, std::string> env = {}) {
    return std::make_unique<AgentProcess>(dir_, config, std::move(env));
  }

  // A sparse backing file that reattaching brings back as "the same disk".
  std::string BackingFile(const std::string& name, uint64_t bytes) {
    std::string path = dir_ + "/" + name + ".img";
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(ftruncate(fd, static_cast<off_t>(bytes)), 0);
    close(fd);
    return path;
  }

  int64_t NodeId(PgConnection& c) {
    return Count(c,
                 fmt::format("SELECT id FROM diskinv.node WHERE machine_id = '{}'", MachineId()));
  }

  // Waits until the node's present rows, edges and open conflicts are those a fresh walk of
  // this machine gives (udev settled), and says what differs when they never are.
  ::testing::AssertionResult EqualsFreshWalk(const std::string& url,
                                             milliseconds timeout = milliseconds(20000)) {
    auto c = MustConnect(url);
    std::string diff;
    auto deadline = Clock::now() + timeout;
    do {
      (void)udevd_->Settle();
      auto root = RealSysfsReader::Open("/");
      if (!root.ok()) return ::testing::AssertionFailure() << root.status().message();
      Walker walker(**root, WalkOptions{});
      Inventory inv = walker.WalkAll();
      int64_t node = NodeId(*c);
      NodeRows want = BuildNodeRows(inv, MachineId());
      std::map<std::string, std::string> expected, actual;
      for (const auto& row : want.rows) expected[row.uid] = StoredEtag(row, node);
      for (const char* t : {"disk", "partition"}) {
        auto r =
            c->Exec(fmt::format("SELECT uid, etag FROM diskinv.{} WHERE node_id = {} AND "
                                "state = 'present'",
                                t, node));
        if (!r.ok()) return ::testing::AssertionFailure() << r.status().message();
        for (int i = 0; i < r->rows(); ++i) actual[r->Str(i, 0)] = r->Str(i, 1);
      }
      std::set<std::pair<std::string, std::string>> want_edges, edges;
      for (const auto& e : want.edges) want_edges.emplace(e.parent_uid, e.child_uid);
      auto h =
          c->Exec(fmt::format("SELECT parent_uid, child_uid FROM diskinv.holder WHERE node_id "
                              "= {} AND state = 'present'",
                              node));
      if (h.ok()) {
        for (int i = 0; i < h->rows(); ++i) edges.emplace(h->Str(i, 0), h->Str(i, 1));
      }
      if (expected == actual && want_edges == edges) return ::testing::AssertionSuccess();
      diff.clear();
      for (const auto& [uid, etag] : expected) {
        auto it = actual.find(uid);
        if (it == actual.end())
          diff += "\n  missing in the database: " + uid;
        else if (it->second != etag)
          diff += "\n  stale in the database: " + uid;
      }
      for (const auto& [uid, etag] : actual) {
        if (!expected.contains(uid)) diff += "\n  present in the database, not on the node: " + uid;
      }
      if (want_edges != edges) diff += "\n  holder edges differ";
      std::this_thread::sleep_for(milliseconds(100));
    } while (Clock::now() < deadline);
    return ::testing::AssertionFailure() << "the tables never matched a fresh walk:" << diff;
  }

  static std::unique_ptr<testing::Udevd> udevd_;
  std::string dir_;
  std::vector<LoopDevice> loops_;
};

std::unique_ptr<testing::Udevd> AgentLive::udevd_;

TEST_F(AgentLive, LoopAttachDetachReattach) {
  std::string url = Database("agent_loop");
  ASSERT_FALSE(url.empty());
  auto sql = MustConnect(url);
  auto agent = Start(Config(url));
  ASSERT_TRUE(agent->WaitReady()) << agent->LogText();
  std::string file = BackingFile("disk1", 16 << 20);
  auto loop = LoopDevice::AttachFile(file);
  ASSERT_TRUE(loop.ok()) << loop.status().message();
  std::string uid = fmt::format("loop:{}:{}", MachineId(), file);
  std::string row_sql = fmt::format(
      "SELECT kname || ' ' || type || ' ' || major || ':' || minor || ' ' || size_bytes || ' ' "
      "|| ro || ' ' || identity_source || ' ' || (attrs->>'loop_backing_file') || ' ' || state "
      "|| ' ' || (removed_at IS NULL) || ' ' || logical_block_size FROM diskinv.disk WHERE uid "
      "= '{}'",
      uid);
  // ro: tests/support attaches read-only (it opens loopN O_RDONLY, see loop_device.h).
  std::string want = fmt::format("{} loop 7:{} 16777216 true loop {} present true 512",
                                 loop->name(), loop->index(), file);
  EXPECT_TRUE(WaitFor([&] { return One(*sql, row_sql) == want; })) << One(*sql, row_sql);
  std::string id = One(*sql, fmt::format("SELECT id FROM diskinv.disk WHERE uid = '{}'", uid));
  EXPECT_TRUE(EqualsFreshWalk(url));

  ASSERT_TRUE(loop->Detach().ok());
  std::string gone_sql = fmt::format(
      "SELECT state || ' ' || (removed_at IS NOT NULL) FROM diskinv.disk WHERE uid = '{}'", uid);
  EXPECT_TRUE(WaitFor([&] { return One(*sql, gone_sql) == "removed true"; }))
      << One(*sql, gone_sql);
  std::string gen =
      One(*sql, fmt::format("SELECT generation FROM diskinv.disk WHERE uid = '{}'", uid));

  // The same backing file again (perhaps on another loopN): the same uid, the same row, revived.
  auto again = LoopDevice::AttachFile(file);
  ASSERT_TRUE(again.ok()) << again.status().message();
  std::string back_sql = fmt::format(
      "SELECT id || ' ' || kname || ' ' || state || ' ' || (removed_at IS NULL) || ' ' || "
      "(generation > {}) FROM diskinv.disk WHERE uid = '{}'",
      gen, uid);
  std::string back = fmt::format("{} {} present true true", id, again->name());
  EXPECT_TRUE(WaitFor([&] { return One(*sql, back_sql) == back; })) << One(*sql, back_sql);
  EXPECT_EQ(Count(*sql, fmt::format("SELECT count(*) FROM diskinv.disk WHERE uid = '{}'", uid)), 1);
  EXPECT_TRUE(EqualsFreshWalk(url));
  ASSERT_TRUE(again->Detach().ok());
  EXPECT_TRUE(WaitFor([&] { return One(*sql, gone_sql) == "removed true"; }));

  agent->Signal(SIGTERM);
  EXPECT_EQ(agent->WaitExit(), 0) << agent->LogText();
  EXPECT_TRUE(agent->Notified("STOPPING=1"));
  EXPECT_TRUE(agent->Logged("info", "stopped:"));
}

TEST_F(AgentLive, RestartWithNothingChangedWritesNothing) {
  std::string url = Database("agent_restart");
  ASSERT_FALSE(url.empty());
  auto sql = MustConnect(url);
  auto loop = LoopDevice::AttachFile(BackingFile("disk1", 8 << 20));
  ASSERT_TRUE(loop.ok()) << loop.status().message();
  auto agent = Start(Config(url));
  ASSERT_TRUE(agent->WaitReady()) << agent->LogText();
  ASSERT_TRUE(EqualsFreshWalk(url));
  agent->Signal(SIGTERM);
  ASSERT_EQ(agent->WaitExit(), 0);
  auto before = Snapshot(*sql);
  std::string scan = One(*sql, "SELECT last_full_scan FROM diskinv.node");
  agent = Start(Config(url));
  ASSERT_TRUE(agent->WaitReady()) << agent->LogText();
  std::this_thread::sleep_for(milliseconds(1000));  // events of the start, if any, are in
  EXPECT_EQ(Snapshot(*sql), before) << agent->LogText();
  EXPECT_TRUE(agent->Logged("info", "no writes")) << agent->LogText();
  // Only the node's scan record moved.
  EXPECT_NE(One(*sql, "SELECT last_full_scan FROM diskinv.node"), scan);
  agent->Signal(SIGTERM);
  EXPECT_EQ(agent->WaitExit(), 0);
}

TEST_F(AgentLive, KillNineDuringAStormThenRestartMatchesAFreshWalk) {
  std::string url = Database("agent_storm");
  ASSERT_FALSE(url.empty());
  auto agent = Start(Config(url));
  ASSERT_TRUE(agent->WaitReady()) << agent->LogText();
  constexpr int kDisks = 6;
  std::vector<std::string> files;
  std::vector<std::optional<LoopDevice>> attached(kDisks);
  for (int i = 0; i < kDisks; ++i) files.push_back(BackingFile(fmt::format("storm{}", i), 8 << 20));
  std::mt19937 rng(11);
  auto op = [&] {  // attach, resize or detach one of the disks
    int i = static_cast<int>(rng() % kDisks);
    if (!attached[i]) {
      auto l = LoopDevice::AttachFile(files[i]);
      if (l.ok()) attached[i] = std::move(*l);
    } else if (rng() % 3 == 0) {
      EXPECT_TRUE(attached[i]->Resize((8 + rng() % 8) << 20).ok());
    } else {
      attached[i].reset();  // detaches
    }
  };
  // The storm runs in a thread; the agent is killed in the middle of it, while it writes.
  auto sql = MustConnect(url);
  std::atomic<int> done{0};
  std::thread storm([&] {
    for (int n = 0; n < 240; ++n, ++done) {
      op();
      std::this_thread::sleep_for(milliseconds(2));
    }
  });
  WaitFor([&] { return done >= 80; });
  int64_t written = Count(*sql, "SELECT count(*) FROM diskinv.disk WHERE kname LIKE 'loop%'");
  agent->Kill9();
  WaitFor([&] { return done >= 160; });
  agent = Start(Config(url));  // and restarted while the storm goes on
  storm.join();
  EXPECT_GT(written, 0) << "the agent wrote nothing before it was killed";
  ASSERT_TRUE(agent->WaitReady()) << agent->LogText();
  EXPECT_TRUE(EqualsFreshWalk(url)) << agent->LogText();
  EXPECT_GT(Count(*sql,
                  "SELECT count(*) FROM diskinv.disk WHERE kname LIKE 'loop%' AND state = "
                  "'removed'"),
            0);
  EXPECT_TRUE(agent->alive());
  agent->Signal(SIGTERM);
  EXPECT_EQ(agent->WaitExit(), 0);
}

TEST_F(AgentLive, DatabaseDownDuringChanges) {
  auto cluster = testing::PgCluster::Create();  // our own: this test stops it
  DISKINV_REQUIRE_FACILITY(cluster.ok(), "no PostgreSQL: " + cluster.status().message());
  std::string url = (*cluster)->url();
  {
    auto c = MustConnect(url);
    ASSERT_TRUE(c && Migrate(*c).ok());
  }
  auto sql_count = [&](const std::string& q) {
    auto c = PgConnection::Connect(url, 2);
    return c.ok() ? Count(**c, q) : -1;
  };
  auto agent = Start(Config(url));
  ASSERT_TRUE(agent->WaitReady()) << agent->LogText();
  auto a = LoopDevice::AttachFile(BackingFile("a", 8 << 20));
  ASSERT_TRUE(a.ok());
  std::string a_row = fmt::format(
      "SELECT count(*) FROM diskinv.disk WHERE kname = '{}' AND "
      "state = 'present'",
      a->name());
  ASSERT_TRUE(WaitFor([&] { return sql_count(a_row) == 1; }));

  ASSERT_TRUE((*cluster)->Stop().ok());
  auto b = LoopDevice::AttachFile(BackingFile("b", 8 << 20));
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE(a->Detach().ok());
  ASSERT_TRUE(b->Resize(12 << 20).ok());
  std::this_thread::sleep_for(milliseconds(2500));  // several reconnect attempts
  EXPECT_TRUE(agent->alive()) << agent->LogText();
  EXPECT_TRUE(agent->Logged("warning", "database write failed")) << agent->LogText();
  EXPECT_TRUE(agent->Logged("warning", "keeping the observed state in memory")) << agent->LogText();
  EXPECT_TRUE(agent->Notified("database unavailable"));

  ASSERT_TRUE((*cluster)->Start().ok());
  EXPECT_TRUE(EqualsFreshWalk(url)) << agent->LogText();
  EXPECT_TRUE(agent->Logged("warning", "answers again after")) << agent->LogText();
  EXPECT_TRUE(agent->alive());
  EXPECT_EQ(sql_count(a_row), 0);  // the detach while it was down: a tombstone now
  EXPECT_EQ(sql_count(fmt::format("SELECT count(*) FROM diskinv.disk WHERE kname = '{}' AND "
                                  "size_bytes = {} AND state = 'present'",
                                  b->name(), 12 << 20)),
            1);
  agent->Signal(SIGTERM);
  EXPECT_EQ(agent->WaitExit(), 0);
}

TEST_F(AgentLive, WatchdogReloadAndBadConfig) {
  std::string url = Database("agent_signals");
  ASSERT_FALSE(url.empty());
  auto sql = MustConnect(url);
  std::string config = Config(url, "resync_interval = 10m\n");
  auto agent = Start(config, {{"WATCHDOG_USEC", "200000"}});
  ASSERT_TRUE(agent->WaitReady()) << agent->LogText();
  EXPECT_TRUE(WaitFor(
      [&] {
        int n = 0;
        for (const auto& note : agent->notifications()) n += note == "WATCHDOG=1";
        return n >= 3;
      },
      milliseconds(3000)));

  std::string scan = One(*sql, "SELECT last_full_scan FROM diskinv.node");
  Config(url, "resync_interval = 1s\n");
  agent->Signal(SIGHUP);
  EXPECT_TRUE(WaitFor([&] {
    return agent->Logged("info",
                         "configuration reloaded: changed "
                         "resync_interval");
  })) << agent->LogText();
  EXPECT_TRUE(agent->Notified("RELOADING=1"));
  EXPECT_TRUE(WaitFor([&] { return agent->Logged("info", "full walk (periodic resync)"); }))
      << agent->LogText();
  // Periodic walks that find nothing write nothing, not even the node row (docs/agent.md).
  std::string generation = One(*sql, "SELECT generation FROM diskinv.node");
  auto periodic_walks = [&] {
    std::string log = agent->LogText();
    size_t n = 0;
    for (size_t at = log.find("full walk (periodic resync)"); at != std::string::npos;
         at = log.find("full walk (periodic resync)", at + 1)) {
      ++n;
    }
    return n;
  };
  EXPECT_TRUE(WaitFor([&] { return periodic_walks() >= 3; })) << agent->LogText();
  EXPECT_EQ(One(*sql, "SELECT last_full_scan FROM diskinv.node"), scan);
  EXPECT_EQ(One(*sql, "SELECT generation FROM diskinv.node"), generation);

  Config(url, "resync_interval = often\n");
  agent->Signal(SIGHUP);
  EXPECT_TRUE(WaitFor([&] {
    return agent->Logged("error", "diskinv.conf:4: resync_interval: \"often\" is not a duration");
  })) << agent->LogText();
  EXPECT_TRUE(agent->Logged("error", "keeping the running configuration"));
  EXPECT_TRUE(agent->alive());
  agent->Signal(SIGTERM);
  EXPECT_EQ(agent->WaitExit(), 0);

  // A bad configuration at start: exit 2, the key and line named.
  int rc = -1;
  std::string out = RunCommand(
      fmt::format("{} agent --config {} 2>&1", ShellQuote(DiskinvBinary()), ShellQuote(config)),
      &rc);
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("diskinv agent: configuration: " + config +
                     ":4: resync_interval: \"often\" is not a duration"),
            std::string::npos)
      << out;
  out = RunCommand(
      fmt::format("DISKINV_RCVBUF=huge {} agent --print-config 2>&1", ShellQuote(DiskinvBinary())),
      &rc);
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("environment DISKINV_RCVBUF: rcvbuf"), std::string::npos) << out;
}

}  // namespace
}  // namespace diskinv
