// JSON-lines logging over spdlog.
#include "server/log.h"

#include <spdlog/sinks/base_sink.h>
#include <unistd.h>
#include <spdlog/spdlog.h>

#include <boost/json/serialize.hpp>
#include <chrono>
#include <cstdio>

#include "core/clock.h"
#include "core/json.h"

namespace warden::server {
namespace json = boost::json;

namespace {

constexpr std::size_t kLogBufferBytes = 64 << 10;

spdlog::level::level_enum to_spdlog(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return spdlog::level::debug;
    case LogLevel::kInfo: return spdlog::level::info;
    case LogLevel::kWarn: return spdlog::level::warn;
    case LogLevel::kError: return spdlog::level::err;
  }
  return spdlog::level::info;
}

std::string_view level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
  }
  return "info";
}

// Writes to a buffered stream of its own and flushes only when asked: spdlog's console sinks
// flush after every line, which costs a write(2) per request.
class BufferedStderrSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  BufferedStderrSink() : file_(fdopen(dup(STDERR_FILENO), "w")) {
    if (file_ != nullptr) std::setvbuf(file_, nullptr, _IOFBF, kLogBufferBytes);
  }
  ~BufferedStderrSink() override {
    if (file_ != nullptr) std::fclose(file_);
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    FILE* out = file_ != nullptr ? file_ : stderr;
    std::fwrite(msg.payload.data(), 1, msg.payload.size(), out);
    std::fputc('\n', out);
  }
  void flush_() override { std::fflush(file_ != nullptr ? file_ : stderr); }

 private:
  FILE* file_;
};

}  // namespace

void init_logging(std::string_view level) {
  // One request line per decision: buffered, flushed every second and at once for warnings.
  auto logger = std::make_shared<spdlog::logger>("warden", std::make_shared<BufferedStderrSink>());
  logger->set_pattern("%v");  // each message is already a complete JSON object
  spdlog::register_logger(logger);
  logger->set_level(spdlog::level::from_str(std::string(level)));
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  spdlog::flush_every(std::chrono::seconds(1));
}

void flush_logs() { spdlog::default_logger()->flush(); }

namespace {

// {"ts":"...","level":"...","msg":... — the caller appends its fields and the closing brace.
std::string begin_line(LogLevel level, std::string_view msg) {
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  std::string line;
  line.reserve(224);
  line += "{\"ts\":\"";
  std::string ts = format_rfc3339(now_ms / 1000);  // ...T06:30:01Z
  ts.pop_back();
  line += ts;
  const auto ms = static_cast<int>(now_ms % 1000);
  line += {'.', static_cast<char>('0' + ms / 100), static_cast<char>('0' + ms / 10 % 10),
           static_cast<char>('0' + ms % 10), 'Z', '"'};
  line += ",\"level\":\"";
  line += level_name(level);
  line += "\",\"msg\":";
  append_json_string(line, msg);
  return line;
}

void write_line(spdlog::level::level_enum lvl, std::string& line) {
  line += '}';
  spdlog::default_logger_raw()->log(lvl, spdlog::string_view_t(line.data(), line.size()));
}

}  // namespace

// Written straight into one string (timestamp by digit arithmetic, strings escaped by the
// canonical JSON escaper) and handed to spdlog unformatted. Fields named ts, level or msg
// would repeat a key and are dropped.
void log_event(LogLevel level, std::string_view msg, json::object fields) {
  const auto lvl = to_spdlog(level);
  if (!spdlog::should_log(lvl)) return;
  std::string line = begin_line(level, msg);
  for (const auto& kv : fields) {
    if (kv.key() == "ts" || kv.key() == "level" || kv.key() == "msg") continue;
    line += ',';
    append_json_string(line, kv.key());
    line += ':';
    line += json::serialize(kv.value());
  }
  write_line(lvl, line);
}

void log_request(LogLevel level, std::string_view method, std::string_view path, int status,
                 std::int64_t duration_us, std::string_view client,
                 std::string_view correlation_id) {
  const auto lvl = to_spdlog(level);
  if (!spdlog::should_log(lvl)) return;
  std::string line = begin_line(level, "request");
  line += ",\"method\":";
  append_json_string(line, method);
  line += ",\"path\":";
  append_json_string(line, path);
  line += ",\"status\":";
  line += std::to_string(status);
  line += ",\"duration_us\":";
  line += std::to_string(duration_us);
  line += ",\"client\":";
  append_json_string(line, client);
  line += ",\"correlation_id\":";
  append_json_string(line, correlation_id);
  write_line(lvl, line);
}

}  // namespace warden::server
