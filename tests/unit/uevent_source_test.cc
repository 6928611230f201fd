// SeqnumTracker and FakeUeventSource: the pieces of the sources that need no kernel.
#include <gtest/gtest.h>
#include <poll.h>

#include "uevent/fake_uevent_source.h"
#include "uevent/netlink_socket.h"

namespace diskinv {
namespace {

TEST(SeqnumTracker, SuccessorsPassGapsAndRegressionsResync) {
  SeqnumTracker t;
  EXPECT_FALSE(t.Observe(10));  // the first one sets the base
  EXPECT_FALSE(t.Observe(11));
  std::optional<Resync> gap = t.Observe(15);
  ASSERT_TRUE(gap);
  EXPECT_EQ(gap->reason, ResyncReason::kSeqnumGap);
  EXPECT_EQ(gap->lost, 3u);
  EXPECT_EQ(gap->detail, "SEQNUM 15 after 11");
  EXPECT_FALSE(t.Observe(16));
  std::optional<Resync> back = t.Observe(16);  // duplicate
  ASSERT_TRUE(back);
  EXPECT_EQ(back->lost, 0u);
  t.Reset();  // after ENOBUFS: the next jump is already reported
  EXPECT_FALSE(t.Observe(100));
  EXPECT_EQ(t.last(), 100u);
}

bool Readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

TEST(FakeUeventSource, QueuesInOrderAndItsFdIsReadableWhileNonEmpty) {
  FakeUeventSource src;
  ASSERT_GE(src.fd(), 0);
  EXPECT_FALSE(Readable(src.fd()));
  std::string good(
      "add@/devices/virtual/block/loop9\0ACTION=add\0DEVPATH=/devices/virtual/block/"
      "loop9\0SUBSYSTEM=block\0SEQNUM=7\0",
      106);
  src.PushKernelDatagram(good);
  src.PushKernelDatagram("garbage");
  src.Push(Resync{ResyncReason::kOverflow, 0, "test"});
  EXPECT_TRUE(Readable(src.fd()));
  EXPECT_EQ(src.stats().rejected.count(UeventReject::kNotNulTerminated), 1u);
  Result<std::vector<SourceEvent>> got = src.Receive(1);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ(std::get<Uevent>((*got)[0]).devpath, "/devices/virtual/block/loop9");
  EXPECT_TRUE(Readable(src.fd()));
  got = src.Receive();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_TRUE(std::holds_alternative<Resync>((*got)[0]));
  EXPECT_FALSE(Readable(src.fd()));
  EXPECT_EQ(src.stats().datagrams, 3u);
  EXPECT_EQ(src.stats().accepted, 1u);
  EXPECT_EQ(src.stats().resyncs, 1u);
  src.FailNextReceive(Status::FromErrno(EBADF, "recvmsg"));
  EXPECT_FALSE(src.Receive().ok());
  EXPECT_TRUE(src.Receive().ok());
}

}  // namespace
}  // namespace diskinv
