// The PostgreSQL schema, roles and client layer against the server the postgres_server fixture
// starts (tests/postgres/server.sh). Each test case has its own database, so the cases may run
// in parallel and in any order.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/postgres/migrate.h"
#include "store/postgres/pg.h"
#include "store/sqlite/sqlite_store.h"
#include "store/sqlite/test_util.h"
#include "test_env.h"

namespace warden::store::postgres {
namespace {

constexpr std::string_view kAmountMax =
    "115792089237316195423570985008687907853269984665640564039457584007913129639935";
constexpr std::string_view kAmountMaxPlusOne =
    "115792089237316195423570985008687907853269984665640564039457584007913129639936";

enum class Role { kOwner, kApp };

ConnectionConfig config(Role role, std::string_view database) {
  return test_config(role == Role::kOwner ? "owner" : "app", database);
}

std::unique_ptr<Connection> connect(Role role, std::string_view database) {
  auto conn = Connection::connect(config(role, database));
  EXPECT_TRUE(conn.ok()) << conn.status().to_string();
  if (!conn.ok()) return nullptr;
  if (role == Role::kApp) {
    EXPECT_TRUE(act_for_all_orgs(**conn).ok());
  }
  return std::move(conn).value();
}

std::string scalar(Connection& c, std::string_view sql, const std::vector<Param>& params = {}) {
  auto rows = c.exec(sql, params);
  EXPECT_TRUE(rows.ok()) << sql << ": " << rows.status().to_string();
  if (!rows.ok() || rows->size() == 0) return "<none>";
  return rows->text(0, 0);
}

class PostgresTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (server_env().empty()) {
      GTEST_FAIL() << "WARDEN_PG_TEST_ENV names no server file: run through ctest, whose "
                      "postgres_server fixture starts the server";
    }
  }
};

TEST_F(PostgresTest, MigrateTwiceIsANoOp) {
  auto owner = connect(Role::kOwner, "t_migrate_twice");
  ASSERT_NE(owner, nullptr);
  Result<int> before = applied_schema_version(*owner);
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(*before, 0);
  // The application role cannot migrate: it may create nothing.
  auto app = connect(Role::kApp, "t_migrate_twice");
  ASSERT_NE(app, nullptr);
  Result<int> refused = migrate(*app);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("permission denied"), std::string::npos)
      << refused.status().message();

  Result<int> first = migrate(*owner);
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  EXPECT_EQ(*first, latest_schema_version());
  // Every migration, numbered 1, 2, ... with no gap, each applied once.
  const int latest = latest_schema_version();
  ASSERT_EQ(static_cast<int>(migrations().size()), latest);
  std::string all;
  for (int v = 1; v <= latest; ++v) all += (v == 1 ? "" : ",") + std::to_string(v);

  Result<int> second = migrate(*owner);
  ASSERT_TRUE(second.ok()) << second.status().to_string();
  EXPECT_EQ(*second, 0);
  EXPECT_EQ(scalar(*owner, "SELECT count(*) FROM schema_version"), std::to_string(latest));
  EXPECT_EQ(scalar(*owner,
                   "SELECT string_agg(version::text, ',' ORDER BY version) FROM "
                   "schema_version"),
            all);
  EXPECT_EQ(scalar(*owner, "SELECT name FROM schema_version WHERE version = 5"),
            std::string(migrations()[4].name));

  // A schema from a newer binary is refused, not downgraded.
  const std::string future = std::to_string(latest + 1);
  ASSERT_TRUE(owner->exec("INSERT INTO schema_version VALUES (" + future + ", 'future', 0)").ok());
  Result<int> too_new = migrate(*owner);
  ASSERT_FALSE(too_new.ok());
  EXPECT_EQ(too_new.status().code(), ErrorCode::STORE_SCHEMA_TOO_NEW);
  ASSERT_TRUE(owner->exec("DELETE FROM schema_version WHERE version = " + future).ok());
  EXPECT_EQ(*applied_schema_version(*owner), latest);
}

TEST_F(PostgresTest, ConcurrentMigrationsApplyExactlyOnce) {
  constexpr int kReplicas = 4;
  std::vector<std::unique_ptr<Connection>> conns;
  for (int i = 0; i < kReplicas; ++i) {
    conns.push_back(connect(Role::kOwner, "t_migrate_race"));
    ASSERT_NE(conns.back(), nullptr);
  }
  std::atomic<int> ready{0};
  std::vector<Result<int>> results(kReplicas, Result<int>(ErrorCode::INTERNAL_ERROR, "not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < kReplicas; ++i) {
    threads.emplace_back([&, i] {
      ready.fetch_add(1);
      while (ready.load() < kReplicas) std::this_thread::yield();
      results[i] = migrate(*conns[i]);
    });
  }
  for (auto& t : threads) t.join();
  int total = 0;
  int appliers = 0;
  for (auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    total += *r;
    if (*r > 0) ++appliers;
  }
  EXPECT_EQ(appliers, 1);
  EXPECT_EQ(total, latest_schema_version());
  EXPECT_EQ(scalar(*conns[0], "SELECT count(*) FROM schema_version"),
            std::to_string(latest_schema_version()));
  EXPECT_EQ(scalar(*conns[0], "SELECT count(*) FROM pg_tables WHERE tablename = 'audit_log'"), "1");
}

using Columns = std::map<std::string, std::set<std::string>>;

// Fails when a SQLite migration adds a table, view, column or trigger without its PostgreSQL
// twin (or the other way round).
TEST_F(PostgresTest, SchemaHasTheSameTablesAndColumnsAsSqlite) {
  EXPECT_EQ(latest_schema_version(), store::latest_schema_version())
      << "every SQLite migration needs its twin in src/store/postgres/migrate.cc";

  store::testing::TempDir tmp;
  const std::string path = tmp.file("warden.db");
  ASSERT_NE(store::testing::open_store(path), nullptr);
  store::testing::RawDb raw(path);
  Columns lite;
  std::set<std::string> lite_views;
  for (const std::string& table : raw.column(
           "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")) {
    for (const std::string& col :
         raw.column("SELECT name FROM pragma_table_info('" + table + "')")) {
      lite[table].insert(col);
    }
  }
  for (const std::string& v : raw.column("SELECT name FROM sqlite_master WHERE type = 'view'")) {
    lite_views.insert(v);
  }
  std::set<std::string> lite_triggers;
  for (const std::string& t : raw.column("SELECT name FROM sqlite_master WHERE type = 'trigger'")) {
    lite_triggers.insert(t);
  }
  ASSERT_GE(lite.size(), 20u);

  auto owner = connect(Role::kOwner, "t_schema_parity");
  ASSERT_NE(owner, nullptr);
  ASSERT_TRUE(migrate(*owner).status().ok()) << migrate(*owner).status().to_string();
  Columns pg;
  auto cols = owner->exec(
      "SELECT c.table_name, c.column_name FROM information_schema.columns c "
      "JOIN information_schema.tables t USING (table_schema, table_name) "
      "WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'");
  ASSERT_TRUE(cols.ok()) << cols.status().to_string();
  for (int i = 0; i < cols->size(); ++i) pg[cols->text(i, 0)].insert(cols->text(i, 1));
  // The cluster-only objects (shared window counts) have no SQLite twin, on purpose.
  EXPECT_EQ(pg["window_totals"],
            (std::set<std::string>{"agent_id", "meter", "first_bucket_ms", "total"}));
  EXPECT_EQ(pg["window_buckets"],
            (std::set<std::string>{"agent_id", "meter", "bucket_ms", "amount"}));
  pg.erase("window_totals");
  pg.erase("window_buckets");
  std::set<std::string> pg_views;
  auto views =
      owner->exec("SELECT table_name FROM information_schema.views WHERE table_schema = 'public'");
  ASSERT_TRUE(views.ok());
  for (int i = 0; i < views->size(); ++i) pg_views.insert(views->text(i, 0));
  std::set<std::string> pg_triggers;
  auto triggers = owner->exec("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal");
  ASSERT_TRUE(triggers.ok());
  for (int i = 0; i < triggers->size(); ++i) pg_triggers.insert(triggers->text(i, 0));

  // SQLite's integer keys for agents and sessions and its derived prev_hash (SQLite migration 11)
  // have no PostgreSQL twin, on purpose: they only make SQLite's decision rows smaller.
  EXPECT_EQ(lite["id_keys"], (std::set<std::string>{"key", "id"}));
  lite.erase("id_keys");
  EXPECT_EQ(lite["agents"].erase("id_key"), 1u);
  EXPECT_EQ(lite["sessions"].erase("id_key"), 1u);
  for (const char* sqlite_only : {"agents_id_key", "sessions_id_key", "audit_log_keep_prev_hash"}) {
    EXPECT_EQ(lite_triggers.erase(sqlite_only), 1u) << sqlite_only;
  }
  EXPECT_EQ(pg, lite);
  EXPECT_EQ(pg_views, lite_views);
  EXPECT_EQ(lite_views, (std::set<std::string>{"lot_balances"}));
  // The view's columns (SQLite cannot list them without the store's SQL functions).
  auto view_cols = owner->exec(
      "SELECT string_agg(column_name::text, ',' ORDER BY ordinal_position) "
      "FROM information_schema.columns WHERE table_name = 'lot_balances'");
  ASSERT_TRUE(view_cols.ok());
  EXPECT_EQ(view_cols->text(0, 0),
            "id,owner,source,amount,currency,expires_at,status,payment_id,created_at,remaining,"
            "held");
  // Every SQLite trigger has its twin; PostgreSQL adds audit_log's two.
  for (const std::string& t : lite_triggers) EXPECT_TRUE(pg_triggers.count(t)) << t;
  EXPECT_EQ(pg_triggers.size(), lite_triggers.size() + 2);
  EXPECT_TRUE(pg_triggers.count("audit_log_no_update"));
}

// Rows the app-role test needs, inserted by the owner.
void seed_ledger(Connection& owner) {
  ASSERT_TRUE(
      owner
          .exec_script("INSERT INTO agents (id, name, chain, network, created_at, updated_at) "
                       "VALUES ('a1', 'one', 'solana', 'devnet', 1, 1) ON CONFLICT DO NOTHING;"
                       "INSERT INTO ledger_ops (id, kind, request_hash, result, created_at) "
                       "VALUES ('op1', 'mint', 'h', '{}', 1) ON CONFLICT DO NOTHING;"
                       "INSERT INTO credit_lots (id, owner, source, amount, currency, created_at) "
                       "VALUES ('lot1', 'a1', 'grant', 100, 'USD', 1) ON CONFLICT DO NOTHING;")
          .ok());
}

TEST_F(PostgresTest, AppRoleAppendsButCannotRewriteOrCreate) {
  auto owner = connect(Role::kOwner, "t_app_role");
  ASSERT_NE(owner, nullptr);
  ASSERT_TRUE(migrate(*owner).status().ok()) << migrate(*owner).status().to_string();
  seed_ledger(*owner);
  auto app = connect(Role::kApp, "t_app_role");
  ASSERT_NE(app, nullptr);
  EXPECT_EQ(scalar(*app, "SELECT current_user"), "warden");

  // audit_log: INSERT yes; UPDATE, DELETE no (no grant).
  auto ins = app->exec(
      "INSERT INTO audit_log (id, timestamp, event_type, actor, details, prev_hash, hash) "
      "VALUES ($1, 1, 'TEST', 'system', '{}', 'p', 'h')",
      {"1"});
  ASSERT_TRUE(ins.ok()) << ins.status().to_string();
  EXPECT_EQ(ins->affected(), 1);
  auto upd = app->exec("UPDATE audit_log SET actor = 'intruder' WHERE id = 1");
  ASSERT_FALSE(upd.ok());
  EXPECT_NE(upd.status().message().find("permission denied"), std::string::npos)
      << upd.status().message();
  auto del = app->exec("DELETE FROM audit_log WHERE id = 1");
  ASSERT_FALSE(del.ok());
  EXPECT_NE(del.status().message().find("permission denied"), std::string::npos);
  // The owner is stopped by the trigger.
  auto owner_upd = owner->exec("UPDATE audit_log SET actor = 'intruder' WHERE id = 1");
  ASSERT_FALSE(owner_upd.ok());
  EXPECT_EQ(owner_upd.status().code(), ErrorCode::STORE_CONSTRAINT);
  EXPECT_NE(owner_upd.status().message().find("audit_log is append-only"), std::string::npos);
  EXPECT_EQ(scalar(*app, "SELECT actor FROM audit_log WHERE id = 1"), "system");

  // lot_entries: INSERT (identity id) yes; UPDATE, DELETE no.
  auto entry = app->exec(
      "INSERT INTO lot_entries (lot_id, owner, currency, entry_type, amount, op_id, created_at) "
      "VALUES ('lot1', 'a1', 'USD', 'credit', 100, 'op1', 1) RETURNING id");
  ASSERT_TRUE(entry.ok()) << entry.status().to_string();
  ASSERT_TRUE(app->exec("INSERT INTO lot_entries (lot_id, owner, currency, entry_type, amount, "
                        "op_id, created_at) VALUES ('lot1', 'a1', 'USD', 'debit', 30, 'op1', 2)")
                  .ok());
  EXPECT_FALSE(app->exec("UPDATE lot_entries SET amount = 1").ok());
  EXPECT_FALSE(app->exec("DELETE FROM lot_entries").ok());
  auto owner_del = owner->exec("DELETE FROM lot_entries");
  ASSERT_FALSE(owner_del.ok());
  EXPECT_NE(owner_del.status().message().find("lot_entries is append-only"), std::string::npos);
  EXPECT_EQ(scalar(*app, "SELECT count(*) FROM lot_entries"), "2");
  // The view and its aggregates work for the app role.
  EXPECT_EQ(scalar(*app, "SELECT remaining || '/' || held FROM lot_balances WHERE id = 'lot1'"),
            "70/0");

  // credit_lots: the granted UPDATE works where the trigger allows it, not elsewhere.
  EXPECT_FALSE(app->exec("UPDATE credit_lots SET amount = 5 WHERE id = 'lot1'").ok());
  auto status = app->exec("UPDATE credit_lots SET status = 'depleted' WHERE id = 'lot1'");
  ASSERT_TRUE(status.ok()) << status.status().to_string();
  EXPECT_EQ(status->affected(), 1);
  EXPECT_FALSE(app->exec("DELETE FROM credit_lots").ok());

  // No DDL, no writes to schema_version.
  auto create = app->exec("CREATE TABLE sneaky (x INTEGER)");
  ASSERT_FALSE(create.ok());
  EXPECT_NE(create.status().message().find("permission denied"), std::string::npos);
  EXPECT_FALSE(app->exec("INSERT INTO schema_version VALUES (99, 'x', 0)").ok());
  EXPECT_FALSE(app->exec("DROP TABLE audit_log").ok());
}

TEST_F(PostgresTest, AmountsUpTo2To256Minus1RoundTripExactly) {
  auto owner = connect(Role::kOwner, "t_amounts");
  ASSERT_NE(owner, nullptr);
  ASSERT_TRUE(migrate(*owner).status().ok()) << migrate(*owner).status().to_string();
  auto app = connect(Role::kApp, "t_amounts");
  ASSERT_NE(app, nullptr);
  const std::vector<std::string> amounts = {"0", "1", "18446744073709551616",
                                            "340282366920938463463374607431768211457",
                                            std::string(kAmountMax)};
  const std::string insert =
      "INSERT INTO usage_events (id, agent_id, provider, model, prompt_tokens, "
      "completion_tokens, cost, currency, created_at) VALUES ($1, 'a', 'p', 'm', 1, 1, $2, "
      "'USD', 1)";
  for (std::size_t i = 0; i < amounts.size(); ++i) {
    auto r = app->exec_prepared(insert, {"u" + std::to_string(i), amounts[i]});
    ASSERT_TRUE(r.ok()) << amounts[i] << ": " << r.status().to_string();
  }
  EXPECT_EQ(app->prepared_count(), 1u);
  for (std::size_t i = 0; i < amounts.size(); ++i) {
    EXPECT_EQ(
        scalar(*app, "SELECT cost FROM usage_events WHERE id = $1", {"u" + std::to_string(i)}),
        amounts[i]);
  }
  auto over = app->exec(insert, {"u-over", std::string(kAmountMaxPlusOne)});
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), ErrorCode::STORE_CONSTRAINT);
  EXPECT_FALSE(app->exec(insert, {"u-neg", "-1"}).ok());
  // Refused, not rounded; "1.0" is not canonical either.
  EXPECT_FALSE(app->exec(insert, {"u-frac", "1.5"}).ok());
  EXPECT_FALSE(app->exec(insert, {"u-scale", "1.0"}).ok());

  // amount_sum: exact, past 2^64, and refused past 2^256 - 1.
  EXPECT_EQ(scalar(*app, "SELECT amount_sum(cost) FROM usage_events WHERE id IN ('u1', 'u2')"),
            "18446744073709551617");
  EXPECT_EQ(scalar(*app, "SELECT amount_sum(cost) FROM usage_events WHERE id = 'none'"), "0");
  auto too_big = app->exec("SELECT amount_sum(cost) FROM usage_events");
  ASSERT_FALSE(too_big.ok());
  EXPECT_NE(too_big.status().message().find("sum past 2^256 - 1"), std::string::npos);
}

TEST_F(PostgresTest, PoolBoundsConnectionsAndTransactionsRollBack) {
  auto owner = connect(Role::kOwner, "t_pool");
  ASSERT_NE(owner, nullptr);
  ASSERT_TRUE(migrate(*owner).status().ok()) << migrate(*owner).status().to_string();

  // The session setting every pooled connection gets when opened: the tenant context.
  Pool pool(config(Role::kApp, "t_pool"), 2, "SET app.org_id = '*'");
  {
    auto a = pool.acquire();
    auto b = pool.acquire();
    ASSERT_TRUE(a.ok() && b.ok());
    auto c = pool.acquire(std::chrono::milliseconds(100));
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.status().code(), ErrorCode::INTERNAL_NOT_READY);
  }
  EXPECT_EQ(pool.open_connections(), 2u);

  constexpr int kThreads = 6;
  constexpr int kWritesPerThread = 25;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kWritesPerThread; ++i) {
        auto lease = pool.acquire();
        if (!lease.ok()) {
          failures.fetch_add(1);
          continue;
        }
        auto r = (*lease)->exec_prepared(
            "INSERT INTO key_value_store (key, value, updated_at) VALUES ($1, $2, 1)",
            {fmt::format("k{}-{}", t, i), std::to_string(i)});
        if (!r.ok()) failures.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_LE(pool.open_connections(), 2u);
  EXPECT_EQ(scalar(*owner, "SELECT count(*) FROM key_value_store"),
            std::to_string(kThreads * kWritesPerThread));

  auto lease = pool.acquire();
  ASSERT_TRUE(lease.ok());
  Status failed = in_transaction(**lease, [](Connection& c) -> Status {
    WARDEN_RETURN_IF_ERROR(c.exec("INSERT INTO key_value_store VALUES ('tx', 'a', 1)").status());
    return c.exec("INSERT INTO key_value_store VALUES ('tx', 'dup', 1)").status();
  });
  EXPECT_EQ(failed.code(), ErrorCode::STORE_CONSTRAINT);
  EXPECT_EQ(scalar(**lease, "SELECT count(*) FROM key_value_store WHERE key = 'tx'"), "0");
  // A body that swallows an error still cannot commit.
  Status swallowed = in_transaction(**lease, [](Connection& c) -> Status {
    (void)c.exec("INSERT INTO key_value_store VALUES ('k0-0', 'dup', 1)");
    return Status();
  });
  EXPECT_FALSE(swallowed.ok());
  Status committed = in_transaction(**lease, [](Connection& c) -> Status {
    return c.exec("INSERT INTO key_value_store VALUES ('tx', 'b', 1)").status();
  });
  EXPECT_TRUE(committed.ok()) << committed.to_string();
  EXPECT_EQ(scalar(*owner, "SELECT value FROM key_value_store WHERE key = 'tx'"), "b");

  // A connection whose session setting fails is closed and its slot freed: the next acquire()
  // tries a new one rather than waiting for a slot nobody holds.
  Pool broken(config(Role::kApp, "t_pool"), 1, "SELECT no_such_function()");
  for (int i = 0; i < 2; ++i) {
    auto l = broken.acquire(std::chrono::milliseconds(100));
    ASSERT_FALSE(l.ok());
    EXPECT_NE(l.status().message().find("no_such_function"), std::string::npos)
        << l.status().message();
  }
  EXPECT_EQ(broken.open_connections(), 0u);
}

TEST_F(PostgresTest, PasswordComesFromEnvOrFileAndIsNeverInMessages) {
  auto env = server_env();
  const std::string file = env["app_password_file"];
  ::setenv("WARDEN_TEST_PG_PASSWORD", "from-env", 1);
  auto from_env = read_password("WARDEN_TEST_PG_PASSWORD", file);
  ASSERT_TRUE(from_env.ok());
  EXPECT_EQ(*from_env, "from-env");
  ::unsetenv("WARDEN_TEST_PG_PASSWORD");
  auto from_file = read_password("WARDEN_TEST_PG_PASSWORD", file);
  ASSERT_TRUE(from_file.ok());
  EXPECT_EQ(from_file->size(), 48u);
  EXPECT_FALSE(read_password("WARDEN_TEST_PG_PASSWORD", "/nonexistent/password").ok());

  ConnectionConfig wrong = config(Role::kApp, "t_pool");
  wrong.password = "s3cret-wrong-password";
  auto conn = Connection::connect(wrong);
  ASSERT_FALSE(conn.ok());
  EXPECT_NE(conn.status().message().find("password authentication failed"), std::string::npos)
      << conn.status().message();
  EXPECT_EQ(conn.status().message().find("s3cret"), std::string::npos);
}

}  // namespace
}  // namespace warden::store::postgres
