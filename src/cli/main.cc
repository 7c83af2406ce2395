// `warden`: the daemon and its offline tools (CLI11 front end).
#include <CLI/CLI.hpp>

#include <iostream>
#include <set>

#include "cli/commands.h"

namespace warden::cli {
int run_serve_with(ServeArgs args, const std::set<std::string>& given);
}  // namespace warden::cli

namespace {

constexpr const char* kVersion = "0.1.0";

int main_impl(int argc, char** argv) {
  using namespace warden::cli;
  CLI::App app{"Warden: policy decisions, reservations and audit for autonomous software."};
  app.set_version_flag("--version", std::string("warden ") + kVersion);
  app.require_subcommand(1);

  InitArgs init;
  auto* init_cmd = app.add_subcommand("init", "Create the data directory, database and master password hash (idempotent).");
  init_cmd->add_option("--data-dir", init.data_dir, "Data directory")->envname("WARDEN_DATA_DIR")->required();
  init_cmd->add_option("--master-password-file", init.master_password_file,
                       "File holding the master password (else WARDEN_MASTER_PASSWORD, else a generated one is written to DATA_DIR/master-password)");

  ServeArgs serve;
  auto* serve_cmd = app.add_subcommand("serve", "Run the HTTP daemon until SIGTERM/SIGINT.");
  std::vector<std::pair<std::string, CLI::Option*>> serve_opts = {
      {"data_dir", serve_cmd->add_option("--data-dir", serve.data_dir, "Data directory made by `warden init`")->envname("WARDEN_DATA_DIR")},
      {"listen", serve_cmd->add_option("--listen", serve.listen, "HOST:PORT to listen on (port 0 picks one; see DATA_DIR/warden.addr)")->envname("WARDEN_LISTEN")->capture_default_str()},
      {"threads", serve_cmd->add_option("--threads", serve.threads, "I/O threads (0: one per core, at least 2)")->capture_default_str()},
      {"body_bytes_max", serve_cmd->add_option("--body-bytes-max", serve.body_bytes_max, "Largest request body; larger gets 413")->capture_default_str()},
      {"request_timeout_ms", serve_cmd->add_option("--request-timeout-ms", serve.request_timeout_ms, "Time allowed to receive a request, and keep-alive idle time")->capture_default_str()},
      {"drain_timeout_ms", serve_cmd->add_option("--drain-timeout-ms", serve.drain_timeout_ms, "How long shutdown waits for in-flight requests")->capture_default_str()},
      {"auth_failures_max", serve_cmd->add_option("--auth-failures-max", serve.auth_failures_max, "Failed master-password attempts per address before 429")->capture_default_str()},
      {"auth_failure_window_seconds", serve_cmd->add_option("--auth-failure-window-seconds", serve.auth_failure_window_seconds, "Window over which failures are counted")->capture_default_str()},
      {"trusted_proxies", serve_cmd->add_option("--trusted-proxies", serve.trusted_proxies, "Comma-separated IPs/CIDRs of reverse proxies whose X-Forwarded-For names the client (default: none, the socket peer is the client)")->delimiter(',')},
      {"log_level", serve_cmd->add_option("--log-level", serve.log_level, "debug, info, warn or error")->check(CLI::IsMember({"debug", "info", "warn", "error"}))->capture_default_str()},
      {"reservation_ttl_seconds", serve_cmd->add_option("--reservation-ttl-seconds", serve.reservation_ttl_seconds, "Unsettled reservations expire (EXPIRED, released) after this")->check(CLI::Range(1, 30 * 86400))->capture_default_str()},
      {"batch_size_max", serve_cmd->add_option("--batch-size-max", serve.batch_size_max, "Decisions committed per SQLite transaction (group commit)")->check(CLI::Range(1, 100000))->capture_default_str()},
      {"webhook_url", serve_cmd->add_option("--webhook-url", serve.webhook_url, "http://HOST:PORT/PATH receiving NOTIFY and APPROVAL events (retried with backoff; outcomes audited)")},
      {"batch_wait_us", serve_cmd->add_option("--batch-wait-us", serve.batch_wait_us, "Microseconds a batch waits for more decisions after a batch of more than one (0: a batch is what queued during the previous commit)")->check(CLI::Range(0, 100000))->capture_default_str()},
  };
  serve_cmd->add_option("--config", serve.config_file, "TOML file with the same keys (data_dir, listen, threads, body_bytes_max, ...); flags win")->check(CLI::ExistingFile);

  auto* policy_cmd = app.add_subcommand("policy", "Offline policy tools.");
  policy_cmd->require_subcommand(1);
  std::string policy_file;
  auto* validate_cmd = policy_cmd->add_subcommand("validate", "Validate a policy JSON file: print its issues and hash; exit 1 on a blocker.");
  validate_cmd->add_option("FILE", policy_file, "Policy document {agent_id?, type, rules, priority?, enabled?}")->required();

  std::string policy_test_dir;
  auto* test_cmd = policy_cmd->add_subcommand("test", "Run every *.test policy test file under DIR; exit 1 on any failure.");
  test_cmd->add_option("DIR", policy_test_dir, "Directory of policy test files (docs/policy-tests.md)")->required()->check(CLI::ExistingDirectory);

  EvalArgs eval;
  auto* eval_cmd = app.add_subcommand("eval", "Evaluate one request against a directory of policy files (offline; nothing is reserved).");
  eval_cmd->add_option("--policies", eval.policies_dir, "Directory of *.json policy documents (id: the file name stem)")->required()->check(CLI::ExistingDirectory);
  eval_cmd->add_option("REQUEST", eval.request_file, "Request JSON file ('-': stdin): wallet {type, to, amount, ...} or generic {action, attributes, amounts}; optional agent_id and now")->required();
  eval_cmd->add_flag("--explain", eval.explain, "Include each policy's step results (trace)");

  auto* expr_cmd = app.add_subcommand("expr", "CEL expression tools.");
  expr_cmd->require_subcommand(1);
  ExprArgs expr_args;
  auto* expr_eval_cmd = expr_cmd->add_subcommand("eval", "Evaluate a CEL expression and print its value; exit 1 on a CEL error.");
  auto* expr_check_cmd = expr_cmd->add_subcommand("check", "Type-check a CEL expression and print its type; exit 1 with line:column errors.");
  for (auto* cmd : {expr_eval_cmd, expr_check_cmd}) {
    cmd->add_option("EXPR", expr_args.source, "CEL source")->required();
    cmd->add_option("--vars", expr_args.vars, "Variables as a JSON object (or @FILE), declared as dyn");
    cmd->add_option("--decl", expr_args.decls, "Declare a typed variable NAME=TYPE (e.g. amount=int, tags=list(string)); repeatable")->allow_extra_args(false);
  }

  auto* audit_cmd = app.add_subcommand("audit", "Audit log tools.");
  audit_cmd->require_subcommand(1);
  std::string audit_dir;
  auto* verify_cmd = audit_cmd->add_subcommand("verify", "Check the audit hash chain; exit 1 naming the first broken row.");
  verify_cmd->add_option("--data-dir", audit_dir, "Data directory")->envname("WARDEN_DATA_DIR")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }

  if (*init_cmd) return run_init(init);
  if (*serve_cmd) {
    std::set<std::string> given;
    for (const auto& [key, opt] : serve_opts) {
      if (opt->count() > 0) given.insert(key);
    }
    return run_serve_with(serve, given);
  }
  if (*validate_cmd) return run_policy_validate(policy_file);
  if (*verify_cmd) return run_audit_verify(audit_dir);
  if (*test_cmd) return run_policy_test(policy_test_dir);
  if (*eval_cmd) return run_eval(eval);
  if (*expr_eval_cmd) return run_expr_eval(expr_args);
  if (*expr_check_cmd) return run_expr_check(expr_args);
  return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) { return main_impl(argc, argv); }
