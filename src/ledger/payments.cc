// Payment webhooks: a verified provider event is stored once, moves its payment's status forward
// only, and mints the payment's lot exactly once (docs/ledger.md#payment-webhooks). The whole
// event is one operation of the group-commit writer, which runs one operation at a time: two
// deliveries of one event, or two events of one payment, never interleave.
#include "core/enums.h"
#include "core/json.h"
#include "ledger/internal.h"

namespace warden::ledger {

namespace {

constexpr std::size_t kProviderBytesMax = 32;
constexpr std::size_t kEventIdBytesMax = 128;
constexpr std::size_t kOwnerBytesMax = 128;
constexpr int kRankConfirmed = 1;
constexpr int kRankFinished = 2;

// What one event does to its payment.
enum class Outcome {
  kCreated,       // first event of the payment: the payment is stored with its status
  kAdvanced,      // a later status: the payment moves forward
  kStale,         // an older or equal status: stored, ignored
  kRefused,       // finished -> failed: stored, ignored
  kConflict,      // owner, amount or currency contradict the payment (or its lot)
  kOwnerUnknown,  // a new payment for an owner that is not an agent
};

std::string_view outcome_name(Outcome o) {
  switch (o) {
    case Outcome::kCreated:
      return "created";
    case Outcome::kAdvanced:
      return "advanced";
    case Outcome::kStale:
      return "stale";
    case Outcome::kRefused:
      return "refused";
    case Outcome::kConflict:
      return "conflict";
    case Outcome::kOwnerUnknown:
      return "owner_unknown";
  }
  return "stale";
}

bool applies(Outcome o) { return o == Outcome::kCreated || o == Outcome::kAdvanced; }

Status payload_error(std::string_view field, ErrorCode reason, std::string message) {
  return Status(ErrorCode::WEBHOOK_PAYLOAD_INVALID, std::move(message),
                {{"field", field}, {"reason", error_code_name(reason)}});
}

// Ids are compared byte for byte: printable ASCII without spaces has one spelling.
bool visible_ascii(std::string_view s) {
  for (char c : s) {
    if (c <= ' ' || c > '~') return false;
  }
  return true;
}

Status check_id(std::string_view field, const std::string& value, std::size_t bytes_max) {
  if (value.empty() || value.size() > bytes_max || !visible_ascii(value)) {
    return payload_error(field, ErrorCode::VALIDATION_INVALID_VALUE,
                         std::string(field) + " must be 1 to " + std::to_string(bytes_max) +
                             " printable ASCII characters without spaces");
  }
  return Status();
}

bool valid_provider(std::string_view p) {
  if (p.empty() || p.size() > kProviderBytesMax) return false;
  for (char c : p) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  }
  return true;
}

json::object payment_json(const store::PaymentRow& p) {
  return {{"id", p.id},
          {"provider", p.provider},
          {"payment_id", p.id.substr(p.provider.size() + 1)},
          {"owner", p.owner},
          {"amount", p.amount},
          {"currency", p.currency},
          {"status", p.status},
          {"lot_id", nullable(p.lot_id)},
          {"created_at", p.created_at},
          {"updated_at", p.updated_at}};
}

// The field of the stored payment that the event contradicts, if any.
std::optional<std::string_view> contradiction(const store::PaymentRow& p, const PaymentEvent& e) {
  if (p.owner != e.owner) return "owner";
  if (p.amount != e.amount.to_string()) return "amount";
  if (p.currency != e.currency) return "currency";
  return std::nullopt;
}

Outcome outcome_for(const std::optional<store::PaymentRow>& payment, const PaymentEvent& e,
                    bool owner_known) {
  if (!payment) return owner_known ? Outcome::kCreated : Outcome::kOwnerUnknown;
  if (contradiction(*payment, e)) return Outcome::kConflict;
  const int from = payment_status_rank(payment->status);
  const int to = payment_status_rank(e.status);
  if (to <= from) return Outcome::kStale;
  // Money that has arrived does not fail afterwards; a refund is how it goes back.
  if (payment->status == "finished" && e.status == "failed") return Outcome::kRefused;
  return Outcome::kAdvanced;
}

struct MintStep {
  std::string lot_id;        // the payment's lot after this event
  bool contradicts = false;  // the payment id already has a lot with other terms
};

// The payment's lot: the one this event minted in an earlier run of the same write, a new one,
// or the one its payment id already minted (through POST /v1/ledger/mint), which is linked.
Result<MintStep> mint_or_link(store::WriteTxn& tx, Book& book, IdGenerator& ids,
                              const PaymentEvent& e, const std::string& payment_id,
                              std::int64_t now_s, std::optional<Change>& minted) {
  if (minted) return MintStep{minted->new_lot->id, false};
  Lot lot;
  lot.id = ids.next();
  lot.owner = e.owner;
  lot.currency = e.currency;
  lot.source = "payment";
  lot.amount = e.amount;
  lot.expires_at = e.expires_at;
  lot.payment_id = payment_id;
  lot.created_at = now_s;
  auto change = book.mint(lot);
  if (change.ok()) {
    minted = std::move(change).value();
    return MintStep{lot.id, false};
  }
  if (change.status().code() != ErrorCode::LEDGER_PAYMENT_CONFLICT) return change.take_status();
  const std::string existing(change.status().details().at("lot_id").as_string());
  WARDEN_ASSIGN_OR_RETURN(auto row, tx.get_lot(existing));
  if (!row) {
    // Minted in memory by a request whose write has not committed yet: linking it now could
    // point the payment at a lot that never reaches the disk. Nothing is written; the
    // provider's next delivery finds the lot committed (or gone, and mints).
    return Status(ErrorCode::LEDGER_PAYMENT_CONFLICT,
                  "the lot of payment " + payment_id + " is being written; deliver the event again",
                  {{"payment_id", payment_id}, {"lot_id", existing}, {"retry", true}});
  }
  const bool same =
      row->owner == e.owner && row->currency == e.currency && row->amount == e.amount.to_string();
  return MintStep{existing, !same};
}


json::object duplicate_json(const PaymentEvent& e, bool applied,
                            const std::optional<store::PaymentRow>& payment) {
  return {{"event_id", e.event_id},
          {"duplicate", true},
          {"applied", applied},
          {"payment", payment ? json::value(payment_json(*payment)) : nullptr}};
}

// Inserts or moves forward the payment an applied event names; `payment` becomes the new row.
Status store_payment(store::WriteTxn& tx, std::optional<store::PaymentRow>& payment,
                     const PaymentEvent& e, const std::string& payment_id,
                     const std::optional<std::string>& lot_id, std::int64_t now_s) {
  store::PaymentRow row;
  if (payment) {
    row = *payment;
  } else {
    row.id = payment_id;
    row.provider = e.provider;
    row.owner = e.owner;
    row.amount = e.amount.to_string();
    row.currency = e.currency;
    row.created_at = now_s;
  }
  row.status = e.status;
  row.lot_id = lot_id;
  row.updated_at = now_s;
  WARDEN_RETURN_IF_ERROR(payment ? tx.update_payment(row) : tx.insert_payment(row));
  payment = std::move(row);
  return Status();
}

json::object applied_json(const PaymentEvent& e, Outcome outcome, bool minted,
                          const std::optional<store::PaymentRow>& payment,
                          const std::optional<json::object>& lot) {
  return {{"event_id", e.event_id},
          {"duplicate", false},
          {"applied", applies(outcome)},
          {"outcome", outcome_name(outcome)},
          {"minted", minted},
          {"payment", payment ? json::value(payment_json(*payment)) : nullptr},
          {"lot", lot ? json::value(*lot) : nullptr}};
}

// PAYMENT_EVENT: what one stored event did; `payment` as it is after the event.
store::AuditEvent event_audit(const Caller& caller, const PaymentEvent& e,
                              const std::string& payment_id, Outcome outcome,
                              const std::optional<store::PaymentRow>& payment,
                              std::optional<std::string_view> conflict_field, std::int64_t now_s) {
  json::object details{{"provider", e.provider},
                       {"event_id", e.event_id},
                       {"payment_id", payment_id},
                       {"status", e.status},
                       {"created", e.created},
                       {"outcome", outcome_name(outcome)},
                       {"applied", applies(outcome)},
                       {"payment_status", payment ? json::value(payment->status) : nullptr},
                       {"lot_id", nullable(payment ? payment->lot_id : std::nullopt)}};
  if (conflict_field) details["field"] = *conflict_field;
  // An unknown owner is no agent: the row names it in details only.
  std::optional<std::string> agent;
  if (outcome != Outcome::kOwnerUnknown) agent = e.owner;
  store::AuditEvent a = audit_event(caller, "PAYMENT_EVENT", std::move(agent), details, now_s);
  if (!applies(outcome) && outcome != Outcome::kStale) a.severity = "warning";
  return a;
}

// What the sender is told when its stored event was not applied for a reason of its own.
Status refusal(Outcome outcome, const PaymentEvent& e, const std::string& payment_id,
               std::optional<std::string_view> conflict_field) {
  if (outcome == Outcome::kConflict) {
    return Status(
        ErrorCode::LEDGER_PAYMENT_CONFLICT,
        "event " + e.event_id + " contradicts payment " + payment_id + " on " +
            std::string(*conflict_field) + "; it was stored, not applied",
        {{"event_id", e.event_id}, {"payment_id", payment_id}, {"field", *conflict_field}});
  }
  if (outcome == Outcome::kOwnerUnknown) {
    return Status(ErrorCode::LEDGER_OWNER_UNKNOWN,
                  "no agent " + e.owner + "; event " + e.event_id + " was stored, not applied",
                  {{"field", "data.owner"}, {"event_id", e.event_id}});
  }
  return Status();
}

}  // namespace

Status check_payment_event(const PaymentEvent& e) {
  if (!valid_provider(e.provider)) {
    return payload_error("provider", ErrorCode::VALIDATION_INVALID_VALUE,
                         "provider must be 1 to " + std::to_string(kProviderBytesMax) +
                             " characters of a-z, 0-9, '_' and '-'");
  }
  WARDEN_RETURN_IF_ERROR(check_id("id", e.event_id, kEventIdBytesMax));
  // "<provider>:<payment id>" names the payment and its lot: it must fit a lot's payment_id.
  WARDEN_RETURN_IF_ERROR(
      check_id("data.payment_id", e.payment_id, kPaymentIdBytesMax - e.provider.size() - 1));
  WARDEN_RETURN_IF_ERROR(check_id("data.owner", e.owner, kOwnerBytesMax));
  if (e.amount.is_zero()) {
    return payload_error("data.amount", ErrorCode::VALIDATION_INVALID_AMOUNT,
                         "data.amount must be above zero");
  }
  if (canonical_currency(e.currency) != e.currency) {
    return payload_error("data.currency", ErrorCode::LEDGER_CURRENCY_UNKNOWN,
                         "data.currency '" + e.currency + "' is not a currency");
  }
  if (!is_one_of(kPaymentStatuses, e.status)) {
    return payload_error("data.status", ErrorCode::VALIDATION_INVALID_VALUE,
                         "data.status must be pending, confirmed, finished, failed or refunded");
  }
  if (e.expires_at && *e.expires_at <= 0) {
    return payload_error("data.expires_at", ErrorCode::VALIDATION_INVALID_VALUE,
                         "data.expires_at must be a Unix time in seconds");
  }
  return Status();
}

// Lives from submit to the commit's callback; only the writer's thread touches it.
struct LedgerService::PaymentRun {
  PaymentEvent event;
  Caller caller;
  std::string payment_id;  // the payment row's id: "<provider>:<provider's payment id>"
  std::int64_t now_s = 0;
  std::string mint_op_id;  // fixed, so that every run writes the same rows
  // What Book::mint did for this event. The book changes at once, and the writer may run this
  // write again (its batch rerun in savepoints, or alone after a failed commit): a rerun reuses
  // this change instead of minting a second lot. Undone unless the committed run wrote it.
  std::optional<Change> minted;
  // The same for a refund or failure that took the lot's remaining credit back.
  std::optional<Change> revoked;
  std::string revoke_op_id;
  // Set by each run.
  bool mint_written = false;
  bool revoke_written = false;
  Status refusal;  // answered instead of `answer`; the event is stored all the same
  Answer answer;
};

void LedgerService::payment_event(PaymentEvent event, const Caller& caller, Done done) {
  if (Status bad = check_payment_event(event); !bad.ok()) return done(std::move(bad));
  auto run = std::make_shared<PaymentRun>();
  run->payment_id = event.provider + ":" + event.payment_id;
  run->event = std::move(event);
  run->caller = caller;
  run->now_s = clock_.now_seconds();
  run->mint_op_id = ids_.next();
  run->revoke_op_id = ids_.next();
  auto write = [this, run](store::WriteTxn& tx) { return write_payment_event(tx, *run); };
  // The lot it mints or revokes is the event's owner's (an event naming another owner than its
  // payment is a conflict, which changes nothing): in flight until the callback.
  enter(run->event.owner);
  auto committed = [this, run, done = std::move(done)](const Status& s) {
    if (run->minted) {
      if (s.ok() && run->mint_written) {
        operations_.fetch_add(1, std::memory_order_relaxed);
      } else {
        book_.undo(*run->minted);
      }
      run->minted.reset();
    }
    if (run->revoked) {
      if (s.ok() && run->revoke_written) {
        operations_.fetch_add(1, std::memory_order_relaxed);
      } else {
        book_.undo(*run->revoked);
      }
      run->revoked.reset();
    }
    leave(run->event.owner);
    if (!s.ok()) return done(s);
    if (!run->refusal.ok()) return done(run->refusal);
    done(run->answer);
  };
  if (Status s = writer_.submit(std::move(write), committed); !s.ok()) committed(s);
}

Status LedgerService::write_payment_event(store::WriteTxn& tx, PaymentRun& run) {
  run.mint_written = false;
  run.revoke_written = false;
  run.refusal = Status();
  run.answer = Answer{200, {}, false};
  const PaymentEvent& e = run.event;
  const std::int64_t now = run.now_s;
  WARDEN_ASSIGN_OR_RETURN(auto seen, tx.get_webhook_event(e.provider, e.event_id));
  WARDEN_ASSIGN_OR_RETURN(auto payment, tx.get_payment(run.payment_id));
  // Before anything else, so that a redelivery never touches the book.
  if (seen) {
    run.answer.body = duplicate_json(e, seen->processed_at.has_value(), payment);
    return Status();
  }
  bool owner_known = true;
  if (!payment) {
    WARDEN_ASSIGN_OR_RETURN(auto agent, tx.get_agent(e.owner));
    owner_known = agent.has_value();
  }
  Outcome outcome = outcome_for(payment, e, owner_known);
  std::optional<std::string_view> conflict_field;
  if (outcome == Outcome::kConflict) conflict_field = contradiction(*payment, e);
  std::optional<std::string> lot_id = payment ? payment->lot_id : std::nullopt;
  const int rank = payment_status_rank(e.status);
  if (applies(outcome) && (rank == kRankConfirmed || rank == kRankFinished) && !lot_id) {
    WARDEN_ASSIGN_OR_RETURN(MintStep step,
                            mint_or_link(tx, book_, ids_, e, run.payment_id, now, run.minted));
    if (step.contradicts) {
      outcome = Outcome::kConflict;
      conflict_field = "lot";
    }
    lot_id = step.lot_id;
  }
  const bool applied = applies(outcome);

  store::WebhookEventRow stored{e.provider, e.event_id, e.payload, now, std::nullopt};
  if (applied) stored.processed_at = now;
  WARDEN_ASSIGN_OR_RETURN(bool inserted, tx.insert_webhook_event(stored));
  if (!inserted) {  // the lookup above said otherwise: change nothing
    run.answer.body = duplicate_json(e, false, payment);
    return Status();
  }
  std::optional<json::object> lot_shown;
  if (applied && run.minted && run.minted->new_lot->id == lot_id) {
    Lot shown = *run.minted->new_lot;
    shown.remaining = shown.amount;
    lot_shown = lot_json(shown);
    store::LedgerOpRow op;
    op.id = run.mint_op_id;
    op.kind = change_kind_name(ChangeKind::kMint);
    op.result = canonical_json(*lot_shown);
    op.created_at = now;
    WARDEN_RETURN_IF_ERROR(tx.insert_ledger_op(op));
    WARDEN_RETURN_IF_ERROR(write_change(tx, *run.minted, op.id, std::nullopt, now));
    WARDEN_RETURN_IF_ERROR(
        tx.append_audit(audit_event(run.caller, "LEDGER_MINT", e.owner, *lot_shown, now))
            .take_status());
    run.mint_written = true;
  }
  // Money that went back (refunded) or never arrived (failed after confirmed) takes back what
  // its lot has left; what was spent stays spent.
  std::optional<json::object> revoked_shown;
  if (applied && payment && lot_id && (e.status == "refunded" || e.status == "failed")) {
    if (!run.revoked) run.revoked = book_.revoke_lot(*lot_id, now);
    if (!run.revoked->empty()) {
      const Amount taken =
          run.revoked->entries.empty() ? Amount() : run.revoked->entries.front().amount;
      revoked_shown = json::object{{"lot_id", *lot_id},
                                   {"payment_id", run.payment_id},
                                   {"status", e.status},
                                   {"taken_back", taken.to_string()}};
      store::LedgerOpRow op;
      op.id = run.revoke_op_id;
      op.kind = change_kind_name(ChangeKind::kExpire);
      op.result = canonical_json(*revoked_shown);
      op.created_at = now;
      WARDEN_RETURN_IF_ERROR(tx.insert_ledger_op(op));
      WARDEN_RETURN_IF_ERROR(write_change(tx, *run.revoked, op.id, std::nullopt, now));
      WARDEN_RETURN_IF_ERROR(
          tx.append_audit(audit_event(run.caller, "LEDGER_LOT_REVOKED", e.owner, *revoked_shown, now))
              .take_status());
      run.revoke_written = true;
    }
  }
  if (applied) WARDEN_RETURN_IF_ERROR(store_payment(tx, payment, e, run.payment_id, lot_id, now));
  WARDEN_RETURN_IF_ERROR(tx.append_audit(event_audit(run.caller, e, run.payment_id, outcome,
                                                     payment, conflict_field, now))
                             .take_status());
  run.refusal = refusal(outcome, e, run.payment_id, conflict_field);
  run.answer.body = applied_json(e, outcome, run.mint_written, payment, lot_shown);
  run.answer.body["taken_back"] =
      revoked_shown ? json::value(revoked_shown->at("taken_back")) : json::value(nullptr);
  return Status();
}

}  // namespace warden::ledger
