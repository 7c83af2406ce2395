// Cluster mode end to end (issue 12, "Proof"; docs/cluster.md): scripts/cluster.sh starts a
// PostgreSQL and three replicas of the real binary, and 64 client threads spread over the
// replicas race for one window and one ledger balance. Exactly the allowed number of decisions
// succeed; a replica killed with SIGKILL mid-load loses no acknowledged decision and counts
// nothing twice (`warden audit verify` and `warden ledger reconcile` on the shared store agree);
// a session token from one replica is accepted, and once revoked refused, by another.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <latch>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "support/api.h"
#include "support/http_client.h"
#include "support/upstream_fixture.h"
#include "support/warden_process.h"

namespace warden::testing {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

constexpr int kReplicas = 3;
constexpr int kClients = 64;
constexpr int kAsksPerClient = 4;
constexpr std::size_t kLogTailChars = 4000;
constexpr int kGoneTimeoutMs = 5000;
constexpr int kRevocationMs = 1000;

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string first_line(const std::string& path) {
  std::string text = read_text(path);
  return text.substr(0, text.find('\n'));
}

// A replica's log without its access lines for successful requests (thousands in a load).
std::string notable_lines(const std::string& log) {
  std::istringstream lines(log);
  std::string out;
  std::string line;
  while (std::getline(lines, line)) {
    const bool access = line.find(R"("msg":"request")") != std::string::npos;
    if (access && line.find(R"("status":2)") != std::string::npos) continue;
    out += line;
    out += '\n';
  }
  return out;
}

struct ScriptResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs `bash SCRIPT ARGS` with the binary under test as the cluster's WARDEN_BIN. The arguments
// are temp paths and small integers: nothing to quote beyond single quotes.
// `env` (NAME='value' ...) goes before the command.
ScriptResult run_script(const std::string& script, const std::string& args,
                        const std::string& env = {}) {
  const std::string command = env + " WARDEN_BIN='" + warden_binary() + "' bash '" + script +
                              "' " + args + " 2>&1";
  ScriptResult r;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return r;
  char buf[4096];
  std::size_t got = 0;
  while ((got = std::fread(buf, 1, sizeof buf, pipe)) > 0) r.output.append(buf, got);
  const int status = ::pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// The ports of the "http://127.0.0.1:PORT" lines cluster.sh prints, in replica order.
std::vector<std::uint16_t> ports_of(const std::string& output) {
  std::vector<std::uint16_t> ports;
  std::istringstream lines(output);
  std::string line;
  constexpr std::string_view kPrefix = "http://127.0.0.1:";
  while (std::getline(lines, line)) {
    if (!line.starts_with(kPrefix)) continue;
    ports.push_back(static_cast<std::uint16_t>(std::stoi(line.substr(kPrefix.size()))));
  }
  return ports;
}

std::string first_line_of(const ScriptResult& r) { return r.output.substr(0, r.output.find('\n')); }

constexpr const char* kAuditVerify[] = {"audit", "verify"};
constexpr const char* kLedgerReconcile[] = {"ledger", "reconcile"};

std::string body_of(const json::object& o) { return json::serialize(o); }

std::string decision_body(const std::string& key) {
  return body_of({{"action", "llm.call"}, {"amounts", {{"USD", "1"}}}, {"idempotency_key", key}});
}

bool has_reason(const json::value& decision, const std::string& code) {
  const json::value reasons = field(decision, "reasons");
  if (!reasons.is_array()) return false;
  for (const auto& reason : reasons.as_array()) {
    if (str_at(reason, "code") == code) return true;
  }
  return false;
}

// An agent with a BUDGET policy on USD and a SPENDING_LIMIT window on USD, its credit and a
// session token.
struct Spender {
  std::string agent;
  std::string token;
};

// What one client thread was answered for one decision.
struct Ask {
  int replica = 0;  // 0-based
  std::string key;
  Response response;
};

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = make_temp_dir();
    ASSERT_FALSE(root_.empty());
    // Run as root, the server runs as `postgres`, which must reach DIR/pg (scripts/pg.sh).
    fs::permissions(root_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                               fs::perms::others_read | fs::perms::others_exec);
    dir_ = root_ + "/cluster";
    fs::create_directories(dir_);
    // The harness' master password, so that api.h's master_headers() work on every replica.
    {
      std::ofstream out(dir_ + "/master-password");
      out << kTestMasterPassword;
    }
    fs::permissions(dir_ + "/master-password", fs::perms::owner_read | fs::perms::owner_write);
    ScriptResult up = run_script(WARDEN_CLUSTER_SCRIPT,
                                 "up " + std::to_string(kReplicas) + " '" + dir_ + "'", up_env_);
    started_ = true;
    ASSERT_EQ(up.exit_code, 0) << up.output;
    ports_ = ports_of(up.output);
    ASSERT_EQ(ports_.size(), static_cast<std::size_t>(kReplicas)) << up.output;
  }

  void TearDown() override {
    if (HasFailure()) {
      for (int i = 1; i <= kReplicas; ++i) {
        std::string log = notable_lines(read_text(replica_dir(i) + "/warden.log"));
        if (log.size() > kLogTailChars) log = "..." + log.substr(log.size() - kLogTailChars);
        std::cerr << "--- replica " << i << " log ---\n" << log << "\n";
      }
    }
    if (started_) {
      ScriptResult down = run_script(WARDEN_CLUSTER_SCRIPT, "down '" + dir_ + "'");
      EXPECT_EQ(down.exit_code, 0) << down.output;
    }
    if (!root_.empty() && std::getenv("WARDEN_INTEG_KEEP_DATA") == nullptr) {
      std::error_code ignored;
      fs::remove_all(root_, ignored);
    }
  }

  // Environment for `cluster.sh up` (a subclass's replica flags).
  std::string up_env_;

  std::string replica_dir(int replica) const {
    return dir_ + "/replica-" + std::to_string(replica);
  }
  std::uint16_t port(int replica) const { return ports_[static_cast<std::size_t>(replica - 1)]; }

  // One request to replica 1..3 on a connection of its own.
  Response on(int replica, const std::string& method, const std::string& target,
              const std::string& body = {}, const Headers& headers = master_headers()) {
    HttpClient c(port(replica));
    return c.request(method, target, body, headers);
  }

  // `cluster.sh start DIR I`: (re)starts replica I, which listens on a new port.
  void restart(int replica) {
    ScriptResult r =
        run_script(WARDEN_CLUSTER_SCRIPT, "start '" + dir_ + "' " + std::to_string(replica));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto ports = ports_of(r.output);
    ASSERT_EQ(ports.size(), 1u) << r.output;
    ports_[static_cast<std::size_t>(replica - 1)] = ports[0];
  }

  // SIGKILL to replica I (its pid file), then waits until the process is gone.
  void kill9(int replica) {
    const pid_t pid = static_cast<pid_t>(std::stol(first_line(replica_dir(replica) + "/pid")));
    ASSERT_GT(pid, 1);
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    const auto deadline = Clock::now() + std::chrono::milliseconds(kGoneTimeoutMs);
    // Not our child (cluster.sh started it): gone once reaped, or a zombie where nothing reaps.
    const auto gone = [pid] {
      if (::kill(pid, 0) != 0) return true;
      const std::string stat = read_text("/proc/" + std::to_string(pid) + "/stat");
      const auto end_of_name = stat.rfind(')');
      return end_of_name != std::string::npos && stat.compare(end_of_name, 3, ") Z") == 0;
    };
    while (!gone() && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_TRUE(gone()) << "replica " << replica << " still there after SIGKILL";
  }

  // `warden ARGS --store URL` as the application role, on the cluster's PostgreSQL.
  CliResult cli_on_store(std::vector<std::string> args) {
    const ScriptResult url = run_script(WARDEN_PG_SCRIPT, "url '" + dir_ + "/pg'");
    EXPECT_EQ(url.exit_code, 0) << url.output;
    args.push_back("--store");
    args.push_back(first_line_of(url));
    return run_cli(args, {{"WARDEN_STORE_PASSWORD", first_line(dir_ + "/pg/warden.password")}});
  }

  void expect_audit_verifies() {
    CliResult r = cli_on_store({"audit", "verify"});
    EXPECT_EQ(r.exit_code, 0) << r.output();
    EXPECT_EQ(r.stdout_text.rfind("ok: ", 0), 0u) << r.output();
  }

  // `warden ledger reconcile` passes; its summary starts with `summary`.
  void expect_reconciles(const std::string& summary) {
    CliResult r = cli_on_store({"ledger", "reconcile"});
    EXPECT_EQ(r.exit_code, 0) << r.output();
    EXPECT_EQ(r.stdout_text.rfind("ok: " + summary, 0), 0u) << r.output();
  }

  // An agent made on replica 1 whose policies are made on replica 2: spending 1 USD per decision
  // is bound by a 1h window of `window_max` and by `credit` minted through replica 1 (BUDGET).
  Spender spender(const std::string& name, std::int64_t window_max, std::int64_t credit) {
    Spender s;
    HttpClient one(port(1));
    Response agent = create_agent(one, name);
    EXPECT_EQ(agent.status, 201) << agent.describe();
    s.agent = str_at(agent.json(), "id");
    Response budget = on(2, "POST", "/v1/policies",
                         body_of({{"type", "BUDGET"},
                                  {"agent_id", s.agent},
                                  {"rules", {{"asset", "USD"}, {"allow_negative", false}}}}));
    EXPECT_EQ(budget.status, 201) << budget.describe();
    Response limit =
        on(2, "POST", "/v1/policies",
           body_of({{"type", "SPENDING_LIMIT"},
                    {"agent_id", s.agent},
                    {"rules",
                     {{"instant_max", "1000000"},
                      {"windows", json::array{json::object{{"duration", "1h"},
                                                           {"max", std::to_string(window_max)}}}},
                      {"asset", "USD"}}}}));
    EXPECT_EQ(limit.status, 201) << limit.describe();
    Response mint = on(1, "POST", "/v1/ledger/mint",
                       body_of({{"owner", s.agent},
                                {"amount", std::to_string(credit)},
                                {"currency", "USD"},
                                {"source", "grant"},
                                {"idempotency_key", "seed-" + name}}));
    EXPECT_EQ(mint.status, 201) << mint.describe();
    Response session = create_session(one, s.agent);
    EXPECT_EQ(session.status, 201) << session.describe();
    s.token = str_at(session.json(), "token");
    return s;
  }

  // Until the ledger's in-memory book follows the store in cluster mode, a replica knows of
  // credit minted through another only from its own start: replicas 2 and 3 start again after
  // the minting.
  void reload_books() {
    restart(2);
    restart(3);
  }

  // kClients threads, client t on replica t % 3 and spending as spenders[t % spenders.size()],
  // each asking kAsksPerClient decisions of 1 USD one after another; all released at once.
  // `after_each` runs on the client thread after every answer.
  std::vector<std::vector<Ask>> load(const std::vector<Spender>& spenders,
                                     const std::function<void()>& after_each = {}) {
    std::vector<std::vector<Ask>> asks(kClients);
    std::latch ready(kClients);
    std::vector<std::thread> threads;
    for (int t = 0; t < kClients; ++t) {
      threads.emplace_back([&, t] {
        const int replica = t % kReplicas;
        const Spender& s = spenders[static_cast<std::size_t>(t) % spenders.size()];
        HttpClient c(ports_[static_cast<std::size_t>(replica)]);
        c.request("GET", "/healthz");  // connected before the race starts
        ready.arrive_and_wait();
        for (int k = 0; k < kAsksPerClient; ++k) {
          Ask ask{replica, std::to_string(t) + "-" + std::to_string(k), {}};
          ask.response =
              c.request("POST", "/v1/decisions", decision_body(ask.key), bearer_headers(s.token));
          asks[static_cast<std::size_t>(t)].push_back(std::move(ask));
          if (after_each) after_each();
        }
      });
    }
    for (auto& th : threads) th.join();
    return asks;
  }

  // "available/held" of the agent's USD account as replica I reports it.
  std::string balance(int replica, const std::string& agent) {
    Response r = on(replica, "GET", "/v1/ledger/balances?owner=" + agent + "&currency=USD");
    EXPECT_EQ(r.status, 200) << r.describe();
    if (r.status != 200) return "?";
    return str_at(r.json(), "available") + "/" + str_at(r.json(), "held");
  }

  // The agent's ledger entries in id order, read through replica 1.
  std::vector<json::value> entries(const std::string& agent) {
    std::vector<json::value> out;
    HttpClient c(port(1));
    std::string after;
    for (;;) {
      Response r = c.request("GET", "/v1/ledger/entries?limit=1000&owner=" + agent + after, {},
                             master_headers());
      EXPECT_EQ(r.status, 200) << r.describe();
      if (r.status != 200) return out;
      const json::value page = r.json();
      const json::value items = field(page, "items");
      if (items.is_array()) out.insert(out.end(), items.as_array().begin(), items.as_array().end());
      const auto next = int_at(page, "next_after_id");
      if (!next) return out;
      after = "&after_id=" + std::to_string(*next);
    }
  }

  // "available/held" of the agent's USD credit as its ledger entries in the store say, whichever
  // replica wrote them: available = credit - expire - debit without a hold - hold + release;
  // held = hold - release - debit of a hold (the amounts here are small integers).
  std::string stored_balance(const std::string& agent) {
    std::int64_t available = 0;
    std::int64_t held = 0;
    for (const json::value& entry : entries(agent)) {
      const std::string type = str_at(entry, "type");
      const std::int64_t amount = std::stoll(str_at(entry, "amount"));
      const bool of_hold = !str_at(entry, "hold_id").empty();
      if (type == "credit") available += amount;
      if (type == "expire" || (type == "debit" && !of_hold)) available -= amount;
      if (type == "hold") {
        available -= amount;
        held += amount;
      }
      if (type == "release") {
        available += amount;
        held -= amount;
      }
      if (type == "debit" && of_hold) held -= amount;
    }
    return expected(available, held);
  }

  static std::string expected(std::int64_t available, std::int64_t held) {
    return std::to_string(available) + "/" + std::to_string(held);
  }

  std::string root_;
  std::string dir_;
  bool started_ = false;
  std::vector<std::uint16_t> ports_;
};

// The answers to one spender's decisions, sorted: allowed (ids), denied with `deny_code`,
// transport failures, and anything else (a failure of the test).
struct Tally {
  std::vector<std::string> allowed;
  std::vector<std::string> denied;
  int unanswered = 0;
};

Tally tally(const std::vector<std::vector<Ask>>& asks, int spender_count, int spender,
            const std::string& deny_code) {
  Tally out;
  for (int t = 0; t < kClients; ++t) {
    if (t % spender_count != spender) continue;
    for (const Ask& ask : asks[static_cast<std::size_t>(t)]) {
      SCOPED_TRACE("replica " + std::to_string(ask.replica + 1) + ", key " + ask.key);
      const Response& r = ask.response;
      if (r.status == 0) {
        ++out.unanswered;
        continue;
      }
      EXPECT_EQ(r.status, 201) << r.describe();
      if (r.status != 201) continue;
      const json::value v = r.json();
      if (str_at(v, "effect") == "ALLOW") {
        EXPECT_EQ(str_at(v, "status"), "PENDING") << r.body;
        out.allowed.push_back(str_at(v, "id"));
        continue;
      }
      EXPECT_EQ(str_at(v, "effect"), "DENY") << r.body;
      EXPECT_EQ(str_at(v, "status"), "DENIED") << r.body;
      EXPECT_TRUE(has_reason(v, deny_code)) << "expected " << deny_code << ": " << r.body;
      out.denied.push_back(str_at(v, "id"));
    }
  }
  return out;
}

std::size_t distinct(const std::vector<std::string>& a, const std::vector<std::string>& b = {}) {
  std::set<std::string> ids(a.begin(), a.end());
  ids.insert(b.begin(), b.end());
  return ids.size();
}

TEST_F(ClusterTest, ExactAcrossReplicas) {
  // Bound by its credit (60 < the window's 100), and by its window (40 < its credit of 100).
  constexpr std::int64_t kCredit = 60;
  constexpr std::int64_t kWindow = 40;
  const std::vector<Spender> spenders = {spender("credit-bound", 100, kCredit),
                                         spender("window-bound", kWindow, 100)};
  ASSERT_FALSE(HasFailure());
  reload_books();
  if (HasFatalFailure()) return;

  const auto asks = load(spenders);
  const int per_spender = kClients / 2 * kAsksPerClient;
  const Tally by_credit = tally(asks, 2, 0, "BUDGET_EXCEEDED");
  const Tally by_window = tally(asks, 2, 1, "LIMIT_WINDOW_EXCEEDED");
  EXPECT_EQ(by_credit.unanswered + by_window.unanswered, 0);
  EXPECT_EQ(by_credit.allowed.size(), static_cast<std::size_t>(kCredit));
  EXPECT_EQ(by_credit.denied.size(), static_cast<std::size_t>(per_spender - kCredit));
  EXPECT_EQ(by_window.allowed.size(), static_cast<std::size_t>(kWindow));
  EXPECT_EQ(by_window.denied.size(), static_cast<std::size_t>(per_spender - kWindow));
  EXPECT_EQ(distinct(by_credit.allowed, by_credit.denied), static_cast<std::size_t>(per_spender));
  EXPECT_EQ(distinct(by_window.allowed, by_window.denied), static_cast<std::size_t>(per_spender));

  // Every replica reads the same decisions from the shared store.
  int n = 0;
  for (const Tally* t : {&by_credit, &by_window}) {
    for (const std::string& id : t->allowed) {
      Response tx = on(1 + n++ % kReplicas, "GET", "/v1/transactions/" + id);
      EXPECT_EQ(str_at(tx.json(), "status"), "PENDING") << tx.describe();
    }
  }
  EXPECT_EQ(stored_balance(spenders[0].agent), expected(0, kCredit));
  EXPECT_EQ(stored_balance(spenders[1].agent), expected(100 - kWindow, kWindow));
  // Two lots; a credit entry each and a hold entry per allowed decision.
  expect_reconciles("2 lots, " + std::to_string(2 + kCredit + kWindow) + " entries, " +
                    std::to_string(kCredit + kWindow) + " holds (" +
                    std::to_string(kCredit + kWindow) + " pending), 2 balances");
  expect_audit_verifies();
}

TEST_F(ClusterTest, KillNineMidLoad) {
  constexpr std::int64_t kCredit = 60;
  constexpr std::int64_t kWindow = 100;
  constexpr int kKillAfterAnswers = kClients;  // a quarter of the load
  const Spender s = spender("killed-mid-load", kWindow, kCredit);
  ASSERT_FALSE(HasFailure());
  reload_books();
  if (HasFatalFailure()) return;

  std::atomic<int> answers{0};
  std::atomic<bool> killed{false};
  std::thread killer;
  std::latch kill_now(1);
  killer = std::thread([&] {
    kill_now.wait();
    kill9(2);
    killed = true;
  });
  const auto asks = load({s}, [&] {
    if (answers.fetch_add(1) + 1 == kKillAfterAnswers) kill_now.count_down();
  });
  killer.join();
  ASSERT_TRUE(killed) << "replica 2 was not killed";
  restart(2);
  if (HasFatalFailure()) return;

  const Tally t = tally(asks, 1, 0, "BUDGET_EXCEEDED");
  RecordProperty("unanswered", t.unanswered);
  RecordProperty("allowed_acknowledged", static_cast<int>(t.allowed.size()));
  EXPECT_GT(t.unanswered, 0) << "the kill came too late to interrupt anything";
  // Replica 2 never answers after the kill; replicas 1 and 3 answer everything.
  for (const auto& per_client : asks) {
    for (const Ask& ask : per_client) {
      if (ask.replica != 1) {
        EXPECT_NE(ask.response.status, 0) << ask.response.describe();
      }
    }
  }
  EXPECT_EQ(distinct(t.allowed, t.denied), t.allowed.size() + t.denied.size())
      << "an id was answered twice";
  EXPECT_LE(t.allowed.size(), static_cast<std::size_t>(kCredit));

  // Every acknowledged decision is in the store with the status it was answered with.
  int n = 0;
  for (const auto& [ids, status] : {std::pair{&t.allowed, "PENDING"}, {&t.denied, "DENIED"}}) {
    for (const std::string& id : *ids) {
      Response tx = on(1 + n++ % kReplicas, "GET", "/v1/transactions/" + id);
      EXPECT_EQ(tx.status, 200) << tx.describe();
      EXPECT_EQ(str_at(tx.json(), "status"), status) << tx.body;
    }
  }

  // The store holds exactly the credit, each unit by one PENDING decision: the acknowledged
  // ones, plus any that replica 2 committed but could not answer before it died.
  std::vector<std::string> pending;
  std::vector<std::string> holds;  // of pending[i]
  for (const json::value& entry : entries(s.agent)) {
    if (str_at(entry, "type") != "hold") continue;
    pending.push_back(str_at(entry, "tx_id"));
    holds.push_back(str_at(entry, "hold_id"));
  }
  RecordProperty("allowed_in_store", static_cast<int>(pending.size()));
  ASSERT_EQ(pending.size(), static_cast<std::size_t>(kCredit));
  ASSERT_EQ(distinct(pending), pending.size());
  const std::set<std::string> pending_set(pending.begin(), pending.end());
  for (const std::string& id : t.allowed) EXPECT_TRUE(pending_set.contains(id)) << id;
  for (std::size_t i = 0; i < pending.size(); ++i) {
    Response tx = on(1 + static_cast<int>(i) % kReplicas, "GET", "/v1/transactions/" + pending[i]);
    EXPECT_EQ(str_at(tx.json(), "status"), "PENDING") << tx.describe();
  }
  EXPECT_EQ(stored_balance(s.agent), expected(0, kCredit));
  // Replica 2 started again after the load: its ledger is the store's.
  EXPECT_EQ(balance(2, s.agent), expected(0, kCredit));

  // Half confirmed, half cancelled, spread over the replicas: what is left is minted - confirmed.
  const int confirmed = static_cast<int>(pending.size()) / 2;
  for (int i = 0; i < static_cast<int>(pending.size()); ++i) {
    const bool confirm = i < confirmed;
    Response r = on(1 + i % kReplicas, "POST",
                    "/v1/transactions/" + pending[static_cast<std::size_t>(i)] +
                        (confirm ? "/confirm" : "/cancel"),
                    confirm ? "{}" : "", bearer_headers(s.token));
    EXPECT_EQ(r.status, 200) << r.describe();
    EXPECT_EQ(str_at(r.json(), "status"), confirm ? "CONFIRMED" : "CANCELLED") << r.body;
  }
  // Each settlement closed the decision's hold in the store, whichever replica took it.
  std::map<std::string, std::string> closed;  // hold id -> the entry that closed it
  for (const json::value& entry : entries(s.agent)) {
    const std::string type = str_at(entry, "type");
    if (type == "debit" || type == "release") closed[str_at(entry, "hold_id")] = type;
  }
  for (std::size_t i = 0; i < holds.size(); ++i) {
    const bool confirm = static_cast<int>(i) < confirmed;
    EXPECT_EQ(closed[holds[i]], confirm ? "debit" : "release")
        << "transaction " << pending[i] << " " << (confirm ? "confirmed" : "cancelled")
        << " on replica " << 1 + i % kReplicas << ", its hold " << holds[i];
  }
  EXPECT_EQ(stored_balance(s.agent), expected(kCredit - confirmed, 0));
  // One credit entry; per decision a hold entry and a debit (confirmed) or release (cancelled).
  expect_reconciles("1 lots, " + std::to_string(1 + 2 * kCredit) + " entries, " +
                    std::to_string(kCredit) + " holds (0 pending), 1 balances");
  expect_audit_verifies();

  // The shared window counts the confirmed decisions once and the cancelled ones not at all:
  // with more credit, exactly the rest of the window is allowed. Through replica 2 started
  // again, so that its memory is the store's (see SettlementsReachTheOtherReplicas).
  restart(2);
  if (HasFatalFailure()) return;
  EXPECT_EQ(balance(2, s.agent), expected(kCredit - confirmed, 0));
  Response more = on(2, "POST", "/v1/ledger/mint",
                     body_of({{"owner", s.agent},
                              {"amount", "1000"},
                              {"currency", "USD"},
                              {"source", "grant"},
                              {"idempotency_key", "more"}}));
  ASSERT_EQ(more.status, 201) << more.describe();
  HttpClient two(port(2));
  int allowed = 0;
  constexpr int kBeyond = 3;
  for (int k = 0; k < kWindow - confirmed + kBeyond; ++k) {
    Response r = two.request("POST", "/v1/decisions", decision_body("after-" + std::to_string(k)),
                             bearer_headers(s.token));
    ASSERT_EQ(r.status, 201) << r.describe();
    if (str_at(r.json(), "effect") == "ALLOW") {
      ++allowed;
    } else {
      EXPECT_TRUE(has_reason(r.json(), "LIMIT_WINDOW_EXCEEDED")) << r.body;
    }
  }
  EXPECT_EQ(allowed, kWindow - confirmed);
}

// `warden audit verify` and `warden ledger reconcile` read the cluster's store with --store; a
// password in the URL, no password at all, or both --store and --data-dir are usage errors.
TEST_F(ClusterTest, ChecksReadTheSharedStore) {
  const Spender s = spender("checked", 100, 7);
  ASSERT_FALSE(HasFailure());
  // On the replica that minted the credit (the others' ledgers learn of it when they start).
  Response r = on(1, "POST", "/v1/decisions", decision_body("one"), bearer_headers(s.token));
  ASSERT_EQ(r.status, 201) << r.describe();
  ASSERT_EQ(str_at(r.json(), "effect"), "ALLOW") << r.body;
  // The lot, its credit and the decision's hold.
  expect_reconciles("1 lots, 2 entries, 1 holds (1 pending), 1 balances");
  expect_audit_verifies();

  const std::string url = first_line_of(run_script(WARDEN_PG_SCRIPT, "url '" + dir_ + "/pg'"));
  const std::string password = first_line(dir_ + "/pg/warden.password");
  for (const char* const* command : {kAuditVerify, kLedgerReconcile}) {
    const std::vector<std::string> base(command, command + 2);
    SCOPED_TRACE(base[0] + " " + base[1]);
    auto with = [&](std::vector<std::string> extra) {
      std::vector<std::string> args = base;
      args.insert(args.end(), extra.begin(), extra.end());
      return args;
    };
    CliResult no_password = run_cli(with({"--store", url}));
    EXPECT_EQ(no_password.exit_code, 2) << no_password.output();
    EXPECT_NE(no_password.stderr_text.find("WARDEN_STORE_PASSWORD"), std::string::npos)
        << no_password.output();
    const std::string with_password =
        "postgresql://warden:" + password + "@" + url.substr(url.find('@') + 1);
    CliResult in_url = run_cli(with({"--store", with_password}));
    EXPECT_EQ(in_url.exit_code, 2) << in_url.output();
    EXPECT_EQ(in_url.output().find(password), std::string::npos) << "the password was echoed";
    CliResult both = run_cli(with({"--store", url, "--data-dir", replica_dir(1)}),
                             {{"WARDEN_STORE_PASSWORD", password}});
    EXPECT_EQ(both.exit_code, 2) << both.output();
    const std::string password_file = dir_ + "/pg/warden.password";
    CliResult from_file = run_cli(with({"--store", url, "--store-password-file", password_file}));
    EXPECT_EQ(from_file.exit_code, 0) << from_file.output();
  }
}

// What one replica settles, the others see: the holds closed, the balance, the window's room.
// Decided on replica 1, confirmed on replica 2, cancelled on replica 3: the holds are posted and
// voided in the store, every replica's balance and holds say so, and the window counts only the
// confirmed ones, also for the replica that decided them all.
TEST_F(ClusterTest, SettlementsReachTheOtherReplicas) {
  constexpr int kDecided = 20;
  constexpr int kConfirmed = 10;
  constexpr std::int64_t kCredit = 30;
  constexpr std::int64_t kWindow = 100;
  const Spender s = spender("settled-elsewhere", kWindow, kCredit);
  ASSERT_FALSE(HasFailure());
  // Decided on replica 1, which minted the credit.
  HttpClient one(port(1));
  std::vector<std::string> txs;
  std::vector<std::string> holds;
  for (int k = 0; k < kDecided; ++k) {
    Response r = one.request("POST", "/v1/decisions", decision_body("d-" + std::to_string(k)),
                             bearer_headers(s.token));
    ASSERT_EQ(r.status, 201) << r.describe();
    ASSERT_EQ(str_at(r.json(), "effect"), "ALLOW") << r.body;
    const json::value held = field(r.json(), "holds");
    ASSERT_TRUE(held.is_array() && held.as_array().size() == 1) << r.body;
    txs.push_back(str_at(r.json(), "id"));
    holds.push_back(str_at(held.as_array()[0], "hold_id"));
  }
  // A repeat on another replica is the same decision (the key is unique in the shared store and
  // answered from the row that holds it); the key with another request conflicts and names it.
  Response again = on(2, "POST", "/v1/decisions", decision_body("d-0"), bearer_headers(s.token));
  EXPECT_EQ(again.status, 200) << again.describe();
  EXPECT_EQ(str_at(again.json(), "id"), txs[0]) << again.body;
  Response other = on(3, "POST", "/v1/decisions",
                      body_of({{"action", "llm.call"},
                               {"amounts", {{"USD", "2"}}},
                               {"idempotency_key", "d-0"}}),
                      bearer_headers(s.token));
  EXPECT_EQ(other.status, 409) << other.describe();
  EXPECT_NE(other.body.find("TX_IDEMPOTENCY_CONFLICT"), std::string::npos) << other.body;
  EXPECT_NE(other.body.find(txs[0]), std::string::npos) << other.body;
  // Confirmed on replica 2, cancelled on replica 3.
  for (int k = 0; k < kDecided; ++k) {
    const bool confirm = k < kConfirmed;
    Response r = on(
        confirm ? 2 : 3, "POST",
        "/v1/transactions/" + txs[static_cast<std::size_t>(k)] + (confirm ? "/confirm" : "/cancel"),
        confirm ? "{}" : "", bearer_headers(s.token));
    EXPECT_EQ(r.status, 200) << r.describe();
  }
  EXPECT_EQ(stored_balance(s.agent), expected(kCredit - kConfirmed, 0));
  for (int replica = 1; replica <= kReplicas; ++replica) {
    SCOPED_TRACE("replica " + std::to_string(replica));
    EXPECT_EQ(balance(replica, s.agent), expected(kCredit - kConfirmed, 0));
    for (int k = 0; k < kDecided; ++k) {
      Response hold = on(replica, "GET", "/v1/ledger/holds/" + holds[static_cast<std::size_t>(k)]);
      EXPECT_EQ(str_at(hold.json(), "status"), k < kConfirmed ? "posted" : "voided") << hold.body;
    }
  }
  // The window holds the 10 confirmed: 90 more fit, on the replica that decided the 20 too.
  Response more = on(1, "POST", "/v1/ledger/mint",
                     body_of({{"owner", s.agent},
                              {"amount", "1000"},
                              {"currency", "USD"},
                              {"source", "grant"},
                              {"idempotency_key", "more"}}));
  ASSERT_EQ(more.status, 201) << more.describe();
  int allowed = 0;
  for (int k = 0; k < kWindow - kConfirmed + 2; ++k) {
    Response r = one.request("POST", "/v1/decisions", decision_body("w-" + std::to_string(k)),
                             bearer_headers(s.token));
    ASSERT_EQ(r.status, 201) << r.describe();
    if (str_at(r.json(), "effect") == "ALLOW") ++allowed;
  }
  EXPECT_EQ(allowed, kWindow - kConfirmed);
}

TEST_F(ClusterTest, JwtAcrossReplicas) {
  HttpClient one(port(1));
  Response agent = create_agent(one, "roaming");
  ASSERT_EQ(agent.status, 201) << agent.describe();
  const std::string id = str_at(agent.json(), "id");
  Response session = create_session(one, id);
  ASSERT_EQ(session.status, 201) << session.describe();
  const std::string token = str_at(session.json(), "token");
  const std::string target = "/v1/ledger/balances?owner=" + id + "&currency=USD";

  for (int replica = 1; replica <= kReplicas; ++replica) {
    Response r = on(replica, "GET", target, {}, bearer_headers(token));
    EXPECT_EQ(r.status, 200) << "replica " << replica << ": " << r.describe();
  }

  Response revoked =
      one.request("DELETE", "/v1/sessions/" + str_at(session.json(), "id"), {}, master_headers());
  ASSERT_EQ(revoked.status, 204) << revoked.describe();
  const auto since = Clock::now();
  HttpClient three(port(3));
  Response r;
  while (true) {
    r = three.request("GET", target, {}, bearer_headers(token));
    if (r.status != 200 || Clock::now() - since > std::chrono::milliseconds(kRevocationMs)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const auto took =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count();
  RecordProperty("revocation_ms", static_cast<int>(took));
  EXPECT_EQ(r.status, 401) << "replica 3 still accepts the token " << took
                           << " ms after its revocation: " << r.describe();
  EXPECT_LE(took, kRevocationMs);
  Response on_two = on(2, "GET", target, {}, bearer_headers(token));
  EXPECT_EQ(on_two.status, 401) << on_two.describe();
}

}  // namespace
}  // namespace warden::testing

namespace warden::testing {
namespace {

constexpr const char* kUpstreamSecret = "cluster-upstream-secret";

// The LLM gateway on every replica, in front of the fixture provider: a RATE_LIMIT of 3 calls a
// minute admits exactly 3 calls spread over the three replicas' gateways (in cluster mode a
// decision with windows is told to the gateway only once the shared store admitted it), and the
// 4th and 5th are refused 429 without reaching the provider.
class GatewayClusterTest : public ClusterTest {
 protected:
  void SetUp() override {
    upstream_ = std::make_unique<UpstreamFixture>();
    ASSERT_TRUE(upstream_->started()) << upstream_->error();
    up_env_ = std::string("WARDEN_REPLICA_FLAGS='--gateway-listen 127.0.0.1:0' ") +
              "FIXTURE_UPSTREAM_KEY='" + kUpstreamSecret + "'";
    ClusterTest::SetUp();
  }
  void TearDown() override {
    ClusterTest::TearDown();
    upstream_.reset();
  }
  std::uint16_t gateway_port(int replica) {
    const std::string text = read_text(replica_dir(replica) + "/gateway.addr");
    const auto colon = text.rfind(':');
    return colon == std::string::npos ? 0
                                      : static_cast<std::uint16_t>(std::stoi(text.substr(colon + 1)));
  }
  std::unique_ptr<UpstreamFixture> upstream_;
};

TEST_F(GatewayClusterTest, ARateLimitIsExactAcrossTheReplicasGateways) {
  Response agent = on(1, "POST", "/v1/agents", body_of({{"name", "llm-app"}}));
  ASSERT_EQ(agent.status, 201) << agent.describe();
  const std::string id = str_at(agent.json(), "id");
  Response key = on(1, "POST", "/v1/agents/" + id + "/api-keys");
  ASSERT_EQ(key.status, 201) << key.describe();
  Response model = on(1, "POST", "/v1/models",
                      body_of({{"name", "gpt-4o-mini"},
                               {"provider", "openai"},
                               {"base_url", upstream_->base_url() + "/v1"},
                               {"upstream_model", "fixture-gpt"},
                               {"input_price_micros_per_1k", "0"},
                               {"output_price_micros_per_1k", "0"},
                               {"currency", "USD"},
                               {"key_ref", "env:FIXTURE_UPSTREAM_KEY"}}));
  ASSERT_EQ(model.status, 201) << model.describe();
  Response policy = on(1, "POST", "/v1/policies",
                       body_of({{"agent_id", id},
                                {"type", "RATE_LIMIT"},
                                {"rules", {{"max_requests", 3}, {"window", "1m"}}}}));
  ASSERT_EQ(policy.status, 201) << policy.describe();
  // Replicas 2 and 3 reload the policy on the change feed (well within a second); the models
  // and keys they read from the store.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const Headers auth = {{"Authorization", "Bearer " + str_at(key.json(), "key")}};
  const std::string chat = body_of(
      {{"model", "gpt-4o-mini"},
       {"max_tokens", 16},
       {"messages", json::array{json::object{{"role", "user"}, {"content", "hello"}}}}});
  int ok = 0;
  int limited = 0;
  for (int k = 0; k < 5; ++k) {
    const int replica = 1 + k % kReplicas;
    HttpClient gw(gateway_port(replica), 20000);
    Response r = gw.request("POST", "/v1/chat/completions", chat, auth);
    if (r.status == 200) {
      ++ok;
    } else {
      EXPECT_EQ(r.status, 429) << "replica " << replica << ": " << r.describe();
      ++limited;
    }
  }
  EXPECT_EQ(ok, 3);
  EXPECT_EQ(limited, 2);
  EXPECT_EQ(upstream_->requests().size(), 3u) << "a refused call reached the provider";
}

}  // namespace
}  // namespace warden::testing
