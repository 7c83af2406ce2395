// The gateway's policy side: routes, gateway keys, models, estimates, the decision request, the
// refusals and the settlement. No sockets here (proxy.cc).
#include "gateway/gateway.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/sha256.h"
#include "engine/ir.h"

namespace warden::gateway {
namespace json = boost::json;

namespace {

constexpr std::string_view kKeyScheme = "wk_";
constexpr std::size_t kKeyBytesMax = 256;
// A key file is read again after this, so a rotated key is picked up without a restart.
constexpr auto kKeyFileTtl = std::chrono::seconds(10);
constexpr std::string_view kAzureApiVersion = "2024-10-21";
constexpr std::string_view kAnthropicVersion = "2023-06-01";
constexpr std::string_view kGeminiPrefix = "/v1beta/models/";
// How long a key, its agent and a model are used as read before they are read again: a revoked
// key, a suspended agent or a changed model takes effect within this.
constexpr auto kLookupTtl = std::chrono::seconds(1);
constexpr std::size_t kLookupCacheEntriesMax = 100'000;

ClientError error(int status, std::string type, std::string code, std::string message) {
  return ClientError{status, std::move(type), std::move(code), std::move(message), {}};
}

// The gateway key of a request: `Authorization: Bearer wk_...` (OpenAI SDKs), `x-api-key`
// (Anthropic), `x-goog-api-key` (Gemini) or `api-key` (Azure).
std::string presented_key(const std::map<std::string, std::string>& headers) {
  if (auto it = headers.find("authorization"); it != headers.end()) {
    const std::string& v = it->second;
    if (v.size() > 7 && (v.compare(0, 7, "Bearer ") == 0 || v.compare(0, 7, "bearer ") == 0)) {
      return v.substr(7);
    }
    return {};
  }
  for (const char* name : {"x-api-key", "x-goog-api-key", "api-key"}) {
    if (auto it = headers.find(name); it != headers.end()) return it->second;
  }
  return {};
}

bool compatible(Route route, Provider provider) {
  switch (route) {
    case Route::kChatCompletions:
    case Route::kEmbeddings:
      return provider == Provider::kOpenAI || provider == Provider::kAzureOpenAI;
    case Route::kMessages:
      return provider == Provider::kAnthropic;
    case Route::kCohereChat:
      return provider == Provider::kCohere;
    case Route::kGemini:
      return provider == Provider::kGemini;
  }
  return false;
}

// The provider whose format the client speaks on a route.
Provider client_format(Route route) {
  switch (route) {
    case Route::kMessages:
      return Provider::kAnthropic;
    case Route::kCohereChat:
      return Provider::kCohere;
    case Route::kGemini:
      return Provider::kGemini;
    default:
      return Provider::kOpenAI;
  }
}

// Headers the client sent that the upstream sees too: everything but the hop-by-hop ones, the
// gateway's own credentials, the length (recomputed) and the encoding (the proxy reads the
// usage, so the upstream answers uncompressed).
bool forwarded(const std::string& name) {
  static const char* kDropped[] = {
      "authorization", "x-api-key",    "x-goog-api-key", "api-key",         "host",
      "content-length", "connection",  "keep-alive",     "transfer-encoding", "te",
      "trailer",        "upgrade",     "proxy-authorization", "proxy-connection",
      "accept-encoding", "cookie",     "x-forwarded-for", "expect"};
  for (const char* d : kDropped) {
    if (name == d) return false;
  }
  return true;
}

struct Url {
  bool tls = false;
  std::string host;
  std::string port;
  std::string path;  // without a trailing '/'
};

Result<Url> parse_base_url(const std::string& base) {
  Url u;
  std::string_view rest = base;
  if (rest.starts_with("https://")) {
    u.tls = true;
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else {
    return Status(ErrorCode::CONFIG_INVALID, "base_url must start with http:// or https://");
  }
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  u.path = slash == std::string_view::npos ? "" : std::string(rest.substr(slash));
  while (!u.path.empty() && u.path.back() == '/') u.path.pop_back();
  if (!authority.empty() && authority.front() == '[') {  // [v6]:port
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return Status(ErrorCode::CONFIG_INVALID, "bad base_url host");
    u.host = std::string(authority.substr(1, close - 1));
    authority.remove_prefix(close + 1);
    if (authority.starts_with(":")) u.port = std::string(authority.substr(1));
  } else {
    const auto colon = authority.rfind(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) u.port = std::string(authority.substr(colon + 1));
  }
  if (u.host.empty()) return Status(ErrorCode::CONFIG_INVALID, "base_url has no host");
  if (u.port.empty()) u.port = u.tls ? "443" : "80";
  return u;
}

}  // namespace

std::optional<Route> route_of(std::string_view method, std::string_view path,
                              std::string* gemini_model, bool* gemini_stream) {
  if (method != "POST") return std::nullopt;
  if (path == "/v1/chat/completions" || path == "/chat/completions") return Route::kChatCompletions;
  if (path == "/v1/embeddings" || path == "/embeddings") return Route::kEmbeddings;
  if (path == "/v1/messages") return Route::kMessages;
  if (path == "/v2/chat") return Route::kCohereChat;
  if (path.starts_with(kGeminiPrefix)) {
    std::string_view rest = path.substr(kGeminiPrefix.size());
    const auto colon = rest.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return std::nullopt;
    const std::string_view verb = rest.substr(colon + 1);
    if (verb != "generateContent" && verb != "streamGenerateContent") return std::nullopt;
    *gemini_model = std::string(rest.substr(0, colon));
    *gemini_stream = verb == "streamGenerateContent";
    return Route::kGemini;
  }
  return std::nullopt;
}

std::size_t sse_event_end(std::string_view s) {
  std::size_t pos = 0;
  for (;;) {
    const std::size_t e = s.find_first_of("\r\n", pos);
    if (e == std::string_view::npos) return e;
    std::size_t len = 1;
    if (s[e] == '\r') {
      if (e + 1 == s.size()) return std::string_view::npos;
      if (s[e + 1] == '\n') len = 2;
    }
    if (e == pos) return e + len;  // an empty line: the event is complete
    pos = e + len;
  }
}

std::string error_body(const ClientError& e, Route route) {
  json::object err{{"message", e.message}, {"type", e.type}, {"code", e.code}};
  json::object body;
  if (route == Route::kMessages) body["type"] = "error";
  body["error"] = std::move(err);
  return json::serialize(body);
}

Gateway::Gateway(store::Store& store, decisions::DecisionService& decisions, const Clock& clock,
                 IdGenerator& ids, GatewayOptions options)
    : store_(store), decisions_(decisions), clock_(clock), ids_(ids), options_(std::move(options)) {}

Result<std::string> Gateway::upstream_key(const std::string& key_ref) {
  if (key_ref.starts_with("env:")) {
    const char* v = std::getenv(key_ref.substr(4).c_str());
    if (v == nullptr || *v == '\0') {
      return Status(ErrorCode::CONFIG_INVALID,
                    "the upstream key variable " + key_ref.substr(4) + " is not set");
    }
    return std::string(v);
  }
  if (key_ref.starts_with("file:")) {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(keys_mu_);
    auto it = file_keys_.find(key_ref);
    if (it != file_keys_.end() && now - it->second.loaded < kKeyFileTtl) return it->second.value;
    std::ifstream in(key_ref.substr(5));
    std::stringstream ss;
    ss << in.rdbuf();
    std::string v = ss.str();
    while (!v.empty() && (v.back() == '\n' || v.back() == '\r' || v.back() == ' ')) v.pop_back();
    if (!in || v.empty()) {
      return Status(ErrorCode::CONFIG_INVALID, "the upstream key file " + key_ref.substr(5) +
                                                   " cannot be read or is empty");
    }
    file_keys_[key_ref] = CachedKey{v, now};
    return v;
  }
  if (key_ref.empty()) return std::string();  // an upstream without a key (a local server)
  return Status(ErrorCode::CONFIG_INVALID, "unknown key reference '" + key_ref + "'");
}

Result<std::optional<Gateway::Caller>> Gateway::caller(const std::string& key_hash) {
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(cache_mu_);
    auto it = callers_.find(key_hash);
    if (it != callers_.end() && now - it->second.read < kLookupTtl) {
      return std::optional<Caller>(it->second.value);
    }
  }
  WARDEN_ASSIGN_OR_RETURN(auto key, store_.find_api_key_by_hash(key_hash));
  if (!key || key->revoked_at) return std::optional<Caller>();
  WARDEN_ASSIGN_OR_RETURN(auto agent, store_.get_agent(key->agent_id));
  if (!agent) return std::optional<Caller>();
  Caller c{std::move(*key), std::move(*agent)};
  std::lock_guard lock(cache_mu_);
  if (callers_.size() >= kLookupCacheEntriesMax) callers_.clear();
  callers_[key_hash] = Fresh<Caller>{c, now};
  return std::optional<Caller>(std::move(c));
}

Result<std::optional<store::ModelRow>> Gateway::model(const std::string& name) {
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(cache_mu_);
    auto it = models_.find(name);
    if (it != models_.end() && now - it->second.read < kLookupTtl) {
      return std::optional<store::ModelRow>(it->second.value);
    }
  }
  WARDEN_ASSIGN_OR_RETURN(auto m, store_.find_model_by_name(name));
  if (!m) return m;
  std::lock_guard lock(cache_mu_);
  if (models_.size() >= kLookupCacheEntriesMax) models_.clear();
  models_[name] = Fresh<store::ModelRow>{*m, now};
  return m;
}

Result<Upstream> Gateway::upstream_of(const Prepared& p, std::string body,
                                      const std::map<std::string, std::string>& headers) {
  WARDEN_ASSIGN_OR_RETURN(Url url, parse_base_url(p.model.base_url));
  WARDEN_ASSIGN_OR_RETURN(std::string key, upstream_key(p.model.key_ref));
  Upstream u;
  u.tls = url.tls;
  u.host = url.host;
  u.port = url.port;
  const std::string& upstream_model =
      p.model.upstream_model.empty() ? p.model.name : p.model.upstream_model;
  const bool embeddings = p.operation == Operation::kEmbeddings;
  switch (p.provider) {
    case Provider::kOpenAI:
      u.target = url.path + (embeddings ? "/embeddings" : "/chat/completions");
      if (!key.empty()) u.headers.emplace_back("Authorization", "Bearer " + key);
      break;
    case Provider::kAzureOpenAI:
      u.target = url.path + "/openai/deployments/" + upstream_model +
                 (embeddings ? "/embeddings" : "/chat/completions") +
                 "?api-version=" + std::string(kAzureApiVersion);
      if (!key.empty()) u.headers.emplace_back("api-key", key);
      break;
    case Provider::kAnthropic:
      u.target = url.path + "/v1/messages";
      if (!key.empty()) u.headers.emplace_back("x-api-key", key);
      if (!headers.contains("anthropic-version")) {
        u.headers.emplace_back("anthropic-version", std::string(kAnthropicVersion));
      }
      break;
    case Provider::kCohere:
      u.target = url.path + "/v2/chat";
      if (!key.empty()) u.headers.emplace_back("Authorization", "Bearer " + key);
      break;
    case Provider::kGemini:
      u.target = url.path + "/v1beta/models/" + upstream_model +
                 (p.facts.stream ? ":streamGenerateContent?alt=sse" : ":generateContent");
      if (!key.empty()) u.headers.emplace_back("x-goog-api-key", key);
      break;
  }
  for (const auto& [name, value] : headers) {
    if (forwarded(name)) u.headers.emplace_back(name, value);
  }
  // The client names the gateway's model; the upstream bills its own name for it.
  const bool model_in_body = p.provider != Provider::kGemini && p.provider != Provider::kAzureOpenAI;
  if (model_in_body && upstream_model != p.facts.model) {
    json::value doc = json::parse(body);  // parse_request() already read it: it is JSON
    doc.as_object()["model"] = upstream_model;
    body = json::serialize(doc);
  }
  u.body = std::move(body);
  return u;
}

Result<Prepared> Gateway::prepare(Route route, const std::map<std::string, std::string>& headers,
                                  std::string body, std::string gemini_model, bool gemini_stream,
                                  ClientError* refusal) {
  auto refuse = [&](ClientError e) -> Status {
    *refusal = std::move(e);
    return Status(ErrorCode::VALIDATION_INVALID_VALUE, refusal->message);
  };
  const std::string key = presented_key(headers);
  if (key.empty() || key.size() > kKeyBytesMax || !key.starts_with(kKeyScheme)) {
    return refuse(error(401, "authentication_error", "invalid_api_key",
                        "a gateway API key (wk_...) is required"));
  }
  WARDEN_ASSIGN_OR_RETURN(auto who, caller(sha256_hex(key)));
  if (!who) {
    return refuse(error(401, "authentication_error", "invalid_api_key",
                        "the gateway API key is not valid"));
  }
  std::optional<store::AgentRow> agent = std::move(who->agent);
  const std::optional<store::ApiKeyRow> api_key = std::move(who->key);
  if (agent->status != "ACTIVE") {
    return refuse(error(403, "permission_error", "app_suspended",
                        "the key's application is not active"));
  }
  Prepared p;
  p.route = route;
  p.operation = route == Route::kEmbeddings ? Operation::kEmbeddings : Operation::kChat;
  RequestTarget target{client_format(route), p.operation, gemini_model, gemini_stream};
  auto facts = parse_request(target, body);
  if (!facts.ok()) {
    return refuse(error(400, "invalid_request_error", "invalid_request", facts.status().message()));
  }
  p.facts = std::move(facts).value();
  WARDEN_ASSIGN_OR_RETURN(auto model, this->model(p.facts.model));
  if (!model || !model->enabled) {
    return refuse(error(404, "invalid_request_error", "model_not_found",
                        "the model '" + p.facts.model + "' does not exist"));
  }
  // A model row names Google's API "google"; the adapters call its format "gemini".
  auto provider = model->provider == "google" ? Result<Provider>(Provider::kGemini)
                                              : parse_provider(model->provider);
  if (!provider.ok() || !compatible(route, *provider)) {
    return refuse(error(400, "invalid_request_error", "model_route_mismatch",
                        "the model '" + p.facts.model + "' is served by " + model->provider +
                            ", which this route does not speak"));
  }
  p.provider = *provider;
  p.model = std::move(*model);
  p.agent = std::move(*agent);
  p.api_key_id = api_key->id;
  auto in = Amount::parse(p.model.input_price_micros_per_1k);
  auto out = Amount::parse(p.model.output_price_micros_per_1k);
  if (in.ok() && out.ok()) {
    p.prices = Prices{*in, *out};
    p.priced = !(in->is_zero() && out->is_zero());
  }
  const std::uint64_t default_output =
      p.operation == Operation::kEmbeddings ? 0 : options_.default_output_tokens;
  p.estimate = estimate_request(p.facts, default_output,
                                p.priced ? std::optional<Prices>(p.prices) : std::nullopt);
  auto upstream = upstream_of(p, std::move(body), headers);
  if (!upstream.ok()) {
    return refuse(error(502, "api_error", "upstream_unavailable", upstream.status().message()));
  }
  p.upstream = std::move(upstream).value();

  // The decision: one generic request per call, with the token estimate and the cost
  // reserved as amounts (TOKEN_LIMIT counts the first, BUDGET and SPENDING_LIMIT the second).
  engine::Request& r = p.submission.request;
  r.action = p.operation == Operation::kEmbeddings ? "LLM_EMBEDDINGS" : "LLM_CHAT";
  json::object& a = r.attributes;
  a["model"] = p.model.name;
  a["provider"] = p.model.provider;
  a["network"] = p.agent.network;
  a["chain"] = p.agent.chain;
  a["request_size_bytes"] = static_cast<std::int64_t>(p.facts.body_bytes);
  a["estimated_tokens"] = static_cast<std::int64_t>(p.estimate.total_tokens());
  a["stream"] = p.facts.stream;
  if (p.agent.org) a["org_id"] = *p.agent.org;
  r.amounts[std::string(engine::kLlmTokensAsset)] = Amount(p.estimate.total_tokens());
  if (p.priced && p.estimate.cost) r.amounts[p.model.currency] = *p.estimate.cost;
  p.submission.agent_id = p.agent.id;
  store::TransactionRow& row = p.submission.row;
  row.type = "DECISION";
  row.chain = p.agent.chain;
  json::object amounts;
  for (const auto& [asset, amount] : r.amounts) amounts[asset] = amount.to_string();
  row.metadata = json::serialize(json::object{{"action", r.action},
                                              {"attributes", a},
                                              {"amounts", std::move(amounts)},
                                              {"network", p.agent.network},
                                              {"api_key_id", p.api_key_id}});
  return p;
}

std::optional<ClientError> Gateway::refusal_of(const json::object& decided) {
  const auto status = decided.at("status").as_string();
  if (status == "PENDING") return std::nullopt;
  if (status == "QUEUED") {
    return error(403, "permission_error", "approval_required",
                 "a policy delays this request or asks for a human's approval; the gateway does "
                 "not hold requests, so it was cancelled");
  }
  std::string code = "POLICY_DENIED";
  std::string message = "denied by policy";
  if (const auto* reasons = decided.if_contains("reasons");
      reasons && reasons->is_array() && !reasons->as_array().empty()) {
    const auto& first = reasons->as_array().front().as_object();
    code = std::string(first.at("code").as_string());
    message = std::string(first.at("message").as_string());
  }
  if (code == "RATE_LIMIT_EXCEEDED" || code == "TOKEN_LIMIT_EXCEEDED" ||
      code == "LIMIT_WINDOW_EXCEEDED") {
    ClientError e = error(429, "rate_limit_error",
                          code == "RATE_LIMIT_EXCEEDED"    ? "rate_limit_exceeded"
                          : code == "TOKEN_LIMIT_EXCEEDED" ? "token_limit_exceeded"
                                                           : "spending_limit_exceeded",
                          message);
    // A window frees up as its oldest usage ages out; one second is the shortest window step.
    e.retry_after_seconds = 1;
    return e;
  }
  if (code == "BUDGET_EXCEEDED" || code == "BUDGET_UNAVAILABLE") {
    return error(429, "insufficient_quota", "budget_exceeded", message);
  }
  if (code == "REQUEST_TOO_LARGE") {
    return error(413, "invalid_request_error", "request_too_large", message);
  }
  if (code == "MODEL_NOT_ALLOWED") return error(403, "permission_error", "model_not_allowed", message);
  std::string lower = code;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return error(403, "permission_error", lower, message);
}

decisions::UsageSettlement Gateway::settlement(const Prepared& p, const std::string& tx_id,
                                               const Observed& seen) const {
  decisions::UsageSettlement s;
  if (!seen.answered || !seen.usage) {
    s.used = false;
    s.error = seen.error.empty() ? "the upstream did not answer" : seen.error;
    return s;
  }
  const Usage& u = *seen.usage;
  const auto prompt = static_cast<std::uint64_t>(u.prompt_tokens);
  const auto completion = static_cast<std::uint64_t>(u.completion_tokens);
  s.final_amounts[std::string(engine::kLlmTokensAsset)] = Amount(prompt + completion);
  std::optional<Amount> cost;
  if (p.priced) {
    cost = cost_of(prompt, completion, p.prices);
    s.final_amounts[p.model.currency] = *cost;
  }
  s.post_attributes = json::object{{"prompt_tokens", u.prompt_tokens},
                                   {"completion_tokens", u.completion_tokens},
                                   {"total_tokens", u.prompt_tokens + u.completion_tokens},
                                   {"latency_ms", seen.latency_ms},
                                   {"response_size_bytes", seen.response_bytes}};
  store::UsageEventRow row;
  row.agent_id = p.agent.id;
  row.tx_id = tx_id;
  row.provider = p.model.provider;
  row.model = p.model.name;
  row.prompt_tokens = u.prompt_tokens;
  row.completion_tokens = u.completion_tokens;
  if (cost) {
    row.cost = cost->to_string();
    row.currency = p.model.currency;
  }
  row.created_at = clock_.now_seconds();
  s.usage = std::move(row);
  if (!seen.error.empty()) s.error = seen.error;
  return s;
}

}  // namespace warden::gateway
