#include "uevent/fake_uevent_source.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace diskinv {

FakeUeventSource::FakeUeventSource() : efd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

FakeUeventSource::~FakeUeventSource() {
  if (efd_ >= 0) close(efd_);
}

void FakeUeventSource::UpdateFd() {
  if (efd_ < 0) return;
  uint64_t v;
  while (read(efd_, &v, sizeof v) == sizeof v) {
  }
  if (!queue_.empty()) {
    v = 1;
    (void)!write(efd_, &v, sizeof v);
  }
}

void FakeUeventSource::Push(SourceEvent event) {
  ++stats_.datagrams;
  queue_.push_back(std::move(event));
  UpdateFd();
}

void FakeUeventSource::PushKernelDatagram(std::string_view datagram) {
  ++stats_.datagrams;
  UeventReject why;
  Result<Uevent> ev = ParseKernelUevent(datagram, &why);
  if (!ev.ok()) {
    stats_.rejected.Add(why);
    return;
  }
  queue_.push_back(std::move(ev).value());
  UpdateFd();
}

Result<std::vector<SourceEvent>> FakeUeventSource::Receive(size_t max_datagrams) {
  if (!fail_.ok()) {
    Status s = std::move(fail_);
    fail_ = Status::Ok();
    return s;
  }
  std::vector<SourceEvent> out;
  while (!queue_.empty() && out.size() < max_datagrams) {
    if (std::holds_alternative<Resync>(queue_.front())) {
      ++stats_.resyncs;
    } else {
      ++stats_.accepted;
    }
    out.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  UpdateFd();
  return out;
}

}  // namespace diskinv
