// Operating a SQLite data directory while its daemon serves it (docs/operations.md): a
// consistent online backup, the size of every table and index, and the storage gauges that
// /metrics shows. Everything here reads the database through its own read-only connection, so
// none of it needs the daemon's store or the data directory's lock.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/status.h"

namespace warden::store::sqlite {

class Connection;

// Pages copied per sqlite3_backup_step(): 4 MiB of 4 KiB pages between progress reports.
inline constexpr int kBackupPagesPerStep = 1024;

struct BackupOptions {
  bool overwrite = false;  // replace an existing target (--force)
  int pages_per_step = kBackupPagesPerStep;
};

struct BackupReport {
  std::int64_t pages = 0;
  std::int64_t page_size_bytes = 0;
  std::int64_t steps = 0;
  // Rows in the copied snapshot, so the operator sees what the file holds.
  std::int64_t transactions_rows = 0;
  std::int64_t audit_rows = 0;
};

// Copies the database at source_path, as one snapshot taken when the copy starts, to
// target_path with SQLite's online backup API. The source is read through a read-only
// connection that holds one read transaction for the whole copy: in WAL mode a reader never
// blocks the writer, the copy never restarts because the daemon committed meanwhile, and what
// the daemon commits after the start stays out of the copy (it grows the WAL instead, until the
// copy ends). The copy is written to target_path + ".tmp" (mode 0600), fsynced, renamed over
// target_path, and the directory fsynced. CONFIG_INVALID: the target exists (without
// overwrite), is the source, or its .tmp exists; STORE_NOT_INITIALIZED: no source file.
Result<BackupReport> backup_database(const std::string& source_path, const std::string& target_path,
                                     const BackupOptions& opts);

struct RestoreOptions {
  // Where the database files in place (the file, its -wal and -shm) are moved; empty: refuse
  // (CONFIG_INVALID) when any of them exists. Must not exist yet.
  std::string replaced_dir;
};

struct RestoreReport {
  std::int64_t transactions_rows = 0;
  std::int64_t audit_rows = 0;
  bool replaced = false;  // files were moved to replaced_dir
};

// Puts the backup at backup_path in place as db_path, for a daemon that is not running (the
// caller holds the data directory's lock). The backup is copied beside db_path as
// db_path + ".restore" (0600, fsynced) and checked there (PRAGMA integrity_check, a Warden
// schema) before anything in place is touched; then the files in place are moved out of the way
// (a stale -wal beside the restored file would be read as part of it), the copy renamed to
// db_path and the directory fsynced. The backup file itself is only read. CONFIG_INVALID: no
// backup file, files in place without replaced_dir, a leftover .restore file;
// INTERNAL_STORE_ERROR naming the check a backup failed.
Result<RestoreReport> restore_database(const std::string& backup_path, const std::string& db_path,
                                       const RestoreOptions& opts);

// One b-tree of the database: a table (with its row count) or an index.
struct ObjectStats {
  std::string name;
  std::string kind;   // "table" or "index"
  std::string table;  // the table an index belongs to; a table's own name
  std::int64_t pages = 0;
  std::int64_t bytes = 0;            // pages * page size, overflow pages included
  std::int64_t payload = 0;          // of those bytes, the cells' content (dbstat's payload)
  std::optional<std::int64_t> rows;  // tables only
};

struct DatabaseStats {
  std::int64_t page_size_bytes = 0;
  std::int64_t pages = 0;            // the snapshot's page count (pages still in the WAL included)
  std::int64_t free_pages = 0;       // on the freelist: in the file, holding nothing
  std::vector<ObjectStats> objects;  // largest first
};

// Sizes from SQLite's dbstat virtual table and row counts, all read in one read transaction
// (one snapshot) on a read-only connection. Reads every page: seconds on a large file.
Result<DatabaseStats> database_stats(const std::string& db_path);

// Regular files under a directory (recursively): their total size and number. Both 0 when the
// directory does not exist.
struct DirectorySize {
  std::int64_t bytes = 0;
  std::int64_t files = 0;
};
Result<DirectorySize> directory_size(const std::string& dir);

// Size of a file, 0 when it does not exist (a WAL between a checkpoint and the next write).
std::int64_t file_size_or_zero(const std::string& path);

// The values /metrics shows for a SQLite data directory.
struct StorageSample {
  std::int64_t database_bytes = 0;
  std::int64_t wal_bytes = 0;
  std::int64_t archive_bytes = 0;
  // now - the smallest transactions.created_at; 0 with no decision stored; nullopt when the
  // database could not be read.
  std::optional<std::int64_t> oldest_hot_decision_age_seconds;
};

// Samples the gauges on each scrape. File sizes are read every time (a stat each); the oldest
// decision's created_at (one seek on idx_transactions_created_at) is re-read at most every
// kOldestCacheSeconds, so a scraper polling fast costs the database nothing more.
// Thread-safe: sample() may be called from any thread.
class StorageGauges {
 public:
  static constexpr std::int64_t kOldestCacheSeconds = 5;

  StorageGauges(std::string db_path, std::string archive_dir, const Clock& clock);
  ~StorageGauges();
  StorageGauges(const StorageGauges&) = delete;
  StorageGauges& operator=(const StorageGauges&) = delete;

  StorageSample sample();

 private:
  Result<std::optional<std::int64_t>> oldest_created_at();  // requires mu_

  const std::string db_path_;
  const std::string archive_dir_;
  const Clock& clock_;
  std::mutex mu_;
  std::unique_ptr<Connection> conn_;               // guarded by mu_; opened on first use
  std::optional<std::int64_t> oldest_created_at_;  // guarded by mu_: the cached value
  std::optional<std::int64_t> oldest_read_at_;     // guarded by mu_: when it was read (s)
};

// The query StorageGauges runs, for tests of its plan.
inline constexpr const char* kOldestDecisionSql = "SELECT MIN(created_at) FROM transactions";

}  // namespace warden::store::sqlite
