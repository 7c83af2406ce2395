// SqliteStore lifecycle: PRAGMAs on every connection, opening and migrations, write()
// atomicity, checkpointing, and a concurrent-writer smoke test.
#include "store/sqlite/sqlite_store.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <atomic>
#include <fstream>
#include <future>
#include <map>
#include <thread>

#include "store/sqlite/schema.h"
#include "store/sqlite/test_util.h"

namespace warden::store {
namespace {

using testing::FileSizeLimit;
using testing::open_store;
using testing::RawDb;
using testing::sample_agent;
using testing::sample_event;
using testing::TempDir;
using testing::WalSyncCounter;

TEST(SqliteStore, EveryPragmaIsAppliedOnEveryConnection) {
  // PRAGMA synchronous reads back as a number: NORMAL = 1, FULL = 2.
  for (const auto& [durability, synchronous] :
       {std::pair{Durability::kFull, "2"}, std::pair{Durability::kNormal, "1"}}) {
    TempDir dir;
    auto store =
        SqliteStore::open(dir.file("w.db"), {.create_if_missing = true, .durability = durability});
    ASSERT_TRUE(store.ok()) << store.status().to_string();
    auto values = (*store)->pragma_values();
    ASSERT_TRUE(values.ok()) << values.status().to_string();
    ASSERT_EQ(values->size(), 1u + SqliteStore::kReadConnections);  // writer + every reader
    const std::map<std::string, std::string> expected = {
        {"journal_mode", "wal"},  {"synchronous", synchronous}, {"foreign_keys", "1"},
        {"busy_timeout", "5000"}, {"cache_size", "-64000"},     {"mmap_size", "268435456"},
        {"temp_store", "2"}};
    for (const auto& connection : *values) {
      ASSERT_EQ(connection.size(), expected.size());
      for (const auto& [name, value] : connection) {
        EXPECT_EQ(value, expected.at(name)) << "PRAGMA " << name << ", synchronous " << synchronous;
      }
    }
  }
}

TEST(SqliteStore, DefaultDurabilityIsFull) {
  EXPECT_EQ(SqliteOptions{}.durability, Durability::kFull);
}

// What the durability setting buys: under FULL every commit syncs the write-ahead log before
// write() returns; under NORMAL no commit does (the log is synced only around checkpoints).
TEST(SqliteStore, FullDurabilitySyncsTheLogAtEveryCommitNormalAtNone) {
  constexpr int kCommits = 12;
  for (const auto& [durability, syncs_per_commit] :
       {std::pair{Durability::kFull, 1}, std::pair{Durability::kNormal, 0}}) {
    TempDir dir;
    WalSyncCounter counter;
    auto store =
        SqliteStore::open(dir.file("s.db"), {.create_if_missing = true, .durability = durability});
    ASSERT_TRUE(store.ok()) << store.status().to_string();
    // The first commit into a fresh log also syncs the log's header, under either setting.
    ASSERT_TRUE((*store)->write([](WriteTxn& t) { return t.put_kv("warm-up", "1", 1); }).ok());
    const int before = counter.syncs();
    for (int i = 0; i < kCommits; ++i) {
      ASSERT_TRUE((*store)
                      ->write([&](WriteTxn& t) { return t.put_kv(fmt::format("k{}", i), "v", i); })
                      .ok());
    }
    EXPECT_EQ(counter.syncs() - before, kCommits * syncs_per_commit)
        << "syncs_per_commit " << syncs_per_commit;
    store->reset();
  }
}

// ping() until it returns `code` (OK for ready), for at most 5 s; the last result.
Status ping_until(SqliteStore& store, ErrorCode code) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  Status s = store.ping();
  while (s.code() != code && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    s = store.ping();
  }
  return s;
}

// A write refused by the storage (here every file write fails, as on a full disk) makes the store
// not ready, with the reason; once writes are possible again a write probe finds it, without any
// other write, and the probe leaves no row behind.
TEST(SqliteStore, NotReadyAfterTheStorageRefusedACommitUntilAProbeCommits) {
  TempDir dir;
  auto store = SqliteStore::open(dir.file("full.db"),
                                 {.create_if_missing = true, .write_probe_interval_ms = 0});
  ASSERT_TRUE(store.ok()) << store.status().to_string();
  ASSERT_TRUE((*store)->ping().ok());
  {
    FileSizeLimit disk_full(0);
    Status w = (*store)->write([](WriteTxn& t) { return t.put_kv("k", "v", 1); });
    EXPECT_EQ(w.code(), ErrorCode::INTERNAL_STORE_ERROR) << w.to_string();
    Status p = (*store)->ping();
    EXPECT_EQ(p.code(), ErrorCode::INTERNAL_NOT_READY) << p.to_string();
    EXPECT_EQ(p.message().rfind("the store cannot write: disk I/O error (SQLite code ", 0), 0u)
        << p.message();
  }
  Status recovered = ping_until(**store, ErrorCode::OK);
  EXPECT_TRUE(recovered.ok()) << recovered.to_string();
  EXPECT_FALSE((*store)->get_kv("k")->has_value());                   // never committed
  EXPECT_FALSE((*store)->get_kv("warden.write_probe")->has_value());  // the probe's row
  EXPECT_TRUE((*store)->write([](WriteTxn& t) { return t.put_kv("k", "v", 1); }).ok());
}

// An idle store is probed: storage that stops taking writes while nothing is written is found
// by ping() alone, and so is its recovery.
TEST(SqliteStore, WriteProbeFindsAnIdleStoreThatCannotWrite) {
  TempDir dir;
  auto store = SqliteStore::open(dir.file("idle.db"),
                                 {.create_if_missing = true, .write_probe_interval_ms = 0});
  ASSERT_TRUE(store.ok()) << store.status().to_string();
  ASSERT_TRUE((*store)->write([](WriteTxn& t) { return t.put_kv("k", "v", 1); }).ok());
  FileSizeLimit disk_full(0);
  Status p = ping_until(**store, ErrorCode::INTERNAL_NOT_READY);
  EXPECT_EQ(p.code(), ErrorCode::INTERNAL_NOT_READY) << p.to_string();
  EXPECT_NE(p.message().find("cannot write"), std::string::npos) << p.message();
  disk_full.lift();
  Status recovered = ping_until(**store, ErrorCode::OK);
  EXPECT_TRUE(recovered.ok()) << recovered.to_string();
}

// A write that fails for its own reasons (a constraint, the caller's error) says nothing about
// the storage: the store stays ready. Probes are off here, so only the outcomes count.
TEST(SqliteStore, LogicalWriteFailuresLeaveTheStoreReady) {
  TempDir dir;
  auto store = SqliteStore::open(dir.file("logic.db"),
                                 {.create_if_missing = true, .write_probe_interval_ms = 3'600'000});
  ASSERT_TRUE(store.ok()) << store.status().to_string();
  ASSERT_TRUE(
      (*store)->write([](WriteTxn& t) { return t.insert_agent(sample_agent("a1", "pk")); }).ok());
  EXPECT_EQ(
      (*store)->write([](WriteTxn& t) { return t.insert_agent(sample_agent("a1", "pk")); }).code(),
      ErrorCode::STORE_CONSTRAINT);
  EXPECT_EQ((*store)->write([](WriteTxn&) { return Status(ErrorCode::TX_INVALID_STATE); }).code(),
            ErrorCode::TX_INVALID_STATE);
  EXPECT_TRUE((*store)->ping().ok());
}

// A commit that does not finish (here: held open by its caller) makes the store not ready after
// kWriteStallMs, and ping() answers at once meanwhile instead of waiting for it.
TEST(SqliteStore, AStuckCommitMakesTheStoreNotReadyWithoutBlockingPing) {
  TempDir dir;
  auto store = SqliteStore::open(dir.file("stall.db"), {.create_if_missing = true});
  ASSERT_TRUE(store.ok()) << store.status().to_string();
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  auto writer = std::async(std::launch::async, [&] {
    return (*store)->write([&](WriteTxn& t) {
      entered.set_value();
      released.wait();
      return t.put_kv("k", "v", 1);
    });
  });
  entered.get_future().wait();
  const auto started = std::chrono::steady_clock::now();
  Status early = (*store)->ping();
  const auto early_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - started)
                            .count();
  std::this_thread::sleep_for(std::chrono::milliseconds(SqliteStore::kWriteStallMs + 100));
  Status stuck = (*store)->ping();
  release.set_value();
  ASSERT_TRUE(writer.get().ok());
  EXPECT_TRUE(early.ok()) << early.to_string();
  // At most the probe wait (a probe may be due on a slow machine), far below the stuck commit.
  EXPECT_LT(early_ms, SqliteStore::kWriteStallMs / 2);
  EXPECT_EQ(stuck.code(), ErrorCode::INTERNAL_NOT_READY);
  EXPECT_NE(stuck.message().find("a store write has been running for"), std::string::npos)
      << stuck.message();
  EXPECT_TRUE((*store)->ping().ok());
}

TEST(SqliteStore, MissingFileWithoutCreateIsNotInitialized) {
  TempDir dir;
  auto store = SqliteStore::open(dir.file("absent.db"), {});
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), ErrorCode::STORE_NOT_INITIALIZED);
  EXPECT_FALSE(std::filesystem::exists(dir.file("absent.db")));
  auto read_only =
      SqliteStore::open(dir.file("absent.db"), {.create_if_missing = true, .read_only = true});
  EXPECT_EQ(read_only.status().code(), ErrorCode::STORE_NOT_INITIALIZED);
}

TEST(SqliteStore, MigrationsApplyOnceAndRecordTheirVersion) {
  TempDir dir;
  const std::string path = dir.file("m.db");
  FakeClock clock(1'767'225'600'000);
  std::vector<std::string> rows_after_first;
  {
    auto first = SqliteStore::open(path, {.create_if_missing = true, .clock = &clock});
    ASSERT_TRUE(first.ok()) << first.status().to_string();
    EXPECT_EQ((*first)->migrations_applied_at_open(), latest_schema_version());
    EXPECT_EQ((*first)->schema_version(), latest_schema_version());
    rows_after_first = RawDb(path).column(
        "SELECT version || '|' || name || '|' || applied_at FROM schema_version ORDER BY version");
  }
  ASSERT_EQ(rows_after_first.size(), static_cast<std::size_t>(latest_schema_version()));
  EXPECT_EQ(rows_after_first.front().substr(0, 2), "1|");
  EXPECT_NE(rows_after_first.front().find("|1767225600"), std::string::npos);

  clock.advance_ms(3'600'000);  // a re-applied migration would carry a different time
  auto second = SqliteStore::open(path, {.clock = &clock});
  ASSERT_TRUE(second.ok()) << second.status().to_string();
  EXPECT_EQ((*second)->migrations_applied_at_open(), 0);
  EXPECT_EQ(RawDb(path).column("SELECT version || '|' || name || '|' || applied_at FROM "
                               "schema_version ORDER BY version"),
            rows_after_first);
  EXPECT_TRUE((*second)->ping().ok());
}

// A file written by a version-2 binary: its audit chain survives the audit_log rebuild of
// migration 3 row for row, and appends continue the chain.
TEST(SqliteStore, MigrationThreeKeepsAnOlderAuditChainVerifiable) {
  TempDir dir;
  const std::string path = dir.file("v2.db");
  std::ofstream(path).flush();  // an empty file is an empty database
  {
    RawDb raw(path);
    ASSERT_EQ(raw.exec(sqlite::kSchemaVersionDdl), SQLITE_OK) << raw.error();
    for (const auto& m : sqlite::migrations()) {
      if (m.version > 2) break;
      ASSERT_EQ(raw.exec(m.sql()), SQLITE_OK) << raw.error();
      ASSERT_EQ(raw.exec(fmt::format("INSERT INTO schema_version VALUES ({}, 'v', 0)", m.version)),
                SQLITE_OK);
    }
    std::string prev(kAuditGenesisHash);
    for (std::int64_t id = 1; id <= 5; ++id) {
      AuditEvent e = sample_event("AGENT_CREATED", id % 2 ? std::optional<std::string>("a1")
                                                          : std::nullopt);
      const std::string hash = audit_row_hash(id, e, prev);
      ASSERT_EQ(raw.exec(fmt::format(
                    "INSERT INTO audit_log (timestamp, event_type, actor, agent_id, details, "
                    "severity, correlation_id, prev_hash, hash) VALUES ({}, '{}', '{}', {}, '{}', "
                    "'{}', '{}', '{}', '{}')",
                    e.timestamp, e.event_type, e.actor, e.agent_id ? "'a1'" : "NULL", e.details,
                    e.severity, *e.correlation_id, prev, hash)),
                SQLITE_OK)
          << raw.error();
      prev = hash;
    }
    ASSERT_EQ(raw.text("SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'"), "5");
  }
  auto store = SqliteStore::open(path, {});
  ASSERT_TRUE(store.ok()) << store.status().to_string();
  EXPECT_EQ((*store)->migrations_applied_at_open(), latest_schema_version() - 2);
  auto report = (*store)->verify_audit();
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->first_broken_id) << report->problem;
  EXPECT_EQ(report->rows_checked, 5);
  auto id = Result<std::int64_t>(0);
  ASSERT_TRUE((*store)->write([&](WriteTxn& t) {
    id = t.append_audit(sample_event("AGENT_UPDATED"));
    return id.status();
  }).ok());
  EXPECT_EQ(*id, 6);
  report = (*store)->verify_audit();
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->first_broken_id) << report->problem;
  EXPECT_EQ(report->rows_checked, 6);
  EXPECT_EQ(RawDb(path).text("SELECT count(*) FROM sqlite_sequence WHERE name = 'audit_log'"), "0");
}

TEST(SqliteStore, NewerSchemaIsRefusedNamingBothVersions) {
  TempDir dir;
  const std::string path = dir.file("new.db");
  open_store(path).reset();
  const int newer = latest_schema_version() + 1;
  ASSERT_EQ(RawDb(path).exec("INSERT INTO schema_version VALUES (" + std::to_string(newer) +
                             ", 'from the future', 0)"),
            SQLITE_OK);
  for (bool read_only : {false, true}) {
    auto store = SqliteStore::open(path, {.read_only = read_only});
    ASSERT_FALSE(store.ok());
    EXPECT_EQ(store.status().code(), ErrorCode::STORE_SCHEMA_TOO_NEW);
    EXPECT_NE(store.status().message().find(std::to_string(newer)), std::string::npos)
        << store.status().message();
    EXPECT_NE(store.status().message().find(std::to_string(latest_schema_version())),
              std::string::npos)
        << store.status().message();
  }
}

TEST(SqliteStore, FailedWriteRollsBackTheChangeAndItsAuditRow) {
  TempDir dir;
  auto store = open_store(dir.file("tx.db"));
  ASSERT_NE(store, nullptr);
  Status s = store->write([](WriteTxn& txn) -> Status {
    WARDEN_RETURN_IF_ERROR(txn.insert_agent(sample_agent("a1", "pk1")));
    auto id = txn.append_audit(sample_event("AGENT_CREATED", "a1"));
    if (!id.ok()) return id.status();
    // Visible inside the transaction...
    auto seen = txn.get_agent("a1");
    if (!seen.ok() || !seen->has_value()) return Status(ErrorCode::INTERNAL_ERROR, "not seen");
    return Status(ErrorCode::VALIDATION_FAILED, "caller changed its mind");
  });
  EXPECT_EQ(s.code(), ErrorCode::VALIDATION_FAILED);
  // ...and gone after the rollback, audit row included.
  EXPECT_FALSE(store->get_agent("a1")->has_value());
  EXPECT_TRUE(store->list_audit({})->empty());

  ASSERT_TRUE(store
                  ->write([](WriteTxn& txn) -> Status {
                    WARDEN_RETURN_IF_ERROR(txn.insert_agent(sample_agent("a1", "pk1")));
                    return txn.append_audit(sample_event("AGENT_CREATED", "a1")).status();
                  })
                  .ok());
  EXPECT_TRUE(store->get_agent("a1")->has_value());
  auto audit = store->list_audit({});
  ASSERT_EQ(audit->size(), 1u);
  EXPECT_EQ(audit->front().id, 1);  // the rolled-back row left no gap in the chain
}

TEST(SqliteStore, ExceptionInWriteRollsBackAndPropagates) {
  TempDir dir;
  auto store = open_store(dir.file("ex.db"));
  ASSERT_NE(store, nullptr);
  EXPECT_THROW((void)store->write([](WriteTxn& txn) -> Status {
    (void)txn.insert_agent(sample_agent("a1", std::nullopt));
    throw std::runtime_error("boom");
  }),
               std::runtime_error);
  EXPECT_FALSE(store->get_agent("a1")->has_value());
  EXPECT_TRUE(
      store->write([](WriteTxn& txn) { return txn.insert_agent(sample_agent("a2", {})); }).ok());
}

TEST(SqliteStore, NestedWriteIsRefusedNotDeadlocked) {
  TempDir dir;
  auto store = open_store(dir.file("nest.db"));
  ASSERT_NE(store, nullptr);
  Status inner;
  Status outer = store->write([&](WriteTxn&) {
    inner = store->write([](WriteTxn&) { return Status(); });
    return Status();
  });
  EXPECT_TRUE(outer.ok());
  EXPECT_EQ(inner.code(), ErrorCode::INTERNAL_STORE_ERROR);
}

TEST(SqliteStore, ReadOnlyStoreReadsButDoesNotWrite) {
  TempDir dir;
  const std::string path = dir.file("ro.db");
  {
    auto store = open_store(path);
    ASSERT_TRUE(store->write([](WriteTxn& t) { return t.put_kv("k", "v", 1); }).ok());
  }
  auto ro = SqliteStore::open(path, {.read_only = true});
  ASSERT_TRUE(ro.ok()) << ro.status().to_string();
  EXPECT_EQ((*ro)->get_kv("k")->value_or(""), "v");
  EXPECT_EQ((*ro)->write([](WriteTxn& t) { return t.put_kv("k", "w", 2); }).code(),
            ErrorCode::INTERNAL_STORE_ERROR);
  EXPECT_TRUE((*ro)->ping().ok());
}

TEST(SqliteStore, CheckpointEmptiesTheLogAndCloseRemovesIt) {
  TempDir dir;
  const std::string path = dir.file("ck.db");
  const std::string wal = path + "-wal";
  auto store = open_store(path);
  ASSERT_NE(store, nullptr);
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(store
                    ->write([&](WriteTxn& t) {
                      return t.put_kv("k" + std::to_string(i), std::string(4000, 'x'), i);
                    })
                    .ok());
  }
  ASSERT_GT(std::filesystem::file_size(wal), 0u);
  ASSERT_TRUE(store->checkpoint().ok());
  EXPECT_EQ(std::filesystem::file_size(wal), 0u);

  ASSERT_TRUE(store->write([](WriteTxn& t) { return t.put_kv("last", "1", 1); }).ok());
  store.reset();
  // The last connection to close folds the log into the file and deletes it.
  EXPECT_FALSE(std::filesystem::exists(wal) && std::filesystem::file_size(wal) > 0);
  EXPECT_EQ(RawDb(path).text("SELECT value FROM key_value_store WHERE key = 'last'"), "1");
}

// Writes rows k<first> .. k<first+count-1>, about one 4 KiB page each, in one transaction.
Status write_pages(SqliteStore& store, int first, int count) {
  const std::string page_of_data(4000, 'x');
  return store.write([&](WriteTxn& t) -> Status {
    for (int j = first; j < first + count; ++j) {
      WARDEN_RETURN_IF_ERROR(t.put_kv(fmt::format("k{}", j), page_of_data, j));
    }
    return Status();
  });
}

// The background thread checkpoints once a mark's worth of pages was logged; under writes
// that never pause, the writer completes a checkpoint itself at the restart mark, so the log
// stops growing.
TEST(SqliteStore, BackgroundCheckpointsKeepTheLogBounded) {
  TempDir dir;
  const std::string path = dir.file("bg.db");
  const std::string wal = path + "-wal";
  auto store = open_store(path);
  ASSERT_NE(store, nullptr);
  constexpr int kRows = 3 * SqliteStore::kCheckpointRestartPages;
  std::uintmax_t largest_wal = 0;
  for (int i = 0; i < kRows; i += 50) {
    ASSERT_TRUE(write_pages(*store, i, 50).ok());
    largest_wal = std::max(largest_wal, std::filesystem::file_size(wal));
  }
  EXPECT_GT(store->background_checkpoints(), 0u);
  EXPECT_GT(store->restart_checkpoints(), 0u);
  // Three restart marks' worth of pages went through a log that never held more than about
  // twice the mark (the writer's own checkpoint waits while a background one is running).
  EXPECT_LT(largest_wal, 2u * SqliteStore::kCheckpointRestartPages * 4200u);
  // Everything reached the database file or the log: a fresh reader sees the last row.
  store.reset();
  EXPECT_EQ(RawDb(path).text("SELECT count(*) FROM key_value_store"), std::to_string(kRows));
}

// checkpoint() (run at shutdown) must not fail because a background checkpoint is running.
TEST(SqliteStore, ExplicitCheckpointSucceedsBesideBackgroundOnes) {
  TempDir dir;
  auto store = open_store(dir.file("both.db"));
  ASSERT_NE(store, nullptr);
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < 4 * SqliteStore::kCheckpointPages; i += 50) {
      Status s = write_pages(*store, i, 50);
      EXPECT_TRUE(s.ok()) << s.to_string();
    }
    done = true;
  });
  int checkpoints = 0;
  while (!done) {
    Status s = store->checkpoint();
    EXPECT_TRUE(s.ok()) << s.to_string();
    ++checkpoints;
  }
  writer.join();
  EXPECT_GT(checkpoints, 0);
  EXPECT_TRUE(store->checkpoint().ok());
}

TEST(SqliteStore, WritesOfAKilledProcessSurviveInTheLog) {
  TempDir dir;
  const std::string path = dir.file("crash.db");
  constexpr int kRows = 50;
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Like kill -9 after each acknowledged write: no destructor, no checkpoint, no close.
    auto store = SqliteStore::open(path, {.create_if_missing = true});
    for (int i = 0; store.ok() && i < kRows; ++i) {
      if (!(*store)
               ->write([](WriteTxn& t) { return t.append_audit(sample_event("E")).status(); })
               .ok()) {
        _exit(2);
      }
    }
    _exit(store.ok() ? 0 : 1);
  }
  int wstatus = 0;
  ASSERT_EQ(waitpid(child, &wstatus, 0), child);
  ASSERT_TRUE(WIFEXITED(wstatus));
  ASSERT_EQ(WEXITSTATUS(wstatus), 0);
  ASSERT_GT(std::filesystem::file_size(path + "-wal"), 0u);  // the rows live only in the log

  for (bool read_only : {true, false}) {
    auto store = SqliteStore::open(path, {.read_only = read_only});
    ASSERT_TRUE(store.ok()) << store.status().to_string();
    auto report = (*store)->verify_audit();
    ASSERT_TRUE(report.ok());
    EXPECT_EQ(report->rows_checked, kRows) << "read_only=" << read_only;
    EXPECT_FALSE(report->first_broken_id.has_value()) << report->problem;
  }
}

TEST(SqliteStore, PingFailsWhenTheSchemaIsNotCurrent) {
  TempDir dir;
  const std::string path = dir.file("ping.db");
  auto store = open_store(path);
  ASSERT_TRUE(store->ping().ok());
  ASSERT_EQ(RawDb(path).exec("DELETE FROM schema_version"), SQLITE_OK);
  EXPECT_EQ(store->ping().code(), ErrorCode::INTERNAL_STORE_ERROR);
  EXPECT_EQ(store->schema_version(), 0);
}

TEST(SqliteStore, AFileThatIsNotADatabaseIsAStoreError) {
  TempDir dir;
  const std::string path = dir.file("junk.db");
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fputs("this is not an SQLite database, just some text long enough to matter......", f);
  std::fclose(f);
  auto store = SqliteStore::open(path, {});
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), ErrorCode::INTERNAL_STORE_ERROR);
}

TEST(SqliteStore, ReadsRunWhileAWriteIsOpenAndSeeOnlyCommittedRows) {
  TempDir dir;
  auto store = open_store(dir.file("iso.db"));
  ASSERT_NE(store, nullptr);
  std::promise<void> inserted;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  auto writer = std::async(std::launch::async, [&] {
    return store->write([&](WriteTxn& t) -> Status {
      WARDEN_RETURN_IF_ERROR(t.insert_agent(sample_agent("a1", "pk1")));
      inserted.set_value();
      released.wait();  // hold the transaction open
      return Status();
    });
  });
  inserted.get_future().wait();
  // A read must neither wait for the writer nor see its uncommitted row.
  auto read = std::async(std::launch::async, [&] { return store->get_agent("a1"); });
  const bool read_done = read.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
  release.set_value();  // before any assertion, so a failure cannot hang the test
  ASSERT_TRUE(writer.get().ok());
  ASSERT_TRUE(read_done) << "a read blocked behind an open write";
  auto before = read.get();
  ASSERT_TRUE(before.ok()) << before.status().to_string();
  EXPECT_FALSE(before->has_value());
  EXPECT_TRUE(store->get_agent("a1")->has_value());
}

TEST(SqliteStore, ConcurrentWritersBuildOneValidChain) {
  TempDir dir;
  auto store = open_store(dir.file("conc.db"));
  ASSERT_NE(store, nullptr);
  constexpr int kThreads = 4;
  constexpr int kWritesPerThread = 200;
  std::vector<std::thread> threads;
  std::atomic<int> failures = 0;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kWritesPerThread; ++i) {
        Status s = store->write([&](WriteTxn& txn) {
          AuditEvent e = sample_event("THREAD_" + std::to_string(t));
          e.details = R"({"i":)" + std::to_string(i) + "}";
          return txn.append_audit(e).status();
        });
        if (!s.ok()) ++failures;
        if (i % 50 == 0 && !store->verify_audit().ok()) ++failures;  // readers run alongside
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  auto report = store->verify_audit();
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->rows_checked, kThreads * kWritesPerThread);
  EXPECT_FALSE(report->first_broken_id.has_value()) << report->problem;
  auto per_thread = store->list_audit({.event_type = "THREAD_2", .limit = 1000});
  EXPECT_EQ(per_thread->size(), static_cast<std::size_t>(kWritesPerThread));
}

}  // namespace
}  // namespace warden::store
