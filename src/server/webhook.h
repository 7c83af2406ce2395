// The webhook notifier: posts NOTIFY/APPROVAL decision and lifecycle events as JSON to one
// plain-HTTP URL from its own worker thread, retrying with backoff, and audits every outcome.
// Only http:// URLs are accepted; an https:// URL is refused at start-up with CONFIG_INVALID
// (terminate TLS in a local proxy if the receiver needs it).
#pragma once

#include <atomic>
#include <boost/json/object.hpp>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/clock.h"
#include "core/ids.h"
#include "core/status.h"
#include "decisions/decisions.h"
#include "store/store.h"

namespace warden::server {

inline constexpr std::size_t kWebhookQueueMax = 1024;            // events waiting for delivery
inline constexpr std::int64_t kWebhookRequestTimeoutMs = 5'000;  // resolve+connect+write+read
inline constexpr int kWebhookAttemptsMax = 5;
inline constexpr std::int64_t kWebhookBackoffInitialMs = 500;  // then 1 s, 2 s, 4 s
inline constexpr std::int64_t kWebhookBackoffMaxMs = 4'000;

struct WebhookOptions {
  std::size_t queue_max = kWebhookQueueMax;  // beyond this the oldest event is dropped
  std::int64_t request_timeout_ms = kWebhookRequestTimeoutMs;
  int attempts_max = kWebhookAttemptsMax;
  std::int64_t backoff_initial_ms = kWebhookBackoffInitialMs;
  std::int64_t backoff_max_ms = kWebhookBackoffMaxMs;
  // Waits between attempts. Empty: a real wait that stop() cuts short. Tests plug in a recorder
  // so they do not sleep through the backoff.
  std::function<void(std::int64_t delay_ms)> sleep_ms;
};

// A parsed http://host[:port][/path] URL.
struct WebhookUrl {
  std::string host;
  std::string port = "80";
  std::string target = "/";  // path and query
};
Result<WebhookUrl> parse_webhook_url(const std::string& url);

struct WebhookStats {
  std::uint64_t delivered = 0;
  std::uint64_t failed = 0;
  std::uint64_t dropped = 0;  // pushed out of a full queue before any attempt
  std::uint64_t attempts = 0;
};

// Thread-safe. notify() never blocks on the network or the store: it only appends to a bounded
// in-memory queue. The worker thread delivers events in order, one at a time; each delivery
// carries an X-Warden-Event-Id header (a UUID v7, the same on every retry) so receivers can
// de-duplicate, and ends with one audit row: NOTIFICATION_DELIVERED or NOTIFICATION_FAILED.
// A 2xx answer is success; 408, 429, 5xx and network errors are retried; other statuses fail
// at once. Call stop() before the store closes.
class WebhookNotifier final : public decisions::Notifier {
 public:
  static Result<std::unique_ptr<WebhookNotifier>> create(const std::string& url,
                                                         store::Store& store, const Clock& clock,
                                                         IdGenerator& ids,
                                                         WebhookOptions options = {});
  ~WebhookNotifier() override;
  WebhookNotifier(const WebhookNotifier&) = delete;
  WebhookNotifier& operator=(const WebhookNotifier&) = delete;

  void notify(boost::json::object event) override;
  // Refuses new events, cuts a backoff wait short, lets an in-flight request finish (bounded by
  // its timeout) and records every event not delivered as NOTIFICATION_FAILED. Idempotent.
  void stop();
  WebhookStats stats() const;

 private:
  struct Outcome {
    bool delivered = false;
    int attempts = 0;
    int last_status = 0;  // 0: no HTTP answer
    std::string error;
  };
  WebhookNotifier(std::string url, WebhookUrl target, store::Store& store, const Clock& clock,
                  IdGenerator& ids, WebhookOptions options);
  void loop();
  Outcome deliver(const std::string& event_id, const std::string& body);
  void wait_backoff(std::int64_t delay_ms);
  void record(const std::string& event_id, const boost::json::object& event,
              const Outcome& outcome);

  const std::string url_;
  const WebhookUrl target_;
  store::Store& store_;
  const Clock& clock_;
  IdGenerator& ids_;
  const WebhookOptions options_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<boost::json::object> queue_;  // guarded by mu_
  bool stopping_ = false;                  // guarded by mu_
  std::atomic<std::uint64_t> delivered_{0}, failed_{0}, dropped_{0}, attempts_{0};
  std::thread worker_;
};

}  // namespace warden::server
