// Reservation TTL over HTTP (`serve --reservation-ttl-seconds 3`): an unsettled reservation
// becomes EXPIRED and is released, alone and under the concurrent load with confirm / fail /
// cancel mixed in.
#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <thread>

#include "decision_fixture.h"

namespace warden::testing {
namespace {

// Expiry has 1 s resolution, so a reservation may expire after TTL - 1 s: 3 s leaves the
// load's settlements (answered within milliseconds) a 2 s margin.
constexpr int kTtlSeconds = 3;
// The sweeper runs every 250 ms and expiry has 1 s resolution: TTL + 3 s is plenty.
constexpr int kExpiryBoundMs = (kTtlSeconds + 3) * 1000;
constexpr int kPollMs = 200;

class ExpiryTest : public DecisionTest {
 protected:
  std::vector<std::string> serve_flags() const override {
    return {"--reservation-ttl-seconds", std::to_string(kTtlSeconds)};
  }

  // Waits (bounded) until no row of the load agent is PENDING; returns whether it happened.
  bool wait_no_pending(int bound_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(bound_ms);
    for (;;) {
      DbSnapshot db = read_database(warden_->database_path(), agent_.id);
      bool pending = !db.error.empty();
      for (const auto& r : db.transactions) pending = pending || r.status == "PENDING";
      if (!pending) return true;
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(kPollMs));
    }
  }
};

TEST_F(ExpiryTest, UnsettledReservationExpiresAndIsReleased) {
  ASSERT_NO_FATAL_FAILURE(set_up_window(1000));
  Response r = post_transfer(*client_, agent_.token, "1000");
  ASSERT_EQ(r.status, 201) << r.describe();
  const std::string id = str_at(r.json(), "id");
  EXPECT_EQ(str_at(r.json(), "status"), "PENDING");
  EXPECT_EQ(str_at(post_transfer(*client_, agent_.token, "1").json(), "effect"), "DENY");

  ASSERT_TRUE(wait_no_pending(kExpiryBoundMs)) << "still PENDING after the TTL";
  Response got = agent_request(*client_, agent_.token, "GET", "/v1/transactions/" + id);
  EXPECT_EQ(str_at(got.json(), "status"), "EXPIRED") << got.body;
  EXPECT_EQ(field(got.json(), "executable"), boost::json::value(false));
  // Released: the whole window is free again.
  Response whole = post_transfer(*client_, agent_.token, "1000");
  EXPECT_EQ(str_at(whole.json(), "effect"), "ALLOW") << whole.body;
  // The expired one was spent after all: its late confirm counts, even past the max.
  Response confirm =
      agent_request(*client_, agent_.token, "POST", "/v1/transactions/" + id + "/confirm");
  ASSERT_EQ(confirm.status, 200) << confirm.describe();
  EXPECT_EQ(str_at(confirm.json(), "status"), "CONFIRMED");
  EXPECT_EQ(str_at(confirm.json(), "final_amount"), "1000");
  EXPECT_EQ(str_at(post_transfer(*client_, agent_.token, "1").json(), "effect"), "DENY");
  Response metrics = client_->request("GET", "/metrics");
  EXPECT_NE(metrics.body.find("warden_late_settlements_total 1"), std::string::npos)
      << metrics.body;
}

TEST_F(ExpiryTest, WindowTotalMatchesRowsWithExpiryMixedIn) {
  // Fewer requests than the other load tests: the point is expiry racing settlements, and
  // every left-open reservation must expire within the test.
  constexpr int kThreads = 64;
  constexpr int kRequestsPerThread = 100;
  constexpr std::uint64_t kWindowMax = 600'000;
  ASSERT_NO_FATAL_FAILURE(set_up_window(kWindowMax));
  LoadOptions options;
  options.threads = kThreads;
  options.requests_per_thread = kRequestsPerThread;
  options.settle = true;
  options.settlement_token = agent_.settlement_token;
  options.seed = 99;
  LoadReport report = run_load(warden_->port(), agent_.token, options);
  std::cerr << "load: " << report.acks.size() << " decisions + " << report.settle_requests
            << " settlements in " << report.seconds << " s (" << report.allows << " ALLOW, "
            << report.denies << " DENY)\n";
  expect_clean(report);
  EXPECT_EQ(report.allows + report.denies, kThreads * kRequestsPerThread);
  EXPECT_GT(report.denies, 0) << "the window never filled: the test proves nothing";

  ASSERT_TRUE(wait_no_pending(kExpiryBoundMs)) << "open reservations did not expire";
  std::uint64_t confirmed = 0;
  int expired = 0;
  for (auto& a : report.acks) {
    if (a.status == "PENDING") {
      a.status = "EXPIRED";
      ++expired;
    }
    if (a.status == "CONFIRMED") confirmed += a.final_amount;
  }
  EXPECT_GT(expired, 0);
  const std::uint64_t total = check_database(report.acks);
  EXPECT_EQ(total, confirmed) << "after expiry only confirmed spend counts";
  expect_engine_total(*client_, total);
}

}  // namespace
}  // namespace warden::testing
