// The decision service on a real SQLite store with a fake clock and a hand-driven sweep(): window
// roll-over, DELAY, approvals, reservation TTL, settlement, idempotency, recovery, long poll.
#include "decisions/decisions.h"

#include "decisions/internal.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <atomic>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <filesystem>
#include <future>

#include "core/json.h"
#include "ledger/service.h"
#include "policy/policy.h"
#include "store/sqlite/sqlite_store.h"

namespace warden {
// gtest prints amounts as decimals instead of raw bytes.
void PrintTo(const Amount& amount, std::ostream* os) { *os << amount.to_string(); }
}  // namespace warden

namespace warden::decisions {
namespace {
namespace json = boost::json;

constexpr auto kWaitMax = std::chrono::seconds(10);
constexpr std::int64_t kHourMs = 3'600'000;
constexpr std::int64_t kDayMs = 24 * kHourMs;
constexpr const char* kTo = "0x1111111111111111111111111111111111111111";

// Collects one callback result from the writer thread; get() never waits longer than kWaitMax.
template <class T>
class Await {
 public:
  std::function<void(T)> callback() {
    return [state = state_](T value) {
      if (!state->set.exchange(true)) state->promise.set_value(std::move(value));
    };
  }
  bool ready(std::chrono::milliseconds within = std::chrono::milliseconds(0)) {
    return future_.wait_for(within) == std::future_status::ready;
  }
  T get() {
    if (!ready(kWaitMax)) return T(Status(ErrorCode::INTERNAL_ERROR, "callback never ran"));
    return future_.get();
  }

 private:
  struct State {
    std::promise<T> promise;
    std::atomic<bool> set{false};
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
  std::future<T> future_ = state_->promise.get_future();
};
using Json = Result<json::object>;

// Stands in for the webhook: counts wake-ups and reads the events the service put in the
// outbox (nothing delivers them, so they stay).
class RecordingNotifier : public Notifier {
 public:
  void wake() override { ++wakes_; }
  void attach(store::Store* store) { store_ = store; }
  std::vector<json::object> events() {
    std::vector<json::object> out;
    auto rows = store_->list_outbox_due(INT64_MAX, 1000);
    EXPECT_TRUE(rows.ok()) << rows.status().to_string();
    if (!rows.ok()) return {};
    for (const auto& row : *rows) {
      json::object event = parse_json(row.event).value().as_object();
      EXPECT_EQ(event.at("event_id"), json::value(row.id));
      out.push_back(std::move(event));
    }
    return out;
  }
  int wakes() const { return wakes_.load(); }

 private:
  store::Store* store_ = nullptr;
  std::atomic<int> wakes_{0};
};

std::string str(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

class DecisionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "warden-decisions-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto opened = store::SqliteStore::open(dir_ + "/d.db", {.create_if_missing = true});
    ASSERT_TRUE(opened.ok()) << opened.status().to_string();
    store_ = std::move(*opened);
    agent_id_ = ids_.next();
    store::AgentRow agent{
        .id = agent_id_, .name = "bot", .chain = "ethereum", .network = "mainnet"};
    agent.created_at = agent.updated_at = clock_.now_seconds();
    ASSERT_TRUE(store_->write([&](store::WriteTxn& tx) { return tx.insert_agent(agent); }).ok());
    agent_.agent_id = agent_id_;
  }
  void TearDown() override {
    stop_service();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  void start_service(DecisionOptions options = {}) {
    options.start_sweeper = false;
    notifier_.attach(store_.get());
    writer_ = std::make_unique<store::BatchWriter>(*store_, store::BatchOptions{});
    ledger_ = std::make_unique<ledger::LedgerService>(*store_, *writer_, clock_, ids_,
                                                      ledger::LedgerOptions{.start_sweeper = false});
    ASSERT_TRUE(ledger_->start().ok());
    service_ =
        std::make_unique<DecisionService>(*store_, *writer_, clock_, ids_, options, &notifier_);
    service_->set_ledger(ledger_.get());
    const Status s = service_->start();
    ASSERT_TRUE(s.ok()) << s.to_string();
  }
  void stop_service() {
    if (service_) service_->stop();
    service_.reset();
    if (ledger_) ledger_->stop();
    if (writer_) writer_->stop();
    ledger_.reset();
    writer_.reset();
  }

  // Stores an agent policy (validated and normalised as the API does) and reloads.
  std::string add_policy(const std::string& type, const std::string& rules_text) {
    auto rules = parse_json(rules_text);
    EXPECT_TRUE(rules.ok());
    policy::PolicySpec spec{agent_id_, type, *rules, 0, true};
    const policy::Validation v = policy::validate(spec);
    EXPECT_FALSE(v.has_error()) << json::serialize(policy::issues_to_json(v.issues));
    store::PolicyRow row{.id = ids_.next(),
                         .agent_id = agent_id_,
                         .type = type,
                         .rules = canonical_json(v.normalized_rules),
                         .hash = v.hash};
    row.created_at = row.updated_at = clock_.now_seconds();
    EXPECT_TRUE(store_->write([&](store::WriteTxn& tx) { return tx.insert_policy(row); }).ok());
    if (service_) {
      EXPECT_TRUE(service_->reload_policies().ok());
    }
    return row.id;
  }

  // Replaces a stored policy's rules (as PUT /v1/policies/{id} does) and reloads.
  void set_rules(const std::string& id, const std::string& rules_text) {
    auto row = store_->get_policy(id).value().value();
    policy::PolicySpec spec{row.agent_id, row.type, *parse_json(rules_text), 0, true};
    const policy::Validation v = policy::validate(spec);
    ASSERT_FALSE(v.has_error());
    row.rules = canonical_json(v.normalized_rules);
    row.hash = v.hash;
    ++row.version;
    ASSERT_TRUE(store_->write([&](store::WriteTxn& tx) { return tx.update_policy(row); }).ok());
    ASSERT_TRUE(service_->reload_policies().ok());
  }
  // Runs SQL on the database file behind the store's back (triggers that make writes fail).
  void sql(const std::string& statement) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ + "/d.db").c_str(), &db), SQLITE_OK);
    char* error = nullptr;
    const int rc = sqlite3_exec(db, statement.c_str(), nullptr, nullptr, &error);
    EXPECT_EQ(rc, SQLITE_OK) << (error ? error : "");
    sqlite3_free(error);
    sqlite3_close(db);
  }

  // A TRANSFER shaped as routes_transactions.cc builds it.
  Submission transfer(std::uint64_t amount, std::optional<std::string> key = std::nullopt) {
    Submission sub;
    sub.agent_id = agent_id_;
    const std::string a = std::to_string(amount);
    sub.row.type = "TRANSFER";
    sub.row.chain = "ethereum";
    sub.row.to_address = kTo;
    sub.row.amount = sub.row.reserved_amount = a;
    sub.row.metadata = json::serialize(json::object{{"network", "mainnet"}});
    sub.request.action = "TRANSFER";
    sub.request.attributes = {
        {"to", kTo}, {"network", "mainnet"}, {"chain", "ethereum"}, {"amount", a}};
    sub.request.amounts["native"] = Amount(amount);
    sub.idempotency_key = key;
    json::object body{{"type", "TRANSFER"}, {"to", kTo}, {"amount", a}};
    if (key) body["idempotency_key"] = *key;
    sub.request_hash = canonical_hash(body);
    return sub;
  }
  Result<Answer> submit(Submission sub) {
    Await<Result<Answer>> a;
    service_->submit(std::move(sub), agent_, a.callback());
    return a.get();
  }
  // Submits and expects an ALLOW; returns the transaction body.
  json::object allow(std::uint64_t amount) {
    auto r = submit(transfer(amount));
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    if (!r.ok()) return {};
    EXPECT_EQ(str(r->body, "effect"), "ALLOW") << json::serialize(r->body);
    return r->body;
  }
  std::string effect_of(std::uint64_t amount) {
    auto r = submit(transfer(amount));
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? str(r->body, "effect") : "";
  }
  // As the agent's own session unless `as` says who.
  Json confirm(const std::string& id, std::optional<std::uint64_t> final_amount,
               const Actor* as = nullptr, std::optional<std::string> tx_hash = std::nullopt) {
    Await<Json> a;
    std::optional<Amount> f;
    if (final_amount) f = Amount(*final_amount);
    service_->confirm(id, as ? *as : agent_, f, std::move(tx_hash), a.callback());
    return a.get();
  }
  static Actor master() {
    Actor m;
    m.master = true;
    return m;
  }
  Json cancel(const std::string& id) {
    Await<Json> a;
    service_->cancel(id, agent_, a.callback());
    return a.get();
  }
  Json decide_approval(const std::string& approval_id, bool approve) {
    Await<Json> a;
    Actor master;
    master.master = true;
    service_->decide_approval(approval_id, master, approve, a.callback());
    return a.get();
  }
  // sweep(), then wait until what it queued on the writer has committed.
  void sweep() {
    service_->sweep();
    ASSERT_TRUE(writer_->run([](store::WriteTxn&) { return Status(); }).ok());
  }
  std::string status_of(const std::string& id) {
    auto r = store_->get_transaction(id);
    EXPECT_TRUE(r.ok() && r->has_value());
    return r.ok() && r->has_value() ? (*r)->status : "";
  }
  Amount total(const std::string& meter) {
    return service_->engine().meter_total(agent_id_, meter, clock_.now_ms());
  }
  std::vector<store::AuditRow> audit(const std::string& type, const std::string& tx_id) {
    store::AuditFilter f;
    f.event_type = type;
    auto rows = store_->list_audit(f);
    EXPECT_TRUE(rows.ok());
    std::vector<store::AuditRow> out;
    for (auto& r : *rows) {
      if (r.event.tx_id == std::optional<std::string>(tx_id)) out.push_back(std::move(r));
    }
    return out;
  }

  std::string dir_;
  std::unique_ptr<store::SqliteStore> store_;
  FakeClock clock_;  // 2026-01-01T00:00:00Z
  IdGenerator ids_{clock_};
  RecordingNotifier notifier_;
  std::unique_ptr<store::BatchWriter> writer_;
  std::unique_ptr<ledger::LedgerService> ledger_;
  std::unique_ptr<DecisionService> service_;
  std::string agent_id_;
  Actor agent_;
};

TEST_F(DecisionsTest, RollingWindowFreesSpendExactlyAtItsEnd) {
  start_service();
  const std::string p = add_policy(
      "SPENDING_LIMIT", R"({"instant_max":"1000","windows":[{"duration":"24h","max":"1000"}]})");
  const std::int64_t t0 = clock_.now_ms() + 10 * kHourMs;
  clock_.set_ms(t0);
  const auto first = allow(600);
  ASSERT_TRUE(confirm(str(first, "id"), std::nullopt).ok());
  clock_.set_ms(t0 + kHourMs);
  const auto second = allow(400);
  EXPECT_EQ(total(p + "/native/1d"), Amount(1000));
  ASSERT_TRUE(confirm(str(second, "id"), std::nullopt).ok());
  EXPECT_EQ(effect_of(1), "DENY");

  clock_.set_ms(t0 + kDayMs - 1000);  // one second before the first spend leaves the window
  EXPECT_EQ(effect_of(1), "DENY");
  clock_.set_ms(t0 + kDayMs);
  EXPECT_EQ(total(p + "/native/1d"), Amount(400));
  allow(600);
  EXPECT_EQ(effect_of(1), "DENY");
}

TEST_F(DecisionsTest, CalendarDayWindowResetsAtUtcMidnight) {
  start_service();
  const std::string p = add_policy(
      "SPENDING_LIMIT", R"({"instant_max":"1000","windows":[{"duration":"day","max":"1000"}]})");
  const std::int64_t midnight = clock_.now_ms() + kDayMs;  // 2026-01-02T00:00:00Z
  clock_.set_ms(midnight - kHourMs);
  allow(1000);
  EXPECT_EQ(effect_of(1), "DENY");
  clock_.set_ms(midnight - 1000);
  EXPECT_EQ(effect_of(1), "DENY");
  EXPECT_EQ(total(p + "/native/day"), Amount(1000));
  clock_.set_ms(midnight);
  EXPECT_EQ(total(p + "/native/day"), Amount(0));
  allow(1000);
  EXPECT_EQ(effect_of(1), "DENY");
}

TEST_F(DecisionsTest, DelayQueuesThenReleasesAndCancelReleasesTheReservation) {
  start_service();
  const std::string p = add_policy("SPENDING_LIMIT", R"({"instant_max":"100","delay_max":"1000",
      "delay_seconds":300,"windows":[{"duration":"1d","max":"100000"}]})");
  const std::int64_t t0 = clock_.now_seconds();
  const auto tx = allow(500);
  const std::string id = str(tx, "id");
  EXPECT_EQ(str(tx, "status"), "QUEUED");
  EXPECT_EQ(str(tx, "tier"), "DELAY");
  EXPECT_EQ(str(tx, "executable_at"), format_rfc3339(t0 + 300));
  EXPECT_EQ(tx.at("executable"), json::value(false));

  clock_.set_ms((t0 + 299) * 1000);
  sweep();
  EXPECT_EQ(status_of(id), "QUEUED");
  clock_.set_ms((t0 + 300) * 1000);
  sweep();
  EXPECT_EQ(status_of(id), "PENDING");
  EXPECT_EQ(audit("TX_EXECUTABLE", id).size(), 1u);

  const auto other = allow(700);
  ASSERT_EQ(str(other, "status"), "QUEUED");
  EXPECT_EQ(total(p + "/native/1d"), Amount(1200));
  auto cancelled = cancel(str(other, "id"));
  ASSERT_TRUE(cancelled.ok()) << cancelled.status().to_string();
  EXPECT_EQ(str(*cancelled, "status"), "CANCELLED");
  EXPECT_EQ(total(p + "/native/1d"), Amount(500));
  clock_.set_ms((t0 + 300 + 300) * 1000);
  sweep();  // its DELAY timer fires on a cancelled row: no change
  EXPECT_EQ(status_of(str(other, "id")), "CANCELLED");
  EXPECT_TRUE(audit("TX_EXECUTABLE", str(other, "id")).empty());
}

TEST_F(DecisionsTest, ApprovalApproveRejectAndExpiry) {
  start_service();
  const std::string p = add_policy("SPENDING_LIMIT", R"({"instant_max":"100","delay_max":"1000",
      "approval_timeout_seconds":600,"windows":[{"duration":"1d","max":"100000"}]})");
  const std::int64_t t0 = clock_.now_seconds();
  const auto a = allow(5000), b = allow(6000), c = allow(7000);
  for (const auto* tx : {&a, &b, &c}) {
    EXPECT_EQ(str(*tx, "status"), "QUEUED");
    EXPECT_EQ(str(*tx, "tier"), "APPROVAL");
  }
  auto approval = store_->find_approval_by_tx(str(a, "id"));
  ASSERT_TRUE(approval.ok() && approval->has_value());
  EXPECT_EQ((*approval)->expires_at, t0 + 600);
  EXPECT_EQ((*approval)->id, str(a, "approval_id"));
  EXPECT_EQ(total(p + "/native/1d"), Amount(18000));

  auto approved = decide_approval(str(a, "approval_id"), true);
  ASSERT_TRUE(approved.ok()) << approved.status().to_string();
  EXPECT_EQ(str(*approved, "status"), "PENDING");
  auto rejected = decide_approval(str(b, "approval_id"), false);
  ASSERT_TRUE(rejected.ok()) << rejected.status().to_string();
  EXPECT_EQ(str(*rejected, "status"), "CANCELLED");
  EXPECT_EQ(total(p + "/native/1d"), Amount(12000));

  clock_.set_ms((t0 + 599) * 1000);
  sweep();
  EXPECT_EQ(status_of(str(c, "id")), "QUEUED");
  clock_.set_ms((t0 + 600) * 1000);
  sweep();
  auto expired = store_->get_transaction(str(c, "id"));
  ASSERT_TRUE(expired.ok() && expired->has_value());
  EXPECT_EQ((*expired)->status, "CANCELLED");
  EXPECT_EQ((*expired)->error, std::optional<std::string>("approval expired"));
  EXPECT_EQ(audit("APPROVAL_EXPIRED", str(c, "id")).size(), 1u);
  EXPECT_EQ(total(p + "/native/1d"), Amount(5000));
  EXPECT_EQ(status_of(str(a, "id")), "PENDING");  // approved: untouched by the expiry timer
  auto late = decide_approval(str(c, "approval_id"), true);
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.status().code(), ErrorCode::APPROVAL_NOT_PENDING);
}

// Records what the service reports after each commit, on the writer thread.
class RecordingObserver : public DecisionObserver {
 public:
  struct Seen {
    std::string kind;  // "decided" or "approval_expired"
    std::string tx_id;
    std::string status;
    std::vector<std::string> reason_codes;
  };
  void on_decided(const store::TransactionRow& row, const engine::Decision& d) override {
    Seen s{"decided", row.id, row.status, {}};
    for (const auto& r : d.reasons) s.reason_codes.push_back(r.code);
    std::lock_guard lock(mu_);
    seen_.push_back(std::move(s));
  }
  void on_approval_expired(const store::TransactionRow& row) override {
    std::lock_guard lock(mu_);
    seen_.push_back({"approval_expired", row.id, row.status, {}});
  }
  std::vector<Seen> seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }

 private:
  std::mutex mu_;
  std::vector<Seen> seen_;
};

TEST_F(DecisionsTest, TheObserverHearsEachCommittedDecisionAndExpiredApproval) {
  RecordingObserver observer;
  start_service();
  service_->set_observer(&observer);
  add_policy("SPENDING_LIMIT", R"({"instant_max":"100","delay_max":"1000",
      "approval_timeout_seconds":60,"windows":[{"duration":"1d","max":"3000"}]})");
  const std::int64_t t0 = clock_.now_seconds();
  const auto instant = allow(50);
  const auto queued = allow(2000);  // APPROVAL tier
  const auto denied = submit(transfer(2000));  // past the day's 3000
  ASSERT_TRUE(denied.ok());
  ASSERT_EQ(str(denied->body, "effect"), "DENY");
  auto seen = observer.seen();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].kind, "decided");
  EXPECT_EQ(seen[0].tx_id, str(instant, "id"));
  EXPECT_EQ(seen[0].status, "PENDING");
  EXPECT_EQ(seen[1].tx_id, str(queued, "id"));
  EXPECT_EQ(seen[1].status, "QUEUED");
  EXPECT_EQ(seen[2].tx_id, str(denied->body, "id"));
  EXPECT_EQ(seen[2].status, "DENIED");
  ASSERT_FALSE(seen[2].reason_codes.empty());
  EXPECT_EQ(seen[2].reason_codes.back(), "LIMIT_WINDOW_EXCEEDED");

  clock_.set_ms((t0 + 60) * 1000);
  sweep();
  seen = observer.seen();
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[3].kind, "approval_expired");
  EXPECT_EQ(seen[3].tx_id, str(queued, "id"));
  EXPECT_EQ(seen[3].status, "CANCELLED");

  // Unset, nobody hears (and nothing is copied for it).
  service_->set_observer(nullptr);
  allow(10);
  EXPECT_EQ(observer.seen().size(), 4u);
}

TEST_F(DecisionsTest, UnsettledReservationExpiresAfterTtl) {
  start_service({.reservation_ttl_seconds = 120});
  const std::string p = add_policy(
      "SPENDING_LIMIT", R"({"instant_max":"1000","windows":[{"duration":"1d","max":"100000"}]})");
  const std::int64_t t0 = clock_.now_seconds();
  const auto tx = allow(50);
  const std::string id = str(tx, "id");
  EXPECT_EQ(str(tx, "status"), "PENDING");
  EXPECT_EQ(str(tx, "expires_at"), format_rfc3339(t0 + 120));
  clock_.set_ms((t0 + 119) * 1000);
  sweep();
  EXPECT_EQ(status_of(id), "PENDING");
  EXPECT_EQ(total(p + "/native/1d"), Amount(50));
  clock_.set_ms((t0 + 120) * 1000);
  sweep();
  EXPECT_EQ(status_of(id), "EXPIRED");
  EXPECT_EQ(total(p + "/native/1d"), Amount(0));
  EXPECT_EQ(audit("TX_EXPIRED", id).size(), 1u);
  EXPECT_EQ(service_->timers_pending(), 0u);
  // Spent after all: a late confirm is a settlement, counted and flagged.
  auto late = confirm(id, std::nullopt);
  ASSERT_TRUE(late.ok()) << late.status().to_string();
  EXPECT_EQ(str(*late, "status"), "CONFIRMED");
  EXPECT_EQ(total(p + "/native/1d"), Amount(50));
  EXPECT_EQ(service_->late_settlements(), 1u);
  const auto rows = audit("TX_CONFIRMED", id);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].event.severity, "warning");
  EXPECT_NE(rows[0].event.details.find(R"("late":true)"), std::string::npos);
  auto twice = confirm(id, std::nullopt);
  EXPECT_EQ(twice.status().code(), ErrorCode::TX_INVALID_STATE);
}

// Leadership decided by the test, as a lock held or lost by another replica would.
class SwitchedLeadership : public store::Leadership {
 public:
  bool leading() const override { return leading_.load(); }
  void set(bool leading) { leading_.store(leading); }

 private:
  std::atomic<bool> leading_{false};
};

TEST_F(DecisionsTest, TimersFireOnlyWhileThisReplicaLeads) {
  SwitchedLeadership leadership;
  start_service({.reservation_ttl_seconds = 120, .leadership = &leadership});
  const std::string p = add_policy(
      "SPENDING_LIMIT", R"({"instant_max":"1000","windows":[{"duration":"1d","max":"100000"}]})");
  const std::int64_t t0 = clock_.now_seconds();
  const std::string id = str(allow(50), "id");
  clock_.set_ms((t0 + 600) * 1000);
  sweep();
  sweep();
  EXPECT_EQ(status_of(id), "PENDING");
  EXPECT_EQ(total(p + "/native/1d"), Amount(50));
  EXPECT_EQ(service_->timers_pending(), 1u);  // kept for when this one leads
  EXPECT_TRUE(audit("TX_EXPIRED", id).empty());
  leadership.set(true);
  sweep();
  EXPECT_EQ(status_of(id), "EXPIRED");
  EXPECT_EQ(total(p + "/native/1d"), Amount(0));
  EXPECT_EQ(audit("TX_EXPIRED", id).size(), 1u);
  EXPECT_EQ(service_->timers_pending(), 0u);
}

TEST_F(DecisionsTest, ALateConfirmCountsEvenPastTheWindowsMaxAndAfterARestart) {
  start_service({.reservation_ttl_seconds = 60});
  const std::string p = add_policy(
      "SPENDING_LIMIT", R"({"instant_max":"1000","windows":[{"duration":"1d","max":"100"}]})");
  const std::int64_t t0 = clock_.now_seconds();
  const std::string expired = str(allow(80), "id");
  clock_.set_ms((t0 + 60) * 1000);
  sweep();
  ASSERT_EQ(status_of(expired), "EXPIRED");
  const std::string second = str(allow(90), "id");  // the 80 was released
  ASSERT_TRUE(confirm(second, std::nullopt).ok());
  ASSERT_TRUE(confirm(expired, std::nullopt).ok());
  EXPECT_EQ(total(p + "/native/1d"), Amount(170));
  EXPECT_EQ(effect_of(1), "DENY");
  stop_service();
  start_service();
  EXPECT_EQ(total(p + "/native/1d"), Amount(170));
  EXPECT_EQ(effect_of(1), "DENY");
}

TEST_F(DecisionsTest, ConfirmSettlesReleasesTheRestAndRefusesMore) {
  start_service();
  const std::string p = add_policy(
      "SPENDING_LIMIT", R"({"instant_max":"1000","windows":[{"duration":"1d","max":"100000"}]})");
  const std::string meter = p + "/native/1d";
  const std::string a = str(allow(500), "id"), b = str(allow(500), "id");
  EXPECT_EQ(total(meter), Amount(1000));

  // The agent itself may not lower what it is charged.
  auto lowered = confirm(a, 300);
  ASSERT_FALSE(lowered.ok());
  EXPECT_EQ(lowered.status().code(), ErrorCode::TX_SETTLEMENT_FORBIDDEN);
  EXPECT_EQ(error_http_status(lowered.status().code()), 403);
  EXPECT_EQ(status_of(a), "PENDING");
  EXPECT_EQ(total(meter), Amount(1000));

  const Actor m = master();
  auto done = confirm(a, 300, &m);
  ASSERT_TRUE(done.ok()) << done.status().to_string();
  EXPECT_EQ(str(*done, "status"), "CONFIRMED");
  EXPECT_EQ(str(*done, "final_amount"), "300");
  EXPECT_EQ(total(meter), Amount(800));

  auto too_much = confirm(b, 501);
  ASSERT_FALSE(too_much.ok());
  EXPECT_EQ(too_much.status().code(), ErrorCode::TX_AMOUNT_EXCEEDS_RESERVED);
  EXPECT_EQ(error_http_status(too_much.status().code()), 422);
  EXPECT_EQ(status_of(b), "PENDING");
  EXPECT_EQ(total(meter), Amount(800));
  EXPECT_TRUE(audit("TX_CONFIRMED", b).empty());

  auto twice = confirm(a, 300, &m);
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.status().code(), ErrorCode::TX_INVALID_STATE);
  EXPECT_EQ(total(meter), Amount(800));
  const auto rows = audit("TX_CONFIRMED", a);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].event.actor, "master");
  EXPECT_EQ(rows[0].event.severity, "warning");
  EXPECT_NE(rows[0].event.details.find(R"("below_reserved":true)"), std::string::npos);

  // A settlement session (the executor's) may lower it too; the agent's own at the reserved
  // amount is fine.
  Actor executor = agent_;
  executor.settlement = true;
  const std::string c = str(allow(500), "id");
  ASSERT_TRUE(confirm(c, 0, &executor).ok());
  ASSERT_TRUE(confirm(b, 500).ok());
  EXPECT_EQ(total(meter), Amount(800));
}

TEST_F(DecisionsTest, ATxHashIsUniquePerAgentAndChainAndItsConflictIsClean) {
  start_service();
  add_policy("SPENDING_LIMIT", R"({"instant_max":"1000"})");
  const std::string a = str(allow(5), "id"), b = str(allow(5), "id");
  ASSERT_TRUE(confirm(a, std::nullopt, nullptr, "0xabc").ok());
  auto dup = confirm(b, std::nullopt, nullptr, "0xabc");
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.status().code(), ErrorCode::TX_HASH_CONFLICT);
  EXPECT_EQ(dup.status().message().find("UNIQUE"), std::string::npos) << dup.status().message();
  EXPECT_EQ(status_of(b), "PENDING");
  // Another agent may use the same hash (its own chain history).
  const std::string other = ids_.next();
  store::AgentRow agent{.id = other, .name = "other", .chain = "ethereum", .network = "mainnet"};
  ASSERT_TRUE(store_->write([&](store::WriteTxn& tx) { return tx.insert_agent(agent); }).ok());
  store::TransactionRow row;
  row.id = ids_.next();
  row.agent_id = other;
  row.chain = "ethereum";
  row.type = "TRANSFER";
  row.tx_hash = "0xabc";
  EXPECT_TRUE(store_->write([&](store::WriteTxn& tx) { return tx.insert_transaction(row); }).ok());
}

TEST_F(DecisionsTest, IdempotencyKeyReplaysOrConflicts) {
  start_service();
  const std::string p = add_policy(
      "SPENDING_LIMIT", R"({"instant_max":"1000","windows":[{"duration":"1d","max":"100000"}]})");
  auto first = submit(transfer(70, "key-1"));
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->status, 201);
  EXPECT_FALSE(first->replay);
  auto again = submit(transfer(70, "key-1"));
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_EQ(again->status, 200);
  EXPECT_TRUE(again->replay);
  EXPECT_EQ(str(again->body, "id"), str(first->body, "id"));
  EXPECT_EQ(total(p + "/native/1d"), Amount(70));  // reserved once

  auto other = submit(transfer(71, "key-1"));
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), ErrorCode::TX_IDEMPOTENCY_CONFLICT);
  EXPECT_EQ(error_http_status(other.status().code()), 409);
  auto rows = store_->list_transactions({}, {});
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->size(), 1u);
}

TEST_F(DecisionsTest, IdempotencyKeysReplayWithinRetentionOnly) {
  start_service();
  add_policy("SPENDING_LIMIT", R"({"instant_max":"1000"})");
  auto first = submit(transfer(5, "key-old"));
  ASSERT_TRUE(first.ok());
  clock_.advance_ms(86'400'000 - 1000);
  service_->sweep();
  auto replay = submit(transfer(5, "key-old"));
  ASSERT_TRUE(replay.ok());
  EXPECT_TRUE(replay->replay);
  clock_.advance_ms(2000);  // now more than 24 h after the first use
  service_->sweep();
  auto late = submit(transfer(5, "key-old"));
  ASSERT_FALSE(late.ok());  // forgotten for replay, still unique in the store
  EXPECT_EQ(late.status().code(), ErrorCode::TX_IDEMPOTENCY_CONFLICT);
  auto rows = store_->list_transactions({}, {});
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->size(), 1u);
}

TEST_F(DecisionsTest, RestartRebuildsMetersTimersAndIdempotency) {
  start_service({.reservation_ttl_seconds = 3600});
  const std::string p = add_policy("SPENDING_LIMIT", R"({"instant_max":"1000","delay_max":"5000",
      "delay_seconds":300,"windows":[{"duration":"1d","max":"100000"}]})");
  const std::string meter = p + "/native/1d";
  const std::int64_t t0 = clock_.now_seconds();
  const std::string confirmed = str(allow(500), "id");
  const Actor m = master();
  ASSERT_TRUE(confirm(confirmed, 300, &m).ok());
  auto held_answer = submit(transfer(200, "key-held"));
  ASSERT_TRUE(held_answer.ok());
  const std::string held = str(held_answer->body, "id");
  const auto delayed = allow(2000);
  ASSERT_EQ(str(delayed, "status"), "QUEUED");
  EXPECT_EQ(total(meter), Amount(2500));
  stop_service();

  start_service({.reservation_ttl_seconds = 3600});
  EXPECT_EQ(total(meter), Amount(2500));  // 300 confirmed + 200 held + 2000 queued
  auto replay = submit(transfer(200, "key-held"));
  ASSERT_TRUE(replay.ok()) << replay.status().to_string();
  EXPECT_TRUE(replay->replay);
  EXPECT_EQ(str(replay->body, "id"), held);

  clock_.set_ms((t0 + 300) * 1000);
  sweep();
  EXPECT_EQ(status_of(str(delayed, "id")), "PENDING");
  clock_.set_ms((t0 + 3600) * 1000);
  sweep();
  EXPECT_EQ(status_of(held), "EXPIRED");
  EXPECT_EQ(total(meter), Amount(2300));
  // The recovered DELAY reservation is still settle-able.
  ASSERT_TRUE(confirm(str(delayed, "id"), 1500, &m).ok());
  EXPECT_EQ(total(meter), Amount(1800));
}

// Start-up reads no idempotency keys back: a repeat after a restart is refused by the store's
// unique index and answered from the row that holds the key. A key used just inside the
// replay period replays (and reserves nothing again), with another request it conflicts and
// names its holder, and one used just before the period is refused.
TEST_F(DecisionsTest, AfterARestartAKeyOfTheReplayPeriodReplaysFromTheStore) {
  start_service();
  const std::string p = add_policy(
      "SPENDING_LIMIT", R"({"instant_max":"1000","windows":[{"duration":"30d","max":"100000"}]})");
  const std::string meter = p + "/native/30d";
  const std::int64_t t0_ms = clock_.now_ms();
  auto old_answer = submit(transfer(5, "key-old"));
  ASSERT_TRUE(old_answer.ok());
  clock_.set_ms(t0_ms + 20'000);
  auto kept_answer = submit(transfer(7, "key-kept"));
  ASSERT_TRUE(kept_answer.ok());
  for (int i = 0; i < 30; ++i) {
    clock_.set_ms(t0_ms + 3'600'000 * (i + 1));
    ASSERT_TRUE(submit(transfer(1, std::nullopt)).ok());
  }
  stop_service();
  // key-old is 24 h + 10 s old, key-kept 24 h - 10 s.
  clock_.set_ms(t0_ms + 86'400'000 + 10'000);
  start_service();
  EXPECT_EQ(total(meter), Amount(5 + 7 + 30));
  for (int repeat = 0; repeat < 2; ++repeat) {
    auto kept = submit(transfer(7, "key-kept"));
    ASSERT_TRUE(kept.ok()) << kept.status().to_string();
    EXPECT_EQ(kept->status, 200);
    EXPECT_TRUE(kept->replay);
    EXPECT_EQ(str(kept->body, "id"), str(kept_answer->body, "id"));
    EXPECT_EQ(str(kept->body, "status"), "PENDING");
  }
  EXPECT_EQ(total(meter), Amount(5 + 7 + 30));  // the repeats reserved nothing
  auto other = submit(transfer(8, "key-kept"));
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), ErrorCode::TX_IDEMPOTENCY_CONFLICT);
  EXPECT_EQ(other.status().message(), "idempotency key was used with a different request");
  EXPECT_EQ(other.status().details().at("existing_id").as_string(),
            str(kept_answer->body, "id"));
  auto old = submit(transfer(5, "key-old"));
  ASSERT_FALSE(old.ok());  // past the replay period, still unique in the store
  EXPECT_EQ(old.status().code(), ErrorCode::TX_IDEMPOTENCY_CONFLICT);
  EXPECT_NE(old.status().message().find("already used (more than 86400 s ago)"),
            std::string::npos)
      << old.status().message();
  EXPECT_EQ(total(meter), Amount(5 + 7 + 30));
  auto rows = store_->list_transactions({}, {std::nullopt, 100});
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->size(), 32u);
}

// The replay table holds the last idempotency_memory_seconds of keys, at most keys_max; a
// repeat of a key it forgot is refused by the store's index and answered from the holder, so a
// day of keys need not stay in memory.
TEST_F(DecisionsTest, AKeyPastTheMemoryOfKeysReplaysFromTheStore) {
  start_service({.idempotency_memory_seconds = 60, .idempotency_memory_keys_max = 2});
  const std::string p = add_policy(
      "SPENDING_LIMIT", R"({"instant_max":"1000","windows":[{"duration":"1d","max":"100000"}]})");
  const std::string meter = p + "/native/1d";
  std::vector<std::string> ids;
  for (int k = 1; k <= 3; ++k) {
    auto first = submit(transfer(10 * k, "key-" + std::to_string(k)));
    ASSERT_TRUE(first.ok()) << first.status().to_string();
    ids.push_back(str(first->body, "id"));
  }
  EXPECT_EQ(total(meter), Amount(60));
  auto again = submit(transfer(10, "key-1"));  // past the count: forgotten
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_TRUE(again->replay);
  EXPECT_EQ(str(again->body, "id"), ids[0]);
  clock_.advance_ms(120'000);  // past the period: all forgotten
  service_->sweep();
  auto third = submit(transfer(30, "key-3"));
  ASSERT_TRUE(third.ok()) << third.status().to_string();
  EXPECT_TRUE(third->replay);
  EXPECT_EQ(str(third->body, "id"), ids[2]);
  auto other = submit(transfer(21, "key-2"));
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), ErrorCode::TX_IDEMPOTENCY_CONFLICT);
  EXPECT_EQ(other.status().details().at("existing_id").as_string(), ids[1]);
  EXPECT_EQ(total(meter), Amount(60));  // each decision reserved once
  auto rows = store_->list_transactions({}, {std::nullopt, 100});
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->size(), 3u);
}

TEST_F(DecisionsTest, AYearLongWindowRemembersItsSpendAcrossRestarts) {
  start_service();
  const std::string p = add_policy(
      "SPENDING_LIMIT", R"({"instant_max":"1000","windows":[{"duration":"365d","max":"1000"}]})");
  const std::string meter = p + "/native/365d";
  const std::int64_t t0 = clock_.now_seconds();
  ASSERT_TRUE(confirm(str(allow(600), "id"), std::nullopt).ok());
  // 200 days later: still inside the year.
  clock_.set_ms((t0 + 200 * 86'400) * 1000);
  ASSERT_TRUE(confirm(str(allow(300), "id"), std::nullopt).ok());
  stop_service();
  clock_.set_ms((t0 + 300 * 86'400) * 1000);
  start_service();
  EXPECT_EQ(total(meter), Amount(900));
  EXPECT_EQ(effect_of(101), "DENY");
  EXPECT_EQ(effect_of(100), "ALLOW");
  // A year and an hour after the first spend it has left the window, after another restart.
  stop_service();
  clock_.set_ms((t0 + 365 * 86'400 + 3600) * 1000);
  start_service();
  EXPECT_EQ(total(meter), Amount(400));
}

TEST_F(DecisionsTest, AChangedWindowCountsWhatTheRowsSayFellInsideIt) {
  start_service();
  const std::string p = add_policy(
      "SPENDING_LIMIT", R"({"instant_max":"1000","windows":[{"duration":"24h","max":"1000"}]})");
  const std::int64_t t0 = clock_.now_seconds();
  ASSERT_TRUE(confirm(str(allow(500), "id"), std::nullopt).ok());
  clock_.set_ms((t0 + 30 * 3600) * 1000);  // 30 h later: the 24 h window forgot the 500
  const std::string open = str(allow(300), "id");
  EXPECT_EQ(total(p + "/native/1d"), Amount(300));
  set_rules(p, R"({"instant_max":"1000","windows":[{"duration":"48h","max":"1000"}]})");
  EXPECT_EQ(total(p + "/native/2d"), Amount(800));  // the settled 500 and the open 300
  EXPECT_EQ(effect_of(201), "DENY");
  EXPECT_EQ(service_->engine().stats().meters, 1u);  // the 24 h meter is gone
  // And after a restart, the same.
  stop_service();
  start_service();
  EXPECT_EQ(total(p + "/native/2d"), Amount(800));
  ASSERT_TRUE(cancel(open).ok());
  EXPECT_EQ(total(p + "/native/2d"), Amount(500));
}

TEST_F(DecisionsTest, ACalendarMonthRemembersItsFirstHoursAfterARestartOnThe31st) {
  start_service();
  const std::string p = add_policy(
      "SPENDING_LIMIT", R"({"instant_max":"1000","windows":[{"duration":"month","max":"1000"}]})");
  clock_.set_ms(clock_.now_ms() + kHourMs);  // 2026-01-01T01:00Z
  ASSERT_TRUE(confirm(str(allow(1000), "id"), std::nullopt).ok());
  clock_.set_ms(clock_.now_ms() + 30 * kDayMs + 11 * kHourMs);  // 2026-01-31T12:00Z
  EXPECT_EQ(total(p + "/native/month"), Amount(1000));
  stop_service();
  start_service();
  EXPECT_EQ(total(p + "/native/month"), Amount(1000));
  EXPECT_EQ(effect_of(1), "DENY");
}

TEST_F(DecisionsTest, AReenabledPolicyCountsTheUsageRecordedBeforeIt) {
  start_service();
  const std::string p = add_policy(
      "SPENDING_LIMIT", R"({"instant_max":"1000","windows":[{"duration":"1d","max":"1000"}]})");
  ASSERT_TRUE(confirm(str(allow(600), "id"), std::nullopt).ok());
  const std::string open = str(allow(100), "id");
  auto set_enabled = [&](bool on) {
    auto row = store_->get_policy(p).value().value();
    row.enabled = on;
    ASSERT_TRUE(store_->write([&](store::WriteTxn& tx) { return tx.update_policy(row); }).ok());
    ASSERT_TRUE(service_->reload_policies().ok());
  };
  set_enabled(false);
  EXPECT_EQ(service_->engine().stats().meters, 0u);
  set_enabled(true);
  EXPECT_EQ(total(p + "/native/1d"), Amount(700));  // settled 600 and the open 100
  EXPECT_EQ(effect_of(301), "DENY");
  stop_service();
  start_service();
  EXPECT_EQ(total(p + "/native/1d"), Amount(700));
  ASSERT_TRUE(cancel(open).ok());
  EXPECT_EQ(total(p + "/native/1d"), Amount(600));
}

// An upgrade made the checks stricter and a stored policy no longer compiles: the service still
// starts, and that policy denies its scope until it is fixed.
TEST_F(DecisionsTest, AStoredPolicyThatNoLongerCompilesStartsAndDeniesItsScope) {
  store::PolicyRow row{.id = ids_.next(),
                       .agent_id = agent_id_,
                       .type = "CUSTOM",
                       .rules = R"({"effect":"DENY","pre":"amount == 1.5"})",
                       .hash = "stored-before-the-stricter-check"};
  ASSERT_TRUE(store_->write([&](store::WriteTxn& tx) { return tx.insert_policy(row); }).ok());
  start_service();
  auto r = submit(transfer(5));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(str(r->body, "effect"), "DENY");
  EXPECT_NE(json::serialize(r->body).find("POLICY_INVALID"), std::string::npos)
      << json::serialize(r->body);
}

TEST_F(DecisionsTest, SettlingCancelsTimersSoTheyAreBoundedByWhatIsOpen) {
  start_service({.reservation_ttl_seconds = 3600});
  add_policy("SPENDING_LIMIT", R"({"instant_max":"100","delay_max":"1000","delay_seconds":60})");
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) ids.push_back(str(allow(50), "id"));
  const std::string delayed = str(allow(500), "id");
  EXPECT_EQ(service_->timers_pending(), 22u);  // 20 TTLs, and a DELAY's release and TTL
  for (const auto& id : ids) ASSERT_TRUE(confirm(id, std::nullopt).ok());
  ASSERT_TRUE(cancel(delayed).ok());
  EXPECT_EQ(service_->timers_pending(), 0u);
  // Nothing fires later, so no write fails and rolls back a batch.
  clock_.set_ms(clock_.now_ms() + 7200 * 1000);
  sweep();
  EXPECT_TRUE(audit("TX_EXPIRED", ids[0]).empty());
}

TEST_F(DecisionsTest, ATimerWhoseWriteFailsIsTriedAgainUntilItLands) {
  start_service();
  add_policy("SPENDING_LIMIT", R"({"instant_max":"100","delay_max":"1000","delay_seconds":60})");
  const std::int64_t t0 = clock_.now_seconds();
  const std::string id = str(allow(500), "id");
  // A full disk, as far as the release is concerned: the update is refused. The SQLite store
  // keeps a status as its code (store/sqlite/compact.h): PENDING is 0.
  sql("CREATE TRIGGER refuse_release BEFORE UPDATE OF status ON transactions "
      "WHEN NEW.status = 0 BEGIN SELECT RAISE(ABORT, 'disk full'); END");
  clock_.set_ms((t0 + 60) * 1000);
  sweep();
  EXPECT_EQ(status_of(id), "QUEUED");
  EXPECT_EQ(service_->timers_pending(), 2u);  // the release is back, with the TTL
  sql("DROP TRIGGER refuse_release");
  clock_.set_ms((t0 + 60 + kTimerRetrySeconds) * 1000);
  sweep();
  EXPECT_EQ(status_of(id), "PENDING");
  EXPECT_EQ(audit("TX_EXECUTABLE", id).size(), 1u);
}

TEST_F(DecisionsTest, ADecisionWhoseCommitFailsReleasesItsReservationAndSparesItsBatch) {
  start_service();
  const std::string p = add_policy(
      "SPENDING_LIMIT", R"({"instant_max":"1000","windows":[{"duration":"1d","max":"1000"}]})");
  sql("CREATE TRIGGER refuse_666 BEFORE INSERT ON transactions WHEN NEW.amount = '666' "
      "BEGIN SELECT RAISE(ABORT, 'refused'); END");
  auto failed = submit(transfer(666));
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(total(p + "/native/1d"), Amount(0));  // nothing stays reserved
  EXPECT_EQ(effect_of(1000), "ALLOW");            // the whole window is there
}

// While the first request with a key commits, a different request under the key is refused
// with the id the first one's transaction will have (it used to be "").
TEST(IdempotencyTable, AConflictWithAnInFlightClaimNamesItsTransaction) {
  IdempotencyTable table;
  DecisionService::Done done = [](Result<Answer>) {};
  auto first = table.claim("agent\nk", "hash-1", "tx-1", 100, done);
  EXPECT_EQ(first.outcome, IdempotencyTable::Outcome::kClaimed);
  auto other = table.claim("agent\nk", "hash-2", "tx-2", 100, done);
  EXPECT_EQ(other.outcome, IdempotencyTable::Outcome::kConflict);
  EXPECT_EQ(other.tx_id, "tx-1");
  int answered = 0;
  DecisionService::Done waiter = [&](Result<Answer>) { ++answered; };
  EXPECT_EQ(table.claim("agent\nk", "hash-1", "tx-3", 100, waiter).outcome,
            IdempotencyTable::Outcome::kWaiting);
  auto waiting = table.finish("agent\nk", true);
  ASSERT_EQ(waiting.size(), 1u);
  waiting[0](Status(ErrorCode::INTERNAL_ERROR));
  EXPECT_EQ(answered, 1);
  auto replay = table.claim("agent\nk", "hash-1", "tx-4", 100, done);
  EXPECT_EQ(replay.outcome, IdempotencyTable::Outcome::kReplay);
  EXPECT_EQ(replay.tx_id, "tx-1");
  table.forget_before(101);
  EXPECT_EQ(table.claim("agent\nk", "hash-9", "tx-5", 200, done).outcome,
            IdempotencyTable::Outcome::kClaimed);
}

// At most keys_max keys stay; the oldest committed go first, and an in-flight claim is never
// dropped (the requests waiting for it need it): it holds the trim until it commits.
TEST(IdempotencyTable, KeepsAtMostKeysMaxAndNeverAnInFlightClaim) {
  IdempotencyTable table(2);
  DecisionService::Done done = [](Result<Answer>) {};
  auto claim = [&](const std::string& key) {
    return table.claim(key, "h", "tx-" + key, 100, done).outcome;
  };
  EXPECT_EQ(claim("a"), IdempotencyTable::Outcome::kClaimed);  // in flight
  for (const char* key : {"b", "c"}) {
    EXPECT_EQ(claim(key), IdempotencyTable::Outcome::kClaimed);
    table.finish(key, true);
  }
  EXPECT_EQ(table.size(), 3u);  // "a" is in flight at the front
  table.finish("a", true);
  EXPECT_EQ(claim("d"), IdempotencyTable::Outcome::kClaimed);
  table.finish("d", true);
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(claim("c"), IdempotencyTable::Outcome::kReplay);
  EXPECT_EQ(claim("d"), IdempotencyTable::Outcome::kReplay);
  EXPECT_EQ(claim("b"), IdempotencyTable::Outcome::kClaimed);  // forgotten
}

// An APPROVAL that no SPENDING_LIMIT tier timed (a CUSTOM effect) waits the default hour, rather
// than expiring as it is made.
TEST_F(DecisionsTest, ACustomApprovalWaitsTheDefaultHour) {
  start_service();
  add_policy("CUSTOM", R"({"pre":"amount > 100","effect":"APPROVAL"})");
  const auto q = allow(500);
  EXPECT_EQ(str(q, "tier"), "APPROVAL");
  auto approval = store_->get_approval(str(q, "approval_id"));
  ASSERT_TRUE(approval.ok() && approval->has_value());
  EXPECT_EQ((*approval)->expires_at - (*approval)->created_at,
            engine::kApprovalTimeoutDefaultSeconds);
  sweep();
  auto approved = decide_approval(str(q, "approval_id"), true);
  ASSERT_TRUE(approved.ok()) << approved.status().to_string();
  EXPECT_EQ(str(*approved, "status"), "PENDING");
}

TEST_F(DecisionsTest, ACustomPostRunsAtSettlementWithTheFinalAmountAndIsRecorded) {
  start_service();
  add_policy("SPENDING_LIMIT", R"({"instant_max":"1000"})");
  const std::string post = add_policy(
      "CUSTOM", R"({"post":"amount > 100 && action == 'TRANSFER'","effect":"NOTIFY",
                   "message":"settled above 100"})");
  // `post` does not take part in the decision.
  const auto a = allow(500);
  EXPECT_EQ(str(a, "tier"), "INSTANT");
  const auto b = allow(500);
  const Actor m = master();
  auto low = confirm(str(a, "id"), 100, &m);
  ASSERT_TRUE(low.ok()) << low.status().to_string();
  EXPECT_FALSE(low->contains("post_reasons"));
  auto high = confirm(str(b, "id"), std::nullopt);
  ASSERT_TRUE(high.ok()) << high.status().to_string();
  ASSERT_TRUE(high->contains("post_reasons")) << json::serialize(*high);
  const auto& reasons = high->at("post_reasons").as_array();
  ASSERT_EQ(reasons.size(), 1u);
  EXPECT_EQ(str(reasons[0].as_object(), "code"), "CUSTOM_POST_CONDITION");
  EXPECT_EQ(str(reasons[0].as_object(), "policy_id"), post);
  EXPECT_EQ(str(reasons[0].as_object(), "outcome"), "NOTIFY");
  EXPECT_EQ(str(reasons[0].as_object(), "message"), "settled above 100");
  const auto rows = audit("TX_CONFIRMED", str(b, "id"));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].event.severity, "warning");
  EXPECT_NE(rows[0].event.details.find("CUSTOM_POST_CONDITION"), std::string::npos);
  EXPECT_EQ(audit("TX_CONFIRMED", str(a, "id"))[0].event.severity, "warning");  // below reserved
  // Kept on the transaction: a read shows it too.
  auto got = service_->get(str(b, "id"), agent_);
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->contains("post_reasons"));
}

TEST_F(DecisionsTest, LongPollAnswersOnReleaseOrAtTheDeadline) {
  start_service();
  add_policy("SPENDING_LIMIT", R"({"instant_max":"100","delay_max":"1000","delay_seconds":300})");
  const std::int64_t t0 = clock_.now_seconds();
  const std::string released = str(allow(500), "id");
  Await<Json> on_release;
  service_->wait(released, agent_, 30'000, on_release.callback());
  EXPECT_FALSE(on_release.ready(std::chrono::milliseconds(50)));

  clock_.set_ms((t0 + 20) * 1000);
  const std::string stays = str(allow(500), "id");
  Await<Json> on_deadline;
  service_->wait(stays, agent_, 10'000, on_deadline.callback());
  clock_.set_ms((t0 + 29) * 1000);
  sweep();
  EXPECT_FALSE(on_release.ready());
  EXPECT_FALSE(on_deadline.ready());
  clock_.set_ms((t0 + 30) * 1000);
  sweep();
  auto at_deadline = on_deadline.get();
  ASSERT_TRUE(at_deadline.ok()) << at_deadline.status().to_string();
  EXPECT_EQ(str(*at_deadline, "status"), "QUEUED");
  // The first one's deadline (t0 + 30 s) also passed: it answers with the current state.
  auto first = on_release.get();
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(str(*first, "status"), "QUEUED");

  Await<Json> woken;
  service_->wait(released, agent_, 600'000, woken.callback());
  EXPECT_FALSE(woken.ready(std::chrono::milliseconds(50)));
  clock_.set_ms((t0 + 300) * 1000);
  sweep();
  auto changed = woken.get();
  ASSERT_TRUE(changed.ok()) << changed.status().to_string();
  EXPECT_EQ(str(*changed, "status"), "PENDING");
  EXPECT_EQ(changed->at("executable"), json::value(true));

  Await<Json> settled;  // not queued any more: answers at once
  service_->wait(released, agent_, 30'000, settled.callback());
  ASSERT_TRUE(settled.ready(kWaitMax));
}

TEST_F(DecisionsTest, NotifierSeesNotifyTierDecisionsAndTheirTransitions) {
  start_service();
  add_policy("SPENDING_LIMIT", R"({"instant_max":"100","notify_max":"1000"})");
  allow(50);  // INSTANT: no event
  EXPECT_TRUE(notifier_.events().empty());
  const std::string id = str(allow(500), "id");
  ASSERT_TRUE(confirm(id, std::nullopt).ok());
  const auto events = notifier_.events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(notifier_.wakes(), 2);
  EXPECT_EQ(str(events[0], "event"), "transaction.decided");
  EXPECT_EQ(str(events[0].at("transaction").as_object(), "tier"), "NOTIFY");
  EXPECT_EQ(str(events[0].at("transaction").as_object(), "id"), id);
  EXPECT_EQ(str(events[1], "event"), "transaction.updated");
  EXPECT_EQ(str(events[1].at("transaction").as_object(), "status"), "CONFIRMED");
}

// Known bug, left for the owner of decisions.cc: a generic decision with two amounts has no
// reserved_amount, so confirm() without final_amount settles at 0 and every amount charge of
// that reservation drops to 0 (spend disappears from the windows). Expected: confirm without a
// final amount keeps what was reserved.
TEST_F(DecisionsTest, ConfirmWithoutFinalKeepsEveryAssetOfAMultiAssetDecision) {
  start_service();
  // Two tokens: an asset is "native" or an address (policy::canonical_asset).
  const std::string usd_token = "0x1111111111111111111111111111111111111111";
  const std::string eur_token = "0x2222222222222222222222222222222222222222";
  const std::string usd = add_policy("SPENDING_LIMIT", R"({"asset":")" + usd_token +
                                                           R"(","instant_max":"1000",
      "windows":[{"duration":"1d","max":"100000"}]})");
  const std::string eur = add_policy("SPENDING_LIMIT", R"({"asset":")" + eur_token +
                                                           R"(","instant_max":"1000",
      "windows":[{"duration":"1d","max":"100000"}]})");
  Submission sub;
  sub.agent_id = agent_id_;
  sub.row.type = "DECISION";
  sub.row.chain = "ethereum";
  sub.row.metadata = json::serialize(
      json::object{{"action", "PAY"},
                   {"attributes", json::object()},
                   {"amounts", json::object{{usd_token, "500"}, {eur_token, "300"}}}});
  sub.request.action = "PAY";
  sub.request.amounts = {{usd_token, Amount(500)}, {eur_token, Amount(300)}};
  auto answer = submit(std::move(sub));
  ASSERT_TRUE(answer.ok()) << answer.status().to_string();
  ASSERT_EQ(str(answer->body, "effect"), "ALLOW");
  EXPECT_EQ(total(usd + "/" + usd_token + "/1d"), Amount(500));
  EXPECT_EQ(total(eur + "/" + eur_token + "/1d"), Amount(300));
  ASSERT_TRUE(confirm(str(answer->body, "id"), std::nullopt).ok());
  EXPECT_EQ(total(usd + "/" + usd_token + "/1d"), Amount(500));
  EXPECT_EQ(total(eur + "/" + eur_token + "/1d"), Amount(300));
}

}  // namespace
}  // namespace warden::decisions

// ---- BUDGET policies hold on the ledger ----
namespace warden::decisions {
namespace {

class BudgetTest : public DecisionsTest {
 protected:
  void mint(std::uint64_t amount) {
    Await<Result<ledger::Answer>> a;
    ledger_->mint({agent_id_, Amount(amount), "native", "grant", {}, {}, ids_.next()}, {},
                  a.callback());
    auto r = a.get();
    ASSERT_TRUE(r.ok()) << r.status().to_string();
  }
  ledger::Balance balance() {
    return ledger_->book().balance(agent_id_, "native", clock_.now_seconds());
  }
  // The hold's row as the store has it.
  std::string hold_status(const json::object& tx) {
    const auto& holds = tx.at("holds").as_array();
    EXPECT_EQ(holds.size(), 1u);
    auto row = store_->get_hold(holds[0].at("hold_id").as_string());
    EXPECT_TRUE(row.ok() && row->has_value());
    return row.ok() && *row ? (*row)->status : "";
  }
  Json fail_tx(const std::string& id) {
    Await<Json> a;
    service_->fail(id, agent_, "reverted", a.callback());
    return a.get();
  }
};

TEST_F(BudgetTest, ADecisionHoldsItsAmountAndConfirmPostsTheFinalAmount) {
  start_service();
  add_policy("BUDGET", R"({"asset":"native"})");
  mint(1000);
  const auto tx = allow(600);
  ASSERT_TRUE(tx.contains("holds")) << json::serialize(tx);
  EXPECT_EQ(tx.at("holds").as_array()[0].at("held").as_string(), "600");
  EXPECT_EQ(hold_status(tx), "pending");
  EXPECT_EQ(balance().available, Amount(400));
  EXPECT_EQ(balance().held, Amount(600));
  // More than what is left is denied, and nothing more is held.
  auto over = submit(transfer(401));
  ASSERT_TRUE(over.ok());
  EXPECT_EQ(str(over->body, "effect"), "DENY");
  EXPECT_EQ(over->body.at("reasons").as_array()[0].at("code").as_string(), "BUDGET_EXCEEDED");
  EXPECT_EQ(balance().held, Amount(600));
  // The executor settles below the hold: 500 spent, 100 comes back.
  Actor settlement = agent_;
  settlement.settlement = true;
  auto confirmed = confirm(str(tx, "id"), 500, &settlement);
  ASSERT_TRUE(confirmed.ok()) << confirmed.status().to_string();
  EXPECT_EQ(balance().available, Amount(500));
  EXPECT_EQ(balance().held, Amount(0));
  EXPECT_EQ(hold_status(tx), "posted");
  auto row = store_->get_hold(tx.at("holds").as_array()[0].at("hold_id").as_string());
  EXPECT_EQ((*row)->posted_amount, "500");
}

TEST_F(BudgetTest, FailCancelRejectAndExpiryGiveTheHoldBack) {
  start_service({.reservation_ttl_seconds = 60});
  add_policy("BUDGET", R"({"asset":"native"})");
  add_policy("SPENDING_LIMIT", R"({"instant_max":"100","notify_max":"100","delay_max":"100"})");
  mint(1000);
  const auto failed = allow(100);
  const auto cancelled = allow(100);
  const auto expired = allow(100);
  const auto rejected = allow(200);  // above delay_max: waits for approval, holding
  EXPECT_EQ(str(rejected, "status"), "QUEUED");
  EXPECT_EQ(balance().available, Amount(500));
  ASSERT_TRUE(fail_tx(str(failed, "id")).ok());
  EXPECT_EQ(hold_status(failed), "voided");
  ASSERT_TRUE(cancel(str(cancelled, "id")).ok());
  EXPECT_EQ(hold_status(cancelled), "voided");
  ASSERT_TRUE(decide_approval(str(rejected, "approval_id"), false).ok());
  EXPECT_EQ(hold_status(rejected), "voided");
  EXPECT_EQ(balance().available, Amount(900));
  clock_.advance_ms(61'000);
  sweep();
  EXPECT_EQ(status_of(str(expired, "id")), "EXPIRED");
  EXPECT_EQ(hold_status(expired), "voided");
  EXPECT_EQ(balance().available, Amount(1000));
  EXPECT_EQ(balance().held, Amount(0));
}

TEST_F(BudgetTest, ALateConfirmDebitsWhatWasSpentAsFarAsTheCreditGoes) {
  start_service({.reservation_ttl_seconds = 60});
  add_policy("BUDGET", R"({"asset":"native"})");
  mint(1000);
  const auto a = allow(600);
  const auto b = allow(300);
  clock_.advance_ms(61'000);
  sweep();
  EXPECT_EQ(status_of(str(a, "id")), "EXPIRED");
  EXPECT_EQ(balance().available, Amount(1000));
  auto late = confirm(str(a, "id"), std::nullopt);
  ASSERT_TRUE(late.ok()) << late.status().to_string();
  EXPECT_EQ(balance().available, Amount(400));
  // A new decision holds 350 of the 400 left: the second late confirm finds 50 for its 300.
  allow(350);
  auto short_late = confirm(str(b, "id"), std::nullopt);
  ASSERT_TRUE(short_late.ok()) << short_late.status().to_string();
  EXPECT_EQ(balance().available, Amount(0));
  const auto rows = audit("TX_CONFIRMED", str(b, "id"));
  ASSERT_EQ(rows.size(), 1u);
  const json::object details = parse_json(rows[0].event.details).value().as_object();
  const auto& debits = details.at("ledger_late_debits").as_array();
  ASSERT_EQ(debits.size(), 1u);
  EXPECT_EQ(debits[0].at("debited").as_string(), "50");
  EXPECT_EQ(debits[0].at("shortfall").as_string(), "250");
  // What memory says is what the store says, after a restart too.
  stop_service();
  start_service();
  EXPECT_EQ(balance().available, Amount(0));
  EXPECT_EQ(balance().held, Amount(350));
}

TEST_F(BudgetTest, AHoldStillCountsAfterARestart) {
  start_service();
  add_policy("BUDGET", R"({"asset":"native"})");
  mint(5000);
  // Six concurrent 1,000 holds against 5,000: five fit.
  std::vector<std::thread> threads;
  std::atomic<int> allowed{0}, denied{0};
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&] {
      auto r = submit(transfer(1000));
      ASSERT_TRUE(r.ok());
      (str(r->body, "effect") == "ALLOW" ? allowed : denied)++;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(allowed.load(), 5);
  EXPECT_EQ(denied.load(), 1);
  stop_service();
  start_service();
  EXPECT_EQ(balance().available, Amount(0));
  EXPECT_EQ(balance().held, Amount(5000));
  EXPECT_EQ(effect_of(1), "DENY");
  auto open = store_->list_transactions({.statuses = {"PENDING"}}, {});
  ASSERT_TRUE(open.ok());
  ASSERT_EQ(open->size(), 5u);
  ASSERT_TRUE(cancel(open->front().id).ok());
  EXPECT_EQ(balance().available, Amount(1000));
  EXPECT_EQ(effect_of(1000), "ALLOW");
}

}  // namespace
}  // namespace warden::decisions

// ---- Metered requests (the LLM gateway) settle per asset ----
namespace warden::decisions {
namespace {

class MeteredTest : public BudgetTest {
 protected:
  // An LLM call as the gateway submits it: the token estimate (and its cost) as amounts.
  Submission chat(std::uint64_t tokens, const std::string& model = "gpt-4o",
                  std::optional<std::uint64_t> cost = std::nullopt) {
    Submission sub;
    sub.agent_id = agent_id_;
    sub.row.type = "DECISION";
    sub.row.chain = "ethereum";
    json::object amounts{{"llm_tokens", std::to_string(tokens)}};
    sub.request.amounts[std::string(engine::kLlmTokensAsset)] = Amount(tokens);
    if (cost) {
      amounts["native"] = std::to_string(*cost);
      sub.request.amounts["native"] = Amount(*cost);
    }
    sub.request.action = "LLM_CHAT";
    sub.request.attributes = {{"model", model}, {"estimated_tokens", tokens}};
    sub.row.metadata = json::serialize(json::object{
        {"action", "LLM_CHAT"}, {"attributes", sub.request.attributes}, {"amounts", amounts}});
    return sub;
  }
  json::object allow_chat(std::uint64_t tokens, const std::string& model = "gpt-4o",
                          std::optional<std::uint64_t> cost = std::nullopt) {
    auto r = submit(chat(tokens, model, cost));
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    if (!r.ok()) return {};
    EXPECT_EQ(str(r->body, "effect"), "ALLOW") << json::serialize(r->body);
    return r->body;
  }
  std::string chat_effect(std::uint64_t tokens, const std::string& model = "gpt-4o") {
    auto r = submit(chat(tokens, model));
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? str(r->body, "effect") : "";
  }
  static Actor gateway() {
    Actor a;
    a.system = true;
    return a;
  }
  Json settle(const std::string& id, UsageSettlement s, const Actor& as = gateway()) {
    Await<Json> a;
    service_->settle_usage(id, as, std::move(s), a.callback());
    return a.get();
  }
  static UsageSettlement used(std::map<std::string, Amount> finals,
                              json::object post_attributes = {}) {
    UsageSettlement s;
    s.final_amounts = std::move(finals);
    s.post_attributes = std::move(post_attributes);
    return s;
  }
  json::object details_of(const std::string& event, const std::string& tx_id) {
    const auto rows = audit(event, tx_id);
    EXPECT_EQ(rows.size(), 1u);
    if (rows.size() != 1) return {};
    return parse_json(rows[0].event.details).value().as_object();
  }
};

TEST_F(MeteredTest, ATokenLimitReservesTheEstimateAndSettlesToTheRealUsage) {
  start_service();
  const std::string p = add_policy("TOKEN_LIMIT", R"({"max_tokens":150,"window":"1h"})");
  const std::string meter = p + "/llm_tokens/1h";
  const auto first = allow_chat(100);
  EXPECT_EQ(total(meter), Amount(100));
  EXPECT_EQ(chat_effect(51), "DENY");
  auto settled = settle(str(first, "id"), used({{"llm_tokens", Amount(40)}}));
  ASSERT_TRUE(settled.ok()) << settled.status().to_string();
  EXPECT_EQ(str(*settled, "status"), "CONFIRMED");
  EXPECT_EQ(str(*settled, "final_amount"), "40");
  EXPECT_EQ(total(meter), Amount(40));
  // 40 + 110 fits.
  const auto second = allow_chat(110);
  EXPECT_EQ(total(meter), Amount(150));
  // The store recorded what was really used, so a restart counts the same.
  stop_service();
  start_service();
  EXPECT_EQ(total(meter), Amount(150));
  const auto row = store_->get_transaction(str(first, "id")).value().value();
  EXPECT_EQ(metadata_of(row).at("final_amounts"), (json::object{{"llm_tokens", "40"}}));
  // A settlement may not come twice.
  auto again = settle(str(first, "id"), used({{"llm_tokens", Amount(1)}}));
  EXPECT_EQ(again.status().code(), ErrorCode::TX_INVALID_STATE);
  // An agent's own session may not settle metered usage.
  auto own = settle(str(second, "id"), used({{"llm_tokens", Amount(0)}}), agent_);
  EXPECT_EQ(own.status().code(), ErrorCode::TX_SETTLEMENT_FORBIDDEN);
}

TEST_F(MeteredTest, MoreThanReservedCountsPastMaxAndAFailedCallReleasesEverything) {
  start_service();
  const std::string p = add_policy("TOKEN_LIMIT", R"({"max_tokens":150,"window":"1h"})");
  const std::string meter = p + "/llm_tokens/1h";
  const auto over = allow_chat(100);
  ASSERT_TRUE(settle(str(over, "id"), used({{"llm_tokens", Amount(180)}})).ok());
  EXPECT_EQ(total(meter), Amount(180));
  EXPECT_EQ(chat_effect(1), "DENY");
  clock_.advance_ms(kHourMs + 1000);
  const auto failed = allow_chat(120);
  EXPECT_EQ(total(meter), Amount(120));
  UsageSettlement nothing;
  nothing.used = false;
  nothing.error = "upstream 502";
  auto r = settle(str(failed, "id"), nothing);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(str(*r, "status"), "FAILED");
  EXPECT_EQ(str(*r, "error"), "upstream 502");
  EXPECT_EQ(total(meter), Amount(0));
  EXPECT_EQ(details_of("TX_FAILED", str(failed, "id")).at("error"), "upstream 502");
}

TEST_F(MeteredTest, PerModelLimitsHoldEachModelAndSurviveARestart) {
  start_service();
  const std::string p =
      add_policy("TOKEN_LIMIT", R"({"max_tokens":150,"window":"1h","scope":"model"})");
  const auto a = allow_chat(150, "gpt-4o");
  const auto b = allow_chat(150, "o3");
  EXPECT_EQ(chat_effect(1, "gpt-4o"), "DENY");
  EXPECT_EQ(chat_effect(1, "o3"), "DENY");
  ASSERT_TRUE(settle(str(a, "id"), used({{"llm_tokens", Amount(100)}})).ok());
  // b stays open across the restart; a's settled 100 comes back from the usage rows.
  stop_service();
  start_service();
  EXPECT_EQ(total(p + "/llm_tokens/1h@gpt-4o"), Amount(100));
  EXPECT_EQ(total(p + "/llm_tokens/1h@o3"), Amount(150));
  EXPECT_EQ(chat_effect(51, "gpt-4o"), "DENY");
  EXPECT_EQ(chat_effect(50, "gpt-4o"), "ALLOW");
  EXPECT_EQ(chat_effect(1, "o3"), "DENY");
  ASSERT_TRUE(settle(str(b, "id"), used({{"llm_tokens", Amount(30)}})).ok());
  EXPECT_EQ(total(p + "/llm_tokens/1h@o3"), Amount(30));
  // A reload (the policy changed its window) rebuilds both models from the rows.
  set_rules(p, R"({"max_tokens":150,"window":"2h","scope":"model"})");
  EXPECT_EQ(total(p + "/llm_tokens/2h@gpt-4o"), Amount(150));
  EXPECT_EQ(total(p + "/llm_tokens/2h@o3"), Amount(30));
}

TEST_F(MeteredTest, TheUsageEventIsWrittenWithTheSettlement) {
  start_service();
  add_policy("TOKEN_LIMIT", R"({"max_tokens":1000,"window":"1h"})");
  const auto tx = allow_chat(100);
  UsageSettlement s = used({{"llm_tokens", Amount(64)}});
  store::UsageEventRow usage;
  usage.provider = "openai";
  usage.model = "gpt-4o";
  usage.prompt_tokens = 40;
  usage.completion_tokens = 24;
  usage.cost = "77";
  usage.currency = "native";
  s.usage = usage;
  ASSERT_TRUE(settle(str(tx, "id"), s).ok());
  store::UsageRollupFilter f;
  f.group_by = "model";
  f.from = 0;
  f.to = clock_.now_seconds() + 1;
  auto rows = store_->usage_rollup(f);
  ASSERT_TRUE(rows.ok()) << rows.status().to_string();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].key, "gpt-4o");
  EXPECT_EQ((*rows)[0].requests, 1);
  EXPECT_EQ((*rows)[0].prompt_tokens, 40);
  EXPECT_EQ((*rows)[0].completion_tokens, 24);
  EXPECT_EQ((*rows)[0].cost, "77");
  const json::object details = details_of("TX_CONFIRMED", str(tx, "id"));
  EXPECT_EQ(details.at("final_amounts"), (json::object{{"llm_tokens", "64"}}));
}

TEST_F(MeteredTest, ABudgetHoldIsPostedAtTheRealCostAndTheExcessDebited) {
  start_service();
  add_policy("BUDGET", R"({"asset":"native"})");
  add_policy("TOKEN_LIMIT", R"({"max_tokens":100000,"window":"1h"})");
  mint(1000);
  // Below the estimate: the hold posts the real cost, the rest comes back.
  const auto cheap = allow_chat(100, "gpt-4o", 300);
  EXPECT_EQ(balance().held, Amount(300));
  ASSERT_TRUE(
      settle(str(cheap, "id"), used({{"llm_tokens", Amount(50)}, {"native", Amount(120)}})).ok());
  EXPECT_EQ(hold_status(cheap), "posted");
  auto hold = store_->get_hold(cheap.at("holds").as_array()[0].at("hold_id").as_string());
  EXPECT_EQ((*hold)->posted_amount, "120");
  EXPECT_EQ(balance().available, Amount(880));
  EXPECT_EQ(balance().held, Amount(0));
  // Above: the hold is posted whole and the excess debited, as far as the credit goes.
  const auto dear = allow_chat(100, "gpt-4o", 200);
  const auto other = allow_chat(100, "gpt-4o", 600);  // leaves 80 free
  EXPECT_EQ(balance().available, Amount(80));
  ASSERT_TRUE(settle(str(dear, "id"), used({{"native", Amount(400)}})).ok());
  hold = store_->get_hold(dear.at("holds").as_array()[0].at("hold_id").as_string());
  EXPECT_EQ((*hold)->posted_amount, "200");
  EXPECT_EQ(balance().available, Amount(0));
  EXPECT_EQ(balance().held, Amount(600));
  const auto rows = audit("TX_CONFIRMED", str(dear, "id"));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].event.severity, "warning");
  const json::object details = parse_json(rows[0].event.details).value().as_object();
  const auto& debits = details.at("ledger_excess_debits").as_array();
  ASSERT_EQ(debits.size(), 1u);
  EXPECT_EQ(debits[0].at("asset").as_string(), "native");
  EXPECT_EQ(debits[0].at("debited").as_string(), "80");
  EXPECT_EQ(debits[0].at("shortfall").as_string(), "120");
  // The ledger's memory is what the store says.
  stop_service();
  start_service();
  EXPECT_EQ(balance().available, Amount(0));
  EXPECT_EQ(balance().held, Amount(600));
  (void)other;
}

TEST_F(MeteredTest, ALateSettlementCountsAndDebitsAsALateConfirmDoes) {
  start_service({.reservation_ttl_seconds = 60});
  add_policy("BUDGET", R"({"asset":"native"})");
  const std::string p = add_policy("TOKEN_LIMIT", R"({"max_tokens":150,"window":"1h"})");
  mint(1000);
  const auto tx = allow_chat(100, "gpt-4o", 300);
  clock_.advance_ms(61'000);
  sweep();
  EXPECT_EQ(status_of(str(tx, "id")), "EXPIRED");
  EXPECT_EQ(total(p + "/llm_tokens/1h"), Amount(0));
  EXPECT_EQ(balance().available, Amount(1000));
  auto late = settle(str(tx, "id"), used({{"llm_tokens", Amount(160)}, {"native", Amount(250)}}));
  ASSERT_TRUE(late.ok()) << late.status().to_string();
  EXPECT_EQ(str(*late, "status"), "CONFIRMED");
  EXPECT_EQ(total(p + "/llm_tokens/1h"), Amount(160));
  EXPECT_EQ(balance().available, Amount(750));
  EXPECT_EQ(service_->late_settlements(), 1u);
  const json::object details = details_of("TX_CONFIRMED", str(tx, "id"));
  EXPECT_EQ(details.at("late"), true);
  EXPECT_EQ(details.at("ledger_late_debits").as_array()[0].at("debited"), "250");
}

TEST_F(MeteredTest, APostCheckWithACooldownBlocksTheNextDecisionsAndSurvivesARestart) {
  start_service();
  const std::string p = add_policy(
      "CUSTOM",
      R"({"post":"total_tokens > 1000","effect":"DENY","message":"token burst","cooldown":"5m"})");
  const auto small = allow_chat(10);
  ASSERT_TRUE(settle(str(small, "id"), used({}, json::object{{"prompt_tokens", 400},
                                                             {"completion_tokens", 100},
                                                             {"total_tokens", 500},
                                                             {"latency_ms", 900},
                                                             {"response_size_bytes", 2000}}))
                  .ok());
  EXPECT_EQ(chat_effect(10), "ALLOW");
  const auto big = allow_chat(10);
  auto r = settle(str(big, "id"), used({}, json::object{{"total_tokens", 1500}}));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_TRUE(r->contains("post_reasons"));
  EXPECT_EQ(r->at("post_reasons").as_array()[0].at("code"), "CUSTOM_POST_CONDITION");
  const auto rows = audit("TX_CONFIRMED", str(big, "id"));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].event.severity, "warning");
  const json::object details = parse_json(rows[0].event.details).value().as_object();
  EXPECT_EQ(details.at("usage").at("total_tokens"), 1500);
  auto denied = submit(chat(10));
  ASSERT_TRUE(denied.ok());
  ASSERT_EQ(str(denied->body, "effect"), "DENY");
  const auto& reason = denied->body.at("reasons").as_array()[0].as_object();
  EXPECT_EQ(str(reason, "code"), "CUSTOM_POST_CONDITION");
  EXPECT_EQ(str(reason, "policy_id"), p);
  EXPECT_EQ(str(reason, "message"),
            "token burst (post condition matched; applies until 2026-01-01T00:05:00.000Z)");
  // A restart keeps it running until its end.
  stop_service();
  clock_.advance_ms(4 * 60'000);
  start_service();
  EXPECT_EQ(chat_effect(10), "DENY");
  clock_.advance_ms(60'000);
  EXPECT_EQ(chat_effect(10), "ALLOW");
}

TEST_F(MeteredTest, APostCheckWithoutACooldownOnlyRecords) {
  start_service();
  add_policy("CUSTOM", R"({"post":"total_tokens > 1000","effect":"DENY"})");
  const auto big = allow_chat(10);
  auto r = settle(str(big, "id"), used({}, json::object{{"total_tokens", 1500}}));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->contains("post_reasons"));
  EXPECT_EQ(chat_effect(10), "ALLOW");
}

}  // namespace
}  // namespace warden::decisions
