// Transactions (wallet-shaped requests), generic decisions, settlement and approvals.
#include <boost/json/serialize.hpp>

#include "core/enums.h"
#include "core/json.h"
#include "engine/ir.h"
#include "server/body.h"
#include "decisions/decisions.h"
#include "server/routes.h"
#include "server/session_constraints.h"

namespace warden::server {
namespace json = boost::json;
using decisions::Actor;
using decisions::Answer;
using decisions::Submission;
using decisions::transaction_json;

namespace {

constexpr std::size_t kIdempotencyKeyBytesMax = 128;
constexpr std::size_t kFieldBytesMax = 256;
constexpr std::size_t kActionBytesMax = 64;
constexpr std::int64_t kWaitSecondsMax = 60;

Actor actor_of(const RequestContext& ctx) {
  Actor a;
  a.master = ctx.master;
  if (ctx.session) {
    a.agent_id = ctx.session->agent_id;
    a.session_id = ctx.session->id;
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

Status require(bool present, std::string_view field, std::string_view type) {
  if (present) return Status();
  return field_error(ErrorCode::VALIDATION_MISSING_FIELD, field,
                     "field '" + std::string(field) + "' is required for " + std::string(type));
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

Result<Submission> wallet_submission(const RequestContext& ctx) {
  WARDEN_ASSIGN_OR_RETURN(
      Body body, Body::parse(ctx.req.body, {"type", "to", "amount", "token", "contract", "method",
                                            "spender", "network", "idempotency_key"}));
  Submission sub;
  store::TransactionRow& row = sub.row;
  WARDEN_ASSIGN_OR_RETURN(row.type, body.required_string("type"));
  if (row.type == "DECISION" || !is_one_of(kTransactionTypes, row.type)) {
    return field_error(ErrorCode::VALIDATION_INVALID_VALUE, "type",
                       "type must be TRANSFER, TOKEN_TRANSFER, CONTRACT_CALL, APPROVE or BATCH");
  }
  WARDEN_ASSIGN_OR_RETURN(auto amount, optional_amount(body, "amount"));
  WARDEN_ASSIGN_OR_RETURN(row.to_address, body.optional_string("to"));
  WARDEN_ASSIGN_OR_RETURN(row.token_mint, body.optional_string("token"));
  WARDEN_ASSIGN_OR_RETURN(row.contract_address, body.optional_string("contract"));
  WARDEN_ASSIGN_OR_RETURN(row.method_signature, body.optional_string("method"));
  WARDEN_ASSIGN_OR_RETURN(row.spender_address, body.optional_string("spender"));
  WARDEN_ASSIGN_OR_RETURN(auto network, body.optional_string("network"));
  WARDEN_ASSIGN_OR_RETURN(sub.idempotency_key, body.optional_string("idempotency_key"));
  for (auto [v, name] : {std::pair{&row.to_address, "to"}, {&row.token_mint, "token"},
                         {&row.contract_address, "contract"}, {&row.method_signature, "method"},
                         {&row.spender_address, "spender"}}) {
    WARDEN_RETURN_IF_ERROR(check_length(name, *v, 1, kFieldBytesMax));
  }
  WARDEN_RETURN_IF_ERROR(check_length("idempotency_key", sub.idempotency_key, 1, kIdempotencyKeyBytesMax));
  const std::string& t = row.type;
  if (t == "TRANSFER" || t == "TOKEN_TRANSFER") WARDEN_RETURN_IF_ERROR(require(row.to_address.has_value(), "to", t));
  if (t == "TRANSFER" || t == "TOKEN_TRANSFER" || t == "APPROVE") WARDEN_RETURN_IF_ERROR(require(amount.has_value(), "amount", t));
  if (t == "TOKEN_TRANSFER") WARDEN_RETURN_IF_ERROR(require(row.token_mint.has_value(), "token", t));
  if (t == "CONTRACT_CALL") WARDEN_RETURN_IF_ERROR(require(row.contract_address.has_value(), "contract", t));
  if (t == "APPROVE") WARDEN_RETURN_IF_ERROR(require(row.spender_address.has_value(), "spender", t));
  const std::string net = network.value_or(ctx.agent->network);
  if (!is_one_of(kNetworkTypes, net)) {
    return field_error(ErrorCode::VALIDATION_INVALID_VALUE, "network", "unknown network '" + net + "'");
  }

  engine::Request& req = sub.request;
  req.action = t;
  auto set_attr = [&](const char* key, const std::optional<std::string>& v) {
    if (v) req.attributes[key] = *v;
  };
  set_attr("to", row.to_address);
  set_attr("token", row.token_mint);
  set_attr("contract", row.contract_address);
  set_attr("method", row.method_signature);
  set_attr("spender", row.spender_address);
  req.attributes["network"] = net;
  req.attributes["chain"] = ctx.agent->chain;
  if (amount) {
    row.amount = amount->to_string();
    req.attributes["amount"] = *row.amount;
    if (t == "APPROVE") {
      row.approved_amount = row.amount;  // an allowance, not a spend
    } else {
      const std::string asset = t == "TOKEN_TRANSFER" ? engine::normalize_address(*row.token_mint) : "native";
      req.amounts[asset] = *amount;
      row.reserved_amount = row.amount;
    }
  }
  row.chain = ctx.agent->chain;
  row.metadata = json::serialize(json::object{{"network", net}});
  if (sub.idempotency_key) sub.request_hash = canonical_hash(body.object());  // only compared then
  return sub;
}

Result<Submission> generic_submission(const RequestContext& ctx) {
  WARDEN_ASSIGN_OR_RETURN(
      Body body, Body::parse(ctx.req.body, {"action", "attributes", "amounts", "idempotency_key"}));
  Submission sub;
  WARDEN_ASSIGN_OR_RETURN(sub.request.action, body.required_string("action"));
  WARDEN_RETURN_IF_ERROR(check_length("action", sub.request.action, 1, kActionBytesMax));
  WARDEN_ASSIGN_OR_RETURN(auto attributes, body.optional_object("attributes"));
  WARDEN_ASSIGN_OR_RETURN(auto amounts, body.optional_object("amounts"));
  WARDEN_ASSIGN_OR_RETURN(sub.idempotency_key, body.optional_string("idempotency_key"));
  WARDEN_RETURN_IF_ERROR(check_length("idempotency_key", sub.idempotency_key, 1, kIdempotencyKeyBytesMax));
  if (attributes) sub.request.attributes = *attributes;
  json::object amounts_json;
  if (amounts) {
    for (const auto& kv : *amounts) {
      const std::string field = "amounts." + std::string(kv.key());
      if (!kv.value().is_string()) {
        return field_error(ErrorCode::VALIDATION_WRONG_TYPE, field, "amounts are decimal strings");
      }
      auto a = Amount::parse(kv.value().as_string());
      if (!a.ok()) return field_error(ErrorCode::VALIDATION_INVALID_AMOUNT, field, a.status().message());
      sub.request.amounts[std::string(kv.key())] = *a;
      amounts_json[kv.key()] = a->to_string();
    }
  }
  store::TransactionRow& row = sub.row;
  row.type = "DECISION";
  row.chain = ctx.agent->chain;
  if (sub.request.amounts.size() == 1) {
    row.amount = row.reserved_amount = sub.request.amounts.begin()->second.to_string();
  }
  row.metadata = json::serialize(json::object{{"action", sub.request.action},
                                              {"attributes", sub.request.attributes},
                                              {"amounts", amounts_json}});
  if (sub.idempotency_key) sub.request_hash = canonical_hash(body.object());  // only compared then
  return sub;
}

Result<HttpResponse> submit(const Deps& d, RequestContext& ctx, Result<Submission> parsed) {
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

Result<HttpResponse> approval_decision(const Deps& d, RequestContext& ctx, bool approve) {
  if (!ctx.req.body.empty()) WARDEN_RETURN_IF_ERROR(Body::parse(ctx.req.body, {}).take_status());
  d.decisions.decide_approval(ctx.params[0], actor_of(ctx), approve, respond_json(ctx, 200));
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
  if (wait == 0) {
    WARDEN_ASSIGN_OR_RETURN(auto body, d.decisions.get(ctx.params[0], actor_of(ctx)));
    return json_response(200, body);
  }
  d.decisions.wait(ctx.params[0], actor_of(ctx), wait, respond_json(ctx, 200));
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
  d.decisions.cancel(ctx.params[0], actor_of(ctx), respond_json(ctx, 200));
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
  WARDEN_ASSIGN_OR_RETURN(auto items, d.decisions.list_approvals(pending_only, page));
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
