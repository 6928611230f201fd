// DeviceRow: the database row of one device as the agent writes it, built without I/O.
//
// `values` are the agent-written columns of the device's table in TableColumns() order, in
// PostgreSQL text format (NULL for what the kernel did not say); `etag` is a hash of them (the
// stored etag adds the node: StoredEtag), so
// an unchanged device has an unchanged etag and the diff against the stored row needs no
// column-by-column comparison. Values above INT64_MAX do not fit bigint and are NULL (the
// original stays in attrs). Volatile data (udev timestamps, field error messages) is left out:
// it would make a rescan of an unchanged device write.
#pragma once

#include <string>
#include <vector>

#include "model/block_device.h"
#include "model/disk_identity.h"
#include "store/pg_connection.h"

namespace diskinv {

enum class RowTable { kDisk, kPartition };

struct Column {
  const char* name;
  const char* type;  // PostgreSQL type for casts: text, integer, bigint, boolean, jsonb
};

const std::vector<Column>& TableColumns(RowTable table);
const char* TableName(RowTable table);  // "diskinv.disk", "diskinv.partition"

struct DeviceRow {
  RowTable table = RowTable::kDisk;
  std::string uid;
  std::string kname;
  PgParams values;
  std::string etag;
};

// `id` must be ok(); for a partition, id.identifier is its parent's uid (IdentifyInventory).
DeviceRow MakeDeviceRow(const BlockDevice& dev, const DiskIdentity& id);

// The udev properties that MakeDeviceRow and the identity (IdentifyInventory) read. The agent's
// walker keeps only these (WalkOptions::udev_properties): a row built from a device with just
// these properties is the row built from the whole record (tests/unit/node_rows_test.cc).
const std::vector<std::string>& StoredUdevProperties();

// The etag the row carries in the database when node `node_id` wrote it: the content hash and
// the node, so that a disk that moved in with unchanged content is still a change of etag (the
// trigger would otherwise give it a random etag, and every later diff would see it as stale).
std::string StoredEtag(const DeviceRow& row, int64_t node_id);
std::string StoredEtag(std::string_view row_etag, int64_t node_id);  // row_etag: DeviceRow::etag

}  // namespace diskinv
