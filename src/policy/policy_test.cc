// The policy document: strict parsing, file loading, issue JSON, hash identity and ordering.
#include "policy/policy.h"

#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>
#include <cstdio>
#include <fstream>

#include "core/enums.h"
#include "policy/test_util.h"

namespace warden::policy {
namespace {

using testing::check;
using testing::has_issue;
using testing::spec_of;
using testing::summary;

Status parse_error(std::string_view text) {
  auto doc = parse_json(text);
  EXPECT_TRUE(doc.ok()) << text;
  auto spec = parse_spec(*doc);
  EXPECT_FALSE(spec.ok()) << "accepted " << text;
  return spec.ok() ? Status() : spec.status();
}

void expect_error(std::string_view text, ErrorCode code, std::string_view field) {
  const Status s = parse_error(text);
  EXPECT_EQ(s.code(), code) << text << " -> " << s.to_string();
  EXPECT_NE(s.message().find(field), std::string::npos) << s.message();
  const auto* pointer = s.details().if_contains("pointer");
  ASSERT_NE(pointer, nullptr) << text;
  EXPECT_EQ(pointer->as_string(), "/" + std::string(field)) << text;
}

TEST(ParseSpec, ReadsEveryField) {
  const PolicySpec spec = spec_of(
      R"({"agent_id":"0193a4f0-7c1e-7b3a-9d2e-5f1c0a9b8e7d","type":"RATE_LIMIT",
          "rules":{"max_requests":5,"window":"1m"},"priority":-7,"enabled":false})");
  ASSERT_TRUE(spec.agent_id.has_value());
  EXPECT_EQ(*spec.agent_id, "0193a4f0-7c1e-7b3a-9d2e-5f1c0a9b8e7d");
  EXPECT_EQ(spec.type, "RATE_LIMIT");
  EXPECT_EQ(boost::json::serialize(spec.rules), R"({"max_requests":5,"window":"1m"})");
  EXPECT_EQ(spec.priority, -7);
  EXPECT_FALSE(spec.enabled);
}

TEST(ParseSpec, DefaultsAndNullAgent) {
  const PolicySpec spec = spec_of(R"({"agent_id":null,"type":"REQUEST_SIZE","rules":{}})");
  EXPECT_FALSE(spec.agent_id.has_value());
  EXPECT_EQ(spec.priority, 0);
  EXPECT_TRUE(spec.enabled);
}

TEST(ParseSpec, LowerCasesAgentId) {
  const PolicySpec spec =
      spec_of(R"({"agent_id":"0193A4F0-7C1E-7B3A-9D2E-5F1C0A9B8E7D","type":"BUDGET","rules":{}})");
  EXPECT_EQ(spec.agent_id.value_or(""), "0193a4f0-7c1e-7b3a-9d2e-5f1c0a9b8e7d");
}

TEST(ParseSpec, EveryErrorNamesItsField) {
  expect_error(R"({"type":"BUDGET","rules":{},"color":"red"})", ErrorCode::VALIDATION_UNKNOWN_FIELD,
               "color");
  expect_error(R"({"rules":{}})", ErrorCode::VALIDATION_MISSING_FIELD, "type");
  expect_error(R"({"type":"BUDGET"})", ErrorCode::VALIDATION_MISSING_FIELD, "rules");
  expect_error(R"({"type":7,"rules":{}})", ErrorCode::VALIDATION_WRONG_TYPE, "type");
  expect_error(R"({"type":"BUDGET","rules":[]})", ErrorCode::VALIDATION_WRONG_TYPE, "rules");
  expect_error(R"({"type":"BUDGET","rules":{},"agent_id":5})", ErrorCode::VALIDATION_WRONG_TYPE,
               "agent_id");
  expect_error(R"({"type":"BUDGET","rules":{},"priority":"1"})", ErrorCode::VALIDATION_WRONG_TYPE,
               "priority");
  expect_error(R"({"type":"BUDGET","rules":{},"priority":1.5})", ErrorCode::VALIDATION_WRONG_TYPE,
               "priority");
  expect_error(R"({"type":"BUDGET","rules":{},"priority":18446744073709551615})",
               ErrorCode::VALIDATION_INVALID_VALUE, "priority");
  expect_error(R"({"type":"BUDGET","rules":{},"enabled":"yes"})", ErrorCode::VALIDATION_WRONG_TYPE,
               "enabled");
  expect_error(R"({"type":"NOT_A_TYPE","rules":{}})", ErrorCode::POLICY_INVALID_TYPE, "type");
  expect_error(R"({"type":"spending_limit","rules":{}})", ErrorCode::POLICY_INVALID_TYPE, "type");
  expect_error(R"({"type":"BUDGET","rules":{},"agent_id":"agent-7"})",
               ErrorCode::VALIDATION_INVALID_VALUE, "agent_id");
}

TEST(ParseSpec, DocumentMustBeAnObject) {
  auto spec = parse_spec(boost::json::array{1, 2});
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), ErrorCode::VALIDATION_WRONG_TYPE);
}

class LoadPolicyFile : public ::testing::Test {
 protected:
  std::string write(std::string_view name, std::string_view content) {
    std::string path = ::testing::TempDir() + std::string(name);
    std::ofstream(path, std::ios::binary) << content;
    paths_.push_back(path);
    return path;
  }
  void TearDown() override {
    for (const auto& p : paths_) std::remove(p.c_str());
  }
  std::vector<std::string> paths_;
};

TEST_F(LoadPolicyFile, ReadsAValidFile) {
  auto spec =
      load_policy_file(write("ok.json", R"({"type":"REQUEST_SIZE","rules":{"max_bytes":9}})"));
  ASSERT_TRUE(spec.ok()) << spec.status().to_string();
  EXPECT_EQ(spec->type, "REQUEST_SIZE");
}

TEST_F(LoadPolicyFile, MissingFileNamesThePath) {
  const std::string path = ::testing::TempDir() + "does-not-exist.json";
  auto spec = load_policy_file(path);
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), ErrorCode::VALIDATION_INVALID_VALUE);
  EXPECT_NE(spec.status().message().find(path), std::string::npos);
}

TEST_F(LoadPolicyFile, OversizedFileIsRefused) {
  const std::string path = write("big.json", std::string(kPolicyFileBytesMax + 1, ' '));
  auto spec = load_policy_file(path);
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), ErrorCode::VALIDATION_INVALID_VALUE);
  EXPECT_NE(spec.status().message().find(path), std::string::npos);
}

TEST_F(LoadPolicyFile, MalformedJsonNamesThePath) {
  const std::string path = write("bad.json", R"({"type":)");
  auto spec = load_policy_file(path);
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), ErrorCode::VALIDATION_MALFORMED_JSON);
  EXPECT_NE(spec.status().message().find(path), std::string::npos);
}

TEST_F(LoadPolicyFile, SpecErrorsPassThrough) {
  auto spec = load_policy_file(write("unknown.json", R"({"type":"BUDGET","rules":{},"x":1})"));
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), ErrorCode::VALIDATION_UNKNOWN_FIELD);
}

TEST(Severity, Names) {
  EXPECT_EQ(severity_name(Severity::kInfo), "info");
  EXPECT_EQ(severity_name(Severity::kWarn), "warn");
  EXPECT_EQ(severity_name(Severity::kError), "error");
  EXPECT_EQ(severity_name(Severity::kBlocker), "blocker");
}

TEST(Severity, ErrorIncludesBlocker) {
  Validation v;
  EXPECT_FALSE(v.has_error());
  v.issues.push_back({Severity::kWarn, "/rules", "X", "x"});
  EXPECT_FALSE(v.has_error());
  EXPECT_FALSE(v.has_blocker());
  v.issues.push_back({Severity::kError, "/rules", "X", "x"});
  EXPECT_TRUE(v.has_error());
  EXPECT_FALSE(v.has_blocker());
  v.issues = {{Severity::kBlocker, "/rules", "X", "x"}};
  EXPECT_TRUE(v.has_error());
  EXPECT_TRUE(v.has_blocker());
}

TEST(IssuesToJson, ExactShape) {
  const std::vector<Issue> issues = {
      {Severity::kBlocker, "/rules/instant_max", "AMOUNT_INVALID", "bad amount"},
      {Severity::kWarn, "/rules/allowed_addresses/3", "DUPLICATE_ENTRY", "again"}};
  EXPECT_EQ(boost::json::serialize(issues_to_json(issues)),
            R"([{"severity":"blocker","pointer":"/rules/instant_max","code":"AMOUNT_INVALID",)"
            R"("message":"bad amount"},{"severity":"warn","pointer":"/rules/allowed_addresses/3",)"
            R"("code":"DUPLICATE_ENTRY","message":"again"}])");
}

TEST(Validate, EveryPolicyTypeHasRules) {
  for (std::string_view type : kPolicyTypes) {
    PolicySpec spec;
    spec.type = std::string(type);
    spec.rules = boost::json::object{{"surely_unknown", 1}};
    const Validation v = validate(spec);
    EXPECT_TRUE(has_issue(v, Severity::kBlocker, "RULES_UNKNOWN_FIELD", "/rules/surely_unknown"))
        << type << "\n"
        << summary(v);
    EXPECT_FALSE(has_issue(v, Severity::kBlocker, "POLICY_TYPE_UNKNOWN", "/type")) << type;
    EXPECT_TRUE(v.hash.empty()) << type;
  }
}

TEST(Validate, SpecBuiltInCodeIsCheckedToo) {
  PolicySpec spec;
  spec.type = "NOPE";
  spec.agent_id = "Not-A-Uuid";
  spec.rules = boost::json::array{};
  const Validation v = validate(spec);
  ASSERT_EQ(v.issues.size(), 3u) << summary(v);
  EXPECT_TRUE(has_issue(v, Severity::kBlocker, "POLICY_TYPE_UNKNOWN", "/type"));
  EXPECT_TRUE(has_issue(v, Severity::kBlocker, "AGENT_ID_INVALID", "/agent_id"));
  EXPECT_TRUE(has_issue(v, Severity::kBlocker, "RULES_WRONG_TYPE", "/rules"));
}

TEST(Validate, IssuesComeInDocumentOrder) {
  // Problems are found type-field by type-field; they are reported in the order the user
  // wrote them, with a missing field after its object's contents.
  const Validation v = check(R"({"type":"RATE_LIMIT","rules":{"zeta":1,"window":"0h","alpha":2}})");
  ASSERT_EQ(v.issues.size(), 4u) << summary(v);
  EXPECT_EQ(v.issues[0].pointer, "/rules/zeta");
  EXPECT_EQ(v.issues[1].pointer, "/rules/window");
  EXPECT_EQ(v.issues[1].code, "WINDOW_INVALID");
  EXPECT_EQ(v.issues[2].pointer, "/rules/alpha");
  EXPECT_EQ(v.issues[3].pointer, "/rules/max_requests");
  EXPECT_EQ(v.issues[3].code, "RULES_MISSING_FIELD");
}

TEST(Validate, PointersEscapeKeys) {
  const Validation v = check(R"({"type":"REQUEST_SIZE","rules":{"max_bytes":1,"a/b~c":0}})");
  EXPECT_TRUE(has_issue(v, Severity::kBlocker, "RULES_UNKNOWN_FIELD", "/rules/a~1b~0c"))
      << summary(v);
}

TEST(Validate, CleanPolicyHasNoIssuesAndAHash) {
  const Validation v = check(R"({"type":"REQUEST_SIZE","rules":{"max_bytes":1048576}})");
  EXPECT_TRUE(v.issues.empty()) << summary(v);
  EXPECT_EQ(v.hash, "38368a1e01766d3ce5acd4f2b2d684494f84bfa5a41fbd27b8224abc5d7030f3");
}

// Hash identity: what the user means, not how they wrote it.
TEST(Hash, ReorderedKeysSetsAndAddressCaseHashTheSame) {
  const std::string a = check(R"({"type":"WHITELIST","priority":2,"rules":{
      "chain":"ethereum","allowed_addresses":["0xAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                                              "0xbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"]}})")
                            .hash;
  const std::string b = check(R"({"rules":{"allowed_addresses":[
      "0xBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB","0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"],
      "chain":"ethereum"},"priority":2,"type":"WHITELIST"})")
                            .hash;
  ASSERT_EQ(a.size(), 64u);
  EXPECT_EQ(a, b);
}

TEST(Hash, DefaultsAndEquivalentDurationsHashTheSame) {
  const std::string a = check(
                            R"({"type":"SPENDING_LIMIT","rules":{"instant_max":"10",
              "windows":[{"duration":"24h","max":"99"}]}})")
                            .hash;
  const std::string b = check(R"({"type":"SPENDING_LIMIT","rules":{"instant_max":"10",
      "delay_seconds":300,"approval_timeout_seconds":3600,"asset":"native",
      "windows":[{"max":"99","duration":"1440m"}]}})")
                            .hash;
  ASSERT_EQ(a.size(), 64u);
  EXPECT_EQ(a, b);
}

TEST(Hash, PriorityRulesAndAgentChangeIt) {
  const char* base = R"({"type":"RATE_LIMIT","rules":{"max_requests":10,"window":"1m"}})";
  const std::string h = check(base).hash;
  ASSERT_EQ(h.size(), 64u);
  EXPECT_NE(h,
            check(R"({"type":"RATE_LIMIT","priority":1,"rules":{"max_requests":10,"window":"1m"}})")
                .hash);
  EXPECT_NE(h, check(R"({"type":"RATE_LIMIT","rules":{"max_requests":11,"window":"1m"}})").hash);
  EXPECT_NE(h, check(R"({"type":"RATE_LIMIT","rules":{"max_requests":10,"window":"2m"}})").hash);
  EXPECT_NE(h, check(R"({"agent_id":"0193a4f0-7c1e-7b3a-9d2e-5f1c0a9b8e7d","type":"RATE_LIMIT",
                         "rules":{"max_requests":10,"window":"1m"}})")
                   .hash);
}

TEST(Hash, EnabledDoesNotChangeIt) {
  const std::string on =
      check(R"({"type":"RATE_LIMIT","enabled":true,"rules":{"max_requests":10,"window":"1m"}})")
          .hash;
  const std::string off =
      check(R"({"type":"RATE_LIMIT","enabled":false,"rules":{"max_requests":10,"window":"1m"}})")
          .hash;
  ASSERT_EQ(on.size(), 64u);
  EXPECT_EQ(on, off);
}

TEST(Hash, IsSha256OfTheCanonicalNormalizedSpec) {
  const PolicySpec spec =
      spec_of(R"({"type":"RATE_LIMIT","rules":{"window":"60s","max_requests":10}})");
  const Validation v = validate(spec);
  const auto normalized = normalized_spec(spec, v.normalized_rules);
  EXPECT_EQ(canonical_json(normalized),
            R"({"agent_id":null,"priority":0,"rules":{"max_requests":10,"window":"1m"},)"
            R"("type":"RATE_LIMIT"})");
  EXPECT_EQ(v.hash, canonical_hash(normalized));
}

TEST(Hash, EmptyWhenThereIsABlocker) {
  EXPECT_EQ(check(R"({"type":"RATE_LIMIT","rules":{"max_requests":0,"window":"1m"}})").hash, "");
}

TEST(Hash, WarningsStillHash) {
  const Validation v = check(R"({"type":"MODEL_ALLOWLIST","rules":{"models":[]}})");
  EXPECT_FALSE(v.has_error());
  EXPECT_EQ(v.hash.size(), 64u);
}

}  // namespace
}  // namespace warden::policy
