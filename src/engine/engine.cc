// Evaluation, reservation and settlement over the compiled policy index.
#include "engine/engine.h"

#include <date/tz.h>

#include <algorithm>
#include <array>
#include <boost/json/array.hpp>
#include <cassert>
#include <functional>
#include <unordered_set>

#include "expr/tz.h"

namespace warden::engine {
namespace json = boost::json;

namespace {

constexpr std::array<std::string_view, 5> kWalletActions = {"TRANSFER", "TOKEN_TRANSFER",
                                                            "CONTRACT_CALL", "APPROVE", "BATCH"};
constexpr std::size_t kOtherAction = kWalletActions.size();

// Requests arrive upper-cased (policy::canonical_action); comparing without case as well means
// no caller that skipped the mapping can re-spell a wallet action out of its policies.
bool same_action(std::string_view canonical, std::string_view action) {
  return std::equal(canonical.begin(), canonical.end(), action.begin(), action.end(),
                    [](char a, char b) { return a == (b >= 'a' && b <= 'z' ? b - 'a' + 'A' : b); });
}

std::size_t action_index(std::string_view action) {
  for (std::size_t i = 0; i < kWalletActions.size(); ++i) {
    if (same_action(kWalletActions[i], action)) return i;
  }
  return kOtherAction;
}

bool applies_to(const Step& step, std::size_t action) {
  if (const auto* m = std::get_if<SetMatch>(&step)) {
    if (m->actions.empty()) return true;
    if (action == kOtherAction) return false;
    return std::find(m->actions.begin(), m->actions.end(), kWalletActions[action]) !=
           m->actions.end();
  }
  if (std::holds_alternative<MethodMatch>(step)) return action == action_index("CONTRACT_CALL");
  if (std::holds_alternative<ApproveAmountMatch>(step)) return action == action_index("APPROVE");
  return true;
}

// The steps that read what one action of a BATCH is, run on each child. The others (tiers and
// windows on the summed amounts, time, network, model) are the batch's own; CUSTOM is both.
bool child_step(const Step& step) {
  if (const auto* m = std::get_if<SetMatch>(&step)) return !m->actions.empty();
  return std::holds_alternative<MethodMatch>(step) ||
         std::holds_alternative<ApproveAmountMatch>(step) ||
         std::holds_alternative<CustomMatch>(step);
}

struct StepRef {
  const CompiledPolicy* policy;
  const Step* step;
};

const Amount kZero;

std::string format_rfc3339_ms(std::int64_t ms) {
  using namespace std::chrono;
  return date::format("%FT%TZ", date::sys_time<milliseconds>{milliseconds{ms}});
}

const Amount& amount_of(const Request& r, const std::string& asset) {
  auto it = r.amounts.find(asset);
  return it == r.amounts.end() ? kZero : it->second;
}

std::string attribute(const Request& r, std::string_view key) {
  const auto* v = r.attributes.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

// A meter's identity in the index: its key up to and including the model separator, so every
// per-model meter of one window ("<pid>/llm_tokens/1h@gpt-4o") is "<pid>/llm_tokens/1h@".
std::string meter_id(std::string_view key) {
  const auto at = key.find(kModelSeparator);
  return std::string(at == std::string_view::npos ? key : key.substr(0, at + 1));
}

std::string meter_id(const WindowLimit& l) {
  return l.per_model ? l.meter + kModelSeparator : l.meter;
}

// The meter a charge under `usage` goes to in window l, with the usage key it counts; nothing
// when a per-model window meets a charge without a model (counted before the scope changed).
std::optional<std::pair<std::string, std::string>> meter_for(const WindowLimit& l,
                                                             std::string_view usage) {
  if (!l.per_model) return std::pair{l.meter, l.usage};
  const std::string_view suffix = model_suffix(usage);
  if (suffix.empty()) return std::nullopt;
  return std::pair{l.meter + std::string(suffix), l.usage + std::string(suffix)};
}

// An attribute that is absent or JSON null.
const json::value* present(const Request& r, std::string_view key) {
  const auto* v = r.attributes.if_contains(key);
  return v == nullptr || v->is_null() ? nullptr : v;
}

}  // namespace

// The immutable index: for each agent (and for agents without own policies), the applicable
// steps per action, in priority order (higher first, then id).
struct Engine::Snapshot {
  using StepLists = std::array<std::vector<StepRef>, kWalletActions.size() + 1>;
  std::vector<std::shared_ptr<const CompiledPolicy>> policies;  // priority desc, then id
  std::unordered_map<std::string, std::size_t> rank;             // policy id -> index above
  StepLists global;
  std::unordered_map<std::string, StepLists> by_agent;
  // Every window per usage key: a charge counts in each of them.
  std::unordered_map<std::string, std::vector<const WindowLimit*>> limits_by_usage;
  std::unordered_set<std::string> meters;  // WindowLimit::meter of every window
  std::uint64_t generation = 0;
  // Policies with a CUSTOM `post`, in priority order: global ones apply to every agent.
  std::vector<const CompiledPolicy*> with_post;
  bool global_post = false;
  std::unordered_set<std::string> agents_with_post;

  const std::vector<StepRef>& steps(const std::string& agent_id, std::size_t action) const {
    auto it = by_agent.find(agent_id);
    return it == by_agent.end() ? global[action] : it->second[action];
  }
  // The windows of a usage key, per-model keys included.
  const std::vector<const WindowLimit*>* windows_of(const std::string& usage) const {
    auto it = limits_by_usage.find(std::string(usage_base(usage)));
    return it == limits_by_usage.end() ? nullptr : &it->second;
  }
};

// One agent's meters and open reservations. A reservation's charges are kept per usage key
// and applied to every meter of that key, so a window added later can be built from them.
struct Engine::AgentState {
  std::mutex mu;
  bool retired = false;  // guarded by mu; freed by load_policies(): look the agent up again
  std::unordered_map<std::string, Meter> meters;  // by WindowLimit::meter; guarded by mu
  struct Hold {
    std::string usage;
    std::int64_t ts_ms;
    MeterKind kind;
    Amount amount;
    std::string asset;  // kAmount
  };
  std::unordered_map<std::string, std::vector<Hold>> holds;  // reservation id; guarded by mu

  // A per-model charge counts in its model's meters and in the agent-wide meters of its key
  // (a scope that changed from "model" to "agent" still counts it).
  static bool counts(const Meter& m, const std::string& usage) {
    return m.usage() == usage || m.usage() == usage_base(usage);
  }
  void add(const std::string& usage, std::int64_t ts_ms, const Amount& amount) {
    for (auto& [id, m] : meters) {
      if (counts(m, usage)) m.add(ts_ms, amount);
    }
  }
  void subtract(const std::string& usage, std::int64_t ts_ms, const Amount& amount) {
    for (auto& [id, m] : meters) {
      if (counts(m, usage)) m.subtract(ts_ms, amount);
    }
  }
  // Every window of the usage key exists as a meter (restored usage must count in each).
  void ensure_meters(const std::vector<const WindowLimit*>& windows, const std::string& usage) {
    for (const WindowLimit* l : windows) {
      if (auto m = meter_for(*l, usage)) meters.try_emplace(m->first, *l, m->second);
    }
  }
};

struct Engine::Shard {
  std::mutex mu;
  std::unordered_map<std::string, std::shared_ptr<AgentState>> agents;  // guarded by mu
};

Engine::Engine() : snapshot_(std::make_shared<const Snapshot>()), shards_(new Shard[kShards]) {}
Engine::~Engine() = default;

Status Engine::load_policies(const std::vector<PolicyInput>& inputs, const UsageHistory& history,
                             std::int64_t now_ms) {
  std::lock_guard load_lock(load_mu_);
  auto snap = std::make_shared<Snapshot>();
  for (const auto& in : inputs) {
    if (!in.enabled) continue;
    Result<CompiledPolicy> p = compile(in);
    if (!p.ok()) {
      p = CompiledPolicy{in.id, in.agent_id, in.type, in.priority, {Refuse{p.status().message()}}, {}};
    }
    snap->policies.push_back(std::make_shared<const CompiledPolicy>(std::move(p).value()));
  }
  std::sort(snap->policies.begin(), snap->policies.end(), [](const auto& a, const auto& b) {
    return a->priority != b->priority ? a->priority > b->priority : a->id < b->id;
  });
  for (std::size_t i = 0; i < snap->policies.size(); ++i) snap->rank[snap->policies[i]->id] = i;
  // Every agent with its own policies gets the merged list; others share the global one.
  for (const auto& p : snap->policies) {
    if (p->agent_id) snap->by_agent.try_emplace(*p->agent_id);
  }
  for (const auto& p : snap->policies) {
    for (const auto& step : p->steps) {
      for (std::size_t a = 0; a <= kOtherAction; ++a) {
        if (!applies_to(step, a)) continue;
        const StepRef ref{p.get(), &step};
        if (!p->agent_id) {
          snap->global[a].push_back(ref);
          for (auto& [agent, lists] : snap->by_agent) lists[a].push_back(ref);
        } else {
          snap->by_agent[*p->agent_id][a].push_back(ref);
        }
      }
    }
  }
  for (const auto& p : snap->policies) {
    for (const auto& step : p->steps) {
      const auto* l = std::get_if<WindowLimit>(&step);
      if (l == nullptr) continue;
      snap->limits_by_usage[l->usage].push_back(l);
      snap->meters.insert(meter_id(*l));
    }
    if (p->post.empty()) continue;
    snap->with_post.push_back(p.get());
    if (p->agent_id) {
      snap->agents_with_post.insert(*p->agent_id);
    } else {
      snap->global_post = true;
    }
  }
  const std::shared_ptr<const Snapshot> old = snapshot_.load();
  snap->generation = old->generation + 1;
  if (Status s = build_new_windows(*old, *snap, history, now_ms); !s.ok()) {
    free_unused(*old);  // the half-built windows go; the old index stays
    return s;
  }
  snapshot_.store(snap);
  generation_.store(snap->generation);
  free_unused(*snap);
  return Status();
}

Status Engine::build_new_windows(const Snapshot& old_snap, const Snapshot& snap,
                                 const UsageHistory& history, std::int64_t now_ms) {
  // Every window the old index did not count (a new, changed, added or re-enabled one; at
  // start-up, all of them) is built from what is recorded under its usage key (and, per model,
  // under the key's per-model forms).
  for (const auto& [usage, windows] : snap.limits_by_usage) {
    for (const WindowLimit* l : windows) {
      if (old_snap.meters.contains(meter_id(*l))) continue;
      // Open reservations first: from here on, new ones reach this meter too (it is in the
      // agent's map, and a reservation adds to every meter of its usage key).
      for (std::size_t i = 0; i < kShards; ++i) {
        std::lock_guard shard_lock(shards_[i].mu);
        for (auto& [agent, st] : shards_[i].agents) {
          std::lock_guard lock(st->mu);
          std::map<std::string, Meter> built;  // meter key -> meter
          for (const auto& [id, holds] : st->holds) {
            for (const auto& h : holds) {
              if (usage_base(h.usage) != usage) continue;
              auto m = meter_for(*l, h.usage);
              if (!m) continue;
              built.try_emplace(m->first, *l, m->second).first->second.add(h.ts_ms, h.amount);
            }
          }
          for (auto& [key, meter] : built) st->meters.insert_or_assign(key, std::move(meter));
        }
      }
      if (!history) continue;
      const std::int64_t since_ms = Meter(*l).window_start_ms(now_ms) - meter_resolution_ms(*l);
      const UsageSink sink = [&](const std::string& agent, std::int64_t ts_ms, const Amount& amount,
                                 const std::string& key) {
        auto m = meter_for(*l, key);
        if (!m) return;
        auto [st, lock] = lock_agent(agent);
        st->meters.try_emplace(m->first, *l, m->second).first->second.add(ts_ms, amount);
      };
      if (!l->per_model) WARDEN_RETURN_IF_ERROR(history(usage, since_ms, sink));
      // Token usage may also be recorded per model (under this scope or an earlier one).
      if (l->per_model || l->asset == kLlmTokensAsset) {
        WARDEN_RETURN_IF_ERROR(history(usage + kModelSeparator, since_ms, sink));
      }
    }
  }
  return Status();
}

void Engine::free_unused(const Snapshot& snap) {
  for (std::size_t i = 0; i < kShards; ++i) {
    std::lock_guard shard_lock(shards_[i].mu);
    for (auto it = shards_[i].agents.begin(); it != shards_[i].agents.end();) {
      AgentState& st = *it->second;
      std::lock_guard lock(st.mu);
      std::erase_if(st.meters,
                    [&](const auto& m) { return !snap.meters.contains(meter_id(m.first)); });
      if (st.meters.empty() && st.holds.empty()) {
        st.retired = true;
        it = shards_[i].agents.erase(it);
      } else {
        ++it;
      }
    }
  }
}

std::pair<std::shared_ptr<Engine::AgentState>, std::unique_lock<std::mutex>> Engine::lock_agent(
    const std::string& agent_id) {
  Shard& shard = shards_[std::hash<std::string>{}(agent_id) % kShards];
  for (;;) {
    std::shared_ptr<AgentState> st;
    {
      std::lock_guard lock(shard.mu);
      auto& slot = shard.agents[agent_id];
      if (!slot) slot = std::make_shared<AgentState>();
      st = slot;
    }
    std::unique_lock lock(st->mu);
    if (!st->retired) return {std::move(st), std::move(lock)};
  }
}

// Collects the outcome of every step; keeps the strictest. A BATCH child's evaluation reads the
// child and writes into the batch's decision, naming the child in its reasons and trace.
class Evaluation {
 public:
  Evaluation(const Request& r, bool explain, Decision* d)
      : r_(r), ctx_(r), explain_(explain), d_(*d) {}
  Evaluation(const Request& batch, std::size_t child, bool explain, Decision* d)
      : r_(batch.children[child]),
        ctx_(batch),
        explain_(explain),
        d_(*d),
        child_(child),
        prefix_("child " + std::to_string(child) + ": ") {}

  void raise(const CompiledPolicy& p, Outcome o, std::string code, std::string message) {
    if (o == Outcome::kInstant) return;
    d_.outcome = std::max(d_.outcome, o);
    d_.reasons.push_back({p.id, std::move(code), prefix_ + message, o, child_});
  }
  bool explaining() const { return explain_; }
  // Settlement: CUSTOM `post` also reads kPostVariables from the attributes.
  void read_post_variables() { post_variables_ = true; }
  void trace(const CompiledPolicy& p, std::string step, Outcome o, std::string detail) {
    d_.trace.push_back({p.id, prefix_ + step, o, std::move(detail)});
  }

  void run(const CompiledPolicy& p, const SetMatch& m) {
    const std::string step = "match:set(" + m.attribute + ")";
    const json::value* v = present(r_, m.attribute);
    if (v == nullptr) {
      if (!m.required) {
        if (explain_) trace(p, step, Outcome::kInstant, "absent: not checked");
        return;
      }
      raise(p, Outcome::kDeny, "ATTRIBUTE_MISSING",
            "attribute '" + m.attribute + "' is required by a " + p.type + " policy");
      if (explain_) trace(p, step, Outcome::kDeny, "missing");
      return;
    }
    if (!v->is_string()) {
      raise(p, Outcome::kDeny, "ATTRIBUTE_INVALID",
            "attribute '" + m.attribute + "' must be a string for a " + p.type + " policy");
      if (explain_) trace(p, step, Outcome::kDeny, "not a string");
      return;
    }
    std::string value(v->as_string());
    if (m.evm_case_insensitive) value = normalize_address(value);
    bool ok = m.allowed.contains(value);
    if (!ok && m.prefix_globs) {
      for (const auto& a : m.allowed) {
        if (!a.empty() && a.back() == '*' && value.compare(0, a.size() - 1, a, 0, a.size() - 1) == 0) {
          ok = true;
          break;
        }
      }
    }
    if (!ok) raise(p, Outcome::kDeny, m.code, "'" + value + "' is not allowed by " + p.type);
    if (explain_) {
      trace(p, "match:set(" + m.attribute + ")", ok ? Outcome::kInstant : Outcome::kDeny, value);
    }
  }

  void run(const CompiledPolicy& p, const MethodMatch& m) {
    const std::string contract = normalize_address(attribute(r_, "contract"));
    std::string method = normalize_address(attribute(r_, "method"));
    if (method.size() > 10) method.resize(10);  // calldata: the 4-byte selector is enough
    const bool ok = m.allowed.contains(contract + ":" + method);
    if (!ok) {
      raise(p, Outcome::kDeny, "METHOD_NOT_WHITELISTED",
            "method " + method + " on " + contract + " is not whitelisted");
    }
    if (explain_) {
      trace(p, "match:method", ok ? Outcome::kInstant : Outcome::kDeny, contract + ":" + method);
    }
  }

  void run(const CompiledPolicy& p, const ApproveAmountMatch& m) {
    // The allowance is attributes.amount (engine/request_mapping.h). Without a readable one the
    // cap cannot be checked, and an unchecked allowance is a denied one.
    const json::value* v = present(r_, "amount");
    std::optional<Amount> allowance;
    if (v != nullptr && v->is_string()) {
      auto parsed = Amount::parse(v->as_string());
      if (parsed.ok()) allowance = *parsed;
    }
    if (!allowance) {
      const bool missing = v == nullptr;
      raise(p, Outcome::kDeny, missing ? "ATTRIBUTE_MISSING" : "ATTRIBUTE_INVALID",
            missing ? "attribute 'amount' (the allowance) is required by an " + p.type + " policy"
                    : "attribute 'amount' (the allowance) is not a decimal amount");
      if (explain_) {
        trace(p, "match:approve_amount", Outcome::kDeny, missing ? "missing" : "not an amount");
      }
      return;
    }
    const Amount& amount = *allowance;
    Outcome o = Outcome::kInstant;
    if (m.block_unlimited && amount == Amount::max()) {
      o = Outcome::kDeny;
      raise(p, o, "APPROVE_UNLIMITED_BLOCKED", "unlimited approvals are blocked");
    } else if (m.max_amount && amount > *m.max_amount) {
      o = Outcome::kDeny;
      raise(p, o, "APPROVE_AMOUNT_EXCEEDED",
            "approval of " + amount.to_string() + " exceeds " + m.max_amount->to_string());
    }
    if (explain_) trace(p, "match:approve_amount", o, amount.to_string());
  }

  void run(const CompiledPolicy& p, const TimeMatch& m) {
    using namespace std::chrono;
    // expr::zone_offset rather than date::zoned_time: it also honours the zone's rule for
    // instants after the last transition in the system's tzdata (2038 on).
    const date::sys_time<milliseconds> now{milliseconds{ctx_.now_ms}};
    const auto local = now + expr::zone_offset(*m.zone, date::floor<seconds>(now));
    const auto day = date::floor<date::days>(local);
    const unsigned wd = date::weekday{day}.c_encoding();
    const auto hour = static_cast<unsigned>(duration_cast<hours>(local - day).count());
    const bool ok = (m.allowed_hours[wd] >> hour) & 1u;
    if (!ok) {
      raise(p, m.outside, "TIME_RESTRICTED",
            "not allowed at hour " + std::to_string(hour) + " on weekday " + std::to_string(wd) +
                " in " + m.zone_name);
    }
    if (explain_) trace(p, "match:time", ok ? Outcome::kInstant : m.outside, m.zone_name);
  }

  void run(const CompiledPolicy& p, const TierThresholds& t) {
    const Amount& amount = amount_of(r_, t.asset);
    Outcome o = Outcome::kApproval;
    if (t.instant_max && amount <= *t.instant_max) o = Outcome::kInstant;
    else if (t.notify_max && amount <= *t.notify_max) o = Outcome::kNotify;
    else if (t.delay_max && amount <= *t.delay_max) o = Outcome::kDelay;
    if (o == Outcome::kDelay) d_.delay_seconds = std::max(d_.delay_seconds, t.delay_seconds);
    if (o == Outcome::kApproval) {
      d_.approval_timeout_seconds = d_.approval_timeout_seconds == 0
                                        ? t.approval_timeout_seconds
                                        : std::min(d_.approval_timeout_seconds, t.approval_timeout_seconds);
    }
    // Formatting a 256-bit amount costs more than the decision itself: only for what is read.
    if (o != Outcome::kInstant) {
      raise(p, o, "TIER_" + std::string(outcome_name(o)),
            "amount " + amount.to_string() + " " + t.asset + " is in the " +
                std::string(outcome_name(o)) + " tier");
    }
    if (explain_) trace(p, "limit:tiers", o, amount.to_string());
  }

  void run(const CompiledPolicy&, const WindowLimit&) {}  // checked under the agent lock
  void run(const CompiledPolicy&, const BudgetLimit&) {}  // held under the agent lock

  void run(const CompiledPolicy& p, const SizeMatch& m) {
    const json::value* v = present(r_, "request_size_bytes");
    if (v == nullptr) {
      if (explain_) trace(p, "match:size", Outcome::kInstant, "absent: not checked");
      return;
    }
    // The request mapping admits only a non-negative integer here.
    const std::int64_t size = v->is_int64() ? v->as_int64() : 0;
    const bool over = size > m.max_bytes;
    if (over) {
      raise(p, Outcome::kDeny, "REQUEST_TOO_LARGE",
            "request is " + std::to_string(size) + " bytes, more than " +
                std::to_string(m.max_bytes));
    }
    if (explain_) {
      trace(p, "match:size", over ? Outcome::kDeny : Outcome::kInstant,
            std::to_string(size) + "/" + std::to_string(m.max_bytes));
    }
  }
  void run(const CompiledPolicy& p, const Refuse& r) {
    raise(p, Outcome::kDeny, "POLICY_INVALID", "policy " + p.id + " no longer compiles: " + r.why);
    if (explain_) trace(p, "match:refuse", Outcome::kDeny, r.why);
  }

  void run(const CompiledPolicy& p, const CustomMatch& m) {
    expr::Activation act(*m.program);
    expr::Value v;
    if (Status s = act.bind_json(custom_vars()); !s.ok()) {
      v = expr::make_error(act.arena(), s.message());
    } else {
      v = m.program->eval(act);
    }
    if (v.kind == expr::Kind::kBool) {
      if (v.b) raise(p, m.effect, m.code, m.message);
      if (explain_) trace(p, "match:cel", v.b ? m.effect : Outcome::kInstant, v.b ? "true" : "false");
      return;
    }
    const std::string why = v.is_error() ? std::string(v.s, v.aux) : "result is not a bool";
    raise(p, Outcome::kDeny, "CUSTOM_EXPRESSION_ERROR", "custom policy expression failed: " + why);
    if (explain_) trace(p, "match:cel", Outcome::kDeny, why);
  }

 private:
  // The CUSTOM variables (see custom_expression_env), built once per request.
  const json::object& custom_vars() {
    if (custom_vars_) return *custom_vars_;
    json::object v;
    v["action"] = r_.action;
    v["agent_id"] = ctx_.agent_id;
    for (const char* key : {"to", "token", "contract", "method", "spender", "network", "chain",
                            "model", "org_id"}) {
      if (const auto* a = r_.attributes.if_contains(key); a && a->is_string()) v[key] = *a;
    }
    for (const char* key : {"request_size_bytes", "estimated_tokens"}) {
      if (const auto* a = r_.attributes.if_contains(key); a && a->is_int64()) v[key] = *a;
    }
    if (post_variables_) {
      for (std::string_view key : kPostVariables) {
        const auto* a = r_.attributes.if_contains(key);
        if (a == nullptr) continue;
        if (a->is_int64()) {
          v[key] = *a;
        } else if (a->is_uint64() && a->as_uint64() <= INT64_MAX) {
          v[key] = static_cast<std::int64_t>(a->as_uint64());
        }
      }
    }
    v["app_id"] = ctx_.agent_id;
    json::object amounts;
    for (const auto& [asset, amount] : r_.amounts) amounts[asset] = amount.to_string();
    // `amount` is the one spend amount when it fits in int64 (the common case).
    if (r_.amounts.size() == 1 && r_.amounts.begin()->second <= Amount(INT64_MAX)) {
      v["amount"] = static_cast<std::int64_t>(r_.amounts.begin()->second.rep());
    }
    v["amounts"] = std::move(amounts);
    v["attributes"] = r_.attributes;
    v["now"] = format_rfc3339_ms(ctx_.now_ms);
    custom_vars_ = std::move(v);
    return *custom_vars_;
  }

  const Request& r_;    // what the steps read
  const Request& ctx_;  // agent and time: the request itself, or the BATCH of a child
  const bool explain_;
  Decision& d_;
  const std::optional<std::size_t> child_;
  const std::string prefix_;  // "child N: " for a BATCH child
  std::optional<json::object> custom_vars_;
  bool post_variables_ = false;
};

Decision Engine::decide(const Request& r, const std::string& reservation_id, bool reserve,
                        bool explain) {
  for (;;) {
    const std::shared_ptr<const Snapshot> snap = snapshot_.load();
    Decision d;
    d.post_checks = snap->global_post || snap->agents_with_post.contains(r.agent_id);
    Evaluation eval(r, explain, &d);
    const bool cooled = cooldown_agents_.load() > 0 && apply_cooldowns(*snap, r, eval);
    std::vector<std::pair<const CompiledPolicy*, const WindowLimit*>> limits;
    std::vector<std::pair<const CompiledPolicy*, const BudgetLimit*>> budgets;
    for (const StepRef& ref : snap->steps(r.agent_id, action_index(r.action))) {
      if (const auto* l = std::get_if<WindowLimit>(ref.step)) {
        limits.emplace_back(ref.policy, l);
        continue;
      }
      if (const auto* b = std::get_if<BudgetLimit>(ref.step)) {
        budgets.emplace_back(ref.policy, b);
        continue;
      }
      std::visit([&](const auto& step) { eval.run(*ref.policy, step); }, *ref.step);
    }
    for (std::size_t i = 0; i < r.children.size(); ++i) {
      Evaluation child(r, i, explain, &d);
      for (const StepRef& ref : snap->steps(r.agent_id, action_index(r.children[i].action))) {
        if (!child_step(*ref.step)) continue;
        std::visit([&](const auto& step) { child.run(*ref.policy, step); }, *ref.step);
      }
    }
    if (!r.children.empty() || (cooled && d.reasons.size() > 1)) {
      // Reasons in policy order, each policy's batch reason first and then its children's.
      std::stable_sort(d.reasons.begin(), d.reasons.end(), [&](const Reason& a, const Reason& b) {
        return snap->rank.at(a.policy_id) < snap->rank.at(b.policy_id);
      });
    }
    if ((limits.empty() && budgets.empty()) ||
        decide_limits(*snap, r, reservation_id, reserve, limits, budgets, eval, d)) {
      return d;
    }
  }
}

bool Engine::decide_limits(const Snapshot& snap, const Request& r,
                           const std::string& reservation_id, bool reserve,
                           const std::vector<std::pair<const CompiledPolicy*, const WindowLimit*>>& limits,
                           const std::vector<std::pair<const CompiledPolicy*, const BudgetLimit*>>& budgets,
                           Evaluation& eval, Decision& d) {
  auto [state, lock] = lock_agent(r.agent_id);
  // A reload frees the meters of the index it replaced: decide against the current one.
  if (generation_.load() != snap.generation) return false;
  AgentState& st = *state;
  std::vector<Charge> charges;  // one per usage key
  std::vector<WindowCharge> windows;
  for (const auto& [policy, l] : limits) {
    // A TOKEN_LIMIT speaks only to requests that carry a token estimate: a wallet request is
    // not refused because the agent's LLM calls went past the max.
    if (l->asset == kLlmTokensAsset && !r.amounts.contains(l->asset)) continue;
    // A per-model window counts each model the agent calls on its own.
    std::string meter_key = l->meter;
    std::string usage = l->usage;
    if (l->per_model) {
      const std::string suffix = kModelSeparator + attribute(r, "model");
      meter_key += suffix;
      usage += suffix;
    }
    Meter& m = st.meters.try_emplace(meter_key, *l, usage).first->second;
    const Amount charge =
        l->kind == MeterKind::kRequests ? Amount(1) : amount_of(r, l->asset);
    const Amount& total = m.total(r.now_ms);
    auto after = total.checked_add(charge);
    const bool exceeded = !after.ok() || *after > l->max;
    // With shared windows this replica's meter counts only what it saw (other replicas'
    // settlements and releases it does not hear of): the store decides, at commit.
    if (exceeded && !(shared_windows_ && reserve)) {
      eval.raise(*policy, Outcome::kDeny, l->code,
                 l->window_text + " window: " + total.to_string() + " used + " +
                     charge.to_string() + " requested > " + l->max.to_string());
    }
    if (eval.explaining()) {
      eval.trace(*policy, "limit:window(" + l->window_text + ")",
                 exceeded ? Outcome::kDeny : Outcome::kInstant,
                 total.to_string() + "/" + l->max.to_string());
    }
    const bool counted = std::any_of(charges.begin(), charges.end(),
                                     [&](const Charge& c) { return c.usage == usage; });
    if (shared_windows_ && reserve && !charge.is_zero()) {
      windows.push_back({meter_key, usage, policy->id, l->code, l->window_text, charge, l->max,
                         m.bucket_of(r.now_ms), m.first_counted_bucket(r.now_ms)});
    }
    if (!charge.is_zero() && !counted) {
      charges.push_back({usage, l->kind, charge, r.now_ms,
                         l->kind == MeterKind::kAmount ? l->asset : std::string()});
    }
  }
  if (!budgets.empty()) decide_budgets(r, reservation_id, reserve, budgets, eval, d);
  // Window reasons were found after the match steps: put every reason back in policy order.
  if (d.reasons.size() > 1) {
    std::stable_sort(d.reasons.begin(), d.reasons.end(), [&](const Reason& a, const Reason& b) {
      return snap.rank.at(a.policy_id) < snap.rank.at(b.policy_id);
    });
  }
  if (!reserve || !d.allowed() || charges.empty()) return true;
  auto& holds = st.holds[reservation_id];
  for (auto& c : charges) {
    st.add(c.usage, c.ts_ms, c.amount);
    holds.push_back({c.usage, c.ts_ms, c.kind, c.amount, c.asset});
    d.charges.push_back(std::move(c));
  }
  d.windows = std::move(windows);
  return true;
}

void Engine::decide_budgets(
    const Request& r, const std::string& reservation_id, bool reserve,
    const std::vector<std::pair<const CompiledPolicy*, const BudgetLimit*>>& budgets,
    Evaluation& eval, Decision& d) {
  // One need per asset the request spends; several policies on one asset hold it once, and
  // only partially when every one of them allows it.
  std::vector<BudgetNeed> needs;
  std::vector<const CompiledPolicy*> owners;  // the first policy of each need
  for (const auto& [policy, b] : budgets) {
    const Amount& amount = amount_of(r, b->asset);
    if (amount.is_zero()) continue;
    auto it = std::find_if(needs.begin(), needs.end(),
                           [&](const BudgetNeed& n) { return n.asset == b->asset; });
    if (it != needs.end()) {
      it->partial = it->partial && b->partial;
      continue;
    }
    needs.push_back({b->asset, amount, b->partial, policy->id});
    owners.push_back(policy);
  }
  if (needs.empty()) return;
  auto exceeded = [&](std::size_t i, const Amount& available) {
    const Amount short_by = *needs[i].amount.checked_sub(available);
    eval.raise(*owners[i], Outcome::kDeny, "BUDGET_EXCEEDED",
               "needs " + needs[i].amount.to_string() + " " + needs[i].asset + ", has " +
                   available.to_string() + " (short " + short_by.to_string() + ")");
  };
  if (budgets_ == nullptr) {
    for (const CompiledPolicy* p : owners) {
      eval.raise(*p, Outcome::kDeny, "BUDGET_UNAVAILABLE", "no ledger to hold the budget on");
    }
    return;
  }
  if (reserve && d.allowed()) {
    auto held = budgets_->hold_for(r.agent_id, needs, reservation_id, r.now_ms);
    if (held.ok()) {
      d.holds = std::move(*held);
    } else {
      const auto& details = held.status().details();
      const auto* currency = details.if_contains("currency");
      const auto* available = details.if_contains("available");
      for (std::size_t i = 0; i < needs.size(); ++i) {
        if (currency && currency->is_string() && currency->as_string() == needs[i].asset) {
          auto a = available && available->is_string()
                       ? Amount::parse(available->as_string())
                       : Result<Amount>(Amount());
          exceeded(i, a.ok() ? *a : Amount());
        }
      }
      if (d.allowed()) {  // an error without the asset: still nothing is held
        eval.raise(*owners[0], Outcome::kDeny, "BUDGET_EXCEEDED", held.status().message());
      }
    }
  } else {
    for (std::size_t i = 0; i < needs.size(); ++i) {
      const Amount available = budgets_->available(r.agent_id, needs[i].asset, r.now_ms);
      if (!needs[i].partial && needs[i].amount > available) exceeded(i, available);
    }
  }
  if (eval.explaining()) {
    for (std::size_t i = 0; i < needs.size(); ++i) {
      eval.trace(*owners[i], "budget(" + needs[i].asset + ")",
                 d.allowed() ? Outcome::kInstant : Outcome::kDeny,
                 needs[i].amount.to_string() + " " + needs[i].asset);
    }
  }
}

Status Engine::settle(const std::string& agent_id, const std::string& reservation_id,
                      const std::optional<Amount>& final_amount) {
  auto [state, lock] = lock_agent(agent_id);
  AgentState& st = *state;
  auto it = st.holds.find(reservation_id);
  if (it == st.holds.end()) return Status();
  if (!final_amount) {
    st.holds.erase(it);  // spent exactly as reserved
    return Status();
  }
  for (const auto& h : it->second) {
    if (h.kind == MeterKind::kAmount && *final_amount > h.amount) {
      return Status(ErrorCode::TX_AMOUNT_EXCEEDS_RESERVED,
                    "final amount " + final_amount->to_string() + " exceeds the reserved " +
                        h.amount.to_string());
    }
  }
  for (const auto& h : it->second) {
    if (h.kind == MeterKind::kAmount) st.subtract(h.usage, h.ts_ms, *h.amount.checked_sub(*final_amount));
  }
  st.holds.erase(it);
  return Status();
}

Status Engine::settle(const std::string& agent_id, const std::string& reservation_id,
                      const std::map<std::string, Amount>& final_amounts) {
  auto [state, lock] = lock_agent(agent_id);
  AgentState& st = *state;
  auto it = st.holds.find(reservation_id);
  if (it == st.holds.end()) return Status();
  for (const auto& h : it->second) {
    if (h.kind != MeterKind::kAmount) continue;
    auto final_it = final_amounts.find(h.asset);
    if (final_it == final_amounts.end()) continue;
    const Amount& final_amount = final_it->second;
    if (final_amount < h.amount) {
      st.subtract(h.usage, h.ts_ms, *h.amount.checked_sub(final_amount));
    } else if (h.amount < final_amount) {
      st.add(h.usage, h.ts_ms, *final_amount.checked_sub(h.amount));
    }
  }
  st.holds.erase(it);
  return Status();
}

void Engine::release(const std::string& agent_id, const std::string& reservation_id) {
  auto [state, lock] = lock_agent(agent_id);
  AgentState& st = *state;
  auto it = st.holds.find(reservation_id);
  if (it == st.holds.end()) return;
  for (const auto& h : it->second) st.subtract(h.usage, h.ts_ms, h.amount);
  st.holds.erase(it);
}

void Engine::restore(const std::string& agent_id, const std::string& reservation_id,
                     const std::vector<Charge>& charges, bool held) {
  const std::shared_ptr<const Snapshot> snap = snapshot_.load();
  auto [state, lock] = lock_agent(agent_id);
  AgentState& st = *state;
  for (const auto& c : charges) {
    const auto* windows = snap->windows_of(c.usage);
    if (windows == nullptr) continue;  // the policy is gone: nothing reads this usage
    st.ensure_meters(*windows, c.usage);
    st.add(c.usage, c.ts_ms, c.amount);
    if (held) {
      std::string asset = c.asset;
      if (asset.empty() && c.kind == MeterKind::kAmount) asset = asset_of_usage(c.usage);
      st.holds[reservation_id].push_back({c.usage, c.ts_ms, c.kind, c.amount, std::move(asset)});
    }
  }
}

std::vector<Reason> Engine::post_checks(const Request& r) const {
  const std::shared_ptr<const Snapshot> snap = snapshot_.load();
  Decision d;
  Evaluation eval(r, false, &d);
  eval.read_post_variables();
  for (const CompiledPolicy* p : snap->with_post) {
    if (p->agent_id && *p->agent_id != r.agent_id) continue;
    for (const CustomMatch& m : p->post) {
      const std::size_t before = d.reasons.size();
      eval.run(*p, m);
      if (m.cooldown_ms <= 0) continue;
      for (std::size_t i = before; i < d.reasons.size(); ++i) {
        if (d.reasons[i].code == m.code) d.reasons[i].until_ms = r.now_ms + m.cooldown_ms;
      }
    }
  }
  return std::move(d.reasons);
}

void Engine::post_matched(const std::string& agent_id, const std::string& policy_id,
                          std::int64_t until_ms) {
  std::lock_guard lock(cooldown_mu_);
  auto [agent, added] = cooldowns_.try_emplace(agent_id);
  if (added) cooldown_agents_.fetch_add(1);
  std::int64_t& until = agent->second[policy_id];
  until = std::max(until, until_ms);
}

std::int64_t Engine::max_post_cooldown_ms() const {
  std::int64_t longest = 0;
  for (const CompiledPolicy* p : snapshot_.load()->with_post) {
    for (const CustomMatch& m : p->post) longest = std::max(longest, m.cooldown_ms);
  }
  return longest;
}

bool Engine::apply_cooldowns(const Snapshot& snap, const Request& r, Evaluation& eval) {
  std::lock_guard lock(cooldown_mu_);
  auto agent = cooldowns_.find(r.agent_id);
  if (agent == cooldowns_.end()) return false;
  bool raised = false;
  for (auto it = agent->second.begin(); it != agent->second.end();) {
    const auto& [policy_id, until_ms] = *it;
    if (until_ms <= r.now_ms) {
      it = agent->second.erase(it);
      continue;
    }
    if (auto rank = snap.rank.find(policy_id); rank != snap.rank.end()) {
      const CompiledPolicy& p = *snap.policies[rank->second];
      for (const CustomMatch& m : p.post) {
        if (m.cooldown_ms <= 0) continue;
        eval.raise(p, m.effect, m.code,
                   m.message + " (post condition matched; applies until " +
                       format_rfc3339_ms(until_ms) + ")");
        raised = true;
        if (eval.explaining())
          eval.trace(p, "match:post_cooldown", m.effect, format_rfc3339_ms(until_ms));
      }
    }
    ++it;
  }
  if (agent->second.empty()) {
    cooldowns_.erase(agent);
    cooldown_agents_.fetch_sub(1);
  }
  return raised;
}

Amount Engine::meter_total(const std::string& agent_id, const std::string& meter,
                           std::int64_t now_ms) {
  auto [state, lock] = lock_agent(agent_id);
  auto it = state->meters.find(meter);
  return it == state->meters.end() ? Amount() : it->second.total(now_ms);
}

std::vector<json::object> Engine::compiled_ir() const {
  std::vector<json::object> out;
  for (const auto& p : snapshot_.load()->policies) out.push_back(ir_to_json(*p));
  return out;
}

EngineStats Engine::stats() const {
  EngineStats s;
  s.policies = snapshot_.load()->policies.size();
  for (std::size_t i = 0; i < kShards; ++i) {
    std::lock_guard lock(shards_[i].mu);
    s.agents += shards_[i].agents.size();
    for (const auto& [id, st] : shards_[i].agents) {
      std::lock_guard agent_lock(st->mu);
      s.reservations += st->holds.size();
      s.meters += st->meters.size();
    }
  }
  return s;
}

json::object decision_json(const Decision& d, bool with_trace) {
  json::array reasons;
  for (const auto& r : d.reasons) {
    json::object reason{{"policy_id", r.policy_id},
                        {"code", r.code},
                        {"message", r.message},
                        {"outcome", outcome_name(r.outcome)}};
    if (r.child) reason["child"] = *r.child;
    reasons.push_back(std::move(reason));
  }
  json::object o;
  o["effect"] = d.allowed() ? "ALLOW" : "DENY";
  o["tier"] = d.allowed() ? json::value(outcome_name(d.outcome)) : json::value(nullptr);
  o["reasons"] = std::move(reasons);
  if (!d.holds.empty()) {
    json::array holds;
    for (const auto& h : d.holds) {
      holds.push_back({{"hold_id", h.hold_id},
                       {"asset", h.asset},
                       {"requested", h.requested.to_string()},
                       {"held", h.held.to_string()}});
    }
    o["holds"] = std::move(holds);
  }
  if (with_trace) {
    json::array trace;
    for (const auto& t : d.trace) {
      trace.push_back(json::object{{"policy_id", t.policy_id}, {"step", t.step},
                                   {"outcome", outcome_name(t.outcome)}, {"detail", t.detail}});
    }
    o["trace"] = std::move(trace);
  }
  return o;
}

}  // namespace warden::engine
