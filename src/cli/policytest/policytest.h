// Offline policy tools: evaluate one request against a directory of policy files
// (`warden eval`), and run policy test files (`warden policy test`, docs/policy-tests.md).
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "engine/engine.h"
#include "engine/request_mapping.h"

namespace warden::policytest {

// Offline there is no agent row: the agent a request is decided for is described instead. Its
// defaults are those of POST /v1/agents (chain "solana", network "devnet").
engine::AgentContext default_agent();
// VALIDATION_INVALID_VALUE for a chain or network outside kChainTypes / kNetworkTypes.
Result<engine::AgentContext> agent_context(std::string_view chain, std::string_view network);

// Turns a request body into an engine request exactly as POST /v1/transactions (wallet shape,
// has "type") and POST /v1/decisions (generic shape, has "action") do for an agent on `agent`'s
// chain and network: both call engine/request_mapping.h.
Result<engine::Request> request_from_json(const boost::json::value& body, std::string agent_id,
                                          std::int64_t now_ms, const engine::AgentContext& agent);

struct EvalOutput {
  boost::json::object decision;         // decision_json() plus delay / approval timeout
  std::vector<std::string> policy_ids;  // loaded, in file name order
};

// Loads every `*.json` policy document in `policies_dir` (id: the file name stem), compiles
// them and evaluates `request` without reserving. The request may carry offline-only keys:
// "agent_id" (which agent policies apply; default none), "agent_chain" and "agent_network" (the
// agent's; default_agent() otherwise) and "now" (RFC 3339; default the system clock). A policy
// with a blocker is VALIDATION_FAILED naming the file.
Result<EvalOutput> eval_offline(const std::string& policies_dir, const boost::json::value& request,
                                bool explain);

// ---- Policy test files ----

struct Failure {
  int line = 0;         // 1-based line of the failing command (0: the file as a whole)
  std::string message;  // what was expected and what happened
};

struct FileReport {
  std::string path;
  std::string name;  // from "# name:", else the path
  int checks = 0;    // expectations evaluated
  std::vector<Failure> failures;
  bool passed() const { return failures.empty(); }
};

struct TestReport {
  std::vector<FileReport> files;
  int passed() const;
  int failed() const;
  // One line per file ("PASS name (N checks)" / "FAIL name" then "  line N: ..."), then
  // "N passed, M failed".
  std::string to_text() const;
};

// Runs one test file's text; `path` only labels the report. A syntax error is one failure
// carrying its line number; execution continues past failed expectations to report them all.
FileReport run_policy_test_text(std::string_view text, const std::string& path);
FileReport run_policy_test_file(const std::string& path);
// Every `*.test` file under `dir` (recursively, sorted by path). VALIDATION_INVALID_VALUE when
// `dir` is not a directory or holds no test file.
Result<TestReport> run_policy_tests(const std::string& dir);

// Parses "2026-01-01T09:00:00Z" (or with a numeric offset) to Unix milliseconds.
Result<std::int64_t> parse_time_ms(std::string_view text);

}  // namespace warden::policytest
