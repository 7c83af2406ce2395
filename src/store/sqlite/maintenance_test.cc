// Online backup, dbstat sizes and the storage gauges on a real SQLite file, with the store
// writing beside them.
#include "store/sqlite/maintenance.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "store/sqlite/test_util.h"

namespace warden::store::sqlite {
namespace {

using store::testing::open_store;
using store::testing::RawDb;
using store::testing::sample_agent;
using store::testing::sample_event;
using store::testing::TempDir;

constexpr std::int64_t kNow = 1'767'225'600;

TransactionRow tx(int n, std::int64_t created_at) {
  TransactionRow r;
  r.id = "t-" + std::to_string(n);
  r.agent_id = "a1";
  r.chain = "solana";
  r.type = "TRANSFER";
  r.created_at = r.updated_at = created_at;
  return r;
}

class MaintenanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = open_store(db_path());
    ASSERT_TRUE(store_);
    ASSERT_TRUE(
        store_->write([](WriteTxn& t) { return t.insert_agent(sample_agent("a1", {})); }).ok());
  }
  std::string db_path() const { return dir_.file("warden.db"); }
  // One decision with its audit row, committed together as the daemon's writer does.
  Status decide(int n, std::int64_t created_at = kNow) {
    return store_->write([&](WriteTxn& t) -> Status {
      WARDEN_RETURN_IF_ERROR(t.insert_transaction(tx(n, created_at)));
      return t.append_audit(sample_event("TX_DECIDED", "a1")).status();
    });
  }

  TempDir dir_;
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(MaintenanceTest, BackupWhileWritingHoldsEveryCommitBeforeItAndAnIntactChain) {
  constexpr int kBefore = 300;
  for (int i = 0; i < kBefore; ++i) ASSERT_TRUE(decide(i).ok());
  std::atomic<bool> stop{false};
  std::atomic<int> written{kBefore};
  std::thread writer([&] {
    while (!stop) {
      if (!decide(written).ok()) return;
      ++written;
    }
  });
  const std::string target = dir_.file("copy.db");
  // One page per step: many steps, each between the writer's commits.
  auto report = backup_database(db_path(), target, {.pages_per_step = 1});
  stop = true;
  writer.join();
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_GE(report->transactions_rows, kBefore);
  EXPECT_LE(report->transactions_rows, written.load());
  EXPECT_EQ(report->audit_rows, report->transactions_rows);  // one snapshot: both or neither
  EXPECT_GT(report->steps, 1);
  EXPECT_EQ(report->pages * report->page_size_bytes,
            static_cast<std::int64_t>(std::filesystem::file_size(target)));
  EXPECT_FALSE(std::filesystem::exists(target + ".tmp"));
  struct stat st {};
  ASSERT_EQ(::stat(target.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  RawDb copy(target);
  EXPECT_EQ(copy.text("PRAGMA integrity_check"), "ok");
  EXPECT_EQ(copy.integer("SELECT COUNT(*) FROM transactions"), report->transactions_rows);
  for (int i = 0; i < kBefore; ++i) {
    ASSERT_EQ(
        copy.integer("SELECT COUNT(*) FROM transactions WHERE id = 't-" + std::to_string(i) + "'"),
        1)
        << i;
  }
  EXPECT_EQ(copy.text("PRAGMA journal_mode"), "wal");  // a WAL database, as the daemon wants
  auto restored = SqliteStore::open(target, {.read_only = true});
  ASSERT_TRUE(restored.ok()) << restored.status().to_string();
  auto verified = (*restored)->verify_audit();
  ASSERT_TRUE(verified.ok());
  EXPECT_FALSE(verified->first_broken_id.has_value()) << verified->problem;
  EXPECT_EQ(verified->rows_checked, report->audit_rows);
}

TEST_F(MaintenanceTest, BackupRefusesAnExistingTargetUnlessOverwriteAndNeverTheSource) {
  ASSERT_TRUE(decide(1).ok());
  const std::string target = dir_.file("copy.db");
  { std::ofstream(target) << "keep me"; }
  auto refused = backup_database(db_path(), target, {});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::CONFIG_INVALID);
  EXPECT_EQ(std::filesystem::file_size(target), 7u);  // untouched
  auto same = backup_database(db_path(), db_path(), {.overwrite = true});
  ASSERT_FALSE(same.ok());
  EXPECT_EQ(same.status().code(), ErrorCode::CONFIG_INVALID);
  { std::ofstream(target + ".tmp") << "another backup"; }
  auto busy = backup_database(db_path(), target, {.overwrite = true});
  ASSERT_FALSE(busy.ok());
  EXPECT_NE(busy.status().message().find(".tmp exists"), std::string::npos);
  std::filesystem::remove(target + ".tmp");
  auto replaced = backup_database(db_path(), target, {.overwrite = true});
  ASSERT_TRUE(replaced.ok()) << replaced.status().to_string();
  EXPECT_EQ(replaced->transactions_rows, 1);
  EXPECT_EQ(RawDb(target).integer("SELECT COUNT(*) FROM transactions"), 1);
  auto missing = backup_database(dir_.file("none.db"), dir_.file("x.db"), {});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::STORE_NOT_INITIALIZED);
}

TEST_F(MaintenanceTest, StatsCountRowsAndSizesThatAddUpToThePages) {
  constexpr int kDecisions = 200;
  for (int i = 0; i < kDecisions; ++i) ASSERT_TRUE(decide(i).ok());
  auto stats = database_stats(db_path());
  ASSERT_TRUE(stats.ok()) << stats.status().to_string();
  EXPECT_EQ(stats->page_size_bytes, RawDb(db_path()).integer("PRAGMA page_size"));
  std::int64_t pages = 0;
  std::int64_t bytes = 0;
  std::map<std::string, const ObjectStats*> by_name;
  for (const ObjectStats& o : stats->objects) {
    pages += o.pages;
    bytes += o.bytes;
    EXPECT_EQ(o.bytes, o.pages * stats->page_size_bytes) << o.name;
    EXPECT_EQ(o.rows.has_value(), o.kind == "table") << o.name;
    by_name[o.name] = &o;
  }
  // Every page belongs to one b-tree or the freelist (no pointer-map pages: no auto-vacuum).
  EXPECT_EQ(pages + stats->free_pages, stats->pages);
  EXPECT_EQ(bytes, (stats->pages - stats->free_pages) * stats->page_size_bytes);
  for (std::size_t i = 1; i < stats->objects.size(); ++i) {
    EXPECT_GE(stats->objects[i - 1].bytes, stats->objects[i].bytes);  // largest first
  }
  ASSERT_TRUE(by_name.count("transactions"));
  EXPECT_EQ(by_name["transactions"]->rows, std::optional<std::int64_t>(kDecisions));
  EXPECT_GT(by_name["transactions"]->bytes, 0);
  ASSERT_TRUE(by_name.count("audit_log"));
  EXPECT_EQ(by_name["audit_log"]->rows, std::optional<std::int64_t>(kDecisions));
  ASSERT_TRUE(by_name.count("idx_transactions_created_at"));
  EXPECT_EQ(by_name["idx_transactions_created_at"]->kind, "index");
  EXPECT_EQ(by_name["idx_transactions_created_at"]->table, "transactions");
}

TEST(DirectorySizeTest, SumsRegularFilesRecursivelyAndIsZeroWithoutTheDirectory) {
  TempDir dir;
  auto none = directory_size(dir.file("archive"));
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->bytes, 0);
  EXPECT_EQ(none->files, 0);
  std::filesystem::create_directories(dir.path() / "archive" / "2026");
  { std::ofstream(dir.file("archive/a.seg")) << std::string(1000, 'a'); }
  { std::ofstream(dir.file("archive/2026/b.seg")) << std::string(234, 'b'); }
  auto some = directory_size(dir.file("archive"));
  ASSERT_TRUE(some.ok());
  EXPECT_EQ(some->bytes, 1234);
  EXPECT_EQ(some->files, 2);
}

TEST_F(MaintenanceTest, GaugesReadFileSizesAndTheOldestDecisionCachedForAFewSeconds) {
  FakeClock clock(kNow * 1000);
  StorageGauges gauges(db_path(), dir_.file("archive"), clock);
  StorageSample empty = gauges.sample();
  EXPECT_EQ(empty.oldest_hot_decision_age_seconds, std::optional<std::int64_t>(0));
  EXPECT_EQ(empty.archive_bytes, 0);

  ASSERT_TRUE(decide(1, kNow - 100).ok());
  ASSERT_TRUE(decide(2, kNow - 10).ok());
  // Within the cache the empty answer stands; past it the oldest row is read.
  EXPECT_EQ(gauges.sample().oldest_hot_decision_age_seconds, std::optional<std::int64_t>(0));
  clock.advance_ms(StorageGauges::kOldestCacheSeconds * 1000);
  StorageSample s = gauges.sample();
  EXPECT_EQ(s.oldest_hot_decision_age_seconds,
            std::optional<std::int64_t>(100 + StorageGauges::kOldestCacheSeconds));
  EXPECT_EQ(s.database_bytes, static_cast<std::int64_t>(std::filesystem::file_size(db_path())));
  EXPECT_EQ(s.wal_bytes, static_cast<std::int64_t>(std::filesystem::file_size(db_path() + "-wal")));
  EXPECT_GT(s.database_bytes, 0);
  EXPECT_GT(s.wal_bytes, 0);
  // The age grows with the clock between reads of the row.
  clock.advance_ms(2000);
  EXPECT_EQ(gauges.sample().oldest_hot_decision_age_seconds,
            std::optional<std::int64_t>(102 + StorageGauges::kOldestCacheSeconds));

  std::filesystem::create_directories(dir_.path() / "archive");
  { std::ofstream(dir_.file("archive/seg-1")) << std::string(4096, 'x'); }
  EXPECT_EQ(gauges.sample().archive_bytes, 4096);
}

// The gauge is scraped every few seconds on a table of millions of rows: one index seek.
TEST_F(MaintenanceTest, OldestDecisionQuerySeeksTheCreatedAtIndex) {
  RawDb db(db_path());
  const std::vector<std::string> plan =
      db.column(std::string("EXPLAIN QUERY PLAN ") + kOldestDecisionSql, 3);
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_NE(plan[0].find("idx_transactions_created_at"), std::string::npos) << plan[0];
  EXPECT_EQ(plan[0].find("SCAN"), std::string::npos) << plan[0];
}

TEST_F(MaintenanceTest, RestorePutsACheckedBackupInPlaceAndMovesTheOldFilesAside) {
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(decide(i).ok());
  const std::string backup = dir_.file("copy.db");
  ASSERT_TRUE(backup_database(db_path(), backup, {}).ok());
  for (int i = 20; i < 30; ++i) ASSERT_TRUE(decide(i).ok());
  store_.reset();  // the daemon stopped

  // Files in place are refused without a place to move them to.
  auto refused = restore_database(backup, db_path(), {});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::CONFIG_INVALID);
  EXPECT_EQ(RawDb(db_path()).integer("SELECT COUNT(*) FROM transactions"), 30);

  // A stale log beside the database must not survive into the restored one.
  { std::ofstream(db_path() + "-wal") << std::string(100, 'w'); }
  const std::string aside = dir_.file("replaced");
  auto restored = restore_database(backup, db_path(), {.replaced_dir = aside});
  ASSERT_TRUE(restored.ok()) << restored.status().to_string();
  EXPECT_TRUE(restored->replaced);
  EXPECT_EQ(restored->transactions_rows, 20);
  EXPECT_EQ(restored->audit_rows, 20);
  EXPECT_FALSE(std::filesystem::exists(db_path() + "-wal"));
  EXPECT_FALSE(std::filesystem::exists(db_path() + ".restore"));
  EXPECT_TRUE(std::filesystem::exists(aside + "/warden.db"));
  EXPECT_EQ(std::filesystem::file_size(aside + "/warden.db-wal"), 100u);
  struct stat st {};
  ASSERT_EQ(::stat(db_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto reopened = open_store(db_path());
  ASSERT_TRUE(reopened);
  auto verified = reopened->verify_audit();
  ASSERT_TRUE(verified.ok());
  EXPECT_FALSE(verified->first_broken_id.has_value()) << verified->problem;
  EXPECT_EQ(RawDb(db_path()).integer("SELECT COUNT(*) FROM transactions"), 20);
  reopened.reset();

  // The same place for the replaced files is not used twice.
  auto again = restore_database(backup, db_path(), {.replaced_dir = aside});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), ErrorCode::CONFIG_INVALID);
  EXPECT_EQ(RawDb(db_path()).integer("SELECT COUNT(*) FROM transactions"), 20);
}

TEST_F(MaintenanceTest, RestoreRefusesADamagedBackupAndTouchesNothing) {
  ASSERT_TRUE(decide(1).ok());
  const std::string backup = dir_.file("copy.db");
  ASSERT_TRUE(backup_database(db_path(), backup, {}).ok());
  store_.reset();
  const std::string target = dir_.file("restored/warden.db");
  std::filesystem::create_directories(dir_.path() / "restored");
  {
    // The transactions table's root page zeroed: the file still opens, but fails the check.
    const std::int64_t root =
        RawDb(backup).integer("SELECT rootpage FROM sqlite_schema WHERE name = 'transactions'");
    const std::int64_t page_bytes = RawDb(backup).integer("PRAGMA page_size");
    std::fstream f(backup, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp((root - 1) * page_bytes);
    f << std::string(static_cast<std::size_t>(page_bytes), '\0');
  }
  std::filesystem::remove(backup + "-wal");
  std::filesystem::remove(backup + "-shm");
  auto damaged = restore_database(backup, target, {});
  ASSERT_FALSE(damaged.ok());
  EXPECT_NE(damaged.status().message().find("integrity_check"), std::string::npos)
      << damaged.status().to_string();
  EXPECT_FALSE(std::filesystem::exists(target));
  EXPECT_FALSE(std::filesystem::exists(target + ".restore"));
  { std::ofstream(dir_.file("not-a-db")) << "hello"; }
  EXPECT_FALSE(restore_database(dir_.file("not-a-db"), target, {}).ok());
  EXPECT_FALSE(std::filesystem::exists(target));
  auto missing = restore_database(dir_.file("none.db"), target, {});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::CONFIG_INVALID);
}

}  // namespace
}  // namespace warden::store::sqlite
