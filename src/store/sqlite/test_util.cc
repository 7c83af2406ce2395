// Test helpers for the SQLite store.
#include "store/sqlite/test_util.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <atomic>
#include <csignal>
#include <mutex>
#include <utility>

namespace warden::store::testing {

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "warden-store-XXXXXX").string();
  char* made = mkdtemp(tmpl.data());
  EXPECT_NE(made, nullptr);
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

RawDb::RawDb(const std::string& path) {
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  sqlite3_extended_result_codes(db_, 1);
  EXPECT_EQ(exec("PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000"), SQLITE_OK);
}

RawDb::~RawDb() { sqlite3_close_v2(db_); }

int RawDb::exec(std::string_view sql) {
  std::string owned(sql);
  return sqlite3_exec(db_, owned.c_str(), nullptr, nullptr, nullptr);
}

std::vector<std::string> RawDb::column(std::string_view sql, int index) {
  std::vector<std::string> out;
  sqlite3_stmt* st = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &st, nullptr),
            SQLITE_OK)
      << sql << ": " << error();
  while (st != nullptr && sqlite3_step(st) == SQLITE_ROW) {
    const unsigned char* p = sqlite3_column_text(st, index);
    out.emplace_back(p == nullptr ? "" : reinterpret_cast<const char*>(p));
  }
  sqlite3_finalize(st);
  return out;
}

std::string RawDb::text(std::string_view sql) {
  std::vector<std::string> rows = column(sql);
  return rows.empty() ? std::string() : rows.front();
}

std::int64_t RawDb::integer(std::string_view sql) { return std::stoll(text(sql)); }

std::unique_ptr<SqliteStore> open_store(const std::string& path) {
  auto store = SqliteStore::open(path, {.create_if_missing = true});
  EXPECT_TRUE(store.ok()) << store.status().to_string();
  return store.ok() ? std::move(store).value() : nullptr;
}

namespace {

std::atomic<int> g_wal_syncs{0};
std::atomic<int> g_wal_writes{0};
sqlite3_vfs* g_real_vfs = nullptr;
sqlite3_vfs g_counting_vfs;
// Each counting method table, with the real one it copies. Never freed: a file opened through
// one may outlive the counter.
std::mutex g_methods_mu;
std::vector<std::pair<const sqlite3_io_methods*, sqlite3_io_methods*>> g_methods;

const sqlite3_io_methods* real_methods(const sqlite3_io_methods* counting) {
  std::lock_guard lock(g_methods_mu);
  for (const auto& [real, copy] : g_methods) {
    if (copy == counting) return real;
  }
  return nullptr;
}

int counting_sync(sqlite3_file* file, int flags) {
  ++g_wal_syncs;
  return real_methods(file->pMethods)->xSync(file, flags);
}

int counting_write(sqlite3_file* file, const void* data, int n, sqlite3_int64 offset) {
  ++g_wal_writes;
  return real_methods(file->pMethods)->xWrite(file, data, n, offset);
}

const sqlite3_io_methods* counting_methods(const sqlite3_io_methods* real) {
  std::lock_guard lock(g_methods_mu);
  for (const auto& [r, copy] : g_methods) {
    if (r == real) return copy;
  }
  auto* copy = new sqlite3_io_methods(*real);
  copy->xSync = counting_sync;
  copy->xWrite = counting_write;
  g_methods.emplace_back(real, copy);
  return copy;
}

int counting_open(sqlite3_vfs*, const char* name, sqlite3_file* file, int flags, int* out_flags) {
  const int rc = g_real_vfs->xOpen(g_real_vfs, name, file, flags, out_flags);
  if (rc == SQLITE_OK && (flags & SQLITE_OPEN_WAL) != 0 && file->pMethods != nullptr) {
    file->pMethods = counting_methods(file->pMethods);
  }
  return rc;
}

}  // namespace

WalSyncCounter::WalSyncCounter() {
  g_real_vfs = sqlite3_vfs_find(nullptr);
  g_counting_vfs = *g_real_vfs;
  g_counting_vfs.zName = "warden-count-wal-syncs";
  g_counting_vfs.pNext = nullptr;
  g_counting_vfs.xOpen = counting_open;
  g_wal_syncs = 0;
  g_wal_writes = 0;
  EXPECT_EQ(sqlite3_vfs_register(&g_counting_vfs, 1), SQLITE_OK);
}

WalSyncCounter::~WalSyncCounter() {
  sqlite3_vfs_unregister(&g_counting_vfs);
  sqlite3_vfs_register(g_real_vfs, 1);
}

int WalSyncCounter::syncs() const { return g_wal_syncs.load(); }

int WalSyncCounter::writes() const { return g_wal_writes.load(); }

FileSizeLimit::FileSizeLimit(std::uint64_t bytes) {
  saved_handler_ = std::signal(SIGXFSZ, SIG_IGN);
  rlimit limit{};
  EXPECT_EQ(getrlimit(RLIMIT_FSIZE, &limit), 0);
  saved_soft_ = limit.rlim_cur;
  limit.rlim_cur = bytes;
  EXPECT_EQ(setrlimit(RLIMIT_FSIZE, &limit), 0);
}

void FileSizeLimit::lift() {
  if (std::exchange(lifted_, true)) return;
  rlimit limit{};
  EXPECT_EQ(getrlimit(RLIMIT_FSIZE, &limit), 0);
  limit.rlim_cur = saved_soft_;
  EXPECT_EQ(setrlimit(RLIMIT_FSIZE, &limit), 0);
}

FileSizeLimit::~FileSizeLimit() {
  lift();
  std::signal(SIGXFSZ, saved_handler_);
}

}  // namespace warden::store::testing
