#include "common/parse.h"

#include <gtest/gtest.h>

namespace diskinv {
namespace {

TEST(ParseU64, AcceptsSysfsNumbers) {
  EXPECT_EQ(*ParseU64("512\n"), 512u);
  EXPECT_EQ(*ParseU64("  0"), 0u);
  EXPECT_EQ(*ParseU64("18446744073709551615\n"), UINT64_MAX);
}

TEST(ParseU64, RejectsGarbageWithAClearMessage) {
  auto r = ParseU64("12abc\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), EINVAL);
  EXPECT_NE(r.status().message().find("\"12abc\\x0a\""), std::string::npos) << r.status().message();
  EXPECT_FALSE(ParseU64("").ok());
  EXPECT_FALSE(ParseU64("\n").ok());
  EXPECT_FALSE(ParseU64("-1").ok());
  EXPECT_FALSE(ParseU64("+").ok());
  EXPECT_FALSE(ParseU64("18446744073709551616").ok());
  EXPECT_FALSE(ParseU64(std::string_view("1\0" "2", 3)).ok());
}

TEST(ParseI64, AcceptsNegative) {
  EXPECT_EQ(*ParseI64("-1\n"), -1);
  EXPECT_FALSE(ParseI64("--1").ok());
}

TEST(ParseDevNum, ParsesMajMin) {
  auto d = ParseDevNum("259:12\n");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->major, 259u);
  EXPECT_EQ(d->minor, 12u);
  EXPECT_FALSE(ParseDevNum("259").ok());
  EXPECT_FALSE(ParseDevNum("a:b").ok());
  EXPECT_FALSE(ParseDevNum("1:").ok());
}

TEST(NormalizeWhitespace, CollapsesRuns) {
  EXPECT_EQ(NormalizeWhitespace("  QEMU   HARDDISK \n"), "QEMU HARDDISK");
  EXPECT_EQ(NormalizeWhitespace(""), "");
}

TEST(UnhexMangle, DecodesUdevEscapes) {
  EXPECT_EQ(UnhexMangle("QEMU\\x20HARDDISK\\x20\\x20"), "QEMU HARDDISK  ");
  EXPECT_EQ(UnhexMangle("bad\\x2"), "bad\\x2");
  EXPECT_EQ(UnhexMangle("\\xzz"), "\\xzz");
}

TEST(QuoteForError, BoundsAndEscapes) {
  std::string q = QuoteForError(std::string(100, 'a'));
  EXPECT_EQ(q.size(), 32u + 5u);
  EXPECT_EQ(QuoteForError("\x01"), "\"\\x01\"");
}

}  // namespace
}  // namespace diskinv
