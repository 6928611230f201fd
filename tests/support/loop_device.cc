#include "support/loop_device.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace diskinv::testing {
namespace {

// Runs one ioctl on /dev/loopN opened read-only (see the header for why).
Status LoopIoctl(int index, unsigned long request, unsigned long arg, const char* what) {
  std::string node = fmt::format("/dev/loop{}", index);
  int fd = open(node.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open " + node);
  int r = ioctl(fd, request, arg);
  int err = errno;
  close(fd);
  if (r < 0) return Status::FromErrno(err, fmt::format("{} on {}", what, node));
  return Status::Ok();
}

Result<int> ControlIoctl(unsigned long request, long arg, const char* what) {
  int fd = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open /dev/loop-control");
  int r = ioctl(fd, request, arg);
  int err = errno;
  close(fd);
  if (r < 0) return Status::FromErrno(err, fmt::format("{}({})", what, arg));
  return r;
}

}  // namespace

Result<LoopDevice> LoopDevice::Attach(uint64_t size_bytes, const std::string& dir) {
  std::string path = dir + "/diskinv-loop-XXXXXX";
  int bfd = mkstemp(path.data());
  if (bfd < 0) return Status::FromErrno(errno, "mkstemp " + path);
  if (ftruncate(bfd, static_cast<off_t>(size_bytes)) < 0) {
    Status s = Status::FromErrno(errno, "ftruncate " + path);
    close(bfd);
    unlink(path.c_str());
    return s;
  }
  auto dev = AttachFd(bfd, path);
  if (!dev.ok()) unlink(path.c_str());
  return dev;
}

Result<LoopDevice> LoopDevice::AttachFile(const std::string& path) {
  int bfd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (bfd < 0) return Status::FromErrno(errno, "open " + path);
  auto dev = AttachFd(bfd, path);
  if (dev.ok()) dev->owns_file_ = false;
  return dev;
}

// Attaches `bfd` (closed here) to a free loop device.
Result<LoopDevice> LoopDevice::AttachFd(int bfd, const std::string& path) {
  Status last;
  for (int attempt = 0; attempt < 20; ++attempt) {
    Result<int> index = ControlIoctl(LOOP_CTL_GET_FREE, 0, "LOOP_CTL_GET_FREE");
    if (!index.ok()) {
      last = index.status();
      break;
    }
    loop_config cfg{};
    cfg.fd = static_cast<uint32_t>(bfd);
    std::snprintf(reinterpret_cast<char*>(cfg.info.lo_file_name), LO_NAME_SIZE, "%s", path.c_str());
    last =
        LoopIoctl(*index, LOOP_CONFIGURE, reinterpret_cast<unsigned long>(&cfg), "LOOP_CONFIGURE");
    if (last.ok()) {
      close(bfd);
      LoopDevice dev(*index, path);
      dev.attached_ = true;
      return dev;
    }
    if (last.code() != EBUSY && last.code() != ENOENT) break;  // raced: try the next free one
    usleep(10000);
  }
  close(bfd);
  return last;
}

LoopDevice::LoopDevice(LoopDevice&& o) noexcept
    : index_(o.index_),
      backing_(std::move(o.backing_)),
      attached_(o.attached_),
      owns_file_(o.owns_file_) {
  o.index_ = -1;
  o.backing_.clear();
  o.attached_ = false;
}

LoopDevice& LoopDevice::operator=(LoopDevice&& o) noexcept {
  if (this == &o) return *this;
  if (attached_) (void)Detach();
  if (owns_file_ && !backing_.empty()) unlink(backing_.c_str());
  index_ = std::exchange(o.index_, -1);
  backing_ = std::exchange(o.backing_, {});
  attached_ = std::exchange(o.attached_, false);
  owns_file_ = o.owns_file_;
  return *this;
}

LoopDevice::~LoopDevice() {
  if (attached_) (void)Detach();
  if (owns_file_ && !backing_.empty()) unlink(backing_.c_str());
}

Status LoopDevice::Resize(uint64_t size_bytes) {
  if (truncate(backing_.c_str(), static_cast<off_t>(size_bytes)) < 0) {
    return Status::FromErrno(errno, "truncate " + backing_);
  }
  return LoopIoctl(index_, LOOP_SET_CAPACITY, 0, "LOOP_SET_CAPACITY");
}

Status LoopDevice::Detach() {
  if (!attached_) return Status::Ok();
  Status s = LoopIoctl(index_, LOOP_CLR_FD, 0, "LOOP_CLR_FD");
  if (s.ok() || s.code() == ENXIO) attached_ = false;  // ENXIO: already unbound
  return s.code() == ENXIO ? Status::Ok() : s;
}

Result<int> LoopControlAdd(int index) { return ControlIoctl(LOOP_CTL_ADD, index, "LOOP_CTL_ADD"); }

Status LoopControlRemove(int index) {
  Result<int> r = ControlIoctl(LOOP_CTL_REMOVE, index, "LOOP_CTL_REMOVE");
  return r.ok() ? Status::Ok() : r.status();
}

}  // namespace diskinv::testing
