// FakeSysfsReader: an in-memory SysfsReader for unit tests (STYLE.md rule 2).
//
// Holds files, directories and symlinks by normalized path. Parent directories are created
// implicitly. Symlinks resolve like the kernel's (relative to the link's directory, at most 40
// hops, then ELOOP). Any path can be made to fail with an errno, and a hook can run on each
// access to simulate a device that vanishes mid-walk.
#pragma once

#include <functional>
#include <map>
#include <string>

#include "sysfs/sysfs_reader.h"

namespace diskinv {

class FakeSysfsReader : public SysfsReader {
 public:
  void AddFile(std::string_view path, std::string content);
  void AddSymlink(std::string_view path, std::string target);
  void AddDir(std::string_view path);
  // Every access that resolves to `path` fails with `err` (EACCES, EIO, ...).
  void SetError(std::string_view path, int err);
  // Removes `path` and everything below it.
  void Remove(std::string_view path);
  // Called with the requested path before each access (may mutate the tree).
  void SetAccessHook(std::function<void(std::string_view)> hook) { hook_ = std::move(hook); }

  Result<std::string> ReadFile(std::string_view path, size_t max_bytes) override;
  Result<std::string> ReadLink(std::string_view path) override;
  Result<std::vector<DirEntry>> ListDir(std::string_view path) override;
  bool Exists(std::string_view path) override;
  bool IsDir(std::string_view path) override;

  uint64_t accesses() const { return accesses_; }

 private:
  struct Node {
    EntryType type = EntryType::kDir;
    std::string data;  // file content or link target
    int error = 0;
  };
  // Resolves `path` following symlinks (also the last component when `follow_last`).
  // Returns the normalized path of an existing node, or -errno.
  Result<std::string> Resolve(std::string_view path, bool follow_last);
  void MakeParents(const std::string& path);
  void Touch(std::string_view path);

  std::map<std::string, Node> nodes_;
  std::function<void(std::string_view)> hook_;
  uint64_t accesses_ = 0;
};

}  // namespace diskinv
