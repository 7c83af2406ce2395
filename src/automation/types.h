// The automation module's shared vocabulary (docs/automation.md): events, the issues that
// validation reports, hosts and their verbs, inventory items, the standard dry-run answer and
// executions. Each part of the module (spec.h, ir.h, driver.h, inventory.h, engine.h) builds on
// these; nothing here does I/O.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "policy/policy.h"

namespace warden::automation {

using policy::Issue;     // {severity, pointer (RFC 6901), code, message}
using policy::Severity;  // info < warn < error < blocker

// --- events -------------------------------------------------------------------------------

// One event, Warden's own (decision.denied, ...) or posted by another system.
struct Event {
  std::string id;       // UUID v7
  std::string kind;     // "decision.denied": [a-z][a-z0-9_]* segments joined by '.', <= 64
  std::string source;   // "warden" for Warden's own; a caller's name otherwise (<= 128)
  std::string subject;  // what it is about: the agent id for Warden's agent events (<= 256)
  std::int64_t occurred_at_ms = 0;
  boost::json::object attributes;  // free-form; the body is bounded (kEventBytesMax)
};
inline constexpr std::size_t kEventBytesMax = 64u << 10;

// --- hosts, verbs, inventory --------------------------------------------------------------

// One verb of a capability, as a driver declares it (plugin.yaml or a built-in host).
struct VerbInfo {
  std::string capability;            // "agent"
  std::string verb;                  // "suspend"
  boost::json::object params_schema;  // a JSON Schema subset (driver.h, validate_params)
  bool invertible = false;
  std::string inverse_verb;             // set when invertible ("resume")
  std::vector<std::string> idempotency_hints;  // param names that identify the effect
};

struct HostInfo {
  std::string id;    // "warden", "webhook", or a plugin's name
  std::string name;  // human-readable
  bool builtin = false;
  std::int64_t dry_run_refresh_sla_s = 5;  // plugin.yaml defaults.dry_run_refresh_sla_s
  std::vector<VerbInfo> verbs;
  const VerbInfo* find(std::string_view capability, std::string_view verb) const;
};

// One thing a host can act on.
struct InventoryItem {
  std::string id;
  std::string name;
  std::string kind;  // "agent", "session", "policy", "file", ...
  std::map<std::string, std::string> labels;
  friend bool operator==(const InventoryItem&, const InventoryItem&) = default;
};

struct InventorySnapshot {
  std::string host;
  std::vector<InventoryItem> items;  // sorted by id
  std::int64_t refreshed_at_ms = 0;
  bool full = false;   // the last refresh was a full one
  bool stale = false;  // older than the host's dry-run SLA at the time it was read
};

// --- drivers' answers ----------------------------------------------------------------------

// The standard dry-run answer every driver gives.
struct DryRun {
  bool ok = false;
  Severity severity = Severity::kInfo;
  std::string idempotency_key;
  boost::json::array preconditions;
  boost::json::array plan;
  boost::json::array effects;  // empty: already in the desired state (a no-op)
  std::string reason;
};

// Checks a driver's JSON answer has exactly the dry-run shape; anything else is
// AUTOMATION_DRIVER_BAD_ANSWER (an error row, never a crash).
Result<DryRun> parse_dry_run(const boost::json::value& answer);
boost::json::object dry_run_json(const DryRun& d);

struct ExecuteResult {
  bool ok = false;
  boost::json::array effects;
  std::string reason;
};
Result<ExecuteResult> parse_execute(const boost::json::value& answer);

// What a driver is asked to do: one action on one target.
struct ActionCall {
  std::string host;
  std::string capability;
  std::string verb;
  boost::json::object params;  // template-expanded ({{event.subject}} ...)
  InventoryItem target;
  boost::json::object event;  // the triggering event (event_json), or empty
  std::string idempotency_key;
  std::string correlation_id;
  // The org of the automation asking; set: the host acts only on that org's objects.
  std::optional<std::string> org = {};
};

// --- executions ------------------------------------------------------------------------------

struct ExecutionRecord {
  std::string id;  // UUID v7
  std::string automation_id;
  std::string event_id;  // empty for a schedule
  std::string host;
  std::string target_id;
  std::string capability;
  std::string verb;
  // "succeeded", "failed", "suppressed" (suppression window), "duplicate" (idempotency
  // window), "skipped" (conditions false / empty target set), "timeout"
  std::string outcome;
  std::string idempotency_key;
  boost::json::array effects;
  std::string reason;
  std::string correlation_id;
  std::int64_t started_at_ms = 0;
  std::int64_t finished_at_ms = 0;
};
inline constexpr std::size_t kExecutionsKeptPerAutomation = 30;

boost::json::object event_json(const Event& e);
boost::json::object inventory_item_json(const InventoryItem& item);
boost::json::object execution_json(const ExecutionRecord& r);

}  // namespace warden::automation
