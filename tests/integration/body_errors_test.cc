// Request errors, each in its own test: bad JSON, unknown/missing/mistyped fields, bad amounts,
// oversized bodies, unknown routes and methods. Each must answer its documented code and leave
// the stored state (agents, policies, audit log) exactly as it was.
#include <boost/json.hpp>
#include <chrono>

#include "support/fixture.h"

namespace warden::testing {
namespace {

namespace json = boost::json;

struct StateCounts {
  std::size_t agents = 0;
  std::size_t policies = 0;
  std::size_t audit_rows = 0;
  bool operator==(const StateCounts&) const = default;
};

std::ostream& operator<<(std::ostream& os, const StateCounts& s) {
  return os << "{agents=" << s.agents << ", policies=" << s.policies
            << ", audit_rows=" << s.audit_rows << "}";
}

class BodyErrorTest : public WardenTest {
 protected:
  void SetUp() override {
    WardenTest::SetUp();
    if (HasFatalFailure()) return;
    // Some state to compare against, so "nothing changed" is not trivially true.
    ASSERT_FALSE(new_agent("baseline").empty());
    ASSERT_EQ(master("POST", "/v1/policies", spending_policy_body(1000)).status, 201);
    before_ = counts();
  }

  StateCounts counts() {
    StateCounts s;
    auto agents = list_all(*client_, "/v1/agents");
    auto policies = list_all(*client_, "/v1/policies");
    auto audit = audit_all(*client_);
    EXPECT_TRUE(agents && policies && audit) << "listing state failed";
    if (agents) s.agents = agents->size();
    if (policies) s.policies = policies->size();
    if (audit) s.audit_rows = audit->size();
    return s;
  }

  void expect_error(const Response& r, int status, const std::string& code) {
    EXPECT_EQ(r.status, status) << r.describe();
    EXPECT_EQ(r.error_code(), code) << r.body;
    EXPECT_FALSE(r.header("X-Correlation-Id").empty());
  }

  void expect_unchanged() { EXPECT_EQ(counts(), before_); }

  StateCounts before_;
};

TEST_F(BodyErrorTest, MalformedJsonIs400) {
  expect_error(master("POST", "/v1/policies", R"({"type": "SPENDING_LIMIT", "rules": {)"), 400,
               "VALIDATION_MALFORMED_JSON");
  expect_unchanged();
}

TEST_F(BodyErrorTest, TrailingGarbageIsMalformedJson) {
  expect_error(master("POST", "/v1/agents", R"({"name":"x"} {"name":"y"})"), 400,
               "VALIDATION_MALFORMED_JSON");
  expect_unchanged();
}

TEST_F(BodyErrorTest, UnknownFieldIs400NamingTheField) {
  json::value body = json::parse(spending_policy_body(5000));
  body.as_object()["colour"] = "red";
  Response r = master("POST", "/v1/policies", json::serialize(body));
  expect_error(r, 400, "VALIDATION_UNKNOWN_FIELD");
  const json::value details = error_field(r, "details");
  ASSERT_TRUE(details.is_object()) << r.body;
  EXPECT_EQ(str_at(details, "field"), "colour") << r.body;
  expect_unchanged();
}

TEST_F(BodyErrorTest, UnknownFieldOnAgentIs400) {
  Response r = master("POST", "/v1/agents", R"({"name":"a","nickname":"b"})");
  expect_error(r, 400, "VALIDATION_UNKNOWN_FIELD");
  const json::value details = error_field(r, "details");
  ASSERT_TRUE(details.is_object()) << r.body;
  EXPECT_EQ(str_at(details, "field"), "nickname") << r.body;
  expect_unchanged();
}

TEST_F(BodyErrorTest, MissingRequiredFieldIs400) {
  json::object body{{"rules", spending_limit_rules(5000)}};
  expect_error(master("POST", "/v1/policies", json::serialize(body)), 400,
               "VALIDATION_MISSING_FIELD");
  expect_unchanged();
}

TEST_F(BodyErrorTest, MissingAgentNameIs400) {
  expect_error(master("POST", "/v1/agents", R"({"chain":"solana"})"), 400,
               "VALIDATION_MISSING_FIELD");
  expect_unchanged();
}

TEST_F(BodyErrorTest, WrongTypeIs400) {
  json::value body = json::parse(spending_policy_body(5000));
  body.as_object()["priority"] = "high";
  expect_error(master("POST", "/v1/policies", json::serialize(body)), 400, "VALIDATION_WRONG_TYPE");
  expect_unchanged();
}

TEST_F(BodyErrorTest, WrongTypeForAgentNameIs400) {
  expect_error(master("POST", "/v1/agents", R"({"name":42})"), 400, "VALIDATION_WRONG_TYPE");
  expect_unchanged();
}

class BadAmountTest : public BodyErrorTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(BadAmountTest, IsPolicyValidationFailedAtInstantMax) {
  json::object rules = spending_limit_rules(1);
  rules["instant_max"] = GetParam();
  json::object body{{"type", "SPENDING_LIMIT"}, {"rules", rules}};
  Response r = master("POST", "/v1/policies", json::serialize(body));
  expect_error(r, 400, "POLICY_VALIDATION_FAILED");
  const json::value details = error_field(r, "details");
  ASSERT_TRUE(details.is_object()) << r.body;
  const json::value* issues = at(details, "issues");
  ASSERT_TRUE(issues && issues->is_array()) << r.body;
  bool found = false;
  for (const auto& issue : issues->as_array()) {
    if (str_at(issue, "pointer") == "/rules/instant_max" &&
        str_at(issue, "code") == "AMOUNT_INVALID") {
      found = true;
    }
  }
  EXPECT_TRUE(found) << "no AMOUNT_INVALID issue at /rules/instant_max: " << r.body;
  expect_unchanged();
}

std::string amount_case_name(const ::testing::TestParamInfo<const char*>& info) {
  static const std::vector<std::string> kNames = {"Negative", "LeadingZero", "Fraction", "Empty",
                                                  "TwoPow256"};
  return kNames.at(info.index);
}

INSTANTIATE_TEST_SUITE_P(
    Amounts, BadAmountTest,
    ::testing::Values(
        "-5", "01", "1.5", "",
        // 2^256
        "115792089237316195423570985008687907853269984665640564039457584007913129639936"),
    amount_case_name);

class SmallBodyLimitTest : public BodyErrorTest {
 protected:
  std::vector<std::string> serve_flags() const override { return {"--body-bytes-max", "4096"}; }
};

TEST_F(SmallBodyLimitTest, OversizedBodyIs413AndNothingSaved) {
  // A valid agent body padded past the limit: it would be saved if the limit were ignored.
  std::string body = R"({"name":"too-big")" + std::string(5000, ' ') + "}";
  expect_error(master("POST", "/v1/agents", body), 413, "VALIDATION_BODY_TOO_LARGE");
  HttpClient fresh(warden_->port());
  Response under =
      fresh.request("POST", "/v1/agents",
                    R"({"name":"small-enough")" + std::string(3000, ' ') + "}", master_headers());
  EXPECT_EQ(under.status, 201) << "a body under the limit must pass: " << under.describe();
  before_.agents += 1;
  before_.audit_rows += 1;
  auto agents = list_all(fresh, "/v1/agents");
  ASSERT_TRUE(agents.has_value());
  for (const auto& a : *agents) EXPECT_NE(str_at(a, "name"), "too-big");
  EXPECT_EQ(agents->size(), before_.agents);
}

TEST_F(BodyErrorTest, DefaultLimitIsOneMebibyte) {
  constexpr std::size_t kDefaultBodyBytesMax = 1048576;
  std::string body = R"({"name":"huge")";
  body += std::string(kDefaultBodyBytesMax + 1 - body.size() - 1, ' ');
  body += "}";
  ASSERT_EQ(body.size(), kDefaultBodyBytesMax + 1);
  expect_error(master("POST", "/v1/agents", body), 413, "VALIDATION_BODY_TOO_LARGE");
  client_ = std::make_unique<HttpClient>(warden_->port());
  expect_unchanged();
}

class ShortRequestTimeoutTest : public BodyErrorTest {
 protected:
  std::vector<std::string> serve_flags() const override { return {"--request-timeout-ms", "500"}; }
};

TEST_F(ShortRequestTimeoutTest, StalledBodyIsCutOffAndNothingSaved) {
  const std::string head =
      std::string("POST /v1/agents HTTP/1.1\r\nHost: 127.0.0.1\r\n") +
      "Content-Type: application/json\r\nX-Master-Password: " + kTestMasterPassword +
      "\r\nContent-Length: 40\r\n\r\n{\"name\":";
  constexpr int kWaitMs = 5000;  // 10x the configured timeout
  HttpClient raw(warden_->port(), kWaitMs);
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(raw.send_raw(head));
  Response r = raw.read_response();
  const auto waited = std::chrono::steady_clock::now() - start;
  // Either a 408 or a closed connection, well before our own read timeout.
  if (r.status != 0) {
    EXPECT_EQ(r.status, 408) << r.describe();
    EXPECT_EQ(r.error_code(), "REQUEST_TIMEOUT") << r.body;
  }
  EXPECT_LT(waited, std::chrono::milliseconds(kWaitMs - 1000)) << r.describe();
  EXPECT_GE(waited, std::chrono::milliseconds(400)) << "cut off before the timeout";
  expect_unchanged();
}

TEST_F(BodyErrorTest, SessionFieldsAreValidated) {
  const std::string agent_id = new_agent("session-fields");
  before_ = counts();
  const std::string id_field = R"("agent_id":")" + agent_id + R"(")";
  Response zero_ttl = master("POST", "/v1/sessions", "{" + id_field + R"(,"ttl_s":0})");
  EXPECT_EQ(zero_ttl.status, 400) << zero_ttl.describe();
  Response bad_constraints =
      master("POST", "/v1/sessions", "{" + id_field + R"(,"constraints":"all"})");
  expect_error(bad_constraints, 400, "VALIDATION_WRONG_TYPE");
  expect_error(master("POST", "/v1/sessions", R"({"ttl_s":60})"), 400, "VALIDATION_MISSING_FIELD");
  expect_unchanged();
}

TEST_F(BodyErrorTest, UnknownRouteIs404) {
  expect_error(master("GET", "/v1/nothing-here"), 404, "ROUTE_NOT_FOUND");
  expect_error(master("POST", "/v1/nothing-here", R"({"a":1})"), 404, "ROUTE_NOT_FOUND");
  expect_unchanged();
}

TEST_F(BodyErrorTest, WrongMethodIs405) {
  expect_error(master("PATCH", "/v1/policies", spending_policy_body(6000)), 405,
               "METHOD_NOT_ALLOWED");
  expect_error(master("DELETE", "/v1/agents"), 405, "METHOD_NOT_ALLOWED");
  expect_error(client_->request("POST", "/healthz", "{}"), 405, "METHOD_NOT_ALLOWED");
  expect_unchanged();
}

}  // namespace
}  // namespace warden::testing
