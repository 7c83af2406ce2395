// The log-gathering VFS (wal_vfs.h).
#include "store/sqlite/wal_vfs.h"

#include <sqlite3.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

namespace warden::store::sqlite {
namespace {

// A write-ahead log frame starts with a 24-byte header whose bytes 4-7 hold, in a commit
// frame, the database size in pages after the commit, and zero in every other frame.
constexpr int kFrameHeaderBytes = 24;

struct File {
  sqlite3_file base;    // what SQLite sees; pMethods is one of kMethods
  sqlite3_file* inner;  // the wrapped VFS's file (allocated here, its szOsFile bytes)
  bool log;             // a write-ahead log: writes are gathered
  File* log_of_db;      // a database file: its connection's log, while open
  File* db_of_log;      // a log: its database file, while open
  bool commit_frame;    // the last write was a commit frame's header: its page ends the commit
  sqlite3_int64 gathered_at;
  std::string gathered;  // bytes for [gathered_at, gathered_at + size), not written yet
};

File* as_file(sqlite3_file* f) { return reinterpret_cast<File*>(f); }
const sqlite3_io_methods* inner_methods(File* f) { return f->inner->pMethods; }

sqlite3_vfs* g_fallback = nullptr;  // the default VFS when this one was registered
sqlite3_vfs g_vfs;

// The VFS this one wraps: the process's default now (tests install their own), never itself.
sqlite3_vfs* wrapped() {
  sqlite3_vfs* v = sqlite3_vfs_find(nullptr);
  return v == nullptr || v == &g_vfs ? g_fallback : v;
}

int write_out(File* f) {
  if (f->gathered.empty()) return SQLITE_OK;
  int rc = SQLITE_OK;
  const auto size = static_cast<sqlite3_int64>(f->gathered.size());
  for (sqlite3_int64 at = 0; at < size && rc == SQLITE_OK; at += kLogChunkBytes) {
    const auto n = static_cast<int>(std::min<sqlite3_int64>(kLogChunkBytes, size - at));
    rc = inner_methods(f)->xWrite(f->inner, f->gathered.data() + at, n, f->gathered_at + at);
  }
  f->gathered.clear();
  return rc;
}

// Before anything that reads, sizes, syncs or publishes the log.
int write_out_log_of(File* f) {
  if (f->log) return write_out(f);
  return f->log_of_db != nullptr ? write_out(f->log_of_db) : SQLITE_OK;
}

int x_close(sqlite3_file* file) {
  File* f = as_file(file);
  int rc = write_out_log_of(f);
  if (f->log && f->db_of_log != nullptr) f->db_of_log->log_of_db = nullptr;
  if (!f->log && f->log_of_db != nullptr) f->log_of_db->db_of_log = nullptr;
  const int closed = inner_methods(f)->xClose(f->inner);
  if (rc == SQLITE_OK) rc = closed;
  std::free(f->inner);
  f->gathered.~basic_string();
  return rc;
}

int x_read(sqlite3_file* file, void* buf, int n, sqlite3_int64 offset) {
  File* f = as_file(file);
  if (f->log) {
    if (int rc = write_out(f); rc != SQLITE_OK) return rc;
  }
  return inner_methods(f)->xRead(f->inner, buf, n, offset);
}

int x_write(sqlite3_file* file, const void* buf, int n, sqlite3_int64 offset) {
  File* f = as_file(file);
  if (!f->log) return inner_methods(f)->xWrite(f->inner, buf, n, offset);
  const bool follows = offset == f->gathered_at + static_cast<sqlite3_int64>(f->gathered.size());
  if (!f->gathered.empty() &&
      (!follows || f->gathered.size() + static_cast<std::size_t>(n) > kLogChunkBytes)) {
    if (int rc = write_out(f); rc != SQLITE_OK) return rc;
  }
  if (n >= kLogChunkBytes) {
    f->commit_frame = false;  // whatever it ended is written with it
    return inner_methods(f)->xWrite(f->inner, buf, n, offset);
  }
  if (f->gathered.empty()) f->gathered_at = offset;
  f->gathered.append(static_cast<const char*>(buf), static_cast<std::size_t>(n));
  if (f->commit_frame) {
    // The commit frame's page: the transaction is complete, and its writes succeed or fail here.
    f->commit_frame = false;
    return write_out(f);
  }
  if (n == kFrameHeaderBytes) {
    const auto* b = static_cast<const unsigned char*>(buf);
    f->commit_frame = (b[4] | b[5] | b[6] | b[7]) != 0;
  }
  return SQLITE_OK;
}

int x_truncate(sqlite3_file* file, sqlite3_int64 size) {
  File* f = as_file(file);
  if (int rc = write_out_log_of(f); rc != SQLITE_OK) return rc;
  return inner_methods(f)->xTruncate(f->inner, size);
}

int x_sync(sqlite3_file* file, int flags) {
  File* f = as_file(file);
  if (int rc = write_out_log_of(f); rc != SQLITE_OK) return rc;
  return inner_methods(f)->xSync(f->inner, flags);
}

int x_file_size(sqlite3_file* file, sqlite3_int64* size) {
  File* f = as_file(file);
  if (int rc = write_out_log_of(f); rc != SQLITE_OK) return rc;
  return inner_methods(f)->xFileSize(f->inner, size);
}

int x_lock(sqlite3_file* file, int level) {
  File* f = as_file(file);
  return inner_methods(f)->xLock(f->inner, level);
}

int x_unlock(sqlite3_file* file, int level) {
  File* f = as_file(file);
  if (int rc = write_out_log_of(f); rc != SQLITE_OK) return rc;
  return inner_methods(f)->xUnlock(f->inner, level);
}

int x_check_reserved_lock(sqlite3_file* file, int* out) {
  File* f = as_file(file);
  return inner_methods(f)->xCheckReservedLock(f->inner, out);
}

int x_file_control(sqlite3_file* file, int op, void* arg) {
  File* f = as_file(file);
  if (int rc = write_out_log_of(f); rc != SQLITE_OK) return rc;
  return inner_methods(f)->xFileControl(f->inner, op, arg);
}

int x_sector_size(sqlite3_file* file) {
  File* f = as_file(file);
  return inner_methods(f)->xSectorSize(f->inner);
}

int x_device_characteristics(sqlite3_file* file) {
  File* f = as_file(file);
  return inner_methods(f)->xDeviceCharacteristics(f->inner);
}

int x_shm_map(sqlite3_file* file, int page, int page_size, int extend, void volatile** out) {
  File* f = as_file(file);
  if (int rc = write_out_log_of(f); rc != SQLITE_OK) return rc;
  return inner_methods(f)->xShmMap(f->inner, page, page_size, extend, out);
}

int x_shm_lock(sqlite3_file* file, int offset, int n, int flags) {
  File* f = as_file(file);
  if (int rc = write_out_log_of(f); rc != SQLITE_OK) return rc;
  return inner_methods(f)->xShmLock(f->inner, offset, n, flags);
}

void x_shm_barrier(sqlite3_file* file) {
  File* f = as_file(file);
  // A commit is published right after this. Its frames were written out by the write that
  // ended it; this only catches what some other path may have left.
  (void)write_out_log_of(f);
  inner_methods(f)->xShmBarrier(f->inner);
}

int x_shm_unmap(sqlite3_file* file, int delete_flag) {
  File* f = as_file(file);
  if (int rc = write_out_log_of(f); rc != SQLITE_OK) return rc;
  return inner_methods(f)->xShmUnmap(f->inner, delete_flag);
}

int x_fetch(sqlite3_file* file, sqlite3_int64 offset, int n, void** out) {
  File* f = as_file(file);
  if (int rc = write_out_log_of(f); rc != SQLITE_OK) return rc;
  return inner_methods(f)->xFetch(f->inner, offset, n, out);
}

int x_unfetch(sqlite3_file* file, sqlite3_int64 offset, void* p) {
  File* f = as_file(file);
  return inner_methods(f)->xUnfetch(f->inner, offset, p);
}

// One method table per version the wrapped files may have, so that SQLite never calls a method
// the wrapped file lacks.
constexpr sqlite3_io_methods make_methods(int version) {
  return sqlite3_io_methods{version,
                            x_close,
                            x_read,
                            x_write,
                            x_truncate,
                            x_sync,
                            x_file_size,
                            x_lock,
                            x_unlock,
                            x_check_reserved_lock,
                            x_file_control,
                            x_sector_size,
                            x_device_characteristics,
                            version >= 2 ? x_shm_map : nullptr,
                            version >= 2 ? x_shm_lock : nullptr,
                            version >= 2 ? x_shm_barrier : nullptr,
                            version >= 2 ? x_shm_unmap : nullptr,
                            version >= 3 ? x_fetch : nullptr,
                            version >= 3 ? x_unfetch : nullptr};
}
constexpr sqlite3_io_methods kMethods[] = {make_methods(1), make_methods(2), make_methods(3)};

bool is_ours(const sqlite3_file* file) {
  for (const auto& m : kMethods) {
    if (file->pMethods == &m) return true;
  }
  return false;
}

int x_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  File* f = as_file(file);
  f->base.pMethods = nullptr;
  sqlite3_vfs* inner_vfs = wrapped();
  auto* inner =
      static_cast<sqlite3_file*>(std::calloc(1, static_cast<std::size_t>(inner_vfs->szOsFile)));
  if (inner == nullptr) return SQLITE_NOMEM;
  const int rc = inner_vfs->xOpen(inner_vfs, name, inner, flags, out_flags);
  if (rc != SQLITE_OK || inner->pMethods == nullptr) {
    if (inner->pMethods != nullptr) inner->pMethods->xClose(inner);
    std::free(inner);
    return rc != SQLITE_OK ? rc : SQLITE_CANTOPEN;
  }
  f->inner = inner;
  f->log = (flags & SQLITE_OPEN_WAL) != 0;
  f->log_of_db = nullptr;
  f->db_of_log = nullptr;
  f->commit_frame = false;
  f->gathered_at = 0;
  new (&f->gathered) std::string();
  const int version = std::min(std::max(inner->pMethods->iVersion, 1), 3);
  f->base.pMethods = &kMethods[version - 1];
  if (f->log) {
    // The database this log belongs to publishes its commits: it must write the log out first.
    sqlite3_file* db = sqlite3_database_file_object(name);
    if (db != nullptr && is_ours(db)) {
      f->db_of_log = as_file(db);
      as_file(db)->log_of_db = f;
    } else {
      f->log = false;  // nothing would write it out before a commit is published: pass through
    }
  }
  return SQLITE_OK;
}

int x_delete(sqlite3_vfs*, const char* name, int sync_dir) {
  sqlite3_vfs* v = wrapped();
  return v->xDelete(v, name, sync_dir);
}
int x_access(sqlite3_vfs*, const char* name, int flags, int* out) {
  sqlite3_vfs* v = wrapped();
  return v->xAccess(v, name, flags, out);
}
int x_full_pathname(sqlite3_vfs*, const char* name, int n, char* out) {
  sqlite3_vfs* v = wrapped();
  return v->xFullPathname(v, name, n, out);
}
void* x_dl_open(sqlite3_vfs*, const char* name) {
  sqlite3_vfs* v = wrapped();
  return v->xDlOpen(v, name);
}
void x_dl_error(sqlite3_vfs*, int n, char* out) {
  sqlite3_vfs* v = wrapped();
  v->xDlError(v, n, out);
}
void (*x_dl_sym(sqlite3_vfs*, void* handle, const char* symbol))(void) {
  sqlite3_vfs* v = wrapped();
  return v->xDlSym(v, handle, symbol);
}
void x_dl_close(sqlite3_vfs*, void* handle) {
  sqlite3_vfs* v = wrapped();
  v->xDlClose(v, handle);
}
int x_randomness(sqlite3_vfs*, int n, char* out) {
  sqlite3_vfs* v = wrapped();
  return v->xRandomness(v, n, out);
}
int x_sleep(sqlite3_vfs*, int micros) {
  sqlite3_vfs* v = wrapped();
  return v->xSleep(v, micros);
}
int x_current_time(sqlite3_vfs*, double* out) {
  sqlite3_vfs* v = wrapped();
  return v->xCurrentTime(v, out);
}
int x_get_last_error(sqlite3_vfs*, int n, char* out) {
  sqlite3_vfs* v = wrapped();
  return v->xGetLastError != nullptr ? v->xGetLastError(v, n, out) : 0;
}
int x_current_time_int64(sqlite3_vfs*, sqlite3_int64* out) {
  sqlite3_vfs* v = wrapped();
  if (v->iVersion >= 2 && v->xCurrentTimeInt64 != nullptr) return v->xCurrentTimeInt64(v, out);
  double days = 0;
  const int rc = v->xCurrentTime(v, &days);
  *out = static_cast<sqlite3_int64>(days * 86'400'000.0);
  return rc;
}

const char* register_vfs() {
  g_fallback = sqlite3_vfs_find(nullptr);
  g_vfs = sqlite3_vfs{};
  g_vfs.iVersion = 2;
  g_vfs.szOsFile = static_cast<int>(sizeof(File));
  g_vfs.mxPathname = g_fallback->mxPathname;
  g_vfs.zName = "warden-gather-log";
  g_vfs.xOpen = x_open;
  g_vfs.xDelete = x_delete;
  g_vfs.xAccess = x_access;
  g_vfs.xFullPathname = x_full_pathname;
  g_vfs.xDlOpen = x_dl_open;
  g_vfs.xDlError = x_dl_error;
  g_vfs.xDlSym = x_dl_sym;
  g_vfs.xDlClose = x_dl_close;
  g_vfs.xRandomness = x_randomness;
  g_vfs.xSleep = x_sleep;
  g_vfs.xCurrentTime = x_current_time;
  g_vfs.xGetLastError = x_get_last_error;
  g_vfs.xCurrentTimeInt64 = x_current_time_int64;
  if (sqlite3_vfs_register(&g_vfs, 0) != SQLITE_OK) return nullptr;
  return g_vfs.zName;
}

}  // namespace

const char* gathering_vfs_name() {
  static const char* const name = register_vfs();
  return name;
}

}  // namespace warden::store::sqlite
