// HostQueues: a ready list of hosts with queued work and none running; a worker takes the first
// such host's oldest piece, so no host runs two at once and no host starves behind a busy one.
#include "automation/host_queues.h"

#include <algorithm>

#include "core/thread_name.h"

namespace warden::automation {

HostQueues::HostQueues(std::size_t concurrency_max, std::size_t pending_max)
    : pending_max_(std::max<std::size_t>(pending_max, 1)) {
  const std::size_t n = std::max<std::size_t>(concurrency_max, 1);
  workers_.reserve(n);
  for (std::size_t i = 0; i < n; ++i) workers_.emplace_back([this] { worker(); });
}

HostQueues::~HostQueues() { stop(); }

Status HostQueues::submit(const std::string& host, std::function<void()> work) {
  std::unique_lock lock(mu_);
  space_cv_.wait(lock, [&] { return stopping_ || pending_ < pending_max_; });
  if (stopping_) return Status(ErrorCode::INTERNAL_SHUTTING_DOWN, "automation engine stopping");
  auto& q = queues_[host];
  q.push_back(std::move(work));
  ++pending_;
  if (q.size() == 1 && !busy_[host]) {
    ready_.push_back(host);
    work_cv_.notify_one();
  }
  return Status();
}

void HostQueues::worker() {
  name_this_thread("warden-aexec");
  std::unique_lock lock(mu_);
  for (;;) {
    work_cv_.wait(lock, [&] { return !ready_.empty() || (stopping_ && pending_ == 0); });
    if (ready_.empty()) return;
    const std::string host = std::move(ready_.front());
    ready_.pop_front();
    auto& q = queues_[host];
    std::function<void()> work = std::move(q.front());
    q.pop_front();
    busy_[host] = true;
    --pending_;
    ++running_;
    running_max_seen_ = std::max(running_max_seen_, running_);
    space_cv_.notify_one();
    lock.unlock();
    work();
    work = nullptr;  // destroyed outside the lock: it may own what it captured
    lock.lock();
    --running_;
    busy_[host] = false;
    auto it = queues_.find(host);
    if (!it->second.empty()) {
      ready_.push_back(host);
      work_cv_.notify_one();
    } else {
      // Hosts come and go with targets; keep only those with work.
      queues_.erase(it);
      busy_.erase(host);
    }
    if (pending_ == 0 && running_ == 0) {
      idle_cv_.notify_all();
      if (stopping_) work_cv_.notify_all();
    }
  }
}

void HostQueues::wait_idle() {
  std::unique_lock lock(mu_);
  idle_cv_.wait(lock, [&] { return pending_ == 0 && running_ == 0; });
}

void HostQueues::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && workers_.empty()) return;
    stopping_ = true;
  }
  work_cv_.notify_all();
  space_cv_.notify_all();
  for (auto& t : workers_) {
    if (t.joinable()) t.join();
  }
  std::lock_guard lock(mu_);
  workers_.clear();
}

std::size_t HostQueues::running() const {
  std::lock_guard lock(mu_);
  return running_;
}

std::size_t HostQueues::running_max_seen() const {
  std::lock_guard lock(mu_);
  return running_max_seen_;
}

}  // namespace warden::automation
