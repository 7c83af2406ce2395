// Strict JSON body reading.
#include "server/body.h"

#include "core/json.h"

namespace warden::server {
namespace json = boost::json;

Status field_error(ErrorCode code, std::string_view field, std::string message) {
  json::object details;
  details["field"] = json::string_view(field.data(), field.size());
  return Status(code, std::move(message), std::move(details));
}

Status check_length(std::string_view field, const std::optional<std::string>& v,
                    std::size_t min_bytes, std::size_t max_bytes) {
  if (v && (v->size() < min_bytes || v->size() > max_bytes)) {
    return field_error(ErrorCode::VALIDATION_INVALID_VALUE, field,
                       "field '" + std::string(field) + "' must be " + std::to_string(min_bytes) +
                           ".." + std::to_string(max_bytes) + " bytes");
  }
  return Status();
}

Status check_printable(std::string_view field, const std::optional<std::string>& v,
                       std::size_t max_bytes) {
  if (!v) return Status();
  bool ok = !v->empty() && v->size() <= max_bytes;
  bool blank = true;
  for (char c : *v) {
    ok = ok && c >= ' ' && c <= '~';
    blank = blank && c == ' ';
  }
  if (ok && !blank) return Status();
  return field_error(ErrorCode::VALIDATION_INVALID_VALUE, field,
                     "field '" + std::string(field) + "' must be 1.." + std::to_string(max_bytes) +
                         " printable ASCII characters, not only spaces");
}

namespace {
Status wrong_type(std::string_view key, std::string_view expected) {
  return field_error(ErrorCode::VALIDATION_WRONG_TYPE, key,
                     "field '" + std::string(key) + "' must be " + std::string(expected));
}
}  // namespace

Result<Body> Body::parse(std::string_view text, std::initializer_list<std::string_view> allowed) {
  WARDEN_ASSIGN_OR_RETURN(json::value v, parse_json(text));
  if (!v.is_object()) {
    return Status(ErrorCode::VALIDATION_WRONG_TYPE, "request body must be a JSON object");
  }
  for (const auto& kv : v.as_object()) {
    bool known = false;
    for (auto a : allowed) known = known || kv.key() == a;
    if (!known) {
      return field_error(ErrorCode::VALIDATION_UNKNOWN_FIELD, kv.key(),
                         "unknown field '" + std::string(kv.key()) + "'");
    }
  }
  return Body(std::move(v.as_object()));
}

Result<std::string> Body::required_string(std::string_view key) const {
  auto it = obj_.find(key);
  if (it == obj_.end() || it->value().is_null()) {
    return field_error(ErrorCode::VALIDATION_MISSING_FIELD, key,
                       "field '" + std::string(key) + "' is required");
  }
  if (!it->value().is_string()) return wrong_type(key, "a string");
  return std::string(it->value().as_string());
}

Result<std::optional<std::string>> Body::optional_string(std::string_view key) const {
  auto it = obj_.find(key);
  if (it == obj_.end() || it->value().is_null()) return std::optional<std::string>();
  if (!it->value().is_string()) return wrong_type(key, "a string");
  return std::optional<std::string>(std::string(it->value().as_string()));
}

Result<std::optional<std::int64_t>> Body::optional_int(std::string_view key) const {
  auto it = obj_.find(key);
  if (it == obj_.end() || it->value().is_null()) return std::optional<std::int64_t>();
  const json::value& v = it->value();
  if (v.is_int64()) return std::optional<std::int64_t>(v.as_int64());
  if (v.is_uint64()) return wrong_type(key, "an integer below 2^63");
  return wrong_type(key, "an integer");
}

Result<std::optional<bool>> Body::optional_bool(std::string_view key) const {
  auto it = obj_.find(key);
  if (it == obj_.end() || it->value().is_null()) return std::optional<bool>();
  if (!it->value().is_bool()) return wrong_type(key, "a boolean");
  return std::optional<bool>(it->value().as_bool());
}

Result<std::optional<json::object>> Body::optional_object(std::string_view key) const {
  auto it = obj_.find(key);
  if (it == obj_.end() || it->value().is_null()) return std::optional<json::object>();
  if (!it->value().is_object()) return wrong_type(key, "an object");
  return std::optional<json::object>(it->value().as_object());
}

}  // namespace warden::server
