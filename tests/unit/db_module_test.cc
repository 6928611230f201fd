// The split of the CLI (src/cli/db_module.h): the diskinv executable must not load libpq, the
// database commands must run through diskinv-db.so, and a missing module must be a clear error.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "support/lsblk_compare.h"

namespace diskinv::testing {
namespace {

namespace fs = std::filesystem;

TEST(DbModule, ExecutableDoesNotLoadLibpq) {
  int rc = 0;
  std::string needed = RunCommand("readelf -d " + ShellQuote(DiskinvBinary()) + " 2>&1", &rc);
  ASSERT_EQ(rc, 0) << needed;
  ASSERT_NE(needed.find("(NEEDED)"), std::string::npos) << needed;
  EXPECT_EQ(needed.find("libpq"), std::string::npos) << needed;
  std::string mod = (fs::path(DiskinvBinary()).parent_path() / "diskinv-db.so").string();
  std::string mod_needed = RunCommand("readelf -d " + ShellQuote(mod) + " 2>&1", &rc);
  ASSERT_EQ(rc, 0) << mod_needed;
  EXPECT_NE(mod_needed.find("libpq"), std::string::npos) << mod_needed;
}

TEST(DbModule, DatabaseCommandsRunThroughTheModule) {
  int rc = 0;
  for (const char* cmd : {"db", "agent", "ls", "show", "up", "cdc", "reconcile", "pool", "tune"}) {
    std::string out = RunCommand(ShellQuote(DiskinvBinary()) + " " + cmd + " --help 2>&1", &rc);
    EXPECT_EQ(rc, 0) << cmd << ": " << out;
    EXPECT_NE(out.find(std::string("Usage: diskinv ") + cmd), std::string::npos) << out;
  }
  // Global options reach the module: an unknown option of the command is its usage error.
  std::string out = RunCommand(ShellQuote(DiskinvBinary()) + " -v ls --bogus 2>&1", &rc);
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("diskinv ls"), std::string::npos) << out;
}

TEST(DbModule, MissingModuleIsAClearError) {
  fs::path dir = fs::temp_directory_path() / ("diskinv-nomodule-" + std::to_string(getpid()));
  fs::create_directories(dir);
  fs::copy_file(DiskinvBinary(), dir / "diskinv", fs::copy_options::overwrite_existing);
  int rc = 0;
  std::string out = RunCommand(ShellQuote((dir / "diskinv").string()) + " ls 2>&1", &rc);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("diskinv-db.so"), std::string::npos) << out;
  EXPECT_NE(out.find((dir / "diskinv-db.so").string()), std::string::npos) << out;
  // Commands without a database still work without the module.
  out = RunCommand(ShellQuote((dir / "diskinv").string()) + " scan --help 2>&1", &rc);
  EXPECT_EQ(rc, 0) << out;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace diskinv::testing
