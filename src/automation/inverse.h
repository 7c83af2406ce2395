// Inverses (docs/automation.md, "Inverses"): from a normalized spec, a disabled spec that
// undoes its actions with each verb's inverse verb.
#pragma once

#include <boost/json/object.hpp>
#include <string>
#include <vector>

#include "automation/types.h"
#include "core/status.h"

namespace warden::automation {

struct InverseSpec {
  boost::json::object spec;  // disabled, named "<name> (inverse)"
  // RFC 6901 pointers into `spec` of the inverse verbs' required params that the original
  // params do not provide.
  std::vector<std::string> needs_input;
};

// AUTOMATION_NO_INVERSE (details.pointer = the action's pointer) when an action's verb has no
// inverse; AUTOMATION_HOST_NOT_FOUND when an action's host is not in `hosts`.
Result<InverseSpec> make_inverse(const boost::json::object& normalized,
                                 const std::vector<HostInfo>& hosts);

}  // namespace warden::automation
