// The Book: accounts of lots in memory, FIFO spending, holds, expiry, and exact undo.
#include <algorithm>
#include <cassert>
#include <limits>

#include "ledger/ledger.h"
#include "policy/policy.h"

namespace warden::ledger {
namespace {

constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();

// Every balance below is a sum of entries the book itself made: an overflow or a negative is a
// bug, never input, so it stops here rather than writing a wrong ledger.
Amount plus(const Amount& a, const Amount& b) {
  auto r = a.checked_add(b);
  assert(r.ok());
  return r.ok() ? *r : Amount::max();
}
Amount minus(const Amount& a, const Amount& b) {
  auto r = a.checked_sub(b);
  assert(r.ok());
  return r.ok() ? *r : Amount();
}

std::string account_key(const std::string& owner, const std::string& currency) {
  std::string k;
  k.reserve(owner.size() + currency.size() + 1);
  k += owner;
  k += '\n';
  k += currency;
  return k;
}

}  // namespace

std::optional<std::string> canonical_currency(std::string_view text) {
  return policy::canonical_asset(text);
}

std::string_view entry_type_name(EntryType t) {
  switch (t) {
    case EntryType::kCredit: return "credit";
    case EntryType::kDebit: return "debit";
    case EntryType::kExpire: return "expire";
    case EntryType::kHold: return "hold";
    case EntryType::kRelease: return "release";
  }
  return "credit";
}

std::string_view lot_status_name(LotStatus s) {
  switch (s) {
    case LotStatus::kActive: return "active";
    case LotStatus::kExpired: return "expired";
    case LotStatus::kDepleted: return "depleted";
  }
  return "active";
}

std::string_view change_kind_name(ChangeKind k) {
  switch (k) {
    case ChangeKind::kMint: return "mint";
    case ChangeKind::kDebit: return "debit";
    case ChangeKind::kHold: return "hold";
    case ChangeKind::kPost: return "post";
    case ChangeKind::kVoid: return "void";
    case ChangeKind::kExpire: return "expire";
  }
  return "debit";
}

// One owner's credit in one currency. Invariants (under mu): active_remaining is the sum of
// `remaining` over active lots; held is the sum of `held` over every lot; `order` lists the
// active lots in spending order.
struct Book::Account {
  std::mutex mu;
  std::string owner;
  std::string currency;
  std::map<std::string, Lot> lots;  // by id
  std::set<std::pair<std::int64_t, std::string>> order;  // (expires_at or kNever, id)
  Amount active_remaining;
  Amount held;
  std::unordered_map<std::string, Hold> holds;  // pending

  static std::pair<std::int64_t, std::string> order_key(const Lot& lot) {
    return {lot.expires_at.value_or(kNever), lot.id};
  }

  // What can be spent at now_s: active lots whose expiry has not come. Lots past it are a
  // prefix of `order`.
  Amount spendable(std::int64_t now_s) const {
    Amount out = active_remaining;
    for (const auto& [expires_at, id] : order) {
      if (expires_at > now_s) break;
      out = minus(out, lots.at(id).remaining);
    }
    return out;
  }

  Lot* find_lot(const std::string& id) {
    auto it = lots.find(id);
    return it == lots.end() ? nullptr : &it->second;
  }

  void apply_entry(const Entry& e, bool undo) {
    Lot* lot = find_lot(e.lot_id);
    if (lot == nullptr) return;  // an undone mint took its lot with it
    const bool active = lot->status == LotStatus::kActive;
    // +1 moves credit into remaining, -1 out of it; the same for held.
    int to_remaining = 0;
    int to_held = 0;
    switch (e.type) {
      case EntryType::kCredit: to_remaining = 1; break;
      case EntryType::kDebit: e.hold_id ? to_held = -1 : to_remaining = -1; break;
      case EntryType::kExpire: to_remaining = -1; break;
      case EntryType::kHold: to_remaining = -1, to_held = 1; break;
      case EntryType::kRelease: to_remaining = 1, to_held = -1; break;
    }
    if (undo) to_remaining = -to_remaining, to_held = -to_held;
    if (to_remaining > 0) {
      lot->remaining = plus(lot->remaining, e.amount);
      if (active) active_remaining = plus(active_remaining, e.amount);
    } else if (to_remaining < 0) {
      lot->remaining = minus(lot->remaining, e.amount);
      if (active) active_remaining = minus(active_remaining, e.amount);
    }
    if (to_held > 0) {
      lot->held = plus(lot->held, e.amount);
      held = plus(held, e.amount);
    } else if (to_held < 0) {
      lot->held = minus(lot->held, e.amount);
      held = minus(held, e.amount);
    }
  }

  void set_status(Lot& lot, LotStatus status) {
    if (lot.status == status) return;
    if (lot.status == LotStatus::kActive) {
      active_remaining = minus(active_remaining, lot.remaining);
      order.erase(order_key(lot));
    } else if (status == LotStatus::kActive) {
      active_remaining = plus(active_remaining, lot.remaining);
      order.insert(order_key(lot));
    }
    lot.status = status;
  }

  // After the change's entries: active lots left with nothing, and nothing held, are depleted.
  void note_depleted(Change& c) {
    for (const Entry& e : c.entries) {
      Lot* lot = find_lot(e.lot_id);
      if (lot == nullptr || lot->status != LotStatus::kActive) continue;
      if (!lot->remaining.is_zero() || !lot->held.is_zero()) continue;
      const bool noted = std::any_of(c.statuses.begin(), c.statuses.end(),
                                     [&](const auto& s) { return s.first == lot->id; });
      if (!noted) c.statuses.emplace_back(lot->id, LotStatus::kDepleted);
    }
  }
};

struct Book::Shard {
  std::mutex mu;
  std::unordered_map<std::string, std::shared_ptr<Account>> accounts;  // by account_key
};

Book::Book() : shards_(new Shard[kShards]) {}
Book::~Book() = default;

Book::Shard& Book::shard_of(const std::string& key) const {
  return shards_[std::hash<std::string>{}(key) % kShards];
}

std::shared_ptr<Book::Account> Book::account(const std::string& owner,
                                             const std::string& currency, bool create) const {
  const std::string key = account_key(owner, currency);
  Shard& sh = shard_of(key);
  std::lock_guard lock(sh.mu);
  auto it = sh.accounts.find(key);
  if (it != sh.accounts.end()) return it->second;
  if (!create) return nullptr;
  auto acct = std::make_shared<Account>();
  acct->owner = owner;
  acct->currency = currency;
  sh.accounts.emplace(key, acct);
  return acct;
}

void Book::index_lot(const Lot& lot, const std::shared_ptr<Account>& acct) {
  std::lock_guard lock(index_mu_);
  lot_index_[lot.id] = acct;
  if (lot.payment_id) payment_index_[*lot.payment_id] = lot.id;
  if (lot.expires_at && lot.status == LotStatus::kActive) {
    lot_expiries_.emplace(*lot.expires_at, lot.id);
  }
  owner_currencies_[lot.owner].insert(lot.currency);
}

void Book::index_hold(const Hold& hold, const std::shared_ptr<Account>& acct, bool add) {
  std::lock_guard lock(index_mu_);
  if (add) {
    hold_index_[hold.id] = acct;
    if (hold.expires_at != 0) hold_timeouts_.emplace(hold.expires_at, hold.id);
  } else {
    hold_index_.erase(hold.id);
    if (hold.expires_at != 0) hold_timeouts_.erase({hold.expires_at, hold.id});
  }
}

std::shared_ptr<Book::Account> Book::account_of_hold(const std::string& hold_id) const {
  std::lock_guard lock(index_mu_);
  auto it = hold_index_.find(hold_id);
  return it == hold_index_.end() ? nullptr : it->second;
}

Result<Change> Book::mint(const Lot& lot) {
  auto acct = account(lot.owner, lot.currency, true);
  std::lock_guard alock(acct->mu);
  {
    std::lock_guard lock(index_mu_);
    if (lot_index_.contains(lot.id)) {
      return Status(ErrorCode::INTERNAL_ERROR, "lot " + lot.id + " exists");
    }
    if (lot.payment_id) {
      if (auto it = payment_index_.find(*lot.payment_id); it != payment_index_.end()) {
        return Status(ErrorCode::LEDGER_PAYMENT_CONFLICT,
                      "payment " + *lot.payment_id + " already minted lot " + it->second,
                      {{"lot_id", it->second}});
      }
      payment_index_[*lot.payment_id] = lot.id;  // claimed before another account can
    }
  }
  Change c;
  c.kind = ChangeKind::kMint;
  c.owner = lot.owner;
  c.currency = lot.currency;
  Lot fresh = lot;
  fresh.remaining = Amount();
  fresh.held = Amount();
  fresh.status = LotStatus::kActive;
  c.new_lot = fresh;
  c.entries.push_back({lot.id, EntryType::kCredit, lot.amount, std::nullopt});
  apply_locked(*acct, acct, c, true);
  c.after = {acct->spendable(lot.created_at), acct->held};
  return c;
}

Result<Change> Book::debit(const std::string& owner, const std::string& currency,
                           const Amount& amount, std::int64_t now_s, bool partial) {
  return take(owner, currency, amount, partial, std::nullopt, now_s);
}

Result<Change> Book::hold(const std::string& owner, const std::string& currency,
                          const Amount& amount, bool partial, const std::string& hold_id,
                          std::int64_t expires_at_s, std::optional<std::string> tx_id,
                          std::int64_t now_s) {
  Hold h;
  h.id = hold_id;
  h.owner = owner;
  h.currency = currency;
  h.expires_at = expires_at_s;
  h.tx_id = std::move(tx_id);
  h.created_at = now_s;
  return take(owner, currency, amount, partial, std::move(h), now_s);
}

Result<Change> Book::take(const std::string& owner, const std::string& currency,
                          const Amount& amount, bool partial, std::optional<Hold> hold,
                          std::int64_t now_s) {
  auto acct = account(owner, currency, false);
  if (!acct && !hold && (amount.is_zero() || partial)) {
    Change nothing;
    nothing.owner = owner;
    nothing.currency = currency;
    return nothing;
  }
  if (!acct && !partial) {
    return Status(ErrorCode::LEDGER_BUDGET_EXCEEDED,
                  "needs " + amount.to_string() + " " + currency + ", has 0",
                  {{"currency", currency}, {"available", "0"}, {"shortfall", amount.to_string()}});
  }
  if (!acct) acct = account(owner, currency, true);
  std::lock_guard alock(acct->mu);
  const Amount available = acct->spendable(now_s);
  Amount want = amount;
  if (amount > available) {
    if (!partial) {
      return Status(ErrorCode::LEDGER_BUDGET_EXCEEDED,
                    "needs " + amount.to_string() + " " + currency + ", has " +
                        available.to_string(),
                    {{"currency", currency},
                     {"available", available.to_string()},
                     {"shortfall", minus(amount, available).to_string()}});
    }
    want = available;
  }
  Change c;
  c.kind = hold ? ChangeKind::kHold : ChangeKind::kDebit;
  c.owner = owner;
  c.currency = currency;
  const EntryType type = hold ? EntryType::kHold : EntryType::kDebit;
  Amount left = want;
  for (const auto& [expires_at, id] : acct->order) {
    if (left.is_zero()) break;
    if (expires_at <= now_s) continue;
    const Lot& lot = acct->lots.at(id);
    if (lot.remaining.is_zero()) continue;
    const Amount part = std::min(lot.remaining, left);
    c.entries.push_back({id, type, part, hold ? std::optional(hold->id) : std::nullopt});
    if (hold) hold->portions.push_back({id, part});
    left = minus(left, part);
  }
  assert(left.is_zero());
  if (hold) {
    hold->amount = want;
    c.new_hold = std::move(*hold);
  }
  apply_locked(*acct, acct, c, true);
  c.after = {acct->spendable(now_s), acct->held};
  return c;
}

Result<Change> Book::post(const std::string& hold_id, const std::optional<Amount>& amount,
                          std::int64_t now_s, bool apply) {
  return close(hold_id, amount, true, now_s, apply, "posted");
}

Result<Change> Book::void_hold(const std::string& hold_id, std::int64_t now_s, bool apply,
                               std::string_view status) {
  return close(hold_id, std::nullopt, false, now_s, apply, status);
}

Result<Change> Book::close(const std::string& hold_id, const std::optional<Amount>& amount,
                           bool post, std::int64_t now_s, bool apply, std::string_view status) {
  auto acct = account_of_hold(hold_id);
  if (!acct) return Status(ErrorCode::LEDGER_HOLD_NOT_FOUND, "no pending hold " + hold_id);
  std::lock_guard alock(acct->mu);
  auto it = acct->holds.find(hold_id);
  if (it == acct->holds.end()) {
    return Status(ErrorCode::LEDGER_HOLD_NOT_FOUND, "no pending hold " + hold_id);
  }
  const Hold& h = it->second;
  const Amount posted = post ? amount.value_or(h.amount) : Amount();
  if (posted > h.amount) {
    return Status(ErrorCode::LEDGER_AMOUNT_EXCEEDS_HOLD,
                  "posting " + posted.to_string() + " of a hold of " + h.amount.to_string(),
                  {{"held", h.amount.to_string()}});
  }
  Change c;
  c.kind = post ? ChangeKind::kPost : ChangeKind::kVoid;
  c.owner = h.owner;
  c.currency = h.currency;
  c.closed_hold = h;
  c.hold_status = std::string(status);
  if (post) c.posted = posted;
  Amount left = posted;
  for (const Portion& p : h.portions) {
    const Amount spent = std::min(p.amount, left);
    left = minus(left, spent);
    if (!spent.is_zero()) c.entries.push_back({p.lot_id, EntryType::kDebit, spent, hold_id});
    const Amount back = minus(p.amount, spent);
    if (back.is_zero()) continue;
    c.entries.push_back({p.lot_id, EntryType::kRelease, back, hold_id});
    // Credit that comes back to a lot whose time is up is expired with it.
    const Lot* lot = acct->find_lot(p.lot_id);
    if (lot && (lot->status != LotStatus::kActive || (lot->expires_at && *lot->expires_at <= now_s))) {
      c.entries.push_back({p.lot_id, EntryType::kExpire, back, std::nullopt});
      if (lot->status == LotStatus::kActive) c.statuses.emplace_back(lot->id, LotStatus::kExpired);
    }
  }
  if (apply) {
    apply_locked(*acct, acct, c, true);
  } else {
    // A plan: the statuses the change will leave, worked out on a copy of its lots.
    Account scratch;
    for (const Entry& e : c.entries) {
      const Lot* lot = acct->find_lot(e.lot_id);
      if (lot == nullptr || !scratch.lots.emplace(lot->id, *lot).second) continue;
      if (lot->status == LotStatus::kActive) {
        scratch.active_remaining = plus(scratch.active_remaining, lot->remaining);
      }
      scratch.held = plus(scratch.held, lot->held);
    }
    for (const Entry& e : c.entries) scratch.apply_entry(e, false);
    for (const auto& [id, status] : c.statuses) scratch.lots.at(id).status = status;
    scratch.note_depleted(c);
  }
  c.after = {acct->spendable(now_s), acct->held};
  if (!apply) {
    // What the balance will be once applied: held drops by the hold; released credit that
    // stays spendable comes back.
    c.after.held = minus(acct->held, h.amount);
    Amount back;
    for (const Entry& e : c.entries) {
      if (e.type == EntryType::kRelease) back = plus(back, e.amount);
      if (e.type == EntryType::kExpire) back = minus(back, e.amount);
    }
    c.after.available = plus(c.after.available, back);
  }
  return c;
}

void Book::apply(const Change& change) {
  auto acct = account(change.owner, change.currency, true);
  std::lock_guard alock(acct->mu);
  if (change.closed_hold && !acct->holds.contains(change.closed_hold->id)) return;  // applied
  // Exactly what was written: the plan's statuses, not ones worked out again now.
  Change c = change;
  apply_locked(*acct, acct, c, false);
}

void Book::apply_locked(Account& acct, const std::shared_ptr<Account>& shared, Change& c,
                        bool derive_depleted) {
  if (c.new_lot) {
    Lot lot = *c.new_lot;
    acct.lots.emplace(lot.id, lot);
    acct.order.insert(Account::order_key(lot));
    index_lot(lot, shared);
  }
  for (const Entry& e : c.entries) acct.apply_entry(e, false);
  for (const auto& [id, status] : c.statuses) {
    if (Lot* lot = acct.find_lot(id)) set_lot_status(acct, *lot, status);
  }
  if (derive_depleted && c.kind != ChangeKind::kMint) {
    const std::size_t before = c.statuses.size();
    acct.note_depleted(c);
    for (std::size_t i = before; i < c.statuses.size(); ++i) {
      if (Lot* lot = acct.find_lot(c.statuses[i].first)) {
        set_lot_status(acct, *lot, c.statuses[i].second);
      }
    }
  }
  if (c.new_hold) {
    acct.holds.emplace(c.new_hold->id, *c.new_hold);
    index_hold(*c.new_hold, shared, true);
  }
  if (c.closed_hold) {
    acct.holds.erase(c.closed_hold->id);
    index_hold(*c.closed_hold, shared, false);
  }
}

void Book::set_lot_status(Account& acct, Lot& lot, LotStatus status) {
  if (lot.status == status) return;
  const bool was_active = lot.status == LotStatus::kActive;
  acct.set_status(lot, status);
  if (lot.expires_at && (was_active || status == LotStatus::kActive)) {
    std::lock_guard lock(index_mu_);
    if (was_active) {
      lot_expiries_.erase({*lot.expires_at, lot.id});
    } else {
      lot_expiries_.emplace(*lot.expires_at, lot.id);
    }
  }
}

void Book::undo(const Change& c) {
  auto acct = account(c.owner, c.currency, true);
  std::lock_guard alock(acct->mu);
  if (c.closed_hold) {
    acct->holds.emplace(c.closed_hold->id, *c.closed_hold);
    index_hold(*c.closed_hold, acct, true);
  }
  if (c.new_hold) {
    acct->holds.erase(c.new_hold->id);
    index_hold(*c.new_hold, acct, false);
  }
  for (auto it = c.statuses.rbegin(); it != c.statuses.rend(); ++it) {
    if (Lot* lot = acct->find_lot(it->first)) set_lot_status(*acct, *lot, LotStatus::kActive);
  }
  for (auto it = c.entries.rbegin(); it != c.entries.rend(); ++it) acct->apply_entry(*it, true);
  if (c.new_lot) {
    Lot* lot = acct->find_lot(c.new_lot->id);
    if (lot != nullptr) {
      set_lot_status(*acct, *lot, LotStatus::kExpired);  // leaves order and the expiry queue
      acct->held = minus(acct->held, std::min(acct->held, lot->held));
      acct->lots.erase(lot->id);
    }
    std::lock_guard lock(index_mu_);
    lot_index_.erase(c.new_lot->id);
    if (c.new_lot->payment_id) payment_index_.erase(*c.new_lot->payment_id);
  }
}

std::vector<std::string> Book::lots_due(std::int64_t now_s) const {
  std::vector<std::string> due;
  std::lock_guard lock(index_mu_);
  for (const auto& [expires_at, id] : lot_expiries_) {
    if (expires_at > now_s) break;
    due.push_back(id);
  }
  return due;
}

std::vector<Change> Book::expire_lots(std::int64_t now_s) {
  std::vector<Change> out;
  for (const std::string& id : lots_due(now_s)) {
    Change c = revoke_lot(id, now_s);
    if (!c.empty()) out.push_back(std::move(c));
  }
  return out;
}

Change Book::revoke_lot(const std::string& lot_id, std::int64_t now_s) {
  std::shared_ptr<Account> acct;
  {
    std::lock_guard lock(index_mu_);
    auto it = lot_index_.find(lot_id);
    if (it == lot_index_.end()) return {};
    acct = it->second;
  }
  std::lock_guard alock(acct->mu);
  Lot* lot = acct->find_lot(lot_id);
  if (lot == nullptr || lot->status != LotStatus::kActive) return {};
  Change c;
  c.kind = ChangeKind::kExpire;
  c.owner = lot->owner;
  c.currency = lot->currency;
  if (!lot->remaining.is_zero()) {
    c.entries.push_back({lot_id, EntryType::kExpire, lot->remaining, std::nullopt});
  }
  c.statuses.emplace_back(lot_id, LotStatus::kExpired);
  apply_locked(*acct, acct, c, true);
  c.after = {acct->spendable(now_s), acct->held};
  return c;
}

std::vector<std::string> Book::holds_due(std::int64_t now_s) const {
  std::lock_guard lock(index_mu_);
  std::vector<std::string> out;
  for (const auto& [expires_at, id] : hold_timeouts_) {
    if (expires_at > now_s) break;
    out.push_back(id);
  }
  return out;
}

Balance Book::balance(const std::string& owner, const std::string& currency,
                      std::int64_t now_s) const {
  auto acct = account(owner, currency, false);
  if (!acct) return {};
  std::lock_guard alock(acct->mu);
  return {acct->spendable(now_s), acct->held};
}

std::map<std::string, Balance> Book::balances(const std::string& owner, std::int64_t now_s) const {
  std::set<std::string> currencies;
  {
    std::lock_guard lock(index_mu_);
    if (auto it = owner_currencies_.find(owner); it != owner_currencies_.end()) {
      currencies = it->second;
    }
  }
  std::map<std::string, Balance> out;
  for (const auto& c : currencies) out[c] = balance(owner, c, now_s);
  return out;
}

std::optional<Lot> Book::lot(const std::string& id) const {
  std::shared_ptr<Account> acct;
  {
    std::lock_guard lock(index_mu_);
    auto it = lot_index_.find(id);
    if (it == lot_index_.end()) return std::nullopt;
    acct = it->second;
  }
  std::lock_guard alock(acct->mu);
  auto it = acct->lots.find(id);
  if (it == acct->lots.end()) return std::nullopt;
  return it->second;
}

std::optional<Hold> Book::find_hold(const std::string& id) const {
  auto acct = account_of_hold(id);
  if (!acct) return std::nullopt;
  std::lock_guard alock(acct->mu);
  auto it = acct->holds.find(id);
  if (it == acct->holds.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> Book::lot_of_payment(const std::string& payment_id) const {
  std::lock_guard lock(index_mu_);
  auto it = payment_index_.find(payment_id);
  if (it == payment_index_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::shared_ptr<Book::Account>> Book::all_accounts() const {
  std::vector<std::shared_ptr<Account>> out;
  for (std::size_t i = 0; i < kShards; ++i) {
    std::lock_guard lock(shards_[i].mu);
    for (const auto& [key, acct] : shards_[i].accounts) out.push_back(acct);
  }
  return out;
}

std::vector<Lot> Book::lots() const {
  std::vector<Lot> out;
  for (const auto& acct : all_accounts()) {
    std::lock_guard alock(acct->mu);
    for (const auto& [id, lot] : acct->lots) out.push_back(lot);
  }
  std::sort(out.begin(), out.end(), [](const Lot& a, const Lot& b) { return a.id < b.id; });
  return out;
}

std::vector<Hold> Book::holds() const {
  std::vector<Hold> out;
  for (const auto& acct : all_accounts()) {
    std::lock_guard alock(acct->mu);
    for (const auto& [id, h] : acct->holds) out.push_back(h);
  }
  std::sort(out.begin(), out.end(), [](const Hold& a, const Hold& b) { return a.id < b.id; });
  return out;
}

void Book::restore_lot(const Lot& lot) {
  auto acct = account(lot.owner, lot.currency, true);
  std::lock_guard alock(acct->mu);
  acct->lots.emplace(lot.id, lot);
  if (lot.status == LotStatus::kActive) {
    acct->order.insert(Account::order_key(lot));
    acct->active_remaining = plus(acct->active_remaining, lot.remaining);
  }
  acct->held = plus(acct->held, lot.held);
  index_lot(lot, acct);
}

void Book::restore_hold(const Hold& hold) {
  auto acct = account(hold.owner, hold.currency, true);
  std::lock_guard alock(acct->mu);
  acct->holds.emplace(hold.id, hold);
  index_hold(hold, acct, true);
}

std::vector<Hold> Book::replace_owner(const std::string& owner, const std::vector<Lot>& lots,
                                      const std::vector<Hold>& holds) {
  // The owner's accounts: every one it has now (an account may hold only holds, so the shards
  // are walked rather than owner_currencies_, which knows accounts with lots) and one for each
  // currency the rows name.
  std::map<std::string, std::shared_ptr<Account>> accounts;  // by currency
  for (std::size_t i = 0; i < kShards; ++i) {
    std::lock_guard lock(shards_[i].mu);
    for (const auto& [key, acct] : shards_[i].accounts) {
      if (acct->owner == owner) accounts.emplace(acct->currency, acct);
    }
  }
  for (const Lot& lot : lots) {
    if (!accounts.contains(lot.currency)) {
      accounts.emplace(lot.currency, account(owner, lot.currency, true));
    }
  }
  for (const Hold& hold : holds) {
    if (!accounts.contains(hold.currency)) {
      accounts.emplace(hold.currency, account(owner, hold.currency, true));
    }
  }
  std::vector<Hold> dropped;
  for (const auto& [currency, acct] : accounts) {
    std::lock_guard alock(acct->mu);
    std::lock_guard lock(index_mu_);
    // Forget what the account had: its lots and holds, and every index entry naming them.
    for (const auto& [id, lot] : acct->lots) {
      if (auto it = lot_index_.find(id); it != lot_index_.end() && it->second == acct) {
        lot_index_.erase(it);
      }
      if (lot.payment_id) {
        if (auto it = payment_index_.find(*lot.payment_id);
            it != payment_index_.end() && it->second == id) {
          payment_index_.erase(it);
        }
      }
      if (lot.expires_at) lot_expiries_.erase({*lot.expires_at, id});
    }
    for (const auto& [id, hold] : acct->holds) {
      hold_index_.erase(id);
      if (hold.expires_at != 0) hold_timeouts_.erase({hold.expires_at, id});
      dropped.push_back(hold);
    }
    acct->lots.clear();
    acct->order.clear();
    acct->active_remaining = Amount();
    acct->held = Amount();
    acct->holds.clear();
    // What the store has, as restore_lot() and restore_hold() add it.
    bool has_lots = false;
    for (const Lot& lot : lots) {
      if (lot.currency != currency) continue;
      has_lots = true;
      acct->lots.emplace(lot.id, lot);
      if (lot.status == LotStatus::kActive) {
        acct->order.insert(Account::order_key(lot));
        acct->active_remaining = plus(acct->active_remaining, lot.remaining);
        if (lot.expires_at) lot_expiries_.emplace(*lot.expires_at, lot.id);
      }
      acct->held = plus(acct->held, lot.held);
      lot_index_[lot.id] = acct;
      if (lot.payment_id) payment_index_[*lot.payment_id] = lot.id;
    }
    if (has_lots) owner_currencies_[owner].insert(currency);
    for (const Hold& hold : holds) {
      if (hold.currency != currency) continue;
      acct->holds.emplace(hold.id, hold);
      hold_index_[hold.id] = acct;
      if (hold.expires_at != 0) hold_timeouts_.emplace(hold.expires_at, hold.id);
    }
  }
  return dropped;
}

}  // namespace warden::ledger
