// warden_load: a loopback HTTP load generator. Creates an agent, a session and a SPENDING_LIMIT
// policy whose window never fills, then drives POST /v1/transactions (durable decisions) and
// GET /healthz (no write: the in-run baseline) with N keep-alive connections for a fixed
// duration, and prints throughput, p50/p99 latency and the ratio between the two. The
// connections are asynchronous (Boost.Asio): --threads I/O threads (default 1), each with its
// own io_context and its round-robin share of the connections, each connection writing a request
// serialised once per phase and reading the answer in a loop, so the generator costs little CPU
// next to the daemon even at hundreds of connections.
//
// With --auth-flood N it measures instead what a flood of bad session tokens does to a good
// agent: for each --connections value, the agent's decisions alone, then the same load while N
// more connections send POST /v1/transactions with invalid bearer tokens (answered 401, or 429
// once throttled), and the ratio of the agent's p99 latency with and without the flood.
//
// With --scenario ledger-debit it measures durable credit-ledger debits: it mints credit once
// for --owners agents (the decisions agent first), then for each --connections value runs
// GET /healthz, POST /v1/transactions and POST /v1/ledger/debit (master password, amount 1) and
// prints debits/s with the ratio against the two peers measured in the same run. Every debit
// carries its own idempotency key: each connection keeps a copy of the request and writes a
// counter into a fixed-width slot of the key before each send, so the bytes are never
// re-serialised and no debit is an idempotent replay (a replay is counted as an error); --keys
// chooses how the keys sort (the store indexes them). At the end each owner's balance must equal
// what was minted minus the debits answered 201.
//
// With --scenario decide-settle every connection settles what it decides, as a client that spends
// does: POST /v1/transactions, then POST /v1/transactions/{id}/confirm with the reserved amount,
// then the next decision. A decision counts once its confirm is answered 200 CONFIRMED; the
// latencies are the decisions' own (the confirm is not in them). Reservations then stay few (one
// per connection at most), so a long run (bench/soak.sh) measures history, not open holds.
// --connections takes one count here and there is no /healthz phase.
#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <latch>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
// One resolved address per replica (--addr A,B,...): connection i talks to replica i mod n.
using Endpoints = std::vector<tcp::resolver::results_type>;

constexpr int kConnectionsMax = 1024;
constexpr int kThreadsMax = 16;
constexpr std::int64_t kDurationMsMax = 3'600'000;  // an hour: a soak phase is one run
constexpr std::size_t kSamplesMax = 2'000'000;  // latency samples kept per phase, all threads
constexpr std::int64_t kFloodLeadMs = 500;  // the flood runs this long before and after the agent
constexpr const char* kWindowMax = "1000000000000000000000000000000000000000000000000000000000000";
// Ledger scenario: what each owner is minted once (fits an int64, so the final balance check
// needs no big integers), the currency and the debit amount.
constexpr std::int64_t kLedgerMintAmount = 1'000'000'000'000'000'000;
constexpr const char* kLedgerCurrency = "CREDITS";
constexpr int kOwnersMax = 256;
// The idempotency key's slot, kKeySlotDigits characters; what goes in it depends on --keys:
// "connection" the connection's number times kKeysPerConnection plus its request count (in
// decimal: each connection's keys sort together), "ordered" the phase's request count (keys sort
// in the order they are sent), "random" a bijective mix of the connection's value in hex (keys
// sort nowhere in particular, as clients' random UUIDs do).
constexpr std::size_t kKeySlotDigits = 16;
constexpr std::int64_t kKeysPerConnection = 10'000'000'000;
constexpr std::string_view kKeySlot = "################";
static_assert(kKeySlot.size() == kKeySlotDigits);

enum class KeyOrder { kConnection, kOrdered, kRandom };

std::optional<KeyOrder> key_order(std::string_view name) {
  if (name == "connection") return KeyOrder::kConnection;
  if (name == "ordered") return KeyOrder::kOrdered;
  if (name == "random") return KeyOrder::kRandom;
  return std::nullopt;
}

struct Options {
  std::string host = "127.0.0.1";
  std::string port;
  std::vector<std::pair<std::string, std::string>> addrs;  // every --addr; host:port is the first
  std::string password;
  std::vector<int> connections = {1, 16, 64};
  std::int64_t duration_ms = 5000;
  std::int64_t requests_max = 5'000'000;  // per phase, across all connections
  int threads = 1;                        // I/O threads, each with its own io_context
  int auth_flood = 0;                     // connections sending bad tokens (0: no flood run)
  std::string scenario = "decisions";     // or "ledger-debit", "decide-settle"
  int owners = 1;                         // ledger-debit: accounts the connections spread over
  KeyOrder keys = KeyOrder::kRandom;      // ledger-debit: how the idempotency keys sort
};

struct Target {
  http::verb verb;
  std::string path;
  std::string body;
  std::string bearer;
  unsigned expect_status;
  const char* name;
  unsigned expect_status_alt = 0;  // a second accepted status (401 or 429 for a flood)
  // When set, connection i sends bodies[i % size] instead of `body`, with its kKeySlot
  // overwritten before every send; an Idempotent-Replay answer is then an error.
  std::vector<std::string> bodies = {};
  // decide-settle: the confirm request around the decision's id (prefix + id + suffix); a
  // decision is good once its confirm is answered 200 CONFIRMED.
  std::string confirm_prefix = {};
  std::string confirm_suffix = {};
};

// One synchronous keep-alive connection for the set-up calls; reconnects when the server
// closes it.
class Connection {
 public:
  Connection(const Options& o) : options_(o), stream_(io_) {}

  bool connect() {
    beast::error_code ec;
    stream_.socket().close(ec);
    tcp::resolver resolver(io_);
    auto results = resolver.resolve(options_.host, options_.port, ec);
    if (ec) return fail("resolve", ec);
    stream_.connect(results, ec);
    if (ec) return fail("connect", ec);
    stream_.socket().set_option(tcp::no_delay(true), ec);
    return true;
  }

  // Sends one request; nullopt on a transport error (after one reconnect attempt).
  std::optional<http::response<http::string_body>> send(
      const http::request<http::string_body>& req) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      beast::error_code ec;
      http::write(stream_, req, ec);
      http::response<http::string_body> res;
      if (!ec) http::read(stream_, buffer_, res, ec);
      if (!ec) {
        if (!res.keep_alive()) connect();
        return res;
      }
      buffer_.clear();
      if (!connect()) return std::nullopt;
    }
    return std::nullopt;
  }

 private:
  bool fail(const char* what, const beast::error_code& ec) {
    std::fprintf(stderr, "warden_load: %s %s:%s: %s\n", what, options_.host.c_str(),
                 options_.port.c_str(), ec.message().c_str());
    return false;
  }

  const Options& options_;
  asio::io_context io_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
};

http::request<http::string_body> make_request(const Options& o, const Target& t) {
  http::request<http::string_body> req{t.verb, t.path, 11};
  req.set(http::field::host, o.host + ":" + o.port);
  req.keep_alive(true);
  if (!t.bearer.empty()) req.set(http::field::authorization, "Bearer " + t.bearer);
  if (!o.password.empty() && t.bearer.empty()) req.set("X-Master-Password", o.password);
  if (!t.body.empty()) req.set(http::field::content_type, "application/json");
  req.body() = t.body;
  req.prepare_payload();
  return req;
}

// Set-up call with the master password (a POST with `body`, a GET without); the parsed JSON
// answer or nullopt (reason printed).
std::optional<json::object> master_call(Connection& c, const Options& o, const std::string& path,
                                        const std::optional<json::object>& body) {
  const Target t{body ? http::verb::post : http::verb::get,
                 path,
                 body ? json::serialize(*body) : "",
                 "",
                 201,
                 "setup"};
  auto res = c.send(make_request(o, t));
  if (!res || (res->result_int() != 201 && res->result_int() != 200)) {
    std::fprintf(stderr, "warden_load: %s %s -> %u %s\n", body ? "POST" : "GET", path.c_str(),
                 res ? res->result_int() : 0u, res ? res->body().c_str() : "(no answer)");
    return std::nullopt;
  }
  boost::system::error_code ec;
  json::value v = json::parse(res->body(), ec);
  if (ec || !v.is_object()) return std::nullopt;
  return v.as_object();
}

struct Fixture {
  std::string agent_id;
  std::string token;  // the agent's session
};

// A new agent's id, or nullopt.
std::optional<std::string> create_agent(Connection& c, const Options& o, const std::string& name) {
  auto agent = master_call(c, o, "/v1/agents", json::object{{"name", name}});
  if (!agent || !agent->at("id").is_string()) return std::nullopt;
  return std::string(agent->at("id").as_string());
}

// Agent + session + SPENDING_LIMIT (instant tier, a 24h window that never fills).
std::optional<Fixture> set_up(const Options& o, const std::string& run) {
  Connection c(o);
  if (!c.connect()) return std::nullopt;
  auto agent = create_agent(c, o, "load-" + run);
  if (!agent) return std::nullopt;
  const json::value agent_id(*agent);
  json::object rules{
      {"instant_max", "1000000"},
      {"windows", json::array{json::object{{"duration", "24h"}, {"max", kWindowMax}}}}};
  if (!master_call(
          c, o, "/v1/policies",
          json::object{{"agent_id", agent_id}, {"type", "SPENDING_LIMIT"}, {"rules", rules}})) {
    return std::nullopt;
  }
  auto session =
      master_call(c, o, "/v1/sessions", json::object{{"agent_id", agent_id}, {"ttl_s", 3600}});
  if (!session || !session->at("token").is_string()) return std::nullopt;
  return Fixture{*agent, std::string(session->at("token").as_string())};
}

// The ledger's owners (`first` and o.owners - 1 new agents), each minted kLedgerMintAmount once.
std::optional<std::vector<std::string>> set_up_ledger(const Options& o, const std::string& run,
                                                      const std::string& first) {
  Connection c(o);
  if (!c.connect()) return std::nullopt;
  std::vector<std::string> owners{first};
  while (static_cast<int>(owners.size()) < o.owners) {
    auto agent = create_agent(c, o, "load-" + run + "-" + std::to_string(owners.size()));
    if (!agent) return std::nullopt;
    owners.push_back(*agent);
  }
  for (const std::string& owner : owners) {
    const json::object mint{{"owner", owner},
                            {"amount", std::to_string(kLedgerMintAmount)},
                            {"currency", kLedgerCurrency},
                            {"source", "seed"},
                            {"idempotency_key", "load-mint-" + run + "-" + owner}};
    if (!master_call(c, o, "/v1/ledger/mint", mint)) return std::nullopt;
  }
  return owners;
}

// The debit bodies, one per owner, each with kKeySlot in its idempotency key.
std::vector<std::string> debit_bodies(const std::vector<std::string>& owners,
                                      const std::string& run) {
  std::vector<std::string> bodies;
  for (const std::string& owner : owners) {
    bodies.push_back(json::serialize(
        json::object{{"owner", owner},
                     {"amount", "1"},
                     {"currency", kLedgerCurrency},
                     {"idempotency_key", "load-debit-" + run + "-" + std::string(kKeySlot)}}));
  }
  return bodies;
}

// What was minted minus what the owners' balances say now: the debits the daemon kept.
std::optional<std::int64_t> debited_total(const Options& o,
                                          const std::vector<std::string>& owners) {
  Connection c(o);
  if (!c.connect()) return std::nullopt;
  std::int64_t total = 0;
  for (const std::string& owner : owners) {
    auto balance = master_call(
        c, o, "/v1/ledger/balances?owner=" + owner + "&currency=" + kLedgerCurrency, std::nullopt);
    if (!balance || !balance->at("available").is_string()) return std::nullopt;
    const auto& text = balance->at("available").as_string();
    std::int64_t available = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), available);
    if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    total += kLedgerMintAmount - available;
  }
  return total;
}

struct PhaseResult {
  std::int64_t ok = 0;
  std::int64_t errors = 0;  // transport errors, unexpected status or a DENIED decision
  double seconds = 0;
  std::vector<std::int64_t> latency_ns;
  double per_second() const { return seconds > 0 ? ok / seconds : 0; }
  std::int64_t percentile_ns(double q) const {
    if (latency_ns.empty()) return 0;
    return latency_ns[std::min(latency_ns.size() - 1,
                               static_cast<std::size_t>(latency_ns.size() * q))];
  }
};

// What every connection of one phase shares: the target, the request bytes (serialised once,
// one request per body when the target has several), the deadline and the request budget.
struct Phase {
  const Target& target;
  const Endpoints& endpoints;
  std::vector<std::string> requests;
  std::vector<std::size_t> key_offsets;  // where kKeySlot sits in each request (npos: nowhere)
  KeyOrder key_order;
  Clock::time_point deadline;  // written before the workers are released
  std::int64_t requests_max;
  std::atomic<std::int64_t> issued{0};
  std::atomic<bool> reported{false};  // the phase's first error has been printed

  // Prints the first error of the phase only.
  template <class... Args>
  void report(const char* format, Args... args) {
    if (!reported.exchange(true, std::memory_order_relaxed)) std::fprintf(stderr, format, args...);
  }
};

// One I/O thread: its own io_context (single-threaded), the counters of the connections it owns.
struct Worker {
  asio::io_context io{1};
  std::int64_t ok = 0, errors = 0;
  std::size_t samples_max = 0;  // this thread's share of kSamplesMax
  std::vector<std::int64_t> latency_ns;
};

// One keep-alive connection driven by its worker's io_context: write the request, read the
// answer, record it, repeat until the deadline or the request budget. Every handler runs on the
// worker's single thread, so the worker's counters need no synchronisation. Connection `index`
// (0-based within the phase) sends request index % size, its own copy when it has a key slot.
class AsyncConnection {
 public:
  AsyncConnection(Phase& phase, Worker& worker, int index)
      : phase_(phase),
        worker_(worker),
        socket_(worker.io),
        request_(phase.requests[index % phase.requests.size()]),
        key_offset_(phase.key_offsets[index % phase.key_offsets.size()]),
        key_next_(index * kKeysPerConnection),
        endpoints_(phase.endpoints[static_cast<std::size_t>(index) % phase.endpoints.size()]) {}

  // Synchronous first connect, before the phase's clock starts.
  bool connect() {
    beast::error_code ec;
    asio::connect(socket_, endpoints_, ec);
    if (ec) return fail("connect", ec);
    socket_.set_option(tcp::no_delay(true), ec);
    return true;
  }

  void start() { next(); }

 private:
  // Issues the next request unless the phase is over.
  void next() {
    const std::int64_t issued = Clock::now() >= phase_.deadline
                                    ? phase_.requests_max
                                    : phase_.issued.fetch_add(1, std::memory_order_relaxed);
    if (issued >= phase_.requests_max) {
      beast::error_code ignored;
      socket_.close(ignored);
      return;
    }
    retried_ = false;
    if (key_offset_ != std::string::npos) write_key(key_next_++, issued);
    t0_ = Clock::now();
    send();
  }

  // The key slot, unique per request within the phase (see kKeySlotDigits).
  void write_key(std::int64_t own, std::int64_t issued) {
    char* slot = request_.data() + key_offset_;
    if (phase_.key_order == KeyOrder::kRandom) {
      static constexpr char kHex[] = "0123456789abcdef";
      std::uint64_t mixed = mix(static_cast<std::uint64_t>(own));
      for (std::size_t i = kKeySlotDigits; i-- > 0; mixed >>= 4) slot[i] = kHex[mixed & 0xf];
      return;
    }
    std::int64_t value = phase_.key_order == KeyOrder::kOrdered ? issued : own;
    for (std::size_t i = kKeySlotDigits; i-- > 0; value /= 10) {
      slot[i] = static_cast<char>('0' + value % 10);
    }
  }

  // splitmix64's finaliser: a bijection on 64 bits, so distinct inputs give distinct keys.
  static std::uint64_t mix(std::uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  }

  void send() {
    const std::string& bytes = confirming_ ? confirm_ : request_;
    asio::async_write(
        socket_, asio::buffer(bytes), [this](const beast::error_code& ec, std::size_t) {
          if (ec) return transport_error(ec);
          response_ = {};  // http::async_read wants an empty message
          http::async_read(socket_, buffer_, response_,
                           [this](const beast::error_code& ec, std::size_t) { on_response(ec); });
        });
  }

  void on_response(const beast::error_code& ec) {
    if (ec) return transport_error(ec);
    if (confirming_) return on_confirmed();
    const auto ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0_).count();
    const unsigned status = response_.result_int();
    // A resent request may find its first attempt committed: then a replay is its answer.
    const bool fresh = key_offset_ == std::string::npos || retried_ ||
                       response_.find("Idempotent-Replay") == response_.end();
    const bool good =
        (status == phase_.target.expect_status || status == phase_.target.expect_status_alt) &&
        fresh && response_.body().find("\"DENIED\"") == std::string::npos;
    if (good && settles()) {
      decision_ns_ = ns;
      return confirm();
    }
    if (good) {
      ++worker_.ok;
      if (worker_.latency_ns.size() < worker_.samples_max) worker_.latency_ns.push_back(ns);
    } else {
      ++worker_.errors;
      phase_.report("warden_load: %s -> %u%s %s\n", phase_.target.name, response_.result_int(),
                    fresh ? "" : " (Idempotent-Replay)", response_.body().substr(0, 300).c_str());
    }
    if (!response_.keep_alive()) return reconnect([this] { next(); });
    next();
  }

  bool settles() const { return !phase_.target.confirm_prefix.empty(); }

  // decide-settle: confirms the decision just answered (its id from the answer's body).
  void confirm() {
    boost::system::error_code ec;
    const json::value v = json::parse(response_.body(), ec);
    const json::string* id = nullptr;
    if (!ec && v.is_object()) {
      if (const json::value* field = v.as_object().if_contains("id")) id = field->if_string();
    }
    if (id == nullptr) {
      ++worker_.errors;
      phase_.report("warden_load: %s: no id in %s\n", phase_.target.name,
                    response_.body().substr(0, 300).c_str());
      return after_response();
    }
    confirm_.assign(phase_.target.confirm_prefix);
    confirm_.append(id->data(), id->size());
    confirm_.append(phase_.target.confirm_suffix);
    confirming_ = true;
    retried_ = false;
    if (!response_.keep_alive()) return reconnect([this] { send(); });
    send();
  }

  // decide-settle: the confirm's answer; the decision counts when it is 200 CONFIRMED.
  void on_confirmed() {
    confirming_ = false;
    const bool good = response_.result_int() == 200 &&
                      response_.body().find("\"CONFIRMED\"") != std::string::npos;
    if (good) {
      ++worker_.ok;
      if (worker_.latency_ns.size() < worker_.samples_max) {
        worker_.latency_ns.push_back(decision_ns_);
      }
    } else {
      ++worker_.errors;
      phase_.report("warden_load: confirm -> %u %s\n", response_.result_int(),
                    response_.body().substr(0, 300).c_str());
    }
    after_response();
  }

  void after_response() {
    if (!response_.keep_alive()) return reconnect([this] { next(); });
    next();
  }

  // The server closing the connection under a request (EOF, reset) gets one reconnect and one
  // resend; anything else, or a second failure, is an error and ends this connection.
  void transport_error(const beast::error_code& ec) {
    const bool closed = ec == http::error::end_of_stream || ec == asio::error::eof ||
                        ec == asio::error::connection_reset || ec == asio::error::broken_pipe;
    if (closed && !retried_) {
      retried_ = true;
      return reconnect([this] { send(); });
    }
    ++worker_.errors;
    fail(phase_.target.name, ec);
  }

  // Re-opens the connection, then continues with `then` (resend or next request).
  template <class Then>
  void reconnect(Then then) {
    beast::error_code ignored;
    socket_.close(ignored);
    buffer_.clear();
    asio::async_connect(socket_, endpoints_,
                        [this, then](const beast::error_code& ec, const tcp::endpoint&) {
                          if (ec) {
                            ++worker_.errors;
                            fail("reconnect", ec);
                            return;
                          }
                          beast::error_code ignored;
                          socket_.set_option(tcp::no_delay(true), ignored);
                          then();
                        });
  }

  bool fail(const char* what, const beast::error_code& ec) {
    phase_.report("warden_load: %s: %s\n", what, ec.message().c_str());
    beast::error_code ignored;
    socket_.close(ignored);
    return false;
  }

  Phase& phase_;
  Worker& worker_;
  tcp::socket socket_;
  std::string request_;
  std::size_t key_offset_;
  std::int64_t key_next_;
  beast::flat_buffer buffer_;  // reused across requests (keeps any bytes read ahead)
  http::response<http::string_body> response_;
  Clock::time_point t0_;
  bool retried_ = false;
  bool confirming_ = false;       // decide-settle: the confirm is in flight
  std::string confirm_;           // decide-settle: the confirm request of the current decision
  std::int64_t decision_ns_ = 0;  // decide-settle: the decision's latency, kept until confirmed
  const tcp::resolver::results_type& endpoints_;
};

// Opens the worker's connections (the phase's connections first, first + threads, ...), waits
// for the phase to start, then runs its io_context until every connection has finished.
void run_worker(Phase& phase, Worker& w, int first, int threads, int connections,
                std::latch& connected, std::latch& go) {
  std::vector<std::unique_ptr<AsyncConnection>> owned;
  for (int i = 0; i < connections; ++i) {
    owned.push_back(std::make_unique<AsyncConnection>(phase, w, first + i * threads));
    if (!owned.back()->connect()) {
      ++w.errors;
      owned.pop_back();
    }
  }
  connected.count_down();
  go.wait();
  for (auto& c : owned) c->start();
  w.io.run();
}

PhaseResult run_phase(const Options& o, const Target& t,
                      const Endpoints& endpoints, int connections,
                      std::int64_t duration_ms) {
  Phase phase{t, endpoints, {}, {}, o.keys, {}, o.requests_max};
  for (const std::string& body : t.bodies.empty() ? std::vector<std::string>{t.body} : t.bodies) {
    Target variant = t;
    variant.body = body;
    std::ostringstream serialised;
    serialised << make_request(o, variant);
    phase.requests.push_back(serialised.str());
    phase.key_offsets.push_back(t.bodies.empty() ? std::string::npos
                                                 : phase.requests.back().rfind(kKeySlot));
  }
  // Connection i belongs to thread i % threads; no more threads than connections.
  const int threads = std::min(o.threads, connections);
  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < threads; ++i) {
    workers.push_back(std::make_unique<Worker>());
    workers.back()->samples_max = kSamplesMax / threads;
  }
  std::latch connected(threads), go(1);
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) {
    const int owned = connections / threads + (i < connections % threads ? 1 : 0);
    pool.emplace_back(run_worker, std::ref(phase), std::ref(*workers[i]), i, threads, owned,
                      std::ref(connected), std::ref(go));
  }
  connected.wait();  // the clock starts once every connection is open
  const auto start = Clock::now();
  phase.deadline = start + std::chrono::milliseconds(duration_ms);
  go.count_down();
  for (auto& th : pool) th.join();
  PhaseResult r;
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  for (auto& w : workers) {
    r.ok += w->ok;
    r.errors += w->errors;
    r.latency_ns.insert(r.latency_ns.end(), w->latency_ns.begin(), w->latency_ns.end());
  }
  std::sort(r.latency_ns.begin(), r.latency_ns.end());
  return r;
}

void print_row(int connections, const char* name, const PhaseResult& r) {
  std::printf("%5d  %-22s %9lld %7lld %11.0f %10.1f %10.1f\n", connections, name,
              static_cast<long long>(r.ok), static_cast<long long>(r.errors), r.per_second(),
              r.percentile_ns(0.50) / 1e3, r.percentile_ns(0.99) / 1e3);
}

// The good agent's decisions alone, then under a flood of bad tokens that starts kFloodLeadMs
// before the agent's phase and ends kFloodLeadMs after it. The flood's token is well-formed but
// unknown; the session cache keeps only valid tokens, so every flood request reads the store.
bool run_auth_flood(const Options& o, const Endpoints& endpoints,
                    const Target& tx) {
  const Target bad{http::verb::post,
                   "/v1/transactions",
                   tx.body,
                   "wdn_" + std::string(43, 'x'),
                   401,
                   "bad tokens (401/429)",
                   429};
  bool clean = true;
  std::vector<std::pair<int, double>> ratios;
  for (int connections : o.connections) {
    const PhaseResult alone = run_phase(o, tx, endpoints, connections, o.duration_ms);
    print_row(connections, "agent alone", alone);
    PhaseResult flood;
    std::thread flooder([&] {
      flood = run_phase(o, bad, endpoints, o.auth_flood, o.duration_ms + 2 * kFloodLeadMs);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(kFloodLeadMs));
    const PhaseResult during = run_phase(o, tx, endpoints, connections, o.duration_ms);
    flooder.join();
    print_row(connections, "agent under flood", during);
    print_row(o.auth_flood, bad.name, flood);
    std::fflush(stdout);
    clean = clean && alone.errors == 0 && during.errors == 0 && flood.errors == 0 && alone.ok > 0 &&
            during.ok > 0;
    const double p99_alone = static_cast<double>(alone.percentile_ns(0.99));
    ratios.emplace_back(connections, p99_alone > 0 ? during.percentile_ns(0.99) / p99_alone : 0);
  }
  for (auto [connections, ratio] : ratios) {
    std::printf(
        "agent p99 under a flood of %d bad-token connections / alone, at %d agent "
        "connections: %.2f\n",
        o.auth_flood, connections, ratio);
  }
  return clean;
}

// For each connection count: healthz, decisions, then debits, each with fresh idempotency keys
// (the phase's number is part of them); then the owners' balances must show every debit answered
// 201 and no other.
bool run_ledger_debit(const Options& o, const Endpoints& endpoints,
                      const Target& health, const Target& tx, const std::string& run,
                      const std::vector<std::string>& owners) {
  bool clean = true;
  std::int64_t debits_ok = 0;
  struct Ratios {
    int connections;
    double to_transactions, to_healthz;
  };
  std::vector<Ratios> ratios;
  for (std::size_t p = 0; p < o.connections.size(); ++p) {
    const int connections = o.connections[p];
    const Target debit{http::verb::post,
                       "/v1/ledger/debit",
                       "",
                       "",
                       201,
                       "POST /v1/ledger/debit",
                       0,
                       debit_bodies(owners, run + "-" + std::to_string(p))};
    const PhaseResult h = run_phase(o, health, endpoints, connections, o.duration_ms);
    print_row(connections, health.name, h);
    const PhaseResult d = run_phase(o, tx, endpoints, connections, o.duration_ms);
    print_row(connections, tx.name, d);
    const PhaseResult l = run_phase(o, debit, endpoints, connections, o.duration_ms);
    print_row(connections, debit.name, l);
    std::fflush(stdout);
    clean = clean && h.errors == 0 && d.errors == 0 && l.errors == 0 && d.ok > 0 && l.ok > 0;
    debits_ok += l.ok;
    ratios.push_back({connections, d.per_second() > 0 ? l.per_second() / d.per_second() : 0,
                      h.per_second() > 0 ? l.per_second() / h.per_second() : 0});
  }
  for (const Ratios& r : ratios) {
    std::printf("ratio debits/transactions at %d connections: %.3f, debits/healthz: %.3f\n",
                r.connections, r.to_transactions, r.to_healthz);
  }
  const auto debited = debited_total(o, owners);
  const bool kept = debited && *debited == debits_ok;
  std::printf(
      "ledger check: %lld debits answered 201 over %zu owner(s), balances show %lld "
      "debited: %s\n",
      static_cast<long long>(debits_ok), owners.size(),
      static_cast<long long>(debited.value_or(-1)), kept ? "equal" : "DIFFERENT");
  return clean && kept;
}

// One phase of decisions each confirmed at its reserved amount (see the header comment).
bool run_decide_settle(const Options& o, const Endpoints& endpoints, const Target& tx) {
  Target settle = tx;
  settle.name = "decide + confirm";
  const std::string confirm_body = R"({"final_amount":"1"})";
  settle.confirm_prefix = "POST /v1/transactions/";
  settle.confirm_suffix = "/confirm HTTP/1.1\r\nHost: " + o.host + ":" + o.port +
                          "\r\nAuthorization: Bearer " + tx.bearer +
                          "\r\nContent-Type: application/json\r\nContent-Length: " +
                          std::to_string(confirm_body.size()) + "\r\n\r\n" + confirm_body;
  const int connections = o.connections.front();
  const PhaseResult r = run_phase(o, settle, endpoints, connections, o.duration_ms);
  print_row(connections, settle.name, r);
  return r.errors == 0 && r.ok > 0;
}

std::optional<Options> parse_args(int argc, char** argv) {
  Options o;
  if (const char* pw = std::getenv("WARDEN_MASTER_PASSWORD")) o.password = pw;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i], value = argv[i + 1];
    if (key == "--addr") {
      // HOST:PORT, or several separated by commas (replicas of one cluster: the set-up runs on
      // the first, the connections go round the list).
      o.addrs.clear();
      for (std::size_t p = 0; p <= value.size();) {
        const std::size_t comma = std::min(value.find(',', p), value.size());
        const std::string one = value.substr(p, comma - p);
        const auto colon = one.rfind(':');
        if (colon == std::string::npos) return std::nullopt;
        o.addrs.emplace_back(one.substr(0, colon), one.substr(colon + 1));
        p = comma + 1;
      }
      o.host = o.addrs.front().first;
      o.port = o.addrs.front().second;
    } else if (key == "--connections") {
      o.connections.clear();
      for (std::size_t p = 0; p < value.size();) {
        const std::size_t comma = std::min(value.find(',', p), value.size());
        o.connections.push_back(std::atoi(value.substr(p, comma - p).c_str()));
        p = comma + 1;
      }
    } else if (key == "--duration-ms") {
      o.duration_ms = std::atoll(value.c_str());
    } else if (key == "--requests-max") {
      o.requests_max = std::atoll(value.c_str());
    } else if (key == "--threads") {
      o.threads = std::atoi(value.c_str());
    } else if (key == "--auth-flood") {
      o.auth_flood = std::atoi(value.c_str());
    } else if (key == "--scenario") {
      o.scenario = value;
    } else if (key == "--owners") {
      o.owners = std::atoi(value.c_str());
    } else if (key == "--keys") {
      auto order = key_order(value);
      if (!order) return std::nullopt;
      o.keys = *order;
    } else {
      return std::nullopt;
    }
  }
  const bool counts_ok =
      !o.connections.empty() && std::all_of(o.connections.begin(), o.connections.end(),
                                            [](int c) { return c >= 1 && c <= kConnectionsMax; });
  if (o.port.empty() || o.password.empty() || !counts_ok || o.duration_ms < 1 ||
      o.duration_ms > kDurationMsMax || o.requests_max < 1 || o.threads < 1 ||
      o.threads > kThreadsMax || o.auth_flood < 0 || o.auth_flood > kConnectionsMax ||
      (o.scenario != "decisions" && o.scenario != "ledger-debit" &&
       o.scenario != "decide-settle") ||
      (o.scenario == "decide-settle" && (o.auth_flood > 0 || o.connections.size() != 1)) ||
      (o.scenario == "ledger-debit" && o.auth_flood > 0) || o.owners < 1 || o.owners > kOwnersMax) {
    return std::nullopt;
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  auto options = parse_args(argc, argv);
  if (!options) {
    std::fprintf(stderr,
                 "usage: WARDEN_MASTER_PASSWORD=... warden_load --addr HOST:PORT[,HOST:PORT...] "
                 "[--connections 1,16,64 (each <= %d)] [--duration-ms 5000 (<= %lld)] "
                 "[--requests-max N] [--threads 1 (<= %d)] [--auth-flood N (bad-token "
                 "connections)] [--scenario decisions|ledger-debit|decide-settle (one "
                 "--connections)] [--owners 1 (<= %d, "
                 "ledger-debit)] [--keys random|connection|ordered (ledger-debit)]\n",
                 kConnectionsMax, static_cast<long long>(kDurationMsMax), kThreadsMax, kOwnersMax);
    return 2;
  }
  const Options& o = *options;
  const std::string run = std::to_string(Clock::now().time_since_epoch().count());
  auto fixture = set_up(o, run);
  if (!fixture) return 1;
  std::vector<std::string> owners;
  if (o.scenario == "ledger-debit") {
    auto minted = set_up_ledger(o, run, fixture->agent_id);
    if (!minted) return 1;
    owners = std::move(*minted);
  }
  // Resolved once; every connection (and reconnect) of every phase uses these endpoints.
  asio::io_context resolver_io;
  Endpoints endpoints;
  for (const auto& [host, port] : o.addrs) {
    beast::error_code ec;
    endpoints.push_back(tcp::resolver(resolver_io).resolve(host, port, ec));
    if (ec) {
      std::fprintf(stderr, "warden_load: resolve %s:%s: %s\n", host.c_str(), port.c_str(),
                   ec.message().c_str());
      return 1;
    }
  }
  // The set-up went to the first replica: the others hear of the new policy on the change
  // feed within a second.
  if (endpoints.size() > 1) std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const Target health{http::verb::get, "/healthz", "", "", 200, "GET /healthz"};
  const Target tx{
      http::verb::post,
      "/v1/transactions",
      R"({"type":"TRANSFER","to":"0x00000000000000000000000000000000000000aa","amount":"1"})",
      fixture->token,
      201,
      "POST /v1/transactions"};
  std::printf("%5s  %-22s %9s %7s %11s %10s %10s\n", "conns", "request", "ok", "errors", "req/s",
              "p50 us", "p99 us");
  if (o.auth_flood > 0) return run_auth_flood(o, endpoints, tx) ? 0 : 1;
  if (o.scenario == "decide-settle") return run_decide_settle(o, endpoints, tx) ? 0 : 1;
  if (o.scenario == "ledger-debit") {
    return run_ledger_debit(o, endpoints, health, tx, run, owners) ? 0 : 1;
  }
  bool clean = true;
  std::vector<std::pair<int, double>> ratios;
  for (int connections : o.connections) {
    const PhaseResult h = run_phase(o, health, endpoints, connections, o.duration_ms);
    print_row(connections, health.name, h);
    const PhaseResult d = run_phase(o, tx, endpoints, connections, o.duration_ms);
    print_row(connections, tx.name, d);
    std::fflush(stdout);
    clean = clean && h.errors == 0 && d.errors == 0 && d.ok > 0;
    ratios.emplace_back(connections, h.per_second() > 0 ? d.per_second() / h.per_second() : 0);
  }
  for (auto [connections, ratio] : ratios) {
    std::printf("ratio transactions/healthz at %d connections: %.3f (healthz is %.1fx faster)\n",
                connections, ratio, ratio > 0 ? 1 / ratio : 0.0);
  }
  return clean ? 0 : 1;
}
