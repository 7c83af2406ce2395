// The daemon's side of the automation's built-in host "warden" (docs/automation.md, "Built-in
// hosts"): suspend and resume an agent, revoke its sessions, enable and disable a policy, and
// list agents and policies for the host's inventory. Each change takes the path its HTTP route
// takes (routes.h: change_agent, change_policy; the group-commit writer; the session cache; the
// policy reload), audited as actor "automation" with the execution's correlation id.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "automation/driver.h"
#include "core/clock.h"
#include "decisions/decisions.h"
#include "server/auth.h"
#include "store/batch_writer.h"
#include "store/change_feed.h"
#include "store/store.h"

namespace warden::server {

class WardenEvents;

// Thread-safe. Its calls wait for their commit, so they run on the automation engine's
// workers, never on the writer's thread.
class ServerWardenActions final : public automation::WardenActions {
 public:
  static constexpr std::string_view kActor = "automation";
  static constexpr std::size_t kListPageSize = 500;
  static constexpr std::size_t kInventoryItemsMax = 100'000;

  ServerWardenActions(store::Store& store, store::BatchWriter& writer, const Clock& clock,
                      decisions::DecisionService& decisions, SessionCache& sessions,
                      WardenEvents* events, store::ChangeFeed* feed = nullptr);

  // Already suspended: nothing written (a no-op succeeds). AGENT_NOT_FOUND, or
  // AGENT_INVALID_TRANSITION for a terminated agent.
  Status suspend_agent(const std::string& agent_id, const std::string& reason,
                       const std::string& correlation_id) override;
  Status resume_agent(const std::string& agent_id, const std::string& correlation_id) override;
  // The number of sessions revoked (0 when none was open).
  Result<std::int64_t> revoke_sessions(const std::string& agent_id,
                                       const std::string& correlation_id) override;
  // Enabling a policy with errors is refused as PUT /v1/policies/{id} refuses it; the engine
  // sees the change before this returns.
  Status set_policy_enabled(const std::string& policy_id, bool enabled,
                            const std::string& correlation_id) override;
  Result<std::vector<automation::InventoryItem>> agents() override;
  Result<std::vector<automation::InventoryItem>> policies() override;

 private:
  store::AuditEvent audit(std::string event_type, const std::string& correlation_id) const;
  Status set_agent_status(const std::string& agent_id, const std::string& status,
                          std::optional<std::string> reason, const std::string& correlation_id);
  // After a committed change of the agent: drops this replica's cached sessions of it and
  // tells the other replicas to do the same.
  void forget_agent_sessions(const std::string& agent_id);

  store::Store& store_;
  store::BatchWriter& writer_;
  const Clock& clock_;
  decisions::DecisionService& decisions_;
  SessionCache& sessions_;
  WardenEvents* events_;
  store::ChangeFeed* feed_;  // other replicas hear of the policy and agent changes made here
};

}  // namespace warden::server
