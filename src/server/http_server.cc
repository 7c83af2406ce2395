// The HTTP/1.1 transport: Boost.Beast connections with keep-alive on an Asio thread pool, body
// and header limits, timeouts, and a draining shutdown. The only file that includes Beast.
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/object.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "core/thread_name.h"
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

class Connection;

// State shared by the listener and every connection.
struct Shared {
  const ServerOptions& options;
  Api& api;
  std::atomic<bool> draining{false};
  std::mutex mu;
  std::unordered_map<std::uint64_t, std::weak_ptr<Connection>> live;  // guarded by mu
  std::uint64_t next_id = 0;                                         // guarded by mu
};

// One client connection. Its socket belongs to one I/O thread's io_context, so all its handlers
// run on that thread, one at a time.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket&& socket, Shared& shared, std::uint64_t id)
      : stream_(std::move(socket)), shared_(shared), id_(id) {
    beast::error_code ec;
    const auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec) client_address_ = ep.address().to_string();
  }

  ~Connection() {
    std::lock_guard lock(shared_.mu);
    shared_.live.erase(id_);
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
    stream_.expires_after(timeout());
    reading_ = true;
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Connection::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    reading_ = false;
    if (!ec) return handle();
    const bool partial = parser_->got_some();
    if (ec == http::error::body_limit) {
      return reject(ErrorCode::VALIDATION_BODY_TOO_LARGE,
                    "request body exceeds " + std::to_string(shared_.options.body_bytes_max) +
                        " bytes");
    }
    if (ec == http::error::header_limit) {
      return reject(ErrorCode::REQUEST_MALFORMED, "request headers are too large");
    }
    if (ec == beast::error::timeout && partial) {
      return reject(ErrorCode::REQUEST_TIMEOUT, "request not received in time");
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

  // Writes the status line and headers straight into one string and sends it with the body in
  // one gather write: what Beast's response object and serializer would produce for these
  // fields, without a field list to allocate per response.
  void send(HttpResponse resp, bool keep_alive, unsigned version) {
    struct Out {
      std::string head;
      std::string body;
    };
    auto out = std::make_shared<Out>();
    out->body = std::move(resp.body);
    std::string& h = out->head;
    h.reserve(160);
    h += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    h += std::to_string(resp.status);
    h += ' ';
    h += http::obsolete_reason(static_cast<http::status>(resp.status));
    h += "\r\nServer: warden\r\n";
    if (!resp.content_type.empty()) {
      h += "Content-Type: ";
      h += resp.content_type;
      h += "\r\n";
    }
    for (const auto& [k, v] : resp.headers) {
      h += k;
      h += ": ";
      h += v;
      h += "\r\n";
    }
    // HTTP/1.1 is persistent unless it says close; HTTP/1.0 only when it says keep-alive.
    if (version == 10 && keep_alive) h += "Connection: keep-alive\r\n";
    if (version != 10 && !keep_alive) h += "Connection: close\r\n";
    // No length on answers that cannot have a body (1xx, 204, 304).
    const bool bodiless = resp.status < 200 || resp.status == 204 || resp.status == 304;
    if (!bodiless) {
      h += "Content-Length: ";
      h += std::to_string(out->body.size());
      h += "\r\n";
    } else {
      out->body.clear();
    }
    h += "\r\n";
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
  Listener(IoThreads& io, Shared& shared) : io_(io), acceptor_(io.main()), shared_(shared) {}

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
    });
  }

 private:
  void on_accept(beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec && !shared_.draining) {
      std::shared_ptr<Connection> conn;
      {
        std::lock_guard lock(shared_.mu);
        const std::uint64_t id = shared_.next_id++;
        conn = std::make_shared<Connection>(std::move(socket), shared_, id);
        shared_.live.emplace(id, conn);
      }
      conn->start();
    }
    accept();
  }

  IoThreads& io_;
  tcp::acceptor acceptor_;
  Shared& shared_;
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

}  // namespace

Status run_server(const ServerOptions& options, store::Store& store, const Clock& clock,
                  IdGenerator& ids, std::string master_password_hash) {
  Metrics metrics;
  store::BatchWriter writer(store, options.batch);
  std::unique_ptr<WebhookNotifier> webhook;
  if (!options.webhook_url.empty()) {
    WARDEN_ASSIGN_OR_RETURN(webhook, WebhookNotifier::create(options.webhook_url, store, clock, ids));
  }
  DecisionService decisions(store, writer, clock, ids, options.decisions, webhook.get());
  WARDEN_RETURN_IF_ERROR(decisions.start());
  Api api(store, writer, clock, ids, metrics, decisions, std::move(master_password_hash),
          options.api);
  const int threads =
      options.threads > 0 ? options.threads
                          : std::max(2, static_cast<int>(std::thread::hardware_concurrency()));
  // Outlives the io_contexts: connections unregister from it.
  Shared shared{options, api, {}, {}, {}, 0};
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
            {{"address", ep.address().to_string()}, {"port", ep.port()}, {"threads", threads}});
  listener->accept();

  signals.async_wait([&](beast::error_code ec, int sig) {
    if (ec) return;
    log_event(LogLevel::kInfo, "shutting down", {{"signal", sig}});
    begin_drain(shared, *listener);
    poll_drain(drain_timer, shared, io,
               std::chrono::steady_clock::now() + std::chrono::milliseconds(options.drain_timeout_ms));
  });

  io.run();
  // Everything queued commits before the store is checkpointed; answers to closed
  // connections are dropped with the io_context.
  api.stop();
  decisions.stop();
  writer.stop();
  if (webhook) webhook->stop();
  if (!options.addr_file.empty()) {
    std::error_code ec;
    std::filesystem::remove(options.addr_file, ec);
  }
  return Status();
}

}  // namespace warden::server
