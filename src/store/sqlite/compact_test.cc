// How a decision's rows are kept on disk since migrations 10 and 11 (compact.h): the codec's exact
// round trip, the stored forms a real store writes, the files version-9 and version-10 binaries
// wrote migrating with their audit chain intact, and the queries on the hot tables still planned
// with an index.
#include "store/sqlite/compact.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <random>

#include "store/sqlite/schema.h"
#include "store/sqlite/sql_functions.h"
#include "store/sqlite/sqlite_store.h"
#include "store/sqlite/test_util.h"

namespace warden::store {
namespace {

using sqlite::compact_id;
using sqlite::compact_key;
using sqlite::compact_text;
using sqlite::expand_text;
using testing::open_store;
using testing::RawDb;
using testing::TempDir;

constexpr std::string_view kAgent = "01a0c450-6c00-71e8-86c6-af1b5021880e";
constexpr std::string_view kSession = "01a0c450-6c00-71e9-b574-5e43d0379219";
constexpr std::string_view kTx = "01a0c450-6e6e-7218-8d9e-4ecfb2d19534";
constexpr std::string_view kChild = "01a0c460-0000-7000-8000-00000000c41d";
constexpr std::string_view kCorrelation = "01a0c450-6c01-77cc-992c-51755127a223";
// What DecisionService writes for an INSTANT allow of a TRANSFER (bench/disk_bench.cc).
constexpr std::string_view kMetadata =
    R"({"network":"mainnet","charges":[{"usage":"01a0c450-6c00-72b0-90d7-c9c05708bbc4/native",)"
    R"("kind":"amount","amount":"749133803634569423","ts_ms":1790000000622,"asset":"native"}],)"
    R"("effect":"ALLOW","reasons":[]})";
constexpr std::string_view kDecidedDetails =
    R"({"effect":"ALLOW","tier":"INSTANT","status":"PENDING","reasons":[],)"
    R"("amount":"749133803634569423"})";
constexpr std::string_view kRequestHash =
    "7301b27b4280359babce08298d94391e429a53d5c4a5b9a4bea4e82ad6d99607";

std::string round_trip(std::string_view text) {
  const std::optional<std::string> stored = compact_text(text);
  if (!stored) return std::string(text);
  auto back = expand_text(*stored);
  EXPECT_TRUE(back.ok()) << back.status().to_string();
  return back.ok() ? *back : std::string();
}

TEST(CompactText, DecisionValuesShrinkAndExpandToTheSameBytes) {
  struct Case {
    std::string_view text;
    std::size_t stored_max;
  };
  const Case cases[] = {
      {kMetadata, 42},
      {kDecidedDetails, 12},
      {kRequestHash, 34},
      {"749133803634569423", 10},
      {"0x05cc5e046a0ccbbe1ef01ea4bb92b3e7fa031d0a", 22},
      {"203.0.113.7", 6},
      {"agent:01a0c450-6c00-71e8-86c6-af1b5021880e", 23},
  };
  for (const Case& c : cases) {
    const std::optional<std::string> stored = compact_text(c.text);
    ASSERT_TRUE(stored.has_value()) << c.text;
    EXPECT_LE(stored->size(), c.stored_max) << c.text;
    auto back = expand_text(*stored);
    ASSERT_TRUE(back.ok()) << back.status().to_string();
    EXPECT_EQ(*back, c.text);
  }
  // A hash is its 32 bytes behind a two-byte tag.
  const std::optional<std::string> hash = compact_text(kRequestHash);
  EXPECT_EQ(hash->substr(0, 2), std::string("\x02\x20", 2));
  EXPECT_EQ(static_cast<unsigned char>((*hash)[2]), 0x73);
  EXPECT_EQ(static_cast<unsigned char>((*hash)[33]), 0x07);
}

TEST(CompactText, WhatDoesNotShrinkOrHoldsAReservedByteStaysText) {
  for (std::string_view text :
       {std::string_view(""), std::string_view("a1"), std::string_view("1000"),
        std::string_view("system"),
        std::string_view("ab\x01"
                         "cd",
                         5),
        std::string_view("x\0y", 3), std::string_view("\x1f\x1f\x1f\x1f\x1f\x1f")}) {
    EXPECT_FALSE(compact_text(text).has_value()) << text;
  }
}

TEST(CompactText, EdgeRunsExpandExactly) {
  for (std::string_view text : {
           // Leading zeros, past 19 digits, past 2^64, uppercase hex, odd hex runs, 255+ bytes.
           "id 00012345678 and 0000000000000000000000",
           "18446744073709551615 18446744073709551616 99999999999999999999999",
           "DEADBEEFDEADBEEFDEADBEEF deadbeefdeadbeefdeadbeefd deadbeefdeadbeef1",
           "01A0C450-6C00-71E8-86C6-AF1B5021880E 01a0c450-6c00-71e8-86c6-af1b5021880",
           "\t\r\n {\"effect\":\"DENY\",\"tier\":null} caf\xc3\xa9 1234 12345 /native\"}",
       }) {
    EXPECT_EQ(round_trip(text), text);
  }
  const std::string long_hex(1000, 'a');
  EXPECT_EQ(round_trip(long_hex), long_hex);
  EXPECT_LT(compact_text(long_hex)->size(), 510u);
}

TEST(CompactText, RandomTextRoundTripsExactly) {
  // Pieces that trigger every token next to each other and mid-way.
  const std::vector<std::string> pieces = {
      "0",
      "1",
      "7",
      "9",
      "a",
      "f",
      "g",
      "-",
      "x",
      "\"",
      "{",
      "}",
      ":",
      ",",
      "/native",
      std::string(kAgent),
      std::string(kRequestHash).substr(0, 17),
      "\"}",
      R"(","ts_ms":)",
      R"({"effect":"ALLOW","tier":"INSTANT","status":"PENDING","reasons":[],"amount":")",
      "\xc3\xa9",
      "\n",
      "12345678901234567890"};
  std::mt19937_64 rng(20261130);
  for (int i = 0; i < 20'000; ++i) {
    std::string text;
    const int n = static_cast<int>(rng() % 24);
    for (int k = 0; k < n; ++k) text += pieces[rng() % pieces.size()];
    const std::optional<std::string> stored = compact_text(text);
    if (!stored) continue;
    ASSERT_LT(stored->size(), text.size()) << text;
    auto back = expand_text(*stored);
    ASSERT_TRUE(back.ok()) << text;
    ASSERT_EQ(*back, text);
  }
}

// Migration 13's two-byte forms after 0x00: an IPv4 address, an EVM address, how a charged
// decision's metadata starts. Only text that prints back exactly takes them.
TEST(CompactText, EscapedFormsRoundTripAndTakeOnlyWhatPrintsBack) {
  struct Case {
    std::string_view text;
    std::string_view stored;
  };
  const Case cases[] = {
      {"10.0.0.1", std::string_view("\0\x01\x0a\x00\x00\x01", 6)},
      {"ip:255.255.255.0", std::string_view("ip:\0\x01\xff\xff\xff\x00", 9)},
      {"0x00000000000000000000000000000000000000ff",
       std::string_view("\0\x02\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\xff", 22)},
      {R"({"network":"devnet","charges":[{"usage":"x)", std::string_view("\0\x04x", 3)},
      {R"({"network":"testnet","charges":[{"usage":"x)", std::string_view("\0\x05x", 3)},
  };
  for (const Case& c : cases) {
    const std::optional<std::string> stored = compact_text(c.text);
    ASSERT_TRUE(stored.has_value()) << c.text;
    EXPECT_EQ(*stored, c.stored) << c.text;
    EXPECT_EQ(*expand_text(*stored), c.text);
  }
  // What does not print back as a dotted quad or an address is stored as other text is, and
  // still exactly: a leading zero, a part past 255, three parts, 41 digits, upper case.
  for (std::string_view text :
       {"01.2.3.4xx", "256.1.1.1xxxx", "1.2.3xxxxxxx", "1.2.3.4567",
        "0x00000000000000000000000000000000000000ff1", "0x00000000000000000000000000000000000000FF"}) {
    const std::optional<std::string> stored = compact_text(text);
    EXPECT_EQ(stored ? *expand_text(*stored) : std::string(text), text);
  }
  EXPECT_FALSE(compact_text("1.2.3xxxxxxx").has_value());
  EXPECT_EQ(*compact_text("01.2.3.4"), std::string_view("0\0\x01\x01\x02\x03\x04", 7));
  // An idempotency key's form has no fragment, long or short.
  EXPECT_FALSE(compact_key(R"({"network":"mainnet","charges":[{"usage":")").has_value());
  EXPECT_EQ(*compact_key("order-766d0ead5b6dc93b"), "order-\x02\x08\x76\x6d\x0e\xad\x5b\x6d\xc9\x3b");
  for (std::string_view blob : {std::string_view("\0", 1), std::string_view("\0\x01\x01\x02\x03", 5),
                                std::string_view("\0\x02\x01", 3), std::string_view("\0\x06", 2)}) {
    EXPECT_FALSE(expand_text(blob).ok()) << blob.size();
  }
}

TEST(CompactText, MalformedBlobsAreErrors) {
  for (std::string_view blob : {std::string_view("\x01"
                                                 "abc",
                                                 4),
                                std::string_view("\x02", 1),
                                std::string_view("\x02\x05"
                                                 "ab",
                                                 4),
                                std::string_view("\x03\x09"
                                                 "123456789",
                                                 11),
                                std::string_view("a\0b", 3)}) {
    auto r = expand_text(blob);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), ErrorCode::INTERNAL_STORE_ERROR);
  }
}

TEST(CompactId, OnlyALowercaseUuidIsCompacted) {
  const std::optional<std::string> id = compact_id(kAgent);
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(id->size(), 17u);
  EXPECT_EQ(*expand_text(*id), kAgent);
  EXPECT_FALSE(compact_id("a1").has_value());
  EXPECT_FALSE(compact_id("01A0C450-6C00-71E8-86C6-AF1B5021880E").has_value());
  // An id is never split into fragments, whatever it holds.
  EXPECT_FALSE(compact_id(R"(x","code":"y)").has_value());
}

AuditEvent decided_event(std::int64_t ts) {
  AuditEvent e;
  e.timestamp = ts;
  e.event_type = "TX_DECIDED";
  e.actor = "agent:" + std::string(kAgent);
  e.agent_id = std::string(kAgent);
  e.session_id = std::string(kSession);
  e.tx_id = std::string(kTx);
  e.details = std::string(kDecidedDetails);
  e.ip_address = "203.0.113.7";
  e.correlation_id = std::string(kCorrelation);
  return e;
}

TransactionRow decided_row() {
  TransactionRow r;
  r.id = std::string(kTx);
  r.agent_id = std::string(kAgent);
  r.session_id = std::string(kSession);
  r.chain = "ethereum";
  r.type = "TRANSFER";
  r.amount = "749133803634569423";
  r.reserved_amount = "749133803634569423";
  r.to_address = "0x05cc5e046a0ccbbe1ef01ea4bb92b3e7fa031d0a";
  r.status = "PENDING";
  r.tier = "INSTANT";
  r.created_at = r.updated_at = 1'790'000'000;
  r.expires_at = 1'790'003'600;
  r.metadata = std::string(kMetadata);
  r.idempotency_key = "order-060224692e49da65";
  r.request_hash = std::string(kRequestHash);
  return r;
}

void expect_same(const AuditEvent& a, const AuditEvent& b) {
  EXPECT_EQ(a.timestamp, b.timestamp);
  EXPECT_EQ(a.event_type, b.event_type);
  EXPECT_EQ(a.actor, b.actor);
  EXPECT_EQ(a.agent_id, b.agent_id);
  EXPECT_EQ(a.session_id, b.session_id);
  EXPECT_EQ(a.tx_id, b.tx_id);
  EXPECT_EQ(a.details, b.details);
  EXPECT_EQ(a.severity, b.severity);
  EXPECT_EQ(a.ip_address, b.ip_address);
  EXPECT_EQ(a.correlation_id, b.correlation_id);
}

void expect_same(const TransactionRow& a, const TransactionRow& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.agent_id, b.agent_id);
  EXPECT_EQ(a.session_id, b.session_id);
  EXPECT_EQ(a.amount, b.amount);
  EXPECT_EQ(a.reserved_amount, b.reserved_amount);
  EXPECT_EQ(a.to_address, b.to_address);
  EXPECT_EQ(a.metadata, b.metadata);
  EXPECT_EQ(a.idempotency_key, b.idempotency_key);
  EXPECT_EQ(a.request_hash, b.request_hash);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.tier, b.tier);
  EXPECT_EQ(a.expires_at, b.expires_at);
}

class CompactStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = open_store(path_);
    ASSERT_NE(store_, nullptr);
    ASSERT_TRUE(store_
                    ->write([&](WriteTxn& t) -> Status {
                      AgentRow a = testing::sample_agent(std::string(kAgent), std::nullopt);
                      WARDEN_RETURN_IF_ERROR(t.insert_agent(a));
                      SessionRow s =
                          testing::sample_session(std::string(kSession), a.id, "token-hash");
                      return t.insert_session(s);
                    })
                    .ok());
  }
  TempDir dir_;
  std::string path_ = dir_.file("compact.db");
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(CompactStoreTest, AuditRowsAreStoredCompactAndReadBackAsWritten) {
  AuditEvent master = decided_event(1'790'000'001);
  master.actor = "master";
  ASSERT_TRUE(store_
                  ->write([&](WriteTxn& t) -> Status {
                    WARDEN_RETURN_IF_ERROR(t.append_audit(decided_event(1'790'000'000)).status());
                    return t.append_audit(master).status();
                  })
                  .ok());
  RawDb raw(path_);
  // Ids as their 16 bytes, hashes as their 32, the agent's own actor not at all; the agent and
  // session as their integer keys, event type and severity as codes; prev_hash only where it is
  // not the hash of the row before (the first row's is the genesis).
  EXPECT_EQ(raw.text("SELECT typeof(hash) || length(hash) || typeof(prev_hash) || "
                     "length(prev_hash) FROM audit_log WHERE id = 1"),
            "blob34blob34");
  EXPECT_EQ(raw.text("SELECT typeof(prev_hash) FROM audit_log WHERE id = 2"), "null");
  EXPECT_EQ(raw.text("SELECT typeof(agent_id) || typeof(session_id) || typeof(tx_id) || "
                     "length(tx_id) || length(correlation_id) FROM audit_log WHERE id = 1"),
            "integerintegerblob1717");
  EXPECT_EQ(raw.text("SELECT event_type || '/' || severity FROM audit_log WHERE id = 1"), "0/0");
  EXPECT_EQ(raw.text("SELECT count(*) FROM audit_log a JOIN id_keys k ON k.key = a.agent_id "
                     "WHERE k.id = '" + std::string(kAgent) + "'"),
            "2");
  EXPECT_EQ(raw.text("SELECT typeof(actor) FROM audit_log WHERE id = 1"), "null");
  EXPECT_EQ(raw.text("SELECT actor FROM audit_log WHERE id = 2"), "master");
  EXPECT_LE(raw.integer("SELECT length(details) FROM audit_log WHERE id = 1"), 12);
  auto rows = store_->list_audit({});
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 2u);
  expect_same((*rows)[0].event, decided_event(1'790'000'000));
  expect_same((*rows)[1].event, master);
  EXPECT_EQ((*rows)[0].prev_hash, kAuditGenesisHash);
  EXPECT_EQ((*rows)[0].hash, audit_row_hash(1, (*rows)[0].event, kAuditGenesisHash));
  EXPECT_EQ((*rows)[1].prev_hash, (*rows)[0].hash);
  auto report = store_->verify_audit();
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->rows_checked, 2);
  EXPECT_FALSE(report->first_broken_id) << report->problem;
  // The agent filter binds the id as stored.
  AuditFilter by_agent;
  by_agent.agent_id = std::string(kAgent);
  EXPECT_EQ(store_->list_audit(by_agent)->size(), 2u);
  by_agent.agent_id = "01a0c450-6c00-71e8-86c6-af1b50218800";
  EXPECT_EQ(store_->list_audit(by_agent)->size(), 0u);
}

TEST_F(CompactStoreTest, TransactionRowsAreStoredCompactAndReadBackAsWritten) {
  const TransactionRow row = decided_row();
  ASSERT_TRUE(store_->write([&](WriteTxn& t) { return t.insert_transaction(row); }).ok());
  RawDb raw(path_);
  EXPECT_EQ(raw.text("SELECT typeof(amount) || typeof(reserved_amount) || typeof(to_address) || "
                     "typeof(metadata) || typeof(request_hash) FROM transactions"),
            "blobblobblobblobblob");
  EXPECT_LE(raw.integer("SELECT length(metadata) FROM transactions"), 50);
  EXPECT_EQ(raw.integer("SELECT length(request_hash) FROM transactions"), 34);
  // The id as its 16 bytes; the agent and session as their integer keys, the enums as codes
  // (ethereum 1, TRANSFER 0, PENDING 0, INSTANT 0).
  EXPECT_EQ(raw.text("SELECT typeof(id) || length(id) || typeof(agent_id) || typeof(session_id) "
                     "|| typeof(status) FROM transactions"),
            "blob17integerintegerinteger");
  EXPECT_EQ(raw.text("SELECT chain || type || status || tier FROM transactions"), "1000");
  EXPECT_EQ(raw.text("SELECT k.id FROM transactions t JOIN id_keys k ON k.key = t.agent_id"),
            kAgent);
  EXPECT_EQ(raw.text("SELECT k.id FROM transactions t JOIN id_keys k ON k.key = t.session_id"),
            kSession);
  auto got = store_->get_transaction(row.id);
  ASSERT_TRUE(got.ok() && got->has_value());
  expect_same(**got, row);
  // An update writes the same forms.
  TransactionRow confirmed = row;
  confirmed.status = "CONFIRMED";
  confirmed.final_amount = row.amount;
  confirmed.metadata = std::string(kMetadata.substr(0, kMetadata.size() - 1)) +
                       R"(,"final_amounts":{"native":"749133803634569423"}})";
  ASSERT_TRUE(store_->write([&](WriteTxn& t) { return t.update_transaction(confirmed); }).ok());
  got = store_->get_transaction(row.id);
  ASSERT_TRUE(got.ok() && got->has_value());
  expect_same(**got, confirmed);
  EXPECT_EQ((*got)->final_amount, row.amount);
}

TEST_F(CompactStoreTest, CompactIdsKeepTheirOrderAndTheirForeignKeys) {
  // UUID v7 ids in a scrambled insert order; pages come back in the ids' text order.
  std::vector<std::string> ids = {
      "01a0c450-6e6e-7218-8d9e-4ecfb2d19534", "01a0c450-6e6e-7218-8d9e-4ecfb2d19533",
      "01a0c451-0000-7000-8000-000000000000", "01a0c44f-ffff-7fff-bfff-ffffffffffff",
      "ff000000-0000-7000-8000-0000000000ff"};
  ASSERT_TRUE(store_
                  ->write([&](WriteTxn& t) -> Status {
                    for (const std::string& id : ids) {
                      TransactionRow r = decided_row();
                      r.id = id;
                      r.idempotency_key.reset();
                      WARDEN_RETURN_IF_ERROR(t.insert_transaction(r));
                    }
                    TransactionRow child = decided_row();
                    child.id = "01a0c452-0000-7000-8000-000000000001";
                    child.idempotency_key.reset();
                    child.parent_id = ids[0];
                    WARDEN_RETURN_IF_ERROR(t.insert_transaction(child));
                    ids.push_back(child.id);
                    return t.insert_approval(ApprovalRow{"ap-1", ids[2], 10, 10, {}, {}, {}, 1});
                  })
                  .ok());
  std::sort(ids.begin(), ids.end());
  std::vector<std::string> listed;
  std::optional<std::string> after;
  for (;;) {
    auto page = store_->list_transactions({}, Page{after, 2});
    ASSERT_TRUE(page.ok());
    if (page->empty()) break;
    for (const auto& r : *page) listed.push_back(r.id);
    after = page->back().id;
  }
  EXPECT_EQ(listed, ids);
  auto child = store_->get_transaction("01a0c452-0000-7000-8000-000000000001");
  ASSERT_TRUE(child.ok() && child->has_value());
  EXPECT_EQ((*child)->parent_id, ids[2]);
  auto approval = store_->find_approval_by_tx(ids[3]);
  ASSERT_TRUE(approval.ok() && approval->has_value());
  EXPECT_EQ((*approval)->tx_id, ids[3]);
  EXPECT_EQ((*store_->get_approval("ap-1"))->tx_id, ids[3]);
  // The references are still checked: an approval of a transaction that does not exist fails.
  Status missing = store_->write([&](WriteTxn& t) {
    return t.insert_approval(
        ApprovalRow{"ap-2", "01a0c450-0000-7000-8000-000000000000", 10, 10, {}, {}, {}, 1});
  });
  EXPECT_EQ(missing.code(), ErrorCode::STORE_CONSTRAINT) << missing.to_string();
}

TEST_F(CompactStoreTest, AValueThatDoesNotExpandFailsTheReadInsteadOfReadingGarbage) {
  ASSERT_TRUE(store_->write([&](WriteTxn& t) { return t.insert_transaction(decided_row()); }).ok());
  ASSERT_EQ(RawDb(path_).exec("UPDATE transactions SET metadata = X'01AB'"), SQLITE_OK);
  auto got = store_->get_transaction(std::string(kTx));
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), ErrorCode::INTERNAL_STORE_ERROR);
  EXPECT_NE(got.status().message().find("malformed"), std::string::npos);
}

// What SQLite plans for the statements in queries.cc that read the hot tables by value.
std::string plan(RawDb& raw, std::string_view sql) {
  std::string out;
  for (const std::string& step : raw.column(fmt::format("EXPLAIN QUERY PLAN {}", sql), 3)) {
    out += step + "; ";
  }
  return out;
}

TEST_F(CompactStoreTest, QueriesOnTheHotTablesStillUseAnIndex) {
  RawDb raw(path_);
  struct Case {
    std::string_view sql;
    std::string_view index;
  };
  const Case cases[] = {
      // list_audit by agent and by event type: in id order straight from the index.
      {"SELECT * FROM audit_log WHERE id > ? AND agent_id = (SELECT key FROM id_keys WHERE "
       "id = ?) ORDER BY id LIMIT ?",
       "USING INDEX idx_audit_log_agent (agent_id=? AND rowid>?)"},
      {"SELECT * FROM audit_log WHERE id > ? AND event_type = ? ORDER BY id LIMIT ?",
       "USING INDEX idx_audit_log_event_type (event_type=? AND rowid>?)"},
      {"SELECT * FROM transactions WHERE id = ?", "sqlite_autoindex_transactions_1 (id=?)"},
      {"SELECT * FROM transactions WHERE id > ? AND agent_id = (SELECT key FROM id_keys WHERE "
       "id = ?) ORDER BY id LIMIT ?",
       "idx_transactions_agent_status (agent_id=?)"},
      {"SELECT * FROM transactions WHERE id > ? AND status IN (?, ?) ORDER BY id LIMIT ?",
       "idx_transactions_status_expires (status=?)"},
      {"SELECT * FROM transactions WHERE id > ? AND created_at >= ? ORDER BY +id LIMIT ?",
       "idx_transactions_created_at (created_at>?)"},
      // A refused key's holder (TransactionFilter::idempotency_key): the unique index, not the
      // primary key's order.
      {"SELECT * FROM transactions WHERE id > ? AND agent_id = (SELECT key FROM id_keys WHERE "
       "id = ?) AND idempotency_key = ? ORDER BY id LIMIT ?",
       "idx_transactions_agent_idempotency (agent_id=? AND idempotency_key=?)"},
  };
  for (const Case& c : cases) {
    const std::string p = plan(raw, c.sql);
    EXPECT_NE(p.find(c.index), std::string::npos) << c.sql << "\n  plan: " << p;
  }
  // Ordered by the index itself: no sort step.
  EXPECT_EQ(plan(raw, cases[0].sql).find("TEMP B-TREE"), std::string::npos);
}

constexpr int kMigratedAuditRows = 6;

// A file a version-9 binary wrote: text everywhere, the agent's actor spelled out, the index on
// transactions(session_id). Its audit events go to `events`. Row 5 names an agent id that is no
// agent, with an event type and a severity that have no code (compact.h, Coded).
void write_version_nine_file(const std::string& path, std::vector<AuditEvent>& events) {
  constexpr int kRows = kMigratedAuditRows;
  std::ofstream(path).flush();
  {
    RawDb raw(path);
    ASSERT_EQ(raw.exec(sqlite::kSchemaVersionDdl), SQLITE_OK) << raw.error();
    for (const auto& m : sqlite::migrations()) {
      if (m.version > 9) break;
      ASSERT_EQ(raw.exec(m.sql()), SQLITE_OK) << m.version << ": " << raw.error();
      ASSERT_EQ(raw.exec(fmt::format("INSERT INTO schema_version VALUES ({}, 'v', 0)", m.version)),
                SQLITE_OK);
    }
    ASSERT_EQ(raw.exec(fmt::format(
                  "INSERT INTO agents (id, name, chain, network, status, created_at, updated_at) "
                  "VALUES ('{0}', 'n', 'ethereum', 'mainnet', 'ACTIVE', 1, 1);"
                  "INSERT INTO sessions (id, agent_id, token_hash, expires_at, "
                  "absolute_expires_at, created_at) VALUES ('{1}', '{0}', 'h', 2, 3, 1);",
                  kAgent, kSession)),
              SQLITE_OK)
        << raw.error();
    const TransactionRow t = decided_row();
    ASSERT_EQ(raw.exec(fmt::format(
                  "INSERT INTO transactions (id, agent_id, session_id, chain, type, amount, "
                  "to_address, status, tier, created_at, reserved_amount, metadata, "
                  "idempotency_key, request_hash, expires_at, updated_at) VALUES ('{}', '{}', "
                  "'{}', 'ethereum', 'TRANSFER', '{}', '{}', 'PENDING', 'INSTANT', {}, '{}', '{}', "
                  "'{}', '{}', {}, {});"
                  "INSERT INTO transactions (id, agent_id, chain, type, status, created_at) "
                  "VALUES ('t-plain', '{}', 'ethereum', 'TRANSFER', 'DENIED', 5);"
                  "INSERT INTO transactions (id, agent_id, chain, type, status, created_at, "
                  "parent_id) VALUES ('{}', '{}', 'ethereum', 'TRANSFER', 'PENDING', 6, '{}');"
                  "INSERT INTO pending_approvals (id, tx_id, required_by, expires_at, created_at) "
                  "VALUES ('ap-9', '{}', 1, 2, 1);",
                  t.id, t.agent_id, *t.session_id, *t.amount, *t.to_address, t.created_at,
                  *t.reserved_amount, t.metadata, *t.idempotency_key, *t.request_hash,
                  *t.expires_at, t.updated_at, t.agent_id, kChild, t.agent_id, t.id, t.id)),
              SQLITE_OK)
        << raw.error();
    std::string prev(kAuditGenesisHash);
    for (std::int64_t id = 1; id <= kRows; ++id) {
      AuditEvent e = decided_event(1'790'000'000 + id);
      if (id == 2) e.actor = "system";
      if (id == 3) e.agent_id.reset(), e.actor = "ip:203.0.113.7";
      if (id == 4) e.correlation_id = "client-given-id";
      if (id == 5) e.agent_id = "agent-7", e.event_type = "AGENT_DELETED", e.severity = "warning";
      const std::string hash = audit_row_hash(id, e, prev);
      auto sql_text = [](const std::optional<std::string>& v) {
        return v ? fmt::format("'{}'", *v) : std::string("NULL");
      };
      ASSERT_EQ(raw.exec(fmt::format(
                    "INSERT INTO audit_log (id, timestamp, event_type, actor, agent_id, "
                    "session_id, tx_id, details, severity, ip_address, correlation_id, prev_hash, "
                    "hash) VALUES ({}, {}, '{}', '{}', {}, {}, {}, '{}', '{}', {}, {}, '{}', '{}')",
                    id, e.timestamp, e.event_type, e.actor, sql_text(e.agent_id),
                    sql_text(e.session_id), sql_text(e.tx_id), e.details, e.severity,
                    sql_text(e.ip_address), sql_text(e.correlation_id), prev, hash)),
                SQLITE_OK)
          << raw.error();
      events.push_back(e);
      prev = hash;
    }
  }
}

// A file a version-9 binary wrote. Migration 10 rewrites its rows; they read back as written,
// the chain verifies and continues.
TEST(CompactMigration, AVersionNineFileMigratesAndItsAuditChainVerifies) {
  TempDir dir;
  const std::string path = dir.file("v9.db");
  constexpr int kRows = kMigratedAuditRows;
  std::vector<AuditEvent> events;
  ASSERT_NO_FATAL_FAILURE(write_version_nine_file(path, events));
  auto store = SqliteStore::open(path, {});
  ASSERT_TRUE(store.ok()) << store.status().to_string();
  EXPECT_EQ((*store)->migrations_applied_at_open(), latest_schema_version() - 9);
  auto report = (*store)->verify_audit();
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->first_broken_id) << report->problem;
  EXPECT_EQ(report->rows_checked, kRows);
  auto rows = (*store)->list_audit({});
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), static_cast<std::size_t>(kRows));
  for (int i = 0; i < kRows; ++i) expect_same((*rows)[i].event, events[i]);
  auto tx = (*store)->get_transaction(std::string(kTx));
  ASSERT_TRUE(tx.ok() && tx->has_value());
  expect_same(**tx, decided_row());
  auto child = (*store)->get_transaction(std::string(kChild));
  ASSERT_TRUE(child.ok() && child->has_value());
  EXPECT_EQ((*child)->parent_id, kTx);
  auto approval = (*store)->find_approval_by_tx(std::string(kTx));
  ASSERT_TRUE(approval.ok() && approval->has_value());
  EXPECT_EQ((*approval)->id, "ap-9");
  auto plain = (*store)->get_transaction("t-plain");
  ASSERT_TRUE(plain.ok() && plain->has_value());
  EXPECT_EQ((*plain)->metadata, "{}");
  EXPECT_FALSE((*plain)->amount.has_value());
  // The chain continues from the migrated tail.
  auto id = Result<std::int64_t>(0);
  ASSERT_TRUE((*store)
                  ->write([&](WriteTxn& t) {
                    id = t.append_audit(decided_event(1'790'000'100));
                    return id.status();
                  })
                  .ok());
  EXPECT_EQ(*id, kRows + 1);
  report = (*store)->verify_audit();
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->first_broken_id) << report->problem;
  EXPECT_EQ(report->rows_checked, kRows + 1);
  RawDb raw(path);
  EXPECT_EQ(raw.text("SELECT typeof(hash) || typeof(details) || typeof(actor) FROM audit_log "
                     "WHERE id = 1"),
            "blobblobnull");
  EXPECT_EQ(raw.text("SELECT actor FROM audit_log WHERE id = 2"), "system");
  EXPECT_EQ(raw.text("SELECT typeof(correlation_id) FROM audit_log WHERE id = 4"), "text");
  EXPECT_EQ(raw.text("SELECT typeof(id) || typeof(metadata) || typeof(request_hash) FROM "
                     "transactions WHERE request_hash IS NOT NULL"),
            "blobblobblob");
  EXPECT_EQ(raw.text("SELECT typeof(tx_id) FROM pending_approvals"), "blob");
  EXPECT_EQ(raw.text("SELECT typeof(id) || typeof(parent_id) FROM transactions WHERE "
                     "parent_id IS NOT NULL"),
            "blobblob");
  EXPECT_EQ(raw.text("SELECT id FROM transactions WHERE typeof(id) = 'text'"), "t-plain");
  EXPECT_TRUE(raw.column("PRAGMA foreign_key_check").empty());
  EXPECT_EQ(raw.text("SELECT count(*) FROM sqlite_master WHERE name IN "
                     "('idx_transactions_session_id', 'idx_audit_log_agent_timestamp')"),
            "0");
  EXPECT_EQ(raw.text("SELECT count(*) FROM sqlite_master WHERE name = 'idx_audit_log_agent'"), "1");
  // A tampered migrated row is still named.
  ASSERT_EQ(raw.exec("UPDATE audit_log SET ip_address = '198.51.100.1' WHERE id = 5"), SQLITE_OK);
  report = (*store)->verify_audit();
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->first_broken_id, 5);
}

// A file a version-10 binary wrote: the version-9 file through migration 10 (the stored forms
// that binary writes).
void write_version_ten_file(const std::string& path, std::vector<AuditEvent>& events) {
  ASSERT_NO_FATAL_FAILURE(write_version_nine_file(path, events));
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_TRUE(sqlite::register_sql_functions(db).ok());
  const auto& m10 = sqlite::migrations()[9];
  ASSERT_EQ(m10.version, 10);
  const std::string sql = "PRAGMA foreign_keys = ON; BEGIN; " + m10.sql() +
                          "INSERT INTO schema_version VALUES (10, 'v', 0); COMMIT;";
  char* error = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
      << (error != nullptr ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
}

// Migration 13 gives agents and sessions integer keys, stores them and the enums as integers and
// drops each prev_hash the row before repeats: every row of a version-10 file reads back as
// written, the chain verifies, a tampered row is named, the foreign keys still hold.
TEST(AgentKeyMigration, AVersionTenFileMigratesAndReadsBackAsWritten) {
  TempDir dir;
  const std::string path = dir.file("v10.db");
  constexpr int kRows = kMigratedAuditRows;
  std::vector<AuditEvent> events;
  ASSERT_NO_FATAL_FAILURE(write_version_ten_file(path, events));
  {
    RawDb raw(path);
    ASSERT_EQ(raw.text("SELECT typeof(agent_id) || typeof(status) FROM transactions WHERE id = "
                       "'t-plain'"),
              "texttext");
    ASSERT_EQ(raw.text("SELECT typeof(agent_id) || typeof(prev_hash) FROM audit_log WHERE id = 2"),
              "blobblob");
  }
  auto store = SqliteStore::open(path, {});
  ASSERT_TRUE(store.ok()) << store.status().to_string();
  EXPECT_EQ((*store)->migrations_applied_at_open(), latest_schema_version() - 10);
  auto report = (*store)->verify_audit();
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->first_broken_id) << report->problem;
  EXPECT_EQ(report->rows_checked, kRows);
  auto rows = (*store)->list_audit({});
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), static_cast<std::size_t>(kRows));
  std::string prev(kAuditGenesisHash);
  for (int i = 0; i < kRows; ++i) {
    expect_same((*rows)[i].event, events[i]);
    EXPECT_EQ((*rows)[i].prev_hash, prev) << i;
    EXPECT_EQ((*rows)[i].hash, audit_row_hash(i + 1, events[i], prev)) << i;
    prev = (*rows)[i].hash;
  }
  AuditFilter ghost;
  ghost.agent_id = "agent-7";
  ASSERT_EQ((*store)->list_audit(ghost)->size(), 1u);
  EXPECT_EQ((*store)->list_audit(ghost)->front().id, 5);
  AuditFilter by_agent;
  by_agent.agent_id = std::string(kAgent);
  EXPECT_EQ((*store)->list_audit(by_agent)->size(), static_cast<std::size_t>(kRows - 2));
  AuditFilter by_type;
  by_type.event_type = "AGENT_DELETED";
  EXPECT_EQ((*store)->list_audit(by_type)->size(), 1u);
  by_type.event_type = "TX_DECIDED";
  EXPECT_EQ((*store)->list_audit(by_type)->size(), static_cast<std::size_t>(kRows - 1));
  auto tx = (*store)->get_transaction(std::string(kTx));
  ASSERT_TRUE(tx.ok() && tx->has_value());
  expect_same(**tx, decided_row());
  auto plain = (*store)->get_transaction("t-plain");
  ASSERT_TRUE(plain.ok() && plain->has_value());
  EXPECT_EQ((*plain)->status, "DENIED");
  EXPECT_FALSE((*plain)->session_id.has_value());
  EXPECT_EQ((*plain)->agent_id, kAgent);
  auto child = (*store)->get_transaction(std::string(kChild));
  ASSERT_TRUE(child.ok() && child->has_value());
  EXPECT_EQ((*child)->parent_id, kTx);
  auto approval = (*store)->find_approval_by_tx(std::string(kTx));
  ASSERT_TRUE(approval.ok() && approval->has_value());
  EXPECT_EQ((*approval)->id, "ap-9");
  auto open = (*store)->list_transactions({.statuses = {"PENDING"}, .agent_id = std::string(kAgent)},
                                          {});
  ASSERT_TRUE(open.ok());
  ASSERT_EQ(open->size(), 2u);
  EXPECT_EQ((*open)[0].id, kTx);
  EXPECT_EQ((*open)[1].id, kChild);
  // The chain continues from the migrated tail.
  ASSERT_TRUE((*store)
                  ->write([&](WriteTxn& t) { return t.append_audit(decided_event(1'790'000'100)).status(); })
                  .ok());
  report = (*store)->verify_audit();
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->first_broken_id) << report->problem;
  EXPECT_EQ(report->rows_checked, kRows + 1);
  RawDb raw(path);
  EXPECT_EQ(raw.column("SELECT id FROM id_keys ORDER BY key"),
            (std::vector<std::string>{std::string(kAgent), std::string(kSession), "agent-7"}));
  EXPECT_EQ(raw.text("SELECT typeof(agent_id) || typeof(session_id) || typeof(chain) || "
                     "typeof(status) FROM transactions WHERE id = 't-plain'"),
            "integernullintegerinteger");
  EXPECT_EQ(raw.text("SELECT typeof(prev_hash) FROM audit_log WHERE id = 1"), "blob");
  EXPECT_EQ(raw.column("SELECT typeof(prev_hash) FROM audit_log WHERE id > 1"),
            std::vector<std::string>(kRows, "null"));
  EXPECT_EQ(raw.text("SELECT typeof(event_type) || event_type || typeof(severity) || severity "
                     "FROM audit_log WHERE id = 5"),
            "textAGENT_DELETEDinteger1");
  EXPECT_TRUE(raw.column("PRAGMA foreign_key_check").empty());
  // Foreign keys hold on the keys: an agent with transactions cannot go.
  EXPECT_EQ(raw.exec(fmt::format("DELETE FROM agents WHERE id = '{}'", kAgent)) & 0xff,
            SQLITE_CONSTRAINT);
  // A tampered migrated row is still named.
  ASSERT_EQ(raw.exec("UPDATE audit_log SET ip_address = '198.51.100.1' WHERE id = 4"), SQLITE_OK);
  report = (*store)->verify_audit();
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->first_broken_id, 4);
}

// Migration 13 runs with foreign keys off (it rebuilds transactions) and checks them all before
// it commits: a file whose rows break one is refused and left as migration 12 left it (each
// migration commits on its own).
TEST(AgentKeyMigration, AFileWithABrokenReferenceIsLeftBeforeMigrationThirteen) {
  TempDir dir;
  const std::string path = dir.file("v10.db");
  std::vector<AuditEvent> events;
  ASSERT_NO_FATAL_FAILURE(write_version_ten_file(path, events));
  {
    RawDb raw(path);
    ASSERT_EQ(raw.exec("PRAGMA foreign_keys = OFF; INSERT INTO pending_approvals (id, tx_id, "
                       "required_by, expires_at, created_at) VALUES ('ap-x', 'no-such-tx', 1, 2, 1)"),
              SQLITE_OK)
        << raw.error();
  }
  auto store = SqliteStore::open(path, {});
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), ErrorCode::STORE_CONSTRAINT) << store.status().to_string();
  EXPECT_NE(store.status().message().find("migration 13"), std::string::npos);
  EXPECT_NE(store.status().message().find("pending_approvals"), std::string::npos)
      << store.status().message();
  RawDb raw(path);
  EXPECT_EQ(raw.text("SELECT max(version) FROM schema_version"), "12");
  EXPECT_EQ(raw.text("SELECT count(*) FROM sqlite_master WHERE name = 'id_keys'"), "0");
  EXPECT_EQ(raw.text("SELECT typeof(agent_id) FROM transactions WHERE id = 't-plain'"), "text");
  EXPECT_EQ(raw.text("SELECT count(*) FROM transactions"), "3");
}

}  // namespace
}  // namespace warden::store
