// validate_params: the JSON Schema subset verbs declare their params with. Only the keywords
// listed in driver.h are understood; the rest of a schema is ignored (a driver describing its
// params more richly still validates by the part Warden checks).
#include <re2/re2.h>

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cmath>
#include <string>
#include <vector>

#include "automation/driver.h"
#include "core/json.h"

namespace warden::automation {
namespace json = boost::json;

namespace {

constexpr std::string_view kCode = "ACTION_SCHEMA_MISMATCH";
// A schema nested deeper than this is not a verb's params; stop rather than recurse on.
constexpr int kSchemaDepthMax = 32;

bool is_integer(const json::value& v) {
  if (v.is_int64() || v.is_uint64()) return true;
  if (v.is_double()) {
    const double d = v.as_double();
    return std::isfinite(d) && d == std::floor(d);
  }
  return false;
}

bool has_type(const json::value& v, std::string_view type) {
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "string") return v.is_string();
  if (type == "integer") return is_integer(v);
  if (type == "number") return v.is_number();
  if (type == "boolean") return v.is_bool();
  if (type == "null") return v.is_null();
  return false;
}

std::optional<double> number_of(const json::value& v) {
  if (v.is_int64()) return static_cast<double>(v.as_int64());
  if (v.is_uint64()) return static_cast<double>(v.as_uint64());
  if (v.is_double()) return v.as_double();
  return std::nullopt;
}

// Unicode code points, as JSON Schema counts a string's length.
std::size_t code_points(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

class Validator {
 public:
  std::vector<Issue> issues;

  void check(const json::object& schema, const json::value& v, const std::string& at, int depth) {
    if (depth > kSchemaDepthMax) {
      add(at, "the schema nests deeper than " + std::to_string(kSchemaDepthMax) + " levels");
      return;
    }
    if (const json::value* type = schema.if_contains("type")) {
      if (!type_matches(*type, v)) {
        add(at, "must be " + type_text(*type));
        return;  // the other keywords would only repeat the same mistake
      }
    }
    if (const json::value* e = schema.if_contains("enum"); e != nullptr && e->is_array()) {
      bool found = false;
      for (const json::value& option : e->as_array()) found = found || option == v;
      if (!found) add(at, "must be one of " + json::serialize(*e));
    }
    if (std::optional<double> n = number_of(v)) check_number(schema, *n, at);
    if (v.is_string()) check_string(schema, v.as_string(), at);
    if (v.is_object()) check_object(schema, v.as_object(), at, depth);
    if (v.is_array()) {
      if (const json::value* items = schema.if_contains("items");
          items != nullptr && items->is_object()) {
        const json::array& a = v.as_array();
        for (std::size_t i = 0; i < a.size(); ++i) {
          check(items->as_object(), a[i], at + "/" + std::to_string(i), depth + 1);
        }
      }
    }
  }

  void check_object(const json::object& schema, const json::object& o, const std::string& at,
                    int depth) {
    const json::object* properties = nullptr;
    if (const json::value* p = schema.if_contains("properties"); p != nullptr && p->is_object()) {
      properties = &p->as_object();
    }
    if (const json::value* r = schema.if_contains("required"); r != nullptr && r->is_array()) {
      for (const json::value& name : r->as_array()) {
        if (name.is_string() && !o.contains(name.as_string())) {
          add(json_pointer_join(at, name.as_string()),
              "is required (\"" + std::string(name.as_string()) + "\")");
        }
      }
    }
    const json::value* additional = schema.if_contains("additionalProperties");
    for (const auto& [key, value] : o) {
      const std::string child = json_pointer_join(at, key);
      if (properties != nullptr) {
        if (const json::value* s = properties->if_contains(key)) {
          if (s->is_object()) check(s->as_object(), value, child, depth + 1);
          continue;
        }
      }
      if (additional == nullptr) continue;
      if (additional->is_bool() && !additional->as_bool()) {
        add(child, "is not a known parameter (\"" + std::string(key) + "\")");
      } else if (additional->is_object()) {
        check(additional->as_object(), value, child, depth + 1);
      }
    }
  }

 private:
  void add(const std::string& at, std::string message) {
    issues.push_back(Issue{Severity::kError, at, std::string(kCode), std::move(message)});
  }

  static bool type_matches(const json::value& type, const json::value& v) {
    if (type.is_string()) return has_type(v, type.as_string());
    if (type.is_array()) {
      for (const json::value& t : type.as_array()) {
        if (t.is_string() && has_type(v, t.as_string())) return true;
      }
      return false;
    }
    return true;  // a malformed "type" constrains nothing
  }

  static std::string type_text(const json::value& type) {
    if (type.is_string()) return "of type " + std::string(type.as_string());
    return "one of the types " + json::serialize(type);
  }

  void check_number(const json::object& schema, double n, const std::string& at) {
    if (const json::value* m = schema.if_contains("minimum")) {
      if (std::optional<double> min = number_of(*m); min && n < *min) {
        add(at, "must be at least " + json::serialize(*m));
      }
    }
    if (const json::value* m = schema.if_contains("maximum")) {
      if (std::optional<double> max = number_of(*m); max && n > *max) {
        add(at, "must be at most " + json::serialize(*m));
      }
    }
  }

  void check_string(const json::object& schema, std::string_view s, const std::string& at) {
    const std::size_t length = code_points(s);
    if (const json::value* m = schema.if_contains("minLength")) {
      if (std::optional<double> min = number_of(*m); min && static_cast<double>(length) < *min) {
        add(at, "must be at least " + json::serialize(*m) + " characters long");
      }
    }
    if (const json::value* m = schema.if_contains("maxLength")) {
      if (std::optional<double> max = number_of(*m); max && static_cast<double>(length) > *max) {
        add(at, "must be at most " + json::serialize(*m) + " characters long");
      }
    }
    if (const json::value* p = schema.if_contains("pattern"); p != nullptr && p->is_string()) {
      RE2::Options options;
      options.set_log_errors(false);
      const RE2 re(re2::StringPiece(p->as_string().data(), p->as_string().size()), options);
      if (!re.ok()) {
        add(at, "the schema's pattern is not a valid RE2 expression: " + re.error());
      } else if (!RE2::PartialMatch(re2::StringPiece(s.data(), s.size()), re)) {
        // JSON Schema patterns are unanchored: a match anywhere in the string counts.
        add(at, "must match the pattern " + std::string(p->as_string()));
      }
    }
  }
};

}  // namespace

std::vector<Issue> validate_params(const json::object& schema, const json::object& params,
                                   const std::string& base) {
  Validator v;
  v.check(schema, json::value(params), base, 0);
  return std::move(v.issues);
}

}  // namespace warden::automation
