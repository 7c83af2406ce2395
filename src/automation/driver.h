// Drivers: what acts on a host. A driver declares its verbs (HostInfo), lists what it can act on
// (inventory), answers the standard dry-run and executes. Built in: host "warden" (this daemon,
// through WardenActions) and host "webhook" (a signed HTTP POST); any other host is a plugin: a
// folder with plugin.yaml and an executable spoken to in JSON (docs/automation.md, "Drivers").
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "automation/types.h"
#include "core/status.h"

namespace warden::automation {

class Driver {
 public:
  virtual ~Driver() = default;
  virtual const HostInfo& info() const = 0;
  // full = false: the fast listing (expected within info().dry_run_refresh_sla_s).
  virtual Result<std::vector<InventoryItem>> inventory(bool full) = 0;
  virtual Result<DryRun> dry_run(const ActionCall& call) = 0;
  virtual Result<ExecuteResult> execute(const ActionCall& call) = 0;
};

// How plugin executables are run.
inline constexpr std::int64_t kPluginTimeoutMsDefault = 10'000;
inline constexpr std::size_t kPluginStdoutBytesMax = 1u << 20;   // a longer answer is a bad one
inline constexpr std::size_t kPluginStderrBytesKept = 4u << 10;  // the tail quoted in errors
inline constexpr std::size_t kPluginYamlBytesMax = 256u << 10;

struct PluginOptions {
  std::int64_t timeout_ms = kPluginTimeoutMsDefault;  // killed past it (AUTOMATION_DRIVER_TIMEOUT)
};

// One plugin from its folder (plugin.yaml + executable). AUTOMATION_INVALID with
// details.issues for a plugin.yaml that is not valid.
Result<std::unique_ptr<Driver>> load_plugin(const std::string& folder,
                                            const PluginOptions& options = {});

class DriverRegistry {  // thread-safe after setup
 public:
  void add(std::unique_ptr<Driver> d);  // replaces a driver with the same host id
  // Each subfolder of `dir` holding a plugin.yaml; the first bad one is the error (nothing of
  // that one is added; the ones before it stay).
  Status load_plugins(const std::string& dir);
  Status load_plugins(const std::string& dir, const PluginOptions& options);
  Driver* find(std::string_view host) const;
  std::vector<HostInfo> hosts() const;  // sorted by id

 private:
  mutable std::shared_mutex mu_;
  std::map<std::string, std::unique_ptr<Driver>, std::less<>> drivers_;
};

// Validates params against a verb's JSON Schema subset (type, properties, required,
// additionalProperties, enum, minimum, maximum, minLength, maxLength, pattern (RE2), items);
// pointers under `base`. Every issue has code ACTION_SCHEMA_MISMATCH and severity error.
std::vector<Issue> validate_params(const boost::json::object& schema,
                                   const boost::json::object& params, const std::string& base);

// The daemon's own actions for the built-in host "warden" (the server implements it).
class WardenActions {
 public:
  virtual ~WardenActions() = default;
  virtual Status suspend_agent(const std::string& agent_id, const std::string& reason,
                               const std::string& correlation_id) = 0;
  virtual Status resume_agent(const std::string& agent_id, const std::string& correlation_id) = 0;
  virtual Result<std::int64_t> revoke_sessions(const std::string& agent_id,
                                               const std::string& correlation_id) = 0;
  virtual Status set_policy_enabled(const std::string& policy_id, bool enabled,
                                    const std::string& correlation_id) = 0;
  virtual Result<std::vector<InventoryItem>>
  agents() = 0;  // kind "agent", labels: status, org, chain
  virtual Result<std::vector<InventoryItem>>
  policies() = 0;  // kind "policy", labels: type, enabled, agent_id
};

// Host "warden": agent suspend/resume, session revoke, policy enable/disable.
std::unique_ptr<Driver> make_warden_driver(WardenActions& actions);

// Host "webhook": capability "http" verb "post" {url, body?}, signed with Warden-Signature
// (t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">), as /v1/webhooks verifies.
inline constexpr std::int64_t kWebhookTimeoutMsDefault = 10'000;
std::unique_ptr<Driver> make_webhook_driver(std::string secret);
std::unique_ptr<Driver> make_webhook_driver(std::string secret, std::int64_t timeout_ms);

}  // namespace warden::automation
