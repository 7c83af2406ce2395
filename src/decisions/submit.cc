// Submitting a decision: idempotency, decide and reserve in memory, persist the transaction with
// its approval and audit row through the group-commit writer, answer after commit.
#include <boost/json/serialize.hpp>

#include "core/json.h"
#include "decisions/internal.h"
#include "ledger/service.h"

namespace warden::decisions {
namespace json = boost::json;

namespace {

// The key is held by `holder_id`, a transaction made for a different request.
Status key_used_otherwise(const std::string& holder_id) {
  return Status(ErrorCode::TX_IDEMPOTENCY_CONFLICT,
                "idempotency key was used with a different request",
                json::object{{"existing_id", holder_id}});
}

}  // namespace

Submission submission_of(engine::MappedRequest m, const json::object& body) {
  Submission sub;
  sub.request = std::move(m.request);
  store::TransactionRow& row = sub.row;
  row.type = std::move(m.type);
  row.chain = std::move(m.chain);
  row.amount = std::move(m.amount);
  row.reserved_amount = std::move(m.reserved_amount);
  row.approved_amount = std::move(m.approved_amount);
  row.to_address = std::move(m.to);
  row.token_mint = std::move(m.token);
  row.contract_address = std::move(m.contract);
  row.method_signature = std::move(m.method);
  row.spender_address = std::move(m.spender);
  row.metadata = json::serialize(m.metadata);
  sub.idempotency_key = std::move(m.idempotency_key);
  if (sub.idempotency_key) sub.request_hash = canonical_hash(body);  // only compared then
  return sub;
}

engine::Decision DecisionService::evaluate(engine::Request request, bool explain) {
  request.now_ms = clock_.now_ms();
  return engine_.decide(request, "", false, explain);
}

void DecisionService::submit(Submission sub, const Actor& actor, Done done) {
  const std::int64_t now_ms = clock_.now_ms();
  // One copy of what the writer stores, shared by the write and its completion.
  auto pending = std::make_shared<PendingWrite>();
  pending->row = std::move(sub.row);
  pending->row.id = ids_.next();
  std::string idem_key;
  if (sub.idempotency_key) {
    idem_key = sub.agent_id + "\n" + *sub.idempotency_key;
    if (answered_by_key(idem_key, sub.request_hash, pending->row.id, now_ms / 1000, done)) return;
  }
  engine::Request& req = sub.request;
  req.agent_id = sub.agent_id;
  req.now_ms = now_ms;
  const engine::Decision d = engine_.decide(req, pending->row.id, true, sub.explain);
  json::object meta = record_decision(*pending, d, sub, actor, now_ms / 1000);
  // Cluster mode: the store checks these against every replica's usage when it commits.
  const bool shared = d.allowed() && (!d.windows.empty() || !d.holds.empty());
  if (shared) {
    pending->windows = d.windows;
    if (!d.holds.empty()) pending->budget_policy_id = d.holds.front().policy_id;
  }
  // Only a caller that asked to hear of the decision early (the gateway) reads what it reserved.
  if (sub.decided && d.allowed()) {
    for (const auto& c : d.charges) {
      if (c.kind == engine::MeterKind::kAmount) pending->reserved_assets.push_back(c.asset);
    }
    for (const auto& h : d.holds) pending->reserved_assets.push_back(h.asset);
  }
  // The answer is built here, on the caller's thread: the writer thread that commits the batch
  // only hands it over.
  auto body = std::make_shared<json::object>(transaction_json(pending->row, meta));
  pending->event = outbox_event(pending->row, true, body.get());
  // A decision a store shared by replicas may still refuse is told only by its answer.
  if (sub.decided && !(shared && engine_.shared_windows())) {
    sub.decided(*body, pending->reserved_assets);
  }
  json::value trace;
  if (sub.explain) trace = engine::decision_json(d, true)["trace"];
  // The observer reads the decision after the commit; nothing is copied when nobody listens.
  if (observer_.load() != nullptr) {
    pending->decision = std::make_shared<const engine::Decision>(d);
  }
  commit_decision(std::move(pending), std::move(body), std::move(trace), std::move(idem_key),
                  std::move(done));
}

bool DecisionService::answered_by_key(const std::string& key, const std::string& request_hash,
                                      const std::string& tx_id, std::int64_t now, Done& done) {
  const auto claim = idempotency_->claim(key, request_hash, tx_id, now, done);
  switch (claim.outcome) {
    case IdempotencyTable::Outcome::kClaimed:
      return false;
    case IdempotencyTable::Outcome::kWaiting:
      return true;  // answered with the first request's decision once it commits
    case IdempotencyTable::Outcome::kConflict:
      done(key_used_otherwise(claim.tx_id));
      return true;
    case IdempotencyTable::Outcome::kReplay: {
      auto existing = store_.get_transaction(claim.tx_id);
      if (!existing.ok()) {
        done(existing.take_status());
      } else if (!*existing) {
        done(Status(ErrorCode::TX_NOT_FOUND));
      } else {
        done(Answer{200, transaction_json(**existing), true, {}});
      }
      return true;
    }
  }
  return false;
}

// One point read through the unique index, on the writer thread, and only for a repeat the
// table did not know; the key is not put back in the table (its first use may be older than the
// table's order of keys), so every such repeat reads again.
Result<Answer> DecisionService::answer_for_held_key(const store::TransactionRow& refused) {
  WARDEN_ASSIGN_OR_RETURN(
      const auto rows,
      store_.list_transactions(
          {.agent_id = refused.agent_id, .idempotency_key = refused.idempotency_key},
          store::Page{std::nullopt, 1}));
  const std::int64_t replay_since = refused.created_at - options_.idempotency_retention_seconds;
  // The key is unique per agent for good; past the replay period it can no longer be used.
  if (rows.empty() || rows.front().created_at < replay_since) {
    return Status(ErrorCode::TX_IDEMPOTENCY_CONFLICT,
                  "idempotency key was already used (more than " +
                      std::to_string(options_.idempotency_retention_seconds) + " s ago)",
                  rows.empty() ? json::object{} : json::object{{"existing_id", rows.front().id}});
  }
  const store::TransactionRow& held = rows.front();
  if (held.request_hash.value_or("") != refused.request_hash.value_or("")) {
    return key_used_otherwise(held.id);
  }
  return Answer{200, transaction_json(held), true, {}};
}

// Fills the rows a decision writes (status, tier, DELAY and APPROVAL times, the approval, the
// charges, the audit row) and returns the transaction's metadata as stored.
json::object DecisionService::record_decision(PendingWrite& pending, const engine::Decision& d,
                                              const Submission& sub, const Actor& actor,
                                              std::int64_t now) {
  store::TransactionRow& row = pending.row;
  row.agent_id = sub.agent_id;
  if (!sub.session_id.empty()) row.session_id = sub.session_id;
  row.created_at = row.updated_at = now;
  row.idempotency_key = sub.idempotency_key;
  if (!sub.request_hash.empty()) row.request_hash = sub.request_hash;
  // Routes put request attributes (network, action, ...) in the metadata.
  json::object meta = metadata_of(row);
  meta.erase("windows");  // only the engine's own entries adjust shared windows
  if (!d.allowed()) {
    row.status = "DENIED";
    row.reserved_amount.reset();
  } else {
    row.tier = std::string(engine::outcome_name(d.outcome));
    row.status = d.outcome == engine::Outcome::kDelay || d.outcome == engine::Outcome::kApproval
                     ? "QUEUED"
                     : "PENDING";
    std::int64_t start = now;
    if (d.outcome == engine::Outcome::kDelay) {
      row.executable_at = now + d.delay_seconds;
      row.queued_at = now;
      start = *row.executable_at;
    }
    if (d.outcome == engine::Outcome::kApproval) {
      // An APPROVAL that no SPENDING_LIMIT tier timed (a CUSTOM or TIME_RESTRICTION effect) waits
      // the default, not zero seconds.
      const std::int64_t timeout_s = d.approval_timeout_seconds > 0
                                         ? d.approval_timeout_seconds
                                         : engine::kApprovalTimeoutDefaultSeconds;
      pending.approval = store::ApprovalRow{ids_.next(), row.id, now + timeout_s, now + timeout_s,
                                            {}, {}, {}, now};
      row.queued_at = now;
      start = pending.approval->expires_at;
      meta["approval_id"] = pending.approval->id;
    }
    row.expires_at = start + options_.reservation_ttl_seconds;
    meta["charges"] = charges_json(d.charges);
    if (!d.windows.empty()) meta["windows"] = windows_json(d.windows);
    if (d.post_checks) meta["request"] = request_json(sub.request);
  }
  json::object dj = engine::decision_json(d, false);
  meta["effect"] = dj["effect"];
  meta["reasons"] = dj["reasons"];
  if (const auto* holds = dj.if_contains("holds")) meta["holds"] = *holds;
  pending.holds = !d.holds.empty();
  row.metadata = json::serialize(meta);

  store::AuditEvent& e = pending.audit;
  e = audit_for(actor, row, "TX_DECIDED", now);
  e.severity = d.allowed() ? "info" : "warning";
  e.details = json::serialize(json::object{{"effect", dj["effect"]}, {"tier", nullable(row.tier)},
                                           {"status", row.status}, {"reasons", dj["reasons"]},
                                           {"amount", nullable(row.amount)}});
  return meta;
}

namespace {

engine::Reason reason(std::string policy_id, std::string code, std::string message) {
  engine::Reason r;
  r.policy_id = std::move(policy_id);
  r.code = std::move(code);
  r.message = std::move(message);
  return r;
}

// Inside the decision's transaction: counts its windows and writes its BUDGET holds, which a
// store shared by replicas checks against what every replica reserved. The reason when it
// refuses (nothing of the decision's reservation is then written), nullopt when admitted.
Result<std::optional<engine::Reason>> admit(store::WriteTxn& tx, PendingWrite& p,
                                            ledger::LedgerService* ledger) {
  std::optional<engine::Reason> refusal;
  auto reserve = [&](store::WriteTxn& t) -> Status {
    for (const auto& w : p.windows) {
      WARDEN_ASSIGN_OR_RETURN(const bool room,
                              t.reserve_window({p.row.agent_id, w.meter, w.bucket_ms,
                                                w.first_bucket_ms, w.amount.to_string(),
                                                w.max.to_string()}));
      if (!room) {
        refusal = reason(w.policy_id, w.code,
                         w.window_text + " window: " + w.amount.to_string() +
                             " requested does not fit under " + w.max.to_string() +
                             " with what every replica reserved");
        return Status(ErrorCode::LEDGER_BUDGET_EXCEEDED, "window full");  // undoes the others
      }
    }
    if (ledger == nullptr) return Status();
    Status s = ledger->write_reservation(t, p.row.id, p.row.created_at);
    if (s.code() == ErrorCode::LEDGER_BUDGET_EXCEEDED) {
      refusal = reason(p.budget_policy_id, "BUDGET_EXCEEDED", s.message());
    }
    return s;
  };
  // One window and no hold writes nothing when refused: no savepoint needed.
  const bool alone = ledger == nullptr && p.windows.size() <= 1;
  Status s = alone ? reserve(tx) : tx.nested(reserve);
  if (refusal) return refusal;
  WARDEN_RETURN_IF_ERROR(s);
  return std::optional<engine::Reason>();
}

// The decision becomes the DENY the store's refusal makes it: no reservation, no approval, the
// refusal as its reason.
void refuse(PendingWrite& p, engine::Reason reason) {
  store::TransactionRow& row = p.row;
  row.status = "DENIED";
  row.tier.reset();
  row.reserved_amount.reset();
  row.queued_at.reset();
  row.executable_at.reset();
  row.expires_at.reset();
  json::object meta = metadata_of(row);
  for (const char* key : {"charges", "windows", "holds", "approval_id", "request"}) meta.erase(key);
  const json::array reasons{json::object{{"policy_id", reason.policy_id},
                                         {"code", reason.code},
                                         {"message", reason.message},
                                         {"outcome", engine::outcome_name(engine::Outcome::kDeny)}}};
  meta["effect"] = "DENY";
  meta["reasons"] = reasons;
  row.metadata = json::serialize(meta);
  p.approval.reset();
  p.event.reset();
  p.audit.severity = "warning";
  p.audit.details = json::serialize(json::object{{"effect", "DENY"}, {"tier", nullptr},
                                                 {"status", row.status}, {"reasons", reasons},
                                                 {"amount", nullable(row.amount)}});
  p.refused = std::move(reason);
}

}  // namespace

void DecisionService::commit_decision(std::shared_ptr<PendingWrite> pending,
                                      std::shared_ptr<json::object> body, json::value trace,
                                      std::string idem_key, Done done) {
  ledger::LedgerService* ledger = pending->holds ? ledger_ : nullptr;
  auto op = [pending, ledger](store::WriteTxn& tx) -> Status {
    // The windows and BUDGET holds commit with the decision that took them, or not at all; a
    // store shared by replicas may refuse them (then the decision is stored as a DENY).
    if (!pending->refused) {
      WARDEN_ASSIGN_OR_RETURN(auto refusal, admit(tx, *pending, ledger));
      if (refusal) refuse(*pending, std::move(*refusal));
    }
    WARDEN_RETURN_IF_ERROR(tx.insert_transaction(pending->row));
    if (pending->approval) WARDEN_RETURN_IF_ERROR(tx.insert_approval(*pending->approval));
    if (pending->event) WARDEN_RETURN_IF_ERROR(tx.insert_outbox(*pending->event));
    return tx.append_audit(pending->audit).take_status();
  };
  auto on_commit = [this, pending, body, trace, idem_key, done](const Status& s) {
    const store::TransactionRow& row = pending->row;
    const std::optional<store::ApprovalRow>& approval = pending->approval;
    // Identical requests that waited for this one get its outcome as a replay.
    std::vector<Done> waiting;
    if (!idem_key.empty()) waiting = idempotency_->finish(idem_key, s.ok());
    if (pending->holds) ledger_->reservation_written(row.id, s.ok() && !pending->refused);
    if (s.ok() && pending->refused) {
      engine_.release(row.agent_id, row.id);
      *body = transaction_json(row);
      pending->reserved_assets.clear();
    }
    if (!s.ok()) {
      engine_.release(row.agent_id, row.id);
      // The only other unique column of a new transaction is its UUID v7 id.
      const Result<Answer> out = s.code() == ErrorCode::STORE_CONSTRAINT && row.idempotency_key
                                     ? answer_for_held_key(row)
                                     : Result<Answer>(s);
      done(out);
      for (auto& w : waiting) w(out);
      return;
    }
    schedule(row, approval ? std::optional(approval->expires_at) : std::nullopt);
    announced(row);
    DecisionObserver* observer = observer_.load();
    if (observer != nullptr && pending->decision) {
      if (pending->refused) {
        engine::Decision denied;
        denied.outcome = engine::Outcome::kDeny;
        denied.reasons.push_back(*pending->refused);
        observer->on_decided(row, denied);
      } else {
        observer->on_decided(row, *pending->decision);
      }
    }
    for (auto& w : waiting) w(Answer{200, *body, true, {}});
    if (!trace.is_null()) (*body)["explain"] = trace;
    done(Answer{201, std::move(*body), false, pending->reserved_assets});  // on_commit runs once
  };
  if (Status s = writer_.submit(std::move(op), on_commit); !s.ok()) on_commit(s);
}

}  // namespace warden::decisions
