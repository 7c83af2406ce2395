// The engine against real plugin processes: four copies of the example "files" plugin under
// 1,000 events from 16 threads (its start/end log shows no overlap per host and the global cap
// held; every event's file exists), and the misbehaving test plugins (hang, crash, garbage, wrong
// shape) giving error rows while the engine goes on.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/json/parse.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "automation/engine.h"
#include "automation/spec.h"
#include "core/json.h"
#include "store/sqlite/sqlite_store.h"

namespace warden::automation {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr int kHosts = 4;
constexpr std::size_t kCap = 3;

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct LogLine {
  bool start = false;
  long pid = 0;
  long long us = 0;
  int host = 0;
};

class EnginePluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("engine_plugin_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "plugins");
    auto opened = store::SqliteStore::open(
        (dir_ / "w.db").string(),
        {.create_if_missing = true, .clock = &clock_, .durability = store::Durability::kNormal});
    ASSERT_TRUE(opened.ok()) << opened.status().to_string();
    store_ = std::move(*opened);
    writer_ = std::make_unique<store::BatchWriter>(*store_, store::BatchOptions{});
  }
  void TearDown() override {
    if (engine_) engine_->stop();
    engine_.reset();
    writer_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }

  // plugins/files<h>: the example plugin under another name, its own data dir and log.
  void make_files_hosts() {
    const fs::path example = fs::path(WARDEN_EXAMPLE_PLUGINS_DIR) / "files";
    std::string yaml = read_file(example / "plugin.yaml");
    ASSERT_NE(yaml.find("name: files\n"), std::string::npos);
    ASSERT_NE(yaml.find("  dir: data\n"), std::string::npos);
    for (int h = 0; h < kHosts; ++h) {
      const fs::path folder = dir_ / "plugins" / fmt::format("files{}", h);
      fs::create_directories(folder / "data");
      fs::copy_file(example / "files-plugin", folder / "files-plugin");
      std::string mine = yaml;
      mine.replace(mine.find("name: files\n"), 12, fmt::format("name: files{}\n", h));
      mine.replace(
          mine.find("  dir: data\n"), 12,
          fmt::format("  dir: data\n  log: {}\n", (dir_ / fmt::format("calls{}.log", h)).string()));
      std::ofstream(folder / "plugin.yaml") << mine;
      std::ofstream(folder / "data" / "anchor") << "a";
    }
  }

  void start(Status loaded) {
    ASSERT_TRUE(loaded.ok()) << loaded.to_string();
    inventory_ = std::make_unique<Inventory>(registry_, clock_);
    for (const HostInfo& h : registry_.hosts()) (void)inventory_->refresh(h.id, true);
    engine_ =
        std::make_unique<AutomationEngine>(*store_, *writer_, registry_, *inventory_, clock_, ids_,
                                           EngineOptions{.queue_max = 10'000,
                                                         .concurrency_max = kCap,
                                                         .driver_timeout_ms = 10'000,
                                                         .scheduler_period_ms = 0});
    ASSERT_TRUE(engine_->start().ok());
  }

  std::string save(const std::string& spec_text) {
    const std::vector<HostInfo> hosts = registry_.hosts();
    const SpecCheck check = validate_spec(json::parse(spec_text), &hosts, validate_params);
    EXPECT_FALSE(check.has_error()) << policy::issues_to_json(check.issues);
    auto compiled = compile(check.normalized, inventory_->all(), clock_.now_ms());
    EXPECT_TRUE(compiled.ok()) << compiled.status().to_string();
    store::AutomationRow row;
    row.id = ids_.next();
    row.name = "plugin test";
    row.spec = canonical_json(check.normalized);
    row.ir = canonical_json(ir_json(*compiled));
    row.hash = check.hash;
    row.enabled = true;
    EXPECT_TRUE(writer_->run([row](store::WriteTxn& t) { return t.insert_automation(row); }).ok());
    EXPECT_TRUE(engine_->reload().ok());
    return row.id;
  }

  Status submit_and_wait(Event e) {
    std::promise<Status> p;
    auto f = p.get_future();
    engine_->submit(std::move(e), [&p](Status s) { p.set_value(std::move(s)); });
    return f.get();
  }

  fs::path dir_;
  SystemClock clock_;  // real processes, real time
  IdGenerator ids_{clock_};
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<store::BatchWriter> writer_;
  DriverRegistry registry_;
  std::unique_ptr<Inventory> inventory_;
  std::unique_ptr<AutomationEngine> engine_;
};

TEST_F(EnginePluginTest, ThousandEventsFromSixteenThreadsOnTheExamplePlugin) {
  make_files_hosts();
  start(registry_.load_plugins((dir_ / "plugins").string()));
  for (int h = 0; h < kHosts; ++h) {
    save(fmt::format(
        R"({{"name":"create on files{0}","trigger_group":{{"triggers":[{{"kind":"event",
            "event":"load.tick"}}]}},"conditions":["event.attributes.host == 'files{0}'"],
            "targets":[{{"host":"files{0}","selector":"anchor"}}],
            "actions":[{{"host":"files{0}","capability":"file","verb":"create",
              "params":{{"name":"f{{{{event.attributes.n}}}}","content":"x"}}}}]}})",
        h));
  }
  constexpr int kThreads = 16;
  constexpr int kEvents = 1000;
  std::atomic<int> next{0};
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = next++; i < kEvents; i = next++) {
        Status s = submit_and_wait(make_warden_event(
            "load.tick", "", json::object{{"n", i}, {"host", fmt::format("files{}", i % kHosts)}},
            clock_, ids_));
        if (!s.ok()) ++refused;
      }
    });
  }
  for (auto& th : threads) th.join();
  engine_->drain();
  EXPECT_EQ(refused.load(), 0);

  std::vector<LogLine> all;
  for (int h = 0; h < kHosts; ++h) {
    std::ifstream in(dir_ / fmt::format("calls{}.log", h));
    std::string what, verb, name;
    LogLine l;
    bool running = false;
    int pairs = 0;
    while (in >> what >> l.pid >> l.us >> verb >> name) {
      l.start = what == "start";
      l.host = h;
      // One host's calls alternate start/end of the same process: never two at once.
      EXPECT_NE(l.start, running) << "host files" << h << " line " << all.size();
      if (!l.start) {
        EXPECT_EQ(l.pid, all.back().pid) << "host files" << h;
        ++pairs;
      }
      running = l.start;
      all.push_back(l);
    }
    EXPECT_EQ(pairs, kEvents / kHosts) << "host files" << h;
  }
  ASSERT_EQ(all.size(), static_cast<std::size_t>(2 * kEvents));
  // Across hosts, by time: never more than the cap running (an end sorts before a start at
  // the same microsecond, as the engine starts the next call only after the end).
  std::stable_sort(all.begin(), all.end(), [](const LogLine& a, const LogLine& b) {
    return a.us != b.us ? a.us < b.us : (!a.start && b.start);
  });
  int running = 0;
  int running_max = 0;
  for (const LogLine& l : all) {
    running += l.start ? 1 : -1;
    running_max = std::max(running_max, running);
  }
  EXPECT_LE(running_max, static_cast<int>(kCap));
  EXPECT_GE(running_max, 2);
  // Nothing lost: every event's file is in its host's directory.
  for (int i = 0; i < kEvents; ++i) {
    EXPECT_TRUE(fs::exists(dir_ / "plugins" / fmt::format("files{}", i % kHosts) / "data" /
                           fmt::format("f{}", i)))
        << i;
  }
  store::AuditFilter f;
  f.event_type = "AUTOMATION_EXECUTED";
  f.limit = 10'000;
  EXPECT_EQ(store_->list_audit(f)->size(), static_cast<std::size_t>(kEvents));
}

TEST_F(EnginePluginTest, MisbehavingPluginsGiveErrorRowsAndTheEngineGoesOn) {
  make_files_hosts();
  for (const char* name : {"hang", "crash", "garbage", "wrong-shape"}) {
    fs::copy(fs::path(WARDEN_TEST_PLUGINS_DIR) / name, dir_ / "plugins" / name,
             fs::copy_options::recursive);
  }
  start(registry_.load_plugins((dir_ / "plugins").string(), PluginOptions{.timeout_ms = 300}));
  std::map<std::string, std::string> ids;
  for (const char* name : {"hang", "crash", "garbage", "wrong-shape"}) {
    std::string kind = fmt::format("poke.{}", name);
    std::replace(kind.begin(), kind.end(), '-', '_');
    // The plugin's action has no target of its own host: it runs once per firing.
    ids[name] = save(fmt::format(
        R"({{"name":"poke {0}","trigger_group":{{"triggers":[{{"kind":"event","event":"{1}"}}]}},
            "targets":[{{"host":"files0","selector":"anchor"}}],
            "actions":[{{"host":"{0}","capability":"thing","verb":"poke"}}]}})",
        name, kind));
    ASSERT_TRUE(submit_and_wait(make_warden_event(kind, "", {}, clock_, ids_)).ok());
  }
  const std::string good = save(
      R"({"name":"still fine","trigger_group":{"triggers":[{"kind":"event","event":"after"}]},
          "targets":[{"host":"files0","selector":"anchor"}],
          "actions":[{"host":"files0","capability":"file","verb":"create",
                      "params":{"name":"after","content":"y"}}]})");
  ASSERT_TRUE(submit_and_wait(make_warden_event("after", "", {}, clock_, ids_)).ok());
  engine_->drain();
  auto only = [&](const std::string& id) {
    auto rows = store_->list_executions(id, std::nullopt, 10);
    EXPECT_EQ(rows->size(), 1u) << id;
    return rows->empty() ? store::AutomationExecutionRow{} : rows->front();
  };
  EXPECT_EQ(only(ids["hang"]).outcome, "timeout");
  const auto crash = only(ids["crash"]);
  EXPECT_EQ(crash.outcome, "failed");
  EXPECT_TRUE(crash.reason.starts_with("AUTOMATION_DRIVER_FAILED")) << crash.reason;
  for (const char* bad : {"garbage", "wrong-shape"}) {
    const auto r = only(ids[bad]);
    EXPECT_EQ(r.outcome, "failed") << bad;
    EXPECT_TRUE(r.reason.starts_with("AUTOMATION_DRIVER_BAD_ANSWER")) << bad << ": " << r.reason;
  }
  EXPECT_EQ(only(good).outcome, "succeeded");
  EXPECT_EQ(read_file(dir_ / "plugins" / "files0" / "data" / "after"), "y");
}

}  // namespace
}  // namespace warden::automation
