// Usage rollups for the dashboard (docs/gateway.md, "Usage"): the usage events the gateway
// records, summed per hour, day, model or app over a time range.
#include "server/body.h"
#include "server/routes.h"

namespace warden::server {
namespace json = boost::json;

namespace {

constexpr std::int64_t kRangeSecondsMax = 366 * 86'400;
constexpr std::int64_t kRangeSecondsDefault = 86'400;
constexpr std::int64_t kTimeMax = std::int64_t{1} << 40;  // far past any Unix second in use
constexpr std::size_t kFilterBytesMax = 256;

}  // namespace

// GET /v1/usage?app_id=&model=&from=&to=&group_by=hour|day|model|app. Master: any app; an
// agent's session: its own (app_id is the agent).
Result<HttpResponse> get_usage(const Deps& d, RequestContext& ctx) {
  store::UsageRollupFilter f;
  f.group_by = query_text(ctx.req, "group_by").value_or("hour");
  if (f.group_by != "hour" && f.group_by != "day" && f.group_by != "model" &&
      f.group_by != "app") {
    return field_error(ErrorCode::VALIDATION_INVALID_VALUE, "group_by",
                       "group_by must be hour, day, model or app");
  }
  const std::int64_t now = d.clock.now_seconds();
  WARDEN_ASSIGN_OR_RETURN(f.to, query_int(ctx.req, "to", now, 0, kTimeMax));
  WARDEN_ASSIGN_OR_RETURN(f.from,
                          query_int(ctx.req, "from", f.to - kRangeSecondsDefault, 0, kTimeMax));
  if (f.from >= f.to || f.to - f.from > kRangeSecondsMax) {
    return field_error(ErrorCode::VALIDATION_INVALID_VALUE, "from",
                       "from must be before to, at most 366 days before it");
  }
  f.agent_id = query_text(ctx.req, "app_id");
  f.model = query_text(ctx.req, "model");
  for (const auto* v : {&f.agent_id, &f.model}) {
    if (*v && (*v)->size() > kFilterBytesMax) {
      return field_error(ErrorCode::VALIDATION_INVALID_VALUE, v == &f.model ? "model" : "app_id",
                         "at most 256 bytes");
    }
  }
  if (!ctx.master && !ctx.org_admin_org) {
    if (!ctx.session) return Status(ErrorCode::AUTH_SESSION_REQUIRED);
    if (f.agent_id && *f.agent_id != ctx.session->agent_id) {
      return Status(ErrorCode::AUTH_FORBIDDEN, "a session may read only its own agent's usage");
    }
    f.agent_id = ctx.session->agent_id;
  }
  // An org admin reads its org's agents' usage (another org's app_id reads as no usage).
  const ScopedReader reader(d.store, ctx.org_admin_org);
  WARDEN_ASSIGN_OR_RETURN(auto rows, reader->usage_rollup(f));
  json::array items;
  for (const auto& r : rows) {
    json::object o;
    if (f.group_by == "hour" || f.group_by == "day") {
      o["bucket"] = std::stoll(r.key);
    } else {
      o[f.group_by == "model" ? "model" : "app_id"] = r.key;
    }
    o["currency"] = r.currency ? json::value(*r.currency) : json::value(nullptr);
    o["requests"] = r.requests;
    o["prompt_tokens"] = r.prompt_tokens;
    o["completion_tokens"] = r.completion_tokens;
    o["total_tokens"] = r.prompt_tokens + r.completion_tokens;
    o["cost"] = r.cost;
    items.push_back(std::move(o));
  }
  return json_response(200, json::object{{"group_by", f.group_by},
                                         {"from", f.from},
                                         {"to", f.to},
                                         {"items", std::move(items)}});
}

}  // namespace warden::server
