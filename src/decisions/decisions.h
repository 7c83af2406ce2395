// The decision service: turns wallet and generic requests into engine decisions, reserves,
// persists each decision with its audit row through the group-commit writer, and drives the
// transaction lifecycle (confirm / fail / cancel, DELAY release, approvals, reservation TTL).
#pragma once

#include <boost/json/object.hpp>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "core/ids.h"
#include "engine/engine.h"
#include "store/batch_writer.h"
#include "store/store.h"

namespace warden::decisions {

struct DecisionOptions {
  std::int64_t reservation_ttl_seconds = 3600;  // unsettled reservations expire after this
  std::int64_t sweep_interval_ms = 250;         // background expiry / DELAY / approval checks
  std::int64_t idempotency_retention_seconds = 86'400;
  std::int64_t long_poll_seconds_max = 60;
  bool start_sweeper = true;
};

// Receives NOTIFY-tier and lifecycle events after they are committed.
class Notifier {
 public:
  virtual ~Notifier() = default;
  virtual void notify(boost::json::object event) = 0;
};

// Who is acting on a transaction.
struct Actor {
  bool master = false;
  bool system = false;     // the sweeper: DELAY release, expiry
  std::string agent_id;    // set for a session
  std::string session_id;  // set for a session
  std::string correlation_id;
  std::string ip_address;
  std::string name() const {
    return master ? "master" : system ? "system" : "agent:" + agent_id;
  }
};

struct Submission {
  std::string agent_id;
  std::string session_id;
  engine::Request request;  // now_ms and agent_id are filled by the service
  store::TransactionRow row;  // type/amount/addresses; ids, status, tier filled by the service
  std::optional<std::string> idempotency_key;
  std::string request_hash;
  bool explain = false;
};

// The answer to a submission: HTTP status and body.
struct Answer {
  int status = 201;
  boost::json::object body;
  bool replay = false;
};

struct Once;              // internal.h
class IdempotencyTable;   // internal.h

// Thread-safe.
class DecisionService {
 public:
  using Done = std::function<void(Result<Answer>)>;
  using Changed = std::function<void(Result<boost::json::object>)>;

  DecisionService(store::Store& store, store::BatchWriter& writer, const Clock& clock,
                  IdGenerator& ids, DecisionOptions options, Notifier* notifier);
  ~DecisionService();

  // Loads policies and rebuilds reservations and idempotency keys from the store.
  Status start();
  void stop();
  Status reload_policies();

  // Decides, reserves and persists; `done` runs after the commit.
  void submit(Submission submission, const Actor& actor, Done done);
  // Evaluates without reserving or persisting (dry-run).
  engine::Decision evaluate(engine::Request request, bool explain);

  Result<boost::json::object> get(const std::string& tx_id, const Actor& actor);
  // Long poll: `done` runs when the transaction's status changes or at deadline.
  void wait(const std::string& tx_id, const Actor& actor, std::int64_t wait_ms, Changed done);

  void confirm(const std::string& tx_id, const Actor& actor, std::optional<Amount> final_amount,
               std::optional<std::string> tx_hash, Changed done);
  void fail(const std::string& tx_id, const Actor& actor, std::string error, Changed done);
  void cancel(const std::string& tx_id, const Actor& actor, Changed done);
  void decide_approval(const std::string& approval_id, const Actor& actor, bool approve,
                       Changed done);
  Result<std::vector<boost::json::object>> list_approvals(bool pending_only, const store::Page& page);

  // One sweep: expires reservations, releases DELAYed transactions, expires approvals, answers
  // long polls past their deadline. The background thread calls it; tests call it directly.
  void sweep();

  engine::Engine& engine() { return engine_; }

 private:
  struct Waiter {
    std::int64_t deadline_ms;
    std::shared_ptr<Once> once;
  };
  enum class TimerKind { kExecutable, kApprovalExpiry, kTtl };
  struct Timer {
    std::string tx_id;
    TimerKind kind;
  };

  void transition(const std::string& tx_id, const Actor& actor,
                  std::function<Status(store::TransactionRow&, store::AuditEvent&)> change,
                  std::function<void(const store::TransactionRow&)> after_commit, Changed done);
  void notify_waiters(const std::string& tx_id, const boost::json::object& body);
  void add_timer(std::int64_t due_seconds, const std::string& tx_id, TimerKind kind);
  void schedule(const store::TransactionRow& row, std::optional<std::int64_t> approval_expiry);
  void fire(const Timer& timer);
  // `built`, when given, is transaction_json(row) already made.
  void committed(const store::TransactionRow& row, bool decided,
                 const boost::json::object* built = nullptr);
  Status recover();
  void sweeper_loop();

  store::Store& store_;
  store::BatchWriter& writer_;
  const Clock& clock_;
  IdGenerator& ids_;
  const DecisionOptions options_;
  Notifier* notifier_;
  engine::Engine engine_;

  std::mutex reload_mu_;  // reloads run one at a time so the last one reads the latest rows
  std::unique_ptr<IdempotencyTable> idempotency_;

  std::mutex waiters_mu_;
  std::multimap<std::string, Waiter> waiters_;  // by tx id; guarded by waiters_mu_

  std::mutex timers_mu_;
  std::multimap<std::int64_t, Timer> timers_;  // by due time in seconds; guarded by timers_mu_

  std::mutex sweep_mu_;  // one sweep at a time
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;  // guarded by stop_mu_
  std::thread sweeper_;
};

boost::json::object transaction_json(const store::TransactionRow& row);
// The same, with the row's metadata already parsed.
boost::json::object transaction_json(const store::TransactionRow& row,
                                     const boost::json::object& metadata);

}  // namespace warden::decisions
