// HttpRequestHead: the request line of an HTTP/1.x request, parsed from the bytes a client
// sent up to the blank line that ends its headers. Pure (no I/O) and bounded by its input;
// the metrics server is its only user and needs nothing from the headers.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace diskinv {

struct HttpRequestHead {
  std::string method;     // "GET"
  std::string path;       // "/metrics" (the target without its "?query")
  int minor_version = 1;  // HTTP/1.<minor_version>
};

// Where the head ends in `buffer` (the index just past "\r\n\r\n", or "\n\n" from lenient
// clients); nullopt while it is incomplete.
std::optional<size_t> FindHttpHeadEnd(std::string_view buffer);

// Parses "METHOD SP TARGET SP HTTP/1.x CRLF" and checks that every header line has a colon.
// Errors name what is wrong; code EINVAL, or EPROTONOSUPPORT for a version other than 1.x.
Result<HttpRequestHead> ParseHttpRequestHead(std::string_view head);

}  // namespace diskinv
