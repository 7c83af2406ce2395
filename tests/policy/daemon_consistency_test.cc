// The offline tools map wallet requests the way the daemon does: the same policies and the same
// POST /v1/transactions bodies give the same effect, tier and reasons through `warden serve`
// (HTTP) and through policytest::eval_offline (what `warden eval` and policy test files use).
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
    {"p7_nets", R"({"type":"ALLOWED_NETWORKS","rules":{"networks":["mainnet"]}})"},
};

const std::vector<std::string> kRequests = {
    R"({"type":"TRANSFER","to":"0xabcdef0123456789abcdef0123456789abcdef01","amount":"500"})",
    R"({"type":"TRANSFER","to":"0xABCDEF0123456789ABCDEF0123456789ABCDEF01","amount":"3000"})",
    R"({"type":"TRANSFER","to":"0x2222222222222222222222222222222222222222","amount":"30000"})",
    R"({"type":"TRANSFER","to":"0xabcdef0123456789abcdef0123456789abcdef01","amount":"6000","network":"testnet"})",
    R"({"type":"TOKEN_TRANSFER","to":"0xabcdef0123456789abcdef0123456789abcdef01","token":"0xA0B86991C6218B36C1D19D4A2E9EB0CE3606EB48","amount":"150"})",
    R"({"type":"TOKEN_TRANSFER","to":"0xabcdef0123456789abcdef0123456789abcdef01","token":"0xdAC17F958D2ee523a2206206994597C13D831ec7","amount":"1"})",
    R"({"type":"CONTRACT_CALL","contract":"0x7a250d5630b4cf539739df2c5dacb4c659f2488d","method":"0x38ED1739ff","amount":"7000"})",
    R"({"type":"CONTRACT_CALL","contract":"0x7a250d5630B4cF539739dF2C5dAcb4c659F2488D","method":"0xa9059cbb"})",
    R"({"type":"APPROVE","spender":"0x7a250d5630B4cF539739dF2C5dAcb4c659F2488D","token":"0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48","amount":"1000000"})",
    R"({"type":"APPROVE","spender":"0x2222222222222222222222222222222222222222","token":"0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48","amount":"115792089237316195423570985008687907853269984665640564039457584007913129639935"})",
    R"({"type":"BATCH","amount":"2500"})",
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
                          R"({"name":"consistency","chain":"ethereum","network":"mainnet"})");
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
  for (const std::string& body : kRequests) {
    SCOPED_TRACE(body);
    Response http = client_->request("POST", "/v1/transactions", body, bearer_headers(token));
    ASSERT_EQ(http.status, 201) << http.describe();
    json::object offline_body = json::parse(body).as_object();
    offline_body["agent_id"] = agent_id;
    auto offline = policytest::eval_offline(dir, offline_body, false);
    ASSERT_TRUE(offline.ok()) << offline.status().to_string();
    const std::string want = summary(http.json(), names);
    EXPECT_EQ(summary(json::value(offline->decision), {}), want);
    (want.starts_with("DENY") ? denied : allowed)++;
  }
  // The requests exercise both effects (and, above, every tier and most reason codes).
  EXPECT_GT(denied, 3);
  EXPECT_GT(allowed, 3);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace warden::testing
