// Authentication under attack, against a real daemon: the client address behind trusted
// proxies, atomic throttling of concurrent guesses, throttled session tokens that do not lock
// out a valid agent, aggregated audit of a flood, and Argon2id kept off the I/O threads.
#include <boost/json.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "support/fixture.h"

namespace warden::testing {
namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

constexpr const char* kWrong = "not-the-master-password";

Headers wrong_master(const std::string& forwarded_for = "") {
  Headers h = {{"X-Master-Password", kWrong}};
  if (!forwarded_for.empty()) h.emplace_back("X-Forwarded-For", forwarded_for);
  return h;
}

std::int64_t details_count(const json::value& row) {
  const json::value* details = at(row, "details");
  return details ? int_at(*details, "count").value_or(0) : 0;
}

std::string details_str(const json::value& row, std::string_view key) {
  const json::value* details = at(row, "details");
  return details ? str_at(*details, key) : std::string();
}

int count_status(const std::vector<Response>& rs, int status) {
  return static_cast<int>(
      std::count_if(rs.begin(), rs.end(), [&](const Response& r) { return r.status == status; }));
}

// --- Client address behind a reverse proxy --------------------------------------------------

class ProxyTest : public WardenTest {
 protected:
  static constexpr int kFailuresMax = 3;
  std::vector<std::string> serve_flags() const override {
    return {"--trusted-proxies", "127.0.0.1,::1", "--auth-failures-max",
            std::to_string(kFailuresMax)};
  }
};

TEST_F(ProxyTest, OneClientBehindTheProxyIsThrottledAloneAndRecordedByItsAddress) {
  // The proxy appends the address it saw; what the client wrote itself (6.6.6.6) is not believed.
  for (int i = 0; i < kFailuresMax; ++i) {
    Response r = client_->request("GET", "/v1/agents", {}, wrong_master("6.6.6.6, 203.0.113.7"));
    ASSERT_EQ(r.status, 401) << r.describe();
  }
  Response blocked = master("GET", "/v1/agents", {}, {{"X-Forwarded-For", "203.0.113.7"}});
  EXPECT_EQ(blocked.status, 429) << blocked.describe();
  EXPECT_EQ(blocked.error_code(), "AUTH_TOO_MANY_ATTEMPTS");
  const int retry_after_s = std::atoi(blocked.header("Retry-After").c_str());
  EXPECT_GE(retry_after_s, 55) << blocked.header("Retry-After");
  EXPECT_LE(retry_after_s, 60) << blocked.header("Retry-After");
  // The operator behind the same proxy is not locked out, nor is the proxy itself.
  Response other = master("GET", "/v1/agents", {}, {{"X-Forwarded-For", "203.0.113.8"}});
  EXPECT_EQ(other.status, 200) << other.describe();
  EXPECT_EQ(master("GET", "/v1/agents").status, 200);
  Response spoof = master("GET", "/v1/agents", {}, {{"X-Forwarded-For", "203.0.113.7, 6.6.6.6"}});
  EXPECT_EQ(spoof.status, 200) << "6.6.6.6 is the right-most untrusted entry: " << spoof.describe();

  auto failures = audit_all(*client_, "event_type=AUTH_FAILED");
  ASSERT_TRUE(failures.has_value());
  ASSERT_EQ(failures->size(), static_cast<std::size_t>(kFailuresMax + 1));
  for (const auto& row : *failures) {
    EXPECT_EQ(str_at(row, "ip_address"), "203.0.113.7") << json::serialize(row);
    EXPECT_EQ(str_at(row, "actor"), "ip:203.0.113.7") << json::serialize(row);
    EXPECT_EQ(details_str(row, "kind"), "master") << json::serialize(row);
  }
  EXPECT_EQ(details_str(failures->back(), "reason"), "AUTH_TOO_MANY_ATTEMPTS");
  // The request log names the same client (a clean stop flushes the buffered log).
  client_.reset();
  warden_->sigterm();
  ASSERT_EQ(warden_->wait_exit(kStartTimeoutMs), std::optional<int>(0));
  EXPECT_NE(warden_->log().find("\"client\":\"203.0.113.7\""), std::string::npos);
}

TEST_F(ProxyTest, MalformedForwardedForFromTheProxyFallsBackToTheProxyAddress) {
  Response r = client_->request("GET", "/v1/agents", {}, wrong_master("203.0.113.7, unknown"));
  ASSERT_EQ(r.status, 401) << r.describe();
  auto failures = audit_all(*client_, "event_type=AUTH_FAILED");
  ASSERT_TRUE(failures.has_value());
  ASSERT_EQ(failures->size(), 1u);
  EXPECT_EQ(str_at((*failures)[0], "ip_address"), "127.0.0.1");
}

using NoProxyTest = WardenTest;

TEST_F(NoProxyTest, ForwardedForIsIgnoredUnlessThePeerIsATrustedProxy) {
  constexpr int kDefaultFailuresMax = 5;
  for (int i = 0; i < kDefaultFailuresMax; ++i) {
    Response r = client_->request("GET", "/v1/agents", {}, wrong_master("203.0.113.7"));
    ASSERT_EQ(r.status, 401) << r.describe();
  }
  // Every request came from 127.0.0.1, whatever the header claimed.
  Response r = master("GET", "/v1/agents", {}, {{"X-Forwarded-For", "203.0.113.8"}});
  EXPECT_EQ(r.status, 429) << r.describe();
}

TEST(TrustedProxiesConfig, BadEntriesAreAUsageErrorAndTomlTakesAnArray) {
  const std::string dir = make_temp_dir();
  ASSERT_FALSE(dir.empty());
  CliResult bad = run_cli({"serve", "--data-dir", dir, "--trusted-proxies", "10.0.0.0/33"});
  EXPECT_EQ(bad.exit_code, 2) << bad.output();
  EXPECT_NE(bad.output().find("10.0.0.0/33"), std::string::npos) << bad.output();

  const std::string toml_string = dir + "/string.toml";
  std::ofstream(toml_string) << "trusted_proxies = \"127.0.0.1\"\n";
  CliResult wrong_type = run_cli({"serve", "--data-dir", dir, "--config", toml_string});
  EXPECT_EQ(wrong_type.exit_code, 2) << wrong_type.output();
  EXPECT_NE(wrong_type.output().find("trusted_proxies"), std::string::npos) << wrong_type.output();

  const std::string toml_array = dir + "/array.toml";
  std::ofstream(toml_array) << "trusted_proxies = [\"127.0.0.1\", \"::1\"]\n"
                               "auth_failures_max = 1\n";
  WardenProcess warden(WardenOptions{{"--config", toml_array}, ""});
  ASSERT_TRUE(warden.started()) << warden.error();
  HttpClient c(warden.port());
  Response first = c.request("GET", "/v1/agents", {}, wrong_master("203.0.113.7"));
  EXPECT_EQ(first.status, 401) << first.describe();
  Response other = c.request("GET", "/v1/agents", {}, master_headers({{"X-Forwarded-For",
                                                                       "203.0.113.8"}}));
  EXPECT_EQ(other.status, 200) << "the proxy list from the file was not applied: "
                               << other.describe();
  std::filesystem::remove_all(dir);
}

// --- Concurrent guesses ---------------------------------------------------------------------

class GuessTest : public WardenTest {
 protected:
  static constexpr int kFailuresMax = 3;
  static constexpr int kConcurrent = 16;
  // Many I/O threads, so that many guesses are checked at the same moment.
  std::vector<std::string> serve_flags() const override {
    return {"--auth-failures-max", std::to_string(kFailuresMax), "--threads", "8"};
  }
  std::vector<Response> guess_concurrently() {
    return concurrently(warden_->port(), kConcurrent, [](HttpClient& c, int i) {
      return c.request("GET", "/v1/agents", {},
                       {{"X-Master-Password", "guess-" + std::to_string(i)}});
    });
  }
};

// Right after start-up every check needs Argon2id: slots are taken before the check.
TEST_F(GuessTest, ConcurrentGuessesBeforeAnyLoginAreAnsweredAtMostFailuresMaxTimes) {
  const auto rs = guess_concurrently();
  EXPECT_EQ(count_status(rs, 401), kFailuresMax);
  EXPECT_EQ(count_status(rs, 429), kConcurrent - kFailuresMax);
}

// After a login the check is a cached digest: check and record are one step.
TEST_F(GuessTest, ConcurrentGuessesAfterALoginAreAnsweredAtMostFailuresMaxTimes) {
  ASSERT_EQ(master("GET", "/v1/agents").status, 200);
  const auto rs = guess_concurrently();
  EXPECT_EQ(count_status(rs, 401), kFailuresMax);
  EXPECT_EQ(count_status(rs, 429), kConcurrent - kFailuresMax);
}

// The operator's parallel requests right after a restart share one Argon2id run: none is
// throttled, although there are more of them than auth_failures_max.
TEST_F(GuessTest, ConcurrentCorrectPasswordsAfterStartAreAllServed) {
  const auto rs = concurrently(warden_->port(), kConcurrent, [](HttpClient& c, int) {
    return c.request("GET", "/v1/agents", {}, master_headers());
  });
  EXPECT_EQ(count_status(rs, 200), kConcurrent);
}

// --- Session tokens -------------------------------------------------------------------------

class TokenTest : public WardenTest {
 protected:
  static constexpr int kThrottledAnswerDelayMs = 250;  // Api::kThrottledAnswerDelayMs
  static constexpr int kFailuresMax = 3;
  static constexpr int kWindowSeconds = 60;
  std::vector<std::string> serve_flags() const override {
    return {"--auth-failures-max", std::to_string(kFailuresMax), "--auth-failure-window-seconds",
            std::to_string(kWindowSeconds)};
  }
};

TEST_F(TokenTest, BadTokensGet429PastTheLimitWhileAValidTokenStillWorks) {
  const std::string agent = new_agent("worker");
  const json::value session = new_session(agent);
  const std::string token = str_at(session, "token");
  ASSERT_FALSE(token.empty());
  const std::string bad = "wdn_" + std::string(43, 'A');
  for (int i = 0; i < kFailuresMax; ++i) {
    Response r = client_->request("GET", "/v1/sessions/current", {}, bearer_headers(bad));
    ASSERT_EQ(r.status, 401) << r.describe();
    EXPECT_EQ(r.error_code(), "AUTH_SESSION_INVALID");
  }
  const auto asked = Clock::now();
  Response throttled = client_->request("GET", "/v1/sessions/current", {}, bearer_headers(bad));
  const auto waited = Clock::now() - asked;
  ASSERT_EQ(throttled.status, 429) << throttled.describe();
  // Answered late on purpose, so a flood's connections cost the daemon little.
  EXPECT_GE(waited, std::chrono::milliseconds(kThrottledAnswerDelayMs));
  EXPECT_EQ(throttled.error_code(), "AUTH_TOO_MANY_ATTEMPTS");
  const int retry_after_s = std::atoi(throttled.header("Retry-After").c_str());
  EXPECT_GE(retry_after_s, kWindowSeconds - 5) << throttled.header("Retry-After");
  EXPECT_LE(retry_after_s, kWindowSeconds) << throttled.header("Retry-After");
  EXPECT_EQ(int_at(error_field(throttled, "details"), "retry_after_seconds"), retry_after_s);
  // Same client address, valid token: served.
  Response good = client_->request("GET", "/v1/sessions/current", {}, bearer_headers(token));
  EXPECT_EQ(good.status, 200) << good.describe();
  // The master password is throttled separately.
  EXPECT_EQ(master("GET", "/v1/agents").status, 200);
}

// A flood of bad tokens writes a bounded number of audit rows whose counts add up to the flood,
// and shutdown writes the minute still open.
TEST_F(NoProxyTest, FloodOfBadTokensIsAuditedAsAFewRowsThatCountEveryOne) {
  constexpr int kConnections = 4;
  constexpr int kEach = 10;  // past the fifth, each is answered 250 ms late
  constexpr int kFlood = kConnections * kEach;
  const auto rs = concurrently(warden_->port(), kConnections, [](HttpClient& c, int i) {
    Response last;
    for (int n = 0; n < kEach; ++n) {
      last = c.request("POST", "/v1/transactions", R"({"type":"TRANSFER","amount":"1"})",
                       bearer_headers("wdn_bad-" + std::to_string(i * kEach + n)));
      if (last.status != 401 && last.status != 429) return last;
    }
    return last;
  });
  for (const auto& r : rs) EXPECT_EQ(r.status, 429) << r.describe();

  warden_->sigterm();
  ASSERT_EQ(warden_->wait_exit(kStartTimeoutMs), std::optional<int>(0));
  ASSERT_TRUE(warden_->restart()) << warden_->error();
  client_ = std::make_unique<HttpClient>(warden_->port());
  auto rows = audit_all(*client_, "event_type=AUTH_FAILED");
  ASSERT_TRUE(rows.has_value());
  std::int64_t sum = 0;
  int aggregated = 0;
  for (const auto& row : *rows) {
    EXPECT_EQ(str_at(row, "ip_address"), "127.0.0.1");
    EXPECT_EQ(details_str(row, "kind"), "session");
    sum += details_count(row);
    const json::value* details = at(row, "details");
    if (details && at(*details, "aggregated")) {
      ++aggregated;
      EXPECT_TRUE(str_at(row, "correlation_id").empty());
    } else {
      EXPECT_FALSE(str_at(row, "correlation_id").empty()) << json::serialize(row);
    }
  }
  EXPECT_EQ(sum, kFlood);
  // 5 rows of their own and one aggregate per minute; the flood may straddle a minute.
  EXPECT_GE(aggregated, 1);
  EXPECT_LE(rows->size(), 2u * (5u + 1u));
}

// --- Argon2id off the I/O thread ------------------------------------------------------------

class Argon2Test : public WardenTest {
 protected:
  std::vector<std::string> serve_flags() const override {
    return {"--threads", "1", "--auth-failures-max", "1000"};
  }
};

// With one I/O thread, a queue of wrong passwords that each need Argon2id (no login yet) does
// not hold up /healthz: it is answered before most of them.
TEST_F(Argon2Test, HealthzIsAnsweredWhileWrongPasswordsAreVerified) {
  constexpr int kGuesses = 32;
  std::mutex mu;
  std::vector<Clock::time_point> answered_at;
  std::atomic<int> refused{0};
  std::vector<std::thread> guessers;
  for (int i = 0; i < kGuesses; ++i) {
    guessers.emplace_back([&, i] {
      HttpClient c(warden_->port());
      Response r = c.request("GET", "/v1/agents", {},
                             {{"X-Master-Password", "guess-" + std::to_string(i)}});
      if (r.status == 401) ++refused;
      std::lock_guard lock(mu);
      answered_at.push_back(Clock::now());
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the guesses are queued
  HttpClient probe(warden_->port());
  Response health = probe.request("GET", "/healthz");
  const auto health_at = Clock::now();
  for (auto& t : guessers) t.join();
  ASSERT_EQ(health.status, 200) << health.describe();
  EXPECT_EQ(refused.load(), kGuesses);
  const auto before_health = std::count_if(answered_at.begin(), answered_at.end(),
                                           [&](Clock::time_point t) { return t < health_at; });
  EXPECT_LT(before_health, kGuesses / 2)
      << "/healthz waited for the Argon2id checks (" << before_health << " of " << kGuesses
      << " answered before it)";
}

}  // namespace
}  // namespace warden::testing
