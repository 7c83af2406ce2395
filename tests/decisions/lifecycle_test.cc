// The transaction lifecycle over HTTP: DELAY release and long poll, approvals, cancel, settle
// errors, ownership, idempotency, malformed bodies and the explain trace.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <iostream>
#include <set>
#include <thread>

#include "decision_fixture.h"

namespace warden::testing {
namespace {

namespace json = boost::json;

// Tiers: <= 10 INSTANT, <= 20 NOTIFY, <= 100 DELAY (1 s), above APPROVAL; 24h window 100000.
constexpr const char* kDelayAmount = "50";
constexpr const char* kApprovalAmount = "500";
constexpr int kLongPollBoundMs = 5000;
constexpr const char* kTwoTo256 =
    "115792089237316195423570985008687907853269984665640564039457584007913129639936";
constexpr const char* kTwoTo256Minus1 =
    "115792089237316195423570985008687907853269984665640564039457584007913129639935";

json::object tier_rules() {
  return json::object{
      {"instant_max", "10"},
      {"notify_max", "20"},
      {"delay_max", "100"},
      {"delay_seconds", 1},
      {"approval_timeout_seconds", 3600},
      {"windows", json::array{json::object{{"duration", "24h"}, {"max", "100000"}}}},
      {"asset", "native"},
  };
}

class LifecycleTest : public DecisionTest {
 protected:
  void SetUp() override {
    DecisionTest::SetUp();
    if (HasFatalFailure()) return;
    std::string why;
    agent_ = login_new_agent(*client_, "lifecycle-agent", &why);
    ASSERT_FALSE(agent_.token.empty()) << why;
    policy_id_ = add_policy(*client_, "SPENDING_LIMIT", tier_rules(), agent_.id, &why);
    ASSERT_FALSE(policy_id_.empty()) << why;
  }

  // Posts a TRANSFER and expects 201; returns the body (null after a failure).
  json::value transfer(const std::string& amount, const std::string& key = "") {
    Response r = agent_request(*client_, agent_.token, "POST", "/v1/transactions",
                               transfer_body(amount, key));
    EXPECT_EQ(r.status, 201) << r.describe();
    return r.status == 201 ? r.json() : json::value();
  }

  Response act(const std::string& tx_id, const std::string& verb, const std::string& body = {}) {
    return agent_request(*client_, agent_.token, "POST", "/v1/transactions/" + tx_id + "/" + verb,
                         body);
  }

  Response get_tx(const std::string& tx_id, const std::string& query = "") {
    return agent_request(*client_, agent_.token, "GET", "/v1/transactions/" + tx_id + query);
  }

  // The pending approvals' ids (master).
  std::vector<std::string> pending_approval_ids() {
    Response r = master("GET", "/v1/approvals?status=pending");
    EXPECT_EQ(r.status, 200) << r.describe();
    std::vector<std::string> ids;
    const json::value body = r.json();
    const auto* items = at(body, "items");
    if (items && items->is_array()) {
      for (const auto& i : items->as_array()) ids.push_back(str_at(i, "id"));
    }
    return ids;
  }
};

bool contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

TEST_F(LifecycleTest, InstantAndNotifyArePendingAndExecutable) {
  for (const char* amount : {"10", "20"}) {
    json::value tx = transfer(amount);
    EXPECT_EQ(str_at(tx, "status"), "PENDING") << tx;
    EXPECT_EQ(str_at(tx, "effect"), "ALLOW");
    EXPECT_EQ(str_at(tx, "tier"), std::string(amount) == "10" ? "INSTANT" : "NOTIFY");
    EXPECT_EQ(str_at(tx, "reserved_amount"), amount);
    EXPECT_EQ(field(tx, "executable"), json::value(true));
    EXPECT_FALSE(str_at(tx, "expires_at").empty()) << "an open reservation has an expiry";
  }
}

TEST_F(LifecycleTest, DelayQueuesThenLongPollReturnsPending) {
  json::value tx = transfer(kDelayAmount);
  const std::string id = str_at(tx, "id");
  EXPECT_EQ(str_at(tx, "status"), "QUEUED") << tx;
  EXPECT_EQ(str_at(tx, "tier"), "DELAY");
  EXPECT_EQ(field(tx, "executable"), json::value(false));

  // Not executable yet: confirm is refused.
  Response early = act(id, "confirm");
  EXPECT_EQ(early.status, 409) << early.describe();
  EXPECT_EQ(early.error_code(), "TX_INVALID_STATE");

  const auto start = std::chrono::steady_clock::now();
  Response polled = get_tx(id, "?wait=5s");
  const auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(polled.status, 200) << polled.describe();
  EXPECT_EQ(str_at(polled.json(), "status"), "PENDING") << polled.body;
  EXPECT_EQ(field(polled.json(), "executable"), json::value(true));
  EXPECT_LT(waited, std::chrono::milliseconds(kLongPollBoundMs))
      << "the long poll ran to its deadline instead of answering the release";

  Response confirmed = act(id, "confirm");
  ASSERT_EQ(confirmed.status, 200) << confirmed.describe();
  EXPECT_EQ(str_at(confirmed.json(), "status"), "CONFIRMED");
  EXPECT_EQ(str_at(confirmed.json(), "final_amount"), kDelayAmount);
}

TEST_F(LifecycleTest, CancelDuringDelayStaysCancelled) {
  const std::string id = str_at(transfer(kDelayAmount), "id");
  Response cancelled = act(id, "cancel");
  ASSERT_EQ(cancelled.status, 200) << cancelled.describe();
  EXPECT_EQ(str_at(cancelled.json(), "status"), "CANCELLED");

  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // past the 1 s delay
  Response later = get_tx(id);
  ASSERT_EQ(later.status, 200) << later.describe();
  EXPECT_EQ(str_at(later.json(), "status"), "CANCELLED") << "the DELAY timer revived it";
  Response again = act(id, "cancel");
  EXPECT_EQ(again.status, 409) << again.describe();
  EXPECT_EQ(again.error_code(), "TX_INVALID_STATE");
}

TEST_F(LifecycleTest, ApprovalApproveMakesItPendingAndRejectCancels) {
  json::value tx = transfer(kApprovalAmount);
  const std::string id = str_at(tx, "id");
  const std::string approval_id = str_at(tx, "approval_id");
  EXPECT_EQ(str_at(tx, "status"), "QUEUED") << tx;
  EXPECT_EQ(str_at(tx, "tier"), "APPROVAL");
  ASSERT_FALSE(approval_id.empty()) << tx;
  EXPECT_TRUE(contains(pending_approval_ids(), approval_id));

  // An agent cannot approve its own transaction.
  Response by_agent =
      agent_request(*client_, agent_.token, "POST", "/v1/approvals/" + approval_id + "/approve");
  EXPECT_EQ(by_agent.status, 401) << by_agent.describe();

  Response approved = master("POST", "/v1/approvals/" + approval_id + "/approve");
  ASSERT_EQ(approved.status, 200) << approved.describe();
  EXPECT_EQ(str_at(approved.json(), "status"), "PENDING") << approved.body;
  Response got = get_tx(id);
  EXPECT_EQ(str_at(got.json(), "status"), "PENDING");
  EXPECT_EQ(field(got.json(), "executable"), json::value(true));
  EXPECT_FALSE(contains(pending_approval_ids(), approval_id));
  Response twice = master("POST", "/v1/approvals/" + approval_id + "/approve");
  EXPECT_EQ(twice.status, 409) << twice.describe();
  EXPECT_EQ(twice.error_code(), "APPROVAL_NOT_PENDING");

  json::value other = transfer("600");
  const std::string other_approval = str_at(other, "approval_id");
  ASSERT_FALSE(other_approval.empty()) << other;
  Response rejected = master("POST", "/v1/approvals/" + other_approval + "/reject");
  ASSERT_EQ(rejected.status, 200) << rejected.describe();
  EXPECT_EQ(str_at(rejected.json(), "status"), "CANCELLED") << rejected.body;
  EXPECT_EQ(str_at(get_tx(str_at(other, "id")).json(), "status"), "CANCELLED");
  EXPECT_FALSE(contains(pending_approval_ids(), other_approval));
}

TEST_F(LifecycleTest, ApprovalExpiryCancelsAndReleasesTheReservation) {
  // Its own agent: approvals expire after 1 s; the window holds one 600 but not two.
  std::string why;
  AgentLogin agent = login_new_agent(*client_, "expiring-agent", &why);
  ASSERT_FALSE(agent.token.empty()) << why;
  json::object rules = tier_rules();
  rules["approval_timeout_seconds"] = 1;
  rules["windows"] = json::array{json::object{{"duration", "24h"}, {"max", "700"}}};
  ASSERT_FALSE(add_policy(*client_, "SPENDING_LIMIT", rules, agent.id, &why).empty()) << why;

  Response first = post_transfer(*client_, agent.token, "600");
  ASSERT_EQ(first.status, 201) << first.describe();
  const json::value tx = first.json();
  ASSERT_EQ(str_at(tx, "status"), "QUEUED") << first.body;
  const std::string approval_id = str_at(tx, "approval_id");
  Response polled = agent_request(*client_, agent.token, "GET",
                                  "/v1/transactions/" + str_at(tx, "id") + "?wait=5s");
  ASSERT_EQ(polled.status, 200) << polled.describe();
  EXPECT_EQ(str_at(polled.json(), "status"), "CANCELLED") << "approval did not expire";
  EXPECT_FALSE(contains(pending_approval_ids(), approval_id))
      << "an expired approval is still listed as pending";
  Response late = master("POST", "/v1/approvals/" + approval_id + "/approve");
  EXPECT_EQ(late.status, 409) << late.describe();
  EXPECT_EQ(late.error_code(), "APPROVAL_NOT_PENDING");

  Response second = post_transfer(*client_, agent.token, "600");
  ASSERT_EQ(second.status, 201) << second.describe();
  EXPECT_EQ(str_at(second.json(), "effect"), "ALLOW") << "expiry kept the reservation";
}

TEST_F(LifecycleTest, CancellingATransactionAwaitingApprovalClosesTheApproval) {
  json::value tx = transfer(kApprovalAmount);
  const std::string approval_id = str_at(tx, "approval_id");
  ASSERT_FALSE(approval_id.empty()) << tx;
  Response cancelled = act(str_at(tx, "id"), "cancel");
  ASSERT_EQ(cancelled.status, 200) << cancelled.describe();
  EXPECT_EQ(str_at(cancelled.json(), "status"), "CANCELLED");
  EXPECT_FALSE(contains(pending_approval_ids(), approval_id))
      << "the approval of a cancelled transaction is still listed as pending";
  Response late = master("POST", "/v1/approvals/" + approval_id + "/approve");
  EXPECT_EQ(late.status, 409) << late.describe();
  EXPECT_EQ(late.error_code(), "APPROVAL_NOT_PENDING");
}

TEST_F(LifecycleTest, MasterCanReadAndCancelButNotConfirm) {
  const std::string id = str_at(transfer("5"), "id");
  Response got = master("GET", "/v1/transactions/" + id);
  ASSERT_EQ(got.status, 200) << got.describe();
  EXPECT_EQ(str_at(got.json(), "id"), id);
  Response confirm = master("POST", "/v1/transactions/" + id + "/confirm");
  EXPECT_TRUE(confirm.status == 401 || confirm.status == 403)
      << "confirm is session-only: " << confirm.describe();
  EXPECT_EQ(str_at(master("GET", "/v1/transactions/" + id).json(), "status"), "PENDING");
  Response cancelled = master("POST", "/v1/transactions/" + id + "/cancel");
  ASSERT_EQ(cancelled.status, 200) << cancelled.describe();
  EXPECT_EQ(str_at(cancelled.json(), "status"), "CANCELLED");
}

TEST_F(LifecycleTest, ConcurrentRequestsWithOneIdempotencyKeyMakeOneTransaction) {
  constexpr int kThreads = 16;
  const auto answers = concurrently(warden_->port(), kThreads, [&](HttpClient& c, int) {
    return agent_request(c, agent_.token, "POST", "/v1/transactions", transfer_body("3", "same"));
  });
  // Same key + same body is the same decision, also for requests that arrive while the first
  // is still being committed: they wait for it and replay it.
  int created = 0, replayed = 0;
  std::set<std::string> ids;
  for (const auto& r : answers) {
    if (r.status == 201 || r.status == 200) {
      (r.status == 201 ? created : replayed)++;
      ids.insert(str_at(r.json(), "id"));
      if (r.status == 200) {
        EXPECT_EQ(r.header("Idempotent-Replay"), "true");
      }
    } else {
      ADD_FAILURE() << r.describe();
    }
  }
  EXPECT_EQ(created, 1);
  EXPECT_EQ(replayed, kThreads - 1);
  EXPECT_EQ(ids.size(), 1u);
  DbSnapshot db = read_database(warden_->database_path(), agent_.id);
  ASSERT_EQ(db.error, "");
  EXPECT_EQ(db.transactions.size(), 1u) << "one key made several transactions";
}

TEST_F(LifecycleTest, QueuedTransactionsSurviveKill9) {
  json::value delayed = transfer(kDelayAmount);
  json::value awaiting = transfer(kApprovalAmount);
  ASSERT_EQ(str_at(delayed, "status"), "QUEUED") << delayed;
  ASSERT_EQ(str_at(awaiting, "status"), "QUEUED") << awaiting;
  warden_->kill9();
  ASSERT_TRUE(warden_->wait_exit(10000).has_value());
  ASSERT_TRUE(warden_->restart()) << warden_->error();
  client_ = std::make_unique<HttpClient>(warden_->port());

  // The DELAY timer is rebuilt at start-up.
  Response polled = get_tx(str_at(delayed, "id"), "?wait=5s");
  ASSERT_EQ(polled.status, 200) << polled.describe();
  EXPECT_EQ(str_at(polled.json(), "status"), "PENDING") << polled.body;
  // The approval is still pending and can be granted.
  EXPECT_TRUE(contains(pending_approval_ids(), str_at(awaiting, "approval_id")));
  Response approved =
      master("POST", "/v1/approvals/" + str_at(awaiting, "approval_id") + "/approve");
  ASSERT_EQ(approved.status, 200) << approved.describe();
  EXPECT_EQ(str_at(approved.json(), "status"), "PENDING");
  // Both reservations still count: 100000 - 50 - 500 fits exactly, one more does not.
  Response rest =
      agent_request(*client_, agent_.token, "POST", "/v1/transactions", transfer_body("99450"));
  ASSERT_EQ(rest.status, 201) << rest.describe();
  EXPECT_EQ(str_at(rest.json(), "effect"), "ALLOW") << rest.body;
  Response over =
      agent_request(*client_, agent_.token, "POST", "/v1/transactions", transfer_body("1"));
  ASSERT_EQ(over.status, 201) << over.describe();
  EXPECT_EQ(str_at(over.json(), "effect"), "DENY") << over.body;
}

TEST_F(LifecycleTest, GlobalAndAgentPoliciesCombineAndTheStrictestWins) {
  // A global policy: everything INSTANT, but a 24h window of 100 for every agent.
  std::string why;
  const std::string global_id =
      add_policy(*client_, "SPENDING_LIMIT", window_rules(1000, 100), std::nullopt, &why);
  ASSERT_FALSE(global_id.empty()) << why;

  // The agent's tiers make 80 a DELAY although the global policy says INSTANT.
  json::value delayed = transfer("80");
  EXPECT_EQ(str_at(delayed, "effect"), "ALLOW") << delayed;
  EXPECT_EQ(str_at(delayed, "tier"), "DELAY") << delayed;
  // The global window denies 30 more although the agent's window has room.
  json::value denied = transfer("30");
  EXPECT_EQ(str_at(denied, "status"), "DENIED") << denied;
  const auto* reasons = at(denied, "reasons");
  ASSERT_TRUE(reasons && reasons->is_array()) << denied;
  bool global_said_no = false;
  for (const auto& r : reasons->as_array()) {
    global_said_no = global_said_no || (str_at(r, "policy_id") == global_id &&
                                        str_at(r, "code") == "LIMIT_WINDOW_EXCEEDED" &&
                                        str_at(r, "outcome") == "DENY");
  }
  EXPECT_TRUE(global_said_no) << denied;
  EXPECT_EQ(str_at(transfer("20"), "effect"), "ALLOW") << "80 + 20 fits the global window";
}

TEST_F(LifecycleTest, APolicyChangeKeepsTheWindowsSpend) {
  EXPECT_EQ(str_at(transfer("8"), "effect"), "ALLOW");
  EXPECT_EQ(str_at(transfer("9"), "effect"), "ALLOW");
  // Lower the window max to 20: the 17 already reserved still counts against it.
  json::object rules = tier_rules();
  rules["windows"] = json::array{json::object{{"duration", "24h"}, {"max", "20"}}};
  Response put =
      master("PUT", "/v1/policies/" + policy_id_, json::serialize(json::object{{"rules", rules}}));
  ASSERT_EQ(put.status, 200) << put.describe();
  json::value over = transfer("4");
  EXPECT_EQ(str_at(over, "effect"), "DENY") << "the reload forgot the reserved 17: " << over;
  EXPECT_EQ(str_at(transfer("3"), "effect"), "ALLOW") << "17 + 3 fits the new max";
}

TEST_F(LifecycleTest, SettlementErrors) {
  const std::string id = str_at(transfer("8"), "id");
  Response above = act(id, "confirm", R"({"final_amount":"9"})");
  EXPECT_EQ(above.status, 422) << above.describe();
  EXPECT_EQ(above.error_code(), "TX_AMOUNT_EXCEEDS_RESERVED");
  EXPECT_EQ(str_at(get_tx(id).json(), "status"), "PENDING") << "a refused confirm changed it";

  // The agent may not lower what it is charged; the executor's settlement session may.
  Response own = act(id, "confirm", R"({"final_amount":"7"})");
  EXPECT_EQ(own.status, 403) << own.describe();
  EXPECT_EQ(own.error_code(), "TX_SETTLEMENT_FORBIDDEN");
  EXPECT_EQ(str_at(get_tx(id).json(), "status"), "PENDING");
  Response ok = agent_request(*client_, agent_.settlement_token, "POST",
                              "/v1/transactions/" + id + "/confirm", R"({"final_amount":"7"})");
  ASSERT_EQ(ok.status, 200) << ok.describe();
  EXPECT_EQ(str_at(ok.json(), "final_amount"), "7");
  for (const char* verb : {"confirm", "fail", "cancel"}) {
    Response late = act(id, verb);
    EXPECT_EQ(late.status, 409) << verb << ": " << late.describe();
    EXPECT_EQ(late.error_code(), "TX_INVALID_STATE") << verb;
  }
}

TEST_F(LifecycleTest, AnotherAgentsTransactionIsNotFound) {
  const std::string id = str_at(transfer("5"), "id");
  std::string why;
  AgentLogin other = login_new_agent(*client_, "other-agent", &why);
  ASSERT_FALSE(other.token.empty()) << why;
  Response got = agent_request(*client_, other.token, "GET", "/v1/transactions/" + id);
  EXPECT_EQ(got.status, 404) << got.describe();
  EXPECT_EQ(got.error_code(), "TX_NOT_FOUND");
  for (const char* verb : {"confirm", "fail", "cancel"}) {
    Response r =
        agent_request(*client_, other.token, "POST", "/v1/transactions/" + id + "/" + verb);
    EXPECT_EQ(r.status, 404) << verb << ": " << r.describe();
    EXPECT_EQ(r.error_code(), "TX_NOT_FOUND") << verb;
  }
  EXPECT_EQ(str_at(get_tx(id).json(), "status"), "PENDING");
}

TEST_F(LifecycleTest, IdempotencyKeyReplaysAndConflicts) {
  Response first = agent_request(*client_, agent_.token, "POST", "/v1/transactions",
                                 transfer_body("5", "order-1"));
  ASSERT_EQ(first.status, 201) << first.describe();
  EXPECT_FALSE(first.has_header("Idempotent-Replay"));
  const std::string id = str_at(first.json(), "id");

  Response replay = agent_request(*client_, agent_.token, "POST", "/v1/transactions",
                                  transfer_body("5", "order-1"));
  EXPECT_EQ(replay.status, 200) << replay.describe();
  EXPECT_EQ(str_at(replay.json(), "id"), id);
  EXPECT_EQ(replay.header("Idempotent-Replay"), "true");

  Response conflict = agent_request(*client_, agent_.token, "POST", "/v1/transactions",
                                    transfer_body("6", "order-1"));
  EXPECT_EQ(conflict.status, 409) << conflict.describe();
  EXPECT_EQ(conflict.error_code(), "TX_IDEMPOTENCY_CONFLICT");

  // The key is per agent: another agent may use it.
  std::string why;
  AgentLogin other = login_new_agent(*client_, "other-agent", &why);
  ASSERT_FALSE(other.token.empty()) << why;
  Response theirs = agent_request(*client_, other.token, "POST", "/v1/transactions",
                                  transfer_body("5", "order-1"));
  EXPECT_EQ(theirs.status, 201) << theirs.describe();
  EXPECT_NE(str_at(theirs.json(), "id"), id);

  // Keys survive a restart.
  warden_->sigterm();
  ASSERT_TRUE(warden_->wait_exit(10000).has_value());
  ASSERT_TRUE(warden_->restart()) << warden_->error();
  HttpClient again(warden_->port());
  Response after =
      agent_request(again, agent_.token, "POST", "/v1/transactions", transfer_body("5", "order-1"));
  EXPECT_EQ(after.status, 200) << after.describe();
  EXPECT_EQ(str_at(after.json(), "id"), id);
  EXPECT_EQ(after.header("Idempotent-Replay"), "true");
  Response after_conflict =
      agent_request(again, agent_.token, "POST", "/v1/transactions", transfer_body("6", "order-1"));
  EXPECT_EQ(after_conflict.status, 409) << after_conflict.describe();
  EXPECT_EQ(after_conflict.error_code(), "TX_IDEMPOTENCY_CONFLICT");
}

TEST_F(LifecycleTest, MalformedBodiesAre400WithValidationCodes) {
  const std::string to = std::string("\"to\":\"") + kDestination + "\"";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{\"type\":\"TRANSFER\"," + to + ",\"amount\":\"5\",\"colour\":\"red\"}",
       "VALIDATION_UNKNOWN_FIELD"},
      {R"({"type":"TRANSFER","amount":"5"})", "VALIDATION_MISSING_FIELD"},
      {"{\"type\":\"TRANSFER\"," + to + ",\"amount\":\"01\"}", "VALIDATION_INVALID_AMOUNT"},
      {"{\"type\":\"TRANSFER\"," + to + ",\"amount\":\"" + kTwoTo256 + "\"}",
       "VALIDATION_INVALID_AMOUNT"},
      {"{\"type\":\"TRANSFER\"," + to + ",\"amount\":\"-5\"}", "VALIDATION_INVALID_AMOUNT"},
      {"{\"type\":\"TRANSFER\"," + to + ",\"amount\":\"1.5\"}", "VALIDATION_INVALID_AMOUNT"},
      {"{\"type\":\"TRANSFER\"," + to + ",\"amount\":5}", "VALIDATION_WRONG_TYPE"},
      {"{\"type\":\"TRANSFER\"," + to + "}", "VALIDATION_MISSING_FIELD"},
      {"{\"type\":\"WIRE\"," + to + ",\"amount\":\"5\"}", "VALIDATION_INVALID_VALUE"},
      {"{\"type\":\"TRANSFER\"," + to + ",\"amount\":\"5\"", "VALIDATION_MALFORMED_JSON"},
  };
  for (const auto& [body, code] : cases) {
    Response r = agent_request(*client_, agent_.token, "POST", "/v1/transactions", body);
    EXPECT_EQ(r.status, 400) << body << " -> " << r.describe();
    EXPECT_EQ(r.error_code(), code) << body << " -> " << r.body;
  }
  // The largest amount is well-formed: a decision (DENY over the window), not an error.
  Response largest = agent_request(*client_, agent_.token, "POST", "/v1/transactions",
                                   transfer_body(kTwoTo256Minus1));
  ASSERT_EQ(largest.status, 201) << largest.describe();
  EXPECT_EQ(str_at(largest.json(), "effect"), "DENY") << largest.body;
  EXPECT_EQ(str_at(largest.json(), "status"), "DENIED");
  // None of the refused bodies left a row: the next allowed amount still fits the whole window.
  Response whole =
      agent_request(*client_, agent_.token, "POST", "/v1/decisions",
                    R"({"action":"TRANSFER","amounts":{"native":"100000"},)"
                    R"("attributes":{"to":"0x00000000000000000000000000000000000000aa"}})");
  ASSERT_EQ(whole.status, 201) << whole.describe();
  EXPECT_EQ(str_at(whole.json(), "effect"), "ALLOW") << whole.body;
}

TEST_F(LifecycleTest, ExplainTraceHasOneEntryPerStep) {
  // A second policy: a whitelist (one match step) next to the spending limit (tiers + window).
  std::string why;
  const std::string whitelist_id =
      add_policy(*client_, "WHITELIST",
                 json::object{{"allowed_addresses", json::array{kDestination}}}, agent_.id, &why);
  ASSERT_FALSE(whitelist_id.empty()) << why;

  const std::string body =
      std::string(R"({"action":"TRANSFER","amounts":{"native":"5"},"attributes":{"to":")") +
      kDestination + "\"}}";
  Response plain = agent_request(*client_, agent_.token, "POST", "/v1/decisions", body);
  ASSERT_EQ(plain.status, 201) << plain.describe();
  const json::value plain_body = plain.json();
  EXPECT_EQ(at(plain_body, "explain"), nullptr) << "trace without ?explain=true";

  Response r = agent_request(*client_, agent_.token, "POST", "/v1/decisions?explain=true", body);
  ASSERT_EQ(r.status, 201) << r.describe();
  const json::value v = r.json();
  EXPECT_EQ(str_at(v, "effect"), "ALLOW") << r.body;
  EXPECT_EQ(str_at(v, "tier"), "INSTANT");
  const auto* trace = at(v, "explain");
  ASSERT_TRUE(trace && trace->is_array()) << r.body;
  std::multiset<std::string> steps;
  for (const auto& e : trace->as_array()) {
    const std::string policy = str_at(e, "policy_id");
    EXPECT_TRUE(policy == policy_id_ || policy == whitelist_id) << e;
    steps.insert(policy + " " + str_at(e, "step"));
    EXPECT_EQ(str_at(e, "outcome"), "INSTANT") << e;
  }
  // The window step is named by the stored (normalised) duration, e.g. "24h" is kept as "1d".
  Response policy = master("GET", "/v1/policies/" + policy_id_);
  const json::value policy_body = policy.json();
  const json::value windows = field(field(policy_body, "rules"), "windows");
  ASSERT_TRUE(windows.is_array() && windows.as_array().size() == 1) << policy.body;
  const std::string duration = str_at(windows.as_array()[0], "duration");
  const std::multiset<std::string> expected = {policy_id_ + " limit:tiers",
                                               policy_id_ + " limit:window(" + duration + ")",
                                               whitelist_id + " match:set(to)"};
  EXPECT_EQ(steps, expected) << r.body;

  // A denied request explains which step said no.
  const std::string denied_body =
      R"({"action":"TRANSFER","amounts":{"native":"5"},"attributes":{"to":"0x00000000000000000000000000000000000000bb"}})";
  Response denied =
      agent_request(*client_, agent_.token, "POST", "/v1/decisions?explain=true", denied_body);
  ASSERT_EQ(denied.status, 201) << denied.describe();
  const json::value denied_body_json = denied.json();
  EXPECT_EQ(str_at(denied_body_json, "effect"), "DENY") << denied.body;
  const auto* denied_trace = at(denied_body_json, "explain");
  ASSERT_TRUE(denied_trace && denied_trace->is_array()) << denied.body;
  EXPECT_EQ(denied_trace->as_array().size(), 3u) << denied.body;
}

}  // namespace
}  // namespace warden::testing
