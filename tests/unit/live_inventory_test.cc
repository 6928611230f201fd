// LiveInventory over an in-memory sysfs: events re-probe exactly the touched devices.
#include "agent/live_inventory.h"

#include <gtest/gtest.h>

#include <map>

#include "model/device_digest.h"
#include "sysfs/fake_sysfs_reader.h"

namespace diskinv {
namespace {

// sys/devices/virtual/block/<name> (linked from sys/block) with dev, size and ro; its dir.
std::string AddVirtualDisk(FakeSysfsReader& fs, const std::string& name, const std::string& dev,
                           const std::string& size) {
  std::string dir = "sys/devices/virtual/block/" + name;
  fs.AddSymlink("sys/block/" + name, "../devices/virtual/block/" + name);
  fs.AddFile(dir + "/dev", dev + "\n");
  fs.AddFile(dir + "/size", size + "\n");
  fs.AddFile(dir + "/ro", "0\n");
  return dir;
}

void AddLoop(FakeSysfsReader& fs, int n) {
  std::string dir = AddVirtualDisk(fs, "loop" + std::to_string(n), "7:" + std::to_string(n), "0");
  fs.AddFile(dir + "/removable", "0\n");
  fs.AddFile(dir + "/queue/logical_block_size", "512\n");
  fs.AddDir(dir + "/holders");
}

void Attach(FakeSysfsReader& fs, int n, bool with_partition) {
  std::string name = "loop" + std::to_string(n);
  std::string dir = "sys/devices/virtual/block/" + name;
  fs.AddFile(dir + "/size", "131072\n");
  fs.AddFile(dir + "/loop/backing_file", "/tmp/img\n");
  if (with_partition) {
    fs.AddFile(dir + "/" + name + "p1/dev", "259:0\n");
    fs.AddFile(dir + "/" + name + "p1/size", "2048\n");
    fs.AddFile(dir + "/" + name + "p1/ro", "0\n");
    fs.AddFile(dir + "/" + name + "p1/partition", "1\n");
    fs.AddFile(dir + "/" + name + "p1/start", "2048\n");
    fs.AddSymlink("sys/class/block/" + name + "p1",
                  "../../devices/virtual/block/" + name + "/" + name + "p1");
  }
}

void Detach(FakeSysfsReader& fs, int n) {
  std::string name = "loop" + std::to_string(n);
  std::string dir = "sys/devices/virtual/block/" + name;
  fs.AddFile(dir + "/size", "0\n");
  fs.Remove(dir + "/loop");
  fs.Remove(dir + "/" + name + "p1");
  fs.Remove("sys/class/block/" + name + "p1");
}

// dm-<n>, a device-mapper map over `slave` (as the kernel links it both ways).
void AddDm(FakeSysfsReader& fs, int n, const std::string& slave) {
  std::string name = "dm-" + std::to_string(n);
  std::string dm = AddVirtualDisk(fs, name, "253:" + std::to_string(n), "131072");
  fs.AddFile(dm + "/dm/name", "vg-lv\n");
  fs.AddFile(dm + "/dm/uuid", "LVM-" + std::to_string(n) + "\n");
  fs.AddSymlink(dm + "/slaves/" + slave, "../../" + slave);
  fs.AddSymlink("sys/devices/virtual/block/" + slave + "/holders/" + name, "../../" + name);
}

// The live view equals a fresh walk: the same devices with the same digests, and when it keeps
// the devices, the same values.
void ExpectEqualsWalk(const LiveInventory& live, Walker& w) {
  Inventory walk = w.WalkAll();
  std::map<std::string, uint64_t> want, got;
  for (const BlockDevice& d : walk.devices()) want[d.kname] = DeviceDigest(d);
  live.ForEach(
      [&](std::string_view kname, const LiveDevice& d) { got[std::string(kname)] = d.digest; });
  EXPECT_EQ(got, want);
  if (!live.inventory().devices().empty() || want.empty()) {
    EXPECT_TRUE(DiffInventories(live.inventory(), walk).empty());
  }
}

Uevent Event(UeventAction a, const std::string& devpath) {
  Uevent e;
  e.action = a;
  e.devpath = devpath;
  e.subsystem = "block";
  return e;
}

// Each test runs twice: keeping the devices (diskinv monitor) and keeping digests (the agent).
TEST(LiveInventory, LoopAttachAndDetachAddAndRemoveDiskAndPartitions) {
  for (bool keep : {true, false}) {
    SCOPED_TRACE(keep ? "keeping devices" : "keeping digests");
    FakeSysfsReader fs;
    AddLoop(fs, 0);
    AddLoop(fs, 1);
    Walker w(fs, {});
    LiveInventory live(w, {.keep_devices = keep});
    EXPECT_TRUE(live.Resync().empty());  // empty loops are not listed
    Attach(fs, 0, true);
    auto d = live.Apply(Event(UeventAction::kChange, "/devices/virtual/block/loop0"));
    EXPECT_EQ(d.added, (std::vector<std::string>{"loop0", "loop0p1"}));
    ASSERT_NE(live.Find("loop0p1"), nullptr);
    EXPECT_EQ(live.PkName("loop0p1"), "loop0");
    EXPECT_EQ(live.Partitions("loop0"), std::vector<std::string>{"loop0p1"});
    EXPECT_TRUE(live.Slaves("loop0").empty());
    // The devices the event probed are there for the store to ask for.
    ASSERT_NE(live.Probed("loop0p1"), nullptr);
    EXPECT_EQ(live.Probed("loop0")->size_bytes, 131072u * 512);
    // The same event again changes nothing.
    EXPECT_TRUE(live.Apply(Event(UeventAction::kChange, "/devices/virtual/block/loop0")).empty());
    EXPECT_EQ(live.stats().unchanged, 1u);
    // A resize is one changed field.
    fs.AddFile("sys/devices/virtual/block/loop0/size", "262144\n");
    d = live.Apply(Event(UeventAction::kChange, "/devices/virtual/block/loop0"));
    ASSERT_EQ(d.changed.size(), 1u);
    EXPECT_EQ(d.changed[0].kname, "loop0");
    if (keep) {
      ASSERT_EQ(d.changed[0].changes.size(), 1u);
      EXPECT_EQ(d.changed[0].changes[0].field, "size");
    }
    ExpectEqualsWalk(live, w);
    Detach(fs, 0);
    d = live.Apply(Event(UeventAction::kChange, "/devices/virtual/block/loop0"));
    EXPECT_EQ(d.removed, (std::vector<std::string>{"loop0", "loop0p1"}));
    EXPECT_EQ(live.size(), 0u);
    // After all that, the live view equals a fresh walk.
    ExpectEqualsWalk(live, w);
  }
}

TEST(LiveInventory, RemoveEventDropsDeviceAndIgnoresOtherSubsystems) {
  for (bool keep : {true, false}) {
    SCOPED_TRACE(keep ? "keeping devices" : "keeping digests");
    FakeSysfsReader fs;
    AddLoop(fs, 2);
    Attach(fs, 2, true);
    Walker w(fs, {});
    LiveInventory live(w, {.keep_devices = keep});
    EXPECT_EQ(live.Resync().added.size(), 2u);
    Uevent net = Event(UeventAction::kRemove, "/devices/virtual/net/eth0");
    net.subsystem = "net";
    EXPECT_TRUE(live.Apply(net).empty());
    // A remove event while sysfs still has the partition: the kernel is the truth, not the
    // event, so re-probing the disk keeps it.
    auto d = live.Apply(Event(UeventAction::kRemove, "/devices/virtual/block/loop2/loop2p1"));
    EXPECT_TRUE(d.removed.empty());
    EXPECT_NE(live.Find("loop2p1"), nullptr);
    // Once the kernel dropped it, the same event removes it and updates the disk's list.
    fs.Remove("sys/devices/virtual/block/loop2/loop2p1");
    fs.Remove("sys/class/block/loop2p1");
    d = live.Apply(Event(UeventAction::kRemove, "/devices/virtual/block/loop2/loop2p1"));
    EXPECT_EQ(d.removed, std::vector<std::string>{"loop2p1"});
    ASSERT_EQ(d.changed.size(), 1u);
    EXPECT_EQ(d.changed[0].kname, "loop2");
    if (keep) {
      EXPECT_EQ(d.changed[0].changes[0].field, "partitions");
    }
    EXPECT_TRUE(live.Partitions("loop2").empty());
    ExpectEqualsWalk(live, w);
  }
}

TEST(LiveInventory, StackingUpdatesTheSlavesHolders) {
  for (bool keep : {true, false}) {
    SCOPED_TRACE(keep ? "keeping devices" : "keeping digests");
    FakeSysfsReader fs;
    AddLoop(fs, 3);
    Attach(fs, 3, false);
    Walker w(fs, {});
    LiveInventory live(w, {.keep_devices = keep});
    live.Resync();
    AddDm(fs, 0, "loop3");
    auto d = live.Apply(Event(UeventAction::kAdd, "/devices/virtual/block/dm-0"));
    EXPECT_EQ(d.added, std::vector<std::string>{"dm-0"});
    ASSERT_EQ(d.changed.size(), 1u);
    EXPECT_EQ(d.changed[0].kname, "loop3");
    if (keep) {
      EXPECT_EQ(d.changed[0].changes[0].field, "holders");
    }
    EXPECT_EQ(live.Probed("dm-0")->type, "lvm");
    EXPECT_EQ(live.Probed("loop3")->holders, std::vector<std::string>{"dm-0"});
    EXPECT_EQ(live.Slaves("dm-0"), std::vector<std::string>{"loop3"});
    EXPECT_TRUE(live.Partitions("dm-0").empty());
    ExpectEqualsWalk(live, w);
  }
}

// Device names that never come back (dm-N counts up with every map created) and relation lists
// replaced at every event must not pile up: names and relation entries stay bounded, and after
// the tables were compacted every relation still names the right devices.
TEST(LiveInventory, ChurnOfNewNamesStaysBoundedAndExact) {
  FakeSysfsReader fs;
  AddLoop(fs, 0);
  Attach(fs, 0, true);
  AddLoop(fs, 3);
  Attach(fs, 3, false);
  Walker w(fs, {});
  LiveInventory live(w);
  live.Resync();
  size_t most_names = 0, most_relations = 0;
  for (int n = 0; n < 3000; ++n) {
    std::string name = "dm-" + std::to_string(n);
    std::string dm = "sys/devices/virtual/block/" + name;
    AddDm(fs, n, "loop3");
    ASSERT_EQ(live.Apply(Event(UeventAction::kAdd, "/devices/virtual/block/" + name)).added,
              std::vector<std::string>{name});
    ASSERT_EQ(live.Slaves(name), std::vector<std::string>{"loop3"});
    if (n % 7 != 6) {  // every 7th map stays
      fs.Remove(dm);
      fs.Remove("sys/block/" + name);
      fs.Remove("sys/devices/virtual/block/loop3/holders/" + name);
      ASSERT_EQ(live.Apply(Event(UeventAction::kRemove, "/devices/virtual/block/" + name)).removed,
                std::vector<std::string>{name});
    }
    if (n % 100 == 99) live.Resync();  // compacts
    most_names = std::max(most_names, live.names());
    most_relations = std::max(most_relations, live.relation_entries());
  }
  live.Resync();
  // 428 maps stay (3 relation entries each) beside 3,000 names seen: without compaction the
  // table would hold every name and 9,000 relation entries.
  EXPECT_EQ(live.size(), 3u + 428u);
  EXPECT_LT(most_names, 2u * 1024u);
  EXPECT_LT(most_relations, 4096u + 2u * 3u * 428u);
  EXPECT_EQ(live.PkName("loop0p1"), "loop0");
  EXPECT_EQ(live.Partitions("loop0"), std::vector<std::string>{"loop0p1"});
  EXPECT_EQ(live.Slaves("dm-2995"), std::vector<std::string>{"loop3"});
  EXPECT_EQ(live.Slaves("dm-6"), std::vector<std::string>{"loop3"});
  EXPECT_EQ(live.Find("dm-5"), nullptr);
  ExpectEqualsWalk(live, w);
}

}  // namespace
}  // namespace diskinv
