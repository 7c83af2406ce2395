// Which replica runs the sweepers (reservation TTL, DELAY release, approval expiry, lot expiry,
// hold timeouts, automation schedules): the one that leads. Embedded SQLite always leads (the
// data directory lock already keeps a second process out); on PostgreSQL, PgLeadership
// (store/postgres/leadership.h) leads while it holds a session advisory lock. docs/cluster.md,
// "One replica sweeps".
#pragma once

namespace warden::store {

class Leadership {
 public:
  virtual ~Leadership() = default;
  // Cheap (an atomic read): the sweepers ask it every round.
  virtual bool leading() const = 0;
};

class AlwaysLeader final : public Leadership {
 public:
  bool leading() const override { return true; }
};

// No leadership given means one process: it sweeps.
inline bool sweeps(const Leadership* leadership) {
  return leadership == nullptr || leadership->leading();
}

}  // namespace warden::store
