// `warden serve`: load configuration, open the store and run the HTTP daemon.
#include <fmt/format.h>
#include <toml++/toml.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <variant>
#include <vector>

#include "archive/archive.h"
#include "cli/commands.h"
#include "cli/data_dir_lock.h"
#include "gateway/proxy.h"
#include "server/server.h"
#include "server/session_tokens.h"
#include "server/webhook_signature.h"
#include "cli/store_url.h"
#include "store/postgres/change_feed.h"
#include "store/postgres/leadership.h"
#include "store/postgres/pg_store.h"
#include "store/sqlite/maintenance.h"
#include "store/sqlite/sqlite_store.h"

extern char** environ;

namespace warden::cli {
namespace fs = std::filesystem;

namespace {

// Bounds of the numeric settings (flags and TOML alike).
constexpr std::int64_t kThreadsMax = 256;
constexpr std::int64_t kBodyBytesMax = std::int64_t{1} << 30;
constexpr std::int64_t kTimeoutMsMax = 3'600'000;
constexpr std::int64_t kAuthFailuresMax = 1'000'000;
constexpr std::int64_t kAuthWindowSecondsMax = 86'400;
constexpr std::int64_t kSessionKeyRotationHoursMax = 24 * 365;
constexpr std::int64_t kSecondsPerHour = 3600;
constexpr std::int64_t kReservationTtlSecondsMax = 30 * 86'400;
constexpr std::int64_t kBatchSizeMax = 100'000;
constexpr std::int64_t kBatchWaitUsMax = 100'000;
constexpr std::int64_t kTokensMax = std::int64_t{1} << 30;
constexpr std::string_view kWebhookSecretEnvPrefix = "WARDEN_WEBHOOK_SECRET_";
constexpr std::int64_t kAutomationConcurrencyMax = 256;
constexpr const char* kAutomationWebhookSecretEnv = "WARDEN_AUTOMATION_WEBHOOK_SECRET";

using Secrets = std::map<std::string, std::string>;

// One `serve` setting: the flag --key-with-dashes and the TOML key key_with_underscores, with
// the same checks for both. Integers must lie in [min, max]; a string with `choices` must be
// one of them. A table of secrets has no flag: a TOML table, and one environment variable per
// entry named `env` + the upper-cased entry key.
struct Setting {
  std::string_view key;
  std::variant<int ServeArgs::*, std::size_t ServeArgs::*, std::int64_t ServeArgs::*,
               std::string ServeArgs::*, std::vector<std::string> ServeArgs::*,
               Secrets ServeArgs::*>
      field;
  std::string_view help;
  std::int64_t min = 0;
  std::int64_t max = 0;
  std::vector<std::string> choices = {};
  std::string_view env = {};  // environment variable standing for the flag, if any
  std::string_view flag_alias = {};  // a second, shorter flag name, if any
};

const std::vector<Setting>& serve_settings() {
  static const std::vector<Setting> kSettings = {
      {.key = "data_dir",
       .field = &ServeArgs::data_dir,
       .help = "Data directory made by `warden init`",
       .env = "WARDEN_DATA_DIR"},
      {.key = "listen",
       .field = &ServeArgs::listen,
       .help = "HOST:PORT to listen on (port 0 picks one; see DATA_DIR/warden.addr)",
       .env = "WARDEN_LISTEN"},
      {.key = "threads",
       .field = &ServeArgs::threads,
       .help = "I/O threads (0: one per core, at least 2)",
       .min = 0,
       .max = kThreadsMax},
      {.key = "body_bytes_max",
       .field = &ServeArgs::body_bytes_max,
       .help = "Largest request body; larger gets 413",
       .min = 1,
       .max = kBodyBytesMax},
      {.key = "request_timeout_ms",
       .field = &ServeArgs::request_timeout_ms,
       .help = "Time allowed to receive a request, and keep-alive idle time",
       .min = 10,
       .max = kTimeoutMsMax},
      {.key = "drain_timeout_ms",
       .field = &ServeArgs::drain_timeout_ms,
       .help = "How long shutdown waits for in-flight requests",
       .min = 0,
       .max = kTimeoutMsMax},
      {.key = "connections_max",
       .field = &ServeArgs::connections_max,
       .help = "Open connections at most (lowered to fit the open-files limit); more are "
               "answered 503 and closed",
       .min = 1,
       .max = static_cast<std::int64_t>(kConnectionsMax)},
      {.key = "connections_per_client_max",
       .field = &ServeArgs::connections_per_client_max,
       .help = "Open connections at most from one client address; more are answered 503 and "
               "closed",
       .min = 1,
       .max = static_cast<std::int64_t>(kConnectionsMax)},
      {.key = "auth_failures_max",
       .field = &ServeArgs::auth_failures_max,
       .help = "Failed master-password attempts, and separately failed session tokens, per "
               "client address within the window before 429",
       .min = 1,
       .max = kAuthFailuresMax},
      {.key = "auth_failure_window_seconds",
       .field = &ServeArgs::auth_failure_window_seconds,
       .help = "Window over which failures are counted",
       .min = 1,
       .max = kAuthWindowSecondsMax},
      {.key = "session_key_rotation_hours",
       .field = &ServeArgs::session_key_rotation_hours,
       .help = "Hours between session signing keys (docs/sessions.md)",
       .min = 1,
       .max = kSessionKeyRotationHoursMax},
      {.key = "trusted_proxies",
       .field = &ServeArgs::trusted_proxies,
       .help = "Comma-separated IPs/CIDRs of reverse proxies whose X-Forwarded-For names the "
               "client (default: none, the socket peer is the client); in TOML an array of "
               "strings"},
      {.key = "log_level",
       .field = &ServeArgs::log_level,
       .help = "debug, info, warn or error",
       .choices = {"debug", "info", "warn", "error"}},
      {.key = "reservation_ttl_seconds",
       .field = &ServeArgs::reservation_ttl_seconds,
       .help = "Unsettled reservations expire (EXPIRED, released) after this",
       .min = 1,
       .max = kReservationTtlSecondsMax},
      {.key = "batch_size_max",
       .field = &ServeArgs::batch_size_max,
       .help = "Decisions committed per SQLite transaction (group commit)",
       .min = 1,
       .max = kBatchSizeMax},
      {.key = "webhook_url",
       .field = &ServeArgs::webhook_url,
       .help = "http://HOST:PORT/PATH receiving NOTIFY and APPROVAL events (retried with "
               "backoff; outcomes audited)"},
      {.key = "batch_wait_us",
       .field = &ServeArgs::batch_wait_us,
       .help = "Microseconds a batch waits for more decisions after a batch of more than one "
               "(0: a batch is what queued during the previous commit)",
       .min = 0,
       .max = kBatchWaitUsMax},
      {.key = "durability",
       .field = &ServeArgs::durability,
       .help = "full: every group commit is fsynced before it is answered; normal: may lose the "
               "last commits on power loss (not on a crash of the process)",
       .choices = {"full", "normal"}},
      {.key = "webhook_secrets",
       .field = &ServeArgs::webhook_secrets,
       .help = "Payment providers' webhook secrets, provider = \"secret\" (POST "
               "/v1/webhooks/{provider})",
       .env = kWebhookSecretEnvPrefix},
      {.key = "gateway_listen",
       .field = &ServeArgs::gateway_listen,
       .help = "HOST:PORT of the LLM gateway (OpenAI-compatible proxy); off when empty (port 0 "
               "picks one; see DATA_DIR/gateway.addr)",
       .env = "WARDEN_GATEWAY_LISTEN"},
      {.key = "gateway_threads",
       .field = &ServeArgs::gateway_threads,
       .help = "The gateway's I/O threads",
       .min = 1,
       .max = kThreadsMax},
      {.key = "gateway_body_bytes_max",
       .field = &ServeArgs::gateway_body_bytes_max,
       .help = "Largest request body the gateway reads; larger gets 413",
       .min = 1,
       .max = kBodyBytesMax},
      {.key = "gateway_connect_timeout_ms",
       .field = &ServeArgs::gateway_connect_timeout_ms,
       .help = "Time to resolve, connect to and (HTTPS) handshake with an upstream",
       .min = 10,
       .max = kTimeoutMsMax},
      {.key = "gateway_first_byte_timeout_ms",
       .field = &ServeArgs::gateway_first_byte_timeout_ms,
       .help = "Time an upstream has to start its answer",
       .min = 10,
       .max = kTimeoutMsMax},
      {.key = "gateway_idle_timeout_ms",
       .field = &ServeArgs::gateway_idle_timeout_ms,
       .help = "Longest pause inside an upstream's answer (a stalled stream ends after it)",
       .min = 10,
       .max = kTimeoutMsMax},
      {.key = "gateway_default_output_tokens",
       .field = &ServeArgs::gateway_default_output_tokens,
       .help = "Output reserved for a request that sets no max tokens (a metered stream is cut "
               "past it)",
       .min = 1,
       .max = kTokensMax},
      {.key = "gateway_ca_file",
       .field = &ServeArgs::gateway_ca_file,
       .help = "PEM file of extra trust anchors for HTTPS upstreams (the system's are always "
               "trusted)"},
      {.key = "automation_plugins_dir",
       .field = &ServeArgs::automation_plugins_dir,
       .help = "Directory of automation plugins, one folder with a plugin.yaml each "
               "(docs/automation.md); none when empty",
       .env = "WARDEN_AUTOMATION_PLUGINS",
       .flag_alias = "--automation-plugins"},
      {.key = "store_url",
       .field = &ServeArgs::store_url,
       .help = "postgres://USER@HOST:PORT/DB of a store shared by replicas (cluster mode, "
               "docs/cluster.md); empty: DATA_DIR's SQLite file. The password comes from "
               "WARDEN_STORE_PASSWORD or --store-password-file, never the URL",
       .env = "WARDEN_STORE_URL",
       .flag_alias = "--store"},
      {.key = "store_password_file",
       .field = &ServeArgs::store_password_file,
       .help = "File whose first line is the PostgreSQL password (when WARDEN_STORE_PASSWORD is "
               "not set)"},
      {.key = "store_read_connections",
       .field = &ServeArgs::store_read_connections,
       .help = "PostgreSQL connections for reads (the writer has one more of its own)",
       .min = 1,
       .max = 64},
      {.key = "retention_decisions",
       .field = &ServeArgs::retention_decisions,
       .help = "How long settled decisions stay in the database before they move to "
               "DATA_DIR/archive: days or hours (\"30d\", \"36h\", at least 1d), or \"off\"; "
               "embedded store only, refused with --store (docs/retention.md)"},
      {.key = "retention_audit",
       .field = &ServeArgs::retention_audit,
       .help = "How long audit rows stay in the database before they move to DATA_DIR/archive "
               "(as --retention-decisions)"},
      {.key = "retention_batch_rows",
       .field = &ServeArgs::retention_batch_rows,
       .help = "Rows per archive segment and per delete transaction",
       .min = 1,
       .max = static_cast<std::int64_t>(archive::kBatchRowsMax)},
      {.key = "retention_interval_seconds",
       .field = &ServeArgs::retention_interval_seconds,
       .help = "Seconds between archive rounds",
       .min = 1,
       .max = archive::kIntervalSecondsMax},
      {.key = "automation_concurrency_max",
       .field = &ServeArgs::automation_concurrency_max,
       .help = "Automation actions running at once, across every host (each host runs one at "
               "a time)",
       .min = 1,
       .max = kAutomationConcurrencyMax},
  };
  return kSettings;
}

bool is_table(const Setting& s) { return std::holds_alternative<Secrets ServeArgs::*>(s.field); }

// One webhook secret entry; `where` names it in the message (the secret itself never is).
Status check_webhook_secret(const std::string& where, const std::string& provider,
                            std::string_view secret) {
  if (!server::valid_webhook_provider(provider)) {
    return Status(ErrorCode::CONFIG_INVALID,
                  where + ": the provider name must be 1 to 32 characters of a-z, 0-9, '_', '-'");
  }
  if (secret.size() < server::kWebhookSecretBytesMin ||
      secret.size() > server::kWebhookSecretBytesMax) {
    return Status(ErrorCode::CONFIG_INVALID,
                  fmt::format("{}: the secret must be {} to {} bytes", where,
                              server::kWebhookSecretBytesMin, server::kWebhookSecretBytesMax));
  }
  return Status();
}

// WARDEN_WEBHOOK_SECRET_<PROVIDER> (the provider upper-cased) over what the file said.
Status apply_secret_env(Secrets* secrets) {
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view entry(*e);
    if (!entry.starts_with(kWebhookSecretEnvPrefix)) continue;
    const auto eq = entry.find('=');
    const std::string name(entry.substr(0, eq));
    std::string provider = name.substr(kWebhookSecretEnvPrefix.size());
    // Upper case only, so that one provider has one variable; a lower-case letter makes the
    // name invalid.
    if (std::any_of(provider.begin(), provider.end(), [](char c) { return c >= 'a' && c <= 'z'; })) {
      provider = "?";
    }
    for (char& c : provider) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    const std::string_view secret =
        eq == std::string_view::npos ? std::string_view() : entry.substr(eq + 1);
    WARDEN_RETURN_IF_ERROR(check_webhook_secret(name, provider, secret));
    (*secrets)[provider] = std::string(secret);
  }
  return Status();
}

std::string flag_name(std::string_view key) {
  std::string flag = "--" + std::string(key);
  std::replace(flag.begin(), flag.end(), '_', '-');
  return flag;
}

bool is_integer(const Setting& s) {
  return !std::holds_alternative<std::string ServeArgs::*>(s.field) &&
         !std::holds_alternative<std::vector<std::string> ServeArgs::*>(s.field) && !is_table(s);
}

std::string choice_list(const Setting& s) {
  std::string out;
  for (const auto& c : s.choices) out += (out.empty() ? "" : ", ") + c;
  return out;
}

// Checks one TOML value against its setting and stores it; the message names the key.
Status apply_toml_value(const Setting& setting, const toml::node& node, ServeArgs* a) {
  const std::string key(setting.key);
  if (is_integer(setting)) {
    const auto v = node.value_exact<std::int64_t>();
    if (!v) return Status(ErrorCode::CONFIG_INVALID, "key '" + key + "' must be an integer");
    if (*v < setting.min || *v > setting.max) {
      return Status(ErrorCode::CONFIG_INVALID,
                    fmt::format("key '{}' must be between {} and {}, got {}", key, setting.min,
                                setting.max, *v));
    }
    std::visit(
        [&](auto member) {
          using T = std::remove_reference_t<decltype(a->*member)>;
          if constexpr (std::is_integral_v<T>) a->*member = static_cast<T>(*v);
        },
        setting.field);
    return Status();
  }
  if (const auto* table = std::get_if<Secrets ServeArgs::*>(&setting.field)) {
    const toml::table* t = node.as_table();
    if (t == nullptr) {
      return Status(ErrorCode::CONFIG_INVALID,
                    "key '" + key + "' must be a table of provider = \"secret\"");
    }
    Secrets values;
    for (const auto& [provider_key, value] : *t) {
      const std::string provider(provider_key.str());
      const auto secret = value.value_exact<std::string>();
      if (!secret) {
        return Status(ErrorCode::CONFIG_INVALID,
                      "key '" + key + "." + provider + "' must be a string");
      }
      WARDEN_RETURN_IF_ERROR(check_webhook_secret("key '" + key + "." + provider + "'",
                                                  provider, *secret));
      values[provider] = *secret;
    }
    a->**table = std::move(values);
    return Status();
  }
  if (const auto* list = std::get_if<std::vector<std::string> ServeArgs::*>(&setting.field)) {
    const toml::array* arr = node.as_array();
    std::vector<std::string> values;
    for (std::size_t i = 0; arr != nullptr && i < arr->size(); ++i) {
      const auto item = (*arr)[i].value_exact<std::string>();
      if (!item) break;
      values.push_back(*item);
    }
    if (arr == nullptr || values.size() != arr->size()) {
      return Status(ErrorCode::CONFIG_INVALID, "key '" + key + "' must be an array of strings");
    }
    a->**list = std::move(values);
    return Status();
  }
  const auto v = node.value_exact<std::string>();
  if (!v) return Status(ErrorCode::CONFIG_INVALID, "key '" + key + "' must be a string");
  if (!setting.choices.empty() &&
      std::find(setting.choices.begin(), setting.choices.end(), *v) == setting.choices.end()) {
    return Status(ErrorCode::CONFIG_INVALID, fmt::format("key '{}' must be one of {}, got '{}'",
                                                         key, choice_list(setting), *v));
  }
  a->*std::get<std::string ServeArgs::*>(setting.field) = *v;
  return Status();
}

// Fills fields from the TOML file that were not given on the command line or in the
// environment (`given` lists those). Unknown keys, values of the wrong type and values out of
// range are errors, never ignored or clamped.
// `from_file` gets the keys the file set.
Status apply_config(const std::string& path, const std::set<std::string>& given, ServeArgs* a,
                    std::set<std::string>* from_file) {
  toml::table t;
  try {
    t = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return Status(ErrorCode::CONFIG_INVALID, path + ": " + std::string(e.description()));
  }
  const auto& settings = serve_settings();
  // The [gateway], [store] and [retention] tables hold the gateway_*, store_* and retention_*
  // settings without their prefix. Each entry: the setting's key, its value, and the key as the file spells it.
  std::vector<std::tuple<std::string, const toml::node*, std::string>> entries;
  for (const auto& [key, node] : t) {
    const std::string k(key.str());
    if ((k == "gateway" || k == "store" || k == "retention") && node.is_table()) {
      for (const auto& [sub, value] : *node.as_table()) {
        entries.emplace_back(k + "_" + std::string(sub.str()), &value,
                             k + "." + std::string(sub.str()));
      }
      continue;
    }
    entries.emplace_back(k, &node, k);
  }
  for (const auto& [k, node_ptr, spelled] : entries) {
    const toml::node& node = *node_ptr;
    const auto it = std::find_if(settings.begin(), settings.end(),
                                 [&](const Setting& s) { return s.key == k; });
    if (it == settings.end()) {
      return Status(ErrorCode::CONFIG_INVALID, path + ": unknown key '" + spelled + "'");
    }
    from_file->insert(k);
    // A value the command line overrides is still checked: the file must be valid on its own.
    ServeArgs overridden;
    if (Status s = apply_toml_value(*it, node, given.contains(k) ? &overridden : a); !s.ok()) {
      std::string message = s.message();
      // A key of a [gateway], [store] or [retention] table is named as the file spells it.
      if (const std::string flat = "'" + k + "'"; spelled != k) {
        if (const auto at = message.find(flat); at != std::string::npos) {
          message.replace(at, flat.size(), "'" + spelled + "'");
        }
      }
      return Status(ErrorCode::CONFIG_INVALID, path + ": " + message);
    }
  }
  return Status();
}

// HOST:PORT (an IPv6 host in brackets); `flag` names the setting in the message.
Status parse_host_port(const std::string& listen, std::string_view flag, std::string* host,
                       std::uint16_t* port) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size()) {
    return Status(ErrorCode::CONFIG_INVALID,
                  fmt::format("{} must be HOST:PORT, got '{}'", flag, listen));
  }
  const std::string digits = listen.substr(colon + 1);
  unsigned long p = 0;
  for (char c : digits) {
    if (c < '0' || c > '9' || p > 65535) {
      return Status(ErrorCode::CONFIG_INVALID, fmt::format("bad port in {}", flag));
    }
    p = p * 10 + static_cast<unsigned long>(c - '0');
  }
  if (p > 65535) return Status(ErrorCode::CONFIG_INVALID, fmt::format("bad port in {}", flag));
  *host = listen.substr(0, colon);
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  *port = static_cast<std::uint16_t>(p);
  return Status();
}

// A test-only integer from the environment (0 when unset).
Result<std::int64_t> test_env(const char* name, std::int64_t max) {
  const char* text = std::getenv(name);
  if (text == nullptr) return std::int64_t{0};
  std::int64_t v = 0;
  const std::string_view t(text);
  const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc() || end != t.data() + t.size() || v < 0 || v > max) {
    return Status(ErrorCode::CONFIG_INVALID,
                  fmt::format("{} must be an integer from 0 to {}", name, max));
  }
  return v;
}

// The [retention] settings. Cluster mode archives nothing: there the defaults do not apply and
// an explicit horizon is refused rather than silently ignored.
Status retention_options(const ServeArgs& args, bool explicitly_set,
                         archive::RetentionOptions* out) {
  WARDEN_ASSIGN_OR_RETURN(
      std::int64_t decisions,
      archive::parse_retention("retention.decisions", args.retention_decisions));
  WARDEN_ASSIGN_OR_RETURN(std::int64_t audit,
                          archive::parse_retention("retention.audit", args.retention_audit));
  if (!args.store_url.empty()) {
    if (explicitly_set && (decisions > 0 || audit > 0)) {
      return Status(ErrorCode::CONFIG_INVALID,
                    "retention.decisions and retention.audit are not supported with a PostgreSQL "
                    "store (cluster mode): archival runs on the embedded SQLite store only. "
                    "Remove them or set them to \"off\" (docs/retention.md)");
    }
    *out = archive::RetentionOptions::off();
    return Status();
  }
  out->decisions_seconds = decisions;
  out->audit_seconds = audit;
  out->batch_rows = static_cast<std::size_t>(args.retention_batch_rows);
  out->interval_seconds = args.retention_interval_seconds;
  out->archive_dir = archive::archive_dir(args.data_dir);
  // Only the integration tests set these: kill -9 lands between a move's steps, and rows count
  // as old without waiting days.
  WARDEN_ASSIGN_OR_RETURN(
      out->test_clock_skew_seconds,
      test_env("WARDEN_TEST_ARCHIVE_CLOCK_SKEW_SECONDS", archive::kRetentionSecondsMax));
  WARDEN_ASSIGN_OR_RETURN(out->test_pause_ms, test_env("WARDEN_TEST_ARCHIVE_PAUSE_MS", 60'000));
  return Status();
}

}  // namespace

std::vector<std::pair<std::string, CLI::Option*>> add_serve_flags(CLI::App& cmd, ServeArgs& args) {
  std::vector<std::pair<std::string, CLI::Option*>> options;
  for (const Setting& setting : serve_settings()) {
    if (is_table(setting)) continue;  // secrets: file and environment only
    CLI::Option* opt = std::visit(
        [&](auto member) -> CLI::Option* {
          using T = std::remove_reference_t<decltype(args.*member)>;
          if constexpr (std::is_same_v<T, Secrets>) {
            return nullptr;
          } else {
            std::string names = flag_name(setting.key);
            if (!setting.flag_alias.empty()) names += "," + std::string(setting.flag_alias);
            return cmd.add_option(names, args.*member, std::string(setting.help));
          }
        },
        setting.field);
    if (!setting.env.empty()) opt->envname(std::string(setting.env));
    if (std::holds_alternative<std::vector<std::string> ServeArgs::*>(setting.field)) {
      opt->delimiter(',');
    }
    if (is_integer(setting)) opt->check(CLI::Range(setting.min, setting.max));
    if (!setting.choices.empty()) opt->check(CLI::IsMember(setting.choices));
    if (setting.key != "data_dir" && setting.key != "webhook_url" &&
        setting.key != "trusted_proxies" && setting.key != "gateway_listen" &&
        setting.key != "gateway_ca_file" && setting.key != "automation_plugins_dir" &&
        setting.key != "store_url" && setting.key != "store_password_file") {
      opt->capture_default_str();
    }
    options.emplace_back(std::string(setting.key), opt);
  }
  return options;
}

int run_serve_with(ServeArgs args, const std::set<std::string>& given) {
  std::set<std::string> from_file;
  if (!args.config_file.empty()) {
    if (Status s = apply_config(args.config_file, given, &args, &from_file); !s.ok()) {
      std::cerr << "error: " << s.message() << "\n";
      return kExitUsage;
    }
  }
  if (Status s = apply_secret_env(&args.webhook_secrets); !s.ok()) {
    std::cerr << "error: " << s.message() << "\n";
    return kExitUsage;
  }
  if (args.data_dir.empty()) {
    std::cerr << "error: --data-dir (or WARDEN_DATA_DIR, or data_dir in the config) is required\n";
    return kExitUsage;
  }
  server::ServerOptions options;
  if (Status s = parse_host_port(args.listen, "--listen", &options.host, &options.port); !s.ok()) {
    std::cerr << "error: " << s.message() << "\n";
    return kExitUsage;
  }
  if (!args.gateway_listen.empty()) {
    gateway::GatewayOptions g;
    if (Status s = parse_host_port(args.gateway_listen, "--gateway-listen", &g.host, &g.port);
        !s.ok()) {
      std::cerr << "error: " << s.message() << "\n";
      return kExitUsage;
    }
    g.threads = args.gateway_threads;
    g.body_bytes_max = args.gateway_body_bytes_max;
    g.request_timeout_ms = args.request_timeout_ms;
    g.connect_timeout_ms = args.gateway_connect_timeout_ms;
    g.first_byte_timeout_ms = args.gateway_first_byte_timeout_ms;
    g.idle_timeout_ms = args.gateway_idle_timeout_ms;
    g.default_output_tokens = static_cast<std::uint64_t>(args.gateway_default_output_tokens);
    g.ca_file = args.gateway_ca_file;
    g.addr_file = (fs::path(args.data_dir) / "gateway.addr").string();
    options.gateway = gateway::proxy_frontend(std::move(g));
  }
  options.threads = args.threads;
  options.body_bytes_max = args.body_bytes_max;
  options.request_timeout_ms = args.request_timeout_ms;
  options.drain_timeout_ms = args.drain_timeout_ms;
  options.connections_max = args.connections_max;
  options.connections_per_client_max = args.connections_per_client_max;
  options.api.auth_failures_max = args.auth_failures_max;
  options.api.auth_failure_window_seconds = args.auth_failure_window_seconds;
  if (auto proxies = server::TrustedProxies::parse(args.trusted_proxies); proxies.ok()) {
    options.api.trusted_proxies = std::move(proxies).value();
  } else {
    std::cerr << "error: " << proxies.status().message() << "\n";
    return kExitUsage;
  }
  options.decisions.reservation_ttl_seconds = args.reservation_ttl_seconds;
  options.batch.batch_size_max = args.batch_size_max;
  options.batch.batch_wait_us = args.batch_wait_us;
  options.addr_file = (fs::path(args.data_dir) / "warden.addr").string();
  options.webhook_url = args.webhook_url;
  options.api.webhook_secrets = args.webhook_secrets;
  if (!args.automation_plugins_dir.empty() && !fs::is_directory(args.automation_plugins_dir)) {
    std::cerr << "error: --automation-plugins-dir: " << args.automation_plugins_dir
              << " is not a directory\n";
    return kExitUsage;
  }
  options.automation_plugins_dir = args.automation_plugins_dir;
  options.automation_concurrency_max = static_cast<std::size_t>(args.automation_concurrency_max);
  if (const char* secret = std::getenv(kAutomationWebhookSecretEnv)) {
    options.automation_webhook_secret = secret;
  }
  const bool retention_set =
      given.contains("retention_decisions") || given.contains("retention_audit") ||
      from_file.contains("retention_decisions") || from_file.contains("retention_audit");
  if (Status s = retention_options(args, retention_set, &options.retention); !s.ok()) {
    std::cerr << "error: " << s.message() << "\n";
    return kExitUsage;
  }

  // A file-size limit (RLIMIT_FSIZE) must make writes fail, which /readyz reports, instead of
  // killing the daemon in the middle of a commit.
  std::signal(SIGXFSZ, SIG_IGN);
  server::init_logging(args.log_level);
  // Cluster mode: the replicas' shared store, the feed between them and the sweepers' lock.
  std::unique_ptr<store::postgres::PgChangeFeed> feed;
  std::unique_ptr<store::postgres::PgLeadership> leadership;
  Result<std::unique_ptr<store::Store>> store = std::unique_ptr<store::Store>();
  if (!args.store_url.empty()) {
    auto config = postgres_config(args.store_url, args.store_password_file);
    if (!config.ok()) {
      std::cerr << "error: " << config.status().message() << "\n";
      return kExitUsage;
    }
    auto pg = store::postgres::PostgresStore::open(
        {*config, static_cast<std::size_t>(args.store_read_connections)});
    if (!pg.ok()) {
      std::cerr << "error: " << pg.status().to_string() << "\n";
      return kExitFailed;
    }
    store = std::unique_ptr<store::Store>(std::move(pg).value());
    // Listening before anything is loaded: no change falls between a load and the LISTEN.
    feed = std::make_unique<store::postgres::PgChangeFeed>(*config);
    if (Status s = feed->start(); !s.ok()) {
      std::cerr << "error: change feed: " << s.to_string() << "\n";
      return kExitFailed;
    }
    leadership = std::make_unique<store::postgres::PgLeadership>(*config);
    options.api.change_feed = feed.get();
    options.leadership = leadership.get();
    options.decisions.shared_store = true;
    options.ledger.shared_store = true;
    server::log_event(server::LogLevel::kInfo, "store opened",
                      {{"store", "postgresql"}, {"url", args.store_url}});
  } else {
    const store::Durability durability =
        args.durability == "normal" ? store::Durability::kNormal : store::Durability::kFull;
    auto lite = store::SqliteStore::open(database_path(args.data_dir), {.durability = durability});
    if (!lite.ok()) {
      std::cerr << "error: " << lite.status().to_string() << "\n";
      return kExitFailed;
    }
    store = std::unique_ptr<store::Store>(std::move(lite).value());
    server::log_event(server::LogLevel::kInfo, "store opened",
                      {{"path", database_path(args.data_dir)}, {"durability", args.durability}});
  }
  auto hash = (*store)->get_kv(server::kMasterPasswordHashKey);
  if (!hash.ok() || !hash->has_value()) {
    std::cerr << "error: " << error_message(ErrorCode::STORE_NOT_INITIALIZED, Language::kEnglish)
              << "\n";
    return kExitFailed;
  }
  // One daemon per data dir, and no offline ledger write while it serves.
  DataDirLock lock;
  std::string lock_error;
  const DataDirLock::Outcome locked = lock.acquire(args.data_dir, &lock_error);
  if (locked != DataDirLock::Outcome::kTaken) {
    std::cerr << "error: "
              << (locked == DataDirLock::Outcome::kBusy
                      ? "another process is using " + args.data_dir + " (" +
                            DataDirLock::path(args.data_dir) + " is locked)"
                      : lock_error)
              << "\n";
    return kExitFailed;
  }
  SystemClock clock;
  IdGenerator ids(clock);
  auto master_secret = server::load_or_create_master_secret(args.data_dir);
  if (!master_secret.ok()) {
    std::cerr << "error: " << master_secret.status().message() << "\n";
    return kExitFailed;
  }
  auto session_keys = server::SessionKeys::open(
      **store, std::move(master_secret).value(), clock,
      {.rotation_seconds = args.session_key_rotation_hours * kSecondsPerHour});
  if (!session_keys.ok()) {
    std::cerr << "error: session signing keys: " << session_keys.status().message() << "\n";
    return kExitFailed;
  }
  options.api.session_keys = session_keys->get();
  // Embedded mode's storage gauges, from the data directory; cluster mode has none here
  // (docs/operations.md: PostgreSQL's own exporters size its database).
  std::unique_ptr<store::sqlite::StorageGauges> gauges;
  if (args.store_url.empty()) {
    gauges = std::make_unique<store::sqlite::StorageGauges>(
        database_path(args.data_dir), archive::archive_dir(args.data_dir), clock);
    options.metrics_sources.push_back([g = gauges.get()] {
      const store::sqlite::StorageSample sample = g->sample();
      return server::render_storage_gauges({sample.database_bytes, sample.wal_bytes,
                                            sample.archive_bytes,
                                            sample.oldest_hot_decision_age_seconds});
    });
  }
  Status s = server::run_server(options, **store, clock, ids, **hash);
  if (!s.ok()) {
    server::log_event(server::LogLevel::kError, "server failed", {{"error", s.to_string()}});
    server::flush_logs();
    return kExitFailed;
  }
  if (Status c = (*store)->checkpoint(); !c.ok()) {
    server::log_event(server::LogLevel::kError, "checkpoint failed", {{"error", c.to_string()}});
    server::flush_logs();
    return kExitFailed;
  }
  server::log_event(server::LogLevel::kInfo, "stopped cleanly");
  server::flush_logs();
  return kExitOk;
}

}  // namespace warden::cli
