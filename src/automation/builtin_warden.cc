// The built-in host "warden": this daemon's own agents, sessions and policies, acted on through
// WardenActions (implemented by the server). The dry-run reads the current state first, so an
// action whose target is already in the desired state is an info no-op with no effects.
#include <algorithm>
#include <boost/json/value.hpp>

#include "automation/driver.h"

namespace warden::automation {
namespace json = boost::json;

namespace {

json::object optional_string_params(std::initializer_list<std::string_view> names) {
  json::object properties;
  for (std::string_view n : names) {
    properties[n] = json::object{{"type", "string"}, {"minLength", 1}, {"maxLength", 256}};
  }
  return json::object{
      {"type", "object"}, {"properties", std::move(properties)}, {"additionalProperties", false}};
}

HostInfo warden_host() {
  HostInfo h;
  h.id = "warden";
  h.name = "This Warden daemon";
  h.builtin = true;
  h.verbs = {
      VerbInfo{"agent",
               "suspend",
               optional_string_params({"agent_id", "reason"}),
               true,
               "resume",
               {"agent_id"}},
      VerbInfo{
          "agent", "resume", optional_string_params({"agent_id"}), true, "suspend", {"agent_id"}},
      VerbInfo{"session", "revoke", optional_string_params({"agent_id"}), false, "", {"agent_id"}},
      VerbInfo{"policy",
               "enable",
               optional_string_params({"policy_id"}),
               true,
               "disable",
               {"policy_id"}},
      VerbInfo{"policy",
               "disable",
               optional_string_params({"policy_id"}),
               true,
               "enable",
               {"policy_id"}},
  };
  return h;
}

// The id a call acts on: its explicit param, else the target's id.
std::string subject_of(const ActionCall& c, std::string_view param) {
  if (const json::value* v = c.params.if_contains(param); v != nullptr && v->is_string()) {
    return std::string(v->as_string());
  }
  return c.target.id;
}

std::string label(const InventoryItem& item, const std::string& key) {
  auto it = item.labels.find(key);
  return it == item.labels.end() ? std::string() : it->second;
}

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  return s;
}

const InventoryItem* find_item(const std::vector<InventoryItem>& items, const std::string& id) {
  for (const InventoryItem& i : items) {
    if (i.id == id) return &i;
  }
  return nullptr;
}

DryRun refused(json::array preconditions, std::string reason) {
  DryRun d;
  d.ok = false;
  d.severity = Severity::kError;
  d.preconditions = std::move(preconditions);
  d.reason = std::move(reason);
  return d;
}

DryRun no_op(json::array preconditions, std::string reason) {
  DryRun d;
  d.ok = true;
  d.severity = Severity::kInfo;
  d.preconditions = std::move(preconditions);
  d.reason = std::move(reason);
  return d;
}

DryRun change(json::array preconditions, json::object step, json::object effect,
              std::string reason) {
  DryRun d;
  d.ok = true;
  d.severity = Severity::kInfo;
  d.preconditions = std::move(preconditions);
  d.plan.push_back(std::move(step));
  d.effects.push_back(std::move(effect));
  d.reason = std::move(reason);
  return d;
}

json::object check(std::string_view what, bool ok) {
  return json::object{{"check", what}, {"ok", ok}};
}

class WardenDriver final : public Driver {
 public:
  explicit WardenDriver(WardenActions& actions) : actions_(actions), info_(warden_host()) {}

  const HostInfo& info() const override { return info_; }

  Result<std::vector<InventoryItem>> inventory(bool /*full*/) override {
    WARDEN_ASSIGN_OR_RETURN(std::vector<InventoryItem> items, actions_.agents());
    WARDEN_ASSIGN_OR_RETURN(std::vector<InventoryItem> policies, actions_.policies());
    items.insert(items.end(), std::make_move_iterator(policies.begin()),
                 std::make_move_iterator(policies.end()));
    std::sort(items.begin(), items.end(),
              [](const InventoryItem& a, const InventoryItem& b) { return a.id < b.id; });
    return items;
  }

  Result<DryRun> dry_run(const ActionCall& c) override {
    if (info_.find(c.capability, c.verb) == nullptr) {
      return Status(ErrorCode::AUTOMATION_ACTION_INVALID,
                    "host warden has no verb " + c.capability + "." + c.verb);
    }
    if (c.capability == "policy") return dry_run_policy(c);
    const std::string agent_id = subject_of(c, "agent_id");
    WARDEN_ASSIGN_OR_RETURN(std::vector<InventoryItem> agents, actions_.agents());
    const InventoryItem* agent = find_item(agents, agent_id);
    // An org's automation acts on its org's agents only: another's is as absent as a missing one
    // (a param naming it gets no further than a selector would).
    if (agent != nullptr && c.org && label(*agent, "org") != *c.org) agent = nullptr;
    json::array pre{check("agent exists", agent != nullptr)};
    if (agent == nullptr) return refused(std::move(pre), "agent " + agent_id + " does not exist");
    const std::string status = upper(label(*agent, "status"));
    if (c.capability == "session") {
      return change(std::move(pre),
                    json::object{{"step", "revoke sessions"}, {"agent_id", agent_id}},
                    json::object{{"revoke_sessions", agent_id}},
                    "every session of agent " + agent_id + " will be revoked");
    }
    const bool suspend = c.verb == "suspend";
    const std::string want = suspend ? "SUSPENDED" : "ACTIVE";
    if (status == want) {
      return no_op(std::move(pre), "agent " + agent_id + " is already " + want);
    }
    const bool movable = suspend ? status == "ACTIVE" : status == "SUSPENDED";
    pre.push_back(check(suspend ? "agent is active" : "agent is suspended", movable));
    if (!movable) {
      return refused(std::move(pre), "agent " + agent_id + " is " + status + ", not " +
                                         (suspend ? "ACTIVE" : "SUSPENDED"));
    }
    return change(
        std::move(pre),
        json::object{{"step", suspend ? "suspend agent" : "resume agent"}, {"agent_id", agent_id}},
        json::object{{"agent", agent_id}, {"status", json::object{{"from", status}, {"to", want}}}},
        "agent " + agent_id + " will be " + (suspend ? "suspended" : "resumed"));
  }

  Result<ExecuteResult> execute(const ActionCall& c) override {
    // The state may have changed since the dry-run: decide again, then act only on a change.
    WARDEN_ASSIGN_OR_RETURN(DryRun d, dry_run(c));
    if (!d.ok) return ExecuteResult{false, {}, d.reason};
    if (d.effects.empty()) return ExecuteResult{true, {}, d.reason};
    if (c.capability == "policy") {
      const std::string id = subject_of(c, "policy_id");
      WARDEN_RETURN_IF_ERROR(actions_.set_policy_enabled(id, c.verb == "enable", c.correlation_id));
      return ExecuteResult{true, d.effects, "policy " + id + " " + c.verb + "d"};
    }
    const std::string agent_id = subject_of(c, "agent_id");
    if (c.capability == "session") {
      WARDEN_ASSIGN_OR_RETURN(std::int64_t n, actions_.revoke_sessions(agent_id, c.correlation_id));
      json::array effects{json::object{{"revoke_sessions", agent_id}, {"revoked", n}}};
      return ExecuteResult{true, std::move(effects),
                           std::to_string(n) + " sessions of agent " + agent_id + " revoked"};
    }
    if (c.verb == "suspend") {
      std::string reason;
      if (const json::value* r = c.params.if_contains("reason"); r != nullptr && r->is_string()) {
        reason = std::string(r->as_string());
      }
      WARDEN_RETURN_IF_ERROR(actions_.suspend_agent(agent_id, reason, c.correlation_id));
    } else {
      WARDEN_RETURN_IF_ERROR(actions_.resume_agent(agent_id, c.correlation_id));
    }
    return ExecuteResult{true, d.effects, d.reason};
  }

 private:
  Result<DryRun> dry_run_policy(const ActionCall& c) {
    const std::string id = subject_of(c, "policy_id");
    WARDEN_ASSIGN_OR_RETURN(std::vector<InventoryItem> policies, actions_.policies());
    const InventoryItem* p = find_item(policies, id);
    if (p != nullptr && c.org) {  // an org's automation: its org's agents' policies only
      WARDEN_ASSIGN_OR_RETURN(std::vector<InventoryItem> agents, actions_.agents());
      const InventoryItem* owner = find_item(agents, label(*p, "agent_id"));
      if (owner == nullptr || label(*owner, "org") != *c.org) p = nullptr;
    }
    json::array pre{check("policy exists", p != nullptr)};
    if (p == nullptr) return refused(std::move(pre), "policy " + id + " does not exist");
    const bool enable = c.verb == "enable";
    const bool enabled = label(*p, "enabled") == "true";
    if (enabled == enable) {
      return no_op(std::move(pre),
                   "policy " + id + " is already " + (enable ? "enabled" : "disabled"));
    }
    return change(
        std::move(pre),
        json::object{{"step", enable ? "enable policy" : "disable policy"}, {"policy_id", id}},
        json::object{{"policy", id}, {"enabled", json::object{{"from", enabled}, {"to", enable}}}},
        "policy " + id + " will be " + (enable ? "enabled" : "disabled"));
  }

  WardenActions& actions_;
  HostInfo info_;
};

}  // namespace

std::unique_ptr<Driver> make_warden_driver(WardenActions& actions) {
  return std::make_unique<WardenDriver>(actions);
}

}  // namespace warden::automation
