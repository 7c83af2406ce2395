// Model deployments of the gateway: create, list, read, update, delete (docs/gateway.md, "Models
// and API keys"). Every field is checked and put in its one canonical form here, before the
// store sees it; the upstream credential is never accepted, only where to read it (key_ref).
#include <boost/json/serialize.hpp>
#include <cctype>
#include <memory>

#include "core/amount.h"
#include "core/enums.h"
#include "policy/policy.h"
#include "server/body.h"
#include "server/routes.h"

namespace warden::server {
namespace json = boost::json;

namespace {

constexpr std::size_t kModelNameBytesMax = 256;  // as a MODEL_ALLOWLIST entry
constexpr std::size_t kUpstreamModelBytesMax = 256;
constexpr std::size_t kBaseUrlBytesMax = 2048;
constexpr std::size_t kEnvNameBytesMax = 128;
constexpr std::size_t kFilePathBytesMax = 4096;
constexpr std::uint32_t kPortMax = 65535;

Result<Body> parse_model_body(std::string_view text) {
  return Body::parse(text,
                     {"name", "provider", "base_url", "upstream_model", "input_price_micros_per_1k",
                      "output_price_micros_per_1k", "currency", "key_ref", "enabled"});
}

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

Status invalid(std::string_view field, std::string message) {
  return field_error(ErrorCode::VALIDATION_INVALID_VALUE, field, std::move(message));
}

// A model name is matched exactly (case included) by MODEL_ALLOWLIST entries, so it has one
// spelling: letters, digits and . _ - : / @ only; no '*', which a pattern would read as a glob.
Status check_model_name(std::string_view field, std::string_view v, std::size_t max_bytes) {
  if (v.empty() || v.size() > max_bytes) {
    return invalid(field, "field '" + std::string(field) + "' must be 1.." +
                              std::to_string(max_bytes) + " bytes");
  }
  for (char c : v) {
    if (!is_alnum(c) && std::string_view("._-:/@").find(c) == std::string_view::npos) {
      return invalid(field, "field '" + std::string(field) +
                                "' may hold only letters, digits and . _ - : / @");
    }
  }
  return Status();
}

bool valid_host(std::string_view host) {
  if (host.empty()) return false;
  if (host.front() == '[') {  // an IPv6 literal
    if (host.size() < 3 || host.back() != ']') return false;
    for (char c : host.substr(1, host.size() - 2)) {
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') return false;
    }
    return true;
  }
  for (char c : host) {
    if (!is_alnum(c) && c != '-' && c != '.') return false;
  }
  return host.front() != '.' && host.front() != '-';
}

bool valid_port(std::string_view port) {
  if (port.empty() || port.size() > 5 || port.front() == '0') return false;
  std::uint32_t n = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<std::uint32_t>(c - '0');
  }
  return n <= kPortMax;
}

// http(s)://host[:port][/path], without user info, query or fragment. The host is lower-cased
// and a trailing '/' dropped, so one deployment has one spelling and the proxy appends its
// route ("/chat/completions") to it.
Result<std::string> canonical_base_url(std::string_view field, std::string_view v) {
  const Status bad = invalid(field, "field '" + std::string(field) +
                                        "' must be http(s)://host[:port][/path] without user, "
                                        "query or fragment");
  if (v.size() > kBaseUrlBytesMax) return bad;
  std::string_view scheme;
  for (std::string_view s : {"https://", "http://"}) {
    if (v.substr(0, s.size()) == s) scheme = s;
  }
  if (scheme.empty()) return bad;
  std::string_view rest = v.substr(scheme.size());
  const std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  std::string_view host = authority;
  std::string_view port;
  const std::size_t colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']', colon) == std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (!valid_port(port)) return bad;
  }
  if (!valid_host(host)) return bad;
  for (char c : path) {
    if (c <= ' ' || c > '~' || c == '?' || c == '#') return bad;
  }
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  std::string out(scheme);
  for (char c : host) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!port.empty()) out += ":" + std::string(port);
  out += path;
  return out;
}

// "env:NAME" (NAME as [A-Z_][A-Z0-9_]*) or "file:/absolute/path": where the proxy will read the
// upstream credential. A secret pasted here is refused rather than stored.
Status check_key_ref(std::string_view field, std::string_view v) {
  const Status bad = invalid(field, "field '" + std::string(field) +
                                        "' must be env:NAME (NAME of A-Z, 0-9 and _, not "
                                        "starting with a digit) or file:/absolute/path");
  if (v.substr(0, 4) == "env:") {
    std::string_view name = v.substr(4);
    if (name.empty() || name.size() > kEnvNameBytesMax) return bad;
    if (name.front() >= '0' && name.front() <= '9') return bad;
    for (char c : name) {
      if (!(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9') && c != '_') return bad;
    }
    return Status();
  }
  if (v.substr(0, 5) == "file:") {
    std::string_view path = v.substr(5);
    if (path.size() < 2 || path.front() != '/' || path.size() > kFilePathBytesMax) return bad;
    for (char c : path) {
      if (static_cast<unsigned char>(c) < ' ' || c == 0x7f) return bad;
    }
    return Status();
  }
  return bad;
}

Result<std::string> canonical_price(std::string_view field, const std::string& v) {
  auto a = Amount::parse(v);
  if (!a.ok()) {
    return field_error(ErrorCode::VALIDATION_INVALID_AMOUNT, field,
                       "field '" + std::string(field) + "': " + a.status().message());
  }
  return a->to_string();
}

Result<std::string> canonical_currency(const std::string& v) {
  auto c = policy::canonical_asset(v);
  if (!c) {
    return field_error(ErrorCode::VALIDATION_INVALID_ASSET, "currency",
                       "'" + v + "' is not a currency such as USD");
  }
  return *c;
}

Status check_provider(const std::string& v) {
  if (is_one_of(store::kModelProviders, v)) return Status();
  std::string list;
  for (auto p : store::kModelProviders) list += (list.empty() ? "" : ", ") + std::string(p);
  return invalid("provider", "field 'provider' must be one of: " + list);
}

// Reads the fields present in `body` into `m`, checked and canonical; absent ones stay.
Status apply_model_fields(const Body& body, store::ModelRow& m) {
  // A deployment has no field that may be unset: null is not "leave as is".
  for (const auto& kv : body.object()) {
    if (kv.value().is_null()) {
      return field_error(ErrorCode::VALIDATION_WRONG_TYPE, kv.key(),
                         "field '" + std::string(kv.key()) + "' may not be null");
    }
  }
  WARDEN_ASSIGN_OR_RETURN(auto name, body.optional_string("name"));
  if (name) {
    WARDEN_RETURN_IF_ERROR(check_model_name("name", *name, kModelNameBytesMax));
    m.name = *name;
  }
  WARDEN_ASSIGN_OR_RETURN(auto provider, body.optional_string("provider"));
  if (provider) {
    WARDEN_RETURN_IF_ERROR(check_provider(*provider));
    m.provider = *provider;
  }
  WARDEN_ASSIGN_OR_RETURN(auto base_url, body.optional_string("base_url"));
  if (base_url) {
    WARDEN_ASSIGN_OR_RETURN(m.base_url, canonical_base_url("base_url", *base_url));
  }
  WARDEN_ASSIGN_OR_RETURN(auto upstream, body.optional_string("upstream_model"));
  if (upstream) {
    WARDEN_RETURN_IF_ERROR(check_model_name("upstream_model", *upstream, kUpstreamModelBytesMax));
    m.upstream_model = *upstream;
  }
  for (auto [field, target] :
       {std::pair{"input_price_micros_per_1k", &m.input_price_micros_per_1k},
        std::pair{"output_price_micros_per_1k", &m.output_price_micros_per_1k}}) {
    WARDEN_ASSIGN_OR_RETURN(auto price, body.optional_string(field));
    if (price) {
      WARDEN_ASSIGN_OR_RETURN(*target, canonical_price(field, *price));
    }
  }
  WARDEN_ASSIGN_OR_RETURN(auto currency, body.optional_string("currency"));
  if (currency) {
    WARDEN_ASSIGN_OR_RETURN(m.currency, canonical_currency(*currency));
  }
  WARDEN_ASSIGN_OR_RETURN(auto key_ref, body.optional_string("key_ref"));
  if (key_ref) {
    WARDEN_RETURN_IF_ERROR(check_key_ref("key_ref", *key_ref));
    m.key_ref = *key_ref;
  }
  WARDEN_ASSIGN_OR_RETURN(auto enabled, body.optional_bool("enabled"));
  if (enabled) m.enabled = *enabled;
  return Status();
}

json::object model_json(const store::ModelRow& m) {
  json::object o;
  o["id"] = m.id;
  o["name"] = m.name;
  o["provider"] = m.provider;
  o["base_url"] = m.base_url;
  o["upstream_model"] = m.upstream_model;
  o["input_price_micros_per_1k"] = m.input_price_micros_per_1k;
  o["output_price_micros_per_1k"] = m.output_price_micros_per_1k;
  o["currency"] = m.currency;
  o["key_ref"] = m.key_ref;  // where the credential is read from; never the credential
  o["enabled"] = m.enabled;
  o["created_at"] = format_rfc3339(m.created_at);
  o["updated_at"] = format_rfc3339(m.updated_at);
  return o;
}

// The fields an audit row keeps: all but the times (the row has its own).
json::object model_audit_fields(const store::ModelRow& m) {
  json::object o = model_json(m);
  o.erase("id");
  o.erase("created_at");
  o.erase("updated_at");
  return o;
}

json::object model_changes(const store::ModelRow& before, const store::ModelRow& after) {
  const json::object b = model_audit_fields(before);
  json::object changes;
  for (const auto& kv : model_audit_fields(after)) {
    if (b.at(kv.key()) != kv.value()) changes[kv.key()] = kv.value();
  }
  return changes;
}

Status model_not_found(std::string_view id) {
  return Status(ErrorCode::MODEL_NOT_FOUND, "no model with id " + std::string(id));
}

// A second model with the same name fails the store's unique index inside the writer's batch.
AfterCommit map_name_taken(std::string name) {
  return [name = std::move(name)](Status s) {
    if (s.code() == ErrorCode::STORE_CONSTRAINT &&
        s.message().find("models.name") != std::string::npos) {
      return Status(ErrorCode::MODEL_NAME_EXISTS, "a model named " + name + " exists",
                    json::object{{"field", "name"}, {"name", name}});
    }
    return s;
  };
}

}  // namespace

Result<HttpResponse> create_model(const Deps& d, RequestContext& ctx) {
  WARDEN_ASSIGN_OR_RETURN(Body body, parse_model_body(ctx.req.body));
  for (std::string_view field :
       {"name", "provider", "base_url", "upstream_model", "input_price_micros_per_1k",
        "output_price_micros_per_1k", "key_ref"}) {
    WARDEN_RETURN_IF_ERROR(body.required_string(field).take_status());
  }
  store::ModelRow m;
  m.currency = "USD";
  WARDEN_RETURN_IF_ERROR(apply_model_fields(body, m));
  m.id = d.ids.next();
  m.created_at = m.updated_at = d.clock.now_seconds();

  store::AuditEvent e = ctx.audit("MODEL_CREATED", m.created_at);
  json::object details = model_audit_fields(m);
  details["model_id"] = m.id;
  e.details = json::serialize(details);
  return commit_then_answer(
      d, ctx,
      [m, e](store::WriteTxn& tx) {
        WARDEN_RETURN_IF_ERROR(tx.insert_model(m));
        return tx.append_audit(e).take_status();
      },
      map_name_taken(m.name), [m] { return json_response(201, model_json(m)); });
}

Result<HttpResponse> list_models(const Deps& d, RequestContext& ctx) {
  WARDEN_ASSIGN_OR_RETURN(store::Page page, page_from_query(ctx.req, 50, 200));
  WARDEN_ASSIGN_OR_RETURN(auto rows, d.store.list_models(page));
  return json_response(200, page_json(rows, page.limit, model_json));
}

Result<HttpResponse> get_model(const Deps& d, RequestContext& ctx) {
  WARDEN_ASSIGN_OR_RETURN(auto model, d.store.get_model(ctx.params[0]));
  if (!model) return model_not_found(ctx.params[0]);
  return json_response(200, model_json(*model));
}

Result<HttpResponse> update_model(const Deps& d, RequestContext& ctx) {
  WARDEN_ASSIGN_OR_RETURN(Body body, parse_model_body(ctx.req.body));
  // Checked here, on the I/O thread; the op only merges what was given into the stored row.
  store::ModelRow given;
  WARDEN_RETURN_IF_ERROR(apply_model_fields(body, given));
  const std::int64_t now = d.clock.now_seconds();
  const std::string id = ctx.params[0];
  const store::AuditEvent audit = ctx.audit("MODEL_UPDATED", now);
  auto present = std::make_shared<const Body>(std::move(body));
  auto after = std::make_shared<store::ModelRow>();
  auto op = [=](store::WriteTxn& tx) {
    WARDEN_ASSIGN_OR_RETURN(auto before, tx.get_model(id));
    if (!before) return model_not_found(id);
    *after = *before;
    if (present->has("name")) after->name = given.name;
    if (present->has("provider")) after->provider = given.provider;
    if (present->has("base_url")) after->base_url = given.base_url;
    if (present->has("upstream_model")) after->upstream_model = given.upstream_model;
    if (present->has("input_price_micros_per_1k")) {
      after->input_price_micros_per_1k = given.input_price_micros_per_1k;
    }
    if (present->has("output_price_micros_per_1k")) {
      after->output_price_micros_per_1k = given.output_price_micros_per_1k;
    }
    if (present->has("currency")) after->currency = given.currency;
    if (present->has("key_ref")) after->key_ref = given.key_ref;
    if (present->has("enabled")) after->enabled = given.enabled;
    after->updated_at = now;
    WARDEN_RETURN_IF_ERROR(tx.update_model(*after));
    store::AuditEvent e = audit;
    e.details = json::serialize(
        json::object{{"model_id", id}, {"changes", model_changes(*before, *after)}});
    return tx.append_audit(e).take_status();
  };
  std::string new_name;
  if (auto name = present->optional_string("name"); name.ok() && *name) new_name = **name;
  return commit_then_answer(d, ctx, std::move(op), map_name_taken(new_name),
                            [after] { return json_response(200, model_json(*after)); });
}

Result<HttpResponse> delete_model(const Deps& d, RequestContext& ctx) {
  const std::int64_t now = d.clock.now_seconds();
  const std::string id = ctx.params[0];
  const store::AuditEvent audit = ctx.audit("MODEL_DELETED", now);
  auto op = [=](store::WriteTxn& tx) {
    WARDEN_ASSIGN_OR_RETURN(auto model, tx.get_model(id));
    if (!model) return model_not_found(id);
    WARDEN_RETURN_IF_ERROR(tx.delete_model(id));
    store::AuditEvent e = audit;
    e.details = json::serialize(json::object{{"model_id", id}, {"name", model->name}});
    return tx.append_audit(e).take_status();
  };
  return commit_then_answer(d, ctx, std::move(op), {}, no_content);
}

}  // namespace warden::server
