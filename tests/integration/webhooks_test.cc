// Payment webhooks through the real daemon: POST /v1/webhooks/{provider} signed with the
// provider's secret (from warden.toml or the environment). One event delivered 100 times at
// once, and a payment's events out of order, mint one lot; a bad signature, a stale one and a
// malformed body are refused, audited, and mint nothing. The lots are read from the database
// file after the daemon stopped.
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sqlite3.h>

#include <boost/json.hpp>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "support/fixture.h"

namespace warden::testing {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr const char* kSecret = "whsec_integration_0123456789abcdef";
constexpr const char* kEnvSecret = "whsec_from_the_environment_0000000";

// The sender's side, written against OpenSSL directly rather than the daemon's code.
std::string sign(const std::string& secret, std::int64_t t, const std::string& body) {
  const std::string message = std::to_string(t) + "." + body;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0x0F];
  }
  return "t=" + std::to_string(t) + ",v1=" + hex;
}

std::int64_t now_s() { return static_cast<std::int64_t>(std::time(nullptr)); }

std::string event_body(const std::string& event_id, const std::string& owner,
                       const std::string& status, const std::string& payment_id = "pay_1",
                       const std::string& amount = "2500") {
  json::object data{{"payment_id", payment_id},
                    {"owner", owner},
                    {"amount", amount},
                    {"currency", "USD"},
                    {"status", status}};
  return json::serialize(json::object{
      {"id", event_id}, {"type", "payment.updated"}, {"created", now_s()}, {"data", data}});
}

// Reads the database file (the daemon has stopped).
class Database {
 public:
  explicit Database(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      sqlite3_close(db_);
      db_ = nullptr;
    }
  }
  ~Database() { sqlite3_close(db_); }
  bool ok() const { return db_ != nullptr; }
  // Every row of a query, its columns as text.
  std::vector<std::vector<std::string>> rows(const std::string& sql) {
    std::vector<std::vector<std::string>> out;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db_);
      return out;
    }
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      std::vector<std::string> row;
      for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
        const unsigned char* text = sqlite3_column_text(stmt, i);
        row.emplace_back(text ? reinterpret_cast<const char*>(text) : "NULL");
      }
      out.push_back(std::move(row));
    }
    sqlite3_finalize(stmt);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

class WebhookTest : public WardenTest {
 protected:
  void SetUp() override {
    ASSERT_FALSE(config_dir_.empty());
    config_ = config_dir_ + "/warden.toml";
    std::ofstream(config_) << "[webhook_secrets]\nacme = \"" << kSecret << "\"\n";
    warden_ = std::make_unique<WardenProcess>(WardenOptions{{"--config", config_}, "", env()});
    ASSERT_TRUE(warden_->started()) << warden_->error();
    client_ = std::make_unique<HttpClient>(warden_->port());
  }
  void TearDown() override {
    WardenTest::TearDown();
    std::error_code ignored;
    fs::remove_all(config_dir_, ignored);
  }
  virtual EnvOverrides env() const { return {}; }

  Response post(HttpClient& c, const std::string& provider, const std::string& body,
                const std::string& signature) {
    return c.request("POST", "/v1/webhooks/" + provider, body, {{"Warden-Signature", signature}});
  }
  Response deliver(const std::string& body) {
    return post(*client_, "acme", body, sign(kSecret, now_s(), body));
  }

  // Stops the daemon cleanly and opens its database.
  std::unique_ptr<Database> stop_and_open() {
    warden_->sigterm();
    EXPECT_EQ(warden_->wait_exit(kStartTimeoutMs), std::optional<int>(0));
    auto db = std::make_unique<Database>(warden_->database_path());
    EXPECT_TRUE(db->ok());
    return db;
  }

  std::string config_dir_ = make_temp_dir();
  std::string config_;
};

TEST_F(WebhookTest, TheSameWebhookDeliveredConcurrentlyMintsOneLot) {
  constexpr int kDeliveries = 100;
  const std::string agent = new_agent("payer");
  const std::string body = event_body("evt_1", agent, "confirmed");
  const std::string signature = sign(kSecret, now_s(), body);
  const auto responses = concurrently(warden_->port(), kDeliveries, [&](HttpClient& c, int) {
    return post(c, "acme", body, signature);
  });
  int first = 0;
  int duplicates = 0;
  std::string lot_id;
  for (const Response& r : responses) {
    ASSERT_EQ(r.status, 200) << r.describe();
    json::value v = r.json();
    if (field(v, "duplicate") == json::value(true)) {
      ++duplicates;
      EXPECT_EQ(field(v, "applied"), json::value(true));
    } else {
      ++first;
      EXPECT_EQ(field(v, "minted"), json::value(true)) << r.describe();
      lot_id = str_at(field(v, "lot"), "id");
    }
  }
  EXPECT_EQ(first, 1);
  EXPECT_EQ(duplicates, kDeliveries - 1);
  ASSERT_FALSE(lot_id.empty());
  auto mints = audit_all(*client_, "event_type=LEDGER_MINT");
  ASSERT_TRUE(mints.has_value());
  EXPECT_EQ(mints->size(), 1u);
  auto events = audit_all(*client_, "event_type=PAYMENT_EVENT");
  ASSERT_TRUE(events.has_value());
  EXPECT_EQ(events->size(), 1u);
  Response balance = master("GET", "/v1/ledger/balances?owner=" + agent + "&currency=USD");
  ASSERT_EQ(balance.status, 200) << balance.describe();
  EXPECT_EQ(str_at(balance.json(), "available"), "2500");
  auto listed = list_all(*client_, "/v1/ledger/lots?owner=" + agent);
  ASSERT_TRUE(listed.has_value());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(str_at((*listed)[0], "id"), lot_id);

  auto db = stop_and_open();
  const auto lots = db->rows(
      "SELECT id, amount, source, payment_id FROM credit_lots "
      "WHERE owner = '" +
      agent + "'");
  ASSERT_EQ(lots.size(), 1u);
  EXPECT_EQ(lots[0], (std::vector<std::string>{lot_id, "2500", "payment", "acme:pay_1"}));
  // Credited once: one entry, a credit of the whole amount.
  EXPECT_EQ(
      db->rows("SELECT lot_id, entry_type, amount FROM lot_entries WHERE owner = '" + agent + "'"),
      (std::vector<std::vector<std::string>>{{lot_id, "credit", "2500"}}));
  EXPECT_EQ(db->rows("SELECT count(*) FROM webhook_events")[0][0], "1");
  EXPECT_EQ(db->rows("SELECT status, lot_id FROM payments WHERE id = 'acme:pay_1'"),
            (std::vector<std::vector<std::string>>{{"confirmed", lot_id}}));
}

TEST_F(WebhookTest, EventsOutOfOrderMintOnce) {
  const std::string agent = new_agent("payer");
  Response finished = deliver(event_body("evt_3", agent, "finished"));
  ASSERT_EQ(finished.status, 200) << finished.describe();
  EXPECT_EQ(field(finished.json(), "minted"), json::value(true));
  for (const auto& [id, status] : std::vector<std::pair<std::string, std::string>>{
           {"evt_2", "confirmed"}, {"evt_1", "pending"}}) {
    Response late = deliver(event_body(id, agent, status));
    ASSERT_EQ(late.status, 200) << late.describe();
    EXPECT_EQ(field(late.json(), "applied"), json::value(false)) << id;
    EXPECT_EQ(str_at(late.json(), "outcome"), "stale") << id;
    EXPECT_EQ(str_at(field(late.json(), "payment"), "status"), "finished") << id;
  }
  Response refused = deliver(event_body("evt_4", agent, "failed"));
  EXPECT_EQ(str_at(refused.json(), "outcome"), "refused") << refused.describe();

  auto db = stop_and_open();
  EXPECT_EQ(db->rows("SELECT count(*) FROM credit_lots WHERE owner = '" + agent + "'")[0][0], "1");
  EXPECT_EQ(db->rows("SELECT event_id, processed_at IS NOT NULL FROM webhook_events "
                     "ORDER BY event_id"),
            (std::vector<std::vector<std::string>>{
                {"evt_1", "0"}, {"evt_2", "0"}, {"evt_3", "1"}, {"evt_4", "0"}}));
}

TEST_F(WebhookTest, BadSignatureStaleAndMalformedAreRefusedAuditedAndMintNothing) {
  const std::string agent = new_agent("payer");
  const std::string body = event_body("evt_1", agent, "confirmed");
  struct Case {
    std::string name;
    std::string body;
    std::string signature;
    int status;
    std::string code;
    std::string reason;  // details.reason, or details.field for the body
  };
  const std::string other = "whsec_not_the_secret_0000000000000";
  const std::vector<Case> cases = {
      {"wrong secret", body, sign(other, now_s(), body), 401, "WEBHOOK_SIGNATURE_INVALID",
       "no_match"},
      {"tampered body", event_body("evt_1", agent, "confirmed", "pay_1", "9999"),
       sign(kSecret, now_s(), body), 401, "WEBHOOK_SIGNATURE_INVALID", "no_match"},
      {"no header", body, "", 401, "WEBHOOK_SIGNATURE_INVALID", "header_missing"},
      {"malformed header", body, "v1=abc", 401, "WEBHOOK_SIGNATURE_INVALID", "header_malformed"},
      {"stale", body, sign(kSecret, now_s() - 301, body), 401, "WEBHOOK_TIMESTAMP_STALE",
       "too_old"},
      {"future", body, sign(kSecret, now_s() + 400, body), 401, "WEBHOOK_TIMESTAMP_STALE",
       "in_future"},
  };
  std::vector<Case> all = cases;
  // Correctly signed bodies that are not payment events: the field is named.
  const std::vector<std::pair<std::string, std::string>> bodies = {
      {R"({"id":"e","type":"payment.updated","created":1,"data":{"payment_id":"p","owner":"o",)"
       R"("amount":"1","currency":"USD","status":"confirmed","colour":"red"}})",
       "data.colour"},
      {event_body("evt_9", agent, "confirmed", "pay_1", "-5"), "data.amount"},
      {event_body("evt_9", agent, "confirmed", "pay_1", "1.5"), "data.amount"},
      {event_body("evt_9", agent, "confirmed", "pay_1", "0"), "data.amount"},
      {event_body("evt_9", agent, "settled"), "data.status"},
      {R"({"id":"e","type":"payment.created","created":1,"data":{}})", "type"},
      {R"({"id":"e","type":"payment.updated","created":1})", "data"},
      {R"({"id":7,"type":"payment.updated","created":1,"data":{}})", "id"},
      {"not json", ""},
  };
  for (const auto& [text, field_name] : bodies) {
    all.push_back({"body " + field_name, text, sign(kSecret, now_s(), text), 400,
                   "WEBHOOK_PAYLOAD_INVALID", field_name});
  }
  for (const Case& c : all) {
    Response r = c.signature.empty() ? client_->request("POST", "/v1/webhooks/acme", c.body)
                                     : post(*client_, "acme", c.body, c.signature);
    EXPECT_EQ(r.status, c.status) << c.name << ": " << r.describe();
    EXPECT_EQ(r.error_code(), c.code) << c.name;
    const json::value details = error_field(r, "details");
    const std::string detail =
        c.status == 400 ? str_at(details, "field") : str_at(details, "reason");
    EXPECT_EQ(detail, c.reason) << c.name << ": " << r.describe();
  }
  auto rejected = audit_all(*client_, "event_type=WEBHOOK_REJECTED");
  ASSERT_TRUE(rejected.has_value());
  ASSERT_EQ(rejected->size(), all.size());
  for (std::size_t i = 0; i < all.size(); ++i) {
    const json::value& row = (*rejected)[i];
    EXPECT_EQ(str_at(row, "severity"), "warning");
    EXPECT_EQ(str_at(field(row, "details"), "provider"), "acme");
    EXPECT_EQ(str_at(field(row, "details"), "code"), all[i].code) << all[i].name;
    EXPECT_EQ(json::serialize(row).find(kSecret), std::string::npos);
  }
  EXPECT_TRUE(audit_all(*client_, "event_type=PAYMENT_EVENT")->empty());

  auto db = stop_and_open();
  EXPECT_EQ(db->rows("SELECT count(*) FROM credit_lots")[0][0], "0");
  EXPECT_EQ(db->rows("SELECT count(*) FROM webhook_events")[0][0], "0");
  EXPECT_EQ(db->rows("SELECT count(*) FROM payments")[0][0], "0");
}

TEST_F(WebhookTest, UnknownProvidersAndRepeatedSignatureHeaders) {
  const std::string body = event_body("evt_1", "someone", "confirmed");
  for (const std::string& provider :
       std::vector<std::string>{"other", "ACME", std::string(33, 'a')}) {
    Response r = post(*client_, provider, body, sign(kSecret, now_s(), body));
    EXPECT_EQ(r.status, 404) << provider << ": " << r.describe();
    EXPECT_EQ(r.error_code(), "WEBHOOK_PROVIDER_UNKNOWN") << provider;
  }
  // Written by hand: the client sends one header of a name.
  HttpClient raw(warden_->port());
  const std::string good = "Warden-Signature: " + sign(kSecret, now_s(), body);
  ASSERT_TRUE(raw.send_raw("POST /v1/webhooks/acme HTTP/1.1\r\nHost: 127.0.0.1\r\n" + good +
                           "\r\nWarden-Signature: t=1,v1=00\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n" + body));
  Response twice = raw.read_response();
  EXPECT_EQ(twice.status, 400) << twice.describe();
  EXPECT_EQ(twice.error_code(), "REQUEST_DUPLICATE_HEADER");
  // GET is not a route of its own.
  EXPECT_EQ(client_->request("GET", "/v1/webhooks/acme").status, 405);
}

// An unknown owner is stored as evidence only and answered 400; the redelivery is a duplicate
// that was not applied.
TEST_F(WebhookTest, AnUnknownOwnerIsRefusedAndTheEventKept) {
  const std::string body = event_body("evt_1", "no-such-agent", "confirmed");
  Response r = deliver(body);
  EXPECT_EQ(r.status, 400) << r.describe();
  EXPECT_EQ(r.error_code(), "LEDGER_OWNER_UNKNOWN");
  Response again = deliver(body);
  EXPECT_EQ(again.status, 200) << again.describe();
  EXPECT_EQ(field(again.json(), "duplicate"), json::value(true));
  EXPECT_EQ(field(again.json(), "applied"), json::value(false));
  auto db = stop_and_open();
  EXPECT_EQ(db->rows("SELECT count(*) FROM credit_lots")[0][0], "0");
  EXPECT_EQ(db->rows("SELECT processed_at FROM webhook_events"),
            (std::vector<std::vector<std::string>>{{"NULL"}}));
}

// WARDEN_WEBHOOK_SECRET_<PROVIDER> wins over the file and adds providers of its own.
class WebhookEnvTest : public WebhookTest {
 protected:
  EnvOverrides env() const override {
    return {{"WARDEN_WEBHOOK_SECRET_ACME", std::string(kEnvSecret)},
            {"WARDEN_WEBHOOK_SECRET_PAY_PAL", std::string(kEnvSecret)}};
  }
};

TEST_F(WebhookEnvTest, TheEnvironmentWinsOverTheFile) {
  const std::string agent = new_agent("payer");
  const std::string body = event_body("evt_1", agent, "pending");
  EXPECT_EQ(post(*client_, "acme", body, sign(kSecret, now_s(), body)).status, 401);
  EXPECT_EQ(post(*client_, "acme", body, sign(kEnvSecret, now_s(), body)).status, 200);
  EXPECT_EQ(post(*client_, "pay_pal", body, sign(kEnvSecret, now_s(), body)).status, 200);
}

TEST(WebhookSettings, BadSecretsAreUsageErrors) {
  const std::string dir = make_temp_dir();
  ASSERT_FALSE(dir.empty());
  const std::string config = dir + "/warden.toml";
  const std::vector<std::pair<std::string, std::string>> files = {
      {"webhook_secrets = \"x\"", "key 'webhook_secrets' must be a table"},
      {"[webhook_secrets]\nacme = \"short\"",
       "key 'webhook_secrets.acme': the secret must be 16 to 1024 bytes"},
      {"[webhook_secrets]\nacme = 5", "key 'webhook_secrets.acme' must be a string"},
      {"[webhook_secrets]\nAcme = \"0123456789abcdef\"",
       "key 'webhook_secrets.Acme': the provider name must be"},
  };
  for (const auto& [text, message] : files) {
    std::ofstream(config, std::ios::trunc) << text << "\n";
    CliResult r = run_cli(
        {"serve", "--data-dir", dir, "--listen", "127.0.0.1:0", "--config", config}, {}, 10000);
    EXPECT_EQ(r.exit_code, 2) << text << ": " << r.output();
    EXPECT_NE(r.output().find(message), std::string::npos) << text << ": " << r.output();
    EXPECT_EQ(r.output().find("short"), std::string::npos) << "the secret is never printed";
  }
  for (const auto& [name, message] : std::vector<std::pair<std::string, std::string>>{
           {"WARDEN_WEBHOOK_SECRET_acme", "WARDEN_WEBHOOK_SECRET_acme: the provider name"},
           {"WARDEN_WEBHOOK_SECRET_", "WARDEN_WEBHOOK_SECRET_: the provider name"},
           {"WARDEN_WEBHOOK_SECRET_ACME", "WARDEN_WEBHOOK_SECRET_ACME: the secret must be"}}) {
    CliResult r =
        run_cli({"serve", "--data-dir", dir, "--listen", "127.0.0.1:0"},
                {{name, std::string(name.back() == 'E' ? "tiny" : "0123456789abcdef")}}, 10000);
    EXPECT_EQ(r.exit_code, 2) << name << ": " << r.output();
    EXPECT_NE(r.output().find(message), std::string::npos) << name << ": " << r.output();
    EXPECT_EQ(r.output().find("tiny"), std::string::npos) << r.output();
  }
  std::error_code ignored;
  fs::remove_all(dir, ignored);
}

}  // namespace
}  // namespace warden::testing
