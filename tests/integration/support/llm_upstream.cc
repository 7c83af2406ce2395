// Runs the fixture upstream with node (found on PATH) and waits for its address file.
#include "support/llm_upstream.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "support/warden_process.h"

extern char** environ;

namespace warden::testing {

constexpr int kUpstreamStartTimeoutMs = 10000;

std::uint16_t wait_for_addr_file(const std::string& path, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(path);
    std::string line;
    if (in && std::getline(in, line)) {
      const auto colon = line.rfind(':');
      if (colon != std::string::npos) {
        const int port = std::atoi(line.c_str() + colon + 1);
        if (port > 0 && port < 65536) return static_cast<std::uint16_t>(port);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return 0;
}

LlmUpstream::LlmUpstream(std::vector<std::string> args) {
  dir_ = make_temp_dir();
  const std::string addr = dir_ + "/upstream.addr";
  std::vector<std::string> argv_text = {"node", std::string(WARDEN_FIXTURES_DIR) +
                                                    "/llm_upstream.mjs",
                                        "--port", "0", "--addr-file", addr};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_text) argv.push_back(a.data());
  argv.push_back(nullptr);
  if (posix_spawnp(&pid_, "node", nullptr, nullptr, argv.data(), environ) != 0) {
    pid_ = -1;
    error_ = "cannot run node";
    return;
  }
  port_ = wait_for_addr_file(addr, kUpstreamStartTimeoutMs);
  if (port_ == 0) error_ = "the fixture upstream did not start within 10 s";
}

LlmUpstream::~LlmUpstream() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 100 && ::waitpid(pid_, &status, WNOHANG) == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (::waitpid(pid_, &status, WNOHANG) == 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
  }
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

}  // namespace warden::testing
