// Templates in action params (docs/automation.md, "Spec v1"): "{{event.subject}}",
// "{{event.attributes.amount}}", "{{target.id}}", ... are replaced at execute time.
#pragma once

#include <boost/json/object.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "automation/types.h"
#include "core/status.h"

namespace warden::automation {

// One "{{scope.path}}" reference. Allowed: event.id, event.kind, event.source, event.subject,
// event.attributes.<name>[.<name>...], target.id, target.name, target.kind,
// target.labels.<name>.
struct TemplateRef {
  std::string scope;  // "event" | "target"
  std::string path;   // "subject", "attributes.amount", ...
};

// The references in `text` (none: empty). VALIDATION_INVALID_VALUE for an unclosed "{{", an
// empty or unknown reference.
Result<std::vector<TemplateRef>> template_refs(std::string_view text);

// `params` with every template replaced. A string that is exactly one reference takes the
// referenced JSON value (an attribute keeps its type); otherwise references are spliced in as
// text (strings as is, other values as JSON). A reference to something absent (no event, no
// such attribute) is VALIDATION_INVALID_VALUE naming it.
Result<boost::json::object> expand_templates(const boost::json::object& params, const Event* event,
                                             const InventoryItem* target);

}  // namespace warden::automation
