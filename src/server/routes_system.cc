// Shared JSON helpers, health, readiness, metrics and the audit log listing.
#include <fmt/format.h>

#include <boost/json/serialize.hpp>

#include "core/json.h"
#include "decisions/decisions.h"
#include "server/log.h"
#include "server/routes.h"

namespace warden::server {
namespace json = boost::json;

HttpResponse json_response(int status, const json::value& body) {
  HttpResponse r;
  r.status = status;
  r.body = json::serialize(body);
  return r;
}

HttpResponse no_content() {
  HttpResponse r;
  r.status = 204;
  r.content_type.clear();
  return r;
}

Result<HttpResponse> commit_then_answer(const Deps& d, const RequestContext& ctx,
                                        store::BatchWriter::Op op, AfterCommit after_commit,
                                        BuildResponse respond, ThenAsync then) {
  auto done = [complete = ctx.complete, after_commit = std::move(after_commit),
               respond = std::move(respond), then = std::move(then)](const Status& committed) {
    auto answer = [complete, respond](const Status& s) {
      complete->later([complete, s, respond]() {
        if (!s.ok()) return (*complete)(s);
        (*complete)(respond());
      });
    };
    Status s = after_commit ? after_commit(committed) : committed;
    if (s.ok() && then) return then(answer);
    answer(s);
  };
  // Api::handle turns a handler's exception (a bug) into a 500; on the writer thread nothing
  // would, so the op does it itself and its batch goes on without it.
  auto guarded = [op = std::move(op)](store::WriteTxn& tx) -> Status {
    try {
      return op(tx);
    } catch (const std::exception& e) {
      log_event(LogLevel::kError, "write threw", {{"error", e.what()}});
      return Status(ErrorCode::INTERNAL_ERROR);
    }
  };
  WARDEN_RETURN_IF_ERROR(d.writer.submit(std::move(guarded), std::move(done)));
  return deferred();
}

std::optional<std::string> query_text(const HttpRequest& req, const std::string& key) {
  auto it = req.query.find(key);
  if (it == req.query.end() || it->second.empty()) return std::nullopt;
  return it->second;
}

Result<std::int64_t> query_int(const HttpRequest& req, const std::string& key,
                               std::int64_t fallback, std::int64_t min, std::int64_t max) {
  auto it = req.query.find(key);
  if (it == req.query.end() || it->second.empty()) return fallback;
  std::int64_t v = 0;
  const std::string& s = it->second;
  if (s.size() > 18) {
    return Status(ErrorCode::VALIDATION_INVALID_VALUE, "query parameter '" + key + "' is too large");
  }
  for (char c : s) {
    if (c < '0' || c > '9') {
      return Status(ErrorCode::VALIDATION_INVALID_VALUE,
                    "query parameter '" + key + "' must be a non-negative integer");
    }
    v = v * 10 + (c - '0');
  }
  if (v < min || v > max) {
    return Status(ErrorCode::VALIDATION_INVALID_VALUE,
                  "query parameter '" + key + "' must be between " + std::to_string(min) +
                      " and " + std::to_string(max));
  }
  return v;
}

Result<store::Page> page_from_query(const HttpRequest& req, std::size_t limit_default,
                                    std::size_t limit_max) {
  store::Page page;
  WARDEN_ASSIGN_OR_RETURN(const std::int64_t limit,
                          query_int(req, "limit", static_cast<std::int64_t>(limit_default), 1,
                                    static_cast<std::int64_t>(limit_max)));
  page.limit = static_cast<std::size_t>(limit);
  if (auto it = req.query.find("cursor"); it != req.query.end() && !it->second.empty()) {
    if (!is_uuid(it->second)) return Status(ErrorCode::VALIDATION_INVALID_CURSOR);
    page.after_id = it->second;
  }
  return page;
}

Result<HttpResponse> get_healthz(const Deps&, RequestContext&) {
  return json_response(200, json::object{{"status", "ok"}});
}

Result<HttpResponse> get_readyz(const Deps& d, RequestContext& ctx) {
  if (Status s = d.store.ping(); !s.ok()) {
    return json_response(503, json::object{{"status", "not_ready"}, {"reason", s.message()}});
  }
  return json_response(200, json::object{{"status", "ready"}});
}

Result<HttpResponse> get_metrics(const Deps& d, RequestContext&) {
  HttpResponse r;
  r.content_type = "text/plain; version=0.0.4";
  r.body = d.metrics.render();
  // What the decision service counts itself.
  const engine::EngineStats engine = d.decisions.engine().stats();
  r.body += fmt::format(
      "# HELP warden_late_settlements_total Confirms that arrived after their reservation "
      "expired (counted in their windows anyway).\n"
      "# TYPE warden_late_settlements_total counter\n"
      "warden_late_settlements_total {}\n"
      "# HELP warden_open_reservations Reservations held in memory.\n"
      "# TYPE warden_open_reservations gauge\n"
      "warden_open_reservations {}\n"
      "# HELP warden_timers Timers waiting (DELAY release, approval expiry, reservation TTL).\n"
      "# TYPE warden_timers gauge\n"
      "warden_timers {}\n",
      d.decisions.late_settlements(), engine.reservations, d.decisions.timers_pending());
  return r;
}

namespace {

json::value audit_json(const store::AuditRow& row) {
  const auto& e = row.event;
  json::object o;
  o["id"] = row.id;
  o["timestamp"] = format_rfc3339(e.timestamp);
  o["event_type"] = e.event_type;
  o["actor"] = e.actor;
  o["agent_id"] = nullable(e.agent_id);
  o["session_id"] = nullable(e.session_id);
  o["tx_id"] = nullable(e.tx_id);
  auto details = parse_json(e.details);
  o["details"] = details.ok() ? std::move(details).value() : json::value(e.details);
  o["severity"] = e.severity;
  o["ip_address"] = nullable(e.ip_address);
  o["correlation_id"] = nullable(e.correlation_id);
  o["prev_hash"] = row.prev_hash;
  o["hash"] = row.hash;
  return o;
}

}  // namespace

Result<HttpResponse> list_audit(const Deps& d, RequestContext& ctx) {
  constexpr std::int64_t kLimitMax = 1000;
  store::AuditFilter filter;
  WARDEN_ASSIGN_OR_RETURN(filter.after_id,
                          query_int(ctx.req, "after_id", 0, 0, std::int64_t{1} << 62));
  WARDEN_ASSIGN_OR_RETURN(const std::int64_t limit, query_int(ctx.req, "limit", 100, 1, kLimitMax));
  filter.limit = static_cast<std::size_t>(limit);
  filter.event_type = query_text(ctx.req, "event_type");
  filter.agent_id = query_text(ctx.req, "agent_id");
  const ScopedReader reader(d.store, ctx.org_admin_org);  // an org admin: its agents' rows
  WARDEN_ASSIGN_OR_RETURN(auto rows, reader->list_audit(filter));
  json::array items;
  for (const auto& row : rows) items.push_back(audit_json(row));
  json::object out;
  out["next_after_id"] = rows.size() == filter.limit ? json::value(rows.back().id) : nullptr;
  out["items"] = std::move(items);
  return json_response(200, out);
}

}  // namespace warden::server
