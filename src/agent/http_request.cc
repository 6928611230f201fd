#include "agent/http_request.h"

#include <fmt/format.h>

#include <cerrno>

namespace diskinv {
namespace {

// RFC 9110 token characters (method names).
bool TokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// Visible ASCII, as a request target must be (no spaces, no controls, no bytes >= 0x80).
bool TargetChar(char c) { return c > 0x20 && c < 0x7f; }

std::string Printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 64)) {
    out += (c >= 0x20 && c < 0x7f) ? std::string(1, c) : fmt::format("\\x{:02x}", c & 0xff);
  }
  return out;
}

}  // namespace

std::optional<size_t> FindHttpHeadEnd(std::string_view buffer) {
  size_t crlf = buffer.find("\r\n\r\n");
  size_t lf = buffer.find("\n\n");
  if (crlf == std::string_view::npos && lf == std::string_view::npos) return std::nullopt;
  if (lf == std::string_view::npos || (crlf != std::string_view::npos && crlf + 2 <= lf)) {
    return crlf + 4;
  }
  return lf + 2;
}

Result<HttpRequestHead> ParseHttpRequestHead(std::string_view head) {
  size_t eol = head.find('\n');
  std::string_view line = head.substr(0, eol);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return Status::Invalid(
        fmt::format("request line is not 'METHOD TARGET VERSION': '{}'", Printable(line)));
  }
  HttpRequestHead req;
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (method.empty()) return Status::Invalid("empty method");
  for (char c : method) {
    if (!TokenChar(c)) return Status::Invalid(fmt::format("bad method '{}'", Printable(method)));
  }
  if (target.empty() || target[0] != '/') {
    return Status::Invalid(fmt::format("target must be an absolute path: '{}'", Printable(target)));
  }
  for (char c : target) {
    if (!TargetChar(c)) return Status::Invalid(fmt::format("bad target '{}'", Printable(target)));
  }
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
      version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9') {
    return Status::Invalid(fmt::format("bad version '{}'", Printable(version)));
  }
  if (version[5] != '1') {
    return Status(EPROTONOSUPPORT, fmt::format("HTTP version {} not supported", version.substr(5)));
  }
  // Header lines: only their shape is checked (a colon after a non-empty name).
  std::string_view rest = eol == std::string_view::npos ? std::string_view() : head.substr(eol + 1);
  while (!rest.empty()) {
    size_t n = rest.find('\n');
    std::string_view h = rest.substr(0, n);
    rest = n == std::string_view::npos ? std::string_view() : rest.substr(n + 1);
    if (!h.empty() && h.back() == '\r') h.remove_suffix(1);
    if (h.empty()) break;
    size_t colon = h.find(':');
    if (colon == 0 || colon == std::string_view::npos) {
      return Status::Invalid(fmt::format("bad header line '{}'", Printable(h)));
    }
  }
  req.method = std::string(method);
  req.path = std::string(target.substr(0, target.find('?')));
  req.minor_version = version[7] - '0';
  return req;
}

}  // namespace diskinv
