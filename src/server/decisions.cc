// The decision service: decide + reserve in memory, persist through the group-commit writer,
// answer after commit, and drive each transaction through its lifecycle.
#include "server/decisions.h"

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <atomic>

#include "core/json.h"
#include "core/thread_name.h"
#include "server/routes.h"

namespace warden::server {
namespace json = boost::json;

struct Once {
  std::atomic<bool> fired{false};
  DecisionService::Changed done;
  void operator()(Result<json::object> r) {
    if (!fired.exchange(true)) done(std::move(r));
  }
};

namespace {

constexpr std::size_t kRecoveryPageSize = 1000;
// Calendar months are at most 31 days; settled spend older than this counts in no window.
constexpr std::int64_t kSettledLookbackSeconds = 32 * 86'400;

json::object metadata_of(const store::TransactionRow& r) {
  auto v = parse_json(r.metadata);
  return v.ok() && v->is_object() ? std::move(v->as_object()) : json::object();
}

json::array charges_json(const std::vector<engine::Charge>& charges) {
  json::array out;
  for (const auto& c : charges) {
    out.push_back(json::object{{"meter", c.meter},
                               {"kind", c.kind == engine::MeterKind::kRequests ? "requests" : "amount"},
                               {"amount", c.amount.to_string()},
                               {"ts_ms", c.ts_ms}});
  }
  return out;
}

std::vector<engine::Charge> charges_from(const json::object& metadata) {
  std::vector<engine::Charge> out;
  const auto* arr = metadata.if_contains("charges");
  if (!arr || !arr->is_array()) return out;
  for (const auto& v : arr->as_array()) {
    if (!v.is_object()) continue;
    const auto& o = v.as_object();
    engine::Charge c;
    if (const auto* m = o.if_contains("meter"); m && m->is_string()) c.meter = m->as_string();
    if (const auto* k = o.if_contains("kind"); k && k->is_string() && k->as_string() == "requests") {
      c.kind = engine::MeterKind::kRequests;
    }
    if (const auto* a = o.if_contains("amount"); a && a->is_string()) {
      auto parsed = Amount::parse(a->as_string());
      if (parsed.ok()) c.amount = *parsed;
    }
    if (const auto* t = o.if_contains("ts_ms"); t && t->is_int64()) c.ts_ms = t->as_int64();
    out.push_back(std::move(c));
  }
  return out;
}

// What one decision writes: the transaction, its approval (APPROVAL tier) and its audit row.
struct PendingWrite {
  store::TransactionRow row;
  std::optional<store::ApprovalRow> approval;
  store::AuditEvent audit;
};

bool owned_by(const store::TransactionRow& row, const Actor& actor) {
  return actor.master || actor.system || row.agent_id == actor.agent_id;
}

store::AuditEvent audit_for(const Actor& actor, const store::TransactionRow& row,
                            std::string event_type, std::int64_t now) {
  store::AuditEvent e;
  e.timestamp = now;
  e.event_type = std::move(event_type);
  e.actor = actor.name();
  e.agent_id = row.agent_id;
  if (!actor.session_id.empty()) e.session_id = actor.session_id;
  e.tx_id = row.id;
  if (!actor.ip_address.empty()) e.ip_address = actor.ip_address;
  if (!actor.correlation_id.empty()) e.correlation_id = actor.correlation_id;
  return e;
}

Status invalid_state(const store::TransactionRow& row, std::string_view wanted) {
  return Status(ErrorCode::TX_INVALID_STATE,
                "transaction is " + row.status + "; " + std::string(wanted),
                json::object{{"status", row.status}});
}

// Closed approvals say why: approved, rejected by the master, expired, or the transaction was
// cancelled or expired first.
std::string_view approval_status(const store::ApprovalRow& a, const store::TransactionRow* tx) {
  if (a.approved_at) return "APPROVED";
  if (!a.rejected_at) return "PENDING";
  if (tx && tx->error == std::optional<std::string>("approval expired")) return "EXPIRED";
  if (tx && tx->error == std::optional<std::string>("approval rejected")) return "REJECTED";
  return "CANCELLED";
}

Actor system_actor() {
  Actor a;
  a.system = true;
  return a;
}

}  // namespace

json::object transaction_json(const store::TransactionRow& r) {
  return transaction_json(r, metadata_of(r));
}

json::object transaction_json(const store::TransactionRow& r, const json::object& meta) {
  json::object o;
  o.reserve(26);
  o["id"] = r.id;
  o["agent_id"] = r.agent_id;
  o["type"] = r.type;
  o["status"] = r.status;
  o["effect"] = r.status == "DENIED" ? "DENY" : "ALLOW";
  o["tier"] = nullable(r.tier);
  const auto* reasons = meta.if_contains("reasons");
  o["reasons"] = reasons ? *reasons : json::value(json::array());
  o["executable"] = r.status == "PENDING";
  o["amount"] = nullable(r.amount);
  o["reserved_amount"] = nullable(r.reserved_amount);
  o["final_amount"] = nullable(r.final_amount);
  if (r.type == "DECISION") {
    if (const auto* a = meta.if_contains("action")) o["action"] = *a;
    if (const auto* a = meta.if_contains("amounts")) o["amounts"] = *a;
  } else {
    o["to"] = nullable(r.to_address);
    o["token"] = nullable(r.token_mint);
    o["contract"] = nullable(r.contract_address);
    o["method"] = nullable(r.method_signature);
    o["spender"] = nullable(r.spender_address);
  }
  if (const auto* a = meta.if_contains("approval_id")) o["approval_id"] = *a;
  o["tx_hash"] = nullable(r.tx_hash);
  o["error"] = nullable(r.error);
  o["idempotency_key"] = nullable(r.idempotency_key);
  o["executable_at"] = nullable_time(r.executable_at);
  o["expires_at"] = nullable_time(r.expires_at);
  o["created_at"] = format_rfc3339(r.created_at);
  o["updated_at"] = format_rfc3339(r.updated_at);
  return o;
}

DecisionService::DecisionService(store::Store& store, store::BatchWriter& writer,
                                 const Clock& clock, IdGenerator& ids, DecisionOptions options,
                                 Notifier* notifier)
    : store_(store), writer_(writer), clock_(clock), ids_(ids), options_(options),
      notifier_(notifier) {}

DecisionService::~DecisionService() { stop(); }

Status DecisionService::start() {
  WARDEN_RETURN_IF_ERROR(reload_policies());
  WARDEN_RETURN_IF_ERROR(recover());
  if (options_.start_sweeper) sweeper_ = std::thread([this] {
      name_this_thread("warden-sweeper");
      sweeper_loop();
    });
  return Status();
}

void DecisionService::stop() {
  {
    std::lock_guard lock(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (sweeper_.joinable()) sweeper_.join();
}

Status DecisionService::reload_policies() {
  std::lock_guard lock(reload_mu_);
  std::vector<engine::PolicyInput> inputs;
  store::Page page;
  page.limit = kRecoveryPageSize;
  for (;;) {
    WARDEN_ASSIGN_OR_RETURN(auto rows, store_.list_policies({}, page));
    for (const auto& row : rows) {
      auto rules = parse_json(row.rules);
      if (!rules.ok() || !rules->is_object()) {
        return Status(ErrorCode::INTERNAL_STORE_ERROR, "policy " + row.id + " has corrupt rules");
      }
      inputs.push_back({row.id, row.agent_id, row.type, std::move(rules->as_object()),
                        row.priority, row.enabled});
    }
    if (rows.size() < page.limit) break;
    page.after_id = rows.back().id;
  }
  return engine_.load_policies(inputs);
}

// Rebuilds meters (open reservations and recent settled spend), idempotency keys and timers.
Status DecisionService::recover() {
  const std::int64_t now = clock_.now_seconds();
  auto scan = [&](store::TransactionFilter filter, auto&& each) -> Status {
    store::Page page;
    page.limit = kRecoveryPageSize;
    for (;;) {
      WARDEN_ASSIGN_OR_RETURN(auto rows, store_.list_transactions(filter, page));
      for (const auto& row : rows) WARDEN_RETURN_IF_ERROR(each(row));
      if (rows.size() < page.limit) return Status();
      page.after_id = rows.back().id;
    }
  };
  WARDEN_RETURN_IF_ERROR(scan({{"PENDING", "QUEUED"}, {}, {}}, [&](const store::TransactionRow& row) {
    engine_.restore(row.agent_id, row.id, charges_from(metadata_of(row)), true);
    std::optional<std::int64_t> approval_expiry;
    if (row.tier == std::optional<std::string>("APPROVAL") && row.status == "QUEUED") {
      WARDEN_ASSIGN_OR_RETURN(auto approval, store_.find_approval_by_tx(row.id));
      if (approval) approval_expiry = approval->expires_at;
    }
    schedule(row, approval_expiry);
    return Status();
  }));
  WARDEN_RETURN_IF_ERROR(scan({{"CONFIRMED"}, {}, now - kSettledLookbackSeconds},
                              [&](const store::TransactionRow& row) {
    auto charges = charges_from(metadata_of(row));
    if (row.final_amount) {
      const auto final_amount = Amount::parse(*row.final_amount);
      for (auto& c : charges) {
        if (c.kind == engine::MeterKind::kAmount && final_amount.ok()) c.amount = *final_amount;
      }
    }
    engine_.restore(row.agent_id, row.id, charges, false);
    return Status();
  }));
  return scan({{}, {}, now - options_.idempotency_retention_seconds},
              [&](const store::TransactionRow& row) {
    if (row.idempotency_key) {
      std::lock_guard lock(idem_mu_);
      const std::string key = row.agent_id + "\n" + *row.idempotency_key;
      idempotency_[key] = IdempotencyEntry{row.request_hash.value_or(""), row.id, {}, row.created_at};
      idempotency_order_.emplace_back(row.created_at, key);
    }
    return Status();
  });
}

engine::Decision DecisionService::evaluate(engine::Request request, bool explain) {
  request.now_ms = clock_.now_ms();
  return engine_.decide(request, "", false, explain);
}

void DecisionService::submit(Submission sub, const Actor& actor, Done done) {
  const std::int64_t now_ms = clock_.now_ms();
  const std::int64_t now = now_ms / 1000;
  std::string idem_key;
  if (sub.idempotency_key) {
    idem_key = sub.agent_id + "\n" + *sub.idempotency_key;
    std::unique_lock lock(idem_mu_);
    auto it = idempotency_.find(idem_key);
    if (it != idempotency_.end()) {
      if (it->second.request_hash == sub.request_hash && it->second.tx_id.empty()) {
        // The same request is being decided right now: answer with its decision once committed.
        it->second.waiting.push_back(std::move(done));
        return;
      }
      const std::string hash = it->second.request_hash;
      const std::string tx_id = it->second.tx_id;
      lock.unlock();
      if (hash != sub.request_hash) {
        return done(Status(ErrorCode::TX_IDEMPOTENCY_CONFLICT,
                           "idempotency key was used with a different request",
                           json::object{{"existing_id", tx_id}}));
      }
      auto row = store_.get_transaction(tx_id);
      if (!row.ok()) return done(row.take_status());
      if (!*row) return done(Status(ErrorCode::TX_NOT_FOUND));
      return done(Answer{200, transaction_json(**row), true});
    }
    idempotency_[idem_key] = IdempotencyEntry{sub.request_hash, "", {}, now};  // claimed
    idempotency_order_.emplace_back(now, idem_key);
  }

  engine::Request& req = sub.request;
  req.agent_id = sub.agent_id;
  req.now_ms = now_ms;
  // One copy of what the writer stores, shared by the write and its completion.
  auto pending = std::make_shared<PendingWrite>();
  store::TransactionRow& row = pending->row;
  row = std::move(sub.row);
  row.id = ids_.next();
  const engine::Decision d = engine_.decide(req, row.id, true, sub.explain);

  row.agent_id = sub.agent_id;
  if (!sub.session_id.empty()) row.session_id = sub.session_id;
  row.created_at = row.updated_at = now;
  row.idempotency_key = sub.idempotency_key;
  if (!sub.request_hash.empty()) row.request_hash = sub.request_hash;
  std::optional<store::ApprovalRow>& approval = pending->approval;
  // Routes put request attributes (network, action, ...) in the metadata.
  json::object meta = metadata_of(row);
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
      approval = store::ApprovalRow{ids_.next(), row.id, now + d.approval_timeout_seconds,
                                    now + d.approval_timeout_seconds, {}, {}, {}, now};
      row.queued_at = now;
      start = approval->expires_at;
      meta["approval_id"] = approval->id;
    }
    row.expires_at = start + options_.reservation_ttl_seconds;
    meta["charges"] = charges_json(d.charges);
  }
  json::object dj = engine::decision_json(d, false);
  meta["effect"] = dj["effect"];
  meta["reasons"] = dj["reasons"];
  row.metadata = json::serialize(meta);

  store::AuditEvent& e = pending->audit;
  e = audit_for(actor, row, "TX_DECIDED", now);
  e.severity = d.allowed() ? "info" : "warning";
  e.details = json::serialize(json::object{{"effect", dj["effect"]}, {"tier", nullable(row.tier)},
                                           {"status", row.status}, {"reasons", dj["reasons"]},
                                           {"amount", nullable(row.amount)}});
  // The answer is built here, on the caller's thread: the writer thread that commits the batch
  // only hands it over.
  auto body = std::make_shared<json::object>(transaction_json(row, meta));
  json::value trace;
  if (sub.explain) trace = engine::decision_json(d, true)["trace"];
  auto op = [pending](store::WriteTxn& tx) -> Status {
    WARDEN_RETURN_IF_ERROR(tx.insert_transaction(pending->row));
    if (pending->approval) WARDEN_RETURN_IF_ERROR(tx.insert_approval(*pending->approval));
    return tx.append_audit(pending->audit).take_status();
  };
  auto on_commit = [this, pending, body, trace, idem_key, done](const Status& s) {
    const store::TransactionRow& row = pending->row;
    const std::optional<store::ApprovalRow>& approval = pending->approval;
    // Identical requests that waited for this one get its outcome as a replay.
    std::vector<Done> waiting;
    if (!idem_key.empty()) {
      std::lock_guard lock(idem_mu_);
      auto it = idempotency_.find(idem_key);
      if (it != idempotency_.end()) {
        waiting = std::move(it->second.waiting);
        if (s.ok()) {
          it->second.tx_id = row.id;
        } else {
          idempotency_.erase(it);
        }
      }
    }
    if (!s.ok()) {
      engine_.release(row.agent_id, row.id);
      // The key is unique per agent for good; past the replay window it can no longer be used.
      const Status out = s.code() == ErrorCode::STORE_CONSTRAINT &&
                                 s.message().find("idempotency_key") != std::string::npos
                             ? Status(ErrorCode::TX_IDEMPOTENCY_CONFLICT,
                                      "idempotency key was already used (more than " +
                                          std::to_string(options_.idempotency_retention_seconds) +
                                          " s ago)")
                             : s;
      done(out);
      for (auto& w : waiting) w(out);
      return;
    }
    schedule(row, approval ? std::optional(approval->expires_at) : std::nullopt);
    committed(row, true, body.get());
    for (auto& w : waiting) w(Answer{200, *body, true});
    if (!trace.is_null()) (*body)["explain"] = trace;
    done(Answer{201, std::move(*body), false});  // on_commit runs once
  };
  if (Status s = writer_.submit(std::move(op), on_commit); !s.ok()) on_commit(s);
}

void DecisionService::committed(const store::TransactionRow& row, bool decided,
                                const json::object* built) {
  if (notifier_ == nullptr) return;
  const bool notify_tier = row.tier == std::optional<std::string>("NOTIFY") ||
                           row.tier == std::optional<std::string>("APPROVAL");
  if (!notify_tier) return;  // INSTANT and DELAY transactions are not announced
  json::object event;
  event["event"] = decided ? "transaction.decided" : "transaction.updated";
  event["transaction"] = built != nullptr ? *built : transaction_json(row);
  notifier_->notify(std::move(event));
}

Result<json::object> DecisionService::get(const std::string& tx_id, const Actor& actor) {
  WARDEN_ASSIGN_OR_RETURN(auto row, store_.get_transaction(tx_id));
  if (!row || !owned_by(*row, actor)) return Status(ErrorCode::TX_NOT_FOUND);
  return transaction_json(*row);
}

void DecisionService::wait(const std::string& tx_id, const Actor& actor, std::int64_t wait_ms,
                           Changed done) {
  auto once = std::make_shared<Once>();
  once->done = std::move(done);
  {
    std::lock_guard lock(waiters_mu_);
    waiters_.emplace(tx_id, Waiter{clock_.now_ms() + wait_ms, once});
  }
  auto current = get(tx_id, actor);
  // Only a queued transaction (DELAY or APPROVAL) is worth waiting on.
  if (current.ok() && current->at("status").as_string() == "QUEUED") return;
  {
    std::lock_guard lock(waiters_mu_);
    auto [begin, end] = waiters_.equal_range(tx_id);
    for (auto it = begin; it != end; ++it) {
      if (it->second.once == once) {
        waiters_.erase(it);
        break;
      }
    }
  }
  (*once)(std::move(current));
}

void DecisionService::notify_waiters(const std::string& tx_id, const json::object& body) {
  std::vector<std::shared_ptr<Once>> ready;
  {
    std::lock_guard lock(waiters_mu_);
    auto [begin, end] = waiters_.equal_range(tx_id);
    for (auto it = begin; it != end; ++it) ready.push_back(it->second.once);
    waiters_.erase(begin, end);
  }
  for (auto& w : ready) (*w)(body);
}

void DecisionService::transition(
    const std::string& tx_id, const Actor& actor,
    std::function<Status(store::TransactionRow&, store::AuditEvent&)> change,
    std::function<void(const store::TransactionRow&)> after_commit, Changed done) {
  const std::int64_t now = clock_.now_seconds();
  auto result = std::make_shared<store::TransactionRow>();
  auto op = [=](store::WriteTxn& tx) -> Status {
    WARDEN_ASSIGN_OR_RETURN(auto row, tx.get_transaction(tx_id));
    if (!row || !owned_by(*row, actor)) return Status(ErrorCode::TX_NOT_FOUND);
    store::AuditEvent e = audit_for(actor, *row, "", now);
    WARDEN_RETURN_IF_ERROR(change(*row, e));
    row->updated_at = now;
    WARDEN_RETURN_IF_ERROR(tx.update_transaction(*row));
    // A transaction that leaves the queue for good closes its approval, so it no longer shows
    // as pending.
    if (row->status != "QUEUED" && row->status != "PENDING") {
      WARDEN_ASSIGN_OR_RETURN(auto approval, tx.find_approval_by_tx(row->id));
      if (approval && !approval->approved_at && !approval->rejected_at) {
        approval->rejected_at = now;
        WARDEN_RETURN_IF_ERROR(tx.update_approval(*approval));
      }
    }
    WARDEN_RETURN_IF_ERROR(tx.append_audit(e).take_status());
    *result = std::move(*row);
    return Status();
  };
  auto on_commit = [this, result, after_commit, done](const Status& s) {
    if (!s.ok()) {
      if (done) done(s);
      return;
    }
    if (after_commit) after_commit(*result);
    json::object body = transaction_json(*result);
    notify_waiters(result->id, body);
    committed(*result, false);
    if (done) done(std::move(body));
  };
  if (Status s = writer_.submit(std::move(op), on_commit); !s.ok()) on_commit(s);
}

void DecisionService::confirm(const std::string& tx_id, const Actor& actor,
                              std::optional<Amount> final_amount,
                              std::optional<std::string> tx_hash, Changed done) {
  const std::int64_t now = clock_.now_seconds();
  // What the engine settles: the final amount, or nullopt for "spent as reserved".
  auto settled = std::make_shared<std::optional<Amount>>();
  transition(
      tx_id, actor,
      [=](store::TransactionRow& row, store::AuditEvent& e) -> Status {
        if (row.status != "PENDING") {
          return invalid_state(row, "only an executable (PENDING) transaction can be confirmed");
        }
        json::object details;
        if (row.reserved_amount) {
          const Amount reserved = Amount::parse(*row.reserved_amount).value();
          const Amount final = final_amount.value_or(reserved);
          if (final > reserved) {
            return Status(ErrorCode::TX_AMOUNT_EXCEEDS_RESERVED,
                          "final amount " + final.to_string() + " exceeds the reserved " +
                              reserved.to_string());
          }
          *settled = final;
          row.final_amount = final.to_string();
          details["final_amount"] = final.to_string();
          details["reserved_amount"] = reserved.to_string();
        } else if (final_amount) {
          // Several amounts (or none) were reserved: there is no single amount to lower.
          return Status(ErrorCode::VALIDATION_INVALID_VALUE,
                        "final_amount applies only to a transaction with one reserved amount",
                        json::object{{"field", "final_amount"}});
        }
        row.status = "CONFIRMED";
        row.executed_at = now;
        if (tx_hash) row.tx_hash = tx_hash;
        e.event_type = "TX_CONFIRMED";
        e.details = json::serialize(details);
        return Status();
      },
      [this, settled](const store::TransactionRow& row) {
        if (Status s = engine_.settle(row.agent_id, row.id, *settled); !s.ok()) {
          // The row check above makes this unreachable; keep the engine and rows consistent
          // by releasing rather than leaving a hold nobody can settle.
          engine_.release(row.agent_id, row.id);
        }
      },
      std::move(done));
}

void DecisionService::fail(const std::string& tx_id, const Actor& actor, std::string error,
                           Changed done) {
  transition(
      tx_id, actor,
      [=](store::TransactionRow& row, store::AuditEvent& e) -> Status {
        if (row.status != "PENDING") return invalid_state(row, "only an executable (PENDING) transaction can fail");
        row.status = "FAILED";
        row.error = error;
        e.event_type = "TX_FAILED";
        e.severity = "warning";
        e.details = json::serialize(json::object{{"error", error}});
        return Status();
      },
      [this](const store::TransactionRow& row) { engine_.release(row.agent_id, row.id); },
      std::move(done));
}

void DecisionService::cancel(const std::string& tx_id, const Actor& actor, Changed done) {
  transition(
      tx_id, actor,
      [=](store::TransactionRow& row, store::AuditEvent& e) -> Status {
        if (row.status != "PENDING" && row.status != "QUEUED") {
          return invalid_state(row, "only a PENDING or QUEUED transaction can be cancelled");
        }
        row.status = "CANCELLED";
        e.event_type = "TX_CANCELLED";
        return Status();
      },
      [this](const store::TransactionRow& row) { engine_.release(row.agent_id, row.id); },
      std::move(done));
}

void DecisionService::decide_approval(const std::string& approval_id, const Actor& actor,
                                      bool approve, Changed done) {
  const std::int64_t now = clock_.now_seconds();
  const std::int64_t ttl = options_.reservation_ttl_seconds;
  auto result = std::make_shared<store::TransactionRow>();
  auto op = [=](store::WriteTxn& tx) -> Status {
    WARDEN_ASSIGN_OR_RETURN(auto approval, tx.get_approval(approval_id));
    if (!approval) return Status(ErrorCode::APPROVAL_NOT_FOUND);
    if (approval->approved_at || approval->rejected_at || now >= approval->expires_at) {
      return Status(ErrorCode::APPROVAL_NOT_PENDING);
    }
    WARDEN_ASSIGN_OR_RETURN(auto row, tx.get_transaction(approval->tx_id));
    if (!row) return Status(ErrorCode::TX_NOT_FOUND);
    if (row->status != "QUEUED") return Status(ErrorCode::APPROVAL_NOT_PENDING);
    store::AuditEvent e = audit_for(actor, *row, approve ? "APPROVAL_GRANTED" : "APPROVAL_REJECTED", now);
    e.details = json::serialize(json::object{{"approval_id", approval_id}});
    if (approve) {
      approval->approved_at = now;
      row->status = "PENDING";
      row->expires_at = now + ttl;
    } else {
      approval->rejected_at = now;
      row->status = "CANCELLED";
      row->error = "approval rejected";
    }
    row->updated_at = now;
    WARDEN_RETURN_IF_ERROR(tx.update_approval(*approval));
    WARDEN_RETURN_IF_ERROR(tx.update_transaction(*row));
    WARDEN_RETURN_IF_ERROR(tx.append_audit(e).take_status());
    *result = std::move(*row);
    return Status();
  };
  auto on_commit = [this, result, approve, done](const Status& s) {
    if (!s.ok()) return done(s);
    if (approve) {
      schedule(*result, std::nullopt);
    } else {
      engine_.release(result->agent_id, result->id);
    }
    json::object body = transaction_json(*result);
    notify_waiters(result->id, body);
    committed(*result, false);
    done(std::move(body));
  };
  if (Status s = writer_.submit(std::move(op), on_commit); !s.ok()) on_commit(s);
}

Result<std::vector<json::object>> DecisionService::list_approvals(bool pending_only,
                                                                  const store::Page& page) {
  WARDEN_ASSIGN_OR_RETURN(auto rows, store_.list_approvals(pending_only, page));
  std::vector<json::object> out;
  for (const auto& a : rows) {
    WARDEN_ASSIGN_OR_RETURN(auto tx, store_.get_transaction(a.tx_id));
    json::object o{{"id", a.id},
                   {"tx_id", a.tx_id},
                   {"status", approval_status(a, tx ? &*tx : nullptr)},
                   {"expires_at", format_rfc3339(a.expires_at)},
                   {"approved_at", nullable_time(a.approved_at)},
                   {"rejected_at", nullable_time(a.rejected_at)},
                   {"created_at", format_rfc3339(a.created_at)}};
    if (tx) o["transaction"] = transaction_json(*tx);
    out.push_back(std::move(o));
  }
  return out;
}

void DecisionService::add_timer(std::int64_t due_seconds, const std::string& tx_id, TimerKind kind) {
  std::lock_guard lock(timers_mu_);
  timers_.emplace(due_seconds, Timer{tx_id, kind});
}

void DecisionService::schedule(const store::TransactionRow& row,
                               std::optional<std::int64_t> approval_expiry) {
  if (row.status != "PENDING" && row.status != "QUEUED") return;
  if (row.status == "QUEUED" && row.executable_at) {
    add_timer(*row.executable_at, row.id, TimerKind::kExecutable);
  }
  if (row.status == "QUEUED" && approval_expiry) {
    add_timer(*approval_expiry, row.id, TimerKind::kApprovalExpiry);
  }
  if (row.expires_at) add_timer(*row.expires_at, row.id, TimerKind::kTtl);
}

// A due timer re-checks the row inside the write: a transition that already happened makes it
// a no-op (TX_INVALID_STATE is expected and ignored).
void DecisionService::fire(const Timer& t) {
  const std::int64_t now = clock_.now_seconds();
  const Actor actor = system_actor();
  switch (t.kind) {
    case TimerKind::kExecutable:
      return transition(
          t.tx_id, actor,
          [now](store::TransactionRow& row, store::AuditEvent& e) -> Status {
            if (row.status != "QUEUED" || !row.executable_at || *row.executable_at > now ||
                row.tier != std::optional<std::string>("DELAY")) {
              return invalid_state(row, "not a due DELAY");
            }
            row.status = "PENDING";
            e.event_type = "TX_EXECUTABLE";
            return Status();
          },
          nullptr, nullptr);
    case TimerKind::kApprovalExpiry: {
      auto approval = store_.find_approval_by_tx(t.tx_id);
      if (!approval.ok() || !*approval) return;
      const store::ApprovalRow a = **approval;
      return transition(
          t.tx_id, actor,
          [now, a](store::TransactionRow& row, store::AuditEvent& e) -> Status {
            if (row.status != "QUEUED" || a.approved_at || a.rejected_at || a.expires_at > now) {
              return invalid_state(row, "approval not due");
            }
            row.status = "CANCELLED";
            row.error = "approval expired";
            e.event_type = "APPROVAL_EXPIRED";
            e.details = json::serialize(json::object{{"approval_id", a.id}});
            return Status();
          },
          [this](const store::TransactionRow& row) { engine_.release(row.agent_id, row.id); },
          nullptr);
    }
    case TimerKind::kTtl:
      return transition(
          t.tx_id, actor,
          [now](store::TransactionRow& row, store::AuditEvent& e) -> Status {
            if ((row.status != "PENDING" && row.status != "QUEUED") || !row.expires_at ||
                *row.expires_at > now) {
              return invalid_state(row, "not due");
            }
            row.status = "EXPIRED";
            e.event_type = "TX_EXPIRED";
            e.severity = "warning";
            return Status();
          },
          [this](const store::TransactionRow& row) { engine_.release(row.agent_id, row.id); },
          nullptr);
  }
}

void DecisionService::sweep() {
  std::lock_guard sweep_lock(sweep_mu_);
  const std::int64_t now_ms = clock_.now_ms();
  {
    // Keys past their retention are forgotten (an in-flight claim is never that old).
    std::lock_guard lock(idem_mu_);
    const std::int64_t oldest = now_ms / 1000 - options_.idempotency_retention_seconds;
    while (!idempotency_order_.empty() && idempotency_order_.front().first < oldest) {
      auto it = idempotency_.find(idempotency_order_.front().second);
      if (it != idempotency_.end() && !it->second.tx_id.empty() &&
          it->second.first_seen_s < oldest) {
        idempotency_.erase(it);
      }
      idempotency_order_.pop_front();
    }
  }
  std::vector<Timer> due;
  {
    std::lock_guard lock(timers_mu_);
    auto end = timers_.upper_bound(now_ms / 1000);
    for (auto it = timers_.begin(); it != end; ++it) due.push_back(std::move(it->second));
    timers_.erase(timers_.begin(), end);
  }
  for (const auto& t : due) fire(t);

  std::vector<std::pair<std::string, std::shared_ptr<Once>>> expired;
  {
    std::lock_guard lock(waiters_mu_);
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      if (it->second.deadline_ms <= now_ms) {
        expired.emplace_back(it->first, it->second.once);
        it = waiters_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& [tx_id, once] : expired) {
    auto row = store_.get_transaction(tx_id);
    if (!row.ok()) {
      (*once)(row.take_status());
    } else if (!*row) {
      (*once)(Status(ErrorCode::TX_NOT_FOUND));
    } else {
      (*once)(transaction_json(**row));
    }
  }
}

void DecisionService::sweeper_loop() {
  std::unique_lock lock(stop_mu_);
  while (!stopping_) {
    stop_cv_.wait_for(lock, std::chrono::milliseconds(options_.sweep_interval_ms));
    if (stopping_) break;
    lock.unlock();
    sweep();
    lock.lock();
  }
}

}  // namespace warden::server
