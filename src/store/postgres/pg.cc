#include "store/postgres/pg.h"

#include <fmt/format.h>
#include <libpq-fe.h>

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <fstream>
#include <string_view>
#include <utility>

namespace warden::store::postgres {
namespace {

// SQLSTATE class 23: integrity constraint violations (unique, check, foreign key, not null).
// Class 23 (integrity constraints, and the triggers' refusals) and 22P02 (text that is not JSON,
// or not a number): the row is refused, as SQLite's CHECKs refuse it. The ledger aggregates'
// overflow and negative-balance errors (class 22 too) stay storage errors, as on SQLite.
bool is_constraint(const char* sqlstate) {
  if (sqlstate == nullptr) return false;
  const std::string_view code(sqlstate);
  return code.starts_with("23") || code == "22P02";
}

// SQLSTATE 23505 reworded as SQLite words it ("UNIQUE constraint failed: models.name"), the
// table and key columns only: callers tell which unique key was hit by its column, whichever
// backend they run on, and the key's values (which may be data) stay out of the message. The
// columns come from the detail, or else from `keys` by the index's name. Empty when neither
// says which key.
std::string unique_violation(pg_result* result, const UniqueKeys* keys) {
  constexpr std::string_view kPrefix = "UNIQUE constraint failed: ";
  const char* table = PQresultErrorField(result, PG_DIAG_TABLE_NAME);
  const char* detail = PQresultErrorField(result, PG_DIAG_MESSAGE_DETAIL);
  const char* index = PQresultErrorField(result, PG_DIAG_CONSTRAINT_NAME);
  if (detail == nullptr && index != nullptr && keys != nullptr) {
    if (auto it = keys->find(index); it != keys->end()) return std::string(kPrefix) + it->second;
  }
  if (table == nullptr || detail == nullptr) return {};
  // "Key (agent_id, idempotency_key)=(a, k) already exists."
  std::string_view d(detail);
  constexpr std::string_view kOpen = "Key (";
  auto close = d.find(")=(");
  if (d.substr(0, kOpen.size()) != kOpen || close == std::string_view::npos) return {};
  std::string_view columns = d.substr(kOpen.size(), close - kOpen.size());
  std::string out(kPrefix);
  for (;;) {
    auto comma = columns.find(", ");
    out += table;
    out += '.';
    out += columns.substr(0, comma);
    if (comma == std::string_view::npos) break;
    out += ", ";
    columns.remove_prefix(comma + 2);
  }
  return out;
}

std::string first_line(const char* message) {
  std::string m = message == nullptr ? "" : message;
  if (auto nl = m.find('\n'); nl != std::string::npos) m.resize(nl);
  return m;
}

}  // namespace

Result<std::string> read_password(std::string_view env_var, const std::string& file) {
  if (!env_var.empty()) {
    const char* v = std::getenv(std::string(env_var).c_str());
    if (v != nullptr && *v != '\0') return std::string(v);
  }
  if (!file.empty()) {
    std::ifstream in(file);
    std::string line;
    if (in && std::getline(in, line) && !line.empty()) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      return line;
    }
  }
  return Status(
      ErrorCode::INTERNAL_STORE_ERROR,
      fmt::format("no PostgreSQL password: set {} or give a readable password file{}",
                  env_var.empty() ? "a variable" : env_var, file.empty() ? "" : " (" + file + ")"));
}

Rows::Rows(pg_result* result) : result_(result, &PQclear) {}

int Rows::size() const { return result_ ? PQntuples(result_.get()) : 0; }
int Rows::columns() const { return result_ ? PQnfields(result_.get()) : 0; }
bool Rows::is_null(int row, int column) const {
  return PQgetisnull(result_.get(), row, column) != 0;
}
std::string Rows::text(int row, int column) const { return std::string(view(row, column)); }
std::string_view Rows::view(int row, int column) const {
  // libpq gives NULL as "" too.
  return std::string_view(PQgetvalue(result_.get(), row, column),
                          PQgetlength(result_.get(), row, column));
}
long Rows::affected() const {
  if (!result_) return 0;
  const char* n = PQcmdTuples(result_.get());
  return n == nullptr || *n == '\0' ? 0 : std::strtol(n, nullptr, 10);
}

std::string Rows::command() const { return result_ ? PQcmdStatus(result_.get()) : ""; }

Result<std::unique_ptr<Connection>> Connection::connect(const ConnectionConfig& config) {
  // expand_dbname: the "dbname" value is the URL; the password is its own keyword, so it never
  // appears in a string that could be logged.
  const char* keys[] = {"dbname", "password", "connect_timeout", "application_name", nullptr};
  const char* values[] = {config.url.c_str(),
                          config.password.empty() ? nullptr : config.password.c_str(), "10",
                          "warden", nullptr};
  pg_conn* conn = PQconnectdbParams(keys, values, 1);
  if (conn == nullptr) return Status(ErrorCode::INTERNAL_STORE_ERROR, "libpq: out of memory");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message = first_line(PQerrorMessage(conn));
    PQfinish(conn);
    return Status(ErrorCode::INTERNAL_STORE_ERROR,
                  fmt::format("cannot connect to PostgreSQL: {}", message));
  }
  return std::unique_ptr<Connection>(new Connection(conn));
}

Connection::~Connection() { PQfinish(conn_); }

bool Connection::healthy() const { return PQstatus(conn_) == CONNECTION_OK; }

bool Connection::transaction_failed() const {
  return PQtransactionStatus(conn_) == PQTRANS_INERROR;
}

Result<Rows> Connection::check(pg_result* result) {
  if (result == nullptr) {
    return Status(ErrorCode::INTERNAL_STORE_ERROR, first_line(PQerrorMessage(conn_)));
  }
  Rows rows(result);
  ExecStatusType st = PQresultStatus(result);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return rows;
  const char* sqlstate = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  std::string message = first_line(PQresultErrorMessage(result));
  if (sqlstate != nullptr && std::string_view(sqlstate) == "23505") {
    if (std::string unique = unique_violation(result, unique_keys_.get()); !unique.empty())
      message = unique;
  }
  Status status(
      is_constraint(sqlstate) ? ErrorCode::STORE_CONSTRAINT : ErrorCode::INTERNAL_STORE_ERROR,
      message);
  return status;
}

namespace {

struct ParamArrays {
  std::vector<const char*> values;
  explicit ParamArrays(const std::vector<Param>& params) {
    values.reserve(params.size());
    for (const Param& p : params) values.push_back(p ? p->c_str() : nullptr);
  }
};

}  // namespace

Result<Rows> Connection::exec(std::string_view sql, const std::vector<Param>& params) {
  if (!deferred_.empty()) {
    const Deferred last{std::string(sql), params};
    return run_pipeline(&last, false);
  }
  ParamArrays p(params);
  std::string text(sql);
  return check(PQexecParams(conn_, text.c_str(), static_cast<int>(params.size()), nullptr,
                            p.values.data(), nullptr, nullptr, 0));
}

Result<std::string> Connection::statement_name(const std::string& sql, bool send,
                                               bool* prepared_now) {
  *prepared_now = false;
  if (auto it = prepared_.find(sql); it != prepared_.end()) return it->second;
  std::string name = fmt::format("w{}", prepared_.size());
  if (send) {
    if (PQsendPrepare(conn_, name.c_str(), sql.c_str(), 0, nullptr) != 1) {
      return Status(ErrorCode::INTERNAL_STORE_ERROR, first_line(PQerrorMessage(conn_)));
    }
    *prepared_now = true;
  } else {
    WARDEN_ASSIGN_OR_RETURN(Rows prepared,
                            check(PQprepare(conn_, name.c_str(), sql.c_str(), 0, nullptr)));
    (void)prepared;
  }
  prepared_.emplace(sql, name);
  return name;
}

Result<Rows> Connection::exec_prepared(const std::string& sql, const std::vector<Param>& params) {
  if (!deferred_.empty()) {
    const Deferred last{sql, params};
    return run_pipeline(&last, true);
  }
  bool prepared_now = false;
  WARDEN_ASSIGN_OR_RETURN(std::string name, statement_name(sql, false, &prepared_now));
  ParamArrays p(params);
  return check(PQexecPrepared(conn_, name.c_str(), static_cast<int>(params.size()),
                              p.values.data(), nullptr, nullptr, 0));
}

void Connection::defer_prepared(const std::string& sql, std::vector<Param> params) {
  deferred_.push_back({sql, std::move(params)});
}

RowInsert::RowInsert(std::string head, int columns) : columns_(columns) {
  std::string values;
  int next = 1;
  for (std::size_t rows = 1; rows <= kMaxRowsPerStatement; rows *= 2) {
    for (std::size_t r = values.empty() ? 0 : rows / 2; r < rows; ++r) {
      values += values.empty() ? " VALUES (" : ", (";
      for (int c = 0; c < columns; ++c) values += fmt::format("{}${}", c == 0 ? "" : ", ", next++);
      values += ')';
    }
    sql_by_log2_.push_back(head + values);
  }
}

const std::string& RowInsert::sql(std::size_t rows) const {
  return sql_by_log2_.at(static_cast<std::size_t>(std::countr_zero(rows)));
}

void Connection::defer_row(const RowInsert& insert, std::vector<Param> row) {
  deferred_.push_back({{}, std::move(row), &insert});
}

std::vector<Connection::Deferred> Connection::coalesce(std::vector<Deferred> queue) {
  // Each table's rows, in the order they were queued.
  std::vector<std::pair<const RowInsert*, std::vector<std::vector<Param>>>> tables;
  auto rows_of = [&tables](const RowInsert* insert) {
    auto t = std::find_if(tables.begin(), tables.end(),
                          [insert](const auto& table) { return table.first == insert; });
    if (t == tables.end()) t = tables.insert(t, {insert, {}});
    return &t->second;
  };
  for (Deferred& d : queue) {
    if (d.rows_of != nullptr) rows_of(d.rows_of)->push_back(std::move(d.params));
  }
  if (tables.empty()) return queue;
  // A table's statements go where its first row was queued: the largest power of two of rows
  // that fits, then the next, so that a statement's text is one of a few prepared ones. Its
  // later rows are in them already.
  std::vector<Deferred> out;
  out.reserve(queue.size());
  for (Deferred& d : queue) {
    if (d.rows_of == nullptr) {
      out.push_back(std::move(d));
      continue;
    }
    std::vector<std::vector<Param>>& rows = *rows_of(d.rows_of);
    for (std::size_t done = 0; done < rows.size();) {
      const std::size_t n =
          std::bit_floor(std::min(rows.size() - done, RowInsert::kMaxRowsPerStatement));
      Deferred statement{d.rows_of->sql(n), {}, nullptr};
      statement.params.reserve(n * static_cast<std::size_t>(d.rows_of->columns()));
      for (std::size_t r = done; r < done + n; ++r) {
        for (Param& p : rows[r]) statement.params.push_back(std::move(p));
      }
      out.push_back(std::move(statement));
      done += n;
    }
    rows.clear();  // sent: the table's later rows add nothing
  }
  return out;
}

Status Connection::flush() {
  if (deferred_.empty()) return Status();
  return run_pipeline(nullptr, false).status();
}

Result<Rows> Connection::run_pipeline(const Deferred* last, bool last_prepared) {
  std::vector<Deferred> queue = coalesce(std::move(deferred_));
  deferred_.clear();
  auto broken = [&](std::string_view what) {
    // The connection's state is unknown: it is closed, and the pool (or the writer) replaces it.
    Status s(ErrorCode::INTERNAL_STORE_ERROR,
             fmt::format("{}: {}", what, first_line(PQerrorMessage(conn_))));
    PQfinish(conn_);
    conn_ = PQconnectStart("");  // a dead handle: healthy() is false from now on
    prepared_.clear();
    return s;
  };
  if (PQenterPipelineMode(conn_) != 1) return broken("cannot enter pipeline mode");
  // What each result read back below belongs to: a PREPARE (its statement's text, forgotten
  // again when it fails) or a statement (the index of `last` is queue.size()).
  struct Sent {
    bool prepare;
    std::size_t index;
    std::string sql;
  };
  std::vector<Sent> sent;
  const std::size_t count = queue.size() + (last != nullptr ? 1 : 0);
  for (std::size_t i = 0; i < count; ++i) {
    const Deferred& d = i < queue.size() ? queue[i] : *last;
    const bool prepared = i < queue.size() || last_prepared;
    ParamArrays p(d.params);
    int ok = 0;
    if (prepared) {
      bool prepared_now = false;
      Result<std::string> name = statement_name(d.sql, true, &prepared_now);
      if (!name.ok()) return broken("cannot queue a statement");
      if (prepared_now) sent.push_back({true, i, d.sql});
      ok = PQsendQueryPrepared(conn_, name->c_str(), static_cast<int>(d.params.size()),
                               p.values.data(), nullptr, nullptr, 0);
    } else {
      ok = PQsendQueryParams(conn_, d.sql.c_str(), static_cast<int>(d.params.size()), nullptr,
                             p.values.data(), nullptr, nullptr, 0);
    }
    if (ok != 1) return broken("cannot queue a statement");
    sent.push_back({false, i, {}});
  }
  if (PQpipelineSync(conn_) != 1) return broken("cannot send the pipeline");
  Status first_failure;
  Rows last_rows;
  for (const Sent& item : sent) {
    pg_result* result = PQgetResult(conn_);
    if (result == nullptr) return broken("the pipeline ended early");
    if (PQresultStatus(result) == PGRES_PIPELINE_ABORTED) {
      PQclear(result);
      if (item.prepare) prepared_.erase(item.sql);
    } else {
      Result<Rows> rows = check(result);
      if (!rows.ok()) {
        if (item.prepare) prepared_.erase(item.sql);
        if (first_failure.ok()) first_failure = rows.take_status();
      } else if (!item.prepare && item.index == queue.size()) {
        last_rows = std::move(rows).value();
      }
    }
    // Each statement's results end with a null.
    if (pg_result* end = PQgetResult(conn_); end != nullptr) {
      PQclear(end);
      return broken("a statement of the pipeline returned more than one result");
    }
  }
  pg_result* sync = PQgetResult(conn_);
  const bool synced = sync != nullptr && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
  if (sync != nullptr) PQclear(sync);
  if (!synced || PQexitPipelineMode(conn_) != 1) return broken("cannot leave pipeline mode");
  if (!first_failure.ok()) return first_failure;
  return last_rows;
}

Status Connection::exec_script(std::string_view sql) {
  // A script is several statements in one simple query, which a pipeline cannot carry: the
  // queued statements go first.
  WARDEN_RETURN_IF_ERROR(flush());
  std::string text(sql);
  // PQexec runs every statement of the string; the result is the last one's (or the first
  // failure's).
  Result<Rows> rows = check(PQexec(conn_, text.c_str()));
  return rows.status();
}

Pool::Pool(ConnectionConfig config, std::size_t max_connections, std::string on_connect)
    : config_(std::move(config)),
      max_connections_(max_connections == 0 ? 1 : max_connections),
      on_connect_(std::move(on_connect)) {}

Result<Pool::Lease> Pool::acquire(std::chrono::milliseconds wait_limit) {
  std::unique_lock lock(mu_);
  bool got = returned_.wait_for(lock, wait_limit,
                                [&] { return !idle_.empty() || open_ < max_connections_; });
  if (!got) {
    return Status(ErrorCode::INTERNAL_NOT_READY,
                  fmt::format("all {} PostgreSQL connections busy for {} ms", max_connections_,
                              wait_limit.count()));
  }
  if (!idle_.empty()) {
    std::unique_ptr<Connection> conn = std::move(idle_.back());
    idle_.pop_back();
    return Lease(this, std::move(conn));
  }
  ++open_;  // reserve the slot, then connect without holding the lock
  lock.unlock();
  Result<std::unique_ptr<Connection>> conn = open_one();
  if (!conn.ok()) {
    lock.lock();
    --open_;
    returned_.notify_one();
    return conn.status();
  }
  return Lease(this, std::move(*conn));
}

Result<std::unique_ptr<Connection>> Pool::open_one() const {
  WARDEN_ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn, Connection::connect(config_));
  if (!on_connect_.empty()) WARDEN_RETURN_IF_ERROR(conn->exec_script(on_connect_));
  return conn;
}

std::size_t Pool::open_connections() const {
  std::lock_guard lock(mu_);
  return open_;
}

void Pool::give_back(std::unique_ptr<Connection> conn) {
  std::lock_guard lock(mu_);
  if (conn->healthy()) {
    idle_.push_back(std::move(conn));
  } else {
    --open_;
  }
  returned_.notify_one();
}

Pool::Lease::~Lease() {
  if (conn_ != nullptr) pool_->give_back(std::move(conn_));
}

Result<std::shared_ptr<const UniqueKeys>> read_unique_keys(Connection& conn) {
  WARDEN_ASSIGN_OR_RETURN(
      Rows rows,
      conn.exec("SELECT i.relname, string_agg(t.relname || '.' || a.attname, ', ' ORDER BY k.ord) "
                "FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
                "JOIN pg_class t ON t.oid = x.indrelid "
                "CROSS JOIN LATERAL unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) "
                "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum "
                "WHERE x.indisunique AND t.relnamespace = current_schema()::regnamespace "
                "GROUP BY i.relname"));
  auto keys = std::make_shared<UniqueKeys>();
  for (int r = 0; r < rows.size(); ++r) keys->emplace(rows.text(r, 0), rows.text(r, 1));
  return std::shared_ptr<const UniqueKeys>(std::move(keys));
}

Status in_transaction(Connection& conn, const std::function<Status(Connection&)>& body) {
  WARDEN_RETURN_IF_ERROR(conn.exec("BEGIN").status());
  Status status = body(conn);
  if (status.ok()) {
    // COMMIT of a transaction that already failed succeeds with the tag ROLLBACK.
    Result<Rows> commit = conn.exec("COMMIT");
    if (!commit.ok()) {
      status = commit.status();
    } else if (commit->command() != "COMMIT") {
      return Status(ErrorCode::INTERNAL_STORE_ERROR, "the transaction was rolled back");
    }
  }
  if (!status.ok()) {
    // A failed COMMIT has already ended the transaction; ROLLBACK then only warns.
    (void)conn.exec("ROLLBACK");
  }
  return status;
}

}  // namespace warden::store::postgres
