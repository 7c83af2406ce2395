// The server module's public API: run the HTTP daemon on a store until SIGTERM/SIGINT.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "archive/archive.h"
#include "core/clock.h"
#include "core/ids.h"
#include "core/status.h"
#include "server/api.h"
#include "decisions/decisions.h"
#include "ledger/service.h"
#include "store/batch_writer.h"
#include "server/log.h"
#include "store/store.h"

namespace warden::server {

// What a front end serving beside the HTTP API (the LLM gateway) shares with it: one store,
// one group-commit writer, one decision service, one ledger, one metrics registry.
struct Services {
  store::Store& store;
  store::BatchWriter& writer;
  const Clock& clock;
  IdGenerator& ids;
  Metrics& metrics;
  DecisionService& decisions;
  ledger::LedgerService& ledger;
};

// A listener with its own threads, started by run_server() once the services are up.
class Frontend {
 public:
  virtual ~Frontend() = default;
  // SIGTERM: stop accepting; requests in flight go on.
  virtual void begin_drain() = 0;
  // Waits until the requests in flight have finished or `deadline` passed, then stops the
  // threads. Runs before the services stop, so every settlement reaches the writer.
  virtual void stop(std::chrono::steady_clock::time_point deadline) = 0;
};

// Binds and starts a front end on the services, or says why it cannot.
using FrontendFactory = std::function<Result<std::unique_ptr<Frontend>>(const Services&)>;

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8787;  // 0 picks a free port (see addr_file)
  int threads = 0;            // 0: one per core, at least two
  std::size_t body_bytes_max = 1 << 20;
  std::size_t header_bytes_max = 16 << 10;
  std::int64_t request_timeout_ms = 30'000;  // also the keep-alive idle timeout
  std::int64_t drain_timeout_ms = 10'000;    // how long SIGTERM waits for in-flight requests
  // Open connections past either cap are answered 503 SERVER_OVERLOADED and closed unread.
  // connections_max is lowered at start to fit the open-files limit.
  std::size_t connections_max = 10'000;
  std::size_t connections_per_client_max = 1'024;  // per peer address
  std::string addr_file;  // when set, "host:port\n" is written here once listening
  std::string webhook_url;  // NOTIFY / APPROVAL events are POSTed here when set (http only)
  ApiOptions api;
  decisions::DecisionOptions decisions;
  ledger::LedgerOptions ledger;
  store::BatchOptions batch;
  FrontendFactory gateway;  // the LLM gateway (src/gateway), when configured
  // Automation (docs/automation.md): plugin folders loaded at start ("" for none), the cap on
  // actions running at once, and the secret the built-in webhook host signs with.
  std::string automation_plugins_dir;
  std::size_t automation_concurrency_max = 8;
  std::string automation_webhook_secret;
  // Retention and archival (docs/retention.md): with a horizon set, settled decisions and audit
  // rows older than it move into segment files under retention.archive_dir. The embedded store
  // only: run_server() refuses it with a leadership (cluster mode).
  archive::RetentionOptions retention = archive::RetentionOptions::off();
  // Cluster mode (docs/cluster.md): which replica sweeps (nullptr: this one, always), and the
  // feed that carries policy changes and revocations between replicas (api.change_feed). With a
  // leadership given, decisions.shared_store and ledger.shared_store should be set too.
  const store::Leadership* leadership = nullptr;
  // More series for /metrics, each rendered at every scrape (the data directory's storage
  // gauges in embedded mode).
  std::vector<std::function<std::string()>> metrics_sources;
};

// Serves until SIGTERM or SIGINT, then stops accepting, lets in-flight requests finish
// (bounded by drain_timeout_ms), closes idle connections and returns. The caller checkpoints
// the store. Returns an error when the address cannot be bound.
Status run_server(const ServerOptions& options, store::Store& store, const Clock& clock,
                  IdGenerator& ids, std::string master_password_hash);

}  // namespace warden::server
