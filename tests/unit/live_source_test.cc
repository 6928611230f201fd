// LiveSource: the agent's DeviceSource, which keeps digests and probes sysfs again. On every
// fixture tree, what the store builds from it (identities, rows, etags, edges, conflicts) is
// what it builds from the Inventory of a full walk, whether the index is built during the
// agent's own walk (LiveInventory::Resync + NodeIndex::Add), by a walk of its own (Rebuild) or
// device by device (Update).
#include "agent/live_source.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "store/device_row.h"
#include "store/node_index.h"
#include "store/node_rows.h"
#include "sysfs/real_sysfs_reader.h"

namespace diskinv {
namespace {

void ExpectIndexIsTheInventorys(const NodeIndex& index, const NodeRows& want,
                                const DeviceSource& src, const std::string& what,
                                size_t* etags_known) {
  SCOPED_TRACE(what);
  std::unordered_map<std::string, std::string> uids;
  index.ForEach([&](const std::string& kname, const DiskIdentity& id) {
    if (id.ok()) uids[kname] = id.uid;
  });
  EXPECT_EQ(uids, want.uid_by_kname);
  for (const DeviceRow& row : want.rows) {
    std::optional<DiskIdentity> id = index.Find(row.kname);
    ASSERT_TRUE(id) << row.kname;
    const BlockDevice* d = src.Find(row.kname);
    ASSERT_NE(d, nullptr) << row.kname;
    DeviceRow got = MakeDeviceRow(*d, *id);
    EXPECT_EQ(got.uid, row.uid) << row.kname;
    EXPECT_EQ(got.values, row.values) << row.kname;
    EXPECT_EQ(got.etag, row.etag) << row.kname;
    // The etag the index computed while identifying is the row's, or unknown.
    std::string etag = index.RowEtag(row.kname);
    if (!etag.empty()) {
      EXPECT_EQ(etag, row.etag) << row.kname;
      if (etags_known != nullptr) ++*etags_known;
    }
  }
  EXPECT_EQ(index.Edges(), want.edges);
  EXPECT_EQ(index.Conflicts(), want.conflicts);
  std::vector<std::string> unidentified = want.unidentified;
  std::sort(unidentified.begin(), unidentified.end());
  EXPECT_EQ(index.Unidentified(), unidentified);
}

TEST(LiveSource, GivesTheStoreWhatTheInventoryGivesOnEveryFixture) {
  const char* dir = std::getenv("DISKINV_SOURCE_DIR");
  std::filesystem::path fixtures = std::filesystem::path(dir ? dir : ".") / "fixtures/sysfs";
  ASSERT_TRUE(std::filesystem::is_directory(fixtures)) << fixtures;
  size_t trees = 0, rows = 0, etags_known = 0, conflicts = 0, edges = 0, disk_events = 0;
  for (const auto& e : std::filesystem::directory_iterator(fixtures)) {
    if (!e.is_directory()) continue;
    SCOPED_TRACE(e.path().string());
    auto reader = RealSysfsReader::Open(e.path().string());
    ASSERT_TRUE(reader.ok());
    WalkOptions opt{.skip_ignored = true, .udev_properties = StoredUdevProperties()};
    Inventory inv = Walker(**reader, opt).WalkAll();
    NodeRows want = BuildNodeRows(inv, "node");

    Walker walker(**reader, opt);
    LiveInventory live(walker);
    NodeIndex walked("node");
    live.Resync([&](const BlockDevice& d) { walked.Add(d); });
    LiveSource src(walker, live);
    walked.Finish(src);
    ExpectIndexIsTheInventorys(walked, want, src, "built during the walk", &etags_known);

    NodeIndex rebuilt("node");
    rebuilt.Rebuild(src);
    ExpectIndexIsTheInventorys(rebuilt, want, src, "rebuilt by a walk of its own", nullptr);

    std::vector<std::string> all;
    live.ForEach([&](std::string_view kname, const LiveDevice&) { all.emplace_back(kname); });
    NodeIndex updated("node");
    IndexChange change = updated.Update(src, all);
    EXPECT_EQ(change.knames.size(), all.size());
    ExpectIndexIsTheInventorys(updated, want, src, "updated device by device", nullptr);

    // The Inventory is a DeviceSource too, and gives the same.
    NodeIndex from_inv("node");
    from_inv.Rebuild(inv);
    ExpectIndexIsTheInventorys(from_inv, want, inv, "from the Inventory", nullptr);

    // Only what LiveInventory lists is found; a device asked for twice is probed once.
    EXPECT_EQ(src.Find("no-such-device"), nullptr);
    src.Reset();
    if (!all.empty()) {
      const std::string& k = all.front();
      size_t before = src.probes();
      EXPECT_EQ(src.Find(k), src.Find(k));
      EXPECT_EQ(src.probes(), before + 1);
    }
    // An event on a whole disk whose identity does not change probes that disk only, not its
    // partitions (their identities derive from it; their own changes come as their own events).
    for (const std::string& kname : all) {
      if (live.Find(kname)->is_partition || live.Partitions(kname).empty()) continue;
      std::optional<DiskIdentity> id = walked.Find(kname);
      if (!id || !id->ok() || !id->conflict.empty()) continue;
      src.Reset();
      size_t before = src.probes();
      IndexChange one = walked.Update(src, {kname});
      EXPECT_EQ(src.probes(), before + 1) << kname;
      EXPECT_EQ(one.knames.size(), 1u) << kname;
      ExpectIndexIsTheInventorys(walked, want, src, "after an event on " + kname, nullptr);
      ++disk_events;
      break;
    }
    rows += want.rows.size();
    conflicts += want.conflicts.size();
    edges += want.edges.size();
    ++trees;
  }
  EXPECT_GE(trees, 20u);
  // The fixtures exercise what matters: rows, duplicates and bogus identifiers, stacking.
  EXPECT_GT(rows, 50u);
  EXPECT_GT(conflicts, 0u);
  EXPECT_GT(edges, 0u);
  EXPECT_GT(disk_events, 5u);
  // Most etags are known from the walk alone: an unchanged full sync probes nothing again.
  EXPECT_GT(etags_known, rows * 8 / 10);
}

}  // namespace
}  // namespace diskinv
