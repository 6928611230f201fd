// `diskinv agent --once --sysroot TREE` on synthetic sysfs trees (tests/support TreeBuilder and
// diskinv-mktree) into a real PostgreSQL: the identity cases (rename, move between two nodes,
// duplicate serials, all-zero WWN) and the initial load of 10,000 disks.
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <regex>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "support/lsblk_compare.h"
#include "support/tree_builder.h"
#include "store_test_support.h"

namespace diskinv {
namespace {

namespace fs = std::filesystem;
using testing::Count;
using testing::DiskinvBinary;
using testing::MustConnect;
using testing::One;
using testing::RunCommand;
using testing::ShellQuote;
using testing::Snapshot;
using testing::Dev;
using testing::PartitionSpec;
using testing::QueueSpec;
using testing::ScsiDiskSpec;
using testing::ScsiHost;
using testing::ScsiHostKind;
using testing::ScsiHostSpec;
using testing::TreeBuilder;

constexpr const char* kNodeA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
constexpr const char* kNodeB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

// A scratch directory on tmpfs when there is one (trees are many small files).
std::string ScratchDir(const std::string& name) {
  std::string base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  std::string dir = fmt::format("{}/diskinv-{}-{}", base, name, getpid());
  fs::remove_all(dir);
  return dir;
}

// Runs the agent once on `root` as node `machine_id`; returns its stdout+stderr.
std::string AgentOnce(const std::string& url, const std::string& root,
                      const std::string& machine_id, int* rc) {
  return RunCommand(fmt::format("DISKINV_MACHINE_ID={} DISKINV_HOSTNAME=host-{} {} agent --once "
                                "--sysroot {} --database-url {} 2>&1",
                                machine_id, machine_id.substr(0, 1), ShellQuote(DiskinvBinary()),
                                ShellQuote(root), ShellQuote(url)),
                     rc);
}

ScsiDiskSpec Ssd(const std::string& serial, const std::string& naa) {
  ScsiDiskSpec d;
  d.model = "Samsung SSD 870 EVO 1TB";
  d.rev = "SVT02B6Q";
  d.serial = serial;
  d.naa = naa;
  d.size_bytes = 1000204886016;
  d.queue = QueueSpec::SataSsd();
  return d;
}

ScsiHost Port(TreeBuilder& b, int n) {
  ScsiHostSpec h;
  h.kind = ScsiHostKind::kSataAhci;
  h.port_no = n;
  return b.AddScsiHost(h);
}

// Writes a tree with the given SATA disks, one per AHCI port, in this order (kernel names
// sda, sdb, ... follow the order), each with one GPT partition.
std::string Tree(const std::string& name, const std::vector<ScsiDiskSpec>& disks) {
  TreeBuilder b;
  int port = 1;
  for (const auto& d : disks) {
    Dev disk = b.AddScsiDisk(Port(b, port++), d);
    PartitionSpec p;
    p.size_sectors = 2048 * 1024;
    b.AddPartition(disk, p);
  }
  std::string dir = ScratchDir(name);
  EXPECT_TRUE(b.WriteTo(dir)) << b.error();
  return dir;
}

class StoreTree : public ::testing::Test {
 protected:
  void TearDown() override {
    for (const auto& d : dirs_) fs::remove_all(d);
    for (const auto& m : mounts_) {
      if (umount(m.c_str()) != 0) umount2(m.c_str(), MNT_DETACH);
      rmdir(m.c_str());
    }
  }
  std::string Keep(std::string dir) {
    dirs_.push_back(dir);
    return dir;
  }
  // A private tmpfs for a big tree (a 10,000-disk tree is ~1.9 million files and links: more
  // inodes than a default /dev/shm may have left, and minutes on a disk filesystem). Needs
  // root; empty when it cannot be mounted.
  std::string PrivateTmpfs(const std::string& name) {
    std::string dir = fmt::format("/tmp/diskinv-{}-{}", name, getpid());
    fs::create_directories(dir);
    if (mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=8g,nr_inodes=4m,mode=0755") != 0) {
      rmdir(dir.c_str());
      return "";
    }
    mounts_.push_back(dir);
    return dir + "/root";
  }
  std::vector<std::string> dirs_, mounts_;
};

TEST_F(StoreTree, RenameAndMoveKeepRows) {
  REQUIRE_MIGRATED_DATABASE(url, "tree_rename_move");
  auto sql = MustConnect(url);
  ScsiDiskSpec x = Ssd("S6PNNX0R100001A", "5002538e4098a101"),
               y = Ssd("S6PNNX0R100002B", "5002538e4098a102");
  std::string first = Keep(Tree("t1", {x, y})), renamed = Keep(Tree("t2", {y, x}));
  int rc = -1;
  std::string out = AgentOnce(url, first, kNodeA, &rc);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("4 inserted"), std::string::npos) << out;
  EXPECT_EQ(One(*sql, "SELECT kname FROM diskinv.disk WHERE uid = 'wwn:5002538e4098a101'"), "sda");
  std::string ids = One(*sql, "SELECT string_agg(id::text, ',' ORDER BY uid) FROM diskinv.disk");
  // Reboot with the disks found in the other order: sda <-> sdb, the rows stay.
  out = AgentOnce(url, renamed, kNodeA, &rc);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("4 updated"), std::string::npos) << out;  // 2 disks, 2 partitions
  EXPECT_EQ(out.find("inserted"), std::string::npos) << out;
  EXPECT_EQ(out.find("tombstoned"), std::string::npos) << out;
  EXPECT_EQ(One(*sql, "SELECT kname FROM diskinv.disk WHERE uid = 'wwn:5002538e4098a101'"), "sdb");
  EXPECT_EQ(One(*sql, "SELECT kname FROM diskinv.partition WHERE uid = "
                      "'wwn:5002538e4098a101-part1'"),
            "sdb1");
  EXPECT_EQ(One(*sql, "SELECT string_agg(id::text, ',' ORDER BY uid) FROM diskinv.disk"), ids);
  // y moves to node b (as its only disk, sda); node a then has x alone.
  std::string b_tree = Keep(Tree("t3", {y})), a_tree = Keep(Tree("t4", {x}));
  out = AgentOnce(url, b_tree, kNodeB, &rc);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("2 moved in"), std::string::npos) << out;
  out = AgentOnce(url, a_tree, kNodeA, &rc);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_EQ(out.find("tombstoned"), std::string::npos) << out;  // y is node b's now
  EXPECT_EQ(One(*sql, "SELECT n.hostname || ' ' || d.kname || ' ' || d.state FROM diskinv.disk d "
                      "JOIN diskinv.node n ON n.id = d.node_id WHERE d.uid = "
                      "'wwn:5002538e4098a102'"),
            "host-b sda present");
  EXPECT_EQ(One(*sql, "SELECT string_agg(id::text, ',' ORDER BY uid) FROM diskinv.disk"), ids);
  EXPECT_EQ(Count(*sql, "SELECT count(*) FROM diskinv.disk"), 2);
}

TEST_F(StoreTree, DuplicateSerialsAndZeroWwnAreRecorded) {
  REQUIRE_MIGRATED_DATABASE(url, "tree_conflicts");
  auto sql = MustConnect(url);
  ScsiDiskSpec twin1 = Ssd("S6PNNX0R1TWIN", ""), twin2 = Ssd("S6PNNX0R1TWIN", "");
  ScsiDiskSpec zero = Ssd("S6PNNX0R1ZERO", "5000000000000000");
  std::string dir = Keep(Tree("t5", {twin1, twin2, zero}));
  int rc = -1;
  std::string out = AgentOnce(url, dir, kNodeA, &rc);
  ASSERT_EQ(rc, 0) << out;
  // Two rows for the twins, told apart by their slots, never merged.
  EXPECT_EQ(Count(*sql, "SELECT count(*) FROM diskinv.disk WHERE serial = 'S6PNNX0R1TWIN' AND "
                        "identity_conflict IS NOT NULL AND uid LIKE '%~" +
                            std::string(kNodeA) + ":pci-0000:00:17.0-ata-%'"),
            2);
  EXPECT_EQ(One(*sql, "SELECT devices FROM diskinv.identity_conflict WHERE kind = 'duplicate'"),
            "sda,sdb");
  // The all-zero NAA (5 and zeros) is refused; the serial identifies the disk.
  EXPECT_EQ(One(*sql, "SELECT uid || ' ' || identity_source FROM diskinv.disk WHERE kname = 'sdc'"),
            "serial:ATA:Samsung SSD 870 EVO 1TB:S6PNNX0R1ZERO serial");
  EXPECT_GE(Count(*sql, "SELECT count(*) FROM diskinv.identity_conflict WHERE kind = 'bogus' AND "
                        "devices = 'sdc' AND reason = 'zero apart from the NAA type digit'"),
            1);
  auto before = Snapshot(*sql);
  out = AgentOnce(url, dir, kNodeA, &rc);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("no writes"), std::string::npos) << out;
  EXPECT_EQ(Snapshot(*sql), before);
}

// The initial load of a node with 10,000 disks (30,000 rows with their partitions), the
// rescan that finds nothing new, and all of it moving to another node.
TEST_F(StoreTree, TenThousandDisks) {
  REQUIRE_MIGRATED_DATABASE(url, "tree_10k");
  const char* mktree = std::getenv("DISKINV_MKTREE");
  ASSERT_TRUE(mktree) << "DISKINV_MKTREE is not set (ctest sets it)";
  auto sql = MustConnect(url);
  std::string dir = PrivateTmpfs("10k");
  if (dir.empty()) {
    std::string why = fmt::format("cannot mount a tmpfs for the tree: {}", std::strerror(errno));
    if (std::getenv("CI")) FAIL() << why;
    GTEST_SKIP() << why << " (CI unset: skipped)";
  }
  auto t0 = std::chrono::steady_clock::now();
  int rc = -1;
  std::string out = RunCommand(
      fmt::format("{} --out {} --disks 10000 --quiet 2>&1", ShellQuote(mktree), dir), &rc);
  ASSERT_EQ(rc, 0) << out;
  auto t1 = std::chrono::steady_clock::now();
  out = AgentOnce(url, dir, kNodeA, &rc);
  ASSERT_EQ(rc, 0) << out;
  std::printf("  tree %.1f s; initial load: %s", std::chrono::duration<double>(t1 - t0).count(),
              out.c_str());
  EXPECT_NE(out.find("30000 devices walked"), std::string::npos) << out;
  EXPECT_NE(out.find("database: 30000 inserted; 30 transactions"), std::string::npos) << out;
  EXPECT_EQ(Count(*sql, "SELECT count(*) FROM diskinv.disk WHERE state = 'present'"), 10000);
  EXPECT_EQ(Count(*sql, "SELECT count(*) FROM diskinv.partition WHERE state = 'present'"), 20000);
  EXPECT_EQ(Count(*sql, "SELECT count(*) FROM diskinv.identity_conflict"), 0);
  EXPECT_EQ(One(*sql, "SELECT string_agg(identity_source || '=' || n, ',' ORDER BY "
                      "identity_source) FROM (SELECT identity_source, count(*) AS n FROM "
                      "diskinv.disk GROUP BY 1) s"),
            "nguid=3334,wwn=6666");  // NVMe: the kernel wwid "eui.<NGUID>"
  auto before = Snapshot(*sql);
  out = AgentOnce(url, dir, kNodeA, &rc);
  ASSERT_EQ(rc, 0) << out;
  std::printf("  rescan: %s", out.c_str());
  EXPECT_NE(out.find("database: no writes, 30000 unchanged; 0 transactions"), std::string::npos)
      << out;
  EXPECT_EQ(Snapshot(*sql), before);
  std::string ids = One(*sql, "SELECT sum(id) FROM diskinv.disk");
  out = AgentOnce(url, dir, kNodeB, &rc);
  ASSERT_EQ(rc, 0) << out;
  std::printf("  moved: %s", out.c_str());
  EXPECT_NE(out.find("database: 30000 moved in"), std::string::npos) << out;
  EXPECT_EQ(One(*sql, "SELECT sum(id) FROM diskinv.disk"), ids);
  EXPECT_EQ(Count(*sql, "SELECT count(DISTINCT node_id) FROM diskinv.disk"), 1);
}

}  // namespace
}  // namespace diskinv
