// The group-commit writer thread.
#include "store/batch_writer.h"

#include <chrono>
#include <future>
#include <vector>
#include <string>

#include "core/thread_name.h"

namespace warden::store {

namespace {
// Batches whose independent callbacks may wait for the completion thread.
constexpr std::size_t kCompletionSetsMax = 16;
}  // namespace

// The threads start once every member exists.
BatchWriter::BatchWriter(Store& store, BatchOptions options) : store_(store), options_(options) {
  completer_ = std::thread([this] {
    name_this_thread("warden-complete");
    complete_loop();
  });
  thread_ = std::thread([this] {
    name_this_thread("warden-writer");
    loop();
    std::lock_guard lock(completions_mu_);
    writer_done_ = true;
    completions_cv_.notify_all();
  });
}

BatchWriter::~BatchWriter() { stop(); }

void BatchWriter::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  // From a callback (on either thread) the threads cannot be joined; the owner's stop() (the
  // destructor at the latest) joins them.
  const auto me = std::this_thread::get_id();
  if (me == thread_.get_id() || me == completer_.get_id()) return;
  if (thread_.joinable()) thread_.join();
  if (completer_.joinable()) completer_.join();  // it ends once the writer ended and it drained
}

Status BatchWriter::submit(Op op, Done done) {
  return enqueue({std::move(op), std::move(done), Kind::kOrdered});
}

Status BatchWriter::submit_independent(Op op, Done done) {
  return enqueue({std::move(op), std::move(done), Kind::kIndependent});
}

Status BatchWriter::submit_alone(Op op, Done done) {
  return enqueue({std::move(op), std::move(done), Kind::kAlone});
}

Status BatchWriter::enqueue(Item item) {
  bool wake;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return Status(ErrorCode::INTERNAL_SHUTTING_DOWN);
    if (queue_.size() >= options_.queue_max) {
      return Status(ErrorCode::SERVER_OVERLOADED, "the write queue is full (" +
                                                      std::to_string(options_.queue_max) +
                                                      " operations waiting); retry later");
    }
    queue_.push_back(std::move(item));
    // The writer only needs waking for the first item (it sleeps on an empty queue) and when a
    // batch fills up; in between it is gathering a batch and would just go back to sleep.
    wake = queue_.size() == 1 || queue_.size() == options_.batch_size_max;
  }
  if (wake) cv_.notify_one();
  return Status();
}

Status BatchWriter::run(Op op) {
  std::promise<Status> promise;
  auto future = promise.get_future();
  WARDEN_RETURN_IF_ERROR(submit(std::move(op), [&promise](const Status& s) { promise.set_value(s); }));
  return future.get();
}

std::uint64_t BatchWriter::batches_committed() const { return batches_.load(); }

void BatchWriter::loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping and drained
    // Give concurrent writers a moment to join this batch, but only when there are concurrent
    // writers: after a batch of one, waiting would only add latency.
    if (queue_.size() < options_.batch_size_max && !stopping_ && last_batch_size_ > 1) {
      cv_.wait_for(lock, std::chrono::microseconds(options_.batch_wait_us),
                   [this] { return stopping_ || queue_.size() >= options_.batch_size_max; });
    }
    std::deque<Item> batch;
    const std::size_t n = std::min(queue_.size(), options_.batch_size_max);
    for (std::size_t i = 0; i < n; ++i) {
      // An op that runs alone ends the batch before it, or is the whole batch.
      if (queue_.front().kind == Kind::kAlone && !batch.empty()) break;
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
      if (batch.back().kind == Kind::kAlone) break;
    }
    last_batch_size_ = batch.size();
    lock.unlock();
    if (batch.front().kind == Kind::kAlone) wait_for_completions();
    commit(batch);
    lock.lock();
  }
}

// Once the transaction has begun, operations that queued meanwhile join the batch. Beginning
// may wait: on a store several replicas write, BEGIN takes a lock another replica holds until
// its commit, and what arrived during that wait would otherwise make a batch of its own (one
// more commit, one more log flush) after this one. An op that runs alone, and what queued
// after it, stay queued.
void BatchWriter::top_up(std::deque<Item>& batch) {
  if (batch.empty() || batch.front().kind == Kind::kAlone) return;
  std::lock_guard lock(mu_);
  while (!queue_.empty() && batch.size() < options_.batch_size_max &&
         queue_.front().kind != Kind::kAlone) {
    batch.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  last_batch_size_ = batch.size();
}

void BatchWriter::finish(Item& item, Status outcome, Completions& later) {
  if (item.kind != Kind::kIndependent) return item.done(outcome);
  later.items.push_back(std::move(item));
  later.outcomes.push_back(std::move(outcome));
}

void BatchWriter::commit(std::deque<Item>& batch) {
  // Most batches have no failing op: they run without savepoints. When one fails, the whole
  // transaction rolls back and the batch runs once more, each op in a savepoint, so that the
  // failure undoes only its own op.
  bool logical_failure = false;
  Status s = store_.write([&](WriteTxn& tx) {
    top_up(batch);
    for (auto& item : batch) {
      if (Status op = item.op(tx); !op.ok()) {
        logical_failure = true;
        return op;
      }
    }
    return Status();
  });
  batches_.fetch_add(1);
  Completions later;
  if (s.ok()) {
    for (auto& item : batch) finish(item, s, later);
    return hand_over(std::move(later));
  }
  if (logical_failure) {
    std::vector<Status> outcomes(batch.size());
    s = store_.write([&](WriteTxn& tx) {
      for (std::size_t i = 0; i < batch.size(); ++i) outcomes[i] = tx.nested(batch[i].op);
      return Status();
    });
    if (s.ok()) {
      for (std::size_t i = 0; i < batch.size(); ++i) finish(batch[i], outcomes[i], later);
      return hand_over(std::move(later));
    }
  }
  // The commit itself failed (storage): nothing of the batch is on disk. Run each op alone so
  // each reports its own outcome and one bad op cannot fail the others.
  for (auto& item : batch) {
    finish(item, batch.size() == 1 ? s : store_.write([&](WriteTxn& tx) { return item.op(tx); }),
           later);
  }
  hand_over(std::move(later));
}

void BatchWriter::hand_over(Completions later) {
  if (later.items.empty()) return;
  std::unique_lock lock(completions_mu_);
  // A completion thread that falls this far behind holds the writer back rather than let
  // answered-later work pile up without bound.
  completions_cv_.wait(lock, [this] { return completions_.size() < kCompletionSetsMax; });
  completions_.push_back(std::move(later));
  completions_cv_.notify_all();
}

void BatchWriter::wait_for_completions() {
  std::unique_lock lock(completions_mu_);
  completions_cv_.wait(lock, [this] { return completions_.empty() && !completing_; });
}

void BatchWriter::complete_loop() {
  std::unique_lock lock(completions_mu_);
  for (;;) {
    completions_cv_.wait(lock, [this] { return writer_done_ || !completions_.empty(); });
    if (completions_.empty()) return;  // the writer ended and everything was answered
    Completions set = std::move(completions_.front());
    completions_.pop_front();
    completing_ = true;
    completions_cv_.notify_all();  // room for the writer
    lock.unlock();
    for (std::size_t i = 0; i < set.items.size(); ++i) set.items[i].done(set.outcomes[i]);
    set = Completions();  // the items go here, not on the writer
    lock.lock();
    completing_ = false;
    completions_cv_.notify_all();  // a writer waiting to run an op alone
  }
}

}  // namespace warden::store
