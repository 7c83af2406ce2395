// 64 client threads, each on its own keep-alive connection, against one agent's window max:
// the window is never exceeded, every request is answered ALLOW or DENY, the rows and the audit
// log agree, the chain verifies, and the engine's total equals the recomputation from rows.
#include <gtest/gtest.h>

#include <iostream>

#include "decision_fixture.h"

namespace warden::testing {
namespace {

constexpr int kThreads = 64;
constexpr int kRequestsPerThread = 500;
// Amounts 1..1000 average ~500, so 64 x 500 requests ask for ~16e6: a max of 8e6 makes about
// half of them DENY, and the window is filled to (nearly) the last unit.
constexpr std::uint64_t kAmountMax = 1000;
constexpr std::uint64_t kWindowMax = 8'000'000;
// With settlements mixed in, an ALLOW keeps ~250 on average (a third confirmed at half on
// average, a third left reserved, a third released): 4e6 still fills the window.
constexpr std::uint64_t kSettledWindowMax = 4'000'000;

using ConcurrencyTest = DecisionTest;

TEST_F(ConcurrencyTest, WindowMaxHoldsUnderConcurrentReservations) {
  ASSERT_NO_FATAL_FAILURE(set_up_window(kWindowMax));
  LoadOptions options;
  options.threads = kThreads;
  options.requests_per_thread = kRequestsPerThread;
  options.amount_max = kAmountMax;
  const LoadReport report = run_load(warden_->port(), agent_.token, options);
  std::cerr << "load: " << report.acks.size() << " decisions in " << report.seconds << " s ("
            << report.allows << " ALLOW, " << report.denies << " DENY)\n";
  expect_clean(report);
  EXPECT_EQ(report.allows + report.denies, kThreads * kRequestsPerThread);
  EXPECT_GT(report.denies, 0) << "the window never filled: the test proves nothing";

  std::uint64_t allowed_sum = 0;
  for (const auto& a : report.acks) allowed_sum += a.allowed ? a.amount : 0;
  EXPECT_LE(allowed_sum, kWindowMax);
  ASSERT_NO_FATAL_FAILURE(expect_id_order_replay_within_max(report));

  const std::uint64_t total = check_database(report.acks);
  EXPECT_EQ(total, allowed_sum) << "rows disagree with the acknowledged ALLOWs";
  expect_engine_total(*client_, total);
}

TEST_F(ConcurrencyTest, WindowTotalMatchesRowsWithConfirmFailCancelMixedIn) {
  ASSERT_NO_FATAL_FAILURE(set_up_window(kSettledWindowMax));
  LoadOptions options;
  options.threads = kThreads;
  options.requests_per_thread = kRequestsPerThread;
  options.amount_max = kAmountMax;
  options.settle = true;
  options.settlement_token = agent_.settlement_token;
  options.seed = 777;
  const LoadReport report = run_load(warden_->port(), agent_.token, options);
  std::cerr << "load: " << report.acks.size() << " decisions + " << report.settle_requests
            << " settlements in " << report.seconds << " s (" << report.allows << " ALLOW, "
            << report.denies << " DENY)\n";
  expect_clean(report);
  EXPECT_EQ(report.allows + report.denies, kThreads * kRequestsPerThread);
  EXPECT_GT(report.settle_requests, 0);
  EXPECT_GT(report.denies, 0) << "the window never filled: the test proves nothing";

  const std::uint64_t total = check_database(report.acks);
  // Every final amount was checked against its answer inside the load; the client's own view
  // of the window must equal the rows'.
  std::uint64_t client_total = 0;
  for (const auto& a : report.acks) {
    if (a.status == "PENDING") client_total += a.amount;
    if (a.status == "CONFIRMED") client_total += a.final_amount;
  }
  EXPECT_EQ(client_total, total) << "rows disagree with the acknowledged answers";
  expect_engine_total(*client_, total);
}

}  // namespace
}  // namespace warden::testing
