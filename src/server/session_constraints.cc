// Reading, storing and enforcing session constraints.
#include "server/session_constraints.h"

#include <algorithm>
#include <boost/json/serialize.hpp>

#include "core/json.h"
#include "policy/policy.h"
#include "server/body.h"
#include "server/log.h"

namespace warden::server {
namespace json = boost::json;

namespace {

constexpr std::string_view kActions = "actions";
constexpr std::string_view kAmountMax = "amount_max";

std::string field_name(std::string_view key) { return "constraints." + std::string(key); }

// Actions are compared in the one canonical spelling requests and policies use
// (policy::canonical_action: upper case; anything but ASCII letters, digits and _ . : - is
// refused rather than guessed at). A request action that has no canonical form is "", which
// no listed action matches.
std::string request_action(std::string_view action) {
  return policy::canonical_action(action).value_or("");
}

Result<std::vector<std::string>> parse_actions(const json::value& v) {
  const std::string field = field_name(kActions);
  if (!v.is_array()) {
    return field_error(ErrorCode::VALIDATION_WRONG_TYPE, field,
                       "field '" + field + "' must be an array of action names");
  }
  const json::array& a = v.as_array();
  if (a.empty() || a.size() > kConstraintActionsMax) {
    return field_error(
        ErrorCode::VALIDATION_INVALID_VALUE, field,
        "field '" + field + "' must list 1.." + std::to_string(kConstraintActionsMax) + " actions");
  }
  std::vector<std::string> out;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const std::string item = field + "[" + std::to_string(i) + "]";
    if (!a[i].is_string()) {
      return field_error(ErrorCode::VALIDATION_WRONG_TYPE, item,
                         "field '" + item + "' must be a string");
    }
    auto name = policy::canonical_action(a[i].as_string());
    if (!name) {
      return field_error(ErrorCode::VALIDATION_INVALID_VALUE, item,
                         "field '" + item + "' must be 1.." +
                             std::to_string(policy::kActionBytesMax) +
                             " ASCII letters, digits or _ . : -");
    }
    out.push_back(std::move(*name));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Result<Amount> parse_amount_max(const json::value& v) {
  const std::string field = field_name(kAmountMax);
  if (!v.is_string()) {
    return field_error(ErrorCode::VALIDATION_WRONG_TYPE, field,
                       "field '" + field + "' must be a decimal string");
  }
  auto a = Amount::parse(v.as_string());
  if (!a.ok()) {
    return field_error(ErrorCode::VALIDATION_INVALID_AMOUNT, field,
                       "field '" + field + "': " + a.status().message());
  }
  return *a;
}

// Why a request breaks the constraints: the audit row's and the error's details.
struct Violation {
  std::string message;
  json::object details;
};

std::optional<Violation> amount_violation(const Amount& max, const std::string& what,
                                          const Amount& amount) {
  if (amount <= max) return std::nullopt;
  return Violation{"the amount " + amount.to_string() + " of " + what +
                       " is above the session's amount_max " + max.to_string(),
                   json::object{{"constraint", kAmountMax},
                                {"asset", what},
                                {"amount", amount.to_string()},
                                {"amount_max", max.to_string()}}};
}

std::optional<Violation> find_violation(const SessionConstraints& c,
                                        const engine::Request& request) {
  const std::string action = request_action(request.action);
  if (!c.actions.empty() && !std::binary_search(c.actions.begin(), c.actions.end(), action)) {
    json::array allowed;
    for (const auto& a : c.actions) allowed.emplace_back(a);
    return Violation{
        "the session may not request '" + request.action + "'",
        json::object{
            {"constraint", kActions}, {"action", request.action}, {"actions", std::move(allowed)}}};
  }
  if (!c.amount_max) return std::nullopt;
  for (const auto& [asset, amount] : request.amounts) {
    if (auto v = amount_violation(*c.amount_max, asset, amount)) return v;
  }
  // An allowance is not a spend (it reserves nothing) but lets the spender take that much.
  if (action == "APPROVE") {
    const json::value* allowance = request.attributes.if_contains("amount");
    if (allowance != nullptr && allowance->is_string()) {
      auto a = Amount::parse(allowance->as_string());
      if (!a.ok()) {
        return Violation{"the allowance is not an amount",
                         json::object{{"constraint", kAmountMax}, {"asset", "allowance"}}};
      }
      if (auto v = amount_violation(*c.amount_max, "allowance", *a)) return v;
    }
  }
  return std::nullopt;
}

Result<SessionConstraints> stored_constraints(const std::string& text) {
  WARDEN_ASSIGN_OR_RETURN(json::value v, parse_json(text));
  if (!v.is_object()) return Status(ErrorCode::VALIDATION_WRONG_TYPE, "not an object");
  return parse_session_constraints(v.as_object());
}

void audit_violation(const Deps& d, const RequestContext& ctx, const Violation& v) {
  store::AuditEvent e = ctx.audit("SESSION_CONSTRAINT_VIOLATED", d.clock.now_seconds());
  e.severity = "warning";
  e.details = json::serialize(v.details);
  // The refusal does not wait for its audit row: it changes nothing, and the row is queued
  // before the answer leaves, ahead of any later write.
  auto report = [](const Status& s) {
    if (!s.ok()) {
      log_event(LogLevel::kError, "session constraint audit failed", {{"error", s.to_string()}});
    }
  };
  Status queued = d.writer.submit(
      [e](store::WriteTxn& tx) { return tx.append_audit(e).take_status(); }, report);
  report(queued);
}

}  // namespace

Result<SessionConstraints> parse_session_constraints(const json::object& o) {
  SessionConstraints c;
  for (const auto& kv : o) {
    const std::string_view key = kv.key();
    if (kv.value().is_null()) continue;  // null is "not set", as everywhere in request bodies
    if (key == kActions) {
      WARDEN_ASSIGN_OR_RETURN(c.actions, parse_actions(kv.value()));
    } else if (key == kAmountMax) {
      WARDEN_ASSIGN_OR_RETURN(c.amount_max, parse_amount_max(kv.value()));
    } else {
      const std::string field = field_name(key);
      return field_error(ErrorCode::VALIDATION_UNKNOWN_FIELD, field,
                         "unknown field '" + field + "' (constraints are actions and amount_max)");
    }
  }
  return c;
}

json::object session_constraints_json(const SessionConstraints& c) {
  json::object o;
  if (!c.actions.empty()) {
    json::array a;
    for (const auto& name : c.actions) a.emplace_back(name);
    o[kActions] = std::move(a);
  }
  if (c.amount_max) o[kAmountMax] = c.amount_max->to_string();
  return o;
}

Status check_session_constraints(const Deps& d, const RequestContext& ctx,
                                 const engine::Request& request) {
  if (!ctx.session || !ctx.session->constraints) return Status();
  std::optional<Violation> v;
  auto c = stored_constraints(*ctx.session->constraints);
  if (!c.ok()) {
    // Written before constraints were read strictly: refuse rather than guess what they meant.
    v = Violation{"the session's stored constraints are not valid; issue a new session",
                  json::object{{"constraint", "unreadable"}}};
  } else {
    v = find_violation(*c, request);
  }
  if (!v) return Status();
  audit_violation(d, ctx, *v);
  return Status(ErrorCode::SESSION_CONSTRAINT_VIOLATED, std::move(v->message),
                std::move(v->details));
}

}  // namespace warden::server
