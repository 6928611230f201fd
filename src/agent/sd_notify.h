// SdNotifier: the systemd notification protocol (sd_notify(3)) spoken directly: datagrams of
// "KEY=VALUE\n..." to the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or "@name" for the
// abstract namespace). No libsystemd. Without $NOTIFY_SOCKET every call is a no-op, so the
// agent behaves the same outside systemd. The watchdog interval comes from $WATCHDOG_USEC when
// $WATCHDOG_PID is unset or names this process; the agent pings at half of it.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace diskinv {

class SdNotifier {
 public:
  // Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID .
  static SdNotifier FromEnvironment();
  SdNotifier() = default;
  explicit SdNotifier(std::string socket_path,
                      std::optional<std::chrono::microseconds> watchdog = std::nullopt);
  ~SdNotifier();
  SdNotifier(SdNotifier&& o) noexcept;
  SdNotifier& operator=(SdNotifier&& o) noexcept;

  bool enabled() const { return !path_.empty(); }
  std::optional<std::chrono::microseconds> watchdog_interval() const { return watchdog_; }

  // Sends one datagram, e.g. "READY=1\nSTATUS=watching 12 devices". OK when disabled.
  Status Notify(std::string_view state);
  Status Ready(std::string_view status) { return Notify(Join("READY=1\nSTATUS=", status)); }
  Status SetStatus(std::string_view status) { return Notify(Join("STATUS=", status)); }
  Status Reloading() { return Notify("RELOADING=1"); }
  Status Stopping() { return Notify("STOPPING=1"); }
  Status Watchdog() { return Notify("WATCHDOG=1"); }

 private:
  static std::string Join(std::string_view a, std::string_view b) { return std::string(a) += b; }
  std::string path_;
  int fd_ = -1;
  std::optional<std::chrono::microseconds> watchdog_;
};

}  // namespace diskinv
