// Two ledger services on one SQLite file, each with its own group-commit writer: two replicas
// sharing a store (SqliteStore serialises their writers). With LedgerOptions::shared_store a
// replica's Book catches up with what the other one minted, spent, held and settled; without it
// nothing changes from one replica alone.
//
// SQLite's lots_within_credit always answers true (one process writes it), so a write the store
// refuses for lack of credit (LedgerService marks its owner stale) is not reached here: the
// PostgreSQL suite covers it. What is covered: refreshes after a local refusal for lack of
// credit, refresh_owner() and its in-flight rule, and settling a reservation another replica
// decided.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <thread>

#include "ledger/service.h"
#include "store/sqlite/sqlite_store.h"

namespace warden::ledger {
namespace {

constexpr auto kWaitMax = std::chrono::seconds(20);

// One replica: its writer and its ledger service.
struct Replica {
  std::unique_ptr<store::BatchWriter> writer;
  std::unique_ptr<LedgerService> ledger;
};

class SharedStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "warden-shared-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto opened = store::SqliteStore::open(dir_ + "/l.db", {.create_if_missing = true});
    ASSERT_TRUE(opened.ok()) << opened.status().to_string();
    store_ = std::move(*opened);
    store::AgentRow a{.id = ids_.next(), .name = "bot", .chain = "ethereum", .network = "mainnet"};
    a.created_at = a.updated_at = clock_.now_seconds();
    ASSERT_TRUE(store_->write([&](store::WriteTxn& tx) { return tx.insert_agent(a); }).ok());
    owner_ = a.id;
  }
  void TearDown() override {
    for (Replica* r : {&a_, &b_}) {
      if (r->ledger) r->ledger->stop();
      if (r->writer) r->writer->stop();
      r->ledger.reset();
      r->writer.reset();
    }
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void start(Replica& r, bool shared) {
    LedgerOptions options;
    options.start_sweeper = false;
    options.shared_store = shared;
    r.writer = std::make_unique<store::BatchWriter>(*store_, store::BatchOptions{});
    r.ledger = std::make_unique<LedgerService>(*store_, *r.writer, clock_, ids_, options);
    const Status s = r.ledger->start();
    ASSERT_TRUE(s.ok()) << s.to_string();
  }
  template <class Fn>
  static Result<Answer> call(Fn fn) {
    auto p = std::make_shared<std::promise<Result<Answer>>>();
    auto f = p->get_future();
    fn([p](Result<Answer> r) { p->set_value(std::move(r)); });
    if (f.wait_for(kWaitMax) != std::future_status::ready) {
      return Status(ErrorCode::INTERNAL_ERROR, "callback never ran");
    }
    return f.get();
  }
  Result<Answer> mint(Replica& r, std::uint64_t amount, const std::string& key) {
    return call([&](LedgerService::Done d) {
      r.ledger->mint({owner_, Amount(amount), "USD", "grant", std::nullopt, std::nullopt, key}, {},
                     d);
    });
  }
  Result<Answer> debit(Replica& r, std::uint64_t amount, const std::string& key) {
    return call([&](LedgerService::Done d) {
      r.ledger->debit({owner_, Amount(amount), "USD", key}, {}, d);
    });
  }
  Result<Answer> hold(Replica& r, std::uint64_t amount, const std::string& key) {
    return call([&](LedgerService::Done d) {
      r.ledger->hold({owner_, Amount(amount), "USD", 600, key}, {}, d);
    });
  }
  Result<Answer> post(Replica& r, const std::string& hold_id, std::uint64_t amount) {
    return call([&](LedgerService::Done d) { r.ledger->post(hold_id, Amount(amount), {}, d); });
  }
  Balance balance(Replica& r) {
    return r.ledger->book().balance(owner_, "USD", clock_.now_seconds());
  }
  // The owner's balance in the store (lot_balances), every lot being active and unexpired here.
  Balance stored() {
    Balance b;
    EXPECT_TRUE(store_
                    ->scan_lot_balances({.owner = owner_, .currency = "USD"},
                                        [&](const store::LotBalanceRow& row) {
                                          b.available = *b.available.checked_add(
                                              Amount::parse(row.remaining).value());
                                          b.held =
                                              *b.held.checked_add(Amount::parse(row.held).value());
                                          return Status();
                                        })
                    .ok());
    return b;
  }
  // A BUDGET decision's hold taken on `r` and written as the decision service does: hold_for()
  // in memory, write_reservation() in the decision's write, reservation_written() after it.
  std::string decide(Replica& r, const std::string& tx_id, std::uint64_t amount) {
    auto held = r.ledger->hold_for(owner_, {{"USD", Amount(amount), false, "budget"}}, tx_id,
                                   clock_.now_ms());
    EXPECT_TRUE(held.ok()) << held.status().to_string();
    if (!held.ok()) return "";
    const Status s = r.writer->run([&](store::WriteTxn& tx) {
      return r.ledger->write_reservation(tx, tx_id, clock_.now_seconds());
    });
    EXPECT_TRUE(s.ok()) << s.to_string();
    r.ledger->reservation_written(tx_id, s.ok());
    return held->front().hold_id;
  }
  // Confirms (posting `amount`) or fails a reservation on `r` as the decision service settles
  // it: planned in the write, applied after the commit. Returns the changes applied.
  std::vector<Change> settle(Replica& r, const std::string& tx_id, bool confirm,
                             std::optional<std::uint64_t> amount,
                             const std::optional<std::string>& owner) {
    std::vector<Change> changes;
    std::optional<Amount> final_amount;
    if (amount) final_amount = Amount(*amount);
    const Status s = r.writer->run([&](store::WriteTxn& tx) -> Status {
      auto planned = r.ledger->settle_reservation(tx, tx_id, owner, confirm, final_amount,
                                                  clock_.now_seconds());
      if (!planned.ok()) return planned.status();
      changes = std::move(*planned);
      return Status();
    });
    EXPECT_TRUE(s.ok()) << s.to_string();
    if (s.ok()) r.ledger->settled(changes);
    return changes;
  }
  std::string hold_status(const std::string& hold_id) {
    auto row = store_->get_hold(hold_id);
    return row.ok() && *row ? (*row)->status : "";
  }

  std::string dir_;
  std::unique_ptr<store::SqliteStore> store_;
  FakeClock clock_;
  IdGenerator ids_{clock_};
  std::string owner_;
  Replica a_;
  Replica b_;
};

TEST_F(SharedStoreTest, CreditMintedOnOneReplicaIsSpentOnTheOther) {
  start(a_, false);
  start(b_, true);
  ASSERT_TRUE(mint(a_, 100, "m1").ok());
  EXPECT_EQ(balance(b_).available, Amount(0));  // B has not seen it yet
  auto d = debit(b_, 60, "d1");
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  EXPECT_EQ(d->body.at("remaining").as_string(), "40");
  EXPECT_EQ(balance(b_).available, Amount(40));
  EXPECT_EQ(stored().available, Amount(40));
  // A hold too, and more than B's Book has: refreshed again, it sees A's second mint.
  ASSERT_TRUE(mint(a_, 50, "m2").ok());
  auto h = hold(b_, 70, "h1");
  ASSERT_TRUE(h.ok()) << h.status().to_string();
  EXPECT_EQ(balance(b_).available, Amount(20));
  EXPECT_EQ(balance(b_).held, Amount(70));
  EXPECT_EQ(stored().available, Amount(20));
  EXPECT_EQ(stored().held, Amount(70));
}

TEST_F(SharedStoreTest, WithoutSharedStoreAReplicaKnowsOnlyItsOwnBook) {
  start(a_, false);
  start(b_, false);
  ASSERT_TRUE(mint(a_, 100, "m1").ok());
  auto d = debit(b_, 60, "d1");
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), ErrorCode::LEDGER_BUDGET_EXCEEDED);
  EXPECT_EQ(d.status().details().at("available").as_string(), "0");
  auto refreshed = b_.ledger->refresh_owner(owner_);
  ASSERT_TRUE(refreshed.ok());
  EXPECT_FALSE(*refreshed);  // a no-op: the Book is the whole truth
  EXPECT_EQ(balance(b_).available, Amount(0));
  EXPECT_EQ(stored().available, Amount(100));
}

TEST_F(SharedStoreTest, WhatOneReplicaSpentTheOtherRefusesAfterItsRefresh) {
  start(a_, true);
  start(b_, true);
  ASSERT_TRUE(mint(a_, 100, "m1").ok());
  ASSERT_TRUE(debit(b_, 70, "d1").ok());
  EXPECT_EQ(balance(a_).available, Amount(100));  // A has not seen B's debit yet
  // More than A's Book has: refused there, refreshed, and refused for what the store has.
  auto big = debit(a_, 120, "d2");
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().code(), ErrorCode::LEDGER_BUDGET_EXCEEDED);
  EXPECT_EQ(big.status().details().at("available").as_string(), "30");
  EXPECT_EQ(balance(a_).available, Amount(30));
  // Now A knows: what B spent is not spent again.
  auto over = debit(a_, 40, "d3");
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().details().at("available").as_string(), "30");
  ASSERT_TRUE(debit(a_, 30, "d4").ok());
  EXPECT_EQ(balance(a_).available, Amount(0));
  EXPECT_EQ(stored().available, Amount(0));
  // B's Book is behind A's debit (on PostgreSQL the store would refuse B's next debit and mark
  // the owner stale); refreshed, it agrees.
  EXPECT_EQ(balance(b_).available, Amount(30));
  ASSERT_TRUE(*b_.ledger->refresh_owner(owner_));
  EXPECT_EQ(balance(b_).available, Amount(0));
  EXPECT_EQ(debit(b_, 1, "d5").status().code(), ErrorCode::LEDGER_BUDGET_EXCEEDED);
}

TEST_F(SharedStoreTest, ABudgetHoldDecidedOnOneReplicaIsPostedOnTheOther) {
  start(a_, true);
  start(b_, true);
  ASSERT_TRUE(mint(a_, 100, "m1").ok());
  const std::string hold_id = decide(a_, "tx1", 40);
  ASSERT_FALSE(hold_id.empty());
  EXPECT_EQ(stored().held, Amount(40));
  // B never saw tx1: confirming it there finds its hold in the store and posts it.
  const auto changes = settle(b_, "tx1", true, 25, owner_);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].closed_hold->id, hold_id);
  EXPECT_EQ(*changes[0].posted, Amount(25));
  EXPECT_EQ(hold_status(hold_id), "posted");
  EXPECT_EQ(stored().available, Amount(75));
  EXPECT_EQ(stored().held, Amount(0));
  EXPECT_EQ(balance(b_).available, Amount(75));
  EXPECT_EQ(balance(b_).held, Amount(0));
  EXPECT_TRUE(b_.ledger->holds_of("tx1").empty());
  // A settles nothing twice: its Book catches up and tx1 has no pending hold left.
  ASSERT_TRUE(*a_.ledger->refresh_owner(owner_));
  EXPECT_EQ(balance(a_).available, Amount(75));
  EXPECT_EQ(balance(a_).held, Amount(0));
  EXPECT_TRUE(settle(a_, "tx1", true, 25, owner_).empty());
  EXPECT_EQ(stored().available, Amount(75));
}

// A partial need (allow_negative) never fails, but one that got less than it asked for may be
// short only in this replica's Book: refreshed, it holds what the store has.
TEST_F(SharedStoreTest, APartialBudgetHoldRefreshesWhenItGetsLessThanAsked) {
  start(a_, false);
  start(b_, true);
  ASSERT_TRUE(mint(a_, 30, "m1").ok());
  auto held =
      b_.ledger->hold_for(owner_, {{"USD", Amount(50), true, "budget"}}, "tx1", clock_.now_ms());
  ASSERT_TRUE(held.ok()) << held.status().to_string();
  ASSERT_EQ(held->size(), 1u);
  EXPECT_EQ(held->front().requested, Amount(50));
  EXPECT_EQ(held->front().held, Amount(30));
  EXPECT_EQ(balance(b_).held, Amount(30));
  b_.ledger->reservation_written("tx1", false);  // not stored: taken back
  EXPECT_EQ(balance(b_).held, Amount(0));
  EXPECT_EQ(balance(b_).available, Amount(30));
}

TEST_F(SharedStoreTest, ABudgetHoldDecidedOnOneReplicaIsVoidedOnTheOther) {
  start(a_, true);
  start(b_, true);
  ASSERT_TRUE(mint(a_, 100, "m1").ok());
  const std::string hold_id = decide(a_, "tx1", 40);
  ASSERT_EQ(settle(b_, "tx1", false, std::nullopt, owner_).size(), 1u);
  EXPECT_EQ(hold_status(hold_id), "voided");
  EXPECT_EQ(stored().available, Amount(100));
  EXPECT_EQ(stored().held, Amount(0));
  EXPECT_EQ(balance(b_).available, Amount(100));
}

// A reservation both replicas know, voided on one (as the sweeping replica expires it), then
// confirmed late on the other: the other finds its hold closed in the store and settles nothing
// twice; its Book catches up at the owner's next operation.
TEST_F(SharedStoreTest, AHoldAnotherReplicaClosedIsNotClosedAgain) {
  start(a_, true);
  start(b_, true);
  ASSERT_TRUE(mint(a_, 100, "m1").ok());
  const std::string hold_id = decide(a_, "tx1", 40);
  ASSERT_EQ(settle(b_, "tx1", false, std::nullopt, owner_).size(), 1u);
  EXPECT_EQ(hold_status(hold_id), "voided");
  EXPECT_EQ(balance(a_).held, Amount(40));  // A has not seen it
  EXPECT_TRUE(settle(a_, "tx1", true, 40, owner_).empty());
  EXPECT_EQ(hold_status(hold_id), "voided");
  EXPECT_EQ(stored().available, Amount(100));
  ASSERT_TRUE(debit(a_, 100, "d1").ok());  // refreshed first: the 40 is back
  EXPECT_EQ(balance(a_).held, Amount(0));
  EXPECT_EQ(stored().available, Amount(0));
  EXPECT_TRUE(a_.ledger->holds_of("tx1").empty());
}

// An API hold closed on one replica, then closed again on the other: the store's write refuses
// it, the other replica's Book catches up, and the retry is answered from the store.
TEST_F(SharedStoreTest, AnApiHoldClosedOnOneReplicaIsAnsweredFromTheStoreOnTheOther) {
  start(a_, true);
  start(b_, true);
  ASSERT_TRUE(mint(a_, 100, "m1").ok());
  auto h = hold(a_, 50, "h1");
  ASSERT_TRUE(h.ok()) << h.status().to_string();
  const std::string hold_id(h->body.at("id").as_string());
  ASSERT_TRUE(post(b_, hold_id, 20).ok());
  // A still has it pending: its post is refused by the store and undone.
  EXPECT_FALSE(post(a_, hold_id, 30).ok());
  EXPECT_EQ(hold_status(hold_id), "posted");
  // Its retry is a first attempt again (the failure freed the key), after a refresh.
  auto retry = post(a_, hold_id, 30);
  ASSERT_FALSE(retry.ok());
  EXPECT_EQ(retry.status().code(), ErrorCode::LEDGER_HOLD_NOT_PENDING);
  EXPECT_EQ(balance(a_).available, Amount(80));
  EXPECT_EQ(balance(a_).held, Amount(0));
}

TEST_F(SharedStoreTest, AnUnknownReservationIsLeftAloneWithoutSharedStoreOrOwner) {
  start(a_, true);
  start(b_, false);
  ASSERT_TRUE(mint(a_, 100, "m1").ok());
  const std::string hold_id = decide(a_, "tx1", 40);
  // Today's behaviour: a replica that did not take the holds settles nothing.
  EXPECT_TRUE(settle(b_, "tx1", true, 25, owner_).empty());
  // Nor does a shared one told no owner (a decision without BUDGET holds).
  EXPECT_TRUE(settle(a_, "tx-other", true, 25, std::nullopt).empty());
  EXPECT_EQ(hold_status(hold_id), "pending");
  EXPECT_EQ(stored().held, Amount(40));
}

// A change of the owner in flight on B (a decision's holds not yet written) keeps B from
// refreshing the owner; a reservation A decided is then settled from the store's rows alone,
// and B's Book catches up once nothing is in flight.
TEST_F(SharedStoreTest, AnOwnerWithAChangeInFlightIsRefreshedOnlyAfterIt) {
  start(a_, true);
  start(b_, true);
  ASSERT_TRUE(mint(b_, 100, "m1").ok());
  const std::string a_hold = decide(a_, "tx1", 40);
  ASSERT_FALSE(a_hold.empty());
  // B takes a hold for tx2 in memory; its write has not run.
  auto held =
      b_.ledger->hold_for(owner_, {{"USD", Amount(10), false, "budget"}}, "tx2", clock_.now_ms());
  ASSERT_TRUE(held.ok()) << held.status().to_string();
  auto refreshed = b_.ledger->refresh_owner(owner_);
  ASSERT_TRUE(refreshed.ok());
  EXPECT_FALSE(*refreshed);
  // tx1 settles from the store all the same; B's Book is left as it was (it lacks the hold).
  const auto changes = settle(b_, "tx1", true, 40, owner_);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(hold_status(a_hold), "posted");
  EXPECT_EQ(balance(b_).available, Amount(90));
  EXPECT_EQ(balance(b_).held, Amount(10));
  // tx2's write commits: nothing of the owner is in flight; the stale owner is refreshed by
  // its next operation.
  const Status s = b_.writer->run([&](store::WriteTxn& tx) {
    return b_.ledger->write_reservation(tx, "tx2", clock_.now_seconds());
  });
  ASSERT_TRUE(s.ok()) << s.to_string();
  b_.ledger->reservation_written("tx2", true);
  ASSERT_TRUE(debit(b_, 5, "d1").ok());
  EXPECT_EQ(balance(b_).available, Amount(45));  // 100 - 40 posted - 10 held - 5
  EXPECT_EQ(balance(b_).held, Amount(10));
  EXPECT_EQ(stored().available, Amount(45));
  EXPECT_EQ(stored().held, Amount(10));
  EXPECT_EQ(b_.ledger->holds_of("tx2").size(), 1u);
}

// Refreshes while operations are in flight, from refusals and from a thread that asks for
// them all along (each done only between in-flight changes), never lose or double count a change:
// every credit unit is spent once, and the Book ends equal to the store.
TEST_F(SharedStoreTest, RefreshesAmidConcurrentOperationsKeepTheBookExact) {
  start(a_, false);
  start(b_, true);
  constexpr int kN = 100;
  ASSERT_TRUE(mint(a_, 3 * kN, "m1").ok());  // B learns of it from its first refusal
  std::atomic<bool> running{true};
  std::thread refresher([&] {
    while (running.load()) {
      auto r = b_.ledger->refresh_owner(owner_);
      ASSERT_TRUE(r.ok()) << r.status().to_string();
      std::this_thread::yield();
    }
  });
  std::atomic<int> ok{0}, short_of{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        const std::string key = std::to_string(t) + "-" + std::to_string(i);
        auto r = (i % 2 == 0) ? debit(b_, 3, "d" + key) : hold(b_, 3, "h" + key);
        if (r.ok()) {
          ++ok;
        } else if (r.status().code() == ErrorCode::LEDGER_BUDGET_EXCEEDED) {
          ++short_of;
        } else {
          ++other;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  running = false;
  refresher.join();
  EXPECT_EQ(ok.load(), kN);
  EXPECT_EQ(short_of.load(), 320 - kN);
  EXPECT_EQ(other.load(), 0);
  const Balance in_store = stored();
  EXPECT_EQ(in_store.available, Amount(0));
  EXPECT_EQ(balance(b_).available, in_store.available);
  EXPECT_EQ(balance(b_).held, in_store.held);
  ASSERT_TRUE(*b_.ledger->refresh_owner(owner_));
  EXPECT_EQ(balance(b_).available, in_store.available);
  EXPECT_EQ(balance(b_).held, in_store.held);
  auto pending = store_->list_pending_holds();
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(b_.ledger->book().holds().size(), pending->size());
  EXPECT_EQ(in_store.held, Amount(3 * pending->size()));
}

// Every path that changes the Book ends its change's count in flight: after each, the owner
// can be refreshed at once (refresh_owner() answers false while anything is in flight).
TEST_F(SharedStoreTest, EveryPathEndsItsChangeInFlight) {
  start(a_, false);
  start(b_, true);
  auto refreshable = [&] {
    auto r = b_.ledger->refresh_owner(owner_);
    return r.ok() && *r;
  };
  const std::int64_t soon = clock_.now_seconds() + 30;
  ASSERT_TRUE(call([&](LedgerService::Done d) {
                b_.ledger->mint({owner_, Amount(100), "USD", "grant", std::nullopt, soon, "m1"},
                                {}, d);
              }).ok());
  EXPECT_TRUE(refreshable());
  ASSERT_TRUE(mint(b_, 100, "m2").ok());
  ASSERT_TRUE(debit(b_, 10, "d1").ok());
  EXPECT_FALSE(debit(b_, 1000, "d2").ok());  // refused, refreshed, refused again
  EXPECT_TRUE(refreshable());
  auto h1 = hold(b_, 10, "h1");
  ASSERT_TRUE(h1.ok());
  ASSERT_TRUE(post(b_, std::string(h1->body.at("id").as_string()), 5).ok());
  auto h2 = hold(b_, 10, "h2");
  ASSERT_TRUE(h2.ok());
  ASSERT_TRUE(call([&](LedgerService::Done d) {
                b_.ledger->void_hold(std::string(h2->body.at("id").as_string()), {}, d);
              }).ok());
  EXPECT_TRUE(refreshable());
  // A decision whose write was refused, and one that was stored.
  ASSERT_TRUE(b_.ledger->hold_for(owner_, {{"USD", Amount(5), false, "budget"}}, "tx1",
                                  clock_.now_ms())
                  .ok());
  b_.ledger->reservation_written("tx1", false);
  EXPECT_TRUE(refreshable());
  ASSERT_FALSE(decide(b_, "tx2", 5).empty());
  EXPECT_TRUE(refreshable());
  // A late charge, kept.
  const Status late = b_.writer->run([&](store::WriteTxn& tx) {
    return b_.ledger
        ->charge_late(tx, "late-1", "tx3", owner_, {{"USD", Amount(3)}}, clock_.now_seconds())
        .status();
  });
  ASSERT_TRUE(late.ok()) << late.to_string();
  b_.ledger->late_charged("late-1", true);
  EXPECT_TRUE(refreshable());
  // A payment event that mints.
  PaymentEvent e;
  e.provider = "acme";
  e.event_id = "evt_1";
  e.payment_id = "pay_1";
  e.owner = owner_;
  e.amount = Amount(50);
  e.currency = "USD";
  e.status = "confirmed";
  e.created = clock_.now_seconds();
  e.payload = R"({"id":"evt_1"})";
  ASSERT_TRUE(call([&](LedgerService::Done d) { b_.ledger->payment_event(e, {}, d); }).ok());
  EXPECT_TRUE(refreshable());
  // The sweeper: the first lot expires, a hold times out.
  ASSERT_TRUE(hold(b_, 7, "h3").ok());
  clock_.advance_ms(3'600'000);
  b_.ledger->sweep();
  EXPECT_TRUE(refreshable());
  // What the Book has is what the store has: the first lot, spent from first, expired with the
  // 70 it had left (h3's 7 with it); the second lot and the payment's are whole; tx2 still holds
  // 5 of the expired lot.
  const Balance book = balance(b_);
  const Balance in_store = stored();
  EXPECT_EQ(book.available, Amount(150));
  EXPECT_EQ(in_store.available, Amount(150));
  EXPECT_EQ(book.held, Amount(5));
  EXPECT_EQ(in_store.held, Amount(5));
  EXPECT_EQ(b_.ledger->book().holds().size(), 1u);
}

// A hold taken through the API on one replica is posted through the API on the other.
TEST_F(SharedStoreTest, AHoldTakenOnOneReplicaIsPostedOnTheOther) {
  start(a_, true);
  start(b_, true);
  ASSERT_TRUE(mint(a_, 100, "m1").ok());
  auto h = hold(a_, 50, "h1");
  ASSERT_TRUE(h.ok()) << h.status().to_string();
  const std::string hold_id(h->body.at("id").as_string());
  auto p = post(b_, hold_id, 20);
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  EXPECT_EQ(p->body.at("status").as_string(), "posted");
  EXPECT_EQ(hold_status(hold_id), "posted");
  EXPECT_EQ(stored().available, Amount(80));
  EXPECT_EQ(balance(b_).available, Amount(80));
}

}  // namespace
}  // namespace warden::ledger

namespace warden::ledger {
namespace {

// The sweeping replica expires a lot and times out a hold that another replica created, which
// its own Book has never seen.
TEST_F(SharedStoreTest, TheSweeperExpiresWhatAnotherReplicaCreated) {
  start(a_, true);
  start(b_, true);
  const std::int64_t expires = clock_.now_seconds() + 60;
  auto lot = call([&](LedgerService::Done d) {
    a_.ledger->mint({owner_, Amount(30), "USD", "grant", std::nullopt, expires, "m-exp"}, {}, d);
  });
  ASSERT_TRUE(lot.ok()) << lot.status().to_string();
  ASSERT_TRUE(mint(a_, 20, "m-keep").ok());
  auto h = hold(a_, 5, "h-exp");  // a 600 s hold
  ASSERT_TRUE(h.ok()) << h.status().to_string();
  const std::string hold_id(h->body.at("id").as_string());
  // B sweeps, after both are due; it knows neither.
  clock_.advance_ms(700'000);
  b_.ledger->sweep();
  EXPECT_EQ(hold_status(hold_id), "expired");
  const std::string lot_id(lot->body.at("id").as_string());
  auto row = store_->get_lot(lot_id);
  ASSERT_TRUE(row.ok() && *row);
  EXPECT_EQ((*row)->status, "expired");
  // What is left: the lot without an expiry, the hold's 5 given back to wherever it was taken.
  EXPECT_EQ(stored().held, Amount(0));
  EXPECT_EQ(stored().available, Amount(20));
}

}  // namespace
}  // namespace warden::ledger
