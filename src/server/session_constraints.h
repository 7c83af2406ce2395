// Session constraints: limits the master puts on one session on top of its agent's policies (the
// actions it may request, the largest amount of any one request). Read strictly when the session
// is issued, stored canonical, and enforced on every decision request made with the session.
#pragma once

#include <boost/json/object.hpp>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "core/amount.h"
#include "core/status.h"
#include "engine/engine.h"
#include "server/routes.h"

namespace warden::server {

inline constexpr std::size_t kConstraintActionsMax = 64;

struct SessionConstraints {
  std::vector<std::string> actions;  // upper case, sorted, unique; empty: any action
  std::optional<Amount> amount_max;  // caps every amount of one request; none: no cap
  bool empty() const { return actions.empty() && !amount_max; }
};

// The `constraints` object of POST /v1/sessions: {"actions"?: [name, ...], "amount_max"?: "n"}.
// Anything else is refused, naming the field as "constraints.<key>".
Result<SessionConstraints> parse_session_constraints(const boost::json::object& o);
// The canonical form that is stored and shown.
boost::json::object session_constraints_json(const SessionConstraints& c);

// Refuses with 403 SESSION_CONSTRAINT_VIOLATED a request that the session's constraints do not
// allow (an action not listed, an amount above amount_max, or stored constraints this version
// cannot read: it fails closed). The refusal reserves nothing and is audited as a warning
// through the group-commit writer.
Status check_session_constraints(const Deps& d, const RequestContext& ctx,
                                 const engine::Request& request);

}  // namespace warden::server
