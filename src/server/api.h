// The HTTP API (contract: docs/http-api.md; place in the daemon: docs/architecture.md, "The HTTP
// layer"): routing, authentication, error bodies and the resource handlers (agents, sessions,
// policies, audit, health, metrics). Transport-agnostic: it takes an HttpRequest and returns an
// HttpResponse.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/ids.h"
#include "server/auth.h"
#include "server/http_types.h"
#include "server/metrics.h"
#include "server/session_tokens.h"
#include "store/batch_writer.h"
#include "store/change_feed.h"
#include "store/store.h"

namespace warden::decisions {
class DecisionService;
}  // namespace warden::decisions
namespace warden::ledger {
class LedgerService;
}  // namespace warden::ledger

namespace warden::server {

using decisions::DecisionService;
struct AutomationDeps;  // routes.h

struct ApiOptions {
  // Failed authentication attempts per client address and window, for the master password and
  // for session tokens (each with its own count).
  int auth_failures_max = 5;
  std::int64_t auth_failure_window_seconds = 60;
  TrustedProxies trusted_proxies;  // empty: the socket peer is the client
  // Payment providers' webhook secrets (provider -> secret): POST /v1/webhooks/{provider}.
  std::map<std::string, std::string> webhook_secrets;
  // Signs and verifies session tokens (docs/sessions.md). Required; outlives the Api.
  SessionKeys* session_keys = nullptr;
  // Where committed policy changes and session revocations are announced to the other
  // replicas, and whence theirs arrive (docs/cluster.md, "Changes reach every replica"). Null:
  // one process, a LocalChangeFeed of the Api's own. Stop the feed before destroying the Api.
  store::ChangeFeed* change_feed = nullptr;
};

using Respond = std::function<void(HttpResponse)>;
// Runs a function on the connection's own thread (its strand), later.
using Post = std::function<void(std::function<void()>)>;

// Completes one request exactly once: turns a Status into the error body, adds the correlation
// id, records metrics, and hands the response to the transport. Handlers that answer later (after
// a group commit, or a long poll) keep a copy and call it then.
class Completion {
 public:
  Completion(std::string correlation_id, Language lang, std::string method, std::string route,
             Metrics& metrics, Respond respond, Post post = {});
  void operator()(Result<HttpResponse> result);
  // Runs f on the connection's thread (inline when there is none): an answer that arrives on
  // another thread, e.g. the group-commit writer, is built there instead of holding it up.
  void later(std::function<void()> f);
  const std::string& correlation_id() const { return correlation_id_; }

 private:
  const std::string correlation_id_;
  const Language lang_;
  const std::string method_;
  const std::string route_;
  const std::chrono::steady_clock::time_point started_;
  Metrics& metrics_;
  Respond respond_;
  Post post_;
  std::atomic<bool> completed_{false};  // a request is answered once, whatever calls this
};

HttpResponse error_response(const Status& status, const std::string& correlation_id,
                            Language lang);

// Per-request state handed to route handlers.
struct RequestContext {
  const HttpRequest& req;
  std::string correlation_id;
  Language lang = Language::kEnglish;
  std::vector<std::string> params;           // path parameters in pattern order
  bool master = false;                       // authenticated with the master password
  std::optional<store::SessionRow> session;  // authenticated agent session
  std::optional<store::AgentRow> agent;      // the session's agent
  std::shared_ptr<Completion> complete;      // for handlers that answer later
  // Set when an org admin key authenticated the request: the handler must confine what it reads
  // and writes to this org (only routes registered for org admins ever see it).
  std::optional<std::string> org_admin_org;
  std::optional<std::string> org_admin_key_id;

  std::string actor() const;
  store::AuditEvent audit(std::string event_type, std::int64_t now) const;
};

// A handler returns this to say it will answer through ctx.complete later.
HttpResponse deferred();
bool is_deferred(const HttpResponse& r);

// Thread-safe: handle() may run on many threads at once.
class Api {
 public:
  // Routes write only through `writer`, the group-commit writer the decisions share.
  Api(store::Store& store, store::BatchWriter& writer, const Clock& clock, IdGenerator& ids,
      Metrics& metrics, DecisionService& decisions, ledger::LedgerService& ledger,
      std::string master_password_hash, ApiOptions options);
  ~Api();

  // Answers through `respond`, now or later from another thread (deferred routes, and master
  // passwords that need Argon2id). `req` must stay valid until `respond` has run or been
  // destroyed (the transport keeps it alive in `respond`).
  void handle(const HttpRequest& req, Respond respond, Post post = {});
  // The client address of a request from `peer` (see TrustedProxies): what throttling, the
  // request log and audit rows use.
  std::string client_address(std::string_view peer, std::string_view forwarded_for) const;
  // Before the writer stops: drops queued password checks and writes pending audit rows.
  void stop();
  // The automation services for the /v1/automations, /v1/events and /v1/hosts routes, and
  // the sink of Warden's own events (auth.failed here). Set before the first request.
  void set_automation(const AutomationDeps& automation);
  // The authenticated-session cache, which the built-in automation host invalidates when it
  // suspends an agent or revokes its sessions.
  SessionCache& sessions() { return sessions_; }
  Metrics& metrics() { return metrics_; }
  store::ChangeFeed& change_feed() { return feed_; }
  // Fills the revocation set from the store's revoked, unexpired sessions (before serving).
  Status load_revocations() { return revoked_.load(store_); }
  // Error response for failures found by the transport before routing (413, 408, 400).
  HttpResponse transport_error(const HttpRequest& req, ErrorCode code, std::string message);
  // Correlation id for a request: its X-Correlation-Id when sane, else a new UUID v7.
  std::string correlation_id_for(const HttpRequest& req);

 private:
  struct Routes;
  enum class Auth { kNone, kMaster, kSession, kMasterOrSession };

  // Authentication may finish on another thread (Argon2id); `done` runs once with the outcome,
  // on the connection's thread.
  using AuthDone = std::function<void(Status)>;
  void authenticate(Auth auth, const std::shared_ptr<RequestContext>& ctx, const AuthDone& done);
  void authenticate_master(const std::shared_ptr<RequestContext>& ctx, const AuthDone& done);
  void settle_master(const std::shared_ptr<RequestContext>& ctx, bool ok, bool has_slot,
                     const AuthDone& done);
  void authenticate_session(const std::shared_ptr<RequestContext>& ctx, const AuthDone& done);
  // An org admin key ("Bearer wo_..."): 401 when unknown, revoked or its org deleted (throttled
  // and audited like bad session tokens), 403 on a route not open to org admins.
  void authenticate_org_admin(bool route_allows, const std::shared_ptr<RequestContext>& ctx,
                              const AuthDone& done);
  Status check_session(RequestContext& ctx);
  // Applies other replicas' committed changes: a policy change reloads the snapshot, a
  // revocation joins the revocation set; a resync reloads both. This process's own changes are
  // skipped: the route applied them before answering.
  void subscribe_to_changes(DecisionService& decisions);
  void refuse(const std::shared_ptr<RequestContext>& ctx, std::string kind, Status answer,
              const AuthDone& done);

  store::Store& store_;
  const Clock& clock_;
  IdGenerator& ids_;
  Metrics& metrics_;
  static constexpr std::int64_t kSessionCacheTtlMs = 1000;
  // How late a throttled attempt (429) is answered: a flood's closed-loop connections get at most
  // 4 answers per second each, and cost the daemon nothing in between.
  static constexpr std::int64_t kThrottledAnswerDelayMs = 250;
  const TrustedProxies trusted_proxies_;
  MasterVerifier master_;
  FailureThrottle master_throttle_;
  FailureThrottle session_throttle_;
  AuthFailureAudit failures_;
  Tarpit tarpit_;
  SessionCache sessions_;
  SessionKeys& session_keys_;
  RevokedSessions revoked_;
  std::unique_ptr<store::LocalChangeFeed> local_feed_;  // when no feed was given
  store::ChangeFeed& feed_;
  std::unique_ptr<Routes> routes_;
};

}  // namespace warden::server
