// The engine end to end in process: a real SQLite store and group-commit writer, real spec
// validation and compilation, drivers that record every call. Time is a FakeClock.
#include "automation/engine.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <filesystem>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "automation/spec.h"
#include "core/json.h"
#include "store/sqlite/sqlite_store.h"

namespace warden::automation {
namespace {

namespace json = boost::json;

// What every test driver saw, across hosts.
struct Calls {
  std::mutex mu;
  std::vector<ActionCall> calls;  // in start order
  std::map<std::string, int> running_per_host;
  int overlaps = 0;  // a call started while another of its host ran
  std::atomic<int> running{0};
  std::atomic<int> running_max{0};
};

enum class Mode { kOk, kHang, kFail, kBadAnswer, kThrow, kNotOk };

class RecordingDriver final : public Driver {
 public:
  RecordingDriver(std::string host, Calls& calls, int items = 5) : calls_(calls) {
    info_.id = host;
    info_.name = host;
    info_.verbs.push_back(
        VerbInfo{"file", "touch", json::object{{"type", "object"}}, false, "", {}});
    for (int i = 0; i < items; ++i) {
      const std::string id = "t" + std::to_string(i);
      items_.push_back(InventoryItem{id, id, "file", {{"env", i % 2 ? "prod" : "dev"}}});
    }
  }
  const HostInfo& info() const override { return info_; }
  Result<std::vector<InventoryItem>> inventory(bool) override { return items_; }
  Result<DryRun> dry_run(const ActionCall& call) override {
    DryRun d;
    d.ok = true;
    d.idempotency_key = call.idempotency_key;
    d.plan.push_back(json::string("touch " + call.target.id));
    d.effects.push_back(json::string(call.target.id));
    return d;
  }
  Result<ExecuteResult> execute(const ActionCall& call) override {
    {
      std::lock_guard lock(calls_.mu);
      if (++calls_.running_per_host[info_.id] > 1) ++calls_.overlaps;
      calls_.calls.push_back(call);
    }
    const int now = ++calls_.running;
    int seen = calls_.running_max.load();
    while (now > seen && !calls_.running_max.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(std::chrono::microseconds(mode_ == Mode::kHang ? 400'000 : 200));
    --calls_.running;
    {
      std::lock_guard lock(calls_.mu);
      --calls_.running_per_host[info_.id];
    }
    switch (mode_.load()) {
      case Mode::kFail:
        return Status(ErrorCode::AUTOMATION_DRIVER_FAILED, "exit status 3");
      case Mode::kBadAnswer:
        return Status(ErrorCode::AUTOMATION_DRIVER_BAD_ANSWER, "answer is not JSON");
      case Mode::kThrow:
        throw std::runtime_error("boom");
      case Mode::kNotOk:
        return ExecuteResult{false, {}, "file is locked"};
      default:
        return ExecuteResult{true, json::array{json::string("touched " + call.target.id)}, "ok"};
    }
  }
  void set_mode(Mode m) { mode_ = m; }

 private:
  HostInfo info_;
  std::vector<InventoryItem> items_;
  Calls& calls_;
  std::atomic<Mode> mode_{Mode::kOk};
};

constexpr std::int64_t kT0 = 1'767'225'600'000;  // 2026-01-01T00:00:00Z
constexpr std::int64_t kMinute = 60'000;

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("engine_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    auto opened = store::SqliteStore::open(
        (dir_ / "w.db").string(),
        {.create_if_missing = true, .clock = &clock_, .durability = store::Durability::kNormal});
    ASSERT_TRUE(opened.ok()) << opened.status().to_string();
    store_ = std::move(*opened);
    writer_ = std::make_unique<store::BatchWriter>(*store_, store::BatchOptions{});
    for (int h = 0; h < 4; ++h) {
      auto d = std::make_unique<RecordingDriver>("h" + std::to_string(h), calls_);
      drivers_by_host_.push_back(d.get());
      registry_.add(std::move(d));
    }
    inventory_ = std::make_unique<Inventory>(registry_, clock_);
    for (const HostInfo& h : registry_.hosts()) ASSERT_TRUE(inventory_->refresh(h.id, true).ok());
  }
  void TearDown() override {
    if (engine_) engine_->stop();
    engine_.reset();
    writer_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  void start(EngineOptions options = {.queue_max = 10'000,
                                      .concurrency_max = 3,
                                      .driver_timeout_ms = 10'000,
                                      .scheduler_period_ms = 0}) {
    engine_ = std::make_unique<AutomationEngine>(*store_, *writer_, registry_, *inventory_, clock_,
                                                 ids_, options);
    ASSERT_TRUE(engine_->start().ok());
  }

  // Validates, compiles and stores an enabled automation; returns its id.
  std::string save(std::string_view spec_text, std::int64_t priority = 0) {
    const std::vector<HostInfo> hosts = registry_.hosts();
    const SpecCheck check = validate_spec(json::parse(spec_text), &hosts);
    EXPECT_FALSE(check.has_blocker()) << policy::issues_to_json(check.issues);
    auto compiled = compile(check.normalized, inventory_->all(), clock_.now_ms());
    EXPECT_TRUE(compiled.ok()) << compiled.status().to_string();
    store::AutomationRow row;
    row.id = ids_.next();
    row.name = "test";
    row.spec = canonical_json(check.normalized);
    row.ir = canonical_json(ir_json(*compiled));
    row.hash = check.hash;
    row.enabled = true;
    row.priority = priority;
    row.created_at = row.updated_at = clock_.now_seconds();
    EXPECT_TRUE(writer_->run([row](store::WriteTxn& t) { return t.insert_automation(row); }).ok());
    if (engine_) {
      EXPECT_TRUE(engine_->reload().ok());
    }
    return row.id;
  }

  Event event(std::string kind, std::string subject, json::object attributes = {}) {
    return make_warden_event(kind, std::move(subject), std::move(attributes), clock_, ids_);
  }
  Status submit_and_wait(Event e) {
    std::promise<Status> p;
    auto f = p.get_future();
    engine_->submit(std::move(e), [&p](Status s) { p.set_value(std::move(s)); });
    return f.get();
  }
  std::vector<std::string> outcomes(const std::string& automation_id) {
    auto rows = store_->list_executions(automation_id, std::nullopt, 100);
    EXPECT_TRUE(rows.ok());
    std::vector<std::string> out;
    for (auto it = rows->rbegin(); it != rows->rend(); ++it) out.push_back(it->outcome);
    return out;  // oldest first
  }
  std::int64_t audit_count(std::string_view type) {
    store::AuditFilter f;
    f.event_type = std::string(type);
    f.limit = 100'000;
    auto rows = store_->list_audit(f);
    return rows.ok() ? static_cast<std::int64_t>(rows->size()) : -1;
  }

  std::filesystem::path dir_;
  FakeClock clock_{kT0};
  IdGenerator ids_{clock_};
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<store::BatchWriter> writer_;
  Calls calls_;
  DriverRegistry registry_;
  std::vector<RecordingDriver*> drivers_by_host_;
  std::unique_ptr<Inventory> inventory_;
  std::unique_ptr<AutomationEngine> engine_;
};

std::string touch_on(std::string_view host, std::string_view kind, std::string_view selector,
                     std::string_view extra = "") {
  return fmt::format(
      R"({{"name":"touch {0}","trigger_group":{{"triggers":[{{"kind":"event","event":"{1}"}}]}},
          "targets":[{{"host":"{0}","selector":"{2}"}}],
          "actions":[{{"host":"{0}","capability":"file","verb":"touch",
                       "params":{{"n":"{{{{event.attributes.n}}}}"}}}}]{3}}})",
      host, kind, selector, extra);
}

TEST_F(EngineTest, AnAcceptedEventIsDurableBeforeItsAnswerAndRunsItsAction) {
  start();
  const std::string id = save(touch_on("h0", "load.tick", "{{event.subject}}"));
  EXPECT_TRUE(engine_->wants("load.tick"));
  EXPECT_FALSE(engine_->wants("load.other"));
  Event e = event("load.tick", "t2", json::object{{"n", 7}});
  const std::string event_id = e.id;
  std::promise<bool> stored;
  engine_->submit(e, [&](Status s) {
    EXPECT_TRUE(s.ok()) << s.to_string();
    auto row = store_->get_event(event_id);
    stored.set_value(row.ok() && row->has_value());
  });
  EXPECT_TRUE(stored.get_future().get());
  engine_->drain();
  auto rows = store_->list_executions(id, std::nullopt, 10);
  ASSERT_EQ(rows->size(), 1u);
  const auto& r = rows->front();
  EXPECT_EQ(r.outcome, "succeeded");
  EXPECT_EQ(r.event_id, event_id);
  EXPECT_EQ(r.host, "h0");
  EXPECT_EQ(r.target_id, "t2");
  EXPECT_EQ(r.verb, "touch");
  EXPECT_EQ(r.effects, R"(["touched t2"])");
  EXPECT_EQ(r.idempotency_key.size(), 64u);
  ASSERT_EQ(calls_.calls.size(), 1u);
  EXPECT_EQ(calls_.calls[0].params.at("n").as_int64(), 7);  // template expanded, type kept
  EXPECT_EQ(calls_.calls[0].correlation_id, r.correlation_id);
  EXPECT_EQ(audit_count("AUTOMATION_EXECUTED"), 1);
}

TEST_F(EngineTest, UnwantedOwnEventsAreNotEvenStored) {
  start();
  save(touch_on("h0", "load.tick", "t1"));
  engine_->emit(event("decision.denied", "agent-1"));
  engine_->drain();
  EXPECT_TRUE(calls_.calls.empty());
  EXPECT_FALSE(store_->get_event("x")->has_value());
}

TEST_F(EngineTest, AFullQueueRefusesAndLosesNothingItAccepted) {
  // Not started: accepted events wait for the matcher, so the queue fills.
  engine_ = std::make_unique<AutomationEngine>(
      *store_, *writer_, registry_, *inventory_, clock_, ids_,
      EngineOptions{.queue_max = 3, .concurrency_max = 2, .scheduler_period_ms = 0});
  const std::string id = save(touch_on("h1", "load.tick", "{{event.subject}}"));
  int refused = 0;
  for (int i = 0; i < 5; ++i) {
    Status s = submit_and_wait(event("load.tick", "t" + std::to_string(i), json::object{{"n", i}}));
    if (s.code() == ErrorCode::EVENT_QUEUE_FULL) {
      ++refused;
      EXPECT_EQ(s.details().at("retry_after_seconds").as_int64(), 1);
    } else {
      EXPECT_TRUE(s.ok()) << s.to_string();
    }
  }
  EXPECT_EQ(refused, 2);
  EXPECT_EQ(engine_->queued(), 3u);
  ASSERT_TRUE(engine_->start().ok());
  engine_->drain();
  EXPECT_EQ(outcomes(id), (std::vector<std::string>{"succeeded", "succeeded", "succeeded"}));
}

TEST_F(EngineTest, WardenEventsAFullQueueCannotTakeAreCountedAndReported) {
  engine_ = std::make_unique<AutomationEngine>(
      *store_, *writer_, registry_, *inventory_, clock_, ids_,
      EngineOptions{.queue_max = 2, .concurrency_max = 2, .scheduler_period_ms = 0});
  std::vector<std::string> reported;
  std::mutex reported_mu;
  engine_->set_on_dropped([&](const Event& e, const Status& s) {
    std::lock_guard lock(reported_mu);
    reported.push_back(e.subject + ":" + std::string(error_code_name(s.code())));
  });
  save(touch_on("h1", "load.tick", "{{event.subject}}"));
  for (int i = 0; i < 2; ++i) EXPECT_TRUE(submit_and_wait(event("load.tick", "kept")).ok());
  engine_->emit(event("load.tick", "first"));
  engine_->emit(event("load.tick", "second"));
  engine_->emit(event("nobody.listens", "third"));  // not wanted: not an event at all
  EXPECT_EQ(engine_->events_dropped(), 2u);
  std::lock_guard lock(reported_mu);
  EXPECT_EQ(reported, (std::vector<std::string>{"first:EVENT_QUEUE_FULL",
                                                "second:EVENT_QUEUE_FULL"}));
}

TEST_F(EngineTest, AnEngineNeverStartedWaitsForItsWritesWhenDestroyed) {
  std::atomic<int> answered{0};
  {
    AutomationEngine engine(*store_, *writer_, registry_, *inventory_, clock_, ids_,
                            EngineOptions{.scheduler_period_ms = 0});
    for (int i = 0; i < 20; ++i) {
      engine.submit(event("load.tick", "x"), [&](Status s) {
        EXPECT_TRUE(s.ok());
        ++answered;
      });
    }
  }
  // The engine is gone; its writes' callbacks did not touch it (every sender is answered).
  for (int i = 0; i < 5000 && answered < 20; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(answered.load(), 20);
}

TEST_F(EngineTest, ThousandEventsFromSixteenThreads) {
  start();
  std::vector<std::string> ids;
  for (int h = 0; h < 4; ++h) {
    ids.push_back(
        save(touch_on("h" + std::to_string(h), "load.tick", "{{event.subject}}",
                      fmt::format(R"(,"conditions":["event.attributes.host == 'h{}'"])", h))));
  }
  constexpr int kThreads = 16;
  constexpr int kEvents = 1000;
  std::atomic<int> next{0};
  std::atomic<int> accepted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = next++; i < kEvents; i = next++) {
        Status s =
            submit_and_wait(event("load.tick", "t" + std::to_string(i % 5),
                                  json::object{{"n", i}, {"host", "h" + std::to_string(i % 4)}}));
        if (s.ok()) ++accepted;
      }
    });
  }
  for (auto& th : threads) th.join();
  engine_->drain();
  EXPECT_EQ(accepted.load(), kEvents);
  EXPECT_EQ(calls_.overlaps, 0);
  EXPECT_LE(calls_.running_max.load(), 3);
  EXPECT_LE(engine_->executions_running_max(), 3u);
  EXPECT_GE(calls_.running_max.load(), 2);
  // Nothing lost: each event ran exactly once, on its host.
  ASSERT_EQ(calls_.calls.size(), static_cast<std::size_t>(kEvents));
  std::set<std::string> seen;
  for (const ActionCall& c : calls_.calls) {
    const auto n = c.params.at("n").as_int64();
    EXPECT_EQ(c.host, "h" + std::to_string(n % 4));
    EXPECT_EQ(c.target.id, "t" + std::to_string(n % 5));
    seen.insert(std::to_string(n));
  }
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(kEvents));
  // Each recorded: one audit row per execution (rows beyond the newest 30 are trimmed);
  // the other automations' conditions were false for each event: skipped rows.
  EXPECT_EQ(audit_count("AUTOMATION_EXECUTED"), kEvents);
  EXPECT_EQ(audit_count("AUTOMATION_NOT_EXECUTED"), 3 * kEvents);
  for (const std::string& id : ids) {
    EXPECT_EQ(store_->list_executions(id, std::nullopt, 100)->size(), 30u);
  }
}

TEST_F(EngineTest, SuppressionWindowWithAFakeClock) {
  start();
  const std::string id = save(touch_on("h0", "load.tick", "t1", R"(,"suppression_window":"5m")"));
  // Another automation hears the suppression.
  const std::string listener = save(R"({"name":"hear","trigger_group":{"triggers":[{"kind":"event",
              "event":"automation.suppressed"}]},"targets":[{"host":"h3","selector":"t4"}],
              "actions":[{"host":"h3","capability":"file","verb":"touch"}]})");
  auto send = [&](int n) {
    ASSERT_TRUE(submit_and_wait(event("load.tick", "x", json::object{{"n", n}})).ok());
    engine_->drain();
  };
  send(1);
  clock_.advance_ms(kMinute);
  send(2);  // within 5m of the first: suppressed
  clock_.advance_ms(4 * kMinute - 1);
  send(3);  // 5m - 1ms after the first: still suppressed
  clock_.advance_ms(1);
  send(4);  // 5m after the first run: runs
  EXPECT_EQ(outcomes(id),
            (std::vector<std::string>{"succeeded", "suppressed", "suppressed", "succeeded"}));
  EXPECT_EQ(outcomes(listener), (std::vector<std::string>{"succeeded", "succeeded"}));
  std::vector<std::string> ns;
  for (const auto& c : calls_.calls) {
    if (c.host == "h0") ns.push_back(std::to_string(c.params.at("n").as_int64()));
  }
  EXPECT_EQ(ns, (std::vector<std::string>{"1", "4"}));
}

TEST_F(EngineTest, IdempotencyWindowWithAFakeClock) {
  start();
  const std::string id = save(R"({"name":"same","trigger_group":{"triggers":[{"kind":"event",
      "event":"load.tick"}]},"targets":[{"host":"h2","selector":"t0,t1"}],
      "actions":[{"host":"h2","capability":"file","verb":"touch","params":{"mode":"x"}}],
      "idempotency_window":"1h"})");
  auto send = [&] {
    ASSERT_TRUE(submit_and_wait(event("load.tick", "x")).ok());
    engine_->drain();
  };
  send();
  clock_.advance_ms(59 * kMinute);
  send();
  clock_.advance_ms(kMinute);
  send();
  // Two targets per firing; the second firing's keys are the first's: duplicates.
  EXPECT_EQ(outcomes(id), (std::vector<std::string>{"succeeded", "succeeded", "duplicate",
                                                    "duplicate", "succeeded", "succeeded"}));
  EXPECT_EQ(calls_.calls.size(), 4u);
  // A failed execution is not remembered: the next try runs.
  drivers_by_host_[2]->set_mode(Mode::kNotOk);
  clock_.advance_ms(61 * kMinute);
  send();
  drivers_by_host_[2]->set_mode(Mode::kOk);
  send();
  auto o = outcomes(id);
  EXPECT_EQ(std::vector<std::string>(o.end() - 4, o.end()),
            (std::vector<std::string>{"failed", "failed", "succeeded", "succeeded"}));
}

TEST_F(EngineTest, ARestartKeepsOpenWindowsAndTheInventory) {
  start();
  const std::string suppressed =
      save(touch_on("h0", "load.tick", "t1", R"(,"suppression_window":"5m")"));
  const std::string idempotent = save(R"({"name":"same","trigger_group":{"triggers":[
      {"kind":"event","event":"load.tick"}]},"targets":[{"host":"h2","selector":"t0"}],
      "actions":[{"host":"h2","capability":"file","verb":"touch","params":{"mode":"x"}}],
      "idempotency_window":"1h"})");
  ASSERT_TRUE(inventory_->refresh("h3", true).ok());  // stored through the writer
  ASSERT_TRUE(submit_and_wait(event("load.tick", "x", json::object{{"n", 1}})).ok());
  engine_->drain();
  engine_->stop();
  engine_.reset();

  // A new process: fresh inventory and windows, the same database.
  inventory_ = std::make_unique<Inventory>(registry_, clock_);
  clock_.advance_ms(kMinute);
  start();
  const InventorySnapshot restored = inventory_->snapshot("h3");
  EXPECT_EQ(restored.items.size(), 5u);
  EXPECT_EQ(restored.refreshed_at_ms, kT0);
  ASSERT_TRUE(submit_and_wait(event("load.tick", "x", json::object{{"n", 2}})).ok());
  engine_->drain();
  EXPECT_EQ(outcomes(suppressed), (std::vector<std::string>{"succeeded", "suppressed"}));
  EXPECT_EQ(outcomes(idempotent), (std::vector<std::string>{"succeeded", "duplicate"}));
  clock_.advance_ms(60 * kMinute);
  ASSERT_TRUE(submit_and_wait(event("load.tick", "x", json::object{{"n", 3}})).ok());
  engine_->drain();
  EXPECT_EQ(outcomes(suppressed),
            (std::vector<std::string>{"succeeded", "suppressed", "succeeded"}));
  EXPECT_EQ(outcomes(idempotent),
            (std::vector<std::string>{"succeeded", "duplicate", "succeeded"}));
}

TEST_F(EngineTest, OldEventsArePrunedByTheTick) {
  start({.queue_max = 100,
         .concurrency_max = 2,
         .event_retention_ms = 24 * 60 * kMinute,
         .scheduler_period_ms = 0});
  const Event old = event("load.tick", "x");
  ASSERT_TRUE(submit_and_wait(old).ok());
  engine_->tick();  // the first tick prunes: nothing is a day old yet
  engine_->drain();
  EXPECT_TRUE(store_->get_event(old.id)->has_value());
  clock_.advance_ms(24 * 60 * kMinute - 1);
  const Event recent = event("load.tick", "y");
  ASSERT_TRUE(submit_and_wait(recent).ok());
  clock_.advance_ms(61 * kMinute);  // an hour since the last prune
  engine_->tick();
  engine_->drain();
  EXPECT_FALSE(store_->get_event(old.id)->has_value());
  EXPECT_TRUE(store_->get_event(recent.id)->has_value());
}

TEST_F(EngineTest, ThresholdFiresOncePerCrossing) {
  start();
  const std::string id = save(R"({"name":"spike","trigger_group":{"triggers":[{"kind":"threshold",
      "event":"spend","measure":"sum:amount","window":"1h","above":100}]},
      "targets":[{"host":"h1","selector":"{{event.subject}}"}],
      "actions":[{"host":"h1","capability":"file","verb":"touch"}]})");
  auto spend = [&](std::string subject, int amount) {
    ASSERT_TRUE(submit_and_wait(event("spend", subject, json::object{{"amount", amount}})).ok());
    engine_->drain();
    clock_.advance_ms(kMinute);
  };
  spend("t1", 60);
  spend("t2", 60);  // another group
  spend("t1", 50);  // t1: 110 > 100: fires
  spend("t1", 50);  // still above: no
  EXPECT_EQ(outcomes(id), (std::vector<std::string>{"succeeded"}));
  ASSERT_EQ(calls_.calls.size(), 1u);
  EXPECT_EQ(calls_.calls[0].target.id, "t1");
  clock_.advance_ms(60 * kMinute);  // the window empties
  spend("t1", 101);
  EXPECT_EQ(outcomes(id), (std::vector<std::string>{"succeeded", "succeeded"}));
}

TEST_F(EngineTest, HigherPriorityRunsFirst) {
  start();
  const std::string low = save(touch_on("h0", "load.tick", "t1"), 1);
  const std::string high = save(touch_on("h0", "load.tick", "t2"), 10);
  ASSERT_TRUE(submit_and_wait(event("load.tick", "x", json::object{{"n", 1}})).ok());
  engine_->drain();
  EXPECT_EQ(engine_->matching(event("load.tick", "x")), (std::vector<std::string>{high, low}));
  EXPECT_TRUE(engine_->matching(event("load.other", "x")).empty());
  ASSERT_EQ(calls_.calls.size(), 2u);
  EXPECT_EQ(calls_.calls[0].target.id, "t2");
  EXPECT_EQ(calls_.calls[1].target.id, "t1");
}

TEST_F(EngineTest, FiltersAndConditionsSeeTimesTargetsAndAttributes) {
  start();
  const std::string recent = save(R"J({"name":"recent","trigger_group":{"triggers":[
      {"kind":"event","event":"load.tick",
       "filter":"now - timestamp(event.occurred_at) < duration('1h') && event.attributes.n >= 2"}]},
      "conditions":["target.labels.env == 'prod'"],
      "targets":[{"host":"h1","selector":"t0,t1,t2,t3"}],
      "actions":[{"host":"h1","capability":"file","verb":"touch"}]})J");
  Event fresh = event("load.tick", "x", json::object{{"n", 2}});
  Event old = event("load.tick", "x", json::object{{"n", 2}});
  old.occurred_at_ms -= 2 * 60 * kMinute;
  Event small = event("load.tick", "x", json::object{{"n", 1}});
  EXPECT_EQ(engine_->matching(fresh), std::vector<std::string>{recent});
  EXPECT_TRUE(engine_->matching(old).empty());
  EXPECT_TRUE(engine_->matching(small).empty());
  ASSERT_TRUE(submit_and_wait(fresh).ok());
  engine_->drain();
  // Odd items are labelled prod: t1 and t3 run, t0 and t2 are skipped by the condition.
  std::vector<std::string> ran;
  for (const auto& c : calls_.calls) ran.push_back(c.target.id);
  std::sort(ran.begin(), ran.end());
  EXPECT_EQ(ran, (std::vector<std::string>{"t1", "t3"}));
  EXPECT_EQ(outcomes(recent).size(), 4u);
}

TEST_F(EngineTest, CronAcrossADaylightSavingChange) {
  // Berlin moves from UTC+1 to UTC+2 on 2026-03-29: 09:00 local is 08:00Z before, 07:00Z after.
  clock_.set_ms(*parse_rfc3339_ms("2026-03-27T00:00:00Z"));
  start();
  const std::string id = save(R"({"name":"daily","trigger_group":{"triggers":[{"kind":"schedule",
      "cron":"0 9 * * *","time_zone":"Europe/Berlin"}]},
      "targets":[{"host":"h0","selector":"t0"}],
      "actions":[{"host":"h0","capability":"file","verb":"touch"}]})");
  std::vector<std::string> fired;
  const std::int64_t end = *parse_rfc3339_ms("2026-03-31T00:00:00Z");
  while (clock_.now_ms() < end) {
    if (engine_->tick() > 0) fired.push_back(format_rfc3339(clock_.now_seconds()));
    clock_.advance_ms(kMinute);
  }
  engine_->drain();
  EXPECT_EQ(fired, (std::vector<std::string>{"2026-03-27T08:00:00Z", "2026-03-28T08:00:00Z",
                                             "2026-03-29T07:00:00Z", "2026-03-30T07:00:00Z"}));
  auto rows = store_->list_executions(id, std::nullopt, 10);
  ASSERT_EQ(rows->size(), 4u);
  for (const auto& r : *rows) {
    EXPECT_EQ(r.outcome, "succeeded");
    EXPECT_FALSE(r.event_id.has_value());
  }
}

// Leadership decided by the test, as a lock held or lost by another replica would.
class SwitchedLeadership : public store::Leadership {
 public:
  bool leading() const override { return leading_.load(); }
  void set(bool leading) { leading_.store(leading); }

 private:
  std::atomic<bool> leading_{false};
};

TEST_F(EngineTest, SchedulesFireOnlyWhileThisReplicaLeadsAndATakeoverDoesNotCatchUp) {
  SwitchedLeadership leadership;
  clock_.set_ms(*parse_rfc3339_ms("2026-03-02T00:00:00Z"));
  start({.queue_max = 10'000,
         .concurrency_max = 3,
         .driver_timeout_ms = 10'000,
         .scheduler_period_ms = 0,
         .leadership = &leadership});
  const std::string id = save(R"({"name":"daily","trigger_group":{"triggers":[{"kind":"schedule",
      "cron":"0 9 * * *","time_zone":"Europe/Berlin"}]},
      "targets":[{"host":"h0","selector":"t0"}],
      "actions":[{"host":"h0","capability":"file","verb":"touch"}]})");
  std::vector<std::string> fired;
  auto run_until = [&](std::string_view until) {
    const std::int64_t end = *parse_rfc3339_ms(until);
    while (clock_.now_ms() < end) {
      if (engine_->tick() > 0) fired.push_back(format_rfc3339(clock_.now_seconds()));
      clock_.advance_ms(kMinute);
    }
  };
  run_until("2026-03-03T12:00:00Z");  // two 08:00Z firings were due: the leader's, not ours
  EXPECT_TRUE(fired.empty());
  leadership.set(true);
  run_until("2026-03-05T00:00:00Z");
  engine_->drain();
  // 03-03 08:00Z passed while following: the old leader fired it, the new one does not again.
  EXPECT_EQ(fired, (std::vector<std::string>{"2026-03-04T08:00:00Z"}));
  auto rows = store_->list_executions(id, std::nullopt, 10);
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->size(), 1u);
}

TEST_F(EngineTest, FaultyDriversGiveErrorRowsAndTheEngineGoesOn) {
  start(
      {.queue_max = 100, .concurrency_max = 2, .driver_timeout_ms = 100, .scheduler_period_ms = 0});
  const std::string id = save(touch_on("h3", "load.tick", "t1"));
  auto send = [&](Mode m) {
    drivers_by_host_[3]->set_mode(m);
    ASSERT_TRUE(submit_and_wait(event("load.tick", "x", json::object{{"n", 1}})).ok());
    engine_->drain();
  };
  send(Mode::kHang);
  send(Mode::kFail);
  send(Mode::kBadAnswer);
  send(Mode::kThrow);
  send(Mode::kNotOk);
  send(Mode::kOk);
  EXPECT_EQ(outcomes(id), (std::vector<std::string>{"timeout", "failed", "failed", "failed",
                                                    "failed", "succeeded"}));
  auto rows = *store_->list_executions(id, std::nullopt, 10);  // newest first
  EXPECT_EQ(rows[5].reason, "no answer within 100 ms");
  EXPECT_EQ(rows[4].reason, "AUTOMATION_DRIVER_FAILED: exit status 3");
  EXPECT_EQ(rows[3].reason, "AUTOMATION_DRIVER_BAD_ANSWER: answer is not JSON");
  EXPECT_EQ(rows[2].reason, "driver threw: boom");
  EXPECT_EQ(rows[1].reason, "file is locked");
  EXPECT_EQ(audit_count("AUTOMATION_FAILED"), 5);
  EXPECT_EQ(calls_.overlaps, 0);  // the hung call held its host until it returned
}

TEST_F(EngineTest, DryRunTranscript) {
  start();
  const std::vector<HostInfo> hosts = registry_.hosts();
  const SpecCheck check = validate_spec(
      json::parse(R"({"name":"dr","trigger_group":{"triggers":[{"kind":"event","event":"x"}]},
        "targets":[{"host":"h0","selector":"label:env=prod"},
                   {"host":"h1","selector":"{{event.subject}}"}],
        "actions":[{"host":"h0","capability":"file","verb":"touch"},
                   {"host":"h1","capability":"file","verb":"touch"}]})"),
      &hosts);
  ASSERT_FALSE(check.has_blocker());
  auto compiled = compile(check.normalized, inventory_->all(), clock_.now_ms());
  ASSERT_TRUE(compiled.ok());
  compiled->id = "au";
  auto t = engine_->dry_run(*compiled, event("x", "t3"), "corr-9");
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_EQ(t->at("severity").as_string(), "info");
  EXPECT_EQ(t->at("correlation_id").as_string(), "corr-9");
  EXPECT_FALSE(t->at("used_inventory").at("h0").at("stale").as_bool());
  const auto& rows = t->at("rows").as_array();
  ASSERT_EQ(rows.size(), 3u);  // t1, t3 (prod) on h0; t3 (the subject) on h1
  EXPECT_EQ(rows[0].at("target").as_string(), "t1");
  EXPECT_EQ(rows[1].at("target").as_string(), "t3");
  EXPECT_EQ(rows[2].at("target").as_string(), "t3");
  EXPECT_EQ(rows[2].at("dry_run").at("plan").as_array()[0].as_string(), "touch t3");
  EXPECT_TRUE(calls_.calls.empty());  // nothing executed

  // No sample event: the subject target matches nothing (warn), and stale inventory warns.
  clock_.advance_ms(60 * kMinute);
  auto t2 = engine_->dry_run(*compiled, std::nullopt, "corr-10");
  ASSERT_TRUE(t2.ok());
  EXPECT_EQ(t2->at("severity").as_string(), "warn");
  const auto& rows2 = t2->at("rows").as_array();
  ASSERT_EQ(rows2.size(), 3u);
  EXPECT_TRUE(rows2[2].at("target").is_null());
  EXPECT_EQ(rows2[2].at("severity").as_string(), "warn");
}

TEST(EngineHelpersTest, SecretsAreMasked) {
  const json::object masked =
      mask_secrets(json::object{{"url", "https://x"},
                                {"api_key", "k"},
                                {"nested", json::object{{"Password", "p"}, {"ok", 1}}},
                                {"list", json::array{json::object{{"token", "t"}}}}});
  EXPECT_EQ(json::serialize(masked),
            R"({"url":"https://x","api_key":"***","nested":{"Password":"***","ok":1},)"
            R"("list":[{"token":"***"}]})");
}

}  // namespace
}  // namespace warden::automation
