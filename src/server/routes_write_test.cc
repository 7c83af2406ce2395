// The admin routes' writes (agents, sessions, policies and their audit rows) go through the one
// group-commit writer: the calling thread never waits for the store, the answer comes after the
// commit, and one operation's failure in a shared batch leaves the others committed.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <future>
#include <memory>
#include <thread>

#include "decisions/decisions.h"
#include "engine/ir.h"
#include "ledger/service.h"
#include "server/api.h"
#include "server/auth.h"
#include "server/routes.h"
#include "server/session_tokens.h"
#include "store/batch_writer.h"
#include "store/change_feed.h"
#include "store/sqlite/sqlite_store.h"

namespace warden::server {
namespace {
namespace json = boost::json;

constexpr auto kWaitMax = std::chrono::seconds(15);
constexpr const char* kMasterPassword = "route-writes-master";

const std::string& master_hash() {
  static const std::string hash = *hash_master_password(kMasterPassword);
  return hash;
}

class RouteWritesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "warden-routes-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto opened = store::SqliteStore::open(dir_ + "/warden.db", {.create_if_missing = true});
    ASSERT_TRUE(opened.ok()) << opened.status().to_string();
    store_ = std::move(*opened);
    writer_ = std::make_unique<store::BatchWriter>(*store_, store::BatchOptions{});
    ledger_ = std::make_unique<ledger::LedgerService>(*store_, *writer_, clock_, ids_,
                                                      ledger::LedgerOptions{.start_sweeper = false});
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
                                 master_hash(), ApiOptions{.session_keys = session_keys_.get()});
  }

  void TearDown() override {
    release_writer();
    api_.reset();
    if (decisions_) decisions_->stop();
    if (ledger_) ledger_->stop();
    if (writer_) writer_->stop();
    decisions_.reset();
    ledger_.reset();
    writer_.reset();
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Hands the request to the API on this thread; the future holds the answer.
  std::future<HttpResponse> send(std::string method, std::string path, std::string body = {},
                                 std::string token = {}) {
    auto answered = std::make_shared<std::promise<HttpResponse>>();
    auto future = answered->get_future();
    // The request outlives handle(): the answer may come later (the transport keeps it alive
    // in the callback the same way).
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
    Api* api = target_ != nullptr ? target_ : api_.get();
    api->handle(*req, [answered, req](HttpResponse r) { answered->set_value(std::move(r)); });
    return future;
  }

  static HttpResponse wait(std::future<HttpResponse>& f) {
    if (f.wait_for(kWaitMax) != std::future_status::ready) {
      ADD_FAILURE() << "no answer within " << kWaitMax.count() << " s";
      return HttpResponse{.status = 0};
    }
    return f.get();
  }

  // send() while the writer is held: it must return without waiting for the writer. When it
  // does wait, the failure is recorded and the writer released so that the test still ends.
  std::future<HttpResponse> hand_in(std::string method, std::string path, std::string body = {}) {
    auto handed = std::async(std::launch::async,
                             [this, method, path, body] { return send(method, path, body); });
    if (handed.wait_for(std::chrono::seconds(3)) != std::future_status::ready) {
      ADD_FAILURE() << method << " " << path << " waited for the busy writer";
      release_writer();
    }
    return handed.get();
  }

  HttpResponse call(std::string method, std::string path, std::string body = {},
                    std::string token = {}) {
    auto f = send(std::move(method), std::move(path), std::move(body), std::move(token));
    return wait(f);
  }

  static json::value body_of(const HttpResponse& r) {
    boost::system::error_code ec;
    json::value v = json::parse(r.body, ec);
    return ec ? json::value() : v;
  }
  static std::string field(const HttpResponse& r, std::string_view key) {
    json::value v = body_of(r);
    const json::value* f = v.is_object() ? v.as_object().if_contains(key) : nullptr;
    return f && f->is_string() ? std::string(f->as_string()) : "";
  }
  static std::string error_code(const HttpResponse& r) {
    json::value v = body_of(r);
    if (!v.is_object() || !v.as_object().contains("error")) return "";
    return std::string(v.at("error").at("code").as_string());
  }

  // The writer counts a batch just after its callbacks ran, so the count can trail an answer.
  std::uint64_t batches_after(std::uint64_t before) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    std::uint64_t n = writer_->batches_committed();
    while (n <= before && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      n = writer_->batches_committed();
    }
    return n;
  }

  std::size_t audit_count(const std::string& event_type) {
    store::AuditFilter f;
    f.event_type = event_type;
    f.limit = 1000;
    auto rows = store_->list_audit(f);
    return rows.ok() ? rows->size() : 0;
  }

  // Keeps the writer busy inside a batch until release_writer(), so that everything submitted
  // meanwhile queues up and lands in the next batch together.
  void hold_writer() {
    auto entered = std::make_shared<std::promise<void>>();
    auto entered_future = entered->get_future();
    release_ = std::make_shared<std::promise<void>>();
    std::shared_future<void> released = release_->get_future().share();
    ASSERT_TRUE(writer_
                    ->submit(
                        [entered, released](store::WriteTxn&) {
                          entered->set_value();
                          released.wait();
                          return Status();
                        },
                        [](const Status&) {})
                    .ok());
    ASSERT_EQ(entered_future.wait_for(kWaitMax), std::future_status::ready);
  }
  void release_writer() {
    if (release_) release_->set_value();
    release_.reset();
  }

  std::string agent_body(const std::string& name, const std::string& key = "") {
    json::object o{{"name", name}};
    if (!key.empty()) o["public_key"] = key;
    return json::serialize(o);
  }
  std::string policy_body(const std::string& agent_id, const std::string& instant_max) {
    return json::serialize(json::object{
        {"agent_id", agent_id},
        {"type", "SPENDING_LIMIT"},
        {"rules", json::object{{"instant_max", instant_max}, {"notify_max", "1000"}}}});
  }

  engine::Outcome outcome_of_transfer(const std::string& agent_id, std::uint64_t amount) {
    engine::Request r;
    r.agent_id = agent_id;
    r.action = "TRANSFER";
    r.amounts["native"] = Amount(amount);
    return decisions_->evaluate(std::move(r), false).outcome;
  }

  std::string dir_;
  FakeClock clock_;
  IdGenerator ids_{clock_};
  Metrics metrics_;
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<store::BatchWriter> writer_;
  std::unique_ptr<decisions::DecisionService> decisions_;
  std::unique_ptr<ledger::LedgerService> ledger_;
  std::unique_ptr<SessionKeys> session_keys_;
  std::unique_ptr<Api> api_;
  Api* target_ = nullptr;  // where send() goes when set; else api_
  std::shared_ptr<std::promise<void>> release_;
};

// Two replicas' change feeds in one process: a publish on one end reaches the subscribers of
// both, marked own only at the publisher's end, as PgChangeFeed does between processes (that
// feed itself is tested against a real server in tests/postgres/change_feed_test.cc).
class TwoEndFeed {
 public:
  class End final : public store::ChangeFeed {
   public:
    explicit End(TwoEndFeed* feed) : feed_(feed) {}
    Status publish(store::FeedTopic topic, std::string_view payload) override {
      WARDEN_RETURN_IF_ERROR(store::validate_change_payload(payload));
      for (End* end : {&feed_->a, &feed_->b}) {
        end->subscribers_.deliver(store::Change{topic, std::string(payload), false, end == this});
      }
      return Status();
    }
    void subscribe(store::FeedTopic topic, store::ChangeCallback callback) override {
      subscribers_.add(topic, std::move(callback));
    }
    // What a reconnected listener delivers.
    void resync() {
      for (store::FeedTopic topic : store::kFeedTopics) {
        subscribers_.deliver(store::Change{topic, "", true, false});
      }
    }

   private:
    TwoEndFeed* feed_;
    store::Subscribers subscribers_;
  };
  End a{this};
  End b{this};
};

// Replica A changes a policy and revokes a session; replica B, with its own policy snapshot,
// revocation set and session cache on the same store, applies both through the change feed.
TEST_F(RouteWritesTest, ChangesOfOneReplicaReachTheOtherThroughTheFeed) {
  TwoEndFeed feed;
  decisions::DecisionService decisions_b(
      *store_, *writer_, clock_, ids_, decisions::DecisionOptions{.start_sweeper = false}, nullptr);
  decisions_b.set_ledger(ledger_.get());
  ASSERT_TRUE(decisions_b.start().ok());
  Api api_a(*store_, *writer_, clock_, ids_, metrics_, *decisions_, *ledger_, master_hash(),
            ApiOptions{.session_keys = session_keys_.get(), .change_feed = &feed.a});
  Api api_b(*store_, *writer_, clock_, ids_, metrics_, decisions_b, *ledger_, master_hash(),
            ApiOptions{.session_keys = session_keys_.get(), .change_feed = &feed.b});
  auto on = [&](Api& api, std::string method, std::string path, std::string body = {},
                std::string token = {}) {
    target_ = &api;
    HttpResponse r = call(std::move(method), std::move(path), std::move(body), std::move(token));
    target_ = nullptr;
    return r;
  };
  auto outcome_on_b = [&](const std::string& agent_id, std::uint64_t amount) {
    engine::Request r;
    r.agent_id = agent_id;
    r.action = "TRANSFER";
    r.amounts["native"] = Amount(amount);
    return decisions_b.evaluate(std::move(r), false).outcome;
  };
  auto wait_for_outcome_on_b = [&](const std::string& agent_id, std::uint64_t amount,
                                   engine::Outcome wanted) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (outcome_on_b(agent_id, amount) != wanted &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return outcome_on_b(agent_id, amount);
  };

  const std::string agent_id = field(on(api_a, "POST", "/v1/agents", agent_body("bot")), "id");
  ASSERT_FALSE(agent_id.empty());
  EXPECT_EQ(outcome_on_b(agent_id, 500), engine::Outcome::kInstant);
  HttpResponse policy = on(api_a, "POST", "/v1/policies", policy_body(agent_id, "10"));
  ASSERT_EQ(policy.status, 201) << policy.body;
  EXPECT_EQ(wait_for_outcome_on_b(agent_id, 500, engine::Outcome::kNotify),
            engine::Outcome::kNotify);
  ASSERT_EQ(on(api_a, "DELETE", "/v1/policies/" + field(policy, "id")).status, 204);
  EXPECT_EQ(wait_for_outcome_on_b(agent_id, 500, engine::Outcome::kInstant),
            engine::Outcome::kInstant);

  auto open_session = [&] {
    HttpResponse s = on(api_a, "POST", "/v1/sessions", R"({"agent_id":")" + agent_id + R"("})");
    EXPECT_EQ(s.status, 201) << s.body;
    return std::make_pair(field(s, "id"), field(s, "token"));
  };
  const auto [session_id, token] = open_session();
  // B has the session in its cache (the fake clock never expires it) before the revocation.
  ASSERT_EQ(on(api_b, "GET", "/v1/sessions/current", "", token).status, 200);
  ASSERT_EQ(on(api_a, "DELETE", "/v1/sessions/" + session_id).status, 204);
  HttpResponse refused = on(api_b, "GET", "/v1/sessions/current", "", token);
  EXPECT_EQ(refused.status, 401) << refused.body;
  EXPECT_EQ(error_code(refused), "AUTH_SESSION_REVOKED");

  // A revocation B never heard of (the notification was lost) is found by the resync.
  const auto [lost_id, lost_token] = open_session();
  ASSERT_EQ(on(api_b, "GET", "/v1/sessions/current", "", lost_token).status, 200);
  std::promise<Status> revoked;
  ASSERT_TRUE(writer_
                  ->submit(
                      [&, id = lost_id](store::WriteTxn& tx) {
                        WARDEN_ASSIGN_OR_RETURN(auto s, tx.get_session(id));
                        s->revoked_at = clock_.now_seconds();
                        return tx.update_session(*s);
                      },
                      [&](const Status& st) { revoked.set_value(st); })
                  .ok());
  ASSERT_TRUE(revoked.get_future().get().ok());
  ASSERT_EQ(on(api_b, "GET", "/v1/sessions/current", "", lost_token).status, 200);
  feed.b.resync();
  EXPECT_EQ(error_code(on(api_b, "GET", "/v1/sessions/current", "", lost_token)),
            "AUTH_SESSION_REVOKED");

  // An agent suspended on A: B, which has its session cached, refuses it at the next request.
  const auto [live_id, live_token] = open_session();
  ASSERT_EQ(on(api_b, "GET", "/v1/sessions/current", "", live_token).status, 200);
  HttpResponse suspended =
      on(api_a, "PUT", "/v1/agents/" + agent_id, R"({"status":"SUSPENDED","suspension_reason":"test"})");
  ASSERT_EQ(suspended.status, 200) << suspended.body;
  HttpResponse after_suspend = on(api_b, "GET", "/v1/sessions/current", "", live_token);
  EXPECT_EQ(after_suspend.status, 403) << after_suspend.body;
  decisions_b.stop();
}

// Each write route answers only after a batch of the writer committed its change and audit row.
TEST_F(RouteWritesTest, EveryAdminWriteCommitsThroughTheWriter) {
  std::uint64_t batches = writer_->batches_committed();
  auto expect_one_more_batch = [&](const HttpResponse& r, int status, const char* what) {
    EXPECT_EQ(r.status, status) << what << ": " << r.body;
    const std::uint64_t now = batches_after(batches);
    EXPECT_GT(now, batches) << what << " did not go through the writer";
    batches = now;
  };

  HttpResponse agent = call("POST", "/v1/agents", agent_body("bot"));
  expect_one_more_batch(agent, 201, "create agent");
  const std::string agent_id = field(agent, "id");
  ASSERT_FALSE(agent_id.empty());
  expect_one_more_batch(call("PUT", "/v1/agents/" + agent_id, R"({"name":"bot-2"})"), 200,
                        "update agent");
  EXPECT_EQ((*store_->get_agent(agent_id))->name, "bot-2");

  HttpResponse session = call("POST", "/v1/sessions", R"({"agent_id":")" + agent_id + R"("})");
  expect_one_more_batch(session, 201, "create session");
  const std::string session_id = field(session, "id");
  const std::string token = field(session, "token");
  ASSERT_FALSE(token.empty());
  expect_one_more_batch(call("PUT", "/v1/sessions/" + session_id + "/renew", "", token), 200,
                        "renew session");
  EXPECT_EQ((*store_->get_session(session_id))->renewal_count, 1);

  HttpResponse policy = call("POST", "/v1/policies", policy_body(agent_id, "10"));
  expect_one_more_batch(policy, 201, "create policy");
  const std::string policy_id = field(policy, "id");
  expect_one_more_batch(call("PUT", "/v1/policies/" + policy_id, R"({"priority":5})"), 200,
                        "update policy");
  EXPECT_EQ((*store_->get_policy(policy_id))->version, 2);
  expect_one_more_batch(call("DELETE", "/v1/policies/" + policy_id), 204, "delete policy");
  EXPECT_FALSE(store_->get_policy(policy_id)->has_value());

  expect_one_more_batch(call("DELETE", "/v1/sessions/" + session_id), 204, "revoke session");
  EXPECT_TRUE((*store_->get_session(session_id))->revoked_at.has_value());
  expect_one_more_batch(call("DELETE", "/v1/agents/" + agent_id), 204, "terminate agent");
  EXPECT_EQ((*store_->get_agent(agent_id))->status, "TERMINATED");

  for (const char* event :
       {"AGENT_CREATED", "AGENT_UPDATED", "SESSION_CREATED", "SESSION_RENEWED", "POLICY_CREATED",
        "POLICY_UPDATED", "POLICY_DELETED", "SESSION_REVOKED", "AGENT_TERMINATED"}) {
    EXPECT_EQ(audit_count(event), 1u) << event;
  }
}

// The thread that hands in a write returns at once, even while the writer is busy; the answer
// follows the commit.
TEST_F(RouteWritesTest, TheCallingThreadDoesNotWaitForTheStore) {
  hold_writer();
  const std::uint64_t batches = writer_->batches_committed();
  auto answer = hand_in("POST", "/v1/agents", agent_body("queued"));
  EXPECT_EQ(answer.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout)
      << "answered before the write committed";
  release_writer();
  HttpResponse r = wait(answer);
  EXPECT_EQ(r.status, 201) << r.body;
  EXPECT_GE(batches_after(batches + 1), batches + 2);  // the held batch and the agent's
  EXPECT_EQ(audit_count("AGENT_CREATED"), 1u);
}

// Writes that share one batch: the duplicate key fails alone with its own code; the agent that
// got the key first, an unrelated agent and a policy all commit, each with its audit row.
TEST_F(RouteWritesTest, AFailingWriteInABatchMapsItsErrorAndSparesTheOthers) {
  HttpResponse owner = call("POST", "/v1/agents", agent_body("owner"));
  ASSERT_EQ(owner.status, 201);
  const std::string owner_id = field(owner, "id");

  hold_writer();
  const std::uint64_t batches = writer_->batches_committed();
  auto first = hand_in("POST", "/v1/agents", agent_body("first", "KEY-1"));
  auto duplicate = hand_in("POST", "/v1/agents", agent_body("second", "KEY-1"));
  auto other = hand_in("POST", "/v1/agents", agent_body("third", "KEY-2"));
  auto policy = hand_in("POST", "/v1/policies", policy_body(owner_id, "10"));
  auto missing =
      hand_in("PUT", "/v1/agents/01900000-0000-7000-8000-000000000000", R"({"name":"x"})");
  release_writer();

  HttpResponse r1 = wait(first), r2 = wait(duplicate), r3 = wait(other), r4 = wait(policy),
               r5 = wait(missing);
  EXPECT_EQ(r1.status, 201) << r1.body;
  EXPECT_EQ(r2.status, 409) << r2.body;
  EXPECT_EQ(error_code(r2), "AGENT_PUBLIC_KEY_EXISTS");
  EXPECT_EQ(r2.body.find("UNIQUE"), std::string::npos) << "store text leaked: " << r2.body;
  EXPECT_EQ(r3.status, 201) << r3.body;
  EXPECT_EQ(r4.status, 201) << r4.body;
  EXPECT_EQ(r5.status, 404) << r5.body;
  EXPECT_EQ(error_code(r5), "AGENT_NOT_FOUND");
  EXPECT_GT(batches_after(batches), batches);

  auto agents = store_->list_agents({.limit = 10});
  ASSERT_TRUE(agents.ok());
  std::vector<std::string> names;
  for (const auto& a : *agents) names.push_back(a.name);
  EXPECT_EQ(names, (std::vector<std::string>{"owner", "first", "third"}));
  EXPECT_EQ(audit_count("AGENT_CREATED"), 3u);
  EXPECT_EQ(audit_count("AGENT_UPDATED"), 0u);
  EXPECT_EQ(audit_count("POLICY_CREATED"), 1u);
  EXPECT_TRUE(store_->get_policy(field(r4, "id"))->has_value());
}

// A policy change reaches the engine before its answer (the reload runs after the commit).
TEST_F(RouteWritesTest, PolicyChangesAreInForceWhenAnswered) {
  HttpResponse agent = call("POST", "/v1/agents", agent_body("bot"));
  const std::string agent_id = field(agent, "id");
  ASSERT_FALSE(agent_id.empty());
  EXPECT_EQ(outcome_of_transfer(agent_id, 500), engine::Outcome::kInstant);

  HttpResponse created = call("POST", "/v1/policies", policy_body(agent_id, "10"));
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(outcome_of_transfer(agent_id, 500), engine::Outcome::kNotify);

  const std::string id = field(created, "id");
  HttpResponse updated =
      call("PUT", "/v1/policies/" + id, R"({"rules":{"instant_max":"600","notify_max":"1000"}})");
  ASSERT_EQ(updated.status, 200) << updated.body;
  EXPECT_EQ(outcome_of_transfer(agent_id, 500), engine::Outcome::kInstant);
  EXPECT_EQ(outcome_of_transfer(agent_id, 700), engine::Outcome::kNotify);

  ASSERT_EQ(call("DELETE", "/v1/policies/" + id).status, 204);
  EXPECT_EQ(outcome_of_transfer(agent_id, 700), engine::Outcome::kInstant);
}

// A bug that throws inside a write is answered 500 like a handler's, and neither stops the
// writer thread nor the other writes of its batch.
TEST_F(RouteWritesTest, AWriteThatThrowsIsA500AndTheWriterGoesOn) {
  SessionCache sessions(clock_, 1000);
  const Deps deps{*store_, clock_, ids_, metrics_, *decisions_, *ledger_, sessions, *writer_};
  HttpRequest req;
  RequestContext ctx{req, "corr-1", Language::kEnglish, {}, true, {}, {}, {}};
  std::promise<HttpResponse> answered;
  ctx.complete = std::make_shared<Completion>(
      "corr-1", Language::kEnglish, "POST", "/test", metrics_,
      [&answered](HttpResponse r) { answered.set_value(std::move(r)); });

  hold_writer();
  auto other = hand_in("POST", "/v1/agents", agent_body("survivor"));
  auto r = commit_then_answer(
      deps, ctx,
      [](store::WriteTxn&) -> Status { throw std::runtime_error("accessor on the wrong shape"); },
      {}, [] { return no_content(); });
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(is_deferred(*r));
  release_writer();

  auto future = answered.get_future();
  HttpResponse thrown = wait(future);
  EXPECT_EQ(thrown.status, 500) << thrown.body;
  EXPECT_EQ(error_code(thrown), "INTERNAL_ERROR");
  HttpResponse survivor = wait(other);
  EXPECT_EQ(survivor.status, 201) << survivor.body;
  EXPECT_EQ(call("POST", "/v1/agents", agent_body("after")).status, 201);
  EXPECT_EQ(audit_count("AGENT_CREATED"), 2u);
}

// The usage the gateway records, summed per hour, day, model or app: exact costs, filters,
// and a session that sees its own agent only.
TEST_F(RouteWritesTest, UsageRollsUpPerHourDayModelAndApp) {
  const std::string a = field(call("POST", "/v1/agents", agent_body("app-a")), "id");
  const std::string b = field(call("POST", "/v1/agents", agent_body("app-b")), "id");
  ASSERT_FALSE(a.empty());
  const std::int64_t t0 = clock_.now_seconds() / 86400 * 86400 - 86400;  // yesterday, 00:00
  auto event = [&](const std::string& agent, const std::string& model, std::int64_t at,
                   std::int64_t in, std::int64_t out, std::optional<std::string> cost) {
    store::UsageEventRow u;
    u.id = ids_.next();
    u.agent_id = agent;
    u.provider = "openai";
    u.model = model;
    u.prompt_tokens = in;
    u.completion_tokens = out;
    u.cost = cost;
    if (cost) u.currency = "USD";
    u.created_at = at;
    ASSERT_TRUE(store_->write([&](store::WriteTxn& tx) { return tx.insert_usage_event(u); }).ok());
  };
  // 2^64 + 2^64: a cost sum past 64 bits stays exact.
  event(a, "gpt-4o", t0 + 10, 100, 20, "18446744073709551616");
  event(a, "gpt-4o", t0 + 3700, 50, 5, "18446744073709551616");
  event(b, "claude", t0 + 3800, 7, 3, std::nullopt);
  const std::string range = "&from=" + std::to_string(t0) + "&to=" + std::to_string(t0 + 86400);

  HttpResponse hours = call("GET", "/v1/usage?group_by=hour" + range);
  ASSERT_EQ(hours.status, 200) << hours.body;
  const json::value hours_body = body_of(hours);
  const auto& items = hours_body.at("items").as_array();
  ASSERT_EQ(items.size(), 3u);  // hour 0 (a), hour 1 (a, USD) and hour 1 (b, no price)
  EXPECT_EQ(items[0].at("bucket").as_int64(), t0);
  EXPECT_EQ(items[0].at("total_tokens").as_int64(), 120);

  HttpResponse models = call("GET", "/v1/usage?group_by=model" + range);
  const json::value models_body = body_of(models);
  const auto& by_model = models_body.at("items").as_array();
  ASSERT_EQ(by_model.size(), 2u);
  EXPECT_EQ(by_model[1].at("model").as_string(), "gpt-4o");
  EXPECT_EQ(by_model[1].at("requests").as_int64(), 2);
  EXPECT_EQ(by_model[1].at("cost").as_string(), "36893488147419103232");
  EXPECT_EQ(by_model[0].at("cost").as_string(), "0");
  EXPECT_TRUE(by_model[0].at("currency").is_null());

  HttpResponse day_a = call("GET", "/v1/usage?group_by=day&app_id=" + a + range);
  const json::value days_body = body_of(day_a);
  const auto& days = days_body.at("items").as_array();
  ASSERT_EQ(days.size(), 1u);
  EXPECT_EQ(days[0].at("prompt_tokens").as_int64(), 150);

  // An agent's session: its own usage only.
  const std::string token =
      field(call("POST", "/v1/sessions", R"({"agent_id":")" + b + R"("})"), "token");
  HttpResponse own = call("GET", "/v1/usage?group_by=app" + range, "", token);
  ASSERT_EQ(own.status, 200) << own.body;
  const json::value own_body = body_of(own);
  const auto& apps = own_body.at("items").as_array();
  ASSERT_EQ(apps.size(), 1u);
  EXPECT_EQ(apps[0].at("app_id").as_string(), b);
  EXPECT_EQ(call("GET", "/v1/usage?app_id=" + a + range, "", token).status, 403);

  EXPECT_EQ(error_code(call("GET", "/v1/usage?group_by=week")), "VALIDATION_INVALID_VALUE");
  EXPECT_EQ(error_code(call("GET", "/v1/usage?from=10&to=5")), "VALIDATION_INVALID_VALUE");
  EXPECT_EQ(error_code(call("GET", "/v1/usage?from=0&to=40000000")), "VALIDATION_INVALID_VALUE");
  EXPECT_EQ(error_code(call("GET", "/v1/usage?to=abc")), "VALIDATION_INVALID_VALUE");
}

}  // namespace
}  // namespace warden::server
