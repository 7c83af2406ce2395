// The ledger service: operations through the group-commit writer, idempotency keys, start-up,
// the sweeper, and the BUDGET holds of decisions.
#include "ledger/service.h"

#include <boost/json/serialize.hpp>
#include <deque>

#include "core/enums.h"
#include "core/json.h"
#include "core/thread_name.h"

namespace warden::ledger {
namespace json = boost::json;

namespace {

std::string opt_time(const std::optional<std::int64_t>& t) {
  return t ? std::to_string(*t) : std::string();
}

json::array entries_json(const Change& c) {
  json::array out;
  for (const Entry& e : c.entries) {
    out.push_back({{"lot_id", e.lot_id},
                   {"type", entry_type_name(e.type)},
                   {"amount", e.amount.to_string()}});
  }
  return out;
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

Status check_currency(const std::string& currency) {
  if (canonical_currency(currency) != currency) {
    return invalid(ErrorCode::LEDGER_CURRENCY_UNKNOWN, "currency",
                   "'" + currency + "' is not a currency");
  }
  return Status();
}

store::AuditEvent audit_event(const Caller& caller, std::string type, const std::string& owner,
                              const json::object& details, std::int64_t now_s) {
  store::AuditEvent e;
  e.timestamp = now_s;
  e.event_type = std::move(type);
  e.actor = caller.actor;
  e.agent_id = owner;
  e.details = canonical_json(details);
  if (!caller.correlation_id.empty()) e.correlation_id = caller.correlation_id;
  if (!caller.ip_address.empty()) e.ip_address = caller.ip_address;
  return e;
}

// Keys the service makes for itself never meet a client's: those are printable.
std::string close_key(const std::string& hold_id) { return std::string("\x01hold/") + hold_id; }

}  // namespace

int payment_status_rank(std::string_view status) {
  if (status == "pending") return 0;
  if (status == "confirmed") return 1;
  if (status == "finished") return 2;
  if (status == "failed" || status == "refunded") return 3;
  return -1;
}

json::object lot_json(const Lot& lot) {
  json::object o;
  o["id"] = lot.id;
  o["owner"] = lot.owner;
  o["currency"] = lot.currency;
  o["source"] = lot.source;
  o["amount"] = lot.amount.to_string();
  o["remaining"] = lot.remaining.to_string();
  o["held"] = lot.held.to_string();
  o["status"] = lot_status_name(lot.status);
  o["expires_at"] = lot.expires_at ? json::value(*lot.expires_at) : json::value(nullptr);
  o["payment_id"] = lot.payment_id ? json::value(*lot.payment_id) : json::value(nullptr);
  o["created_at"] = lot.created_at;
  return o;
}

json::object hold_json(const Hold& h, std::string_view status, const std::optional<Amount>& posted) {
  json::object o;
  o["id"] = h.id;
  o["owner"] = h.owner;
  o["currency"] = h.currency;
  o["amount"] = h.amount.to_string();
  o["status"] = status;
  o["posted_amount"] = posted ? json::value(posted->to_string()) : json::value(nullptr);
  o["expires_at"] = h.expires_at == 0 ? json::value(nullptr) : json::value(h.expires_at);
  o["tx_id"] = h.tx_id ? json::value(*h.tx_id) : json::value(nullptr);
  json::array portions;
  for (const Portion& p : h.portions) {
    portions.push_back({{"lot_id", p.lot_id}, {"amount", p.amount.to_string()}});
  }
  o["portions"] = std::move(portions);
  o["created_at"] = h.created_at;
  return o;
}

json::object balance_json(const std::string& owner, const std::string& currency, const Balance& b) {
  return {{"owner", owner},
          {"currency", currency},
          {"available", b.available.to_string()},
          {"held", b.held.to_string()}};
}

// ---- Idempotency keys ----

struct LedgerService::KeyTable {
  enum class Claim { kClaimed, kWaiting, kReplay, kConflict };
  struct Entry {
    std::string request_hash;
    bool committed = false;
    Answer answer;
    std::vector<Done> waiting;
    std::int64_t first_seen_s = 0;
  };

  std::mutex mu;
  std::unordered_map<std::string, Entry> entries;         // guarded by mu
  std::deque<std::pair<std::int64_t, std::string>> order;  // first seen; guarded by mu

  // kReplay fills `answer`; kWaiting takes `done`.
  Claim claim(const std::string& key, const std::string& hash, std::int64_t now_s, Done& done,
              Answer& answer) {
    std::lock_guard lock(mu);
    auto [it, inserted] = entries.try_emplace(key);
    Entry& e = it->second;
    if (inserted) {
      e.request_hash = hash;
      e.first_seen_s = now_s;
      order.emplace_back(now_s, key);
      return Claim::kClaimed;
    }
    if (e.request_hash != hash) return Claim::kConflict;
    if (!e.committed) {
      e.waiting.push_back(std::move(done));
      return Claim::kWaiting;
    }
    answer = e.answer;
    answer.replay = true;
    return Claim::kReplay;
  }

  // The claim's operation committed with `result`, or failed (the key is free again). Returns
  // the identical requests that waited, to answer outside the lock.
  std::vector<Done> finish(const std::string& key, const Result<Answer>& result) {
    std::lock_guard lock(mu);
    auto it = entries.find(key);
    if (it == entries.end()) return {};
    std::vector<Done> waiting = std::move(it->second.waiting);
    if (result.ok()) {
      it->second.committed = true;
      it->second.answer = *result;
    } else {
      entries.erase(it);
    }
    return waiting;
  }

  // The request hash a key was claimed with, when it is known.
  std::optional<std::string> hash_of(const std::string& key) {
    std::lock_guard lock(mu);
    auto it = entries.find(key);
    if (it == entries.end()) return std::nullopt;
    return it->second.request_hash;
  }

  void restore(const std::string& key, const std::string& hash, Answer answer,
               std::int64_t created_s) {
    std::lock_guard lock(mu);
    entries[key] = Entry{hash, true, std::move(answer), {}, created_s};
    order.emplace_back(created_s, key);
  }

  void forget_before(std::int64_t oldest_s) {
    std::lock_guard lock(mu);
    while (!order.empty() && order.front().first < oldest_s) {
      auto it = entries.find(order.front().second);
      if (it != entries.end() && it->second.committed && it->second.first_seen_s < oldest_s) {
        entries.erase(it);
      }
      order.pop_front();
    }
  }
};

// One operation on its way through the writer.
struct LedgerService::Op {
  Change change;
  std::string op_id;
  std::optional<std::string> key;  // the client's idempotency key (stored)
  std::string claim_key;           // the key table entry to finish (may be internal)
  std::string request_hash;
  std::optional<std::string> tx_id;
  std::string audit_type;
  std::string audit_severity = "info";
  Caller caller;
  std::int64_t now_s = 0;
  Answer answer;
  // Made on the caller's thread, so the writer only writes.
  std::string result_text;
  store::AuditEvent audit;
};

LedgerService::LedgerService(store::Store& store, store::BatchWriter& writer, const Clock& clock,
                             IdGenerator& ids, LedgerOptions options)
    : store_(store),
      writer_(writer),
      clock_(clock),
      ids_(ids),
      options_(options),
      keys_(std::make_unique<KeyTable>()) {}

LedgerService::~LedgerService() { stop(); }

Status LedgerService::start() {
  const std::int64_t now = clock_.now_seconds();
  WARDEN_RETURN_IF_ERROR(store_.scan_lot_balances({}, [&](const store::LotBalanceRow& row) {
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
    book_.restore_lot(lot);
    return Status();
  }));
  WARDEN_ASSIGN_OR_RETURN(auto pending, store_.list_pending_holds());
  std::unordered_map<std::string, Hold> holds;
  for (const auto& row : pending) {
    Hold h;
    h.id = row.id;
    h.owner = row.owner;
    h.currency = row.currency;
    WARDEN_ASSIGN_OR_RETURN(h.amount, Amount::parse(row.amount));
    h.expires_at = row.expires_at;
    h.tx_id = row.tx_id;
    h.created_at = row.created_at;
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
        keys_->restore(*row.idempotency_key, row.request_hash, Answer{201, v.as_object(), true},
                       row.created_at);
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

Status LedgerService::write_change(store::WriteTxn& tx, const Change& c, const std::string& op_id,
                                   std::optional<std::string> tx_id, std::int64_t now_s) const {
  if (c.new_lot) {
    const Lot& l = *c.new_lot;
    store::LotRow row;
    row.id = l.id;
    row.owner = l.owner;
    row.source = l.source;
    row.amount = l.amount.to_string();
    row.currency = l.currency;
    row.expires_at = l.expires_at;
    row.status = "active";
    row.payment_id = l.payment_id;
    row.created_at = l.created_at;
    WARDEN_RETURN_IF_ERROR(tx.insert_lot(row));
  }
  if (c.new_hold) {
    const Hold& h = *c.new_hold;
    store::HoldRow row;
    row.id = h.id;
    row.owner = h.owner;
    row.currency = h.currency;
    row.amount = h.amount.to_string();
    row.status = "pending";
    row.tx_id = h.tx_id;
    row.expires_at = h.expires_at;
    row.created_at = h.created_at;
    row.updated_at = now_s;
    WARDEN_RETURN_IF_ERROR(tx.insert_hold(row));
  }
  store::LotEntryRow row;
  row.owner = c.owner;
  row.currency = c.currency;
  row.op_id = op_id;
  row.tx_id = std::move(tx_id);
  row.created_at = now_s;
  for (const Entry& e : c.entries) {
    row.id = 0;
    row.lot_id = e.lot_id;
    row.entry_type = entry_type_name(e.type);
    row.amount = e.amount.to_string();
    row.hold_id = e.hold_id;
    WARDEN_RETURN_IF_ERROR(tx.insert_lot_entry(row));
  }
  for (const auto& [lot_id, status] : c.statuses) {
    WARDEN_RETURN_IF_ERROR(tx.update_lot_status(lot_id, lot_status_name(status)));
  }
  if (c.closed_hold) {
    const Hold& h = *c.closed_hold;
    store::HoldRow hold;
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
    WARDEN_RETURN_IF_ERROR(tx.update_hold(hold));
  }
  return Status();
}

void LedgerService::commit(std::shared_ptr<Op> op, Done done) {
  op->result_text = canonical_json(op->answer.body);
  op->audit = audit_event(op->caller, op->audit_type, op->change.owner, {}, op->now_s);
  op->audit.details = op->result_text;
  op->audit.severity = op->audit_severity;
  if (op->tx_id) op->audit.tx_id = op->tx_id;
  auto write = [this, op](store::WriteTxn& tx) -> Status {
    store::LedgerOpRow row;
    row.id = op->op_id;
    row.kind = change_kind_name(op->change.kind);
    row.idempotency_key = op->key;
    row.request_hash = op->request_hash;
    row.result = op->result_text;
    row.created_at = op->now_s;
    WARDEN_RETURN_IF_ERROR(tx.insert_ledger_op(row));
    WARDEN_RETURN_IF_ERROR(write_change(tx, op->change, op->op_id, op->tx_id, op->now_s));
    return tx.append_audit(op->audit).take_status();
  };
  auto committed = [this, op, done = std::move(done)](const Status& s) mutable {
    if (s.ok()) {
      operations_.fetch_add(1, std::memory_order_relaxed);
      std::vector<Done> waiting;
      if (!op->claim_key.empty()) waiting = keys_->finish(op->claim_key, op->answer);
      for (auto& w : waiting) {
        Answer replay = op->answer;
        replay.replay = true;
        w(std::move(replay));
      }
      done(op->answer);
      return;
    }
    book_.undo(op->change);
    Result<Answer> out = s;
    // A key older than the memory of keys: the store still has it.
    if (s.code() == ErrorCode::STORE_CONSTRAINT && op->key) {
      auto stored = store_.find_ledger_op(*op->key);
      if (stored.ok() && *stored) {
        if ((*stored)->request_hash != op->request_hash) {
          out = Status(ErrorCode::IDEMPOTENCY_KEY_REUSED,
                       "idempotency key was used with other arguments",
                       {{"idempotency_key", *op->key}});
        } else if (auto v = parse_json((*stored)->result); v.ok() && v->is_object()) {
          out = Answer{201, v->as_object(), true};
        }
      }
    }
    std::vector<Done> waiting;
    if (!op->claim_key.empty()) waiting = keys_->finish(op->claim_key, out);
    for (auto& w : waiting) w(out);
    done(std::move(out));
  };
  if (Status s = writer_.submit(std::move(write), committed); !s.ok()) committed(s);
}

Result<Answer> LedgerService::stored_answer(const std::string& key,
                                            const std::string& request_hash, Status refusal) {
  // A key the memory forgot (older than a day) may have answered long ago: a refusal now must
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

// ---- Operations ----

void LedgerService::mint(MintRequest req, const Caller& caller, Done done) {
  const std::int64_t now = clock_.now_seconds();
  Status bad = check_key(req.idempotency_key);
  if (bad.ok()) bad = check_positive(req.amount);
  if (bad.ok()) bad = check_currency(req.currency);
  if (bad.ok() && !is_one_of(kLotSources, req.source)) {
    bad = invalid(ErrorCode::VALIDATION_INVALID_VALUE, "source",
                  "source must be payment, grant or seed");
  }
  if (bad.ok() && req.payment_id &&
      (req.payment_id->empty() || req.payment_id->size() > kPaymentIdBytesMax)) {
    bad = invalid(ErrorCode::VALIDATION_INVALID_VALUE, "payment_id",
                  "payment_id must be 1 to " + std::to_string(kPaymentIdBytesMax) + " bytes");
  }
  if (bad.ok() && req.expires_at && *req.expires_at <= now) {
    bad = invalid(ErrorCode::VALIDATION_INVALID_VALUE, "expires_at",
                  "expires_at must be in the future");
  }
  if (bad.ok()) {
    auto exists = owner_exists(req.owner);
    if (!exists.ok()) {
      bad = exists.status();
    } else if (!*exists) {
      bad = invalid(ErrorCode::LEDGER_OWNER_UNKNOWN, "owner", "no agent " + req.owner);
    }
  }
  if (!bad.ok()) return done(bad);
  const json::object args{{"op", "mint"},
                          {"owner", req.owner},
                          {"amount", req.amount.to_string()},
                          {"currency", req.currency},
                          {"source", req.source},
                          {"payment_id", req.payment_id ? json::value(*req.payment_id) : nullptr},
                          {"expires_at", opt_time(req.expires_at)}};
  const std::string hash = canonical_hash(args);
  if (!claimed(req.idempotency_key, hash, done)) return;

  Lot lot;
  lot.id = ids_.next();
  lot.owner = req.owner;
  lot.currency = req.currency;
  lot.source = req.source;
  lot.amount = req.amount;
  lot.expires_at = req.expires_at;
  lot.payment_id = req.payment_id;
  lot.created_at = now;
  auto change = book_.mint(lot);
  if (!change.ok()) {
    Result<Answer> out = change.status();
    // The payment already has its lot: the same mint is answered with it.
    if (change.status().code() == ErrorCode::LEDGER_PAYMENT_CONFLICT) {
      const std::string existing(change.status().details().at("lot_id").as_string());
      auto prior = book_.lot(existing);
      if (prior && prior->owner == req.owner && prior->amount == req.amount &&
          prior->currency == req.currency) {
        out = Answer{201, lot_json(*prior), true};
      } else {
        out = Status(ErrorCode::IDEMPOTENCY_KEY_REUSED,
                     "payment " + *req.payment_id + " was minted with other arguments",
                     {{"payment_id", *req.payment_id}, {"lot_id", existing}});
      }
    }
    for (auto& w : keys_->finish(req.idempotency_key, out)) w(out);
    return done(std::move(out));
  }
  auto op = std::make_shared<Op>();
  op->change = std::move(*change);
  op->op_id = ids_.next();
  op->key = req.idempotency_key;
  op->claim_key = req.idempotency_key;
  op->request_hash = hash;
  op->audit_type = "LEDGER_MINT";
  op->caller = caller;
  op->now_s = now;
  Lot shown = *op->change.new_lot;
  shown.remaining = req.amount;
  op->answer = Answer{201, lot_json(shown), false};
  commit(std::move(op), std::move(done));
}

void LedgerService::debit(DebitRequest req, const Caller& caller, Done done) {
  const std::int64_t now = clock_.now_seconds();
  Status bad = check_key(req.idempotency_key);
  if (bad.ok()) bad = check_positive(req.amount);
  if (bad.ok()) bad = check_currency(req.currency);
  if (bad.ok()) {
    auto exists = owner_exists(req.owner);
    if (!exists.ok()) {
      bad = exists.status();
    } else if (!*exists) {
      bad = invalid(ErrorCode::LEDGER_OWNER_UNKNOWN, "owner", "no agent " + req.owner);
    }
  }
  if (!bad.ok()) return done(bad);
  const std::string hash = canonical_hash(json::object{{"op", "debit"},
                                                       {"owner", req.owner},
                                                       {"amount", req.amount.to_string()},
                                                       {"currency", req.currency}});
  if (!claimed(req.idempotency_key, hash, done)) return;
  auto change = book_.debit(req.owner, req.currency, req.amount, now);
  if (!change.ok()) {
    Result<Answer> out = stored_answer(req.idempotency_key, hash, change.status());
    for (auto& w : keys_->finish(req.idempotency_key, out)) w(out);
    return done(std::move(out));
  }
  auto op = std::make_shared<Op>();
  op->change = std::move(*change);
  op->op_id = ids_.next();
  op->key = req.idempotency_key;
  op->claim_key = req.idempotency_key;
  op->request_hash = hash;
  op->audit_type = "LEDGER_DEBIT";
  op->caller = caller;
  op->now_s = now;
  op->answer = Answer{201,
                      {{"op_id", op->op_id},
                       {"owner", req.owner},
                       {"currency", req.currency},
                       {"amount", req.amount.to_string()},
                       {"entries", entries_json(op->change)},
                       {"remaining", op->change.after.available.to_string()}},
                      false};
  commit(std::move(op), std::move(done));
}

void LedgerService::hold(HoldRequest req, const Caller& caller, Done done) {
  const std::int64_t now = clock_.now_seconds();
  const std::int64_t ttl = req.ttl_seconds.value_or(options_.hold_ttl_seconds_default);
  Status bad = check_key(req.idempotency_key);
  if (bad.ok()) bad = check_positive(req.amount);
  if (bad.ok()) bad = check_currency(req.currency);
  if (bad.ok() && (ttl < 1 || ttl > options_.hold_ttl_seconds_max)) {
    bad = invalid(ErrorCode::VALIDATION_INVALID_VALUE, "ttl_seconds",
                  "ttl_seconds must be 1 to " + std::to_string(options_.hold_ttl_seconds_max));
  }
  if (bad.ok()) {
    auto exists = owner_exists(req.owner);
    if (!exists.ok()) {
      bad = exists.status();
    } else if (!*exists) {
      bad = invalid(ErrorCode::LEDGER_OWNER_UNKNOWN, "owner", "no agent " + req.owner);
    }
  }
  if (!bad.ok()) return done(bad);
  const std::string hash = canonical_hash(json::object{{"op", "hold"},
                                                       {"owner", req.owner},
                                                       {"amount", req.amount.to_string()},
                                                       {"currency", req.currency},
                                                       {"ttl_seconds", ttl}});
  if (!claimed(req.idempotency_key, hash, done)) return;
  auto change =
      book_.hold(req.owner, req.currency, req.amount, false, ids_.next(), now + ttl, std::nullopt, now);
  if (!change.ok()) {
    Result<Answer> out = stored_answer(req.idempotency_key, hash, change.status());
    for (auto& w : keys_->finish(req.idempotency_key, out)) w(out);
    return done(std::move(out));
  }
  auto op = std::make_shared<Op>();
  op->change = std::move(*change);
  op->op_id = ids_.next();
  op->key = req.idempotency_key;
  op->claim_key = req.idempotency_key;
  op->request_hash = hash;
  op->audit_type = "LEDGER_HOLD";
  op->caller = caller;
  op->now_s = now;
  json::object body = hold_json(*op->change.new_hold, "pending");
  body["available"] = op->change.after.available.to_string();
  op->answer = Answer{201, std::move(body), false};
  commit(std::move(op), std::move(done));
}

void LedgerService::post(const std::string& hold_id, std::optional<Amount> amount,
                         const Caller& caller, Done done) {
  close_hold(hold_id, true, std::move(amount), caller, std::move(done));
}

void LedgerService::void_hold(const std::string& hold_id, const Caller& caller, Done done) {
  close_hold(hold_id, false, std::nullopt, caller, std::move(done));
}

void LedgerService::close_hold(const std::string& hold_id, bool post, std::optional<Amount> amount,
                               const Caller& caller, Done done) {
  const std::int64_t now = clock_.now_seconds();
  const std::string hash =
      std::string(post ? "post:" : "void:") + (amount ? amount->to_string() : "all");
  const std::string key = close_key(hold_id);
  Answer answer;
  switch (keys_->claim(key, hash, now, done, answer)) {
    case KeyTable::Claim::kClaimed: break;
    case KeyTable::Claim::kWaiting: return;
    case KeyTable::Claim::kReplay: return done(std::move(answer));
    case KeyTable::Claim::kConflict: {
      // The first close's kind is in its request hash ("post:..." or "void:...").
      const std::string first = keys_->hash_of(key).value_or("");
      const std::string status = first.starts_with("post:") ? "posted" : "voided";
      return done(Status(ErrorCode::LEDGER_HOLD_NOT_PENDING,
                         "hold " + hold_id + " is " + status,
                         {{"hold_id", hold_id}, {"status", status}}));
    }
  }
  auto fail = [&](Status s) {
    Result<Answer> out = std::move(s);
    for (auto& w : keys_->finish(key, out)) w(out);
    done(std::move(out));
  };
  auto pending = book_.find_hold(hold_id);
  if (!pending) {
    // Closed before the keys' memory: what the store says.
    auto row = store_.get_hold(hold_id);
    if (!row.ok()) return fail(row.status());
    if (!*row) return fail(Status(ErrorCode::LEDGER_HOLD_NOT_FOUND, "no hold " + hold_id));
    const store::HoldRow& h = **row;
    const bool same = (post && h.status == "posted" &&
                       (!amount || h.posted_amount == amount->to_string())) ||
                      (!post && h.status == "voided");
    if (!same) {
      return fail(Status(ErrorCode::LEDGER_HOLD_NOT_PENDING,
                         "hold " + hold_id + " is " + h.status,
                         {{"hold_id", hold_id}, {"status", h.status}}));
    }
    Hold shown;
    shown.id = h.id;
    shown.owner = h.owner;
    shown.currency = h.currency;
    shown.amount = Amount::parse(h.amount).value();
    shown.expires_at = h.expires_at;
    shown.tx_id = h.tx_id;
    shown.created_at = h.created_at;
    std::optional<Amount> posted;
    if (h.posted_amount) posted = Amount::parse(*h.posted_amount).value();
    Result<Answer> out = Answer{200, hold_json(shown, h.status, posted), true};
    for (auto& w : keys_->finish(key, out)) w(out);
    return done(std::move(out));
  }
  if (pending->tx_id) {
    return fail(Status(ErrorCode::LEDGER_HOLD_NOT_PENDING,
                       "hold " + hold_id + " belongs to transaction " + *pending->tx_id +
                           ": it is settled with the transaction",
                       {{"hold_id", hold_id}, {"tx_id", *pending->tx_id}}));
  }
  auto change = post ? book_.post(hold_id, amount, now) : book_.void_hold(hold_id, now);
  if (!change.ok()) return fail(change.status());
  auto op = std::make_shared<Op>();
  op->change = std::move(*change);
  op->op_id = ids_.next();
  op->claim_key = key;
  op->request_hash = hash;
  op->audit_type = post ? "LEDGER_POST" : "LEDGER_VOID";
  op->caller = caller;
  op->now_s = now;
  json::object body = hold_json(*op->change.closed_hold, op->change.hold_status, op->change.posted);
  body["entries"] = entries_json(op->change);
  body["available"] = op->change.after.available.to_string();
  op->answer = Answer{200, std::move(body), false};
  commit(std::move(op), std::move(done));
}

json::object LedgerService::balance(const std::string& owner, const std::string& currency) const {
  return balance_json(owner, currency, book_.balance(owner, currency, clock_.now_seconds()));
}

std::map<std::string, Balance> LedgerService::balances(const std::string& owner) const {
  return book_.balances(owner, clock_.now_seconds());
}

// ---- Sweeper ----

void LedgerService::sweep() {
  const std::int64_t now = clock_.now_seconds();
  keys_->forget_before(now - options_.idempotency_memory_seconds);
  std::vector<std::shared_ptr<Op>> ops;
  const Caller system{"system", "", ""};
  for (Change& c : book_.expire_lots(now)) {
    auto op = std::make_shared<Op>();
    const std::string lot_id = c.statuses.front().first;
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
    auto change = book_.void_hold(hold_id, now, true, "expired");
    if (!change.ok()) continue;  // closed meanwhile
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

// ---- BUDGET holds of decisions ----

Result<std::vector<engine::BudgetHeld>> LedgerService::hold_for(
    const std::string& agent_id, const std::vector<engine::BudgetNeed>& needs,
    const std::string& reservation_id, std::int64_t now_ms) {
  const std::int64_t now = now_ms / 1000;
  std::vector<Change> taken;
  std::vector<engine::BudgetHeld> out;
  std::vector<std::string> ids;
  for (const auto& need : needs) {
    const std::string hold_id = ids_.next();
    auto r = book_.hold(agent_id, need.asset, need.amount, need.partial, hold_id, 0,
                        reservation_id, now);
    if (!r.ok()) {
      for (auto it = taken.rbegin(); it != taken.rend(); ++it) book_.undo(*it);
      return r.status();
    }
    out.push_back({hold_id, need.asset, need.amount, r->new_hold->amount});
    ids.push_back(hold_id);
    taken.push_back(std::move(*r));
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
    WARDEN_RETURN_IF_ERROR(write_change(tx, c, row.id, reservation_id, now_s));
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
    return;
  }
  for (auto it = changes.rbegin(); it != changes.rend(); ++it) book_.undo(*it);
}

Result<std::vector<Change>> LedgerService::settle_reservation(
    store::WriteTxn& tx, const std::string& reservation_id, bool confirm,
    const std::optional<Amount>& final_amount, std::int64_t now_s) {
  std::vector<std::string> ids;
  {
    std::lock_guard lock(reservations_mu_);
    auto it = reservation_holds_.find(reservation_id);
    if (it == reservation_holds_.end()) return std::vector<Change>{};
    ids = it->second;
  }
  std::vector<Change> out;
  for (const std::string& id : ids) {
    auto pending = book_.find_hold(id);
    if (!pending) continue;
    std::optional<Amount> posted;
    // One hold settles at the final amount (capped by what it holds); several, as held.
    if (final_amount && ids.size() == 1) posted = std::min(*final_amount, pending->amount);
    auto change = confirm ? book_.post(id, posted, now_s, false)
                          : book_.void_hold(id, now_s, false);
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

}  // namespace warden::ledger
