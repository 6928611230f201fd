// RealSysfsReader on real directories: ListDir's one-getdents64 shortcut on sysfs and tmpfs
// (a fill short of the buffer is the end) must list exactly what readdir(3) lists, on small
// directories, on directories that take many fills, and on the live /sys; errors keep errno.
#include "sysfs/real_sysfs_reader.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace diskinv {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> Readdir(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (const dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(n);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> Names(const std::vector<DirEntry>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) out.push_back(e.name);
  return out;
}

class ScratchRoot {
 public:
  explicit ScratchRoot(const std::string& base) {
    std::string t = base + "/diskinv-reader.XXXXXX";
    if (mkdtemp(t.data()) != nullptr) path_ = t;
  }
  ~ScratchRoot() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Fills root/sys/<dir> with `n` entries whose names are `len` bytes long: files, directories
// and symlinks in turn, as in a sysfs device directory.
void Populate(const std::string& root, const std::string& dir, int n, size_t len) {
  std::string d = root + "/sys/" + dir;
  fs::create_directories(d);
  for (int i = 0; i < n; ++i) {
    std::string name = std::to_string(i);
    name.append(len > name.size() ? len - name.size() : 0, 'x');
    std::string p = d + "/" + name;
    if (i % 3 == 0) {
      std::ofstream(p) << i << "\n";
    } else if (i % 3 == 1) {
      fs::create_directory(p);
    } else {
      fs::create_symlink("../" + dir, p);
    }
  }
}

void ExpectListsLikeReaddir(const std::string& base) {
  ScratchRoot root(base);
  ASSERT_FALSE(root.path().empty()) << "mkdtemp in " << base << ": " << strerror(errno);
  Populate(root.path(), "empty", 0, 1);
  Populate(root.path(), "one", 1, 8);
  Populate(root.path(), "small", 12, 10);
  // 8 KiB buffer: 29 records of a 255-byte name per fill, so 300 of them take 11 fills, and
  // 60-byte names put fill ends at other offsets short of the buffer's end.
  Populate(root.path(), "long-names", 300, 255);
  Populate(root.path(), "mid-names", 400, 60);
  auto reader = RealSysfsReader::Open(root.path());
  ASSERT_TRUE(reader.ok()) << reader.status().message();
  SysfsReader& r = **reader;
  for (const char* dir : {"empty", "one", "small", "long-names", "mid-names"}) {
    std::string rel = std::string("sys/") + dir;
    auto got = r.ListDir(rel);
    ASSERT_TRUE(got.ok()) << rel << ": " << got.status().message();
    std::vector<std::string> want = Readdir(root.path() + "/" + rel);
    EXPECT_EQ(Names(*got), want) << rel << " under " << base;
    // Twice in a row: the directory handle cache must not change the answer.
    auto again = r.ListDir(rel);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(Names(*again), want);
  }
  auto types = r.ListDir("sys/small");
  ASSERT_TRUE(types.ok());
  ASSERT_EQ(types->size(), 12u);
  for (const auto& e : *types) {
    int i = std::stoi(e.name);
    EntryType want = i % 3 == 0   ? EntryType::kFile
                     : i % 3 == 1 ? EntryType::kDir
                                  : EntryType::kSymlink;
    EXPECT_EQ(e.type, want) << e.name;
  }
}

TEST(RealSysfsReader, ListDirOnTmpfsListsEveryEntry) {
  // /dev/shm is tmpfs on Debian: the reader ends a listing at the first short fill.
  ExpectListsLikeReaddir("/dev/shm");
}

TEST(RealSysfsReader, ListDirOnOtherFilesystemsListsEveryEntry) {
  // /var/tmp is on the root filesystem (ext4 here): every listing reads to the empty fill.
  ExpectListsLikeReaddir("/var/tmp");
}

TEST(RealSysfsReader, ListDirOfLiveSysfsMatchesReaddir) {
  auto reader = RealSysfsReader::Open("/");
  ASSERT_TRUE(reader.ok());
  SysfsReader& r = **reader;
  // sys/class/block has every block device; sys/devices/virtual/block has a few; the device
  // directory of the first disk (sys/block/X is a symlink to it) has ~20 attributes and
  // subdirectories.
  std::vector<std::string> dirs = {"sys/class/block", "sys/devices/virtual/block", "sys/block"};
  std::vector<std::string> blocks = Readdir("/sys/block");
  ASSERT_FALSE(blocks.empty()) << "no block devices in /sys/block";
  dirs.push_back("sys/block/" + blocks.front());
  dirs.push_back("sys/block/" + blocks.front() + "/queue");
  dirs.push_back("sys/block/" + blocks.front() + "/holders");
  for (const std::string& rel : dirs) {
    auto got = r.ListDir(rel);
    ASSERT_TRUE(got.ok()) << rel << ": " << got.status().message();
    EXPECT_EQ(Names(*got), Readdir("/" + rel)) << rel;
  }
}

TEST(RealSysfsReader, MissingPathsKeepErrnoAndName) {
  ScratchRoot root("/dev/shm");
  ASSERT_FALSE(root.path().empty());
  Populate(root.path(), "dev0", 1, 4);
  auto reader = RealSysfsReader::Open(root.path());
  ASSERT_TRUE(reader.ok());
  SysfsReader& r = **reader;
  auto file = r.ReadFile("sys/dev0/nothing");
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), ENOENT);
  EXPECT_EQ(file.status().message(), "sys/dev0/nothing: No such file or directory");
  auto dir = r.ListDir("sys/none");
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.status().code(), ENOENT);
  auto notdir = r.ListDir("sys/dev0/0xxx");
  ASSERT_FALSE(notdir.ok());
  EXPECT_EQ(notdir.status().code(), ENOTDIR);
}

TEST(Status, FromErrnoNamesTheErrorAsStrerrorDoes) {
  for (int e : {ENOENT, EACCES, EIO, ELOOP, ENXIO, EINVAL}) {
    EXPECT_EQ(Status::FromErrno(e, "x").message(), std::string("x: ") + strerror(e));
    EXPECT_EQ(Status::FromErrno(e, "x").code(), e);
  }
  EXPECT_EQ(Status::FromErrno(98765, "y").message(), std::string("y: ") + strerror(98765));
}

TEST(SysfsPath, NormalizeNeverClimbsAboveTheRoot) {
  EXPECT_EQ(NormalizePath("sys/block/../devices/./pci0000:00//x/"), "sys/devices/pci0000:00/x");
  EXPECT_EQ(NormalizePath("/sys/block/sda"), "sys/block/sda");
  EXPECT_EQ(NormalizePath("a/../../../b"), "b");
  EXPECT_EQ(NormalizePath("../.."), "");
  EXPECT_EQ(NormalizePath(""), "");
  EXPECT_EQ(NormalizePath("a/b/c/../../d"), "a/d");
  EXPECT_EQ(NormalizePath("a/b/.."), "a");
}

TEST(SysfsPath, LinkTargetsResolveFromTheLinksDirectory) {
  EXPECT_EQ(ResolveLinkTarget("sys/block/sda", "../devices/pci0000:00/0000:00:05.0/block/sda"),
            "sys/devices/pci0000:00/0000:00:05.0/block/sda");
  EXPECT_EQ(ResolveLinkTarget("sys/devices/x/block/sda/device", "../../1:0:0:0"),
            "sys/devices/x/1:0:0:0");
  EXPECT_EQ(ResolveLinkTarget("sys/block/sda", "/sys/devices/abs"), "sys/devices/abs");
  EXPECT_EQ(ResolveLinkTarget("link", "target"), "target");
  EXPECT_EQ(ResolveLinkTarget("sys/l", "../../../../etc"), "etc");
}

}  // namespace
}  // namespace diskinv
