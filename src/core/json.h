// JSON helpers: strict parsing into Boost.JSON values and canonical serialisation (object keys
// sorted by byte order, no insignificant whitespace) so equal content always hashes the same.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace warden {

// Parses a whole document; trailing garbage, comments and invalid UTF-8 are errors
// (VALIDATION_MALFORMED_JSON with the byte offset in the message). A key repeated within one
// object, at any depth, is VALIDATION_DUPLICATE_KEY with details {"field": key, "pointer":
// JSON pointer of the repeat}: the document would otherwise mean whatever its last copy says.
Result<boost::json::value> parse_json(std::string_view text);
// Whether parse_json(text) would return an object, found without building it (the audit log
// checks every event's details this way on the writer's thread).
bool is_json_object(std::string_view text);

std::string canonical_json(const boost::json::value& v);
// base + "/" + token, the token escaped as RFC 6901 says ('~' as "~0", '/' as "~1").
std::string json_pointer_join(std::string_view base, std::string_view token);
// Appends s as a JSON string literal, escaped exactly as canonical_json() escapes strings.
void append_json_string(std::string& out, std::string_view s);

// SHA-256 of canonical_json(v), lower-case hex.
std::string canonical_hash(const boost::json::value& v);

// The value, or JSON null when absent.
boost::json::value nullable(const std::optional<std::string>& v);
boost::json::value nullable(const std::optional<std::int64_t>& v);
// RFC 3339 UTC of a Unix time in seconds, or JSON null when absent.
boost::json::value nullable_time(const std::optional<std::int64_t>& unix_seconds);

}  // namespace warden
