#include "model/name_table.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace diskinv {
namespace {

TEST(NameTable, GivesDenseIdsOncePerName) {
  NameTable t;
  EXPECT_EQ(t.Find("sda"), NameTable::kNone);
  EXPECT_EQ(t.Intern("sda"), 0u);
  EXPECT_EQ(t.Intern("sda1"), 1u);
  EXPECT_EQ(t.Intern("sda"), 0u);
  EXPECT_EQ(t.Intern(""), 2u);  // an empty name is a name
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(t.Name(0), "sda");
  EXPECT_EQ(t.Name(1), "sda1");
  EXPECT_EQ(t.Name(2), "");
  EXPECT_EQ(t.Find("sda1"), 1u);
  EXPECT_EQ(t.Find("sda2"), NameTable::kNone);
}

TEST(NameTable, KeepsEveryNameThroughGrowth) {
  NameTable t;
  std::vector<std::string> names;
  for (int i = 0; i < 50000; ++i) names.push_back(fmt::format("nvme{}n1p{}", i / 3, i % 3));
  for (size_t i = 0; i < names.size(); ++i) ASSERT_EQ(t.Intern(names[i]), i);
  ASSERT_EQ(t.size(), names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    ASSERT_EQ(t.Find(names[i]), i);
    ASSERT_EQ(t.Name(static_cast<uint32_t>(i)), names[i]);
  }
  EXPECT_EQ(t.Find("nvme0n1p3"), NameTable::kNone);
  // About 16 bytes a name plus the names themselves, far below a hash map of strings.
  EXPECT_LT(t.bytes(), names.size() * 40);
}

// Names that are prefixes of one another and bytes a C string would cut.
TEST(NameTable, ComparesWholeNames) {
  NameTable t;
  std::string nul("a\0b", 3);
  uint32_t a = t.Intern("a"), ab = t.Intern("ab"), n = t.Intern(nul);
  EXPECT_NE(a, ab);
  EXPECT_NE(a, n);
  EXPECT_EQ(t.Find(nul), n);
  EXPECT_EQ(t.Name(n), nul);
}

}  // namespace
}  // namespace diskinv
