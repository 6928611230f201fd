// Loop devices for integration tests, driven with the loop ioctls (no losetup): attach a small
// sparse backing file, resize, detach; and create/delete loopN itself through /dev/loop-control
// (which is what makes the kernel send add/remove uevents for it). Needs root.
//
// The loop device is opened read-only for every ioctl and closed at once: udevd watches block
// devices with inotify and turns every close-after-write into a synthetic "change" event, which
// would make the events a test expects inexact.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace diskinv::testing {

class LoopDevice {
 public:
  // Creates a sparse file of `size_bytes` in `dir` and attaches it to a free loop device
  // (LOOP_CTL_GET_FREE + LOOP_CONFIGURE, retried when another process takes the same one).
  static Result<LoopDevice> Attach(uint64_t size_bytes, const std::string& dir = "/tmp");
  // Attaches an existing file (kept when the LoopDevice goes; reattaching the same file is how
  // a test brings "the same disk" back).
  static Result<LoopDevice> AttachFile(const std::string& path);
  LoopDevice(LoopDevice&& other) noexcept;
  LoopDevice& operator=(LoopDevice&& other) noexcept;
  ~LoopDevice();  // detaches if still attached, removes the backing file

  // Grows or shrinks the backing file and tells the loop driver (LOOP_SET_CAPACITY).
  Status Resize(uint64_t size_bytes);
  // LOOP_CLR_FD. The loopN device stays (it is only emptied); idempotent.
  Status Detach();

  int index() const { return index_; }
  std::string name() const { return "loop" + std::to_string(index_); }
  std::string devpath() const { return "/devices/virtual/block/" + name(); }
  std::string node() const { return "/dev/" + name(); }
  const std::string& backing_file() const { return backing_; }

 private:
  LoopDevice(int index, std::string backing) : index_(index), backing_(std::move(backing)) {}
  static Result<LoopDevice> AttachFd(int fd, const std::string& path);
  int index_ = -1;
  std::string backing_;
  bool attached_ = false;
  bool owns_file_ = true;
};

// LOOP_CTL_ADD: creates loop<index> (index < 0: the kernel picks); returns the index.
Result<int> LoopControlAdd(int index = -1);
// LOOP_CTL_REMOVE: deletes loop<index>; EBUSY while it is attached or open.
Status LoopControlRemove(int index);

}  // namespace diskinv::testing
