#include "model/device_digest.h"

#include <functional>
#include <string_view>

namespace diskinv {
namespace {

// A field added to BlockDevice (or to the structs it holds) must be hashed below and changed in
// tests/unit/device_digest_test.cc; these sizes are a reminder (x86-64, libstdc++).
static_assert(sizeof(void*) != 8 || sizeof(BlockDevice) == 1304, "hash the new field");
static_assert(sizeof(void*) != 8 || sizeof(QueueLimits) == 448, "hash the new field");
static_assert(sizeof(void*) != 8 || sizeof(ScsiIdentity) == 352, "hash the new field");
static_assert(sizeof(void*) != 8 || sizeof(NvmeIdentity) == 584, "hash the new field");

// Every value is fed with its length or a presence mark before it, so that moving bytes from
// one field to the next (("ab", "c") vs ("a", "bc")) or an empty value vs a missing one differ.
class Hasher {
 public:
  uint64_t value() const { return h_; }

  void Add(uint64_t v) {
    // boost::hash_combine's 64-bit mix, then a multiply so that small integers spread.
    h_ ^= (v * 0x9e3779b97f4a7c15ULL) + 0x9e3779b97f4a7c15ULL + (h_ << 6) + (h_ >> 2);
  }
  void Add(int64_t v) { Add(static_cast<uint64_t>(v)); }
  void Add(int v) { Add(static_cast<uint64_t>(static_cast<int64_t>(v))); }
  void Add(uint32_t v) { Add(static_cast<uint64_t>(v)); }
  void Add(bool v) { Add(uint64_t{v ? 1u : 2u}); }
  void Add(std::string_view s) {
    Add(uint64_t{s.size()});
    Add(uint64_t{std::hash<std::string_view>{}(s)});
  }
  void Add(const std::string& s) { Add(std::string_view(s)); }
  template <typename T>
  void Add(const std::optional<T>& v) {
    Add(uint64_t{v.has_value() ? 0x51u : 0x50u});
    if (v) Add(*v);
  }
  template <typename T>
  void Add(const std::vector<T>& v) {
    Add(uint64_t{v.size()});
    for (const T& x : v) Add(x);
  }
  void Add(const PackedStrings& v) {
    uint64_t n = 0;
    for (std::string_view s : v) {
      Add(s);
      ++n;
    }
    Add(n);
  }
  void Add(const PackedProperties& v) {
    uint64_t n = 0;
    for (const auto& [k, val] : v) {
      Add(k);
      Add(val);
      ++n;
    }
    Add(n);
  }
  void Add(const DevNum& d) {
    Add(d.major);
    Add(d.minor);
  }
  void Add(const FieldError& e) {
    Add(e.field);
    Add(e.path);
    Add(e.message);
    Add(e.code);
  }
  void Add(const VpdDesignator& v) {
    Add(v.code_set);
    Add(v.association);
    Add(v.type);
    Add(v.value);
  }
  void Add(const QueueLimits& q) {
    Add(q.rotational);
    Add(q.logical_block_size);
    Add(q.physical_block_size);
    Add(q.minimum_io_size);
    Add(q.optimal_io_size);
    Add(q.discard_granularity);
    Add(q.discard_max_bytes);
    Add(q.discard_max_hw_bytes);
    Add(q.discard_zeroes_data);
    Add(q.write_same_max_bytes);
    Add(q.write_zeroes_max_bytes);
    Add(q.max_sectors_kb);
    Add(q.max_hw_sectors_kb);
    Add(q.read_ahead_kb);
    Add(q.nr_requests);
    Add(q.nr_zones);
    Add(q.chunk_sectors);
    Add(q.max_open_zones);
    Add(q.max_active_zones);
    Add(q.zone_write_granularity);
    Add(q.zone_append_max_bytes);
    Add(q.rq_affinity);
    Add(q.add_random);
    Add(q.dax);
    Add(q.zoned);
    Add(q.scheduler);
    Add(q.schedulers);
  }
  void Add(const ScsiIdentity& s) {
    Add(s.hctl);
    Add(s.vendor);
    Add(s.model);
    Add(s.rev);
    Add(s.wwid);
    Add(s.state);
    Add(s.sas_address);
    Add(s.proc_name);
    Add(s.device_type);
    Add(s.vpd83);
  }
  void Add(const NvmeIdentity& n) {
    Add(n.eui64);
    Add(n.nguid);
    Add(n.uuid);
    Add(n.wwid);
    Add(n.nsid);
    Add(n.controller);
    Add(n.subsystem);
    Add(n.serial);
    Add(n.model);
    Add(n.firmware_rev);
    Add(n.transport);
    Add(n.subsysnqn);
    Add(n.address);
    Add(n.state);
    Add(n.cntlid);
    Add(n.paths);
    Add(n.controllers);
  }
  template <typename T>
  void Add(const Box<T>& b) {
    Add(uint64_t{b ? 0x61u : 0x60u});
    if (b) Add(*b);
  }
  void Add(const UdevRecord& u) {
    Add(u.present);
    Add(u.properties);
    Add(u.links);
    Add(u.tags);
    Add(u.current_tags);
    Add(u.initialized_usec);
  }
  void Add(const std::map<std::string, BlockDevice::SourceNote>& m) {
    Add(uint64_t{m.size()});
    for (const auto& [field, note] : m) {
      Add(field);
      Add(note.used);
      Add(note.udev_value);
      Add(note.sysfs_value);
    }
  }

 private:
  uint64_t h_ = 0x6a09e667f3bcc908ULL;
};

}  // namespace

uint64_t DeviceDigest(const BlockDevice& d) {
  Hasher h;
  h.Add(d.kname);
  h.Add(d.name);
  h.Add(d.path);
  h.Add(d.devpath);
  h.Add(d.devnum);
  h.Add(d.type);
  h.Add(d.pkname);
  h.Add(d.is_partition);
  h.Add(d.hidden);
  h.Add(d.size_bytes);
  h.Add(d.ro);
  h.Add(d.removable);
  h.Add(d.diskseq);
  h.Add(d.partn);
  h.Add(d.start);
  h.Add(d.ext_range);
  h.Add(d.alignment_offset);
  h.Add(d.discard_alignment);
  h.Add(d.tran);
  h.Add(d.vendor);
  h.Add(d.model);
  h.Add(d.serial);
  h.Add(d.wwn);
  h.Add(d.rev);
  h.Add(d.hctl);
  h.Add(d.state);
  h.Add(d.wwid);
  h.Add(d.firmware_rev);
  h.Add(d.subsystems);
  h.Add(d.hotplug);
  h.Add(*d.queue);
  h.Add(d.scsi);
  h.Add(d.nvme);
  h.Add(d.udev);
  h.Add(d.loop_backing_file);
  h.Add(d.dm_name);
  h.Add(d.dm_uuid);
  h.Add(d.md_level);
  h.Add(d.md_uuid);
  h.Add(d.partitions);
  h.Add(d.holders);
  h.Add(d.slaves);
  h.Add(d.disagreements);
  h.Add(d.errors);
  return h.value();
}

}  // namespace diskinv
