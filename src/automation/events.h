// Events entering the automation engine: strict validation of a posted body (POST /v1/events)
// and the kinds Warden emits itself (docs/automation.md, "Events").
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "automation/types.h"
#include "core/clock.h"
#include "core/ids.h"
#include "core/status.h"

namespace warden::automation {

// Warden's own event kinds. The subject is the agent id where there is one.
namespace event_kind {
inline constexpr std::string_view kDecisionDenied = "decision.denied";
inline constexpr std::string_view kDecisionApprovalRequired = "decision.approval_required";
inline constexpr std::string_view kApprovalExpired = "approval.expired";
inline constexpr std::string_view kBudgetExceeded = "budget.exceeded";
inline constexpr std::string_view kAuthFailed = "auth.failed";
inline constexpr std::string_view kPolicyChanged = "policy.changed";
inline constexpr std::string_view kAutomationSuppressed = "automation.suppressed";
inline constexpr std::string_view kAutomationExecuted = "automation.executed";
inline constexpr std::string_view kAutomationFailed = "automation.failed";
}  // namespace event_kind

inline constexpr std::string_view kWardenSource = "warden";
// (An event kind is at most 64 bytes: spec.h, kEventKindBytesMax.)
inline constexpr std::size_t kEventSourceBytesMax = 128;
inline constexpr std::size_t kEventSubjectBytesMax = 256;
inline constexpr std::size_t kEventAttributesMax = 64;     // top-level keys
inline constexpr std::size_t kEventAttributeDepthMax = 8;  // nesting of objects and arrays

// What a posted event gets when it leaves a field out: the route knows who posted it (an agent's
// events are about that agent unless they say otherwise).
struct EventDefaults {
  std::string source = "api";
  std::string subject;
};

// Parses a posted event: an object with only {kind, source?, subject?, occurred_at? (RFC 3339
// text or Unix milliseconds), attributes? (object), id? (UUID; else a new v7 one)}. Anything
// else is EVENT_INVALID with details.field naming the offending field.
Result<Event> parse_event(const boost::json::value& body, const EventDefaults& defaults,
                          const Clock& clock, IdGenerator& ids);
// The same from the body's text; a body over kEventBytesMax is EVENT_INVALID (field "body").
Result<Event> parse_event_text(std::string_view body, const EventDefaults& defaults,
                               const Clock& clock, IdGenerator& ids);
// Checks an event built in code (Warden's own) against the same rules.
Status validate_event(const Event& e);

// One of Warden's own events, stamped now with a new id and source "warden".
Event make_warden_event(std::string_view kind, std::string subject, boost::json::object attributes,
                        const Clock& clock, IdGenerator& ids);

// "2026-03-29T01:30:00Z", "2026-03-29T03:30:00.250+02:00" -> Unix milliseconds.
Result<std::int64_t> parse_rfc3339_ms(std::string_view text);

}  // namespace warden::automation
