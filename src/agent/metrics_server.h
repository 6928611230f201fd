// MetricsServer: a tiny HTTP/1.1 server for Prometheus scrapes. GET (or HEAD) /metrics
// answers the registry in text format 0.0.4; any other path is 404, other methods 405, a
// malformed request 400, a request head over max_request_bytes 431. Every response closes
// its connection.
//
// It runs on its own thread around poll(2) with non-blocking sockets: a slow, stuck or
// hostile client costs at most one of max_connections slots until client_timeout, and the
// agent's own threads never wait for it (they only update atomics in the registry).
// The socket is bound in Start(), so a bad or busy address is an error at startup. The
// server thread blocks every signal, so signals stay with the threads that handle them.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "common/status.h"

namespace diskinv {

class MetricsRegistry;

struct MetricsServerOptions {
  // HOST:PORT: an IPv4 address, [IPv6] address or host name, and a port (0: any free port,
  // see MetricsServer::port()). Scrapes are not authenticated: use a loopback address unless
  // the port is firewalled.
  std::string listen = "127.0.0.1:9417";
  size_t max_request_bytes = 8192;                 // the request line and headers
  size_t max_connections = 32;                     // beyond: accepted and closed at once
  std::chrono::milliseconds client_timeout{5000};  // whole exchange, per connection
};

struct MetricsServerStats {
  std::atomic<uint64_t> scrapes{0};       // 200 responses
  std::atomic<uint64_t> not_found{0};     // 404
  std::atomic<uint64_t> bad_requests{0};  // 400, 405, 505
  std::atomic<uint64_t> too_large{0};     // 431
  std::atomic<uint64_t> timeouts{0};      // connections closed at client_timeout
  std::atomic<uint64_t> refused{0};       // closed because max_connections were open
};

class MetricsServer {
 public:
  using Renderer = std::function<std::string()>;

  // `render` is called on the server thread for each scrape.
  static Result<std::unique_ptr<MetricsServer>> Start(const MetricsServerOptions& options,
                                                      Renderer render);
  // Serves registry->Render(); the registry must outlive the server.
  static Result<std::unique_ptr<MetricsServer>> Start(const MetricsServerOptions& options,
                                                      const MetricsRegistry* registry);
  ~MetricsServer();  // stops the thread and closes every socket
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  const std::string& address() const { return address_; }  // as bound: "127.0.0.1:41234"
  uint16_t port() const { return port_; }
  const MetricsServerStats& stats() const { return stats_; }

 private:
  MetricsServer(MetricsServerOptions options, Renderer render)
      : options_(std::move(options)), render_(std::move(render)) {}
  void Run();

  MetricsServerOptions options_;
  Renderer render_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: the destructor writes it to stop Run()
  std::string address_;
  uint16_t port_ = 0;
  MetricsServerStats stats_;
  std::thread thread_;
};

// Splits "HOST:PORT" / "[V6]:PORT"; exposed for tests. Errors name the bad part.
Status SplitHostPort(std::string_view listen, std::string* host, uint16_t* port);

}  // namespace diskinv
