#include "support/shell.h"

#include <fstream>
#include <sstream>

#include "support/lsblk_compare.h"

namespace diskinv::testing {

std::pair<int, std::string> RunShell(const std::string& command) {
  int rc = -1;
  std::string out = RunCommand(command + " 2>&1", &rc);
  return {rc, out};
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

}  // namespace diskinv::testing
