// /readyz against a store that cannot write. The daemon's file-size limit is lowered to 0 from
// outside (prlimit(2), as `prlimit --fsize=0 --pid` does), so every write to its files fails as on
// a full disk; unlike file permissions this also holds for root. Raising it again is the disk
// being freed.
#include <sys/resource.h>

#include <chrono>
#include <thread>

#include "support/fixture.h"

namespace warden::testing {
namespace {

constexpr int kReadyWaitMs = 10000;

class ReadinessTest : public WardenTest {
 protected:
  void TearDown() override {
    if (limited_) set_soft_limit(saved_.rlim_cur);
    WardenTest::TearDown();
  }

  void fill_disk() {
    ASSERT_EQ(prlimit(warden_->pid(), RLIMIT_FSIZE, nullptr, &saved_), 0);
    limited_ = true;
    ASSERT_TRUE(set_soft_limit(0));
  }
  void free_disk() {
    ASSERT_TRUE(set_soft_limit(saved_.rlim_cur));
    limited_ = false;
  }

  // GET /readyz until it answers `status` (at most kReadyWaitMs); the last answer.
  Response readyz_until(int status) {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(kReadyWaitMs);
    Response r = client_->request("GET", "/readyz");
    while (r.status != status && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      r = client_->request("GET", "/readyz");
    }
    return r;
  }

 private:
  bool set_soft_limit(rlim_t soft) {
    rlimit limit = saved_;
    limit.rlim_cur = soft;
    return prlimit(warden_->pid(), RLIMIT_FSIZE, &limit, nullptr) == 0;
  }
  rlimit saved_{};
  bool limited_ = false;
};

void expect_not_ready_because_it_cannot_write(const Response& r) {
  EXPECT_EQ(r.status, 503) << r.describe();
  EXPECT_EQ(str_at(r.json(), "status"), "not_ready") << r.describe();
  EXPECT_EQ(str_at(r.json(), "reason").rfind("the store cannot write: ", 0), 0u) << r.describe();
}

// A write refused by the disk makes the daemon not ready at once; freeing the disk makes it
// ready again without any other request writing.
TEST_F(ReadinessTest, AFailedWriteMakesItNotReadyUntilTheDiskTakesWritesAgain) {
  ASSERT_EQ(client_->request("GET", "/readyz").status, 200);
  fill_disk();
  Response refused = create_agent(*client_, "while-full");
  EXPECT_EQ(refused.status, 500) << refused.describe();
  expect_not_ready_because_it_cannot_write(client_->request("GET", "/readyz"));
  free_disk();
  Response ready = readyz_until(200);
  EXPECT_EQ(ready.status, 200) << ready.describe();
  EXPECT_EQ(str_at(ready.json(), "status"), "ready");
  EXPECT_EQ(create_agent(*client_, "after-full").status, 201);
}

// Nothing is written while the disk fills: the write probe behind /readyz finds it.
TEST_F(ReadinessTest, AnIdleDaemonNoticesByItselfThatItCannotWrite) {
  ASSERT_EQ(client_->request("GET", "/readyz").status, 200);
  fill_disk();
  expect_not_ready_because_it_cannot_write(readyz_until(503));
  free_disk();
  EXPECT_EQ(readyz_until(200).status, 200);
}

}  // namespace
}  // namespace warden::testing
