#include "sysfs/real_sysfs_reader.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>

namespace diskinv {
namespace {

std::string Rel(std::string_view path) {
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  return path.empty() ? std::string(".") : std::string(path);
}

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
  return std::unique_ptr<RealSysfsReader>(new RealSysfsReader(r, fd, in_root));
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
  }
}

int RealSysfsReader::DirFd(std::string_view dir) {
  for (const auto& d : dirs_) {
    if (d.fd >= 0 && d.path == dir) return d.fd;
  }
  int fd = OpenAt(dir, O_PATH | O_DIRECTORY);
  if (fd < 0) return fd;
  CachedDir& slot = dirs_[next_slot_];
  next_slot_ = (next_slot_ + 1) % kDirCacheSize;
  if (slot.fd >= 0) close(slot.fd);
  slot.path.assign(dir);
  slot.fd = fd;
  return fd;
}

int RealSysfsReader::OpenLeaf(std::string_view path, int flags) {
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos || slash + 1 == path.size()) return OpenAt(path, flags);
  int dfd = DirFd(path.substr(0, slash));
  if (dfd < 0) return dfd;
  std::string leaf(path.substr(slash + 1));
  if (leaf == "." || leaf == "..") return OpenAt(path, flags);
  int fd = openat(dfd, leaf.c_str(), flags | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0) return fd;
  // ELOOP: the leaf is a symlink, which only the root-confined resolution may follow.
  if (errno == ELOOP) return OpenAt(path, flags);
  return -errno;
}

int RealSysfsReader::OpenAt(std::string_view path, int flags) {
  std::string rel = Rel(path);
  if (resolve_in_root_) {
    struct open_how how = {};
    how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    int fd = static_cast<int>(syscall(SYS_openat2, root_fd_, rel.c_str(), &how, sizeof(how)));
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
  std::string rel = Rel(path);
  size_t slash = rel.rfind('/');
  std::string dir = slash == std::string::npos ? "." : rel.substr(0, slash);
  std::string leaf = slash == std::string::npos ? rel : rel.substr(slash + 1);
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
  DIR* d = fdopendir(fd);
  if (!d) {
    int err = errno;
    close(fd);
    return Status::FromErrno(err, std::string(path));
  }
  std::vector<DirEntry> out;
  errno = 0;
  while (struct dirent* e = readdir(d)) {
    std::string_view n = e->d_name;
    if (n == "." || n == "..") continue;
    out.push_back({std::string(n), FromDType(e->d_type)});
  }
  int err = errno;
  closedir(d);
  if (err != 0) return Status::FromErrno(err, std::string(path));
  std::sort(out.begin(), out.end(),
            [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  return out;
}

int RealSysfsReader::StatLeaf(std::string_view path, struct stat* st) {
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos || slash + 1 == path.size()) return 1;
  std::string leaf(path.substr(slash + 1));
  if (leaf == "." || leaf == "..") return 1;
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
