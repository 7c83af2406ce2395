// Runs the real `warden` binary for integration tests: a fresh temp data dir, `warden init`,
// then `warden serve` on an ephemeral loopback port, with bounded waits and a log to show
// on failure. Also runs one-shot CLI commands and captures their output.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace warden::testing {

inline constexpr const char* kTestMasterPassword = "integ-Master-Pw-7f3c9a";
inline constexpr int kStartTimeoutMs = 10000;
inline constexpr int kCliTimeoutMs = 30000;

// Path of the warden binary under test (compiled in by CMake).
std::string warden_binary();

struct CliResult {
  int exit_code = -1;  // -1 when it could not run or timed out; 128+N when killed by signal N
  std::string stdout_text;
  std::string stderr_text;
  std::string output() const { return stdout_text + stderr_text; }
};

// Environment changes for a child: (name, value) sets; (name, nullopt) removes.
using EnvOverrides = std::vector<std::pair<std::string, std::optional<std::string>>>;

// Runs `warden <args...>` to completion (bounded by timeout_ms, then SIGKILL). The child
// inherits the environment minus WARDEN_* variables, plus `env`.
CliResult run_cli(const std::vector<std::string>& args, const EnvOverrides& env = {},
                  int timeout_ms = kCliTimeoutMs);

// Makes a fresh directory under /tmp; "" on failure.
std::string make_temp_dir();

struct WardenOptions {
  std::vector<std::string> serve_flags;  // extra `warden serve` flags
  // An initialized data dir to serve (it is removed afterwards); "" for a fresh temp dir
  // initialized with WARDEN_MASTER_PASSWORD=kTestMasterPassword.
  std::string data_dir;
  EnvOverrides env = {};  // for `warden serve`
};

// One daemon on one data dir. Not thread-safe; owned by the test's main thread.
class WardenProcess {
 public:
  // Prepares the data dir and starts `warden serve --data-dir D --listen 127.0.0.1:0 ...`,
  // waiting until D/warden.addr names the port. Check started() before using it.
  explicit WardenProcess(WardenOptions options = {});
  ~WardenProcess();
  WardenProcess(const WardenProcess&) = delete;
  WardenProcess& operator=(const WardenProcess&) = delete;

  bool started() const { return error_.empty() && pid_ > 0; }
  // Why start-up failed, with the daemon log appended.
  std::string error() const;

  std::uint16_t port() const { return port_; }
  const std::string& data_dir() const { return data_dir_; }
  pid_t pid() const { return pid_; }
  bool running();

  void sigterm();
  void kill9();
  // The exit code once the process ends within timeout_ms (128+N when killed by signal N).
  std::optional<int> wait_exit(int timeout_ms);
  // Starts `warden serve` again on the same data dir (the previous process must have ended;
  // it is killed first otherwise). Returns started().
  bool restart();

  // Everything the daemon wrote to stdout/stderr (all runs on this data dir).
  std::string log() const;
  // `warden <args...> --data-dir D`.
  CliResult cli(std::vector<std::string> args) const;
  // Path of the SQLite database file in the data dir ("" when none found).
  std::string database_path() const;

 private:
  bool start_serve();

  std::vector<std::string> serve_flags_;
  EnvOverrides env_;
  std::string data_dir_;
  std::string log_path_;
  std::string error_;
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::uint16_t port_ = 0;
};

}  // namespace warden::testing
