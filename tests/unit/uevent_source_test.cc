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
  t.Reset();  // forgets the base: the next one starts afresh
  EXPECT_FALSE(t.Observe(100));
  EXPECT_EQ(t.last(), 100u);
}

TEST(SeqnumTracker, StartsFromTheKernelCounterAndFindsTailLoss) {
  SeqnumTracker t;
  t.Start(500);
  EXPECT_FALSE(t.Observe(499));  // on its way while the counter was read: silent
  EXPECT_FALSE(t.Observe(500));
  EXPECT_EQ(t.last(), 500u);
  EXPECT_FALSE(t.Observe(501));
  EXPECT_FALSE(t.ObserveCounter(501));  // nothing after the last event: no loss
  EXPECT_FALSE(t.ObserveCounter(400));  // stale read: nothing either
  std::optional<Resync> tail = t.ObserveCounter(510);
  ASSERT_TRUE(tail);
  EXPECT_EQ(tail->reason, ResyncReason::kTailLoss);
  EXPECT_EQ(tail->lost, 9u);
  EXPECT_EQ(tail->detail, "uevent_seqnum is 510 but the last SEQNUM received was 501");
  EXPECT_FALSE(t.ObserveCounter(510));  // reported once
  EXPECT_FALSE(t.Observe(511));         // and the stream goes on from the counter
  std::optional<Resync> gap = t.Observe(505);
  ASSERT_TRUE(gap);  // after a real event, going back is a regression again
  EXPECT_EQ(gap->lost, 0u);
  SeqnumTracker fresh;
  EXPECT_FALSE(fresh.ObserveCounter(7));  // no base yet: the counter becomes the base
  EXPECT_EQ(fresh.last(), 7u);
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
