// Agents and sessions over HTTP: agent lifecycle, session tokens that work for their own agent
// only, renewal bounds, revocation and expiry, against a real daemon.
#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <ctime>
#include <regex>
#include <set>
#include <thread>

#include "support/fixture.h"

namespace warden::testing {
namespace {

namespace json = boost::json;

const std::regex kRfc3339Utc(R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$)");
constexpr const char* kUnknownId = "01900000-0000-7000-8000-000000000000";

bool is_null_field(const json::value& v, std::string_view key) {
  const json::value* f = at(v, key);
  return f != nullptr && f->is_null();
}

// Seconds since the epoch of "YYYY-MM-DDTHH:MM:SSZ"; -1 when it does not parse.
std::int64_t epoch_seconds(const std::string& rfc3339) {
  std::tm tm{};
  if (!strptime(rfc3339.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm)) return -1;
  return static_cast<std::int64_t>(timegm(&tm));
}

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

using AgentTest = WardenTest;
using SessionTest = WardenTest;

TEST_F(AgentTest, CreateReturnsTheFullAgentWithDefaults) {
  Response r = create_agent(*client_, "alpha");
  ASSERT_EQ(r.status, 201) << r.describe();
  json::value a = r.json();
  EXPECT_FALSE(str_at(a, "id").empty());
  EXPECT_EQ(str_at(a, "name"), "alpha");
  EXPECT_EQ(str_at(a, "chain"), "solana");
  EXPECT_EQ(str_at(a, "network"), "devnet");
  EXPECT_TRUE(is_null_field(a, "public_key")) << r.body;
  EXPECT_EQ(str_at(a, "status"), "ACTIVE");
  EXPECT_TRUE(is_null_field(a, "owner_address")) << r.body;
  ASSERT_NE(at(a, "owner_verified"), nullptr) << r.body;
  EXPECT_EQ(field(a, "owner_verified"), json::value(false));
  EXPECT_TRUE(std::regex_match(str_at(a, "created_at"), kRfc3339Utc)) << r.body;
  EXPECT_TRUE(std::regex_match(str_at(a, "updated_at"), kRfc3339Utc)) << r.body;
  EXPECT_TRUE(is_null_field(a, "suspended_at")) << r.body;
  EXPECT_TRUE(is_null_field(a, "suspension_reason")) << r.body;

  Response got = master("GET", "/v1/agents/" + str_at(a, "id"));
  ASSERT_EQ(got.status, 200) << got.describe();
  EXPECT_EQ(got.json(), a);
}

TEST_F(AgentTest, ExplicitChainNetworkKeyAndOwner) {
  Response r = master("POST", "/v1/agents",
                      R"({"name":"eth","chain":"ethereum","network":"mainnet",)"
                      R"("public_key":"0xabc123","owner_address":"0xowner"})");
  ASSERT_EQ(r.status, 201) << r.describe();
  EXPECT_EQ(str_at(r.json(), "chain"), "ethereum");
  EXPECT_EQ(str_at(r.json(), "network"), "mainnet");
  EXPECT_EQ(str_at(r.json(), "public_key"), "0xabc123");
  EXPECT_EQ(str_at(r.json(), "owner_address"), "0xowner");
}

TEST_F(AgentTest, InvalidNameChainOrNetworkIs400) {
  const std::string long_name(129, 'n');
  for (const std::string& body :
       {std::string(R"({"name":""})"), R"({"name":")" + long_name + R"("})",
        std::string(R"({"name":"x","chain":"bitcoin"})"),
        std::string(R"({"name":"x","network":"moon"})")}) {
    Response r = master("POST", "/v1/agents", body);
    EXPECT_EQ(r.status, 400) << body.substr(0, 60) << " -> " << r.describe();
  }
  Response max_name = create_agent(*client_, std::string(128, 'n'));
  EXPECT_EQ(max_name.status, 201) << "128 chars is allowed: " << max_name.describe();
  auto agents = list_all(*client_, "/v1/agents");
  ASSERT_TRUE(agents.has_value());
  EXPECT_EQ(agents->size(), 1u);
}

TEST_F(AgentTest, DuplicatePublicKeyIs409) {
  ASSERT_EQ(create_agent(*client_, "one", "KEY-1").status, 201);
  Response dup = create_agent(*client_, "two", "KEY-1");
  EXPECT_EQ(dup.status, 409) << dup.describe();
  EXPECT_EQ(dup.error_code(), "AGENT_PUBLIC_KEY_EXISTS");
  EXPECT_EQ(create_agent(*client_, "three", "KEY-2").status, 201);
  auto agents = list_all(*client_, "/v1/agents");
  ASSERT_TRUE(agents.has_value());
  EXPECT_EQ(agents->size(), 2u);
}

TEST_F(AgentTest, ConcurrentSamePublicKeySavesExactlyOne) {
  constexpr int kThreads = 8;
  std::vector<int> statuses;
  for (const auto& r : concurrently(warden_->port(), kThreads, [](HttpClient& c, int t) {
         return create_agent(c, "racer-" + std::to_string(t), "SHARED-KEY");
       })) {
    statuses.push_back(r.status);
  }
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 201), 1);
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 409), kThreads - 1);
  auto agents = list_all(*client_, "/v1/agents");
  ASSERT_TRUE(agents.has_value());
  EXPECT_EQ(agents->size(), 1u);
}

TEST_F(AgentTest, ListPaginates) {
  std::set<std::string> created;
  for (int i = 0; i < 5; ++i) created.insert(new_agent("agent-" + std::to_string(i)));
  auto page1 = master("GET", "/v1/agents?limit=2");
  ASSERT_EQ(page1.status, 200) << page1.describe();
  ASSERT_TRUE(at(page1.json(), "items") && at(page1.json(), "items")->is_array());
  EXPECT_EQ(at(page1.json(), "items")->as_array().size(), 2u);
  EXPECT_FALSE(str_at(page1.json(), "next_cursor").empty()) << page1.body;
  auto all = list_all(*client_, "/v1/agents", 2);
  ASSERT_TRUE(all.has_value());
  std::set<std::string> seen;
  for (const auto& a : *all) seen.insert(str_at(a, "id"));
  EXPECT_EQ(all->size(), 5u);
  EXPECT_EQ(seen, created);
}

TEST_F(AgentTest, SuspendActivateTerminate) {
  const std::string id = new_agent("lifecycle");
  ASSERT_FALSE(id.empty());
  Response suspended =
      master("PUT", "/v1/agents/" + id, R"({"status":"SUSPENDED","suspension_reason":"audit"})");
  ASSERT_EQ(suspended.status, 200) << suspended.describe();
  EXPECT_EQ(str_at(suspended.json(), "status"), "SUSPENDED");
  EXPECT_EQ(str_at(suspended.json(), "suspension_reason"), "audit");
  EXPECT_TRUE(std::regex_match(str_at(suspended.json(), "suspended_at"), kRfc3339Utc))
      << suspended.body;

  Response no_session = create_session(*client_, id);
  EXPECT_EQ(no_session.status, 403) << no_session.describe();
  EXPECT_EQ(no_session.error_code(), "AGENT_NOT_ACTIVE");

  Response renamed = master("PUT", "/v1/agents/" + id, R"({"status":"ACTIVE","name":"back"})");
  ASSERT_EQ(renamed.status, 200) << renamed.describe();
  EXPECT_EQ(str_at(renamed.json(), "status"), "ACTIVE");
  EXPECT_EQ(str_at(renamed.json(), "name"), "back");
  EXPECT_EQ(create_session(*client_, id).status, 201);

  Response deleted = master("DELETE", "/v1/agents/" + id);
  EXPECT_EQ(deleted.status, 204) << deleted.describe();
  Response got = master("GET", "/v1/agents/" + id);
  ASSERT_EQ(got.status, 200) << got.describe();
  EXPECT_EQ(str_at(got.json(), "status"), "TERMINATED");

  Response put = master("PUT", "/v1/agents/" + id, R"({"status":"ACTIVE"})");
  EXPECT_EQ(put.status, 409) << put.describe();
  EXPECT_EQ(put.error_code(), "AGENT_INVALID_TRANSITION");
  Response session = create_session(*client_, id);
  EXPECT_EQ(session.status, 403) << session.describe();
  EXPECT_EQ(session.error_code(), "AGENT_NOT_ACTIVE");
}

TEST_F(AgentTest, UnknownIdIs404) {
  for (const char* method : {"GET", "PUT", "DELETE"}) {
    std::string body = std::string(method) == "PUT" ? R"({"name":"x"})" : "";
    Response r = master(method, std::string("/v1/agents/") + kUnknownId, body);
    EXPECT_EQ(r.status, 404) << method << " " << r.describe();
    EXPECT_EQ(r.error_code(), "AGENT_NOT_FOUND") << method;
  }
}

TEST_F(SessionTest, TokenWorksForItsAgent) {
  const std::string agent_id = new_agent("holder");
  json::value s = new_session(agent_id);
  ASSERT_FALSE(s.is_null());
  EXPECT_FALSE(str_at(s, "id").empty());
  EXPECT_EQ(str_at(s, "agent_id"), agent_id);
  const std::string token = str_at(s, "token");
  ASSERT_FALSE(token.empty()) << json::serialize(s);
  EXPECT_TRUE(std::regex_match(str_at(s, "expires_at"), kRfc3339Utc)) << json::serialize(s);
  EXPECT_TRUE(std::regex_match(str_at(s, "absolute_expires_at"), kRfc3339Utc));
  EXPECT_LE(str_at(s, "expires_at"), str_at(s, "absolute_expires_at"));
  EXPECT_EQ(int_at(s, "renewal_count"), 0);
  EXPECT_EQ(int_at(s, "max_renewals"), 30);

  Response current = client_->request("GET", "/v1/sessions/current", {}, bearer_headers(token));
  ASSERT_EQ(current.status, 200) << current.describe();
  EXPECT_EQ(str_at(current.json(), "id"), str_at(s, "id"));
  EXPECT_EQ(str_at(current.json(), "agent_id"), agent_id);
  EXPECT_EQ(str_at(current.json(), "expires_at"), str_at(s, "expires_at"));
  EXPECT_EQ(str_at(current.json(), "absolute_expires_at"), str_at(s, "absolute_expires_at"));
  EXPECT_EQ(int_at(current.json(), "renewal_count"), 0);
  EXPECT_EQ(int_at(current.json(), "max_renewals"), 30);
  EXPECT_EQ(at(current.json(), "token"), nullptr) << "token must not be echoed back";

  Response own = client_->request("GET", "/v1/agents/" + agent_id, {}, bearer_headers(token));
  ASSERT_EQ(own.status, 200) << own.describe();
  EXPECT_EQ(str_at(own.json(), "id"), agent_id);
}

TEST_F(SessionTest, DefaultAndExplicitLifetimes) {
  constexpr std::int64_t kSlackSeconds = 5;
  const std::string agent_id = new_agent("lifetimes");
  const std::int64_t now = now_seconds();
  json::value defaults = new_session(agent_id);
  EXPECT_NEAR(epoch_seconds(str_at(defaults, "expires_at")) - now, 86400, kSlackSeconds);
  EXPECT_NEAR(epoch_seconds(str_at(defaults, "absolute_expires_at")) - now, 2592000, kSlackSeconds);
  json::value custom = new_session(agent_id, R"("ttl_s":600,"absolute_ttl_s":3600)");
  EXPECT_NEAR(epoch_seconds(str_at(custom, "expires_at")) - now, 600, kSlackSeconds);
  EXPECT_NEAR(epoch_seconds(str_at(custom, "absolute_expires_at")) - now, 3600, kSlackSeconds);
}

TEST_F(SessionTest, MissingOrUnknownTokenIs401) {
  Response missing = client_->request("GET", "/v1/sessions/current");
  EXPECT_EQ(missing.status, 401) << missing.describe();
  EXPECT_EQ(missing.error_code(), "AUTH_SESSION_REQUIRED");
  Response unknown =
      client_->request("GET", "/v1/sessions/current", {}, bearer_headers("wdn_not_a_token"));
  EXPECT_EQ(unknown.status, 401) << unknown.describe();
  EXPECT_EQ(unknown.error_code(), "AUTH_SESSION_INVALID");
}

TEST_F(SessionTest, AgentCannotReadAnotherAgent) {
  const std::string a = new_agent("a");
  const std::string b = new_agent("b");
  json::value s = new_session(a);
  const std::string token = str_at(s, "token");
  ASSERT_FALSE(token.empty());
  Response other = client_->request("GET", "/v1/agents/" + b, {}, bearer_headers(token));
  EXPECT_EQ(other.status, 404) << other.describe();
  EXPECT_EQ(other.error_code(), "AGENT_NOT_FOUND");
  Response own = client_->request("GET", "/v1/agents/" + a, {}, bearer_headers(token));
  EXPECT_EQ(own.status, 200) << own.describe();
  // A session token is no master password.
  Response admin = client_->request("GET", "/v1/policies", {}, bearer_headers(token));
  EXPECT_EQ(admin.status, 401) << admin.describe();
}

TEST_F(SessionTest, RevokedTokenIs401Revoked) {
  const std::string agent_id = new_agent("revokee");
  json::value s = new_session(agent_id);
  const std::string token = str_at(s, "token");
  ASSERT_FALSE(token.empty());
  ASSERT_EQ(client_->request("GET", "/v1/sessions/current", {}, bearer_headers(token)).status, 200);
  Response revoked = master("DELETE", "/v1/sessions/" + str_at(s, "id"));
  EXPECT_EQ(revoked.status, 204) << revoked.describe();
  Response after = client_->request("GET", "/v1/sessions/current", {}, bearer_headers(token));
  EXPECT_EQ(after.status, 401) << after.describe();
  EXPECT_EQ(after.error_code(), "AUTH_SESSION_REVOKED");
  Response renew = client_->request("PUT", "/v1/sessions/" + str_at(s, "id") + "/renew", {},
                                    bearer_headers(token));
  EXPECT_EQ(renew.status, 401) << renew.describe();
  EXPECT_EQ(renew.error_code(), "AUTH_SESSION_REVOKED");
}

TEST_F(SessionTest, TerminatingTheAgentRevokesItsSessions) {
  const std::string agent_id = new_agent("doomed");
  json::value s = new_session(agent_id);
  const std::string token = str_at(s, "token");
  ASSERT_FALSE(token.empty());
  ASSERT_EQ(master("DELETE", "/v1/agents/" + agent_id).status, 204);
  Response after = client_->request("GET", "/v1/sessions/current", {}, bearer_headers(token));
  EXPECT_EQ(after.status, 401) << after.describe();
  EXPECT_EQ(after.error_code(), "AUTH_SESSION_REVOKED");
}

TEST_F(SessionTest, ExpiredTokenIs401Expired) {
  const std::string agent_id = new_agent("short-lived");
  json::value s = new_session(agent_id, R"("ttl_s":1)");
  const std::string token = str_at(s, "token");
  ASSERT_FALSE(token.empty());
  Response fresh = client_->request("GET", "/v1/sessions/current", {}, bearer_headers(token));
  EXPECT_EQ(fresh.status, 200) << fresh.describe();
  std::this_thread::sleep_for(std::chrono::milliseconds(2200));
  Response after = client_->request("GET", "/v1/sessions/current", {}, bearer_headers(token));
  EXPECT_EQ(after.status, 401) << after.describe();
  EXPECT_EQ(after.error_code(), "AUTH_SESSION_EXPIRED");
}

TEST_F(SessionTest, RenewExtendsUntilTheLimit) {
  const std::string agent_id = new_agent("renewer");
  json::value s = new_session(agent_id, R"("ttl_s":60,"max_renewals":2)");
  const std::string id = str_at(s, "id");
  const std::string token = str_at(s, "token");
  ASSERT_FALSE(token.empty());
  EXPECT_EQ(int_at(s, "max_renewals"), 2);
  // Timestamps have second precision: wait so a renewal moves expires_at visibly.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  std::string previous_expiry = str_at(s, "expires_at");
  for (int n = 1; n <= 2; ++n) {
    Response r =
        client_->request("PUT", "/v1/sessions/" + id + "/renew", {}, bearer_headers(token));
    ASSERT_EQ(r.status, 200) << "renewal " << n << ": " << r.describe();
    EXPECT_EQ(int_at(r.json(), "renewal_count"), n);
    EXPECT_EQ(str_at(r.json(), "id"), id);
    EXPECT_GT(str_at(r.json(), "expires_at"), previous_expiry) << r.body;
    EXPECT_EQ(str_at(r.json(), "absolute_expires_at"), str_at(s, "absolute_expires_at"));
    previous_expiry = str_at(r.json(), "expires_at");
    if (n == 1) std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  }
  Response over =
      client_->request("PUT", "/v1/sessions/" + id + "/renew", {}, bearer_headers(token));
  EXPECT_EQ(over.status, 403) << over.describe();
  EXPECT_EQ(over.error_code(), "SESSION_RENEWAL_LIMIT");
  Response current = client_->request("GET", "/v1/sessions/current", {}, bearer_headers(token));
  EXPECT_EQ(int_at(current.json(), "renewal_count"), 2) << current.body;
}

TEST_F(SessionTest, RenewIsCappedAtAbsoluteExpiry) {
  const std::string agent_id = new_agent("capped");
  json::value s = new_session(agent_id, R"("ttl_s":100,"absolute_ttl_s":101)");
  const std::string token = str_at(s, "token");
  ASSERT_FALSE(token.empty());
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  Response r = client_->request("PUT", "/v1/sessions/" + str_at(s, "id") + "/renew", {},
                                bearer_headers(token));
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(str_at(r.json(), "expires_at"), str_at(s, "absolute_expires_at")) << r.body;
}

TEST_F(SessionTest, RenewingAnotherSessionIsForbidden) {
  const std::string agent_id = new_agent("two-sessions");
  json::value first = new_session(agent_id);
  json::value second = new_session(agent_id);
  ASSERT_FALSE(first.is_null());
  ASSERT_FALSE(second.is_null());
  Response r = client_->request("PUT", "/v1/sessions/" + str_at(second, "id") + "/renew", {},
                                bearer_headers(str_at(first, "token")));
  EXPECT_EQ(r.status, 403) << r.describe();
  EXPECT_EQ(r.error_code(), "AUTH_FORBIDDEN");
  Response no_token = client_->request("PUT", "/v1/sessions/" + str_at(second, "id") + "/renew");
  EXPECT_EQ(no_token.status, 401) << no_token.describe();
  EXPECT_EQ(no_token.error_code(), "AUTH_SESSION_REQUIRED");
  Response current =
      client_->request("GET", "/v1/sessions/current", {}, bearer_headers(str_at(second, "token")));
  EXPECT_EQ(int_at(current.json(), "renewal_count"), 0) << current.body;
}

}  // namespace
}  // namespace warden::testing
