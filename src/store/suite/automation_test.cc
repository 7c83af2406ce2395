// The automation rows in the store (migration 7): automations round-trip every field and their
// hash is unique, executions keep only the newest kExecutionsKeptMax per automation and page
// newest-first by cursor, events are refused twice, and inventories are replaced per host.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "store/suite/helpers.h"
#include "store/suite/store_suite.h"

namespace warden::store {
namespace {

using testing::sample_automation;
using testing::sample_execution;

class AutomationStoreTest : public suite::StoreTest {};

TEST_P(AutomationStoreTest, AnAutomationRoundTripsEveryFieldAndItsHashIsUnique) {
  const AutomationRow a = sample_automation("au1", "h1");
  ASSERT_TRUE(run([&](WriteTxn& t) { return t.insert_automation(a); }).ok());
  const AutomationRow got = store_->get_automation("au1")->value();
  EXPECT_EQ(got.name, a.name);
  EXPECT_EQ(got.spec, a.spec);
  EXPECT_EQ(got.ir, a.ir);
  EXPECT_EQ(got.hash, "h1");
  EXPECT_EQ(got.version, 2);
  EXPECT_TRUE(got.enabled);
  EXPECT_EQ(got.priority, 7);
  EXPECT_EQ(got.last_validation, a.last_validation);
  EXPECT_EQ(got.last_dry_run, a.last_dry_run);
  EXPECT_EQ(got.created_at, 1'767'300'000);
  EXPECT_EQ(got.updated_at, 1'767'300'001);
  EXPECT_EQ(store_->find_automation_by_hash("h1")->value().id, "au1");
  EXPECT_FALSE(store_->find_automation_by_hash("h2")->has_value());

  const Status dup =
      run([&](WriteTxn& t) { return t.insert_automation(sample_automation("au2", "h1")); });
  EXPECT_EQ(dup.code(), ErrorCode::STORE_CONSTRAINT);

  AutomationRow changed = got;
  changed.enabled = false;
  changed.last_dry_run.reset();
  changed.version = 3;
  ASSERT_TRUE(run([&](WriteTxn& t) { return t.update_automation(changed); }).ok());
  const AutomationRow after = store_->get_automation("au1")->value();
  EXPECT_FALSE(after.enabled);
  EXPECT_FALSE(after.last_dry_run.has_value());
  EXPECT_EQ(after.version, 3);

  EXPECT_EQ(
      run([&](WriteTxn& t) { return t.update_automation(sample_automation("nope", "h9")); }).code(),
      ErrorCode::INTERNAL_ERROR);
}

TEST_P(AutomationStoreTest, ListPagesInIdOrder) {
  ASSERT_TRUE(run([&](WriteTxn& t) -> Status {
                for (const char* id : {"b", "a", "c"}) {
                  WARDEN_RETURN_IF_ERROR(
                      t.insert_automation(sample_automation(id, std::string("h") + id)));
                }
                return Status();
              }).ok());
  auto first = store_->list_automations({.after_id = std::nullopt, .limit = 2});
  ASSERT_EQ(first->size(), 2u);
  EXPECT_EQ((*first)[0].id, "a");
  EXPECT_EQ((*first)[1].id, "b");
  auto rest = store_->list_automations({.after_id = "b", .limit = 2});
  ASSERT_EQ(rest->size(), 1u);
  EXPECT_EQ((*rest)[0].id, "c");
}

TEST_P(AutomationStoreTest, ExecutionsKeepTheNewestThirtyAndPageNewestFirst) {
  ASSERT_TRUE(run([&](WriteTxn& t) -> Status {
                WARDEN_RETURN_IF_ERROR(t.insert_automation(sample_automation("au1", "h1")));
                return t.insert_automation(sample_automation("au2", "h2"));
              }).ok());
  for (int n = 1; n <= 45; ++n) {
    ASSERT_TRUE(
        run([&](WriteTxn& t) { return t.insert_execution(sample_execution("au1", n)); }).ok());
  }
  ASSERT_TRUE(
      run([&](WriteTxn& t) { return t.insert_execution(sample_execution("au2", 100)); }).ok());
  EXPECT_EQ(store_->list_executions("au1", std::nullopt, 100)->size(), 30u);
  // The other automation's rows are not trimmed by au1's inserts.
  EXPECT_EQ(store_->list_executions("au2", std::nullopt, 100)->size(), 1u);

  auto page1 = store_->list_executions("au1", std::nullopt, 20);
  ASSERT_EQ(page1->size(), 20u);
  EXPECT_EQ(page1->front().target_id, "t45");
  EXPECT_EQ(page1->back().target_id, "t26");
  auto page2 = store_->list_executions("au1", page1->back().id, 20);
  ASSERT_EQ(page2->size(), 10u);
  EXPECT_EQ(page2->front().target_id, "t25");
  EXPECT_EQ(page2->back().target_id, "t16");  // 1..15 were trimmed
  EXPECT_TRUE(store_->list_executions("au1", page2->back().id, 20)->empty());

  const AutomationExecutionRow& r = page1->front();
  const AutomationExecutionRow want = sample_execution("au1", 45);
  EXPECT_EQ(r.id, want.id);
  EXPECT_EQ(r.event_id, want.event_id);
  EXPECT_EQ(r.host, "files");
  EXPECT_EQ(r.capability, "file");
  EXPECT_EQ(r.verb, "create");
  EXPECT_EQ(r.outcome, "succeeded");
  EXPECT_EQ(r.idempotency_key, "key-45");
  EXPECT_EQ(r.effects, want.effects);
  EXPECT_EQ(r.reason, "done");
  EXPECT_EQ(r.correlation_id, "corr-1");
  EXPECT_EQ(r.started_at_ms, want.started_at_ms);
  EXPECT_EQ(r.finished_at_ms, want.finished_at_ms);

  AutomationExecutionRow bad = sample_execution("au1", 99);
  bad.outcome = "exploded";
  EXPECT_EQ(run([&](WriteTxn& t) { return t.insert_execution(bad); }).code(),
            ErrorCode::STORE_CONSTRAINT);

  // Deleting an automation deletes its executions.
  ASSERT_TRUE(run([&](WriteTxn& t) { return t.delete_automation("au1"); }).ok());
  EXPECT_FALSE(store_->get_automation("au1")->has_value());
  EXPECT_TRUE(store_->list_executions("au1", std::nullopt, 100)->empty());
  EXPECT_EQ(store_->list_executions("au2", std::nullopt, 100)->size(), 1u);
  EXPECT_EQ(run([&](WriteTxn& t) { return t.delete_automation("au1"); }).code(),
            ErrorCode::INTERNAL_ERROR);
}

TEST_P(AutomationStoreTest, AScheduleExecutionHasNoEvent) {
  ASSERT_TRUE(
      run([&](WriteTxn& t) { return t.insert_automation(sample_automation("au1", "h1")); }).ok());
  AutomationExecutionRow r = sample_execution("au1", 1);
  r.event_id.reset();
  ASSERT_TRUE(run([&](WriteTxn& t) { return t.insert_execution(r); }).ok());
  EXPECT_FALSE(store_->list_executions("au1", std::nullopt, 5)->front().event_id.has_value());
}

TEST_P(AutomationStoreTest, EventsAreStoredOnceAndInventoriesReplacedPerHost) {
  EventRow e{.id = "0193a4f0-0000-7000-8000-000000000001",
             .kind = "decision.denied",
             .source = "warden",
             .subject = "agent-1",
             .occurred_at_ms = 1'767'300'000'123,
             .attributes = R"({"reason":"RATE_LIMIT"})",
             .received_at_ms = 1'767'300'000'200};
  ASSERT_TRUE(run([&](WriteTxn& t) { return t.insert_event(e); }).ok());
  const EventRow got = store_->get_event(e.id)->value();
  EXPECT_EQ(got.kind, "decision.denied");
  EXPECT_EQ(got.source, "warden");
  EXPECT_EQ(got.subject, "agent-1");
  EXPECT_EQ(got.occurred_at_ms, 1'767'300'000'123);
  EXPECT_EQ(got.attributes, e.attributes);
  EXPECT_EQ(got.received_at_ms, 1'767'300'000'200);
  EXPECT_EQ(run([&](WriteTxn& t) { return t.insert_event(e); }).code(),
            ErrorCode::STORE_CONSTRAINT);
  e.id = "0193a4f0-0000-7000-8000-000000000002";
  e.attributes = "not json";
  const Status not_json = run([&](WriteTxn& t) { return t.insert_event(e); });
  EXPECT_EQ(not_json.code(), ErrorCode::STORE_CONSTRAINT) << not_json.message();

  // Retention: the oldest received go first, at most `limit` per call.
  for (int i = 3; i <= 6; ++i) {
    EventRow old = e;
    old.id = fmt::format("0193a4f0-0000-7000-8000-00000000000{}", i);
    old.attributes = "{}";
    old.received_at_ms = i * 100;
    ASSERT_TRUE(run([&](WriteTxn& t) { return t.insert_event(old); }).ok());
  }
  std::int64_t deleted = -1;
  ASSERT_TRUE(run([&](WriteTxn& t) -> Status {
                WARDEN_ASSIGN_OR_RETURN(deleted, t.delete_events_before(550, 1));
                return Status();
              }).ok());
  EXPECT_EQ(deleted, 1);
  EXPECT_FALSE(store_->get_event("0193a4f0-0000-7000-8000-000000000003")->has_value());
  ASSERT_TRUE(run([&](WriteTxn& t) -> Status {
                WARDEN_ASSIGN_OR_RETURN(deleted, t.delete_events_before(550, 100));
                return Status();
              }).ok());
  EXPECT_EQ(deleted, 2);  // 400 and 500; 600 and the first event stay
  EXPECT_TRUE(store_->get_event("0193a4f0-0000-7000-8000-000000000006")->has_value());
  EXPECT_TRUE(store_->get_event("0193a4f0-0000-7000-8000-000000000001")->has_value());

  EXPECT_FALSE(store_->get_inventory("files")->has_value());
  ASSERT_TRUE(
      run([&](WriteTxn& t) {
        return t.put_inventory(
            {.host = "files", .items = R"([{"id":"a"}])", .refreshed_at_ms = 10, .full = true});
      }).ok());
  ASSERT_TRUE(
      run([&](WriteTxn& t) {
        return t.put_inventory(
            {.host = "files", .items = R"([{"id":"b"}])", .refreshed_at_ms = 20, .full = false});
      }).ok());
  const InventoryRow inv = store_->get_inventory("files")->value();
  EXPECT_EQ(inv.items, R"([{"id":"b"}])");
  EXPECT_EQ(inv.refreshed_at_ms, 20);
  EXPECT_FALSE(inv.full);
  EXPECT_FALSE(store_->get_inventory("other")->has_value());
}

WARDEN_STORE_SUITE(AutomationStoreTest);

}  // namespace
}  // namespace warden::store
