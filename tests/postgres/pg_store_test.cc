// PostgresStore against the server the postgres_server fixture starts: what is particular to
// PostgreSQL (the schema check at open, the audit chain shared by replicas, savepoints, the
// aborted-transaction rules, prepared statements, reconnecting the writer). The contract every
// backend shares is the store suite's. Each test case migrates its own database as the owner
// role and opens the store as the application role, as a replica does.
#include "store/postgres/pg_store.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "store/postgres/migrate.h"
#include "store/postgres/pg.h"
#include "test_env.h"

namespace warden::store::postgres {
namespace {

constexpr std::string_view kAmountMax =
    "115792089237316195423570985008687907853269984665640564039457584007913129639935";

std::unique_ptr<Connection> owner_connection(std::string_view database) {
  auto conn = Connection::connect(test_config("owner", database));
  EXPECT_TRUE(conn.ok()) << conn.status().to_string();
  return conn.ok() ? std::move(conn).value() : nullptr;
}

Result<std::unique_ptr<PostgresStore>> open_store(std::string_view database) {
  PgStoreOptions options;
  options.config = test_config("app", database);
  options.read_connections = 2;
  return PostgresStore::open(options);
}

AgentRow agent(const std::string& id) {
  AgentRow a;
  a.id = id;
  a.name = "agent " + id;
  a.chain = "solana";
  a.network = "devnet";
  a.status = "ACTIVE";
  a.created_at = 1'700'000'000;
  a.updated_at = 1'700'000'000;
  return a;
}

AuditEvent event(const std::string& type, std::int64_t ts = 1'700'000'000) {
  AuditEvent e;
  e.timestamp = ts;
  e.event_type = type;
  e.actor = "system";
  e.details = R"({"n":1})";
  return e;
}

class PgStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (server_env().empty()) {
      GTEST_FAIL() << "WARDEN_PG_TEST_ENV names no server file: run through ctest, whose "
                      "postgres_server fixture starts the server";
    }
  }

  // Migrates `database` as the owner and opens it as the application role.
  std::unique_ptr<PostgresStore> migrated(std::string_view database) {
    owner_ = owner_connection(database);
    if (owner_ == nullptr) return nullptr;
    Result<int> applied = migrate(*owner_);
    EXPECT_TRUE(applied.ok()) << applied.status().to_string();
    auto store = open_store(database);
    EXPECT_TRUE(store.ok()) << store.status().to_string();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  std::unique_ptr<Connection> owner_;
};

// A database a version-9 binary wrote: hex text hashes, the agent's actor spelled out. Migration
// 10 stores the hashes as bytes and drops the actor that names the row's agent; every row reads
// back as written, the chain verifies and continues.
TEST_F(PgStoreTest, AVersionNineDatabaseMigratesAndItsAuditChainVerifies) {
  const std::string database = "t_store_v9_audit";
  owner_ = owner_connection(database);
  ASSERT_NE(owner_, nullptr);
  ASSERT_TRUE(owner_
                  ->exec_script("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, "
                                "name TEXT NOT NULL, applied_at BIGINT NOT NULL)")
                  .ok());
  for (const Migration& m : migrations()) {
    if (m.version > 9) break;
    ASSERT_TRUE(owner_->exec_script(m.sql()).ok()) << m.version;
    ASSERT_TRUE(
        owner_
            ->exec_script(fmt::format("INSERT INTO schema_version VALUES ({}, 'v', 0)", m.version))
            .ok());
  }
  constexpr int kRows = 4;
  std::vector<AuditEvent> events;
  std::string prev(kAuditGenesisHash);
  for (std::int64_t id = 1; id <= kRows; ++id) {
    AuditEvent e = event("TX_DECIDED", 1'700'000'000 + id);
    e.agent_id = "01a0c450-6c00-71e8-86c6-af1b5021880e";
    e.actor = id == 2 ? "master" : "agent:" + *e.agent_id;
    e.correlation_id = "corr-" + std::to_string(id);
    const std::string hash = audit_row_hash(id, e, prev);
    ASSERT_TRUE(owner_
                    ->exec("INSERT INTO audit_log (id, timestamp, event_type, actor, agent_id, "
                           "details, severity, correlation_id, prev_hash, hash) VALUES ($1, $2, "
                           "$3, $4, $5, $6, $7, $8, $9, $10)",
                           {std::to_string(id), std::to_string(e.timestamp), e.event_type, e.actor,
                            *e.agent_id, e.details, e.severity, *e.correlation_id, prev, hash})
                    .ok());
    events.push_back(e);
    prev = hash;
  }
  Result<int> applied = migrate(*owner_);
  ASSERT_TRUE(applied.ok()) << applied.status().to_string();
  EXPECT_EQ(*applied, latest_schema_version() - 9);
  auto opened = open_store(database);
  ASSERT_TRUE(opened.ok()) << opened.status().to_string();
  auto& store = *opened;
  auto report = store->verify_audit();
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->first_broken_id) << report->problem;
  EXPECT_EQ(report->rows_checked, kRows);
  auto rows = store->list_audit({});
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), static_cast<std::size_t>(kRows));
  for (int i = 0; i < kRows; ++i) {
    EXPECT_EQ((*rows)[i].event.actor, events[i].actor);
    EXPECT_EQ((*rows)[i].event.correlation_id, events[i].correlation_id);
    EXPECT_EQ((*rows)[i].hash, audit_row_hash(i + 1, events[i], (*rows)[i].prev_hash));
  }
  auto stored = owner_->exec(
      "SELECT pg_typeof(hash)::text, octet_length(hash), count(*) FILTER (WHERE actor IS NULL) "
      "OVER () FROM audit_log WHERE id = 1");
  ASSERT_TRUE(stored.ok()) << stored.status().to_string();
  EXPECT_EQ(stored->text(0, 0), "bytea");
  EXPECT_EQ(stored->text(0, 1), "32");
  EXPECT_EQ(owner_->exec("SELECT count(*) FROM audit_log WHERE actor IS NULL")->text(0, 0), "3");
  auto id = Result<std::int64_t>(0);
  ASSERT_TRUE(store
                  ->write([&](WriteTxn& t) {
                    id = t.append_audit(events[0]);
                    return id.status();
                  })
                  .ok());
  EXPECT_EQ(*id, kRows + 1);
  report = store->verify_audit();
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->first_broken_id) << report->problem;
  EXPECT_EQ(report->rows_checked, kRows + 1);
  EXPECT_EQ(owner_
                ->exec("SELECT count(*) FROM pg_indexes WHERE indexname IN "
                       "('idx_transactions_session_id', 'idx_audit_log_agent_timestamp')")
                ->text(0, 0),
            "0");
}

TEST_F(PgStoreTest, OpenRefusesAnUnmigratedDatabase) {
  auto store = open_store("t_store_unmigrated");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), ErrorCode::STORE_NOT_INITIALIZED);
  EXPECT_NE(store.status().message().find("warden_owner"), std::string::npos)
      << store.status().message();
}

TEST_F(PgStoreTest, OpenRefusesAnOlderOrNewerSchema) {
  auto first = migrated("t_store_versions");
  ASSERT_NE(first, nullptr);
  EXPECT_TRUE(first->ping().ok());
  first.reset();
  const std::string latest = std::to_string(latest_schema_version());
  // Older: the last migration's record gone (the owner may edit schema_version).
  ASSERT_TRUE(owner_->exec("DELETE FROM schema_version WHERE version = $1", {latest}).ok());
  auto older = open_store("t_store_versions");
  ASSERT_FALSE(older.ok());
  EXPECT_EQ(older.status().code(), ErrorCode::STORE_NOT_INITIALIZED);
  EXPECT_NE(older.status().message().find(fmt::format("schema version {}, this binary needs {}",
                                                      latest_schema_version() - 1,
                                                      latest_schema_version())),
            std::string::npos)
      << older.status().message();
  // Newer: a version this binary does not know.
  ASSERT_TRUE(owner_
                  ->exec("INSERT INTO schema_version (version, name, applied_at) VALUES "
                         "($1, 'again', 0), ($2, 'future', 0)",
                         {latest, std::to_string(latest_schema_version() + 1)})
                  .ok());
  auto newer = open_store("t_store_versions");
  ASSERT_FALSE(newer.ok());
  EXPECT_EQ(newer.status().code(), ErrorCode::STORE_SCHEMA_TOO_NEW);
}

TEST_F(PgStoreTest, RowsRoundTripWithEveryColumnAndNull) {
  auto store = migrated("t_store_crud");
  ASSERT_NE(store, nullptr);
  AgentRow a = agent("a1");
  a.public_key = "pk1";
  a.owner_address = "owner";
  a.owner_verified = true;
  a.suspended_at = 1'700'000'100;
  a.suspension_reason = "why";
  AgentRow b = agent("a2");  // every optional column NULL
  SessionRow s;
  s.id = "s1";
  s.agent_id = "a1";
  s.token_hash = "th1";
  s.expires_at = 100;
  s.constraints = R"({"max":1})";
  s.usage_stats = R"({"n":2})";
  s.revoked_at = 50;
  s.renewal_count = 3;
  s.max_renewals = 9;
  s.last_renewed_at = 40;
  s.absolute_expires_at = 2'000'000'000;
  s.created_at = 10;
  s.role = "settlement";
  PolicyRow p;
  p.id = "p1";
  p.agent_id = "a1";
  p.type = "SPENDING_LIMIT";
  p.rules = R"({"max":"10"})";
  p.priority = 5;
  p.enabled = false;
  p.version = 2;
  p.hash = "h1";
  p.created_at = 1;
  p.updated_at = 2;
  PolicyRow g = p;
  g.id = "p2";
  g.agent_id.reset();
  g.enabled = true;
  g.hash = "h2";
  TransactionRow t;
  t.id = "t1";
  t.agent_id = "a1";
  t.session_id = "s1";
  t.chain = "solana";
  t.tx_hash = "0xabc";
  t.type = "TRANSFER";
  t.amount = "1000";
  t.to_address = "to";
  t.token_mint = "mint";
  t.contract_address = "contract";
  t.method_signature = "m()";
  t.spender_address = "spender";
  t.approved_amount = "5";
  t.batch_index = 0;
  t.status = "QUEUED";
  t.tier = "DELAY";
  t.queued_at = 11;
  t.executed_at = 12;
  t.created_at = 13;
  t.error = "err";
  t.metadata = R"({"k":"v"})";
  t.reserved_amount = "1000";
  t.idempotency_key = "idem";
  t.request_hash = "rh";
  t.expires_at = 14;
  t.executable_at = 15;
  t.final_amount = "999";
  t.updated_at = 16;
  TransactionRow bare;
  bare.id = "t2";
  bare.agent_id = "a2";
  bare.chain = "solana";
  bare.type = "DECISION";
  bare.parent_id = "t1";
  bare.created_at = 20;
  bare.updated_at = 20;
  ApprovalRow ap{"ap1", "t1", 30, 40, std::nullopt, std::nullopt, std::nullopt, 25};

  ASSERT_TRUE(store
                  ->write([&](WriteTxn& tx) -> Status {
                    WARDEN_RETURN_IF_ERROR(tx.insert_agent(a));
                    WARDEN_RETURN_IF_ERROR(tx.insert_agent(b));
                    WARDEN_RETURN_IF_ERROR(tx.insert_session(s));
                    WARDEN_RETURN_IF_ERROR(tx.insert_policy(p));
                    WARDEN_RETURN_IF_ERROR(tx.insert_policy(g));
                    WARDEN_RETURN_IF_ERROR(tx.insert_transaction(t));
                    WARDEN_RETURN_IF_ERROR(tx.insert_transaction(bare));
                    WARDEN_RETURN_IF_ERROR(tx.insert_approval(ap));
                    return tx.put_kv("k", "v", 7);
                  })
                  .ok());

  auto ga = store->get_agent("a1");
  ASSERT_TRUE(ga.ok() && ga->has_value());
  EXPECT_EQ((*ga)->public_key, a.public_key);
  EXPECT_EQ((*ga)->owner_address, a.owner_address);
  EXPECT_TRUE((*ga)->owner_verified);
  EXPECT_EQ((*ga)->suspended_at, a.suspended_at);
  EXPECT_EQ((*ga)->suspension_reason, a.suspension_reason);
  auto gb = store->get_agent("a2");
  ASSERT_TRUE(gb.ok() && gb->has_value());
  EXPECT_FALSE((*gb)->public_key || (*gb)->owner_address || (*gb)->suspended_at ||
               (*gb)->suspension_reason || (*gb)->org);
  EXPECT_FALSE((*gb)->owner_verified);
  auto missing = store->get_agent("nope");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
  auto page = store->list_agents(Page{"a1", 10});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ((*page)[0].id, "a2");

  auto gs = store->find_session_by_token_hash("th1");
  ASSERT_TRUE(gs.ok() && gs->has_value());
  EXPECT_EQ((*gs)->constraints, s.constraints);
  EXPECT_EQ((*gs)->usage_stats, s.usage_stats);
  EXPECT_EQ((*gs)->revoked_at, 50);
  EXPECT_EQ((*gs)->renewal_count, 3);
  EXPECT_EQ((*gs)->max_renewals, 9);
  EXPECT_EQ((*gs)->last_renewed_at, 40);
  EXPECT_EQ((*gs)->absolute_expires_at, 2'000'000'000);
  EXPECT_EQ((*gs)->role, "settlement");
  auto revoked = store->list_revoked_sessions(1'999'999'999);
  ASSERT_TRUE(revoked.ok());
  ASSERT_EQ(revoked->size(), 1u);
  EXPECT_EQ((*revoked)[0].id, "s1");
  EXPECT_TRUE(store->list_revoked_sessions(2'000'000'000)->empty());

  auto gp = store->get_policy("p1");
  ASSERT_TRUE(gp.ok() && gp->has_value());
  EXPECT_EQ((*gp)->agent_id, "a1");
  EXPECT_EQ((*gp)->rules, p.rules);
  EXPECT_FALSE((*gp)->enabled);
  EXPECT_EQ((*gp)->priority, 5);
  EXPECT_EQ((*gp)->version, 2);
  PolicyFilter global;
  global.global_only = true;
  auto globals = store->list_policies(global, Page{});
  ASSERT_TRUE(globals.ok());
  ASSERT_EQ(globals->size(), 1u);
  EXPECT_EQ((*globals)[0].id, "p2");
  PolicyFilter disabled;
  disabled.enabled = false;
  disabled.agent_id = "a1";
  disabled.type = "SPENDING_LIMIT";
  auto off = store->list_policies(disabled, Page{});
  ASSERT_TRUE(off.ok());
  ASSERT_EQ(off->size(), 1u);
  EXPECT_EQ((*off)[0].id, "p1");

  auto gt = store->get_transaction("t1");
  ASSERT_TRUE(gt.ok() && gt->has_value());
  const TransactionRow& r = **gt;
  EXPECT_EQ(r.session_id, t.session_id);
  EXPECT_EQ(r.tx_hash, t.tx_hash);
  EXPECT_EQ(r.amount, t.amount);
  EXPECT_EQ(r.to_address, t.to_address);
  EXPECT_EQ(r.token_mint, t.token_mint);
  EXPECT_EQ(r.contract_address, t.contract_address);
  EXPECT_EQ(r.method_signature, t.method_signature);
  EXPECT_EQ(r.spender_address, t.spender_address);
  EXPECT_EQ(r.approved_amount, t.approved_amount);
  EXPECT_EQ(r.parent_id, std::nullopt);
  EXPECT_EQ(r.batch_index, 0);
  EXPECT_EQ(r.status, "QUEUED");
  EXPECT_EQ(r.tier, "DELAY");
  EXPECT_EQ(r.queued_at, 11);
  EXPECT_EQ(r.executed_at, 12);
  EXPECT_EQ(r.created_at, 13);
  EXPECT_EQ(r.error, "err");
  EXPECT_EQ(r.metadata, t.metadata);
  EXPECT_EQ(r.reserved_amount, "1000");
  EXPECT_EQ(r.idempotency_key, "idem");
  EXPECT_EQ(r.request_hash, "rh");
  EXPECT_EQ(r.expires_at, 14);
  EXPECT_EQ(r.executable_at, 15);
  EXPECT_EQ(r.final_amount, "999");
  EXPECT_EQ(r.updated_at, 16);
  auto gt2 = store->get_transaction("t2");
  ASSERT_TRUE(gt2.ok() && gt2->has_value());
  EXPECT_EQ((*gt2)->parent_id, "t1");
  EXPECT_FALSE((*gt2)->session_id || (*gt2)->tx_hash || (*gt2)->amount || (*gt2)->batch_index ||
               (*gt2)->tier || (*gt2)->queued_at || (*gt2)->error || (*gt2)->idempotency_key ||
               (*gt2)->expires_at || (*gt2)->final_amount);
  EXPECT_EQ((*gt2)->metadata, "{}");
  TransactionFilter queued;
  queued.statuses = {"QUEUED", "CONFIRMED"};
  auto q = store->list_transactions(queued, Page{});
  ASSERT_TRUE(q.ok());
  ASSERT_EQ(q->size(), 1u);
  EXPECT_EQ((*q)[0].id, "t1");
  TransactionFilter recent;
  recent.created_at_min = 15;
  recent.agent_id = "a2";
  auto rq = store->list_transactions(recent, Page{});
  ASSERT_TRUE(rq.ok());
  ASSERT_EQ(rq->size(), 1u);
  EXPECT_EQ((*rq)[0].id, "t2");

  auto pending = store->list_approvals(true, Page{});
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ((*pending)[0].required_by, 30);
  EXPECT_FALSE((*pending)[0].approved_at || (*pending)[0].owner_signature);
  EXPECT_EQ(*store->get_kv("k"), std::optional<std::string>("v"));

  // Updates, and their not-found codes.
  ap.approved_at = 35;
  ap.owner_signature = "sig";
  t.status = "CONFIRMED";
  t.error.reset();
  Status updated = store->write([&](WriteTxn& tx) -> Status {
    WARDEN_RETURN_IF_ERROR(tx.update_approval(ap));
    WARDEN_RETURN_IF_ERROR(tx.update_transaction(t));
    WARDEN_RETURN_IF_ERROR(tx.put_kv("k", "w", 8));
    auto n = tx.revoke_agent_sessions("a1", 60);
    if (!n.ok()) return n.take_status();
    EXPECT_EQ(*n, 0);  // s1 was revoked already
    return tx.delete_policy("p2");
  });
  ASSERT_TRUE(updated.ok()) << updated.to_string();
  auto ga2 = store->find_approval_by_tx("t1");
  ASSERT_TRUE(ga2.ok() && ga2->has_value());
  EXPECT_EQ((*ga2)->approved_at, 35);
  EXPECT_EQ((*ga2)->owner_signature, "sig");
  EXPECT_TRUE(store->list_approvals(true, Page{})->empty());
  EXPECT_EQ((*store->get_transaction("t1"))->status, "CONFIRMED");
  EXPECT_FALSE((*store->get_transaction("t1"))->error);
  EXPECT_EQ(*store->get_kv("k"), std::optional<std::string>("w"));
  EXPECT_FALSE(store->get_policy("p2")->has_value());

  Status none = store->write([&](WriteTxn& tx) { return tx.update_agent(agent("ghost")); });
  EXPECT_EQ(none.code(), ErrorCode::AGENT_NOT_FOUND);
  none = store->write([&](WriteTxn& tx) { return tx.delete_policy("ghost"); });
  EXPECT_EQ(none.code(), ErrorCode::POLICY_NOT_FOUND);
  TransactionRow ghost = t;
  ghost.id = "ghost";
  none = store->write([&](WriteTxn& tx) { return tx.update_transaction(ghost); });
  EXPECT_EQ(none.code(), ErrorCode::TX_NOT_FOUND);

  // A unique key is named as SQLite names it, without the values.
  AgentRow twin = agent("a3");
  twin.public_key = "pk1";
  Status dup = store->write([&](WriteTxn& tx) { return tx.insert_agent(twin); });
  EXPECT_EQ(dup.code(), ErrorCode::STORE_CONSTRAINT);
  EXPECT_NE(dup.message().find("UNIQUE constraint failed: agents.public_key"), std::string::npos)
      << dup.message();
  EXPECT_EQ(dup.message().find("pk1"), std::string::npos) << dup.message();
}

// Signing keys, outbox, models, API keys, orgs: the unique keys callers tell apart by column
// (routes_models.cc looks for "models.name", routes_orgs.cc for "name").
TEST_F(PgStoreTest, KeysOutboxGatewayAndOrgRows) {
  auto store = migrated("t_store_gateway");
  ASSERT_NE(store, nullptr);
  ModelRow m;
  m.id = "m1";
  m.name = "gpt";
  m.provider = "openai";
  m.base_url = "https://api.example";
  m.upstream_model = "gpt-4o";
  m.input_price_micros_per_1k = "5";
  m.output_price_micros_per_1k = "0";
  m.currency = "USD";
  m.key_ref = "env:KEY";
  m.created_at = 1;
  m.updated_at = 1;
  ApiKeyRow k{"k1", "a1", "hash1", "wk_ab", std::nullopt, 3, std::nullopt, std::nullopt};
  OrgRow org{"o1", "acme", 4, std::nullopt};
  OrgAdminKeyRow admin{"ok1", "o1", "ahash", "wo_ab", "ops", 5, std::nullopt};
  SigningKeyRow key{"kid1", R"({"kty":"EC"})", "sealed", 10, 20, 30};
  ASSERT_TRUE(store
                  ->write([&](WriteTxn& tx) -> Status {
                    AgentRow a = agent("a1");
                    a.org = "o1";
                    WARDEN_RETURN_IF_ERROR(tx.insert_org(org));
                    WARDEN_RETURN_IF_ERROR(tx.insert_agent(a));
                    WARDEN_RETURN_IF_ERROR(tx.insert_model(m));
                    WARDEN_RETURN_IF_ERROR(tx.insert_api_key(k));
                    WARDEN_RETURN_IF_ERROR(tx.insert_org_admin_key(admin));
                    WARDEN_RETURN_IF_ERROR(tx.insert_signing_key(key));
                    WARDEN_RETURN_IF_ERROR(tx.extend_signing_key("kid1", 25));  // never lowers
                    WARDEN_RETURN_IF_ERROR(tx.insert_outbox({"e2", R"({"b":2})", 6, 0, 50}));
                    return tx.insert_outbox({"e1", R"({"a":1})", 6, 1, 40});
                  })
                  .ok());
  auto keys = store->list_signing_keys();
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ((*keys)[0].public_jwk, key.public_jwk);
  EXPECT_EQ((*keys)[0].verify_until, 30);
  auto due = store->list_outbox_due(45, 10);
  ASSERT_TRUE(due.ok());
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].id, "e1");
  EXPECT_EQ((*due)[0].attempts, 1);
  EXPECT_EQ(store->list_outbox_due(50, 10)->size(), 2u);
  auto model = store->find_model_by_name("gpt");
  ASSERT_TRUE(model.ok() && model->has_value());
  EXPECT_EQ((*model)->input_price_micros_per_1k, "5");
  EXPECT_TRUE((*model)->enabled);
  auto api = store->find_api_key_by_hash("hash1");
  ASSERT_TRUE(api.ok() && api->has_value());
  EXPECT_FALSE((*api)->name || (*api)->revoked_at || (*api)->last_used_at);
  auto members = store->list_org_agents("o1", Page{});
  ASSERT_TRUE(members.ok());
  ASSERT_EQ(members->size(), 1u);
  EXPECT_EQ((*members)[0].org, "o1");
  auto found = store->find_org_admin_key_by_hash("ahash");
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->name, "ops");

  ASSERT_TRUE(store
                  ->write([&](WriteTxn& tx) -> Status {
                    WARDEN_RETURN_IF_ERROR(tx.update_outbox({"e1", "", 0, 2, 90}));
                    WARDEN_RETURN_IF_ERROR(tx.delete_outbox("e2"));
                    auto revoked = tx.revoke_agent_api_keys("a1", 7);
                    if (!revoked.ok()) return revoked.take_status();
                    EXPECT_EQ(*revoked, 1);
                    org.deleted_at = 8;
                    return tx.update_org(org);
                  })
                  .ok());
  EXPECT_TRUE(store->list_outbox_due(50, 10)->empty());
  EXPECT_EQ((*store->list_outbox_due(90, 10))[0].attempts, 2);
  EXPECT_EQ((*store->get_api_key("k1"))->revoked_at, 7);
  EXPECT_TRUE(store->list_orgs(Page{})->empty());
  EXPECT_EQ((*store->get_org("o1"))->deleted_at, 8);

  ModelRow twin = m;
  twin.id = "m2";
  Status s = store->write([&](WriteTxn& tx) { return tx.insert_model(twin); });
  EXPECT_EQ(s.code(), ErrorCode::STORE_CONSTRAINT);
  EXPECT_NE(s.message().find("models.name"), std::string::npos) << s.message();
  OrgRow same_name{"o2", "acme", 9, std::nullopt};
  s = store->write([&](WriteTxn& tx) { return tx.insert_org(same_name); });
  EXPECT_EQ(s.code(), ErrorCode::STORE_CONSTRAINT);
  EXPECT_NE(s.message().find("orgs.name"), std::string::npos) << s.message();
  s = store->write([&](WriteTxn& tx) { return tx.delete_model("ghost"); });
  EXPECT_EQ(s.code(), ErrorCode::INTERNAL_ERROR);
}

TEST_F(PgStoreTest, AuditChainOfSeveralTransactionsVerifies) {
  auto store = migrated("t_store_audit");
  ASSERT_NE(store, nullptr);
  std::vector<std::int64_t> ids;
  for (int t = 0; t < 5; ++t) {
    ASSERT_TRUE(store
                    ->write([&](WriteTxn& tx) -> Status {
                      for (int i = 0; i < 3; ++i) {
                        AuditEvent e = event(i == 0 ? "FIRST" : "OTHER", 1'700'000'000 + t);
                        if (i == 1) e.agent_id = "a1";
                        auto id = tx.append_audit(e);
                        if (!id.ok()) return id.take_status();
                        ids.push_back(*id);
                      }
                      return Status();
                    })
                    .ok());
  }
  ASSERT_EQ(ids.size(), 15u);
  for (std::size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(ids[i], static_cast<std::int64_t>(i + 1));
  auto report = store->verify_audit();
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_EQ(report->rows_checked, 15);
  EXPECT_FALSE(report->first_broken_id) << report->problem;

  AuditFilter firsts;
  firsts.event_type = "FIRST";
  auto rows = store->list_audit(firsts);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 5u);
  EXPECT_EQ((*rows)[1].id, 4);
  AuditFilter of_agent;
  of_agent.agent_id = "a1";
  of_agent.after_id = 5;
  of_agent.limit = 2;
  rows = store->list_audit(of_agent);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].id, 8);
  EXPECT_EQ((*rows)[1].id, 11);
  EXPECT_EQ((*rows)[1].prev_hash, store->list_audit(AuditFilter{9, {}, {}, 1})->at(0).hash);

  // Not even the owner may rewrite the chain.
  auto refused = owner_->exec("UPDATE audit_log SET actor = 'x' WHERE id = 1");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::STORE_CONSTRAINT);
}

// Two replicas, each with four threads writing at once: one chain, consecutive ids, verified.
TEST_F(PgStoreTest, ConcurrentReplicasAppendOneChain) {
  auto one = migrated("t_store_audit_race");
  ASSERT_NE(one, nullptr);
  auto two_or = open_store("t_store_audit_race");
  ASSERT_TRUE(two_or.ok()) << two_or.status().to_string();
  std::unique_ptr<PostgresStore> two = std::move(two_or).value();
  constexpr int kThreads = 4;
  constexpr int kWrites = 50;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (PostgresStore* store : {one.get(), two.get()}) {
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, store, t] {
        for (int i = 0; i < kWrites; ++i) {
          Status s = store->write([&](WriteTxn& tx) -> Status {
            // Two appends per transaction: the second rides on the cached tail.
            WARDEN_RETURN_IF_ERROR(tx.append_audit(event(fmt::format("T{}", t))).take_status());
            return tx.append_audit(event("SECOND")).take_status();
          });
          if (!s.ok()) {
            ++failures;
            ADD_FAILURE() << s.to_string();
          }
        }
      });
    }
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  const std::int64_t total = 2 * kThreads * kWrites * 2;
  auto report = one->verify_audit();
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_EQ(report->rows_checked, total);
  EXPECT_FALSE(report->first_broken_id) << report->problem;
  auto last = one->list_audit(AuditFilter{total - 1, {}, {}, 10});
  ASSERT_TRUE(last.ok());
  ASSERT_EQ(last->size(), 1u);
  EXPECT_EQ((*last)[0].id, total);
  // Each transaction's two rows are adjacent: a transaction holds the chain to its commit.
  auto all = one->list_audit(AuditFilter{0, {}, {}, static_cast<std::size_t>(total)});
  ASSERT_TRUE(all.ok());
  for (std::size_t i = 0; i + 1 < all->size(); i += 2) {
    EXPECT_NE((*all)[i].event.event_type, "SECOND") << "row " << (*all)[i].id;
    EXPECT_EQ((*all)[i + 1].event.event_type, "SECOND") << "row " << (*all)[i + 1].id;
  }
}

// A write's read of a transaction locks its row (docs/cluster.md, "One replica sweeps"): a second
// replica's write reading it waits for the first to commit and sees its change, so two sweeps of
// one row cannot both act on the old status.
TEST_F(PgStoreTest, AWriteReadsATransactionUnderItsRowLock) {
  auto one = migrated("t_store_row_lock");
  ASSERT_NE(one, nullptr);
  auto two_or = open_store("t_store_row_lock");
  ASSERT_TRUE(two_or.ok()) << two_or.status().to_string();
  std::unique_ptr<PostgresStore> two = std::move(two_or).value();
  TransactionRow t;
  t.id = "t1";
  t.agent_id = "a1";
  t.chain = "solana";
  t.type = "DECISION";
  t.status = "PENDING";
  ASSERT_TRUE(one->write([&](WriteTxn& tx) -> Status {
                   WARDEN_RETURN_IF_ERROR(tx.insert_agent(agent("a1")));
                   return tx.insert_transaction(t);
                 })
                  .ok());
  std::atomic<bool> locked{false};
  std::thread first([&] {
    Status s = one->write([&](WriteTxn& tx) -> Status {
      auto row = tx.get_transaction("t1");
      if (!row.ok()) return row.take_status();
      locked = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      (*row)->status = "EXPIRED";
      return tx.update_transaction(**row);
    });
    EXPECT_TRUE(s.ok()) << s.to_string();
  });
  while (!locked) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  // A plain read does not wait: it sees the committed row.
  EXPECT_EQ((*two->get_transaction("t1"))->status, "PENDING");
  std::string seen;
  const auto start = std::chrono::steady_clock::now();
  Status s = two->write([&](WriteTxn& tx) -> Status {
    auto row = tx.get_transaction("t1");
    if (!row.ok()) return row.take_status();
    seen = (*row)->status;
    return Status();
  });
  const auto waited = std::chrono::steady_clock::now() - start;
  first.join();
  ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_EQ(seen, "EXPIRED");
  EXPECT_GE(waited, std::chrono::milliseconds(150));
}

TEST_F(PgStoreTest, NestedUndoesOnlyItsOwnWrites) {
  auto store = migrated("t_store_nested");
  ASSERT_NE(store, nullptr);
  Status s = store->write([&](WriteTxn& tx) -> Status {
    WARDEN_RETURN_IF_ERROR(tx.insert_agent(agent("kept1")));
    WARDEN_RETURN_IF_ERROR(tx.append_audit(event("KEPT")).take_status());
    // Fails by itself: its agent and audit row go, the chain's cached tail with them.
    Status inner = tx.nested([&](WriteTxn& n) -> Status {
      WARDEN_RETURN_IF_ERROR(n.insert_agent(agent("undone")));
      WARDEN_RETURN_IF_ERROR(n.append_audit(event("UNDONE")).take_status());
      return Status(ErrorCode::VALIDATION_INVALID_VALUE, "no");
    });
    EXPECT_EQ(inner.code(), ErrorCode::VALIDATION_INVALID_VALUE);
    // Fails in PostgreSQL (a duplicate id): the savepoint brings the transaction back.
    inner = tx.nested([&](WriteTxn& n) { return n.insert_agent(agent("kept1")); });
    EXPECT_EQ(inner.code(), ErrorCode::STORE_CONSTRAINT);
    // A function that ignores a failed statement still fails: PostgreSQL aborted its savepoint.
    inner = tx.nested([&](WriteTxn& n) -> Status {
      (void)n.insert_agent(agent("kept1"));
      return Status();
    });
    EXPECT_EQ(inner.code(), ErrorCode::STORE_CONSTRAINT);
    WARDEN_RETURN_IF_ERROR(tx.nested([&](WriteTxn& n) -> Status {
      WARDEN_RETURN_IF_ERROR(n.insert_agent(agent("kept2")));
      return n.append_audit(event("KEPT")).take_status();
    }));
    auto id = tx.append_audit(event("KEPT"));
    if (!id.ok()) return id.take_status();
    EXPECT_EQ(*id, 3);
    return Status();
  });
  ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_TRUE(store->get_agent("kept1")->has_value());
  EXPECT_TRUE(store->get_agent("kept2")->has_value());
  EXPECT_FALSE(store->get_agent("undone")->has_value());
  auto report = store->verify_audit();
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->rows_checked, 3);
  EXPECT_FALSE(report->first_broken_id) << report->problem;
  AuditFilter undone;
  undone.event_type = "UNDONE";
  EXPECT_TRUE(store->list_audit(undone)->empty());
}

TEST_F(PgStoreTest, WriteRollsBackOnErrorAndRefusesReentry) {
  auto store = migrated("t_store_rollback");
  ASSERT_NE(store, nullptr);
  Status s = store->write([&](WriteTxn& tx) -> Status {
    WARDEN_RETURN_IF_ERROR(tx.insert_agent(agent("gone")));
    WARDEN_RETURN_IF_ERROR(tx.append_audit(event("GONE")).take_status());
    return Status(ErrorCode::VALIDATION_INVALID_VALUE, "changed my mind");
  });
  EXPECT_EQ(s.code(), ErrorCode::VALIDATION_INVALID_VALUE);
  EXPECT_FALSE(store->get_agent("gone")->has_value());
  EXPECT_EQ(store->verify_audit()->rows_checked, 0);

  ASSERT_TRUE(store->write([&](WriteTxn& tx) { return tx.insert_agent(agent("a")); }).ok());
  // fn ignores a failed statement and returns OK: nothing commits, the cause is reported, and
  // the statements after it (refused by PostgreSQL) are not taken for a storage failure.
  s = store->write([&](WriteTxn& tx) -> Status {
    WARDEN_RETURN_IF_ERROR(tx.insert_agent(agent("b")));
    (void)tx.insert_agent(agent("a"));
    auto read = tx.get_agent("b");
    EXPECT_FALSE(read.ok());
    return Status();
  });
  EXPECT_EQ(s.code(), ErrorCode::STORE_CONSTRAINT) << s.to_string();
  EXPECT_FALSE(store->get_agent("b")->has_value());

  // A write from inside write() is refused; the outer one goes on and commits.
  s = store->write([&](WriteTxn& tx) -> Status {
    Status inner = store->write([](WriteTxn& t) { return t.insert_agent(agent("inner")); });
    EXPECT_EQ(inner.code(), ErrorCode::INTERNAL_STORE_ERROR);
    return tx.insert_agent(agent("outer"));
  });
  ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_TRUE(store->get_agent("outer")->has_value());
  EXPECT_FALSE(store->get_agent("inner")->has_value());

  // The writer's connection killed between writes: the next write reconnects.
  auto killer = Connection::connect(test_config("app", "t_store_rollback"));
  ASSERT_TRUE(killer.ok());
  auto killed = (*killer)->exec(
      "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = "
      "current_database() AND usename = current_user AND pid <> pg_backend_pid()");
  ASSERT_TRUE(killed.ok()) << killed.status().to_string();
  EXPECT_GE(std::stoi(killed->text(0, 0)), 1);
  s = store->write([&](WriteTxn& tx) { return tx.insert_agent(agent("after")); });
  ASSERT_TRUE(s.ok()) << s.to_string();
  // So were the pooled ones: a read retries on a new connection.
  auto after = store->get_agent("after");
  ASSERT_TRUE(after.ok()) << after.status().to_string();
  EXPECT_TRUE(after->has_value());
  EXPECT_TRUE(store->ping().ok());
}

TEST_F(PgStoreTest, PreparedStatementsAreReused) {
  auto store = migrated("t_store_prepared");
  ASSERT_NE(store, nullptr);
  auto one_write = [&](int i) {
    return store->write([&](WriteTxn& tx) -> Status {
      WARDEN_RETURN_IF_ERROR(tx.insert_agent(agent(fmt::format("a{}", i))));
      WARDEN_RETURN_IF_ERROR(tx.get_agent(fmt::format("a{}", i)).take_status());
      return tx.append_audit(event("CREATED")).take_status();
    });
  };
  ASSERT_TRUE(one_write(0).ok());
  const std::size_t after_first = store->writer_prepared_count();
  // COMMIT, the insert, the read, the chain's tail and the audit insert (BEGIN travels
  // unprepared, with the tenant context and the chain's lock, in one simple query).
  EXPECT_EQ(after_first, 5u);
  for (int i = 1; i < 20; ++i) ASSERT_TRUE(one_write(i).ok());
  EXPECT_EQ(store->writer_prepared_count(), after_first);
}

TEST_F(PgStoreTest, MeterUsageAddsUpAndRefusesOverflow) {
  auto store = migrated("t_store_meter");
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(
      store
          ->write([&](WriteTxn& tx) -> Status {
            WARDEN_RETURN_IF_ERROR(tx.add_meter_usage({"a1", "p1/USDC", 100, "5"}));
            WARDEN_RETURN_IF_ERROR(tx.add_meter_usage({"a1", "p1/USDC", 100, "7"}));
            WARDEN_RETURN_IF_ERROR(tx.add_meter_usage({"a2", "p1/USDC", 101, "1"}));
            WARDEN_RETURN_IF_ERROR(tx.add_meter_usage({"a1", "p2/llm_tokens@gpt", 100, "3"}));
            return tx.add_meter_usage({"a1", "p3/requests", 100, std::string(kAmountMax)});
          })
          .ok());
  // Past 2^256 - 1: refused, and the transaction goes on (nothing was aborted).
  Status s = store->write([&](WriteTxn& tx) -> Status {
    Status over = tx.add_meter_usage({"a1", "p3/requests", 100, "1"});
    EXPECT_EQ(over.code(), ErrorCode::VALIDATION_INVALID_AMOUNT) << over.to_string();
    return tx.add_meter_usage({"a1", "p1/USDC", 100, "1"});
  });
  ASSERT_TRUE(s.ok()) << s.to_string();

  std::vector<MeterUsageRow> rows;
  auto collect = [&](const MeterUsageRow& r) {
    rows.push_back(r);
    return Status();
  };
  MeterUsageFilter p1;
  p1.meter = "p1/USDC";
  ASSERT_TRUE(store->scan_meter_usage(p1, collect).ok());
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].agent_id, "a1");
  EXPECT_EQ(rows[0].amount, "13");
  EXPECT_EQ(rows[1].agent_id, "a2");
  EXPECT_EQ(rows[1].bucket, 101);
  rows.clear();
  MeterUsageFilter prefix;
  prefix.meter_prefix = "p2/llm_tokens@";
  prefix.meter = "p3/requests";
  ASSERT_TRUE(store->scan_meter_usage(prefix, collect).ok());
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].meter, "p2/llm_tokens@gpt");
  EXPECT_EQ(rows[1].amount, kAmountMax);
  rows.clear();
  MeterUsageFilter late;
  late.bucket_min = 101;
  ASSERT_TRUE(store->scan_meter_usage(late, collect).ok());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].agent_id, "a2");
}

// A tenant read sets the org's context for its own transaction only: whatever ends it (an answer,
// a callback's error, a callback's exception), the pooled connection goes back with the daemon's
// '*', and the daemon's next reads on it see every org.
TEST_F(PgStoreTest, ATenantReadLeavesItsConnectionToTheDaemon) {
  auto store = migrated("t_store_tenant_context");
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->write([](WriteTxn& tx) -> Status {
                    WARDEN_RETURN_IF_ERROR(tx.insert_org(OrgRow{"o1", "acme", 4, std::nullopt}));
                    AgentRow mine = agent("a");
                    mine.org = "o1";
                    WARDEN_RETURN_IF_ERROR(tx.insert_agent(mine));
                    return tx.insert_agent(agent("b"));
                  })
                  .ok());
  auto daemon_sees_all = [&] {
    auto all = store->list_agents(Page{std::nullopt, 10});
    ASSERT_TRUE(all.ok()) << all.status().to_string();
    EXPECT_EQ(all->size(), 2u);
    auto b = store->get_agent("b");
    ASSERT_TRUE(b.ok()) << b.status().to_string();
    EXPECT_TRUE(b->has_value());
  };
  std::unique_ptr<Reader> tenant = store->tenant("o1");
  for (int round = 0; round < 3; ++round) {  // more rounds than pooled connections
    auto mine = tenant->list_agents(Page{std::nullopt, 10});
    ASSERT_TRUE(mine.ok()) << mine.status().to_string();
    ASSERT_EQ(mine->size(), 1u);
    EXPECT_EQ((*mine)[0].id, "a");
    EXPECT_FALSE(tenant->get_agent("b")->has_value());
    daemon_sees_all();

    const Status stopped = tenant->scan_lot_entries([](const LotEntryRow&) { return Status(); });
    EXPECT_TRUE(stopped.ok()) << stopped.to_string();
    daemon_sees_all();
  }
  // A callback that fails or throws: the transaction is ended before the connection goes back.
  ASSERT_TRUE(store->write([](WriteTxn& tx) -> Status {
                    LedgerOpRow op{"op1", "mint", std::nullopt, "h", "{}", 4};
                    WARDEN_RETURN_IF_ERROR(tx.insert_ledger_op(op));
                    LotRow lot{"l1", "a", "grant", "10", "USD", std::nullopt, "active", {}, 4};
                    WARDEN_RETURN_IF_ERROR(tx.insert_lot(lot));
                    LotEntryRow credit{0, "l1", "a", "USD", "credit", "10", "op1", {}, {}, 4};
                    return tx.insert_lot_entry(credit);
                  })
                  .ok());
  for (int round = 0; round < 3; ++round) {
    const Status failed = tenant->scan_lot_entries(
        [](const LotEntryRow&) { return Status(ErrorCode::VALIDATION_INVALID_VALUE, "stop"); });
    EXPECT_EQ(failed.code(), ErrorCode::VALIDATION_INVALID_VALUE);
    daemon_sees_all();
    EXPECT_THROW((void)tenant->scan_lot_entries(
                     [](const LotEntryRow&) -> Status { throw std::runtime_error("callback"); }),
                 std::runtime_error);
    daemon_sees_all();
  }
}

}  // namespace
}  // namespace warden::store::postgres

namespace warden::store::postgres {
namespace {

// Queued inserts (Connection::defer_prepared): a failure of one comes back from write() with its
// own code, a savepoint keeps it to itself, and nothing of a failed transaction is kept.
TEST_F(PgStoreTest, QueuedInsertsFailInTheirOwnTransactionAndSavepoint) {
  auto store = migrated("t_store_queued");
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->write([&](WriteTxn& tx) { return tx.insert_agent(agent("a1")); }).ok());
  TransactionRow tx_row;
  tx_row.id = "t1";
  tx_row.agent_id = "a1";
  tx_row.chain = "ethereum";
  tx_row.type = "TRANSFER";
  // The same id twice: the second insert is queued and fails at the flush before COMMIT.
  Status twice = store->write([&](WriteTxn& tx) -> Status {
    WARDEN_RETURN_IF_ERROR(tx.insert_transaction(tx_row));
    return tx.insert_transaction(tx_row);
  });
  EXPECT_EQ(twice.code(), ErrorCode::STORE_CONSTRAINT) << twice.to_string();
  EXPECT_FALSE(store->get_transaction("t1")->has_value());
  // In a savepoint, the failure stays inside it and the rest commits.
  Status kept = store->write([&](WriteTxn& tx) -> Status {
    WARDEN_RETURN_IF_ERROR(tx.insert_transaction(tx_row));
    Status inner = tx.nested([&](WriteTxn& t) { return t.insert_transaction(tx_row); });
    EXPECT_EQ(inner.code(), ErrorCode::STORE_CONSTRAINT) << inner.to_string();
    return tx.append_audit(event("AFTER")).take_status();
  });
  EXPECT_TRUE(kept.ok()) << kept.to_string();
  EXPECT_TRUE(store->get_transaction("t1")->has_value());
  // A read after queued inserts sees them (they are sent before it, in one round trip).
  Status seen = store->write([&](WriteTxn& tx) -> Status {
    TransactionRow other = tx_row;
    other.id = "t2";
    WARDEN_RETURN_IF_ERROR(tx.insert_transaction(other));
    WARDEN_ASSIGN_OR_RETURN(auto row, tx.get_transaction("t2"));
    EXPECT_TRUE(row.has_value());
    return Status();
  });
  EXPECT_TRUE(seen.ok()) << seen.to_string();
  auto verified = store->verify_audit();
  ASSERT_TRUE(verified.ok());
  EXPECT_FALSE(verified->first_broken_id.has_value());
}

}  // namespace
}  // namespace warden::store::postgres

namespace warden::store::postgres {
namespace {

// Reservations of one window in one transaction: after the first, the store decides them from
// the total it holds the lock of, without a round trip. Several stores (replicas) doing so at
// once still admit exactly what fits, and a window that moves on inside a transaction is asked
// again.
TEST_F(PgStoreTest, ReservationsOfOneWindowInOneTransactionStayExact) {
  auto first = migrated("t_store_windows");
  ASSERT_NE(first, nullptr);
  ASSERT_TRUE(first->write([&](WriteTxn& tx) { return tx.insert_agent(agent("a1")); }).ok());
  constexpr int kStores = 4;
  constexpr int kTransactions = 10;
  constexpr int kPerTransaction = 5;
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kStores; ++i) {
    threads.emplace_back([&, i] {
      auto store = PostgresStore::open({test_config("app", "t_store_windows"), 1});
      ASSERT_TRUE(store.ok()) << store.status().to_string();
      for (int t = 0; t < kTransactions; ++t) {
        int here = 0;
        Status s = (*store)->write([&](WriteTxn& tx) -> Status {
          here = 0;
          for (int k = 0; k < kPerTransaction; ++k) {
            const std::int64_t bucket = 1000 + i * 1000 + t * 10 + k;
            WARDEN_ASSIGN_OR_RETURN(bool room,
                                    tx.reserve_window({"a1", "p1/USD/1h", bucket, 0, "3", "100"}));
            here += room ? 1 : 0;
          }
          return Status();
        });
        ASSERT_TRUE(s.ok()) << s.to_string();
        admitted.fetch_add(here);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(admitted.load(), 33);  // 200 asks of 3 against 100

  // A window that moves past its oldest bucket inside the transaction is asked again.
  bool fits_after_move = false;
  bool over = true;
  ASSERT_TRUE(first
                  ->write([&](WriteTxn& tx) -> Status {
                    WARDEN_ASSIGN_OR_RETURN(
                        bool a, tx.reserve_window({"a1", "p2/USD/1s", 1000, 0, "5", "5"}));
                    EXPECT_TRUE(a);
                    WARDEN_ASSIGN_OR_RETURN(
                        fits_after_move, tx.reserve_window({"a1", "p2/USD/1s", 2000, 1500, "5", "5"}));
                    WARDEN_ASSIGN_OR_RETURN(
                        over, tx.reserve_window({"a1", "p2/USD/1s", 2001, 1500, "1", "5"}));
                    return Status();
                  })
                  .ok());
  EXPECT_TRUE(fits_after_move);
  EXPECT_FALSE(over);
  // What was written agrees with what was decided.
  auto conn = Connection::connect(test_config("owner", "t_store_windows"));
  ASSERT_TRUE(conn.ok());
  auto totals = (*conn)->exec(
      "SELECT meter, total, (SELECT sum(amount) FROM window_buckets b WHERE b.meter = w.meter) "
      "FROM window_totals w ORDER BY meter");
  ASSERT_TRUE(totals.ok()) << totals.status().to_string();
  ASSERT_EQ(totals->size(), 2);
  EXPECT_EQ(totals->text(0, 1), "99");
  EXPECT_EQ(totals->text(0, 2), "99");
  EXPECT_EQ(totals->text(1, 1), "5");
  EXPECT_EQ(totals->text(1, 2), "5");
}

}  // namespace
}  // namespace warden::store::postgres
