// POST /v1/webhooks/{provider}: payment events from a payment provider. The signature is the
// authentication (no master password, no session); the ledger service does the rest.
#include <boost/json/serialize.hpp>

#include "ledger/service.h"
#include "server/body.h"
#include "server/routes.h"
#include "server/webhook_signature.h"

namespace warden::server {
namespace json = boost::json;

namespace {

constexpr std::string_view kPaymentEventType = "payment.updated";

// A failed check of the body, as the sender sees it: WEBHOOK_PAYLOAD_INVALID naming the field
// (with `prefix` for a nested object) and the check's own code as details.reason.
Status payload_invalid(const Status& s, std::string_view prefix = {}) {
  if (s.code() == ErrorCode::WEBHOOK_PAYLOAD_INVALID) return s;
  json::object details = s.details();
  if (const auto* f = details.if_contains("field"); f != nullptr && f->is_string()) {
    details["field"] = std::string(prefix) + std::string(f->as_string());
  } else {
    details["field"] =
        prefix.empty() ? json::value(nullptr) : json::value(prefix.substr(0, prefix.size() - 1));
  }
  details["reason"] = error_code_name(s.code());
  return Status(ErrorCode::WEBHOOK_PAYLOAD_INVALID, s.message(), std::move(details));
}

Status field_invalid(std::string_view field, ErrorCode reason, std::string message) {
  return payload_invalid(field_error(reason, field, std::move(message)));
}

Result<std::string> required(const Body& body, std::string_view key, std::string_view prefix) {
  auto v = body.required_string(key);
  if (!v.ok()) return payload_invalid(v.status(), prefix);
  return std::move(v).value();
}

// {"id", "type": "payment.updated", "created", "data": {"payment_id", "owner", "amount",
// "currency", "status", "expires_at"?}}, every field read and nothing else allowed.
Result<ledger::PaymentEvent> parse_event(const std::string& provider, const std::string& text) {
  auto top = Body::parse(text, {"id", "type", "created", "data"});
  if (!top.ok()) return payload_invalid(top.status());
  ledger::PaymentEvent e;
  e.provider = provider;
  e.payload = text;
  WARDEN_ASSIGN_OR_RETURN(e.event_id, required(*top, "id", ""));
  WARDEN_ASSIGN_OR_RETURN(const std::string type, required(*top, "type", ""));
  if (type != kPaymentEventType) {
    return field_invalid("type", ErrorCode::VALIDATION_INVALID_VALUE,
                         "type must be " + std::string(kPaymentEventType));
  }
  auto created = top->optional_int("created");
  if (!created.ok()) return payload_invalid(created.status());
  if (!*created) {
    return field_invalid("created", ErrorCode::VALIDATION_MISSING_FIELD, "created is required");
  }
  if (**created <= 0) {
    return field_invalid("created", ErrorCode::VALIDATION_INVALID_VALUE,
                         "created must be a Unix time in seconds");
  }
  e.created = **created;
  auto data_object = top->optional_object("data");
  if (!data_object.ok()) return payload_invalid(data_object.status());
  if (!*data_object) {
    return field_invalid("data", ErrorCode::VALIDATION_MISSING_FIELD, "data is required");
  }
  auto data = Body::parse(json::serialize(**data_object),
                          {"payment_id", "owner", "amount", "currency", "status", "expires_at"});
  if (!data.ok()) return payload_invalid(data.status(), "data.");
  WARDEN_ASSIGN_OR_RETURN(e.payment_id, required(*data, "payment_id", "data."));
  WARDEN_ASSIGN_OR_RETURN(e.owner, required(*data, "owner", "data."));
  WARDEN_ASSIGN_OR_RETURN(const std::string amount, required(*data, "amount", "data."));
  auto parsed_amount = Amount::parse(amount);
  if (!parsed_amount.ok()) {
    return field_invalid("data.amount", ErrorCode::VALIDATION_INVALID_AMOUNT,
                         "data.amount: " + parsed_amount.status().message());
  }
  e.amount = *parsed_amount;
  WARDEN_ASSIGN_OR_RETURN(e.currency, required(*data, "currency", "data."));
  WARDEN_ASSIGN_OR_RETURN(e.status, required(*data, "status", "data."));
  auto expires_at = data->optional_int("expires_at");
  if (!expires_at.ok()) return payload_invalid(expires_at.status(), "data.");
  e.expires_at = *expires_at;
  WARDEN_RETURN_IF_ERROR(ledger::check_payment_event(e));
  return e;
}

// Answers `refusal` once its WEBHOOK_REJECTED audit row has committed. The row names the
// provider and why, never the secret or the signature.
Result<HttpResponse> reject(const Deps& d, const RequestContext& ctx, const std::string& provider,
                            Status refusal) {
  store::AuditEvent audit = ctx.audit("WEBHOOK_REJECTED", d.clock.now_seconds());
  audit.severity = "warning";
  json::object details = refusal.details();
  details["provider"] = provider;
  details["code"] = error_code_name(refusal.code());
  audit.details = canonical_json(details);
  auto op = [audit = std::move(audit)](store::WriteTxn& tx) {
    return tx.append_audit(audit).take_status();
  };
  auto answer = [refusal = std::move(refusal)](Status committed) {
    return committed.ok() ? refusal : committed;
  };
  return commit_then_answer(d, ctx, std::move(op), std::move(answer), no_content);
}

}  // namespace

Result<HttpResponse> receive_webhook(const Deps& d, RequestContext& ctx) {
  const std::string& provider = ctx.params[0];
  const auto secret =
      valid_webhook_provider(provider) ? d.webhook_secrets.find(provider) : d.webhook_secrets.end();
  if (secret == d.webhook_secrets.end()) {
    return Status(ErrorCode::WEBHOOK_PROVIDER_UNKNOWN, "no webhook secret is configured for it");
  }
  if (Status s = verify_webhook_signature(ctx.req.header("warden-signature"), ctx.req.body,
                                          secret->second, d.clock.now_seconds());
      !s.ok()) {
    return reject(d, ctx, provider, std::move(s));
  }
  auto event = parse_event(provider, ctx.req.body);
  if (!event.ok()) return reject(d, ctx, provider, event.take_status());
  ledger::Caller caller{"webhook:" + provider, ctx.correlation_id, ctx.req.client_address};
  // The service answers from the writer's thread, after the commit; the response is built on
  // the connection's own.
  d.ledger.payment_event(std::move(event).value(), caller,
                         [complete = ctx.complete](Result<ledger::Answer> r) {
                           complete->later([complete, r = std::move(r)]() mutable {
                             if (!r.ok()) return (*complete)(r.take_status());
                             (*complete)(json_response(r->status, r->body));
                           });
                         });
  return deferred();
}

}  // namespace warden::server
