// Automations over HTTP against a real daemon: validation with severities and pointers, the
// save refusals (400 / 409 / 422), CRUD, the enable gate, dry-run transcripts, executions and
// their pages, hosts and inventory, posted events (validated, durable before the answer), the
// inverse, and the whole loop: an agent that hits its rate limit is suspended by an automation
// and resumed by that automation's inverse.
#include <sqlite3.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <thread>

#include "support/fixture.h"

namespace warden::testing {
namespace {

namespace json = boost::json;

const std::regex kUuid("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
const std::regex kSha256Hex("^[0-9a-f]{64}$");
constexpr const char* kUnknownId = "01900000-0000-7000-8000-000000000000";
constexpr auto kEngineWaitMax = std::chrono::seconds(10);

// A spec acting on event `kind`: suspend the event's subject on the built-in host.
json::object suspend_spec(const std::string& name, const std::string& kind = "decision.denied") {
  return json::object{
      {"name", name},
      {"trigger_group",
       json::object{{"triggers", json::array{json::object{{"kind", "event"}, {"event", kind}}}}}},
      {"targets", json::array{json::object{{"host", "warden"}, {"selector", "{{event.subject}}"}}}},
      {"actions", json::array{json::object{{"host", "warden"},
                                           {"capability", "agent"},
                                           {"verb", "suspend"},
                                           {"params", json::object{{"reason", "limit hit"}}}}}}};
}

std::string body(const json::object& o) { return json::serialize(o); }

// A copy of v[key] as an array (empty when it is not one), safe to loop over.
json::array array_at(const json::value& v, std::string_view key) {
  const json::value f = field(v, key);
  return f.is_array() ? f.as_array() : json::array();
}

// The issue of `issues` at `pointer`, or null.
json::value issue_at(const json::value& issues, const std::string& pointer) {
  if (!issues.is_array()) return nullptr;
  for (const auto& i : issues.as_array()) {
    if (str_at(i, "pointer") == pointer) return i;
  }
  return nullptr;
}

class AutomationTest : public WardenTest {
 protected:
  void SetUp() override {
    warden_ = std::make_unique<WardenProcess>(
        WardenOptions{{}, "", {{"WARDEN_AUTOMATION_WEBHOOK_SECRET", "whsec-automation-test-1"}}});
    ASSERT_TRUE(warden_->started()) << warden_->error();
    client_ = std::make_unique<HttpClient>(warden_->port());
  }

  // Saves a spec; returns the automation's id ("" after recording a failure).
  std::string save(const json::object& spec) {
    Response r = master("POST", "/v1/automations", body(spec));
    EXPECT_EQ(r.status, 201) << r.describe();
    return str_at(r.json(), "id");
  }
  Response dry_run(const std::string& id, const std::string& subject,
                   const std::string& kind = "decision.denied") {
    json::object event{{"kind", kind}, {"subject", subject}};
    return master("POST", "/v1/automations/" + id + "/dry-run",
                  body(json::object{{"event", event}}));
  }
  std::string agent_status(const std::string& agent_id) {
    return str_at(master("GET", "/v1/agents/" + agent_id).json(), "status");
  }
  // Waits (bounded) until the agent has `status`; the engine acts after the event is answered.
  bool wait_status(const std::string& agent_id, const std::string& status) {
    const auto deadline = std::chrono::steady_clock::now() + kEngineWaitMax;
    while (std::chrono::steady_clock::now() < deadline) {
      if (agent_status(agent_id) == status) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return agent_status(agent_id) == status;
  }
  json::value executions(const std::string& id, const std::string& query = "") {
    Response r = master("GET", "/v1/automations/" + id + "/executions" + query);
    EXPECT_EQ(r.status, 200) << r.describe();
    return r.json();
  }
  Response decide(const std::string& token) {
    return client_->request("POST", "/v1/decisions",
                            R"({"action":"llm.call","attributes":{},"amounts":{}})",
                            bearer_headers(token));
  }
};

TEST_F(AutomationTest, ValidateListsIssuesWithSeveritiesAndPointersAndSavesNothing) {
  json::object spec = suspend_spec("bad cron");
  spec["trigger_group"] = json::object{
      {"triggers", json::array{json::object{
                       {"kind", "schedule"}, {"cron", "61 * * * *"}, {"time_zone", "UTC"}}}}};
  spec["bogus"] = true;
  Response r = master("POST", "/v1/automations/validate", body(spec));
  ASSERT_EQ(r.status, 200) << r.describe();
  const json::value v = r.json();
  EXPECT_EQ(field(v, "ok"), json::value(false));
  EXPECT_TRUE(field(v, "hash").is_null());
  const json::value cron = issue_at(field(v, "issues"), "/trigger_group/triggers/0/cron");
  ASSERT_TRUE(cron.is_object()) << r.body;
  EXPECT_EQ(str_at(cron, "severity"), "blocker");
  EXPECT_EQ(str_at(cron, "code"), "CRON_INVALID");
  const json::value unknown = issue_at(field(v, "issues"), "/bogus");
  ASSERT_TRUE(unknown.is_object()) << r.body;
  EXPECT_EQ(str_at(unknown, "severity"), "blocker");
  EXPECT_EQ(str_at(unknown, "code"), "SPEC_UNKNOWN_FIELD");

  // No blocker: ok, with a hash; an error (a schedule has no event subject) and a warning (an
  // action on a host no target names) still come with their pointers.
  json::object lesser = suspend_spec("lesser issues");
  lesser["trigger_group"] = json::object{
      {"triggers", json::array{json::object{
                       {"kind", "schedule"}, {"cron", "0 9 * * 1"}, {"time_zone", "Asia/Seoul"}}}}};
  lesser["actions"].as_array().push_back(
      json::object{{"host", "webhook"},
                   {"capability", "http"},
                   {"verb", "post"},
                   {"params", json::object{{"url", "http://127.0.0.1:9/hook"}}}});
  Response good = master("POST", "/v1/automations/validate", body(lesser));
  ASSERT_EQ(good.status, 200) << good.describe();
  EXPECT_EQ(field(good.json(), "ok"), json::value(true)) << good.body;
  EXPECT_TRUE(std::regex_match(str_at(good.json(), "hash"), kSha256Hex)) << good.body;
  const json::value subject = issue_at(field(good.json(), "issues"), "/targets/0/selector");
  ASSERT_TRUE(subject.is_object()) << good.body;
  EXPECT_EQ(str_at(subject, "severity"), "error");
  EXPECT_EQ(str_at(subject, "code"), "SUBJECT_WITHOUT_EVENT");
  const json::value untargeted = issue_at(field(good.json(), "issues"), "/actions/1/host");
  ASSERT_TRUE(untargeted.is_object()) << good.body;
  EXPECT_EQ(str_at(untargeted, "severity"), "warn");
  EXPECT_EQ(str_at(untargeted, "code"), "ACTION_HOST_UNTARGETED");

  auto listed = list_all(*client_, "/v1/automations");
  ASSERT_TRUE(listed.has_value());
  EXPECT_TRUE(listed->empty());
  auto validated = audit_all(*client_, "event_type=AUTOMATION_VALIDATED");
  ASSERT_TRUE(validated.has_value());
  EXPECT_EQ(validated->size(), 2u);
}

TEST_F(AutomationTest, SaveRefusesBlockersDuplicatesAndMismatchedActions) {
  json::object blocked = suspend_spec("blocked");
  blocked["suppression_window"] = "5 minutes";
  Response r400 = master("POST", "/v1/automations", body(blocked));
  EXPECT_EQ(r400.status, 400) << r400.describe();
  EXPECT_EQ(r400.error_code(), "AUTOMATION_INVALID");
  const json::value pointer_issue =
      issue_at(field(error_field(r400, "details"), "issues"), "/suppression_window");
  ASSERT_TRUE(pointer_issue.is_object()) << r400.body;
  EXPECT_EQ(str_at(pointer_issue, "code"), "DURATION_INVALID");

  const std::string first = save(suspend_spec("once"));
  ASSERT_FALSE(first.empty());
  Response r409 = master("POST", "/v1/automations", body(suspend_spec("once")));
  EXPECT_EQ(r409.status, 409) << r409.describe();
  EXPECT_EQ(r409.error_code(), "AUTOMATION_DUPLICATE");
  EXPECT_EQ(str_at(error_field(r409, "details"), "existing_id"), first);

  json::object mismatched = suspend_spec("explode");
  mismatched["actions"].as_array()[0].as_object()["verb"] = "explode";
  Response r422 = master("POST", "/v1/automations", body(mismatched));
  EXPECT_EQ(r422.status, 422) << r422.describe();
  EXPECT_EQ(r422.error_code(), "AUTOMATION_ACTION_INVALID");
  const json::value verb = issue_at(field(error_field(r422, "details"), "issues"), "/actions/0");
  const json::value verb_field =
      issue_at(field(error_field(r422, "details"), "issues"), "/actions/0/verb");
  EXPECT_TRUE(verb.is_object() || verb_field.is_object()) << r422.body;

  json::object bad_params = suspend_spec("bad params");
  bad_params["actions"].as_array()[0].as_object()["params"] = json::object{{"color", "red"}};
  Response params422 = master("POST", "/v1/automations", body(bad_params));
  EXPECT_EQ(params422.status, 422) << params422.describe();
  EXPECT_EQ(params422.error_code(), "AUTOMATION_ACTION_INVALID");

  json::object enabled = suspend_spec("enabled at once");
  enabled["enabled"] = true;
  Response r409e = master("POST", "/v1/automations", body(enabled));
  EXPECT_EQ(r409e.status, 409) << r409e.describe();
  EXPECT_EQ(r409e.error_code(), "AUTOMATION_ENABLE_BLOCKED");

  auto listed = list_all(*client_, "/v1/automations");
  ASSERT_TRUE(listed.has_value());
  EXPECT_EQ(listed->size(), 1u);
}

TEST_F(AutomationTest, CrudKeepsVersionHashAndDropsTheDryRunOfAChangedSpec) {
  Response created = master("POST", "/v1/automations", body(suspend_spec("crud")));
  ASSERT_EQ(created.status, 201) << created.describe();
  const json::value a = created.json();
  const std::string id = str_at(a, "id");
  EXPECT_TRUE(std::regex_match(id, kUuid));
  EXPECT_EQ(str_at(a, "name"), "crud");
  EXPECT_EQ(int_at(a, "version"), 1);
  EXPECT_EQ(field(a, "enabled"), json::value(false));
  EXPECT_TRUE(std::regex_match(str_at(a, "hash"), kSha256Hex));
  EXPECT_EQ(str_at(field(a, "ir"), "hash"), str_at(a, "hash")) << created.body;
  EXPECT_EQ(field(field(a, "last_validation"), "ok"), json::value(true));
  EXPECT_TRUE(field(a, "last_dry_run").is_null());
  EXPECT_EQ(str_at(field(a, "spec"), "name"), "crud");

  const std::string agent = new_agent("crud-bot");
  ASSERT_EQ(dry_run(id, agent).status, 200);
  Response got = master("GET", "/v1/automations/" + id);
  ASSERT_EQ(got.status, 200) << got.describe();
  EXPECT_TRUE(field(got.json(), "last_dry_run").is_object()) << got.body;

  json::object changed = suspend_spec("crud");
  changed["priority"] = 7;
  Response updated = master("PUT", "/v1/automations/" + id, body(changed));
  ASSERT_EQ(updated.status, 200) << updated.describe();
  EXPECT_EQ(int_at(updated.json(), "version"), 2);
  EXPECT_EQ(int_at(updated.json(), "priority"), 7);
  EXPECT_NE(str_at(updated.json(), "hash"), str_at(a, "hash"));
  EXPECT_TRUE(field(updated.json(), "last_dry_run").is_null()) << updated.body;

  Response missing = master("PUT", std::string("/v1/automations/") + kUnknownId, body(changed));
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.error_code(), "AUTOMATION_NOT_FOUND");

  Response deleted = master("DELETE", "/v1/automations/" + id);
  EXPECT_EQ(deleted.status, 204) << deleted.describe();
  Response gone = master("GET", "/v1/automations/" + id);
  EXPECT_EQ(gone.status, 404);
  EXPECT_EQ(gone.error_code(), "AUTOMATION_NOT_FOUND");
  for (const char* type :
       {"AUTOMATION_CREATED", "AUTOMATION_UPDATED", "AUTOMATION_DELETED", "AUTOMATION_DRY_RUN"}) {
    auto rows = audit_all(*client_, std::string("event_type=") + type);
    ASSERT_TRUE(rows.has_value());
    EXPECT_EQ(rows->size(), 1u) << type;
  }
}

TEST_F(AutomationTest, EnableWaitsForACleanDryRunWhoseTranscriptHasItsShape) {
  const std::string id = save(suspend_spec("gated"));
  ASSERT_FALSE(id.empty());
  Response before = master("POST", "/v1/automations/" + id + "/enable");
  EXPECT_EQ(before.status, 409) << before.describe();
  EXPECT_EQ(before.error_code(), "AUTOMATION_ENABLE_BLOCKED");

  // A terminated agent cannot be suspended: the driver's dry-run is an error, and enable stays
  // refused.
  const std::string gone = new_agent("terminated-bot");
  ASSERT_EQ(master("DELETE", "/v1/agents/" + gone).status, 204);
  Response failing = dry_run(id, gone);
  ASSERT_EQ(failing.status, 200) << failing.describe();
  EXPECT_EQ(str_at(failing.json(), "severity"), "error") << failing.body;
  Response still = master("POST", "/v1/automations/" + id + "/enable");
  EXPECT_EQ(still.status, 409) << still.describe();
  EXPECT_EQ(str_at(error_field(still, "details"), "severity"), "error");

  const std::string agent = new_agent("gated-bot");
  Response clean = dry_run(id, agent);
  ASSERT_EQ(clean.status, 200) << clean.describe();
  const json::value t = clean.json();
  EXPECT_TRUE(std::regex_match(str_at(t, "transcript_id"), kUuid)) << clean.body;
  EXPECT_EQ(str_at(t, "severity"), "info") << clean.body;
  const json::value warden_inventory = field(field(t, "used_inventory"), "warden");
  ASSERT_TRUE(warden_inventory.is_object()) << clean.body;
  EXPECT_NE(at(warden_inventory, "refreshed_at"), nullptr);
  EXPECT_EQ(field(warden_inventory, "stale"), json::value(false));
  const json::value rows = field(t, "rows");
  ASSERT_TRUE(rows.is_array()) << clean.body;
  ASSERT_EQ(rows.as_array().size(), 1u);
  const json::value row = rows.as_array()[0];
  EXPECT_EQ(str_at(row, "severity"), "info");
  EXPECT_NE(at(row, "action"), nullptr);
  EXPECT_NE(clean.body.find(agent), std::string::npos) << "the row names its target";
  const json::value answer = field(row, "dry_run");
  ASSERT_TRUE(answer.is_object()) << clean.body;
  EXPECT_EQ(field(answer, "ok"), json::value(true));
  EXPECT_EQ(array_at(answer, "effects").size(), 1u);
  for (const char* key : {"severity", "idempotency_key", "preconditions", "plan", "reason"}) {
    EXPECT_NE(at(answer, key), nullptr) << key;
  }
  EXPECT_EQ(agent_status(agent), "ACTIVE") << "a dry-run changes nothing";

  Response enabled = master("POST", "/v1/automations/" + id + "/enable");
  ASSERT_EQ(enabled.status, 200) << enabled.describe();
  EXPECT_EQ(field(enabled.json(), "enabled"), json::value(true));
  Response disabled = master("POST", "/v1/automations/" + id + "/disable");
  ASSERT_EQ(disabled.status, 200) << disabled.describe();
  EXPECT_EQ(field(disabled.json(), "enabled"), json::value(false));
}

TEST_F(AutomationTest, HostsCapabilitiesAndInventoryWithRefreshAndSearch) {
  Response hosts = master("GET", "/v1/hosts");
  ASSERT_EQ(hosts.status, 200) << hosts.describe();
  std::vector<std::string> ids;
  for (const auto& h : array_at(hosts.json(), "items")) ids.push_back(str_at(h, "id"));
  EXPECT_EQ(ids, (std::vector<std::string>{"warden", "webhook"}));

  Response caps = master("GET", "/v1/hosts/warden/capabilities");
  ASSERT_EQ(caps.status, 200) << caps.describe();
  bool suspend_seen = false;
  for (const auto& c : array_at(caps.json(), "capabilities")) {
    if (str_at(c, "name") != "agent") continue;
    for (const auto& v : array_at(c, "verbs")) {
      if (str_at(v, "name") != "suspend") continue;
      suspend_seen = true;
      EXPECT_EQ(field(v, "invertible"), json::value(true));
      EXPECT_EQ(str_at(v, "inverse"), "resume");
      EXPECT_TRUE(field(v, "params").is_object());
    }
  }
  EXPECT_TRUE(suspend_seen) << caps.body;

  const std::string alpha = new_agent("alpha-1");
  new_agent("beta-1");
  Response before = master("GET", "/v1/hosts/warden/inventory?q=alpha");
  ASSERT_EQ(before.status, 200) << before.describe();
  EXPECT_TRUE(array_at(before.json(), "items").empty()) << "not refreshed yet";

  Response full = master("GET", "/v1/hosts/warden/inventory?refresh=full");
  ASSERT_EQ(full.status, 200) << full.describe();
  EXPECT_EQ(field(full.json(), "full"), json::value(true));
  EXPECT_EQ(field(full.json(), "stale"), json::value(false));
  EXPECT_GT(int_at(full.json(), "refreshed_at_ms").value_or(0), 0);
  EXPECT_EQ(array_at(full.json(), "items").size(), 2u) << full.body;

  Response searched = master("GET", "/v1/hosts/warden/inventory?refresh=fast&q=name:alpha*");
  ASSERT_EQ(searched.status, 200) << searched.describe();
  EXPECT_EQ(field(searched.json(), "full"), json::value(false));
  const auto& items = array_at(searched.json(), "items");
  ASSERT_EQ(items.size(), 1u) << searched.body;
  EXPECT_EQ(str_at(items[0], "id"), alpha);
  EXPECT_EQ(str_at(items[0], "kind"), "agent");
  EXPECT_EQ(str_at(field(items[0], "labels"), "status"), "ACTIVE");

  Response label = master("GET", "/v1/hosts/warden/inventory?q=label:status=SUSPENDED");
  ASSERT_EQ(label.status, 200);
  EXPECT_TRUE(array_at(label.json(), "items").empty());

  Response bad = master("GET", "/v1/hosts/warden/inventory?refresh=sometimes");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.error_code(), "VALIDATION_INVALID_VALUE");
  for (const char* path : {"/v1/hosts/nowhere/capabilities", "/v1/hosts/nowhere/inventory"}) {
    Response unknown = master("GET", path);
    EXPECT_EQ(unknown.status, 404) << path;
    EXPECT_EQ(unknown.error_code(), "AUTOMATION_HOST_NOT_FOUND") << path;
  }
}

TEST_F(AutomationTest, PostedEventsAreValidatedAndDurableBeforeTheAnswer) {
  for (const char* bad :
       {R"({"kind":"Not A Kind"})", R"({"kind":"deploy.done","extra":1})", R"({"subject":"x"})",
        R"({"kind":"deploy.done","source":"warden"})", R"([1,2])"}) {
    Response r = master("POST", "/v1/events", bad);
    EXPECT_EQ(r.status, 400) << bad << " " << r.describe();
    EXPECT_EQ(r.error_code(), "EVENT_INVALID") << bad;
  }
  Response ok = master("POST", "/v1/events",
                       R"({"kind":"deploy.finished","subject":"svc-7","attributes":{"n":3}})");
  ASSERT_EQ(ok.status, 202) << ok.describe();
  const std::string id = str_at(ok.json(), "id");
  EXPECT_TRUE(std::regex_match(id, kUuid));
  EXPECT_EQ(str_at(ok.json(), "source"), "api");
  EXPECT_EQ(str_at(ok.json(), "subject"), "svc-7");

  // An agent's events are from and about itself; Warden's kinds are not its to post.
  const std::string agent = new_agent("poster");
  const std::string token = str_at(new_session(agent), "token");
  Response own =
      client_->request("POST", "/v1/events", R"({"kind":"agent.note"})", bearer_headers(token));
  ASSERT_EQ(own.status, 202) << own.describe();
  EXPECT_EQ(str_at(own.json(), "subject"), agent);
  EXPECT_EQ(str_at(own.json(), "source"), "agent:" + agent);
  Response other =
      client_->request("POST", "/v1/events", R"({"kind":"agent.note","subject":"someone-else"})",
                       bearer_headers(token));
  EXPECT_EQ(other.status, 403) << other.describe();
  EXPECT_EQ(other.error_code(), "AUTH_FORBIDDEN");
  Response reserved = client_->request("POST", "/v1/events", R"({"kind":"decision.denied"})",
                                       bearer_headers(token));
  EXPECT_EQ(reserved.status, 403) << reserved.describe();

  // Answered means committed: killed at once, the event is in the database.
  warden_->kill9();
  ASSERT_TRUE(warden_->wait_exit(10000).has_value());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(warden_->database_path().c_str(), &db, SQLITE_OPEN_READONLY, nullptr),
            SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(
      sqlite3_prepare_v2(db, "SELECT kind, subject FROM events WHERE id = ?", -1, &st, nullptr),
      SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_bind_text(st, 1, id.c_str(), -1, SQLITE_TRANSIENT);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "deploy.finished");
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 1)), "svc-7");
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST_F(AutomationTest, ExecutionsAreRecordedPerTargetAndPaged) {
  const std::string a = new_agent("page-a"), b = new_agent("page-b"), c = new_agent("page-c");
  json::object spec = suspend_spec("freeze all", "ops.freeze");
  spec["targets"] =
      json::array{json::object{{"host", "warden"}, {"selector", a + "," + b + "," + c}}};
  const std::string id = save(spec);
  ASSERT_FALSE(id.empty());
  const Response dry1 = dry_run(id, "", "ops.freeze");
  ASSERT_EQ(str_at(dry1.json(), "severity"), "info") << dry1.body;
  ASSERT_EQ(master("POST", "/v1/automations/" + id + "/enable").status, 200);
  ASSERT_EQ(master("POST", "/v1/events", R"({"kind":"ops.freeze"})").status, 202);
  for (const auto& agent : {a, b, c}) EXPECT_TRUE(wait_status(agent, "SUSPENDED")) << agent;

  // The record is written after the action; wait for all three.
  const auto deadline = std::chrono::steady_clock::now() + kEngineWaitMax;
  while (std::chrono::steady_clock::now() < deadline &&
         array_at(executions(id), "items").size() < 3) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const json::value page1 = executions(id, "?limit=2");
  ASSERT_EQ(array_at(page1, "items").size(), 2u) << json::serialize(page1);
  const std::string cursor = str_at(page1, "next_cursor");
  ASSERT_FALSE(cursor.empty()) << json::serialize(page1);
  const json::value page2 = executions(id, "?limit=2&cursor=" + cursor);
  ASSERT_EQ(array_at(page2, "items").size(), 1u) << json::serialize(page2);
  EXPECT_TRUE(field(page2, "next_cursor").is_null());
  std::set<std::string> targets;
  for (const auto* page : {&page1, &page2}) {
    for (const auto& e : array_at(*page, "items")) {
      targets.insert(str_at(e, "target_id"));
      EXPECT_EQ(str_at(e, "outcome"), "succeeded") << json::serialize(e);
      EXPECT_EQ(str_at(e, "verb"), "suspend");
      EXPECT_EQ(str_at(e, "automation_id"), id);
      EXPECT_FALSE(str_at(e, "idempotency_key").empty());
    }
  }
  EXPECT_EQ(targets, (std::set<std::string>{a, b, c}));
  Response bad_cursor = master("GET", "/v1/automations/" + id + "/executions?cursor=nope");
  EXPECT_EQ(bad_cursor.status, 400);
  Response unknown = master("GET", std::string("/v1/automations/") + kUnknownId + "/executions");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.error_code(), "AUTOMATION_NOT_FOUND");
}

// An org admin's automation is its org's: other orgs do not see it, it acts only through the
// built-in host, hears only events about its org's agents and touches only those agents.
TEST_F(AutomationTest, AnOrgsAutomationSeesHearsAndActsOnItsOrgOnly) {
  auto org = [&](const std::string& name) {
    return str_at(master("POST", "/v1/orgs", body(json::object{{"name", name}})).json(), "id");
  };
  auto agent_in = [&](const std::string& name, const std::string& org_id) {
    return str_at(master("POST", "/v1/agents", body(json::object{{"name", name}, {"org", org_id}}))
                      .json(),
                  "id");
  };
  auto admin_key = [&](const std::string& org_id) {
    return str_at(master("POST", "/v1/orgs/" + org_id + "/admin-keys", R"({"name":"ops"})").json(),
                  "key");
  };
  const std::string oa = org("A"), ob = org("B");
  const std::string a1 = agent_in("a1", oa), b1 = agent_in("b1", ob), n1 = new_agent("n1");
  const std::string key_a = admin_key(oa), key_b = admin_key(ob);
  auto as = [&](const std::string& key, const std::string& method, const std::string& target,
                const std::string& payload = {}) {
    return client_->request(method, target, payload, bearer_headers(key));
  };

  json::object spec = suspend_spec("org freeze", "ops.freeze");
  spec["targets"] =
      json::array{json::object{{"host", "warden"}, {"selector", a1 + "," + b1 + "," + n1}}};
  json::object hooked = spec;
  hooked["name"] = "org hook";
  hooked["targets"] = json::array{json::object{{"host", "webhook"}, {"selector", "webhook"}}};
  hooked["actions"] = json::array{json::object{
      {"host", "webhook"},
      {"capability", "http"},
      {"verb", "post"},
      {"params", json::object{{"url", "http://127.0.0.1:9/hook"}}}}};
  Response refused = as(key_a, "POST", "/v1/automations", body(hooked));
  EXPECT_EQ(refused.status, 403) << refused.describe();
  EXPECT_EQ(refused.error_code(), "AUTH_FORBIDDEN");

  Response created = as(key_a, "POST", "/v1/automations", body(spec));
  ASSERT_EQ(created.status, 201) << created.describe();
  const std::string id = str_at(created.json(), "id");
  EXPECT_EQ(str_at(created.json(), "org"), oa);
  EXPECT_EQ(as(key_b, "GET", "/v1/automations/" + id).error_code(), "AUTOMATION_NOT_FOUND");
  EXPECT_EQ(as(key_b, "POST", "/v1/automations/" + id + "/enable").error_code(),
            "AUTOMATION_NOT_FOUND");
  EXPECT_EQ(as(key_b, "DELETE", "/v1/automations/" + id).error_code(), "AUTOMATION_NOT_FOUND");
  EXPECT_TRUE(array_at(as(key_b, "GET", "/v1/automations").json(), "items").empty());
  const std::string operators = save(suspend_spec("operator's own", "ops.other"));
  const json::array own = array_at(as(key_a, "GET", "/v1/automations").json(), "items");
  ASSERT_EQ(own.size(), 1u) << json::serialize(own);
  EXPECT_EQ(str_at(own[0], "id"), id);
  EXPECT_EQ(as(key_a, "GET", "/v1/automations/" + operators).error_code(), "AUTOMATION_NOT_FOUND");

  // Its dry-run plans for its own agent only, then it is enabled.
  Response dry = as(key_a, "POST", "/v1/automations/" + id + "/dry-run",
                    body(json::object{{"event", json::object{{"kind", "ops.freeze"},
                                                             {"subject", a1}}}}));
  ASSERT_EQ(dry.status, 200) << dry.describe();
  EXPECT_EQ(dry.body.find(b1), std::string::npos) << dry.body;
  EXPECT_EQ(dry.body.find(n1), std::string::npos) << dry.body;
  ASSERT_EQ(as(key_a, "POST", "/v1/automations/" + id + "/enable").status, 200);

  // An event about another org's agent: nothing happens.
  ASSERT_EQ(master("POST", "/v1/events", body(json::object{{"kind", "ops.freeze"},
                                                          {"subject", b1}}))
                .status,
            202);
  // One about its own agent: only that agent is suspended.
  ASSERT_EQ(master("POST", "/v1/events", body(json::object{{"kind", "ops.freeze"},
                                                          {"subject", a1}}))
                .status,
            202);
  EXPECT_TRUE(wait_status(a1, "SUSPENDED"));
  const auto deadline = std::chrono::steady_clock::now() + kEngineWaitMax;
  while (std::chrono::steady_clock::now() < deadline &&
         array_at(executions(id), "items").empty()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // anything more would show now
  EXPECT_EQ(agent_status(b1), "ACTIVE");
  EXPECT_EQ(agent_status(n1), "ACTIVE");
  const json::array runs = array_at(as(key_a, "GET", "/v1/automations/" + id + "/executions").json(),
                                    "items");
  ASSERT_EQ(runs.size(), 1u) << json::serialize(runs);
  EXPECT_EQ(str_at(runs[0], "target_id"), a1);
  EXPECT_EQ(str_at(runs[0], "outcome"), "succeeded");
  EXPECT_TRUE(array_at(as(key_b, "GET", "/v1/automations/" + id + "/executions").json(), "items")
                  .empty());
}

TEST_F(AutomationTest, AVerbWithoutAnInverseIsAClearError) {
  json::object spec = suspend_spec("revoke");
  spec["actions"] = json::array{json::object{{"host", "warden"},
                                             {"capability", "session"},
                                             {"verb", "revoke"},
                                             {"params", json::object{}}}};
  const std::string id = save(spec);
  ASSERT_FALSE(id.empty());
  Response r = master("POST", "/v1/automations/" + id + "/inverse");
  EXPECT_EQ(r.status, 422) << r.describe();
  EXPECT_EQ(r.error_code(), "AUTOMATION_NO_INVERSE");
  EXPECT_EQ(str_at(error_field(r, "details"), "pointer"), "/actions/0") << r.body;
}

// Warden's own events beyond decisions: a refused master password is auth.failed (about the
// client's address) and a policy change is policy.changed (about the policy).
TEST_F(AutomationTest, AuthFailuresAndPolicyChangesAreEventsToo) {
  const std::string agent = new_agent("watched");
  Response policy =
      master("POST", "/v1/policies",
             body(json::object{{"agent_id", agent},
                               {"type", "RATE_LIMIT"},
                               {"rules", json::object{{"max_requests", 5}, {"window", "1m"}}}}));
  ASSERT_EQ(policy.status, 201) << policy.describe();
  const std::string policy_id = str_at(policy.json(), "id");

  json::object lockdown = suspend_spec("lock down on a bad password", "auth.failed");
  lockdown["targets"] = json::array{json::object{{"host", "warden"}, {"selector", policy_id}}};
  lockdown["actions"] = json::array{json::object{{"host", "warden"},
                                                 {"capability", "policy"},
                                                 {"verb", "disable"},
                                                 {"params", json::object{}}}};
  const std::string a1 = save(lockdown);
  ASSERT_FALSE(a1.empty());
  const Response dry2 = dry_run(a1, "127.0.0.1", "auth.failed");
  ASSERT_EQ(str_at(dry2.json(), "severity"), "info") << dry2.body;
  ASSERT_EQ(master("POST", "/v1/automations/" + a1 + "/enable").status, 200);
  Response wrong =
      client_->request("GET", "/v1/agents", {}, Headers{{"X-Master-Password", "not-the-password"}});
  ASSERT_EQ(wrong.status, 401) << wrong.describe();
  const auto deadline = std::chrono::steady_clock::now() + kEngineWaitMax;
  while (std::chrono::steady_clock::now() < deadline &&
         field(master("GET", "/v1/policies/" + policy_id).json(), "enabled") == json::value(true)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(field(master("GET", "/v1/policies/" + policy_id).json(), "enabled"),
            json::value(false));

  json::object on_change = suspend_spec("suspend on a new policy", "policy.changed");
  on_change["trigger_group"].as_object()["triggers"].as_array()[0].as_object()["filter"] =
      "event.attributes.change == 'created'";
  on_change["targets"] = json::array{json::object{{"host", "warden"}, {"selector", agent}}};
  const std::string a2 = save(on_change);
  ASSERT_FALSE(a2.empty());
  const Response dry3 = dry_run(a2, policy_id, "policy.changed");
  ASSERT_EQ(str_at(dry3.json(), "severity"), "info") << dry3.body;
  ASSERT_EQ(master("POST", "/v1/automations/" + a2 + "/enable").status, 200);
  EXPECT_EQ(agent_status(agent), "ACTIVE");
  ASSERT_EQ(master("POST", "/v1/policies", spending_policy_body(4242)).status, 201);
  EXPECT_TRUE(wait_status(agent, "SUSPENDED"));
}

// The issue's loop: decisions through HTTP hit a rate limit; the denial is an event; an enabled
// automation suspends the agent; its next request is refused; the automation's inverse, saved,
// dry-run and enabled, resumes it on the next such event.
TEST_F(AutomationTest, ARateLimitDenialSuspendsTheAgentAndTheInverseResumesIt) {
  const std::string agent = new_agent("spender");
  Response policy =
      master("POST", "/v1/policies",
             body(json::object{{"agent_id", agent},
                               {"type", "RATE_LIMIT"},
                               {"rules", json::object{{"max_requests", 2}, {"window", "1m"}}}}));
  ASSERT_EQ(policy.status, 201) << policy.describe();
  json::object spec = suspend_spec("suspend on rate limit");
  spec["trigger_group"].as_object()["triggers"].as_array()[0].as_object()["filter"] =
      "'RATE_LIMIT_EXCEEDED' in event.attributes.reasons";
  const std::string id = save(spec);
  ASSERT_FALSE(id.empty());
  Response dry = dry_run(id, agent);
  ASSERT_EQ(dry.status, 200) << dry.describe();
  ASSERT_EQ(str_at(dry.json(), "severity"), "info") << dry.body;
  ASSERT_EQ(master("POST", "/v1/automations/" + id + "/enable").status, 200);

  const std::string token = str_at(new_session(agent), "token");
  for (int i = 0; i < 2; ++i) {
    Response allowed = decide(token);
    ASSERT_EQ(allowed.status, 201) << allowed.describe();
    EXPECT_EQ(str_at(allowed.json(), "effect"), "ALLOW");
  }
  Response denied = decide(token);
  ASSERT_EQ(denied.status, 201) << denied.describe();
  ASSERT_EQ(str_at(denied.json(), "effect"), "DENY") << denied.body;
  ASSERT_TRUE(wait_status(agent, "SUSPENDED"));

  Response refused = decide(token);
  EXPECT_EQ(refused.status, 403) << refused.describe();
  EXPECT_EQ(refused.error_code(), "AGENT_NOT_ACTIVE");
  // The execution's record is written once the driver returned, a moment after the agent's
  // own change committed.
  json::value runs = executions(id);
  for (int i = 0; i < 200 && array_at(runs, "items").empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    runs = executions(id);
  }
  ASSERT_FALSE(array_at(runs, "items").empty());
  const json::value run = array_at(runs, "items")[0];
  EXPECT_EQ(str_at(run, "outcome"), "succeeded") << json::serialize(run);
  EXPECT_EQ(str_at(run, "target_id"), agent);
  const std::string correlation = str_at(run, "correlation_id");
  auto suspended_rows = audit_all(*client_, "event_type=AGENT_UPDATED&agent_id=" + agent);
  ASSERT_TRUE(suspended_rows.has_value());
  ASSERT_EQ(suspended_rows->size(), 1u);
  EXPECT_EQ(str_at((*suspended_rows)[0], "actor"), "automation");
  EXPECT_EQ(str_at((*suspended_rows)[0], "correlation_id"), correlation);

  Response inverse = master("POST", "/v1/automations/" + id + "/inverse");
  ASSERT_EQ(inverse.status, 200) << inverse.describe();
  EXPECT_TRUE(array_at(inverse.json(), "needs_input").empty()) << inverse.body;
  json::object resume = field(inverse.json(), "spec").as_object();
  EXPECT_EQ(field(resume, "enabled"), json::value(false));
  const json::value action = array_at(resume, "actions")[0];
  EXPECT_EQ(str_at(action, "verb"), "resume") << inverse.body;
  // The suspension stays off while the inverse runs, so that one event does not do both.
  ASSERT_EQ(master("POST", "/v1/automations/" + id + "/disable").status, 200);
  const std::string resume_id = save(resume);
  ASSERT_FALSE(resume_id.empty());
  Response resume_dry = dry_run(resume_id, agent);
  ASSERT_EQ(resume_dry.status, 200) << resume_dry.describe();
  ASSERT_EQ(str_at(resume_dry.json(), "severity"), "info") << resume_dry.body;
  ASSERT_EQ(master("POST", "/v1/automations/" + resume_id + "/enable").status, 200);
  json::object event{{"kind", "decision.denied"},
                     {"subject", agent},
                     {"attributes", json::object{{"reasons", json::array{"RATE_LIMIT_EXCEEDED"}}}}};
  ASSERT_EQ(master("POST", "/v1/events", body(event)).status, 202);
  ASSERT_TRUE(wait_status(agent, "ACTIVE"));
  Response again = decide(token);
  EXPECT_EQ(again.status, 201) << again.describe();
}

}  // namespace
}  // namespace warden::testing

namespace warden::testing {
namespace {

// --automation-plugins must name a directory; the serve setting is checked before anything
// starts (exit 2, nothing listening).
TEST(AutomationSettings, APluginsDirThatIsNotADirectoryIsAUsageError) {
  const std::string dir = make_temp_dir();
  ASSERT_FALSE(dir.empty());
  for (const char* flag : {"--automation-plugins", "--automation-plugins-dir"}) {
    CliResult r =
        run_cli({"serve", "--data-dir", dir, "--listen", "127.0.0.1:0", flag, dir + "/no-such-dir"},
                {}, 10000);
    EXPECT_EQ(r.exit_code, 2) << flag << ": " << r.output();
    EXPECT_NE(r.output().find("is not a directory"), std::string::npos) << r.output();
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

}  // namespace
}  // namespace warden::testing

namespace warden::testing {
namespace {

namespace fs = std::filesystem;

// A spec that writes a file named by the event through the example plugin (its action names a
// host no target does: it runs once per firing, with no target).
json::object file_spec(const std::string& verb = "create") {
  return json::object{
      {"name", "note file " + verb},
      {"trigger_group",
       json::object{
           {"triggers", json::array{json::object{{"kind", "event"}, {"event", "note.wanted"}}}}}},
      {"targets", json::array{json::object{{"host", "warden"}, {"selector", "{{event.subject}}"}}}},
      {"actions",
       json::array{json::object{{"host", "files"},
                                {"capability", "file"},
                                {"verb", verb},
                                {"params", json::object{{"name", "{{event.attributes.name}}"},
                                                        {"content", "hello"}}}}}}};
}

std::string write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
  return path;
}

class AutomationPluginTest : public WardenTest {
 protected:
  void SetUp() override {
    files_dir_ = make_temp_dir();
    ASSERT_FALSE(files_dir_.empty());
    write_file(files_dir_ + "/existing.txt", "x");
    warden_ = std::make_unique<WardenProcess>(
        WardenOptions{{"--automation-plugins", WARDEN_EXAMPLE_PLUGINS_DIR},
                      "",
                      {{"WARDEN_FILES_PLUGIN_DIR", files_dir_}}});
    ASSERT_TRUE(warden_->started()) << warden_->error();
    client_ = std::make_unique<HttpClient>(warden_->port());
  }
  void TearDown() override {
    WardenTest::TearDown();
    std::error_code ignored;
    fs::remove_all(files_dir_, ignored);
  }
  std::string files_dir_;
};

TEST_F(AutomationPluginTest, APluginIsAHostWithItsVerbsAndInventory) {
  Response hosts = master("GET", "/v1/hosts");
  ASSERT_EQ(hosts.status, 200) << hosts.describe();
  std::vector<std::string> ids;
  for (const auto& h : array_at(hosts.json(), "items")) ids.push_back(str_at(h, "id"));
  EXPECT_EQ(ids, (std::vector<std::string>{"files", "warden"}));
  Response caps = master("GET", "/v1/hosts/files/capabilities");
  ASSERT_EQ(caps.status, 200) << caps.describe();
  EXPECT_NE(caps.body.find("\"inverse\":\"delete\""), std::string::npos) << caps.body;
  Response inventory = master("GET", "/v1/hosts/files/inventory?refresh=full");
  ASSERT_EQ(inventory.status, 200) << inventory.describe();
  const json::array items = array_at(inventory.json(), "items");
  ASSERT_EQ(items.size(), 1u) << inventory.body;
  EXPECT_EQ(str_at(items[0], "id"), "existing.txt");
  EXPECT_EQ(str_at(items[0], "kind"), "file");

  // An event makes the plugin write the file it names; the inverse spec deletes it.
  const std::string agent = new_agent("noter");
  Response saved = master("POST", "/v1/automations", body(file_spec()));
  ASSERT_EQ(saved.status, 201) << saved.describe();
  const std::string id = str_at(saved.json(), "id");
  json::object sample{{"kind", "note.wanted"},
                      {"subject", agent},
                      {"attributes", json::object{{"name", "note.txt"}}}};
  Response dry =
      master("POST", "/v1/automations/" + id + "/dry-run", body(json::object{{"event", sample}}));
  ASSERT_EQ(dry.status, 200) << dry.describe();
  EXPECT_NE(str_at(dry.json(), "severity"), "error") << dry.body;
  EXPECT_FALSE(fs::exists(files_dir_ + "/note.txt")) << "a dry-run writes nothing";
  ASSERT_EQ(master("POST", "/v1/automations/" + id + "/enable").status, 200);
  ASSERT_EQ(master("POST", "/v1/events", body(sample)).status, 202);
  const auto deadline = std::chrono::steady_clock::now() + kEngineWaitMax;
  while (std::chrono::steady_clock::now() < deadline && !fs::exists(files_dir_ + "/note.txt")) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(fs::exists(files_dir_ + "/note.txt"));
  Response inverse = master("POST", "/v1/automations/" + id + "/inverse");
  ASSERT_EQ(inverse.status, 200) << inverse.describe();
  const json::value action = array_at(field(inverse.json(), "spec"), "actions")[0];
  EXPECT_EQ(str_at(action, "verb"), "delete") << inverse.body;
}

TEST(AutomationCli, ValidatePrintsIssuesAsJsonAndExitsOneWhenASaveWouldBeRefused) {
  const std::string dir = make_temp_dir();
  ASSERT_FALSE(dir.empty());
  const std::string good = write_file(dir + "/good.json", body(file_spec()));
  CliResult ok = run_cli({"automation", "validate", good, "--plugins", WARDEN_EXAMPLE_PLUGINS_DIR});
  EXPECT_EQ(ok.exit_code, 0) << ok.output();
  const json::value out = json::parse(ok.stdout_text);
  EXPECT_EQ(field(out, "ok"), json::value(true)) << ok.stdout_text;
  EXPECT_TRUE(std::regex_match(str_at(out, "hash"), kSha256Hex)) << ok.stdout_text;

  // Without the plugin its host is unknown: an action mismatch, which the daemon answers 422.
  CliResult unknown_host = run_cli({"automation", "validate", good});
  EXPECT_EQ(unknown_host.exit_code, 1) << unknown_host.output();
  EXPECT_NE(unknown_host.stdout_text.find("ACTION_SCHEMA_MISMATCH"), std::string::npos)
      << unknown_host.stdout_text;

  json::object blocked = file_spec();
  blocked["suppression_window"] = "soon";
  const std::string bad = write_file(dir + "/bad.json", body(blocked));
  CliResult refused =
      run_cli({"automation", "validate", bad, "--plugins", WARDEN_EXAMPLE_PLUGINS_DIR});
  EXPECT_EQ(refused.exit_code, 1) << refused.output();
  const json::value issue =
      issue_at(field(json::parse(refused.stdout_text), "issues"), "/suppression_window");
  ASSERT_TRUE(issue.is_object()) << refused.stdout_text;
  EXPECT_EQ(str_at(issue, "severity"), "blocker");
  std::error_code ignored;
  fs::remove_all(dir, ignored);
}

TEST(AutomationCli, DryRunLoadsThePluginsAndPrintsTheTranscriptWithoutActing) {
  const std::string dir = make_temp_dir();
  ASSERT_FALSE(dir.empty());
  const std::string files = dir + "/files";
  fs::create_directories(files);
  write_file(files + "/old.txt", "x");
  json::object spec = file_spec("delete");
  spec["actions"].as_array()[0].as_object()["params"] =
      json::object{{"name", "{{event.attributes.name}}"}};
  const std::string path = write_file(dir + "/spec.json", body(spec));
  const std::string event =
      write_file(dir + "/event.json",
                 R"({"kind":"note.wanted","subject":"someone","attributes":{"name":"old.txt"}})");
  CliResult r = run_cli(
      {"automation", "dry-run", path, "--plugins", WARDEN_EXAMPLE_PLUGINS_DIR, "--event", event},
      {{"WARDEN_FILES_PLUGIN_DIR", files}});
  EXPECT_EQ(r.exit_code, 0) << r.output();
  const json::value t = json::parse(r.stdout_text);
  EXPECT_TRUE(std::regex_match(str_at(t, "transcript_id"), kUuid)) << r.stdout_text;
  EXPECT_TRUE(field(field(t, "used_inventory"), "files").is_object()) << r.stdout_text;
  bool planned = false;
  for (const auto& row : array_at(t, "rows")) {
    const json::value answer = field(row, "dry_run");
    if (!answer.is_object()) continue;
    planned = true;
    EXPECT_EQ(field(answer, "ok"), json::value(true)) << r.stdout_text;
    EXPECT_EQ(array_at(answer, "effects").size(), 1u) << r.stdout_text;
  }
  EXPECT_TRUE(planned) << r.stdout_text;
  EXPECT_TRUE(fs::exists(files + "/old.txt")) << "a dry-run deletes nothing";

  CliResult no_plugins = run_cli({"automation", "dry-run", path});
  EXPECT_EQ(no_plugins.exit_code, 2) << "--plugins is required: " << no_plugins.output();
  std::error_code ignored;
  fs::remove_all(dir, ignored);
}

}  // namespace
}  // namespace warden::testing
