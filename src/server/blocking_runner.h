// Runs route work that waits on an automation driver (a plugin's dry-run or inventory listing
// may take up to its timeout) on a few threads of its own, so the I/O threads keep serving.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "core/status.h"

namespace warden::server {

// Thread-safe.
class BlockingRunner {
 public:
  BlockingRunner(std::size_t threads, std::size_t queue_max);
  ~BlockingRunner();  // stop()
  BlockingRunner(const BlockingRunner&) = delete;
  BlockingRunner& operator=(const BlockingRunner&) = delete;

  // Queues `job`: SERVER_OVERLOADED when queue_max jobs are waiting, INTERNAL_SHUTTING_DOWN
  // after stop().
  Status post(std::function<void()> job);
  // Runs what is queued, then joins the threads.
  void stop();

 private:
  void loop();

  const std::size_t queue_max_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;  // guarded by mu_
  bool stopping_ = false;                   // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace warden::server
