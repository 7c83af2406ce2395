// The limits replicas share (docs/cluster.md, "Exact limits across replicas"), against the server
// the postgres_server fixture starts: windows reserved from several connections at once never
// pass their max, a window moves on, releases give back, and two transactions cannot both spend
// the last credit of a lot. Each case has its own database.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "store/postgres/migrate.h"
#include "store/postgres/pg.h"
#include "store/postgres/queries.h"
#include "test_env.h"

namespace warden::store::postgres {
namespace {

std::unique_ptr<Connection> connect_as(const std::string& role, std::string_view db) {
  auto c = Connection::connect(test_config(role, db));
  EXPECT_TRUE(c.ok()) << c.status().to_string();
  if (!c.ok()) return nullptr;
  if (role == "app") {
    EXPECT_TRUE(act_for_all_orgs(**c).ok());
  }
  return std::move(*c);
}

// Migrates the database as the owner, then connects as the application role.
std::unique_ptr<Connection> migrated_app(std::string_view db) {
  auto owner = connect_as("owner", db);
  if (!owner) return nullptr;
  auto applied = migrate(*owner);
  EXPECT_TRUE(applied.ok()) << applied.status().to_string();
  return connect_as("app", db);
}

std::string scalar(Connection& c, const std::string& sql) {
  auto r = c.exec(sql);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() && r->size() > 0 ? r->text(0, 0) : "";
}

WindowReservation window(std::int64_t bucket, std::int64_t first, std::string amount,
                         std::string max) {
  return {"agent-1", "p1/USD/1h", bucket, first, std::move(amount), std::move(max)};
}

// One reservation in a transaction of its own: what it answered.
bool reserve_alone(Connection& c, const WindowReservation& w) {
  bool room = false;
  Status s = in_transaction(c, [&](Connection& t) -> Status {
    WARDEN_ASSIGN_OR_RETURN(room, reserve_window(t, w));
    return Status();
  });
  EXPECT_TRUE(s.ok()) << s.to_string();
  return room;
}

TEST(SharedLimitsTest, ConcurrentReservationsNeverPassTheMax) {
  auto app = migrated_app("t_limits_race");
  ASSERT_NE(app, nullptr);
  constexpr int kThreads = 8;
  constexpr int kTriesEach = 10;
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      auto c = connect_as("app", "t_limits_race");
      if (!c) return;
      for (int n = 0; n < kTriesEach; ++n) {
        // Every replica's clock in the same second; buckets differ per thread.
        if (reserve_alone(*c, window(1000 + i, 0, "3", "100"))) admitted.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  // 80 tries of 3 against a max of 100: exactly 33 fit.
  EXPECT_EQ(admitted.load(), 33);
  EXPECT_EQ(scalar(*app, "SELECT total FROM window_totals"), "99");
  EXPECT_EQ(scalar(*app, "SELECT sum(amount) FROM window_buckets"), "99");
}

TEST(SharedLimitsTest, TheWindowMovesOnAndReleasesGiveBack) {
  auto app = migrated_app("t_limits_window");
  ASSERT_NE(app, nullptr);
  EXPECT_TRUE(reserve_alone(*app, window(1000, 0, "5", "5")));
  EXPECT_FALSE(reserve_alone(*app, window(2000, 0, "1", "5")));
  // A refusal writes nothing.
  EXPECT_EQ(scalar(*app, "SELECT count(*) FROM window_buckets"), "1");
  // Released: the bucket gives its 5 back.
  ASSERT_TRUE(in_transaction(*app, [](Connection& t) {
                return adjust_window(t, "agent-1", "p1/USD/1h", 1000, "5", true);
              }).ok());
  EXPECT_EQ(scalar(*app, "SELECT total FROM window_totals"), "0");
  EXPECT_TRUE(reserve_alone(*app, window(2000, 0, "4", "5")));
  // A settlement above the reservation counts past the max.
  ASSERT_TRUE(in_transaction(*app, [](Connection& t) {
                return adjust_window(t, "agent-1", "p1/USD/1h", 2000, "3", false);
              }).ok());
  EXPECT_EQ(scalar(*app, "SELECT total FROM window_totals"), "7");
  EXPECT_FALSE(reserve_alone(*app, window(2500, 0, "1", "5")));
  // The window starts after bucket 2000: its 7 leave, and the dropped bucket is deleted.
  EXPECT_TRUE(reserve_alone(*app, window(3000, 2001, "5", "5")));
  EXPECT_EQ(scalar(*app, "SELECT total FROM window_totals"), "5");
  EXPECT_EQ(scalar(*app, "SELECT string_agg(bucket_ms::text, ',') FROM window_buckets"), "3000");
  // A release of a bucket that left the window changes nothing.
  ASSERT_TRUE(in_transaction(*app, [](Connection& t) {
                return adjust_window(t, "agent-1", "p1/USD/1h", 2000, "7", true);
              }).ok());
  EXPECT_EQ(scalar(*app, "SELECT total FROM window_totals"), "5");
  // 256-bit amounts.
  const std::string max256 =
      "115792089237316195423570985008687907853269984665640564039457584007913129639935";
  WindowReservation big{"agent-2", "p2/native/1d", 10, 0, max256, max256};
  EXPECT_TRUE(reserve_alone(*app, big));
  big.amount = "1";
  EXPECT_FALSE(reserve_alone(*app, big));
}

// A lot with a credit of 10, and what the app role needs to write entries on it.
void seed_lot(Connection& app) {
  ASSERT_TRUE(app.exec_script(
                     "INSERT INTO agents (id, name, chain, network, status, created_at, updated_at) "
                     "VALUES ('agent-1', 'a', 'ethereum', 'mainnet', 'ACTIVE', 0, 0);"
                     "INSERT INTO ledger_ops (id, kind, request_hash, result, created_at) "
                     "VALUES ('op-credit', 'mint', 'h', '{}', 0);"
                     "INSERT INTO credit_lots (id, owner, source, amount, currency, created_at) "
                     "VALUES ('lot-1', 'agent-1', 'grant', 10, 'USD', 0);"
                     "INSERT INTO lot_entries (lot_id, owner, currency, entry_type, amount, op_id, "
                     "created_at) VALUES ('lot-1', 'agent-1', 'USD', 'credit', 10, 'op-credit', 0)")
                  .ok());
}

// Debits `amount` from lot-1 and checks the credit, in one transaction: whether it committed.
bool debit(Connection& c, const std::string& op, const std::string& amount) {
  bool within = false;
  Status s = in_transaction(c, [&](Connection& t) -> Status {
    WARDEN_RETURN_IF_ERROR(
        t.exec("INSERT INTO ledger_ops (id, kind, request_hash, result, created_at) "
               "VALUES ($1, 'debit', 'h', '{}', 0)",
               {op})
            .status());
    WARDEN_RETURN_IF_ERROR(
        t.exec("INSERT INTO lot_entries (lot_id, owner, currency, entry_type, amount, op_id, "
               "created_at) VALUES ('lot-1', 'agent-1', 'USD', 'debit', $1, $2, 0)",
               {amount, op})
            .status());
    WARDEN_ASSIGN_OR_RETURN(within, lots_within_credit(t, {"lot-1"}));
    return within ? Status() : Status(ErrorCode::LEDGER_BUDGET_EXCEEDED, "no credit");
  });
  return s.ok() && within;
}

TEST(SharedLimitsTest, TwoTransactionsCannotBothSpendTheLastCredit) {
  auto app = migrated_app("t_limits_lots");
  ASSERT_NE(app, nullptr);
  seed_lot(*app);
  constexpr int kThreads = 6;
  std::atomic<int> committed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      auto c = connect_as("app", "t_limits_lots");
      if (c && debit(*c, "op-debit-" + std::to_string(i), "4")) committed.fetch_add(1);
    });
  }
  for (auto& t : threads) t.join();
  // 10 of credit, debits of 4: two fit, whatever the interleaving.
  EXPECT_EQ(committed.load(), 2);
  EXPECT_EQ(scalar(*app, "SELECT remaining FROM lot_balances WHERE id = 'lot-1'"), "2");
  EXPECT_TRUE(debit(*app, "op-last", "2"));
  EXPECT_FALSE(debit(*app, "op-over", "1"));
}

}  // namespace
}  // namespace warden::store::postgres
