// Offline requests (engine/request_mapping.h, the daemon's own mapping, for an agent the caller
// describes), and `warden eval`: one decision against a directory of policy files, no daemon.
#include <date/date.h>

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <filesystem>
#include <map>
#include <sstream>

#include "cli/policytest/policytest.h"
#include "core/amount.h"
#include "core/clock.h"
#include "core/enums.h"
#include "engine/ir.h"
#include "engine/request_mapping.h"
#include "policy/policy.h"

namespace warden::policytest {
namespace json = boost::json;

namespace {

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

engine::AgentContext default_agent() { return {"solana", "devnet"}; }

Result<engine::Request> request_from_json(const json::value& body, std::string agent_id,
                                          std::int64_t now_ms, const engine::AgentContext& agent) {
  if (!body.is_object()) {
    return Status(ErrorCode::VALIDATION_WRONG_TYPE, "a request must be a JSON object");
  }
  const json::object& o = body.as_object();
  Result<engine::MappedRequest> mapped =
      o.contains("action") ? engine::map_generic_request(o, agent)
      : o.contains("type")
          ? engine::map_wallet_request(o, agent)
          : Result<engine::MappedRequest>(ErrorCode::VALIDATION_MISSING_FIELD,
                                          "a request needs 'type' (wallet) or 'action' (generic)");
  if (!mapped.ok()) return mapped.take_status();
  engine::Request req = std::move(mapped->request);
  req.agent_id = std::move(agent_id);
  req.now_ms = now_ms;
  return req;
}

Result<engine::AgentContext> agent_context(std::string_view chain, std::string_view network) {
  if (!is_one_of(kChainTypes, chain)) {
    return Status(ErrorCode::VALIDATION_INVALID_VALUE,
                  "unknown chain '" + std::string(chain) + "' (solana or ethereum)");
  }
  if (!is_one_of(kNetworkTypes, network)) {
    return Status(ErrorCode::VALIDATION_INVALID_VALUE,
                  "unknown network '" + std::string(network) + "' (mainnet, devnet or testnet)");
  }
  return engine::AgentContext{std::string(chain), std::string(network)};
}

Result<EvalOutput> eval_offline(const std::string& policies_dir, const json::value& request,
                                bool explain) {
  if (!request.is_object()) {
    return Status(ErrorCode::VALIDATION_WRONG_TYPE, "a request must be a JSON object");
  }
  json::object body = request.as_object();
  std::int64_t now_ms = SystemClock().now_ms();
  // The offline-only keys: which agent (its id, chain and network) and when.
  std::map<std::string, std::string> agent_keys;
  for (const char* key : {"agent_id", "agent_chain", "agent_network"}) {
    const json::value* a = body.if_contains(key);
    if (a == nullptr) continue;
    if (!a->is_string()) {
      return Status(ErrorCode::VALIDATION_WRONG_TYPE,
                    "field '" + std::string(key) + "' must be a string");
    }
    agent_keys[key] = std::string(a->as_string());
    body.erase(key);
  }
  const engine::AgentContext defaults = default_agent();
  WARDEN_ASSIGN_OR_RETURN(
      engine::AgentContext agent,
      agent_context(
          agent_keys.contains("agent_chain") ? agent_keys["agent_chain"] : defaults.chain,
          agent_keys.contains("agent_network") ? agent_keys["agent_network"] : defaults.network));
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
  WARDEN_ASSIGN_OR_RETURN(engine::Request req,
                          request_from_json(body, agent_keys["agent_id"], now_ms, agent));
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
