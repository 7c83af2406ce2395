// Policies: create, validate (dry), list, read, update (version bump + rehash), delete.
#include <boost/json/serialize.hpp>
#include <memory>

#include "core/enums.h"
#include "core/json.h"
#include "engine/ir.h"
#include "policy/policy.h"
#include "server/body.h"
#include "server/log.h"
#include "decisions/decisions.h"
#include "server/routes.h"
#include "server/warden_events.h"

namespace warden::server {
namespace json = boost::json;

namespace {

Result<Body> parse_policy_body(std::string_view text) {
  return Body::parse(text, {"agent_id", "type", "rules", "priority", "enabled"});
}

json::value policy_json(const store::PolicyRow& p) {
  json::object o;
  o["id"] = p.id;
  o["agent_id"] = nullable(p.agent_id);
  o["type"] = p.type;
  auto rules = parse_json(p.rules);
  o["rules"] = rules.ok() ? std::move(rules).value() : json::value(p.rules);
  o["priority"] = p.priority;
  o["enabled"] = p.enabled;
  o["version"] = p.version;
  o["hash"] = p.hash;
  o["created_at"] = format_rfc3339(p.created_at);
  o["updated_at"] = format_rfc3339(p.updated_at);
  return o;
}

json::object spec_document(const store::PolicyRow& p) {
  json::object o;
  o["agent_id"] = nullable(p.agent_id);
  o["type"] = p.type;
  auto rules = parse_json(p.rules);
  o["rules"] = rules.ok() ? std::move(rules).value() : json::object();
  o["priority"] = p.priority;
  o["enabled"] = p.enabled;
  return o;
}

// Validates a parsed spec for saving: blockers always refuse; errors refuse when enabled.
Result<policy::Validation> validate_for_save(const policy::PolicySpec& spec) {
  policy::Validation v = policy::validate(spec, engine::custom_validate_options());
  if (v.has_blocker() || (spec.enabled && v.has_error())) {
    json::object details;
    details["issues"] = policy::issues_to_json(v.issues);
    std::string message = v.has_blocker()
                              ? "policy has blocking issues"
                              : "policy has errors; it can be saved only with enabled=false";
    return Status(ErrorCode::POLICY_VALIDATION_FAILED, std::move(message), std::move(details));
  }
  return v;
}

Status duplicate(const std::string& existing_id) {
  json::object details;
  details["existing_id"] = existing_id;
  return Status(ErrorCode::POLICY_DUPLICATE, {}, std::move(details));
}

// Refuses a hash another policy already has (other than `self_id`).
Status check_unique_hash(store::WriteTxn& tx, const std::string& hash, const std::string& self_id) {
  WARDEN_ASSIGN_OR_RETURN(auto existing, tx.find_policy_by_hash(hash));
  if (existing && existing->id != self_id) return duplicate(existing->id);
  return Status();
}

// The policy's agent exists and, for an org admin's request, is one of its org's: another org's
// agent is as unknown as a missing one, and a global policy (no agent) belongs to no org.
Status check_agent(store::WriteTxn& tx, const std::optional<std::string>& agent_id,
                   const std::optional<std::string>& org_admin_org) {
  if (!agent_id) {
    if (!org_admin_org) return Status();
    return Status(ErrorCode::AUTH_FORBIDDEN,
                  "an org admin manages the policies of its org's agents; agent_id is required");
  }
  WARDEN_ASSIGN_OR_RETURN(auto agent, agent_for(tx, *agent_id, org_admin_org));
  if (!agent) return Status(ErrorCode::AGENT_NOT_FOUND);
  return Status();
}

// Whether an org admin's request may see or change `p` (the master's may, any).
Result<bool> in_org(store::WriteTxn& tx, const store::PolicyRow& p,
                    const std::optional<std::string>& org_admin_org) {
  if (!org_admin_org) return true;
  if (!p.agent_id) return false;
  WARDEN_ASSIGN_OR_RETURN(auto agent, agent_for(tx, *p.agent_id, org_admin_org));
  return agent.has_value();
}

// A committed policy change reaches the engine before the client has its answer, so the next
// decision sees it. The reload is itself an operation of the writer (it runs alone, so a
// changed window reads settled usage that agrees with the open reservations); the answer waits
// for it.
// Then the other replicas hear of it (docs/cluster.md); a failed announcement does not undo the
// committed change, so it is logged and the answer stands.
ThenAsync reload_after(const Deps& d) {
  DecisionService* decisions = &d.decisions;
  store::ChangeFeed* feed = d.feed;
  return [decisions, feed](std::function<void(const Status&)> next) {
    decisions->reload_policies([feed, next = std::move(next)](const Status& reloaded) {
      if (reloaded.ok() && feed != nullptr) {
        if (Status sent = feed->publish(store::FeedTopic::kPolicies, ""); !sent.ok()) {
          log_event(LogLevel::kError, "announcing a policy change to the replicas failed",
                    {{"error", sent.to_string()}});
        }
      }
      next(reloaded);
    });
  };
}

// policy.changed for automations (docs/automation.md), once the change has committed.
AfterCommit announce_change(const Deps& d, const RequestContext& ctx,
                            std::shared_ptr<const store::PolicyRow> policy, std::string change) {
  WardenEvents* events = d.automation.events;
  if (events == nullptr) return {};
  return [events, policy, change = std::move(change), corr = ctx.correlation_id](Status committed) {
    if (committed.ok()) {
      events->policy_changed(policy->id, change, policy->agent_id, policy->type, corr);
    }
    return committed;
  };
}

Result<policy::PolicySpec> parse_body_spec(std::string_view body) {
  WARDEN_ASSIGN_OR_RETURN(Body b, parse_policy_body(body));
  return policy::parse_spec(b.object());
}

}  // namespace

Status change_policy(store::WriteTxn& tx, const std::string& id, const json::object& changes,
                     std::int64_t now, const store::AuditEvent& audit, store::PolicyRow* p,
                     const std::optional<std::string>& org_admin_org) {
  WARDEN_ASSIGN_OR_RETURN(auto current, tx.get_policy(id));
  if (!current) return Status(ErrorCode::POLICY_NOT_FOUND);
  WARDEN_ASSIGN_OR_RETURN(const bool visible, in_org(tx, *current, org_admin_org));
  if (!visible) return Status(ErrorCode::POLICY_NOT_FOUND);
  json::object doc = spec_document(*current);
  for (const auto& kv : changes) doc[kv.key()] = kv.value();
  WARDEN_ASSIGN_OR_RETURN(policy::PolicySpec spec, policy::parse_spec(doc));
  if (spec.type != current->type) {
    return Status(ErrorCode::VALIDATION_INVALID_VALUE,
                  "a policy's type cannot change; create a new policy instead",
                  json::object{{"field", "type"}});
  }
  WARDEN_ASSIGN_OR_RETURN(policy::Validation v, validate_for_save(spec));
  WARDEN_RETURN_IF_ERROR(check_agent(tx, spec.agent_id, org_admin_org));
  WARDEN_RETURN_IF_ERROR(check_unique_hash(tx, v.hash, current->id));
  *p = *current;
  p->agent_id = spec.agent_id;
  p->rules = canonical_json(v.normalized_rules);
  p->priority = spec.priority;
  p->enabled = spec.enabled;
  p->hash = v.hash;
  p->version = current->version + 1;
  p->updated_at = now;
  WARDEN_RETURN_IF_ERROR(tx.update_policy(*p));
  store::AuditEvent e = audit;
  e.agent_id = p->agent_id;
  e.details = json::serialize(json::object{{"policy_id", p->id}, {"version", p->version},
                                           {"hash", p->hash}, {"previous_hash", current->hash},
                                           {"enabled", p->enabled}});
  return tx.append_audit(e).take_status();
}

Result<HttpResponse> create_policy(const Deps& d, RequestContext& ctx) {
  WARDEN_ASSIGN_OR_RETURN(policy::PolicySpec spec, parse_body_spec(ctx.req.body));
  WARDEN_ASSIGN_OR_RETURN(policy::Validation v, validate_for_save(spec));
  store::PolicyRow p;
  p.id = d.ids.next();
  p.agent_id = spec.agent_id;
  p.type = spec.type;
  p.rules = canonical_json(v.normalized_rules);
  p.priority = spec.priority;
  p.enabled = spec.enabled;
  p.version = 1;
  p.hash = v.hash;
  p.created_at = p.updated_at = d.clock.now_seconds();
  store::AuditEvent e = ctx.audit("POLICY_CREATED", p.created_at);
  e.agent_id = p.agent_id;
  e.details = json::serialize(json::object{{"policy_id", p.id}, {"type", p.type},
                                           {"hash", p.hash}, {"version", p.version}});
  auto op = [p, e, org = ctx.org_admin_org](store::WriteTxn& tx) {
    WARDEN_RETURN_IF_ERROR(check_agent(tx, p.agent_id, org));
    WARDEN_RETURN_IF_ERROR(check_unique_hash(tx, p.hash, p.id));
    WARDEN_RETURN_IF_ERROR(tx.insert_policy(p));
    return tx.append_audit(e).take_status();
  };
  return commit_then_answer(d, ctx, std::move(op),
                            announce_change(d, ctx, std::make_shared<store::PolicyRow>(p), "created"),
                            [p] { return json_response(201, policy_json(p)); }, reload_after(d));
}

Result<HttpResponse> validate_policy(const Deps&, RequestContext& ctx) {
  WARDEN_ASSIGN_OR_RETURN(policy::PolicySpec spec, parse_body_spec(ctx.req.body));
  const policy::Validation v = policy::validate(spec, engine::custom_validate_options());
  json::object out;
  out["ok"] = !v.has_blocker();
  out["issues"] = policy::issues_to_json(v.issues);
  out["hash"] = v.hash.empty() ? json::value(nullptr) : json::value(v.hash);
  out["normalized"] = v.has_blocker() ? json::value(nullptr)
                                      : json::value(policy::normalized_spec(spec, v.normalized_rules));
  return json_response(200, out);
}

Result<HttpResponse> list_policies(const Deps& d, RequestContext& ctx) {
  WARDEN_ASSIGN_OR_RETURN(store::Page page, page_from_query(ctx.req, 50, 200));
  store::PolicyFilter filter;
  const auto& q = ctx.req.query;
  if (auto it = q.find("agent_id"); it != q.end() && !it->second.empty()) {
    if (it->second == "null") {
      filter.global_only = true;
    } else if (is_uuid(it->second)) {
      filter.agent_id = it->second;
    } else {
      return Status(ErrorCode::VALIDATION_INVALID_VALUE, "agent_id must be a UUID or 'null'");
    }
  }
  if (auto it = q.find("type"); it != q.end() && !it->second.empty()) {
    if (!is_one_of(kPolicyTypes, it->second)) return Status(ErrorCode::POLICY_INVALID_TYPE);
    filter.type = it->second;
  }
  if (auto it = q.find("enabled"); it != q.end() && !it->second.empty()) {
    if (it->second != "true" && it->second != "false") {
      return Status(ErrorCode::VALIDATION_INVALID_VALUE, "enabled must be true or false");
    }
    filter.enabled = it->second == "true";
  }
  const ScopedReader reader(d.store, ctx.org_admin_org);
  WARDEN_ASSIGN_OR_RETURN(auto rows, reader->list_policies(filter, page));
  return json_response(200, page_json(rows, page.limit, policy_json));
}

Result<HttpResponse> get_policy(const Deps& d, RequestContext& ctx) {
  const ScopedReader reader(d.store, ctx.org_admin_org);
  WARDEN_ASSIGN_OR_RETURN(auto p, reader->get_policy(ctx.params[0]));
  if (!p) return Status(ErrorCode::POLICY_NOT_FOUND);
  return json_response(200, policy_json(*p));
}

Result<HttpResponse> update_policy(const Deps& d, RequestContext& ctx) {
  WARDEN_ASSIGN_OR_RETURN(Body body, parse_policy_body(ctx.req.body));
  const std::int64_t now = d.clock.now_seconds();
  const std::string id = ctx.params[0];
  const store::AuditEvent audit = ctx.audit("POLICY_UPDATED", now);
  auto p = std::make_shared<store::PolicyRow>();
  auto op = [=, changes = body.object(), org = ctx.org_admin_org](store::WriteTxn& tx) {
    return change_policy(tx, id, changes, now, audit, p.get(), org);
  };
  return commit_then_answer(d, ctx, std::move(op), announce_change(d, ctx, p, "updated"),
                            [p] { return json_response(200, policy_json(*p)); }, reload_after(d));
}

Result<HttpResponse> delete_policy(const Deps& d, RequestContext& ctx) {
  const std::int64_t now = d.clock.now_seconds();
  const std::string id = ctx.params[0];
  const store::AuditEvent audit = ctx.audit("POLICY_DELETED", now);
  auto deleted = std::make_shared<store::PolicyRow>();
  auto op = [=, org = ctx.org_admin_org](store::WriteTxn& tx) {
    WARDEN_ASSIGN_OR_RETURN(auto p, tx.get_policy(id));
    if (!p) return Status(ErrorCode::POLICY_NOT_FOUND);
    WARDEN_ASSIGN_OR_RETURN(const bool visible, in_org(tx, *p, org));
    if (!visible) return Status(ErrorCode::POLICY_NOT_FOUND);
    *deleted = *p;
    WARDEN_RETURN_IF_ERROR(tx.delete_policy(p->id));
    store::AuditEvent e = audit;
    e.agent_id = p->agent_id;
    e.details = json::serialize(json::object{{"policy_id", p->id}, {"hash", p->hash},
                                             {"version", p->version}});
    return tx.append_audit(e).take_status();
  };
  return commit_then_answer(d, ctx, std::move(op), announce_change(d, ctx, deleted, "deleted"),
                            no_content, reload_after(d));
}

}  // namespace warden::server
