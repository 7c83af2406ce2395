// Warden's own automation events: what each carries (docs/automation.md).
#include "server/warden_events.h"

#include "core/json.h"

namespace warden::server {
namespace json = boost::json;
namespace kind = automation::event_kind;

namespace {

constexpr std::string_view kBudgetExceededReason = "BUDGET_EXCEEDED";

json::array reason_codes(const engine::Decision& d) {
  json::array codes;
  for (const auto& r : d.reasons) codes.emplace_back(r.code);
  return codes;
}

std::string metadata_text(const json::object& meta, std::string_view key) {
  const auto* v = meta.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

// What every event about a transaction carries: its id, the action (the metadata's "action"
// for a generic decision, else the transaction's type: TRANSFER, SWAP, ...), its status and
// amount, and its approval when it has one.
json::object transaction_attributes(const store::TransactionRow& row) {
  json::object meta;
  if (auto parsed = parse_json(row.metadata); parsed.ok() && parsed->is_object()) {
    meta = std::move(parsed->as_object());
  }
  json::object a;
  a["tx_id"] = row.id;
  const std::string action = metadata_text(meta, "action");
  a["action"] = action.empty() ? row.type : action;
  a["status"] = row.status;
  if (row.amount) a["amount"] = *row.amount;
  if (const std::string approval = metadata_text(meta, "approval_id"); !approval.empty()) {
    a["approval_id"] = approval;
  }
  return a;
}

json::object decision_attributes(const store::TransactionRow& row, const engine::Decision& d) {
  json::object a = transaction_attributes(row);
  a["reasons"] = reason_codes(d);
  return a;
}

}  // namespace

WardenEvents::WardenEvents(const Clock& clock, IdGenerator& ids, Wants wants, Emit emit)
    : clock_(clock), ids_(ids), wants_(std::move(wants)), emit_(std::move(emit)) {}

automation::Event WardenEvents::make(std::string_view event_kind, std::string subject,
                                     json::object attributes) const {
  return automation::make_warden_event(event_kind, std::move(subject), std::move(attributes),
                                       clock_, ids_);
}

void WardenEvents::on_decided(const store::TransactionRow& row, const engine::Decision& d) {
  if (!d.allowed()) {
    if (wants_(kind::kDecisionDenied)) {
      emit_(make(kind::kDecisionDenied, row.agent_id, decision_attributes(row, d)));
    }
    const bool budget = std::any_of(d.reasons.begin(), d.reasons.end(),
                                    [](const auto& r) { return r.code == kBudgetExceededReason; });
    if (budget && wants_(kind::kBudgetExceeded)) {
      emit_(make(kind::kBudgetExceeded, row.agent_id, decision_attributes(row, d)));
    }
    return;
  }
  if (d.outcome == engine::Outcome::kApproval && wants_(kind::kDecisionApprovalRequired)) {
    emit_(make(kind::kDecisionApprovalRequired, row.agent_id, decision_attributes(row, d)));
  }
}

void WardenEvents::on_approval_expired(const store::TransactionRow& row) {
  if (!wants_(kind::kApprovalExpired)) return;
  emit_(make(kind::kApprovalExpired, row.agent_id, transaction_attributes(row)));
}

void WardenEvents::auth_failed(const std::string& client_address, std::string_view method,
                               ErrorCode code, const std::string& correlation_id) {
  if (!wants_(kind::kAuthFailed)) return;
  json::object a;
  a["method"] = method;
  a["ip"] = client_address;
  a["code"] = error_code_name(code);
  a["correlation_id"] = correlation_id;
  emit_(make(kind::kAuthFailed, client_address, std::move(a)));
}

void WardenEvents::policy_changed(const std::string& policy_id, std::string_view change,
                                  const std::optional<std::string>& agent_id, std::string_view type,
                                  const std::string& correlation_id) {
  if (!wants_(kind::kPolicyChanged)) return;
  json::object a;
  a["change"] = change;
  a["agent_id"] = agent_id ? json::value(*agent_id) : json::value(nullptr);
  a["type"] = type;
  a["correlation_id"] = correlation_id;
  emit_(make(kind::kPolicyChanged, policy_id, std::move(a)));
}

}  // namespace warden::server
