// The webhook notifier: delivers the NOTIFY/APPROVAL decision and lifecycle events waiting in
// the store's outbox as JSON to one plain-HTTP URL from its own worker thread, retrying with
// backoff, and audits every outcome.
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
#include "core/status.h"
#include "decisions/decisions.h"
#include "store/batch_writer.h"
#include "store/store.h"

namespace warden::server {

inline constexpr std::size_t kWebhookBatchMax = 64;  // outbox rows read per look
inline constexpr std::int64_t kWebhookPollMs = 1'000;  // looks at the outbox at least this often
inline constexpr std::int64_t kWebhookRequestTimeoutMs = 5'000;  // resolve+connect+write+read
inline constexpr int kWebhookAttemptsMax = 5;
inline constexpr std::int64_t kWebhookBackoffInitialMs = 500;  // then 1 s, 2 s, 4 s
inline constexpr std::int64_t kWebhookBackoffMaxMs = 4'000;

struct WebhookOptions {
  std::size_t batch_max = kWebhookBatchMax;
  std::int64_t poll_ms = kWebhookPollMs;
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
  std::uint64_t attempts = 0;
};

// Thread-safe. The decision service writes each event to the outbox in the transaction of the
// change it announces and then calls wake(), which never blocks. The worker thread delivers
// outbox events in order, one at a time; each delivery carries an X-Warden-Event-Id header
// (the event's UUID v7, the same on every retry and after a restart) so receivers can
// de-duplicate. A 2xx answer is success; 408, 429, 5xx and network errors are retried; other
// statuses fail at once. A delivered or failed event leaves the outbox in one write with its
// audit row (NOTIFICATION_DELIVERED or NOTIFICATION_FAILED) through the group-commit writer;
// one the notifier stopped before finishing stays for the next start (at least once). Call
// stop() before the writer stops.
class WebhookNotifier final : public decisions::Notifier {
 public:
  static Result<std::unique_ptr<WebhookNotifier>> create(const std::string& url,
                                                         store::BatchWriter& writer,
                                                         store::Store& store, const Clock& clock,
                                                         WebhookOptions options = {});
  ~WebhookNotifier() override;
  WebhookNotifier(const WebhookNotifier&) = delete;
  WebhookNotifier& operator=(const WebhookNotifier&) = delete;

  void wake() override;
  // Cuts a backoff wait short and lets an in-flight request finish (bounded by its timeout);
  // events not delivered stay in the outbox. Idempotent.
  void stop();
  WebhookStats stats() const;

 private:
  struct Outcome {
    bool delivered = false;
    int attempts = 0;
    int last_status = 0;  // 0: no HTTP answer
    std::string error;
    bool stopped = false;  // stop() cut the retries short
  };
  WebhookNotifier(std::string url, WebhookUrl target, store::BatchWriter& writer,
                  store::Store& store, const Clock& clock, WebhookOptions options);
  void loop();
  // Delivers what is due in the outbox; false once stopping.
  bool deliver_due();
  Outcome deliver(const std::string& event_id, const std::string& body);
  void wait_backoff(std::int64_t delay_ms);
  // Takes a finished event out of the outbox with its audit row; an event the notifier
  // stopped before finishing stays, with its attempts counted. False when the store refused.
  bool record(const store::OutboxRow& row, const boost::json::object& event,
              const Outcome& outcome);

  const std::string url_;
  const WebhookUrl target_;
  store::BatchWriter& writer_;
  store::Store& store_;
  const Clock& clock_;
  const WebhookOptions options_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool woken_ = false;     // guarded by mu_
  bool stopping_ = false;  // guarded by mu_
  std::atomic<std::uint64_t> delivered_{0}, failed_{0}, attempts_{0};
  std::thread worker_;
};

}  // namespace warden::server
