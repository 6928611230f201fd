// ChildProcess: a program started in the background by a test (diskinv reconcile, cdc tail,
// ...), with its stdout and stderr in a file, signalled and reaped by pid. The destructor
// kills (SIGKILL) and reaps it if it still runs, so a failing test leaves nothing behind.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace diskinv::testing {

class ChildProcess {
 public:
  // `env`: extra NAME=VALUE entries added to the environment.
  static Result<std::unique_ptr<ChildProcess>> Start(const std::vector<std::string>& argv,
                                                      const std::vector<std::string>& env = {});
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  void Signal(int sig);
  // The wait status (as waitpid gives it) once the process ended within `timeout`.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  // Exit code, or 128 + signal when it was killed; nullopt while running.
  std::optional<int> ExitCode(std::chrono::milliseconds timeout);
  std::string Output() const;  // stdout and stderr so far

 private:
  ChildProcess(pid_t pid, std::string out) : pid_(pid), out_(std::move(out)) {}
  pid_t pid_;
  std::string out_;
  std::optional<int> status_;
};

}  // namespace diskinv::testing
