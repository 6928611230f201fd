#include "model/packed_strings.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace diskinv {
namespace {

using namespace std::string_literals;

TEST(PackedStrings, KeepsEveryEntryInOrderWhateverItsBytes) {
  // Empty entries, NUL and '=' inside, and lengths that need 1, 2 and 3 length bytes.
  std::vector<std::string> in = {"",
                                 "a",
                                 "x\0y"s,
                                 "k=v=w",
                                 std::string(127, 'p'),
                                 std::string(128, 'q'),
                                 std::string(16384, 'r'),
                                 ""};
  PackedStrings p;
  EXPECT_TRUE(p.empty());
  EXPECT_EQ(p.size(), 0u);
  EXPECT_EQ(p.begin(), p.end());
  for (const auto& s : in) p.push_back(s);
  EXPECT_FALSE(p.empty());
  EXPECT_EQ(p.size(), in.size());
  EXPECT_EQ(p.ToVector(), in);
  EXPECT_EQ(PackedStrings(in), p);
  EXPECT_TRUE(p.contains("x\0y"s));
  EXPECT_TRUE(p.contains(""));
  EXPECT_FALSE(p.contains("x"));
}

TEST(PackedStrings, EncodedSizeIsWhatPushBackUses) {
  for (size_t n : {0, 1, 127, 128, 16383, 16384}) {
    PackedStrings p;
    p.reserve(PackedStrings::EncodedSize(n));
    p.push_back(std::string(n, 'z'));
    PackedStrings q;
    q.push_back(std::string(n, 'z'));
    EXPECT_EQ(p, q);
  }
  EXPECT_EQ(PackedStrings::EncodedSize(0), 1u);
  EXPECT_EQ(PackedStrings::EncodedSize(127), 128u);
  EXPECT_EQ(PackedStrings::EncodedSize(128), 130u);
  EXPECT_EQ(PackedStrings::EncodedSize(16384), 16387u);
}

TEST(PackedStrings, EqualityComparesEntriesNotConcatenations) {
  EXPECT_EQ((PackedStrings{"ab", "c"}), (PackedStrings{"ab", "c"}));
  EXPECT_NE((PackedStrings{"ab", "c"}), (PackedStrings{"a", "bc"}));
  EXPECT_NE((PackedStrings{"a"}), (PackedStrings{"a", ""}));
  EXPECT_NE((PackedStrings{"a", "b"}), (PackedStrings{"b", "a"}));
  PackedStrings copy = PackedStrings{"one", "two"};
  PackedStrings other = copy;
  other.push_back("three");
  EXPECT_EQ(copy.size(), 2u);  // deep copy
  EXPECT_EQ(other.size(), 3u);
  other.clear();
  EXPECT_TRUE(other.empty());
}

TEST(PackedProperties, IteratesPairsInInsertionOrderAndGetsTheFirstOfDuplicates) {
  PackedProperties p{{"ID_SERIAL", "A"}, {"EMPTY", ""}, {"DUP", "1"}, {"DUP", "2"}};
  p.Add("LONG", std::string(300, 'v'));
  EXPECT_EQ(p.size(), 5u);
  std::vector<std::pair<std::string, std::string>> seen;
  for (const auto& [k, v] : p) seen.emplace_back(k, v);
  ASSERT_EQ(seen.size(), 5u);
  EXPECT_EQ(seen[0], (std::pair<std::string, std::string>{"ID_SERIAL", "A"}));
  EXPECT_EQ(seen[3], (std::pair<std::string, std::string>{"DUP", "2"}));
  EXPECT_EQ(seen[4].second, std::string(300, 'v'));
  EXPECT_EQ(p.Get("ID_SERIAL"), "A");
  EXPECT_EQ(p.Get("EMPTY"), "");
  EXPECT_EQ(p.Get("DUP"), "1");
  EXPECT_FALSE(p.Get("A").has_value());  // values are not keys
  EXPECT_FALSE(p.Get("NOPE").has_value());
  EXPECT_FALSE(PackedProperties{}.Get("").has_value());
  // A key and value swapped between entries is a different record.
  EXPECT_NE((PackedProperties{{"A", "B"}}), (PackedProperties{{"B", "A"}}));
  EXPECT_EQ((PackedProperties{{"A", "B"}}), (PackedProperties{{"A", "B"}}));
}

TEST(PackedProperties, WellKnownAndOtherKeysReadBackTheSame) {
  // ID_PATH and ID_SERIAL are on the well-known list (stored as a tag), the others are not.
  PackedProperties p;
  p.Add("ID_PATH", "pci-0000:00:17.0-ata-1");
  p.Add("ID_PATHX", "x");
  p.Add("ID_PAT", "y");
  p.Add("MY_RULE", std::string(200, 'm'));
  p.Add("", "empty key");
  p.Add("ID_SERIAL", "");
  std::vector<std::pair<std::string, std::string>> seen;
  for (const auto& [k, v] : p) seen.emplace_back(k, v);
  EXPECT_EQ(seen,
            (std::vector<std::pair<std::string, std::string>>{{"ID_PATH", "pci-0000:00:17.0-ata-1"},
                                                              {"ID_PATHX", "x"},
                                                              {"ID_PAT", "y"},
                                                              {"MY_RULE", std::string(200, 'm')},
                                                              {"", "empty key"},
                                                              {"ID_SERIAL", ""}}));
  EXPECT_EQ(p.Get("ID_PATH"), "pci-0000:00:17.0-ata-1");
  EXPECT_EQ(p.Get("ID_PATHX"), "x");
  EXPECT_EQ(p.Get(""), "empty key");
  EXPECT_EQ(p.Get("ID_SERIAL"), "");
  EXPECT_EQ(p.size(), 6u);
  PackedProperties copy = p;
  EXPECT_EQ(copy, p);
  copy.Add("ID_PATH", "second");
  EXPECT_NE(copy, p);
  EXPECT_EQ(copy.Get("ID_PATH"), "pci-0000:00:17.0-ata-1");
}

// Get compares tags before keys: entries with keys of the same length, keys long enough for a
// two-byte tag, and a value that spells a key must not confuse it.
TEST(PackedProperties, GetFindsTheEntryAmongKeysOfTheSameLength) {
  const std::string long_a(70, 'a'), long_b(70, 'b');
  PackedProperties p;
  p.Add("ABCD", "ID_SERIAL");
  p.Add("WXYZ", "2");
  p.Add(long_a, "long a");
  p.Add(long_b, "long b");
  p.Add("ID_MODEL", "m");                 // a well-known key (one-byte tag)
  p.Add("ID_MODEX", "x");                 // same length, not well known
  p.Add("SCSI_IDENT_PORT_NAME", "port");  // a two-byte tag
  EXPECT_EQ(p.Get("WXYZ"), "2");
  EXPECT_EQ(p.Get("ABCD"), "ID_SERIAL");
  EXPECT_FALSE(p.Get("ID_SERIAL").has_value());
  EXPECT_EQ(p.Get(long_b), "long b");
  EXPECT_EQ(p.Get(long_a), "long a");
  EXPECT_FALSE(p.Get(std::string(70, 'c')).has_value());
  EXPECT_EQ(p.Get("ID_MODEX"), "x");
  EXPECT_EQ(p.Get("ID_MODEL"), "m");
  EXPECT_EQ(p.Get("SCSI_IDENT_PORT_NAME"), "port");
  EXPECT_FALSE(p.Get("ABC").has_value());
  // Every entry read back through Get equals what iteration gives.
  for (const auto& [k, v] : p) EXPECT_EQ(p.Get(k), v) << k;
}

}  // namespace
}  // namespace diskinv
