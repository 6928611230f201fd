// Consistency of the shipped files with the code: the man page documents every command that
// `diskinv --help` lists and renders without groff warnings; the Debian changelog, the man
// page and the binary carry one version.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "common/version.h"
#include "support/lsblk_compare.h"
#include "support/shell.h"

namespace diskinv {
namespace {

std::string Read(const std::string& rel) {
  return testing::ReadWholeFile(testing::SourceDir() + "/" + rel);
}

TEST(ManPage, DocumentsEveryCommandTheBinaryLists) {
  auto [rc, help] = testing::RunShell(testing::DiskinvBinary() + " --help");
  ASSERT_EQ(rc, 0) << help;
  std::string page = Read("docs/diskinv.8");
  ASSERT_FALSE(page.empty());
  // "Commands:" lines are "  NAME  summary" up to the blank line before "Global options".
  size_t from = help.find("Commands:\n");
  size_t to = help.find("\n\n", from);
  ASSERT_NE(from, std::string::npos) << help;
  std::istringstream lines(help.substr(from, to - from));
  std::string line;
  std::getline(lines, line);
  int commands = 0;
  while (std::getline(lines, line)) {
    // "  NAME  summary"; no std::regex (GCC 12 warns inside <regex> under ASan).
    if (line.size() < 4 || line.compare(0, 2, "  ") != 0 || line[2] < 'a' || line[2] > 'z') {
      continue;
    }
    std::string name = line.substr(2, line.find(' ', 2) - 2);
    ++commands;
    std::string section = ".SS \"diskinv " + name;
    EXPECT_NE(page.find(section), std::string::npos)
        << "docs/diskinv.8 has no section for '" << name << "' (" << section << "...)";
  }
  EXPECT_GE(commands, 3) << help;
  for (const char* s : {".SH EXIT STATUS", ".SH ENVIRONMENT", ".SH FILES", ".SH CONFIGURATION"}) {
    EXPECT_NE(page.find(s), std::string::npos) << s;
  }
}

// The long options a command's --help lists ("--name"), in order, without duplicates.
std::vector<std::string> LongOptions(const std::string& help) {
  std::vector<std::string> out;
  for (size_t i = help.find("--"); i != std::string::npos; i = help.find("--", i + 2)) {
    if (i > 0 && help[i - 1] != ' ' && help[i - 1] != '[' && help[i - 1] != '|') continue;
    size_t end = i + 2;
    while (end < help.size() &&
           (std::islower(static_cast<unsigned char>(help[end])) || help[end] == '-')) {
      ++end;
    }
    if (end == i + 2) continue;
    std::string opt = help.substr(i, end - i);
    if (std::find(out.begin(), out.end(), opt) == out.end()) out.push_back(opt);
  }
  return out;
}

// Every option of every command is in the page (roff spells "-" as "\-").
TEST(ManPage, DocumentsEveryOptionOfEveryCommand) {
  std::string page = Read("docs/diskinv.8");
  ASSERT_FALSE(page.empty());
  int checked = 0;
  for (const char* command : {"scan", "capture", "db", "monitor", "agent", "ls", "show", "up",
                              "cdc", "reconcile", "pool", "tune"}) {
    auto [rc, help] = testing::RunShell(testing::DiskinvBinary() + " " + command + " --help");
    ASSERT_EQ(rc, 0) << command << ": " << help;
    for (const std::string& opt : LongOptions(help)) {
      if (opt == "--help") continue;
      std::string roff;
      for (char c : opt) roff += c == '-' ? std::string("\\-") : std::string(1, c);
      ++checked;
      EXPECT_NE(page.find(roff), std::string::npos)
          << "docs/diskinv.8 does not mention " << opt << " of `diskinv " << command << "`";
    }
  }
  EXPECT_GE(checked, 40);
}

TEST(ManPage, RendersWithoutGroffWarnings) {
  auto [rc, out] = testing::RunShell("command -v groff");
  if (rc != 0) {
    if (std::getenv("CI")) FAIL() << "groff missing (package groff-base)";
    GTEST_SKIP() << "groff missing (package groff-base; CI unset: skipped)";
  }
  auto [grc, gout] =
      testing::RunShell("groff -man -ww -z " + testing::SourceDir() + "/docs/diskinv.8");
  EXPECT_EQ(grc, 0) << gout;
  EXPECT_EQ(gout, "");
}

TEST(Packaging, ChangelogManPageAndBinaryShareTheVersion) {
  std::string changelog = Read("packaging/debian/changelog");
  // First line: "diskinv (VERSION-REVISION) unstable; urgency=medium".
  ASSERT_TRUE(changelog.starts_with("diskinv (")) << changelog.substr(0, 80);
  std::string version = changelog.substr(9, changelog.find(')') - 9);
  version = version.substr(0, version.rfind('-'));
  EXPECT_EQ(version, DISKINV_VERSION)
      << "add a changelog entry for " << DISKINV_VERSION << " (dch -v " << DISKINV_VERSION << "-1)";
  std::string page = Read("docs/diskinv.8");
  EXPECT_NE(page.find(std::string("\"diskinv ") + DISKINV_VERSION + "\""), std::string::npos)
      << "docs/diskinv.8 .TH line: version";
  auto [rc, out] = testing::RunShell(testing::DiskinvBinary() + " --version");
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(out.substr(0, out.find('\n')), std::string("diskinv ") + DISKINV_VERSION);
}

}  // namespace
}  // namespace diskinv
