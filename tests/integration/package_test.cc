// The Debian package, end to end on this machine: scripts/package builds the .deb from this
// build (--prebuilt) and lintian finds no error; dpkg installs it; the installed diskinv runs
// (--version, scan); systemd-analyze verifies the installed units (binary and man page found);
// postinst reloads udev's rules without re-triggering the disks that are already there (their
// next event is tagged); dpkg --purge removes every file and
// postrm makes udev stop tagging. The package is purged on every path out of the test.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
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
  for (fs::path p = fs::path(testing::DiskinvBinary()).parent_path(); !p.empty() && p != "/";
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

// udev database records ("b7:0") that carry the tag "diskinv" in TAGS ("G:" lines).
std::set<std::string> StickyTagged() {
  std::set<std::string> out;
  if (!fs::exists("/run/udev/data")) return out;
  for (const auto& e : fs::directory_iterator("/run/udev/data")) {
    std::string db = testing::ReadWholeFile(e.path().string());
    if (db.find("\nG:diskinv\n") != std::string::npos || db.starts_with("G:diskinv\n")) {
      out.insert(e.path().filename());
    }
  }
  return out;
}

// While installed, the package's rules tag every block device that has an event, and udev keeps
// a tag in a device's TAGS for as long as the device exists, even after the rule is gone. Other
// tests filter the udev monitor by that tag, so the test takes back what it added: it purges
// the package and strips "diskinv" from the records that did not have it before (udev has no
// command for that), then lets udev rewrite them with a change event.
class InstalledPackage {
 public:
  InstalledPackage() : tagged_before_(StickyTagged()) {}
  ~InstalledPackage() {
    if (PackageInstalled()) {
      auto [rc, out] = testing::RunShell("dpkg --purge diskinv");
      if (rc != 0) std::fprintf(stderr, "dpkg --purge diskinv failed: %s\n", out.c_str());
    }
    ForgetAddedTags();
  }
  void ForgetAddedTags() {
    (void)testing::RunShell("udevadm settle --timeout=10");
    for (const std::string& rec : StickyTagged()) {
      if (tagged_before_.contains(rec)) continue;
      std::string path = "/run/udev/data/" + rec;
      std::string db = testing::ReadWholeFile(path), kept;
      std::istringstream in(db);
      for (std::string line; std::getline(in, line);) {
        if (line != "G:diskinv" && line != "Q:diskinv") kept += line + "\n";
      }
      std::ofstream(path, std::ios::trunc) << kept;
      fs::remove("/run/udev/tags/diskinv/" + rec);
      std::string devnum = rec.substr(1);  // "b7:0" -> "7:0"
      (void)testing::RunShell("udevadm trigger --action=change /sys/dev/block/" + devnum);
    }
    (void)testing::RunShell("udevadm settle --timeout=10");
  }
  const std::set<std::string>& tagged_before() const { return tagged_before_; }

 private:
  std::set<std::string> tagged_before_;
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

  // A disk that exists before the package: postinst leaves it alone (no re-trigger of every
  // block device); its next event carries the tag.
  Result<testing::LoopDevice> loop = testing::LoopDevice::Attach(1 << 20);
  ASSERT_TRUE(loop.ok()) << loop.status().message();
  ASSERT_TRUE((*udevd)->Settle().ok());
  ASSERT_FALSE(CurrentlyTagged(loop->name())) << "something tags disks already";

  // Install.
  InstalledPackage installed;
  auto [irc, iout] = testing::RunShell("dpkg -i " + deb);
  ASSERT_EQ(irc, 0) << iout;
  EXPECT_EQ(testing::ReadWholeFile("/lib/udev/rules.d/60-diskinv.rules"),
            testing::ReadWholeFile((src / "rules/60-diskinv.rules").string()));
  for (const char* f :
       {"/usr/bin/diskinv", "/usr/lib/diskinv/diskinv-db.so",
        "/lib/systemd/system/diskinv-agent.service",
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
  // The database commands come from the private module (src/cli/db_module.h); the binary
  // itself does not load libpq.
  auto [dbrc, dbout] = testing::RunShell("/usr/bin/diskinv db --help");
  EXPECT_EQ(dbrc, 0) << dbout;
  EXPECT_NE(dbout.find("Usage: diskinv db"), std::string::npos) << dbout;
  EXPECT_EQ(testing::RunShell("ldd /usr/bin/diskinv").second.find("libpq"), std::string::npos);
  EXPECT_NE(testing::RunShell("ldd /usr/lib/diskinv/diskinv-db.so").second.find("libpq"),
            std::string::npos);
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

  // postinst reloaded udev's rules and triggered nothing: the existing disk is not tagged
  // until its next event, which udevd processes with the new rules.
  ASSERT_TRUE((*udevd)->Settle().ok());
  EXPECT_FALSE(CurrentlyTagged(loop->name())) << "postinst re-triggered block devices";
  std::ofstream("/sys/block/" + loop->name() + "/uevent") << "change";
  ASSERT_TRUE((*udevd)->Settle().ok());
  EXPECT_TRUE(CurrentlyTagged(loop->name()));

  // Purge: every file gone, and udev no longer tags (postrm reloaded the rules).
  auto [urc, uout] = testing::RunShell("dpkg --purge diskinv");
  ASSERT_EQ(urc, 0) << uout;
  for (const char* f :
       {"/usr/bin/diskinv", "/usr/lib/diskinv", "/lib/udev/rules.d/60-diskinv.rules",
        "/lib/systemd/system/diskinv-agent.service", "/etc/diskinv",
        "/usr/share/man/man8/diskinv.8.gz", "/usr/share/doc/diskinv",
        "/etc/systemd/system/multi-user.target.wants/diskinv-agent.service"}) {
    EXPECT_FALSE(fs::exists(fs::symlink_status(f))) << f;
  }
  EXPECT_EQ(testing::RunShell("dpkg-query -W diskinv").first, 1) << "still known to dpkg";
  std::ofstream("/sys/block/" + loop->name() + "/uevent") << "change";
  ASSERT_TRUE((*udevd)->Settle().ok());
  EXPECT_FALSE(CurrentlyTagged(loop->name()));
  // And the sticky tags the install left are taken back (see InstalledPackage).
  installed.ForgetAddedTags();
  EXPECT_EQ(StickyTagged(), installed.tagged_before());
  fs::remove_all(out);
}

}  // namespace
}  // namespace diskinv
