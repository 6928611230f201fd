// A minimal blocking HTTP/1.x client for tests that scrape a server on the loopback: sends a
// raw request and reads until the server closes the connection.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace diskinv::testing {

// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, close).
uint16_t FreeLoopbackPort();
// A connected TCP socket to the loopback (127.0.0.1 or ::1) on `port`, or an error.
Result<int> ConnectLoopback(uint16_t port, int family = AF_INET);
// Reads from `fd` until EOF or the timeout; what arrived.
std::string ReadUntilClosed(int fd, std::chrono::milliseconds timeout = std::chrono::seconds(5));
// Connect, send `request` as is, read the whole response (status line, headers, body).
Result<std::string> HttpExchange(uint16_t port, std::string_view request, int family = AF_INET);
// "GET <path> HTTP/1.1"; the response body when the status is 200, else an error with the
// status line.
Result<std::string> HttpGet(uint16_t port, std::string_view path);
// "HTTP/1.1 200 OK" and the body of a raw response.
std::string StatusLine(const std::string& response);
std::string Body(const std::string& response);

}  // namespace diskinv::testing
