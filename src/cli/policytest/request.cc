// Request bodies to engine requests (kept consistent with src/server/routes_transactions.cc),
// and `warden eval`: one decision against a directory of policy files, no daemon.
#include <date/date.h>

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <filesystem>
#include <initializer_list>
#include <sstream>

#include "cli/policytest/policytest.h"
#include "core/amount.h"
#include "core/clock.h"
#include "core/enums.h"
#include "engine/ir.h"
#include "policy/policy.h"

namespace warden::policytest {
namespace json = boost::json;

namespace {

Status check_keys(const json::object& body, std::initializer_list<std::string_view> allowed) {
  for (const auto& kv : body) {
    if (std::find(allowed.begin(), allowed.end(), kv.key()) == allowed.end()) {
      return Status(ErrorCode::VALIDATION_UNKNOWN_FIELD,
                    "unknown request field '" + std::string(kv.key()) + "'");
    }
  }
  return Status();
}

Result<std::optional<std::string>> optional_string(const json::object& body, std::string_view key) {
  const json::value* v = body.if_contains(key);
  if (v == nullptr || v->is_null()) return std::optional<std::string>();
  if (!v->is_string()) {
    return Status(ErrorCode::VALIDATION_WRONG_TYPE,
                  "field '" + std::string(key) + "' must be a string");
  }
  return std::optional<std::string>(std::string(v->as_string()));
}

Status require(bool present, std::string_view field, std::string_view type) {
  if (present) return Status();
  return Status(ErrorCode::VALIDATION_MISSING_FIELD,
                "field '" + std::string(field) + "' is required for " + std::string(type));
}

Result<Amount> parse_amount(const std::string& text, std::string_view field) {
  auto a = Amount::parse(text);
  if (!a.ok()) {
    return Status(ErrorCode::VALIDATION_INVALID_AMOUNT,
                  "field '" + std::string(field) + "': " + a.status().message());
  }
  return *a;
}

Result<engine::Request> wallet_request(const json::object& body) {
  WARDEN_RETURN_IF_ERROR(check_keys(body, {"type", "to", "amount", "token", "contract", "method",
                                           "spender", "network", "chain", "idempotency_key"}));
  WARDEN_ASSIGN_OR_RETURN(auto type, optional_string(body, "type"));
  if (!type || *type == "DECISION" || !is_one_of(kTransactionTypes, *type)) {
    return Status(ErrorCode::VALIDATION_INVALID_VALUE,
                  "type must be TRANSFER, TOKEN_TRANSFER, CONTRACT_CALL, APPROVE or BATCH");
  }
  const std::string& t = *type;
  engine::Request req;
  req.action = t;
  std::optional<std::string> first_address;
  for (const char* key : {"to", "token", "contract", "method", "spender"}) {
    WARDEN_ASSIGN_OR_RETURN(auto v, optional_string(body, key));
    if (!v) continue;
    req.attributes[key] = *v;
    if (!first_address && std::string_view(key) != "method") first_address = *v;
  }
  WARDEN_ASSIGN_OR_RETURN(auto amount_text, optional_string(body, "amount"));
  auto has = [&](const char* key) { return req.attributes.contains(key); };
  if (t == "TRANSFER" || t == "TOKEN_TRANSFER") WARDEN_RETURN_IF_ERROR(require(has("to"), "to", t));
  if (t == "TRANSFER" || t == "TOKEN_TRANSFER" || t == "APPROVE") {
    WARDEN_RETURN_IF_ERROR(require(amount_text.has_value(), "amount", t));
  }
  if (t == "TOKEN_TRANSFER") WARDEN_RETURN_IF_ERROR(require(has("token"), "token", t));
  if (t == "CONTRACT_CALL") WARDEN_RETURN_IF_ERROR(require(has("contract"), "contract", t));
  if (t == "APPROVE") WARDEN_RETURN_IF_ERROR(require(has("spender"), "spender", t));

  WARDEN_ASSIGN_OR_RETURN(auto network, optional_string(body, "network"));
  const std::string net = network.value_or("mainnet");
  if (!is_one_of(kNetworkTypes, net)) {
    return Status(ErrorCode::VALIDATION_INVALID_VALUE, "unknown network '" + net + "'");
  }
  req.attributes["network"] = net;
  WARDEN_ASSIGN_OR_RETURN(auto chain, optional_string(body, "chain"));
  if (!chain) chain = first_address && first_address->starts_with("0x") ? "ethereum" : "solana";
  if (!is_one_of(kChainTypes, *chain)) {
    return Status(ErrorCode::VALIDATION_INVALID_VALUE, "unknown chain '" + *chain + "'");
  }
  req.attributes["chain"] = *chain;

  if (amount_text) {
    WARDEN_ASSIGN_OR_RETURN(Amount amount, parse_amount(*amount_text, "amount"));
    req.attributes["amount"] = amount.to_string();
    if (t != "APPROVE") {  // an allowance, not a spend
      const std::string asset =
          t == "TOKEN_TRANSFER"
              ? engine::normalize_address(std::string(req.attributes["token"].as_string()))
              : "native";
      req.amounts[asset] = amount;
    }
  }
  return req;
}

Result<engine::Request> generic_request(const json::object& body) {
  WARDEN_RETURN_IF_ERROR(check_keys(body, {"action", "attributes", "amounts", "idempotency_key"}));
  engine::Request req;
  WARDEN_ASSIGN_OR_RETURN(auto action, optional_string(body, "action"));
  if (!action || action->empty()) {
    return Status(ErrorCode::VALIDATION_MISSING_FIELD, "field 'action' is required");
  }
  req.action = *action;
  if (const json::value* attrs = body.if_contains("attributes"); attrs && !attrs->is_null()) {
    if (!attrs->is_object()) {
      return Status(ErrorCode::VALIDATION_WRONG_TYPE, "field 'attributes' must be an object");
    }
    req.attributes = attrs->as_object();
  }
  if (const json::value* amounts = body.if_contains("amounts"); amounts && !amounts->is_null()) {
    if (!amounts->is_object()) {
      return Status(ErrorCode::VALIDATION_WRONG_TYPE, "field 'amounts' must be an object");
    }
    for (const auto& kv : amounts->as_object()) {
      const std::string field = "amounts." + std::string(kv.key());
      if (!kv.value().is_string()) {
        return Status(ErrorCode::VALIDATION_WRONG_TYPE, field + ": amounts are decimal strings");
      }
      WARDEN_ASSIGN_OR_RETURN(Amount a, parse_amount(std::string(kv.value().as_string()), field));
      req.amounts[std::string(kv.key())] = a;
    }
  }
  return req;
}

Result<std::vector<engine::PolicyInput>> load_policy_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return Status(ErrorCode::VALIDATION_INVALID_VALUE, "'" + dir + "' is not a directory");
  }
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_regular_file() && entry.path().extension() == ".json") {
      files.push_back(entry.path());
    }
  }
  if (ec) return Status(ErrorCode::VALIDATION_INVALID_VALUE, "cannot list '" + dir + "'");
  std::sort(files.begin(), files.end());
  std::vector<engine::PolicyInput> out;
  for (const auto& path : files) {
    auto spec = policy::load_policy_file(path.string());
    if (!spec.ok()) {
      const std::string msg = spec.status().message();
      // Parse errors name the field only; name the file as well.
      return Status(spec.status().code(), msg.find(path.string()) == std::string::npos
                                              ? path.string() + ": " + msg
                                              : msg);
    }
    const policy::Validation v = policy::validate(*spec, engine::custom_validate_options());
    if (v.has_blocker()) {
      std::string msg = path.string() + ": invalid policy:";
      for (const auto& issue : v.issues) {
        if (issue.severity != policy::Severity::kBlocker) continue;
        msg += " " + issue.pointer + " " + issue.code + " (" + issue.message + ");";
      }
      msg.pop_back();
      return Status(ErrorCode::VALIDATION_FAILED, msg);
    }
    out.push_back({.id = path.stem().string(),
                   .agent_id = spec->agent_id,
                   .type = spec->type,
                   .rules = v.normalized_rules,
                   .priority = spec->priority,
                   .enabled = spec->enabled});
  }
  return out;
}

}  // namespace

Result<std::int64_t> parse_time_ms(std::string_view text) {
  using namespace std::chrono;
  for (const char* format : {"%FT%TZ", "%FT%T%Ez"}) {
    std::istringstream in{std::string(text)};
    date::sys_time<milliseconds> tp;
    in >> date::parse(format, tp);
    if (!in.fail() && in.peek() == std::char_traits<char>::eof()) {
      return tp.time_since_epoch().count();
    }
  }
  return Status(ErrorCode::VALIDATION_INVALID_VALUE,
                "'" + std::string(text) + "' is not an RFC 3339 time like 2026-01-01T09:00:00Z");
}

Result<engine::Request> request_from_json(const json::value& body, std::string agent_id,
                                          std::int64_t now_ms) {
  if (!body.is_object()) {
    return Status(ErrorCode::VALIDATION_WRONG_TYPE, "a request must be a JSON object");
  }
  const json::object& o = body.as_object();
  Result<engine::Request> req =
      o.contains("action") ? generic_request(o)
      : o.contains("type")
          ? wallet_request(o)
          : Result<engine::Request>(ErrorCode::VALIDATION_MISSING_FIELD,
                                    "a request needs 'type' (wallet) or 'action' (generic)");
  if (!req.ok()) return req;
  req->agent_id = std::move(agent_id);
  req->now_ms = now_ms;
  return req;
}

Result<EvalOutput> eval_offline(const std::string& policies_dir, const json::value& request,
                                bool explain) {
  if (!request.is_object()) {
    return Status(ErrorCode::VALIDATION_WRONG_TYPE, "a request must be a JSON object");
  }
  json::object body = request.as_object();
  std::string agent_id;
  std::int64_t now_ms = SystemClock().now_ms();
  if (const json::value* a = body.if_contains("agent_id")) {
    if (!a->is_string()) {
      return Status(ErrorCode::VALIDATION_WRONG_TYPE, "field 'agent_id' must be a string");
    }
    agent_id = std::string(a->as_string());
    body.erase("agent_id");
  }
  if (const json::value* n = body.if_contains("now")) {
    if (!n->is_string()) {
      return Status(ErrorCode::VALIDATION_WRONG_TYPE, "field 'now' must be an RFC 3339 string");
    }
    WARDEN_ASSIGN_OR_RETURN(now_ms, parse_time_ms(n->as_string()));
    body.erase("now");
  }
  WARDEN_ASSIGN_OR_RETURN(std::vector<engine::PolicyInput> policies, load_policy_dir(policies_dir));
  engine::Engine engine;
  if (Status s = engine.load_policies(policies); !s.ok()) {
    return Status(ErrorCode::VALIDATION_FAILED, policies_dir + ": " + s.message());
  }
  WARDEN_ASSIGN_OR_RETURN(engine::Request req, request_from_json(body, agent_id, now_ms));
  const engine::Decision d = engine.decide(req, "offline", /*reserve=*/false, explain);
  EvalOutput out;
  out.decision = engine::decision_json(d, explain);
  if (d.outcome == engine::Outcome::kDelay) out.decision["delay_seconds"] = d.delay_seconds;
  if (d.outcome == engine::Outcome::kApproval) {
    out.decision["approval_timeout_seconds"] = d.approval_timeout_seconds;
  }
  for (const auto& p : policies) out.policy_ids.push_back(p.id);
  return out;
}

}  // namespace warden::policytest
