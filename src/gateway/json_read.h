// Typed reads of provider JSON with errors that name the field's path; shared by the request,
// response and stream adapters.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/string.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace warden::gateway::internal {

namespace json = boost::json;

Status wrong_type(std::string_view path, std::string_view expected);
Status invalid_value(std::string_view path, std::string message);
Status missing_field(std::string_view path);

std::string join_path(std::string_view base, std::string_view key);
std::string join_path(std::string_view base, std::size_t index);

// Parses a body within bytes_max; anything but an object is VALIDATION_WRONG_TYPE.
Result<json::object> parse_object(std::string_view body, std::size_t bytes_max,
                                  std::string_view what);

// Each reader returns nullptr / nullopt when the key is absent or JSON null (providers send
// "usage": null), and VALIDATION_WRONG_TYPE when it holds another kind.
Result<const json::object*> get_object(const json::object& o, std::string_view key,
                                       std::string_view path);
Result<const json::array*> get_array(const json::object& o, std::string_view key,
                                     std::string_view path);
Result<const json::string*> get_string(const json::object& o, std::string_view key,
                                       std::string_view path);
Result<std::optional<bool>> get_bool(const json::object& o, std::string_view key,
                                     std::string_view path);
// A non-negative integer no larger than kTokenCountMax (token counts, max tokens).
Result<std::optional<std::int64_t>> get_count(const json::object& o, std::string_view key,
                                              std::string_view path);

// Gemini's JSON (protobuf's mapping) accepts a field in lowerCamelCase or as declared in
// snake_case; the key present, or "" when neither is. Both at once is VALIDATION_INVALID_VALUE:
// the two would otherwise mean whichever one the upstream happens to read.
Result<std::string_view> either_key(const json::object& o, std::string_view camel,
                                    std::string_view snake, std::string_view path);

// Appends piece to out, separated from what is already there by '\n'.
void append_piece(std::string& out, std::string_view piece);

// The object a value holds, or nullptr.
const json::object* object_or_null(const json::value& v);
// A schema or argument object as the model sees it: canonical JSON text; a string as itself.
std::string value_text(const json::value& v);
// o[key] appended to out when it is a string (absent or null: nothing).
Status append_string(const json::object& o, std::string_view key, std::string_view path,
                     std::string& out);
// An OpenAI function call's text: its name, then its arguments.
Status append_function_call(const json::object& fn, std::string_view path, std::string& out);

}  // namespace warden::gateway::internal
