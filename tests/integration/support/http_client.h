// A small HTTP/1.1 client for integration tests: one keep-alive connection to 127.0.0.1:PORT,
// every call bounded by a timeout, plus a raw mode for partial or oversized requests.
// Boost.Beast stays inside http_client.cc; this header only needs Boost.JSON.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace warden::testing {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Response {
  int status = 0;                              // 0 when the transport failed (see error)
  std::map<std::string, std::string> headers;  // keys lower-cased
  std::string body;
  std::string error;  // transport error text; empty on success

  // Header value by case-insensitive name, "" when absent.
  std::string header(std::string_view name) const;
  bool has_header(std::string_view name) const;
  // Parsed body; a null value when the body is not JSON.
  boost::json::value json() const;
  // "error.code" of an error body, "" when absent.
  std::string error_code() const;
  // One-line summary for assertion messages.
  std::string describe() const;
};

// Not thread-safe: one client per thread.
class HttpClient {
 public:
  static constexpr int kTimeoutMsDefault = 10000;

  explicit HttpClient(std::uint16_t port, int timeout_ms = kTimeoutMsDefault);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends one request on the kept-alive connection (connecting first when needed) and reads
  // its response. A body, when given, is sent with Content-Type: application/json unless the
  // headers set another one.
  Response request(std::string_view method, std::string_view target, std::string_view body = {},
                   const Headers& headers = {});

  // Raw mode: writes bytes exactly as given (connecting first when needed).
  bool send_raw(std::string_view bytes);
  // Reads one response from the connection (after send_raw).
  Response read_response();
  // True when the server closes the connection (EOF or reset) within timeout_ms without
  // sending anything more.
  bool wait_closed(int timeout_ms);

  bool connected() const;
  void close();
  // Number of TCP connections opened so far (shows whether keep-alive reused one).
  int connects() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Runs request(client, i) for i in [0, count) on `count` threads at once, each thread with a
// connection of its own to 127.0.0.1:port; the responses in the order of i.
std::vector<Response> concurrently(std::uint16_t port, int count,
                                   const std::function<Response(HttpClient&, int)>& request);

}  // namespace warden::testing
