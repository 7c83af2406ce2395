// The policy module's public API: parse a user policy document, validate its rules (every
// problem, with a severity and a JSON pointer), normalise it and compute its content hash.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace warden::policy {

// info: a remark; warn: legal but probably not what was meant; error: valid structure that would
// not work at run time (prevents enabling); blocker: invalid (prevents saving).
enum class Severity { kInfo, kWarn, kError, kBlocker };
std::string_view severity_name(Severity severity);  // "info" | "warn" | "error" | "blocker"

// Issue codes (stable SCREAMING_SNAKE strings). Severity is blocker unless noted.
//   POLICY_TYPE_UNKNOWN     /type is not one of kPolicyTypes
//   AGENT_ID_INVALID        /agent_id is not a UUID
//   RULES_WRONG_TYPE        a field (or /rules itself) has the wrong JSON type
//   RULES_UNKNOWN_FIELD     a key the policy type does not define
//   RULES_MISSING_FIELD     a required key is absent
//   VALUE_OUT_OF_RANGE      an integer outside its allowed range, or a string that is too long
//   VALUE_NOT_ALLOWED       a string outside a closed set (chain, network, day, effect, scope)
//   VALUE_EMPTY             an empty string where text is required (asset, expression)
//   AMOUNT_INVALID          not a decimal string of an unsigned integer below 2^256
//   TIER_MISSING            SPENDING_LIMIT has none of instant_max, notify_max, delay_max
//   TIER_ORDER              tier amounts decrease (instant <= notify <= delay); names the pair
//   WINDOW_INVALID          a duration that parse_window rejects
//   WINDOW_DUPLICATE        two windows with the same duration
//   WINDOW_BELOW_INSTANT    warn: a window max below instant_max (instant tier can never pass)
//   ADDRESS_INVALID         not an EVM (0x + 40 hex) or Solana (base58, 32-44 chars) address
//   ASSET_INVALID           a SPENDING_LIMIT asset that canonical_asset() refuses
//   SELECTOR_INVALID        a method selector that is not 0x + 8 hex
//   MODEL_PATTERN_INVALID   empty model name, or `*` anywhere but at the end
//   DUPLICATE_ENTRY         warn: an entry repeated in a set (removed by normalisation)
//   ENTRY_REDUNDANT         info: a model name that a `prefix*` pattern in the list allows
//   LIST_EMPTY              warn: an empty allow-list denies everything; error for
//                           TIME_RESTRICTION ranges / days (the policy could never allow)
//   TIME_ZONE_UNKNOWN       not a zone of the IANA time zone database
//   HOUR_RANGE_INVALID      start_hour >= end_hour
//   EXPRESSION_MISSING      CUSTOM has neither pre nor post
//   POLICY_NO_EFFECT        warn: APPROVE_AMOUNT_LIMIT that neither caps nor blocks anything
//   BUDGET_UNBOUNDED        warn: BUDGET with allow_negative: true never stops spending
// A ValidateOptions::check_expression hook may add its own codes (e.g. CEL type errors).
struct Issue {
  Severity severity;
  std::string pointer;  // RFC 6901, relative to the policy document, e.g. "/rules/instant_max"
  std::string code;
  std::string message;
  friend bool operator==(const Issue&, const Issue&) = default;
};

// The user-facing policy document.
struct PolicySpec {
  std::optional<std::string> agent_id;  // null/absent = global
  std::string type;                     // one of kPolicyTypes (core/enums.h)
  boost::json::value rules;             // must be an object
  std::int64_t priority = 0;
  bool enabled = true;
};

// Strict parse of {agent_id?, type, rules, priority?, enabled?}. The first problem wins:
// unknown field -> VALIDATION_UNKNOWN_FIELD, missing type/rules -> VALIDATION_MISSING_FIELD,
// wrong JSON type -> VALIDATION_WRONG_TYPE, unknown type -> POLICY_INVALID_TYPE, agent_id not a
// UUID -> VALIDATION_INVALID_VALUE. The message names the field; details are
// {"pointer": "/field", "field": "field"}. A UUID agent_id is lower-cased.
Result<PolicySpec> parse_spec(const boost::json::value& doc);

// Reads a JSON file (at most kPolicyFileBytesMax) and parses it with parse_spec. An unreadable
// or oversized file -> VALIDATION_INVALID_VALUE naming the path; bad JSON ->
// VALIDATION_MALFORMED_JSON naming the path.
inline constexpr std::size_t kPolicyFileBytesMax = 1 << 20;
Result<PolicySpec> load_policy_file(const std::string& path);

// Checks one CUSTOM expression (pre or post); returns its problems with pointers at or below
// `pointer`. Supplied by the expression module; validation works without it.
using ExpressionChecker =
    std::function<std::vector<Issue>(std::string_view pointer, std::string_view source)>;

struct ValidateOptions {
  ExpressionChecker check_expression;  // may be empty
};

struct Validation {
  std::vector<Issue> issues;  // every problem, in document order
  // Defaults filled in, sets sorted and deduplicated, EVM addresses and selectors lower-cased,
  // durations in canonical form (largest exact unit: "1440m" -> "1d"). Best effort when there
  // are blockers.
  boost::json::object normalized_rules;
  // SHA-256 hex of canonical JSON of normalized_spec(); empty when there is a blocker.
  std::string hash;
  bool has_blocker() const;
  bool has_error() const;  // any issue with severity >= error
};

// A pure function of its arguments (the IANA database is loaded once, read-only): safe to call
// from any thread, as long as options.check_expression is.
Validation validate(const PolicySpec& spec, const ValidateOptions& options = {});

// Canonical normalized spec {agent_id, type, rules, priority}: `enabled` is not part of a
// policy's identity, so toggling it keeps the hash.
boost::json::object normalized_spec(const PolicySpec& spec, const boost::json::object& rules);

boost::json::value issues_to_json(const std::vector<Issue>& issues);  // [{severity, pointer,
                                                                      //   code, message}]

// ---- Canonical names ----
// Every name a policy can match has one spelling. The same functions normalise a policy when it
// is saved and a request where it enters (engine/request_mapping.h): a value they refuse is an
// error on both sides, never a second name that slips past a policy.

// An address: EVM "0x" + 40 hex digits (returned lower-cased) or Solana base58 of 32-44
// characters (returned exactly: base58 is case-sensitive). `chain` ("ethereum" or "solana")
// restricts the form; empty accepts either ("0x" cannot begin a base58 string).
std::optional<std::string> canonical_address(std::string_view text, std::string_view chain = {});

// An asset: exactly "native" (the chain's own coin), a token address (canonical_address), or a
// currency code of 2 to kCurrencyCodeBytesMax upper-case letters, digits and '_' starting with
// a letter ("USD", "CREDITS"; amounts in its smallest unit, e.g. micro-USD), other than "NATIVE".
inline constexpr std::string_view kNativeAsset = "native";
inline constexpr std::size_t kCurrencyCodeBytesMax = 16;
std::optional<std::string> canonical_asset(std::string_view text);

// An action name: 1 to kActionBytesMax characters of [A-Za-z0-9_.:-], returned upper-cased
// ("transfer" and "TRANSFER" are one action).
inline constexpr std::size_t kActionBytesMax = 64;
std::optional<std::string> canonical_action(std::string_view text);

// Windows used by limits: rolling "30s" "15m" "24h" "7d" (a positive count and a unit) and
// calendar "day" "week" "month" (UTC; weeks start on Monday).
enum class WindowUnit {
  kSecond,
  kMinute,
  kHour,
  kDay,
  kCalendarDay,
  kCalendarWeek,
  kCalendarMonth
};
inline constexpr std::int64_t kWindowSecondsMax = 3660LL * 86400;  // about ten years

struct Window {
  bool calendar = false;
  // Rolling: the exact length. Calendar: the nominal length (day 86400, week 604800, month
  // 2592000 = 30 days); the engine derives real boundaries from `unit`.
  std::int64_t seconds = 0;
  WindowUnit unit = WindowUnit::kSecond;
  friend bool operator==(const Window&, const Window&) = default;
};

// VALIDATION_INVALID_VALUE for anything else: no sign, no leading zero, no spaces, lower-case
// unit, 0 < seconds <= kWindowSecondsMax.
Result<Window> parse_window(std::string_view text);
// Canonical text: calendar names as is; rolling in the largest unit that divides it exactly.
std::string window_text(const Window& window);

}  // namespace warden::policy
