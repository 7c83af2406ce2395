// A loopback load generator for the decision tests: N threads, each on its own keep-alive
// connection, post TRANSFERs of random amounts for one agent and optionally settle the ALLOWs
// (confirm with a random final amount, fail, cancel). Every answer is checked and recorded.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace warden::testing {

struct LoadOptions {
  int threads = 64;
  int requests_per_thread = 500;  // transaction posts per thread
  std::uint64_t amount_min = 1;
  std::uint64_t amount_max = 1000;
  bool settle = false;       // mix confirm / fail / cancel into the same threads
  std::string settlement_token;  // confirms go with it (they may be below the reserved amount)
  int deadline_ms = 120000;  // bound on the whole run
  // A transport error ends the thread quietly (the crash test kills the daemon on purpose).
  bool expect_transport_errors = false;
  std::uint64_t seed = 20261124;
};

// One acknowledged transaction.
struct TxAck {
  std::string id;
  std::uint64_t amount = 0;
  std::uint64_t final_amount = 0;  // once acknowledged CONFIRMED
  bool allowed = false;
  std::string status;          // the last status the daemon acknowledged
  std::string unacked_status;  // a transition sent without an answer (crash test), else ""
};

struct LoadReport {
  std::vector<TxAck> acks;
  int allows = 0;
  int denies = 0;
  int settle_requests = 0;
  int transport_errors = 0;
  bool deadline_hit = false;
  std::vector<std::string> failures;  // unexpected answers (the first few)
  double seconds = 0;
};

// Runs the load against 127.0.0.1:port with the agent's bearer token. `stop`, when given, ends
// every thread early once set.
LoadReport run_load(std::uint16_t port, const std::string& token, const LoadOptions& options,
                    const std::atomic<bool>* stop = nullptr);

}  // namespace warden::testing
