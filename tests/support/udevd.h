// A systemd-udevd for integration tests: uses the one that runs, or starts a standalone one
// (Debian package "udev") in the foreground and stops it, by its pid, when the handle goes.
// A udevd counts as running when `udevadm control --ping` answers on <run_dir>/control.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace diskinv::testing {

struct UdevdOptions {
  std::string binary = "/lib/systemd/systemd-udevd";
  std::string udevadm = "udevadm";
  std::string run_dir = "/run/udev";
  std::string log_file = "/tmp/diskinv-test-udevd.log";  // stdout+stderr of a started udevd
  std::chrono::milliseconds start_timeout{10000};
};

class Udevd {
 public:
  // Fails (with the reason) when no udevd runs and none can be started: binary missing (the
  // test may then skip outside CI), or it did not answer within start_timeout.
  static Result<std::unique_ptr<Udevd>> Ensure(const UdevdOptions& options = {});
  ~Udevd();  // SIGTERM to the udevd we started, SIGKILL after 5 s; nothing if we did not
  Udevd(const Udevd&) = delete;
  Udevd& operator=(const Udevd&) = delete;

  bool started_by_us() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }  // 0 when it was already running
  // `udevadm settle`: waits until udevd's queue is empty.
  Status Settle(std::chrono::seconds timeout = std::chrono::seconds(10)) const;
  // `udevadm control --reload`, after a test changed rules.
  Status ReloadRules() const;

 private:
  explicit Udevd(UdevdOptions options) : options_(std::move(options)) {}
  UdevdOptions options_;
  pid_t pid_ = 0;
};

// What the fixtures that attach loop devices and watch their uevents need, for their SetUp:
// root, /dev/loop-control and a running udevd, kept in `udevd` (one per test suite: started by
// the first test if none runs; the suite's TearDownTestSuite resets it). Returns "" when all is
// there, else why not, for DISKINV_REQUIRE_FACILITY.
std::string LoopDevicesAndUdevd(std::unique_ptr<Udevd>& udevd);

// Runs a program (no shell) and returns its exit status as a Status (EINVAL + output on
// non-zero exit). Used for udevadm; handy for tests that need a tool.
Status RunProgram(const std::vector<std::string>& argv);

}  // namespace diskinv::testing
