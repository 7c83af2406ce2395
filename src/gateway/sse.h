// A server-sent events decoder (the WHATWG "event stream" format) fed bytes split anywhere.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace warden::gateway::internal {

// Splits a byte stream into events. Lines end with CRLF, LF or CR (a CR at the end of one chunk
// and an LF at the start of the next are one line end); a line starting with ':' is a comment;
// "data" lines are joined with '\n'; an empty line dispatches the event when it had data.
// A line longer than kSseLineBytesMax or an event's data longer than kSseEventBytesMax is
// VALIDATION_BODY_TOO_LARGE. Not thread-safe.
class SseDecoder {
 public:
  using Handler = std::function<Status(std::string_view event, std::string_view data)>;

  Status feed(std::string_view bytes, const Handler& on_event);
  // A line or an event begun and not finished: the stream was cut inside it.
  bool has_pending() const;

 private:
  Status end_line(const Handler& on_event);

  std::string line_;
  std::string event_;
  std::string data_;
  bool has_data_ = false;
  bool after_cr_ = false;
  bool first_line_ = true;
};

}  // namespace warden::gateway::internal
