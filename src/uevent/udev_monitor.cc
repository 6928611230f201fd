#include "uevent/udev_monitor.h"

#include <fmt/format.h>
#include <libudev.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/logging.h"

namespace diskinv {
namespace {

spdlog::logger& Log() {
  static std::shared_ptr<spdlog::logger> log = Logger("uevent");
  return *log;
}

Status LibudevError(int r, std::string_view what) {
  return Status::FromErrno(r < 0 ? -r : (errno ? errno : EIO), what);
}

// udevd listens on <run_dir>/control (SOCK_SEQPACKET); a stale socket file refuses.
Status PingUdevd(const std::string& run_dir) {
  std::string path = run_dir + "/control";
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return Status::Invalid(path + ": path too long");
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno(errno, "socket(AF_UNIX)");
  int r = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  int err = errno;
  close(fd);
  return r == 0 ? Status::Ok() : Status::FromErrno(err, "connect " + path);
}

}  // namespace

Result<std::unique_ptr<UdevMonitor>> UdevMonitor::Open(const UdevMonitorOptions& options) {
  std::unique_ptr<UdevMonitor> m(new UdevMonitor());
  errno = 0;
  m->udev_ = udev_new();
  if (!m->udev_) return LibudevError(0, "udev_new");
  if (Status up = PingUdevd(options.run_dir); !up.ok()) {
    Log().warn("udevd does not seem to run ({}): no udev events until it does", up.message());
  }
  m->monitor_ = udev_monitor_new_from_netlink(m->udev_, "udev");
  if (!m->monitor_) return LibudevError(0, "udev_monitor_new_from_netlink(udev)");
  if (!options.subsystem.empty()) {
    int r = udev_monitor_filter_add_match_subsystem_devtype(m->monitor_, options.subsystem.c_str(),
                                                            nullptr);
    if (r < 0) return LibudevError(r, "udev_monitor_filter_add_match_subsystem_devtype");
  }
  if (options.tag) {
    int r = udev_monitor_filter_add_match_tag(m->monitor_, options.tag->c_str());
    if (r < 0) return LibudevError(r, "udev_monitor_filter_add_match_tag");
  }
  if (options.receive_buffer_bytes > 0) {
    int r = udev_monitor_set_receive_buffer_size(m->monitor_, options.receive_buffer_bytes);
    if (r < 0) {
      Log().warn("udev_monitor_set_receive_buffer_size({}): {}", options.receive_buffer_bytes,
                 std::strerror(-r));
    }
  }
  if (int r = udev_monitor_enable_receiving(m->monitor_); r < 0) {
    return LibudevError(r, "udev_monitor_enable_receiving");
  }
  socklen_t len = sizeof m->rcvbuf_;
  getsockopt(m->fd(), SOL_SOCKET, SO_RCVBUF, &m->rcvbuf_, &len);
  Log().debug("udev monitor: subsystem '{}', tag '{}', receive buffer {} bytes", options.subsystem,
              options.tag.value_or(""), m->rcvbuf_);
  return m;
}

UdevMonitor::~UdevMonitor() {
  if (monitor_) udev_monitor_unref(monitor_);
  if (udev_) udev_unref(udev_);
}

int UdevMonitor::fd() const { return udev_monitor_get_fd(monitor_); }

Result<std::vector<SourceEvent>> UdevMonitor::Receive(size_t max_datagrams) {
  std::vector<SourceEvent> out;
  for (size_t i = 0; i < max_datagrams; ++i) {
    errno = 0;
    udev_device* dev = udev_monitor_receive_device(monitor_);
    if (!dev) {
      // libudev reports a dropped (invalid, untrusted, filtered) message as EAGAIN too; the
      // fd stays readable if more is queued, so the next poll comes back.
      if (errno == ENOBUFS) {
        // As for the kernel socket: the Resync waits until the queue is drained, because
        // the kernel drops everything for this socket until then and says so only once.
        ++stats_.overflows;
        overflow_ = true;
        continue;
      }
      if (errno == EINTR) continue;
      if (errno == 0 || errno == EAGAIN || errno == EWOULDBLOCK || errno == EINVAL) {
        if (overflow_ && errno != EINVAL) {
          overflow_ = false;
          ++stats_.resyncs;
          out.emplace_back(Resync{ResyncReason::kOverflow, 0,
                                  "ENOBUFS: the udev monitor's receive queue overflowed"});
        }
        break;
      }
      return Status::FromErrno(errno, "udev_monitor_receive_device");
    }
    ++stats_.datagrams;
    std::vector<UeventProperty> props;
    for (udev_list_entry* e = udev_device_get_properties_list_entry(dev); e;
         e = udev_list_entry_get_next(e)) {
      const char* k = udev_list_entry_get_name(e);
      const char* v = udev_list_entry_get_value(e);
      props.push_back({k ? k : "", v ? v : ""});
    }
    udev_device_unref(dev);
    UeventReject why;
    Result<Uevent> ev = UeventFromProperties(UeventOrigin::kUdev, std::move(props), &why);
    if (!ev.ok()) {
      stats_.rejected.Add(why);
      Log().debug("{}", ev.status().message());
      continue;
    }
    ++stats_.accepted;
    out.emplace_back(std::move(ev).value());
  }
  return out;
}

}  // namespace diskinv
