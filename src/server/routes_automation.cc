// Automations (docs/http-api.md, "Automations"): validate, save, read, change, enable and
// disable, dry-run, inverse and executions; the hosts their actions run on and the hosts'
// inventories; and events posted by other systems (POST /v1/events). The automation module does
// the work (spec.h, ir.h, inverse.h, driver.h, inventory.h, engine.h); this file maps HTTP to it.
#include <fmt/format.h>

#include <boost/json/serialize.hpp>
#include <memory>
#include <set>

#include "automation/driver.h"
#include "automation/engine.h"
#include "automation/events.h"
#include "automation/inventory.h"
#include "automation/inverse.h"
#include "automation/ir.h"
#include "automation/spec.h"
#include "core/json.h"
#include "server/blocking_runner.h"
#include "server/body.h"
#include "server/log.h"
#include "server/routes.h"

namespace warden::server {
namespace json = boost::json;
using automation::Severity;

namespace {

constexpr std::size_t kListLimitDefault = 50;
constexpr std::size_t kListLimitMax = 200;
constexpr std::int64_t kExecutionsLimitDefault = 30;
constexpr std::int64_t kExecutionsLimitMax = 30;  // no more are kept (kExecutionsKeptMax)
constexpr std::size_t kInventoryQueryBytesMax = 512;
// Event kinds only the daemon itself emits: an agent's session may not post them (it could
// otherwise trigger automations against itself or others in Warden's name).
constexpr std::array<std::string_view, 6> kWardenKindPrefixes = {
    "decision.", "approval.", "budget.", "auth.", "policy.", "automation."};

Status unavailable() {
  return Status(ErrorCode::INTERNAL_NOT_READY, "automation is not running in this daemon");
}

Status require_automation(const Deps& d) {
  const AutomationDeps& a = d.automation;
  if (a.engine == nullptr || a.drivers == nullptr || a.inventory == nullptr) return unavailable();
  return Status();
}

json::value parsed_or_null(const std::optional<std::string>& text) {
  if (!text) return nullptr;
  auto v = parse_json(*text);
  return v.ok() ? std::move(v).value() : json::value(nullptr);
}

json::value parsed(const std::string& text) {
  auto v = parse_json(text);
  return v.ok() ? std::move(v).value() : json::value(text);
}

json::object automation_json(const store::AutomationRow& a) {
  json::object o;
  o["id"] = a.id;
  o["name"] = a.name;
  o["spec"] = parsed(a.spec);
  o["ir"] = parsed(a.ir);
  o["hash"] = a.hash;
  o["version"] = a.version;
  o["enabled"] = a.enabled;
  o["priority"] = a.priority;
  o["last_validation"] = parsed_or_null(a.last_validation);
  o["last_dry_run"] = parsed_or_null(a.last_dry_run);
  o["created_at"] = format_rfc3339(a.created_at);
  o["updated_at"] = format_rfc3339(a.updated_at);
  o["org"] = nullable(a.org);
  return o;
}

json::object execution_row_json(const store::AutomationExecutionRow& r) {
  json::object o;
  o["id"] = r.id;
  o["automation_id"] = r.automation_id;
  o["event_id"] = nullable(r.event_id);
  o["host"] = r.host;
  o["target_id"] = r.target_id;
  o["capability"] = r.capability;
  o["verb"] = r.verb;
  o["outcome"] = r.outcome;
  o["idempotency_key"] = r.idempotency_key;
  o["effects"] = parsed(r.effects);
  o["reason"] = r.reason;
  o["correlation_id"] = r.correlation_id;
  o["started_at_ms"] = r.started_at_ms;
  o["finished_at_ms"] = r.finished_at_ms;
  return o;
}

json::object host_json(const automation::HostInfo& h) {
  json::object o;
  o["id"] = h.id;
  o["name"] = h.name;
  o["builtin"] = h.builtin;
  o["dry_run_refresh_sla_s"] = h.dry_run_refresh_sla_s;
  json::array capabilities;
  std::set<std::string> seen;
  for (const auto& v : h.verbs) {
    if (seen.insert(v.capability).second) capabilities.emplace_back(v.capability);
  }
  o["capabilities"] = std::move(capabilities);
  return o;
}

json::object capabilities_json(const automation::HostInfo& h) {
  // Capabilities in the order the driver declares them, each with its verbs.
  json::array capabilities;
  std::map<std::string, std::size_t> index;
  for (const auto& v : h.verbs) {
    auto [it, added] = index.emplace(v.capability, capabilities.size());
    if (added)
      capabilities.push_back(json::object{{"name", v.capability}, {"verbs", json::array()}});
    json::object verb;
    verb["name"] = v.verb;
    verb["params"] = v.params_schema;
    verb["invertible"] = v.invertible;
    verb["inverse"] = v.invertible ? json::value(v.inverse_verb) : json::value(nullptr);
    json::array hints;
    for (const auto& hint : v.idempotency_hints) hints.emplace_back(hint);
    verb["idempotency_hints"] = std::move(hints);
    capabilities[it->second].as_object()["verbs"].as_array().push_back(std::move(verb));
  }
  return json::object{{"host", h.id}, {"capabilities", std::move(capabilities)}};
}

std::string severity_text(Severity s) { return std::string(policy::severity_name(s)); }

// The issues' counts by severity, for audit rows.
json::object issue_counts(const std::vector<automation::Issue>& issues) {
  json::object counts;
  for (const auto& i : issues) {
    const std::string name = severity_text(i.severity);
    counts[name] = (counts.contains(name) ? counts[name].as_int64() : 0) + 1;
  }
  return counts;
}

json::object validation_json(const automation::SpecCheck& c, std::int64_t now_s) {
  json::object v;
  v["ok"] = !c.has_blocker();
  v["issues"] = policy::issues_to_json(c.issues);
  v["hash"] = c.hash.empty() ? json::value(nullptr) : json::value(c.hash);
  v["validated_at"] = format_rfc3339(now_s);
  return v;
}

automation::SpecCheck check_spec(const Deps& d, const json::value& doc) {
  const std::vector<automation::HostInfo> hosts = d.automation.drivers->hosts();
  return automation::validate_spec(doc, &hosts, automation::validate_params);
}

// What refuses a save: a blocker (400), then an action that does not match its driver (422).
Status refuse_save(const automation::SpecCheck& c) {
  if (c.has_blocker()) {
    return Status(ErrorCode::AUTOMATION_INVALID, "the spec has blocking issues",
                  json::object{{"issues", policy::issues_to_json(c.issues)}});
  }
  if (c.action_mismatch()) {
    return Status(ErrorCode::AUTOMATION_ACTION_INVALID,
                  "an action does not match its host's declared verbs",
                  json::object{{"issues", policy::issues_to_json(c.issues)}});
  }
  return Status();
}

Result<json::value> parse_doc(std::string_view body) {
  if (body.empty()) {
    return Status(ErrorCode::VALIDATION_MALFORMED_JSON, "the body must be a spec JSON object");
  }
  return parse_json(body);
}

// The target hosts' inventory gets a fast refresh first, so that static selectors are expanded
// against what exists now (an agent or a policy made a second ago included); a refresh that
// fails leaves the last listing (the dry-run says so when it is stale).
std::map<std::string, automation::InventorySnapshot> fresh_inventory(
    const Deps& d, const json::object& normalized) {
  automation::Inventory& inventory = *d.automation.inventory;
  if (const auto* targets = normalized.if_contains("targets"); targets && targets->is_array()) {
    std::set<std::string> hosts;
    for (const auto& t : targets->as_array()) {
      if (!t.is_object()) continue;
      const auto* host = t.as_object().if_contains("host");
      if (host && host->is_string()) hosts.emplace(host->as_string());
    }
    for (const auto& h : hosts) {
      if (d.automation.drivers->find(h) == nullptr) continue;
      (void)inventory.refresh(h, false);
    }
  }
  return inventory.all();
}

struct Prepared {
  automation::SpecCheck check;
  json::object spec;  // normalized, "enabled" as stored
  std::string ir;     // canonical JSON
};

// Validates and compiles a body for saving.
Result<Prepared> prepare(const Deps& d, std::string_view body) {
  WARDEN_ASSIGN_OR_RETURN(json::value doc, parse_doc(body));
  Prepared p{check_spec(d, doc), {}, {}};
  WARDEN_RETURN_IF_ERROR(refuse_save(p.check));
  WARDEN_ASSIGN_OR_RETURN(
      automation::CompiledAutomation compiled,
      automation::compile(p.check.normalized, fresh_inventory(d, p.check.normalized),
                          d.clock.now_ms()));
  p.spec = p.check.normalized;
  p.ir = canonical_json(automation::ir_json(compiled));
  return p;
}

bool wants_enabled(const json::object& spec) {
  const auto* e = spec.if_contains("enabled");
  return e && e->is_bool() && e->as_bool();
}

std::string text_of(const json::object& spec, std::string_view key) {
  const auto* v = spec.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::int64_t int_of(const json::object& spec, std::string_view key) {
  const auto* v = spec.if_contains(key);
  return v && v->is_int64() ? v->as_int64() : 0;
}

// Enabling is allowed only after a dry-run of the current spec whose severity is below error.
Status enable_gate(const store::AutomationRow& a) {
  if (!a.last_dry_run) {
    return Status(ErrorCode::AUTOMATION_ENABLE_BLOCKED,
                  "run POST /v1/automations/{id}/dry-run first: no dry-run of this spec exists");
  }
  auto transcript = parse_json(*a.last_dry_run);
  std::string severity;
  if (transcript.ok() && transcript->is_object()) {
    if (const auto* s = transcript->as_object().if_contains("severity"); s && s->is_string()) {
      severity = std::string(s->as_string());
    }
  }
  if (severity != "info" && severity != "warn") {
    return Status(ErrorCode::AUTOMATION_ENABLE_BLOCKED,
                  "the latest dry-run has severity " + (severity.empty() ? "unknown" : severity),
                  json::object{{"severity", severity}});
  }
  return Status();
}

Status duplicate(const std::string& existing_id) {
  return Status(ErrorCode::AUTOMATION_DUPLICATE, {}, json::object{{"existing_id", existing_id}});
}

Status check_unique_hash(store::WriteTxn& tx, const std::string& hash, const std::string& self_id) {
  WARDEN_ASSIGN_OR_RETURN(auto existing, tx.find_automation_by_hash(hash));
  if (existing && existing->id != self_id) return duplicate(existing->id);
  return Status();
}

// Two identical saves in one batch: the second fails the unique index inside the write.
Status map_constraint(store::WriteTxn& tx, Status s, const std::string& hash,
                      const std::string& self_id) {
  if (s.code() != ErrorCode::STORE_CONSTRAINT) return s;
  if (Status dup = check_unique_hash(tx, hash, self_id); !dup.ok()) return dup;
  return s;
}

// The engine picks up a committed change before the client has its answer, so an enabled
// automation acts on the next event. The reload reads the store: it runs on the connection's
// thread, never on the writer's.
ThenAsync reload_engine(const Deps& d, const RequestContext& ctx) {
  automation::AutomationEngine* engine = d.automation.engine;
  return [engine, complete = ctx.complete](std::function<void(const Status&)> next) {
    complete->later([engine, next = std::move(next)] { next(engine->reload()); });
  };
}

// Runs `work` on the runner's threads (it waits on drivers: plugins answer within their
// timeout) and answers from there; the I/O thread goes on at once. The request context is
// copied: the transport keeps the request itself alive until the answer.
using Work = std::function<Result<HttpResponse>(RequestContext&)>;
Result<HttpResponse> off_io_thread(const Deps& d, RequestContext& ctx, Work work) {
  if (d.automation.runner == nullptr) return work(ctx);
  auto copy = std::make_shared<RequestContext>(ctx);
  WARDEN_RETURN_IF_ERROR(d.automation.runner->post([&d, copy, work = std::move(work)] {
    Result<HttpResponse> r = Status(ErrorCode::INTERNAL_ERROR);
    try {
      r = work(*copy);
    } catch (const std::exception& e) {
      log_event(LogLevel::kError, "handler threw",
                {{"error", e.what()}, {"correlation_id", copy->correlation_id}});
    }
    if (r.ok() && is_deferred(*r)) return;  // answered after its commit
    copy->complete->later(
        [complete = copy->complete, r = std::move(r)]() mutable { (*complete)(std::move(r)); });
  }));
  return deferred();
}

// The automation, as the request may see it: an org admin sees its org's only (another org's
// and the operator's ids are unknown to it).
Result<store::AutomationRow> load(const Deps& d, const RequestContext& ctx, const std::string& id) {
  const ScopedReader reader(d.store, ctx.org_admin_org);
  WARDEN_ASSIGN_OR_RETURN(auto row, reader->get_automation(id));
  if (!row) return Status(ErrorCode::AUTOMATION_NOT_FOUND);
  return std::move(*row);
}

// An org admin's request changes its org's automations only; the master's, any. The owner of an
// automation never changes, so a check before the write holds inside it.
Status check_visible(const Deps& d, const RequestContext& ctx, const std::string& id) {
  if (!ctx.org_admin_org) return Status();
  return load(d, ctx, id).status();
}

// An org's automation acts only through the built-in `warden` host, on its org's agents and
// policies (the engine checks each target); the operator's hosts (plugins, webhooks) are the
// operator's to use.
Status check_org_hosts(const RequestContext& ctx, const json::object& spec) {
  if (!ctx.org_admin_org) return Status();
  for (const char* list : {"targets", "actions"}) {
    const json::value* items = spec.if_contains(list);
    if (items == nullptr || !items->is_array()) continue;
    for (std::size_t i = 0; i < items->as_array().size(); ++i) {
      const json::value& item = items->as_array()[i];
      const json::value* host = item.is_object() ? item.as_object().if_contains("host") : nullptr;
      if (host == nullptr || !host->is_string() || host->as_string() != "warden") {
        return Status(ErrorCode::AUTH_FORBIDDEN,
                      "an org's automation acts only through the built-in host warden",
                      json::object{{"pointer", fmt::format("/{}/{}/host", list, i)}});
      }
    }
  }
  return Status();
}

Result<json::object> stored_spec(const store::AutomationRow& a) {
  WARDEN_ASSIGN_OR_RETURN(json::value spec, parse_json(a.spec));
  if (!spec.is_object()) return Status(ErrorCode::INTERNAL_ERROR, "stored spec is not an object");
  return std::move(spec.as_object());
}

Result<HttpResponse> set_enabled(const Deps& d, RequestContext& ctx, bool enabled) {
  WARDEN_RETURN_IF_ERROR(require_automation(d));
  WARDEN_RETURN_IF_ERROR(check_visible(d, ctx, ctx.params[0]));
  if (!ctx.req.body.empty()) WARDEN_RETURN_IF_ERROR(Body::parse(ctx.req.body, {}).take_status());
  const std::int64_t now = d.clock.now_seconds();
  const std::string id = ctx.params[0];
  const store::AuditEvent audit =
      ctx.audit(enabled ? "AUTOMATION_ENABLED" : "AUTOMATION_DISABLED", now);
  auto after = std::make_shared<store::AutomationRow>();
  auto op = [=](store::WriteTxn& tx) -> Status {
    WARDEN_ASSIGN_OR_RETURN(auto row, tx.get_automation(id));
    if (!row) return Status(ErrorCode::AUTOMATION_NOT_FOUND);
    *after = *row;
    if (row->enabled == enabled) return Status();  // already so: nothing to write
    if (enabled) WARDEN_RETURN_IF_ERROR(enable_gate(*row));
    WARDEN_ASSIGN_OR_RETURN(json::object spec, stored_spec(*row));
    spec["enabled"] = enabled;
    after->spec = canonical_json(spec);
    after->enabled = enabled;
    after->updated_at = now;
    WARDEN_RETURN_IF_ERROR(tx.update_automation(*after));
    store::AuditEvent e = audit;
    e.details = json::serialize(json::object{{"automation_id", id}, {"hash", row->hash}});
    return tx.append_audit(e).take_status();
  };
  return commit_then_answer(
      d, ctx, std::move(op), {}, [after] { return json_response(200, automation_json(*after)); },
      reload_engine(d, ctx));
}

}  // namespace

Result<HttpResponse> validate_automation(const Deps& d, RequestContext& ctx) {
  WARDEN_RETURN_IF_ERROR(require_automation(d));
  WARDEN_ASSIGN_OR_RETURN(json::value doc, parse_doc(ctx.req.body));
  const automation::SpecCheck c = check_spec(d, doc);
  const std::int64_t now = d.clock.now_seconds();
  json::object out = validation_json(c, now);
  out["normalized"] = c.has_blocker() ? json::value(nullptr) : json::value(c.normalized);
  store::AuditEvent e = ctx.audit("AUTOMATION_VALIDATED", now);
  e.details = json::serialize(json::object{
      {"hash", out["hash"]}, {"ok", !c.has_blocker()}, {"issues", issue_counts(c.issues)}});
  if (c.has_error()) e.severity = "warning";
  return commit_then_answer(
      d, ctx, [e](store::WriteTxn& tx) { return tx.append_audit(e).take_status(); }, {},
      [out = std::move(out)] { return json_response(200, out); });
}

namespace {

Result<HttpResponse> create_automation_now(const Deps& d, RequestContext& ctx) {
  WARDEN_ASSIGN_OR_RETURN(Prepared p, prepare(d, ctx.req.body));
  WARDEN_RETURN_IF_ERROR(check_org_hosts(ctx, p.spec));
  // A new automation has no dry-run yet, and enabling waits for a clean one.
  if (wants_enabled(p.spec)) {
    return Status(ErrorCode::AUTOMATION_ENABLE_BLOCKED,
                  "save with enabled: false, dry-run it, then POST /v1/automations/{id}/enable");
  }
  store::AutomationRow a;
  a.id = d.ids.next();
  a.name = text_of(p.spec, "name");
  a.spec = canonical_json(p.spec);
  a.ir = p.ir;
  a.hash = p.check.hash;
  a.version = 1;
  a.enabled = false;
  a.priority = int_of(p.spec, "priority");
  a.org = ctx.org_admin_org;  // an org admin's automation is its org's
  a.created_at = a.updated_at = d.clock.now_seconds();
  a.last_validation = canonical_json(validation_json(p.check, a.created_at));
  store::AuditEvent e = ctx.audit("AUTOMATION_CREATED", a.created_at);
  e.details = json::serialize(
      json::object{{"automation_id", a.id}, {"name", a.name}, {"hash", a.hash}, {"version", 1}});
  auto op = [a, e](store::WriteTxn& tx) -> Status {
    WARDEN_RETURN_IF_ERROR(check_unique_hash(tx, a.hash, a.id));
    // In a savepoint: on PostgreSQL a failed statement spoils the rest of the transaction, and
    // map_constraint still reads.
    if (Status s = tx.nested([&a](store::WriteTxn& t) { return t.insert_automation(a); });
        !s.ok()) {
      return map_constraint(tx, s, a.hash, a.id);
    }
    return tx.append_audit(e).take_status();
  };
  return commit_then_answer(d, ctx, std::move(op), {},
                            [a] { return json_response(201, automation_json(a)); });
}

}  // namespace

Result<HttpResponse> create_automation(const Deps& d, RequestContext& ctx) {
  WARDEN_RETURN_IF_ERROR(require_automation(d));
  return off_io_thread(d, ctx, [&d](RequestContext& c) { return create_automation_now(d, c); });
}

Result<HttpResponse> list_automations(const Deps& d, RequestContext& ctx) {
  WARDEN_ASSIGN_OR_RETURN(store::Page page,
                          page_from_query(ctx.req, kListLimitDefault, kListLimitMax));
  const ScopedReader reader(d.store, ctx.org_admin_org);
  WARDEN_ASSIGN_OR_RETURN(auto rows, reader->list_automations(page));
  return json_response(200, page_json(rows, page.limit, automation_json));
}

Result<HttpResponse> get_automation(const Deps& d, RequestContext& ctx) {
  WARDEN_ASSIGN_OR_RETURN(store::AutomationRow a, load(d, ctx, ctx.params[0]));
  return json_response(200, automation_json(a));
}

namespace {

Result<HttpResponse> update_automation_now(const Deps& d, RequestContext& ctx) {
  WARDEN_RETURN_IF_ERROR(check_visible(d, ctx, ctx.params[0]));
  WARDEN_ASSIGN_OR_RETURN(Prepared p, prepare(d, ctx.req.body));
  WARDEN_RETURN_IF_ERROR(check_org_hosts(ctx, p.spec));
  const std::int64_t now = d.clock.now_seconds();
  const std::string id = ctx.params[0];
  const store::AuditEvent audit = ctx.audit("AUTOMATION_UPDATED", now);
  auto after = std::make_shared<store::AutomationRow>();
  auto op = [=](store::WriteTxn& tx) -> Status {
    WARDEN_ASSIGN_OR_RETURN(auto current, tx.get_automation(id));
    if (!current) return Status(ErrorCode::AUTOMATION_NOT_FOUND);
    WARDEN_RETURN_IF_ERROR(check_unique_hash(tx, p.check.hash, id));
    const bool same = current->hash == p.check.hash;
    // A changed spec has not been dry-run: it is saved disabled, its old transcript dropped.
    bool enabled = wants_enabled(p.spec);
    if (enabled && !same) {
      return Status(ErrorCode::AUTOMATION_ENABLE_BLOCKED,
                    "a changed spec is saved disabled; dry-run it, then enable it");
    }
    if (enabled && !current->enabled) WARDEN_RETURN_IF_ERROR(enable_gate(*current));
    *after = *current;
    json::object spec = p.spec;
    spec["enabled"] = enabled;
    after->name = text_of(spec, "name");
    after->spec = canonical_json(spec);
    after->ir = p.ir;
    after->hash = p.check.hash;
    after->priority = int_of(spec, "priority");
    after->enabled = enabled;
    after->version = current->version + 1;
    after->last_validation = canonical_json(validation_json(p.check, now));
    if (!same) after->last_dry_run.reset();
    after->updated_at = now;
    if (Status s = tx.nested([&after](store::WriteTxn& t) { return t.update_automation(*after); });
        !s.ok()) {
      return map_constraint(tx, s, after->hash, id);
    }
    store::AuditEvent e = audit;
    e.details = json::serialize(json::object{{"automation_id", id},
                                             {"version", after->version},
                                             {"hash", after->hash},
                                             {"previous_hash", current->hash},
                                             {"enabled", enabled}});
    return tx.append_audit(e).take_status();
  };
  return commit_then_answer(
      d, ctx, std::move(op), {}, [after] { return json_response(200, automation_json(*after)); },
      reload_engine(d, ctx));
}

}  // namespace

Result<HttpResponse> update_automation(const Deps& d, RequestContext& ctx) {
  WARDEN_RETURN_IF_ERROR(require_automation(d));
  return off_io_thread(d, ctx, [&d](RequestContext& c) { return update_automation_now(d, c); });
}

Result<HttpResponse> delete_automation(const Deps& d, RequestContext& ctx) {
  WARDEN_RETURN_IF_ERROR(require_automation(d));
  WARDEN_RETURN_IF_ERROR(check_visible(d, ctx, ctx.params[0]));
  const std::int64_t now = d.clock.now_seconds();
  const std::string id = ctx.params[0];
  const store::AuditEvent audit = ctx.audit("AUTOMATION_DELETED", now);
  auto op = [=](store::WriteTxn& tx) -> Status {
    WARDEN_ASSIGN_OR_RETURN(auto a, tx.get_automation(id));
    if (!a) return Status(ErrorCode::AUTOMATION_NOT_FOUND);
    WARDEN_RETURN_IF_ERROR(tx.delete_automation(id));
    store::AuditEvent e = audit;
    e.details = json::serialize(
        json::object{{"automation_id", id}, {"hash", a->hash}, {"version", a->version}});
    return tx.append_audit(e).take_status();
  };
  return commit_then_answer(d, ctx, std::move(op), {}, no_content, reload_engine(d, ctx));
}

Result<HttpResponse> enable_automation(const Deps& d, RequestContext& ctx) {
  return set_enabled(d, ctx, true);
}

Result<HttpResponse> disable_automation(const Deps& d, RequestContext& ctx) {
  return set_enabled(d, ctx, false);
}

namespace {

Result<HttpResponse> dry_run_now(const Deps& d, RequestContext& ctx) {
  std::optional<automation::Event> sample;
  if (!ctx.req.body.empty()) {
    WARDEN_ASSIGN_OR_RETURN(Body body, Body::parse(ctx.req.body, {"event"}));
    if (const auto* ev = body.object().if_contains("event"); ev && !ev->is_null()) {
      WARDEN_ASSIGN_OR_RETURN(sample, automation::parse_event(*ev, {}, d.clock, d.ids));
    }
  }
  WARDEN_ASSIGN_OR_RETURN(store::AutomationRow a, load(d, ctx, ctx.params[0]));
  WARDEN_ASSIGN_OR_RETURN(json::object spec, stored_spec(a));
  WARDEN_ASSIGN_OR_RETURN(automation::CompiledAutomation compiled,
                          automation::compile(spec, fresh_inventory(d, spec), d.clock.now_ms()));
  compiled.id = a.id;
  compiled.version = a.version;
  compiled.enabled = a.enabled;
  compiled.org = a.org;
  WARDEN_ASSIGN_OR_RETURN(json::object transcript,
                          d.automation.engine->dry_run(compiled, sample, ctx.correlation_id));
  const std::int64_t now = d.clock.now_seconds();
  store::AuditEvent e = ctx.audit("AUTOMATION_DRY_RUN", now);
  const json::value* severity = transcript.if_contains("severity");
  const json::value* rows = transcript.if_contains("rows");
  e.details = json::serialize(json::object{
      {"automation_id", a.id},
      {"hash", a.hash},
      {"transcript_id",
       transcript.contains("transcript_id") ? transcript["transcript_id"] : json::value(nullptr)},
      {"severity", severity ? *severity : json::value(nullptr)},
      {"rows", rows && rows->is_array() ? rows->as_array().size() : 0}});
  if (severity && severity->is_string() &&
      (severity->as_string() == "error" || severity->as_string() == "blocker")) {
    e.severity = "warning";
  }
  const std::string id = a.id, hash = a.hash, text = canonical_json(transcript);
  auto op = [id, hash, text, e, now](store::WriteTxn& tx) -> Status {
    WARDEN_ASSIGN_OR_RETURN(auto row, tx.get_automation(id));
    if (!row) return Status(ErrorCode::AUTOMATION_NOT_FOUND);
    // The spec changed while the drivers answered: this transcript is not about it.
    if (row->hash == hash) {
      row->last_dry_run = text;
      row->updated_at = now;
      WARDEN_RETURN_IF_ERROR(tx.update_automation(*row));
    }
    return tx.append_audit(e).take_status();
  };
  return commit_then_answer(d, ctx, std::move(op), {}, [transcript = std::move(transcript)] {
    return json_response(200, transcript);
  });
}

}  // namespace

Result<HttpResponse> dry_run_automation(const Deps& d, RequestContext& ctx) {
  WARDEN_RETURN_IF_ERROR(require_automation(d));
  return off_io_thread(d, ctx, [&d](RequestContext& c) { return dry_run_now(d, c); });
}

Result<HttpResponse> inverse_automation(const Deps& d, RequestContext& ctx) {
  WARDEN_RETURN_IF_ERROR(require_automation(d));
  if (!ctx.req.body.empty()) WARDEN_RETURN_IF_ERROR(Body::parse(ctx.req.body, {}).take_status());
  WARDEN_ASSIGN_OR_RETURN(store::AutomationRow a, load(d, ctx, ctx.params[0]));
  WARDEN_ASSIGN_OR_RETURN(json::object spec, stored_spec(a));
  WARDEN_ASSIGN_OR_RETURN(automation::InverseSpec inverse,
                          automation::make_inverse(spec, d.automation.drivers->hosts()));
  json::array needs;
  for (const auto& pointer : inverse.needs_input) needs.emplace_back(pointer);
  return json_response(200, json::object{{"automation_id", a.id},
                                         {"spec", std::move(inverse.spec)},
                                         {"needs_input", std::move(needs)}});
}

Result<HttpResponse> list_executions(const Deps& d, RequestContext& ctx) {
  const std::string& id = ctx.params[0];
  WARDEN_ASSIGN_OR_RETURN(
      const std::int64_t limit,
      query_int(ctx.req, "limit", kExecutionsLimitDefault, 1, kExecutionsLimitMax));
  std::optional<std::string> cursor = query_text(ctx.req, "cursor");
  if (cursor && !is_uuid(*cursor)) return Status(ErrorCode::VALIDATION_INVALID_CURSOR);
  WARDEN_RETURN_IF_ERROR(load(d, ctx, id).take_status());
  WARDEN_ASSIGN_OR_RETURN(auto rows,
                          d.store.list_executions(id, cursor, static_cast<std::size_t>(limit)));
  return json_response(200, page_json(rows, static_cast<std::size_t>(limit), execution_row_json));
}

Result<HttpResponse> list_hosts(const Deps& d, RequestContext&) {
  WARDEN_RETURN_IF_ERROR(require_automation(d));
  json::array items;
  for (const auto& h : d.automation.drivers->hosts()) items.push_back(host_json(h));
  return json_response(200, json::object{{"items", std::move(items)}});
}

Result<HttpResponse> get_host_capabilities(const Deps& d, RequestContext& ctx) {
  WARDEN_RETURN_IF_ERROR(require_automation(d));
  const automation::Driver* driver = d.automation.drivers->find(ctx.params[0]);
  if (driver == nullptr) return Status(ErrorCode::AUTOMATION_HOST_NOT_FOUND);
  return json_response(200, capabilities_json(driver->info()));
}

namespace {
Result<HttpResponse> inventory_answer(const Deps& d, const std::string& host, const std::string& q);
}  // namespace

Result<HttpResponse> get_host_inventory(const Deps& d, RequestContext& ctx) {
  WARDEN_RETURN_IF_ERROR(require_automation(d));
  const std::string host = ctx.params[0];
  if (d.automation.drivers->find(host) == nullptr) {
    return Status(ErrorCode::AUTOMATION_HOST_NOT_FOUND);
  }
  const std::optional<std::string> refresh = query_text(ctx.req, "refresh");
  if (refresh && *refresh != "fast" && *refresh != "full") {
    return field_error(ErrorCode::VALIDATION_INVALID_VALUE, "refresh",
                       "refresh must be fast or full");
  }
  const std::string q = query_text(ctx.req, "q").value_or("");
  if (q.size() > kInventoryQueryBytesMax) {
    return field_error(ErrorCode::VALIDATION_INVALID_VALUE, "q", "q is too long");
  }
  if (refresh) {
    const bool full = *refresh == "full";
    return off_io_thread(d, ctx, [&d, host, full, q](RequestContext&) -> Result<HttpResponse> {
      WARDEN_RETURN_IF_ERROR(d.automation.inventory->refresh(host, full).take_status());
      return inventory_answer(d, host, q);
    });
  }
  return inventory_answer(d, host, q);
}

namespace {

Result<HttpResponse> inventory_answer(const Deps& d, const std::string& host,
                                      const std::string& q) {
  automation::Inventory& inventory = *d.automation.inventory;
  const automation::InventorySnapshot s = inventory.snapshot(host);
  const std::vector<automation::InventoryItem> items =
      q.empty() ? s.items : inventory.search(host, q);
  json::array out;
  for (const auto& item : items) out.push_back(automation::inventory_item_json(item));
  json::object body;
  body["host"] = host;
  body["refreshed_at_ms"] = s.refreshed_at_ms;
  body["refreshed_at"] =
      s.refreshed_at_ms > 0 ? json::value(format_rfc3339(s.refreshed_at_ms / 1000)) : nullptr;
  body["full"] = s.full;
  body["stale"] = s.stale;
  body["items"] = std::move(out);
  return json_response(200, body);
}

}  // namespace

// Master: any event but Warden's own source. An agent's session: its events come from
// "agent:<id>", are about itself, and may not use Warden's own kinds.
Result<HttpResponse> create_event(const Deps& d, RequestContext& ctx) {
  WARDEN_RETURN_IF_ERROR(require_automation(d));
  automation::EventDefaults defaults;
  if (ctx.session) {
    defaults.source = "agent:" + ctx.session->agent_id;
    defaults.subject = ctx.session->agent_id;
  }
  WARDEN_ASSIGN_OR_RETURN(automation::Event e,
                          automation::parse_event_text(ctx.req.body, defaults, d.clock, d.ids));
  if (e.source == automation::kWardenSource) {
    return field_error(ErrorCode::EVENT_INVALID, "source",
                       "source \"warden\" is reserved for the daemon's own events");
  }
  if (ctx.session) {
    if (e.source != defaults.source || e.subject != defaults.subject) {
      return Status(ErrorCode::AUTH_FORBIDDEN,
                    "an agent's events come from agent:<its id> and are about itself");
    }
    for (auto prefix : kWardenKindPrefixes) {
      if (e.kind.starts_with(prefix)) {
        return Status(ErrorCode::AUTH_FORBIDDEN,
                      "event kinds " + std::string(prefix) + "* are Warden's own");
      }
    }
  }
  json::object body = automation::event_json(e);
  d.automation.engine->submit(std::move(e),
                              [complete = ctx.complete, body = std::move(body)](Status s) {
                                complete->later([complete, s, body] {
                                  if (!s.ok()) return (*complete)(s);
                                  (*complete)(json_response(202, body));
                                });
                              });
  return deferred();
}

}  // namespace warden::server
