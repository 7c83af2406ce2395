// The SQLite schema as numbered migrations (docs/architecture.md, "The store"): seven base tables
// (integer Unix-second timestamps, decimal TEXT amounts, hash-chained audit rows), then what
// each later version added.
#include "store/sqlite/schema.h"

#include <fmt/format.h>

#include <array>

#include "core/enums.h"

namespace warden::store::sqlite {
namespace {

std::string sql_literal(std::string_view v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

constexpr std::string_view kBoolCheck = "IN (0, 1)";

std::string agents_ddl() {
  return fmt::format(
      "CREATE TABLE agents ("
      "id TEXT PRIMARY KEY, "
      "name TEXT NOT NULL, "
      "chain TEXT NOT NULL {}, "
      "network TEXT NOT NULL {}, "
      "public_key TEXT, "
      "status TEXT NOT NULL DEFAULT 'CREATING' {}, "
      "owner_address TEXT, "
      "owner_verified INTEGER NOT NULL DEFAULT 0 CHECK (owner_verified {}), "
      "created_at INTEGER NOT NULL, "
      "updated_at INTEGER NOT NULL, "
      "suspended_at INTEGER, "
      "suspension_reason TEXT);\n"
      "CREATE UNIQUE INDEX idx_agents_public_key ON agents(public_key);\n"
      "CREATE INDEX idx_agents_status ON agents(status);\n"
      "CREATE INDEX idx_agents_chain_network ON agents(chain, network);\n"
      "CREATE INDEX idx_agents_owner_address ON agents(owner_address);\n",
      check_in("chain", kChainTypes), check_in("network", kNetworkTypes),
      check_in("status", kAgentStatuses), kBoolCheck);
}

std::string sessions_ddl() {
  return "CREATE TABLE sessions ("
         "id TEXT PRIMARY KEY, "
         "agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE, "
         "token_hash TEXT NOT NULL, "
         "expires_at INTEGER NOT NULL, "
         "constraints TEXT, "
         "usage_stats TEXT, "
         "revoked_at INTEGER, "
         "renewal_count INTEGER NOT NULL DEFAULT 0, "
         "max_renewals INTEGER NOT NULL DEFAULT 30, "
         "last_renewed_at INTEGER, "
         "absolute_expires_at INTEGER NOT NULL, "
         "created_at INTEGER NOT NULL);\n"
         "CREATE INDEX idx_sessions_agent_id ON sessions(agent_id);\n"
         "CREATE INDEX idx_sessions_expires_at ON sessions(expires_at);\n"
         "CREATE INDEX idx_sessions_token_hash ON sessions(token_hash);\n";
}

std::string transactions_ddl() {
  return fmt::format(
      "CREATE TABLE transactions ("
      "id TEXT PRIMARY KEY, "
      "agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE RESTRICT, "
      "session_id TEXT REFERENCES sessions(id) ON DELETE SET NULL, "
      "chain TEXT NOT NULL {}, "
      "tx_hash TEXT, "
      "type TEXT NOT NULL {}, "
      "amount TEXT, "
      "to_address TEXT, "
      "token_mint TEXT, "
      "contract_address TEXT, "
      "method_signature TEXT, "
      "spender_address TEXT, "
      "approved_amount TEXT, "
      "parent_id TEXT REFERENCES transactions(id) ON DELETE CASCADE, "
      "batch_index INTEGER, "
      "status TEXT NOT NULL DEFAULT 'PENDING' {}, "
      "tier TEXT {}, "
      "queued_at INTEGER, "
      "executed_at INTEGER, "
      "created_at INTEGER NOT NULL, "
      "reserved_amount TEXT, "
      "error TEXT, "
      "metadata TEXT);\n"
      "CREATE INDEX idx_transactions_agent_status ON transactions(agent_id, status);\n"
      "CREATE INDEX idx_transactions_session_id ON transactions(session_id);\n"
      "CREATE UNIQUE INDEX idx_transactions_tx_hash ON transactions(tx_hash);\n"
      "CREATE INDEX idx_transactions_queued_at ON transactions(queued_at);\n"
      "CREATE INDEX idx_transactions_created_at ON transactions(created_at);\n"
      "CREATE INDEX idx_transactions_type ON transactions(type);\n"
      "CREATE INDEX idx_transactions_contract_address ON transactions(contract_address);\n"
      "CREATE INDEX idx_transactions_parent_id ON transactions(parent_id);\n",
      check_in("chain", kChainTypes), check_in("type", kTransactionTypes),
      check_in("status", kTransactionStatuses), check_in("tier", kPolicyTiers, true));
}

std::string policies_ddl() {
  return fmt::format(
      "CREATE TABLE policies ("
      "id TEXT PRIMARY KEY, "
      "agent_id TEXT REFERENCES agents(id) ON DELETE CASCADE, "
      "type TEXT NOT NULL {}, "
      "rules TEXT NOT NULL, "
      "priority INTEGER NOT NULL DEFAULT 0, "
      "enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled {}), "
      "version INTEGER NOT NULL DEFAULT 1, "
      "hash TEXT NOT NULL, "
      "created_at INTEGER NOT NULL, "
      "updated_at INTEGER NOT NULL);\n"
      "CREATE INDEX idx_policies_agent_enabled ON policies(agent_id, enabled);\n"
      "CREATE INDEX idx_policies_type ON policies(type);\n"
      "CREATE UNIQUE INDEX idx_policies_hash ON policies(hash);\n",
      check_in("type", kPolicyTypes), kBoolCheck);
}

std::string pending_approvals_ddl() {
  return "CREATE TABLE pending_approvals ("
         "id TEXT PRIMARY KEY, "
         "tx_id TEXT NOT NULL REFERENCES transactions(id) ON DELETE CASCADE, "
         "required_by INTEGER NOT NULL, "
         "expires_at INTEGER NOT NULL, "
         "approved_at INTEGER, "
         "rejected_at INTEGER, "
         "owner_signature TEXT, "
         "created_at INTEGER NOT NULL);\n"
         "CREATE INDEX idx_pending_approvals_tx_id ON pending_approvals(tx_id);\n"
         "CREATE INDEX idx_pending_approvals_expires_at ON pending_approvals(expires_at);\n";
}

// No foreign keys on purpose: audit rows must outlive the agents, sessions and transactions
// they mention. `key` is the id column's declaration.
std::string audit_log_table(std::string_view name, std::string_view key, std::string_view check) {
  return fmt::format(
      "CREATE TABLE {} ("
      "id {}, "
      "timestamp INTEGER NOT NULL, "
      "event_type TEXT NOT NULL, "
      "actor TEXT NOT NULL, "
      "agent_id TEXT, "
      "session_id TEXT, "
      "tx_id TEXT, "
      "details TEXT NOT NULL, "
      "severity TEXT NOT NULL DEFAULT 'info' {}, "
      "ip_address TEXT, "
      "correlation_id TEXT, "
      "prev_hash TEXT NOT NULL, "
      "hash TEXT NOT NULL);\n",
      name, key, check);
}

std::string audit_log_ddl() {
  return audit_log_table("audit_log", "INTEGER PRIMARY KEY AUTOINCREMENT",
                         check_in("severity", kAuditSeverities)) +
         "CREATE INDEX idx_audit_log_timestamp ON audit_log(timestamp);\n"
         "CREATE INDEX idx_audit_log_event_type ON audit_log(event_type);\n"
         "CREATE INDEX idx_audit_log_agent_id ON audit_log(agent_id);\n"
         "CREATE INDEX idx_audit_log_severity ON audit_log(severity);\n"
         "CREATE INDEX idx_audit_log_agent_timestamp ON audit_log(agent_id, timestamp);\n";
}

std::string key_value_store_ddl() {
  return "CREATE TABLE key_value_store ("
         "key TEXT PRIMARY KEY, "
         "value TEXT NOT NULL, "
         "updated_at INTEGER NOT NULL);\n";
}

std::string initial_schema() {
  return agents_ddl() + sessions_ddl() + transactions_ddl() + policies_ddl() +
         pending_approvals_ddl() + audit_log_ddl() + key_value_store_ddl();
}

// Decision lifecycle columns: idempotency, reservation expiry, DELAY release, settlement.
std::string decision_columns() {
  return "ALTER TABLE transactions ADD COLUMN idempotency_key TEXT;\n"
         "ALTER TABLE transactions ADD COLUMN request_hash TEXT;\n"
         "ALTER TABLE transactions ADD COLUMN expires_at INTEGER;\n"
         "ALTER TABLE transactions ADD COLUMN executable_at INTEGER;\n"
         "ALTER TABLE transactions ADD COLUMN final_amount TEXT;\n"
         "ALTER TABLE transactions ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;\n"
         "CREATE UNIQUE INDEX idx_transactions_agent_idempotency "
         "ON transactions(agent_id, idempotency_key) WHERE idempotency_key IS NOT NULL;\n"
         "CREATE INDEX idx_transactions_status_expires ON transactions(status, expires_at);\n";
}

// Every decision inserts one transactions row and one audit_log row, so each index on those
// tables is paid for on the hot path. Kept: what a query or a foreign-key check reads. Columns
// that are NULL on most rows get partial indexes (a NULL-keyed row then costs nothing); an
// index on a handful of values (type, severity), repeating another's prefix (agent_id under
// agent_id, timestamp) or serving no query (audit timestamp: the log is read in id order) is
// dropped. audit_log loses AUTOINCREMENT (a sqlite_sequence update and
// a scratch b-tree per insert): ids are assigned by the hash chain as the tail's id + 1, so
// the table is rebuilt with a plain integer key, rows and hashes unchanged. transactions keeps
// its rows and gets its IN-list CHECKs as equivalent comparisons (see check_any) by SQLite's
// documented procedure for changing a CHECK in place: edit its text in sqlite_schema under
// writable_schema. The index statements after it bump the schema cookie, so every connection
// re-reads the table; the store reopens its writer after migrating.
std::string transactions_checks_as_comparisons() {
  struct Check {
    std::string_view column;
    std::span<const std::string_view> values;
    bool nullable;
  };
  const Check checks[] = {{"chain", kChainTypes, false},
                          {"type", kTransactionTypes, false},
                          {"status", kTransactionStatuses, false},
                          {"tier", kPolicyTiers, true}};
  std::string sql = "sql";
  for (const Check& c : checks) {
    sql = fmt::format("replace({}, {}, {})", sql,
                      sql_literal(check_in(c.column, c.values, c.nullable)),
                      sql_literal(check_any(c.column, c.values, c.nullable)));
  }
  return "PRAGMA writable_schema = ON;\n"
         "UPDATE sqlite_schema SET sql = " + sql + " WHERE type = 'table' AND name = 'transactions';\n"
         "PRAGMA writable_schema = OFF;\n";
}

std::string leaner_hot_tables() {
  return transactions_checks_as_comparisons() +
         "DROP INDEX idx_transactions_type;\n"
         "DROP INDEX idx_transactions_tx_hash;\n"
         "CREATE UNIQUE INDEX idx_transactions_tx_hash ON transactions(tx_hash) "
         "WHERE tx_hash IS NOT NULL;\n"
         "DROP INDEX idx_transactions_queued_at;\n"
         "CREATE INDEX idx_transactions_queued_at ON transactions(queued_at) "
         "WHERE queued_at IS NOT NULL;\n"
         "DROP INDEX idx_transactions_contract_address;\n"
         "CREATE INDEX idx_transactions_contract_address ON transactions(contract_address) "
         "WHERE contract_address IS NOT NULL;\n"
         "DROP INDEX idx_transactions_parent_id;\n"
         "CREATE INDEX idx_transactions_parent_id ON transactions(parent_id) "
         "WHERE parent_id IS NOT NULL;\n" +
         audit_log_table("audit_log_v3", "INTEGER PRIMARY KEY",
                         check_any("severity", kAuditSeverities)) +
         "INSERT INTO audit_log_v3 SELECT id, timestamp, event_type, actor, agent_id, session_id, "
         "tx_id, details, severity, ip_address, correlation_id, prev_hash, hash FROM audit_log;\n"
         "DROP TABLE audit_log;\n"
         "ALTER TABLE audit_log_v3 RENAME TO audit_log;\n"
         "DELETE FROM sqlite_sequence WHERE name = 'audit_log';\n"
         "CREATE INDEX idx_audit_log_event_type ON audit_log(event_type);\n"
         "CREATE INDEX idx_audit_log_agent_timestamp ON audit_log(agent_id, timestamp);\n";
}

// Settled usage per meter and second (windows of any length rebuild from it at start-up without
// reading old transactions), transaction hashes unique per agent and chain instead of across
// every agent, and the webhook outbox.
std::string usage_hashes_outbox() {
  // A bucket row is small (one per settled decision at worst, read in full at start-up): usage
  // keys and agent ids are integers from usage_names, and the amount is an INTEGER when it fits
  // in 64 bits (the column has no type affinity), decimal TEXT otherwise. Keyed by (meter,
  // bucket, agent): a window is rebuilt from one range of the key.
  return "CREATE TABLE usage_names (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);\n"
         "CREATE TABLE meter_usage ("
         "meter INTEGER NOT NULL, bucket INTEGER NOT NULL, agent INTEGER NOT NULL, "
         "amount NOT NULL, PRIMARY KEY (meter, bucket, agent)) WITHOUT ROWID;\n"
         "DROP INDEX idx_transactions_tx_hash;\n"
         "CREATE UNIQUE INDEX idx_transactions_agent_chain_tx_hash "
         "ON transactions(agent_id, chain, tx_hash) WHERE tx_hash IS NOT NULL;\n"
         "ALTER TABLE sessions ADD COLUMN role TEXT NOT NULL DEFAULT 'agent' " +
         check_any("role", kSessionRoles) + ";\n"
         "CREATE TABLE event_outbox ("
         "id TEXT PRIMARY KEY, event TEXT NOT NULL, created_at INTEGER NOT NULL, "
         "attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL);\n";
}

constexpr std::array<Migration, 4> kMigrations = {{
    {1, "initial schema: seven tables of seed 004", &initial_schema},
    {2, "decision lifecycle columns on transactions", &decision_columns},
    {3, "leaner tables and indexes where every decision writes", &leaner_hot_tables},
    {4, "meter usage buckets, tx hashes per agent and chain, event outbox", &usage_hashes_outbox},
}};

}  // namespace

std::string check_in(std::string_view column, std::span<const std::string_view> values,
                     bool nullable) {
  std::string list;
  for (std::string_view v : values) {
    if (!list.empty()) list += ", ";
    list += sql_literal(v);
  }
  if (nullable) return fmt::format("CHECK ({0} IS NULL OR {0} IN ({1}))", column, list);
  return fmt::format("CHECK ({} IN ({}))", column, list);
}

std::string check_any(std::string_view column, std::span<const std::string_view> values,
                      bool nullable) {
  std::string terms = nullable ? fmt::format("{} IS NULL", column) : std::string();
  for (std::string_view v : values) {
    if (!terms.empty()) terms += " OR ";
    terms += fmt::format("{} = {}", column, sql_literal(v));
  }
  return fmt::format("CHECK ({})", terms);
}

std::span<const Migration> migrations() { return kMigrations; }

}  // namespace warden::store::sqlite
