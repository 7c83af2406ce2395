#include "server/auth.h"

#include <gtest/gtest.h>

namespace warden::server {
namespace {

TEST(MasterVerifier, AcceptsOnlyTheHashedPassword) {
  auto hash = hash_master_password("correct horse");
  ASSERT_TRUE(hash.ok());
  EXPECT_EQ(hash->rfind("$argon2id$", 0), 0u);
  MasterVerifier v(*hash);
  EXPECT_FALSE(v.verify("wrong"));
  EXPECT_TRUE(v.verify("correct horse"));
  // After the first success the cached digest answers; it must still refuse others.
  EXPECT_TRUE(v.verify("correct horse"));
  EXPECT_FALSE(v.verify("correct horse "));
  EXPECT_FALSE(v.verify(""));
}

TEST(MasterVerifier, EmptyPasswordCannotBeHashed) {
  EXPECT_EQ(hash_master_password("").status().code(), ErrorCode::CONFIG_INVALID);
}

TEST(FailureThrottle, BlocksAfterMaxFailuresUntilWindowPasses) {
  FakeClock clock;
  FailureThrottle t(clock, 3, 60);
  EXPECT_EQ(t.retry_after_seconds("1.2.3.4"), 0);
  t.record_failure("1.2.3.4");
  t.record_failure("1.2.3.4");
  EXPECT_EQ(t.retry_after_seconds("1.2.3.4"), 0);
  clock.advance_ms(10'000);
  t.record_failure("1.2.3.4");
  EXPECT_EQ(t.retry_after_seconds("1.2.3.4"), 50);  // the first failure leaves the window at 60 s
  EXPECT_EQ(t.retry_after_seconds("5.6.7.8"), 0);   // other addresses are unaffected
  clock.advance_ms(50'000);
  EXPECT_EQ(t.retry_after_seconds("1.2.3.4"), 0);
}

TEST(SessionToken, IsRandomPrefixedAndHashed) {
  const std::string a = generate_session_token();
  const std::string b = generate_session_token();
  EXPECT_EQ(a.rfind("wdn_", 0), 0u);
  EXPECT_EQ(a.size(), 4u + 43u);
  EXPECT_NE(a, b);
  EXPECT_EQ(token_hash(a).size(), 64u);
  EXPECT_NE(token_hash(a), token_hash(b));
}

}  // namespace
}  // namespace warden::server

namespace warden::server {
namespace {

TEST(SessionCache, ExpiresAndInvalidates) {
  FakeClock clock;
  SessionCache cache(clock, 1000);
  store::SessionRow s;
  s.id = "s1";
  s.agent_id = "a1";
  store::AgentRow a;
  a.id = "a1";
  cache.put("h1", s, a);
  ASSERT_TRUE(cache.find("h1").has_value());
  EXPECT_EQ(cache.find("h1")->session.id, "s1");
  clock.advance_ms(1000);
  EXPECT_FALSE(cache.find("h1").has_value());  // older than the TTL
  cache.put("h1", s, a);
  cache.invalidate_session("s1");
  EXPECT_FALSE(cache.find("h1").has_value());
  cache.put("h1", s, a);
  cache.invalidate_agent("a1");
  EXPECT_FALSE(cache.find("h1").has_value());
  EXPECT_FALSE(cache.find("unknown").has_value());
}

}  // namespace
}  // namespace warden::server
