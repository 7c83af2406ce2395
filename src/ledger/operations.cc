// The ledger's operations: mint, debit, hold, and closing a hold (post or void). Each checks its
// arguments, claims its idempotency key, changes the Book in memory and hands the change to
// commit(), which answers after the write (service.cc).
#include "ledger/internal.h"

#include "core/enums.h"

namespace warden::ledger {

std::shared_ptr<LedgerService::Op> LedgerService::new_op(Change change, const std::string& hash,
                                                         std::string audit_type,
                                                         const Caller& caller, std::int64_t now) {
  auto op = std::make_shared<Op>();
  op->change = std::move(change);
  op->op_id = ids_.next();
  op->request_hash = hash;
  op->audit_type = std::move(audit_type);
  op->caller = caller;
  op->now_s = now;
  return op;
}

// The book refused a debit or hold: the key's first answer when the store has one (memory forgot
// it), else the refusal; identical requests that waited get the same.
void LedgerService::refuse(const std::string& key, const std::string& hash, Status refusal,
                           Done& done) {
  Result<Answer> out = stored_answer(key, hash, std::move(refusal));
  for (auto& w : keys_->finish(key, out)) w(out);
  done(std::move(out));
}

void LedgerService::mint(MintRequest req, const Caller& caller, Done done) {
  const std::int64_t now = clock_.now_seconds();
  Status bad = check_spend(req.idempotency_key, req.amount, req.currency);
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
  if (bad.ok()) bad = check_owner(req.owner);
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
  enter(req.owner);
  auto change = book_.mint(lot);
  if (!change.ok()) {
    leave(req.owner);
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
  auto op = new_op(std::move(*change), hash, "LEDGER_MINT", caller, now);
  op->key = std::move(req.idempotency_key);
  Lot shown = *op->change.new_lot;
  shown.remaining = req.amount;
  op->answer = Answer{201, lot_json(shown), false};
  commit(std::move(op), std::move(done));
}

void LedgerService::debit(DebitRequest req, const Caller& caller, Done done) {
  const std::int64_t now = clock_.now_seconds();
  Status bad = check_spend(req.idempotency_key, req.amount, req.currency);
  if (bad.ok()) bad = check_owner(req.owner);
  if (!bad.ok()) return done(bad);
  const std::string hash = CanonicalArgs()
                               .text("amount", req.amount.to_string())
                               .text("currency", req.currency)
                               .text("op", "debit")
                               .text("owner", req.owner)
                               .hash();
  if (!claimed(req.idempotency_key, hash, done)) return;
  enter(req.owner);
  auto change = book_.debit(req.owner, req.currency, req.amount, now);
  if (!change.ok() && refreshed_after(change.status(), req.owner)) {
    change = book_.debit(req.owner, req.currency, req.amount, now);
  }
  if (!change.ok()) {
    leave(req.owner);
    return refuse(req.idempotency_key, hash, change.take_status(), done);
  }
  auto op = new_op(std::move(*change), hash, "LEDGER_DEBIT", caller, now);
  op->key = std::move(req.idempotency_key);
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
  Status bad = check_spend(req.idempotency_key, req.amount, req.currency);
  if (bad.ok() && (ttl < 1 || ttl > options_.hold_ttl_seconds_max)) {
    bad = invalid(ErrorCode::VALIDATION_INVALID_VALUE, "ttl_seconds",
                  "ttl_seconds must be 1 to " + std::to_string(options_.hold_ttl_seconds_max));
  }
  if (bad.ok()) bad = check_owner(req.owner);
  if (!bad.ok()) return done(bad);
  const std::string hash = CanonicalArgs()
                               .text("amount", req.amount.to_string())
                               .text("currency", req.currency)
                               .text("op", "hold")
                               .text("owner", req.owner)
                               .number("ttl_seconds", ttl)
                               .hash();
  if (!claimed(req.idempotency_key, hash, done)) return;
  const std::string hold_id = ids_.next();
  enter(req.owner);
  auto change =
      book_.hold(req.owner, req.currency, req.amount, false, hold_id, now + ttl, std::nullopt, now);
  if (!change.ok() && refreshed_after(change.status(), req.owner)) {
    change = book_.hold(req.owner, req.currency, req.amount, false, hold_id, now + ttl,
                        std::nullopt, now);
  }
  if (!change.ok()) {
    leave(req.owner);
    return refuse(req.idempotency_key, hash, change.take_status(), done);
  }
  auto op = new_op(std::move(*change), hash, "LEDGER_HOLD", caller, now);
  op->key = std::move(req.idempotency_key);
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
  // A hold this Book does not have pending: what the store says of it.
  auto answer_stored = [&](const store::HoldRow& h) {
    const bool same = (post && h.status == "posted" &&
                       (!amount || h.posted_amount == amount->to_string())) ||
                      (!post && h.status == "voided");
    if (!same) {
      return fail(Status(ErrorCode::LEDGER_HOLD_NOT_PENDING,
                         "hold " + hold_id + " is " + h.status,
                         {{"hold_id", hold_id}, {"status", h.status}}));
    }
    auto shown = hold_from_row(h);
    if (!shown.ok()) return fail(shown.take_status());
    std::optional<Amount> posted;
    if (h.posted_amount) posted = Amount::parse(*h.posted_amount).value();
    Result<Answer> out = Answer{200, hold_json(*shown, h.status, posted), true};
    for (auto& w : keys_->finish(key, out)) w(out);
    done(std::move(out));
  };
  auto pending = book_.find_hold(hold_id);
  if (!pending) {
    // Closed before the keys' memory, or (shared_store) taken by another replica: once the
    // Book has caught up with the store, that one is closed here like any other.
    auto row = store_.get_hold(hold_id);
    if (!row.ok()) return fail(row.status());
    if (!*row) return fail(Status(ErrorCode::LEDGER_HOLD_NOT_FOUND, "no hold " + hold_id));
    if ((*row)->status == "pending" && options_.shared_store) {
      auto refreshed = refresh_owner((*row)->owner);
      if (refreshed.ok() && *refreshed) pending = book_.find_hold(hold_id);
      if (!pending) {  // closed meanwhile, or still in flight on this replica
        row = store_.get_hold(hold_id);
        if (!row.ok()) return fail(row.status());
        if (!*row) return fail(Status(ErrorCode::LEDGER_HOLD_NOT_FOUND, "no hold " + hold_id));
      }
    }
    if (!pending) return answer_stored(**row);
  }
  if (pending->tx_id) {
    return fail(Status(ErrorCode::LEDGER_HOLD_NOT_PENDING,
                       "hold " + hold_id + " belongs to transaction " + *pending->tx_id +
                           ": it is settled with the transaction",
                       {{"hold_id", hold_id}, {"tx_id", *pending->tx_id}}));
  }
  enter(pending->owner);
  auto change = post ? book_.post(hold_id, amount, now) : book_.void_hold(hold_id, now);
  if (!change.ok()) {
    leave(pending->owner);
    // Closed since it was found (shared_store: the owner was stale, and enter() read it again
    // to find it closed by another replica): answered as the store has it.
    if (change.status().code() == ErrorCode::LEDGER_HOLD_NOT_FOUND) {
      auto row = store_.get_hold(hold_id);
      if (row.ok() && *row && (*row)->status != "pending") return answer_stored(**row);
    }
    return fail(change.status());
  }
  auto op = new_op(std::move(*change), hash, post ? "LEDGER_POST" : "LEDGER_VOID", caller, now);
  op->claim_key = key;
  op->answer = Answer{200,
                      hold_body(*op->change.closed_hold, op->change.hold_status, op->change.posted,
                                &op->change, &op->change.after.available, answer_storage()),
                      false};
  commit(std::move(op), std::move(done));
}

}  // namespace warden::ledger
