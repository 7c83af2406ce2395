// The ledger service: operations through the group-commit writer, idempotency keys, start-up,
// the sweeper, and the BUDGET holds of decisions.
#include "ledger/service.h"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/serialize.hpp>
#include <deque>

#include "core/enums.h"
#include "core/json.h"
#include "core/sha256.h"
#include "core/thread_name.h"

namespace warden::ledger {
namespace json = boost::json;

namespace {

std::string opt_time(const std::optional<std::int64_t>& t) {
  return t ? std::to_string(*t) : std::string();
}

// An answer's body is built in one block of memory that it owns: a handful of allocations
// instead of one per key and string, and nothing to walk when it is destroyed (on the writer's
// thread, after the commit).
json::storage_ptr answer_storage() {
  constexpr std::size_t kAnswerBlockBytes = 2048;
  return json::make_shared_resource<json::monotonic_resource>(kAnswerBlockBytes);
}

// About what a debit's answer takes as text, before its entries.
constexpr std::size_t kDebitResultBytes = 192;

// The bodies below list their keys in sorted order, as canonical_json() writes them: a retry's
// answer is parsed back from that text and reads the same as the first.
json::array entries_json(const Change& c, json::storage_ptr sp = {}) {
  json::array out(std::move(sp));
  out.reserve(c.entries.size());
  for (const Entry& e : c.entries) {
    out.push_back({{"amount", e.amount.to_string()},
                   {"lot_id", e.lot_id},
                   {"type", entry_type_name(e.type)}});
  }
  return out;
}

// A hold, with the entries of the change that closed it and the balance after it when given.
json::object hold_body(const Hold& h, std::string_view status, const std::optional<Amount>& posted,
                       const Change* entries_of, const Amount* available,
                       json::storage_ptr sp = {}) {
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

// canonical_json() of an operation's arguments, written directly (callers add the keys in
// sorted order), and its SHA-256: the request hash an idempotency key is checked against.
class CanonicalArgs {
 public:
  CanonicalArgs& text(std::string_view key, std::string_view value) {
    add_key(key);
    append_json_string(out_, value);
    return *this;
  }
  CanonicalArgs& number(std::string_view key, std::int64_t value) {
    add_key(key);
    out_ += std::to_string(value);
    return *this;
  }
  std::string hash() {
    out_ += '}';
    return sha256_hex(out_);
  }

 private:
  void add_key(std::string_view key) {
    out_ += out_.empty() ? '{' : ',';
    append_json_string(out_, key);
    out_ += ':';
  }
  std::string out_;
};

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

// ---- Idempotency keys ----

struct LedgerService::KeyTable {
  enum class Claim { kClaimed, kWaiting, kReplay, kConflict };
  // A committed answer is kept as its canonical JSON text, the text the op row stores: the
  // commit hands it over without copying the body, and only a retry parses it again.
  struct Entry {
    std::string request_hash;
    bool committed = false;
    int status = 0;
    std::string result;
    std::vector<Done> waiting;
    std::int64_t first_seen_s = 0;
  };

  const std::size_t keys_max;
  std::mutex mu;
  std::unordered_map<std::string, Entry> entries;         // guarded by mu
  std::deque<std::pair<std::int64_t, std::string>> order;  // first seen; guarded by mu

  explicit KeyTable(std::size_t max) : keys_max(max) {}

  // kReplay fills `answer`; kWaiting takes `done`.
  Claim claim(const std::string& key, const std::string& hash, std::int64_t now_s, Done& done,
              Answer& answer) {
    int status = 0;
    std::string result;
    {
      std::lock_guard lock(mu);
      auto [it, inserted] = entries.try_emplace(key);
      Entry& e = it->second;
      if (inserted) {
        e.request_hash = hash;
        e.first_seen_s = now_s;
        order.emplace_back(now_s, key);
        trim_locked();
        return Claim::kClaimed;
      }
      if (e.request_hash != hash) return Claim::kConflict;
      if (!e.committed) {
        e.waiting.push_back(std::move(done));
        return Claim::kWaiting;
      }
      status = e.status;
      result = e.result;
    }
    answer = replay_of(status, result);
    return Claim::kReplay;
  }

  static Answer replay_of(int status, std::string_view result) {
    auto v = parse_json(result);
    // The text is canonical_json() of an object this service made (or read back from its own
    // op row, which start() checked).
    return Answer{status, v.ok() && v->is_object() ? std::move(v->as_object()) : json::object(),
                  true};
  }

  // The claim's operation committed with `result`, or failed (the key is free again). Returns
  // the identical requests that waited, to answer outside the lock.
  std::vector<Done> finish(const std::string& key, const Result<Answer>& result) {
    if (result.ok()) return committed(key, result->status, canonical_json(result->body));
    std::lock_guard lock(mu);
    auto it = entries.find(key);
    if (it == entries.end()) return {};
    std::vector<Done> waiting = std::move(it->second.waiting);
    entries.erase(it);
    return waiting;
  }

  // The entry of a key this caller claimed. It stays where it is until its operation finishes
  // (nothing else erases an entry that has not committed, and rehashing moves no element), so
  // the commit reaches it without hashing the key on the writer's thread.
  Entry* slot(const std::string& key) {
    std::lock_guard lock(mu);
    auto it = entries.find(key);
    return it == entries.end() ? nullptr : &it->second;
  }

  // finish() of a committed answer whose text is at hand.
  std::vector<Done> committed(Entry& e, int status, std::string result) {
    std::lock_guard lock(mu);
    e.committed = true;
    e.status = status;
    e.result = std::move(result);
    return std::move(e.waiting);
  }
  std::vector<Done> committed(const std::string& key, int status, std::string result) {
    Entry* e = slot(key);
    return e == nullptr ? std::vector<Done>() : committed(*e, status, std::move(result));
  }

  // The request hash a key was claimed with, when it is known.
  std::optional<std::string> hash_of(const std::string& key) {
    std::lock_guard lock(mu);
    auto it = entries.find(key);
    if (it == entries.end()) return std::nullopt;
    return it->second.request_hash;
  }

  void restore(const std::string& key, const std::string& hash, std::string result,
               std::int64_t created_s) {
    std::lock_guard lock(mu);
    entries[key] = Entry{hash, true, 201, std::move(result), {}, created_s};
    order.emplace_back(created_s, key);
    trim_locked();
  }

  // Forgets the oldest committed keys past keys_max. An operation still in flight is never
  // forgotten (its waiters need it); the first one stops the trim until it commits.
  void trim_locked() {
    while (order.size() > keys_max) {
      auto it = entries.find(order.front().second);
      if (it != entries.end()) {
        if (!it->second.committed && it->second.first_seen_s == order.front().first) return;
        if (it->second.first_seen_s == order.front().first) entries.erase(it);
      }
      order.pop_front();
    }
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

namespace {

// A change's rows, made before its write so that the writer thread only binds them.
struct ChangeRows {
  std::optional<store::LotRow> lot;
  std::optional<store::HoldRow> new_hold;
  std::vector<store::LotEntryRow> entries;
  std::vector<std::pair<std::string, std::string_view>> statuses;  // lot id, status
  std::optional<store::HoldRow> closed_hold;
};

}  // namespace

// One operation on its way through the writer.
struct LedgerService::Op {
  Change change;
  std::string op_id;
  std::optional<std::string> key;  // the client's idempotency key (stored)
  std::string claim_key;           // the key table entry to finish (may be internal)
  KeyTable::Entry* claim_slot = nullptr;  // claim_key's entry
  std::string request_hash;
  std::optional<std::string> tx_id;
  std::string audit_type;
  std::string audit_severity = "info";
  Caller caller;
  std::int64_t now_s = 0;
  Answer answer;
  Done done;
  // Made on the caller's thread, so the writer only binds them.
  store::AuditEvent audit;
  store::LedgerOpRow row;
  ChangeRows rows;

  // The key table entry this operation finishes: its own (internal) claim key, else the
  // client's idempotency key (moved into the op row by commit()), else none.
  const std::string* claim() const {
    if (!claim_key.empty()) return &claim_key;
    return row.idempotency_key ? &*row.idempotency_key : nullptr;
  }
};

LedgerService::LedgerService(store::Store& store, store::BatchWriter& writer, const Clock& clock,
                             IdGenerator& ids, LedgerOptions options)
    : store_(store),
      writer_(writer),
      clock_(clock),
      ids_(ids),
      options_(options),
      keys_(std::make_unique<KeyTable>(options.idempotency_memory_keys_max)) {}

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
  for (store::LotEntryRow& row : rows.entries) {
    row.id = 0;
    WARDEN_RETURN_IF_ERROR(tx.insert_lot_entry(row));
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
    Result<Answer> out = s;
    // A key older than the memory of keys: the store still has it.
    if (s.code() == ErrorCode::STORE_CONSTRAINT && op->row.idempotency_key) {
      const std::string& key = *op->row.idempotency_key;
      auto stored = store_.find_ledger_op(key);
      if (stored.ok() && *stored) {
        if ((*stored)->request_hash != op->row.request_hash) {
          out = Status(ErrorCode::IDEMPOTENCY_KEY_REUSED,
                       "idempotency key was used with other arguments", {{"idempotency_key", key}});
        } else if (auto v = parse_json((*stored)->result); v.ok() && v->is_object()) {
          out = Answer{201, v->as_object(), true};
        }
      }
    }
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
  op->key = std::move(req.idempotency_key);
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
  const std::string hash = CanonicalArgs()
                               .text("amount", req.amount.to_string())
                               .text("currency", req.currency)
                               .text("op", "debit")
                               .text("owner", req.owner)
                               .hash();
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
  op->key = std::move(req.idempotency_key);
  op->request_hash = hash;
  op->audit_type = "LEDGER_DEBIT";
  op->caller = caller;
  op->now_s = now;
  // The body, and the same as canonical JSON text for the op row and the audit row, written
  // side by side (the text is what canonical_json(body) would write).
  json::object body(answer_storage());
  body.reserve(6);
  std::string& text = op->row.result;
  text.reserve(kDebitResultBytes + 128 * op->change.entries.size());
  auto put = [&](std::string_view key, std::string value) {
    text += text.empty() ? '{' : ',';
    append_json_string(text, key);
    text += ':';
    append_json_string(text, value);
    body[key] = std::move(value);
  };
  put("amount", req.amount.to_string());
  put("currency", req.currency);
  json::array entries(body.storage());
  entries.reserve(op->change.entries.size());
  text += ",\"entries\":[";
  for (const Entry& e : op->change.entries) {
    std::string amount = e.amount.to_string();
    const std::string_view type = entry_type_name(e.type);
    if (text.back() != '[') text += ',';
    text += "{\"amount\":";
    append_json_string(text, amount);
    text += ",\"lot_id\":";
    append_json_string(text, e.lot_id);
    text += ",\"type\":";
    append_json_string(text, type);
    text += '}';
    entries.push_back({{"amount", std::move(amount)}, {"lot_id", e.lot_id}, {"type", type}});
  }
  text += ']';
  body["entries"] = std::move(entries);
  put("op_id", op->op_id);
  put("owner", req.owner);
  put("remaining", op->change.after.available.to_string());
  text += '}';
  op->answer = Answer{201, std::move(body), false};
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
  const std::string hash = CanonicalArgs()
                               .text("amount", req.amount.to_string())
                               .text("currency", req.currency)
                               .text("op", "hold")
                               .text("owner", req.owner)
                               .number("ttl_seconds", ttl)
                               .hash();
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
  op->key = std::move(req.idempotency_key);
  op->request_hash = hash;
  op->audit_type = "LEDGER_HOLD";
  op->caller = caller;
  op->now_s = now;
  op->answer = Answer{201,
                      hold_body(*op->change.new_hold, "pending", std::nullopt, nullptr,
                                &op->change.after.available, answer_storage()),
                      false};
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
  op->answer = Answer{200,
                      hold_body(*op->change.closed_hold, op->change.hold_status, op->change.posted,
                                &op->change, &op->change.after.available, answer_storage()),
                      false};
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
