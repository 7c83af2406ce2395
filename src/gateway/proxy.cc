// The gateway's transport: Beast connections from clients, pooled Beast(+OpenSSL) connections
// to upstreams, SSE passed through chunk by chunk. One io_context per thread; a client
// connection, its exchanges and the upstream connections they use all live on one thread, so
// nothing here takes a lock but the settlement queue and the metrics.
#include "gateway/proxy.h"

#include <openssl/ssl.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json/serialize.hpp>

#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <limits>
#include <thread>
#include <unordered_map>

#include "core/thread_name.h"
#include "server/http_types.h"
#include "server/log.h"
#include "tokenize/tokenize.h"

namespace warden::gateway {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
namespace json = boost::json;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kHeaderBytesMax = 16u << 10;
constexpr std::size_t kReadChunkBytes = 16u << 10;
constexpr std::size_t kUpstreamErrorBodyBytesMax = 1u << 20;
// A settlement the writer refused (its queue full) is offered again after this.
constexpr auto kSettleRetry = std::chrono::milliseconds(5);
// How long a settlement waits for others to share a commit with.
constexpr auto kSettleBatchWindow = std::chrono::milliseconds(2);
constexpr std::array<std::int64_t, 12> kBucketsUs = {
    50, 100, 250, 500, 1000, 2500, 5000, 10000, 50000, 250000, 1000000, 10000000};

std::int64_t micros_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t).count();
}

// --- metrics ------------------------------------------------------------------------------

class GatewayMetrics {
 public:
  void request(std::string_view route, int status, std::int64_t added_us,
               std::optional<std::int64_t> upstream_us) {
    std::lock_guard lock(mu_);
    ++requests_[{std::string(route), status}];
    added_.observe(added_us);
    if (upstream_us) upstream_.observe(*upstream_us);
  }
  void upstream_status(std::string_view provider, int status) {
    std::lock_guard lock(mu_);
    ++upstream_status_[{std::string(provider), status}];
  }
  void tokens(std::string_view model, std::int64_t prompt, std::int64_t completion) {
    std::lock_guard lock(mu_);
    auto& t = tokens_[std::string(model)];
    t.first += prompt;
    t.second += completion;
  }
  void cut() { cuts_.fetch_add(1, std::memory_order_relaxed); }
  void connected() { connections_.fetch_add(1, std::memory_order_relaxed); }

  std::string render() const {
    std::lock_guard lock(mu_);
    std::string out;
    out += "# HELP warden_gateway_requests_total Gateway requests by route and answer status.\n";
    out += "# TYPE warden_gateway_requests_total counter\n";
    for (const auto& [k, n] : requests_) {
      out += fmt::format("warden_gateway_requests_total{{route=\"{}\",status=\"{}\"}} {}\n",
                         k.first, k.second, n);
    }
    out += "# HELP warden_gateway_upstream_responses_total Upstream answers by provider and "
           "status (0: no answer).\n";
    out += "# TYPE warden_gateway_upstream_responses_total counter\n";
    for (const auto& [k, n] : upstream_status_) {
      out += fmt::format(
          "warden_gateway_upstream_responses_total{{provider=\"{}\",status=\"{}\"}} {}\n", k.first,
          k.second, n);
    }
    out += "# HELP warden_gateway_tokens_total Tokens used through the gateway by model.\n";
    out += "# TYPE warden_gateway_tokens_total counter\n";
    for (const auto& [model, t] : tokens_) {
      out += fmt::format("warden_gateway_tokens_total{{model=\"{}\",kind=\"prompt\"}} {}\n",
                         model, t.first);
      out += fmt::format("warden_gateway_tokens_total{{model=\"{}\",kind=\"completion\"}} {}\n",
                         model, t.second);
    }
    out += "# HELP warden_gateway_streams_cut_total Streams ended at their reserved output.\n";
    out += "# TYPE warden_gateway_streams_cut_total counter\n";
    out += fmt::format("warden_gateway_streams_cut_total {}\n", cuts_.load());
    out += "# HELP warden_gateway_upstream_connections_total Upstream connections opened (the "
           "rest of the calls reused a pooled one).\n";
    out += "# TYPE warden_gateway_upstream_connections_total counter\n";
    out += fmt::format("warden_gateway_upstream_connections_total {}\n", connections_.load());
    added_.render("warden_gateway_added_latency_seconds",
                  "Time a request spent in the gateway (total minus upstream).", out);
    upstream_.render("warden_gateway_upstream_latency_seconds",
                     "Upstream time from the request sent to the response's end.", out);
    return out;
  }

 private:
  struct Histogram {
    std::array<std::uint64_t, kBucketsUs.size() + 1> buckets{};
    std::uint64_t sum_us = 0;
    void observe(std::int64_t us) {
      std::size_t i = 0;
      while (i < kBucketsUs.size() && us > kBucketsUs[i]) ++i;
      ++buckets[i];
      sum_us += static_cast<std::uint64_t>(std::max<std::int64_t>(0, us));
    }
    void render(std::string_view name, std::string_view help, std::string& out) const {
      out += fmt::format("# HELP {} {}\n# TYPE {} histogram\n", name, help, name);
      std::uint64_t cumulative = 0;
      for (std::size_t i = 0; i < kBucketsUs.size(); ++i) {
        cumulative += buckets[i];
        out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name,
                           static_cast<double>(kBucketsUs[i]) / 1e6, cumulative);
      }
      cumulative += buckets.back();
      out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n", name,
                         cumulative, name, static_cast<double>(sum_us) / 1e6, name, cumulative);
    }
  };
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, std::uint64_t> requests_;         // guarded by mu_
  std::map<std::pair<std::string, int>, std::uint64_t> upstream_status_;  // guarded by mu_
  std::map<std::string, std::pair<std::int64_t, std::int64_t>> tokens_;   // guarded by mu_
  Histogram added_;     // guarded by mu_
  Histogram upstream_;  // guarded by mu_
  std::atomic<std::uint64_t> cuts_{0};
  std::atomic<std::uint64_t> connections_{0};
};

std::string_view route_name(Route r) {
  switch (r) {
    case Route::kChatCompletions:
      return "/v1/chat/completions";
    case Route::kEmbeddings:
      return "/v1/embeddings";
    case Route::kMessages:
      return "/v1/messages";
    case Route::kCohereChat:
      return "/v2/chat";
    case Route::kGemini:
      return "/v1beta/models";
  }
  return "";
}

// --- upstream connections ---------------------------------------------------------------------

struct UpstreamConn {
  explicit UpstreamConn(net::io_context& io) : tcp(io) {}
  beast::tcp_stream tcp;                                   // a plain connection
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls;  // or a TLS one over its own socket
  beast::flat_buffer buffer;
  std::string origin;
  bool reused = false;

  beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : tcp; }
  template <class F>
  void with(F&& f) {
    if (tls) {
      f(*tls);
    } else {
      f(tcp);
    }
  }
  void close() {
    beast::error_code ec;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
    lowest().close();
  }
};

// One thread: its io_context and its idle upstream connections per origin.
struct Worker {
  net::io_context io{1};
  std::unordered_map<std::string, std::vector<std::unique_ptr<UpstreamConn>>> idle;
};

std::string origin_of(const Upstream& u) {
  return (u.tls ? "https://" : "http://") + u.host + ":" + u.port;
}

class Proxy;

// --- one client connection --------------------------------------------------------------------

class ClientConn;

// One proxied call, from the decision to the settlement.
class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  Exchange(std::shared_ptr<ClientConn> client, Proxy& proxy, Worker& worker, Prepared prepared,
           bool keep_alive, Clock::time_point started)
      : client_(std::move(client)),
        proxy_(proxy),
        worker_(worker),
        p_(std::move(prepared)),
        keep_alive_(keep_alive),
        started_(started),
        stream_parser_(p_.provider) {}

  void start();

 private:
  // The decision is made (before its commit, or in cluster mode with its commit).
  void on_decided(const json::object& body, const std::vector<std::string>& assets);
  void on_committed(Result<decisions::Answer> answer);
  // Runs f once the decision is on disk (now, when it is); never when its write failed.
  void after_commit(std::function<void()> f);
  // The exchange no longer holds up shutdown (its settlement, if any, is queued).
  void done();
  void connect();
  void on_connected(beast::error_code ec);
  void send_request();
  void on_sent(beast::error_code ec);
  void on_header(beast::error_code ec);
  void read_body();
  void on_body(beast::error_code ec);
  void forward_chunk(std::string bytes, bool last);
  void finish_whole();
  void answer_whole();
  void finish_stream(std::string error);
  // The upstream failed before its answer began: nothing was used.
  void upstream_failed(int status, std::string code, std::string message);
  void answer_failure(int status, std::string code, std::string message);
  void settle(Observed seen);
  void release_upstream(bool reusable);
  std::int64_t count_tokens(std::string_view text) const {
    return static_cast<std::int64_t>(tokenize::count_text(p_.model.name, text).tokens);
  }

  std::shared_ptr<ClientConn> client_;
  Proxy& proxy_;
  Worker& worker_;
  Prepared p_;
  const bool keep_alive_;
  const Clock::time_point started_;
  std::string tx_id_;
  bool metered_ = false;
  bool decided_ = false;     // on_decided() ran
  bool forwarding_ = false;  // the decision allowed the call: it went upstream
  bool committed_ = false;   // the decision's write committed
  bool failed_ = false;      // the decision's write failed: nothing more reaches the client
  bool finished_ = false;
  std::vector<std::function<void()>> waiting_;  // for the commit
  std::unique_ptr<UpstreamConn> up_;
  tcp::resolver::results_type endpoints_;
  std::optional<http::request<http::string_body>> request_;
  std::optional<http::response_parser<http::buffer_body>> parser_;
  std::array<char, kReadChunkBytes> chunk_{};
  Clock::time_point sent_at_;
  std::int64_t upstream_us_ = 0;
  int upstream_status_ = 0;
  std::string upstream_content_type_;
  bool streaming_ = false;
  bool client_gone_ = false;
  bool cut_ = false;
  std::string whole_;    // a non-streamed body
  std::string pending_;  // streamed bytes after the last complete event
  std::int64_t response_bytes_ = 0;
  StreamParser stream_parser_;
  std::int64_t streamed_completion_tokens_ = 0;
  std::int64_t events_ = 0;
};

class ClientConn : public std::enable_shared_from_this<ClientConn> {
 public:
  ClientConn(tcp::socket socket, Proxy& proxy, Worker& worker);
  ~ClientConn();
  void start();
  void drain();

  // A whole answer; then the next request (keep-alive) or the close.
  void respond(int status, std::string content_type, std::string body,
               std::vector<std::pair<std::string, std::string>> headers, bool keep_alive);
  void refuse(const ClientError& e, Route route, bool keep_alive,
              std::vector<std::pair<std::string, std::string>> headers = {});
  // A streamed answer: the head, chunks, the end. `done(ok)` runs after each write.
  void stream_head(int status, std::string content_type,
                   std::vector<std::pair<std::string, std::string>> headers,
                   std::function<void(bool)> done);
  void stream_chunk(std::string bytes, std::function<void(bool)> done);
  void stream_end(bool keep_alive);
  void abort() { close(); }
  net::any_io_executor executor() { return stream_.get_executor(); }
  const std::string& peer() const { return peer_; }

 private:
  void read();
  void on_read(beast::error_code ec, std::size_t);
  void handle();
  void admitted(std::shared_ptr<http::request<http::string_body>> msg, Route route,
                std::string gemini_model, bool gemini_stream, Clock::time_point started);
  void write(std::shared_ptr<std::string> bytes, std::function<void(bool)> done);
  void after_response(bool keep_alive);
  void close();

  beast::tcp_stream stream_;
  Proxy& proxy_;
  Worker& worker_;
  std::string peer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool reading_ = false;
  bool draining_ = false;
  std::optional<std::uint64_t> live_id_;  // in the proxy's list of connections
};

// --- the proxy --------------------------------------------------------------------------------

class Proxy final : public server::Frontend {
 public:
  Proxy(const server::Services& services, GatewayOptions options)
      : services_(services),
        gateway_(services.store, services.decisions, services.clock, services.ids, options),
        options_(std::move(options)),
        ssl_(ssl::context::tls_client) {
    for (int i = 0; i < std::max(1, options_.threads); ++i) {
      workers_.push_back(std::make_unique<Worker>());
    }
    flush_timer_.emplace(workers_.front()->io);
  }

  ~Proxy() override {
    stop(Clock::now());
    // Connections left in the io_contexts unregister from live_ as they go: before it goes.
    acceptor_.reset();
    flush_timer_.reset();
    workers_.clear();
  }

  Status start() {
    acceptor_.emplace(workers_.front()->io);
    beast::error_code ec;
    ssl_.set_default_verify_paths(ec);
    if (!options_.ca_file.empty()) {
      ssl_.load_verify_file(options_.ca_file, ec);
      if (ec) {
        return Status(ErrorCode::CONFIG_INVALID,
                      "gateway ca_file " + options_.ca_file + ": " + ec.message());
      }
    }
    ssl_.set_verify_mode(ssl::verify_peer);
    const auto address = net::ip::make_address(options_.host, ec);
    if (ec) return Status(ErrorCode::CONFIG_INVALID, "invalid gateway address '" + options_.host + "'");
    const tcp::endpoint ep(address, options_.port);
    acceptor_->open(ep.protocol(), ec);
    if (!ec) acceptor_->set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_->bind(ep, ec);
    if (!ec) acceptor_->listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      return Status(ErrorCode::CONFIG_INVALID, "gateway cannot listen on " + options_.host + ":" +
                                                   std::to_string(options_.port) + ": " +
                                                   ec.message());
    }
    const auto bound = acceptor_->local_endpoint();
    if (!options_.addr_file.empty()) {
      const std::string tmp = options_.addr_file + ".tmp";
      {
        std::ofstream out(tmp, std::ios::trunc);
        out << bound.address().to_string() << ":" << bound.port() << "\n";
      }
      std::error_code fec;
      std::filesystem::rename(tmp, options_.addr_file, fec);
      if (fec) return Status(ErrorCode::INTERNAL_ERROR, "cannot write " + options_.addr_file);
    }
    services_.metrics.add_source([this] { return metrics_.render(); });
    accept();
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      threads_.emplace_back([this, i] {
        name_this_thread("warden-gw-" + std::to_string(i));
        auto guard = net::make_work_guard(workers_[i]->io);
        workers_[i]->io.run();
      });
    }
    server::log_event(server::LogLevel::kInfo, "gateway listening",
                      {{"address", bound.address().to_string()},
                       {"port", bound.port()},
                       {"threads", static_cast<std::int64_t>(workers_.size())}});
    return Status();
  }

  void begin_drain() override {
    draining_ = true;
    if (acceptor_) {
      net::post(acceptor_->get_executor(), [this] {
        beast::error_code ec;
        acceptor_->close(ec);
      });
    }
    std::vector<std::shared_ptr<ClientConn>> live;
    {
      std::lock_guard lock(live_mu_);
      for (auto& [id, w] : live_) {
        if (auto c = w.lock()) live.push_back(std::move(c));
      }
    }
    for (auto& c : live) c->drain();
  }

  void stop(Clock::time_point deadline) override {
    if (threads_.empty()) return;
    if (!draining_) begin_drain();
    {
      std::unique_lock lock(busy_mu_);
      busy_cv_.wait_until(lock, deadline, [this] { return busy_ == 0; });
    }
    for (auto& w : workers_) w->io.stop();
    for (auto& t : threads_) t.join();
    threads_.clear();
    if (busy_ != 0) {
      server::log_event(server::LogLevel::kWarn, "gateway drain timeout",
                        {{"requests_in_flight", static_cast<std::int64_t>(busy_)}});
    }
  }

  Gateway& gateway() { return gateway_; }
  decisions::DecisionService& decisions() { return services_.decisions; }
  GatewayMetrics& metrics() { return metrics_; }
  ssl::context& ssl_context() { return ssl_; }
  const GatewayOptions& options() const { return options_; }
  bool draining() const { return draining_; }

  std::uint64_t add_live(const std::shared_ptr<ClientConn>& c) {
    std::lock_guard lock(live_mu_);
    const std::uint64_t id = next_id_++;
    live_[id] = c;
    return id;
  }
  void remove_live(std::uint64_t id) {
    std::lock_guard lock(live_mu_);
    live_.erase(id);
  }

  // A request from decision to settlement: shutdown waits for these.
  void busy(int delta) {
    std::lock_guard lock(busy_mu_);
    busy_ += delta;
    if (busy_ == 0) busy_cv_.notify_all();
  }

  // Backpressure: a request starts when fewer than settlements_in_flight_max settlements wait
  // for the writer; otherwise it waits for one to finish.
  void admit(net::any_io_executor ex, std::function<void()> go) {
    {
      std::lock_guard lock(settle_mu_);
      if (settling_ >= options_.settlements_in_flight_max) {
        parked_.push_back({std::move(ex), std::move(go)});
        return;
      }
    }
    go();
  }

  // Settles through the decision service, again after a pause when the writer's queue is full:
  // a usage is never dropped. Settlements wait up to kSettleBatchWindow and go to the writer
  // together, so they share its commits (the client already has its answer).
  void settle(std::string tx_id, decisions::UsageSettlement s) {
    bool arm = false;
    {
      std::lock_guard lock(settle_mu_);
      ++settling_;
      batch_.push_back(std::make_shared<Settlement>(std::move(tx_id), std::move(s)));
      arm = !flush_armed_;
      flush_armed_ = true;
    }
    busy(+1);
    if (!arm) return;
    net::post(workers_.front()->io, [this] {
      flush_timer_->expires_after(kSettleBatchWindow);
      flush_timer_->async_wait([this](beast::error_code) { flush(); });
    });
  }

 private:
  using Settlement = std::pair<std::string, decisions::UsageSettlement>;

  void flush() {
    std::vector<std::shared_ptr<Settlement>> items;
    {
      std::lock_guard lock(settle_mu_);
      items.swap(batch_);
      flush_armed_ = false;
    }
    for (auto& item : items) offer(std::move(item));
  }

  void offer(std::shared_ptr<Settlement> item) {
    decisions::Actor system;
    system.system = true;
    services_.decisions.settle_usage(
        item->first, system, item->second, [this, item](Result<json::object> r) {
          if (!r.ok() && r.status().code() == ErrorCode::SERVER_OVERLOADED) {
            auto timer = std::make_shared<net::steady_timer>(workers_.front()->io, kSettleRetry);
            timer->async_wait([this, item, timer](beast::error_code) { offer(item); });
            return;
          }
          if (!r.ok()) {
            server::log_event(server::LogLevel::kError, "gateway settlement failed",
                              {{"tx_id", item->first}, {"error", r.status().to_string()}});
          }
          settled();
        });
  }

  void settled() {
    std::optional<std::pair<net::any_io_executor, std::function<void()>>> next;
    {
      std::lock_guard lock(settle_mu_);
      --settling_;
      if (!parked_.empty()) {
        next = std::move(parked_.front());
        parked_.pop_front();
      }
    }
    if (next) net::post(next->first, std::move(next->second));
    busy(-1);
  }

  void accept() {
    Worker& w = *workers_[next_worker_++ % workers_.size()];
    acceptor_->async_accept(w.io, [this, &w](beast::error_code ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted || !acceptor_->is_open()) return;
      if (!ec && !draining_) {
        auto conn = std::make_shared<ClientConn>(std::move(socket), *this, w);
        conn->start();
      }
      accept();
    });
  }

  server::Services services_;
  Gateway gateway_;
  const GatewayOptions options_;
  ssl::context ssl_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  std::optional<tcp::acceptor> acceptor_;  // on the first worker, once started
  std::size_t next_worker_ = 0;  // used on the acceptor's thread only
  std::atomic<bool> draining_{false};
  GatewayMetrics metrics_;

  std::mutex live_mu_;
  std::unordered_map<std::uint64_t, std::weak_ptr<ClientConn>> live_;  // guarded by live_mu_
  std::uint64_t next_id_ = 0;                                          // guarded by live_mu_

  std::mutex busy_mu_;
  std::condition_variable busy_cv_;
  std::int64_t busy_ = 0;  // guarded by busy_mu_

  std::mutex settle_mu_;
  std::size_t settling_ = 0;  // guarded by settle_mu_
  std::vector<std::shared_ptr<Settlement>> batch_;  // waiting for the flush; settle_mu_
  bool flush_armed_ = false;                        // guarded by settle_mu_
  std::optional<net::steady_timer> flush_timer_;  // on the first worker, used there only
  std::deque<std::pair<net::any_io_executor, std::function<void()>>> parked_;  // settle_mu_
};

// --- ClientConn -------------------------------------------------------------------------------

ClientConn::ClientConn(tcp::socket socket, Proxy& proxy, Worker& worker)
    : stream_(std::move(socket)), proxy_(proxy), worker_(worker) {
  beast::error_code ec;
  const auto ep = stream_.socket().remote_endpoint(ec);
  if (!ec) peer_ = ep.address().to_string();
  // A stream is many small writes: Nagle would hold each one for the client's delayed ACK.
  stream_.socket().set_option(tcp::no_delay(true), ec);
}

ClientConn::~ClientConn() {
  if (live_id_) proxy_.remove_live(*live_id_);
}

void ClientConn::start() {
  live_id_ = proxy_.add_live(shared_from_this());
  read();
}

void ClientConn::drain() {
  net::post(stream_.get_executor(), [self = shared_from_this()] {
    self->draining_ = true;
    if (self->reading_ && !self->parser_->got_some()) self->close();
  });
}

void ClientConn::read() {
  if (draining_ || proxy_.draining()) return close();
  parser_.emplace();
  parser_->body_limit(proxy_.options().body_bytes_max);
  parser_->header_limit(static_cast<std::uint32_t>(kHeaderBytesMax));
  stream_.expires_after(std::chrono::milliseconds(proxy_.options().request_timeout_ms));
  reading_ = true;
  http::async_read(stream_, buffer_, *parser_,
                   beast::bind_front_handler(&ClientConn::on_read, shared_from_this()));
}

void ClientConn::on_read(beast::error_code ec, std::size_t) {
  reading_ = false;
  if (!ec) return handle();
  if (ec == http::error::body_limit) {
    return refuse(ClientError{413, "invalid_request_error", "request_too_large",
                              "the request body exceeds " +
                                  std::to_string(proxy_.options().body_bytes_max) + " bytes",
                              {}},
                  Route::kChatCompletions, false);
  }
  if (parser_->got_some() && ec != http::error::end_of_stream && ec != beast::error::timeout &&
      ec != net::error::connection_reset && ec != net::error::operation_aborted) {
    return refuse(ClientError{400, "invalid_request_error", "malformed_http",
                              "malformed HTTP request: " + ec.message(), {}},
                  Route::kChatCompletions, false);
  }
  close();
}

void ClientConn::handle() {
  auto msg = std::make_shared<http::request<http::string_body>>(parser_->release());
  const auto started = Clock::now();
  const std::string_view target(msg->target().data(), msg->target().size());
  const std::string_view path = target.substr(0, target.find('?'));
  if (msg->method() == http::verb::get && path == "/healthz") {
    return respond(200, "application/json", R"({"status":"ok"})", {}, msg->keep_alive());
  }
  std::string gemini_model;
  bool gemini_stream = false;
  const auto route = route_of(std::string_view(msg->method_string().data(),
                                               msg->method_string().size()),
                              path, &gemini_model, &gemini_stream);
  if (!route) {
    return refuse(ClientError{404, "invalid_request_error", "unknown_route",
                              "no gateway route for " + std::string(msg->method_string()) + " " +
                                  std::string(path),
                              {}},
                  Route::kChatCompletions, msg->keep_alive());
  }
  proxy_.admit(stream_.get_executor(), [self = shared_from_this(), msg, r = *route,
                                        gemini_model = std::move(gemini_model), gemini_stream,
                                        started]() mutable {
    self->admitted(std::move(msg), r, std::move(gemini_model), gemini_stream, started);
  });
}

void ClientConn::admitted(std::shared_ptr<http::request<http::string_body>> msg, Route route,
                          std::string gemini_model, bool gemini_stream,
                          Clock::time_point started) {
  std::map<std::string, std::string> headers;
  for (const auto& field : *msg) {
    std::string name(field.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (headers.contains(name) &&
        (name == "authorization" || name == "x-api-key" || name == "x-goog-api-key")) {
      return refuse(ClientError{400, "invalid_request_error", "duplicate_header",
                                "header '" + name + "' must appear once", {}},
                    route, false);
    }
    headers[std::move(name)] = std::string(field.value());
  }
  const bool keep_alive = msg->keep_alive();
  ClientError refusal;
  auto prepared = proxy_.gateway().prepare(route, headers, std::move(msg->body()),
                                           std::move(gemini_model), gemini_stream, &refusal);
  if (!prepared.ok()) {
    if (refusal.code.empty()) {
      server::log_event(server::LogLevel::kError, "gateway request failed",
                        {{"error", prepared.status().to_string()}});
      refusal = ClientError{500, "api_error", "internal_error", "internal error", {}};
    }
    proxy_.metrics().request(route_name(route), refusal.status, micros_since(started), {});
    return refuse(refusal, route, keep_alive);
  }
  auto exchange = std::make_shared<Exchange>(shared_from_this(), proxy_, worker_,
                                             std::move(prepared).value(), keep_alive, started);
  exchange->start();
}

void ClientConn::refuse(const ClientError& e, Route route, bool keep_alive,
                        std::vector<std::pair<std::string, std::string>> headers) {
  if (e.retry_after_seconds) headers.emplace_back("Retry-After", std::to_string(*e.retry_after_seconds));
  respond(e.status, "application/json", error_body(e, route), std::move(headers), keep_alive);
}


void ClientConn::write(std::shared_ptr<std::string> bytes, std::function<void(bool)> done) {
  stream_.expires_after(std::chrono::milliseconds(proxy_.options().request_timeout_ms));
  net::async_write(stream_, net::buffer(*bytes),
                   [self = shared_from_this(), bytes, done = std::move(done)](
                       beast::error_code ec, std::size_t) {
                     if (ec) self->close();
                     done(!ec);
                   });
}

void ClientConn::respond(int status, std::string content_type, std::string body,
                         std::vector<std::pair<std::string, std::string>> headers,
                         bool keep_alive) {
  keep_alive = keep_alive && !draining_ && !proxy_.draining();
  auto bytes = std::make_shared<std::string>(
      server::response_head(status, content_type, headers, keep_alive, 11, body.size()));
  *bytes += body;
  write(std::move(bytes), [self = shared_from_this(), keep_alive](bool ok) {
    if (ok) self->after_response(keep_alive);
  });
}

void ClientConn::stream_head(int status, std::string content_type,
                             std::vector<std::pair<std::string, std::string>> headers,
                             std::function<void(bool)> done) {
  headers.emplace_back("Cache-Control", "no-cache");
  write(std::make_shared<std::string>(server::response_head(status, content_type, headers, true, 11, std::nullopt)),
        std::move(done));
}

void ClientConn::stream_chunk(std::string bytes, std::function<void(bool)> done) {
  auto out = std::make_shared<std::string>(fmt::format("{:x}\r\n", bytes.size()));
  *out += bytes;
  *out += "\r\n";
  write(std::move(out), std::move(done));
}

void ClientConn::stream_end(bool keep_alive) {
  keep_alive = keep_alive && !draining_ && !proxy_.draining();
  write(std::make_shared<std::string>("0\r\n\r\n"), [self = shared_from_this(), keep_alive](bool ok) {
    if (ok) self->after_response(keep_alive);
  });
}

void ClientConn::after_response(bool keep_alive) {
  if (!keep_alive) {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    return close();
  }
  read();
}

void ClientConn::close() {
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.close();
}

// --- Exchange ---------------------------------------------------------------------------------

// The upstream call starts as soon as the decision is made in memory, while its write commits:
// the commit's latency hides behind the upstream's. Nothing reaches the client (and nothing
// settles) before the decision is on disk; if its write fails, the upstream call is abandoned
// and the client gets 503.
void Exchange::start() {
  proxy_.busy(+1);  // until done()
  decisions::Actor actor;
  actor.agent_id = p_.agent.id;
  actor.ip_address = client_->peer();
  decisions::Submission sub = std::move(p_.submission);
  sub.decided = [this](const json::object& body, const std::vector<std::string>& assets) {
    on_decided(body, assets);
  };
  auto ex = client_->executor();
  // submit() runs `decided` before it returns, on this thread: `this` is alive (the caller
  // holds it) and owns the thread.
  proxy_.decisions().submit(std::move(sub), actor,
                            [self = shared_from_this(), ex](Result<decisions::Answer> a) mutable {
                              net::post(ex, [self, a = std::move(a)]() mutable {
                                self->on_committed(std::move(a));
                              });
                            });
}

void Exchange::on_decided(const json::object& body, const std::vector<std::string>& assets) {
  decided_ = true;
  tx_id_ = std::string(body.at("id").as_string());
  if (body.at("status").as_string() != "PENDING") return;
  for (const auto& asset : assets) {
    if (asset == engine::kLlmTokensAsset || (p_.priced && asset == p_.model.currency)) {
      metered_ = true;
    }
  }
  forwarding_ = true;
  connect();
}

void Exchange::on_committed(Result<decisions::Answer> answer) {
  if (!answer.ok()) {
    failed_ = true;
    if (up_) up_->close();
    const bool overloaded = answer.status().code() == ErrorCode::SERVER_OVERLOADED;
    ClientError e{overloaded ? 503 : 500, "api_error", overloaded ? "overloaded" : "internal_error",
                  overloaded ? "the gateway is overloaded; retry" : "internal error", {}};
    if (overloaded) e.retry_after_seconds = 1;
    proxy_.metrics().request(route_name(p_.route), e.status, micros_since(started_), {});
    client_->refuse(e, p_.route, keep_alive_);
    return done();
  }
  committed_ = true;
  // In cluster mode a decision the shared store checks is told only now, committed.
  if (!decided_) on_decided(answer->body, answer->reserved_assets);
  if (!forwarding_) {
    const json::object& body = answer->body;
    auto refusal = Gateway::refusal_of(body);
    if (!refusal) {  // cannot happen: a PENDING decision is forwarded
      refusal = ClientError{500, "api_error", "internal_error", "internal error", {}};
    }
    if (body.at("status").as_string() == "QUEUED") {
      decisions::Actor system;
      system.system = true;
      proxy_.decisions().cancel(tx_id_, system, {});
    }
    proxy_.metrics().request(route_name(p_.route), refusal->status, micros_since(started_), {});
    client_->refuse(*refusal, p_.route, keep_alive_, {{"X-Warden-Transaction-Id", tx_id_}});
    return done();
  }
  auto waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& f : waiting) f();
}

void Exchange::after_commit(std::function<void()> f) {
  if (failed_) return;
  if (committed_) return f();
  waiting_.push_back(std::move(f));
}

void Exchange::done() {
  if (finished_) return;
  finished_ = true;
  proxy_.busy(-1);
}

void Exchange::connect() {
  const std::string origin = origin_of(p_.upstream);
  auto& idle = worker_.idle[origin];
  if (!idle.empty()) {
    up_ = std::move(idle.back());
    idle.pop_back();
    up_->reused = true;
    return send_request();
  }
  up_ = std::make_unique<UpstreamConn>(worker_.io);
  up_->origin = origin;
  if (p_.upstream.tls) up_->tls.emplace(worker_.io, proxy_.ssl_context());
  auto resolver = std::make_shared<tcp::resolver>(worker_.io);
  auto timer = std::make_shared<net::steady_timer>(worker_.io);
  timer->expires_after(std::chrono::milliseconds(proxy_.options().connect_timeout_ms));
  timer->async_wait([resolver](beast::error_code ec) {
    if (!ec) resolver->cancel();
  });
  resolver->async_resolve(
      p_.upstream.host, p_.upstream.port,
      [self = shared_from_this(), resolver, timer](beast::error_code ec,
                                                   tcp::resolver::results_type results) {
        timer->cancel();
        if (ec) {
          return self->upstream_failed(502, "upstream_unreachable",
                                       "cannot resolve the upstream: " + ec.message());
        }
        self->endpoints_ = std::move(results);
        auto& low = self->up_->lowest();
        low.expires_after(std::chrono::milliseconds(self->proxy_.options().connect_timeout_ms));
        low.async_connect(self->endpoints_,
                          [self](beast::error_code cec, const tcp::endpoint&) {
                            self->on_connected(cec);
                          });
      });
}

void Exchange::on_connected(beast::error_code ec) {
  if (ec) {
    return upstream_failed(502, "upstream_unreachable",
                           "cannot connect to the upstream: " + ec.message());
  }
  proxy_.metrics().connected();
  up_->lowest().socket().set_option(tcp::no_delay(true), ec);
  if (!up_->tls) return send_request();
  auto& s = *up_->tls;
  if (!SSL_set_tlsext_host_name(s.native_handle(), p_.upstream.host.c_str())) {
    return upstream_failed(502, "upstream_tls", "cannot set the TLS server name");
  }
  s.set_verify_callback(ssl::host_name_verification(p_.upstream.host));
  up_->lowest().expires_after(std::chrono::milliseconds(proxy_.options().connect_timeout_ms));
  s.async_handshake(ssl::stream_base::client, [self = shared_from_this()](beast::error_code hec) {
    if (hec) {
      return self->upstream_failed(502, "upstream_tls",
                                   "TLS handshake with the upstream failed: " + hec.message());
    }
    self->send_request();
  });
}

void Exchange::send_request() {
  request_.emplace(http::verb::post, p_.upstream.target, 11);
  auto& req = *request_;
  const bool default_port = p_.upstream.port == (p_.upstream.tls ? "443" : "80");
  req.set(http::field::host, default_port ? p_.upstream.host
                                          : p_.upstream.host + ":" + p_.upstream.port);
  req.set(http::field::content_type, "application/json");
  for (const auto& [k, v] : p_.upstream.headers) {
    if (k == "content-type") continue;
    req.set(k, v);
  }
  req.set(http::field::accept_encoding, "identity");
  req.keep_alive(true);
  req.body() = p_.upstream.body;
  req.prepare_payload();
  sent_at_ = Clock::now();
  up_->lowest().expires_after(std::chrono::milliseconds(proxy_.options().first_byte_timeout_ms));
  up_->with([&](auto& s) {
    http::async_write(s, req, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->on_sent(ec);
    });
  });
}

void Exchange::on_sent(beast::error_code ec) {
  if (ec) {
    if (up_->reused) {  // the pooled connection had been closed by the upstream: a fresh one
      up_->close();
      up_.reset();
      auto& idle = worker_.idle[origin_of(p_.upstream)];
      for (auto& c : idle) c->close();
      idle.clear();
      return connect();
    }
    return upstream_failed(502, "upstream_error", "sending to the upstream failed: " + ec.message());
  }
  parser_.emplace();
  parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
  parser_->header_limit(static_cast<std::uint32_t>(kHeaderBytesMax * 4));
  up_->lowest().expires_after(std::chrono::milliseconds(proxy_.options().first_byte_timeout_ms));
  up_->with([&](auto& s) {
    http::async_read_header(s, up_->buffer, *parser_,
                            [self = shared_from_this()](beast::error_code hec, std::size_t) {
                              self->on_header(hec);
                            });
  });
}

void Exchange::on_header(beast::error_code ec) {
  if (ec) {
    if (up_->reused && !parser_->got_some() &&
        (ec == http::error::end_of_stream || ec == net::error::connection_reset ||
         ec == net::error::eof)) {
      up_->close();
      up_.reset();
      return connect();
    }
    return upstream_failed(ec == beast::error::timeout ? 504 : 502,
                           ec == beast::error::timeout ? "upstream_timeout" : "upstream_error",
                           ec == beast::error::timeout
                               ? "the upstream did not answer in time"
                               : "reading the upstream's answer failed: " + ec.message());
  }
  const auto& res = parser_->get();
  upstream_status_ = res.result_int();
  upstream_content_type_ = std::string(res[http::field::content_type]);
  proxy_.metrics().upstream_status(p_.model.provider, upstream_status_);
  const bool ok = upstream_status_ >= 200 && upstream_status_ < 300;
  streaming_ = ok && upstream_content_type_.starts_with("text/event-stream");
  if (!streaming_) return read_body();
  after_commit([self = shared_from_this()] {
    std::vector<std::pair<std::string, std::string>> headers{
        {"X-Warden-Transaction-Id", self->tx_id_}};
    self->client_->stream_head(self->upstream_status_, self->upstream_content_type_,
                               std::move(headers), [self](bool written) {
                                 if (!written) {
                                   self->client_gone_ = true;
                                   return self->finish_stream("the client went away");
                                 }
                                 self->read_body();
                               });
  });
}

void Exchange::read_body() {
  if (parser_->is_done()) return streaming_ ? finish_stream({}) : finish_whole();
  auto& body = parser_->get().body();
  body.data = chunk_.data();
  body.size = chunk_.size();
  up_->lowest().expires_after(std::chrono::milliseconds(proxy_.options().idle_timeout_ms));
  up_->with([&](auto& s) {
    // read_some: an SSE event goes on as soon as it arrives, not when a buffer fills.
    http::async_read_some(s, up_->buffer, *parser_,
                          [self = shared_from_this()](beast::error_code ec, std::size_t) {
                            self->on_body(ec);
                          });
  });
}

void Exchange::on_body(beast::error_code ec) {
  if (ec == http::error::need_buffer) ec = {};
  const std::size_t n = chunk_.size() - parser_->get().body().size;
  response_bytes_ += static_cast<std::int64_t>(n);
  if (ec) {
    const std::string why = ec == beast::error::timeout
                                ? "the upstream stalled (idle timeout)"
                                : "the upstream connection failed: " + ec.message();
    if (streaming_) {
      // What arrived is counted, not forwarded: the stream ends here.
      pending_.append(chunk_.data(), n);
      std::vector<StreamEvent> events;
      if (stream_parser_.feed(pending_, &events).ok()) {
        for (const auto& e : events) {
          ++events_;
          if (!e.text.empty()) streamed_completion_tokens_ += count_tokens(e.text);
        }
      }
      pending_.clear();
      return finish_stream(why);
    }
    return upstream_failed(ec == beast::error::timeout ? 504 : 502,
                           ec == beast::error::timeout ? "upstream_timeout" : "upstream_error", why);
  }
  if (!streaming_) {
    const std::size_t bound = upstream_status_ >= 200 && upstream_status_ < 300
                                  ? kResponseBodyBytesMax
                                  : kUpstreamErrorBodyBytesMax;
    if (whole_.size() + n > bound) {
      return upstream_failed(502, "upstream_error", "the upstream's answer is too large");
    }
    whole_.append(chunk_.data(), n);
    return read_body();
  }
  forward_chunk(std::string(chunk_.data(), n), parser_->is_done());
}

// Passes the complete events of what arrived to the client, counting each one's output first;
// a metered stream that passed its reserved output ends after the event that passed it, with an
// error event. A partial event waits for the rest (or goes as it is at the stream's end).
void Exchange::forward_chunk(std::string bytes, bool last) {
  pending_ += bytes;
  std::string out;
  bool over = false;
  const auto allowance = proxy_.gateway().output_allowance(p_);
  while (!over) {
    std::size_t end = sse_event_end(pending_);
    if (end == std::string::npos) {
      if (!last || pending_.empty()) break;
      end = pending_.size();
    }
    std::vector<StreamEvent> events;
    (void)stream_parser_.feed(std::string_view(pending_).substr(0, end), &events);
    for (const auto& e : events) {
      ++events_;
      if (!e.text.empty()) streamed_completion_tokens_ += count_tokens(e.text);
    }
    out.append(pending_, 0, end);
    pending_.erase(0, end);
    over = metered_ && static_cast<std::uint64_t>(streamed_completion_tokens_) > allowance;
  }
  if (out.empty()) {
    if (last) return finish_stream({});
    return read_body();
  }
  client_->stream_chunk(std::move(out), [self = shared_from_this(), last, over](bool written) {
    if (!written) {
      self->client_gone_ = true;
      return self->finish_stream("the client went away");
    }
    if (over) {
      self->cut_ = true;
      return self->finish_stream("the stream passed the output reserved for it (" +
                                 std::to_string(self->proxy_.gateway().output_allowance(self->p_)) +
                                 " tokens)");
    }
    if (last) return self->finish_stream({});
    self->read_body();
  });
}

void Exchange::finish_stream(std::string error) {
  upstream_us_ = micros_since(sent_at_);
  auto summary = stream_parser_.finish();
  const bool complete = error.empty() && summary.ok() && !summary->truncated;
  Observed seen;
  seen.answered = events_ > 0 || complete;
  seen.latency_ms = upstream_us_ / 1000;
  seen.response_bytes = response_bytes_;
  seen.error = error;
  if (summary.ok() && summary->usage && complete) {
    seen.usage = summary->usage;
  } else if (seen.answered) {
    Usage u;
    u.prompt_tokens = summary.ok() && summary->prompt_tokens
                          ? *summary->prompt_tokens
                          : static_cast<std::int64_t>(p_.estimate.prompt_tokens);
    u.completion_tokens = streamed_completion_tokens_;
    u.total_tokens = u.prompt_tokens + u.completion_tokens;
    u.estimated = true;
    seen.usage = u;
  }
  if (!summary.ok() && seen.error.empty()) seen.error = summary.status().message();
  if (!seen.error.empty() && !client_gone_) {
    // The client learns why its stream ended early, in the stream's own format.
    if (cut_) proxy_.metrics().cut();
    const std::string code = cut_ ? "token_limit_exceeded" : "upstream_error";
    json::object err{{"message", seen.error}, {"type", cut_ ? "rate_limit_error" : "api_error"},
                     {"code", code}};
    std::string event;
    if (p_.provider == Provider::kAnthropic) {
      event = "event: error\ndata: " +
              json::serialize(json::object{{"type", "error"},
                                           {"error", {{"type", cut_ ? "rate_limit_error" : "api_error"},
                                                      {"message", seen.error}}}}) +
              "\n\n";
    } else {
      event = "data: " + json::serialize(json::object{{"error", std::move(err)}}) + "\n\n";
      if (p_.provider == Provider::kOpenAI || p_.provider == Provider::kAzureOpenAI) {
        event += "data: [DONE]\n\n";
      }
    }
    auto client = client_;
    const bool keep_alive = keep_alive_;
    client_->stream_chunk(std::move(event), [client, keep_alive](bool written) {
      if (written) client->stream_end(false);
    });
    release_upstream(false);
  } else if (client_gone_) {
    release_upstream(false);
  } else {
    client_->stream_end(keep_alive_);
    release_upstream(complete && parser_ && parser_->is_done() && parser_->get().keep_alive());
  }
  if (!seen.usage) seen.answered = false;
  settle(std::move(seen));
}

void Exchange::finish_whole() {
  after_commit([self = shared_from_this()] { self->answer_whole(); });
}

void Exchange::answer_whole() {
  upstream_us_ = micros_since(sent_at_);
  const bool ok = upstream_status_ >= 200 && upstream_status_ < 300;
  release_upstream(parser_->get().keep_alive());
  Observed seen;
  seen.latency_ms = upstream_us_ / 1000;
  seen.response_bytes = response_bytes_;
  std::vector<std::pair<std::string, std::string>> headers{{"X-Warden-Transaction-Id", tx_id_}};
  if (!ok) {
    // The provider's own refusal (4xx/5xx): passed on as it is; nothing was used.
    seen.error = "the upstream answered " + std::to_string(upstream_status_);
    proxy_.metrics().request(route_name(p_.route), upstream_status_, micros_since(started_) - upstream_us_,
                             upstream_us_);
    client_->respond(upstream_status_, upstream_content_type_, std::move(whole_),
                     std::move(headers), keep_alive_);
    return settle(std::move(seen));
  }
  auto facts = parse_response(p_.provider, p_.operation, whole_);
  if (!facts.ok()) {
    // The upstream said it answered but its body cannot be read: what it used is unknown, so
    // the reservation is kept as spent.
    seen.answered = true;
    seen.error = "the upstream's answer could not be read: " + facts.status().message();
    Usage u;
    u.prompt_tokens = static_cast<std::int64_t>(p_.estimate.prompt_tokens);
    u.completion_tokens = static_cast<std::int64_t>(p_.estimate.max_output_tokens);
    u.total_tokens = u.prompt_tokens + u.completion_tokens;
    u.estimated = true;
    seen.usage = u;
    ClientError e{502, "api_error", "upstream_malformed", seen.error, {}};
    proxy_.metrics().request(route_name(p_.route), 502, micros_since(started_) - upstream_us_,
                             upstream_us_);
    client_->refuse(e, p_.route, keep_alive_, std::move(headers));
    return settle(std::move(seen));
  }
  seen.answered = true;
  if (facts->usage) {
    seen.usage = facts->usage;
  } else {
    Usage u;
    u.prompt_tokens = static_cast<std::int64_t>(p_.estimate.prompt_tokens);
    u.completion_tokens = count_tokens(facts->text);
    u.total_tokens = u.prompt_tokens + u.completion_tokens;
    u.estimated = true;
    seen.usage = u;
  }
  proxy_.metrics().request(route_name(p_.route), upstream_status_,
                           micros_since(started_) - upstream_us_, upstream_us_);
  client_->respond(upstream_status_, upstream_content_type_, std::move(whole_), std::move(headers),
                   keep_alive_);
  settle(std::move(seen));
}

void Exchange::upstream_failed(int status, std::string code, std::string message) {
  if (up_) {
    up_->close();
    up_.reset();
  }
  after_commit([self = shared_from_this(), status, code = std::move(code),
                message = std::move(message)]() mutable {
    self->answer_failure(status, std::move(code), std::move(message));
  });
}

void Exchange::answer_failure(int status, std::string code, std::string message) {
  proxy_.metrics().upstream_status(p_.model.provider, 0);
  proxy_.metrics().request(route_name(p_.route), status, micros_since(started_), std::nullopt);
  Observed seen;
  seen.error = message;
  client_->refuse(ClientError{status, "api_error", std::move(code), std::move(message), {}},
                  p_.route, keep_alive_, {{"X-Warden-Transaction-Id", tx_id_}});
  settle(std::move(seen));
}

void Exchange::release_upstream(bool reusable) {
  if (!up_) return;
  auto& idle = worker_.idle[up_->origin];
  if (reusable && idle.size() < proxy_.options().pool_idle_per_origin_max) {
    up_->lowest().expires_never();
    up_->reused = false;
    idle.push_back(std::move(up_));
  } else {
    up_->close();
    up_.reset();
  }
}

void Exchange::settle(Observed seen) {
  if (streaming_) {
    proxy_.metrics().request(route_name(p_.route), upstream_status_,
                             micros_since(started_) - upstream_us_, upstream_us_);
  }
  if (seen.usage) {
    proxy_.metrics().tokens(p_.model.name, seen.usage->prompt_tokens,
                            seen.usage->completion_tokens);
  }
  proxy_.settle(tx_id_, proxy_.gateway().settlement(p_, tx_id_, seen));
  done();
}

}  // namespace

server::FrontendFactory proxy_frontend(GatewayOptions options) {
  return [options](const server::Services& services)
             -> Result<std::unique_ptr<server::Frontend>> {
    auto proxy = std::make_unique<Proxy>(services, options);
    WARDEN_RETURN_IF_ERROR(proxy->start());
    return std::unique_ptr<server::Frontend>(std::move(proxy));
  };
}

}  // namespace warden::gateway
