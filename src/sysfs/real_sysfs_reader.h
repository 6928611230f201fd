// RealSysfsReader: SysfsReader over a directory of the real filesystem ("/" or a fixture tree).
//
// Paths are opened relative to a directory fd of the root with openat2(RESOLVE_IN_ROOT) when
// the root is not "/", so that even an absolute symlink inside a fixture tree stays inside it,
// as with lsblk --sysroot. One open + one read + one close per attribute: the walk reads ~35
// files per disk and this is its whole cost.
#pragma once

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

  const std::string& root() const { return root_; }

 private:
  RealSysfsReader(std::string root, int root_fd, bool in_root);
  int OpenAt(std::string_view path, int flags);  // returns fd or -errno

  std::string root_;
  int root_fd_;
  bool resolve_in_root_;  // false for "/" (plain openat is the same and cheaper)
};

}  // namespace diskinv
