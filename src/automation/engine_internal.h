// Internal to the engine's translation units: what the loaded automations look like and what
// one planned action carries.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "automation/cron.h"
#include "automation/engine.h"
#include "expr/expr.h"

namespace warden::automation {

struct AutomationEngine::Loaded {
  // Enabled automations, priority descending then id ascending: the order they are tried in.
  std::vector<std::shared_ptr<const CompiledAutomation>> all;
  // Event kind -> indexes into `all` of automations with an event or threshold trigger on it.
  std::map<std::string, std::vector<std::size_t>, std::less<>> by_kind;
  struct Schedule {
    std::size_t automation = 0;
    std::size_t trigger = 0;
    Cron cron;
    std::string key;  // "<id>/<trigger>/<cron>/<zone>": a changed schedule starts afresh
  };
  std::vector<Schedule> schedules;
};

struct AutomationEngine::ActionJob {
  std::shared_ptr<const CompiledAutomation> automation;
  CompiledAction action;
  InventoryItem target;
  std::optional<Event> event;
  std::string firing_id;       // the correlation id of everything one firing does
  boost::json::object params;  // templates expanded
  std::string key;             // idempotency key
};

// A filter's or condition's result: true only for a boolean true (an error, a missing field or
// another type is false).
bool eval_bool(const expr::Program& program, const boost::json::object& vars);

}  // namespace warden::automation
