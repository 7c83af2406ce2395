// Organizations against a real daemon: create, list, read, soft delete and their errors; admin
// keys shown once and stored only as their SHA-256; an org admin confined to its own org's
// agents and sessions, refused (403) on every route not open to org admins, and refused (401)
// once its key is revoked; an agent's org must name an existing org.
#include <openssl/sha.h>
#include <sqlite3.h>

#include <boost/json.hpp>
#include <set>

#include "support/fixture.h"

namespace warden::testing {
namespace {

namespace json = boost::json;

constexpr const char* kUnknownId = "01900000-0000-7000-8000-000000000000";

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

bool base64url(const std::string& s) {
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  }
  return true;
}

class OrgsTest : public WardenTest {
 protected:
  std::string new_org(const std::string& name) {
    Response r = master("POST", "/v1/orgs", json::serialize(json::object{{"name", name}}));
    EXPECT_EQ(r.status, 201) << r.describe();
    return str_at(r.json(), "id");
  }
  // Issues an admin key of `org_id`; returns {key id, secret}.
  std::pair<std::string, std::string> new_admin_key(const std::string& org_id) {
    Response r = master("POST", "/v1/orgs/" + org_id + "/admin-keys", R"({"name":"ops"})");
    EXPECT_EQ(r.status, 201) << r.describe();
    return {str_at(r.json(), "id"), str_at(r.json(), "key")};
  }
  std::string new_agent_in(const std::string& name, const std::string& org_id) {
    Response r = master("POST", "/v1/agents",
                        json::serialize(json::object{{"name", name}, {"org", org_id}}));
    EXPECT_EQ(r.status, 201) << r.describe();
    return str_at(r.json(), "id");
  }
  Response as_admin(const std::string& key, const std::string& method, const std::string& target,
                    const std::string& body = {}) {
    return client_->request(method, target, body, bearer_headers(key));
  }
  std::string stored(const std::string& sql, const std::string& arg) {
    sqlite3* db = nullptr;
    const std::string path = warden_->data_dir() + "/warden.db";
    EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr);
    sqlite3_bind_text(st, 1, arg.c_str(), -1, SQLITE_TRANSIENT);
    std::string out;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != nullptr) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
  }
};

TEST_F(OrgsTest, OrgsAreCreatedListedReadAndSoftDeleted) {
  Response created = master("POST", "/v1/orgs", R"({"name":"Acme"})");
  ASSERT_EQ(created.status, 201) << created.describe();
  const std::string acme = str_at(created.json(), "id");
  EXPECT_EQ(acme.size(), 36u);
  EXPECT_EQ(acme[14], '7');  // UUID v7
  EXPECT_EQ(str_at(created.json(), "name"), "Acme");
  EXPECT_TRUE(field(created.json(), "deleted_at").is_null());
  const std::string globex = new_org("Globex");

  Response got = master("GET", "/v1/orgs/" + acme);
  ASSERT_EQ(got.status, 200) << got.describe();
  EXPECT_EQ(str_at(got.json(), "name"), "Acme");
  auto listed = list_all(*client_, "/v1/orgs");
  ASSERT_TRUE(listed.has_value());
  ASSERT_EQ(listed->size(), 2u);

  // Errors: a taken name, a missing or bad name, an unknown id, no master password.
  Response dup = master("POST", "/v1/orgs", R"({"name":"Acme"})");
  EXPECT_EQ(dup.status, 409) << dup.describe();
  EXPECT_EQ(dup.error_code(), "ORG_NAME_EXISTS");
  EXPECT_EQ(master("POST", "/v1/orgs", "{}").error_code(), "VALIDATION_MISSING_FIELD");
  EXPECT_EQ(master("POST", "/v1/orgs", R"({"name":""})").error_code(), "VALIDATION_INVALID_VALUE");
  EXPECT_EQ(master("POST", "/v1/orgs", R"({"name":"x","extra":1})").error_code(),
            "VALIDATION_UNKNOWN_FIELD");
  EXPECT_EQ(master("GET", "/v1/orgs/" + std::string(kUnknownId)).error_code(), "ORG_NOT_FOUND");
  EXPECT_EQ(master("DELETE", "/v1/orgs/" + std::string(kUnknownId)).status, 404);
  EXPECT_EQ(client_->request("POST", "/v1/orgs", R"({"name":"Initech"})").status, 401);

  // An org with agents is not deleted; once they leave it is, and it leaves the listing.
  const std::string agent = new_agent_in("app", acme);
  Response refused = master("DELETE", "/v1/orgs/" + acme);
  EXPECT_EQ(refused.status, 409) << refused.describe();
  EXPECT_EQ(refused.error_code(), "ORG_HAS_AGENTS");
  ASSERT_EQ(master("PUT", "/v1/agents/" + agent, R"({"org":null})").status, 200);
  EXPECT_EQ(master("DELETE", "/v1/orgs/" + acme).status, 204);
  EXPECT_EQ(master("DELETE", "/v1/orgs/" + acme).status, 204);  // idempotent
  EXPECT_EQ(master("GET", "/v1/orgs/" + acme).status, 404);
  listed = list_all(*client_, "/v1/orgs");
  ASSERT_TRUE(listed.has_value());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(str_at((*listed)[0], "id"), globex);
  EXPECT_FALSE(stored("SELECT deleted_at FROM orgs WHERE id = ?", acme).empty());
  auto audit = audit_all(*client_, "event_type=ORG_DELETED");
  ASSERT_TRUE(audit.has_value());
  EXPECT_EQ(audit->size(), 1u);
}

TEST_F(OrgsTest, AdminKeyIsShownOnceAndStoredHashed) {
  const std::string org = new_org("Acme");
  Response r = master("POST", "/v1/orgs/" + org + "/admin-keys", R"({"name":"ops"})");
  ASSERT_EQ(r.status, 201) << r.describe();
  const std::string key = str_at(r.json(), "key");
  const std::string id = str_at(r.json(), "id");
  ASSERT_EQ(key.size(), 46u);
  EXPECT_EQ(key.substr(0, 3), "wo_");
  EXPECT_TRUE(base64url(key.substr(3))) << key;
  EXPECT_EQ(str_at(r.json(), "prefix"), key.substr(0, 11));
  EXPECT_EQ(str_at(r.json(), "org_id"), org);
  EXPECT_EQ(stored("SELECT key_hash FROM org_admin_keys WHERE id = ?", id), sha256_hex(key));
  EXPECT_EQ(stored("SELECT count(*) FROM org_admin_keys WHERE key_hash = ?", key), "0");
  auto audit = audit_all(*client_, "event_type=ORG_ADMIN_KEY_CREATED");
  ASSERT_TRUE(audit.has_value());
  ASSERT_EQ(audit->size(), 1u);
  EXPECT_EQ(json::serialize((*audit)[0]).find(key), std::string::npos);

  EXPECT_EQ(master("POST", "/v1/orgs/" + std::string(kUnknownId) + "/admin-keys").status, 404);
  EXPECT_EQ(master("DELETE", "/v1/orgs/" + org + "/admin-keys/" + kUnknownId).error_code(),
            "API_KEY_NOT_FOUND");
}

TEST_F(OrgsTest, OrgAdminSeesAndManagesOnlyItsOwnOrg) {
  const std::string a = new_org("A");
  const std::string b = new_org("B");
  const std::string a1 = new_agent_in("a1", a);
  const std::string b1 = new_agent_in("b1", b);
  const std::string loose = new_agent("no-org");
  const std::string key_a = new_admin_key(a).second;

  // Lists only A's agents.
  Response list = as_admin(key_a, "GET", "/v1/agents");
  ASSERT_EQ(list.status, 200) << list.describe();
  std::set<std::string> ids;
  const json::value items = field(list.json(), "items");
  ASSERT_TRUE(items.is_array()) << list.body;
  for (const auto& item : items.as_array()) ids.insert(str_at(item, "id"));
  EXPECT_EQ(ids, std::set<std::string>{a1});

  // Reads its own agent; B's and org-less ones are missing.
  Response own = as_admin(key_a, "GET", "/v1/agents/" + a1);
  ASSERT_EQ(own.status, 200) << own.describe();
  EXPECT_EQ(str_at(own.json(), "org"), a);
  for (const std::string& other : {b1, loose}) {
    Response r = as_admin(key_a, "GET", "/v1/agents/" + other);
    EXPECT_EQ(r.status, 404) << r.describe();
    EXPECT_EQ(r.error_code(), "AGENT_NOT_FOUND");
    EXPECT_EQ(r.body.find("\"name\":\"b1\""), std::string::npos);
  }

  // Cannot update B's agent; updates its own, but not out of its org.
  Response put_b = as_admin(key_a, "PUT", "/v1/agents/" + b1, R"({"name":"stolen"})");
  EXPECT_EQ(put_b.error_code(), "AGENT_NOT_FOUND") << put_b.describe();
  EXPECT_EQ(str_at(master("GET", "/v1/agents/" + b1).json(), "name"), "b1");
  Response put_a = as_admin(key_a, "PUT", "/v1/agents/" + a1, R"({"name":"renamed"})");
  ASSERT_EQ(put_a.status, 200) << put_a.describe();
  EXPECT_EQ(str_at(put_a.json(), "name"), "renamed");
  EXPECT_EQ(as_admin(key_a, "PUT", "/v1/agents/" + a1, json::serialize(json::object{{"org", b}}))
                .error_code(),
            "VALIDATION_INVALID_VALUE");
  EXPECT_EQ(str_at(master("GET", "/v1/agents/" + a1).json(), "org"), a);

  // Creates agents in its own org only.
  Response created = as_admin(key_a, "POST", "/v1/agents", R"({"name":"a2"})");
  ASSERT_EQ(created.status, 201) << created.describe();
  EXPECT_EQ(str_at(created.json(), "org"), a);
  EXPECT_EQ(as_admin(key_a, "POST", "/v1/agents",
                     json::serialize(json::object{{"name", "x"}, {"org", b}}))
                .error_code(),
            "VALIDATION_INVALID_VALUE");
  auto created_audit = audit_all(*client_, "event_type=AGENT_CREATED");
  ASSERT_TRUE(created_audit.has_value() && !created_audit->empty());
  EXPECT_EQ(str_at(created_audit->back(), "actor").rfind("org_admin:", 0), 0u);

  // Sessions for its own agents only.
  Response session =
      as_admin(key_a, "POST", "/v1/sessions", json::serialize(json::object{{"agent_id", a1}}));
  EXPECT_EQ(session.status, 201) << session.describe();
  Response session_b =
      as_admin(key_a, "POST", "/v1/sessions", json::serialize(json::object{{"agent_id", b1}}));
  EXPECT_EQ(session_b.status, 404) << session_b.describe();
  EXPECT_EQ(session_b.error_code(), "AGENT_NOT_FOUND");

  // Its own org, not B.
  EXPECT_EQ(as_admin(key_a, "GET", "/v1/orgs/" + a).status, 200);
  EXPECT_EQ(as_admin(key_a, "GET", "/v1/orgs/" + b).status, 404);
}

// An org admin reads its own agents' transactions and balances; another org's are missing,
// answered exactly as an unknown id is.
TEST_F(OrgsTest, OrgAdminReadsItsOrgsTransactionsAndBalancesOnly) {
  const std::string a = new_org("A");
  const std::string b = new_org("B");
  const std::string a1 = new_agent_in("a1", a);
  const std::string b1 = new_agent_in("b1", b);
  const std::string key_a = new_admin_key(a).second;
  const std::string key_b = new_admin_key(b).second;
  const std::string token = str_at(new_session(a1), "token");
  ASSERT_FALSE(token.empty());
  Response decided = client_->request("POST", "/v1/decisions",
                                      R"({"action":"pay","amounts":{"USD":"5"}})",
                                      bearer_headers(token));
  ASSERT_EQ(decided.status, 201) << decided.describe();
  const std::string tx = str_at(decided.json(), "id");

  Response own = as_admin(key_a, "GET", "/v1/transactions/" + tx);
  ASSERT_EQ(own.status, 200) << own.describe();
  EXPECT_EQ(str_at(own.json(), "agent_id"), a1);
  Response other = as_admin(key_b, "GET", "/v1/transactions/" + tx);
  EXPECT_EQ(other.status, 404) << other.describe();
  EXPECT_EQ(other.error_code(), "TX_NOT_FOUND");
  EXPECT_EQ(other.body.find(a1), std::string::npos) << "nothing of the row may show";
  EXPECT_EQ(as_admin(key_b, "GET", "/v1/transactions/no-such-id").error_code(), "TX_NOT_FOUND");

  ASSERT_EQ(master("POST", "/v1/ledger/mint",
                   json::serialize(json::object{{"owner", a1},
                                                {"amount", "40"},
                                                {"currency", "USD"},
                                                {"source", "grant"},
                                                {"idempotency_key", "m-a1"}}))
                .status,
            201);
  Response balance = as_admin(key_a, "GET", "/v1/ledger/balances?owner=" + a1 + "&currency=USD");
  ASSERT_EQ(balance.status, 200) << balance.describe();
  EXPECT_EQ(str_at(balance.json(), "available"), "40");
  for (const std::string& owner : {a1, std::string("no-such-agent")}) {
    Response r = as_admin(key_b, "GET", "/v1/ledger/balances?owner=" + owner);
    EXPECT_EQ(r.status, 400) << r.describe();
    EXPECT_EQ(r.error_code(), "LEDGER_OWNER_UNKNOWN");
  }
  EXPECT_EQ(as_admin(key_a, "GET", "/v1/ledger/balances?owner=" + b1).error_code(),
            "LEDGER_OWNER_UNKNOWN");
}

// An org admin manages its org's agents' policies, sessions, approvals and cancellations, and
// reads their audit rows, usage and ledger; another org's ids are unknown to it, and global
// policies are the master's.
TEST_F(OrgsTest, OrgAdminManagesItsOrgsPoliciesSessionsAndApprovalsOnly) {
  const std::string a = new_org("A");
  const std::string b = new_org("B");
  const std::string a1 = new_agent_in("a1", a);
  const std::string b1 = new_agent_in("b1", b);
  const std::string key_a = new_admin_key(a).second;
  const std::string key_b = new_admin_key(b).second;
  auto approval_policy = [](const std::string& agent) {
    return json::serialize(json::object{
        {"agent_id", agent},
        {"type", "CUSTOM"},
        {"rules", json::object{{"pre", "true"}, {"effect", "APPROVAL"}}}});
  };

  // Policies: created for its own agent only; global ones and another org's agent are refused.
  Response created = as_admin(key_a, "POST", "/v1/policies", approval_policy(a1));
  ASSERT_EQ(created.status, 201) << created.describe();
  const std::string policy = str_at(created.json(), "id");
  EXPECT_EQ(as_admin(key_a, "POST", "/v1/policies", approval_policy(b1)).error_code(),
            "AGENT_NOT_FOUND");
  Response global = as_admin(
      key_a, "POST", "/v1/policies",
      R"({"type":"CUSTOM","rules":{"pre":"false","effect":"DENY"}})");
  EXPECT_EQ(global.status, 403) << global.describe();
  EXPECT_EQ(global.error_code(), "AUTH_FORBIDDEN");
  Response b_policy = master("POST", "/v1/policies", approval_policy(b1));
  ASSERT_EQ(b_policy.status, 201) << b_policy.describe();
  const std::string policy_b = str_at(b_policy.json(), "id");

  Response listed = as_admin(key_a, "GET", "/v1/policies");
  ASSERT_EQ(listed.status, 200) << listed.describe();
  ASSERT_EQ(listed.json().at("items").as_array().size(), 1u) << listed.body;
  EXPECT_EQ(str_at(listed.json().at("items").as_array()[0], "id"), policy);
  EXPECT_EQ(as_admin(key_a, "GET", "/v1/policies/" + policy_b).error_code(), "POLICY_NOT_FOUND");
  EXPECT_EQ(as_admin(key_a, "PUT", "/v1/policies/" + policy_b, R"({"enabled":false})")
                .error_code(),
            "POLICY_NOT_FOUND");
  EXPECT_EQ(as_admin(key_a, "DELETE", "/v1/policies/" + policy_b).error_code(),
            "POLICY_NOT_FOUND");
  EXPECT_EQ(as_admin(key_a, "PUT", "/v1/policies/" + policy,
                     json::serialize(json::object{{"agent_id", b1}}))
                .error_code(),
            "AGENT_NOT_FOUND");
  EXPECT_TRUE(master("GET", "/v1/policies/" + policy_b).json().at("enabled").as_bool());

  // A decision of a1 waits for an approval (its policy) that only A's admin sees.
  const std::string token = str_at(new_session(a1), "token");
  Response decided = client_->request("POST", "/v1/decisions",
                                      R"({"action":"pay","amounts":{"USD":"50"}})",
                                      bearer_headers(token));
  ASSERT_EQ(decided.status, 201) << decided.describe();
  const std::string tx = str_at(decided.json(), "id");
  Response approvals_a = as_admin(key_a, "GET", "/v1/approvals?status=pending");
  ASSERT_EQ(approvals_a.status, 200) << approvals_a.describe();
  ASSERT_EQ(approvals_a.json().at("items").as_array().size(), 1u) << approvals_a.body;
  const std::string approval = str_at(approvals_a.json().at("items").as_array()[0], "id");
  Response approvals_b = as_admin(key_b, "GET", "/v1/approvals?status=pending");
  ASSERT_EQ(approvals_b.status, 200) << approvals_b.describe();
  EXPECT_TRUE(approvals_b.json().at("items").as_array().empty()) << approvals_b.body;
  EXPECT_EQ(as_admin(key_b, "POST", "/v1/approvals/" + approval + "/approve").error_code(),
            "APPROVAL_NOT_FOUND");
  EXPECT_EQ(as_admin(key_b, "POST", "/v1/transactions/" + tx + "/cancel").error_code(),
            "TX_NOT_FOUND");
  Response approved = as_admin(key_a, "POST", "/v1/approvals/" + approval + "/approve");
  ASSERT_EQ(approved.status, 200) << approved.describe() << approvals_a.body;
  EXPECT_EQ(str_at(master("GET", "/v1/transactions/" + tx).json(), "status"), "PENDING");

  // Audit rows: its agents' only.
  Response audit_a = as_admin(key_a, "GET", "/v1/audit?limit=1000");
  ASSERT_EQ(audit_a.status, 200) << audit_a.describe();
  std::size_t of_a1 = 0;
  const json::value audit_rows = audit_a.json();
  for (const auto& row : audit_rows.at("items").as_array()) {
    EXPECT_EQ(str_at(row, "agent_id"), a1) << json::serialize(row);
    of_a1 += str_at(row, "agent_id") == a1 ? 1 : 0;
  }
  EXPECT_GE(of_a1, 3u);  // the policy, the session, the decision (and the approval)
  EXPECT_EQ(as_admin(key_a, "GET", "/v1/audit?agent_id=" + b1).json().at("items").as_array().size(),
            0u);

  // Sessions: read and revoked for its own agents only.
  const std::string session_b = str_at(new_session(b1), "id");
  ASSERT_FALSE(session_b.empty());
  EXPECT_EQ(as_admin(key_a, "GET", "/v1/sessions/" + session_b).error_code(),
            "SESSION_NOT_FOUND");
  EXPECT_EQ(as_admin(key_a, "DELETE", "/v1/sessions/" + session_b).error_code(),
            "SESSION_NOT_FOUND");
  EXPECT_EQ(master("GET", "/v1/sessions/" + session_b).json().at("revoked_at"), json::value());
  const std::string session_a = str_at(new_session(a1), "id");
  EXPECT_EQ(as_admin(key_a, "GET", "/v1/sessions/" + session_a).status, 200);
  EXPECT_EQ(as_admin(key_a, "DELETE", "/v1/sessions/" + session_a).status, 204);
  EXPECT_NE(master("GET", "/v1/sessions/" + session_a).json().at("revoked_at"), json::value());

  // Ledger reads: its agents' lots; another org's owner is unknown.
  for (const auto& [owner, key] : {std::pair{a1, "m-a1"}, std::pair{b1, "m-b1"}}) {
    ASSERT_EQ(master("POST", "/v1/ledger/mint",
                     json::serialize(json::object{{"owner", owner},
                                                  {"amount", "40"},
                                                  {"currency", "USD"},
                                                  {"source", "grant"},
                                                  {"idempotency_key", key}}))
                  .status,
              201);
  }
  Response lots = as_admin(key_a, "GET", "/v1/ledger/lots");
  ASSERT_EQ(lots.status, 200) << lots.describe();
  ASSERT_EQ(lots.json().at("items").as_array().size(), 1u) << lots.body;
  EXPECT_EQ(str_at(lots.json().at("items").as_array()[0], "owner"), a1);
  EXPECT_EQ(as_admin(key_a, "GET", "/v1/ledger/entries?owner=" + b1).error_code(),
            "LEDGER_OWNER_UNKNOWN");
  Response entries = as_admin(key_a, "GET", "/v1/ledger/entries");
  ASSERT_EQ(entries.status, 200) << entries.describe();
  const json::value entry_rows = entries.json();
  for (const auto& e : entry_rows.at("items").as_array()) {
    EXPECT_EQ(str_at(e, "owner"), a1) << json::serialize(e);
  }
  EXPECT_EQ(as_admin(key_a, "GET", "/v1/usage").status, 200);
}

TEST_F(OrgsTest, OrgAdminIsRefusedEverywhereElse) {
  const std::string a = new_org("A");
  const std::string a1 = new_agent_in("a1", a);
  const std::string key_a = new_admin_key(a).second;
  const std::vector<std::pair<std::string, std::string>> closed = {
      {"POST", "/v1/ledger/mint"},
      {"POST", "/v1/ledger/debit"},
      {"GET", "/v1/orgs"},
      {"POST", "/v1/orgs"},
      {"DELETE", "/v1/orgs/" + a},
      {"POST", "/v1/orgs/" + a + "/admin-keys"},
      {"DELETE", "/v1/agents/" + a1},
      {"POST", "/v1/agents/" + a1 + "/api-keys"},
      {"GET", "/v1/models"},
      {"GET", "/v1/hosts"},
      {"POST", "/v1/transactions"},
      {"GET", "/v1/sessions/current"},
  };
  for (const auto& [method, path] : closed) {
    Response r = as_admin(key_a, method, path, method == "GET" ? "" : "{}");
    EXPECT_EQ(r.status, 403) << method << " " << path << ": " << r.describe();
    EXPECT_EQ(r.error_code(), "AUTH_FORBIDDEN") << method << " " << path;
  }
  // Nothing was written by those attempts.
  EXPECT_EQ(str_at(master("GET", "/v1/agents/" + a1).json(), "status"), "ACTIVE");
  EXPECT_EQ(master("GET", "/v1/orgs/" + a).status, 200);
}

TEST_F(OrgsTest, RevokedOrUnknownAdminKeyIsUnauthorized) {
  const std::string a = new_org("A");
  const auto [key_id, key] = new_admin_key(a);
  ASSERT_EQ(as_admin(key, "GET", "/v1/agents").status, 200);
  EXPECT_EQ(master("DELETE", "/v1/orgs/" + a + "/admin-keys/" + key_id).status, 204);
  EXPECT_EQ(master("DELETE", "/v1/orgs/" + a + "/admin-keys/" + key_id).status, 204);
  Response revoked = as_admin(key, "GET", "/v1/agents");
  EXPECT_EQ(revoked.status, 401) << revoked.describe();
  // A revoked key is refused before the route's own check: 401 on a closed route too.
  EXPECT_EQ(as_admin(key, "GET", "/v1/policies").status, 401);
  Response unknown = as_admin("wo_" + std::string(43, 'A'), "GET", "/v1/agents");
  EXPECT_EQ(unknown.status, 401) << unknown.describe();
  auto failures = audit_all(*client_, "event_type=AUTH_FAILED");
  ASSERT_TRUE(failures.has_value());
  EXPECT_GE(failures->size(), 1u);

  // A key of a deleted org stops working too.
  const std::string b = new_org("B");
  const std::string key_b = new_admin_key(b).second;
  ASSERT_EQ(as_admin(key_b, "GET", "/v1/orgs/" + b).status, 200);
  ASSERT_EQ(master("DELETE", "/v1/orgs/" + b).status, 204);
  EXPECT_EQ(as_admin(key_b, "GET", "/v1/orgs/" + b).status, 401);
}

TEST_F(OrgsTest, AgentOrgMustNameAnExistingOrg) {
  const std::string a = new_org("A");
  Response bad = master("POST", "/v1/agents", R"({"name":"x","org":"Acme Corp"})");
  EXPECT_EQ(bad.status, 400) << bad.describe();
  EXPECT_EQ(bad.error_code(), "VALIDATION_INVALID_VALUE");
  EXPECT_EQ(str_at(error_field(bad, "details"), "field"), "org");
  EXPECT_EQ(master("POST", "/v1/agents", R"({"name":"x","org":")" + std::string(kUnknownId) + "\"}")
                .status,
            400);
  const std::string agent = new_agent_in("ok", a);
  Response moved = master("PUT", "/v1/agents/" + agent, R"({"org":"Globex"})");
  EXPECT_EQ(moved.status, 400) << moved.describe();
  EXPECT_EQ(str_at(master("GET", "/v1/agents/" + agent).json(), "org"), a);
  const std::string b = new_org("B");
  ASSERT_EQ(master("DELETE", "/v1/orgs/" + b).status, 204);
  EXPECT_EQ(master("PUT", "/v1/agents/" + agent, json::serialize(json::object{{"org", b}})).status,
            400);
}

}  // namespace
}  // namespace warden::testing
