// The ledger service: construction, start-up from the rows, the sweeper, and the one path every
// operation takes through the group-commit writer (commit, write_change). The operations are in
// operations.cc, the BUDGET holds of decisions in reservations.cc, payment events in payments.cc.
#include "ledger/internal.h"

#include <algorithm>
#include <set>
#include <boost/json/serialize.hpp>

#include "core/enums.h"
#include "core/thread_name.h"

namespace warden::ledger {

std::string opt_time(const std::optional<std::int64_t>& t) {
  return t ? std::to_string(*t) : std::string();
}

json::storage_ptr answer_storage() {
  constexpr std::size_t kAnswerBlockBytes = 2048;
  return json::make_shared_resource<json::monotonic_resource>(kAnswerBlockBytes);
}


json::array entries_json(const Change& c, json::storage_ptr sp) {
  json::array out(std::move(sp));
  out.reserve(c.entries.size());
  for (const Entry& e : c.entries) {
    out.push_back({{"amount", e.amount.to_string()},
                   {"lot_id", e.lot_id},
                   {"type", entry_type_name(e.type)}});
  }
  return out;
}

json::object hold_body(const Hold& h, std::string_view status, const std::optional<Amount>& posted,
                       const Change* entries_of, const Amount* available,
                       json::storage_ptr sp) {
  json::object o(std::move(sp));
  o.reserve(12);
  o["amount"] = h.amount.to_string();
  if (available != nullptr) o["available"] = available->to_string();
  o["created_at"] = h.created_at;
  o["currency"] = h.currency;
  if (entries_of != nullptr) o["entries"] = entries_json(*entries_of, o.storage());
  o["expires_at"] = h.expires_at == 0 ? json::value(nullptr) : json::value(h.expires_at);
  o["id"] = h.id;
  o["owner"] = h.owner;
  json::array portions(o.storage());
  portions.reserve(h.portions.size());
  for (const Portion& p : h.portions) {
    portions.push_back({{"amount", p.amount.to_string()}, {"lot_id", p.lot_id}});
  }
  o["portions"] = std::move(portions);
  o["posted_amount"] = posted ? json::value(posted->to_string()) : json::value(nullptr);
  o["status"] = status;
  o["tx_id"] = h.tx_id ? json::value(*h.tx_id) : json::value(nullptr);
  return o;
}


Status invalid(ErrorCode code, std::string_view field, std::string message) {
  return Status(code, std::move(message), {{"field", field}});
}

Status check_key(const std::string& key) {
  if (key.empty() || key.size() > kIdempotencyKeyBytesMax) {
    return invalid(ErrorCode::VALIDATION_INVALID_VALUE, "idempotency_key",
                   "idempotency_key must be 1 to " + std::to_string(kIdempotencyKeyBytesMax) +
                       " bytes");
  }
  return Status();
}

Status check_positive(const Amount& amount) {
  if (amount.is_zero()) {
    return invalid(ErrorCode::VALIDATION_INVALID_AMOUNT, "amount", "amount must be above zero");
  }
  return Status();
}

Status check_spend(const std::string& key, const Amount& amount, const std::string& currency) {
  WARDEN_RETURN_IF_ERROR(check_key(key));
  WARDEN_RETURN_IF_ERROR(check_positive(amount));
  return check_currency(currency);
}

Status check_currency(const std::string& currency) {
  if (canonical_currency(currency) != currency) {
    return invalid(ErrorCode::LEDGER_CURRENCY_UNKNOWN, "currency",
                   "'" + currency + "' is not a currency");
  }
  return Status();
}

store::AuditEvent audit_event(const Caller& caller, std::string type,
                              std::optional<std::string> agent_id, const json::object& details,
                              std::int64_t now_s) {
  store::AuditEvent e;
  e.timestamp = now_s;
  e.event_type = std::move(type);
  e.actor = caller.actor;
  e.agent_id = std::move(agent_id);
  e.details = canonical_json(details);
  if (!caller.correlation_id.empty()) e.correlation_id = caller.correlation_id;
  if (!caller.ip_address.empty()) e.ip_address = caller.ip_address;
  return e;
}

std::string close_key(const std::string& hold_id) { return std::string("\x01hold/") + hold_id; }

Result<Hold> hold_from_row(const store::HoldRow& row) {
  Hold h;
  h.id = row.id;
  h.owner = row.owner;
  h.currency = row.currency;
  WARDEN_ASSIGN_OR_RETURN(h.amount, Amount::parse(row.amount));
  h.expires_at = row.expires_at;
  h.tx_id = row.tx_id;
  h.created_at = row.created_at;
  return h;
}

int payment_status_rank(std::string_view status) {
  if (status == "pending") return 0;
  if (status == "confirmed") return 1;
  if (status == "finished") return 2;
  if (status == "failed" || status == "refunded") return 3;
  return -1;
}

json::object lot_json(const Lot& lot) {
  json::object o;
  o.reserve(11);
  o["amount"] = lot.amount.to_string();
  o["created_at"] = lot.created_at;
  o["currency"] = lot.currency;
  o["expires_at"] = lot.expires_at ? json::value(*lot.expires_at) : json::value(nullptr);
  o["held"] = lot.held.to_string();
  o["id"] = lot.id;
  o["owner"] = lot.owner;
  o["payment_id"] = lot.payment_id ? json::value(*lot.payment_id) : json::value(nullptr);
  o["remaining"] = lot.remaining.to_string();
  o["source"] = lot.source;
  o["status"] = lot_status_name(lot.status);
  return o;
}

json::object hold_json(const Hold& h, std::string_view status, const std::optional<Amount>& posted) {
  return hold_body(h, status, posted, nullptr, nullptr);
}

json::object balance_json(const std::string& owner, const std::string& currency, const Balance& b) {
  return {{"owner", owner},
          {"currency", currency},
          {"available", b.available.to_string()},
          {"held", b.held.to_string()}};
}

LedgerService::LedgerService(store::Store& store, store::BatchWriter& writer, const Clock& clock,
                             IdGenerator& ids, LedgerOptions options)
    : store_(store),
      writer_(writer),
      clock_(clock),
      ids_(ids),
      options_(options),
      keys_(std::make_unique<KeyTable>(options.idempotency_memory_keys_max)),
      fresh_(options.shared_store ? std::make_unique<FreshShard[]>(kFreshShards) : nullptr) {}

LedgerService::~LedgerService() { stop(); }

namespace {

// A lot with its balance as the lot_balances view has it.
Result<Lot> lot_from_row(const store::LotBalanceRow& row) {
  Lot lot;
  lot.id = row.lot.id;
  lot.owner = row.lot.owner;
  lot.currency = row.lot.currency;
  lot.source = row.lot.source;
  WARDEN_ASSIGN_OR_RETURN(lot.amount, Amount::parse(row.lot.amount));
  WARDEN_ASSIGN_OR_RETURN(lot.remaining, Amount::parse(row.remaining));
  WARDEN_ASSIGN_OR_RETURN(lot.held, Amount::parse(row.held));
  lot.expires_at = row.lot.expires_at;
  lot.status = row.lot.status == "expired"    ? LotStatus::kExpired
               : row.lot.status == "depleted" ? LotStatus::kDepleted
                                              : LotStatus::kActive;
  lot.payment_id = row.lot.payment_id;
  lot.created_at = row.lot.created_at;
  return lot;
}

}  // namespace

Status LedgerService::start() {
  const std::int64_t now = clock_.now_seconds();
  WARDEN_RETURN_IF_ERROR(store_.scan_lot_balances({}, [&](const store::LotBalanceRow& row) {
    WARDEN_ASSIGN_OR_RETURN(Lot lot, lot_from_row(row));
    book_.restore_lot(lot);
    return Status();
  }));
  WARDEN_ASSIGN_OR_RETURN(auto pending, store_.list_pending_holds());
  std::unordered_map<std::string, Hold> holds;
  for (const auto& row : pending) {
    WARDEN_ASSIGN_OR_RETURN(Hold h, hold_from_row(row));
    holds.emplace(h.id, std::move(h));
  }
  WARDEN_RETURN_IF_ERROR(store_.scan_pending_hold_entries([&](const store::LotEntryRow& e) {
    if (e.entry_type != "hold" || !e.hold_id) return Status();
    auto it = holds.find(*e.hold_id);
    if (it == holds.end()) return Status();
    WARDEN_ASSIGN_OR_RETURN(Amount a, Amount::parse(e.amount));
    it->second.portions.push_back({e.lot_id, a});
    return Status();
  }));
  {
    std::lock_guard lock(reservations_mu_);
    for (auto& [id, h] : holds) {
      if (h.tx_id) reservation_holds_[*h.tx_id].push_back(id);
      book_.restore_hold(h);
    }
  }
  WARDEN_RETURN_IF_ERROR(store_.scan_ledger_ops_since(
      now - options_.idempotency_memory_seconds, [&](const store::LedgerOpRow& row) {
        if (!row.idempotency_key) return Status();
        WARDEN_ASSIGN_OR_RETURN(json::value v, parse_json(row.result));
        if (!v.is_object()) return Status(ErrorCode::INTERNAL_STORE_ERROR, "bad op result");
        keys_->restore(*row.idempotency_key, row.request_hash, row.result, row.created_at);
        return Status();
      }));
  if (options_.start_sweeper) {
    std::lock_guard lock(sweeper_mu_);
    stopping_ = false;
    sweeper_ = std::thread([this] { sweeper_loop(); });
  }
  return Status();
}

void LedgerService::stop() {
  {
    std::lock_guard lock(sweeper_mu_);
    stopping_ = true;
  }
  sweeper_cv_.notify_all();
  if (sweeper_.joinable()) sweeper_.join();
}

void LedgerService::sweeper_loop() {
  name_this_thread("warden-ledger");
  std::unique_lock lock(sweeper_mu_);
  while (!stopping_) {
    sweeper_cv_.wait_for(lock, std::chrono::milliseconds(options_.sweep_interval_ms));
    if (stopping_) break;
    lock.unlock();
    sweep();
    lock.lock();
  }
}

Status LedgerService::check_owner(const std::string& owner) {
  WARDEN_ASSIGN_OR_RETURN(bool exists, owner_exists(owner));
  if (!exists) return invalid(ErrorCode::LEDGER_OWNER_UNKNOWN, "owner", "no agent " + owner);
  return Status();
}

Result<bool> LedgerService::owner_exists(const std::string& owner) {
  {
    std::lock_guard lock(owners_mu_);
    if (owners_.contains(owner)) return true;
  }
  WARDEN_ASSIGN_OR_RETURN(auto agent, store_.get_agent(owner));
  if (!agent) return false;
  std::lock_guard lock(owners_mu_);
  owners_.emplace(owner, true);  // agents are never deleted
  return true;
}

// ---- Freshness (LedgerOptions::shared_store) ----
//
// Other replicas write the store this Book was built from, so the Book may be behind it. The
// Book is never trusted to prevent an overspend there (the store checks every write that takes
// credit against every replica's entries); it is brought up to date, one owner at a time, when
// it is seen to be behind: a local refusal for lack of credit, a store refusal, a reservation
// or hold it does not know.
//
// The rule that keeps a refresh exact: an owner is refreshed only while none of its changes is
// in flight. A change is in flight from just before the Book makes it until its write is final
// and the Book kept or undid it: an operation until its commit callback, a decision's holds
// until reservation_written(), a late charge until late_charged(), a payment event until its
// callback, an expiry of the sweeper until its commit. Such a change is in memory but maybe not
// yet in the store: a refresh then would drop it (and count it twice when it commits, or
// credit it back twice when its undo runs on the refreshed account). So:
// - enter() counts the change before the Book makes it; leave() when it is final. While a
//   refresh of the owner runs, enter() waits for it (it only reads the store: short).
// - refresh_owner() with a change in flight refreshes nothing and marks the owner stale; so
//   does a write the store refused (for lack of credit, a hold another replica closed, ...).
//   The owner's next operation that finds nothing in flight (the sweeper's too) refreshes
//   before it changes the Book.
// - Changes planned without changing the Book and applied after their commit (settling a
//   reservation: settled()) are not counted: applying one is idempotent (a hold the refreshed
//   Book no longer has pending is skipped) and a hold still pending is applied as planned.
// Other owners are never held up: each owner's accounts are replaced under their own locks.

Result<LedgerService::OwnerRows> LedgerService::read_owner(const std::string& owner) {
  // The lots and the pending holds are read by separate statements, between which another
  // replica may take or close a hold. Each lot's held must then be what the pending holds read
  // took from it, and each hold's amount what its entries took; when they do not agree the rows
  // are read again.
  constexpr int kReadsMax = 4;
  for (int attempt = 0; attempt < kReadsMax; ++attempt) {
    OwnerRows out;
    store::LotFilter filter;
    filter.owner = owner;
    WARDEN_RETURN_IF_ERROR(store_.scan_lot_balances(filter, [&](const store::LotBalanceRow& row) {
      WARDEN_ASSIGN_OR_RETURN(Lot lot, lot_from_row(row));
      out.lots.push_back(std::move(lot));
      return Status();
    }));
    // Every replica's pending holds, kept for this owner.
    WARDEN_ASSIGN_OR_RETURN(auto pending, store_.list_pending_holds());
    std::unordered_map<std::string, Hold> holds;
    for (const auto& row : pending) {
      if (row.owner != owner) continue;
      WARDEN_ASSIGN_OR_RETURN(Hold h, hold_from_row(row));
      holds.emplace(h.id, std::move(h));
    }
    if (!holds.empty()) {
      WARDEN_RETURN_IF_ERROR(store_.scan_pending_hold_entries([&](const store::LotEntryRow& e) {
        if (e.owner != owner || e.entry_type != "hold" || !e.hold_id) return Status();
        auto it = holds.find(*e.hold_id);
        if (it == holds.end()) return Status();
        WARDEN_ASSIGN_OR_RETURN(Amount a, Amount::parse(e.amount));
        it->second.portions.push_back({e.lot_id, a});
        return Status();
      }));
    }
    std::unordered_map<std::string, Amount> held_by_holds;  // lot id -> what pending holds took
    bool agree = true;
    for (auto& [id, h] : holds) {
      Amount taken;
      for (const Portion& p : h.portions) {
        taken = *taken.checked_add(p.amount);
        Amount& on_lot = held_by_holds[p.lot_id];
        on_lot = *on_lot.checked_add(p.amount);
      }
      agree = agree && taken == h.amount;
    }
    for (const Lot& lot : out.lots) {
      auto it = held_by_holds.find(lot.id);
      agree = agree && lot.held == (it == held_by_holds.end() ? Amount() : it->second);
    }
    if (agree) {
      out.holds.reserve(holds.size());
      for (auto& [id, h] : holds) out.holds.push_back(std::move(h));
      std::sort(out.holds.begin(), out.holds.end(),
                [](const Hold& a, const Hold& b) { return a.id < b.id; });
      return out;
    }
  }
  return Status(ErrorCode::INTERNAL_STORE_ERROR,
                "the ledger rows of " + owner + " kept changing while they were read");
}

LedgerService::FreshShard& LedgerService::fresh_of(const std::string& owner) {
  return fresh_[std::hash<std::string>{}(owner) % kFreshShards];
}

Status LedgerService::refresh_locked(FreshShard& shard, std::unique_lock<std::mutex>& lock,
                                     const std::string& owner) {
  shard.owners[owner].refreshing = true;
  lock.unlock();
  auto rows = read_owner(owner);
  if (rows.ok()) {
    // reservation_holds_ is rebuilt for the owner with the Book, under one lock, so a
    // reservation's list never names holds the Book does not have (the order of start()).
    std::lock_guard rlock(reservations_mu_);
    for (const Hold& h : book_.replace_owner(owner, rows->lots, rows->holds)) {
      if (!h.tx_id) continue;
      auto it = reservation_holds_.find(*h.tx_id);
      if (it == reservation_holds_.end()) continue;
      std::erase(it->second, h.id);
      if (it->second.empty()) reservation_holds_.erase(it);
    }
    for (const Hold& h : rows->holds) {
      if (!h.tx_id) continue;
      std::vector<std::string>& ids = reservation_holds_[*h.tx_id];
      if (std::find(ids.begin(), ids.end(), h.id) == ids.end()) ids.push_back(h.id);
    }
  }
  lock.lock();
  Freshness& f = shard.owners[owner];
  f.refreshing = false;
  f.stale = !rows.ok();
  shard.refreshed.notify_all();
  return rows.status();
}

Result<bool> LedgerService::refresh_owner(const std::string& owner) {
  if (!options_.shared_store) return false;
  FreshShard& shard = fresh_of(owner);
  std::unique_lock lock(shard.mu);
  shard.refreshed.wait(lock, [&] { return !shard.owners[owner].refreshing; });
  Freshness& f = shard.owners[owner];
  if (f.in_flight > 0) {
    f.stale = true;
    return false;
  }
  WARDEN_RETURN_IF_ERROR(refresh_locked(shard, lock, owner));
  if (const Freshness& done = shard.owners[owner]; done.in_flight == 0 && !done.stale) {
    shard.owners.erase(owner);
  }
  return true;
}

void LedgerService::enter(const std::string& owner, bool may_refresh) {
  if (!options_.shared_store) return;
  FreshShard& shard = fresh_of(owner);
  std::unique_lock lock(shard.mu);
  shard.refreshed.wait(lock, [&] { return !shard.owners[owner].refreshing; });
  if (may_refresh) {
    const Freshness& f = shard.owners[owner];
    // A failed refresh leaves the owner stale and the Book as it was: the operation goes on
    // with what this replica knows, and the store still checks what it takes.
    if (f.stale && f.in_flight == 0) (void)refresh_locked(shard, lock, owner);
  }
  ++shard.owners[owner].in_flight;
}

void LedgerService::leave(const std::string& owner) {
  if (!options_.shared_store) return;
  FreshShard& shard = fresh_of(owner);
  std::lock_guard lock(shard.mu);
  auto it = shard.owners.find(owner);
  if (it == shard.owners.end()) return;
  Freshness& f = it->second;
  if (f.in_flight > 0) --f.in_flight;
  if (f.in_flight == 0 && !f.stale && !f.refreshing) shard.owners.erase(it);
}

void LedgerService::mark_stale(const std::string& owner) {
  if (!options_.shared_store) return;
  FreshShard& shard = fresh_of(owner);
  std::lock_guard lock(shard.mu);
  shard.owners[owner].stale = true;
}

bool LedgerService::refreshed_after(const Status& refused, const std::string& owner) {
  if (!options_.shared_store || refused.code() != ErrorCode::LEDGER_BUDGET_EXCEEDED) return false;
  return refresh_entered(owner);
}

bool LedgerService::refresh_entered(const std::string& owner) {
  if (!options_.shared_store) return false;
  // This caller's own count would keep the refresh out: it changed nothing it has not undone.
  leave(owner);
  const auto refreshed = refresh_owner(owner);
  enter(owner, false);
  return refreshed.ok() && *refreshed;
}

bool LedgerService::claimed(const std::string& key, const std::string& request_hash, Done& done) {
  Answer answer;
  switch (keys_->claim(key, request_hash, clock_.now_seconds(), done, answer)) {
    case KeyTable::Claim::kClaimed: return true;
    case KeyTable::Claim::kWaiting: return false;
    case KeyTable::Claim::kReplay: done(std::move(answer)); return false;
    case KeyTable::Claim::kConflict:
      done(Status(ErrorCode::IDEMPOTENCY_KEY_REUSED,
                  "idempotency key was used with other arguments", {{"idempotency_key", key}}));
      return false;
  }
  return false;
}

namespace {

ChangeRows change_rows(const Change& c, const std::string& op_id,
                       const std::optional<std::string>& tx_id, std::int64_t now_s) {
  ChangeRows out;
  if (c.new_lot) {
    const Lot& l = *c.new_lot;
    store::LotRow& row = out.lot.emplace();
    row.id = l.id;
    row.owner = l.owner;
    row.source = l.source;
    row.amount = l.amount.to_string();
    row.currency = l.currency;
    row.expires_at = l.expires_at;
    row.status = "active";
    row.payment_id = l.payment_id;
    row.created_at = l.created_at;
  }
  if (c.new_hold) {
    const Hold& h = *c.new_hold;
    store::HoldRow& row = out.new_hold.emplace();
    row.id = h.id;
    row.owner = h.owner;
    row.currency = h.currency;
    row.amount = h.amount.to_string();
    row.status = "pending";
    row.tx_id = h.tx_id;
    row.expires_at = h.expires_at;
    row.created_at = h.created_at;
    row.updated_at = now_s;
  }
  out.entries.reserve(c.entries.size());
  for (const Entry& e : c.entries) {
    store::LotEntryRow& row = out.entries.emplace_back();
    row.owner = c.owner;
    row.currency = c.currency;
    row.op_id = op_id;
    row.tx_id = tx_id;
    row.created_at = now_s;
    row.lot_id = e.lot_id;
    row.entry_type = entry_type_name(e.type);
    row.amount = e.amount.to_string();
    row.hold_id = e.hold_id;
  }
  for (const auto& [lot_id, status] : c.statuses) {
    out.statuses.emplace_back(lot_id, lot_status_name(status));
  }
  if (c.closed_hold) {
    const Hold& h = *c.closed_hold;
    store::HoldRow& hold = out.closed_hold.emplace();
    hold.id = h.id;
    hold.owner = h.owner;
    hold.currency = h.currency;
    hold.amount = h.amount.to_string();
    hold.status = c.hold_status;
    if (c.posted) hold.posted_amount = c.posted->to_string();
    hold.tx_id = h.tx_id;
    hold.expires_at = h.expires_at;
    hold.created_at = h.created_at;
    hold.updated_at = now_s;
  }
  return out;
}

Status write_rows(store::WriteTxn& tx, ChangeRows& rows) {
  if (rows.lot) WARDEN_RETURN_IF_ERROR(tx.insert_lot(*rows.lot));
  if (rows.new_hold) WARDEN_RETURN_IF_ERROR(tx.insert_hold(*rows.new_hold));
  // The lots whose spendable credit these entries take: in a store several replicas write, the
  // book in memory may not know what another replica took, so the store checks them.
  std::vector<std::string> spent_lots;
  for (store::LotEntryRow& row : rows.entries) {
    row.id = 0;
    WARDEN_RETURN_IF_ERROR(tx.insert_lot_entry(row));
    const bool takes = row.entry_type == "hold" || row.entry_type == "expire" ||
                       (row.entry_type == "debit" && !row.hold_id);
    if (takes && std::find(spent_lots.begin(), spent_lots.end(), row.lot_id) == spent_lots.end()) {
      spent_lots.push_back(row.lot_id);
    }
  }
  if (!spent_lots.empty()) {
    WARDEN_ASSIGN_OR_RETURN(const bool within, tx.lots_within_credit(spent_lots));
    if (!within) {
      return Status(ErrorCode::LEDGER_BUDGET_EXCEEDED,
                    "another replica spent this credit first; try again");
    }
  }
  for (const auto& [lot_id, status] : rows.statuses) {
    WARDEN_RETURN_IF_ERROR(tx.update_lot_status(lot_id, status));
  }
  if (rows.closed_hold) WARDEN_RETURN_IF_ERROR(tx.update_hold(*rows.closed_hold));
  return Status();
}

}  // namespace

Status LedgerService::write_change(store::WriteTxn& tx, const Change& c, const std::string& op_id,
                                   std::optional<std::string> tx_id, std::int64_t now_s) const {
  ChangeRows rows = change_rows(c, op_id, tx_id, now_s);
  return write_rows(tx, rows);
}

void LedgerService::commit(std::shared_ptr<Op> op, Done done) {
  op->done = std::move(done);
  op->audit = audit_event(op->caller, op->audit_type, op->change.owner, {}, op->now_s);
  // The stored answer is canonical_json() of the body; an operation may have written it already.
  if (op->row.result.empty()) op->row.result = canonical_json(op->answer.body);
  op->audit.details = op->row.result;
  op->audit.severity = op->audit_severity;
  if (op->tx_id) op->audit.tx_id = op->tx_id;
  op->rows = change_rows(op->change, op->op_id, op->tx_id, op->now_s);
  // Moved, not copied: the op keeps each string once (it is freed on another thread).
  op->row.id = std::move(op->op_id);
  op->row.kind = change_kind_name(op->change.kind);
  op->row.idempotency_key = std::move(op->key);
  op->row.request_hash = std::move(op->request_hash);
  op->row.created_at = op->now_s;
  if (const std::string* claim = op->claim()) op->claim_slot = keys_->slot(*claim);
  auto write = [op](store::WriteTxn& tx) -> Status {
    WARDEN_RETURN_IF_ERROR(tx.insert_ledger_op(op->row));
    WARDEN_RETURN_IF_ERROR(write_rows(tx, op->rows));
    return tx.append_audit(op->audit).take_status();
  };
  // Runs once, after the write's outcome is final.
  auto committed = [this, op](const Status& s) {
    if (s.ok()) {
      leave(op->change.owner);
      operations_.fetch_add(1, std::memory_order_relaxed);
      std::vector<Done> waiting;
      if (op->claim_slot != nullptr) {
        waiting = keys_->committed(*op->claim_slot, op->answer.status, std::move(op->row.result));
      } else if (const std::string* claim = op->claim()) {
        waiting = keys_->committed(*claim, op->answer.status, std::move(op->row.result));
      }
      for (auto& w : waiting) {
        Answer replay = op->answer;
        replay.replay = true;
        w(std::move(replay));
      }
      op->done(std::move(op->answer));
      return;
    }
    book_.undo(op->change);
    // The store refused what the Book allowed. In a shared store that is most often the Book
    // being behind another replica (it spent this credit first, closed this hold, minted this
    // payment's lot): the owner's next operation reads it again first.
    mark_stale(op->change.owner);
    leave(op->change.owner);
    // A key older than the memory of keys: the store still has it.
    Result<Answer> out = s.code() == ErrorCode::STORE_CONSTRAINT && op->row.idempotency_key
                             ? stored_answer(*op->row.idempotency_key, op->row.request_hash, s)
                             : Result<Answer>(s);
    std::vector<Done> waiting;
    if (const std::string* claim = op->claim()) waiting = keys_->finish(*claim, out);
    for (auto& w : waiting) w(out);
    op->done(std::move(out));
  };
  // Nothing an operation's callback does is read by a later write (the Book changed before the
  // write, and the key table is the service's own), so it need not hold the writer up.
  if (Status s = writer_.submit_independent(std::move(write), committed); !s.ok()) committed(s);
}

Result<Answer> LedgerService::stored_answer(const std::string& key,
                                            const std::string& request_hash, Status refusal) {
  // A key the memory forgot (past its period or count) may have answered long ago: a refusal now must
  // not hide that first answer.
  auto stored = store_.find_ledger_op(key);
  if (!stored.ok() || !*stored) return refusal;
  if ((*stored)->request_hash != request_hash) {
    return Status(ErrorCode::IDEMPOTENCY_KEY_REUSED, "idempotency key was used with other arguments",
                  {{"idempotency_key", key}});
  }
  auto v = parse_json((*stored)->result);
  if (!v.ok() || !v->is_object()) return refusal;
  return Answer{201, v->as_object(), true};
}

json::object LedgerService::balance(const std::string& owner, const std::string& currency) {
  if (options_.shared_store) (void)refresh_owner(owner);
  return balance_json(owner, currency, book_.balance(owner, currency, clock_.now_seconds()));
}

std::map<std::string, Balance> LedgerService::balances(const std::string& owner) {
  if (options_.shared_store) (void)refresh_owner(owner);
  return book_.balances(owner, clock_.now_seconds());
}

// ---- Sweeper ----

// Cluster mode: lots and holds another replica created are due here too. Every
// kClusterScanSeconds the sweeping replica reads the store's due lots and holds and refreshes
// the owners whose due rows its Book does not have, so the sweep below expires them.
void LedgerService::discover_due(std::int64_t now) {
  if (now < next_cluster_scan_s_) return;
  next_cluster_scan_s_ = now + kClusterScanSeconds;
  std::set<std::string> owners;
  Status scanned = store_.scan_lot_balances({}, [&](const store::LotBalanceRow& row) {
    if (row.lot.status == "active" && row.lot.expires_at && *row.lot.expires_at <= now &&
        !book_.lot(row.lot.id)) {
      owners.insert(row.lot.owner);
    }
    return Status();
  });
  if (!scanned.ok()) return;  // tried again at the next scan
  auto holds = store_.list_pending_holds();
  if (!holds.ok()) return;
  for (const auto& h : *holds) {
    if (h.expires_at > 0 && h.expires_at <= now && !book_.find_hold(h.id)) owners.insert(h.owner);
  }
  for (const std::string& owner : owners) (void)refresh_owner(owner);
}

void LedgerService::sweep() {
  const std::int64_t now = clock_.now_seconds();
  keys_->forget_before(now - options_.idempotency_memory_seconds);
  if (!store::sweeps(options_.leadership)) return;
  if (options_.shared_store) discover_due(now);
  std::vector<std::shared_ptr<Op>> ops;
  const Caller system{"system", "", ""};
  // Each change is counted in flight for its owner (commit() ends it), as operations are. An
  // owner whose expiry or timeout the store refused (another replica spent from the lot or
  // closed the hold) is stale, and read again before its next one.
  for (const std::string& lot_id : book_.lots_due(now)) {
    auto lot = book_.lot(lot_id);
    if (!lot) continue;
    enter(lot->owner);
    Change c = book_.revoke_lot(lot_id, now);
    if (c.empty()) {
      leave(lot->owner);
      continue;
    }
    auto op = std::make_shared<Op>();
    const Amount expired = c.entries.empty() ? Amount() : c.entries.front().amount;
    op->change = std::move(c);
    op->op_id = ids_.next();
    op->audit_type = "LEDGER_LOT_EXPIRED";
    op->caller = system;
    op->now_s = now;
    op->answer.body = {{"lot_id", lot_id},
                       {"owner", op->change.owner},
                       {"currency", op->change.currency},
                       {"expired", expired.to_string()}};
    ops.push_back(std::move(op));
  }
  for (const std::string& hold_id : book_.holds_due(now)) {
    auto pending = book_.find_hold(hold_id);
    if (!pending) continue;  // closed meanwhile
    enter(pending->owner);
    auto change = book_.void_hold(hold_id, now, true, "expired");
    if (!change.ok()) {  // closed meanwhile
      leave(pending->owner);
      continue;
    }
    auto op = std::make_shared<Op>();
    op->change = std::move(*change);
    op->op_id = ids_.next();
    op->audit_type = "LEDGER_HOLD_EXPIRED";
    op->caller = system;
    op->now_s = now;
    op->answer.body = hold_json(*op->change.closed_hold, "expired");
    ops.push_back(std::move(op));
  }
  if (ops.empty()) return;
  std::mutex mu;
  std::condition_variable cv;
  std::size_t left = ops.size();
  for (auto& op : ops) {
    commit(op, [&](Result<Answer>) {
      std::lock_guard lock(mu);
      if (--left == 0) cv.notify_all();
    });
  }
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return left == 0; });
}

}  // namespace warden::ledger
