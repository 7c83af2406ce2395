// The HTTP API of ARCHITECTURE.md §4 / API.md: routing, authentication, error bodies and the
// resource handlers (agents, sessions, policies, audit, health, metrics). Transport-agnostic:
// it takes an HttpRequest and returns an HttpResponse.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/ids.h"
#include "server/auth.h"
#include "server/http_types.h"
#include "server/metrics.h"
#include "store/store.h"

namespace warden::server {

struct ApiOptions {
  int auth_failures_max = 5;
  std::int64_t auth_failure_window_seconds = 60;
};

// Per-request state handed to route handlers.
struct RequestContext {
  const HttpRequest& req;
  std::string correlation_id;
  Language lang = Language::kEnglish;
  std::vector<std::string> params;         // path parameters in pattern order
  bool master = false;                     // authenticated with the master password
  std::optional<store::SessionRow> session;  // authenticated agent session

  std::string actor() const;
  store::AuditEvent audit(std::string event_type, std::int64_t now) const;
};

// Thread-safe: handle() may run on many threads at once.
class Api {
 public:
  Api(store::Store& store, const Clock& clock, IdGenerator& ids, Metrics& metrics,
      std::string master_password_hash, ApiOptions options);
  ~Api();

  HttpResponse handle(const HttpRequest& req);
  // Error response for failures found by the transport before routing (413, 408, 400).
  HttpResponse transport_error(const HttpRequest& req, ErrorCode code, std::string message);
  // Correlation id for a request: its X-Correlation-Id when sane, else a new UUID v7.
  std::string correlation_id_for(const HttpRequest& req);

 private:
  struct Routes;
  enum class Auth { kNone, kMaster, kSession, kMasterOrSession };

  Status authenticate(Auth auth, RequestContext& ctx);
  Status authenticate_master(RequestContext& ctx);
  Status authenticate_session(RequestContext& ctx);
  void audit_auth_failure(const RequestContext& ctx, const Status& why);
  HttpResponse error_response(const Status& status, const RequestContext& ctx);

  store::Store& store_;
  const Clock& clock_;
  IdGenerator& ids_;
  Metrics& metrics_;
  MasterVerifier master_;
  FailureThrottle throttle_;
  std::unique_ptr<Routes> routes_;
};

}  // namespace warden::server
