// Inverse creation: the same automation with each action replaced by its verb's inverse.
#include "automation/inverse.h"
#include "core/json.h"

namespace warden::automation {
namespace json = boost::json;
namespace {

constexpr std::string_view kInverseSuffix = " (inverse)";
constexpr std::size_t kNameBytesMax = 200;  // kSpecNameBytesMax (spec.h)

std::string str(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

// `name` cut to `bytes` without splitting a UTF-8 sequence.
std::string utf8_prefix(const std::string& name, std::size_t bytes) {
  if (name.size() <= bytes) return name;
  std::size_t end = bytes;
  while (end > 0 && (static_cast<unsigned char>(name[end]) & 0xC0) == 0x80) --end;
  return name.substr(0, end);
}

const VerbInfo* find_verb(const HostInfo& host, std::string_view capability,
                          std::string_view verb) {
  for (const VerbInfo& v : host.verbs) {
    if (v.capability == capability && v.verb == verb) return &v;
  }
  return nullptr;
}

}  // namespace

Result<InverseSpec> make_inverse(const json::object& normalized,
                                 const std::vector<HostInfo>& hosts) {
  const json::value* actions_value = normalized.if_contains("actions");
  if (actions_value == nullptr || !actions_value->is_array()) {
    return Status(ErrorCode::AUTOMATION_INVALID, "the spec has no actions");
  }
  const json::array& actions = actions_value->get_array();
  InverseSpec out;
  out.spec = normalized;
  out.spec["enabled"] = false;
  const std::string name = str(normalized, "name");
  out.spec["name"] =
      utf8_prefix(name, kNameBytesMax - kInverseSuffix.size()) + std::string(kInverseSuffix);
  // Undo in reverse order: the last effect is undone first.
  json::array inverse_actions;
  for (std::size_t k = actions.size(); k-- > 0;) {
    const std::string pointer = "/actions/" + std::to_string(k);
    const json::object* a = actions[k].if_object();
    if (a == nullptr) return Status(ErrorCode::AUTOMATION_INVALID, pointer + " is not an object");
    const std::string host_id = str(*a, "host");
    const std::string capability = str(*a, "capability");
    const std::string verb = str(*a, "verb");
    const HostInfo* host = nullptr;
    for (const HostInfo& h : hosts) {
      if (h.id == host_id) host = &h;
    }
    if (host == nullptr) {
      return Status(ErrorCode::AUTOMATION_HOST_NOT_FOUND,
                    pointer + ": no driver declares host \"" + host_id + "\"",
                    json::object{{"pointer", pointer}, {"host", host_id}});
    }
    const VerbInfo* forward = find_verb(*host, capability, verb);
    const VerbInfo* inverse = forward == nullptr || !forward->invertible
                                  ? nullptr
                                  : find_verb(*host, capability, forward->inverse_verb);
    if (inverse == nullptr) {
      return Status(
          ErrorCode::AUTOMATION_NO_INVERSE,
          pointer + ": " + host_id + " " + capability + "." + verb + " has no inverse",
          json::object{
              {"pointer", pointer}, {"host", host_id}, {"capability", capability}, {"verb", verb}});
    }
    // Keep the params the inverse verb declares; its required ones still missing need input.
    const json::value* props_value = inverse->params_schema.if_contains("properties");
    const json::object* props = props_value == nullptr ? nullptr : props_value->if_object();
    json::object params;
    if (const json::value* given = a->if_contains("params");
        given != nullptr && given->is_object()) {
      for (const auto& kv : given->get_object()) {
        if (props != nullptr && props->contains(kv.key())) params[kv.key()] = kv.value();
      }
    }
    const std::string new_pointer = "/actions/" + std::to_string(inverse_actions.size());
    if (const json::value* required = inverse->params_schema.if_contains("required");
        required != nullptr && required->is_array()) {
      for (const json::value& r : required->get_array()) {
        if (r.is_string() && !params.contains(r.get_string())) {
          out.needs_input.push_back(
              json_pointer_join(new_pointer + "/params", std::string_view(r.get_string())));
        }
      }
    }
    inverse_actions.push_back(json::object{{"host", host_id},
                                           {"capability", capability},
                                           {"verb", inverse->verb},
                                           {"params", std::move(params)}});
  }
  out.spec["actions"] = std::move(inverse_actions);
  return out;
}

}  // namespace warden::automation
