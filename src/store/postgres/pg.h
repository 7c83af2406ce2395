// The PostgreSQL client layer under the cluster-mode store (docs/cluster.md): one libpq
// connection with its prepared statements, a small pool of them, and a transaction helper.
// Parameters and results travel in text format; amounts are decimal text both ways.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"

struct pg_conn;
struct pg_result;

namespace warden::store::postgres {

// Where to connect: a libpq URL or keyword string without the password (so it can be shown and
// logged), and the password, read from an environment variable or a file and never logged.
struct ConnectionConfig {
  std::string url;
  std::string password;
};

// The password named by `env_var` when that variable is set and not empty, else the first line
// of `file` (trailing newline dropped). An error when neither yields one; the message never holds
// the password.
Result<std::string> read_password(std::string_view env_var, const std::string& file);

// The columns of each unique index, by index name, as a unique violation names them
// ("idx_agents_public_key" -> "agents.public_key"; several columns joined with ", ").
using UniqueKeys = std::unordered_map<std::string, std::string>;

// A parameter: text, or NULL.
using Param = std::optional<std::string>;

// A text[] parameter: the array literal of `items`, each element quoted with " and \ escaped.
inline Param text_array_param(const std::vector<std::string>& items) {
  std::string array = "{";
  for (const std::string& item : items) {
    if (array.size() > 1) array += ',';
    array += '"';
    for (char ch : item) {
      if (ch == '"' || ch == '\\') array += '\\';
      array += ch;
    }
    array += '"';
  }
  array += '}';
  return array;
}

// An INSERT of one row into one table, queued with Connection::defer_row: the rows queued for
// the same table before the next waited statement go as multi-row INSERTs (VALUES lists of 64,
// 32, ... 1 rows, each a statement prepared once), rather than one statement per row. One
// instance per table, living as long as the connections that use it (a static).
class RowInsert {
 public:
  static constexpr std::size_t kMaxRowsPerStatement = 64;
  // `head`: "INSERT INTO table (c1, ..., cn)"; `columns`: n.
  RowInsert(std::string head, int columns);
  int columns() const { return columns_; }
  // The statement that inserts `rows` rows (a power of two, at most kMaxRowsPerStatement).
  const std::string& sql(std::size_t rows) const;

 private:
  int columns_;
  std::vector<std::string> sql_by_log2_;  // [k]: the statement for 2^k rows
};

// The rows of one statement, read as text.
class Rows {
 public:
  Rows() = default;
  explicit Rows(pg_result* result);
  int size() const;
  int columns() const;
  bool is_null(int row, int column) const;
  // "" for NULL.
  std::string text(int row, int column) const;
  // The same without a copy, valid while this Rows (or a copy of it) lives.
  std::string_view view(int row, int column) const;
  // The command tag's row count ("UPDATE 3" -> 3), 0 when it has none.
  long affected() const;
  // The command tag ("INSERT 0 1", "COMMIT", "ROLLBACK").
  std::string command() const;

 private:
  std::shared_ptr<pg_result> result_;
};

class Connection {
 public:
  static Result<std::unique_ptr<Connection>> connect(const ConnectionConfig& config);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // One statement with $1, $2... parameters.
  Result<Rows> exec(std::string_view sql, const std::vector<Param>& params = {});
  // The same through a server-side prepared statement, prepared on first use and kept for the
  // life of the connection, keyed by its text.
  Result<Rows> exec_prepared(const std::string& sql, const std::vector<Param>& params = {});
  // Several statements without parameters (DDL), in one round trip.
  Status exec_script(std::string_view sql);

  // Queues a prepared statement whose rows nobody reads (an INSERT inside a transaction): it is
  // sent with the next statement that is waited for (exec, exec_prepared, exec_script, flush),
  // all of them in one round trip (libpq's pipeline mode). A queued statement that fails fails
  // that next call, with its own error, and the statements after it do not run (the
  // transaction is spoilt anyway).
  void defer_prepared(const std::string& sql, std::vector<Param> params);
  // Queues one row of `insert` the same way. The rows of one table queued before the next waited
  // statement are inserted together, where the first of them was queued: a row is never inserted
  // after a statement queued behind it, so a later row may refer to it (a foreign key).
  void defer_row(const RowInsert& insert, std::vector<Param> row);
  // Sends the queued statements and waits for them: the first failure, if any.
  Status flush();
  // Drops the queued statements unsent (the transaction is being rolled back).
  void discard_deferred() { deferred_.clear(); }
  std::size_t deferred() const { return deferred_.size(); }

  // Where a unique violation comes without the key's columns (PostgreSQL leaves them out of
  // its detail on a table with row-level security, lest the values leak), they are looked up
  // here by the index's name. Read once with read_unique_keys() and shared.
  void set_unique_keys(std::shared_ptr<const UniqueKeys> keys) { unique_keys_ = std::move(keys); }

  // False once the server is gone; the pool then drops the connection.
  bool healthy() const;
  // Inside a transaction that a failed statement aborted: until ROLLBACK (TO SAVEPOINT), every
  // statement but those fails.
  bool transaction_failed() const;
  std::size_t prepared_count() const { return prepared_.size(); }

 private:
  struct Deferred {
    std::string sql;
    std::vector<Param> params;
    const RowInsert* rows_of = nullptr;  // a row of this table's insert (sql empty)
  };
  // The queue with each table's rows gathered into multi-row statements.
  static std::vector<Deferred> coalesce(std::vector<Deferred> queue);
  explicit Connection(pg_conn* conn) : conn_(conn) {}
  Result<Rows> check(pg_result* result);
  // The statement's prepared name, preparing it first when `send` (in a pipeline: queued) or
  // at once.
  Result<std::string> statement_name(const std::string& sql, bool send, bool* prepared_now);
  // The queued statements, then `last` (prepared or not) when given, in one pipeline: the
  // first failure, or `last`'s rows.
  Result<Rows> run_pipeline(const Deferred* last, bool last_prepared);

  pg_conn* conn_;
  std::vector<Deferred> deferred_;
  std::unordered_map<std::string, std::string> prepared_;  // sql -> statement name
  std::shared_ptr<const UniqueKeys> unique_keys_;          // may be null
};

// A bounded set of connections shared by threads: acquire() hands out an idle one, opens a new
// one while fewer than `max_connections` exist, or waits. `on_connect` (statements without
// parameters, empty for none) runs once on each connection the pool opens, before its first
// lease: session settings its users rely on. A connection it fails on is closed, and acquire()
// returns the failure.
class Pool {
 public:
  class Lease {
   public:
    Lease(Pool* pool, std::unique_ptr<Connection> conn) : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&&) = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    Connection& operator*() { return *conn_; }
    Connection* operator->() { return conn_.get(); }

   private:
    Pool* pool_;
    std::unique_ptr<Connection> conn_;
  };

  Pool(ConnectionConfig config, std::size_t max_connections, std::string on_connect = {});
  Result<Lease> acquire(std::chrono::milliseconds wait_limit = std::chrono::seconds(5));
  std::size_t open_connections() const;

 private:
  Result<std::unique_ptr<Connection>> open_one() const;  // connects and runs on_connect_
  void give_back(std::unique_ptr<Connection> conn);

  const ConnectionConfig config_;
  const std::size_t max_connections_;
  const std::string on_connect_;
  mutable std::mutex mu_;
  std::condition_variable returned_;
  std::vector<std::unique_ptr<Connection>> idle_;
  std::size_t open_ = 0;
};

// The unique indexes of the tables in the connection's current schema, from the catalog.
Result<std::shared_ptr<const UniqueKeys>> read_unique_keys(Connection& conn);

// Runs `body` between BEGIN and COMMIT; an error from it, or from COMMIT, rolls back and is
// returned.
Status in_transaction(Connection& conn, const std::function<Status(Connection&)>& body);

}  // namespace warden::store::postgres
