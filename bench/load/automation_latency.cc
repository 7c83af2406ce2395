// automation_latency: event -> built-in action latency through a running daemon. Sets up
// --agents agents and two enabled automations on the built-in host "warden" (bench.suspend ->
// agent.suspend and bench.resume -> agent.resume, target {{event.subject}}), then, one event at
// a time, posts the event that flips an agent and reads the agent back until its status has
// flipped: the time from sending the event to seeing the action's effect. The in-run baseline
// is the same flip done directly (PUT /v1/agents/{id}, answered after its commit). One
// keep-alive connection, sequential: latency, not throughput. Prints p50/p99/max of both.
// Usage: automation_latency --addr HOST:PORT [--samples N] [--agents N]; the master password
// is WARDEN_MASTER_PASSWORD.
#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = boost::asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr int kPollsMax = 100'000;  // per sample: a flip not seen by then is an error

struct Options {
  std::string host = "127.0.0.1";
  std::string port;
  int samples = 500;
  int agents = 20;
  std::string password;
};

class Client {
 public:
  Client(const Options& o) : stream_(io_), password_(o.password) {
    tcp::resolver resolver(io_);
    stream_.connect(resolver.resolve(o.host, o.port));
    stream_.socket().set_option(tcp::no_delay(true));
  }
  // One request with the master password; the status and the parsed body.
  std::pair<int, json::value> call(http::verb method, const std::string& target,
                                   const std::string& body = {}) {
    http::request<http::string_body> req(method, target, 11);
    req.set(http::field::host, "bench");
    req.set("X-Master-Password", password_);
    req.keep_alive(true);
    if (!body.empty()) {
      req.set(http::field::content_type, "application/json");
      req.body() = body;
    }
    req.prepare_payload();
    http::write(stream_, req);
    http::response<http::string_body> res;
    http::read(stream_, buffer_, res);
    boost::system::error_code ec;
    json::value v = res.body().empty() ? json::value() : json::parse(res.body(), ec);
    return {static_cast<int>(res.result_int()), ec ? json::value() : v};
  }
  json::value must(http::verb method, const std::string& target, const std::string& body,
                   int want) {
    auto [status, v] = call(method, target, body);
    if (status != want) {
      throw std::runtime_error(target + " answered " + std::to_string(status) + ": " +
                               json::serialize(v));
    }
    return v;
  }

 private:
  boost::asio::io_context io_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::string password_;
};

std::string text(const json::value& v, const char* key) {
  const auto* f = v.is_object() ? v.as_object().if_contains(key) : nullptr;
  return f && f->is_string() ? std::string(f->as_string()) : "";
}

// Saves, dry-runs (with a sample about `agent`) and enables an automation on event `kind`.
void automation(Client& c, const std::string& kind, const std::string& verb,
                const std::string& agent) {
  json::object spec{
      {"name", "bench " + verb},
      {"trigger_group",
       json::object{{"triggers", json::array{json::object{{"kind", "event"}, {"event", kind}}}}}},
      {"targets", json::array{json::object{{"host", "warden"}, {"selector", "{{event.subject}}"}}}},
      {"actions", json::array{json::object{{"host", "warden"},
                                           {"capability", "agent"},
                                           {"verb", verb},
                                           {"params", json::object{}}}}}};
  const std::string id =
      text(c.must(http::verb::post, "/v1/automations", json::serialize(spec), 201), "id");
  json::object sample{{"event", json::object{{"kind", kind}, {"subject", agent}}}};
  c.must(http::verb::post, "/v1/automations/" + id + "/dry-run", json::serialize(sample), 200);
  c.must(http::verb::post, "/v1/automations/" + id + "/enable", "", 200);
}

double micros(Clock::duration d) {
  return std::chrono::duration<double, std::micro>(d).count();
}

void report(const char* what, std::vector<double> us) {
  std::sort(us.begin(), us.end());
  auto at = [&](double q) { return us[std::min(us.size() - 1, std::size_t(q * us.size()))]; };
  std::printf("%-44s n=%zu  p50 %8.0f us  p99 %8.0f us  max %8.0f us\n", what, us.size(), at(0.5),
              at(0.99), us.back());
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--addr") {
      const auto colon = v.rfind(':');
      o.host = v.substr(0, colon);
      o.port = v.substr(colon + 1);
    } else if (k == "--samples") {
      o.samples = std::atoi(v.c_str());
    } else if (k == "--agents") {
      o.agents = std::atoi(v.c_str());
    } else {
      throw std::runtime_error("unknown option " + k);
    }
  }
  const char* pw = std::getenv("WARDEN_MASTER_PASSWORD");
  if (o.port.empty() || pw == nullptr || o.samples < 1 || o.agents < 1) {
    throw std::runtime_error(
        "usage: WARDEN_MASTER_PASSWORD=... automation_latency --addr HOST:PORT [--samples N] "
        "[--agents N]");
  }
  o.password = pw;
  return o;
}

}  // namespace

int main(int argc, char** argv) try {
  const Options o = parse(argc, argv);
  Client c(o);
  std::vector<std::string> agents;
  std::vector<bool> active;
  for (int i = 0; i < o.agents; ++i) {
    json::object a{{"name", "bench-" + std::to_string(i)}};
    agents.push_back(text(c.must(http::verb::post, "/v1/agents", json::serialize(a), 201), "id"));
    active.push_back(true);
  }
  automation(c, "bench.suspend", "suspend", agents[0]);
  automation(c, "bench.resume", "resume", agents[0]);

  std::vector<double> direct, through_event;
  for (int s = 0; s < o.samples; ++s) {
    const std::size_t i = static_cast<std::size_t>(s) % agents.size();
    const std::string want = active[i] ? "SUSPENDED" : "ACTIVE";
    const auto t0 = Clock::now();
    c.must(http::verb::put, "/v1/agents/" + agents[i],
           json::serialize(json::object{{"status", want}}), 200);
    direct.push_back(micros(Clock::now() - t0));
    // Back again through an event: sent, then read until the action shows.
    const std::string back = active[i] ? "ACTIVE" : "SUSPENDED";
    json::object event{{"kind", active[i] ? "bench.resume" : "bench.suspend"},
                       {"subject", agents[i]}};
    const auto t1 = Clock::now();
    c.must(http::verb::post, "/v1/events", json::serialize(event), 202);
    int polls = 0;
    while (text(c.must(http::verb::get, "/v1/agents/" + agents[i], "", 200), "status") != back) {
      if (++polls > kPollsMax) throw std::runtime_error("the action never showed");
    }
    through_event.push_back(micros(Clock::now() - t1));
  }
  report("direct PUT /v1/agents/{id} (baseline)", direct);
  report("POST /v1/events -> agent changed by automation", through_event);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "automation_latency: %s\n", e.what());
  return 1;
}
