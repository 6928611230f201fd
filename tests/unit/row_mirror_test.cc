// RowMirror: etags kept as numbers give back their exact text, any other etag and rows of other
// nodes are kept whole, colliding uid hashes are told apart or reported Unknown, and 30,000
// rows take about 24 bytes each.
#include "store/row_mirror.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "store/migrations.h"

namespace diskinv {
namespace {

StoredRow Row(int64_t id, std::string etag, bool present = true, int64_t node = 7) {
  return {id, std::move(etag), present, node};
}

TEST(RowMirror, EtagsComeBackAsTheExactTextRead) {
  RowMirror m(7);
  const std::vector<StoredRow> rows = {
      Row(1, Fnv1aHex("a")),                          // the store's etag
      Row(2, "r" + Fnv1aHex("b"), false),             // a tombstone's
      Row(3, "0000000000000000"),                     // leading zeros
      Row(4, "ffffffffffffffff"),                     //
      Row(5, "00000000000000AB"),                     // upper case: not Fnv1aHex
      Row(6, "0123456789abcde"),                      // 15 digits
      Row(7, "0123456789abcdef0"),                    // 17 digits
      Row(8, "x" + std::string(32, 'e')),             // the trigger's random etag
      Row(9, ""),                                     // empty
      Row(10, "rr0123456789abcdef"),                  // a tombstone of a tombstone
      Row(11, "R0123456789abcdef"),                   //
      Row(12, "g123456789abcdef"),                    // not hex
      Row(13, "r0123456789abcdeg"),                   //
      Row(14, std::string("0123456789abcde\0", 16)),  // a NUL
      Row(15, Fnv1aHex("c"), true, 8),                // another node's row
  };
  for (const StoredRow& r : rows) m.Set(fmt::format("uid-{}", r.id), r);
  m.Compact();
  for (const StoredRow& r : rows) {
    auto got = m.Find(fmt::format("uid-{}", r.id));
    ASSERT_TRUE(got) << r.id;
    EXPECT_EQ(*got, r) << r.id;
  }
  EXPECT_EQ(m.size(), rows.size());
  // Rows 1-4 fit a record; the others (other texts, other node) are kept whole.
  EXPECT_EQ(m.side_rows(), rows.size() - 4);
  EXPECT_FALSE(m.Find("uid-16"));
  EXPECT_FALSE(m.Unknown("uid-16"));
}

TEST(RowMirror, ARowChangesBetweenRecordAndSideMap) {
  RowMirror m(7);
  m.Set("wwn:1", Row(1, "x-hand-edited"));
  EXPECT_EQ(m.side_rows(), 1u);
  m.Set("wwn:1", Row(1, Fnv1aHex("rewritten")));  // the store rewrote it
  EXPECT_EQ(m.side_rows(), 0u);
  EXPECT_EQ(*m.Find("wwn:1"), Row(1, Fnv1aHex("rewritten")));
  m.Set("wwn:1", Row(1, "r" + Fnv1aHex("rewritten"), false));
  EXPECT_EQ(*m.Find("wwn:1"), Row(1, "r" + Fnv1aHex("rewritten"), false));
  m.Set("wwn:1", Row(1, Fnv1aHex("moved"), true, 9));  // moved to node 9
  EXPECT_EQ(*m.Find("wwn:1"), Row(1, Fnv1aHex("moved"), true, 9));
  EXPECT_EQ(m.side_rows(), 1u);
  EXPECT_EQ(m.size(), 1u);
}

// Every uid has key 42: rows seen are told apart by uid; a uid never seen is Unknown.
TEST(RowMirror, CollidingUidsAreToldApartOrUnknown) {
  RowMirror m(7, [](std::string_view) { return uint64_t{42}; });
  m.Set("a", Row(1, Fnv1aHex("a")));
  // Only one row with key 42 seen: any uid of that key finds it (the store's writes are
  // guarded by uid, see row_mirror.h).
  EXPECT_EQ(*m.Find("b"), Row(1, Fnv1aHex("a")));
  EXPECT_FALSE(m.Unknown("b"));
  m.Set("b", Row(2, Fnv1aHex("b")));  // another row id: the key is shared, a's record dropped
  EXPECT_TRUE(m.Unknown("a"));
  EXPECT_FALSE(m.Find("a"));
  EXPECT_EQ(*m.Find("b"), Row(2, Fnv1aHex("b")));
  EXPECT_FALSE(m.Unknown("b"));
  m.Set("a", Row(1, Fnv1aHex("a")));  // read again by uid
  EXPECT_EQ(*m.Find("a"), Row(1, Fnv1aHex("a")));
  EXPECT_EQ(*m.Find("b"), Row(2, Fnv1aHex("b")));
  EXPECT_TRUE(m.Unknown("c"));
  EXPECT_FALSE(m.Find("c"));
  m.Set("b", Row(2, "r" + Fnv1aHex("b"), false));
  EXPECT_EQ(*m.Find("b"), Row(2, "r" + Fnv1aHex("b"), false));
  EXPECT_EQ(*m.Find("a"), Row(1, Fnv1aHex("a")));
  EXPECT_EQ(m.size(), 1u);
}

// A load that meets a shared key keeps the later rows by uid and drops the first (its uid is
// not known): shared() says so, the dropped uid is Unknown(), and once it is read again by
// uid every row of the key is kept by uid.
TEST(RowMirror, ALoadThatMeetsCollidingUidsSaysWhichToReadAgain) {
  auto hash = [](std::string_view uid) { return uint64_t{uid.starts_with("x") ? 1u : 2u}; };
  RowMirror m(7, hash);
  const std::vector<std::string> uids = {"x1", "x2", "x3", "y1"};
  m.Reserve(uids.size());
  for (size_t i = 0; i < uids.size(); ++i)
    m.Set(uids[i], Row(static_cast<int64_t>(i + 1), Fnv1aHex(uids[i])));
  m.Compact();
  EXPECT_EQ(m.shared(), 1u);
  EXPECT_TRUE(m.Unknown("x1"));
  EXPECT_FALSE(m.Find("x1"));
  m.Set("x1", Row(1, Fnv1aHex("x1")));  // read again by uid
  for (size_t i = 0; i < uids.size(); ++i) {
    EXPECT_EQ(*m.Find(uids[i]), Row(static_cast<int64_t>(i + 1), Fnv1aHex(uids[i]))) << uids[i];
    EXPECT_FALSE(m.Unknown(uids[i])) << uids[i];
  }
  EXPECT_EQ(m.size(), 2u);
  EXPECT_EQ(m.side_rows(), 3u);  // x1-x3; y1 is a record
  EXPECT_EQ(m.shared(), 1u);
  EXPECT_TRUE(m.Unknown("x4"));  // another uid of key 1: read it
  EXPECT_FALSE(m.Find("x4"));
  EXPECT_EQ(*m.Find("y2"), Row(4, Fnv1aHex("y1")));  // never seen: y1's row (writes are guarded)
}

// A row inserted again after a delete (new id, same uid) is not mistaken for the old one.
TEST(RowMirror, ANewIdForAUidReplacesTheRow) {
  RowMirror m(7);
  m.Set("wwn:1", Row(1, Fnv1aHex("a")));
  m.Set("wwn:1", Row(5, Fnv1aHex("a")));
  EXPECT_EQ(*m.Find("wwn:1"), Row(5, Fnv1aHex("a")));
  EXPECT_FALSE(m.Unknown("wwn:1"));
}

// Many rows Set in random order (through the tail and its merges), then updated: all found.
TEST(RowMirror, ManyRowsAreFoundAndTakeAbout24BytesEach) {
  const int n = 30000;
  RowMirror m(7);
  std::vector<int> order(n);
  for (int i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  std::shuffle(order.begin(), order.end(), std::mt19937(1));
  auto uid = [](int i) { return fmt::format("wwn:5000c500{:08x}-part{}", i, i % 3); };
  for (int i : order) {
    if (i % 2) m.Set(uid(i), Row(i + 1, Fnv1aHex(uid(i))));  // half one by one (tail merges)
  }
  std::vector<std::string> rest;
  for (int i = 0; i < n; i += 2) rest.push_back(uid(i));
  m.Reserve(rest.size());  // the other half as a load
  for (int i = 0; i < n; i += 2) m.Set(uid(i), Row(i + 1, Fnv1aHex(uid(i))));
  m.Compact();
  ASSERT_EQ(m.size(), static_cast<size_t>(n));
  EXPECT_EQ(m.side_rows(), 0u);
  EXPECT_LE(m.bytes(), n * 24 * 5 / 4 + 64 * 24);  // the 4.5 MB of a map by uid string
  for (int i = 0; i < n; i += 3) m.Set(uid(i), Row(i + 1, "r" + Fnv1aHex(uid(i)), false));
  for (int i = 0; i < n; ++i) {
    auto got = m.Find(uid(i));
    ASSERT_TRUE(got) << i;
    EXPECT_EQ(*got,
              i % 3 ? Row(i + 1, Fnv1aHex(uid(i))) : Row(i + 1, "r" + Fnv1aHex(uid(i)), false))
        << i;
  }
  EXPECT_FALSE(m.Find("wwn:none"));
  EXPECT_EQ(m.size(), static_cast<size_t>(n));
}

}  // namespace
}  // namespace diskinv
