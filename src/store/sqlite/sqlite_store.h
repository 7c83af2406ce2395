// The embedded Store backend: one SQLite file in WAL mode, schema built by numbered migrations
// at open, a single serialised writer connection and a small pool of reader connections.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "store/store.h"

struct sqlite3;

namespace warden::store {

namespace sqlite {
class Connection;
}  // namespace sqlite

// How far a commit has gone when write() returns (PRAGMA synchronous on every connection).
// kFull: the write-ahead log is fsynced at every commit (one fsync per group commit), so an
// acknowledged write survives power loss. kNormal: the log is fsynced only around checkpoints;
// a process crash loses nothing, but power loss may lose the last commits.
enum class Durability { kFull, kNormal };

struct SqliteOptions {
  bool create_if_missing = false;  // otherwise a missing file is STORE_NOT_INITIALIZED
  bool read_only = false;          // no migrations; write() fails
  const Clock* clock = nullptr;    // stamps schema_version.applied_at during open(); null: system
  Durability durability = Durability::kFull;
  // ping() has a write probe committed when no commit succeeded for this long, so a store that
  // stopped (or resumed) accepting writes while idle is noticed. 0: at every ping().
  std::int64_t write_probe_interval_ms = 1000;
};

// Thread-safety: every public method may be called from any thread at once.
// - write() holds writer_mu_ for the whole transaction, so writers run one at a time on the
//   single writer connection (SQLite allows one writer anyway; queueing here avoids BUSY).
//   Calling write() again from inside fn on the same thread is refused, not deadlocked.
// - Reads outside write() borrow one of kReadConnections pooled connections; the pool's mutex
//   is held only to take or return a connection, never during a query. WAL lets those reads
//   run beside the writer and see only committed data.
// - The WriteTxn given to fn must be used only on the calling thread, only during that call.
class SqliteStore final : public Store {
 public:
  static constexpr int kReadConnections = 4;

  static Result<std::unique_ptr<SqliteStore>> open(const std::string& path, SqliteOptions opts);
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

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
  // Stops at the first broken row; rows_checked then includes that row.
  Result<AuditVerifyReport> verify_audit() override;
  Result<std::vector<ArchiveSegmentRow>> list_archive_segments() override;
  Result<ArchiveSummary> archive_summary() override;
  Result<std::vector<ArchivedDecision>> list_archivable_decisions(std::int64_t before,
                                                                  std::size_t limit) override;
  // Reachable, migrated and able to write: not ready while the last commit (a write() or a
  // write probe) failed because the storage refused it (disk full, read-only, I/O error, locked)
  // or while a commit has been running for kWriteStallMs. Never waits for a running commit;
  // waits at most kWriteProbeWaitMs for a write probe it asked for.
  Status ping() override;
  Status checkpoint() override;
  // Filtered in the store over this store's reads (tenant_reader.h): SQLite has no row-level
  // security.
  std::unique_ptr<Reader> tenant(std::string_view org_id) override;

  // Log size (in pages) written since the last checkpoint that wakes the background
  // checkpointer, and the log size at which the writer completes a checkpoint itself so the
  // log restarts: a log under continuous writes cannot grow without bound.
  static constexpr int kCheckpointPages = 1000;
  static constexpr int kCheckpointRestartPages = 8 * kCheckpointPages;
  static constexpr std::int64_t kWriteProbeWaitMs = 250;
  static constexpr std::int64_t kWriteStallMs = 5000;  // the busy timeout: longer is stuck

  int schema_version();  // highest applied migration; -1 when it cannot be read
  // Checkpoints the background thread has run since open(), and the writer's own ones.
  std::uint64_t background_checkpoints() const { return background_checkpoints_.load(); }
  std::uint64_t restart_checkpoints() const { return restart_checkpoints_.load(); }
  // How many migrations this open() applied (0 when the file was already current).
  int migrations_applied_at_open() const { return migrations_applied_; }
  // The seven PRAGMAs read back on every connection this store holds (writer first), each as
  // {name, value} in kPragmaNames order, e.g. {"journal_mode", "wal"}.
  Result<std::vector<std::vector<std::pair<std::string, std::string>>>> pragma_values();

 private:
  class ReadLease;
  SqliteStore() = default;
  Status open_connections(const std::string& path, SqliteOptions opts);
  Status migrate();
  ReadLease lease();  // blocks until a reader is idle
  void give_back(std::unique_ptr<sqlite::Connection> conn);
  // Runs body between BEGIN IMMEDIATE and COMMIT on the writer (rolling back on failure) and
  // records the outcome for ping(). body sets *failed_rc to the SQLite code of a storage failure.
  // Requires writer_mu_.
  Status commit_locked(const std::function<Status(sqlite::Connection&, int* failed_rc)>& body);
  void record_commit(const Status& s, int failed_rc);
  Status check_writable();
  void run_write_probe();  // on the checkpointer thread

  bool read_only_ = false;
  const Clock* clock_ = nullptr;
  Durability durability_ = Durability::kFull;
  std::chrono::milliseconds write_probe_interval_{1000};
  int migrations_applied_ = 0;

  std::mutex writer_mu_;
  std::unique_ptr<sqlite::Connection> writer_;  // guarded by writer_mu_; null when read_only
  std::atomic<std::thread::id> writer_thread_;  // the thread inside write(), if any

  // Background checkpoints: the writer connection does not checkpoint itself (that would stall
  // every decision waiting on its batch); after a commit leaves kCheckpointPages or more in the
  // log, the checkpointer thread copies it back into the database file on its own connection.
  static int on_wal_commit(void* self, sqlite3* db, const char* schema, int log_pages);
  void checkpoint_loop();
  void stop_checkpointer();
  std::unique_ptr<sqlite::Connection> checkpointer_;  // used only by checkpoint_thread_
  std::thread checkpoint_thread_;
  std::mutex checkpoint_mu_;
  std::mutex checkpoint_run_mu_;  // held while the background thread or checkpoint() runs one
  std::condition_variable checkpoint_cv_;
  bool checkpoint_stop_ = false;                 // guarded by checkpoint_mu_
  std::atomic<bool> checkpoint_wanted_{false};   // set by the writer's commit hook
  std::atomic<int> checkpointed_pages_{0};       // log pages the last checkpoint copied
  std::atomic<std::uint64_t> background_checkpoints_{0};
  std::atomic<std::uint64_t> restart_checkpoints_{0};  // by the writer, in its commit hook

  // Write health, for ping(). Commits record their outcome; ping() asks the checkpointer thread
  // for a write probe (a committed write that leaves no row) when none succeeded lately.
  using SteadyTime = std::chrono::steady_clock::time_point;
  std::mutex health_mu_;
  std::condition_variable health_cv_;
  std::optional<std::string> write_failure_;  // guarded by health_mu_: why the last commit failed
  SteadyTime last_commit_ok_;                 // guarded by health_mu_
  std::optional<SteadyTime> commit_started_;  // guarded by health_mu_: a commit is running
  std::optional<SteadyTime> probe_asked_;     // guarded by health_mu_
  std::uint64_t commit_outcomes_ = 0;         // guarded by health_mu_: informative outcomes
  bool probe_wanted_ = false;                 // guarded by checkpoint_mu_

  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::vector<std::unique_ptr<sqlite::Connection>> idle_readers_;  // guarded by pool_mu_
  std::size_t readers_opened_ = 0;  // guarded by pool_mu_; all are idle when none is leased
};

// The highest migration this binary knows.
int latest_schema_version();

}  // namespace warden::store
