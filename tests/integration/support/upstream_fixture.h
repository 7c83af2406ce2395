// Runs the fake LLM provider (tests/fixtures/llm_upstream.mjs) with node on an ephemeral
// loopback port for a test, and reads its request log (tests/fixtures/README.md).
#pragma once

#include <sys/types.h>

#include <boost/json/array.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace warden::testing {

inline constexpr int kUpstreamStartTimeoutMs = 10000;

// Paths compiled in by CMake.
std::string node_binary();
std::string upstream_fixture_script();

class UpstreamFixture {
 public:
  // Starts `node llm_upstream.mjs --port 0 --addr-file F` and waits until F names the port.
  // Check started() before using it.
  // `extra_args` go to the script (e.g. --tls-cert PEM --tls-key PEM for HTTPS).
  explicit UpstreamFixture(std::vector<std::string> extra_args = {});
  // SIGTERM, then SIGKILL when it does not end in time.
  ~UpstreamFixture();
  UpstreamFixture(const UpstreamFixture&) = delete;
  UpstreamFixture& operator=(const UpstreamFixture&) = delete;

  bool started() const { return error_.empty() && pid_ > 0 && port_ != 0; }
  // Why start-up failed, with the fixture's output appended.
  std::string error() const;

  std::uint16_t port() const { return port_; }
  // "http://127.0.0.1:PORT", a model deployment's upstream base URL.
  std::string base_url() const;
  pid_t pid() const { return pid_; }

  // GET /_fixture/requests: [{method, path, headers, body}] in arrival order; an empty array
  // after a failure (also recorded as a test failure).
  boost::json::array requests() const;
  // POST /_fixture/reset: clears the request log and the disconnect count.
  bool reset() const;
  // GET /_fixture/disconnects: responses whose client closed before they ended; -1 on failure.
  int disconnects() const;

  // SIGTERM and wait: the exit code (128+N when killed by signal N), nullopt when it was not
  // running or did not end within timeout_ms. The destructor stops it otherwise.
  std::optional<int> stop(int timeout_ms = 5000);

  // Everything node wrote to stdout and stderr.
  std::string log() const;

 private:
  std::string dir_;
  std::string log_path_;
  std::string error_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
};

}  // namespace warden::testing
