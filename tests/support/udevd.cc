#include "support/udevd.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <thread>
#include <vector>

extern char** environ;

namespace diskinv::testing {
namespace {

// posix_spawn with stdout/stderr to `log` (or /dev/null); returns the pid.
Result<pid_t> Spawn(const std::vector<std::string>& argv, const std::string& log) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  const char* out = log.empty() ? "/dev/null" : log.c_str();
  posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid = 0;
  int r = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (r != 0) return Status::FromErrno(r, "spawn " + argv[0]);
  return pid;
}

}  // namespace

Status RunProgram(const std::vector<std::string>& argv) {
  Result<pid_t> pid = Spawn(argv, "");
  if (!pid.ok()) return pid.status();
  int st = 0;
  while (waitpid(*pid, &st, 0) < 0) {
    if (errno != EINTR) return Status::FromErrno(errno, "waitpid " + argv[0]);
  }
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return Status::Ok();
  return Status::Invalid(fmt::format("{} exited with status {:#x}", fmt::join(argv, " "), st));
}

Result<std::unique_ptr<Udevd>> Udevd::Ensure(const UdevdOptions& options) {
  std::unique_ptr<Udevd> u(new Udevd(options));
  auto ping = [&] {
    return access((options.run_dir + "/control").c_str(), F_OK) == 0 &&
           RunProgram({options.udevadm, "control", "--ping", "--timeout=2"}).ok();
  };
  if (ping()) return u;
  if (access(options.binary.c_str(), X_OK) < 0) {
    return Status::FromErrno(errno, options.binary + " (install the Debian package udev)");
  }
  Result<pid_t> pid = Spawn({options.binary}, options.log_file);
  if (!pid.ok()) return pid.status();
  u->pid_ = *pid;
  auto deadline = std::chrono::steady_clock::now() + options.start_timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int st;
    if (waitpid(u->pid_, &st, WNOHANG) == u->pid_) {
      u->pid_ = 0;
      return Status::Invalid(
          fmt::format("{} exited with status {:#x}; see {}", options.binary, st, options.log_file));
    }
    if (ping()) return u;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return Status::Invalid(fmt::format("{} (pid {}) did not answer within {} ms; see {}",
                                     options.binary, u->pid_, options.start_timeout.count(),
                                     options.log_file));
}

Udevd::~Udevd() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
}

Status Udevd::Settle(std::chrono::seconds timeout) const {
  return RunProgram({options_.udevadm, "settle", fmt::format("--timeout={}", timeout.count())});
}

Status Udevd::ReloadRules() const { return RunProgram({options_.udevadm, "control", "--reload"}); }

std::string LoopDevicesAndUdevd(std::unique_ptr<Udevd>& udevd) {
  if (geteuid() != 0) return "needs root (loop devices, uevents)";
  if (access("/dev/loop-control", F_OK) != 0) return "no /dev/loop-control";
  if (udevd) return {};
  Result<std::unique_ptr<Udevd>> u = Udevd::Ensure();
  if (!u.ok()) return "no udevd: " + u.status().message();
  udevd = std::move(u).value();
  if (udevd->started_by_us()) std::printf("[ info ] started udevd, pid %d\n", udevd->pid());
  return {};
}

}  // namespace diskinv::testing
