// The built-in host "webhook": capability "http", verb "post" {url, body?}. The request carries
// Warden-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>"> under the configured
// secret, the scheme /v1/webhooks verifies (docs/http-api.md#payment-webhooks), so a Warden can
// receive another's automations. Plain http only: a TLS endpoint sits behind a local proxy.
// This is the module's only translation unit with Boost.Beast.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>
#include <chrono>

#include "automation/driver.h"
#include "core/clock.h"

namespace warden::automation {
namespace json = boost::json;
namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;

namespace {

constexpr std::size_t kUrlBytesMax = 2048;
constexpr std::size_t kResponseBodyBytesMax = 64u << 10;  // read, not kept: only the status matters

struct Url {
  std::string host;
  std::string port = "80";
  std::string target = "/";
};

Result<Url> parse_url(std::string_view url) {
  auto bad = [&](std::string why) {
    return Status(ErrorCode::AUTOMATION_ACTION_INVALID, "url " + std::string(url) + ": " + why);
  };
  if (url.size() > kUrlBytesMax) return bad("longer than " + std::to_string(kUrlBytesMax));
  constexpr std::string_view kScheme = "http://";
  if (url.substr(0, kScheme.size()) != kScheme) return bad("must start with http://");
  std::string_view rest = url.substr(kScheme.size());
  const std::size_t slash = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, slash);
  Url u;
  if (slash != std::string_view::npos) {
    std::string_view target = rest.substr(slash);
    target = target.substr(0, target.find('#'));
    u.target = target.empty() || target[0] != '/' ? "/" + std::string(target) : std::string(target);
  }
  if (authority.find('@') != std::string_view::npos) return bad("credentials are not allowed");
  std::string_view host = authority;
  if (!authority.empty() && authority[0] == '[') {  // [::1]:8080
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("unclosed IPv6 address");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return bad("bad port");
      u.port = std::string(after.substr(1));
    }
  } else if (const std::size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    u.port = std::string(authority.substr(colon + 1));
  }
  if (host.empty()) return bad("has no host");
  for (char c : u.target) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return bad("has a space or control");
  }
  int port = 0;
  auto [end, ec] = std::from_chars(u.port.data(), u.port.data() + u.port.size(), port);
  if (ec != std::errc() || end != u.port.data() + u.port.size() || port < 1 || port > 65535) {
    return bad("the port must be 1..65535");
  }
  u.host = std::string(host);
  return u;
}

std::string sign(std::string_view secret, std::int64_t t, std::string_view body) {
  const std::string message = std::to_string(t) + "." + std::string(body);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_bytes = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest,
       &digest_bytes);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * digest_bytes);
  for (unsigned int i = 0; i < digest_bytes; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0xF];
  }
  return hex;
}

HostInfo webhook_host() {
  HostInfo h;
  h.id = "webhook";
  h.name = "Signed HTTP POST";
  h.builtin = true;
  json::object url{
      {"type", "string"}, {"minLength", 8}, {"maxLength", kUrlBytesMax}, {"pattern", "^http://"}};
  json::object schema{
      {"type", "object"},
      {"properties", json::object{{"url", std::move(url)}, {"body", json::object{}}}},
      {"required", json::array{"url"}},
      {"additionalProperties", false}};
  h.verbs = {VerbInfo{"http", "post", std::move(schema), false, "", {"url"}}};
  return h;
}

class WebhookDriver final : public Driver {
 public:
  WebhookDriver(std::string secret, std::int64_t timeout_ms)
      : secret_(std::move(secret)), timeout_ms_(timeout_ms), info_(webhook_host()) {}

  const HostInfo& info() const override { return info_; }

  // One target stands for "the outside world", so a spec can name host webhook with selector
  // "webhook"; the URL is the action's param.
  Result<std::vector<InventoryItem>> inventory(bool /*full*/) override {
    return std::vector<InventoryItem>{
        InventoryItem{"webhook", "Outgoing HTTP endpoints", "endpoint", {}}};
  }

  Result<DryRun> dry_run(const ActionCall& c) override {
    if (info_.find(c.capability, c.verb) == nullptr) {
      return Status(ErrorCode::AUTOMATION_ACTION_INVALID,
                    "host webhook has no verb " + c.capability + "." + c.verb);
    }
    DryRun d;
    const json::value* url = c.params.if_contains("url");
    Result<Url> parsed = url != nullptr && url->is_string()
                             ? parse_url(url->as_string())
                             : Result<Url>(ErrorCode::AUTOMATION_ACTION_INVALID, "url is missing");
    d.preconditions.push_back(
        json::object{{"check", "url is a valid http URL"}, {"ok", parsed.ok()}});
    if (!parsed.ok()) {
      d.ok = false;
      d.severity = Severity::kError;
      d.reason = parsed.status().message();
      return d;
    }
    const std::string u(url->as_string());
    d.ok = true;
    d.plan.push_back(json::object{{"step", "POST a signed request"}, {"url", u}});
    d.effects.push_back(json::object{{"post", u}});
    d.reason = "POST to " + u;
    return d;
  }

  Result<ExecuteResult> execute(const ActionCall& c) override {
    WARDEN_ASSIGN_OR_RETURN(DryRun d, dry_run(c));
    if (!d.ok) return ExecuteResult{false, {}, d.reason};
    const std::string url(c.params.at("url").as_string());
    WARDEN_ASSIGN_OR_RETURN(Url u, parse_url(url));
    std::string body;
    if (const json::value* b = c.params.if_contains("body")) {
      body = b->is_string() ? std::string(b->as_string()) : json::serialize(*b);
    } else {
      body = json::serialize(json::object{{"event", c.event},
                                          {"target", inventory_item_json(c.target)},
                                          {"idempotency_key", c.idempotency_key},
                                          {"correlation_id", c.correlation_id}});
    }
    const std::int64_t t = SystemClock().now_seconds();
    http::request<http::string_body> req{http::verb::post, u.target, 11};
    req.set(http::field::host, u.host + ":" + u.port);
    req.set(http::field::user_agent, "warden-automation");
    req.set(http::field::content_type, "application/json");
    req.set("Warden-Signature", "t=" + std::to_string(t) + ",v1=" + sign(secret_, t, body));
    if (!c.idempotency_key.empty()) req.set("Idempotency-Key", c.idempotency_key);
    if (!c.correlation_id.empty()) req.set("Warden-Correlation-Id", c.correlation_id);
    req.body() = std::move(body);
    req.prepare_payload();

    WARDEN_ASSIGN_OR_RETURN(unsigned status, post(u, req));
    json::array effects{json::object{{"post", url}, {"status", status}}};
    if (status < 200 || status > 299) {
      return ExecuteResult{false, std::move(effects),
                           "POST " + url + " answered HTTP " + std::to_string(status)};
    }
    return ExecuteResult{true, std::move(effects),
                         "POST " + url + " answered " + std::to_string(status)};
  }

 private:
  // One request on a fresh connection, every step under one deadline.
  Result<unsigned> post(const Url& u, http::request<http::string_body>& req) {
    asio::io_context io;
    asio::ip::tcp::resolver resolver(io);
    beast::tcp_stream stream(io);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(kResponseBodyBytesMax);
    beast::error_code failure;
    const char* step = "resolve";
    stream.expires_after(std::chrono::milliseconds(timeout_ms_));
    resolver.async_resolve(
        u.host, u.port, [&](beast::error_code ec, asio::ip::tcp::resolver::results_type results) {
          if (ec) return void(failure = ec);
          step = "connect";
          stream.async_connect(results, [&](beast::error_code ec, const auto&) {
            if (ec) return void(failure = ec);
            step = "send";
            http::async_write(stream, req, [&](beast::error_code ec, std::size_t) {
              if (ec) return void(failure = ec);
              step = "read";
              http::async_read(stream, buffer, parser, [&](beast::error_code ec, std::size_t) {
                if (ec) failure = ec;
                step = "done";
              });
            });
          });
        });
    // The resolver is not covered by the stream's timer: bound the whole run as well.
    io.run_for(std::chrono::milliseconds(timeout_ms_ + 100));
    if (std::string_view(step) != "done" && !failure) failure = beast::error::timeout;
    beast::error_code ignored;
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    if (failure == beast::error::timeout) {
      return Status(ErrorCode::AUTOMATION_DRIVER_TIMEOUT,
                    "POST http://" + u.host + ":" + u.port + u.target + " timed out at " + step);
    }
    if (failure) {
      return Status(ErrorCode::AUTOMATION_DRIVER_FAILED, "POST http://" + u.host + ":" + u.port +
                                                             u.target + " failed at " + step +
                                                             ": " + failure.message());
    }
    return parser.get().result_int();
  }

  std::string secret_;
  std::int64_t timeout_ms_;
  HostInfo info_;
};

}  // namespace

std::unique_ptr<Driver> make_webhook_driver(std::string secret) {
  return make_webhook_driver(std::move(secret), kWebhookTimeoutMsDefault);
}

std::unique_ptr<Driver> make_webhook_driver(std::string secret, std::int64_t timeout_ms) {
  return std::make_unique<WebhookDriver>(std::move(secret), timeout_ms);
}

}  // namespace warden::automation
