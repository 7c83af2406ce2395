// Leadership among replicas on one PostgreSQL: the replica whose dedicated session holds the
// advisory lock kSweeperLockKey sweeps; the others wait to take it over. docs/cluster.md, "One
// replica sweeps".
//
// What it guarantees: PostgreSQL grants a session advisory lock to one session at a time, and
// releases it when that session ends (process killed, connection cut, backend terminated). So at
// most one live session holds it, and a replica reports leading() only after its own session
// acquired it, and stops reporting it as soon as a check of that session fails. A follower tries
// every check interval, so after the leader dies another leads within one interval plus the time
// PostgreSQL takes to notice the dead session (at once for a closed socket; for a silent network
// cut, the server's TCP keepalive settings).
//
// What it does not guarantee: that two replicas never sweep in the same instant. A leader cut
// off from the server learns it only at its next check (up to one interval), and a sweep already
// running finishes. Nothing is released twice because of how the sweeps write, not because of
// this lock: see "One replica sweeps" in docs/cluster.md for which writes are guarded by row
// state and which rely on the lock.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>

#include "store/leadership.h"
#include "store/postgres/pg.h"

namespace warden::store::postgres {

// The pg_try_advisory_lock key of the sweepers ("wardensw").
inline constexpr std::int64_t kSweeperLockKey = 0x77617264656e7377;
inline constexpr std::int64_t kLeadershipCheckIntervalMsDefault = 1000;

class PgLeadership final : public Leadership {
 public:
  // Starts the checking thread, which connects and tries the lock at once and then every
  // `check_interval_ms`. A server that cannot be reached is tried again each interval.
  PgLeadership(ConnectionConfig config,
               std::int64_t check_interval_ms = kLeadershipCheckIntervalMsDefault);
  // Stops the thread and closes the session, which releases the lock at once.
  ~PgLeadership() override;
  PgLeadership(const PgLeadership&) = delete;
  PgLeadership& operator=(const PgLeadership&) = delete;

  bool leading() const override { return leading_.load(std::memory_order_acquire); }
  // The server process id of the current session, 0 while there is none (for tests and logs).
  int backend_pid() const { return backend_pid_.load(std::memory_order_acquire); }

 private:
  void run();
  // One round: connects when needed, then verifies the held lock or tries to take it.
  void check();
  // Not leading from now on; closing the session releases the lock if it held it.
  void drop_session();

  const ConnectionConfig config_;
  const std::int64_t check_interval_ms_;
  std::unique_ptr<Connection> conn_;  // only the thread touches it
  std::atomic<bool> leading_{false};
  std::atomic<int> backend_pid_{0};
  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace warden::store::postgres
