// The data directory's lock: `serve` holds an exclusive flock on DATA_DIR/warden.lock for its
// whole run, and a command that writes the store behind the daemon's back (`ledger mint`, whose
// credit the daemon would not see in memory) takes it or refuses. The kernel drops it when the
// holder exits, however it exits, so a killed daemon leaves no stale lock.
#pragma once

#include <string>

namespace warden::cli {

class DataDirLock {
 public:
  enum class Outcome { kTaken, kBusy, kFailed };

  DataDirLock() = default;
  ~DataDirLock();
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;

  // Never waits: kBusy when another process holds it; kFailed (with `error`) when the lock file
  // cannot be opened.
  Outcome acquire(const std::string& data_dir, std::string* error);
  static std::string path(const std::string& data_dir);

 private:
  int fd_ = -1;
};

}  // namespace warden::cli
