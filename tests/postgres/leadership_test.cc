// The sweepers' leadership lock against the server the postgres_server fixture starts: two
// replicas' PgLeadership objects on one database, the leader's session killed or closed. Each
// test case has its own database (advisory locks are per database), so cases may run in
// parallel.
#include "store/postgres/leadership.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "store/postgres/pg.h"
#include "test_env.h"

namespace warden::store::postgres {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr auto kTakeoverMax = std::chrono::seconds(3);
constexpr auto kSampleEvery = milliseconds(10);
constexpr auto kSampleFor = std::chrono::seconds(2);

// Polls `done` until it holds or `limit` passes; true when it held.
bool within(Clock::duration limit, const std::function<bool()>& done) {
  const auto end = Clock::now() + limit;
  while (Clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(kSampleEvery);
  }
  return done();
}

// Samples both every 10 ms for 2 s: how many samples saw both leading, and how many saw none.
struct Samples {
  int both = 0;
  int none = 0;
  int taken = 0;
};
Samples sample(const PgLeadership& a, const PgLeadership& b) {
  Samples s;
  const auto end = Clock::now() + kSampleFor;
  while (Clock::now() < end) {
    const bool la = a.leading();
    const bool lb = b.leading();
    s.both += la && lb;
    s.none += !la && !lb;
    ++s.taken;
    std::this_thread::sleep_for(kSampleEvery);
  }
  return s;
}

class LeadershipTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (server_env().empty()) {
      GTEST_FAIL() << "WARDEN_PG_TEST_ENV names no server file: run through ctest, whose "
                      "postgres_server fixture starts the server";
    }
  }
};

TEST_F(LeadershipTest, ExactlyOneLeadsAndTheOtherTakesOverWhenTheLeadersSessionIsKilled) {
  const std::string db = "t_leader_kill";
  auto a = std::make_unique<PgLeadership>(test_config("app", db));
  auto b = std::make_unique<PgLeadership>(test_config("app", db));
  ASSERT_TRUE(within(kTakeoverMax, [&] { return a->leading() || b->leading(); }));
  ASSERT_TRUE(within(kTakeoverMax, [&] { return a->backend_pid() != 0 && b->backend_pid() != 0; }));
  Samples steady = sample(*a, *b);
  EXPECT_EQ(steady.both, 0);
  EXPECT_EQ(steady.none, 0);
  EXPECT_GT(steady.taken, 100);

  PgLeadership* leader = a->leading() ? a.get() : b.get();
  PgLeadership* follower = leader == a.get() ? b.get() : a.get();
  EXPECT_FALSE(follower->leading());
  const int killed_pid = leader->backend_pid();
  ASSERT_NE(killed_pid, 0);
  auto killer = Connection::connect(test_config("app", db));
  ASSERT_TRUE(killer.ok()) << killer.status().to_string();
  auto killed = (*killer)->exec("SELECT pg_terminate_backend($1)", {std::to_string(killed_pid)});
  ASSERT_TRUE(killed.ok()) << killed.status().to_string();
  ASSERT_EQ(killed->text(0, 0), "t");

  // Never both while the lock moves: the old leader drops out at its next check, before or
  // after the follower gets the lock that the ended session released.
  const auto killed_at = Clock::now();
  bool both_seen = false;
  const bool took_over = within(kTakeoverMax, [&] {
    both_seen = both_seen || (leader->leading() && follower->leading());
    return follower->leading();
  });
  ASSERT_TRUE(took_over) << "no takeover within 3 s";
  EXPECT_FALSE(both_seen);
  EXPECT_LT(Clock::now() - killed_at, kTakeoverMax);

  // The old leader reconnects with a new session and follows.
  ASSERT_TRUE(within(kTakeoverMax, [&] {
    return leader->backend_pid() != 0 && leader->backend_pid() != killed_pid;
  }));
  Samples after = sample(*a, *b);
  EXPECT_EQ(after.both, 0);
  EXPECT_EQ(after.none, 0);
  EXPECT_TRUE(follower->leading());
  EXPECT_FALSE(leader->leading());
}

TEST_F(LeadershipTest, ClosingTheLeaderHandsTheLockOver) {
  const std::string db = "t_leader_close";
  auto a = std::make_unique<PgLeadership>(test_config("app", db));
  ASSERT_TRUE(within(kTakeoverMax, [&] { return a->leading(); }));
  auto b = std::make_unique<PgLeadership>(test_config("app", db));
  ASSERT_TRUE(within(kTakeoverMax, [&] { return b->backend_pid() != 0; }));
  Samples steady = sample(*a, *b);
  EXPECT_EQ(steady.both, 0);
  EXPECT_EQ(steady.none, 0);
  EXPECT_TRUE(a->leading());
  EXPECT_FALSE(b->leading());

  const auto closed_at = Clock::now();
  a.reset();
  ASSERT_TRUE(within(kTakeoverMax, [&] { return b->leading(); })) << "no takeover within 3 s";
  EXPECT_LT(Clock::now() - closed_at, kTakeoverMax);

  // A newcomer follows the new leader.
  auto c = std::make_unique<PgLeadership>(test_config("app", db));
  ASSERT_TRUE(within(kTakeoverMax, [&] { return c->backend_pid() != 0; }));
  Samples after = sample(*b, *c);
  EXPECT_EQ(after.both, 0);
  EXPECT_EQ(after.none, 0);
  EXPECT_TRUE(b->leading());
}

TEST_F(LeadershipTest, NoServerMeansNotLeading) {
  ConnectionConfig nowhere = test_config("app", "t_leader_close");
  // A loopback port nothing listens on: the connection is refused at once.
  nowhere.url = "postgresql://warden@127.0.0.1:1/t_leader_close";
  PgLeadership lonely(nowhere, 50);
  std::this_thread::sleep_for(milliseconds(500));
  EXPECT_FALSE(lonely.leading());
  EXPECT_EQ(lonely.backend_pid(), 0);
}

}  // namespace
}  // namespace warden::store::postgres
