#include "agent/tuning_sysfs_writer.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "common/logging.h"
#include "common/parse.h"
#include "reconcile/queue_attribute.h"
#include "sysfs/attr_parse.h"

namespace diskinv {

Status CheckTuningTarget(std::string_view kname, std::string_view attribute) {
  if (kname.empty() || kname.size() > 64 || kname == "." || kname == ".." ||
      kname.find('/') != std::string_view::npos || kname.find('\0') != std::string_view::npos) {
    return Status(EPERM, fmt::format("refusing to write: '{}' is not a kernel device name",
                                     QuoteForError(kname)));
  }
  if (FindQueueAttribute(attribute) == nullptr) {
    return Status(EPERM, fmt::format("refusing to write queue/{}: not on the whitelist",
                                     QuoteForError(attribute)));
  }
  return Status::Ok();
}

Result<std::unique_ptr<RealTuningSysfsWriter>> RealTuningSysfsWriter::Open(const std::string& root) {
  int fd = open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open sysroot " + root);
  bool in_root = root != "/";
  return std::unique_ptr<RealTuningSysfsWriter>(new RealTuningSysfsWriter(root, fd, in_root));
}

RealTuningSysfsWriter::~RealTuningSysfsWriter() { close(root_fd_); }

Status RealTuningSysfsWriter::WriteQueueAttribute(std::string_view kname,
                                                  std::string_view attribute,
                                                  std::string_view value) {
  if (Status s = CheckTuningTarget(kname, attribute); !s.ok()) return s;
  std::string path = fmt::format("sys/block/{}/queue/{}", kname, attribute);
  open_how how{};
  how.flags = O_WRONLY | O_CLOEXEC | O_NOFOLLOW;
  how.resolve = RESOLVE_NO_MAGICLINKS | (in_root_ ? RESOLVE_IN_ROOT : 0);
  // sys/block/<kname> is itself a symlink into sys/devices: only the last component must not be.
  int fd = static_cast<int>(syscall(SYS_openat2, root_fd_, path.c_str(), &how, sizeof(how)));
  if (fd < 0 && errno == ENOSYS) fd = openat(root_fd_, path.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return Status::FromErrno(errno, fmt::format("open {}/{} for writing", root_, path));
  ssize_t n = write(fd, value.data(), value.size());
  int err = errno;
  close(fd);
  if (n < 0) return Status::FromErrno(err, fmt::format("write '{}' to {}", value, path));
  if (static_cast<size_t>(n) != value.size()) {
    return Status(EIO, fmt::format("short write to {}: {} of {} bytes", path, n, value.size()));
  }
  Logger("agent")->debug("wrote {}={}", path, value);
  return Status::Ok();
}

Status FakeTuningSysfsWriter::WriteQueueAttribute(std::string_view kname,
                                                  std::string_view attribute,
                                                  std::string_view value) {
  if (Status s = CheckTuningTarget(kname, attribute); !s.ok()) return s;
  std::string path = fmt::format("sys/block/{}/queue/{}", kname, attribute);
  if (auto it = fail_.find(std::string(attribute)); it != fail_.end()) {
    return Status::FromErrno(it->second, fmt::format("write '{}' to {}", value, path));
  }
  auto cur = tree_->ReadFile(path, SysfsReader::kDefaultMaxBytes);
  if (!cur.ok()) return Status(cur.status().code(), cur.status().message());
  writes_.push_back(fmt::format("{}/{}={}", kname, attribute, value));
  if (attribute == "scheduler") {
    SchedulerList l = ParseScheduler(*cur);
    std::string out;
    for (const auto& s : l.available) {
      if (!out.empty()) out += ' ';
      out += s == value ? "[" + s + "]" : s;
    }
    tree_->AddFile(path, out + "\n");
  } else if (auto it = instead_.find(std::string(attribute)); it != instead_.end()) {
    tree_->AddFile(path, it->second + "\n");
  } else {
    tree_->AddFile(path, std::string(value) + "\n");
  }
  return Status::Ok();
}

}  // namespace diskinv
