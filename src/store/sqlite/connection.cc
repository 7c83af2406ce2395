// One SQLite connection with its PRAGMAs and statement cache; SQLite errors mapped to Status.
#include "store/sqlite/connection.h"

#include <fmt/format.h>

#include "store/sqlite/compact.h"
#include "store/sqlite/sql_functions.h"
#include "store/sqlite/wal_vfs.h"

namespace warden::store::sqlite {

Status sqlite_error(sqlite3* db, int rc, std::string_view what) {
  const char* msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  std::string text = fmt::format("{}: {}", what, msg);
  // A violated constraint is about the data, not the storage; the caller decides what it
  // means (e.g. "UNIQUE constraint failed: agents.public_key" → AGENT_PUBLIC_KEY_EXISTS).
  if ((rc & 0xff) == SQLITE_CONSTRAINT) return Status(ErrorCode::STORE_CONSTRAINT, msg);
  return Status(ErrorCode::INTERNAL_STORE_ERROR, std::move(text));
}

Stmt::~Stmt() {
  if (stmt_ == nullptr) return;
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

void Stmt::check_bind(int rc) {
  if (rc != SQLITE_OK && bind_status_.ok()) bind_status_ = sqlite_error(db_, rc, "bind");
  ++next_;
}

Stmt& Stmt::bind(std::string_view v) {
  // SQLITE_TRANSIENT: SQLite copies, so callers may pass temporaries (unless borrow_strings()).
  check_bind(sqlite3_bind_text64(stmt_, next_, v.data(), v.size(),
                                 borrow_ ? SQLITE_STATIC : SQLITE_TRANSIENT, SQLITE_UTF8));
  return *this;
}

Stmt& Stmt::bind(std::int64_t v) {
  check_bind(sqlite3_bind_int64(stmt_, next_, v));
  return *this;
}

Stmt& Stmt::bind(const std::optional<std::string>& v) { return v ? bind(*v) : bind_null(); }

Stmt& Stmt::bind(const std::optional<std::int64_t>& v) { return v ? bind(*v) : bind_null(); }

Stmt& Stmt::bind_compacted(const std::optional<std::string>& compacted, std::string_view text) {
  if (compacted) {
    check_bind(
        sqlite3_bind_blob64(stmt_, next_, compacted->data(), compacted->size(), SQLITE_TRANSIENT));
    return *this;
  }
  return bind(text);
}

Stmt& Stmt::bind_compact(std::string_view v) { return bind_compacted(compact_text(v), v); }

Stmt& Stmt::bind_compact(const std::optional<std::string>& v) {
  return v ? bind_compact(std::string_view(*v)) : bind_null();
}

Stmt& Stmt::bind_compact_id(std::string_view v) { return bind_compacted(compact_id(v), v); }

Stmt& Stmt::bind_compact_id(const std::optional<std::string>& v) {
  return v ? bind_compact_id(std::string_view(*v)) : bind_null();
}

Stmt& Stmt::bind_coded(Coded column, std::string_view v) {
  if (std::optional<std::int64_t> code = code_of(column, v)) return bind(*code);
  return bind(v);
}

Stmt& Stmt::bind_coded(Coded column, const std::optional<std::string>& v) {
  return v ? bind_coded(column, std::string_view(*v)) : bind_null();
}

Stmt& Stmt::bind_compact_key(const std::optional<std::string>& v) {
  return v ? bind_compacted(compact_key(*v), *v) : bind_null();
}

Stmt& Stmt::bind_empty_blob() {
  check_bind(sqlite3_bind_zeroblob(stmt_, next_, 0));
  return *this;
}

Stmt& Stmt::bind_null() {
  check_bind(sqlite3_bind_null(stmt_, next_));
  return *this;
}

Result<bool> Stmt::step() {
  if (!bind_status_.ok()) return bind_status_;
  if (!read_status_.ok()) return read_status_;
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return sqlite_error(db_, rc, "step");
}

Status Stmt::run() {
  WARDEN_ASSIGN_OR_RETURN(bool row, step());
  (void)row;  // statements run this way return no rows; a RETURNING row would be ignored
  return Status();
}

std::string Stmt::text(int col) const {
  const unsigned char* p = sqlite3_column_text(stmt_, col);
  if (p == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(stmt_, col));
}

std::optional<std::string> Stmt::opt_text(int col) const {
  if (sqlite3_column_type(stmt_, col) == SQLITE_NULL) return std::nullopt;
  return text(col);
}

std::string Stmt::expanded(int col) const {
  if (sqlite3_column_type(stmt_, col) != SQLITE_BLOB) return text(col);
  const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
  auto text = expand_text(std::string_view(p, sqlite3_column_bytes(stmt_, col)));
  if (text.ok()) return std::move(text).value();
  if (read_status_.ok()) read_status_ = text.take_status();
  return {};
}

std::optional<std::string> Stmt::opt_expanded(int col) const {
  if (sqlite3_column_type(stmt_, col) == SQLITE_NULL) return std::nullopt;
  return expanded(col);
}

std::string Stmt::decoded(Coded column, int col) const {
  if (sqlite3_column_type(stmt_, col) != SQLITE_INTEGER) return text(col);
  auto value = value_of(column, int64(col));
  if (value.ok()) return std::move(value).value();
  if (read_status_.ok()) read_status_ = value.take_status();
  return {};
}

std::optional<std::string> Stmt::opt_decoded(Coded column, int col) const {
  if (sqlite3_column_type(stmt_, col) == SQLITE_NULL) return std::nullopt;
  return decoded(column, col);
}

std::int64_t Stmt::int64(int col) const { return sqlite3_column_int64(stmt_, col); }

std::optional<std::int64_t> Stmt::opt_int64(int col) const {
  if (sqlite3_column_type(stmt_, col) == SQLITE_NULL) return std::nullopt;
  return int64(col);
}

Result<std::unique_ptr<Connection>> Connection::open(const std::string& path, int flags,
                                                     Durability durability) {
  // Process-wide, before SQLite initialises: no allocation statistics, so no global mutex
  // around every allocation SQLite makes (we never read sqlite3_memory_used()).
  static const int configured = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  (void)configured;  // SQLITE_MISUSE if something initialised SQLite first: harmless
  sqlite3* db = nullptr;
  // NOMUTEX: each connection is used by one thread at a time, guarded by the store.
  // The gathering VFS (wal_vfs.h) writes each commit's log frames in a few large writes.
  int rc = sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, gathering_vfs_name());
  if (rc != SQLITE_OK) {
    Status s = sqlite_error(db, rc, fmt::format("open {}", path));
    sqlite3_close_v2(db);
    return s;
  }
  sqlite3_extended_result_codes(db, 1);
  std::unique_ptr<Connection> conn(new Connection(db));
  WARDEN_RETURN_IF_ERROR(conn->apply_pragmas(durability));
  // The schema's views call them; SQLite resolves a function when a statement is prepared.
  WARDEN_RETURN_IF_ERROR(register_sql_functions(db));
  return conn;
}

Connection::~Connection() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

Status Connection::apply_pragmas(Durability durability) {
  for (std::string_view pragma : kConnectionPragmas) {
    // FULL syncs the write-ahead log at every commit; NORMAL only before a checkpoint. Either way
    // a checkpoint syncs the log before copying it and the database file after, so checkpoints
    // need nothing more under FULL.
    if (pragma.starts_with("PRAGMA synchronous") && durability == Durability::kNormal) {
      pragma = kSynchronousNormal;
    }
    WARDEN_RETURN_IF_ERROR(exec(pragma));
  }
  // journal_mode silently stays as it was when it cannot switch; a read-write connection
  // that is not in WAL would break the concurrency model, so say so.
  if (sqlite3_db_readonly(db_, "main") == 0) {
    WARDEN_ASSIGN_OR_RETURN(Stmt st, prepare("PRAGMA journal_mode"));
    WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
    if (!row || st.text(0) != "wal") {
      return Status(ErrorCode::INTERNAL_STORE_ERROR,
                    "could not switch the database to WAL journal mode");
    }
  }
  return Status();
}

Status Connection::exec(std::string_view sql) {
  std::string owned(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db_, owned.c_str(), nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return Status();
  sqlite3_free(err);
  return sqlite_error(db_, rc, fmt::format("exec '{}'", sql.substr(0, 60)));
}

Result<Stmt> Connection::prepare(std::string_view sql) {
  auto it = cache_.find(sql);  // heterogeneous lookup: no copy of the SQL text per call
  if (it != cache_.end()) return Stmt(db_, it->second);
  std::string key(sql);
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, key.data(), static_cast<int>(key.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) return sqlite_error(db_, rc, fmt::format("prepare '{}'", key));
  cache_.emplace(std::move(key), stmt);
  return Stmt(db_, stmt);
}

std::int64_t Connection::changes() const { return sqlite3_changes64(db_); }

Result<std::vector<std::pair<std::string, std::string>>> Connection::pragma_values() {
  std::vector<std::pair<std::string, std::string>> out;
  for (std::string_view name : kPragmaNames) {
    WARDEN_ASSIGN_OR_RETURN(Stmt st, prepare(fmt::format("PRAGMA {}", name)));
    WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
    if (!row) return Status(ErrorCode::INTERNAL_STORE_ERROR, fmt::format("PRAGMA {}", name));
    out.emplace_back(std::string(name), st.text(0));
  }
  return out;
}

}  // namespace warden::store::sqlite
