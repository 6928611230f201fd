#include "common/json_writer.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

namespace diskinv {
namespace {

TEST(JsonWriter, WritesNestedValuesThatParse) {
  JsonWriter w;
  w.BeginObject().Key("a").Uint(1).Key("b").BeginArray().String("x").Null().Bool(true).Int(-2);
  w.EndArray().Key("c").BeginObject().EndObject().EndObject();
  EXPECT_EQ(w.str(), R"({"a":1,"b":["x",null,true,-2],"c":{}})");
  auto j = nlohmann::json::parse(w.str());
  EXPECT_EQ(j["b"][3], -2);
}

TEST(JsonWriter, EscapesControlQuotesAndBadUtf8) {
  std::string s;
  JsonWriter::AppendQuoted(s, std::string("a\"b\\c\n\x01\xff\xc3\xa9", 10));
  EXPECT_EQ(s, "\"a\\\"b\\\\c\\n\\u0001\xEF\xBF\xBD\xc3\xa9\"");
  EXPECT_NO_THROW(nlohmann::json::parse(s));
  std::string overlong;
  JsonWriter::AppendQuoted(overlong, "\xc0\xaf");  // overlong '/'
  EXPECT_EQ(overlong, "\"\xEF\xBF\xBD\xEF\xBF\xBD\"");
}

TEST(JsonWriter, PrettyOutputParsesTheSame) {
  JsonWriter w(true);
  w.BeginObject().Key("k").BeginArray().Uint(1).Uint(2).EndArray().EndObject();
  EXPECT_EQ(nlohmann::json::parse(w.str()), nlohmann::json::parse(R"({"k":[1,2]})"));
  EXPECT_NE(w.str().find('\n'), std::string::npos);
}

// Random strings of plain ASCII with the bytes that need work (controls, quote, backslash,
// DEL, 2- to 4-byte UTF-8) at every offset of the eight-byte scan: the JSON must parse back to
// the same string and hold no raw control byte.
TEST(JsonWriter, EscapesAtEveryOffsetOfTheWordScan) {
  const std::vector<std::string> pieces = {
      "a",  "Z",    " ",    "\"",   "\\",       "\n",           "\t",
      "\r", "\x01", "\x1f", "\x7f", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x92\xbe",
      "/",  "~"};
  std::mt19937 rng(42);
  for (int round = 0; round < 3000; ++round) {
    std::string in;
    size_t n = rng() % 40;
    for (size_t k = 0; k < n; ++k) {
      // Mostly plain bytes, so long clean runs end in a stop byte at any position.
      in += rng() % 4 != 0 ? std::string(1, static_cast<char>('a' + rng() % 26))
                           : pieces[rng() % pieces.size()];
    }
    std::string out;
    JsonWriter::AppendQuoted(out, in);
    ASSERT_EQ(nlohmann::json::parse(out).get<std::string>(), in) << out;
    for (char c : out) ASSERT_GE(static_cast<unsigned char>(c), 0x20) << out;
  }
}

}  // namespace
}  // namespace diskinv
