// BuildNodeRows and DeviceRow: identities, conflicts, edges and etags of a node's rows.
#include "store/node_rows.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "agent/node_identity.h"
#include "sysfs/fake_sysfs_reader.h"
#include "sysfs/real_sysfs_reader.h"
#include "sysfs/walker.h"

namespace diskinv {
namespace {

BlockDevice Disk(const std::string& kname, uint32_t minor) {
  BlockDevice d;
  d.kname = d.name = kname;
  d.type = "disk";
  d.devnum = {8, minor};
  d.size_bytes = 1ull << 40;
  d.vendor = "ATA";
  d.model = "Model X";
  d.tran = "sata";
  return d;
}

BlockDevice Part(const BlockDevice& disk, int n) {
  BlockDevice p = disk;
  p.kname = p.name = disk.kname + std::to_string(n);
  p.type = "part";
  p.is_partition = true;
  p.pkname = disk.kname;
  p.partn = static_cast<uint64_t>(n);
  p.start = 2048;
  p.devnum.minor += static_cast<uint32_t>(n);
  return p;
}

const DeviceRow* Row(const NodeRows& r, const std::string& kname) {
  for (const auto& row : r.rows) {
    if (row.kname == kname) return &row;
  }
  return nullptr;
}

TEST(NodeRows, IdentitiesConflictsAndEdges) {
  Inventory inv;
  BlockDevice a = Disk("sda", 0), b = Disk("sdb", 16), c = Disk("sdc", 32), z = Disk("sdd", 48);
  a.wwn = "0x5000c500a1b2c3d4";
  b.serial = c.serial = "SAME123";  // two disks, one serial
  b.udev.properties = {{"ID_PATH", "pci-0000:00:17.0-ata-2"}};
  c.udev.properties = {{"ID_PATH", "pci-0000:00:17.0-ata-3"}};
  z.wwn = "0x0000000000000000";  // bogus: falls through to the serial
  z.serial = "Z12345";
  a.holders = {"md0"};
  b.holders = {"md0"};
  BlockDevice md;
  md.kname = md.name = "md0";
  md.type = "raid1";
  md.devnum = {9, 0};
  md.md_uuid = "3a1b2c3d:4e5f6071:8293a4b5:c6d7e8f9";
  md.slaves = {"sda", "sdb"};
  for (const BlockDevice& d : {a, Part(a, 1), b, c, z, md}) inv.Add(d);
  NodeRows r = BuildNodeRows(inv, "m1");
  ASSERT_EQ(r.rows.size(), 6u);
  EXPECT_EQ(r.uid_by_kname.at("sda"), "wwn:5000c500a1b2c3d4");
  EXPECT_EQ(r.uid_by_kname.at("sda1"), "wwn:5000c500a1b2c3d4-part1");
  EXPECT_EQ(r.uid_by_kname.at("sdb"), "serial:ATA:Model X:SAME123~m1:pci-0000:00:17.0-ata-2");
  EXPECT_EQ(r.uid_by_kname.at("sdc"), "serial:ATA:Model X:SAME123~m1:pci-0000:00:17.0-ata-3");
  EXPECT_EQ(r.uid_by_kname.at("sdd"), "serial:ATA:Model X:Z12345");
  EXPECT_EQ(Row(r, "sda1")->table, RowTable::kPartition);
  ASSERT_EQ(r.conflicts.size(), 2u);
  const ConflictRow& dup = r.conflicts.at({"duplicate", "serial:ATA:Model X:SAME123"});
  EXPECT_EQ(dup.devices, "sdb,sdc");
  EXPECT_NE(dup.reason.find("duplicate serial"), std::string::npos) << dup.reason;
  const ConflictRow& bogus = r.conflicts.at({"bogus", "wwn:0x0000000000000000"});
  EXPECT_EQ(bogus.devices, "sdd");
  EXPECT_EQ(bogus.reason, "all zeros");
  EXPECT_EQ(r.edges.size(), 2u);
  EXPECT_TRUE(r.edges.contains({"wwn:5000c500a1b2c3d4", "md:3a1b2c3d4e5f60718293a4b5c6d7e8f9"}));
  EXPECT_TRUE(r.unidentified.empty());
}

TEST(NodeRows, SelectionBuildsOnlyTheChosenRows) {
  Inventory inv;
  BlockDevice a = Disk("sda", 0), b = Disk("sdb", 16);
  a.wwn = "0x5000c500a1b2c3d4";
  b.wwn = "0x5000c500a1b2c3d5";
  inv.Add(a);
  inv.Add(b);
  NodeRows r = BuildNodeRows(inv, "m1", [](const BlockDevice& d, const DiskIdentity& id) {
    EXPECT_TRUE(id.ok());
    return d.kname == "sdb";
  });
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0].kname, "sdb");
  EXPECT_EQ(r.uid_by_kname.size(), 2u);  // identities are always complete
}

// The inventory's order changes with removals (Remove moves the last device into the hole);
// rows, etags and conflict texts must not: else a live agent would rewrite rows a fresh walk
// would not.
TEST(NodeRows, IndependentOfInventoryOrder) {
  BlockDevice b = Disk("sdb", 16), c = Disk("sdc", 32), e = Disk("sde", 64);
  b.serial = c.serial = "SAME123";
  e.wwn = "0x5000c500a1b2c3d9";
  Inventory first, second;
  for (const BlockDevice& d : {b, c, e}) first.Add(d);
  for (const BlockDevice& d : {e, c, b}) second.Add(d);
  NodeRows r1 = BuildNodeRows(first, "m1"), r2 = BuildNodeRows(second, "m1");
  EXPECT_EQ(r1.conflicts, r2.conflicts);
  EXPECT_EQ(r1.uid_by_kname, r2.uid_by_kname);
  for (const auto& row : r1.rows) {
    ASSERT_NE(Row(r2, row.kname), nullptr);
    EXPECT_EQ(Row(r2, row.kname)->etag, row.etag) << row.kname;
  }
}

TEST(DeviceRow, EtagFollowsContentAndStoredEtagTheNode) {
  BlockDevice a = Disk("sda", 0);
  a.wwn = "0x5000c500a1b2c3d4";
  DiskIdentity id = DiskIdentity::FromDevice(a, "m1");
  DeviceRow r1 = MakeDeviceRow(a, id);
  EXPECT_EQ(MakeDeviceRow(a, id).etag, r1.etag);
  a.udev.initialized_usec = 123;  // volatile: not stored, no new etag
  EXPECT_EQ(MakeDeviceRow(a, id).etag, r1.etag);
  a.queue.Mutable().scheduler = "none";
  EXPECT_NE(MakeDeviceRow(a, id).etag, r1.etag);
  EXPECT_NE(StoredEtag(r1, 1), StoredEtag(r1, 2));
  EXPECT_EQ(StoredEtag(r1, 1), StoredEtag(r1, 1));
}

// The agent's walker keeps only StoredUdevProperties() of each record: on every fixture tree,
// the rows, identities, edges and conflicts built from that walk are those of a full walk, and
// the projection did drop something (else the test would prove nothing).
TEST(DeviceRow, StoredUdevPropertiesAreAllTheRowsRead) {
  const char* src = std::getenv("DISKINV_SOURCE_DIR");
  std::filesystem::path fixtures = std::filesystem::path(src ? src : ".") / "fixtures/sysfs";
  ASSERT_TRUE(std::filesystem::is_directory(fixtures)) << fixtures;
  size_t trees = 0, dropped = 0;
  for (const auto& e : std::filesystem::directory_iterator(fixtures)) {
    if (!e.is_directory()) continue;
    auto reader = RealSysfsReader::Open(e.path().string());
    ASSERT_TRUE(reader.ok()) << e.path();
    Inventory full = Walker(**reader, WalkOptions{}).WalkAll();
    Inventory kept =
        Walker(**reader, WalkOptions{.udev_properties = StoredUdevProperties()}).WalkAll();
    ASSERT_EQ(full.size(), kept.size()) << e.path();
    for (size_t i = 0; i < full.size(); ++i) {
      dropped +=
          full.devices()[i].udev.properties.size() - kept.devices()[i].udev.properties.size();
      EXPECT_TRUE(kept.devices()[i].udev.links.empty());
    }
    NodeRows a = BuildNodeRows(full, "node"), b = BuildNodeRows(kept, "node");
    ASSERT_EQ(a.rows.size(), b.rows.size()) << e.path();
    for (size_t i = 0; i < a.rows.size(); ++i) {
      EXPECT_EQ(a.rows[i].uid, b.rows[i].uid) << e.path() << " " << a.rows[i].kname;
      EXPECT_EQ(a.rows[i].values, b.rows[i].values) << e.path() << " " << a.rows[i].kname;
      EXPECT_EQ(a.rows[i].etag, b.rows[i].etag) << e.path() << " " << a.rows[i].kname;
    }
    EXPECT_EQ(a.uid_by_kname, b.uid_by_kname) << e.path();
    EXPECT_EQ(a.edges, b.edges) << e.path();
    EXPECT_EQ(a.conflicts, b.conflicts) << e.path();
    EXPECT_EQ(a.unidentified, b.unidentified) << e.path();
    ++trees;
  }
  EXPECT_GE(trees, 20u);
  EXPECT_GT(dropped, 500u);
}

TEST(NodeIdentity, ReadsUnderTheRootAndExplainsWhatIsMissing) {
  FakeSysfsReader fs;
  AgentConfig cfg;
  auto none = ReadNodeIdentity(fs, cfg);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("machine-id under sysroot /"), std::string::npos)
      << none.status().message();
  EXPECT_NE(none.status().message().find("DISKINV_MACHINE_ID"), std::string::npos);
  fs.AddFile("etc/machine-id", "not-a-machine-id\n");
  auto bad = ReadNodeIdentity(fs, cfg);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("not 32 hex digits"), std::string::npos);
  fs.AddFile("etc/machine-id", "3d1219c7c4c5404aaa1f6d2a48adfda4\n");
  fs.AddFile("etc/hostname", "node-a\n");
  fs.AddFile("proc/sys/kernel/random/boot_id", "6f0c1c59-7c1e-4b6b-9d5e-0b4b2f1c2a3d\n");
  auto ok = ReadNodeIdentity(fs, cfg);
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok->machine_id, "3d1219c7c4c5404aaa1f6d2a48adfda4");
  EXPECT_EQ(ok->hostname, "node-a");
  EXPECT_EQ(ok->boot_id, "6f0c1c59-7c1e-4b6b-9d5e-0b4b2f1c2a3d");
  EXPECT_FALSE(ok->agent_version.empty());
  fs.AddFile("proc/sys/kernel/hostname", "node-a.example\n");
  EXPECT_EQ(ReadNodeIdentity(fs, cfg)->hostname, "node-a.example");
  cfg.machine_id = "override";
  cfg.hostname = "h";
  EXPECT_EQ(ReadNodeIdentity(fs, cfg)->machine_id, "override");
  EXPECT_EQ(ReadNodeIdentity(fs, cfg)->hostname, "h");
}

}  // namespace
}  // namespace diskinv
