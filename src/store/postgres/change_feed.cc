#include "store/postgres/change_feed.h"

#include <fmt/format.h>
#include <libpq-fe.h>
#include <poll.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <random>

namespace warden::store::postgres {
namespace {

std::string random_origin() {
  std::random_device rd;
  std::uniform_int_distribution<std::uint64_t> dist;
  return fmt::format("{:016x}", dist(rd));
}

std::string first_line(const char* message) {
  std::string m = message == nullptr ? "" : message;
  if (auto nl = m.find('\n'); nl != std::string::npos) m.resize(nl);
  return m;
}

}  // namespace

std::string channel_name(FeedTopic topic) { return fmt::format("warden_{}", topic_name(topic)); }

// The listener's own libpq connection: it is read without blocking (PQconsumeInput), which the
// pool's Connection does not offer.
struct PgChangeFeed::Listener {
  PGconn* conn = nullptr;
  ~Listener() {
    if (conn != nullptr) PQfinish(conn);
  }

  static Result<std::unique_ptr<Listener>> open(const ConnectionConfig& config) {
    // TCP keepalives: a server that vanished without closing the connection (a host lost, a
    // partition) is noticed in about 10 s instead of the kernel's hours, and the listener
    // reconnects and resyncs.
    const char* keys[] = {"dbname",           "password",
                          "connect_timeout",  "application_name",
                          "keepalives_idle",  "keepalives_interval",
                          "keepalives_count", nullptr};
    const char* values[] = {config.url.c_str(),
                            config.password.empty() ? nullptr : config.password.c_str(),
                            "10",
                            "warden-feed",
                            "5",
                            "2",
                            "3",
                            nullptr};
    auto l = std::make_unique<Listener>();
    l->conn = PQconnectdbParams(keys, values, 1);
    if (l->conn == nullptr) return Status(ErrorCode::INTERNAL_STORE_ERROR, "libpq: out of memory");
    if (PQstatus(l->conn) != CONNECTION_OK) {
      return Status(ErrorCode::INTERNAL_STORE_ERROR,
                    fmt::format("change feed: cannot connect to PostgreSQL: {}",
                                first_line(PQerrorMessage(l->conn))));
    }
    for (FeedTopic topic : kFeedTopics) {
      // Channel names are ours (identifiers), never user input.
      std::string sql = fmt::format("LISTEN {}", channel_name(topic));
      PGresult* r = PQexec(l->conn, sql.c_str());
      const bool ok = r != nullptr && PQresultStatus(r) == PGRES_COMMAND_OK;
      std::string error = ok ? "" : first_line(PQerrorMessage(l->conn));
      PQclear(r);
      if (!ok) {
        return Status(ErrorCode::INTERNAL_STORE_ERROR,
                      fmt::format("change feed: {} failed: {}", sql, error));
      }
    }
    return l;
  }
};

PgChangeFeed::PgChangeFeed(ConnectionConfig config) : PgChangeFeed(std::move(config), Options{}) {}

PgChangeFeed::PgChangeFeed(ConnectionConfig config, Options options)
    : config_(std::move(config)),
      options_(options),
      origin_(random_origin()),
      publishers_(config_, options.publish_connections) {}

PgChangeFeed::~PgChangeFeed() { stop(); }

Status PgChangeFeed::start() {
  if (thread_.joinable()) return Status();
  WARDEN_ASSIGN_OR_RETURN(first_, Listener::open(config_));
  listener_pid_ = PQbackendPID(first_->conn);
  {
    std::lock_guard lock(mu_);
    stopping_ = false;
  }
  thread_ = std::thread([this] { run(); });
  return Status();
}

void PgChangeFeed::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  first_.reset();
  listener_pid_ = 0;
}

bool PgChangeFeed::sleep_unless_stopped(std::chrono::milliseconds delay) {
  std::unique_lock lock(mu_);
  return !stop_cv_.wait_for(lock, delay, [this] { return stopping_; });
}

Status PgChangeFeed::publish(FeedTopic topic, std::string_view payload) {
  WARDEN_RETURN_IF_ERROR(validate_change_payload(payload));
  WARDEN_ASSIGN_OR_RETURN(Pool::Lease conn, publishers_.acquire());
  const std::string message = fmt::format("{}:{}", origin_, payload);
  return conn->exec_prepared("SELECT pg_notify($1, $2)", {channel_name(topic), message}).status();
}

void PgChangeFeed::subscribe(FeedTopic topic, ChangeCallback callback) {
  subscribers_.add(topic, std::move(callback));
}

void PgChangeFeed::dispatch(const char* channel, const char* payload) {
  for (FeedTopic topic : kFeedTopics) {
    if (channel_name(topic) != channel) continue;
    std::string_view text = payload == nullptr ? "" : payload;
    const auto colon = text.find(':');
    if (colon == std::string_view::npos) {
      spdlog::warn("change feed: ignored a notification on {} without an origin", channel);
      return;
    }
    Change change;
    change.topic = topic;
    change.own = text.substr(0, colon) == origin_;
    change.payload = std::string(text.substr(colon + 1));
    subscribers_.deliver(change);
    return;
  }
}

void PgChangeFeed::run() {
  std::unique_ptr<Listener> listener = std::move(first_);
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    if (listener == nullptr) {
      Result<std::unique_ptr<Listener>> opened = Listener::open(config_);
      if (!opened.ok()) {
        spdlog::warn("{}; retrying", opened.status().message());
        if (!sleep_unless_stopped(options_.reconnect_delay)) return;
        continue;
      }
      listener = std::move(*opened);
      listener_pid_ = PQbackendPID(listener->conn);
      ++reconnects_;
      spdlog::info("change feed: listening again; every subscriber resyncs");
      // Whatever was notified while disconnected is gone: reload everything instead.
      for (FeedTopic topic : kFeedTopics) {
        Change resync;
        resync.topic = topic;
        resync.resync = true;
        subscribers_.deliver(resync);
      }
    }
    pollfd fd{PQsocket(listener->conn), POLLIN, 0};
    const int ready = ::poll(&fd, 1, static_cast<int>(options_.poll_interval.count()));
    bool broken = fd.fd < 0 || (ready < 0 && errno != EINTR);
    if (!broken && ready > 0) {
      broken = PQconsumeInput(listener->conn) == 0 || PQstatus(listener->conn) != CONNECTION_OK;
      while (PGnotify* n = PQnotifies(listener->conn)) {
        {
          std::lock_guard lock(mu_);
          if (stopping_) {
            PQfreemem(n);
            return;
          }
        }
        dispatch(n->relname, n->extra);
        PQfreemem(n);
      }
    }
    if (broken) {
      spdlog::warn("change feed: lost the listener connection ({}); reconnecting",
                   first_line(PQerrorMessage(listener->conn)));
      listener.reset();
      listener_pid_ = 0;
    }
  }
}

}  // namespace warden::store::postgres
