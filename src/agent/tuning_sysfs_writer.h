// TuningSysfsWriter: the only way diskinv writes to sysfs. It writes one whitelisted queue
// attribute (reconcile/queue_attribute.h) of one device: <root>/sys/block/<kname>/queue/<attr>.
// Anything else (another file, a kname with '/', "..") is refused before any system call.
//
// RealTuningSysfsWriter opens the file relative to a root directory fd with
// openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) so a symlink cannot lead the write out of
// the root (tests point it at a tree; production at "/"); O_WRONLY without O_CREAT or O_TRUNC,
// one write(2) of the value, and the kernel's errno (EINVAL, EBUSY, ...) is returned.
// FakeTuningSysfsWriter writes into a FakeSysfsReader and imitates what the kernel shows after
// a write (the scheduler's brackets move), with injectable failures.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "sysfs/fake_sysfs_reader.h"

namespace diskinv {

class TuningSysfsWriter {
 public:
  virtual ~TuningSysfsWriter() = default;
  virtual Status WriteQueueAttribute(std::string_view kname, std::string_view attribute,
                                     std::string_view value) = 0;
};

// Refuses what the writers must never write: an attribute not on the whitelist, a bad kname.
Status CheckTuningTarget(std::string_view kname, std::string_view attribute);

class RealTuningSysfsWriter : public TuningSysfsWriter {
 public:
  static Result<std::unique_ptr<RealTuningSysfsWriter>> Open(const std::string& root);
  ~RealTuningSysfsWriter() override;
  Status WriteQueueAttribute(std::string_view kname, std::string_view attribute,
                             std::string_view value) override;

 private:
  RealTuningSysfsWriter(std::string root, int fd, bool in_root)
      : root_(std::move(root)), root_fd_(fd), in_root_(in_root) {}
  std::string root_;
  int root_fd_;
  bool in_root_;
};

class FakeTuningSysfsWriter : public TuningSysfsWriter {
 public:
  explicit FakeTuningSysfsWriter(FakeSysfsReader* tree) : tree_(tree) {}
  Status WriteQueueAttribute(std::string_view kname, std::string_view attribute,
                             std::string_view value) override;
  // The next writes of `attribute` fail with `err` (as the kernel's store would).
  void FailWrites(std::string_view attribute, int err) { fail_[std::string(attribute)] = err; }
  // Writes of `attribute` succeed but the kernel keeps `stored` (it clamped or rounded).
  void StoreInstead(std::string_view attribute, std::string stored) {
    instead_[std::string(attribute)] = std::move(stored);
  }
  // What was written, "kname/attr=value", in order.
  const std::vector<std::string>& writes() const { return writes_; }

 private:
  FakeSysfsReader* tree_;
  std::map<std::string, int> fail_;
  std::map<std::string, std::string> instead_;
  std::vector<std::string> writes_;
};

}  // namespace diskinv
