#include "agent/http_request.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace diskinv {
namespace {

TEST(HttpRequest, FindsTheEndOfTheHead) {
  EXPECT_EQ(FindHttpHeadEnd("GET / HTTP/1.1\r\nA: b\r\n"), std::nullopt);
  EXPECT_EQ(FindHttpHeadEnd("GET / HTTP/1.1\r\n\r\nbody"), 18u);
  EXPECT_EQ(FindHttpHeadEnd("GET / HTTP/1.1\n\nbody"), 16u);
  EXPECT_EQ(FindHttpHeadEnd(""), std::nullopt);
}

TEST(HttpRequest, ParsesTheRequestLine) {
  Result<HttpRequestHead> r = ParseHttpRequestHead("GET /metrics?a=b HTTP/1.0\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->method, "GET");
  EXPECT_EQ(r->path, "/metrics");
  EXPECT_EQ(r->minor_version, 0);
}

TEST(HttpRequest, RejectsMalformedHeadsWithAReason) {
  for (const char* bad :
       {"", "\r\n\r\n", "GET\r\n\r\n", "GET /\r\n\r\n", "GET  / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1 x\r\n\r\n", "G(T / HTTP/1.1\r\n\r\n", "GET * HTTP/1.1\r\n\r\n",
        "GET http://x/ HTTP/1.1\r\n\r\n", "GET / HTTP/11\r\n\r\n", "GET / HTTPS/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\n: empty name\r\n\r\n", "GET / HTTP/1.1\r\nnocolon\r\n\r\n"}) {
    Result<HttpRequestHead> r = ParseHttpRequestHead(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), EINVAL) << bad;
    }
  }
  Result<HttpRequestHead> v2 = ParseHttpRequestHead("GET / HTTP/2.0\r\n\r\n");
  ASSERT_FALSE(v2.ok());
  EXPECT_EQ(v2.status().code(), EPROTONOSUPPORT);
  // Control bytes are shown escaped in the message, not copied raw.
  Result<HttpRequestHead> ctl = ParseHttpRequestHead(std::string("GET /\x1b[2J HTTP/1.1\r\n\r\n"));
  ASSERT_FALSE(ctl.ok());
  EXPECT_NE(ctl.status().message().find("\\x1b"), std::string::npos) << ctl.status().message();
}

}  // namespace
}  // namespace diskinv
