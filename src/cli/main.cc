// `warden`: the daemon and its offline tools (CLI11 front end).
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <iostream>
#include <set>

#include "cli/commands.h"

namespace warden::cli {
int run_serve_with(ServeArgs args, const std::set<std::string>& given);
// Adds every `serve` setting as a flag from the table in serve.cc (which also checks the TOML
// file); returns each setting's key with its option.
std::vector<std::pair<std::string, CLI::Option*>> add_serve_flags(CLI::App& cmd, ServeArgs& args);
}  // namespace warden::cli

namespace {

constexpr const char* kVersion = "0.1.0";

// Without --data-dir or --store on the command line, WARDEN_STORE_URL and then WARDEN_DATA_DIR
// say which store a check reads (a replica may set both: its data directory holds no database).
// False, after saying so, when nothing names one.
bool check_store_from_env(warden::cli::CheckStoreArgs& args) {
  if (args.data_dir.empty() && args.store_url.empty()) {
    if (const char* url = std::getenv("WARDEN_STORE_URL"); url != nullptr && *url != '\0') {
      args.store_url = url;
    } else if (const char* dir = std::getenv("WARDEN_DATA_DIR"); dir != nullptr && *dir != '\0') {
      args.data_dir = dir;
    }
  }
  if (args.data_dir.empty() && args.store_url.empty()) {
    std::cerr << "error: --data-dir or --store is required (or WARDEN_DATA_DIR, WARDEN_STORE_URL)\n";
    return false;
  }
  if (!args.store_password_file.empty() && args.store_url.empty()) {
    std::cerr << "error: --store-password-file needs --store\n";
    return false;
  }
  return true;
}

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

  init_cmd->add_option("--store", init.store_url,
                       "Cluster mode: postgres://USER@HOST:PORT/DB whose store gets the master password hash (docs/cluster.md)")->envname("WARDEN_STORE_URL");
  init_cmd->add_option("--store-password-file", init.store_password_file,
                       "File whose first line is the PostgreSQL password (else WARDEN_STORE_PASSWORD)");

  DbMigrateArgs db_migrate;
  auto* db_cmd = app.add_subcommand("db", "Store tools: the schema of a cluster's PostgreSQL store (docs/cluster.md), the sizes in a data directory (docs/operations.md).");
  db_cmd->require_subcommand(1);
  auto* migrate_cmd = db_cmd->add_subcommand("migrate", "Bring a PostgreSQL store's schema to this binary's version; run as the owner role (replicas starting together migrate once).");
  migrate_cmd->add_option("--store", db_migrate.store_url, "postgres://OWNER@HOST:PORT/DB (no password in it)")->envname("WARDEN_STORE_URL")->required();
  migrate_cmd->add_option("--store-password-file", db_migrate.store_password_file,
                          "File whose first line is the owner's password (else WARDEN_STORE_PASSWORD)");

  DbStatsArgs db_stats;
  auto* stats_cmd = db_cmd->add_subcommand("stats", "Print the bytes of every table and index, the row counts of the tables, the database, WAL and archive sizes and the bytes per stored decision of a data directory (read-only; fine while the daemon serves it).");
  stats_cmd->add_option("--data-dir", db_stats.data_dir, "Data directory")->envname("WARDEN_DATA_DIR")->required();
  stats_cmd->add_flag("--json", db_stats.json, "Print one JSON object instead of aligned text");

  BackupArgs backup;
  auto* backup_cmd = app.add_subcommand("backup", "Copy a data directory's database, as one consistent snapshot, to FILE while the daemon keeps serving (SQLite's online backup API); restore with `warden restore`.");
  backup_cmd->add_option("--data-dir", backup.data_dir, "Data directory")->envname("WARDEN_DATA_DIR")->required();
  backup_cmd->add_option("--to", backup.target, "The backup file (mode 0600), written as FILE.tmp and renamed when complete")->required();
  backup_cmd->add_flag("--force", backup.force, "Replace FILE if it exists");

  RestoreArgs restore;
  auto* restore_cmd = app.add_subcommand("restore", "Put a backup in place as the data directory's database, after checking it (integrity, Warden schema); refused while a daemon serves the directory.");
  restore_cmd->add_option("--data-dir", restore.data_dir, "Data directory (created 0700 if missing)")->envname("WARDEN_DATA_DIR")->required();
  restore_cmd->add_option("--from", restore.backup, "The backup file (made by `warden backup`); only read")->required();
  restore_cmd->add_flag("--force", restore.force, "Replace a database in place: its files (with -wal and -shm) move to DATA_DIR/replaced-<unix seconds>");

  ServeArgs serve;
  auto* serve_cmd = app.add_subcommand("serve", "Run the HTTP daemon until SIGTERM/SIGINT.");
  auto serve_opts = add_serve_flags(*serve_cmd, serve);
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
  // The offline checks read the data directory's database, or a cluster's PostgreSQL store. The
  // environment is read after parsing (check_store_from_env) rather than by envname(), so that a
  // replica's WARDEN_DATA_DIR does not conflict with an explicit --store, nor the reverse.
  const auto add_check_store_options = [](CLI::App* cmd, CheckStoreArgs& args) {
    auto* dir = cmd->add_option("--data-dir", args.data_dir, "Data directory (else WARDEN_DATA_DIR)");
    auto* url = cmd->add_option("--store", args.store_url, "Cluster mode: postgres://USER@HOST:PORT/DB, the replicas' store, instead of a data directory (else WARDEN_STORE_URL, which wins over WARDEN_DATA_DIR; docs/cluster.md)");
    cmd->add_option("--store-password-file", args.store_password_file,
                    "File whose first line is the PostgreSQL password (else WARDEN_STORE_PASSWORD)");
    dir->excludes(url);
    url->excludes(dir);
  };
  CheckStoreArgs audit_store;
  auto* verify_cmd = audit_cmd->add_subcommand("verify", "Check the audit hash chain across the archive's segments and the database; exit 1 naming the first broken row or segment.");
  add_check_store_options(verify_cmd, audit_store);
  AuditExportArgs audit_export;
  auto* export_cmd = audit_cmd->add_subcommand("export", "Print audit rows as JSON Lines in id order, from the archive's segments and the database alike (docs/retention.md).");
  add_check_store_options(export_cmd, audit_export.store);
  export_cmd->add_option("--from", audit_export.from, "Rows at or after this time: Unix seconds, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (default: the first)");
  export_cmd->add_option("--to", audit_export.to, "Rows before this time, in the same forms (default: no end)");
  export_cmd->add_option("--agent", audit_export.agent_id, "Only rows about this agent id");
  export_cmd->add_option("--format", audit_export.format, "Output format")->check(CLI::IsMember({"jsonl"}))->capture_default_str();

  auto* ledger_cmd = app.add_subcommand("ledger", "Credit ledger tools on the data directory (docs/ledger.md).");
  ledger_cmd->require_subcommand(1);
  LedgerBalanceArgs balance;
  auto* balance_cmd = ledger_cmd->add_subcommand("balance", "Print an owner's balances (JSON) from the store.");
  balance_cmd->add_option("--data-dir", balance.data_dir, "Data directory")->envname("WARDEN_DATA_DIR")->required();
  balance_cmd->add_option("--owner", balance.owner, "Agent id")->required();
  balance_cmd->add_option("--currency", balance.currency, "One currency (default: every currency the owner has had credit in)");
  LedgerMintArgs mint;
  auto* mint_cmd = ledger_cmd->add_subcommand("mint", "Write a credit lot offline (refused while a daemon serves the data directory); prints the lot.");
  mint_cmd->add_option("--data-dir", mint.data_dir, "Data directory")->envname("WARDEN_DATA_DIR")->required();
  mint_cmd->add_option("--owner", mint.owner, "Agent id")->required();
  mint_cmd->add_option("--amount", mint.amount, "Decimal integer in the currency's smallest unit")->required();
  mint_cmd->add_option("--currency", mint.currency, "native, a token address or a code such as USD")->required();
  mint_cmd->add_option("--source", mint.source, "payment, grant or seed")->required();
  mint_cmd->add_option("--payment-id", mint.payment_id, "The payment this lot is for (one lot per payment)");
  mint_cmd->add_option("--expires-at", mint.expires_at, "Unix seconds after which the lot's remaining credit expires");
  mint_cmd->add_option("--idempotency-key", mint.idempotency_key, "A retry with the same key prints the same lot")->required();
  CheckStoreArgs reconcile_store;
  auto* reconcile_cmd = ledger_cmd->add_subcommand("reconcile", "Recompute every lot and balance from the entries and compare with the lot_balances view and the daemon's start-up state; exit 1 on a difference.");
  add_check_store_options(reconcile_cmd, reconcile_store);

  auto* automation_cmd = app.add_subcommand("automation", "Offline automation tools (docs/automation.md).");
  automation_cmd->require_subcommand(1);
  AutomationArgs automation;
  auto* automation_validate_cmd = automation_cmd->add_subcommand("validate", "Validate an automation spec: print {ok, issues, hash, normalized} as JSON; exit 1 when a save would be refused.");
  auto* automation_dry_run_cmd = automation_cmd->add_subcommand("dry-run", "Dry-run an automation spec against the built-in hosts and the plugins, without a daemon: print the transcript; exit 1 on an error.");
  for (auto* cmd : {automation_validate_cmd, automation_dry_run_cmd}) {
    cmd->add_option("FILE", automation.file, "Automation spec JSON file (spec v1)")->required()->check(CLI::ExistingFile);
  }
  automation_validate_cmd->add_option("--plugins", automation.plugins_dir, "Directory of plugin folders (each with a plugin.yaml)")->check(CLI::ExistingDirectory);
  automation_dry_run_cmd->add_option("--plugins", automation.plugins_dir, "Directory of plugin folders (each with a plugin.yaml)")->required()->check(CLI::ExistingDirectory);
  automation_dry_run_cmd->add_option("--event", automation.event_file, "A sample event JSON {kind, subject?, attributes?, ...} for event-bound selectors and conditions")->check(CLI::ExistingFile);

  auto* tokens_cmd = app.add_subcommand("tokens", "Tokenizer tools: OpenAI's cl100k_base and o200k_base (docs/tokenize.md).");
  tokens_cmd->require_subcommand(1);
  TokensArgs tokens;
  auto* tokens_encode_cmd = tokens_cmd->add_subcommand("encode", "Print the token ids of FILE (or stdin) as a JSON array.");
  tokens_encode_cmd->add_option("--encoding", tokens.encoding, "cl100k_base or o200k_base")->required();
  auto* tokens_count_cmd = tokens_cmd->add_subcommand("count", "Print the number of tokens of FILE (or stdin).");
  auto* count_model = tokens_count_cmd->add_option("--model", tokens.model, "Model name (gpt-4o, gpt-4, ...; other providers' models are estimated with cl100k_base)");
  tokens_count_cmd->add_option("--encoding", tokens.encoding, "cl100k_base or o200k_base")->excludes(count_model);
  for (auto* cmd : {tokens_encode_cmd, tokens_count_cmd}) {
    cmd->add_option("FILE", tokens.input, "Input file ('-' or none: stdin)");
    cmd->add_flag("--allow-special", tokens.allow_special, "Encode special-token text such as <|endoftext|> as the special token (default: as ordinary text)");
  }

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
  if (*migrate_cmd) return run_db_migrate(db_migrate);
  if (*stats_cmd) return run_db_stats(db_stats);
  if (*backup_cmd) return run_backup(backup);
  if (*restore_cmd) return run_restore(restore);
  if (*serve_cmd) {
    std::set<std::string> given;
    for (const auto& [key, opt] : serve_opts) {
      if (opt->count() > 0) given.insert(key);
    }
    return run_serve_with(serve, given);
  }
  if (*validate_cmd) return run_policy_validate(policy_file);
  if (*verify_cmd) {
    if (!check_store_from_env(audit_store)) return kExitUsage;
    return run_audit_verify(audit_store);
  }
  if (*export_cmd) {
    if (!check_store_from_env(audit_export.store)) return kExitUsage;
    return run_audit_export(audit_export);
  }
  if (*test_cmd) return run_policy_test(policy_test_dir);
  if (*eval_cmd) return run_eval(eval);
  if (*expr_eval_cmd) return run_expr_eval(expr_args);
  if (*expr_check_cmd) return run_expr_check(expr_args);
  if (*balance_cmd) return run_ledger_balance(balance);
  if (*mint_cmd) return run_ledger_mint(mint);
  if (*reconcile_cmd) {
    if (!check_store_from_env(reconcile_store)) return kExitUsage;
    return run_ledger_reconcile(reconcile_store);
  }
  if (*automation_validate_cmd) return run_automation_validate(automation);
  if (*automation_dry_run_cmd) return run_automation_dry_run(automation);
  if (*tokens_encode_cmd) return run_tokens_encode(tokens);
  if (*tokens_count_cmd) return run_tokens_count(tokens);
  return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) { return main_impl(argc, argv); }
