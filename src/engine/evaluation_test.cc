// The request side of a decision fails closed: an APPROVE without a readable allowance, a model
// allow-list on requests that name no model, a re-spelled action, and a BATCH decided as its
// children with the summed amounts reserved all or nothing.
#include <gtest/gtest.h>

#include "core/json.h"
#include "engine/engine.h"

namespace warden::engine {
namespace {

constexpr std::int64_t kNowMs = 1'767'225'600'000;  // 2026-01-01T00:00:00Z
const std::string kAgent = "0193a4f0-7c1e-7b3a-9d2e-5f1c0a9b8e7d";
const std::string kFriend = "0x1111111111111111111111111111111111111111";
const std::string kStranger = "0x2222222222222222222222222222222222222222";
const std::string kRouter = "0x7a250d5630b4cf539739df2c5dacb4c659f2488d";

PolicyInput policy(std::string id, std::string type, std::string rules_json,
                   std::int64_t priority = 0) {
  auto rules = parse_json(rules_json);
  EXPECT_TRUE(rules.ok()) << rules_json;
  return {std::move(id), std::nullopt, std::move(type), rules->as_object(), priority, true};
}

Request action(std::string name, boost::json::object attributes = {}) {
  Request r;
  r.agent_id = kAgent;
  r.action = std::move(name);
  r.attributes = std::move(attributes);
  r.now_ms = kNowMs;
  return r;
}

Request transfer(const std::string& to, std::uint64_t amount) {
  Request r = action("TRANSFER", {{"to", to}, {"network", "mainnet"}});
  r.amounts["native"] = Amount(amount);
  return r;
}

Request approve(std::optional<boost::json::value> amount) {
  Request r = action("APPROVE", {{"spender", kRouter}});
  if (amount) r.attributes["amount"] = *amount;
  return r;
}

// A BATCH the way engine/request_mapping.h builds it: the children, and their sum per asset.
Request batch(std::vector<Request> children) {
  Request b = action("BATCH", {{"network", "mainnet"}});
  for (const Request& c : children) {
    for (const auto& [asset, amount] : c.amounts)
      b.amounts[asset] = *b.amounts[asset].checked_add(amount);
  }
  b.children = std::move(children);
  return b;
}

std::vector<std::string> codes(const Decision& d) {
  std::vector<std::string> out;
  for (const auto& r : d.reasons) {
    out.push_back((r.child ? "child " + std::to_string(*r.child) + " " : "") + r.policy_id + ":" +
                  r.code);
  }
  return out;
}

// Was: a missing or unparsable allowance counted as 0 and passed the cap.
TEST(Evaluation, ApproveWithoutAReadableAllowanceIsDenied) {
  Engine e;
  ASSERT_TRUE(
      e.load_policies({policy("cap", "APPROVE_AMOUNT_LIMIT", R"({"max_amount":"1000"})")}).ok());
  EXPECT_EQ(e.decide(approve(boost::json::value("1000")), "r", false, false).outcome,
            Outcome::kInstant);
  EXPECT_EQ(codes(e.decide(approve(boost::json::value("1001")), "r", false, false)),
            std::vector<std::string>{"cap:APPROVE_AMOUNT_EXCEEDED"});
  EXPECT_EQ(codes(e.decide(approve(std::nullopt), "r", false, false)),
            std::vector<std::string>{"cap:ATTRIBUTE_MISSING"});
  for (const boost::json::value& bad :
       {boost::json::value("lots"), boost::json::value("-1"), boost::json::value("1.5"),
        boost::json::value(""), boost::json::value(5), boost::json::value(nullptr)}) {
    const Decision d = e.decide(approve(bad), "r", false, true);
    EXPECT_FALSE(d.allowed()) << bad;
    ASSERT_EQ(d.reasons.size(), 1u) << bad;
    EXPECT_EQ(d.reasons[0].code, bad.is_null() ? "ATTRIBUTE_MISSING" : "ATTRIBUTE_INVALID") << bad;
    EXPECT_EQ(d.trace.at(0).outcome, Outcome::kDeny);
  }
  // A native amount does not stand in for the allowance either.
  Request spends = approve(std::nullopt);
  spends.amounts["native"] = Amount(1);
  EXPECT_FALSE(e.decide(spends, "r", false, false).allowed());
}

// Was: a global MODEL_ALLOWLIST denied every wallet request with ATTRIBUTE_MISSING.
TEST(Evaluation, ModelAllowListChecksOnlyRequestsThatNameAModel) {
  Engine e;
  ASSERT_TRUE(
      e.load_policies({policy("models", "MODEL_ALLOWLIST", R"({"models":["gpt-4o*"]})")}).ok());
  const Decision wallet = e.decide(transfer(kFriend, 5), "r", false, true);
  EXPECT_EQ(wallet.outcome, Outcome::kInstant);
  ASSERT_EQ(wallet.trace.size(), 1u);
  EXPECT_EQ(wallet.trace[0].detail, "absent: not checked");
  EXPECT_EQ(e.decide(action("LLM.CALL"), "r", false, false).outcome, Outcome::kInstant);
  EXPECT_EQ(e.decide(action("LLM.CALL", {{"model", "gpt-4o-mini"}}), "r", false, false).outcome,
            Outcome::kInstant);
  EXPECT_EQ(codes(e.decide(action("LLM.CALL", {{"model", "claude-3"}}), "r", false, false)),
            std::vector<std::string>{"models:MODEL_NOT_ALLOWED"});
  // A model that is there but not a string is not "absent".
  EXPECT_EQ(codes(e.decide(action("LLM.CALL", {{"model", 4}}), "r", false, false)),
            std::vector<std::string>{"models:ATTRIBUTE_INVALID"});
}

TEST(Evaluation, ARequiredAttributeOfTheWrongTypeIsDenied) {
  Engine e;
  ASSERT_TRUE(e.load_policies(
                   {policy("wl", "WHITELIST", R"({"allowed_addresses":[")" + kFriend + R"("]})")})
                  .ok());
  Request r = transfer(kFriend, 1);
  r.attributes["to"] = boost::json::array{kFriend};
  EXPECT_EQ(codes(e.decide(r, "r", false, false)),
            std::vector<std::string>{"wl:ATTRIBUTE_INVALID"});
}

// Was: "transfer" escaped a WHITELIST that "TRANSFER" hits.
TEST(Evaluation, WalletActionsMatchInAnyCase) {
  Engine e;
  ASSERT_TRUE(e.load_policies(
                   {policy("wl", "WHITELIST", R"({"allowed_addresses":[")" + kFriend + R"("]})")})
                  .ok());
  for (const char* spelling : {"TRANSFER", "transfer", "Transfer"}) {
    Request r = transfer(kStranger, 1);
    r.action = spelling;
    EXPECT_EQ(codes(e.decide(r, "r", false, false)),
              std::vector<std::string>{"wl:ADDRESS_NOT_WHITELISTED"})
        << spelling;
  }
}

const char* kLimits = R"({"instant_max":"1000","notify_max":"5000",
                          "windows":[{"duration":"1d","max":"10000"}]})";

// Was: a BATCH carried no amount (ALLOW INSTANT, nothing reserved) and no `to` the WHITELIST read.
TEST(Evaluation, BatchIsDecidedAsItsChildren) {
  Engine e;
  ASSERT_TRUE(e.load_policies(
                   {policy("limits", "SPENDING_LIMIT", kLimits),
                    policy("wl", "WHITELIST", R"({"allowed_addresses":[")" + kFriend + R"("]})")})
                  .ok());
  const Decision ok =
      e.decide(batch({transfer(kFriend, 400), transfer(kFriend, 700)}), "b0", true, false);
  // Each child is INSTANT on its own; their sum (1100) is in the NOTIFY tier, and is reserved.
  EXPECT_EQ(ok.outcome, Outcome::kNotify);
  EXPECT_EQ(codes(ok), std::vector<std::string>{"limits:TIER_NOTIFY"});
  ASSERT_EQ(ok.charges.size(), 1u);
  EXPECT_EQ(ok.charges[0].amount, Amount(1100));
  EXPECT_EQ(e.meter_total(kAgent, "limits/native/1d", kNowMs), Amount(1100));

  const Decision bad =
      e.decide(batch({transfer(kFriend, 1), transfer(kStranger, 2), transfer(kStranger, 3)}), "b1",
               true, true);
  EXPECT_FALSE(bad.allowed());
  EXPECT_EQ(codes(bad), (std::vector<std::string>{"child 1 wl:ADDRESS_NOT_WHITELISTED",
                                                  "child 2 wl:ADDRESS_NOT_WHITELISTED"}));
  EXPECT_EQ(bad.reasons[0].message.rfind("child 1: ", 0), 0u) << bad.reasons[0].message;
  EXPECT_TRUE(bad.charges.empty());
  EXPECT_EQ(e.meter_total(kAgent, "limits/native/1d", kNowMs), Amount(1100));
  bool traced = false;
  for (const auto& t : bad.trace) traced = traced || t.step == "child 2: match:set(to)";
  EXPECT_TRUE(traced);
  const boost::json::object j = decision_json(bad, false);
  EXPECT_EQ(j.at("reasons").as_array()[0].as_object().at("child"), 1);
  EXPECT_FALSE(decision_json(ok, false).at("reasons").as_array()[0].as_object().contains("child"));
}

TEST(Evaluation, BatchReservesTheSumAllOrNothing) {
  Engine e;
  ASSERT_TRUE(e.load_policies({policy("limits", "SPENDING_LIMIT", kLimits)}).ok());
  ASSERT_TRUE(e.decide(transfer(kFriend, 6000), "first", true, false).allowed());
  // 3000 + 2000 fits no more than 4000 left: the batch is denied and reserves nothing, though
  // its first child alone would fit.
  const Decision d =
      e.decide(batch({transfer(kFriend, 3000), transfer(kFriend, 2000)}), "b", true, false);
  EXPECT_FALSE(d.allowed());
  EXPECT_EQ(codes(d),
            (std::vector<std::string>{"limits:TIER_NOTIFY", "limits:LIMIT_WINDOW_EXCEEDED"}));
  EXPECT_EQ(e.meter_total(kAgent, "limits/native/1d", kNowMs), Amount(6000));
  const Decision fits =
      e.decide(batch({transfer(kFriend, 3000), transfer(kFriend, 1000)}), "b2", true, false);
  EXPECT_TRUE(fits.allowed());
  EXPECT_EQ(e.meter_total(kAgent, "limits/native/1d", kNowMs), Amount(10000));
  e.release(kAgent, "b2");
  EXPECT_EQ(e.meter_total(kAgent, "limits/native/1d", kNowMs), Amount(6000));
}

TEST(Evaluation, BatchChildrenMeetTheStepsOfTheirOwnAction) {
  Engine e;
  ASSERT_TRUE(
      e.load_policies(
           {policy("cap", "APPROVE_AMOUNT_LIMIT", R"({"max_amount":"10"})"),
            policy("spenders", "APPROVED_SPENDERS", R"({"spenders":[")" + kRouter + R"("]})"),
            policy("nets", "ALLOWED_NETWORKS", R"({"networks":["mainnet"]})"),
            policy("big", "CUSTOM",
                   R"({"pre":"action != 'APPROVE' && amount > 100","effect":"DELAY"})")})
          .ok());
  Request too_much = approve(boost::json::value("11"));
  too_much.attributes["network"] = "mainnet";
  const Decision d =
      e.decide(batch({transfer(kFriend, 60), too_much, transfer(kFriend, 50)}), "b", false, false);
  // The approval's cap speaks for child 1; the CUSTOM rule sees the batch's sum (110) but no
  // single child above 100; the network is the batch's and is checked once.
  EXPECT_EQ(codes(d), (std::vector<std::string>{"big:CUSTOM_CONDITION",
                                                "child 1 cap:APPROVE_AMOUNT_EXCEEDED"}));
  EXPECT_EQ(d.reasons[1].child, 1u);
  EXPECT_FALSE(d.reasons[0].child.has_value());
  Request testnet = batch({transfer(kFriend, 1)});
  testnet.attributes["network"] = "testnet";
  EXPECT_EQ(codes(e.decide(testnet, "b", false, false)),
            std::vector<std::string>{"nets:NETWORK_NOT_ALLOWED"});
}

// Stored rows are saved canonical; one that is not does not compile rather than never matching.
TEST(Evaluation, ANonCanonicalAssetDoesNotCompile) {
  EXPECT_FALSE(
      compile(policy("p", "SPENDING_LIMIT", R"({"instant_max":"1","asset":"NATIVE"})")).ok());
  auto upper = compile(
      policy("p", "SPENDING_LIMIT",
             R"({"instant_max":"1","asset":"0xDEADBEEFDEADBEEFDEADBEEFDEADBEEFDEADBEEF"})"));
  ASSERT_TRUE(upper.ok());
  EXPECT_EQ(std::get<TierThresholds>(upper->steps[0]).asset,
            "0xdeadbeefdeadbeefdeadbeefdeadbeefdeadbeef");
}

}  // namespace
}  // namespace warden::engine
