// Migration 5 in the SQLite schema: its tables, indexes, triggers and view, the SQL functions
// behind the view, the plans of the hot statements, and every write the contract forbids refused
// by the database itself when tried with raw SQL on a second connection. The rows' behaviour
// through the Store interface is in store/suite/ledger_test.cc, run on every backend.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <tuple>

#include "core/amount.h"
#include "store/sqlite/schema.h"
#include "store/sqlite/sql_functions.h"
#include "store/sqlite/sqlite_store.h"
#include "store/sqlite/test_util.h"

namespace warden::store {
namespace {

using testing::open_store;
using testing::RawDb;
using testing::sample_agent;
using testing::sample_event;
using testing::TempDir;
using testing::entry;
using testing::hold;
using testing::lot;
using testing::op;
using testing::payment;

constexpr std::int64_t kNow = testing::kLedgerNow;

class LedgerStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = open_store(path_);
    ASSERT_NE(store_, nullptr);
    raw_ = std::make_unique<RawDb>(path_);
    ASSERT_TRUE(run([](WriteTxn& t) -> Status {
                  WARDEN_RETURN_IF_ERROR(t.insert_agent(sample_agent("a1", "pk-1")));
                  return t.insert_agent(sample_agent("a2", "pk-2"));
                }).ok());
  }
  Status run(const std::function<Status(WriteTxn&)>& fn) { return store_->write(fn); }

  void mint(const LotRow& l, const std::string& op_id) {
    ASSERT_TRUE(run([&](WriteTxn& t) -> Status {
                  WARDEN_RETURN_IF_ERROR(t.insert_lot(l));
                  WARDEN_RETURN_IF_ERROR(t.insert_ledger_op(op(op_id, "mint")));
                  LotEntryRow credit = entry(l, "credit", l.amount, op_id);
                  return t.insert_lot_entry(credit);
                }).ok());
  }
  // Runs raw SQL on the second connection and expects the database to refuse it.
  void refused(const std::string& sql, std::string_view message) {
    const int rc = raw_->exec(sql);
    EXPECT_EQ(rc & 0xff, SQLITE_CONSTRAINT) << sql;
    EXPECT_NE(raw_->error().find(message), std::string::npos) << sql << ": " << raw_->error();
  }
  std::int64_t count(std::string_view table, std::string_view where = "1") {
    return raw_->integer(fmt::format("SELECT COUNT(*) FROM {} WHERE {}", table, where));
  }

  TempDir dir_;
  std::string path_ = dir_.file("ledger.db");
  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<RawDb> raw_;
};

TEST_F(LedgerStoreTest, SchemaHasTheLedgerTablesIndexesTriggersAndView) {
  EXPECT_EQ(store_->schema_version(), latest_schema_version());
  EXPECT_GE(latest_schema_version(), 5);
  const std::map<std::string, std::vector<std::string>> tables = {
      {"credit_lots",
       {"id", "owner", "source", "amount", "currency", "expires_at", "status", "payment_id",
        "created_at"}},
      {"lot_entries",
       {"id", "lot_id", "owner", "currency", "entry_type", "amount", "op_id", "hold_id", "tx_id",
        "created_at"}},
      {"ledger_holds",
       {"id", "owner", "currency", "amount", "status", "posted_amount", "tx_id", "expires_at",
        "created_at", "updated_at"}},
      {"ledger_ops", {"id", "kind", "idempotency_key", "request_hash", "result", "created_at"}},
      {"payments",
       {"id", "provider", "owner", "amount", "currency", "status", "lot_id", "created_at",
        "updated_at"}},
      {"webhook_events", {"provider", "event_id", "payload", "received_at", "processed_at"}},
      {"usage_events",
       {"id", "agent_id", "tx_id", "provider", "model", "prompt_tokens", "completion_tokens",
        "cost", "currency", "created_at"}},
  };
  for (const auto& [table, columns] : tables) {
    EXPECT_EQ(
        raw_->column(fmt::format("SELECT name FROM pragma_table_info('{}') ORDER BY cid", table)),
        columns)
        << table;
  }
  // (index, unique, partial)
  const std::vector<std::tuple<std::string, bool, bool>> indexes = {
      {"idx_credit_lots_payment_id", true, true}, {"idx_credit_lots_owner_currency", false, false},
      {"idx_lot_entries_lot_id", false, false},   {"idx_lot_entries_owner", false, false},
      {"idx_lot_entries_hold_id", false, true},   {"idx_ledger_holds_pending", false, true},
      {"idx_ledger_holds_tx_id", false, true},    {"idx_ledger_ops_idempotency_key", true, true},
      {"idx_ledger_ops_created_at", false, true}, {"idx_usage_events_agent_created", false, false}};
  for (const auto& [name, unique, partial] : indexes) {
    const std::string table = raw_->text(fmt::format(
        "SELECT tbl_name FROM sqlite_master WHERE type = 'index' AND name = '{}'", name));
    ASSERT_FALSE(table.empty()) << name;
    EXPECT_EQ(raw_->text(fmt::format("SELECT \"unique\" || partial FROM pragma_index_list('{}') "
                                     "WHERE name = '{}'",
                                     table, name)),
              fmt::format("{:d}{:d}", unique, partial))
        << name;
  }
  // The ledger's own triggers (later migrations add others' on their tables).
  EXPECT_EQ(raw_->column("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN "
                         "('credit_lots', 'lot_entries', 'ledger_holds', 'ledger_ops', "
                         "'payments', 'webhook_events', 'usage_events') ORDER BY name"),
            (std::vector<std::string>{
                "credit_lots_no_delete", "credit_lots_status_only", "ledger_holds_no_delete",
                "ledger_holds_pending_only", "ledger_ops_no_delete", "ledger_ops_no_update",
                "lot_entries_no_delete", "lot_entries_no_update", "payments_forward_only",
                "payments_no_delete", "usage_events_no_delete", "usage_events_no_update",
                "webhook_events_no_delete", "webhook_events_no_update"}));
}

TEST_F(LedgerStoreTest, PaymentsRefuseBackwardsAndSidewaysRawUpdates) {
  PaymentRow p = payment("stripe:p1", "pending");
  ASSERT_TRUE(run([&](WriteTxn& t) { return t.insert_payment(p); }).ok());
  p.status = "confirmed";
  p.lot_id = "l1";
  ASSERT_TRUE(run([&](WriteTxn& t) { return t.update_payment(p); }).ok());
  refused("UPDATE payments SET status = 'pending' WHERE id = 'stripe:p1'", "payments: status");
  refused("UPDATE payments SET status = 'confirmed', updated_at = 99 WHERE id = 'stripe:p1'",
          "payments: status");
  refused("UPDATE payments SET status = 'finished', amount = '6000' WHERE id = 'stripe:p1'",
          "payments: status");
  refused("UPDATE payments SET status = 'finished', owner = 'a2' WHERE id = 'stripe:p1'",
          "payments: status");
  refused("UPDATE payments SET status = 'finished', lot_id = 'l2' WHERE id = 'stripe:p1'",
          "payments: status");
  refused("DELETE FROM payments", "payments rows are never deleted");
  EXPECT_EQ(raw_->exec("UPDATE payments SET status = 'finished' WHERE id = 'stripe:p1'"), SQLITE_OK)
      << raw_->error();
  refused("UPDATE payments SET status = 'failed' WHERE id = 'stripe:p1'", "payments: status");
  EXPECT_EQ(raw_->exec("UPDATE payments SET status = 'refunded' WHERE id = 'stripe:p1'"), SQLITE_OK)
      << raw_->error();
  refused("UPDATE payments SET status = 'failed' WHERE id = 'stripe:p1'", "payments: status");
  EXPECT_EQ(store_->get_payment("stripe:p1")->value().status, "refunded");
}

TEST_F(LedgerStoreTest, ConfirmedToPendingAndFinishedToFailedAreRefusedFromEveryStart) {
  // Every (from, to) pair: allowed exactly when the rank rises, except finished -> failed.
  const std::map<std::string, int> rank = {
      {"pending", 0}, {"confirmed", 1}, {"finished", 2}, {"failed", 3}, {"refunded", 3}};
  int n = 0;
  for (const auto& [from, from_rank] : rank) {
    for (const auto& [to, to_rank] : rank) {
      const std::string id = fmt::format("p{}", n++);
      ASSERT_TRUE(run([&](WriteTxn& t) { return t.insert_payment(payment(id, from)); }).ok());
      const bool allowed = to_rank > from_rank && !(from == "finished" && to == "failed");
      EXPECT_EQ(raw_->exec(fmt::format("UPDATE payments SET status = '{}' WHERE id = '{}'", to,
                                       id)) == SQLITE_OK,
                allowed)
          << from << " -> " << to;
    }
  }
}

TEST_F(LedgerStoreTest, UsageEventsStoreEveryColumn) {
  UsageEventRow u{"u1", "a1", "tx-1", "openai", "gpt-x", 120, 30, "4500", "USD", kNow};
  ASSERT_TRUE(run([&](WriteTxn& t) { return t.insert_usage_event(u); }).ok());
  UsageEventRow unpriced{"u2", "a1", std::nullopt, "openai",     "gpt-x",
                         1,    0,    std::nullopt, std::nullopt, kNow};
  ASSERT_TRUE(run([&](WriteTxn& t) { return t.insert_usage_event(unpriced); }).ok());
  EXPECT_EQ(
      raw_->column("SELECT id || '|' || agent_id || '|' || ifnull(tx_id, '-') || '|' || "
                   "provider || '|' || model || '|' || prompt_tokens || '|' || "
                   "completion_tokens || '|' || ifnull(cost, '-') || '|' || "
                   "ifnull(currency, '-') || '|' || created_at FROM usage_events ORDER BY id"),
      (std::vector<std::string>{"u1|a1|tx-1|openai|gpt-x|120|30|4500|USD|1767225600",
                                "u2|a1|-|openai|gpt-x|1|0|-|-|1767225600"}));
}

TEST_F(LedgerStoreTest, LotBalancesRefuseAMalformedLot) {
  const LotRow l2 = lot("l2", "a2", "10");
  mint(l2, "m2");
  ASSERT_EQ(raw_->exec("PRAGMA ignore_check_constraints = ON"), SQLITE_OK);
  ASSERT_EQ(raw_->exec("INSERT INTO lot_entries (lot_id, owner, currency, entry_type, amount, "
                       "op_id, created_at) VALUES ('l2', 'a2', 'USD', 'debit', '1x', 'm2', 1)"),
            SQLITE_OK)
      << raw_->error();
  Status malformed =
      store_->scan_lot_balances({.owner = "a2"}, [](const LotBalanceRow&) { return Status(); });
  EXPECT_EQ(malformed.code(), ErrorCode::INTERNAL_STORE_ERROR);
  EXPECT_NE(malformed.message().find("malformed amount '1x'"), std::string::npos)
      << malformed.message();
}

TEST_F(LedgerStoreTest, AppendOnlyTablesRefuseUpdateAndDelete) {
  const LotRow l1 = lot("l1", "a1", "10");
  mint(l1, "m1");
  ASSERT_TRUE(
      run([](WriteTxn& t) -> Status {
        WARDEN_RETURN_IF_ERROR(t.insert_webhook_event({"stripe", "e1", "{}", kNow, kNow}).status());
        return t.insert_usage_event(
            {"u1", "a1", std::nullopt, "openai", "m", 1, 1, std::nullopt, std::nullopt, kNow});
      }).ok());
  // (table, a row of it, its time column)
  for (const auto& [table, where, time] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"lot_entries", "id = 1", "created_at"},
           {"webhook_events", "event_id = 'e1'", "received_at"},
           {"usage_events", "id = 'u1'", "created_at"},
           {"ledger_ops", "id = 'm1'", "created_at"}}) {
    const std::string message = table + " is append-only";
    refused(fmt::format("UPDATE {} SET {} = 5 WHERE {}", table, time, where), message);
    refused(fmt::format("DELETE FROM {} WHERE {}", table, where), message);
    refused(fmt::format("DELETE FROM {}", table), message);
    EXPECT_EQ(count(table, fmt::format("{} AND {} != 5", where, time)), 1) << table;
  }
  refused("UPDATE lot_entries SET amount = '9' WHERE id = 1", "lot_entries is append-only");
  refused("UPDATE webhook_events SET processed_at = NULL", "webhook_events is append-only");
  EXPECT_EQ(raw_->text("SELECT amount FROM lot_entries WHERE id = 1"), "10");
}

TEST_F(LedgerStoreTest, LotsMoveOnlyFromActiveToExpiredOrDepleted) {
  mint(lot("l1", "a1", "10"), "m1");
  mint(lot("l2", "a1", "10"), "m2");
  refused("DELETE FROM credit_lots WHERE id = 'l1'", "credit_lots rows are never deleted");
  refused("UPDATE credit_lots SET amount = '11' WHERE id = 'l1'", "credit_lots: only status");
  refused("UPDATE credit_lots SET status = 'active', amount = '11' WHERE id = 'l1'",
          "credit_lots: only status");
  refused("UPDATE credit_lots SET status = 'expired', amount = '11' WHERE id = 'l1'",
          "credit_lots: only status");
  refused("UPDATE credit_lots SET status = 'depleted', expires_at = 5 WHERE id = 'l1'",
          "credit_lots: only status");
  refused("UPDATE credit_lots SET status = 'depleted', owner = 'a2' WHERE id = 'l1'",
          "credit_lots: only status");
  ASSERT_TRUE(run([](WriteTxn& t) { return t.update_lot_status("l1", "expired"); }).ok());
  refused("UPDATE credit_lots SET status = 'active' WHERE id = 'l1'", "credit_lots: only status");
  refused("UPDATE credit_lots SET status = 'depleted' WHERE id = 'l1'", "credit_lots: only status");
  EXPECT_EQ(run([](WriteTxn& t) { return t.update_lot_status("l1", "active"); }).code(),
            ErrorCode::STORE_CONSTRAINT);
  EXPECT_EQ(raw_->exec("UPDATE credit_lots SET status = 'depleted' WHERE id = 'l2'"), SQLITE_OK)
      << raw_->error();
  refused("UPDATE credit_lots SET status = 'expired' WHERE id = 'l2'", "credit_lots: only status");
  EXPECT_EQ(
      raw_->column("SELECT id || ':' || status || ':' || amount FROM credit_lots ORDER BY id"),
      (std::vector<std::string>{"l1:expired:10", "l2:depleted:10"}));
}

TEST_F(LedgerStoreTest, HoldsMoveOnlyFromPending) {
  for (const char* id : {"h1", "h2", "h3"}) {
    ASSERT_TRUE(run([&](WriteTxn& t) { return t.insert_hold(hold(id, "a1", "30")); }).ok());
  }
  refused("DELETE FROM ledger_holds WHERE id = 'h1'", "ledger_holds rows are never deleted");
  refused("UPDATE ledger_holds SET amount = '40' WHERE id = 'h1'", "ledger_holds: only a pending");
  refused("UPDATE ledger_holds SET status = 'voided', owner = 'a2' WHERE id = 'h1'",
          "ledger_holds: only a pending");
  refused("UPDATE ledger_holds SET status = 'voided', tx_id = 't' WHERE id = 'h1'",
          "ledger_holds: only a pending");
  refused("UPDATE ledger_holds SET status = 'expired', created_at = 1 WHERE id = 'h1'",
          "ledger_holds: only a pending");
  // posted_amount comes with 'posted' and only then, and never above what was held.
  refused("UPDATE ledger_holds SET status = 'posted' WHERE id = 'h1'", "CHECK constraint failed");
  refused("UPDATE ledger_holds SET status = 'voided', posted_amount = '1' WHERE id = 'h1'",
          "CHECK constraint failed");
  refused("UPDATE ledger_holds SET status = 'posted', posted_amount = '31' WHERE id = 'h1'",
          "CHECK constraint failed");
  refused("UPDATE ledger_holds SET status = 'posted', posted_amount = '100' WHERE id = 'h1'",
          "CHECK constraint failed");

  HoldRow posted = hold("h1", "a1", "30");
  posted.status = "posted";
  posted.posted_amount = "30";
  ASSERT_TRUE(run([&](WriteTxn& t) { return t.update_hold(posted); }).ok());
  refused("UPDATE ledger_holds SET status = 'pending', posted_amount = NULL WHERE id = 'h1'",
          "ledger_holds: only a pending");
  refused("UPDATE ledger_holds SET status = 'voided', posted_amount = NULL WHERE id = 'h1'",
          "ledger_holds: only a pending");
  HoldRow back = posted;
  back.status = "pending";
  back.posted_amount.reset();
  EXPECT_EQ(run([&](WriteTxn& t) { return t.update_hold(back); }).code(),
            ErrorCode::STORE_CONSTRAINT);
  EXPECT_EQ(raw_->exec("UPDATE ledger_holds SET status = 'posted', posted_amount = '0' WHERE "
                       "id = 'h2'"),
            SQLITE_OK)
      << raw_->error();
  EXPECT_EQ(raw_->exec("UPDATE ledger_holds SET status = 'expired' WHERE id = 'h3'"), SQLITE_OK)
      << raw_->error();
  EXPECT_EQ(raw_->column("SELECT id || ':' || status || ':' || ifnull(posted_amount, '-') FROM "
                         "ledger_holds ORDER BY id"),
            (std::vector<std::string>{"h1:posted:30", "h2:posted:0", "h3:expired:-"}));
}

TEST_F(LedgerStoreTest, HotWritesBuildNoScratchBTree) {
  // The statements each debit, hold, post and void run (as ledger_queries.cc writes them): CHECKs
  // and trigger conditions are comparisons, never IN lists that SQLite evaluates through a
  // scratch b-tree per row. EXPLAIN lists the trigger programs too.
  for (const char* sql :
       {"INSERT INTO lot_entries (lot_id, owner, currency, entry_type, amount, op_id, hold_id, "
        "tx_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        "INSERT INTO ledger_ops (id, kind, idempotency_key, request_hash, result, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        "INSERT INTO credit_lots (id, owner, source, amount, currency, expires_at, status, "
        "payment_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        "UPDATE credit_lots SET status = ? WHERE id = ?",
        "INSERT INTO ledger_holds (id, owner, currency, amount, status, posted_amount, tx_id, "
        "expires_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        "UPDATE ledger_holds SET owner = ?, currency = ?, amount = ?, status = ?, "
        "posted_amount = ?, tx_id = ?, expires_at = ?, created_at = ?, updated_at = ? "
        "WHERE id = ?",
        "UPDATE payments SET provider = ?, owner = ?, amount = ?, currency = ?, status = ?, "
        "lot_id = ?, created_at = ?, updated_at = ? WHERE id = ?",
        "INSERT INTO usage_events (id, agent_id, tx_id, provider, model, prompt_tokens, "
        "completion_tokens, cost, currency, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"}) {
    const auto ops = raw_->column(fmt::format("EXPLAIN {}", sql), 1);
    ASSERT_FALSE(ops.empty()) << sql;
    EXPECT_EQ(std::count(ops.begin(), ops.end(), "OpenEphemeral"), 0) << sql;
  }
}

TEST_F(LedgerStoreTest, ReadsSearchTheirIndexes) {
  // The queries of ledger_queries.cc, on empty tables (no statistics): none walks a whole table.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"SELECT e.id FROM ledger_holds h CROSS JOIN lot_entries e ON e.hold_id = h.id "
       "WHERE h.status = 'pending' ORDER BY e.id",
       "SCAN h USING INDEX idx_ledger_holds_pending\n"
       "SEARCH e USING COVERING INDEX idx_lot_entries_hold_id (hold_id=?)\n"
       "USE TEMP B-TREE FOR ORDER BY"},
      {"SELECT id FROM ledger_holds WHERE status = 'pending' ORDER BY id",
       "SCAN ledger_holds USING INDEX idx_ledger_holds_pending"},
      {"SELECT id FROM ledger_ops WHERE idempotency_key IS NOT NULL AND created_at >= ? "
       "ORDER BY created_at",
       "SEARCH ledger_ops USING INDEX idx_ledger_ops_created_at (created_at>?)"},
      {"SELECT * FROM lot_entries WHERE id > ? AND owner = ? ORDER BY id LIMIT ?",
       "SEARCH lot_entries USING INDEX idx_lot_entries_owner (owner=? AND id>?)"},
      {"SELECT * FROM lot_entries WHERE id > ? AND lot_id = ? ORDER BY id LIMIT ?",
       "SEARCH lot_entries USING INDEX idx_lot_entries_lot_id (lot_id=? AND rowid>?)"},
      {"SELECT * FROM credit_lots WHERE id > ? AND owner = ? AND currency = ? ORDER BY id "
       "LIMIT ?",
       "SEARCH credit_lots USING INDEX idx_credit_lots_owner_currency (owner=? AND currency=? "
       "AND id>?)"},
  };
  for (const auto& [sql, expected] : cases) {
    std::string plan;
    for (const std::string& step : raw_->column("EXPLAIN QUERY PLAN " + sql, 3)) {
      plan += (plan.empty() ? "" : "\n") + step;
    }
    EXPECT_EQ(plan, expected) << sql;
  }
}

// A plain connection with the store's SQL functions registered, as every store connection has.
class FunctionDb {
 public:
  explicit FunctionDb(const std::string& path) {
    EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    EXPECT_TRUE(sqlite::register_sql_functions(db_).ok());
  }
  ~FunctionDb() { sqlite3_close_v2(db_); }
  // Every row's column `index` joined with "\n", or "error: <message>".
  std::string query(const std::string& sql, int index = 0) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
      return "error: " + std::string(sqlite3_errmsg(db_));
    }
    std::string out;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      const unsigned char* p = sqlite3_column_text(st, index);
      if (!out.empty()) out += '\n';
      if (p != nullptr) out += reinterpret_cast<const char*>(p);
    }
    if (rc != SQLITE_DONE) out = "error: " + std::string(sqlite3_errmsg(db_));
    sqlite3_finalize(st);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

TEST_F(LedgerStoreTest, BalanceFunctionsAddEachEntryTypeExactly) {
  FunctionDb db(path_);
  auto both = [&](const std::string& rows) {
    return db.query(fmt::format(
               "SELECT ledger_remaining(t, h, a) FROM (SELECT NULL AS t, NULL AS h, NULL AS a "
               "WHERE 0 {})",
               rows)) +
           "/" +
           db.query(fmt::format("SELECT ledger_held(t, h, a) FROM (SELECT NULL AS t, NULL AS h, "
                                "NULL AS a WHERE 0 {})",
                                rows));
  };
  EXPECT_EQ(both(""), "0/0");
  EXPECT_EQ(both("UNION ALL SELECT NULL, NULL, NULL"), "0/0");  // a LEFT JOIN's empty side
  EXPECT_EQ(both("UNION ALL SELECT 'credit', NULL, '100' UNION ALL SELECT 'debit', NULL, '7' "
                 "UNION ALL SELECT 'hold', 'h', '20' UNION ALL SELECT 'debit', 'h', '15' "
                 "UNION ALL SELECT 'release', 'h', '5' UNION ALL SELECT 'expire', NULL, '3'"),
            "75/0");
  EXPECT_EQ(both("UNION ALL SELECT 'credit', NULL, '100' UNION ALL SELECT 'hold', 'h', '20'"),
            "80/20");
  EXPECT_NE(both("UNION ALL SELECT 'credit', NULL, '1' UNION ALL SELECT 'gift', NULL, '1'")
                .find("error: ledger_remaining: unknown entry type 'gift'"),
            std::string::npos);
  EXPECT_NE(both("UNION ALL SELECT 'credit', NULL, 5").find("malformed amount '5'"),
            std::string::npos);
  EXPECT_NE(both("UNION ALL SELECT 'hold', 'h', '1' UNION ALL SELECT 'debit', 'h', '2'")
                .find("ledger_held: entries leave a negative balance (1 in, 2 out)"),
            std::string::npos);
  const std::string max = Amount::max().to_string();
  EXPECT_NE(both(fmt::format("UNION ALL SELECT 'credit', NULL, '{0}' UNION ALL SELECT 'credit', "
                             "NULL, '{0}'",
                             max))
                .find("ledger_remaining: sum past 2^256 - 1"),
            std::string::npos);
}

TEST_F(LedgerStoreTest, BalancesOfOneOwnerReadItsLotsWithoutSortingEntries) {
  FunctionDb db(path_);
  const std::string plan = db.query(
      "EXPLAIN QUERY PLAN SELECT * FROM lot_balances WHERE owner = 'a1' AND currency = 'USD' "
      "ORDER BY id",
      3);
  EXPECT_NE(plan.find("idx_credit_lots_owner_currency (owner=? AND currency=?)"), std::string::npos)
      << plan;
  EXPECT_NE(plan.find("idx_lot_entries_lot_id (lot_id=?)"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("GROUP BY"), std::string::npos) << plan;
  EXPECT_EQ(db.query("SELECT group_concat(name, ',') FROM pragma_table_info('lot_balances')"),
            "id,owner,source,amount,currency,expires_at,status,payment_id,created_at,remaining,"
            "held");
  // A plain connection without the functions cannot read the view: it says why.
  EXPECT_NE(raw_->exec("SELECT * FROM lot_balances"), SQLITE_OK);
  EXPECT_NE(raw_->error().find("no such function: ledger_remaining"), std::string::npos)
      << raw_->error();
}

// A file a version-4 binary wrote: migration 5 adds the ledger and keeps every row.
TEST(LedgerMigration, AVersionFourFileKeepsItsRows) {
  TempDir dir;
  const std::string path = dir.file("v4.db");
  std::ofstream(path).flush();  // an empty file is an empty database
  {
    RawDb raw(path);
    ASSERT_EQ(raw.exec(sqlite::kSchemaVersionDdl), SQLITE_OK) << raw.error();
    for (const auto& m : sqlite::migrations()) {
      if (m.version > 4) break;
      ASSERT_EQ(raw.exec(m.sql()), SQLITE_OK) << m.version << ": " << raw.error();
      ASSERT_EQ(raw.exec(fmt::format("INSERT INTO schema_version VALUES ({}, 'v', 0)", m.version)),
                SQLITE_OK);
    }
    ASSERT_EQ(raw.exec("INSERT INTO agents (id, name, chain, network, status, created_at, "
                       "updated_at) VALUES ('a1', 'old', 'solana', 'devnet', 'ACTIVE', 1, 2);"
                       "INSERT INTO transactions (id, agent_id, chain, type, status, amount, "
                       "created_at, updated_at) VALUES ('t1', 'a1', 'solana', 'TRANSFER', "
                       "'CONFIRMED', '42', 3, 4);"
                       "INSERT INTO usage_names (id, name) VALUES (1, 'p1/native'), (2, 'a1');"
                       "INSERT INTO meter_usage VALUES (1, 100, 2, 42);"
                       "INSERT INTO event_outbox (id, event, created_at, next_attempt_at) "
                       "VALUES ('ev1', '{}', 5, 5);"
                       "INSERT INTO key_value_store VALUES ('k', 'v', 6);"),
              SQLITE_OK)
        << raw.error();
    std::string prev(kAuditGenesisHash);
    for (std::int64_t id = 1; id <= 3; ++id) {
      const AuditEvent e = sample_event("AGENT_CREATED", "a1");
      const std::string hash = audit_row_hash(id, e, prev);
      ASSERT_EQ(raw.exec(fmt::format(
                    "INSERT INTO audit_log (id, timestamp, event_type, actor, agent_id, details, "
                    "severity, correlation_id, prev_hash, hash) VALUES ({}, {}, '{}', '{}', 'a1', "
                    "'{}', '{}', '{}', '{}', '{}')",
                    id, e.timestamp, e.event_type, e.actor, e.details, e.severity,
                    *e.correlation_id, prev, hash)),
                SQLITE_OK)
          << raw.error();
      prev = hash;
    }
  }
  auto opened = SqliteStore::open(path, {});
  ASSERT_TRUE(opened.ok()) << opened.status().to_string();
  SqliteStore& store = **opened;
  // Migration 5 and every later one.
  EXPECT_EQ(store.migrations_applied_at_open(), latest_schema_version() - 4);
  EXPECT_EQ(store.schema_version(), latest_schema_version());
  EXPECT_TRUE(store.ping().ok());

  EXPECT_EQ(store.get_agent("a1")->value().name, "old");
  auto tx = store.get_transaction("t1");
  ASSERT_TRUE(tx.ok() && tx->has_value());
  EXPECT_EQ((*tx)->amount, "42");
  EXPECT_EQ((*tx)->status, "CONFIRMED");
  std::vector<std::string> usage;
  ASSERT_TRUE(store
                  .scan_meter_usage({},
                                    [&](const MeterUsageRow& r) {
                                      usage.push_back(fmt::format("{}|{}|{}|{}", r.agent_id,
                                                                  r.meter, r.bucket, r.amount));
                                      return Status();
                                    })
                  .ok());
  EXPECT_EQ(usage, std::vector<std::string>{"a1|p1/native|100|42"});
  EXPECT_EQ(store.list_outbox_due(5, 10)->size(), 1u);
  EXPECT_EQ(store.get_kv("k")->value_or(""), "v");
  auto report = store.verify_audit();
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->first_broken_id) << report->problem;
  EXPECT_EQ(report->rows_checked, 3);

  // The old agent gets credit in the new tables.
  const LotRow l = lot("l1", "a1", "500");
  ASSERT_TRUE(store
                  .write([&](WriteTxn& t) -> Status {
                    WARDEN_RETURN_IF_ERROR(t.insert_lot(l));
                    WARDEN_RETURN_IF_ERROR(t.insert_ledger_op(op("m1", "mint", "key-1")));
                    LotEntryRow credit = entry(l, "credit", "500", "m1");
                    WARDEN_RETURN_IF_ERROR(t.insert_lot_entry(credit));
                    return t.append_audit(sample_event("LEDGER_MINT", "a1")).status();
                  })
                  .ok());
  std::string remaining;
  ASSERT_TRUE(store
                  .scan_lot_balances({.owner = "a1"},
                                     [&](const LotBalanceRow& b) {
                                       remaining = b.remaining;
                                       return Status();
                                     })
                  .ok());
  EXPECT_EQ(remaining, "500");
  EXPECT_EQ(store.verify_audit()->rows_checked, 4);
}

}  // namespace
}  // namespace warden::store
