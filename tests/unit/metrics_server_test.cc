// MetricsServer over real TCP on the loopback: scrapes, errors, bounded requests, slow and
// excess clients, and that a stuck client does not delay other scrapes.
#include "agent/metrics_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <thread>

#include "agent/metrics.h"
#include "support/http_client.h"
#include "support/prometheus_text.h"
#include "support/shell.h"

namespace diskinv {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

int Connect(uint16_t port) {
  Result<int> fd = testing::ConnectLoopback(port);
  return fd.ok() ? *fd : -1;
}

std::string ReadAll(int fd, milliseconds timeout = milliseconds(5000)) {
  return testing::ReadUntilClosed(fd, timeout);
}

std::string Exchange(uint16_t port, std::string_view request, int family = AF_INET) {
  Result<std::string> r = testing::HttpExchange(port, request, family);
  return r.ok() ? *r : "connect failed: " + r.status().message();
}

using testing::Body;
using testing::StatusLine;

class MetricsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    events_ = *registry_.AddCounter("t_events_total", "Events", {"source"});
    events_->WithLabels({"udev"}).Inc(7);
  }
  std::unique_ptr<MetricsServer> Start(MetricsServerOptions o = {}) {
    if (o.listen == MetricsServerOptions().listen) o.listen = "127.0.0.1:0";
    Result<std::unique_ptr<MetricsServer>> s = MetricsServer::Start(o, &registry_);
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? std::move(s).value() : nullptr;
  }
  MetricsRegistry registry_;
  CounterFamily* events_ = nullptr;
};

TEST_F(MetricsServerTest, GetMetricsAnswersTheRegistryInTextFormat) {
  auto s = Start();
  ASSERT_TRUE(s);
  EXPECT_NE(s->port(), 0);
  EXPECT_EQ(s->address(), "127.0.0.1:" + std::to_string(s->port()));
  std::string r = Exchange(s->port(), "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n");
  EXPECT_EQ(StatusLine(r), "HTTP/1.1 200 OK");
  EXPECT_NE(r.find("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
            std::string::npos);
  EXPECT_NE(r.find("\r\nConnection: close\r\n"), std::string::npos);
  std::string body = Body(r);
  EXPECT_NE(r.find("\r\nContent-Length: " + std::to_string(body.size()) + "\r\n"),
            std::string::npos);
  EXPECT_EQ(body, registry_.Render());
  Result<testing::PromText> p = testing::ParsePrometheusText(body);
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->Find("t_events_total", {{"source", "udev"}})->value, 7);

  // A later scrape sees later values; a query string is ignored; HTTP/1.0 is fine.
  events_->WithLabels({"udev"}).Inc();
  r = Exchange(s->port(), "GET /metrics?x=1 HTTP/1.0\r\n\r\n");
  EXPECT_NE(Body(r).find("t_events_total{source=\"udev\"} 8\n"), std::string::npos) << r;
  // HEAD: the headers without the body.
  r = Exchange(s->port(), "HEAD /metrics HTTP/1.1\r\n\r\n");
  EXPECT_EQ(StatusLine(r), "HTTP/1.1 200 OK");
  EXPECT_EQ(Body(r), "");
  EXPECT_EQ(s->stats().scrapes, 3u);
}

TEST_F(MetricsServerTest, AnswersErrorsForOtherPathsMethodsAndMalformedRequests) {
  auto s = Start();
  ASSERT_TRUE(s);
  EXPECT_EQ(StatusLine(Exchange(s->port(), "GET / HTTP/1.1\r\n\r\n")), "HTTP/1.1 404 Not Found");
  EXPECT_EQ(StatusLine(Exchange(s->port(), "GET /metricsx HTTP/1.1\r\n\r\n")),
            "HTTP/1.1 404 Not Found");
  std::string post = Exchange(s->port(), "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(StatusLine(post), "HTTP/1.1 405 Method Not Allowed");
  EXPECT_NE(post.find("\r\nAllow: GET, HEAD\r\n"), std::string::npos);
  EXPECT_EQ(StatusLine(Exchange(s->port(), "hello\r\n\r\n")), "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(StatusLine(Exchange(s->port(), "GET metrics HTTP/1.1\r\n\r\n")),
            "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(StatusLine(Exchange(s->port(), "GET /metrics HTTP/1.1\r\nno colon\r\n\r\n")),
            "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(StatusLine(Exchange(s->port(), "GET /metrics HTTP/2.0\r\n\r\n")),
            "HTTP/1.1 505 HTTP Version Not Supported");
  EXPECT_EQ(StatusLine(Exchange(s->port(), std::string("GET /\x01 HTTP/1.1\r\n\r\n", 20))),
            "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(s->stats().not_found, 2u);
  EXPECT_EQ(s->stats().bad_requests, 6u);
  EXPECT_EQ(s->stats().scrapes, 0u);
}

TEST_F(MetricsServerTest, BoundsTheRequestSize) {
  auto s = Start({.max_request_bytes = 1024});
  ASSERT_TRUE(s);
  std::string big = "GET /metrics HTTP/1.1\r\nX-Pad: " + std::string(4000, 'a') + "\r\n\r\n";
  EXPECT_EQ(StatusLine(Exchange(s->port(), big)), "HTTP/1.1 431 Request Header Fields Too Large");
  // A never-ending header line is cut at the bound too, without waiting for its end.
  int fd = Connect(s->port());
  ASSERT_GE(fd, 0);
  std::string endless = "GET /metrics HTTP/1.1\r\nX: " + std::string(2000, 'b');
  send(fd, endless.data(), endless.size(), MSG_NOSIGNAL);
  EXPECT_EQ(StatusLine(ReadAll(fd, milliseconds(2000))),
            "HTTP/1.1 431 Request Header Fields Too Large");
  close(fd);
  EXPECT_EQ(s->stats().too_large, 2u);
  // Just under the bound is fine.
  std::string ok = "GET /metrics HTTP/1.1\r\nX-Pad: " + std::string(900, 'c') + "\r\n\r\n";
  EXPECT_EQ(StatusLine(Exchange(s->port(), ok)), "HTTP/1.1 200 OK");
}

TEST_F(MetricsServerTest, RequestArrivingByteByByteIsServed) {
  auto s = Start();
  ASSERT_TRUE(s);
  int fd = Connect(s->port());
  ASSERT_GE(fd, 0);
  for (char c : std::string("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n")) {
    send(fd, &c, 1, MSG_NOSIGNAL);
    std::this_thread::sleep_for(milliseconds(1));
  }
  EXPECT_EQ(StatusLine(ReadAll(fd)), "HTTP/1.1 200 OK");
  close(fd);
}

TEST_F(MetricsServerTest, StuckClientsDoNotDelayScrapesAndTimeOut) {
  // If the server waited for the stuck clients, the scrape would take client_timeout.
  auto s = Start({.max_connections = 4, .client_timeout = milliseconds(1000)});
  ASSERT_TRUE(s);
  int idle = Connect(s->port());  // connects, sends nothing
  int half = Connect(s->port());  // sends half a request
  ASSERT_GE(idle, 0);
  ASSERT_GE(half, 0);
  send(half, "GET /met", 8, MSG_NOSIGNAL);
  auto t0 = Clock::now();
  EXPECT_EQ(StatusLine(Exchange(s->port(), "GET /metrics HTTP/1.1\r\n\r\n")), "HTTP/1.1 200 OK");
  EXPECT_LT(Clock::now() - t0, milliseconds(700));  // not behind the two stuck ones
  // Both are closed by the server at their deadline (recv sees EOF).
  EXPECT_EQ(ReadAll(idle, milliseconds(3000)), "");
  EXPECT_EQ(ReadAll(half, milliseconds(3000)), "");
  EXPECT_GE(Clock::now() - t0, milliseconds(700));
  close(idle);
  close(half);
  EXPECT_EQ(s->stats().timeouts, 2u);
}

TEST_F(MetricsServerTest, ConnectionsBeyondTheLimitAreClosedAtOnce) {
  auto s = Start({.max_connections = 2, .client_timeout = milliseconds(3000)});
  ASSERT_TRUE(s);
  int a = Connect(s->port()), b = Connect(s->port());
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  std::this_thread::sleep_for(milliseconds(100));  // both accepted
  auto t0 = Clock::now();
  std::string third = Exchange(s->port(), "GET /metrics HTTP/1.1\r\n\r\n");
  EXPECT_EQ(third, "");  // closed without an answer
  EXPECT_LT(Clock::now() - t0, milliseconds(1000));
  EXPECT_EQ(s->stats().refused, 1u);
  close(a);
  close(b);
  // Once they are gone, scrapes work again.
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(StatusLine(Exchange(s->port(), "GET /metrics HTTP/1.1\r\n\r\n")), "HTTP/1.1 200 OK");
}

TEST_F(MetricsServerTest, ListensOnIpv6LoopbackAndRejectsBadAddresses) {
  auto s = Start({.listen = "[::1]:0"});
  ASSERT_TRUE(s);
  EXPECT_EQ(s->address(), "[::1]:" + std::to_string(s->port()));
  EXPECT_EQ(StatusLine(Exchange(s->port(), "GET /metrics HTTP/1.1\r\n\r\n", AF_INET6)),
            "HTTP/1.1 200 OK");

  for (const char* bad : {"9417", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:x",
                          ":9417", "::1:9417", "no.such.host.invalid:9417"}) {
    Result<std::unique_ptr<MetricsServer>> r = MetricsServer::Start({.listen = bad}, &registry_);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_FALSE(r.status().message().empty());
    }
  }
  // A port in use: the error names the address.
  auto first = Start();
  ASSERT_TRUE(first);
  std::string taken = "127.0.0.1:" + std::to_string(first->port());
  Result<std::unique_ptr<MetricsServer>> second =
      MetricsServer::Start({.listen = taken}, &registry_);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find(taken), std::string::npos) << second.status().message();
  EXPECT_NE(second.status().message().find("in use"), std::string::npos);
}

// A signal sent to the process must not land on the server thread (the agent blocks SIGTERM
// in its own thread and reads it with signalfd; the default action would kill the process).
TEST_F(MetricsServerTest, ServerThreadBlocksEverySignal) {
  auto tasks = [] {
    std::set<std::string> t;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
      t.insert(e.path().filename());
    }
    return t;
  };
  std::set<std::string> before = tasks();
  auto s = Start();
  ASSERT_TRUE(s);
  std::set<std::string> after = tasks();
  int checked = 0;
  for (const std::string& tid : after) {
    if (before.contains(tid)) continue;
    std::string status = testing::ReadWholeFile("/proc/self/task/" + tid + "/status");
    size_t p = status.find("\nSigBlk:\t");
    ASSERT_NE(p, std::string::npos) << status;
    uint64_t blocked = std::stoull(status.substr(p + 9, 16), nullptr, 16);
    EXPECT_NE(blocked & (1ull << (SIGTERM - 1)), 0u) << status.substr(p, 30);
    EXPECT_NE(blocked & (1ull << (SIGHUP - 1)), 0u);
    ++checked;
  }
  EXPECT_EQ(checked, 1);
}

TEST(SplitHostPort, AcceptsHostPortAndBracketedIpv6) {
  std::string host;
  uint16_t port = 0;
  ASSERT_TRUE(SplitHostPort("127.0.0.1:9417", &host, &port).ok());
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 9417);
  ASSERT_TRUE(SplitHostPort("[fe80::1]:80", &host, &port).ok());
  EXPECT_EQ(host, "fe80::1");
  ASSERT_TRUE(SplitHostPort("localhost:0", &host, &port).ok());
  EXPECT_EQ(port, 0);
}

}  // namespace
}  // namespace diskinv
