// Compilation of normalized policy rules to IR steps, and the IR's JSON form.
#include "engine/ir.h"

#include <date/tz.h>

#include <algorithm>
#include <boost/json/array.hpp>

#include "policy/policy.h"

namespace warden::engine {
namespace json = boost::json;

std::string_view outcome_name(Outcome o) {
  switch (o) {
    case Outcome::kInstant: return "INSTANT";
    case Outcome::kNotify: return "NOTIFY";
    case Outcome::kDelay: return "DELAY";
    case Outcome::kApproval: return "APPROVAL";
    case Outcome::kDeny: return "DENY";
  }
  return "DENY";
}

std::string normalize_address(std::string_view v) {
  std::string out(v);
  if (out.size() > 2 && out[0] == '0' && (out[1] == 'x' || out[1] == 'X')) {
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::string_view usage_base(std::string_view key) {
  return key.substr(0, key.find(kModelSeparator));
}

std::string_view model_suffix(std::string_view key) {
  const auto at = key.find(kModelSeparator);
  return at == std::string_view::npos ? std::string_view() : key.substr(at);
}

std::string asset_of_usage(std::string_view usage) {
  const std::string_view base = usage_base(usage);
  const auto slash = base.find('/');
  return slash == std::string_view::npos ? std::string() : std::string(base.substr(slash + 1));
}

namespace {

Status bad_rules(const PolicyInput& in, std::string what) {
  return Status(ErrorCode::POLICY_VALIDATION_FAILED,
                "policy " + in.id + " (" + in.type + "): " + std::move(what));
}

std::vector<std::string> strings(const json::object& rules, std::string_view key) {
  std::vector<std::string> out;
  if (const auto* arr = rules.if_contains(key); arr && arr->is_array()) {
    for (const auto& v : arr->as_array()) {
      if (v.is_string()) out.emplace_back(v.as_string());
    }
  }
  return out;
}

std::optional<Amount> amount_field(const json::object& rules, std::string_view key) {
  const auto* v = rules.if_contains(key);
  if (!v || !v->is_string()) return std::nullopt;
  auto a = Amount::parse(v->as_string());
  return a.ok() ? std::optional<Amount>(*a) : std::nullopt;
}

std::int64_t int_field(const json::object& rules, std::string_view key, std::int64_t fallback) {
  const auto* v = rules.if_contains(key);
  return v && v->is_int64() ? v->as_int64() : fallback;
}

std::string string_field(const json::object& rules, std::string_view key, std::string fallback) {
  const auto* v = rules.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : fallback;
}

SetMatch set_match(std::string attribute, std::vector<std::string> actions,
                   const std::vector<std::string>& values, std::string code) {
  SetMatch m;
  m.attribute = std::move(attribute);
  m.actions = std::move(actions);
  for (const auto& v : values) m.allowed.insert(normalize_address(v));
  m.code = std::move(code);
  return m;
}

Result<WindowLimit> window_limit(const PolicyInput& in, MeterKind kind, const std::string& asset,
                                 std::string_view window_text, Amount max, std::string code) {
  auto w = policy::parse_window(window_text);
  if (!w.ok()) return bad_rules(in, "bad window '" + std::string(window_text) + "'");
  WindowLimit l;
  l.kind = kind;
  l.asset = asset;
  l.calendar = w->calendar;
  l.window_ms = w->seconds * 1000;
  l.calendar_unit = static_cast<int>(w->unit);
  l.window_text = policy::window_text(*w);
  l.usage = in.id + "/" + (kind == MeterKind::kRequests ? std::string("requests") : asset);
  l.meter = l.usage + "/" + l.window_text;
  l.max = std::move(max);
  l.code = std::move(code);
  return l;
}

Status compile_spending_limit(const PolicyInput& in, CompiledPolicy* out) {
  TierThresholds t;
  // Request amounts are keyed by the canonical asset (engine/request_mapping.h); so is this. The
  // policy module saved it canonical; a row that is not is refused rather than never matching.
  const std::string text = string_field(in.rules, "asset", std::string(policy::kNativeAsset));
  auto canonical = policy::canonical_asset(text);
  if (!canonical) return bad_rules(in, "asset '" + text + "' is not \"native\" or an address");
  t.asset = std::move(*canonical);
  t.instant_max = amount_field(in.rules, "instant_max");
  t.notify_max = amount_field(in.rules, "notify_max");
  t.delay_max = amount_field(in.rules, "delay_max");
  t.delay_seconds = int_field(in.rules, "delay_seconds", 300);
  t.approval_timeout_seconds =
      int_field(in.rules, "approval_timeout_seconds", kApprovalTimeoutDefaultSeconds);
  const std::string asset = t.asset;
  out->steps.emplace_back(std::move(t));
  if (const auto* ws = in.rules.if_contains("windows"); ws && ws->is_array()) {
    for (const auto& w : ws->as_array()) {
      if (!w.is_object()) return bad_rules(in, "window is not an object");
      const auto& wo = w.as_object();
      auto max = amount_field(wo, "max");
      if (!max) return bad_rules(in, "window max is not an amount");
      WARDEN_ASSIGN_OR_RETURN(
          WindowLimit l, window_limit(in, MeterKind::kAmount, asset,
                                      string_field(wo, "duration", ""), *max,
                                      "LIMIT_WINDOW_EXCEEDED"));
      out->steps.emplace_back(std::move(l));
    }
  }
  return Status();
}

Status compile_time_restriction(const PolicyInput& in, CompiledPolicy* out) {
  TimeMatch t;
  t.zone_name = string_field(in.rules, "time_zone", "UTC");
  try {
    t.zone = date::locate_zone(t.zone_name);
  } catch (const std::exception&) {
    return bad_rules(in, "unknown time zone '" + t.zone_name + "'");
  }
  static constexpr std::string_view kDays[7] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
  if (const auto* ranges = in.rules.if_contains("allowed"); ranges && ranges->is_array()) {
    for (const auto& r : ranges->as_array()) {
      if (!r.is_object()) continue;
      const auto& ro = r.as_object();
      const std::int64_t start = int_field(ro, "start_hour", 0);
      const std::int64_t end = int_field(ro, "end_hour", 24);
      std::uint32_t mask = 0;
      for (std::int64_t h = std::max<std::int64_t>(0, start); h < std::min<std::int64_t>(24, end); ++h) {
        mask |= 1u << h;
      }
      for (const auto& day : strings(ro, "days")) {
        for (int d = 0; d < 7; ++d) {
          if (kDays[d] == day) t.allowed_hours[d] |= mask;
        }
      }
    }
  }
  t.outside = string_field(in.rules, "effect", "DENY") == "APPROVAL" ? Outcome::kApproval
                                                                        : Outcome::kDeny;
  out->steps.emplace_back(std::move(t));
  return Status();
}

Status compile_methods(const PolicyInput& in, CompiledPolicy* out) {
  MethodMatch m;
  if (const auto* methods = in.rules.if_contains("methods"); methods && methods->is_array()) {
    for (const auto& entry : methods->as_array()) {
      if (!entry.is_object()) continue;
      const std::string contract = normalize_address(string_field(entry.as_object(), "contract", ""));
      for (const auto& sel : strings(entry.as_object(), "selectors")) {
        m.allowed.insert(contract + ":" + normalize_address(sel));
      }
    }
  }
  out->steps.emplace_back(std::move(m));
  return Status();
}

Status compile_rate_limit(const PolicyInput& in, CompiledPolicy* out) {
  const std::int64_t max = int_field(in.rules, "max_requests", 0);
  if (max <= 0) return bad_rules(in, "max_requests must be positive");
  WARDEN_ASSIGN_OR_RETURN(
      WindowLimit l,
      window_limit(in, MeterKind::kRequests, "", string_field(in.rules, "window", ""),
                   Amount(static_cast<std::uint64_t>(max)), "RATE_LIMIT_EXCEEDED"));
  out->steps.emplace_back(std::move(l));
  return Status();
}

// TOKEN_LIMIT: the llm_tokens the gateway puts on each request, summed over the window per
// agent (scope "agent") or per agent and model (scope "model").
Status compile_token_limit(const PolicyInput& in, CompiledPolicy* out) {
  const std::int64_t max = int_field(in.rules, "max_tokens", 0);
  if (max <= 0) return bad_rules(in, "max_tokens must be positive");
  WARDEN_ASSIGN_OR_RETURN(
      WindowLimit l, window_limit(in, MeterKind::kAmount, std::string(kLlmTokensAsset),
                                  string_field(in.rules, "window", ""),
                                  Amount(static_cast<std::uint64_t>(max)), "TOKEN_LIMIT_EXCEEDED"));
  l.per_model = string_field(in.rules, "scope", "agent") == "model";
  out->steps.emplace_back(std::move(l));
  return Status();
}

Outcome outcome_from(std::string_view name) {
  if (name == "NOTIFY") return Outcome::kNotify;
  if (name == "DELAY") return Outcome::kDelay;
  if (name == "APPROVAL") return Outcome::kApproval;
  return Outcome::kDeny;
}

Result<CustomMatch> custom_match(const PolicyInput& in, const std::string& field,
                                 std::string code) {
  const std::string source = string_field(in.rules, field, "");
  const bool post = field == "post";
  auto program =
      expr::compile(source, post ? custom_post_expression_env() : custom_expression_env());
  if (!program.ok()) return bad_rules(in, field + ": " + program.status().message());
  CustomMatch m;
  m.source = source;
  m.program = std::make_shared<const expr::Program>(std::move(program).value());
  m.effect = outcome_from(string_field(in.rules, "effect", "DENY"));
  m.message = string_field(in.rules, "message", "custom policy condition matched");
  m.code = std::move(code);
  if (const std::string text = string_field(in.rules, "cooldown", ""); post && !text.empty()) {
    auto w = policy::parse_window(text);
    if (!w.ok() || w->calendar) return bad_rules(in, "bad cooldown '" + text + "'");
    m.cooldown_ms = w->seconds * 1000;
    m.cooldown_text = policy::window_text(*w);
  }
  return m;
}

// `pre` is a decision step; `post` is kept aside for settlement.
Status compile_custom(const PolicyInput& in, CompiledPolicy* out) {
  if (!string_field(in.rules, "pre", "").empty()) {
    WARDEN_ASSIGN_OR_RETURN(CustomMatch pre, custom_match(in, "pre", "CUSTOM_CONDITION"));
    out->steps.emplace_back(std::move(pre));
  }
  if (!string_field(in.rules, "post", "").empty()) {
    WARDEN_ASSIGN_OR_RETURN(CustomMatch post, custom_match(in, "post", "CUSTOM_POST_CONDITION"));
    out->post.push_back(std::move(post));
  }
  return Status();
}

Status compile_steps(const PolicyInput& in, CompiledPolicy* out) {
  const std::string& t = in.type;
  if (t == "SPENDING_LIMIT") return compile_spending_limit(in, out);
  if (t == "CUSTOM") return compile_custom(in, out);
  if (t == "WHITELIST") {
    out->steps.emplace_back(set_match("to", {"TRANSFER", "TOKEN_TRANSFER"},
                                      strings(in.rules, "allowed_addresses"),
                                      "ADDRESS_NOT_WHITELISTED"));
  } else if (t == "ALLOWED_TOKENS") {
    out->steps.emplace_back(set_match("token", {"TOKEN_TRANSFER", "APPROVE"},
                                      strings(in.rules, "tokens"), "TOKEN_NOT_ALLOWED"));
  } else if (t == "CONTRACT_WHITELIST") {
    out->steps.emplace_back(set_match("contract", {"CONTRACT_CALL"},
                                      strings(in.rules, "contracts"), "CONTRACT_NOT_WHITELISTED"));
  } else if (t == "APPROVED_SPENDERS") {
    out->steps.emplace_back(set_match("spender", {"APPROVE"}, strings(in.rules, "spenders"),
                                      "SPENDER_NOT_APPROVED"));
  } else if (t == "ALLOWED_NETWORKS") {
    out->steps.emplace_back(
        set_match("network", {}, strings(in.rules, "networks"), "NETWORK_NOT_ALLOWED"));
  } else if (t == "MODEL_ALLOWLIST") {
    SetMatch m = set_match("model", {}, strings(in.rules, "models"), "MODEL_NOT_ALLOWED");
    m.prefix_globs = true;
    m.evm_case_insensitive = false;
    m.required = false;  // only requests that name a model are checked
    out->steps.emplace_back(std::move(m));
  } else if (t == "METHOD_WHITELIST") {
    return compile_methods(in, out);
  } else if (t == "APPROVE_AMOUNT_LIMIT") {
    ApproveAmountMatch m;
    m.max_amount = amount_field(in.rules, "max_amount");
    const auto* b = in.rules.if_contains("block_unlimited");
    m.block_unlimited = !(b && b->is_bool()) || b->as_bool();
    out->steps.emplace_back(std::move(m));
  } else if (t == "TIME_RESTRICTION") {
    return compile_time_restriction(in, out);
  } else if (t == "RATE_LIMIT") {
    return compile_rate_limit(in, out);
  } else if (t == "TOKEN_LIMIT") {
    return compile_token_limit(in, out);
  } else if (t == "REQUEST_SIZE") {
    const std::int64_t max = int_field(in.rules, "max_bytes", 0);
    if (max <= 0) return bad_rules(in, "max_bytes must be positive");
    out->steps.emplace_back(SizeMatch{max});
  } else if (t == "BUDGET") {
    BudgetLimit b;
    if (const auto* a = in.rules.if_contains("asset"); a && a->is_string()) {
      b.asset = std::string(a->as_string());
    }
    const auto* neg = in.rules.if_contains("allow_negative");
    b.partial = neg && neg->is_bool() && neg->as_bool();
    out->steps.emplace_back(std::move(b));
  }
  return Status();
}

json::value amount_json(const std::optional<Amount>& a) {
  return a ? json::value(a->to_string()) : json::value(nullptr);
}

json::array sorted(const std::unordered_set<std::string>& s) {
  std::vector<std::string> v(s.begin(), s.end());
  std::sort(v.begin(), v.end());
  json::array out;
  for (auto& e : v) out.emplace_back(e);
  return out;
}

struct StepToJson {
  json::object operator()(const SizeMatch& m) const {
    return {{"step", "match"}, {"kind", "size"}, {"attribute", "request_size_bytes"},
            {"max_bytes", m.max_bytes}, {"code", "REQUEST_TOO_LARGE"}};
  }
  json::object operator()(const BudgetLimit& b) const {
    return {{"step", "budget"}, {"asset", b.asset}, {"allow_negative", b.partial}};
  }
  json::object operator()(const Refuse& r) const {
    return {{"step", "match"}, {"kind", "refuse"}, {"reason", r.why}};
  }
  json::object operator()(const SetMatch& m) const {
    json::array actions;
    for (const auto& a : m.actions) actions.emplace_back(a);
    return {{"step", "match"},
            {"kind", "set"},
            {"attribute", m.attribute},
            {"actions", std::move(actions)},
            {"allowed", sorted(m.allowed)},
            {"prefix_globs", m.prefix_globs},
            {"required", m.required},
            {"code", m.code}};
  }
  json::object operator()(const MethodMatch& m) const {
    return {{"step", "match"}, {"kind", "method"}, {"allowed", sorted(m.allowed)},
            {"code", "METHOD_NOT_WHITELISTED"}};
  }
  json::object operator()(const ApproveAmountMatch& m) const {
    return {{"step", "match"}, {"kind", "approve_amount"}, {"max_amount", amount_json(m.max_amount)},
            {"block_unlimited", m.block_unlimited}};
  }
  json::object operator()(const TimeMatch& m) const {
    json::array hours;
    for (auto h : m.allowed_hours) hours.emplace_back(h);
    return {{"step", "match"}, {"kind", "time"}, {"time_zone", m.zone_name},
            {"allowed_hours_by_weekday", std::move(hours)}, {"outside", outcome_name(m.outside)}};
  }
  json::object operator()(const TierThresholds& t) const {
    return {{"step", "limit"}, {"kind", "tiers"}, {"asset", t.asset},
            {"instant_max", amount_json(t.instant_max)}, {"notify_max", amount_json(t.notify_max)},
            {"delay_max", amount_json(t.delay_max)}, {"delay_seconds", t.delay_seconds},
            {"approval_timeout_seconds", t.approval_timeout_seconds}};
  }
  json::object operator()(const CustomMatch& m) const {
    json::object o{{"step", "match"},
                   {"kind", "cel"},
                   {"expression", m.source},
                   {"effect", outcome_name(m.effect)},
                   {"message", m.message}};
    if (m.cooldown_ms > 0) o["cooldown"] = m.cooldown_text;
    return o;
  }
  json::object operator()(const WindowLimit& l) const {
    json::object o{{"step", "limit"},
                   {"kind", "window"},
                   {"meter", l.meter},
                   {"unit", l.kind == MeterKind::kRequests ? "requests" : "amount"},
                   {"window", l.window_text},
                   {"calendar", l.calendar},
                   {"max", l.max.to_string()},
                   {"code", l.code}};
    if (l.kind == MeterKind::kAmount) o["asset"] = l.asset;
    if (l.per_model) o["per"] = "model";
    return o;
  }
};

}  // namespace

namespace {
expr::Env make_custom_env(bool post) {
  using expr::Type;
  using expr::TypeKind;
  expr::Env e;
  e.declare("amount", Type(TypeKind::kInt));
  e.declare("now", Type(TypeKind::kTimestamp));
  for (const char* name : {"action", "agent_id", "to", "token", "contract", "method", "spender",
                           "network", "chain", "model", "app_id", "org_id"}) {
    e.declare(name, Type(TypeKind::kString));
  }
  for (const char* name : {"request_size_bytes", "estimated_tokens"}) {
    e.declare(name, Type(TypeKind::kInt));
  }
  if (post) {
    for (std::string_view name : kPostVariables) e.declare(std::string(name), Type(TypeKind::kInt));
  }
  e.declare("attributes", Type::map(Type(TypeKind::kString), Type(TypeKind::kDyn)));
  e.declare("amounts", Type::map(Type(TypeKind::kString), Type(TypeKind::kString)));
  return e;
}
}  // namespace

const expr::Env& custom_expression_env() {
  static const expr::Env env = make_custom_env(false);
  return env;
}

const expr::Env& custom_post_expression_env() {
  static const expr::Env env = make_custom_env(true);
  return env;
}

policy::ValidateOptions custom_validate_options() {
  policy::ValidateOptions options;
  options.check_expression = [](std::string_view pointer, std::string_view source) {
    std::vector<policy::Issue> issues;
    // A `post` runs at settlement and may read what the response reported; a `pre` may not.
    const bool post = pointer.ends_with("/post");
    auto program =
        expr::compile(source, post ? custom_post_expression_env() : custom_expression_env());
    if (!program.ok()) {
      issues.push_back({policy::Severity::kBlocker, std::string(pointer), "EXPRESSION_INVALID",
                        program.status().message()});
      return issues;
    }
    const auto kind = program->result_type().kind();
    if (kind != expr::TypeKind::kBool && kind != expr::TypeKind::kDyn) {
      issues.push_back({policy::Severity::kBlocker, std::string(pointer), "EXPRESSION_NOT_BOOL",
                        "expression must evaluate to bool"});
    }
    return issues;
  };
  return options;
}

Result<CompiledPolicy> compile(const PolicyInput& in) {
  CompiledPolicy out;
  out.id = in.id;
  out.agent_id = in.agent_id;
  out.type = in.type;
  out.priority = in.priority;
  WARDEN_RETURN_IF_ERROR(compile_steps(in, &out));
  return out;
}

json::object ir_to_json(const CompiledPolicy& p) {
  json::array steps;
  for (const auto& s : p.steps) steps.emplace_back(std::visit(StepToJson{}, s));
  json::object out{{"policy_id", p.id}, {"type", p.type}, {"priority", p.priority},
                   {"steps", std::move(steps)}};
  if (!p.post.empty()) {
    json::array post;
    for (const auto& m : p.post) post.emplace_back(StepToJson{}(m));
    out["post"] = std::move(post);
  }
  return out;
}

}  // namespace warden::engine
