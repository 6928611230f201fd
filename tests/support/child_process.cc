#include "support/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

namespace diskinv::testing {

extern "C" char** environ;

Result<std::unique_ptr<ChildProcess>> ChildProcess::Start(const std::vector<std::string>& argv,
                                                          const std::vector<std::string>& env) {
  char tmpl[] = "/tmp/diskinv-child.XXXXXX";
  int fd = mkstemp(tmpl);
  if (fd < 0) return Status::FromErrno(errno, "mkstemp");
  std::vector<std::string> envs;
  for (char** e = environ; *e; ++e) envs.emplace_back(*e);
  for (const auto& e : env) envs.push_back(e);
  std::vector<char*> a, ev;
  for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
  a.push_back(nullptr);
  for (const auto& s : envs) ev.push_back(const_cast<char*>(s.c_str()));
  ev.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) {
    close(fd);
    return Status::FromErrno(errno, "fork");
  }
  if (pid == 0) {
    int null = open("/dev/null", O_RDONLY);
    dup2(null, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    execve(a[0], a.data(), ev.data());
    _exit(127);
  }
  close(fd);
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid, tmpl));
}

ChildProcess::~ChildProcess() {
  if (!status_) {
    kill(pid_, SIGKILL);
    int st;
    waitpid(pid_, &st, 0);
  }
  unlink(out_.c_str());
}

bool ChildProcess::running() { return !Wait(std::chrono::milliseconds(0)).has_value(); }

void ChildProcess::Signal(int sig) {
  if (!status_) kill(pid_, sig);
}

std::optional<int> ChildProcess::Wait(std::chrono::milliseconds timeout) {
  if (status_) return status_;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int st = 0;
    pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      status_ = st;
      return status_;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::optional<int> ChildProcess::ExitCode(std::chrono::milliseconds timeout) {
  auto st = Wait(timeout);
  if (!st) return std::nullopt;
  if (WIFEXITED(*st)) return WEXITSTATUS(*st);
  if (WIFSIGNALED(*st)) return 128 + WTERMSIG(*st);
  return -1;
}

std::string ChildProcess::Output() const {
  std::ifstream in(out_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace diskinv::testing
