// Metered (LLM gateway) requests in the engine: TOKEN_LIMIT per agent and per model, per-asset
// settlement, CUSTOM `post` variables and cooldowns.
#include <gtest/gtest.h>

#include "core/json.h"
#include "engine/engine.h"

namespace warden::engine {
namespace {

constexpr std::int64_t kNowMs = 1'767'225'600'000;  // 2026-01-01T00:00:00Z
constexpr std::int64_t kMinuteMs = 60'000;
const std::string kAgent = "agent-1";

PolicyInput policy(std::string id, std::string type, std::string rules_json,
                   std::optional<std::string> agent = std::nullopt) {
  auto rules = parse_json(rules_json);
  EXPECT_TRUE(rules.ok()) << rules_json;
  return {std::move(id), std::move(agent), std::move(type), rules->as_object(), 0, true};
}

Request chat(std::uint64_t tokens, std::string model = "gpt-4o", std::int64_t now_ms = kNowMs) {
  Request r;
  r.agent_id = kAgent;
  r.action = "LLM_CHAT";
  r.attributes["model"] = model;
  r.amounts[std::string(kLlmTokensAsset)] = Amount(tokens);
  r.now_ms = now_ms;
  return r;
}

TEST(EngineTokenLimit, ReservesTheEstimateAndDeniesPastMax) {
  // Only the gateway puts tokens on a request: a request body cannot name the asset.
  EXPECT_FALSE(policy::canonical_asset(kLlmTokensAsset));
  Engine e;
  ASSERT_TRUE(e.load_policies({policy("t", "TOKEN_LIMIT",
                                      R"({"max_tokens":150,"window":"1h","scope":"agent"})")})
                  .ok());
  Decision first = e.decide(chat(100), "r1", true, false);
  ASSERT_TRUE(first.allowed());
  ASSERT_EQ(first.charges.size(), 1u);
  EXPECT_EQ(first.charges[0].usage, "t/llm_tokens");
  EXPECT_EQ(first.charges[0].asset, "llm_tokens");
  EXPECT_EQ(e.meter_total(kAgent, "t/llm_tokens/1h", kNowMs), Amount(100));
  // Another model counts in the same agent-wide window.
  Decision over = e.decide(chat(51, "claude-3-5-sonnet"), "r2", true, false);
  ASSERT_FALSE(over.allowed());
  EXPECT_EQ(over.reasons[0].code, "TOKEN_LIMIT_EXCEEDED");
  EXPECT_EQ(over.reasons[0].message, "1h window: 100 used + 51 requested > 150");
  // A wallet request carries no llm_tokens: it is charged nothing and never denied here.
  Request transfer;
  transfer.agent_id = kAgent;
  transfer.action = "TRANSFER";
  transfer.attributes["to"] = "x";
  transfer.amounts["native"] = Amount(1'000'000);
  transfer.now_ms = kNowMs;
  Decision wallet = e.decide(transfer, "w", true, false);
  EXPECT_TRUE(wallet.allowed());
  EXPECT_TRUE(wallet.charges.empty());
}

TEST(EngineTokenLimit, PerModelScopeGivesEachModelItsOwnWindow) {
  Engine e;
  ASSERT_TRUE(e.load_policies({policy("t", "TOKEN_LIMIT",
                                      R"({"max_tokens":150,"window":"1h","scope":"model"})")})
                  .ok());
  Decision a = e.decide(chat(150, "gpt-4o"), "a", true, false);
  ASSERT_TRUE(a.allowed());
  ASSERT_EQ(a.charges.size(), 1u);
  EXPECT_EQ(a.charges[0].usage, "t/llm_tokens@gpt-4o");
  EXPECT_TRUE(e.decide(chat(150, "gpt-4o-mini"), "b", true, false).allowed());
  Decision again = e.decide(chat(1, "gpt-4o"), "c", true, false);
  ASSERT_FALSE(again.allowed());
  EXPECT_EQ(again.reasons[0].code, "TOKEN_LIMIT_EXCEEDED");
  EXPECT_EQ(e.meter_total(kAgent, "t/llm_tokens/1h@gpt-4o", kNowMs), Amount(150));
  EXPECT_EQ(e.meter_total(kAgent, "t/llm_tokens/1h@gpt-4o-mini", kNowMs), Amount(150));
  EXPECT_EQ(e.stats().meters, 2u);
  // A reload that keeps the policy keeps its per-model meters (they are not "unused").
  ASSERT_TRUE(
      e.load_policies(
           {policy("t", "TOKEN_LIMIT", R"({"max_tokens":150,"window":"1h","scope":"model"})"),
            policy("other", "RATE_LIMIT", R"({"max_requests":5,"window":"1m"})")})
          .ok());
  EXPECT_EQ(e.meter_total(kAgent, "t/llm_tokens/1h@gpt-4o", kNowMs), Amount(150));
  // Released: that model's window is free again; the other keeps its usage.
  e.release(kAgent, "a");
  EXPECT_EQ(e.meter_total(kAgent, "t/llm_tokens/1h@gpt-4o", kNowMs), Amount(0));
  EXPECT_EQ(e.meter_total(kAgent, "t/llm_tokens/1h@gpt-4o-mini", kNowMs), Amount(150));
}

TEST(EngineTokenLimit, PerModelMetersAreRebuiltFromHistoryAndRestoredCharges) {
  Engine e;
  std::vector<std::string> asked;
  UsageHistory history = [&](const std::string& usage, std::int64_t since_ms,
                             const UsageSink& sink) {
    asked.push_back(usage);
    if (usage == "t/llm_tokens@") {
      sink(kAgent, kNowMs - 10 * kMinuteMs, Amount(40), "t/llm_tokens@gpt-4o");
      sink(kAgent, kNowMs - 10 * kMinuteMs, Amount(70), "t/llm_tokens@o3");
      if (since_ms <= kNowMs - 120 * kMinuteMs) {
        ADD_FAILURE() << "asked from before the window";
      }
    }
    return Status();
  };
  ASSERT_TRUE(e.load_policies({policy("t", "TOKEN_LIMIT",
                                      R"({"max_tokens":150,"window":"1h","scope":"model"})")},
                              history, kNowMs)
                  .ok());
  EXPECT_EQ(asked, std::vector<std::string>{"t/llm_tokens@"});
  EXPECT_EQ(e.meter_total(kAgent, "t/llm_tokens/1h@gpt-4o", kNowMs), Amount(40));
  EXPECT_EQ(e.meter_total(kAgent, "t/llm_tokens/1h@o3", kNowMs), Amount(70));
  // An open reservation restored at start-up is held per model too and settles per asset.
  e.restore(kAgent, "open", {{"t/llm_tokens@gpt-4o", MeterKind::kAmount, Amount(100), kNowMs, ""}},
            true);
  EXPECT_EQ(e.meter_total(kAgent, "t/llm_tokens/1h@gpt-4o", kNowMs), Amount(140));
  EXPECT_FALSE(e.decide(chat(11, "gpt-4o"), "x", true, false).allowed());
  ASSERT_TRUE(
      e.settle(kAgent, "open", std::map<std::string, Amount>{{"llm_tokens", Amount(10)}}).ok());
  EXPECT_EQ(e.meter_total(kAgent, "t/llm_tokens/1h@gpt-4o", kNowMs), Amount(50));
  // The agent-wide scope counts every model's recorded usage.
  asked.clear();
  ASSERT_TRUE(e.load_policies({policy("t", "TOKEN_LIMIT",
                                      R"({"max_tokens":150,"window":"1h","scope":"agent"})")},
                              history, kNowMs)
                  .ok());
  EXPECT_EQ(asked, (std::vector<std::string>{"t/llm_tokens", "t/llm_tokens@"}));
  EXPECT_EQ(e.meter_total(kAgent, "t/llm_tokens/1h", kNowMs), Amount(110));
  EXPECT_EQ(e.meter_total(kAgent, "t/llm_tokens/1h@gpt-4o", kNowMs), Amount(0));  // freed
}

TEST(EngineSettle, PerAssetFinalAmountsLowerRaiseOrKeepEachCharge) {
  Engine e;
  ASSERT_TRUE(e.load_policies({policy("t", "TOKEN_LIMIT", R"({"max_tokens":150,"window":"1h"})"),
                               policy("s", "SPENDING_LIMIT",
                                      R"({"asset":"native","instant_max":"1000",)"
                                      R"("windows":[{"duration":"1h","max":"1000"}]})"),
                               policy("r", "RATE_LIMIT", R"({"max_requests":5,"window":"1h"})")})
                  .ok());
  Request r = chat(100);
  r.amounts["native"] = Amount(500);
  ASSERT_TRUE(e.decide(r, "r1", true, false).allowed());
  ASSERT_TRUE(
      e.settle(kAgent, "r1", std::map<std::string, Amount>{{"llm_tokens", Amount(40)}}).ok());
  EXPECT_EQ(e.meter_total(kAgent, "t/llm_tokens/1h", kNowMs), Amount(40));
  EXPECT_EQ(e.meter_total(kAgent, "s/native/1h", kNowMs), Amount(500));  // not named: as reserved
  EXPECT_EQ(e.meter_total(kAgent, "r/requests/1h", kNowMs), Amount(1));
  EXPECT_TRUE(e.decide(chat(110), "r2", true, false).allowed());
  // More than reserved happened: it counts in full, past max.
  ASSERT_TRUE(
      e.settle(kAgent, "r2", std::map<std::string, Amount>{{"llm_tokens", Amount(200)}}).ok());
  EXPECT_EQ(e.meter_total(kAgent, "t/llm_tokens/1h", kNowMs), Amount(240));
  Decision over = e.decide(chat(1), "r3", true, false);
  ASSERT_FALSE(over.allowed());
  EXPECT_EQ(over.reasons[0].code, "TOKEN_LIMIT_EXCEEDED");
  // A request without a token estimate is not the TOKEN_LIMIT's to refuse.
  Request transfer;
  transfer.agent_id = kAgent;
  transfer.action = "TRANSFER";
  transfer.attributes["to"] = "x";
  transfer.amounts["native"] = Amount(10);
  transfer.now_ms = kNowMs;
  EXPECT_TRUE(e.decide(transfer, "w", true, false).allowed());
  // Settled once: a second settle of the same reservation changes nothing.
  ASSERT_TRUE(
      e.settle(kAgent, "r2", std::map<std::string, Amount>{{"llm_tokens", Amount(0)}}).ok());
  EXPECT_EQ(e.meter_total(kAgent, "t/llm_tokens/1h", kNowMs), Amount(240));
}

TEST(EngineCustomPost, PostReadsTheUsageVariablesAndPreMayNot) {
  EXPECT_FALSE(
      compile(policy("c", "CUSTOM", R"({"pre":"total_tokens > 5","effect":"DENY"})")).ok());
  Engine e;
  ASSERT_TRUE(
      e
          .load_policies({policy(
              "c", "CUSTOM",
              R"({"post":"total_tokens > 1000 || latency_ms > 30000 || prompt_tokens + completion_tokens != total_tokens || response_size_bytes > 1000000","effect":"DENY","message":"heavy"})")})
          .ok());
  Request r = chat(10);
  r.attributes["prompt_tokens"] = 600;
  r.attributes["completion_tokens"] = 300;
  r.attributes["total_tokens"] = 900;
  r.attributes["latency_ms"] = 1200;
  r.attributes["response_size_bytes"] = 4000;
  EXPECT_TRUE(e.post_checks(r).empty());
  r.attributes["completion_tokens"] = 500;
  r.attributes["total_tokens"] = 1100;
  const std::vector<Reason> reasons = e.post_checks(r);
  ASSERT_EQ(reasons.size(), 1u);
  EXPECT_EQ(reasons[0].code, "CUSTOM_POST_CONDITION");
  EXPECT_EQ(reasons[0].until_ms, 0);  // no cooldown: only recorded
  // The pre env does not know them; the post env does.
  const policy::ValidateOptions options = custom_validate_options();
  EXPECT_TRUE(options.check_expression("/rules/post", "total_tokens > 1000").empty());
  const auto pre = options.check_expression("/rules/pre", "total_tokens > 1000");
  ASSERT_EQ(pre.size(), 1u);
  EXPECT_EQ(pre[0].code, "EXPRESSION_INVALID");
  // Saving a policy runs the same checks.
  auto spec = policy::parse_spec(
      *parse_json(R"({"type":"CUSTOM","rules":{"post":"total_tokens > 1000","effect":"DENY"}})"));
  ASSERT_TRUE(spec.ok());
  EXPECT_FALSE(policy::validate(*spec, options).has_blocker());
  auto pre_spec = policy::parse_spec(
      *parse_json(R"({"type":"CUSTOM","rules":{"pre":"latency_ms > 10","effect":"DENY"}})"));
  ASSERT_TRUE(pre_spec.ok());
  EXPECT_TRUE(policy::validate(*pre_spec, options).has_blocker());
}

TEST(EngineCustomPost, ACooldownAppliesTheEffectToTheAgentsNextDecisions) {
  Engine e;
  const PolicyInput p = policy(
      "c", "CUSTOM",
      R"({"post":"total_tokens > 1000","effect":"DENY","message":"too many tokens","cooldown":"5m"})");
  auto compiled = compile(p);
  ASSERT_TRUE(compiled.ok());
  EXPECT_EQ(ir_to_json(*compiled).at("post").as_array()[0].as_object().at("cooldown"), "5m");
  ASSERT_TRUE(e.load_policies({p}).ok());
  EXPECT_EQ(e.max_post_cooldown_ms(), 5 * kMinuteMs);
  Request r = chat(10);
  r.attributes["total_tokens"] = 1500;
  const std::vector<Reason> reasons = e.post_checks(r);
  ASSERT_EQ(reasons.size(), 1u);
  EXPECT_EQ(reasons[0].until_ms, kNowMs + 5 * kMinuteMs);
  // post_checks only reports: the caller applies it once the settlement is stored.
  EXPECT_TRUE(e.decide(chat(10), "", false, false).allowed());
  e.post_matched(kAgent, "c", reasons[0].until_ms);
  Decision d = e.decide(chat(10, "gpt-4o", kNowMs + kMinuteMs), "", false, false);
  ASSERT_FALSE(d.allowed());
  ASSERT_EQ(d.reasons.size(), 1u);
  EXPECT_EQ(d.reasons[0].code, "CUSTOM_POST_CONDITION");
  EXPECT_EQ(d.reasons[0].policy_id, "c");
  EXPECT_EQ(d.reasons[0].message,
            "too many tokens (post condition matched; applies until 2026-01-01T00:05:00.000Z)");
  // Other agents are not affected; after the cooldown the agent is not either.
  Request other = chat(10, "gpt-4o", kNowMs + kMinuteMs);
  other.agent_id = "agent-2";
  EXPECT_TRUE(e.decide(other, "", false, false).allowed());
  EXPECT_TRUE(e.decide(chat(10, "gpt-4o", kNowMs + 5 * kMinuteMs), "", false, false).allowed());
  // A policy reloaded without the cooldown applies nothing.
  e.post_matched(kAgent, "c", kNowMs + 10 * kMinuteMs);
  ASSERT_TRUE(
      e.load_policies({policy("c", "CUSTOM", R"({"post":"total_tokens > 1000","effect":"DENY"})")})
          .ok());
  EXPECT_TRUE(e.decide(chat(10, "gpt-4o", kNowMs + kMinuteMs), "", false, false).allowed());
  EXPECT_EQ(e.max_post_cooldown_ms(), 0);
}

}  // namespace
}  // namespace warden::engine
