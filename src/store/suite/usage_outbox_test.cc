// Migration 4's tables through the store (meter usage buckets, the event outbox, transaction
// hashes unique per agent and chain) and the group-commit writer's savepoints: one op's failure
// undoes only that op.
#include <gtest/gtest.h>

#include <algorithm>
#include <future>

#include "store/batch_writer.h"
#include "store/suite/helpers.h"
#include "store/suite/store_suite.h"

namespace warden::store {
namespace {

using testing::BlockedWriter;
using testing::sample_agent;
using testing::sample_event;

class UsageOutboxTest : public suite::StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(run([](WriteTxn& t) -> Status {
                  WARDEN_RETURN_IF_ERROR(t.insert_agent(sample_agent("a1", "pk-1")));
                  return t.insert_agent(sample_agent("a2", "pk-2"));
                }).ok());
  }
  std::vector<MeterUsageRow> usage(MeterUsageFilter f = {}) {
    std::vector<MeterUsageRow> rows;
    EXPECT_TRUE(store_
                    ->scan_meter_usage(f,
                                       [&](const MeterUsageRow& r) {
                                         rows.push_back(r);
                                         return Status();
                                       })
                    .ok());
    return rows;
  }
  TransactionRow tx(std::string id, std::string agent, std::string chain) {
    TransactionRow r;
    r.id = std::move(id);
    r.agent_id = std::move(agent);
    r.chain = std::move(chain);
    r.type = "TRANSFER";
    r.created_at = r.updated_at = 1'767'300'000;
    return r;
  }
};

TEST_P(UsageOutboxTest, MeterUsageScansByNamePrefix) {
  ASSERT_TRUE(run([&](WriteTxn& t) -> Status {
                WARDEN_RETURN_IF_ERROR(t.add_meter_usage({"a1", "t/llm_tokens", 100, "1"}));
                WARDEN_RETURN_IF_ERROR(t.add_meter_usage({"a1", "t/llm_tokens@gpt-4o", 100, "2"}));
                WARDEN_RETURN_IF_ERROR(t.add_meter_usage({"a2", "t/llm_tokens@o3", 120, "3"}));
                WARDEN_RETURN_IF_ERROR(t.add_meter_usage({"a1", "t/llm_tokensA", 100, "4"}));
                return t.add_meter_usage({"a1", "u/llm_tokens@o3", 100, "5"});
              }).ok());
  std::vector<std::string> seen;
  for (const auto& r : usage({.meter_prefix = std::string("t/llm_tokens@")})) {
    seen.push_back(r.agent_id + " " + r.meter + " " + r.amount);
  }
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<std::string>{"a1 t/llm_tokens@gpt-4o 2", "a2 t/llm_tokens@o3 3"}));
  EXPECT_EQ(usage({.bucket_min = 110, .meter_prefix = std::string("t/llm_tokens@")}).size(), 1u);
  // Both: the exact name or the prefix.
  EXPECT_EQ(
      usage({.meter = std::string("t/llm_tokens"), .meter_prefix = std::string("t/llm_tokens@")})
          .size(),
      3u);
}

TEST_P(UsageOutboxTest, MeterUsageAddsExactlyPerBucketAndScansFromABucket) {
  const std::string big =
      "115792089237316195423570985008687907853269984665640564039457584007913129639934";
  ASSERT_TRUE(run([&](WriteTxn& t) -> Status {
                WARDEN_RETURN_IF_ERROR(t.add_meter_usage({"a1", "p/native", 100, "7"}));
                WARDEN_RETURN_IF_ERROR(t.add_meter_usage({"a1", "p/native", 100, "5"}));
                WARDEN_RETURN_IF_ERROR(t.add_meter_usage({"a1", "p/native", 160, big}));
                return t.add_meter_usage({"a2", "p/requests", 90, "1"});
              }).ok());
  const auto all = usage();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].amount, "12");
  EXPECT_EQ(all[1].bucket, 160);
  EXPECT_EQ(all[1].amount, big);
  EXPECT_EQ(all[2].meter, "p/requests");
  // 2^256 - 2 + 2 overflows: an error, and the stored value is unchanged.
  const Status over = run([](WriteTxn& t) {
    return t.add_meter_usage({"a1", "p/native", 160, "2"});
  });
  EXPECT_FALSE(over.ok());
  EXPECT_EQ(usage()[1].amount, big);
  const auto recent = usage({std::string("p/native"), 150});
  ASSERT_EQ(recent.size(), 1u);
  EXPECT_EQ(recent[0].bucket, 160);
  EXPECT_FALSE(run([](WriteTxn& t) {
                 return t.add_meter_usage({"a1", "p/native", 1, "-1"});
               }).ok());
}

TEST_P(UsageOutboxTest, TxHashIsUniquePerAgentAndChainOnly) {
  auto with_hash = [&](std::string id, std::string agent, std::string chain) {
    TransactionRow r = tx(std::move(id), std::move(agent), std::move(chain));
    r.tx_hash = "0xfeed";
    return run([&](WriteTxn& t) { return t.insert_transaction(r); });
  };
  EXPECT_TRUE(with_hash("t1", "a1", "ethereum").ok());
  EXPECT_TRUE(with_hash("t2", "a2", "ethereum").ok());  // another agent: its own hash space
  EXPECT_TRUE(with_hash("t3", "a1", "solana").ok());    // another chain
  const Status dup = with_hash("t4", "a1", "ethereum");
  EXPECT_EQ(dup.code(), ErrorCode::STORE_CONSTRAINT);
}

TEST_P(UsageOutboxTest, OutboxRowsComeDueInIdOrderAndLeaveWhenDeleted) {
  ASSERT_TRUE(run([](WriteTxn& t) -> Status {
                WARDEN_RETURN_IF_ERROR(t.insert_outbox({"e2", R"({"n":2})", 10, 0, 10}));
                WARDEN_RETURN_IF_ERROR(t.insert_outbox({"e1", R"({"n":1})", 10, 0, 10}));
                return t.insert_outbox({"e3", R"({"n":3})", 10, 0, 50});
              }).ok());
  auto due = store_->list_outbox_due(20, 10).value();
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].id, "e1");
  EXPECT_EQ(due[1].event, R"({"n":2})");
  ASSERT_TRUE(run([](WriteTxn& t) -> Status {
                WARDEN_RETURN_IF_ERROR(t.update_outbox({"e1", "", 0, 1, 30}));
                return t.delete_outbox("e2");
              }).ok());
  EXPECT_TRUE(store_->list_outbox_due(20, 10).value().empty());
  due = store_->list_outbox_due(60, 10).value();
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].attempts, 1);
  EXPECT_EQ(due[1].id, "e3");
}

TEST_P(UsageOutboxTest, NestedFailureUndoesOnlyItsOwnWritesAndKeepsTheAuditChain) {
  ASSERT_TRUE(run([&](WriteTxn& t) -> Status {
                EXPECT_TRUE(t.nested([&](WriteTxn& n) -> Status {
                               WARDEN_RETURN_IF_ERROR(
                                   n.insert_transaction(tx("t1", "a1", "solana")));
                               return n.append_audit(sample_event("ONE")).take_status();
                             }).ok());
                const Status failed = t.nested([&](WriteTxn& n) -> Status {
                  WARDEN_RETURN_IF_ERROR(n.insert_transaction(tx("t2", "a1", "solana")));
                  WARDEN_RETURN_IF_ERROR(n.append_audit(sample_event("UNDONE")).take_status());
                  return Status(ErrorCode::TX_INVALID_STATE, "logical failure");
                });
                EXPECT_EQ(failed.code(), ErrorCode::TX_INVALID_STATE);
                return t.nested([&](WriteTxn& n) -> Status {
                  WARDEN_RETURN_IF_ERROR(n.insert_transaction(tx("t3", "a1", "solana")));
                  return n.append_audit(sample_event("THREE")).take_status();
                });
              }).ok());
  EXPECT_TRUE(store_->get_transaction("t1").value().has_value());
  EXPECT_FALSE(store_->get_transaction("t2").value().has_value());
  EXPECT_TRUE(store_->get_transaction("t3").value().has_value());
  const auto audit = store_->list_audit({}).value();
  ASSERT_EQ(audit.size(), 2u);
  EXPECT_EQ(audit[1].event.event_type, "THREE");
  EXPECT_EQ(audit[1].id, audit[0].id + 1);
  const auto report = store_->verify_audit().value();
  EXPECT_FALSE(report.first_broken_id.has_value()) << report.problem;
}

// A batch whose middle op fails logically commits the others in the same transaction.
TEST_P(UsageOutboxTest, BatchWriterCommitsTheOpsAroundAFailingOne) {
  BatchWriter writer(*store_, {});
  const auto batches_before = writer.batches_committed();
  BlockedWriter blocked(writer);  // the next three ops queue up as one batch
  std::vector<std::promise<Status>> outcomes(3);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(writer
                    .submit(
                        [this, i](WriteTxn& t) -> Status {
                          WARDEN_RETURN_IF_ERROR(
                              t.insert_transaction(tx("b" + std::to_string(i), "a1", "solana")));
                          if (i == 1) return Status(ErrorCode::TX_INVALID_STATE, "no");
                          return Status();
                        },
                        [&outcomes, i](const Status& s) { outcomes[i].set_value(s); })
                    .ok());
  }
  blocked.release();
  EXPECT_TRUE(outcomes[0].get_future().get().ok());
  EXPECT_EQ(outcomes[1].get_future().get().code(), ErrorCode::TX_INVALID_STATE);
  EXPECT_TRUE(outcomes[2].get_future().get().ok());
  writer.stop();
  EXPECT_TRUE(store_->get_transaction("b0").value().has_value());
  EXPECT_FALSE(store_->get_transaction("b1").value().has_value());
  EXPECT_TRUE(store_->get_transaction("b2").value().has_value());
  // The blocker's batch and one batch for all three: nothing re-ran alone.
  EXPECT_EQ(writer.batches_committed() - batches_before, 2u);
}

// A storage failure inside one op fails the batch's commit: nothing of it is on disk, so every
// op runs again alone and only the broken one reports the failure.
TEST_P(UsageOutboxTest, ABatchWhoseCommitFailsRunsEachOpAloneAndOnlyTheBrokenOneFails) {
  BatchWriter writer(*store_, {});
  BlockedWriter blocked(writer);
  std::vector<std::promise<Status>> outcomes(3);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(writer
                    .submit(
                        [this, i](WriteTxn& t) -> Status {
                          if (i == 1) return t.update_outbox({"no-such-event", "", 0, 1, 0});
                          return t.insert_transaction(tx("s" + std::to_string(i), "a1", "solana"));
                        },
                        [&outcomes, i](const Status& s) { outcomes[i].set_value(s); })
                    .ok());
  }
  blocked.release();
  EXPECT_TRUE(outcomes[0].get_future().get().ok());
  EXPECT_EQ(outcomes[1].get_future().get().code(), ErrorCode::INTERNAL_STORE_ERROR);
  EXPECT_TRUE(outcomes[2].get_future().get().ok());
  writer.stop();
  EXPECT_TRUE(store_->get_transaction("s0").value().has_value());
  EXPECT_TRUE(store_->get_transaction("s2").value().has_value());
}

// An op submitted alone runs after every earlier batch's callbacks and before any later op.
TEST_P(UsageOutboxTest, AnOpSubmittedAloneIsABatchOfItsOwn) {
  BatchWriter writer(*store_, {});
  const auto batches_before = writer.batches_committed();
  BlockedWriter blocked(writer);
  std::vector<std::string> order;  // written only on the writer thread
  std::promise<void> last;
  auto op = [](WriteTxn&) { return Status(); };
  ASSERT_TRUE(writer.submit(op, [&](const Status&) { order.push_back("before"); }).ok());
  ASSERT_TRUE(writer
                  .submit_alone(
                      [&](WriteTxn&) {
                        order.push_back("alone-op");
                        return Status();
                      },
                      [&](const Status&) { order.push_back("alone-done"); })
                  .ok());
  ASSERT_TRUE(writer
                  .submit(op,
                          [&](const Status&) {
                            order.push_back("after");
                            last.set_value();
                          })
                  .ok());
  blocked.release();
  last.get_future().wait();
  writer.stop();
  EXPECT_EQ(order, (std::vector<std::string>{"before", "alone-op", "alone-done", "after"}));
  EXPECT_EQ(writer.batches_committed() - batches_before, 4u);  // blocker, before, alone, after
}

WARDEN_STORE_SUITE(UsageOutboxTest);

}  // namespace
}  // namespace warden::store
