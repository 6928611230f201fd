#include "sysfs/capture.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <string_view>
#include <utility>

namespace diskinv {
namespace {

constexpr size_t kMaxWarnings = 256;
// sysfs device directories are shallow (disk/partition/queue/iosched); anything deeper than this
// inside one device directory is not something the walker or lsblk reads.
constexpr int kMaxTreeDepth = 6;
constexpr int kMaxLinkHops = 40;  // as the kernel's MAXSYMLINKS

// Subdirectories of a device directory that are never copied: mq/ has one directory per
// hardware queue and CPU (large, nothing lsblk or the walker reads), power/ and trace/ are
// runtime-PM and blktrace knobs.
bool IsSkippedSubdir(std::string_view name) {
  return name == "power" || name == "trace" || name == "mq";
}

// Attributes never opened, whatever their mode, because reading them is not side-effect free or
// not safe: zram-control/hot_add allocates a new zram device on every read; PCI resource<N>[_wc]
// reads of an I/O BAR do port I/O on the device; PCI rom needs enabling first and vpd reads can
// stall on broken hardware; config is the binary PCI config space, useless to the walker.
bool IsNeverRead(std::string_view name) {
  if (name == "hot_add" || name == "rom" || name == "vpd" || name == "config") {
    return true;
  }
  if (name.size() > 8 && name.substr(0, 8) == "resource" &&
      std::isdigit(static_cast<unsigned char>(name[8]))) {
    return true;
  }
  return false;
}

// Classes whose entries (links into /sys/devices) are copied with their targets' attributes: the
// SCSI/NVMe identity and transport data lsblk and the walker look up outside the block device.
constexpr const char* kClassDirs[] = {
    "sys/class/scsi_host",     "sys/class/sas_host",       "sys/class/fc_host",
    "sys/class/spi_host",
    "sys/class/iscsi_host",    "sys/class/nvme",           "sys/class/nvme-subsystem",
    "sys/class/sas_device",    "sys/class/sas_end_device", "sys/class/fc_remote_ports",
    "sys/class/iscsi_session", "sys/bus/scsi/devices",
};

constexpr const char* kBlockDirs[] = {"sys/block", "sys/class/block", "sys/dev/block"};

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

std::string Join(std::string_view dir, std::string_view name) {
  if (dir.empty()) {
    return std::string(name);
  }
  std::string out(dir);
  out += '/';
  out += name;
  return out;
}

std::string Parent(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? std::string() : std::string(path.substr(0, slash));
}

std::string Basename(std::string_view path) {
  size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> parts;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) {
      slash = path.size();
    }
    if (slash > pos) {
      parts.emplace_back(path.substr(pos, slash - pos));
    }
    pos = slash + 1;
  }
  return parts;
}

// A relative link text that, placed in directory `link_dir` (relative to the root), points at
// `target` (also relative to the root).
std::string RelativeLink(std::string_view link_dir, std::string_view target) {
  std::vector<std::string> from = SplitPath(link_dir), to = SplitPath(target);
  size_t common = 0;
  while (common < from.size() && common < to.size() && from[common] == to[common]) {
    ++common;
  }
  std::string out;
  for (size_t i = common; i < from.size(); ++i) {
    out += "../";
  }
  for (size_t i = common; i < to.size(); ++i) {
    out += to[i];
    if (i + 1 < to.size()) {
      out += '/';
    }
  }
  if (out.empty()) {
    return ".";
  }
  if (out.back() == '/') {
    out.pop_back();
  }
  return out;
}

// util-linux normalize_whitespace(): drop leading whitespace, squeeze each run to its first
// character, drop one trailing whitespace character. lsblk applies it to udev MODEL/SERIAL.
std::string NormalizeWhitespace(std::string_view s) {
  std::string out;
  int nsp = 0;
  bool intext = false;
  for (char c : s) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++nsp;
    } else {
      nsp = 0;
      intext = true;
    }
    if (nsp > 1 || (nsp && !intext)) {
      continue;
    }
    out += c;
  }
  if (nsp && !out.empty()) {
    out.pop_back();
  }
  return out;
}

// udev's \xHH encoding (ID_MODEL_ENC and friends), decoded as util-linux unhexmangle does.
std::string Unhexmangle(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') {
      return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
      return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
      return c - 'A' + 10;
    }
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < s.size();) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] == 'x' && hex(s[i + 2]) >= 0 &&
        hex(s[i + 3]) >= 0) {
      out += static_cast<char>(hex(s[i + 2]) << 4 | hex(s[i + 3]));
      i += 4;
    } else {
      out += s[i++];
    }
  }
  return out;
}

// ls -l style "brw-rw----", as lsblk's MODE column (xstrmode).
std::string ModeString(mode_t m) {
  std::string s(10, '-');
  s[0] = S_ISBLK(m) ? 'b' : S_ISCHR(m) ? 'c' : S_ISDIR(m) ? 'd' : S_ISLNK(m) ? 'l' : '-';
  const char* rwx = "rwxrwxrwx";
  for (int i = 0; i < 9; ++i) {
    if (m & (0400 >> i)) {
      s[1 + i] = rwx[i];
    }
  }
  if (m & S_ISUID) {
    s[3] = (m & S_IXUSR) ? 's' : 'S';
  }
  if (m & S_ISGID) {
    s[6] = (m & S_IXGRP) ? 's' : 'S';
  }
  if (m & S_ISVTX) {
    s[9] = (m & S_IXOTH) ? 't' : 'T';
  }
  return s;
}

std::string UserName(uid_t uid) {
  std::vector<char> buf(16384);
  struct passwd pw {};
  struct passwd* res = nullptr;
  if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &res) != 0 || res == nullptr) {
    return {};
  }
  return res->pw_name;
}

std::string GroupName(gid_t gid) {
  std::vector<char> buf(16384);
  struct group gr {};
  struct group* res = nullptr;
  if (getgrgid_r(gid, &gr, buf.data(), buf.size(), &res) != 0 || res == nullptr) {
    return {};
  }
  return res->gr_name;
}

std::string TrimNewline(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) {
    s.pop_back();
  }
  return s;
}

enum class ReadOutcome { kOk, kTooLarge, kError };

class Capturer {
 public:
  Capturer(int root_fd, int out_fd, size_t max_bytes, CaptureReport* report)
      : root_fd_(root_fd), out_fd_(out_fd), max_bytes_(max_bytes), report_(report) {}

  Status Run();

 private:
  // Resolves `path` (relative to the source root) to a symlink-free path relative to the root,
  // interpreting absolute link texts against the root (as chroot would), never escaping it.
  Result<std::string> Resolve(const std::string& path) const;

  // Reads at most max_bytes_ of a source file; errno in *err on kError.
  ReadOutcome ReadSource(const std::string& path, std::string* data, int* err) const;

  Status EnsureOutDir(const std::string& path);
  Status WriteOut(const std::string& path, std::string_view data);
  Status CopyFile(const std::string& path, const struct stat& st);
  Status CopyLink(int dir_fd, const std::string& path);

  // Copies one directory level: attribute files and symlinks; with `depth` >= 0 also recurses
  // into subdirectories (except IsSkippedSubdir) down to kMaxTreeDepth.
  Status CopyDir(const std::string& path, int depth, bool recurse);
  // Attribute files and links of every ancestor of `path` up to (not including) sys/.
  Status CopyAncestors(const std::string& path);
  // Resolves `link` and copies its target's attributes and its ancestors'. Missing link: no-op.
  Status CopyLinkTargetAttrs(const std::string& link);

  Status CaptureEntryDir(const std::string& dir, std::vector<std::string>* targets);
  Status CaptureUdev(const std::string& device_dir);

  void Skip(const std::string& path, std::string_view reason) {
    ++report_->skipped;
    Warn(fmt::format("{}: {}", path, reason));
  }
  void Warn(std::string line) {
    if (report_->warnings.size() < kMaxWarnings) {
      report_->warnings.push_back(std::move(line));
    } else {
      ++dropped_warnings_;
    }
  }

  int root_fd_, out_fd_;
  size_t max_bytes_;
  CaptureReport* report_;
  uint64_t dropped_warnings_ = 0;
  std::set<std::string> made_dirs_;   // output directories known to exist
  std::set<std::string> trees_done_;  // directories copied recursively
  std::set<std::string> attrs_done_;  // directories whose own level was copied
};

Result<std::string> Capturer::Resolve(const std::string& path) const {
  std::vector<std::string> done;
  std::vector<std::string> todo = SplitPath(path);
  std::reverse(todo.begin(), todo.end());  // a stack: back() is the next component
  int hops = 0;
  while (!todo.empty()) {
    std::string comp = std::move(todo.back());
    todo.pop_back();
    if (comp == ".") {
      continue;
    }
    if (comp == "..") {
      if (done.empty()) {
        return Status(EXDEV, fmt::format("{}: escapes the source root", path));
      }
      done.pop_back();
      continue;
    }
    std::string cur;
    for (const auto& d : done) {
      cur = Join(cur, d);
    }
    cur = Join(cur, comp);
    struct stat st {};
    if (fstatat(root_fd_, cur.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return Status::FromErrno(errno, cur);
    }
    if (!S_ISLNK(st.st_mode)) {
      done.push_back(std::move(comp));
      continue;
    }
    if (++hops > kMaxLinkHops) {
      return Status::FromErrno(ELOOP, path);
    }
    char buf[4096];
    ssize_t n = readlinkat(root_fd_, cur.c_str(), buf, sizeof(buf));
    if (n < 0) {
      return Status::FromErrno(errno, cur);
    }
    if (static_cast<size_t>(n) >= sizeof(buf)) {
      return Status::FromErrno(ENAMETOOLONG, cur);
    }
    std::string_view text(buf, static_cast<size_t>(n));
    if (!text.empty() && text.front() == '/') {
      done.clear();
    }
    std::vector<std::string> parts = SplitPath(text);
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
      todo.push_back(*it);
    }
  }
  std::string out;
  for (const auto& d : done) {
    out = Join(out, d);
  }
  return out;
}

ReadOutcome Capturer::ReadSource(const std::string& path, std::string* data, int* err) const {
  Fd fd(openat(root_fd_, path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (fd.get() < 0) {
    *err = errno;
    return ReadOutcome::kError;
  }
  // sysfs reports 4096 as the size of every text attribute, so read to EOF, bounded.
  data->clear();
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      *err = errno;
      return ReadOutcome::kError;
    }
    if (n == 0) {
      return ReadOutcome::kOk;
    }
    data->append(buf, static_cast<size_t>(n));
    if (data->size() > max_bytes_) {
      return ReadOutcome::kTooLarge;
    }
  }
}

Status Capturer::EnsureOutDir(const std::string& path) {
  if (path.empty() || made_dirs_.count(path)) {
    return Status::Ok();
  }
  Status parent = EnsureOutDir(Parent(path));
  if (!parent.ok()) {
    return parent;
  }
  if (mkdirat(out_fd_, path.c_str(), 0755) == 0) {
    ++report_->dirs;
  } else if (errno != EEXIST) {
    return Status::FromErrno(errno, fmt::format("capture: mkdir {}", path));
  } else {
    struct stat st {};
    if (fstatat(out_fd_, path.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode)) {
      return Status(ENOTDIR, fmt::format("capture: {} exists and is not a directory", path));
    }
  }
  made_dirs_.insert(path);
  return Status::Ok();
}

Status Capturer::WriteOut(const std::string& path, std::string_view data) {
  Status s = EnsureOutDir(Parent(path));
  if (!s.ok()) {
    return s;
  }
  Fd fd(openat(out_fd_, path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (fd.get() < 0) {
    if (errno == EEXIST) {
      return Status::Ok();  // reached twice (e.g. ancestor of two devices)
    }
    return Status::FromErrno(errno, fmt::format("capture: create {}", path));
  }
  while (!data.empty()) {
    ssize_t n = ::write(fd.get(), data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return Status::FromErrno(errno, fmt::format("capture: write {}", path));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  if (::close(fd.release()) != 0) {
    return Status::FromErrno(errno, fmt::format("capture: close {}", path));
  }
  ++report_->files;
  return Status::Ok();
}

Status Capturer::CopyFile(const std::string& path, const struct stat& st) {
  std::string name = Basename(path);
  if (IsNeverRead(name)) {
    return Status::Ok();
  }
  if ((st.st_mode & 0444) == 0) {
    Skip(path, "write-only");
    return Status::Ok();
  }
  std::string data;
  int err = 0;
  switch (ReadSource(path, &data, &err)) {
    case ReadOutcome::kOk:
      return WriteOut(path, data);
    case ReadOutcome::kTooLarge:
      Skip(path, fmt::format("larger than {} bytes", max_bytes_));
      return Status::Ok();
    case ReadOutcome::kError:
      Skip(path, std::strerror(err));
      return Status::Ok();
  }
  return Status::Ok();
}

Status Capturer::CopyLink(int dir_fd, const std::string& path) {
  char buf[4096];
  ssize_t n = readlinkat(dir_fd, Basename(path).c_str(), buf, sizeof(buf));
  if (n < 0 || static_cast<size_t>(n) >= sizeof(buf)) {
    Skip(path, n < 0 ? std::strerror(errno) : "link text too long");
    return Status::Ok();
  }
  std::string text(buf, static_cast<size_t>(n));
  // sysfs links are relative; an absolute one would point at the capturing host once the
  // fixture moves, so it is re-expressed relative to its place inside the capture.
  if (!text.empty() && text.front() == '/') {
    text = RelativeLink(Parent(path), text);
  }
  Status s = EnsureOutDir(Parent(path));
  if (!s.ok()) {
    return s;
  }
  if (symlinkat(text.c_str(), out_fd_, path.c_str()) != 0) {
    if (errno == EEXIST) {
      return Status::Ok();
    }
    return Status::FromErrno(errno, fmt::format("capture: symlink {}", path));
  }
  ++report_->symlinks;
  return Status::Ok();
}

Status Capturer::CopyDir(const std::string& path, int depth, bool recurse) {
  if (trees_done_.count(path)) {
    return Status::Ok();
  }
  if (recurse) {
    trees_done_.insert(path);
  } else if (!attrs_done_.insert(path).second) {
    return Status::Ok();
  }
  Fd fd(openat(root_fd_, path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0) {
    Skip(path, fmt::format("opendir: {}", std::strerror(errno)));
    return Status::Ok();
  }
  Status s = EnsureOutDir(path);
  if (!s.ok()) {
    return s;
  }
  DIR* dir = fdopendir(fd.get());
  if (dir == nullptr) {
    Skip(path, fmt::format("fdopendir: {}", std::strerror(errno)));
    return Status::Ok();
  }
  int dfd = fd.release();
  // Collect first: recursion must not hold many DIR streams open at once, and sorted order
  // makes the capture (and its warnings) deterministic.
  std::vector<std::string> names;
  while (struct dirent* d = readdir(dir)) {
    std::string_view name = d->d_name;
    if (name == "." || name == "..") {
      continue;
    }
    names.emplace_back(name);
  }
  std::sort(names.begin(), names.end());
  std::vector<std::string> subdirs;
  for (const auto& name : names) {
    std::string child = Join(path, name);
    struct stat st {};
    if (fstatat(dfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      Skip(child, std::strerror(errno));  // vanished mid-walk
      continue;
    }
    if (S_ISLNK(st.st_mode)) {
      s = CopyLink(dfd, child);
    } else if (S_ISREG(st.st_mode)) {
      s = CopyFile(child, st);
    } else if (S_ISDIR(st.st_mode)) {
      if (recurse && !IsSkippedSubdir(name)) {
        subdirs.push_back(child);
      }
    }
    if (!s.ok()) {
      break;
    }
  }
  closedir(dir);
  if (!s.ok()) {
    return s;
  }
  for (const auto& sub : subdirs) {
    if (depth >= kMaxTreeDepth) {
      Skip(sub, "deeper than the capture's depth limit");
      continue;
    }
    s = CopyDir(sub, depth + 1, true);
    if (!s.ok()) {
      return s;
    }
  }
  return Status::Ok();
}

Status Capturer::CopyAncestors(const std::string& path) {
  std::vector<std::string> parts = SplitPath(path);
  // parts[0] is "sys"; copy sys/devices, sys/devices/pci..., ... up to the parent of `path`.
  std::string cur = parts.empty() ? std::string() : parts[0];
  for (size_t i = 1; i + 1 < parts.size(); ++i) {
    cur = Join(cur, parts[i]);
    Status s = CopyDir(cur, 0, false);
    if (!s.ok()) {
      return s;
    }
  }
  return Status::Ok();
}

Status Capturer::CopyLinkTargetAttrs(const std::string& link) {
  struct stat st {};
  if (fstatat(root_fd_, link.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return Status::Ok();
  }
  Result<std::string> target = Resolve(link);
  if (!target.ok()) {
    Skip(link, fmt::format("cannot resolve: {}", target.status().message()));
    return Status::Ok();
  }
  if (fstatat(root_fd_, target->c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode)) {
    return Status::Ok();  // a dangling or non-directory target: the link itself is the data
  }
  Status s = CopyDir(*target, 0, false);
  if (!s.ok()) {
    return s;
  }
  return CopyAncestors(*target);
}

Status Capturer::CaptureEntryDir(const std::string& dir, std::vector<std::string>* targets) {
  Fd fd(openat(root_fd_, dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno != ENOENT) {
      Skip(dir, fmt::format("opendir: {}", std::strerror(errno)));
    }
    return Status(ENOENT, dir);  // the caller decides whether a missing entry dir matters
  }
  Status s = EnsureOutDir(dir);
  if (!s.ok()) {
    return s;
  }
  DIR* d = fdopendir(fd.get());
  if (d == nullptr) {
    return Status::FromErrno(errno, dir);
  }
  int dfd = fd.release();
  std::vector<std::string> names;
  while (struct dirent* e = readdir(d)) {
    std::string_view name = e->d_name;
    if (name != "." && name != "..") {
      names.emplace_back(name);
    }
  }
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    std::string entry = Join(dir, name);
    struct stat st {};
    if (fstatat(dfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      Skip(entry, std::strerror(errno));
      continue;
    }
    if (S_ISDIR(st.st_mode)) {  // pre-2.6.25 layout: sys/block/<name> is the device itself
      targets->push_back(entry);
      continue;
    }
    if (S_ISREG(st.st_mode)) {
      s = CopyFile(entry, st);  // e.g. sys/class/*/ control files
      if (!s.ok()) {
        break;
      }
      continue;
    }
    if (!S_ISLNK(st.st_mode)) {
      continue;
    }
    s = CopyLink(dfd, entry);
    if (!s.ok()) {
      break;
    }
    Result<std::string> target = Resolve(entry);
    if (!target.ok()) {
      Skip(entry, fmt::format("cannot resolve: {}", target.status().message()));
      continue;
    }
    if (fstatat(root_fd_, target->c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode)) {
      Skip(entry, "link target is not a directory");
      continue;
    }
    targets->push_back(*target);
  }
  closedir(d);
  return s;
}

Status Capturer::CaptureUdev(const std::string& device_dir) {
  std::string devnum;
  int err = 0;
  if (ReadSource(Join(device_dir, "dev"), &devnum, &err) != ReadOutcome::kOk) {
    return Status::Ok();
  }
  devnum = TrimNewline(devnum);
  unsigned maj = 0, min = 0;
  char tail = 0;
  if (std::sscanf(devnum.c_str(), "%u:%u%c", &maj, &min, &tail) != 2) {
    Skip(Join(device_dir, "dev"), "not MAJOR:MINOR");
    return Status::Ok();
  }
  const std::string record_path = fmt::format("run/udev/data/b{}:{}", maj, min);
  std::string record;
  bool has_record = false;
  switch (ReadSource(record_path, &record, &err)) {
    case ReadOutcome::kOk:
      has_record = true;
      break;
    case ReadOutcome::kTooLarge:
      Skip(record_path, fmt::format("larger than {} bytes", max_bytes_));
      break;
    case ReadOutcome::kError:
      if (err != ENOENT) {
        Skip(record_path, std::strerror(err));
      }
      break;
  }
  if (has_record) {
    Status s = WriteOut(record_path, record);
    if (!s.ok()) {
      return s;
    }
  }

  // The name lsblk derives the node path from: /dev/<kname> with '!' as '/', or for dm
  // /dev/mapper/<dm/name> (lsblk get_device_path / __canonicalize_dm_name).
  std::string kname = Basename(device_dir);
  std::string node;
  if (kname.rfind("dm-", 0) == 0) {
    std::string dm_name;
    if (ReadSource(Join(device_dir, "dm/name"), &dm_name, &err) == ReadOutcome::kOk) {
      dm_name = TrimNewline(dm_name);
    }
    if (dm_name.empty() || dm_name.find('/') != std::string::npos || dm_name == "." ||
        dm_name == "..") {
      return Status::Ok();
    }
    node = "dev/mapper/" + dm_name;
  } else {
    std::string name = kname;
    std::replace(name.begin(), name.end(), '!', '/');
    for (const auto& part : SplitPath(name)) {
      if (part == "." || part == "..") {
        return Status::Ok();
      }
    }
    node = "dev/" + name;
  }

  std::string out;
  // lsblk --sysroot cannot stat the captured machine's /dev, so it reads these three from the
  // fake file ("lsblk specific" keys); taken from the source's device node when it has one.
  Result<std::string> node_path = Resolve(node);
  struct stat st {};
  bool has_node = node_path.ok() &&
                  fstatat(root_fd_, node_path->c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                  S_ISBLK(st.st_mode);
  if (has_node) {
    out += "MODE=" + ModeString(st.st_mode) + "\n";
    std::string owner = UserName(st.st_uid), group = GroupName(st.st_gid);
    if (!owner.empty()) {
      out += "OWNER=" + owner + "\n";
    }
    if (!group.empty()) {
      out += "GROUP=" + group + "\n";
    }
  }
  if (!has_record && !has_node) {
    return Status::Ok();
  }

  if (has_record) {
    // E: properties, last value per key wins as in libudev, kept in first-seen order.
    std::vector<std::string> keys;
    std::map<std::string, std::string> props;
    size_t pos = 0;
    while (pos < record.size()) {
      size_t nl = record.find('\n', pos);
      if (nl == std::string::npos) {
        nl = record.size();
      }
      std::string_view line(record.data() + pos, nl - pos);
      pos = nl + 1;
      if (line.size() < 3 || line.substr(0, 2) != "E:") {
        continue;
      }
      line.remove_prefix(2);
      size_t eq = line.find('=');
      if (eq == std::string_view::npos || eq == 0) {
        continue;
      }
      std::string key(line.substr(0, eq));
      if (!props.count(key)) {
        keys.push_back(key);
      }
      props[key] = std::string(line.substr(eq + 1));
    }
    auto get = [&](const char* key) -> const std::string* {
      auto it = props.find(key);
      return it == props.end() || it->second.empty() ? nullptr : &it->second;
    };
    // lsblk's fake-file reader keeps the first matching line per field and does not decode or
    // normalize MODEL/SERIAL as its udev reader does, so the udev reader's choice comes first.
    std::string model;
    if (const std::string* enc = get("ID_MODEL_ENC")) {
      model = NormalizeWhitespace(Unhexmangle(*enc));
    } else if (const std::string* raw = get("ID_MODEL")) {
      model = NormalizeWhitespace(*raw);
    }
    if (!model.empty()) {
      out += "ID_MODEL=" + model + "\n";
    }
    for (const char* key :
         {"SCSI_IDENT_SERIAL", "ID_SCSI_SERIAL", "ID_SERIAL_SHORT", "ID_SERIAL"}) {
      if (const std::string* v = get(key)) {
        std::string serial = NormalizeWhitespace(*v);
        if (!serial.empty()) {
          out += fmt::format("{}={}\n", key, serial);
        }
        break;
      }
    }
    for (const char* key : {"ID_WWN_WITH_EXTENSION", "ID_WWN"}) {
      if (const std::string* v = get(key)) {
        out += fmt::format("{}={}\n", key, *v);
        break;
      }
    }
    for (const auto& key : keys) {
      out += key + "=" + props[key] + "\n";
    }
  }
  return WriteOut(node, out);
}

Status Capturer::Run() {
  std::vector<std::string> devices;
  bool any = false;
  for (const char* dir : kBlockDirs) {
    Status s = CaptureEntryDir(dir, &devices);
    if (s.ok()) {
      any = true;
    } else if (s.code() != ENOENT) {
      return s;
    }
  }
  if (!any) {
    return Status(ENOENT,
                  "capture: the source root has none of sys/block, sys/class/block, "
                  "sys/dev/block");
  }
  std::sort(devices.begin(), devices.end());  // a disk sorts before its partitions
  devices.erase(std::unique(devices.begin(), devices.end()), devices.end());

  for (const auto& dev : devices) {
    Status s = CopyDir(dev, 0, true);
    if (s.ok()) {
      s = CopyAncestors(dev);
    }
    if (s.ok()) {
      s = CopyLinkTargetAttrs(Join(dev, "device"));
    }
    if (!s.ok()) {
      return s;
    }
  }
  for (const char* dir : kClassDirs) {
    std::vector<std::string> targets;
    Status s = CaptureEntryDir(dir, &targets);
    if (!s.ok()) {
      if (s.code() == ENOENT) {
        continue;
      }
      return s;
    }
    for (const auto& t : targets) {
      s = CopyDir(t, 0, false);
      if (s.ok()) {
        s = CopyAncestors(t);
      }
      if (!s.ok()) {
        return s;
      }
    }
  }
  for (const auto& dev : devices) {
    Status s = CaptureUdev(dev);
    if (!s.ok()) {
      return s;
    }
  }
  if (dropped_warnings_) {
    report_->warnings.push_back(fmt::format("... and {} more skipped paths", dropped_warnings_));
  }
  return Status::Ok();
}

// Creates `path` and its missing parents; the capture's own root may be a new tree.
Status MakeDirs(const std::string& path) {
  std::string cur;
  if (!path.empty() && path.front() == '/') {
    cur = "/";
  }
  for (const auto& part : SplitPath(path)) {
    if (!cur.empty() && cur != "/") {
      cur += '/';
    }
    cur += part;
    if (mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST) {
      return Status::FromErrno(errno, fmt::format("capture: mkdir {}", cur));
    }
  }
  return Status::Ok();
}

}  // namespace

Result<CaptureReport> CaptureTree(const CaptureOptions& options) {
  if (options.output_dir.empty()) {
    return Status::Invalid("capture: no output directory given");
  }
  if (options.max_file_bytes == 0) {
    return Status::Invalid("capture: max_file_bytes must be > 0");
  }
  const std::string root = options.source_root.empty() ? "/" : options.source_root;
  Fd root_fd(open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (root_fd.get() < 0) {
    return Status::FromErrno(errno, fmt::format("capture: source root {}", root));
  }

  Status s = MakeDirs(options.output_dir);
  if (!s.ok()) {
    return s;
  }
  Fd out_fd(open(options.output_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (out_fd.get() < 0) {
    return Status::FromErrno(errno,
                             fmt::format("capture: output directory {}", options.output_dir));
  }
  {
    int probe = dup(out_fd.get());
    DIR* d = probe < 0 ? nullptr : fdopendir(probe);
    if (d == nullptr) {
      if (probe >= 0) {
        ::close(probe);
      }
      return Status::FromErrno(errno,
                               fmt::format("capture: output directory {}", options.output_dir));
    }
    bool empty = true;
    while (struct dirent* e = readdir(d)) {
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
        empty = false;
        break;
      }
    }
    closedir(d);
    if (!empty) {
      return Status(ENOTEMPTY,
                    fmt::format("capture: output directory {} is not empty; refusing to write "
                                "into it (give a new or empty directory)",
                                options.output_dir));
    }
  }
  struct stat src_st {
  }, out_st{};
  if (fstat(root_fd.get(), &src_st) == 0 && fstat(out_fd.get(), &out_st) == 0 &&
      src_st.st_dev == out_st.st_dev && src_st.st_ino == out_st.st_ino) {
    return Status::Invalid("capture: output directory is the source root");
  }

  CaptureReport report;
  Capturer capturer(root_fd.get(), out_fd.get(), options.max_file_bytes, &report);
  s = capturer.Run();
  if (!s.ok()) {
    return s;
  }
  return report;
}

}  // namespace diskinv
