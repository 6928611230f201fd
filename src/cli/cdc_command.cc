// diskinv cdc slots|tail|replay|status: the CDC plumbing (docs/cdc.md).
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "cdc/cdc_app.h"
#include "cdc/cdc_consumer.h"
#include "cdc/consumer_state.h"
#include "cdc/replay.h"
#include "cdc/slot_manager.h"
#include "cli/cli.h"
#include "cli/command_support.h"
#include "common/json_writer.h"
#include "common/parse.h"
#include "reconcile/reconciler.h"

namespace diskinv {
namespace {

constexpr const char* kCdcHelp = R"(Usage: diskinv cdc COMMAND [OPTIONS]

Change data capture from the inventory tables (PostgreSQL logical replication, pgoutput).

Commands:
  slots sync [--app NAME]   create the publication, then the slot, of each consumer
                            application (or NAME); idempotent, safe at install time; recreates
                            a lost slot and raises an alarm naming the gap to replay
  slots list [--json]       publications, slots (active, WAL retained), consumer positions
  slots drop [--app NAME]   drop the slot, publication and position of each application
  tail [--json] [--limit N] [--summary] [--publication NAME]
                            print changes live from a temporary slot (what happened before it
                            started, or while it is not running, is not shown); --limit: stop
                            after N transactions; --summary: print only counts and peak memory;
                            --publication: another publication than diskinv_tail
  replay -t TABLE -e insert|update [--id N | --from-id A --to-id B | --since TS]
         [--margin SECONDS] [--app reconcile] [--dry-run]
                            re-deliver rows to the application's handler (the reconciler),
                            chosen by cdc_inserted / cdc_updated, to repair events lost to a
                            dropped slot or a bug; with --since the window is widened by
                            --margin (default 300 s) and, with track_commit_timestamp=on, rows
                            committed since TS are selected exactly (docs/cdc.md)
  status [--app NAME] [--json]
                            lag, last acknowledged LSN, WAL the slot retains, decode and
                            handler errors, open alarms

Options:
      --database-url URL   default $DISKINV_DATABASE_URL, else the libpq defaults
  -h, --help               show this help

Applications: reconcile (slot and publication diskinv_reconcile), tail (publication
diskinv_tail, temporary slots).

Exit status: 0 success; 1 failure; 2 usage error; 4 slot missing or invalidated (alarm
raised; run `cdc slots sync` then `cdc replay`); 5 slot in use by another consumer; 6 the
stream could not be decoded (alarm raised). `cdc status` exits 3 when an alarm is open.
)";

void AppendValue(JsonWriter& w, const TupleView& t, size_t i) {
  switch (t.kind(i)) {
    case TupleKind::kNull:
      w.Null();
      break;
    case TupleKind::kUnchangedToast:
      w.BeginObject().Key("unchanged_toast").Bool(true).EndObject();
      break;
    case TupleKind::kText:
      w.String(t.bytes(i));
      break;
    case TupleKind::kBinary: {
      std::string hex;
      for (unsigned char c : t.bytes(i)) hex += fmt::format("{:02x}", c);
      w.BeginObject().Key("binary_hex").String(hex).EndObject();
      break;
    }
  }
}

void AppendTuple(JsonWriter& w, const TupleView& t) {
  w.BeginObject();
  for (size_t i = 0; i < t.size(); ++i) {
    w.Key(t.column_name(i));
    AppendValue(w, t, i);
  }
  w.EndObject();
}

std::string TextValue(const TupleView& t, size_t i) {
  switch (t.kind(i)) {
    case TupleKind::kNull: return "NULL";
    case TupleKind::kUnchangedToast: return "<unchanged-toast>";
    case TupleKind::kBinary: return fmt::format("<{} binary bytes>", t.bytes(i).size());
    case TupleKind::kText: break;
  }
  std::string out = "'";
  for (char c : t.bytes(i)) {
    if (c == '\'') out += '\'';
    out += (c == '\n') ? ' ' : c;
  }
  return out + "'";
}

// Prints every group (cdc tail).
class PrintHandler : public ChangeHandler {
 public:
  PrintHandler(bool json, bool summary, uint64_t limit, std::atomic<bool>* done)
      : json_(json), summary_(summary), limit_(limit), done_(done) {}

  Status Handle(std::span<const EventGroup* const> groups, PgConnection*) override {
    for (const EventGroup* g : groups) {
      if (g->last_part) ++transactions_;
      changes_ += g->changes().size();
      if (!summary_) Print(*g);
      if (limit_ > 0 && transactions_ >= limit_) done_->store(true);
    }
    if (!summary_) std::fflush(stdout);
    return Status::Ok();
  }
  uint64_t transactions() const { return transactions_; }
  uint64_t changes() const { return changes_; }

 private:
  void Print(const EventGroup& g) {
    if (json_) {
      JsonWriter w;
      w.BeginObject().Key("xid").Uint(g.xid).Key("final_lsn").String(FormatLsn(g.final_lsn));
      if (g.last_part && g.transactional) {
        w.Key("end_lsn").String(FormatLsn(g.end_lsn));
        w.Key("commit_time").String(FormatPgTimestamp(g.commit_time));
      }
      w.Key("part").Uint(g.part).Key("last_part").Bool(g.last_part);
      if (!g.origin.empty()) w.Key("origin").String(g.origin);
      w.Key("changes").BeginArray();
      for (const Change& c : g.changes()) {
        w.BeginObject().Key("op").String(ChangeKindName(c.kind)).Key("lsn").String(FormatLsn(c.lsn));
        if (c.kind == ChangeKind::kTruncate) {
          w.Key("tables").BeginArray();
          for (const Relation* r : g.Truncated(c)) w.String(r->qualified_name);
          w.EndArray();
        } else if (c.kind == ChangeKind::kMessage) {
          w.Key("prefix").String(g.MessagePrefix(c)).Key("content").String(g.MessageContent(c));
        } else {
          w.Key("table").String(c.relation->qualified_name);
          if (c.old_kind) {
            w.Key(c.old_kind == 'K' ? "old_key" : "old");
            AppendTuple(w, g.OldTuple(c));
          }
          if (c.kind != ChangeKind::kDelete) {
            w.Key("new");
            AppendTuple(w, g.NewTuple(c));
          }
        }
        w.EndObject();
      }
      w.EndArray().EndObject();
      std::printf("%s\n", w.str().c_str());
      return;
    }
    if (g.part == 0) {
      std::printf("BEGIN xid %u (commit record %s)\n", g.xid, FormatLsn(g.final_lsn).c_str());
    }
    for (const Change& c : g.changes()) {
      std::string line = fmt::format("{} {}", ChangeKindName(c.kind), FormatLsn(c.lsn));
      if (c.kind == ChangeKind::kTruncate) {
        for (const Relation* r : g.Truncated(c)) line += " " + r->qualified_name;
      } else if (c.kind == ChangeKind::kMessage) {
        line += fmt::format(" prefix={} content={}", g.MessagePrefix(c), g.MessageContent(c).size());
      } else {
        line += " " + c.relation->qualified_name;
        TupleView t = c.kind == ChangeKind::kDelete ? g.OldTuple(c) : g.NewTuple(c);
        for (size_t i = 0; i < t.size(); ++i) {
          line += fmt::format(" {}={}", t.column_name(i), TextValue(t, i));
        }
      }
      std::printf("%s\n", line.c_str());
    }
    if (g.last_part && g.transactional) {
      std::printf("COMMIT xid %u end %s at %s\n", g.xid, FormatLsn(g.end_lsn).c_str(),
                  FormatPgTimestamp(g.commit_time).c_str());
    }
  }

  bool json_, summary_;
  uint64_t limit_;
  std::atomic<bool>* done_;
  uint64_t transactions_ = 0, changes_ = 0;
};

uint64_t PeakRssKb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("VmHWM:")) return std::strtoull(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

int Slots(const std::string& action, const std::string& url, const std::string& app, bool json) {
  std::vector<CdcApp> apps;
  if (app.empty()) {
    apps = CdcApps();
  } else {
    auto a = FindCdcApp(app);
    if (!a.ok()) return UsageError("cdc", a.status().message());
    apps = {*a};
  }
  if (action == "sync" || action == "drop") {
    auto rep = action == "sync" ? SyncSlots(url, apps) : DropSlots(url, apps);
    if (!rep.ok()) {
      std::fprintf(stderr, "diskinv cdc slots %s: %s\n", action.c_str(),
                   rep.status().message().c_str());
      return kExitFailure;
    }
    for (const auto& a : rep->actions) std::printf("%s\n", a.c_str());
    for (const auto& w : rep->warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
    if (rep->actions.empty()) std::printf("nothing to do: everything is in place\n");
    return kExitOk;
  }
  auto c = PgConnection::Connect(url);
  if (!c.ok()) {
    std::fprintf(stderr, "diskinv cdc slots list: %s\n", c.status().message().c_str());
    return kExitFailure;
  }
  auto st = GetAppStatus(**c, apps);
  if (!st.ok()) {
    std::fprintf(stderr, "diskinv cdc slots list: %s\n", st.status().message().c_str());
    return kExitFailure;
  }
  if (json) {
    JsonWriter w(true);
    w.BeginArray();
    for (const auto& s : *st) {
      w.BeginObject().Key("app").String(s.app.name).Key("publication").String(s.app.publication);
      w.Key("publication_exists").Bool(s.publication_exists);
      w.Key("slot").String(s.app.slot).Key("slot_exists").Bool(s.slot.exists);
      w.Key("active").Bool(s.slot.active).Key("wal_status").String(s.slot.wal_status);
      w.Key("retained_bytes").Uint(s.slot.retained_bytes);
      w.EndObject();
    }
    w.EndArray();
    std::printf("%s\n", w.str().c_str());
    return kExitOk;
  }
  std::printf("%-10s %-20s %-6s %-20s %-7s %-8s %-10s %s\n", "APP", "PUBLICATION", "TABLES",
              "SLOT", "ACTIVE", "WAL", "RETAINED", "POSITION");
  for (const auto& s : *st) {
    std::printf("%-10s %-20s %-6s %-20s %-7s %-8s %-10s %s\n", s.app.name.c_str(),
                s.app.publication.c_str(),
                s.publication_exists ? std::to_string(s.published_tables.size()).c_str() : "-",
                s.app.slot.empty() ? "(temporary)" : s.slot.exists ? s.app.slot.c_str() : "MISSING",
                s.slot.active ? "yes" : "no", s.slot.wal_status.empty() ? "-" : s.slot.wal_status.c_str(),
                s.slot.exists ? fmt::format("{}", s.slot.retained_bytes).c_str() : "-",
                s.consumer ? FormatLsn(s.consumer->confirmed_lsn).c_str() : "-");
  }
  return kExitOk;
}

int StatusCmd(const std::string& url, const std::string& app, bool json) {
  std::vector<CdcApp> apps;
  for (const auto& a : CdcApps()) {
    if (!a.slot.empty() && (app.empty() || a.name == app)) apps.push_back(a);
  }
  if (apps.empty()) return UsageError("cdc", fmt::format("no application '{}' with a slot", app));
  auto c = PgConnection::Connect(url);
  if (!c.ok()) {
    std::fprintf(stderr, "diskinv cdc status: %s\n", c.status().message().c_str());
    return kExitFailure;
  }
  auto st = GetAppStatus(**c, apps);
  if (!st.ok()) {
    std::fprintf(stderr, "diskinv cdc status: %s\n", st.status().message().c_str());
    return kExitFailure;
  }
  bool alarms = false;
  JsonWriter w(true);
  w.BeginArray();
  for (const auto& s : *st) {
    alarms = alarms || !s.alarms.empty();
    if (json) {
      w.BeginObject().Key("app").String(s.app.name).Key("slot").String(s.app.slot);
      w.Key("slot_exists").Bool(s.slot.exists).Key("slot_active").Bool(s.slot.active);
      if (s.slot.active_pid) w.Key("slot_active_pid").Int(*s.slot.active_pid);
      w.Key("wal_status").String(s.slot.wal_status);
      w.Key("current_wal_lsn").String(FormatLsn(s.current_wal_lsn));
      w.Key("slot_confirmed_flush_lsn").String(FormatLsn(s.slot.confirmed_flush_lsn));
      w.Key("slot_restart_lsn").String(FormatLsn(s.slot.restart_lsn));
      w.Key("slot_retained_wal_bytes").Uint(s.slot.retained_bytes);
      if (s.slot.safe_wal_size) w.Key("slot_safe_wal_size").Int(*s.slot.safe_wal_size);
      w.Key("lag_bytes").Uint(s.lag_bytes);
      if (s.consumer) {
        const ConsumerRecord& r = *s.consumer;
        w.Key("last_acked_lsn").String(FormatLsn(r.confirmed_lsn));
        if (r.last_commit_time) w.Key("last_commit_time").String(*r.last_commit_time);
        w.Key("transactions").Uint(r.transactions).Key("changes").Uint(r.changes);
        w.Key("decode_errors").Uint(r.decode_errors).Key("handler_errors").Uint(r.handler_errors);
        if (r.last_error) w.Key("last_error").String(*r.last_error);
        if (r.heartbeat_at) w.Key("heartbeat_at").String(*r.heartbeat_at);
      }
      w.Key("alarms").BeginArray();
      for (const auto& a : s.alarms) {
        w.BeginObject().Key("kind").String(a.kind).Key("message").String(a.message);
        w.Key("raised_at").String(a.raised_at);
        if (a.gap_since) w.Key("gap_since").String(*a.gap_since);
        w.EndObject();
      }
      w.EndArray().EndObject();
      continue;
    }
    std::printf("application:      %s (slot %s, publication %s)\n", s.app.name.c_str(),
                s.app.slot.c_str(), s.app.publication.c_str());
    if (!s.slot.exists) {
      std::printf("slot:             MISSING: run `diskinv cdc slots sync`\n");
    } else {
      std::printf("slot:             %s%s, wal_status %s, confirmed_flush %s, restart %s\n",
                  s.slot.active ? "active" : "inactive",
                  s.slot.active_pid ? fmt::format(" (PID {})", *s.slot.active_pid).c_str() : "",
                  s.slot.wal_status.c_str(), FormatLsn(s.slot.confirmed_flush_lsn).c_str(),
                  FormatLsn(s.slot.restart_lsn).c_str());
      std::printf("WAL retained:     %llu bytes%s\n",
                  static_cast<unsigned long long>(s.slot.retained_bytes),
                  s.slot.safe_wal_size
                      ? fmt::format(" ({} more before invalidation)", *s.slot.safe_wal_size).c_str()
                      : "");
    }
    std::printf("server WAL:       %s; lag %llu bytes\n", FormatLsn(s.current_wal_lsn).c_str(),
                static_cast<unsigned long long>(s.lag_bytes));
    if (s.consumer) {
      const ConsumerRecord& r = *s.consumer;
      std::printf("last acked:       %s (commit time %s)\n", FormatLsn(r.confirmed_lsn).c_str(),
                  r.last_commit_time.value_or("-").c_str());
      std::printf("handled:          %llu transactions, %llu changes\n",
                  static_cast<unsigned long long>(r.transactions),
                  static_cast<unsigned long long>(r.changes));
      std::printf("errors:           %llu decode, %llu handler%s%s\n",
                  static_cast<unsigned long long>(r.decode_errors),
                  static_cast<unsigned long long>(r.handler_errors),
                  r.last_error ? "; last: " : "", r.last_error.value_or("").c_str());
    } else {
      std::printf("consumer:         never ran\n");
    }
    for (const auto& a : s.alarms) {
      std::printf("ALARM %s since %s: %s\n", a.kind.c_str(), a.raised_at.c_str(), a.message.c_str());
    }
  }
  w.EndArray();
  if (json) std::printf("%s\n", w.str().c_str());
  return alarms ? kExitPartial : kExitOk;
}

int Tail(const std::string& url, bool json, bool summary, uint64_t limit,
         const std::string& publication) {
  auto app = FindCdcApp("tail");
  ConsumerOptions o;
  o.url = url;
  o.slot = fmt::format("diskinv_tail_{}", getpid());
  o.publications = {publication.empty() ? app->publication : publication};
  o.temporary_slot = true;
  o.max_reconnects = 0;  // a temporary slot cannot resume: say so instead of losing events
  std::atomic<bool> done{false};
  PrintHandler handler(json, summary, limit, &done);
  CdcConsumer consumer(o, &handler);
  const std::atomic<bool>& sig = StopOnSignals();
  std::atomic<bool> stop{false};
  std::thread watcher([&] {
    while (!stop.load()) {
      if (sig.load() || done.load()) stop.store(true);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  Status s = consumer.Run(stop);
  stop.store(true);
  watcher.join();
  if (summary) {
    std::printf("transactions %llu changes %llu groups %llu peak_rss_kb %llu queue_peak_bytes %llu\n",
                static_cast<unsigned long long>(handler.transactions()),
                static_cast<unsigned long long>(handler.changes()),
                static_cast<unsigned long long>(consumer.stats().groups.load()),
                static_cast<unsigned long long>(PeakRssKb()),
                static_cast<unsigned long long>(consumer.stats().queue_bytes_peak.load()));
  }
  if (!s.ok() && s.message().find("diskinv_tail\" does not exist") != std::string::npos) {
    std::fprintf(stderr, "diskinv cdc tail: the publication diskinv_tail is missing: run `diskinv "
                         "cdc slots sync`\n");
    return kExitFailure;
  }
  return ConsumerExitCode("cdc tail", s);
}

int ReplayCmd(const std::string& url, const std::string& app_name, ReplayRequest req) {
  auto app = FindCdcApp(app_name);
  if (!app.ok()) return UsageError("cdc", app.status().message());
  if (app->name != "reconcile") {
    return UsageError("cdc", "replay delivers to the reconcile application only");
  }
  auto read = PgConnection::Connect(url);
  if (!read.ok()) {
    std::fprintf(stderr, "diskinv cdc replay: %s\n", read.status().message().c_str());
    return kExitFailure;
  }
  auto write = PgConnection::Connect(url);
  if (!write.ok()) {
    std::fprintf(stderr, "diskinv cdc replay: %s\n", write.status().message().c_str());
    return kExitFailure;
  }
  Reconciler handler;
  auto res = Replay(**read, req, handler, write->get());
  if (!res.ok()) {
    std::fprintf(stderr, "diskinv cdc replay: %s\n", res.status().message().c_str());
    return res.status().code() == EINVAL ? kExitUsage : kExitFailure;
  }
  std::printf("%s %llu %s row(s) of diskinv.%s (ids %lld..%lld) in %llu batch(es)%s\n",
              req.dry_run ? "would replay" : "replayed",
              static_cast<unsigned long long>(res->rows), req.update ? "update" : "insert",
              req.table.c_str(), static_cast<long long>(res->first_id),
              static_cast<long long>(res->last_id), static_cast<unsigned long long>(res->batches),
              req.since ? (res->commit_timestamps ? "; window: cdc time - margin, plus commit "
                                                    "timestamps (track_commit_timestamp=on)"
                                                  : "; window: cdc time - margin "
                                                    "(track_commit_timestamp is off)")
                        : "");
  if (!req.dry_run) {
    std::printf("reconciler: %llu disks checked, %llu claimed, %llu released, %llu tuning rows "
                "written\n",
                static_cast<unsigned long long>(handler.stats().disks.load()),
                static_cast<unsigned long long>(handler.stats().claims.load()),
                static_cast<unsigned long long>(handler.stats().releases.load()),
                static_cast<unsigned long long>(handler.stats().tuning_writes.load()));
    // A replay that covers an alarm's gap repairs it: an id-range replay does not say so.
    if (!req.id && !req.from_id && !req.to_id) {
      auto cleared = consumer_state::ClearAlarms(**write, app->name, req.since,
                                                 fmt::format("cdc replay -t {} -e {}{}", req.table,
                                                             req.update ? "update" : "insert",
                                                             req.since ? " --since " + *req.since : ""));
      if (cleared.ok() && *cleared > 0) std::printf("cleared %d alarm(s)\n", *cleared);
    }
  }
  return kExitOk;
}

}  // namespace

int CdcCommand(std::vector<std::string> args) {
  ArgParser p{std::move(args)};
  std::string url = DefaultDatabaseUrl(), err, app, v, publication;
  std::vector<std::string> words;
  bool json = false, summary = false, dry_run = false;
  uint64_t limit = 0, n = 0;
  ReplayRequest req;
  std::string event;
  while (!p.Done()) {
    if (p.Flag("help", 'h')) {
      std::fputs(kCdcHelp, stdout);
      return kExitOk;
    }
    if (DatabaseUrlOption(p, &url, &err) || p.Option("app", 0, &app, &err) ||
        p.Option("publication", 0, &publication, &err) ||
        p.Option("table", 't', &req.table, &err) || p.Option("event", 'e', &event, &err)) {
      if (!err.empty()) return UsageError("cdc", err);
      continue;
    }
    if (p.Flag("json")) {
      json = true;
    } else if (p.Flag("summary")) {
      summary = true;
    } else if (p.Flag("dry-run")) {
      dry_run = true;
    } else if (NumberOption(p, "limit", &limit, &err)) {
      if (!err.empty()) return UsageError("cdc", err);
    } else if (NumberOption(p, "margin", &n, &err)) {
      if (!err.empty()) return UsageError("cdc", err);
      req.margin = std::chrono::seconds(n);
    } else if (NumberOption(p, "id", &n, &err)) {
      if (!err.empty()) return UsageError("cdc", err);
      req.id = static_cast<int64_t>(n);
    } else if (NumberOption(p, "from-id", &n, &err)) {
      if (!err.empty()) return UsageError("cdc", err);
      req.from_id = static_cast<int64_t>(n);
    } else if (NumberOption(p, "to-id", &n, &err)) {
      if (!err.empty()) return UsageError("cdc", err);
      req.to_id = static_cast<int64_t>(n);
    } else if (p.Option("since", 0, &v, &err)) {
      if (!err.empty()) return UsageError("cdc", err);
      req.since = v;
    } else if (!p.Current().empty() && p.Current()[0] == '-') {
      return UsageError("cdc", fmt::format("unknown option '{}'", p.Current()));
    } else {
      words.push_back(p.args[p.pos++]);
    }
  }
  if (words.empty()) return UsageError("cdc", "missing command: slots, tail, replay or status");
  const std::string& cmd = words[0];
  if (cmd == "slots") {
    if (words.size() != 2 || (words[1] != "sync" && words[1] != "list" && words[1] != "drop")) {
      return UsageError("cdc", "usage: cdc slots sync|list|drop");
    }
    return Slots(words[1], url, app, json);
  }
  if (words.size() != 1) return UsageError("cdc", fmt::format("unexpected '{}'", words[1]));
  if (cmd == "status") return StatusCmd(url, app, json);
  if (cmd == "tail") return Tail(url, json, summary, limit, publication);
  if (cmd == "replay") {
    if (req.table.empty()) return UsageError("cdc", "replay needs -t TABLE");
    if (event != "insert" && event != "update") {
      return UsageError("cdc", "replay needs -e insert or -e update");
    }
    req.update = event == "update";
    int selectors = (req.id ? 1 : 0) + (req.from_id || req.to_id ? 1 : 0) + (req.since ? 1 : 0);
    if (selectors > 1) {
      return UsageError("cdc", "give one of --id, --from-id/--to-id, --since");
    }
    req.dry_run = dry_run;
    return ReplayCmd(url, app.empty() ? "reconcile" : app, req);
  }
  return UsageError("cdc", fmt::format("unknown command '{}'", cmd));
}

}  // namespace diskinv
