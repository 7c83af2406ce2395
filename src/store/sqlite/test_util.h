// Test helpers for the SQLite store: a fresh temporary directory per test, a raw sqlite3 handle
// to inspect or tamper with the file behind the store's back; the sample rows of every backend
// come with it (store/suite/helpers.h).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/sqlite/sqlite_store.h"
#include "store/suite/helpers.h"

namespace warden::store::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::string file(std::string_view name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// A plain connection with foreign_keys ON, as the store's own connections have.
class RawDb {
 public:
  explicit RawDb(const std::string& path);
  ~RawDb();
  // The extended result code of running `sql` (SQLITE_OK, SQLITE_CONSTRAINT_CHECK, ...).
  int exec(std::string_view sql);
  std::string error() const { return sqlite3_errmsg(db_); }
  // First column of the first row as text ("" when no row).
  std::string text(std::string_view sql);
  std::int64_t integer(std::string_view sql);
  // Column `index` (default: the first) of every row.
  std::vector<std::string> column(std::string_view sql, int index = 0);

 private:
  sqlite3* db_ = nullptr;
};

std::unique_ptr<SqliteStore> open_store(const std::string& path);

// Counts the syncs and writes SQLite's own VFS gets on write-ahead log files while it lives: it
// registers, as the default VFS, a copy of the default one whose log files count their xSync and
// xWrite calls. Create it before opening the store and destroy the store first. One at a time.
class WalSyncCounter {
 public:
  WalSyncCounter();
  ~WalSyncCounter();
  WalSyncCounter(const WalSyncCounter&) = delete;
  WalSyncCounter& operator=(const WalSyncCounter&) = delete;
  int syncs() const;
  int writes() const;  // write calls on log files
};

// Makes every write to a regular file fail as on a full disk (the process's RLIMIT_FSIZE goes to
// `bytes`; SIGXFSZ is ignored so the write fails instead of killing the test) until lift() or
// the end of the scope. Works for root too, unlike file permissions.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(std::uint64_t bytes);
  ~FileSizeLimit();
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;
  void lift();

 private:
  std::uint64_t saved_soft_ = 0;
  void (*saved_handler_)(int) = nullptr;
  bool lifted_ = false;
};

}  // namespace warden::store::testing
