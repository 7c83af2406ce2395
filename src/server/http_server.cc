// The HTTP/1.1 transport: Boost.Beast connections with keep-alive on an Asio thread pool, body
// and header limits, timeouts, and a draining shutdown. The only file that includes Beast.
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/object.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sys/resource.h>
#include <thread>
#include <unordered_map>

#include "core/thread_name.h"
#include "server/automation_services.h"
#include "server/server.h"
#include "server/webhook.h"

namespace warden::server {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

constexpr auto kLingerTimeout = std::chrono::seconds(2);
constexpr std::size_t kLingerBytesMax = 16 << 20;
constexpr auto kDrainPollInterval = std::chrono::milliseconds(20);
// After a failed accept (no descriptor left, EMFILE): the listener stays readable, so accepting
// again at once would spin a core.
constexpr auto kAcceptBackoff = std::chrono::milliseconds(100);
// At most one log line per interval for refused connections, however many there are.
constexpr auto kRefusalLogInterval = std::chrono::seconds(1);
// Descriptors kept for everything but client connections: the store's connections and their
// WAL files, the event loops, logs, the webhook client.
constexpr std::size_t kFdReserve = 128;
// Headers that say who the caller is; a second copy would let one reader see the first and
// another the last, so a request that repeats one is refused.
constexpr std::array<std::string_view, 3> kSingleHeaders = {"authorization", "x-master-password",
                                                          "warden-signature"};

class Connection;

// Answers that cannot have a body (1xx, 204, 304) carry no length either.
bool bodiless(int status) { return status < 200 || status == 204 || status == 304; }


// State shared by the listener and every connection.
struct Shared {
  const ServerOptions& options;
  Api& api;
  std::atomic<bool> draining{false};
  std::mutex mu{};
  std::unordered_map<std::uint64_t, std::weak_ptr<Connection>> live = {};  // guarded by mu
  std::uint64_t next_id = 0;                                         // guarded by mu
  // Open connections per peer address; an address leaves the map with its last connection.
  std::unordered_map<std::string, std::size_t> per_client = {};  // guarded by mu
  // options.connections_max lowered to what the open-files limit allows.
  std::size_t connections_max = 0;
};

// One client connection. Its socket belongs to one I/O thread's io_context, so all its handlers
// run on that thread, one at a time.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // The caller has counted this connection in shared.live and shared.per_client.
  Connection(tcp::socket&& socket, Shared& shared, std::uint64_t id, std::string client_address)
      : stream_(std::move(socket)),
        shared_(shared),
        id_(id),
        client_address_(std::move(client_address)),
        read_deadline_(stream_.get_executor()) {}

  ~Connection() {
    std::lock_guard lock(shared_.mu);
    shared_.live.erase(id_);
    const auto it = shared_.per_client.find(client_address_);
    if (it != shared_.per_client.end() && --it->second == 0) shared_.per_client.erase(it);
  }

  void start() {
    net::dispatch(stream_.get_executor(), beast::bind_front_handler(&Connection::read, shared_from_this()));
  }

  // Called at shutdown: an idle connection closes now; a busy one after its response.
  void drain() {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      if (self->reading_ && !self->parser_->got_some()) {
        self->close();
      } else {
        self->close_after_response_ = true;
      }
    });
  }

 private:
  std::chrono::milliseconds timeout() const {
    return std::chrono::milliseconds(shared_.options.request_timeout_ms);
  }

  void read() {
    if (shared_.draining || close_after_response_) return close();
    parser_.emplace();
    parser_->body_limit(shared_.options.body_bytes_max);
    parser_->header_limit(static_cast<std::uint32_t>(shared_.options.header_bytes_max));
    // The stream's own expiry would close the socket, leaving no way to send the 408; our
    // deadline only cancels the read.
    stream_.expires_never();
    reading_ = true;
    read_timed_out_ = false;
    arm_read_deadline();
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Connection::on_read, shared_from_this()));
  }

  void arm_read_deadline() {
    const std::uint64_t read_seq = ++read_seq_;
    read_deadline_.expires_after(timeout());
    read_deadline_.async_wait([self = shared_from_this(), read_seq](beast::error_code ec) {
      // A deadline that fired as its read completed must not cut the next one short.
      if (ec || !self->reading_ || read_seq != self->read_seq_) return;
      self->read_timed_out_ = true;
      beast::error_code ignored;
      self->stream_.socket().cancel(ignored);
    });
  }

  void on_read(beast::error_code ec, std::size_t) {
    reading_ = false;
    read_deadline_.cancel();
    if (!ec) return handle();
    const bool partial = parser_->got_some();
    if (read_timed_out_) {
      // An idle keep-alive connection just closes; a request cut off mid-way gets its 408.
      if (!partial) return close();
      return reject(ErrorCode::REQUEST_TIMEOUT, "request not received in time");
    }
    if (ec == http::error::body_limit) {
      return reject(ErrorCode::VALIDATION_BODY_TOO_LARGE,
                    "request body exceeds " + std::to_string(shared_.options.body_bytes_max) +
                        " bytes");
    }
    if (ec == http::error::header_limit) {
      return reject(ErrorCode::REQUEST_MALFORMED, "request headers are too large");
    }
    if (partial && ec != http::error::end_of_stream && ec != net::error::operation_aborted &&
        ec != net::error::connection_reset && ec != beast::error::timeout &&
        ec != http::error::partial_message) {
      return reject(ErrorCode::REQUEST_MALFORMED, "malformed HTTP request: " + ec.message());
    }
    close();
  }

  HttpRequest to_request(const http::request<http::string_body>& msg) const {
    HttpRequest req;
    req.method = std::string(msg.method_string());
    split_target(msg.target(), &req.path, &req.query);
    for (const auto& field : msg) {
      std::string name(field.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      req.headers[std::move(name)] = std::string(field.value());
    }
    req.body = msg.body();
    req.client_address = shared_.api.client_address(client_address_, req.header("x-forwarded-for"));
    return req;
  }

  // Routes may answer later from another thread (after a group commit); the answer is posted
  // back to this connection's thread.
  void handle() {
    auto& msg = parser_->get();
    for (const std::string_view name : kSingleHeaders) {
      if (msg.count(name) > 1) {
        return reject(ErrorCode::REQUEST_DUPLICATE_HEADER,
                      "header '" + std::string(name) + "' must appear once");
      }
    }
    auto req = std::make_shared<const HttpRequest>(to_request(msg));
    const auto started = std::chrono::steady_clock::now();
    const bool wants_keep_alive = msg.keep_alive();
    const unsigned version = msg.version();
    shared_.api.handle(*req, [self = shared_from_this(), req, started, wants_keep_alive,
                              version](HttpResponse resp) mutable {
      net::dispatch(self->stream_.get_executor(), [self, req, started, wants_keep_alive, version,
                                                   resp = std::move(resp)]() mutable {
        self->log_request(*req, resp, started);
        const bool keep_alive = wants_keep_alive && !resp.close && !self->shared_.draining &&
                                !self->close_after_response_;
        self->send(std::move(resp), keep_alive, version);
      });
    }, [self = shared_from_this()](std::function<void()> f) {
      net::post(self->stream_.get_executor(), std::move(f));
    });
  }

  void log_request(const HttpRequest& req, const HttpResponse& resp,
                   std::chrono::steady_clock::time_point started) const {
    std::string_view correlation_id;
    for (const auto& [k, v] : resp.headers) {
      if (k == "X-Correlation-Id") correlation_id = v;
    }
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::steady_clock::now() - started)
                        .count();
    server::log_request(resp.status >= 500 ? LogLevel::kError : LogLevel::kInfo, req.method,
                        req.path, resp.status, us, req.client_address, correlation_id);
  }

  // Answers a request the transport refused, then closes without resetting the peer.
  void reject(ErrorCode code, std::string message) {
    HttpRequest req;
    if (parser_->is_header_done()) {
      req = to_request(parser_->get());
    } else {
      req.client_address = client_address_;
    }
    HttpResponse resp = shared_.api.transport_error(req, code, std::move(message));
    log_request(req, resp, std::chrono::steady_clock::now());
    send(std::move(resp), false, 11);
  }

  // Sends the head and the body in one gather write.
  void send(HttpResponse resp, bool keep_alive, unsigned version) {
    struct Out {
      std::string head;
      std::string body;
    };
    auto out = std::make_shared<Out>();
    if (!bodiless(resp.status)) out->body = std::move(resp.body);
    out->head = response_head(resp.status, resp.content_type, resp.headers, keep_alive, version,
                              out->body.size());
    stream_.expires_after(timeout());
    const std::array<net::const_buffer, 2> buffers{net::buffer(out->head), net::buffer(out->body)};
    net::async_write(stream_, buffers,
                     [self = shared_from_this(), out, keep_alive](beast::error_code ec, std::size_t) {
                       if (ec) return self->close();
                       if (!keep_alive) return self->linger_close();
                       self->read();
                     });
  }

  // Half-closes, then discards what the client still sends (bounded), so that a client still
  // writing a refused body reads our response instead of a connection reset.
  void linger_close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.expires_after(kLingerTimeout);
    discard();
  }

  void discard() {
    stream_.async_read_some(net::buffer(discard_buf_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              self->discarded_bytes_ += n;
                              if (ec || self->discarded_bytes_ > kLingerBytesMax) return self->close();
                              self->discard();
                            });
  }

  void close() {
    read_deadline_.cancel();
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

  beast::tcp_stream stream_;
  Shared& shared_;
  const std::uint64_t id_;
  std::string client_address_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  net::steady_timer read_deadline_;
  std::uint64_t read_seq_ = 0;  // which read the armed deadline belongs to
  bool read_timed_out_ = false;
  bool reading_ = false;
  bool close_after_response_ = false;
  std::array<char, 16 << 10> discard_buf_{};
  std::size_t discarded_bytes_ = 0;
};

// The I/O threads: one io_context each, so a connection's handlers never need a lock or a
// strand, and an answer posted from the group-commit writer wakes exactly the thread that owns
// the connection. Connections are spread over them round-robin.
class IoThreads {
 public:
  explicit IoThreads(int count) {
    for (int i = 0; i < count; ++i) {
      contexts_.push_back(std::make_unique<net::io_context>(1));
      guards_.emplace_back(contexts_.back()->get_executor());
    }
  }
  net::io_context& main() { return *contexts_.front(); }
  net::io_context& next() { return *contexts_[next_++ % contexts_.size()]; }
  // Runs every context: the calling thread runs the first, new threads the others.
  void run() {
    std::vector<std::thread> pool;
    for (std::size_t i = 1; i < contexts_.size(); ++i) {
      pool.emplace_back([this, i] {
        name_this_thread("warden-io-" + std::to_string(i));
        contexts_[i]->run();
      });
    }
    contexts_.front()->run();
    for (auto& t : pool) t.join();
  }
  void stop() {
    for (auto& c : contexts_) c->stop();
  }

 private:
  std::vector<std::unique_ptr<net::io_context>> contexts_;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> guards_;
  std::size_t next_ = 0;  // used only by the acceptor, on the main context
};

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(IoThreads& io, Shared& shared)
      : io_(io), acceptor_(io.main()), backoff_(io.main()), shared_(shared) {}

  Status bind(const std::string& host, std::uint16_t port) {
    beast::error_code ec;
    const auto address = net::ip::make_address(host, ec);
    if (ec) return Status(ErrorCode::CONFIG_INVALID, "invalid listen address '" + host + "'");
    const tcp::endpoint ep(address, port);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      return Status(ErrorCode::CONFIG_INVALID,
                    "cannot listen on " + host + ":" + std::to_string(port) + ": " + ec.message());
    }
    return Status();
  }

  tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

  void accept() {
    acceptor_.async_accept(io_.next(),
                           beast::bind_front_handler(&Listener::on_accept, shared_from_this()));
  }

  void stop() {
    net::post(acceptor_.get_executor(), [self = shared_from_this()] {
      beast::error_code ec;
      self->acceptor_.close(ec);
      self->backoff_.cancel();
    });
  }

 private:
  enum class Refusal { kNone, kTotal, kPerClient };

  void on_accept(beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) return back_off(ec);
    if (shared_.draining) return accept();
    beast::error_code ep_ec;
    const auto peer = socket.remote_endpoint(ep_ec);
    if (ep_ec) return accept();  // already gone
    std::string client = peer.address().to_string();
    std::shared_ptr<Connection> conn;
    Refusal refusal = Refusal::kNone;
    {
      std::lock_guard lock(shared_.mu);
      if (shared_.live.size() >= shared_.connections_max) {
        refusal = Refusal::kTotal;
      } else if (std::size_t& open = shared_.per_client[client];
                 open >= shared_.options.connections_per_client_max) {
        refusal = Refusal::kPerClient;
      } else {
        ++open;
        const std::uint64_t id = shared_.next_id++;
        conn = std::make_shared<Connection>(std::move(socket), shared_, id, client);
        shared_.live.emplace(id, conn);
      }
    }
    if (conn) {
      conn->start();
    } else {
      refuse(std::move(socket), refusal, client);
    }
    accept();
  }

  // Past a cap: one non-blocking write of a 503 SERVER_OVERLOADED, then close, without reading
  // or parsing anything, so refusing a flood costs about what accepting it does.
  void refuse(tcp::socket socket, Refusal why, const std::string& client) {
    HttpRequest req;
    req.client_address = client;
    HttpResponse resp = shared_.api.transport_error(
        req, ErrorCode::SERVER_OVERLOADED,
        why == Refusal::kTotal ? "too many open connections"
                               : "too many open connections from this address");
    const bool has_retry_after =
        std::any_of(resp.headers.begin(), resp.headers.end(),
                    [](const auto& h) { return h.first == "Retry-After"; });
    if (!has_retry_after) resp.headers.emplace_back("Retry-After", "1");
    const std::string head = response_head(resp.status, resp.content_type, resp.headers, false, 11,
                                            resp.body.size());
    const std::array<net::const_buffer, 2> buffers{net::buffer(head), net::buffer(resp.body)};
    beast::error_code ec;
    socket.non_blocking(true, ec);
    if (!ec) socket.send(buffers, 0, ec);
    socket.shutdown(tcp::socket::shutdown_both, ec);
    socket.close(ec);
    log_refusal(why, client);
  }

  void log_refusal(Refusal why, const std::string& client) {
    ++refused_since_log_;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_refusal_log_ < kRefusalLogInterval) return;
    log_event(LogLevel::kWarn, "connections refused",
              {{"refused", refused_since_log_},
               {"cap", why == Refusal::kTotal ? "connections_max" : "connections_per_client_max"},
               {"client_address", client}});
    refused_since_log_ = 0;
    last_refusal_log_ = now;
  }

  void back_off(beast::error_code ec) {
    log_event(LogLevel::kWarn, "accept failed", {{"error", ec.message()}});
    backoff_.expires_after(kAcceptBackoff);
    backoff_.async_wait([self = shared_from_this()](beast::error_code wait_ec) {
      if (wait_ec || !self->acceptor_.is_open()) return;
      self->accept();
    });
  }

  IoThreads& io_;
  tcp::acceptor acceptor_;
  net::steady_timer backoff_;
  Shared& shared_;
  // Used only on the acceptor's thread.
  std::uint64_t refused_since_log_ = 0;
  std::chrono::steady_clock::time_point last_refusal_log_{};
};

Status write_addr_file(const std::string& path, const tcp::endpoint& ep) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << ep.address().to_string() << ":" << ep.port() << "\n";
    if (!out) return Status(ErrorCode::INTERNAL_ERROR, "cannot write " + tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Status(ErrorCode::INTERNAL_ERROR, "cannot write " + path + ": " + ec.message());
  return Status();
}

// Stops the I/O threads once every connection has closed or the drain deadline passed.
void poll_drain(net::steady_timer& timer, Shared& shared, IoThreads& io,
                std::chrono::steady_clock::time_point deadline) {
  timer.expires_after(kDrainPollInterval);
  timer.async_wait([&timer, &shared, &io, deadline](beast::error_code) {
    std::size_t live;
    {
      std::lock_guard lock(shared.mu);
      live = shared.live.size();
    }
    if (live == 0 || std::chrono::steady_clock::now() >= deadline) {
      if (live != 0) {
        log_event(LogLevel::kWarn, "drain timeout", {{"connections_open", live}});
      }
      io.stop();
      return;
    }
    poll_drain(timer, shared, io, deadline);
  });
}

void begin_drain(Shared& shared, Listener& listener) {
  shared.draining = true;
  listener.stop();
  std::vector<std::shared_ptr<Connection>> conns;
  {
    std::lock_guard lock(shared.mu);
    for (auto& [id, weak] : shared.live) {
      if (auto c = weak.lock()) conns.push_back(std::move(c));
    }
  }
  for (auto& c : conns) c->drain();
}

// Raises the soft open-files limit to the hard one (idle connections are cheap until they run
// the process out of descriptors) and returns the soft limit now in force.
std::size_t raise_open_files_limit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return 0;
  const rlim_t before = lim.rlim_cur;
  if (lim.rlim_cur < lim.rlim_max) {
    rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max;
    // An unlimited hard limit cannot be the soft one (the kernel caps it at fs.nr_open).
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) lim = raised;
  }
  log_event(LogLevel::kInfo, "open files limit",
            {{"soft_before", before}, {"soft", lim.rlim_cur}, {"hard", lim.rlim_max}});
  return lim.rlim_cur == RLIM_INFINITY ? SIZE_MAX : static_cast<std::size_t>(lim.rlim_cur);
}

// connections_max, lowered so that accepting never runs out of descriptors: past the cap a
// connection is refused with a 503, but at the limit accept() itself fails and nobody is served.
std::size_t effective_connections_max(std::size_t configured, std::size_t open_files) {
  if (open_files == 0) return configured;
  const std::size_t allowed = open_files > 2 * kFdReserve
                                  ? open_files - kFdReserve
                                  : std::max<std::size_t>(1, open_files / 2);
  if (configured <= allowed) return configured;
  log_event(LogLevel::kWarn, "connections_max lowered to fit the open files limit",
            {{"configured", configured}, {"connections_max", allowed}, {"open_files", open_files}});
  return allowed;
}

}  // namespace

std::string response_head(int status, std::string_view content_type,
                          const std::vector<std::pair<std::string, std::string>>& headers,
                          bool keep_alive, unsigned version, std::optional<std::size_t> body_bytes) {
  std::string h;
  h.reserve(192);
  h += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  h += std::to_string(status);
  h += ' ';
  h += http::obsolete_reason(static_cast<http::status>(status));
  h += "\r\nServer: warden\r\n";
  if (!content_type.empty()) {
    h += "Content-Type: ";
    h += content_type;
    h += "\r\n";
  }
  for (const auto& [k, v] : headers) {
    h += k;
    h += ": ";
    h += v;
    h += "\r\n";
  }
  if (version == 10 && keep_alive) h += "Connection: keep-alive\r\n";
  if (version != 10 && !keep_alive) h += "Connection: close\r\n";
  if (!bodiless(status)) {
    if (body_bytes) {
      h += "Content-Length: ";
      h += std::to_string(*body_bytes);
      h += "\r\n";
    } else {
      h += "Transfer-Encoding: chunked\r\n";
    }
  }
  h += "\r\n";
  return h;
}

Status run_server(const ServerOptions& options, store::Store& store, const Clock& clock,
                  IdGenerator& ids, std::string master_password_hash) {
  Metrics metrics;
  for (const auto& source : options.metrics_sources) metrics.add_source(source);
  store::BatchWriter writer(store, options.batch);
  std::unique_ptr<WebhookNotifier> webhook;
  if (!options.webhook_url.empty()) {
    WARDEN_ASSIGN_OR_RETURN(webhook,
                            WebhookNotifier::create(options.webhook_url, writer, store, clock));
  }
  // Embedded SQLite: this process holds the data directory lock, so it alone sweeps. In
  // cluster mode the caller's leadership lock says which replica does.
  const store::AlwaysLeader always;
  const store::Leadership& leadership = options.leadership ? *options.leadership : always;
  ledger::LedgerOptions ledger_options = options.ledger;
  ledger_options.leadership = &leadership;
  decisions::DecisionOptions decision_options = options.decisions;
  decision_options.leadership = &leadership;
  // The ledger starts first: open decisions' BUDGET holds are part of its start-up state.
  ledger::LedgerService ledger(store, writer, clock, ids, ledger_options);
  WARDEN_RETURN_IF_ERROR(ledger.start());
  DecisionService decisions(store, writer, clock, ids, decision_options, webhook.get());
  decisions.set_ledger(&ledger);
  WARDEN_RETURN_IF_ERROR(decisions.start());
  Api api(store, writer, clock, ids, metrics, decisions, ledger, std::move(master_password_hash),
          options.api);
  WARDEN_RETURN_IF_ERROR(api.load_revocations());
  // Automation starts once decisions are served (its built-in host acts through them) and
  // stops before them.
  WARDEN_ASSIGN_OR_RETURN(
      std::unique_ptr<AutomationServices> automation,
      AutomationServices::start({options.automation_plugins_dir,
                                 options.automation_concurrency_max,
                                 options.automation_webhook_secret, &leadership},
                                store, writer, clock, ids, decisions, api));
  // Archival moves rows the services have finished with; it starts once they have recovered.
  std::unique_ptr<archive::Mover> mover;
  if (options.retention.enabled()) {
    if (options.leadership != nullptr) {
      return Status(ErrorCode::CONFIG_INVALID,
                    "retention and archival are not supported on the PostgreSQL store (cluster "
                    "mode); see docs/retention.md");
    }
    archive::RetentionOptions retention = options.retention;
    retention.on_error = [](std::string_view what, const Status& s) {
      log_event(LogLevel::kWarn, what, {{"error", s.to_string()}});
    };
    mover = std::make_unique<archive::Mover>(store, writer, clock, std::move(retention));
    WARDEN_RETURN_IF_ERROR(mover->start());
    log_event(LogLevel::kInfo, "archive started",
              {{"segments", mover->segment_count()},
               {"unrecorded_files_removed", mover->files_removed_at_start()},
               {"decisions_seconds", options.retention.decisions_seconds},
               {"audit_seconds", options.retention.audit_seconds}});
    metrics.add_source([m = mover.get()] { return m->render_metrics(); });
  }
  std::unique_ptr<Frontend> gateway;
  if (options.gateway) {
    WARDEN_ASSIGN_OR_RETURN(
        gateway, options.gateway(Services{store, writer, clock, ids, metrics, decisions, ledger}));
  }
  const int threads =
      options.threads > 0 ? options.threads
                          : std::max(2, static_cast<int>(std::thread::hardware_concurrency()));
  // Outlives the io_contexts: connections unregister from it.
  Shared shared{options, api};
  shared.connections_max =
      effective_connections_max(options.connections_max, raise_open_files_limit());
  IoThreads io(threads);
  // Signals are caught before the address is published, so a SIGTERM sent as soon as the
  // daemon is reachable still drains instead of killing it.
  net::signal_set signals(io.main(), SIGINT, SIGTERM);
  net::steady_timer drain_timer(io.main());
  auto listener = std::make_shared<Listener>(io, shared);
  WARDEN_RETURN_IF_ERROR(listener->bind(options.host, options.port));
  const auto ep = listener->local_endpoint();
  if (!options.addr_file.empty()) WARDEN_RETURN_IF_ERROR(write_addr_file(options.addr_file, ep));
  log_event(LogLevel::kInfo, "listening",
            {{"address", ep.address().to_string()},
             {"port", ep.port()},
             {"threads", threads},
             {"connections_max", shared.connections_max},
             {"connections_per_client_max", options.connections_per_client_max}});
  listener->accept();

  signals.async_wait([&](beast::error_code ec, int sig) {
    if (ec) return;
    log_event(LogLevel::kInfo, "shutting down", {{"signal", sig}});
    begin_drain(shared, *listener);
    if (gateway) gateway->begin_drain();
    poll_drain(drain_timer, shared, io,
               std::chrono::steady_clock::now() + std::chrono::milliseconds(options.drain_timeout_ms));
  });

  io.run();
  if (gateway) {
    gateway->stop(std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(options.drain_timeout_ms));
  }
  // Everything queued commits before the store is checkpointed; answers to closed
  // connections are dropped with the io_context.
  if (mover) mover->stop();  // its last delete goes through the writer, which stops below
  api.stop();
  automation->stop();
  decisions.stop();
  ledger.stop();
  if (webhook) webhook->stop();
  writer.stop();
  if (!options.addr_file.empty()) {
    std::error_code ec;
    std::filesystem::remove(options.addr_file, ec);
  }
  return Status();
}

}  // namespace warden::server
