// Two replicas' ledgers on one PostgreSQL database, each with its own PostgresStore and group-
// commit writer, as `warden serve --store` runs them: the store refuses what one replica's book
// would overspend, and the book catches up (docs/cluster.md, "Exact limits across replicas").
#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <string>

#include "core/clock.h"
#include "core/ids.h"
#include "ledger/service.h"
#include "store/batch_writer.h"
#include "store/postgres/migrate.h"
#include "store/postgres/pg_store.h"
#include "test_env.h"

namespace warden::store::postgres {
namespace {

constexpr auto kWaitMax = std::chrono::seconds(20);

struct Replica {
  std::unique_ptr<PostgresStore> store;
  std::unique_ptr<BatchWriter> writer;
  std::unique_ptr<ledger::LedgerService> ledger;
};

class LedgerReplicasTest : public ::testing::Test {
 protected:
  static constexpr const char* kDb = "t_ledger_replicas";

  void SetUp() override {
    auto owner = Connection::connect(test_config("owner", kDb));
    ASSERT_TRUE(owner.ok()) << owner.status().to_string();
    ASSERT_TRUE(migrate(**owner).ok());
    open(a_);
    open(b_);
    AgentRow agent{.id = ids_.next(), .name = "bot", .chain = "ethereum", .network = "mainnet"};
    agent.created_at = agent.updated_at = clock_.now_seconds();
    ASSERT_TRUE(a_.store->write([&](WriteTxn& tx) { return tx.insert_agent(agent); }).ok());
    owner_ = agent.id;
  }
  void TearDown() override {
    for (Replica* r : {&a_, &b_}) {
      if (r->ledger) r->ledger->stop();
      if (r->writer) r->writer->stop();
    }
  }
  void open(Replica& r) {
    auto store = PostgresStore::open({test_config("app", kDb), 2});
    ASSERT_TRUE(store.ok()) << store.status().to_string();
    r.store = std::move(*store);
  }
  void start(Replica& r) {
    ledger::LedgerOptions options;
    options.start_sweeper = false;
    options.shared_store = true;
    r.writer = std::make_unique<BatchWriter>(*r.store, BatchOptions{});
    r.ledger = std::make_unique<ledger::LedgerService>(*r.store, *r.writer, clock_, ids_, options);
    ASSERT_TRUE(r.ledger->start().ok());
  }
  template <class Fn>
  static Result<ledger::Answer> call(Fn fn) {
    auto p = std::make_shared<std::promise<Result<ledger::Answer>>>();
    auto f = p->get_future();
    fn([p](Result<ledger::Answer> r) { p->set_value(std::move(r)); });
    if (f.wait_for(kWaitMax) != std::future_status::ready) {
      return Status(ErrorCode::INTERNAL_ERROR, "callback never ran");
    }
    return f.get();
  }
  Result<ledger::Answer> mint(Replica& r, std::uint64_t amount, const std::string& key) {
    return call([&](ledger::LedgerService::Done d) {
      r.ledger->mint({owner_, Amount(amount), "USD", "grant", std::nullopt, std::nullopt, key}, {},
                     d);
    });
  }
  Result<ledger::Answer> debit(Replica& r, std::uint64_t amount, const std::string& key) {
    return call([&](ledger::LedgerService::Done d) {
      r.ledger->debit({owner_, Amount(amount), "USD", key}, {}, d);
    });
  }
  Amount available(Replica& r) {
    return r.ledger->book().balance(owner_, "USD", clock_.now_seconds()).available;
  }

  SystemClock clock_;
  IdGenerator ids_{clock_};
  Replica a_, b_;
  std::string owner_;
};

TEST_F(LedgerReplicasTest, TheStoreRefusesWhatAStaleBookWouldOverspendAndTheBookCatchesUp) {
  start(a_);
  start(b_);
  // Minted on A: B's book hears of it when it first lacks credit, and debits.
  ASSERT_TRUE(mint(a_, 10, "m1").ok());
  EXPECT_EQ(available(b_), Amount(0));
  auto on_b = debit(b_, 4, "d1");
  ASSERT_TRUE(on_b.ok()) << on_b.status().to_string();
  EXPECT_EQ(available(b_), Amount(6));
  // A's book still has 10: it lets a debit of 8 through, which the store refuses (6 are left).
  EXPECT_EQ(available(a_), Amount(10));
  auto over = debit(a_, 8, "d2");
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), ErrorCode::LEDGER_BUDGET_EXCEEDED) << over.status().to_string();
  // The refusal made A's owner stale: the next operation refreshes first and sees 6.
  auto fits = debit(a_, 6, "d3");
  ASSERT_TRUE(fits.ok()) << fits.status().to_string();
  EXPECT_EQ(available(a_), Amount(0));
  auto none = debit(b_, 1, "d4");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), ErrorCode::LEDGER_BUDGET_EXCEEDED);
  // What the store holds: 10 minted, 4 + 6 debited, nothing left, nothing spent twice.
  Amount remaining;
  ASSERT_TRUE(a_.store
                  ->scan_lot_balances({.owner = owner_, .currency = "USD"},
                                      [&](const LotBalanceRow& row) {
                                        remaining = *remaining.checked_add(
                                            Amount::parse(row.remaining).value());
                                        return Status();
                                      })
                  .ok());
  EXPECT_EQ(remaining, Amount(0));
}

}  // namespace
}  // namespace warden::store::postgres
