// The log-gathering VFS: a commit's log frames reach the file in a few large writes, and every
// commit is there for readers, checkpoints and a reopened store, under either durability.
#include "store/sqlite/wal_vfs.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>

#include "store/sqlite/sqlite_store.h"
#include "store/sqlite/test_util.h"

namespace warden::store {
namespace {

using testing::TempDir;
using testing::WalSyncCounter;

constexpr int kRows = 300;
constexpr std::size_t kValueBytes = 1000;

std::string value_of(int i) { return std::string(kValueBytes, static_cast<char>('a' + i % 26)); }

Status write_rows(SqliteStore& store, int first, int count) {
  return store.write([&](WriteTxn& t) -> Status {
    for (int i = first; i < first + count; ++i) {
      WARDEN_RETURN_IF_ERROR(t.put_kv(fmt::format("k{}", i), value_of(i), i));
    }
    return Status();
  });
}

// ~300 KiB of rows is ~80 pages: SQLite writes each page's frame as two writes (header, page),
// so without gathering the log would see at least 160 writes for this commit.
TEST(GatheringVfs, ACommitReachesTheLogInAFewLargeWrites) {
  TempDir dir;
  WalSyncCounter counter;
  auto store = SqliteStore::open(dir.file("g.db"),
                                 {.create_if_missing = true, .durability = Durability::kFull});
  ASSERT_TRUE(store.ok()) << store.status().to_string();
  ASSERT_TRUE((*store)->write([](WriteTxn& t) { return t.put_kv("warm-up", "1", 1); }).ok());
  const int writes_before = counter.writes();
  const int syncs_before = counter.syncs();
  ASSERT_TRUE(write_rows(**store, 0, kRows).ok());
  const int writes = counter.writes() - writes_before;
  const int log_bytes_max = kRows * static_cast<int>(kValueBytes) * 2;  // rows, index, headers
  EXPECT_GE(writes, 1);
  EXPECT_LE(writes, log_bytes_max / sqlite::kLogChunkBytes + 2) << writes << " writes";
  EXPECT_EQ(counter.syncs() - syncs_before, 1);  // still one sync per commit under full
  auto got = (*store)->get_kv("k299");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ(**got, value_of(299));
  store->reset();
}

// Many small commits, each read back at once through the store's readers (other connections,
// which see a commit only once its frames are in the file), with the background checkpointer
// copying the log into the database meanwhile; then everything again from a reopened store.
TEST(GatheringVfs, EveryCommitIsReadableAndSurvivesCheckpointsAndReopening) {
  constexpr int kCommits = 400;
  for (Durability durability : {Durability::kFull, Durability::kNormal}) {
    TempDir dir;
    {
      auto store = SqliteStore::open(dir.file("r.db"),
                                     {.create_if_missing = true, .durability = durability});
      ASSERT_TRUE(store.ok()) << store.status().to_string();
      for (int c = 0; c < kCommits; ++c) {
        ASSERT_TRUE(write_rows(**store, c * 10, 10).ok());
        auto got = (*store)->get_kv(fmt::format("k{}", c * 10 + 9));
        ASSERT_TRUE(got.ok() && got->has_value()) << "commit " << c;
        ASSERT_EQ(**got, value_of(c * 10 + 9));
      }
      ASSERT_TRUE((*store)->checkpoint().ok());
      ASSERT_TRUE(write_rows(**store, kCommits * 10, 10).ok());  // after a restarted log
    }
    auto reopened = SqliteStore::open(dir.file("r.db"), {.durability = durability});
    ASSERT_TRUE(reopened.ok()) << reopened.status().to_string();
    for (int i = 0; i < (kCommits + 1) * 10; i += 7) {
      auto got = (*reopened)->get_kv(fmt::format("k{}", i));
      ASSERT_TRUE(got.ok() && got->has_value()) << "k" << i;
      EXPECT_EQ(**got, value_of(i));
    }
  }
}

}  // namespace
}  // namespace warden::store
