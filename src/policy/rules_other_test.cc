// Time, meter, gateway, budget and CUSTOM policy types: normalised form and hash (golden), and
// every blocker with its pointer.
#include <gtest/gtest.h>

#include "policy/test_util.h"

namespace warden::policy {
namespace {

using testing::canonical_of;
using testing::check;
using testing::has_issue;
using testing::summary;

constexpr Severity kBlocker = Severity::kBlocker;
constexpr Severity kError = Severity::kError;
constexpr Severity kWarn = Severity::kWarn;

void expect_golden(const char* doc, const char* canonical, const char* hash) {
  const Validation v = check(doc);
  EXPECT_TRUE(v.issues.empty()) << summary(v);
  EXPECT_EQ(canonical_of(doc), canonical);
  EXPECT_EQ(v.hash, hash);
}

TEST(TimeRestriction, Golden) {
  expect_golden(
      R"({"type":"TIME_RESTRICTION","rules":{"time_zone":"Asia/Seoul","effect":"APPROVAL",
          "allowed":[{"days":["sat","sun"],"start_hour":10,"end_hour":16},
                     {"days":["fri","mon","tue","wed","thu"],"start_hour":9,"end_hour":18}]}})",
      R"({"agent_id":null,"priority":0,"rules":{"allowed":[{"days":["mon","tue","wed","thu",)"
      R"("fri"],"end_hour":18,"start_hour":9},{"days":["sat","sun"],"end_hour":16,)"
      R"("start_hour":10}],"effect":"APPROVAL","time_zone":"Asia/Seoul"},)"
      R"("type":"TIME_RESTRICTION"})",
      "e6d3cc610fd484b27517613c63f61bbf65a9f2e836be821ed2c88e67304dc5f5");
}

TEST(TimeRestriction, DefaultsEffectAndDedupesDays) {
  const char* doc = R"({"type":"TIME_RESTRICTION","rules":{"time_zone":"UTC",
      "allowed":[{"days":["mon","mon"],"start_hour":0,"end_hour":24}]}})";
  const Validation v = check(doc);
  ASSERT_EQ(v.issues.size(), 1u) << summary(v);
  EXPECT_TRUE(has_issue(v, kWarn, "DUPLICATE_ENTRY", "/rules/allowed/0/days/1"));
  EXPECT_EQ(boost::json::serialize(v.normalized_rules),
            R"({"time_zone":"UTC","allowed":[{"days":["mon"],"start_hour":0,"end_hour":24}],)"
            R"("effect":"DENY"})");
}

TEST(TimeRestriction, UnknownZoneIsABlocker) {
  for (const char* zone : {"Mars/Olympus", "asia/seoul", "", "Asia/Seoul/"}) {
    const Validation v =
        check(std::string(R"({"type":"TIME_RESTRICTION","rules":{"time_zone":")") + zone +
              R"(","allowed":[{"days":["mon"],"start_hour":1,"end_hour":2}]}})");
    ASSERT_EQ(v.issues.size(), 1u) << zone << "\n" << summary(v);
    EXPECT_TRUE(has_issue(v, kBlocker, "TIME_ZONE_UNKNOWN", "/rules/time_zone")) << zone;
  }
}

TEST(TimeRestriction, NoRangesIsAnErrorNotABlocker) {
  const Validation v =
      check(R"({"type":"TIME_RESTRICTION","rules":{"time_zone":"Europe/Berlin","allowed":[]}})");
  ASSERT_EQ(v.issues.size(), 1u) << summary(v);
  EXPECT_TRUE(has_issue(v, kError, "LIST_EMPTY", "/rules/allowed"));
  EXPECT_TRUE(v.has_error());
  EXPECT_FALSE(v.has_blocker());
  EXPECT_EQ(v.hash.size(), 64u);  // can be saved, cannot be enabled
}

TEST(TimeRestriction, EveryProblemIsListed) {
  const Validation v = check(R"({"type":"TIME_RESTRICTION","rules":{"time_zone":"Nowhere/Land",
      "allowed":[{"days":["mon","funday"],"start_hour":18,"end_hour":9},
                 {"days":[],"start_hour":24,"end_hour":0},
                 {"days":["tue"]}],"effect":"NOTIFY"}})");
  const std::vector<std::tuple<Severity, std::string, std::string>> expected = {
      {kBlocker, "TIME_ZONE_UNKNOWN", "/rules/time_zone"},
      {kBlocker, "VALUE_NOT_ALLOWED", "/rules/allowed/0/days/1"},
      {kBlocker, "HOUR_RANGE_INVALID", "/rules/allowed/0/end_hour"},
      {kError, "LIST_EMPTY", "/rules/allowed/1/days"},
      {kBlocker, "VALUE_OUT_OF_RANGE", "/rules/allowed/1/start_hour"},
      {kBlocker, "VALUE_OUT_OF_RANGE", "/rules/allowed/1/end_hour"},
      {kBlocker, "RULES_MISSING_FIELD", "/rules/allowed/2/start_hour"},
      {kBlocker, "RULES_MISSING_FIELD", "/rules/allowed/2/end_hour"},
      {kBlocker, "VALUE_NOT_ALLOWED", "/rules/effect"}};
  ASSERT_EQ(v.issues.size(), expected.size()) << summary(v);
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(v.issues[i].severity, std::get<0>(expected[i])) << i << "\n" << summary(v);
    EXPECT_EQ(v.issues[i].code, std::get<1>(expected[i])) << i << "\n" << summary(v);
    EXPECT_EQ(v.issues[i].pointer, std::get<2>(expected[i])) << i << "\n" << summary(v);
  }
}

TEST(TimeRestriction, MissingFields) {
  const Validation v = check(R"({"type":"TIME_RESTRICTION","rules":{}})");
  ASSERT_EQ(v.issues.size(), 2u) << summary(v);
  EXPECT_TRUE(has_issue(v, kBlocker, "RULES_MISSING_FIELD", "/rules/time_zone"));
  EXPECT_TRUE(has_issue(v, kBlocker, "RULES_MISSING_FIELD", "/rules/allowed"));
}

TEST(RateLimit, Golden) {
  expect_golden(R"({"type":"RATE_LIMIT","rules":{"max_requests":100,"window":"60s"}})",
                R"({"agent_id":null,"priority":0,"rules":{"max_requests":100,"window":"1m"},)"
                R"("type":"RATE_LIMIT"})",
                "5b3a89569f49889b1008c4bd02155d59009972da141029d740c6e85b844cf5d6");
}

TEST(RateLimit, Blockers) {
  const Validation v = check(R"({"type":"RATE_LIMIT","rules":{"max_requests":0,"window":"24x"}})");
  ASSERT_EQ(v.issues.size(), 2u) << summary(v);
  EXPECT_TRUE(has_issue(v, kBlocker, "VALUE_OUT_OF_RANGE", "/rules/max_requests"));
  EXPECT_TRUE(has_issue(v, kBlocker, "WINDOW_INVALID", "/rules/window"));
  const Validation types =
      check(R"({"type":"RATE_LIMIT","rules":{"max_requests":1.5,"window":60}})");
  ASSERT_EQ(types.issues.size(), 2u) << summary(types);
  EXPECT_TRUE(has_issue(types, kBlocker, "RULES_WRONG_TYPE", "/rules/max_requests"));
  EXPECT_TRUE(has_issue(types, kBlocker, "RULES_WRONG_TYPE", "/rules/window"));
  const Validation huge =
      check(R"({"type":"RATE_LIMIT","rules":{"max_requests":18446744073709551615,"window":"1s"}})");
  EXPECT_TRUE(has_issue(huge, kBlocker, "VALUE_OUT_OF_RANGE", "/rules/max_requests"))
      << summary(huge);
}

TEST(TokenLimit, Golden) {
  expect_golden(
      R"({"type":"TOKEN_LIMIT","rules":{"max_tokens":50000,"window":"day","scope":"model"}})",
      R"({"agent_id":null,"priority":0,"rules":{"max_tokens":50000,"scope":"model",)"
      R"("window":"day"},"type":"TOKEN_LIMIT"})",
      "1078bca1db615e0f12797c4ea5b2869b6019208de21b3dc98c3648ac97be8673");
}

TEST(TokenLimit, DefaultScopeAndBlockers) {
  const Validation ok = check(R"({"type":"TOKEN_LIMIT","rules":{"max_tokens":1,"window":"1h"}})");
  EXPECT_EQ(boost::json::serialize(ok.normalized_rules),
            R"({"max_tokens":1,"window":"1h","scope":"agent"})");
  const Validation v = check(R"({"type":"TOKEN_LIMIT","rules":{"max_tokens":-1,"scope":"org"}})");
  ASSERT_EQ(v.issues.size(), 3u) << summary(v);
  EXPECT_TRUE(has_issue(v, kBlocker, "VALUE_OUT_OF_RANGE", "/rules/max_tokens"));
  EXPECT_TRUE(has_issue(v, kBlocker, "VALUE_NOT_ALLOWED", "/rules/scope"));
  EXPECT_TRUE(has_issue(v, kBlocker, "RULES_MISSING_FIELD", "/rules/window"));
}

TEST(ModelAllowlist, Golden) {
  expect_golden(
      R"({"type":"MODEL_ALLOWLIST",
          "rules":{"models":["gpt-4o*","claude-3-5-sonnet","o1-mini"]}})",
      R"({"agent_id":null,"priority":0,"rules":{"models":["claude-3-5-sonnet","gpt-4o*",)"
      R"("o1-mini"]},"type":"MODEL_ALLOWLIST"})",
      "21b1fbb3dfc38eebe2470c168af2b7e07e438e304b36a770f28cb726e3949482");
}

TEST(ModelAllowlist, Problems) {
  const Validation v = check(R"({"type":"MODEL_ALLOWLIST","rules":{"models":[
      "gpt-*-mini","","o1","o1",false]}})");
  ASSERT_EQ(v.issues.size(), 4u) << summary(v);
  EXPECT_TRUE(has_issue(v, kBlocker, "MODEL_PATTERN_INVALID", "/rules/models/0"));
  EXPECT_TRUE(has_issue(v, kBlocker, "MODEL_PATTERN_INVALID", "/rules/models/1"));
  EXPECT_TRUE(has_issue(v, kWarn, "DUPLICATE_ENTRY", "/rules/models/3"));
  EXPECT_TRUE(has_issue(v, kBlocker, "RULES_WRONG_TYPE", "/rules/models/4"));
  const Validation all = check(R"({"type":"MODEL_ALLOWLIST","rules":{"models":["*"]}})");
  EXPECT_TRUE(all.issues.empty()) << summary(all);
  const Validation empty = check(R"({"type":"MODEL_ALLOWLIST","rules":{"models":[]}})");
  EXPECT_TRUE(has_issue(empty, kWarn, "LIST_EMPTY", "/rules/models")) << summary(empty);
}

TEST(ModelAllowlist, NamesCoveredByAPatternAreNoted) {
  const Validation v = check(R"({"type":"MODEL_ALLOWLIST","rules":{"models":[
      "gpt-4o-mini","gpt-4o*","gpt-4*","o1","claude*"]}})");
  ASSERT_EQ(v.issues.size(), 2u) << summary(v);
  EXPECT_TRUE(has_issue(v, Severity::kInfo, "ENTRY_REDUNDANT", "/rules/models/0"));
  EXPECT_TRUE(has_issue(v, Severity::kInfo, "ENTRY_REDUNDANT", "/rules/models/1"));
  EXPECT_NE(v.issues[0].message.find("\"gpt-4o*\""), std::string::npos) << v.issues[0].message;
  EXPECT_FALSE(v.has_error());
  EXPECT_EQ(v.normalized_rules.at("models").as_array().size(), 5u);  // a note, not a change
}

TEST(RequestSize, Golden) {
  expect_golden(R"({"type":"REQUEST_SIZE","rules":{"max_bytes":1048576}})",
                R"({"agent_id":null,"priority":0,"rules":{"max_bytes":1048576},)"
                R"("type":"REQUEST_SIZE"})",
                "38368a1e01766d3ce5acd4f2b2d684494f84bfa5a41fbd27b8224abc5d7030f3");
}

TEST(RequestSize, Blockers) {
  const Validation zero = check(R"({"type":"REQUEST_SIZE","rules":{"max_bytes":0}})");
  ASSERT_EQ(zero.issues.size(), 1u) << summary(zero);
  EXPECT_TRUE(has_issue(zero, kBlocker, "VALUE_OUT_OF_RANGE", "/rules/max_bytes"));
  const Validation missing = check(R"({"type":"REQUEST_SIZE","rules":{}})");
  EXPECT_TRUE(has_issue(missing, kBlocker, "RULES_MISSING_FIELD", "/rules/max_bytes"));
}

TEST(Budget, Golden) {
  expect_golden(R"({"type":"BUDGET","rules":{"asset":"USD"}})",
                R"({"agent_id":null,"priority":0,"rules":{"allow_negative":false,)"
                R"("asset":"USD"},"type":"BUDGET"})",
                "7b81ac39f09dbb77d4d254afe2900d7b85e90d1c56d7a7f30eabdab0119ead7a");
}

TEST(Budget, Problems) {
  const Validation v = check(R"({"type":"BUDGET","rules":{"asset":"","allow_negative":1}})");
  ASSERT_EQ(v.issues.size(), 2u) << summary(v);
  EXPECT_TRUE(has_issue(v, kBlocker, "VALUE_EMPTY", "/rules/asset"));
  EXPECT_TRUE(has_issue(v, kBlocker, "RULES_WRONG_TYPE", "/rules/allow_negative"));
  const Validation negative =
      check(R"({"type":"BUDGET","rules":{"asset":"USD","allow_negative":true}})");
  ASSERT_EQ(negative.issues.size(), 1u) << summary(negative);
  EXPECT_TRUE(has_issue(negative, kWarn, "BUDGET_UNBOUNDED", "/rules/allow_negative"));
  const Validation bad_asset = check(R"({"type":"BUDGET","rules":{"asset":"usd_micro"}})");
  EXPECT_TRUE(has_issue(bad_asset, kBlocker, "ASSET_INVALID", "/rules/asset"));
  const Validation missing = check(R"({"type":"BUDGET","rules":{}})");
  EXPECT_TRUE(has_issue(missing, kBlocker, "RULES_MISSING_FIELD", "/rules/asset"));
}

TEST(Custom, Golden) {
  expect_golden(
      R"({"type":"CUSTOM","priority":-3,"rules":{"effect":"DENY","message":"too large",
          "pre":"estimated_tokens < 4000 && request_size_bytes < 100000",
          "post":"total_tokens < 8000"}})",
      R"({"agent_id":null,"priority":-3,"rules":{"effect":"DENY","message":"too large",)"
      R"("post":"total_tokens < 8000","pre":"estimated_tokens < 4000 && request_size_bytes < )"
      R"(100000"},"type":"CUSTOM"})",
      "2f81624b683251103fcaa621a14aa422351959c3be94881ce0bfac346ebccb22");
}

TEST(Custom, EveryProblemIsListed) {
  const Validation v = check(R"({"type":"CUSTOM","rules":{"effect":"MAYBE","message":7}})");
  ASSERT_EQ(v.issues.size(), 3u) << summary(v);
  EXPECT_TRUE(has_issue(v, kBlocker, "EXPRESSION_MISSING", "/rules"));
  EXPECT_TRUE(has_issue(v, kBlocker, "VALUE_NOT_ALLOWED", "/rules/effect"));
  EXPECT_TRUE(has_issue(v, kBlocker, "RULES_WRONG_TYPE", "/rules/message"));
}

TEST(Custom, ExpressionBounds) {
  const Validation empty = check(R"({"type":"CUSTOM","rules":{"pre":"","effect":"DENY"}})");
  ASSERT_EQ(empty.issues.size(), 1u) << summary(empty);
  EXPECT_TRUE(has_issue(empty, kBlocker, "VALUE_EMPTY", "/rules/pre"));
  const std::string at_limit(4096, '1');
  const Validation fits =
      check(R"({"type":"CUSTOM","rules":{"post":")" + at_limit + R"(","effect":"NOTIFY"}})");
  EXPECT_TRUE(fits.issues.empty()) << summary(fits);
  const Validation long_one =
      check(R"({"type":"CUSTOM","rules":{"post":")" + at_limit + R"(1","effect":"NOTIFY"}})");
  ASSERT_EQ(long_one.issues.size(), 1u) << summary(long_one);
  EXPECT_TRUE(has_issue(long_one, kBlocker, "VALUE_OUT_OF_RANGE", "/rules/post"));
  const Validation missing = check(R"({"type":"CUSTOM","rules":{"pre":"true"}})");
  EXPECT_TRUE(has_issue(missing, kBlocker, "RULES_MISSING_FIELD", "/rules/effect"))
      << summary(missing);
}

TEST(Custom, CooldownIsADurationForAPost) {
  const Validation ok =
      check(R"({"type":"CUSTOM","rules":{"post":"true","effect":"DENY","cooldown":"300s"}})");
  EXPECT_TRUE(ok.issues.empty()) << summary(ok);
  EXPECT_EQ(boost::json::serialize(ok.normalized_rules),
            R"({"post":"true","effect":"DENY","cooldown":"5m"})");
  const Validation calendar =
      check(R"({"type":"CUSTOM","rules":{"post":"true","effect":"DENY","cooldown":"month"}})");
  ASSERT_EQ(calendar.issues.size(), 1u) << summary(calendar);
  EXPECT_TRUE(has_issue(calendar, kBlocker, "WINDOW_INVALID", "/rules/cooldown"));
  const Validation bad =
      check(R"({"type":"CUSTOM","rules":{"post":"true","effect":"DENY","cooldown":"soon"}})");
  EXPECT_TRUE(has_issue(bad, kBlocker, "WINDOW_INVALID", "/rules/cooldown")) << summary(bad);
  const Validation pre_only =
      check(R"({"type":"CUSTOM","rules":{"pre":"true","effect":"DENY","cooldown":"5m"}})");
  ASSERT_EQ(pre_only.issues.size(), 1u) << summary(pre_only);
  EXPECT_TRUE(has_issue(pre_only, kBlocker, "VALUE_NOT_ALLOWED", "/rules/cooldown"));
}

TEST(Custom, ExpressionCheckerHookSeesEachExpression) {
  std::vector<std::pair<std::string, std::string>> seen;
  ValidateOptions options;
  options.check_expression = [&](std::string_view pointer, std::string_view source) {
    seen.emplace_back(pointer, source);
    std::vector<Issue> issues;
    if (source.find("nope") != std::string_view::npos) {
      issues.push_back({Severity::kBlocker, std::string(pointer), "CEL_TYPE_ERROR", "no"});
    }
    return issues;
  };
  const Validation v =
      check(R"({"type":"CUSTOM","rules":{"post":"nope","pre":"x < 1","effect":"DELAY"}})", options);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], (std::pair<std::string, std::string>{"/rules/pre", "x < 1"}));
  EXPECT_EQ(seen[1], (std::pair<std::string, std::string>{"/rules/post", "nope"}));
  ASSERT_EQ(v.issues.size(), 1u) << summary(v);
  EXPECT_TRUE(has_issue(v, kBlocker, "CEL_TYPE_ERROR", "/rules/post"));
  EXPECT_TRUE(v.hash.empty());
}

}  // namespace
}  // namespace warden::policy
