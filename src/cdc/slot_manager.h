// Publications and replication slots of the CDC applications: create (sync), inspect (list,
// status) and drop. Safe at install time and when run twice or concurrently: every step checks
// what exists, "already exists" from a concurrent run counts as success, and the publication
// is always created (or corrected) before the slot, because a slot decoding a publication that
// does not exist yet fails in the change callback (reference/pgoutput.md, behaviour 5).
//
// A slot found invalidated (wal_status 'lost') or missing although the consumer had already
// consumed from it means changes were lost: sync recreates it and raises an alarm with the
// commit time from which to `cdc replay`. A fresh install raises nothing.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cdc/cdc_app.h"
#include "cdc/consumer_state.h"
#include "cdc/lsn.h"
#include "common/status.h"
#include "store/pg_connection.h"

namespace diskinv {

struct SlotInfo {
  bool exists = false;
  std::string name, plugin, database, wal_status;  // wal_status: reserved/extended/unreserved/lost
  bool active = false, temporary = false;
  std::optional<int64_t> active_pid;
  Lsn restart_lsn = 0, confirmed_flush_lsn = 0;
  std::optional<int64_t> safe_wal_size;  // bytes before invalidation (NULL: no limit)
  uint64_t retained_bytes = 0;           // current WAL - restart_lsn
};

struct AppStatus {
  CdcApp app;
  bool publication_exists = false;
  std::vector<std::string> published_tables;
  SlotInfo slot;
  std::optional<ConsumerRecord> consumer;
  Lsn current_wal_lsn = 0;
  uint64_t lag_bytes = 0;  // current WAL - max(consumer position, slot confirmed)
  std::vector<AlarmRecord> alarms;
};

struct SlotReport {
  std::vector<std::string> actions;   // what was done
  std::vector<std::string> warnings;  // what an operator must know (alarms raised)
};

// Checks wal_level and the schema; then, per application, publication then slot.
Result<SlotReport> SyncSlots(const std::string& url, const std::vector<CdcApp>& apps);
// Drops each application's slot (EBUSY while a consumer streams from it), its publication and
// its consumer bookkeeping (a later sync is a fresh install).
Result<SlotReport> DropSlots(const std::string& url, const std::vector<CdcApp>& apps);
Result<std::vector<AppStatus>> GetAppStatus(PgConnection& c, const std::vector<CdcApp>& apps);

// How far an application's consumer trails the server, in one round trip (for metrics).
struct CdcLag {
  uint64_t bytes = 0;      // current WAL - max(slot confirmed, consumer position), as AppStatus
  bool streaming = false;  // a walsender serves the slot
  // The walsender's flush_lag (pg_stat_replication): time from WAL written on the server to
  // its acknowledgement; 0 once the consumer caught up and the server is idle (NULL there).
  double flush_lag_seconds = 0;
};
// ENOENT when the slot does not exist.
Result<CdcLag> GetCdcLag(PgConnection& c, const CdcApp& app);
Result<SlotInfo> GetSlotInfo(PgConnection& c, const std::string& slot);

}  // namespace diskinv
