// Shared by the uevent and monitor integration tests: the skip rule for missing facilities and
// whole-file sysfs reads and writes.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

// Skips the test, saying why, when a facility is missing; under CI (CI set) fails instead.
#define REQUIRE_FACILITY(ok, reason)                      \
  do {                                                    \
    if (!(ok)) {                                          \
      if (std::getenv("CI")) FAIL() << (reason);          \
      GTEST_SKIP() << (reason) << " (CI unset: skipped)"; \
    }                                                     \
  } while (0)

namespace diskinv::testing {

// The file's content without trailing newlines; "" when unreadable.
inline std::string ReadSys(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

// Writes `value` in one write (as `echo -n value > path`); false when the kernel refused it.
inline bool WriteSys(const std::string& path, const std::string& value) {
  std::ofstream f(path);
  f << value;
  f.flush();
  return static_cast<bool>(f);
}

}  // namespace diskinv::testing
