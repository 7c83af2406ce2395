// Internal to the policy module: helpers that read typed fields out of a rules object, report
// every problem as an Issue at its JSON pointer, and build the normalised rules as they go.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/amount.h"
#include "policy/policy.h"

namespace warden::policy {

std::string pointer_join(std::string_view base, std::string_view key);  // RFC 6901 escaping
std::string pointer_join(std::string_view base, std::size_t index);
std::string quote(std::string_view text);  // for messages: "text" in double quotes

// Collects issues for one validation run. Not thread-safe; lives on the stack of validate().
class IssueList {
 public:
  void add(Severity severity, std::string pointer, std::string_view code, std::string message);
  void append(std::vector<Issue> more);
  std::vector<Issue>& items() { return items_; }

 private:
  std::vector<Issue> items_;
};

// A view of one JSON object at `pointer` that checks and reads its fields.
class FieldReader {
 public:
  FieldReader(const boost::json::object& object, std::string pointer, IssueList& issues)
      : object_(object), pointer_(std::move(pointer)), issues_(issues) {}

  // Reports every key not in `known` as RULES_UNKNOWN_FIELD.
  void reject_unknown(std::initializer_list<std::string_view> known) const;

  bool has(std::string_view key) const { return object_.contains(key); }
  std::string at(std::string_view key) const { return pointer_join(pointer_, key); }
  const std::string& pointer() const { return pointer_; }
  IssueList& issues() const { return issues_; }

  // Each reader returns nullopt/nullptr when the field is absent (RULES_MISSING_FIELD if
  // `required`) or invalid (issue reported).
  std::optional<std::string> string(std::string_view key, bool required,
                                    std::size_t bytes_max = 256) const;
  std::optional<std::int64_t> integer(std::string_view key, bool required, std::int64_t min,
                                      std::int64_t max) const;
  std::optional<bool> boolean(std::string_view key, bool required) const;
  std::optional<Amount> amount(std::string_view key, bool required) const;
  std::optional<Window> window(std::string_view key, bool required) const;
  // A string that must be one of `allowed` (VALUE_NOT_ALLOWED).
  std::optional<std::string> choice(std::string_view key, bool required,
                                    std::span<const std::string_view> allowed) const;
  const boost::json::array* array(std::string_view key, bool required) const;

 private:
  const boost::json::value* find(std::string_view key, bool required) const;
  void wrong_type(std::string_view key, std::string_view expected) const;

  const boost::json::object& object_;
  std::string pointer_;
  IssueList& issues_;
};

// Reads an array element as an object; reports RULES_WRONG_TYPE otherwise.
const boost::json::object* element_object(const boost::json::value& v, const std::string& pointer,
                                          IssueList& issues);
// Reads an array element as a string; reports RULES_WRONG_TYPE otherwise.
const boost::json::string* element_string(const boost::json::value& v, const std::string& pointer,
                                          IssueList& issues);

// Sorts and deduplicates normalised set entries; each later duplicate of an entry is reported
// as DUPLICATE_ENTRY (warn) at its own pointer.
struct SetEntry {
  std::string value;
  std::string pointer;
};
boost::json::array sorted_unique(std::vector<SetEntry> entries, IssueList& issues);

// Orders issues by where their pointer sits in the document (missing fields after their
// parent's contents); issues at the same place keep the order they were found in.
void sort_in_document_order(const boost::json::value& rules, std::vector<Issue>& issues);

// Per-type rule checks. Each reads `rules` (at pointer "/rules") and returns the normalised
// rules object; problems go to `issues`.
boost::json::object check_spending_limit(const FieldReader& rules);
boost::json::object check_whitelist(const FieldReader& rules);
boost::json::object check_address_list(const FieldReader& rules, std::string_view list_key);
boost::json::object check_method_whitelist(const FieldReader& rules);
boost::json::object check_approve_amount_limit(const FieldReader& rules);
boost::json::object check_allowed_networks(const FieldReader& rules);
boost::json::object check_time_restriction(const FieldReader& rules);
boost::json::object check_rate_limit(const FieldReader& rules);
boost::json::object check_token_limit(const FieldReader& rules);
boost::json::object check_model_allowlist(const FieldReader& rules);
boost::json::object check_request_size(const FieldReader& rules);
boost::json::object check_budget(const FieldReader& rules);
// rules.asset in the spelling request amounts are keyed by (canonical_asset): ASSET_INVALID or
// VALUE_EMPTY otherwise; "native" when absent and not required.
std::string read_asset(const FieldReader& rules, bool required);
boost::json::object check_custom(const FieldReader& rules, const ValidateOptions& options);

}  // namespace warden::policy
