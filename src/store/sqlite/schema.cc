// The SQLite schema as numbered migrations (docs/architecture.md, "The store"): seven base tables
// (integer Unix-second timestamps, decimal TEXT amounts, hash-chained audit rows), then what
// each later version added.
#include "store/sqlite/schema.h"

#include <fmt/format.h>

#include <array>
#include <initializer_list>

#include "core/enums.h"
#include "store/sqlite/compact.h"
#include "store/store.h"

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

// ---- Migration 5: the credit ledger (docs/ledger.md).

// The largest amount a column may hold, 2^256 - 1, as the decimal text it is stored as.
constexpr std::string_view kAmountMax =
    "115792089237316195423570985008687907853269984665640564039457584007913129639935";

// "CHECK (...)" that `column` holds a canonical decimal amount: digits only, no leading zero, at
// most 2^256 - 1 (a 78-digit text compares as its number against kAmountMax). `zero` admits "0".
// GLOB and length() cost no scratch b-tree on the inserts that run once per debit.
std::string check_amount(std::string_view column, bool zero, bool nullable = false) {
  std::string positive = fmt::format(
      "{0} GLOB '[1-9]*' AND NOT {0} GLOB '*[^0-9]*' AND "
      "(length({0}) < {1} OR length({0}) = {1} AND {0} <= '{2}')",
      column, kAmountMax.size(), kAmountMax);
  std::string terms = zero ? fmt::format("{} = '0' OR {}", column, positive) : positive;
  if (nullable) terms = fmt::format("{} IS NULL OR {}", column, terms);
  return fmt::format("CHECK ({})", terms);
}

// Two canonical decimals compare as numbers: a shorter text is smaller.
std::string decimal_at_most(std::string_view a, std::string_view b) {
  return fmt::format("(length({0}) < length({1}) OR length({0}) = length({1}) AND {0} <= {1})", a,
                     b);
}

// The triggers that refuse every UPDATE and DELETE of a table.
std::string append_only(std::string_view table) {
  std::string sql;
  for (std::string_view op : {"UPDATE", "DELETE"}) {
    sql += fmt::format(
        "CREATE TRIGGER {0}_no_{1} BEFORE {2} ON {0} "
        "BEGIN SELECT RAISE(ABORT, '{0} is append-only'); END;\n",
        table, op == "UPDATE" ? "update" : "delete", op);
  }
  return sql;
}

std::string no_delete(std::string_view table) {
  return fmt::format(
      "CREATE TRIGGER {0}_no_delete BEFORE DELETE ON {0} "
      "BEGIN SELECT RAISE(ABORT, '{0} rows are never deleted'); END;\n",
      table);
}

// "NEW.a IS OLD.a AND NEW.b IS OLD.b ...": the columns an UPDATE must leave as they were.
std::string unchanged(std::initializer_list<std::string_view> columns) {
  std::string terms;
  for (std::string_view c : columns) {
    if (!terms.empty()) terms += " AND ";
    terms += fmt::format("NEW.{0} IS OLD.{0}", c);
  }
  return terms;
}

std::string ledger_ops_ddl() {
  // The key is unique when set; start-up reads the recent keyed operations by time.
  return fmt::format(
             "CREATE TABLE ledger_ops ("
             "id TEXT PRIMARY KEY, "
             "kind TEXT NOT NULL {}, "
             "idempotency_key TEXT, "
             "request_hash TEXT NOT NULL, "
             "result TEXT NOT NULL, "
             "created_at INTEGER NOT NULL);\n"
             "CREATE UNIQUE INDEX idx_ledger_ops_idempotency_key ON ledger_ops(idempotency_key) "
             "WHERE idempotency_key IS NOT NULL;\n"
             "CREATE INDEX idx_ledger_ops_created_at ON ledger_ops(created_at) "
             "WHERE idempotency_key IS NOT NULL;\n",
             check_any("kind", kLedgerOpKinds)) +
         append_only("ledger_ops");
}

std::string credit_lots_ddl() {
  // (owner, currency, id): lot_balances groups by it, so a filter on the owner reads one range
  // of it in order, without sorting the lots' entries.
  return fmt::format(
             "CREATE TABLE credit_lots ("
             "id TEXT PRIMARY KEY, "
             "owner TEXT NOT NULL REFERENCES agents(id), "
             "source TEXT NOT NULL {}, "
             "amount TEXT NOT NULL {}, "
             "currency TEXT NOT NULL, "
             "expires_at INTEGER, "
             "status TEXT NOT NULL DEFAULT 'active' {}, "
             "payment_id TEXT, "
             "created_at INTEGER NOT NULL);\n"
             "CREATE UNIQUE INDEX idx_credit_lots_payment_id ON credit_lots(payment_id) "
             "WHERE payment_id IS NOT NULL;\n"
             "CREATE INDEX idx_credit_lots_owner_currency ON credit_lots(owner, currency, id);\n",
             check_any("source", kLotSources), check_amount("amount", false),
             check_any("status", kLotStatuses)) +
         no_delete("credit_lots") +
         fmt::format(
             "CREATE TRIGGER credit_lots_status_only BEFORE UPDATE ON credit_lots "
             "WHEN NOT (OLD.status = 'active' AND (NEW.status = 'expired' OR "
             "NEW.status = 'depleted') AND {}) "
             "BEGIN SELECT RAISE(ABORT, 'credit_lots: only status may change, from active to "
             "expired or depleted'); END;\n",
             unchanged({"id", "owner", "source", "amount", "currency", "expires_at", "payment_id",
                        "created_at"}));
}

std::string lot_entries_ddl() {
  // The integer key is the entries cursor: rows are never deleted, so it only grows.
  return fmt::format(
             "CREATE TABLE lot_entries ("
             "id INTEGER PRIMARY KEY, "
             "lot_id TEXT NOT NULL REFERENCES credit_lots(id), "
             "owner TEXT NOT NULL, "
             "currency TEXT NOT NULL, "
             "entry_type TEXT NOT NULL {}, "
             "amount TEXT NOT NULL {}, "
             "op_id TEXT NOT NULL REFERENCES ledger_ops(id), "
             "hold_id TEXT, "
             "tx_id TEXT, "
             "created_at INTEGER NOT NULL, "
             "CHECK (hold_id IS NOT NULL OR entry_type <> 'hold' AND entry_type <> 'release'));\n"
             "CREATE INDEX idx_lot_entries_lot_id ON lot_entries(lot_id);\n"
             "CREATE INDEX idx_lot_entries_owner ON lot_entries(owner, id);\n"
             "CREATE INDEX idx_lot_entries_hold_id ON lot_entries(hold_id) "
             "WHERE hold_id IS NOT NULL;\n",
             check_any("entry_type", kLotEntryTypes), check_amount("amount", false)) +
         append_only("lot_entries");
}

std::string ledger_holds_ddl() {
  // A hold may hold nothing (a partial hold on an empty account) and post nothing.
  return fmt::format(
             "CREATE TABLE ledger_holds ("
             "id TEXT PRIMARY KEY, "
             "owner TEXT NOT NULL, "
             "currency TEXT NOT NULL, "
             "amount TEXT NOT NULL {}, "
             "status TEXT NOT NULL DEFAULT 'pending' {}, "
             "posted_amount TEXT {}, "
             "tx_id TEXT, "
             "expires_at INTEGER NOT NULL, "
             "created_at INTEGER NOT NULL, "
             "updated_at INTEGER NOT NULL, "
             "CHECK ((status = 'posted') = (posted_amount IS NOT NULL)), "
             "CHECK (posted_amount IS NULL OR {}));\n"
             "CREATE INDEX idx_ledger_holds_pending ON ledger_holds(id) "
             "WHERE status = 'pending';\n"
             "CREATE INDEX idx_ledger_holds_tx_id ON ledger_holds(tx_id) "
             "WHERE tx_id IS NOT NULL;\n",
             check_amount("amount", true), check_any("status", kHoldStatuses),
             check_amount("posted_amount", true, true),
             decimal_at_most("posted_amount", "amount")) +
         no_delete("ledger_holds") +
         fmt::format(
             "CREATE TRIGGER ledger_holds_pending_only BEFORE UPDATE ON ledger_holds "
             "WHEN NOT (OLD.status = 'pending' AND NEW.status <> 'pending' AND {}) "
             "BEGIN SELECT RAISE(ABORT, 'ledger_holds: only a pending hold changes, to posted, "
             "voided or expired'); END;\n",
             unchanged({"id", "owner", "currency", "amount", "tx_id", "expires_at", "created_at"}));
}

// Payment statuses move forward only: pending 0 < confirmed 1 < finished 2 < failed, refunded 3.
struct PaymentRank {
  std::string_view status;
  int rank;
};
constexpr PaymentRank kPaymentRanks[] = {
    {"pending", 0}, {"confirmed", 1}, {"finished", 2}, {"failed", 3}, {"refunded", 3}};

std::string payment_rank(std::string_view column) {
  std::string sql = fmt::format("CASE {}", column);
  for (const PaymentRank& r : kPaymentRanks) {
    sql += fmt::format(" WHEN {} THEN {}", sql_literal(r.status), r.rank);
  }
  return sql + " END";
}

std::string payments_ddl() {
  // A move forward may set lot_id (the mint of a confirmed payment); so may an update that only
  // sets lot_id. A finished payment may be refunded but not fail.
  return fmt::format(
             "CREATE TABLE payments ("
             "id TEXT PRIMARY KEY, "
             "provider TEXT NOT NULL, "
             "owner TEXT NOT NULL, "
             "amount TEXT NOT NULL {}, "
             "currency TEXT NOT NULL, "
             "status TEXT NOT NULL {}, "
             "lot_id TEXT, "
             "created_at INTEGER NOT NULL, "
             "updated_at INTEGER NOT NULL);\n",
             check_amount("amount", false), check_any("status", kPaymentStatuses)) +
         no_delete("payments") +
         fmt::format(
             "CREATE TRIGGER payments_forward_only BEFORE UPDATE ON payments "
             "WHEN NOT ({0} AND (NEW.lot_id IS OLD.lot_id OR OLD.lot_id IS NULL) AND "
             "({1} > {2} AND NOT (OLD.status = 'finished' AND NEW.status = 'failed') OR "
             "NEW.status = OLD.status AND OLD.lot_id IS NULL AND NEW.lot_id IS NOT NULL)) "
             "BEGIN SELECT RAISE(ABORT, 'payments: status moves only forward, lot_id is set "
             "once, the rest never changes'); END;\n",
             unchanged({"id", "provider", "owner", "amount", "currency", "created_at"}),
             payment_rank("NEW.status"), payment_rank("OLD.status"));
}

std::string webhook_and_usage_events_ddl() {
  return "CREATE TABLE webhook_events ("
         "provider TEXT NOT NULL, "
         "event_id TEXT NOT NULL, "
         "payload TEXT NOT NULL, "
         "received_at INTEGER NOT NULL, "
         "processed_at INTEGER, "
         "PRIMARY KEY (provider, event_id));\n" +
         append_only("webhook_events") +
         fmt::format(
             "CREATE TABLE usage_events ("
             "id TEXT PRIMARY KEY, "
             "agent_id TEXT NOT NULL, "
             "tx_id TEXT, "
             "provider TEXT NOT NULL, "
             "model TEXT NOT NULL, "
             "prompt_tokens INTEGER NOT NULL CHECK (prompt_tokens >= 0), "
             "completion_tokens INTEGER NOT NULL CHECK (completion_tokens >= 0), "
             "cost TEXT {}, "
             "currency TEXT, "
             "created_at INTEGER NOT NULL, "
             "CHECK ((cost IS NULL) = (currency IS NULL)));\n"
             "CREATE INDEX idx_usage_events_agent_created ON usage_events(agent_id, created_at);\n",
             check_amount("cost", true, true)) +
         append_only("usage_events");
}

// What each lot's entries leave. Amounts go up to 2^256 - 1, past what SUM() adds exactly, so
// the two aggregates are the store's own exact functions (sql_functions.h); every connection
// the store opens registers them. LEFT JOIN: a lot without entries still has its row.
constexpr std::string_view kLotBalancesView =
    "CREATE VIEW lot_balances AS SELECT l.id AS id, l.owner AS owner, l.source AS source, "
    "l.amount AS amount, l.currency AS currency, l.expires_at AS expires_at, l.status AS status, "
    "l.payment_id AS payment_id, l.created_at AS created_at, "
    "ledger_remaining(e.entry_type, e.hold_id, e.amount) AS remaining, "
    "ledger_held(e.entry_type, e.hold_id, e.amount) AS held "
    "FROM credit_lots l LEFT JOIN lot_entries e ON e.lot_id = l.id "
    "GROUP BY l.owner, l.currency, l.id;\n";

std::string credit_ledger() {
  return ledger_ops_ddl() + credit_lots_ddl() + lot_entries_ddl() + ledger_holds_ddl() +
         payments_ddl() + webhook_and_usage_events_ddl() + std::string(kLotBalancesView);
}

// ---- Migration 6: the gateway's model deployments and API keys (docs/gateway.md).

std::string models_ddl() {
  // key_ref says where the upstream credential is read from; the credential itself is never
  // stored, so a copy of the database gives no upstream access.
  return fmt::format(
      "CREATE TABLE models ("
      "id TEXT PRIMARY KEY, "
      "name TEXT NOT NULL UNIQUE, "
      "provider TEXT NOT NULL {}, "
      "base_url TEXT NOT NULL CHECK (base_url GLOB 'http://?*' OR base_url GLOB 'https://?*'), "
      "upstream_model TEXT NOT NULL CHECK (length(upstream_model) > 0), "
      "input_price_micros_per_1k TEXT NOT NULL {}, "
      "output_price_micros_per_1k TEXT NOT NULL {}, "
      "currency TEXT NOT NULL, "
      "key_ref TEXT NOT NULL CHECK (key_ref GLOB 'env:?*' OR key_ref GLOB 'file:/?*'), "
      "enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled {}), "
      "created_at INTEGER NOT NULL, "
      "updated_at INTEGER NOT NULL);\n",
      check_any("provider", store::kModelProviders),
      check_amount("input_price_micros_per_1k", true),
      check_amount("output_price_micros_per_1k", true), kBoolCheck);
}

std::string api_keys_ddl() {
  // Agents are terminated, never deleted, so a key's agent always exists. The proxy finds a key
  // by its hash on every request: the unique index is that lookup.
  return "CREATE TABLE api_keys ("
         "id TEXT PRIMARY KEY, "
         "agent_id TEXT NOT NULL REFERENCES agents(id), "
         "key_hash TEXT NOT NULL UNIQUE, "
         "prefix TEXT NOT NULL, "
         "name TEXT, "
         "created_at INTEGER NOT NULL, "
         "revoked_at INTEGER, "
         "last_used_at INTEGER);\n"
         "CREATE INDEX idx_api_keys_agent ON api_keys(agent_id, id);\n" +
         fmt::format(
             "CREATE TRIGGER api_keys_fixed BEFORE UPDATE ON api_keys WHEN NOT ({}) "
             "BEGIN SELECT RAISE(ABORT, 'api_keys: only name, revoked_at and last_used_at "
             "change'); END;\n",
             unchanged({"id", "agent_id", "key_hash", "prefix", "created_at"}));
}

std::string gateway_models_keys_org() {
  return "ALTER TABLE agents ADD COLUMN org TEXT;\n" + models_ddl() + api_keys_ddl();
}

// ---- Migration 7: automation policies, their executions, accepted events, host inventories
// (docs/automation.md).

std::string automations_ddl() {
  return fmt::format(
      "CREATE TABLE automations ("
      "id TEXT PRIMARY KEY, "
      "name TEXT NOT NULL CHECK (length(name) > 0), "
      "spec TEXT NOT NULL CHECK (json_valid(spec)), "
      "ir TEXT NOT NULL CHECK (json_valid(ir)), "
      "hash TEXT NOT NULL UNIQUE, "
      "version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1), "
      "enabled INTEGER NOT NULL DEFAULT 0 CHECK (enabled {0}), "
      "priority INTEGER NOT NULL DEFAULT 0, "
      "last_validation TEXT CHECK (last_validation IS NULL OR json_valid(last_validation)), "
      "last_dry_run TEXT CHECK (last_dry_run IS NULL OR json_valid(last_dry_run)), "
      "created_at INTEGER NOT NULL, "
      "updated_at INTEGER NOT NULL);\n",
      kBoolCheck);
}

std::string automation_executions_ddl() {
  // Rows are kept per automation newest-first and trimmed on insert: the index serves both the
  // page query and the trim.
  return fmt::format(
             "CREATE TABLE automation_executions ("
             "id TEXT PRIMARY KEY, "
             "automation_id TEXT NOT NULL REFERENCES automations(id) ON DELETE CASCADE, "
             "event_id TEXT, "
             "host TEXT NOT NULL, "
             "target_id TEXT NOT NULL, "
             "capability TEXT NOT NULL, "
             "verb TEXT NOT NULL, "
             "outcome TEXT NOT NULL {}, "
             "idempotency_key TEXT NOT NULL, "
             "effects TEXT NOT NULL CHECK (json_valid(effects)), "
             "reason TEXT NOT NULL, "
             "correlation_id TEXT NOT NULL, "
             "started_at_ms INTEGER NOT NULL, "
             "finished_at_ms INTEGER NOT NULL);\n",
             check_in("outcome", store::kAutomationOutcomes)) +
         "CREATE INDEX idx_automation_executions ON automation_executions(automation_id, id);\n";
}

std::string events_inventory_ddl() {
  return "CREATE TABLE events ("
         "id TEXT PRIMARY KEY, "
         "kind TEXT NOT NULL CHECK (length(kind) > 0), "
         "source TEXT NOT NULL, "
         "subject TEXT NOT NULL, "
         "occurred_at_ms INTEGER NOT NULL, "
         "attributes TEXT NOT NULL CHECK (json_valid(attributes)), "
         "received_at_ms INTEGER NOT NULL);\n"
         "CREATE INDEX idx_events_received ON events(received_at_ms);\n"
         "CREATE TABLE inventory ("
         "host TEXT PRIMARY KEY, "
         "items TEXT NOT NULL CHECK (json_valid(items)), "
         "refreshed_at_ms INTEGER NOT NULL, "
         "full INTEGER NOT NULL " +
         fmt::format("CHECK (full {}));\n", kBoolCheck);
}

std::string automation_tables() {
  return automations_ddl() + automation_executions_ddl() + events_inventory_ddl();
}

// ---- Migration 8: session-token signing keys (docs/sessions.md).
std::string signing_keys_table() {
  return "CREATE TABLE signing_keys ("
         "kid TEXT PRIMARY KEY, "
         "public_jwk TEXT NOT NULL CHECK (json_valid(public_jwk)), "
         "private_key_enc TEXT NOT NULL, "
         "created_at INTEGER NOT NULL, "
         "not_after_sign INTEGER NOT NULL CHECK (not_after_sign >= created_at), "
         "verify_until INTEGER NOT NULL CHECK (verify_until >= not_after_sign));\n";
}

// ---- Migration 9: organizations and their admin keys (docs/cluster.md). A deleted org keeps
// its row (deleted_at) so its name stays taken and audit rows keep resolving.
std::string orgs_tables() {
  return "CREATE TABLE orgs ("
         "id TEXT PRIMARY KEY, "
         "name TEXT NOT NULL UNIQUE CHECK (length(name) > 0), "
         "created_at INTEGER NOT NULL, "
         "deleted_at INTEGER);\n"
         "CREATE TABLE org_admin_keys ("
         "id TEXT PRIMARY KEY, "
         "org_id TEXT NOT NULL REFERENCES orgs(id), "
         "key_hash TEXT NOT NULL UNIQUE, "
         "prefix TEXT NOT NULL, "
         "name TEXT, "
         "created_at INTEGER NOT NULL, "
         "revoked_at INTEGER);\n"
         "CREATE INDEX idx_org_admin_keys_org ON org_admin_keys(org_id, id);\n"
         "CREATE INDEX idx_agents_org ON agents(org, id);\n" +
         fmt::format(
             "CREATE TRIGGER org_admin_keys_fixed BEFORE UPDATE ON org_admin_keys WHEN NOT ({}) "
             "BEGIN SELECT RAISE(ABORT, 'org_admin_keys: only revoked_at changes'); END;\n",
             unchanged({"id", "org_id", "key_hash", "prefix", "name", "created_at"}));
}

// ---- Migration 10: fewer bytes per decision (docs/benchmarks.md, "Bytes per decision"). The
// values a decision writes that no query compares are stored compacted (compact.h: UUIDs and
// hex as bytes, decimals as integers, the decision service's JSON fragments as one byte each):
// the audit row's actor (none when it is the agent the row names), ids, details and hashes; the
// transaction's id (with its parent's and its approvals' references to it), amount, reserved
// amount, recipient, metadata and request hash. audit_log is rebuilt (its old pages go to the
// freelist for new rows); transactions, which other tables reference, is rewritten in place.
// Indexes no query reads go: transactions(session_id) (sessions are never deleted, so its ON
// DELETE SET NULL never runs; nothing lists by session), and audit (agent_id, timestamp) becomes
// (agent_id), which list_audit's "agent_id = ? AND id > ? ORDER BY id" reads in order.
std::string compact_decision_rows() {
  // actor is NULL when it is "agent:" followed by the row's agent_id, as on every row an agent's
  // own session writes.
  return fmt::format(
             "CREATE TABLE audit_log_v10 ("
             "id INTEGER PRIMARY KEY, "
             "timestamp INTEGER NOT NULL, "
             "event_type TEXT NOT NULL, "
             "actor TEXT CHECK (actor IS NOT NULL OR agent_id IS NOT NULL), "
             "agent_id TEXT, "
             "session_id TEXT, "
             "tx_id TEXT, "
             "details TEXT NOT NULL, "
             "severity TEXT NOT NULL DEFAULT 'info' {}, "
             "ip_address TEXT, "
             "correlation_id TEXT, "
             "prev_hash TEXT NOT NULL, "
             "hash TEXT NOT NULL);\n",
             check_any("severity", kAuditSeverities)) +
         "INSERT INTO audit_log_v10 SELECT id, timestamp, event_type, "
         "CASE WHEN actor = 'agent:' || agent_id THEN NULL ELSE compact_text(actor) END, "
         "compact_id(agent_id), compact_id(session_id), compact_id(tx_id), compact_text(details), "
         "severity, ip_address, compact_id(correlation_id), compact_text(prev_hash), "
         "compact_text(hash) FROM audit_log;\n"
         "DROP TABLE audit_log;\n"
         "ALTER TABLE audit_log_v10 RENAME TO audit_log;\n"
         "CREATE INDEX idx_audit_log_event_type ON audit_log(event_type);\n"
         "CREATE INDEX idx_audit_log_agent ON audit_log(agent_id);\n"
         // Ids change in transactions and in the rows that reference them: the foreign keys
         // are checked once, at the migration's commit.
         "PRAGMA defer_foreign_keys = ON;\n"
         "UPDATE transactions SET id = compact_id(id), parent_id = compact_id(parent_id), "
         "amount = compact_text(amount), "
         "to_address = compact_text(to_address), metadata = compact_text(metadata), "
         "reserved_amount = compact_text(reserved_amount), "
         "request_hash = compact_text(request_hash);\n"
         "UPDATE pending_approvals SET tx_id = compact_id(tx_id);\n"
         "DROP INDEX idx_transactions_session_id;\n";
}

// ---- Migration 11: automations owned by an org (docs/cluster.md, "Tenants"). NULL: the
// operator's (created with the master password); an org's automation is created by its admin
// and acts only on its org's agents and policies (docs/automation.md). The owner never changes.
std::string automations_org() {
  return "ALTER TABLE automations ADD COLUMN org TEXT REFERENCES orgs(id);\n"
         "CREATE INDEX idx_automations_org ON automations(org, id);\n";
}

// ---- Migration 12: the archive's segment files (src/archive, docs/retention.md). A segment is
// recorded in the transaction that deletes its rows from the hot tables; a file under
// DATA_DIR/archive that no row names is a move that did not commit, deleted at start-up.
std::string archive_segments_table() {
  return fmt::format(
      "CREATE TABLE archive_segments ("
      "id INTEGER PRIMARY KEY, "
      "kind TEXT NOT NULL {}, "
      "file TEXT NOT NULL UNIQUE, "
      "rows INTEGER NOT NULL CHECK (rows > 0), "
      "first_audit_id INTEGER NOT NULL, "
      "last_audit_id INTEGER NOT NULL CHECK (last_audit_id >= first_audit_id), "
      "prev_hash TEXT NOT NULL, "
      "last_hash TEXT NOT NULL, "
      "time_min INTEGER NOT NULL, "
      "time_max INTEGER NOT NULL, "
      "checksum TEXT NOT NULL, "
      "bytes INTEGER NOT NULL, "
      "created_at INTEGER NOT NULL);\n",
      check_in("kind", std::array<std::string_view, 2>{kArchiveKindAudit, kArchiveKindDecisions}));
}

// ---- Migration 13: agent and session ids as integer keys on the rows every decision writes
// (docs/benchmarks.md, "Bytes per decision"). id_keys gives every agent, session and id an audit
// row names a small integer, never reused (its rows are never deleted, so an audit row's key
// keeps naming the same id after its agent is gone); agents and sessions carry theirs in
// `id_key`, set by a trigger on insert. transactions.agent_id and session_id store that key and
// reference agents(id_key) and sessions(id_key), so the foreign keys stay enforced with the same
// actions; audit_log.agent_id and session_id store it without a foreign key, as before. Queries
// map ids to keys and back through id_keys (queries.cc), so every row reads as it did.
// The enum columns of both tables are stored as codes (compact.h, Coded); a transaction's
// reserved amount as a zero-length BLOB when it is its amount, updated_at as NULL while it is
// created_at, the idempotency key by compact_key() (compact.h). An audit row's
// prev_hash is NULL when it is the hash of the row before it (id - 1), which it then reads as;
// deleting a row (archival moving the oldest rows out) first copies its hash into the next row's
// prev_hash, so the first row left still names the chain's state before it.
// transactions is rebuilt (a column's type and reference cannot change in place); the store runs
// this migration with foreign keys off, as SQLite's procedure for that requires, and checks them
// all before it commits.
// An enum column stored as codes (compact.h) accepts exactly its list's codes.
std::string check_code(std::string_view column, Coded coded, bool nullable = false) {
  const std::string in_list =
      fmt::format("typeof({0}) = 'integer' AND {0} BETWEEN 0 AND {1}", column,
                  coded_values(coded).size() - 1);
  if (nullable) return fmt::format("CHECK ({} IS NULL OR ({}))", column, in_list);
  return fmt::format("CHECK ({})", in_list);
}

// `column`'s code, for the migration that stores it coded; a value with none stays as it is.
std::string code_sql(std::string_view column, Coded coded) {
  std::string sql = fmt::format("CASE {}", column);
  const std::span<const std::string_view> values = coded_values(coded);
  for (std::size_t i = 0; i < values.size(); ++i) {
    sql += fmt::format(" WHEN {} THEN {}", sql_literal(values[i]), i);
  }
  return sql + fmt::format(" ELSE {} END", column);
}

std::string integer_agent_session_keys() {
  std::string key_triggers;
  for (std::string_view table : {"agents", "sessions"}) {
    key_triggers += fmt::format(
        "ALTER TABLE {0} ADD COLUMN id_key INTEGER;\n"
        "UPDATE {0} SET id_key = (SELECT key FROM id_keys WHERE id_keys.id = {0}.id);\n"
        "CREATE UNIQUE INDEX idx_{0}_id_key ON {0}(id_key);\n"
        "CREATE TRIGGER {0}_id_key AFTER INSERT ON {0} BEGIN "
        "INSERT OR IGNORE INTO id_keys (id) VALUES (NEW.id); "
        "UPDATE {0} SET id_key = (SELECT key FROM id_keys WHERE id = NEW.id) WHERE id = NEW.id; "
        "END;\n",
        table);
  }
  return "CREATE TABLE id_keys (key INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE);\n"
         "INSERT INTO id_keys (id) SELECT id FROM agents ORDER BY rowid;\n"
         "INSERT OR IGNORE INTO id_keys (id) SELECT id FROM sessions ORDER BY rowid;\n"
         "INSERT OR IGNORE INTO id_keys (id) SELECT expand_text(agent_id) FROM audit_log "
         "WHERE agent_id IS NOT NULL ORDER BY id;\n"
         "INSERT OR IGNORE INTO id_keys (id) SELECT expand_text(session_id) FROM audit_log "
         "WHERE session_id IS NOT NULL ORDER BY id;\n" +
         key_triggers +
         fmt::format(
             "CREATE TABLE transactions_v11 ("
             "id TEXT PRIMARY KEY, "
             "agent_id INTEGER NOT NULL REFERENCES agents(id_key) ON DELETE RESTRICT, "
             "session_id INTEGER REFERENCES sessions(id_key) ON DELETE SET NULL, "
             "chain INTEGER NOT NULL {}, "
             "tx_hash TEXT, "
             "type INTEGER NOT NULL {}, "
             "amount TEXT, to_address TEXT, token_mint TEXT, contract_address TEXT, "
             "method_signature TEXT, spender_address TEXT, approved_amount TEXT, "
             "parent_id TEXT REFERENCES transactions(id) ON DELETE CASCADE, "
             "batch_index INTEGER, "
             "status INTEGER NOT NULL DEFAULT 0 {}, "
             "tier INTEGER {}, "
             "queued_at INTEGER, executed_at INTEGER, created_at INTEGER NOT NULL, "
             "reserved_amount TEXT, error TEXT, metadata TEXT, idempotency_key TEXT, "
             "request_hash TEXT, expires_at INTEGER, executable_at INTEGER, final_amount TEXT, "
             "updated_at INTEGER);\n",
             check_code("chain", Coded::kChain),
             check_code("type", Coded::kTransactionType),
             check_code("status", Coded::kTransactionStatus),
             check_code("tier", Coded::kTier, true)) +
         fmt::format("INSERT INTO transactions_v11 SELECT t.id, a.id_key, s.id_key, {}, t.tx_hash, "
                     "{}, t.amount, t.to_address, t.token_mint, t.contract_address, "
                     "t.method_signature, t.spender_address, t.approved_amount, t.parent_id, "
                     "t.batch_index, {}, {}, ",
                     code_sql("t.chain", Coded::kChain), code_sql("t.type", Coded::kTransactionType),
                     code_sql("t.status", Coded::kTransactionStatus),
                     code_sql("t.tier", Coded::kTier)) +
         "t.queued_at, t.executed_at, t.created_at, "
         "CASE WHEN t.reserved_amount = t.amount THEN x'' ELSE t.reserved_amount END, t.error, "
         "t.metadata, compact_key(t.idempotency_key), t.request_hash, t.expires_at, "
         "t.executable_at, t.final_amount, "
         "CASE WHEN t.updated_at = t.created_at THEN NULL ELSE t.updated_at END "
         "FROM transactions t LEFT JOIN agents a ON a.id = t.agent_id "
         "LEFT JOIN sessions s ON s.id = t.session_id ORDER BY t.rowid;\n"
         "DROP TABLE transactions;\n"
         "ALTER TABLE transactions_v11 RENAME TO transactions;\n"
         "CREATE INDEX idx_transactions_agent_status ON transactions(agent_id, status);\n"
         "CREATE INDEX idx_transactions_created_at ON transactions(created_at);\n"
         "CREATE UNIQUE INDEX idx_transactions_agent_idempotency "
         "ON transactions(agent_id, idempotency_key) WHERE idempotency_key IS NOT NULL;\n"
         "CREATE INDEX idx_transactions_status_expires ON transactions(status, expires_at);\n"
         "CREATE INDEX idx_transactions_queued_at ON transactions(queued_at) "
         "WHERE queued_at IS NOT NULL;\n"
         "CREATE INDEX idx_transactions_contract_address ON transactions(contract_address) "
         "WHERE contract_address IS NOT NULL;\n"
         "CREATE INDEX idx_transactions_parent_id ON transactions(parent_id) "
         "WHERE parent_id IS NOT NULL;\n"
         "CREATE UNIQUE INDEX idx_transactions_agent_chain_tx_hash "
         "ON transactions(agent_id, chain, tx_hash) WHERE tx_hash IS NOT NULL;\n" +
         fmt::format(
             "CREATE TABLE audit_log_v11 ("
             "id INTEGER PRIMARY KEY, "
             "timestamp INTEGER NOT NULL, "
             "event_type NOT NULL, "
             "actor TEXT CHECK (actor IS NOT NULL OR agent_id IS NOT NULL), "
             "agent_id INTEGER, "
             "session_id INTEGER, "
             "tx_id TEXT, "
             "details TEXT NOT NULL, "
             "severity INTEGER NOT NULL {}, "
             "ip_address TEXT, "
             "correlation_id TEXT, "
             "prev_hash TEXT, "
             "hash TEXT NOT NULL);\n",
             check_code("severity", Coded::kAuditSeverity)) +
         fmt::format("INSERT INTO audit_log_v11 SELECT id, timestamp, {}, actor, "
                     "(SELECT key FROM id_keys WHERE id_keys.id = expand_text(audit_log.agent_id)), "
                     "(SELECT key FROM id_keys WHERE id_keys.id = "
                     "expand_text(audit_log.session_id)), "
                     "tx_id, details, {}, compact_text(ip_address), correlation_id, "
                     "CASE WHEN prev_hash = (SELECT p.hash FROM audit_log p WHERE p.id = "
                     "audit_log.id - 1) THEN NULL ELSE prev_hash END, hash FROM audit_log "
                     "ORDER BY id;\n",
                     code_sql("event_type", Coded::kAuditEventType),
                     code_sql("severity", Coded::kAuditSeverity)) +
         "DROP TABLE audit_log;\n"
         "ALTER TABLE audit_log_v11 RENAME TO audit_log;\n"
         "CREATE INDEX idx_audit_log_event_type ON audit_log(event_type);\n"
         "CREATE INDEX idx_audit_log_agent ON audit_log(agent_id);\n"
         "CREATE TRIGGER audit_log_keep_prev_hash AFTER DELETE ON audit_log BEGIN "
         "UPDATE audit_log SET prev_hash = OLD.hash WHERE id = OLD.id + 1 AND prev_hash IS NULL; "
         "END;\n";
}

constexpr std::array<Migration, 13> kMigrations = {{
    {1, "initial schema: seven tables of seed 004", &initial_schema},
    {2, "decision lifecycle columns on transactions", &decision_columns},
    {3, "leaner tables and indexes where every decision writes", &leaner_hot_tables},
    {4, "meter usage buckets, tx hashes per agent and chain, event outbox", &usage_hashes_outbox},
    {5, "credit ledger: lots, entries, holds, operations, payments, webhook and usage events",
     &credit_ledger},
    {6, "gateway: model deployments, API keys, agents' org", &gateway_models_keys_org},
    {7, "automations, their executions, accepted events, host inventories", &automation_tables},
    {8, "session-token signing keys", &signing_keys_table},
    {9, "organizations and their admin keys", &orgs_tables},
    {10, "compact decision rows, no unread indexes on them", &compact_decision_rows},
    {11, "automations owned by an org", &automations_org},
    {12, "archive segments", &archive_segments_table},
    {13, "agent and session ids as integer keys on the decision rows", &integer_agent_session_keys,
     true},
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
