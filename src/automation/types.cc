// The shared types' JSON forms, and the shape checks of drivers' answers: a driver is another
// program (or a remote system), so its answer is checked field by field before anything trusts it.
#include "automation/types.h"

#include <array>
#include <boost/json/value.hpp>
#include <string>

#include "core/clock.h"

namespace warden::automation {
namespace json = boost::json;

namespace {

Status bad_answer(std::string message) {
  return Status(ErrorCode::AUTOMATION_DRIVER_BAD_ANSWER, std::move(message));
}

// Exactly these keys, each present once, of these kinds; anything else is a bad answer.
enum class Kind { kBool, kString, kArray };
struct Field {
  std::string_view name;
  Kind kind;
};

bool has_kind(const json::value& v, Kind kind) {
  switch (kind) {
    case Kind::kBool:
      return v.is_bool();
    case Kind::kString:
      return v.is_string();
    case Kind::kArray:
      return v.is_array();
  }
  return false;
}

std::string_view kind_name(Kind kind) {
  switch (kind) {
    case Kind::kBool:
      return "a boolean";
    case Kind::kString:
      return "a string";
    case Kind::kArray:
      return "an array";
  }
  return "?";
}

template <std::size_t N>
Result<const json::object*> check_shape(const json::value& answer, std::string_view what,
                                        const std::array<Field, N>& fields) {
  const json::object* o = answer.if_object();
  if (o == nullptr) return bad_answer(std::string(what) + " is not a JSON object");
  for (const auto& [key, value] : *o) {
    bool known = false;
    for (const Field& f : fields) known = known || key == f.name;
    if (!known)
      return bad_answer(std::string(what) + " has an unknown field \"" + std::string(key) + "\"");
  }
  for (const Field& f : fields) {
    const json::value* v = o->if_contains(f.name);
    if (v == nullptr) {
      return bad_answer(std::string(what) + " lacks \"" + std::string(f.name) + "\"");
    }
    if (!has_kind(*v, f.kind)) {
      return bad_answer(std::string(what) + " field \"" + std::string(f.name) + "\" is not " +
                        std::string(kind_name(f.kind)));
    }
  }
  return o;
}

std::optional<Severity> severity_from(std::string_view name) {
  for (Severity s : {Severity::kInfo, Severity::kWarn, Severity::kError, Severity::kBlocker}) {
    if (policy::severity_name(s) == name) return s;
  }
  return std::nullopt;
}

}  // namespace

const VerbInfo* HostInfo::find(std::string_view capability, std::string_view verb) const {
  for (const VerbInfo& v : verbs) {
    if (v.capability == capability && v.verb == verb) return &v;
  }
  return nullptr;
}

Result<DryRun> parse_dry_run(const json::value& answer) {
  static constexpr std::array<Field, 7> kFields = {{{"ok", Kind::kBool},
                                                    {"severity", Kind::kString},
                                                    {"idempotency_key", Kind::kString},
                                                    {"preconditions", Kind::kArray},
                                                    {"plan", Kind::kArray},
                                                    {"effects", Kind::kArray},
                                                    {"reason", Kind::kString}}};
  WARDEN_ASSIGN_OR_RETURN(const json::object* o,
                          check_shape(answer, "the dry-run answer", kFields));
  DryRun d;
  d.ok = o->at("ok").as_bool();
  const std::optional<Severity> severity = severity_from(o->at("severity").as_string());
  if (!severity) {
    return bad_answer("the dry-run answer's severity is not one of info, warn, error, blocker");
  }
  d.severity = *severity;
  // "ok" and the severity say the same thing twice; an answer where they disagree cannot be
  // acted on either way.
  if (d.ok != (d.severity < Severity::kError)) {
    return bad_answer("the dry-run answer's ok and severity disagree");
  }
  d.idempotency_key = std::string(o->at("idempotency_key").as_string());
  d.preconditions = o->at("preconditions").as_array();
  d.plan = o->at("plan").as_array();
  d.effects = o->at("effects").as_array();
  d.reason = std::string(o->at("reason").as_string());
  return d;
}

json::object dry_run_json(const DryRun& d) {
  return json::object{{"ok", d.ok},
                      {"severity", policy::severity_name(d.severity)},
                      {"idempotency_key", d.idempotency_key},
                      {"preconditions", d.preconditions},
                      {"plan", d.plan},
                      {"effects", d.effects},
                      {"reason", d.reason}};
}

Result<ExecuteResult> parse_execute(const json::value& answer) {
  static constexpr std::array<Field, 3> kFields = {
      {{"ok", Kind::kBool}, {"effects", Kind::kArray}, {"reason", Kind::kString}}};
  WARDEN_ASSIGN_OR_RETURN(const json::object* o,
                          check_shape(answer, "the execute answer", kFields));
  ExecuteResult r;
  r.ok = o->at("ok").as_bool();
  r.effects = o->at("effects").as_array();
  r.reason = std::string(o->at("reason").as_string());
  return r;
}

json::object event_json(const Event& e) {
  return json::object{{"id", e.id},
                      {"kind", e.kind},
                      {"source", e.source},
                      {"subject", e.subject},
                      {"occurred_at", format_rfc3339(e.occurred_at_ms / 1000)},
                      {"occurred_at_ms", e.occurred_at_ms},
                      {"attributes", e.attributes}};
}

json::object inventory_item_json(const InventoryItem& item) {
  json::object labels;
  for (const auto& [k, v] : item.labels) labels[k] = v;
  return json::object{
      {"id", item.id}, {"name", item.name}, {"kind", item.kind}, {"labels", std::move(labels)}};
}

json::object execution_json(const ExecutionRecord& r) {
  return json::object{{"id", r.id},
                      {"automation_id", r.automation_id},
                      {"event_id", r.event_id},
                      {"host", r.host},
                      {"target_id", r.target_id},
                      {"capability", r.capability},
                      {"verb", r.verb},
                      {"outcome", r.outcome},
                      {"idempotency_key", r.idempotency_key},
                      {"effects", r.effects},
                      {"reason", r.reason},
                      {"correlation_id", r.correlation_id},
                      {"started_at_ms", r.started_at_ms},
                      {"finished_at_ms", r.finished_at_ms}};
}

}  // namespace warden::automation
