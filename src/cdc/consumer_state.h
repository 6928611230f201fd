// ConsumerState: the bookkeeping of a CDC consumer application in the database (tables
// diskinv.cdc_consumer and diskinv.cdc_alarm, migration 0002).
//
// The consumer's own confirmed position lives here, not only in the slot: on PostgreSQL <= 16
// a clean server restart can move a slot's confirmed_flush_lsn backwards and redeliver
// acknowledged transactions (shared/reference/pgoutput.md, behaviour 2). SavePosition is
// called inside the handler's transaction, so an effect and the position that covers it
// commit together; START_REPLICATION then resumes from it. Alarms record what an operator must
// act on (a dropped or invalidated slot, an undecodable stream), with the point from which
// events may be lost, until `cdc replay` repairs the gap.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cdc/lsn.h"
#include "common/status.h"
#include "store/pg_connection.h"

namespace diskinv {

struct ConsumerRecord {
  std::string app, slot_name, publication;
  Lsn confirmed_lsn = 0;
  std::optional<std::string> last_commit_time;  // ISO text from the server
  uint64_t transactions = 0, changes = 0, decode_errors = 0, handler_errors = 0;
  std::optional<std::string> last_error, last_error_at, heartbeat_at;
};

struct AlarmRecord {
  int64_t id = 0;
  std::string app, kind, message, raised_at;
  std::optional<std::string> gap_since;  // replay from this commit time
};

enum class AlarmKind { kSlotMissing, kSlotInvalidated, kDecodeError };
const char* AlarmKindName(AlarmKind k);  // "slot_missing", ...

namespace consumer_state {

// Creates the consumer's row when missing (position 0/0); updates slot and publication names.
Status Ensure(PgConnection& c, const std::string& app, const std::string& slot,
              const std::string& publication);
// The row; ENOENT when the application never ran `cdc slots sync` or a consumer.
Result<ConsumerRecord> Load(PgConnection& c, const std::string& app);
// Moves the position forward to `end_lsn` (never backwards), with the commit time of that
// transaction (µs since 2000-01-01) and counters. Call inside the handler's transaction.
Status SavePosition(PgConnection& c, const std::string& app, Lsn end_lsn, int64_t commit_time,
                    uint64_t transactions, uint64_t changes);
// Sets the position to exactly `lsn` (after a slot was recreated).
Status ResetPosition(PgConnection& c, const std::string& app, Lsn lsn);
// Counts an error ("decode" or "handler") and keeps its text.
Status RecordError(PgConnection& c, const std::string& app, const std::string& kind,
                   const std::string& message);
Status Heartbeat(PgConnection& c, const std::string& app);
// Opens an alarm (one open alarm per app and kind; a second raise updates the message).
// `gap_since`: commit time after which events may be missing (NULL: unknown).
Status RaiseAlarm(PgConnection& c, const std::string& app, AlarmKind kind,
                  const std::string& message, const std::optional<std::string>& gap_since);
// Clears open alarms of `app` whose gap starts at or after `since` (all when nullopt);
// returns how many were cleared.
Result<int> ClearAlarms(PgConnection& c, const std::string& app,
                        const std::optional<std::string>& since, const std::string& by);
Result<std::vector<AlarmRecord>> OpenAlarms(PgConnection& c, const std::string& app = "");

}  // namespace consumer_state
}  // namespace diskinv
