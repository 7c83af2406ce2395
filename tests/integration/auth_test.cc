// Master-password auth, failure throttling, the error envelope, correlation ids and the
// Korean messages, against a real daemon.
#include <boost/json.hpp>
#include <chrono>
#include <regex>
#include <thread>

#include "support/fixture.h"

namespace warden::testing {
namespace {

namespace json = boost::json;

const std::regex kUuidV7("^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");

using AuthTest = WardenTest;

TEST_F(AuthTest, MissingMasterPasswordIs401AndSavesNothing) {
  Response r = client_->request("POST", "/v1/policies", spending_policy_body(1000));
  EXPECT_EQ(r.status, 401) << r.describe();
  EXPECT_EQ(r.error_code(), "AUTH_MASTER_REQUIRED");
  Response list = client_->request("GET", "/v1/policies");
  EXPECT_EQ(list.status, 401);
  EXPECT_EQ(list.error_code(), "AUTH_MASTER_REQUIRED");
  auto listed = list_all(*client_, "/v1/policies");
  ASSERT_TRUE(listed.has_value());
  EXPECT_TRUE(listed->empty());
}

TEST_F(AuthTest, WrongMasterPasswordIs401AndAudited) {
  Headers wrong = {{"X-Master-Password", "not-the-password"}};
  Response r = client_->request("POST", "/v1/agents", R"({"name":"intruder"})", wrong);
  EXPECT_EQ(r.status, 401) << r.describe();
  EXPECT_EQ(r.error_code(), "AUTH_MASTER_INVALID");
  Response empty = client_->request("GET", "/v1/agents", {}, {{"X-Master-Password", ""}});
  EXPECT_EQ(empty.status, 401) << empty.describe();

  auto agents = list_all(*client_, "/v1/agents");
  ASSERT_TRUE(agents.has_value());
  EXPECT_TRUE(agents->empty());
  auto failures = audit_all(*client_, "event_type=AUTH_FAILED");
  ASSERT_TRUE(failures.has_value());
  ASSERT_GE(failures->size(), 1u);
  EXPECT_EQ(str_at((*failures)[0], "event_type"), "AUTH_FAILED");
  EXPECT_EQ(str_at((*failures)[0], "correlation_id"), r.header("X-Correlation-Id"));
}

TEST_F(AuthTest, PublicRoutesNeedNoAuth) {
  for (const char* target : {"/healthz", "/readyz", "/metrics"}) {
    Response r = client_->request("GET", target);
    EXPECT_EQ(r.status, 200) << target << " " << r.describe();
  }
}

TEST_F(AuthTest, ErrorEnvelopeHasCodeMessageDetailsCorrelationId) {
  Response r = client_->request("GET", "/v1/policies");
  ASSERT_EQ(r.status, 401);
  json::value v = r.json();
  const json::value* err = at(v, "error");
  ASSERT_TRUE(err && err->is_object()) << r.body;
  EXPECT_EQ(str_at(*err, "code"), "AUTH_MASTER_REQUIRED");
  EXPECT_EQ(str_at(*err, "message"), "Master password required");
  ASSERT_NE(at(*err, "details"), nullptr) << r.body;
  EXPECT_TRUE(at(*err, "details")->is_object()) << r.body;
  EXPECT_EQ(str_at(*err, "correlation_id"), r.header("X-Correlation-Id"));
  EXPECT_NE(r.header("Content-Type").find("application/json"), std::string::npos);
}

TEST_F(AuthTest, KoreanMessageWithAcceptLanguage) {
  Response ko = client_->request("GET", "/v1/policies", {}, {{"Accept-Language", "ko"}});
  ASSERT_EQ(ko.status, 401);
  EXPECT_EQ(error_string(ko, "message"), "마스터 비밀번호가 필요합니다") << ko.body;
  EXPECT_EQ(ko.error_code(), "AUTH_MASTER_REQUIRED");  // codes are never translated

  Response ko_kr = master("GET", "/v1/policies/01900000-0000-7000-8000-000000000000", {},
                          {{"Accept-Language", "ko-KR,ko;q=0.9,en;q=0.5"}});
  ASSERT_EQ(ko_kr.status, 404);
  EXPECT_EQ(error_string(ko_kr, "message"), "정책을 찾을 수 없습니다") << ko_kr.body;

  Response en = client_->request("GET", "/v1/policies", {}, {{"Accept-Language", "en-US"}});
  EXPECT_EQ(error_string(en, "message"), "Master password required");
}

TEST_F(AuthTest, CorrelationIdIsEchoed) {
  const std::string id = "integ-corr-0001";
  Response ok = client_->request("GET", "/healthz", {}, {{"X-Correlation-Id", id}});
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.header("X-Correlation-Id"), id);
  Response err = client_->request("GET", "/v1/agents", {}, {{"X-Correlation-Id", id}});
  EXPECT_EQ(err.status, 401);
  EXPECT_EQ(err.header("X-Correlation-Id"), id);
  EXPECT_EQ(error_string(err, "correlation_id"), id) << err.body;
}

TEST_F(AuthTest, CorrelationIdIsGeneratedAsUuidV7) {
  Response a = client_->request("GET", "/healthz");
  Response b = client_->request("GET", "/v1/nope");
  const std::string id_a = a.header("X-Correlation-Id");
  const std::string id_b = b.header("X-Correlation-Id");
  EXPECT_TRUE(std::regex_match(id_a, kUuidV7)) << "'" << id_a << "'";
  EXPECT_TRUE(std::regex_match(id_b, kUuidV7)) << "'" << id_b << "'";
  EXPECT_NE(id_a, id_b);
  EXPECT_EQ(error_string(b, "correlation_id"), id_b) << b.body;
}

TEST_F(AuthTest, KeepAliveReusesOneConnection) {
  for (int i = 0; i < 5; ++i) ASSERT_EQ(client_->request("GET", "/healthz").status, 200);
  ASSERT_EQ(master("GET", "/v1/policies").status, 200);
  EXPECT_EQ(client_->connects(), 1);
}

TEST_F(AuthTest, DefaultThrottleIsFiveFailures) {
  constexpr int kDefaultFailuresMax = 5;
  Headers wrong = {{"X-Master-Password", "wrong"}};
  for (int i = 0; i < kDefaultFailuresMax; ++i) {
    Response r = client_->request("GET", "/v1/agents", {}, wrong);
    ASSERT_EQ(r.status, 401) << "attempt " << i << ": " << r.describe();
  }
  Response blocked = master("GET", "/v1/agents");
  EXPECT_EQ(blocked.status, 429) << blocked.describe();
  EXPECT_EQ(blocked.error_code(), "AUTH_TOO_MANY_ATTEMPTS");
  // The default window is 60 s.
  const int retry_after_s = std::atoi(blocked.header("Retry-After").c_str());
  EXPECT_GT(retry_after_s, 50) << blocked.header("Retry-After");
  EXPECT_LE(retry_after_s, 60) << blocked.header("Retry-After");
}

class ThrottleTest : public WardenTest {
 protected:
  static constexpr int kFailuresMax = 3;
  static constexpr int kWindowSeconds = 2;
  std::vector<std::string> serve_flags() const override {
    return {"--auth-failures-max", std::to_string(kFailuresMax), "--auth-failure-window-seconds",
            std::to_string(kWindowSeconds)};
  }
};

TEST_F(ThrottleTest, TooManyFailuresIs429UntilTheWindowPasses) {
  Headers wrong = {{"X-Master-Password", "wrong"}};
  for (int i = 0; i < kFailuresMax; ++i) {
    Response r = client_->request("GET", "/v1/agents", {}, wrong);
    ASSERT_EQ(r.status, 401) << "attempt " << i << ": " << r.describe();
    EXPECT_EQ(r.error_code(), "AUTH_MASTER_INVALID");
  }
  // Even the right password is refused while the address is throttled.
  Response blocked = master("GET", "/v1/agents");
  ASSERT_EQ(blocked.status, 429) << blocked.describe();
  EXPECT_EQ(blocked.error_code(), "AUTH_TOO_MANY_ATTEMPTS");
  ASSERT_TRUE(blocked.has_header("Retry-After"));
  EXPECT_FALSE(blocked.header("X-Correlation-Id").empty());
  const int retry_after_s = std::atoi(blocked.header("Retry-After").c_str());
  EXPECT_GE(retry_after_s, 1);
  EXPECT_LE(retry_after_s, kWindowSeconds);
  Response blocked_wrong = client_->request("GET", "/v1/agents", {}, wrong);
  EXPECT_EQ(blocked_wrong.status, 429) << blocked_wrong.describe();
  // Unauthenticated routes are not throttled.
  EXPECT_EQ(client_->request("GET", "/healthz").status, 200);

  // A whole window after the last failed attempt, every failure has aged out.
  std::this_thread::sleep_for(std::chrono::milliseconds(kWindowSeconds * 1000 + 500));
  Response after = master("GET", "/v1/agents");
  EXPECT_EQ(after.status, 200) << "still throttled after the window: " << after.describe();
}

}  // namespace
}  // namespace warden::testing
