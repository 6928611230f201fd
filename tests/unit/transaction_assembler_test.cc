// TransactionAssembler: grouping per transaction, bounded parts, relation versions, skipping
// what the consumer already handled, and refusing what it must not guess at.
#include <gtest/gtest.h>

#include "cdc/transaction_assembler.h"
#include "support/pgoutput_builder.h"

namespace diskinv {
namespace {

using namespace diskinv::testing;

struct Collected {
  std::vector<std::unique_ptr<EventGroup>> groups;
  TransactionAssembler::Sink Sink() {
    return [this](std::unique_ptr<EventGroup> g) {
      groups.push_back(std::move(g));
      return Status::Ok();
    };
  }
};

Status FeedFixture(TransactionAssembler& a, const Fixture& f, Collected& out) {
  for (const auto& [lsn, payload] : f.messages) {
    if (Status s = a.FeedPayload(payload, lsn, out.Sink()); !s.ok()) return s;
  }
  return Status::Ok();
}

TEST(TransactionAssembler, OneGroupPerTransaction) {
  EventGroupPool pool;
  TransactionAssembler a({}, &pool);
  Collected c;
  Fixture f = ReadPgoutputFixture("basic");
  ASSERT_TRUE(FeedFixture(a, f, c).ok());
  // 6 transactions (insert x3, update, key update, delete, truncate, message+insert) and the
  // non-transactional message.
  ASSERT_EQ(c.groups.size(), 7u);
  const EventGroup& g = *c.groups[0];
  EXPECT_TRUE(g.last_part);
  EXPECT_TRUE(g.transactional);
  EXPECT_EQ(g.changes().size(), 3u);
  EXPECT_EQ(g.end_lsn, f.messages[5].first);  // the Commit frame's LSN
  EXPECT_EQ(g.commit_lsn, g.final_lsn);
  const Change& ins = g.changes()[1];
  EXPECT_EQ(ins.kind, ChangeKind::kInsert);
  EXPECT_EQ(ins.relation->qualified_name, "public.fx_basic");
  TupleView t = g.NewTuple(ins);
  EXPECT_EQ(t.Text("id"), "2");
  EXPECT_TRUE(t.is_null(1));
  EXPECT_FALSE(t.Text("name").has_value());
  EXPECT_EQ(t.Text("n"), "20");
  EXPECT_FALSE(t.Text("nope").has_value());
  const EventGroup& key_update = *c.groups[2];
  EXPECT_EQ(key_update.changes()[0].old_kind, 'K');
  EXPECT_EQ(key_update.OldTuple(key_update.changes()[0]).Text("id"), "2");
  EXPECT_EQ(key_update.NewTuple(key_update.changes()[0]).Text("id"), "4");
  const EventGroup& del = *c.groups[3];
  EXPECT_EQ(del.changes()[0].kind, ChangeKind::kDelete);
  EXPECT_TRUE(del.NewTuple(del.changes()[0]).empty());
  const EventGroup& trunc = *c.groups[4];
  ASSERT_EQ(trunc.changes()[0].kind, ChangeKind::kTruncate);
  ASSERT_EQ(trunc.Truncated(trunc.changes()[0]).size(), 1u);
  EXPECT_EQ(trunc.Truncated(trunc.changes()[0])[0]->relname, "fx_basic");
  const EventGroup& msg = *c.groups[5];
  EXPECT_EQ(msg.changes()[0].kind, ChangeKind::kMessage);
  EXPECT_EQ(msg.MessagePrefix(msg.changes()[0]), "diskinv");
  EXPECT_EQ(msg.MessageContent(msg.changes()[0]), "hello");
  EXPECT_FALSE(c.groups[6]->transactional);
  EXPECT_EQ(c.groups[6]->MessageContent(c.groups[6]->changes()[0]), "outside");
  EXPECT_EQ(a.stats().transactions, 6u);
  EXPECT_FALSE(a.in_transaction());
}

TEST(TransactionAssembler, ChangesKeepTheRelationVersionOfTheirTime) {
  EventGroupPool pool;
  TransactionAssembler a({}, &pool);
  Collected c;
  ASSERT_TRUE(FeedFixture(a, ReadPgoutputFixture("ddl"), c).ok());
  ASSERT_EQ(c.groups.size(), 5u);
  auto cols = [](const Change& ch) { return ch.relation->columns.size(); };
  EXPECT_EQ(cols(c.groups[0]->changes()[0]), 2u);
  EXPECT_EQ(c.groups[1]->NewTuple(c.groups[1]->changes()[0]).Text("b"), "22");
  EXPECT_EQ(cols(c.groups[1]->changes()[0]), 3u);
  EXPECT_EQ(cols(c.groups[2]->changes()[0]), 2u);
  EXPECT_EQ(c.groups[2]->NewTuple(c.groups[2]->changes()[0]).Find("a"), -1);
  // The first group's relation is still the old version, alive while the group is.
  EXPECT_EQ(c.groups[0]->changes()[0].relation->columns[1].name, "a");
  const EventGroup& upd = *c.groups[3];
  EXPECT_EQ(upd.changes()[0].relation->replica_identity, 'f');
  EXPECT_EQ(upd.OldTuple(upd.changes()[0]).Text("b"), "33");
  EXPECT_EQ(a.relations().updates(), 4u);
}

TEST(TransactionAssembler, UnchangedToastStaysDistinctFromNull) {
  EventGroupPool pool;
  TransactionAssembler a({}, &pool);
  Collected c;
  ASSERT_TRUE(FeedFixture(a, ReadPgoutputFixture("toast"), c).ok());
  ASSERT_EQ(c.groups.size(), 3u);
  TupleView upd = c.groups[1]->NewTuple(c.groups[1]->changes()[0]);
  EXPECT_TRUE(upd.is_unchanged_toast(1));
  EXPECT_FALSE(upd.is_null(1));
  EXPECT_FALSE(upd.Text("big").has_value());
  TupleView full_old = c.groups[2]->OldTuple(c.groups[2]->changes()[0]);
  EXPECT_EQ(full_old.Text("big")->size(), 400u * 32);
}

// A 100,000-row transaction arrives as bounded parts; only the last carries the commit.
TEST(TransactionAssembler, LargeTransactionInBoundedParts) {
  EventGroupPool pool;
  AssemblerOptions o;
  o.max_changes = 1000;
  o.max_bytes = 1 << 20;
  TransactionAssembler a(o, &pool);
  size_t parts = 0, changes = 0, peak = 0;
  bool committed = false;
  auto sink = [&](std::unique_ptr<EventGroup> g) {
    ++parts;
    changes += g->changes().size();
    peak = std::max(peak, g->MemoryBytes());
    EXPECT_EQ(g->xid, 77u);
    EXPECT_EQ(g->part, parts - 1);
    if (g->last_part) {
      committed = true;
      EXPECT_EQ(g->end_lsn, 0x9000000u);
    } else {
      EXPECT_EQ(g->end_lsn, 0u);
    }
    pool.Release(std::move(g));
    return Status::Ok();
  };
  ASSERT_TRUE(a.FeedPayload(PgRelation(9, "diskinv", "t", {{"id", 20, true}, {"pad", 25}}), 1, sink).ok());
  ASSERT_TRUE(a.FeedPayload(PgBegin(0x8000000, 5, 77), 2, sink).ok());
  std::string pad(200, 'p');
  for (int i = 0; i < 100000; ++i) {
    ASSERT_TRUE(a.FeedPayload(PgInsert(9, {T(std::to_string(i)), T(pad)}), 3 + i, sink).ok());
  }
  ASSERT_TRUE(a.FeedPayload(PgCommit(0x8000000, 0x9000000, 5), 0x9000000, sink).ok());
  EXPECT_TRUE(committed);
  EXPECT_EQ(changes, 100000u);
  EXPECT_EQ(parts, 100u);
  // ~20 MB of row data went through groups of at most ~1 MiB of buffers each.
  EXPECT_LT(peak, 2u << 20);
}

TEST(TransactionAssembler, SkipsTransactionsBeforeThePosition) {
  EventGroupPool pool;
  Fixture f = ReadPgoutputFixture("basic");
  Collected all;
  TransactionAssembler first({}, &pool);
  ASSERT_TRUE(FeedFixture(first, f, all).ok());
  // Resume after the third transaction: what committed before is dropped while decoding.
  AssemblerOptions o;
  o.skip_before = all.groups[2]->end_lsn;
  TransactionAssembler a(o, &pool);
  Collected c;
  ASSERT_TRUE(FeedFixture(a, f, c).ok());
  EXPECT_EQ(a.stats().skipped_transactions, 3u);
  ASSERT_EQ(c.groups.size(), 4u);
  EXPECT_EQ(c.groups[0]->end_lsn, all.groups[3]->end_lsn);
}

TEST(TransactionAssembler, RefusesWhatItCannotTrust) {
  EventGroupPool pool;
  auto sink = [](std::unique_ptr<EventGroup>) { return Status::Ok(); };
  {
    TransactionAssembler a({}, &pool);
    ASSERT_TRUE(a.FeedPayload(PgBegin(10, 0, 1), 1, sink).ok());
    Status s = a.FeedPayload(PgInsert(42, {T("1")}), 2, sink);
    EXPECT_NE(s.message().find("before any Relation message"), std::string::npos) << s.message();
    EXPECT_EQ(a.stats().decode_errors, 1u);
  }
  {
    TransactionAssembler a({}, &pool);
    ASSERT_TRUE(a.FeedPayload(PgRelation(9, "s", "t", {{"id", 23, true}}), 1, sink).ok());
    ASSERT_TRUE(a.FeedPayload(PgBegin(10, 0, 1), 2, sink).ok());
    Status s = a.FeedPayload(PgInsert(9, {T("1"), T("2")}), 3, sink);
    EXPECT_NE(s.message().find("has 2 columns, its Relation message has 1"), std::string::npos)
        << s.message();
  }
  {
    TransactionAssembler a({}, &pool);
    Status s = a.FeedPayload(PgCommit(1, 2, 0), 1, sink);
    EXPECT_NE(s.message().find("outside a transaction"), std::string::npos) << s.message();
    ASSERT_TRUE(a.FeedPayload(PgBegin(10, 0, 1), 2, sink).ok());
    s = a.FeedPayload(PgBegin(20, 0, 2), 3, sink);
    EXPECT_NE(s.message().find("still open"), std::string::npos) << s.message();
    s = a.FeedPayload(PgCommit(11, 12, 0), 4, sink);
    EXPECT_NE(s.message().find("differs from its Begin"), std::string::npos) << s.message();
  }
  {
    // Streamed transactions are decoded, then refused clearly.
    Fixture f = ReadPgoutputFixture("stream");
    AssemblerOptions o;
    o.proto_version = 2;
    TransactionAssembler a(o, &pool);
    Status s = a.FeedPayload(f.messages[0].second, f.messages[0].first, sink);
    EXPECT_NE(s.message().find("streamed and two-phase transactions are not supported"),
              std::string::npos)
        << s.message();
  }
}

TEST(TransactionAssembler, ResetForgetsHalfATransaction) {
  EventGroupPool pool;
  TransactionAssembler a({}, &pool);
  Collected c;
  ASSERT_TRUE(a.FeedPayload(PgRelation(9, "s", "t", {{"id", 23, true}}), 1, c.Sink()).ok());
  ASSERT_TRUE(a.FeedPayload(PgBegin(10, 0, 1), 2, c.Sink()).ok());
  ASSERT_TRUE(a.FeedPayload(PgInsert(9, {T("1")}), 3, c.Sink()).ok());
  EXPECT_TRUE(a.in_transaction());
  a.Reset();
  EXPECT_FALSE(a.in_transaction());
  EXPECT_EQ(a.relations().size(), 0u);
  EXPECT_TRUE(c.groups.empty());
}

}  // namespace
}  // namespace diskinv
