// Online backup, table and index sizes, and the storage gauges of a SQLite data directory.
#include "store/sqlite/maintenance.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>
#include <vector>

#include "store/sqlite/connection.h"
#include "store/sqlite/queries.h"

namespace warden::store::sqlite {

namespace fs = std::filesystem;

namespace {

// A step that finds the source or target locked waits this long and tries again, at most
// kBackupBusyRetriesMax times in a row.
constexpr int kBackupBusySleepMs = 10;
constexpr int kBackupBusyRetriesMax = 500;
// The restore's copy reads and writes this much at a time.
constexpr std::size_t kCopyChunkBytes = 1 << 20;
// A database file and the files SQLite keeps beside it in WAL mode.
constexpr const char* kDatabaseFileSuffixes[] = {"", "-wal", "-shm"};

Status io_error(const std::string& what, int err) {
  return Status(ErrorCode::INTERNAL_STORE_ERROR, fmt::format("{}: {}", what, std::strerror(err)));
}

Status fsync_path(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return io_error("open " + path, errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return io_error("fsync " + path, err);
  return Status();
}

Result<std::int64_t> single_int(Connection& conn, const std::string& sql) {
  WARDEN_ASSIGN_OR_RETURN(Stmt st, conn.prepare(sql));
  WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
  if (!row) return Status(ErrorCode::INTERNAL_STORE_ERROR, "no row from " + sql);
  return st.int64(0);
}

std::string sql_identifier(const std::string& name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

Status check_backup_paths(const std::string& source, const std::string& target,
                          const std::string& tmp, bool overwrite) {
  std::error_code ec;
  if (!fs::exists(source, ec)) {
    return Status(ErrorCode::STORE_NOT_INITIALIZED, "no database at " + source);
  }
  if (fs::exists(target, ec)) {
    if (fs::equivalent(source, target, ec)) {
      return Status(ErrorCode::CONFIG_INVALID, target + " is the database being backed up");
    }
    if (!overwrite) {
      return Status(ErrorCode::CONFIG_INVALID, target + " exists (--force replaces it)");
    }
  }
  if (fs::exists(tmp, ec)) {
    return Status(ErrorCode::CONFIG_INVALID,
                  tmp +
                      " exists: another backup is writing it, or one was interrupted (remove "
                      "it once none runs)");
  }
  return Status();
}

// The target side of a backup: the .tmp file, created 0600 (a database holds credentials'
// hashes) and opened without a journal, since a failed copy is deleted rather than rolled back.
class BackupTarget {
 public:
  ~BackupTarget() {
    if (db_ != nullptr) sqlite3_close_v2(db_);
    if (!kept_) ::unlink(path_.c_str());
  }
  Status open(const std::string& path) {
    const int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) return io_error("create " + path, errno);
    ::close(fd);
    path_ = path;
    const int rc = sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr);
    if (rc != SQLITE_OK) return sqlite_error(db_, rc, "open " + path);
    char* err = nullptr;
    if (sqlite3_exec(db_, "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF", nullptr, nullptr,
                     &err) != SQLITE_OK) {
      sqlite3_free(err);
      return sqlite_error(db_, sqlite3_errcode(db_), "configure " + path);
    }
    return Status();
  }
  // Closes the connection and fsyncs the file: its bytes are on disk before the rename.
  Status close_and_sync() {
    const int rc = sqlite3_close(db_);
    if (rc != SQLITE_OK) return sqlite_error(db_, rc, "close " + path_);
    db_ = nullptr;
    return fsync_path(path_, O_RDONLY);
  }
  void keep() { kept_ = true; }
  sqlite3* handle() const { return db_; }

 private:
  std::string path_;
  sqlite3* db_ = nullptr;
  bool kept_ = false;
};

// Runs the copy step by step. SQLITE_BUSY/LOCKED from a step is transient (another connection
// of the target, or a checkpoint taking a lock for an instant): wait and retry, bounded.
Status copy_pages(sqlite3* target, sqlite3* source, int pages_per_step, BackupReport* report) {
  sqlite3_backup* backup = sqlite3_backup_init(target, "main", source, "main");
  if (backup == nullptr) return sqlite_error(target, sqlite3_errcode(target), "backup init");
  int rc = SQLITE_OK;
  int busy_retries = 0;
  while (true) {
    rc = sqlite3_backup_step(backup, pages_per_step);
    ++report->steps;
    if (rc == SQLITE_DONE) break;
    if (rc == SQLITE_OK) {
      busy_retries = 0;
      continue;
    }
    if ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && ++busy_retries <= kBackupBusyRetriesMax) {
      std::this_thread::sleep_for(std::chrono::milliseconds(kBackupBusySleepMs));
      continue;
    }
    break;
  }
  report->pages = sqlite3_backup_pagecount(backup);
  const int finish_rc = sqlite3_backup_finish(backup);
  if (rc != SQLITE_DONE) return sqlite_error(nullptr, rc, "backup step");
  if (finish_rc != SQLITE_OK) return sqlite_error(target, finish_rc, "backup finish");
  return Status();
}

// Copies `from` into a new file `to` (mode 0600, refused if it exists) and fsyncs it.
Status copy_file_synced(const std::string& from, const std::string& to) {
  const int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return io_error("open " + from, errno);
  const int out = ::open(to.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
  if (out < 0) {
    const int err = errno;
    ::close(in);
    return io_error("create " + to, err);
  }
  Status s;
  std::vector<char> buf(kCopyChunkBytes);
  while (s.ok()) {
    const ssize_t n = ::read(in, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) s = io_error("read " + from, errno);
    if (n <= 0) break;
    for (ssize_t done = 0; done < n && s.ok();) {
      const ssize_t w = ::write(out, buf.data() + done, static_cast<std::size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) s = io_error("write " + to, errno);
      if (w > 0) done += w;
    }
  }
  if (s.ok() && ::fsync(out) != 0) s = io_error("fsync " + to, errno);
  ::close(in);
  ::close(out);
  return s;
}

// A restore's candidate: a sound SQLite file with a Warden schema. Returns its row counts.
Result<RestoreReport> check_restorable(const std::string& path) {
  RestoreReport report;
  {
    WARDEN_ASSIGN_OR_RETURN(auto conn,
                            Connection::open(path, SQLITE_OPEN_READONLY, Durability::kFull));
    WARDEN_ASSIGN_OR_RETURN(Stmt check, conn->prepare("PRAGMA integrity_check"));
    WARDEN_ASSIGN_OR_RETURN(bool row, check.step());
    if (!row || check.text(0) != "ok") {
      return Status(ErrorCode::INTERNAL_STORE_ERROR,
                    "the backup fails PRAGMA integrity_check: " + (row ? check.text(0) : ""));
    }
    Result<int> version = applied_schema_version(*conn);
    if (!version.ok() || *version == 0) {
      return Status(ErrorCode::INTERNAL_STORE_ERROR, "the backup holds no Warden schema");
    }
    WARDEN_ASSIGN_OR_RETURN(report.transactions_rows,
                            single_int(*conn, "SELECT COUNT(*) FROM transactions"));
    WARDEN_ASSIGN_OR_RETURN(report.audit_rows, single_int(*conn, "SELECT COUNT(*) FROM audit_log"));
  }
  // Reading a WAL-mode file made an empty log and index beside it; they go with the check.
  std::error_code ec;
  fs::remove(path + "-wal", ec);
  fs::remove(path + "-shm", ec);
  return report;
}

// Moves the database files in place into `dir` (created here); false when there were none.
Result<bool> move_aside(const std::string& db_path, const std::string& dir) {
  bool moved = false;
  std::error_code ec;
  for (const char* suffix : kDatabaseFileSuffixes) {
    const std::string file = db_path + suffix;
    if (!fs::exists(file, ec)) continue;
    if (!moved && !fs::create_directory(dir, ec)) {
      return Status(ErrorCode::CONFIG_INVALID,
                    dir + (ec ? ": " + ec.message() : std::string(" exists")));
    }
    moved = true;
    const std::string to = (fs::path(dir) / fs::path(file).filename()).string();
    if (::rename(file.c_str(), to.c_str()) != 0) return io_error("move " + file, errno);
  }
  return moved;
}

}  // namespace

Result<RestoreReport> restore_database(const std::string& backup_path, const std::string& db_path,
                                       const RestoreOptions& opts) {
  std::error_code ec;
  if (!fs::is_regular_file(backup_path, ec)) {
    return Status(ErrorCode::CONFIG_INVALID, "no backup file at " + backup_path);
  }
  if (opts.replaced_dir.empty()) {
    for (const char* suffix : kDatabaseFileSuffixes) {
      if (fs::exists(db_path + suffix, ec)) {
        return Status(ErrorCode::CONFIG_INVALID,
                      db_path + suffix + " exists (--force moves the database in place aside)");
      }
    }
  }
  const std::string tmp_path = db_path + ".restore";
  if (fs::exists(tmp_path, ec)) {
    return Status(ErrorCode::CONFIG_INVALID,
                  tmp_path + " exists: left by an interrupted restore (remove it)");
  }
  Status copied = copy_file_synced(backup_path, tmp_path);
  if (!copied.ok()) {
    fs::remove(tmp_path, ec);
    return copied;
  }
  Result<RestoreReport> report = [&]() -> Result<RestoreReport> {
    WARDEN_ASSIGN_OR_RETURN(RestoreReport r, check_restorable(tmp_path));
    if (!opts.replaced_dir.empty()) {
      WARDEN_ASSIGN_OR_RETURN(r.replaced, move_aside(db_path, opts.replaced_dir));
    }
    if (::rename(tmp_path.c_str(), db_path.c_str()) != 0) {
      return io_error("rename " + tmp_path + " to " + db_path, errno);
    }
    WARDEN_RETURN_IF_ERROR(
        fsync_path(fs::absolute(db_path).parent_path().string(), O_RDONLY | O_DIRECTORY));
    return r;
  }();
  if (!report.ok()) fs::remove(tmp_path, ec);
  return report;
}

Result<BackupReport> backup_database(const std::string& source_path, const std::string& target_path,
                                     const BackupOptions& opts) {
  const std::string tmp_path = target_path + ".tmp";
  WARDEN_RETURN_IF_ERROR(check_backup_paths(source_path, target_path, tmp_path, opts.overwrite));
  // Opened the way the daemon opens its readers (same VFS and PRAGMAs), so it shares the
  // daemon's WAL index.
  WARDEN_ASSIGN_OR_RETURN(auto source,
                          Connection::open(source_path, SQLITE_OPEN_READONLY, Durability::kFull));
  // The snapshot: a read transaction begun here and held until the copy and the counts are
  // done. sqlite3_backup_step() reuses an open read transaction instead of taking one per step.
  WARDEN_RETURN_IF_ERROR(source->exec("BEGIN"));
  BackupReport report;
  Status copied = [&]() -> Status {
    WARDEN_ASSIGN_OR_RETURN(report.page_size_bytes, single_int(*source, "PRAGMA page_size"));
    WARDEN_ASSIGN_OR_RETURN(report.transactions_rows,
                            single_int(*source, "SELECT COUNT(*) FROM transactions"));
    WARDEN_ASSIGN_OR_RETURN(report.audit_rows,
                            single_int(*source, "SELECT COUNT(*) FROM audit_log"));
    BackupTarget target;
    WARDEN_RETURN_IF_ERROR(target.open(tmp_path));
    WARDEN_RETURN_IF_ERROR(
        copy_pages(target.handle(), source->handle(), opts.pages_per_step, &report));
    WARDEN_RETURN_IF_ERROR(target.close_and_sync());
    if (::rename(tmp_path.c_str(), target_path.c_str()) != 0) {
      return io_error("rename " + tmp_path + " to " + target_path, errno);
    }
    target.keep();
    const fs::path dir = fs::absolute(target_path).parent_path();
    return fsync_path(dir.string(), O_RDONLY | O_DIRECTORY);
  }();
  (void)source->exec("COMMIT");  // ends the read transaction; nothing was written
  WARDEN_RETURN_IF_ERROR(copied);
  return report;
}

Result<DatabaseStats> database_stats(const std::string& db_path) {
  std::error_code ec;
  if (!fs::exists(db_path, ec)) {
    return Status(ErrorCode::STORE_NOT_INITIALIZED, "no database at " + db_path);
  }
  if (sqlite3_compileoption_used("ENABLE_DBSTAT_VTAB") == 0) {
    return Status(ErrorCode::INTERNAL_STORE_ERROR,
                  "this SQLite library is built without the dbstat table "
                  "(SQLITE_ENABLE_DBSTAT_VTAB), which the sizes are read from");
  }
  WARDEN_ASSIGN_OR_RETURN(auto conn,
                          Connection::open(db_path, SQLITE_OPEN_READONLY, Durability::kFull));
  // One snapshot for every number below, so they add up.
  WARDEN_RETURN_IF_ERROR(conn->exec("BEGIN"));
  DatabaseStats stats;
  Status read = [&]() -> Status {
    WARDEN_ASSIGN_OR_RETURN(stats.page_size_bytes, single_int(*conn, "PRAGMA page_size"));
    WARDEN_ASSIGN_OR_RETURN(stats.pages, single_int(*conn, "PRAGMA page_count"));
    WARDEN_ASSIGN_OR_RETURN(stats.free_pages, single_int(*conn, "PRAGMA freelist_count"));
    // dbstat (SQLITE_ENABLE_DBSTAT_VTAB, on in Debian's libsqlite3) lists every page with the
    // b-tree it belongs to; sqlite_schema says whether that b-tree is a table or an index.
    WARDEN_ASSIGN_OR_RETURN(
        Stmt st, conn->prepare("SELECT d.name, COALESCE(m.type, 'table'), "
                               "COALESCE(m.tbl_name, d.name), COUNT(*), SUM(d.pgsize), "
                               "SUM(d.payload) "
                               "FROM dbstat AS d LEFT JOIN sqlite_schema AS m ON m.name = d.name "
                               "GROUP BY d.name ORDER BY SUM(d.pgsize) DESC, d.name"));
    while (true) {
      WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
      if (!row) break;
      stats.objects.push_back({.name = st.text(0),
                               .kind = st.text(1),
                               .table = st.text(2),
                               .pages = st.int64(3),
                               .bytes = st.int64(4),
                               .payload = st.int64(5),
                               .rows = std::nullopt});
    }
    for (ObjectStats& object : stats.objects) {
      if (object.kind != "table") continue;
      WARDEN_ASSIGN_OR_RETURN(
          object.rows, single_int(*conn, "SELECT COUNT(*) FROM " + sql_identifier(object.name)));
    }
    return Status();
  }();
  (void)conn->exec("COMMIT");
  WARDEN_RETURN_IF_ERROR(read);
  return stats;
}

Result<DirectorySize> directory_size(const std::string& dir) {
  DirectorySize size;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return size;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    std::error_code file_ec;
    if (!it->is_regular_file(file_ec)) continue;
    const auto bytes = it->file_size(file_ec);
    if (file_ec) continue;  // removed between listing and stat (a segment being replaced)
    size.bytes += static_cast<std::int64_t>(bytes);
    ++size.files;
  }
  if (ec) return io_error("list " + dir, ec.value());
  return size;
}

std::int64_t file_size_or_zero(const std::string& path) {
  std::error_code ec;
  const auto bytes = fs::file_size(path, ec);
  return ec ? 0 : static_cast<std::int64_t>(bytes);
}

StorageGauges::StorageGauges(std::string db_path, std::string archive_dir, const Clock& clock)
    : db_path_(std::move(db_path)), archive_dir_(std::move(archive_dir)), clock_(clock) {}

StorageGauges::~StorageGauges() = default;

Result<std::optional<std::int64_t>> StorageGauges::oldest_created_at() {
  if (!conn_) {
    WARDEN_ASSIGN_OR_RETURN(conn_,
                            Connection::open(db_path_, SQLITE_OPEN_READONLY, Durability::kFull));
  }
  WARDEN_ASSIGN_OR_RETURN(Stmt st, conn_->prepare(kOldestDecisionSql));
  WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
  if (!row) return std::optional<std::int64_t>();
  return st.opt_int64(0);
}

StorageSample StorageGauges::sample() {
  StorageSample out;
  out.database_bytes = file_size_or_zero(db_path_);
  out.wal_bytes = file_size_or_zero(db_path_ + "-wal");
  if (auto archive = directory_size(archive_dir_); archive.ok()) out.archive_bytes = archive->bytes;
  const std::int64_t now = clock_.now_seconds();
  std::lock_guard lock(mu_);
  if (!oldest_read_at_ || now - *oldest_read_at_ >= kOldestCacheSeconds) {
    auto oldest = oldest_created_at();
    if (!oldest.ok()) {
      conn_.reset();  // opened again at the next scrape
      oldest_read_at_.reset();
      return out;
    }
    oldest_created_at_ = *oldest;
    oldest_read_at_ = now;
  }
  out.oldest_hot_decision_age_seconds =
      oldest_created_at_ ? std::max<std::int64_t>(0, now - *oldest_created_at_) : 0;
  return out;
}

}  // namespace warden::store::sqlite
