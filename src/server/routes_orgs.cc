// Organizations (tenants) and their admin keys: create, list, read, soft delete; issue an admin
// key (shown once, only its SHA-256 stored, like gateway API keys) and revoke it. Master only,
// except GET /v1/orgs/{id}, which an org admin may call for its own org.
//
#include <boost/json/serialize.hpp>
#include <memory>

#include "server/auth.h"
#include "server/body.h"
#include "server/routes.h"

namespace warden::server {
namespace json = boost::json;

namespace {

constexpr std::size_t kOrgNameBytesMax = 128;
constexpr std::size_t kOrgKeyNameBytesMax = 128;

json::object org_json(const store::OrgRow& o) {
  json::object j;
  j["id"] = o.id;
  j["name"] = o.name;
  j["created_at"] = format_rfc3339(o.created_at);
  j["deleted_at"] = nullable_time(o.deleted_at);
  return j;
}

json::object org_admin_key_json(const store::OrgAdminKeyRow& k) {
  json::object j;
  j["id"] = k.id;
  j["org_id"] = k.org_id;
  j["name"] = nullable(k.name);
  j["prefix"] = k.prefix;
  j["created_at"] = format_rfc3339(k.created_at);
  j["revoked_at"] = nullable_time(k.revoked_at);
  return j;
}

Status org_not_found(std::string_view id) {
  return Status(ErrorCode::ORG_NOT_FOUND, "no organization with id " + std::string(id));
}

// A live org, read inside the write.
Result<store::OrgRow> live_org(store::WriteTxn& tx, const std::string& id) {
  WARDEN_ASSIGN_OR_RETURN(auto org, tx.get_org(id));
  if (!org || org->deleted_at) return org_not_found(id);
  return *org;
}

Status map_org_constraint(Status s) {
  if (s.code() == ErrorCode::STORE_CONSTRAINT && s.message().find("name") != std::string::npos) {
    return field_error(ErrorCode::ORG_NAME_EXISTS, "name",
                       "an organization with this name exists (deleted ones included)");
  }
  return s;
}

}  // namespace

Status check_agent_org(store::WriteTxn& tx, const std::optional<std::string>& org) {
  if (!org) return Status();
  WARDEN_ASSIGN_OR_RETURN(auto row, tx.get_org(*org));
  if (!row || row->deleted_at) {
    return field_error(ErrorCode::VALIDATION_INVALID_VALUE, "org",
                       "org must be the id of an existing organization");
  }
  return Status();
}

Result<HttpResponse> create_org(const Deps& d, RequestContext& ctx) {
  WARDEN_ASSIGN_OR_RETURN(Body body, Body::parse(ctx.req.body, {"name"}));
  store::OrgRow o;
  WARDEN_ASSIGN_OR_RETURN(o.name, body.required_string("name"));
  WARDEN_RETURN_IF_ERROR(check_printable("name", o.name, kOrgNameBytesMax));
  o.id = d.ids.next();
  o.created_at = d.clock.now_seconds();
  store::AuditEvent e = ctx.audit("ORG_CREATED", o.created_at);
  e.details = json::serialize(json::object{{"org_id", o.id}, {"name", o.name}});
  return commit_then_answer(
      d, ctx,
      [o, e](store::WriteTxn& tx) {
        WARDEN_RETURN_IF_ERROR(tx.insert_org(o));
        return tx.append_audit(e).take_status();
      },
      map_org_constraint, [o] { return json_response(201, org_json(o)); });
}

Result<HttpResponse> list_orgs(const Deps& d, RequestContext& ctx) {
  WARDEN_ASSIGN_OR_RETURN(store::Page page, page_from_query(ctx.req, 50, 200));
  WARDEN_ASSIGN_OR_RETURN(auto rows, d.store.list_orgs(page));
  return json_response(200, page_json(rows, page.limit, org_json));
}

Result<HttpResponse> get_org(const Deps& d, RequestContext& ctx) {
  const std::string& id = ctx.params[0];
  // An org admin's tenant reader holds its own org only; another id looks exactly like a missing
  // one.
  const ScopedReader reader(d.store, ctx.org_admin_org);
  WARDEN_ASSIGN_OR_RETURN(auto org, reader->get_org(id));
  if (!org || org->deleted_at) return org_not_found(id);
  return json_response(200, org_json(*org));
}

Result<HttpResponse> delete_org(const Deps& d, RequestContext& ctx) {
  const std::int64_t now = d.clock.now_seconds();
  const std::string id = ctx.params[0];
  const store::AuditEvent audit = ctx.audit("ORG_DELETED", now);
  auto op = [=](store::WriteTxn& tx) {
    WARDEN_ASSIGN_OR_RETURN(auto org, tx.get_org(id));
    if (!org) return org_not_found(id);
    if (org->deleted_at) return Status();  // idempotent: the first deletion stands
    WARDEN_ASSIGN_OR_RETURN(auto agents, tx.list_org_agents(id, store::Page{std::nullopt, 1}));
    if (!agents.empty()) {
      return Status(ErrorCode::ORG_HAS_AGENTS,
                    "organization " + id + " still has agents; move or clear their org first");
    }
    org->deleted_at = now;
    WARDEN_RETURN_IF_ERROR(tx.update_org(*org));
    store::AuditEvent e = audit;
    e.details = json::serialize(json::object{{"org_id", id}, {"name", org->name}});
    return tx.append_audit(e).take_status();
  };
  return commit_then_answer(d, ctx, std::move(op), {}, no_content);
}

Result<HttpResponse> create_org_admin_key(const Deps& d, RequestContext& ctx) {
  WARDEN_ASSIGN_OR_RETURN(Body body,
                          Body::parse(ctx.req.body.empty() ? "{}" : ctx.req.body, {"name"}));
  store::OrgAdminKeyRow k;
  WARDEN_ASSIGN_OR_RETURN(k.name, body.optional_string("name"));
  WARDEN_RETURN_IF_ERROR(check_printable("name", k.name, kOrgKeyNameBytesMax));
  IssuedKey issued = issue_key(kOrgAdminKeyScheme);
  const std::string secret = std::move(issued.secret);
  k.id = d.ids.next();
  k.org_id = ctx.params[0];
  k.key_hash = std::move(issued.hash);
  k.prefix = std::move(issued.prefix);
  k.created_at = d.clock.now_seconds();
  store::AuditEvent e = ctx.audit("ORG_ADMIN_KEY_CREATED", k.created_at);
  e.details = json::serialize(json::object{
      {"org_id", k.org_id}, {"key_id", k.id}, {"prefix", k.prefix}, {"name", nullable(k.name)}});
  auto op = [k, e](store::WriteTxn& tx) {
    WARDEN_RETURN_IF_ERROR(live_org(tx, k.org_id).take_status());
    WARDEN_RETURN_IF_ERROR(tx.insert_org_admin_key(k));
    return tx.append_audit(e).take_status();
  };
  return commit_then_answer(d, ctx, std::move(op), {}, [k, secret] {
    json::object out = org_admin_key_json(k);
    out["key"] = secret;  // shown once; only its hash is stored
    return json_response(201, out);
  });
}

Result<HttpResponse> revoke_org_admin_key(const Deps& d, RequestContext& ctx) {
  const std::int64_t now = d.clock.now_seconds();
  const std::string org_id = ctx.params[0];
  const std::string key_id = ctx.params[1];
  const store::AuditEvent audit = ctx.audit("ORG_ADMIN_KEY_REVOKED", now);
  auto op = [=](store::WriteTxn& tx) {
    WARDEN_ASSIGN_OR_RETURN(auto org, tx.get_org(org_id));
    if (!org) return org_not_found(org_id);
    WARDEN_ASSIGN_OR_RETURN(auto key, tx.get_org_admin_key(key_id));
    // Another org's key is answered exactly like a missing one.
    if (!key || key->org_id != org_id) {
      return Status(ErrorCode::API_KEY_NOT_FOUND,
                    "no admin key with id " + key_id + " for this organization");
    }
    if (key->revoked_at) return Status();  // idempotent: the first revocation stands
    key->revoked_at = now;
    WARDEN_RETURN_IF_ERROR(tx.update_org_admin_key(*key));
    store::AuditEvent e = audit;
    e.details = json::serialize(
        json::object{{"org_id", org_id}, {"key_id", key_id}, {"prefix", key->prefix}});
    return tx.append_audit(e).take_status();
  };
  return commit_then_answer(d, ctx, std::move(op), {}, no_content);
}

}  // namespace warden::server
