// Templates in action params: parsing of "{{scope.path}}" references and their expansion.
#include "automation/template.h"

#include <boost/json/serialize.hpp>

namespace warden::automation {
namespace json = boost::json;
namespace {

constexpr std::size_t kTemplateRefsMax = 32;  // references in one string

Status invalid(std::string_view why) {
  return Status(ErrorCode::VALIDATION_INVALID_VALUE, "invalid template: " + std::string(why));
}

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

// "a.b.c" with non-empty segments of name characters.
bool dotted_names(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '.') {
      if (s[i + 1] == '.') return false;
    } else if (!name_char(s[i])) {
      return false;
    }
  }
  return true;
}

Result<TemplateRef> parse_ref(std::string_view body) {
  while (!body.empty() && body.front() == ' ') body.remove_prefix(1);
  while (!body.empty() && body.back() == ' ') body.remove_suffix(1);
  const auto dot = body.find('.');
  if (dot == std::string_view::npos) {
    return invalid("\"{{" + std::string(body) + "}}\" names no field");
  }
  TemplateRef r{std::string(body.substr(0, dot)), std::string(body.substr(dot + 1))};
  const std::string_view path = r.path;
  bool ok = false;
  if (r.scope == "event") {
    ok = path == "id" || path == "kind" || path == "source" || path == "subject" ||
         (path.rfind("attributes.", 0) == 0 && dotted_names(path.substr(11)));
  } else if (r.scope == "target") {
    ok = path == "id" || path == "name" || path == "kind" ||
         (path.rfind("labels.", 0) == 0 && path.size() > 7 &&
          path.substr(7).find_first_of(" {}") == std::string_view::npos);
  }
  if (!ok) return invalid("unknown reference \"{{" + std::string(body.substr(0, 64)) + "}}\"");
  return r;
}

// Finds the references of `text` with their [begin, end) byte spans.
Status scan(std::string_view text, std::vector<TemplateRef>& refs,
            std::vector<std::pair<std::size_t, std::size_t>>* spans) {
  std::size_t i = 0;
  while (true) {
    const auto open = text.find("{{", i);
    const auto stray = text.find("}}", i);
    if (open == std::string_view::npos) {
      if (stray != std::string_view::npos) return invalid("\"}}\" without \"{{\"");
      return {};
    }
    if (stray < open) return invalid("\"}}\" without \"{{\"");
    const auto close = text.find("}}", open + 2);
    if (close == std::string_view::npos) return invalid("\"{{\" without \"}}\"");
    WARDEN_ASSIGN_OR_RETURN(TemplateRef r, parse_ref(text.substr(open + 2, close - open - 2)));
    refs.push_back(std::move(r));
    if (refs.size() > kTemplateRefsMax) return invalid("too many references");
    if (spans != nullptr) spans->emplace_back(open, close + 2);
    i = close + 2;
  }
}

Result<json::value> lookup(const TemplateRef& r, const Event* event, const InventoryItem* target) {
  const std::string name = "{{" + r.scope + "." + r.path + "}}";
  if (r.scope == "event") {
    if (event == nullptr) return invalid(name + " without an event");
    if (r.path == "id") return json::value(event->id);
    if (r.path == "kind") return json::value(event->kind);
    if (r.path == "source") return json::value(event->source);
    if (r.path == "subject") return json::value(event->subject);
    const json::value* v = nullptr;
    const json::object* o = &event->attributes;
    std::string_view rest = std::string_view(r.path).substr(11);
    while (true) {
      const auto dot = rest.find('.');
      v = o->if_contains(rest.substr(0, dot));
      if (v == nullptr) return invalid(name + ": the event has no such attribute");
      if (dot == std::string_view::npos) break;
      o = v->if_object();
      if (o == nullptr) return invalid(name + ": the event has no such attribute");
      rest = rest.substr(dot + 1);
    }
    return *v;
  }
  if (target == nullptr) return invalid(name + " without a target");
  if (r.path == "id") return json::value(target->id);
  if (r.path == "name") return json::value(target->name);
  if (r.path == "kind") return json::value(target->kind);
  const auto it = target->labels.find(r.path.substr(7));
  if (it == target->labels.end()) return invalid(name + ": the target has no such label");
  return json::value(it->second);
}

Result<json::value> expand(const json::value& v, const Event* event, const InventoryItem* target) {
  if (const json::object* o = v.if_object()) {
    json::object out;
    for (const auto& kv : *o) {
      WARDEN_ASSIGN_OR_RETURN(out[kv.key()], expand(kv.value(), event, target));
    }
    return json::value(std::move(out));
  }
  if (const json::array* a = v.if_array()) {
    json::array out;
    for (const json::value& item : *a) {
      WARDEN_ASSIGN_OR_RETURN(json::value x, expand(item, event, target));
      out.push_back(std::move(x));
    }
    return json::value(std::move(out));
  }
  const json::string* s = v.if_string();
  if (s == nullptr) return v;
  std::vector<TemplateRef> refs;
  std::vector<std::pair<std::size_t, std::size_t>> spans;
  WARDEN_RETURN_IF_ERROR(scan(*s, refs, &spans));
  if (refs.empty()) return v;
  if (refs.size() == 1 && spans[0].first == 0 && spans[0].second == s->size()) {
    return lookup(refs[0], event, target);
  }
  std::string out;
  std::size_t last = 0;
  for (std::size_t i = 0; i < refs.size(); ++i) {
    out.append(s->data() + last, spans[i].first - last);
    WARDEN_ASSIGN_OR_RETURN(json::value x, lookup(refs[i], event, target));
    if (const json::string* xs = x.if_string()) {
      out.append(xs->data(), xs->size());
    } else {
      out += json::serialize(x);
    }
    last = spans[i].second;
  }
  out.append(s->data() + last, s->size() - last);
  return json::value(std::move(out));
}

}  // namespace

Result<std::vector<TemplateRef>> template_refs(std::string_view text) {
  std::vector<TemplateRef> refs;
  WARDEN_RETURN_IF_ERROR(scan(text, refs, nullptr));
  return refs;
}

Result<json::object> expand_templates(const json::object& params, const Event* event,
                                      const InventoryItem* target) {
  WARDEN_ASSIGN_OR_RETURN(json::value v, expand(json::value(params), event, target));
  return std::move(v.get_object());
}

}  // namespace warden::automation
