// fork/exec of node for the fake provider; the child dies with the test (PR_SET_PDEATHSIG).
#include "support/upstream_fixture.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "support/http_client.h"
#include "support/warden_process.h"

namespace warden::testing {

namespace fs = std::filesystem;

namespace {

constexpr int kPollIntervalMs = 10;
constexpr int kStopWaitMs = 5000;

using Clock = std::chrono::steady_clock;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The exit code once the child ends within timeout_ms (128+N when killed by signal N).
std::optional<int> reap(pid_t pid, int timeout_ms) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
      return -1;
    }
    if (r < 0) return -1;
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(kPollIntervalMs));
  }
}

}  // namespace

std::string node_binary() { return WARDEN_NODE_BINARY; }
std::string upstream_fixture_script() { return WARDEN_UPSTREAM_FIXTURE_SCRIPT; }

UpstreamFixture::UpstreamFixture(std::vector<std::string> extra_args) {
  dir_ = make_temp_dir();
  if (dir_.empty()) {
    error_ = "could not make a temp dir";
    return;
  }
  log_path_ = dir_ + "/upstream.log";
  const std::string addr_path = dir_ + "/upstream.addr";
  std::vector<std::string> args = {
      node_binary(), upstream_fixture_script(), "--port", "0", "--addr-file", addr_path};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (log_fd < 0) {
    error_ = "could not open " + log_path_;
    return;
  }
  pid_ = ::fork();
  if (pid_ == 0) {
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::execvp(argv[0], argv.data());
    _exit(127);
  }
  ::close(log_fd);
  if (pid_ < 0) {
    error_ = "fork failed";
    return;
  }
  auto deadline = Clock::now() + std::chrono::milliseconds(kUpstreamStartTimeoutMs);
  while (Clock::now() < deadline) {
    // The fixture renames a complete file into place, so any content is the whole line.
    std::string addr = read_file(addr_path);
    if (std::size_t colon = addr.rfind(':'); colon != std::string::npos && addr.back() == '\n') {
      port_ = static_cast<std::uint16_t>(std::atoi(addr.c_str() + colon + 1));
      if (port_ != 0) return;
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      error_ = "the fixture exited during start-up";
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(kPollIntervalMs));
  }
  error_ = "the fixture did not write its address within " +
           std::to_string(kUpstreamStartTimeoutMs) + " ms";
}

std::optional<int> UpstreamFixture::stop(int timeout_ms) {
  if (pid_ <= 0) return std::nullopt;
  ::kill(pid_, SIGTERM);
  std::optional<int> code = reap(pid_, timeout_ms);
  if (code) pid_ = -1;
  return code;
}

UpstreamFixture::~UpstreamFixture() {
  if (pid_ > 0 && !stop(kStopWaitMs)) {
    ::kill(pid_, SIGKILL);
    reap(pid_, kStopWaitMs);
  }
  if (!dir_.empty()) {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
}

std::string UpstreamFixture::error() const {
  return error_ + " (" + node_binary() + " " + upstream_fixture_script() + ")\n" + log();
}

std::string UpstreamFixture::base_url() const {
  return "http://127.0.0.1:" + std::to_string(port_);
}

std::string UpstreamFixture::log() const { return log_path_.empty() ? "" : read_file(log_path_); }

boost::json::array UpstreamFixture::requests() const {
  HttpClient client(port_);
  Response r = client.request("GET", "/_fixture/requests");
  boost::json::value v = r.json();
  EXPECT_TRUE(r.status == 200 && v.is_array()) << r.describe();
  return v.is_array() ? v.as_array() : boost::json::array();
}

bool UpstreamFixture::reset() const {
  HttpClient client(port_);
  return client.request("POST", "/_fixture/reset").status == 200;
}

int UpstreamFixture::disconnects() const {
  HttpClient client(port_);
  Response r = client.request("GET", "/_fixture/disconnects");
  boost::json::value v = r.json();
  if (r.status != 200 || !v.is_object()) return -1;
  const boost::json::value* count = v.as_object().if_contains("count");
  return count != nullptr && count->is_int64() ? static_cast<int>(count->as_int64()) : -1;
}

}  // namespace warden::testing
