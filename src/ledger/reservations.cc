// The BUDGET holds of decisions: taken in memory under the engine's agent lock (hold_for), written
// in the decision's own transaction, and posted or voided inside the transition that settles the
// decision, applied to the Book after its commit.
#include "ledger/internal.h"

namespace warden::ledger {

Result<std::vector<engine::BudgetHeld>> LedgerService::hold_for(
    const std::string& agent_id, const std::vector<engine::BudgetNeed>& needs,
    const std::string& reservation_id, std::int64_t now_ms) {
  const std::int64_t now = now_ms / 1000;
  if (needs.empty()) return std::vector<engine::BudgetHeld>{};
  std::vector<Change> taken;
  std::vector<engine::BudgetHeld> out;
  std::vector<std::string> ids;
  // All or none; a refusal for lack of credit is tried once more after a refresh (shared_store),
  // and so is a partial need that got less than it asked for.
  bool short_of_need = false;
  auto take_all = [&]() -> Status {
    short_of_need = false;
    for (const auto& need : needs) {
      const std::string hold_id = ids_.next();
      auto r = book_.hold(agent_id, need.asset, need.amount, need.partial, hold_id, 0,
                          reservation_id, now);
      if (!r.ok()) {
        for (auto it = taken.rbegin(); it != taken.rend(); ++it) book_.undo(*it);
        taken.clear();
        out.clear();
        ids.clear();
        return r.status();
      }
      if (r->new_hold->amount < need.amount) short_of_need = true;
      out.push_back({hold_id, need.asset, need.amount, r->new_hold->amount, need.policy_id});
      ids.push_back(hold_id);
      taken.push_back(std::move(*r));
    }
    return Status();
  };
  // In flight until reservation_written().
  enter(agent_id);
  Status s = take_all();
  if (s.ok() && short_of_need && options_.shared_store) {
    for (auto it = taken.rbegin(); it != taken.rend(); ++it) book_.undo(*it);
    taken.clear();
    out.clear();
    ids.clear();
    refresh_entered(agent_id);
    s = take_all();
  } else if (!s.ok() && refreshed_after(s, agent_id)) {
    s = take_all();
  }
  if (!s.ok()) {
    leave(agent_id);
    return s;
  }
  std::lock_guard lock(reservations_mu_);
  unwritten_[reservation_id] = std::move(taken);
  reservation_holds_[reservation_id] = std::move(ids);
  return out;
}

Amount LedgerService::available(const std::string& agent_id, const std::string& asset,
                                std::int64_t now_ms) {
  return book_.balance(agent_id, asset, now_ms / 1000).available;
}

Status LedgerService::write_reservation(store::WriteTxn& tx, const std::string& reservation_id,
                                        std::int64_t now_s) {
  std::vector<Change> changes;
  {
    std::lock_guard lock(reservations_mu_);
    auto it = unwritten_.find(reservation_id);
    if (it == unwritten_.end()) return Status();
    changes = it->second;
  }
  for (const Change& c : changes) {
    store::LedgerOpRow row;
    row.id = ids_.next();
    row.kind = "hold";
    row.result = canonical_json(hold_json(*c.new_hold, "pending"));
    row.created_at = now_s;
    WARDEN_RETURN_IF_ERROR(tx.insert_ledger_op(row));
    Status s = write_change(tx, c, row.id, reservation_id, now_s);
    // The store refused what the Book allowed: another replica spent that credit.
    if (s.code() == ErrorCode::LEDGER_BUDGET_EXCEEDED) mark_stale(c.owner);
    WARDEN_RETURN_IF_ERROR(s);
  }
  return Status();
}

void LedgerService::reservation_written(const std::string& reservation_id, bool ok) {
  std::vector<Change> changes;
  {
    std::lock_guard lock(reservations_mu_);
    auto it = unwritten_.find(reservation_id);
    if (it == unwritten_.end()) return;
    changes = std::move(it->second);
    unwritten_.erase(it);
    if (!ok) reservation_holds_.erase(reservation_id);
  }
  if (ok) {
    operations_.fetch_add(changes.size(), std::memory_order_relaxed);
  } else {
    for (auto it = changes.rbegin(); it != changes.rend(); ++it) book_.undo(*it);
  }
  if (!changes.empty()) leave(changes.front().owner);
}

Result<std::vector<Change>> LedgerService::settle_reservation(
    store::WriteTxn& tx, const std::string& reservation_id, const std::optional<std::string>& owner,
    bool confirm, const std::optional<Amount>& final_amount, std::int64_t now_s) {
  // One hold settles at the final amount (capped by what it holds); several, as held.
  return close_reservation(
      tx, reservation_id, owner, confirm,
      [&](const Hold& hold, std::size_t holds) -> std::optional<Amount> {
        if (!final_amount || holds != 1) return std::nullopt;
        return std::min(*final_amount, hold.amount);
      },
      now_s);
}

Result<std::vector<Change>> LedgerService::settle_reservation(
    store::WriteTxn& tx, const std::string& reservation_id, const std::optional<std::string>& owner,
    const std::map<std::string, Amount>& final_amounts, std::int64_t now_s) {
  return close_reservation(
      tx, reservation_id, owner, true,
      [&](const Hold& hold, std::size_t) -> std::optional<Amount> {
        auto it = final_amounts.find(hold.currency);
        if (it == final_amounts.end()) return std::nullopt;
        return std::min(it->second, hold.amount);
      },
      now_s);
}

Result<std::vector<Change>> LedgerService::close_reservation(
    store::WriteTxn& tx, const std::string& reservation_id, const std::optional<std::string>& owner,
    bool confirm, const PostedOf& posted_of, std::int64_t now_s) {
  auto holds_of_reservation = [&]() -> std::optional<std::vector<std::string>> {
    std::lock_guard lock(reservations_mu_);
    auto it = reservation_holds_.find(reservation_id);
    if (it == reservation_holds_.end()) return std::nullopt;
    return it->second;
  };
  std::optional<std::vector<std::string>> ids = holds_of_reservation();
  if (!ids && options_.shared_store && owner) {
    // Another replica decided it: its holds are in the store. Refreshed, this Book settles them
    // like its own. With a change of the owner in flight (maybe in this very batch) the Book
    // cannot be refreshed now: the holds are planned on a Book of the owner's stored rows
    // alone, and settled() leaves this Book alone for holds it does not have (the owner is
    // stale, and its next operation refreshes it).
    WARDEN_ASSIGN_OR_RETURN(const bool refreshed, refresh_owner(*owner));
    if (refreshed) {
      ids = holds_of_reservation();
    } else {
      WARDEN_ASSIGN_OR_RETURN(OwnerRows rows, read_owner(*owner));
      Book stored;
      std::vector<std::string> stored_ids;
      for (const Lot& lot : rows.lots) stored.restore_lot(lot);
      for (const Hold& h : rows.holds) {
        stored.restore_hold(h);
        if (h.tx_id == reservation_id) stored_ids.push_back(h.id);
      }
      return close_holds(tx, stored, stored_ids, reservation_id, confirm, posted_of, now_s);
    }
  }
  if (!ids) return std::vector<Change>{};
  return close_holds(tx, book_, *ids, reservation_id, confirm, posted_of, now_s);
}

Result<std::vector<Change>> LedgerService::close_holds(store::WriteTxn& tx, Book& book,
                                                       const std::vector<std::string>& ids,
                                                       const std::string& reservation_id,
                                                       bool confirm, const PostedOf& posted_of,
                                                       std::int64_t now_s) {
  std::vector<Change> out;
  for (const std::string& id : ids) {
    auto pending = book.find_hold(id);
    if (!pending) continue;
    if (options_.shared_store && &book == &book_) {
      // Another replica may have closed it (the sweeping one, when the reservation expired):
      // what this Book has pending is checked against the store, and a Book behind it is
      // brought up to date by the owner's next operation.
      WARDEN_ASSIGN_OR_RETURN(auto row, tx.get_hold(id));
      if (!row || row->status != "pending") {
        mark_stale(pending->owner);
        continue;
      }
    }
    const std::optional<Amount> posted = confirm ? posted_of(*pending, ids.size()) : std::nullopt;
    auto change = confirm ? book.post(id, posted, now_s, false) : book.void_hold(id, now_s, false);
    if (!change.ok()) {
      if (change.status().code() == ErrorCode::LEDGER_HOLD_NOT_FOUND) continue;
      return change.status();
    }
    store::LedgerOpRow row;
    row.id = ids_.next();
    row.kind = confirm ? "post" : "void";
    json::object body = hold_json(*change->closed_hold, change->hold_status, change->posted);
    body["entries"] = entries_json(*change);
    row.result = canonical_json(body);
    row.created_at = now_s;
    WARDEN_RETURN_IF_ERROR(tx.insert_ledger_op(row));
    WARDEN_RETURN_IF_ERROR(write_change(tx, *change, row.id, reservation_id, now_s));
    out.push_back(std::move(*change));
  }
  return out;
}

void LedgerService::settled(const std::vector<Change>& changes) {
  for (const Change& c : changes) {
    book_.apply(c);
    operations_.fetch_add(1, std::memory_order_relaxed);
    if (!c.closed_hold || !c.closed_hold->tx_id) continue;
    std::lock_guard lock(reservations_mu_);
    auto it = reservation_holds_.find(*c.closed_hold->tx_id);
    if (it == reservation_holds_.end()) continue;
    std::erase(it->second, c.closed_hold->id);
    if (it->second.empty()) reservation_holds_.erase(it);
  }
}

std::vector<Hold> LedgerService::holds_of(const std::string& reservation_id) const {
  std::vector<std::string> ids;
  {
    std::lock_guard lock(reservations_mu_);
    auto it = reservation_holds_.find(reservation_id);
    if (it == reservation_holds_.end()) return {};
    ids = it->second;
  }
  std::vector<Hold> out;
  for (const auto& id : ids) {
    if (auto h = book_.find_hold(id)) out.push_back(std::move(*h));
  }
  return out;
}

Result<std::vector<Change>> LedgerService::charge_late(store::WriteTxn& tx,
                                                      const std::string& token,
                                                      const std::string& reservation_id,
                                                      const std::string& agent_id,
                                                      const std::vector<LateCharge>& charges,
                                                      std::int64_t now_s) {
  std::vector<Change> changes;
  {
    std::lock_guard lock(reservations_mu_);
    auto it = late_debits_.find(token);
    if (it != late_debits_.end()) changes = it->second;
  }
  if (changes.empty() && !charges.empty()) {
    // In flight until late_charged(). On the writer's thread, inside its transaction: no
    // refresh here (it would read the store while this batch holds its write).
    enter(agent_id, false);
    for (const LateCharge& c : charges) {
      auto change = book_.debit(agent_id, c.asset, c.amount, now_s, true);
      if (!change.ok()) {
        for (auto it = changes.rbegin(); it != changes.rend(); ++it) book_.undo(*it);
        leave(agent_id);
        return change.status();
      }
      changes.push_back(std::move(*change));
    }
    std::lock_guard lock(reservations_mu_);
    late_debits_[token] = changes;
  }
  for (const Change& c : changes) {
    if (c.entries.empty()) continue;
    store::LedgerOpRow row;
    row.id = ids_.next();
    row.kind = "debit";
    row.result = canonical_json(json::object{{"entries", entries_json(c)},
                                             {"currency", c.currency},
                                             {"owner", c.owner},
                                             {"tx_id", reservation_id}});
    row.created_at = now_s;
    WARDEN_RETURN_IF_ERROR(tx.insert_ledger_op(row));
    Status s = write_change(tx, c, row.id, reservation_id, now_s);
    if (s.code() == ErrorCode::LEDGER_BUDGET_EXCEEDED) mark_stale(c.owner);
    WARDEN_RETURN_IF_ERROR(s);
  }
  return changes;
}

void LedgerService::late_charged(const std::string& token, bool ok) {
  std::vector<Change> changes;
  {
    std::lock_guard lock(reservations_mu_);
    auto it = late_debits_.find(token);
    if (it == late_debits_.end()) return;
    changes = std::move(it->second);
    late_debits_.erase(it);
  }
  if (ok) {
    operations_.fetch_add(changes.size(), std::memory_order_relaxed);
  } else {
    for (auto it = changes.rbegin(); it != changes.rend(); ++it) book_.undo(*it);
  }
  if (!changes.empty()) leave(changes.front().owner);
}

}  // namespace warden::ledger
