#include "model/box.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "model/block_device.h"

namespace diskinv {
namespace {

struct Item {
  std::string name;
  std::vector<int> values;
  bool operator==(const Item&) const = default;
};

TEST(Box, BehavesLikeAnOptional) {
  Box<Item> b;
  EXPECT_FALSE(b.has_value());
  EXPECT_FALSE(b);
  b = Item{"a", {1}};
  ASSERT_TRUE(b);
  EXPECT_EQ(b->name, "a");
  EXPECT_EQ((*b).values, std::vector<int>{1});
  b.emplace(Item{"b", {}});
  EXPECT_EQ(b->name, "b");
  b.reset();
  EXPECT_FALSE(b.has_value());
  b.emplace();
  EXPECT_TRUE(b.has_value());
  EXPECT_EQ(*b, Item{});
  b = std::nullopt;
  EXPECT_FALSE(b);
}

TEST(Box, CopiesDeeplyAndComparesValues) {
  Box<Item> a = Item{"a", {1, 2}};
  Box<Item> c = a;
  EXPECT_EQ(a, c);
  EXPECT_NE(&*a, &*c);
  c->values.push_back(3);
  EXPECT_NE(a, c);
  EXPECT_EQ(a->values.size(), 2u);
  c = a;
  EXPECT_EQ(a, c);
  const Box<Item>& same = c;
  c = same;  // self-assignment keeps the value
  EXPECT_EQ(c->name, "a");
  Box<Item> empty, empty2;
  EXPECT_EQ(empty, empty2);
  EXPECT_NE(a, empty);
  EXPECT_NE(empty, a);
  c = empty;
  EXPECT_FALSE(c);
  Box<Item> moved = std::move(a);
  EXPECT_EQ(moved->name, "a");
}

TEST(Box, KeepsBlockDeviceComparisonsAndCopiesByValue) {
  BlockDevice x;
  x.kname = "sda";
  x.scsi = ScsiIdentity{};
  x.scsi->vendor = "ATA";
  BlockDevice y = x;
  EXPECT_EQ(x, y);
  y.scsi->vendor = "QEMU";
  EXPECT_NE(x, y);
  EXPECT_EQ(*x.scsi->vendor, "ATA");
  y.scsi.reset();
  EXPECT_NE(x, y);
  x.scsi.reset();
  EXPECT_EQ(x, y);
  y.nvme.emplace().nsid = 1;
  EXPECT_NE(x, y);
  // An empty box costs a pointer, not the identities' inline storage.
  EXPECT_EQ(sizeof(Box<NvmeIdentity>), sizeof(void*));
}

}  // namespace
}  // namespace diskinv
