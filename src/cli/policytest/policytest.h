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

namespace warden::policytest {

// Turns a request body into an engine request, the way POST /v1/transactions (wallet shape
// {type, to, amount, token?, contract?, method?, spender?, network?, chain?}) and
// POST /v1/decisions (generic shape {action, attributes?, amounts?}) do. Amounts are keyed by
// asset: "native" for TRANSFER / CONTRACT_CALL / BATCH, the lower-cased token address for
// TOKEN_TRANSFER; APPROVE carries its allowance only in attributes.amount. Offline there is no
// agent row, so `network` defaults to "mainnet" and `chain` to the shape of the address.
Result<engine::Request> request_from_json(const boost::json::value& body, std::string agent_id,
                                          std::int64_t now_ms);

struct EvalOutput {
  boost::json::object decision;         // decision_json() plus delay / approval timeout
  std::vector<std::string> policy_ids;  // loaded, in file name order
};

// Loads every `*.json` policy document in `policies_dir` (id: the file name stem), compiles
// them and evaluates `request` without reserving. The request may carry two offline-only keys:
// "agent_id" (which agent policies apply; default none) and "now" (RFC 3339; default the
// system clock). A policy with a blocker is VALIDATION_FAILED naming the file.
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
