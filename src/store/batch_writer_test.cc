// BatchWriter: refusal of a full queue, one log sync per group commit under full durability, and
// the callbacks of independent operations answered off the writer thread.
#include "store/batch_writer.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

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

// A batch whose transaction has to wait to begin (another connection holds the database's
// write lock, as another replica holds the audit chain's lock on PostgreSQL) takes in what
// queued during the wait: one commit for all of it, not one for the first op and one for the
// rest.
TEST(BatchWriter, WhatQueuesWhileABatchBeginsJoinsIt) {
  TempDir dir;
  auto store = SqliteStore::open(dir.file("b.db"), {.create_if_missing = true});
  ASSERT_TRUE(store.ok()) << store.status().to_string();
  auto other = SqliteStore::open(dir.file("b.db"), {});
  ASSERT_TRUE(other.ok()) << other.status().to_string();
  std::promise<void> holding;
  std::promise<void> release;
  std::thread holder([&] {
    // Another writer of the same file: holds its write lock until released.
    Status s = (*other)->write([&](WriteTxn& t) {
      holding.set_value();
      release.get_future().wait();
      return t.put_kv("other", "1", 1);
    });
    EXPECT_TRUE(s.ok()) << s.to_string();
  });
  holding.get_future().wait();
  {
    BatchWriter writer(**store, {});
    const std::uint64_t batches_before = writer.batches_committed();
    std::atomic<int> ok{0};
    auto put = [&](int i) {
      return writer.submit([i](WriteTxn& t) { return t.put_kv(fmt::format("k{}", i), "v", i); },
                           [&](const Status& s) { ok += s.ok() ? 1 : 0; });
    };
    ASSERT_TRUE(put(0).ok());
    // The writer has taken op 0 and waits in BEGIN for the other writer's lock.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    for (int i = 1; i <= 10; ++i) ASSERT_TRUE(put(i).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    release.set_value();
    holder.join();
    writer.stop();
    EXPECT_EQ(ok.load(), 11);
    EXPECT_EQ(writer.batches_committed() - batches_before, 1u);
  }
  other->reset();
  store->reset();
}

// Independent operations are answered on the completion thread, after their commit, in commit
// order, and the writer does not wait for their callbacks; an operation run alone still starts
// only after every earlier callback returned.
TEST(BatchWriter, IndependentCallbacksRunAfterTheCommitOffTheWriterInOrder) {
  constexpr int kOps = 200;
  TempDir dir;
  auto store = SqliteStore::open(dir.file("i.db"), {.create_if_missing = true});
  ASSERT_TRUE(store.ok()) << store.status().to_string();
  std::thread::id writer_thread;
  BatchWriter writer(**store, {.batch_size_max = 16});
  ASSERT_TRUE(writer
                  .run([&](WriteTxn&) {
                    writer_thread = std::this_thread::get_id();
                    return Status();
                  })
                  .ok());
  std::mutex mu;
  std::vector<int> answered;
  std::atomic<int> off_writer{0}, committed_first{0}, slow_done{0};
  for (int i = 0; i < kOps; ++i) {
    ASSERT_TRUE(writer
                    .submit_independent(
                        [i](WriteTxn& t) { return t.put_kv(fmt::format("k{}", i), "v", i); },
                        [&, i](const Status& s) {
                          EXPECT_TRUE(s.ok()) << s.to_string();
                          if (std::this_thread::get_id() != writer_thread) ++off_writer;
                          auto got = (*store)->get_kv(fmt::format("k{}", i));
                          if (got.ok() && got->has_value()) ++committed_first;
                          if (i % 50 == 0) {
                            std::this_thread::sleep_for(std::chrono::milliseconds(5));
                            ++slow_done;
                          }
                          std::lock_guard lock(mu);
                          answered.push_back(i);
                        })
                    .ok());
  }
  std::promise<int> seen_by_alone;
  ASSERT_TRUE(writer
                  .submit_alone(
                      [&](WriteTxn&) {
                        std::lock_guard lock(mu);
                        seen_by_alone.set_value(static_cast<int>(answered.size()));
                        return Status();
                      },
                      [](const Status& s) { EXPECT_TRUE(s.ok()); })
                  .ok());
  EXPECT_EQ(seen_by_alone.get_future().get(), kOps);
  writer.stop();
  EXPECT_EQ(off_writer.load(), kOps);
  EXPECT_EQ(committed_first.load(), kOps);
  EXPECT_EQ(slow_done.load(), kOps / 50);
  std::vector<int> expected(kOps);
  for (int i = 0; i < kOps; ++i) expected[i] = i;
  EXPECT_EQ(answered, expected);
}

// stop() answers every queued independent operation before it returns.
TEST(BatchWriter, StopAnswersEveryIndependentOperation) {
  TempDir dir;
  auto store = SqliteStore::open(dir.file("s.db"), {.create_if_missing = true});
  ASSERT_TRUE(store.ok()) << store.status().to_string();
  std::atomic<int> answered{0};
  {
    BatchWriter writer(**store, {.batch_size_max = 4});
    BlockedWriter blocked(writer);
    for (int i = 0; i < 40; ++i) {
      ASSERT_TRUE(writer
                      .submit_independent([](WriteTxn& t) { return t.put_kv("k", "v", 1); },
                                          [&](const Status& s) { answered += s.ok() ? 1 : 0; })
                      .ok());
    }
    blocked.release();
    writer.stop();
    EXPECT_EQ(answered.load(), 40);
  }
  EXPECT_EQ(answered.load(), 40);
}

}  // namespace
}  // namespace warden::store
