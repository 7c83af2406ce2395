// The ledger service: the Book's operations made durable and idempotent. Each operation changes
// the Book in memory, writes its entries, its operation row (the idempotency record) and an
// audit row through the group-commit writer, and answers after the commit; a failed write is
// undone in memory. Start-up rebuilds the Book from the rows. A sweeper expires lots and times
// out holds. BUDGET decisions hold through the engine::Budgets side of it, and the decision
// service writes and settles those holds inside its own transactions.
#pragma once

#include <atomic>
#include <boost/json/object.hpp>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "core/ids.h"
#include "engine/engine.h"
#include "ledger/ledger.h"
#include "store/batch_writer.h"
#include "store/leadership.h"
#include "store/store.h"

namespace warden::ledger {

struct LedgerOptions {
  std::int64_t sweep_interval_ms = 1000;      // lot expiry and hold timeouts
  std::int64_t hold_ttl_seconds_default = 3600;
  std::int64_t hold_ttl_seconds_max = 30 * 86'400;
  // Keys are answered from memory this long, and at most this many of them; older ones from the
  // store, where they never expire (a retry that memory forgot is found there: exact, slower).
  // The bound keeps memory flat under any rate: about 0.5 KiB a key.
  std::int64_t idempotency_memory_seconds = 600;
  std::size_t idempotency_memory_keys_max = 100'000;
  bool start_sweeper = true;
  // Lots expire and holds time out only while this leads (one replica sweeps); nullptr: always.
  const store::Leadership* leadership = nullptr;
  // Cluster mode: other replicas write the same store, so the Book in memory may not know what
  // they minted, spent, held or released. The store still refuses any overspend
  // (lots_within_credit); with this set the Book catches up with it: an operation refused here
  // for lack of credit refreshes its owner from the store and tries once more, a write the
  // store refused (for lack of credit, a hold already closed, ...) makes the owner's next
  // operation refresh first, a settlement checks the holds it closes against the store, and a
  // reservation decided by another replica is settled from the store's holds. False: the Book
  // is the whole truth (one process writes the store).
  bool shared_store = false;
};

// Who asks, for the audit row.
struct Caller {
  std::string actor = "master";  // "master", "system", "agent:<id>", "webhook:<provider>"
  std::string correlation_id;
  std::string ip_address;
};

struct MintRequest {
  std::string owner;
  Amount amount;
  std::string currency;  // canonical_currency
  std::string source;    // kLotSources
  std::optional<std::string> payment_id;
  std::optional<std::int64_t> expires_at;  // Unix seconds, in the future
  std::string idempotency_key;
};

struct DebitRequest {
  std::string owner;
  Amount amount;
  std::string currency;
  std::string idempotency_key;
};

struct HoldRequest {
  std::string owner;
  Amount amount;
  std::string currency;
  std::optional<std::int64_t> ttl_seconds;  // default options.hold_ttl_seconds_default
  std::string idempotency_key;
};

// An HTTP-shaped answer: status and body.
struct Answer {
  int status = 201;
  boost::json::object body;
  bool replay = false;  // a retry answered with the first result
};

// A payment as one provider event reports it (docs/ledger.md, "Payment webhooks").
struct PaymentEvent {
  std::string provider;
  std::string event_id;
  std::string payment_id;  // the provider's id
  std::string owner;
  Amount amount;
  std::string currency;
  std::string status;  // kPaymentStatuses
  std::optional<std::int64_t> expires_at;  // of the lot it mints
  std::string payload;  // the body as received
  std::int64_t created = 0;  // when the provider made the event (Unix seconds; audited)
};

// Forward-only order of payment statuses; failed and refunded end a payment.
int payment_status_rank(std::string_view status);
// The checks payment_event() makes before anything is written: WEBHOOK_PAYLOAD_INVALID with
// details {field (as the webhook body names it), reason (the failed check's code)}.
Status check_payment_event(const PaymentEvent& event);

// A hold as its row has it (without portions: the entries keep what each lot gave).
Result<Hold> hold_from_row(const store::HoldRow& row);

boost::json::object lot_json(const Lot& lot);
boost::json::object hold_json(const Hold& hold, std::string_view status,
                              const std::optional<Amount>& posted = std::nullopt);
boost::json::object balance_json(const std::string& owner, const std::string& currency,
                                 const Balance& b);

// Thread-safe.
class LedgerService final : public engine::Budgets {
 public:
  using Done = std::function<void(Result<Answer>)>;

  LedgerService(store::Store& store, store::BatchWriter& writer, const Clock& clock,
                IdGenerator& ids, LedgerOptions options);
  ~LedgerService() override;

  // Rebuilds the Book (lots with their balances, pending holds) and recent idempotency keys
  // from the store, then starts the sweeper.
  Status start();
  void stop();

  // Each answers after its write committed: 201 with the result, the first result again for a
  // retried key (replay), IDEMPOTENCY_KEY_REUSED for a key with other arguments.
  void mint(MintRequest request, const Caller& caller, Done done);
  void debit(DebitRequest request, const Caller& caller, Done done);
  void hold(HoldRequest request, const Caller& caller, Done done);
  // Post (amount nullopt: all of it) and void are idempotent by hold id: repeating the same
  // one answers it again; another on a closed hold is LEDGER_HOLD_NOT_PENDING.
  void post(const std::string& hold_id, std::optional<Amount> amount, const Caller& caller,
            Done done);
  void void_hold(const std::string& hold_id, const Caller& caller, Done done);
  // A verified provider event: stored once per (provider, event id); moves the payment's status
  // forward (an older status is stored and ignored) and mints the payment's lot once it is
  // confirmed. 200 with {event_id, duplicate, payment}.
  void payment_event(PaymentEvent event, const Caller& caller, Done done);

  // {owner, currency, available, held} (decimal strings). With shared_store the owner is read
  // from the store first (other replicas may have changed it), unless a change of it is in
  // flight here.
  boost::json::object balance(const std::string& owner, const std::string& currency);
  std::map<std::string, Balance> balances(const std::string& owner);
  bool shared_store() const { return options_.shared_store; }
  Book& book() { return book_; }

  // One sweep: expires lots past their expiry, times out holds. The sweeper calls it; tests
  // call it directly. Waits for its writes. While another replica leads, it only forgets old
  // idempotency keys.
  void sweep();

  // engine::Budgets: a BUDGET decision's holds, taken in memory under the agent's lock.
  Result<std::vector<engine::BudgetHeld>> hold_for(const std::string& agent_id,
                                                   const std::vector<engine::BudgetNeed>& needs,
                                                   const std::string& reservation_id,
                                                   std::int64_t now_ms) override;
  Amount available(const std::string& agent_id, const std::string& asset,
                   std::int64_t now_ms) override;

  // The decision service's side. In the decision's write: the holds hold_for() took for it.
  Status write_reservation(store::WriteTxn& tx, const std::string& reservation_id,
                           std::int64_t now_s);
  // After that write: kept (ok) or taken back in memory (the decision was not stored).
  void reservation_written(const std::string& reservation_id, bool ok);
  // In a settlement's write: posts (confirm; final nullopt = as held) or voids the
  // reservation's holds and writes the entries; returns the planned changes, which the caller
  // applies with settled() after its commit. None when the reservation has no pending hold.
  // `owner` (the reservation's agent) is given when the reservation may hold BUDGET credit:
  // with shared_store, a reservation this replica does not know (another replica decided it)
  // is then looked up in the store by its owner's pending holds.
  Result<std::vector<Change>> settle_reservation(store::WriteTxn& tx,
                                                 const std::string& reservation_id,
                                                 const std::optional<std::string>& owner,
                                                 bool confirm,
                                                 const std::optional<Amount>& final_amount,
                                                 std::int64_t now_s);
  // Confirms a metered request's reservation per asset: each hold posts the final amount of
  // its currency, capped at what it holds (the caller debits any excess, as charge_late does);
  // a currency not named posts as held.
  Result<std::vector<Change>> settle_reservation(store::WriteTxn& tx,
                                                 const std::string& reservation_id,
                                                 const std::optional<std::string>& owner,
                                                 const std::map<std::string, Amount>& final_amounts,
                                                 std::int64_t now_s);
  void settled(const std::vector<Change>& changes);
  // A confirm that came after its reservation expired (its holds were voided then): what was
  // spent is debited now, in the confirm's write, as far as the credit goes (what it does not
  // cover is returned as the shortfall). The book changes at once; a rerun of the write (same
  // `token`, one per confirm request) reuses the same debits; late_charged() keeps them (ok) or
  // undoes them.
  struct LateCharge {
    std::string asset;
    Amount amount;
  };
  Result<std::vector<Change>> charge_late(store::WriteTxn& tx, const std::string& token,
                                          const std::string& reservation_id,
                                          const std::string& agent_id,
                                          const std::vector<LateCharge>& charges,
                                          std::int64_t now_s);
  void late_charged(const std::string& token, bool ok);
  // The reservation's pending holds (for a decision's answer).
  std::vector<Hold> holds_of(const std::string& reservation_id) const;

  std::uint64_t operations() const { return operations_.load(std::memory_order_relaxed); }

  // Replaces what the Book knows of `owner` (every currency: lots with their balances, pending
  // holds, and which reservation each hold belongs to) with what the store has now. True when
  // it did; false when a change of the owner is still in flight (applied in memory, its write
  // not final), which a refresh would lose or count twice: the owner is then marked stale and
  // its next operation with nothing in flight refreshes first. See "Freshness" in service.cc.
  Result<bool> refresh_owner(const std::string& owner);
  static constexpr std::int64_t kClusterScanSeconds = 5;

 private:
  // What one pending hold of a settled reservation posts (nullopt: as held); `holds` is how
  // many the reservation has.
  using PostedOf = std::function<std::optional<Amount>(const Hold& hold, std::size_t holds)>;
  Result<std::vector<Change>> close_reservation(store::WriteTxn& tx,
                                                const std::string& reservation_id,
                                                const std::optional<std::string>& owner,
                                                bool confirm, const PostedOf& posted_of,
                                                std::int64_t now_s);
  // Writes the close of each of `ids` that `book` has pending; the changes to apply after the
  // commit.
  Result<std::vector<Change>> close_holds(store::WriteTxn& tx, Book& book,
                                          const std::vector<std::string>& ids,
                                          const std::string& reservation_id, bool confirm,
                                          const PostedOf& posted_of, std::int64_t now_s);

  // ---- Freshness (shared_store only; every one is a no-op otherwise) ----
  // The owner's lots and pending holds as the store has them now, read until they agree with
  // each other (each lot's held is what the pending holds on it took).
  struct OwnerRows {
    std::vector<Lot> lots;
    std::vector<Hold> holds;
  };
  Result<OwnerRows> read_owner(const std::string& owner);
  // Before a change of `owner` is made in the Book: waits out a refresh of the owner under
  // way, refreshes a stale owner first when `may_refresh` and nothing of it is in flight, and
  // counts the change in flight until leave().
  void enter(const std::string& owner, bool may_refresh = true);
  // The change's write is final (kept, or undone in the Book), or nothing was changed.
  void leave(const std::string& owner);
  // The store refused a write of the owner for lack of credit: its Book is behind.
  void mark_stale(const std::string& owner);
  struct FreshShard;
  // Called with the owner's shard locked in `lock`, nothing of the owner in flight and no
  // refresh of it under way: reads the owner's rows and swaps them into the Book (the lock is
  // released for the reads); the owner stays stale when that fails.
  Status refresh_locked(FreshShard& shard, std::unique_lock<std::mutex>& lock,
                        const std::string& owner);
  // A change entered for `owner` that the Book refused for lack of credit (`refused`): with
  // shared_store, leaves, refreshes the owner and enters again, true when it did (try again).
  bool refreshed_after(const Status& refused, const std::string& owner);
  // The same for a caller entered for `owner` with nothing of its own in the Book: true when
  // the owner was refreshed.
  bool refresh_entered(const std::string& owner);
  struct KeyTable;
  struct Op;  // service.cc: one operation on its way through the writer
  struct PaymentRun;  // payments.cc: one provider event on its way through the writer

  // payments.cc: one run of a payment event's write (the writer may run it more than once).
  Status write_payment_event(store::WriteTxn& tx, PaymentRun& run);

  // Claims `key` for an operation with `request_hash`: true when this caller owns it; false
  // when `done` was answered (replay, conflict) or queued behind the first request.
  bool claimed(const std::string& key, const std::string& request_hash, Done& done);
  // Writes the op's change with its op row and audit row; answers after the commit, or undoes
  // the change in memory.
  void commit(std::shared_ptr<Op> op, Done done);
  void close_hold(const std::string& hold_id, bool post, std::optional<Amount> amount,
                  const Caller& caller, Done done);
  std::shared_ptr<Op> new_op(Change change, const std::string& hash, std::string audit_type,
                             const Caller& caller, std::int64_t now);
  void refuse(const std::string& key, const std::string& hash, Status refusal, Done& done);
  // The first answer the store keeps for `key`, or `refusal` when it has none.
  Result<Answer> stored_answer(const std::string& key, const std::string& request_hash,
                               Status refusal);
  Status write_change(store::WriteTxn& tx, const Change& change, const std::string& op_id,
                      std::optional<std::string> tx_id, std::int64_t now_s) const;
  Result<bool> owner_exists(const std::string& owner);
  // OK for an agent; LEDGER_OWNER_UNKNOWN (details.field "owner") otherwise.
  Status check_owner(const std::string& owner);
  void sweeper_loop();
  void discover_due(std::int64_t now);  // cluster mode: due rows other replicas created
  std::int64_t next_cluster_scan_s_ = 0;  // only the sweeping thread touches it

  store::Store& store_;
  store::BatchWriter& writer_;
  const Clock& clock_;
  IdGenerator& ids_;
  const LedgerOptions options_;
  Book book_;
  std::unique_ptr<KeyTable> keys_;

  mutable std::mutex reservations_mu_;
  // A decision's hold changes until its write commits; guarded by reservations_mu_.
  std::unordered_map<std::string, std::vector<Change>> unwritten_;
  // reservation (transaction) id -> its pending hold ids; guarded by reservations_mu_.
  std::unordered_map<std::string, std::vector<std::string>> reservation_holds_;
  // A late confirm's debits by its token until its write commits (a rerun reuses them);
  // guarded by reservations_mu_.
  std::unordered_map<std::string, std::vector<Change>> late_debits_;

  // Per owner, only with shared_store. An owner is listed while it has a change in flight, is
  // stale or is being refreshed. Sharded by owner, as the Book's accounts are, so that every
  // operation's enter() and leave() do not meet on one lock.
  struct Freshness {
    std::size_t in_flight = 0;
    bool stale = false;
    bool refreshing = false;
  };
  struct FreshShard {
    std::mutex mu;
    std::condition_variable refreshed;                  // a refresh of one of its owners ended
    std::unordered_map<std::string, Freshness> owners;  // guarded by mu
  };
  static constexpr std::size_t kFreshShards = 64;
  FreshShard& fresh_of(const std::string& owner);
  std::unique_ptr<FreshShard[]> fresh_;

  std::mutex owners_mu_;
  std::unordered_map<std::string, bool> owners_;  // agent id -> exists; guarded by owners_mu_

  std::atomic<std::uint64_t> operations_{0};
  std::mutex sweeper_mu_;
  std::condition_variable sweeper_cv_;
  bool stopping_ = false;  // guarded by sweeper_mu_
  std::thread sweeper_;
};

}  // namespace warden::ledger
