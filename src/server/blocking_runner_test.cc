// The runner of driver-bound route work: jobs run off the caller's thread, the queue is bounded
// (refused, not dropped), and stop() finishes what was queued.
#include "server/blocking_runner.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

namespace warden::server {
namespace {

TEST(BlockingRunner, RunsJobsOffTheCallersThreadRefusesPastItsQueueAndFinishesOnStop) {
  BlockingRunner runner(1, 2);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<std::thread::id> ran_on;
  // The one thread is held by the first job; two more fill the queue.
  ASSERT_TRUE(runner
                  .post([&] {
                    ran_on.set_value(std::this_thread::get_id());
                    released.wait();
                  })
                  .ok());
  auto first_thread = ran_on.get_future();
  ASSERT_EQ(first_thread.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_NE(first_thread.get(), std::this_thread::get_id());
  std::atomic<int> done{0};
  ASSERT_TRUE(runner.post([&] { ++done; }).ok());
  ASSERT_TRUE(runner.post([&] { ++done; }).ok());
  const Status full = runner.post([&] { ++done; });
  EXPECT_EQ(full.code(), ErrorCode::SERVER_OVERLOADED);
  release.set_value();
  runner.stop();
  EXPECT_EQ(done.load(), 2);
  EXPECT_EQ(runner.post([] {}).code(), ErrorCode::INTERNAL_SHUTTING_DOWN);
}

}  // namespace
}  // namespace warden::server
