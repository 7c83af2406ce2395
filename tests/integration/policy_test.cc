// Policy CRUD over HTTP against a real daemon: create/read/update/delete, duplicates, 404s,
// validation without saving, filters and cursor pagination.
#include <boost/json.hpp>
#include <regex>
#include <set>

#include "support/fixture.h"

namespace warden::testing {
namespace {

namespace json = boost::json;

const std::regex kRfc3339Utc(R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$)");
const std::regex kSha256Hex("^[0-9a-f]{64}$");
const std::regex kUuidV7("^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
constexpr const char* kUnknownId = "01900000-0000-7000-8000-000000000000";

using PolicyTest = WardenTest;

TEST_F(PolicyTest, CreateReturnsTheFullPolicyObject) {
  Response r = master("POST", "/v1/policies", spending_policy_body(1000, 5));
  ASSERT_EQ(r.status, 201) << r.describe();
  json::value p = r.json();
  EXPECT_TRUE(std::regex_match(str_at(p, "id"), kUuidV7)) << r.body;
  ASSERT_NE(at(p, "agent_id"), nullptr);
  EXPECT_TRUE(at(p, "agent_id")->is_null());
  EXPECT_EQ(str_at(p, "type"), "SPENDING_LIMIT");
  ASSERT_NE(at(p, "rules"), nullptr);
  EXPECT_EQ(str_at(field(p, "rules"), "instant_max"), "1000");
  EXPECT_EQ(str_at(field(p, "rules"), "delay_max"), "200000000000");
  EXPECT_EQ(int_at(p, "priority"), 5);
  ASSERT_NE(at(p, "enabled"), nullptr);
  EXPECT_EQ(field(p, "enabled"), json::value(true));
  EXPECT_EQ(int_at(p, "version"), 1);
  EXPECT_TRUE(std::regex_match(str_at(p, "hash"), kSha256Hex)) << r.body;
  EXPECT_TRUE(std::regex_match(str_at(p, "created_at"), kRfc3339Utc)) << r.body;
  EXPECT_TRUE(std::regex_match(str_at(p, "updated_at"), kRfc3339Utc)) << r.body;
}

TEST_F(PolicyTest, CrudHappyPath) {
  Response created = master("POST", "/v1/policies", spending_policy_body(1000, 1));
  ASSERT_EQ(created.status, 201) << created.describe();
  const std::string id = str_at(created.json(), "id");
  const std::string hash_v1 = str_at(created.json(), "hash");

  Response got = master("GET", "/v1/policies/" + id);
  ASSERT_EQ(got.status, 200) << got.describe();
  EXPECT_EQ(str_at(got.json(), "id"), id);
  EXPECT_EQ(str_at(got.json(), "hash"), hash_v1);
  EXPECT_EQ(field(got.json(), "rules"), field(created.json(), "rules"));

  auto listed = list_all(*client_, "/v1/policies");
  ASSERT_TRUE(listed.has_value());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(str_at((*listed)[0], "id"), id);

  json::object new_rules = spending_limit_rules(2500);
  Response updated =
      master("PUT", "/v1/policies/" + id, json::serialize(json::object{{"rules", new_rules}}));
  ASSERT_EQ(updated.status, 200) << updated.describe();
  EXPECT_EQ(int_at(updated.json(), "version"), 2);
  EXPECT_EQ(str_at(field(updated.json(), "rules"), "instant_max"), "2500");
  EXPECT_NE(str_at(updated.json(), "hash"), hash_v1);
  EXPECT_TRUE(std::regex_match(str_at(updated.json(), "hash"), kSha256Hex));

  Response toggled = master("PUT", "/v1/policies/" + id, R"({"enabled":false,"priority":9})");
  ASSERT_EQ(toggled.status, 200) << toggled.describe();
  EXPECT_EQ(int_at(toggled.json(), "version"), 3);
  EXPECT_EQ(int_at(toggled.json(), "priority"), 9);
  EXPECT_EQ(field(toggled.json(), "enabled"), json::value(false));

  Response reread = master("GET", "/v1/policies/" + id);
  ASSERT_EQ(reread.status, 200);
  EXPECT_EQ(int_at(reread.json(), "version"), 3);
  EXPECT_EQ(str_at(field(reread.json(), "rules"), "instant_max"), "2500");

  Response deleted = master("DELETE", "/v1/policies/" + id);
  EXPECT_EQ(deleted.status, 204) << deleted.describe();
  EXPECT_TRUE(deleted.body.empty());
  EXPECT_FALSE(deleted.header("X-Correlation-Id").empty());
  Response gone = master("GET", "/v1/policies/" + id);
  EXPECT_EQ(gone.status, 404);
  EXPECT_EQ(gone.error_code(), "POLICY_NOT_FOUND") << gone.body;
  auto after = list_all(*client_, "/v1/policies");
  ASSERT_TRUE(after.has_value());
  EXPECT_TRUE(after->empty());
}

TEST_F(PolicyTest, SameContentTwiceIs409WithExistingId) {
  Response first = master("POST", "/v1/policies", spending_policy_body(777));
  ASSERT_EQ(first.status, 201) << first.describe();
  Response second = master("POST", "/v1/policies", spending_policy_body(777));
  EXPECT_EQ(second.status, 409) << second.describe();
  EXPECT_EQ(second.error_code(), "POLICY_DUPLICATE");
  const json::value details = error_field(second, "details");
  ASSERT_TRUE(details.is_object()) << second.body;
  EXPECT_EQ(str_at(details, "existing_id"), str_at(first.json(), "id"));
  auto listed = list_all(*client_, "/v1/policies");
  ASSERT_TRUE(listed.has_value());
  EXPECT_EQ(listed->size(), 1u);
}

TEST_F(PolicyTest, ConcurrentIdenticalCreatesSaveExactlyOne) {
  constexpr int kThreads = 8;
  const auto responses = concurrently(warden_->port(), kThreads, [&](HttpClient& c, int) {
    return c.request("POST", "/v1/policies", spending_policy_body(9090), master_headers());
  });
  int created = 0;
  std::string created_id;
  for (const auto& r : responses) {
    if (r.status == 201) {
      ++created;
      created_id = str_at(r.json(), "id");
    }
  }
  ASSERT_EQ(created, 1);
  for (const auto& r : responses) {
    if (r.status == 201) continue;
    EXPECT_EQ(r.status, 409) << r.describe();
    EXPECT_EQ(r.error_code(), "POLICY_DUPLICATE");
    EXPECT_EQ(str_at(error_field(r, "details"), "existing_id"), created_id) << r.body;
  }
  auto listed = list_all(*client_, "/v1/policies");
  ASSERT_TRUE(listed.has_value());
  EXPECT_EQ(listed->size(), 1u);
}

TEST_F(PolicyTest, ReorderedRulesKeysAreTheSameContent) {
  Response first = master("POST", "/v1/policies", spending_policy_body(4242));
  ASSERT_EQ(first.status, 201) << first.describe();
  // Same rules written with keys in another order and extra whitespace.
  const std::string reordered =
      R"({ "rules": {"asset":"native", "windows":[{"max":"900000000000","duration":"24h"}],)"
      R"( "approval_timeout_seconds":3600, "delay_seconds":300, "delay_max":"200000000000",)"
      R"( "notify_max":"100000000000", "instant_max":"4242"}, "priority":0,)"
      R"( "type":"SPENDING_LIMIT" })";
  Response second = master("POST", "/v1/policies", reordered);
  EXPECT_EQ(second.status, 409) << second.describe();
  EXPECT_EQ(second.error_code(), "POLICY_DUPLICATE");
}

TEST_F(PolicyTest, UnknownIdIs404OnGetPutDelete) {
  for (const char* method : {"GET", "PUT", "DELETE"}) {
    std::string body = std::string(method) == "PUT" ? R"({"priority":1})" : "";
    Response r = master(method, std::string("/v1/policies/") + kUnknownId, body);
    EXPECT_EQ(r.status, 404) << method << " " << r.describe();
    EXPECT_EQ(r.error_code(), "POLICY_NOT_FOUND") << method;
  }
}

TEST_F(PolicyTest, ChangingTypeIs400AndKeepsThePolicy) {
  Response created = master("POST", "/v1/policies", spending_policy_body(1000));
  ASSERT_EQ(created.status, 201) << created.describe();
  const std::string id = str_at(created.json(), "id");
  Response r = master("PUT", "/v1/policies/" + id, R"({"type":"WHITELIST"})");
  EXPECT_EQ(r.status, 400) << r.describe();
  EXPECT_EQ(r.error_code(), "VALIDATION_INVALID_VALUE");
  Response got = master("GET", "/v1/policies/" + id);
  EXPECT_EQ(str_at(got.json(), "type"), "SPENDING_LIMIT");
  EXPECT_EQ(int_at(got.json(), "version"), 1);
}

TEST_F(PolicyTest, UnknownAgentIs404AgentNotFound) {
  Response r = master("POST", "/v1/policies", spending_policy_body(1000, 0, kUnknownId));
  EXPECT_EQ(r.status, 404) << r.describe();
  EXPECT_EQ(r.error_code(), "AGENT_NOT_FOUND");
  auto listed = list_all(*client_, "/v1/policies");
  ASSERT_TRUE(listed.has_value());
  EXPECT_TRUE(listed->empty());
}

TEST_F(PolicyTest, AgentScopedPolicyKeepsItsAgent) {
  const std::string agent_id = new_agent("scoped");
  ASSERT_FALSE(agent_id.empty());
  Response r = master("POST", "/v1/policies", spending_policy_body(1000, 0, agent_id));
  ASSERT_EQ(r.status, 201) << r.describe();
  EXPECT_EQ(str_at(r.json(), "agent_id"), agent_id);
}

TEST_F(PolicyTest, ValidationListsEveryProblem) {
  json::object rules = spending_limit_rules(1000);
  rules["instant_max"] = "-5";
  rules["notify_max"] = "abc";
  json::object body{{"type", "SPENDING_LIMIT"}, {"rules", rules}};
  Response r = master("POST", "/v1/policies", json::serialize(body));
  ASSERT_EQ(r.status, 400) << r.describe();
  EXPECT_EQ(r.error_code(), "POLICY_VALIDATION_FAILED");
  const json::value details = error_field(r, "details");
  ASSERT_TRUE(details.is_object());
  const json::value* issues = at(details, "issues");
  ASSERT_TRUE(issues && issues->is_array()) << r.body;
  std::set<std::string> pointers;
  for (const auto& issue : issues->as_array()) {
    pointers.insert(str_at(issue, "pointer"));
    EXPECT_FALSE(str_at(issue, "severity").empty()) << json::serialize(issue);
    EXPECT_FALSE(str_at(issue, "code").empty()) << json::serialize(issue);
    EXPECT_FALSE(str_at(issue, "message").empty()) << json::serialize(issue);
  }
  EXPECT_TRUE(pointers.count("/rules/instant_max")) << r.body;
  EXPECT_TRUE(pointers.count("/rules/notify_max")) << r.body;
}

TEST_F(PolicyTest, ValidateEndpointReportsButNeverSaves) {
  Response good = master("POST", "/v1/policies/validate", spending_policy_body(1000));
  ASSERT_EQ(good.status, 200) << good.describe();
  json::value v = good.json();
  EXPECT_EQ(field(v, "ok"), json::value(true)) << good.body;
  ASSERT_TRUE(at(v, "issues") && at(v, "issues")->is_array());
  EXPECT_TRUE(std::regex_match(str_at(v, "hash"), kSha256Hex)) << good.body;
  EXPECT_NE(at(v, "normalized"), nullptr) << good.body;

  json::object rules = spending_limit_rules(1000);
  rules["instant_max"] = "01";
  json::object bad_body{{"type", "SPENDING_LIMIT"}, {"rules", rules}};
  Response bad = master("POST", "/v1/policies/validate", json::serialize(bad_body));
  ASSERT_EQ(bad.status, 200) << bad.describe();
  EXPECT_EQ(field(bad.json(), "ok"), json::value(false)) << bad.body;
  ASSERT_TRUE(at(bad.json(), "issues") && at(bad.json(), "issues")->is_array());
  EXPECT_FALSE(at(bad.json(), "issues")->as_array().empty());

  auto listed = list_all(*client_, "/v1/policies");
  ASSERT_TRUE(listed.has_value());
  EXPECT_TRUE(listed->empty());
  // The validated content was not stored: creating it now succeeds rather than 409.
  Response created = master("POST", "/v1/policies", spending_policy_body(1000));
  EXPECT_EQ(created.status, 201) << created.describe();
  EXPECT_EQ(str_at(created.json(), "hash"), str_at(v, "hash"));
}

TEST_F(PolicyTest, PaginationBy3OverSevenPolicies) {
  std::set<std::string> created;
  for (int i = 0; i < 7; ++i) {
    Response r = master("POST", "/v1/policies", spending_policy_body(100 + i));
    ASSERT_EQ(r.status, 201) << r.describe();
    created.insert(str_at(r.json(), "id"));
  }
  std::set<std::string> seen;
  std::vector<std::size_t> page_sizes;
  std::string cursor;
  for (int page = 0; page < 5; ++page) {
    std::string target = "/v1/policies?limit=3" + (cursor.empty() ? "" : "&cursor=" + cursor);
    Response r = master("GET", target);
    ASSERT_EQ(r.status, 200) << r.describe();
    json::value v = r.json();
    ASSERT_TRUE(at(v, "items") && at(v, "items")->is_array()) << r.body;
    page_sizes.push_back(at(v, "items")->as_array().size());
    for (const auto& item : at(v, "items")->as_array()) {
      EXPECT_TRUE(seen.insert(str_at(item, "id")).second) << "repeated " << str_at(item, "id");
    }
    ASSERT_NE(at(v, "next_cursor"), nullptr) << "next_cursor must be present: " << r.body;
    if (at(v, "next_cursor")->is_null()) break;
    cursor = str_at(v, "next_cursor");
    ASSERT_FALSE(cursor.empty()) << r.body;
  }
  EXPECT_EQ(page_sizes, (std::vector<std::size_t>{3, 3, 1}));
  EXPECT_EQ(seen, created);
}

TEST_F(PolicyTest, ListFiltersByAgentTypeAndEnabled) {
  const std::string agent_id = new_agent("filtered");
  ASSERT_FALSE(agent_id.empty());
  ASSERT_EQ(master("POST", "/v1/policies", spending_policy_body(1, 0, agent_id)).status, 201);
  ASSERT_EQ(master("POST", "/v1/policies", spending_policy_body(2)).status, 201);
  Response disabled = master("POST", "/v1/policies", spending_policy_body(3));
  ASSERT_EQ(disabled.status, 201);
  const std::string disabled_id = str_at(disabled.json(), "id");
  ASSERT_EQ(master("PUT", "/v1/policies/" + disabled_id, R"({"enabled":false})").status, 200);

  auto by_agent = list_all(*client_, "/v1/policies?agent_id=" + agent_id);
  ASSERT_TRUE(by_agent.has_value());
  ASSERT_EQ(by_agent->size(), 1u);
  EXPECT_EQ(str_at((*by_agent)[0], "agent_id"), agent_id);

  auto off = list_all(*client_, "/v1/policies?enabled=false");
  ASSERT_TRUE(off.has_value());
  ASSERT_EQ(off->size(), 1u);
  EXPECT_EQ(str_at((*off)[0], "id"), disabled_id);

  auto spending = list_all(*client_, "/v1/policies?type=SPENDING_LIMIT");
  ASSERT_TRUE(spending.has_value());
  EXPECT_EQ(spending->size(), 3u);
  auto whitelist = list_all(*client_, "/v1/policies?type=WHITELIST");
  ASSERT_TRUE(whitelist.has_value());
  EXPECT_TRUE(whitelist->empty());
}

}  // namespace
}  // namespace warden::testing
