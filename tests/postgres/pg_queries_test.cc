// The PostgreSQL store's ledger and automation queries (src/store/postgres/ledger_queries.cc,
// automation_queries.cc) against the server the postgres_server fixture starts: each case
// migrates its own database as the owner and runs the queries as the application role, as the
// daemon does. The expectations are those of the SQLite twins' tests.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "store/postgres/migrate.h"
#include "store/postgres/pg.h"
#include "store/postgres/queries.h"
#include "test_env.h"

namespace warden::store::postgres {
namespace {

using namespace std::string_literals;

// 2^256 - 1, the largest amount, and 10^77, the largest power of ten below it.
constexpr std::string_view kAmountMax =
    "115792089237316195423570985008687907853269984665640564039457584007913129639935";
constexpr std::string_view kAmountMaxPlusOne =
    "115792089237316195423570985008687907853269984665640564039457584007913129639936";
const std::string kE77 = "1" + std::string(77, '0');

// 2026-01-01T00:00:00Z, the first second of a UTC day.
constexpr std::int64_t kDay0 = 1'767'225'600;

class PgQueriesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (server_env().empty()) {
      GTEST_FAIL() << "WARDEN_PG_TEST_ENV names no server file: run through ctest, whose "
                      "postgres_server fixture starts the server";
    }
  }

  // Migrates `database` as the owner, adds the agents the ledger's foreign keys name, and
  // connects as the application role.
  void open(std::string_view database) {
    auto owner = Connection::connect(test_config("owner", database));
    ASSERT_TRUE(owner.ok()) << owner.status().to_string();
    Result<int> migrated = migrate(**owner);
    ASSERT_TRUE(migrated.ok()) << migrated.status().to_string();
    ASSERT_TRUE((*owner)
                    ->exec_script("INSERT INTO agents (id, name, chain, network, created_at, "
                                  "updated_at) VALUES ('a1', 'one', 'solana', 'devnet', 1, 1), "
                                  "('a2', 'two', 'solana', 'devnet', 1, 1)")
                    .ok());
    auto app = Connection::connect(test_config("app", database));
    ASSERT_TRUE(app.ok()) << app.status().to_string();
    ASSERT_TRUE(act_for_all_orgs(**app).ok());
    app_ = std::move(app).value();
  }

  Status txn(const std::function<Status(Connection&)>& body) { return in_transaction(*app_, body); }

  std::unique_ptr<Connection> app_;
};

LedgerOpRow op(std::string id, std::string kind, std::optional<std::string> key = std::nullopt,
               std::int64_t created_at = 100) {
  LedgerOpRow r;
  r.id = std::move(id);
  r.kind = std::move(kind);
  r.idempotency_key = std::move(key);
  r.request_hash = "hash-" + r.id;
  r.result = R"({"ok":true})";
  r.created_at = created_at;
  return r;
}

LotRow lot(std::string id, std::string owner, std::string currency, std::string_view amount) {
  LotRow r;
  r.id = std::move(id);
  r.owner = std::move(owner);
  r.source = "grant";
  r.amount = std::string(amount);
  r.currency = std::move(currency);
  r.created_at = 200;
  return r;
}

LotEntryRow entry(const LotRow& l, std::string type, std::string_view amount, std::string op_id,
                  std::optional<std::string> hold_id = std::nullopt) {
  LotEntryRow r;
  r.lot_id = l.id;
  r.owner = l.owner;
  r.currency = l.currency;
  r.entry_type = std::move(type);
  r.amount = std::string(amount);
  r.op_id = std::move(op_id);
  r.hold_id = std::move(hold_id);
  r.created_at = 300;
  return r;
}

HoldRow hold(std::string id, std::string amount) {
  HoldRow r;
  r.id = std::move(id);
  r.owner = "a1";
  r.currency = "USD";
  r.amount = std::move(amount);
  r.tx_id = "tx-" + r.id;
  r.expires_at = 900;
  r.created_at = 400;
  r.updated_at = 400;
  return r;
}

std::vector<std::string> ids(const std::vector<LotRow>& rows) {
  std::vector<std::string> out;
  for (const LotRow& r : rows) out.push_back(r.id);
  return out;
}

// lot id -> (remaining, held) for the filter.
std::map<std::string, std::pair<std::string, std::string>> balances(Connection& c,
                                                                    const LotFilter& f = {}) {
  std::map<std::string, std::pair<std::string, std::string>> out;
  std::vector<std::string> order;
  Status s = scan_lot_balances(c, f, [&](const LotBalanceRow& b) {
    out[b.lot.id] = {b.remaining, b.held};
    order.push_back(b.lot.id);
    return Status();
  });
  EXPECT_TRUE(s.ok()) << s.to_string();
  EXPECT_TRUE(std::is_sorted(order.begin(), order.end()));
  return out;
}

TEST_F(PgQueriesTest, LotsEntriesAndExactBalances) {
  open("t_q_lots");
  const LotRow l1 = lot("l1", "a1", "USD", kAmountMax);
  const LotRow l2 = lot("l2", "a2", "EUR", "10");
  LotRow l3 = lot("l3", "a1", "EUR", "7");
  l3.expires_at = 5000;
  l3.payment_id = "pay-3";
  std::vector<std::int64_t> entry_ids;
  ASSERT_TRUE(txn([&](Connection& c) -> Status {
                WARDEN_RETURN_IF_ERROR(insert_ledger_op(c, op("m1", "mint")));
                WARDEN_RETURN_IF_ERROR(insert_ledger_op(c, op("h1", "hold")));
                WARDEN_RETURN_IF_ERROR(insert_ledger_op(c, op("d1", "debit")));
                for (const LotRow& l : {l1, l2, l3}) WARDEN_RETURN_IF_ERROR(insert_lot(c, l));
                for (LotEntryRow e :
                     {entry(l1, "credit", kAmountMax, "m1"), entry(l2, "credit", "10", "m1"),
                      entry(l3, "credit", "7", "m1"), entry(l1, "hold", kE77, "h1", "h1"),
                      entry(l1, "debit", "5", "d1")}) {
                  WARDEN_RETURN_IF_ERROR(insert_lot_entry(c, e));
                  entry_ids.push_back(e.id);
                }
                return Status();
              }).ok());
  // The identity column numbers the entries in insertion order.
  EXPECT_EQ(entry_ids, (std::vector<std::int64_t>{1, 2, 3, 4, 5}));

  Result<std::optional<LotRow>> got = get_lot(*app_, "l3");
  ASSERT_TRUE(got.ok() && got->has_value());
  const LotRow& g = **got;
  EXPECT_EQ(g.owner, "a1");
  EXPECT_EQ(g.source, "grant");
  EXPECT_EQ(g.amount, "7");
  EXPECT_EQ(g.currency, "EUR");
  EXPECT_EQ(g.expires_at, 5000);
  EXPECT_EQ(g.status, "active");
  EXPECT_EQ(g.payment_id, "pay-3");
  EXPECT_EQ(g.created_at, 200);
  EXPECT_EQ(get_lot(*app_, "l1")->value().amount, kAmountMax);
  EXPECT_EQ(get_lot(*app_, "l1")->value().expires_at, std::nullopt);
  EXPECT_FALSE(get_lot(*app_, "nope")->has_value());

  // Every filter variant, and the id cursor.
  using V = std::vector<std::string>;
  EXPECT_EQ(ids(*list_lots(*app_, {}, {})), (V{"l1", "l2", "l3"}));
  EXPECT_EQ(ids(*list_lots(*app_, {"a1", std::nullopt}, {})), (V{"l1", "l3"}));
  EXPECT_EQ(ids(*list_lots(*app_, {std::nullopt, "EUR"}, {})), (V{"l2", "l3"}));
  EXPECT_EQ(ids(*list_lots(*app_, {"a1", "EUR"}, {})), (V{"l3"}));
  EXPECT_EQ(ids(*list_lots(*app_, {}, {"l1", 1})), (V{"l2"}));
  EXPECT_EQ(ids(*list_lots(*app_, {"a1", std::nullopt}, {"l1", 5})), (V{"l3"}));

  // Exact 78-digit balances: 2^256 - 1 in, 10^77 held, 5 spent.
  auto all = balances(*app_);
  EXPECT_EQ(
      all["l1"],
      std::make_pair(
          "15792089237316195423570985008687907853269984665640564039457584007913129639930"s, kE77));
  EXPECT_EQ(all["l2"], std::make_pair("10"s, "0"s));
  EXPECT_EQ(all["l3"], std::make_pair("7"s, "0"s));
  EXPECT_EQ(balances(*app_, {"a1", std::nullopt}).size(), 2u);
  EXPECT_EQ(balances(*app_, {"a2", "EUR"}).size(), 1u);
  EXPECT_EQ(balances(*app_, {std::nullopt, "EUR"}).size(), 2u);

  // Entries: the id cursor and the owner and lot filters.
  Result<std::vector<LotEntryRow>> page =
      list_lot_entries(*app_, {std::nullopt, std::nullopt, 0, 2});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].id, 1);
  EXPECT_EQ((*page)[1].id, 2);
  page = list_lot_entries(*app_, {std::nullopt, std::nullopt, 2, 2});
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].id, 3);
  EXPECT_EQ((*page)[1].id, 4);
  const LotEntryRow& held = (*page)[1];
  EXPECT_EQ(held.lot_id, "l1");
  EXPECT_EQ(held.owner, "a1");
  EXPECT_EQ(held.currency, "USD");
  EXPECT_EQ(held.entry_type, "hold");
  EXPECT_EQ(held.amount, kE77);
  EXPECT_EQ(held.op_id, "h1");
  EXPECT_EQ(held.hold_id, "h1");
  EXPECT_EQ(held.tx_id, std::nullopt);
  EXPECT_EQ(held.created_at, 300);
  EXPECT_EQ(list_lot_entries(*app_, {std::nullopt, std::nullopt, 4, 10})->size(), 1u);
  EXPECT_EQ(list_lot_entries(*app_, {"a1", std::nullopt, 0, 10})->size(), 4u);
  EXPECT_EQ(list_lot_entries(*app_, {std::nullopt, "l1", 1, 10})->size(), 2u);
  EXPECT_EQ(list_lot_entries(*app_, {"a2", "l1", 0, 10})->size(), 0u);
  std::vector<std::int64_t> scanned;
  ASSERT_TRUE(scan_lot_entries(*app_, [&](const LotEntryRow& e) {
                scanned.push_back(e.id);
                return Status();
              }).ok());
  EXPECT_EQ(scanned, entry_ids);

  // Status moves only active -> expired | depleted; a missing lot is a programmer error.
  EXPECT_TRUE(txn([](Connection& c) { return update_lot_status(c, "l3", "depleted"); }).ok());
  EXPECT_EQ(get_lot(*app_, "l3")->value().status, "depleted");
  EXPECT_EQ(txn([](Connection& c) { return update_lot_status(c, "l3", "expired"); }).code(),
            ErrorCode::STORE_CONSTRAINT);
  EXPECT_EQ(txn([](Connection& c) { return update_lot_status(c, "l9", "expired"); }).code(),
            ErrorCode::INTERNAL_ERROR);
  // Past 2^256 - 1, and entries are append-only.
  EXPECT_EQ(txn([](Connection& c) {
              return insert_lot(c, lot("l4", "a1", "USD", kAmountMaxPlusOne));
            }).code(),
            ErrorCode::STORE_CONSTRAINT);
  EXPECT_EQ(app_->exec("DELETE FROM lot_entries WHERE id = 1").status().code(),
            ErrorCode::INTERNAL_STORE_ERROR);  // no DELETE grant
}

TEST_F(PgQueriesTest, NegativeBalanceRaises) {
  open("t_q_negative");
  const LotRow l1 = lot("l1", "a1", "USD", "10");
  ASSERT_TRUE(txn([&](Connection& c) -> Status {
                WARDEN_RETURN_IF_ERROR(insert_ledger_op(c, op("m1", "mint")));
                WARDEN_RETURN_IF_ERROR(insert_ledger_op(c, op("d1", "debit")));
                WARDEN_RETURN_IF_ERROR(insert_lot(c, l1));
                LotEntryRow credit = entry(l1, "credit", "10", "m1");
                WARDEN_RETURN_IF_ERROR(insert_lot_entry(c, credit));
                LotEntryRow debit = entry(l1, "debit", "11", "d1");
                return insert_lot_entry(c, debit);
              }).ok());
  // The database does not check balances (the ledger does); the view refuses to show one < 0.
  Status negative = scan_lot_balances(*app_, {}, [](const LotBalanceRow&) { return Status(); });
  EXPECT_EQ(negative.code(), ErrorCode::INTERNAL_STORE_ERROR);
  EXPECT_NE(negative.message().find("below zero"), std::string::npos) << negative.message();
}

TEST_F(PgQueriesTest, HoldsMoveOnceFromPending) {
  open("t_q_holds");
  const LotRow l1 = lot("l1", "a1", "USD", "100");
  ASSERT_TRUE(txn([&](Connection& c) -> Status {
                WARDEN_RETURN_IF_ERROR(insert_ledger_op(c, op("m1", "mint")));
                WARDEN_RETURN_IF_ERROR(insert_ledger_op(c, op("h1", "hold")));
                WARDEN_RETURN_IF_ERROR(insert_ledger_op(c, op("h2", "hold")));
                WARDEN_RETURN_IF_ERROR(insert_lot(c, l1));
                WARDEN_RETURN_IF_ERROR(insert_hold(c, hold("h2", "20")));
                WARDEN_RETURN_IF_ERROR(insert_hold(c, hold("h1", "30")));
                for (LotEntryRow e :
                     {entry(l1, "credit", "100", "m1"), entry(l1, "hold", "30", "h1", "h1"),
                      entry(l1, "hold", "20", "h2", "h2")}) {
                  WARDEN_RETURN_IF_ERROR(insert_lot_entry(c, e));
                }
                return Status();
              }).ok());
  EXPECT_EQ(balances(*app_)["l1"], std::make_pair("50"s, "50"s));

  Result<std::optional<HoldRow>> got = get_hold(*app_, "h1");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->amount, "30");
  EXPECT_EQ((*got)->status, "pending");
  EXPECT_EQ((*got)->posted_amount, std::nullopt);
  EXPECT_EQ((*got)->tx_id, "tx-h1");
  EXPECT_EQ((*got)->expires_at, 900);
  EXPECT_FALSE(get_hold(*app_, "h9")->has_value());
  Result<std::vector<HoldRow>> pending = list_pending_holds(*app_);
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_EQ((*pending)[0].id, "h1");
  EXPECT_EQ((*pending)[1].id, "h2");

  // Pending -> posted; the entries of pending holds then are h2's alone.
  HoldRow posted = **got;
  posted.status = "posted";
  posted.posted_amount = "25";
  posted.updated_at = 500;
  ASSERT_TRUE(txn([&](Connection& c) -> Status {
                WARDEN_RETURN_IF_ERROR(insert_ledger_op(c, op("p1", "post")));
                WARDEN_RETURN_IF_ERROR(update_hold(c, posted));
                LotEntryRow debit = entry(l1, "debit", "25", "p1", "h1");
                WARDEN_RETURN_IF_ERROR(insert_lot_entry(c, debit));
                LotEntryRow release = entry(l1, "release", "5", "p1", "h1");
                return insert_lot_entry(c, release);
              }).ok());
  EXPECT_EQ(get_hold(*app_, "h1")->value().posted_amount, "25");
  EXPECT_EQ(get_hold(*app_, "h1")->value().updated_at, 500);
  EXPECT_EQ(balances(*app_)["l1"], std::make_pair("55"s, "20"s));
  ASSERT_EQ(list_pending_holds(*app_)->size(), 1u);
  std::vector<std::string> pending_entries;
  ASSERT_TRUE(scan_pending_hold_entries(*app_, [&](const LotEntryRow& e) {
                pending_entries.push_back(
                    fmt::format("{}:{}:{}", e.id, e.hold_id.value_or(""), e.entry_type));
                return Status();
              }).ok());
  EXPECT_EQ(pending_entries, (std::vector<std::string>{"3:h2:hold"}));

  // A second change of the same hold is refused by the trigger, whatever it is.
  HoldRow voided = posted;
  voided.status = "voided";
  voided.posted_amount.reset();
  EXPECT_EQ(txn([&](Connection& c) { return update_hold(c, voided); }).code(),
            ErrorCode::STORE_CONSTRAINT);
  EXPECT_EQ(txn([&](Connection& c) { return update_hold(c, posted); }).code(),
            ErrorCode::STORE_CONSTRAINT);
  // So is a change of what a pending hold holds.
  HoldRow bigger = hold("h2", "21");
  bigger.status = "voided";
  EXPECT_EQ(txn([&](Connection& c) { return update_hold(c, bigger); }).code(),
            ErrorCode::STORE_CONSTRAINT);
  HoldRow missing = hold("h9", "1");
  missing.status = "voided";
  EXPECT_EQ(txn([&](Connection& c) { return update_hold(c, missing); }).code(),
            ErrorCode::LEDGER_HOLD_NOT_FOUND);
  EXPECT_EQ(get_hold(*app_, "h1")->value().status, "posted");
}

TEST_F(PgQueriesTest, LedgerOpsAndPayments) {
  open("t_q_ops_payments");
  ASSERT_TRUE(txn([](Connection& c) -> Status {
                WARDEN_RETURN_IF_ERROR(insert_ledger_op(c, op("o3", "debit", "k3", 300)));
                WARDEN_RETURN_IF_ERROR(insert_ledger_op(c, op("o1", "debit", "k1", 100)));
                WARDEN_RETURN_IF_ERROR(insert_ledger_op(c, op("o2", "mint", std::nullopt, 200)));
                return insert_ledger_op(c, op("o4", "hold", "k4", 200));
              }).ok());
  // An idempotency key is unique; keyless operations are many.
  EXPECT_EQ(txn([](Connection& c) { return insert_ledger_op(c, op("o5", "debit", "k1")); }).code(),
            ErrorCode::STORE_CONSTRAINT);
  EXPECT_TRUE(
      txn([](Connection& c) { return insert_ledger_op(c, op("o6", "mint", std::nullopt)); }).ok());
  EXPECT_EQ(txn([](Connection& c) { return insert_ledger_op(c, op("o1", "mint")); }).code(),
            ErrorCode::STORE_CONSTRAINT);

  Result<std::optional<LedgerOpRow>> found = find_ledger_op(*app_, "k3");
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->id, "o3");
  EXPECT_EQ((*found)->kind, "debit");
  EXPECT_EQ((*found)->request_hash, "hash-o3");
  EXPECT_EQ((*found)->result, R"({"ok":true})");
  EXPECT_EQ((*found)->created_at, 300);
  EXPECT_FALSE(find_ledger_op(*app_, "k9")->has_value());
  // Keyed operations only, in time order.
  std::vector<std::string> since;
  ASSERT_TRUE(scan_ledger_ops_since(*app_, 150, [&](const LedgerOpRow& o) {
                since.push_back(o.id);
                return Status();
              }).ok());
  EXPECT_EQ(since, (std::vector<std::string>{"o4", "o3"}));

  PaymentRow p;
  p.id = "pay1";
  p.provider = "stripe";
  p.owner = "a1";
  p.amount = std::string(kAmountMax);
  p.currency = "USD";
  p.status = "pending";
  p.created_at = 10;
  p.updated_at = 10;
  ASSERT_TRUE(txn([&](Connection& c) { return insert_payment(c, p); }).ok());
  EXPECT_EQ(txn([&](Connection& c) { return insert_payment(c, p); }).code(),
            ErrorCode::STORE_CONSTRAINT);
  // Forward: pending -> confirmed, then lot_id set once under the same status.
  PaymentRow confirmed = p;
  confirmed.status = "confirmed";
  confirmed.updated_at = 20;
  ASSERT_TRUE(txn([&](Connection& c) { return update_payment(c, confirmed); }).ok());
  PaymentRow minted = confirmed;
  minted.lot_id = "lot-pay1";
  ASSERT_TRUE(txn([&](Connection& c) { return update_payment(c, minted); }).ok());
  Result<std::optional<PaymentRow>> got = get_payment(*app_, "pay1");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->status, "confirmed");
  EXPECT_EQ((*got)->lot_id, "lot-pay1");
  EXPECT_EQ((*got)->amount, kAmountMax);
  EXPECT_EQ((*got)->updated_at, 20);
  EXPECT_EQ((*got)->provider, "stripe");
  // Never back, never a second lot, never another amount.
  EXPECT_EQ(txn([&](Connection& c) { return update_payment(c, p); }).code(),
            ErrorCode::STORE_CONSTRAINT);
  PaymentRow relot = minted;
  relot.lot_id = "lot-other";
  relot.status = "finished";
  EXPECT_EQ(txn([&](Connection& c) { return update_payment(c, relot); }).code(),
            ErrorCode::STORE_CONSTRAINT);
  PaymentRow finished = minted;
  finished.status = "finished";
  EXPECT_TRUE(txn([&](Connection& c) { return update_payment(c, finished); }).ok());
  PaymentRow failed = finished;
  failed.status = "failed";
  EXPECT_EQ(txn([&](Connection& c) { return update_payment(c, failed); }).code(),
            ErrorCode::STORE_CONSTRAINT);
  PaymentRow missing = p;
  missing.id = "pay9";
  EXPECT_EQ(txn([&](Connection& c) { return update_payment(c, missing); }).code(),
            ErrorCode::INTERNAL_ERROR);
  EXPECT_FALSE(get_payment(*app_, "pay9")->has_value());
}

TEST_F(PgQueriesTest, WebhookEventsAreStoredOnce) {
  open("t_q_webhook");
  WebhookEventRow w{"stripe", "evt_1", R"({"type":"payment"})", 50, 51};
  Result<bool> first = Result<bool>(false);
  ASSERT_TRUE(txn([&](Connection& c) -> Status {
                first = insert_webhook_event(c, w);
                return first.status();
              }).ok());
  EXPECT_TRUE(*first);
  WebhookEventRow again{"stripe", "evt_1", "{}", 60, std::nullopt};
  Result<bool> second = Result<bool>(true);
  ASSERT_TRUE(txn([&](Connection& c) -> Status {
                second = insert_webhook_event(c, again);
                return second.status();
              }).ok());
  EXPECT_FALSE(*second);
  // The same event id from another provider is another event.
  WebhookEventRow other{"nowpayments", "evt_1", "{}", 70, std::nullopt};
  ASSERT_TRUE(txn([&](Connection& c) -> Status {
                second = insert_webhook_event(c, other);
                return second.status();
              }).ok());
  EXPECT_TRUE(*second);

  Result<std::optional<WebhookEventRow>> got = get_webhook_event(*app_, "stripe", "evt_1");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->payload, R"({"type":"payment"})");
  EXPECT_EQ((*got)->received_at, 50);
  EXPECT_EQ((*got)->processed_at, 51);
  EXPECT_EQ(get_webhook_event(*app_, "nowpayments", "evt_1")->value().processed_at, std::nullopt);
  EXPECT_FALSE(get_webhook_event(*app_, "stripe", "evt_2")->has_value());
}

UsageEventRow usage(std::string id, std::string agent, std::string model, std::int64_t at,
                    std::int64_t prompt, std::optional<std::string> cost,
                    std::optional<std::string> currency) {
  UsageEventRow r;
  r.id = std::move(id);
  r.agent_id = std::move(agent);
  r.provider = "openai";
  r.model = std::move(model);
  r.prompt_tokens = prompt;
  r.completion_tokens = prompt / 10;
  r.cost = std::move(cost);
  r.currency = std::move(currency);
  r.created_at = at;
  return r;
}

// "key|currency|requests|prompt|completion|cost" per row.
std::vector<std::string> rollup(Connection& c, UsageRollupFilter f) {
  f.from = kDay0;
  f.to = kDay0 + 2 * 86400;
  Result<std::vector<UsageRollupRow>> rows = usage_rollup(c, f);
  EXPECT_TRUE(rows.ok()) << rows.status().to_string();
  std::vector<std::string> out;
  if (!rows.ok()) return out;
  for (const UsageRollupRow& r : *rows) {
    out.push_back(fmt::format("{}|{}|{}|{}|{}|{}", r.key, r.currency.value_or("-"), r.requests,
                              r.prompt_tokens, r.completion_tokens, r.cost));
  }
  return out;
}

TEST_F(PgQueriesTest, UsageRollupByHourDayModelAndApp) {
  open("t_q_usage");
  // 5 * 10^76 and 5 * 10^76 + 1: their sum, 10^77 + 1, has 78 digits.
  const std::string c4 = "5" + std::string(76, '0');
  const std::string c6 = "5" + std::string(75, '0') + "1";
  std::vector<UsageEventRow> events = {
      usage("u1", "a1", "gpt", kDay0 + 10, 10, "1000", "USD"),
      usage("u2", "a1", "gpt", kDay0 + 3599, 20, "2000", "USD"),
      usage("u3", "a2", "claude", kDay0 + 3600, 30, "5", "EUR"),
      usage("u4", "a2", "gpt", kDay0 + 86400 + 5, 40, c4, "USD"),
      usage("u5", "a1", "claude", kDay0 + 86400 + 7200, 50, std::nullopt, std::nullopt),
      usage("u6", "a2", "gpt", kDay0 + 86400 + 100, 60, c6, "USD"),
      // Outside [from, to).
      usage("u7", "a1", "gpt", kDay0 - 1, 70, "1", "USD"),
      usage("u8", "a1", "gpt", kDay0 + 2 * 86400, 80, "1", "USD"),
  };
  ASSERT_TRUE(txn([&](Connection& c) -> Status {
                for (const UsageEventRow& e : events)
                  WARDEN_RETURN_IF_ERROR(insert_usage_event(c, e));
                return Status();
              }).ok());
  EXPECT_EQ(txn([&](Connection& c) { return insert_usage_event(c, events[0]); }).code(),
            ErrorCode::STORE_CONSTRAINT);

  const std::string d0 = std::to_string(kDay0);
  const std::string h1 = std::to_string(kDay0 + 3600);
  const std::string d1 = std::to_string(kDay0 + 86400);
  const std::string d1h2 = std::to_string(kDay0 + 86400 + 7200);
  const std::string e77_1 = "1" + std::string(76, '0') + "1";
  using V = std::vector<std::string>;
  UsageRollupFilter f;
  f.group_by = "hour";
  EXPECT_EQ(rollup(*app_, f), (V{d0 + "|USD|2|30|3|3000", h1 + "|EUR|1|30|3|5",
                                 d1 + "|USD|2|100|10|" + e77_1, d1h2 + "|-|1|50|5|0"}));
  f.group_by = "day";
  // Per bucket, costless events (currency NULL) first, then currencies bytewise.
  EXPECT_EQ(rollup(*app_, f), (V{d0 + "|EUR|1|30|3|5", d0 + "|USD|2|30|3|3000", d1 + "|-|1|50|5|0",
                                 d1 + "|USD|2|100|10|" + e77_1}));
  f.group_by = "model";
  EXPECT_EQ(rollup(*app_, f), (V{"claude|-|1|50|5|0", "claude|EUR|1|30|3|5",
                                 "gpt|USD|4|130|13|1" + std::string(73, '0') + "3001"}));
  f.group_by = "app";
  EXPECT_EQ(rollup(*app_, f), (V{"a1|-|1|50|5|0", "a1|USD|2|30|3|3000", "a2|EUR|1|30|3|5",
                                 "a2|USD|2|100|10|" + e77_1}));
  // The agent filter (its own statements) and the model filter, alone and together.
  f.group_by = "model";
  f.agent_id = "a2";
  EXPECT_EQ(rollup(*app_, f), (V{"claude|EUR|1|30|3|5", "gpt|USD|2|100|10|" + e77_1}));
  f.group_by = "day";
  f.agent_id = "a1";
  f.model = "gpt";
  EXPECT_EQ(rollup(*app_, f), (V{d0 + "|USD|2|30|3|3000"}));
  f.agent_id.reset();
  f.model = "claude";
  EXPECT_EQ(rollup(*app_, f), (V{d0 + "|EUR|1|30|3|5", d1 + "|-|1|50|5|0"}));
  f.model = "none";
  EXPECT_EQ(rollup(*app_, f), V{});
  f.group_by = "week";
  EXPECT_EQ(usage_rollup(*app_, f).status().code(), ErrorCode::VALIDATION_INVALID_VALUE);

  // A group whose costs sum past 2^256 - 1 fails the rollup, as SQLite's amount_sum does.
  ASSERT_TRUE(txn([&](Connection& c) {
                return insert_usage_event(
                    c, usage("u9", "a2", "gpt", kDay0 + 86400, 1, std::string(kAmountMax), "USD"));
              }).ok());
  f.group_by = "day";
  f.model.reset();
  f.from = kDay0;
  f.to = kDay0 + 2 * 86400;
  Result<std::vector<UsageRollupRow>> overflow = usage_rollup(*app_, f);
  EXPECT_EQ(overflow.status().code(), ErrorCode::INTERNAL_STORE_ERROR);
  EXPECT_NE(overflow.status().message().find("amount_sum: sum past 2^256 - 1"), std::string::npos)
      << overflow.status().message();
}

AutomationRow automation(std::string id, std::string hash) {
  AutomationRow a;
  a.id = std::move(id);
  a.name = "suspend on spend spike";
  // JSON keeps its text as written, spaces and key order included.
  a.spec = R"({"name": "suspend on spend spike", "a": 1})";
  a.ir = R"({"id":"x"})";
  a.hash = std::move(hash);
  a.version = 2;
  a.enabled = true;
  a.priority = 7;
  a.last_validation = R"({"issues":[]})";
  a.last_dry_run = std::nullopt;
  a.created_at = 1'767'300'000;
  a.updated_at = 1'767'300'001;
  return a;
}

void expect_same(const AutomationRow& got, const AutomationRow& want) {
  EXPECT_EQ(got.id, want.id);
  EXPECT_EQ(got.name, want.name);
  EXPECT_EQ(got.spec, want.spec);
  EXPECT_EQ(got.ir, want.ir);
  EXPECT_EQ(got.hash, want.hash);
  EXPECT_EQ(got.version, want.version);
  EXPECT_EQ(got.enabled, want.enabled);
  EXPECT_EQ(got.priority, want.priority);
  EXPECT_EQ(got.last_validation, want.last_validation);
  EXPECT_EQ(got.last_dry_run, want.last_dry_run);
  EXPECT_EQ(got.created_at, want.created_at);
  EXPECT_EQ(got.updated_at, want.updated_at);
}

TEST_F(PgQueriesTest, AutomationsCrud) {
  open("t_q_automations");
  const AutomationRow a1 = automation("au1", "h1");
  ASSERT_TRUE(txn([&](Connection& c) -> Status {
                WARDEN_RETURN_IF_ERROR(insert_automation(c, a1));
                WARDEN_RETURN_IF_ERROR(insert_automation(c, automation("au3", "h3")));
                return insert_automation(c, automation("au2", "h2"));
              }).ok());
  Result<std::optional<AutomationRow>> got = get_automation(*app_, "au1");
  ASSERT_TRUE(got.ok() && got->has_value());
  expect_same(**got, a1);
  expect_same(find_automation_by_hash(*app_, "h1")->value(), a1);
  EXPECT_FALSE(find_automation_by_hash(*app_, "h9")->has_value());
  EXPECT_FALSE(get_automation(*app_, "au9")->has_value());

  // The hash is unique, and so is the id.
  EXPECT_EQ(txn([](Connection& c) { return insert_automation(c, automation("au4", "h2")); }).code(),
            ErrorCode::STORE_CONSTRAINT);
  EXPECT_EQ(txn([](Connection& c) { return insert_automation(c, automation("au1", "h4")); }).code(),
            ErrorCode::STORE_CONSTRAINT);
  // Malformed JSON is refused as SQLite's json_valid CHECK refuses it.
  AutomationRow bad = automation("au5", "h5");
  bad.spec = "{not json";
  EXPECT_FALSE(txn([&](Connection& c) { return insert_automation(c, bad); }).ok());

  Result<std::vector<AutomationRow>> page = list_automations(*app_, {std::nullopt, 2});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].id, "au1");
  EXPECT_EQ((*page)[1].id, "au2");
  page = list_automations(*app_, {"au2", 2});
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ((*page)[0].id, "au3");

  AutomationRow changed = a1;
  changed.name = "renamed";
  changed.spec = R"({"name":"renamed"})";
  changed.hash = "h1b";
  changed.version = 3;
  changed.enabled = false;
  changed.priority = -2;
  changed.last_validation = std::nullopt;
  changed.last_dry_run = R"({"severity":"info"})";
  changed.updated_at = 1'767'300'100;
  ASSERT_TRUE(txn([&](Connection& c) { return update_automation(c, changed); }).ok());
  expect_same(get_automation(*app_, "au1")->value(), changed);
  EXPECT_FALSE(find_automation_by_hash(*app_, "h1")->has_value());
  AutomationRow clash = changed;
  clash.hash = "h2";
  EXPECT_EQ(txn([&](Connection& c) { return update_automation(c, clash); }).code(),
            ErrorCode::STORE_CONSTRAINT);
  AutomationRow missing = automation("au9", "h9");
  EXPECT_EQ(txn([&](Connection& c) { return update_automation(c, missing); }).code(),
            ErrorCode::INTERNAL_ERROR);

  ASSERT_TRUE(txn([](Connection& c) { return delete_automation(c, "au2"); }).ok());
  EXPECT_FALSE(get_automation(*app_, "au2")->has_value());
  EXPECT_EQ(txn([](Connection& c) { return delete_automation(c, "au2"); }).code(),
            ErrorCode::INTERNAL_ERROR);
}

AutomationExecutionRow execution(const std::string& automation_id, int n) {
  AutomationExecutionRow r;
  // Zero-padded so the ids sort like UUID v7 (creation order).
  r.id = fmt::format("0193a4f0-0000-7000-8000-{:012d}", n);
  r.automation_id = automation_id;
  r.event_id = n % 2 == 0 ? std::optional<std::string>(fmt::format("ev-{}", n)) : std::nullopt;
  r.host = "files";
  r.target_id = fmt::format("t{}", n);
  r.capability = "file";
  r.verb = "create";
  r.outcome = "succeeded";
  r.idempotency_key = fmt::format("key-{}", n);
  r.effects = R"([{"created": "a.txt"}])";
  r.reason = "done";
  r.correlation_id = "corr-1";
  r.started_at_ms = 1'767'300'000'000 + n;
  r.finished_at_ms = 1'767'300'000'010 + n;
  return r;
}

// The numbers of the executions listed, newest first.
std::vector<int> numbers(Connection& c, const std::string& automation_id,
                         const std::optional<std::string>& cursor, std::size_t limit) {
  Result<std::vector<AutomationExecutionRow>> rows =
      list_executions(c, automation_id, cursor, limit);
  EXPECT_TRUE(rows.ok()) << rows.status().to_string();
  std::vector<int> out;
  if (!rows.ok()) return out;
  for (const AutomationExecutionRow& r : *rows) out.push_back(std::stoi(r.id.substr(24)));
  return out;
}

std::vector<int> range_down(int from, int to) {
  std::vector<int> out;
  for (int n = from; n >= to; --n) out.push_back(n);
  return out;
}

TEST_F(PgQueriesTest, ExecutionsKeepTheNewestAndPageNewestFirst) {
  open("t_q_executions");
  ASSERT_TRUE(txn([](Connection& c) -> Status {
                WARDEN_RETURN_IF_ERROR(insert_automation(c, automation("au1", "h1")));
                return insert_automation(c, automation("au2", "h2"));
              }).ok());
  // 45 executions of au1 in one transaction, 3 of au2 in between: au1 keeps its newest 30.
  ASSERT_TRUE(txn([](Connection& c) -> Status {
                for (int n = 1; n <= 45; ++n) {
                  WARDEN_RETURN_IF_ERROR(insert_execution(c, execution("au1", n)));
                  if (n % 15 == 0) {
                    WARDEN_RETURN_IF_ERROR(insert_execution(c, execution("au2", 100 + n)));
                  }
                }
                return Status();
              }).ok());
  ASSERT_EQ(kExecutionsKeptMax, 30u);
  EXPECT_EQ(numbers(*app_, "au1", std::nullopt, 100), range_down(45, 16));
  EXPECT_EQ(numbers(*app_, "au2", std::nullopt, 100), (std::vector<int>{145, 130, 115}));

  // Pages of 12, each below the previous page's last id.
  std::vector<int> paged;
  std::optional<std::string> cursor;
  for (int pages = 0; pages < 5; ++pages) {
    Result<std::vector<AutomationExecutionRow>> page = list_executions(*app_, "au1", cursor, 12);
    ASSERT_TRUE(page.ok());
    if (page->empty()) break;
    for (const AutomationExecutionRow& r : *page) paged.push_back(std::stoi(r.id.substr(24)));
    cursor = page->back().id;
  }
  EXPECT_EQ(paged, range_down(45, 16));
  EXPECT_EQ(numbers(*app_, "au1", execution("au1", 20).id, 100), range_down(19, 16));

  // Every column reads back as written.
  Result<std::vector<AutomationExecutionRow>> top = list_executions(*app_, "au1", std::nullopt, 1);
  ASSERT_TRUE(top.ok());
  ASSERT_EQ(top->size(), 1u);
  const AutomationExecutionRow& r = top->front();
  const AutomationExecutionRow want = execution("au1", 45);
  EXPECT_EQ(r.automation_id, want.automation_id);
  EXPECT_EQ(r.event_id, std::nullopt);
  EXPECT_EQ(r.host, want.host);
  EXPECT_EQ(r.target_id, want.target_id);
  EXPECT_EQ(r.capability, want.capability);
  EXPECT_EQ(r.verb, want.verb);
  EXPECT_EQ(r.outcome, want.outcome);
  EXPECT_EQ(r.idempotency_key, want.idempotency_key);
  EXPECT_EQ(r.effects, want.effects);
  EXPECT_EQ(r.reason, want.reason);
  EXPECT_EQ(r.correlation_id, want.correlation_id);
  EXPECT_EQ(r.started_at_ms, want.started_at_ms);
  EXPECT_EQ(r.finished_at_ms, want.finished_at_ms);
  EXPECT_EQ(list_executions(*app_, "au1", std::nullopt, 44)->front().event_id, std::nullopt);
  EXPECT_EQ((*list_executions(*app_, "au1", std::nullopt, 2))[1].event_id, "ev-44");

  // A row older than the kept ones (replicas racing) is dropped at once, as SQLite's trim
  // drops it; one newer than them pushes the oldest out.
  ASSERT_TRUE(txn([](Connection& c) { return insert_execution(c, execution("au1", 3)); }).ok());
  EXPECT_EQ(numbers(*app_, "au1", std::nullopt, 100), range_down(45, 16));
  ASSERT_TRUE(txn([](Connection& c) { return insert_execution(c, execution("au1", 46)); }).ok());
  EXPECT_EQ(numbers(*app_, "au1", std::nullopt, 100), range_down(46, 17));
  // A taken id, an unknown automation and an unknown outcome are refused.
  EXPECT_EQ(txn([](Connection& c) { return insert_execution(c, execution("au1", 30)); }).code(),
            ErrorCode::STORE_CONSTRAINT);
  EXPECT_EQ(txn([](Connection& c) { return insert_execution(c, execution("au9", 60)); }).code(),
            ErrorCode::STORE_CONSTRAINT);
  AutomationExecutionRow odd = execution("au1", 61);
  odd.outcome = "maybe";
  EXPECT_EQ(txn([&](Connection& c) { return insert_execution(c, odd); }).code(),
            ErrorCode::STORE_CONSTRAINT);
  EXPECT_EQ(numbers(*app_, "au1", std::nullopt, 100), range_down(46, 17));

  // An automation's executions go with it.
  ASSERT_TRUE(txn([](Connection& c) { return delete_automation(c, "au1"); }).ok());
  EXPECT_TRUE(numbers(*app_, "au1", std::nullopt, 100).empty());
  EXPECT_EQ(numbers(*app_, "au2", std::nullopt, 100).size(), 3u);
}

EventRow event(std::string id, std::int64_t received_at_ms) {
  EventRow e;
  e.id = std::move(id);
  e.kind = "spend.spike";
  e.source = "ledger";
  e.subject = "agent:a1";
  e.occurred_at_ms = received_at_ms - 5;
  e.attributes = R"({"amount": "12"})";
  e.received_at_ms = received_at_ms;
  return e;
}

TEST_F(PgQueriesTest, EventsInsertOnceAndPruneOldestFirst) {
  open("t_q_events");
  ASSERT_TRUE(txn([](Connection& c) -> Status {
                // Inserted out of time order: pruning goes by received_at_ms, not by id.
                for (auto [id, at] : std::vector<std::pair<std::string, std::int64_t>>{
                         {"e5", 50}, {"e1", 10}, {"e3", 30}, {"e2", 20}, {"e4", 40}}) {
                  WARDEN_RETURN_IF_ERROR(insert_event(c, event(id, at)));
                }
                return Status();
              }).ok());
  EXPECT_EQ(txn([](Connection& c) { return insert_event(c, event("e3", 99)); }).code(),
            ErrorCode::STORE_CONSTRAINT);
  Result<std::optional<EventRow>> got = get_event(*app_, "e3");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->kind, "spend.spike");
  EXPECT_EQ((*got)->source, "ledger");
  EXPECT_EQ((*got)->subject, "agent:a1");
  EXPECT_EQ((*got)->occurred_at_ms, 25);
  EXPECT_EQ((*got)->attributes, R"({"amount": "12"})");
  EXPECT_EQ((*got)->received_at_ms, 30);
  EXPECT_FALSE(get_event(*app_, "e9")->has_value());

  Result<std::int64_t> deleted = Result<std::int64_t>(std::int64_t{-1});
  ASSERT_TRUE(txn([&](Connection& c) -> Status {
                deleted = delete_events_before(c, 35, 2);
                return deleted.status();
              }).ok());
  EXPECT_EQ(*deleted, 2);
  EXPECT_FALSE(get_event(*app_, "e1")->has_value());
  EXPECT_FALSE(get_event(*app_, "e2")->has_value());
  EXPECT_TRUE(get_event(*app_, "e3")->has_value());
  ASSERT_TRUE(txn([&](Connection& c) -> Status {
                deleted = delete_events_before(c, 35, 10);
                return deleted.status();
              }).ok());
  EXPECT_EQ(*deleted, 1);
  ASSERT_TRUE(txn([&](Connection& c) -> Status {
                deleted = delete_events_before(c, 50, 0);
                return deleted.status();
              }).ok());
  EXPECT_EQ(*deleted, 0);
  EXPECT_TRUE(get_event(*app_, "e4")->has_value());
  EXPECT_TRUE(get_event(*app_, "e5")->has_value());
}

TEST_F(PgQueriesTest, InventoryIsReplaced) {
  open("t_q_inventory");
  EXPECT_FALSE(get_inventory(*app_, "files")->has_value());
  InventoryRow inv{"files", R"([{"id": "a.txt"}])", 1000, true};
  ASSERT_TRUE(txn([&](Connection& c) { return put_inventory(c, inv); }).ok());
  Result<std::optional<InventoryRow>> got = get_inventory(*app_, "files");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->items, R"([{"id": "a.txt"}])");
  EXPECT_EQ((*got)->refreshed_at_ms, 1000);
  EXPECT_TRUE((*got)->full);

  InventoryRow next{"files", "[]", 2000, false};
  ASSERT_TRUE(txn([&](Connection& c) { return put_inventory(c, next); }).ok());
  got = get_inventory(*app_, "files");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->items, "[]");
  EXPECT_EQ((*got)->refreshed_at_ms, 2000);
  EXPECT_FALSE((*got)->full);
  EXPECT_EQ(app_->exec("SELECT count(*) FROM inventory")->text(0, 0), "1");
}

}  // namespace
}  // namespace warden::store::postgres
