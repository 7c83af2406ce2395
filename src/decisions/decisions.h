// The decision service: turns wallet and generic requests into engine decisions, reserves,
// persists each decision with its audit row through the group-commit writer, and drives the
// transaction lifecycle (confirm / fail / cancel, DELAY release, approvals, reservation TTL).
#pragma once

#include <boost/json/object.hpp>
#include <condition_variable>
#include <deque>
#include <functional>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "core/ids.h"
#include "engine/engine.h"
#include "engine/request_mapping.h"
#include "store/batch_writer.h"
#include "store/leadership.h"
#include "store/store.h"

namespace warden::ledger {
class LedgerService;
struct Change;
}  // namespace warden::ledger

namespace warden::decisions {

struct DecisionOptions {
  std::int64_t reservation_ttl_seconds = 3600;  // unsettled reservations expire after this
  std::int64_t sweep_interval_ms = 250;         // background expiry / DELAY / approval checks
  // A repeated idempotency key replays its first answer for this long (the store's unique index
  // keeps the key for good; a repeat after this is TX_IDEMPOTENCY_CONFLICT).
  std::int64_t idempotency_retention_seconds = 86'400;
  // The replay table in memory holds the keys of this recent period, at most keys_max of them
  // (in-flight ones always); the store answers a repeat of an older key (answer_for_held_key),
  // so memory does not grow with a day of keyed decisions.
  std::int64_t idempotency_memory_seconds = 600;
  std::size_t idempotency_memory_keys_max = 100'000;
  std::int64_t long_poll_seconds_max = 60;
  bool start_sweeper = true;
  // Timers fire only while this leads (one replica sweeps); nullptr: always.
  const store::Leadership* leadership = nullptr;
  // Cluster mode: the store is shared by replicas, so windows are also counted there
  // (engine::Engine::set_shared_windows, docs/cluster.md "Exact limits across replicas").
  bool shared_store = false;
};

// Delivers NOTIFY- and APPROVAL-tier events. The service writes each event to the store's
// outbox in the same transaction as the change it announces, then wakes the notifier, which
// delivers from the outbox (at least once; a restart resumes what was not delivered).
class Notifier {
 public:
  virtual ~Notifier() = default;
  virtual void wake() = 0;
};

// Told what the service decided, once it is durable: the automation module turns decisions into
// events (docs/automation.md, "Warden's own events"). Called on the group-commit writer's thread
// after the commit: it must be quick and must not wait for the writer. Kept to store and engine types so this module knows nothing of its
// listeners.
class DecisionObserver {
 public:
  virtual ~DecisionObserver() = default;
  // Every committed decision (ALLOW at any tier, or DENY).
  virtual void on_decided(const store::TransactionRow& row, const engine::Decision& decision) = 0;
  // A transaction whose approval expired (now CANCELLED).
  virtual void on_approval_expired(const store::TransactionRow& row) = 0;
};

// Seconds a timer whose write failed (a full disk, say) waits before it fires again.
inline constexpr std::int64_t kTimerRetrySeconds = 1;
inline constexpr std::int64_t kClusterTimerScanMs = 5000;

// Who is acting on a transaction.
struct Actor {
  bool master = false;
  bool system = false;     // the sweeper: DELAY release, expiry
  std::string agent_id;    // set for a session
  std::string session_id;  // set for a session
  std::string correlation_id;
  std::string ip_address;
  // A settlement session: the executor's credential for the agent, which may confirm at a
  // final amount below the reserved one (an agent's own session settles at the reserved
  // amount).
  bool settlement = false;
  bool may_settle_below_reserved() const { return master || settlement; }
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
  // Called on the submitting thread as soon as the decision is made and its write queued,
  // before the commit, with the answer's body and Answer::reserved_assets; `done` still runs
  // after the commit. A caller may start work that nobody sees before `done` (the gateway
  // opens the upstream call) and must undo it when `done` reports a failed write. Not called
  // for an idempotent replay, nor in cluster mode for an ALLOW with windows or BUDGET holds:
  // the shared store may still refuse it at commit, so the caller learns it from `done`'s
  // answer (with the same reserved_assets).
  std::function<void(const boost::json::object& body,
                     const std::vector<std::string>& reserved_assets)>
      decided;
};

// A submission of a mapped request body (engine/request_mapping.h): the engine request and the
// row fields it names; the caller sets the agent and session, the service fills in the rest of
// the row. request_hash, canonical_hash(body), only when the body carries an idempotency key
// (it is only compared then).
Submission submission_of(engine::MappedRequest m, const boost::json::object& body);

// What a metered request (an LLM call through the gateway) really used.
struct UsageSettlement {
  // false: nothing was used (the upstream failed before answering): the transaction FAILS and
  // everything reserved is released; `error` says why. true: CONFIRMED at `final_amounts`.
  bool used = true;
  std::string error;
  // Asset -> what was really used (kLlmTokensAsset: total tokens; the model's currency: the cost).
  // An asset not named stays as reserved. More than reserved counts in full (windows past max;
  // BUDGET: the hold is posted whole and the rest debited as far as the credit goes, the audit
  // row naming any shortfall, as charge_late does).
  std::map<std::string, Amount> final_amounts;
  // prompt_tokens, completion_tokens, total_tokens, latency_ms, response_size_bytes (int64):
  // merged into the saved request's attributes for the CUSTOM post checks.
  boost::json::object post_attributes;
  // Written in the same store transaction (tx_id and id filled by the service when empty).
  std::optional<store::UsageEventRow> usage;
};

// The answer to a submission: HTTP status and body.
struct Answer {
  int status = 201;
  boost::json::object body;
  bool replay = false;
  // The assets the decision reserved (window charges in an amount, BUDGET holds), filled only
  // for a submission with `decided` set: the gateway meters a stream only when its tokens or
  // cost were reserved. Empty for a replay.
  std::vector<std::string> reserved_assets;
};

struct Once;              // internal.h
struct PendingWrite;      // internal.h
class IdempotencyTable;   // internal.h

// Thread-safe.
class DecisionService {
 public:
  using Done = std::function<void(Result<Answer>)>;
  using Changed = std::function<void(Result<boost::json::object>)>;

  DecisionService(store::Store& store, store::BatchWriter& writer, const Clock& clock,
                  IdGenerator& ids, DecisionOptions options, Notifier* notifier);
  ~DecisionService();

  // BUDGET policies hold on this ledger (set before start(); the ledger starts first). Without
  // one, a BUDGET policy denies what it applies to.
  void set_ledger(ledger::LedgerService* ledger);
  // Decisions and expired approvals are reported to `observer` after they commit (nullptr: to
  // nobody). May be set while serving; the observer must outlive the commits that read it
  // (unset it, then stop the writer or the service, before destroying it).
  void set_observer(DecisionObserver* observer) { observer_.store(observer); }
  // Loads policies and rebuilds reservations and idempotency keys from the store.
  Status start();
  void stop();
  // Reloads the policy index from the store as one operation of the group-commit writer that
  // runs alone (so a window new to a usage key is built from settled usage and open
  // reservations that agree) and waits for it. Not from the writer thread: there, use the
  // asynchronous form, whose `done` runs on the writer thread.
  Status reload_policies();
  void reload_policies(std::function<void(const Status&)> done);

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
  // Settles a metered request (the gateway, when the upstream answered or failed): one write
  // through the group-commit writer, as confirm() and fail(). A PENDING transaction becomes
  // CONFIRMED (metadata "final_amounts", final_amount when exactly one asset is named, usage
  // recorded per asset, BUDGET holds posted at their asset's final amount, CUSTOM `post` run
  // with post_attributes) or FAILED (used = false: everything released). An EXPIRED one that
  // was used counts late, as a late confirm does. Only the master, the system (the gateway
  // uses Actor{.system = true}) or a settlement session may settle: TX_SETTLEMENT_FORBIDDEN.
  void settle_usage(const std::string& tx_id, const Actor& actor, UsageSettlement settlement,
                    Changed done);
  void cancel(const std::string& tx_id, const Actor& actor, Changed done);
  void decide_approval(const std::string& approval_id, const Actor& actor, bool approve,
                       Changed done);
  // Read through `reader` when given (an org admin's tenant reader), else the whole store.
  Result<std::vector<boost::json::object>> list_approvals(bool pending_only, const store::Page& page,
                                                          store::Reader* reader = nullptr);

  // One sweep: expires reservations, releases DELAYed transactions, expires approvals, answers
  // long polls past their deadline. The background thread calls it; tests call it directly.
  // While another replica leads, due timers stay due (they fire once this one leads); the
  // local work (long polls, remembered idempotency keys) goes on.
  void sweep();

  engine::Engine& engine() { return engine_; }
  // Confirms that arrived after their reservation expired (counted anyway).
  std::uint64_t late_settlements() const { return late_settlements_.load(); }
  // Timers waiting: at most three per open transaction.
  std::size_t timers_pending() const;

 private:
  struct Waiter {
    std::int64_t deadline_ms;
    std::shared_ptr<Once> once;
  };
  enum class TimerKind { kExecutable, kApprovalExpiry, kTtl };
  struct Timer {
    std::int64_t due_seconds;
    std::string tx_id;
    TimerKind kind;
    auto operator<=>(const Timer&) const = default;
  };

  // Changes one transaction inside one write: `change` edits the row and its audit event.
  using Change =
      std::function<Status(store::WriteTxn&, store::TransactionRow&, store::AuditEvent&)>;
  void transition(const std::string& tx_id, const Actor& actor, Change change,
                  std::function<void(const store::TransactionRow&)> after_commit, Changed done);
  void notify_waiters(const std::string& tx_id, const boost::json::object& body);
  // Inside a transition's write: the ledger holds of a transaction that left the queue are
  // posted (CONFIRMED) or voided; the changes are applied to the ledger after the commit.
  Result<std::vector<ledger::Change>> settle_holds(store::WriteTxn& tx,
                                                   const store::TransactionRow& row,
                                                   std::int64_t now);
  // `final_amounts` (a metered settlement) names each asset's final amount; otherwise
  // final_amount applies to a single hold.
  Status charge_late(store::WriteTxn& tx, const std::string& token,
                     const store::TransactionRow& row, const std::optional<Amount>& final_amount,
                     const std::map<std::string, Amount>& final_amounts, std::int64_t now,
                     boost::json::object& details);
  // A metered settlement above a BUDGET hold: the excess is debited now, as far as the credit
  // goes (details "ledger_excess_debits" names any shortfall).
  Status charge_excess(store::WriteTxn& tx, const std::string& token,
                       const store::TransactionRow& row,
                       const std::map<std::string, Amount>& final_amounts, std::int64_t now,
                       boost::json::object& details, store::AuditEvent& e);
  void add_timer(std::int64_t due_seconds, const std::string& tx_id, TimerKind kind);
  // A settled transaction's timers go with it.
  void cancel_timers(const std::string& tx_id);
  void schedule(const store::TransactionRow& row, std::optional<std::int64_t> approval_expiry);
  // When the approval a stored QUEUED APPROVAL transaction waits for expires; none for any other.
  Result<std::optional<std::int64_t>> approval_expiry_of(const store::TransactionRow& row);
  void fire(const Timer& timer);
  // The outbox row announcing a NOTIFY/APPROVAL transaction, or nothing (no notifier, another
  // tier). `built`, when given, is transaction_json(row) already made.
  std::optional<store::OutboxRow> outbox_event(const store::TransactionRow& row, bool decided,
                                               const boost::json::object* built = nullptr);
  Status enqueue_event(store::WriteTxn& tx, const store::TransactionRow& row, bool decided);
  // After commit: wakes the notifier for an announced transaction.
  void announced(const store::TransactionRow& row);
  // Idempotency: true when the key already answers the submission (conflict, replay, or a
  // wait for the first request's commit); false when this submission claimed it.
  bool answered_by_key(const std::string& key, const std::string& request_hash,
                       const std::string& tx_id, std::int64_t now, Done& done);
  // A decision the store refused because its agent's idempotency key is already held (the table
  // did not know it: used before a restart, on another replica, or before the replay period):
  // the holder's replay, or TX_IDEMPOTENCY_CONFLICT naming it.
  Result<Answer> answer_for_held_key(const store::TransactionRow& refused);
  boost::json::object record_decision(PendingWrite& pending, const engine::Decision& d,
                                      const Submission& sub, const Actor& actor, std::int64_t now);
  void commit_decision(std::shared_ptr<PendingWrite> pending,
                       std::shared_ptr<boost::json::object> body, boost::json::value trace,
                       std::string idem_key, Done done);
  // A `post` that matched with a cooldown: (policy id, until ms), applied after the commit.
  using Cooldowns = std::vector<std::pair<std::string, std::int64_t>>;
  Status run_post_checks(store::TransactionRow& row, const std::optional<Amount>& final_amount,
                         const std::map<std::string, Amount>& final_amounts,
                         const boost::json::object& post_attributes, std::int64_t now,
                         boost::json::object& details, store::AuditEvent& e, Cooldowns& cooldowns);
  // Start-up: the `post` cooldowns still running, from the post_reasons of recent settlements.
  Status restore_cooldowns();
  Status load_policies(store::Reader& reader);
  Status recover();
  Status backfill_usage();
  void sweeper_loop();

  store::Store& store_;
  store::BatchWriter& writer_;
  const Clock& clock_;
  IdGenerator& ids_;
  const DecisionOptions options_;
  Notifier* notifier_;
  engine::Engine engine_;
  ledger::LedgerService* ledger_ = nullptr;
  std::atomic<DecisionObserver*> observer_{nullptr};

  std::mutex reload_mu_;  // reloads run one at a time so the last one reads the latest rows
  std::unique_ptr<IdempotencyTable> idempotency_;

  std::mutex waiters_mu_;
  std::multimap<std::string, Waiter> waiters_;  // by tx id; guarded by waiters_mu_

  mutable std::mutex timers_mu_;
  std::set<Timer> timers_;  // by due time; guarded by timers_mu_
  // Each open transaction's timers, so settling cancels them; guarded by timers_mu_.
  std::unordered_map<std::string, std::vector<Timer>> timers_by_tx_;
  std::atomic<std::uint64_t> late_settlements_{0};

  // Cluster mode: the leader reads every replica's open transactions due before its scan after
  // next into its timers (when it starts leading, then every kClusterTimerScanMs, so none is
  // read late; TransactionFilter::due_before); a follower checks its own due timers
  // against the store at the same pace and forgets those another replica settled.
  void cluster_timers(std::int64_t now_ms, bool leading);
  // Drops the timers and the in-memory reservation of a transaction the store has as settled;
  // false when it is still open (or cannot be read).
  bool forget_if_settled(const std::string& tx_id);
  std::int64_t cluster_scan_due_ms_ = 0;  // guarded by sweep_mu_
  bool was_leading_ = false;              // guarded by sweep_mu_
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
