#include "store/device_row.h"

#include <fmt/format.h>

#include <cassert>
#include <cstdint>
#include <iterator>
#include <limits>

#include "common/json_writer.h"
#include "store/migrations.h"

namespace diskinv {
namespace {

const std::vector<Column> kDiskColumns = {{"kname", "text"},
                                          {"name", "text"},
                                          {"type", "text"},
                                          {"major", "integer"},
                                          {"minor", "integer"},
                                          {"diskseq", "bigint"},
                                          {"transport", "text"},
                                          {"vendor", "text"},
                                          {"model", "text"},
                                          {"serial", "text"},
                                          {"firmware", "text"},
                                          {"wwn", "text"},
                                          {"eui64", "text"},
                                          {"nguid", "text"},
                                          {"hctl", "text"},
                                          {"size_bytes", "bigint"},
                                          {"ro", "boolean"},
                                          {"removable", "boolean"},
                                          {"rotational", "boolean"},
                                          {"logical_block_size", "bigint"},
                                          {"physical_block_size", "bigint"},
                                          {"minimum_io_size", "bigint"},
                                          {"optimal_io_size", "bigint"},
                                          {"discard_granularity", "bigint"},
                                          {"discard_max_bytes", "bigint"},
                                          {"discard_max_hw_bytes", "bigint"},
                                          {"write_zeroes_max_bytes", "bigint"},
                                          {"zoned", "text"},
                                          {"scheduler", "text"},
                                          {"nr_requests", "bigint"},
                                          {"max_sectors_kb", "bigint"},
                                          {"identity_source", "text"},
                                          {"identity_conflict", "text"},
                                          {"attrs", "jsonb"}};

const std::vector<Column> kPartitionColumns = {
    {"parent_uid", "text"},   {"kname", "text"},           {"partn", "integer"},
    {"major", "integer"},     {"minor", "integer"},        {"start_sector", "bigint"},
    {"size_bytes", "bigint"}, {"ro", "boolean"},           {"part_uuid", "text"},
    {"part_name", "text"},    {"part_type", "text"},       {"fs_type", "text"},
    {"fs_uuid", "text"},      {"identity_source", "text"}, {"identity_conflict", "text"},
    {"attrs", "jsonb"}};

using Value = std::optional<std::string>;

Value Text(const std::optional<std::string>& s) { return s; }
Value Text(const std::string& s) { return s.empty() ? Value() : Value(s); }
Value Num(std::optional<uint64_t> v) {
  if (!v || *v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return {};
  return std::to_string(*v);
}
Value Num(uint64_t v) { return Num(std::optional<uint64_t>(v)); }
Value Bool(std::optional<bool> b) { return b ? Value(*b ? "t" : "f") : Value(); }
Value Udev(const BlockDevice& d, const char* key) {
  std::optional<std::string_view> v = d.udev.Get(key);
  return v ? Value(*v) : Value();
}

// Writes key: value for set optionals only, so absent facts stay absent.
struct Attrs {
  JsonWriter w;
  Attrs() { w.BeginObject(); }
  void S(const char* k, const std::optional<std::string>& v) {
    if (v) w.Key(k).String(*v);
  }
  void U(const char* k, std::optional<uint64_t> v) {
    if (v) w.Key(k).Uint(*v);
  }
  void I(const char* k, std::optional<int64_t> v) {
    if (v) w.Key(k).Int(*v);
  }
  void B(const char* k, std::optional<bool> v) {
    if (v) w.Key(k).Bool(*v);
  }
  void List(const char* k, const std::vector<std::string>& v) {
    if (v.empty()) return;
    w.Key(k).BeginArray();
    for (const auto& s : v) w.String(s);
    w.EndArray();
  }
};

// The udev properties copied into attrs, and those of the partition columns (MakeDeviceRow
// below); StoredUdevProperties() lists both, and a test checks that it misses none.
constexpr const char* kAttrUdevKeys[] = {
    "ID_PATH", "ID_BUS",   "ID_SERIAL",  "ID_WWN_WITH_EXTENSION", "DM_NAME", "DM_UUID",
    "MD_UUID", "MD_LEVEL", "ID_FS_LABEL"};
constexpr const char* kPartitionUdevKeys[] = {"ID_PART_ENTRY_UUID", "ID_PART_ENTRY_NAME",
                                              "ID_PART_ENTRY_TYPE", "ID_FS_TYPE", "ID_FS_UUID"};

void CommonAttrs(Attrs& a, const BlockDevice& d, const DiskIdentity& id) {
  a.S("path", d.path.empty() ? std::nullopt : std::optional(d.path));
  a.S("devpath", d.devpath.empty() ? std::nullopt : std::optional(d.devpath));
  a.I("alignment_offset", d.alignment_offset);
  a.I("discard_alignment", d.discard_alignment);
  a.List("holders", d.holders);
  a.List("slaves", d.slaves);
  for (const char* key : kAttrUdevKeys) {
    if (auto v = d.udev.Get(key)) a.w.Key(key).String(*v);
  }
  if (!id.rejected.empty()) {
    a.w.Key("identity_rejected").BeginArray();
    for (const auto& r : id.rejected) {
      a.w.BeginObject().Key("kind").String(r.kind).Key("value").String(r.value);
      a.w.Key("reason").String(r.reason).EndObject();
    }
    a.w.EndArray();
  }
  if (!d.errors.empty()) {  // which fields were unreadable; the messages are too volatile
    a.w.Key("unreadable").BeginArray();
    for (const auto& e : d.errors) a.w.String(e.field);
    a.w.EndArray();
  }
}

std::string DiskAttrs(const BlockDevice& d, const DiskIdentity& id) {
  Attrs a;
  CommonAttrs(a, d, id);
  const QueueLimits& q = *d.queue;
  a.S("rev", d.rev);
  a.S("wwid", d.wwid);
  a.S("state", d.state);
  a.U("ext_range", d.ext_range);
  a.B("discard_zeroes_data", q.discard_zeroes_data);
  a.U("write_same_max_bytes", q.write_same_max_bytes);
  a.U("max_hw_sectors_kb", q.max_hw_sectors_kb);
  a.U("read_ahead_kb", q.read_ahead_kb);
  a.U("nr_zones", q.nr_zones);
  a.U("chunk_sectors", q.chunk_sectors);
  a.U("max_open_zones", q.max_open_zones);
  a.U("max_active_zones", q.max_active_zones);
  a.U("rq_affinity", q.rq_affinity);
  a.B("add_random", q.add_random);
  a.B("dax", q.dax);
  a.List("schedulers", q.schedulers);
  if (d.scsi) {
    a.w.Key("scsi").BeginObject();
    a.S("vendor", d.scsi->vendor);
    a.S("model", d.scsi->model);
    a.S("rev", d.scsi->rev);
    a.S("wwid", d.scsi->wwid);
    a.S("state", d.scsi->state);
    a.S("sas_address", d.scsi->sas_address);
    a.S("proc_name", d.scsi->proc_name);
    a.I("device_type", d.scsi->device_type);
    a.w.EndObject();
  }
  if (d.nvme) {
    const NvmeIdentity& n = *d.nvme;
    a.w.Key("nvme").BeginObject();
    a.S("uuid", n.uuid);
    a.S("wwid", n.wwid);
    a.U("nsid", n.nsid);
    a.S("controller", n.controller.empty() ? std::nullopt : std::optional(n.controller));
    a.S("subsystem", n.subsystem.empty() ? std::nullopt : std::optional(n.subsystem));
    a.S("serial", n.serial);
    a.S("model", n.model);
    a.S("firmware_rev", n.firmware_rev);
    a.S("transport", n.transport);
    a.S("subsysnqn", n.subsysnqn);
    a.S("address", n.address);
    a.S("state", n.state);
    a.U("cntlid", n.cntlid);
    a.List("paths", n.paths);
    a.w.EndObject();
  }
  a.S("loop_backing_file", d.loop_backing_file);
  a.S("dm_name", d.dm_name);
  a.S("dm_uuid", d.dm_uuid);
  a.S("md_level", d.md_level);
  a.S("md_uuid", d.md_uuid);
  a.List("partitions", d.partitions);
  a.w.EndObject();
  return a.w.Take();
}

}  // namespace

const std::vector<Column>& TableColumns(RowTable table) {
  return table == RowTable::kDisk ? kDiskColumns : kPartitionColumns;
}

const char* TableName(RowTable table) {
  return table == RowTable::kDisk ? "diskinv.disk" : "diskinv.partition";
}

DeviceRow MakeDeviceRow(const BlockDevice& d, const DiskIdentity& id) {
  DeviceRow row;
  row.uid = id.uid;
  row.kname = d.kname;
  std::string source(IdentitySourceName(id.source));
  if (id.source == IdentitySource::kPartition) {
    row.table = RowTable::kPartition;
    Attrs a;
    CommonAttrs(a, d, id);
    a.w.EndObject();
    row.values = {id.identifier,
                  d.kname,
                  Num(d.partn),
                  Num(uint64_t{d.devnum.major}),
                  Num(uint64_t{d.devnum.minor}),
                  Num(d.start),
                  Num(d.size_bytes),
                  Bool(d.ro),
                  Udev(d, "ID_PART_ENTRY_UUID"),
                  Udev(d, "ID_PART_ENTRY_NAME"),
                  Udev(d, "ID_PART_ENTRY_TYPE"),
                  Udev(d, "ID_FS_TYPE"),
                  Udev(d, "ID_FS_UUID"),
                  source,
                  Text(id.conflict),
                  a.w.Take()};
  } else {
    const QueueLimits& q = *d.queue;
    Value eui = d.nvme ? Text(d.nvme->eui64) : Value();
    Value nguid = d.nvme ? Text(d.nvme->nguid) : Value();
    Value serial = d.serial ? Text(d.serial) : (d.nvme ? Text(d.nvme->serial) : Value());
    row.values = {d.kname,
                  Text(d.name),
                  Text(d.type),
                  Num(uint64_t{d.devnum.major}),
                  Num(uint64_t{d.devnum.minor}),
                  Num(d.diskseq),
                  Text(d.tran),
                  Text(d.vendor),
                  Text(d.model),
                  serial,
                  d.firmware_rev ? Text(d.firmware_rev) : Text(d.rev),
                  Text(d.wwn),
                  eui,
                  nguid,
                  Text(d.hctl),
                  Num(d.size_bytes),
                  Bool(d.ro),
                  Bool(d.removable),
                  Bool(q.rotational),
                  Num(q.logical_block_size),
                  Num(q.physical_block_size),
                  Num(q.minimum_io_size),
                  Num(q.optimal_io_size),
                  Num(q.discard_granularity),
                  Num(q.discard_max_bytes),
                  Num(q.discard_max_hw_bytes),
                  Num(q.write_zeroes_max_bytes),
                  Text(q.zoned),
                  Text(q.scheduler),
                  Num(q.nr_requests),
                  Num(q.max_sectors_kb),
                  source,
                  Text(id.conflict),
                  DiskAttrs(d, id)};
  }
  assert(row.values.size() == TableColumns(row.table).size());
  std::string content;
  for (const Value& v : row.values) {
    content += v ? *v : std::string("\x01NULL");
    content += '\x1f';
  }
  row.etag = Fnv1aHex(content);
  return row;
}

std::string StoredEtag(const DeviceRow& row, int64_t node_id) {
  return StoredEtag(row.etag, node_id);
}

std::string StoredEtag(std::string_view row_etag, int64_t node_id) {
  return Fnv1aHex(fmt::format("{}@{}", row_etag, node_id));
}

const std::vector<std::string>& StoredUdevProperties() {
  static const std::vector<std::string> kKeys = [] {
    std::vector<std::string> v(std::begin(kAttrUdevKeys), std::end(kAttrUdevKeys));
    v.insert(v.end(), std::begin(kPartitionUdevKeys), std::end(kPartitionUdevKeys));
    // ID_PATH is also the identity's by-path fallback (DeriveIdentity), already listed.
    return v;
  }();
  return kKeys;
}

}  // namespace diskinv
