// Spec v1 validation: a strict walk of the document that reports every problem with its
// pointer, builds the normalized form and hashes it.
#include "automation/spec.h"

#include <algorithm>
#include <cmath>
#include <initializer_list>

#include "automation/cron.h"
#include "automation/ir.h"
#include "automation/selector.h"
#include "automation/template.h"
#include "core/json.h"

namespace warden::automation {
namespace json = boost::json;
namespace {

constexpr std::int64_t kDayMs = 86'400'000;

struct DurationUnit {
  char suffix;
  std::int64_t ms;
};
constexpr DurationUnit kDurationUnits[] = {
    {'d', kDayMs}, {'h', 3'600'000}, {'m', 60'000}, {'s', 1'000}};

constexpr std::string_view kMeasureSumPrefix = "sum:";
constexpr std::string_view kGroupBys[] = {"subject", "source"};

// Built by appending: GCC 12 warns (-Wrestrict, a false positive) on "\"" + std::string(...).
std::string quoted(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  out += s;
  out += '"';
  return out;
}

std::string at(const std::string& base, std::string_view key) {
  return json_pointer_join(base, key);
}
std::string at(const std::string& base, std::size_t index) {
  return base + "/" + std::to_string(index);
}

// Reads one object of the document, recording problems as it goes.
class Checker {
 public:
  explicit Checker(std::vector<Issue>& issues) : issues_(issues) {}

  void add(Severity s, std::string pointer, std::string code, std::string message) {
    issues_.push_back(Issue{s, std::move(pointer), std::move(code), std::move(message)});
  }
  void blocker(std::string pointer, std::string code, std::string message) {
    add(Severity::kBlocker, std::move(pointer), std::move(code), std::move(message));
  }
  void wrong_type(const std::string& pointer, std::string_view expected) {
    blocker(pointer, "SPEC_WRONG_TYPE", "expected " + std::string(expected));
  }

  const json::object* object(const json::value& v, const std::string& pointer,
                             std::initializer_list<std::string_view> fields) {
    const json::object* o = v.if_object();
    if (o == nullptr) {
      wrong_type(pointer, "an object");
      return nullptr;
    }
    for (const auto& kv : *o) {
      if (std::find(fields.begin(), fields.end(), std::string_view(kv.key())) == fields.end()) {
        blocker(at(pointer, kv.key()), "SPEC_UNKNOWN_FIELD", "unknown field " + quoted(kv.key()));
      }
    }
    return o;
  }

  // A present, non-null field; a missing required one is reported.
  const json::value* field(const json::object& o, const std::string& pointer, std::string_view key,
                           bool required) {
    const json::value* v = o.if_contains(key);
    if (v != nullptr && !v->is_null()) return v;
    if (required) {
      blocker(at(pointer, key), "SPEC_MISSING_FIELD", quoted(key) + " is required");
    }
    return nullptr;
  }

  std::optional<std::string> string(const json::object& o, const std::string& pointer,
                                    std::string_view key, bool required, std::size_t bytes_max) {
    const json::value* v = field(o, pointer, key, required);
    if (v == nullptr) return std::nullopt;
    if (!v->is_string()) {
      wrong_type(at(pointer, key), "a string");
      return std::nullopt;
    }
    const std::string_view s = v->get_string();
    if (s.size() > bytes_max) {
      blocker(at(pointer, key), "SPEC_VALUE_INVALID",
              "longer than " + std::to_string(bytes_max) + " bytes");
      return std::nullopt;
    }
    if (required && s.find_first_not_of(" \t\r\n") == std::string_view::npos) {
      blocker(at(pointer, key), "SPEC_VALUE_INVALID", "must not be empty");
      return std::nullopt;
    }
    return std::string(s);
  }

  std::optional<bool> boolean(const json::object& o, const std::string& pointer,
                              std::string_view key) {
    const json::value* v = field(o, pointer, key, false);
    if (v == nullptr) return std::nullopt;
    if (!v->is_bool()) {
      wrong_type(at(pointer, key), "true or false");
      return std::nullopt;
    }
    return v->get_bool();
  }

  const json::array* array(const json::object& o, const std::string& pointer, std::string_view key,
                           bool required, std::size_t size_max) {
    const json::value* v = field(o, pointer, key, required);
    if (v == nullptr) return nullptr;
    const json::array* a = v->if_array();
    if (a == nullptr) {
      wrong_type(at(pointer, key), "an array");
      return nullptr;
    }
    if (a->size() > size_max) {
      blocker(at(pointer, key), "SPEC_VALUE_INVALID",
              "more than " + std::to_string(size_max) + " entries");
      return nullptr;
    }
    if (a->empty() && required) {
      blocker(at(pointer, key), "LIST_EMPTY", quoted(key) + " must not be empty");
    }
    return a;
  }

  // A duration field: its canonical text, or nullopt (absent or invalid).
  std::optional<std::string> duration(const json::object& o, const std::string& pointer,
                                      std::string_view key, bool required) {
    const std::optional<std::string> text = string(o, pointer, key, required, 32);
    if (!text) return std::nullopt;
    const Result<std::int64_t> ms = parse_duration_ms(*text);
    if (!ms.ok()) {
      blocker(at(pointer, key), "DURATION_INVALID", ms.status().message());
      return std::nullopt;
    }
    return duration_text(*ms);
  }

  // Compiles a filter or condition; returns whether it compiled.
  bool expression(const std::string& pointer, const std::string& source) {
    if (source.find_first_not_of(" \t\r\n") == std::string::npos) {
      blocker(pointer, "EXPRESSION_INVALID", "an empty expression");
      return false;
    }
    const Result<expr::Program> program = expr::compile(source, automation_env());
    if (!program.ok()) {
      blocker(pointer, "EXPRESSION_INVALID", program.status().message());
      return false;
    }
    const expr::TypeKind kind = program->result_type().kind();
    if (kind != expr::TypeKind::kBool && kind != expr::TypeKind::kDyn) {
      add(Severity::kError, pointer, "EXPRESSION_NOT_BOOL",
          "the expression is of type " + program->result_type().to_string() + ", not bool");
    }
    return true;
  }

 private:
  std::vector<Issue>& issues_;
};

const VerbInfo* find_verb(const HostInfo& host, std::string_view capability,
                          std::string_view verb) {
  for (const VerbInfo& v : host.verbs) {
    if (v.capability == capability && v.verb == verb) return &v;
  }
  return nullptr;
}

const HostInfo* find_host(const std::vector<HostInfo>& hosts, std::string_view id) {
  for (const HostInfo& h : hosts) {
    if (h.id == id) return &h;
  }
  return nullptr;
}

// Triggers: each kind has its own fields. Returns the normalized trigger (best effort).
json::object check_trigger(Checker& c, const json::value& v, const std::string& p,
                           bool& has_event) {
  json::object out;
  const json::object* o = v.if_object();
  if (o == nullptr) {
    c.wrong_type(p, "an object");
    return out;
  }
  const std::optional<std::string> kind = c.string(*o, p, "kind", true, 32);
  if (!kind) return out;
  out["kind"] = *kind;
  auto event_kind = [&](std::string_view key) {
    const std::optional<std::string> event = c.string(*o, p, key, true, kEventKindBytesMax);
    if (!event) return;
    if (!valid_event_kind(*event)) {
      c.blocker(at(p, key), "EVENT_KIND_INVALID",
                "an event kind is lower-case [a-z][a-z0-9_]* segments joined by '.'");
    }
    out[key] = *event;
  };
  if (*kind == "event") {
    has_event = true;
    c.object(v, p, {"kind", "event", "filter"});
    event_kind("event");
    const std::optional<std::string> filter = c.string(*o, p, "filter", false, 16 * 1024);
    if (filter && !filter->empty()) {
      c.expression(at(p, "filter"), *filter);
      out["filter"] = *filter;
    }
  } else if (*kind == "schedule") {
    c.object(v, p, {"kind", "cron", "time_zone"});
    const std::optional<std::string> cron = c.string(*o, p, "cron", true, 256);
    const std::optional<std::string> zone = c.string(*o, p, "time_zone", true, 64);
    if (zone) {
      // The zone is checked on its own so a bad zone and a bad cron are both reported.
      const auto z = parse_cron("* * * * *", *zone);
      if (!z.ok()) c.blocker(at(p, "time_zone"), "TIME_ZONE_UNKNOWN", z.status().message());
      out["time_zone"] = *zone;
    }
    if (cron) {
      const auto parsed = parse_cron(*cron, "UTC");
      if (!parsed.ok()) {
        c.blocker(at(p, "cron"), "CRON_INVALID", parsed.status().message());
        out["cron"] = *cron;
      } else {
        out["cron"] = parsed->expr;
      }
    }
  } else if (*kind == "threshold") {
    has_event = true;
    c.object(v, p, {"kind", "event", "measure", "window", "above", "group_by"});
    event_kind("event");
    const std::optional<std::string> measure = c.string(*o, p, "measure", true, 128);
    if (measure) {
      const bool sum =
          measure->rfind(kMeasureSumPrefix, 0) == 0 && measure->size() > kMeasureSumPrefix.size();
      if (*measure != "count" && !sum) {
        c.blocker(at(p, "measure"), "SPEC_VALUE_INVALID",
                  "measure is \"count\" or \"sum:<attribute>\"");
      }
      out["measure"] = *measure;
    }
    const std::optional<std::string> window = c.duration(*o, p, "window", true);
    if (window) out["window"] = *window;
    if (const json::value* above = c.field(*o, p, "above", true)) {
      if (!above->is_number()) {
        c.wrong_type(at(p, "above"), "a number");
      } else {
        const double d = above->to_number<double>();
        if (!std::isfinite(d)) {
          c.blocker(at(p, "above"), "SPEC_VALUE_INVALID", "above must be finite");
        }
        out["above"] = d;
      }
    }
    const std::optional<std::string> group_by = c.string(*o, p, "group_by", false, 32);
    if (group_by &&
        std::find(std::begin(kGroupBys), std::end(kGroupBys), *group_by) == std::end(kGroupBys)) {
      c.blocker(at(p, "group_by"), "SPEC_VALUE_INVALID", "group_by is \"subject\" or \"source\"");
    }
    out["group_by"] = group_by.value_or("subject");
  } else {
    c.blocker(at(p, "kind"), "SPEC_VALUE_INVALID",
              "kind is \"event\", \"schedule\" or \"threshold\"");
  }
  return out;
}

// Pointers (under `base`) of the string values holding a template, and template problems.
void scan_templates(Checker& c, const json::value& v, const std::string& p,
                    std::vector<std::string>& templated, bool& uses_event) {
  if (const json::object* o = v.if_object()) {
    for (const auto& kv : *o) scan_templates(c, kv.value(), at(p, kv.key()), templated, uses_event);
  } else if (const json::array* a = v.if_array()) {
    for (std::size_t i = 0; i < a->size(); ++i) {
      scan_templates(c, (*a)[i], at(p, i), templated, uses_event);
    }
  } else if (const json::string* s = v.if_string()) {
    const Result<std::vector<TemplateRef>> refs = template_refs(*s);
    if (!refs.ok()) {
      c.blocker(p, "TEMPLATE_INVALID", refs.status().message());
      return;
    }
    if (refs->empty()) return;
    templated.push_back(p);
    for (const TemplateRef& r : *refs) uses_event = uses_event || r.scope == "event";
  }
}

bool under(std::string_view pointer, std::string_view prefix) {
  return pointer.substr(0, prefix.size()) == prefix &&
         (pointer.size() == prefix.size() || pointer[prefix.size()] == '/');
}

}  // namespace

bool SpecCheck::has_blocker() const {
  return std::any_of(issues.begin(), issues.end(),
                     [](const Issue& i) { return i.severity == Severity::kBlocker; });
}

bool SpecCheck::has_error() const {
  return std::any_of(issues.begin(), issues.end(),
                     [](const Issue& i) { return i.severity >= Severity::kError; });
}

bool SpecCheck::action_mismatch() const {
  return std::any_of(issues.begin(), issues.end(), [](const Issue& i) {
    return i.code == "ACTION_SCHEMA_MISMATCH" || i.code == "VERB_UNKNOWN";
  });
}

Result<std::int64_t> parse_duration_ms(std::string_view text) {
  const Result<policy::Window> w = policy::parse_window(text);
  if (!w.ok() || w->calendar) {
    return Status(ErrorCode::VALIDATION_INVALID_VALUE,
                  "invalid duration \"" + std::string(text.substr(0, 32)) +
                      "\": a positive count and a unit (s, m, h, d), e.g. \"5m\"");
  }
  return w->seconds * 1000;
}

std::string duration_text(std::int64_t ms) {
  for (const DurationUnit& u : kDurationUnits) {
    if (ms > 0 && ms % u.ms == 0) return std::to_string(ms / u.ms) + u.suffix;
  }
  return std::to_string(ms / 1000) + "s";
}

bool valid_event_kind(std::string_view kind) {
  if (kind.empty() || kind.size() > kEventKindBytesMax) return false;
  bool segment_start = true;
  for (char ch : kind) {
    if (ch == '.') {
      if (segment_start) return false;
      segment_start = true;
      continue;
    }
    const bool lower = ch >= 'a' && ch <= 'z';
    const bool digit_or_underscore = (ch >= '0' && ch <= '9') || ch == '_';
    if (segment_start ? !lower : !(lower || digit_or_underscore)) return false;
    segment_start = false;
  }
  return !segment_start;
}

SpecCheck validate_spec(const json::value& doc, const std::vector<HostInfo>* hosts,
                        const ParamsValidator& validate_params) {
  SpecCheck out;
  Checker c(out.issues);
  const std::string root;
  const json::object* o =
      c.object(doc, root,
               {"name", "description", "enabled", "priority", "trigger_group", "conditions",
                "targets", "actions", "suppression_window", "idempotency_window"});
  if (o == nullptr) return out;
  json::object& n = out.normalized;

  n["name"] = c.string(*o, root, "name", true, kSpecNameBytesMax).value_or("");
  n["description"] =
      c.string(*o, root, "description", false, kSpecDescriptionBytesMax).value_or("");
  n["enabled"] = c.boolean(*o, root, "enabled").value_or(false);
  std::int64_t priority = 0;
  if (const json::value* v = c.field(*o, root, "priority", false)) {
    if (v->is_int64()) {
      priority = v->get_int64();
    } else if (v->is_uint64()) {
      c.blocker("/priority", "SPEC_VALUE_INVALID", "priority is out of range");
    } else {
      c.wrong_type("/priority", "an integer");
    }
  }
  n["priority"] = priority;

  // Triggers.
  bool has_event = false;
  json::object group;
  group["logic"] = "ANY";
  json::array triggers;
  if (const json::value* g = c.field(*o, root, "trigger_group", true)) {
    const std::string gp = "/trigger_group";
    if (const json::object* go = c.object(*g, gp, {"logic", "triggers"})) {
      if (const std::optional<std::string> logic = c.string(*go, gp, "logic", false, 8)) {
        if (*logic != "ANY" && *logic != "ALL") {
          c.blocker(gp + "/logic", "SPEC_VALUE_INVALID", "logic is \"ANY\" or \"ALL\"");
        } else {
          group["logic"] = *logic;
        }
      }
      if (const json::array* a = c.array(*go, gp, "triggers", true, kSpecTriggersMax)) {
        for (std::size_t i = 0; i < a->size(); ++i) {
          triggers.push_back(check_trigger(c, (*a)[i], at(gp + "/triggers", i), has_event));
        }
      }
    }
  }
  group["triggers"] = std::move(triggers);
  n["trigger_group"] = std::move(group);

  // Conditions.
  json::array conditions;
  if (const json::array* a = c.array(*o, root, "conditions", false, kSpecConditionsMax)) {
    for (std::size_t i = 0; i < a->size(); ++i) {
      const std::string p = at("/conditions", i);
      if (!(*a)[i].is_string()) {
        c.wrong_type(p, "a CEL expression (string)");
        continue;
      }
      const std::string source((*a)[i].get_string());
      c.expression(p, source);
      conditions.push_back(json::string(source));
    }
  }
  n["conditions"] = std::move(conditions);

  // Targets.
  std::vector<std::string> target_hosts;
  json::array targets;
  if (const json::array* a = c.array(*o, root, "targets", true, kSpecTargetsMax)) {
    for (std::size_t i = 0; i < a->size(); ++i) {
      const std::string p = at("/targets", i);
      const json::object* t = c.object((*a)[i], p, {"host", "selector", "dynamic_resolution"});
      if (t == nullptr) continue;
      json::object nt;
      const std::optional<std::string> host = c.string(*t, p, "host", true, 128);
      if (host) {
        target_hosts.push_back(*host);
        if (hosts != nullptr && find_host(*hosts, *host) == nullptr) {
          c.add(Severity::kError, p + "/host", "HOST_UNKNOWN_TARGET",
                "no driver declares host \"" + *host + "\"");
        }
      }
      nt["host"] = host.value_or("");
      const std::optional<std::string> selector =
          c.string(*t, p, "selector", true, kSelectorBytesMax);
      nt["selector"] = selector.value_or("");
      if (selector) {
        const Result<Selector> s = parse_selector(*selector);
        if (!s.ok()) {
          c.blocker(p + "/selector", "SELECTOR_INVALID", s.status().message());
        } else {
          nt["selector"] = s->text;
          if (s->kind == Selector::Kind::kEventSubject) {
            if (!has_event) {
              c.add(Severity::kError, p + "/selector", "SUBJECT_WITHOUT_EVENT",
                    "{{event.subject}} needs an event or threshold trigger");
            }
          }
        }
      }
      nt["dynamic_resolution"] = c.boolean(*t, p, "dynamic_resolution").value_or(false);
      targets.push_back(std::move(nt));
    }
  }
  n["targets"] = std::move(targets);

  // Actions.
  json::array actions;
  if (const json::array* a = c.array(*o, root, "actions", true, kSpecActionsMax)) {
    for (std::size_t i = 0; i < a->size(); ++i) {
      const std::string p = at("/actions", i);
      const json::object* ao = c.object((*a)[i], p, {"host", "capability", "verb", "params"});
      if (ao == nullptr) continue;
      json::object na;
      const std::optional<std::string> host = c.string(*ao, p, "host", true, 128);
      const std::optional<std::string> capability = c.string(*ao, p, "capability", true, 128);
      const std::optional<std::string> verb = c.string(*ao, p, "verb", true, 128);
      na["host"] = host.value_or("");
      na["capability"] = capability.value_or("");
      na["verb"] = verb.value_or("");
      json::object params;
      std::vector<std::string> templated;
      if (const json::value* pv = c.field(*ao, p, "params", false)) {
        if (!pv->is_object()) {
          c.wrong_type(p + "/params", "an object");
        } else {
          params = pv->get_object();
          bool event_refs = false;
          scan_templates(c, *pv, p + "/params", templated, event_refs);
          if (event_refs && !has_event) {
            c.add(Severity::kError, p + "/params", "SUBJECT_WITHOUT_EVENT",
                  "templates naming the event need an event or threshold trigger");
          }
        }
      }
      if (host &&
          std::find(target_hosts.begin(), target_hosts.end(), *host) == target_hosts.end()) {
        c.add(Severity::kWarn, p + "/host", "ACTION_HOST_UNTARGETED",
              "no target names host \"" + *host + "\": the action never runs");
      }
      if (hosts != nullptr && host && capability && verb) {
        const HostInfo* h = find_host(*hosts, *host);
        const VerbInfo* vi = h == nullptr ? nullptr : find_verb(*h, *capability, *verb);
        if (h == nullptr) {
          c.add(Severity::kError, p + "/host", "ACTION_SCHEMA_MISMATCH",
                "no driver declares host \"" + *host + "\"");
        } else if (vi == nullptr) {
          const bool capability_known =
              std::any_of(h->verbs.begin(), h->verbs.end(),
                          [&](const VerbInfo& x) { return x.capability == *capability; });
          c.add(Severity::kError, p + (capability_known ? "/verb" : "/capability"), "VERB_UNKNOWN",
                "host \"" + *host + "\" has no verb \"" + *capability + "." + *verb + "\"");
        } else if (validate_params) {
          for (Issue& issue : validate_params(vi->params_schema, params, p + "/params")) {
            // A templated value's type is known only at execute time.
            if (std::any_of(templated.begin(), templated.end(),
                            [&](const std::string& t) { return under(issue.pointer, t); })) {
              continue;
            }
            c.add(Severity::kError, std::move(issue.pointer), "ACTION_SCHEMA_MISMATCH",
                  issue.code + ": " + issue.message);
          }
        }
      }
      na["params"] = std::move(params);
      actions.push_back(std::move(na));
    }
  }
  n["actions"] = std::move(actions);

  // Windows: absent means none (null in the normalized form).
  const std::optional<std::string> suppression = c.duration(*o, root, "suppression_window", false);
  n["suppression_window"] = suppression ? json::value(*suppression) : json::value(nullptr);
  const std::optional<std::string> idempotency = c.duration(*o, root, "idempotency_window", false);
  n["idempotency_window"] = idempotency ? json::value(*idempotency) : json::value(nullptr);

  if (!out.has_blocker()) {
    // `enabled` is not part of an automation's identity: toggling it keeps the hash.
    json::object identity = n;
    identity.erase("enabled");
    out.hash = canonical_hash(identity);
  }
  return out;
}

}  // namespace warden::automation
