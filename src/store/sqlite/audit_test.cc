// The hash-chained audit log: appending, verifying, detecting tampering and gaps, validation of
// events, and filtered listing.
#include <gtest/gtest.h>

#include <boost/json/object.hpp>

#include "core/json.h"
#include "store/sqlite/sqlite_store.h"
#include "store/sqlite/test_util.h"

namespace warden::store {
namespace {

using testing::open_store;
using testing::RawDb;
using testing::sample_event;
using testing::TempDir;

class AuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = open_store(path_);
    ASSERT_NE(store_, nullptr);
  }
  void append(int n) {
    for (int i = 0; i < n; ++i) {
      AuditEvent e = sample_event(i % 2 == 0 ? "AGENT_CREATED" : "POLICY_CREATED",
                                  i % 3 == 0 ? std::optional<std::string>("a1") : std::nullopt);
      e.timestamp += i;
      e.details = R"({"n":)" + std::to_string(i) + "}";
      ASSERT_TRUE(store_->write([&](WriteTxn& t) { return t.append_audit(e).status(); }).ok());
    }
  }

  TempDir dir_;
  std::string path_ = dir_.file("audit.db");
  std::unique_ptr<SqliteStore> store_;
};

// The chain's hash input is written field by field for speed; it must stay byte-identical to
// the canonical JSON of the row as an object, or chains written earlier stop verifying.
TEST(AuditHashInput, EqualsCanonicalJsonOfTheRowObject) {
  auto opt = [](const std::optional<std::string>& v) {
    return v ? boost::json::value(*v) : boost::json::value(nullptr);
  };
  const std::vector<std::string> texts = {"", "plain", "quote\" back\\slash",
                                          "ctl\x01\x1f\n\t", "utf8 \xED\x95\x9C\xEA\xB8\x80 ok",
                                          R"({"effect":"ALLOW","reasons":[]})"};
  int n = 0;
  for (const auto& text : texts) {
    for (bool present : {true, false}) {
      AuditEvent e = sample_event("TX_DECIDED", present ? std::optional<std::string>(text)
                                                        : std::nullopt);
      e.actor = text;
      e.details = text;
      e.session_id = e.tx_id = e.ip_address = e.correlation_id = e.agent_id;
      e.timestamp = present ? -5 : 1'790'000'000 + n;
      const std::int64_t id = ++n * 1'000'003;
      const std::string prev(64, present ? 'a' : '0');
      boost::json::object o{{"id", id},
                            {"timestamp", e.timestamp},
                            {"event_type", e.event_type},
                            {"actor", e.actor},
                            {"agent_id", opt(e.agent_id)},
                            {"session_id", opt(e.session_id)},
                            {"tx_id", opt(e.tx_id)},
                            {"details", e.details},
                            {"severity", e.severity},
                            {"ip_address", opt(e.ip_address)},
                            {"correlation_id", opt(e.correlation_id)},
                            {"prev_hash", prev}};
      EXPECT_EQ(audit_hash_input(id, e, prev), canonical_json(o)) << text;
    }
  }
}

TEST_F(AuditTest, EmptyLogVerifies) {
  auto report = store_->verify_audit();
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->rows_checked, 0);
  EXPECT_FALSE(report->first_broken_id.has_value());
}

TEST_F(AuditTest, RowsLinkFromGenesisAndVerify) {
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

TEST_F(AuditTest, EditedDetailsAreNamedByRowId) {
  append(10);
  ASSERT_EQ(RawDb(path_).exec(R"(UPDATE audit_log SET details = '{"n":999}' WHERE id = 7)"),
            SQLITE_OK);
  auto report = store_->verify_audit();
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->first_broken_id, 7);
  EXPECT_EQ(report->rows_checked, 7);
  EXPECT_NE(report->problem.find("hash"), std::string::npos) << report->problem;
}

TEST_F(AuditTest, RecomputedHashStillBreaksTheNextLink) {
  append(10);
  // A tamperer who also fixes the edited row's own hash is caught by the next row.
  auto rows = store_->list_audit({});
  AuditRow r = (*rows)[4];
  r.event.actor = "intruder";
  std::string forged = audit_row_hash(r.id, r.event, r.prev_hash);
  ASSERT_EQ(RawDb(path_).exec("UPDATE audit_log SET actor = 'intruder', hash = '" + forged +
                              "' WHERE id = 5"),
            SQLITE_OK);
  EXPECT_EQ(store_->verify_audit()->first_broken_id, 6);
}

TEST_F(AuditTest, DeletedMiddleRowIsNamedByTheRowAfterTheGap) {
  append(10);
  ASSERT_EQ(RawDb(path_).exec("DELETE FROM audit_log WHERE id = 4"), SQLITE_OK);
  auto report = store_->verify_audit();
  EXPECT_EQ(report->first_broken_id, 5);
  EXPECT_NE(report->problem.find("does not follow"), std::string::npos) << report->problem;
}

TEST_F(AuditTest, DeletedFirstRowIsDetected) {
  append(3);
  ASSERT_EQ(RawDb(path_).exec("DELETE FROM audit_log WHERE id = 1"), SQLITE_OK);
  EXPECT_EQ(store_->verify_audit()->first_broken_id, 2);
}

TEST_F(AuditTest, InvalidEventsAreRejectedAndRolledBack) {
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

TEST_F(AuditTest, AppendReturnsTheNewId) {
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

TEST_F(AuditTest, ListFiltersAndPages) {
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

}  // namespace
}  // namespace warden::store
