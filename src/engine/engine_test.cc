#include "engine/engine.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "core/json.h"

namespace warden::engine {
namespace {

constexpr std::int64_t kNowMs = 1'767'225'600'000;  // 2026-01-01T00:00:00Z, Thursday
const std::string kAgent = "0193a4f0-7c1e-7b3a-9d2e-5f1c0a9b8e7d";

PolicyInput policy(std::string id, std::string type, std::string rules_json,
                   std::optional<std::string> agent = std::nullopt, std::int64_t priority = 0) {
  auto rules = parse_json(rules_json);
  EXPECT_TRUE(rules.ok()) << rules_json;
  return {std::move(id), std::move(agent), std::move(type), rules->as_object(), priority, true};
}

Request transfer(std::string to, std::uint64_t amount, std::int64_t now_ms = kNowMs) {
  Request r;
  r.agent_id = kAgent;
  r.action = "TRANSFER";
  r.attributes["to"] = to;
  r.amounts["native"] = Amount(amount);
  r.now_ms = now_ms;
  return r;
}

const char* kSpending =
    R"({"instant_max":"1000","notify_max":"5000","delay_max":"20000","delay_seconds":300,
        "approval_timeout_seconds":3600,"asset":"native",
        "windows":[{"duration":"1d","max":"50000"}]})";

TEST(Engine, SpendingLimitTiers) {
  Engine e;
  ASSERT_TRUE(e.load_policies({policy("p1", "SPENDING_LIMIT", kSpending)}).ok());
  struct Case { std::uint64_t amount; Outcome tier; };
  for (auto c : {Case{1000, Outcome::kInstant}, Case{1001, Outcome::kNotify},
                 Case{5000, Outcome::kNotify}, Case{20000, Outcome::kDelay},
                 Case{20001, Outcome::kApproval}}) {
    Decision d = e.decide(transfer("x", c.amount), "r", false, false);
    EXPECT_EQ(d.outcome, c.tier) << c.amount;
  }
  Decision d = e.decide(transfer("x", 20000), "r", false, false);
  EXPECT_EQ(d.delay_seconds, 300);
  d = e.decide(transfer("x", 30000), "r", false, false);
  EXPECT_EQ(d.approval_timeout_seconds, 3600);
  ASSERT_EQ(d.reasons.size(), 1u);
  EXPECT_EQ(d.reasons[0].code, "TIER_APPROVAL");
}

TEST(Engine, WindowCountsReservedAndDeniesOverMax) {
  Engine e;
  ASSERT_TRUE(e.load_policies({policy("p1", "SPENDING_LIMIT", kSpending)}).ok());
  const std::string meter = "p1/native/1d";
  for (int i = 0; i < 5; ++i) {
    Decision d = e.decide(transfer("x", 10000), "r" + std::to_string(i), true, false);
    ASSERT_TRUE(d.allowed());
    ASSERT_EQ(d.charges.size(), 1u);
  }
  EXPECT_EQ(e.meter_total(kAgent, meter, kNowMs), Amount(50000));
  Decision denied = e.decide(transfer("x", 1), "r5", true, false);
  EXPECT_FALSE(denied.allowed());
  EXPECT_EQ(denied.reasons.back().code, "LIMIT_WINDOW_EXCEEDED");
  EXPECT_TRUE(denied.charges.empty());
  // Settling below the reservation frees the difference; releasing frees all of it.
  ASSERT_TRUE(e.settle(kAgent, "r0", Amount(4000)).ok());
  EXPECT_EQ(e.meter_total(kAgent, meter, kNowMs), Amount(44000));
  e.release(kAgent, "r1");
  EXPECT_EQ(e.meter_total(kAgent, meter, kNowMs), Amount(34000));
  EXPECT_EQ(e.settle(kAgent, "r2", Amount(10001)).code(), ErrorCode::TX_AMOUNT_EXCEEDS_RESERVED);
  // The calendar day rolls over at midnight UTC.
  EXPECT_EQ(e.meter_total(kAgent, meter, kNowMs + 86'400'000), Amount(0));
}

TEST(Engine, AllOrNothingAcrossTwoWindows) {
  Engine e;
  ASSERT_TRUE(e.load_policies({policy("a", "SPENDING_LIMIT",
                                      R"({"instant_max":"100000","windows":[{"duration":"1h","max":"100"},{"duration":"1d","max":"1000"}]})")})
                  .ok());
  ASSERT_TRUE(e.decide(transfer("x", 100), "r0", true, false).allowed());
  // The hour window is full: the day window must not be charged either.
  EXPECT_FALSE(e.decide(transfer("x", 50), "r1", true, false).allowed());
  EXPECT_EQ(e.meter_total(kAgent, "a/native/1d", kNowMs), Amount(100));
  EXPECT_EQ(e.meter_total(kAgent, "a/native/1h", kNowMs), Amount(100));
}

TEST(Engine, WhitelistIsCaseInsensitiveForEvmAndExactForSolana) {
  Engine e;
  ASSERT_TRUE(e.load_policies({policy("w", "WHITELIST",
                                      R"({"allowed_addresses":["0xabcdefabcdefabcdefabcdefabcdefabcdefabcd","So1anaAddre55xxxxxxxxxxxxxxxxxxxxx"]})")})
                  .ok());
  EXPECT_TRUE(e.decide(transfer("0xABCDEFabcdefabcdefabcdefabcdefabcdefABCD", 1), "r", false, false).allowed());
  EXPECT_TRUE(e.decide(transfer("So1anaAddre55xxxxxxxxxxxxxxxxxxxxx", 1), "r", false, false).allowed());
  Decision d = e.decide(transfer("so1anaaddre55xxxxxxxxxxxxxxxxxxxxx", 1), "r", false, false);
  ASSERT_FALSE(d.allowed());
  EXPECT_EQ(d.reasons[0].code, "ADDRESS_NOT_WHITELISTED");
  Request no_to = transfer("", 1);
  no_to.attributes.erase("to");
  EXPECT_EQ(e.decide(no_to, "r", false, false).reasons[0].code, "ATTRIBUTE_MISSING");
  // CONTRACT_CALL is not a transfer: the whitelist does not apply.
  Request call = transfer("anything", 1);
  call.action = "CONTRACT_CALL";
  EXPECT_TRUE(e.decide(call, "r", false, false).allowed());
}

TEST(Engine, GlobalAndAgentPoliciesCombineStrictestWins) {
  Engine e;
  ASSERT_TRUE(e.load_policies({policy("g", "SPENDING_LIMIT", R"({"instant_max":"100","notify_max":"1000"})"),
                               policy("a", "SPENDING_LIMIT", R"({"instant_max":"10","delay_max":"500"})",
                                      kAgent, 5)})
                  .ok());
  Decision d = e.decide(transfer("x", 50), "r", false, true);
  EXPECT_EQ(d.outcome, Outcome::kDelay);  // agent policy: delay; global: instant
  ASSERT_EQ(d.reasons.size(), 1u);
  EXPECT_EQ(d.reasons[0].policy_id, "a");
  EXPECT_EQ(d.trace.size(), 2u);
  EXPECT_EQ(d.trace[0].policy_id, "a");  // higher priority first
  // Another agent sees only the global policy.
  Request other = transfer("x", 50);
  other.agent_id = "someone-else";
  EXPECT_EQ(e.decide(other, "r", false, false).outcome, Outcome::kInstant);
}

TEST(Engine, RateLimitCountsRequests) {
  Engine e;
  ASSERT_TRUE(e.load_policies({policy("rl", "RATE_LIMIT", R"({"max_requests":3,"window":"1m"})")}).ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(e.decide(transfer("x", 0), "r" + std::to_string(i), true, false).allowed());
  Decision d = e.decide(transfer("x", 0), "r3", true, false);
  ASSERT_FALSE(d.allowed());
  EXPECT_EQ(d.reasons[0].code, "RATE_LIMIT_EXCEEDED");
  EXPECT_TRUE(e.decide(transfer("x", 0, kNowMs + 60'000), "r4", true, false).allowed());
}

TEST(Engine, TimeRestrictionUsesTheZone) {
  Engine e;
  // Seoul is UTC+9: 00:00Z Thursday is 09:00 Thursday there.
  ASSERT_TRUE(e.load_policies({policy("t", "TIME_RESTRICTION",
                                      R"({"time_zone":"Asia/Seoul","allowed":[{"days":["thu"],"start_hour":9,"end_hour":10}],"effect":"DENY"})")})
                  .ok());
  EXPECT_TRUE(e.decide(transfer("x", 1, kNowMs), "r", false, false).allowed());
  Decision d = e.decide(transfer("x", 1, kNowMs + 3'600'000), "r", false, false);
  ASSERT_FALSE(d.allowed());
  EXPECT_EQ(d.reasons[0].code, "TIME_RESTRICTED");
}

TEST(Engine, TimeRestrictionKeepsDaylightSavingTimeAfter2037) {
  Engine e;
  ASSERT_TRUE(e.load_policies({policy("t", "TIME_RESTRICTION",
                                      R"({"time_zone":"America/New_York","allowed":[{"days":["sun","mon","tue","wed","thu","fri","sat"],"start_hour":8,"end_hour":9}],"effect":"DENY"})")})
                  .ok());
  // 12:00Z is 08:00 EDT in July; in 2038 and 2040 the zone's rule past the tzdata's last
  // transition (2037) must still give daylight saving time.
  constexpr std::int64_t kJuly2037 = 2'130'062'400'000;  // 2037-07-01T12:00:00Z
  constexpr std::int64_t kJuly2038 = 2'161'598'400'000;  // 2038-07-01T12:00:00Z
  constexpr std::int64_t kJuly2040 = 2'224'756'800'000;  // 2040-07-01T12:00:00Z
  constexpr std::int64_t kJan2040 = 2'210'238'000'000;   // 2040-01-15T11:00:00Z, 06:00 EST
  EXPECT_TRUE(e.decide(transfer("x", 1, kJuly2037), "r1", false, false).allowed());
  EXPECT_TRUE(e.decide(transfer("x", 1, kJuly2038), "r2", false, false).allowed());
  EXPECT_TRUE(e.decide(transfer("x", 1, kJuly2040), "r3", false, false).allowed());
  EXPECT_FALSE(e.decide(transfer("x", 1, kJan2040), "r4", false, false).allowed());
  EXPECT_TRUE(e.decide(transfer("x", 1, kJan2040 + 2 * 3'600'000), "r5", false, false).allowed());
}

TEST(Engine, RestoreRebuildsMetersAndHolds) {
  Engine e;
  ASSERT_TRUE(e.load_policies({policy("p1", "SPENDING_LIMIT", kSpending)}).ok());
  e.restore(kAgent, "held", {{"p1/native", MeterKind::kAmount, Amount(30000), kNowMs, "native"}},
            true);
  e.restore(kAgent, "spent", {{"p1/native", MeterKind::kAmount, Amount(15000), kNowMs, "native"}},
            false);
  e.restore(kAgent, "gone", {{"deleted/native", MeterKind::kAmount, Amount(1), kNowMs, "native"}},
            true);
  EXPECT_EQ(e.meter_total(kAgent, "p1/native/1d", kNowMs), Amount(45000));
  EXPECT_FALSE(e.decide(transfer("x", 5001), "r", true, false).allowed());
  e.release(kAgent, "held");
  EXPECT_EQ(e.meter_total(kAgent, "p1/native/1d", kNowMs), Amount(15000));
}

constexpr std::int64_t kHourMs = 3'600'000;

// Settled usage as the store would stream it: one agent's rows for one usage key.
UsageHistory history_of(std::vector<std::pair<std::int64_t, std::uint64_t>> rows,
                        std::vector<std::string>* asked) {
  return [rows = std::move(rows), asked](const std::string& usage, std::int64_t since_ms,
                                         const UsageSink& sink) {
    asked->push_back(usage);
    for (const auto& [ts, amount] : rows) {
      if (ts >= since_ms) sink(kAgent, ts, Amount(amount), usage);
    }
    return Status();
  };
}

TEST(Engine, AChangedWindowCountsTheUsageInsideItAndFreesTheOldMeter) {
  Engine e;
  ASSERT_TRUE(e.load_policies({policy("p1", "SPENDING_LIMIT",
                                      R"({"windows":[{"duration":"24h","max":"50000"}]})")})
                  .ok());
  ASSERT_TRUE(e.decide(transfer("x", 30000), "open", true, false).allowed());
  // Settled 30 h ago: outside 24h, inside 48h; and 100 h ago: outside both.
  std::vector<std::string> asked;
  auto history = history_of({{kNowMs - 30 * kHourMs, 15000}, {kNowMs - 100 * kHourMs, 7}}, &asked);
  ASSERT_TRUE(e.load_policies({policy("p1", "SPENDING_LIMIT",
                                      R"({"windows":[{"duration":"48h","max":"50000"}]})")},
                              history, kNowMs)
                  .ok());
  EXPECT_EQ(asked, std::vector<std::string>{"p1/native"});
  EXPECT_EQ(e.meter_total(kAgent, "p1/native/2d", kNowMs), Amount(45000));
  EXPECT_EQ(e.meter_total(kAgent, "p1/native/1d", kNowMs), Amount(0));  // freed, not kept
  EXPECT_EQ(e.stats().meters, 1u);
  EXPECT_FALSE(e.decide(transfer("x", 5001), "r", true, false).allowed());
  // The open reservation still settles against the new window.
  e.release(kAgent, "open");
  EXPECT_EQ(e.meter_total(kAgent, "p1/native/2d", kNowMs), Amount(15000));
}

// A window built from an incomplete history would undercount: a failed read keeps the old index.
TEST(Engine, AFailedHistoryReadKeepsTheOldIndex) {
  Engine e;
  ASSERT_TRUE(e.load_policies({policy("p1", "SPENDING_LIMIT",
                                      R"({"windows":[{"duration":"24h","max":"50000"}]})")})
                  .ok());
  ASSERT_TRUE(e.decide(transfer("x", 300), "open", true, false).allowed());
  UsageHistory failing = [](const std::string&, std::int64_t, const UsageSink&) {
    return Status(ErrorCode::INTERNAL_STORE_ERROR, "disk I/O error");
  };
  const Status s = e.load_policies({policy("p1", "SPENDING_LIMIT",
                                           R"({"windows":[{"duration":"48h","max":"50000"}]})")},
                                   failing, kNowMs);
  EXPECT_EQ(s.code(), ErrorCode::INTERNAL_STORE_ERROR);
  EXPECT_EQ(e.meter_total(kAgent, "p1/native/1d", kNowMs), Amount(300));
  EXPECT_EQ(e.stats().meters, 1u);  // the half-built 2d meter is gone
}

TEST(Engine, AWindowAddedBesideAnotherStartsFromTheSameUsage) {
  Engine e;
  ASSERT_TRUE(e.load_policies({policy("p1", "SPENDING_LIMIT",
                                      R"({"windows":[{"duration":"1h","max":"1000"}]})")})
                  .ok());
  ASSERT_TRUE(e.decide(transfer("x", 600), "open", true, false).allowed());
  ASSERT_TRUE(e.load_policies({policy("p1", "SPENDING_LIMIT",
                                      R"({"windows":[{"duration":"1h","max":"1000"},
                                                     {"duration":"7d","max":"1000"}]})")})
                  .ok());
  EXPECT_EQ(e.meter_total(kAgent, "p1/native/7d", kNowMs), Amount(600));
  // Two hours on, the hour is free again but the week still counts the 600.
  EXPECT_FALSE(e.decide(transfer("x", 500, kNowMs + 2 * kHourMs), "r", true, false).allowed());
}

TEST(Engine, MetersAndAgentsNoPolicyReadsAreFreed) {
  Engine e;
  ASSERT_TRUE(e.load_policies({policy("p1", "SPENDING_LIMIT", kSpending)}).ok());
  ASSERT_TRUE(e.decide(transfer("x", 100), "settled", true, false).allowed());
  ASSERT_TRUE(e.settle(kAgent, "settled", std::nullopt).ok());
  EXPECT_EQ(e.stats().agents, 1u);
  EXPECT_EQ(e.stats().meters, 1u);
  ASSERT_TRUE(e.load_policies({}).ok());
  EXPECT_EQ(e.stats().agents, 0u);
  EXPECT_EQ(e.stats().meters, 0u);
  // An agent with an open reservation stays until it is settled.
  ASSERT_TRUE(e.load_policies({policy("p1", "SPENDING_LIMIT", kSpending)}).ok());
  ASSERT_TRUE(e.decide(transfer("x", 100), "open", true, false).allowed());
  ASSERT_TRUE(e.load_policies({}).ok());
  EXPECT_EQ(e.stats().agents, 1u);
  EXPECT_EQ(e.stats().reservations, 1u);
  e.release(kAgent, "open");
  EXPECT_EQ(e.stats().reservations, 0u);
}

TEST(Engine, SettledUsageRestoredPastTheMaxStillCounts) {
  Engine e;
  ASSERT_TRUE(e.load_policies({policy("p1", "SPENDING_LIMIT",
                                      R"({"windows":[{"duration":"24h","max":"1000"}]})")})
                  .ok());
  ASSERT_TRUE(e.decide(transfer("x", 900), "r1", true, false).allowed());
  // A late settlement of 500 that the window would not have let in: it happened, it counts.
  e.restore(kAgent, "late", {{"p1/native", MeterKind::kAmount, Amount(500), kNowMs, "native"}},
            false);
  EXPECT_EQ(e.meter_total(kAgent, "p1/native/1d", kNowMs), Amount(1400));
  EXPECT_FALSE(e.decide(transfer("x", 1), "r2", true, false).allowed());
}

// Rules stored before a stricter check (here a CUSTOM comparing an int with a double) no longer
// compile: the policy denies everything it applies to instead of being skipped or stopping
// the load.
TEST(Engine, APolicyThatNoLongerCompilesDeniesItsScope) {
  Engine e;
  ASSERT_TRUE(e.load_policies({policy("broken", "CUSTOM",
                                      R"({"pre":"amount == 1.5","effect":"DENY"})", kAgent),
                               policy("fine", "SPENDING_LIMIT", kSpending)})
                  .ok());
  Decision d = e.decide(transfer("x", 5), "r", true, false);
  ASSERT_FALSE(d.allowed());
  ASSERT_EQ(d.reasons.size(), 1u);
  EXPECT_EQ(d.reasons[0].code, "POLICY_INVALID");
  EXPECT_EQ(d.reasons[0].policy_id, "broken");
  Request other = transfer("x", 5);
  other.agent_id = "someone-else";  // outside the broken policy's scope
  EXPECT_TRUE(e.decide(other, "r2", true, false).allowed());
  EXPECT_EQ(e.stats().policies, 2u);
}

TEST(Engine, ConcurrentReservationsNeverExceedTheMax) {
  Engine e;
  ASSERT_TRUE(e.load_policies({policy("p", "SPENDING_LIMIT",
                                      R"({"instant_max":"1000","windows":[{"duration":"24h","max":"10000"}]})")})
                  .ok());
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        if (e.decide(transfer("x", 7), std::to_string(t) + "-" + std::to_string(i), true, false).allowed()) {
          ++allowed;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(allowed.load(), 10000 / 7);
  EXPECT_EQ(e.meter_total(kAgent, "p/native/1d", kNowMs), Amount(7 * (10000 / 7)));
}

TEST(Ir, GoldenSpendingLimit) {
  auto p = compile(policy("p1", "SPENDING_LIMIT", kSpending));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(canonical_json(ir_to_json(*p)),
            R"({"policy_id":"p1","priority":0,"steps":[{"approval_timeout_seconds":3600,"asset":"native","delay_max":"20000","delay_seconds":300,"instant_max":"1000","kind":"tiers","notify_max":"5000","step":"limit"},{"asset":"native","calendar":false,"code":"LIMIT_WINDOW_EXCEEDED","kind":"window","max":"50000","meter":"p1/native/1d","step":"limit","unit":"amount","window":"1d"}],"type":"SPENDING_LIMIT"})");
}

}  // namespace
}  // namespace warden::engine

namespace warden::engine {
namespace {

TEST(Engine, CustomCelConditionAppliesItsEffect) {
  Engine e;
  ASSERT_TRUE(e.load_policies({policy("c", "CUSTOM",
                                      R"json({"pre":"amount > 1000 && !to.startsWith('0xabc')","effect":"APPROVAL","message":"large transfer to a new address"})json")})
                  .ok());
  Decision small = e.decide(transfer("0xdef", 10), "r", false, false);
  EXPECT_EQ(small.outcome, Outcome::kInstant);
  Decision big = e.decide(transfer("0xdef", 5000), "r", false, true);
  EXPECT_EQ(big.outcome, Outcome::kApproval);
  ASSERT_EQ(big.reasons.size(), 1u);
  EXPECT_EQ(big.reasons[0].code, "CUSTOM_CONDITION");
  EXPECT_EQ(big.reasons[0].message, "large transfer to a new address");
  EXPECT_EQ(big.trace[0].step, "match:cel");
  EXPECT_EQ(e.decide(transfer("0xabc1", 5000), "r", false, false).outcome, Outcome::kInstant);
}

TEST(Engine, CustomExpressionErrorsFailClosed) {
  Engine e;
  ASSERT_TRUE(e.load_policies({policy("c", "CUSTOM",
                                      R"json({"pre":"attributes.missing == 'x'","effect":"NOTIFY"})json")})
                  .ok());
  Decision d = e.decide(transfer("x", 1), "r", false, false);
  ASSERT_FALSE(d.allowed());
  EXPECT_EQ(d.reasons[0].code, "CUSTOM_EXPRESSION_ERROR");
}

TEST(Engine, CustomExpressionsAreCheckedAtSave) {
  const auto options = custom_validate_options();
  auto issues = options.check_expression("/rules/pre", "amount > 'x'");
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].code, "EXPRESSION_INVALID");
  EXPECT_EQ(issues[0].pointer, "/rules/pre");
  EXPECT_NE(issues[0].message.find("1:"), std::string::npos) << issues[0].message;
  issues = options.check_expression("/rules/pre", "amount + 1");
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].code, "EXPRESSION_NOT_BOOL");
  EXPECT_TRUE(options.check_expression("/rules/pre", "unknown_var > 1").size() == 1);
  EXPECT_TRUE(options.check_expression("/rules/pre", "now > timestamp('2026-01-01T00:00:00Z') && to in ['a', 'b']").empty());
}

}  // namespace
}  // namespace warden::engine

namespace warden::engine {
namespace {

// Credit per asset with the holds each reservation took: enough of a ledger to see what the
// engine asks of it and when.
class CountingBudgets final : public Budgets {
 public:
  std::map<std::string, Amount> credit;
  std::map<std::string, std::vector<BudgetHeld>> by_reservation;
  int calls = 0;

  Result<std::vector<BudgetHeld>> hold_for(const std::string&, const std::vector<BudgetNeed>& needs,
                                           const std::string& reservation_id,
                                           std::int64_t) override {
    ++calls;
    for (const auto& n : needs) {
      if (!n.partial && n.amount > credit[n.asset]) {
        return Status(ErrorCode::LEDGER_BUDGET_EXCEEDED, "short",
                      {{"currency", n.asset}, {"available", credit[n.asset].to_string()}});
      }
    }
    std::vector<BudgetHeld> out;
    for (const auto& n : needs) {
      const Amount held = std::min(n.amount, credit[n.asset]);
      credit[n.asset] = *credit[n.asset].checked_sub(held);
      out.push_back({reservation_id + "/" + n.asset, n.asset, n.amount, held});
    }
    by_reservation[reservation_id] = out;
    return out;
  }
  Amount available(const std::string&, const std::string& asset, std::int64_t) override {
    return credit[asset];
  }
};

const char* kWindowOnly = R"({"instant_max":"1000000","asset":"native",
                             "windows":[{"duration":"1d","max":"300"}]})";

TEST(EngineBudget, AHoldIsTakenWithTheWindowsAllOrNothing) {
  Engine e;
  CountingBudgets budgets;
  budgets.credit["native"] = Amount(250);
  e.set_budgets(&budgets);
  ASSERT_TRUE(e.load_policies({policy("p1", "SPENDING_LIMIT", kWindowOnly),
                               policy("p2", "BUDGET", R"({"asset":"native"})")})
                  .ok());
  Decision d = e.decide(transfer("x", 200), "r1", true, false);
  ASSERT_TRUE(d.allowed());
  ASSERT_EQ(d.holds.size(), 1u);
  EXPECT_EQ(d.holds[0].held, Amount(200));
  EXPECT_EQ(budgets.credit["native"], Amount(50));
  EXPECT_EQ(decision_json(d, false).at("holds").as_array().size(), 1u);
  // The credit is short: denied, and the window reserves nothing.
  Decision short_credit = e.decide(transfer("x", 60), "r2", true, false);
  EXPECT_FALSE(short_credit.allowed());
  EXPECT_EQ(short_credit.reasons.back().code, "BUDGET_EXCEEDED");
  EXPECT_EQ(short_credit.reasons.back().policy_id, "p2");
  EXPECT_TRUE(short_credit.charges.empty());
  EXPECT_EQ(e.meter_total(kAgent, "p1/native/1d", kNowMs), Amount(200));
  // The window is short: the ledger is not asked at all.
  budgets.credit["native"] = Amount(1000);
  const int calls = budgets.calls;
  Decision short_window = e.decide(transfer("x", 101), "r3", true, false);
  EXPECT_FALSE(short_window.allowed());
  EXPECT_EQ(budgets.calls, calls);
  EXPECT_EQ(budgets.credit["native"], Amount(1000));
}

TEST(EngineBudget, DryRunsCheckWithoutHoldingAndOtherAssetsAreNotHeld) {
  Engine e;
  CountingBudgets budgets;
  budgets.credit["native"] = Amount(100);
  e.set_budgets(&budgets);
  ASSERT_TRUE(e.load_policies({policy("p2", "BUDGET", R"({"asset":"native"})"),
                               policy("p3", "BUDGET", R"({"asset":"USD"})")})
                  .ok());
  EXPECT_TRUE(e.decide(transfer("x", 100), "", false, false).allowed());
  Decision over = e.decide(transfer("x", 101), "", false, true);
  EXPECT_FALSE(over.allowed());
  EXPECT_EQ(over.reasons.back().code, "BUDGET_EXCEEDED");
  EXPECT_EQ(budgets.calls, 0);
  Decision held = e.decide(transfer("x", 100), "r1", true, false);
  ASSERT_EQ(held.holds.size(), 1u);  // the request spends no USD
  EXPECT_EQ(held.holds[0].asset, "native");
}

TEST(EngineBudget, AllowNegativeHoldsWhatThereIsAndNeverDenies) {
  Engine e;
  CountingBudgets budgets;
  budgets.credit["native"] = Amount(30);
  e.set_budgets(&budgets);
  ASSERT_TRUE(
      e.load_policies({policy("p2", "BUDGET", R"({"asset":"native","allow_negative":true})")}).ok());
  Decision d = e.decide(transfer("x", 100), "r1", true, false);
  ASSERT_TRUE(d.allowed());
  ASSERT_EQ(d.holds.size(), 1u);
  EXPECT_EQ(d.holds[0].held, Amount(30));
  EXPECT_EQ(d.holds[0].requested, Amount(100));
}

TEST(EngineBudget, WithoutALedgerABudgetDenies) {
  Engine e;
  ASSERT_TRUE(e.load_policies({policy("p2", "BUDGET", R"({"asset":"native"})")}).ok());
  Decision d = e.decide(transfer("x", 1), "r1", true, false);
  EXPECT_FALSE(d.allowed());
  EXPECT_EQ(d.reasons.back().code, "BUDGET_UNAVAILABLE");
}

}  // namespace
}  // namespace warden::engine

namespace warden::engine {
namespace {

Request llm(std::int64_t size_bytes, std::int64_t estimated_tokens) {
  Request r;
  r.agent_id = kAgent;
  r.action = "LLM_CHAT";
  r.attributes["model"] = "gpt-4o";
  r.attributes["request_size_bytes"] = size_bytes;
  r.attributes["estimated_tokens"] = estimated_tokens;
  r.attributes["org_id"] = "acme";
  r.now_ms = kNowMs;
  return r;
}

TEST(EngineGateway, RequestSizeDeniesALargerBodyAndIgnoresRequestsWithoutOne) {
  Engine e;
  ASSERT_TRUE(e.load_policies({policy("p1", "REQUEST_SIZE", R"({"max_bytes":1000})")}).ok());
  EXPECT_TRUE(e.decide(llm(1000, 10), "", false, false).allowed());
  Decision over = e.decide(llm(1001, 10), "", false, true);
  EXPECT_FALSE(over.allowed());
  ASSERT_EQ(over.reasons.size(), 1u);
  EXPECT_EQ(over.reasons[0].code, "REQUEST_TOO_LARGE");
  ASSERT_FALSE(over.trace.empty());
  EXPECT_EQ(over.trace[0].detail, "1001/1000");
  EXPECT_TRUE(e.decide(transfer("x", 5), "", false, false).allowed());  // a wallet transfer
  EXPECT_EQ(ir_to_json(compile(policy("p1", "REQUEST_SIZE", R"({"max_bytes":1000})")).value())
                .at("steps")
                .as_array()[0]
                .at("kind")
                .as_string(),
            "size");
}

TEST(EngineGateway, CustomPreReadsTheGatewayVariables) {
  Engine e;
  ASSERT_TRUE(
      e.load_policies(
           {policy("c1", "CUSTOM",
                   R"({"pre":"estimated_tokens > 4000 || request_size_bytes > 100000 || org_id != 'acme' || app_id != agent_id","effect":"DENY","message":"too big"})")})
          .ok());
  EXPECT_TRUE(e.decide(llm(500, 4000), "", false, false).allowed());
  Decision tokens = e.decide(llm(500, 4001), "", false, false);
  EXPECT_FALSE(tokens.allowed());
  EXPECT_EQ(tokens.reasons[0].code, "CUSTOM_CONDITION");
  EXPECT_FALSE(e.decide(llm(100001, 1), "", false, false).allowed());
  Request other_org = llm(1, 1);
  other_org.attributes["org_id"] = "globex";
  EXPECT_FALSE(e.decide(other_org, "", false, false).allowed());
}

}  // namespace
}  // namespace warden::engine
