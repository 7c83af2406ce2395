// Agent sessions: issue (master), read, renew (the session itself), revoke (master).
#include <boost/json/serialize.hpp>
#include <memory>

#include "core/enums.h"
#include "core/json.h"
#include "server/auth.h"
#include "server/body.h"
#include "server/log.h"
#include "server/routes.h"
#include "server/session_constraints.h"
#include "server/session_tokens.h"

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

// Signs the token for a session expiring at exp; sign() may rotate the key (its own store
// write), so this runs before the session's transaction, never inside it.
Result<SignedToken> sign_session(const Deps& d, const store::SessionRow& s, std::int64_t exp,
                                 std::optional<std::string> org) {
  JwtClaims c;
  c.sub = s.agent_id;
  c.sid = s.id;
  c.org = std::move(org);
  c.iat = d.clock.now_seconds();
  c.nbf = c.iat;
  c.exp = exp;
  c.jti = d.ids.next();
  return d.session_keys->sign(c);
}

// A key must verify every token it signed until that token expires (with the leeway).
std::int64_t key_needed_until(const Deps& d, std::int64_t exp) {
  return exp + d.session_keys->options().leeway_seconds;
}

AfterCommit note_signed(const Deps& d, std::string kid, std::int64_t until, AfterCommit then) {
  return [keys = d.session_keys, kid = std::move(kid), until, then](Status committed) {
    if (committed.ok()) keys->signed_until(kid, until);
    return then ? then(std::move(committed)) : committed;
  };
}

}  // namespace

Result<HttpResponse> get_jwks(const Deps& d, RequestContext&) {
  HttpResponse r;
  r.body = d.session_keys->jwks();
  // Verifiers may cache for a minute: a new key is published before it signs anything that
  // must verify elsewhere only as fast as this, which is why retired keys overlap by 15 minutes.
  r.headers.emplace_back("Cache-Control", "public, max-age=60");
  return r;
}

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

  store::SessionRow s;
  s.id = d.ids.next();
  s.agent_id = agent_id;
  s.created_at = d.clock.now_seconds();
  s.expires_at = s.created_at + ttl_s;
  s.absolute_expires_at = s.created_at + abs_s;
  s.max_renewals = renewals;
  s.role = role.value_or("agent");
  if (!constraints.empty()) s.constraints = canonical_json(session_constraints_json(constraints));
  // The org claim is read here; the transaction checks the agent again. An org admin opens
  // sessions only for its org's agents: its tenant reader has no other, so another org's agent
  // looks missing.
  const std::optional<std::string> org_admin_org = ctx.org_admin_org;
  const ScopedReader reader(d.store, org_admin_org);
  WARDEN_ASSIGN_OR_RETURN(auto agent_now, reader->get_agent(agent_id));
  if (!agent_now) return Status(ErrorCode::AGENT_NOT_FOUND);
  WARDEN_ASSIGN_OR_RETURN(SignedToken signed_token,
                          sign_session(d, s, s.expires_at, agent_now->org));
  const std::string token = signed_token.token;
  const std::string kid = signed_token.kid;
  const std::int64_t key_until = key_needed_until(d, s.expires_at);
  s.token_hash = token_hash(token);

  store::AuditEvent e = ctx.audit("SESSION_CREATED", s.created_at);
  e.agent_id = s.agent_id;
  e.session_id = s.id;
  json::object details{{"ttl_s", ttl_s}, {"absolute_ttl_s", abs_s}, {"max_renewals", renewals},
                       {"role", s.role}};
  if (!constraints.empty()) details["constraints"] = session_constraints_json(constraints);
  e.details = json::serialize(details);
  auto op = [s, e, kid, key_until, org_admin_org](store::WriteTxn& tx) {
    WARDEN_ASSIGN_OR_RETURN(auto agent, agent_for(tx, s.agent_id, org_admin_org));
    if (!agent) return Status(ErrorCode::AGENT_NOT_FOUND);
    if (agent->status != "ACTIVE") return Status(ErrorCode::AGENT_NOT_ACTIVE);
    WARDEN_RETURN_IF_ERROR(tx.insert_session(s));
    WARDEN_RETURN_IF_ERROR(tx.extend_signing_key(kid, key_until));
    return tx.append_audit(e).take_status();
  };
  return commit_then_answer(d, ctx, std::move(op), note_signed(d, kid, key_until, {}), [s, token] {
    json::object out = session_json(s);
    out["token"] = token;  // shown once; only its hash is stored
    return json_response(201, out);
  });
}

Result<HttpResponse> get_current_session(const Deps&, RequestContext& ctx) {
  return json_response(200, session_json(*ctx.session));
}

Result<HttpResponse> get_session(const Deps& d, RequestContext& ctx) {
  const ScopedReader reader(d.store, ctx.org_admin_org);
  WARDEN_ASSIGN_OR_RETURN(auto s, reader->get_session(ctx.params[0]));
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
  // The renewed token carries the new expiry; the same rule as in the transaction below, from
  // the row this request authenticated with.
  const store::SessionRow& before = *ctx.session;
  const std::int64_t new_exp =
      std::min(now + before.expires_at - before.last_renewed_at.value_or(before.created_at),
               before.absolute_expires_at);
  std::optional<SignedToken> renewed;
  if (before.renewal_count < before.max_renewals && now < before.absolute_expires_at) {
    WARDEN_ASSIGN_OR_RETURN(renewed, sign_session(d, before, new_exp, ctx.agent->org));
  }
  const std::string token = renewed ? renewed->token : std::string();
  const std::string kid = renewed ? renewed->kid : std::string();
  const std::int64_t key_until = key_needed_until(d, new_exp);
  auto s = std::make_shared<store::SessionRow>();
  auto op = [=](store::WriteTxn& tx) {
    WARDEN_ASSIGN_OR_RETURN(auto current, tx.get_session(id));
    if (!current) return Status(ErrorCode::SESSION_NOT_FOUND);
    *s = *current;
    if (s->renewal_count >= s->max_renewals) return Status(ErrorCode::SESSION_RENEWAL_LIMIT);
    if (now >= s->absolute_expires_at) return Status(ErrorCode::SESSION_ABSOLUTE_EXPIRED);
    // The session keeps the length it was issued with, never past its absolute expiry.
    const std::int64_t ttl_s = s->expires_at - s->last_renewed_at.value_or(s->created_at);
    // Computed as for the token (same ttl and instant), so row and token agree; the token's
    // value wins should a concurrent renewal have moved the row.
    s->expires_at = std::min(now + ttl_s, s->absolute_expires_at);
    if (token.empty()) return Status(ErrorCode::SESSION_RENEWAL_LIMIT);
    s->expires_at = new_exp;
    s->renewal_count += 1;
    s->last_renewed_at = now;
    s->token_hash = token_hash(token);
    WARDEN_RETURN_IF_ERROR(tx.update_session(*s));
    WARDEN_RETURN_IF_ERROR(tx.extend_signing_key(kid, key_until));
    store::AuditEvent e = audit;
    e.details = json::serialize(json::object{{"renewal_count", s->renewal_count}});
    return tx.append_audit(e).take_status();
  };
  return commit_then_answer(d, ctx, std::move(op),
                            note_signed(d, kid, key_until, forget_cached_session(d, id)),
                            [s, token] {
                              json::object out = session_json(*s);
                              out["token"] = token;  // the renewed token, with the new expiry
                              return json_response(200, out);
                            });
}

Result<HttpResponse> revoke_session(const Deps& d, RequestContext& ctx) {
  const std::int64_t now = d.clock.now_seconds();
  const std::string id = ctx.params[0];
  const store::AuditEvent audit = ctx.audit("SESSION_REVOKED", now);
  auto until = std::make_shared<std::int64_t>(0);
  auto op = [=, org = ctx.org_admin_org](store::WriteTxn& tx) {
    WARDEN_ASSIGN_OR_RETURN(auto s, tx.get_session(id));
    if (!s) return Status(ErrorCode::SESSION_NOT_FOUND);
    if (org) {  // an org admin revokes its org's agents' sessions; another's is unknown
      WARDEN_ASSIGN_OR_RETURN(auto agent, agent_for(tx, s->agent_id, org));
      if (!agent) return Status(ErrorCode::SESSION_NOT_FOUND);
    }
    *until = s->absolute_expires_at;
    if (s->revoked_at) return Status();  // idempotent
    s->revoked_at = now;
    WARDEN_RETURN_IF_ERROR(tx.update_session(*s));
    store::AuditEvent e = audit;
    e.agent_id = s->agent_id;
    e.session_id = s->id;
    return tx.append_audit(e).take_status();
  };
  AfterCommit forget = forget_cached_session(d, id);
  auto after = [revoked = d.revoked, feed = d.feed, id, until, forget](Status committed) {
    // Before the answer: once the client hears 204, no request with the token gets through.
    if (committed.ok()) {
      revoked->add(id, *until);
      // The other replicas' sets; a failed announcement does not undo the revocation.
      if (feed != nullptr) {
        if (Status sent = feed->publish(store::FeedTopic::kSessions, id); !sent.ok()) {
          log_event(LogLevel::kError, "announcing a session revocation to the replicas failed",
                    {{"session_id", id}, {"error", sent.to_string()}});
        }
      }
    }
    return forget(std::move(committed));
  };
  return commit_then_answer(d, ctx, std::move(op), std::move(after), no_content);
}

}  // namespace warden::server
