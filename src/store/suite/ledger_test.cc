// The credit ledger's rows through the store (migration 5): they round-trip, entries page by
// cursor, the lot_balances view adds exactly past 64 bits, and the writes the contract forbids
// are refused with STORE_CONSTRAINT.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "core/amount.h"
#include "store/suite/helpers.h"
#include "store/suite/store_suite.h"

namespace warden::store {
namespace {

using testing::entry;
using testing::hold;
using testing::lot;
using testing::op;
using testing::payment;
using testing::sample_agent;
using namespace std::string_literals;

constexpr std::int64_t kNow = testing::kLedgerNow;

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

class LedgerStoreTest : public suite::StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(run([](WriteTxn& t) -> Status {
                  WARDEN_RETURN_IF_ERROR(t.insert_agent(sample_agent("a1", "pk-1")));
                  return t.insert_agent(sample_agent("a2", "pk-2"));
                }).ok());
  }

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
};

TEST_P(LedgerStoreTest, LotsRoundTripListAndFilter) {
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

TEST_P(LedgerStoreTest, EntriesGetIncreasingIdsAndPageByCursor) {
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

TEST_P(LedgerStoreTest, HoldsRoundTripAndPendingOnesComeWithTheirEntries) {
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

TEST_P(LedgerStoreTest, OperationsAreFoundByKeyAndRestoredSinceATime) {
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
    WARDEN_RETURN_IF_ERROR(t.insert_ledger_op(op("o5", "mint", "k-5")));
    return t.insert_ledger_op(op("o6", "debit", "k-2"));
  });
  EXPECT_EQ(dup.code(), ErrorCode::STORE_CONSTRAINT);
  EXPECT_NE(dup.message().find("ledger_ops.idempotency_key"), std::string::npos) << dup.message();
  EXPECT_FALSE(store_->find_ledger_op("k-5")->has_value());
  EXPECT_EQ(store_->find_ledger_op("k-2")->value().id, "o2");
  // Unkeyed operations never collide.
  EXPECT_TRUE(run([](WriteTxn& t) -> Status {
                WARDEN_RETURN_IF_ERROR(t.insert_ledger_op(op("o7", "expire")));
                return t.insert_ledger_op(op("o8", "expire"));
              }).ok());
}

TEST_P(LedgerStoreTest, PaymentsRoundTripAndMoveOnlyForward) {
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

  // Backwards through the store: refused by the schema.
  PaymentRow back = p;
  back.status = "pending";
  EXPECT_EQ(run([&](WriteTxn& t) { return t.update_payment(back); }).code(),
            ErrorCode::STORE_CONSTRAINT);
  PaymentRow finished = p;
  finished.status = "finished";
  ASSERT_TRUE(run([&](WriteTxn& t) { return t.update_payment(finished); }).ok());
  PaymentRow failed = finished;
  failed.status = "failed";  // finished is never failed
  EXPECT_EQ(run([&](WriteTxn& t) { return t.update_payment(failed); }).code(),
            ErrorCode::STORE_CONSTRAINT);
  PaymentRow other_owner = finished;
  other_owner.owner = "a2";
  other_owner.status = "refunded";  // forward, but the owner is not the status's to change
  EXPECT_EQ(run([&](WriteTxn& t) { return t.update_payment(other_owner); }).code(),
            ErrorCode::STORE_CONSTRAINT);
  EXPECT_EQ(store_->get_payment("stripe:p1")->value().status, "finished");

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

TEST_P(LedgerStoreTest, WebhookEventsAreStoredOncePerProviderAndEvent) {
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
  EXPECT_FALSE(store_->get_webhook_event("paddle", "evt_2")->has_value());
}

TEST_P(LedgerStoreTest, UsageEventsAreWritten) {
  UsageEventRow u{"u1", "a1", "tx-1", "openai", "gpt-x", 120, 30, "4500", "USD", kNow};
  ASSERT_TRUE(run([&](WriteTxn& t) { return t.insert_usage_event(u); }).ok());
  UsageEventRow unpriced{"u2", "a1", std::nullopt, "openai",     "gpt-x",
                         1,    0,    std::nullopt, std::nullopt, kNow};
  ASSERT_TRUE(run([&](WriteTxn& t) { return t.insert_usage_event(unpriced); }).ok());
  auto by_app = store_->usage_rollup({.group_by = "app", .from = kNow, .to = kNow + 1});
  ASSERT_TRUE(by_app.ok()) << by_app.status().to_string();
  ASSERT_EQ(by_app->size(), 2u);
  // Key order, then currency; where a null currency sorts is the backend's (unspecified).
  const auto priced = (*by_app)[0].currency ? (*by_app)[0] : (*by_app)[1];
  const auto unpriced_group = (*by_app)[0].currency ? (*by_app)[1] : (*by_app)[0];
  EXPECT_EQ(priced.key, "a1");
  EXPECT_EQ(priced.currency, "USD");
  EXPECT_EQ(priced.requests, 1);
  EXPECT_EQ(priced.prompt_tokens, 120);
  EXPECT_EQ(priced.completion_tokens, 30);
  EXPECT_EQ(priced.cost, "4500");
  EXPECT_EQ(unpriced_group.key, "a1");
  EXPECT_EQ(unpriced_group.currency, std::nullopt);
  EXPECT_EQ(unpriced_group.requests, 1);
  EXPECT_EQ(unpriced_group.prompt_tokens, 1);
  EXPECT_EQ(unpriced_group.cost, "0");
  auto by_model = store_->usage_rollup({.group_by = "model", .from = kNow, .to = kNow + 1});
  ASSERT_TRUE(by_model.ok());
  ASSERT_EQ(by_model->size(), 2u);
  EXPECT_EQ((*by_model)[0].key, "gpt-x");
  EXPECT_TRUE(store_->usage_rollup({.group_by = "app", .from = kNow + 1, .to = kNow + 2})->empty());
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

TEST_P(LedgerStoreTest, LotBalancesFollowEveryEntryType) {
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

TEST_P(LedgerStoreTest, LotBalancesAreExactPast64Bits) {
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

TEST_P(LedgerStoreTest, LotBalancesRefuseANegativeLot) {
  const LotRow l1 = lot("l1", "a1", "10");
  mint(l1, "m1");
  // The database does not check balances (the ledger does); the view refuses to show one < 0.
  write_op(op("d1", "debit"), {entry(l1, "debit", "11", "d1")});
  Status negative = store_->scan_lot_balances({}, [](const LotBalanceRow&) { return Status(); });
  EXPECT_EQ(negative.code(), ErrorCode::INTERNAL_STORE_ERROR) << negative.to_string();
  // The other owner's lots still read.
  mint(lot("l2", "a2", "4"), "m2");
  EXPECT_EQ(balances({.owner = "a2"})["l2"], std::make_pair("4"s, "0"s));
}

TEST_P(LedgerStoreTest, ALotMovesOnlyForwardThroughTheStore) {
  mint(lot("l1", "a1", "10"), "m1");
  mint(lot("l2", "a1", "10"), "m2");
  ASSERT_TRUE(run([](WriteTxn& t) { return t.update_lot_status("l1", "expired"); }).ok());
  EXPECT_EQ(run([](WriteTxn& t) { return t.update_lot_status("l1", "active"); }).code(),
            ErrorCode::STORE_CONSTRAINT);
  EXPECT_EQ(run([](WriteTxn& t) { return t.update_lot_status("l1", "depleted"); }).code(),
            ErrorCode::STORE_CONSTRAINT);
  ASSERT_TRUE(run([](WriteTxn& t) { return t.update_lot_status("l2", "depleted"); }).ok());
  EXPECT_EQ(run([](WriteTxn& t) { return t.update_lot_status("l2", "expired"); }).code(),
            ErrorCode::STORE_CONSTRAINT);
  EXPECT_EQ(store_->get_lot("l1")->value().status, "expired");
  EXPECT_EQ(store_->get_lot("l2")->value().status, "depleted");
  EXPECT_EQ(store_->get_lot("l2")->value().amount, "10");
}

TEST_P(LedgerStoreTest, AHoldMovesOnlyFromPendingThroughTheStore) {
  for (const char* id : {"h1", "h2", "h3"}) {
    ASSERT_TRUE(run([&](WriteTxn& t) { return t.insert_hold(hold(id, "a1", "30")); }).ok());
  }
  auto update = [&](HoldRow h) { return run([&](WriteTxn& t) { return t.update_hold(h); }); };
  // posted_amount comes with 'posted' and only then, and never above what was held.
  HoldRow h1 = hold("h1", "a1", "30");
  h1.status = "posted";
  EXPECT_EQ(update(h1).code(), ErrorCode::STORE_CONSTRAINT);
  h1.posted_amount = "31";
  EXPECT_EQ(update(h1).code(), ErrorCode::STORE_CONSTRAINT);
  h1.status = "voided";
  h1.posted_amount = "1";
  EXPECT_EQ(update(h1).code(), ErrorCode::STORE_CONSTRAINT);
  h1.status = "voided";
  h1.posted_amount.reset();
  h1.amount = "40";  // only the status and its posted amount change
  EXPECT_EQ(update(h1).code(), ErrorCode::STORE_CONSTRAINT);

  HoldRow posted = hold("h1", "a1", "30");
  posted.status = "posted";
  posted.posted_amount = "30";
  ASSERT_TRUE(update(posted).ok());
  HoldRow back = posted;
  back.status = "pending";
  back.posted_amount.reset();
  EXPECT_EQ(update(back).code(), ErrorCode::STORE_CONSTRAINT);
  HoldRow voided = back;
  voided.status = "voided";
  EXPECT_EQ(update(voided).code(), ErrorCode::STORE_CONSTRAINT);
  HoldRow zero = hold("h2", "a1", "30");
  zero.status = "posted";
  zero.posted_amount = "0";
  EXPECT_TRUE(update(zero).ok());
  HoldRow expired = hold("h3", "a1", "30");
  expired.status = "expired";
  EXPECT_TRUE(update(expired).ok());
  EXPECT_EQ(store_->get_hold("h1")->value().posted_amount, "30");
  EXPECT_EQ(store_->get_hold("h2")->value().status, "posted");
  EXPECT_EQ(store_->get_hold("h3")->value().status, "expired");
  EXPECT_TRUE(store_->list_pending_holds()->empty());
}

TEST_P(LedgerStoreTest, PaymentIdIsUniqueAcrossLots) {
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
  EXPECT_EQ(store_->list_lots({}, {})->size(), 3u);
  EXPECT_FALSE(store_->get_lot("l2")->has_value());
}

TEST_P(LedgerStoreTest, RowsMustBeWellFormed) {
  const LotRow l1 = lot("l1", "a1", "10");
  mint(l1, "m1");
  auto insert_entry = [&](LotEntryRow e) {
    return run([&](WriteTxn& t) { return t.insert_lot_entry(e); });
  };
  for (const char* bad : {"0", "-5", "007", "1.5", "1e3", "", " 1",
                          "115792089237316195423570985008687907853269984665640564039457584007913"
                          "129639936"}) {
    const Status bad_entry = insert_entry(entry(l1, "debit", bad, "m1"));
    EXPECT_EQ(bad_entry.code(), ErrorCode::STORE_CONSTRAINT)
        << "'" << bad << "': " << bad_entry.message();
    // Each its own id: one accepted by mistake must not make the next fail for its id.
    const LotRow bad_row = lot(fmt::format("lx-{}", bad), "a1", bad);
    const Status bad_lot = run([&](WriteTxn& t) { return t.insert_lot(bad_row); });
    EXPECT_EQ(bad_lot.code(), ErrorCode::STORE_CONSTRAINT)
        << "'" << bad << "': " << bad_lot.message();
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
  EXPECT_EQ(store_->list_lot_entries({})->size(), 1u);
  EXPECT_EQ(store_->list_lots({}, {})->size(), 1u);
}

WARDEN_STORE_SUITE(LedgerStoreTest);

}  // namespace
}  // namespace warden::store
