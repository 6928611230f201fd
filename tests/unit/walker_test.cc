// The walker over an in-memory sysfs: exact fields, and bad input that must never stop a walk.
#include "sysfs/walker.h"

#include <gtest/gtest.h>

#include "sysfs/fake_sysfs_reader.h"

namespace diskinv {
namespace {

// Adds a whole disk in the kernel's layout: sys/devices/<parent>/block/<name>, the
// sys/block and sys/dev/block links, and typical queue attributes.
std::string AddDisk(FakeSysfsReader& fs, const std::string& parent, const std::string& name,
                    const std::string& devnum, uint64_t sectors) {
  std::string dir = "sys/devices/" + parent + "/block/" + name;
  fs.AddSymlink("sys/block/" + name, "../devices/" + parent + "/block/" + name);
  fs.AddSymlink("sys/dev/block/" + devnum, "../../devices/" + parent + "/block/" + name);
  fs.AddFile(dir + "/dev", devnum + "\n");
  fs.AddFile(dir + "/size", std::to_string(sectors) + "\n");
  fs.AddFile(dir + "/ro", "0\n");
  fs.AddFile(dir + "/removable", "0\n");
  fs.AddFile(dir + "/hidden", "0\n");
  fs.AddFile(dir + "/alignment_offset", "0\n");
  fs.AddFile(dir + "/discard_alignment", "0\n");
  fs.AddFile(dir + "/diskseq", "9\n");
  fs.AddFile(dir + "/queue/rotational", "1\n");
  fs.AddFile(dir + "/queue/logical_block_size", "512\n");
  fs.AddFile(dir + "/queue/physical_block_size", "4096\n");
  fs.AddFile(dir + "/queue/discard_granularity", "0\n");
  fs.AddFile(dir + "/queue/scheduler", "[mq-deadline] none\n");
  fs.AddFile(dir + "/queue/nr_requests", "64\n");
  fs.AddDir(dir + "/holders");
  fs.AddDir(dir + "/slaves");
  return dir;
}

std::string AddPart(FakeSysfsReader& fs, const std::string& disk_dir, const std::string& name,
                    const std::string& devnum, int partn, uint64_t start) {
  std::string dir = disk_dir + "/" + name;
  fs.AddFile(dir + "/dev", devnum + "\n");
  fs.AddFile(dir + "/size", "2048\n");
  fs.AddFile(dir + "/ro", "0\n");
  fs.AddFile(dir + "/partition", std::to_string(partn) + "\n");
  fs.AddFile(dir + "/start", std::to_string(start) + "\n");
  fs.AddFile(dir + "/alignment_offset", "0\n");
  fs.AddFile(dir + "/discard_alignment", "0\n");
  fs.AddSymlink("sys/class/block/" + name, "../../" + dir.substr(4));
  return dir;
}

// An AHCI SATA disk sda (host0) with one partition and a udev record.
FakeSysfsReader SataTree() {
  FakeSysfsReader fs;
  const std::string scsi = "pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0";
  std::string dir = AddDisk(fs, scsi, "sda", "8:0", 2097152);
  fs.AddSymlink(dir + "/device", "../../../0:0:0:0");
  std::string sdev = "sys/devices/" + scsi;
  fs.AddFile(sdev + "/vendor", "ATA     \n");
  fs.AddFile(sdev + "/model", "QEMU HARDDISK   \n");
  fs.AddFile(sdev + "/rev", "2.5+\n");
  fs.AddFile(sdev + "/type", "0\n");
  fs.AddFile(sdev + "/state", "running\n");
  fs.AddFile(sdev + "/wwid", "t10.ATA     QEMU HARDDISK                           QM00001\n");
  fs.AddSymlink("sys/bus/scsi/devices/0:0:0:0", "../../../devices/" + scsi);
  fs.AddSymlink("sys/class/scsi_host/host0",
                "../../devices/pci0000:00/0000:00:1f.2/ata1/host0/scsi_host/host0");
  fs.AddFile("sys/devices/pci0000:00/0000:00:1f.2/ata1/host0/scsi_host/host0/proc_name", "ahci\n");
  AddPart(fs, dir, "sda1", "8:1", 1, 2048);
  fs.AddFile(
      "run/udev/data/b8:0",
      "S:disk/by-id/ata-QEMU_HARDDISK_QM00001\nE:ID_SERIAL=QEMU_HARDDISK_QM00001\n"
      "E:ID_SERIAL_SHORT=QM00001\nE:ID_MODEL=QEMU_HARDDISK\n"
      "E:ID_MODEL_ENC=QEMU\\x20HARDDISK\\x20\\x20\\x20\nE:ID_WWN=0x5000c50015ea71ac\nG:systemd\n");
  fs.AddFile("run/udev/data/b8:1", "E:ID_PART_ENTRY_NUMBER=1\nE:ID_WWN=0x5000c50015ea71ac\n");
  return fs;
}

TEST(Walker, ReadsASataDiskLikeLsblk) {
  FakeSysfsReader fs = SataTree();
  Walker w(fs, {});
  Inventory inv = w.WalkAll();
  ASSERT_EQ(inv.size(), 2u);
  EXPECT_TRUE(inv.stats().complete());
  const BlockDevice* sda = inv.FindByName("sda");
  ASSERT_NE(sda, nullptr);
  EXPECT_TRUE(sda->errors.empty()) << sda->errors[0].message;
  EXPECT_EQ(sda->devnum, (DevNum{8, 0}));
  EXPECT_EQ(*sda->size_bytes, 2097152u * 512);
  EXPECT_EQ(sda->type, "disk");
  EXPECT_EQ(*sda->tran, "sata");
  EXPECT_EQ(*sda->hctl, "0:0:0:0");
  EXPECT_EQ(*sda->vendor, "ATA     ");  // lsblk keeps the padding of device/vendor
  EXPECT_EQ(*sda->model, "QEMU HARDDISK");
  EXPECT_EQ(*sda->serial, "QM00001");
  EXPECT_EQ(*sda->wwn, "0x5000c50015ea71ac");
  EXPECT_EQ(*sda->rev, "2.5+");
  EXPECT_EQ(*sda->queue->scheduler, "mq-deadline");
  EXPECT_EQ(*sda->queue->rotational, true);
  EXPECT_EQ(sda->partitions, std::vector<std::string>{"sda1"});
  EXPECT_EQ(sda->udev.links.size(), 1u);
  EXPECT_EQ(sda->devpath,
            "/devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda");
  // sysfs model "QEMU HARDDISK   " and udev's agree once whitespace is normalized.
  EXPECT_EQ(sda->disagreements.count("model"), 0u);

  const BlockDevice* p = inv.FindByName("sda1");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->type, "part");
  EXPECT_EQ(p->pkname, "sda");
  EXPECT_EQ(*p->partn, 1u);
  EXPECT_EQ(*p->start, 2048u);
  EXPECT_EQ(p->queue, sda->queue);               // inherited, as the kernel and lsblk do
  EXPECT_TRUE(p->queue.SharesWith(sda->queue));  // and not copied
  EXPECT_FALSE(p->tran.has_value());
  EXPECT_FALSE(p->model.has_value());
  EXPECT_EQ(*p->wwn, "0x5000c50015ea71ac");
  EXPECT_EQ(inv.FindByDevNum({8, 1}), p);
}

TEST(Walker, KeepsBothValuesWhenSysfsAndUdevDisagree) {
  FakeSysfsReader fs = SataTree();
  fs.AddFile("sys/devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/model", "OTHER\n");
  Inventory inv = Walker(fs, {}).WalkAll();
  const BlockDevice* sda = inv.FindByName("sda");
  ASSERT_EQ(sda->disagreements.count("model"), 1u);
  const auto& n = sda->disagreements.at("model");
  EXPECT_EQ(n.used, "udev");
  EXPECT_EQ(n.udev_value, "QEMU HARDDISK");
  EXPECT_EQ(n.sysfs_value, "OTHER");
  EXPECT_EQ(*sda->model, "QEMU HARDDISK");
}

TEST(Walker, GarbageAndUnreadableAttributesBecomeFieldErrors) {
  FakeSysfsReader fs = SataTree();
  std::string dir = "sys/devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda";
  fs.AddFile(dir + "/size", "12x\n");
  fs.SetError(dir + "/queue/nr_requests", EACCES);
  fs.SetError(dir + "/queue/rotational", EIO);
  Inventory inv = Walker(fs, {}).WalkAll();
  ASSERT_EQ(inv.size(), 2u);  // the partition is still there
  const BlockDevice* sda = inv.FindByName("sda");
  EXPECT_FALSE(sda->size_bytes.has_value());
  EXPECT_FALSE(sda->queue->nr_requests.has_value());
  ASSERT_EQ(sda->errors.size(), 3u);
  EXPECT_EQ(sda->errors[0].field, "size");
  EXPECT_EQ(sda->errors[0].code, EINVAL);
  EXPECT_NE(sda->errors[0].message.find("12x"), std::string::npos);
  EXPECT_EQ(sda->errors[1].field, "rota");
  EXPECT_EQ(sda->errors[1].code, EIO);
  EXPECT_EQ(sda->errors[2].field, "rq-size");
  EXPECT_EQ(sda->errors[2].code, EACCES);
  EXPECT_EQ(sda->errors[2].path, dir + "/queue/nr_requests");
  EXPECT_EQ(inv.stats().field_errors, 3u);
  EXPECT_EQ(*sda->queue->logical_block_size, 512u);  // the rest was read
}

TEST(Walker, MissingOptionalAttributesAreNotErrors) {
  FakeSysfsReader fs = SataTree();
  std::string dir = "sys/devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda";
  fs.Remove(dir + "/queue/scheduler");
  fs.Remove(dir + "/diskseq");
  Inventory inv = Walker(fs, {}).WalkAll();
  const BlockDevice* sda = inv.FindByName("sda");
  EXPECT_TRUE(sda->errors.empty());
  EXPECT_FALSE(sda->queue->scheduler.has_value());
  EXPECT_FALSE(sda->diskseq.has_value());
  // A required attribute is an error when missing.
  fs.Remove(dir + "/ro");
  inv = Walker(fs, {}).WalkAll();
  ASSERT_EQ(inv.FindByName("sda")->errors.size(), 1u);
  EXPECT_EQ(inv.FindByName("sda")->errors[0].field, "ro");
}

TEST(Walker, DanglingAndLoopingLinksAreRecordedNotFatal) {
  FakeSysfsReader fs = SataTree();
  std::string dir = "sys/devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda";
  fs.AddSymlink(dir + "/device", "../../../gone");
  fs.AddSymlink("sys/block/sdz", "sdz");  // a link to itself
  Inventory inv = Walker(fs, {}).WalkAll();
  const BlockDevice* sda = inv.FindByName("sda");
  ASSERT_NE(sda, nullptr);
  ASSERT_FALSE(sda->errors.empty());
  EXPECT_EQ(sda->errors[0].field, "device");
  EXPECT_NE(sda->errors[0].message.find("dangling"), std::string::npos);
  EXPECT_FALSE(sda->hctl.has_value());
  const BlockDevice* sdz = inv.FindByName("sdz");
  ASSERT_NE(sdz, nullptr);
  bool eloop = false;
  for (const auto& e : sdz->errors) eloop |= e.code == ELOOP;
  EXPECT_TRUE(eloop);
  EXPECT_NE(inv.FindByName("sda1"), nullptr);
}

TEST(Walker, ADeviceThatVanishesMidWalkIsCounted) {
  FakeSysfsReader fs = SataTree();
  AddDisk(fs, "virtual", "loop0", "7:0", 100);
  fs.AddFile("sys/devices/virtual/block/loop0/loop/backing_file", "/tmp/x\n");
  bool removed = false;
  fs.SetAccessHook([&](std::string_view path) {
    if (!removed && path == "sys/devices/virtual/block/loop0/dev") {
      removed = true;
      fs.Remove("sys/devices/virtual/block/loop0");
      fs.Remove("sys/block/loop0");
    }
  });
  Inventory inv = Walker(fs, {}).WalkAll();
  EXPECT_EQ(inv.FindByName("loop0"), nullptr);
  EXPECT_EQ(inv.stats().vanished, 1u);
  EXPECT_FALSE(inv.stats().complete());
  EXPECT_NE(inv.FindByName("sda"), nullptr);
}

TEST(Walker, AnUnlistableRootIsAWalkError) {
  FakeSysfsReader fs;
  Inventory inv = Walker(fs, {}).WalkAll();
  EXPECT_EQ(inv.stats().walk_errors, 1u);
  EXPECT_FALSE(inv.stats().complete());
  ASSERT_EQ(inv.stats().messages.size(), 1u);
  EXPECT_NE(inv.stats().messages[0].find("sys/block"), std::string::npos);
}

TEST(Walker, EmptyLoopDevicesAreHiddenUnlessAll) {
  FakeSysfsReader fs;
  AddDisk(fs, "virtual", "loop3", "7:3", 0);
  EXPECT_EQ(Walker(fs, {}).WalkAll().size(), 0u);
  EXPECT_EQ(Walker(fs, {.all = true}).WalkAll().size(), 1u);
}

TEST(Walker, DmMultipathNamesTypesAndStacking) {
  FakeSysfsReader fs;
  AddDisk(fs, "virtual", "dm-0", "253:0", 4096);
  fs.AddFile("sys/devices/virtual/block/dm-0/dm/name", "mpatha\n");
  fs.AddFile("sys/devices/virtual/block/dm-0/dm/uuid", "mpath-3600140512345\n");
  fs.AddFile("sys/devices/virtual/block/dm-0/dm/suspended", "0\n");
  fs.AddSymlink("sys/devices/virtual/block/dm-0/slaves/sdb", "../../../../pci/block/sdb");
  fs.AddSymlink("sys/devices/virtual/block/dm-0/slaves/sdc", "../../../../pci/block/sdc");
  Inventory inv = Walker(fs, {}).WalkAll();
  const BlockDevice* dm = inv.FindByName("dm-0");
  ASSERT_NE(dm, nullptr);
  EXPECT_EQ(dm->name, "mpatha");
  EXPECT_EQ(dm->path, "/dev/mapper/mpatha");
  EXPECT_EQ(dm->type, "mpath");
  EXPECT_EQ(*dm->state, "running");
  EXPECT_EQ(dm->slaves, (std::vector<std::string>{"sdb", "sdc"}));
  EXPECT_EQ(dm->pkname, "sdb");
}

TEST(Walker, NvmeNativeMultipathHeadListsPathsAndHidesThem) {
  FakeSysfsReader fs;
  std::string head = AddDisk(fs, "virtual/nvme-subsystem/nvme-subsys0", "nvme0n1", "259:0", 8192);
  fs.AddSymlink(head + "/device", "../../../nvme-subsys0");
  fs.AddFile(head + "/eui", "0011223344556677\n");
  fs.AddFile(head + "/nsid", "1\n");
  fs.AddFile(head + "/wwid", "eui.0011223344556677\n");
  std::string subsys = "sys/devices/virtual/nvme-subsystem/nvme-subsys0";
  fs.AddFile(subsys + "/model", "QEMU NVMe Ctrl\n");
  fs.AddFile(subsys + "/serial", "deadbeef\n");
  fs.AddFile(subsys + "/firmware_rev", "8.0.0\n");
  fs.AddFile(subsys + "/subsysnqn", "nqn.2019-08.org.qemu:subsys0\n");
  for (const char* c : {"nvme0", "nvme1"}) {
    std::string ctrl = std::string("sys/devices/pci0000:00/") + c;
    fs.AddFile(ctrl + "/transport", "pcie\n");
    fs.AddSymlink(subsys + "/" + c, "../../../pci0000:00/" + std::string(c));
  }
  for (const char* p : {"nvme0c0n1", "nvme0c1n1"}) {
    std::string dir = AddDisk(fs, "pci0000:00/nvme0", p, "0:0", 8192);
    fs.AddFile(dir + "/hidden", "1\n");
    fs.AddSymlink(head + "/multipath/" + p,
                  "../../../../../pci0000:00/nvme0/block/" + std::string(p));
  }
  Inventory inv = Walker(fs, {}).WalkAll();
  ASSERT_EQ(inv.size(), 1u);
  const BlockDevice& d = inv.devices()[0];
  ASSERT_TRUE(d.nvme.has_value());
  EXPECT_EQ(*d.tran, "nvme");
  EXPECT_EQ(d.nvme->subsystem, "nvme-subsys0");
  EXPECT_EQ(d.nvme->paths, (std::vector<std::string>{"nvme0c0n1", "nvme0c1n1"}));
  EXPECT_EQ(d.nvme->controllers, (std::vector<std::string>{"nvme0", "nvme1"}));
  EXPECT_EQ(*d.nvme->transport, "pcie");
  EXPECT_EQ(*d.nvme->eui64, "0011223344556677");
  EXPECT_EQ(*d.model, "QEMU NVMe Ctrl");
  EXPECT_EQ(*d.serial, "deadbeef");
  EXPECT_EQ(*d.firmware_rev, "8.0.0");
  // No udev record: the WWN comes from sysfs wwid, as udev's ID_WWN would (verbatim).
  EXPECT_EQ(*d.wwn, "eui.0011223344556677");
  // --all shows the hidden paths too.
  EXPECT_EQ(Walker(fs, {.all = true}).WalkAll().size(), 3u);
}

TEST(Walker, ProbeOneDeviceByName) {
  FakeSysfsReader fs = SataTree();
  Walker w(fs, {});
  auto p = w.Probe("sda1");
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->pkname, "sda");
  EXPECT_EQ(*p->queue->logical_block_size, 512u);
  auto d = w.Probe("sda");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->kname, "sda");
  EXPECT_EQ(w.Probe("sdq").status().code(), ENOENT);
}

// nvme0n1 on controller nvme0 (PCIe, no native multipath head) in nvme-subsys0, and `others`
// more subsystems with a controller each.
FakeSysfsReader NvmeTree(int others) {
  FakeSysfsReader fs;
  const std::string ctrl = "sys/devices/pci0000:00/0000:00:04.0/nvme/nvme0";
  std::string dir = AddDisk(fs, "pci0000:00/0000:00:04.0/nvme/nvme0", "nvme0n1", "259:0", 8192);
  fs.AddSymlink(dir + "/device", "../../../nvme0");
  fs.AddFile(dir + "/nsid", "1\n");
  fs.AddFile(ctrl + "/serial", "S0001   \n");
  fs.AddFile(ctrl + "/model", "LAB NVME\n");
  fs.AddFile(ctrl + "/firmware_rev", "1.0\n");
  fs.AddFile(ctrl + "/transport", "pcie\n");
  for (int k = 0; k <= others; ++k) {
    std::string sub = "nvme-subsys" + std::to_string(k);
    fs.AddSymlink("sys/class/nvme-subsystem/" + sub, "../../devices/virtual/nvme-subsystem/" + sub);
    // nvme0 is in nvme-subsys0; nvme<k> in the others.
    fs.AddSymlink("sys/devices/virtual/nvme-subsystem/" + sub + "/nvme" + std::to_string(k),
                  "../../../pci0000:00/0000:00:04.0/nvme/nvme" + std::to_string(k));
  }
  return fs;
}

// An event re-probes one device: finding its controller's subsystem must not list every NVMe
// subsystem of the node again (10,000 of them on a big node), but a controller name that was
// reused for another subsystem after a hot-remove must not keep the old answer.
TEST(Walker, ProbeFindsAnNvmeSubsystemWithoutListingThemAll) {
  FakeSysfsReader fs = NvmeTree(50);
  int subsystem_accesses = 0;
  fs.SetAccessHook([&](std::string_view path) {
    if (path.starts_with("sys/class/nvme-subsystem")) ++subsystem_accesses;
  });
  Walker w(fs, {});
  auto first = w.Probe("nvme0n1");
  ASSERT_TRUE(first.ok()) << first.status().message();
  ASSERT_TRUE(first->nvme);
  EXPECT_EQ(first->nvme->subsystem, "nvme-subsys0");
  EXPECT_GT(subsystem_accesses, 50);  // the first lookup lists them
  subsystem_accesses = 0;
  auto second = w.Probe("nvme0n1");
  ASSERT_TRUE(second.ok() && second->nvme);
  EXPECT_EQ(second->nvme->subsystem, "nvme-subsys0");
  EXPECT_LE(subsystem_accesses, 2);  // one check that nvme-subsys0 still has nvme0
  // nvme0 went away and its name came back in another subsystem.
  fs.Remove("sys/devices/virtual/nvme-subsystem/nvme-subsys0/nvme0");
  fs.AddSymlink("sys/devices/virtual/nvme-subsystem/nvme-subsys7/nvme0",
                "../../../pci0000:00/0000:00:04.0/nvme/nvme0");
  auto moved = w.Probe("nvme0n1");
  ASSERT_TRUE(moved.ok() && moved->nvme);
  EXPECT_EQ(moved->nvme->subsystem, "nvme-subsys7");
  // A walk gives what the probes gave.
  auto walked = w.WalkAll();
  ASSERT_EQ(walked.size(), 1u);
  ASSERT_TRUE(walked.devices()[0].nvme);
  EXPECT_EQ(walked.devices()[0].nvme->subsystem, "nvme-subsys7");
  // Names of another form than the kernel's nvme<N> / nvme-subsys<N> are kept too.
  fs.Remove("sys/devices/virtual/nvme-subsystem/nvme-subsys7/nvme0");
  fs.AddSymlink("sys/class/nvme-subsystem/nvme-subsys07",
                "../../devices/virtual/nvme-subsystem/nvme-subsys07");
  fs.AddSymlink("sys/devices/virtual/nvme-subsystem/nvme-subsys07/nvme0",
                "../../../pci0000:00/0000:00:04.0/nvme/nvme0");
  auto odd = w.Probe("nvme0n1");
  ASSERT_TRUE(odd.ok() && odd->nvme);
  EXPECT_EQ(odd->nvme->subsystem, "nvme-subsys07");
  subsystem_accesses = 0;
  odd = w.Probe("nvme0n1");
  ASSERT_TRUE(odd.ok() && odd->nvme);
  EXPECT_EQ(odd->nvme->subsystem, "nvme-subsys07");
  EXPECT_LE(subsystem_accesses, 2);
}

// DISKINV_IGNORE=1 in a udev record (rules/60-diskinv.rules): with skip_ignored, the disk and
// its partitions are not listed, in walks and for single probes; a partition ignored on its
// own goes alone. Without the option (`diskinv scan`) everything is listed, as in lsblk.
TEST(Walker, SkipIgnoredLeavesOutWhatUdevIgnores) {
  FakeSysfsReader fs = SataTree();
  std::string sdb = AddDisk(fs, "virtual", "sdb", "8:16", 4096);
  AddPart(fs, sdb, "sdb1", "8:17", 1, 2048);
  AddPart(fs, sdb, "sdb2", "8:18", 2, 4096);
  fs.AddFile("run/udev/data/b8:0", "E:ID_SERIAL=X\nE:DISKINV_IGNORE=1\nG:systemd\n");
  fs.AddFile("run/udev/data/b8:1", "E:DISKINV_IGNORE=1\n");
  fs.AddFile("run/udev/data/b8:16", "E:DISKINV_IGNORE=0\nG:diskinv\n");
  fs.AddFile("run/udev/data/b8:18", "E:DISKINV_IGNORE=1\n");
  auto names = [](const Inventory& inv) {
    std::vector<std::string> out;
    for (const BlockDevice& d : inv.devices()) out.push_back(d.kname);
    return out;
  };
  Walker all(fs, {});
  EXPECT_EQ(names(all.WalkAll()), (std::vector<std::string>{"sda", "sda1", "sdb", "sdb1", "sdb2"}));
  Walker agent(fs, {.skip_ignored = true});
  EXPECT_EQ(names(agent.WalkAll()), (std::vector<std::string>{"sdb", "sdb1"}));
  auto sda = agent.Probe("sda");
  ASSERT_TRUE(sda.ok());
  EXPECT_TRUE(IgnoredByUdev(*sda));
  EXPECT_FALSE(agent.Listed(*sda));
  EXPECT_TRUE(all.Listed(*sda));
  auto sdb2 = agent.Probe("sdb2");
  ASSERT_TRUE(sdb2.ok());
  EXPECT_FALSE(agent.Listed(*sdb2));
  auto sdb_dev = agent.Probe("sdb");
  ASSERT_TRUE(sdb_dev.ok());
  EXPECT_FALSE(IgnoredByUdev(*sdb_dev));  // only "1" ignores
  EXPECT_TRUE(agent.Listed(*sdb_dev));
  // A partition whose own record does not say it yet: its disk's record decides.
  fs.AddFile("run/udev/data/b8:1", "E:ID_PART_ENTRY_NUMBER=1\n");
  auto sda1 = agent.Probe("sda1");
  ASSERT_TRUE(sda1.ok());
  EXPECT_FALSE(IgnoredByUdev(*sda1));
  EXPECT_FALSE(agent.Listed(*sda1));
  EXPECT_TRUE(all.Listed(*sda1));
  EXPECT_TRUE(agent.Listed(*agent.Probe("sdb1")));
}

}  // namespace
}  // namespace diskinv
