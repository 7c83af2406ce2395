// `warden serve`: load configuration, open the store and run the HTTP daemon.
#include <toml++/toml.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <set>

#include "cli/commands.h"
#include "server/server.h"
#include "store/sqlite/sqlite_store.h"

namespace warden::cli {
namespace fs = std::filesystem;

namespace {

// Fills fields from the TOML file that were not given on the command line or in the
// environment (`given` lists those). Unknown keys are an error, never ignored.
Status apply_config(const std::string& path, const std::set<std::string>& given, ServeArgs* a) {
  toml::table t;
  try {
    t = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return Status(ErrorCode::CONFIG_INVALID, path + ": " + std::string(e.description()));
  }
  for (const auto& [key, node] : t) {
    const std::string k(key.str());
    auto str = [&](std::string* out) {
      if (auto v = node.value<std::string>()) *out = *v;
      else return false;
      return true;
    };
    auto str_array = [&](std::vector<std::string>* out) {
      const toml::array* arr = node.as_array();
      if (arr == nullptr) return false;
      out->clear();
      for (const auto& item : *arr) {
        if (auto v = item.value<std::string>()) out->push_back(*v);
        else return false;
      }
      return true;
    };
    auto num = [&](auto* out) {
      if (auto v = node.value<std::int64_t>(); v && *v >= 0) *out = static_cast<std::remove_pointer_t<decltype(out)>>(*v);
      else return false;
      return true;
    };
    if (given.contains(k)) continue;
    bool ok = true;
    if (k == "data_dir") ok = str(&a->data_dir);
    else if (k == "listen") ok = str(&a->listen);
    else if (k == "log_level") ok = str(&a->log_level);
    else if (k == "webhook_url") ok = str(&a->webhook_url);
    else if (k == "threads") ok = num(&a->threads);
    else if (k == "body_bytes_max") ok = num(&a->body_bytes_max);
    else if (k == "request_timeout_ms") ok = num(&a->request_timeout_ms);
    else if (k == "drain_timeout_ms") ok = num(&a->drain_timeout_ms);
    else if (k == "auth_failures_max") ok = num(&a->auth_failures_max);
    else if (k == "auth_failure_window_seconds") ok = num(&a->auth_failure_window_seconds);
    else if (k == "trusted_proxies") ok = str_array(&a->trusted_proxies);
    else if (k == "reservation_ttl_seconds") ok = num(&a->reservation_ttl_seconds);
    else if (k == "batch_size_max") ok = num(&a->batch_size_max);
    else if (k == "batch_wait_us") ok = num(&a->batch_wait_us);
    else return Status(ErrorCode::CONFIG_INVALID, path + ": unknown key '" + k + "'");
    if (!ok) return Status(ErrorCode::CONFIG_INVALID, path + ": key '" + k + "' has the wrong type");
  }
  return Status();
}

Status parse_listen(const std::string& listen, server::ServerOptions* o) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size()) {
    return Status(ErrorCode::CONFIG_INVALID, "--listen must be HOST:PORT, got '" + listen + "'");
  }
  const std::string port = listen.substr(colon + 1);
  unsigned long p = 0;
  for (char c : port) {
    if (c < '0' || c > '9' || p > 65535) return Status(ErrorCode::CONFIG_INVALID, "bad port in --listen");
    p = p * 10 + static_cast<unsigned long>(c - '0');
  }
  if (p > 65535) return Status(ErrorCode::CONFIG_INVALID, "bad port in --listen");
  o->host = listen.substr(0, colon);
  if (o->host.size() > 2 && o->host.front() == '[' && o->host.back() == ']') {
    o->host = o->host.substr(1, o->host.size() - 2);
  }
  o->port = static_cast<std::uint16_t>(p);
  return Status();
}

}  // namespace

int run_serve_with(ServeArgs args, const std::set<std::string>& given) {
  if (!args.config_file.empty()) {
    if (Status s = apply_config(args.config_file, given, &args); !s.ok()) {
      std::cerr << "error: " << s.message() << "\n";
      return kExitUsage;
    }
  }
  if (args.data_dir.empty()) {
    std::cerr << "error: --data-dir (or WARDEN_DATA_DIR, or data_dir in the config) is required\n";
    return kExitUsage;
  }
  server::ServerOptions options;
  if (Status s = parse_listen(args.listen, &options); !s.ok()) {
    std::cerr << "error: " << s.message() << "\n";
    return kExitUsage;
  }
  options.threads = args.threads;
  options.body_bytes_max = args.body_bytes_max;
  options.request_timeout_ms = args.request_timeout_ms;
  options.drain_timeout_ms = args.drain_timeout_ms;
  options.api.auth_failures_max = args.auth_failures_max;
  options.api.auth_failure_window_seconds = args.auth_failure_window_seconds;
  if (auto proxies = server::TrustedProxies::parse(args.trusted_proxies); proxies.ok()) {
    options.api.trusted_proxies = std::move(proxies).value();
  } else {
    std::cerr << "error: " << proxies.status().message() << "\n";
    return kExitUsage;
  }
  options.decisions.reservation_ttl_seconds = args.reservation_ttl_seconds;
  options.batch.batch_size_max = std::max<std::size_t>(1, args.batch_size_max);
  options.batch.batch_wait_us = args.batch_wait_us;
  options.addr_file = (fs::path(args.data_dir) / "warden.addr").string();
  options.webhook_url = args.webhook_url;

  server::init_logging(args.log_level);
  auto store = store::SqliteStore::open(database_path(args.data_dir), {});
  if (!store.ok()) {
    std::cerr << "error: " << store.status().to_string() << "\n";
    return kExitFailed;
  }
  auto hash = (*store)->get_kv(server::kMasterPasswordHashKey);
  if (!hash.ok() || !hash->has_value()) {
    std::cerr << "error: " << error_message(ErrorCode::STORE_NOT_INITIALIZED, Language::kEnglish)
              << "\n";
    return kExitFailed;
  }
  SystemClock clock;
  IdGenerator ids(clock);
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
