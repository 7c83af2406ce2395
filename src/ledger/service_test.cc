// The ledger service on a real SQLite file: durable operations, idempotency keys (from memory
// and from the store), start-up rebuild, the sweeper, a write that fails, concurrency, and a
// random run whose store (the lot_balances view and the entries) agrees with memory throughout.
#include "ledger/service.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <atomic>
#include <boost/json/serialize.hpp>
#include <filesystem>
#include <future>
#include <random>
#include <thread>

#include "core/json.h"
#include "store/sqlite/sqlite_store.h"

namespace warden::ledger {
namespace {
namespace json = boost::json;

constexpr auto kWaitMax = std::chrono::seconds(20);

class LedgerServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "warden-ledger-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto opened = store::SqliteStore::open(dir_ + "/l.db", {.create_if_missing = true});
    ASSERT_TRUE(opened.ok()) << opened.status().to_string();
    store_ = std::move(*opened);
    for (int i = 0; i < 3; ++i) owners_.push_back(add_agent());
    start();
  }
  void TearDown() override {
    stop();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::string add_agent() {
    store::AgentRow a{.id = ids_.next(), .name = "bot", .chain = "ethereum", .network = "mainnet"};
    a.created_at = a.updated_at = clock_.now_seconds();
    EXPECT_TRUE(store_->write([&](store::WriteTxn& tx) { return tx.insert_agent(a); }).ok());
    return a.id;
  }
  void start(LedgerOptions options = {}) {
    options.start_sweeper = false;
    writer_ = std::make_unique<store::BatchWriter>(*store_, store::BatchOptions{});
    ledger_ = std::make_unique<LedgerService>(*store_, *writer_, clock_, ids_, options);
    const Status s = ledger_->start();
    ASSERT_TRUE(s.ok()) << s.to_string();
  }
  void stop() {
    if (ledger_) ledger_->stop();
    if (writer_) writer_->stop();
    ledger_.reset();
    writer_.reset();
  }
  void restart(LedgerOptions options = {}) {
    stop();
    start(options);
  }
  static Result<Answer> wait(std::future<Result<Answer>>& f) {
    if (f.wait_for(kWaitMax) != std::future_status::ready) {
      return Status(ErrorCode::INTERNAL_ERROR, "callback never ran");
    }
    return f.get();
  }
  template <class Fn>
  Result<Answer> call(Fn fn) {
    auto p = std::make_shared<std::promise<Result<Answer>>>();
    auto f = p->get_future();
    fn([p](Result<Answer> r) { p->set_value(std::move(r)); });
    return wait(f);
  }
  Result<Answer> mint(const std::string& owner, std::uint64_t amount, std::string key,
                      std::optional<std::int64_t> expires_at = {},
                      std::optional<std::string> payment_id = {}) {
    return call([&](LedgerService::Done d) {
      ledger_->mint({owner, Amount(amount), "USD", "grant", payment_id, expires_at, key}, {}, d);
    });
  }
  Result<Answer> debit(const std::string& owner, std::uint64_t amount, std::string key) {
    return call([&](LedgerService::Done d) {
      ledger_->debit({owner, Amount(amount), "USD", key}, {}, d);
    });
  }
  Result<Answer> hold(const std::string& owner, std::uint64_t amount, std::string key,
                      std::int64_t ttl = 60) {
    return call([&](LedgerService::Done d) {
      ledger_->hold({owner, Amount(amount), "USD", ttl, key}, {}, d);
    });
  }
  Result<Answer> post(const std::string& id, std::optional<std::uint64_t> amount) {
    return call([&](LedgerService::Done d) {
      std::optional<Amount> a;
      if (amount) a = Amount(*amount);
      ledger_->post(id, a, {}, d);
    });
  }
  Result<Answer> void_hold(const std::string& id) {
    return call([&](LedgerService::Done d) { ledger_->void_hold(id, {}, d); });
  }
  Balance balance(const std::string& owner) {
    return ledger_->book().balance(owner, "USD", clock_.now_seconds());
  }
  // What the store says, through the lot_balances view, per owner: remaining of the lots still
  // spendable at now, and held.
  Balance stored(const std::string& owner) {
    Balance b;
    const std::int64_t now = clock_.now_seconds();
    EXPECT_TRUE(store_
                    ->scan_lot_balances({.owner = owner, .currency = "USD"},
                                        [&](const store::LotBalanceRow& row) {
                                          const Amount rem = Amount::parse(row.remaining).value();
                                          const bool live = row.lot.status == "active" &&
                                                            (!row.lot.expires_at ||
                                                             now < *row.lot.expires_at);
                                          if (live) b.available = *b.available.checked_add(rem);
                                          b.held = *b.held.checked_add(
                                              Amount::parse(row.held).value());
                                          return Status();
                                        })
                    .ok());
    return b;
  }
  void sql(const std::string& statement) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ + "/l.db").c_str(), &db), SQLITE_OK);
    char* error = nullptr;
    const int rc = sqlite3_exec(db, statement.c_str(), nullptr, nullptr, &error);
    EXPECT_EQ(rc, SQLITE_OK) << (error ? error : "");
    sqlite3_free(error);
    sqlite3_close(db);
  }
  std::size_t audit_rows(const std::string& type) {
    auto rows = store_->list_audit({.event_type = type, .limit = 1000});
    return rows.ok() ? rows->size() : 0;
  }

  std::string dir_;
  std::unique_ptr<store::SqliteStore> store_;
  FakeClock clock_;
  IdGenerator ids_{clock_};
  std::unique_ptr<store::BatchWriter> writer_;
  std::unique_ptr<LedgerService> ledger_;
  std::vector<std::string> owners_;
};

TEST_F(LedgerServiceTest, OperationsAreDurableAuditedAndRebuiltAtStart) {
  const std::string o = owners_[0];
  ASSERT_TRUE(mint(o, 1000, "m1").ok());
  ASSERT_TRUE(mint(o, 500, "m2", clock_.now_seconds() + 3600).ok());
  auto d = debit(o, 700, "d1");
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  EXPECT_EQ(d->status, 201);
  EXPECT_EQ(d->body.at("remaining").as_string(), "800");
  // The lot that expires first is spent first.
  EXPECT_EQ(d->body.at("entries").as_array().size(), 2u);
  auto h = hold(o, 300, "h1");
  ASSERT_TRUE(h.ok());
  const std::string hold_id(h->body.at("id").as_string());
  EXPECT_EQ(balance(o).available, Amount(500));
  EXPECT_EQ(balance(o).held, Amount(300));
  restart();
  EXPECT_EQ(balance(o).available, Amount(500));
  EXPECT_EQ(balance(o).held, Amount(300));
  EXPECT_EQ(stored(o).available, Amount(500));
  EXPECT_EQ(stored(o).held, Amount(300));
  auto p = post(hold_id, 120);
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  EXPECT_EQ(p->status, 200);
  EXPECT_EQ(p->body.at("status").as_string(), "posted");
  EXPECT_EQ(balance(o).available, Amount(680));
  EXPECT_EQ(stored(o).available, Amount(680));
  EXPECT_EQ(stored(o).held, Amount(0));
  EXPECT_EQ(audit_rows("LEDGER_MINT"), 2u);
  EXPECT_EQ(audit_rows("LEDGER_DEBIT"), 1u);
  EXPECT_EQ(audit_rows("LEDGER_HOLD"), 1u);
  EXPECT_EQ(audit_rows("LEDGER_POST"), 1u);
  EXPECT_TRUE(store_->verify_audit()->first_broken_id == std::nullopt);
}

// What the op row keeps (and a retry after a restart answers) is the first answer's body as
// canonical JSON, for each kind of operation; the audit row's details are the same text.
TEST_F(LedgerServiceTest, TheOpRowKeepsTheAnswerAsCanonicalJson) {
  const std::string o = owners_[0];
  ASSERT_TRUE(mint(o, 300, "m1", clock_.now_seconds() + 60).ok());
  ASSERT_TRUE(mint(o, 1000, "m2").ok());
  for (const auto& [key, answer] : {std::pair{std::string("d1"), debit(o, 450, "d1")},
                                    std::pair{std::string("h1"), hold(o, 20, "h1")}}) {
    ASSERT_TRUE(answer.ok()) << answer.status().to_string();
    auto row = store_->find_ledger_op(key);
    ASSERT_TRUE(row.ok() && row->has_value()) << key;
    EXPECT_EQ((*row)->result, canonical_json(answer->body)) << key;
  }
  auto audit = store_->list_audit({.event_type = "LEDGER_DEBIT", .limit = 10});
  ASSERT_TRUE(audit.ok() && audit->size() == 1u);
  EXPECT_EQ(audit->front().event.details, (*store_->find_ledger_op("d1"))->result);
}

TEST_F(LedgerServiceTest, AKeyAnswersItsFirstResultFromMemoryAndFromTheStore) {
  const std::string o = owners_[0];
  ASSERT_TRUE(mint(o, 1000, "m1").ok());
  auto first = debit(o, 100, "d1");
  ASSERT_TRUE(first.ok());
  auto again = debit(o, 100, "d1");
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->replay);
  EXPECT_EQ(json::serialize(again->body), json::serialize(first->body));
  EXPECT_EQ(debit(o, 101, "d1").status().code(), ErrorCode::IDEMPOTENCY_KEY_REUSED);
  EXPECT_EQ(balance(o).available, Amount(900));
  // Memory keeps keys for a day; the store keeps them for good.
  restart({.idempotency_memory_seconds = 0});
  auto late = debit(o, 100, "d1");
  ASSERT_TRUE(late.ok()) << late.status().to_string();
  EXPECT_TRUE(late->replay);
  EXPECT_EQ(late->body.at("op_id"), first->body.at("op_id"));
  EXPECT_EQ(debit(o, 5, "d1").status().code(), ErrorCode::IDEMPOTENCY_KEY_REUSED);
  EXPECT_EQ(balance(o).available, Amount(900));
  EXPECT_EQ(stored(o).available, Amount(900));
  // Even when the account could no longer pay it, the retry is the first answer.
  ASSERT_TRUE(debit(o, 900, "d-all").ok());
  restart({.idempotency_memory_seconds = 0});
  auto short_now = debit(o, 100, "d1");
  ASSERT_TRUE(short_now.ok()) << short_now.status().to_string();
  EXPECT_TRUE(short_now->replay);
  EXPECT_EQ(debit(o, 900, "d-all").value().body.at("remaining").as_string(), "0");
  ASSERT_TRUE(mint(o, 900, "m-again").ok());
  // A mint by payment id answers with the payment's lot.
  auto paid = mint(o, 50, "m2", {}, "stripe:pi_1");
  ASSERT_TRUE(paid.ok());
  auto paid_again = mint(o, 50, "m3", {}, "stripe:pi_1");
  ASSERT_TRUE(paid_again.ok());
  EXPECT_EQ(paid_again->body.at("id"), paid->body.at("id"));
  EXPECT_EQ(mint(o, 51, "m4", {}, "stripe:pi_1").status().code(),
            ErrorCode::IDEMPOTENCY_KEY_REUSED);
  EXPECT_EQ(balance(o).available, Amount(950));
}

TEST_F(LedgerServiceTest, MemoryKeepsAtMostKeysMaxAndTheStoreAnswersTheRest) {
  restart({.idempotency_memory_keys_max = 4});
  const std::string o = owners_[0];
  ASSERT_TRUE(mint(o, 1000, "m1").ok());
  std::vector<Answer> first;
  for (int i = 0; i < 10; ++i) {
    auto r = debit(o, 1 + i, "d" + std::to_string(i));
    ASSERT_TRUE(r.ok());
    first.push_back(*r);
  }
  // Every retry is its first answer, from memory (the last four) or from the store.
  for (int i = 0; i < 10; ++i) {
    auto again = debit(o, 1 + i, "d" + std::to_string(i));
    ASSERT_TRUE(again.ok()) << i << " " << again.status().to_string();
    EXPECT_TRUE(again->replay) << i;
    EXPECT_EQ(again->body.at("op_id"), first[i].body.at("op_id")) << i;
    EXPECT_EQ(debit(o, 100 + i, "d" + std::to_string(i)).status().code(),
              ErrorCode::IDEMPOTENCY_KEY_REUSED);
  }
  EXPECT_EQ(balance(o).available, Amount(1000 - 55));
  EXPECT_EQ(stored(o).available, Amount(1000 - 55));
}

TEST_F(LedgerServiceTest, ClosingAHoldIsIdempotentAndOneWayOnly) {
  const std::string o = owners_[0];
  ASSERT_TRUE(mint(o, 100, "m1").ok());
  auto h = hold(o, 60, "h1");
  ASSERT_TRUE(h.ok());
  const std::string id(h->body.at("id").as_string());
  ASSERT_TRUE(post(id, 10).ok());
  auto again = post(id, 10);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->replay);
  auto voided = void_hold(id);
  EXPECT_EQ(voided.status().code(), ErrorCode::LEDGER_HOLD_NOT_PENDING);
  EXPECT_EQ(voided.status().details().at("status").as_string(), "posted");
  EXPECT_EQ(post(id, 11).status().code(), ErrorCode::LEDGER_HOLD_NOT_PENDING);
  restart();
  auto from_store = post(id, 10);
  ASSERT_TRUE(from_store.ok()) << from_store.status().to_string();
  EXPECT_EQ(from_store->body.at("posted_amount").as_string(), "10");
  EXPECT_EQ(void_hold(id).status().code(), ErrorCode::LEDGER_HOLD_NOT_PENDING);
  EXPECT_EQ(void_hold(ids_.next()).status().code(), ErrorCode::LEDGER_HOLD_NOT_FOUND);
  auto h2 = hold(o, 50, "h2");
  ASSERT_TRUE(h2.ok());
  EXPECT_EQ(post(std::string(h2->body.at("id").as_string()), 51).status().code(),
            ErrorCode::LEDGER_AMOUNT_EXCEEDS_HOLD);
  EXPECT_EQ(balance(o).available, Amount(40));
}

TEST_F(LedgerServiceTest, TheSweeperExpiresLotsAndTimesOutHolds) {
  const std::string o = owners_[0];
  const std::int64_t t0 = clock_.now_seconds();
  ASSERT_TRUE(mint(o, 100, "m1", t0 + 100).ok());
  ASSERT_TRUE(mint(o, 100, "m2").ok());
  auto h = hold(o, 150, "h1", 30);  // 100 from the expiring lot, 50 from the other
  ASSERT_TRUE(h.ok());
  clock_.set_ms((t0 + 30) * 1000);
  ledger_->sweep();
  EXPECT_EQ(balance(o).available, Amount(200));
  EXPECT_EQ(balance(o).held, Amount(0));
  EXPECT_EQ(store_->get_hold(std::string(h->body.at("id").as_string()))->value().status, "expired");
  clock_.set_ms((t0 + 100) * 1000);
  ledger_->sweep();
  EXPECT_EQ(balance(o).available, Amount(100));
  EXPECT_EQ(stored(o).available, Amount(100));
  auto lot = store_->list_lots({.owner = o}, {});
  ASSERT_TRUE(lot.ok());
  ASSERT_EQ(lot->size(), 2u);
  EXPECT_EQ((*lot)[0].status, "expired");
  EXPECT_EQ(audit_rows("LEDGER_LOT_EXPIRED"), 1u);
  EXPECT_EQ(audit_rows("LEDGER_HOLD_EXPIRED"), 1u);
  restart();
  EXPECT_EQ(balance(o).available, Amount(100));
}

// Leadership decided by the test, as a lock held or lost by another replica would.
class SwitchedLeadership : public store::Leadership {
 public:
  bool leading() const override { return leading_.load(); }
  void set(bool leading) { leading_.store(leading); }

 private:
  std::atomic<bool> leading_{false};
};

TEST_F(LedgerServiceTest, TheSweeperActsOnlyWhileThisReplicaLeads) {
  SwitchedLeadership leadership;
  restart({.leadership = &leadership});
  const std::string o = owners_[0];
  const std::int64_t t0 = clock_.now_seconds();
  ASSERT_TRUE(mint(o, 100, "m1", t0 + 100).ok());
  ASSERT_TRUE(mint(o, 100, "m2").ok());
  auto h = hold(o, 150, "h1", 30);
  ASSERT_TRUE(h.ok());
  const std::string hold_id(h->body.at("id").as_string());
  clock_.set_ms((t0 + 200) * 1000);
  ledger_->sweep();
  ledger_->sweep();
  EXPECT_EQ(balance(o).available, Amount(50));
  EXPECT_EQ(balance(o).held, Amount(150));
  EXPECT_EQ(store_->get_hold(hold_id)->value().status, "pending");
  EXPECT_EQ(audit_rows("LEDGER_LOT_EXPIRED"), 0u);
  EXPECT_EQ(audit_rows("LEDGER_HOLD_EXPIRED"), 0u);
  leadership.set(true);
  ledger_->sweep();
  EXPECT_EQ(store_->get_hold(hold_id)->value().status, "expired");
  EXPECT_EQ(balance(o).held, Amount(0));
  EXPECT_EQ(balance(o).available, Amount(100));
  EXPECT_EQ(stored(o).available, Amount(100));
  EXPECT_EQ(audit_rows("LEDGER_LOT_EXPIRED"), 1u);
  EXPECT_EQ(audit_rows("LEDGER_HOLD_EXPIRED"), 1u);
  ledger_->sweep();  // nothing left to do: no second release
  EXPECT_EQ(audit_rows("LEDGER_LOT_EXPIRED"), 1u);
  EXPECT_EQ(audit_rows("LEDGER_HOLD_EXPIRED"), 1u);
  EXPECT_EQ(stored(o).available, Amount(100));
}

TEST_F(LedgerServiceTest, AWriteThatFailsIsUndoneInMemory) {
  const std::string o = owners_[0];
  ASSERT_TRUE(mint(o, 100, "m1").ok());
  sql("CREATE TRIGGER no_entries BEFORE INSERT ON lot_entries BEGIN "
      "SELECT RAISE(ABORT, 'disk says no'); END");
  EXPECT_FALSE(debit(o, 40, "d1").ok());
  EXPECT_FALSE(hold(o, 40, "h1").ok());
  EXPECT_EQ(balance(o).available, Amount(100));
  EXPECT_EQ(balance(o).held, Amount(0));
  sql("DROP TRIGGER no_entries");
  // The key is free again: the retry is a first attempt.
  auto retry = debit(o, 40, "d1");
  ASSERT_TRUE(retry.ok()) << retry.status().to_string();
  EXPECT_FALSE(retry->replay);
  EXPECT_EQ(balance(o).available, Amount(60));
}

TEST_F(LedgerServiceTest, BadInputIsRefusedWithAStableCodeAndNothingWritten) {
  const std::string o = owners_[0];
  ASSERT_TRUE(mint(o, 100, "m1").ok());
  struct Case {
    MintRequest req;
    ErrorCode code;
  };
  const std::int64_t now = clock_.now_seconds();
  const std::vector<Case> cases = {
      {{o, Amount(0), "USD", "grant", {}, {}, "k1"}, ErrorCode::VALIDATION_INVALID_AMOUNT},
      {{o, Amount(1), "usd", "grant", {}, {}, "k2"}, ErrorCode::LEDGER_CURRENCY_UNKNOWN},
      {{o, Amount(1), "USD", "gift", {}, {}, "k3"}, ErrorCode::VALIDATION_INVALID_VALUE},
      {{ids_.next(), Amount(1), "USD", "grant", {}, {}, "k4"}, ErrorCode::LEDGER_OWNER_UNKNOWN},
      {{o, Amount(1), "USD", "grant", {}, now, "k5"}, ErrorCode::VALIDATION_INVALID_VALUE},
      {{o, Amount(1), "USD", "grant", {}, {}, ""}, ErrorCode::VALIDATION_INVALID_VALUE},
      {{o, Amount(1), "USD", "grant", {}, {}, std::string(129, 'k')},
       ErrorCode::VALIDATION_INVALID_VALUE},
  };
  for (const auto& c : cases) {
    auto r = call([&](LedgerService::Done d) { ledger_->mint(c.req, {}, d); });
    EXPECT_EQ(r.status().code(), c.code) << c.req.idempotency_key;
  }
  EXPECT_EQ(debit(o, 0, "k6").status().code(), ErrorCode::VALIDATION_INVALID_AMOUNT);
  auto short_by = debit(o, 101, "k7");
  EXPECT_EQ(short_by.status().code(), ErrorCode::LEDGER_BUDGET_EXCEEDED);
  EXPECT_EQ(short_by.status().details().at("shortfall").as_string(), "1");
  EXPECT_EQ(hold(o, 5, "k8", 0).status().code(), ErrorCode::VALIDATION_INVALID_VALUE);
  EXPECT_EQ(balance(o).available, Amount(100));
  auto entries = store_->list_lot_entries({.owner = o});
  ASSERT_TRUE(entries.ok());
  EXPECT_EQ(entries->size(), 1u);  // the mint's credit only
}

TEST_F(LedgerServiceTest, ThirtyTwoThreadsSpendExactlyWhatThereIs) {
  const std::string o = owners_[0];
  constexpr int kN = 100;
  ASSERT_TRUE(mint(o, 3 * kN, "m1").ok());
  std::atomic<int> ok{0}, short_of{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 32; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        auto r = (i % 2 == 0) ? debit(o, 3, "d" + std::to_string(t) + "-" + std::to_string(i))
                              : hold(o, 3, "h" + std::to_string(t) + "-" + std::to_string(i));
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
  EXPECT_EQ(ok.load(), kN);
  EXPECT_EQ(short_of.load(), 320 - kN);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(balance(o).available, Amount(0));
  EXPECT_EQ(stored(o).available, Amount(0));
  restart();
  EXPECT_EQ(balance(o).available, Amount(0));
}

// Random operations; after each, memory and the store agree for every owner, and a restart
// rebuilds the same book.
TEST_F(LedgerServiceTest, ARandomRunKeepsTheStoreAndMemoryEqual) {
  std::mt19937 rng(7);
  std::vector<std::string> holds;
  int key = 0;
  for (int step = 0; step < 400; ++step) {
    const std::string& o = owners_[rng() % owners_.size()];
    const std::string k = "k" + std::to_string(key++);
    switch (rng() % 6) {
      case 0: {
        std::optional<std::int64_t> exp;
        if (rng() % 2) exp = clock_.now_seconds() + 1 + rng() % 300;
        ASSERT_TRUE(mint(o, 1 + rng() % 200, k, exp).ok());
        break;
      }
      case 1:
      case 2: (void)debit(o, 1 + rng() % 100, k); break;
      case 3:
        if (auto h = hold(o, 1 + rng() % 100, k, 1 + rng() % 200); h.ok()) {
          holds.emplace_back(h->body.at("id").as_string());
        }
        break;
      case 4:
        if (!holds.empty()) {
          const std::string id = holds[rng() % holds.size()];
          if (rng() % 2) {
            (void)post(id, rng() % 20);
          } else {
            (void)void_hold(id);
          }
        }
        break;
      case 5:
        clock_.advance_ms(1000 * (1 + rng() % 30));
        ledger_->sweep();
        break;
    }
    for (const auto& owner : owners_) {
      const Balance mem = balance(owner);
      const Balance db = stored(owner);
      ASSERT_EQ(mem.available, db.available) << "step " << step;
      ASSERT_EQ(mem.held, db.held) << "step " << step;
    }
  }
  std::map<std::string, std::pair<Amount, Amount>> before;
  for (const auto& owner : owners_) before[owner] = {balance(owner).available, balance(owner).held};
  restart();
  for (const auto& owner : owners_) {
    EXPECT_EQ(balance(owner).available, before[owner].first);
    EXPECT_EQ(balance(owner).held, before[owner].second);
  }
}

}  // namespace
}  // namespace warden::ledger
