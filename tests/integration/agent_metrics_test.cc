// `diskinv agent --metrics-listen` for real: the agent runs against a private PostgreSQL
// (tests/support/pg_cluster) and the kernel's uevents; its Prometheus endpoint is scraped
// over TCP while a loop device appears: the counters, the disk gauge and the database
// metrics move as the agent works. SIGTERM stops the agent and its server.
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <thread>
#include <tuple>

#include "common/version.h"
#include "store/pg_connection.h"
#include "support/http_client.h"
#include "support/loop_device.h"
#include "support/lsblk_compare.h"
#include "support/pg_cluster.h"
#include "support/prometheus_text.h"
#include "support/shell.h"

extern char** environ;

namespace diskinv {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using testing::PromText;

// The agent as a child process, its output in `log`; SIGKILLed if still running at the end.
class AgentProcess {
 public:
  ~AgentProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  bool Start(const std::vector<std::string>& argv, const std::vector<std::string>& env,
             const std::string& log) {
    std::vector<char*> args, envp;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    std::vector<std::string> all(env);
    for (char** e = environ; *e; ++e) all.emplace_back(*e);
    for (std::string& e : all) envp.push_back(e.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    int r = posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    return r == 0;
  }
  bool Running() {
    if (pid_ <= 0) return false;
    int st;
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = 0;
      status_ = st;
      return false;
    }
    return true;
  }
  // SIGTERM and wait; the exit status, or -1 if it had to be killed.
  int Terminate(milliseconds timeout) {
    if (pid_ <= 0) return WIFEXITED(status_) ? WEXITSTATUS(status_) : -1;
    kill(pid_, SIGTERM);
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      int st;
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = 0;
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
    return -1;
  }

 private:
  pid_t pid_ = 0;
  int status_ = 0;
};

double Sample(const PromText& t, std::string_view name,
              const std::map<std::string, std::string>& labels = {}) {
  return testing::PromValue(t, name, labels);
}

using testing::ScrapeUntil;

TEST(AgentMetricsLive, AgentServesItsCountersWhileFollowingKernelEvents) {
  DISKINV_REQUIRE_FACILITY(geteuid() == 0, "needs root (loop devices)");
  DISKINV_REQUIRE_FACILITY(access("/dev/loop-control", F_OK) == 0, "no /dev/loop-control");
  Result<testing::PgCluster*> cluster = testing::SharedPgCluster();
  DISKINV_REQUIRE_FACILITY(cluster.ok(), "no PostgreSQL: " + cluster.status().message());
  Result<std::string> url = testing::FreshDatabase(**cluster, "agent_metrics");
  ASSERT_TRUE(url.ok()) << url.status().message();
  const std::string bin = testing::DiskinvBinary();
  auto [mrc, mout] =
      testing::RunShell(bin + " db migrate --database-url " + testing::ShellQuote(*url));
  ASSERT_EQ(mrc, 0) << mout;

  const std::string dir = fmt::format("/tmp/diskinv-agent-metrics-{}", getpid());
  std::filesystem::create_directories(dir);
  const std::string config = dir + "/agent.conf";  // not /etc/diskinv/diskinv.conf
  const uint16_t port = testing::FreeLoopbackPort();
  // The endpoint from the configuration file (the key metrics_listen).
  std::ofstream(config) << fmt::format("metrics_listen = 127.0.0.1:{}\n", port);
  const std::string log = dir + "/agent.log";
  AgentProcess agent;
  ASSERT_TRUE(agent.Start({bin, "agent", "--config", config, "--database-url", *url},
                          {"DISKINV_EVENTS=kernel", "DISKINV_LOG_LEVEL=info"}, log));

  // Ready: the first walk is done and written.
  std::string why;
  std::optional<PromText> t = ScrapeUntil(
      port,
      [](const PromText& s) {
        return Sample(s, "diskinv_agent_full_walks_total") >= 1 &&
               Sample(s, "diskinv_agent_db_connected") == 1;
      },
      milliseconds(30000), &why);
  ASSERT_TRUE(t) << why << "\nagent log:\n" << testing::ReadWholeFile(log);
  EXPECT_EQ(Sample(*t, "diskinv_build_info", {{"version", DISKINV_VERSION}}), 1);
  EXPECT_GE(Sample(*t, "diskinv_agent_devices"), 1);
  EXPECT_GE(Sample(*t, "diskinv_agent_db_transactions_total"), 1);
  EXPECT_GE(Sample(*t, "diskinv_agent_db_write_seconds_count"), 1);
  EXPECT_GT(Sample(*t, "diskinv_agent_last_full_scan_seconds"), 1.7e9);
  double disks = 0;
  for (const testing::PromSample& s : t->samples) {
    if (s.name == "diskinv_disks" && s.labels.at("state") == "present") disks += s.value;
  }
  EXPECT_GE(disks, 1) << "diskinv_disks is empty";
  // The start-up self-check ran on the kernel source and passed.
  EXPECT_EQ(Sample(*t, "diskinv_agent_self_check_ok"), 1) << testing::ReadWholeFile(log);
  EXPECT_GT(Sample(*t, "diskinv_agent_self_check_seconds"), 0);
  EXPECT_EQ(Sample(*t, "diskinv_agent_self_check_failures_total"), 0);
  const double loops_before =
      std::max(0.0, Sample(*t, "diskinv_disks", {{"state", "present"}, {"transport", "none"}}));
  const double removed_before =
      std::max(0.0, Sample(*t, "diskinv_disks", {{"state", "removed"}, {"transport", "none"}}));
  const double events_before = Sample(*t, "diskinv_agent_kernel_events_total");
  const double txns_before = Sample(*t, "diskinv_agent_db_transactions_total");

  // A new disk: a kernel event, a re-probe, a committed transaction, one more disk.
  Result<testing::LoopDevice> loop = testing::LoopDevice::Attach(1 << 20);
  ASSERT_TRUE(loop.ok()) << loop.status().message();
  t = ScrapeUntil(
      port,
      [&](const PromText& s) {
        return Sample(s, "diskinv_disks", {{"state", "present"}, {"transport", "none"}}) ==
                   loops_before + 1 &&
               Sample(s, "diskinv_agent_db_transactions_total") > txns_before;
      },
      milliseconds(10000), &why);
  ASSERT_TRUE(t) << why << "\nagent log:\n" << testing::ReadWholeFile(log);
  EXPECT_GT(Sample(*t, "diskinv_agent_kernel_events_total"), events_before);
  EXPECT_EQ(Sample(*t, "diskinv_agent_enobufs_total"), 0);
  EXPECT_EQ(Sample(*t, "diskinv_agent_events_rejected_total"), 0);

  // Detached: one disk less present, one more tombstone (counted in the database).
  ASSERT_TRUE(loop->Detach().ok());
  t = ScrapeUntil(
      port,
      [&](const PromText& s) {
        return Sample(s, "diskinv_disks", {{"state", "present"}, {"transport", "none"}}) ==
                   loops_before &&
               Sample(s, "diskinv_disks", {{"state", "removed"}, {"transport", "none"}}) ==
                   removed_before + 1;
      },
      milliseconds(10000), &why);
  EXPECT_TRUE(t) << why;
  auto c = PgConnection::Connect(*url);
  ASSERT_TRUE(c.ok());
  auto removed =
      (*c)->Exec("SELECT count(*) FROM diskinv.disk WHERE state = 'removed' AND transport IS NULL");
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(removed->Int(0, 0), static_cast<int64_t>(removed_before) + 1);

  // Other paths are 404; SIGTERM ends the agent with 0 and closes the port.
  Result<std::string> other = testing::HttpExchange(port, "GET / HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(testing::StatusLine(*other), "HTTP/1.1 404 Not Found");
  EXPECT_TRUE(agent.Running());
  EXPECT_EQ(agent.Terminate(milliseconds(15000)), 0) << testing::ReadWholeFile(log);
  EXPECT_FALSE(testing::ConnectLoopback(port).ok());
  std::string text = testing::ReadWholeFile(log);
  EXPECT_NE(text.find(fmt::format("metrics on http://127.0.0.1:{}/metrics", port)),
            std::string::npos)
      << text;
  std::filesystem::remove_all(dir);
}

TEST(AgentMetricsLive, BadListenAddressIsAClearStartupError) {
  // Not HOST:PORT: a configuration error (exit 2) that names the option or the file line.
  auto [rc, out] = testing::RunShell(testing::DiskinvBinary() +
                                     " agent --config /dev/null --metrics-listen nohost");
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("option --metrics-listen: metrics_listen: listen address 'nohost' is not "
                     "HOST:PORT"),
            std::string::npos)
      << out;
  std::string conf = fmt::format("/tmp/diskinv-bad-listen-{}.conf", getpid());
  std::ofstream(conf) << "# bad\nmetrics_listen = [::1]\n";
  std::tie(rc, out) = testing::RunShell(testing::DiskinvBinary() + " agent --config " + conf);
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find(conf + ":2: metrics_listen: listen address '[::1]'"), std::string::npos)
      << out;
  std::filesystem::remove(conf);
  // A port in use: the agent cannot start (exit 1), before it touches anything.
  int busy = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(bind(busy, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(busy, 1), 0);
  ASSERT_EQ(getsockname(busy, reinterpret_cast<sockaddr*>(&a), &len), 0);
  std::tie(rc, out) =
      testing::RunShell(fmt::format("{} agent --config /dev/null --metrics-listen 127.0.0.1:{}",
                                    testing::DiskinvBinary(), ntohs(a.sin_port)));
  close(busy);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("diskinv agent: --metrics-listen: "), std::string::npos) << out;
  EXPECT_NE(out.find("in use"), std::string::npos) << out;
}

}  // namespace
}  // namespace diskinv
