// Agent sessions: issue (master), read, renew (the session itself), revoke (master).
#include <boost/json/serialize.hpp>
#include <memory>

#include "core/json.h"
#include "server/auth.h"
#include "server/body.h"
#include "server/routes.h"
#include "core/enums.h"
#include "server/session_constraints.h"

namespace warden::server {
namespace json = boost::json;

namespace {

constexpr std::int64_t kTtlSecondsDefault = 86'400;               // one day
constexpr std::int64_t kAbsoluteTtlSecondsDefault = 30 * 86'400;  // thirty days
constexpr std::int64_t kAbsoluteTtlSecondsMax = 365 * 86'400;
constexpr std::int64_t kMaxRenewalsDefault = 30;
constexpr std::int64_t kMaxRenewalsMax = 10'000;

json::object session_json(const store::SessionRow& s) {
  json::object o;
  o["id"] = s.id;
  o["agent_id"] = s.agent_id;
  o["expires_at"] = format_rfc3339(s.expires_at);
  o["absolute_expires_at"] = format_rfc3339(s.absolute_expires_at);
  o["renewal_count"] = s.renewal_count;
  o["max_renewals"] = s.max_renewals;
  o["revoked_at"] = nullable_time(s.revoked_at);
  o["created_at"] = format_rfc3339(s.created_at);
  o["role"] = s.role;
  o["constraints"] = nullptr;
  if (s.constraints) {
    auto constraints = parse_json(*s.constraints);
    if (constraints.ok()) o["constraints"] = std::move(constraints).value();
  }
  return o;
}

Status out_of_range(std::string_view field, std::int64_t min, std::int64_t max) {
  return field_error(ErrorCode::VALIDATION_INVALID_VALUE, field,
                     "field '" + std::string(field) + "' must be between " + std::to_string(min) +
                         " and " + std::to_string(max));
}

// Once a change to the session has committed, the cache stops answering with the old row.
AfterCommit forget_cached_session(const Deps& d, std::string id) {
  return [sessions = &d.sessions, id = std::move(id)](Status committed) {
    if (committed.ok()) sessions->invalidate_session(id);
    return committed;
  };
}

}  // namespace

Result<HttpResponse> create_session(const Deps& d, RequestContext& ctx) {
  WARDEN_ASSIGN_OR_RETURN(
      Body body, Body::parse(ctx.req.body, {"agent_id", "ttl_s", "max_renewals", "absolute_ttl_s",
                                            "constraints", "role"}));
  WARDEN_ASSIGN_OR_RETURN(std::string agent_id, body.required_string("agent_id"));
  WARDEN_ASSIGN_OR_RETURN(auto ttl, body.optional_int("ttl_s"));
  WARDEN_ASSIGN_OR_RETURN(auto absolute_ttl, body.optional_int("absolute_ttl_s"));
  WARDEN_ASSIGN_OR_RETURN(auto max_renewals, body.optional_int("max_renewals"));
  WARDEN_ASSIGN_OR_RETURN(auto role, body.optional_string("role"));
  if (role && !is_one_of(kSessionRoles, *role)) {
    return field_error(ErrorCode::VALIDATION_INVALID_VALUE, "role",
                       "field 'role' must be \"agent\" or \"settlement\"");
  }
  WARDEN_ASSIGN_OR_RETURN(auto constraints_object, body.optional_object("constraints"));
  SessionConstraints constraints;
  if (constraints_object) {
    WARDEN_ASSIGN_OR_RETURN(constraints, parse_session_constraints(*constraints_object));
  }
  const std::int64_t abs_s = absolute_ttl.value_or(kAbsoluteTtlSecondsDefault);
  if (abs_s < 1 || abs_s > kAbsoluteTtlSecondsMax) {
    return out_of_range("absolute_ttl_s", 1, kAbsoluteTtlSecondsMax);
  }
  const std::int64_t ttl_s = ttl.value_or(std::min(kTtlSecondsDefault, abs_s));
  if (ttl_s < 1 || ttl_s > abs_s) return out_of_range("ttl_s", 1, abs_s);
  const std::int64_t renewals = max_renewals.value_or(kMaxRenewalsDefault);
  if (renewals < 0 || renewals > kMaxRenewalsMax) {
    return out_of_range("max_renewals", 0, kMaxRenewalsMax);
  }

  const std::string token = generate_session_token();
  store::SessionRow s;
  s.id = d.ids.next();
  s.agent_id = agent_id;
  s.token_hash = token_hash(token);
  s.created_at = d.clock.now_seconds();
  s.expires_at = s.created_at + ttl_s;
  s.absolute_expires_at = s.created_at + abs_s;
  s.max_renewals = renewals;
  s.role = role.value_or("agent");
  if (!constraints.empty()) s.constraints = canonical_json(session_constraints_json(constraints));

  store::AuditEvent e = ctx.audit("SESSION_CREATED", s.created_at);
  e.agent_id = s.agent_id;
  e.session_id = s.id;
  json::object details{{"ttl_s", ttl_s}, {"absolute_ttl_s", abs_s}, {"max_renewals", renewals},
                       {"role", s.role}};
  if (!constraints.empty()) details["constraints"] = session_constraints_json(constraints);
  e.details = json::serialize(details);
  auto op = [s, e](store::WriteTxn& tx) {
    WARDEN_ASSIGN_OR_RETURN(auto agent, tx.get_agent(s.agent_id));
    if (!agent) return Status(ErrorCode::AGENT_NOT_FOUND);
    if (agent->status != "ACTIVE") return Status(ErrorCode::AGENT_NOT_ACTIVE);
    WARDEN_RETURN_IF_ERROR(tx.insert_session(s));
    return tx.append_audit(e).take_status();
  };
  return commit_then_answer(d, ctx, std::move(op), {}, [s, token] {
    json::object out = session_json(s);
    out["token"] = token;  // shown once; only its hash is stored
    return json_response(201, out);
  });
}

Result<HttpResponse> get_current_session(const Deps&, RequestContext& ctx) {
  return json_response(200, session_json(*ctx.session));
}

Result<HttpResponse> get_session(const Deps& d, RequestContext& ctx) {
  WARDEN_ASSIGN_OR_RETURN(auto s, d.store.get_session(ctx.params[0]));
  if (!s) return Status(ErrorCode::SESSION_NOT_FOUND);
  return json_response(200, session_json(*s));
}

Result<HttpResponse> renew_session(const Deps& d, RequestContext& ctx) {
  if (ctx.session->id != ctx.params[0]) {
    return Status(ErrorCode::AUTH_FORBIDDEN, "a session can renew only itself");
  }
  if (!ctx.req.body.empty()) WARDEN_RETURN_IF_ERROR(Body::parse(ctx.req.body, {}).take_status());
  const std::int64_t now = d.clock.now_seconds();
  const std::string id = ctx.params[0];
  const store::AuditEvent audit = ctx.audit("SESSION_RENEWED", now);
  auto s = std::make_shared<store::SessionRow>();
  auto op = [=](store::WriteTxn& tx) {
    WARDEN_ASSIGN_OR_RETURN(auto current, tx.get_session(id));
    if (!current) return Status(ErrorCode::SESSION_NOT_FOUND);
    *s = *current;
    if (s->renewal_count >= s->max_renewals) return Status(ErrorCode::SESSION_RENEWAL_LIMIT);
    if (now >= s->absolute_expires_at) return Status(ErrorCode::SESSION_ABSOLUTE_EXPIRED);
    // The session keeps the length it was issued with, never past its absolute expiry.
    const std::int64_t ttl_s = s->expires_at - s->last_renewed_at.value_or(s->created_at);
    s->expires_at = std::min(now + ttl_s, s->absolute_expires_at);
    s->renewal_count += 1;
    s->last_renewed_at = now;
    WARDEN_RETURN_IF_ERROR(tx.update_session(*s));
    store::AuditEvent e = audit;
    e.details = json::serialize(json::object{{"renewal_count", s->renewal_count}});
    return tx.append_audit(e).take_status();
  };
  return commit_then_answer(
      d, ctx, std::move(op), forget_cached_session(d, id),
      [s] { return json_response(200, session_json(*s)); });
}

Result<HttpResponse> revoke_session(const Deps& d, RequestContext& ctx) {
  const std::int64_t now = d.clock.now_seconds();
  const std::string id = ctx.params[0];
  const store::AuditEvent audit = ctx.audit("SESSION_REVOKED", now);
  auto op = [=](store::WriteTxn& tx) {
    WARDEN_ASSIGN_OR_RETURN(auto s, tx.get_session(id));
    if (!s) return Status(ErrorCode::SESSION_NOT_FOUND);
    if (s->revoked_at) return Status();  // idempotent
    s->revoked_at = now;
    WARDEN_RETURN_IF_ERROR(tx.update_session(*s));
    store::AuditEvent e = audit;
    e.agent_id = s->agent_id;
    e.session_id = s->id;
    return tx.append_audit(e).take_status();
  };
  return commit_then_answer(
      d, ctx, std::move(op), forget_cached_session(d, id),
      no_content);
}

}  // namespace warden::server
