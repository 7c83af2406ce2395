#include "core/json.h"

#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>
#include <string>
#include <vector>

#include "core/sha256.h"

namespace warden {
namespace {

// The plain-ASCII fast path must write exactly what Boost.JSON's serialiser writes: audit
// hashes written before it existed still have to verify.
TEST(AppendJsonString, EveryByteMatchesTheSerializer) {
  for (int b = 0; b < 256; ++b) {
    const std::string s = std::string("a") + static_cast<char>(b) + "z";
    std::string out;
    append_json_string(out, s);
    EXPECT_EQ(out, boost::json::serialize(boost::json::string_view(s))) << b;
  }
  std::string out = "x";
  append_json_string(out, "0x00000000000000000000000000000000000000aa");
  EXPECT_EQ(out, R"(x"0x00000000000000000000000000000000000000aa")");
  out.clear();
  append_json_string(out, R"({"a":"b\c"})");
  EXPECT_EQ(out, boost::json::serialize(boost::json::string_view(R"({"a":"b\c"})")));
  out.clear();
  append_json_string(out, "\xED\x95\x9C tab\t");
  EXPECT_EQ(out, "\"\xED\x95\x9C tab\\t\"");
}

TEST(CanonicalJson, SortsKeysAndDropsWhitespace) {
  auto v = parse_json(R"({ "b": [1, {"z": true, "a": null}], "a": "x\n\"y" })");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(canonical_json(*v), R"({"a":"x\n\"y","b":[1,{"a":null,"z":true}]})");
}

TEST(CanonicalJson, ReorderedKeysHashTheSame) {
  auto a = parse_json(R"({"type":"SPENDING_LIMIT","rules":{"instant_max":"1","windows":[]}})");
  auto b = parse_json(R"({"rules":{"windows":[],"instant_max":"1"},  "type":"SPENDING_LIMIT"})");
  auto c = parse_json(R"({"rules":{"windows":[],"instant_max":"2"},"type":"SPENDING_LIMIT"})");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(canonical_hash(*a), canonical_hash(*b));
  EXPECT_NE(canonical_hash(*a), canonical_hash(*c));
  EXPECT_EQ(canonical_hash(*a).size(), 64u);
}

TEST(Sha256, KnownVector) {
  EXPECT_EQ(sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(ParseJson, RejectsMalformedDocuments) {
  for (const char* s : {"", "{", "{\"a\":1,}", "{\"a\":1} x", "// c\n{}", "{'a':1}",
                        "[1,2", "\"\xff\""}) {
    auto v = parse_json(s);
    ASSERT_FALSE(v.ok()) << s;
    EXPECT_EQ(v.status().code(), ErrorCode::VALIDATION_MALFORMED_JSON);
  }
}

// Boost.JSON keeps the last of repeated keys; a body must never mean something other than
// what a reader of its first occurrence sees.
TEST(ParseJson, RejectsARepeatedKeyAtAnyDepthNamingItsPointer) {
  struct Case {
    const char* text;
    const char* key;
    const char* pointer;
  };
  for (const Case& c : {
           Case{R"({"name":"a","name":"b"})", "name", "/name"},
           Case{R"({"a":{"x":1,"y":2,"x":3}})", "x", "/a/x"},
           Case{R"({"a":[{"k":1},{"k":1,"k":2}]})", "k", "/a/1/k"},
           Case{R"([[0],[1,{"q":{"r":0,"r":1}}]])", "r", "/1/1/q/r"},
           Case{R"({"a/b~":{"\u0071":1,"q":2}})", "q", "/a~1b~0/q"},
           Case{R"({"s":"x","t":{},"s":"y"})", "s", "/s"},
       }) {
    auto v = parse_json(c.text);
    ASSERT_FALSE(v.ok()) << c.text;
    EXPECT_EQ(v.status().code(), ErrorCode::VALIDATION_DUPLICATE_KEY) << c.text;
    EXPECT_EQ(v.status().details().at("field").as_string(), c.key) << c.text;
    EXPECT_EQ(v.status().details().at("pointer").as_string(), c.pointer) << c.text;
  }
}

TEST(ParseJson, EqualKeysInDifferentObjectsAreNotRepeats) {
  auto v = parse_json(R"({"a":{"k":1},"b":{"k":2},"c":[{"k":3},{"k":4}],"k":[]})");
  ASSERT_TRUE(v.ok()) << v.status().message();
  EXPECT_EQ(canonical_json(*v), R"({"a":{"k":1},"b":{"k":2},"c":[{"k":3},{"k":4}],"k":[]})");
  auto scalar = parse_json("  12 ");
  ASSERT_TRUE(scalar.ok());
  EXPECT_EQ(scalar->as_int64(), 12);
}

// is_json_object() says yes exactly when parse_json() returns an object.
TEST(IsJsonObject, AgreesWithParseJson) {
  std::string big = "{";
  for (int i = 0; i < 2000; ++i) {
    big += (i == 0 ? "" : ",") + std::string("\"k") + std::to_string(i) + "\":1";
  }
  big += "}";
  const std::string big_repeat = big.substr(0, big.size() - 1) + ",\"k1999\":2}";
  for (const std::string& s : std::vector<std::string>{
           "{}", R"({"a":{"k":1},"b":{"k":2},"c":[{"k":3},{"k":4}],"k":[]})",
           R"( {"s":"x\"y","n":-1.5e3,"t":true,"z":null} )", big,
           // not objects, or not what parse_json accepts
           "", "[]", "12", "\"s\"", "null", "{", "{\"a\":1,}", "{\"a\":1} x", "// c\n{}", "{'a':1}",
           "\"\xff\"", R"({"name":"a","name":"b"})", R"({"a":[{"k":1},{"k":1,"k":2}]})",
           R"({"a/b~":{"\u0071":1,"q":2}})",
           R"({"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"a":0})", big_repeat}) {
    auto parsed = parse_json(s);
    EXPECT_EQ(is_json_object(s), parsed.ok() && parsed->is_object()) << s.substr(0, 60);
  }
  EXPECT_TRUE(is_json_object(big));
  EXPECT_FALSE(is_json_object(big_repeat));
}

}  // namespace
}  // namespace warden
