#include "agent/sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "common/parse.h"

namespace diskinv {

SdNotifier SdNotifier::FromEnvironment() {
  const char* sock = std::getenv("NOTIFY_SOCKET");
  if (sock == nullptr || *sock == '\0') return SdNotifier();
  std::optional<std::chrono::microseconds> wd;
  const char* usec = std::getenv("WATCHDOG_USEC");
  const char* pid = std::getenv("WATCHDOG_PID");
  auto pid_ok = pid == nullptr || (ParseU64(pid).ok() && *ParseU64(pid) == uint64_t(getpid()));
  if (usec != nullptr && pid_ok) {
    if (auto v = ParseU64(usec); v.ok() && *v > 0) {
      wd = std::chrono::microseconds(static_cast<int64_t>(*v));
    }
  }
  return SdNotifier(sock, wd);
}

SdNotifier::SdNotifier(std::string socket_path, std::optional<std::chrono::microseconds> watchdog)
    : path_(std::move(socket_path)), watchdog_(watchdog) {}

SdNotifier::~SdNotifier() {
  if (fd_ >= 0) close(fd_);
}

SdNotifier::SdNotifier(SdNotifier&& o) noexcept
    : path_(std::move(o.path_)), fd_(std::exchange(o.fd_, -1)), watchdog_(o.watchdog_) {}

SdNotifier& SdNotifier::operator=(SdNotifier&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) close(fd_);
    path_ = std::move(o.path_);
    fd_ = std::exchange(o.fd_, -1);
    watchdog_ = o.watchdog_;
  }
  return *this;
}

Status SdNotifier::Notify(std::string_view state) {
  if (path_.empty()) return Status::Ok();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path_.size() >= sizeof(addr.sun_path) || (path_[0] != '/' && path_[0] != '@')) {
    return Status::Invalid(fmt::format("NOTIFY_SOCKET {} is not an absolute path or @name",
                                       QuoteForError(path_)));
  }
  std::memcpy(addr.sun_path, path_.data(), path_.size());
  if (path_[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path_.size());
  if (fd_ < 0) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return Status::FromErrno(errno, "socket(AF_UNIX) for sd_notify");
  }
  if (sendto(fd_, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr),
             len) < 0) {
    return Status::FromErrno(errno, fmt::format("sd_notify to {}", path_));
  }
  return Status::Ok();
}

}  // namespace diskinv
