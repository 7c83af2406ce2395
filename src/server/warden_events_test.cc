// Warden's own automation events: which kinds a decision, an expired approval, a failed
// authentication and a policy change produce, what they carry, and that nothing is built for a
// kind nobody listens to.
#include "server/warden_events.h"

#include <gtest/gtest.h>

#include <set>

namespace warden::server {
namespace {
namespace json = boost::json;

class WardenEventsTest : public ::testing::Test {
 protected:
  WardenEvents events(std::set<std::string> wanted) {
    wanted_ = std::move(wanted);
    return WardenEvents(
        clock_, ids_,
        [this](std::string_view kind) {
          asked_.emplace_back(kind);
          return wanted_.contains(std::string(kind));
        },
        [this](automation::Event e) { emitted_.push_back(std::move(e)); });
  }
  static store::TransactionRow row(std::string status) {
    store::TransactionRow r;
    r.id = "tx-1";
    r.agent_id = "agent-7";
    r.type = "DECISION";
    r.status = std::move(status);
    r.amount = "42";
    r.metadata = R"({"action":"llm.call","attributes":{},"approval_id":"ap-1"})";
    return r;
  }
  static engine::Decision deny(std::vector<std::string> codes) {
    engine::Decision d;
    d.outcome = engine::Outcome::kDeny;
    for (auto& c : codes) d.reasons.push_back({"p1", std::move(c), "m", engine::Outcome::kDeny});
    return d;
  }

  FakeClock clock_;
  IdGenerator ids_{clock_};
  std::set<std::string> wanted_;
  std::vector<std::string> asked_;
  std::vector<automation::Event> emitted_;
};

TEST_F(WardenEventsTest, ADenialIsDecisionDeniedAboutTheAgent) {
  auto ev = events({"decision.denied"});
  ev.on_decided(row("DENIED"), deny({"RATE_LIMIT_EXCEEDED"}));
  ASSERT_EQ(emitted_.size(), 1u);
  const automation::Event& e = emitted_[0];
  EXPECT_EQ(e.kind, "decision.denied");
  EXPECT_EQ(e.source, "warden");
  EXPECT_EQ(e.subject, "agent-7");
  EXPECT_EQ(e.occurred_at_ms, clock_.now_ms());
  EXPECT_EQ(e.id.size(), 36u);
  EXPECT_EQ(e.attributes.at("tx_id"), json::value("tx-1"));
  EXPECT_EQ(e.attributes.at("action"), json::value("llm.call"));
  EXPECT_EQ(e.attributes.at("amount"), json::value("42"));
  EXPECT_EQ(e.attributes.at("reasons"), (json::array{"RATE_LIMIT_EXCEEDED"}));
}

TEST_F(WardenEventsTest, ABudgetDenialIsAlsoBudgetExceeded) {
  auto ev = events({"decision.denied", "budget.exceeded"});
  ev.on_decided(row("DENIED"), deny({"BUDGET_EXCEEDED"}));
  ASSERT_EQ(emitted_.size(), 2u);
  EXPECT_EQ(emitted_[0].kind, "decision.denied");
  EXPECT_EQ(emitted_[1].kind, "budget.exceeded");
  EXPECT_EQ(emitted_[1].subject, "agent-7");
  EXPECT_NE(emitted_[0].id, emitted_[1].id);
  emitted_.clear();
  ev.on_decided(row("DENIED"), deny({"RATE_LIMIT_EXCEEDED"}));
  ASSERT_EQ(emitted_.size(), 1u);
  EXPECT_EQ(emitted_[0].kind, "decision.denied");
}

TEST_F(WardenEventsTest, AnApprovalTierAndAnExpiredApproval) {
  auto ev = events({"decision.approval_required", "approval.expired"});
  engine::Decision approval;
  approval.outcome = engine::Outcome::kApproval;
  ev.on_decided(row("QUEUED"), approval);
  engine::Decision instant;  // an INSTANT allow is no event
  ev.on_decided(row("PENDING"), instant);
  ev.on_approval_expired(row("CANCELLED"));
  ASSERT_EQ(emitted_.size(), 2u);
  EXPECT_EQ(emitted_[0].kind, "decision.approval_required");
  EXPECT_EQ(emitted_[0].attributes.at("status"), json::value("QUEUED"));
  EXPECT_EQ(emitted_[1].kind, "approval.expired");
  EXPECT_EQ(emitted_[1].subject, "agent-7");
  EXPECT_EQ(emitted_[1].attributes.at("tx_id"), json::value("tx-1"));
  EXPECT_EQ(emitted_[1].attributes.at("approval_id"), json::value("ap-1"));
  EXPECT_EQ(emitted_[0].attributes.at("approval_id"), json::value("ap-1"));
}

TEST_F(WardenEventsTest, AuthFailuresAreAboutTheClientAndPolicyChangesAboutThePolicy) {
  auto ev = events({"auth.failed", "policy.changed"});
  ev.auth_failed("10.0.0.9", "master", ErrorCode::AUTH_MASTER_INVALID, "corr-1");
  ev.policy_changed("pol-3", "disabled", std::string("agent-7"), "RATE_LIMIT", "corr-2");
  ASSERT_EQ(emitted_.size(), 2u);
  EXPECT_EQ(emitted_[0].kind, "auth.failed");
  EXPECT_EQ(emitted_[0].subject, "10.0.0.9");
  EXPECT_EQ(emitted_[0].attributes.at("code"), json::value("AUTH_MASTER_INVALID"));
  EXPECT_EQ(emitted_[0].attributes.at("method"), json::value("master"));
  EXPECT_EQ(emitted_[0].attributes.at("ip"), json::value("10.0.0.9"));
  EXPECT_EQ(emitted_[1].kind, "policy.changed");
  EXPECT_EQ(emitted_[1].subject, "pol-3");
  EXPECT_EQ(emitted_[1].attributes.at("change"), json::value("disabled"));
  EXPECT_EQ(emitted_[1].attributes.at("agent_id"), json::value("agent-7"));
  EXPECT_EQ(emitted_[1].attributes.at("type"), json::value("RATE_LIMIT"));
}

TEST_F(WardenEventsTest, NothingIsBuiltForAKindNobodyWants) {
  auto ev = events({});
  ev.on_decided(row("DENIED"), deny({"BUDGET_EXCEEDED"}));
  ev.on_approval_expired(row("CANCELLED"));
  ev.auth_failed("10.0.0.9", "session", ErrorCode::AUTH_SESSION_INVALID, "c");
  ev.policy_changed("p", "created", std::nullopt, "SPENDING_LIMIT", "c");
  EXPECT_TRUE(emitted_.empty());
  // Each kind was asked about once, so the cost without listeners is one cheap check each.
  EXPECT_EQ(asked_,
            (std::vector<std::string>{"decision.denied", "budget.exceeded", "approval.expired",
                                      "auth.failed", "policy.changed"}));
}

}  // namespace
}  // namespace warden::server
