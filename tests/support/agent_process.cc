#include "support/agent_process.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <sstream>
#include <thread>

#include "support/lsblk_compare.h"  // DiskinvBinary
#include "support/shell.h"          // ReadWholeFile

namespace diskinv::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

bool Poll(const std::function<bool()>& cond, milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return cond();
}

}  // namespace

AgentProcess::AgentProcess(const std::string& dir, const std::string& config,
                           std::map<std::string, std::string> env)
    : log_(fmt::format("{}/agent-{}.log", dir, ++count_)),
      notify_path_(fmt::format("{}/notify-{}", dir, count_)) {
  unlink(notify_path_.c_str());
  sock_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", notify_path_.c_str());
  if (bind(sock_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::fprintf(stderr, "bind %s: %s\n", notify_path_.c_str(), std::strerror(errno));
  }
  env["NOTIFY_SOCKET"] = notify_path_;
  std::string bin = DiskinvBinary();
  pid_ = fork();
  if (pid_ == 0) {
    int fd = open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    execl(bin.c_str(), bin.c_str(), "--log-format", "json", "--log-level", "debug", "agent",
          "--config", config.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
}

AgentProcess::~AgentProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  close(sock_);
  unlink(notify_path_.c_str());
}

bool AgentProcess::alive() {
  if (pid_ <= 0) return false;
  int st;
  if (waitpid(pid_, &st, WNOHANG) == pid_) {
    status_ = st;
    pid_ = 0;
    return false;
  }
  return true;
}

const std::vector<std::string>& AgentProcess::notifications() {
  char buf[4096];
  ssize_t n;
  while ((n = recv(sock_, buf, sizeof buf, 0)) > 0)
    notes_.emplace_back(buf, static_cast<size_t>(n));
  return notes_;
}

bool AgentProcess::Notified(const std::string& what) {
  for (const auto& n : notifications()) {
    if (n.find(what) != std::string::npos) return true;
  }
  return false;
}

std::string AgentProcess::LastStatus() {
  std::string last;
  for (const auto& n : notifications()) {
    std::istringstream in(n);
    for (std::string line; std::getline(in, line);) {
      if (line.starts_with("STATUS=")) last = line.substr(7);
    }
  }
  return last;
}

bool AgentProcess::WaitReady(milliseconds timeout) {
  return Poll([&] { return Notified("READY=1") || !alive(); }, timeout) && alive();
}

void AgentProcess::Signal(int sig) {
  if (pid_ > 0) kill(pid_, sig);
}

int AgentProcess::WaitExit(milliseconds timeout) {
  Poll([&] { return !alive(); }, timeout);
  if (pid_ > 0) return -1;
  return WIFEXITED(status_) ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_);
}

void AgentProcess::Kill9() {
  kill(pid_, SIGKILL);
  WaitExit();
}

std::vector<nlohmann::json> AgentProcess::Log() const {
  std::vector<nlohmann::json> out;
  std::istringstream in(ReadWholeFile(log_));
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded()) out.push_back(j);
  }
  return out;
}

bool AgentProcess::Logged(const std::string& level, const std::string& text) const {
  for (const auto& j : Log()) {
    if ((level.empty() || j.value("level", "") == level) &&
        j.value("msg", "").find(text) != std::string::npos) {
      return true;
    }
  }
  return false;
}

std::string AgentProcess::LogText() const { return ReadWholeFile(log_); }

}  // namespace diskinv::testing
