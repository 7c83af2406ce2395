// Status: the error value every module returns.
#include "core/status.h"

namespace warden {

Status::Status(ErrorCode code, std::string message, boost::json::object details) {
  if (code != ErrorCode::OK) {
    rep_ = std::make_unique<Rep>(Rep{code, std::move(message), std::move(details)});
  }
}

Status::Status(const Status& other)
    : rep_(other.rep_ ? std::make_unique<Rep>(*other.rep_) : nullptr) {}

Status& Status::operator=(const Status& other) {
  if (this != &other) rep_ = other.rep_ ? std::make_unique<Rep>(*other.rep_) : nullptr;
  return *this;
}

std::string Status::message() const {
  if (!rep_) return "OK";
  if (!rep_->message.empty()) return rep_->message;
  return std::string(error_message(rep_->code, Language::kEnglish));
}

const boost::json::object& Status::details() const {
  static const boost::json::object kEmpty;
  return rep_ ? rep_->details : kEmpty;
}

std::string Status::to_string() const {
  return std::string(error_code_name(code())) + ": " + message();
}

}  // namespace warden
