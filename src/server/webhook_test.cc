// Webhook notifier against real HTTP receivers on loopback, delivering from the store's outbox:
// retries with the same event id, exhausted retries, a closed port, a silent receiver, stop()
// leaving events for a restart that delivers them, URL checks.
#include "server/webhook.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <filesystem>
#include <future>

#include "core/json.h"
#include "policy/policy.h"
#include "store/batch_writer.h"
#include "store/sqlite/sqlite_store.h"

namespace warden::server {
namespace {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using decisions::Actor;
using decisions::Answer;
using decisions::DecisionService;
using decisions::Submission;
using tcp = asio::ip::tcp;
using Clock_ = std::chrono::steady_clock;

constexpr auto kWaitMax = std::chrono::seconds(15);

struct Received {
  std::string event_id;
  std::string content_type;
  std::string target;
  std::string body;
};

// A one-connection-at-a-time HTTP receiver on 127.0.0.1:<ephemeral>. Answers the scripted
// statuses in order, then `then_status`; with `silent` it reads the request and never answers.
class Receiver {
 public:
  Receiver(std::vector<int> script, int then_status, bool silent = false)
      : script_(std::move(script)),
        then_status_(then_status),
        silent_(silent),
        acceptor_(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { serve(); });
  }
  ~Receiver() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    asio::io_context ioc;  // unblocks accept()
    tcp::socket wake(ioc);
    beast::error_code ec;
    wake.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), ec);
    thread_.join();
  }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  std::vector<Received> received() const {
    std::lock_guard lock(mu_);
    return received_;
  }
  std::size_t count() const { return received().size(); }

 private:
  void serve() {
    for (;;) {
      tcp::socket socket(ioc_);
      beast::error_code ec;
      acceptor_.accept(socket, ec);
      if (stopped() || ec) return;
      beast::flat_buffer buffer;
      http::request<http::string_body> req;
      http::read(socket, buffer, req, ec);
      if (ec) continue;
      int status = then_status_;
      {
        std::unique_lock lock(mu_);
        received_.push_back({std::string(req["X-Warden-Event-Id"]),
                             std::string(req[http::field::content_type]), std::string(req.target()),
                             req.body()});
        if (next_ < script_.size()) status = script_[next_++];
        if (silent_) {
          cv_.wait(lock, [this] { return stop_; });
          return;
        }
      }
      http::response<http::string_body> res{static_cast<http::status>(status), 11};
      res.body() = "{}";
      res.prepare_payload();
      http::write(socket, res, ec);
    }
  }
  bool stopped() {
    std::lock_guard lock(mu_);
    return stop_;
  }

  const std::vector<int> script_;
  const int then_status_;
  const bool silent_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Received> received_;  // guarded by mu_
  std::size_t next_ = 0;            // guarded by mu_
  bool stop_ = false;               // guarded by mu_
  std::thread thread_;
};

// Records the backoff delays instead of sleeping.
struct SleepRecorder {
  std::mutex mu;
  std::vector<std::int64_t> delays_ms;
  std::function<void(std::int64_t)> fn() {
    return [this](std::int64_t ms) {
      std::lock_guard lock(mu);
      delays_ms.push_back(ms);
    };
  }
  std::vector<std::int64_t> get() {
    std::lock_guard lock(mu);
    return delays_ms;
  }
};

json::object sample_event(int seq) {
  return json::object{{"event", "transaction.decided"},
                      {"seq", seq},
                      {"transaction", json::object{{"id", "tx-" + std::to_string(seq)},
                                                   {"agent_id", "agent-1"},
                                                   {"tier", "NOTIFY"},
                                                   {"amount", "5000"}}}};
}

class WebhookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "warden-webhook-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto opened = store::SqliteStore::open(dir_ + "/w.db", {.create_if_missing = true});
    ASSERT_TRUE(opened.ok()) << opened.status().to_string();
    store_ = std::move(*opened);
    writer_ = std::make_unique<store::BatchWriter>(*store_, store::BatchOptions{});
  }
  void TearDown() override {
    writer_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::unique_ptr<WebhookNotifier> make(const std::string& url, WebhookOptions options) {
    auto n = WebhookNotifier::create(url, *writer_, *store_, clock_, std::move(options));
    EXPECT_TRUE(n.ok()) << n.status().to_string();
    return n.ok() ? std::move(*n) : nullptr;
  }
  // What the decision service does: the event into the outbox, then a wake-up.
  std::string enqueue(WebhookNotifier& n, const json::object& event) {
    const store::OutboxRow row{ids_.next(), json::serialize(event), clock_.now_seconds(), 0,
                               clock_.now_seconds()};
    EXPECT_TRUE(store_->write([&](store::WriteTxn& tx) { return tx.insert_outbox(row); }).ok());
    n.wake();
    return row.id;
  }
  std::vector<store::OutboxRow> outbox() {
    return store_->list_outbox_due(clock_.now_seconds() + 1, 100).value();
  }
  // Bounded wait for delivered + failed to reach `outcomes`.
  bool wait_outcomes(const WebhookNotifier& n, std::uint64_t outcomes) {
    const auto deadline = Clock_::now() + kWaitMax;
    while (Clock_::now() < deadline) {
      const auto s = n.stats();
      if (s.delivered + s.failed >= outcomes) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }
  std::vector<json::object> audit_details(const std::string& type) {
    store::AuditFilter f;
    f.event_type = type;
    auto rows = store_->list_audit(f);
    EXPECT_TRUE(rows.ok());
    std::vector<json::object> out;
    for (const auto& r : *rows) {
      auto v = json::parse(r.event.details);
      v.as_object()["tx_id"] = r.event.tx_id.value_or("");
      v.as_object()["severity"] = r.event.severity;
      out.push_back(std::move(v.as_object()));
    }
    return out;
  }

  std::string dir_;
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<store::BatchWriter> writer_;
  FakeClock clock_;
  IdGenerator ids_{clock_};
};

TEST_F(WebhookTest, RetriesUntilAcceptedWithTheSameEventId) {
  Receiver receiver({500, 500}, 200);
  SleepRecorder sleeper;
  const std::string url = receiver.url("/hooks/warden?x=1");
  auto n = make(url, {.sleep_ms = sleeper.fn()});
  ASSERT_NE(n, nullptr);
  enqueue(*n, sample_event(1));
  ASSERT_TRUE(wait_outcomes(*n, 1));

  const auto got = receiver.received();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_TRUE(is_uuid(got[0].event_id)) << got[0].event_id;
  for (const auto& r : got) {
    EXPECT_EQ(r.event_id, got[0].event_id);
    EXPECT_EQ(r.content_type, "application/json");
    EXPECT_EQ(r.target, "/hooks/warden?x=1");
    EXPECT_EQ(json::parse(r.body), json::value(sample_event(1)));
  }
  EXPECT_EQ(sleeper.get(), (std::vector<std::int64_t>{500, 1000}));
  EXPECT_EQ(n->stats().delivered, 1u);
  EXPECT_EQ(n->stats().failed, 0u);
  EXPECT_EQ(n->stats().attempts, 3u);

  const auto rows = audit_details("NOTIFICATION_DELIVERED");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].at("event_id"), json::value(got[0].event_id));
  EXPECT_EQ(rows[0].at("url"), json::value(url));
  EXPECT_EQ(rows[0].at("attempts"), json::value(3));
  EXPECT_EQ(rows[0].at("last_status"), json::value(200));
  EXPECT_TRUE(rows[0].at("error").is_null());
  EXPECT_EQ(rows[0].at("event"), json::value("transaction.decided"));
  EXPECT_EQ(rows[0].at("tx_id"), json::value("tx-1"));
  EXPECT_TRUE(audit_details("NOTIFICATION_FAILED").empty());
  EXPECT_FALSE(store_->verify_audit()->first_broken_id.has_value());
}

TEST_F(WebhookTest, AlwaysFailingReceiverIsRecordedAfterMaxAttempts) {
  Receiver receiver({}, 503);
  SleepRecorder sleeper;
  auto n = make(receiver.url("/"), {.attempts_max = 4, .sleep_ms = sleeper.fn()});
  ASSERT_NE(n, nullptr);
  enqueue(*n, sample_event(7));
  ASSERT_TRUE(wait_outcomes(*n, 1));
  EXPECT_EQ(receiver.count(), 4u);
  EXPECT_EQ(sleeper.get(), (std::vector<std::int64_t>{500, 1000, 2000}));
  const auto rows = audit_details("NOTIFICATION_FAILED");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].at("attempts"), json::value(4));
  EXPECT_EQ(rows[0].at("last_status"), json::value(503));
  EXPECT_EQ(rows[0].at("error"), json::value("HTTP 503"));
  EXPECT_EQ(rows[0].at("severity"), json::value("warning"));
  EXPECT_EQ(rows[0].at("tx_id"), json::value("tx-7"));
  EXPECT_TRUE(audit_details("NOTIFICATION_DELIVERED").empty());
}

TEST_F(WebhookTest, BackoffIsCappedAndClientErrorsAreNotRetried) {
  {
    Receiver receiver({}, 500);
    SleepRecorder sleeper;
    auto n = make(receiver.url("/"), {.attempts_max = 7, .sleep_ms = sleeper.fn()});
    enqueue(*n, sample_event(1));
    ASSERT_TRUE(wait_outcomes(*n, 1));
    EXPECT_EQ(sleeper.get(), (std::vector<std::int64_t>{500, 1000, 2000, 4000, 4000, 4000}));
  }
  Receiver receiver({}, 404);
  auto n = make(receiver.url("/"), {.sleep_ms = [](std::int64_t) {}});
  enqueue(*n, sample_event(2));
  ASSERT_TRUE(wait_outcomes(*n, 1));
  EXPECT_EQ(receiver.count(), 1u);
  const auto rows = audit_details("NOTIFICATION_FAILED");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].at("attempts"), json::value(1));
  EXPECT_EQ(rows[1].at("last_status"), json::value(404));
}

TEST_F(WebhookTest, ClosedPortFailsWithoutHanging) {
  unsigned short port = 0;
  {
    asio::io_context ioc;
    tcp::acceptor a(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = a.local_endpoint().port();
  }  // closed: connections are refused
  SleepRecorder sleeper;
  const auto start = Clock_::now();
  auto n = make("http://127.0.0.1:" + std::to_string(port) + "/x",
                {.attempts_max = 3, .sleep_ms = sleeper.fn()});
  enqueue(*n, sample_event(3));
  ASSERT_TRUE(wait_outcomes(*n, 1));
  EXPECT_LT(Clock_::now() - start, std::chrono::seconds(5));
  const auto rows = audit_details("NOTIFICATION_FAILED");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].at("attempts"), json::value(3));
  EXPECT_TRUE(rows[0].at("last_status").is_null());
  EXPECT_TRUE(rows[0].at("error").as_string().starts_with("connect:")) << rows[0].at("error");
}

TEST_F(WebhookTest, SilentReceiverHitsTheRequestTimeout) {
  Receiver receiver({}, 200, /*silent=*/true);
  const auto start = Clock_::now();
  auto n = make(receiver.url("/"),
                {.request_timeout_ms = 200, .attempts_max = 1, .sleep_ms = [](std::int64_t) {}});
  enqueue(*n, sample_event(4));
  ASSERT_TRUE(wait_outcomes(*n, 1));
  const auto elapsed = Clock_::now() - start;
  EXPECT_GE(elapsed, std::chrono::milliseconds(200));
  EXPECT_LT(elapsed, std::chrono::seconds(3));
  const auto rows = audit_details("NOTIFICATION_FAILED");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].at("error"), json::value("timed out after 200 ms"));
}

TEST_F(WebhookTest, StopLeavesUndeliveredEventsInTheOutboxAndARestartDeliversThem) {
  std::vector<std::string> ids;
  {
    Receiver failing({}, 500);
    auto n = make(failing.url("/"), {.backoff_initial_ms = 60'000, .backoff_max_ms = 60'000});
    ids.push_back(enqueue(*n, sample_event(1)));
    const auto deadline = Clock_::now() + kWaitMax;
    while (failing.count() == 0 && Clock_::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ASSERT_EQ(failing.count(), 1u);
    ids.push_back(enqueue(*n, sample_event(2)));
    const auto start = Clock_::now();
    n->stop();
    EXPECT_LT(Clock_::now() - start, std::chrono::seconds(3));
    EXPECT_EQ(n->stats().failed, 0u);
  }
  EXPECT_TRUE(audit_details("NOTIFICATION_FAILED").empty());
  auto left = outbox();
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].id, ids[0]);
  EXPECT_EQ(left[0].attempts, 1);  // the try before the stop is counted
  EXPECT_EQ(left[1].attempts, 0);

  // The next start delivers both, in order, under the same event ids.
  Receiver ok({}, 200);
  auto n = make(ok.url("/"), {});
  ASSERT_TRUE(wait_outcomes(*n, 2));
  const auto got = ok.received();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].event_id, ids[0]);
  EXPECT_EQ(got[1].event_id, ids[1]);
  EXPECT_TRUE(outbox().empty());
  const auto rows = audit_details("NOTIFICATION_DELIVERED");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].at("attempts"), json::value(2));
  EXPECT_EQ(rows[0].at("event_id"), json::value(ids[0]));
  EXPECT_EQ(rows[1].at("attempts"), json::value(1));
}

// When the outcome cannot be written, the same rows would come back at once: the notifier waits
// for its next poll instead of delivering them again and again.
TEST_F(WebhookTest, AnOutcomeTheStoreRefusesWaitsForTheNextPoll) {
  Receiver receiver({}, 200);
  writer_->stop();  // every write is refused from here on
  // In the outbox before the notifier starts: its first look finds it, and no wake-up follows.
  const store::OutboxRow row{ids_.next(), json::serialize(sample_event(1)), clock_.now_seconds(),
                             0, clock_.now_seconds()};
  ASSERT_TRUE(store_->write([&](store::WriteTxn& tx) { return tx.insert_outbox(row); }).ok());
  auto n = make(receiver.url("/"), {.batch_max = 1, .poll_ms = 60'000});
  ASSERT_NE(n, nullptr);
  const auto deadline = Clock_::now() + kWaitMax;
  while (receiver.count() == 0 && Clock_::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(receiver.count(), 1u);
  EXPECT_EQ(outbox().size(), 1u);  // kept for a later delivery
  n->stop();
}

// The wiring `warden serve` uses: a NOTIFY-tier decision reaches the receiver after commit.
TEST_F(WebhookTest, NotifyTierDecisionReachesTheReceiver) {
  Receiver receiver({}, 202);
  auto n = make(receiver.url("/warden"), {});
  ASSERT_NE(n, nullptr);
  const std::string agent_id = ids_.next();
  store::AgentRow agent{.id = agent_id, .name = "bot", .chain = "solana", .network = "devnet"};
  ASSERT_TRUE(store_->write([&](store::WriteTxn& tx) { return tx.insert_agent(agent); }).ok());
  policy::PolicySpec spec{agent_id, "SPENDING_LIMIT",
                          *parse_json(R"({"instant_max":"10","notify_max":"1000"})"), 0, true};
  const policy::Validation v = policy::validate(spec);
  ASSERT_FALSE(v.has_error());
  store::PolicyRow row{.id = ids_.next(),
                       .agent_id = agent_id,
                       .type = "SPENDING_LIMIT",
                       .rules = canonical_json(v.normalized_rules),
                       .hash = v.hash};
  ASSERT_TRUE(store_->write([&](store::WriteTxn& tx) { return tx.insert_policy(row); }).ok());

  DecisionService service(*store_, *writer_, clock_, ids_, {.start_sweeper = false}, n.get());
  ASSERT_TRUE(service.start().ok());
  Submission sub;
  sub.agent_id = agent_id;
  sub.row.type = "TRANSFER";
  sub.row.chain = "solana";
  sub.row.amount = sub.row.reserved_amount = "500";
  sub.request.action = "TRANSFER";
  sub.request.amounts["native"] = Amount(500);
  Actor actor;
  actor.agent_id = agent_id;
  std::promise<Result<Answer>> answered;
  service.submit(std::move(sub), actor,
                 [&](Result<Answer> a) { answered.set_value(std::move(a)); });
  auto future = answered.get_future();
  ASSERT_EQ(future.wait_for(kWaitMax), std::future_status::ready);
  const auto answer = future.get();
  ASSERT_TRUE(answer.ok()) << answer.status().to_string();
  ASSERT_TRUE(wait_outcomes(*n, 1));
  service.stop();

  const auto got = receiver.received();
  ASSERT_EQ(got.size(), 1u);
  const json::value body = json::parse(got[0].body);
  EXPECT_EQ(body.at("event"), json::value("transaction.decided"));
  EXPECT_EQ(body.at("transaction").at("id"), answer->body.at("id"));
  EXPECT_EQ(body.at("transaction").at("tier"), json::value("NOTIFY"));
  EXPECT_EQ(body.at("event_id"), json::value(got[0].event_id));
  EXPECT_TRUE(outbox().empty());
  const auto rows = audit_details("NOTIFICATION_DELIVERED");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].at("tx_id"), answer->body.at("id"));
  EXPECT_EQ(rows[0].at("last_status"), json::value(202));
}

TEST(WebhookUrl, ParsesPlainHttpAndRefusesTheRest) {
  auto u = parse_webhook_url("http://hooks.example:8080/a/b?c=d");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "hooks.example");
  EXPECT_EQ(u->port, "8080");
  EXPECT_EQ(u->target, "/a/b?c=d");
  u = parse_webhook_url("http://example.com");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->port, "80");
  EXPECT_EQ(u->target, "/");
  u = parse_webhook_url("http://[::1]:9/x");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, "9");
  for (const char* bad :
       {"https://example.com/hook", "ftp://x", "http://", "http://:80/", "http://h:0/",
        "http://h:65536/", "http://h:8x/", "http://u@h/", "http://h/a b", "example.com"}) {
    auto r = parse_webhook_url(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), ErrorCode::CONFIG_INVALID) << bad;
  }
  EXPECT_NE(parse_webhook_url("https://x/").status().message().find("https"), std::string::npos);
}

TEST_F(WebhookTest, CreateRefusesHttpsAndBadOptions) {
  auto r = WebhookNotifier::create("https://example.com/hook", *writer_, *store_, clock_, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::CONFIG_INVALID);
  r = WebhookNotifier::create("http://127.0.0.1:1/", *writer_, *store_, clock_,
                              {.attempts_max = 0});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::CONFIG_INVALID);
}

}  // namespace
}  // namespace warden::server
