#include "store/disk_query.h"

#include <fmt/format.h>

#include "store/device_row.h"

namespace diskinv {
namespace {

// Every typed column of diskinv.disk, in table order, qualified with `d.`.
std::string DiskColumns(bool with_attrs) {
  std::vector<std::string> cols = {"d.id", "d.uid", "d.node_id"};
  for (const Column& c : TableColumns(RowTable::kDisk)) {
    if (std::string_view(c.name) != "attrs") cols.push_back(fmt::format("d.\"{}\"", c.name));
  }
  for (const char* c : {"state", "removed_at", "generation", "etag", "first_seen", "last_seen",
                        "cdc_inserted", "cdc_updated"}) {
    cols.push_back(fmt::format("d.{}", c));
  }
  if (with_attrs) cols.push_back("d.attrs");
  return fmt::format("{}", fmt::join(cols, ", "));
}

constexpr const char* kNodeMatch =
    "(n.hostname = $1 OR n.machine_id = $1 OR n.id::text = $1)";

}  // namespace

Result<PgResult> ListDisks(PgConnection& conn, const DiskFilter& f, bool with_attrs) {
  if (f.state != "present" && f.state != "removed" && f.state != "all") {
    return Status::Invalid(fmt::format("state must be present, removed or all, not '{}'", f.state));
  }
  PgParams transports, types;
  for (const auto& t : f.transports) transports.push_back(t);
  for (const auto& t : f.types) types.push_back(t);
  std::string sql = fmt::format(
      "SELECT n.hostname AS node, {} FROM diskinv.disk d JOIN diskinv.node n ON n.id = d.node_id "
      "WHERE ($1 = '' OR {}) AND (cardinality($2::text[]) = 0 OR d.transport = ANY($2::text[])) "
      "AND (cardinality($3::text[]) = 0 OR d.type = ANY($3::text[])) AND ($4 = 'all' OR d.state "
      "= $4) ORDER BY n.hostname, length(d.kname), d.kname, d.id",
      DiskColumns(with_attrs), kNodeMatch);
  return conn.Exec(sql, {f.node, PgArray(transports), PgArray(types), f.state});
}

Result<PgResult> FindDisks(PgConnection& conn, std::string_view key_in, std::string_view node_in) {
  std::string key(key_in), node(node_in);
  size_t colon = key.find(':');
  // "node:kname" (a uid also has colons, "wwn:..." or "serial:...": tried as a uid first).
  std::string kname_node = node, kname = key;
  if (node.empty() && colon != std::string::npos) {
    kname_node = key.substr(0, colon);
    kname = key.substr(colon + 1);
  }
  std::string hex = key;
  for (const char* p : {"0x", "naa.", "eui."}) {
    if (hex.starts_with(p)) hex = hex.substr(std::string_view(p).size());
  }
  std::string sql = fmt::format(
      "SELECT n.hostname AS node, n.machine_id AS node_machine_id, n.last_full_scan AS "
      "node_last_full_scan, {} FROM diskinv.disk d JOIN diskinv.node n ON n.id = d.node_id "
      "WHERE ($5 = '' OR (n.hostname = $5 OR n.machine_id = $5 OR n.id::text = $5)) AND (d.uid = "
      "$1 OR (d.kname = $2 AND ($3 = '' OR n.hostname = $3 OR n.machine_id = $3 OR n.id::text = "
      "$3)) OR d.serial = $1 OR lower(d.wwn) IN (lower($1), '0x' || lower($4)) OR lower(d.eui64) "
      "= lower($4) OR lower(d.nguid) = lower($4)) ORDER BY d.state = 'present' DESC, n.hostname, "
      "d.kname",
      DiskColumns(true));
  return conn.Exec(sql, {key, kname, kname_node, hex, node});
}

Result<PgResult> DiskPartitions(PgConnection& conn, std::string_view uid) {
  return conn.Exec(
      "SELECT kname, partn, uid, start_sector, size_bytes, part_name, part_type, part_uuid, "
      "fs_type, fs_uuid, state, removed_at, generation, first_seen, last_seen FROM "
      "diskinv.partition WHERE parent_uid = $1 ORDER BY partn, id",
      {std::string(uid)});
}

Result<PgResult> DiskStack(PgConnection& conn, std::string_view uid) {
  return conn.Exec(
      "SELECT h.parent_uid, coalesce(pd.kname, pp.kname) AS parent_kname, h.child_uid, "
      "c.kname AS child_kname, h.first_seen FROM diskinv.holder h "
      "LEFT JOIN diskinv.disk pd ON pd.uid = h.parent_uid "
      "LEFT JOIN diskinv.partition pp ON pp.uid = h.parent_uid "
      "LEFT JOIN diskinv.disk c ON c.uid = h.child_uid "
      "WHERE h.state = 'present' AND (h.child_uid = $1 OR h.parent_uid = $1 OR h.parent_uid IN "
      "(SELECT uid FROM diskinv.partition WHERE parent_uid = $1)) ORDER BY 2, 4",
      {std::string(uid)});
}

Result<PgResult> DiskConflicts(PgConnection& conn, std::string_view node_id,
                               std::string_view kname) {
  return conn.Exec(
      "SELECT kind, identifier, reason, devices, first_seen FROM diskinv.identity_conflict "
      "WHERE node_id = $1::bigint AND resolved_at IS NULL AND $2 = ANY(string_to_array(devices, "
      "',')) ORDER BY first_seen",
      {std::string(node_id), std::string(kname)});
}

}  // namespace diskinv
