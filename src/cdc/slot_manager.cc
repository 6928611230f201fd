#include "cdc/slot_manager.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <set>

#include "cdc/replication_connection.h"
#include "common/logging.h"

namespace diskinv {
namespace {

std::string TableList(const std::vector<std::string>& tables) {
  std::vector<std::string> q;
  for (const auto& t : tables) {
    size_t dot = t.find('.');
    q.push_back(QuoteIdent(t.substr(0, dot)) + "." + QuoteIdent(t.substr(dot + 1)));
  }
  return fmt::format("{}", fmt::join(q, ", "));
}

Result<std::vector<std::string>> PublishedTables(PgConnection& c, const std::string& pub,
                                                 bool* exists) {
  auto e = c.Exec("SELECT 1 FROM pg_publication WHERE pubname = $1", {pub});
  if (!e.ok()) return e.status();
  *exists = e->rows() == 1;
  std::vector<std::string> out;
  if (!*exists) return out;
  auto r = c.Exec(
      "SELECT schemaname || '.' || tablename FROM pg_publication_tables WHERE pubname "
      "= $1 ORDER BY 1",
      {pub});
  if (!r.ok()) return r.status();
  for (int i = 0; i < r->rows(); ++i) out.push_back(r->Str(i, 0));
  return out;
}

std::string CurrentDatabase(PgConnection& c) {
  auto r = c.Exec("SELECT current_database()");
  return r.ok() ? r->Str(0, 0) : std::string();
}

Status CheckServer(PgConnection& c) {
  auto w = c.Exec(
      "SELECT current_setting('wal_level'), to_regclass('diskinv.cdc_consumer') IS "
      "NOT NULL, current_setting('max_replication_slots')::int");
  if (!w.ok()) return w.status();
  if (w->Str(0, 0) != "logical") {
    return Status(EINVAL, fmt::format("the server runs with wal_level={}: CDC needs "
                                      "wal_level=logical (set it and restart PostgreSQL)",
                                      w->Str(0, 0)));
  }
  if (w->Str(0, 1) != "t") {
    return Status(EINVAL, "the diskinv schema is missing or too old: run `diskinv db migrate`");
  }
  return Status::Ok();
}

}  // namespace

Result<SlotInfo> GetSlotInfo(PgConnection& c, const std::string& slot) {
  auto r = c.Exec(
      "SELECT slot_name, plugin, database, active, active_pid, temporary, coalesce(wal_status, "
      "''), "
      "coalesce(restart_lsn, '0/0')::text, coalesce(confirmed_flush_lsn, '0/0')::text, "
      "safe_wal_size, CASE WHEN restart_lsn IS NULL THEN 0 ELSE "
      "pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint END FROM pg_replication_slots "
      "WHERE slot_name = $1",
      {slot});
  if (!r.ok()) return r.status();
  SlotInfo s;
  s.name = slot;
  if (r->rows() == 0) return s;
  s.exists = true;
  s.plugin = r->Str(0, 1);
  s.database = r->Str(0, 2);
  s.active = r->Str(0, 3) == "t";
  if (auto v = r->Get(0, 4)) s.active_pid = r->Int(0, 4);
  s.temporary = r->Str(0, 5) == "t";
  s.wal_status = r->Str(0, 6);
  s.restart_lsn = ParseLsn(r->Str(0, 7)).value();
  s.confirmed_flush_lsn = ParseLsn(r->Str(0, 8)).value();
  if (r->Get(0, 9)) s.safe_wal_size = r->Int(0, 9);
  s.retained_bytes = static_cast<uint64_t>(std::max<int64_t>(0, r->Int(0, 10)));
  return s;
}

Result<SlotReport> SyncSlots(const std::string& url, const std::vector<CdcApp>& apps) {
  auto log = Logger("cdc");
  auto conn = PgConnection::Connect(url);
  if (!conn.ok()) return conn.status();
  PgConnection& c = **conn;
  if (Status s = CheckServer(c); !s.ok()) return s;
  SlotReport rep;
  for (const CdcApp& app : apps) {
    // 1. The publication, before the slot.
    bool exists = false;
    auto have = PublishedTables(c, app.publication, &exists);
    if (!have.ok()) return have.status();
    std::vector<std::string> want = app.tables;
    std::sort(want.begin(), want.end());
    if (!exists) {
      auto r = c.Exec(fmt::format("CREATE PUBLICATION {} FOR TABLE {}", QuoteIdent(app.publication),
                                  TableList(app.tables)));
      if (r.ok()) {
        rep.actions.push_back(
            fmt::format("created publication {} ({} tables)", app.publication, app.tables.size()));
      } else if (r.status().message().find("42710") == std::string::npos &&
                 r.status().message().find("23505") == std::string::npos) {
        // Anything but "already exists": a concurrent sync is reported as 42710 or, when both
        // inserted into pg_publication at once, as a unique violation (23505).
        return r.status();
      }
    } else if (*have != want) {
      auto r = c.Exec(fmt::format("ALTER PUBLICATION {} SET TABLE {}", QuoteIdent(app.publication),
                                  TableList(app.tables)));
      if (!r.ok()) return r.status();
      rep.actions.push_back(
          fmt::format("corrected the table list of publication {}", app.publication));
    }
    if (app.slot.empty()) continue;  // temporary slots only
    // 2. The slot.
    auto slot = GetSlotInfo(c, app.slot);
    if (!slot.ok()) return slot.status();
    auto rec = consumer_state::Load(c, app.name);
    bool consumed = rec.ok() && (rec->confirmed_lsn != 0 || rec->transactions > 0);
    std::optional<std::string> gap = rec.ok() ? rec->last_commit_time : std::nullopt;
    if (slot->exists && slot->plugin != "pgoutput") {
      return Status(EINVAL, fmt::format("slot {} exists with plugin {}, not pgoutput: drop it "
                                        "(`diskinv cdc slots drop --app {}`) or rename it",
                                        app.slot, slot->plugin, app.name));
    }
    if (slot->exists && slot->database != CurrentDatabase(c)) {
      return Status(EINVAL, fmt::format("slot {} exists but belongs to database {}: slot names are "
                                        "per cluster, one diskinv database per cluster can use it",
                                        app.slot, slot->database));
    }
    bool lost = slot->exists && slot->wal_status == "lost";
    if (slot->exists && !lost) {
      if (!rec.ok()) {
        if (Status s = consumer_state::Ensure(c, app.name, app.slot, app.publication); !s.ok()) {
          return s;
        }
        (void)consumer_state::ResetPosition(c, app.name, slot->confirmed_flush_lsn);
      }
      continue;
    }
    auto repl = ReplicationConnection::Connect(url);
    if (!repl.ok()) return repl.status();
    if (lost) {
      if (Status s = (*repl)->DropSlot(app.slot); !s.ok() && s.code() != ENOENT) {
        return Status(s.code(), fmt::format("slot {} is invalidated and could not be dropped: {}",
                                            app.slot, s.message()));
      }
      rep.actions.push_back(fmt::format("dropped invalidated slot {}", app.slot));
    }
    auto created = (*repl)->CreateSlot(app.slot, /*temporary=*/false);
    if (!created.ok() && created.status().code() != EEXIST) return created.status();
    Lsn at = created.ok() ? created->consistent_point : 0;
    rep.actions.push_back(created.ok()
                              ? fmt::format("created slot {} at {}", app.slot, FormatLsn(at))
                              : fmt::format("slot {} was created concurrently", app.slot));
    if (Status s = consumer_state::Ensure(c, app.name, app.slot, app.publication); !s.ok()) {
      return s;
    }
    if (consumed || lost) {
      std::string why = lost ? "was invalidated (max_slot_wal_keep_size)" : "had disappeared";
      std::string msg = fmt::format(
          "slot {} {} and was recreated at {}: changes after {} were not streamed; repair with "
          "`diskinv cdc replay --app {} -t disk -e insert --since TIME` and `-e update` (and the "
          "other tables)",
          app.slot, why, FormatLsn(at), gap ? *gap : "the consumer's last transaction", app.name);
      rep.warnings.push_back(msg);
      if (Status s = consumer_state::RaiseAlarm(
              c, app.name, lost ? AlarmKind::kSlotInvalidated : AlarmKind::kSlotMissing, msg, gap);
          !s.ok()) {
        return s;
      }
    } else if (created.ok()) {
      (void)consumer_state::ResetPosition(c, app.name, at);
    }
  }
  return rep;
}

Result<SlotReport> DropSlots(const std::string& url, const std::vector<CdcApp>& apps) {
  auto conn = PgConnection::Connect(url);
  if (!conn.ok()) return conn.status();
  PgConnection& c = **conn;
  SlotReport rep;
  for (const CdcApp& app : apps) {
    if (!app.slot.empty()) {
      auto slot = GetSlotInfo(c, app.slot);
      if (!slot.ok()) return slot.status();
      if (slot->exists) {
        if (slot->active) {
          return Status(EBUSY, fmt::format("slot {} is in use by PID {}: stop that consumer first",
                                           app.slot, slot->active_pid.value_or(0)));
        }
        auto repl = ReplicationConnection::Connect(url);
        if (!repl.ok()) return repl.status();
        if (Status s = (*repl)->DropSlot(app.slot); !s.ok() && s.code() != ENOENT) return s;
        rep.actions.push_back(fmt::format("dropped slot {}", app.slot));
      }
    }
    bool exists = false;
    if (auto t = PublishedTables(c, app.publication, &exists); !t.ok()) return t.status();
    if (exists) {
      auto r = c.Exec(fmt::format("DROP PUBLICATION IF EXISTS {}", QuoteIdent(app.publication)));
      if (!r.ok()) return r.status();
      rep.actions.push_back(fmt::format("dropped publication {}", app.publication));
    }
    auto d = c.Exec("DELETE FROM diskinv.cdc_consumer WHERE app = $1", {app.name});
    if (d.ok() && d->affected() > 0) {
      rep.actions.push_back(fmt::format("forgot the position of consumer {}", app.name));
    }
  }
  return rep;
}

Result<std::vector<AppStatus>> GetAppStatus(PgConnection& c, const std::vector<CdcApp>& apps) {
  std::vector<AppStatus> out;
  auto cur = c.Exec("SELECT pg_current_wal_lsn()::text");
  if (!cur.ok()) return cur.status();
  Lsn current = ParseLsn(cur->Str(0, 0)).value();
  for (const CdcApp& app : apps) {
    AppStatus st;
    st.app = app;
    st.current_wal_lsn = current;
    auto t = PublishedTables(c, app.publication, &st.publication_exists);
    if (!t.ok()) return t.status();
    st.published_tables = *t;
    if (!app.slot.empty()) {
      auto s = GetSlotInfo(c, app.slot);
      if (!s.ok()) return s.status();
      st.slot = *s;
    }
    if (auto rec = consumer_state::Load(c, app.name); rec.ok()) st.consumer = *rec;
    Lsn pos = std::max(st.slot.confirmed_flush_lsn, st.consumer ? st.consumer->confirmed_lsn : 0);
    st.lag_bytes = pos != 0 && current > pos ? current - pos : 0;
    auto alarms = consumer_state::OpenAlarms(c, app.name);
    if (!alarms.ok()) return alarms.status();
    st.alarms = *alarms;
    out.push_back(std::move(st));
  }
  return out;
}

Result<CdcLag> GetCdcLag(PgConnection& c, const CdcApp& app) {
  auto r = c.Exec(
      "SELECT (pg_current_wal_lsn() - GREATEST(s.confirmed_flush_lsn, (SELECT confirmed_lsn "
      "FROM diskinv.cdc_consumer WHERE app = $2), '0/0'::pg_lsn))::text, s.active, "
      "COALESCE(EXTRACT(epoch FROM r.flush_lag), 0)::text FROM pg_replication_slots s LEFT JOIN "
      "pg_stat_replication r ON r.pid = s.active_pid WHERE s.slot_name = $1",
      {app.slot, app.name});
  if (!r.ok()) return r.status();
  if (r->rows() == 0) return Status(ENOENT, fmt::format("slot {} does not exist", app.slot));
  CdcLag lag;
  std::string bytes = r->Str(0, 0);
  if (!bytes.empty() && bytes[0] != '-') lag.bytes = std::strtoull(bytes.c_str(), nullptr, 10);
  lag.streaming = r->Str(0, 1) == "t";
  lag.flush_lag_seconds = std::strtod(r->Str(0, 2).c_str(), nullptr);
  return lag;
}

}  // namespace diskinv
