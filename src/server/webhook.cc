// The webhook notifier's worker: one HTTP POST per attempt over a fresh connection, bounded by
// a per-request deadline, retried with exponential backoff, each outcome appended to the audit
// log.
#include "server/webhook.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>
#include <chrono>
#include <exception>

#include "core/json.h"
#include "core/thread_name.h"
#include "server/log.h"

namespace warden::server {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {

// A receiver's answer is only inspected for its status; a larger body is a protocol error.
constexpr std::size_t kResponseBytesMax = 64 * 1024;
constexpr std::size_t kUrlBytesMax = 2048;
constexpr std::string_view kHttpScheme = "http://";
constexpr std::string_view kHttpsScheme = "https://";
constexpr std::string_view kUserAgent = "warden-webhook/1";

Status bad_url(const std::string& why) {
  return Status(ErrorCode::CONFIG_INVALID, "webhook url: " + why);
}

// What one attempt produced: an HTTP status, or an error before any answer.
struct Exchange {
  int status = 0;
  std::string error;
};

asio::awaitable<void> post(const WebhookUrl& url, const http::request<http::string_body>& req,
                           tcp::resolver& resolver, beast::tcp_stream& stream, Exchange& out) {
  beast::error_code ec;
  auto token = asio::redirect_error(asio::use_awaitable, ec);
  auto endpoints = co_await resolver.async_resolve(url.host, url.port, token);
  if (ec) {
    out.error = "resolve: " + ec.message();
    co_return;
  }
  co_await stream.async_connect(endpoints, token);
  if (ec) {
    out.error = "connect: " + ec.message();
    co_return;
  }
  co_await http::async_write(stream, req, token);
  if (ec) {
    out.error = "write: " + ec.message();
    co_return;
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kResponseBytesMax);
  co_await http::async_read(stream, buffer, parser, token);
  if (ec) {
    out.error = "read: " + ec.message();
    co_return;
  }
  out.status = parser.get().result_int();
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);  // best effort; the answer is in
}

// One POST. Beast's blocking calls cannot honour a deadline (Asio's synchronous socket ops
// poll without a timeout), so the worker runs the asynchronous ones on a private io_context
// and waits for them: the call is still synchronous for the worker thread.
Exchange post_once(const WebhookUrl& url, const std::string& event_id, const std::string& body,
                   std::int64_t timeout_ms) {
  http::request<http::string_body> req{http::verb::post, url.target, 11};
  req.set(http::field::host, url.port == "80" ? url.host : url.host + ":" + url.port);
  req.set(http::field::user_agent, kUserAgent);
  req.set(http::field::content_type, "application/json");
  req.set(http::field::connection, "close");
  req.set("X-Warden-Event-Id", event_id);
  req.body() = body;
  req.prepare_payload();

  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  beast::tcp_stream stream(ioc);
  Exchange out;
  bool finished = false;
  asio::co_spawn(ioc, post(url, req, resolver, stream, out), [&](std::exception_ptr e) {
    finished = true;
    if (e) out.error = "internal error in the HTTP client";
  });
  ioc.run_for(std::chrono::milliseconds(timeout_ms));
  if (!finished) {
    resolver.cancel();
    beast::error_code ignored;
    stream.socket().close(ignored);
    ioc.restart();
    ioc.run();  // the cancelled operations complete at once
    out.status = 0;
    out.error = "timed out after " + std::to_string(timeout_ms) + " ms";
  }
  return out;
}

bool retryable_status(int status) { return status == 408 || status == 429 || status >= 500; }

std::optional<std::string> string_at(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (v == nullptr || !v->is_string()) return std::nullopt;
  return std::string(v->as_string());
}

}  // namespace

Result<WebhookUrl> parse_webhook_url(const std::string& url) {
  if (url.size() > kUrlBytesMax) return bad_url("longer than " + std::to_string(kUrlBytesMax));
  if (url.starts_with(kHttpsScheme)) {
    return bad_url("https is not supported; use http:// (behind a local TLS proxy if needed)");
  }
  if (!url.starts_with(kHttpScheme)) return bad_url("must start with http://");
  const std::string rest = url.substr(kHttpScheme.size());
  const std::size_t slash = rest.find_first_of("/?");
  const std::string authority = rest.substr(0, slash);
  WebhookUrl out;
  if (slash != std::string::npos) out.target = rest.substr(slash);
  if (out.target.front() == '?') out.target.insert(0, "/");
  if (authority.find('@') != std::string::npos) return bad_url("user info is not allowed");
  if (out.target.find_first_of(" \r\n#") != std::string::npos) {
    return bad_url("path has a space, line break or fragment");
  }
  std::string host = authority;
  if (!host.empty() && host.front() == '[') {  // IPv6 literal
    const std::size_t close = host.find(']');
    if (close == std::string::npos) return bad_url("unterminated IPv6 literal");
    out.host = host.substr(1, close - 1);
    host = host.substr(close + 1);
    if (!host.empty() && host.front() != ':') return bad_url("junk after IPv6 literal");
    if (!host.empty()) out.port = host.substr(1);
  } else {
    const std::size_t colon = host.rfind(':');
    out.host = host.substr(0, colon);
    if (colon != std::string::npos) out.port = host.substr(colon + 1);
  }
  if (out.host.empty()) return bad_url("no host");
  int port = 0;
  const auto [end, ec] = std::from_chars(out.port.data(), out.port.data() + out.port.size(), port);
  if (ec != std::errc() || end != out.port.data() + out.port.size() || port < 1 || port > 65535) {
    return bad_url("port must be 1..65535");
  }
  return out;
}

Result<std::unique_ptr<WebhookNotifier>> WebhookNotifier::create(const std::string& url,
                                                                 store::BatchWriter& writer,
                                                                 store::Store& store,
                                                                 const Clock& clock,
                                                                 WebhookOptions options) {
  WARDEN_ASSIGN_OR_RETURN(WebhookUrl target, parse_webhook_url(url));
  if (options.batch_max == 0 || options.poll_ms < 1 || options.attempts_max < 1 ||
      options.request_timeout_ms < 1 || options.backoff_initial_ms < 0 ||
      options.backoff_max_ms < options.backoff_initial_ms) {
    return Status(ErrorCode::CONFIG_INVALID,
                  "webhook options: batch_max, poll_ms, attempts_max and request_timeout_ms "
                  "must be positive and backoff_initial_ms <= backoff_max_ms");
  }
  return std::unique_ptr<WebhookNotifier>(
      new WebhookNotifier(url, std::move(target), writer, store, clock, std::move(options)));
}

WebhookNotifier::WebhookNotifier(std::string url, WebhookUrl target, store::BatchWriter& writer,
                                 store::Store& store, const Clock& clock, WebhookOptions options)
    : url_(std::move(url)),
      target_(std::move(target)),
      writer_(writer),
      store_(store),
      clock_(clock),
      options_(std::move(options)) {
  worker_ = std::thread([this] {
    name_this_thread("warden-webhook");
    loop();
  });
}

WebhookNotifier::~WebhookNotifier() { stop(); }

void WebhookNotifier::wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

void WebhookNotifier::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

WebhookStats WebhookNotifier::stats() const {
  return {delivered_.load(), failed_.load(), attempts_.load()};
}

void WebhookNotifier::loop() {
  // What a previous run left in the outbox goes first.
  while (deliver_due()) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(options_.poll_ms),
                 [this] { return stopping_ || woken_; });
    if (stopping_) return;
    woken_ = false;
  }
}

bool WebhookNotifier::deliver_due() {
  for (;;) {
    auto due = store_.list_outbox_due(clock_.now_seconds(), options_.batch_max);
    if (!due.ok()) {
      log_event(LogLevel::kError, "webhook outbox not readable", {{"error", due.status().to_string()}});
      return true;  // look again at the next poll
    }
    for (const auto& row : *due) {
      {
        std::lock_guard lock(mu_);
        if (stopping_) return false;
      }
      auto event = parse_json(row.event);
      const bool recorded =
          !event.ok() || !event->is_object()
              ? record(row, {}, Outcome{false, 0, 0, "not JSON: " + event.status().message()})
              : record(row, event->as_object(), deliver(row.id, row.event));
      // A store that cannot take the outcome would hand the same rows back at once: wait for
      // the next poll instead of delivering them again in a loop.
      if (!recorded) return true;
    }
    if (due->size() < options_.batch_max) return true;
  }
}

WebhookNotifier::Outcome WebhookNotifier::deliver(const std::string& event_id,
                                                  const std::string& body) {
  Outcome out;
  std::int64_t backoff_ms = options_.backoff_initial_ms;
  for (int attempt = 1; attempt <= options_.attempts_max; ++attempt) {
    out.attempts = attempt;
    ++attempts_;
    const Exchange x = post_once(target_, event_id, body, options_.request_timeout_ms);
    out.last_status = x.status;
    out.error = x.error;
    if (x.error.empty() && x.status >= 200 && x.status < 300) {
      out.delivered = true;
      return out;
    }
    if (x.error.empty()) {
      out.error = "HTTP " + std::to_string(x.status);
      if (!retryable_status(x.status)) return out;
    }
    if (attempt == options_.attempts_max) break;
    wait_backoff(backoff_ms);
    backoff_ms = std::min(backoff_ms * 2, options_.backoff_max_ms);
    std::lock_guard lock(mu_);
    if (stopping_) {
      out.stopped = true;
      out.error = "stopped while retrying; last error: " + out.error;
      break;
    }
  }
  return out;
}

void WebhookNotifier::wait_backoff(std::int64_t delay_ms) {
  if (options_.sleep_ms) return options_.sleep_ms(delay_ms);
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(delay_ms), [this] { return stopping_; });
}

bool WebhookNotifier::record(const store::OutboxRow& row, const json::object& event,
                             const Outcome& outcome) {
  const bool stopped = outcome.stopped;
  store::AuditEvent e;
  e.timestamp = clock_.now_seconds();
  e.event_type = outcome.delivered ? "NOTIFICATION_DELIVERED" : "NOTIFICATION_FAILED";
  e.actor = "system";
  e.severity = outcome.delivered ? "info" : "warning";
  if (const auto* tx = event.if_contains("transaction"); tx && tx->is_object()) {
    e.tx_id = string_at(tx->as_object(), "id");
    e.agent_id = string_at(tx->as_object(), "agent_id");
  }
  json::object details{
      {"event_id", row.id},
      {"url", url_},
      {"attempts", row.attempts + outcome.attempts},
      {"last_status",
       outcome.last_status == 0 ? json::value(nullptr) : json::value(outcome.last_status)},
      {"error", outcome.delivered ? json::value(nullptr) : json::value(outcome.error)}};
  if (auto name = string_at(event, "event")) details["event"] = *name;
  e.details = json::serialize(details);
  store::OutboxRow pending = row;
  pending.attempts += outcome.attempts;
  const Status s = writer_.run([&](store::WriteTxn& tx) -> Status {
    // Stopped part-way: the event stays for the next start, its attempts counted.
    if (stopped) return tx.update_outbox(pending);
    WARDEN_RETURN_IF_ERROR(tx.delete_outbox(row.id));
    return tx.append_audit(e).take_status();
  });
  if (!s.ok()) {
    // The event stays in the outbox and is delivered again (receivers de-duplicate by id).
    log_event(LogLevel::kError, "webhook outcome not recorded",
              {{"event_id", row.id}, {"error", s.to_string()}});
    return false;
  }
  if (stopped) return true;
  // Counted after the write so an observer of stats() also sees the row.
  ++(outcome.delivered ? delivered_ : failed_);
  return true;
}

}  // namespace warden::server
