// The route work that may wait on a driver, off the I/O threads.
#include "server/blocking_runner.h"

#include "core/thread_name.h"

namespace warden::server {

BlockingRunner::BlockingRunner(std::size_t threads, std::size_t queue_max) : queue_max_(queue_max) {
  for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { loop(); });
}

BlockingRunner::~BlockingRunner() { stop(); }

Status BlockingRunner::post(std::function<void()> job) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return Status(ErrorCode::INTERNAL_SHUTTING_DOWN);
    if (jobs_.size() >= queue_max_) {
      return Status(ErrorCode::SERVER_OVERLOADED, "too many driver calls waiting");
    }
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
  return Status();
}

void BlockingRunner::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void BlockingRunner::loop() {
  name_this_thread("warden-adrive");
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
    if (jobs_.empty()) return;  // stopping, and nothing left
    std::function<void()> job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    job();
    lock.lock();
  }
}

}  // namespace warden::server
