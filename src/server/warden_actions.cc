// The built-in host's actions on this daemon, through the routes' own write paths.
#include "server/warden_actions.h"

#include <boost/json/serialize.hpp>
#include <memory>

#include "server/routes.h"
#include "server/warden_events.h"
#include "server/log.h"

namespace warden::server {
namespace json = boost::json;

ServerWardenActions::ServerWardenActions(store::Store& store, store::BatchWriter& writer,
                                         const Clock& clock, decisions::DecisionService& decisions,
                                         SessionCache& sessions, WardenEvents* events,
                                         store::ChangeFeed* feed)
    : store_(store),
      writer_(writer),
      clock_(clock),
      decisions_(decisions),
      sessions_(sessions),
      events_(events),
      feed_(feed) {}

store::AuditEvent ServerWardenActions::audit(std::string event_type,
                                             const std::string& correlation_id) const {
  store::AuditEvent e;
  e.timestamp = clock_.now_seconds();
  e.event_type = std::move(event_type);
  e.actor = std::string(kActor);
  if (!correlation_id.empty()) e.correlation_id = correlation_id;
  return e;
}

Status ServerWardenActions::set_agent_status(const std::string& agent_id, const std::string& status,
                                             std::optional<std::string> reason,
                                             const std::string& correlation_id) {
  const store::AuditEvent e = audit("AGENT_UPDATED", correlation_id);
  const std::int64_t now = e.timestamp;
  AgentChanges changes;
  changes.status = status;
  changes.suspension_reason = std::move(reason);
  auto after = std::make_shared<store::AgentRow>();
  auto changed = std::make_shared<bool>(false);
  WARDEN_RETURN_IF_ERROR(writer_.run([=](store::WriteTxn& tx) -> Status {
    WARDEN_ASSIGN_OR_RETURN(auto before, tx.get_agent(agent_id));
    if (!before) return Status(ErrorCode::AGENT_NOT_FOUND);
    // Already there: nothing to write, so a repeated execution leaves no second audit row.
    *changed = before->status != status;
    if (!*changed) return Status();
    return change_agent(tx, agent_id, changes, now, e, after.get());
  }));
  // A suspended agent's cached sessions stop answering at once, as after PUT /v1/agents/{id}.
  if (*changed) forget_agent_sessions(agent_id);
  return Status();
}

Status ServerWardenActions::suspend_agent(const std::string& agent_id, const std::string& reason,
                                          const std::string& correlation_id) {
  return set_agent_status(agent_id, "SUSPENDED",
                          reason.empty() ? std::nullopt : std::optional(reason), correlation_id);
}

Status ServerWardenActions::resume_agent(const std::string& agent_id,
                                         const std::string& correlation_id) {
  return set_agent_status(agent_id, "ACTIVE", std::nullopt, correlation_id);
}

Result<std::int64_t> ServerWardenActions::revoke_sessions(const std::string& agent_id,
                                                          const std::string& correlation_id) {
  const store::AuditEvent base = audit("SESSIONS_REVOKED", correlation_id);
  auto revoked = std::make_shared<std::int64_t>(0);
  WARDEN_RETURN_IF_ERROR(writer_.run([=](store::WriteTxn& tx) -> Status {
    WARDEN_ASSIGN_OR_RETURN(auto agent, tx.get_agent(agent_id));
    if (!agent) return Status(ErrorCode::AGENT_NOT_FOUND);
    WARDEN_ASSIGN_OR_RETURN(*revoked, tx.revoke_agent_sessions(agent_id, base.timestamp));
    if (*revoked == 0) return Status();
    store::AuditEvent e = base;
    e.agent_id = agent_id;
    e.details = json::serialize(json::object{{"sessions_revoked", *revoked}});
    return tx.append_audit(e).take_status();
  }));
  forget_agent_sessions(agent_id);
  return *revoked;
}

void ServerWardenActions::forget_agent_sessions(const std::string& agent_id) {
  sessions_.invalidate_agent(agent_id);
  if (feed_ == nullptr) return;
  if (Status sent = feed_->publish(store::FeedTopic::kAgents, agent_id); !sent.ok()) {
    log_event(LogLevel::kError, "announcing an agent change to the replicas failed",
              {{"agent_id", agent_id}, {"error", sent.to_string()}});
  }
}

Status ServerWardenActions::set_policy_enabled(const std::string& policy_id, bool enabled,
                                               const std::string& correlation_id) {
  const store::AuditEvent e = audit("POLICY_UPDATED", correlation_id);
  auto after = std::make_shared<store::PolicyRow>();
  auto changed = std::make_shared<bool>(false);
  WARDEN_RETURN_IF_ERROR(writer_.run([=](store::WriteTxn& tx) -> Status {
    WARDEN_ASSIGN_OR_RETURN(auto current, tx.get_policy(policy_id));
    if (!current) return Status(ErrorCode::POLICY_NOT_FOUND);
    *changed = current->enabled != enabled;
    if (!*changed) return Status();
    return change_policy(tx, policy_id, json::object{{"enabled", enabled}}, e.timestamp, e,
                         after.get());
  }));
  if (!*changed) return Status();
  // The next decision sees the change, as after PUT /v1/policies/{id}; then the other replicas
  // hear of it (a failed announcement does not undo the committed change).
  WARDEN_RETURN_IF_ERROR(decisions_.reload_policies());
  if (feed_ != nullptr) {
    if (Status sent = feed_->publish(store::FeedTopic::kPolicies, ""); !sent.ok()) {
      log_event(LogLevel::kError, "announcing a policy change to the replicas failed",
                {{"error", sent.to_string()}});
    }
  }
  if (events_ != nullptr) {
    events_->policy_changed(policy_id, enabled ? "enabled" : "disabled", after->agent_id,
                            after->type, correlation_id);
  }
  return Status();
}

Result<std::vector<automation::InventoryItem>> ServerWardenActions::agents() {
  std::vector<automation::InventoryItem> items;
  store::Page page{std::nullopt, kListPageSize};
  while (items.size() < kInventoryItemsMax) {
    WARDEN_ASSIGN_OR_RETURN(auto rows, store_.list_agents(page));
    for (const auto& a : rows) {
      automation::InventoryItem item{a.id, a.name, "agent", {}};
      item.labels["status"] = a.status;
      item.labels["chain"] = a.chain;
      if (a.org) item.labels["org"] = *a.org;
      items.push_back(std::move(item));
    }
    if (rows.size() < page.limit) break;
    page.after_id = rows.back().id;
  }
  return items;
}

Result<std::vector<automation::InventoryItem>> ServerWardenActions::policies() {
  std::vector<automation::InventoryItem> items;
  store::Page page{std::nullopt, kListPageSize};
  while (items.size() < kInventoryItemsMax) {
    WARDEN_ASSIGN_OR_RETURN(auto rows, store_.list_policies(store::PolicyFilter{}, page));
    for (const auto& p : rows) {
      // A policy has no name of its own: its type and id say what it is.
      automation::InventoryItem item{p.id, p.type + " " + p.id, "policy", {}};
      item.labels["type"] = p.type;
      item.labels["enabled"] = p.enabled ? "true" : "false";
      if (p.agent_id) item.labels["agent_id"] = *p.agent_id;
      items.push_back(std::move(item));
    }
    if (rows.size() < page.limit) break;
    page.after_id = rows.back().id;
  }
  return items;
}

}  // namespace warden::server
