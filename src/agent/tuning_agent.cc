#include "agent/tuning_agent.h"

#include <poll.h>

#include <cerrno>
#include <map>
#include <thread>

#include <fmt/format.h>

#include "common/json_writer.h"
#include "common/logging.h"

namespace diskinv {
namespace {

using Clock = std::chrono::steady_clock;

std::string MapJson(const std::map<std::string, std::string>& m) {
  JsonWriter w;
  w.BeginObject();
  for (const auto& [k, v] : m) w.Key(k).String(v);
  w.EndObject();
  return w.Take();
}

std::string DriftJson(const std::map<std::string, TuningOutcome::Drift>& m) {
  JsonWriter w;
  w.BeginObject();
  for (const auto& [k, d] : m) {
    w.Key(k).BeginObject().Key("desired").String(d.desired).Key("found").String(d.found);
    w.Key("repaired").Bool(d.repaired).EndObject();
  }
  w.EndObject();
  return w.Take();
}

// desired jsonb as "key=value" pairs separated by \x01 (jsonb_each_text: numbers work too).
std::map<std::string, std::string> ParsePairs(const std::string& pairs) {
  std::map<std::string, std::string> out;
  size_t p = 0;
  while (p < pairs.size()) {
    size_t end = pairs.find('\x01', p);
    std::string kv = pairs.substr(p, end == std::string::npos ? std::string::npos : end - p);
    size_t eq = kv.find('=');
    if (eq != std::string::npos) out[kv.substr(0, eq)] = kv.substr(eq + 1);
    if (end == std::string::npos) break;
    p = end + 1;
  }
  return out;
}

constexpr const char* kSelectRows =
    "SELECT t.disk_id, d.kname, t.desired_generation, t.applied_generation, t.drift_action, "
    "t.etag, (SELECT array_to_string(array_agg(e.key || '=' || e.value), "
    "chr(1)) FROM jsonb_each_text(t.desired) e) FROM diskinv.disk_tuning t JOIN diskinv.disk d "
    "ON d.id = t.disk_id WHERE t.node_id = $1 AND d.state = 'present' AND ($2::bigint = 0 OR "
    "t.disk_id = $2::bigint) ORDER BY t.disk_id";

// Writes the report unless it is unchanged; tells a lost etag race apart.
constexpr const char* kReport =
    "WITH cur AS (SELECT etag = $2 AS same_etag, (observed, rejected, drift, status, "
    "applied_generation, last_error) IS NOT DISTINCT FROM ($3::jsonb, $4::jsonb, $5::jsonb, $6, "
    "$7::bigint, $8) AS same FROM diskinv.disk_tuning WHERE disk_id = $1), upd AS (UPDATE "
    "diskinv.disk_tuning SET observed = $3::jsonb, rejected = $4::jsonb, drift = $5::jsonb, status "
    "= $6, applied_generation = $7::bigint, last_error = $8, observed_at = now() WHERE disk_id = "
    "$1 AND etag = $2 AND NOT (SELECT same FROM cur) RETURNING 1) SELECT (SELECT same_etag FROM "
    "cur), (SELECT same FROM cur), (SELECT count(*) FROM upd)";

}  // namespace

Result<std::unique_ptr<TuningAgent>> TuningAgent::Create(TuningAgentOptions options,
                                                         SysfsReader* reader,
                                                         TuningSysfsWriter* writer) {
  if (options.machine_id.empty()) return Status::Invalid("the tuning agent needs a machine id");
  auto c = PgConnection::Connect(options.url);
  if (!c.ok()) return c.status();
  auto n = (*c)->Exec("SELECT id FROM diskinv.node WHERE machine_id = $1", {options.machine_id});
  if (!n.ok()) return n.status();
  if (n->rows() == 0) {
    return Status(ENOENT, fmt::format("no node with machine id {} in the inventory: the agent "
                                      "must register this node first", options.machine_id));
  }
  int64_t node = n->Int(0, 0);
  std::unique_ptr<TuningAgent> a(new TuningAgent(std::move(options), std::move(*c), node, reader,
                                                 writer));
  if (Status s = a->Listen(); !s.ok()) return s;
  return a;
}

Status TuningAgent::Listen() { return conn_->Exec("LISTEN diskinv_tuning").status(); }

int TuningAgent::socket() const { return PQsocket(conn_->raw()); }

bool TuningAgent::DrainNotifications() {
  bool mine = false;
  if (!PQconsumeInput(conn_->raw())) return false;
  while (PGnotify* n = PQnotifies(conn_->raw())) {
    if (std::string(n->extra) == std::to_string(node_id_)) mine = true;
    PQfreemem(n);
  }
  return mine;
}

Result<TuningPassStats> TuningAgent::SyncOnce() {
  auto log = Logger("agent");
  TuningPassStats st;
  if (Status s = conn_->EnsureConnected(); !s.ok()) return s;
  auto rows = conn_->Exec(kSelectRows, {std::to_string(node_id_), "0"});
  if (!rows.ok()) return rows.status();
  for (int i = 0; i < rows->rows(); ++i) {
    std::string disk_id = rows->Str(i, 0);
    std::string kname = rows->Str(i, 1);
    int64_t gen = rows->Int(i, 2);
    std::optional<int64_t> applied_gen;
    if (rows->Get(i, 3)) applied_gen = rows->Int(i, 3);
    std::string drift_action = rows->Str(i, 4);
    std::string etag = rows->Str(i, 5);
    std::map<std::string, std::string> desired = ParsePairs(rows->Str(i, 6));
    ++st.rows;
    for (int attempt = 0;; ++attempt) {
      bool resync = applied_gen && *applied_gen == gen;
      TuningOutcome out = applier_.Apply(kname, desired, resync, drift_action == "repair");
      st.written += out.written.size();
      if (out.status == "applied") ++st.applied;
      else if (out.status == "partial") ++st.partial;
      else if (out.status == "rejected") ++st.rejected;
      else if (out.status == "drift") ++st.drift;
      else ++st.errors;
      for (const auto& [attr, why] : out.rejected) log->info("{}: {} not applied: {}", kname, attr, why);
      for (const auto& [attr, d] : out.drift) {
        log->info("{}: {} drifted to {} (desired {}){}", kname, attr, d.found, d.desired,
                  d.repaired ? ", repaired" : "");
      }
      std::optional<std::string> err = out.error.empty() ? std::nullopt : std::optional(out.error);
      // On a resync without drift keep the previous drift record only if it is still true.
      auto r = conn_->Exec(kReport, {disk_id, etag, MapJson(out.observed), MapJson(out.rejected),
                                     out.drift.empty() ? std::optional<std::string>()
                                                       : std::optional(DriftJson(out.drift)),
                                     out.status, std::to_string(gen), err});
      if (!r.ok()) return r.status();
      bool same_etag = r->Str(0, 0) == "t";
      if (r->Int(0, 2) == 1) ++st.reported;
      if (same_etag || r->rows() == 0 || !r->Get(0, 0)) break;
      // The controller changed the row meanwhile: re-read it and apply what it says now.
      ++st.lost_races;
      if (attempt >= opt_.max_retries) {
        return Status(EAGAIN, fmt::format("disk_tuning of {} kept changing under us", kname));
      }
      auto again = conn_->Exec(kSelectRows, {std::to_string(node_id_), disk_id});
      if (!again.ok()) return again.status();
      if (again->rows() == 0) break;  // no longer desired on this node
      gen = again->Int(0, 2);
      applied_gen = again->Get(0, 3) ? std::optional<int64_t>(again->Int(0, 3)) : std::nullopt;
      drift_action = again->Str(0, 4);
      etag = again->Str(0, 5);
      desired = ParsePairs(again->Str(0, 6));
    }
  }
  return st;
}

Status TuningAgent::Run(const std::atomic<bool>& stop, TuningPassStats* total) {
  auto log = Logger("agent");
  auto next = Clock::now();
  bool pending = true;
  auto backoff = std::chrono::milliseconds(200);
  while (!stop.load()) {
    if (pending || Clock::now() >= next) {
      auto st = SyncOnce();
      if (!st.ok()) {
        log->warn("tuning pass failed: {}; retrying in {} ms", st.status().message(),
                  backoff.count());
        auto until = Clock::now() + backoff;
        while (!stop.load() && Clock::now() < until) {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        backoff = std::min(backoff * 2, std::chrono::milliseconds(30000));
        if (conn_->EnsureConnected().ok()) (void)Listen();
        continue;
      }
      backoff = std::chrono::milliseconds(200);
      if (total) {
        total->rows += st->rows;
        total->written += st->written;
        total->applied += st->applied;
        total->partial += st->partial;
        total->rejected += st->rejected;
        total->drift += st->drift;
        total->errors += st->errors;
        total->reported += st->reported;
        total->lost_races += st->lost_races;
      }
      pending = false;
      next = Clock::now() + opt_.resync_interval;
    }
    pollfd p{socket(), POLLIN, 0};
    int n = poll(&p, 1, 100);
    if (n > 0) pending = DrainNotifications() || pending;
  }
  return Status::Ok();
}

}  // namespace diskinv
