// The schema the migrations build: tables and columns, indexes, every CHECK constraint (looping
// over the C++ enum lists so the tests follow them), and every foreign-key behaviour.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>

#include <map>
#include <span>

#include "core/enums.h"
#include "store/sqlite/compact.h"
#include "store/sqlite/sqlite_store.h"
#include "store/sqlite/test_util.h"

namespace warden::store {
namespace {

using testing::open_store;
using testing::RawDb;
using testing::sample_agent;
using testing::sample_event;
using testing::sample_session;
using testing::TempDir;

class SchemaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = open_store(path_);
    ASSERT_NE(store_, nullptr);
    raw_ = std::make_unique<RawDb>(path_);
  }
  // A minimal agent, session and transaction for rows that need a parent. transactions stores
  // agents' and sessions' integer keys and its enums as codes (migration 13): 'solana' and
  // 'TRANSFER' are 0.
  void add_parents() {
    ASSERT_EQ(raw_->exec("INSERT INTO agents (id, name, chain, network, status, created_at, "
                         "updated_at) VALUES ('a0', 'n', 'solana', 'devnet', 'ACTIVE', 1, 1);"
                         "INSERT INTO sessions (id, agent_id, token_hash, expires_at, "
                         "absolute_expires_at, created_at) VALUES ('s0', 'a0', 'h', 2, 3, 1);"
                         "INSERT INTO transactions (id, agent_id, session_id, chain, type, "
                         "created_at) VALUES ('t0', (SELECT id_key FROM agents WHERE id = 'a0'), "
                         "(SELECT id_key FROM sessions WHERE id = 's0'), 0, 0, 1);"),
              SQLITE_OK)
        << raw_->error();
  }
  std::int64_t count(std::string_view table, std::string_view where = "1") {
    return raw_->integer(fmt::format("SELECT COUNT(*) FROM {} WHERE {}", table, where));
  }

  TempDir dir_;
  std::string path_ = dir_.file("schema.db");
  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<RawDb> raw_;
};

TEST_F(SchemaTest, AllTablesHaveTheirColumns) {
  const std::map<std::string, std::vector<std::string>> expected = {
      {"agents",
       {"id", "name", "chain", "network", "public_key", "status", "owner_address", "owner_verified",
        "created_at", "updated_at", "suspended_at", "suspension_reason"}},
      {"sessions",
       {"id", "agent_id", "token_hash", "expires_at", "constraints", "usage_stats", "revoked_at",
        "renewal_count", "max_renewals", "last_renewed_at", "absolute_expires_at", "created_at"}},
      {"transactions",
       {"id",
        "agent_id",
        "session_id",
        "chain",
        "tx_hash",
        "type",
        "amount",
        "to_address",
        "token_mint",
        "contract_address",
        "method_signature",
        "spender_address",
        "approved_amount",
        "parent_id",
        "batch_index",
        "status",
        "tier",
        "queued_at",
        "executed_at",
        "created_at",
        "reserved_amount",
        "error",
        "metadata"}},
      {"policies",
       {"id", "agent_id", "type", "rules", "priority", "enabled", "version", "hash", "created_at",
        "updated_at"}},
      {"pending_approvals",
       {"id", "tx_id", "required_by", "expires_at", "approved_at", "rejected_at", "owner_signature",
        "created_at"}},
      {"audit_log",
       {"id", "timestamp", "event_type", "actor", "agent_id", "session_id", "tx_id", "details",
        "severity", "ip_address", "correlation_id", "prev_hash", "hash"}},
      {"key_value_store", {"key", "value", "updated_at"}},
      {"schema_version", {"version", "name", "applied_at"}},
  };
  // Later migrations may append columns; these must all be there, in this order, first.
  for (const auto& [table, columns] : expected) {
    std::vector<std::string> actual =
        raw_->column(fmt::format("SELECT name FROM pragma_table_info('{}') ORDER BY cid", table));
    ASSERT_GE(actual.size(), columns.size()) << table;
    actual.resize(columns.size());
    EXPECT_EQ(actual, columns) << table;
  }
  // Deliberate choices: nullable public key, integer timestamps, policies start at version 1.
  EXPECT_EQ(raw_->text("SELECT \"notnull\" FROM pragma_table_info('agents') WHERE "
                       "name = 'public_key'"),
            "0");
  EXPECT_EQ(raw_->text("SELECT type FROM pragma_table_info('audit_log') WHERE "
                       "name = 'timestamp'"),
            "INTEGER");
  EXPECT_EQ(raw_->text("SELECT dflt_value FROM pragma_table_info('policies') WHERE "
                       "name = 'version'"),
            "1");
}

TEST_F(SchemaTest, IndexesExistAndUniqueOnesAreUnique) {
  const std::map<std::string, bool> indexes = {{"idx_agents_public_key", true},
                                               {"idx_agents_status", false},
                                               {"idx_agents_chain_network", false},
                                               {"idx_agents_owner_address", false},
                                               {"idx_sessions_agent_id", false},
                                               {"idx_sessions_expires_at", false},
                                               {"idx_sessions_token_hash", false},
                                               {"idx_transactions_agent_status", false},
                                               {"idx_transactions_agent_chain_tx_hash", true},
                                               {"idx_transactions_queued_at", false},
                                               {"idx_transactions_created_at", false},
                                               {"idx_transactions_contract_address", false},
                                               {"idx_transactions_parent_id", false},
                                               {"idx_policies_agent_enabled", false},
                                               {"idx_policies_type", false},
                                               {"idx_policies_hash", true},
                                               {"idx_pending_approvals_tx_id", false},
                                               {"idx_pending_approvals_expires_at", false},
                                               {"idx_audit_log_event_type", false},
                                               {"idx_audit_log_agent", false}};
  for (const auto& [name, unique] : indexes) {
    std::string table = raw_->text(fmt::format(
        "SELECT tbl_name FROM sqlite_master WHERE type = 'index' AND name = '{}'", name));
    ASSERT_FALSE(table.empty()) << name;
    EXPECT_EQ(raw_->text(fmt::format("SELECT \"unique\" FROM pragma_index_list('{}') WHERE "
                                     "name = '{}'",
                                     table, name)),
              unique ? "1" : "0")
        << name;
  }
}

TEST_F(SchemaTest, HotTablesCarryOnlyTheIndexesTheirQueriesUse) {
  // Migration 3: no index on a handful of values, none repeating another's prefix, and partial
  // indexes for columns a fresh decision leaves NULL. Migration 10: none that no query reads.
  for (const char* gone : {"idx_transactions_type", "idx_audit_log_agent_id",
                           "idx_audit_log_severity", "idx_audit_log_timestamp",
                           "idx_transactions_session_id", "idx_audit_log_agent_timestamp"}) {
    EXPECT_EQ(raw_->text(fmt::format(
                  "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = '{}'", gone)),
              "0")
        << gone;
  }
  for (const char* partial : {"idx_transactions_agent_chain_tx_hash", "idx_transactions_queued_at",
                              "idx_transactions_contract_address", "idx_transactions_parent_id",
                              "idx_transactions_agent_idempotency"}) {
    EXPECT_EQ(raw_->text(fmt::format("SELECT partial FROM pragma_index_list('transactions') "
                                     "WHERE name = '{}'",
                                     partial)),
              "1")
        << partial;
  }
  EXPECT_EQ(raw_->text("SELECT count(*) FROM pragma_index_list('transactions')"), "9");
  // CHECKs as comparisons: an IN list would make SQLite build a scratch b-tree on every insert.
  for (const char* insert :
       {"INSERT INTO transactions (id, agent_id, chain, type, status, tier, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        "INSERT INTO audit_log (id, timestamp, event_type, actor, details, severity, prev_hash, "
        "hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"}) {
    const auto ops = raw_->column(fmt::format("EXPLAIN {}", insert), 1);
    EXPECT_EQ(std::count(ops.begin(), ops.end(), "OpenEphemeral"), 0) << insert;
    EXPECT_EQ(std::count(ops.begin(), ops.end(), "Insert"), 1) << insert;
  }
  EXPECT_EQ(raw_->text("SELECT count(*) FROM pragma_index_list('audit_log')"), "2");
}

// One CHECKed column: an INSERT template with {id} and {v} (an SQL literal) placeholders.
struct CheckCase {
  std::string column;
  std::string insert;
  std::vector<std::string> good;  // SQL literals that must be accepted
  std::vector<std::string> bad;   // SQL literals that must be rejected
};

std::vector<std::string> quoted(std::span<const std::string_view> values) {
  std::vector<std::string> out;
  for (std::string_view v : values) out.push_back(fmt::format("'{}'", v));
  return out;
}

// A coded enum column's (store/sqlite/compact.h) accepted values: the codes 0 .. n - 1.
std::vector<std::string> codes(std::size_t n) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back(std::to_string(i));
  return out;
}

std::vector<CheckCase> check_cases() {
  const std::string agent =
      "INSERT INTO agents (id, name, chain, network, status, owner_verified, created_at, "
      "updated_at) VALUES ('{id}', 'n', {chain}, {network}, {status}, {verified}, 1, 1)";
  const std::string tx =
      "INSERT INTO transactions (id, agent_id, chain, type, status, tier, created_at) "
      "VALUES ('{id}', (SELECT id_key FROM agents WHERE id = 'a0'), {chain}, {type}, {status}, "
      "{tier}, 1)";
  const std::string policy =
      "INSERT INTO policies (id, type, rules, enabled, hash, created_at, updated_at) "
      "VALUES ('{id}', {type}, '{}', {enabled}, '{id}', 1, 1)";
  const std::string audit =
      "INSERT INTO audit_log (timestamp, event_type, actor, details, severity, prev_hash, hash) "
      "VALUES (1, 'E', 'a', '{}', {v}, 'p', '{id}')";
  // Fill every placeholder but the one under test with a valid value.
  auto fix = [](std::string sql, std::map<std::string, std::string> others) {
    for (const auto& [name, value] : others) {
      std::string key = "{" + name + "}";
      for (auto pos = sql.find(key); pos != std::string::npos; pos = sql.find(key)) {
        sql.replace(pos, key.size(), value);
      }
    }
    return sql;
  };
  const std::map<std::string, std::string> agent_ok = {
      {"chain", "'solana'"}, {"network", "'devnet'"}, {"status", "'ACTIVE'"}, {"verified", "0"}};
  const std::map<std::string, std::string> tx_ok = {
      {"chain", "0"}, {"type", "0"}, {"status", "0"}, {"tier", "NULL"}};
  auto but = [](std::map<std::string, std::string> m, const std::string& k) {
    m[k] = "{v}";
    return m;
  };
  std::vector<std::string> tiers = codes(kPolicyTiers.size());
  tiers.push_back("NULL");  // tier is nullable
  // A coded column refuses a code past its list, a negative or fractional one, and the text it
  // stood for before (the store binds the code).
  auto coded_bad = [](std::size_t n, std::string_view text) {
    return std::vector<std::string>{std::to_string(n), "-1", "0.5", fmt::format("'{}'", text)};
  };
  return {
      {"agents.chain", fix(agent, but(agent_ok, "chain")), quoted(kChainTypes), {"'bitcoin'"}},
      {"agents.network", fix(agent, but(agent_ok, "network")), quoted(kNetworkTypes),
       {"'regtest'"}},
      {"agents.status", fix(agent, but(agent_ok, "status")), quoted(kAgentStatuses),
       {"'active'"}},
      {"agents.owner_verified", fix(agent, but(agent_ok, "verified")), {"0", "1"}, {"2"}},
      {"transactions.chain", fix(tx, but(tx_ok, "chain")), codes(kChainTypes.size()),
       coded_bad(kChainTypes.size(), "solana")},
      {"transactions.type", fix(tx, but(tx_ok, "type")), codes(kTransactionTypes.size()),
       coded_bad(kTransactionTypes.size(), "TRANSFER")},
      {"transactions.status", fix(tx, but(tx_ok, "status")), codes(kTransactionStatuses.size()),
       coded_bad(kTransactionStatuses.size(), "PENDING")},
      {"transactions.tier", fix(tx, but(tx_ok, "tier")), tiers,
       coded_bad(kPolicyTiers.size(), "INSTANT")},
      {"policies.type", fix(policy, {{"enabled", "1"}, {"type", "{v}"}}), quoted(kPolicyTypes),
       {"'NOT_A_TYPE'"}},
      {"policies.enabled",
       fix(policy, {{"enabled", "{v}"}, {"type", "'WHITELIST'"}}),
       {"0", "1"},
       {"-1"}},
      {"audit_log.severity", audit, codes(kAuditSeverities.size()),
       coded_bad(kAuditSeverities.size(), "info")},
  };
}

TEST_F(SchemaTest, EveryCheckAcceptsItsListAndRejectsOthers) {
  add_parents();
  int n = 0;
  for (const CheckCase& c : check_cases()) {
    auto sql = [&](const std::string& v) {
      std::string s = c.insert;
      for (auto pos = s.find("{v}"); pos != std::string::npos; pos = s.find("{v}")) {
        s.replace(pos, 3, v);
      }
      for (auto pos = s.find("{id}"); pos != std::string::npos; pos = s.find("{id}")) {
        s.replace(pos, 4, "row" + std::to_string(n));
      }
      ++n;
      return s;
    };
    for (const std::string& good : c.good) {
      EXPECT_EQ(raw_->exec(sql(good)), SQLITE_OK)
          << c.column << " = " << good << ": " << raw_->error();
    }
    for (const std::string& bad : c.bad) {
      EXPECT_EQ(raw_->exec(sql(bad)), SQLITE_CONSTRAINT_CHECK) << c.column << " = " << bad;
      EXPECT_NE(raw_->error().find("CHECK constraint failed"), std::string::npos) << c.column;
    }
  }
}

TEST_F(SchemaTest, SessionForUnknownAgentIsRejected) {
  Status s = store_->write(
      [](WriteTxn& t) { return t.insert_session(sample_session("s1", "nobody", "h1")); });
  EXPECT_EQ(s.code(), ErrorCode::STORE_CONSTRAINT);
  EXPECT_NE(s.message().find("FOREIGN KEY"), std::string::npos) << s.message();
  EXPECT_EQ(count("sessions"), 0);
}

TEST_F(SchemaTest, DeletingAnAgentCascadesToSessionsAndPolicies) {
  ASSERT_TRUE(store_
                  ->write([](WriteTxn& t) -> Status {
                    WARDEN_RETURN_IF_ERROR(t.insert_agent(sample_agent("a1", "pk1")));
                    WARDEN_RETURN_IF_ERROR(t.insert_agent(sample_agent("a2", "pk2")));
                    WARDEN_RETURN_IF_ERROR(t.insert_session(sample_session("s1", "a1", "h1")));
                    WARDEN_RETURN_IF_ERROR(t.insert_session(sample_session("s2", "a2", "h2")));
                    WARDEN_RETURN_IF_ERROR(
                        t.insert_policy(testing::sample_policy("p1", "a1", "WHITELIST", "x1")));
                    return t.insert_policy(
                        testing::sample_policy("p2", std::nullopt, "WHITELIST", "x2"));
                  })
                  .ok());
  ASSERT_EQ(raw_->exec("DELETE FROM agents WHERE id = 'a1'"), SQLITE_OK) << raw_->error();
  EXPECT_EQ(count("sessions"), 1);
  EXPECT_EQ(count("sessions", "agent_id = 'a2'"), 1);
  EXPECT_EQ(count("policies"), 1);
  EXPECT_EQ(count("policies", "id = 'p2'"), 1);  // global policies are untouched
}

TEST_F(SchemaTest, DeletingAnAgentWithTransactionsIsRestricted) {
  add_parents();
  // RESTRICT acts at once, like a trigger; SQLite reports it as SQLITE_CONSTRAINT_TRIGGER.
  EXPECT_EQ(raw_->exec("DELETE FROM agents WHERE id = 'a0'") & 0xff, SQLITE_CONSTRAINT);
  EXPECT_EQ(raw_->error(), "FOREIGN KEY constraint failed");
  EXPECT_EQ(count("agents"), 1);
  EXPECT_EQ(count("sessions"), 1);  // the cascade did not half-happen
}

TEST_F(SchemaTest, DeletingASessionNullsTransactionSessionId) {
  add_parents();
  ASSERT_EQ(raw_->exec("DELETE FROM sessions WHERE id = 's0'"), SQLITE_OK) << raw_->error();
  EXPECT_EQ(count("transactions", "id = 't0' AND session_id IS NULL"), 1);
}

TEST_F(SchemaTest, DeletingAParentTransactionCascadesToChildren) {
  add_parents();
  ASSERT_EQ(raw_->exec("INSERT INTO transactions (id, agent_id, chain, type, parent_id, "
                       "batch_index, created_at) VALUES "
                       "('t1', (SELECT id_key FROM agents), 0, 0, 't0', 0, 1), "
                       "('t2', (SELECT id_key FROM agents), 0, 0, 't0', 1, 1), "
                       "('t3', (SELECT id_key FROM agents), 0, 0, NULL, NULL, 1)"),
            SQLITE_OK)
      << raw_->error();
  ASSERT_EQ(raw_->exec("DELETE FROM transactions WHERE id = 't0'"), SQLITE_OK) << raw_->error();
  EXPECT_EQ(raw_->column("SELECT id FROM transactions"), std::vector<std::string>{"t3"});
}

TEST_F(SchemaTest, DeletingATransactionCascadesToPendingApprovals) {
  add_parents();
  ASSERT_EQ(raw_->exec("INSERT INTO pending_approvals (id, tx_id, required_by, expires_at, "
                       "created_at) VALUES ('pa1', 't0', 5, 9, 1)"),
            SQLITE_OK)
      << raw_->error();
  EXPECT_EQ(raw_->exec("INSERT INTO pending_approvals (id, tx_id, required_by, expires_at, "
                       "created_at) VALUES ('pa2', 'no-such-tx', 5, 9, 1)"),
            SQLITE_CONSTRAINT_FOREIGNKEY);
  ASSERT_EQ(raw_->exec("DELETE FROM transactions WHERE id = 't0'"), SQLITE_OK) << raw_->error();
  EXPECT_EQ(count("pending_approvals"), 0);
}

TEST_F(SchemaTest, AuditRowsSurviveAgentDeletion) {
  ASSERT_TRUE(store_
                  ->write([](WriteTxn& t) -> Status {
                    WARDEN_RETURN_IF_ERROR(t.insert_agent(sample_agent("a1", "pk1")));
                    AuditEvent e = sample_event("AGENT_CREATED", "a1");
                    e.session_id = "s-gone";
                    e.tx_id = "t-gone";
                    return t.append_audit(e).status();
                  })
                  .ok());
  ASSERT_EQ(raw_->exec("DELETE FROM agents WHERE id = 'a1'"), SQLITE_OK) << raw_->error();
  auto rows = store_->list_audit({.agent_id = "a1"});
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(rows->front().event.tx_id.value_or(""), "t-gone");
  EXPECT_FALSE(store_->verify_audit()->first_broken_id.has_value());
  EXPECT_EQ(raw_->integer("SELECT COUNT(*) FROM pragma_foreign_key_list('audit_log')"), 0);
}

// Migration 13: transactions store agents' and sessions' integer keys, and the foreign keys
// hold on them as they held on the ids.
TEST_F(SchemaTest, TransactionsReferenceAgentsAndSessionsByTheirKeys) {
  ASSERT_TRUE(store_
                  ->write([](WriteTxn& t) -> Status {
                    WARDEN_RETURN_IF_ERROR(t.insert_agent(sample_agent("a1", "pk1")));
                    WARDEN_RETURN_IF_ERROR(t.insert_agent(sample_agent("a2", "pk2")));
                    return t.insert_session(sample_session("s1", "a1", "h1"));
                  })
                  .ok());
  // Keys are made on insert, one per id, never reused.
  EXPECT_EQ(raw_->column("SELECT a.id FROM agents a JOIN id_keys k ON k.key = a.id_key AND "
                         "k.id = a.id ORDER BY a.id_key"),
            (std::vector<std::string>{"a1", "a2"}));
  EXPECT_EQ(raw_->text("SELECT k.id FROM sessions s JOIN id_keys k ON k.key = s.id_key"), "s1");
  const std::string a2_key = raw_->text("SELECT id_key FROM agents WHERE id = 'a2'");
  ASSERT_EQ(raw_->exec("DELETE FROM agents WHERE id = 'a2'"), SQLITE_OK) << raw_->error();
  ASSERT_TRUE(
      store_->write([](WriteTxn& t) { return t.insert_agent(sample_agent("a3", "pk3")); }).ok());
  EXPECT_NE(raw_->text("SELECT id_key FROM agents WHERE id = 'a3'"), a2_key);
  ASSERT_TRUE(
      store_->write([](WriteTxn& t) { return t.insert_agent(sample_agent("a2", "pk2")); }).ok());
  EXPECT_EQ(raw_->text("SELECT id_key FROM agents WHERE id = 'a2'"), a2_key);

  // A key that is no agent's (here: a session's) or no session's is refused.
  const std::string s1_key = raw_->text("SELECT id_key FROM sessions WHERE id = 's1'");
  EXPECT_EQ(raw_->exec(fmt::format("INSERT INTO transactions (id, agent_id, chain, type, "
                                   "created_at) VALUES ('t9', {}, 0, 0, 1)",
                                   s1_key)),
            SQLITE_CONSTRAINT_FOREIGNKEY);
  EXPECT_EQ(raw_->exec(fmt::format("INSERT INTO transactions (id, agent_id, session_id, chain, "
                                   "type, created_at) VALUES ('t9', {}, {}, 0, 0, 1)",
                                   a2_key, a2_key)),
            SQLITE_CONSTRAINT_FOREIGNKEY);
  // Through the store: an unknown agent or session id fails as a foreign key, as before.
  TransactionRow tx;
  tx.id = "t1";
  tx.agent_id = "a1";
  tx.session_id = "s1";
  tx.chain = "solana";
  tx.type = "TRANSFER";
  tx.status = "PENDING";
  tx.created_at = 1;
  for (auto [agent, session] : {std::pair<std::string, std::string>{"nobody", "s1"},
                                std::pair<std::string, std::string>{"a1", "no-session"},
                                std::pair<std::string, std::string>{"s1", "s1"}}) {
    TransactionRow bad = tx;
    bad.agent_id = agent;
    bad.session_id = session;
    Status s = store_->write([&](WriteTxn& t) { return t.insert_transaction(bad); });
    EXPECT_EQ(s.code(), ErrorCode::STORE_CONSTRAINT) << agent << " " << session;
    EXPECT_NE(s.message().find("FOREIGN KEY"), std::string::npos) << s.message();
  }
  EXPECT_EQ(count("transactions"), 0);
  ASSERT_TRUE(store_->write([&](WriteTxn& t) { return t.insert_transaction(tx); }).ok());
  auto got = store_->get_transaction("t1");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->agent_id, "a1");
  EXPECT_EQ((*got)->session_id.value_or(""), "s1");
  EXPECT_EQ(store_->list_transactions({.agent_id = "a1"}, {})->size(), 1u);
  EXPECT_EQ(store_->list_transactions({.agent_id = "a2"}, {})->size(), 0u);
  EXPECT_EQ(store_->list_transactions({.agent_id = "never-seen"}, {})->size(), 0u);
  // An update moving it to another agent and no session.
  TransactionRow moved = **got;
  moved.agent_id = "a2";
  moved.session_id.reset();
  ASSERT_TRUE(store_->write([&](WriteTxn& t) { return t.update_transaction(moved); }).ok());
  EXPECT_EQ(store_->get_transaction("t1")->value().agent_id, "a2");
  EXPECT_FALSE(store_->get_transaction("t1")->value().session_id.has_value());
  EXPECT_EQ(count("transactions", "agent_id = " + a2_key + " AND session_id IS NULL"), 1);
}

// Migration 13: an audit row stores prev_hash only when the row before it does not give it, and
// deleting rows from the front (archival) leaves the first one left naming the chain before it.
TEST_F(SchemaTest, PrevHashIsStoredOnlyWhereTheRowBeforeDoesNotGiveIt) {
  ASSERT_TRUE(store_
                  ->write([](WriteTxn& t) -> Status {
                    for (int i = 0; i < 5; ++i) {
                      WARDEN_RETURN_IF_ERROR(t.append_audit(sample_event("TX_DECIDED", "a1")).status());
                    }
                    return Status();
                  })
                  .ok());
  EXPECT_EQ(raw_->column("SELECT typeof(prev_hash) FROM audit_log ORDER BY id"),
            (std::vector<std::string>{"blob", "null", "null", "null", "null"}));
  auto before = store_->list_audit({});
  ASSERT_TRUE(before.ok());
  ASSERT_EQ(before->size(), 5u);
  EXPECT_EQ((*before)[0].prev_hash, kAuditGenesisHash);
  for (int i = 1; i < 5; ++i) EXPECT_EQ((*before)[i].prev_hash, (*before)[i - 1].hash);
  ASSERT_EQ(raw_->exec("DELETE FROM audit_log WHERE id <= 2"), SQLITE_OK) << raw_->error();
  EXPECT_EQ(raw_->column("SELECT typeof(prev_hash) FROM audit_log ORDER BY id"),
            (std::vector<std::string>{"blob", "null", "null"}));
  auto after = store_->list_audit({});
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ((*after)[i].id, (*before)[i + 2].id);
    EXPECT_EQ((*after)[i].prev_hash, (*before)[i + 2].prev_hash) << i;
    EXPECT_EQ((*after)[i].hash, (*before)[i + 2].hash) << i;
  }
  // Rows appended now still link to the tail.
  ASSERT_TRUE(store_
                  ->write([](WriteTxn& t) {
                    return t.append_audit(sample_event("TX_CONFIRMED", "a1")).status();
                  })
                  .ok());
  auto last = store_->list_audit({.after_id = 5});
  ASSERT_EQ(last->size(), 1u);
  EXPECT_EQ(last->front().prev_hash, (*before)[4].hash);
  EXPECT_EQ(raw_->text("SELECT typeof(prev_hash) FROM audit_log WHERE id = 6"), "null");
}

// Every value the enums of core/enums.h allow in a coded column has a code (compact.h), so the
// store never binds one as text that the column's CHECK would refuse.
TEST(CodedColumns, EveryEnumValueHasACodeThatReadsBack) {
  using sqlite::Coded;
  const std::pair<Coded, std::span<const std::string_view>> columns[] = {
      {Coded::kChain, kChainTypes},
      {Coded::kTransactionType, kTransactionTypes},
      {Coded::kTransactionStatus, kTransactionStatuses},
      {Coded::kTier, kPolicyTiers},
      {Coded::kAuditSeverity, kAuditSeverities}};
  for (const auto& [column, values] : columns) {
    EXPECT_EQ(sqlite::coded_values(column).size(), values.size());
    for (std::string_view v : values) {
      auto code = sqlite::code_of(column, v);
      ASSERT_TRUE(code.has_value()) << v;
      EXPECT_EQ(*sqlite::value_of(column, *code), v);
    }
    EXPECT_FALSE(sqlite::value_of(column, static_cast<std::int64_t>(values.size())).ok());
    EXPECT_FALSE(sqlite::value_of(column, -1).ok());
  }
  // The file format: the commonest values first (codes 0 and 1 take no byte in a record).
  EXPECT_EQ(sqlite::code_of(Coded::kTransactionStatus, "PENDING"), 0);
  EXPECT_EQ(sqlite::code_of(Coded::kAuditEventType, "TX_DECIDED"), 0);
  EXPECT_EQ(sqlite::code_of(Coded::kAuditEventType, "TX_CONFIRMED"), 1);
  EXPECT_EQ(sqlite::code_of(Coded::kAuditSeverity, "info"), 0);
  EXPECT_FALSE(sqlite::code_of(Coded::kAuditEventType, "SOMETHING_NEW").has_value());
}

}  // namespace
}  // namespace warden::store
