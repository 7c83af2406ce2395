// Suppression, idempotency and threshold windows driven by explicit times (the engine passes
// its Clock's now; engine_test drives the same through a FakeClock).
#include "automation/windows.h"

#include <gtest/gtest.h>

namespace warden::automation {
namespace {

constexpr std::int64_t kT0 = 1'767'225'600'000;
constexpr std::int64_t kMinute = 60'000;

TEST(WindowBookTest, SuppressionAdmitsOneFiringPerTargetPerWindow) {
  WindowBook w;
  EXPECT_TRUE(w.admit("au1", "files", "t1", "f1", 5 * kMinute, kT0));
  // The same firing's second action on the target goes through.
  EXPECT_TRUE(w.admit("au1", "files", "t1", "f1", 5 * kMinute, kT0 + 1));
  // Another firing within the window is suppressed; other targets and automations are not.
  EXPECT_FALSE(w.admit("au1", "files", "t1", "f2", 5 * kMinute, kT0 + 5 * kMinute - 1));
  EXPECT_TRUE(w.admit("au1", "files", "t2", "f2", 5 * kMinute, kT0 + kMinute));
  EXPECT_TRUE(w.admit("au2", "files", "t1", "f9", 5 * kMinute, kT0 + kMinute));
  // A suppressed firing does not extend the window: at its end the next one runs.
  EXPECT_TRUE(w.admit("au1", "files", "t1", "f3", 5 * kMinute, kT0 + 5 * kMinute));
  EXPECT_FALSE(w.admit("au1", "files", "t1", "f4", 5 * kMinute, kT0 + 6 * kMinute));
  // No window: never suppressed.
  EXPECT_TRUE(w.admit("au3", "files", "t1", "a", 0, kT0));
  EXPECT_TRUE(w.admit("au3", "files", "t1", "b", 0, kT0));
  w.forget("au1");
  EXPECT_TRUE(w.admit("au1", "files", "t1", "f5", 5 * kMinute, kT0 + 6 * kMinute));
}

TEST(WindowBookTest, IdempotencyRemembersAKeyForItsWindow) {
  WindowBook w;
  EXPECT_FALSE(w.duplicate("k", kT0));
  w.executed("k", 60 * kMinute, kT0);
  EXPECT_TRUE(w.duplicate("k", kT0 + 60 * kMinute - 1));
  EXPECT_FALSE(w.duplicate("other", kT0 + 1));
  EXPECT_FALSE(w.duplicate("k", kT0 + 60 * kMinute));
  w.executed("z", 0, kT0);  // no window: not remembered
  EXPECT_FALSE(w.duplicate("z", kT0));
}

TEST(ThresholdBookTest, CountFiresOncePerCrossingAndReArms) {
  ThresholdBook b;
  const std::int64_t window = 10 * kMinute;
  // above 2: the third event in the window crosses.
  EXPECT_FALSE(b.add("g", 1, window, 2, kT0));
  EXPECT_FALSE(b.add("g", 1, window, 2, kT0 + kMinute));
  EXPECT_TRUE(b.add("g", 1, window, 2, kT0 + 2 * kMinute));
  EXPECT_FALSE(b.add("g", 1, window, 2, kT0 + 3 * kMinute));  // still above: no second firing
  EXPECT_DOUBLE_EQ(b.total("g", window, kT0 + 3 * kMinute), 4);
  // Ten minutes after the first two, the total is 2 (at or below): armed again.
  EXPECT_DOUBLE_EQ(b.total("g", window, kT0 + 11 * kMinute), 2);
  EXPECT_TRUE(b.add("g", 1, window, 2, kT0 + 11 * kMinute));
  // Groups are independent.
  EXPECT_FALSE(b.add("other", 1, window, 2, kT0 + 11 * kMinute));
}

TEST(ThresholdBookTest, SumCrossesOnTheAmount) {
  ThresholdBook b;
  const std::int64_t hour = 60 * kMinute;
  EXPECT_FALSE(b.add("agent-1", 400, hour, 1000, kT0));
  EXPECT_FALSE(b.add("agent-1", 600, hour, 1000, kT0 + kMinute));  // 1000 is not above 1000
  EXPECT_TRUE(b.add("agent-1", 0.5, hour, 1000, kT0 + 2 * kMinute));
  b.forget_prefix("agent-");
  EXPECT_DOUBLE_EQ(b.total("agent-1", hour, kT0 + 2 * kMinute), 0);
}

}  // namespace
}  // namespace warden::automation
