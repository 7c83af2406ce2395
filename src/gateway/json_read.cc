// Typed reads of provider JSON.
#include "gateway/json_read.h"

#include "core/json.h"
#include "gateway/adapters.h"

namespace warden::gateway::internal {

namespace {

json::object field_details(std::string_view path) {
  json::object d;
  d["field"] = path;
  return d;
}

std::string shown(std::string_view path) { return path.empty() ? "body" : std::string(path); }

}  // namespace

Status wrong_type(std::string_view path, std::string_view expected) {
  return Status(ErrorCode::VALIDATION_WRONG_TYPE, shown(path) + " must be " + std::string(expected),
                field_details(path));
}

Status invalid_value(std::string_view path, std::string message) {
  return Status(ErrorCode::VALIDATION_INVALID_VALUE, shown(path) + ": " + message,
                field_details(path));
}

Status missing_field(std::string_view path) {
  return Status(ErrorCode::VALIDATION_MISSING_FIELD, shown(path) + " is required",
                field_details(path));
}

std::string join_path(std::string_view base, std::string_view key) {
  if (base.empty()) return std::string(key);
  std::string out(base);
  out += '/';
  out += key;
  return out;
}

std::string join_path(std::string_view base, std::size_t index) {
  return join_path(base, std::to_string(index));
}

Result<json::object> parse_object(std::string_view body, std::size_t bytes_max,
                                  std::string_view what) {
  if (body.size() > bytes_max) {
    return Status(ErrorCode::VALIDATION_BODY_TOO_LARGE,
                  std::string(what) + " is " + std::to_string(body.size()) + " bytes, more than " +
                      std::to_string(bytes_max),
                  field_details(what));
  }
  WARDEN_ASSIGN_OR_RETURN(json::value v, parse_json(body));
  if (!v.is_object()) return wrong_type("", "a JSON object");
  return std::move(v.as_object());
}

namespace {

// The value under key, or nullptr when absent or null.
const json::value* present(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return (v == nullptr || v->is_null()) ? nullptr : v;
}

}  // namespace

Result<const json::object*> get_object(const json::object& o, std::string_view key,
                                       std::string_view path) {
  const json::value* v = present(o, key);
  if (v == nullptr) return static_cast<const json::object*>(nullptr);
  if (!v->is_object()) return wrong_type(join_path(path, key), "an object");
  return &v->as_object();
}

Result<const json::array*> get_array(const json::object& o, std::string_view key,
                                     std::string_view path) {
  const json::value* v = present(o, key);
  if (v == nullptr) return static_cast<const json::array*>(nullptr);
  if (!v->is_array()) return wrong_type(join_path(path, key), "an array");
  return &v->as_array();
}

Result<const json::string*> get_string(const json::object& o, std::string_view key,
                                       std::string_view path) {
  const json::value* v = present(o, key);
  if (v == nullptr) return static_cast<const json::string*>(nullptr);
  if (!v->is_string()) return wrong_type(join_path(path, key), "a string");
  return &v->as_string();
}

Result<std::optional<bool>> get_bool(const json::object& o, std::string_view key,
                                     std::string_view path) {
  const json::value* v = present(o, key);
  if (v == nullptr) return std::optional<bool>();
  if (!v->is_bool()) return wrong_type(join_path(path, key), "a boolean");
  return std::optional<bool>(v->as_bool());
}

Result<std::optional<std::int64_t>> get_count(const json::object& o, std::string_view key,
                                              std::string_view path) {
  const json::value* v = present(o, key);
  if (v == nullptr) return std::optional<std::int64_t>();
  std::int64_t n = 0;
  if (v->is_int64()) {
    n = v->as_int64();
  } else if (v->is_uint64()) {
    // Boost.JSON keeps only integers above INT64_MAX as uint64: always past the bound.
    n = kTokenCountMax + 1;
  } else if (v->is_double()) {
    // Cohere's schema types its billed units as numbers; an integral value is a count.
    const double d = v->as_double();
    if (!(d >= 0 && d <= static_cast<double>(kTokenCountMax)) ||
        d != static_cast<double>(static_cast<std::int64_t>(d))) {
      return wrong_type(join_path(path, key), "an integer");
    }
    n = static_cast<std::int64_t>(d);
  } else {
    return wrong_type(join_path(path, key), "an integer");
  }
  if (n < 0) return invalid_value(join_path(path, key), "must not be negative");
  if (n > kTokenCountMax) {
    return invalid_value(join_path(path, key), "must be at most " + std::to_string(kTokenCountMax));
  }
  return std::optional<std::int64_t>(n);
}

Result<std::string_view> either_key(const json::object& o, std::string_view camel,
                                    std::string_view snake, std::string_view path) {
  const bool has_camel = present(o, camel) != nullptr;
  const bool has_snake = present(o, snake) != nullptr;
  if (has_camel && has_snake) {
    return invalid_value(join_path(path, camel),
                         "given both as " + std::string(camel) + " and " + std::string(snake));
  }
  if (has_camel) return camel;
  if (has_snake) return snake;
  return std::string_view();
}

void append_piece(std::string& out, std::string_view piece) {
  if (piece.empty()) return;
  if (!out.empty()) out += '\n';
  out += piece;
}

const json::object* object_or_null(const json::value& v) {
  return v.is_object() ? &v.as_object() : nullptr;
}

std::string value_text(const json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  return canonical_json(v);
}

Status append_string(const json::object& o, std::string_view key, std::string_view path,
                     std::string& out) {
  WARDEN_ASSIGN_OR_RETURN(const json::string* s, get_string(o, key, path));
  if (s != nullptr) append_piece(out, *s);
  return Status();
}

Status append_function_call(const json::object& fn, std::string_view path, std::string& out) {
  WARDEN_RETURN_IF_ERROR(append_string(fn, "name", path, out));
  if (const json::value* args = fn.if_contains("arguments"); args && !args->is_null()) {
    append_piece(out, value_text(*args));
  }
  return Status();
}

}  // namespace warden::gateway::internal
