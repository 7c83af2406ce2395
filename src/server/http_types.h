// Plain HTTP request/response values passed between the Beast transport and the routes, so
// that only http_server.cc includes Beast.
#pragma once

#include <cstdint>
#include <map>
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

// Splits "/a/b?x=1&y=%20" into path and decoded query parameters.
void split_target(std::string_view target, std::string* path,
                  std::map<std::string, std::string>* query);

}  // namespace warden::server
