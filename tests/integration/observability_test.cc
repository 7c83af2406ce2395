// Health, readiness, Prometheus metrics and the audit log (one row per change, carrying the
// request's correlation id, hash-chained), against a real daemon.
#include <boost/json.hpp>
#include <map>
#include <regex>
#include <sstream>

#include "support/fixture.h"

namespace warden::testing {
namespace {

namespace json = boost::json;

const std::regex kSha256Hex("^[0-9a-f]{64}$");

// Value of the first sample of `metric` whose labels include every `labels` entry, or nullopt.
std::optional<double> metric_value(const std::string& text, const std::string& metric,
                                   const std::vector<std::string>& labels) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(metric + "{", 0) != 0) continue;
    auto close = line.find('}');
    if (close == std::string::npos) continue;
    const std::string label_text = line.substr(metric.size() + 1, close - metric.size() - 1);
    bool all = true;
    for (const auto& l : labels) {
      // Match whole label pairs, not substrings of other values.
      if (("," + label_text + ",").find("," + l + ",") == std::string::npos) all = false;
    }
    if (all) return std::strtod(line.c_str() + close + 1, nullptr);
  }
  return std::nullopt;
}

using HealthTest = WardenTest;
using MetricsTest = WardenTest;
using AuditTest = WardenTest;

TEST_F(HealthTest, HealthzAndReadyz) {
  Response h = client_->request("GET", "/healthz");
  ASSERT_EQ(h.status, 200) << h.describe();
  EXPECT_EQ(h.json(), json::parse(R"({"status":"ok"})"));
  Response r = client_->request("GET", "/readyz");
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.json(), json::parse(R"({"status":"ready"})"));
}

TEST_F(HealthTest, RequestLogLinesAreJsonWithTheCorrelationId) {
  Response r = client_->request("GET", "/healthz", {}, {{"X-Correlation-Id", "log-check-4711"}});
  ASSERT_EQ(r.status, 200) << r.describe();
  client_.reset();
  warden_->sigterm();  // a clean stop flushes the buffered log
  ASSERT_EQ(warden_->wait_exit(10000), std::optional<int>(0));
  std::istringstream lines(warden_->log());
  std::string line;
  int matching = 0;
  while (std::getline(lines, line)) {
    if (line.find("log-check-4711") == std::string::npos) continue;
    const json::value v = json::parse(line);  // every request line is one JSON object
    EXPECT_EQ(v.at("msg").as_string(), "request");
    EXPECT_EQ(v.at("correlation_id").as_string(), "log-check-4711");
    EXPECT_EQ(v.at("path").as_string(), "/healthz");
    EXPECT_EQ(v.at("status").as_int64(), 200);
    ++matching;
  }
  EXPECT_EQ(matching, 1) << warden_->log();
}

// The access line is written field by field: a client's correlation id with a quote and a
// backslash must come back escaped, so the line still parses and holds the id unchanged.
TEST_F(HealthTest, RequestLogLinesEscapeWhatTheClientSent) {
  const std::string cid = R"(log"check\4712)";
  Response r = client_->request("GET", "/healthz", {}, {{"X-Correlation-Id", cid}});
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.header("X-Correlation-Id"), cid);
  client_.reset();
  warden_->sigterm();
  ASSERT_EQ(warden_->wait_exit(10000), std::optional<int>(0));
  std::istringstream lines(warden_->log());
  std::string line;
  int matching = 0;
  while (std::getline(lines, line)) {
    if (line.find("4712") == std::string::npos) continue;
    const json::value v = json::parse(line);
    EXPECT_EQ(v.at("correlation_id").as_string(), cid);
    EXPECT_EQ(v.at("status").as_int64(), 200);
    ++matching;
  }
  EXPECT_EQ(matching, 1) << warden_->log();
}

TEST_F(MetricsTest, RequestCountsAndHistogramsIncrease) {
  const std::vector<std::string> healthz = {R"(method="GET")", R"(route="/healthz")",
                                            R"(status="200")"};
  Response before = client_->request("GET", "/metrics");
  ASSERT_EQ(before.status, 200) << before.describe();
  EXPECT_EQ(before.header("Content-Type").rfind("text/plain", 0), 0u)
      << before.header("Content-Type");
  const double count_before =
      metric_value(before.body, "warden_http_requests_total", healthz).value_or(0);
  // Buckets are labelled by method, route and status.
  const std::vector<std::string> inf_labels = {R"(method="GET")", R"(route="/healthz")",
                                               R"(status="200")", R"(le="+Inf")"};
  const double inf_before =
      metric_value(before.body, "warden_http_request_duration_seconds_bucket", inf_labels)
          .value_or(0);

  constexpr int kRequests = 3;
  for (int i = 0; i < kRequests; ++i) ASSERT_EQ(client_->request("GET", "/healthz").status, 200);
  ASSERT_EQ(client_->request("GET", "/v1/policies").status, 401);

  Response after = client_->request("GET", "/metrics");
  ASSERT_EQ(after.status, 200);
  auto count_after = metric_value(after.body, "warden_http_requests_total", healthz);
  ASSERT_TRUE(count_after.has_value()) << after.body.substr(0, 3000);
  EXPECT_EQ(*count_after, count_before + kRequests);
  auto inf_after =
      metric_value(after.body, "warden_http_request_duration_seconds_bucket", inf_labels);
  ASSERT_TRUE(inf_after.has_value()) << after.body.substr(0, 3000);
  EXPECT_EQ(*inf_after, inf_before + kRequests);
  auto unauthorized =
      metric_value(after.body, "warden_http_requests_total",
                   {R"(method="GET")", R"(route="/v1/policies")", R"(status="401")"});
  ASSERT_TRUE(unauthorized.has_value()) << after.body.substr(0, 3000);
  EXPECT_GE(*unauthorized, 1);
  EXPECT_NE(after.body.find("warden_http_request_duration_seconds_bucket{"), std::string::npos);
}

TEST_F(AuditTest, EveryChangeHasARowWithItsCorrelationId) {
  // Rows written by `warden init` (if any) are not part of this test.
  const std::size_t baseline = audit_count();
  std::vector<std::pair<std::string, std::string>> expected;  // event type, correlation id
  auto cid = [](const std::string& step) { return "audit-" + step; };
  auto with_cid = [&](const std::string& step) { return Headers{{"X-Correlation-Id", cid(step)}}; };

  Response agent = create_agent(*client_, "audited", std::nullopt, with_cid("agent-create"));
  ASSERT_EQ(agent.status, 201) << agent.describe();
  const std::string agent_id = str_at(agent.json(), "id");
  expected.emplace_back("AGENT_CREATED", cid("agent-create"));

  ASSERT_EQ(
      master("PUT", "/v1/agents/" + agent_id, R"({"name":"audited-2"})", with_cid("agent-update"))
          .status,
      200);
  expected.emplace_back("AGENT_UPDATED", cid("agent-update"));

  Response session = master("POST", "/v1/sessions", R"({"agent_id":")" + agent_id + R"("})",
                            with_cid("session-create"));
  ASSERT_EQ(session.status, 201) << session.describe();
  expected.emplace_back("SESSION_CREATED", cid("session-create"));
  const std::string session_id = str_at(session.json(), "id");
  Response renewed =
      client_->request("PUT", "/v1/sessions/" + session_id + "/renew", {},
                       bearer_headers(str_at(session.json(), "token"), with_cid("session-renew")));
  ASSERT_EQ(renewed.status, 200) << renewed.describe();
  expected.emplace_back("SESSION_RENEWED", cid("session-renew"));
  ASSERT_EQ(master("DELETE", "/v1/sessions/" + session_id, {}, with_cid("session-revoke")).status,
            204);
  expected.emplace_back("SESSION_REVOKED", cid("session-revoke"));

  Response policy =
      master("POST", "/v1/policies", spending_policy_body(10), with_cid("policy-create"));
  ASSERT_EQ(policy.status, 201) << policy.describe();
  expected.emplace_back("POLICY_CREATED", cid("policy-create"));
  const std::string policy_id = str_at(policy.json(), "id");
  ASSERT_EQ(
      master("PUT", "/v1/policies/" + policy_id, R"({"priority":3})", with_cid("policy-update"))
          .status,
      200);
  expected.emplace_back("POLICY_UPDATED", cid("policy-update"));
  ASSERT_EQ(master("DELETE", "/v1/policies/" + policy_id, {}, with_cid("policy-delete")).status,
            204);
  expected.emplace_back("POLICY_DELETED", cid("policy-delete"));

  ASSERT_EQ(master("DELETE", "/v1/agents/" + agent_id, {}, with_cid("agent-terminate")).status,
            204);
  expected.emplace_back("AGENT_TERMINATED", cid("agent-terminate"));

  Headers wrong = with_cid("auth-failed");
  wrong.emplace_back("X-Master-Password", "nope");
  ASSERT_EQ(client_->request("GET", "/v1/agents", {}, wrong).status, 401);
  expected.emplace_back("AUTH_FAILED", cid("auth-failed"));

  auto rows = audit_all(*client_);
  ASSERT_TRUE(rows.has_value());
  ASSERT_GE(rows->size(), baseline);
  rows->erase(rows->begin(), rows->begin() + baseline);
  std::vector<std::pair<std::string, std::string>> actual;
  for (const auto& row : *rows) {
    actual.emplace_back(str_at(row, "event_type"), str_at(row, "correlation_id"));
  }
  // Reads and the audit queries themselves add no rows: the log is exactly these changes.
  EXPECT_EQ(actual, expected);

  for (const auto& row : *rows) {
    const std::string type = str_at(row, "event_type");
    if (type.rfind("AGENT_", 0) == 0 || type.rfind("SESSION_", 0) == 0) {
      EXPECT_EQ(str_at(row, "agent_id"), agent_id) << json::serialize(row);
    }
    if (type.rfind("SESSION_", 0) == 0) {
      EXPECT_EQ(str_at(row, "session_id"), session_id) << json::serialize(row);
    }
    EXPECT_FALSE(str_at(row, "actor").empty()) << json::serialize(row);
    const std::string severity = str_at(row, "severity");
    EXPECT_TRUE(severity == "info" || severity == "warning" || severity == "critical")
        << json::serialize(row);
    EXPECT_FALSE(str_at(row, "timestamp").empty() && !int_at(row, "timestamp"))
        << json::serialize(row);
    ASSERT_NE(at(row, "details"), nullptr) << json::serialize(row);
  }
}

TEST_F(AuditTest, RowsAreHashChained) {
  const std::size_t baseline = audit_count();
  for (int i = 0; i < 4; ++i) ASSERT_FALSE(new_agent("chain-" + std::to_string(i)).empty());
  auto rows = audit_all(*client_);
  ASSERT_TRUE(rows.has_value());
  ASSERT_EQ(rows->size(), baseline + 4);
  std::string previous_hash(64, '0');
  std::int64_t previous_id = 0;
  for (const auto& row : *rows) {
    auto id = int_at(row, "id");
    ASSERT_TRUE(id.has_value()) << json::serialize(row);
    EXPECT_GT(*id, previous_id);
    EXPECT_EQ(str_at(row, "prev_hash"), previous_hash) << json::serialize(row);
    EXPECT_TRUE(std::regex_match(str_at(row, "hash"), kSha256Hex)) << json::serialize(row);
    previous_hash = str_at(row, "hash");
    previous_id = *id;
  }
}

TEST_F(AuditTest, FiltersAndPagination) {
  auto initial = audit_all(*client_);
  ASSERT_TRUE(initial.has_value());
  const std::string start_after =
      initial->empty() ? "0" : std::to_string(int_at(initial->back(), "id").value_or(0));
  const std::string a = new_agent("filter-a");
  const std::string b = new_agent("filter-b");
  ASSERT_EQ(master("PUT", "/v1/agents/" + a, R"({"name":"filter-a2"})").status, 200);
  ASSERT_EQ(master("POST", "/v1/policies", spending_policy_body(1)).status, 201);

  auto created = audit_all(*client_, "event_type=AGENT_CREATED");
  ASSERT_TRUE(created.has_value());
  EXPECT_EQ(created->size(), 2u);
  for (const auto& row : *created) EXPECT_EQ(str_at(row, "event_type"), "AGENT_CREATED");

  auto for_a = audit_all(*client_, "agent_id=" + a);
  ASSERT_TRUE(for_a.has_value());
  ASSERT_EQ(for_a->size(), 2u);
  for (const auto& row : *for_a) EXPECT_EQ(str_at(row, "agent_id"), a);

  Response first = master("GET", "/v1/audit?limit=2&after_id=" + start_after);
  ASSERT_EQ(first.status, 200) << first.describe();
  ASSERT_TRUE(at(first.json(), "items") && at(first.json(), "items")->is_array());
  ASSERT_EQ(at(first.json(), "items")->as_array().size(), 2u);
  auto next = int_at(first.json(), "next_after_id");
  ASSERT_TRUE(next.has_value()) << first.body;
  Response rest = master("GET", "/v1/audit?limit=10&after_id=" + std::to_string(*next));
  ASSERT_EQ(rest.status, 200) << rest.describe();
  const json::value rest_page = rest.json();
  ASSERT_TRUE(at(rest_page, "items") && at(rest_page, "items")->is_array());
  EXPECT_EQ(at(rest_page, "items")->as_array().size(), 2u);
  for (const auto& row : at(rest_page, "items")->as_array()) {
    EXPECT_GT(int_at(row, "id").value_or(0), *next);
  }
  ASSERT_NE(at(rest.json(), "next_after_id"), nullptr);
  EXPECT_TRUE(at(rest.json(), "next_after_id")->is_null()) << rest.body;
}

TEST_F(AuditTest, NeedsTheMasterPassword) {
  Response r = client_->request("GET", "/v1/audit");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.error_code(), "AUTH_MASTER_REQUIRED");
}

}  // namespace
}  // namespace warden::testing
