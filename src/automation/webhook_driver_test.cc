#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <ctime>
#include <thread>

#include "automation/driver.h"

namespace warden::automation {
namespace {
namespace json = boost::json;

// A one-connection HTTP server on loopback: records the raw request, answers `status` (or
// nothing at all when status is 0, to test the timeout).
class OneShotServer {
 public:
  explicit OneShotServer(int status) : status_(status) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ::listen(fd_, 1);
    thread_ = std::thread([this] { serve(); });
  }
  ~OneShotServer() {
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }
  const std::string& request() const { return request_; }  // after the driver returned

  std::string header(std::string_view name) const {
    const std::string key = "\r\n" + std::string(name) + ": ";
    const std::size_t at = request_.find(key);
    if (at == std::string::npos) return "";
    const std::size_t start = at + key.size();
    return request_.substr(start, request_.find("\r\n", start) - start);
  }
  std::string body() const { return request_.substr(request_.find("\r\n\r\n") + 4); }

 private:
  void serve() {
    const int c = ::accept(fd_, nullptr, nullptr);
    if (c < 0) return;
    char buf[4096];
    std::size_t want = std::string::npos;
    while (want == std::string::npos || request_.size() < want) {
      const ssize_t n = ::read(c, buf, sizeof buf);
      if (n <= 0) break;
      request_.append(buf, static_cast<std::size_t>(n));
      const std::size_t end = request_.find("\r\n\r\n");
      if (want == std::string::npos && end != std::string::npos) {
        const std::size_t cl = request_.find("Content-Length: ");
        want = end + 4 + (cl == std::string::npos ? 0 : std::stoul(request_.substr(cl + 16)));
      }
    }
    if (status_ == 0) {
      char drain[64];
      while (::read(c, drain, sizeof drain) > 0) {
      }  // until the client gives up
    } else {
      const std::string answer = "HTTP/1.1 " + std::to_string(status_) +
                                 " X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
      [[maybe_unused]] ssize_t w = ::write(c, answer.data(), answer.size());
    }
    ::close(c);
  }

  int status_;
  int fd_ = -1;
  int port_ = 0;
  std::string request_;
  std::thread thread_;
};

// HMAC-SHA256 hex through EVP_MAC, independently of the driver's code.
std::string expected_signature(const std::string& secret, const std::string& message) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  unsigned char out[32];
  std::size_t n = 0;
  EVP_MAC_init(ctx, reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), params);
  EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(message.data()), message.size());
  EVP_MAC_final(ctx, out, &n, sizeof out);
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
  std::string hex;
  char b[3];
  for (std::size_t i = 0; i < n; ++i) {
    std::snprintf(b, sizeof b, "%02x", out[i]);
    hex += b;
  }
  return hex;
}

ActionCall post(std::string url, std::optional<json::value> body = std::nullopt) {
  ActionCall c;
  c.host = "webhook";
  c.capability = "http";
  c.verb = "post";
  c.params["url"] = std::move(url);
  if (body) c.params["body"] = *body;
  c.target.id = "webhook";
  c.correlation_id = "corr-7";
  c.idempotency_key = "idem-1";
  return c;
}

const std::string kSecret = "a-webhook-secret-of-some-length";

TEST(WebhookDriver, PostsASignedBody) {
  OneShotServer server(200);
  std::unique_ptr<Driver> d = make_webhook_driver(kSecret, 3'000);
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/hook?x=1";
  const std::time_t before = std::time(nullptr);
  Result<ExecuteResult> r = d->execute(post(url, json::parse(R"({"alert": "spend"})")));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_TRUE(r->ok);
  EXPECT_EQ(json::value(r->effects),
            (json::value(json::array{json::object{{"post", url}, {"status", 200}}})));
  EXPECT_EQ(server.request().substr(0, 20), "POST /hook?x=1 HTTP/");
  EXPECT_EQ(server.body(), R"({"alert":"spend"})");
  EXPECT_EQ(server.header("Idempotency-Key"), "idem-1");
  EXPECT_EQ(server.header("Warden-Correlation-Id"), "corr-7");

  const std::string sig = server.header("Warden-Signature");
  ASSERT_EQ(sig.substr(0, 2), "t=");
  const std::size_t comma = sig.find(",v1=");
  ASSERT_NE(comma, std::string::npos);
  const std::string t = sig.substr(2, comma - 2);
  EXPECT_GE(std::stoll(t), before);
  EXPECT_LE(std::stoll(t), before + 5);
  EXPECT_EQ(sig.substr(comma + 4), expected_signature(kSecret, t + "." + server.body()));
  EXPECT_NE(sig.substr(comma + 4), expected_signature("another secret", t + "." + server.body()));
}

TEST(WebhookDriver, DefaultBodyCarriesTheEventAndANon2xxIsNotOk) {
  OneShotServer server(500);
  std::unique_ptr<Driver> d = make_webhook_driver(kSecret, 3'000);
  ActionCall c = post("http://127.0.0.1:" + std::to_string(server.port()));
  c.event = json::object{{"kind", "decision.denied"}};
  Result<ExecuteResult> r = d->execute(c);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_FALSE(r->ok);
  EXPECT_NE(r->reason.find("500"), std::string::npos);
  EXPECT_EQ(server.request().substr(0, 7), "POST / ");
  const json::value body = json::parse(server.body());
  EXPECT_EQ(body.at("event").at("kind"), "decision.denied");
  EXPECT_EQ(body.at("target").at("id"), "webhook");
}

TEST(WebhookDriver, TimesOutAndFailsToConnect) {
  {
    OneShotServer silent(0);
    std::unique_ptr<Driver> d = make_webhook_driver(kSecret, 300);
    const auto start = std::chrono::steady_clock::now();
    Status s = d->execute(post("http://127.0.0.1:" + std::to_string(silent.port()) + "/")).status();
    EXPECT_EQ(s.code(), ErrorCode::AUTOMATION_DRIVER_TIMEOUT) << s.to_string();
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  }
  int port = 0;
  {
    OneShotServer closed(200);  // take a free port, serve it once, then it is closed
    port = closed.port();
    ASSERT_TRUE(make_webhook_driver(kSecret)
                    ->execute(post("http://127.0.0.1:" + std::to_string(port)))
                    .ok());
  }
  Status s = make_webhook_driver(kSecret, 1'000)
                 ->execute(post("http://127.0.0.1:" + std::to_string(port)))
                 .status();
  EXPECT_EQ(s.code(), ErrorCode::AUTOMATION_DRIVER_FAILED) << s.to_string();
}

TEST(WebhookDriver, DryRunValidatesTheUrl) {
  std::unique_ptr<Driver> d = make_webhook_driver(kSecret);
  Result<DryRun> good = d->dry_run(post("http://example.invalid:8080/x"));
  ASSERT_TRUE(good.ok());
  EXPECT_TRUE(good->ok);
  EXPECT_EQ(json::value(good->effects),
            json::parse(R"([{"post":"http://example.invalid:8080/x"}])"));
  for (const char* bad : {"https://example.com/", "http://", "http://host:99999/", "ftp://x/",
                          "http://user:pw@host/", "http://host/a b"}) {
    Result<DryRun> r = d->dry_run(post(bad));
    ASSERT_TRUE(r.ok()) << bad;
    EXPECT_FALSE(r->ok) << bad;
    EXPECT_EQ(r->severity, Severity::kError) << bad;
    EXPECT_TRUE(r->effects.empty()) << bad;
  }
  // Executing an invalid URL refuses without a request.
  Result<ExecuteResult> refused = d->execute(post("https://example.com/"));
  ASSERT_TRUE(refused.ok());
  EXPECT_FALSE(refused->ok);
  EXPECT_EQ(d->info().find("http", "post")->params_schema.at("required"), json::array{"url"});
}

}  // namespace
}  // namespace warden::automation
