// InventoryStore: keeps the diskinv.* tables equal to what a node observes, writing only what
// changed.
//
// ApplyInventory diffs a full walk against the stored rows of the node (and the rows of disks
// that moved in from another node, found by uid):
//   - an unchanged device (same etag, present, same node) is not written: counted as skipped;
//   - a changed device is one UPDATE (one transaction) guarded by its etag: UPDATE ... WHERE
//     etag = <the etag read>; when another writer won the race the row is re-read and the
//     write retried (StoreOptions::max_retries), or skipped if it now holds the same content;
//   - a new device is INSERTed; many new devices at once (the initial load of a node) go in
//     multi-row batches of StoreOptions::batch_rows, one transaction per batch;
//   - a device that is gone becomes a tombstone (state 'removed', removed_at) and is revived,
//     same row and uid, when it comes back;
//   - stacking edges (holder) and identity conflicts of the node are synced the same way.
// generation, cdc_inserted and cdc_updated are maintained by triggers (docs/schema.md).
//
// Errors are Status values with the libpq message and SQLSTATE; a broken connection is
// re-established on the next call (the caller owns the backoff). Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "model/inventory.h"
#include "store/pg_connection.h"

namespace diskinv {

struct NodeInfo {
  std::string machine_id;  // the node's key; /etc/machine-id
  std::string hostname;
  std::string boot_id;
  std::string agent_version;
};

struct NodeRef {
  int64_t id = 0;
  std::string machine_id;  // also the scope of node-local uids (by-path, loop, name)
};

// What one call wrote. writes() == 0 means nothing was sent but reads.
struct WriteStats {
  uint64_t inserted = 0, updated = 0, revived = 0, tombstoned = 0;
  uint64_t skipped = 0;  // devices whose stored row was already equal: no write
  uint64_t retries = 0;  // etag races lost and retried
  uint64_t edges_added = 0, edges_removed = 0;
  uint64_t conflicts_opened = 0, conflicts_resolved = 0;
  uint64_t transactions = 0;
  uint64_t writes() const {
    return inserted + updated + revived + tombstoned + edges_added + edges_removed +
           conflicts_opened + conflicts_resolved;
  }
  WriteStats& operator+=(const WriteStats& o);
};

struct StoreOptions {
  size_t batch_rows = 1000;     // rows per multi-row INSERT (one transaction each)
  size_t batch_threshold = 16;  // fewer new rows than this: one INSERT transaction per row
  int max_retries = 5;          // etag races per row before giving up with an error
  // Test hook: called after a row was read and before its guarded UPDATE is sent.
  std::function<void(std::string_view uid)> before_update;
};

class InventoryStore {
 public:
  // Connects and checks that the schema is at LatestSchemaVersion() (else: "run diskinv db
  // migrate"). `url` as for PgConnection::Connect.
  static Result<std::unique_ptr<InventoryStore>> Connect(const std::string& url,
                                                         StoreOptions options = {});

  // Creates or updates the node row by machine_id; a change of hostname/boot/version is one
  // write, the same values none.
  Result<NodeRef> RegisterNode(const NodeInfo& info);
  // Records a finished full scan: last_full_scan, and adds to missed_events/resyncs.
  Status RecordFullScan(const NodeRef& node, uint64_t missed_events = 0, bool resync = false);

  // Makes the node's rows equal to `inv` (see the file comment).
  Result<WriteStats> ApplyInventory(const NodeRef& node, const Inventory& inv);
  // Event path: writes the row of one device (a disk and its partitions, or one partition) of
  // `inv` if it changed; `inv` is the node's current inventory, needed for identities.
  Result<WriteStats> UpsertDevice(const NodeRef& node, const Inventory& inv,
                                  std::string_view kname);
  // Event path: tombstones the device with `uid` (disk or partition) if it is present on `node`.
  Result<WriteStats> Tombstone(const NodeRef& node, std::string_view uid);

  PgConnection& connection() { return *conn_; }

 private:
  InventoryStore(std::unique_ptr<PgConnection> c, StoreOptions o)
      : conn_(std::move(c)), opt_(std::move(o)) {}
  struct Impl;
  std::unique_ptr<PgConnection> conn_;
  StoreOptions opt_;
};

}  // namespace diskinv
