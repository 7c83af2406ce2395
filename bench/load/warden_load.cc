// warden_load: a loopback HTTP load generator. Creates an agent, a session and a SPENDING_LIMIT
// policy whose window never fills, then drives POST /v1/transactions (durable decisions) and
// GET /healthz (no write: the in-run baseline) with N keep-alive connections, one thread each,
// for a fixed duration, and prints throughput, p50/p99 latency and the ratio between the two.
#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <latch>
#include <optional>
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

constexpr int kConnectionsMax = 256;
constexpr std::int64_t kDurationMsMax = 60'000;
constexpr std::size_t kSamplesPerThreadMax = 1'000'000;  // latency samples kept per thread
constexpr const char* kWindowMax = "1000000000000000000000000000000000000000000000000000000000000";

struct Options {
  std::string host = "127.0.0.1";
  std::string port;
  std::string password;
  std::vector<int> connections = {1, 16, 64};
  std::int64_t duration_ms = 5000;
  std::int64_t requests_max = 5'000'000;  // per phase, across all connections
};

struct Target {
  http::verb verb;
  std::string path;
  std::string body;
  std::string bearer;
  unsigned expect_status;
  const char* name;
};

// One keep-alive connection; reconnects when the server closes it.
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

// Set-up call with the master password; the parsed JSON answer or nullopt (reason printed).
std::optional<json::object> master_call(Connection& c, const Options& o, const std::string& path,
                                        const json::object& body) {
  const Target t{http::verb::post, path, json::serialize(body), "", 201, "setup"};
  auto res = c.send(make_request(o, t));
  if (!res || (res->result_int() != 201 && res->result_int() != 200)) {
    std::fprintf(stderr, "warden_load: POST %s -> %u %s\n", path.c_str(),
                 res ? res->result_int() : 0u, res ? res->body().c_str() : "(no answer)");
    return std::nullopt;
  }
  boost::system::error_code ec;
  json::value v = json::parse(res->body(), ec);
  if (ec || !v.is_object()) return std::nullopt;
  return v.as_object();
}

// Agent + session + SPENDING_LIMIT (instant tier, a 24h window that never fills); the token.
std::optional<std::string> set_up(const Options& o) {
  Connection c(o);
  if (!c.connect()) return std::nullopt;
  const std::string name = "load-" + std::to_string(Clock::now().time_since_epoch().count());
  auto agent = master_call(c, o, "/v1/agents", {{"name", name}});
  if (!agent) return std::nullopt;
  const json::value agent_id = agent->at("id");
  json::object rules{
      {"instant_max", "1000000"},
      {"windows", json::array{json::object{{"duration", "24h"}, {"max", kWindowMax}}}}};
  if (!master_call(c, o, "/v1/policies",
                   {{"agent_id", agent_id}, {"type", "SPENDING_LIMIT"}, {"rules", rules}})) {
    return std::nullopt;
  }
  auto session = master_call(c, o, "/v1/sessions", {{"agent_id", agent_id}, {"ttl_s", 3600}});
  if (!session || !session->at("token").is_string()) return std::nullopt;
  return std::string(session->at("token").as_string());
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

struct Worker {
  std::int64_t ok = 0, errors = 0;
  std::vector<std::int64_t> latency_ns;
};

void drive(const Options& o, const Target& t, std::latch& ready, const Clock::time_point& start,
           std::atomic<std::int64_t>& issued, Worker* w) {
  Connection c(o);
  const bool connected = c.connect();
  const auto req = make_request(o, t);
  ready.arrive_and_wait();
  if (!connected) return;
  const auto deadline = start + std::chrono::milliseconds(o.duration_ms);
  while (Clock::now() < deadline &&
         issued.fetch_add(1, std::memory_order_relaxed) < o.requests_max) {
    const auto t0 = Clock::now();
    auto res = c.send(req);
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
    const bool good = res && res->result_int() == t.expect_status &&
                      res->body().find("\"DENIED\"") == std::string::npos;
    if (!good) {
      if (w->errors++ == 0 && res) {
        std::fprintf(stderr, "warden_load: %s -> %u %s\n", t.name, res->result_int(),
                     res->body().substr(0, 300).c_str());
      }
      if (!res) return;  // the connection is gone and could not be re-opened
      continue;
    }
    ++w->ok;
    if (w->latency_ns.size() < kSamplesPerThreadMax) w->latency_ns.push_back(ns);
  }
}

PhaseResult run_phase(const Options& o, const Target& t, int connections) {
  std::vector<Worker> workers(connections);
  std::latch ready(connections + 1);
  std::atomic<std::int64_t> issued{0};
  Clock::time_point start;
  std::vector<std::thread> threads;
  for (int i = 0; i < connections; ++i) {
    threads.emplace_back(drive, std::cref(o), std::cref(t), std::ref(ready), std::cref(start),
                         std::ref(issued), &workers[i]);
  }
  start = Clock::now();  // written before the latch releases the workers
  ready.arrive_and_wait();
  for (auto& th : threads) th.join();
  PhaseResult r;
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  for (auto& w : workers) {
    r.ok += w.ok;
    r.errors += w.errors;
    r.latency_ns.insert(r.latency_ns.end(), w.latency_ns.begin(), w.latency_ns.end());
  }
  std::sort(r.latency_ns.begin(), r.latency_ns.end());
  return r;
}

void print_row(int connections, const char* name, const PhaseResult& r) {
  std::printf("%5d  %-22s %9lld %7lld %11.0f %10.1f %10.1f\n", connections, name,
              static_cast<long long>(r.ok), static_cast<long long>(r.errors), r.per_second(),
              r.percentile_ns(0.50) / 1e3, r.percentile_ns(0.99) / 1e3);
}

std::optional<Options> parse_args(int argc, char** argv) {
  Options o;
  if (const char* pw = std::getenv("WARDEN_MASTER_PASSWORD")) o.password = pw;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i], value = argv[i + 1];
    if (key == "--addr") {
      const auto colon = value.rfind(':');
      if (colon == std::string::npos) return std::nullopt;
      o.host = value.substr(0, colon);
      o.port = value.substr(colon + 1);
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
    } else {
      return std::nullopt;
    }
  }
  const bool counts_ok =
      !o.connections.empty() && std::all_of(o.connections.begin(), o.connections.end(),
                                            [](int c) { return c >= 1 && c <= kConnectionsMax; });
  if (o.port.empty() || o.password.empty() || !counts_ok || o.duration_ms < 1 ||
      o.duration_ms > kDurationMsMax || o.requests_max < 1) {
    return std::nullopt;
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  auto options = parse_args(argc, argv);
  if (!options) {
    std::fprintf(stderr,
                 "usage: WARDEN_MASTER_PASSWORD=... warden_load --addr HOST:PORT "
                 "[--connections 1,16,64] [--duration-ms 5000 (<= %lld)] [--requests-max N]\n",
                 static_cast<long long>(kDurationMsMax));
    return 2;
  }
  const Options& o = *options;
  auto token = set_up(o);
  if (!token) return 1;
  const Target health{http::verb::get, "/healthz", "", "", 200, "GET /healthz"};
  const Target tx{
      http::verb::post,
      "/v1/transactions",
      R"({"type":"TRANSFER","to":"0x00000000000000000000000000000000000000aa","amount":"1"})",
      *token,
      201,
      "POST /v1/transactions"};
  std::printf("%5s  %-22s %9s %7s %11s %10s %10s\n", "conns", "request", "ok", "errors", "req/s",
              "p50 us", "p99 us");
  bool clean = true;
  std::vector<std::pair<int, double>> ratios;
  for (int connections : o.connections) {
    const PhaseResult h = run_phase(o, health, connections);
    print_row(connections, health.name, h);
    const PhaseResult d = run_phase(o, tx, connections);
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
