// The credit ledger over HTTP against a real daemon: the worked example of docs/ledger.md
// (FIFO debits across lots, holds posted and voided, balances, lot and entry pages), every bad
// input with its stable code and nothing written, who may call what, idempotent retries, and
// the body size limit.
#include <boost/json.hpp>
#include <chrono>
#include <set>

#include "support/fixture.h"

namespace warden::testing {
namespace {

namespace json = boost::json;

constexpr const char* kUnknownId = "01900000-0000-7000-8000-000000000000";
constexpr const char* kTwoTo256 =
    "115792089237316195423570985008687907853269984665640564039457584007913129639936";

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string body_of(const json::object& o) { return json::serialize(o); }

class LedgerApiTest : public WardenTest {
 protected:
  Response mint(const std::string& owner, const std::string& amount, const std::string& key,
                json::object extra = {}) {
    json::object o{{"owner", owner},
                   {"amount", amount},
                   {"currency", "USD"},
                   {"source", "grant"},
                   {"idempotency_key", key}};
    for (auto& kv : extra) o[kv.key()] = kv.value();
    return master("POST", "/v1/ledger/mint", body_of(o));
  }

  Response debit(const std::string& owner, const std::string& amount, const std::string& key) {
    return master(
        "POST", "/v1/ledger/debit",
        body_of(
            {{"owner", owner}, {"amount", amount}, {"currency", "USD"}, {"idempotency_key", key}}));
  }

  Response hold(const std::string& owner, const std::string& amount, const std::string& key) {
    return master("POST", "/v1/ledger/holds",
                  body_of({{"owner", owner},
                           {"amount", amount},
                           {"currency", "USD"},
                           {"ttl_seconds", 600},
                           {"idempotency_key", key}}));
  }

  json::value balance(const std::string& owner) {
    Response r = master("GET", "/v1/ledger/balances?owner=" + owner + "&currency=USD");
    EXPECT_EQ(r.status, 200) << r.describe();
    return r.json();
  }

  // Every entry (of one owner, or all), following next_after_id pages of `limit`.
  std::vector<json::value> entries(const std::string& owner = "", int limit = 100) {
    std::vector<json::value> out;
    std::int64_t after = 0;
    for (int page = 0; page < 1000; ++page) {
      std::string target = "/v1/ledger/entries?limit=" + std::to_string(limit) +
                           "&after_id=" + std::to_string(after);
      if (!owner.empty()) target += "&owner=" + owner;
      Response r = master("GET", target);
      EXPECT_EQ(r.status, 200) << r.describe();
      if (r.status != 200) return out;
      json::value v = r.json();
      for (const auto& e : v.at("items").as_array()) out.push_back(e);
      const json::value& next = v.at("next_after_id");
      if (next.is_null()) return out;
      after = next.as_int64();
    }
    ADD_FAILURE() << "entries never ended";
    return out;
  }

  void expect_error(const Response& r, int status, const std::string& code,
                    const std::string& field = "") {
    EXPECT_EQ(r.status, status) << r.describe();
    EXPECT_EQ(r.error_code(), code) << r.body;
    if (!field.empty()) {
      EXPECT_EQ(str_at(error_field(r, "details"), "field"), field) << r.body;
    }
  }
};

template <class Entries>
std::vector<std::string> types_of(const Entries& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) out.push_back(str_at(e, "type"));
  return out;
}

TEST_F(LedgerApiTest, WorkedExampleDebitsFifoAcrossLotsThenHoldsPostAndVoid) {
  const std::string a = new_agent("ledger-a");
  // The lot without expiry comes first; the expiring one is still spent first.
  Response later = mint(a, "500", "mint-1");
  ASSERT_EQ(later.status, 201) << later.describe();
  Response expiring = mint(a, "300", "mint-2", {{"expires_at", now_seconds() + 3600}});
  ASSERT_EQ(expiring.status, 201) << expiring.describe();
  const std::string lot_late = str_at(later.json(), "id");
  const std::string lot_exp = str_at(expiring.json(), "id");
  EXPECT_EQ(str_at(later.json(), "owner"), a);
  EXPECT_EQ(str_at(later.json(), "remaining"), "500");
  EXPECT_EQ(str_at(later.json(), "status"), "active");
  EXPECT_EQ(str_at(later.json(), "source"), "grant");
  EXPECT_GT(int_at(expiring.json(), "expires_at").value_or(0), now_seconds());

  Response d = debit(a, "400", "debit-1");
  ASSERT_EQ(d.status, 201) << d.describe();
  json::value dv = d.json();
  EXPECT_EQ(str_at(dv, "amount"), "400");
  EXPECT_EQ(str_at(dv, "remaining"), "400");
  EXPECT_FALSE(str_at(dv, "op_id").empty());
  const json::array& split = dv.at("entries").as_array();
  ASSERT_EQ(split.size(), 2u) << d.body;
  EXPECT_EQ(str_at(split[0], "lot_id"), lot_exp);
  EXPECT_EQ(str_at(split[0], "amount"), "300");
  EXPECT_EQ(str_at(split[1], "lot_id"), lot_late);
  EXPECT_EQ(str_at(split[1], "amount"), "100");

  Response short_debit = debit(a, "1000", "debit-2");
  expect_error(short_debit, 402, "LEDGER_BUDGET_EXCEEDED");
  EXPECT_EQ(str_at(error_field(short_debit, "details"), "available"), "400");
  EXPECT_EQ(str_at(error_field(short_debit, "details"), "shortfall"), "600");

  Response h = hold(a, "250", "hold-1");
  ASSERT_EQ(h.status, 201) << h.describe();
  const std::string hold_id = str_at(h.json(), "id");
  EXPECT_EQ(str_at(h.json(), "status"), "pending");
  EXPECT_EQ(str_at(h.json(), "available"), "150");
  EXPECT_EQ(balance(a), json::parse(R"({"owner":")" + a +
                                    R"(","currency":"USD","available":"150","held":"250"})"));
  Response got = master("GET", "/v1/ledger/holds/" + hold_id);
  ASSERT_EQ(got.status, 200) << got.describe();
  EXPECT_EQ(str_at(got.json(), "status"), "pending");
  ASSERT_EQ(got.json().at("portions").as_array().size(), 1u);
  EXPECT_EQ(str_at(got.json().at("portions").at(0), "lot_id"), lot_late);

  Response posted = master("POST", "/v1/ledger/holds/" + hold_id + "/post", R"({"amount":"100"})");
  ASSERT_EQ(posted.status, 200) << posted.describe();
  EXPECT_EQ(str_at(posted.json(), "status"), "posted");
  EXPECT_EQ(str_at(posted.json(), "posted_amount"), "100");
  EXPECT_EQ(str_at(posted.json(), "available"), "300");
  EXPECT_EQ(types_of(posted.json().at("entries").as_array()),
            (std::vector<std::string>{"debit", "release"}));
  EXPECT_EQ(balance(a), json::parse(R"({"owner":")" + a +
                                    R"(","currency":"USD","available":"300","held":"0"})"));

  Response h2 = hold(a, "50", "hold-2");
  ASSERT_EQ(h2.status, 201) << h2.describe();
  const std::string hold2 = str_at(h2.json(), "id");
  Response voided = master("POST", "/v1/ledger/holds/" + hold2 + "/void");
  ASSERT_EQ(voided.status, 200) << voided.describe();
  EXPECT_EQ(str_at(voided.json(), "status"), "voided");
  EXPECT_EQ(str_at(voided.json(), "available"), "300");
  Response closed = master("GET", "/v1/ledger/holds/" + hold2);
  ASSERT_EQ(closed.status, 200) << closed.describe();
  EXPECT_EQ(str_at(closed.json(), "status"), "voided");
  EXPECT_EQ(str_at(closed.json(), "amount"), "50");

  // Every currency at once.
  Response all = master("GET", "/v1/ledger/balances?owner=" + a);
  ASSERT_EQ(all.status, 200) << all.describe();
  EXPECT_EQ(all.json(), json::parse(R"({"owner":")" + a + R"(","items":[{"owner":")" + a +
                                    R"(","currency":"USD","available":"300","held":"0"}]})"));

  // Lots: one per page, in creation order, with what they have now.
  Response p1 = master("GET", "/v1/ledger/lots?owner=" + a + "&limit=1");
  ASSERT_EQ(p1.status, 200) << p1.describe();
  ASSERT_EQ(p1.json().at("items").as_array().size(), 1u);
  EXPECT_EQ(str_at(p1.json().at("items").at(0), "id"), lot_late);
  EXPECT_EQ(str_at(p1.json().at("items").at(0), "remaining"), "300");
  Response p2 = master(
      "GET", "/v1/ledger/lots?owner=" + a + "&limit=1&cursor=" + str_at(p1.json(), "next_cursor"));
  ASSERT_EQ(p2.status, 200) << p2.describe();
  EXPECT_EQ(str_at(p2.json().at("items").at(0), "id"), lot_exp);
  EXPECT_EQ(str_at(p2.json().at("items").at(0), "remaining"), "0");
  EXPECT_EQ(str_at(p2.json().at("items").at(0), "status"), "depleted");

  // Entries, two per page: the whole story in order.
  const auto all_entries = entries(a, 2);
  EXPECT_EQ(types_of(all_entries),
            (std::vector<std::string>{"credit", "credit", "debit", "debit", "hold", "debit",
                                      "release", "hold", "release"}));
  std::int64_t last = 0;
  for (const auto& e : all_entries) {
    EXPECT_GT(int_at(e, "id").value_or(0), last);
    last = int_at(e, "id").value_or(0);
    EXPECT_EQ(str_at(e, "owner"), a);
    EXPECT_EQ(str_at(e, "currency"), "USD");
  }
  EXPECT_EQ(str_at(all_entries[5], "hold_id"), hold_id);
  EXPECT_EQ(str_at(all_entries[5], "amount"), "100");
  EXPECT_EQ(str_at(all_entries[6], "amount"), "150");
}

TEST_F(LedgerApiTest, TokenAddressCurrencyIsCanonicalised) {
  const std::string a = new_agent("ledger-token");
  const std::string mixed = "0xAbCdEf0123456789aBcDeF0123456789ABCDEF01";
  std::string lower = mixed;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  Response r = master("POST", "/v1/ledger/mint",
                      body_of({{"owner", a},
                               {"amount", "7"},
                               {"currency", mixed},
                               {"source", "seed"},
                               {"idempotency_key", "tok"}}));
  ASSERT_EQ(r.status, 201) << r.describe();
  EXPECT_EQ(str_at(r.json(), "currency"), lower);
  Response b = master("GET", "/v1/ledger/balances?owner=" + a + "&currency=" + mixed);
  ASSERT_EQ(b.status, 200) << b.describe();
  EXPECT_EQ(str_at(b.json(), "available"), "7");
}

// What a refused request must leave exactly as it was.
struct LedgerState {
  json::value balance;
  std::size_t entries = 0;
  std::size_t audit_rows = 0;
  bool operator==(const LedgerState&) const = default;
};

std::ostream& operator<<(std::ostream& os, const LedgerState& s) {
  return os << "{balance=" << json::serialize(s.balance) << ", entries=" << s.entries
            << ", audit_rows=" << s.audit_rows << "}";
}

class LedgerBadInputTest : public LedgerApiTest {
 protected:
  void SetUp() override {
    LedgerApiTest::SetUp();
    if (HasFatalFailure()) return;
    owner_ = new_agent("bad-input");
    ASSERT_EQ(mint(owner_, "1000", "seed").status, 201);
    Response h = hold(owner_, "10", "seed-hold");
    ASSERT_EQ(h.status, 201);
    hold_id_ = str_at(h.json(), "id");
    before_ = state();
  }

  LedgerState state() { return {balance(owner_), entries().size(), audit_count()}; }

  // body: a JSON text with OWNER standing for the agent's id.
  void refused(const std::string& path, std::string body, int status, const std::string& code,
               const std::string& field) {
    SCOPED_TRACE(path + " " + body);
    for (auto at = body.find("OWNER"); at != std::string::npos; at = body.find("OWNER")) {
      body.replace(at, 5, owner_);
    }
    expect_error(master("POST", path, body), status, code, field);
  }

  std::string owner_;
  std::string hold_id_;
  LedgerState before_;
};

TEST_F(LedgerBadInputTest, MintRefusalsHaveStableCodesAndWriteNothing) {
  const std::string ok_tail = R"("currency":"USD","source":"grant","idempotency_key":"k1")";
  const std::string path = "/v1/ledger/mint";
  refused(path, "[]", 400, "VALIDATION_WRONG_TYPE", "");
  refused(path, "{", 400, "VALIDATION_MALFORMED_JSON", "");
  refused(path, R"({"owner":"OWNER","amount":"5",)" + ok_tail + R"(,"memo":"x"})", 400,
          "VALIDATION_UNKNOWN_FIELD", "memo");
  refused(path, R"({"amount":"5",)" + ok_tail + "}", 400, "VALIDATION_MISSING_FIELD", "owner");
  refused(path, R"({"owner":"OWNER",)" + ok_tail + "}", 400, "VALIDATION_MISSING_FIELD", "amount");
  refused(path, R"({"owner":"OWNER","amount":"5","currency":"USD","source":"grant"})", 400,
          "VALIDATION_MISSING_FIELD", "idempotency_key");
  refused(path, R"({"owner":"OWNER","amount":"5","source":"grant","idempotency_key":"k"})", 400,
          "VALIDATION_MISSING_FIELD", "currency");
  refused(path, R"({"owner":17,"amount":"5",)" + ok_tail + "}", 400, "VALIDATION_WRONG_TYPE",
          "owner");
  refused(path, R"({"owner":"OWNER","amount":5,)" + ok_tail + "}", 400, "VALIDATION_WRONG_TYPE",
          "amount");
  for (const std::string& amount :
       std::vector<std::string>{"-5", "1.5", "01", " 5", "5e3", "", kTwoTo256}) {
    refused(path, R"({"owner":"OWNER","amount":")" + amount + R"(",)" + ok_tail + "}", 400,
            "VALIDATION_INVALID_AMOUNT", "amount");
  }
  refused(path, R"({"owner":"OWNER","amount":"0",)" + ok_tail + "}", 400,
          "VALIDATION_INVALID_AMOUNT", "amount");
  for (const std::string currency : {"usd", "NATIVE", " USD", "U", "0x12"}) {
    refused(path,
            R"({"owner":"OWNER","amount":"5","currency":")" + currency +
                R"(","source":"grant","idempotency_key":"k1"})",
            400, "LEDGER_CURRENCY_UNKNOWN", "currency");
  }
  refused(path, R"({"owner":")" + std::string(kUnknownId) + R"(","amount":"5",)" + ok_tail + "}",
          400, "LEDGER_OWNER_UNKNOWN", "owner");
  refused(
      path,
      R"({"owner":"OWNER","amount":"5","currency":"USD","source":"gift","idempotency_key":"k"})",
      400, "VALIDATION_INVALID_VALUE", "source");
  refused(path, R"({"owner":"OWNER","amount":"5",)" + ok_tail + R"(,"expires_at":"tomorrow"})", 400,
          "VALIDATION_WRONG_TYPE", "expires_at");
  refused(path, R"({"owner":"OWNER","amount":"5",)" + ok_tail + R"(,"expires_at":1000})", 400,
          "VALIDATION_INVALID_VALUE", "expires_at");
  refused(path, R"({"owner":"OWNER","amount":"5",)" + ok_tail + R"(,"expires_at":1.5e9})", 400,
          "VALIDATION_WRONG_TYPE", "expires_at");
  refused(
      path,
      R"({"owner":"OWNER","amount":"5","currency":"USD","source":"grant","idempotency_key":""})",
      400, "VALIDATION_INVALID_VALUE", "idempotency_key");
  refused(path, R"({"owner":"OWNER","amount":"5",)" + ok_tail + R"(,"payment_id":7})", 400,
          "VALIDATION_WRONG_TYPE", "payment_id");
  refused(path, R"({"owner":"OWNER","owner":"OWNER","amount":"5",)" + ok_tail + "}", 400,
          "VALIDATION_DUPLICATE_KEY", "owner");
  EXPECT_EQ(state(), before_);
}

TEST_F(LedgerBadInputTest, DebitAndHoldRefusalsHaveStableCodesAndWriteNothing) {
  for (const std::string path : {"/v1/ledger/debit", "/v1/ledger/holds"}) {
    const std::string tail = R"("currency":"USD","idempotency_key":"k2")";
    refused(path, "\"debit\"", 400, "VALIDATION_WRONG_TYPE", "");
    refused(path, R"({"owner":"OWNER","amount":"5",)" + tail + R"(,"source":"grant"})", 400,
            "VALIDATION_UNKNOWN_FIELD", "source");
    refused(path, R"({"owner":"OWNER",)" + tail + "}", 400, "VALIDATION_MISSING_FIELD", "amount");
    refused(path, R"({"owner":null,"amount":"5",)" + tail + "}", 400, "VALIDATION_MISSING_FIELD",
            "owner");
    refused(path, R"({"owner":"OWNER","amount":10,)" + tail + "}", 400, "VALIDATION_WRONG_TYPE",
            "amount");
    refused(path, R"({"owner":["OWNER"],"amount":"5",)" + tail + "}", 400, "VALIDATION_WRONG_TYPE",
            "owner");
    for (const std::string& amount : std::vector<std::string>{"-1", "0.5", "007", kTwoTo256, "0"}) {
      refused(path, R"({"owner":"OWNER","amount":")" + amount + R"(",)" + tail + "}", 400,
              "VALIDATION_INVALID_AMOUNT", "amount");
    }
    refused(path, R"({"owner":"OWNER","amount":"5","currency":"EUROS!","idempotency_key":"k"})",
            400, "LEDGER_CURRENCY_UNKNOWN", "currency");
    refused(path, R"({"owner":"nobody","amount":"5",)" + tail + "}", 400, "LEDGER_OWNER_UNKNOWN",
            "owner");
    refused(path, R"({"owner":"OWNER","amount":"5000",)" + tail + "}", 402,
            "LEDGER_BUDGET_EXCEEDED", "");
  }
  refused(
      "/v1/ledger/holds",
      R"({"owner":"OWNER","amount":"5","currency":"USD","ttl_seconds":0,"idempotency_key":"k"})",
      400, "VALIDATION_INVALID_VALUE", "ttl_seconds");
  refused(
      "/v1/ledger/holds",
      R"({"owner":"OWNER","amount":"5","currency":"USD","ttl_seconds":"60","idempotency_key":"k"})",
      400, "VALIDATION_WRONG_TYPE", "ttl_seconds");
  EXPECT_EQ(state(), before_);
}

TEST_F(LedgerBadInputTest, HoldPostVoidAndReadRefusals) {
  const std::string hold_path = "/v1/ledger/holds/" + hold_id_;
  refused(hold_path + "/post", R"({"amount":"ten"})", 400, "VALIDATION_INVALID_AMOUNT", "amount");
  refused(hold_path + "/post", R"({"amount":10})", 400, "VALIDATION_WRONG_TYPE", "amount");
  refused(hold_path + "/post", R"({"amount":"11"})", 422, "LEDGER_AMOUNT_EXCEEDS_HOLD", "");
  refused(hold_path + "/post", R"({"final":"1"})", 400, "VALIDATION_UNKNOWN_FIELD", "final");
  refused(hold_path + "/void", R"({"reason":"x"})", 400, "VALIDATION_UNKNOWN_FIELD", "reason");
  refused(hold_path + "/void", "[]", 400, "VALIDATION_WRONG_TYPE", "");
  refused(std::string("/v1/ledger/holds/") + kUnknownId + "/post", "{}", 404,
          "LEDGER_HOLD_NOT_FOUND", "");
  refused(std::string("/v1/ledger/holds/") + kUnknownId + "/void", "", 404, "LEDGER_HOLD_NOT_FOUND",
          "");
  expect_error(master("GET", std::string("/v1/ledger/holds/") + kUnknownId), 404,
               "LEDGER_HOLD_NOT_FOUND");

  expect_error(master("GET", "/v1/ledger/balances"), 400, "VALIDATION_MISSING_FIELD", "owner");
  expect_error(master("GET", "/v1/ledger/balances?owner=" + owner_ + "&currency=usd"), 400,
               "LEDGER_CURRENCY_UNKNOWN", "currency");
  expect_error(master("GET", std::string("/v1/ledger/balances?owner=") + kUnknownId), 400,
               "LEDGER_OWNER_UNKNOWN", "owner");
  expect_error(master("GET", std::string("/v1/ledger/lots?owner=") + kUnknownId), 400,
               "LEDGER_OWNER_UNKNOWN", "owner");
  expect_error(master("GET", "/v1/ledger/lots?cursor=abc"), 400, "VALIDATION_INVALID_CURSOR");
  expect_error(master("GET", "/v1/ledger/lots?limit=0"), 400, "VALIDATION_INVALID_VALUE");
  expect_error(master("GET", "/v1/ledger/entries?after_id=-1"), 400, "VALIDATION_INVALID_VALUE");
  expect_error(master("GET", "/v1/ledger/entries?limit=1001"), 400, "VALIDATION_INVALID_VALUE");
  EXPECT_EQ(state(), before_);
  // The hold is still pending and whole.
  Response got = master("GET", hold_path);
  EXPECT_EQ(str_at(got.json(), "status"), "pending");
  EXPECT_EQ(str_at(got.json(), "amount"), "10");
}

TEST_F(LedgerApiTest, OnlyTheMasterWritesAndAnAgentReadsOnlyItsOwnBalances) {
  const std::string a = new_agent("reader-a");
  const std::string b = new_agent("reader-b");
  ASSERT_EQ(mint(a, "40", "a-1").status, 201);
  ASSERT_EQ(mint(b, "60", "b-1").status, 201);
  const std::string token = str_at(new_session(a), "token");
  ASSERT_FALSE(token.empty());
  const std::string mint_body = body_of({{"owner", a},
                                         {"amount", "1000"},
                                         {"currency", "USD"},
                                         {"source", "grant"},
                                         {"idempotency_key", "self-mint"}});

  // No credentials at all.
  expect_error(client_->request("POST", "/v1/ledger/mint", mint_body), 401, "AUTH_MASTER_REQUIRED");
  expect_error(client_->request("GET", "/v1/ledger/balances?owner=" + a), 401,
               "AUTH_SESSION_REQUIRED");
  // An agent cannot credit itself, spend, hold or list.
  expect_error(client_->request("POST", "/v1/ledger/mint", mint_body, bearer_headers(token)), 401,
               "AUTH_MASTER_REQUIRED");
  expect_error(
      client_->request(
          "POST", "/v1/ledger/debit",
          body_of({{"owner", b}, {"amount", "1"}, {"currency", "USD"}, {"idempotency_key", "x"}}),
          bearer_headers(token)),
      401, "AUTH_MASTER_REQUIRED");
  expect_error(client_->request("GET", "/v1/ledger/lots?owner=" + a, "", bearer_headers(token)),
               401, "AUTH_MASTER_REQUIRED");
  expect_error(client_->request("GET", "/v1/ledger/entries?owner=" + a, "", bearer_headers(token)),
               401, "AUTH_MASTER_REQUIRED");
  // Another agent's balances: forbidden.
  expect_error(client_->request("GET", "/v1/ledger/balances?owner=" + b, "", bearer_headers(token)),
               403, "AUTH_FORBIDDEN");
  expect_error(client_->request("GET", "/v1/ledger/balances?owner=" + b + "&currency=USD", "",
                                bearer_headers(token)),
               403, "AUTH_FORBIDDEN");
  // Its own: yes.
  Response own = client_->request("GET", "/v1/ledger/balances?owner=" + a + "&currency=USD", "",
                                  bearer_headers(token));
  ASSERT_EQ(own.status, 200) << own.describe();
  EXPECT_EQ(str_at(own.json(), "available"), "40");
  Response own_all =
      client_->request("GET", "/v1/ledger/balances?owner=" + a, "", bearer_headers(token));
  ASSERT_EQ(own_all.status, 200) << own_all.describe();
  EXPECT_EQ(own_all.json().at("items").as_array().size(), 1u);
  // Nothing was minted or spent by the refused calls.
  EXPECT_EQ(str_at(balance(a), "available"), "40");
  EXPECT_EQ(str_at(balance(b), "available"), "60");
}

TEST_F(LedgerApiTest, RetriesAnswerTheFirstResultAndAReusedKeyIsAConflict) {
  const std::string a = new_agent("retry");
  Response first = mint(a, "100", "mint-key");
  ASSERT_EQ(first.status, 201) << first.describe();
  EXPECT_FALSE(first.has_header("Idempotent-Replay"));
  Response again = mint(a, "100", "mint-key");
  EXPECT_EQ(again.status, 201) << again.describe();
  EXPECT_EQ(again.json(), first.json());
  EXPECT_EQ(again.header("Idempotent-Replay"), "true");
  expect_error(mint(a, "101", "mint-key"), 409, "IDEMPOTENCY_KEY_REUSED");

  Response d1 = debit(a, "30", "debit-key");
  ASSERT_EQ(d1.status, 201) << d1.describe();
  Response d2 = debit(a, "30", "debit-key");
  EXPECT_EQ(d2.status, 201);
  EXPECT_EQ(d2.json(), d1.json());
  expect_error(debit(a, "31", "debit-key"), 409, "IDEMPOTENCY_KEY_REUSED");
  // A key is one operation whatever the route: a debit's key cannot mint.
  expect_error(mint(a, "30", "debit-key"), 409, "IDEMPOTENCY_KEY_REUSED");
  EXPECT_EQ(str_at(balance(a), "available"), "70");

  Response h = hold(a, "20", "hold-key");
  ASSERT_EQ(h.status, 201);
  EXPECT_EQ(hold(a, "20", "hold-key").json(), h.json());
  const std::string id = str_at(h.json(), "id");
  Response p1 = master("POST", "/v1/ledger/holds/" + id + "/post", R"({"amount":"5"})");
  ASSERT_EQ(p1.status, 200) << p1.describe();
  Response p2 = master("POST", "/v1/ledger/holds/" + id + "/post", R"({"amount":"5"})");
  EXPECT_EQ(p2.status, 200);
  EXPECT_EQ(p2.json(), p1.json());
  EXPECT_EQ(p2.header("Idempotent-Replay"), "true");
  expect_error(master("POST", "/v1/ledger/holds/" + id + "/void"), 409, "LEDGER_HOLD_NOT_PENDING");
  expect_error(master("POST", "/v1/ledger/holds/" + id + "/post", R"({"amount":"6"})"), 409,
               "LEDGER_HOLD_NOT_PENDING");
  EXPECT_EQ(str_at(balance(a), "available"), "65");
  // credit, debit, hold, debit + release: each retry wrote nothing.
  EXPECT_EQ(entries(a).size(), 5u);

  // After a restart the keys are still answered with the first result.
  client_->close();
  warden_->sigterm();
  ASSERT_EQ(warden_->wait_exit(10000), 0);
  ASSERT_TRUE(warden_->restart()) << warden_->error();
  client_ = std::make_unique<HttpClient>(warden_->port());
  Response after = mint(a, "100", "mint-key");
  EXPECT_EQ(after.status, 201) << after.describe();
  EXPECT_EQ(after.json(), first.json());
  expect_error(debit(a, "31", "debit-key"), 409, "IDEMPOTENCY_KEY_REUSED");
  EXPECT_EQ(debit(a, "30", "debit-key").json(), d1.json());
  EXPECT_EQ(str_at(balance(a), "available"), "65");
  EXPECT_EQ(entries(a).size(), 5u);
}

TEST_F(LedgerApiTest, ConcurrentDebitsSpendExactlyTheCredit) {
  constexpr int kThreads = 16;
  constexpr int kFit = 10;
  const std::string a = new_agent("racer");
  ASSERT_EQ(mint(a, std::to_string(kFit * 100), "race-seed").status, 201);
  auto answers = concurrently(warden_->port(), kThreads, [&](HttpClient& c, int i) {
    return c.request("POST", "/v1/ledger/debit",
                     body_of({{"owner", a},
                              {"amount", "100"},
                              {"currency", "USD"},
                              {"idempotency_key", "race-" + std::to_string(i)}}),
                     master_headers());
  });
  int ok = 0;
  int short_of_credit = 0;
  for (const auto& r : answers) {
    if (r.status == 201) ++ok;
    if (r.status == 402 && r.error_code() == "LEDGER_BUDGET_EXCEEDED") ++short_of_credit;
  }
  EXPECT_EQ(ok, kFit);
  EXPECT_EQ(short_of_credit, kThreads - kFit);
  EXPECT_EQ(str_at(balance(a), "available"), "0");
}

class LedgerSmallBodyTest : public LedgerApiTest {
 protected:
  std::vector<std::string> serve_flags() const override { return {"--body-bytes-max", "1024"}; }
};

TEST_F(LedgerSmallBodyTest, OversizedBodyIs413AndMintsNothing) {
  const std::string a = new_agent("big-body");
  const std::size_t audit_before = audit_count();
  std::string body = body_of({{"owner", a},
                              {"amount", "5"},
                              {"currency", "USD"},
                              {"source", "grant"},
                              {"idempotency_key", "big"}});
  body.insert(body.size() - 1, std::string(2000, ' '));
  expect_error(master("POST", "/v1/ledger/mint", body), 413, "VALIDATION_BODY_TOO_LARGE");
  client_ = std::make_unique<HttpClient>(warden_->port());
  EXPECT_EQ(str_at(balance(a), "available"), "0");
  EXPECT_TRUE(entries(a).empty());
  EXPECT_EQ(audit_count(), audit_before);
}

}  // namespace
}  // namespace warden::testing
