// RealSysfsReader: SysfsReader over a directory of the real filesystem ("/" or a fixture tree).
//
// Paths are opened relative to a directory fd of the root with openat2(RESOLVE_IN_ROOT) when
// the root is not "/", so that even an absolute symlink inside a fixture tree stays inside it,
// as with lsblk --sysroot. One open + one read + one close per attribute: the walk reads ~35
// files per disk and this is its whole cost. To keep the kernel's path walk short, the reader
// keeps a few directory handles (O_PATH, resolved inside the root) of the directories it read
// last and opens the last component relative to them, never following a symlink there (a
// symlink leaf takes the full, root-confined resolution). DropCaches() closes them.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <string>

#include "sysfs/sysfs_reader.h"

namespace diskinv {

class RealSysfsReader : public SysfsReader {
 public:
  // Opens `root`; fails with a message naming the path when it is not a readable directory.
  static Result<std::unique_ptr<RealSysfsReader>> Open(const std::string& root);
  ~RealSysfsReader() override;
  RealSysfsReader(const RealSysfsReader&) = delete;
  RealSysfsReader& operator=(const RealSysfsReader&) = delete;

  Result<std::string> ReadFile(std::string_view path, size_t max_bytes) override;
  Result<std::string> ReadLink(std::string_view path) override;
  Result<std::vector<DirEntry>> ListDir(std::string_view path) override;
  bool Exists(std::string_view path) override;
  bool IsDir(std::string_view path) override;
  void DropCaches() override;

  const std::string& root() const { return root_; }

 private:
  RealSysfsReader(std::string root, int root_fd, bool in_root);
  int OpenAt(std::string_view path, int flags);  // returns fd or -errno
  // The cached directory handle of `dir` (opened on a miss); -errno when it cannot be opened.
  int DirFd(std::string_view dir);
  int CachedDirFd(std::string_view dir);  // the cached handle of `dir`, or -1
  // Opens `path` with its directory from the cache and the leaf not followed; falls back to
  // OpenAt when the leaf is a symlink. Returns fd or -errno.
  int OpenLeaf(std::string_view path, int flags);

  // lstat of the leaf of `path` relative to its cached directory: 0 (st filled), 1 when the
  // leaf is a symlink or cannot be split off (use OpenAt), or -errno.
  int StatLeaf(std::string_view path, struct stat* st);

  struct CachedDir {
    std::string path;
    int fd = -1;
    uint64_t last_use = 0;  // uses_ at the last hit; the smallest is evicted
  };
  static constexpr size_t kDirCacheSize = 16;
  CachedDir dirs_[kDirCacheSize];
  size_t last_hit_ = 0;  // index into dirs_ of the last cache hit
  uint64_t uses_ = 0;
  std::string scratch_;  // ReadFile's buffer, reused

  std::string root_;
  int root_fd_;
  bool resolve_in_root_;  // false for "/" (plain openat is the same and cheaper)
  // sys/ is sysfs or tmpfs: a getdents64 fill short of the buffer is the directory's end.
  bool sys_fills_getdents_ = false;
};

}  // namespace diskinv
