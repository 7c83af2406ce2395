// Routing, authentication and error bodies.
#include "server/api.h"

#include <boost/json/serialize.hpp>
#include <cctype>
#include <chrono>

#include "server/log.h"
#include "server/routes.h"
#include "server/warden_events.h"

namespace warden::server {
namespace json = boost::json;

namespace {

constexpr std::size_t kCorrelationIdBytesMax = 128;

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    const auto j = path.find('/', i);
    out.emplace_back(path.substr(i, j == std::string_view::npos ? j : j - i));
    i = j == std::string_view::npos ? path.size() : j;
  }
  return out;
}

bool sane_correlation_id(std::string_view v) {
  if (v.empty() || v.size() > kCorrelationIdBytesMax) return false;
  for (char c : v) {
    if (c <= ' ' || c > '~') return false;
  }
  return true;
}

// The credentials of "Bearer <token>"; "" for any other scheme. The scheme is case-insensitive
// and may be followed by several spaces (RFC 7235 §2.1).
std::string_view bearer_token(std::string_view header) {
  constexpr std::string_view kScheme = "bearer";
  if (header.size() <= kScheme.size() || header[kScheme.size()] != ' ') return {};
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) != kScheme[i]) return {};
  }
  const auto start = header.find_first_not_of(' ', kScheme.size());
  return start == std::string_view::npos ? std::string_view() : header.substr(start);
}

// Marks a route open to org admins (Routes::Route::org_admin).
constexpr bool kOrgAdminScoped = true;

}  // namespace

struct Api::Routes {
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    Auth auth;
    Handler handler;
    // Default deny: only routes registered with kOrgAdminScoped accept an org admin key, and
    // each of them confines the request to the admin's org.
    bool org_admin = false;
  };
  std::vector<Route> routes;
  Deps deps;

  void add(std::string method, std::string pattern, Auth auth, Handler handler,
           bool org_admin = false) {
    auto segments = split_path(pattern);
    routes.push_back(
        {std::move(method), std::move(pattern), std::move(segments), auth, handler, org_admin});
  }

  // Matches path segments; "{x}" binds any one segment.
  static bool match(const Route& r, const std::vector<std::string>& parts,
                    std::vector<std::string>* params) {
    if (r.segments.size() != parts.size()) return false;
    params->clear();
    for (std::size_t i = 0; i < parts.size(); ++i) {
      if (r.segments[i].front() == '{') {
        params->push_back(parts[i]);
      } else if (r.segments[i] != parts[i]) {
        return false;
      }
    }
    return true;
  }
};

std::string RequestContext::actor() const {
  if (master) return "master";
  if (org_admin_key_id) return "org_admin:" + *org_admin_key_id;
  if (session) return "agent:" + session->agent_id;
  return "ip:" + req.client_address;
}

store::AuditEvent RequestContext::audit(std::string event_type, std::int64_t now) const {
  store::AuditEvent e;
  e.timestamp = now;
  e.event_type = std::move(event_type);
  e.actor = actor();
  if (session) {
    e.agent_id = session->agent_id;
    e.session_id = session->id;
  }
  e.ip_address = req.client_address;
  e.correlation_id = correlation_id;
  return e;
}

Api::Api(store::Store& store, store::BatchWriter& writer, const Clock& clock, IdGenerator& ids,
         Metrics& metrics, DecisionService& decisions, ledger::LedgerService& ledger,
         std::string master_password_hash, ApiOptions options)
    : store_(store),
      clock_(clock),
      ids_(ids),
      metrics_(metrics),
      trusted_proxies_(std::move(options.trusted_proxies)),
      master_(std::move(master_password_hash)),
      master_throttle_(clock, options.auth_failures_max, options.auth_failure_window_seconds),
      session_throttle_(clock, options.auth_failures_max, options.auth_failure_window_seconds),
      failures_(writer, clock),
      tarpit_(kThrottledAnswerDelayMs),
      sessions_(clock, kSessionCacheTtlMs),
      session_keys_(*options.session_keys),
      revoked_(clock),
      local_feed_(options.change_feed == nullptr ? std::make_unique<store::LocalChangeFeed>()
                                                 : nullptr),
      feed_(options.change_feed != nullptr ? *options.change_feed : *local_feed_),
      routes_(new Routes{{},
                         Deps{store,
                              clock,
                              ids,
                              metrics,
                              decisions,
                              ledger,
                              sessions_,
                              writer,
                              std::move(options.webhook_secrets),
                              {},
                              &session_keys_,
                              &revoked_,
                              &feed_}}) {
  subscribe_to_changes(decisions);
  auto& r = *routes_;
  r.add("GET", "/healthz", Auth::kNone, get_healthz);
  r.add("GET", "/readyz", Auth::kNone, get_readyz);
  r.add("GET", "/metrics", Auth::kNone, get_metrics);
  r.add("GET", "/.well-known/jwks.json", Auth::kNone, get_jwks);
  r.add("POST", "/v1/agents", Auth::kMaster, create_agent, kOrgAdminScoped);
  r.add("GET", "/v1/agents", Auth::kMaster, list_agents, kOrgAdminScoped);
  r.add("GET", "/v1/agents/{id}", Auth::kMasterOrSession, get_agent, kOrgAdminScoped);
  r.add("PUT", "/v1/agents/{id}", Auth::kMaster, update_agent, kOrgAdminScoped);
  r.add("DELETE", "/v1/agents/{id}", Auth::kMaster, delete_agent);
  r.add("POST", "/v1/agents/{id}/api-keys", Auth::kMaster, create_api_key);
  r.add("GET", "/v1/agents/{id}/api-keys", Auth::kMaster, list_api_keys);
  r.add("DELETE", "/v1/agents/{id}/api-keys/{key_id}", Auth::kMaster, revoke_api_key);
  r.add("POST", "/v1/orgs", Auth::kMaster, create_org);
  r.add("GET", "/v1/orgs", Auth::kMaster, list_orgs);
  r.add("GET", "/v1/orgs/{id}", Auth::kMaster, get_org, kOrgAdminScoped);
  r.add("DELETE", "/v1/orgs/{id}", Auth::kMaster, delete_org);
  r.add("POST", "/v1/orgs/{id}/admin-keys", Auth::kMaster, create_org_admin_key);
  r.add("DELETE", "/v1/orgs/{id}/admin-keys/{key_id}", Auth::kMaster, revoke_org_admin_key);
  r.add("POST", "/v1/models", Auth::kMaster, create_model);
  r.add("GET", "/v1/models", Auth::kMaster, list_models);
  r.add("GET", "/v1/models/{id}", Auth::kMaster, get_model);
  r.add("PUT", "/v1/models/{id}", Auth::kMaster, update_model);
  r.add("DELETE", "/v1/models/{id}", Auth::kMaster, delete_model);
  r.add("POST", "/v1/sessions", Auth::kMaster, create_session, kOrgAdminScoped);
  r.add("GET", "/v1/sessions/current", Auth::kSession, get_current_session);
  r.add("GET", "/v1/sessions/{id}", Auth::kMaster, get_session, kOrgAdminScoped);
  r.add("PUT", "/v1/sessions/{id}/renew", Auth::kSession, renew_session);
  r.add("DELETE", "/v1/sessions/{id}", Auth::kMaster, revoke_session, kOrgAdminScoped);
  r.add("POST", "/v1/policies/validate", Auth::kMaster, validate_policy, kOrgAdminScoped);
  r.add("POST", "/v1/policies", Auth::kMaster, create_policy, kOrgAdminScoped);
  r.add("GET", "/v1/policies", Auth::kMaster, list_policies, kOrgAdminScoped);
  r.add("GET", "/v1/policies/{id}", Auth::kMaster, get_policy, kOrgAdminScoped);
  r.add("PUT", "/v1/policies/{id}", Auth::kMaster, update_policy, kOrgAdminScoped);
  r.add("DELETE", "/v1/policies/{id}", Auth::kMaster, delete_policy, kOrgAdminScoped);
  r.add("GET", "/v1/audit", Auth::kMaster, list_audit, kOrgAdminScoped);
  r.add("POST", "/v1/transactions", Auth::kSession, create_transaction);
  r.add("POST", "/v1/decisions", Auth::kSession, create_decision);
  r.add("GET", "/v1/transactions/{id}", Auth::kMasterOrSession, get_transaction, kOrgAdminScoped);
  r.add("POST", "/v1/transactions/{id}/confirm", Auth::kSession, confirm_transaction);
  r.add("POST", "/v1/transactions/{id}/fail", Auth::kSession, fail_transaction);
  r.add("POST", "/v1/transactions/{id}/cancel", Auth::kMasterOrSession, cancel_transaction,
        kOrgAdminScoped);
  r.add("GET", "/v1/approvals", Auth::kMaster, list_approvals, kOrgAdminScoped);
  r.add("POST", "/v1/approvals/{id}/approve", Auth::kMaster, approve_approval, kOrgAdminScoped);
  r.add("POST", "/v1/approvals/{id}/reject", Auth::kMaster, reject_approval, kOrgAdminScoped);
  r.add("POST", "/v1/ledger/mint", Auth::kMaster, ledger_mint);
  r.add("POST", "/v1/ledger/debit", Auth::kMaster, ledger_debit);
  r.add("POST", "/v1/ledger/holds", Auth::kMaster, ledger_hold);
  r.add("GET", "/v1/ledger/holds/{id}", Auth::kMaster, ledger_get_hold, kOrgAdminScoped);
  r.add("POST", "/v1/ledger/holds/{id}/post", Auth::kMaster, ledger_post_hold);
  r.add("POST", "/v1/ledger/holds/{id}/void", Auth::kMaster, ledger_void_hold);
  // An agent's session reads its own balances (the handler checks the owner).
  r.add("GET", "/v1/ledger/balances", Auth::kMasterOrSession, ledger_balances, kOrgAdminScoped);
  r.add("GET", "/v1/usage", Auth::kMasterOrSession, get_usage, kOrgAdminScoped);
  r.add("GET", "/v1/ledger/lots", Auth::kMaster, ledger_lots, kOrgAdminScoped);
  r.add("GET", "/v1/ledger/entries", Auth::kMaster, ledger_entries, kOrgAdminScoped);
  r.add("POST", "/v1/webhooks/{provider}", Auth::kNone, receive_webhook);  // signed
  r.add("POST", "/v1/events", Auth::kMasterOrSession, create_event);
  r.add("POST", "/v1/automations/validate", Auth::kMaster, validate_automation, kOrgAdminScoped);
  r.add("POST", "/v1/automations", Auth::kMaster, create_automation, kOrgAdminScoped);
  r.add("GET", "/v1/automations", Auth::kMaster, list_automations, kOrgAdminScoped);
  r.add("GET", "/v1/automations/{id}", Auth::kMaster, get_automation, kOrgAdminScoped);
  r.add("PUT", "/v1/automations/{id}", Auth::kMaster, update_automation, kOrgAdminScoped);
  r.add("DELETE", "/v1/automations/{id}", Auth::kMaster, delete_automation, kOrgAdminScoped);
  r.add("POST", "/v1/automations/{id}/enable", Auth::kMaster, enable_automation, kOrgAdminScoped);
  r.add("POST", "/v1/automations/{id}/disable", Auth::kMaster, disable_automation,
        kOrgAdminScoped);
  r.add("POST", "/v1/automations/{id}/dry-run", Auth::kMaster, dry_run_automation,
        kOrgAdminScoped);
  r.add("POST", "/v1/automations/{id}/inverse", Auth::kMaster, inverse_automation,
        kOrgAdminScoped);
  r.add("GET", "/v1/automations/{id}/executions", Auth::kMaster, list_executions,
        kOrgAdminScoped);
  r.add("GET", "/v1/hosts", Auth::kMaster, list_hosts);
  r.add("GET", "/v1/hosts/{id}/capabilities", Auth::kMaster, get_host_capabilities);
  r.add("GET", "/v1/hosts/{id}/inventory", Auth::kMaster, get_host_inventory);
  failures_.start();
}

Api::~Api() { stop(); }

void Api::subscribe_to_changes(DecisionService& decisions) {
  feed_.subscribe(store::FeedTopic::kPolicies, [&decisions](const store::Change& change) {
    if (change.own) return;
    // Asynchronous: the reload is an operation of the writer, and the feed's thread must not
    // wait for it.
    decisions.reload_policies([resync = change.resync](const Status& reloaded) {
      if (!reloaded.ok()) {
        log_event(LogLevel::kError, "policy reload after a change of another replica failed",
                  {{"error", reloaded.to_string()}, {"resync", resync}});
      }
    });
  });
  feed_.subscribe(store::FeedTopic::kSessions, [this](const store::Change& change) {
    if (change.own) return;
    if (change.resync) {
      if (Status loaded = revoked_.load(store_); !loaded.ok()) {
        log_event(LogLevel::kError, "revocation set reload failed",
                  {{"error", loaded.to_string()}});
      }
      return;
    }
    // The payload is only the id: the row says until when the id must stay in the set.
    Result<std::optional<store::SessionRow>> session = store_.get_session(change.payload);
    if (!session.ok()) {
      log_event(LogLevel::kError, "reading a session revoked by another replica failed",
                {{"session_id", change.payload}, {"error", session.status().to_string()}});
      return;
    }
    if (!*session || !(*session)->revoked_at) return;
    revoked_.add(change.payload, (*session)->absolute_expires_at);
    sessions_.invalidate_session(change.payload);
  });
  // An agent suspended or terminated, or its sessions revoked, on another replica: the next
  // request of each of its sessions reads the agent and the session again.
  feed_.subscribe(store::FeedTopic::kAgents, [this](const store::Change& change) {
    if (change.own) return;
    if (change.resync) {
      sessions_.clear();
      return;
    }
    sessions_.invalidate_agent(change.payload);
  });
}

void Api::set_automation(const AutomationDeps& automation) { routes_->deps.automation = automation; }

void Api::stop() {
  tarpit_.stop();
  master_.stop();
  failures_.stop();
}

std::string Api::client_address(std::string_view peer, std::string_view forwarded_for) const {
  return trusted_proxies_.client_address(peer, forwarded_for);
}

std::string Api::correlation_id_for(const HttpRequest& req) {
  const auto given = req.header("x-correlation-id");
  return sane_correlation_id(given) ? std::string(given) : ids_.next();
}

HttpResponse deferred() {
  HttpResponse r;
  r.status = 0;
  return r;
}

bool is_deferred(const HttpResponse& r) { return r.status == 0; }

Completion::Completion(std::string correlation_id, Language lang, std::string method,
                       std::string route, Metrics& metrics, Respond respond, Post post)
    : correlation_id_(std::move(correlation_id)),
      lang_(lang),
      method_(std::move(method)),
      route_(std::move(route)),
      started_(std::chrono::steady_clock::now()),
      metrics_(metrics),
      respond_(std::move(respond)),
      post_(std::move(post)) {}

void Completion::later(std::function<void()> f) {
  if (post_) return post_(std::move(f));
  f();
}

void Completion::operator()(Result<HttpResponse> result) {
  if (completed_.exchange(true)) return;
  HttpResponse resp = result.ok() ? std::move(result).value()
                                  : error_response(result.status(), correlation_id_, lang_);
  resp.headers.emplace_back("X-Correlation-Id", correlation_id_);
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::steady_clock::now() - started_)
                      .count();
  metrics_.record(method_, route_, resp.status, us);
  respond_(std::move(resp));
}

void Api::handle(const HttpRequest& req, Respond respond, Post post) {
  auto ctx = std::make_shared<RequestContext>(
      RequestContext{req, correlation_id_for(req),
                     language_from_accept(req.header("accept-language")), {}, false, {}, {}, {},
                     {}, {}});
  const auto parts = split_path(req.path);

  const Routes::Route* route = nullptr;
  bool path_matched = false;
  for (const auto& r : routes_->routes) {
    if (!Routes::match(r, parts, &ctx->params)) continue;
    path_matched = true;
    if (r.method == req.method) {
      route = &r;
      break;
    }
  }
  ctx->complete = std::make_shared<Completion>(ctx->correlation_id, ctx->lang, req.method,
                                               route ? route->pattern : "unmatched", metrics_,
                                               std::move(respond), std::move(post));
  Completion& complete = *ctx->complete;
  if (route == nullptr) {
    return complete(path_matched ? Status(ErrorCode::METHOD_NOT_ALLOWED)
                                 : Status(ErrorCode::ROUTE_NOT_FOUND));
  }
  // Handlers report failures as Status; an exception here is a bug (e.g. a JSON accessor on an
  // unexpected shape). It becomes a 500 for this request instead of ending the process.
  const auto fail_on_throw = [ctx](const std::exception& e) {
    log_event(LogLevel::kError, "handler threw",
              {{"error", e.what()},
               {"path", ctx->req.path},
               {"correlation_id", ctx->correlation_id}});
    (*ctx->complete)(Status(ErrorCode::INTERNAL_ERROR));
  };
  const auto run = [this, route, ctx, fail_on_throw](Status auth) {
    try {
      if (!auth.ok()) return (*ctx->complete)(std::move(auth));
      Result<HttpResponse> r = route->handler(routes_->deps, *ctx);
      if (r.ok() && is_deferred(*r)) return;
      (*ctx->complete)(std::move(r));
    } catch (const std::exception& e) {
      fail_on_throw(e);
    }
  };
  try {
    // An org admin key is recognised before the route's own kind, so that it can never pass as
    // a master or session credential and every route not open to org admins refuses it.
    if (route->auth != Auth::kNone && ctx->req.header("x-master-password").empty() &&
        bearer_token(ctx->req.header("authorization")).starts_with(kOrgAdminKeyScheme)) {
      return authenticate_org_admin(route->org_admin, ctx, run);
    }
    authenticate(route->auth, ctx, run);
  } catch (const std::exception& e) {
    fail_on_throw(e);
  }
}

HttpResponse Api::transport_error(const HttpRequest& req, ErrorCode code, std::string message) {
  const std::string correlation_id = correlation_id_for(req);
  HttpResponse resp = error_response(Status(code, std::move(message)), correlation_id,
                                     language_from_accept(req.header("accept-language")));
  resp.headers.emplace_back("X-Correlation-Id", correlation_id);
  resp.close = true;
  metrics_.record(req.method.empty() ? "UNKNOWN" : req.method, "unmatched", resp.status, 0);
  return resp;
}

namespace {

Status too_many_attempts(std::int64_t retry_after_seconds) {
  json::object details;
  details["retry_after_seconds"] = retry_after_seconds;
  return Status(ErrorCode::AUTH_TOO_MANY_ATTEMPTS, {}, std::move(details));
}

}  // namespace

void Api::authenticate(Auth auth, const std::shared_ptr<RequestContext>& ctx,
                       const AuthDone& done) {
  switch (auth) {
    case Auth::kNone:
      return done(Status());
    case Auth::kMaster:
      return authenticate_master(ctx, done);
    case Auth::kSession:
      return authenticate_session(ctx, done);
    case Auth::kMasterOrSession:
      if (!ctx->req.header("x-master-password").empty()) return authenticate_master(ctx, done);
      return authenticate_session(ctx, done);
  }
  done(Status(ErrorCode::INTERNAL_ERROR));
}

// A password is answered only while its client is under auth_failures_max failures, and one
// that needs Argon2id takes an attempt slot before it is queued, so concurrent guesses from one
// client are never verified past the limit. Concurrent checks of one password (an operator's
// parallel requests right after a restart) share one Argon2id run and need no slot of their own.
void Api::authenticate_master(const std::shared_ptr<RequestContext>& ctx, const AuthDone& done) {
  const auto password = ctx->req.header("x-master-password");
  if (password.empty()) return done(Status(ErrorCode::AUTH_MASTER_REQUIRED));
  if (const auto cached = master_.check_cached(password)) {
    return settle_master(ctx, *cached, false, done);
  }
  // Continue on the connection's thread: the handler must not run on the Argon2id thread.
  const auto resume = [this, ctx, done](bool has_slot) {
    return [this, ctx, done, has_slot](bool ok) {
      ctx->complete->later(
          [this, ctx, done, has_slot, ok] { settle_master(ctx, ok, has_slot, done); });
    };
  };
  if (master_.join(password, resume(false))) return;
  const std::string& address = ctx->req.client_address;
  if (const auto a = master_throttle_.admit(address); !a.admitted) {
    return refuse(ctx, "master", too_many_attempts(a.retry_after_seconds), done);
  }
  if (Status queued = master_.verify_async(std::string(password), resume(true)); !queued.ok()) {
    master_throttle_.release(address, false);
    done(std::move(queued));
  }
}

void Api::settle_master(const std::shared_ptr<RequestContext>& ctx, bool ok, bool has_slot,
                        const AuthDone& done) {
  const std::string& address = ctx->req.client_address;
  if (has_slot) {
    master_throttle_.release(address, !ok);  // admitted before the check: its answer is due
  } else if (const auto a = master_throttle_.record(address, !ok); !a.admitted) {
    return refuse(ctx, "master", too_many_attempts(a.retry_after_seconds), done);
  }
  if (!ok) return refuse(ctx, "master", Status(ErrorCode::AUTH_MASTER_INVALID), done);
  ctx->master = true;
  done(Status());
}

void Api::authenticate_session(const std::shared_ptr<RequestContext>& ctx, const AuthDone& done) {
  Status s = check_session(*ctx);
  switch (s.code()) {
    case ErrorCode::AUTH_SESSION_INVALID:
    case ErrorCode::AUTH_SESSION_REVOKED:
    case ErrorCode::AUTH_SESSION_EXPIRED: {
      // The token was checked before the throttle is asked (a signature and a lookup), so a
      // client over the limit still gets through with a valid token: an agent behind the same
      // NAT as a flood keeps working. Past the limit, bad tokens get 429 and are only counted.
      const auto a = session_throttle_.record(ctx->req.client_address, true);
      return refuse(ctx, "session", a.admitted ? s : too_many_attempts(a.retry_after_seconds),
                    done);
    }
    default:
      return done(std::move(s));
  }
}

void Api::authenticate_org_admin(bool route_allows, const std::shared_ptr<RequestContext>& ctx,
                                 const AuthDone& done) {
  const auto token = bearer_token(ctx->req.header("authorization"));
  const auto refuse_key = [&](std::string message) {
    const auto a = session_throttle_.record(ctx->req.client_address, true);
    refuse(ctx, "org_admin",
           a.admitted ? Status(ErrorCode::AUTH_SESSION_INVALID, std::move(message))
                      : too_many_attempts(a.retry_after_seconds),
           done);
  };
  Result<std::optional<store::OrgAdminKeyRow>> key =
      store_.find_org_admin_key_by_hash(token_hash(token));
  if (!key.ok()) return done(key.status());
  if (!*key) return refuse_key("unknown org admin key");
  if ((*key)->revoked_at) return refuse_key("org admin key revoked");
  Result<std::optional<store::OrgRow>> org = store_.get_org((*key)->org_id);
  if (!org.ok()) return done(org.status());
  if (!*org || (*org)->deleted_at) return refuse_key("the key's organization was deleted");
  if (!route_allows) {
    return done(Status(ErrorCode::AUTH_FORBIDDEN, "this route is not open to org admins"));
  }
  ctx->org_admin_org = (*key)->org_id;
  ctx->org_admin_key_id = (*key)->id;
  done(Status());
}

Status Api::check_session(RequestContext& ctx) {
  const auto token = bearer_token(ctx.req.header("authorization"));
  if (token.empty()) return Status(ErrorCode::AUTH_SESSION_REQUIRED);
  // Signature, key and lifetime need no store read; revocation is the in-memory set.
  JwtVerifyResult verified = session_keys_.verify(token);
  if (!verified.claims) return jwt_error_status(verified.error);
  const std::string& sid = verified.claims->sid;
  if (revoked_.contains(sid)) return Status(ErrorCode::AUTH_SESSION_REVOKED);
  // The session's constraints, renewals and its agent's status come through the short-lived
  // cache, as before tokens were JWTs.
  std::optional<store::SessionRow> session;
  std::optional<store::AgentRow> agent;
  if (auto cached = sessions_.find(sid)) {
    session = std::move(cached->session);
    agent = std::move(cached->agent);
  } else {
    WARDEN_ASSIGN_OR_RETURN(session, store_.get_session(sid));
    if (session) {
      WARDEN_ASSIGN_OR_RETURN(agent, store_.get_agent(session->agent_id));
    }
    if (session && agent) sessions_.put(sid, *session, *agent);
  }
  if (!session || session->agent_id != verified.claims->sub) {
    return Status(ErrorCode::AUTH_SESSION_INVALID);
  }
  if (session->revoked_at) return Status(ErrorCode::AUTH_SESSION_REVOKED);
  if (clock_.now_seconds() >= std::min(session->expires_at, session->absolute_expires_at)) {
    return Status(ErrorCode::AUTH_SESSION_EXPIRED);
  }
  if (!agent || agent->status != "ACTIVE") return Status(ErrorCode::AGENT_NOT_ACTIVE);
  ctx.session = std::move(*session);
  ctx.agent = std::move(*agent);
  return Status();
}

// Answers a refused attempt after its AUTH_FAILED row has committed, like any other change; a
// failure that is only counted (a flood) at once. A throttled attempt (429) is answered
// kThrottledAnswerDelayMs late on top.
void Api::refuse(const std::shared_ptr<RequestContext>& ctx, std::string kind, Status answer,
                 const AuthDone& done) {
  const bool throttled = answer.code() == ErrorCode::AUTH_TOO_MANY_ATTEMPTS;
  // May run on the writer's thread: the answer is built back on the connection's.
  const auto respond = [this, ctx, done, answer, throttled] {
    const auto back = [ctx, done, answer] {
      ctx->complete->later([done, answer] { done(answer); });
    };
    if (!throttled || !tarpit_.later(back)) back();
  };
  // Only failures that get an audit row of their own become auth.failed events: the audit's
  // per-client and global rates bound them, so a flood cannot fill the automation queue.
  WardenEvents* events = routes_->deps.automation.events;
  const std::string event_kind = kind;
  AuthFailure f{ctx->req.client_address, std::move(kind), answer.code(),
                ctx->req.method,         ctx->req.path,   ctx->correlation_id};
  if (failures_.record(f, respond)) {
    if (events != nullptr) {
      events->auth_failed(ctx->req.client_address, event_kind, answer.code(), ctx->correlation_id);
    }
    return;
  }
  if (throttled) return respond();
  done(std::move(answer));
}

namespace {
// These carry a store's or the runtime's own text (SQL, constraint and file names): the
// operator's log gets it, the client the catalogue message.
bool internal_text(ErrorCode code) {
  return code == ErrorCode::INTERNAL_ERROR || code == ErrorCode::INTERNAL_STORE_ERROR ||
         code == ErrorCode::STORE_CONSTRAINT;
}
}  // namespace

HttpResponse error_response(const Status& status, const std::string& correlation_id,
                            Language lang) {
  json::object err;
  err["code"] = error_code_name(status.code());
  std::string specific = status.message();
  if (internal_text(status.code())) {
    const std::string_view plain = error_message(status.code(), Language::kEnglish);
    if (specific != plain) {
      log_event(LogLevel::kError, "internal error",
                {{"code", error_code_name(status.code())},
                 {"error", specific},
                 {"correlation_id", correlation_id}});
    }
    specific = std::string(plain);
  }
  const auto catalogue = error_message(status.code(), lang);
  // A Korean reader gets the catalogue message; the specific English text stays in details.
  json::object details = status.details();
  if (lang == Language::kKorean) {
    err["message"] = catalogue;
    if (specific != error_message(status.code(), Language::kEnglish)) details["detail"] = specific;
  } else {
    err["message"] = specific;
  }
  err["details"] = std::move(details);
  err["correlation_id"] = correlation_id;
  json::object body;
  body["error"] = std::move(err);
  HttpResponse resp = json_response(error_http_status(status.code()), body);
  // Whatever asks the client to come back later says when (429 throttling, 503 overload: an
  // overloaded writer's queue drains a full batch in milliseconds).
  if (const auto* wait = status.details().if_contains("retry_after_seconds")) {
    resp.headers.emplace_back("Retry-After", json::serialize(*wait));
  } else if (status.code() == ErrorCode::AUTH_TOO_MANY_ATTEMPTS ||
             status.code() == ErrorCode::SERVER_OVERLOADED) {
    resp.headers.emplace_back("Retry-After", "1");
  }
  return resp;
}

}  // namespace warden::server
