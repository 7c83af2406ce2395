#include "automation/types.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace warden::automation {
namespace {
namespace json = boost::json;

json::value good_dry_run() {
  return json::parse(R"({"ok": true, "severity": "warn", "idempotency_key": "k1",
    "preconditions": [{"check": "x", "ok": true}], "plan": [{"step": "s"}],
    "effects": [{"create": "a"}], "reason": "because"})");
}

TEST(AutomationTypes, ParsesTheStandardDryRunShape) {
  Result<DryRun> d = parse_dry_run(good_dry_run());
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  EXPECT_TRUE(d->ok);
  EXPECT_EQ(d->severity, Severity::kWarn);
  EXPECT_EQ(d->idempotency_key, "k1");
  EXPECT_EQ(d->effects.size(), 1u);
  EXPECT_EQ(d->reason, "because");
  EXPECT_EQ(json::value(dry_run_json(*d)), good_dry_run());
}

TEST(AutomationTypes, RejectsEveryDeviationFromTheDryRunShape) {
  auto code_of = [](json::value v) { return parse_dry_run(v).status().code(); };
  EXPECT_EQ(code_of(json::parse("[1]")), ErrorCode::AUTOMATION_DRIVER_BAD_ANSWER);
  json::value missing = good_dry_run();
  missing.as_object().erase("plan");
  EXPECT_EQ(code_of(missing), ErrorCode::AUTOMATION_DRIVER_BAD_ANSWER);
  EXPECT_NE(parse_dry_run(missing).status().message().find("plan"), std::string::npos);
  json::value extra = good_dry_run();
  extra.as_object()["surprise"] = 1;
  EXPECT_EQ(code_of(extra), ErrorCode::AUTOMATION_DRIVER_BAD_ANSWER);
  json::value wrong_type = good_dry_run();
  wrong_type.as_object()["effects"] = "none";
  EXPECT_EQ(code_of(wrong_type), ErrorCode::AUTOMATION_DRIVER_BAD_ANSWER);
  json::value bad_severity = good_dry_run();
  bad_severity.as_object()["severity"] = "fatal";
  EXPECT_EQ(code_of(bad_severity), ErrorCode::AUTOMATION_DRIVER_BAD_ANSWER);
  json::value disagree = good_dry_run();
  disagree.as_object()["severity"] = "error";  // ok: true with an error
  EXPECT_EQ(code_of(disagree), ErrorCode::AUTOMATION_DRIVER_BAD_ANSWER);
  disagree.as_object()["ok"] = false;
  EXPECT_TRUE(parse_dry_run(disagree).ok());
}

TEST(AutomationTypes, ParsesTheExecuteShape) {
  Result<ExecuteResult> r =
      parse_execute(json::parse(R"({"ok": false, "effects": [], "reason": "nope"})"));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->ok);
  EXPECT_EQ(r->reason, "nope");
  EXPECT_EQ(parse_execute(json::parse(R"({"ok": true, "effects": []})")).status().code(),
            ErrorCode::AUTOMATION_DRIVER_BAD_ANSWER);
  EXPECT_EQ(parse_execute(json::parse(R"({"ok": 1, "effects": [], "reason": ""})")).status().code(),
            ErrorCode::AUTOMATION_DRIVER_BAD_ANSWER);
}

TEST(AutomationTypes, FindsVerbsAndWritesJson) {
  HostInfo h;
  h.verbs.push_back(VerbInfo{"agent", "suspend", {}, true, "resume", {}});
  h.verbs.push_back(VerbInfo{"agent", "resume", {}, true, "suspend", {}});
  ASSERT_NE(h.find("agent", "resume"), nullptr);
  EXPECT_EQ(h.find("agent", "resume")->inverse_verb, "suspend");
  EXPECT_EQ(h.find("session", "resume"), nullptr);

  Event e{"0193a4f0-7c1e-7b3a-9d2e-5f1c0a9b8e7d",
          "decision.denied",
          "warden",
          "agent-1",
          1'767'225'600'500,
          json::object{{"amount", 5}}};
  const json::object ej = event_json(e);
  EXPECT_EQ(ej.at("subject"), "agent-1");
  EXPECT_EQ(ej.at("occurred_at"), "2026-01-01T00:00:00Z");
  EXPECT_EQ(ej.at("occurred_at_ms"), 1'767'225'600'500);
  EXPECT_EQ(ej.at("attributes").at("amount"), 5);

  InventoryItem item{"a1", "Agent one", "agent", {{"status", "ACTIVE"}}};
  EXPECT_EQ(json::value(inventory_item_json(item)),
            json::parse(R"({"id":"a1","name":"Agent one","kind":"agent",
                            "labels":{"status":"ACTIVE"}})"));
  ExecutionRecord r;
  r.outcome = "duplicate";
  r.started_at_ms = 7;
  EXPECT_EQ(execution_json(r).at("outcome"), "duplicate");
  EXPECT_EQ(execution_json(r).at("started_at_ms"), 7);
}

}  // namespace
}  // namespace warden::automation
