// FakeUeventSource: an in-memory UeventSource for tests. Push() queues events or Resyncs (or
// raw kernel datagrams, parsed and counted exactly as the netlink source does); its fd is an
// eventfd that is readable while something is queued, so poll loops work unchanged.
#pragma once

#include <deque>
#include <string_view>

#include "uevent/uevent_source.h"

namespace diskinv {

class FakeUeventSource final : public UeventSource {
 public:
  FakeUeventSource();
  ~FakeUeventSource() override;
  FakeUeventSource(const FakeUeventSource&) = delete;
  FakeUeventSource& operator=(const FakeUeventSource&) = delete;

  void Push(SourceEvent event);
  // Parses `datagram` with ParseKernelUevent; rejects are counted, not queued.
  void PushKernelDatagram(std::string_view datagram);
  // The next Receive() fails with `status` (once).
  void FailNextReceive(Status status) { fail_ = std::move(status); }

  int fd() const override { return efd_; }
  Result<std::vector<SourceEvent>> Receive(size_t max_datagrams = 256) override;
  const UeventSourceStats& stats() const override { return stats_; }
  std::string_view name() const override { return "fake"; }

 private:
  void UpdateFd();

  int efd_ = -1;
  std::deque<SourceEvent> queue_;
  Status fail_;
  UeventSourceStats stats_;
};

}  // namespace diskinv
