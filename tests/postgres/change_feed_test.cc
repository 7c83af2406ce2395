// The LISTEN/NOTIFY change feed between replicas (docs/cluster.md, "Changes reach every
// replica") against the server the postgres_server fixture starts: two feeds on one database
// stand for two replicas.
#include "store/postgres/change_feed.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "store/postgres/pg.h"
#include "test_env.h"

namespace warden::store::postgres {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// What a subscriber received, in order, with a wait for the next one.
class Inbox {
 public:
  ChangeCallback callback() {
    return [this](const Change& c) {
      std::lock_guard lock(mu_);
      changes_.push_back(c);
      cv_.notify_all();
    };
  }
  // The changes once there are at least n, or what there is after `limit`.
  std::vector<Change> wait_for(std::size_t n, milliseconds limit = milliseconds(1000)) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, limit, [&] { return changes_.size() >= n; });
    return changes_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Change> changes_;
};

class ChangeFeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (server_env().empty()) {
      GTEST_FAIL() << "WARDEN_PG_TEST_ENV names no server file: run through ctest, whose "
                      "postgres_server fixture starts the server";
    }
  }
};

TEST_F(ChangeFeedTest, APublishReachesTheOtherReplicaWithinOneSecond) {
  // The daemon's own role is enough: LISTEN and pg_notify need no grant.
  PgChangeFeed a(test_config("app", "t_feed_notify"));
  PgChangeFeed b(test_config("app", "t_feed_notify"));
  Inbox b_sessions, b_policies, a_sessions;
  b.subscribe(FeedTopic::kSessions, b_sessions.callback());
  b.subscribe(FeedTopic::kPolicies, b_policies.callback());
  a.subscribe(FeedTopic::kSessions, a_sessions.callback());
  ASSERT_TRUE(a.start().ok());
  ASSERT_TRUE(b.start().ok());
  EXPECT_NE(a.origin(), b.origin());

  const auto sent = Clock::now();
  ASSERT_TRUE(a.publish(FeedTopic::kSessions, "0190f3b2-7c1e-7a00-8000-000000000001").ok());
  std::vector<Change> got = b_sessions.wait_for(1);
  const auto took = Clock::now() - sent;
  ASSERT_EQ(got.size(), 1u);
  EXPECT_LT(took, milliseconds(1000));
  EXPECT_EQ(got[0].topic, FeedTopic::kSessions);
  EXPECT_EQ(got[0].payload, "0190f3b2-7c1e-7a00-8000-000000000001");
  EXPECT_FALSE(got[0].own);
  EXPECT_FALSE(got[0].resync);

  // The publisher hears its own notification too, marked as its own.
  std::vector<Change> own = a_sessions.wait_for(1);
  ASSERT_EQ(own.size(), 1u);
  EXPECT_TRUE(own[0].own);
  EXPECT_EQ(own[0].payload, "0190f3b2-7c1e-7a00-8000-000000000001");

  // Topics stay apart: a policy change reaches only the policies subscribers.
  ASSERT_TRUE(b.publish(FeedTopic::kPolicies, "").ok());
  std::vector<Change> policies = b_policies.wait_for(1);
  ASSERT_EQ(policies.size(), 1u);
  EXPECT_EQ(policies[0].payload, "");
  EXPECT_TRUE(policies[0].own);
  EXPECT_EQ(b_sessions.wait_for(2, milliseconds(200)).size(), 1u);
  EXPECT_EQ(a.reconnects(), 0);
}

TEST_F(ChangeFeedTest, APayloadTooLargeIsRefused) {
  PgChangeFeed a(test_config("app", "t_feed_large"));
  Inbox inbox;
  a.subscribe(FeedTopic::kSessions, inbox.callback());
  ASSERT_TRUE(a.start().ok());
  Status refused = a.publish(FeedTopic::kSessions, std::string(kMaxChangePayloadBytes + 1, 's'));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.code(), ErrorCode::VALIDATION_INVALID_VALUE);
  EXPECT_EQ(refused.message(), "change payload of 257 bytes: at most 256 bytes");
  Status control = a.publish(FeedTopic::kSessions, "s\n1");
  ASSERT_FALSE(control.ok());
  EXPECT_EQ(control.code(), ErrorCode::VALIDATION_INVALID_VALUE);
  EXPECT_TRUE(inbox.wait_for(1, milliseconds(300)).empty());
  // The largest allowed payload goes through whole.
  const std::string largest(kMaxChangePayloadBytes, 's');
  ASSERT_TRUE(a.publish(FeedTopic::kSessions, largest).ok());
  std::vector<Change> got = inbox.wait_for(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, largest);
}

TEST_F(ChangeFeedTest, AListenerWhoseBackendIsKilledReconnectsAndResyncs) {
  // Owner-role connections, so the owner may terminate the listener's backend.
  PgChangeFeed a(test_config("owner", "t_feed_resync"));
  PgChangeFeed b(test_config("owner", "t_feed_resync"));
  Inbox b_policies, b_sessions;
  b.subscribe(FeedTopic::kPolicies, b_policies.callback());
  b.subscribe(FeedTopic::kSessions, b_sessions.callback());
  ASSERT_TRUE(a.start().ok());
  ASSERT_TRUE(b.start().ok());
  const int old_pid = b.listener_pid();
  ASSERT_GT(old_pid, 0);

  auto admin = Connection::connect(test_config("owner", "t_feed_resync"));
  ASSERT_TRUE(admin.ok()) << admin.status().to_string();
  auto killed = (*admin)->exec("SELECT pg_terminate_backend($1)", {std::to_string(old_pid)});
  ASSERT_TRUE(killed.ok()) << killed.status().to_string();
  EXPECT_EQ(killed->text(0, 0), "t");

  // Every topic's subscribers get one resync once the listener is back.
  std::vector<Change> policies = b_policies.wait_for(1, milliseconds(3000));
  std::vector<Change> sessions = b_sessions.wait_for(1, milliseconds(3000));
  ASSERT_EQ(policies.size(), 1u);
  ASSERT_EQ(sessions.size(), 1u);
  EXPECT_TRUE(policies[0].resync);
  EXPECT_TRUE(sessions[0].resync);
  EXPECT_EQ(sessions[0].payload, "");
  EXPECT_EQ(b.reconnects(), 1);
  EXPECT_GT(b.listener_pid(), 0);
  EXPECT_NE(b.listener_pid(), old_pid);

  // Later publishes arrive as before.
  ASSERT_TRUE(a.publish(FeedTopic::kSessions, "s-after").ok());
  sessions = b_sessions.wait_for(2);
  ASSERT_EQ(sessions.size(), 2u);
  EXPECT_FALSE(sessions[1].resync);
  EXPECT_EQ(sessions[1].payload, "s-after");
}

TEST_F(ChangeFeedTest, StopReturnsWithinOneSecondAndNothingRunsAfter) {
  PgChangeFeed a(test_config("app", "t_feed_stop"));
  PgChangeFeed b(test_config("app", "t_feed_stop"));
  Inbox inbox;
  b.subscribe(FeedTopic::kPolicies, inbox.callback());
  ASSERT_TRUE(a.start().ok());
  ASSERT_TRUE(b.start().ok());
  ASSERT_TRUE(a.publish(FeedTopic::kPolicies, "").ok());
  ASSERT_EQ(inbox.wait_for(1).size(), 1u);

  const auto begin = Clock::now();
  b.stop();
  EXPECT_LT(Clock::now() - begin, milliseconds(1000));
  EXPECT_EQ(b.listener_pid(), 0);
  ASSERT_TRUE(a.publish(FeedTopic::kPolicies, "").ok());
  EXPECT_EQ(inbox.wait_for(2, milliseconds(300)).size(), 1u);
}

TEST_F(ChangeFeedTest, StartFailsClearlyWhenTheServerRefuses) {
  ConnectionConfig wrong = test_config("app", "t_feed_stop");
  wrong.password = "not-the-password";
  PgChangeFeed feed(wrong);
  Status refused = feed.start();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.code(), ErrorCode::INTERNAL_STORE_ERROR);
  EXPECT_NE(refused.message().find("change feed: cannot connect"), std::string::npos)
      << refused.message();
  EXPECT_EQ(refused.message().find("not-the-password"), std::string::npos);
}

}  // namespace
}  // namespace warden::store::postgres
