// Spec v1 of an automation (docs/automation.md, "Spec v1"): a strict parse that reports every
// problem as an Issue with a severity, an RFC 6901 pointer and a stable code, the normalized
// document (defaults filled, durations canonical) and its content hash.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "automation/types.h"
#include "core/status.h"

namespace warden::automation {

// Issue codes (stable strings). Severity is blocker unless noted.
//   SPEC_WRONG_TYPE          a field has the wrong JSON type (or the document is not an object)
//   SPEC_UNKNOWN_FIELD       a key spec v1 does not define
//   SPEC_MISSING_FIELD       a required key is absent
//   SPEC_VALUE_INVALID       a value outside its allowed set or range (logic, kind, measure,
//                            above, empty name, too long text, ...)
//   LIST_EMPTY               triggers, targets or actions is empty
//   DURATION_INVALID         not "<n>s|m|h|d" (policy::parse_window's rolling form)
//   CRON_INVALID             not a 5-field cron expression (cron.h)
//   TIME_ZONE_UNKNOWN        not a zone of the IANA database
//   SELECTOR_INVALID         a selector parse_selector rejects
//   EXPRESSION_INVALID       a filter or condition that does not compile in automation_env()
//   EXPRESSION_NOT_BOOL      error: a filter or condition whose type is known and is not bool
//   EVENT_KIND_INVALID       an event kind that is not lower-case dotted segments
//   TEMPLATE_INVALID         a "{{...}}" in params naming anything but event.subject,
//                            event.attributes.<name>, event.kind, event.source, event.id,
//                            target.id, target.name
//   SUBJECT_WITHOUT_EVENT    error: a "{{event.subject}}" selector or template in an
//                            automation with no event or threshold trigger
//   HOST_UNKNOWN_TARGET      error: a target host no driver declares (hosts given)
//   ACTION_SCHEMA_MISMATCH   error: an action's host unknown, or params not matching the verb's
//                            schema (hosts given)
//   VERB_UNKNOWN             error: the host has no such capability/verb (hosts given)
//   ACTION_HOST_UNTARGETED   warn: an action whose host has no target
struct SpecCheck {
  std::vector<Issue> issues;  // document order, pointers like "/actions/0/params/x"
  // Defaults filled, durations canonical ("60m" -> "1h"), conditions and params as given.
  // Best effort when there are blockers.
  boost::json::object normalized;
  // SHA-256 hex of canonical JSON of `normalized` without `enabled` (toggling it keeps the
  // identity); empty when there is a blocker.
  std::string hash;
  bool has_blocker() const;
  bool has_error() const;        // any issue with severity >= error
  bool action_mismatch() const;  // an ACTION_SCHEMA_MISMATCH or VERB_UNKNOWN issue (-> 422)
};

// Checks params against a verb's JSON Schema subset; pointers under `base` (driver.h's
// validate_params has exactly this shape).
using ParamsValidator = std::function<std::vector<Issue>(
    const boost::json::object& schema, const boost::json::object& params, const std::string& base)>;

// `hosts`: what drivers declare (for host/capability/verb/param checks); nullptr skips those
// checks. Without `validate_params` only the existence of host, capability and verb is
// checked. Params holding a template ("{{event.subject}}") are passed to the validator with the
// templated values left out, since their type is only known at execute time.
SpecCheck validate_spec(const boost::json::value& doc, const std::vector<HostInfo>* hosts,
                        const ParamsValidator& validate_params = {});

// Bounds on a spec (beyond them: SPEC_VALUE_INVALID).
inline constexpr std::size_t kSpecNameBytesMax = 200;
inline constexpr std::size_t kSpecDescriptionBytesMax = 4000;
inline constexpr std::size_t kSpecTriggersMax = 32;
inline constexpr std::size_t kSpecConditionsMax = 32;
inline constexpr std::size_t kSpecTargetsMax = 32;
inline constexpr std::size_t kSpecActionsMax = 32;
inline constexpr std::size_t kEventKindBytesMax = 64;

// Durations of spec v1: "<positive n><s|m|h|d>", canonical text in the largest exact unit.
Result<std::int64_t> parse_duration_ms(std::string_view text);
std::string duration_text(std::int64_t ms);

// Whether `kind` is [a-z][a-z0-9_]* segments joined by '.', at most kEventKindBytesMax.
bool valid_event_kind(std::string_view kind);

}  // namespace warden::automation
