#include "core/json.h"

#include <gtest/gtest.h>

#include "core/sha256.h"

namespace warden {
namespace {

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

}  // namespace
}  // namespace warden
