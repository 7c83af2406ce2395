// Migration 5 through SqliteStore: the credit ledger's rows round-trip, entries page by cursor,
// the lot_balances view adds exactly past 64 bits, and every write the contract forbids is
// refused by the database itself when tried with raw SQL on a second connection.
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
using namespace std::string_literals;

constexpr std::int64_t kNow = 1'767'225'600;

LotRow lot(std::string id, std::string owner, std::string amount, std::string currency = "USD") {
  LotRow r;
  r.id = std::move(id);
  r.owner = std::move(owner);
  r.source = "grant";
  r.amount = std::move(amount);
  r.currency = std::move(currency);
  r.created_at = kNow;
  return r;
}

LedgerOpRow op(std::string id, std::string kind, std::optional<std::string> key = {},
               std::int64_t created_at = kNow) {
  std::string hash = "hash-" + id;
  return LedgerOpRow{std::move(id),   std::move(kind), std::move(key),
                     std::move(hash), "{\"ok\":true}", created_at};
}

LotEntryRow entry(const LotRow& l, std::string type, std::string amount, std::string op_id,
                  std::optional<std::string> hold_id = {}) {
  LotEntryRow r;
  r.lot_id = l.id;
  r.owner = l.owner;
  r.currency = l.currency;
  r.entry_type = std::move(type);
  r.amount = std::move(amount);
  r.op_id = std::move(op_id);
  r.hold_id = std::move(hold_id);
  r.created_at = kNow;
  return r;
}

HoldRow hold(std::string id, std::string owner, std::string amount) {
  HoldRow r;
  r.id = std::move(id);
  r.owner = std::move(owner);
  r.currency = "USD";
  r.amount = std::move(amount);
  r.expires_at = kNow + 60;
  r.created_at = kNow;
  r.updated_at = kNow;
  return r;
}

PaymentRow payment(std::string id, std::string status) {
  return PaymentRow{std::move(id),     "stripe",     "a1", "5000", "USD",
                    std::move(status), std::nullopt, kNow, kNow};
}

Amount pow2(int n) {
  Amount a(1);
  for (int i = 0; i < n; ++i) a = *a.checked_add(a);
  return a;
}

std::string sum(std::initializer_list<Amount> in, std::initializer_list<Amount> out) {
  Amount total;
  for (const Amount& a : in) total = *total.checked_add(a);
  for (const Amount& a : out) total = *total.checked_sub(a);
  return total.to_string();
}

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

  // Writes an operation and its entries, as the ledger does; returns the entries with ids.
  std::vector<LotEntryRow> write_op(const LedgerOpRow& o, std::vector<LotEntryRow> entries) {
    Status s = run([&](WriteTxn& t) -> Status {
      WARDEN_RETURN_IF_ERROR(t.insert_ledger_op(o));
      for (LotEntryRow& e : entries) WARDEN_RETURN_IF_ERROR(t.insert_lot_entry(e));
      return Status();
    });
    EXPECT_TRUE(s.ok()) << s.to_string();
    return entries;
  }
  void mint(const LotRow& l, const std::string& op_id) {
    ASSERT_TRUE(run([&](WriteTxn& t) -> Status {
                  WARDEN_RETURN_IF_ERROR(t.insert_lot(l));
                  WARDEN_RETURN_IF_ERROR(t.insert_ledger_op(op(op_id, "mint")));
                  LotEntryRow credit = entry(l, "credit", l.amount, op_id);
                  return t.insert_lot_entry(credit);
                }).ok());
  }
  // lot id -> (remaining, held), through the pooled readers.
  std::map<std::string, std::pair<std::string, std::string>> balances(LotFilter f = {}) {
    std::map<std::string, std::pair<std::string, std::string>> out;
    std::vector<std::string> order;
    Status s = store_->scan_lot_balances(f, [&](const LotBalanceRow& b) {
      out[b.lot.id] = {b.remaining, b.held};
      order.push_back(b.lot.id);
      return Status();
    });
    EXPECT_TRUE(s.ok()) << s.to_string();
    EXPECT_TRUE(std::is_sorted(order.begin(), order.end()));
    return out;
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

TEST_F(LedgerStoreTest, LotsRoundTripListAndFilter) {
  LotRow l1 = lot("l1", "a1", "100");
  l1.source = "payment";
  l1.payment_id = "stripe:pi_1";
  l1.expires_at = kNow + 3600;
  mint(l1, "o1");
  mint(lot("l2", "a1", "7", "EUR"), "o2");
  mint(lot("l3", "a2", "9"), "o3");
  mint(lot("l4", "a1", "11"), "o4");

  auto got = store_->get_lot("l1");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->owner, "a1");
  EXPECT_EQ((*got)->source, "payment");
  EXPECT_EQ((*got)->amount, "100");
  EXPECT_EQ((*got)->currency, "USD");
  EXPECT_EQ((*got)->expires_at, kNow + 3600);
  EXPECT_EQ((*got)->status, "active");
  EXPECT_EQ((*got)->payment_id, "stripe:pi_1");
  EXPECT_EQ((*got)->created_at, kNow);
  EXPECT_FALSE(store_->get_lot("nope")->has_value());
  EXPECT_EQ(store_->get_lot("l2")->value().expires_at, std::nullopt);

  auto ids = [](const Result<std::vector<LotRow>>& rows) {
    std::vector<std::string> out;
    for (const LotRow& r : *rows) out.push_back(r.id);
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(ids(store_->list_lots({}, {})), (V{"l1", "l2", "l3", "l4"}));
  EXPECT_EQ(ids(store_->list_lots({.owner = "a1"}, {})), (V{"l1", "l2", "l4"}));
  EXPECT_EQ(ids(store_->list_lots({.owner = "a1", .currency = "USD"}, {})), (V{"l1", "l4"}));
  EXPECT_EQ(ids(store_->list_lots({.currency = "USD"}, {.after_id = "l1", .limit = 1})), (V{"l3"}));

  ASSERT_TRUE(run([](WriteTxn& t) { return t.update_lot_status("l4", "depleted"); }).ok());
  EXPECT_EQ(store_->get_lot("l4")->value().status, "depleted");
  Status missing = run([](WriteTxn& t) { return t.update_lot_status("nope", "expired"); });
  EXPECT_EQ(missing.code(), ErrorCode::INTERNAL_ERROR);
}

TEST_F(LedgerStoreTest, EntriesGetIncreasingIdsAndPageByCursor) {
  const LotRow l1 = lot("l1", "a1", "1000");
  const LotRow l2 = lot("l2", "a2", "1000");
  mint(l1, "m1");
  mint(l2, "m2");
  std::vector<LotEntryRow> debits;
  for (int i = 0; i < 5; ++i) {
    const std::string id = fmt::format("d{}", i);
    auto written = write_op(op(id, "debit"), {entry(l1, "debit", std::to_string(i + 1), id),
                                              entry(l2, "debit", "3", id)});
    ASSERT_EQ(written.size(), 2u);
    EXPECT_EQ(written[1].id, written[0].id + 1);
    debits.push_back(written[0]);
  }
  // Ids: 1, 2 the credits, then 3..12 alternating l1 / l2.
  EXPECT_EQ(debits.front().id, 3);

  std::vector<LotEntryRow> all;
  ASSERT_TRUE(store_
                  ->scan_lot_entries([&](const LotEntryRow& e) {
                    all.push_back(e);
                    return Status();
                  })
                  .ok());
  ASSERT_EQ(all.size(), 12u);
  for (std::size_t i = 0; i < all.size(); ++i)
    EXPECT_EQ(all[i].id, static_cast<std::int64_t>(i + 1));
  EXPECT_EQ(all[0].entry_type, "credit");
  EXPECT_EQ(all[0].op_id, "m1");
  EXPECT_EQ(all[2].lot_id, "l1");
  EXPECT_EQ(all[2].owner, "a1");
  EXPECT_EQ(all[2].currency, "USD");
  EXPECT_EQ(all[2].amount, "1");
  EXPECT_EQ(all[2].op_id, "d0");
  EXPECT_EQ(all[2].hold_id, std::nullopt);
  EXPECT_EQ(all[2].created_at, kNow);

  // Pages of two of a1's entries (the credit and five debits): 1,3 | 5,7 | 9,11 | end.
  std::vector<std::int64_t> seen;
  std::int64_t after = 0;
  for (int page = 0; page < 4; ++page) {
    auto rows = store_->list_lot_entries({.owner = "a1", .after_id = after, .limit = 2});
    ASSERT_TRUE(rows.ok());
    if (page == 3) {
      EXPECT_TRUE(rows->empty());
      break;
    }
    ASSERT_EQ(rows->size(), 2u);
    for (const LotEntryRow& e : *rows) {
      EXPECT_EQ(e.owner, "a1");
      seen.push_back(e.id);
    }
    after = rows->back().id;
  }
  EXPECT_EQ(seen, (std::vector<std::int64_t>{1, 3, 5, 7, 9, 11}));
  auto of_l2 = store_->list_lot_entries({.lot_id = "l2", .after_id = 6, .limit = 100});
  ASSERT_TRUE(of_l2.ok());
  ASSERT_EQ(of_l2->size(), 3u);
  EXPECT_EQ(of_l2->front().id, 8);
  EXPECT_EQ(store_->list_lot_entries({.owner = "a2", .lot_id = "l1"})->size(), 0u);
}

TEST_F(LedgerStoreTest, HoldsRoundTripAndPendingOnesComeWithTheirEntries) {
  const LotRow l1 = lot("l1", "a1", "100");
  mint(l1, "m1");
  HoldRow h1 = hold("h1", "a1", "30");
  h1.tx_id = "tx-1";
  const HoldRow h2 = hold("h2", "a1", "20");
  const HoldRow h3 = hold("h3", "a1", "10");
  for (const HoldRow* h : std::initializer_list<const HoldRow*>{&h1, &h2, &h3}) {
    ASSERT_TRUE(run([&](WriteTxn& t) -> Status {
                  WARDEN_RETURN_IF_ERROR(t.insert_ledger_op(op("op-" + h->id, "hold")));
                  WARDEN_RETURN_IF_ERROR(t.insert_hold(*h));
                  LotEntryRow e = entry(l1, "hold", h->amount, "op-" + h->id, h->id);
                  return t.insert_lot_entry(e);
                }).ok());
  }
  auto got = store_->get_hold("h1");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->owner, "a1");
  EXPECT_EQ((*got)->currency, "USD");
  EXPECT_EQ((*got)->amount, "30");
  EXPECT_EQ((*got)->status, "pending");
  EXPECT_EQ((*got)->posted_amount, std::nullopt);
  EXPECT_EQ((*got)->tx_id, "tx-1");
  EXPECT_EQ((*got)->expires_at, kNow + 60);
  EXPECT_FALSE(store_->get_hold("nope")->has_value());

  // Post h2 for 15 (the rest released): it stops being pending, and so do its entries.
  HoldRow posted = h2;
  posted.status = "posted";
  posted.posted_amount = "15";
  posted.updated_at = kNow + 5;
  ASSERT_TRUE(run([&](WriteTxn& t) -> Status {
                WARDEN_RETURN_IF_ERROR(t.insert_ledger_op(op("post-h2", "post")));
                WARDEN_RETURN_IF_ERROR(t.update_hold(posted));
                LotEntryRow d = entry(l1, "debit", "15", "post-h2", "h2");
                LotEntryRow r = entry(l1, "release", "5", "post-h2", "h2");
                WARDEN_RETURN_IF_ERROR(t.insert_lot_entry(d));
                return t.insert_lot_entry(r);
              }).ok());
  EXPECT_EQ(store_->get_hold("h2")->value().posted_amount, "15");
  EXPECT_EQ(store_->get_hold("h2")->value().updated_at, kNow + 5);

  auto pending = store_->list_pending_holds();
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_EQ((*pending)[0].id, "h1");
  EXPECT_EQ((*pending)[1].id, "h3");
  std::vector<std::pair<std::string, std::int64_t>> entries;
  ASSERT_TRUE(store_
                  ->scan_pending_hold_entries([&](const LotEntryRow& e) {
                    entries.emplace_back(e.hold_id.value_or("") + ":" + e.amount, e.id);
                    return Status();
                  })
                  .ok());
  EXPECT_EQ(entries,
            (std::vector<std::pair<std::string, std::int64_t>>{{"h1:30", 2}, {"h3:10", 4}}));
  Status missing = run([](WriteTxn& t) { return t.update_hold(hold("nope", "a1", "1")); });
  EXPECT_EQ(missing.code(), ErrorCode::LEDGER_HOLD_NOT_FOUND);
}

TEST_F(LedgerStoreTest, OperationsAreFoundByKeyAndRestoredSinceATime) {
  ASSERT_TRUE(run([](WriteTxn& t) -> Status {
                WARDEN_RETURN_IF_ERROR(t.insert_ledger_op(op("o1", "mint", "k-old", kNow - 100)));
                WARDEN_RETURN_IF_ERROR(t.insert_ledger_op(op("o2", "debit", "k-2", kNow + 2)));
                WARDEN_RETURN_IF_ERROR(t.insert_ledger_op(op("o3", "expire", std::nullopt, kNow)));
                return t.insert_ledger_op(op("o4", "hold", "k-4", kNow));
              }).ok());
  auto found = store_->find_ledger_op("k-2");
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->id, "o2");
  EXPECT_EQ((*found)->kind, "debit");
  EXPECT_EQ((*found)->request_hash, "hash-o2");
  EXPECT_EQ((*found)->result, "{\"ok\":true}");
  EXPECT_EQ((*found)->created_at, kNow + 2);
  EXPECT_FALSE(store_->find_ledger_op("k-none")->has_value());

  std::vector<std::string> since;
  ASSERT_TRUE(store_
                  ->scan_ledger_ops_since(kNow,
                                          [&](const LedgerOpRow& o) {
                                            since.push_back(o.id);
                                            return Status();
                                          })
                  .ok());
  EXPECT_EQ(since, (std::vector<std::string>{"o4", "o2"}));  // keyed ones, oldest first

  // The same key again: refused, and nothing of that transaction stays.
  Status dup = run([](WriteTxn& t) -> Status {
    WARDEN_RETURN_IF_ERROR(t.insert_ledger_op(op("o5", "mint")));
    return t.insert_ledger_op(op("o6", "debit", "k-2"));
  });
  EXPECT_EQ(dup.code(), ErrorCode::STORE_CONSTRAINT);
  EXPECT_NE(dup.message().find("ledger_ops.idempotency_key"), std::string::npos) << dup.message();
  EXPECT_EQ(count("ledger_ops"), 4);
  // Unkeyed operations never collide.
  EXPECT_TRUE(run([](WriteTxn& t) -> Status {
                WARDEN_RETURN_IF_ERROR(t.insert_ledger_op(op("o7", "expire")));
                return t.insert_ledger_op(op("o8", "expire"));
              }).ok());
}

TEST_F(LedgerStoreTest, PaymentsRoundTripAndMoveOnlyForward) {
  ASSERT_TRUE(
      run([](WriteTxn& t) { return t.insert_payment(payment("stripe:p1", "pending")); }).ok());
  PaymentRow p = payment("stripe:p1", "confirmed");
  p.lot_id = "l1";
  p.updated_at = kNow + 9;
  ASSERT_TRUE(run([&](WriteTxn& t) { return t.update_payment(p); }).ok());
  auto got = store_->get_payment("stripe:p1");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->provider, "stripe");
  EXPECT_EQ((*got)->owner, "a1");
  EXPECT_EQ((*got)->amount, "5000");
  EXPECT_EQ((*got)->currency, "USD");
  EXPECT_EQ((*got)->status, "confirmed");
  EXPECT_EQ((*got)->lot_id, "l1");
  EXPECT_EQ((*got)->created_at, kNow);
  EXPECT_EQ((*got)->updated_at, kNow + 9);
  EXPECT_FALSE(store_->get_payment("stripe:none")->has_value());

  // Backwards, through the store and raw.
  PaymentRow back = p;
  back.status = "pending";
  EXPECT_EQ(run([&](WriteTxn& t) { return t.update_payment(back); }).code(),
            ErrorCode::STORE_CONSTRAINT);
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

  // A payment first seen finished gets its lot afterwards, status unchanged; only once.
  ASSERT_TRUE(
      run([](WriteTxn& t) { return t.insert_payment(payment("stripe:p2", "finished")); }).ok());
  PaymentRow minted = payment("stripe:p2", "finished");
  minted.lot_id = "l9";
  EXPECT_TRUE(run([&](WriteTxn& t) { return t.update_payment(minted); }).ok());
  minted.lot_id = "l10";
  EXPECT_EQ(run([&](WriteTxn& t) { return t.update_payment(minted); }).code(),
            ErrorCode::STORE_CONSTRAINT);
  // pending -> failed skips ahead; failed is final.
  ASSERT_TRUE(
      run([](WriteTxn& t) { return t.insert_payment(payment("stripe:p3", "pending")); }).ok());
  EXPECT_TRUE(
      run([](WriteTxn& t) { return t.update_payment(payment("stripe:p3", "failed")); }).ok());
  EXPECT_EQ(
      run([](WriteTxn& t) { return t.update_payment(payment("stripe:p3", "refunded")); }).code(),
      ErrorCode::STORE_CONSTRAINT);
  EXPECT_EQ(
      run([](WriteTxn& t) { return t.update_payment(payment("stripe:none", "failed")); }).code(),
      ErrorCode::INTERNAL_ERROR);
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

TEST_F(LedgerStoreTest, WebhookEventsAreStoredOncePerProviderAndEvent) {
  const WebhookEventRow first{"stripe", "evt_1", "{\"n\":1}", kNow, kNow + 1};
  auto stored = Result<bool>(false);
  ASSERT_TRUE(run([&](WriteTxn& t) {
                stored = t.insert_webhook_event(first);
                return stored.status();
              }).ok());
  EXPECT_TRUE(*stored);
  const WebhookEventRow again{"stripe", "evt_1", "{\"n\":2}", kNow + 5, std::nullopt};
  ASSERT_TRUE(run([&](WriteTxn& t) {
                stored = t.insert_webhook_event(again);
                return stored.status();
              }).ok());
  EXPECT_FALSE(*stored);
  ASSERT_TRUE(run([&](WriteTxn& t) {
                stored = t.insert_webhook_event({"paddle", "evt_1", "{}", kNow, std::nullopt});
                return stored.status();
              }).ok());
  EXPECT_TRUE(*stored);

  auto got = store_->get_webhook_event("stripe", "evt_1");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->payload, "{\"n\":1}");
  EXPECT_EQ((*got)->received_at, kNow);
  EXPECT_EQ((*got)->processed_at, kNow + 1);
  EXPECT_EQ(store_->get_webhook_event("paddle", "evt_1")->value().processed_at, std::nullopt);
  EXPECT_FALSE(store_->get_webhook_event("stripe", "evt_2")->has_value());
  EXPECT_EQ(count("webhook_events"), 2);
}

TEST_F(LedgerStoreTest, UsageEventsAreWritten) {
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
  UsageEventRow bad = u;
  bad.id = "u3";
  bad.currency.reset();  // a cost in no currency
  EXPECT_EQ(run([&](WriteTxn& t) { return t.insert_usage_event(bad); }).code(),
            ErrorCode::STORE_CONSTRAINT);
  bad = u;
  bad.id = "u4";
  bad.prompt_tokens = -1;
  EXPECT_EQ(run([&](WriteTxn& t) { return t.insert_usage_event(bad); }).code(),
            ErrorCode::STORE_CONSTRAINT);
}

TEST_F(LedgerStoreTest, LotBalancesFollowEveryEntryType) {
  const LotRow l1 = lot("l1", "a1", "100");
  mint(l1, "m1");
  mint(lot("l2", "a1", "40"), "m2");  // only its credit
  mint(lot("l3", "a1", "5", "EUR"), "m3");
  mint(lot("l4", "a2", "8"), "m4");
  ASSERT_TRUE(run([](WriteTxn& t) { return t.insert_lot(lot("l5", "a2", "6")); }).ok());  // none
  using B = std::map<std::string, std::pair<std::string, std::string>>;
  EXPECT_EQ(balances(), (B{{"l1", {"100", "0"}},
                           {"l2", {"40", "0"}},
                           {"l3", {"5", "0"}},
                           {"l4", {"8", "0"}},
                           {"l5", {"0", "0"}}}));

  write_op(op("d1", "debit"), {entry(l1, "debit", "30", "d1")});
  EXPECT_EQ(balances({.owner = "a1", .currency = "USD"})["l1"], std::make_pair("70"s, "0"s));
  write_op(op("h1", "hold"), {entry(l1, "hold", "20", "h1", "h1")});
  EXPECT_EQ(balances({.owner = "a1", .currency = "USD"})["l1"], std::make_pair("50"s, "20"s));
  // Post 15 of h1: a debit with the hold's id, the other 5 released.
  write_op(op("p1", "post"),
           {entry(l1, "debit", "15", "p1", "h1"), entry(l1, "release", "5", "p1", "h1")});
  EXPECT_EQ(balances({.owner = "a1"})["l1"], std::make_pair("55"s, "0"s));
  write_op(op("h2", "hold"), {entry(l1, "hold", "10", "h2", "h2")});
  write_op(op("v2", "void"), {entry(l1, "release", "10", "v2", "h2")});
  EXPECT_EQ(balances({.owner = "a1"})["l1"], std::make_pair("55"s, "0"s));
  // A hold left open across expiry: what remained expires, the hold still counts.
  write_op(op("h3", "hold"), {entry(l1, "hold", "5", "h3", "h3")});
  write_op(op("x1", "expire"), {entry(l1, "expire", "50", "x1")});
  ASSERT_TRUE(run([](WriteTxn& t) { return t.update_lot_status("l1", "expired"); }).ok());
  EXPECT_EQ(balances({.owner = "a1"})["l1"], std::make_pair("0"s, "5"s));
  write_op(op("v3", "void"),
           {entry(l1, "release", "5", "v3", "h3"), entry(l1, "expire", "5", "v3")});

  const B after = balances();
  EXPECT_EQ(after.at("l1"), std::make_pair("0"s, "0"s));
  EXPECT_EQ(after.at("l2"), std::make_pair("40"s, "0"s));
  EXPECT_EQ(balances({.owner = "a2"}), (B{{"l4", {"8", "0"}}, {"l5", {"0", "0"}}}));
  EXPECT_EQ(balances({.currency = "EUR"}), (B{{"l3", {"5", "0"}}}));
  EXPECT_TRUE(balances({.owner = "nobody"}).empty());

  // The same view read on the writer connection, inside a transaction.
  std::string remaining;
  ASSERT_TRUE(run([&](WriteTxn& t) {
                return t.scan_lot_balances({.owner = "a1", .currency = "USD"},
                                           [&](const LotBalanceRow& b) {
                                             if (b.lot.id == "l2") remaining = b.remaining;
                                             EXPECT_EQ(b.lot.owner, "a1");
                                             return Status();
                                           });
              }).ok());
  EXPECT_EQ(remaining, "40");
  // A callback's error stops the scan and comes back.
  int calls = 0;
  Status stop = store_->scan_lot_balances({}, [&](const LotBalanceRow&) {
    ++calls;
    return Status(ErrorCode::INTERNAL_ERROR, "enough");
  });
  EXPECT_EQ(stop.code(), ErrorCode::INTERNAL_ERROR);
  EXPECT_EQ(calls, 1);
}

TEST_F(LedgerStoreTest, LotBalancesAreExactPast64Bits) {
  const Amount big = *pow2(200).checked_add(Amount(7));
  const LotRow l1 = lot("l1", "a1", big.to_string());
  mint(l1, "m1");
  const Amount debit = pow2(199);
  const Amount held = *pow2(64).checked_add(Amount(1));
  write_op(op("d1", "debit"), {entry(l1, "debit", debit.to_string(), "d1")});
  write_op(op("h1", "hold"), {entry(l1, "hold", held.to_string(), "h1", "h1")});
  write_op(op("h2", "hold"), {entry(l1, "hold", "3", "h2", "h2")});
  write_op(op("p2", "post"), {entry(l1, "debit", "3", "p2", "h2")});
  EXPECT_EQ(balances()["l1"],
            std::make_pair(sum({big}, {debit, held, Amount(3)}), held.to_string()));
  EXPECT_EQ(balances()["l1"].first, "803469022129495137770981046170581301261083050147322708099075");

  // The largest amount a lot may hold, and nothing past it.
  const LotRow top = lot("l2", "a1", Amount::max().to_string());
  mint(top, "m2");
  EXPECT_EQ(balances()["l2"], std::make_pair(Amount::max().to_string(), "0"s));
  write_op(op("h3", "hold"), {entry(top, "hold", Amount::max().to_string(), "h3", "h3")});
  EXPECT_EQ(balances()["l2"], std::make_pair("0"s, Amount::max().to_string()));
  EXPECT_EQ(run([](WriteTxn& t) {
              return t.insert_lot(lot("l3", "a1",
                                      "1157920892373161954235709850086879078532699"
                                      "84665640564039457584007913129639936"));
            }).code(),
            ErrorCode::STORE_CONSTRAINT);
}

TEST_F(LedgerStoreTest, LotBalancesRefuseANegativeOrMalformedLot) {
  const LotRow l1 = lot("l1", "a1", "10");
  mint(l1, "m1");
  // The database does not check balances (the ledger does); the view refuses to show one < 0.
  write_op(op("d1", "debit"), {entry(l1, "debit", "11", "d1")});
  Status negative = store_->scan_lot_balances({}, [](const LotBalanceRow&) { return Status(); });
  EXPECT_EQ(negative.code(), ErrorCode::INTERNAL_STORE_ERROR);
  EXPECT_NE(negative.message().find("ledger_remaining: entries leave a negative balance"),
            std::string::npos)
      << negative.message();

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

TEST_F(LedgerStoreTest, PaymentIdIsUniqueAcrossLots) {
  LotRow a = lot("l1", "a1", "10");
  a.source = "payment";
  a.payment_id = "stripe:p1";
  ASSERT_TRUE(run([&](WriteTxn& t) { return t.insert_lot(a); }).ok());
  LotRow b = lot("l2", "a1", "10");
  b.source = "payment";
  b.payment_id = "stripe:p1";
  Status dup = run([&](WriteTxn& t) { return t.insert_lot(b); });
  EXPECT_EQ(dup.code(), ErrorCode::STORE_CONSTRAINT);
  EXPECT_NE(dup.message().find("credit_lots.payment_id"), std::string::npos) << dup.message();
  // Lots without a payment never collide.
  EXPECT_TRUE(run([](WriteTxn& t) -> Status {
                WARDEN_RETURN_IF_ERROR(t.insert_lot(lot("l3", "a1", "1")));
                return t.insert_lot(lot("l4", "a1", "1"));
              }).ok());
  EXPECT_EQ(count("credit_lots"), 3);
}

TEST_F(LedgerStoreTest, RowsMustBeWellFormed) {
  const LotRow l1 = lot("l1", "a1", "10");
  mint(l1, "m1");
  auto insert_entry = [&](LotEntryRow e) {
    return run([&](WriteTxn& t) { return t.insert_lot_entry(e); });
  };
  for (const char* bad : {"0", "-5", "007", "1.5", "1e3", "", " 1",
                          "115792089237316195423570985008687907853269984665640564039457584007913"
                          "129639936"}) {
    EXPECT_EQ(insert_entry(entry(l1, "debit", bad, "m1")).code(), ErrorCode::STORE_CONSTRAINT)
        << "'" << bad << "'";
    EXPECT_EQ(run([&](WriteTxn& t) { return t.insert_lot(lot("lx", "a1", bad)); }).code(),
              ErrorCode::STORE_CONSTRAINT)
        << "'" << bad << "'";
  }
  EXPECT_EQ(insert_entry(entry(l1, "refund", "1", "m1")).code(), ErrorCode::STORE_CONSTRAINT);
  EXPECT_EQ(insert_entry(entry(l1, "hold", "1", "m1")).code(), ErrorCode::STORE_CONSTRAINT);
  EXPECT_EQ(insert_entry(entry(l1, "release", "1", "m1")).code(), ErrorCode::STORE_CONSTRAINT);
  EXPECT_EQ(insert_entry(entry(lot("nope", "a1", "1"), "debit", "1", "m1")).code(),
            ErrorCode::STORE_CONSTRAINT);
  EXPECT_EQ(insert_entry(entry(l1, "debit", "1", "no-such-op")).code(),
            ErrorCode::STORE_CONSTRAINT);
  EXPECT_EQ(run([](WriteTxn& t) { return t.insert_lot(lot("l9", "nobody", "1")); }).code(),
            ErrorCode::STORE_CONSTRAINT);
  LotRow bad_source = lot("l9", "a1", "1");
  bad_source.source = "gift";
  EXPECT_EQ(run([&](WriteTxn& t) { return t.insert_lot(bad_source); }).code(),
            ErrorCode::STORE_CONSTRAINT);
  EXPECT_EQ(run([](WriteTxn& t) { return t.insert_ledger_op(op("o9", "refund")); }).code(),
            ErrorCode::STORE_CONSTRAINT);
  HoldRow zero = hold("h0", "a1", "0");  // a partial hold on an empty account holds nothing
  EXPECT_TRUE(run([&](WriteTxn& t) { return t.insert_hold(zero); }).ok());
  EXPECT_EQ(run([](WriteTxn& t) { return t.insert_payment(payment("p", "paid")); }).code(),
            ErrorCode::STORE_CONSTRAINT);
  EXPECT_EQ(count("lot_entries"), 1);
  EXPECT_EQ(count("credit_lots"), 1);
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
