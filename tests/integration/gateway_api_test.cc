// The gateway's admin API against a real daemon: model deployments created, listed, read,
// updated and deleted; every bad input refused with its stable code and nothing written; API
// keys shown once, stored only as their SHA-256, listed without secrets, revoked idempotently
// and never reachable through another agent; agents' org; master auth on every route; the audit
// rows each write leaves, none holding a secret.
#include <openssl/sha.h>
#include <sqlite3.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "support/fixture.h"

namespace warden::testing {
namespace {

namespace json = boost::json;

constexpr const char* kUnknownId = "01900000-0000-7000-8000-000000000000";

json::object model_body(const std::string& name = "gpt-4o-mini") {
  return {{"name", name},
          {"provider", "openai"},
          {"base_url", "https://api.openai.com/v1"},
          {"upstream_model", "gpt-4o-mini-2024-07-18"},
          {"input_price_micros_per_1k", "150"},
          {"output_price_micros_per_1k", "600"},
          {"currency", "USD"},
          {"key_ref", "env:OPENAI_API_KEY"}};
}

std::string sha256_hex(const std::string& text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : digest) {
    out += kHex[b >> 4];
    out += kHex[b & 0xf];
  }
  return out;
}

std::string file_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class GatewayApiTest : public WardenTest {
 protected:
  // The auth test sends a wrong password to every route: not a reason to be throttled.
  std::vector<std::string> serve_flags() const override { return {"--auth-failures-max", "1000"}; }

  Response create_model(const json::object& body) {
    return master("POST", "/v1/models", json::serialize(body));
  }

  std::string new_model(const std::string& name) {
    Response r = create_model(model_body(name));
    EXPECT_EQ(r.status, 201) << r.describe();
    return str_at(r.json(), "id");
  }

  std::size_t model_count() {
    auto items = list_all(*client_, "/v1/models");
    EXPECT_TRUE(items.has_value());
    return items ? items->size() : 0;
  }

  std::vector<json::value> audit_of(const std::string& event_type) {
    auto rows = audit_all(*client_, "event_type=" + event_type);
    EXPECT_TRUE(rows.has_value());
    return rows ? *rows : std::vector<json::value>{};
  }

  void expect_error(const Response& r, int status, const std::string& code,
                    const std::string& field = "") {
    EXPECT_EQ(r.status, status) << r.describe();
    EXPECT_EQ(r.error_code(), code) << r.body;
    if (!field.empty()) {
      EXPECT_EQ(str_at(error_field(r, "details"), "field"), field) << r.body;
    }
  }

  // Every file of the data directory (database, its log) as bytes: a secret must be in none.
  std::string data_dir_bytes() {
    std::string all;
    for (const auto& e : std::filesystem::directory_iterator(warden_->data_dir())) {
      if (e.is_regular_file()) all += file_bytes(e.path());
    }
    return all;
  }

  // One column of the key's row, read straight from the database file.
  std::string stored_key_hash(const std::string& key_id) {
    sqlite3* db = nullptr;
    const std::string path = warden_->data_dir() + "/warden.db";
    EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "SELECT key_hash FROM api_keys WHERE id = ?", -1, &st, nullptr);
    sqlite3_bind_text(st, 1, key_id.c_str(), -1, SQLITE_TRANSIENT);
    std::string out;
    if (sqlite3_step(st) == SQLITE_ROW) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
  }
};

TEST_F(GatewayApiTest, ModelCreateListGetUpdateDelete) {
  json::object body = model_body("gpt-4o-mini");
  body["base_url"] = "https://API.OpenAI.com:8443/v1/";
  body["key_ref"] = "file:/run/secrets/openai";
  Response created = create_model(body);
  ASSERT_EQ(created.status, 201) << created.describe();
  json::value m = created.json();
  const std::string id = str_at(m, "id");
  EXPECT_EQ(id.size(), 36u);
  EXPECT_EQ(str_at(m, "name"), "gpt-4o-mini");
  EXPECT_EQ(str_at(m, "provider"), "openai");
  EXPECT_EQ(str_at(m, "base_url"), "https://api.openai.com:8443/v1");  // host lower, no '/'
  EXPECT_EQ(str_at(m, "upstream_model"), "gpt-4o-mini-2024-07-18");
  EXPECT_EQ(str_at(m, "input_price_micros_per_1k"), "150");
  EXPECT_EQ(str_at(m, "output_price_micros_per_1k"), "600");
  EXPECT_EQ(str_at(m, "currency"), "USD");
  EXPECT_EQ(str_at(m, "key_ref"), "file:/run/secrets/openai");
  EXPECT_EQ(field(m, "enabled"), json::value(true));

  Response got = master("GET", "/v1/models/" + id);
  ASSERT_EQ(got.status, 200) << got.describe();
  EXPECT_EQ(got.json(), m);

  const std::string second = new_model("claude-sonnet");
  auto all = list_all(*client_, "/v1/models", 1);
  ASSERT_TRUE(all.has_value());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ(str_at((*all)[0], "id"), id);
  EXPECT_EQ(str_at((*all)[1], "id"), second);

  Response updated =
      master("PUT", "/v1/models/" + id,
             R"({"provider":"azure_openai","output_price_micros_per_1k":"0","enabled":false,)"
             R"("currency":"EUR","key_ref":"env:AZURE_KEY_2"})");
  ASSERT_EQ(updated.status, 200) << updated.describe();
  json::value u = updated.json();
  EXPECT_EQ(str_at(u, "provider"), "azure_openai");
  EXPECT_EQ(str_at(u, "output_price_micros_per_1k"), "0");
  EXPECT_EQ(str_at(u, "currency"), "EUR");
  EXPECT_EQ(str_at(u, "key_ref"), "env:AZURE_KEY_2");
  EXPECT_EQ(field(u, "enabled"), json::value(false));
  EXPECT_EQ(str_at(u, "name"), "gpt-4o-mini");               // untouched
  EXPECT_EQ(str_at(u, "input_price_micros_per_1k"), "150");  // untouched
  EXPECT_EQ(master("GET", "/v1/models/" + id).json(), u);

  Response deleted = master("DELETE", "/v1/models/" + id);
  EXPECT_EQ(deleted.status, 204) << deleted.describe();
  expect_error(master("GET", "/v1/models/" + id), 404, "MODEL_NOT_FOUND");
  expect_error(master("DELETE", "/v1/models/" + id), 404, "MODEL_NOT_FOUND");
  expect_error(master("PUT", "/v1/models/" + id, R"({"enabled":true})"), 404, "MODEL_NOT_FOUND");
  EXPECT_EQ(model_count(), 1u);
  // The name is free again.
  EXPECT_EQ(create_model(model_body("gpt-4o-mini")).status, 201);

  auto created_rows = audit_of("MODEL_CREATED");
  ASSERT_EQ(created_rows.size(), 3u);
  json::value details = field(created_rows[0], "details");
  EXPECT_EQ(str_at(details, "model_id"), id);
  EXPECT_EQ(str_at(details, "key_ref"), "file:/run/secrets/openai");
  EXPECT_EQ(str_at(created_rows[0], "actor"), "master");
  auto updated_rows = audit_of("MODEL_UPDATED");
  ASSERT_EQ(updated_rows.size(), 1u);
  json::value changes = field(field(updated_rows[0], "details"), "changes");
  EXPECT_EQ(changes.as_object().size(), 5u) << changes;    // provider, price, enabled, currency
  EXPECT_EQ(str_at(changes, "provider"), "azure_openai");  // and key_ref; not the unchanged
  EXPECT_EQ(at(changes, "name"), nullptr);
  auto deleted_rows = audit_of("MODEL_DELETED");
  ASSERT_EQ(deleted_rows.size(), 1u);
  EXPECT_EQ(str_at(field(deleted_rows[0], "details"), "name"), "gpt-4o-mini");
}

TEST_F(GatewayApiTest, EveryBadModelInputIsRefusedWithItsCodeAndNothingWritten) {
  const std::size_t audit_before = audit_count();
  struct Case {
    std::string key;
    std::string value;  // JSON text; empty: remove the key
    int status;
    std::string code;
  };
  const std::vector<Case> cases = {
      {"color", R"json("blue")json", 400, "VALIDATION_UNKNOWN_FIELD"},
      {"api_key", R"json("sk-live-123")json", 400, "VALIDATION_UNKNOWN_FIELD"},
      {"name", "", 400, "VALIDATION_MISSING_FIELD"},
      {"provider", "", 400, "VALIDATION_MISSING_FIELD"},
      {"base_url", "", 400, "VALIDATION_MISSING_FIELD"},
      {"upstream_model", "", 400, "VALIDATION_MISSING_FIELD"},
      {"input_price_micros_per_1k", "", 400, "VALIDATION_MISSING_FIELD"},
      {"output_price_micros_per_1k", "", 400, "VALIDATION_MISSING_FIELD"},
      {"key_ref", "", 400, "VALIDATION_MISSING_FIELD"},
      {"name", "7", 400, "VALIDATION_WRONG_TYPE"},
      {"input_price_micros_per_1k", "150", 400, "VALIDATION_WRONG_TYPE"},
      {"enabled", R"json("yes")json", 400, "VALIDATION_WRONG_TYPE"},
      {"name", R"json("")json", 400, "VALIDATION_INVALID_VALUE"},
      {"name", R"json("gpt 4o")json", 400, "VALIDATION_INVALID_VALUE"},
      {"name", R"json("gpt-*")json", 400, "VALIDATION_INVALID_VALUE"},
      {"name", "\"" + std::string(257, 'm') + "\"", 400, "VALIDATION_INVALID_VALUE"},
      {"provider", R"json("OpenAI")json", 400, "VALIDATION_INVALID_VALUE"},
      {"provider", R"json("mistral")json", 400, "VALIDATION_INVALID_VALUE"},
      {"base_url", R"json("ftp://api.openai.com")json", 400, "VALIDATION_INVALID_VALUE"},
      {"base_url", R"json("HTTPS://api.openai.com")json", 400, "VALIDATION_INVALID_VALUE"},
      {"base_url", R"json("https://")json", 400, "VALIDATION_INVALID_VALUE"},
      {"base_url", R"json("api.openai.com/v1")json", 400, "VALIDATION_INVALID_VALUE"},
      {"base_url", R"json("https://user:pw@api.openai.com")json", 400, "VALIDATION_INVALID_VALUE"},
      {"base_url", R"json("https://api.openai.com:0")json", 400, "VALIDATION_INVALID_VALUE"},
      {"base_url", R"json("https://api.openai.com:65536")json", 400, "VALIDATION_INVALID_VALUE"},
      {"base_url", R"json("https://api.openai.com:")json", 400, "VALIDATION_INVALID_VALUE"},
      {"base_url", R"json("https://api.openai.com/v1?x=1")json", 400, "VALIDATION_INVALID_VALUE"},
      {"base_url", R"json("https://api.openai.com/v1#f")json", 400, "VALIDATION_INVALID_VALUE"},
      {"base_url", R"json("https://api.open ai.com")json", 400, "VALIDATION_INVALID_VALUE"},
      {"upstream_model", R"json("")json", 400, "VALIDATION_INVALID_VALUE"},
      {"key_ref", R"json("sk-live-abcdef")json", 400, "VALIDATION_INVALID_VALUE"},
      {"key_ref", R"json("env:")json", 400, "VALIDATION_INVALID_VALUE"},
      {"key_ref", R"json("env:openai_key")json", 400, "VALIDATION_INVALID_VALUE"},
      {"key_ref", R"json("env:1KEY")json", 400, "VALIDATION_INVALID_VALUE"},
      {"key_ref", R"json("env:KEY-1")json", 400, "VALIDATION_INVALID_VALUE"},
      {"key_ref", R"json("file:relative/path")json", 400, "VALIDATION_INVALID_VALUE"},
      {"key_ref", R"json("file:/")json", 400, "VALIDATION_INVALID_VALUE"},
      {"key_ref", R"json("file:/etc/a\nb")json", 400, "VALIDATION_INVALID_VALUE"},
      {"input_price_micros_per_1k", R"json("1.5")json", 400, "VALIDATION_INVALID_AMOUNT"},
      {"input_price_micros_per_1k", R"json("-1")json", 400, "VALIDATION_INVALID_AMOUNT"},
      {"output_price_micros_per_1k", R"json("007")json", 400, "VALIDATION_INVALID_AMOUNT"},
      {"output_price_micros_per_1k", R"json("")json", 400, "VALIDATION_INVALID_AMOUNT"},
      {"currency", R"json("dollars!")json", 400, "VALIDATION_INVALID_ASSET"},
  };
  for (const Case& c : cases) {
    json::object body = model_body("m-bad");
    if (c.value.empty()) {
      body.erase(c.key);
    } else {
      body[c.key] = json::parse(c.value);
    }
    expect_error(create_model(body), c.status, c.code, c.key);
  }
  expect_error(master("POST", "/v1/models", "[]"), 400, "VALIDATION_WRONG_TYPE");
  expect_error(master("POST", "/v1/models", R"({"name":"a","name":"b"})"), 400,
               "VALIDATION_DUPLICATE_KEY");
  EXPECT_EQ(model_count(), 0u);
  EXPECT_EQ(audit_count(), audit_before);

  // The same checks on update, and null is not "leave as is"; the stored row is unchanged.
  const std::string id = new_model("ok-model");
  const json::value stored = master("GET", "/v1/models/" + id).json();
  const std::size_t audit_after_create = audit_count();
  expect_error(master("PUT", "/v1/models/" + id, R"({"provider":"mistral"})"), 400,
               "VALIDATION_INVALID_VALUE", "provider");
  expect_error(master("PUT", "/v1/models/" + id, R"({"key_ref":"sk-1"})"), 400,
               "VALIDATION_INVALID_VALUE", "key_ref");
  expect_error(master("PUT", "/v1/models/" + id, R"({"name":null})"), 400, "VALIDATION_WRONG_TYPE",
               "name");
  expect_error(master("PUT", "/v1/models/" + id, R"({"id":"x"})"), 400, "VALIDATION_UNKNOWN_FIELD",
               "id");
  EXPECT_EQ(master("GET", "/v1/models/" + id).json(), stored);
  EXPECT_EQ(audit_count(), audit_after_create);
}

TEST_F(GatewayApiTest, DuplicateNamesAreConflictsOnCreateAndRename) {
  new_model("gpt-4o");
  const std::string other = new_model("gpt-4.1");
  const std::size_t audit_before = audit_count();
  Response dup = create_model(model_body("gpt-4o"));
  expect_error(dup, 409, "MODEL_NAME_EXISTS", "name");
  EXPECT_EQ(str_at(error_field(dup, "details"), "name"), "gpt-4o");
  // Names are exact: another case is another model (as MODEL_ALLOWLIST compares them).
  EXPECT_EQ(create_model(model_body("GPT-4o")).status, 201);
  expect_error(master("PUT", "/v1/models/" + other, R"({"name":"gpt-4o"})"), 409,
               "MODEL_NAME_EXISTS", "name");
  EXPECT_EQ(str_at(master("GET", "/v1/models/" + other).json(), "name"), "gpt-4.1");
  EXPECT_EQ(model_count(), 3u);
  EXPECT_EQ(audit_count(), audit_before + 1);  // only GPT-4o's creation
}

TEST_F(GatewayApiTest, ApiKeyIsShownOnceStoredHashedAndListedWithoutSecret) {
  const std::string agent = new_agent("app-1");
  Response created =
      master("POST", "/v1/agents/" + agent + "/api-keys", R"({"name":"ci pipeline"})");
  ASSERT_EQ(created.status, 201) << created.describe();
  json::value k = created.json();
  const std::string secret = str_at(k, "key");
  const std::string key_id = str_at(k, "id");
  ASSERT_EQ(secret.size(), 3u + 43u) << secret;
  EXPECT_EQ(secret.substr(0, 3), "wk_");
  EXPECT_EQ(secret.find_first_not_of(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", 3),
            std::string::npos);
  EXPECT_EQ(str_at(k, "prefix"), secret.substr(0, 11));
  EXPECT_EQ(str_at(k, "agent_id"), agent);
  EXPECT_EQ(str_at(k, "name"), "ci pipeline");
  EXPECT_TRUE(field(k, "revoked_at").is_null());
  EXPECT_TRUE(field(k, "last_used_at").is_null());

  // A second key is another secret; an empty body is fine.
  Response second = master("POST", "/v1/agents/" + agent + "/api-keys");
  ASSERT_EQ(second.status, 201) << second.describe();
  EXPECT_NE(str_at(second.json(), "key"), secret);
  EXPECT_TRUE(field(second.json(), "name").is_null());

  Response listed = master("GET", "/v1/agents/" + agent + "/api-keys");
  ASSERT_EQ(listed.status, 200) << listed.describe();
  EXPECT_EQ(listed.body.find(secret), std::string::npos);
  EXPECT_EQ(listed.body.find(secret.substr(11)), std::string::npos);
  const json::value listed_json = listed.json();
  const json::array& items = listed_json.at("items").as_array();
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(str_at(items[0], "id"), key_id);
  EXPECT_EQ(str_at(items[0], "prefix"), secret.substr(0, 11));
  EXPECT_EQ(at(items[0], "key"), nullptr);
  EXPECT_EQ(at(items[0], "key_hash"), nullptr);

  // Only the SHA-256 is stored; the secret is in no file of the data directory nor in the
  // audit log.
  EXPECT_EQ(stored_key_hash(key_id), sha256_hex(secret));
  EXPECT_EQ(data_dir_bytes().find(secret.substr(11)), std::string::npos);
  auto audit = audit_all(*client_);
  ASSERT_TRUE(audit.has_value());
  for (const auto& row : *audit) {
    EXPECT_EQ(json::serialize(row).find(secret.substr(11)), std::string::npos);
  }
  auto created_rows = audit_of("API_KEY_CREATED");
  ASSERT_EQ(created_rows.size(), 2u);
  EXPECT_EQ(str_at(created_rows[0], "agent_id"), agent);
  EXPECT_EQ(str_at(field(created_rows[0], "details"), "api_key_id"), key_id);
  EXPECT_EQ(str_at(field(created_rows[0], "details"), "prefix"), secret.substr(0, 11));
}

TEST_F(GatewayApiTest, RevocationIsIdempotentAndAnotherAgentsKeyIsNotFound) {
  const std::string a = new_agent("app-a");
  const std::string b = new_agent("app-b");
  Response ka = master("POST", "/v1/agents/" + a + "/api-keys", "{}");
  Response kb = master("POST", "/v1/agents/" + b + "/api-keys", "{}");
  ASSERT_EQ(ka.status, 201);
  ASSERT_EQ(kb.status, 201);
  const std::string key_a = str_at(ka.json(), "id");
  const std::string key_b = str_at(kb.json(), "id");

  // b's key through a's path looks exactly like a missing key, and stays unrevoked.
  expect_error(master("DELETE", "/v1/agents/" + a + "/api-keys/" + key_b), 404, "API_KEY_NOT_FOUND");
  expect_error(master("DELETE", "/v1/agents/" + a + "/api-keys/" + std::string(kUnknownId)), 404,
               "API_KEY_NOT_FOUND");
  expect_error(master("DELETE", "/v1/agents/" + std::string(kUnknownId) + "/api-keys/" + key_a),
               404, "AGENT_NOT_FOUND");
  auto b_keys = master("GET", "/v1/agents/" + b + "/api-keys").json().at("items").as_array();
  ASSERT_EQ(b_keys.size(), 1u);
  EXPECT_TRUE(field(b_keys[0], "revoked_at").is_null());
  auto a_keys = master("GET", "/v1/agents/" + a + "/api-keys").json().at("items").as_array();
  ASSERT_EQ(a_keys.size(), 1u);  // only its own
  EXPECT_EQ(str_at(a_keys[0], "id"), key_a);

  EXPECT_EQ(master("DELETE", "/v1/agents/" + a + "/api-keys/" + key_a).status, 204);
  auto revoked = master("GET", "/v1/agents/" + a + "/api-keys").json().at("items").as_array();
  const std::string revoked_at = str_at(revoked[0], "revoked_at");
  EXPECT_FALSE(revoked_at.empty());
  EXPECT_EQ(master("DELETE", "/v1/agents/" + a + "/api-keys/" + key_a).status, 204);
  auto again = master("GET", "/v1/agents/" + a + "/api-keys").json().at("items").as_array();
  EXPECT_EQ(str_at(again[0], "revoked_at"), revoked_at);
  EXPECT_EQ(audit_of("API_KEY_REVOKED").size(), 1u);

  // Terminating an agent revokes its keys; it gets no new one.
  EXPECT_EQ(master("DELETE", "/v1/agents/" + b).status, 204);
  auto b_after = master("GET", "/v1/agents/" + b + "/api-keys").json().at("items").as_array();
  EXPECT_FALSE(field(b_after[0], "revoked_at").is_null());
  expect_error(master("POST", "/v1/agents/" + b + "/api-keys", "{}"), 403, "AGENT_NOT_ACTIVE");
  expect_error(master("POST", "/v1/agents/" + std::string(kUnknownId) + "/api-keys", "{}"), 404,
               "AGENT_NOT_FOUND");
  expect_error(master("GET", "/v1/agents/" + std::string(kUnknownId) + "/api-keys"), 404,
               "AGENT_NOT_FOUND");
  expect_error(master("POST", "/v1/agents/" + a + "/api-keys", R"({"name":""})"), 400,
               "VALIDATION_INVALID_VALUE", "name");
  expect_error(master("POST", "/v1/agents/" + a + "/api-keys", R"({"name":"   "})"), 400,
               "VALIDATION_INVALID_VALUE", "name");
  expect_error(master("POST", "/v1/agents/" + a + "/api-keys", R"({"scope":"all"})"), 400,
               "VALIDATION_UNKNOWN_FIELD", "scope");
  expect_error(master("POST", "/v1/agents/" + a + "/api-keys", R"({"name":5})"), 400,
               "VALIDATION_WRONG_TYPE", "name");
}

TEST_F(GatewayApiTest, AgentOrgIsSetReturnedChangedAndCleared) {
  // The org names an organization (docs/http-api.md); tests/integration/orgs_test.cc covers
  // the refusal of names that are not an org's id.
  Response acme_org = master("POST", "/v1/orgs", R"({"name":"Acme Corp"})");
  ASSERT_EQ(acme_org.status, 201) << acme_org.describe();
  const std::string acme = str_at(acme_org.json(), "id");
  const std::string globex =
      str_at(master("POST", "/v1/orgs", R"({"name":"Globex"})").json(), "id");
  Response r = master("POST", "/v1/agents", json::serialize(json::object{{"name", "app"},
                                                                          {"org", acme}}));
  ASSERT_EQ(r.status, 201) << r.describe();
  const std::string id = str_at(r.json(), "id");
  EXPECT_EQ(str_at(r.json(), "org"), acme);
  EXPECT_EQ(str_at(master("GET", "/v1/agents/" + id).json(), "org"), acme);
  EXPECT_TRUE(field(create_agent(*client_, "no-org").json(), "org").is_null());

  Response renamed = master("PUT", "/v1/agents/" + id, R"({"name":"app2"})");
  EXPECT_EQ(str_at(renamed.json(), "org"), acme);  // absent: unchanged
  Response moved =
      master("PUT", "/v1/agents/" + id, json::serialize(json::object{{"org", globex}}));
  ASSERT_EQ(moved.status, 200) << moved.describe();
  EXPECT_EQ(str_at(master("GET", "/v1/agents/" + id).json(), "org"), globex);
  auto updates = audit_all(*client_, "event_type=AGENT_UPDATED");
  ASSERT_TRUE(updates && updates->size() == 2u);
  EXPECT_EQ(str_at(field(field((*updates)[1], "details"), "changes"), "org"), globex);
  Response cleared = master("PUT", "/v1/agents/" + id, R"({"org":null})");
  ASSERT_EQ(cleared.status, 200) << cleared.describe();
  EXPECT_TRUE(field(master("GET", "/v1/agents/" + id).json(), "org").is_null());

  for (const std::string& bad :
       std::vector<std::string>{R"("")", R"("  ")", "\"" + std::string(129, 'o') + "\"",
                                R"("tab\there")", R"("caf\u00e9")"}) {
    expect_error(master("POST", "/v1/agents", R"({"name":"x","org":)" + bad + "}"), 400,
                 "VALIDATION_INVALID_VALUE", "org");
    expect_error(master("PUT", "/v1/agents/" + id, R"({"org":)" + bad + "}"), 400,
                 "VALIDATION_INVALID_VALUE", "org");
  }
  expect_error(master("POST", "/v1/agents", R"({"name":"x","org":7})"), 400,
               "VALIDATION_WRONG_TYPE", "org");
  EXPECT_TRUE(field(master("GET", "/v1/agents/" + id).json(), "org").is_null());
}

TEST_F(GatewayApiTest, EveryRouteNeedsTheMasterPassword) {
  const std::string agent = new_agent("app");
  const std::string model = new_model("m1");
  const std::string session_token = str_at(new_session(agent), "token");
  const std::vector<std::pair<std::string, std::string>> routes = {
      {"POST", "/v1/models"},
      {"GET", "/v1/models"},
      {"GET", "/v1/models/" + model},
      {"PUT", "/v1/models/" + model},
      {"DELETE", "/v1/models/" + model},
      {"POST", "/v1/agents/" + agent + "/api-keys"},
      {"GET", "/v1/agents/" + agent + "/api-keys"},
      {"DELETE", "/v1/agents/" + agent + "/api-keys/" + std::string(kUnknownId)},
  };
  const std::string body = json::serialize(model_body("m2"));
  for (const auto& [method, path] : routes) {
    Response none = client_->request(method, path, method == "GET" ? "" : body, {});
    EXPECT_EQ(none.status, 401) << method << " " << path << ": " << none.describe();
    EXPECT_EQ(none.error_code(), "AUTH_MASTER_REQUIRED") << method << " " << path;
    Response wrong = client_->request(method, path, method == "GET" ? "" : body,
                                      {{"X-Master-Password", "not-the-password"}});
    EXPECT_EQ(wrong.status, 401) << method << " " << path << ": " << wrong.describe();
    EXPECT_EQ(wrong.error_code(), "AUTH_MASTER_INVALID") << method << " " << path;
    // An agent's own session is not enough either.
    Response agent_session =
        client_->request(method, path, method == "GET" ? "" : body, bearer_headers(session_token));
    EXPECT_EQ(agent_session.status, 401)
        << method << " " << path << ": " << agent_session.describe();
  }
  EXPECT_EQ(model_count(), 1u);
  EXPECT_EQ(str_at(master("GET", "/v1/models/" + model).json(), "name"), "m1");
  EXPECT_EQ(master("GET", "/v1/agents/" + agent + "/api-keys").json().at("items").as_array().size(),
            0u);
}

}  // namespace
}  // namespace warden::testing
