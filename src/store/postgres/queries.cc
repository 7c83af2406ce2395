// The SQL behind each store operation on PostgreSQL, with row <-> struct mapping and the audit
// hash chain: the twins of store/sqlite/queries.cc, with the same ordering, filters and errors.
// Every statement with parameters is a server-side prepared statement of a fixed text (pg.h).
#include "store/postgres/queries.h"

#include <fmt/format.h>

#include <string>

#include "core/amount.h"
#include "core/enums.h"
#include "core/json.h"
#include "store/postgres/row_reader.h"

namespace warden::store::postgres {
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
// As stored since migration 10: hashes as bytes, no actor for the agent the row names.
constexpr std::string_view kAuditSelect =
    "id, timestamp, event_type, COALESCE(actor, 'agent:' || agent_id), agent_id, session_id, "
    "tx_id, details, severity, ip_address, correlation_id, encode(prev_hash, 'hex'), "
    "encode(hash, 'hex')";

// "$1, $2, ..., $n".
std::string placeholders(int n) {
  std::string out;
  for (int i = 1; i <= n; ++i) out += fmt::format("{}${}", i > 1 ? ", " : "", i);
  return out;
}

AgentRow read_agent(const RowView& st) {
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

SessionRow read_session(const RowView& st) {
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
  r.created_at = st.int64(11);
  r.role = st.text(12);
  return r;
}

PolicyRow read_policy(const RowView& st) {
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

AuditRow read_audit(const RowView& st) {
  AuditRow r;
  r.id = st.int64(0);
  r.event.timestamp = st.int64(1);
  r.event.event_type = st.text(2);
  r.event.actor = st.text(3);
  r.event.agent_id = st.opt_text(4);
  r.event.session_id = st.opt_text(5);
  r.event.tx_id = st.opt_text(6);
  r.event.details = st.text(7);
  r.event.severity = st.text(8);
  r.event.ip_address = st.opt_text(9);
  r.event.correlation_id = st.opt_text(10);
  r.prev_hash = st.text(11);
  r.hash = st.text(12);
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
  static const std::string sql = "SELECT value FROM key_value_store WHERE key = $1";
  return first<std::string>(c.exec_prepared(sql, {str(key)}),
                            [](const RowView& s) { return s.text(0); });
}

Result<std::optional<AgentRow>> get_agent(Connection& c, std::string_view id) {
  static const std::string sql = fmt::format("SELECT {} FROM agents WHERE id = $1", kAgentColumns);
  return first<AgentRow>(c.exec_prepared(sql, {str(id)}), read_agent);
}

Result<std::vector<AgentRow>> list_agents(Connection& c, const Page& page) {
  static const std::string sql =
      fmt::format("SELECT {} FROM agents WHERE id > $1 ORDER BY id LIMIT $2", kAgentColumns);
  return collect<AgentRow>(
      c.exec_prepared(sql, {page.after_id.value_or(""), limit_param(page.limit)}), read_agent);
}

Result<std::vector<AgentRow>> list_org_agents(Connection& c, std::string_view org_id,
                                              const Page& page) {
  static const std::string sql = fmt::format(
      "SELECT {} FROM agents WHERE org = $1 AND id > $2 ORDER BY id LIMIT $3", kAgentColumns);
  return collect<AgentRow>(
      c.exec_prepared(sql, {str(org_id), page.after_id.value_or(""), limit_param(page.limit)}),
      read_agent);
}

Result<std::optional<SessionRow>> get_session(Connection& c, std::string_view id) {
  static const std::string sql =
      fmt::format("SELECT {} FROM sessions WHERE id = $1", kSessionColumns);
  return first<SessionRow>(c.exec_prepared(sql, {str(id)}), read_session);
}

Result<std::vector<RevokedSessionRow>> list_revoked_sessions(Connection& c, std::int64_t now) {
  static const std::string sql =
      "SELECT id, absolute_expires_at FROM sessions WHERE revoked_at IS NOT NULL AND "
      "absolute_expires_at > $1 ORDER BY id";
  return collect<RevokedSessionRow>(c.exec_prepared(sql, {num(now)}), [](const RowView& row) {
    return RevokedSessionRow{row.text(0), row.int64(1)};
  });
}

Result<std::vector<SigningKeyRow>> list_signing_keys(Connection& c) {
  static const std::string sql =
      "SELECT kid, public_jwk, private_key_enc, created_at, not_after_sign, verify_until FROM "
      "signing_keys ORDER BY created_at, kid";
  return collect<SigningKeyRow>(c.exec_prepared(sql), [](const RowView& row) {
    return SigningKeyRow{row.text(0),  row.text(1),  row.text(2),
                         row.int64(3), row.int64(4), row.int64(5)};
  });
}

Result<std::optional<SessionRow>> find_session_by_token_hash(Connection& c,
                                                             std::string_view token_hash) {
  static const std::string sql = fmt::format(
      "SELECT {} FROM sessions WHERE token_hash = $1 ORDER BY id LIMIT 1", kSessionColumns);
  return first<SessionRow>(c.exec_prepared(sql, {str(token_hash)}), read_session);
}

Result<std::optional<PolicyRow>> get_policy(Connection& c, std::string_view id) {
  static const std::string sql =
      fmt::format("SELECT {} FROM policies WHERE id = $1", kPolicyColumns);
  return first<PolicyRow>(c.exec_prepared(sql, {str(id)}), read_policy);
}

Result<std::optional<PolicyRow>> find_policy_by_hash(Connection& c, std::string_view hash) {
  static const std::string sql =
      fmt::format("SELECT {} FROM policies WHERE hash = $1", kPolicyColumns);
  return first<PolicyRow>(c.exec_prepared(sql, {str(hash)}), read_policy);
}

Result<std::vector<PolicyRow>> list_policies(Connection& c, const PolicyFilter& filter,
                                             const Page& page) {
  // Bits: 0 agent_id, 1 global_only, 2 type, 3 enabled.
  static const SqlVariants<4> variants([](unsigned v) {
    std::string sql = fmt::format("SELECT {} FROM policies WHERE id > $1", kPolicyColumns);
    int n = 1;
    if (v & 1u) sql += fmt::format(" AND agent_id = ${}", ++n);
    if (v & 2u) sql += " AND agent_id IS NULL";
    if (v & 4u) sql += fmt::format(" AND type = ${}", ++n);
    if (v & 8u) sql += fmt::format(" AND enabled = ${}", ++n);
    return sql + fmt::format(" ORDER BY id LIMIT ${}", ++n);
  });
  unsigned v = 0;
  std::vector<Param> params{page.after_id.value_or("")};
  if (filter.agent_id) {
    v |= 1u;
    params.emplace_back(*filter.agent_id);
  }
  if (filter.global_only) v |= 2u;
  if (filter.type) {
    v |= 4u;
    params.emplace_back(*filter.type);
  }
  if (filter.enabled) {
    v |= 8u;
    params.push_back(flag(*filter.enabled));
  }
  params.push_back(limit_param(page.limit));
  return collect<PolicyRow>(c.exec_prepared(variants[v], params), read_policy);
}

Result<std::vector<AuditRow>> list_audit(Connection& c, const AuditFilter& filter) {
  // Bits: 0 event_type, 1 agent_id.
  static const SqlVariants<2> variants([](unsigned v) {
    std::string sql = fmt::format("SELECT {} FROM audit_log WHERE id > $1", kAuditSelect);
    int n = 1;
    if (v & 1u) sql += fmt::format(" AND event_type = ${}", ++n);
    if (v & 2u) sql += fmt::format(" AND agent_id = ${}", ++n);
    return sql + fmt::format(" ORDER BY id LIMIT ${}", ++n);
  });
  unsigned v = 0;
  std::vector<Param> params{num(filter.after_id)};
  if (filter.event_type) {
    v |= 1u;
    params.emplace_back(*filter.event_type);
  }
  if (filter.agent_id) {
    v |= 2u;
    params.emplace_back(*filter.agent_id);
  }
  params.push_back(limit_param(filter.limit));
  return collect<AuditRow>(c.exec_prepared(variants[v], params), read_audit);
}

Result<AuditVerifyReport> verify_audit(Connection& c) {
  // Pages in id order rather than one result (libpq would hold the whole chain in memory). Rows
  // appended meanwhile cannot confuse the walk: ids are given under the chain's lock, held to
  // commit, so a row is visible only once every lower id is.
  static const std::string sql =
      fmt::format("SELECT {} FROM audit_log WHERE id > $1 ORDER BY id LIMIT 5000", kAuditSelect);
  AuditVerifyReport report;
  std::int64_t prev_id = 0;
  std::string prev_hash(kAuditGenesisHash);
  std::int64_t after = 0;
  for (;;) {
    WARDEN_ASSIGN_OR_RETURN(Rows rows, c.exec_prepared(sql, {num(after)}));
    if (rows.size() == 0) return report;
    for (int i = 0; i < rows.size(); ++i) {
      AuditRow row = read_audit(RowView(rows, i));
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
    after = prev_id;
  }
}

Status put_kv(Connection& c, std::string_view key, std::string_view value, std::int64_t now) {
  static const std::string sql =
      "INSERT INTO key_value_store (key, value, updated_at) VALUES ($1, $2, $3) "
      "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";
  return c.exec_prepared(sql, {str(key), str(value), num(now)}).status();
}

Status insert_agent(Connection& c, const AgentRow& r) {
  static const std::string sql =
      fmt::format("INSERT INTO agents ({}) VALUES ({})", kAgentColumns, placeholders(13));
  return c
      .exec_prepared(sql, {r.id, r.name, r.chain, r.network, r.public_key, r.status,
                           r.owner_address, flag(r.owner_verified), num(r.created_at),
                           num(r.updated_at), num(r.suspended_at), r.suspension_reason, r.org})
      .status();
}

Status update_agent(Connection& c, const AgentRow& r) {
  static const std::string sql =
      "UPDATE agents SET name = $1, chain = $2, network = $3, public_key = $4, status = $5, "
      "owner_address = $6, owner_verified = $7, updated_at = $8, suspended_at = $9, "
      "suspension_reason = $10, org = $11 WHERE id = $12";
  return on_existing(
      c.exec_prepared(sql, {r.name, r.chain, r.network, r.public_key, r.status, r.owner_address,
                            flag(r.owner_verified), num(r.updated_at), num(r.suspended_at),
                            r.suspension_reason, r.org, r.id}),
      ErrorCode::AGENT_NOT_FOUND, r.id);
}

Status insert_session(Connection& c, const SessionRow& r) {
  static const std::string sql =
      fmt::format("INSERT INTO sessions ({}) VALUES ({})", kSessionColumns, placeholders(13));
  return c
      .exec_prepared(
          sql, {r.id, r.agent_id, r.token_hash, num(r.expires_at), r.constraints, r.usage_stats,
                num(r.revoked_at), num(r.renewal_count), num(r.max_renewals),
                num(r.last_renewed_at), num(r.absolute_expires_at), num(r.created_at), r.role})
      .status();
}

Status insert_signing_key(Connection& c, const SigningKeyRow& r) {
  static const std::string sql =
      "INSERT INTO signing_keys (kid, public_jwk, private_key_enc, created_at, not_after_sign, "
      "verify_until) VALUES ($1, $2, $3, $4, $5, $6)";
  return c
      .exec_prepared(sql, {r.kid, r.public_jwk, r.private_key_enc, num(r.created_at),
                           num(r.not_after_sign), num(r.verify_until)})
      .status();
}

Status extend_signing_key(Connection& c, std::string_view kid, std::int64_t verify_until) {
  static const std::string sql =
      "UPDATE signing_keys SET verify_until = greatest(verify_until, $1) WHERE kid = $2";
  return c.exec_prepared(sql, {num(verify_until), str(kid)}).status();
}

Status update_session(Connection& c, const SessionRow& r) {
  static const std::string sql =
      "UPDATE sessions SET token_hash = $1, expires_at = $2, constraints = $3, usage_stats = $4, "
      "revoked_at = $5, renewal_count = $6, max_renewals = $7, last_renewed_at = $8, "
      "absolute_expires_at = $9 WHERE id = $10";
  return on_existing(
      c.exec_prepared(sql, {r.token_hash, num(r.expires_at), r.constraints, r.usage_stats,
                            num(r.revoked_at), num(r.renewal_count), num(r.max_renewals),
                            num(r.last_renewed_at), num(r.absolute_expires_at), r.id}),
      ErrorCode::SESSION_NOT_FOUND, r.id);
}

Result<std::int64_t> revoke_agent_sessions(Connection& c, std::string_view agent_id,
                                           std::int64_t now) {
  static const std::string sql =
      "UPDATE sessions SET revoked_at = $1 WHERE agent_id = $2 AND revoked_at IS NULL";
  WARDEN_ASSIGN_OR_RETURN(Rows rows, c.exec_prepared(sql, {num(now), str(agent_id)}));
  return static_cast<std::int64_t>(rows.affected());
}

Status insert_policy(Connection& c, const PolicyRow& r) {
  static const std::string sql =
      fmt::format("INSERT INTO policies ({}) VALUES ({})", kPolicyColumns, placeholders(10));
  return c
      .exec_prepared(sql, {r.id, r.agent_id, r.type, r.rules, num(r.priority), flag(r.enabled),
                           num(r.version), r.hash, num(r.created_at), num(r.updated_at)})
      .status();
}

Status update_policy(Connection& c, const PolicyRow& r) {
  static const std::string sql =
      "UPDATE policies SET agent_id = $1, type = $2, rules = $3, priority = $4, enabled = $5, "
      "version = $6, hash = $7, updated_at = $8 WHERE id = $9";
  return on_existing(
      c.exec_prepared(sql, {r.agent_id, r.type, r.rules, num(r.priority), flag(r.enabled),
                            num(r.version), r.hash, num(r.updated_at), r.id}),
      ErrorCode::POLICY_NOT_FOUND, r.id);
}

Status delete_policy(Connection& c, std::string_view id) {
  static const std::string sql = "DELETE FROM policies WHERE id = $1";
  return on_existing(c.exec_prepared(sql, {str(id)}), ErrorCode::POLICY_NOT_FOUND, id);
}

Result<std::int64_t> append_audit(Connection& c, const AuditEvent& e, AuditTail* tail) {
  WARDEN_RETURN_IF_ERROR(validate_audit_event(e));
  std::int64_t id = 1;
  std::string prev_hash(kAuditGenesisHash);
  if (tail != nullptr && tail->known) {
    id = tail->id + 1;
    prev_hash = tail->hash;
  } else {
    // The caller's transaction took the chain's lock when it began (PostgresStore::write), in a
    // statement before this one: this read's snapshot has the tail the previous holder committed.
    static const std::string tail_sql =
        "SELECT id, encode(hash, 'hex') FROM audit_log ORDER BY id DESC LIMIT 1";
    WARDEN_ASSIGN_OR_RETURN(Rows last, c.exec_prepared(tail_sql));
    if (last.size() > 0) {
      RowView row(last, 0);
      id = row.int64(0) + 1;
      prev_hash = row.text(1);
    }
  }
  std::string hash = audit_row_hash(id, e, prev_hash);
  // The hashes go to BYTEA columns as bytea's hex input ("\x..."): 32 bytes each on disk.
  static const RowInsert insert(fmt::format("INSERT INTO audit_log ({})", kAuditColumns), 13);
  // Queued: sent with the transaction's next statement that is waited for (see defer_row).
  c.defer_row(insert, {num(id), num(e.timestamp), e.event_type,
                       actor_is_own_agent(e) ? std::optional<std::string>()
                                             : std::optional(e.actor),
                       e.agent_id, e.session_id, e.tx_id, e.details, e.severity, e.ip_address,
                       e.correlation_id, "\\x" + prev_hash, "\\x" + hash});
  if (tail != nullptr) *tail = AuditTail{true, id, std::move(hash)};
  return id;
}

}  // namespace warden::store::postgres

// Transactions and approvals (decision lifecycle).
namespace warden::store::postgres {
namespace {

constexpr std::string_view kTransactionColumns =
    "id, agent_id, session_id, chain, tx_hash, type, amount, to_address, token_mint, "
    "contract_address, method_signature, spender_address, approved_amount, parent_id, "
    "batch_index, status, tier, queued_at, executed_at, created_at, error, metadata, "
    "reserved_amount, idempotency_key, request_hash, expires_at, executable_at, final_amount, "
    "updated_at";
constexpr std::string_view kApprovalColumns =
    "id, tx_id, required_by, expires_at, approved_at, rejected_at, owner_signature, created_at";

TransactionRow read_transaction(const RowView& st) {
  TransactionRow r;
  r.id = st.text(0);
  r.agent_id = st.text(1);
  r.session_id = st.opt_text(2);
  r.chain = st.text(3);
  r.tx_hash = st.opt_text(4);
  r.type = st.text(5);
  r.amount = st.opt_text(6);
  r.to_address = st.opt_text(7);
  r.token_mint = st.opt_text(8);
  r.contract_address = st.opt_text(9);
  r.method_signature = st.opt_text(10);
  r.spender_address = st.opt_text(11);
  r.approved_amount = st.opt_text(12);
  r.parent_id = st.opt_text(13);
  r.batch_index = st.opt_int64(14);
  r.status = st.text(15);
  r.tier = st.opt_text(16);
  r.queued_at = st.opt_int64(17);
  r.executed_at = st.opt_int64(18);
  r.created_at = st.int64(19);
  r.error = st.opt_text(20);
  r.metadata = st.opt_text(21).value_or("{}");
  r.reserved_amount = st.opt_text(22);
  r.idempotency_key = st.opt_text(23);
  r.request_hash = st.opt_text(24);
  r.expires_at = st.opt_int64(25);
  r.executable_at = st.opt_int64(26);
  r.final_amount = st.opt_text(27);
  r.updated_at = st.int64(28);
  return r;
}

ApprovalRow read_approval(const RowView& st) {
  ApprovalRow r;
  r.id = st.text(0);
  r.tx_id = st.text(1);
  r.required_by = st.int64(2);
  r.expires_at = st.int64(3);
  r.approved_at = st.opt_int64(4);
  r.rejected_at = st.opt_int64(5);
  r.owner_signature = st.opt_text(6);
  r.created_at = st.int64(7);
  return r;
}

// Every column but id, in kTransactionColumns order; then the id is appended or prepended.
std::vector<Param> transaction_fields(const TransactionRow& r) {
  std::vector<Param> p;
  p.reserve(29);
  p.insert(p.end(), {r.agent_id,
                     r.session_id,
                     r.chain,
                     r.tx_hash,
                     r.type,
                     r.amount,
                     r.to_address,
                     r.token_mint,
                     r.contract_address,
                     r.method_signature,
                     r.spender_address,
                     r.approved_amount,
                     r.parent_id,
                     num(r.batch_index),
                     r.status,
                     r.tier,
                     num(r.queued_at),
                     num(r.executed_at),
                     num(r.created_at),
                     r.error,
                     r.metadata,
                     r.reserved_amount,
                     r.idempotency_key,
                     r.request_hash,
                     num(r.expires_at),
                     num(r.executable_at),
                     r.final_amount,
                     num(r.updated_at)});
  return p;
}

}  // namespace

Result<std::optional<TransactionRow>> get_transaction(Connection& c, std::string_view id) {
  static const std::string sql =
      fmt::format("SELECT {} FROM transactions WHERE id = $1", kTransactionColumns);
  return first<TransactionRow>(c.exec_prepared(sql, {str(id)}), read_transaction);
}

Result<std::optional<TransactionRow>> get_transaction_for_update(Connection& c,
                                                                 std::string_view id) {
  static const std::string sql =
      fmt::format("SELECT {} FROM transactions WHERE id = $1 FOR UPDATE", kTransactionColumns);
  return first<TransactionRow>(c.exec_prepared(sql, {str(id)}), read_transaction);
}

Result<std::vector<TransactionRow>> list_transactions(Connection& c,
                                                      const TransactionFilter& filter,
                                                      const Page& page) {
  // Bits: 0 statuses (one array parameter, whatever their number), 1 agent_id, 2 created_at_min,
  // 4 idempotency_key, 3 due_before: the ids of the three kinds of due timer, each found through
  // an index (the status and expiry index; the QUEUED rows, which are few; the approvals' expiry
  // index) rather than by testing every open row.
  static const SqlVariants<5> variants([](unsigned v) {
    std::string sql = fmt::format("SELECT {} FROM transactions WHERE id > $1", kTransactionColumns);
    int n = 1;
    if (v & 1u) sql += fmt::format(" AND status = ANY(${}::text[])", ++n);
    if (v & 2u) sql += fmt::format(" AND agent_id = ${}", ++n);
    if (v & 4u) sql += fmt::format(" AND created_at >= ${}", ++n);
    if (v & 16u) sql += fmt::format(" AND idempotency_key = ${}", ++n);
    if (v & 8u) {
      sql += fmt::format(
          " AND status IN ('PENDING', 'QUEUED') AND id IN (SELECT id FROM transactions WHERE "
          "status IN ('PENDING', 'QUEUED') AND "
          "expires_at <= ${0} UNION ALL SELECT id FROM transactions WHERE status = 'QUEUED' AND "
          "executable_at <= ${0} UNION ALL SELECT tx_id FROM pending_approvals WHERE expires_at "
          "<= ${0} AND approved_at IS NULL AND rejected_at IS NULL)",
          ++n);
    }
    return sql + fmt::format(" ORDER BY id LIMIT ${}", ++n);
  });
  unsigned v = 0;
  std::vector<Param> params{page.after_id.value_or("")};
  if (!filter.statuses.empty()) {
    v |= 1u;
    params.push_back(text_array_param(filter.statuses));
  }
  if (filter.agent_id) {
    v |= 2u;
    params.emplace_back(*filter.agent_id);
  }
  if (filter.created_at_min) {
    v |= 4u;
    params.push_back(num(*filter.created_at_min));
  }
  if (filter.idempotency_key) {  // its clause comes before due_before's
    v |= 16u;
    params.emplace_back(*filter.idempotency_key);
  }
  if (filter.due_before) {
    v |= 8u;
    params.push_back(num(*filter.due_before));
  }
  params.push_back(limit_param(page.limit));
  return collect<TransactionRow>(c.exec_prepared(variants[v], params), read_transaction);
}

Status insert_transaction(Connection& c, const TransactionRow& r) {
  static const RowInsert insert(fmt::format("INSERT INTO transactions ({})", kTransactionColumns),
                                29);
  std::vector<Param> params = transaction_fields(r);
  params.insert(params.begin(), r.id);
  c.defer_row(insert, std::move(params));  // its failure comes with the next statement
  return Status();
}

Status update_transaction(Connection& c, const TransactionRow& r) {
  static const std::string sql =
      "UPDATE transactions SET agent_id = $1, session_id = $2, chain = $3, tx_hash = $4, "
      "type = $5, amount = $6, to_address = $7, token_mint = $8, contract_address = $9, "
      "method_signature = $10, spender_address = $11, approved_amount = $12, parent_id = $13, "
      "batch_index = $14, status = $15, tier = $16, queued_at = $17, executed_at = $18, "
      "created_at = $19, error = $20, metadata = $21, reserved_amount = $22, "
      "idempotency_key = $23, request_hash = $24, expires_at = $25, executable_at = $26, "
      "final_amount = $27, updated_at = $28 WHERE id = $29";
  std::vector<Param> params = transaction_fields(r);
  params.emplace_back(r.id);
  return on_existing(c.exec_prepared(sql, params), ErrorCode::TX_NOT_FOUND, r.id);
}

Result<std::optional<ApprovalRow>> get_approval(Connection& c, std::string_view id) {
  static const std::string sql =
      fmt::format("SELECT {} FROM pending_approvals WHERE id = $1", kApprovalColumns);
  return first<ApprovalRow>(c.exec_prepared(sql, {str(id)}), read_approval);
}

Result<std::optional<ApprovalRow>> find_approval_by_tx(Connection& c, std::string_view tx_id) {
  static const std::string sql =
      fmt::format("SELECT {} FROM pending_approvals WHERE tx_id = $1 ORDER BY id DESC LIMIT 1",
                  kApprovalColumns);
  return first<ApprovalRow>(c.exec_prepared(sql, {str(tx_id)}), read_approval);
}

Result<std::vector<ApprovalRow>> list_approvals(Connection& c, bool pending_only,
                                                const Page& page) {
  static const std::string all = fmt::format(
      "SELECT {} FROM pending_approvals WHERE id > $1 ORDER BY id LIMIT $2", kApprovalColumns);
  static const std::string pending = fmt::format(
      "SELECT {} FROM pending_approvals WHERE id > $1 AND approved_at IS NULL AND rejected_at "
      "IS NULL ORDER BY id LIMIT $2",
      kApprovalColumns);
  return collect<ApprovalRow>(
      c.exec_prepared(pending_only ? pending : all,
                      {page.after_id.value_or(""), limit_param(page.limit)}),
      read_approval);
}

Status insert_approval(Connection& c, const ApprovalRow& r) {
  static const RowInsert insert(fmt::format("INSERT INTO pending_approvals ({})", kApprovalColumns),
                                8);
  c.defer_row(insert, {r.id, r.tx_id, num(r.required_by), num(r.expires_at), num(r.approved_at),
                         num(r.rejected_at), r.owner_signature, num(r.created_at)});
  return Status();
}

Status update_approval(Connection& c, const ApprovalRow& r) {
  static const std::string sql =
      "UPDATE pending_approvals SET required_by = $1, expires_at = $2, approved_at = $3, "
      "rejected_at = $4, owner_signature = $5 WHERE id = $6";
  return on_existing(
      c.exec_prepared(sql, {num(r.required_by), num(r.expires_at), num(r.approved_at),
                            num(r.rejected_at), r.owner_signature, r.id}),
      ErrorCode::APPROVAL_NOT_FOUND, r.id);
}

Status scan_meter_usage(Connection& c, const MeterUsageFilter& filter,
                        const std::function<Status(const MeterUsageRow&)>& each) {
  // Bits: 0 meter, 1 meter_prefix. A prefix is starts_with, exact whatever the collation.
  static const SqlVariants<2> variants([](unsigned v) {
    std::string sql =
        "SELECT a.name, k.name, m.bucket, m.amount FROM meter_usage m "
        "JOIN usage_names k ON k.id = m.meter JOIN usage_names a ON a.id = m.agent WHERE ";
    int n = 0;
    if (v == 1u) sql += fmt::format("k.name = ${} AND ", ++n);
    if (v == 2u) sql += fmt::format("starts_with(k.name, ${}) AND ", ++n);
    if (v == 3u) {
      sql += fmt::format("(k.name = ${} OR starts_with(k.name, ${})) AND ", n + 1, n + 2);
      n += 2;
    }
    // The primary key's order, as on SQLite.
    return sql + fmt::format("m.bucket >= ${} ORDER BY m.meter, m.bucket, m.agent", ++n);
  });
  unsigned v = 0;
  std::vector<Param> params;
  if (filter.meter) {
    v |= 1u;
    params.emplace_back(*filter.meter);
  }
  if (filter.meter_prefix) {
    v |= 2u;
    params.emplace_back(*filter.meter_prefix);
  }
  params.push_back(num(filter.bucket_min));
  WARDEN_ASSIGN_OR_RETURN(Rows rows, c.exec_prepared(variants[v], params));
  MeterUsageRow row;
  for (int i = 0; i < rows.size(); ++i) {
    RowView st(rows, i);
    row.agent_id = st.text(0);
    row.meter = st.text(1);
    row.bucket = st.int64(2);
    row.amount = st.text(3);  // NUMERIC of scale 0 reads back as its decimal text
    WARDEN_RETURN_IF_ERROR(each(row));
  }
  return Status();
}

Status add_meter_usage(Connection& c, const MeterUsageRow& r) {
  WARDEN_ASSIGN_OR_RETURN(Amount add, Amount::parse(r.amount));
  // One round trip when both names are known: the sum is made by the server under the row's
  // lock, so replicas adding to one bucket at once add up. An addition past 2^256 - 1 leaves the
  // row as it was (the WHERE of the conflict update) rather than failing the statement, which
  // would abort the transaction: written = 0 with known names means overflow.
  static const std::string sql = fmt::format(
      "WITH k AS (SELECT m.id AS meter, a.id AS agent FROM usage_names m, usage_names a "
      "WHERE m.name = $1 AND a.name = $2), "
      "up AS (INSERT INTO meter_usage AS u (meter, bucket, agent, amount) "
      "SELECT meter, $3::bigint, agent, $4::numeric FROM k ON CONFLICT (meter, bucket, agent) DO "
      "UPDATE "
      "SET amount = u.amount + excluded.amount WHERE u.amount + excluded.amount <= {} "
      "RETURNING 1) "
      "SELECT (SELECT count(*) FROM k), (SELECT count(*) FROM up)",
      "115792089237316195423570985008687907853269984665640564039457584007913129639935");
  // Names seen for the first time. DO NOTHING: a replica that made one meanwhile wins, and the
  // retry reads its id.
  static const std::string names_sql =
      "INSERT INTO usage_names (name) VALUES ($1), ($2) ON CONFLICT (name) DO NOTHING";
  const std::vector<Param> params{r.meter, r.agent_id, num(r.bucket), add.to_string()};
  for (int attempt = 0; attempt < 2; ++attempt) {
    WARDEN_ASSIGN_OR_RETURN(Rows rows, c.exec_prepared(sql, params));
    RowView out(rows, 0);
    if (out.int64(0) > 0) {
      if (out.int64(1) > 0) return Status();
      return Status(ErrorCode::VALIDATION_INVALID_AMOUNT, "amount addition overflows 2^256-1");
    }
    if (attempt == 0) {
      WARDEN_RETURN_IF_ERROR(c.exec_prepared(names_sql, {r.meter, r.agent_id}).status());
    }
  }
  return Status(ErrorCode::INTERNAL_STORE_ERROR, "usage_names has no id for a name just inserted");
}

Result<std::vector<OutboxRow>> list_outbox_due(Connection& c, std::int64_t now, std::size_t limit) {
  static const std::string sql =
      "SELECT id, event, created_at, attempts, next_attempt_at FROM event_outbox "
      "WHERE next_attempt_at <= $1 ORDER BY id LIMIT $2";
  return collect<OutboxRow>(
      c.exec_prepared(sql, {num(now), limit_param(limit)}), [](const RowView& s) {
        return OutboxRow{s.text(0), s.text(1), s.int64(2), s.int64(3), s.int64(4)};
      });
}

Status insert_outbox(Connection& c, const OutboxRow& r) {
  static const RowInsert insert(
      "INSERT INTO event_outbox (id, event, created_at, attempts, next_attempt_at)", 5);
  c.defer_row(insert, {r.id, r.event, num(r.created_at), num(r.attempts), num(r.next_attempt_at)});
  return Status();
}

Status update_outbox(Connection& c, const OutboxRow& r) {
  static const std::string sql =
      "UPDATE event_outbox SET attempts = $1, next_attempt_at = $2 WHERE id = $3";
  return on_existing(c.exec_prepared(sql, {num(r.attempts), num(r.next_attempt_at), r.id}),
                     ErrorCode::INTERNAL_STORE_ERROR, r.id);
}

Status delete_outbox(Connection& c, std::string_view id) {
  static const std::string sql = "DELETE FROM event_outbox WHERE id = $1";
  return c.exec_prepared(sql, {str(id)}).status();
}

}  // namespace warden::store::postgres
