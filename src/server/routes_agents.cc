// Agents: create, list, read, update (suspend/activate), terminate.
#include <boost/json/serialize.hpp>
#include <memory>

#include "core/enums.h"
#include "server/body.h"
#include "server/log.h"
#include "server/routes.h"

namespace warden::server {
namespace json = boost::json;

namespace {

constexpr std::size_t kNameBytesMax = 128;
constexpr std::size_t kKeyBytesMax = 256;
constexpr std::size_t kOrgBytesMax = 128;  // the gateway's org_id, compared exactly

json::value agent_json(const store::AgentRow& a) {
  json::object o;
  o["id"] = a.id;
  o["name"] = a.name;
  o["chain"] = a.chain;
  o["network"] = a.network;
  o["public_key"] = nullable(a.public_key);
  o["status"] = a.status;
  o["owner_address"] = nullable(a.owner_address);
  o["owner_verified"] = a.owner_verified;
  o["created_at"] = format_rfc3339(a.created_at);
  o["updated_at"] = format_rfc3339(a.updated_at);
  o["suspended_at"] = nullable_time(a.suspended_at);
  o["suspension_reason"] = nullable(a.suspension_reason);
  o["org"] = nullable(a.org);
  return o;
}

template <std::size_t N>
Status check_enum(std::string_view field, const std::string& v,
                  const std::array<std::string_view, N>& allowed) {
  if (is_one_of(allowed, v)) return Status();
  std::string list;
  for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
  return field_error(ErrorCode::VALIDATION_INVALID_VALUE, field,
                     "field '" + std::string(field) + "' must be one of: " + list);
}

// A second agent with the same key fails the store's unique index inside the writer's batch.
Status map_constraint(Status s) {
  if (s.code() == ErrorCode::STORE_CONSTRAINT &&
      s.message().find("public_key") != std::string::npos) {
    return Status(ErrorCode::AGENT_PUBLIC_KEY_EXISTS);
  }
  return s;
}

std::string changes_json(const store::AgentRow& before, const store::AgentRow& after) {
  json::object c;
  if (before.name != after.name) c["name"] = after.name;
  if (before.status != after.status) c["status"] = after.status;
  if (before.owner_address != after.owner_address) c["owner_address"] = nullable(after.owner_address);
  if (before.suspension_reason != after.suspension_reason) {
    c["suspension_reason"] = nullable(after.suspension_reason);
  }
  if (before.org != after.org) c["org"] = nullable(after.org);
  return json::serialize(json::object{{"changes", std::move(c)}});
}

// Once a change to the agent has committed, cached sessions stop answering with its old row
// (a suspended or terminated agent's sessions stop working at once).
// After a committed change of the agent: this replica's cached sessions of it go, and the
// other replicas hear of it (a failed announcement does not undo the change).
AfterCommit forget_cached_sessions(const Deps& d, std::string agent_id) {
  return [sessions = &d.sessions, feed = d.feed, agent_id = std::move(agent_id)](Status committed) {
    if (!committed.ok()) return committed;
    sessions->invalidate_agent(agent_id);
    if (feed != nullptr) {
      if (Status sent = feed->publish(store::FeedTopic::kAgents, agent_id); !sent.ok()) {
        log_event(LogLevel::kError, "announcing an agent change to the replicas failed",
                  {{"agent_id", agent_id}, {"error", sent.to_string()}});
      }
    }
    return committed;
  };
}

}  // namespace

Result<std::optional<store::AgentRow>> agent_for(store::Reader& tx, const std::string& agent_id,
                                                 const std::optional<std::string>& org_admin_org) {
  WARDEN_ASSIGN_OR_RETURN(auto agent, tx.get_agent(agent_id));
  if (agent && org_admin_org && agent->org != org_admin_org) agent.reset();
  return agent;
}

Status change_agent(store::WriteTxn& tx, const std::string& id, const AgentChanges& c,
                    std::int64_t now, const store::AuditEvent& audit, store::AgentRow* after) {
  WARDEN_ASSIGN_OR_RETURN(auto before, agent_for(tx, id, c.org_admin_org));
  if (!before) return Status(ErrorCode::AGENT_NOT_FOUND);
  if (before->status == "TERMINATED") {
    return Status(ErrorCode::AGENT_INVALID_TRANSITION, "agent is terminated");
  }
  *after = *before;
  if (c.name) after->name = *c.name;
  if (c.owner_address) after->owner_address = c.owner_address;
  if (c.org_given && c.org != before->org) {
    WARDEN_RETURN_IF_ERROR(check_agent_org(tx, c.org));
    after->org = c.org;
  }
  if (c.status && *c.status != before->status) {
    after->status = *c.status;
    after->suspended_at = *c.status == "SUSPENDED" ? std::optional(now) : std::nullopt;
    if (*c.status == "ACTIVE") after->suspension_reason.reset();
  }
  if (c.suspension_reason) after->suspension_reason = c.suspension_reason;
  after->updated_at = now;
  WARDEN_RETURN_IF_ERROR(tx.update_agent(*after));
  store::AuditEvent e = audit;
  e.agent_id = after->id;
  e.details = changes_json(*before, *after);
  return tx.append_audit(e).take_status();
}

Result<HttpResponse> create_agent(const Deps& d, RequestContext& ctx) {
  WARDEN_ASSIGN_OR_RETURN(
      Body body, Body::parse(ctx.req.body, {"name", "chain", "network", "public_key",
                                            "owner_address", "org"}));
  store::AgentRow a;
  WARDEN_ASSIGN_OR_RETURN(a.name, body.required_string("name"));
  WARDEN_RETURN_IF_ERROR(check_length("name", a.name, 1, kNameBytesMax));
  WARDEN_ASSIGN_OR_RETURN(auto chain, body.optional_string("chain"));
  WARDEN_ASSIGN_OR_RETURN(auto network, body.optional_string("network"));
  a.chain = chain.value_or("solana");
  a.network = network.value_or("devnet");
  WARDEN_RETURN_IF_ERROR(check_enum("chain", a.chain, kChainTypes));
  WARDEN_RETURN_IF_ERROR(check_enum("network", a.network, kNetworkTypes));
  WARDEN_ASSIGN_OR_RETURN(a.public_key, body.optional_string("public_key"));
  WARDEN_ASSIGN_OR_RETURN(a.owner_address, body.optional_string("owner_address"));
  WARDEN_RETURN_IF_ERROR(check_length("public_key", a.public_key, 1, kKeyBytesMax));
  WARDEN_RETURN_IF_ERROR(check_length("owner_address", a.owner_address, 1, kKeyBytesMax));
  WARDEN_ASSIGN_OR_RETURN(a.org, body.optional_string("org"));
  WARDEN_RETURN_IF_ERROR(check_printable("org", a.org, kOrgBytesMax));
  if (ctx.org_admin_org) {
    // An org admin creates agents only in its own org.
    if (a.org && a.org != ctx.org_admin_org) {
      return field_error(ErrorCode::VALIDATION_INVALID_VALUE, "org",
                         "an org admin creates agents only in its own organization");
    }
    a.org = ctx.org_admin_org;
  }
  a.id = d.ids.next();
  a.status = "ACTIVE";
  a.created_at = a.updated_at = d.clock.now_seconds();

  store::AuditEvent e = ctx.audit("AGENT_CREATED", a.created_at);
  e.agent_id = a.id;
  e.details = json::serialize(json::object{
      {"name", a.name}, {"chain", a.chain}, {"network", a.network}, {"org", nullable(a.org)}});
  return commit_then_answer(
      d, ctx,
      [a, e](store::WriteTxn& tx) {
        WARDEN_RETURN_IF_ERROR(check_agent_org(tx, a.org));
        WARDEN_RETURN_IF_ERROR(tx.insert_agent(a));
        return tx.append_audit(e).take_status();
      },
      map_constraint, [a] { return json_response(201, agent_json(a)); });
}

Result<HttpResponse> list_agents(const Deps& d, RequestContext& ctx) {
  WARDEN_ASSIGN_OR_RETURN(store::Page page, page_from_query(ctx.req, 50, 200));
  // An org admin's tenant reader lists the org's agents only.
  const ScopedReader reader(d.store, ctx.org_admin_org);
  WARDEN_ASSIGN_OR_RETURN(auto rows, reader->list_agents(page));
  return json_response(200, page_json(rows, page.limit, agent_json));
}

Result<HttpResponse> get_agent(const Deps& d, RequestContext& ctx) {
  const std::string& id = ctx.params[0];
  // An agent sees only itself; another agent's id looks exactly like a missing one.
  if (ctx.session && ctx.session->agent_id != id) return Status(ErrorCode::AGENT_NOT_FOUND);
  // Another org's agent is not in an org admin's tenant reader: it looks exactly like a missing
  // one.
  const ScopedReader reader(d.store, ctx.org_admin_org);
  WARDEN_ASSIGN_OR_RETURN(auto agent, reader->get_agent(id));
  if (!agent) return Status(ErrorCode::AGENT_NOT_FOUND);
  return json_response(200, agent_json(*agent));
}

Result<HttpResponse> update_agent(const Deps& d, RequestContext& ctx) {
  WARDEN_ASSIGN_OR_RETURN(
      Body body,
      Body::parse(ctx.req.body, {"name", "status", "suspension_reason", "owner_address", "org"}));
  WARDEN_ASSIGN_OR_RETURN(auto name, body.optional_string("name"));
  WARDEN_ASSIGN_OR_RETURN(auto status, body.optional_string("status"));
  WARDEN_ASSIGN_OR_RETURN(auto reason, body.optional_string("suspension_reason"));
  WARDEN_ASSIGN_OR_RETURN(auto owner, body.optional_string("owner_address"));
  // "org": null removes the agent from its org; an absent "org" leaves it.
  const bool org_given = body.has("org");
  WARDEN_ASSIGN_OR_RETURN(auto org, body.optional_string("org"));
  WARDEN_RETURN_IF_ERROR(check_printable("org", org, kOrgBytesMax));
  WARDEN_RETURN_IF_ERROR(check_length("name", name, 1, kNameBytesMax));
  WARDEN_RETURN_IF_ERROR(check_length("suspension_reason", reason, 0, kKeyBytesMax));
  WARDEN_RETURN_IF_ERROR(check_length("owner_address", owner, 1, kKeyBytesMax));
  if (status && *status != "ACTIVE" && *status != "SUSPENDED") {
    return field_error(ErrorCode::VALIDATION_INVALID_VALUE, "status",
                       "status must be ACTIVE or SUSPENDED (DELETE terminates an agent)");
  }
  const std::int64_t now = d.clock.now_seconds();
  const std::string id = ctx.params[0];
  const store::AuditEvent audit = ctx.audit("AGENT_UPDATED", now);
  // An org admin may not move an agent out of its org (nor clear its org).
  if (ctx.org_admin_org && org_given && org != ctx.org_admin_org) {
    return field_error(ErrorCode::VALIDATION_INVALID_VALUE, "org",
                       "an org admin cannot move an agent out of its organization");
  }
  AgentChanges changes{name, status, reason, owner, org_given, org, ctx.org_admin_org};
  auto after = std::make_shared<store::AgentRow>();
  auto op = [=](store::WriteTxn& tx) {
    return change_agent(tx, id, changes, now, audit, after.get());
  };
  return commit_then_answer(
      d, ctx, std::move(op), forget_cached_sessions(d, id),
      [after] { return json_response(200, agent_json(*after)); });
}

Result<HttpResponse> delete_agent(const Deps& d, RequestContext& ctx) {
  const std::int64_t now = d.clock.now_seconds();
  const std::string id = ctx.params[0];
  const store::AuditEvent audit = ctx.audit("AGENT_TERMINATED", now);
  auto op = [=](store::WriteTxn& tx) {
    WARDEN_ASSIGN_OR_RETURN(auto agent, tx.get_agent(id));
    if (!agent) return Status(ErrorCode::AGENT_NOT_FOUND);
    if (agent->status == "TERMINATED") return Status();  // idempotent
    agent->status = "TERMINATED";
    agent->updated_at = now;
    WARDEN_RETURN_IF_ERROR(tx.update_agent(*agent));
    WARDEN_ASSIGN_OR_RETURN(const std::int64_t revoked, tx.revoke_agent_sessions(agent->id, now));
    WARDEN_ASSIGN_OR_RETURN(const std::int64_t keys_revoked,
                            tx.revoke_agent_api_keys(agent->id, now));
    store::AuditEvent e = audit;
    e.agent_id = agent->id;
    e.details = json::serialize(
        json::object{{"sessions_revoked", revoked}, {"api_keys_revoked", keys_revoked}});
    return tx.append_audit(e).take_status();
  };
  return commit_then_answer(
      d, ctx, std::move(op), forget_cached_sessions(d, id),
      no_content);
}

}  // namespace warden::server
