// The credit ledger over HTTP (docs/ledger.md): strict bodies and queries mapped onto the
// LedgerService, which checks the meaning, writes through the group-commit writer and answers
// after the commit.
#include <boost/json/serialize.hpp>

#include "ledger/service.h"
#include "server/body.h"
#include "server/routes.h"

namespace warden::server {
namespace json = boost::json;

namespace {

constexpr std::size_t kLotsLimitDefault = 50;
constexpr std::size_t kLotsLimitMax = 200;
constexpr std::int64_t kEntriesLimitDefault = 100;
constexpr std::int64_t kEntriesLimitMax = 1000;
constexpr std::int64_t kEntryIdMax = std::int64_t{1} << 62;

ledger::Caller caller_of(const RequestContext& ctx) {
  return {ctx.actor(), ctx.correlation_id, ctx.req.client_address};
}

// The service answers on the writer's thread once the write committed (or at once for a refusal
// or a replay); the response is built on the connection's thread. The body is moved into the
// value json_response serialises: passing the object itself copied it (2.7% of the I/O threads'
// samples under a debit load; docs/benchmarks.md, "Credit ledger over HTTP").
ledger::LedgerService::Done respond(const RequestContext& ctx) {
  return [complete = ctx.complete](Result<ledger::Answer> r) {
    complete->later([complete, r = std::move(r)]() mutable {
      if (!r.ok()) return (*complete)(r.take_status());
      HttpResponse resp = json_response(r->status, json::value(std::move(r->body)));
      if (r->replay) resp.headers.emplace_back("Idempotent-Replay", "true");
      (*complete)(std::move(resp));
    });
  };
}

Result<Amount> amount_of(std::string_view field, const std::string& text) {
  auto a = Amount::parse(text);
  if (!a.ok()) {
    return field_error(ErrorCode::VALIDATION_INVALID_AMOUNT, field,
                       "field '" + std::string(field) + "': " + a.status().message());
  }
  return *a;
}

Result<Amount> required_amount(const Body& body, std::string_view field) {
  WARDEN_ASSIGN_OR_RETURN(std::string text, body.required_string(field));
  return amount_of(field, text);
}

// One spelling per currency (a token address is lower-cased); what has none is passed on as
// given, for the service to refuse with LEDGER_CURRENCY_UNKNOWN.
std::string currency_of(const std::string& text) {
  return ledger::canonical_currency(text).value_or(text);
}

Status check_owner_exists(store::Reader& reader, const std::string& owner) {
  WARDEN_ASSIGN_OR_RETURN(auto agent, reader.get_agent(owner));
  if (!agent) {
    return field_error(ErrorCode::LEDGER_OWNER_UNKNOWN, "owner", "no agent " + owner);
  }
  return Status();
}

// ?owner= when given: a known agent (for an org admin, one of its org's).
Result<std::optional<std::string>> optional_owner(store::Reader& reader, const HttpRequest& req) {
  auto owner = query_text(req, "owner");
  if (owner) WARDEN_RETURN_IF_ERROR(check_owner_exists(reader, *owner));
  return owner;
}

Result<std::optional<std::string>> optional_currency(const HttpRequest& req) {
  auto text = query_text(req, "currency");
  if (!text) return std::optional<std::string>();
  auto currency = ledger::canonical_currency(*text);
  if (!currency) {
    return field_error(ErrorCode::LEDGER_CURRENCY_UNKNOWN, "currency",
                       "'" + *text + "' is not a currency");
  }
  return currency;
}

Result<json::object> hold_row_json(const store::HoldRow& row) {
  WARDEN_ASSIGN_OR_RETURN(ledger::Hold h, ledger::hold_from_row(row));
  std::optional<Amount> posted;
  if (row.posted_amount) {
    WARDEN_ASSIGN_OR_RETURN(posted, Amount::parse(*row.posted_amount));
  }
  json::object o = ledger::hold_json(h, row.status, posted);
  // What each lot gave is known in memory only while the hold is pending; the entries keep it.
  o.erase("portions");
  return o;
}

json::object entry_json(const store::LotEntryRow& e) {
  return {{"id", e.id},
          {"lot_id", e.lot_id},
          {"owner", e.owner},
          {"currency", e.currency},
          {"type", e.entry_type},
          {"amount", e.amount},
          {"op_id", e.op_id},
          {"hold_id", nullable(e.hold_id)},
          {"tx_id", nullable(e.tx_id)},
          {"created_at", e.created_at}};
}

}  // namespace

Result<HttpResponse> ledger_mint(const Deps& d, RequestContext& ctx) {
  WARDEN_ASSIGN_OR_RETURN(
      Body body, Body::parse(ctx.req.body, {"owner", "amount", "currency", "source", "payment_id",
                                            "expires_at", "idempotency_key"}));
  ledger::MintRequest req;
  WARDEN_ASSIGN_OR_RETURN(req.owner, body.required_string("owner"));
  WARDEN_ASSIGN_OR_RETURN(req.amount, required_amount(body, "amount"));
  WARDEN_ASSIGN_OR_RETURN(std::string currency, body.required_string("currency"));
  req.currency = currency_of(currency);
  WARDEN_ASSIGN_OR_RETURN(req.source, body.required_string("source"));
  WARDEN_ASSIGN_OR_RETURN(req.payment_id, body.optional_string("payment_id"));
  WARDEN_ASSIGN_OR_RETURN(req.expires_at, body.optional_int("expires_at"));
  WARDEN_ASSIGN_OR_RETURN(req.idempotency_key, body.required_string("idempotency_key"));
  d.ledger.mint(std::move(req), caller_of(ctx), respond(ctx));
  return deferred();
}

Result<HttpResponse> ledger_debit(const Deps& d, RequestContext& ctx) {
  WARDEN_ASSIGN_OR_RETURN(
      Body body, Body::parse(ctx.req.body, {"owner", "amount", "currency", "idempotency_key"}));
  ledger::DebitRequest req;
  WARDEN_ASSIGN_OR_RETURN(req.owner, body.required_string("owner"));
  WARDEN_ASSIGN_OR_RETURN(req.amount, required_amount(body, "amount"));
  WARDEN_ASSIGN_OR_RETURN(std::string currency, body.required_string("currency"));
  req.currency = currency_of(currency);
  WARDEN_ASSIGN_OR_RETURN(req.idempotency_key, body.required_string("idempotency_key"));
  d.ledger.debit(std::move(req), caller_of(ctx), respond(ctx));
  return deferred();
}

Result<HttpResponse> ledger_hold(const Deps& d, RequestContext& ctx) {
  WARDEN_ASSIGN_OR_RETURN(Body body, Body::parse(ctx.req.body, {"owner", "amount", "currency",
                                                                "ttl_seconds", "idempotency_key"}));
  ledger::HoldRequest req;
  WARDEN_ASSIGN_OR_RETURN(req.owner, body.required_string("owner"));
  WARDEN_ASSIGN_OR_RETURN(req.amount, required_amount(body, "amount"));
  WARDEN_ASSIGN_OR_RETURN(std::string currency, body.required_string("currency"));
  req.currency = currency_of(currency);
  WARDEN_ASSIGN_OR_RETURN(req.ttl_seconds, body.optional_int("ttl_seconds"));
  WARDEN_ASSIGN_OR_RETURN(req.idempotency_key, body.required_string("idempotency_key"));
  d.ledger.hold(std::move(req), caller_of(ctx), respond(ctx));
  return deferred();
}

Result<HttpResponse> ledger_post_hold(const Deps& d, RequestContext& ctx) {
  WARDEN_ASSIGN_OR_RETURN(Body body,
                          Body::parse(ctx.req.body.empty() ? "{}" : ctx.req.body, {"amount"}));
  WARDEN_ASSIGN_OR_RETURN(auto text, body.optional_string("amount"));
  std::optional<Amount> amount;
  if (text) {
    WARDEN_ASSIGN_OR_RETURN(amount, amount_of("amount", *text));
  }
  d.ledger.post(ctx.params[0], std::move(amount), caller_of(ctx), respond(ctx));
  return deferred();
}

Result<HttpResponse> ledger_void_hold(const Deps& d, RequestContext& ctx) {
  if (!ctx.req.body.empty()) WARDEN_RETURN_IF_ERROR(Body::parse(ctx.req.body, {}).take_status());
  d.ledger.void_hold(ctx.params[0], caller_of(ctx), respond(ctx));
  return deferred();
}

Result<HttpResponse> ledger_get_hold(const Deps& d, RequestContext& ctx) {
  const std::string& id = ctx.params[0];
  if (ctx.org_admin_org) {  // an org admin reads its org's agents' holds; another's is unknown
    const ScopedReader reader(d.store, ctx.org_admin_org);
    WARDEN_ASSIGN_OR_RETURN(auto row, reader->get_hold(id));
    if (!row) return Status(ErrorCode::LEDGER_HOLD_NOT_FOUND, "no hold " + id);
  }
  // One replica: the book has every pending hold. Several: another replica may have closed it.
  if (!d.ledger.shared_store()) {
    if (auto pending = d.ledger.book().find_hold(id)) {
      return json_response(200, ledger::hold_json(*pending, "pending"));
    }
  }
  WARDEN_ASSIGN_OR_RETURN(auto row, d.store.get_hold(id));
  if (!row) return Status(ErrorCode::LEDGER_HOLD_NOT_FOUND, "no hold " + id);
  WARDEN_ASSIGN_OR_RETURN(json::object body, hold_row_json(*row));
  return json_response(200, body);
}

// Master: any owner. An agent's session: its own balances only.
Result<HttpResponse> ledger_balances(const Deps& d, RequestContext& ctx) {
  const auto owner = query_text(ctx.req, "owner");
  if (!owner) {
    return field_error(ErrorCode::VALIDATION_MISSING_FIELD, "owner",
                       "query parameter 'owner' is required");
  }
  if (ctx.org_admin_org) {
    // An org admin reads its org's agents' balances: another org's agent is an unknown owner.
    const ScopedReader reader(d.store, ctx.org_admin_org);
    WARDEN_ASSIGN_OR_RETURN(auto agent, reader->get_agent(*owner));
    if (!agent) {
      return field_error(ErrorCode::LEDGER_OWNER_UNKNOWN, "owner", "no agent " + *owner);
    }
  } else if (!ctx.master && (!ctx.session || ctx.session->agent_id != *owner)) {
    return Status(ErrorCode::AUTH_FORBIDDEN, "a session may read only its own agent's balances");
  }
  WARDEN_ASSIGN_OR_RETURN(const auto currency, optional_currency(ctx.req));
  WARDEN_RETURN_IF_ERROR(check_owner_exists(d.store, *owner));
  if (currency) return json_response(200, d.ledger.balance(*owner, *currency));
  json::array items;
  for (const auto& [c, b] : d.ledger.balances(*owner)) {
    items.push_back(ledger::balance_json(*owner, c, b));
  }
  return json_response(200, json::object{{"owner", *owner}, {"items", std::move(items)}});
}

// Lots as the store lists them, with what the book says they have now (the book holds every
// stored lot from start-up on, and a new one before its write commits).
Result<HttpResponse> ledger_lots(const Deps& d, RequestContext& ctx) {
  WARDEN_ASSIGN_OR_RETURN(store::Page page,
                          page_from_query(ctx.req, kLotsLimitDefault, kLotsLimitMax));
  store::LotFilter filter;
  const ScopedReader reader(d.store, ctx.org_admin_org);  // an org admin: its agents' lots
  WARDEN_ASSIGN_OR_RETURN(filter.owner, optional_owner(*reader.get(), ctx.req));
  WARDEN_ASSIGN_OR_RETURN(filter.currency, optional_currency(ctx.req));
  WARDEN_ASSIGN_OR_RETURN(auto rows, reader->list_lots(filter, page));
  json::array items;
  for (const auto& row : rows) {
    auto lot = d.ledger.book().lot(row.id);
    // Several replicas: a lot another one minted is in this book once its owner is read again.
    if (!lot && d.ledger.shared_store()) {
      WARDEN_RETURN_IF_ERROR(d.ledger.refresh_owner(row.owner).status());
      lot = d.ledger.book().lot(row.id);
    }
    if (!lot) return Status(ErrorCode::INTERNAL_ERROR, "lot " + row.id + " is not in the book");
    items.push_back(ledger::lot_json(*lot));
  }
  json::object out;
  out["items"] = std::move(items);
  out["next_cursor"] =
      rows.size() == page.limit && !rows.empty() ? json::value(rows.back().id) : nullptr;
  return json_response(200, out);
}

Result<HttpResponse> ledger_entries(const Deps& d, RequestContext& ctx) {
  store::LotEntryFilter filter;
  const ScopedReader reader(d.store, ctx.org_admin_org);  // an org admin: its agents' entries
  WARDEN_ASSIGN_OR_RETURN(filter.owner, optional_owner(*reader.get(), ctx.req));
  filter.lot_id = query_text(ctx.req, "lot_id");
  WARDEN_ASSIGN_OR_RETURN(filter.after_id, query_int(ctx.req, "after_id", 0, 0, kEntryIdMax));
  WARDEN_ASSIGN_OR_RETURN(const std::int64_t limit,
                          query_int(ctx.req, "limit", kEntriesLimitDefault, 1, kEntriesLimitMax));
  filter.limit = static_cast<std::size_t>(limit);
  WARDEN_ASSIGN_OR_RETURN(auto rows, reader->list_lot_entries(filter));
  json::array items;
  for (const auto& row : rows) items.push_back(entry_json(row));
  json::object out;
  out["items"] = std::move(items);
  out["next_after_id"] =
      rows.size() == filter.limit && !rows.empty() ? json::value(rows.back().id) : nullptr;
  return json_response(200, out);
}

}  // namespace warden::server
