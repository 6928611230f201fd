// The Debian package, end to end on this machine: scripts/package builds the .deb from this
// build (--prebuilt) and lintian finds no error; dpkg installs it; the installed diskinv runs
// (--version, scan); systemd-analyze verifies the installed units (binary and man page found);
// postinst made udev tag a disk that was already there; dpkg --purge removes every file and
// postrm makes udev stop tagging. The package is purged on every path out of the test.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/loop_device.h"
#include "support/lsblk_compare.h"
#include "support/shell.h"
#include "support/udevd.h"

namespace diskinv {
namespace {

namespace fs = std::filesystem;

std::string FirstLine(const std::string& s) { return s.substr(0, s.find('\n')); }

bool PackageInstalled() {
  return testing::RunShell("dpkg-query -W -f='${Status}' diskinv")
             .second.find("install ok installed") != std::string::npos;
}

// The cmake build directory of the diskinv binary under test.
fs::path BuildDir() {
  const char* bin = std::getenv("DISKINV_BINARY");
  for (fs::path p = bin ? fs::path(bin).parent_path() : fs::path(); !p.empty() && p != "/";
       p = p.parent_path()) {
    if (fs::exists(p / "CMakeCache.txt")) return p;
  }
  return {};
}

// Current tags of a block device in the udev database ("Q:" lines).
bool CurrentlyTagged(const std::string& sysname) {
  std::string dev = FirstLine(testing::ReadWholeFile("/sys/block/" + sysname + "/dev"));
  return testing::ReadWholeFile("/run/udev/data/b" + dev).find("\nQ:diskinv\n") !=
         std::string::npos;
}

// Purges the package on every way out of the test, if the test installed it.
struct PurgeGuard {
  bool armed = false;
  ~PurgeGuard() {
    if (armed && PackageInstalled()) {
      auto [rc, out] = testing::RunShell("dpkg --purge diskinv");
      if (rc != 0) std::fprintf(stderr, "dpkg --purge diskinv failed: %s\n", out.c_str());
    }
  }
};

TEST(DebianPackage, BuildsInstallsRunsAndPurgesCleanly) {
  DISKINV_REQUIRE_FACILITY(geteuid() == 0, "needs root (dpkg -i)");
  DISKINV_REQUIRE_FACILITY(
      testing::RunShell("command -v dpkg-buildpackage lintian dh systemd-analyze").first == 0,
      "needs dpkg-dev, debhelper, lintian, systemd (scripts/test installs them)");
  DISKINV_REQUIRE_FACILITY(access("/dev/loop-control", F_OK) == 0, "no /dev/loop-control");
  // Not ours to replace: a real installation of diskinv on this machine.
  ASSERT_FALSE(PackageInstalled())
      << "the diskinv package is installed on this machine; this test installs and purges it, "
         "so it refuses to run: purge it first (dpkg --purge diskinv)";
  const fs::path src = testing::SourceDir();
  const fs::path build = BuildDir();
  ASSERT_FALSE(build.empty()) << "no cmake build dir above $DISKINV_BINARY";
  Result<std::unique_ptr<testing::Udevd>> udevd = testing::Udevd::Ensure();
  DISKINV_REQUIRE_FACILITY(udevd.ok(), "no udevd: " + udevd.status().message());

  // Build.
  fs::path out = fs::temp_directory_path() / fmt::format("diskinv-deb-{}", getpid());
  auto [prc, pout] = testing::RunShell(fmt::format("{}/scripts/package --prebuilt {} --out {}",
                                                   src.string(), build.string(), out.string()));
  ASSERT_EQ(prc, 0) << pout;
  std::string deb = FirstLine(pout.substr(pout.rfind('\n', pout.size() - 2) + 1));
  ASSERT_TRUE(fs::exists(deb)) << pout;
  std::string arch = FirstLine(testing::RunShell("dpkg-architecture -qDEB_HOST_ARCH").second);
  std::string version =
      FirstLine(testing::RunShell("dpkg-parsechangelog -l " +
                                  (src / "packaging/debian/changelog").string() + " -S Version")
                    .second);
  EXPECT_EQ(fs::path(deb).filename(), fmt::format("diskinv_{}_{}.deb", version, arch));
  std::string lintian = testing::ReadWholeFile((out / "lintian.txt").string());
  EXPECT_EQ(lintian.find("\nE: "), std::string::npos) << lintian;
  std::printf("[ info ] lintian:\n%s", lintian.c_str());

  // A disk that exists before the package: postinst must make udev tag it.
  Result<testing::LoopDevice> loop = testing::LoopDevice::Attach(1 << 20);
  ASSERT_TRUE(loop.ok()) << loop.status().message();
  ASSERT_TRUE((*udevd)->Settle().ok());
  ASSERT_FALSE(CurrentlyTagged(loop->name())) << "something tags disks already";

  // Install.
  PurgeGuard guard;
  guard.armed = true;
  auto [irc, iout] = testing::RunShell("dpkg -i " + deb);
  ASSERT_EQ(irc, 0) << iout;
  EXPECT_EQ(testing::ReadWholeFile("/lib/udev/rules.d/60-diskinv.rules"),
            testing::ReadWholeFile((src / "rules/60-diskinv.rules").string()));
  for (const char* f :
       {"/usr/bin/diskinv", "/lib/systemd/system/diskinv-agent.service",
        "/lib/systemd/system/diskinv-reconcile.service", "/usr/share/man/man8/diskinv.8.gz",
        "/usr/share/doc/diskinv/examples/59-diskinv-ignore.rules.example"}) {
    EXPECT_TRUE(fs::exists(f)) << f;
  }
  for (const char* doc : {"packaging.md", "metrics.md"}) {  // dh_compress gzips those over 4 KiB
    fs::path d = fs::path("/usr/share/doc/diskinv") / doc;
    EXPECT_TRUE(fs::exists(d) || fs::exists(d.string() + ".gz")) << d;
  }
  struct stat st {};
  ASSERT_EQ(stat("/etc/diskinv/diskinv.conf", &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_NE(testing::RunShell("dpkg-query -W -f='${Conffiles}' diskinv")
                .second.find("/etc/diskinv/diskinv.conf"),
            std::string::npos);
  // Enabled (a symlink for multi-user.target), not started: there is no database yet.
  EXPECT_TRUE(fs::is_symlink("/etc/systemd/system/multi-user.target.wants/diskinv-agent.service"));
  EXPECT_FALSE(fs::exists("/etc/systemd/system/multi-user.target.wants/diskinv-reconcile.service"));

  // Run from the installed path.
  auto [vrc, vout] = testing::RunShell("/usr/bin/diskinv --version");
  EXPECT_EQ(vrc, 0) << vout;
  std::string upstream = version.substr(0, version.rfind('-'));
  EXPECT_EQ(FirstLine(vout), "diskinv " + upstream);
  EXPECT_NE(vout.find("built "), std::string::npos) << vout;
  auto [src_rc, scan] = testing::RunShell("/usr/bin/diskinv scan -o NAME,TYPE");
  EXPECT_TRUE(src_rc == 0 || src_rc == 3) << src_rc << scan;  // 3: a device changed mid-walk
  EXPECT_NE(scan.find(loop->name() + " "), std::string::npos) << scan;
  auto [jrc, json] = testing::RunShell("/usr/bin/diskinv scan --json");
  EXPECT_TRUE(jrc == 0 || jrc == 3) << json;
  EXPECT_NE(json.find("\"diskinv.scan\""), std::string::npos) << json.substr(0, 200);
  EXPECT_EQ(testing::RunShell("man -w diskinv").second, "/usr/share/man/man8/diskinv.8.gz\n");
  auto [arc, aout] = testing::RunShell(
      "systemd-analyze verify /lib/systemd/system/diskinv-agent.service "
      "/lib/systemd/system/diskinv-reconcile.service");
  EXPECT_EQ(arc, 0) << aout;
  EXPECT_EQ(aout, "") << aout;

  // postinst reloaded udev and re-triggered block devices: the existing disk is tagged now.
  ASSERT_TRUE((*udevd)->Settle().ok());
  EXPECT_TRUE(CurrentlyTagged(loop->name()));

  // Purge: every file gone, and udev no longer tags (postrm reloaded the rules).
  auto [urc, uout] = testing::RunShell("dpkg --purge diskinv");
  ASSERT_EQ(urc, 0) << uout;
  guard.armed = false;
  for (const char* f : {"/usr/bin/diskinv", "/lib/udev/rules.d/60-diskinv.rules",
                        "/lib/systemd/system/diskinv-agent.service", "/etc/diskinv",
                        "/usr/share/man/man8/diskinv.8.gz", "/usr/share/doc/diskinv",
                        "/etc/systemd/system/multi-user.target.wants/diskinv-agent.service"}) {
    EXPECT_FALSE(fs::exists(fs::symlink_status(f))) << f;
  }
  EXPECT_EQ(testing::RunShell("dpkg-query -W diskinv").first, 1) << "still known to dpkg";
  std::ofstream("/sys/block/" + loop->name() + "/uevent") << "change";
  ASSERT_TRUE((*udevd)->Settle().ok());
  EXPECT_FALSE(CurrentlyTagged(loop->name()));
  fs::remove_all(out);
}

}  // namespace
}  // namespace diskinv
