// SdNotifier against a real AF_UNIX datagram socket, as systemd's notify socket is.
#include "agent/sd_notify.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace diskinv {
namespace {

class NotifySocket {
 public:
  // `name` starting with '@': abstract namespace.
  explicit NotifySocket(const std::string& name) : name_(name) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, name.data(), name.size());
    if (name[0] == '@') a.sun_path[0] = '\0';
    if (name[0] == '/') unlink(name.c_str());
    ok_ = fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&a),
                           static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size())) == 0;
    timeval tv{2, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~NotifySocket() {
    close(fd_);
    if (name_[0] == '/') unlink(name_.c_str());
  }
  bool ok() const { return ok_; }
  std::string Receive() {
    char buf[4096];
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    return n < 0 ? "<nothing>" : std::string(buf, static_cast<size_t>(n));
  }

 private:
  std::string name_;
  int fd_ = -1;
  bool ok_ = false;
};

TEST(SdNotify, SendsTheProtocolToAPathSocket) {
  std::string path = "/tmp/diskinv-notify-test." + std::to_string(getpid());
  NotifySocket sock(path);
  ASSERT_TRUE(sock.ok()) << std::strerror(errno);
  SdNotifier n(path);
  EXPECT_TRUE(n.enabled());
  ASSERT_TRUE(n.Ready("watching 3 devices").ok());
  EXPECT_EQ(sock.Receive(), "READY=1\nSTATUS=watching 3 devices");
  ASSERT_TRUE(n.SetStatus("database unavailable").ok());
  EXPECT_EQ(sock.Receive(), "STATUS=database unavailable");
  ASSERT_TRUE(n.Watchdog().ok());
  EXPECT_EQ(sock.Receive(), "WATCHDOG=1");
  ASSERT_TRUE(n.Reloading().ok());
  EXPECT_EQ(sock.Receive(), "RELOADING=1");
  ASSERT_TRUE(n.Stopping().ok());
  EXPECT_EQ(sock.Receive(), "STOPPING=1");
}

TEST(SdNotify, AbstractNamespaceSocket) {
  std::string name = "@diskinv-notify-test-" + std::to_string(getpid());
  NotifySocket sock(name);
  ASSERT_TRUE(sock.ok()) << std::strerror(errno);
  SdNotifier n(name);
  ASSERT_TRUE(n.Notify("READY=1").ok());
  EXPECT_EQ(sock.Receive(), "READY=1");
}

TEST(SdNotify, DisabledIsANoOpAndBadTargetsAreErrors) {
  SdNotifier off;
  EXPECT_FALSE(off.enabled());
  EXPECT_TRUE(off.Ready("x").ok());
  SdNotifier relative("relative/socket");
  Status s = relative.Notify("READY=1");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("not an absolute path"), std::string::npos) << s.message();
  SdNotifier gone("/nonexistent/notify");
  EXPECT_FALSE(gone.Notify("READY=1").ok());
}

TEST(SdNotify, WatchdogFromTheEnvironment) {
  setenv("NOTIFY_SOCKET", "/run/systemd/notify", 1);
  setenv("WATCHDOG_USEC", "30000000", 1);
  unsetenv("WATCHDOG_PID");
  EXPECT_EQ(SdNotifier::FromEnvironment().watchdog_interval(), std::chrono::seconds(30));
  setenv("WATCHDOG_PID", std::to_string(getpid()).c_str(), 1);
  EXPECT_EQ(SdNotifier::FromEnvironment().watchdog_interval(), std::chrono::seconds(30));
  setenv("WATCHDOG_PID", "1", 1);  // meant for another process
  EXPECT_FALSE(SdNotifier::FromEnvironment().watchdog_interval());
  unsetenv("NOTIFY_SOCKET");
  EXPECT_FALSE(SdNotifier::FromEnvironment().enabled());
  unsetenv("WATCHDOG_USEC");
  unsetenv("WATCHDOG_PID");
}

}  // namespace
}  // namespace diskinv
