// kill -9 during the concurrent load, restart on the same data dir: every acknowledged decision
// and settlement is there with its status, no reservation is counted twice, and the chain
// verifies.
#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <thread>

#include "decision_fixture.h"

namespace warden::testing {
namespace {

constexpr int kThreads = 64;
constexpr int kLoadBeforeKillMs = 1500;
constexpr std::uint64_t kAmountMax = 1000;
// Small enough that the window fills (and DENYs occur) before the kill.
constexpr std::uint64_t kWindowMax = 300'000;
constexpr int kExitTimeoutMs = 10000;

using CrashTest = DecisionTest;

TEST_F(CrashTest, Kill9MidLoadLosesNoAcknowledgedDecisionAndCountsNoReservationTwice) {
  ASSERT_NO_FATAL_FAILURE(set_up_window(kWindowMax));
  LoadOptions options;
  options.threads = kThreads;
  options.requests_per_thread = 1'000'000;  // runs until the kill
  options.amount_max = kAmountMax;
  options.settle = true;
  options.settlement_token = agent_.settlement_token;
  options.expect_transport_errors = true;
  options.deadline_ms = 30000;
  options.seed = 4242;

  LoadReport report;
  std::thread load([&] { report = run_load(warden_->port(), agent_.token, options); });
  std::this_thread::sleep_for(std::chrono::milliseconds(kLoadBeforeKillMs));
  warden_->kill9();
  const auto code = warden_->wait_exit(kExitTimeoutMs);
  load.join();
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 128 + 9);
  std::cerr << "before kill: " << report.acks.size() << " decisions, " << report.settle_requests
            << " settlements acknowledged or sent\n";
  expect_clean(report);
  ASSERT_GT(report.acks.size(), 0u) << "nothing acknowledged before the kill";
  EXPECT_GT(report.transport_errors, 0) << "the kill interrupted nothing";

  ASSERT_TRUE(warden_->restart()) << warden_->error();
  HttpClient again(warden_->port());
  int wrong = 0;
  for (const auto& a : report.acks) {
    Response got = agent_request(again, agent_.token, "GET", "/v1/transactions/" + a.id);
    const std::string status = str_at(got.json(), "status");
    const bool ok =
        got.status == 200 &&
        (status == a.status || (!a.unacked_status.empty() && status == a.unacked_status));
    if (!ok && ++wrong <= 5) {
      ADD_FAILURE() << a.id << " acknowledged " << a.status << ", after restart " << got.describe();
    }
  }
  EXPECT_EQ(wrong, 0);

  const std::uint64_t total = check_database(report.acks);
  expect_engine_total(again, total);
}

}  // namespace
}  // namespace warden::testing
