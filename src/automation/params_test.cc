#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "automation/driver.h"

namespace warden::automation {
namespace {
namespace json = boost::json;

const json::object& schema() {
  static const json::object s = json::parse(R"({
    "type": "object",
    "properties": {
      "name": {"type": "string", "minLength": 2, "maxLength": 5, "pattern": "^[a-z]+$"},
      "count": {"type": "integer", "minimum": 1, "maximum": 10},
      "mode": {"enum": ["fast", "slow"]},
      "tags": {"type": "array", "items": {"type": "string"}},
      "a/b": {"type": "boolean"}
    },
    "required": ["name"],
    "additionalProperties": false
  })")
                                    .as_object();
  return s;
}

std::vector<std::string> pointers(const std::vector<Issue>& issues) {
  std::vector<std::string> out;
  for (const Issue& i : issues) {
    EXPECT_EQ(i.code, "ACTION_SCHEMA_MISMATCH");
    EXPECT_EQ(i.severity, Severity::kError);
    out.push_back(i.pointer);
  }
  return out;
}

TEST(ValidateParams, AcceptsMatchingParams) {
  const json::object p =
      json::parse(R"({"name": "abc", "count": 3, "mode": "fast", "tags": ["x"], "a/b": true})")
          .as_object();
  EXPECT_TRUE(validate_params(schema(), p, "/actions/0/params").empty());
  // 3.0 is an integer in JSON Schema.
  EXPECT_TRUE(validate_params(schema(), json::parse(R"({"name":"ab","count":3.0})").as_object(), "")
                  .empty());
}

TEST(ValidateParams, ReportsEachMismatchAtItsPointer) {
  const std::string base = "/actions/0/params";
  EXPECT_EQ(pointers(validate_params(schema(), json::object{}, base)),
            std::vector<std::string>{"/actions/0/params/name"});
  EXPECT_EQ(pointers(validate_params(schema(), json::parse(R"({"name": "a"})").as_object(), base)),
            std::vector<std::string>{"/actions/0/params/name"});  // too short
  EXPECT_EQ(
      pointers(validate_params(schema(), json::parse(R"({"name": "toolong"})").as_object(), base)),
      std::vector<std::string>{"/actions/0/params/name"});
  EXPECT_EQ(pointers(validate_params(schema(), json::parse(R"({"name": "AB"})").as_object(), base)),
            std::vector<std::string>{"/actions/0/params/name"});  // pattern
  EXPECT_EQ(pointers(validate_params(
                schema(), json::parse(R"({"name": "ab", "count": 11})").as_object(), base)),
            std::vector<std::string>{"/actions/0/params/count"});
  EXPECT_EQ(pointers(validate_params(
                schema(), json::parse(R"({"name": "ab", "count": 0})").as_object(), base)),
            std::vector<std::string>{"/actions/0/params/count"});
  EXPECT_EQ(pointers(validate_params(
                schema(), json::parse(R"({"name": "ab", "count": 1.5})").as_object(), base)),
            std::vector<std::string>{"/actions/0/params/count"});
  EXPECT_EQ(pointers(validate_params(
                schema(), json::parse(R"({"name": "ab", "mode": "warp"})").as_object(), base)),
            std::vector<std::string>{"/actions/0/params/mode"});
  EXPECT_EQ(pointers(validate_params(
                schema(), json::parse(R"({"name": "ab", "tags": ["x", 2]})").as_object(), base)),
            std::vector<std::string>{"/actions/0/params/tags/1"});
  EXPECT_EQ(pointers(validate_params(schema(),
                                     json::parse(R"({"name": "ab", "a/b": 1})").as_object(), base)),
            std::vector<std::string>{"/actions/0/params/a~1b"});
  EXPECT_EQ(pointers(validate_params(
                schema(), json::parse(R"({"name": "ab", "extra": 1})").as_object(), base)),
            std::vector<std::string>{"/actions/0/params/extra"});
  // Several at once, in the document's order.
  EXPECT_EQ(pointers(validate_params(schema(),
                                     json::parse(R"({"count": "3", "zzz": 0})").as_object(), base)),
            (std::vector<std::string>{"/actions/0/params/name", "/actions/0/params/count",
                                      "/actions/0/params/zzz"}));
}

TEST(ValidateParams, UnanchoredPatternsAndBadRegexes) {
  const json::object s = json::parse(R"({"properties": {"u": {"pattern": "http://"},
                                                        "v": {"pattern": "("}}})")
                             .as_object();
  EXPECT_TRUE(validate_params(s, json::parse(R"({"u": "x http://y"})").as_object(), "").empty());
  const std::vector<Issue> bad = validate_params(s, json::parse(R"({"v": "x"})").as_object(), "");
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0].pointer, "/v");
  EXPECT_NE(bad[0].message.find("RE2"), std::string::npos);
  // Without additionalProperties anything extra is allowed.
  EXPECT_TRUE(validate_params(s, json::parse(R"({"w": 1})").as_object(), "").empty());
}

}  // namespace
}  // namespace warden::automation
