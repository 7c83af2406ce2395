#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <atomic>
#include <boost/json/parse.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "automation/driver.h"

namespace warden::automation {
namespace {
namespace json = boost::json;
namespace fs = std::filesystem;

const std::string kTestPlugins = WARDEN_TEST_PLUGINS_DIR;
const std::string kExamplePlugins = WARDEN_EXAMPLE_PLUGINS_DIR;

fs::path temp_dir() {
  std::string tmpl = (fs::temp_directory_path() / "warden-plugin-test-XXXXXX").string();
  return fs::path(::mkdtemp(tmpl.data()));
}

// Processes of a process group that are still running (a killed orphan may linger as a zombie
// until init reaps it; that one has stopped).
int live_members(pid_t group) {
  int n = 0;
  for (const fs::directory_entry& e : fs::directory_iterator("/proc")) {
    std::ifstream in(e.path() / "stat");
    std::string stat;
    if (!std::getline(in, stat)) continue;
    const std::size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 2));
    char state = 0;
    pid_t ppid = 0, pgrp = 0;
    rest >> state >> ppid >> pgrp;
    if (pgrp == group && state != 'Z' && state != 'X') ++n;
  }
  return n;
}

ActionCall call(std::string verb, json::object params) {
  ActionCall c;
  c.host = "files";
  c.capability = "file";
  c.verb = std::move(verb);
  c.params = std::move(params);
  c.correlation_id = "corr-1";
  return c;
}

std::unique_ptr<Driver> load(const std::string& name, std::int64_t timeout_ms = 2'000) {
  Result<std::unique_ptr<Driver>> d = load_plugin(kTestPlugins + "/" + name, {timeout_ms});
  EXPECT_TRUE(d.ok()) << d.status().to_string();
  return d.ok() ? std::move(d).value() : nullptr;
}

class FilesPlugin : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = temp_dir();
    log_ = dir_.string() + ".log";
    ::setenv("WARDEN_FILES_PLUGIN_DIR", dir_.c_str(), 1);
    ::setenv("WARDEN_FILES_PLUGIN_LOG", log_.c_str(), 1);
  }
  void TearDown() override {
    ::unsetenv("WARDEN_FILES_PLUGIN_DIR");
    ::unsetenv("WARDEN_FILES_PLUGIN_LOG");
    fs::remove_all(dir_);
    fs::remove(log_);
  }
  fs::path dir_;
  std::string log_;
};

TEST_F(FilesPlugin, DeclaresItsVerbsFromPluginYaml) {
  DriverRegistry registry;
  ASSERT_TRUE(registry.load_plugins(kExamplePlugins).ok());
  const std::vector<HostInfo> hosts = registry.hosts();
  ASSERT_EQ(hosts.size(), 1u);
  EXPECT_EQ(hosts[0].id, "files");
  EXPECT_EQ(hosts[0].name, "Files in a directory");
  EXPECT_FALSE(hosts[0].builtin);
  EXPECT_EQ(hosts[0].dry_run_refresh_sla_s, 5);
  const VerbInfo* create = hosts[0].find("file", "create");
  ASSERT_NE(create, nullptr);
  EXPECT_TRUE(create->invertible);
  EXPECT_EQ(create->inverse_verb, "delete");
  EXPECT_EQ(create->idempotency_hints, std::vector<std::string>{"name"});
  // YAML scalars typed as JSON: 1 is a number, the quoted pattern a string.
  const json::object& name = create->params_schema.at("properties").at("name").as_object();
  EXPECT_EQ(name.at("minLength"), 1);
  EXPECT_EQ(name.at("pattern"), "^[^/]+$");
  EXPECT_EQ(create->params_schema.at("additionalProperties"), false);
  EXPECT_EQ(hosts[0].find("file", "delete")->inverse_verb, "create");
  ASSERT_NE(registry.find("files"), nullptr);
  EXPECT_EQ(registry.find("nope"), nullptr);
}

TEST_F(FilesPlugin, CreatesListsAndDeletesFiles) {
  DriverRegistry registry;
  ASSERT_TRUE(registry.load_plugins(kExamplePlugins).ok());
  Driver& d = *registry.find("files");

  Result<std::vector<InventoryItem>> empty = d.inventory(false);
  ASSERT_TRUE(empty.ok()) << empty.status().to_string();
  EXPECT_TRUE(empty->empty());

  const json::object create{{"name", "a.txt"}, {"content", "hello"}};
  Result<DryRun> plan = d.dry_run(call("create", create));
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  EXPECT_TRUE(plan->ok);
  EXPECT_EQ(json::value(plan->effects), json::parse(R"([{"create": "a.txt", "bytes": 5}])"));
  EXPECT_FALSE(fs::exists(dir_ / "a.txt"));  // a dry-run changes nothing

  Result<ExecuteResult> done = d.execute(call("create", create));
  ASSERT_TRUE(done.ok()) << done.status().to_string();
  EXPECT_TRUE(done->ok);
  std::ifstream in(dir_ / "a.txt");
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "hello");

  Result<std::vector<InventoryItem>> listed = d.inventory(true);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0], (InventoryItem{"a.txt", "a.txt", "file", {{"size", "5"}}}));

  // Already in the desired state: an info no-op without effects.
  Result<DryRun> again = d.dry_run(call("create", create));
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->ok);
  EXPECT_EQ(again->severity, Severity::kInfo);
  EXPECT_TRUE(again->effects.empty());

  Result<DryRun> bad = d.dry_run(call("create", json::object{{"name", "../x"}}));
  ASSERT_TRUE(bad.ok());
  EXPECT_FALSE(bad->ok);
  EXPECT_EQ(bad->severity, Severity::kError);

  Result<ExecuteResult> removed = d.execute(call("delete", json::object{{"name", "a.txt"}}));
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(json::value(removed->effects), json::parse(R"([{"delete": "a.txt"}])"));
  EXPECT_FALSE(fs::exists(dir_ / "a.txt"));

  // Two executes: start/end pairs, in order, from the same process each.
  std::ifstream log(log_);
  std::vector<std::string> words;
  for (std::string w; log >> w;) words.push_back(w);
  ASSERT_EQ(words.size(), 20u);
  EXPECT_EQ(words[0], "start");
  EXPECT_EQ(words[3], "create");
  EXPECT_EQ(words[4], "a.txt");
  EXPECT_EQ(words[5], "end");
  EXPECT_EQ(words[6], words[1]);  // same pid
  EXPECT_LE(std::stoll(words[2]), std::stoll(words[7]));
  EXPECT_EQ(words[10], "start");
  EXPECT_EQ(words[13], "delete");
  EXPECT_EQ(words[15], "end");
}

std::size_t open_fds() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

TEST_F(FilesPlugin, ConcurrentCallsAllAnswerAndLeakNothing) {
  DriverRegistry registry;
  ASSERT_TRUE(registry.load_plugins(kExamplePlugins).ok());
  registry.add(make_webhook_driver("secret"));
  std::vector<std::string> ids;
  for (const HostInfo& h : registry.hosts()) ids.push_back(h.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"files", "webhook"}));

  Driver& d = *registry.find("files");
  const std::size_t fds_before = open_fds();
  constexpr int kThreads = 8, kCallsPerThread = 10;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCallsPerThread; ++i) {
        const std::string name = "f" + std::to_string(t) + "-" + std::to_string(i);
        Result<ExecuteResult> r = d.execute(call("create", json::object{{"name", name}}));
        if (r.ok() && r->ok) ok.fetch_add(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok.load(), kThreads * kCallsPerThread);
  Result<std::vector<InventoryItem>> listed = d.inventory(false);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), static_cast<std::size_t>(kThreads * kCallsPerThread));
  EXPECT_EQ(open_fds(), fds_before);
}

TEST(PluginFailures, AHangingPluginIsKilledAtItsTimeout) {
  std::unique_ptr<Driver> d = load("hang", 500);
  ASSERT_NE(d, nullptr);
  const fs::path pid_file = temp_dir() / "pid";
  ::setenv("WARDEN_HANG_PID_FILE", pid_file.c_str(), 1);
  const auto start = std::chrono::steady_clock::now();
  Result<DryRun> r = d->dry_run(call("poke", {}));
  const auto elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - start)
                              .count();
  EXPECT_EQ(r.status().code(), ErrorCode::AUTOMATION_DRIVER_TIMEOUT);
  EXPECT_GE(elapsed_ms, 500);
  EXPECT_LT(elapsed_ms, 1'500);  // killed within a second of the bound
  ::unsetenv("WARDEN_HANG_PID_FILE");
  // The whole process group died, the script's `sleep` child with it.
  pid_t group = 0;
  std::ifstream(pid_file) >> group;
  ASSERT_GT(group, 0);
  // SIGKILL reaches the orphaned child when it is next scheduled: allow it a moment.
  for (int i = 0; i < 100 && live_members(group) > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(live_members(group), 0);
  fs::remove_all(pid_file.parent_path());
  // The process group is gone: a second call behaves the same and nothing accumulates.
  EXPECT_EQ(d->inventory(false).status().code(), ErrorCode::AUTOMATION_DRIVER_TIMEOUT);
}

TEST(PluginFailures, CrashesAndFailuresAreDriverFailed) {
  std::unique_ptr<Driver> crash = load("crash");
  ASSERT_NE(crash, nullptr);
  Status s = crash->execute(call("poke", {})).status();
  EXPECT_EQ(s.code(), ErrorCode::AUTOMATION_DRIVER_FAILED);
  EXPECT_EQ(s.details().at("signal"), 6);
  EXPECT_NE(s.message().find("about to crash"), std::string::npos) << s.message();

  std::unique_ptr<Driver> fail = load("fail");
  ASSERT_NE(fail, nullptr);
  s = fail->dry_run(call("poke", {})).status();
  EXPECT_EQ(s.code(), ErrorCode::AUTOMATION_DRIVER_FAILED);
  EXPECT_EQ(s.details().at("exit_status"), 3);
  EXPECT_NE(s.message().find("the thing is broken"), std::string::npos) << s.message();
}

TEST(PluginFailures, GarbageAndWrongShapesAreBadAnswers) {
  std::unique_ptr<Driver> garbage = load("garbage");
  ASSERT_NE(garbage, nullptr);
  EXPECT_EQ(garbage->dry_run(call("poke", {})).status().code(),
            ErrorCode::AUTOMATION_DRIVER_BAD_ANSWER);
  EXPECT_EQ(garbage->inventory(false).status().code(), ErrorCode::AUTOMATION_DRIVER_BAD_ANSWER);

  std::unique_ptr<Driver> wrong = load("wrong-shape");
  ASSERT_NE(wrong, nullptr);
  EXPECT_EQ(wrong->dry_run(call("poke", {})).status().code(),
            ErrorCode::AUTOMATION_DRIVER_BAD_ANSWER);
  EXPECT_EQ(wrong->execute(call("poke", {})).status().code(),
            ErrorCode::AUTOMATION_DRIVER_BAD_ANSWER);
  EXPECT_EQ(wrong->inventory(true).status().code(), ErrorCode::AUTOMATION_DRIVER_BAD_ANSWER);

  std::unique_ptr<Driver> flood = load("flood", 5'000);
  ASSERT_NE(flood, nullptr);
  Status s = flood->dry_run(call("poke", {})).status();
  EXPECT_EQ(s.code(), ErrorCode::AUTOMATION_DRIVER_BAD_ANSWER);
  EXPECT_NE(s.message().find("longer than"), std::string::npos) << s.message();
}

TEST(PluginFailures, AChildThatIgnoresItsInputDoesNotHurtTheCaller) {
  std::unique_ptr<Driver> d = load("no-stdin");
  ASSERT_NE(d, nullptr);
  // Far more than a socket buffer: the write fails once the child exits (EPIPE, no SIGPIPE).
  ActionCall c = call("poke", json::object{{"blob", std::string(4u << 20, 'x')}});
  Result<ExecuteResult> r = d->execute(c);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->reason, "ignored the request");
}

TEST(PluginManifest, ReportsEveryProblemWithItsPointer) {
  const fs::path dir = temp_dir();
  std::ofstream(dir / "plugin.yaml") << R"(
name: Bad Name
executable: missing.sh
colour: blue
defaults: {dry_run_refresh_sla_s: 0}
capabilities:
  - name: thing
    verbs:
      - name: make
        invertible: true
      - name: poke
        inverse: make
)";
  Result<std::unique_ptr<Driver>> d = load_plugin(dir.string());
  ASSERT_EQ(d.status().code(), ErrorCode::AUTOMATION_INVALID);
  std::vector<std::string> pointers;
  for (const json::value& i : d.status().details().at("issues").as_array()) {
    pointers.emplace_back(i.at("pointer").as_string());
  }
  EXPECT_EQ(pointers, (std::vector<std::string>{
                          "/colour", "/name", "/executable", "/defaults/dry_run_refresh_sla_s",
                          "/capabilities/0/verbs/0/inverse", "/capabilities/0/verbs/1/inverse"}));

  std::ofstream(dir / "plugin.yaml") << "name: [unclosed";
  EXPECT_EQ(load_plugin(dir.string()).status().code(), ErrorCode::AUTOMATION_INVALID);
  fs::remove_all(dir);

  DriverRegistry registry;
  EXPECT_EQ(registry.load_plugins("/nonexistent/plugins").code(), ErrorCode::AUTOMATION_INVALID);
}

}  // namespace
}  // namespace warden::automation
