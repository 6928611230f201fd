#include "model/shared_value.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "model/block_device.h"

namespace diskinv {
namespace {

// A name and its values.
using Item = std::pair<std::string, std::vector<int>>;

TEST(SharedValue, DefaultReadsAsADefaultValue) {
  SharedValue<Item> a, b;
  EXPECT_EQ(*a, Item{});
  EXPECT_TRUE(a->first.empty());
  EXPECT_EQ(a, b);
  EXPECT_FALSE(a.SharesWith(b));  // nothing allocated
  a.Mutable();                    // allocated, still the default value
  EXPECT_EQ(a, b);
  EXPECT_EQ(b, a);
}

TEST(SharedValue, CopiesShareUntilOneIsWritten) {
  SharedValue<Item> a = Item{"a", {1}};
  SharedValue<Item> b = a;
  EXPECT_TRUE(a.SharesWith(b));
  EXPECT_EQ(&*a, &*b);
  b.Mutable().second.push_back(2);
  EXPECT_FALSE(a.SharesWith(b));
  EXPECT_EQ(a->second, std::vector<int>{1});  // the original is untouched
  EXPECT_EQ(b->second, (std::vector<int>{1, 2}));
  EXPECT_NE(a, b);
  // A value not shared is written in place.
  const Item* before = &*b;
  b.Mutable().first = "b";
  EXPECT_EQ(&*b, before);
  // Equal values in different blocks compare equal.
  SharedValue<Item> c = Item{"a", {1}};
  EXPECT_FALSE(a.SharesWith(c));
  EXPECT_EQ(a, c);
  c = b;
  EXPECT_EQ(c->first, "b");
  EXPECT_TRUE(c.SharesWith(b));
}

TEST(SharedValue, BlockDeviceCopiesKeepValueSemantics) {
  BlockDevice disk;
  disk.queue.Mutable().scheduler = "mq-deadline";
  disk.queue.Mutable().schedulers = {"mq-deadline", "none"};
  BlockDevice part;
  part.queue = disk.queue;
  EXPECT_TRUE(part.queue.SharesWith(disk.queue));
  BlockDevice copy = disk;
  copy.queue.Mutable().scheduler = "none";
  EXPECT_EQ(*disk.queue->scheduler, "mq-deadline");
  EXPECT_EQ(*part.queue->scheduler, "mq-deadline");
  EXPECT_NE(copy, disk);
  copy.queue.Mutable().scheduler = "mq-deadline";
  EXPECT_EQ(copy, disk);
}

}  // namespace
}  // namespace diskinv
