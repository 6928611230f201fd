// UdevMonitor: events after udevd processed them (libudev monitor on the "udev" netlink group),
// as a UeventSource. libudev checks the framing and that the sender is uid 0; each device it
// hands out is re-validated by UeventFromProperties with the same rules as the raw parser.
// Filtered in the kernel (BPF on the libudev header) to one subsystem and, optionally, a tag
// (our rule sets "diskinv"). ENOBUFS becomes a Resync{kOverflow}, returned once the queue is
// drained (see NetlinkSocket). udevd handles independent devices in parallel and we see one
// subsystem only, so SEQNUM is not gap-checked here.
//
// udev tags are sticky (systemd >= 247): TAGS keeps every tag a device ever had while its
// database record lives, and the tag filter matches TAGS, not CURRENT_TAGS.
//
// libudev silently subscribes to no group at all when udevd is not running (no
// <run_dir>/control) and /dev is not devtmpfs; Open() warns when nothing answers on the
// control socket (missing, or left behind by a udevd that is gone).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "uevent/uevent_source.h"

struct udev;
struct udev_monitor;

namespace diskinv {

struct UdevMonitorOptions {
  std::string subsystem = "block";  // empty: every subsystem
  std::optional<std::string> tag;   // e.g. "diskinv"
  int receive_buffer_bytes = 128 << 20;
  std::string run_dir = "/run/udev";  // only for the "is udevd running" warning
};

class UdevMonitor final : public UeventSource {
 public:
  static Result<std::unique_ptr<UdevMonitor>> Open(const UdevMonitorOptions& options = {});
  ~UdevMonitor() override;
  UdevMonitor(const UdevMonitor&) = delete;
  UdevMonitor& operator=(const UdevMonitor&) = delete;

  int fd() const override;
  Result<std::vector<SourceEvent>> Receive(size_t max_datagrams = 256) override;
  const UeventSourceStats& stats() const override { return stats_; }
  std::string_view name() const override { return "udev"; }

  int receive_buffer_bytes() const { return rcvbuf_; }  // as granted (getsockopt SO_RCVBUF)

 private:
  UdevMonitor() = default;

  ::udev* udev_ = nullptr;
  ::udev_monitor* monitor_ = nullptr;
  int rcvbuf_ = 0;
  bool overflow_ = false;  // ENOBUFS seen, queue not drained yet
  UeventSourceStats stats_;
};

}  // namespace diskinv
