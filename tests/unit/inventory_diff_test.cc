#include "model/inventory_diff.h"

#include <gtest/gtest.h>

namespace diskinv {
namespace {

BlockDevice Disk(const std::string& name, uint32_t minor) {
  BlockDevice d;
  d.kname = d.name = name;
  d.devnum = {8, minor};
  d.type = "disk";
  d.size_bytes = 1 << 20;
  d.queue.Mutable().scheduler = "none";
  d.udev.present = true;
  d.udev.properties = {{"ID_SERIAL", "A"}, {"ID_FS_TYPE", "ext4"}};
  return d;
}

TEST(DiffDevice, ReportsExactlyTheChangedFields) {
  BlockDevice a = Disk("sda", 0), b = a;
  EXPECT_TRUE(DiffDevice(a, b).empty());
  b.size_bytes = 2 << 20;
  b.queue.Mutable().scheduler = "mq-deadline";
  b.udev.properties = {{"ID_SERIAL", "A"}, {"ID_PART_TABLE_TYPE", "gpt"}};
  auto c = DiffDevice(a, b);
  // The lsblk columns FSTYPE and PTTYPE come from those udev properties: both views change.
  ASSERT_EQ(c.size(), 6u);
  EXPECT_EQ(c[0].field, "size");
  EXPECT_EQ(FieldValueToString(c[0].before), "1048576");
  EXPECT_EQ(FieldValueToString(c[0].after), "2097152");
  EXPECT_EQ(c[1].field, "sched");
  EXPECT_EQ(c[2].field, "fstype");
  EXPECT_EQ(c[3].field, "pttype");
  EXPECT_EQ(FieldValueToString(c[3].after), "\"gpt\"");
  EXPECT_EQ(c[4].field, "udev.properties.ID_FS_TYPE");
  EXPECT_EQ(FieldValueToString(c[4].after), "null");
  EXPECT_EQ(c[5].field, "udev.properties.ID_PART_TABLE_TYPE");
  EXPECT_EQ(FieldValueToString(c[5].after), "\"gpt\"");
}

TEST(DiffInventories, AddedRemovedChanged) {
  Inventory a, b;
  a.Add(Disk("sda", 0));
  a.Add(Disk("sdb", 16));
  b.Add(Disk("sdb", 16));
  BlockDevice c = Disk("sdc", 32);
  b.Add(c);
  EXPECT_TRUE(DiffInventories(a, a).empty());
  auto d = DiffInventories(a, b);
  EXPECT_EQ(d.removed, std::vector<std::string>{"sda"});
  EXPECT_EQ(d.added, std::vector<std::string>{"sdc"});
  EXPECT_TRUE(d.changed.empty());
  BlockDevice sdb = Disk("sdb", 16);
  sdb.holders = {"dm-0"};
  b.Add(sdb);  // replaces
  d = DiffInventories(a, b);
  ASSERT_EQ(d.changed.size(), 1u);
  EXPECT_EQ(d.changed[0].kname, "sdb");
  EXPECT_EQ(d.changed[0].changes[0].field, "holders");
}

}  // namespace
}  // namespace diskinv
