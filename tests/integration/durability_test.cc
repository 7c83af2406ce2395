// Process lifecycle: SIGTERM drains in-flight requests, closes idle connections, checkpoints
// and exits 0; kill -9 under concurrent writes loses no acknowledged write and leaves an audit
// chain that verifies.
#include <sys/stat.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>

#include "support/fixture.h"

namespace warden::testing {
namespace {

namespace json = boost::json;

constexpr int kShutdownTimeoutMs = 10000;

using ShutdownTest = WardenTest;

TEST_F(ShutdownTest, SigtermExitsZeroClosesIdleConnectionsAndCheckpoints) {
  Response created = master("POST", "/v1/policies", spending_policy_body(31337));
  ASSERT_EQ(created.status, 201) << created.describe();
  const std::string id = str_at(created.json(), "id");
  ASSERT_TRUE(client_->connected());  // an idle keep-alive connection

  const auto start = std::chrono::steady_clock::now();
  warden_->sigterm();
  EXPECT_TRUE(client_->wait_closed(kShutdownTimeoutMs)) << "idle keep-alive left open";
  std::optional<int> code = warden_->wait_exit(kShutdownTimeoutMs);
  ASSERT_TRUE(code.has_value()) << "still running 10 s after SIGTERM";
  EXPECT_EQ(*code, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));

  // A checkpointed WAL is empty or gone.
  const std::string db = warden_->database_path();
  ASSERT_FALSE(db.empty()) << "no database file in " << warden_->data_dir();
  std::error_code ec;
  const auto wal_bytes = std::filesystem::file_size(db + "-wal", ec);
  if (!ec) {
    EXPECT_EQ(wal_bytes, 0u) << "WAL not checkpointed";
  }

  ASSERT_TRUE(warden_->restart()) << warden_->error();
  HttpClient again(warden_->port());
  Response got = again.request("GET", "/v1/policies/" + id, {}, master_headers());
  EXPECT_EQ(got.status, 200) << got.describe();
}

TEST_F(ShutdownTest, SigtermFinishesARequestWhoseBodyIsStillArriving) {
  const std::string body = R"({"name":"in-flight-agent"})";
  const std::string head = std::string("POST /v1/agents HTTP/1.1\r\n") + "Host: 127.0.0.1\r\n" +
                           "Content-Type: application/json\r\n" +
                           "X-Master-Password: " + kTestMasterPassword + "\r\n" +
                           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  HttpClient raw(warden_->port());
  // One full exchange first proves the daemon has accepted and is serving this connection.
  ASSERT_EQ(raw.request("GET", "/healthz").status, 200);
  ASSERT_TRUE(raw.send_raw(head + body.substr(0, 10)));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the daemon has the headers

  warden_->sigterm();
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_FALSE(warden_->wait_exit(0).has_value()) << "exited with a request in flight";
  // No new connections once shutting down (refused, or answered 503 at most).
  HttpClient late(warden_->port(), 2000);
  Response refused = late.request("GET", "/healthz");
  EXPECT_TRUE(refused.status == 0 || refused.status == 503) << refused.describe();

  ASSERT_TRUE(raw.send_raw(body.substr(10)));
  Response r = raw.read_response();
  ASSERT_EQ(r.status, 201) << r.describe();
  const std::string agent_id = str_at(r.json(), "id");
  EXPECT_EQ(str_at(r.json(), "name"), "in-flight-agent");

  std::optional<int> code = warden_->wait_exit(kShutdownTimeoutMs);
  ASSERT_TRUE(code.has_value()) << "still running 10 s after SIGTERM";
  EXPECT_EQ(*code, 0);

  ASSERT_TRUE(warden_->restart()) << warden_->error();
  HttpClient again(warden_->port());
  Response got = again.request("GET", "/v1/agents/" + agent_id, {}, master_headers());
  EXPECT_EQ(got.status, 200) << got.describe();
}

// warden.addr announces a daemon that is ready, so SIGTERM must already be handled then.
TEST_F(ShutdownTest, SigtermRightAfterStartupExitsZero) {
  constexpr int kRounds = 5;
  for (int round = 0; round < kRounds; ++round) {
    if (round > 0) {
      ASSERT_TRUE(warden_->restart()) << warden_->error();
    }
    warden_->sigterm();
    std::optional<int> code = warden_->wait_exit(kShutdownTimeoutMs);
    ASSERT_TRUE(code.has_value()) << "round " << round;
    EXPECT_EQ(*code, 0) << "round " << round << " (143 = killed by the signal itself)";
  }
}

TEST_F(ShutdownTest, SigintAlsoExitsZero) {
  ASSERT_EQ(client_->request("GET", "/healthz").status, 200);
  kill(warden_->pid(), SIGINT);
  std::optional<int> code = warden_->wait_exit(kShutdownTimeoutMs);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0);
}

TEST_F(ShutdownTest, RestartAppliesNoMigrationTwiceAndKeepsData) {
  const std::string agent_id = new_agent("survivor");
  ASSERT_FALSE(agent_id.empty());
  warden_->sigterm();
  ASSERT_EQ(warden_->wait_exit(kShutdownTimeoutMs), 0);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(warden_->restart()) << warden_->error();
    HttpClient c(warden_->port());
    EXPECT_EQ(c.request("GET", "/readyz").status, 200);
    EXPECT_EQ(c.request("GET", "/v1/agents/" + agent_id, {}, master_headers()).status, 200);
    auto agents = list_all(c, "/v1/agents");
    ASSERT_TRUE(agents.has_value());
    EXPECT_EQ(agents->size(), 1u);
    warden_->sigterm();
    ASSERT_EQ(warden_->wait_exit(kShutdownTimeoutMs), 0);
  }
}

// What a load thread got acknowledged before the daemon died.
struct Acked {
  std::mutex mu;
  std::vector<std::string> policy_ids;
  std::vector<std::string> agent_ids;
  std::size_t total() {
    std::lock_guard<std::mutex> lock(mu);
    return policy_ids.size() + agent_ids.size();
  }
};

void load_thread(std::uint16_t port, int thread_index, std::atomic<bool>& stop, Acked& acked) {
  constexpr int kRequestsPerThreadMax = 100000;
  HttpClient c(port, 5000);
  for (int i = 0; i < kRequestsPerThreadMax && !stop.load(); ++i) {
    const bool policy = thread_index % 2 == 0;
    Response r;
    if (policy) {
      const std::uint64_t instant_max = 1 + thread_index * 1000000ull + i;
      r = c.request("POST", "/v1/policies", spending_policy_body(instant_max), master_headers());
    } else {
      r = create_agent(c, "load-" + std::to_string(thread_index) + "-" + std::to_string(i));
    }
    if (r.status == 0) return;  // the daemon is gone
    if (r.status != 201) continue;
    std::lock_guard<std::mutex> lock(acked.mu);
    (policy ? acked.policy_ids : acked.agent_ids).push_back(str_at(r.json(), "id"));
  }
}

TEST_F(ShutdownTest, Kill9UnderLoadLosesNoAcknowledgedWrite) {
  constexpr int kThreads = 8;
  constexpr std::size_t kAckedBeforeKillMin = 200;
  constexpr int kLoadWaitMs = 20000;
  Acked acked;
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back(load_thread, warden_->port(), t, std::ref(stop), std::ref(acked));
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kLoadWaitMs);
  while (acked.total() < kAckedBeforeKillMin && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  warden_->kill9();  // while the threads are still writing
  ASSERT_TRUE(warden_->wait_exit(5000).has_value());
  stop = true;
  for (auto& th : threads) th.join();
  ASSERT_GE(acked.total(), kAckedBeforeKillMin) << "load too slow to test anything";
  RecordProperty("acknowledged_writes", static_cast<int>(acked.total()));

  ASSERT_TRUE(warden_->restart()) << warden_->error();
  HttpClient c(warden_->port());
  std::size_t missing = 0;
  for (const auto& id : acked.policy_ids) {
    Response r = c.request("GET", "/v1/policies/" + id, {}, master_headers());
    if (r.status != 200) ++missing;
    EXPECT_EQ(r.status, 200) << "acknowledged policy lost: " << id << " " << r.describe();
  }
  for (const auto& id : acked.agent_ids) {
    Response r = c.request("GET", "/v1/agents/" + id, {}, master_headers());
    if (r.status != 200) ++missing;
    EXPECT_EQ(r.status, 200) << "acknowledged agent lost: " << id << " " << r.describe();
  }
  EXPECT_EQ(missing, 0u) << "of " << acked.total() << " acknowledged writes";
  auto rows = audit_all(c);
  ASSERT_TRUE(rows.has_value());
  EXPECT_GE(rows->size(), acked.total()) << "each acknowledged write has its audit row";

  warden_->sigterm();
  ASSERT_EQ(warden_->wait_exit(kShutdownTimeoutMs), 0);
  CliResult verify = warden_->cli({"audit", "verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.output();
  EXPECT_NE(verify.stdout_text.find("ok: " + std::to_string(rows->size()) + " rows"),
            std::string::npos)
      << verify.output();
}

}  // namespace
}  // namespace warden::testing
