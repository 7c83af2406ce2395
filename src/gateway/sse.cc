// The server-sent events decoder.
#include "gateway/sse.h"

#include "gateway/adapters.h"
#include "gateway/json_read.h"

namespace warden::gateway::internal {

namespace {

Status too_large(std::string_view what, std::size_t bytes_max) {
  json::object d;
  d["field"] = what;
  return Status(ErrorCode::VALIDATION_BODY_TOO_LARGE,
                std::string(what) + " longer than " + std::to_string(bytes_max) + " bytes",
                std::move(d));
}

}  // namespace

Status SseDecoder::feed(std::string_view bytes, const Handler& on_event) {
  std::size_t i = 0;
  if (after_cr_ && !bytes.empty()) {
    if (bytes[0] == '\n') i = 1;  // the LF of a CRLF split across chunks
    after_cr_ = false;
  }
  while (i < bytes.size()) {
    const std::size_t end = bytes.find_first_of("\r\n", i);
    const std::size_t stop = end == std::string_view::npos ? bytes.size() : end;
    if (line_.size() + (stop - i) > kSseLineBytesMax) {
      return too_large("sse_line", kSseLineBytesMax);
    }
    line_.append(bytes.data() + i, stop - i);
    if (end == std::string_view::npos) break;
    WARDEN_RETURN_IF_ERROR(end_line(on_event));
    i = end + 1;
    if (bytes[end] == '\r') {
      if (i == bytes.size()) {
        after_cr_ = true;
      } else if (bytes[i] == '\n') {
        ++i;
      }
    }
  }
  return Status();
}

Status SseDecoder::end_line(const Handler& on_event) {
  std::string_view line(line_);
  if (first_line_) {
    first_line_ = false;
    if (line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);
  }
  if (line.empty()) {
    Status status;
    if (has_data_) {
      if (!data_.empty() && data_.back() == '\n') data_.pop_back();
      status = on_event(event_, data_);
    }
    event_.clear();
    data_.clear();
    has_data_ = false;
    line_.clear();
    return status;
  }
  if (line.front() != ':') {
    const std::size_t colon = line.find(':');
    std::string_view field = line.substr(0, colon);
    std::string_view value;
    if (colon != std::string_view::npos) {
      value = line.substr(colon + 1);
      if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    }
    if (field == "data") {
      if (data_.size() + value.size() + 1 > kSseEventBytesMax) {
        return too_large("sse_event", kSseEventBytesMax);
      }
      data_.append(value);
      data_ += '\n';
      has_data_ = true;
    } else if (field == "event") {
      event_.assign(value);
    }
    // "id", "retry" and unknown fields do not change what an event says.
  }
  line_.clear();
  return Status();
}

bool SseDecoder::has_pending() const { return !line_.empty() || has_data_ || !event_.empty(); }

}  // namespace warden::gateway::internal
