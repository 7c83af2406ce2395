#include "automation/ir.h"

#include <gtest/gtest.h>

#include "automation/spec.h"
#include "core/json.h"

namespace warden::automation {
namespace {

namespace json = boost::json;

constexpr std::int64_t kNowMs = 1'790'000'000'000;

json::object normalized(std::string_view text) {
  const SpecCheck c = validate_spec(*parse_json(text), nullptr);
  EXPECT_FALSE(c.has_blocker()) << canonical_json(policy::issues_to_json(c.issues));
  return c.normalized;
}

constexpr std::string_view kSpec = R"j({"name": "n", "priority": -3, "enabled": true,
  "trigger_group": {"logic": "ALL", "triggers": [
    {"kind": "event", "event": "decision.denied", "filter": "event.attributes.code == 'X'"},
    {"kind": "schedule", "cron": "0 9 * * 1-5", "time_zone": "America/New_York"},
    {"kind": "threshold", "event": "decision.denied", "measure": "count", "window": "10m", "above": 3}]},
  "conditions": ["target.labels.env == 'prod'", "now > timestamp('2020-01-01T00:00:00Z')"],
  "targets": [{"host": "vm", "selector": "label:env=prod name:db*"},
              {"host": "vm", "selector": "db-9,db-1", "dynamic_resolution": true},
              {"host": "warden", "selector": "{{event.subject}}"},
              {"host": "absent", "selector": "a"}],
  "actions": [{"host": "vm", "capability": "power", "verb": "off", "params": {"why": "{{event.kind}}"}}],
  "suppression_window": "5m", "idempotency_window": "1d"})j";

std::map<std::string, InventorySnapshot> inventory() {
  InventorySnapshot vm;
  vm.host = "vm";
  vm.items = {{"db-1", "db-primary", "vm", {{"env", "prod"}}},
              {"db-2", "db-replica", "vm", {{"env", "staging"}}},
              {"db-3", "db-archive", "vm", {{"env", "prod"}}},
              {"web-1", "frontend", "vm", {{"env", "prod"}}}};
  return {{"vm", vm}};
}

TEST(IrTest, CompilesEveryPart) {
  auto c = compile(normalized(kSpec), inventory(), kNowMs);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->name, "n");
  EXPECT_EQ(c->priority, -3);
  EXPECT_TRUE(c->enabled);
  EXPECT_TRUE(c->logic_all);
  EXPECT_EQ(c->hash, validate_spec(*parse_json(kSpec), nullptr).hash);
  ASSERT_EQ(c->triggers.size(), 3u);
  EXPECT_EQ(c->triggers[0].kind, CompiledTrigger::Kind::kEvent);
  ASSERT_NE(c->triggers[0].filter, nullptr);
  EXPECT_EQ(c->triggers[1].cron, "0 9 * * 1-5");
  EXPECT_EQ(c->triggers[1].time_zone, "America/New_York");
  EXPECT_EQ(c->triggers[2].window_ms, 600'000);
  EXPECT_EQ(c->triggers[2].above, 3.0);
  EXPECT_EQ(c->triggers[2].group_by, "subject");
  ASSERT_EQ(c->conditions.size(), 2u);
  EXPECT_EQ(c->suppression_window_ms, 300'000);
  EXPECT_EQ(c->idempotency_window_ms, 86'400'000);
  ASSERT_EQ(c->targets.size(), 4u);
  EXPECT_EQ(c->targets[0].resolved_ids, (std::vector<std::string>{"db-1", "db-3"}));
  EXPECT_EQ(c->targets[0].resolved_at_ms, kNowMs);
  EXPECT_TRUE(c->targets[1].dynamic);
  EXPECT_TRUE(c->targets[1].resolved_ids.empty());
  EXPECT_EQ(c->targets[1].resolved_at_ms, 0);
  EXPECT_TRUE(c->targets[2].from_event_subject);
  EXPECT_TRUE(c->targets[2].resolved_ids.empty());
  EXPECT_TRUE(c->targets[3].resolved_ids.empty());  // a host without a snapshot
  EXPECT_EQ(c->targets[3].resolved_at_ms, kNowMs);
  EXPECT_EQ(c->actions.at(0).params.at("why"), "{{event.kind}}");
}

TEST(IrTest, IrJsonIsDeterministicAcrossRunsAndKeyOrders) {
  const std::string reordered = R"j({"idempotency_window": "24h", "suppression_window": "300s",
  "actions": [{"params": {"why": "{{event.kind}}"}, "verb": "off", "capability": "power", "host": "vm"}],
  "targets": [{"selector": "name:db* label:env=prod", "host": "vm"},
              {"dynamic_resolution": true, "selector": "db-1,db-9", "host": "vm"},
              {"selector": "{{event.subject}}", "host": "warden"},
              {"selector": "a", "host": "absent"}],
  "conditions": ["target.labels.env == 'prod'", "now > timestamp('2020-01-01T00:00:00Z')"],
  "trigger_group": {"triggers": [
    {"filter": "event.attributes.code == 'X'", "event": "decision.denied", "kind": "event"},
    {"time_zone": "America/New_York", "cron": "0 9 * * 1-5", "kind": "schedule"},
    {"above": 3, "window": "10m", "measure": "count", "event": "decision.denied", "kind": "threshold"}],
   "logic": "ALL"},
  "enabled": true, "priority": -3, "name": "n"})j";
  auto a = compile(normalized(kSpec), inventory(), kNowMs);
  auto b = compile(normalized(reordered), inventory(), kNowMs);
  ASSERT_TRUE(a.ok() && b.ok());
  const std::string golden = canonical_json(ir_json(*a));
  EXPECT_EQ(canonical_json(ir_json(*b)), golden);
  EXPECT_EQ(a->hash, b->hash);
  for (int run = 0; run < 5; ++run) {
    EXPECT_EQ(canonical_json(ir_json(*compile(normalized(kSpec), inventory(), kNowMs))), golden);
  }
  const json::object ir = ir_json(*a);
  EXPECT_EQ(ir.at("version_int"), 1);
  EXPECT_EQ(ir.at("ir_format"), kIrVersion);
  EXPECT_EQ(ir.at("logic"), "ALL");
  EXPECT_EQ(ir.at("suppression_window_ms"), 300'000);
  const json::object& t0 = ir.at("triggers").at(0).as_object();
  EXPECT_EQ(t0.at("scopes"), json::array{"event"});
  EXPECT_EQ(ir.at("conditions").at(0).at("scopes"), json::array{"target"});
  EXPECT_EQ(ir.at("conditions").at(1).at("scopes"), json::array{"now"});
  const json::object& target0 = ir.at("targets").at(0).as_object();
  EXPECT_EQ(target0.at("selector"), "label:env=prod name:db*");
  EXPECT_EQ(target0.at("resolved_ids"), (json::array{"db-1", "db-3"}));
  EXPECT_EQ(target0.at("resolved_at_ms"), kNowMs);
  EXPECT_EQ(ir.at("targets").at(2).at("from_event_subject"), true);
}

TEST(IrTest, RefusesASpecWithBlockers) {
  json::object bad = normalized(kSpec);
  bad["targets"].as_array()[0].as_object()["selector"] = "x-[2-1]";
  auto c = compile(bad, inventory(), kNowMs);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), ErrorCode::AUTOMATION_INVALID);
  ASSERT_TRUE(c.status().details().contains("issues"));
  EXPECT_EQ(c.status().details().at("issues").at(0).at("pointer"), "/targets/0/selector");
}

TEST(IrTest, EnvDeclaresEventTargetAndNow) {
  const expr::Env& env = automation_env();
  ASSERT_NE(env.find("event"), nullptr);
  ASSERT_NE(env.find("target"), nullptr);
  ASSERT_NE(env.find("now"), nullptr);
  EXPECT_EQ(env.find("now")->kind(), expr::TypeKind::kTimestamp);
  EXPECT_EQ(env.find("request"), nullptr);
  // A filter evaluates against an event bound as JSON.
  auto c = compile(normalized(kSpec), inventory(), kNowMs);
  ASSERT_TRUE(c.ok());
  expr::Activation act(*c->triggers[0].filter);
  ASSERT_TRUE(act.bind_json(json::object{{"event", json::object{{"kind", "decision.denied"},
                                                                {"attributes",
                                                                 json::object{{"code", "X"}}}}}})
                  .ok());
  const expr::Value v = c->triggers[0].filter->eval(act);
  ASSERT_EQ(v.kind, expr::Kind::kBool);
  EXPECT_TRUE(v.b);
}

TEST(IrTest, BindsEventTargetAndNow) {
  Event e;
  e.id = "e1";
  e.kind = "decision.denied";
  e.source = "warden";
  e.subject = "db-1";
  e.occurred_at_ms = kNowMs - 1'500;
  e.attributes = json::object{{"amount", 1200}};
  const InventoryItem t{"db-1", "db-primary", "vm", {{"env", "prod"}}};
  auto eval = [&](std::string_view source, const Event* ev, const InventoryItem* tg) {
    auto p = expr::compile(source, automation_env());
    EXPECT_TRUE(p.ok()) << source << ": " << p.status().message();
    expr::Activation act(*p);
    EXPECT_TRUE(bind_automation_vars(act, ev, tg, kNowMs).ok());
    const expr::Value v = p->eval(act);
    return v.kind == expr::Kind::kBool && v.b;
  };
  EXPECT_TRUE(eval("event.subject == target.id && target.labels.env == 'prod'", &e, &t));
  EXPECT_TRUE(eval("event.attributes.amount > 1000 && event.source == 'warden'", &e, &t));
  EXPECT_TRUE(eval("now == timestamp('2026-09-21T14:13:20Z')", &e, &t));
  EXPECT_TRUE(
      eval("timestamp(event.occurred_at) == timestamp('2026-09-21T14:13:18.500Z')", &e, &t));
  EXPECT_TRUE(eval("!has(event.kind) && !has(target.id)", nullptr, nullptr));
  EXPECT_FALSE(eval("event.subject == 'x'", &e, &t));
}

}  // namespace
}  // namespace warden::automation
