#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "automation/driver.h"

namespace warden::automation {
namespace {
namespace json = boost::json;

// An in-memory Warden: agents with a status, policies with an enabled flag, and a record of
// every action asked of it.
class FakeWarden final : public WardenActions {
 public:
  std::map<std::string, std::string> agent_status{
      {"a1", "ACTIVE"}, {"a2", "SUSPENDED"}, {"a3", "TERMINATED"}};
  std::map<std::string, bool> policy_enabled{{"p1", true}, {"p2", false}};
  std::vector<std::string> calls;

  Status suspend_agent(const std::string& id, const std::string& reason,
                       const std::string& corr) override {
    calls.push_back("suspend " + id + " " + reason + " " + corr);
    agent_status[id] = "SUSPENDED";
    return Status();
  }
  Status resume_agent(const std::string& id, const std::string& corr) override {
    calls.push_back("resume " + id + " " + corr);
    agent_status[id] = "ACTIVE";
    return Status();
  }
  Result<std::int64_t> revoke_sessions(const std::string& id, const std::string& corr) override {
    calls.push_back("revoke " + id + " " + corr);
    return std::int64_t{3};
  }
  Status set_policy_enabled(const std::string& id, bool enabled, const std::string& corr) override {
    calls.push_back(std::string(enabled ? "enable " : "disable ") + id + " " + corr);
    policy_enabled[id] = enabled;
    return Status();
  }
  Result<std::vector<InventoryItem>> agents() override {
    std::vector<InventoryItem> out;
    for (const auto& [id, status] : agent_status) {
      out.push_back(InventoryItem{id, "agent " + id, "agent", {{"status", status}}});
    }
    return out;
  }
  Result<std::vector<InventoryItem>> policies() override {
    std::vector<InventoryItem> out;
    for (const auto& [id, enabled] : policy_enabled) {
      out.push_back(
          InventoryItem{id, "policy " + id, "policy", {{"enabled", enabled ? "true" : "false"}}});
    }
    return out;
  }
};

ActionCall call(std::string capability, std::string verb, std::string target,
                json::object params = {}) {
  ActionCall c;
  c.host = "warden";
  c.capability = std::move(capability);
  c.verb = std::move(verb);
  c.params = std::move(params);
  c.target.id = std::move(target);
  c.correlation_id = "corr-9";
  return c;
}

TEST(WardenDriver, DeclaresItsVerbsAndInverses) {
  FakeWarden w;
  std::unique_ptr<Driver> d = make_warden_driver(w);
  const HostInfo& h = d->info();
  EXPECT_EQ(h.id, "warden");
  EXPECT_TRUE(h.builtin);
  EXPECT_EQ(h.find("agent", "suspend")->inverse_verb, "resume");
  EXPECT_EQ(h.find("agent", "resume")->inverse_verb, "suspend");
  EXPECT_FALSE(h.find("session", "revoke")->invertible);
  EXPECT_EQ(h.find("policy", "enable")->inverse_verb, "disable");
  EXPECT_EQ(h.find("policy", "disable")->inverse_verb, "enable");
  // The declared schema is what validate_params checks actions against.
  EXPECT_TRUE(validate_params(h.find("agent", "suspend")->params_schema,
                              json::object{{"agent_id", "a1"}, {"reason", "spike"}}, "")
                  .empty());
  EXPECT_EQ(
      validate_params(h.find("agent", "suspend")->params_schema, json::object{{"agent", "a1"}}, "")
          .size(),
      1u);
}

TEST(WardenDriver, InventoryIsAgentsAndPolicies) {
  FakeWarden w;
  std::unique_ptr<Driver> d = make_warden_driver(w);
  Result<std::vector<InventoryItem>> items = d->inventory(false);
  ASSERT_TRUE(items.ok());
  std::vector<std::string> ids;
  for (const InventoryItem& i : *items) ids.push_back(i.kind + ":" + i.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"agent:a1", "agent:a2", "agent:a3", "policy:p1",
                                           "policy:p2"}));
}

TEST(WardenDriver, SuspendDryRunThenExecute) {
  FakeWarden w;
  std::unique_ptr<Driver> d = make_warden_driver(w);
  Result<DryRun> plan = d->dry_run(call("agent", "suspend", "a1", {{"reason", "spend spike"}}));
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->ok);
  EXPECT_EQ(
      json::value(plan->preconditions),
      json::parse(R"([{"check":"agent exists","ok":true},{"check":"agent is active","ok":true}])"));
  EXPECT_EQ(json::value(plan->effects),
            json::parse(R"([{"agent":"a1","status":{"from":"ACTIVE","to":"SUSPENDED"}}])"));
  EXPECT_TRUE(w.calls.empty());  // a dry-run acts on nothing

  Result<ExecuteResult> done =
      d->execute(call("agent", "suspend", "a1", {{"reason", "spend spike"}}));
  ASSERT_TRUE(done.ok());
  EXPECT_TRUE(done->ok);
  EXPECT_EQ(w.calls, std::vector<std::string>{"suspend a1 spend spike corr-9"});
  EXPECT_EQ(w.agent_status["a1"], "SUSPENDED");

  // Now a no-op: ok, info, no effects, and execute does not call suspend again.
  Result<DryRun> again = d->dry_run(call("agent", "suspend", "a1"));
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->ok);
  EXPECT_EQ(again->severity, Severity::kInfo);
  EXPECT_TRUE(again->effects.empty());
  EXPECT_TRUE(again->plan.empty());
  ASSERT_TRUE(d->execute(call("agent", "suspend", "a1")).ok());
  EXPECT_EQ(w.calls.size(), 1u);

  // The inverse resumes it; the agent id may come from params instead of the target.
  ASSERT_TRUE(d->execute(call("agent", "resume", "", {{"agent_id", "a1"}})).ok());
  EXPECT_EQ(w.calls.back(), "resume a1 corr-9");
  EXPECT_EQ(w.agent_status["a1"], "ACTIVE");
}

TEST(WardenDriver, RefusesMissingOrTerminatedAgents) {
  FakeWarden w;
  std::unique_ptr<Driver> d = make_warden_driver(w);
  Result<DryRun> missing = d->dry_run(call("agent", "suspend", "ghost"));
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->ok);
  EXPECT_EQ(missing->severity, Severity::kError);
  EXPECT_EQ(json::value(missing->preconditions),
            json::parse(R"([{"check":"agent exists","ok":false}])"));
  Result<DryRun> terminated = d->dry_run(call("agent", "resume", "a3"));
  ASSERT_TRUE(terminated.ok());
  EXPECT_FALSE(terminated->ok);
  Result<ExecuteResult> refused = d->execute(call("agent", "suspend", "ghost"));
  ASSERT_TRUE(refused.ok());
  EXPECT_FALSE(refused->ok);
  EXPECT_TRUE(w.calls.empty());
  EXPECT_EQ(d->dry_run(call("agent", "explode", "a1")).status().code(),
            ErrorCode::AUTOMATION_ACTION_INVALID);
}

TEST(WardenDriver, RevokesSessionsAndTogglesPolicies) {
  FakeWarden w;
  std::unique_ptr<Driver> d = make_warden_driver(w);
  Result<ExecuteResult> revoked = d->execute(call("session", "revoke", "a2"));
  ASSERT_TRUE(revoked.ok());
  EXPECT_EQ(json::value(revoked->effects),
            json::parse(R"([{"revoke_sessions":"a2","revoked":3}])"));

  Result<DryRun> noop = d->dry_run(call("policy", "enable", "p1"));
  ASSERT_TRUE(noop.ok());
  EXPECT_TRUE(noop->effects.empty());
  Result<DryRun> disable = d->dry_run(call("policy", "disable", "p1"));
  ASSERT_TRUE(disable.ok());
  EXPECT_EQ(json::value(disable->effects),
            json::parse(R"([{"policy":"p1","enabled":{"from":true,"to":false}}])"));
  ASSERT_TRUE(d->execute(call("policy", "disable", "p1")).ok());
  ASSERT_TRUE(d->execute(call("policy", "enable", "", {{"policy_id", "p2"}})).ok());
  EXPECT_EQ(w.calls, (std::vector<std::string>{"revoke a2 corr-9", "disable p1 corr-9",
                                               "enable p2 corr-9"}));
  EXPECT_FALSE(w.policy_enabled["p1"]);
  EXPECT_TRUE(w.policy_enabled["p2"]);
}

}  // namespace
}  // namespace warden::automation
