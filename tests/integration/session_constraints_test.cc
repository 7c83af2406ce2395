// Session constraints over HTTP: what a session may request (actions) and how much per request
// (amount_max), enforced on POST /v1/transactions and POST /v1/decisions; refusals are 403
// SESSION_CONSTRAINT_VIOLATED, reserve nothing and leave a warning audit row; bad constraints
// are refused when the session is issued.
#include <sqlite3.h>

#include <boost/json.hpp>
#include <chrono>
#include <thread>

#include "support/fixture.h"

namespace warden::testing {
namespace {

namespace json = boost::json;

constexpr const char* kTo = "0x00000000000000000000000000000000000000aa";
constexpr const char* kSpender = "0x00000000000000000000000000000000000000bb";

class SessionConstraintsTest : public WardenTest {
 protected:
  // An ethereum agent whose every amount up to window_max is INSTANT, within one 24h window of
  // window_max on the native asset.
  std::string new_eth_agent(std::uint64_t window_max) {
    return create_capped_eth_agent(*client_, "capped", window_max);
  }

  // A session for agent_id with `constraints` (JSON text); its token ("" after a failure).
  std::string token_with(const std::string& agent_id, const std::string& constraints) {
    json::value s = new_session(agent_id, R"("constraints":)" + constraints);
    return str_at(s, "token");
  }

  Response post(const std::string& token, const std::string& path, const json::object& body) {
    return client_->request("POST", path, json::serialize(body), bearer_headers(token));
  }
  Response transfer(const std::string& token, const std::string& amount) {
    return post(token, "/v1/transactions", {{"type", "TRANSFER"}, {"to", kTo}, {"amount", amount}});
  }

  // Audit rows of one event type, waiting up to 2 s for `count` of them (a refusal's row is
  // committed just after its answer).
  std::vector<json::value> audit_rows(const std::string& event_type, std::size_t count) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    for (;;) {
      auto rows = audit_all(*client_, "event_type=" + event_type);
      EXPECT_TRUE(rows.has_value());
      if (!rows) return {};
      if (rows->size() >= count || std::chrono::steady_clock::now() >= deadline) return *rows;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  void expect_violation(const Response& r, const std::string& constraint) {
    EXPECT_EQ(r.status, 403) << r.describe();
    EXPECT_EQ(r.error_code(), "SESSION_CONSTRAINT_VIOLATED") << r.body;
    const json::value details = error_field(r, "details");
    EXPECT_EQ(str_at(details, "constraint"), constraint) << r.body;
  }
};

TEST_F(SessionConstraintsTest, ConstraintsAreStoredCanonicalAndShown) {
  const std::string agent = new_agent("shown");
  json::value s = new_session(
      agent, R"("constraints":{"amount_max":"1000","actions":["transfer","APPROVE","Transfer"]})");
  const json::value expected =
      json::parse(R"({"actions":["APPROVE","TRANSFER"],"amount_max":"1000"})");
  EXPECT_EQ(field(s, "constraints"), expected) << s;
  Response by_id = master("GET", "/v1/sessions/" + str_at(s, "id"));
  ASSERT_EQ(by_id.status, 200) << by_id.describe();
  EXPECT_EQ(field(by_id.json(), "constraints"), expected);
  Response current =
      client_->request("GET", "/v1/sessions/current", "", bearer_headers(str_at(s, "token")));
  ASSERT_EQ(current.status, 200) << current.describe();
  EXPECT_EQ(field(current.json(), "constraints"), expected);

  auto created = audit_rows("SESSION_CREATED", 1);
  ASSERT_EQ(created.size(), 1u);
  EXPECT_EQ(field(field(created[0], "details"), "constraints"), expected);

  for (const std::string extra :
       {std::string(), std::string(R"("constraints":{})"), std::string(R"("constraints":null)")}) {
    json::value plain = new_session(agent, extra);
    ASSERT_NE(at(plain, "constraints"), nullptr) << plain;
    EXPECT_TRUE(field(plain, "constraints").is_null()) << extra << " -> " << plain;
  }
}

TEST_F(SessionConstraintsTest, InvalidConstraintsAreRefusedWhenTheSessionIsIssued) {
  const std::string agent = new_agent("strict");
  struct Case {
    std::string constraints;
    std::string code;
    std::string field;
  };
  const std::vector<Case> cases = {
      {R"({"max":"5"})", "VALIDATION_UNKNOWN_FIELD", "constraints.max"},
      {R"({"actions":["TRANSFER"],"expires_at":"2030-01-01T00:00:00Z"})",
       "VALIDATION_UNKNOWN_FIELD", "constraints.expires_at"},
      {R"({"actions":"TRANSFER"})", "VALIDATION_WRONG_TYPE", "constraints.actions"},
      {R"({"actions":[]})", "VALIDATION_INVALID_VALUE", "constraints.actions"},
      {R"({"actions":["TRANSFER",7]})", "VALIDATION_WRONG_TYPE", "constraints.actions[1]"},
      {R"({"actions":["TRANS FER"]})", "VALIDATION_INVALID_VALUE", "constraints.actions[0]"},
      {R"({"actions":["TRANSFER\u0000"]})", "VALIDATION_INVALID_VALUE", "constraints.actions[0]"},
      {R"({"actions":["transfer","natıve"]})", "VALIDATION_INVALID_VALUE",
       "constraints.actions[1]"},
      {R"({"actions":[")" + std::string(65, 'A') + R"("]})", "VALIDATION_INVALID_VALUE",
       "constraints.actions[0]"},
      {R"({"amount_max":1000})", "VALIDATION_WRONG_TYPE", "constraints.amount_max"},
      {R"({"amount_max":"-5"})", "VALIDATION_INVALID_AMOUNT", "constraints.amount_max"},
      {R"({"amount_max":"01"})", "VALIDATION_INVALID_AMOUNT", "constraints.amount_max"},
      {R"({"amount_max":"1.5"})", "VALIDATION_INVALID_AMOUNT", "constraints.amount_max"},
      {R"(["TRANSFER"])", "VALIDATION_WRONG_TYPE", "constraints"},
  };
  for (const auto& c : cases) {
    Response r = create_session(*client_, agent, R"("constraints":)" + c.constraints);
    EXPECT_EQ(r.status, 400) << c.constraints << " -> " << r.describe();
    EXPECT_EQ(r.error_code(), c.code) << c.constraints << " -> " << r.body;
    EXPECT_EQ(str_at(error_field(r, "details"), "field"), c.field) << c.constraints;
  }
  EXPECT_EQ(audit_rows("SESSION_CREATED", 0).size(), 0u) << "a refused session was created";
}

TEST_F(SessionConstraintsTest, OnlyTheListedActionsPass) {
  const std::string agent = new_eth_agent(1'000'000);
  const std::string token = token_with(agent, R"({"actions":["transfer","DATA.READ"]})");
  ASSERT_FALSE(token.empty());

  Response allowed = transfer(token, "100");
  ASSERT_EQ(allowed.status, 201) << allowed.describe();
  EXPECT_EQ(str_at(allowed.json(), "effect"), "ALLOW");
  Response generic = post(token, "/v1/decisions", {{"action", "DATA.READ"}});
  EXPECT_EQ(generic.status, 201) << generic.describe();

  Response approve = post(token, "/v1/transactions",
                          {{"type", "APPROVE"}, {"spender", kSpender}, {"amount", "5"}});
  expect_violation(approve, "actions");
  EXPECT_EQ(str_at(error_field(approve, "details"), "action"), "APPROVE");
  expect_violation(post(token, "/v1/transactions",
                        {{"type", "CONTRACT_CALL"}, {"contract", kTo}, {"amount", "1"}}),
                   "actions");
  expect_violation(post(token, "/v1/decisions", {{"action", "DATA.WRITE"}}), "actions");
  // A near spelling is no action at all: refused where the request enters, before constraints.
  Response near = post(token, "/v1/decisions", {{"action", "TRANSFER "}});
  EXPECT_EQ(near.status, 400) << near.describe();
  EXPECT_EQ(near.error_code(), "VALIDATION_INVALID_VALUE") << near.body;

  auto violations = audit_rows("SESSION_CONSTRAINT_VIOLATED", 3);
  ASSERT_EQ(violations.size(), 3u);
  EXPECT_EQ(str_at(violations[0], "severity"), "warning");
  EXPECT_EQ(str_at(violations[0], "agent_id"), agent);
  EXPECT_EQ(str_at(field(violations[0], "details"), "action"), "APPROVE");
  // Only the two allowed requests were decided.
  EXPECT_EQ(audit_rows("TX_DECIDED", 2).size(), 2u);
}

TEST_F(SessionConstraintsTest, AnAmountAboveTheCapIsRefusedAndReservesNothing) {
  const std::string agent = new_eth_agent(1000);
  const std::string token = token_with(agent, R"({"amount_max":"600"})");
  ASSERT_FALSE(token.empty());

  Response over = transfer(token, "700");
  expect_violation(over, "amount_max");
  const json::value details = error_field(over, "details");
  EXPECT_EQ(str_at(details, "amount"), "700");
  EXPECT_EQ(str_at(details, "amount_max"), "600");
  EXPECT_EQ(str_at(details, "asset"), "native");
  expect_violation(
      post(token, "/v1/decisions", {{"action", "DATA.READ"}, {"amounts", {{"native", "601"}}}}),
      "amount_max");
  expect_violation(post(token, "/v1/transactions",
                        {{"type", "APPROVE"}, {"spender", kSpender}, {"amount", "601"}}),
                   "amount_max");

  // At the cap passes; the refused 700 took nothing from the window: 600 + 400 fill it.
  Response at_cap = transfer(token, "600");
  ASSERT_EQ(at_cap.status, 201) << at_cap.describe();
  EXPECT_EQ(str_at(at_cap.json(), "effect"), "ALLOW") << at_cap.body;
  Response rest = transfer(token, "400");
  ASSERT_EQ(rest.status, 201) << rest.describe();
  EXPECT_EQ(str_at(rest.json(), "effect"), "ALLOW") << rest.body;
  // The policy still applies under the cap.
  Response full = transfer(token, "1");
  ASSERT_EQ(full.status, 201) << full.describe();
  EXPECT_EQ(str_at(full.json(), "effect"), "DENY") << full.body;

  EXPECT_EQ(audit_rows("SESSION_CONSTRAINT_VIOLATED", 3).size(), 3u);
  EXPECT_EQ(audit_rows("TX_DECIDED", 3).size(), 3u);

  // Another session of the same agent without constraints is not capped.
  const std::string free_token = token_with(agent, "{}");
  Response uncapped = post(free_token, "/v1/decisions", {{"action", "DATA.READ"}});
  EXPECT_EQ(uncapped.status, 201) << uncapped.describe();
}

// A session row whose constraints this version cannot read (written by an older one, which
// stored any object) refuses every request instead of ignoring them.
TEST_F(SessionConstraintsTest, UnreadableStoredConstraintsFailClosed) {
  const std::string agent = new_eth_agent(1000);
  json::value s = new_session(agent);
  const std::string token = str_at(s, "token");
  ASSERT_FALSE(token.empty());
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(
        sqlite3_open_v2(warden_->database_path().c_str(), &db, SQLITE_OPEN_READWRITE, nullptr),
        SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    const std::string sql = "UPDATE sessions SET constraints = '{\"per_tx_max\":5}' WHERE id = '" +
                            str_at(s, "id") + "'";
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
    const int changed = sqlite3_changes(db);
    sqlite3_close(db);
    ASSERT_EQ(rc, SQLITE_OK);
    ASSERT_EQ(changed, 1);
  }
  expect_violation(transfer(token, "1"), "unreadable");
  EXPECT_EQ(audit_rows("TX_DECIDED", 0).size(), 0u);
}

}  // namespace
}  // namespace warden::testing
