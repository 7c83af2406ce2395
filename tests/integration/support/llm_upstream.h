// The fake LLM provider of tests/fixtures/llm_upstream.mjs, run by node on a free loopback
// port for the life of the object.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace warden::testing {

class LlmUpstream {
 public:
  // Extra arguments for the script (e.g. "--tls-cert", path).
  explicit LlmUpstream(std::vector<std::string> args = {});
  ~LlmUpstream();
  LlmUpstream(const LlmUpstream&) = delete;
  LlmUpstream& operator=(const LlmUpstream&) = delete;

  bool started() const { return port_ != 0; }
  std::string error() const { return error_; }
  std::uint16_t port() const { return port_; }

 private:
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  std::string dir_;
  std::string error_;
};

// Reads HOST:PORT from a file written once a server listens; 0 when it does not appear within
// timeout_ms.
std::uint16_t wait_for_addr_file(const std::string& path, int timeout_ms);

}  // namespace warden::testing
