// SysfsReader: the only way diskinv's walker touches the filesystem (STYLE.md rule 2).
//
// Every path is relative to a root (the sysroot: "/" on a live system, a fixture tree in tests),
// written without a leading slash: "sys/block/sda/size". Symlinks are followed as the kernel
// would, but never out of the root. Implementations: RealSysfsReader (openat under a root
// directory fd) and FakeSysfsReader (in memory, with injectable errors). Not thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace diskinv {

enum class EntryType { kFile, kDir, kSymlink, kOther };

struct DirEntry {
  std::string name;
  EntryType type = EntryType::kOther;
};

class SysfsReader {
 public:
  // Attribute files are small; VPD pages and uevent files are the largest we read (< 64 KiB).
  static constexpr size_t kDefaultMaxBytes = 64 * 1024;

  virtual ~SysfsReader() = default;

  // Reads a whole file. A file longer than `max_bytes` is an error (EFBIG), never silently cut.
  virtual Result<std::string> ReadFile(std::string_view path,
                                       size_t max_bytes = kDefaultMaxBytes) = 0;
  // Reads the target of a symlink (not followed), e.g. "../../devices/pci0000:00/...".
  virtual Result<std::string> ReadLink(std::string_view path) = 0;
  // Lists a directory (following symlinks to it), without "." and "..", sorted by name.
  virtual Result<std::vector<DirEntry>> ListDir(std::string_view path) = 0;
  // True when `path` exists (following symlinks).
  virtual bool Exists(std::string_view path) = 0;
  // True when `path` is a directory (following symlinks).
  virtual bool IsDir(std::string_view path) = 0;
  // Forgets any state kept between calls (RealSysfsReader keeps directory handles, which
  // would go stale when a directory is removed and created again). Walker calls it before
  // each walk and each probe.
  virtual void DropCaches() {}
};

// Joins a relative sysfs path to a symlink target, resolving "." and "..": the result is
// relative to the root and never climbs above it. Resolve("sys/block/sda", "../devices/x")
// == "sys/devices/x" (the link's own directory is the base).
std::string ResolveLinkTarget(std::string_view link_path, std::string_view target);

// Normalizes "a/./b/../c" -> "a/c"; leading '/' removed; never climbs above the root.
std::string NormalizePath(std::string_view path);

}  // namespace diskinv
