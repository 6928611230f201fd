// InventoryStore: keeps the diskinv.* rows of one node equal to what the node observes,
// writing only what changed, one transaction per observed change.
//
// The devices come from a DeviceSource: an Inventory, or the agent's source that probes sysfs
// again for each device asked for (agent/live_source.h).
// Sync(node, src) without a `touched` list (a full walk) reads the node's rows (and, by uid, the
// rows of disks that moved in from another node), diffs them against `src` and writes the
// difference. It identifies the devices in one pass over `src` (NodeIndex::Rebuild: ForEach),
// or takes `walked`, an index its caller built during a walk of exactly these devices; then it
// asks `src` (Find) only for the devices whose row differs from the stored one, so that a full
// sync of an unchanged node reads every device once, in that pass or the caller's walk.
// Sync(node, src, &touched) (the knames one event added, changed or removed) diffs only those
// devices, plus every device whose uid changed (a duplicate appeared or went away), against the
// store's picture of what it wrote last (the mirror), so an event costs no read.
// The mirror is dropped on any error and on reconnect; the next Sync then reads again.
//   - an unchanged device (same etag, present, same node) is not written: counted as skipped;
//   - a changed device is a guarded UPDATE ... WHERE id = <id> AND etag = <etag read>; when
//     another writer won the race the row is re-read and the write retried (max_retries), or
//     skipped if it now holds the same content;
//   - a new device is INSERTed; a uid that exists on another node is moved (node_id), keeping
//     its id, uid and first_seen;
//   - a device that is gone becomes a tombstone (state 'removed', removed_at) and is revived,
//     same row, when it comes back;
//   - stacking edges (holder) and identity conflicts of the node are synced the same way.
// All writes of one call are one transaction, except that a call with more than batch_rows row
// writes (the initial load of a node) commits every batch_rows rows. Rows go in multi-row
// prepared statements (INSERT ... SELECT FROM unnest($n::text[]), UPDATE ... FROM unnest).
// generation, cdc_inserted and cdc_updated are maintained by triggers (docs/schema.md).
//
// Errors are Status values with the libpq message and SQLSTATE (ENOTCONN: the server is
// unreachable); a broken connection is re-established on the next call, the caller owns the
// backoff. Not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model/device_source.h"
#include "store/node_index.h"
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

// What one call did. writes() == 0 means nothing was sent but reads.
struct WriteStats {
  uint64_t inserted = 0, updated = 0, revived = 0, moved = 0, tombstoned = 0;
  uint64_t skipped = 0;  // devices whose stored row was already equal: no write
  uint64_t retries = 0;  // etag races lost and retried
  uint64_t edges_added = 0, edges_removed = 0;
  uint64_t conflicts_opened = 0, conflicts_resolved = 0;
  uint64_t transactions = 0;  // committed
  uint64_t unidentified = 0;  // devices without any usable identifier (not stored)
  // Rows present on another node that row-level security keeps this node from reading or
  // writing (a disk that moved in before its old node tombstoned it): left alone, not stored.
  uint64_t held_elsewhere = 0;
  bool full = false;  // the node's rows were read and diffed in full
  uint64_t writes() const {
    return inserted + updated + revived + tombstoned + edges_added + edges_removed +
           conflicts_opened + conflicts_resolved;
  }
  WriteStats& operator+=(const WriteStats& o);
  // "2 inserted, 1 tombstoned, 40 unchanged; 1 transactions" ("no writes" when none).
  std::string Summary() const;
};

struct StoreOptions {
  size_t batch_rows = 1000;  // row writes per transaction for large changes (initial load)
  int max_retries = 5;       // etag races per row before giving up with an error
  std::chrono::milliseconds statement_timeout{20000};  // 0: server default
  // Called after every COMMIT with its duration (BEGIN to COMMIT acknowledged) and row writes.
  std::function<void(std::chrono::nanoseconds elapsed, uint64_t writes)> on_commit;
  // Called between the transactions of one large Sync; returning false stops it there (SIGTERM:
  // what is committed stays, the rest is written by the next Sync).
  std::function<bool()> between_transactions;
  // Test hook: called with each uid right before its guarded UPDATE is sent.
  std::function<void(std::string_view uid)> before_update;
  // Test hook: the mirror's key of a uid (default FNV-1a 64); tests make it collide.
  std::function<uint64_t(std::string_view uid)> uid_hash;
};

// A finished full walk, for diskinv.node.
struct FullScanRecord {
  std::chrono::system_clock::time_point at;
  uint64_t missed_events = 0;  // events known lost since the last record
  uint64_t resyncs = 0;        // resync walks since the last record
};

class InventoryStore {
 public:
  // Connects and checks that the schema is at LatestSchemaVersion() (else: "run diskinv db
  // migrate"). `url` as for PgConnection::Connect.
  static Result<std::unique_ptr<InventoryStore>> Connect(const std::string& url,
                                                         StoreOptions options = {});
  ~InventoryStore();

  // Creates or updates the node row by machine_id; a change of hostname/boot/version is one
  // write, the same values none.
  Result<NodeRef> RegisterNode(const NodeInfo& info);
  // last_full_scan = scan.at; adds the counts to missed_events and resyncs.
  Status RecordFullScan(const NodeRef& node, const FullScanRecord& scan);

  // Makes the node's rows equal to `src` (see the file comment). `touched`: knames an event
  // added, changed or removed; nullptr: a full diff. `walked` (full diff only; moved from):
  // NodeIndex(node.machine_id) with Add() for every device of `src` and Finish(src) done.
  Result<WriteStats> Sync(const NodeRef& node, const DeviceSource& src,
                          const std::vector<std::string>* touched = nullptr,
                          NodeIndex* walked = nullptr);

  // Whether the next Sync with `touched` can diff against the mirror (no read).
  bool has_mirror() const;
  // Frees the mirror (a full Sync does not need it); the next Sync is a full one.
  void DropMirror();
  PgConnection& connection() { return *conn_; }
  StoreOptions& options() { return opt_; }

 private:
  struct Mirror;
  struct Writer;
  InventoryStore(std::unique_ptr<PgConnection> c, StoreOptions o);
  Status Prepare();  // (re)connects and sets the session parameters

  std::unique_ptr<PgConnection> conn_;
  StoreOptions opt_;
  std::unique_ptr<Mirror> mirror_;
  bool session_ready_ = false;
};

}  // namespace diskinv
