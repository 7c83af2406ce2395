// The offline tools map requests the way the daemon does: the same policies and the same
// POST /v1/transactions and POST /v1/decisions bodies give the same effect, tier and reasons
// through `warden serve` (HTTP) and through policytest::eval_offline (what `warden eval` and
// policy test files use). The agent is on a chain and network that are not the defaults, and
// policies read both, so a mapping that guessed either would disagree.
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <map>

#include "cli/policytest/policytest.h"
#include "support/fixture.h"

namespace warden::testing {
namespace {

namespace json = boost::json;

// Stateless policies only (no windows): HTTP reserves, offline evaluation does not. The file
// stems sort in creation order, like the daemon's UUID v7 ids, so equal priorities order alike.
const std::vector<std::pair<std::string, std::string>> kPolicies = {
    {"p0_limits",
     R"({"type":"SPENDING_LIMIT","priority":10,"rules":{"instant_max":"1000","notify_max":"5000","delay_max":"20000"}})"},
    {"p1_usdc_limit",
     R"({"type":"SPENDING_LIMIT","rules":{"asset":"0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48","instant_max":"100"}})"},
    {"p2_wl",
     R"({"type":"WHITELIST","rules":{"allowed_addresses":["0xAbCdEf0123456789aBcDeF0123456789AbCdEf01"]}})"},
    {"p3_tokens",
     R"({"type":"ALLOWED_TOKENS","rules":{"tokens":["0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"]}})"},
    {"p4_methods",
     R"({"type":"METHOD_WHITELIST","rules":{"methods":[{"contract":"0x7a250d5630B4cF539739dF2C5dAcb4c659F2488D","selectors":["0x38ed1739"]}]}})"},
    {"p5_spenders",
     R"({"type":"APPROVED_SPENDERS","rules":{"spenders":["0x7a250d5630B4cF539739dF2C5dAcb4c659F2488D"]}})"},
    {"p6_cap", R"({"type":"APPROVE_AMOUNT_LIMIT","rules":{"max_amount":"1000000"}})"},
    {"p7_nets", R"({"type":"ALLOWED_NETWORKS","rules":{"networks":["testnet"]}})"},
    {"p8_chain",
     R"({"type":"CUSTOM","rules":{"pre":"chain == 'ethereum' && action == 'TRANSFER' && amount > 2500","effect":"DELAY"}})"},
    {"p9_models", R"({"type":"MODEL_ALLOWLIST","rules":{"models":["gpt-4o*"]}})"},
};

constexpr const char* kAgentChain = "ethereum";   // POST /v1/agents defaults to solana
constexpr const char* kAgentNetwork = "testnet";  // and to devnet

const char* const kTransactions = "/v1/transactions";
const char* const kDecisions = "/v1/decisions";

const std::vector<std::pair<const char*, std::string>> kRequests = {
    {kTransactions,
     R"({"type":"TRANSFER","to":"0xabcdef0123456789abcdef0123456789abcdef01","amount":"500"})"},
    {kTransactions,
     R"({"type":"TRANSFER","to":"0xABCDEF0123456789ABCDEF0123456789ABCDEF01","amount":"3000"})"},
    {kTransactions,
     R"({"type":"TRANSFER","to":"0x2222222222222222222222222222222222222222","amount":"30000"})"},
    {kTransactions,
     R"({"type":"TRANSFER","to":"0xabcdef0123456789abcdef0123456789abcdef01","amount":"6000","network":"mainnet"})"},
    {kTransactions,
     R"({"type":"TOKEN_TRANSFER","to":"0xabcdef0123456789abcdef0123456789abcdef01","token":"0xA0B86991C6218B36C1D19D4A2E9EB0CE3606EB48","amount":"150"})"},
    {kTransactions,
     R"({"type":"TOKEN_TRANSFER","to":"0xabcdef0123456789abcdef0123456789abcdef01","token":"0xdAC17F958D2ee523a2206206994597C13D831ec7","amount":"1"})"},
    {kTransactions,
     R"({"type":"CONTRACT_CALL","contract":"0x7a250d5630b4cf539739df2c5dacb4c659f2488d","method":"0x38ED1739ff","amount":"7000"})"},
    {kTransactions,
     R"({"type":"CONTRACT_CALL","contract":"0x7a250d5630B4cF539739dF2C5dAcb4c659F2488D","method":"0xa9059cbb","amount":"0"})"},
    {kTransactions,
     R"({"type":"APPROVE","spender":"0x7a250d5630B4cF539739dF2C5dAcb4c659F2488D","token":"0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48","amount":"1000000"})"},
    {kTransactions,
     R"({"type":"APPROVE","spender":"0x2222222222222222222222222222222222222222","token":"0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48","amount":"115792089237316195423570985008687907853269984665640564039457584007913129639935"})"},
    {kTransactions,
     R"({"type":"BATCH","children":[{"type":"TRANSFER","to":"0xabcdef0123456789abcdef0123456789abcdef01","amount":"2500"},{"type":"TRANSFER","to":"0x2222222222222222222222222222222222222222","amount":"1"}]})"},
    {kTransactions,
     R"({"type":"BATCH","network":"devnet","children":[{"type":"TRANSFER","to":"0xabcdef0123456789abcdef0123456789abcdef01","amount":"900"},{"type":"APPROVE","spender":"0x7a250d5630b4cf539739df2c5dacb4c659f2488d","amount":"5"}]})"},
    {kDecisions,
     R"({"action":"transfer","attributes":{"to":"0xabcdef0123456789abcdef0123456789abcdef01"},"amounts":{"native":"4000"}})"},
    {kDecisions, R"({"action":"llm.call","attributes":{"model":"claude-3"}})"},
    {kDecisions, R"({"action":"llm.call","attributes":{"model":"gpt-4o-mini"}})"},
    {kDecisions,
     R"({"action":"pay","amounts":{"0xA0B86991C6218B36C1D19D4A2E9EB0CE3606EB48":"150"}})"},
};

// "EFFECT TIER policy:CODE ..." with policy ids mapped through `names`.
std::string summary(const json::value& decision, const std::map<std::string, std::string>& names) {
  std::string s = str_at(decision, "effect") + " " + str_at(decision, "tier");
  if (const json::value* reasons = at(decision, "reasons"); reasons && reasons->is_array()) {
    for (const auto& r : reasons->as_array()) {
      const std::string id = str_at(r, "policy_id");
      auto it = names.find(id);
      s += " " + (it == names.end() ? id : it->second) + ":" + str_at(r, "code");
    }
  }
  return s;
}

using DaemonConsistency = WardenTest;

TEST_F(DaemonConsistency, WalletRequestsDecideAlikeOverHttpAndOffline) {
  Response agent = master("POST", "/v1/agents",
                          std::string(R"({"name":"consistency","chain":")") + kAgentChain +
                              R"(","network":")" + kAgentNetwork + R"("})");
  ASSERT_EQ(agent.status, 201) << agent.describe();
  const std::string agent_id = str_at(agent.json(), "id");
  const std::string token = str_at(new_session(agent_id), "token");
  ASSERT_FALSE(token.empty());

  const std::string dir = make_temp_dir();
  ASSERT_FALSE(dir.empty());
  std::map<std::string, std::string> names;  // server policy id -> file stem
  for (const auto& [stem, doc] : kPolicies) {
    std::ofstream(std::filesystem::path(dir) / (stem + ".json")) << doc;
    Response p = master("POST", "/v1/policies", doc);
    ASSERT_EQ(p.status, 201) << p.describe();
    names[str_at(p.json(), "id")] = stem;
  }

  int denied = 0;
  int allowed = 0;
  for (const auto& [path, body] : kRequests) {
    SCOPED_TRACE(body);
    Response http = client_->request("POST", path, body, bearer_headers(token));
    ASSERT_EQ(http.status, 201) << http.describe();
    json::object offline_body = json::parse(body).as_object();
    offline_body["agent_id"] = agent_id;
    offline_body["agent_chain"] = kAgentChain;
    offline_body["agent_network"] = kAgentNetwork;
    auto offline = policytest::eval_offline(dir, offline_body, false);
    ASSERT_TRUE(offline.ok()) << offline.status().to_string();
    const std::string want = summary(http.json(), names);
    EXPECT_EQ(summary(json::value(offline->decision), {}), want);
    (want.starts_with("DENY") ? denied : allowed)++;
  }
  // The requests exercise both effects (and, above, every tier and most reason codes).
  EXPECT_GT(denied, 3);
  EXPECT_GT(allowed, 3);

  // What the daemon refuses, the offline tools refuse with the same code.
  const std::vector<std::pair<const char*, std::string>> refused = {
      {kTransactions,
       R"({"type":"TRANSFER","to":"0xabcdef0123456789abcdef0123456789abcdef01","amount":"1","chain":"solana"})"},
      {kTransactions,
       R"({"type":"TRANSFER","to":")" + std::string(300, '1') + R"(","amount":"1"})"},
      {kTransactions, R"({"type":"TRANSFER","to":"0xabc","amount":"1"})"},
      {kTransactions,
       R"({"type":"CONTRACT_CALL","contract":"0x7a250d5630b4cf539739df2c5dacb4c659f2488d"})"},
      {kTransactions,
       R"({"type":"APPROVE","spender":"0x7a250d5630b4cf539739df2c5dacb4c659f2488d","amount":"lots"})"},
      {kTransactions, R"({"type":"BATCH","amount":"2500"})"},
      {kDecisions, R"({"action":"pay","amounts":{"NATIVE":"1"}})"},
      {kDecisions, R"({"action":"pay","attributes":{"chain":"solana"}})"},
      {kDecisions, R"({"action":"transfer","amounts":{"native":"1"}})"},
  };
  for (const auto& [path, body] : refused) {
    SCOPED_TRACE(body);
    Response http = client_->request("POST", path, body, bearer_headers(token));
    ASSERT_EQ(http.status, 400) << http.describe();
    json::object offline_body = json::parse(body).as_object();
    offline_body["agent_chain"] = kAgentChain;
    offline_body["agent_network"] = kAgentNetwork;
    auto offline = policytest::eval_offline(dir, offline_body, false);
    ASSERT_FALSE(offline.ok());
    EXPECT_EQ(error_code_name(offline.status().code()), http.error_code());
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace warden::testing
