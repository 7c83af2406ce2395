// Gateway API keys of an agent: issue (the secret is shown once, only its SHA-256 is stored, as
// for session tokens), list without secrets, revoke. Master only.
#include <boost/json/serialize.hpp>
#include <memory>

#include "server/auth.h"
#include "server/body.h"
#include "server/routes.h"

namespace warden::server {
namespace json = boost::json;

namespace {

constexpr std::string_view kApiKeyScheme = "wk_";
constexpr std::size_t kApiKeyNameBytesMax = 128;

json::object api_key_json(const store::ApiKeyRow& k) {
  json::object o;
  o["id"] = k.id;
  o["agent_id"] = k.agent_id;
  o["name"] = nullable(k.name);
  o["prefix"] = k.prefix;
  o["created_at"] = format_rfc3339(k.created_at);
  o["revoked_at"] = nullable_time(k.revoked_at);
  o["last_used_at"] = nullable_time(k.last_used_at);
  return o;
}

Status key_not_found(std::string_view key_id) {
  // Another agent's key is answered exactly like a missing one.
  return Status(ErrorCode::API_KEY_NOT_FOUND,
                "no API key with id " + std::string(key_id) + " for this agent");
}

}  // namespace

Result<HttpResponse> create_api_key(const Deps& d, RequestContext& ctx) {
  WARDEN_ASSIGN_OR_RETURN(Body body,
                          Body::parse(ctx.req.body.empty() ? "{}" : ctx.req.body, {"name"}));
  store::ApiKeyRow k;
  WARDEN_ASSIGN_OR_RETURN(k.name, body.optional_string("name"));
  WARDEN_RETURN_IF_ERROR(check_printable("name", k.name, kApiKeyNameBytesMax));
  IssuedKey issued = issue_key(kApiKeyScheme);
  const std::string secret = std::move(issued.secret);
  k.id = d.ids.next();
  k.agent_id = ctx.params[0];
  k.key_hash = std::move(issued.hash);
  k.prefix = std::move(issued.prefix);
  k.created_at = d.clock.now_seconds();

  store::AuditEvent e = ctx.audit("API_KEY_CREATED", k.created_at);
  e.agent_id = k.agent_id;
  e.details = json::serialize(
      json::object{{"api_key_id", k.id}, {"prefix", k.prefix}, {"name", nullable(k.name)}});
  auto op = [k, e](store::WriteTxn& tx) {
    WARDEN_ASSIGN_OR_RETURN(auto agent, tx.get_agent(k.agent_id));
    if (!agent) return Status(ErrorCode::AGENT_NOT_FOUND);
    if (agent->status != "ACTIVE") return Status(ErrorCode::AGENT_NOT_ACTIVE);
    WARDEN_RETURN_IF_ERROR(tx.insert_api_key(k));
    return tx.append_audit(e).take_status();
  };
  return commit_then_answer(d, ctx, std::move(op), {}, [k, secret] {
    json::object out = api_key_json(k);
    out["key"] = secret;  // shown once; only its hash is stored
    return json_response(201, out);
  });
}

Result<HttpResponse> list_api_keys(const Deps& d, RequestContext& ctx) {
  WARDEN_ASSIGN_OR_RETURN(store::Page page, page_from_query(ctx.req, 50, 200));
  const std::string& agent_id = ctx.params[0];
  WARDEN_ASSIGN_OR_RETURN(auto agent, d.store.get_agent(agent_id));
  if (!agent) return Status(ErrorCode::AGENT_NOT_FOUND);
  WARDEN_ASSIGN_OR_RETURN(auto rows, d.store.list_api_keys(agent_id, page));
  return json_response(200, page_json(rows, page.limit, api_key_json));
}

Result<HttpResponse> revoke_api_key(const Deps& d, RequestContext& ctx) {
  const std::int64_t now = d.clock.now_seconds();
  const std::string agent_id = ctx.params[0];
  const std::string key_id = ctx.params[1];
  const store::AuditEvent audit = ctx.audit("API_KEY_REVOKED", now);
  auto op = [=](store::WriteTxn& tx) {
    WARDEN_ASSIGN_OR_RETURN(auto agent, tx.get_agent(agent_id));
    if (!agent) return Status(ErrorCode::AGENT_NOT_FOUND);
    WARDEN_ASSIGN_OR_RETURN(auto key, tx.get_api_key(key_id));
    if (!key || key->agent_id != agent_id) return key_not_found(key_id);
    if (key->revoked_at) return Status();  // idempotent: the first revocation stands
    key->revoked_at = now;
    WARDEN_RETURN_IF_ERROR(tx.update_api_key(*key));
    store::AuditEvent e = audit;
    e.agent_id = agent_id;
    e.details = json::serialize(json::object{{"api_key_id", key_id}, {"prefix", key->prefix}});
    return tx.append_audit(e).take_status();
  };
  return commit_then_answer(d, ctx, std::move(op), {}, no_content);
}

}  // namespace warden::server
