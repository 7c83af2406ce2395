#include "automation/spec.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "core/json.h"

namespace warden::automation {
namespace {

namespace json = boost::json;

json::value parse(std::string_view text) {
  auto v = parse_json(text);
  EXPECT_TRUE(v.ok()) << v.status().message();
  return v.ok() ? *v : json::value();
}

constexpr std::string_view kSpec = R"j({
  "name": "suspend on spend spike",
  "description": "suspend an agent that is denied for spending",
  "priority": 5,
  "trigger_group": {"logic": "ANY", "triggers": [
    {"kind": "event", "event": "decision.denied", "filter": "event.attributes.code == 'SPENDING_LIMIT'"},
    {"kind": "threshold", "event": "decision.denied", "measure": "sum:amount", "window": "60m", "above": 1000}
  ]},
  "conditions": ["now > timestamp('2020-01-01T00:00:00Z')"],
  "targets": [{"host": "warden", "selector": "{{event.subject}}"}],
  "actions": [{"host": "warden", "capability": "agent", "verb": "suspend",
               "params": {"agent_id": "{{event.subject}}", "reason": "spend spike"}}],
  "suppression_window": "300s",
  "idempotency_window": "1h"
})j";

// The same document with every object's keys in another order.
constexpr std::string_view kSpecReordered = R"j({
  "idempotency_window": "1h",
  "suppression_window": "300s",
  "actions": [{"params": {"reason": "spend spike", "agent_id": "{{event.subject}}"},
               "verb": "suspend", "capability": "agent", "host": "warden"}],
  "targets": [{"selector": "{{event.subject}}", "host": "warden"}],
  "conditions": ["now > timestamp('2020-01-01T00:00:00Z')"],
  "trigger_group": {"triggers": [
    {"filter": "event.attributes.code == 'SPENDING_LIMIT'", "event": "decision.denied", "kind": "event"},
    {"above": 1000, "window": "60m", "measure": "sum:amount", "event": "decision.denied", "kind": "threshold"}
  ], "logic": "ANY"},
  "priority": 5,
  "description": "suspend an agent that is denied for spending",
  "name": "suspend on spend spike"
})j";

std::vector<HostInfo> hosts() {
  HostInfo warden;
  warden.id = "warden";
  warden.name = "Warden";
  warden.builtin = true;
  VerbInfo suspend;
  suspend.capability = "agent";
  suspend.verb = "suspend";
  suspend.params_schema = parse(R"j({"type": "object", "required": ["agent_id"],
      "properties": {"agent_id": {"type": "string"}, "reason": {"type": "string"}},
      "additionalProperties": false})j")
                              .as_object();
  suspend.invertible = true;
  suspend.inverse_verb = "resume";
  warden.verbs.push_back(suspend);
  return {warden};
}

// A small schema check standing in for the drivers' validator: required keys, string types
// and no extra keys; enough to see what validate_spec does with its answers.
std::vector<Issue> small_validator(const json::object& schema, const json::object& params,
                                   const std::string& base) {
  std::vector<Issue> out;
  const json::object& props = schema.at("properties").as_object();
  for (const json::value& r : schema.at("required").as_array()) {
    if (!params.contains(r.as_string())) {
      out.push_back(
          {Severity::kError, base, "PARAM_MISSING", "missing " + std::string(r.as_string())});
    }
  }
  for (const auto& kv : params) {
    const json::value* p = props.if_contains(kv.key());
    if (p == nullptr) {
      out.push_back(
          {Severity::kError, base + "/" + std::string(kv.key()), "PARAM_UNKNOWN", "unknown"});
    } else if (p->at("type") == "integer" && !kv.value().is_int64()) {
      out.push_back(
          {Severity::kError, base + "/" + std::string(kv.key()), "PARAM_TYPE", "not an integer"});
    }
  }
  return out;
}

// The codes found at `pointer`.
std::vector<std::string> codes_at(const SpecCheck& c, std::string_view pointer) {
  std::vector<std::string> out;
  for (const Issue& i : c.issues) {
    if (i.pointer == pointer) out.push_back(i.code);
  }
  return out;
}

std::string dump(const SpecCheck& c) { return canonical_json(policy::issues_to_json(c.issues)); }

TEST(SpecTest, ValidSpecIsNormalizedAndHashed) {
  const std::vector<HostInfo> h = hosts();
  const SpecCheck c = validate_spec(parse(kSpec), &h, small_validator);
  EXPECT_TRUE(c.issues.empty()) << dump(c);
  EXPECT_FALSE(c.has_blocker());
  EXPECT_EQ(c.hash.size(), 64u);
  const json::object& n = c.normalized;
  EXPECT_EQ(n.at("enabled"), false);
  EXPECT_EQ(n.at("priority"), 5);
  EXPECT_EQ(n.at("suppression_window"), "5m");
  EXPECT_EQ(n.at("idempotency_window"), "1h");
  const json::array& triggers = n.at("trigger_group").at("triggers").as_array();
  EXPECT_EQ(triggers[1].at("window"), "1h");
  EXPECT_EQ(triggers[1].at("above"), 1000.0);
  EXPECT_EQ(triggers[1].at("group_by"), "subject");
  EXPECT_EQ(n.at("targets").at(0).at("dynamic_resolution"), false);
  // Normalizing is idempotent: the normalized form validates to itself and the same hash.
  const SpecCheck again = validate_spec(json::value(n), nullptr);
  EXPECT_TRUE(again.issues.empty()) << dump(again);
  EXPECT_EQ(canonical_json(again.normalized), canonical_json(n));
  EXPECT_EQ(again.hash, c.hash);
}

TEST(SpecTest, DefaultsForAMinimalSpec) {
  const SpecCheck c = validate_spec(parse(R"j({"name": "n",
      "trigger_group": {"triggers": [{"kind": "schedule", "cron": "0  9 * * MON", "time_zone": "Europe/Paris"}]},
      "targets": [{"host": "h", "selector": "b,a"}],
      "actions": [{"host": "h", "capability": "c", "verb": "v"}]})j"),
                                    nullptr);
  EXPECT_TRUE(c.issues.empty()) << dump(c);
  const json::object expected = parse(R"j({"name": "n", "description": "", "enabled": false,
      "priority": 0, "trigger_group": {"logic": "ANY", "triggers": [
        {"kind": "schedule", "cron": "0 9 * * MON", "time_zone": "Europe/Paris"}]},
      "conditions": [], "targets": [{"host": "h", "selector": "a,b", "dynamic_resolution": false}],
      "actions": [{"host": "h", "capability": "c", "verb": "v", "params": {}}],
      "suppression_window": null, "idempotency_window": null})j")
                                    .as_object();
  EXPECT_EQ(canonical_json(c.normalized), canonical_json(expected));
}

TEST(SpecTest, HashIgnoresKeyOrderAndRunsButNotContent) {
  const SpecCheck a = validate_spec(parse(kSpec), nullptr);
  const SpecCheck b = validate_spec(parse(kSpecReordered), nullptr);
  ASSERT_FALSE(a.hash.empty());
  EXPECT_EQ(a.hash, b.hash);
  EXPECT_EQ(canonical_json(a.normalized), canonical_json(b.normalized));
  for (int run = 0; run < 5; ++run) EXPECT_EQ(validate_spec(parse(kSpec), nullptr).hash, a.hash);
  // Toggling enabled keeps the identity; changing content does not.
  json::value enabled = parse(kSpec);
  enabled.as_object()["enabled"] = true;
  EXPECT_EQ(validate_spec(enabled, nullptr).hash, a.hash);
  json::value renamed = parse(kSpec);
  renamed.as_object()["name"] = "another";
  EXPECT_NE(validate_spec(renamed, nullptr).hash, a.hash);
  // Equal durations written differently hash the same.
  json::value minutes = parse(kSpec);
  minutes.as_object()["suppression_window"] = "5m";
  EXPECT_EQ(validate_spec(minutes, nullptr).hash, a.hash);
}

struct BlockerCase {
  std::string_view what;
  std::string_view pointer;
  std::string_view code;
  // Applied to a copy of kSpec.
  void (*edit)(json::object&);
};

json::object& trigger0(json::object& d) {
  return d["trigger_group"].as_object()["triggers"].as_array()[0].as_object();
}

TEST(SpecTest, EveryBlockerHasItsPointerAndCode) {
  const std::vector<BlockerCase> cases = {
      {"unknown root field", "/colour", "SPEC_UNKNOWN_FIELD",
       [](json::object& d) { d["colour"] = 1; }},
      {"escaped pointer", "/a~1b~0c", "SPEC_UNKNOWN_FIELD",
       [](json::object& d) { d["a/b~c"] = 1; }},
      {"unknown target field", "/targets/0/extra", "SPEC_UNKNOWN_FIELD",
       [](json::object& d) { d["targets"].as_array()[0].as_object()["extra"] = true; }},
      {"unknown trigger field", "/trigger_group/triggers/0/cron", "SPEC_UNKNOWN_FIELD",
       [](json::object& d) { trigger0(d)["cron"] = "* * * * *"; }},
      {"missing name", "/name", "SPEC_MISSING_FIELD", [](json::object& d) { d.erase("name"); }},
      {"empty name", "/name", "SPEC_VALUE_INVALID", [](json::object& d) { d["name"] = "  "; }},
      {"priority type", "/priority", "SPEC_WRONG_TYPE",
       [](json::object& d) { d["priority"] = "high"; }},
      {"enabled type", "/enabled", "SPEC_WRONG_TYPE",
       [](json::object& d) { d["enabled"] = "yes"; }},
      {"not an array", "/targets", "SPEC_WRONG_TYPE",
       [](json::object& d) { d["targets"] = json::object{}; }},
      {"no actions", "/actions", "LIST_EMPTY",
       [](json::object& d) { d["actions"] = json::array{}; }},
      {"no trigger group", "/trigger_group", "SPEC_MISSING_FIELD",
       [](json::object& d) { d.erase("trigger_group"); }},
      {"bad logic", "/trigger_group/logic", "SPEC_VALUE_INVALID",
       [](json::object& d) { d["trigger_group"].as_object()["logic"] = "SOME"; }},
      {"bad trigger kind", "/trigger_group/triggers/0/kind", "SPEC_VALUE_INVALID",
       [](json::object& d) { trigger0(d)["kind"] = "webhook"; }},
      {"bad event kind", "/trigger_group/triggers/0/event", "EVENT_KIND_INVALID",
       [](json::object& d) { trigger0(d)["event"] = "Decision..Denied"; }},
      {"bad filter", "/trigger_group/triggers/0/filter", "EXPRESSION_INVALID",
       [](json::object& d) { trigger0(d)["filter"] = "event.attributes.code =="; }},
      {"unknown variable", "/conditions/0", "EXPRESSION_INVALID",
       [](json::object& d) { d["conditions"] = json::array{"request.amount > 1"}; }},
      {"condition not a string", "/conditions/1", "SPEC_WRONG_TYPE",
       [](json::object& d) { d["conditions"].as_array().push_back(true); }},
      {"bad suppression window", "/suppression_window", "DURATION_INVALID",
       [](json::object& d) { d["suppression_window"] = "5 minutes"; }},
      {"calendar window", "/idempotency_window", "DURATION_INVALID",
       [](json::object& d) { d["idempotency_window"] = "day"; }},
      {"zero window", "/idempotency_window", "DURATION_INVALID",
       [](json::object& d) { d["idempotency_window"] = "0s"; }},
      {"bad threshold window", "/trigger_group/triggers/1/window", "DURATION_INVALID",
       [](json::object& d) {
         d["trigger_group"].as_object()["triggers"].as_array()[1].as_object()["window"] = "1w";
       }},
      {"bad measure", "/trigger_group/triggers/1/measure", "SPEC_VALUE_INVALID",
       [](json::object& d) {
         d["trigger_group"].as_object()["triggers"].as_array()[1].as_object()["measure"] = "avg";
       }},
      {"above not a number", "/trigger_group/triggers/1/above", "SPEC_WRONG_TYPE",
       [](json::object& d) {
         d["trigger_group"].as_object()["triggers"].as_array()[1].as_object()["above"] = "1k";
       }},
      {"bad cron", "/trigger_group/triggers/0/cron", "CRON_INVALID",
       [](json::object& d) {
         trigger0(d) =
             json::object{{"kind", "schedule"}, {"cron", "61 * * * *"}, {"time_zone", "UTC"}};
       }},
      {"bad zone", "/trigger_group/triggers/0/time_zone", "TIME_ZONE_UNKNOWN",
       [](json::object& d) {
         trigger0(d) =
             json::object{{"kind", "schedule"}, {"cron", "* * * * *"}, {"time_zone", "Moon/Base"}};
       }},
      {"missing cron", "/trigger_group/triggers/0/cron", "SPEC_MISSING_FIELD",
       [](json::object& d) {
         trigger0(d) = json::object{{"kind", "schedule"}, {"time_zone", "UTC"}};
       }},
      {"bad selector", "/targets/0/selector", "SELECTOR_INVALID",
       [](json::object& d) { d["targets"].as_array()[0].as_object()["selector"] = "x-[9-1]"; }},
      {"bad template", "/actions/0/params/reason", "TEMPLATE_INVALID",
       [](json::object& d) {
         d["actions"].as_array()[0].as_object()["params"].as_object()["reason"] =
             "{{event.secret}}";
       }},
      {"params not an object", "/actions/0/params", "SPEC_WRONG_TYPE",
       [](json::object& d) { d["actions"].as_array()[0].as_object()["params"] = json::array{}; }},
  };
  for (const BlockerCase& bc : cases) {
    json::value doc = parse(kSpec);
    bc.edit(doc.as_object());
    const SpecCheck c = validate_spec(doc, nullptr);
    EXPECT_TRUE(c.has_blocker()) << bc.what;
    EXPECT_TRUE(c.hash.empty()) << bc.what;
    const std::vector<std::string> codes = codes_at(c, bc.pointer);
    EXPECT_NE(std::find(codes.begin(), codes.end(), bc.code), codes.end())
        << bc.what << ": " << dump(c);
    for (const Issue& i : c.issues) {
      if (i.pointer == bc.pointer && i.code == bc.code) {
        EXPECT_EQ(i.severity, Severity::kBlocker);
      }
    }
  }
  EXPECT_EQ(codes_at(validate_spec(json::value(json::array{}), nullptr), ""),
            std::vector<std::string>{"SPEC_WRONG_TYPE"});
}

TEST(SpecTest, SeveralProblemsAreAllReportedInDocumentOrder) {
  const SpecCheck c = validate_spec(parse(R"j({"name": 3, "trigger_group": {"triggers": []},
      "targets": [{"host": "h", "selector": ""}], "actions": [], "idempotency_window": "x"})j"),
                                    nullptr);
  std::vector<std::string> pointers;
  for (const Issue& i : c.issues) pointers.push_back(i.pointer);
  EXPECT_EQ(pointers,
            (std::vector<std::string>{"/name", "/trigger_group/triggers", "/targets/0/selector",
                                      "/actions", "/idempotency_window"}))
      << dump(c);
}

TEST(SpecTest, ErrorsThatDoNotBlockSaving) {
  // A condition of another type than bool compiles but can never be true or false.
  json::value doc = parse(kSpec);
  doc.as_object()["conditions"] = json::array{"1 + 2"};
  SpecCheck c = validate_spec(doc, nullptr);
  EXPECT_FALSE(c.has_blocker());
  EXPECT_TRUE(c.has_error());
  EXPECT_EQ(codes_at(c, "/conditions/0"), std::vector<std::string>{"EXPRESSION_NOT_BOOL"});
  EXPECT_FALSE(c.hash.empty());
  // {{event.subject}} with only a schedule: there is no event to take it from.
  doc = parse(kSpec);
  doc.as_object()["trigger_group"] =
      parse(R"j({"triggers": [{"kind": "schedule", "cron": "0 * * * *", "time_zone": "UTC"}]})j");
  c = validate_spec(doc, nullptr);
  EXPECT_FALSE(c.has_blocker()) << dump(c);
  EXPECT_EQ(codes_at(c, "/targets/0/selector"), std::vector<std::string>{"SUBJECT_WITHOUT_EVENT"});
  EXPECT_EQ(codes_at(c, "/actions/0/params"), std::vector<std::string>{"SUBJECT_WITHOUT_EVENT"});
  // An action on a host no target names.
  doc = parse(kSpec);
  doc.as_object()["targets"].as_array()[0].as_object()["host"] = "other";
  c = validate_spec(doc, nullptr);
  EXPECT_EQ(codes_at(c, "/actions/0/host"), std::vector<std::string>{"ACTION_HOST_UNTARGETED"});
  EXPECT_EQ(c.issues.at(0).severity, Severity::kWarn);
  EXPECT_FALSE(c.has_error());
}

TEST(SpecTest, ActionsAreCheckedAgainstTheHosts) {
  const std::vector<HostInfo> h = hosts();
  // Unknown host.
  json::value doc = parse(kSpec);
  doc.as_object()["actions"].as_array()[0].as_object()["host"] = "nowhere";
  doc.as_object()["targets"].as_array()[0].as_object()["host"] = "nowhere";
  SpecCheck c = validate_spec(doc, &h, small_validator);
  EXPECT_EQ(codes_at(c, "/actions/0/host"), std::vector<std::string>{"ACTION_SCHEMA_MISMATCH"});
  EXPECT_EQ(codes_at(c, "/targets/0/host"), std::vector<std::string>{"HOST_UNKNOWN_TARGET"});
  EXPECT_TRUE(c.action_mismatch());
  EXPECT_FALSE(c.has_blocker());
  // Without hosts nothing is known about drivers: no such issue.
  EXPECT_FALSE(validate_spec(doc, nullptr).action_mismatch());
  // Unknown verb, unknown capability.
  doc = parse(kSpec);
  doc.as_object()["actions"].as_array()[0].as_object()["verb"] = "explode";
  c = validate_spec(doc, &h, small_validator);
  EXPECT_EQ(codes_at(c, "/actions/0/verb"), std::vector<std::string>{"VERB_UNKNOWN"});
  EXPECT_TRUE(c.action_mismatch());
  doc = parse(kSpec);
  doc.as_object()["actions"].as_array()[0].as_object()["capability"] = "moon";
  c = validate_spec(doc, &h, small_validator);
  EXPECT_EQ(codes_at(c, "/actions/0/capability"), std::vector<std::string>{"VERB_UNKNOWN"});
  // Params that do not match the schema; an error, reported with the validator's pointer.
  doc = parse(kSpec);
  json::object& params = doc.as_object()["actions"].as_array()[0].as_object()["params"].as_object();
  params.erase("agent_id");
  params["colour"] = "red";
  c = validate_spec(doc, &h, small_validator);
  EXPECT_EQ(codes_at(c, "/actions/0/params"), std::vector<std::string>{"ACTION_SCHEMA_MISMATCH"});
  EXPECT_EQ(codes_at(c, "/actions/0/params/colour"),
            std::vector<std::string>{"ACTION_SCHEMA_MISMATCH"});
  EXPECT_EQ(c.issues.at(0).severity, Severity::kError);
  EXPECT_NE(c.issues.at(0).message.find("PARAM_MISSING"), std::string::npos);
  EXPECT_TRUE(c.action_mismatch());
  // Without a validator only existence is checked.
  EXPECT_FALSE(validate_spec(doc, &h).action_mismatch());
}

TEST(SpecTest, TemplatedParamsAreNotTypeChecked) {
  std::vector<HostInfo> h = hosts();
  h[0].verbs[0].params_schema["properties"].as_object()["agent_id"] =
      json::object{{"type", "integer"}};
  json::value doc = parse(kSpec);
  // "{{event.subject}}" is a string now, whatever it becomes at execute time.
  SpecCheck c = validate_spec(doc, &h, small_validator);
  EXPECT_FALSE(c.action_mismatch()) << dump(c);
  doc.as_object()["actions"].as_array()[0].as_object()["params"].as_object()["agent_id"] = "7";
  c = validate_spec(doc, &h, small_validator);
  EXPECT_EQ(codes_at(c, "/actions/0/params/agent_id"),
            std::vector<std::string>{"ACTION_SCHEMA_MISMATCH"});
}

TEST(SpecTest, DurationsAndEventKinds) {
  EXPECT_EQ(*parse_duration_ms("30s"), 30'000);
  EXPECT_EQ(*parse_duration_ms("5m"), 300'000);
  EXPECT_EQ(*parse_duration_ms("1h"), 3'600'000);
  EXPECT_EQ(*parse_duration_ms("1d"), 86'400'000);
  for (std::string_view bad : {"", "5", "m", "05m", "-5m", "5M", "5 m", "1w", "week", "0s"}) {
    EXPECT_FALSE(parse_duration_ms(bad).ok()) << bad;
  }
  EXPECT_EQ(duration_text(90'000), "90s");
  EXPECT_EQ(duration_text(7'200'000), "2h");
  EXPECT_EQ(duration_text(172'800'000), "2d");
  EXPECT_TRUE(valid_event_kind("decision.denied"));
  EXPECT_TRUE(valid_event_kind("budget.exceeded_2"));
  for (std::string_view bad : {"", "Decision", "a..b", ".a", "a.", "a.1b", "a-b", "a b"}) {
    EXPECT_FALSE(valid_event_kind(bad)) << bad;
  }
  EXPECT_FALSE(valid_event_kind(std::string(kEventKindBytesMax + 1, 'a')));
}

}  // namespace
}  // namespace warden::automation

namespace warden::automation {
namespace {

std::string read_doc(const std::string& name) {
  std::ifstream in(std::string(WARDEN_SOURCE_DIR) + "/docs/" + name);
  EXPECT_TRUE(in.good()) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::set<std::string> keys(const json::object& o) {
  std::set<std::string> out;
  for (const auto& kv : o) out.emplace(kv.key());
  return out;
}

// The JSON Schema and the page's example describe what validate_spec accepts.
TEST(SpecDocsTest, SchemaAndExampleMatchTheValidator) {
  auto schema = parse_json(read_doc("automation-spec.schema.json"));
  ASSERT_TRUE(schema.ok()) << schema.status().message();
  const json::object& s = schema->as_object();
  json::value all_fields = parse(kSpec);
  all_fields.as_object()["enabled"] = true;
  EXPECT_TRUE(validate_spec(all_fields, nullptr).issues.empty());
  EXPECT_EQ(keys(s.at("properties").as_object()), keys(all_fields.as_object()));
  const json::object& defs = s.at("$defs").as_object();
  const std::vector<std::pair<std::string, std::string>> triggers = {
      {"event_trigger", R"j({"kind": "event", "event": "a.b", "filter": "true"})j"},
      {"schedule_trigger", R"j({"kind": "schedule", "cron": "* * * * *", "time_zone": "UTC"})j"},
      {"threshold_trigger", R"j({"kind": "threshold", "event": "a", "measure": "count",
          "window": "1m", "above": 1, "group_by": "source"})j"}};
  for (const auto& [def, trigger] : triggers) {
    EXPECT_EQ(keys(defs.at(def).at("properties").as_object()), keys(parse(trigger).as_object()))
        << def;
    json::value doc = parse(kSpec);
    doc.as_object()["trigger_group"].as_object()["triggers"] = json::array{parse(trigger)};
    const SpecCheck c = validate_spec(doc, nullptr);
    EXPECT_FALSE(c.has_blocker()) << def << ": " << dump(c);
  }
  // The first example of docs/automation.md is a valid spec.
  const std::string page = read_doc("automation.md");
  const auto begin = page.find("```json\n");
  ASSERT_NE(begin, std::string::npos);
  const auto end = page.find("```", begin + 8);
  const auto example = parse_json(page.substr(begin + 8, end - begin - 8));
  ASSERT_TRUE(example.ok()) << example.status().message();
  const SpecCheck c = validate_spec(*example, nullptr);
  EXPECT_TRUE(c.issues.empty()) << dump(c);
}

}  // namespace
}  // namespace warden::automation
