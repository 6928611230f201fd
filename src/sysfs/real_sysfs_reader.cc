#include "sysfs/real_sysfs_reader.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>

#include <fmt/format.h>

namespace diskinv {
namespace {

std::string Rel(std::string_view path) {
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  return path.empty() ? std::string(".") : std::string(path);
}

EntryType FromDType(unsigned char t) {
  switch (t) {
    case DT_REG: return EntryType::kFile;
    case DT_DIR: return EntryType::kDir;
    case DT_LNK: return EntryType::kSymlink;
    default: return EntryType::kOther;
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

RealSysfsReader::~RealSysfsReader() { close(root_fd_); }

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
  int fd = OpenAt(path, O_RDONLY);
  if (fd < 0) return Status::FromErrno(-fd, std::string(path));
  std::string buf;
  // One read usually returns the whole attribute; a short read of a regular or sysfs file
  // means end of file, so the common case costs open + read + close.
  size_t want = std::min<size_t>(max_bytes + 1, 4096);
  buf.resize(want);
  size_t len = 0;
  for (;;) {
    ssize_t n = read(fd, buf.data() + len, buf.size() - len);
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
    if (n == 0 || len < buf.size()) break;
    buf.resize(std::min(buf.size() * 2, max_bytes + 1));
  }
  close(fd);
  buf.resize(len);
  return buf;
}

Result<std::string> RealSysfsReader::ReadLink(std::string_view path) {
  // Resolve the parent directory inside the root, then read the link itself.
  std::string rel = Rel(path);
  size_t slash = rel.rfind('/');
  std::string dir = slash == std::string::npos ? "." : rel.substr(0, slash);
  std::string leaf = slash == std::string::npos ? rel : rel.substr(slash + 1);
  int dfd = OpenAt(dir, O_PATH | O_DIRECTORY);
  if (dfd < 0) return Status::FromErrno(-dfd, std::string(path));
  char buf[4096];
  ssize_t n = readlinkat(dfd, leaf.c_str(), buf, sizeof(buf));
  int err = errno;
  close(dfd);
  if (n < 0) return Status::FromErrno(err, std::string(path));
  if (static_cast<size_t>(n) == sizeof(buf)) {
    return Status(ENAMETOOLONG, fmt::format("{}: link target too long", path));
  }
  return std::string(buf, static_cast<size_t>(n));
}

Result<std::vector<DirEntry>> RealSysfsReader::ListDir(std::string_view path) {
  int fd = OpenAt(path, O_RDONLY | O_DIRECTORY);
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
  std::sort(out.begin(), out.end(), [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  return out;
}

bool RealSysfsReader::Exists(std::string_view path) {
  int fd = OpenAt(path, O_PATH);
  if (fd < 0) return false;
  close(fd);
  return true;
}

bool RealSysfsReader::IsDir(std::string_view path) {
  int fd = OpenAt(path, O_PATH | O_DIRECTORY);
  if (fd < 0) return false;
  close(fd);
  return true;
}

}  // namespace diskinv
