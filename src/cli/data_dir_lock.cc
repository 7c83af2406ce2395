// DataDirLock: flock(2) on DATA_DIR/warden.lock.
#include "cli/data_dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace warden::cli {

DataDirLock::~DataDirLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the descriptor releases the lock
}

std::string DataDirLock::path(const std::string& data_dir) {
  return (std::filesystem::path(data_dir) / "warden.lock").string();
}

DataDirLock::Outcome DataDirLock::acquire(const std::string& data_dir, std::string* error) {
  const std::string file = path(data_dir);
  const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    *error = "cannot open " + file + ": " + std::strerror(errno);
    return Outcome::kFailed;
  }
  int rc = 0;
  do {
    rc = ::flock(fd, LOCK_EX | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) return Outcome::kBusy;
    *error = "cannot lock " + file + ": " + std::strerror(err);
    return Outcome::kFailed;
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  return Outcome::kTaken;
}

}  // namespace warden::cli
