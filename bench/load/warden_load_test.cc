// warden_load --scenario decide-settle against the real daemon: every decision it counts was
// confirmed at its reserved amount, none is left open, and its row reports them.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "support/fixture.h"

namespace warden::testing {
namespace {

constexpr int kDecisions = 40;

// Runs warden_load with `args` against the daemon; its exit status and what it printed.
std::pair<int, std::string> run_load(std::uint16_t port, const std::string& args) {
  const std::string command = std::string("WARDEN_MASTER_PASSWORD=") + kTestMasterPassword +
                              " " WARDEN_LOAD_BINARY " --addr 127.0.0.1:" + std::to_string(port) +
                              " " + args + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return {-1, "popen failed"};
  std::string out;
  std::array<char, 4096> buffer;
  while (std::size_t n = fread(buffer.data(), 1, buffer.size(), pipe)) out.append(buffer.data(), n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// The numbers after the row's name: ok, errors, req/s, p50 us, p99 us.
std::vector<double> row_numbers(const std::string& out, const std::string& name) {
  const auto at = out.find(name);
  if (at == std::string::npos) return {};
  std::istringstream in(out.substr(at + name.size(), out.find('\n', at) - at - name.size()));
  std::vector<double> numbers;
  for (double v; in >> v;) numbers.push_back(v);
  return numbers;
}

class WardenLoadTest : public WardenTest {};

TEST_F(WardenLoadTest, DecideSettleConfirmsEveryDecisionItCounts) {
  const auto [status, out] =
      run_load(warden_->port(),
               "--scenario decide-settle --connections 4 --duration-ms 20000 "
               "--requests-max " +
                   std::to_string(kDecisions));
  ASSERT_EQ(status, 0) << out;
  const std::vector<double> numbers = row_numbers(out, "decide + confirm");
  ASSERT_EQ(numbers.size(), 5u) << out;
  EXPECT_EQ(numbers[0], kDecisions) << out;  // ok
  EXPECT_EQ(numbers[1], 0) << out;           // errors
  EXPECT_GT(numbers[4], 0) << out;           // p99 of the decisions

  auto decided = audit_all(*client_, "event_type=TX_DECIDED");
  auto confirmed = audit_all(*client_, "event_type=TX_CONFIRMED");
  ASSERT_TRUE(decided && confirmed);
  EXPECT_EQ(decided->size(), static_cast<std::size_t>(kDecisions));
  ASSERT_EQ(confirmed->size(), static_cast<std::size_t>(kDecisions));
  for (const auto& row : *confirmed) {
    EXPECT_EQ(str_at(field(row, "details"), "final_amount"), "1") << row;
  }
  const Response metrics = client_->request("GET", "/metrics", {}, {});
  EXPECT_NE(metrics.body.find("\nwarden_open_reservations 0\n"), std::string::npos)
      << metrics.body.substr(0, 2000);
}

TEST_F(WardenLoadTest, DecideSettleTakesOneConnectionCount) {
  const auto [status, out] =
      run_load(warden_->port(), "--scenario decide-settle --connections 1,4 --requests-max 4");
  EXPECT_EQ(status, 2) << out;
  EXPECT_NE(out.find("usage:"), std::string::npos) << out;
}

}  // namespace
}  // namespace warden::testing
