#include "support/http_client.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>

namespace diskinv::testing {

uint16_t FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

Result<int> ConnectLoopback(uint16_t port, int family) {
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno(errno, "socket");
  int r;
  if (family == AF_INET6) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port);
    a.sin6_addr = in6addr_loopback;
    r = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  } else {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    r = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  if (r != 0) {
    Status st = Status::FromErrno(errno, fmt::format("connect to loopback port {}", port));
    close(fd);
    return st;
  }
  return fd;
}

std::string ReadUntilClosed(int fd, std::chrono::milliseconds timeout) {
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

Result<std::string> HttpExchange(uint16_t port, std::string_view request, int family) {
  Result<int> fd = ConnectLoopback(port, family);
  if (!fd.ok()) return fd.status();
  if (send(*fd, request.data(), request.size(), MSG_NOSIGNAL) < 0) {
    Status st = Status::FromErrno(errno, "send");
    close(*fd);
    return st;
  }
  std::string r = ReadUntilClosed(*fd);
  close(*fd);
  return r;
}

Result<std::string> HttpGet(uint16_t port, std::string_view path) {
  Result<std::string> r =
      HttpExchange(port, fmt::format("GET {} HTTP/1.1\r\nHost: test\r\n\r\n", path));
  if (!r.ok()) return r.status();
  if (StatusLine(*r) != "HTTP/1.1 200 OK") {
    return Status::Invalid(fmt::format("GET {}: '{}'", path, StatusLine(*r)));
  }
  return Body(*r);
}

std::string StatusLine(const std::string& response) {
  return response.substr(0, response.find("\r\n"));
}

std::string Body(const std::string& response) {
  size_t p = response.find("\r\n\r\n");
  return p == std::string::npos ? "" : response.substr(p + 4);
}

}  // namespace diskinv::testing
