// Policy documents: strict parsing, validation dispatch by type, the normalised spec and its
// content hash.
#include "policy/policy.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <fstream>
#include <iterator>

#include "core/enums.h"
#include "core/ids.h"
#include "core/json.h"
#include "policy/checker.h"

namespace warden::policy {
namespace json = boost::json;

namespace {

constexpr std::array<std::string_view, 5> kSpecFields = {"agent_id", "type", "rules", "priority",
                                                         "enabled"};

Status field_error(ErrorCode code, std::string_view field, std::string message) {
  json::object details;
  details["pointer"] = pointer_join("", field);
  details["field"] = field;
  return Status(code, std::move(message), std::move(details));
}

Status wrong_type(std::string_view field, std::string_view expected) {
  return field_error(ErrorCode::VALIDATION_WRONG_TYPE, field,
                     quote(field) + " must be " + std::string(expected));
}

Status check_fields_known(const json::object& doc) {
  for (const auto& kv : doc) {
    const std::string_view key = kv.key();
    if (std::find(kSpecFields.begin(), kSpecFields.end(), key) == kSpecFields.end()) {
      return field_error(ErrorCode::VALIDATION_UNKNOWN_FIELD, key, "unknown field " + quote(key));
    }
  }
  return Status();
}

Result<std::string> parse_type(const json::object& doc) {
  const json::value* v = doc.if_contains("type");
  if (v == nullptr) {
    return field_error(ErrorCode::VALIDATION_MISSING_FIELD, "type", "\"type\" is required");
  }
  if (!v->is_string()) return wrong_type("type", "a string");
  std::string type(v->get_string());
  if (!is_one_of(kPolicyTypes, type)) {
    return field_error(ErrorCode::POLICY_INVALID_TYPE, "type",
                       "\"type\" \"" + type + "\" is not a policy type");
  }
  return type;
}

Result<json::value> parse_rules(const json::object& doc) {
  const json::value* v = doc.if_contains("rules");
  if (v == nullptr) {
    return field_error(ErrorCode::VALIDATION_MISSING_FIELD, "rules", "\"rules\" is required");
  }
  if (!v->is_object()) return wrong_type("rules", "an object");
  return *v;
}

// Absent or null means a global policy. Upper-case UUIDs are accepted and lower-cased so that
// the same agent always hashes the same.
Result<std::optional<std::string>> parse_agent_id(const json::object& doc) {
  const json::value* v = doc.if_contains("agent_id");
  if (v == nullptr || v->is_null()) return std::optional<std::string>();
  if (!v->is_string()) return wrong_type("agent_id", "a UUID string or null");
  std::string id(v->get_string());
  std::transform(id.begin(), id.end(), id.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (!is_uuid(id)) {
    return field_error(ErrorCode::VALIDATION_INVALID_VALUE, "agent_id",
                       "\"agent_id\" must be a UUID");
  }
  return std::optional<std::string>(std::move(id));
}

Result<std::int64_t> parse_priority(const json::object& doc) {
  const json::value* v = doc.if_contains("priority");
  if (v == nullptr) return std::int64_t{0};
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64()) {  // Boost.JSON only uses uint64 above INT64_MAX
    return field_error(ErrorCode::VALIDATION_INVALID_VALUE, "priority",
                       "\"priority\" is out of range");
  }
  return wrong_type("priority", "an integer");
}

Result<bool> parse_enabled(const json::object& doc) {
  const json::value* v = doc.if_contains("enabled");
  if (v == nullptr) return true;
  if (!v->is_bool()) return wrong_type("enabled", "true or false");
  return v->get_bool();
}

using RulesCheck = json::object (*)(const FieldReader&, const ValidateOptions&);
struct TypeCheck {
  std::string_view type;
  RulesCheck check;
};

// One entry per kPolicyTypes element (a test keeps the two lists in step).
constexpr std::array<TypeCheck, 15> kTypeChecks = {{
    {"SPENDING_LIMIT",
     [](const FieldReader& r, const ValidateOptions&) { return check_spending_limit(r); }},
    {"WHITELIST", [](const FieldReader& r, const ValidateOptions&) { return check_whitelist(r); }},
    {"TIME_RESTRICTION",
     [](const FieldReader& r, const ValidateOptions&) { return check_time_restriction(r); }},
    {"RATE_LIMIT",
     [](const FieldReader& r, const ValidateOptions&) { return check_rate_limit(r); }},
    {"ALLOWED_TOKENS",
     [](const FieldReader& r, const ValidateOptions&) { return check_address_list(r, "tokens"); }},
    {"CONTRACT_WHITELIST",
     [](const FieldReader& r, const ValidateOptions&) {
       return check_address_list(r, "contracts");
     }},
    {"METHOD_WHITELIST",
     [](const FieldReader& r, const ValidateOptions&) { return check_method_whitelist(r); }},
    {"APPROVED_SPENDERS", [](const FieldReader& r,
                             const ValidateOptions&) { return check_address_list(r, "spenders"); }},
    {"APPROVE_AMOUNT_LIMIT",
     [](const FieldReader& r, const ValidateOptions&) { return check_approve_amount_limit(r); }},
    {"ALLOWED_NETWORKS",
     [](const FieldReader& r, const ValidateOptions&) { return check_allowed_networks(r); }},
    {"CUSTOM", [](const FieldReader& r, const ValidateOptions& o) { return check_custom(r, o); }},
    {"TOKEN_LIMIT",
     [](const FieldReader& r, const ValidateOptions&) { return check_token_limit(r); }},
    {"MODEL_ALLOWLIST",
     [](const FieldReader& r, const ValidateOptions&) { return check_model_allowlist(r); }},
    {"REQUEST_SIZE",
     [](const FieldReader& r, const ValidateOptions&) { return check_request_size(r); }},
    {"BUDGET", [](const FieldReader& r, const ValidateOptions&) { return check_budget(r); }},
}};

const TypeCheck* find_type_check(std::string_view type) {
  for (const auto& t : kTypeChecks) {
    if (t.type == type) return &t;
  }
  return nullptr;
}

}  // namespace

std::string_view severity_name(Severity severity) {
  switch (severity) {
    case Severity::kInfo:
      return "info";
    case Severity::kWarn:
      return "warn";
    case Severity::kError:
      return "error";
    case Severity::kBlocker:
      return "blocker";
  }
  return "blocker";
}

bool Validation::has_blocker() const {
  return std::any_of(issues.begin(), issues.end(),
                     [](const Issue& i) { return i.severity == Severity::kBlocker; });
}

bool Validation::has_error() const {
  return std::any_of(issues.begin(), issues.end(),
                     [](const Issue& i) { return i.severity >= Severity::kError; });
}

Result<PolicySpec> parse_spec(const json::value& doc) {
  if (!doc.is_object()) {
    json::object details;
    details["pointer"] = "";
    return Status(ErrorCode::VALIDATION_WRONG_TYPE, "policy document must be a JSON object",
                  std::move(details));
  }
  const json::object& obj = doc.get_object();
  WARDEN_RETURN_IF_ERROR(check_fields_known(obj));
  PolicySpec spec;
  WARDEN_ASSIGN_OR_RETURN(spec.type, parse_type(obj));
  WARDEN_ASSIGN_OR_RETURN(spec.rules, parse_rules(obj));
  WARDEN_ASSIGN_OR_RETURN(spec.agent_id, parse_agent_id(obj));
  WARDEN_ASSIGN_OR_RETURN(spec.priority, parse_priority(obj));
  WARDEN_ASSIGN_OR_RETURN(spec.enabled, parse_enabled(obj));
  return spec;
}

Result<PolicySpec> load_policy_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status(ErrorCode::VALIDATION_INVALID_VALUE, "cannot open policy file " + path);
  }
  std::string text;
  text.resize(kPolicyFileBytesMax + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) {
    return Status(ErrorCode::VALIDATION_INVALID_VALUE, "cannot read policy file " + path);
  }
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kPolicyFileBytesMax) {
    return Status(ErrorCode::VALIDATION_INVALID_VALUE, "policy file " + path + " is larger than " +
                                                           std::to_string(kPolicyFileBytesMax) +
                                                           " bytes");
  }
  auto doc = parse_json(text);
  if (!doc.ok()) {
    return Status(doc.status().code(), path + ": " + doc.status().message());
  }
  return parse_spec(*doc);
}

Validation validate(const PolicySpec& spec, const ValidateOptions& options) {
  Validation out;
  IssueList issues;
  const TypeCheck* type_check = find_type_check(spec.type);
  if (type_check == nullptr) {
    issues.add(Severity::kBlocker, "/type", "POLICY_TYPE_UNKNOWN",
               quote(spec.type) + " is not a policy type");
  }
  if (spec.agent_id && !is_uuid(*spec.agent_id)) {
    issues.add(Severity::kBlocker, "/agent_id", "AGENT_ID_INVALID",
               "agent_id must be a lower-case UUID");
  }
  if (!spec.rules.is_object()) {
    issues.add(Severity::kBlocker, "/rules", "RULES_WRONG_TYPE", "rules must be an object");
  } else if (type_check != nullptr) {
    FieldReader reader(spec.rules.get_object(), "/rules", issues);
    out.normalized_rules = type_check->check(reader, options);
  }
  sort_in_document_order(spec.rules, issues.items());
  out.issues = std::move(issues.items());
  if (!out.has_blocker()) out.hash = canonical_hash(normalized_spec(spec, out.normalized_rules));
  return out;
}

json::object normalized_spec(const PolicySpec& spec, const json::object& rules) {
  json::object out;
  if (spec.agent_id) {
    out["agent_id"] = *spec.agent_id;
  } else {
    out["agent_id"] = nullptr;
  }
  out["type"] = spec.type;
  out["rules"] = rules;
  out["priority"] = spec.priority;
  return out;
}

json::value issues_to_json(const std::vector<Issue>& issues) {
  json::array out;
  for (const auto& issue : issues) {
    json::object o;
    o["severity"] = severity_name(issue.severity);
    o["pointer"] = issue.pointer;
    o["code"] = issue.code;
    o["message"] = issue.message;
    out.push_back(std::move(o));
  }
  return out;
}

}  // namespace warden::policy
