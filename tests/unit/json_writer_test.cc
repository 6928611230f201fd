#include "common/json_writer.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

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

}  // namespace
}  // namespace diskinv
