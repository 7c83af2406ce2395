// The `warden` command's sub-commands. Each returns the process exit status:
// 0 ok, 1 a failed check or operation, 2 usage.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace warden::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;

// Upper bound of --connections-max and --connections-per-client-max (and their TOML keys).
inline constexpr std::size_t kConnectionsMax = 1'000'000;

std::string database_path(const std::string& data_dir);

struct InitArgs {
  std::string data_dir;
  std::string master_password_file;
  // Cluster mode: the master password hash goes to this PostgreSQL store (docs/cluster.md).
  std::string store_url;
  std::string store_password_file;
};
int run_init(const InitArgs& args);

// `warden db migrate`: brings a PostgreSQL store's schema to this binary's version, as the
// owner role (docs/cluster.md).
struct DbMigrateArgs {
  std::string store_url;
  std::string store_password_file;
};
int run_db_migrate(const DbMigrateArgs& args);

// `warden backup`, `warden restore` and `warden db stats` (operations.cc; docs/operations.md).
// Backup and stats only read the database and are fine while the daemon serves it.
struct BackupArgs {
  std::string data_dir;
  std::string target;  // the backup file
  bool force = false;  // replace an existing target
};
int run_backup(const BackupArgs& args);

// Puts a backup in place as the data directory's database; refused while a daemon serves it.
struct RestoreArgs {
  std::string data_dir;
  std::string backup;  // the backup file
  bool force = false;  // move the database files in place to DATA_DIR/replaced-<unix seconds>
};
int run_restore(const RestoreArgs& args);

struct DbStatsArgs {
  std::string data_dir;
  bool json = false;
};
int run_db_stats(const DbStatsArgs& args);

struct ServeArgs {
  std::string data_dir;
  std::string listen = "127.0.0.1:8787";
  std::string config_file;
  int threads = 0;
  std::size_t body_bytes_max = 1 << 20;
  std::int64_t request_timeout_ms = 30'000;
  std::int64_t drain_timeout_ms = 10'000;
  std::size_t connections_max = 10'000;
  std::size_t connections_per_client_max = 1'024;
  int auth_failures_max = 5;
  std::int64_t auth_failure_window_seconds = 60;
  std::int64_t session_key_rotation_hours = 24;  // a new session signing key this often
  std::vector<std::string> trusted_proxies;  // IPs / CIDRs whose X-Forwarded-For is believed
  std::string log_level = "info";
  std::int64_t reservation_ttl_seconds = 3600;
  std::size_t batch_size_max = 512;
  std::int64_t batch_wait_us = 0;
  std::string webhook_url;
  std::string durability = "full";  // or "normal"
  // Payment providers' webhook secrets: TOML table [webhook_secrets] and
  // WARDEN_WEBHOOK_SECRET_<PROVIDER>; never a flag (a command line is visible to every user).
  std::map<std::string, std::string> webhook_secrets;
  // The LLM gateway (docs/gateway.md): off unless gateway_listen is set. In TOML the keys
  // below sit in a [gateway] table without their "gateway_" prefix.
  std::string gateway_listen;
  int gateway_threads = 2;
  std::size_t gateway_body_bytes_max = 4u << 20;
  std::int64_t gateway_connect_timeout_ms = 5'000;
  std::int64_t gateway_first_byte_timeout_ms = 120'000;
  std::int64_t gateway_idle_timeout_ms = 60'000;
  std::int64_t gateway_default_output_tokens = 4096;
  std::string gateway_ca_file;
  // Automation (docs/automation.md): operators' plugin folders, and how many actions run at
  // once. The webhook host's signing secret is read from WARDEN_AUTOMATION_WEBHOOK_SECRET only.
  std::string automation_plugins_dir;
  std::int64_t automation_concurrency_max = 8;
  // Cluster mode (docs/cluster.md): a postgres:// URL (no password in it) instead of the data
  // directory's SQLite file; the password from WARDEN_STORE_PASSWORD or this file. In TOML a
  // [store] table with `url` and `password_file`.
  std::string store_url;
  std::string store_password_file;
  std::int64_t store_read_connections = 4;
  // Retention and archival (docs/retention.md): how long settled decisions and audit rows stay
  // in the hot database ("30d", "36h", "off"), rows per move, seconds between rounds. In TOML a
  // [retention] table without the "retention_" prefix. Cluster mode refuses them.
  std::string retention_decisions = "30d";
  std::string retention_audit = "90d";
  std::int64_t retention_batch_rows = 5'000;
  std::int64_t retention_interval_seconds = 60;
};
int run_serve(const ServeArgs& args);

// The credit ledger's offline tools (ledger.cc; docs/ledger.md, "Command line").
struct LedgerBalanceArgs {
  std::string data_dir;
  std::string owner;
  std::string currency;  // empty: every currency the owner has had credit in
};
int run_ledger_balance(const LedgerBalanceArgs& args);

struct LedgerMintArgs {
  std::string data_dir;
  std::string owner;
  std::string amount;
  std::string currency;
  std::string source;
  std::optional<std::string> payment_id;
  std::optional<std::int64_t> expires_at;  // Unix seconds
  std::string idempotency_key;
};
// Refuses (kExitUsage) while a daemon serves the data dir: it would not see the new lot.
int run_ledger_mint(const LedgerMintArgs& args);
// Which store an offline check reads: the data directory's SQLite file, or in cluster mode the
// replicas' PostgreSQL store (docs/cluster.md) when store_url is set.
struct CheckStoreArgs {
  std::string data_dir;
  std::string store_url;
  std::string store_password_file;
};
// Read-only; safe while the daemon (or the cluster) runs.
int run_ledger_reconcile(const CheckStoreArgs& args);

int run_policy_validate(const std::string& file);
int run_audit_verify(const CheckStoreArgs& args);
struct AuditExportArgs {
  CheckStoreArgs store;
  std::string from;  // Unix seconds or an RFC 3339 UTC time; "" for the beginning
  std::string to;    // exclusive; "" for no end
  std::optional<std::string> agent_id;
  std::string format = "jsonl";
};
int run_audit_export(const AuditExportArgs& args);

// Offline policy tools (policy_tools.cc).
struct EvalArgs {
  std::string policies_dir;
  std::string request_file;  // "-": standard input
  bool explain = false;
};
int run_eval(const EvalArgs& args);
int run_policy_test(const std::string& dir);

struct ExprArgs {
  std::string source;
  std::string vars;                // JSON object (or @FILE): values, declared as dyn
  std::vector<std::string> decls;  // "name=type" declarations, e.g. "amount=int"
};
int run_expr_eval(const ExprArgs& args);
int run_expr_check(const ExprArgs& args);

// `warden automation validate|dry-run` (automation.cc; docs/automation.md, "API and CLI").
struct AutomationArgs {
  std::string file;         // the spec JSON
  std::string plugins_dir;  // plugin folders beside the built-in hosts ("" for none)
  std::string event_file;   // dry-run: a sample event JSON ("" for none)
};
// Prints {ok, issues, hash, normalized}; exit 1 when the daemon would refuse to save the spec
// (a blocker, or an action that does not match its host).
int run_automation_validate(const AutomationArgs& args);
// Prints the dry-run transcript; exit 1 when the spec is refused or the transcript's severity
// is error or blocker.
int run_automation_dry_run(const AutomationArgs& args);

// `warden tokens encode|count` (tokens.cc; docs/tokenize.md).
struct TokensArgs {
  std::string encoding;  // cl100k_base or o200k_base
  std::string model;     // count only: the model's encoding (or the documented estimate)
  std::string input = "-";  // file, or '-' for stdin
  bool allow_special = false;
};
int run_tokens_encode(const TokensArgs& args);
int run_tokens_count(const TokensArgs& args);

}  // namespace warden::cli
