// HostQueues with fake work: one piece at a time per host, in submission order, never more than
// the cap at once, nothing lost.
#include "automation/host_queues.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace warden::automation {
namespace {

TEST(HostQueuesTest, OneAtATimePerHostInOrderUnderTheCap) {
  constexpr std::size_t kCap = 3;
  constexpr int kHosts = 6;
  constexpr int kPerThread = 200;
  constexpr int kThreads = 8;
  HostQueues q(kCap, 64);
  std::mutex mu;
  std::map<std::string, int> running_per_host;
  std::map<std::string, std::vector<int>> order;  // per host, the sequence numbers run
  std::atomic<int> running{0};
  std::atomic<int> running_max{0};
  std::atomic<int> overlaps{0};
  std::atomic<int> done{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string host = "h" + std::to_string((t + i) % kHosts);
        const int seq = t * 100'000 + i;
        ASSERT_TRUE(q.submit(host, [&, host, seq] {
                       {
                         std::lock_guard lock(mu);
                         if (++running_per_host[host] > 1) ++overlaps;
                         order[host].push_back(seq);
                       }
                       const int now = ++running;
                       int seen = running_max.load();
                       while (now > seen && !running_max.compare_exchange_weak(seen, now)) {
                       }
                       std::this_thread::sleep_for(std::chrono::microseconds(50));
                       --running;
                       {
                         std::lock_guard lock(mu);
                         --running_per_host[host];
                       }
                       ++done;
                     }).ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  q.wait_idle();
  EXPECT_EQ(done.load(), kThreads * kPerThread);
  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_LE(running_max.load(), static_cast<int>(kCap));
  EXPECT_GE(running_max.load(), 2);  // hosts do run side by side
  EXPECT_EQ(q.running_max_seen(), static_cast<std::size_t>(running_max.load()));
  // Per host, each submitting thread's pieces ran in the order that thread queued them.
  for (const auto& [host, seqs] : order) {
    std::map<int, int> last;
    for (int seq : seqs) {
      const int thread = seq / 100'000;
      auto it = last.find(thread);
      if (it != last.end()) EXPECT_LT(it->second, seq) << host;
      last[thread] = seq;
    }
  }
}

TEST(HostQueuesTest, ABusyHostDoesNotHoldUpOthers) {
  HostQueues q(2, 16);
  std::atomic<bool> release{false};
  std::atomic<int> fast_done{0};
  ASSERT_TRUE(q.submit("slow", [&] {
                 while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
               }).ok());
  ASSERT_TRUE(q.submit("slow", [&] { ++fast_done; }).ok());  // waits behind the first
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(q.submit("fast", [&] { ++fast_done; }).ok());
  for (int i = 0; i < 2000 && fast_done < 10; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(fast_done.load(), 10);  // the second "slow" piece has not run
  release = true;
  q.wait_idle();
  EXPECT_EQ(fast_done.load(), 11);
}

TEST(HostQueuesTest, StopRunsWhatWasQueuedThenRefuses) {
  std::atomic<int> ran{0};
  HostQueues q(1, 100);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(q.submit("h", [&] { ++ran; }).ok());
  q.stop();
  EXPECT_EQ(ran.load(), 50);
  EXPECT_EQ(q.submit("h", [&] { ++ran; }).code(), ErrorCode::INTERNAL_SHUTTING_DOWN);
}

}  // namespace
}  // namespace warden::automation
