#include "store/postgres/leadership.h"

#include <chrono>
#include <string>
#include <utility>

namespace warden::store::postgres {

PgLeadership::PgLeadership(ConnectionConfig config, std::int64_t check_interval_ms)
    : config_(std::move(config)), check_interval_ms_(check_interval_ms) {
  thread_ = std::thread([this] { run(); });
}

PgLeadership::~PgLeadership() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  thread_.join();
  leading_.store(false, std::memory_order_release);
  conn_.reset();  // the session ends, and with it the lock
  backend_pid_.store(0, std::memory_order_release);
}

void PgLeadership::drop_session() {
  leading_.store(false, std::memory_order_release);
  backend_pid_.store(0, std::memory_order_release);
  conn_.reset();
}

void PgLeadership::run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    check();
    lock.lock();
    stop_cv_.wait_for(lock, std::chrono::milliseconds(check_interval_ms_),
                      [this] { return stopping_; });
  }
}

void PgLeadership::check() {
  bool lost = false;
  if (conn_ != nullptr && leading()) {
    // A session that still answers still holds the lock: it is never unlocked, only lost with
    // the session.
    if (conn_->exec("SELECT 1").ok()) return;
    drop_session();
    lost = true;
  }
  if (conn_ != nullptr && !conn_->healthy()) drop_session();
  if (conn_ == nullptr) {
    Result<std::unique_ptr<Connection>> conn = Connection::connect(config_);
    if (!conn.ok()) return;
    Result<Rows> pid = (*conn)->exec("SELECT pg_backend_pid()");
    if (!pid.ok() || pid->size() != 1) return;
    conn_ = std::move(*conn);
    backend_pid_.store(std::stoi(pid->text(0, 0)), std::memory_order_release);
  }
  // A replica that just lost its session (likely the unhealthy one) lets the others try first:
  // they try within one interval, it tries again only after one.
  if (lost) return;
  Result<Rows> taken =
      conn_->exec("SELECT pg_try_advisory_lock($1)", {std::to_string(kSweeperLockKey)});
  if (!taken.ok() || taken->size() != 1) {
    // Not knowing whether this session holds the lock, end it: that releases it if it does.
    drop_session();
    return;
  }
  leading_.store(taken->text(0, 0) == "t", std::memory_order_release);
}

}  // namespace warden::store::postgres
