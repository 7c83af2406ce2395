// PostgresStore: the schema check at open, reads on pooled connections, and write() on the
// replica's writer connection with PgWriteTxn over it.
#include "store/postgres/pg_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "core/amount.h"
#include "store/postgres/migrate.h"
#include "store/postgres/queries.h"

namespace warden::store::postgres {
namespace {

// The tenant context (migrate.cc, "Tenant isolation"): the daemon acts for every org at once
// (master requests, sweepers, group commits that mix tenants), so its context is '*'.
//
// Writes set it per transaction (is_local: it ends with the transaction, as SET LOCAL), sent
// with the BEGIN in one simple-query round trip: no round trip more than BEGIN alone, and safe
// behind a PgBouncer in transaction pooling, where each transaction may run on another server
// connection.
//
// The same round trip takes the audit chain's lock (queries.h, kAuditChainLockKey) before any
// row lock: every write transaction of every replica takes its locks in one order (chain, then
// windows and lots), so replicas' transactions queue instead of deadlocking (a window's row
// locked, then the chain wanted, while another replica holds the chain and wants the window).
// Nearly every write appends an audit row and so needed the chain anyway; taking it first makes
// writes one at a time across the cluster, which their group commits amortise.
const std::string kBegin =
    fmt::format("BEGIN; SELECT set_config('app.org_id', '*', true); "
                "SELECT pg_advisory_xact_lock({})",
                kAuditChainLockKey);
// Reads outside write() run in autocommit, one statement per transaction: a context per
// transaction would double their statements. The read pool's connections carry it for the
// session instead, set once when each is opened; so the read pool needs session pooling behind
// PgBouncer (a transaction-pooled server connection would lack the setting, and the reads
// would fail with "no tenant context" rather than see anything they should not).
constexpr std::string_view kReadContext = "SELECT set_config('app.org_id', '*', false)";
// Transaction control goes through exec_prepared too: parsed once per connection.
const std::string kCommit = "COMMIT";
const std::string kSavepoint = "SAVEPOINT op";
const std::string kRelease = "RELEASE SAVEPOINT op";
// Unprepared: these run in an aborted transaction, on the rare failure path.
constexpr std::string_view kRollback = "ROLLBACK";
constexpr std::string_view kRollbackTo = "ROLLBACK TO SAVEPOINT op";

Status aborted_without_cause() {
  return Status(ErrorCode::INTERNAL_STORE_ERROR,
                "a statement failed, so PostgreSQL aborted the transaction");
}

Status archival_unsupported() {
  return Status(ErrorCode::CONFIG_INVALID,
                "retention and archival are not supported on the PostgreSQL store (cluster "
                "mode); see docs/retention.md");
}

// WriteTxn over the writer connection inside write()'s transaction.
//
// Unlike SQLite, where a failed statement undoes only itself, PostgreSQL aborts the whole
// transaction (or the innermost savepoint) at the first failed statement, and refuses every
// statement after it. So: the failure that aborted it is kept (abort_cause), a function that went
// on after it and returned OK still fails with that cause (write() rolls back; nested() undoes its
// savepoint), and the "transaction is aborted" errors that follow are not storage failures.
// Storage failures (connection lost, the server's own errors) are remembered so write() rolls
// back even if fn ignores them.
class PgWriteTxn final : public WriteTxn {
 public:
  explicit PgWriteTxn(Connection& c) : c_(c) {}
  const Status& storage_failure() const { return failure_; }
  // Queues what this transaction still holds back (its windows' additions) for the COMMIT.
  void finish() { queue_window_adds(); }
  // Why the transaction cannot commit although fn returned OK: a statement failed.
  Status aborted() const {
    if (!c_.transaction_failed()) return Status();
    return abort_cause_.ok() ? aborted_without_cause() : abort_cause_;
  }

  Result<std::optional<std::string>> get_kv(std::string_view key) override {
    return track(postgres::get_kv(c_, key));
  }
  Result<std::optional<AgentRow>> get_agent(std::string_view id) override {
    return track(postgres::get_agent(c_, id));
  }
  Result<std::vector<AgentRow>> list_agents(const Page& page) override {
    return track(postgres::list_agents(c_, page));
  }
  Result<std::optional<SessionRow>> get_session(std::string_view id) override {
    return track(postgres::get_session(c_, id));
  }
  Result<std::optional<SessionRow>> find_session_by_token_hash(
      std::string_view token_hash) override {
    return track(postgres::find_session_by_token_hash(c_, token_hash));
  }
  Result<std::vector<RevokedSessionRow>> list_revoked_sessions(std::int64_t now) override {
    return track(postgres::list_revoked_sessions(c_, now));
  }
  Result<std::vector<SigningKeyRow>> list_signing_keys() override {
    return track(postgres::list_signing_keys(c_));
  }
  Result<std::optional<PolicyRow>> get_policy(std::string_view id) override {
    return track(postgres::get_policy(c_, id));
  }
  Result<std::optional<PolicyRow>> find_policy_by_hash(std::string_view hash) override {
    return track(postgres::find_policy_by_hash(c_, hash));
  }
  Result<std::vector<PolicyRow>> list_policies(const PolicyFilter& filter,
                                               const Page& page) override {
    return track(postgres::list_policies(c_, filter, page));
  }
  Result<std::vector<AuditRow>> list_audit(const AuditFilter& filter) override {
    return track(postgres::list_audit(c_, filter));
  }
  Result<std::optional<TransactionRow>> get_transaction(std::string_view id) override {
    return track(postgres::get_transaction_for_update(c_, id));
  }
  Result<std::vector<TransactionRow>> list_transactions(const TransactionFilter& filter,
                                                        const Page& page) override {
    return track(postgres::list_transactions(c_, filter, page));
  }
  Result<std::optional<ApprovalRow>> get_approval(std::string_view id) override {
    return track(postgres::get_approval(c_, id));
  }
  Result<std::optional<ApprovalRow>> find_approval_by_tx(std::string_view tx_id) override {
    return track(postgres::find_approval_by_tx(c_, tx_id));
  }
  Result<std::vector<ApprovalRow>> list_approvals(bool pending_only, const Page& page) override {
    return track(postgres::list_approvals(c_, pending_only, page));
  }
  Status scan_meter_usage(const MeterUsageFilter& filter,
                          const std::function<Status(const MeterUsageRow&)>& each) override {
    return track(postgres::scan_meter_usage(c_, filter, each));
  }
  Result<std::vector<OutboxRow>> list_outbox_due(std::int64_t now, std::size_t limit) override {
    return track(postgres::list_outbox_due(c_, now, limit));
  }
  Result<std::optional<LotRow>> get_lot(std::string_view id) override {
    return track(postgres::get_lot(c_, id));
  }
  Result<std::vector<LotRow>> list_lots(const LotFilter& filter, const Page& page) override {
    return track(postgres::list_lots(c_, filter, page));
  }
  Status scan_lot_balances(const LotFilter& filter,
                           const std::function<Status(const LotBalanceRow&)>& each) override {
    return track(postgres::scan_lot_balances(c_, filter, each));
  }
  Result<std::vector<LotEntryRow>> list_lot_entries(const LotEntryFilter& filter) override {
    return track(postgres::list_lot_entries(c_, filter));
  }
  Status scan_lot_entries(const std::function<Status(const LotEntryRow&)>& each) override {
    return track(postgres::scan_lot_entries(c_, each));
  }
  Result<std::optional<HoldRow>> get_hold(std::string_view id) override {
    return track(postgres::get_hold(c_, id));
  }
  Result<std::vector<HoldRow>> list_pending_holds() override {
    return track(postgres::list_pending_holds(c_));
  }
  Status scan_pending_hold_entries(const std::function<Status(const LotEntryRow&)>& each) override {
    return track(postgres::scan_pending_hold_entries(c_, each));
  }
  Result<std::optional<LedgerOpRow>> find_ledger_op(std::string_view idempotency_key) override {
    return track(postgres::find_ledger_op(c_, idempotency_key));
  }
  Status scan_ledger_ops_since(std::int64_t since,
                               const std::function<Status(const LedgerOpRow&)>& each) override {
    return track(postgres::scan_ledger_ops_since(c_, since, each));
  }
  Result<std::optional<PaymentRow>> get_payment(std::string_view id) override {
    return track(postgres::get_payment(c_, id));
  }
  Result<std::optional<WebhookEventRow>> get_webhook_event(std::string_view provider,
                                                           std::string_view event_id) override {
    return track(postgres::get_webhook_event(c_, provider, event_id));
  }
  Result<std::vector<UsageRollupRow>> usage_rollup(const UsageRollupFilter& filter) override {
    return track(postgres::usage_rollup(c_, filter));
  }
  Result<std::optional<ModelRow>> get_model(std::string_view id) override {
    return track(postgres::get_model(c_, id));
  }
  Result<std::optional<ModelRow>> find_model_by_name(std::string_view name) override {
    return track(postgres::find_model_by_name(c_, name));
  }
  Result<std::vector<ModelRow>> list_models(const Page& page) override {
    return track(postgres::list_models(c_, page));
  }
  Result<std::optional<ApiKeyRow>> get_api_key(std::string_view id) override {
    return track(postgres::get_api_key(c_, id));
  }
  Result<std::optional<ApiKeyRow>> find_api_key_by_hash(std::string_view key_hash) override {
    return track(postgres::find_api_key_by_hash(c_, key_hash));
  }
  Result<std::vector<ApiKeyRow>> list_api_keys(std::string_view agent_id,
                                               const Page& page) override {
    return track(postgres::list_api_keys(c_, agent_id, page));
  }
  Result<std::optional<OrgRow>> get_org(std::string_view id) override {
    return track(postgres::get_org(c_, id));
  }
  Result<std::vector<OrgRow>> list_orgs(const Page& page) override {
    return track(postgres::list_orgs(c_, page));
  }
  Result<std::vector<AgentRow>> list_org_agents(std::string_view org_id,
                                                const Page& page) override {
    return track(postgres::list_org_agents(c_, org_id, page));
  }
  Result<std::optional<OrgAdminKeyRow>> get_org_admin_key(std::string_view id) override {
    return track(postgres::get_org_admin_key(c_, id));
  }
  Result<std::optional<OrgAdminKeyRow>> find_org_admin_key_by_hash(
      std::string_view key_hash) override {
    return track(postgres::find_org_admin_key_by_hash(c_, key_hash));
  }
  Result<std::optional<AutomationRow>> get_automation(std::string_view id) override {
    return track(postgres::get_automation(c_, id));
  }
  Result<std::optional<AutomationRow>> find_automation_by_hash(std::string_view hash) override {
    return track(postgres::find_automation_by_hash(c_, hash));
  }
  Result<std::vector<AutomationRow>> list_automations(const Page& page) override {
    return track(postgres::list_automations(c_, page));
  }
  Result<std::vector<AutomationExecutionRow>> list_executions(
      std::string_view automation_id, const std::optional<std::string>& cursor,
      std::size_t limit) override {
    return track(postgres::list_executions(c_, automation_id, cursor, limit));
  }
  Result<std::optional<EventRow>> get_event(std::string_view id) override {
    return track(postgres::get_event(c_, id));
  }
  Result<std::optional<InventoryRow>> get_inventory(std::string_view host) override {
    return track(postgres::get_inventory(c_, host));
  }
  Status put_kv(std::string_view key, std::string_view value, std::int64_t now) override {
    return track(postgres::put_kv(c_, key, value, now));
  }
  Status insert_agent(const AgentRow& row) override {
    return track(postgres::insert_agent(c_, row));
  }
  Status update_agent(const AgentRow& row) override {
    return track(postgres::update_agent(c_, row));
  }
  Status insert_session(const SessionRow& row) override {
    return track(postgres::insert_session(c_, row));
  }
  Status update_session(const SessionRow& row) override {
    return track(postgres::update_session(c_, row));
  }
  Result<std::int64_t> revoke_agent_sessions(std::string_view agent_id, std::int64_t now) override {
    return track(postgres::revoke_agent_sessions(c_, agent_id, now));
  }
  Status insert_signing_key(const SigningKeyRow& row) override {
    return track(postgres::insert_signing_key(c_, row));
  }
  Status extend_signing_key(std::string_view kid, std::int64_t verify_until) override {
    return track(postgres::extend_signing_key(c_, kid, verify_until));
  }
  Status insert_policy(const PolicyRow& row) override {
    return track(postgres::insert_policy(c_, row));
  }
  Status update_policy(const PolicyRow& row) override {
    return track(postgres::update_policy(c_, row));
  }
  Status delete_policy(std::string_view id) override {
    return track(postgres::delete_policy(c_, id));
  }
  Status insert_transaction(const TransactionRow& row) override {
    return track(postgres::insert_transaction(c_, row));
  }
  Status update_transaction(const TransactionRow& row) override {
    return track(postgres::update_transaction(c_, row));
  }
  Status insert_approval(const ApprovalRow& row) override {
    return track(postgres::insert_approval(c_, row));
  }
  Status update_approval(const ApprovalRow& row) override {
    return track(postgres::update_approval(c_, row));
  }
  Result<std::int64_t> append_audit(const AuditEvent& event) override {
    return track(postgres::append_audit(c_, event, &audit_tail_));
  }
  Status add_meter_usage(const MeterUsageRow& row) override {
    return track(postgres::add_meter_usage(c_, row));
  }
  Status insert_outbox(const OutboxRow& row) override {
    return track(postgres::insert_outbox(c_, row));
  }
  Status update_outbox(const OutboxRow& row) override {
    return track(postgres::update_outbox(c_, row));
  }
  Status delete_outbox(std::string_view id) override {
    return track(postgres::delete_outbox(c_, id));
  }
  Status insert_lot(const LotRow& row) override { return track(postgres::insert_lot(c_, row)); }
  Status update_lot_status(std::string_view id, std::string_view status) override {
    return track(postgres::update_lot_status(c_, id, status));
  }
  Status insert_lot_entry(LotEntryRow& row) override {
    return track(postgres::insert_lot_entry(c_, row));
  }
  Status insert_hold(const HoldRow& row) override { return track(postgres::insert_hold(c_, row)); }
  Status update_hold(const HoldRow& row) override { return track(postgres::update_hold(c_, row)); }
  Status insert_ledger_op(const LedgerOpRow& row) override {
    return track(postgres::insert_ledger_op(c_, row));
  }
  Status insert_payment(const PaymentRow& row) override {
    return track(postgres::insert_payment(c_, row));
  }
  Status update_payment(const PaymentRow& row) override {
    return track(postgres::update_payment(c_, row));
  }
  Result<bool> insert_webhook_event(const WebhookEventRow& row) override {
    return track(postgres::insert_webhook_event(c_, row));
  }
  Status insert_usage_event(const UsageEventRow& row) override {
    return track(postgres::insert_usage_event(c_, row));
  }
  Status insert_model(const ModelRow& row) override {
    return track(postgres::insert_model(c_, row));
  }
  Status update_model(const ModelRow& row) override {
    return track(postgres::update_model(c_, row));
  }
  Status delete_model(std::string_view id) override {
    return track(postgres::delete_model(c_, id));
  }
  Status insert_api_key(const ApiKeyRow& row) override {
    return track(postgres::insert_api_key(c_, row));
  }
  Status update_api_key(const ApiKeyRow& row) override {
    return track(postgres::update_api_key(c_, row));
  }
  Result<std::int64_t> revoke_agent_api_keys(std::string_view agent_id, std::int64_t now) override {
    return track(postgres::revoke_agent_api_keys(c_, agent_id, now));
  }
  Status insert_org(const OrgRow& row) override { return track(postgres::insert_org(c_, row)); }
  Status update_org(const OrgRow& row) override { return track(postgres::update_org(c_, row)); }
  Status insert_org_admin_key(const OrgAdminKeyRow& row) override {
    return track(postgres::insert_org_admin_key(c_, row));
  }
  Status update_org_admin_key(const OrgAdminKeyRow& row) override {
    return track(postgres::update_org_admin_key(c_, row));
  }
  Status insert_automation(const AutomationRow& row) override {
    return track(postgres::insert_automation(c_, row));
  }
  Status update_automation(const AutomationRow& row) override {
    return track(postgres::update_automation(c_, row));
  }
  Status delete_automation(std::string_view id) override {
    return track(postgres::delete_automation(c_, id));
  }
  Status insert_execution(const AutomationExecutionRow& row) override {
    return track(postgres::insert_execution(c_, row));
  }
  Status insert_event(const EventRow& row) override {
    return track(postgres::insert_event(c_, row));
  }
  Result<std::int64_t> delete_events_before(std::int64_t received_at_ms,
                                            std::size_t limit) override {
    return track(postgres::delete_events_before(c_, received_at_ms, limit));
  }
  Status put_inventory(const InventoryRow& row) override {
    return track(postgres::put_inventory(c_, row));
  }
  // A batch's decisions often reserve in the same window. The first reservation of a window in
  // this transaction asks the database (reserve_window_state), which locks the window's row to
  // the commit and answers what the window then holds; while nothing can leave it (the window's
  // start has not passed its oldest bucket), the next ones are decided here from that total and
  // only their additions are kept (add_to_window), so they cost no round trip. Exact: no other
  // transaction can change the window while this one holds its row.
  Result<bool> reserve_window(const WindowReservation& w) override {
    auto key = std::make_pair(w.agent_id, w.meter);
    if (auto it = windows_.find(key);
        it != windows_.end() && (!it->second.oldest || w.first_bucket_ms <= *it->second.oldest)) {
      auto amount = Amount::parse(w.amount);
      auto max = Amount::parse(w.max);
      if (amount.ok() && max.ok()) {
        WindowCache& win = it->second;
        auto sum = win.total.checked_add(*amount);
        if (!sum.ok() || *sum > *max) return false;
        win.first = std::max(win.first, w.first_bucket_ms);
        const std::int64_t bucket = std::max(w.bucket_ms, win.first);
        win.total = *sum;
        win.oldest = win.oldest ? std::min(*win.oldest, bucket) : bucket;
        add_to_window(w.agent_id, w.meter, bucket, win.first, *amount);
        return true;
      }
    }
    queue_window_adds();  // the database's answer counts them
    Result<WindowState> state = track(postgres::reserve_window_state(c_, w));
    if (!state.ok()) return state.status();
    auto total = Amount::parse(state->total);
    if (total.ok()) {
      windows_[key] = WindowCache{state->first_bucket_ms, *total, state->oldest_bucket};
    } else {
      windows_.erase(key);  // past 2^256 - 1 (settled above a max): the database decides
    }
    return state->ok;
  }
  Status adjust_window(std::string_view agent_id, std::string_view meter, std::int64_t bucket_ms,
                       std::string_view amount, bool subtract) override {
    windows_.erase(std::make_pair(std::string(agent_id), std::string(meter)));
    queue_window_adds();
    return track(postgres::adjust_window(c_, agent_id, meter, bucket_ms, amount, subtract));
  }
  Result<bool> lots_within_credit(const std::vector<std::string>& lot_ids) override {
    return track(postgres::lots_within_credit(c_, lot_ids));
  }
  // Archival is the embedded store's (docs/retention.md): the serve command refuses retention
  // settings in cluster mode, so these are reached only by a programming error.
  Status insert_archive_segment(const ArchiveSegmentRow&) override {
    return archival_unsupported();
  }
  Result<std::int64_t> delete_audit_range(std::int64_t, std::int64_t) override {
    return archival_unsupported();
  }
  Result<bool> delete_archived_transaction(const TransactionRow&) override {
    return archival_unsupported();
  }
  Status nested(const std::function<Status(WriteTxn&)>& fn) override {
    WARDEN_RETURN_IF_ERROR(track(c_.exec_prepared(kSavepoint).status()));
    // The audit tail is a cache of what this transaction wrote: undone writes take it back.
    const AuditTail tail = audit_tail_;
    const auto windows = windows_;  // what the savepoint's reservations change
    const auto window_adds = window_adds_;
    Status s = fn(*this);
    // The savepoint's queued writes fail here, inside it, rather than in what comes after.
    if (s.ok()) {
      queue_window_adds();
      s = track(c_.flush());
    }
    if (s.ok()) s = aborted();
    if (s.ok()) return track(c_.exec_prepared(kRelease).status());
    audit_tail_ = tail;
    windows_ = windows;
    window_adds_ = window_adds;
    c_.discard_deferred();
    WARDEN_RETURN_IF_ERROR(track(c_.exec(kRollbackTo).status()));
    WARDEN_RETURN_IF_ERROR(track(c_.exec_prepared(kRelease).status()));
    return s;
  }

 private:
  // A reservation decided from a locked window's total adds to one of its buckets. The additions
  // are summed per bucket and written when something reads the window (a reservation asked of
  // the database, an adjustment) or the transaction commits: one window_add per bucket and
  // batch rather than one per decision.
  void add_to_window(const std::string& agent_id, const std::string& meter,
                     std::int64_t bucket_ms, std::int64_t first_bucket_ms, const Amount& amount) {
    auto [it, added] = window_adds_.try_emplace(std::make_tuple(agent_id, meter, bucket_ms),
                                                WindowAdd{first_bucket_ms, amount});
    if (added) return;
    auto sum = it->second.amount.checked_add(amount);
    if (!sum.ok()) {  // cannot happen below a window's max; written apart if it does
      queue_window_adds();
      window_adds_.emplace(std::make_tuple(agent_id, meter, bucket_ms),
                           WindowAdd{first_bucket_ms, amount});
      return;
    }
    it->second.amount = *sum;
    it->second.first_bucket_ms = std::max(it->second.first_bucket_ms, first_bucket_ms);
  }
  void queue_window_adds() {
    for (const auto& [key, add] : window_adds_) {
      const auto& [agent_id, meter, bucket_ms] = key;
      postgres::queue_window_add(c_, agent_id, meter, bucket_ms, add.first_bucket_ms,
                                 add.amount.to_string());
    }
    window_adds_.clear();
  }

  void note(const Status& s) {
    const bool failed_before = failed_;
    failed_ = c_.transaction_failed();
    if (s.ok()) return;
    if (!failed_before && failed_) abort_cause_ = s;
    // After a failed statement every other one fails with "current transaction is aborted":
    // fn has already seen the failure itself.
    if (failed_before || s.code() != ErrorCode::INTERNAL_STORE_ERROR || !failure_.ok()) return;
    failure_ = s;
  }
  Status track(Status s) {
    note(s);
    return s;
  }
  template <class T>
  Result<T> track(Result<T> r) {
    note(r.status());
    return r;
  }

  Connection& c_;
  Status failure_;
  Status abort_cause_;    // the failure that aborted the transaction, while failed_
  bool failed_ = false;   // the transaction was aborted after the last statement
  AuditTail audit_tail_;  // appends after the first in this transaction skip the lock and read
  // Windows this transaction holds the row lock of, as they stand after its reservations.
  struct WindowCache {
    std::int64_t first = 0;  // the window's start
    Amount total;
    std::optional<std::int64_t> oldest;  // the oldest bucket it holds; none: no bucket
  };
  std::map<std::pair<std::string, std::string>, WindowCache> windows_;
  struct WindowAdd {
    std::int64_t first_bucket_ms = 0;  // the window's start when last added to
    Amount amount;
  };
  // (agent, meter, bucket) -> what this transaction's reservations add to it, not yet queued.
  std::map<std::tuple<std::string, std::string, std::int64_t>, WindowAdd> window_adds_;
};

// Ends the transaction; a connection that lost its server fails here too and is replaced by the
// next write().
void rollback(Connection& c) {
  c.discard_deferred();  // queued inserts of a transaction being undone are never sent
  (void)c.exec(kRollback);
}

// One prepared round trip (migrate.h's version also handles a missing table, for open()).
Result<int> current_schema_version(Connection& c) {
  static const std::string sql = "SELECT coalesce(max(version), 0) FROM schema_version";
  WARDEN_ASSIGN_OR_RETURN(Rows rows, c.exec_prepared(sql));
  if (rows.size() == 0)
    return Status(ErrorCode::INTERNAL_STORE_ERROR, "schema_version gave no row");
  return std::stoi(rows.text(0, 0));
}

// What a read that may see no row answers: an empty value, or OK for a scan.
template <class Out>
struct Nothing;
template <class T>
struct Nothing<Result<T>> {
  static Result<T> make() { return T(); }
};
template <>
struct Nothing<Status> {
  static Status make() { return Status(); }
};

}  // namespace

// Store::tenant(): the Reader methods of PostgresStore, each in a read-only transaction whose
// tenant context is the org, on a pooled connection (whose session context '*' the transaction's
// own setting hides until it ends). The policies decide what the org sees; nothing here filters.
class PgTenantReader final : public Reader {
 public:
  PgTenantReader(PostgresStore& store, std::string org_id)
      : store_(store),
        valid_(is_tenant_org_id(org_id)),
        // Formatted rather than bound: a script of two statements takes no parameters, and the
        // context goes with the BEGIN in one round trip. is_tenant_org_id() leaves no character
        // that could end the literal.
        begin_(fmt::format("BEGIN TRANSACTION READ ONLY; SELECT set_config('app.org_id', '{}', "
                           "true)",
                           valid_ ? org_id : std::string())) {}

  Result<std::optional<std::string>> get_kv(std::string_view key) override;
  Result<std::optional<AgentRow>> get_agent(std::string_view id) override;
  Result<std::vector<AgentRow>> list_agents(const Page& page) override;
  Result<std::optional<SessionRow>> get_session(std::string_view id) override;
  Result<std::optional<SessionRow>> find_session_by_token_hash(
      std::string_view token_hash) override;
  Result<std::vector<RevokedSessionRow>> list_revoked_sessions(std::int64_t now) override;
  Result<std::vector<SigningKeyRow>> list_signing_keys() override;
  Result<std::optional<PolicyRow>> get_policy(std::string_view id) override;
  Result<std::optional<PolicyRow>> find_policy_by_hash(std::string_view hash) override;
  Result<std::vector<PolicyRow>> list_policies(const PolicyFilter& filter,
                                               const Page& page) override;
  Result<std::vector<AuditRow>> list_audit(const AuditFilter& filter) override;
  Result<std::optional<TransactionRow>> get_transaction(std::string_view id) override;
  Result<std::vector<TransactionRow>> list_transactions(const TransactionFilter& filter,
                                                        const Page& page) override;
  Result<std::optional<ApprovalRow>> get_approval(std::string_view id) override;
  Result<std::optional<ApprovalRow>> find_approval_by_tx(std::string_view tx_id) override;
  Result<std::vector<ApprovalRow>> list_approvals(bool pending_only, const Page& page) override;
  Status scan_meter_usage(const MeterUsageFilter& filter,
                          const std::function<Status(const MeterUsageRow&)>& each) override;
  Result<std::vector<OutboxRow>> list_outbox_due(std::int64_t now, std::size_t limit) override;
  Result<std::optional<LotRow>> get_lot(std::string_view id) override;
  Result<std::vector<LotRow>> list_lots(const LotFilter& filter, const Page& page) override;
  Status scan_lot_balances(const LotFilter& filter,
                           const std::function<Status(const LotBalanceRow&)>& each) override;
  Result<std::vector<LotEntryRow>> list_lot_entries(const LotEntryFilter& filter) override;
  Status scan_lot_entries(const std::function<Status(const LotEntryRow&)>& each) override;
  Result<std::optional<HoldRow>> get_hold(std::string_view id) override;
  Result<std::vector<HoldRow>> list_pending_holds() override;
  Status scan_pending_hold_entries(const std::function<Status(const LotEntryRow&)>& each) override;
  Result<std::optional<LedgerOpRow>> find_ledger_op(std::string_view idempotency_key) override;
  Status scan_ledger_ops_since(std::int64_t since,
                               const std::function<Status(const LedgerOpRow&)>& each) override;
  Result<std::optional<PaymentRow>> get_payment(std::string_view id) override;
  Result<std::optional<WebhookEventRow>> get_webhook_event(std::string_view provider,
                                                           std::string_view event_id) override;
  Result<std::vector<UsageRollupRow>> usage_rollup(const UsageRollupFilter& filter) override;
  Result<std::optional<ModelRow>> get_model(std::string_view id) override;
  Result<std::optional<ModelRow>> find_model_by_name(std::string_view name) override;
  Result<std::vector<ModelRow>> list_models(const Page& page) override;
  Result<std::optional<ApiKeyRow>> get_api_key(std::string_view id) override;
  Result<std::optional<ApiKeyRow>> find_api_key_by_hash(std::string_view key_hash) override;
  Result<std::vector<ApiKeyRow>> list_api_keys(std::string_view agent_id,
                                               const Page& page) override;
  Result<std::optional<OrgRow>> get_org(std::string_view id) override;
  Result<std::vector<OrgRow>> list_orgs(const Page& page) override;
  Result<std::vector<AgentRow>> list_org_agents(std::string_view org_id, const Page& page) override;
  Result<std::optional<OrgAdminKeyRow>> get_org_admin_key(std::string_view id) override;
  Result<std::optional<OrgAdminKeyRow>> find_org_admin_key_by_hash(
      std::string_view key_hash) override;
  Result<std::optional<AutomationRow>> get_automation(std::string_view id) override;
  Result<std::optional<AutomationRow>> find_automation_by_hash(std::string_view hash) override;
  Result<std::vector<AutomationRow>> list_automations(const Page& page) override;
  Result<std::vector<AutomationExecutionRow>> list_executions(
      std::string_view automation_id, const std::optional<std::string>& cursor,
      std::size_t limit) override;
  Result<std::optional<EventRow>> get_event(std::string_view id) override;
  Result<std::optional<InventoryRow>> get_inventory(std::string_view host) override;

 private:
  // Runs f as PostgresStore::read() does, inside the org's transaction; an id that is no org's
  // reads nothing (Nothing) rather than set a context such as '*'.
  template <class F>
  auto in_org(F&& f, const bool* delivered = nullptr) -> decltype(f(std::declval<Connection&>()));

  PostgresStore& store_;
  const bool valid_;
  const std::string begin_;
};

PostgresStore::PostgresStore(PgStoreOptions options)
    : options_(std::move(options)),
      pool_(options_.config, options_.read_connections, std::string(kReadContext)) {}

PostgresStore::~PostgresStore() {
  std::lock_guard lock(writer_mu_);
  writer_.reset();
}

Result<std::unique_ptr<PostgresStore>> PostgresStore::open(PgStoreOptions options) {
  std::unique_ptr<PostgresStore> store(new PostgresStore(std::move(options)));
  std::lock_guard lock(store->writer_mu_);
  WARDEN_RETURN_IF_ERROR(store->connect_writer_locked());
  WARDEN_ASSIGN_OR_RETURN(int version, applied_schema_version(*store->writer_));
  const int latest = latest_schema_version();
  if (version == 0) {
    return Status(ErrorCode::STORE_NOT_INITIALIZED,
                  fmt::format("the PostgreSQL database has no Warden schema: run the migrations "
                              "as the owner role ({}) first",
                              kOwnerRole));
  }
  if (version > latest) {
    return Status(ErrorCode::STORE_SCHEMA_TOO_NEW,
                  fmt::format("database schema version {} is newer than the latest version {} "
                              "this binary knows; upgrade warden",
                              version, latest));
  }
  if (version < latest) {
    return Status(ErrorCode::STORE_NOT_INITIALIZED,
                  fmt::format("schema version {}, this binary needs {}; migrate first (as the "
                              "owner role {})",
                              version, latest, kOwnerRole));
  }
  WARDEN_ASSIGN_OR_RETURN(store->unique_keys_, read_unique_keys(*store->writer_));
  store->writer_->set_unique_keys(store->unique_keys_);
  return store;
}

Status PostgresStore::connect_writer_locked() {
  writer_.reset();
  WARDEN_ASSIGN_OR_RETURN(writer_, Connection::connect(options_.config));
  writer_->set_unique_keys(unique_keys_);
  return Status();
}

template <class F>
auto PostgresStore::read(F&& f, const bool* delivered) -> decltype(f(std::declval<Connection&>())) {
  // A pooled connection whose server closed it while it sat idle (restart, failover, an idle
  // timeout) fails its first statement. A read changes nothing, so it runs again on another
  // connection (the dead one is dropped when returned), unless a scan already handed rows out.
  for (std::size_t attempt = 0;; ++attempt) {
    Result<Pool::Lease> lease = pool_.acquire();
    if (!lease.ok()) return lease.take_status();
    auto out = f(**lease);
    if (out.ok() || (**lease).healthy() || (delivered != nullptr && *delivered) ||
        attempt >= options_.read_connections) {
      return out;
    }
  }
}

Status PostgresStore::write(const std::function<Status(WriteTxn&)>& fn) {
  if (writer_thread_.load() == std::this_thread::get_id()) {
    return Status(ErrorCode::INTERNAL_STORE_ERROR, "write() called from inside write()");
  }
  std::lock_guard lock(writer_mu_);
  writer_thread_ = std::this_thread::get_id();
  struct ClearOwner {
    std::atomic<std::thread::id>& owner;
    ~ClearOwner() { owner = std::thread::id(); }
  } clear_owner{writer_thread_};
  if (writer_ == nullptr || !writer_->healthy()) WARDEN_RETURN_IF_ERROR(connect_writer_locked());
  Status begun = writer_->exec_script(kBegin);
  if (!begun.ok() && !writer_->healthy()) {
    // The server closed the idle connection (restart, failover, idle timeout): nothing has run
    // yet, so a new connection may start the transaction over.
    WARDEN_RETURN_IF_ERROR(connect_writer_locked());
    begun = writer_->exec_script(kBegin);
  }
  Connection& c = *writer_;
  if (!begun.ok()) {
    rollback(c);  // a BEGIN whose context failed left a transaction open
    return begun;
  }
  Status s;
  try {
    PgWriteTxn txn(c);
    s = fn(txn);
    if (s.ok()) txn.finish();
    if (s.ok()) s = txn.storage_failure();
    if (s.ok()) s = txn.aborted();
  } catch (...) {
    rollback(c);
    throw;  // the caller's own exception, passed back unchanged after undoing its writes
  }
  if (s.ok()) {
    // What fn queued goes in the COMMIT's round trip: a queued statement that fails aborts the
    // pipeline, so the COMMIT does not run and the failure comes back here. COMMIT of a
    // transaction that failed succeeds with the tag ROLLBACK.
    Result<Rows> commit = c.exec_prepared(kCommit);
    if (!commit.ok()) {
      s = commit.take_status();
    } else if (commit->command() != "COMMIT") {
      return Status(ErrorCode::INTERNAL_STORE_ERROR, "the transaction was rolled back");
    } else {
      return Status();
    }
  }
  rollback(c);
  return s;
}

Result<AuditVerifyReport> PostgresStore::verify_audit() {
  return read([&](Connection& c) { return postgres::verify_audit(c); });
}

// Nothing is ever archived from PostgreSQL: every row is still in the hot tables.
Result<std::vector<ArchiveSegmentRow>> PostgresStore::list_archive_segments() {
  return std::vector<ArchiveSegmentRow>();
}

Result<ArchiveSummary> PostgresStore::archive_summary() { return ArchiveSummary(); }

Result<std::vector<ArchivedDecision>> PostgresStore::list_archivable_decisions(std::int64_t,
                                                                               std::size_t) {
  return archival_unsupported();
}

Status PostgresStore::ping() {
  WARDEN_ASSIGN_OR_RETURN(int version,
                          read([](Connection& c) { return current_schema_version(c); }));
  if (version != latest_schema_version()) {
    return Status(
        ErrorCode::INTERNAL_STORE_ERROR,
        fmt::format("schema version {} is not the expected {}", version, latest_schema_version()));
  }
  return Status();
}

// The server owns its write-ahead log and checkpoints it itself.
Status PostgresStore::checkpoint() { return Status(); }

std::size_t PostgresStore::writer_prepared_count() {
  std::lock_guard lock(writer_mu_);
  return writer_ == nullptr ? 0 : writer_->prepared_count();
}

Result<std::optional<std::string>> PostgresStore::get_kv(std::string_view key) {
  return read([&](Connection& c) { return postgres::get_kv(c, key); });
}

Result<std::optional<AgentRow>> PostgresStore::get_agent(std::string_view id) {
  return read([&](Connection& c) { return postgres::get_agent(c, id); });
}

Result<std::vector<AgentRow>> PostgresStore::list_agents(const Page& page) {
  return read([&](Connection& c) { return postgres::list_agents(c, page); });
}

Result<std::optional<SessionRow>> PostgresStore::get_session(std::string_view id) {
  return read([&](Connection& c) { return postgres::get_session(c, id); });
}

Result<std::optional<SessionRow>> PostgresStore::find_session_by_token_hash(
    std::string_view token_hash) {
  return read([&](Connection& c) { return postgres::find_session_by_token_hash(c, token_hash); });
}

Result<std::vector<RevokedSessionRow>> PostgresStore::list_revoked_sessions(std::int64_t now) {
  return read([&](Connection& c) { return postgres::list_revoked_sessions(c, now); });
}

Result<std::vector<SigningKeyRow>> PostgresStore::list_signing_keys() {
  return read([&](Connection& c) { return postgres::list_signing_keys(c); });
}

Result<std::optional<PolicyRow>> PostgresStore::get_policy(std::string_view id) {
  return read([&](Connection& c) { return postgres::get_policy(c, id); });
}

Result<std::optional<PolicyRow>> PostgresStore::find_policy_by_hash(std::string_view hash) {
  return read([&](Connection& c) { return postgres::find_policy_by_hash(c, hash); });
}

Result<std::vector<PolicyRow>> PostgresStore::list_policies(const PolicyFilter& filter,
                                                            const Page& page) {
  return read([&](Connection& c) { return postgres::list_policies(c, filter, page); });
}

Result<std::vector<AuditRow>> PostgresStore::list_audit(const AuditFilter& filter) {
  return read([&](Connection& c) { return postgres::list_audit(c, filter); });
}

Result<std::optional<TransactionRow>> PostgresStore::get_transaction(std::string_view id) {
  return read([&](Connection& c) { return postgres::get_transaction(c, id); });
}

Result<std::vector<TransactionRow>> PostgresStore::list_transactions(
    const TransactionFilter& filter, const Page& page) {
  return read([&](Connection& c) { return postgres::list_transactions(c, filter, page); });
}

Result<std::optional<ApprovalRow>> PostgresStore::get_approval(std::string_view id) {
  return read([&](Connection& c) { return postgres::get_approval(c, id); });
}

Result<std::optional<ApprovalRow>> PostgresStore::find_approval_by_tx(std::string_view tx_id) {
  return read([&](Connection& c) { return postgres::find_approval_by_tx(c, tx_id); });
}

Result<std::vector<ApprovalRow>> PostgresStore::list_approvals(bool pending_only,
                                                               const Page& page) {
  return read([&](Connection& c) { return postgres::list_approvals(c, pending_only, page); });
}

Status PostgresStore::scan_meter_usage(const MeterUsageFilter& filter,
                                       const std::function<Status(const MeterUsageRow&)>& each) {
  bool delivered = false;
  const std::function<Status(const MeterUsageRow&)> counted = [&](const MeterUsageRow& row) {
    delivered = true;
    return each(row);
  };
  return read([&](Connection& c) { return postgres::scan_meter_usage(c, filter, counted); },
              &delivered);
}

Result<std::vector<OutboxRow>> PostgresStore::list_outbox_due(std::int64_t now, std::size_t limit) {
  return read([&](Connection& c) { return postgres::list_outbox_due(c, now, limit); });
}

Result<std::optional<LotRow>> PostgresStore::get_lot(std::string_view id) {
  return read([&](Connection& c) { return postgres::get_lot(c, id); });
}

Result<std::vector<LotRow>> PostgresStore::list_lots(const LotFilter& filter, const Page& page) {
  return read([&](Connection& c) { return postgres::list_lots(c, filter, page); });
}

Status PostgresStore::scan_lot_balances(const LotFilter& filter,
                                        const std::function<Status(const LotBalanceRow&)>& each) {
  bool delivered = false;
  const std::function<Status(const LotBalanceRow&)> counted = [&](const LotBalanceRow& row) {
    delivered = true;
    return each(row);
  };
  return read([&](Connection& c) { return postgres::scan_lot_balances(c, filter, counted); },
              &delivered);
}

Result<std::vector<LotEntryRow>> PostgresStore::list_lot_entries(const LotEntryFilter& filter) {
  return read([&](Connection& c) { return postgres::list_lot_entries(c, filter); });
}

Status PostgresStore::scan_lot_entries(const std::function<Status(const LotEntryRow&)>& each) {
  bool delivered = false;
  const std::function<Status(const LotEntryRow&)> counted = [&](const LotEntryRow& row) {
    delivered = true;
    return each(row);
  };
  return read([&](Connection& c) { return postgres::scan_lot_entries(c, counted); }, &delivered);
}

Result<std::optional<HoldRow>> PostgresStore::get_hold(std::string_view id) {
  return read([&](Connection& c) { return postgres::get_hold(c, id); });
}

Result<std::vector<HoldRow>> PostgresStore::list_pending_holds() {
  return read([&](Connection& c) { return postgres::list_pending_holds(c); });
}

Status PostgresStore::scan_pending_hold_entries(
    const std::function<Status(const LotEntryRow&)>& each) {
  bool delivered = false;
  const std::function<Status(const LotEntryRow&)> counted = [&](const LotEntryRow& row) {
    delivered = true;
    return each(row);
  };
  return read([&](Connection& c) { return postgres::scan_pending_hold_entries(c, counted); },
              &delivered);
}

Result<std::optional<LedgerOpRow>> PostgresStore::find_ledger_op(std::string_view idempotency_key) {
  return read([&](Connection& c) { return postgres::find_ledger_op(c, idempotency_key); });
}

Status PostgresStore::scan_ledger_ops_since(std::int64_t since,
                                            const std::function<Status(const LedgerOpRow&)>& each) {
  bool delivered = false;
  const std::function<Status(const LedgerOpRow&)> counted = [&](const LedgerOpRow& row) {
    delivered = true;
    return each(row);
  };
  return read([&](Connection& c) { return postgres::scan_ledger_ops_since(c, since, counted); },
              &delivered);
}

Result<std::optional<PaymentRow>> PostgresStore::get_payment(std::string_view id) {
  return read([&](Connection& c) { return postgres::get_payment(c, id); });
}

Result<std::optional<WebhookEventRow>> PostgresStore::get_webhook_event(std::string_view provider,
                                                                        std::string_view event_id) {
  return read([&](Connection& c) { return postgres::get_webhook_event(c, provider, event_id); });
}

Result<std::vector<UsageRollupRow>> PostgresStore::usage_rollup(const UsageRollupFilter& filter) {
  return read([&](Connection& c) { return postgres::usage_rollup(c, filter); });
}

Result<std::optional<ModelRow>> PostgresStore::get_model(std::string_view id) {
  return read([&](Connection& c) { return postgres::get_model(c, id); });
}

Result<std::optional<ModelRow>> PostgresStore::find_model_by_name(std::string_view name) {
  return read([&](Connection& c) { return postgres::find_model_by_name(c, name); });
}

Result<std::vector<ModelRow>> PostgresStore::list_models(const Page& page) {
  return read([&](Connection& c) { return postgres::list_models(c, page); });
}

Result<std::optional<ApiKeyRow>> PostgresStore::get_api_key(std::string_view id) {
  return read([&](Connection& c) { return postgres::get_api_key(c, id); });
}

Result<std::optional<ApiKeyRow>> PostgresStore::find_api_key_by_hash(std::string_view key_hash) {
  return read([&](Connection& c) { return postgres::find_api_key_by_hash(c, key_hash); });
}

Result<std::vector<ApiKeyRow>> PostgresStore::list_api_keys(std::string_view agent_id,
                                                            const Page& page) {
  return read([&](Connection& c) { return postgres::list_api_keys(c, agent_id, page); });
}

Result<std::optional<OrgRow>> PostgresStore::get_org(std::string_view id) {
  return read([&](Connection& c) { return postgres::get_org(c, id); });
}

Result<std::vector<OrgRow>> PostgresStore::list_orgs(const Page& page) {
  return read([&](Connection& c) { return postgres::list_orgs(c, page); });
}

Result<std::vector<AgentRow>> PostgresStore::list_org_agents(std::string_view org_id,
                                                             const Page& page) {
  return read([&](Connection& c) { return postgres::list_org_agents(c, org_id, page); });
}

Result<std::optional<OrgAdminKeyRow>> PostgresStore::get_org_admin_key(std::string_view id) {
  return read([&](Connection& c) { return postgres::get_org_admin_key(c, id); });
}

Result<std::optional<OrgAdminKeyRow>> PostgresStore::find_org_admin_key_by_hash(
    std::string_view key_hash) {
  return read([&](Connection& c) { return postgres::find_org_admin_key_by_hash(c, key_hash); });
}

Result<std::optional<AutomationRow>> PostgresStore::get_automation(std::string_view id) {
  return read([&](Connection& c) { return postgres::get_automation(c, id); });
}

Result<std::optional<AutomationRow>> PostgresStore::find_automation_by_hash(std::string_view hash) {
  return read([&](Connection& c) { return postgres::find_automation_by_hash(c, hash); });
}

Result<std::vector<AutomationRow>> PostgresStore::list_automations(const Page& page) {
  return read([&](Connection& c) { return postgres::list_automations(c, page); });
}

Result<std::vector<AutomationExecutionRow>> PostgresStore::list_executions(
    std::string_view automation_id, const std::optional<std::string>& cursor, std::size_t limit) {
  return read(
      [&](Connection& c) { return postgres::list_executions(c, automation_id, cursor, limit); });
}

Result<std::optional<EventRow>> PostgresStore::get_event(std::string_view id) {
  return read([&](Connection& c) { return postgres::get_event(c, id); });
}

Result<std::optional<InventoryRow>> PostgresStore::get_inventory(std::string_view host) {
  return read([&](Connection& c) { return postgres::get_inventory(c, host); });
}

std::unique_ptr<Reader> PostgresStore::tenant(std::string_view org_id) {
  return std::make_unique<PgTenantReader>(*this, std::string(org_id));
}

template <class F>
auto PgTenantReader::in_org(F&& f, const bool* delivered)
    -> decltype(f(std::declval<Connection&>())) {
  using Out = decltype(f(std::declval<Connection&>()));
  if (!valid_) return Nothing<Out>::make();
  return store_.read(
      [&](Connection& c) -> Out {
        Status begun = c.exec_script(begin_);
        if (!begun.ok()) {
          rollback(c);  // a BEGIN whose context failed left a transaction open
          return begun;
        }
        // The org's context must not outlive the read on a connection that goes back to the
        // pool: a failure, or an exception from a scan's callback, ends the transaction first.
        std::optional<Out> out;
        try {
          out.emplace(f(c));
        } catch (...) {
          rollback(c);
          throw;
        }
        if (!out->ok()) {
          rollback(c);
          return std::move(*out);
        }
        Result<Rows> commit = c.exec_prepared(kCommit);
        if (!commit.ok()) return commit.take_status();
        return std::move(*out);
      },
      delivered);
}

Result<std::optional<std::string>> PgTenantReader::get_kv(std::string_view key) {
  return in_org([&](Connection& c) { return postgres::get_kv(c, key); });
}

Result<std::optional<AgentRow>> PgTenantReader::get_agent(std::string_view id) {
  return in_org([&](Connection& c) { return postgres::get_agent(c, id); });
}

Result<std::vector<AgentRow>> PgTenantReader::list_agents(const Page& page) {
  return in_org([&](Connection& c) { return postgres::list_agents(c, page); });
}

Result<std::optional<SessionRow>> PgTenantReader::get_session(std::string_view id) {
  return in_org([&](Connection& c) { return postgres::get_session(c, id); });
}

Result<std::optional<SessionRow>> PgTenantReader::find_session_by_token_hash(
    std::string_view token_hash) {
  return in_org([&](Connection& c) { return postgres::find_session_by_token_hash(c, token_hash); });
}

Result<std::vector<RevokedSessionRow>> PgTenantReader::list_revoked_sessions(std::int64_t now) {
  return in_org([&](Connection& c) { return postgres::list_revoked_sessions(c, now); });
}

Result<std::vector<SigningKeyRow>> PgTenantReader::list_signing_keys() {
  return in_org([&](Connection& c) { return postgres::list_signing_keys(c); });
}

Result<std::optional<PolicyRow>> PgTenantReader::get_policy(std::string_view id) {
  return in_org([&](Connection& c) { return postgres::get_policy(c, id); });
}

Result<std::optional<PolicyRow>> PgTenantReader::find_policy_by_hash(std::string_view hash) {
  return in_org([&](Connection& c) { return postgres::find_policy_by_hash(c, hash); });
}

Result<std::vector<PolicyRow>> PgTenantReader::list_policies(const PolicyFilter& filter,
                                                             const Page& page) {
  return in_org([&](Connection& c) { return postgres::list_policies(c, filter, page); });
}

Result<std::vector<AuditRow>> PgTenantReader::list_audit(const AuditFilter& filter) {
  return in_org([&](Connection& c) { return postgres::list_audit(c, filter); });
}

Result<std::optional<TransactionRow>> PgTenantReader::get_transaction(std::string_view id) {
  return in_org([&](Connection& c) { return postgres::get_transaction(c, id); });
}

Result<std::vector<TransactionRow>> PgTenantReader::list_transactions(
    const TransactionFilter& filter, const Page& page) {
  return in_org([&](Connection& c) { return postgres::list_transactions(c, filter, page); });
}

Result<std::optional<ApprovalRow>> PgTenantReader::get_approval(std::string_view id) {
  return in_org([&](Connection& c) { return postgres::get_approval(c, id); });
}

Result<std::optional<ApprovalRow>> PgTenantReader::find_approval_by_tx(std::string_view tx_id) {
  return in_org([&](Connection& c) { return postgres::find_approval_by_tx(c, tx_id); });
}

Result<std::vector<ApprovalRow>> PgTenantReader::list_approvals(bool pending_only,
                                                                const Page& page) {
  return in_org([&](Connection& c) { return postgres::list_approvals(c, pending_only, page); });
}

Status PgTenantReader::scan_meter_usage(const MeterUsageFilter& filter,
                                        const std::function<Status(const MeterUsageRow&)>& each) {
  bool delivered = false;
  const std::function<Status(const MeterUsageRow&)> counted = [&](const MeterUsageRow& row) {
    delivered = true;
    return each(row);
  };
  return in_org([&](Connection& c) { return postgres::scan_meter_usage(c, filter, counted); },
                &delivered);
}

Result<std::vector<OutboxRow>> PgTenantReader::list_outbox_due(std::int64_t now,
                                                               std::size_t limit) {
  return in_org([&](Connection& c) { return postgres::list_outbox_due(c, now, limit); });
}

Result<std::optional<LotRow>> PgTenantReader::get_lot(std::string_view id) {
  return in_org([&](Connection& c) { return postgres::get_lot(c, id); });
}

Result<std::vector<LotRow>> PgTenantReader::list_lots(const LotFilter& filter, const Page& page) {
  return in_org([&](Connection& c) { return postgres::list_lots(c, filter, page); });
}

Status PgTenantReader::scan_lot_balances(const LotFilter& filter,
                                         const std::function<Status(const LotBalanceRow&)>& each) {
  bool delivered = false;
  const std::function<Status(const LotBalanceRow&)> counted = [&](const LotBalanceRow& row) {
    delivered = true;
    return each(row);
  };
  return in_org([&](Connection& c) { return postgres::scan_lot_balances(c, filter, counted); },
                &delivered);
}

Result<std::vector<LotEntryRow>> PgTenantReader::list_lot_entries(const LotEntryFilter& filter) {
  return in_org([&](Connection& c) { return postgres::list_lot_entries(c, filter); });
}

Status PgTenantReader::scan_lot_entries(const std::function<Status(const LotEntryRow&)>& each) {
  bool delivered = false;
  const std::function<Status(const LotEntryRow&)> counted = [&](const LotEntryRow& row) {
    delivered = true;
    return each(row);
  };
  return in_org([&](Connection& c) { return postgres::scan_lot_entries(c, counted); }, &delivered);
}

Result<std::optional<HoldRow>> PgTenantReader::get_hold(std::string_view id) {
  return in_org([&](Connection& c) { return postgres::get_hold(c, id); });
}

Result<std::vector<HoldRow>> PgTenantReader::list_pending_holds() {
  return in_org([&](Connection& c) { return postgres::list_pending_holds(c); });
}

Status PgTenantReader::scan_pending_hold_entries(
    const std::function<Status(const LotEntryRow&)>& each) {
  bool delivered = false;
  const std::function<Status(const LotEntryRow&)> counted = [&](const LotEntryRow& row) {
    delivered = true;
    return each(row);
  };
  return in_org([&](Connection& c) { return postgres::scan_pending_hold_entries(c, counted); },
                &delivered);
}

Result<std::optional<LedgerOpRow>> PgTenantReader::find_ledger_op(
    std::string_view idempotency_key) {
  return in_org([&](Connection& c) { return postgres::find_ledger_op(c, idempotency_key); });
}

Status PgTenantReader::scan_ledger_ops_since(
    std::int64_t since, const std::function<Status(const LedgerOpRow&)>& each) {
  bool delivered = false;
  const std::function<Status(const LedgerOpRow&)> counted = [&](const LedgerOpRow& row) {
    delivered = true;
    return each(row);
  };
  return in_org([&](Connection& c) { return postgres::scan_ledger_ops_since(c, since, counted); },
                &delivered);
}

Result<std::optional<PaymentRow>> PgTenantReader::get_payment(std::string_view id) {
  return in_org([&](Connection& c) { return postgres::get_payment(c, id); });
}

Result<std::optional<WebhookEventRow>> PgTenantReader::get_webhook_event(
    std::string_view provider, std::string_view event_id) {
  return in_org([&](Connection& c) { return postgres::get_webhook_event(c, provider, event_id); });
}

Result<std::vector<UsageRollupRow>> PgTenantReader::usage_rollup(const UsageRollupFilter& filter) {
  return in_org([&](Connection& c) { return postgres::usage_rollup(c, filter); });
}

Result<std::optional<ModelRow>> PgTenantReader::get_model(std::string_view id) {
  return in_org([&](Connection& c) { return postgres::get_model(c, id); });
}

Result<std::optional<ModelRow>> PgTenantReader::find_model_by_name(std::string_view name) {
  return in_org([&](Connection& c) { return postgres::find_model_by_name(c, name); });
}

Result<std::vector<ModelRow>> PgTenantReader::list_models(const Page& page) {
  return in_org([&](Connection& c) { return postgres::list_models(c, page); });
}

Result<std::optional<ApiKeyRow>> PgTenantReader::get_api_key(std::string_view id) {
  return in_org([&](Connection& c) { return postgres::get_api_key(c, id); });
}

Result<std::optional<ApiKeyRow>> PgTenantReader::find_api_key_by_hash(std::string_view key_hash) {
  return in_org([&](Connection& c) { return postgres::find_api_key_by_hash(c, key_hash); });
}

Result<std::vector<ApiKeyRow>> PgTenantReader::list_api_keys(std::string_view agent_id,
                                                             const Page& page) {
  return in_org([&](Connection& c) { return postgres::list_api_keys(c, agent_id, page); });
}

Result<std::optional<OrgRow>> PgTenantReader::get_org(std::string_view id) {
  return in_org([&](Connection& c) { return postgres::get_org(c, id); });
}

Result<std::vector<OrgRow>> PgTenantReader::list_orgs(const Page& page) {
  return in_org([&](Connection& c) { return postgres::list_orgs(c, page); });
}

Result<std::vector<AgentRow>> PgTenantReader::list_org_agents(std::string_view org_id,
                                                              const Page& page) {
  return in_org([&](Connection& c) { return postgres::list_org_agents(c, org_id, page); });
}

Result<std::optional<OrgAdminKeyRow>> PgTenantReader::get_org_admin_key(std::string_view id) {
  return in_org([&](Connection& c) { return postgres::get_org_admin_key(c, id); });
}

Result<std::optional<OrgAdminKeyRow>> PgTenantReader::find_org_admin_key_by_hash(
    std::string_view key_hash) {
  return in_org([&](Connection& c) { return postgres::find_org_admin_key_by_hash(c, key_hash); });
}

Result<std::optional<AutomationRow>> PgTenantReader::get_automation(std::string_view id) {
  return in_org([&](Connection& c) { return postgres::get_automation(c, id); });
}

Result<std::optional<AutomationRow>> PgTenantReader::find_automation_by_hash(
    std::string_view hash) {
  return in_org([&](Connection& c) { return postgres::find_automation_by_hash(c, hash); });
}

Result<std::vector<AutomationRow>> PgTenantReader::list_automations(const Page& page) {
  return in_org([&](Connection& c) { return postgres::list_automations(c, page); });
}

Result<std::vector<AutomationExecutionRow>> PgTenantReader::list_executions(
    std::string_view automation_id, const std::optional<std::string>& cursor, std::size_t limit) {
  return in_org(
      [&](Connection& c) { return postgres::list_executions(c, automation_id, cursor, limit); });
}

Result<std::optional<EventRow>> PgTenantReader::get_event(std::string_view id) {
  return in_org([&](Connection& c) { return postgres::get_event(c, id); });
}

Result<std::optional<InventoryRow>> PgTenantReader::get_inventory(std::string_view host) {
  return in_org([&](Connection& c) { return postgres::get_inventory(c, host); });
}
}  // namespace warden::store::postgres
