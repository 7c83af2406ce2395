// Internal to the SQLite store: one sqlite3 connection with the seven PRAGMAs applied and the
// schema's SQL functions registered, a cache of prepared statements, and the mapping of SQLite
// result codes onto Warden error codes.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/status.h"
#include "store/sqlite/compact.h"
#include "store/sqlite/sqlite_store.h"

namespace warden::store::sqlite {

// Every connection the store opens runs these, in this order (docs/architecture.md, "The
// store"), with `synchronous` set from the store's Durability (FULL, or NORMAL when chosen).
inline constexpr std::string_view kConnectionPragmas[] = {
    "PRAGMA journal_mode = WAL",  "PRAGMA synchronous = FULL",  "PRAGMA foreign_keys = ON",
    "PRAGMA busy_timeout = 5000", "PRAGMA cache_size = -64000", "PRAGMA mmap_size = 268435456",
    "PRAGMA temp_store = MEMORY"};
inline constexpr std::string_view kSynchronousNormal = "PRAGMA synchronous = NORMAL";

// The names of those PRAGMAs, for reading them back.
inline constexpr std::string_view kPragmaNames[] = {"journal_mode", "synchronous", "foreign_keys",
                                                    "busy_timeout", "cache_size",  "mmap_size",
                                                    "temp_store"};

// Turns the connection's last error into a Status: constraint violations become
// STORE_CONSTRAINT carrying SQLite's message (which names table.column), the rest
// INTERNAL_STORE_ERROR. `what` says which operation failed.
Status sqlite_error(sqlite3* db, int rc, std::string_view what);

// A cached prepared statement in use. Resets itself and clears its bindings when it goes out of
// scope, so a cached statement never keeps a read snapshot open between calls.
class Stmt {
 public:
  Stmt(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Stmt(Stmt&& other) noexcept
      : db_(other.db_),
        stmt_(std::exchange(other.stmt_, nullptr)),
        next_(other.next_),
        borrow_(other.borrow_),
        bind_status_(std::move(other.bind_status_)) {}
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt& operator=(Stmt&&) = delete;
  ~Stmt();

  // From here on, strings are bound without SQLite copying them: the caller promises that
  // every string it binds outlives this Stmt (e.g. the fields of a row passed by reference).
  Stmt& borrow_strings() {
    borrow_ = true;
    return *this;
  }
  // Binders take the next parameter position (1, 2, ...), so call them in SQL order.
  Stmt& bind(std::string_view v);
  Stmt& bind(const char* v) { return bind(std::string_view(v)); }
  Stmt& bind(const std::string& v) { return bind(std::string_view(v)); }
  Stmt& bind(std::int64_t v);
  Stmt& bind(bool v) { return bind(static_cast<std::int64_t>(v ? 1 : 0)); }
  Stmt& bind(const std::optional<std::string>& v);
  Stmt& bind(const std::optional<std::int64_t>& v);
  // An enum column's value: its code (compact.h), or the TEXT when it has none.
  Stmt& bind_coded(Coded column, std::string_view v);
  Stmt& bind_coded(Coded column, const std::string& v) {
    return bind_coded(column, std::string_view(v));
  }
  Stmt& bind_coded(Coded column, const std::optional<std::string>& v);
  Stmt& bind_null();
  // The stored forms of compact.h: compact_text() for a value read back with expanded(),
  // compact_id() for an id column that is also looked up by value. Always copied.
  Stmt& bind_compact(std::string_view v);
  Stmt& bind_compact(const std::string& v) { return bind_compact(std::string_view(v)); }
  Stmt& bind_compact(const std::optional<std::string>& v);
  Stmt& bind_compact_id(std::string_view v);
  Stmt& bind_compact_id(const std::string& v) { return bind_compact_id(std::string_view(v)); }
  Stmt& bind_compact_id(const std::optional<std::string>& v);
  Stmt& bind_compact_key(const std::optional<std::string>& v);
  // A zero-length BLOB, which compact_text() never writes: a marker a column may give a meaning.
  Stmt& bind_empty_blob();

  // Advances: true when a row is available, false when done.
  Result<bool> step();
  // Runs a statement that returns no rows.
  Status run();

  std::string text(int col) const;
  std::optional<std::string> opt_text(int col) const;
  std::int64_t int64(int col) const;
  std::optional<std::int64_t> opt_int64(int col) const;
  bool boolean(int col) const { return int64(col) != 0; }
  // A column written with bind_compact*(): a BLOB is expanded, TEXT read as it is. A BLOB that
  // does not expand reads as "" and fails the statement (read_status()).
  std::string expanded(int col) const;
  std::optional<std::string> opt_expanded(int col) const;
  bool is_empty_blob(int col) const {
    return sqlite3_column_type(stmt_, col) == SQLITE_BLOB && sqlite3_column_bytes(stmt_, col) == 0;
  }
  // A column written with bind_coded(): an INTEGER is decoded, TEXT read as it is. A code out of
  // the column's list reads as "" and fails the statement (read_status()).
  std::string decoded(Coded column, int col) const;
  std::optional<std::string> opt_decoded(Coded column, int col) const;
  const Status& read_status() const { return read_status_; }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  int next_ = 1;
  bool borrow_ = false;
  Status bind_status_;  // the first bind failure, reported by step()
  mutable Status read_status_;  // the first expanded() failure, reported by step()
  void check_bind(int rc);
  // The compacted form as a BLOB when there is one, else `text` as it is.
  Stmt& bind_compacted(const std::optional<std::string>& compacted, std::string_view text);
};

// One SQLite connection. Not thread-safe: the store hands each connection to one thread at a
// time (the writer under its mutex, readers through the pool).
class Connection {
 public:
  // flags: SQLITE_OPEN_READWRITE [| SQLITE_OPEN_CREATE] or SQLITE_OPEN_READONLY.
  static Result<std::unique_ptr<Connection>> open(const std::string& path, int flags,
                                                  Durability durability);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one or more statements that return no rows.
  Status exec(std::string_view sql);
  // A statement from this connection's cache, prepared on first use.
  Result<Stmt> prepare(std::string_view sql);
  // Rows changed by the last INSERT/UPDATE/DELETE.
  std::int64_t changes() const;
  // The rowid the last successful INSERT on this connection assigned.
  std::int64_t last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }
  // Reads back each of kPragmaNames as text, e.g. {"journal_mode", "wal"}.
  Result<std::vector<std::pair<std::string, std::string>>> pragma_values();
  sqlite3* handle() const { return db_; }

 private:
  explicit Connection(sqlite3* db) : db_(db) {}
  Status apply_pragmas(Durability durability);

  sqlite3* db_;
  struct SqlHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view sql) const { return std::hash<std::string_view>()(sql); }
  };
  std::unordered_map<std::string, sqlite3_stmt*, SqlHash, std::equal_to<>> cache_;
};

}  // namespace warden::store::sqlite
