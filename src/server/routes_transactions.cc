// Transactions (wallet-shaped requests), generic decisions, settlement and approvals.

#include "core/json.h"
#include "decisions/decisions.h"
#include "engine/request_mapping.h"
#include "server/body.h"
#include "server/routes.h"
#include "server/session_constraints.h"

namespace warden::server {
namespace json = boost::json;
using decisions::Actor;
using decisions::Answer;
using decisions::Submission;
using decisions::submission_of;
using decisions::transaction_json;

namespace {

constexpr std::size_t kFieldBytesMax = 256;
constexpr std::int64_t kWaitSecondsMax = 60;

Actor actor_of(const RequestContext& ctx) {
  Actor a;
  a.master = ctx.master;
  if (ctx.session) {
    a.agent_id = ctx.session->agent_id;
    a.session_id = ctx.session->id;
    a.settlement = ctx.session->role == "settlement";
  }
  a.correlation_id = ctx.correlation_id;
  a.ip_address = ctx.req.client_address;
  return a;
}

Result<std::optional<Amount>> optional_amount(const Body& body, std::string_view key) {
  WARDEN_ASSIGN_OR_RETURN(auto text, body.optional_string(key));
  if (!text) return std::optional<Amount>();
  auto a = Amount::parse(*text);
  if (!a.ok()) {
    return field_error(ErrorCode::VALIDATION_INVALID_AMOUNT, key,
                       "field '" + std::string(key) + "': " + a.status().message());
  }
  return std::optional<Amount>(*a);
}

// Answers a deferred request with the service's result.
// The decision service answers from its writer thread; serialising the answer is left to the
// connection's own thread.
DecisionService::Changed respond_json(const RequestContext& ctx, int status) {
  return [complete = ctx.complete, status](Result<json::object> r) {
    complete->later([complete, status, r = std::move(r)]() mutable {
      if (!r.ok()) return (*complete)(r.take_status());
      (*complete)(json_response(status, *r));
    });
  };
}

DecisionService::Done respond_answer(const RequestContext& ctx) {
  return [complete = ctx.complete](Result<Answer> r) {
    complete->later([complete, r = std::move(r)]() mutable {
      if (!r.ok()) return (*complete)(r.take_status());
      HttpResponse resp = json_response(r->status, r->body);
      if (r->replay) resp.headers.emplace_back("Idempotent-Replay", "true");
      (*complete)(std::move(resp));
    });
  };
}

Result<bool> explain_flag(const HttpRequest& req) {
  auto it = req.query.find("explain");
  if (it == req.query.end() || it->second.empty() || it->second == "false") return false;
  if (it->second == "true") return true;
  return Status(ErrorCode::VALIDATION_INVALID_VALUE, "explain must be true or false");
}

engine::AgentContext agent_context(const RequestContext& ctx) {
  return {ctx.agent->chain, ctx.agent->network};
}

// The strict parse (unknown fields, duplicate keys) comes first; engine/request_mapping.h then
// checks each field for its type and canonicalises what policies match.
Result<Submission> wallet_submission(const RequestContext& ctx) {
  WARDEN_ASSIGN_OR_RETURN(
      Body body, Body::parse(ctx.req.body, {"type", "to", "amount", "token", "contract", "method",
                                            "spender", "network", "children", "idempotency_key"}));
  WARDEN_ASSIGN_OR_RETURN(engine::MappedRequest m,
                          engine::map_wallet_request(body.object(), agent_context(ctx)));
  return submission_of(std::move(m), body.object());
}

Result<Submission> generic_submission(const RequestContext& ctx) {
  WARDEN_ASSIGN_OR_RETURN(
      Body body, Body::parse(ctx.req.body, {"action", "attributes", "amounts", "idempotency_key"}));
  WARDEN_ASSIGN_OR_RETURN(engine::MappedRequest m,
                          engine::map_generic_request(body.object(), agent_context(ctx)));
  return submission_of(std::move(m), body.object());
}

Result<HttpResponse> submit(const Deps& d, RequestContext& ctx, Result<Submission> parsed) {
  // The executor's credential settles what the agent decided; it decides nothing itself.
  if (ctx.session->role == "settlement") {
    return Status(ErrorCode::AUTH_FORBIDDEN, "a settlement session cannot submit decisions");
  }
  if (!parsed.ok()) return parsed.take_status();
  WARDEN_ASSIGN_OR_RETURN(bool explain, explain_flag(ctx.req));
  Submission sub = std::move(parsed).value();
  WARDEN_RETURN_IF_ERROR(check_session_constraints(d, ctx, sub.request));
  sub.agent_id = ctx.session->agent_id;
  sub.session_id = ctx.session->id;
  sub.explain = explain;
  d.decisions.submit(std::move(sub), actor_of(ctx), respond_answer(ctx));
  return deferred();
}

Result<std::int64_t> wait_ms(const HttpRequest& req) {
  auto it = req.query.find("wait");
  if (it == req.query.end() || it->second.empty()) return 0;
  std::string v = it->second;
  if (v.back() == 's') v.pop_back();
  std::int64_t seconds = 0;
  if (v.empty() || v.size() > 3) {
    return Status(ErrorCode::VALIDATION_INVALID_VALUE, "wait must be like 30s (at most 60s)");
  }
  for (char c : v) {
    if (c < '0' || c > '9') return Status(ErrorCode::VALIDATION_INVALID_VALUE, "wait must be like 30s (at most 60s)");
    seconds = seconds * 10 + (c - '0');
  }
  if (seconds > kWaitSecondsMax) return Status(ErrorCode::VALIDATION_INVALID_VALUE, "wait is at most 60s");
  return seconds * 1000;
}

// An org admin acts on its org's agents' transactions and approvals only: another org's id is
// as unknown as a missing one (read through the tenant's reader); then it acts as the master.
Result<Actor> org_admin_actor(const Deps& d, RequestContext& ctx, bool approval) {
  Actor actor = actor_of(ctx);
  if (!ctx.org_admin_org) return actor;
  const ScopedReader reader(d.store, ctx.org_admin_org);
  if (approval) {
    WARDEN_ASSIGN_OR_RETURN(auto row, reader->get_approval(ctx.params[0]));
    if (!row) return Status(ErrorCode::APPROVAL_NOT_FOUND);
  } else {
    WARDEN_ASSIGN_OR_RETURN(auto row, reader->get_transaction(ctx.params[0]));
    if (!row) return Status(ErrorCode::TX_NOT_FOUND);
  }
  actor.master = true;
  return actor;
}

Result<HttpResponse> approval_decision(const Deps& d, RequestContext& ctx, bool approve) {
  if (!ctx.req.body.empty()) WARDEN_RETURN_IF_ERROR(Body::parse(ctx.req.body, {}).take_status());
  WARDEN_ASSIGN_OR_RETURN(Actor actor, org_admin_actor(d, ctx, true));
  d.decisions.decide_approval(ctx.params[0], actor, approve, respond_json(ctx, 200));
  return deferred();
}

}  // namespace

Result<HttpResponse> create_transaction(const Deps& d, RequestContext& ctx) {
  return submit(d, ctx, wallet_submission(ctx));
}

Result<HttpResponse> create_decision(const Deps& d, RequestContext& ctx) {
  return submit(d, ctx, generic_submission(ctx));
}

Result<HttpResponse> get_transaction(const Deps& d, RequestContext& ctx) {
  WARDEN_ASSIGN_OR_RETURN(const std::int64_t wait, wait_ms(ctx.req));
  WARDEN_ASSIGN_OR_RETURN(const Actor actor, org_admin_actor(d, ctx, false));
  if (wait == 0) {
    WARDEN_ASSIGN_OR_RETURN(auto body, d.decisions.get(ctx.params[0], actor));
    return json_response(200, body);
  }
  d.decisions.wait(ctx.params[0], actor, wait, respond_json(ctx, 200));
  return deferred();
}

Result<HttpResponse> confirm_transaction(const Deps& d, RequestContext& ctx) {
  WARDEN_ASSIGN_OR_RETURN(Body body, Body::parse(ctx.req.body.empty() ? "{}" : ctx.req.body,
                                                 {"final_amount", "tx_hash"}));
  WARDEN_ASSIGN_OR_RETURN(auto final_amount, optional_amount(body, "final_amount"));
  WARDEN_ASSIGN_OR_RETURN(auto tx_hash, body.optional_string("tx_hash"));
  WARDEN_RETURN_IF_ERROR(check_length("tx_hash", tx_hash, 1, kFieldBytesMax));
  d.decisions.confirm(ctx.params[0], actor_of(ctx), final_amount, tx_hash, respond_json(ctx, 200));
  return deferred();
}

Result<HttpResponse> fail_transaction(const Deps& d, RequestContext& ctx) {
  WARDEN_ASSIGN_OR_RETURN(Body body,
                          Body::parse(ctx.req.body.empty() ? "{}" : ctx.req.body, {"error"}));
  WARDEN_ASSIGN_OR_RETURN(auto error, body.optional_string("error"));
  WARDEN_RETURN_IF_ERROR(check_length("error", error, 1, 1024));
  d.decisions.fail(ctx.params[0], actor_of(ctx), error.value_or("failed"), respond_json(ctx, 200));
  return deferred();
}

Result<HttpResponse> cancel_transaction(const Deps& d, RequestContext& ctx) {
  if (!ctx.req.body.empty()) WARDEN_RETURN_IF_ERROR(Body::parse(ctx.req.body, {}).take_status());
  WARDEN_ASSIGN_OR_RETURN(const Actor actor, org_admin_actor(d, ctx, false));
  d.decisions.cancel(ctx.params[0], actor, respond_json(ctx, 200));
  return deferred();
}

Result<HttpResponse> list_approvals(const Deps& d, RequestContext& ctx) {
  WARDEN_ASSIGN_OR_RETURN(store::Page page, page_from_query(ctx.req, 50, 200));
  bool pending_only = false;
  if (auto it = ctx.req.query.find("status"); it != ctx.req.query.end() && !it->second.empty()) {
    if (it->second != "pending" && it->second != "all") {
      return Status(ErrorCode::VALIDATION_INVALID_VALUE, "status must be pending or all");
    }
    pending_only = it->second == "pending";
  }
  const ScopedReader reader(d.store, ctx.org_admin_org);
  WARDEN_ASSIGN_OR_RETURN(auto items, d.decisions.list_approvals(pending_only, page, reader.get()));
  json::array arr;
  for (auto& i : items) arr.push_back(std::move(i));
  json::object out;
  out["next_cursor"] = items.size() == page.limit && !arr.empty()
                           ? json::value(arr.back().as_object().at("id"))
                           : json::value(nullptr);
  out["items"] = std::move(arr);
  return json_response(200, out);
}

Result<HttpResponse> approve_approval(const Deps& d, RequestContext& ctx) {
  return approval_decision(d, ctx, true);
}

Result<HttpResponse> reject_approval(const Deps& d, RequestContext& ctx) {
  return approval_decision(d, ctx, false);
}

}  // namespace warden::server
