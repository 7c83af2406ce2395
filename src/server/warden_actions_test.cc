// The built-in automation host's actions on a real daemon core (store, group-commit writer,
// decision service, API): each changes what the matching route changes, is audited as
// "automation" with the correlation id, takes effect at once (a suspended agent's session is
// refused, a disabled policy no longer decides) and repeating it writes nothing.
#include "server/warden_actions.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/json.hpp>
#include <filesystem>
#include <future>

#include "ledger/service.h"
#include "server/api.h"
#include "server/routes.h"
#include "server/session_tokens.h"
#include "server/warden_events.h"
#include "store/sqlite/sqlite_store.h"

namespace warden::server {
namespace {
namespace json = boost::json;

constexpr auto kWaitMax = std::chrono::seconds(15);
constexpr const char* kMasterPassword = "warden-actions-master";

class WardenActionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "warden-actions-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto opened = store::SqliteStore::open(dir_ + "/warden.db", {.create_if_missing = true});
    ASSERT_TRUE(opened.ok()) << opened.status().to_string();
    store_ = std::move(*opened);
    writer_ = std::make_unique<store::BatchWriter>(*store_, store::BatchOptions{});
    ledger_ = std::make_unique<ledger::LedgerService>(
        *store_, *writer_, clock_, ids_, ledger::LedgerOptions{.start_sweeper = false});
    ASSERT_TRUE(ledger_->start().ok());
    decisions_ = std::make_unique<decisions::DecisionService>(
        *store_, *writer_, clock_, ids_, decisions::DecisionOptions{.start_sweeper = false},
        nullptr);
    decisions_->set_ledger(ledger_.get());
    ASSERT_TRUE(decisions_->start().ok());
    auto keys = SessionKeys::open(*store_, std::string(kMasterSecretBytes, 'k'), clock_, {});
    ASSERT_TRUE(keys.ok()) << keys.status().to_string();
    session_keys_ = std::move(*keys);
    api_ = std::make_unique<Api>(*store_, *writer_, clock_, ids_, metrics_, *decisions_, *ledger_,
                                 *hash_master_password(kMasterPassword),
                                 ApiOptions{.session_keys = session_keys_.get()});
    events_ = std::make_unique<WardenEvents>(
        clock_, ids_, [](std::string_view) { return true; },
        [this](automation::Event e) {
          std::lock_guard lock(mu_);
          emitted_.push_back(std::move(e));
        });
    actions_ = std::make_unique<ServerWardenActions>(*store_, *writer_, clock_, *decisions_,
                                                     api_->sessions(), events_.get(),
                                                     &api_->change_feed());
    api_->change_feed().subscribe(store::FeedTopic::kPolicies, [this](const store::Change& c) {
      std::lock_guard lock(mu_);
      policy_announcements_ += c.own ? 1 : 0;
    });
  }
  void TearDown() override {
    actions_.reset();
    api_.reset();
    decisions_->stop();
    ledger_->stop();
    writer_->stop();
    decisions_.reset();
    ledger_.reset();
    writer_.reset();
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  HttpResponse call(std::string method, std::string path, std::string body = {},
                    std::string token = {}) {
    auto answered = std::make_shared<std::promise<HttpResponse>>();
    auto future = answered->get_future();
    auto req = std::make_shared<HttpRequest>();
    req->method = std::move(method);
    split_target(path, &req->path, &req->query);
    req->body = std::move(body);
    req->client_address = "127.0.0.1";
    if (token.empty()) {
      req->headers["x-master-password"] = kMasterPassword;
    } else {
      req->headers["authorization"] = "Bearer " + token;
    }
    api_->handle(*req, [answered, req](HttpResponse r) { answered->set_value(std::move(r)); });
    if (future.wait_for(kWaitMax) != std::future_status::ready) return HttpResponse{.status = 0};
    return future.get();
  }
  static json::object body_of(const HttpResponse& r) {
    boost::system::error_code ec;
    json::value v = json::parse(r.body, ec);
    return !ec && v.is_object() ? v.as_object() : json::object();
  }
  static std::string str(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : "";
  }
  std::string new_agent(const std::string& name) {
    HttpResponse r = call("POST", "/v1/agents", json::serialize(json::object{{"name", name}}));
    EXPECT_EQ(r.status, 201) << r.body;
    return str(body_of(r), "id");
  }
  std::string new_session(const std::string& agent_id) {
    HttpResponse r =
        call("POST", "/v1/sessions", json::serialize(json::object{{"agent_id", agent_id}}));
    EXPECT_EQ(r.status, 201) << r.body;
    return str(body_of(r), "token");
  }
  std::vector<store::AuditRow> audit(const std::string& type) {
    store::AuditFilter f;
    f.event_type = type;
    f.limit = 1000;
    auto rows = store_->list_audit(f);
    EXPECT_TRUE(rows.ok());
    std::vector<store::AuditRow> out;
    for (auto& r : rows.value()) {
      if (r.event.actor == "automation") out.push_back(std::move(r));
    }
    return out;
  }

  std::string dir_;
  FakeClock clock_;
  IdGenerator ids_{clock_};
  Metrics metrics_;
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<store::BatchWriter> writer_;
  std::unique_ptr<ledger::LedgerService> ledger_;
  std::unique_ptr<decisions::DecisionService> decisions_;
  std::unique_ptr<SessionKeys> session_keys_;
  std::unique_ptr<Api> api_;
  std::unique_ptr<WardenEvents> events_;
  std::unique_ptr<ServerWardenActions> actions_;
  int policy_announcements_ = 0;  // guarded by mu_: kPolicies changes this process published
  std::mutex mu_;
  std::vector<automation::Event> emitted_;
};

TEST_F(WardenActionsTest, SuspendRefusesTheAgentsSessionAtOnceAndResumeLetsItBackIn) {
  const std::string agent = new_agent("bot");
  const std::string token = new_session(agent);
  ASSERT_EQ(call("GET", "/v1/sessions/current", {}, token).status, 200);  // cached now

  ASSERT_TRUE(actions_->suspend_agent(agent, "spend spike", "corr-suspend").ok());
  auto row = store_->get_agent(agent).value().value();
  EXPECT_EQ(row.status, "SUSPENDED");
  EXPECT_EQ(row.suspension_reason, std::optional<std::string>("spend spike"));
  EXPECT_EQ(row.suspended_at, std::optional<std::int64_t>(clock_.now_seconds()));
  HttpResponse refused = call("GET", "/v1/sessions/current", {}, token);
  EXPECT_EQ(refused.status, 403) << refused.body;
  EXPECT_NE(refused.body.find("AGENT_NOT_ACTIVE"), std::string::npos) << refused.body;
  auto rows = audit("AGENT_UPDATED");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].event.correlation_id, std::optional<std::string>("corr-suspend"));
  EXPECT_EQ(rows[0].event.agent_id, std::optional<std::string>(agent));
  EXPECT_NE(rows[0].event.details.find("SUSPENDED"), std::string::npos);

  // Already suspended: a no-op, with no second audit row.
  ASSERT_TRUE(actions_->suspend_agent(agent, "again", "corr-2").ok());
  EXPECT_EQ(audit("AGENT_UPDATED").size(), 1u);
  EXPECT_EQ(store_->get_agent(agent).value()->suspension_reason,
            std::optional<std::string>("spend spike"));

  ASSERT_TRUE(actions_->resume_agent(agent, "corr-resume").ok());
  row = store_->get_agent(agent).value().value();
  EXPECT_EQ(row.status, "ACTIVE");
  EXPECT_FALSE(row.suspension_reason.has_value());
  EXPECT_FALSE(row.suspended_at.has_value());
  EXPECT_EQ(call("GET", "/v1/sessions/current", {}, token).status, 200);
  EXPECT_EQ(audit("AGENT_UPDATED").size(), 2u);
}

TEST_F(WardenActionsTest, UnknownAndTerminatedAgentsAreRefusedWithTheRoutesCodes) {
  EXPECT_EQ(actions_->suspend_agent("01900000-0000-7000-8000-000000000000", "", "c").code(),
            ErrorCode::AGENT_NOT_FOUND);
  const std::string agent = new_agent("gone");
  ASSERT_EQ(call("DELETE", "/v1/agents/" + agent).status, 204);
  EXPECT_EQ(actions_->resume_agent(agent, "c").code(), ErrorCode::AGENT_INVALID_TRANSITION);
  EXPECT_EQ(actions_->revoke_sessions("01900000-0000-7000-8000-000000000000", "c").status().code(),
            ErrorCode::AGENT_NOT_FOUND);
}

TEST_F(WardenActionsTest, RevokeSessionsCountsThemAndTheyStopWorking) {
  const std::string agent = new_agent("bot");
  const std::string a = new_session(agent), b = new_session(agent);
  ASSERT_EQ(call("GET", "/v1/sessions/current", {}, a).status, 200);
  auto revoked = actions_->revoke_sessions(agent, "corr-revoke");
  ASSERT_TRUE(revoked.ok()) << revoked.status().to_string();
  EXPECT_EQ(*revoked, 2);
  for (const auto& token : {a, b}) {
    HttpResponse r = call("GET", "/v1/sessions/current", {}, token);
    EXPECT_EQ(r.status, 401) << r.body;
    EXPECT_NE(r.body.find("AUTH_SESSION_REVOKED"), std::string::npos) << r.body;
  }
  auto rows = audit("SESSIONS_REVOKED");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].event.correlation_id, std::optional<std::string>("corr-revoke"));
  EXPECT_NE(rows[0].event.details.find("\"sessions_revoked\":2"), std::string::npos);
  auto again = actions_->revoke_sessions(agent, "corr-again");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0);
  EXPECT_EQ(audit("SESSIONS_REVOKED").size(), 1u);
}

TEST_F(WardenActionsTest, DisablingAPolicyReachesTheEngineAndIsAnnounced) {
  const std::string agent = new_agent("bot");
  HttpResponse created = call("POST", "/v1/policies",
                              json::serialize(json::object{
                                  {"agent_id", agent},
                                  {"type", "RATE_LIMIT"},
                                  {"rules", json::object{{"max_requests", 1}, {"window", "1m"}}}}));
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string policy = str(body_of(created), "id");
  const std::string token = new_session(agent);
  const std::string decision = R"({"action":"llm.call","attributes":{},"amounts":{}})";
  EXPECT_EQ(str(body_of(call("POST", "/v1/decisions", decision, token)), "effect"), "ALLOW");
  EXPECT_EQ(str(body_of(call("POST", "/v1/decisions", decision, token)), "effect"), "DENY");

  {
    std::lock_guard lock(mu_);
    emitted_.clear();
    policy_announcements_ = 0;
  }
  ASSERT_TRUE(actions_->set_policy_enabled(policy, false, "corr-off").ok());
  {
    std::lock_guard lock(mu_);
    EXPECT_EQ(policy_announcements_, 1);  // the other replicas hear of it too
  }
  auto row = store_->get_policy(policy).value().value();
  EXPECT_FALSE(row.enabled);
  EXPECT_EQ(row.version, 2);
  EXPECT_EQ(str(body_of(call("POST", "/v1/decisions", decision, token)), "effect"), "ALLOW");
  auto rows = audit("POLICY_UPDATED");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].event.correlation_id, std::optional<std::string>("corr-off"));
  {
    std::lock_guard lock(mu_);
    ASSERT_EQ(emitted_.size(), 1u);
    EXPECT_EQ(emitted_[0].kind, "policy.changed");
    EXPECT_EQ(emitted_[0].subject, policy);
    EXPECT_EQ(emitted_[0].attributes.at("change"), json::value("disabled"));
  }
  // Already disabled: nothing written, nothing announced.
  ASSERT_TRUE(actions_->set_policy_enabled(policy, false, "corr-off-2").ok());
  EXPECT_EQ(store_->get_policy(policy).value()->version, 2);
  ASSERT_TRUE(actions_->set_policy_enabled(policy, true, "corr-on").ok());
  EXPECT_EQ(store_->get_policy(policy).value()->version, 3);
  EXPECT_EQ(str(body_of(call("POST", "/v1/decisions", decision, token)), "effect"), "DENY");
  EXPECT_EQ(actions_->set_policy_enabled("01900000-0000-7000-8000-000000000000", true, "c").code(),
            ErrorCode::POLICY_NOT_FOUND);
}

TEST_F(WardenActionsTest, InventoryListsAgentsAndPoliciesWithTheirLabels) {
  const std::string a = new_agent("alpha");
  const std::string b = new_agent("beta");
  HttpResponse org = call("POST", "/v1/orgs", R"({"name":"acme"})");
  ASSERT_EQ(org.status, 201) << org.body;
  const std::string acme = str(body_of(org), "id");
  ASSERT_EQ(call("PUT", "/v1/agents/" + b,
                 json::serialize(json::object{{"status", "SUSPENDED"}, {"org", acme}}))
                .status,
            200);
  HttpResponse created = call(
      "POST", "/v1/policies",
      json::serialize(json::object{{"agent_id", a},
                                   {"type", "RATE_LIMIT"},
                                   {"rules", json::object{{"max_requests", 5}, {"window", "1m"}}},
                                   {"enabled", false}}));
  ASSERT_EQ(created.status, 201) << created.body;

  auto agents = actions_->agents();
  ASSERT_TRUE(agents.ok());
  ASSERT_EQ(agents->size(), 2u);
  EXPECT_EQ((*agents)[0].id, a);
  EXPECT_EQ((*agents)[0].name, "alpha");
  EXPECT_EQ((*agents)[0].kind, "agent");
  EXPECT_EQ((*agents)[0].labels.at("status"), "ACTIVE");
  EXPECT_EQ((*agents)[0].labels.count("org"), 0u);
  EXPECT_EQ((*agents)[1].labels.at("status"), "SUSPENDED");
  EXPECT_EQ((*agents)[1].labels.at("org"), acme);

  auto policies = actions_->policies();
  ASSERT_TRUE(policies.ok());
  ASSERT_EQ(policies->size(), 1u);
  EXPECT_EQ((*policies)[0].id, str(body_of(created), "id"));
  EXPECT_EQ((*policies)[0].kind, "policy");
  EXPECT_EQ((*policies)[0].labels.at("type"), "RATE_LIMIT");
  EXPECT_EQ((*policies)[0].labels.at("enabled"), "false");
  EXPECT_EQ((*policies)[0].labels.at("agent_id"), a);
}

}  // namespace
}  // namespace warden::server
