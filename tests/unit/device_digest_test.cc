// DeviceDigest: equal devices have equal digests, and a change of any one field of a
// BlockDevice (each is changed below, on every device of every fixture tree) changes it.
#include "model/device_digest.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "sysfs/real_sysfs_reader.h"
#include "sysfs/walker.h"

namespace diskinv {
namespace {

void Flip(std::string& s) { s += "x"; }
void Flip(bool& b) { b = !b; }
void Flip(int& v) { ++v; }
void Flip(uint32_t& v) { ++v; }
void Flip(std::optional<std::string>& v) { v = v ? *v + "x" : ""; }
void Flip(std::optional<uint64_t>& v) { v = v ? *v + 1 : 0; }
void Flip(std::optional<int64_t>& v) { v = v ? *v + 1 : 0; }
void Flip(std::optional<bool>& v) { v = v ? !*v : false; }
void Flip(std::vector<std::string>& v) {
  if (v.empty()) {
    v.push_back("x");
  } else {
    v.back() += "x";
  }
}

struct Mutation {
  std::string field;
  std::function<void(BlockDevice&)> change;
};

// One mutation per field, nested structs included. `box` fields create the struct first in
// both copies, so that the mutation, not the struct's presence, is what must differ.
std::vector<Mutation> Mutations() {
  std::vector<Mutation> m;
#define TOP(f) m.push_back({#f, [](BlockDevice& d) { Flip(d.f); }})
  TOP(kname);
  TOP(name);
  TOP(path);
  TOP(devpath);
  m.push_back({"devnum.major", [](BlockDevice& d) { Flip(d.devnum.major); }});
  m.push_back({"devnum.minor", [](BlockDevice& d) { Flip(d.devnum.minor); }});
  TOP(type);
  TOP(pkname);
  TOP(is_partition);
  TOP(hidden);
  TOP(size_bytes);
  TOP(ro);
  TOP(removable);
  TOP(diskseq);
  TOP(partn);
  TOP(start);
  TOP(ext_range);
  TOP(alignment_offset);
  TOP(discard_alignment);
  TOP(tran);
  TOP(vendor);
  TOP(model);
  TOP(serial);
  TOP(wwn);
  TOP(rev);
  TOP(hctl);
  TOP(state);
  TOP(wwid);
  TOP(firmware_rev);
  TOP(subsystems);
  TOP(hotplug);
  TOP(loop_backing_file);
  TOP(dm_name);
  TOP(dm_uuid);
  TOP(md_level);
  TOP(md_uuid);
  TOP(partitions);
  TOP(holders);
  TOP(slaves);
#undef TOP
#define QUEUE(f) m.push_back({"queue." #f, [](BlockDevice& d) { Flip(d.queue.Mutable().f); }})
  QUEUE(rotational);
  QUEUE(logical_block_size);
  QUEUE(physical_block_size);
  QUEUE(minimum_io_size);
  QUEUE(optimal_io_size);
  QUEUE(discard_granularity);
  QUEUE(discard_max_bytes);
  QUEUE(discard_max_hw_bytes);
  QUEUE(discard_zeroes_data);
  QUEUE(write_same_max_bytes);
  QUEUE(write_zeroes_max_bytes);
  QUEUE(max_sectors_kb);
  QUEUE(max_hw_sectors_kb);
  QUEUE(read_ahead_kb);
  QUEUE(nr_requests);
  QUEUE(nr_zones);
  QUEUE(chunk_sectors);
  QUEUE(max_open_zones);
  QUEUE(max_active_zones);
  QUEUE(zone_write_granularity);
  QUEUE(zone_append_max_bytes);
  QUEUE(rq_affinity);
  QUEUE(add_random);
  QUEUE(dax);
  QUEUE(zoned);
  QUEUE(scheduler);
  QUEUE(schedulers);
#undef QUEUE
#define SCSI(f) m.push_back({"scsi." #f, [](BlockDevice& d) { Flip(d.scsi->f); }})
  SCSI(hctl);
  SCSI(vendor);
  SCSI(model);
  SCSI(rev);
  SCSI(wwid);
  SCSI(state);
  SCSI(sas_address);
  SCSI(proc_name);
  SCSI(device_type);
#undef SCSI
  auto vpd = [](BlockDevice& d) -> VpdDesignator& {
    if (d.scsi->vpd83.empty()) d.scsi->vpd83.emplace_back();
    return d.scsi->vpd83.back();
  };
  m.push_back({"scsi.vpd83", [](BlockDevice& d) { d.scsi->vpd83.emplace_back(); }});
  m.push_back({"scsi.vpd83.code_set", [vpd](BlockDevice& d) { Flip(vpd(d).code_set); }});
  m.push_back({"scsi.vpd83.association", [vpd](BlockDevice& d) { Flip(vpd(d).association); }});
  m.push_back({"scsi.vpd83.type", [vpd](BlockDevice& d) { Flip(vpd(d).type); }});
  m.push_back({"scsi.vpd83.value", [vpd](BlockDevice& d) { Flip(vpd(d).value); }});
#define NVME(f) m.push_back({"nvme." #f, [](BlockDevice& d) { Flip(d.nvme->f); }})
  NVME(eui64);
  NVME(nguid);
  NVME(uuid);
  NVME(wwid);
  NVME(nsid);
  NVME(controller);
  NVME(subsystem);
  NVME(serial);
  NVME(model);
  NVME(firmware_rev);
  NVME(transport);
  NVME(subsysnqn);
  NVME(address);
  NVME(state);
  NVME(cntlid);
  NVME(paths);
  NVME(controllers);
#undef NVME
  m.push_back({"scsi (presence)", [](BlockDevice& d) { d.scsi = std::nullopt; }});
  m.push_back({"nvme (presence)", [](BlockDevice& d) { d.nvme = std::nullopt; }});
  m.push_back({"udev.present", [](BlockDevice& d) { Flip(d.udev.present); }});
  m.push_back({"udev.properties (added)",
               [](BlockDevice& d) { d.udev.properties.Add("DISKINV_TEST", "1"); }});
  m.push_back({"udev.properties (value)", [](BlockDevice& d) {
                 PackedProperties p;
                 for (const auto& [k, v] : d.udev.properties) p.Add(k, std::string(v) + "x");
                 if (p.empty()) p.Add("ID_PATH", "");
                 d.udev.properties = p;
               }});
  m.push_back({"udev.links", [](BlockDevice& d) { d.udev.links.push_back("disk/by-id/x"); }});
  m.push_back({"udev.tags", [](BlockDevice& d) { d.udev.tags.push_back("x"); }});
  m.push_back({"udev.current_tags", [](BlockDevice& d) { d.udev.current_tags.push_back("x"); }});
  m.push_back({"udev.initialized_usec", [](BlockDevice& d) { Flip(d.udev.initialized_usec); }});
  m.push_back({"disagreements", [](BlockDevice& d) {
                 d.disagreements["size"] = {"udev", "1", "2"};
               }});
  m.push_back({"disagreements.used", [](BlockDevice& d) { d.disagreements["x"].used += "x"; }});
  m.push_back({"errors", [](BlockDevice& d) { d.errors.push_back({"size", "p", "m", 5}); }});
  m.push_back({"errors.message", [](BlockDevice& d) {
                 if (d.errors.empty()) d.errors.emplace_back();
                 d.errors.back().message += "x";
               }});
  return m;
}

std::vector<BlockDevice> FixtureDevices() {
  const char* src = std::getenv("DISKINV_SOURCE_DIR");
  std::filesystem::path fixtures = std::filesystem::path(src ? src : ".") / "fixtures/sysfs";
  std::vector<BlockDevice> out;
  for (const auto& e : std::filesystem::directory_iterator(fixtures)) {
    if (!e.is_directory()) continue;
    auto reader = RealSysfsReader::Open(e.path().string());
    if (!reader.ok()) continue;
    Inventory inv = Walker(**reader, WalkOptions{.all = true}).WalkAll();
    for (const BlockDevice& d : inv.devices()) out.push_back(d);
  }
  return out;
}

TEST(DeviceDigest, EqualDevicesEqualDigests) {
  std::vector<BlockDevice> devs = FixtureDevices();
  ASSERT_GT(devs.size(), 50u);
  std::set<uint64_t> distinct;
  for (const BlockDevice& d : devs) {
    BlockDevice copy = d;
    EXPECT_EQ(DeviceDigest(copy), DeviceDigest(d)) << d.kname;
    distinct.insert(DeviceDigest(d));
  }
  // Devices of different trees may be equal; most are not.
  EXPECT_GT(distinct.size(), devs.size() / 2);
  // An empty value and a missing one differ, and so do bytes moved from one field to the next.
  BlockDevice a, b;
  b.vendor = "";
  EXPECT_NE(DeviceDigest(a), DeviceDigest(b));
  a.vendor = "ab";
  a.model = "c";
  b.vendor = "a";
  b.model = "bc";
  EXPECT_NE(DeviceDigest(a), DeviceDigest(b));
}

TEST(DeviceDigest, EveryFieldChangesIt) {
  std::vector<BlockDevice> devs = FixtureDevices();
  ASSERT_GT(devs.size(), 50u);
  std::vector<Mutation> mutations = Mutations();
  for (const Mutation& m : mutations) {
    size_t changed = 0;
    for (const BlockDevice& d : devs) {
      BlockDevice base = d;
      // Nested structs exist in both copies (a field inside them is what is changed).
      if (m.field.starts_with("scsi.") && !base.scsi) base.scsi.emplace();
      if (m.field.starts_with("nvme.") && !base.nvme) base.nvme.emplace();
      BlockDevice after = base;
      m.change(after);
      if (after == base) continue;  // e.g. removing a box that was not there
      ++changed;
      EXPECT_NE(DeviceDigest(after), DeviceDigest(base)) << m.field << " of " << d.kname;
    }
    EXPECT_GT(changed, 0u) << m.field;
  }
  // Every field of BlockDevice (39, devnum as 2) and of the structs it holds (queue 27, scsi 9
  // + 5 for vpd83, nvme 17, udev 7) has one, plus the presence of scsi and nvme and two each
  // for disagreements and errors. The digest's static_asserts on the structs' sizes make a new
  // field fail to build until it is hashed; then add it here.
  EXPECT_EQ(mutations.size(), 110u);
}

}  // namespace
}  // namespace diskinv
