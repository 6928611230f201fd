// CaptureTree over a small hand-made source tree: what is copied, how links are rebuilt, what
// is skipped and counted, and the dev/<name> property files lsblk --sysroot reads.
#include "sysfs/capture.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

namespace diskinv {
namespace {

namespace fs = std::filesystem;

const char kScsiDev[] = "sys/devices/pci0000:00/0000:00:01.0/host0/target0:0:0/0:0:0:0";
const char kSda[] = "sys/devices/pci0000:00/0000:00:01.0/host0/target0:0:0/0:0:0:0/block/sda";

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "capture_test.XXXXXX").string();
    char* p = mkdtemp(tmpl.data());
    if (p == nullptr) {
      std::abort();
    }
    path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void WriteFile(const fs::path& p, const std::string& data, mode_t mode = 0644) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << data;
  ASSERT_EQ(chmod(p.c_str(), mode), 0) << p;
}

void Link(const std::string& target, const fs::path& p) {
  fs::create_directories(p.parent_path());
  ASSERT_EQ(symlink(target.c_str(), p.c_str()), 0) << p << ": " << std::strerror(errno);
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string ReadLink(const fs::path& p) {
  char buf[4096];
  ssize_t n = readlink(p.c_str(), buf, sizeof(buf));
  return n < 0 ? std::string("<not a link>") : std::string(buf, static_cast<size_t>(n));
}

bool Exists(const fs::path& p) {
  struct stat st{};
  return lstat(p.c_str(), &st) == 0;
}

bool HasWarning(const CaptureReport& r, const std::string& needle) {
  return std::any_of(r.warnings.begin(), r.warnings.end(),
                     [&](const std::string& w) { return w.find(needle) != std::string::npos; });
}

// A SCSI disk with one partition under a PCI host, a dm device, a device reached by an absolute
// link, plus every kind of bad entry the capture must survive.
void BuildSource(const fs::path& root) {
  const fs::path sda = root / kSda;
  const fs::path scsi = root / kScsiDev;
  const fs::path host = root / "sys/devices/pci0000:00/0000:00:01.0/host0";
  const fs::path pci = root / "sys/devices/pci0000:00/0000:00:01.0";

  WriteFile(sda / "dev", "8:0\n");
  WriteFile(sda / "size", "2048\n");
  WriteFile(sda / "ro", "0\n");
  WriteFile(sda / "removable", "0\n");
  WriteFile(sda / "uevent", "MAJOR=8\nMINOR=0\nDEVNAME=sda\nDEVTYPE=disk\n");
  WriteFile(sda / "queue/logical_block_size", "512\n");
  WriteFile(sda / "queue/rotational", "1\n");
  WriteFile(sda / "queue/scheduler", "none [mq-deadline]\n");
  WriteFile(sda / "queue/iosched/read_expire", "500\n");
  WriteFile(sda / "mq/0/cpu_list", "0, 1\n");
  WriteFile(sda / "power/control", "auto\n");
  WriteFile(sda / "trace/enable", "0\n");
  fs::create_directories(sda / "holders");
  fs::create_directories(sda / "slaves");
  WriteFile(sda / "sda1/dev", "8:1\n");
  WriteFile(sda / "sda1/partition", "1\n");
  WriteFile(sda / "sda1/start", "2048\n");
  WriteFile(sda / "sda1/size", "1024\n");
  WriteFile(sda / "sda1/power/control", "auto\n");
  Link("../../../0:0:0:0", sda / "device");
  Link("../../../../../../../../class/block", sda / "subsystem");  // dangling in the source too
  Link("selfloop", sda / "selfloop");                              // a link loop, never followed
  Link("../sda", sda / "up");                                      // a directory loop
  WriteFile(sda / "wronly", "x\n", 0200);
  WriteFile(sda / "big", std::string(300, 'b'));

  WriteFile(scsi / "vendor", "ATA     \n");
  WriteFile(scsi / "model", "FAKE DISK       \n");
  WriteFile(scsi / "rev", "1.0 \n");
  WriteFile(scsi / "vpd_pg83", std::string("\x00\x83\x00\x0c\x01\x03\x00\x08\x50\x00\x0c\x29", 12));
  WriteFile(scsi / "scsi_disk/0:0:0:0/FUA", "0\n");  // a sibling subdir: not copied
  Link("../../../../../../bus/scsi", scsi / "subsystem");
  WriteFile(host / "scsi_host/host0/proc_name", "ahci\n");
  WriteFile(host / "uevent", "DEVTYPE=scsi_host\n");
  WriteFile(pci / "vendor", "0x8086\n");
  WriteFile(pci / "resource0", "never read\n");
  WriteFile(pci / "config", "never read\n");
  WriteFile(pci / "remove", "", 0200);

  const fs::path dm = root / "sys/devices/virtual/block/dm-0";
  WriteFile(dm / "dev", "254:0\n");
  WriteFile(dm / "size", "100\n");
  WriteFile(dm / "dm/name", "vg-root\n");
  WriteFile(dm / "dm/uuid", "LVM-abc\n");
  const fs::path loop9 = root / "sys/devices/virtual/block/loop9";
  WriteFile(loop9 / "dev", "7:9\n");
  WriteFile(loop9 / "loop/backing_file", "/img\n");

  const std::string sda_rel = "../../" + std::string(kSda).substr(4);
  Link("../devices/pci0000:00/0000:00:01.0/host0/target0:0:0/0:0:0:0/block/sda",
       root / "sys/block/sda");
  Link("../devices/virtual/block/dm-0", root / "sys/block/dm-0");
  Link(sda_rel, root / "sys/class/block/sda");
  Link(sda_rel + "/sda1", root / "sys/class/block/sda1");
  Link("/sys/devices/virtual/block/loop9", root / "sys/class/block/loop9");  // absolute
  Link("loopy2", root / "sys/class/block/loopy");
  Link("loopy", root / "sys/class/block/loopy2");
  Link("../../devices/virtual/block/gone", root / "sys/class/block/gone");
  Link(sda_rel, root / "sys/dev/block/8:0");
  Link(sda_rel + "/sda1", root / "sys/dev/block/8:1");
  Link("../../devices/virtual/block/dm-0", root / "sys/dev/block/254:0");
  Link("../../devices/pci0000:00/0000:00:01.0/host0/scsi_host/host0",
       root / "sys/class/scsi_host/host0");
  Link("../../../devices/pci0000:00/0000:00:01.0/host0/target0:0:0/0:0:0:0",
       root / "sys/bus/scsi/devices/0:0:0:0");

  // udev lists ID_SERIAL before ID_SERIAL_SHORT and ID_WWN before ID_WWN_WITH_EXTENSION; lsblk's
  // udev reader prefers the latter of each, its fake-file reader takes the first line.
  WriteFile(root / "run/udev/data/b8:0",
            "S:disk/by-id/ata-FAKE_DISK_S123\n"
            "I:123\n"
            "E:ID_MODEL=FAKE_DISK\n"
            "E:ID_MODEL_ENC=FAKE\\x20DISK\\x20\\x20\\x20\n"
            "E:ID_SERIAL=FAKE_DISK_S123\n"
            "E:ID_SERIAL_SHORT=S123\n"
            "E:ID_WWN=0x5000c29\n"
            "E:ID_WWN_WITH_EXTENSION=0x5000c29ext\n"
            "G:systemd\n");
  WriteFile(root / "run/udev/data/b254:0", "E:DM_NAME=vg-root\nE:ID_FS_TYPE=ext4\n");
  WriteFile(root / "run/udev/data/b7:1", "E:UNRELATED=1\n");  // not a captured device
}

class CaptureTest : public ::testing::Test {
 protected:
  void SetUp() override { BuildSource(src_.path()); }
  Result<CaptureReport> Capture(size_t max_bytes = 256) {
    CaptureOptions o;
    o.source_root = src_.path().string();
    o.output_dir = (out_.path() / "cap").string();
    o.max_file_bytes = max_bytes;
    return CaptureTree(o);
  }
  fs::path Out(const std::string& rel) const { return out_.path() / "cap" / rel; }

  TempDir src_, out_;
};

TEST_F(CaptureTest, CopiesDeviceAttributesAndSubdirs) {
  auto r = Capture();
  ASSERT_TRUE(r.ok()) << r.status().message();
  const std::string sda = kSda;
  EXPECT_EQ(ReadFile(Out(sda + "/size")), "2048\n");
  EXPECT_EQ(ReadFile(Out(sda + "/uevent")), "MAJOR=8\nMINOR=0\nDEVNAME=sda\nDEVTYPE=disk\n");
  EXPECT_EQ(ReadFile(Out(sda + "/queue/scheduler")), "none [mq-deadline]\n");
  EXPECT_EQ(ReadFile(Out(sda + "/queue/iosched/read_expire")), "500\n");
  EXPECT_EQ(ReadFile(Out(sda + "/sda1/start")), "2048\n");
  EXPECT_TRUE(fs::is_directory(Out(sda + "/holders")));
  EXPECT_TRUE(fs::is_directory(Out(sda + "/slaves")));
  EXPECT_EQ(ReadFile(Out("sys/devices/virtual/block/dm-0/dm/name")), "vg-root\n");
  // Large or runtime-only subtrees are left out.
  EXPECT_FALSE(Exists(Out(sda + "/mq")));
  EXPECT_FALSE(Exists(Out(sda + "/power")));
  EXPECT_FALSE(Exists(Out(sda + "/trace")));
  EXPECT_FALSE(Exists(Out(sda + "/sda1/power")));
  EXPECT_GT(r->files, 20u);
  EXPECT_GT(r->dirs, 10u);
}

TEST_F(CaptureTest, AncestorsKeepOnlyTheirOwnAttributes) {
  auto r = Capture();
  ASSERT_TRUE(r.ok()) << r.status().message();
  const std::string scsi = kScsiDev;
  EXPECT_EQ(ReadFile(Out(scsi + "/vendor")), "ATA     \n");
  EXPECT_EQ(ReadFile(Out(scsi + "/model")), "FAKE DISK       \n");
  // Binary attributes are copied byte for byte.
  EXPECT_EQ(ReadFile(Out(scsi + "/vpd_pg83")),
            std::string("\x00\x83\x00\x0c\x01\x03\x00\x08\x50\x00\x0c\x29", 12));
  EXPECT_FALSE(Exists(Out(scsi + "/scsi_disk")));
  EXPECT_EQ(ReadFile(Out("sys/devices/pci0000:00/0000:00:01.0/vendor")), "0x8086\n");
  EXPECT_EQ(ReadFile(Out("sys/devices/pci0000:00/0000:00:01.0/host0/uevent")),
            "DEVTYPE=scsi_host\n");
  // Reached through sys/class/scsi_host/host0.
  EXPECT_EQ(ReadFile(Out("sys/devices/pci0000:00/0000:00:01.0/host0/scsi_host/host0/proc_name")),
            "ahci\n");
  // Never opened: reading PCI resources/config has effects or no value.
  EXPECT_FALSE(Exists(Out("sys/devices/pci0000:00/0000:00:01.0/resource0")));
  EXPECT_FALSE(Exists(Out("sys/devices/pci0000:00/0000:00:01.0/config")));
}

TEST_F(CaptureTest, RebuildsSymlinksAsTheSameRelativeLinks) {
  auto r = Capture();
  ASSERT_TRUE(r.ok()) << r.status().message();
  for (const char* link :
       {"sys/block/sda", "sys/block/dm-0", "sys/class/block/sda", "sys/class/block/sda1",
        "sys/dev/block/8:0", "sys/dev/block/8:1", "sys/class/scsi_host/host0",
        "sys/bus/scsi/devices/0:0:0:0", "sys/class/block/loopy", "sys/class/block/gone"}) {
    EXPECT_EQ(ReadLink(Out(link)), ReadLink(src_.path() / link)) << link;
  }
  const std::string sda = kSda;
  EXPECT_EQ(ReadLink(Out(sda + "/device")), "../../../0:0:0:0");
  EXPECT_EQ(ReadLink(Out(sda + "/subsystem")), "../../../../../../../../class/block");
  EXPECT_EQ(ReadLink(Out(sda + "/selfloop")), "selfloop");
  EXPECT_EQ(ReadLink(Out(sda + "/up")), "../sda");
  // The links resolve inside the capture.
  EXPECT_EQ(ReadFile(Out("sys/dev/block/8:1/partition")), "1\n");
  EXPECT_EQ(ReadFile(Out("sys/block/sda/device/rev")), "1.0 \n");
  // An absolute link would point at the host once the fixture moves: it becomes relative.
  EXPECT_EQ(ReadLink(Out("sys/class/block/loop9")), "../../devices/virtual/block/loop9");
  EXPECT_EQ(ReadFile(Out("sys/class/block/loop9/loop/backing_file")), "/img\n");
  EXPECT_GE(r->symlinks, 16u);
}

TEST_F(CaptureTest, SkipsAndCountsWhatCannotBeCopied) {
  auto r = Capture(/*max_bytes=*/256);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const std::string sda = kSda;
  EXPECT_FALSE(Exists(Out(sda + "/wronly")));
  EXPECT_FALSE(Exists(Out(sda + "/big")));
  EXPECT_FALSE(Exists(Out("sys/devices/pci0000:00/0000:00:01.0/remove")));
  EXPECT_TRUE(HasWarning(*r, sda + "/wronly: write-only"));
  EXPECT_TRUE(HasWarning(*r, "0000:00:01.0/remove: write-only"));
  EXPECT_TRUE(HasWarning(*r, sda + "/big: larger than 256 bytes"));
  EXPECT_TRUE(HasWarning(*r, "sys/class/block/loopy: cannot resolve"));
  EXPECT_TRUE(HasWarning(*r, "sys/class/block/loopy2: cannot resolve"));
  EXPECT_TRUE(HasWarning(*r, "sys/class/block/gone: cannot resolve"));
  // wronly, remove, big, loopy, loopy2, gone.
  EXPECT_EQ(r->skipped, 6u) << ::testing::PrintToString(r->warnings);
  EXPECT_EQ(r->warnings.size(), 6u);

  // With a larger bound the big file is copied.
  TempDir out2;
  CaptureOptions o;
  o.source_root = src_.path().string();
  o.output_dir = (out2.path() / "cap").string();
  o.max_file_bytes = 4096;
  auto r2 = CaptureTree(o);
  ASSERT_TRUE(r2.ok()) << r2.status().message();
  EXPECT_EQ(ReadFile(out2.path() / "cap" / sda / "big"), std::string(300, 'b'));
  EXPECT_EQ(r2->skipped, 5u);
}

TEST_F(CaptureTest, CopiesUdevRecordsAndWritesLsblkPropertyFiles) {
  // A block node for sda, when the test may create one: MODE/OWNER/GROUP come from it.
  fs::create_directories(src_.path() / "dev");
  const fs::path node = src_.path() / "dev/sda";
  bool have_node = mknod(node.c_str(), S_IFBLK | 0660, makedev(8, 0)) == 0 &&
                   chmod(node.c_str(), 0660) == 0;  // past the umask

  auto r = Capture();
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(ReadFile(Out("run/udev/data/b8:0")), ReadFile(src_.path() / "run/udev/data/b8:0"));
  EXPECT_TRUE(Exists(Out("run/udev/data/b254:0")));
  EXPECT_FALSE(Exists(Out("run/udev/data/b7:1")));

  std::string props = ReadFile(Out("dev/sda"));
  std::string expected_head;
  if (have_node) {
    expected_head = "MODE=brw-rw----\n";
  }
  EXPECT_EQ(props.substr(0, expected_head.size()), expected_head) << props;
  // lsblk's udev reader: decoded, whitespace-normalized ID_MODEL_ENC; ID_SERIAL_SHORT over
  // ID_SERIAL; ID_WWN_WITH_EXTENSION over ID_WWN. These lead, so the first match is the same.
  auto at = [&](const std::string& line) { return props.find(line + "\n"); };
  ASSERT_NE(at("ID_MODEL=FAKE DISK"), std::string::npos) << props;
  ASSERT_NE(at("ID_SERIAL_SHORT=S123"), std::string::npos) << props;
  ASSERT_NE(at("ID_WWN_WITH_EXTENSION=0x5000c29ext"), std::string::npos) << props;
  EXPECT_LT(at("ID_MODEL=FAKE DISK"), at("ID_MODEL=FAKE_DISK"));
  EXPECT_LT(at("ID_SERIAL_SHORT=S123"), at("ID_SERIAL=FAKE_DISK_S123"));
  EXPECT_LT(at("ID_WWN_WITH_EXTENSION=0x5000c29ext"), at("ID_WWN=0x5000c29"));
  // Every E: property is kept; S:/I:/G: lines are not properties.
  EXPECT_NE(at("ID_MODEL_ENC=FAKE\\x20DISK\\x20\\x20\\x20"), std::string::npos);
  EXPECT_EQ(props.find("disk/by-id"), std::string::npos);
  // dm devices are named by their dm name, as lsblk's /dev/mapper path.
  EXPECT_EQ(ReadFile(Out("dev/mapper/vg-root")), "DM_NAME=vg-root\nID_FS_TYPE=ext4\n");
  EXPECT_FALSE(Exists(Out("dev/dm-0")));
  // No record and no node: no property file.
  EXPECT_FALSE(Exists(Out("dev/sda1")));
}

TEST_F(CaptureTest, LsblkReadsTheCaptureAsItsUdevModeWould) {
  if (access("/usr/bin/lsblk", X_OK) != 0) {
    GTEST_SKIP() << "lsblk is not installed";
  }
  auto r = Capture();
  ASSERT_TRUE(r.ok()) << r.status().message();
  std::string cmd = "/usr/bin/lsblk --sysroot '" + Out("").string() +
                    "' -J -b -o NAME,SIZE,MODEL,SERIAL,WWN,VENDOR,REV,HCTL,TYPE 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof(buf), p)) {
    out.append(buf, n);
  }
  ASSERT_EQ(pclose(p), 0) << out;
  auto j = nlohmann::json::parse(out);
  const nlohmann::json* sda = nullptr;
  for (const auto& d : j["blockdevices"]) {
    if (d["name"] == "sda") {
      sda = &d;
    }
  }
  ASSERT_NE(sda, nullptr) << out;
  EXPECT_EQ((*sda)["size"], 2048 * 512);
  EXPECT_EQ((*sda)["model"], "FAKE DISK");
  EXPECT_EQ((*sda)["serial"], "S123");
  EXPECT_EQ((*sda)["wwn"], "0x5000c29ext");
  EXPECT_EQ((*sda)["vendor"], "ATA     ");
  EXPECT_EQ((*sda)["hctl"], "0:0:0:0");
  ASSERT_TRUE(sda->contains("children")) << out;
  EXPECT_EQ((*sda)["children"][0]["name"], "sda1");
}

TEST_F(CaptureTest, RefusesANonEmptyOutputDirectory) {
  const fs::path out = out_.path() / "cap";
  WriteFile(out / "keep.txt", "mine\n");
  auto r = Capture();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ENOTEMPTY);
  EXPECT_NE(r.status().message().find(out.string()), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("not empty"), std::string::npos);
  EXPECT_EQ(ReadFile(out / "keep.txt"), "mine\n");
  EXPECT_FALSE(Exists(out / "sys"));
}

TEST_F(CaptureTest, CreatesAMissingOutputDirectoryAndAcceptsAnEmptyOne) {
  CaptureOptions o;
  o.source_root = src_.path().string();
  o.output_dir = (out_.path() / "a/b/c").string();
  ASSERT_TRUE(CaptureTree(o).ok());
  EXPECT_TRUE(Exists(out_.path() / "a/b/c/sys/block/sda"));
  fs::create_directories(out_.path() / "empty");
  o.output_dir = (out_.path() / "empty").string();
  EXPECT_TRUE(CaptureTree(o).ok());
}

TEST(CaptureErrors, BadRootsAreErrorsNotCrashes) {
  TempDir out, empty_root;
  CaptureOptions o;
  o.source_root = (out.path() / "does-not-exist").string();
  o.output_dir = (out.path() / "cap1").string();
  auto r = CaptureTree(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ENOENT);
  EXPECT_NE(r.status().message().find("does-not-exist"), std::string::npos);

  o.source_root = empty_root.path().string();  // exists, but holds no sysfs
  o.output_dir = (out.path() / "cap2").string();
  r = CaptureTree(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("sys/block"), std::string::npos);

  o.output_dir.clear();
  EXPECT_FALSE(CaptureTree(o).ok());
}

// A file whose open fails (EACCES) is skipped and counted. Root reads everything, so as root the
// capture runs in a child that has dropped to nobody.
TEST(CaptureUnreadable, UnreadableFileIsSkippedAndCounted) {
  TempDir src, out;
  const bool root = geteuid() == 0;
  const fs::path dev = src.path() / "sys/devices/virtual/block/ram0";
  WriteFile(dev / "dev", "1:0\n");
  // Read bits set (so it is not write-only) but none for whoever runs the capture.
  WriteFile(dev / "secret", "s\n", root ? 0600 : 0044);
  Link("../devices/virtual/block/ram0", src.path() / "sys/block/ram0");
  const fs::path cap = out.path() / "cap";
  fs::create_directories(cap);
  if (root) {
    ASSERT_EQ(chmod(src.path().c_str(), 0755), 0);
    ASSERT_EQ(chmod(out.path().c_str(), 0755), 0);
    ASSERT_EQ(chown(cap.c_str(), 65534, 65534), 0);
  }
  auto run = [&]() -> int {
    if (root && (setgid(65534) != 0 || setuid(65534) != 0)) {
      return 3;
    }
    CaptureOptions o;
    o.source_root = src.path().string();
    o.output_dir = cap.string();
    auto r = CaptureTree(o);
    if (!r.ok()) {
      return 4;
    }
    if (r->skipped != 1 || !HasWarning(*r, "ram0/secret: Permission denied")) {
      return 5;
    }
    if (Exists(cap / "sys/devices/virtual/block/ram0/secret")) {
      return 6;
    }
    if (ReadFile(cap / "sys/devices/virtual/block/ram0/dev") != "1:0\n") {
      return 7;
    }
    return 0;
  };
  if (!root) {
    EXPECT_EQ(run(), 0);
    return;
  }
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    _exit(run());
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "3: setuid, 4: capture failed, 5: wrong skip count, "
                                       "6: file copied, 7: readable file missing";
}

}  // namespace
}  // namespace diskinv
