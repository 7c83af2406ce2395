// The SQL behind each store operation, with row <-> struct mapping and the audit hash chain.
#include "store/sqlite/queries.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "core/amount.h"
#include "core/enums.h"
#include "core/json.h"
#include "store/sqlite/query_util.h"

namespace warden::store::sqlite {
namespace {

constexpr std::string_view kAgentColumns =
    "id, name, chain, network, public_key, status, owner_address, owner_verified, created_at, "
    "updated_at, suspended_at, suspension_reason, org";
constexpr std::string_view kSessionColumns =
    "id, agent_id, token_hash, expires_at, constraints, usage_stats, revoked_at, renewal_count, "
    "max_renewals, last_renewed_at, absolute_expires_at, created_at, role";
constexpr std::string_view kPolicyColumns =
    "id, agent_id, type, rules, priority, enabled, version, hash, created_at, updated_at";
constexpr std::string_view kAuditColumns =
    "id, timestamp, event_type, actor, agent_id, session_id, tx_id, details, severity, "
    "ip_address, correlation_id, prev_hash, hash";
// The same columns as read: agent and session ids are stored as their id_keys key, prev_hash
// only when it is not the hash of the row before (schema.cc, migration 13).
constexpr std::string_view kAuditSelect =
    "id, timestamp, event_type, actor, (SELECT id FROM id_keys WHERE key = audit_log.agent_id), "
    "(SELECT id FROM id_keys WHERE key = audit_log.session_id), tx_id, details, severity, "
    "ip_address, correlation_id, "
    "coalesce(prev_hash, (SELECT p.hash FROM audit_log p WHERE p.id = audit_log.id - 1)), hash";

AgentRow read_agent(const Stmt& st) {
  AgentRow r;
  r.id = st.text(0);
  r.name = st.text(1);
  r.chain = st.text(2);
  r.network = st.text(3);
  r.public_key = st.opt_text(4);
  r.status = st.text(5);
  r.owner_address = st.opt_text(6);
  r.owner_verified = st.boolean(7);
  r.created_at = st.int64(8);
  r.updated_at = st.int64(9);
  r.suspended_at = st.opt_int64(10);
  r.suspension_reason = st.opt_text(11);
  r.org = st.opt_text(12);
  return r;
}

SessionRow read_session(const Stmt& st) {
  SessionRow r;
  r.id = st.text(0);
  r.agent_id = st.text(1);
  r.token_hash = st.text(2);
  r.expires_at = st.int64(3);
  r.constraints = st.opt_text(4);
  r.usage_stats = st.opt_text(5);
  r.revoked_at = st.opt_int64(6);
  r.renewal_count = st.int64(7);
  r.max_renewals = st.int64(8);
  r.last_renewed_at = st.opt_int64(9);
  r.absolute_expires_at = st.int64(10);
  r.role = st.text(12);
  r.created_at = st.int64(11);
  return r;
}

PolicyRow read_policy(const Stmt& st) {
  PolicyRow r;
  r.id = st.text(0);
  r.agent_id = st.opt_text(1);
  r.type = st.text(2);
  r.rules = st.text(3);
  r.priority = st.int64(4);
  r.enabled = st.boolean(5);
  r.version = st.int64(6);
  r.hash = st.text(7);
  r.created_at = st.int64(8);
  r.updated_at = st.int64(9);
  return r;
}

AuditRow read_audit(const Stmt& st) {
  AuditRow r;
  r.id = st.int64(0);
  r.event.timestamp = st.int64(1);
  r.event.event_type = st.decoded(Coded::kAuditEventType, 2);
  r.event.agent_id = st.opt_expanded(4);
  // Not stored when it is the agent the row names (schema.cc, migration 10).
  r.event.actor =
      st.opt_expanded(3).value_or(std::string(kAgentActorPrefix) + r.event.agent_id.value_or(""));
  r.event.session_id = st.opt_expanded(5);
  r.event.tx_id = st.opt_expanded(6);
  r.event.details = st.expanded(7);
  r.event.severity = st.decoded(Coded::kAuditSeverity, 8);
  r.event.ip_address = st.opt_expanded(9);
  r.event.correlation_id = st.opt_expanded(10);
  r.prev_hash = st.expanded(11);
  r.hash = st.expanded(12);
  return r;
}

Status validate_audit_event(const AuditEvent& e) {
  if (!is_one_of(kAuditSeverities, e.severity)) {
    return Status(
        ErrorCode::VALIDATION_INVALID_VALUE,
        fmt::format("audit severity '{}' is not one of info, warning, critical", e.severity));
  }
  if (!is_json_object(e.details)) {
    return Status(ErrorCode::VALIDATION_INVALID_VALUE, "audit details must be a JSON object");
  }
  return Status();
}

}  // namespace

Result<std::optional<std::string>> get_kv(Connection& c, std::string_view key) {
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare("SELECT value FROM key_value_store WHERE key = ?"));
  st.bind(key);
  return first<std::string>(st, [](const Stmt& s) { return s.text(0); });
}

Result<std::optional<AgentRow>> get_agent(Connection& c, std::string_view id) {
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st, c.prepare(fmt::format("SELECT {} FROM agents WHERE id = ?", kAgentColumns)));
  st.bind(id);
  return first<AgentRow>(st, read_agent);
}

Result<std::vector<AgentRow>> list_agents(Connection& c, const Page& page) {
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st, c.prepare(fmt::format("SELECT {} FROM agents WHERE id > ? ORDER BY id LIMIT ?",
                                     kAgentColumns)));
  st.bind(page.after_id.value_or("")).bind(sql_limit(page.limit));
  return collect<AgentRow>(st, read_agent);
}

Result<std::vector<AgentRow>> list_org_agents(Connection& c, std::string_view org_id,
                                              const Page& page) {
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st, c.prepare(fmt::format(
                   "SELECT {} FROM agents WHERE org = ? AND id > ? ORDER BY id LIMIT ?",
                   kAgentColumns)));
  st.bind(org_id).bind(page.after_id.value_or("")).bind(sql_limit(page.limit));
  return collect<AgentRow>(st, read_agent);
}

Result<std::optional<SessionRow>> get_session(Connection& c, std::string_view id) {
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st, c.prepare(fmt::format("SELECT {} FROM sessions WHERE id = ?", kSessionColumns)));
  st.bind(id);
  return first<SessionRow>(st, read_session);
}

Result<std::vector<RevokedSessionRow>> list_revoked_sessions(Connection& c, std::int64_t now) {
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st, c.prepare("SELECT id, absolute_expires_at FROM sessions WHERE revoked_at IS NOT "
                         "NULL AND absolute_expires_at > ? ORDER BY id"));
  st.bind(now);
  return collect<RevokedSessionRow>(st, [](const Stmt& row) {
    return RevokedSessionRow{row.text(0), row.int64(1)};
  });
}

Result<std::vector<SigningKeyRow>> list_signing_keys(Connection& c) {
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st, c.prepare("SELECT kid, public_jwk, private_key_enc, created_at, not_after_sign, "
                         "verify_until FROM signing_keys ORDER BY created_at, kid"));
  return collect<SigningKeyRow>(st, [](const Stmt& row) {
    return SigningKeyRow{row.text(0),  row.text(1),  row.text(2),
                         row.int64(3), row.int64(4), row.int64(5)};
  });
}

Result<std::optional<SessionRow>> find_session_by_token_hash(Connection& c,
                                                             std::string_view token_hash) {
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st, c.prepare(fmt::format("SELECT {} FROM sessions WHERE token_hash = ? ORDER BY id "
                                     "LIMIT 1",
                                     kSessionColumns)));
  st.bind(token_hash);
  return first<SessionRow>(st, read_session);
}

Result<std::optional<PolicyRow>> get_policy(Connection& c, std::string_view id) {
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st, c.prepare(fmt::format("SELECT {} FROM policies WHERE id = ?", kPolicyColumns)));
  st.bind(id);
  return first<PolicyRow>(st, read_policy);
}

Result<std::optional<PolicyRow>> find_policy_by_hash(Connection& c, std::string_view hash) {
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st, c.prepare(fmt::format("SELECT {} FROM policies WHERE hash = ?", kPolicyColumns)));
  st.bind(hash);
  return first<PolicyRow>(st, read_policy);
}

Result<std::vector<PolicyRow>> list_policies(Connection& c, const PolicyFilter& filter,
                                             const Page& page) {
  // At most 2^4 distinct texts, each cached once per connection.
  std::string sql = fmt::format("SELECT {} FROM policies WHERE id > ?", kPolicyColumns);
  if (filter.agent_id) sql += " AND agent_id = ?";
  if (filter.global_only) sql += " AND agent_id IS NULL";
  if (filter.type) sql += " AND type = ?";
  if (filter.enabled) sql += " AND enabled = ?";
  sql += " ORDER BY id LIMIT ?";
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare(sql));
  st.bind(page.after_id.value_or(""));
  if (filter.agent_id) st.bind(*filter.agent_id);
  if (filter.type) st.bind(*filter.type);
  if (filter.enabled) st.bind(*filter.enabled);
  st.bind(sql_limit(page.limit));
  return collect<PolicyRow>(st, read_policy);
}

Result<std::vector<AuditRow>> list_audit(Connection& c, const AuditFilter& filter) {
  std::string sql = fmt::format("SELECT {} FROM audit_log WHERE id > ?", kAuditSelect);
  if (filter.event_type) sql += " AND event_type = ?";
  if (filter.agent_id) sql += " AND agent_id = (SELECT key FROM id_keys WHERE id = ?)";
  sql += " ORDER BY id LIMIT ?";
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare(sql));
  st.bind(filter.after_id);
  if (filter.event_type) st.bind_coded(Coded::kAuditEventType, *filter.event_type);
  if (filter.agent_id) st.bind(*filter.agent_id);
  st.bind(sql_limit(filter.limit));
  return collect<AuditRow>(st, read_audit);
}

Result<AuditVerifyReport> verify_audit(Connection& c, std::int64_t start_id,
                                       std::string_view start_hash) {
  // One SELECT reads one WAL snapshot, so rows appended meanwhile do not confuse the walk.
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st, c.prepare(fmt::format("SELECT {} FROM audit_log ORDER BY id", kAuditSelect)));
  AuditVerifyReport report;
  report.started_after_id = start_id;
  report.started_after_hash = std::string(start_hash);
  std::int64_t prev_id = start_id;
  std::string prev_hash(start_hash);
  for (;;) {
    WARDEN_ASSIGN_OR_RETURN(bool has_row, st.step());
    if (!has_row) return report;
    AuditRow row = read_audit(st);
    WARDEN_RETURN_IF_ERROR(st.read_status());
    ++report.rows_checked;
    std::string problem = audit_chain_problem(row, prev_id, prev_hash);
    if (!problem.empty()) {
      report.first_broken_id = row.id;
      report.problem = std::move(problem);
      return report;
    }
    prev_id = row.id;
    prev_hash = std::move(row.hash);
  }
}

Result<int> applied_schema_version(Connection& c) {
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare("SELECT COALESCE(MAX(version), 0) FROM "
                                             "schema_version"));
  WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
  if (!row) return Status(ErrorCode::INTERNAL_STORE_ERROR, "schema_version returned no row");
  return static_cast<int>(st.int64(0));
}

Status put_kv(Connection& c, std::string_view key, std::string_view value, std::int64_t now) {
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st, c.prepare("INSERT INTO key_value_store (key, value, updated_at) VALUES (?, ?, ?) "
                         "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
                         "updated_at = excluded.updated_at"));
  st.bind(key).bind(value).bind(now);
  return st.run();
}

Status insert_agent(Connection& c, const AgentRow& r) {
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare(fmt::format("INSERT INTO agents ({}) VALUES "
                                                         "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                                         kAgentColumns)));
  st.bind(r.id).bind(r.name).bind(r.chain).bind(r.network).bind(r.public_key).bind(r.status);
  st.bind(r.owner_address).bind(r.owner_verified).bind(r.created_at).bind(r.updated_at);
  st.bind(r.suspended_at).bind(r.suspension_reason).bind(r.org);
  return st.run();
}

Status update_agent(Connection& c, const AgentRow& r) {
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st, c.prepare("UPDATE agents SET name = ?, chain = ?, network = ?, public_key = ?, "
                         "status = ?, owner_address = ?, owner_verified = ?, updated_at = ?, "
                         "suspended_at = ?, suspension_reason = ?, org = ? WHERE id = ?"));
  st.bind(r.name).bind(r.chain).bind(r.network).bind(r.public_key).bind(r.status);
  st.bind(r.owner_address).bind(r.owner_verified).bind(r.updated_at).bind(r.suspended_at);
  st.bind(r.suspension_reason).bind(r.org).bind(r.id);
  return run_on_existing(c, st, ErrorCode::AGENT_NOT_FOUND, r.id);
}

Status insert_session(Connection& c, const SessionRow& r) {
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare(fmt::format("INSERT INTO sessions ({}) VALUES "
                                                         "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                                         kSessionColumns)));
  st.bind(r.id).bind(r.agent_id).bind(r.token_hash).bind(r.expires_at).bind(r.constraints);
  st.bind(r.usage_stats).bind(r.revoked_at).bind(r.renewal_count).bind(r.max_renewals);
  st.bind(r.last_renewed_at).bind(r.absolute_expires_at).bind(r.created_at).bind(r.role);
  return st.run();
}

Status insert_signing_key(Connection& c, const SigningKeyRow& r) {
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st, c.prepare("INSERT INTO signing_keys (kid, public_jwk, private_key_enc, created_at, "
                         "not_after_sign, verify_until) VALUES (?, ?, ?, ?, ?, ?)"));
  st.bind(r.kid).bind(r.public_jwk).bind(r.private_key_enc).bind(r.created_at);
  st.bind(r.not_after_sign).bind(r.verify_until);
  return st.run();
}

Status extend_signing_key(Connection& c, std::string_view kid, std::int64_t verify_until) {
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare("UPDATE signing_keys SET verify_until = "
                                             "max(verify_until, ?) WHERE kid = ?"));
  st.bind(verify_until).bind(kid);
  return st.run();
}

Status update_session(Connection& c, const SessionRow& r) {
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st, c.prepare("UPDATE sessions SET token_hash = ?, expires_at = ?, constraints = ?, "
                         "usage_stats = ?, revoked_at = ?, renewal_count = ?, max_renewals = ?, "
                         "last_renewed_at = ?, absolute_expires_at = ? WHERE id = ?"));
  st.bind(r.token_hash).bind(r.expires_at).bind(r.constraints).bind(r.usage_stats);
  st.bind(r.revoked_at).bind(r.renewal_count).bind(r.max_renewals).bind(r.last_renewed_at);
  st.bind(r.absolute_expires_at).bind(r.id);
  return run_on_existing(c, st, ErrorCode::SESSION_NOT_FOUND, r.id);
}

Result<std::int64_t> revoke_agent_sessions(Connection& c, std::string_view agent_id,
                                           std::int64_t now) {
  WARDEN_ASSIGN_OR_RETURN(Stmt st,
                          c.prepare("UPDATE sessions SET revoked_at = ? WHERE agent_id = ? AND "
                                    "revoked_at IS NULL"));
  st.bind(now).bind(agent_id);
  WARDEN_RETURN_IF_ERROR(st.run());
  return c.changes();
}

Status insert_policy(Connection& c, const PolicyRow& r) {
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare(fmt::format("INSERT INTO policies ({}) VALUES "
                                                         "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                                         kPolicyColumns)));
  st.bind(r.id).bind(r.agent_id).bind(r.type).bind(r.rules).bind(r.priority).bind(r.enabled);
  st.bind(r.version).bind(r.hash).bind(r.created_at).bind(r.updated_at);
  return st.run();
}

Status update_policy(Connection& c, const PolicyRow& r) {
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st, c.prepare("UPDATE policies SET agent_id = ?, type = ?, rules = ?, priority = ?, "
                         "enabled = ?, version = ?, hash = ?, updated_at = ? WHERE id = ?"));
  st.bind(r.agent_id).bind(r.type).bind(r.rules).bind(r.priority).bind(r.enabled);
  st.bind(r.version).bind(r.hash).bind(r.updated_at).bind(r.id);
  return run_on_existing(c, st, ErrorCode::POLICY_NOT_FOUND, r.id);
}

Status delete_policy(Connection& c, std::string_view id) {
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare("DELETE FROM policies WHERE id = ?"));
  st.bind(id);
  return run_on_existing(c, st, ErrorCode::POLICY_NOT_FOUND, id);
}

Result<std::int64_t> append_audit(Connection& c, const AuditEvent& e, AuditTail* tail) {
  WARDEN_RETURN_IF_ERROR(validate_audit_event(e));
  // Reading the tail and inserting after it is only safe inside the writer's transaction.
  if (sqlite3_get_autocommit(c.handle()) != 0) {
    return Status(ErrorCode::INTERNAL_STORE_ERROR, "append_audit outside a transaction");
  }
  std::int64_t id = 1;
  std::string prev_hash(kAuditGenesisHash);
  if (tail != nullptr && tail->known) {
    id = tail->id + 1;
    prev_hash = tail->hash;
  } else {
    WARDEN_ASSIGN_OR_RETURN(Stmt last,
                            c.prepare("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1"));
    WARDEN_ASSIGN_OR_RETURN(bool row, last.step());
    if (row) {
      id = last.int64(0) + 1;
      prev_hash = last.expanded(1);
      WARDEN_RETURN_IF_ERROR(last.read_status());
    }
  }
  std::string hash = audit_row_hash(id, e, prev_hash);
  // The row stores its agent's and session's keys, made here for an id seen the first time.
  for (const std::optional<std::string>* named : {&e.agent_id, &e.session_id}) {
    if (!named->has_value()) continue;
    WARDEN_ASSIGN_OR_RETURN(Stmt intern, c.prepare("INSERT OR IGNORE INTO id_keys (id) VALUES (?)"));
    intern.borrow_strings().bind(**named);
    WARDEN_RETURN_IF_ERROR(intern.run());
  }
  static const std::string sql = fmt::format(
      "INSERT INTO audit_log ({}) VALUES (?, ?, ?, ?, (SELECT key FROM id_keys WHERE id = ?), "
      "(SELECT key FROM id_keys WHERE id = ?), ?, ?, ?, ?, ?, "
      "CASE WHEN (SELECT hash FROM audit_log WHERE id = ?) = ? THEN NULL ELSE ? END, ?)",
      kAuditColumns);
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare(sql));
  // Ids, details and hashes are stored compacted (compact.h); the hash is over the text.
  st.borrow_strings().bind(id).bind(e.timestamp).bind_coded(Coded::kAuditEventType, e.event_type);
  if (actor_is_own_agent(e)) {
    st.bind_null();
  } else {
    st.bind_compact(e.actor);
  }
  st.bind(e.agent_id).bind(e.session_id).bind_compact_id(e.tx_id);
  st.bind_compact(e.details).bind_coded(Coded::kAuditSeverity, e.severity);
  st.bind_compact(e.ip_address);
  st.bind_compact_id(e.correlation_id);
  st.bind(id - 1).bind_compact(prev_hash).bind_compact(prev_hash).bind_compact(hash);
  WARDEN_RETURN_IF_ERROR(st.run());
  if (tail != nullptr) *tail = AuditTail{true, id, std::move(hash)};
  return id;
}

}  // namespace warden::store::sqlite

// Transactions and approvals (decision lifecycle).
namespace warden::store::sqlite {
namespace {

constexpr std::string_view kTransactionColumns =
    "id, agent_id, session_id, chain, tx_hash, type, amount, to_address, token_mint, "
    "contract_address, method_signature, spender_address, approved_amount, parent_id, "
    "batch_index, status, tier, queued_at, executed_at, created_at, error, metadata, "
    "reserved_amount, idempotency_key, request_hash, expires_at, executable_at, final_amount, "
    "updated_at";
// The same columns as read (schema.cc, migration 13): agent and session ids are stored as their
// id_keys key, updated_at as NULL while it equals created_at.
constexpr std::string_view kTransactionSelect =
    "id, (SELECT id FROM id_keys WHERE key = transactions.agent_id), "
    "(SELECT id FROM id_keys WHERE key = transactions.session_id), chain, tx_hash, type, amount, "
    "to_address, token_mint, contract_address, method_signature, spender_address, "
    "approved_amount, parent_id, batch_index, status, tier, queued_at, executed_at, created_at, "
    "error, metadata, reserved_amount, idempotency_key, request_hash, expires_at, executable_at, "
    "final_amount, coalesce(updated_at, created_at)";
// The key an agent or session id is stored as: NULL for NULL, -1 (which references no row, so
// the foreign key refuses it as it refused the unknown id) for an id with no key.
constexpr std::string_view kKeyOfParam =
    "(SELECT COALESCE(k.key, -1) FROM (SELECT ? AS id) v LEFT JOIN id_keys k ON k.id = v.id "
    "WHERE v.id IS NOT NULL)";
constexpr std::string_view kApprovalColumns =
    "id, tx_id, required_by, expires_at, approved_at, rejected_at, owner_signature, created_at";

TransactionRow read_transaction(const Stmt& st) {
  TransactionRow r;
  r.id = st.expanded(0);
  r.agent_id = st.text(1);
  r.session_id = st.opt_text(2);
  r.chain = st.decoded(Coded::kChain, 3);
  r.tx_hash = st.opt_text(4);
  r.type = st.decoded(Coded::kTransactionType, 5);
  r.amount = st.opt_expanded(6);
  r.to_address = st.opt_expanded(7);
  r.token_mint = st.opt_text(8);
  r.contract_address = st.opt_text(9);
  r.method_signature = st.opt_text(10);
  r.spender_address = st.opt_text(11);
  r.approved_amount = st.opt_text(12);
  r.parent_id = st.opt_expanded(13);
  r.batch_index = st.opt_int64(14);
  r.status = st.decoded(Coded::kTransactionStatus, 15);
  r.tier = st.opt_decoded(Coded::kTier, 16);
  r.queued_at = st.opt_int64(17);
  r.executed_at = st.opt_int64(18);
  r.created_at = st.int64(19);
  r.error = st.opt_text(20);
  r.metadata = st.opt_expanded(21).value_or("{}");
  // A zero-length BLOB: the same as the amount (bind_transaction_fields).
  r.reserved_amount = st.is_empty_blob(22) ? r.amount : st.opt_expanded(22);
  r.idempotency_key = st.opt_expanded(23);
  r.request_hash = st.opt_expanded(24);
  r.expires_at = st.opt_int64(25);
  r.executable_at = st.opt_int64(26);
  r.final_amount = st.opt_text(27);
  r.updated_at = st.int64(28);
  return r;
}

ApprovalRow read_approval(const Stmt& st) {
  ApprovalRow r;
  r.id = st.text(0);
  r.tx_id = st.expanded(1);
  r.required_by = st.int64(2);
  r.expires_at = st.int64(3);
  r.approved_at = st.opt_int64(4);
  r.rejected_at = st.opt_int64(5);
  r.owner_signature = st.opt_text(6);
  r.created_at = st.int64(7);
  return r;
}

// Stored compacted (compact.h): the id and parent id as ids (also in pending_approvals.tx_id,
// which references it), the columns no query compares as text: amount, reserved amount,
// recipient, metadata and request hash. A UUID id sorts as its bytes, in the order of its text.
void bind_transaction_fields(Stmt& st, const TransactionRow& r) {
  st.bind(r.agent_id).bind(r.session_id).bind_coded(Coded::kChain, r.chain).bind(r.tx_hash);
  st.bind_coded(Coded::kTransactionType, r.type);
  st.bind_compact(r.amount).bind_compact(r.to_address).bind(r.token_mint);
  st.bind(r.contract_address).bind(r.method_signature).bind(r.spender_address);
  st.bind(r.approved_amount).bind_compact_id(r.parent_id);
  st.bind(r.batch_index).bind_coded(Coded::kTransactionStatus, r.status);
  st.bind_coded(Coded::kTier, r.tier).bind(r.queued_at).bind(r.executed_at);
  st.bind(r.created_at).bind(r.error).bind_compact(r.metadata);
  // A decision reserves what it asks for: then the reserved amount is not stored again.
  if (r.amount && r.reserved_amount == r.amount) {
    st.bind_empty_blob();
  } else {
    st.bind_compact(r.reserved_amount);
  }
  st.bind_compact_key(r.idempotency_key).bind_compact(r.request_hash).bind(r.expires_at);
  st.bind(r.executable_at).bind(r.final_amount);
  if (r.updated_at == r.created_at) {
    st.bind_null();
  } else {
    st.bind(r.updated_at);
  }
}

}  // namespace

Result<std::optional<TransactionRow>> get_transaction(Connection& c, std::string_view id) {
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st, c.prepare(fmt::format("SELECT {} FROM transactions WHERE id = ?", kTransactionSelect)));
  st.bind_compact_id(id);
  return first<TransactionRow>(st, read_transaction);
}

Result<std::vector<TransactionRow>> list_transactions(Connection& c,
                                                      const TransactionFilter& filter,
                                                      const Page& page) {
  std::string sql = fmt::format("SELECT {} FROM transactions WHERE id > ?", kTransactionSelect);
  if (!filter.statuses.empty()) {
    sql += " AND status IN (";
    for (std::size_t i = 0; i < filter.statuses.size(); ++i) sql += i ? ", ?" : "?";
    sql += ")";
  }
  if (filter.agent_id) sql += " AND agent_id = (SELECT key FROM id_keys WHERE id = ?)";
  if (filter.created_at_min) sql += " AND created_at >= ?";
  if (filter.idempotency_key) sql += " AND idempotency_key = ?";
  if (filter.due_before) {
    const std::int64_t pending = *code_of(Coded::kTransactionStatus, "PENDING");
    const std::int64_t queued = *code_of(Coded::kTransactionStatus, "QUEUED");
    sql += fmt::format(
        " AND status IN ({0}, {1}) AND (expires_at <= ? OR (status = {1} AND executable_at <= ?) "
        "OR id IN (SELECT tx_id FROM pending_approvals WHERE expires_at <= ? AND approved_at IS "
        "NULL AND rejected_at IS NULL))",
        pending, queued);
  }
  // With a time bound, "+id" keeps SQLite from walking the primary key through the whole table
  // for the few recent rows: it searches the created_at index and sorts what it found.
  sql += filter.created_at_min ? " ORDER BY +id LIMIT ?" : " ORDER BY id LIMIT ?";
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare(sql));
  st.bind_compact_id(page.after_id.value_or(""));
  for (const auto& s : filter.statuses) st.bind_coded(Coded::kTransactionStatus, s);
  if (filter.agent_id) st.bind(*filter.agent_id);
  if (filter.created_at_min) st.bind(*filter.created_at_min);
  if (filter.idempotency_key) st.bind_compact_key(filter.idempotency_key);
  for (int i = 0; filter.due_before && i < 3; ++i) st.bind(*filter.due_before);
  st.bind(sql_limit(page.limit));
  return collect<TransactionRow>(st, read_transaction);
}

Status insert_transaction(Connection& c, const TransactionRow& r) {
  // Once per decision: the SQL text is built once and r's strings are bound in place.
  static const std::string sql = fmt::format(
      "INSERT INTO transactions ({}) VALUES (?, {}, {}, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
      "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      kTransactionColumns, kKeyOfParam, kKeyOfParam);
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare(sql));
  st.borrow_strings().bind_compact_id(r.id);
  bind_transaction_fields(st, r);
  return st.run();
}

Status update_transaction(Connection& c, const TransactionRow& r) {
  static const std::string sql = fmt::format(
      "UPDATE transactions SET agent_id = {0}, session_id = {0}, chain = ?, tx_hash = ?, "
      "type = ?, amount = ?, to_address = ?, token_mint = ?, contract_address = ?, "
      "method_signature = ?, spender_address = ?, approved_amount = ?, parent_id = ?, "
      "batch_index = ?, status = ?, tier = ?, queued_at = ?, executed_at = ?, "
      "created_at = ?, error = ?, metadata = ?, reserved_amount = ?, "
      "idempotency_key = ?, request_hash = ?, expires_at = ?, executable_at = ?, "
      "final_amount = ?, updated_at = ? WHERE id = ?",
      kKeyOfParam);
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare(sql));
  bind_transaction_fields(st, r);
  st.bind_compact_id(r.id);
  return run_on_existing(c, st, ErrorCode::TX_NOT_FOUND, r.id);
}

Result<std::optional<ApprovalRow>> get_approval(Connection& c, std::string_view id) {
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st, c.prepare(fmt::format("SELECT {} FROM pending_approvals WHERE id = ?", kApprovalColumns)));
  st.bind(id);
  return first<ApprovalRow>(st, read_approval);
}

Result<std::optional<ApprovalRow>> find_approval_by_tx(Connection& c, std::string_view tx_id) {
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st, c.prepare(fmt::format("SELECT {} FROM pending_approvals WHERE tx_id = ? "
                                     "ORDER BY id DESC LIMIT 1",
                                     kApprovalColumns)));
  st.bind_compact_id(tx_id);
  return first<ApprovalRow>(st, read_approval);
}

Result<std::vector<ApprovalRow>> list_approvals(Connection& c, bool pending_only,
                                                const Page& page) {
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st, c.prepare(fmt::format(
                   "SELECT {} FROM pending_approvals WHERE id > ? {} ORDER BY id LIMIT ?",
                   kApprovalColumns,
                   pending_only ? "AND approved_at IS NULL AND rejected_at IS NULL" : "")));
  st.bind(page.after_id.value_or("")).bind(sql_limit(page.limit));
  return collect<ApprovalRow>(st, read_approval);
}

Status insert_approval(Connection& c, const ApprovalRow& r) {
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st, c.prepare(fmt::format("INSERT INTO pending_approvals ({}) VALUES "
                                     "(?, ?, ?, ?, ?, ?, ?, ?)",
                                     kApprovalColumns)));
  st.bind(r.id).bind_compact_id(r.tx_id).bind(r.required_by).bind(r.expires_at);
  st.bind(r.approved_at);
  st.bind(r.rejected_at).bind(r.owner_signature).bind(r.created_at);
  return st.run();
}

Status update_approval(Connection& c, const ApprovalRow& r) {
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st, c.prepare("UPDATE pending_approvals SET required_by = ?, expires_at = ?, "
                         "approved_at = ?, rejected_at = ?, owner_signature = ? WHERE id = ?"));
  st.bind(r.required_by).bind(r.expires_at).bind(r.approved_at).bind(r.rejected_at);
  st.bind(r.owner_signature).bind(r.id);
  return run_on_existing(c, st, ErrorCode::APPROVAL_NOT_FOUND, r.id);
}

Status scan_meter_usage(Connection& c, const MeterUsageFilter& filter,
                        const std::function<Status(const MeterUsageRow&)>& each) {
  std::string sql =
      "SELECT a.name, k.name, m.bucket, m.amount FROM meter_usage m "
      "JOIN usage_names k ON k.id = m.meter JOIN usage_names a ON a.id = m.agent WHERE ";
  // A prefix is the name range [prefix, the prefix with its last byte raised by one).
  std::optional<std::string> prefix_end;
  if (filter.meter_prefix) {
    std::string end = *filter.meter_prefix;
    while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xFF) end.pop_back();
    if (!end.empty()) {
      end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
      prefix_end = std::move(end);
    }
  }
  std::string names;
  if (filter.meter) names = "k.name = ?";
  if (filter.meter_prefix) {
    if (!names.empty()) names += " OR ";
    names += prefix_end ? "(k.name >= ? AND k.name < ?)" : "k.name >= ?";
  }
  if (!names.empty()) sql += "(" + names + ") AND ";
  sql += "m.bucket >= ?";
  sql += " ORDER BY m.meter, m.bucket, m.agent";  // the primary key: one range, no sort
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare(sql));
  if (filter.meter) st.bind(*filter.meter);
  if (filter.meter_prefix) {
    st.bind(*filter.meter_prefix);
    if (prefix_end) st.bind(*prefix_end);
  }
  st.bind(filter.bucket_min);
  MeterUsageRow row;
  for (;;) {
    WARDEN_ASSIGN_OR_RETURN(bool more, st.step());
    if (!more) return Status();
    row.agent_id = st.text(0);
    row.meter = st.text(1);
    row.bucket = st.int64(2);
    row.amount = st.text(3);  // an INTEGER reads back as its decimal text
    WARDEN_RETURN_IF_ERROR(each(row));
  }
}

namespace {

// The integer that stands for an agent id or usage key in meter_usage, made on first use.
Result<std::int64_t> usage_name_id(Connection& c, std::string_view name) {
  WARDEN_ASSIGN_OR_RETURN(Stmt get, c.prepare("SELECT id FROM usage_names WHERE name = ?"));
  get.bind(name);
  WARDEN_ASSIGN_OR_RETURN(auto id, first<std::int64_t>(get, [](const Stmt& s) { return s.int64(0); }));
  if (id) return *id;
  WARDEN_ASSIGN_OR_RETURN(Stmt put, c.prepare("INSERT INTO usage_names (name) VALUES (?) RETURNING id"));
  put.bind(name);
  WARDEN_ASSIGN_OR_RETURN(auto made, first<std::int64_t>(put, [](const Stmt& s) { return s.int64(0); }));
  if (!made) return Status(ErrorCode::INTERNAL_STORE_ERROR, "usage_names insert returned no id");
  return *made;
}

}  // namespace

Status add_meter_usage(Connection& c, const MeterUsageRow& r) {
  WARDEN_ASSIGN_OR_RETURN(auto add, Amount::parse(r.amount));
  WARDEN_ASSIGN_OR_RETURN(std::int64_t meter, usage_name_id(c, r.meter));
  WARDEN_ASSIGN_OR_RETURN(std::int64_t agent, usage_name_id(c, r.agent_id));
  WARDEN_ASSIGN_OR_RETURN(
      Stmt get, c.prepare("SELECT amount FROM meter_usage WHERE meter = ? AND bucket = ? AND "
                          "agent = ?"));
  get.bind(meter).bind(r.bucket).bind(agent);
  WARDEN_ASSIGN_OR_RETURN(auto stored, first<std::string>(get, [](const Stmt& s) { return s.text(0); }));
  Amount total = add;
  if (stored) {
    WARDEN_ASSIGN_OR_RETURN(Amount before, Amount::parse(*stored));
    WARDEN_ASSIGN_OR_RETURN(total, before.checked_add(add));
  }
  WARDEN_ASSIGN_OR_RETURN(
      Stmt put, c.prepare("INSERT INTO meter_usage (meter, bucket, agent, amount) VALUES "
                          "(?, ?, ?, ?) ON CONFLICT (meter, bucket, agent) DO UPDATE SET "
                          "amount = excluded.amount"));
  put.bind(meter).bind(r.bucket).bind(agent);
  if (total <= Amount(INT64_MAX)) {
    put.bind(static_cast<std::int64_t>(total.rep()));
  } else {
    put.bind(total.to_string());
  }
  return put.run();
}

Result<std::vector<OutboxRow>> list_outbox_due(Connection& c, std::int64_t now,
                                               std::size_t limit) {
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st, c.prepare("SELECT id, event, created_at, attempts, next_attempt_at FROM "
                         "event_outbox WHERE next_attempt_at <= ? ORDER BY id LIMIT ?"));
  st.bind(now).bind(sql_limit(limit));
  return collect<OutboxRow>(st, [](const Stmt& s) {
    return OutboxRow{s.text(0), s.text(1), s.int64(2), s.int64(3), s.int64(4)};
  });
}

Status insert_outbox(Connection& c, const OutboxRow& r) {
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st, c.prepare("INSERT INTO event_outbox (id, event, created_at, attempts, "
                         "next_attempt_at) VALUES (?, ?, ?, ?, ?)"));
  st.bind(r.id).bind(r.event).bind(r.created_at).bind(r.attempts).bind(r.next_attempt_at);
  return st.run();
}

Status update_outbox(Connection& c, const OutboxRow& r) {
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st, c.prepare("UPDATE event_outbox SET attempts = ?, next_attempt_at = ? WHERE id = ?"));
  st.bind(r.attempts).bind(r.next_attempt_at).bind(r.id);
  return run_on_existing(c, st, ErrorCode::INTERNAL_STORE_ERROR, r.id);
}

Status delete_outbox(Connection& c, std::string_view id) {
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare("DELETE FROM event_outbox WHERE id = ?"));
  st.bind(id);
  return st.run();
}

}  // namespace warden::store::sqlite
