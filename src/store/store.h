// The store module's public API: row types and the Store interface that every backend
// (embedded SQLite now, PostgreSQL in cluster mode) implements. The store knows rows, not
// policies: validation and meaning live above it.
//
// Every state change goes through Store::write(), which runs a function inside one atomic
// transaction; audit events appended in that function commit or roll back with the change.
// Timestamps are Unix seconds (UTC).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace warden::store {

// The prev_hash of the audit chain's first row.
inline constexpr std::string_view kAuditGenesisHash =
    "0000000000000000000000000000000000000000000000000000000000000000";

struct AgentRow {
  std::string id;
  std::string name;
  std::string chain;    // kChainTypes
  std::string network;  // kNetworkTypes
  std::optional<std::string> public_key;  // unique when present
  std::string status = "ACTIVE";          // kAgentStatuses
  std::optional<std::string> owner_address;
  bool owner_verified = false;
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;
  std::optional<std::int64_t> suspended_at;
  std::optional<std::string> suspension_reason;
  std::optional<std::string> org;  // the gateway's org_id; added by migration 6
};

struct SessionRow {
  std::string id;
  std::string agent_id;
  std::string token_hash;  // SHA-256 hex of the bearer token; the token itself is never stored
  std::int64_t expires_at = 0;
  std::optional<std::string> constraints;  // JSON text
  std::optional<std::string> usage_stats;  // JSON text
  std::optional<std::int64_t> revoked_at;
  std::int64_t renewal_count = 0;
  std::int64_t max_renewals = 30;
  std::optional<std::int64_t> last_renewed_at;
  std::int64_t absolute_expires_at = 0;
  std::int64_t created_at = 0;
  // kSessionRoles: "agent" acts for its agent; "settlement" is the executor's credential for
  // the agent's transactions, which may confirm below the reserved amount and decides nothing.
  std::string role = "agent";
};

// A session-token signing key (docs/sessions.md). The private key is PKCS#8 DER sealed with
// AES-256-GCM under a key derived from the master secret, so the database alone cannot sign.
struct SigningKeyRow {
  std::string kid;
  std::string public_jwk;       // JSON text: the public JWK the JWKS endpoint serves
  std::string private_key_enc;  // base64url of version byte, nonce, ciphertext and tag
  std::int64_t created_at = 0;
  std::int64_t not_after_sign = 0;  // signs nothing from this time on
  std::int64_t verify_until = 0;    // its tokens are refused after this time
};

// A revoked session whose tokens could still be presented (not yet past its absolute expiry).
struct RevokedSessionRow {
  std::string id;
  std::int64_t absolute_expires_at = 0;
};

struct PolicyRow {
  std::string id;
  std::optional<std::string> agent_id;  // null: global policy
  std::string type;                     // kPolicyTypes
  std::string rules;                    // canonical JSON text
  std::int64_t priority = 0;
  bool enabled = true;
  std::int64_t version = 1;
  std::string hash;  // SHA-256 of the canonical spec; unique
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;
};

// A decision and its reservation. Wallet requests fill the typed columns; generic decisions
// have type "DECISION" with their action and attributes in metadata.
struct TransactionRow {
  std::string id;
  std::string agent_id;
  std::optional<std::string> session_id;
  std::string chain;
  std::optional<std::string> tx_hash;
  std::string type;  // kTransactionTypes
  std::optional<std::string> amount;
  std::optional<std::string> to_address;
  std::optional<std::string> token_mint;
  std::optional<std::string> contract_address;
  std::optional<std::string> method_signature;
  std::optional<std::string> spender_address;
  std::optional<std::string> approved_amount;
  std::optional<std::string> parent_id;
  std::optional<std::int64_t> batch_index;
  std::string status = "PENDING";  // kTransactionStatuses
  std::optional<std::string> tier;  // kPolicyTiers
  std::optional<std::int64_t> queued_at;
  std::optional<std::int64_t> executed_at;
  std::int64_t created_at = 0;
  std::optional<std::string> error;
  std::string metadata = "{}";  // JSON: decision reasons, reserved charges, request attributes
  std::optional<std::string> reserved_amount;
  // Added by migration 2.
  std::optional<std::string> idempotency_key;  // unique per agent
  std::optional<std::string> request_hash;
  std::optional<std::int64_t> expires_at;     // unsettled reservation expiry
  std::optional<std::int64_t> executable_at;  // DELAY: when it may execute
  std::optional<std::string> final_amount;
  std::int64_t updated_at = 0;
};

struct ApprovalRow {
  std::string id;
  std::string tx_id;
  std::int64_t required_by = 0;
  std::int64_t expires_at = 0;
  std::optional<std::int64_t> approved_at;
  std::optional<std::int64_t> rejected_at;
  std::optional<std::string> owner_signature;
  std::int64_t created_at = 0;
};

// Settled usage of one meter of one agent in one second: what a window counts after a restart
// without reading old transactions. Written in the same transaction as the settlement.
struct MeterUsageRow {
  std::string agent_id;
  std::string meter;        // "<policy_id>/<asset or requests>", independent of the window
  std::int64_t bucket = 0;  // Unix second the charge was reserved in
  std::string amount;       // decimal, 256-bit
};

struct MeterUsageFilter {
  std::optional<std::string> meter;  // one meter (all agents); none: every meter
  std::int64_t bucket_min = 0;       // buckets at or after this second
  // Every meter whose name starts with it (the per-model keys "<pid>/llm_tokens@..."); with
  // `meter` set, either matches.
  std::optional<std::string> meter_prefix;
};

// An event waiting for delivery (webhook outbox): written with the change it announces and
// deleted once delivered or given up, so a restart resumes what was not delivered.
struct OutboxRow {
  std::string id;     // UUID v7: the event id receivers de-duplicate by
  std::string event;  // JSON object text
  std::int64_t created_at = 0;
  std::int64_t attempts = 0;
  std::int64_t next_attempt_at = 0;
};

// ---- The credit ledger (src/ledger, docs/ledger.md). Amounts are decimal strings of unsigned
// 256-bit integers; times are Unix seconds.

// A credit lot: credit from one payment, grant or seed, spent first-expiring-first.
struct LotRow {
  std::string id;     // UUID v7: creation order
  std::string owner;  // agent id
  std::string source;  // kLotSources
  std::string amount;
  std::string currency;  // policy::canonical_asset
  std::optional<std::int64_t> expires_at;
  std::string status = "active";          // kLotStatuses: active -> expired | depleted only
  std::optional<std::string> payment_id;  // unique when set
  std::int64_t created_at = 0;
};

// One append-only ledger entry. Per lot: remaining = credit - expire - debit (without hold_id)
// - hold + release, held = hold - release - debit (with hold_id).
struct LotEntryRow {
  std::int64_t id = 0;  // assigned on insert, increasing: the entries cursor
  std::string lot_id;
  std::string owner;
  std::string currency;
  std::string entry_type;  // kLotEntryTypes
  std::string amount;      // > 0
  std::string op_id;       // the ledger operation (LedgerOpRow::id) that wrote it
  std::optional<std::string> hold_id;
  std::optional<std::string> tx_id;  // the decision, when there is one
  std::int64_t created_at = 0;
};

// A lot with what its entries leave (the lot_balances view).
struct LotBalanceRow {
  LotRow lot;
  std::string remaining;  // spendable
  std::string held;       // under open holds
};

struct HoldRow {
  std::string id;
  std::string owner;
  std::string currency;
  std::string amount;  // what was held (may be less than asked under allow_negative)
  std::string status = "pending";  // kHoldStatuses: pending -> posted | voided | expired only
  std::optional<std::string> posted_amount;
  std::optional<std::string> tx_id;  // a BUDGET decision's hold
  std::int64_t expires_at = 0;       // 0: never (a decision's hold ends with its reservation)
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;
};

// One ledger operation: what an idempotency key answered (the first result, replayed to every
// retry). The key is unique when set; operations of the system (expiry, a decision's hold) have
// none.
struct LedgerOpRow {
  std::string id;
  std::string kind;  // kLedgerOpKinds
  std::optional<std::string> idempotency_key;
  std::string request_hash;
  std::string result;  // JSON object text
  std::int64_t created_at = 0;
};

// A payment as its provider's webhooks reported it.
struct PaymentRow {
  std::string id;  // "<provider>:<provider's payment id>"
  std::string provider;
  std::string owner;
  std::string amount;
  std::string currency;
  std::string status;  // kPaymentStatuses, forward only
  std::optional<std::string> lot_id;  // minted once confirmed
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;
};

// A received provider webhook: stored once per (provider, event_id), never changed.
struct WebhookEventRow {
  std::string provider;
  std::string event_id;
  std::string payload;  // the body as received
  std::int64_t received_at = 0;
  std::optional<std::int64_t> processed_at;  // null: stored and ignored (stale or duplicate)
};

// Metered LLM usage, written by the gateway with its settlement.
struct UsageEventRow {
  std::string id;
  std::string agent_id;
  std::optional<std::string> tx_id;
  std::string provider;
  std::string model;
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  std::optional<std::string> cost;  // in `currency`'s smallest unit
  std::optional<std::string> currency;
  std::int64_t created_at = 0;
};

// Usage events summed per group over [from, to): `group_by` "hour" or "day" (the bucket's
// first second, UTC), "model" or "app" (the agent). Per group and cost currency.
struct UsageRollupFilter {
  std::string group_by = "hour";
  std::int64_t from = 0;
  std::int64_t to = 0;
  std::optional<std::string> agent_id;
  std::optional<std::string> model;
};

struct UsageRollupRow {
  std::string key;  // the bucket's Unix second as text, the model, or the agent id
  std::optional<std::string> currency;  // of the costs; null for events without a price
  std::int64_t requests = 0;
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  std::string cost = "0";  // exact sum, decimal
};

// ---- The LLM gateway (docs/gateway.md, "Models and API keys").

// Providers a model deployment may speak to. Kept here rather than in core/enums.h so that adding
// one rebuilds the store and its users only; the schema's CHECK is generated from this list.
inline constexpr std::array<std::string_view, 5> kModelProviders = {
    "openai", "azure_openai", "anthropic", "cohere", "google"};

// A model deployment: what clients name in "model" and where the gateway sends it. The upstream
// credential is never stored, only where to read it.
struct ModelRow {
  std::string id;
  std::string name;  // unique: the "model" clients send
  std::string provider;  // kModelProviders
  std::string base_url;  // http(s)://host[:port][/path]
  std::string upstream_model;
  // Prices in millionths of `currency` per 1,000 tokens, canonical decimal text (may be "0").
  std::string input_price_micros_per_1k;
  std::string output_price_micros_per_1k;
  std::string currency;  // policy::canonical_asset
  std::string key_ref;   // "env:NAME" or "file:/absolute/path"
  bool enabled = true;
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;
};

// A gateway API key of an agent. Only the SHA-256 hex of the secret is stored (like session
// tokens); `prefix` is the secret's first characters, shown to tell keys apart.
struct ApiKeyRow {
  std::string id;
  std::string agent_id;
  std::string key_hash;  // unique
  std::string prefix;
  std::optional<std::string> name;
  std::int64_t created_at = 0;
  std::optional<std::int64_t> revoked_at;
  std::optional<std::int64_t> last_used_at;
};

// An organization (tenant). Deleting one only sets deleted_at: its name stays taken and its id
// keeps resolving for the audit trail.
struct OrgRow {
  std::string id;
  std::string name;  // unique, deleted orgs included
  std::int64_t created_at = 0;
  std::optional<std::int64_t> deleted_at;
};

// An org's admin credential: like a gateway API key, only the SHA-256 hex of the secret is kept.
struct OrgAdminKeyRow {
  std::string id;
  std::string org_id;
  std::string key_hash;  // unique
  std::string prefix;
  std::optional<std::string> name;
  std::int64_t created_at = 0;
  std::optional<std::int64_t> revoked_at;
};

// ---- Automation policies (docs/automation.md). JSON columns hold object text; times ending in
// _ms are Unix milliseconds, the others Unix seconds.

// One automation: its spec as saved, the compiled IR, and the latest validation and dry-run
// (which gate enabling it).
struct AutomationRow {
  std::string id;
  std::string name;
  std::string spec;  // the normalized spec, canonical JSON
  std::string ir;    // the compiled IR (ir_json)
  std::string hash;  // SHA-256 hex of the canonical spec; unique
  std::int64_t version = 1;
  bool enabled = false;
  std::int64_t priority = 0;
  std::optional<std::string> last_validation;  // JSON
  std::optional<std::string> last_dry_run;     // JSON: the transcript
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;
  // The org that owns it (set at creation, never changed); none: the operator's.
  std::optional<std::string> org;
};

// One action on one target, or why it did not run. Only the newest kExecutionsKeptMax per
// automation are kept.
struct AutomationExecutionRow {
  std::string id;  // UUID v7: newest last
  std::string automation_id;
  std::optional<std::string> event_id;  // none for a schedule
  std::string host;
  std::string target_id;
  std::string capability;
  std::string verb;
  std::string outcome;  // kAutomationOutcomes
  std::string idempotency_key;
  std::string effects = "[]";  // JSON array
  std::string reason;
  std::string correlation_id;
  std::int64_t started_at_ms = 0;
  std::int64_t finished_at_ms = 0;
};
inline constexpr std::size_t kExecutionsKeptMax = 30;
inline constexpr std::array<std::string_view, 6> kAutomationOutcomes = {
    "succeeded", "failed", "suppressed", "duplicate", "skipped", "timeout"};

// An accepted event, durable before its sender is answered.
struct EventRow {
  std::string id;  // UUID v7
  std::string kind;
  std::string source;
  std::string subject;
  std::int64_t occurred_at_ms = 0;
  std::string attributes = "{}";  // JSON object
  std::int64_t received_at_ms = 0;
};

// The last inventory refresh of one host.
struct InventoryRow {
  std::string host;
  std::string items = "[]";  // JSON array of items
  std::int64_t refreshed_at_ms = 0;
  bool full = false;
};

// Cluster mode (docs/cluster.md, "Exact limits across replicas"): one charge of one window, as
// the replica's engine decided it (engine::WindowCharge). Times in Unix milliseconds; amounts
// decimal.
struct WindowReservation {
  std::string agent_id;
  std::string meter;
  std::int64_t bucket_ms = 0;        // the bucket the charge lands in
  std::int64_t first_bucket_ms = 0;  // buckets before it have left the window
  std::string amount;
  std::string max;
};

// ---- Retention and archival (src/archive, docs/retention.md). Rows past the retention horizon
// move out of the hot tables into compressed segment files under DATA_DIR/archive; each segment
// is recorded here in the same transaction that deletes its rows, so a row is always in exactly
// one place.
inline constexpr std::string_view kArchiveKindAudit = "audit";
inline constexpr std::string_view kArchiveKindDecisions = "decisions";

// Statuses after which a decision changes no more (nothing is reserved, nothing awaits an
// approval or a release): only these are archived. A late confirmation of an EXPIRED
// reservation is accepted only while its row is still hot.
inline constexpr std::array<std::string_view, 6> kArchivableTransactionStatuses = {
    "CONFIRMED", "FAILED", "CANCELLED", "EXPIRED", "PARTIAL_FAILURE", "DENIED"};

struct ArchiveSegmentRow {
  std::int64_t id = 0;  // 1, 2, ...: the order segments were written in
  std::string kind;     // kArchiveKindAudit or kArchiveKindDecisions
  std::string file;     // its name inside DATA_DIR/archive
  std::int64_t rows = 0;
  // Audit segments: the ids they hold and the chain's state around them (prev_hash before the
  // first row, hash of the last). Decision segments: 0 and "".
  std::int64_t first_audit_id = 0;
  std::int64_t last_audit_id = 0;
  std::string prev_hash;
  std::string last_hash;
  std::int64_t time_min = 0;  // oldest and newest row time (audit timestamp, decision created_at)
  std::int64_t time_max = 0;
  std::string checksum;    // SHA-256 hex of the segment's row lines
  std::int64_t bytes = 0;  // the compressed file's size
  std::int64_t created_at = 0;
};

// What the mover needs at start-up, read without walking every segment record (their number
// grows with history): segments are numbered 1, 2, ... and never deleted.
struct ArchiveSummary {
  std::int64_t last_segment_id = 0;  // also how many there are; 0: none
  std::optional<ArchiveSegmentRow> last_audit_segment;
};

// A settled decision with its approvals: what one decision segment line holds, and what leaves
// the hot tables together (approvals belong to their transaction).
struct ArchivedDecision {
  TransactionRow tx;
  std::vector<ApprovalRow> approvals;
};

struct LotFilter {
  std::optional<std::string> owner;
  std::optional<std::string> currency;
};

struct LotEntryFilter {
  std::optional<std::string> owner;
  std::optional<std::string> lot_id;
  std::int64_t after_id = 0;
  std::size_t limit = 100;
};

struct TransactionFilter {
  std::vector<std::string> statuses = {};  // empty: any
  std::optional<std::string> agent_id = {};
  std::optional<std::int64_t> created_at_min = {};
  // Only open rows (PENDING, QUEUED) with a timer due at or before this (unix seconds): the
  // reservation's expiry, a QUEUED row's release (executable_at), or its undecided approval's
  // expiry. What a sweeping replica reads instead of every open row (docs/cluster.md, "One
  // replica sweeps").
  std::optional<std::int64_t> due_before = {};
  // The row that holds this idempotency key (with agent_id: keys are unique per agent), found
  // through the unique index: how a decision refused for a key the replay table did not know
  // (used before a restart, on another replica, or before the replay period) learns what holds it.
  std::optional<std::string> idempotency_key = {};
};

struct AuditEvent {
  std::int64_t timestamp = 0;
  std::string event_type;  // e.g. "AGENT_CREATED", "AUTH_FAILED"
  std::string actor;       // "master", "agent:<id>", "system", "ip:<addr>"
  std::optional<std::string> agent_id;
  std::optional<std::string> session_id;
  std::optional<std::string> tx_id;
  std::string details = "{}";  // JSON object text
  std::string severity = "info";  // kAuditSeverities
  std::optional<std::string> ip_address;
  std::optional<std::string> correlation_id;
};

// A stored audit row: hash = SHA-256 over the canonical JSON of its content including id and
// prev_hash, so editing, deleting or reordering rows breaks the chain.
struct AuditRow {
  std::int64_t id = 0;
  AuditEvent event;
  std::string prev_hash;  // 64 zeros for the first row
  std::string hash;
};

// Cursor pagination: items strictly after `after_id` in id order, at most `limit`.
struct Page {
  std::optional<std::string> after_id;
  std::size_t limit = 50;
};

struct PolicyFilter {
  std::optional<std::string> agent_id;  // exact agent
  bool global_only = false;             // agent_id IS NULL
  std::optional<std::string> type;
  std::optional<bool> enabled;
};

struct AuditFilter {
  std::int64_t after_id = 0;
  std::optional<std::string> event_type;
  std::optional<std::string> agent_id;
  std::size_t limit = 100;
};

struct AuditVerifyReport {
  std::int64_t rows_checked = 0;
  // Where the hot walk began: after the newest archived audit row (0 and the genesis hash when
  // nothing is archived). `warden audit verify` checks the segments up to it.
  std::int64_t started_after_id = 0;
  std::string started_after_hash = std::string(kAuditGenesisHash);
  std::optional<std::int64_t> first_broken_id;  // set when the chain does not verify
  std::string problem;                          // what is wrong with that row
};

// Reads. Implementations are thread-safe.
class Reader {
 public:
  virtual ~Reader() = default;
  virtual Result<std::optional<std::string>> get_kv(std::string_view key) = 0;
  virtual Result<std::optional<AgentRow>> get_agent(std::string_view id) = 0;
  virtual Result<std::vector<AgentRow>> list_agents(const Page& page) = 0;
  virtual Result<std::optional<SessionRow>> get_session(std::string_view id) = 0;
  virtual Result<std::optional<SessionRow>> find_session_by_token_hash(
      std::string_view token_hash) = 0;
  // Revoked sessions whose absolute expiry is after `now` (start-up fills the revocation set).
  virtual Result<std::vector<RevokedSessionRow>> list_revoked_sessions(std::int64_t now) = 0;
  // Every signing key, oldest first.
  virtual Result<std::vector<SigningKeyRow>> list_signing_keys() = 0;
  virtual Result<std::optional<PolicyRow>> get_policy(std::string_view id) = 0;
  virtual Result<std::optional<PolicyRow>> find_policy_by_hash(std::string_view hash) = 0;
  virtual Result<std::vector<PolicyRow>> list_policies(const PolicyFilter& filter,
                                                       const Page& page) = 0;
  virtual Result<std::vector<AuditRow>> list_audit(const AuditFilter& filter) = 0;
  virtual Result<std::optional<TransactionRow>> get_transaction(std::string_view id) = 0;
  virtual Result<std::vector<TransactionRow>> list_transactions(const TransactionFilter& filter,
                                                                const Page& page) = 0;
  virtual Result<std::optional<ApprovalRow>> get_approval(std::string_view id) = 0;
  virtual Result<std::optional<ApprovalRow>> find_approval_by_tx(std::string_view tx_id) = 0;
  // Pending = neither approved nor rejected (expired ones included until the sweeper acts).
  virtual Result<std::vector<ApprovalRow>> list_approvals(bool pending_only, const Page& page) = 0;
  // Calls each for every matching row, in (meter, bucket, agent) order; stops at an error.
  virtual Status scan_meter_usage(const MeterUsageFilter& filter,
                                  const std::function<Status(const MeterUsageRow&)>& each) = 0;
  // Outbox events due at `now` (next_attempt_at <= now), oldest first.
  virtual Result<std::vector<OutboxRow>> list_outbox_due(std::int64_t now, std::size_t limit) = 0;
  // Ledger.
  virtual Result<std::optional<LotRow>> get_lot(std::string_view id) = 0;
  // Lots in id order, after page.after_id.
  virtual Result<std::vector<LotRow>> list_lots(const LotFilter& filter, const Page& page) = 0;
  // Every lot with its balance from the lot_balances view, in id order; stops at an error.
  virtual Status scan_lot_balances(const LotFilter& filter,
                                   const std::function<Status(const LotBalanceRow&)>& each) = 0;
  // Entries in id order after filter.after_id.
  virtual Result<std::vector<LotEntryRow>> list_lot_entries(const LotEntryFilter& filter) = 0;
  // Every entry in id order (reconciliation); stops at an error.
  virtual Status scan_lot_entries(const std::function<Status(const LotEntryRow&)>& each) = 0;
  virtual Result<std::optional<HoldRow>> get_hold(std::string_view id) = 0;
  // Pending holds, and the entries of each (start-up rebuilds them), in id order.
  virtual Result<std::vector<HoldRow>> list_pending_holds() = 0;
  virtual Status scan_pending_hold_entries(
      const std::function<Status(const LotEntryRow&)>& each) = 0;
  virtual Result<std::optional<LedgerOpRow>> find_ledger_op(std::string_view idempotency_key) = 0;
  // Operations with a key created at or after since (start-up restores recent keys).
  virtual Status scan_ledger_ops_since(std::int64_t since,
                                       const std::function<Status(const LedgerOpRow&)>& each) = 0;
  virtual Result<std::optional<PaymentRow>> get_payment(std::string_view id) = 0;
  virtual Result<std::optional<WebhookEventRow>> get_webhook_event(std::string_view provider,
                                                                   std::string_view event_id) = 0;
  // Groups in key order, then currency.
  virtual Result<std::vector<UsageRollupRow>> usage_rollup(const UsageRollupFilter& filter) = 0;
  // Gateway.
  virtual Result<std::optional<ModelRow>> get_model(std::string_view id) = 0;
  virtual Result<std::optional<ModelRow>> find_model_by_name(std::string_view name) = 0;
  virtual Result<std::vector<ModelRow>> list_models(const Page& page) = 0;
  virtual Result<std::optional<ApiKeyRow>> get_api_key(std::string_view id) = 0;
  virtual Result<std::optional<ApiKeyRow>> find_api_key_by_hash(std::string_view key_hash) = 0;
  // One agent's keys (revoked ones included) in id order.
  virtual Result<std::vector<ApiKeyRow>> list_api_keys(std::string_view agent_id,
                                                       const Page& page) = 0;
  // Organizations (docs/cluster.md). get_org returns deleted orgs too; list_orgs skips them.
  virtual Result<std::optional<OrgRow>> get_org(std::string_view id) = 0;
  virtual Result<std::vector<OrgRow>> list_orgs(const Page& page) = 0;
  // One org's agents in id order.
  virtual Result<std::vector<AgentRow>> list_org_agents(std::string_view org_id,
                                                        const Page& page) = 0;
  virtual Result<std::optional<OrgAdminKeyRow>> get_org_admin_key(std::string_view id) = 0;
  virtual Result<std::optional<OrgAdminKeyRow>> find_org_admin_key_by_hash(
      std::string_view key_hash) = 0;
  // Automations (docs/automation.md).
  virtual Result<std::optional<AutomationRow>> get_automation(std::string_view id) = 0;
  virtual Result<std::optional<AutomationRow>> find_automation_by_hash(std::string_view hash) = 0;
  // In id order after page.after_id.
  virtual Result<std::vector<AutomationRow>> list_automations(const Page& page) = 0;
  // One automation's executions, newest first: those with an id before `cursor` (the id of the
  // last row of the previous page), at most `limit`.
  virtual Result<std::vector<AutomationExecutionRow>> list_executions(
      std::string_view automation_id, const std::optional<std::string>& cursor,
      std::size_t limit) = 0;
  virtual Result<std::optional<EventRow>> get_event(std::string_view id) = 0;
  virtual Result<std::optional<InventoryRow>> get_inventory(std::string_view host) = 0;
};

// Writes inside one transaction. Only valid during the Store::write() call that made it.
class WriteTxn : public Reader {
 public:
  virtual Status put_kv(std::string_view key, std::string_view value, std::int64_t now) = 0;
  virtual Status insert_agent(const AgentRow& row) = 0;
  virtual Status update_agent(const AgentRow& row) = 0;
  virtual Status insert_session(const SessionRow& row) = 0;
  virtual Status update_session(const SessionRow& row) = 0;
  // Sets revoked_at on every unrevoked session of the agent; returns how many.
  virtual Result<std::int64_t> revoke_agent_sessions(std::string_view agent_id,
                                                     std::int64_t now) = 0;
  virtual Status insert_signing_key(const SigningKeyRow& row) = 0;
  // Raises the key's verify_until to at least `verify_until` (a token it signed lives longer).
  virtual Status extend_signing_key(std::string_view kid, std::int64_t verify_until) = 0;
  virtual Status insert_policy(const PolicyRow& row) = 0;
  virtual Status update_policy(const PolicyRow& row) = 0;
  virtual Status delete_policy(std::string_view id) = 0;
  virtual Status insert_transaction(const TransactionRow& row) = 0;
  virtual Status update_transaction(const TransactionRow& row) = 0;
  virtual Status insert_approval(const ApprovalRow& row) = 0;
  virtual Status update_approval(const ApprovalRow& row) = 0;
  // Appends a hash-chained audit row; returns its id.
  virtual Result<std::int64_t> append_audit(const AuditEvent& event) = 0;
  // Adds row.amount to the stored usage of (agent, meter, bucket); overflow past 2^256 - 1 is
  // VALIDATION_INVALID_AMOUNT.
  virtual Status add_meter_usage(const MeterUsageRow& row) = 0;
  virtual Status insert_outbox(const OutboxRow& row) = 0;
  virtual Status update_outbox(const OutboxRow& row) = 0;
  virtual Status delete_outbox(std::string_view id) = 0;
  // Ledger. Entries, webhook events and usage events are append-only (the database refuses
  // UPDATE and DELETE); a lot changes only its status, active -> expired | depleted; a hold only
  // pending -> posted | voided | expired; a payment's status only forward.
  virtual Status insert_lot(const LotRow& row) = 0;
  virtual Status update_lot_status(std::string_view id, std::string_view status) = 0;
  // Sets row.id.
  virtual Status insert_lot_entry(LotEntryRow& row) = 0;
  virtual Status insert_hold(const HoldRow& row) = 0;
  virtual Status update_hold(const HoldRow& row) = 0;
  // A key already stored is STORE_CONSTRAINT.
  virtual Status insert_ledger_op(const LedgerOpRow& row) = 0;
  virtual Status insert_payment(const PaymentRow& row) = 0;
  virtual Status update_payment(const PaymentRow& row) = 0;
  // False (and nothing written) when (provider, event_id) is already stored.
  virtual Result<bool> insert_webhook_event(const WebhookEventRow& row) = 0;
  virtual Status insert_usage_event(const UsageEventRow& row) = 0;
  // Gateway. A second model with the same name, or a key with the same hash, is
  // STORE_CONSTRAINT naming the column; a missing row is INTERNAL_ERROR (callers read first).
  virtual Status insert_model(const ModelRow& row) = 0;
  virtual Status update_model(const ModelRow& row) = 0;
  virtual Status delete_model(std::string_view id) = 0;
  virtual Status insert_api_key(const ApiKeyRow& row) = 0;
  // Writes name, revoked_at and last_used_at; the rest never changes.
  virtual Status update_api_key(const ApiKeyRow& row) = 0;
  // Sets revoked_at on every unrevoked key of the agent; returns how many.
  virtual Result<std::int64_t> revoke_agent_api_keys(std::string_view agent_id,
                                                     std::int64_t now) = 0;
  // Organizations: a second org of the same name is STORE_CONSTRAINT. update_org writes only
  // deleted_at, update_org_admin_key only revoked_at.
  virtual Status insert_org(const OrgRow& row) = 0;
  virtual Status update_org(const OrgRow& row) = 0;
  virtual Status insert_org_admin_key(const OrgAdminKeyRow& row) = 0;
  virtual Status update_org_admin_key(const OrgAdminKeyRow& row) = 0;
  // Automations. A second automation with the same hash is STORE_CONSTRAINT; a missing row is
  // INTERNAL_ERROR (callers read first). Deleting an automation deletes its executions.
  virtual Status insert_automation(const AutomationRow& row) = 0;
  virtual Status update_automation(const AutomationRow& row) = 0;
  virtual Status delete_automation(std::string_view id) = 0;
  // Appends an execution and deletes that automation's executions beyond the newest
  // kExecutionsKeptMax.
  virtual Status insert_execution(const AutomationExecutionRow& row) = 0;
  // An event id already stored is STORE_CONSTRAINT.
  virtual Status insert_event(const EventRow& row) = 0;
  // Deletes at most `limit` events received before received_at_ms (oldest first); returns how
  // many.
  virtual Result<std::int64_t> delete_events_before(std::int64_t received_at_ms,
                                                    std::size_t limit) = 0;
  // Replaces the host's inventory.
  virtual Status put_inventory(const InventoryRow& row) = 0;
  // Limits shared by replicas. A store that one process alone writes (SQLite: the data
  // directory's lock keeps a second one out) keeps nothing here and answers true: the engine's
  // meters and the ledger's book in memory are exact there. A store several replicas write
  // (PostgreSQL) decides against the rows every replica wrote, one transaction at a time per
  // window or lot (row locks held to the commit).
  //
  // Counts w.amount in the window when the buckets from w.first_bucket_ms on, with it, stay
  // within w.max; false, and nothing written, when they would not.
  virtual Result<bool> reserve_window(const WindowReservation& w) = 0;
  // Adds amount to (or, with subtract, takes it from) a bucket reserve_window() counted, with no
  // limit: a release, or a settlement that lowered or raised the charge. A bucket that has left
  // its window is left alone.
  virtual Status adjust_window(std::string_view agent_id, std::string_view meter,
                               std::int64_t bucket_ms, std::string_view amount, bool subtract) = 0;
  // After this transaction's entries on these lots: whether every one of them still has
  // remaining >= 0 and held >= 0 counting every replica's committed entries (the lots stay
  // locked until the commit, so two replicas cannot both spend the last of one).
  virtual Result<bool> lots_within_credit(const std::vector<std::string>& lot_ids) = 0;
  // Runs fn inside a savepoint: when fn fails, only its own writes are undone and the
  // transaction goes on (a storage failure still fails the whole transaction).
  virtual Status nested(const std::function<Status(WriteTxn&)>& fn) = 0;
  // Archival (the archive module's mover, on the writer). A second segment with the same id or
  // file is STORE_CONSTRAINT. PostgreSQL: CONFIG_INVALID, archival is not supported there.
  virtual Status insert_archive_segment(const ArchiveSegmentRow& row) = 0;
  // Deletes the audit rows with ids in [first_id, last_id]; returns how many there were.
  virtual Result<std::int64_t> delete_audit_range(std::int64_t first_id, std::int64_t last_id) = 0;
  // Deletes the transaction and its approvals when it is still as `row` says (same status and
  // updated_at) and no transaction names it as parent; false, and nothing deleted, otherwise.
  virtual Result<bool> delete_archived_transaction(const TransactionRow& row) = 0;
};

class Store : public Reader {
 public:
  // Runs fn in one transaction: commits when it returns OK, rolls back otherwise (and on any
  // storage error). Writers are serialised.
  virtual Status write(const std::function<Status(WriteTxn&)>& fn) = 0;
  // Walks the audit chain in the hot table, from the newest archived row's state on (the
  // segments themselves are checked by archive::verify_archive).
  virtual Result<AuditVerifyReport> verify_audit() = 0;
  // Archival. Recorded segments in id order (PostgreSQL: none, it never archives).
  virtual Result<std::vector<ArchiveSegmentRow>> list_archive_segments() = 0;
  virtual Result<ArchiveSummary> archive_summary() = 0;
  // Up to `limit` settled decisions (kArchivableTransactionStatuses) created and last changed
  // before `before` (Unix seconds), oldest first, that no hot transaction names as parent and no
  // pending ledger hold refers to, each with its approvals. PostgreSQL: CONFIG_INVALID.
  virtual Result<std::vector<ArchivedDecision>> list_archivable_decisions(std::int64_t before,
                                                                          std::size_t limit) = 0;
  virtual Status ping() = 0;  // store reachable and migrated (for /readyz)
  // Flushes the write-ahead log into the main file (clean shutdown).
  virtual Status checkpoint() = 0;
  // Reads as one org (issue 12, docs/cluster.md "Tenant isolation"): the reader sees the org's
  // row, its agents, and the rows that belong to them (sessions, transactions and their
  // approvals, api keys, agent policies, audit rows, usage events, lots, entries, holds,
  // payments, the org's admin keys), the same rows on every backend. Agents without an org and
  // what belongs to no agent (global policies, automations, events, models, the daemon's own
  // bookkeeping) are never a tenant's: their gets answer nullopt, their lists nothing; nor is
  // meter usage, which PostgreSQL names through usage_names, a '*'-only table. An id that
  // is no org's id (is_tenant_org_id() false: "", "*") sees nothing, as an unknown org does.
  // PostgreSQL leaves the filtering to row-level security; SQLite filters in the store.
  virtual std::unique_ptr<Reader> tenant(std::string_view org_id) = 0;
};

// Whether `org_id` can name one org in a tenant context: 1 to kTenantOrgIdBytesMax characters of
// [0-9A-Za-z_-]. Org ids are UUIDs; anything else ("*" above all, which PostgreSQL reads as every
// org) never reaches a context.
inline constexpr std::size_t kTenantOrgIdBytesMax = 64;
bool is_tenant_org_id(std::string_view org_id);

// The canonical text the audit hash is computed over; shared by every backend so a chain
// verifies the same way wherever it was written.
std::string audit_hash_input(std::int64_t id, const AuditEvent& event,
                             std::string_view prev_hash);
std::string audit_row_hash(std::int64_t id, const AuditEvent& event, std::string_view prev_hash);

// An audit row's actor when the agent it names acted: not stored when it is exactly
// kAgentActorPrefix + agent_id (SQLite and PostgreSQL schema, migration 10).
inline constexpr std::string_view kAgentActorPrefix = "agent:";
bool actor_is_own_agent(const AuditEvent& event);

// The first problem with `row` given the row before it (prev_id, prev_hash), or "" when it
// links: the id follows, prev_hash matches and the stored hash matches the content.
std::string audit_chain_problem(const AuditRow& row, std::int64_t prev_id,
                                std::string_view prev_hash);

}  // namespace warden::store
