// Log line formats: text with a timestamp on a terminal or file; under systemd (stderr is the
// journal stream named by JOURNAL_STREAM) a syslog priority prefix and no timestamp.
#include "common/logging.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "support/lsblk_compare.h"  // DiskinvBinary
#include "support/shell.h"

namespace diskinv {
namespace {

// Runs `body` with stderr redirected to a temporary file and returns what it wrote.
// `journal`: JOURNAL_STREAM names that file, as systemd names the journal's socket.
template <typename F>
std::string CaptureStderr(bool journal, F body) {
  char path[] = "/tmp/diskinv-logging-test.XXXXXX";
  int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  std::fflush(stderr);
  int saved = dup(STDERR_FILENO);
  dup2(fd, STDERR_FILENO);
  struct stat st {};
  fstat(fd, &st);
  if (journal) {
    setenv("JOURNAL_STREAM",
           fmt::format("{}:{}", static_cast<unsigned long long>(st.st_dev),
                       static_cast<unsigned long long>(st.st_ino))
               .c_str(),
           1);
  } else {
    unsetenv("JOURNAL_STREAM");
  }
  body();
  std::fflush(stderr);
  dup2(saved, STDERR_FILENO);
  close(saved);
  close(fd);
  unsetenv("JOURNAL_STREAM");
  std::string out = testing::ReadWholeFile(path);
  unlink(path);
  return out;
}

TEST(Logging, JournalStreamGetsPriorityPrefixesAndNoTimestamp) {
  std::string out = CaptureStderr(true, [] {
    ASSERT_TRUE(SetupLogging("debug", LogFormat::kText).ok());
    Logger("logtest")->error("disk {} failed", "sda");
    Logger("logtest")->warn("slow");
    Logger("logtest")->info("started");
    Logger("logtest")->debug("detail");
    Logger("logtest")->flush();
  });
  EXPECT_EQ(out,
            "<3>error [logtest] disk sda failed\n<4>warning [logtest] slow\n"
            "<6>info [logtest] started\n<7>debug [logtest] detail\n");
  ASSERT_TRUE(SetupLogging("warn", LogFormat::kText).ok());
}

TEST(Logging, OtherStderrKeepsTimestampsEvenWithAStaleJournalStream) {
  std::string plain = CaptureStderr(false, [] {
    ASSERT_TRUE(SetupLogging("info", LogFormat::kText).ok());
    Logger("logtest")->info("started");
    Logger("logtest")->flush();
  });
  // "2026-12-04 20:07:40.008 info [logtest] started"
  ASSERT_GE(plain.size(), 24u) << plain;
  EXPECT_EQ(plain[4], '-');
  EXPECT_EQ(plain[19], '.');
  EXPECT_NE(plain.find("info [logtest] started\n"), std::string::npos) << plain;
  EXPECT_EQ(plain.find("<6>"), std::string::npos) << plain;
  // A JOURNAL_STREAM inherited by a program whose stderr went elsewhere (a pipe, a file).
  setenv("JOURNAL_STREAM", "1:1", 1);
  std::string stale = CaptureStderr(false, [] {
    setenv("JOURNAL_STREAM", "1:1", 1);
    ASSERT_TRUE(SetupLogging("info", LogFormat::kText).ok());
    Logger("logtest")->info("started");
    Logger("logtest")->flush();
  });
  EXPECT_EQ(stale.find("<6>"), std::string::npos) << stale;
  EXPECT_NE(stale.find("info [logtest] started\n"), std::string::npos) << stale;
  unsetenv("JOURNAL_STREAM");
  ASSERT_TRUE(SetupLogging("warn", LogFormat::kText).ok());
}

// The daemons default to info; -v/--log-level and DISKINV_LOG_LEVEL choose otherwise. The agent
// runs once on a fixture with an unreachable database (port 1): it still walks and logs.
TEST(Logging, DaemonDefaultIsInfoAndAnExplicitLevelWins) {
  std::string agent = fmt::format(
      "DISKINV_MACHINE_ID=0123456789abcdef0123456789abcdef {} {{}} agent --once --sysroot "
      "{}/fixtures/sysfs/sata --database-url postgresql://127.0.0.1:1/x 2>&1",
      testing::DiskinvBinary(),
      std::getenv("DISKINV_SOURCE_DIR") ? std::getenv("DISKINV_SOURCE_DIR") : ".");
  auto run = [&](const std::string& env, const std::string& opt) {
    auto [rc, out] = testing::RunShell("unset DISKINV_LOG_LEVEL; " + env + " " +
                                       fmt::format(fmt::runtime(agent), opt));
    EXPECT_NE(rc, 0) << out;  // no database: the write fails
    return out;
  };
  EXPECT_NE(run("", "").find("info [agent] full walk (start)"), std::string::npos);
  EXPECT_EQ(run("DISKINV_LOG_LEVEL=warn", "").find("info [agent]"), std::string::npos);
  EXPECT_EQ(run("", "--log-level warn").find("info [agent]"), std::string::npos);
  std::string error = run("DISKINV_LOG_LEVEL=error", "");
  EXPECT_EQ(error.find("warning [agent]"), std::string::npos) << error;
  EXPECT_NE(error.find("could not write the inventory"), std::string::npos) << error;
}

}  // namespace
}  // namespace diskinv
