// Tenant isolation in PostgreSQL (src/store/postgres/migrate.cc, "Tenant isolation"): raw SQL as
// the application role against the row-level security policies, then PostgresStore, which sets
// the context itself. Each test case migrates its own database as the owner role; the owner also
// seeds the rows, past the policies (they are not forced on it).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "store/postgres/migrate.h"
#include "store/postgres/pg.h"
#include "store/postgres/pg_store.h"
#include "test_env.h"

namespace warden::store::postgres {
namespace {

constexpr std::string_view kNoContext = "no tenant context";
constexpr std::string_view kPolicyViolation = "violates row-level security policy";

std::unique_ptr<Connection> connect_as(const std::string& role, std::string_view db) {
  auto c = Connection::connect(test_config(role, db));
  EXPECT_TRUE(c.ok()) << c.status().to_string();
  return c.ok() ? std::move(c).value() : nullptr;
}

// Two orgs with an agent each, and an agent of no org; each agent with a session, a transaction
// awaiting approval, a policy, a lot with a credit entry, an audit row; one global policy.
constexpr std::string_view kSeed = R"sql(
INSERT INTO orgs (id, name, created_at) VALUES ('org-a', 'A', 1), ('org-b', 'B', 1);
INSERT INTO agents (id, name, chain, network, created_at, updated_at, org) VALUES
  ('agent-a', 'a', 'solana', 'devnet', 1, 1, 'org-a'),
  ('agent-b', 'b', 'solana', 'devnet', 1, 1, 'org-b'),
  ('agent-n', 'n', 'solana', 'devnet', 1, 1, NULL);
INSERT INTO sessions (id, agent_id, token_hash, expires_at, absolute_expires_at, created_at)
  SELECT 's-' || id, id, 'h-' || id, 9, 9, 1 FROM agents;
INSERT INTO transactions (id, agent_id, chain, type, created_at)
  SELECT 'tx-' || id, id, 'solana', 'TRANSFER', 1 FROM agents;
INSERT INTO pending_approvals (id, tx_id, required_by, expires_at, created_at)
  SELECT 'ap-' || id, 'tx-' || id, 1, 9, 1 FROM agents;
INSERT INTO policies (id, agent_id, type, rules, hash, created_at, updated_at)
  SELECT 'p-' || id, id, 'SPENDING_LIMIT', '{}', 'hash-' || id, 1, 1 FROM agents;
INSERT INTO policies (id, agent_id, type, rules, hash, created_at, updated_at)
  VALUES ('p-global', NULL, 'SPENDING_LIMIT', '{}', 'hash-global', 1, 1);
INSERT INTO ledger_ops (id, kind, request_hash, result, created_at)
  VALUES ('op-seed', 'mint', 'h', '{}', 1);
INSERT INTO credit_lots (id, owner, source, amount, currency, created_at)
  SELECT 'lot-' || id, id, 'grant', 100, 'USD', 1 FROM agents;
INSERT INTO lot_entries (lot_id, owner, currency, entry_type, amount, op_id, created_at)
  SELECT 'lot-' || id, id, 'USD', 'credit', 100, 'op-seed', 1 FROM agents;
INSERT INTO audit_log (id, timestamp, event_type, actor, agent_id, details, prev_hash, hash)
  SELECT row_number() OVER (ORDER BY id), 1, 'TEST', 'system', id, '{}', 'p', 'h' FROM agents;
)sql";

class RlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (server_env().empty()) {
      GTEST_FAIL() << "WARDEN_PG_TEST_ENV names no server file: run through ctest, whose "
                      "postgres_server fixture starts the server";
    }
  }

  // Migrates and seeds `db` as the owner; connects as the application role, no context set.
  void open(std::string_view db) {
    owner_ = connect_as("owner", db);
    ASSERT_NE(owner_, nullptr);
    Result<int> applied = migrate(*owner_);
    ASSERT_TRUE(applied.ok()) << applied.status().to_string();
    Status seeded = owner_->exec_script(kSeed);
    ASSERT_TRUE(seeded.ok()) << seeded.to_string();
    app_ = connect_as("app", db);
    ASSERT_NE(app_, nullptr);
  }

  // `sql` in a transaction of its own under `org`'s context, set as the daemon sets it (local to
  // the transaction); committed when `commit` and it succeeded, else rolled back.
  Result<Rows> in_context(std::string_view org, std::string_view sql, bool commit = false) {
    EXPECT_TRUE(app_->exec("BEGIN").ok());
    auto set = app_->exec("SELECT set_config('app.org_id', $1, true)", {std::string(org)});
    EXPECT_TRUE(set.ok()) << set.status().to_string();
    Result<Rows> rows = app_->exec(sql);
    EXPECT_TRUE(app_->exec(commit && rows.ok() ? "COMMIT" : "ROLLBACK").ok());
    return rows;
  }

  // The first column of every row, comma-separated; the error's message when it failed.
  std::string column(std::string_view org, std::string_view sql) {
    Result<Rows> rows = in_context(org, sql);
    if (!rows.ok()) return "error: " + rows.status().message();
    std::string out;
    for (int r = 0; r < rows->size(); ++r) {
      if (r > 0) out += ',';
      out += rows->view(r, 0);
    }
    return out;
  }

  // How many rows a statement changed under `org`, or -1 when it failed.
  long changed(std::string_view org, std::string_view sql) {
    Result<Rows> rows = in_context(org, sql);
    return rows.ok() ? rows->affected() : -1;
  }

  // The error of a statement that must fail under `org` (empty when it succeeded).
  std::string refusal(std::string_view org, std::string_view sql) {
    Result<Rows> rows = in_context(org, sql);
    EXPECT_FALSE(rows.ok()) << sql;
    return rows.ok() ? "" : rows.status().message();
  }

  std::unique_ptr<Connection> owner_;
  std::unique_ptr<Connection> app_;
};

bool contains(const std::string& s, std::string_view part) {
  return s.find(part) != std::string::npos;
}

TEST_F(RlsTest, WithoutAContextQueriesRaiseRatherThanSeeNothing) {
  open("t_rls_unset");
  for (std::string_view table :
       {"agents", "transactions", "credit_lots", "lot_entries", "sessions", "policies",
        "pending_approvals", "orgs", "audit_log", "ledger_ops", "lot_balances"}) {
    auto rows = app_->exec(fmt::format("SELECT count(*) FROM {}", table));
    ASSERT_FALSE(rows.ok()) << table << " answered " << rows->text(0, 0);
    EXPECT_TRUE(contains(rows.status().message(), kNoContext)) << rows.status().message();
  }
  auto insert = app_->exec(
      "INSERT INTO agents (id, name, chain, network, created_at, updated_at, org) "
      "VALUES ('agent-x', 'x', 'solana', 'devnet', 1, 1, 'org-a')");
  ASSERT_FALSE(insert.ok());
  EXPECT_TRUE(contains(insert.status().message(), kNoContext)) << insert.status().message();
  // An empty setting is no context either.
  ASSERT_TRUE(app_->exec_script("SET app.org_id = ''").ok());
  auto empty = app_->exec("SELECT id FROM agents");
  ASSERT_FALSE(empty.ok());
  EXPECT_TRUE(contains(empty.status().message(), kNoContext));
  // A context set for a transaction ends with it.
  ASSERT_TRUE(app_->exec_script("RESET app.org_id").ok());
  EXPECT_EQ(column("*", "SELECT count(*) FROM agents"), "3");
  auto after = app_->exec("SELECT id FROM agents");
  ASSERT_FALSE(after.ok());
  EXPECT_TRUE(contains(after.status().message(), kNoContext));
}

TEST_F(RlsTest, AnOrgSeesOnlyItsOwnRows) {
  open("t_rls_read");
  EXPECT_EQ(column("org-a", "SELECT id FROM orgs ORDER BY id"), "org-a");
  EXPECT_EQ(column("org-a", "SELECT id FROM agents ORDER BY id"), "agent-a");
  EXPECT_EQ(column("org-a", "SELECT id FROM sessions ORDER BY id"), "s-agent-a");
  EXPECT_EQ(column("org-a", "SELECT id FROM transactions ORDER BY id"), "tx-agent-a");
  EXPECT_EQ(column("org-a", "SELECT id FROM pending_approvals ORDER BY id"), "ap-agent-a");
  // Global policies (no agent) are the daemon's, not an org's.
  EXPECT_EQ(column("org-a", "SELECT id FROM policies ORDER BY id"), "p-agent-a");
  EXPECT_EQ(column("org-a", "SELECT id FROM credit_lots ORDER BY id"), "lot-agent-a");
  EXPECT_EQ(column("org-a", "SELECT lot_id FROM lot_entries ORDER BY id"), "lot-agent-a");
  EXPECT_EQ(column("org-a", "SELECT agent_id FROM audit_log ORDER BY id"), "agent-a");
  // The view reads its tables as the caller.
  EXPECT_EQ(column("org-a", "SELECT id || '=' || remaining FROM lot_balances ORDER BY id"),
            "lot-agent-a=100");
  EXPECT_EQ(column("org-b", "SELECT id FROM agents ORDER BY id"), "agent-b");
  // Asking for B's rows by id finds nothing, through every path.
  EXPECT_EQ(column("org-a", "SELECT id FROM agents WHERE id = 'agent-b'"), "");
  EXPECT_EQ(column("org-a",
                   "SELECT count(*) FROM transactions t JOIN agents a ON "
                   "a.id = t.agent_id WHERE t.agent_id = 'agent-b'"),
            "0");
  // Rows of the daemon alone: no org sees them.
  EXPECT_EQ(column("org-a", "SELECT count(*) FROM ledger_ops"), "0");
  // An org that does not exist sees nothing at all.
  EXPECT_EQ(column("org-z", "SELECT count(*) FROM agents"), "0");
}

// A table a later migration adds without a policy would be open to every org: this names it.
TEST_F(RlsTest, EveryTableButSchemaVersionHasRowLevelSecurityAndAPolicy) {
  open("t_rls_coverage");
  auto open_tables = owner_->exec(
      "SELECT coalesce(string_agg(c.relname, ',' ORDER BY c.relname), '') FROM pg_class c "
      "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') "
      "AND (NOT c.relrowsecurity OR NOT EXISTS (SELECT 1 FROM pg_policy p "
      "WHERE p.polrelid = c.oid AND p.polname = 'tenant'))");
  ASSERT_TRUE(open_tables.ok()) << open_tables.status().to_string();
  EXPECT_EQ(open_tables->text(0, 0), "schema_version");
  auto views = owner_->exec(
      "SELECT string_agg(c.relname || '=' || coalesce(array_to_string(c.reloptions, ','), ''), "
      "';') FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'v'");
  ASSERT_TRUE(views.ok());
  EXPECT_EQ(views->text(0, 0), "lot_balances=security_invoker=true");
}

TEST_F(RlsTest, StarSeesEveryOrgAndTheRowsOfNone) {
  open("t_rls_star");
  EXPECT_EQ(column("*", "SELECT id FROM orgs ORDER BY id"), "org-a,org-b");
  EXPECT_EQ(column("*", "SELECT id FROM agents ORDER BY id"), "agent-a,agent-b,agent-n");
  EXPECT_EQ(column("*", "SELECT id FROM transactions ORDER BY id"),
            "tx-agent-a,tx-agent-b,tx-agent-n");
  EXPECT_EQ(column("*", "SELECT id FROM policies ORDER BY id"),
            "p-agent-a,p-agent-b,p-agent-n,p-global");
  EXPECT_EQ(column("*", "SELECT count(*) FROM lot_entries"), "3");
  EXPECT_EQ(column("*", "SELECT count(*) FROM ledger_ops"), "1");
}

TEST_F(RlsTest, AnOrgCannotChangeOrAddAnotherOrgsRows) {
  open("t_rls_write");
  // B's rows are invisible to A's UPDATE and DELETE: nothing changes.
  EXPECT_EQ(changed("org-a", "UPDATE agents SET name = 'taken' WHERE id = 'agent-b'"), 0);
  EXPECT_EQ(changed("org-a",
                    "UPDATE transactions SET status = 'REJECTED' "
                    "WHERE id = 'tx-agent-b'"),
            0);
  EXPECT_EQ(changed("org-a", "UPDATE sessions SET revoked_at = 5 WHERE id = 's-agent-b'"), 0);
  EXPECT_EQ(changed("org-a", "UPDATE policies SET priority = 9"), 1);  // its own only
  EXPECT_EQ(changed("org-a", "DELETE FROM policies WHERE id IN ('p-agent-b', 'p-global')"), 0);
  EXPECT_EQ(changed("org-a",
                    "UPDATE credit_lots SET status = 'depleted' "
                    "WHERE id = 'lot-agent-b'"),
            0);
  EXPECT_EQ(changed("org-a",
                    "UPDATE pending_approvals SET approved_at = 5 "
                    "WHERE id = 'ap-agent-b'"),
            0);
  EXPECT_EQ(column("*", "SELECT name FROM agents WHERE id = 'agent-b'"), "b");
  EXPECT_EQ(column("*", "SELECT count(*) FROM policies"), "4");

  // Rows for B (or for no org) refused by WITH CHECK.
  const std::vector<std::string> foreign = {
      "INSERT INTO agents (id, name, chain, network, created_at, updated_at, org) "
      "VALUES ('agent-x', 'x', 'solana', 'devnet', 1, 1, 'org-b')",
      "INSERT INTO agents (id, name, chain, network, created_at, updated_at) "
      "VALUES ('agent-x', 'x', 'solana', 'devnet', 1, 1)",
      "INSERT INTO transactions (id, agent_id, chain, type, created_at) "
      "VALUES ('tx-x', 'agent-b', 'solana', 'TRANSFER', 1)",
      "INSERT INTO sessions (id, agent_id, token_hash, expires_at, absolute_expires_at, "
      "created_at) VALUES ('s-x', 'agent-b', 'h-x', 9, 9, 1)",
      "INSERT INTO policies (id, agent_id, type, rules, hash, created_at, updated_at) "
      "VALUES ('p-x', 'agent-b', 'SPENDING_LIMIT', '{}', 'hash-x', 1, 1)",
      "INSERT INTO policies (id, agent_id, type, rules, hash, created_at, updated_at) "
      "VALUES ('p-x', NULL, 'SPENDING_LIMIT', '{}', 'hash-x', 1, 1)",
      "INSERT INTO credit_lots (id, owner, source, amount, currency, created_at) "
      "VALUES ('lot-x', 'agent-b', 'grant', 5, 'USD', 1)",
      "INSERT INTO lot_entries (lot_id, owner, currency, entry_type, amount, op_id, created_at) "
      "VALUES ('lot-agent-b', 'agent-b', 'USD', 'credit', 5, 'op-seed', 1)",
      "INSERT INTO orgs (id, name, created_at) VALUES ('org-x', 'X', 1)",
      "INSERT INTO ledger_ops (id, kind, request_hash, result, created_at) "
      "VALUES ('op-x', 'mint', 'h', '{}', 1)",
  };
  for (const std::string& sql : foreign) {
    EXPECT_TRUE(contains(refusal("org-a", sql), kPolicyViolation)) << sql;
  }
  // Nor may A move its own rows to B.
  EXPECT_TRUE(contains(refusal("org-a", "UPDATE agents SET org = 'org-b' WHERE id = 'agent-a'"),
                       kPolicyViolation));
  EXPECT_TRUE(contains(refusal("org-a",
                               "UPDATE transactions SET agent_id = 'agent-b' "
                               "WHERE id = 'tx-agent-a'"),
                       kPolicyViolation));

  // Its own rows it writes.
  ASSERT_TRUE(in_context("org-a",
                         "INSERT INTO transactions (id, agent_id, chain, type, created_at) "
                         "VALUES ('tx-a2', 'agent-a', 'solana', 'TRANSFER', 2)",
                         true)
                  .ok());
  ASSERT_TRUE(in_context("org-a",
                         "INSERT INTO lot_entries (lot_id, owner, currency, entry_type, amount, "
                         "op_id, created_at) VALUES ('lot-agent-a', 'agent-a', 'USD', 'debit', "
                         "30, 'op-seed', 2)",
                         true)
                  .ok());
  EXPECT_EQ(column("org-a", "SELECT id FROM transactions ORDER BY id"), "tx-a2,tx-agent-a");
  EXPECT_EQ(column("org-a", "SELECT remaining FROM lot_balances"), "70");
}

TEST_F(RlsTest, TheContextFunctionsTellNothingTheContextHides) {
  open("t_rls_functions");
  EXPECT_EQ(column("*", "SELECT app.agent_org('agent-b')"), "org-b");
  EXPECT_EQ(column("org-b", "SELECT app.agent_org('agent-b')"), "org-b");
  EXPECT_EQ(column("org-a", "SELECT coalesce(app.agent_org('agent-b'), 'none')"), "none");
  EXPECT_EQ(column("org-a", "SELECT coalesce(app.tx_org('tx-agent-b'), 'none')"), "none");
  EXPECT_EQ(column("org-a", "SELECT app.current_org_id()"), "org-a");
  auto unset = app_->exec("SELECT app.current_org_id()");
  ASSERT_FALSE(unset.ok());
  EXPECT_TRUE(contains(unset.status().message(), kNoContext));
}

TEST_F(RlsTest, LedgerEntriesAndAuditRowsStayAppendOnlyEvenForStar) {
  open("t_rls_append_only");
  for (std::string_view sql :
       {"UPDATE lot_entries SET amount = 1", "DELETE FROM lot_entries",
        "UPDATE audit_log SET actor = 'intruder'", "DELETE FROM audit_log"}) {
    EXPECT_TRUE(contains(refusal("*", sql), "permission denied")) << sql;
  }
  EXPECT_EQ(column("*", "SELECT count(*) || '/' || min(amount) FROM lot_entries"), "3/100");
  EXPECT_EQ(column("*", "SELECT count(*) FROM audit_log WHERE actor = 'system'"), "3");
}

TEST_F(RlsTest, TheAppRoleCannotLiftThePoliciesOrCreateObjects) {
  open("t_rls_ddl");
  ASSERT_TRUE(act_for_all_orgs(*app_).ok());
  EXPECT_EQ(column("*", "SELECT rolbypassrls::text FROM pg_roles WHERE rolname = current_user"),
            "false");
  const std::vector<std::string> owner_only = {
      "ALTER TABLE agents DISABLE ROW LEVEL SECURITY",
      "ALTER TABLE agents NO FORCE ROW LEVEL SECURITY",
      "DROP POLICY tenant ON agents",
      "CREATE POLICY open ON agents USING (true)",
      "ALTER POLICY tenant ON agents USING (true)",
      "ALTER VIEW lot_balances SET (security_invoker = false)",
      "ALTER TABLE lot_entries DISABLE TRIGGER USER",
  };
  for (const std::string& sql : owner_only) {
    auto r = app_->exec(sql);
    ASSERT_FALSE(r.ok()) << sql;
    EXPECT_TRUE(contains(r.status().message(), "must be owner")) << r.status().message();
  }
  const std::vector<std::string> no_create = {
      "CREATE TABLE sneaky (x INTEGER)",
      "CREATE TEMP TABLE sneaky (x INTEGER)",
      "CREATE SCHEMA sneaky",
      "CREATE FUNCTION app.sneaky() RETURNS TEXT LANGUAGE sql AS $$ SELECT '*' $$",
      "CREATE OR REPLACE FUNCTION app.current_org_id() RETURNS TEXT LANGUAGE sql "
      "AS $$ SELECT '*' $$",
      "SET ROLE warden_owner",
  };
  for (const std::string& sql : no_create) {
    auto r = app_->exec(sql);
    ASSERT_FALSE(r.ok()) << sql;
    EXPECT_TRUE(contains(r.status().message(), "permission denied") ||
                contains(r.status().message(), "must be owner"))
        << sql << ": " << r.status().message();
  }
  // row_security = off does not turn the policies off for a role they bind: it refuses.
  ASSERT_TRUE(app_->exec_script("SET row_security = off").ok());
  auto off = app_->exec("SELECT count(*) FROM agents");
  ASSERT_FALSE(off.ok());
  EXPECT_TRUE(contains(off.status().message(), "row-level security")) << off.status().message();
}

TEST_F(RlsTest, MigratingAgainLeavesThePoliciesAndTheRunningTransactionsAlone) {
  open("t_rls_remigrate");
  const std::string policy_oid =
      "SELECT oid::text FROM pg_policy WHERE polname = 'tenant' AND polrelid = 'agents'::regclass";
  auto before = owner_->exec(policy_oid);
  ASSERT_TRUE(before.ok() && before->size() == 1) << before.status().to_string();
  // A replica's transaction holds row locks on agents while the migrate runs: a migrate that
  // recreated the policies would wait for it (here: give up after the lock timeout).
  ASSERT_TRUE(app_->exec_script("BEGIN; SELECT set_config('app.org_id', '*', true); "
                                "SELECT id FROM agents FOR UPDATE")
                  .ok());
  ASSERT_TRUE(owner_->exec_script("SET lock_timeout = '2s'").ok());
  Result<int> again = migrate(*owner_);
  EXPECT_TRUE(again.ok()) << again.status().to_string();
  ASSERT_TRUE(app_->exec_script("COMMIT").ok());
  auto after = owner_->exec(policy_oid);
  ASSERT_TRUE(after.ok() && after->size() == 1);
  EXPECT_EQ(after->text(0, 0), before->text(0, 0));
  // Isolation DDL that differs from the recorded one (here: the record lost) is applied again.
  ASSERT_TRUE(owner_->exec_script("COMMENT ON SCHEMA app IS NULL").ok());
  again = migrate(*owner_);
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  after = owner_->exec(policy_oid);
  ASSERT_TRUE(after.ok() && after->size() == 1);
  EXPECT_NE(after->text(0, 0), before->text(0, 0));
  EXPECT_EQ(column("org-a", "SELECT id FROM agents"), "agent-a");
}

// The daemon's path: PostgresStore as the application role writes and reads rows of several orgs
// (and of none) with the policies on, on a writer that has no session context of its own and on
// pooled readers that have.
TEST_F(RlsTest, TheStoreWritesAndReadsEveryOrgUnderThePolicies) {
  open("t_rls_store");
  PgStoreOptions options;
  options.config = test_config("app", "t_rls_store");
  options.read_connections = 2;
  auto opened = PostgresStore::open(options);
  ASSERT_TRUE(opened.ok()) << opened.status().to_string();
  PostgresStore& store = **opened;

  auto agent = [](std::string id, std::optional<std::string> org) {
    AgentRow a;
    a.id = std::move(id);
    a.name = a.id;
    a.chain = "solana";
    a.network = "devnet";
    a.created_at = a.updated_at = 2;
    a.org = std::move(org);
    return a;
  };
  Status s = store.write([&](WriteTxn& tx) -> Status {
    WARDEN_RETURN_IF_ERROR(tx.insert_agent(agent("agent-a2", "org-a")));
    WARDEN_RETURN_IF_ERROR(tx.insert_agent(agent("agent-b2", "org-b")));
    WARDEN_RETURN_IF_ERROR(tx.insert_agent(agent("agent-n2", std::nullopt)));
    for (std::string owner : {"agent-a2", "agent-b2", "agent-n2"}) {
      TransactionRow t;
      t.id = "tx-" + owner;
      t.agent_id = owner;
      t.chain = "solana";
      t.type = "TRANSFER";
      t.created_at = 2;
      WARDEN_RETURN_IF_ERROR(tx.insert_transaction(t));
      LotRow lot{.id = "lot-" + owner,
                 .owner = owner,
                 .source = "grant",
                 .amount = "50",
                 .currency = "USD",
                 .created_at = 2};
      WARDEN_RETURN_IF_ERROR(tx.insert_lot(lot));
      LotEntryRow entry{.lot_id = lot.id,
                        .owner = owner,
                        .currency = "USD",
                        .entry_type = "credit",
                        .amount = "50",
                        .op_id = "op-seed",
                        .created_at = 2};
      WARDEN_RETURN_IF_ERROR(tx.insert_lot_entry(entry));
    }
    // Reads inside the transaction see the rows of every org too.
    WARDEN_ASSIGN_OR_RETURN(auto b2, tx.get_agent("agent-b2"));
    EXPECT_TRUE(b2.has_value());
    return tx
        .append_audit(
            {.timestamp = 2, .event_type = "TEST", .actor = "system", .agent_id = "agent-b2"})
        .status();
  });
  ASSERT_TRUE(s.ok()) << s.to_string();
  // A second write: the context was local to the first transaction and is set again.
  s = store.write([&](WriteTxn& tx) { return tx.update_lot_status("lot-agent-b2", "depleted"); });
  ASSERT_TRUE(s.ok()) << s.to_string();

  // Pooled reads, on as many connections as the pool opens.
  for (int i = 0; i < 4; ++i) {
    auto agents = store.list_agents(Page{.limit = 10});
    ASSERT_TRUE(agents.ok()) << agents.status().to_string();
    EXPECT_EQ(agents->size(), 6u);
    auto txs = store.list_transactions({}, Page{.limit = 10});
    ASSERT_TRUE(txs.ok()) << txs.status().to_string();
    EXPECT_EQ(txs->size(), 6u);
  }
  auto n2 = store.get_agent("agent-n2");
  ASSERT_TRUE(n2.ok() && n2->has_value());
  EXPECT_FALSE((*n2)->org.has_value());
  auto lot = store.get_lot("lot-agent-b2");
  ASSERT_TRUE(lot.ok() && lot->has_value());
  EXPECT_EQ((*lot)->status, "depleted");
  std::vector<std::string> balances;
  ASSERT_TRUE(store
                  .scan_lot_balances({.owner = "agent-a2"},
                                     [&](const LotBalanceRow& b) {
                                       balances.push_back(b.lot.id + "=" + b.remaining);
                                       return Status();
                                     })
                  .ok());
  EXPECT_EQ(balances, std::vector<std::string>{"lot-agent-a2=50"});
  auto entries = store.list_lot_entries({.owner = "agent-b2"});
  ASSERT_TRUE(entries.ok()) << entries.status().to_string();
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].amount, "50");
  auto org_agents = store.list_org_agents("org-b", Page{.limit = 10});
  ASSERT_TRUE(org_agents.ok());
  ASSERT_EQ(org_agents->size(), 2u);
  auto report = store.verify_audit();
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_TRUE(store.ping().ok());

  // A unique violation on a table with policies still names its key (PostgreSQL leaves the key
  // out of its message there; the store looks it up).
  Status dup = store.write([&](WriteTxn& tx) { return tx.insert_agent(agent("agent-a2", {})); });
  EXPECT_EQ(dup.code(), ErrorCode::STORE_CONSTRAINT);
  EXPECT_TRUE(contains(dup.message(), "UNIQUE constraint failed: agents.id")) << dup.message();

  // The store left no context behind on the writer's session: this role's other sessions (the
  // raw connection here) still have none.
  auto raw = app_->exec("SELECT count(*) FROM agents");
  ASSERT_FALSE(raw.ok());
  EXPECT_TRUE(contains(raw.status().message(), kNoContext));
}

}  // namespace
}  // namespace warden::store::postgres
