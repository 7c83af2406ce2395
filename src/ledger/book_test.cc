// The Book's semantics one operation at a time: FIFO order, shortfall, holds, post, void,
// expiry and exact undo.
#include <gtest/gtest.h>

#include "ledger/ledger.h"

namespace warden::ledger {
namespace {

constexpr std::int64_t kNow = 1'800'000'000;

Lot make_lot(std::string id, std::uint64_t amount, std::optional<std::int64_t> expires_at = {},
             std::string owner = "a1", std::string currency = "USD") {
  Lot l;
  l.id = std::move(id);
  l.owner = std::move(owner);
  l.currency = std::move(currency);
  l.source = "grant";
  l.amount = Amount(amount);
  l.expires_at = expires_at;
  l.created_at = kNow;
  return l;
}

Amount avail(const Book& b, std::int64_t now = kNow) { return b.balance("a1", "USD", now).available; }

TEST(Book, DebitsFirstExpiringFirstThenOldestAndSplits) {
  Book b;
  ASSERT_TRUE(b.mint(make_lot("l1-never", 100)).ok());
  ASSERT_TRUE(b.mint(make_lot("l2-late", 100, kNow + 2000)).ok());
  ASSERT_TRUE(b.mint(make_lot("l3-soon", 100, kNow + 1000)).ok());
  auto c = b.debit("a1", "USD", Amount(150), kNow);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  ASSERT_EQ(c->entries.size(), 2u);
  EXPECT_EQ(c->entries[0].lot_id, "l3-soon");
  EXPECT_EQ(c->entries[0].amount, Amount(100));
  EXPECT_EQ(c->entries[1].lot_id, "l2-late");
  EXPECT_EQ(c->entries[1].amount, Amount(50));
  ASSERT_EQ(c->statuses.size(), 1u);
  EXPECT_EQ(c->statuses[0], std::make_pair(std::string("l3-soon"), LotStatus::kDepleted));
  EXPECT_EQ(c->after.available, Amount(150));
  EXPECT_EQ(b.lot("l3-soon")->status, LotStatus::kDepleted);
  EXPECT_EQ(b.lot("l2-late")->remaining, Amount(50));
}

TEST(Book, ShortDebitChangesNothingAndNamesTheShortfall) {
  Book b;
  ASSERT_TRUE(b.mint(make_lot("l1", 100)).ok());
  auto c = b.debit("a1", "USD", Amount(101), kNow);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), ErrorCode::LEDGER_BUDGET_EXCEEDED);
  EXPECT_EQ(c.status().details().at("shortfall").as_string(), "1");
  EXPECT_EQ(c.status().details().at("available").as_string(), "100");
  EXPECT_EQ(avail(b), Amount(100));
  auto other = b.debit("a1", "EUR", Amount(1), kNow);
  EXPECT_EQ(other.status().code(), ErrorCode::LEDGER_BUDGET_EXCEEDED);
}

TEST(Book, AHoldCountsUntilPostedOrVoided) {
  Book b;
  ASSERT_TRUE(b.mint(make_lot("l1", 5000)).ok());
  int accepted = 0;
  for (int i = 0; i < 6; ++i) {
    if (b.hold("a1", "USD", Amount(1000), false, "h" + std::to_string(i), kNow + 60, {}, kNow).ok()) {
      ++accepted;
    }
  }
  EXPECT_EQ(accepted, 5);
  EXPECT_EQ(avail(b), Amount(0));
  EXPECT_EQ(b.balance("a1", "USD", kNow).held, Amount(5000));
  // Post 600 of h0: 400 comes back.
  auto p = b.post("h0", Amount(600), kNow);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(avail(b), Amount(400));
  EXPECT_EQ(b.balance("a1", "USD", kNow).held, Amount(4000));
  EXPECT_EQ(b.post("h0", Amount(1), kNow).status().code(), ErrorCode::LEDGER_HOLD_NOT_FOUND);
  EXPECT_EQ(b.post("h1", Amount(1001), kNow).status().code(),
            ErrorCode::LEDGER_AMOUNT_EXCEEDS_HOLD);
  ASSERT_TRUE(b.void_hold("h1", kNow).ok());
  EXPECT_EQ(avail(b), Amount(1400));
  EXPECT_EQ(b.holds().size(), 3u);
  EXPECT_EQ(b.holds_due(kNow + 59).size(), 0u);
  EXPECT_EQ(b.holds_due(kNow + 60).size(), 3u);
}

TEST(Book, ExpiryTakesWhatRemainsAndLaterReleasesToo) {
  Book b;
  ASSERT_TRUE(b.mint(make_lot("l1", 100, kNow + 10)).ok());
  ASSERT_TRUE(b.hold("a1", "USD", Amount(30), false, "h", 0, {}, kNow).ok());
  EXPECT_EQ(avail(b, kNow + 9), Amount(70));
  EXPECT_EQ(avail(b, kNow + 10), Amount(0));  // past its expiry, before the sweep
  auto expired = b.expire_lots(kNow + 10);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].entries[0].amount, Amount(70));
  EXPECT_EQ(b.lot("l1")->status, LotStatus::kExpired);
  // Posting 10 of the hold after expiry: 10 spent, 20 released and expired at once.
  auto p = b.post("h", Amount(10), kNow + 11);
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p->entries.size(), 3u);
  EXPECT_EQ(p->entries[1].type, EntryType::kRelease);
  EXPECT_EQ(p->entries[2].type, EntryType::kExpire);
  EXPECT_EQ(p->entries[2].amount, Amount(20));
  EXPECT_EQ(b.lot("l1")->remaining, Amount(0));
  EXPECT_EQ(b.lot("l1")->held, Amount(0));
}

TEST(Book, UndoRestoresExactly) {
  Book b;
  auto m = b.mint(make_lot("l1", 100));
  ASSERT_TRUE(m.ok());
  auto d = b.debit("a1", "USD", Amount(100), kNow);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(b.lot("l1")->status, LotStatus::kDepleted);
  b.undo(*d);
  EXPECT_EQ(b.lot("l1")->status, LotStatus::kActive);
  EXPECT_EQ(avail(b), Amount(100));
  auto h = b.hold("a1", "USD", Amount(40), false, "h", 0, {}, kNow);
  ASSERT_TRUE(h.ok());
  auto v = b.void_hold("h", kNow);
  ASSERT_TRUE(v.ok());
  b.undo(*v);
  EXPECT_TRUE(b.find_hold("h").has_value());
  EXPECT_EQ(avail(b), Amount(60));
  b.undo(*h);
  EXPECT_FALSE(b.find_hold("h").has_value());
  EXPECT_EQ(avail(b), Amount(100));
  b.undo(*m);
  EXPECT_FALSE(b.lot("l1").has_value());
  EXPECT_EQ(avail(b), Amount(0));
}

TEST(Book, PlannedCloseChangesNothingUntilApplied) {
  Book b;
  ASSERT_TRUE(b.mint(make_lot("l1", 100)).ok());
  ASSERT_TRUE(b.hold("a1", "USD", Amount(100), false, "h", 0, {}, kNow).ok());
  auto plan = b.post("h", Amount(100), kNow, false);
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(b.find_hold("h").has_value());
  ASSERT_EQ(plan->statuses.size(), 1u);
  EXPECT_EQ(plan->statuses[0].second, LotStatus::kDepleted);
  EXPECT_EQ(b.lot("l1")->status, LotStatus::kActive);
  b.apply(*plan);
  EXPECT_FALSE(b.find_hold("h").has_value());
  EXPECT_EQ(b.lot("l1")->status, LotStatus::kDepleted);
  EXPECT_EQ(b.balance("a1", "USD", kNow).held, Amount(0));
}

TEST(Book, APaymentMintsOneLot) {
  Book b;
  Lot l = make_lot("l1", 10);
  l.payment_id = "stripe:p1";
  ASSERT_TRUE(b.mint(l).ok());
  Lot again = make_lot("l2", 10, {}, "a2");
  again.payment_id = "stripe:p1";
  auto c = b.mint(again);
  EXPECT_EQ(c.status().code(), ErrorCode::LEDGER_PAYMENT_CONFLICT);
  EXPECT_EQ(b.lot_of_payment("stripe:p1"), "l1");
}

TEST(Book, PartialHoldTakesWhatThereIs) {
  Book b;
  ASSERT_TRUE(b.mint(make_lot("l1", 30)).ok());
  auto h = b.hold("a1", "USD", Amount(50), true, "h", 0, "tx1", kNow);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->new_hold->amount, Amount(30));
  auto none = b.hold("a9", "USD", Amount(50), true, "h2", 0, "tx2", kNow);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->new_hold->amount, Amount(0));
}

// What another replica did, as the store has it, replaces what the book knew of one owner in
// every currency, indexes included; another owner is left as it was.
TEST(Book, ReplaceOwnerSwapsEverythingOfThatOwnerOnly) {
  Book b;
  Lot paid = make_lot("l1-paid", 100, kNow + 1000);
  paid.payment_id = "stripe:p1";
  ASSERT_TRUE(b.mint(paid).ok());
  ASSERT_TRUE(b.mint(make_lot("l2-eur", 50, {}, "a1", "EUR")).ok());
  ASSERT_TRUE(b.hold("a1", "USD", Amount(30), false, "h-old", kNow + 60, "tx-old", kNow).ok());
  ASSERT_TRUE(b.mint(make_lot("l9-other", 70, kNow + 10, "a2")).ok());
  ASSERT_TRUE(b.hold("a2", "USD", Amount(5), false, "h-other", kNow + 5, std::nullopt, kNow).ok());

  // The store: l1 was spent down to 40 with 20 of it under a new hold; l3 was minted; the old
  // hold and the EUR lot are gone.
  Lot l1 = paid;
  l1.remaining = Amount(40);
  l1.held = Amount(20);
  Lot l3 = make_lot("l3-new", 25, kNow + 3000);
  l3.remaining = Amount(25);
  Hold fresh;
  fresh.id = "h-new";
  fresh.owner = "a1";
  fresh.currency = "USD";
  fresh.amount = Amount(20);
  fresh.portions = {{"l1-paid", Amount(20)}};
  fresh.expires_at = kNow + 90;
  fresh.tx_id = "tx-new";
  fresh.created_at = kNow;
  const std::vector<Hold> dropped = b.replace_owner("a1", {l1, l3}, {fresh});

  ASSERT_EQ(dropped.size(), 1u);
  EXPECT_EQ(dropped[0].id, "h-old");
  EXPECT_EQ(avail(b), Amount(65));
  EXPECT_EQ(b.balance("a1", "USD", kNow).held, Amount(20));
  EXPECT_EQ(b.balance("a1", "EUR", kNow).available, Amount(0));
  EXPECT_FALSE(b.lot("l2-eur"));
  EXPECT_FALSE(b.find_hold("h-old"));
  ASSERT_TRUE(b.find_hold("h-new"));
  EXPECT_EQ(b.lot_of_payment("stripe:p1"), "l1-paid");
  EXPECT_EQ(b.lot("l3-new")->remaining, Amount(25));
  // The timeouts and expiries are the new ones: h-old's (kNow + 60) is gone, h-new's is there.
  EXPECT_EQ(b.holds_due(kNow + 60), std::vector<std::string>{"h-other"});
  EXPECT_EQ(b.holds_due(kNow + 90), (std::vector<std::string>{"h-other", "h-new"}));
  EXPECT_EQ(b.lots_due(kNow + 1000), (std::vector<std::string>{"l9-other", "l1-paid"}));
  // The other owner is untouched.
  EXPECT_EQ(b.balance("a2", "USD", kNow).available, Amount(65));
  EXPECT_EQ(b.balance("a2", "USD", kNow).held, Amount(5));
  // And the book goes on from the new state: FIFO, holds and undo as before.
  auto c = b.debit("a1", "USD", Amount(50), kNow);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->entries[0].lot_id, "l1-paid");
  EXPECT_EQ(c->entries[0].amount, Amount(40));
  EXPECT_EQ(c->entries[1].lot_id, "l3-new");
  auto p = b.post("h-new", Amount(20), kNow);
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  EXPECT_EQ(avail(b), Amount(15));
  EXPECT_EQ(b.balance("a1", "USD", kNow).held, Amount(0));
  b.undo(*p);
  b.undo(*c);
  EXPECT_EQ(avail(b), Amount(65));
  EXPECT_EQ(b.balance("a1", "USD", kNow).held, Amount(20));
}

}  // namespace
}  // namespace warden::ledger
