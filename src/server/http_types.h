// Plain HTTP request/response values passed between the Beast transport and the routes, so
// that only http_server.cc includes Beast.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/errors.h"

namespace warden::server {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // without the query string
  std::map<std::string, std::string> query;    // decoded
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string client_address;

  std::string_view header(std::string_view lower_name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  bool close = false;  // close the connection after this response
};

// The status line and headers of an HTTP/1.x response, written straight into one string.
// `body_bytes` is the Content-Length, or nullopt for a chunked body; a status that cannot have
// a body (1xx, 204, 304) gets neither. HTTP/1.1 is persistent unless it says close, HTTP/1.0
// only when it says keep-alive. Defined in http_server.cc (the reason phrases are Beast's).
std::string response_head(int status, std::string_view content_type,
                          const std::vector<std::pair<std::string, std::string>>& headers,
                          bool keep_alive, unsigned version, std::optional<std::size_t> body_bytes);

// Splits "/a/b?x=1&y=%20" into path and decoded query parameters.
void split_target(std::string_view target, std::string* path,
                  std::map<std::string, std::string>* query);

}  // namespace warden::server
