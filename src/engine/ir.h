// The policy IR (docs/architecture.md, "Policies and the IR"): every policy type compiles to
// `match` steps (predicates on attributes) and `limit` steps (a meter summed over a window, or
// per-request tier thresholds). Compilation is deterministic; ir_to_json() is what golden tests
// compare.
#pragma once

#include <array>
#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_set>
#include <variant>
#include <vector>

#include "core/amount.h"
#include "core/status.h"
#include "expr/expr.h"
#include "policy/policy.h"

namespace date {
class time_zone;
}

namespace warden::engine {

// The pseudo-asset under which the LLM gateway puts a request's token estimate (prompt plus the
// most output) in Request::amounts. Never a canonical asset: a user's request cannot name it.
inline constexpr std::string_view kLlmTokensAsset = "llm_tokens";

// Strictness order: a later value wins when several policies speak.
enum class Outcome : std::uint8_t { kInstant, kNotify, kDelay, kApproval, kDeny };
std::string_view outcome_name(Outcome o);  // INSTANT | NOTIFY | DELAY | APPROVAL | DENY

// A policy as the engine receives it (the server converts stored rows).
struct PolicyInput {
  std::string id;
  std::optional<std::string> agent_id;  // null: global
  std::string type;
  boost::json::object rules;  // normalized by the policy module
  std::int64_t priority = 0;
  bool enabled = true;
};

// Set membership on one attribute ("to", "token", "contract", "spender", "network", "model").
struct SetMatch {
  std::string attribute;
  std::vector<std::string> actions;  // the actions it applies to; empty: every action
  std::unordered_set<std::string> allowed;
  bool evm_case_insensitive = true;  // 0x addresses compare lower-cased
  bool prefix_globs = false;         // entries ending in '*' match by prefix (model names)
  // false: a request without the attribute is not checked (a model allow-list says nothing
  // about a wallet transfer); true: it is denied with ATTRIBUTE_MISSING.
  bool required = true;
  std::string code;  // reason code when the value is not allowed
};

// CONTRACT_CALL methods: "<contract>:<selector>" pairs.
struct MethodMatch {
  std::unordered_set<std::string> allowed;  // lower-cased "0xcontract:0xselector"
};

// APPROVE amounts.
struct ApproveAmountMatch {
  std::optional<Amount> max_amount;
  bool block_unlimited = true;
};

// Allowed local hours per weekday in one IANA zone.
struct TimeMatch {
  std::string zone_name;
  const date::time_zone* zone = nullptr;
  // allowed_hours[weekday 0=Sunday] bit h set: hour h is allowed.
  std::uint32_t allowed_hours[7] = {};
  Outcome outside = Outcome::kDeny;
};

// How long an approval waits when no SPENDING_LIMIT tier set it (docs/policies.md): an APPROVAL
// from a CUSTOM policy or a TIME_RESTRICTION, or a tier without approval_timeout_seconds.
inline constexpr std::int64_t kApprovalTimeoutDefaultSeconds = 3600;

// SPENDING_LIMIT per-request tiers on one asset's amount.
struct TierThresholds {
  std::string asset;
  std::optional<Amount> instant_max, notify_max, delay_max;
  std::int64_t delay_seconds = 0;
  std::int64_t approval_timeout_seconds = 0;
};

enum class MeterKind : std::uint8_t { kAmount, kRequests };

// A cumulative limit: the meter's confirmed + reserved total inside the window must stay at or
// below max after this request.
struct WindowLimit {
  // What is counted, "<policy_id>/<asset or requests>": usage is recorded under this key, so a
  // changed window counts the same usage.
  std::string usage;
  std::string meter;  // usage + "/<window text>": the in-memory counter of this one window
  MeterKind kind = MeterKind::kAmount;
  std::string asset;  // for kAmount
  bool calendar = false;
  std::int64_t window_ms = 0;  // rolling length; calendar: nominal length
  int calendar_unit = 0;       // policy::WindowUnit value when calendar
  std::string window_text;
  Amount max;
  std::string code;  // LIMIT_WINDOW_EXCEEDED, RATE_LIMIT_EXCEEDED or TOKEN_LIMIT_EXCEEDED
  // TOKEN_LIMIT scope "model": each (agent, model attribute) has its own window. A charge's
  // usage and meter keys get kModelSeparator + model appended ("<pid>/llm_tokens@gpt-4o").
  bool per_model = false;
};

// Separates a per-model usage or meter key from its model. Policy ids, assets and window texts
// never contain it, so the first one starts the model.
inline constexpr char kModelSeparator = '@';
// "<pid>/llm_tokens@gpt-4o" -> "<pid>/llm_tokens"; a key without a model is its own base.
std::string_view usage_base(std::string_view key);
// "<pid>/llm_tokens@gpt-4o" -> "@gpt-4o"; empty without a model.
std::string_view model_suffix(std::string_view key);
// The asset an amount usage key counts: "<pid>/<asset>[@model]" -> "<asset>".
std::string asset_of_usage(std::string_view usage);

// REQUEST_SIZE: a request's `request_size_bytes` attribute (an LLM request body's size) must
// stay at or below max_bytes. Requests without the attribute (wallet requests) are not checked.
struct SizeMatch {
  std::int64_t max_bytes = 0;
};

// BUDGET: the request's amount in `asset` must fit the agent's credit on the ledger; an ALLOW
// holds it (engine::Budgets) with the window reservations, all or none.
struct BudgetLimit {
  std::string asset;
  bool partial = false;  // allow_negative: hold what there is, never deny
};

// CUSTOM: a compiled CEL condition; when it evaluates to true the policy's effect applies. An
// evaluation error or a non-bool result fails closed (DENY, CUSTOM_EXPRESSION_ERROR).
struct CustomMatch {
  std::string source;
  std::shared_ptr<const expr::Program> program;
  Outcome effect = Outcome::kDeny;
  std::string message;
  std::string code = "CUSTOM_CONDITION";  // CUSTOM_POST_CONDITION for a `post`
  // A `post` with a cooldown: once it matches at an agent's settlement, the effect applies to
  // that agent's following decisions for this long. 0: the match is only recorded.
  std::int64_t cooldown_ms = 0;
  std::string cooldown_text;
};

// A stored policy that no longer compiles (rules written before a stricter check): it denies
// every request it applies to, POLICY_INVALID, until it is fixed or disabled. Failing closed
// keeps the daemon up without letting the broken policy's scope through.
struct Refuse {
  std::string why;
};

using Step = std::variant<SetMatch, MethodMatch, ApproveAmountMatch, TimeMatch, SizeMatch,
                          TierThresholds, WindowLimit, BudgetLimit, CustomMatch, Refuse>;

struct CompiledPolicy {
  std::string id;
  std::optional<std::string> agent_id;
  std::string type;
  std::int64_t priority = 0;
  std::vector<Step> steps;
  // CUSTOM `post`: evaluated at settlement with the final amounts, never at decision.
  std::vector<CustomMatch> post;
};

Result<CompiledPolicy> compile(const PolicyInput& input);

// The variables a CUSTOM expression may read: action, agent_id, amount (int), to, token,
// contract, method, spender, network, chain, model (strings), now (timestamp), attributes
// (map(string, dyn): every request attribute) and amounts (map(string, string): asset ->
// decimal amount); for LLM requests also request_size_bytes and estimated_tokens (ints, from
// the attributes of those names), app_id (the agent) and org_id (the attribute).
const expr::Env& custom_expression_env();
// A `post` expression's: the above and what a metered request reports at settlement,
// kPostVariables (ints, from the request's attributes of those names).
const expr::Env& custom_post_expression_env();
inline constexpr std::array<std::string_view, 5> kPostVariables = {
    "prompt_tokens", "completion_tokens", "total_tokens", "latency_ms", "response_size_bytes"};
// The policy module's expression hook: a CUSTOM pre/post that does not compile, or whose type is
// not bool, is a blocker (EXPRESSION_INVALID / EXPRESSION_NOT_BOOL) carrying line:column.
policy::ValidateOptions custom_validate_options();
boost::json::object ir_to_json(const CompiledPolicy& policy);
// Lower-cases 0x-prefixed hex addresses; leaves every other form (Solana base58) exact.
std::string normalize_address(std::string_view value);

}  // namespace warden::engine
