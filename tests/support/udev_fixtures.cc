#include "support/udev_fixtures.h"

#include <fcntl.h>
#include <linux/blkpg.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <thread>

#include "support/loop_device.h"  // LoopControlAdd/Remove
#include "support/shell.h"        // ReadWholeFile

namespace diskinv::testing {

namespace fs = std::filesystem;

void RuntimeRules::Install(const fs::path& src, const std::string& name) {
  Save(name);
  fs::copy_file(src, kRunUdevRules / name, fs::copy_options::overwrite_existing);
}

void RuntimeRules::Append(const std::string& name, const std::string& line) {
  Save(name);
  std::ofstream(kRunUdevRules / name, std::ios::app) << line << "\n";
}

RuntimeRules::~RuntimeRules() {
  for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
    if (it->second) {
      std::ofstream(it->first) << *it->second;
    } else {
      fs::remove(it->first);
    }
  }
}

void RuntimeRules::Save(const std::string& name) {
  fs::create_directories(kRunUdevRules);
  fs::path dst = kRunUdevRules / name;
  for (const auto& [p, _] : saved_) {
    if (p == dst) return;
  }
  std::optional<std::string> old;
  if (fs::exists(dst)) old = ReadWholeFile(dst.string());
  saved_.emplace_back(dst, old);
}

Result<std::unique_ptr<FreshLoop>> FreshLoop::Create(uint64_t size_bytes, int index,
                                                     bool partition) {
  std::unique_ptr<FreshLoop> l(new FreshLoop());
  l->backing_ = "/tmp/diskinv-rules-XXXXXX";
  int bfd = mkstemp(l->backing_.data());
  if (bfd < 0) return Status::FromErrno(errno, "mkstemp " + l->backing_);
  if (ftruncate(bfd, static_cast<off_t>(size_bytes)) < 0) {
    Status st = Status::FromErrno(errno, "ftruncate " + l->backing_);
    close(bfd);
    return st;
  }
  Result<int> made = LoopControlAdd(index);
  if (!made.ok()) {
    close(bfd);
    return made.status();
  }
  l->index_ = *made;
  int dev = open(l->node().c_str(), O_RDONLY | O_CLOEXEC);
  if (dev < 0) {
    close(bfd);
    return Status::FromErrno(errno, "open " + l->node());
  }
  loop_config cfg{};
  cfg.fd = static_cast<uint32_t>(bfd);
  cfg.info.lo_flags = LO_FLAGS_PARTSCAN;
  int r = ioctl(dev, LOOP_CONFIGURE, &cfg);
  int err = errno;
  close(bfd);
  if (r != 0) {
    close(dev);
    return Status::FromErrno(err, "LOOP_CONFIGURE " + l->node());
  }
  l->attached_ = true;
  if (partition) {
    blkpg_partition part{};
    part.start = 1 << 20;
    part.length = static_cast<long long>(size_bytes) - part.start;
    part.pno = 1;
    blkpg_ioctl_arg arg{};
    arg.op = BLKPG_ADD_PARTITION;
    arg.datalen = sizeof part;
    arg.data = &part;
    r = ioctl(dev, BLKPG, &arg);
    err = errno;
  }
  close(dev);
  if (r != 0) return Status::FromErrno(err, "BLKPG_ADD_PARTITION on " + l->node());
  return l;
}

FreshLoop::~FreshLoop() {
  (void)Detach();
  if (index_ >= 0) {
    for (int i = 0; i < 50 && !Remove().ok(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // EBUSY while udev has it
    }
  }
  unlink(backing_.c_str());
}

Status FreshLoop::Detach() {
  if (!attached_) return Status::Ok();
  int dev = open(node().c_str(), O_RDONLY | O_CLOEXEC);
  if (dev < 0) return Status::FromErrno(errno, "open " + node());
  int r = ioctl(dev, LOOP_CLR_FD, 0);
  int err = errno;
  close(dev);
  if (r != 0) return Status::FromErrno(err, "LOOP_CLR_FD " + node());
  attached_ = false;
  return Status::Ok();
}

Status FreshLoop::Remove() {
  Status st = LoopControlRemove(index_);
  if (st.ok()) index_ = -1;
  return st;
}

int UnusedLoopIndex(int from) {
  int i = from;
  while (fs::exists("/sys/block/loop" + std::to_string(i))) ++i;
  return i;
}

}  // namespace diskinv::testing
