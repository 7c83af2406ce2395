// Request shapes over HTTP against the real daemon: an asset or an action has one name on both
// routes (a re-spelling is counted in the same window or refused, never a fresh ALLOW), an
// APPROVE without a readable allowance is a 400, and a BATCH is decided as its children with
// their sum reserved all or nothing.
#include <boost/json.hpp>

#include "support/fixture.h"

namespace warden::testing {
namespace {

namespace json = boost::json;

const std::string kFriend = "0x1111111111111111111111111111111111111111";
const std::string kStranger = "0x2222222222222222222222222222222222222222";
const std::string kRouter = "0x7a250d5630b4cf539739df2c5dacb4c659f2488d";
const std::string kTokenUpper = "0xDEADBEEFDEADBEEFDEADBEEFDEADBEEFDEADBEEF";
const std::string kToken = "0xdeadbeefdeadbeefdeadbeefdeadbeefdeadbeef";

class RequestShapesTest : public WardenTest {
 protected:
  void SetUp() override {
    WardenTest::SetUp();
    if (HasFatalFailure()) return;
    Response agent =
        master("POST", "/v1/agents", R"({"name":"shapes","chain":"ethereum","network":"mainnet"})");
    ASSERT_EQ(agent.status, 201) << agent.describe();
    token_ = str_at(new_session(str_at(agent.json(), "id")), "token");
    ASSERT_FALSE(token_.empty());
  }

  std::string add_policy(const std::string& type, const std::string& rules) {
    Response r =
        master("POST", "/v1/policies", R"({"type":")" + type + R"(","rules":)" + rules + "}");
    EXPECT_EQ(r.status, 201) << r.describe();
    return str_at(r.json(), "id");
  }

  Response post(const std::string& path, const std::string& body) {
    return client_->request("POST", path, body, bearer_headers(token_));
  }

  // "EFFECT [TIER] CODE..." of a 201 answer; "STATUS CODE field" of an error.
  std::string outcome(const Response& r) {
    const json::value v = r.json();
    if (r.status != 201) {
      return std::to_string(r.status) + " " + r.error_code() + " " +
             str_at(field(field(v, "error"), "details"), "field");
    }
    std::string s = str_at(v, "effect");
    if (s == "ALLOW") s += " " + str_at(v, "tier");
    if (const json::value* reasons = at(v, "reasons"); reasons && reasons->is_array()) {
      for (const auto& reason : reasons->as_array()) s += " " + str_at(reason, "code");
    }
    return s;
  }

  std::string token_;
};

TEST_F(RequestShapesTest, NoSpellingOfAnAssetOrActionGetsAFreshWindow) {
  add_policy("SPENDING_LIMIT",
             R"({"instant_max":"100000","windows":[{"duration":"1d","max":"5000"}]})");
  const std::string token_limit =
      add_policy("SPENDING_LIMIT",
                 R"({"asset":")" + kTokenUpper +
                     R"(","instant_max":"100000","windows":[{"duration":"1d","max":"5000"}]})");
  add_policy("WHITELIST", R"({"allowed_addresses":[")" + kFriend + R"("]})");
  // The policy side keeps one spelling too.
  EXPECT_EQ(str_at(field(master("GET", "/v1/policies/" + token_limit).json(), "rules"), "asset"),
            kToken);
  Response bad_policy =
      master("POST", "/v1/policies",
             R"({"type":"SPENDING_LIMIT","rules":{"asset":"NATIVE","instant_max":"1"}})");
  EXPECT_EQ(bad_policy.status, 400) << bad_policy.describe();
  EXPECT_NE(bad_policy.body.find("ASSET_INVALID"), std::string::npos) << bad_policy.body;

  // Most of each window is used.
  EXPECT_EQ(outcome(post("/v1/decisions", R"({"action":"payout","amounts":{"native":"4000"}})")),
            "ALLOW INSTANT");
  EXPECT_EQ(outcome(post("/v1/decisions",
                         R"({"action":"payout","amounts":{")" + kToken + R"(":"4000"}})")),
            "ALLOW INSTANT");

  // Each spelling that once skipped the window: counted in it, or refused.
  const std::string deny = "DENY LIMIT_WINDOW_EXCEEDED";
  struct Case {
    std::string path;
    std::string body;
    std::string want;
  };
  const Case cases[] = {
      {"/v1/decisions", R"({"action":"payout","amounts":{")" + kTokenUpper + R"(":"5000"}})", deny},
      {"/v1/decisions", R"({"action":"payout","amounts":{"NATIVE":"5000"}})",
       "400 VALIDATION_INVALID_ASSET amounts.NATIVE"},
      {"/v1/decisions", R"({"action":"payout","amounts":{" native":"5000"}})",
       "400 VALIDATION_INVALID_ASSET amounts. native"},
      {"/v1/decisions", R"({"action":"payout","amounts":{"native\u0000":"5000"}})",
       std::string("400 VALIDATION_INVALID_ASSET amounts.native") + '\0'},
      {"/v1/decisions", R"({"action":"payout","amounts":{"nat\u0131ve":"5000"}})",
       "400 VALIDATION_INVALID_ASSET amounts.nat\xC4\xB1ve"},
      // Wallet action names on the generic route are the wallet actions, in any case.
      {"/v1/decisions",
       R"({"action":"transfer","attributes":{"to":")" + kFriend +
           R"("},"amounts":{"native":"5000"}})",
       deny},
      {"/v1/decisions",
       R"({"action":"Transfer","attributes":{"to":")" + kFriend +
           R"("},"amounts":{"native":"5000"}})",
       deny},
      {"/v1/decisions",
       R"({"action":"TRANSFER","attributes":{"to":")" + kFriend +
           R"("},"amounts":{"native":"5000"}})",
       deny},
      {"/v1/decisions",
       R"({"action":"transfer","attributes":{"to":")" + kStranger +
           R"("},"amounts":{"native":"1"}})",
       "DENY ADDRESS_NOT_WHITELISTED"},
      {"/v1/decisions", R"({"action":"transfer","amounts":{"native":"1"}})",
       "400 VALIDATION_MISSING_FIELD attributes.to"},
      {"/v1/transactions",
       R"({"type":"TOKEN_TRANSFER","to":")" + kFriend + R"(","token":")" + kTokenUpper +
           R"(","amount":"5000"})",
       deny},
      {"/v1/transactions",
       R"({"type":"TOKEN_TRANSFER","to":")" + kFriend + R"(","token":"NATIVE","amount":"5000"})",
       "400 VALIDATION_INVALID_ASSET token"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body);
    EXPECT_EQ(outcome(post(c.path, c.body)), c.want);
  }

  // Nothing above took any of the 1000 left in each window.
  EXPECT_EQ(outcome(post("/v1/decisions", R"({"action":"payout","amounts":{"native":"1000"}})")),
            "ALLOW INSTANT");
  EXPECT_EQ(outcome(post("/v1/decisions", R"({"action":"PAYOUT","amounts":{"native":"1"}})")),
            deny);
  Response token_rest =
      post("/v1/decisions", R"({"action":"payout","amounts":{")" + kTokenUpper + R"(":"1000"}})");
  EXPECT_EQ(outcome(token_rest), "ALLOW INSTANT");
  EXPECT_EQ(str_at(token_rest.json(), "action"), "PAYOUT");
  EXPECT_EQ(field(token_rest.json(), "amounts"), json::value(json::object{{kToken, "1000"}}));
}

TEST_F(RequestShapesTest, ApproveWithoutAReadableAllowanceIsRefused) {
  add_policy("APPROVE_AMOUNT_LIMIT", R"({"max_amount":"1000"})");
  const std::string spender = R"("spender":")" + kRouter + R"(")";
  EXPECT_EQ(outcome(post("/v1/transactions", R"({"type":"APPROVE",)" + spender + "}")),
            "400 VALIDATION_MISSING_FIELD amount");
  EXPECT_EQ(
      outcome(post("/v1/transactions", R"({"type":"APPROVE",)" + spender + R"(,"amount":"lots"})")),
      "400 VALIDATION_INVALID_AMOUNT amount");
  EXPECT_EQ(
      outcome(post("/v1/decisions", R"({"action":"approve","attributes":{)" + spender + "}}")),
      "400 VALIDATION_MISSING_FIELD attributes.amount");
  EXPECT_EQ(outcome(post("/v1/decisions", R"({"action":"approve","attributes":{)" + spender +
                                              R"(,"amount":"1e9"}})")),
            "400 VALIDATION_INVALID_AMOUNT attributes.amount");
  EXPECT_EQ(outcome(post("/v1/decisions", R"({"action":"approve","attributes":{)" + spender +
                                              R"(,"amount":"1001"}})")),
            "DENY APPROVE_AMOUNT_EXCEEDED");
  Response ok =
      post("/v1/transactions", R"({"type":"APPROVE",)" + spender + R"(,"amount":"1000"})");
  EXPECT_EQ(outcome(ok), "ALLOW INSTANT");
  EXPECT_EQ(str_at(ok.json(), "amount"), "1000");
  EXPECT_TRUE(field(ok.json(), "reserved_amount").is_null()) << ok.body;  // not a spend
}

TEST_F(RequestShapesTest, BatchIsDecidedAsItsChildren) {
  add_policy("SPENDING_LIMIT", R"({"instant_max":"1000","notify_max":"5000",
                                   "windows":[{"duration":"1d","max":"6000"}]})");
  add_policy("WHITELIST", R"({"allowed_addresses":[")" + kFriend + R"("]})");
  add_policy("MODEL_ALLOWLIST", R"({"models":["gpt-4o*"]})");
  const auto transfer = [](const std::string& to, const std::string& amount) {
    return R"({"type":"TRANSFER","to":")" + to + R"(","amount":")" + amount + R"("})";
  };

  // A global model allow-list leaves wallet requests alone (was: ATTRIBUTE_MISSING for all).
  EXPECT_EQ(outcome(post("/v1/transactions", transfer(kFriend, "100"))), "ALLOW INSTANT");
  EXPECT_EQ(
      outcome(post("/v1/decisions", R"({"action":"llm.call","attributes":{"model":"claude-3"}})")),
      "DENY MODEL_NOT_ALLOWED");

  // Two INSTANT-sized children add up to NOTIFY, and the sum is reserved.
  Response pair =
      post("/v1/transactions", R"({"type":"BATCH","children":[)" + transfer(kFriend, "600") + "," +
                                   transfer(kFriend, "700") + "]}");
  EXPECT_EQ(outcome(pair), "ALLOW NOTIFY TIER_NOTIFY");
  EXPECT_EQ(str_at(pair.json(), "type"), "BATCH");
  EXPECT_EQ(str_at(pair.json(), "reserved_amount"), "1300");

  // One child outside the whitelist denies the batch, and the reason names it.
  Response stranger =
      post("/v1/transactions", R"({"type":"BATCH","children":[)" + transfer(kFriend, "1") + "," +
                                   transfer(kStranger, "1") + "]}");
  EXPECT_EQ(outcome(stranger), "DENY ADDRESS_NOT_WHITELISTED");
  const json::value reasons = field(stranger.json(), "reasons");
  ASSERT_TRUE(reasons.is_array() && reasons.as_array().size() == 1) << stranger.body;
  EXPECT_EQ(int_at(reasons.as_array()[0], "child"), 1);
  // The batch's own `to` was never a thing a policy could read: it is refused now.
  EXPECT_EQ(outcome(post("/v1/transactions", R"({"type":"BATCH","to":")" + kStranger +
                                                 R"(","amount":"1","children":[)" +
                                                 transfer(kFriend, "1") + "]}")),
            "400 VALIDATION_UNKNOWN_FIELD to");
  EXPECT_EQ(outcome(post("/v1/transactions", R"({"type":"BATCH","amount":"2500"})")),
            "400 VALIDATION_UNKNOWN_FIELD amount");

  // A contract call's value is an amount like any other (was: none, nothing reserved).
  const std::string call = R"({"type":"CONTRACT_CALL","contract":")" + kRouter + R"(")";
  EXPECT_EQ(outcome(post("/v1/transactions", call + "}")), "400 VALIDATION_MISSING_FIELD amount");
  Response valued = post("/v1/transactions", call + R"(,"amount":"900"})");
  EXPECT_EQ(outcome(valued), "ALLOW INSTANT");
  EXPECT_EQ(str_at(valued.json(), "reserved_amount"), "900");

  // 100 + 1300 + 900 used: 3700 left. 3000 + 1000 is refused whole and reserves nothing.
  EXPECT_EQ(outcome(post("/v1/transactions", R"({"type":"BATCH","children":[)" +
                                                 transfer(kFriend, "3000") + "," +
                                                 transfer(kFriend, "1000") + "]}")),
            "DENY TIER_NOTIFY LIMIT_WINDOW_EXCEEDED");
  EXPECT_EQ(outcome(post("/v1/transactions", transfer(kFriend, "3700"))),
            "ALLOW NOTIFY TIER_NOTIFY");
  EXPECT_EQ(outcome(post("/v1/transactions", transfer(kFriend, "1"))),
            "DENY LIMIT_WINDOW_EXCEEDED");

  // The batch settles like any transaction with one reserved amount.
  Response confirmed =
      client_->request("POST", "/v1/transactions/" + str_at(pair.json(), "id") + "/confirm", "{}",
                       bearer_headers(token_));
  EXPECT_EQ(confirmed.status, 200) << confirmed.describe();
  EXPECT_EQ(str_at(confirmed.json(), "status"), "CONFIRMED");
}

}  // namespace
}  // namespace warden::testing
