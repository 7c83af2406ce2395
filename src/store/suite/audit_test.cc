// The hash-chained audit log: appending, verifying, detecting tampering and gaps, validation of
// events, and filtered listing.
#include <gtest/gtest.h>

#include "store/suite/helpers.h"
#include "store/suite/store_suite.h"

namespace warden::store {
namespace {

using testing::sample_event;

class AuditTest : public suite::StoreTest {
 protected:
  void append(int n) {
    for (int i = 0; i < n; ++i) {
      AuditEvent e = sample_event(i % 2 == 0 ? "AGENT_CREATED" : "POLICY_CREATED",
                                  i % 3 == 0 ? std::optional<std::string>("a1") : std::nullopt);
      e.timestamp += i;
      e.details = R"({"n":)" + std::to_string(i) + "}";
      ASSERT_TRUE(store_->write([&](WriteTxn& t) { return t.append_audit(e).status(); }).ok());
    }
  }
};

TEST_P(AuditTest, EmptyLogVerifies) {
  auto report = store_->verify_audit();
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->rows_checked, 0);
  EXPECT_FALSE(report->first_broken_id.has_value());
}

TEST_P(AuditTest, RowsLinkFromGenesisAndVerify) {
  append(10);
  auto rows = store_->list_audit({});
  ASSERT_EQ(rows->size(), 10u);
  std::string prev(kAuditGenesisHash);
  for (std::size_t i = 0; i < rows->size(); ++i) {
    const AuditRow& r = (*rows)[i];
    EXPECT_EQ(r.id, static_cast<std::int64_t>(i + 1));
    EXPECT_EQ(r.prev_hash, prev);
    EXPECT_EQ(r.hash, audit_row_hash(r.id, r.event, r.prev_hash));
    EXPECT_EQ(r.hash.size(), 64u);
    prev = r.hash;
  }
  EXPECT_EQ((*rows)[3].event.details, R"({"n":3})");
  EXPECT_EQ((*rows)[3].event.correlation_id.value_or(""), "corr-1");
  auto report = store_->verify_audit();
  EXPECT_EQ(report->rows_checked, 10);
  EXPECT_FALSE(report->first_broken_id.has_value()) << report->problem;
}

TEST_P(AuditTest, EditedDetailsAreNamedByRowId) {
  append(10);
  ASSERT_TRUE(
      tamper("audit_log", R"(UPDATE audit_log SET details = '{"n":999}' WHERE id = 7)").ok());
  auto report = store_->verify_audit();
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->first_broken_id, 7);
  EXPECT_EQ(report->rows_checked, 7);
  EXPECT_NE(report->problem.find("hash"), std::string::npos) << report->problem;
}

TEST_P(AuditTest, RecomputedHashStillBreaksTheNextLink) {
  append(10);
  // A tamperer who also fixes the edited row's own hash is caught by the next row.
  auto rows = store_->list_audit({});
  AuditRow r = (*rows)[4];
  r.event.actor = "intruder";
  std::string forged = audit_row_hash(r.id, r.event, r.prev_hash);
  ASSERT_TRUE(tamper("audit_log", "UPDATE audit_log SET actor = 'intruder', hash = " +
                                      stored_hash(forged) + " WHERE id = 5")
                  .ok());
  EXPECT_EQ(store_->verify_audit()->first_broken_id, 6);
}

TEST_P(AuditTest, DeletedMiddleRowIsNamedByTheRowAfterTheGap) {
  append(10);
  ASSERT_TRUE(tamper("audit_log", "DELETE FROM audit_log WHERE id = 4").ok());
  auto report = store_->verify_audit();
  EXPECT_EQ(report->first_broken_id, 5);
  EXPECT_NE(report->problem.find("does not follow"), std::string::npos) << report->problem;
}

TEST_P(AuditTest, DeletedFirstRowIsDetected) {
  append(3);
  ASSERT_TRUE(tamper("audit_log", "DELETE FROM audit_log WHERE id = 1").ok());
  EXPECT_EQ(store_->verify_audit()->first_broken_id, 2);
}

TEST_P(AuditTest, InvalidEventsAreRejectedAndRolledBack) {
  AuditEvent bad_severity = sample_event("X");
  bad_severity.severity = "debug";
  AuditEvent array_details = sample_event("X");
  array_details.details = "[1,2]";
  AuditEvent text_details = sample_event("X");
  text_details.details = "not json";
  for (const AuditEvent& e : {bad_severity, array_details, text_details}) {
    Status s = store_->write([&](WriteTxn& t) -> Status {
      WARDEN_RETURN_IF_ERROR(t.put_kv("touched", "1", 1));
      return t.append_audit(e).status();
    });
    EXPECT_EQ(s.code(), ErrorCode::VALIDATION_INVALID_VALUE) << e.details << " " << e.severity;
  }
  EXPECT_TRUE(store_->list_audit({})->empty());
  EXPECT_FALSE(store_->get_kv("touched")->has_value());
  for (std::string_view severity : {"info", "warning", "critical"}) {
    AuditEvent e = sample_event("X");
    e.severity = std::string(severity);
    EXPECT_TRUE(store_->write([&](WriteTxn& t) { return t.append_audit(e).status(); }).ok());
  }
}

TEST_P(AuditTest, AppendReturnsTheNewId) {
  std::vector<std::int64_t> ids;
  ASSERT_TRUE(store_
                  ->write([&](WriteTxn& t) -> Status {
                    for (int i = 0; i < 3; ++i) {
                      auto id = t.append_audit(sample_event("MULTI"));
                      if (!id.ok()) return id.status();
                      ids.push_back(*id);
                    }
                    return Status();
                  })
                  .ok());
  EXPECT_EQ(ids, (std::vector<std::int64_t>{1, 2, 3}));
}

TEST_P(AuditTest, ListFiltersAndPages) {
  append(12);  // even i: AGENT_CREATED; i % 3 == 0: agent a1 (ids are i + 1)
  auto agent_created = store_->list_audit({.event_type = "AGENT_CREATED"});
  ASSERT_EQ(agent_created->size(), 6u);
  for (const AuditRow& r : *agent_created) EXPECT_EQ(r.event.event_type, "AGENT_CREATED");

  auto for_agent = store_->list_audit({.agent_id = "a1"});
  std::vector<std::int64_t> ids;
  for (const AuditRow& r : *for_agent) ids.push_back(r.id);
  EXPECT_EQ(ids, (std::vector<std::int64_t>{1, 4, 7, 10}));

  auto both = store_->list_audit({.event_type = "POLICY_CREATED", .agent_id = "a1"});
  ASSERT_EQ(both->size(), 2u);  // i = 3, 9
  EXPECT_EQ((*both)[0].id, 4);

  auto page = store_->list_audit({.after_id = 5, .limit = 3});
  ASSERT_EQ(page->size(), 3u);
  EXPECT_EQ((*page)[0].id, 6);
  EXPECT_EQ((*page)[2].id, 8);
}

WARDEN_STORE_SUITE(AuditTest);

}  // namespace
}  // namespace warden::store
