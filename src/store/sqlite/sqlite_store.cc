// SqliteStore: opening and migrating the file, the serialised writer, the reader pool, and
// WriteTxn over the writer connection.
#include "store/sqlite/sqlite_store.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <type_traits>
#include <utility>

#include "core/thread_name.h"
#include "store/sqlite/connection.h"
#include "store/sqlite/queries.h"
#include "store/sqlite/schema.h"
#include "store/tenant_reader.h"

namespace warden::store {

using sqlite::Connection;

namespace {

Status schema_too_new(int found) {
  return Status(ErrorCode::STORE_SCHEMA_TOO_NEW,
                fmt::format("database schema version {} is newer than the latest version {} "
                            "this binary knows; upgrade warden",
                            found, latest_schema_version()));
}

// The database holds session-token hashes and the master-password hash: owner-only, like its
// directory.
constexpr mode_t kDatabaseFileMode = 0600;

Status file_mode_error(const std::string& path, int err) {
  return Status(ErrorCode::INTERNAL_STORE_ERROR,
                fmt::format("cannot make {} mode 0600: {}", path, std::strerror(err)));
}

// Creates the database file owner-only (SQLite would create it 0644 less the umask) and
// tightens an existing one and its WAL and shared-memory files. SQLite gives the WAL and
// shared-memory files it creates later the database file's mode.
Status restrict_file_modes(const std::string& path, bool create) {
  const int fd =
      ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (create ? O_CREAT : 0), kDatabaseFileMode);
  if (fd < 0) return file_mode_error(path, errno);
  const int rc = ::fchmod(fd, kDatabaseFileMode);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return file_mode_error(path, err);
  for (const char* suffix : {"-wal", "-shm", "-journal"}) {
    const std::string side = path + suffix;
    if (::chmod(side.c_str(), kDatabaseFileMode) != 0 && errno != ENOENT) {
      return file_mode_error(side, errno);
    }
  }
  return Status();
}

// Rolls back unless SQLite already did (some errors end the transaction by themselves).
void rollback(Connection& c) {
  if (sqlite3_get_autocommit(c.handle()) == 0) (void)c.exec("ROLLBACK");
}

// Runs `read` (returning a Result) inside BEGIN ... COMMIT so what it reads comes from one
// snapshot; the pooled connection never stays in the transaction. `read`'s error comes first.
template <typename Read>
std::invoke_result_t<Read&> read_in_snapshot(Connection& c, Read&& read) {
  WARDEN_RETURN_IF_ERROR(c.exec("BEGIN"));
  auto result = read();
  Status ended = c.exec("COMMIT");
  if (!ended.ok()) rollback(c);
  if (!result.ok()) return result;
  WARDEN_RETURN_IF_ERROR(ended);
  return result;
}

// Runs one parameterless statement through the connection's statement cache.
Status run_cached(Connection& c, std::string_view sql) {
  WARDEN_ASSIGN_OR_RETURN(sqlite::Stmt st, c.prepare(sql));
  return st.run();
}

// The storage refused the write (rather than the data being wrong): what makes a store not
// ready until a later commit succeeds.
bool storage_refused(int rc) {
  switch (rc & 0xff) {
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return true;
    default:
      return false;
  }
}

// A commit that leaves nothing behind but still appends to the write-ahead log (the row's page is
// dirtied), so it fails exactly when a real commit would: disk full, read-only, I/O error.
constexpr std::string_view kProbeInsertSql =
    "INSERT OR REPLACE INTO key_value_store (key, value, updated_at) "
    "VALUES ('warden.write_probe', '', 0)";
constexpr std::string_view kProbeDeleteSql =
    "DELETE FROM key_value_store WHERE key = 'warden.write_probe'";

// WriteTxn over the writer connection inside write()'s transaction. Remembers the first
// storage-level failure so write() rolls back even if fn ignores it; constraint, not-found and
// validation errors are left to fn (a failed statement undoes only itself).
class SqliteWriteTxn final : public WriteTxn {
 public:
  explicit SqliteWriteTxn(Connection& c) : c_(c) {}
  const Status& storage_failure() const { return failure_; }
  int storage_failure_rc() const { return failure_rc_; }  // SQLite's code for it

  Result<std::optional<std::string>> get_kv(std::string_view key) override {
    return track(sqlite::get_kv(c_, key));
  }
  Result<std::optional<AgentRow>> get_agent(std::string_view id) override {
    return track(sqlite::get_agent(c_, id));
  }
  Result<std::vector<AgentRow>> list_agents(const Page& page) override {
    return track(sqlite::list_agents(c_, page));
  }
  Result<std::optional<SessionRow>> get_session(std::string_view id) override {
    return track(sqlite::get_session(c_, id));
  }
  Result<std::optional<SessionRow>> find_session_by_token_hash(
      std::string_view token_hash) override {
    return track(sqlite::find_session_by_token_hash(c_, token_hash));
  }
  Result<std::vector<RevokedSessionRow>> list_revoked_sessions(std::int64_t now) override {
    return track(sqlite::list_revoked_sessions(c_, now));
  }
  Result<std::vector<SigningKeyRow>> list_signing_keys() override {
    return track(sqlite::list_signing_keys(c_));
  }
  Status insert_signing_key(const SigningKeyRow& row) override {
    return track(sqlite::insert_signing_key(c_, row));
  }
  Status extend_signing_key(std::string_view kid, std::int64_t verify_until) override {
    return track(sqlite::extend_signing_key(c_, kid, verify_until));
  }
  Result<std::optional<PolicyRow>> get_policy(std::string_view id) override {
    return track(sqlite::get_policy(c_, id));
  }
  Result<std::optional<PolicyRow>> find_policy_by_hash(std::string_view hash) override {
    return track(sqlite::find_policy_by_hash(c_, hash));
  }
  Result<std::vector<PolicyRow>> list_policies(const PolicyFilter& filter,
                                               const Page& page) override {
    return track(sqlite::list_policies(c_, filter, page));
  }
  Result<std::vector<AuditRow>> list_audit(const AuditFilter& filter) override {
    return track(sqlite::list_audit(c_, filter));
  }

  Status put_kv(std::string_view key, std::string_view value, std::int64_t now) override {
    return track(sqlite::put_kv(c_, key, value, now));
  }
  Status insert_agent(const AgentRow& row) override { return track(sqlite::insert_agent(c_, row)); }
  Status update_agent(const AgentRow& row) override { return track(sqlite::update_agent(c_, row)); }
  Status insert_session(const SessionRow& row) override {
    return track(sqlite::insert_session(c_, row));
  }
  Status update_session(const SessionRow& row) override {
    return track(sqlite::update_session(c_, row));
  }
  Result<std::int64_t> revoke_agent_sessions(std::string_view agent_id, std::int64_t now) override {
    return track(sqlite::revoke_agent_sessions(c_, agent_id, now));
  }
  Status insert_policy(const PolicyRow& row) override {
    return track(sqlite::insert_policy(c_, row));
  }
  Status update_policy(const PolicyRow& row) override {
    return track(sqlite::update_policy(c_, row));
  }
  Status delete_policy(std::string_view id) override {
    return track(sqlite::delete_policy(c_, id));
  }
  Result<std::int64_t> append_audit(const AuditEvent& event) override {
    return track(sqlite::append_audit(c_, event, &audit_tail_));
  }
  Result<std::optional<TransactionRow>> get_transaction(std::string_view id) override {
    return track(sqlite::get_transaction(c_, id));
  }
  Result<std::vector<TransactionRow>> list_transactions(const TransactionFilter& filter,
                                                        const Page& page) override {
    return track(sqlite::list_transactions(c_, filter, page));
  }
  Result<std::optional<ApprovalRow>> get_approval(std::string_view id) override {
    return track(sqlite::get_approval(c_, id));
  }
  Result<std::optional<ApprovalRow>> find_approval_by_tx(std::string_view tx_id) override {
    return track(sqlite::find_approval_by_tx(c_, tx_id));
  }
  Result<std::vector<ApprovalRow>> list_approvals(bool pending_only, const Page& page) override {
    return track(sqlite::list_approvals(c_, pending_only, page));
  }
  Status insert_transaction(const TransactionRow& row) override {
    return track(sqlite::insert_transaction(c_, row));
  }
  Status update_transaction(const TransactionRow& row) override {
    return track(sqlite::update_transaction(c_, row));
  }
  Status insert_approval(const ApprovalRow& row) override {
    return track(sqlite::insert_approval(c_, row));
  }
  Status update_approval(const ApprovalRow& row) override {
    return track(sqlite::update_approval(c_, row));
  }
  Status scan_meter_usage(const MeterUsageFilter& filter,
                          const std::function<Status(const MeterUsageRow&)>& each) override {
    return track(sqlite::scan_meter_usage(c_, filter, each));
  }
  Result<std::vector<OutboxRow>> list_outbox_due(std::int64_t now, std::size_t limit) override {
    return track(sqlite::list_outbox_due(c_, now, limit));
  }
  Status add_meter_usage(const MeterUsageRow& row) override {
    return track(sqlite::add_meter_usage(c_, row));
  }
  Status insert_outbox(const OutboxRow& row) override {
    return track(sqlite::insert_outbox(c_, row));
  }
  Status update_outbox(const OutboxRow& row) override {
    return track(sqlite::update_outbox(c_, row));
  }
  Status delete_outbox(std::string_view id) override {
    return track(sqlite::delete_outbox(c_, id));
  }
  Result<std::optional<LotRow>> get_lot(std::string_view id) override {
    return track(sqlite::get_lot(c_, id));
  }
  Result<std::vector<LotRow>> list_lots(const LotFilter& filter, const Page& page) override {
    return track(sqlite::list_lots(c_, filter, page));
  }
  Status scan_lot_balances(const LotFilter& filter,
                           const std::function<Status(const LotBalanceRow&)>& each) override {
    return track(sqlite::scan_lot_balances(c_, filter, each));
  }
  Result<std::vector<LotEntryRow>> list_lot_entries(const LotEntryFilter& filter) override {
    return track(sqlite::list_lot_entries(c_, filter));
  }
  Status scan_lot_entries(const std::function<Status(const LotEntryRow&)>& each) override {
    return track(sqlite::scan_lot_entries(c_, each));
  }
  Result<std::optional<HoldRow>> get_hold(std::string_view id) override {
    return track(sqlite::get_hold(c_, id));
  }
  Result<std::vector<HoldRow>> list_pending_holds() override {
    return track(sqlite::list_pending_holds(c_));
  }
  Status scan_pending_hold_entries(const std::function<Status(const LotEntryRow&)>& each) override {
    return track(sqlite::scan_pending_hold_entries(c_, each));
  }
  Result<std::optional<LedgerOpRow>> find_ledger_op(std::string_view idempotency_key) override {
    return track(sqlite::find_ledger_op(c_, idempotency_key));
  }
  Status scan_ledger_ops_since(std::int64_t since,
                               const std::function<Status(const LedgerOpRow&)>& each) override {
    return track(sqlite::scan_ledger_ops_since(c_, since, each));
  }
  Result<std::optional<PaymentRow>> get_payment(std::string_view id) override {
    return track(sqlite::get_payment(c_, id));
  }
  Result<std::optional<WebhookEventRow>> get_webhook_event(std::string_view provider,
                                                           std::string_view event_id) override {
    return track(sqlite::get_webhook_event(c_, provider, event_id));
  }
  Result<std::vector<UsageRollupRow>> usage_rollup(const UsageRollupFilter& filter) override {
    return track(sqlite::usage_rollup(c_, filter));
  }
  Status insert_lot(const LotRow& row) override { return track(sqlite::insert_lot(c_, row)); }
  Status update_lot_status(std::string_view id, std::string_view status) override {
    return track(sqlite::update_lot_status(c_, id, status));
  }
  Status insert_lot_entry(LotEntryRow& row) override {
    return track(sqlite::insert_lot_entry(c_, row));
  }
  Status insert_hold(const HoldRow& row) override { return track(sqlite::insert_hold(c_, row)); }
  Status update_hold(const HoldRow& row) override { return track(sqlite::update_hold(c_, row)); }
  Status insert_ledger_op(const LedgerOpRow& row) override {
    return track(sqlite::insert_ledger_op(c_, row));
  }
  Status insert_payment(const PaymentRow& row) override {
    return track(sqlite::insert_payment(c_, row));
  }
  Status update_payment(const PaymentRow& row) override {
    return track(sqlite::update_payment(c_, row));
  }
  Result<bool> insert_webhook_event(const WebhookEventRow& row) override {
    return track(sqlite::insert_webhook_event(c_, row));
  }
  Status insert_usage_event(const UsageEventRow& row) override {
    return track(sqlite::insert_usage_event(c_, row));
  }
  Result<std::optional<ModelRow>> get_model(std::string_view id) override {
    return track(sqlite::get_model(c_, id));
  }
  Result<std::optional<ModelRow>> find_model_by_name(std::string_view name) override {
    return track(sqlite::find_model_by_name(c_, name));
  }
  Result<std::vector<ModelRow>> list_models(const Page& page) override {
    return track(sqlite::list_models(c_, page));
  }
  Result<std::optional<ApiKeyRow>> get_api_key(std::string_view id) override {
    return track(sqlite::get_api_key(c_, id));
  }
  Result<std::optional<ApiKeyRow>> find_api_key_by_hash(std::string_view key_hash) override {
    return track(sqlite::find_api_key_by_hash(c_, key_hash));
  }
  Result<std::vector<ApiKeyRow>> list_api_keys(std::string_view agent_id,
                                               const Page& page) override {
    return track(sqlite::list_api_keys(c_, agent_id, page));
  }
  Status insert_model(const ModelRow& row) override { return track(sqlite::insert_model(c_, row)); }
  Status update_model(const ModelRow& row) override { return track(sqlite::update_model(c_, row)); }
  Status delete_model(std::string_view id) override { return track(sqlite::delete_model(c_, id)); }
  Status insert_api_key(const ApiKeyRow& row) override {
    return track(sqlite::insert_api_key(c_, row));
  }
  Status update_api_key(const ApiKeyRow& row) override {
    return track(sqlite::update_api_key(c_, row));
  }
  Result<std::int64_t> revoke_agent_api_keys(std::string_view agent_id, std::int64_t now) override {
    return track(sqlite::revoke_agent_api_keys(c_, agent_id, now));
  }
  Result<std::optional<OrgRow>> get_org(std::string_view id) override {
    return track(sqlite::get_org(c_, id));
  }
  Result<std::vector<OrgRow>> list_orgs(const Page& page) override {
    return track(sqlite::list_orgs(c_, page));
  }
  Result<std::vector<AgentRow>> list_org_agents(std::string_view org_id,
                                                const Page& page) override {
    return track(sqlite::list_org_agents(c_, org_id, page));
  }
  Result<std::optional<OrgAdminKeyRow>> get_org_admin_key(std::string_view id) override {
    return track(sqlite::get_org_admin_key(c_, id));
  }
  Result<std::optional<OrgAdminKeyRow>> find_org_admin_key_by_hash(
      std::string_view key_hash) override {
    return track(sqlite::find_org_admin_key_by_hash(c_, key_hash));
  }
  Status insert_org(const OrgRow& row) override { return track(sqlite::insert_org(c_, row)); }
  Status update_org(const OrgRow& row) override { return track(sqlite::update_org(c_, row)); }
  Status insert_org_admin_key(const OrgAdminKeyRow& row) override {
    return track(sqlite::insert_org_admin_key(c_, row));
  }
  Status update_org_admin_key(const OrgAdminKeyRow& row) override {
    return track(sqlite::update_org_admin_key(c_, row));
  }
  Result<std::optional<AutomationRow>> get_automation(std::string_view id) override {
    return track(sqlite::get_automation(c_, id));
  }
  Result<std::optional<AutomationRow>> find_automation_by_hash(std::string_view hash) override {
    return track(sqlite::find_automation_by_hash(c_, hash));
  }
  Result<std::vector<AutomationRow>> list_automations(const Page& page) override {
    return track(sqlite::list_automations(c_, page));
  }
  Result<std::vector<AutomationExecutionRow>> list_executions(
      std::string_view automation_id, const std::optional<std::string>& cursor,
      std::size_t limit) override {
    return track(sqlite::list_executions(c_, automation_id, cursor, limit));
  }
  Result<std::optional<EventRow>> get_event(std::string_view id) override {
    return track(sqlite::get_event(c_, id));
  }
  Result<std::optional<InventoryRow>> get_inventory(std::string_view host) override {
    return track(sqlite::get_inventory(c_, host));
  }
  Status insert_automation(const AutomationRow& row) override {
    return track(sqlite::insert_automation(c_, row));
  }
  Status update_automation(const AutomationRow& row) override {
    return track(sqlite::update_automation(c_, row));
  }
  Status delete_automation(std::string_view id) override {
    return track(sqlite::delete_automation(c_, id));
  }
  Status insert_execution(const AutomationExecutionRow& row) override {
    return track(sqlite::insert_execution(c_, row));
  }
  Status insert_event(const EventRow& row) override {
    return track(sqlite::insert_event(c_, row));
  }
  Result<std::int64_t> delete_events_before(std::int64_t received_at_ms,
                                            std::size_t limit) override {
    return track(sqlite::delete_events_before(c_, received_at_ms, limit));
  }
  Status put_inventory(const InventoryRow& row) override {
    return track(sqlite::put_inventory(c_, row));
  }
  // One process writes this file: the engine's meters and the ledger's book are exact already.
  Result<bool> reserve_window(const WindowReservation&) override { return true; }
  Status adjust_window(std::string_view, std::string_view, std::int64_t, std::string_view,
                       bool) override {
    return Status();
  }
  Result<bool> lots_within_credit(const std::vector<std::string>&) override { return true; }
  Status insert_archive_segment(const ArchiveSegmentRow& row) override {
    return track(sqlite::insert_archive_segment(c_, row));
  }
  Result<std::int64_t> delete_audit_range(std::int64_t first_id, std::int64_t last_id) override {
    // The tail cache stays right: the mover never deletes the newest audit row.
    return track(sqlite::delete_audit_range(c_, first_id, last_id));
  }
  Result<bool> delete_archived_transaction(const TransactionRow& row) override {
    return track(sqlite::delete_archived_transaction(c_, row));
  }
  Status nested(const std::function<Status(WriteTxn&)>& fn) override {
    WARDEN_RETURN_IF_ERROR(track(run_cached(c_, "SAVEPOINT op")));
    // The audit tail is a cache of what this transaction wrote: undone writes take it back.
    const sqlite::AuditTail tail = audit_tail_;
    Status s = fn(*this);
    if (s.ok()) return track(run_cached(c_, "RELEASE op"));
    audit_tail_ = tail;
    WARDEN_RETURN_IF_ERROR(track(run_cached(c_, "ROLLBACK TO op")));
    WARDEN_RETURN_IF_ERROR(track(run_cached(c_, "RELEASE op")));
    return s;
  }

 private:
  void note(const Status& s) {
    if (s.code() != ErrorCode::INTERNAL_STORE_ERROR || !failure_.ok()) return;
    failure_ = s;
    failure_rc_ = sqlite3_extended_errcode(c_.handle());
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
  int failure_rc_ = SQLITE_OK;
  sqlite::AuditTail audit_tail_;  // appends after the first in this transaction skip the read
};

}  // namespace

// A reader connection borrowed from the pool; returned when the lease ends.
class SqliteStore::ReadLease {
 public:
  ReadLease(SqliteStore* store, std::unique_ptr<Connection> conn)
      : store_(store), conn_(std::move(conn)) {}
  ReadLease(ReadLease&&) = default;
  ReadLease& operator=(ReadLease&&) = delete;
  ~ReadLease() {
    if (conn_) store_->give_back(std::move(conn_));
  }
  Connection& conn() { return *conn_; }

 private:
  SqliteStore* store_;
  std::unique_ptr<Connection> conn_;
};

int latest_schema_version() { return sqlite::migrations().back().version; }

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& path,
                                                       SqliteOptions opts) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec) && (!opts.create_if_missing || opts.read_only)) {
    return Status(ErrorCode::STORE_NOT_INITIALIZED,
                  fmt::format("database {} does not exist; run `warden init`", path));
  }
  if (!opts.read_only) WARDEN_RETURN_IF_ERROR(restrict_file_modes(path, opts.create_if_missing));
  std::unique_ptr<SqliteStore> store(new SqliteStore());
  WARDEN_RETURN_IF_ERROR(store->open_connections(path, opts));
  return store;
}

Status SqliteStore::open_connections(const std::string& path, SqliteOptions opts) {
  read_only_ = opts.read_only;
  static const SystemClock kSystemClock;
  clock_ = opts.clock != nullptr ? opts.clock : &kSystemClock;
  durability_ = opts.durability;
  write_probe_interval_ = std::chrono::milliseconds(opts.write_probe_interval_ms);
  last_commit_ok_ = std::chrono::steady_clock::now();
  if (!read_only_) {
    int flags = SQLITE_OPEN_READWRITE | (opts.create_if_missing ? SQLITE_OPEN_CREATE : 0);
    WARDEN_ASSIGN_OR_RETURN(writer_, Connection::open(path, flags, durability_));
    WARDEN_RETURN_IF_ERROR(migrate());
    // A migration may edit a table's definition in place (migration 3); a fresh connection
    // compiles statements against the definition now on disk.
    if (migrations_applied_ > 0) {
      writer_.reset();
      WARDEN_ASSIGN_OR_RETURN(writer_, Connection::open(path, SQLITE_OPEN_READWRITE, durability_));
    }
    WARDEN_ASSIGN_OR_RETURN(checkpointer_,
                            Connection::open(path, SQLITE_OPEN_READWRITE, durability_));
    // Replaces the automatic checkpoint (which is itself a WAL hook) on the writer.
    sqlite3_wal_hook(writer_->handle(), &SqliteStore::on_wal_commit, this);
    checkpoint_thread_ = std::thread([this] {
      name_this_thread("warden-ckpt");
      checkpoint_loop();
    });
  }
  // Readers are opened read-only so a read path can never write.
  for (int i = 0; i < kReadConnections; ++i) {
    WARDEN_ASSIGN_OR_RETURN(std::unique_ptr<Connection> reader,
                            Connection::open(path, SQLITE_OPEN_READONLY, durability_));
    std::lock_guard lock(pool_mu_);
    idle_readers_.push_back(std::move(reader));
    ++readers_opened_;
  }
  if (!read_only_) return Status();
  // Without a writer nothing was migrated: the file must already be current.
  Result<int> version = sqlite::applied_schema_version(lease().conn());
  if (!version.ok() || *version == 0) {
    return Status(ErrorCode::STORE_NOT_INITIALIZED,
                  fmt::format("database {} has no Warden schema; run `warden init` ({})", path,
                              version.ok() ? "no migrations applied" : version.status().message()));
  }
  if (*version > latest_schema_version()) return schema_too_new(*version);
  if (*version < latest_schema_version()) {
    return Status(ErrorCode::INTERNAL_STORE_ERROR,
                  fmt::format("database schema version {} is older than {}; open it read-write "
                              "once to migrate",
                              *version, latest_schema_version()));
  }
  return Status();
}

// Each migration runs in its own IMMEDIATE transaction and re-reads the version inside it, so
// two processes opening the same file at once cannot both apply one.
Status SqliteStore::migrate() {
  Connection& c = *writer_;
  WARDEN_RETURN_IF_ERROR(c.exec(sqlite::kSchemaVersionDdl));
  WARDEN_ASSIGN_OR_RETURN(int applied, sqlite::applied_schema_version(c));
  if (applied > latest_schema_version()) return schema_too_new(applied);
  for (const sqlite::Migration& m : sqlite::migrations()) {
    if (m.version <= applied) continue;
    // The pragma is a no-op inside a transaction, so it is set before BEGIN.
    if (m.foreign_keys_off) WARDEN_RETURN_IF_ERROR(c.exec("PRAGMA foreign_keys = OFF"));
    if (Status begun = c.exec("BEGIN IMMEDIATE"); !begun.ok()) {
      if (m.foreign_keys_off) (void)c.exec("PRAGMA foreign_keys = ON");
      return begun;
    }
    Status s = [&]() -> Status {
      WARDEN_ASSIGN_OR_RETURN(int current, sqlite::applied_schema_version(c));
      if (current >= m.version) return Status();
      WARDEN_RETURN_IF_ERROR(c.exec(m.sql()));
      if (m.foreign_keys_off) {
        WARDEN_ASSIGN_OR_RETURN(sqlite::Stmt check, c.prepare("PRAGMA foreign_key_check"));
        WARDEN_ASSIGN_OR_RETURN(bool violated, check.step());
        if (violated) {
          return Status(ErrorCode::STORE_CONSTRAINT,
                        fmt::format("a row of {} references a missing row of {}", check.text(0),
                                    check.text(2)));
        }
      }
      WARDEN_ASSIGN_OR_RETURN(
          sqlite::Stmt st,
          c.prepare("INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)"));
      st.bind(static_cast<std::int64_t>(m.version)).bind(m.name).bind(clock_->now_seconds());
      WARDEN_RETURN_IF_ERROR(st.run());
      ++migrations_applied_;
      return Status();
    }();
    if (s.ok()) s = c.exec("COMMIT");
    if (!s.ok()) rollback(c);
    if (m.foreign_keys_off) {
      Status on = c.exec("PRAGMA foreign_keys = ON");
      if (s.ok()) s = on;
    }
    if (!s.ok()) {
      return Status(s.code(), fmt::format("migration {} ({}): {}", m.version, m.name, s.message()));
    }
  }
  return Status();
}

int SqliteStore::on_wal_commit(void* self, sqlite3* db, const char*, int log_pages) {
  auto* store = static_cast<SqliteStore*>(self);
  // Past the restart mark, the writer finishes the job itself (as SQLite's own automatic
  // checkpoint would, but rarely): the background copies did most of it, and with no writer
  // running beside it this checkpoint copies every frame, so the next transaction starts the
  // log from the beginning. Busy (the background one is running): the next commit retries.
  if (log_pages >= kCheckpointRestartPages) {
    int log = 0;
    int copied = 0;
    if (sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &copied) ==
            SQLITE_OK &&
        copied == log) {
      store->checkpointed_pages_.store(0, std::memory_order_relaxed);
      ++store->restart_checkpoints_;
    }
    return SQLITE_OK;  // the commit stands whatever the checkpoint did
  }
  // The log keeps its frames after a PASSIVE checkpoint until the writer restarts it, so what
  // counts is how much was written since the last checkpoint (a smaller log was restarted).
  const int copied = store->checkpointed_pages_.load(std::memory_order_relaxed);
  const int fresh = log_pages >= copied ? log_pages - copied : log_pages;
  // Only the first commit past the mark pays for a wake-up; later ones find the flag set.
  if (fresh >= kCheckpointPages && !store->checkpoint_wanted_.exchange(true)) {
    std::lock_guard lock(store->checkpoint_mu_);
    store->checkpoint_cv_.notify_one();
  }
  return SQLITE_OK;
}

void SqliteStore::checkpoint_loop() {
  sqlite3* db = checkpointer_->handle();
  std::unique_lock lock(checkpoint_mu_);
  for (;;) {
    checkpoint_cv_.wait(
        lock, [&] { return checkpoint_stop_ || checkpoint_wanted_.load() || probe_wanted_; });
    if (checkpoint_stop_) return;
    if (std::exchange(probe_wanted_, false)) {
      lock.unlock();
      run_write_probe();
      lock.lock();
      continue;  // a checkpoint asked for meanwhile is still wanted
    }
    checkpoint_wanted_ = false;  // a commit past the mark from here on asks again
    lock.unlock();
    int log_pages = 0;
    int copied = 0;
    // PASSIVE copies what it can without waiting for anyone; SQLITE_BUSY means another
    // checkpoint is running, and the next commit past the mark asks again.
    std::unique_lock running(checkpoint_run_mu_);
    if (sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, &log_pages, &copied) ==
        SQLITE_OK) {
      checkpointed_pages_.store(copied, std::memory_order_relaxed);
    }
    running.unlock();
    ++background_checkpoints_;
    lock.lock();
  }
}

void SqliteStore::stop_checkpointer() {
  {
    std::lock_guard lock(checkpoint_mu_);
    checkpoint_stop_ = true;
  }
  checkpoint_cv_.notify_all();
  if (checkpoint_thread_.joinable()) checkpoint_thread_.join();
  checkpointer_.reset();
}

SqliteStore::~SqliteStore() {
  stop_checkpointer();
  {
    std::unique_lock lock(pool_mu_);
    // Every lease must have ended: reads hold a pointer to this store.
    pool_cv_.wait(lock, [&] { return idle_readers_.size() == readers_opened_; });
    idle_readers_.clear();
  }
  std::lock_guard lock(writer_mu_);
  if (writer_) {
    // Readers are closed, so this can fold the whole log back into the main file.
    (void)writer_->exec("PRAGMA wal_checkpoint(TRUNCATE)");
    writer_.reset();
  }
}

SqliteStore::ReadLease SqliteStore::lease() {
  std::unique_lock lock(pool_mu_);
  pool_cv_.wait(lock, [&] { return !idle_readers_.empty(); });
  std::unique_ptr<Connection> conn = std::move(idle_readers_.back());
  idle_readers_.pop_back();
  return ReadLease(this, std::move(conn));
}

void SqliteStore::give_back(std::unique_ptr<Connection> conn) {
  {
    std::lock_guard lock(pool_mu_);
    idle_readers_.push_back(std::move(conn));
  }
  pool_cv_.notify_all();
}

Result<std::optional<std::string>> SqliteStore::get_kv(std::string_view key) {
  return sqlite::get_kv(lease().conn(), key);
}

Result<std::optional<AgentRow>> SqliteStore::get_agent(std::string_view id) {
  return sqlite::get_agent(lease().conn(), id);
}

Result<std::vector<AgentRow>> SqliteStore::list_agents(const Page& page) {
  return sqlite::list_agents(lease().conn(), page);
}

Result<std::optional<SessionRow>> SqliteStore::get_session(std::string_view id) {
  return sqlite::get_session(lease().conn(), id);
}

Result<std::vector<RevokedSessionRow>> SqliteStore::list_revoked_sessions(std::int64_t now) {
  return sqlite::list_revoked_sessions(lease().conn(), now);
}

Result<std::vector<SigningKeyRow>> SqliteStore::list_signing_keys() {
  return sqlite::list_signing_keys(lease().conn());
}

Result<std::optional<SessionRow>> SqliteStore::find_session_by_token_hash(
    std::string_view token_hash) {
  return sqlite::find_session_by_token_hash(lease().conn(), token_hash);
}

Result<std::optional<PolicyRow>> SqliteStore::get_policy(std::string_view id) {
  return sqlite::get_policy(lease().conn(), id);
}

Result<std::optional<PolicyRow>> SqliteStore::find_policy_by_hash(std::string_view hash) {
  return sqlite::find_policy_by_hash(lease().conn(), hash);
}

Result<std::vector<PolicyRow>> SqliteStore::list_policies(const PolicyFilter& filter,
                                                          const Page& page) {
  return sqlite::list_policies(lease().conn(), filter, page);
}

Result<std::vector<AuditRow>> SqliteStore::list_audit(const AuditFilter& filter) {
  return sqlite::list_audit(lease().conn(), filter);
}

Result<std::optional<TransactionRow>> SqliteStore::get_transaction(std::string_view id) {
  return sqlite::get_transaction(lease().conn(), id);
}

Result<std::vector<TransactionRow>> SqliteStore::list_transactions(const TransactionFilter& filter,
                                                                   const Page& page) {
  return sqlite::list_transactions(lease().conn(), filter, page);
}

Result<std::optional<ApprovalRow>> SqliteStore::get_approval(std::string_view id) {
  return sqlite::get_approval(lease().conn(), id);
}

Result<std::optional<ApprovalRow>> SqliteStore::find_approval_by_tx(std::string_view tx_id) {
  return sqlite::find_approval_by_tx(lease().conn(), tx_id);
}

Result<std::vector<ApprovalRow>> SqliteStore::list_approvals(bool pending_only, const Page& page) {
  return sqlite::list_approvals(lease().conn(), pending_only, page);
}

Result<AuditVerifyReport> SqliteStore::verify_audit() {
  // One read transaction: the newest archived row and the hot rows after it come from the same
  // snapshot, so a move committing meanwhile cannot look like a gap.
  ReadLease l = lease();
  Connection& c = l.conn();
  return read_in_snapshot(c, [&]() -> Result<AuditVerifyReport> {
    WARDEN_ASSIGN_OR_RETURN(auto segment, sqlite::last_audit_segment(c));
    if (!segment) return sqlite::verify_audit(c);
    return sqlite::verify_audit(c, segment->last_audit_id, segment->last_hash);
  });
}

Result<std::vector<ArchiveSegmentRow>> SqliteStore::list_archive_segments() {
  return sqlite::list_archive_segments(lease().conn());
}

Result<ArchiveSummary> SqliteStore::archive_summary() {
  ReadLease l = lease();
  Connection& c = l.conn();
  return read_in_snapshot(c, [&] { return sqlite::archive_summary(c); });
}

Result<std::vector<ArchivedDecision>> SqliteStore::list_archivable_decisions(std::int64_t before,
                                                                             std::size_t limit) {
  ReadLease l = lease();
  Connection& c = l.conn();
  // The transactions and their approvals as of one snapshot.
  return read_in_snapshot(c, [&] { return sqlite::list_archivable_decisions(c, before, limit); });
}

Status SqliteStore::scan_meter_usage(const MeterUsageFilter& filter,
                                     const std::function<Status(const MeterUsageRow&)>& each) {
  return sqlite::scan_meter_usage(lease().conn(), filter, each);
}

Result<std::vector<OutboxRow>> SqliteStore::list_outbox_due(std::int64_t now, std::size_t limit) {
  return sqlite::list_outbox_due(lease().conn(), now, limit);
}

Result<std::optional<LotRow>> SqliteStore::get_lot(std::string_view id) {
  return sqlite::get_lot(lease().conn(), id);
}

Result<std::vector<LotRow>> SqliteStore::list_lots(const LotFilter& filter, const Page& page) {
  return sqlite::list_lots(lease().conn(), filter, page);
}

Status SqliteStore::scan_lot_balances(const LotFilter& filter,
                                      const std::function<Status(const LotBalanceRow&)>& each) {
  return sqlite::scan_lot_balances(lease().conn(), filter, each);
}

Result<std::vector<LotEntryRow>> SqliteStore::list_lot_entries(const LotEntryFilter& filter) {
  return sqlite::list_lot_entries(lease().conn(), filter);
}

Status SqliteStore::scan_lot_entries(const std::function<Status(const LotEntryRow&)>& each) {
  return sqlite::scan_lot_entries(lease().conn(), each);
}

Result<std::optional<HoldRow>> SqliteStore::get_hold(std::string_view id) {
  return sqlite::get_hold(lease().conn(), id);
}

Result<std::vector<HoldRow>> SqliteStore::list_pending_holds() {
  return sqlite::list_pending_holds(lease().conn());
}

Status SqliteStore::scan_pending_hold_entries(
    const std::function<Status(const LotEntryRow&)>& each) {
  return sqlite::scan_pending_hold_entries(lease().conn(), each);
}

Result<std::optional<LedgerOpRow>> SqliteStore::find_ledger_op(std::string_view idempotency_key) {
  return sqlite::find_ledger_op(lease().conn(), idempotency_key);
}

Status SqliteStore::scan_ledger_ops_since(std::int64_t since,
                                          const std::function<Status(const LedgerOpRow&)>& each) {
  return sqlite::scan_ledger_ops_since(lease().conn(), since, each);
}

Result<std::optional<ModelRow>> SqliteStore::get_model(std::string_view id) {
  return sqlite::get_model(lease().conn(), id);
}

Result<std::optional<ModelRow>> SqliteStore::find_model_by_name(std::string_view name) {
  return sqlite::find_model_by_name(lease().conn(), name);
}

Result<std::vector<ModelRow>> SqliteStore::list_models(const Page& page) {
  return sqlite::list_models(lease().conn(), page);
}

Result<std::optional<OrgRow>> SqliteStore::get_org(std::string_view id) {
  return sqlite::get_org(lease().conn(), id);
}

Result<std::vector<OrgRow>> SqliteStore::list_orgs(const Page& page) {
  return sqlite::list_orgs(lease().conn(), page);
}

Result<std::vector<AgentRow>> SqliteStore::list_org_agents(std::string_view org_id,
                                                           const Page& page) {
  return sqlite::list_org_agents(lease().conn(), org_id, page);
}

Result<std::optional<OrgAdminKeyRow>> SqliteStore::get_org_admin_key(std::string_view id) {
  return sqlite::get_org_admin_key(lease().conn(), id);
}

Result<std::optional<OrgAdminKeyRow>> SqliteStore::find_org_admin_key_by_hash(
    std::string_view key_hash) {
  return sqlite::find_org_admin_key_by_hash(lease().conn(), key_hash);
}

Result<std::optional<ApiKeyRow>> SqliteStore::get_api_key(std::string_view id) {
  return sqlite::get_api_key(lease().conn(), id);
}

Result<std::optional<ApiKeyRow>> SqliteStore::find_api_key_by_hash(std::string_view key_hash) {
  return sqlite::find_api_key_by_hash(lease().conn(), key_hash);
}

Result<std::vector<ApiKeyRow>> SqliteStore::list_api_keys(std::string_view agent_id,
                                                          const Page& page) {
  return sqlite::list_api_keys(lease().conn(), agent_id, page);
}

Result<std::optional<AutomationRow>> SqliteStore::get_automation(std::string_view id) {
  return sqlite::get_automation(lease().conn(), id);
}

Result<std::optional<AutomationRow>> SqliteStore::find_automation_by_hash(std::string_view hash) {
  return sqlite::find_automation_by_hash(lease().conn(), hash);
}

Result<std::vector<AutomationRow>> SqliteStore::list_automations(const Page& page) {
  return sqlite::list_automations(lease().conn(), page);
}

Result<std::vector<AutomationExecutionRow>> SqliteStore::list_executions(
    std::string_view automation_id, const std::optional<std::string>& cursor, std::size_t limit) {
  return sqlite::list_executions(lease().conn(), automation_id, cursor, limit);
}

Result<std::optional<EventRow>> SqliteStore::get_event(std::string_view id) {
  return sqlite::get_event(lease().conn(), id);
}

Result<std::optional<InventoryRow>> SqliteStore::get_inventory(std::string_view host) {
  return sqlite::get_inventory(lease().conn(), host);
}

Result<std::optional<PaymentRow>> SqliteStore::get_payment(std::string_view id) {
  return sqlite::get_payment(lease().conn(), id);
}

Result<std::optional<WebhookEventRow>> SqliteStore::get_webhook_event(std::string_view provider,
                                                                      std::string_view event_id) {
  return sqlite::get_webhook_event(lease().conn(), provider, event_id);
}

Result<std::vector<UsageRollupRow>> SqliteStore::usage_rollup(const UsageRollupFilter& filter) {
  return sqlite::usage_rollup(lease().conn(), filter);
}

Status SqliteStore::write(const std::function<Status(WriteTxn&)>& fn) {
  if (read_only_) return Status(ErrorCode::INTERNAL_STORE_ERROR, "store is open read-only");
  if (writer_thread_.load() == std::this_thread::get_id()) {
    return Status(ErrorCode::INTERNAL_STORE_ERROR, "write() called from inside write()");
  }
  std::lock_guard lock(writer_mu_);
  writer_thread_ = std::this_thread::get_id();
  struct ClearOwner {
    std::atomic<std::thread::id>& owner;
    ~ClearOwner() { owner = std::thread::id(); }
  } clear_owner{writer_thread_};
  return commit_locked([&](Connection& c, int* failed_rc) {
    SqliteWriteTxn txn(c);
    Status s = fn(txn);
    if (s.ok()) s = txn.storage_failure();
    *failed_rc = txn.storage_failure_rc();
    return s;
  });
}

Status SqliteStore::commit_locked(const std::function<Status(Connection&, int* failed_rc)>& body) {
  Connection& c = *writer_;
  {
    std::lock_guard health(health_mu_);
    commit_started_ = std::chrono::steady_clock::now();
  }
  int failed_rc = SQLITE_OK;
  // IMMEDIATE takes the write lock now, so another process cannot make us fail mid-way.
  Status s = c.exec("BEGIN IMMEDIATE");
  if (!s.ok()) {
    failed_rc = sqlite3_extended_errcode(c.handle());
  } else {
    try {
      s = body(c, &failed_rc);
    } catch (...) {
      rollback(c);
      record_commit(Status(ErrorCode::INTERNAL_ERROR), SQLITE_OK);
      throw;  // the caller's own exception, passed back unchanged after undoing its writes
    }
    if (s.ok() && sqlite3_get_autocommit(c.handle()) != 0) {
      s = Status(ErrorCode::INTERNAL_STORE_ERROR, "transaction was rolled back by SQLite");
    }
    if (s.ok()) {
      s = c.exec("COMMIT");
      if (!s.ok()) failed_rc = sqlite3_extended_errcode(c.handle());
    }
    if (!s.ok()) rollback(c);
  }
  record_commit(s, failed_rc);
  return s;
}

void SqliteStore::record_commit(const Status& s, int failed_rc) {
  {
    std::lock_guard lock(health_mu_);
    commit_started_.reset();
    if (s.ok()) {
      write_failure_.reset();
      last_commit_ok_ = std::chrono::steady_clock::now();
    } else if (storage_refused(failed_rc)) {
      // SQLite's generic text for the code, not the statement's message (which may name data).
      write_failure_ = fmt::format("{} (SQLite code {})", sqlite3_errstr(failed_rc), failed_rc);
    } else {
      return;  // the operation's own failure says nothing about the storage
    }
    ++commit_outcomes_;
  }
  health_cv_.notify_all();
}

void SqliteStore::run_write_probe() {
  // A commit already running answers the question itself; a probe never queues behind it.
  std::unique_lock lock(writer_mu_, std::try_to_lock);
  if (!lock.owns_lock()) return;
  (void)commit_locked([](Connection& c, int* failed_rc) -> Status {
    for (std::string_view sql : {kProbeInsertSql, kProbeDeleteSql}) {
      Status s = [&]() -> Status {
        WARDEN_ASSIGN_OR_RETURN(sqlite::Stmt st, c.prepare(sql));
        return st.run();
      }();
      if (!s.ok()) {
        *failed_rc = sqlite3_extended_errcode(c.handle());
        return s;
      }
    }
    return Status();
  });
}

Status SqliteStore::check_writable() {
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  auto now = std::chrono::steady_clock::now();
  std::unique_lock lock(health_mu_);
  if (commit_started_ && now - *commit_started_ >= milliseconds(kWriteStallMs)) {
    return Status(ErrorCode::INTERNAL_NOT_READY,
                  fmt::format("a store write has been running for {} ms",
                              duration_cast<milliseconds>(now - *commit_started_).count()));
  }
  const bool probe_due = now - last_commit_ok_ >= write_probe_interval_ &&
                         (!probe_asked_ || now - *probe_asked_ >= write_probe_interval_);
  if (probe_due) {
    probe_asked_ = now;
    const std::uint64_t seen = commit_outcomes_;
    lock.unlock();
    {
      std::lock_guard ask(checkpoint_mu_);
      probe_wanted_ = true;
    }
    checkpoint_cv_.notify_one();
    lock.lock();
    // Bounded: a probe stuck behind a slow disk is reported by the stall check next time.
    health_cv_.wait_for(lock, milliseconds(kWriteProbeWaitMs),
                        [&] { return commit_outcomes_ != seen; });
  }
  if (write_failure_) {
    return Status(ErrorCode::INTERNAL_NOT_READY, "the store cannot write: " + *write_failure_);
  }
  return Status();
}

int SqliteStore::schema_version() {
  Result<int> v = sqlite::applied_schema_version(lease().conn());
  return v.ok() ? *v : -1;
}

Status SqliteStore::ping() {
  WARDEN_ASSIGN_OR_RETURN(int version, sqlite::applied_schema_version(lease().conn()));
  if (version != latest_schema_version()) {
    return Status(
        ErrorCode::INTERNAL_STORE_ERROR,
        fmt::format("schema version {} is not the expected {}", version, latest_schema_version()));
  }
  if (read_only_) return Status();
  return check_writable();
}

std::unique_ptr<Reader> SqliteStore::tenant(std::string_view org_id) {
  return make_tenant_reader(*this, std::string(org_id));
}

Status SqliteStore::checkpoint() {
  if (read_only_) return Status();  // a read-only store never wrote to the log
  // Not beside a background checkpoint: SQLite would refuse this one as busy.
  std::scoped_lock lock(checkpoint_run_mu_, writer_mu_);
  WARDEN_ASSIGN_OR_RETURN(sqlite::Stmt st, writer_->prepare("PRAGMA wal_checkpoint(TRUNCATE)"));
  WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
  // Columns: busy, log frames, checkpointed frames. busy = 1 means a reader held it back.
  if (!row || st.int64(0) != 0) {
    return Status(ErrorCode::INTERNAL_STORE_ERROR, "WAL checkpoint could not complete");
  }
  return Status();
}

Result<std::vector<std::vector<std::pair<std::string, std::string>>>> SqliteStore::pragma_values() {
  std::vector<std::vector<std::pair<std::string, std::string>>> out;
  if (writer_) {
    std::lock_guard lock(writer_mu_);
    WARDEN_ASSIGN_OR_RETURN(auto values, writer_->pragma_values());
    out.push_back(std::move(values));
  }
  // Hold every lease until the end so each pooled connection is visited once.
  std::vector<ReadLease> leases;
  for (int i = 0; i < kReadConnections; ++i) {
    leases.push_back(lease());
    WARDEN_ASSIGN_OR_RETURN(auto values, leases.back().conn().pragma_values());
    out.push_back(std::move(values));
  }
  return out;
}

}  // namespace warden::store
