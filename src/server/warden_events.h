// Warden's own automation events (docs/automation.md, "Warden's own events"): decisions,
// expired approvals, failed authentication and policy changes, each built and handed to the
// automation engine only when an enabled automation listens to its kind, so a daemon without
// automations pays nothing for them.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "automation/events.h"
#include "automation/types.h"
#include "core/clock.h"
#include "core/errors.h"
#include "core/ids.h"
#include "decisions/decisions.h"

namespace warden::server {

// Thread-safe (it holds no state of its own; `wants` and `emit` must be). Calls arrive on the
// writer thread (decisions) and I/O threads (auth, policies): emit must not block.
class WardenEvents : public decisions::DecisionObserver {
 public:
  using Wants = std::function<bool(std::string_view kind)>;
  using Emit = std::function<void(automation::Event event)>;
  WardenEvents(const Clock& clock, IdGenerator& ids, Wants wants, Emit emit);

  // decision.denied (and budget.exceeded for a BUDGET_EXCEEDED reason), or
  // decision.approval_required; subject: the agent.
  void on_decided(const store::TransactionRow& row, const engine::Decision& decision) override;
  // approval.expired; subject: the agent.
  void on_approval_expired(const store::TransactionRow& row) override;
  // auth.failed; subject: the client address. `method`: "master" or "session".
  void auth_failed(const std::string& client_address, std::string_view method, ErrorCode code,
                   const std::string& correlation_id);
  // policy.changed; subject: the policy. `change`: created, updated, deleted, enabled, disabled.
  void policy_changed(const std::string& policy_id, std::string_view change,
                      const std::optional<std::string>& agent_id, std::string_view type,
                      const std::string& correlation_id);

 private:
  automation::Event make(std::string_view kind, std::string subject,
                         boost::json::object attributes) const;

  const Clock& clock_;
  IdGenerator& ids_;
  const Wants wants_;
  const Emit emit_;
};

}  // namespace warden::server
