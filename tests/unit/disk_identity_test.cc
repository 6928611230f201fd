// DiskIdentity: uid from the strongest identifier, bogus identifiers rejected, stable across
// renames, reboots and moves; duplicates inside one inventory disambiguated and reported.
#include "model/disk_identity.h"

#include <gtest/gtest.h>

namespace diskinv {
namespace {

BlockDevice Disk(std::string kname, unsigned minor) {
  BlockDevice d;
  d.kname = d.name = std::move(kname);
  d.type = "disk";
  d.devnum = {8, minor};
  d.diskseq = minor + 1;
  return d;
}

void SetUdev(BlockDevice& d, std::string key, std::string value) {
  d.udev.present = true;
  d.udev.properties.Add(key, value);
}

BlockDevice Part(const BlockDevice& disk, uint64_t n) {
  BlockDevice p =
      Disk(disk.kname + std::to_string(n), disk.devnum.minor + static_cast<unsigned>(n));
  p.type = "part";
  p.is_partition = true;
  p.pkname = disk.kname;
  p.partn = n;
  p.wwn = disk.wwn;  // udev copies the disk's identity to its partitions
  return p;
}

TEST(DiskIdentity, WwnWinsAndIsNormalized) {
  BlockDevice d = Disk("sda", 0);
  d.wwn = "0x5000C500A1B2C3D4";
  d.vendor = "ATA";
  d.model = "ST4000NM0033";
  d.serial = "Z1Z2Z3Z4";
  DiskIdentity id = DiskIdentity::FromDevice(d, "m1");
  EXPECT_EQ(id.uid, "wwn:5000c500a1b2c3d4");
  EXPECT_EQ(id.source, IdentitySource::kWwn);
  EXPECT_FALSE(id.node_scoped());
  EXPECT_TRUE(id.rejected.empty());
}

TEST(DiskIdentity, StableAcrossRenameRebootAndNodes) {
  BlockDevice a = Disk("sda", 0);
  a.wwn = "0x5000c500a1b2c3d4";
  BlockDevice b = a;
  b.kname = b.name = "sdb";
  b.devnum = {8, 16};
  b.diskseq = 42;
  b.path = "/dev/sdb";
  EXPECT_EQ(DiskIdentity::FromDevice(a, "node-1").uid, DiskIdentity::FromDevice(b, "node-2").uid);
  BlockDevice s = Disk("sdc", 32);
  s.vendor = "ATA";
  s.model = "Samsung  SSD 870 ";
  s.serial = "S5Y1NX0R";
  BlockDevice t = s;
  t.kname = "sdq";
  t.model = "Samsung SSD 870";
  EXPECT_EQ(DiskIdentity::FromDevice(s).uid, "serial:ATA:Samsung SSD 870:S5Y1NX0R");
  EXPECT_EQ(DiskIdentity::FromDevice(s, "n1").uid, DiskIdentity::FromDevice(t, "n2").uid);
}

TEST(DiskIdentity, BogusWwnIsRejectedWithReason) {
  BlockDevice d = Disk("sda", 0);
  d.wwn = "0x0000000000000000";
  d.vendor = "ATA";
  d.model = "M";
  d.serial = "ABC123";
  DiskIdentity id = DiskIdentity::FromDevice(d);
  EXPECT_EQ(id.source, IdentitySource::kSerial);
  ASSERT_EQ(id.rejected.size(), 1u);
  EXPECT_EQ(id.rejected[0].kind, "wwn");
  EXPECT_EQ(id.rejected[0].reason, "all zeros");
  EXPECT_EQ(BogusHexIdReason("ffffffffffffffff"), "all ones (0xff...)");
  EXPECT_EQ(BogusHexIdReason("5000000000000000"), "zero apart from the NAA type digit");
  EXPECT_EQ(BogusHexIdReason("12ab"), "too short (4 hex digits)");
  EXPECT_EQ(BogusHexIdReason("50zz000000000001"), "not hexadecimal");
  EXPECT_EQ(BogusHexIdReason("5000c500a1b2c3d4"), "");
}

TEST(DiskIdentity, PlaceholderSerialsFallBackToNodeScopedPath) {
  for (const char* serial : {"0000000000", "   ", "To be filled by O.E.M.", "FFFFFFFF", "N/A"}) {
    BlockDevice d = Disk("sda", 0);
    d.serial = serial;
    SetUdev(d, "ID_PATH", "pci-0000:00:1f.2-ata-1");
    DiskIdentity id = DiskIdentity::FromDevice(d, "m1");
    EXPECT_EQ(id.uid, "path:m1:pci-0000:00:1f.2-ata-1") << serial;
    EXPECT_TRUE(id.node_scoped());
    ASSERT_EQ(id.rejected.size(), 1u) << serial;
    EXPECT_EQ(id.rejected[0].kind, "serial");
  }
  EXPECT_EQ(BogusSerialReason(""), "empty or whitespace");
  EXPECT_EQ(BogusSerialReason("WD-WCC4N0123456"), "");
}

TEST(DiskIdentity, NvmeZeroEuiIsSkippedForNguid) {
  BlockDevice d = Disk("nvme0n1", 0);
  d.devnum = {259, 0};
  d.nvme = NvmeIdentity{};
  d.nvme->eui64 = "00 00 00 00 00 00 00 00";
  d.nvme->nguid = "6479a74a-4090-0a3c-0025-38b521000001";
  DiskIdentity id = DiskIdentity::FromDevice(d);
  EXPECT_EQ(id.uid, "nguid:6479a74a40900a3c002538b521000001");
  ASSERT_EQ(id.rejected.size(), 1u);
  EXPECT_EQ(id.rejected[0].kind, "eui64");
  BlockDevice e = Disk("nvme1n1", 1);
  e.wwn = "eui.0025388B71B40001";
  EXPECT_EQ(DiskIdentity::FromDevice(e).uid, "eui:0025388b71b40001");
  EXPECT_EQ(DiskIdentity::FromDevice(e).source, IdentitySource::kEui64);
}

TEST(DiskIdentity, StackedAndVirtualDevicesHaveTheirOwn) {
  BlockDevice dm = Disk("dm-0", 0);
  dm.devnum = {253, 0};
  dm.name = "mpatha";
  dm.dm_uuid = "mpath-3600a098038303053453f463045727a4b";
  dm.wwn = "0x600a098038303053453f463045727a4b";
  EXPECT_EQ(DiskIdentity::FromDevice(dm).uid, "dm:mpath-3600a098038303053453f463045727a4b");
  BlockDevice md = Disk("md0", 0);
  md.md_uuid = "3a1b2c4d:5e6f7081:92a3b4c5:d6e7f809";
  EXPECT_EQ(DiskIdentity::FromDevice(md).uid, "md:3a1b2c4d5e6f708192a3b4c5d6e7f809");
  BlockDevice loop = Disk("loop0", 0);
  loop.loop_backing_file = "/var/lib/img.raw";
  EXPECT_EQ(DiskIdentity::FromDevice(loop, "m1").uid, "loop:m1:/var/lib/img.raw");
  BlockDevice zram = Disk("zram0", 0);
  DiskIdentity z = DiskIdentity::FromDevice(zram, "m1");
  EXPECT_EQ(z.uid, "name:m1:zram0");
  EXPECT_EQ(z.source, IdentitySource::kName);
}

TEST(DiskIdentity, PartitionsDeriveFromTheirDisk) {
  BlockDevice d = Disk("sda", 0);
  d.wwn = "0x5000c500a1b2c3d4";
  DiskIdentity disk = DiskIdentity::FromDevice(d);
  BlockDevice p = Part(d, 2);
  DiskIdentity with_parent = DiskIdentity::FromDevice(p, "", &disk);
  EXPECT_EQ(with_parent.uid, "wwn:5000c500a1b2c3d4-part2");
  EXPECT_EQ(with_parent.source, IdentitySource::kPartition);
  EXPECT_EQ(with_parent.identifier, disk.uid);
  EXPECT_EQ(DiskIdentity::FromDevice(p).uid, with_parent.uid);  // from udev-inherited WWN
}

TEST(IdentifyInventory, DuplicateSerialsAreDisambiguatedAndReported) {
  Inventory inv;
  for (auto [name, minor] : {std::pair{"sda", 0u}, {"sdb", 16u}}) {
    BlockDevice d = Disk(name, minor);
    d.vendor = "ATA";
    d.model = "CheapSSD";
    d.serial = "AA000001";
    SetUdev(d, "ID_PATH", std::string("pci-0000:00:1f.2-ata-") + (minor ? "2" : "1"));
    inv.Add(d);
    inv.Add(Part(d, 1));
  }
  auto ids = IdentifyInventory(inv, "m1");
  ASSERT_EQ(ids.size(), 4u);
  EXPECT_EQ(ids[0].uid, "serial:ATA:CheapSSD:AA000001~m1:pci-0000:00:1f.2-ata-1");
  EXPECT_EQ(ids[2].uid, "serial:ATA:CheapSSD:AA000001~m1:pci-0000:00:1f.2-ata-2");
  EXPECT_EQ(ids[0].conflict, "duplicate serial 'ATA:CheapSSD:AA000001' on sda, sdb");
  EXPECT_EQ(ids[1].uid, ids[0].uid + "-part1");
  EXPECT_NE(ids[1].uid, ids[3].uid);
}

TEST(IdentifyInventory, SameWwnOnMultipathPathsNamesTheMap) {
  Inventory inv;
  for (auto [name, minor] : {std::pair{"sdb", 16u}, {"sdc", 32u}}) {
    BlockDevice d = Disk(name, minor);
    d.wwn = "0x600a098038303053453f463045727a4b";
    d.holders = {"dm-0"};
    inv.Add(d);
  }
  BlockDevice dm = Disk("dm-0", 0);
  dm.dm_uuid = "mpath-3600a098038303053453f463045727a4b";
  dm.slaves = {"sdb", "sdc"};
  inv.Add(dm);
  auto ids = IdentifyInventory(inv, "m1");
  EXPECT_EQ(ids[0].uid, "wwn:600a098038303053453f463045727a4b~m1:sdb");
  EXPECT_EQ(ids[1].uid, "wwn:600a098038303053453f463045727a4b~m1:sdc");
  EXPECT_EQ(ids[0].conflict,
            "duplicate wwn '600a098038303053453f463045727a4b' on sdb, sdc (paths of dm-0)");
  EXPECT_EQ(ids[2].uid, "dm:mpath-3600a098038303053453f463045727a4b");
  EXPECT_TRUE(ids[2].conflict.empty());
}

}  // namespace
}  // namespace diskinv
