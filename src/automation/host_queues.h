// Per-host single-flight with a global cap: work for one host runs one at a time in submission
// order (a FIFO per host), and at most `concurrency_max` pieces of work run at once across all
// hosts. Internal to the engine (engine.h).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"

namespace warden::automation {

// Thread-safe. The workers are the cap: concurrency_max threads, each taking the oldest work of
// a host that has none running.
class HostQueues {
 public:
  HostQueues(std::size_t concurrency_max, std::size_t pending_max);
  ~HostQueues();  // stop()
  HostQueues(const HostQueues&) = delete;
  HostQueues& operator=(const HostQueues&) = delete;

  // Queues work for `host`. Waits while pending_max pieces are already queued (backpressure on
  // the caller, which is the engine's matcher, whose own intake queue is bounded and refuses).
  // INTERNAL_SHUTTING_DOWN after stop().
  Status submit(const std::string& host, std::function<void()> work);
  // Returns once nothing is queued or running.
  void wait_idle();
  // Runs what is queued, then joins the workers.
  void stop();

  std::size_t running() const;
  std::size_t running_max_seen() const;  // the most that ever ran at once

 private:
  void worker();

  const std::size_t pending_max_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_;   // a host became ready, or stopping
  std::condition_variable space_cv_;  // a queued piece started
  std::condition_variable idle_cv_;   // nothing queued nor running
  // Guarded by mu_. A host is in ready_ exactly when it has queued work and none running.
  std::map<std::string, std::deque<std::function<void()>>> queues_;
  std::map<std::string, bool> busy_;
  std::deque<std::string> ready_;
  std::size_t pending_ = 0;
  std::size_t running_ = 0;
  std::size_t running_max_seen_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace warden::automation
