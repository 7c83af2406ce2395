// Rule checks for time restrictions, request/token meters, the LLM gateway types, budgets and
// CUSTOM (CEL) policies.
#include <date/tz.h>

#include <algorithm>
#include <array>
#include <exception>
#include <map>

#include "core/json.h"
#include "policy/checker.h"

namespace warden::policy {
namespace json = boost::json;

namespace {

constexpr std::int64_t kCountMax = 1'000'000'000'000;  // requests, tokens or bytes
constexpr std::size_t kExpressionBytesMax = 4096;
constexpr std::size_t kMessageBytesMax = 1024;
constexpr std::size_t kModelBytesMax = 256;
constexpr std::array<std::string_view, 7> kDays = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
constexpr std::array<std::string_view, 2> kTimeEffects = {"DENY", "APPROVAL"};
constexpr std::array<std::string_view, 4> kCustomEffects = {"DENY", "APPROVAL", "DELAY", "NOTIFY"};
constexpr std::array<std::string_view, 2> kTokenScopes = {"agent", "model"};

bool zone_exists(const std::string& name) {
  try {
    return date::locate_zone(name) != nullptr;
  } catch (const std::exception&) {  // date/tz reports an unknown zone by throwing
    return false;
  }
}

// Days in week order (not alphabetical), duplicates reported and removed.
json::array check_days(const FieldReader& range) {
  json::array out;
  const json::array* days = range.array("days", true);
  if (days == nullptr) return out;
  const std::string base = range.at("days");
  if (days->empty()) {
    range.issues().add(Severity::kError, base, "LIST_EMPTY",
                       "\"days\" is empty: this range never applies");
  }
  std::map<std::size_t, std::string> seen;  // day index -> first pointer
  for (std::size_t i = 0; i < days->size(); ++i) {
    const std::string pointer = pointer_join(base, i);
    const json::string* s = element_string((*days)[i], pointer, range.issues());
    if (s == nullptr) continue;
    auto it = std::find(kDays.begin(), kDays.end(), std::string_view(*s));
    if (it == kDays.end()) {
      range.issues().add(Severity::kBlocker, pointer, "VALUE_NOT_ALLOWED",
                         quote(*s) + " is not one of: mon tue wed thu fri sat sun");
      continue;
    }
    auto [where, inserted] = seen.emplace(it - kDays.begin(), pointer);
    if (!inserted) {
      range.issues().add(Severity::kWarn, pointer, "DUPLICATE_ENTRY",
                         quote(*s) + " repeats " + where->second + " and is removed");
    }
  }
  for (const auto& [index, pointer] : seen) out.emplace_back(kDays[index]);
  return out;
}

std::optional<json::object> check_range(const json::value& v, const std::string& pointer,
                                        IssueList& issues) {
  const json::object* obj = element_object(v, pointer, issues);
  if (obj == nullptr) return std::nullopt;
  FieldReader range(*obj, pointer, issues);
  range.reject_unknown({"days", "start_hour", "end_hour"});
  json::object out;
  out["days"] = check_days(range);
  auto start = range.integer("start_hour", true, 0, 23);
  auto end = range.integer("end_hour", true, 1, 24);
  if (!start || !end) return std::nullopt;
  if (*start >= *end) {
    issues.add(Severity::kBlocker, range.at("end_hour"), "HOUR_RANGE_INVALID",
               "end_hour (" + std::to_string(*end) + ") must be after start_hour (" +
                   std::to_string(*start) + ")");
    return std::nullopt;
  }
  out["start_hour"] = *start;
  out["end_hour"] = *end;
  return out;
}

// The ranges are a set: sorted by their canonical JSON, duplicates reported and removed.
json::array check_ranges(const FieldReader& rules) {
  json::array out;
  const json::array* allowed = rules.array("allowed", true);
  if (allowed == nullptr) return out;
  const std::string base = rules.at("allowed");
  if (allowed->empty()) {
    rules.issues().add(Severity::kError, base, "LIST_EMPTY",
                       "\"allowed\" is empty: no time is ever allowed");
  }
  std::map<std::string, std::pair<std::string, json::object>> unique;  // canonical -> entry
  for (std::size_t i = 0; i < allowed->size(); ++i) {
    const std::string pointer = pointer_join(base, i);
    auto range = check_range((*allowed)[i], pointer, rules.issues());
    if (!range) continue;
    const std::string key = canonical_json(*range);
    auto [it, inserted] = unique.try_emplace(key, pointer, std::move(*range));
    if (!inserted) {
      rules.issues().add(Severity::kWarn, pointer, "DUPLICATE_ENTRY",
                         "this range repeats " + it->second.first + " and is removed");
    }
  }
  for (auto& [key, entry] : unique) out.push_back(std::move(entry.second));
  return out;
}

bool valid_model_pattern(std::string_view pattern) {
  if (pattern.empty()) return false;
  const std::size_t star = pattern.find('*');
  return star == std::string_view::npos || star == pattern.size() - 1;
}

// An entry that a prefix pattern already allows is harmless but worth pointing out.
void note_covered_models(const std::vector<SetEntry>& entries, IssueList& issues) {
  for (const auto& entry : entries) {
    for (const auto& glob : entries) {
      if (glob.value.back() != '*' || glob.value == entry.value) continue;
      const std::string_view prefix(glob.value.data(), glob.value.size() - 1);
      if (std::string_view(entry.value).substr(0, prefix.size()) != prefix) continue;
      issues.add(Severity::kInfo, entry.pointer, "ENTRY_REDUNDANT",
                 quote(entry.value) + " is already allowed by " + quote(glob.value));
      break;
    }
  }
}

// A present, non-empty expression, checked by the hook when there is one.
std::optional<std::string> check_expression(const FieldReader& rules, std::string_view key,
                                            const ValidateOptions& options) {
  auto source = rules.string(key, false, kExpressionBytesMax);
  if (!source) return std::nullopt;
  if (source->empty()) {
    rules.issues().add(Severity::kBlocker, rules.at(key), "VALUE_EMPTY",
                       quote(key) + " must not be empty");
    return std::nullopt;
  }
  if (options.check_expression) {
    rules.issues().append(options.check_expression(rules.at(key), *source));
  }
  return source;
}

}  // namespace

json::object check_time_restriction(const FieldReader& rules) {
  rules.reject_unknown({"time_zone", "allowed", "effect"});
  json::object out;
  if (auto zone = rules.string("time_zone", true)) {
    if (!zone_exists(*zone)) {
      rules.issues().add(Severity::kBlocker, rules.at("time_zone"), "TIME_ZONE_UNKNOWN",
                         quote(*zone) + " is not an IANA time zone (e.g. \"Asia/Seoul\")");
    }
    out["time_zone"] = *zone;
  }
  out["allowed"] = check_ranges(rules);
  out["effect"] = rules.choice("effect", false, kTimeEffects).value_or("DENY");
  return out;
}

json::object check_rate_limit(const FieldReader& rules) {
  rules.reject_unknown({"max_requests", "window"});
  json::object out;
  if (auto n = rules.integer("max_requests", true, 1, kCountMax)) out["max_requests"] = *n;
  if (auto w = rules.window("window", true)) out["window"] = window_text(*w);
  return out;
}

json::object check_token_limit(const FieldReader& rules) {
  rules.reject_unknown({"max_tokens", "window", "scope"});
  json::object out;
  if (auto n = rules.integer("max_tokens", true, 1, kCountMax)) out["max_tokens"] = *n;
  if (auto w = rules.window("window", true)) out["window"] = window_text(*w);
  out["scope"] = rules.choice("scope", false, kTokenScopes).value_or("agent");
  return out;
}

json::object check_model_allowlist(const FieldReader& rules) {
  rules.reject_unknown({"models"});
  json::object out;
  std::vector<SetEntry> entries;
  if (const json::array* list = rules.array("models", true)) {
    const std::string base = rules.at("models");
    if (list->empty()) {
      rules.issues().add(Severity::kWarn, base, "LIST_EMPTY",
                         "\"models\" is empty: every request will be denied");
    }
    for (std::size_t i = 0; i < list->size(); ++i) {
      const std::string pointer = pointer_join(base, i);
      const json::string* s = element_string((*list)[i], pointer, rules.issues());
      if (s == nullptr) continue;
      if (s->size() > kModelBytesMax) {
        rules.issues().add(
            Severity::kBlocker, pointer, "VALUE_OUT_OF_RANGE",
            "model name is longer than " + std::to_string(kModelBytesMax) + " bytes");
      } else if (!valid_model_pattern(std::string_view(*s))) {
        rules.issues().add(Severity::kBlocker, pointer, "MODEL_PATTERN_INVALID",
                           quote(*s) + " must be a model name, optionally ending in one `*`");
      } else {
        entries.push_back({std::string(*s), pointer});
      }
    }
  }
  note_covered_models(entries, rules.issues());
  out["models"] = sorted_unique(std::move(entries), rules.issues());
  return out;
}

json::object check_request_size(const FieldReader& rules) {
  rules.reject_unknown({"max_bytes"});
  json::object out;
  if (auto n = rules.integer("max_bytes", true, 1, kCountMax)) out["max_bytes"] = *n;
  return out;
}

json::object check_budget(const FieldReader& rules) {
  rules.reject_unknown({"asset", "allow_negative"});
  json::object out;
  out["asset"] = read_asset(rules, true);  // a missing or invalid asset is a blocker
  const bool allow_negative = rules.boolean("allow_negative", false).value_or(false);
  if (allow_negative) {
    rules.issues().add(Severity::kWarn, rules.at("allow_negative"), "BUDGET_UNBOUNDED",
                       "allow_negative lets the balance go below zero: spending is not capped");
  }
  out["allow_negative"] = allow_negative;
  return out;
}

json::object check_custom(const FieldReader& rules, const ValidateOptions& options) {
  rules.reject_unknown({"pre", "post", "effect", "message", "cooldown"});
  json::object out;
  if (!rules.has("pre") && !rules.has("post")) {
    rules.issues().add(Severity::kBlocker, rules.pointer(), "EXPRESSION_MISSING",
                       "at least one of \"pre\" and \"post\" is required");
  }
  if (auto pre = check_expression(rules, "pre", options)) out["pre"] = *pre;
  if (auto post = check_expression(rules, "post", options)) out["post"] = *post;
  if (auto effect = rules.choice("effect", true, kCustomEffects)) out["effect"] = *effect;
  if (auto message = rules.string("message", false, kMessageBytesMax)) out["message"] = *message;
  // How long a matched `post` keeps applying its effect to the agent's next decisions.
  if (auto cooldown = rules.window("cooldown", false)) {
    if (cooldown->calendar) {
      rules.issues().add(Severity::kBlocker, rules.at("cooldown"), "WINDOW_INVALID",
                         "\"cooldown\" must be a length such as \"5m\", not a calendar period");
    } else if (!rules.has("post")) {
      rules.issues().add(Severity::kBlocker, rules.at("cooldown"), "VALUE_NOT_ALLOWED",
                         "\"cooldown\" applies only to a \"post\" condition");
    } else {
      out["cooldown"] = window_text(*cooldown);
    }
  }
  return out;
}

}  // namespace warden::policy
