// The cluster-mode Store backend (docs/cluster.md): the Store interface on PostgreSQL, shared by
// every replica. Reads borrow a pooled connection; write() runs on the replica's one writer
// connection (the group-commit writer already batches), so writes of one replica are serialised
// as on SQLite and replicas' transactions meet in PostgreSQL's row locks.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "store/postgres/pg.h"
#include "store/store.h"

namespace warden::store::postgres {

class PgTenantReader;

struct PgStoreOptions {
  ConnectionConfig config;           // the warden (application) role
  std::size_t read_connections = 4;  // pooled connections for reads outside write()
};

// Thread-safety: as SqliteStore. write() holds writer_mu_ for the whole transaction; a write()
// from inside fn on the same thread is refused. Reads outside write() run on pooled connections
// and see committed data only (READ COMMITTED).
class PostgresStore final : public Store {
 public:
  // Connects and checks the schema: migrated to this binary's version (`warden db migrate` as the
  // owner role does that), otherwise STORE_NOT_INITIALIZED or STORE_SCHEMA_TOO_NEW.
  static Result<std::unique_ptr<PostgresStore>> open(PgStoreOptions options);
  ~PostgresStore() override;
  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;

  // Reader
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
  Status scan_pending_hold_entries(
      const std::function<Status(const LotEntryRow&)>& each) override;
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
  Result<std::vector<AgentRow>> list_org_agents(std::string_view org_id,
                                                const Page& page) override;
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

  // Store
  Status write(const std::function<Status(WriteTxn&)>& fn) override;
  Result<AuditVerifyReport> verify_audit() override;
  Result<std::vector<ArchiveSegmentRow>> list_archive_segments() override;
  Result<ArchiveSummary> archive_summary() override;
  // CONFIG_INVALID: archival is not supported in cluster mode (docs/retention.md).
  Result<std::vector<ArchivedDecision>> list_archivable_decisions(std::int64_t before,
                                                                  std::size_t limit) override;
  Status ping() override;        // a pooled connection answers and the schema is current
  Status checkpoint() override;  // nothing to do: the server owns its log
  // Row-level security does the filtering: each read runs in a read-only transaction whose
  // context app.org_id is the org (migrate.cc, "Tenant isolation").
  std::unique_ptr<Reader> tenant(std::string_view org_id) override;

  // How many statements the writer connection has prepared (tests: statements are reused).
  std::size_t writer_prepared_count();

 private:
  friend class PgTenantReader;  // reads on the pool, in its own context
  explicit PostgresStore(PgStoreOptions options);
  Status connect_writer_locked();  // requires writer_mu_
  // Runs f on a pooled connection; again on another when that one had lost its server, unless
  // *delivered says a scan already handed rows to its caller.
  template <class F>
  auto read(F&& f, const bool* delivered = nullptr) -> decltype(f(std::declval<Connection&>()));

  PgStoreOptions options_;
  Pool pool_;
  std::mutex writer_mu_;
  std::unique_ptr<Connection> writer_;          // guarded by writer_mu_; reconnected when gone
  std::shared_ptr<const UniqueKeys> unique_keys_;  // read at open(), given to each writer
  std::atomic<std::thread::id> writer_thread_;  // the thread inside write(), if any
};

}  // namespace warden::store::postgres
