// Unit tests for the policy test file parser and runner, the request mapping and eval_offline.
#include "cli/policytest/policytest.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <filesystem>
#include <fstream>

namespace warden::policytest {
namespace {

namespace json = boost::json;

constexpr const char* kTiers =
    R"(policy p1 {"type":"SPENDING_LIMIT","rules":{"instant_max":"100","notify_max":"200"}})";

FileReport run(const std::string& text) { return run_policy_test_text(text, "t.test"); }

// "request ID {TRANSFER of AMOUNT}\n" to a valid address.
std::string transfer_line(const std::string& id, const std::string& amount) {
  return "request " + id +
         R"( {"type":"TRANSFER","to":"0x2222222222222222222222222222222222222222","amount":")" +
         amount + "\"}\n";
}

// The single failure of a report (line, message) or a marker when there is not exactly one.
std::pair<int, std::string> only_failure(const FileReport& r) {
  if (r.failures.size() != 1) return {-1, "failures: " + std::to_string(r.failures.size())};
  return {r.failures[0].line, r.failures[0].message};
}

TEST(PolicyTestParser, UnknownCommandNamesItsLine) {
  auto [line, msg] = only_failure(run("# name: x\n\nfrobnicate r1\n"));
  EXPECT_EQ(line, 3);
  EXPECT_NE(msg.find("unknown command 'frobnicate'"), std::string::npos) << msg;
}

TEST(PolicyTestParser, BadJsonNamesItsLine) {
  auto [line, msg] = only_failure(run(std::string(kTiers) + "\nrequest r1 {\"type\": }\n"));
  EXPECT_EQ(line, 2);
  EXPECT_NE(msg.find("bad JSON"), std::string::npos) << msg;
}

TEST(PolicyTestParser, ExpectForUnknownRequest) {
  auto [line, msg] = only_failure(run("expect r9 DENY\n"));
  EXPECT_EQ(line, 1);
  EXPECT_NE(msg.find("unknown request r9"), std::string::npos) << msg;
}

TEST(PolicyTestParser, RequestWithoutExpectIsAnError) {
  auto [line, msg] = only_failure(run(std::string(kTiers) + "\n\n" + transfer_line("r1", "1")));
  EXPECT_EQ(line, 3);
  EXPECT_NE(msg.find("r1 has no expect"), std::string::npos) << msg;
}

TEST(PolicyTestParser, AllowNeedsATier) {
  auto [line, msg] = only_failure(run("request r1 {\"action\":\"X\"}\nexpect r1 ALLOW\n"));
  EXPECT_EQ(line, 2);
  EXPECT_NE(msg.find("ALLOW needs a tier"), std::string::npos) << msg;
}

TEST(PolicyTestParser, BadReasonCode) {
  auto [line, msg] =
      only_failure(run("request r1 {\"action\":\"X\"}\nexpect r1 DENY lower_case\n"));
  EXPECT_EQ(line, 2);
  EXPECT_NE(msg.find("bad reason code 'lower_case'"), std::string::npos) << msg;
}

TEST(PolicyTestParser, BadAdvanceAndClock) {
  EXPECT_EQ(only_failure(run("advance 1 day\n")).first, 1);
  EXPECT_EQ(only_failure(run("\nadvance day\n")).first, 2);
  EXPECT_EQ(only_failure(run("\n\nclock yesterday\n")).first, 3);
}

TEST(PolicyTestParser, UnclosedBlockNamesItsOpeningLine) {
  auto [line, msg] = only_failure(run("# c\npolicy p1 {\n  \"type\": \"WHITELIST\",\n"));
  EXPECT_EQ(line, 2);
  EXPECT_NE(msg.find("not closed"), std::string::npos) << msg;
}

TEST(PolicyTestParser, SettlingTwiceIsAnError) {
  auto [line, msg] = only_failure(
      run("request r1 {\"action\":\"X\"}\nexpect r1 ALLOW INSTANT\nfail r1\ncancel r1\n"));
  EXPECT_EQ(line, 4);
  EXPECT_NE(msg.find("already settled"), std::string::npos) << msg;
}

TEST(PolicyTestParser, DuplicateRequestId) {
  EXPECT_EQ(
      only_failure(run("request r1 {\"action\":\"X\"}\nrequest r1 {\"action\":\"X\"}\n")).first, 2);
}

TEST(PolicyTestRunner, BlockPolicyAndPassingExpectations) {
  const FileReport r =
      run("# name: tiers\n"
          "policy p1 {\n"
          "  \"type\": \"SPENDING_LIMIT\",\n"
          "  \"rules\": {\"instant_max\": \"100\", \"notify_max\": \"200\",\n"
          "            \"windows\": [{\"duration\": \"24h\", \"max\": \"300\"}]}\n"
          "}\n" +
          transfer_line("r1", "100") + "expect r1 ALLOW INSTANT\n" + transfer_line("r2", "150") +
          "expect r2 ALLOW NOTIFY p1:TIER_NOTIFY\n"
          "meter p1/native/1d 250\n" +
          transfer_line("r3", "51") + "expect r3 DENY LIMIT_WINDOW_EXCEEDED\n");
  EXPECT_TRUE(r.passed()) << (r.failures.empty() ? "" : r.failures[0].message);
  EXPECT_EQ(r.name, "tiers");
  EXPECT_EQ(r.checks, 4);
}

TEST(PolicyTestRunner, WrongExpectationReportsExpectedAndGot) {
  const FileReport r =
      run(std::string(kTiers) + "\n" + transfer_line("r1", "150") + "expect r1 ALLOW INSTANT\n");
  auto [line, msg] = only_failure(r);
  EXPECT_EQ(line, 3);
  EXPECT_EQ(msg, "r1: expected ALLOW INSTANT [], got ALLOW NOTIFY [p1:TIER_NOTIFY]");
}

TEST(PolicyTestRunner, ExtraAndMissingCodesFail) {
  const std::string base = std::string(kTiers) + "\n" + transfer_line("r1", "150");
  EXPECT_FALSE(run(base + "expect r1 ALLOW NOTIFY TIER_NOTIFY TIER_NOTIFY\n").passed());
  EXPECT_FALSE(run(base + "expect r1 ALLOW NOTIFY\n").passed());
  EXPECT_FALSE(run(base + "expect r1 ALLOW NOTIFY p2:TIER_NOTIFY\n").passed());
  EXPECT_TRUE(run(base + "expect r1 ALLOW NOTIFY TIER_NOTIFY\n").passed());
}

TEST(PolicyTestRunner, InvalidPolicyIsAFailureOnItsLine) {
  auto [line, msg] = only_failure(run("\npolicy p1 {\"type\":\"SPENDING_LIMIT\",\"rules\":{}}\n"));
  EXPECT_EQ(line, 2);
  EXPECT_NE(msg.find("TIER_MISSING"), std::string::npos) << msg;
}

TEST(PolicyTestRunner, ConfirmAboveReservationFailsUnlessExpected) {
  const std::string base =
      R"(policy p1 {"type":"SPENDING_LIMIT","rules":{"instant_max":"100","windows":[{"duration":"1h","max":"1000"}]}})"
      "\n" +
      transfer_line("r1", "50") + "expect r1 ALLOW INSTANT\n";
  EXPECT_FALSE(run(base + "confirm r1 60\n").passed());
  EXPECT_TRUE(run(base + "confirm r1 60 error=TX_AMOUNT_EXCEEDS_RESERVED\nconfirm r1 40\n"
                         "meter p1/native/1h 40\n")
                  .passed());
}

TEST(PolicyTestRunner, SettlingADeniedRequestFails) {
  auto [line, msg] = only_failure(run(
      R"(policy p1 {"type":"WHITELIST","rules":{"allowed_addresses":["0x1111111111111111111111111111111111111111"]}})"
      "\n" +
      transfer_line("r1", "1") + "expect r1 DENY ADDRESS_NOT_WHITELISTED\ncancel r1\n"));
  EXPECT_EQ(line, 4);
  EXPECT_NE(msg.find("nothing to settle"), std::string::npos) << msg;
}

constexpr const char* kEvm = "0x2222222222222222222222222222222222222222";

TEST(PolicyTestRunner, AgentsAreDeclaredAndRefusedRequestsExpected) {
  const std::string base =
      R"(policy nets {"type":"ALLOWED_NETWORKS","rules":{"networks":["mainnet"]}})"
      "\nagent eth chain=ethereum network=mainnet\n"
      R"(request r1 agent=eth {"type":"TRANSFER","to":"0x2222222222222222222222222222222222222222","amount":"1"})"
      "\nexpect r1 ALLOW INSTANT\n"
      R"(request r2 {"type":"TRANSFER","to":"0x2222222222222222222222222222222222222222","amount":"1"})"
      "\nexpect r2 DENY NETWORK_NOT_ALLOWED\n"
      R"(request r3 {"action":"pay","amounts":{"NATIVE":"1"}})"
      "\n";
  const FileReport ok = run(base + "expect r3 ERROR VALIDATION_INVALID_ASSET\n");
  EXPECT_TRUE(ok.passed()) << ok.failures.at(0).message;
  EXPECT_EQ(ok.checks, 3);
  auto [line, msg] = only_failure(run(base + "expect r3 ERROR VALIDATION_INVALID_AMOUNT\n"));
  EXPECT_EQ(line, 8);
  EXPECT_NE(msg.find("VALIDATION_INVALID_ASSET"), std::string::npos) << msg;
  std::tie(line, msg) = only_failure(run(base + "expect r3 ALLOW INSTANT\n"));
  EXPECT_NE(msg.find("r3 was refused: VALIDATION_INVALID_ASSET"), std::string::npos) << msg;
  std::tie(line, msg) = only_failure(run("agent a chain=bitcoin\n"));
  EXPECT_EQ(line, 1);
  EXPECT_NE(msg.find("unknown chain"), std::string::npos) << msg;
}

// Offline requests go through the daemon's own mapping (engine/request_mapping.h) for the agent
// described: the agent's chain and network, no guessing from the address, no `chain` field.
TEST(RequestMapping, UsesTheDescribedAgent) {
  const engine::AgentContext eth{"ethereum", "testnet"};
  auto t = request_from_json(
      json::parse(std::string(R"({"type":"TOKEN_TRANSFER","to":")") + kEvm +
                  R"(","token":"0xAbCd000000000000000000000000000000000000","amount":"7"})"),
      "a", 5, eth);
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_EQ(t->action, "TOKEN_TRANSFER");
  EXPECT_EQ(t->amounts.begin()->first, "0xabcd000000000000000000000000000000000000");
  EXPECT_EQ(t->amounts.begin()->second.to_string(), "7");
  EXPECT_EQ(t->attributes.at("network").as_string(), "testnet");
  EXPECT_EQ(t->attributes.at("chain").as_string(), "ethereum");
  EXPECT_EQ(t->agent_id, "a");
  EXPECT_EQ(t->now_ms, 5);

  // An EVM address does not make the agent an Ethereum one: the default agent is POST
  // /v1/agents' default.
  auto n = request_from_json(
      json::parse(std::string(R"({"type":"TRANSFER","to":")") + kEvm + R"(","amount":"3"})"), "a",
      0, default_agent());
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->amounts.at("native").to_string(), "3");
  EXPECT_EQ(n->attributes.at("chain").as_string(), "solana");
  EXPECT_EQ(n->attributes.at("network").as_string(), "devnet");

  EXPECT_EQ(agent_context("bitcoin", "mainnet").status().code(),
            ErrorCode::VALIDATION_INVALID_VALUE);
  EXPECT_EQ(agent_context("ethereum", "moon").status().code(), ErrorCode::VALIDATION_INVALID_VALUE);
}

TEST(RequestMapping, Rejections) {
  auto code = [](const std::string& body) {
    return request_from_json(json::parse(body), "a", 0, default_agent()).status().code();
  };
  const std::string to = std::string(R"("to":")") + kEvm + '"';
  EXPECT_EQ(code(R"({"type":"TRANSFER","amount":"1"})"), ErrorCode::VALIDATION_MISSING_FIELD);
  EXPECT_EQ(code(R"({"type":"TRANSFER",)" + to + R"(,"amount":"-1"})"),
            ErrorCode::VALIDATION_INVALID_AMOUNT);
  EXPECT_EQ(code(R"({"type":"DECISION",)" + to + "}"), ErrorCode::VALIDATION_INVALID_VALUE);
  EXPECT_EQ(code(R"({"type":"TRANSFER",)" + to + R"(,"amount":"1","bogus":1})"),
            ErrorCode::VALIDATION_UNKNOWN_FIELD);
  EXPECT_EQ(code(R"({"type":"TRANSFER",)" + to + R"(,"amount":"1","chain":"ethereum"})"),
            ErrorCode::VALIDATION_UNKNOWN_FIELD);
  // The length limits hold offline too.
  EXPECT_EQ(code(R"({"type":"TRANSFER","to":")" + std::string(300, '1') + R"(","amount":"1"})"),
            ErrorCode::VALIDATION_INVALID_VALUE);
  EXPECT_EQ(code(R"({"action":"X","amounts":{"native":5}})"), ErrorCode::VALIDATION_WRONG_TYPE);
  EXPECT_EQ(code(R"({"action":"X","amounts":{"NATIVE":"5"}})"),
            ErrorCode::VALIDATION_INVALID_ASSET);
  EXPECT_EQ(code(R"({"to":"x"})"), ErrorCode::VALIDATION_MISSING_FIELD);
}

class EvalOffline : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("warden-eval-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }
  std::filesystem::path dir_;
};

TEST_F(EvalOffline, DecisionWithTrace) {
  write(
      "limits.json",
      R"({"type":"SPENDING_LIMIT","rules":{"instant_max":"10","delay_max":"100","delay_seconds":60}})");
  write("README.txt", "not a policy");
  auto out = eval_offline(
      dir_.string(),
      json::parse(
          R"({"type":"TRANSFER","to":"0x2222222222222222222222222222222222222222","amount":"50"})"),
      true);
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_EQ(out->policy_ids, std::vector<std::string>{"limits"});
  EXPECT_EQ(out->decision.at("effect").as_string(), "ALLOW");
  EXPECT_EQ(out->decision.at("tier").as_string(), "DELAY");
  EXPECT_EQ(out->decision.at("delay_seconds").as_int64(), 60);
  const auto& trace = out->decision.at("trace").as_array();
  ASSERT_EQ(trace.size(), 1u);
  EXPECT_EQ(trace[0].at("policy_id").as_string(), "limits");
  EXPECT_EQ(trace[0].at("step").as_string(), "limit:tiers");
}

TEST_F(EvalOffline, BlockerNamesTheFile) {
  write("bad.json", R"({"type":"SPENDING_LIMIT","rules":{}})");
  auto out = eval_offline(dir_.string(), json::parse(R"({"action":"X"})"), false);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), ErrorCode::VALIDATION_FAILED);
  EXPECT_NE(out.status().message().find("bad.json"), std::string::npos);
}

TEST_F(EvalOffline, UnparsableDocumentNamesTheFile) {
  write("a.json", R"({"type":"WHITELIST","rules":{"allowed_addresses":[]}})");
  write("request.json", R"({"type":"TRANSFER","to":"0x1","amount":"1"})");
  auto out = eval_offline(dir_.string(), json::parse(R"({"action":"X"})"), false);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), ErrorCode::VALIDATION_UNKNOWN_FIELD);
  EXPECT_NE(out.status().message().find("request.json: "), std::string::npos)
      << out.status().message();
}

TEST_F(EvalOffline, AgentPoliciesApplyOnlyToTheirAgent) {
  write("wl.json", R"({"agent_id":"0190a000-0000-7000-8000-000000000001","type":"WHITELIST",
      "rules":{"allowed_addresses":["0x1111111111111111111111111111111111111111"]}})");
  const char* body = R"({"type":"TRANSFER","to":"0x2222222222222222222222222222222222222222",
      "amount":"1","agent_id":"0190a000-0000-7000-8000-000000000001"})";
  auto mine = eval_offline(dir_.string(), json::parse(body), false);
  ASSERT_TRUE(mine.ok()) << mine.status().to_string();
  EXPECT_EQ(mine->decision.at("effect").as_string(), "DENY");
  auto other = eval_offline(
      dir_.string(),
      json::parse(
          R"({"type":"TRANSFER","to":"0x2222222222222222222222222222222222222222","amount":"1"})"),
      false);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->decision.at("effect").as_string(), "ALLOW");
}

TEST_F(EvalOffline, TheAgentsChainAndNetworkAreGivenNotGuessed) {
  write("nets.json", R"({"type":"ALLOWED_NETWORKS","rules":{"networks":["mainnet"]}})");
  write("chain.json",
        R"({"type":"CUSTOM","rules":{"pre":"chain == 'ethereum'","effect":"NOTIFY"}})");
  const std::string transfer =
      R"("type":"TRANSFER","to":"0x2222222222222222222222222222222222222222","amount":"1")";
  auto decide = [&](const std::string& extra) {
    auto out = eval_offline(dir_.string(), json::parse("{" + transfer + extra + "}"), false);
    EXPECT_TRUE(out.ok()) << out.status().to_string();
    if (!out.ok()) return std::string();
    std::string s(out->decision.at("effect").as_string());
    for (const auto& r : out->decision.at("reasons").as_array()) {
      s += " " + std::string(r.at("code").as_string());
    }
    return s;
  };
  // The default agent is on solana devnet, as POST /v1/agents makes it.
  EXPECT_EQ(decide(""), "DENY NETWORK_NOT_ALLOWED");
  EXPECT_EQ(decide(R"(,"agent_network":"mainnet")"), "ALLOW");
  EXPECT_EQ(decide(R"(,"agent_network":"mainnet","agent_chain":"ethereum")"),
            "ALLOW CUSTOM_CONDITION");
  EXPECT_EQ(decide(R"(,"agent_chain":"ethereum","network":"mainnet")"), "ALLOW CUSTOM_CONDITION");
  auto bad =
      eval_offline(dir_.string(), json::parse("{" + transfer + R"(,"agent_chain":"btc"})"), false);
  EXPECT_EQ(bad.status().code(), ErrorCode::VALIDATION_INVALID_VALUE);
}

TEST(ParseTime, Forms) {
  EXPECT_EQ(*parse_time_ms("2026-01-01T00:00:00Z"), 1'767'225'600'000);
  EXPECT_EQ(*parse_time_ms("2026-01-01T09:00:00+09:00"), 1'767'225'600'000);
  EXPECT_FALSE(parse_time_ms("2026-01-01").ok());
  EXPECT_FALSE(parse_time_ms("2026-01-01T00:00:00Zjunk").ok());
}

}  // namespace
}  // namespace warden::policytest
