// BatchWriter: refusal of a full queue, and one log sync per group commit under full durability.
#include "store/batch_writer.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "store/sqlite/sqlite_store.h"
#include "store/sqlite/test_util.h"

namespace warden::store {
namespace {

using testing::BlockedWriter;
using testing::TempDir;
using testing::WalSyncCounter;


TEST(BatchWriter, AFullQueueIsRefusedAsOverloadedAndAcceptsAgainOnceDrained) {
  TempDir dir;
  auto store = SqliteStore::open(dir.file("q.db"), {.create_if_missing = true});
  ASSERT_TRUE(store.ok()) << store.status().to_string();
  constexpr std::size_t kQueueMax = 3;
  BatchWriter writer(**store, {.batch_size_max = 8, .queue_max = kQueueMax});
  std::atomic<int> committed{0};
  auto op = [](WriteTxn& t) { return t.put_kv("k", "v", 1); };
  auto count = [&](const Status& s) {
    EXPECT_TRUE(s.ok()) << s.to_string();
    ++committed;
  };
  {
    BlockedWriter blocked(writer);
    for (std::size_t i = 0; i < kQueueMax; ++i) ASSERT_TRUE(writer.submit(op, count).ok());
    bool refused_done_called = false;
    Status refused = writer.submit(op, [&](const Status&) { refused_done_called = true; });
    EXPECT_EQ(refused.code(), ErrorCode::SERVER_OVERLOADED) << refused.to_string();
    EXPECT_NE(refused.message().find("write queue is full (3 operations waiting)"),
              std::string::npos)
        << refused.message();
    blocked.release();
    EXPECT_TRUE(blocked.outcome().ok());
    EXPECT_FALSE(refused_done_called);  // a refused operation is the caller's to answer
  }
  // Once the queued three have committed, the queue takes operations again.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (committed.load() < static_cast<int>(kQueueMax) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(committed.load(), static_cast<int>(kQueueMax));
  EXPECT_TRUE(writer.run(op).ok());
}

TEST(BatchWriter, StoppedWriterRefusesAsShuttingDown) {
  TempDir dir;
  auto store = SqliteStore::open(dir.file("stop.db"), {.create_if_missing = true});
  ASSERT_TRUE(store.ok()) << store.status().to_string();
  BatchWriter writer(**store, {});
  writer.stop();
  EXPECT_EQ(writer.submit([](WriteTxn&) { return Status(); }, [](const Status&) {}).code(),
            ErrorCode::INTERNAL_SHUTTING_DOWN);
}

// Under full durability a group commit costs one sync of the write-ahead log however many
// operations it carries.
TEST(BatchWriter, OneGroupCommitIsOneLogSync) {
  constexpr int kOps = 50;
  TempDir dir;
  WalSyncCounter counter;
  auto store = SqliteStore::open(dir.file("g.db"),
                                 {.create_if_missing = true, .durability = Durability::kFull});
  ASSERT_TRUE(store.ok()) << store.status().to_string();
  {
    BatchWriter writer(**store, {.batch_size_max = 64});
    ASSERT_TRUE(writer.run([](WriteTxn& t) { return t.put_kv("warm-up", "1", 1); }).ok());
    const int syncs_before = counter.syncs();
    const std::uint64_t batches_before = writer.batches_committed();
    std::atomic<int> ok{0};
    {
      BlockedWriter blocked(writer);
      for (int i = 0; i < kOps; ++i) {
        ASSERT_TRUE(writer
                        .submit([i](WriteTxn& t) { return t.put_kv(fmt::format("k{}", i), "v", i); },
                                [&](const Status& s) { ok += s.ok() ? 1 : 0; })
                        .ok());
      }
      blocked.release();
      EXPECT_TRUE(blocked.outcome().ok());
    }
    writer.stop();
    EXPECT_EQ(ok.load(), kOps);
    // The blocker's batch, then the fifty queued behind it as one.
    EXPECT_EQ(writer.batches_committed() - batches_before, 2u);
    EXPECT_EQ(counter.syncs() - syncs_before, 2);
  }
  store->reset();
}

}  // namespace
}  // namespace warden::store
