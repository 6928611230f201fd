#include "agent/metrics_server.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "agent/http_request.h"
#include "agent/metrics.h"
#include "common/logging.h"
#include "common/parse.h"

namespace diskinv {
namespace {

using Clock = std::chrono::steady_clock;

std::shared_ptr<spdlog::logger> Log() { return Logger("metrics"); }

// After the response: how long to read and discard what the client still sends before
// closing, so that unread bytes do not turn our close into a reset that loses the response.
constexpr std::chrono::milliseconds kLingerTime{1000};

std::string Response(int code, std::string_view reason, std::string_view content_type,
                     std::string_view body, bool head_only, std::string_view extra = {}) {
  std::string out = fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}Connection: close\r\n\r\n",
      code, reason, content_type, body.size(), extra);
  if (!head_only) out.append(body);
  return out;
}

std::string ErrorResponse(int code, std::string_view reason, std::string_view detail,
                          std::string_view extra = {}) {
  return Response(code, reason, "text/plain; charset=utf-8", fmt::format("{}\n", detail), false,
                  extra);
}

std::string FormatAddress(const sockaddr_storage& ss) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
    return fmt::format("[{}]:{}", buf, ntohs(a->sin6_port));
  }
  const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
  inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
  return fmt::format("{}:{}", buf, ntohs(a->sin_port));
}

struct Connection {
  enum class State { kReading, kWriting, kLingering };
  int fd = -1;
  State state = State::kReading;
  std::string in;
  std::string out;
  size_t sent = 0;
  Clock::time_point deadline;
};

}  // namespace

Status SplitHostPort(std::string_view listen, std::string* host, uint16_t* port) {
  size_t colon = listen.rfind(':');
  if (colon == std::string_view::npos) {
    return Status::Invalid(fmt::format("listen address '{}' is not HOST:PORT", listen));
  }
  std::string_view h = listen.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') {
    h = h.substr(1, h.size() - 2);
  } else if (h.find(':') != std::string_view::npos) {
    return Status::Invalid(
        fmt::format("listen address '{}': write an IPv6 address in brackets, [::1]:PORT", listen));
  }
  if (h.empty()) {
    return Status::Invalid(fmt::format(
        "listen address '{}' has no host (0.0.0.0:PORT listens on every address)", listen));
  }
  Result<uint64_t> p = ParseU64(listen.substr(colon + 1));
  if (!p.ok() || *p > 65535) {
    return Status::Invalid(
        fmt::format("listen address '{}': bad port '{}'", listen, listen.substr(colon + 1)));
  }
  *host = std::string(h);
  *port = static_cast<uint16_t>(*p);
  return Status::Ok();
}

Result<std::unique_ptr<MetricsServer>> MetricsServer::Start(const MetricsServerOptions& options,
                                                            const MetricsRegistry* registry) {
  return Start(options, [registry] { return registry->Render(); });
}

Result<std::unique_ptr<MetricsServer>> MetricsServer::Start(const MetricsServerOptions& options,
                                                            Renderer render) {
  std::string host;
  uint16_t port = 0;
  if (Status st = SplitHostPort(options.listen, &host, &port); !st.ok()) return st;
  if (options.max_request_bytes < 64 || options.max_connections == 0) {
    return Status::Invalid("metrics server: max_request_bytes < 64 or max_connections == 0");
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* ai = nullptr;
  std::string service = std::to_string(port);
  if (int r = getaddrinfo(host.c_str(), service.c_str(), &hints, &ai); r != 0) {
    return Status::Invalid(
        fmt::format("metrics listen address '{}': {}", options.listen, gai_strerror(r)));
  }
  std::unique_ptr<MetricsServer> s(new MetricsServer(options, std::move(render)));
  Status last = Status::Invalid(fmt::format("metrics listen address '{}': no address", host));
  for (addrinfo* a = ai; a != nullptr && s->listen_fd_ < 0; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      last = Status::FromErrno(errno, "socket for metrics");
      continue;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, a->ai_addr, a->ai_addrlen) < 0) {
      last = Status::FromErrno(errno, fmt::format("bind metrics socket to {}", options.listen));
      close(fd);
      continue;
    }
    if (listen(fd, 64) < 0) {
      last = Status::FromErrno(errno, fmt::format("listen on {}", options.listen));
      close(fd);
      continue;
    }
    s->listen_fd_ = fd;
  }
  freeaddrinfo(ai);
  if (s->listen_fd_ < 0) return last;
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  getsockname(s->listen_fd_, reinterpret_cast<sockaddr*>(&bound), &len);
  s->address_ = FormatAddress(bound);
  s->port_ =
      ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<const sockaddr_in6*>(&bound)->sin6_port
                                        : reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);
  s->wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (s->wake_fd_ < 0) {
    Status st = Status::FromErrno(errno, "eventfd for the metrics server");
    close(s->listen_fd_);
    return st;
  }
  // The server thread takes no signal: a process that reads SIGTERM with signalfd (the agent)
  // blocks it in its own thread, and the kernel would deliver it to this one instead, where
  // the default action kills the process. The new thread inherits the mask set here.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  s->thread_ = std::thread([p = s.get()] { p->Run(); });
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  Log()->debug("serving metrics on http://{}/metrics", s->address_);
  return s;
}

MetricsServer::~MetricsServer() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    ssize_t w = write(wake_fd_, &one, sizeof one);
    (void)w;
    thread_.join();
  }
  if (wake_fd_ >= 0) close(wake_fd_);
  if (listen_fd_ >= 0) close(listen_fd_);
}

void MetricsServer::Run() {
  std::vector<Connection> conns;
  std::vector<pollfd> fds;
  auto respond = [&](Connection& c, std::string response) {
    c.out = std::move(response);
    c.sent = 0;
    c.state = Connection::State::kWriting;
  };
  auto handle_request = [&](Connection& c) {
    std::optional<size_t> end = FindHttpHeadEnd(c.in);
    if ((end && *end > options_.max_request_bytes) ||
        (!end && c.in.size() > options_.max_request_bytes)) {
      ++stats_.too_large;
      respond(c,
              ErrorResponse(431, "Request Header Fields Too Large",
                            fmt::format("request head over {} bytes", options_.max_request_bytes)));
      return;
    }
    if (!end) return;
    Result<HttpRequestHead> req = ParseHttpRequestHead(std::string_view(c.in).substr(0, *end));
    if (!req.ok()) {
      ++stats_.bad_requests;
      bool version = req.status().code() == EPROTONOSUPPORT;
      respond(c, version ? ErrorResponse(505, "HTTP Version Not Supported", req.status().message())
                         : ErrorResponse(400, "Bad Request", req.status().message()));
      return;
    }
    bool head = req->method == "HEAD";
    if (req->method != "GET" && !head) {
      ++stats_.bad_requests;
      respond(
          c, ErrorResponse(405, "Method Not Allowed", "only GET and HEAD", "Allow: GET, HEAD\r\n"));
      return;
    }
    if (req->path != "/metrics") {
      ++stats_.not_found;
      respond(c, ErrorResponse(404, "Not Found", "metrics are at /metrics"));
      return;
    }
    ++stats_.scrapes;
    respond(c, Response(200, "OK", kPrometheusTextContentType, render_(), head));
  };

  for (;;) {
    auto now = Clock::now();
    // Expire connections past their deadline.
    for (Connection& c : conns) {
      if (c.fd >= 0 && now >= c.deadline) {
        if (c.state != Connection::State::kLingering) ++stats_.timeouts;
        close(c.fd);
        c.fd = -1;
      }
    }
    std::erase_if(conns, [](const Connection& c) { return c.fd < 0; });

    fds.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    auto next = now + std::chrono::hours(1);
    for (const Connection& c : conns) {
      fds.push_back(
          {c.fd, static_cast<short>(c.state == Connection::State::kWriting ? POLLOUT : POLLIN), 0});
      next = std::min(next, c.deadline);
    }
    int timeout_ms =
        static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(next - now).count());
    int n = poll(fds.data(), fds.size(), std::max(timeout_ms, 0));
    if (n < 0) {
      if (errno == EINTR) continue;
      Log()->error("metrics server: poll: {}", std::strerror(errno));
      break;
    }
    if (fds[0].revents != 0) break;  // woken by the destructor

    // Existing connections first (fds[2 + i] is conns[i]; accept below appends).
    for (size_t i = 0; i < conns.size(); ++i) {
      Connection& c = conns[i];
      short rev = fds[2 + i].revents;
      if (rev == 0) continue;
      if (c.state == Connection::State::kReading) {
        char buf[4096];
        ssize_t r = recv(c.fd, buf, sizeof buf, 0);
        if (r > 0) {
          c.in.append(buf, static_cast<size_t>(r));
          handle_request(c);
        } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
          close(c.fd);  // the client went away before finishing its request
          c.fd = -1;
          continue;
        }
      }
      if (c.state == Connection::State::kWriting && (rev & (POLLOUT | POLLERR | POLLHUP))) {
        ssize_t w = send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
        if (w > 0) c.sent += static_cast<size_t>(w);
        if (w < 0 && errno != EAGAIN && errno != EINTR) {
          close(c.fd);
          c.fd = -1;
          continue;
        }
        if (c.sent == c.out.size()) {
          shutdown(c.fd, SHUT_WR);
          c.state = Connection::State::kLingering;
          c.deadline = std::min(c.deadline, Clock::now() + kLingerTime);
          c.out.clear();
          c.in.clear();
        }
      } else if (c.state == Connection::State::kLingering) {
        char buf[4096];
        ssize_t r = recv(c.fd, buf, sizeof buf, 0);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
          close(c.fd);
          c.fd = -1;
        }
      }
    }

    if (fds[1].revents & POLLIN) {
      for (;;) {
        int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) break;  // EAGAIN, or a connection that died in the queue
        size_t open = static_cast<size_t>(std::count_if(
            conns.begin(), conns.end(), [](const Connection& c) { return c.fd >= 0; }));
        if (open >= options_.max_connections) {
          ++stats_.refused;
          close(fd);
          continue;
        }
        Connection c;
        c.fd = fd;
        c.deadline = Clock::now() + options_.client_timeout;
        conns.push_back(std::move(c));
      }
    }
  }
  for (Connection& c : conns) {
    if (c.fd >= 0) close(c.fd);
  }
}

}  // namespace diskinv
