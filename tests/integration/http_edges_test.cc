// The HTTP edges a client or an attacker can reach before any route runs: repeated JSON keys,
// repeated credential headers, the Bearer scheme's spelling, a request cut off by the timeout,
// connection caps under a flood of idle connections, and the database file's mode.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/fixture.h"

namespace warden::testing {
namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

void expect_error(const Response& r, int status, const std::string& code) {
  EXPECT_EQ(r.status, status) << r.describe();
  EXPECT_EQ(r.error_code(), code) << r.body;
}

std::string details_string(const Response& r, std::string_view key) {
  return str_at(error_field(r, "details"), key);
}

// --- Repeated JSON keys -----------------------------------------------------------------------

using DuplicateKeyTest = WardenTest;

TEST_F(DuplicateKeyTest, RepeatedTopLevelKeyIs400AndNothingIsCreated) {
  Response r = master("POST", "/v1/agents", R"({"name":"a","name":"b"})");
  expect_error(r, 400, "VALIDATION_DUPLICATE_KEY");
  EXPECT_EQ(details_string(r, "field"), "name") << r.body;
  EXPECT_EQ(details_string(r, "pointer"), "/name") << r.body;
  auto agents = list_all(*client_, "/v1/agents");
  ASSERT_TRUE(agents.has_value());
  EXPECT_TRUE(agents->empty()) << "neither name may have been saved";
}

TEST_F(DuplicateKeyTest, RepeatedNestedKeyIs400NamingItsPointer) {
  // With "last one wins" this policy would be saved with instant_max 99999.
  const std::string body =
      R"({"type":"SPENDING_LIMIT","rules":{"instant_max":"1","notify_max":"5","delay_max":"9",)"
      R"("windows":[{"duration":"24h","max":"100"}],"instant_max":"99999"}})";
  Response r = master("POST", "/v1/policies", body);
  expect_error(r, 400, "VALIDATION_DUPLICATE_KEY");
  EXPECT_EQ(details_string(r, "pointer"), "/rules/instant_max") << r.body;
  auto policies = list_all(*client_, "/v1/policies");
  ASSERT_TRUE(policies.has_value());
  EXPECT_TRUE(policies->empty());

  // Inside an array element too.
  const std::string in_array =
      R"({"type":"SPENDING_LIMIT","rules":{"instant_max":"1","notify_max":"5","delay_max":"9",)"
      R"("windows":[{"duration":"24h","max":"100","max":"100000"}]}})";
  Response arr = master("POST", "/v1/policies", in_array);
  expect_error(arr, 400, "VALIDATION_DUPLICATE_KEY");
  EXPECT_EQ(details_string(arr, "pointer"), "/rules/windows/0/max") << arr.body;
}

TEST_F(DuplicateKeyTest, RepeatedKeyInADecisionsAttributesIs400) {
  const std::string agent_id = new_agent("dup-attrs");
  const std::string token = str_at(new_session(agent_id), "token");
  ASSERT_FALSE(token.empty());
  Response r = client_->request(
      "POST", "/v1/decisions",
      R"({"action":"chat","attributes":{"model":"a","model":"b"},"amounts":{}})",
      bearer_headers(token));
  expect_error(r, 400, "VALIDATION_DUPLICATE_KEY");
  EXPECT_EQ(details_string(r, "pointer"), "/attributes/model") << r.body;
}

// --- Credentials: repeated headers, the Bearer scheme ----------------------------------------

using CredentialHeaderTest = WardenTest;

std::string raw_request(const std::string& method, const std::string& target,
                        const std::vector<std::string>& header_lines, const std::string& body) {
  std::string out = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (const auto& h : header_lines) out += h + "\r\n";
  if (!body.empty()) {
    out += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n";
  }
  return out + "\r\n" + body;
}

TEST_F(CredentialHeaderTest, TwoMasterPasswordHeadersAre400EvenWhenBothAreRight) {
  HttpClient raw(warden_->port());
  const std::string pw = std::string("X-Master-Password: ") + kTestMasterPassword;
  ASSERT_TRUE(raw.send_raw(raw_request("POST", "/v1/agents", {pw, pw}, R"({"name":"twice"})")));
  Response r = raw.read_response();
  expect_error(r, 400, "REQUEST_DUPLICATE_HEADER");
  EXPECT_NE(error_string(r, "message").find("x-master-password"), std::string::npos) << r.body;

  HttpClient mixed(warden_->port());
  ASSERT_TRUE(mixed.send_raw(raw_request(
      "POST", "/v1/agents", {"X-Master-Password: wrong-password", pw}, R"({"name":"mixed"})")));
  expect_error(mixed.read_response(), 400, "REQUEST_DUPLICATE_HEADER");

  auto agents = list_all(*client_, "/v1/agents");
  ASSERT_TRUE(agents.has_value());
  EXPECT_TRUE(agents->empty());
}

TEST_F(CredentialHeaderTest, TwoAuthorizationHeadersAre400) {
  const std::string agent_id = new_agent("two-auth");
  const std::string token = str_at(new_session(agent_id), "token");
  ASSERT_FALSE(token.empty());
  HttpClient raw(warden_->port());
  ASSERT_TRUE(raw.send_raw(raw_request(
      "GET", "/v1/sessions/current",
      {"Authorization: Bearer wdn_someone_elses", "Authorization: Bearer " + token}, "")));
  Response r = raw.read_response();
  expect_error(r, 400, "REQUEST_DUPLICATE_HEADER");
  EXPECT_NE(error_string(r, "message").find("authorization"), std::string::npos) << r.body;
  // One header with the same token is fine.
  EXPECT_EQ(client_->request("GET", "/v1/sessions/current", {}, bearer_headers(token)).status,
            200);
}

TEST_F(CredentialHeaderTest, BearerSchemeIsCaseInsensitive) {
  const std::string agent_id = new_agent("scheme-case");
  const std::string token = str_at(new_session(agent_id), "token");
  ASSERT_FALSE(token.empty());
  for (const std::string scheme : {"Bearer ", "bearer ", "BEARER ", "bEaReR ", "Bearer   "}) {
    Response r = client_->request("GET", "/v1/sessions/current", {},
                                  {{"Authorization", scheme + token}});
    EXPECT_EQ(r.status, 200) << "'" << scheme << "': " << r.describe();
    EXPECT_EQ(str_at(r.json(), "agent_id"), agent_id) << r.body;
  }
  for (const std::string wrong : {"Basic " + token, "Bearer" + token, "Bearerx " + token,
                                  std::string("Bearer ")}) {
    Response r = client_->request("GET", "/v1/sessions/current", {}, {{"Authorization", wrong}});
    EXPECT_EQ(r.status, 401) << "'" << wrong << "': " << r.describe();
  }
}

// --- A request cut off by the timeout gets its 408 --------------------------------------------

class RequestTimeoutTest : public WardenTest {
 protected:
  static constexpr int kTimeoutMs = 400;
  std::vector<std::string> serve_flags() const override {
    return {"--request-timeout-ms", std::to_string(kTimeoutMs)};
  }

  // Sends `bytes` and expects a 408 REQUEST_TIMEOUT about kTimeoutMs later.
  void expect_408_after(const std::string& bytes) {
    constexpr int kWaitMs = 5000;
    HttpClient raw(warden_->port(), kWaitMs);
    const auto start = Clock::now();
    ASSERT_TRUE(raw.send_raw(bytes));
    Response r = raw.read_response();
    const auto waited = Clock::now() - start;
    expect_error(r, 408, "REQUEST_TIMEOUT");
    EXPECT_EQ(r.header("Connection"), "close") << r.describe();
    EXPECT_FALSE(r.header("X-Correlation-Id").empty());
    EXPECT_GE(waited, std::chrono::milliseconds(kTimeoutMs - 50));
    EXPECT_LT(waited, std::chrono::milliseconds(kWaitMs - 1000));
  }
};

TEST_F(RequestTimeoutTest, StalledHeadersGet408ThenClose) {
  expect_408_after("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: ");
}

TEST_F(RequestTimeoutTest, StalledBodyGets408AndNothingIsSaved) {
  expect_408_after(std::string("POST /v1/agents HTTP/1.1\r\nHost: 127.0.0.1\r\n") +
                   "Content-Type: application/json\r\nX-Master-Password: " + kTestMasterPassword +
                   "\r\nContent-Length: 40\r\n\r\n{\"name\":");
  auto agents = list_all(*client_, "/v1/agents");
  ASSERT_TRUE(agents.has_value());
  EXPECT_TRUE(agents->empty());
}

TEST_F(RequestTimeoutTest, IdleKeepAliveConnectionClosesWithoutAResponse) {
  HttpClient c(warden_->port(), 5000);
  ASSERT_EQ(c.request("GET", "/healthz").status, 200);
  ASSERT_TRUE(c.connected());
  // Nothing was started, so nothing is answered: the server just closes.
  EXPECT_TRUE(c.wait_closed(3000));
}

// --- Connection caps --------------------------------------------------------------------------

// A TCP connection to 127.0.0.1:port from `source` (another loopback address), kept open
// without sending anything.
class IdleSocket {
 public:
  IdleSocket(const char* source, std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return;
    sockaddr_in from{};
    from.sin_family = AF_INET;
    ::inet_pton(AF_INET, source, &from.sin_addr);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
        ::connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~IdleSocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  IdleSocket(const IdleSocket&) = delete;
  IdleSocket& operator=(const IdleSocket&) = delete;

  bool ok() const { return fd_ >= 0; }
  bool send(std::string_view bytes) const {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }

  // What the server sent within wait_ms, and whether it then closed (EOF or reset).
  struct Seen {
    std::string bytes;
    bool closed = false;
  };
  Seen read_for(int wait_ms) const {
    Seen seen;
    const auto deadline = Clock::now() + std::chrono::milliseconds(wait_ms);
    char buf[4096];
    while (Clock::now() < deadline) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                              Clock::now());
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(1, left.count()))) <= 0) break;
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        seen.closed = true;
        break;
      }
      seen.bytes.append(buf, static_cast<std::size_t>(n));
    }
    return seen;
  }

 private:
  int fd_ = -1;
};

// Opens `count` idle connections from `source`, one after the other (so the server accepts them
// in this order).
std::vector<std::unique_ptr<IdleSocket>> open_idle(const char* source, std::uint16_t port,
                                                   int count) {
  std::vector<std::unique_ptr<IdleSocket>> out;
  for (int i = 0; i < count; ++i) {
    out.push_back(std::make_unique<IdleSocket>(source, port));
    EXPECT_TRUE(out.back()->ok()) << "connect " << i << " from " << source;
  }
  return out;
}

struct Tally {
  int refused = 0;  // answered 503 SERVER_OVERLOADED, then closed
  int open = 0;     // nothing received, still open
  int other = 0;
};

// Every refusal is written before the acceptor takes the next connection, so once a later
// connection has been answered, a short read of each socket sees all of them.
Tally tally(const std::vector<std::unique_ptr<IdleSocket>>& sockets) {
  Tally t;
  for (const auto& s : sockets) {
    const IdleSocket::Seen seen = s->read_for(s == sockets.front() ? 300 : 20);
    if (seen.closed && seen.bytes.rfind("HTTP/1.1 503 ", 0) == 0 &&
        seen.bytes.find("\"SERVER_OVERLOADED\"") != std::string::npos &&
        seen.bytes.find("Retry-After: ") != std::string::npos) {
      ++t.refused;
    } else if (!seen.closed && seen.bytes.empty()) {
      ++t.open;
    } else {
      ++t.other;
    }
  }
  return t;
}

class PerClientCapTest : public WardenTest {
 protected:
  static constexpr int kPerClientMax = 100;
  // Long enough that no idle connection times out during the test.
  std::vector<std::string> serve_flags() const override {
    return {"--connections-per-client-max", std::to_string(kPerClientMax), "--request-timeout-ms",
            "60000"};
  }
};

TEST_F(PerClientCapTest, IdleFloodFromOneAddressLeavesOthersServed) {
  constexpr int kFlood = 300;
  auto flood = open_idle("127.0.0.2", warden_->port(), kFlood);
  // Another client (127.0.0.1) is answered at once, correctly.
  const auto start = Clock::now();
  Response health = client_->request("GET", "/healthz");
  const auto took = Clock::now() - start;
  EXPECT_EQ(health.status, 200) << health.describe();
  EXPECT_EQ(str_at(health.json(), "status"), "ok") << health.body;
  EXPECT_LT(took, std::chrono::milliseconds(1000));

  const Tally t = tally(flood);
  EXPECT_EQ(t.open, kPerClientMax);
  EXPECT_EQ(t.refused, kFlood - kPerClientMax);
  EXPECT_EQ(t.other, 0);

  // Closed connections free their places: the flooding address is served again (once the
  // server has seen the closes).
  flood.clear();
  std::string answer;
  for (int attempt = 0; attempt < 50 && answer.rfind("HTTP/1.1 200 ", 0) != 0; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    IdleSocket s("127.0.0.2", warden_->port());
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE(s.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"));
    answer = s.read_for(2000).bytes;
  }
  EXPECT_EQ(answer.rfind("HTTP/1.1 200 ", 0), 0u) << answer;
}

class TotalCapTest : public WardenTest {
 protected:
  static constexpr int kConnectionsMax = 40;
  std::vector<std::string> serve_flags() const override {
    return {"--connections-max", std::to_string(kConnectionsMax), "--request-timeout-ms",
            "60000"};
  }
};

TEST_F(TotalCapTest, PastTheCapEveryoneIsRefusedUntilConnectionsClose) {
  auto held = open_idle("127.0.0.2", warden_->port(), kConnectionsMax);
  auto more = open_idle("127.0.0.3", warden_->port(), 10);
  Response refused = client_->request("GET", "/healthz");
  expect_error(refused, 503, "SERVER_OVERLOADED");
  EXPECT_EQ(refused.header("Retry-After"), "1") << refused.describe();
  EXPECT_FALSE(refused.header("X-Correlation-Id").empty());

  const Tally first = tally(held);
  EXPECT_EQ(first.open, kConnectionsMax);
  const Tally second = tally(more);
  EXPECT_EQ(second.refused, 10);
  EXPECT_EQ(second.open, 0);

  held.clear();
  Response served;
  for (int attempt = 0; attempt < 50 && served.status != 200; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    HttpClient c(warden_->port());
    served = c.request("GET", "/healthz");
  }
  EXPECT_EQ(served.status, 200) << served.describe();
}

TEST(ConnectionCapFlags, OutOfRangeValuesAreUsageErrors) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"serve", "--data-dir", "/nonexistent", "--connections-max", "0"},
        std::vector<std::string>{"serve", "--data-dir", "/nonexistent",
                                 "--connections-per-client-max", "0"},
        std::vector<std::string>{"serve", "--data-dir", "/nonexistent", "--connections-max",
                                 "1000001"}}) {
    CliResult r = run_cli(args);
    EXPECT_EQ(r.exit_code, 2) << r.output();
  }
  const std::string dir = make_temp_dir();
  ASSERT_FALSE(dir.empty());
  const std::string config = dir + "/warden.toml";
  for (const std::string line : {"connections_max = 0", "connections_per_client_max = -1",
                                 "connections_max = \"many\"", "connections_max = 1000001"}) {
    {
      std::ofstream out(config, std::ios::trunc);
      out << "data_dir = \"" << dir << "\"\n" << line << "\n";
    }
    CliResult r = run_cli({"serve", "--config", config});
    EXPECT_EQ(r.exit_code, 2) << line << ": " << r.output();
    EXPECT_NE(r.output().find(line.substr(0, line.find(' '))), std::string::npos) << r.output();
  }
  std::filesystem::remove_all(dir);
}

// --- The database file is owner-only ----------------------------------------------------------

mode_t mode_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

using DatabaseModeTest = WardenTest;

TEST_F(DatabaseModeTest, DatabaseAndItsWalFilesAre0600) {
  const std::string db = warden_->database_path();
  ASSERT_FALSE(db.empty());
  // Something written, so the WAL and shared-memory files exist while the daemon runs.
  ASSERT_FALSE(new_agent("mode").empty());
  EXPECT_EQ(mode_of(db), 0600u) << db;
  for (const char* suffix : {"-wal", "-shm"}) {
    ASSERT_TRUE(std::filesystem::exists(db + suffix)) << db + suffix;
    EXPECT_EQ(mode_of(db + suffix), 0600u) << suffix;
  }
}

TEST_F(DatabaseModeTest, AnExisting0644DatabaseIsTightenedOnOpen) {
  const std::string db = warden_->database_path();
  ASSERT_FALSE(db.empty());
  warden_->sigterm();
  ASSERT_EQ(warden_->wait_exit(kStartTimeoutMs), 0);
  ASSERT_EQ(::chmod(db.c_str(), 0644), 0);
  // As an older version left them: a WAL file beside it, readable by everyone.
  { std::ofstream(db + "-wal", std::ios::app); }
  ASSERT_EQ(::chmod((db + "-wal").c_str(), 0644), 0);
  ASSERT_TRUE(warden_->restart()) << warden_->error();
  EXPECT_EQ(mode_of(db), 0600u);
  EXPECT_EQ(mode_of(db + "-wal"), 0600u);
  HttpClient fresh(warden_->port());
  EXPECT_EQ(fresh.request("GET", "/healthz").status, 200);
}

TEST(DatabaseModeInit, InitCreatesTheDatabase0600) {
  const std::string dir = make_temp_dir();
  ASSERT_FALSE(dir.empty());
  const std::string data = dir + "/data";
  CliResult r = run_cli({"init", "--data-dir", data},
                        {{"WARDEN_MASTER_PASSWORD", std::string(kTestMasterPassword)}});
  ASSERT_EQ(r.exit_code, 0) << r.output();
  EXPECT_EQ(mode_of(data), 0700u);
  int databases = 0;
  for (const auto& entry : std::filesystem::directory_iterator(data)) {
    if (entry.path().extension() != ".db") continue;
    ++databases;
    EXPECT_EQ(mode_of(entry.path().string()), 0600u) << entry.path();
  }
  EXPECT_EQ(databases, 1);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace warden::testing
