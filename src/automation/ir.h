// The compiled form of an automation (docs/automation.md, "The IR and its hash"): triggers,
// CEL programs, selectors expanded against inventory, windows in milliseconds. ir_json() is
// its deterministic JSON form.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "automation/types.h"
#include "core/status.h"
#include "expr/expr.h"

namespace warden::automation {

struct CompiledTrigger {
  enum class Kind { kEvent, kSchedule, kThreshold } kind = Kind::kEvent;
  std::string event;                            // kEvent/kThreshold: the event kind
  std::shared_ptr<const expr::Program> filter;  // kEvent, optional
  std::string filter_source;
  std::vector<std::string> filter_scopes;  // the variables (event, target, now) it reads
  std::string cron;                        // kSchedule
  std::string time_zone;
  std::string measure;  // kThreshold: "count" | "sum:<attribute>"
  std::int64_t window_ms = 0;
  double above = 0;
  std::string group_by = "subject";
};

struct CompiledTarget {
  std::string host;
  std::string selector;  // canonical selector text
  bool dynamic = false;
  std::vector<std::string> resolved_ids;  // sorted; empty when dynamic or from_event_subject
  std::int64_t resolved_at_ms = 0;        // 0 when not resolved at compile time
  bool from_event_subject = false;
};

struct CompiledAction {
  std::string host;
  std::string capability;
  std::string verb;
  boost::json::object params;  // templates kept for execute time
};

struct CompiledAutomation {
  std::string id;
  std::string name;
  std::int64_t priority = 0;
  bool enabled = false;
  std::int64_t version = 1;
  std::string hash;
  bool logic_all = false;
  std::vector<CompiledTrigger> triggers;
  std::vector<std::shared_ptr<const expr::Program>> conditions;
  std::vector<std::string> condition_sources;
  std::vector<std::vector<std::string>> condition_scopes;  // per condition, as filter_scopes
  std::vector<CompiledTarget> targets;
  std::vector<CompiledAction> actions;
  std::int64_t suppression_window_ms = 0;
  std::int64_t idempotency_window_ms = 0;
  // The org that owns it (store::AutomationRow::org); none: the operator's. An org's automation
  // hears only events about its org's agents and acts only on its org's agents and policies.
  std::optional<std::string> org = {};
};

// The IR's format version, written as "version_int" by ir_json.
inline constexpr std::int64_t kIrVersion = 1;

// Compiles a normalized spec (SpecCheck::normalized; a spec with blockers is refused with
// AUTOMATION_INVALID). Selectors that are not dynamic are expanded against `inventory`
// (host -> snapshot; a missing host = no items) at now_ms. id and version are left to the
// caller (the store owns them); hash is the canonical hash of `normalized` (as validate_spec).
Result<CompiledAutomation> compile(const boost::json::object& normalized,
                                   const std::map<std::string, InventorySnapshot>& inventory,
                                   std::int64_t now_ms);

// Deterministic: what golden tests compare.
boost::json::object ir_json(const CompiledAutomation& c);

// The CEL environment of filters and conditions: `event` (map: id, kind, source, subject,
// occurred_at, attributes), `target` (map: id, name, kind, labels), `now` (timestamp).
const expr::Env& automation_env();

// The variables of filters and conditions as JSON ({event, target, now}), as
// bind_automation_vars binds them: build once per event (and target) and bind it on each
// filter's activation.
boost::json::object automation_vars(const Event* event, const InventoryItem* target,
                                    std::int64_t now_ms);
// Binds `event` (absent: an empty map), `target` (absent: an empty map) and `now` on an
// activation of a filter or condition. Times are RFC 3339 UTC with milliseconds
// ("2026-11-30T11:41:08.123Z"); `target.labels` is a map of strings.
Status bind_automation_vars(expr::Activation& act, const Event* event, const InventoryItem* target,
                            std::int64_t now_ms);

}  // namespace warden::automation
