// fork/execve process control for the integration harness. Everything a child needs is built
// before fork() so the child only calls async-signal-safe functions.
#include "warden_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace warden::testing {

namespace fs = std::filesystem;

namespace {

constexpr int kPollIntervalMs = 10;
constexpr int kKillWaitMs = 5000;

using Clock = std::chrono::steady_clock;

// argv/envp storage that outlives fork() in the child.
struct ExecArgs {
  std::vector<std::string> argv_storage;
  std::vector<std::string> env_storage;
  std::vector<char*> argv;
  std::vector<char*> envp;

  ExecArgs(const std::vector<std::string>& args, const EnvOverrides& env) {
    argv_storage.push_back(warden_binary());
    argv_storage.insert(argv_storage.end(), args.begin(), args.end());
    for (char** e = environ; e && *e; ++e) {
      if (std::strncmp(*e, "WARDEN_", 7) != 0) env_storage.emplace_back(*e);
    }
    for (const auto& [name, value] : env) {
      std::erase_if(env_storage,
                    [&](const std::string& kv) { return kv.rfind(name + "=", 0) == 0; });
      if (value) env_storage.push_back(name + "=" + *value);
    }
    for (auto& s : argv_storage) argv.push_back(s.data());
    argv.push_back(nullptr);
    for (auto& s : env_storage) envp.push_back(s.data());
    envp.push_back(nullptr);
  }
};

// Forks and execs; the child gets stdout/stderr on the given fds and dies with the test.
pid_t spawn(ExecArgs& args, int stdout_fd, int stderr_fd) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  int devnull = open("/dev/null", O_RDONLY);
  if (devnull >= 0) dup2(devnull, STDIN_FILENO);
  dup2(stdout_fd, STDOUT_FILENO);
  dup2(stderr_fd, STDERR_FILENO);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  execve(args.argv[0], args.argv.data(), args.envp.data());
  _exit(127);
}

int decode_wait_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// Polls waitpid until the child ends or timeout_ms passes.
std::optional<int> wait_child(pid_t pid, int timeout_ms) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return decode_wait_status(status);
    if (r < 0) return -1;
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(kPollIntervalMs));
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Reads both pipes until EOF on both or the deadline; returns false on timeout.
bool drain_pipes(int out_fd, int err_fd, std::string& out, std::string& err,
                 Clock::time_point deadline) {
  pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  std::string* sinks[2] = {&out, &err};
  int open_count = 2;
  char buf[4096];
  while (open_count > 0) {
    auto left_ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left_ms.count() <= 0) return false;
    int n = poll(fds, 2, static_cast<int>(left_ms.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t got = read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        sinks[i]->append(buf, static_cast<std::size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        fds[i].fd = -1;
        --open_count;
      }
    }
  }
  return true;
}

}  // namespace

std::string warden_binary() { return WARDEN_BINARY; }

std::string make_temp_dir() {
  std::string tmpl = "/tmp/warden-integ-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) return {};
  return tmpl;
}

CliResult run_cli(const std::vector<std::string>& args, const EnvOverrides& env, int timeout_ms) {
  CliResult result;
  ExecArgs exec_args(args, env);
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return result;
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return result;
  }
  pid_t pid = spawn(exec_args, out_pipe[1], err_pipe[1]);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  bool finished = pid > 0 && drain_pipes(out_pipe[0], err_pipe[0], result.stdout_text,
                                         result.stderr_text, deadline);
  ::close(out_pipe[0]);
  ::close(err_pipe[0]);
  if (pid <= 0) return result;
  auto left_ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  std::optional<int> code =
      finished ? wait_child(pid, std::max<int>(left_ms.count(), 100)) : std::nullopt;
  if (!code) {
    kill(pid, SIGKILL);
    wait_child(pid, kKillWaitMs);
    result.stderr_text += "\n[harness] timed out after " + std::to_string(timeout_ms) + " ms";
    return result;
  }
  result.exit_code = *code;
  return result;
}

WardenProcess::WardenProcess(WardenOptions options)
    : serve_flags_(std::move(options.serve_flags)),
      env_(std::move(options.env)),
      data_dir_(std::move(options.data_dir)) {
  const bool fresh = data_dir_.empty();
  if (fresh) data_dir_ = make_temp_dir();
  if (data_dir_.empty()) {
    error_ = "mkdtemp failed";
    return;
  }
  log_path_ = data_dir_ + "/warden-test.log";
  if (!fresh) {
    start_serve();
    return;
  }
  CliResult init = run_cli({"init", "--data-dir", data_dir_},
                           {{"WARDEN_MASTER_PASSWORD", std::string(kTestMasterPassword)}});
  if (init.exit_code != 0) {
    error_ = "warden init exited " + std::to_string(init.exit_code) + ": " + init.output();
    return;
  }
  start_serve();
}

WardenProcess::~WardenProcess() {
  if (pid_ > 0 && !exit_code_) {
    kill(pid_, SIGKILL);
    wait_exit(kKillWaitMs);
  }
  if (!data_dir_.empty() && std::getenv("WARDEN_INTEG_KEEP_DATA") == nullptr) {
    std::error_code ignored;
    fs::remove_all(data_dir_, ignored);
  }
}

std::string WardenProcess::error() const { return error_ + "\n--- daemon log ---\n" + log(); }

bool WardenProcess::start_serve() {
  error_.clear();
  exit_code_.reset();
  port_ = 0;
  const std::string addr_path = data_dir_ + "/warden.addr";
  // A file left by a killed run would point at a dead port.
  std::error_code ignored;
  fs::remove(addr_path, ignored);

  std::vector<std::string> args = {"serve", "--data-dir", data_dir_, "--listen", "127.0.0.1:0"};
  args.insert(args.end(), serve_flags_.begin(), serve_flags_.end());
  ExecArgs exec_args(args, env_);
  int log_fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0) {
    error_ = "cannot open log file";
    return false;
  }
  pid_ = spawn(exec_args, log_fd, log_fd);
  ::close(log_fd);
  if (pid_ <= 0) {
    error_ = "fork failed";
    return false;
  }
  auto deadline = Clock::now() + std::chrono::milliseconds(kStartTimeoutMs);
  while (Clock::now() < deadline) {
    std::string text = read_file(addr_path);
    auto colon = text.rfind(':');
    if (!text.empty() && text.back() == '\n' && colon != std::string::npos) {
      int port = std::atoi(text.c_str() + colon + 1);
      if (port > 0 && port < 65536) {
        port_ = static_cast<std::uint16_t>(port);
        return true;
      }
      error_ = "unparseable warden.addr: '" + text + "'";
      return false;
    }
    if (auto code = wait_exit(0)) {
      error_ = "warden serve exited with " + std::to_string(*code) + " before listening";
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(kPollIntervalMs));
  }
  error_ = "warden.addr did not appear within " + std::to_string(kStartTimeoutMs) + " ms";
  return false;
}

bool WardenProcess::running() { return pid_ > 0 && !wait_exit(0); }

void WardenProcess::sigterm() {
  if (pid_ > 0 && !exit_code_) kill(pid_, SIGTERM);
}

void WardenProcess::kill9() {
  if (pid_ > 0 && !exit_code_) kill(pid_, SIGKILL);
}

std::optional<int> WardenProcess::wait_exit(int timeout_ms) {
  if (exit_code_ || pid_ <= 0) return exit_code_;
  exit_code_ = wait_child(pid_, timeout_ms);
  return exit_code_;
}

bool WardenProcess::restart() {
  if (pid_ > 0 && !wait_exit(0)) {
    kill(pid_, SIGKILL);
    wait_exit(kKillWaitMs);
  }
  return start_serve();
}

std::string WardenProcess::log() const { return read_file(log_path_); }

CliResult WardenProcess::cli(std::vector<std::string> args) const {
  args.push_back("--data-dir");
  args.push_back(data_dir_);
  return run_cli(args, {{"WARDEN_MASTER_PASSWORD", std::string(kTestMasterPassword)}});
}

std::string WardenProcess::database_path() const {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(data_dir_, ec)) {
    const std::string ext = entry.path().extension().string();
    if (entry.is_regular_file() && (ext == ".db" || ext == ".sqlite" || ext == ".sqlite3")) {
      return entry.path().string();
    }
  }
  return {};
}

}  // namespace warden::testing
