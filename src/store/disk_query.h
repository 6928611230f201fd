// Read-only queries behind `diskinv ls`, `diskinv show` and the table `diskinv up` prints.
// Results are PgResults with named columns so that the CLI renders any of them as a table or
// as JSON by column type.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "store/pg_connection.h"

namespace diskinv {

struct DiskFilter {
  std::string node;                     // hostname, machine-id or node id; empty: every node
  std::vector<std::string> transports;  // e.g. {"nvme", "sas"}; empty: any
  std::vector<std::string> types;       // lsblk TYPE: disk, loop, dm, ...; empty: any
  std::string state = "present";        // present, removed or all
};

// The disks matching `filter`, ordered by node and kname: `node` (hostname) and every column of
// diskinv.disk except attrs (unless `with_attrs`).
Result<PgResult> ListDisks(PgConnection& conn, const DiskFilter& filter, bool with_attrs);

// The disks `key` names, present ones first: a uid; a kname (on `node` if given, or written
// "node:kname"); a serial; a WWN with or without "0x"/"naa."; an EUI-64 or NGUID. Columns as
// ListDisks (with attrs) plus node_machine_id and node_last_full_scan.
Result<PgResult> FindDisks(PgConnection& conn, std::string_view key, std::string_view node);

// The partitions on the disk `uid` (every state), by partition number.
Result<PgResult> DiskPartitions(PgConnection& conn, std::string_view uid);
// Stacking edges (present) with `uid` as parent or child: parent_uid, parent_kname, child_uid,
// child_kname, first_seen.
Result<PgResult> DiskStack(PgConnection& conn, std::string_view uid);
// Open identity conflicts on node `node_id` that list `kname`.
Result<PgResult> DiskConflicts(PgConnection& conn, std::string_view node_id, std::string_view kname);

}  // namespace diskinv
