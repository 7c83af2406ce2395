// The change feed of a cluster (docs/cluster.md, "Changes reach every replica") on PostgreSQL's
// LISTEN/NOTIFY: publish is `SELECT pg_notify(channel, payload)` on a pooled connection; one
// listener thread with its own connection receives every replica's notifications, its own
// included, and calls the subscribers.
//
// NOTIFY is not durable: a notification sent while the listener is disconnected is lost. So
// after the listener reconnects and LISTENs again it delivers a `resync` change to every topic,
// and subscribers reload all they hold (the policy snapshot, the revocation set); a change
// committed after the new LISTEN arrives as a notification, one before it is in the reload.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "store/change_feed.h"
#include "store/postgres/pg.h"

namespace warden::store::postgres {

// "warden_policies", "warden_sessions".
std::string channel_name(FeedTopic topic);

class PgChangeFeed final : public ChangeFeed {
 public:
  struct Options {
    // The longest the listener waits on its socket before it looks at stop(): stop() returns
    // within about this.
    std::chrono::milliseconds poll_interval{100};
    // Between attempts to reconnect the listener.
    std::chrono::milliseconds reconnect_delay{200};
    // Connections for publish (publishes are rare: policy changes, revocations).
    std::size_t publish_connections = 2;
  };

  explicit PgChangeFeed(ConnectionConfig config);
  PgChangeFeed(ConnectionConfig config, Options options);
  ~PgChangeFeed() override;
  PgChangeFeed(const PgChangeFeed&) = delete;
  PgChangeFeed& operator=(const PgChangeFeed&) = delete;

  // Connects the listener and LISTENs (an error when it cannot), then starts its thread. Start
  // before loading what the subscribers keep, so no change falls between the load and the
  // LISTEN.
  Status start();
  // Stops the listener thread and closes its connection; no callback runs after it returns.
  void stop();

  Status publish(FeedTopic topic, std::string_view payload) override;
  void subscribe(FeedTopic topic, ChangeCallback callback) override;

  // This process's id in every notification it sends (16 hex digits, random per feed).
  const std::string& origin() const { return origin_; }
  // The listener connection's backend pid, 0 when disconnected.
  int listener_pid() const { return listener_pid_.load(); }
  // How many times the listener reconnected after losing its connection.
  int reconnects() const { return reconnects_.load(); }

 private:
  struct Listener;
  void run();
  // Waits `delay` unless stop() is called meanwhile; false when stopping.
  bool sleep_unless_stopped(std::chrono::milliseconds delay);
  void dispatch(const char* channel, const char* payload);

  const ConnectionConfig config_;
  const Options options_;
  const std::string origin_;
  Pool publishers_;
  Subscribers subscribers_;
  std::unique_ptr<Listener> first_;  // connected by start(), handed to the thread
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;  // guarded by mu_
  std::atomic<int> listener_pid_{0};
  std::atomic<int> reconnects_{0};
};

}  // namespace warden::store::postgres
