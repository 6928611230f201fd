// The walker on trees captured in the QEMU lab (fixtures/sysfs/qemu-*, tests/lab): what Debian
// 12's 6.1 kernel really shows for NVMe multipath, CD-ROMs, SATA disks without a WWN and
// parallel SCSI, where hand-built trees had guessed differently.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/lsblk_compare.h"
#include "sysfs/capture.h"
#include "sysfs/fake_sysfs_reader.h"
#include "sysfs/real_sysfs_reader.h"
#include "sysfs/walker.h"

namespace diskinv {
namespace {

namespace fs = std::filesystem;

std::string Fixture(const std::string& name) {
  return testing::SourceDir() + "/fixtures/sysfs/" + name;
}

Inventory WalkTree(const std::string& root) {
  auto reader = RealSysfsReader::Open(root);
  EXPECT_TRUE(reader.ok()) << root;
  if (!reader.ok()) return Inventory();
  return Walker(**reader, {}).WalkAll();
}

// Copies a captured tree into a FakeSysfsReader, so single files can be made to fail the way
// the kernel fails them (a capture cannot hold a read error).
void LoadTree(FakeSysfsReader& fake, const std::string& root) {
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
       ++it) {
    std::string rel = it->path().lexically_relative(root).string();  // links not followed
    if (it->is_symlink()) {
      fake.AddSymlink(rel, fs::read_symlink(it->path()).string());
    } else if (it->is_directory()) {
      fake.AddDir(rel);
    } else {
      std::ifstream f(it->path());
      std::stringstream ss;
      ss << f.rdbuf();
      fake.AddFile(rel, ss.str());
    }
  }
}

const BlockDevice* ByModel(const Inventory& inv, const std::string& model) {
  for (const auto& d : inv.devices()) {
    if (d.model == model) return &d;
  }
  return nullptr;
}

TEST(WalkerQemuLab, NvmeMultipathPathsWithoutMultipathLinks) {
  // Kernel 6.1: the heads have no multipath/ directory; each path nvme<S>c<C>n<N> sits under
  // its controller, which the subsystem links to.
  std::string root = Fixture("qemu-nvme-multipath");
  for (const auto& e : fs::directory_iterator(root + "/sys/block")) {
    ASSERT_FALSE(fs::exists(e.path() / "multipath")) << e.path();
  }
  Inventory inv = WalkTree(root);
  ASSERT_EQ(inv.size(), 2u);
  for (const auto& d : inv.devices()) {
    ASSERT_TRUE(d.nvme.has_value()) << d.kname;
    // Head nvme<S>n<N>: paths nvme<S>c0n<N>, nvme<S>c1n<N> (S follows probe order).
    size_t n = d.kname.rfind('n');
    std::string s = d.kname.substr(0, n), nsid = d.kname.substr(n);
    EXPECT_EQ(d.nvme->controllers, (std::vector<std::string>{"nvme0", "nvme1"})) << d.kname;
    EXPECT_EQ(d.nvme->paths, (std::vector<std::string>{s + "c0" + nsid, s + "c1" + nsid}))
        << d.kname;
    EXPECT_TRUE(d.errors.empty()) << d.kname;
  }
}

TEST(WalkerQemuLab, ScsiWwidWithoutIdentifierIsAbsentNotAnError) {
  // sd/sr's wwid attribute fails with ENXIO when the device has no VPD page 0x83 (ATAPI
  // ide-cd) and EINVAL when the page has no usable designator (virtio-scsi scsi-cd).
  FakeSysfsReader fake;
  LoadTree(fake, Fixture("qemu-optical"));
  Inventory clean = Walker(fake, {}).WalkAll();
  ASSERT_EQ(clean.size(), 2u);
  // The capture skipped the failing files; put them back as the kernel has them: failing.
  auto wwid_of = [](const BlockDevice& d) {
    return "sys" + d.devpath.substr(0, d.devpath.rfind("/block/")) + "/wwid";
  };
  for (const auto& d : clean.devices()) {
    ASSERT_FALSE(fs::exists(Fixture("qemu-optical") + "/" + wwid_of(d))) << d.kname;
    fake.AddFile(wwid_of(d), "");
    fake.SetError(wwid_of(d), d.tran == "sata" ? ENXIO : EINVAL);
  }
  Inventory inv = Walker(fake, {}).WalkAll();
  ASSERT_EQ(inv.size(), 2u);
  for (const auto& d : inv.devices()) {
    EXPECT_TRUE(d.errors.empty()) << d.kname << ": " << d.errors.front().message;
    EXPECT_FALSE(d.wwid.has_value()) << d.kname;
    EXPECT_FALSE(d.wwn.has_value()) << d.kname;
  }
  // Any other failure is still a field error.
  fake.SetError(wwid_of(inv.devices()[0]), EIO);
  Inventory bad = Walker(fake, {}).WalkAll();
  ASSERT_EQ(bad.devices()[0].errors.size(), 1u);
  EXPECT_EQ(bad.devices()[0].errors[0].field, "wwid");
  EXPECT_EQ(bad.devices()[0].errors[0].code, EIO);
}

TEST(WalkerQemuLab, T10VendorIdWwidIsNoWwn) {
  // An ATA disk without a WWN: its wwid is "t10.ATA <model> <serial>", udev sets no ID_WWN,
  // and lsblk's WWN is null; the disk with a WWN keeps it.
  Inventory inv = WalkTree(Fixture("qemu-sata-ahci"));
  const BlockDevice* ssd = ByModel(inv, "LAB SATA SSD");
  ASSERT_NE(ssd, nullptr);
  ASSERT_TRUE(ssd->wwid.has_value());
  EXPECT_EQ(ssd->wwid->rfind("t10.ATA", 0), 0u) << *ssd->wwid;
  EXPECT_FALSE(ssd->wwn.has_value()) << *ssd->wwn;
  const BlockDevice* hdd = ByModel(inv, "LAB SATA DISK");
  ASSERT_NE(hdd, nullptr);
  EXPECT_EQ(hdd->wwn, "0x50014ee2b5a1c3d4");
}

TEST(WalkerQemuLab, CaptureKeepsParallelScsiTransport) {
  // lsi53c895a (sym53c8xx) registers sys/class/spi_host/hostN: a capture of a capture must
  // still say "spi".
  std::string out =
      (fs::temp_directory_path() / ("walker_qemu_lab." + std::to_string(getpid()))).string();
  fs::remove_all(out);
  auto report = CaptureTree({.source_root = Fixture("qemu-scsi-hba"), .output_dir = out});
  ASSERT_TRUE(report.ok()) << report.status().message();
  Inventory inv = WalkTree(out);
  const BlockDevice* spi = ByModel(inv, "LABSPI");
  ASSERT_NE(spi, nullptr);
  EXPECT_EQ(spi->tran, "spi");
  fs::remove_all(out);
}

}  // namespace
}  // namespace diskinv
