#include "sysfs/real_sysfs_reader.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <memory>

namespace diskinv {
namespace {

std::string Rel(std::string_view path) {
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  return path.empty() ? std::string(".") : std::string(path);
}

// One path component as a C string on the stack: the leaves given to openat, readlinkat and
// fstatat ("discard_max_hw_bytes", "ID_..." records) would otherwise each be a heap string.
class Leaf {
 public:
  explicit Leaf(std::string_view name) : ok_(name.size() <= NAME_MAX) {
    size_t n = ok_ ? name.size() : 0;
    name.copy(buf_, n);
    buf_[n] = '\0';
  }
  bool ok() const { return ok_; }  // false: longer than NAME_MAX (the call gets ENAMETOOLONG)
  const char* c_str() const { return buf_; }
  bool dot() const { return (buf_[0] == '.' && buf_[1] == 0) || std::strcmp(buf_, "..") == 0; }

 private:
  char buf_[NAME_MAX + 1];
  bool ok_;
};

EntryType FromDType(unsigned char t) {
  switch (t) {
    case DT_REG:
      return EntryType::kFile;
    case DT_DIR:
      return EntryType::kDir;
    case DT_LNK:
      return EntryType::kSymlink;
    default:
      return EntryType::kOther;
  }
}

}  // namespace

Result<std::unique_ptr<RealSysfsReader>> RealSysfsReader::Open(const std::string& root) {
  std::string r = root.empty() ? "/" : root;
  int fd = open(r.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, fmt::format("cannot open sysroot {}", r));
  bool in_root = NormalizePath(r).empty() ? false : true;
  auto reader = std::unique_ptr<RealSysfsReader>(new RealSysfsReader(r, fd, in_root));
  // sysfs (kernfs) and tmpfs fill a getdents64 buffer until the next entry does not fit or
  // the directory ends, so a fill that leaves room for the longest entry is the end: ListDir
  // then skips the second getdents64 that would return 0 (one syscall per directory, two
  // per device). Other filesystems (FUSE answers page by page) keep the second call.
  if (int sys = openat(fd, "sys", O_PATH | O_DIRECTORY | O_CLOEXEC); sys >= 0) {
    struct statfs fs;
    if (fstatfs(sys, &fs) == 0) {
      reader->sys_fills_getdents_ =
          fs.f_type == SYSFS_MAGIC || fs.f_type == TMPFS_MAGIC || fs.f_type == RAMFS_MAGIC;
    }
    close(sys);
  }
  return reader;
}

RealSysfsReader::RealSysfsReader(std::string root, int root_fd, bool in_root)
    : root_(std::move(root)), root_fd_(root_fd), resolve_in_root_(in_root) {}

RealSysfsReader::~RealSysfsReader() {
  DropCaches();
  close(root_fd_);
}

void RealSysfsReader::DropCaches() {
  for (auto& d : dirs_) {
    if (d.fd >= 0) close(d.fd);
    d.fd = -1;
    d.path.clear();
    d.last_use = 0;
  }
}

int RealSysfsReader::CachedDirFd(std::string_view dir) {
  // Runs of reads share a directory (a device's queue/ has 26 attributes): the slot of the
  // last hit first, then the others.
  CachedDir& last = dirs_[last_hit_];
  if (last.fd >= 0 && last.path == dir) {
    last.last_use = ++uses_;
    return last.fd;
  }
  for (size_t i = 0; i < kDirCacheSize; ++i) {
    CachedDir& d = dirs_[i];
    if (d.fd >= 0 && d.path == dir) {
      d.last_use = ++uses_;
      last_hit_ = i;
      return d.fd;
    }
  }
  return -1;
}

int RealSysfsReader::DirFd(std::string_view dir) {
  if (int fd = CachedDirFd(dir); fd >= 0) return fd;
  int fd = -ENOENT;
  bool opened = false;
  // A subdirectory of a cached directory (queue/ of a device, the next ancestor down a device
  // path): one lookup from the parent instead of a walk of the whole path from the root, the
  // largest kernel cost of a walk of a big tree. Only a real directory qualifies: O_NOFOLLOW
  // makes a symlink fail (ENOTDIR), and it then takes the root-confined path below.
  size_t slash = dir.rfind('/');
  if (slash != std::string_view::npos && slash + 1 < dir.size()) {
    std::string_view leaf = dir.substr(slash + 1);
    int parent = leaf == "." || leaf == ".." ? -1 : CachedDirFd(dir.substr(0, slash));
    Leaf name(leaf);
    if (parent >= 0 && name.ok()) {
      fd = openat(parent, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) fd = -errno;
      opened = fd >= 0 || fd == -ENOENT;  // ENOENT from the parent itself is the answer
    }
  }
  if (!opened) fd = OpenAt(dir, O_PATH | O_DIRECTORY);
  if (fd < 0) return fd;
  // Evict the least recently used: sys/block and run/udev/data are used for every device and
  // must not be pushed out by the dozen directories of each one (round-robin reopened them
  // every few devices, each a walk from the root).
  CachedDir* slot = &dirs_[0];
  for (auto& d : dirs_) {
    if (d.last_use < slot->last_use) slot = &d;
  }
  if (slot->fd >= 0) close(slot->fd);
  slot->path.assign(dir);
  slot->fd = fd;
  last_hit_ = static_cast<size_t>(slot - dirs_);
  slot->last_use = ++uses_;
  return fd;
}

int RealSysfsReader::OpenLeaf(std::string_view path, int flags) {
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos || slash + 1 == path.size()) return OpenAt(path, flags);
  int dfd = DirFd(path.substr(0, slash));
  if (dfd < 0) return dfd;
  Leaf leaf(path.substr(slash + 1));
  if (!leaf.ok()) return -ENAMETOOLONG;
  if (leaf.dot()) return OpenAt(path, flags);
  int fd = openat(dfd, leaf.c_str(), flags | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0) return fd;
  // The leaf is a symlink, which only the root-confined resolution may follow: ELOOP, or
  // ENOTDIR when a directory was asked for (O_NOFOLLOW | O_DIRECTORY on a link).
  if (errno == ELOOP || (errno == ENOTDIR && (flags & O_DIRECTORY) != 0)) {
    return OpenAt(path, flags);
  }
  return -errno;
}

int RealSysfsReader::OpenAt(std::string_view path, int flags) {
  std::string rel = Rel(path);
  if (resolve_in_root_) {
    struct open_how how = {};
    how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    int fd = static_cast<int>(syscall(SYS_openat2, root_fd_, rel.c_str(), &how, sizeof(how)));
    // EAGAIN: a rename anywhere in the system raced the ".." checks of RESOLVE_IN_ROOT; the
    // caller may retry (openat2(2)). Not retrying made walks of a tree differ at random.
    for (int again = 0; fd < 0 && errno == EAGAIN && again < 64; ++again) {
      fd = static_cast<int>(syscall(SYS_openat2, root_fd_, rel.c_str(), &how, sizeof(how)));
    }
    if (fd >= 0) return fd;
    if (errno != ENOSYS) return -errno;
    resolve_in_root_ = false;  // kernel < 5.6: fall back to openat (relative links only)
  }
  int fd = openat(root_fd_, rel.c_str(), flags | O_CLOEXEC);
  return fd >= 0 ? fd : -errno;
}

Result<std::string> RealSysfsReader::ReadFile(std::string_view path, size_t max_bytes) {
  int fd = OpenLeaf(path, O_RDONLY);
  if (fd < 0) return Status::FromErrno(-fd, std::string(path));
  // Read into a reused buffer and copy out exactly the bytes read: most attributes are a few
  // bytes (no allocation at all with the short-string optimization). One read usually returns
  // the whole attribute; a short read of a regular or sysfs file means end of file, so the
  // common case costs open + read + close.
  if (scratch_.size() < 4096) scratch_.resize(4096);
  size_t len = 0;
  for (;;) {
    size_t room = std::min(scratch_.size(), max_bytes + 1) - len;
    ssize_t n = read(fd, scratch_.data() + len, room);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      close(fd);
      return Status::FromErrno(err, std::string(path));
    }
    len += static_cast<size_t>(n);
    if (len > max_bytes) {
      close(fd);
      return Status(EFBIG, fmt::format("{}: larger than {} bytes", path, max_bytes));
    }
    if (n == 0 || static_cast<size_t>(n) < room) break;
    if (len == scratch_.size()) scratch_.resize(std::min(scratch_.size() * 2, max_bytes + 1));
  }
  close(fd);
  return std::string(scratch_.data(), len);
}

Result<std::string> RealSysfsReader::ReadLink(std::string_view path) {
  // Resolve the parent directory inside the root, then read the link itself.
  std::string_view rel = path;
  while (!rel.empty() && rel.front() == '/') rel.remove_prefix(1);
  if (rel.empty()) rel = ".";
  size_t slash = rel.rfind('/');
  std::string_view dir = slash == std::string_view::npos ? "." : rel.substr(0, slash);
  Leaf leaf(slash == std::string_view::npos ? rel : rel.substr(slash + 1));
  if (!leaf.ok()) return Status::FromErrno(ENAMETOOLONG, std::string(path));
  int dfd = DirFd(dir);
  if (dfd < 0) return Status::FromErrno(-dfd, std::string(path));
  char buf[4096];
  ssize_t n = readlinkat(dfd, leaf.c_str(), buf, sizeof(buf));
  int err = errno;
  if (n < 0) return Status::FromErrno(err, std::string(path));
  if (static_cast<size_t>(n) == sizeof(buf)) {
    return Status(ENAMETOOLONG, fmt::format("{}: link target too long", path));
  }
  return std::string(buf, static_cast<size_t>(n));
}

Result<std::vector<DirEntry>> RealSysfsReader::ListDir(std::string_view path) {
  int fd = OpenLeaf(path, O_RDONLY | O_DIRECTORY);
  if (fd < 0) return Status::FromErrno(-fd, std::string(path));
  // getdents64 into a stack buffer rather than opendir/readdir: no fcntl and no 32 KiB
  // heap buffer per directory (every device has holders/ and slaves/ to list).
  alignas(struct dirent64) char buf[8192];
  // The largest record getdents64 can write: an entry with a NAME_MAX name.
  constexpr size_t kMaxRecord = (offsetof(struct dirent64, d_name) + NAME_MAX + 1 + 7) & ~7UL;
  bool fills = sys_fills_getdents_ && path.substr(0, 4) == "sys/";
  std::vector<DirEntry> out;
  for (bool more = true; more;) {
    ssize_t n = getdents64(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      return Status::FromErrno(err, std::string(path));
    }
    if (n == 0) break;
    more = !fills || sizeof(buf) - static_cast<size_t>(n) < kMaxRecord;
    for (ssize_t off = 0; off < n;) {
      const auto* e = reinterpret_cast<const struct dirent64*>(buf + off);
      off += e->d_reclen;
      std::string_view name = e->d_name;
      if (name == "." || name == "..") continue;
      out.push_back({std::string(name), FromDType(e->d_type)});
    }
  }
  close(fd);
  std::sort(out.begin(), out.end(),
            [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  return out;
}

int RealSysfsReader::StatLeaf(std::string_view path, struct stat* st) {
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos || slash + 1 == path.size()) return 1;
  Leaf leaf(path.substr(slash + 1));
  if (!leaf.ok()) return -ENAMETOOLONG;
  if (leaf.dot()) return 1;
  int dfd = DirFd(path.substr(0, slash));
  if (dfd < 0) return dfd;
  if (fstatat(dfd, leaf.c_str(), st, AT_SYMLINK_NOFOLLOW) != 0) return -errno;
  return S_ISLNK(st->st_mode) ? 1 : 0;
}

bool RealSysfsReader::Exists(std::string_view path) {
  struct stat st;
  int rc = StatLeaf(path, &st);
  if (rc <= 0) return rc == 0;
  int fd = OpenAt(path, O_PATH);
  if (fd < 0) return false;
  close(fd);
  return true;
}

bool RealSysfsReader::IsDir(std::string_view path) {
  // A directory asked about is usually read next: open it into the cache.
  return DirFd(path) >= 0;
}

}  // namespace diskinv
