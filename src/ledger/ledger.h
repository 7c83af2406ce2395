// The ledger module's public API: credit lots, exact FIFO debits, two-phase holds (pending ->
// post | void, with timeouts) and lot expiry, kept in memory as a Book and written through the
// group-commit writer by the LedgerService (service.h). docs/ledger.md explains the model.
//
// The Book is the hot path: every operation checks and changes balances atomically in memory
// under its account's lock and returns a Change, the append-only entries it made; the service
// writes that change and answers only after the commit, or undoes it when the write fails. A
// hold always counts: it leaves `remaining` the moment it is taken and comes back only when it
// is voided, released by post, or expires.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/amount.h"
#include "core/status.h"

namespace warden::ledger {

inline constexpr std::size_t kIdempotencyKeyBytesMax = 128;
inline constexpr std::size_t kPaymentIdBytesMax = 128;

// A currency: "native", a token address (policy::canonical_asset), or a code of 2 to 16
// upper-case letters, digits and '_' starting with a letter ("USD", "CREDITS"). The same
// spelling a BUDGET policy's asset and a request's amounts use.
std::optional<std::string> canonical_currency(std::string_view text);

enum class EntryType : std::uint8_t { kCredit, kDebit, kExpire, kHold, kRelease };
std::string_view entry_type_name(EntryType t);  // kLotEntryTypes spelling

enum class LotStatus : std::uint8_t { kActive, kExpired, kDepleted };
std::string_view lot_status_name(LotStatus s);

// One entry an operation appended. Per lot: remaining = credit - expire - debit without hold -
// hold + release; held = hold - release - debit with hold.
struct Entry {
  std::string lot_id;
  EntryType type = EntryType::kCredit;
  Amount amount;
  std::optional<std::string> hold_id;
};

struct Lot {
  std::string id;  // UUID v7
  std::string owner;
  std::string currency;
  std::string source;  // kLotSources
  Amount amount;       // credited
  Amount remaining;    // spendable (zero once expired)
  Amount held;         // under pending holds
  std::optional<std::int64_t> expires_at;  // Unix seconds; spendable while now < expires_at
  LotStatus status = LotStatus::kActive;
  std::optional<std::string> payment_id;
  std::int64_t created_at = 0;
};

// What one pending hold took from each lot, in the order it took it.
struct Portion {
  std::string lot_id;
  Amount amount;
};

struct Hold {
  std::string id;
  std::string owner;
  std::string currency;
  Amount amount;  // the sum of the portions
  std::vector<Portion> portions;
  std::int64_t expires_at = 0;  // Unix seconds; 0: no timeout (a decision's hold)
  std::optional<std::string> tx_id;
  std::int64_t created_at = 0;
};

struct Balance {
  Amount available;  // spendable now (lots active and not past their expiry)
  Amount held;       // under pending holds
};

enum class ChangeKind : std::uint8_t { kMint, kDebit, kHold, kPost, kVoid, kExpire };
std::string_view change_kind_name(ChangeKind k);  // kLedgerOpKinds spelling

// What an operation did: the entries to append, the lots whose status moved, the lot or hold it
// created and the hold it closed. Book::undo() takes it back exactly.
struct Change {
  ChangeKind kind = ChangeKind::kDebit;
  std::string owner;
  std::string currency;
  std::vector<Entry> entries;
  std::vector<std::pair<std::string, LotStatus>> statuses;  // lot id -> new status
  std::optional<Lot> new_lot;
  std::optional<Hold> new_hold;
  // Post, void or a hold's expiry: the hold as it was, the status it moved to (kHoldStatuses)
  // and, for post, the amount posted.
  std::optional<Hold> closed_hold;
  std::string hold_status;
  std::optional<Amount> posted;
  Balance after;  // the account's balance right after the change
  bool empty() const { return entries.empty() && statuses.empty() && !new_lot && !new_hold && !closed_hold; }
};

// The owner's account in one currency is short: what it has and what it would need more.
struct Shortfall {
  Amount available;
  Amount shortfall;
};

// Thread-safe. Operations on one (owner, currency) account serialise on its mutex; different
// accounts never share a lock. Owners are not checked here (the service does).
class Book {
 public:
  Book();
  ~Book();
  Book(const Book&) = delete;
  Book& operator=(const Book&) = delete;

  // Adds a new lot (remaining = amount). LEDGER_PAYMENT_CONFLICT (details.lot_id) when its
  // payment id already minted a lot.
  Result<Change> mint(const Lot& lot);
  // Takes `amount` first-expiring-first (then oldest first) across the account's spendable
  // lots, splitting across them. LEDGER_BUDGET_EXCEEDED with details {available, shortfall}
  // and nothing changed when they hold less.
  // `partial` takes what there is instead (possibly nothing): for what was already spent.
  Result<Change> debit(const std::string& owner, const std::string& currency,
                       const Amount& amount, std::int64_t now_s, bool partial = false);
  // Moves `amount` from remaining to held, first-expiring-first. When the lots hold less:
  // LEDGER_BUDGET_EXCEEDED, unless `partial`, which holds what there is (possibly nothing).
  Result<Change> hold(const std::string& owner, const std::string& currency, const Amount& amount,
                      bool partial, const std::string& hold_id, std::int64_t expires_at_s,
                      std::optional<std::string> tx_id, std::int64_t now_s);
  // Post: `amount` (<= held; nullopt: all of it) becomes debits with the hold's id, taken from
  // its portions in order; the rest is released. Void: everything is released. Released credit
  // that lands in an expired lot is expired at once. LEDGER_HOLD_NOT_FOUND when the hold is not
  // pending, LEDGER_AMOUNT_EXCEEDS_HOLD when amount > held. `apply` false only plans (nothing
  // changes; apply(change) later makes it so).
  Result<Change> post(const std::string& hold_id, const std::optional<Amount>& amount,
                      std::int64_t now_s, bool apply = true);
  Result<Change> void_hold(const std::string& hold_id, std::int64_t now_s, bool apply = true,
                           std::string_view status = "voided");
  // Applies a change planned with apply = false.
  void apply(const Change& change);
  // Takes back a change this book made (its write failed). Undo changes in the reverse order
  // they were made.
  void undo(const Change& change);

  // Lots whose expiry has come (now >= expires_at) and that still have remaining credit, or
  // are still active: one change each, applied. Pending holds on them stay until they end.
  std::vector<Change> expire_lots(std::int64_t now_s);
  // Ids of active lots whose expiry has come (expires_at <= now), first to expire first: what
  // expire_lots() revokes, for a caller that revokes them one by one (revoke_lot).
  std::vector<std::string> lots_due(std::int64_t now_s) const;
  // Takes back what a lot has left, now (its payment was refunded or failed): an expire entry
  // for its remaining credit and status expired, applied. Credit already spent stays spent;
  // pending holds on it stay until they end, and what they release is expired then. An empty
  // change when the lot is unknown or no longer active.
  Change revoke_lot(const std::string& lot_id, std::int64_t now_s);
  // Ids of pending holds whose timeout has come (expires_at != 0 and <= now), oldest first.
  std::vector<std::string> holds_due(std::int64_t now_s) const;

  Balance balance(const std::string& owner, const std::string& currency, std::int64_t now_s) const;
  // Every currency the owner has had a lot in, with its balance.
  std::map<std::string, Balance> balances(const std::string& owner, std::int64_t now_s) const;
  std::optional<Lot> lot(const std::string& id) const;
  std::optional<Hold> find_hold(const std::string& id) const;
  std::optional<std::string> lot_of_payment(const std::string& payment_id) const;
  // Every lot (reconciliation, tests), in id order.
  std::vector<Lot> lots() const;
  std::vector<Hold> holds() const;

  // Start-up: a lot as the store has it (remaining and held from its entries) and a pending hold.
  void restore_lot(const Lot& lot);
  void restore_hold(const Hold& hold);
  // Replaces everything the book knows of `owner`, in every currency (its lots, its pending
  // holds and their indexes: lot and hold ids, payment ids, expiries and timeouts), with `lots`
  // and `holds` as the store has them now: in a store several replicas write, what the others
  // minted, spent, held or released. Each of the owner's accounts is replaced under its own lock
  // (an operation on it sees it before or after, never half done); other owners' accounts are
  // not touched. Returns the pending holds it dropped. The caller makes sure no change of the
  // owner that these rows do not have is in the book meanwhile (LedgerService::refresh_owner).
  std::vector<Hold> replace_owner(const std::string& owner, const std::vector<Lot>& lots,
                                  const std::vector<Hold>& holds);

 private:
  struct Account;
  struct Shard;
  static constexpr std::size_t kShards = 64;

  std::shared_ptr<Account> account(const std::string& owner, const std::string& currency,
                                   bool create) const;
  Shard& shard_of(const std::string& key) const;
  std::vector<std::shared_ptr<Account>> all_accounts() const;
  void index_hold(const Hold& hold, const std::shared_ptr<Account>& acct, bool add);
  std::shared_ptr<Account> account_of_hold(const std::string& hold_id) const;
  void index_lot(const Lot& lot, const std::shared_ptr<Account>& acct);
  // Debit (no hold) or hold: FIFO over the spendable lots.
  Result<Change> take(const std::string& owner, const std::string& currency, const Amount& amount,
                      bool partial, std::optional<Hold> hold, std::int64_t now_s);
  Result<Change> close(const std::string& hold_id, const std::optional<Amount>& amount, bool post,
                       std::int64_t now_s, bool apply, std::string_view status);
  // Applies c under acct's lock; with derive_depleted, adds to c the lots it left empty.
  void apply_locked(Account& acct, const std::shared_ptr<Account>& shared, Change& c,
                    bool derive_depleted);
  void set_lot_status(Account& acct, Lot& lot, LotStatus status);

  std::unique_ptr<Shard[]> shards_;
  // lot id / hold id / payment id -> account; the timeouts. Guarded by index_mu_.
  mutable std::mutex index_mu_;
  std::unordered_map<std::string, std::shared_ptr<Account>> lot_index_;
  std::unordered_map<std::string, std::shared_ptr<Account>> hold_index_;
  std::unordered_map<std::string, std::string> payment_index_;  // payment id -> lot id
  std::unordered_map<std::string, std::set<std::string>> owner_currencies_;
  std::set<std::pair<std::int64_t, std::string>> lot_expiries_;   // (expires_at, lot id)
  std::set<std::pair<std::int64_t, std::string>> hold_timeouts_;  // (expires_at, hold id)
};

}  // namespace warden::ledger
