// The transaction lifecycle after a decision: long polls, confirm / fail / cancel, and the
// master's approve / reject. Every change is one write through the group-commit writer.
#include <boost/json/serialize.hpp>

#include "core/json.h"
#include "decisions/internal.h"
#include "ledger/service.h"

namespace warden::decisions {
namespace json = boost::json;

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

void DecisionService::transition(const std::string& tx_id, const Actor& actor, Change change,
                                 std::function<void(const store::TransactionRow&)> after_commit,
                                 Changed done) {
  const std::int64_t now = clock_.now_seconds();
  auto result = std::make_shared<store::TransactionRow>();
  auto settled_holds = std::make_shared<std::vector<ledger::Change>>();
  auto op = [=, this](store::WriteTxn& tx) -> Status {
    WARDEN_ASSIGN_OR_RETURN(auto row, tx.get_transaction(tx_id));
    if (!row || !owned_by(*row, actor)) return Status(ErrorCode::TX_NOT_FOUND);
    store::AuditEvent e = audit_for(actor, *row, "", now);
    // Cluster mode: what the decision counted in the shared windows before this change.
    std::optional<store::TransactionRow> before;
    if (row->metadata.find("\"windows\"") != std::string::npos) before = *row;
    WARDEN_RETURN_IF_ERROR(change(tx, *row, e));
    row->updated_at = now;
    if (before) WARDEN_RETURN_IF_ERROR(adjust_windows(tx, *before, *row));
    WARDEN_ASSIGN_OR_RETURN(*settled_holds, settle_holds(tx, *row, now));
    if (Status s = tx.update_transaction(*row); !s.ok()) {
      // The only unique column a transition sets is tx_hash (per agent and chain).
      if (s.code() == ErrorCode::STORE_CONSTRAINT && row->tx_hash) {
        return Status(ErrorCode::TX_HASH_CONFLICT,
                      "transaction hash " + *row->tx_hash + " was already confirmed on " +
                          row->chain + " for this agent");
      }
      return s;
    }
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
    WARDEN_RETURN_IF_ERROR(enqueue_event(tx, *row, false));
    *result = std::move(*row);
    return Status();
  };
  auto on_commit = [this, result, settled_holds, after_commit, done](const Status& s) {
    if (!s.ok()) {
      if (done) done(s);
      return;
    }
    if (!settled_holds->empty()) ledger_->settled(*settled_holds);
    if (result->status != "QUEUED" && result->status != "PENDING") cancel_timers(result->id);
    if (after_commit) after_commit(*result);
    json::object body = transaction_json(*result);
    notify_waiters(result->id, body);
    announced(*result);
    if (done) done(std::move(body));
  };
  if (Status s = writer_.submit(std::move(op), on_commit); !s.ok()) on_commit(s);
}

Result<std::vector<ledger::Change>> DecisionService::settle_holds(store::WriteTxn& tx,
                                                                  const store::TransactionRow& row,
                                                                  std::int64_t now) {
  if (ledger_ == nullptr || row.status == "QUEUED" || row.status == "PENDING") {
    return std::vector<ledger::Change>{};
  }
  // A confirmed transaction spends its BUDGET holds (at the final amount); every other end
  // gives them back. A late confirm finds them already given back at expiry.
  // A decision that held BUDGET credit names its owner, so that a replica sharing the store
  // that did not take those holds finds them there.
  std::optional<std::string> owner;
  if (row.metadata.find("\"holds\"") != std::string::npos) owner = row.agent_id;
  // A metered settlement posts each hold at its asset's final amount.
  if (row.status == "CONFIRMED" && row.metadata.find("\"final_amounts\"") != std::string::npos) {
    const json::object meta = metadata_of(row);
    if (meta.contains("final_amounts")) {
      return ledger_->settle_reservation(tx, row.id, owner, final_amounts_of(meta), now);
    }
  }
  std::optional<Amount> final_amount;
  if (row.final_amount) final_amount = Amount::parse(*row.final_amount).value();
  return ledger_->settle_reservation(tx, row.id, owner, row.status == "CONFIRMED", final_amount,
                                     now);
}

namespace {

// Debits each charge now, as far as the agent's credit goes: [{asset, debited, shortfall}].
Result<json::array> debit_now(ledger::LedgerService& ledger, store::WriteTxn& tx,
                              const std::string& token, const store::TransactionRow& row,
                              const std::vector<ledger::LedgerService::LateCharge>& charges,
                              std::int64_t now, bool& short_of_credit) {
  WARDEN_ASSIGN_OR_RETURN(auto debits,
                          ledger.charge_late(tx, token, row.id, row.agent_id, charges, now));
  json::array out;
  for (std::size_t i = 0; i < charges.size(); ++i) {
    Amount debited;
    for (const auto& e : debits[i].entries) debited = *debited.checked_add(e.amount);
    const Amount shortfall = *charges[i].amount.checked_sub(debited);
    if (!shortfall.is_zero()) short_of_credit = true;
    out.push_back({{"asset", charges[i].asset},
                   {"debited", debited.to_string()},
                   {"shortfall", shortfall.to_string()}});
  }
  return out;
}

}  // namespace

// A late confirm: the BUDGET holds were voided when the reservation expired, but what was spent
// was spent. Each held asset is debited now, as far as the credit goes; the TX_CONFIRMED row
// says what was debited and what the credit could not cover.
Status DecisionService::charge_late(store::WriteTxn& tx, const std::string& token,
                                    const store::TransactionRow& row,
                                    const std::optional<Amount>& final_amount,
                                    const std::map<std::string, Amount>& final_amounts,
                                    std::int64_t now, json::object& details) {
  if (ledger_ == nullptr) return Status();
  const json::object meta = metadata_of(row);
  const auto* holds = meta.if_contains("holds");
  if (holds == nullptr || !holds->is_array() || holds->as_array().empty()) return Status();
  std::vector<ledger::LedgerService::LateCharge> charges;
  for (const auto& h : holds->as_array()) {
    const auto& o = h.as_object();
    std::string asset(o.at("asset").as_string());
    Amount spent = Amount::parse(o.at("requested").as_string()).value();
    if (auto it = final_amounts.find(asset); it != final_amounts.end()) {
      spent = it->second;
    } else if (final_amount && holds->as_array().size() == 1) {
      spent = *final_amount;
    }
    charges.push_back({std::move(asset), spent});
  }
  bool short_of_credit = false;
  WARDEN_ASSIGN_OR_RETURN(details["ledger_late_debits"],
                          debit_now(*ledger_, tx, token, row, charges, now, short_of_credit));
  return Status();
}

Status DecisionService::charge_excess(store::WriteTxn& tx, const std::string& token,
                                      const store::TransactionRow& row,
                                      const std::map<std::string, Amount>& final_amounts,
                                      std::int64_t now, json::object& details,
                                      store::AuditEvent& e) {
  if (ledger_ == nullptr) return Status();
  const json::object meta = metadata_of(row);
  const auto* holds = meta.if_contains("holds");
  if (holds == nullptr || !holds->is_array()) return Status();
  std::vector<ledger::LedgerService::LateCharge> charges;
  for (const auto& h : holds->as_array()) {
    const auto& o = h.as_object();
    const std::string asset(o.at("asset").as_string());
    auto it = final_amounts.find(asset);
    if (it == final_amounts.end()) continue;
    const Amount held = Amount::parse(o.at("held").as_string()).value();
    if (it->second > held) charges.push_back({asset, *it->second.checked_sub(held)});
  }
  if (charges.empty()) return Status();
  bool short_of_credit = false;
  WARDEN_ASSIGN_OR_RETURN(details["ledger_excess_debits"],
                          debit_now(*ledger_, tx, token, row, charges, now, short_of_credit));
  if (short_of_credit) e.severity = "warning";
  return Status();
}

void DecisionService::confirm(const std::string& tx_id, const Actor& actor,
                              std::optional<Amount> final_amount,
                              std::optional<std::string> tx_hash, Changed done) {
  const std::int64_t now = clock_.now_seconds();
  // What the engine settles: the final amount, or nullopt for "spent as reserved".
  auto settled = std::make_shared<std::optional<Amount>>();
  auto late = std::make_shared<bool>(false);
  auto cooldowns = std::make_shared<Cooldowns>();
  // A late confirm's ledger debits are this request's (a rerun of its write reuses them): kept
  // when its write commits, undone when it does not.
  const std::string late_token = ids_.next();
  Changed answer = [this, late_token, done = std::move(done)](Result<json::object> r) {
    if (!r.ok() && ledger_) ledger_->late_charged(late_token, false);
    if (done) done(std::move(r));
  };
  transition(
      tx_id, actor,
      [=](store::WriteTxn& tx, store::TransactionRow& row, store::AuditEvent& e) -> Status {
        // An expired reservation was released, but what was spent was spent: a late confirm
        // still counts, in every window it belongs to.
        *late = row.status == "EXPIRED";
        if (row.status != "PENDING" && !*late) {
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
          if (final < reserved && !actor.may_settle_below_reserved()) {
            return Status(ErrorCode::TX_SETTLEMENT_FORBIDDEN,
                          "an agent settles at the reserved amount " + reserved.to_string() +
                              "; a lower final amount needs a settlement session (a session "
                              "created with role \"settlement\")",
                          json::object{{"reserved_amount", reserved.to_string()}});
          }
          *settled = final;
          row.final_amount = final.to_string();
          details["final_amount"] = final.to_string();
          details["reserved_amount"] = reserved.to_string();
          if (final < reserved) {
            details["below_reserved"] = true;
            e.severity = "warning";
          }
        } else if (final_amount) {
          // Several amounts (or none) were reserved: there is no single amount to lower.
          return Status(ErrorCode::VALIDATION_INVALID_VALUE,
                        "final_amount applies only to a transaction with one reserved amount",
                        json::object{{"field", "final_amount"}});
        }
        if (*late) {
          details["late"] = true;
          e.severity = "warning";
          WARDEN_RETURN_IF_ERROR(charge_late(tx, late_token, row, *settled, {}, now, details));
        }
        cooldowns->clear();
        WARDEN_RETURN_IF_ERROR(run_post_checks(row, *settled, {}, {}, now, details, e, *cooldowns));
        row.status = "CONFIRMED";
        row.executed_at = now;
        if (tx_hash) row.tx_hash = tx_hash;
        e.event_type = "TX_CONFIRMED";
        e.details = json::serialize(details);
        return record_usage(tx, row.agent_id, settled_charges(row));
      },
      [this, settled, late, late_token, cooldowns](const store::TransactionRow& row) {
        for (const auto& [policy_id, until_ms] : *cooldowns) {
          engine_.post_matched(row.agent_id, policy_id, until_ms);
        }
        if (*late) {
          if (ledger_) ledger_->late_charged(late_token, true);
          engine_.restore(row.agent_id, row.id, settled_charges(row), false);
          late_settlements_.fetch_add(1, std::memory_order_relaxed);
          return;
        }
        if (Status s = engine_.settle(row.agent_id, row.id, *settled); !s.ok()) {
          // The row check above makes this unreachable; keep the engine and rows consistent
          // by releasing rather than leaving a hold nobody can settle.
          engine_.release(row.agent_id, row.id);
        }
      },
      std::move(answer));
}

// CUSTOM `post` conditions run at settlement on the request as decided, with the final amount:
// what matched is recorded on the transaction (post_reasons) and in the TX_CONFIRMED audit
// row at severity warning. The spend itself stands; it happened.
Status DecisionService::run_post_checks(store::TransactionRow& row,
                                        const std::optional<Amount>& final_amount,
                                        const std::map<std::string, Amount>& final_amounts,
                                        const json::object& post_attributes, std::int64_t now,
                                        json::object& details, store::AuditEvent& e,
                                        Cooldowns& cooldowns) {
  json::object meta = metadata_of(row);
  const auto* saved = meta.if_contains("request");
  if (saved == nullptr || !saved->is_object()) return Status();
  engine::Request request = request_from(saved->as_object(), row.agent_id);
  request.now_ms = now * 1000;
  if (final_amount && request.amounts.size() == 1) request.amounts.begin()->second = *final_amount;
  for (const auto& [asset, amount] : final_amounts) {
    if (auto it = request.amounts.find(asset); it != request.amounts.end()) it->second = amount;
  }
  // What the response reported (prompt_tokens, ..., latency_ms) is read as attributes.
  for (const auto& [key, value] : post_attributes) request.attributes[key] = value;
  const std::vector<engine::Reason> reasons = engine_.post_checks(request);
  if (reasons.empty()) return Status();
  engine::Decision d;
  d.reasons = reasons;
  json::value post = engine::decision_json(d, false)["reasons"];
  // A cooldown's end is stored with its reason: start-up rebuilds the running ones from it.
  for (std::size_t i = 0; i < reasons.size(); ++i) {
    if (reasons[i].until_ms <= 0) continue;
    auto& reason = post.as_array()[i].as_object();
    reason["cooldown_until_ms"] = reasons[i].until_ms;
    reason["cooldown_until"] = format_rfc3339(reasons[i].until_ms / 1000);
    cooldowns.emplace_back(reasons[i].policy_id, reasons[i].until_ms);
  }
  meta["post_reasons"] = post;
  row.metadata = json::serialize(meta);
  details["post_reasons"] = std::move(post);
  e.severity = "warning";
  return Status();
}

void DecisionService::fail(const std::string& tx_id, const Actor& actor, std::string error,
                           Changed done) {
  transition(
      tx_id, actor,
      [=](store::WriteTxn&, store::TransactionRow& row, store::AuditEvent& e) -> Status {
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

void DecisionService::settle_usage(const std::string& tx_id, const Actor& actor,
                                   UsageSettlement settlement, Changed done) {
  if (!actor.master && !actor.system && !actor.settlement) {
    if (done) {
      done(Status(ErrorCode::TX_SETTLEMENT_FORBIDDEN,
                  "a metered request is settled by the gateway, the master or a settlement "
                  "session"));
    }
    return;
  }
  const std::int64_t now = clock_.now_seconds();
  auto s = std::make_shared<const UsageSettlement>(std::move(settlement));
  // The usage event is written with the settlement, whichever way it ends.
  auto insert_usage = [this, s, now](store::WriteTxn& tx, const store::TransactionRow& row) {
    if (!s->usage) return Status();
    store::UsageEventRow usage = *s->usage;
    if (usage.id.empty()) usage.id = ids_.next();
    if (!usage.tx_id) usage.tx_id = row.id;
    if (usage.agent_id.empty()) usage.agent_id = row.agent_id;
    if (usage.created_at == 0) usage.created_at = now;
    return tx.insert_usage_event(usage);
  };
  if (!s->used) {
    transition(
        tx_id, actor,
        [=](store::WriteTxn& tx, store::TransactionRow& row, store::AuditEvent& e) -> Status {
          if (row.status != "PENDING") {
            return invalid_state(row, "only an executable (PENDING) transaction can fail");
          }
          row.status = "FAILED";
          row.error = s->error;
          e.event_type = "TX_FAILED";
          e.severity = "warning";
          json::object details{{"error", s->error}};
          if (!s->post_attributes.empty()) details["usage"] = s->post_attributes;
          e.details = json::serialize(details);
          return insert_usage(tx, row);
        },
        [this](const store::TransactionRow& row) { engine_.release(row.agent_id, row.id); },
        std::move(done));
    return;
  }
  auto late = std::make_shared<bool>(false);
  auto cooldowns = std::make_shared<Cooldowns>();
  // Ledger debits taken in the write (a late settlement's, or the excess over a hold) belong
  // to this request: kept when its write commits, undone when it does not.
  const std::string debit_token = ids_.next();
  Changed answer = [this, debit_token, done = std::move(done)](Result<json::object> r) {
    if (!r.ok() && ledger_) ledger_->late_charged(debit_token, false);
    if (done) done(std::move(r));
  };
  transition(
      tx_id, actor,
      [=, this](store::WriteTxn& tx, store::TransactionRow& row, store::AuditEvent& e) -> Status {
        *late = row.status == "EXPIRED";
        if (row.status != "PENDING" && !*late) {
          return invalid_state(row, "only an executable (PENDING) transaction can be settled");
        }
        json::object finals;
        for (const auto& [asset, amount] : s->final_amounts) finals[asset] = amount.to_string();
        json::object meta = metadata_of(row);
        meta["final_amounts"] = finals;
        row.metadata = json::serialize(meta);
        row.final_amount = std::nullopt;
        if (finals.size() == 1) row.final_amount = std::string(finals.begin()->value().as_string());
        json::object details;
        details["final_amounts"] = finals;
        if (!s->post_attributes.empty()) details["usage"] = s->post_attributes;
        if (*late) {
          details["late"] = true;
          e.severity = "warning";
          WARDEN_RETURN_IF_ERROR(
              charge_late(tx, debit_token, row, std::nullopt, s->final_amounts, now, details));
        } else {
          WARDEN_RETURN_IF_ERROR(
              charge_excess(tx, debit_token, row, s->final_amounts, now, details, e));
        }
        cooldowns->clear();
        WARDEN_RETURN_IF_ERROR(run_post_checks(row, std::nullopt, s->final_amounts,
                                               s->post_attributes, now, details, e, *cooldowns));
        row.status = "CONFIRMED";
        row.executed_at = now;
        e.event_type = "TX_CONFIRMED";
        e.details = json::serialize(details);
        WARDEN_RETURN_IF_ERROR(insert_usage(tx, row));
        return record_usage(tx, row.agent_id, settled_charges(row));
      },
      [this, s, late, debit_token, cooldowns](const store::TransactionRow& row) {
        if (ledger_) ledger_->late_charged(debit_token, true);
        for (const auto& [policy_id, until_ms] : *cooldowns) {
          engine_.post_matched(row.agent_id, policy_id, until_ms);
        }
        if (*late) {
          engine_.restore(row.agent_id, row.id, settled_charges(row), false);
          late_settlements_.fetch_add(1, std::memory_order_relaxed);
          return;
        }
        if (Status st = engine_.settle(row.agent_id, row.id, s->final_amounts); !st.ok()) {
          engine_.release(row.agent_id, row.id);
        }
      },
      std::move(answer));
}

void DecisionService::cancel(const std::string& tx_id, const Actor& actor, Changed done) {
  transition(
      tx_id, actor,
      [=](store::WriteTxn&, store::TransactionRow& row, store::AuditEvent& e) -> Status {
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
  auto settled_holds = std::make_shared<std::vector<ledger::Change>>();
  auto op = [=, this](store::WriteTxn& tx) -> Status {
    WARDEN_ASSIGN_OR_RETURN(auto approval, tx.get_approval(approval_id));
    if (!approval) return Status(ErrorCode::APPROVAL_NOT_FOUND);
    if (approval->approved_at || approval->rejected_at || now >= approval->expires_at) {
      return Status(ErrorCode::APPROVAL_NOT_PENDING);
    }
    WARDEN_ASSIGN_OR_RETURN(auto row, tx.get_transaction(approval->tx_id));
    if (!row) return Status(ErrorCode::TX_NOT_FOUND);
    if (row->status != "QUEUED") return Status(ErrorCode::APPROVAL_NOT_PENDING);
    const store::TransactionRow before = *row;
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
    WARDEN_ASSIGN_OR_RETURN(*settled_holds, settle_holds(tx, *row, now));
    WARDEN_RETURN_IF_ERROR(tx.update_approval(*approval));
    WARDEN_RETURN_IF_ERROR(tx.update_transaction(*row));
    WARDEN_RETURN_IF_ERROR(adjust_windows(tx, before, *row));
    WARDEN_RETURN_IF_ERROR(tx.append_audit(e).take_status());
    WARDEN_RETURN_IF_ERROR(enqueue_event(tx, *row, false));
    *result = std::move(*row);
    return Status();
  };
  auto on_commit = [this, result, settled_holds, approve, done](const Status& s) {
    if (!s.ok()) return done(s);
    if (!settled_holds->empty()) ledger_->settled(*settled_holds);
    // The approval's expiry and the queued reservation's TTL make way for the new TTL.
    cancel_timers(result->id);
    if (approve) {
      schedule(*result, std::nullopt);
    } else {
      engine_.release(result->agent_id, result->id);
    }
    json::object body = transaction_json(*result);
    notify_waiters(result->id, body);
    announced(*result);
    done(std::move(body));
  };
  if (Status s = writer_.submit(std::move(op), on_commit); !s.ok()) on_commit(s);
}

}  // namespace warden::decisions
