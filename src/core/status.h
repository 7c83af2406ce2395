// Status and Result<T>: how fallible functions report a stable error code, a message and
// optional structured details, without exceptions across module boundaries.
#pragma once

#include <boost/json/object.hpp>
#include <cassert>
#include <memory>
#include <string>
#include <utility>
#include <variant>

#include "core/errors.h"

namespace warden {

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(ErrorCode code, std::string message = {}, boost::json::object details = {});
  Status(const Status& other);
  Status& operator=(const Status& other);
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;

  static Status ok_status() { return Status(); }

  bool ok() const { return rep_ == nullptr; }
  ErrorCode code() const { return rep_ ? rep_->code : ErrorCode::OK; }
  // The specific message, or the catalogue's English message when none was given.
  std::string message() const;
  const boost::json::object& details() const;
  std::string to_string() const;  // "CODE: message"

 private:
  struct Rep {
    ErrorCode code;
    std::string message;
    boost::json::object details;
  };
  std::unique_ptr<Rep> rep_;  // null when OK: the OK path costs one pointer
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}           // NOLINT(implicit)
  Result(Status status) : v_(std::move(status)) {    // NOLINT(implicit)
    assert(!std::get<Status>(v_).ok() && "Result<T> built from an OK status");
  }
  Result(ErrorCode code, std::string message = {}) : Result(Status(code, std::move(message))) {}

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  Status take_status() { return ok() ? Status() : std::move(std::get<Status>(v_)); }

  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

#define WARDEN_CONCAT_INNER(a, b) a##b
#define WARDEN_CONCAT(a, b) WARDEN_CONCAT_INNER(a, b)

#define WARDEN_RETURN_IF_ERROR(expr)            \
  do {                                          \
    ::warden::Status warden_status_ = (expr);   \
    if (!warden_status_.ok()) return warden_status_; \
  } while (0)

#define WARDEN_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.take_status();           \
  lhs = std::move(tmp).value()

#define WARDEN_ASSIGN_OR_RETURN(lhs, expr) \
  WARDEN_ASSIGN_OR_RETURN_IMPL(WARDEN_CONCAT(warden_result_, __LINE__), lhs, expr)

}  // namespace warden
