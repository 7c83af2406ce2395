// Runs every tests/policy/cases/*.test file through run_policy_tests (the runner behind
// `warden policy test`), checks that the suite covers every compiled policy type and every
// tier, and that deliberately wrong expectations in selftest/ are reported.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "cli/policytest/policytest.h"

namespace warden::policytest {
namespace {

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(PolicyFiles, EveryCasePasses) {
  auto report = run_policy_tests(WARDEN_POLICY_CASES_DIR);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_GE(report->files.size(), 10u);
  EXPECT_EQ(report->failed(), 0) << report->to_text();
  for (const auto& f : report->files) EXPECT_GT(f.checks, 0) << f.path << " checks nothing";
}

TEST(PolicyFiles, SuiteCoversEveryCompiledTypeAndTier) {
  auto report = run_policy_tests(WARDEN_POLICY_CASES_DIR);
  ASSERT_TRUE(report.ok());
  std::string all;
  for (const auto& f : report->files) all += read(f.path);
  for (const char* type :
       {"SPENDING_LIMIT", "WHITELIST", "ALLOWED_TOKENS", "CONTRACT_WHITELIST", "METHOD_WHITELIST",
        "APPROVED_SPENDERS", "APPROVE_AMOUNT_LIMIT", "ALLOWED_NETWORKS", "TIME_RESTRICTION",
        "RATE_LIMIT", "CUSTOM", "MODEL_ALLOWLIST"}) {
    EXPECT_NE(all.find("{\"type\":\"" + std::string(type) + "\""), std::string::npos) << type;
  }
  for (const char* outcome :
       {" ALLOW INSTANT", " ALLOW NOTIFY", " ALLOW DELAY", " ALLOW APPROVAL", " DENY", "\nadvance ",
        "\nconfirm ", "\nfail ", "\ncancel ", "\nexpire "}) {
    EXPECT_NE(all.find(outcome), std::string::npos) << outcome;
  }
}

TEST(PolicyFiles, WrongExpectationsAreReported) {
  auto report = run_policy_tests(WARDEN_POLICY_SELFTEST_DIR);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  ASSERT_EQ(report->files.size(), 1u);
  EXPECT_EQ(report->failed(), 1);
  const FileReport& f = report->files[0];
  EXPECT_EQ(f.name, "selftest/wrong_expectations");
  ASSERT_EQ(f.failures.size(), 6u) << report->to_text();
  const std::vector<std::pair<int, std::string>> want = {
      {7, "r1: expected ALLOW INSTANT [], got ALLOW NOTIFY [limits:TIER_NOTIFY]"},
      {9, "r2: expected ALLOW INSTANT [TIER_INSTANT], got ALLOW INSTANT []"},
      {11, "r3: expected DENY [LIMIT_WINDOW_EXCEEDED], got ALLOW INSTANT []"},
      {12, "meter limits/native/1h of agent: expected 250, got 300"},
      {14,
       "r4: expected DENY [other:LIMIT_WINDOW_EXCEEDED], got DENY [limits:LIMIT_WINDOW_EXCEEDED]"},
      {15,
       "confirm r1 151: expected ok, got TX_AMOUNT_EXCEEDS_RESERVED: final amount 151 "
       "exceeds the reserved 150"},
  };
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(f.failures[i].line, want[i].first) << i;
    EXPECT_EQ(f.failures[i].message, want[i].second) << i;
  }
  const std::string text = report->to_text();
  EXPECT_NE(text.find("FAIL " + f.path + "\n"), std::string::npos) << text;
  EXPECT_NE(text.find("0 passed, 1 failed"), std::string::npos) << text;
}

}  // namespace
}  // namespace warden::policytest
