// A byte-level HTTP/1.1 exchange for tests that need what HttpClient hides: a streamed body in
// the pieces it arrived in, a body cut short by the server (truncated, stalled), and a client
// that hangs up in the middle of a response. Plain POSIX sockets; one connection per exchange.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "support/http_client.h"

namespace warden::testing {

struct RawResponse {
  int status = 0;                              // 0 when no status line arrived
  std::map<std::string, std::string> headers;  // keys lower-cased
  std::string body;                            // de-chunked
  // The de-chunked body bytes of each read from the socket, in order (a stream's arrival).
  std::vector<std::string> pieces;
  // The body ended as its framing says (the last chunk, or Content-Length bytes).
  bool complete = false;
  bool closed_by_server = false;  // EOF or reset before `complete`
  bool timed_out = false;         // no byte for idle_timeout_ms before `complete`
  bool hung_up = false;           // the client closed once stop_after_body_bytes arrived
  std::string error;              // connect/write failure or malformed framing

  std::string header(std::string_view name) const;
};

struct RawRequest {
  std::string method = "POST";
  std::string target;
  std::string body;
  Headers headers;  // Host, Content-Length and Connection: close are added
  // No byte for this long ends the exchange with timed_out.
  int idle_timeout_ms = 5000;
  // The client closes the connection as soon as this many body bytes arrived.
  std::size_t stop_after_body_bytes = std::numeric_limits<std::size_t>::max();
};

// Sends one request to 127.0.0.1:port and reads its response until it completes, the server
// closes, the connection idles past idle_timeout_ms or stop_after_body_bytes arrived.
RawResponse raw_exchange(std::uint16_t port, const RawRequest& request);

}  // namespace warden::testing
