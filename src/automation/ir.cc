// Compilation of a normalized spec into the IR the engine runs, and the IR's JSON form.
#include "automation/ir.h"

#include <date/date.h>
#include <fmt/format.h>

#include <chrono>

#include "automation/selector.h"
#include "automation/spec.h"
#include "automation/template.h"

namespace warden::automation {
namespace json = boost::json;
namespace {

using expr::Type;
using expr::TypeKind;

expr::Env make_env() {
  expr::Env env;
  env.declare("event", Type::map(Type(TypeKind::kString), Type(TypeKind::kDyn)));
  env.declare("target", Type::map(Type(TypeKind::kString), Type(TypeKind::kDyn)));
  env.declare("now", Type(TypeKind::kTimestamp));
  return env;
}

Result<std::shared_ptr<const expr::Program>> compile_expression(const std::string& source) {
  WARDEN_ASSIGN_OR_RETURN(expr::Program p, expr::compile(source, automation_env()));
  return std::make_shared<const expr::Program>(std::move(p));
}

// The variables of automation_env() an expression reads ("bound field scopes"): those whose
// removal from the environment makes it fail to compile. Only done at compile time.
std::vector<std::string> read_scopes(const std::string& source) {
  std::vector<std::string> out;
  const auto& all = automation_env().variables();
  for (const auto& [name, type] : all) {
    expr::Env without;
    for (const auto& [other, other_type] : all) {
      if (other != name) without.declare(other, other_type);
    }
    if (!expr::compile(source, without).ok()) out.push_back(name);
  }
  return out;
}

std::string_view trigger_kind_name(CompiledTrigger::Kind k) {
  switch (k) {
    case CompiledTrigger::Kind::kEvent:
      return "event";
    case CompiledTrigger::Kind::kSchedule:
      return "schedule";
    case CompiledTrigger::Kind::kThreshold:
      return "threshold";
  }
  return "event";
}

json::array string_array(const std::vector<std::string>& v) {
  json::array a;
  for (const std::string& s : v) a.push_back(json::string(s));
  return a;
}

std::string str(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

std::int64_t duration_ms_or_zero(const json::object& o, std::string_view key) {
  const std::string text = str(o, key);
  if (text.empty()) return 0;
  const Result<std::int64_t> ms = parse_duration_ms(text);
  return ms.ok() ? *ms : 0;
}

// "2026-11-30T11:41:08.123Z". Formatted directly: this runs for every event matched, and the
// date library's stream formatting cost several times more (docs/benchmarks.md, "Automation").
std::string rfc3339_ms(std::int64_t unix_ms) {
  using namespace std::chrono;
  const date::sys_time<milliseconds> t{milliseconds(unix_ms)};
  const date::sys_days day = date::floor<date::days>(t);
  const date::year_month_day ymd{day};
  const date::hh_mm_ss<milliseconds> hms{t - day};
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                     hms.hours().count(), hms.minutes().count(), hms.seconds().count(),
                     hms.subseconds().count());
}

}  // namespace

json::object automation_vars(const Event* event, const InventoryItem* target,
                             std::int64_t now_ms) {
  json::object e;
  if (event != nullptr) {
    e["id"] = event->id;
    e["kind"] = event->kind;
    e["source"] = event->source;
    e["subject"] = event->subject;
    e["occurred_at"] = rfc3339_ms(event->occurred_at_ms);
    e["attributes"] = event->attributes;
  }
  json::object t;
  if (target != nullptr) {
    t["id"] = target->id;
    t["name"] = target->name;
    t["kind"] = target->kind;
    json::object labels;
    for (const auto& [k, v] : target->labels) labels[k] = v;
    t["labels"] = std::move(labels);
  }
  return json::object{
      {"event", std::move(e)}, {"target", std::move(t)}, {"now", rfc3339_ms(now_ms)}};
}

Status bind_automation_vars(expr::Activation& act, const Event* event, const InventoryItem* target,
                            std::int64_t now_ms) {
  return act.bind_json(automation_vars(event, target, now_ms));
}

const expr::Env& automation_env() {
  static const expr::Env env = make_env();
  return env;
}

Result<CompiledAutomation> compile(const json::object& normalized,
                                   const std::map<std::string, InventorySnapshot>& inventory,
                                   std::int64_t now_ms) {
  // Re-validating keeps compile safe on any input (a stored spec, a hand-made object) and
  // yields the same hash validate_spec gave when the spec was saved.
  SpecCheck check = validate_spec(json::value(normalized), nullptr);
  if (check.has_blocker()) {
    return Status(ErrorCode::AUTOMATION_INVALID, "the spec has blocking issues",
                  json::object{{"issues", policy::issues_to_json(check.issues)}});
  }
  const json::object& n = check.normalized;
  CompiledAutomation c;
  c.name = str(n, "name");
  c.priority = n.at("priority").as_int64();
  c.enabled = n.at("enabled").as_bool();
  c.hash = check.hash;
  const json::object& group = n.at("trigger_group").as_object();
  c.logic_all = str(group, "logic") == "ALL";
  for (const json::value& tv : group.at("triggers").as_array()) {
    const json::object& t = tv.as_object();
    CompiledTrigger ct;
    const std::string kind = str(t, "kind");
    if (kind == "event") {
      ct.kind = CompiledTrigger::Kind::kEvent;
      ct.event = str(t, "event");
      ct.filter_source = str(t, "filter");
      if (!ct.filter_source.empty()) {
        WARDEN_ASSIGN_OR_RETURN(ct.filter, compile_expression(ct.filter_source));
        ct.filter_scopes = read_scopes(ct.filter_source);
      }
    } else if (kind == "schedule") {
      ct.kind = CompiledTrigger::Kind::kSchedule;
      ct.cron = str(t, "cron");
      ct.time_zone = str(t, "time_zone");
    } else {
      ct.kind = CompiledTrigger::Kind::kThreshold;
      ct.event = str(t, "event");
      ct.measure = str(t, "measure");
      ct.window_ms = duration_ms_or_zero(t, "window");
      ct.above = t.at("above").to_number<double>();
      ct.group_by = str(t, "group_by");
    }
    c.triggers.push_back(std::move(ct));
  }
  for (const json::value& cv : n.at("conditions").as_array()) {
    const std::string source(cv.as_string());
    WARDEN_ASSIGN_OR_RETURN(auto program, compile_expression(source));
    c.conditions.push_back(std::move(program));
    c.condition_sources.push_back(source);
    c.condition_scopes.push_back(read_scopes(source));
  }
  for (const json::value& tv : n.at("targets").as_array()) {
    const json::object& t = tv.as_object();
    CompiledTarget ct;
    ct.host = str(t, "host");
    ct.selector = str(t, "selector");
    ct.dynamic = t.at("dynamic_resolution").as_bool();
    WARDEN_ASSIGN_OR_RETURN(Selector s, parse_selector(ct.selector));
    ct.from_event_subject = s.kind == Selector::Kind::kEventSubject;
    if (!ct.dynamic && !ct.from_event_subject) {
      const auto it = inventory.find(ct.host);
      static const std::vector<InventoryItem> kNoItems;
      ct.resolved_ids = resolve(s, it == inventory.end() ? kNoItems : it->second.items, nullptr);
      ct.resolved_at_ms = now_ms;
    }
    c.targets.push_back(std::move(ct));
  }
  for (const json::value& av : n.at("actions").as_array()) {
    const json::object& a = av.as_object();
    c.actions.push_back(CompiledAction{str(a, "host"), str(a, "capability"), str(a, "verb"),
                                       a.at("params").as_object()});
  }
  c.suppression_window_ms = duration_ms_or_zero(n, "suppression_window");
  c.idempotency_window_ms = duration_ms_or_zero(n, "idempotency_window");
  return c;
}

json::object ir_json(const CompiledAutomation& c) {
  json::object o;
  o["ir_format"] = kIrVersion;
  o["id"] = c.id;
  o["version_int"] = c.version;
  o["hash"] = c.hash;
  o["name"] = c.name;
  o["priority"] = c.priority;
  o["enabled"] = c.enabled;
  o["logic"] = c.logic_all ? "ALL" : "ANY";
  json::array triggers;
  for (const CompiledTrigger& t : c.triggers) {
    json::object j;
    j["kind"] = trigger_kind_name(t.kind);
    switch (t.kind) {
      case CompiledTrigger::Kind::kEvent:
        j["event"] = t.event;
        j["filter"] = t.filter_source.empty() ? json::value(nullptr) : json::value(t.filter_source);
        j["scopes"] = string_array(t.filter_scopes);
        break;
      case CompiledTrigger::Kind::kSchedule:
        j["cron"] = t.cron;
        j["time_zone"] = t.time_zone;
        break;
      case CompiledTrigger::Kind::kThreshold:
        j["event"] = t.event;
        j["measure"] = t.measure;
        j["window_ms"] = t.window_ms;
        j["above"] = t.above;
        j["group_by"] = t.group_by;
        break;
    }
    triggers.push_back(std::move(j));
  }
  o["triggers"] = std::move(triggers);
  json::array conditions;
  for (std::size_t i = 0; i < c.condition_sources.size(); ++i) {
    conditions.push_back(
        json::object{{"source", c.condition_sources[i]},
                     {"scopes", i < c.condition_scopes.size() ? string_array(c.condition_scopes[i])
                                                              : json::array{}}});
  }
  o["conditions"] = std::move(conditions);
  json::array targets;
  for (const CompiledTarget& t : c.targets) {
    targets.push_back(json::object{{"host", t.host},
                                   {"selector", t.selector},
                                   {"dynamic", t.dynamic},
                                   {"from_event_subject", t.from_event_subject},
                                   {"resolved_ids", string_array(t.resolved_ids)},
                                   {"resolved_at_ms", t.resolved_at_ms}});
  }
  o["targets"] = std::move(targets);
  json::array actions;
  for (const CompiledAction& a : c.actions) {
    actions.push_back(json::object{
        {"host", a.host}, {"capability", a.capability}, {"verb", a.verb}, {"params", a.params}});
  }
  o["actions"] = std::move(actions);
  o["suppression_window_ms"] = c.suppression_window_ms;
  o["idempotency_window_ms"] = c.idempotency_window_ms;
  return o;
}

}  // namespace warden::automation
