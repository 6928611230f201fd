// Small helpers for tests that drive command-line tools (udevadm, dpkg, groff, systemd-analyze)
// and read system files: run a shell command line and capture what it prints.
#pragma once

#include <string>
#include <utility>

namespace diskinv::testing {

// Runs `command` with /bin/sh; returns its exit status (-1 if it did not exit normally) and
// its stdout and stderr together.
std::pair<int, std::string> RunShell(const std::string& command);

// The whole file, or "" when it cannot be read.
std::string ReadWholeFile(const std::string& path);

}  // namespace diskinv::testing

// Skips a test that lacks a facility (root, a tool, a device) outside CI, saying why; under
// CI (CI set) the test fails instead, so a missing facility never passes silently.
#define DISKINV_REQUIRE_FACILITY(ok, reason)              \
  do {                                                    \
    if (!(ok)) {                                          \
      if (std::getenv("CI")) FAIL() << (reason);          \
      GTEST_SKIP() << (reason) << " (CI unset: skipped)"; \
    }                                                     \
  } while (0)
