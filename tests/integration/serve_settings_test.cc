// `warden serve` settings: the TOML file gets the flags' checks (a value out of range or of the
// wrong kind is a usage error naming the key), and the durability setting reaches the store
// from the flag and from the file, the flag winning.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "support/fixture.h"

namespace warden::testing {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  std::string path = make_temp_dir();
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

std::string write_config(const std::string& dir, const std::string& text) {
  const std::string path = dir + "/warden.toml";
  std::ofstream(path, std::ios::trunc) << text;
  return path;
}

// Each bad value is refused before anything starts: exit 2, and the message names the file,
// the key and what is allowed.
TEST(ServeSettings, OutOfRangeConfigValuesAreUsageErrorsNamingTheKey) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"threads = -1", "key 'threads' must be between 0 and 256, got -1"},
      {"threads = 100000", "key 'threads' must be between 0 and 256, got 100000"},
      {"batch_size_max = 0", "key 'batch_size_max' must be between 1 and 100000, got 0"},
      {"body_bytes_max = -1", "key 'body_bytes_max' must be between 1 and 1073741824, got -1"},
      {"body_bytes_max = 0", "key 'body_bytes_max' must be between 1 and 1073741824, got 0"},
      {"request_timeout_ms = 0", "key 'request_timeout_ms' must be between 10 and 3600000, got 0"},
      {"auth_failures_max = 0", "key 'auth_failures_max' must be between 1 and 1000000, got 0"},
      {"reservation_ttl_seconds = 0",
       "key 'reservation_ttl_seconds' must be between 1 and 2592000, got 0"},
      {"batch_wait_us = 100001", "key 'batch_wait_us' must be between 0 and 100000, got 100001"},
      {"durability = \"fast\"", "key 'durability' must be one of full, normal, got 'fast'"},
      {"log_level = \"loud\"", "key 'log_level' must be one of debug, info, warn, error, got 'loud'"},
      {"threads = \"4\"", "key 'threads' must be an integer"},
      {"threads = 2.5", "key 'threads' must be an integer"},
      {"durability = 1", "key 'durability' must be a string"},
      {"automation_concurrency_max = 0",
       "key 'automation_concurrency_max' must be between 1 and 256, got 0"},
      {"automation_plugins_dir = 3", "key 'automation_plugins_dir' must be a string"},
      {"[gateway]\nconnect_timeout_ms = 0",
       "key 'gateway.connect_timeout_ms' must be between 10 and 3600000, got 0"},
      {"[gateway]\nlisten = 8788", "key 'gateway.listen' must be a string"},
      {"[gateway]\nnope = 1", "unknown key 'gateway.nope'"},
      {"gateway_threads = 0", "key 'gateway_threads' must be between 1 and 256, got 0"},
      {"[store]\nread_connections = 0", "key 'store.read_connections' must be between 1 and 64, got 0"},
      {"[store]\nurl = 5", "key 'store.url' must be a string"},
      {"[store]\npassword = \"x\"", "unknown key 'store.password'"},
      {"[retention]\nbatch_rows = 0", "key 'retention.batch_rows' must be between 1 and 100000, got 0"},
      {"[retention]\ninterval_seconds = 0",
       "key 'retention.interval_seconds' must be between 1 and 86400, got 0"},
      {"[retention]\ndecisions = 30", "key 'retention.decisions' must be a string"},
      {"[retention]\nnope = \"1d\"", "unknown key 'retention.nope'"},
  };
  TempDir dir;
  ASSERT_FALSE(dir.path.empty());
  for (const auto& [line, message] : cases) {
    const std::string config = write_config(dir.path, line + "\n");
    CliResult r = run_cli({"serve", "--data-dir", dir.path, "--listen", "127.0.0.1:0", "--config",
                           config},
                          {}, 10000);
    EXPECT_EQ(r.exit_code, 2) << line << ": " << r.output();
    EXPECT_NE(r.output().find(config + ": " + message), std::string::npos)
        << line << ": " << r.output();
    EXPECT_FALSE(fs::exists(dir.path + "/warden.addr")) << line;
  }
}

// Cluster mode's store: a URL that carries a password is refused without echoing it, and so
// is one that is not PostgreSQL's, before anything is opened.
TEST(ServeSettings, AStoreUrlWithAPasswordOrAnotherSchemeIsAUsageError) {
  TempDir dir;
  ASSERT_FALSE(dir.path.empty());
  const std::string secret = "s3cret-Pw-in-url";
  for (const std::string& url : {"postgres://warden:" + secret + "@127.0.0.1:5432/warden",
                                 "postgresql://warden@127.0.0.1/warden?password=" + secret,
                                 std::string("mysql://warden@127.0.0.1/warden")}) {
    CliResult r = run_cli({"serve", "--data-dir", dir.path, "--listen", "127.0.0.1:0", "--store",
                           url},
                          {}, 10000);
    EXPECT_EQ(r.exit_code, 2) << url << ": " << r.output();
    EXPECT_EQ(r.output().find(secret), std::string::npos) << "the password was echoed";
    EXPECT_NE(r.output().find("store url must"), std::string::npos) << r.output();
  }
  // A PostgreSQL URL without a password anywhere: refused, naming where it comes from.
  CliResult none = run_cli({"serve", "--data-dir", dir.path, "--listen", "127.0.0.1:0", "--store",
                            "postgres://warden@127.0.0.1:1/warden"},
                           {}, 10000);
  EXPECT_EQ(none.exit_code, 2) << none.output();
  EXPECT_NE(none.output().find("WARDEN_STORE_PASSWORD"), std::string::npos) << none.output();
}

// A retention horizon is whole days or hours, at least a day, or off; from the file and from
// flags alike. Nothing starts.
TEST(ServeSettings, RetentionHorizonsAreDaysHoursOrOff) {
  TempDir dir;
  ASSERT_FALSE(dir.path.empty());
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--config", write_config(dir.path, "[retention]\ndecisions = \"12h\"\n")},
       "retention.decisions must be a number of days or hours (\"30d\", \"36h\") or \"off\", "
       "got '12h' (at least 1d"},
      {{"--retention-audit", "5x"}, "retention.audit must be a number of days or hours"},
      {{"--retention-decisions", "-1d"}, "got '-1d'"},
  };
  for (const auto& [flags, message] : cases) {
    std::vector<std::string> args = {"serve", "--data-dir", dir.path, "--listen", "127.0.0.1:0"};
    args.insert(args.end(), flags.begin(), flags.end());
    CliResult r = run_cli(args, {}, 10000);
    EXPECT_EQ(r.exit_code, 2) << r.output();
    EXPECT_NE(r.output().find(message), std::string::npos) << r.output();
    EXPECT_FALSE(fs::exists(dir.path + "/warden.addr"));
  }
}

// Cluster mode archives nothing: a retention horizon set with a PostgreSQL store is refused
// before anything is opened, not ignored ("off" is accepted).
TEST(ServeSettings, RetentionWithAPostgresStoreIsRefused) {
  TempDir dir;
  ASSERT_FALSE(dir.path.empty());
  const std::string url = "postgres://warden@127.0.0.1:1/warden";
  const EnvOverrides env = {{"WARDEN_STORE_PASSWORD", "pw-not-used"}};
  for (const std::vector<std::string>& flags :
       {std::vector<std::string>{"--retention-decisions", "30d"},
        std::vector<std::string>{"--config",
                                 write_config(dir.path, "[retention]\naudit = \"90d\"\n")}}) {
    std::vector<std::string> args = {"serve",   "--data-dir", dir.path, "--listen",
                                     "127.0.0.1:0", "--store", url};
    args.insert(args.end(), flags.begin(), flags.end());
    CliResult r = run_cli(args, env, 10000);
    EXPECT_EQ(r.exit_code, 2) << r.output();
    EXPECT_NE(r.output().find("not supported with a PostgreSQL store (cluster mode)"),
              std::string::npos)
        << r.output();
  }
  // Explicitly off gets past the retention check to the store (which is not there: exit 1).
  CliResult off = run_cli({"serve", "--data-dir", dir.path, "--listen", "127.0.0.1:0", "--store",
                           url, "--retention-decisions", "off", "--retention-audit", "off"},
                          env, 10000);
  EXPECT_EQ(off.exit_code, 1) << off.output();
  EXPECT_EQ(off.output().find("not supported with a PostgreSQL store"), std::string::npos)
      << off.output();
}

// A bad value in the file is refused even where a flag overrides it.
// The gateway's settings come from a [gateway] table (keys without their prefix) as well as
// from flags: its listener starts and writes DATA_DIR/gateway.addr.
TEST(ServeSettings, TheGatewayTableStartsTheGatewayListener) {
  TempDir config_dir;
  ASSERT_FALSE(config_dir.path.empty());
  const std::string config = write_config(
      config_dir.path, "[gateway]\nlisten = \"127.0.0.1:0\"\nthreads = 1\nidle_timeout_ms = 500\n");
  WardenProcess warden(WardenOptions{{"--config", config}, ""});
  ASSERT_TRUE(warden.started()) << warden.error();
  std::string addr;
  for (int i = 0; i < 100 && addr.empty(); ++i) {
    std::ifstream in(warden.data_dir() + "/gateway.addr");
    std::getline(in, addr);
    if (addr.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_FALSE(addr.empty()) << warden.log();
  const auto port = static_cast<std::uint16_t>(std::stoi(addr.substr(addr.rfind(':') + 1)));
  HttpClient gateway(port);
  Response health = gateway.request("GET", "/healthz");
  EXPECT_EQ(health.status, 200) << health.describe();
  EXPECT_EQ(health.body, R"({"status":"ok"})");
  Response no_key = gateway.request("POST", "/v1/chat/completions", "{}");
  EXPECT_EQ(no_key.status, 401) << no_key.describe();
}

TEST(ServeSettings, ABadConfigValueIsRefusedEvenWhenAFlagOverridesIt) {
  TempDir dir;
  const std::string config = write_config(dir.path, "batch_size_max = 0\n");
  CliResult r = run_cli({"serve", "--data-dir", dir.path, "--listen", "127.0.0.1:0", "--config",
                         config, "--batch-size-max", "64"},
                        {}, 10000);
  EXPECT_EQ(r.exit_code, 2) << r.output();
  EXPECT_NE(r.output().find("key 'batch_size_max' must be between 1 and 100000, got 0"),
            std::string::npos)
      << r.output();
}

// The same values as flags get the same verdict (CLI11's message names the flag).
TEST(ServeSettings, OutOfRangeFlagsAreUsageErrors) {
  TempDir dir;
  const std::vector<std::vector<std::string>> cases = {
      {"--threads", "-1"},         {"--batch-size-max", "0"}, {"--body-bytes-max", "-1"},
      {"--durability", "fast"},    {"--request-timeout-ms", "0"}};
  for (const auto& flag : cases) {
    std::vector<std::string> args = {"serve", "--data-dir", dir.path, "--listen", "127.0.0.1:0"};
    args.insert(args.end(), flag.begin(), flag.end());
    CliResult r = run_cli(args, {}, 10000);
    EXPECT_EQ(r.exit_code, 2) << flag[0] << ": " << r.output();
    EXPECT_NE(r.output().find(flag[0] + ": "), std::string::npos) << r.output();
  }
}

// Waits (the log is flushed once a second) for the "store opened" line and returns it.
std::string store_opened_line(WardenProcess& w) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (;;) {
    const std::string log = w.log();
    const auto at = log.find("\"msg\":\"store opened\"");
    if (at != std::string::npos) {
      const auto begin = log.rfind('\n', at);
      const auto end = log.find('\n', at);
      return log.substr(begin == std::string::npos ? 0 : begin + 1,
                        end == std::string::npos ? std::string::npos : end - begin - 1);
    }
    if (std::chrono::steady_clock::now() > deadline) return "";
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

TEST(ServeSettings, DurabilityDefaultsToFullAndComesFromTheFlagOrTheFile) {
  TempDir config_dir;
  const std::string normal_file = write_config(config_dir.path, "durability = \"normal\"\n");
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{}, "full"},
      {{"--durability", "normal"}, "normal"},
      {{"--config", normal_file}, "normal"},
      {{"--config", normal_file, "--durability", "full"}, "full"},  // the flag wins
  };
  for (const auto& [flags, expected] : cases) {
    WardenProcess w(WardenOptions{flags, ""});
    ASSERT_TRUE(w.started()) << w.error();
    const std::string line = store_opened_line(w);
    EXPECT_NE(line.find("\"durability\":\"" + expected + "\""), std::string::npos)
        << (flags.empty() ? "(defaults)" : flags.back()) << ": " << line << "\n"
        << w.log();
  }
}

}  // namespace
}  // namespace warden::testing
