// The CDC consumer against a real PostgreSQL 15 (tests/support/pg_cluster): acknowledgements,
// its own persisted position, idle keepalive acks, slow handlers, handler errors, a second
// consumer, dropped slots, server restarts (clean and immediate), DDL and TOAST mid-stream.
#include "cdc/cdc_consumer.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "cdc/consumer_state.h"
#include "cdc/replication_connection.h"
#include "support/cdc_harness.h"

namespace diskinv {
namespace {

using namespace std::chrono_literals;
using testing::CdcDatabase;
using testing::WaitFor;

// A source table in its own publication and slot.
void MakeSource(CdcDatabase& db, const std::string& slot = "t_slot") {
  ASSERT_EQ(db.Exec("CREATE TABLE src (k int PRIMARY KEY, v text); "
                    "CREATE TABLE effects (k int PRIMARY KEY, n int NOT NULL); "
                    "CREATE TABLE unrelated (k serial, v text); "
                    "CREATE PUBLICATION t_pub FOR TABLE src"),
            "");
  auto repl = ReplicationConnection::Connect(db.url);
  ASSERT_TRUE(repl.ok()) << repl.status().message();
  auto s = (*repl)->CreateSlot(slot, false);
  ASSERT_TRUE(s.ok()) << s.status().message();
}

ConsumerOptions Options(const CdcDatabase& db, const std::string& app = "test") {
  ConsumerOptions o;
  o.url = db.url;
  o.slot = "t_slot";
  o.publications = {"t_pub"};
  o.app = app;
  o.ack_delay = 20ms;
  o.retry_initial = 50ms;
  o.retry_max = 500ms;
  o.reconnect_max = 500ms;
  return o;
}

// For every inserted src row, n = n + 1 in effects, in the consumer's transaction. Not
// idempotent on purpose: a transaction handled twice shows up as n = 2.
class CountingHandler : public ChangeHandler {
 public:
  Status Handle(std::span<const EventGroup* const> groups, PgConnection* txn) override {
    if (fail_next > 0) {
      --fail_next;
      return Status(EIO, "injected handler failure");
    }
    if (sleep_first.count() > 0 && calls.fetch_add(1) == 0)
      std::this_thread::sleep_for(sleep_first);
    for (const EventGroup* g : groups) {
      std::lock_guard lock(mu);
      if (g->last_part) {
        ends.push_back(g->end_lsn);
        xids.push_back(g->xid);
      }
      for (const Change& c : g->changes()) {
        if (c.kind != ChangeKind::kInsert || c.relation->relname != "src") continue;
        auto k = g->NewTuple(c).Text("k");
        if (!k) return Status::Invalid("src insert without k");
        if (txn) {
          auto r = txn->Exec(
              "INSERT INTO effects VALUES ($1, 1) ON CONFLICT (k) DO UPDATE SET n "
              "= effects.n + 1",
              {std::string(*k)});
          if (!r.ok()) return r.status();
        }
        ++inserts;
      }
    }
    return Status::Ok();
  }
  std::mutex mu;
  std::vector<Lsn> ends;
  std::vector<uint32_t> xids;
  std::atomic<int> inserts{0};
  std::atomic<int> fail_next{0};
  std::atomic<int> calls{0};
  std::chrono::milliseconds sleep_first{0};
};

// Runs a consumer on a thread until Stop().
struct Running {
  Running(ConsumerOptions o, ChangeHandler* h) : consumer(std::move(o), h) {
    thread = std::thread([this] { result = consumer.Run(stop); });
  }
  Status Stop() {
    stop = true;
    if (thread.joinable()) thread.join();
    return result;
  }
  ~Running() { Stop(); }
  CdcConsumer consumer;
  std::atomic<bool> stop{false};
  Status result;
  std::thread thread;
};

Lsn SlotConfirmed(CdcDatabase& db, const std::string& slot = "t_slot") {
  auto v = db.Scalar("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '" +
                     slot + "'");
  auto l = ParseLsn(v);
  return l.ok() ? *l : 0;
}

TEST(CdcConsumer, AcksCommitEndLsnAndPersistsItsPosition) {
  REQUIRE_CDC_DATABASE(db, "cdc_ack");
  MakeSource(db);
  CountingHandler h;
  {
    Running r(Options(db), &h);
    for (int i = 1; i <= 5; ++i) {
      ASSERT_EQ(db.Exec("INSERT INTO src VALUES (" + std::to_string(i) + ", 'x')"), "");
    }
    ASSERT_TRUE(WaitFor([&] { return h.inserts.load() == 5; }, 15s));
    Lsn last;
    {
      std::lock_guard lock(h.mu);
      ASSERT_EQ(h.ends.size(), 5u);
      last = h.ends.back();
    }
    // The flush LSN sent is the Commit's end LSN of the last handled transaction.
    ASSERT_TRUE(WaitFor([&] { return SlotConfirmed(db) >= last; }, 10s));
    EXPECT_TRUE(r.Stop().ok());
    auto rec = consumer_state::Load(*db.conn, "test");
    ASSERT_TRUE(rec.ok());
    EXPECT_EQ(rec->confirmed_lsn, last);
    EXPECT_EQ(rec->transactions, 5u);
    EXPECT_TRUE(rec->last_commit_time.has_value());
  }
  EXPECT_EQ(db.Int("SELECT count(*) FROM effects WHERE n = 1"), 5);
  // A new consumer resumes after what was handled: nothing is handled twice.
  CountingHandler h2;
  Running r2(Options(db), &h2);
  ASSERT_EQ(db.Exec("INSERT INTO src VALUES (6, 'x')"), "");
  ASSERT_TRUE(WaitFor([&] { return h2.inserts.load() == 1; }, 15s));
  EXPECT_EQ(db.Int("SELECT count(*) FROM effects WHERE n = 1"), 6);
  EXPECT_EQ(db.Int("SELECT count(*) FROM effects WHERE n > 1"), 0);
}

// With nothing in flight, the keepalive's WAL end is acknowledged: WAL written to tables
// outside the publication does not stay pinned by the slot.
TEST(CdcConsumer, IdleConsumerAcknowledgesKeepaliveWalEnd) {
  REQUIRE_CDC_DATABASE(db, "cdc_idle");
  MakeSource(db);
  CountingHandler h;
  Running r(Options(db), &h);
  ASSERT_EQ(db.Exec("INSERT INTO src VALUES (1, 'x')"), "");
  ASSERT_TRUE(WaitFor([&] { return h.inserts.load() == 1; }, 15s));
  // The test server runs with synchronous_commit=off: flush, so the walsender may send it.
  ASSERT_EQ(db.Exec("SET synchronous_commit = on; INSERT INTO unrelated (v) SELECT repeat('u', "
                    "100) FROM generate_series(1, 20000)"),
            "");
  Lsn target = *ParseLsn(db.Scalar("SELECT pg_current_wal_flush_lsn()"));
  Lsn handled;
  {
    std::lock_guard lock(h.mu);
    handled = h.ends.back();
  }
  ASSERT_GT(target, handled + 1000000);
  EXPECT_TRUE(WaitFor([&] { return SlotConfirmed(db) >= target; }, 30s))
      << "slot confirmed " << FormatLsn(SlotConfirmed(db)) << ", WAL at " << FormatLsn(target);
  EXPECT_GT(r.consumer.stats().keepalives.load(), 0u);
}

// A handler slower than wal_sender_timeout, with the queue full: the stream thread keeps
// sending status updates, so the walsender does not time the session out. Without them
// (status interval longer than the timeout) it does: the control case.
TEST(CdcConsumer, SlowHandlerDoesNotStopStatusUpdates) {
  REQUIRE_CDC_DATABASE(db, "cdc_slow");
  MakeSource(db);
  ASSERT_EQ(db.Exec("ALTER SYSTEM SET wal_sender_timeout = '2s'"), "");
  ASSERT_EQ(db.Exec("SELECT pg_reload_conf()"), "");
  for (bool keepalive : {true, false}) {
    SCOPED_TRACE(keepalive ? "status every 300 ms" : "control: status every 60 s");
    CountingHandler h;
    h.sleep_first = 5000ms;
    ConsumerOptions o = Options(db);
    o.max_queue_bytes = 1;  // one group in flight: the stream thread stops reading
    o.status_interval = keepalive ? 300ms : 60000ms;
    o.ack_delay = keepalive ? 20ms : 60000ms;
    Running r(o, &h);
    int base = db.Int("SELECT count(*) FROM src");
    for (int i = 1; i <= 20; ++i) {
      ASSERT_EQ(db.Exec("INSERT INTO src VALUES (" + std::to_string(base + i) +
                        ", repeat('p', "
                        "2000))"),
                "");
    }
    ASSERT_TRUE(WaitFor([&] { return h.inserts.load() >= 20; }, 40s));
    // The server says when it drops a walsender for not answering.
    auto timeouts = [&] {
      std::ifstream in(db.cluster->log_file());
      std::string line;
      int n = 0;
      while (std::getline(in, line)) {
        n += line.find("terminating walsender process due to replication timeout") !=
             std::string::npos;
      }
      return n;
    };
    if (keepalive) {
      EXPECT_EQ(timeouts(), 0);
      EXPECT_TRUE(r.Stop().ok());
      EXPECT_EQ(r.consumer.stats().sessions.load(), 1u) << "the walsender dropped the session";
    } else {
      EXPECT_TRUE(WaitFor([&] { return timeouts() >= 1; }, 10s))
          << "the control case did not time out: the test proves nothing";
      EXPECT_TRUE(r.Stop().ok());
    }
  }
  ASSERT_EQ(db.Exec("ALTER SYSTEM RESET wal_sender_timeout"), "");
  ASSERT_EQ(db.Exec("SELECT pg_reload_conf()"), "");
  EXPECT_EQ(db.Int("SELECT count(*) FROM effects WHERE n > 1"), 0);
}

TEST(CdcConsumer, HandlerErrorsAreRetriedWithoutAcknowledging) {
  REQUIRE_CDC_DATABASE(db, "cdc_retry");
  MakeSource(db);
  CountingHandler h;
  h.fail_next = 3;
  Lsn before = SlotConfirmed(db);
  ConsumerOptions o = Options(db);
  o.retry_initial = 300ms;
  Running r(o, &h);
  ASSERT_EQ(db.Exec("INSERT INTO src VALUES (1, 'x')"), "");
  // While the handler fails, neither the slot nor the position moves past the transaction.
  ASSERT_TRUE(WaitFor([&] { return r.consumer.stats().handler_errors.load() >= 1; }, 15s));
  Lsn commit_end = *ParseLsn(db.Scalar("SELECT pg_current_wal_lsn()"));
  EXPECT_LT(SlotConfirmed(db), commit_end);
  EXPECT_EQ(db.Int("SELECT count(*) FROM effects"), 0);
  ASSERT_TRUE(WaitFor([&] { return h.inserts.load() == 1; }, 20s));
  EXPECT_TRUE(WaitFor([&] { return SlotConfirmed(db) > before; }, 10s));
  EXPECT_EQ(r.consumer.stats().handler_errors.load(), 3u);
  EXPECT_TRUE(r.Stop().ok());
  EXPECT_EQ(db.Int("SELECT n FROM effects WHERE k = 1"), 1);
  auto rec = consumer_state::Load(*db.conn, "test");
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(rec->handler_errors, 3u);
  EXPECT_NE(rec->last_error.value_or("").find("injected handler failure"), std::string::npos);
}

TEST(CdcConsumer, SecondConsumerOnTheSameSlotIsRefused) {
  REQUIRE_CDC_DATABASE(db, "cdc_second");
  MakeSource(db);
  CountingHandler h1, h2;
  Running first(Options(db), &h1);
  ASSERT_TRUE(WaitFor([&] { return first.consumer.stats().sessions.load() == 1; }, 10s));
  ConsumerOptions o = Options(db);
  CdcConsumer second(o, &h2);
  std::atomic<bool> stop{false};
  auto t0 = std::chrono::steady_clock::now();
  Status s = second.Run(stop);
  EXPECT_EQ(s.code(), EBUSY) << s.message();
  EXPECT_NE(s.message().find("is active for PID"), std::string::npos) << s.message();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  // The first one is unaffected.
  ASSERT_EQ(db.Exec("INSERT INTO src VALUES (1, 'x')"), "");
  EXPECT_TRUE(WaitFor([&] { return h1.inserts.load() == 1; }, 15s));
  EXPECT_EQ(h2.inserts.load(), 0);
}

TEST(CdcConsumer, DroppedSlotIsAnErrorAndAnAlarm) {
  REQUIRE_CDC_DATABASE(db, "cdc_dropped");
  MakeSource(db);
  CountingHandler h;
  {
    Running r(Options(db), &h);
    ASSERT_EQ(db.Exec("INSERT INTO src VALUES (1, 'x')"), "");
    ASSERT_TRUE(WaitFor([&] { return h.inserts.load() == 1; }, 15s));
    EXPECT_TRUE(r.Stop().ok());
  }
  // (the walsender of the stopped consumer may take a moment to release the slot)
  ASSERT_TRUE(
      WaitFor([&] { return db.Exec("SELECT pg_drop_replication_slot('t_slot')").empty(); }, 10s));
  ASSERT_EQ(db.Exec("INSERT INTO src VALUES (2, 'lost')"), "");
  CdcConsumer c(Options(db), &h);
  std::atomic<bool> stop{false};
  Status s = c.Run(stop);
  EXPECT_EQ(s.code(), ENOENT) << s.message();
  EXPECT_NE(s.message().find("does not exist"), std::string::npos) << s.message();
  auto alarms = consumer_state::OpenAlarms(*db.conn, "test");
  ASSERT_TRUE(alarms.ok());
  ASSERT_EQ(alarms->size(), 1u);
  EXPECT_EQ((*alarms)[0].kind, "slot_missing");
  EXPECT_TRUE((*alarms)[0].gap_since.has_value());
  EXPECT_NE((*alarms)[0].message.find("cdc replay"), std::string::npos);
}

// Writes src rows continuously while the server restarts cleanly and then crashes
// (immediate shutdown). Every row that exists afterwards has exactly one effect: nothing lost,
// nothing applied twice, although the slot's own position may go backwards.
TEST(CdcConsumer, ResumesFromItsOwnPositionAcrossServerRestarts) {
  REQUIRE_CDC_DATABASE(db, "cdc_restart");
  MakeSource(db);
  CountingHandler h;
  ConsumerOptions o = Options(db);
  o.retry_max = 300ms;
  o.reconnect_max = 300ms;
  Running r(o, &h);
  std::atomic<int> written{0};
  std::atomic<bool> stop_writer{false};
  std::thread writer([&] {
    std::unique_ptr<PgConnection> c;
    int k = 1;
    while (!stop_writer.load() && k <= 600) {
      if (!c || !c->connected()) {
        auto n = PgConnection::Connect(db.url, 1);
        if (!n.ok()) {
          std::this_thread::sleep_for(50ms);
          continue;
        }
        c = std::move(*n);
        (void)c->Exec("SET synchronous_commit = on");  // acknowledged rows survive the crash
      }
      auto res = c->Exec("INSERT INTO src VALUES ($1, 'w') ON CONFLICT (k) DO NOTHING",
                         {std::to_string(k)});
      if (res.ok()) {
        written = k++;
      } else {
        (void)c->EnsureConnected();
        std::this_thread::sleep_for(20ms);
      }
      std::this_thread::sleep_for(2ms);
    }
  });
  ASSERT_TRUE(WaitFor([&] { return written.load() >= 200; }, 30s));
  ASSERT_TRUE(db.cluster->Stop().ok());  // fast shutdown: a clean restart
  ASSERT_TRUE(db.cluster->Start().ok());
  ASSERT_TRUE(WaitFor([&] { return written.load() >= 400; }, 60s));
  kill(db.cluster->pid(), SIGQUIT);  // pg_ctl stop -m immediate: a crash
  ASSERT_TRUE(db.cluster->Stop().ok());
  ASSERT_TRUE(db.cluster->Start().ok());
  ASSERT_TRUE(WaitFor([&] { return written.load() >= 600; }, 60s));
  stop_writer = true;
  writer.join();
  int64_t rows = db.Int("SELECT count(*) FROM src");
  EXPECT_EQ(rows, 600);  // every acknowledged write survived
  EXPECT_TRUE(WaitFor([&] { return db.Int("SELECT count(*) FROM effects") == rows; }, 60s))
      << db.Int("SELECT count(*) FROM effects") << " effects for " << rows << " rows";
  EXPECT_TRUE(r.Stop().ok());
  EXPECT_EQ(db.Int("SELECT count(*) FROM src s LEFT JOIN effects e USING (k) WHERE e.k IS NULL"),
            0);
  EXPECT_EQ(db.Int("SELECT count(*) FROM effects WHERE n <> 1"), 0);
  EXPECT_GE(r.consumer.stats().sessions.load(), 3u);
  std::printf("sessions %llu, transactions %llu, dropped as already handled %llu\n",
              static_cast<unsigned long long>(r.consumer.stats().sessions.load()),
              static_cast<unsigned long long>(r.consumer.stats().transactions.load()),
              static_cast<unsigned long long>(r.consumer.stats().skipped_transactions.load()));
}

// Records every group (values copied out) for inspection.
class RecordingHandler : public ChangeHandler {
 public:
  struct Row {
    std::string op, table;
    char old_kind = 0;
    std::vector<std::string> columns;
    std::map<std::string, std::string> values;  // text; "<null>", "<unchanged>"
    std::map<std::string, std::string> old;
  };
  Status Handle(std::span<const EventGroup* const> groups, PgConnection*) override {
    std::lock_guard lock(mu);
    for (const EventGroup* g : groups) {
      for (const Change& c : g->changes()) {
        if (!c.relation) continue;
        Row row;
        row.op = ChangeKindName(c.kind);
        row.table = c.relation->relname;
        row.old_kind = c.old_kind;
        for (const auto& col : c.relation->columns) row.columns.push_back(col.name);
        auto copy = [](const TupleView& t, std::map<std::string, std::string>& out) {
          for (size_t i = 0; i < t.size(); ++i) {
            out[t.column_name(i)] = t.is_null(i)              ? "<null>"
                                    : t.is_unchanged_toast(i) ? "<unchanged>"
                                                              : std::string(t.bytes(i));
          }
        };
        copy(g->NewTuple(c), row.values);
        copy(g->OldTuple(c), row.old);
        rows.push_back(std::move(row));
      }
    }
    return Status::Ok();
  }
  std::mutex mu;
  std::vector<Row> rows;
  size_t size() {
    std::lock_guard lock(mu);
    return rows.size();
  }
};

TEST(CdcConsumer, AlterTableAndReplicaIdentityMidStream) {
  REQUIRE_CDC_DATABASE(db, "cdc_ddl");
  MakeSource(db);
  ASSERT_EQ(db.Exec("CREATE TABLE ddl_t (id int PRIMARY KEY, a text); ALTER PUBLICATION t_pub "
                    "ADD TABLE ddl_t"),
            "");
  RecordingHandler h;
  Running r(Options(db, ""), &h);
  ASSERT_TRUE(WaitFor([&] { return r.consumer.stats().sessions.load() == 1; }, 10s));
  for (const char* sql :
       {"INSERT INTO ddl_t VALUES (1, 'a1')", "ALTER TABLE ddl_t ADD COLUMN b int DEFAULT 7",
        "INSERT INTO ddl_t VALUES (2, 'a2', 22)", "UPDATE ddl_t SET a = 'a1x' WHERE id = 1",
        "ALTER TABLE ddl_t DROP COLUMN a", "INSERT INTO ddl_t VALUES (3, 33)",
        "ALTER TABLE ddl_t REPLICA IDENTITY FULL", "UPDATE ddl_t SET b = 34 WHERE id = 3",
        "DELETE FROM ddl_t WHERE id = 2", "ALTER TABLE ddl_t REPLICA IDENTITY DEFAULT",
        "UPDATE ddl_t SET id = 30 WHERE id = 3"}) {
    ASSERT_EQ(db.Exec(sql), "") << sql;
  }
  ASSERT_TRUE(WaitFor([&] { return h.size() == 7; }, 15s)) << h.size();
  std::lock_guard lock(h.mu);
  auto& rows = h.rows;
  EXPECT_EQ(rows[0].columns, (std::vector<std::string>{"id", "a"}));
  EXPECT_EQ(rows[1].columns, (std::vector<std::string>{"id", "a", "b"}));
  EXPECT_EQ(rows[1].values["b"], "22");
  EXPECT_EQ(rows[2].values["b"], "7");  // the default of the added column
  EXPECT_EQ(rows[2].values["a"], "a1x");
  EXPECT_EQ(rows[3].columns, (std::vector<std::string>{"id", "b"}));
  EXPECT_EQ(rows[3].values["b"], "33");
  EXPECT_EQ(rows[4].old_kind, 'O');  // REPLICA IDENTITY FULL: the old row
  EXPECT_EQ(rows[4].old["b"], "33");
  EXPECT_EQ(rows[4].values["b"], "34");
  EXPECT_EQ(rows[5].op, "delete");
  EXPECT_EQ(rows[5].old["b"], "22");  // FULL: the whole old row, not only the key
  EXPECT_EQ(rows[6].old_kind, 'K');   // back to DEFAULT, and the key changed
  EXPECT_EQ(rows[6].old["id"], "3");
  EXPECT_EQ(rows[6].values["id"], "30");
}

// An UPDATE that leaves a TOASTed value alone: 'u', which handlers and `cdc tail --json` keep
// distinct from NULL.
TEST(CdcConsumer, UnchangedToastNeverBecomesNull) {
  REQUIRE_CDC_DATABASE(db, "cdc_toast");
  MakeSource(db);
  ASSERT_EQ(db.Exec("CREATE TABLE toasty (id int PRIMARY KEY, big text, n int); ALTER TABLE "
                    "toasty ALTER COLUMN big SET STORAGE EXTERNAL; ALTER PUBLICATION t_pub ADD "
                    "TABLE toasty"),
            "");
  RecordingHandler h;
  Running r(Options(db, ""), &h);
  ASSERT_TRUE(WaitFor([&] { return r.consumer.stats().sessions.load() == 1; }, 10s));
  ASSERT_EQ(db.Exec("INSERT INTO toasty SELECT 1, string_agg(md5(i::text), ''), 0 FROM "
                    "generate_series(1, 500) i"),
            "");
  ASSERT_EQ(db.Exec("UPDATE toasty SET n = 1 WHERE id = 1"), "");
  ASSERT_EQ(db.Exec("UPDATE toasty SET big = NULL, n = 2 WHERE id = 1"), "");
  ASSERT_TRUE(WaitFor([&] { return h.size() == 3; }, 15s));
  std::lock_guard lock(h.mu);
  EXPECT_EQ(h.rows[0].values["big"].size(), 500u * 32);
  EXPECT_EQ(h.rows[1].values["big"], "<unchanged>");
  EXPECT_EQ(h.rows[1].values["n"], "1");
  EXPECT_EQ(h.rows[2].values["big"], "<null>");  // a real NULL is still NULL
}

}  // namespace
}  // namespace diskinv
