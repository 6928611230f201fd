// NodeIndex: updated device by device it equals a rebuild from scratch (and IdentifyInventory),
// and what Update reports covers every identity, edge and conflict that changed.
#include "store/node_index.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <random>

#include "model/inventory_diff.h"

namespace diskinv {
namespace {

std::vector<std::string> Touched(const InventoryDiff& d) {
  std::vector<std::string> out = d.added;
  out.insert(out.end(), d.removed.begin(), d.removed.end());
  for (const auto& c : d.changed) out.push_back(c.kname);
  return out;
}

// kname -> "uid|conflict|rejected..." for every device.
std::map<std::string, std::string> Identities(const NodeIndex& index, const Inventory& inv) {
  std::map<std::string, std::string> out;
  for (const BlockDevice& d : inv.devices()) {
    std::optional<DiskIdentity> id = index.Find(d.kname);
    if (!id) {
      out[d.kname] = "<missing>";
      continue;
    }
    std::string s = fmt::format("{}|{}|{}", id->uid, id->conflict, IdentitySourceName(id->source));
    for (const auto& r : id->rejected) s += fmt::format("|{}:{}:{}", r.kind, r.value, r.reason);
    out[d.kname] = s;
  }
  return out;
}

// Whole disk sd<n> with a WWN.
BlockDevice WwnDisk(int n, const std::string& wwn) {
  BlockDevice d;
  d.kname = d.name = fmt::format("sd{}", n);
  d.type = "disk";
  d.devnum = {8, static_cast<uint32_t>(n * 16)};
  d.wwn = wwn;
  return d;
}

// Adds `d` and its one partition, <kname>1.
void AddWithPartition(Inventory& inv, BlockDevice d) {
  d.partitions = {d.kname + "1"};
  BlockDevice part = d;
  part.kname = part.name = d.kname + "1";
  part.type = "part";
  part.is_partition = true;
  part.pkname = d.kname;
  part.partitions.clear();
  part.partn = 1;
  inv.Add(std::move(d));
  inv.Add(std::move(part));
}

// A random node: disks with identities drawn from small pools (duplicates and bogus values
// happen), partitions, md arrays over some disks.
class RandomNode {
 public:
  explicit RandomNode(uint32_t seed) : rng_(seed) {}

  // One random change; returns the new inventory.
  Inventory Step() {
    int op = Pick(10);
    if (op < 4 || disks_.size() < 3) {
      AddDisk();
    } else if (op < 6) {
      disks_.erase(std::next(disks_.begin(), Pick(static_cast<int>(disks_.size()))));
    } else if (op < 9) {
      auto it = std::next(disks_.begin(), Pick(static_cast<int>(disks_.size())));
      Randomize(it->second);
    } else {
      md_.clear();
      for (const auto& [name, d] : disks_) {
        if (Pick(3) == 0) md_.push_back(name);
      }
    }
    return Build();
  }

 private:
  int Pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }

  void AddDisk() {
    BlockDevice d;
    d.kname = d.name = fmt::format("sd{}", next_++);
    d.type = "disk";
    d.devnum = {8, static_cast<uint32_t>(next_ * 16)};
    d.vendor = "ATA";
    d.model = "M";
    Randomize(d);
    disks_[d.kname] = d;
  }

  void Randomize(BlockDevice& d) {
    static const char* kWwns[] = {"0x5000c500a1b2c3d4", "0x5000c500a1b2c3d5", "0x0000000000000000"};
    static const char* kSerials[] = {"S1AAA", "S2BBB", "0000000000", "S3CCC"};
    d.wwn.reset();
    d.serial.reset();
    d.udev.properties.clear();
    if (int w = Pick(5); w < 3) d.wwn = kWwns[w];
    if (int s = Pick(6); s < 4) d.serial = kSerials[s];
    if (Pick(2) == 0) d.udev.properties = {{"ID_PATH", "pci-0:" + d.kname}};
    d.partitions.clear();
    for (int n = 1, parts = Pick(3); n <= parts; ++n)
      d.partitions.push_back(fmt::format("{}p{}", d.kname, n));
    d.size_bytes = static_cast<uint64_t>(Pick(4)) << 30;
  }

  Inventory Build() {
    Inventory inv;
    for (auto [name, d] : disks_) {
      d.holders.clear();
      if (std::find(md_.begin(), md_.end(), name) != md_.end()) d.holders = {"md0"};
      for (const std::string& p : d.partitions) {
        BlockDevice part = d;
        part.kname = part.name = p;
        part.type = "part";
        part.is_partition = true;
        part.pkname = d.kname;
        part.partitions.clear();
        part.holders.clear();
        part.partn = std::stoull(p.substr(d.kname.size() + 1));
        part.devnum.minor += static_cast<uint32_t>(*part.partn);
        inv.Add(part);
      }
      inv.Add(d);
    }
    if (!md_.empty()) {
      BlockDevice md;
      md.kname = md.name = "md0";
      md.type = "raid1";
      md.devnum = {9, 0};
      md.md_uuid = "3a1b2c3d:4e5f6071:8293a4b5:c6d7e8f9";
      md.slaves = md_;
      md.slaves.push_back("sd999");  // a slave that is not there: no edge
      inv.Add(md);
    }
    return inv;
  }

  std::mt19937 rng_;
  int next_ = 0;
  std::map<std::string, BlockDevice> disks_;
  std::vector<std::string> md_;
};

// Every uid in one hash bucket: the duplicate groups must still be told apart by their uids.
uint64_t Collide(std::string_view) { return 42; }

TEST(NodeIndex, UpdatedDeviceByDeviceEqualsARebuild) {
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE(fmt::format("seed {}", seed));
    RandomNode node(seed);
    Inventory inv;
    // Odd seeds: a hash under which every uid collides (Rebuild keeps it).
    NodeIndex live("m1", seed % 2 ? Collide : NodeIndex::DefaultUidHash);
    live.Rebuild(inv);
    NodeIndex before("m1");
    before.Rebuild(inv);
    for (int step = 0; step < 150; ++step) {
      SCOPED_TRACE(fmt::format("step {}", step));
      Inventory next = node.Step();
      IndexChange change = live.Update(next, Touched(DiffInventories(inv, next)));
      inv = std::move(next);
      NodeIndex fresh("m1");
      fresh.Rebuild(inv);
      ASSERT_EQ(Identities(live, inv), Identities(fresh, inv));
      ASSERT_EQ(live.size(), inv.size());
      ASSERT_EQ(live.Edges(), fresh.Edges());
      ASSERT_EQ(live.Conflicts(), fresh.Conflicts());
      ASSERT_EQ(live.Unidentified(), fresh.Unidentified());
      ASSERT_EQ(live.unidentified(), fresh.Unidentified().size());
      // The reference: IdentifyInventory of the whole inventory.
      std::vector<DiskIdentity> ids = IdentifyInventory(inv, "m1");
      if (seed % 2) {
        NodeIndex rebuilt("m1", Collide);
        rebuilt.Rebuild(inv);
        ASSERT_EQ(Identities(rebuilt, inv), Identities(fresh, inv));
        ASSERT_EQ(rebuilt.Conflicts(), fresh.Conflicts());
      }
      for (size_t i = 0; i < ids.size(); ++i) {
        std::optional<DiskIdentity> id = live.Find(inv.devices()[i].kname);
        ASSERT_TRUE(id);
        ASSERT_EQ(id->uid, ids[i].uid) << inv.devices()[i].kname;
        ASSERT_EQ(id->conflict, ids[i].conflict) << inv.devices()[i].kname;
        ASSERT_EQ(id->rejected, ids[i].rejected) << inv.devices()[i].kname;
      }
      // Everything that differs from the previous state is in the change.
      for (const BlockDevice& d : inv.devices()) {
        std::optional<DiskIdentity> was = before.Find(d.kname);
        std::optional<DiskIdentity> now = live.Find(d.kname);
        if (!was || was->uid != now->uid || was->conflict != now->conflict) {
          ASSERT_TRUE(change.knames.contains(d.kname)) << d.kname;
          ASSERT_EQ(change.knames.at(d.kname), was ? was->uid : "") << d.kname;
        }
      }
      std::set<HolderEdge> e0 = before.Edges(), e1 = live.Edges(), diff;
      std::set_symmetric_difference(e0.begin(), e0.end(), e1.begin(), e1.end(),
                                    std::inserter(diff, diff.end()));
      for (const HolderEdge& e : diff) {
        ASSERT_TRUE(change.edges.contains(e)) << e.parent_uid << " -> " << e.child_uid;
      }
      auto c0 = before.Conflicts(), c1 = live.Conflicts();
      for (const auto& [key, row] : c0) {
        bool changed = !c1.contains(key) || !(c1.at(key) == row);
        ASSERT_TRUE(!changed || change.conflicts.contains(key))
            << key.kind << " " << key.identifier << ": " << row.devices << " " << row.reason
            << " -> " << (c1.contains(key) ? c1.at(key).devices + " " + c1.at(key).reason : "");
      }
      for (const auto& [key, row] : c1) {
        ASSERT_TRUE(c0.contains(key) || change.conflicts.contains(key)) << key.identifier;
      }
      before = std::move(fresh);
    }
  }
}

TEST(NodeIndex, AnEventOnOneDiskTouchesOnlyItsGroupAndPartitions) {
  Inventory inv;
  for (int k = 0; k < 1000; ++k) inv.Add(WwnDisk(k, fmt::format("0x5000c500{:08x}", k + 1)));
  NodeIndex index("m1");
  index.Rebuild(inv);
  // sd1 takes sd2's WWN: both are now a duplicate group, nothing else is re-identified.
  BlockDevice d = *inv.FindByName("sd1");
  d.wwn = "0x5000c50000000003";
  inv.Add(d);
  IndexChange change = index.Update(inv, {"sd1"});
  EXPECT_EQ(change.knames.size(), 2u);
  EXPECT_EQ(change.knames.at("sd1"), "wwn:5000c50000000002");
  EXPECT_EQ(change.knames.at("sd2"), "wwn:5000c50000000003");
  EXPECT_EQ(index.Find("sd2")->uid, "wwn:5000c50000000003~m1:sd2");
  ASSERT_EQ(change.conflicts.size(), 1u);
  EXPECT_EQ(index.Conflict(*change.conflicts.begin())->devices, "sd1,sd2");
  // And back: the group dissolves, the conflict is resolved.
  d.wwn = "0x5000c50000000002";
  inv.Add(d);
  change = index.Update(inv, {"sd1"});
  EXPECT_EQ(change.knames.size(), 2u);
  EXPECT_EQ(index.Find("sd2")->uid, "wwn:5000c50000000003");
  EXPECT_FALSE(index.Conflict(*change.conflicts.begin()));
  EXPECT_TRUE(index.Conflicts().empty());
}

// Uids live in one buffer; an identity that changes leaves its old uid behind until the buffer
// is compacted. Many changes later every identity is still exact and the buffer did not grow
// with them.
TEST(NodeIndex, IdentitiesStayExactWhileTheirUidsChurn) {
  Inventory inv;
  for (int n = 0; n < 8; ++n) {
    AddWithPartition(inv, WwnDisk(n, fmt::format("0x5000c500a1b2c3{:02x}", n)));
  }
  NodeIndex live("m1");
  live.Rebuild(inv);
  for (int i = 0; i < 2000; ++i) {
    std::string k = fmt::format("sd{}", i % 8);
    BlockDevice d = *inv.FindByName(k);
    d.wwn = fmt::format("0x5000c501{:08x}", i);
    inv.Add(d);
    live.Update(inv, {k});
    NodeIndex fresh("m1");
    fresh.Rebuild(inv);
    ASSERT_EQ(Identities(live, inv), Identities(fresh, inv)) << "change " << i;
  }
  NodeIndex fresh("m1");
  fresh.Rebuild(inv);
  EXPECT_EQ(Identities(live, inv), Identities(fresh, inv));
  EXPECT_EQ(live.Find("sd7")->uid, "wwn:5000c501000007cf");
  EXPECT_EQ(live.Find("sd71")->uid, "wwn:5000c501000007cf-part1");
  // 2,000 uids of 20 bytes were set; far fewer bytes are held.
  EXPECT_LT(live.uid_bytes(), 2 * 4096u + 8 * 32u);
}

// Disks that come and go under ever new names (as dm-N does): the names of the index stay
// bounded, and after its names were compacted every identity, partition and duplicate group
// is still the one a rebuild gives.
TEST(NodeIndex, NamesStayBoundedWhileDevicesComeAndGoUnderNewNames) {
  Inventory inv;
  auto add = [&](int n, const std::string& wwn) { AddWithPartition(inv, WwnDisk(n, wwn)); };
  // Two disks that stay, with one WWN: a duplicate group across every compaction.
  add(0, "0x5000c500a1b2c3d4");
  add(1, "0x5000c500a1b2c3d4");
  NodeIndex live("m1");
  live.Rebuild(inv);
  size_t most = 0;
  for (int n = 2; n < 3000; ++n) {
    // Every 50th passing disk has the WWN of another: duplicates among them too.
    add(n, fmt::format("0x5000c501{:08x}", n % 50 == 0 ? n % 7 : n));
    live.Update(inv, {fmt::format("sd{}", n), fmt::format("sd{}1", n)});
    if (n % 3 != 0) {
      inv.Remove(fmt::format("sd{}", n));
      inv.Remove(fmt::format("sd{}1", n));
      live.Update(inv, {fmt::format("sd{}", n), fmt::format("sd{}1", n)});
    }
    most = std::max(most, live.names());
    if (n % 101 != 0 && n != 2999) continue;
    NodeIndex fresh("m1");
    fresh.Rebuild(inv);
    ASSERT_EQ(Identities(live, inv), Identities(fresh, inv)) << "disk " << n;
    ASSERT_EQ(live.Conflicts(), fresh.Conflicts()) << "disk " << n;
    ASSERT_EQ(live.size(), inv.size());
  }
  // 1,000 disks stay (with their partitions: 2,000 names) beside 6,000 names seen.
  EXPECT_LT(most, 2 * 2000u + 64 + 2);
  EXPECT_EQ(live.Find("sd1")->conflict.empty(), false);
}

}  // namespace
}  // namespace diskinv
