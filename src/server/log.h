// Structured JSON logs: one JSON object per line on stderr, through spdlog.
#pragma once

#include <boost/json/object.hpp>
#include <string_view>

namespace warden::server {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

// Installs the JSON-lines logger; `level` is "debug", "info", "warn" or "error".
void init_logging(std::string_view level);
// Writes out buffered lines (before exit).
void flush_logs();
// Writes {"ts": ..., "level": ..., "msg": msg, ...fields}.
void log_event(LogLevel level, std::string_view msg, boost::json::object fields = {});

}  // namespace warden::server
