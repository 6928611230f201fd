#include "cdc/consumer_state.h"

#include <cerrno>

#include <fmt/format.h>

#include "common/logging.h"

namespace diskinv {

const char* AlarmKindName(AlarmKind k) {
  switch (k) {
    case AlarmKind::kSlotMissing: return "slot_missing";
    case AlarmKind::kSlotInvalidated: return "slot_invalidated";
    case AlarmKind::kDecodeError: return "decode_error";
  }
  return "?";
}

namespace consumer_state {

Status Ensure(PgConnection& c, const std::string& app, const std::string& slot,
              const std::string& publication) {
  return c.ExecPrepared("cdc_consumer_ensure",
                        "INSERT INTO diskinv.cdc_consumer (app, slot_name, publication) VALUES "
                        "($1, $2, $3) ON CONFLICT (app) DO UPDATE SET slot_name = "
                        "EXCLUDED.slot_name, publication = EXCLUDED.publication WHERE "
                        "(cdc_consumer.slot_name, cdc_consumer.publication) IS DISTINCT FROM "
                        "(EXCLUDED.slot_name, EXCLUDED.publication)",
                        {app, slot, publication})
      .status();
}

Result<ConsumerRecord> Load(PgConnection& c, const std::string& app) {
  auto r = c.ExecPrepared(
      "cdc_consumer_load",
      "SELECT app, slot_name, publication, confirmed_lsn::text, last_commit_time::text, "
      "transactions, changes, decode_errors, handler_errors, last_error, last_error_at::text, "
      "heartbeat_at::text FROM diskinv.cdc_consumer WHERE app = $1",
      {app});
  if (!r.ok()) return r.status();
  if (r->rows() == 0) {
    return Status(ENOENT, fmt::format("no CDC consumer '{}' is registered: run `diskinv cdc slots "
                                      "sync`", app));
  }
  ConsumerRecord rec;
  rec.app = r->Str(0, 0);
  rec.slot_name = r->Str(0, 1);
  rec.publication = r->Str(0, 2);
  auto lsn = ParseLsn(r->Str(0, 3));
  if (!lsn.ok()) return lsn.status();
  rec.confirmed_lsn = *lsn;
  auto opt = [&](int col) -> std::optional<std::string> {
    auto v = r->Get(0, col);
    return v ? std::optional<std::string>(std::string(*v)) : std::nullopt;
  };
  rec.last_commit_time = opt(4);
  rec.transactions = static_cast<uint64_t>(r->Int(0, 5));
  rec.changes = static_cast<uint64_t>(r->Int(0, 6));
  rec.decode_errors = static_cast<uint64_t>(r->Int(0, 7));
  rec.handler_errors = static_cast<uint64_t>(r->Int(0, 8));
  rec.last_error = opt(9);
  rec.last_error_at = opt(10);
  rec.heartbeat_at = opt(11);
  return rec;
}

Status SavePosition(PgConnection& c, const std::string& app, Lsn end_lsn, int64_t commit_time,
                    uint64_t transactions, uint64_t changes) {
  auto r = c.ExecPrepared(
      "cdc_consumer_save",
      "UPDATE diskinv.cdc_consumer SET confirmed_lsn = $2::pg_lsn, last_commit_time = "
      "'2000-01-01 00:00:00+00'::timestamptz + make_interval(secs => $3::bigint / 1000000.0), "
      "transactions = transactions + $4, changes = changes + $5, heartbeat_at = now() "
      "WHERE app = $1 AND confirmed_lsn < $2::pg_lsn",
      {app, FormatLsn(end_lsn), std::to_string(commit_time), std::to_string(transactions),
       std::to_string(changes)});
  return r.status();
}

Status ResetPosition(PgConnection& c, const std::string& app, Lsn lsn) {
  return c.ExecPrepared("cdc_consumer_reset",
                        "UPDATE diskinv.cdc_consumer SET confirmed_lsn = $2::pg_lsn WHERE app = $1",
                        {app, FormatLsn(lsn)})
      .status();
}

Status RecordError(PgConnection& c, const std::string& app, const std::string& kind,
                   const std::string& message) {
  std::string col = kind == "decode" ? "decode_errors" : "handler_errors";
  return c.Exec(fmt::format("UPDATE diskinv.cdc_consumer SET {0} = {0} + 1, last_error = $2, "
                            "last_error_at = now() WHERE app = $1",
                            col),
                {app, message.substr(0, 2000)})
      .status();
}

Status Heartbeat(PgConnection& c, const std::string& app) {
  return c.ExecPrepared("cdc_consumer_heartbeat",
                        "UPDATE diskinv.cdc_consumer SET heartbeat_at = now() WHERE app = $1",
                        {app})
      .status();
}

Status RaiseAlarm(PgConnection& c, const std::string& app, AlarmKind kind,
                  const std::string& message, const std::optional<std::string>& gap_since) {
  Logger("cdc")->error("ALARM {} for consumer {}: {}", AlarmKindName(kind), app, message);
  return c.Exec("INSERT INTO diskinv.cdc_alarm (app, kind, message, gap_since) VALUES ($1, $2, $3, "
                "$4::timestamptz) ON CONFLICT (app, kind) WHERE cleared_at IS NULL DO UPDATE SET "
                "message = EXCLUDED.message, last_raised_at = now(), raise_count = "
                "cdc_alarm.raise_count + 1",
                {app, AlarmKindName(kind), message, gap_since})
      .status();
}

Result<int> ClearAlarms(PgConnection& c, const std::string& app,
                        const std::optional<std::string>& since, const std::string& by) {
  auto r = c.Exec("UPDATE diskinv.cdc_alarm SET cleared_at = now(), cleared_by = $3 WHERE app = $1 "
                  "AND cleared_at IS NULL AND ($2::timestamptz IS NULL OR gap_since >= "
                  "$2::timestamptz)",
                  {app, since, by});
  if (!r.ok()) return r.status();
  return static_cast<int>(r->affected());
}

Result<std::vector<AlarmRecord>> OpenAlarms(PgConnection& c, const std::string& app) {
  auto r = c.Exec("SELECT id, app, kind, message, raised_at::text, gap_since::text FROM "
                  "diskinv.cdc_alarm WHERE cleared_at IS NULL AND ($1 = '' OR app = $1) ORDER BY "
                  "id",
                  {app});
  if (!r.ok()) return r.status();
  std::vector<AlarmRecord> out;
  for (int i = 0; i < r->rows(); ++i) {
    AlarmRecord a;
    a.id = r->Int(i, 0);
    a.app = r->Str(i, 1);
    a.kind = r->Str(i, 2);
    a.message = r->Str(i, 3);
    a.raised_at = r->Str(i, 4);
    if (auto v = r->Get(i, 5)) a.gap_since = std::string(*v);
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace consumer_state
}  // namespace diskinv
