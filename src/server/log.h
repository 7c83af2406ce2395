// Structured JSON logs: one JSON object per line on stderr, through spdlog.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <string_view>

namespace warden::server {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

// Installs the JSON-lines logger; `level` is "debug", "info", "warn" or "error".
void init_logging(std::string_view level);
// Writes out buffered lines (before exit).
void flush_logs();
// Writes {"ts": ..., "level": ..., "msg": msg, ...fields}.
void log_event(LogLevel level, std::string_view msg, boost::json::object fields = {});
// The access line written once per HTTP request: the same as log_event(level, "request",
// {method, path, status, duration_us, client, correlation_id}) without building an object.
void log_request(LogLevel level, std::string_view method, std::string_view path, int status,
                 std::int64_t duration_us, std::string_view client,
                 std::string_view correlation_id);

}  // namespace warden::server
