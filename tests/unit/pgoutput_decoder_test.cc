// The pgoutput decoder over streams captured from PostgreSQL 15.18 (fixtures/pgoutput,
// capture.py) and over malformed messages.
#include <gtest/gtest.h>

#include "cdc/lsn.h"
#include "cdc/pgoutput_decoder.h"
#include "cdc/replication_message.h"
#include "support/pgoutput_builder.h"

namespace diskinv {
namespace {

using testing::Fixture;
using testing::ReadPgoutputFixture;

// Decodes a whole fixture, tracking Stream Start/Stop, and returns the messages' types.
std::string DecodeAll(const Fixture& f, std::vector<PgoutputMessage>* out = nullptr) {
  PgoutputDecodeOptions opt;
  opt.proto_version = f.proto_version();
  std::string tags;
  for (const auto& [lsn, payload] : f.messages) {
    PgoutputMessage m;
    Status s = DecodePgoutput(payload, opt, &m);
    EXPECT_TRUE(s.ok()) << FormatLsn(lsn) << ": " << s.message();
    if (!s.ok()) break;
    if (m.type == PgoutputType::kStreamStart) opt.in_stream = true;
    if (m.type == PgoutputType::kStreamStop) opt.in_stream = false;
    tags += static_cast<char>(m.type);
    if (out) out->push_back(m);
  }
  return tags;
}

std::string Text(const TupleColumn& c) { return std::string(c.data); }

TEST(PgoutputDecoder, EveryCapturedFixtureDecodes) {
  auto names = testing::PgoutputFixtureNames();
  ASSERT_GE(names.size(), 8u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    Fixture f = ReadPgoutputFixture(name);
    ASSERT_FALSE(f.messages.empty());
    EXPECT_EQ(DecodeAll(f).size(), f.messages.size());
  }
}

TEST(PgoutputDecoder, BasicStream) {
  Fixture f = ReadPgoutputFixture("basic");
  std::vector<PgoutputMessage> m;
  // Messages keep views into the fixture: f must outlive m.
  EXPECT_EQ(DecodeAll(f, &m), "BRIIICBUCBUCBDCBRTCBMRICM");
  ASSERT_EQ(m.size(), 25u);
  const PgoutputMessage& rel = m[1];
  EXPECT_EQ(rel.nspname, "public");
  EXPECT_EQ(rel.relname, "fx_basic");
  EXPECT_EQ(rel.replica_identity, 'd');
  ASSERT_EQ(rel.attributes.size(), 3u);
  EXPECT_EQ(rel.attributes[0].name, "id");
  EXPECT_TRUE(rel.attributes[0].key);
  EXPECT_EQ(rel.attributes[0].type_oid, 23u);  // int4
  EXPECT_FALSE(rel.attributes[1].key);
  EXPECT_EQ(rel.attributes[2].type_oid, 20u);  // int8
  // Begin's final LSN is the commit record; Commit's frame LSN is its end LSN.
  EXPECT_EQ(m[0].final_lsn, m[5].commit_lsn);
  EXPECT_EQ(f.messages[5].first, m[5].end_lsn);
  EXPECT_GT(m[5].end_lsn, m[5].commit_lsn);
  EXPECT_EQ(m[0].timestamp, m[5].timestamp);
  // Three inserts in one transaction; NULLs are 'n', never empty text.
  ASSERT_EQ(m[2].new_tuple.size(), 3u);
  EXPECT_EQ(Text(m[2].new_tuple[0]), "1");
  EXPECT_EQ(Text(m[2].new_tuple[1]), "one");
  EXPECT_EQ(m[3].new_tuple[1].kind, TupleKind::kNull);
  EXPECT_EQ(m[4].new_tuple[2].kind, TupleKind::kNull);
  // A plain update has no old tuple; a key change sends the old key ('K').
  EXPECT_EQ(m[7].old_kind, 0);
  EXPECT_EQ(Text(m[7].new_tuple[1]), "uno");
  EXPECT_EQ(m[10].old_kind, 'K');
  EXPECT_EQ(Text(m[10].old_tuple[0]), "2");
  EXPECT_EQ(m[10].old_tuple[1].kind, TupleKind::kNull);
  EXPECT_EQ(Text(m[10].new_tuple[0]), "4");
  // Delete under REPLICA IDENTITY DEFAULT: the key, other columns 'n'.
  EXPECT_EQ(m[13].old_kind, 'K');
  EXPECT_EQ(Text(m[13].old_tuple[0]), "3");
  // Truncate: one relation, no options.
  ASSERT_EQ(m[17].relids.size(), 1u);
  EXPECT_EQ(m[17].relids[0], rel.relid);
  EXPECT_EQ(m[17].flags, 0);
  // A transactional logical message inside B/C, a non-transactional one outside.
  EXPECT_EQ(m[20].flags, 1);
  EXPECT_EQ(m[20].prefix, "diskinv");
  EXPECT_EQ(m[20].content, "hello");
  EXPECT_EQ(m[24].flags, 0);
  EXPECT_EQ(m[24].content, "outside");
}

TEST(PgoutputDecoder, TypeMessageDescribesEnum) {
  Fixture f = ReadPgoutputFixture("types");
  std::vector<PgoutputMessage> m;
  EXPECT_EQ(DecodeAll(f, &m), "BYRIC");
  EXPECT_EQ(m[1].relname, "fx_media");  // Type: relname holds the type name
  EXPECT_EQ(m[1].nspname, "public");
  EXPECT_EQ(m[2].attributes[1].type_oid, m[1].type_oid);
  EXPECT_EQ(Text(m[3].new_tuple[1]), "nvme");
  EXPECT_EQ(Text(m[3].new_tuple[2]), "4000787030016");
}

TEST(PgoutputDecoder, BinaryTupleData) {
  Fixture f = ReadPgoutputFixture("binary");
  std::vector<PgoutputMessage> m;
  EXPECT_EQ(DecodeAll(f, &m), "BYRICBUC");
  const auto& ins = m[3].new_tuple;
  ASSERT_EQ(ins.size(), 3u);
  for (const auto& c : ins) EXPECT_EQ(c.kind, TupleKind::kBinary);
  ASSERT_EQ(ins[0].data.size(), 8u);  // int8 typsend: big-endian
  uint64_t v = 0;
  for (unsigned char c : ins[0].data) v = (v << 8) | c;
  EXPECT_EQ(v, 140861u);
  EXPECT_EQ(ins[1].data, "nvme");
}

TEST(PgoutputDecoder, UnchangedToastIsNotNull) {
  Fixture f = ReadPgoutputFixture("toast");
  std::vector<PgoutputMessage> m;
  EXPECT_EQ(DecodeAll(f, &m), "BRICBUCBRUC");
  EXPECT_EQ(m[2].new_tuple[1].kind, TupleKind::kText);
  EXPECT_EQ(m[2].new_tuple[1].data.size(), 400u * 32);
  // UPDATE that does not touch the TOASTed column: 'u', not NULL.
  EXPECT_EQ(m[5].new_tuple[1].kind, TupleKind::kUnchangedToast);
  EXPECT_EQ(Text(m[5].new_tuple[2]), "1");
  // Under REPLICA IDENTITY FULL the new tuple still says 'u'; the old one has the value.
  EXPECT_EQ(m[8].replica_identity, 'f');
  EXPECT_EQ(m[9].old_kind, 'O');
  EXPECT_EQ(m[9].new_tuple[1].kind, TupleKind::kUnchangedToast);
  EXPECT_EQ(m[9].old_tuple[1].kind, TupleKind::kText);
  EXPECT_EQ(m[9].old_tuple[1].data.size(), 400u * 32);
}

TEST(PgoutputDecoder, RelationResentAfterDdl) {
  Fixture f = ReadPgoutputFixture("ddl");
  std::vector<PgoutputMessage> m;
  EXPECT_EQ(DecodeAll(f, &m), "BRICBRICBRICBRUCBDC");
  auto names = [](const PgoutputMessage& r) {
    std::string s;
    for (const auto& a : r.attributes) s += std::string(a.name) + ",";
    return s;
  };
  EXPECT_EQ(names(m[1]), "id,a,");
  EXPECT_EQ(names(m[5]), "id,a,b,");   // ADD COLUMN b
  EXPECT_EQ(names(m[9]), "id,b,");     // DROP COLUMN a
  EXPECT_EQ(m[13].replica_identity, 'f');
  EXPECT_TRUE(m[13].attributes[1].key);  // FULL: every column is part of the identity
  EXPECT_EQ(m[14].old_kind, 'O');
  EXPECT_EQ(Text(m[14].old_tuple[1]), "33");
  EXPECT_EQ(Text(m[14].new_tuple[1]), "34");
  EXPECT_EQ(m[17].old_kind, 'O');  // delete under FULL: the whole old row
  EXPECT_EQ(Text(m[17].old_tuple[0]), "1");
}

TEST(PgoutputDecoder, Protocol2Streaming) {
  Fixture f = ReadPgoutputFixture("stream");
  std::vector<PgoutputMessage> m;
  std::string tags = DecodeAll(f, &m);
  ASSERT_EQ(tags.size(), f.messages.size());
  EXPECT_EQ(tags.front(), 'S');
  EXPECT_EQ(tags.back(), 'A');
  uint32_t committed = 0;
  for (const auto& x : m) {
    if (x.type == PgoutputType::kStreamCommit) committed = x.xid;
  }
  ASSERT_NE(committed, 0u);
  EXPECT_TRUE(m[0].first_segment);
  // Inside a stream every change carries its transaction's xid.
  EXPECT_TRUE(m[1].has_xid);
  EXPECT_EQ(m[1].xid, m[0].xid);
  EXPECT_TRUE(m[2].has_xid);
  const PgoutputMessage& abort = m.back();
  EXPECT_NE(abort.xid, committed);
  EXPECT_EQ(abort.subxid, abort.xid);
  // Streaming messages need protocol 2.
  PgoutputMessage one;
  Status s = DecodePgoutput(f.messages[0].second, {1, false}, &one);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("protocol version 2"), std::string::npos) << s.message();
}

TEST(PgoutputDecoder, OriginAndTwoPhase) {
  Fixture o = ReadPgoutputFixture("origin");
  std::vector<PgoutputMessage> m;
  EXPECT_EQ(DecodeAll(o, &m), "BORIC");
  EXPECT_EQ(m[1].origin_name, "fx_upstream");
  EXPECT_EQ(FormatLsn(m[1].origin_lsn), "0/ABCDEF");
  Fixture t = ReadPgoutputFixture("twophase");
  std::vector<PgoutputMessage> p;
  EXPECT_EQ(DecodeAll(t, &p), "bRIPKbIPr");
  EXPECT_EQ(p[0].gid, "fx_gid_1");
  EXPECT_EQ(p[3].gid, "fx_gid_1");
  EXPECT_EQ(p[4].gid, "fx_gid_1");
  EXPECT_EQ(p[8].gid, "fx_gid_2");
  EXPECT_EQ(p[3].xid, p[0].xid);
}

// Every strict prefix of a captured message is rejected with a reason, as is any extra byte.
TEST(PgoutputDecoder, TruncatedAndTrailingBytesAreRejected) {
  for (const char* name : {"basic", "ddl", "types", "binary", "origin", "twophase"}) {
    Fixture f = ReadPgoutputFixture(name);
    PgoutputDecodeOptions opt{f.proto_version(), false};
    for (const auto& [lsn, payload] : f.messages) {
      PgoutputMessage m;
      for (size_t n = 0; n < payload.size(); ++n) {
        Status s = DecodePgoutput(std::string_view(payload).substr(0, n), opt, &m);
        EXPECT_FALSE(s.ok()) << name << " " << payload[0] << " cut at " << n;
        EXPECT_FALSE(s.message().empty());
      }
      Status s = DecodePgoutput(payload + "x", opt, &m);
      EXPECT_FALSE(s.ok()) << name << " " << payload[0];
      EXPECT_NE(s.message().find("trailing"), std::string::npos) << s.message();
    }
  }
}

TEST(PgoutputDecoder, MalformedMessages) {
  PgoutputMessage m;
  PgoutputDecodeOptions opt;
  auto err = [&](const std::string& bytes) {
    Status s = DecodePgoutput(bytes, opt, &m);
    EXPECT_FALSE(s.ok()) << testing::T(bytes).data.size();
    return s.message();
  };
  EXPECT_NE(err("").find("empty"), std::string::npos);
  EXPECT_NE(err("Z").find("unknown message type 0x5a"), std::string::npos);
  EXPECT_NE(err(std::string(1, '\xff')).find("0xff"), std::string::npos);
  // Unknown tuple kind.
  std::string ins = testing::PgInsert(7, {testing::T("1")});
  ins[8] = 'x';  // I, relid (4), N, column count (2), kind
  EXPECT_NE(err(ins).find("unknown kind 0x78"), std::string::npos);
  // A tuple announcing more columns than PostgreSQL allows.
  std::string many = "I";
  many += std::string("\0\0\0\x07N\x07\x00", 7);
  EXPECT_NE(err(many).find("more than PostgreSQL allows"), std::string::npos);
  // A negative value length.
  std::string neg = testing::PgInsert(7, {testing::T("1")});
  neg[9] = '\xff';  // the length's high byte
  EXPECT_FALSE(DecodePgoutput(neg, opt, &m).ok());
  // Insert without its 'N'.
  std::string noN = testing::PgInsert(7, {testing::T("1")});
  noN[5] = 'Q';
  EXPECT_NE(err(noN).find("expected 'N'"), std::string::npos);
  // Relation name without a NUL.
  std::string rel = "R";
  rel += std::string("\0\0\0\x07", 4) + "public";
  EXPECT_NE(err(rel).find("no terminating NUL"), std::string::npos);
  // Unknown replica identity and column flags.
  std::string ri = testing::PgRelation(7, "s", "t", {{"id", 23, true}}, 'z');
  EXPECT_NE(err(ri).find("replica identity"), std::string::npos);
  // Truncate of zero relations.
  std::string tr = "T";
  tr += std::string("\0\0\0\0\0", 5);
  EXPECT_FALSE(DecodePgoutput(tr, opt, &m).ok());
  // A valid message after all that still decodes (the decoder keeps no state).
  EXPECT_TRUE(DecodePgoutput(testing::PgInsert(7, {testing::T("1"), testing::Null()}), opt, &m).ok());
  EXPECT_EQ(m.new_tuple.size(), 2u);
}

TEST(Lsn, FormatAndParse) {
  EXPECT_EQ(FormatLsn(0), "0/0");
  EXPECT_EQ(FormatLsn(0x16B374D848ull), "16/B374D848");
  EXPECT_EQ(*ParseLsn("16/B374D848"), 0x16B374D848ull);
  EXPECT_EQ(*ParseLsn("0/abcdef"), 0xABCDEFull);
  for (const char* bad : {"", "/", "1/", "/1", "G/1", "1/2/3", "123456789/1", " 1/1"}) {
    EXPECT_FALSE(ParseLsn(bad).ok()) << bad;
  }
  EXPECT_EQ(FormatPgTimestamp(0), "2000-01-01T00:00:00.000000Z");
}

TEST(ReplicationMessage, FramesRoundTrip) {
  auto w = ParseServerFrame(XLogDataFrame(0x100, 0x200, 42, "Bpayload"));
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->kind, ServerFrame::kXLogData);
  EXPECT_EQ(w->xlog.data_start, 0x100u);
  EXPECT_EQ(w->xlog.wal_end, 0x200u);
  EXPECT_EQ(w->xlog.payload, "Bpayload");
  auto k = ParseServerFrame(KeepaliveFrame(0x300, 7, true));
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->keepalive.wal_end, 0x300u);
  EXPECT_TRUE(k->keepalive.reply_requested);
  std::string r = StandbyStatusUpdate(1, 2, 3, 4, true);
  ASSERT_EQ(r.size(), 34u);
  EXPECT_EQ(r[0], 'r');
  EXPECT_EQ(r[16], 2);  // flush LSN, big-endian, last byte
  EXPECT_EQ(r[33], 1);
  EXPECT_FALSE(ParseServerFrame("").ok());
  EXPECT_FALSE(ParseServerFrame("w123").ok());
  EXPECT_FALSE(ParseServerFrame(KeepaliveFrame(1, 2, false) + "x").ok());
  EXPECT_FALSE(ParseServerFrame("q" + std::string(20, '\0')).ok());
}

}  // namespace
}  // namespace diskinv
