// Shared by the uevent and monitor integration tests: whole-file sysfs reads and writes (the skip
// rule for missing facilities is DISKINV_REQUIRE_FACILITY of support/shell.h).
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "support/shell.h"

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
