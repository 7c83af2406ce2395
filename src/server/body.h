// Strict reading of JSON request bodies: unknown fields, missing fields and wrong types are
// errors with stable codes and the offending field named in details.field.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace warden::server {

class Body {
 public:
  // Parses `text` as a JSON object whose keys must all be in `allowed`.
  static Result<Body> parse(std::string_view text, std::initializer_list<std::string_view> allowed);

  bool has(std::string_view key) const { return obj_.contains(key); }
  const boost::json::object& object() const { return obj_; }

  Result<std::string> required_string(std::string_view key) const;
  Result<std::optional<std::string>> optional_string(std::string_view key) const;  // null ok
  Result<std::optional<std::int64_t>> optional_int(std::string_view key) const;
  Result<std::optional<bool>> optional_bool(std::string_view key) const;
  Result<std::optional<boost::json::object>> optional_object(std::string_view key) const;

 private:
  explicit Body(boost::json::object obj) : obj_(std::move(obj)) {}
  boost::json::object obj_;
};

Status field_error(ErrorCode code, std::string_view field, std::string message);
// VALIDATION_INVALID_VALUE naming the field when a present value is not min..max bytes long.
Status check_length(std::string_view field, const std::optional<std::string>& value,
                    std::size_t min_bytes, std::size_t max_bytes);
// VALIDATION_INVALID_VALUE naming the field when a present value is not 1..max_bytes printable
// ASCII characters (space to '~') with at least one that is not a space: a label compared
// exactly, which no control character or blank may make look like another.
Status check_printable(std::string_view field, const std::optional<std::string>& value,
                       std::size_t max_bytes);

}  // namespace warden::server
