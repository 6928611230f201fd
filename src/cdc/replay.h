// Replay: re-delivers rows of a table to a ChangeHandler as if they were changes, for events
// lost to a dropped or invalidated slot or to a bug (`diskinv cdc replay`).
//
// Rows are chosen by the trigger-maintained cdc_inserted / cdc_updated columns (migration 0001)
// and by id. A time window has a trap: those columns hold now(), the *start* time of the
// writing transaction, so a transaction that started before --since and committed after it
// would be missed. Replay therefore widens the window by `margin` (default 5 minutes, longer
// than any diskinv writer transaction) and, when the server runs with track_commit_timestamp
// = on, also selects rows whose current version committed at or after --since
// (pg_xact_commit_timestamp(xmin)), which is exact. Extra rows are harmless: handlers are
// idempotent. Rows come in id order, in batches, each batch one handler call (one transaction
// on `txn_conn` when given).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "cdc/cdc_consumer.h"
#include "common/status.h"
#include "store/pg_connection.h"

namespace diskinv {

struct ReplayRequest {
  std::string table;       // "disk", "partition", "node", "pool", "pool_policy", "tuning_profile"
  bool update = false;     // false: insert events (cdc_inserted), true: update (cdc_updated)
  std::optional<int64_t> id, from_id, to_id;
  std::optional<std::string> since;  // a timestamptz literal
  std::chrono::seconds margin{300};
  size_t batch_rows = 1000;
  bool dry_run = false;    // select and count, deliver nothing
};

struct ReplayResult {
  uint64_t rows = 0;
  uint64_t batches = 0;
  bool commit_timestamps = false;  // track_commit_timestamp was used
  int64_t first_id = 0, last_id = 0;
};

// The tables replay accepts (those with cdc_inserted/cdc_updated).
const std::vector<std::string>& ReplayableTables();

// `read` runs the selects; `txn` (may be the same connection, or nullptr) is where the handler
// writes, one transaction per batch.
Result<ReplayResult> Replay(PgConnection& read, const ReplayRequest& req, ChangeHandler& handler,
                            PgConnection* txn);

}  // namespace diskinv
