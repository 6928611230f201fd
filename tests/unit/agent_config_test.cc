// AgentConfig: file and environment parsing, errors that name the key and where it came from.
#include "agent/agent_config.h"

#include <gtest/gtest.h>

#include <map>

namespace diskinv {
namespace {

using std::chrono::milliseconds;

TEST(AgentConfig, DefaultsAreTheDocumentedOnes) {
  AgentConfig c;
  EXPECT_EQ(c.sysroot, "/");
  EXPECT_EQ(c.resync_interval, std::chrono::minutes(10));
  EXPECT_EQ(c.rcvbuf, 128 << 20);
  EXPECT_EQ(c.events, EventSources::kAuto);
  EXPECT_EQ(c.udev_tag, "auto");
  EXPECT_TRUE(ValidateAgentConfig(c).ok());
}

TEST(AgentConfig, ParsesEveryKindOfValue) {
  AgentConfig c;
  Status s = ParseAgentConfig(R"(# a comment
database_url = "postgresql://diskinv:secret@db1:5432/inventory"

sysroot=/srv/root
resync_interval = 90s
reconnect_min = 250ms
reconnect_max = 2m
rcvbuf = 64M
events = kernel
udev_tag = ''
log_level = debug
batch_rows = 500
coalesce_window = 0
)",
                              "/etc/diskinv/diskinv.conf", c);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(c.database_url, "postgresql://diskinv:secret@db1:5432/inventory");
  EXPECT_EQ(c.sysroot, "/srv/root");
  EXPECT_EQ(c.resync_interval, std::chrono::seconds(90));
  EXPECT_EQ(c.reconnect_min, milliseconds(250));
  EXPECT_EQ(c.reconnect_max, std::chrono::minutes(2));
  EXPECT_EQ(c.rcvbuf, 64 << 20);
  EXPECT_EQ(c.events, EventSources::kKernel);
  EXPECT_EQ(c.udev_tag, "");
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.batch_rows, 500u);
  EXPECT_EQ(c.coalesce_window, milliseconds(0));
  // Describe masks the password and round-trips through the parser.
  std::string text = c.Describe();
  EXPECT_EQ(text.find("secret"), std::string::npos) << text;
  EXPECT_NE(text.find("resync_interval = 90s\n"), std::string::npos) << text;
  EXPECT_NE(text.find("rcvbuf = 64M\n"), std::string::npos) << text;
}

TEST(AgentConfig, ErrorsNameTheKeyAndTheLine) {
  struct Case {
    const char* text;
    const char* want;
  } cases[] = {
      {"resync_interval = ten", "f.conf:1: resync_interval: \"ten\" is not a duration"},
      {"\n\nresync_intervall = 10m", "f.conf:3: unknown key \"resync_intervall\" (known: "},
      {"rcvbuf = 12X", "f.conf:1: rcvbuf: \"12X\" is not a size"},
      {"rcvbuf = 1K", "f.conf:1: rcvbuf: \"1K\" is out of range (64K to 1G)"},
      {"events = sometimes", "f.conf:1: events: \"sometimes\" is not one of auto, both"},
      {"sysroot = relative/dir",
       "f.conf:1: sysroot: \"relative/dir\" is not an absolute directory"},
      {"batch_rows = 0", "f.conf:1: batch_rows: \"0\" is not a whole number from 1 to 100000"},
      {"log_level = loud", "f.conf:1: log_level: \"loud\" is not one of trace"},
      {"resync_interval = 500ms", "f.conf:1: resync_interval: \"500ms\" is shorter than 1s"},
      {"reconnect_max = 5d", "f.conf:1: reconnect_max: \"5d\" has an unknown unit"},
      {"just some words", "f.conf:1: expected 'key = value', got \"just some words\""},
      {"udev_tag = a b", "f.conf:1: udev_tag: \"a b\" is not a udev tag"},
  };
  for (const auto& c : cases) {
    AgentConfig cfg;
    Status s = ParseAgentConfig(c.text, "f.conf", cfg);
    ASSERT_FALSE(s.ok()) << c.text;
    EXPECT_NE(s.message().find(c.want), std::string::npos) << s.message();
  }
}

TEST(AgentConfig, EnvironmentWinsOverTheFileAndNamesTheVariable) {
  std::map<std::string, std::string> env = {{"DISKINV_DATABASE_URL", "host=/run/pg"},
                                            {"DISKINV_RESYNC_INTERVAL", "1h"},
                                            {"DISKINV_UNRELATED", "x"}};
  auto getenv = [&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  AgentConfig c;
  ASSERT_TRUE(ParseAgentConfig("resync_interval = 5m\nrcvbuf = 1M", "f", c).ok());
  ASSERT_TRUE(ApplyAgentEnvironment(getenv, c).ok());
  EXPECT_EQ(c.database_url, "host=/run/pg");
  EXPECT_EQ(c.resync_interval, std::chrono::hours(1));
  EXPECT_EQ(c.rcvbuf, 1 << 20);
  env["DISKINV_RCVBUF"] = "lots";
  Status s = ApplyAgentEnvironment(getenv, c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("environment DISKINV_RCVBUF: rcvbuf: \"lots\" is not a size"),
            std::string::npos)
      << s.message();
}

TEST(AgentConfig, CrossKeyChecks) {
  AgentConfig c;
  c.reconnect_min = std::chrono::seconds(10);
  c.reconnect_max = std::chrono::seconds(1);
  Status s = ValidateAgentConfig(c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("reconnect_min (10s) is longer than reconnect_max (1s)"),
            std::string::npos)
      << s.message();
}

TEST(AgentConfig, LoadNamesAMissingExplicitFileAndAcceptsAMissingDefault) {
  auto missing = LoadAgentConfig("/nonexistent/diskinv.conf", true);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("config file /nonexistent/diskinv.conf"),
            std::string::npos);
  EXPECT_TRUE(LoadAgentConfig("/nonexistent/diskinv.conf", false).ok());
  auto over = LoadAgentConfig("", false, {{"resync_interval", "soon"}});
  ASSERT_FALSE(over.ok());
  EXPECT_NE(over.status().message().find("option --resync-interval: resync_interval: \"soon\""),
            std::string::npos)
      << over.status().message();
}

TEST(AgentConfig, DurationsAndSizes) {
  EXPECT_EQ(*ParseDuration("600"), std::chrono::minutes(10));
  EXPECT_EQ(*ParseDuration(" 15ms "), milliseconds(15));
  EXPECT_EQ(*ParseDuration("2h"), std::chrono::hours(2));
  EXPECT_FALSE(ParseDuration("").ok());
  EXPECT_FALSE(ParseDuration("-1s").ok());
  EXPECT_FALSE(ParseDuration("1.5s").ok());
  EXPECT_FALSE(ParseDuration("99999999999999999999h").ok());
  EXPECT_EQ(*ParseByteSize("4096"), 4096u);
  EXPECT_EQ(*ParseByteSize("2k"), 2048u);
  EXPECT_EQ(*ParseByteSize("1G"), uint64_t{1} << 30);
  EXPECT_FALSE(ParseByteSize("G").ok());
}

// The keys of the agent's operations: the metrics endpoint, the uevent self-check, tuning.
TEST(AgentConfig, MetricsSelfCheckAndTuningKeys) {
  AgentConfig d;
  EXPECT_EQ(d.metrics_listen, "");
  EXPECT_EQ(d.self_check, "auto");
  EXPECT_EQ(d.self_check_timeout, std::chrono::seconds(5));
  EXPECT_EQ(d.self_check_retry, std::chrono::minutes(1));
  EXPECT_TRUE(d.tuning);
  AgentConfig c;
  Status s = ParseAgentConfig(
      "metrics_listen = 127.0.0.1:9417\nself_check = nvme0n1\nself_check_timeout = 2s\n"
      "self_check_retry = 30s\ntuning = off\nlog_level = info\n",
      "f.conf", c);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(c.metrics_listen, "127.0.0.1:9417");
  EXPECT_EQ(c.self_check, "nvme0n1");
  EXPECT_EQ(c.self_check_timeout, std::chrono::seconds(2));
  EXPECT_EQ(c.self_check_retry, std::chrono::seconds(30));
  EXPECT_FALSE(c.tuning);
  std::string text = c.Describe();
  EXPECT_NE(text.find("metrics_listen = 127.0.0.1:9417\n"), std::string::npos) << text;
  EXPECT_NE(text.find("tuning = off\n"), std::string::npos) << text;
  AgentConfig again;
  Status parsed = ParseAgentConfig(text, "described", again);
  ASSERT_TRUE(parsed.ok()) << parsed.message() << "\n" << text;
  EXPECT_EQ(again.metrics_listen, c.metrics_listen);
  EXPECT_FALSE(again.tuning);
  // Empty: no endpoint; [::1]:PORT is fine; the environment names the variable.
  ASSERT_TRUE(ParseAgentConfig("metrics_listen =\ntuning = yes", "f", c).ok());
  EXPECT_EQ(c.metrics_listen, "");
  EXPECT_TRUE(c.tuning);
  std::map<std::string, std::string> env = {{"DISKINV_METRICS_LISTEN", "[::1]:9417"}};
  auto getenv = [&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  ASSERT_TRUE(ApplyAgentEnvironment(getenv, c).ok());
  EXPECT_EQ(c.metrics_listen, "[::1]:9417");
  env["DISKINV_METRICS_LISTEN"] = "9417";
  s = ApplyAgentEnvironment(getenv, c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("environment DISKINV_METRICS_LISTEN: metrics_listen: listen "
                             "address '9417' is not HOST:PORT"),
            std::string::npos)
      << s.message();
  struct Case {
    const char* text;
    const char* want;
  } cases[] = {
      {"metrics_listen = localhost", "f.conf:1: metrics_listen: listen address 'localhost'"},
      {"self_check = ../sda", "f.conf:1: self_check: \"../sda\" is not auto, off or a kernel"},
      {"self_check_timeout = 10ms", "f.conf:1: self_check_timeout: \"10ms\" is out of range ("},
      {"self_check_retry = 0", "f.conf:1: self_check_retry: \"0\" is out of range ("},
      {"tuning = maybe", "f.conf:1: tuning: \"maybe\" is not on or off"},
  };
  for (const auto& k : cases) {
    AgentConfig cfg;
    Status e = ParseAgentConfig(k.text, "f.conf", cfg);
    ASSERT_FALSE(e.ok()) << k.text;
    EXPECT_NE(e.message().find(k.want), std::string::npos) << e.message();
  }
}

}  // namespace
}  // namespace diskinv
