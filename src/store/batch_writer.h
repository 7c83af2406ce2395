// Group commit: many writers' operations run in one store transaction per batch, so a burst of
// decisions costs one WAL commit (one fsync under full durability) instead of one each. A caller
// learns its outcome only after its batch committed.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "store/store.h"

namespace warden::store {

struct BatchOptions {
  // Operations per transaction. Under full durability every batch waits for one fsync, so a
  // writer that always has work (many operations in flight) commits more per second with larger
  // batches: 4,096 measured ~15% more durable ledger debits/s than 512 (docs/benchmarks.md,
  // "Credit ledger (in process)"). A batch is only ever what has queued, so this does not delay
  // a lone operation.
  std::size_t batch_size_max = 4096;
  // How long a non-full batch waits for company, only after a batch of more than one. 0: a
  // batch is whatever queued while the previous one committed (and, once its transaction has
  // begun, what queued while it began), which with commits that did not fsync
  // (synchronous=NORMAL) measured faster than waiting (docs/benchmarks.md).
  std::int64_t batch_wait_us = 0;
  std::size_t queue_max = 65'536;    // submissions beyond this are refused
};

// Thread-safe. One writer thread runs the batches; `done` callbacks run on it, after commit, so
// they must be quick (post the response elsewhere). The callbacks of independent operations
// (submit_independent) run on a second thread, so the writer goes on with the next batch.
class BatchWriter {
 public:
  using Op = std::function<Status(WriteTxn&)>;
  using Done = std::function<void(const Status&)>;

  BatchWriter(Store& store, BatchOptions options);
  ~BatchWriter();  // finishes everything queued, then stops

  // Queues op. Refused with INTERNAL_SHUTTING_DOWN after stop(), and with SERVER_OVERLOADED
  // when queue_max operations are already waiting (the caller may retry later). An op that
  // fails is undone alone and the rest of its batch commits (the batch runs again with each op
  // in a savepoint); only a failed commit (storage) fails the batch, whose ops then run one by
  // one. An op may therefore run more than once: it captures its inputs by value.
  Status submit(Op op, Done done);
  // submit() for an operation that no later one depends on: nothing its `done` does (nor the
  // destruction of `op` and `done`) changes what a later operation reads when it runs. Its
  // `done` runs after its commit, in commit order among independent operations, on the
  // completion thread, possibly while later batches run; it must not wait for the writer.
  Status submit_independent(Op op, Done done);
  // Queues op to run in a batch of its own: every earlier batch has committed and run its
  // `done` callbacks (independent ones too) before it starts, and no later one starts before its
  // `done` returns (for work that must see the store and the callbacks' in-memory effects
  // agree).
  Status submit_alone(Op op, Done done);
  // Runs op in the next batch and waits for its commit.
  Status run(Op op);
  void stop();

  std::uint64_t batches_committed() const;

 private:
  enum class Kind : std::uint8_t { kOrdered, kIndependent, kAlone };
  struct Item {
    Op op;
    Done done;
    Kind kind = Kind::kOrdered;
  };
  // Independent items of one batch with their outcomes, for the completion thread.
  struct Completions {
    std::vector<Item> items;
    std::vector<Status> outcomes;
  };
  Status enqueue(Item item);
  void loop();
  void commit(std::deque<Item>& batch);
  // Inside the batch's transaction, before its ops run: adds what queued since it was formed.
  void top_up(std::deque<Item>& batch);
  // Answers `item` with `outcome`: at once when it is ordered, else through `later`.
  static void finish(Item& item, Status outcome, Completions& later);
  void hand_over(Completions later);
  void wait_for_completions();
  void complete_loop();

  Store& store_;
  const BatchOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;        // guarded by mu_
  bool stopping_ = false;         // guarded by mu_
  // Batches run, counted when a batch's transaction has ended and before its callbacks run.
  std::atomic<std::uint64_t> batches_{0};
  std::size_t last_batch_size_ = 0;  // guarded by mu_
  std::thread thread_;

  std::mutex completions_mu_;
  std::condition_variable completions_cv_;
  std::deque<Completions> completions_;  // guarded by completions_mu_
  bool completing_ = false;              // a set is being answered; guarded by completions_mu_
  bool writer_done_ = false;             // the writer thread ended; guarded by completions_mu_
  std::thread completer_;
};

}  // namespace warden::store
