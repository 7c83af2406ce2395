#include "store/change_feed.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace warden::store {
namespace {

TEST(LocalChangeFeed, DeliversToTheTopicsSubscribersBeforePublishReturns) {
  LocalChangeFeed feed;
  std::vector<std::string> seen;
  const std::thread::id publisher = std::this_thread::get_id();
  bool same_thread = true;
  feed.subscribe(FeedTopic::kSessions, [&](const Change& c) {
    EXPECT_EQ(c.topic, FeedTopic::kSessions);
    EXPECT_TRUE(c.own);
    EXPECT_FALSE(c.resync);
    same_thread = same_thread && std::this_thread::get_id() == publisher;
    seen.push_back("a:" + c.payload);
  });
  feed.subscribe(FeedTopic::kSessions, [&](const Change& c) { seen.push_back("b:" + c.payload); });
  feed.subscribe(FeedTopic::kPolicies, [&](const Change& c) { seen.push_back("p:" + c.payload); });

  ASSERT_TRUE(feed.publish(FeedTopic::kSessions, "s-1").ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"a:s-1", "b:s-1"}));
  ASSERT_TRUE(feed.publish(FeedTopic::kPolicies, "").ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"a:s-1", "b:s-1", "p:"}));
  EXPECT_TRUE(same_thread);
}

TEST(LocalChangeFeed, RefusesPayloadsTooLargeOrNotPrintable) {
  LocalChangeFeed feed;
  int calls = 0;
  feed.subscribe(FeedTopic::kSessions, [&](const Change&) { ++calls; });
  Status big = feed.publish(FeedTopic::kSessions, std::string(kMaxChangePayloadBytes + 1, 'x'));
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.code(), ErrorCode::VALIDATION_INVALID_VALUE);
  EXPECT_NE(big.message().find("at most 256 bytes"), std::string::npos) << big.message();
  EXPECT_FALSE(feed.publish(FeedTopic::kSessions, "a\nb").ok());
  EXPECT_FALSE(feed.publish(FeedTopic::kSessions, "caf\xc3\xa9").ok());
  EXPECT_EQ(calls, 0);
  EXPECT_TRUE(feed.publish(FeedTopic::kSessions, std::string(kMaxChangePayloadBytes, 'x')).ok());
  EXPECT_EQ(calls, 1);
}

TEST(LocalChangeFeed, ACallbackMaySubscribeWithoutDeadlock) {
  LocalChangeFeed feed;
  int late = 0;
  feed.subscribe(FeedTopic::kPolicies, [&](const Change&) {
    feed.subscribe(FeedTopic::kPolicies, [&](const Change&) { ++late; });
  });
  ASSERT_TRUE(feed.publish(FeedTopic::kPolicies, "").ok());
  EXPECT_EQ(late, 0);  // added during the delivery: from the next change on
  ASSERT_TRUE(feed.publish(FeedTopic::kPolicies, "").ok());
  EXPECT_EQ(late, 1);
}

TEST(ChangeFeed, TopicNames) {
  EXPECT_EQ(topic_name(FeedTopic::kPolicies), "policies");
  EXPECT_EQ(topic_name(FeedTopic::kSessions), "sessions");
}

}  // namespace
}  // namespace warden::store
