// Event validation: one strict pass over a posted body, so everything past intake can trust an
// Event's fields (bounded sizes, a well-formed kind, a real time).
#include "automation/events.h"

#include <fmt/format.h>

#include <array>
#include <boost/json/serialize.hpp>
#include <cctype>

#include "automation/spec.h"
#include "core/json.h"

namespace warden::automation {
namespace {

Status invalid(std::string_view field, std::string message) {
  boost::json::object details;
  details["field"] = field;
  return Status(ErrorCode::EVENT_INVALID, std::move(message), std::move(details));
}

// No control characters: these fields end up in logs and audit rows.
bool is_printable(std::string_view s) {
  for (unsigned char ch : s) {
    if (ch < 0x20 || ch == 0x7f) return false;
  }
  return true;
}

Status check_text(std::string_view field, std::string_view value, std::size_t bytes_max,
                  bool may_be_empty) {
  if (!may_be_empty && value.empty()) return invalid(field, fmt::format("{} is empty", field));
  if (value.size() > bytes_max) {
    return invalid(field, fmt::format("{} is longer than {} bytes", field, bytes_max));
  }
  if (!is_printable(value)) return invalid(field, fmt::format("{} has control characters", field));
  return Status();
}

std::size_t depth_of(const boost::json::value& v);

std::size_t depth_of(const boost::json::object& o) {
  std::size_t deepest = 0;
  for (const auto& kv : o) deepest = std::max(deepest, depth_of(kv.value()));
  return deepest + 1;
}

std::size_t depth_of(const boost::json::value& v) {
  std::size_t deepest = 0;
  if (v.is_object()) return depth_of(v.get_object());
  if (v.is_array()) {
    for (const auto& item : v.get_array()) deepest = std::max(deepest, depth_of(item));
    return deepest + 1;
  }
  return 0;
}

Result<std::string> text_field(const boost::json::value& v, std::string_view field) {
  if (!v.is_string()) return invalid(field, fmt::format("{} must be a string", field));
  return std::string(v.get_string());
}

// Days since 1970-01-01 of a proleptic Gregorian date.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

Result<std::int64_t> occurred_at(const boost::json::value& v) {
  if (v.is_int64() || v.is_uint64()) {
    const std::int64_t ms = v.is_int64() ? v.get_int64() : -1;
    if (ms < 0) return invalid("occurred_at", "occurred_at must be a non-negative ms count");
    return ms;
  }
  if (!v.is_string()) {
    return invalid("occurred_at", "occurred_at must be RFC 3339 text or Unix milliseconds");
  }
  return parse_rfc3339_ms(std::string_view(v.get_string()));
}

constexpr std::array<std::string_view, 6> kFields = {"kind",        "source",     "subject",
                                                     "occurred_at", "attributes", "id"};

}  // namespace

Result<std::int64_t> parse_rfc3339_ms(std::string_view s) {
  const Status bad =
      invalid("occurred_at", fmt::format("'{}' is not RFC 3339 time", s.substr(0, 40)));
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!digits(s, 0, 4, year) || s.size() < 20 || s[4] != '-' || !digits(s, 5, 2, month) ||
      s[7] != '-' || !digits(s, 8, 2, day) || (s[10] != 'T' && s[10] != 't') ||
      !digits(s, 11, 2, hour) || s[13] != ':' || !digits(s, 14, 2, minute) || s[16] != ':' ||
      !digits(s, 17, 2, second)) {
    return bad;
  }
  constexpr std::array<int, 12> kDays = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (month < 1 || month > 12 || day < 1 || day > kDays[month - 1] ||
      (month == 2 && day == 29 && !leap) || hour > 23 || minute > 59 || second > 60) {
    return bad;
  }
  std::size_t pos = 19;
  std::int64_t fraction_ms = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::size_t n = 0;
    for (; pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos])); ++pos, ++n) {
      if (n < 3) fraction_ms = fraction_ms * 10 + (s[pos] - '0');
    }
    if (n == 0 || n > 9) return bad;
    for (; n < 3; ++n) fraction_ms *= 10;
  }
  std::int64_t offset_s = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh = 0, om = 0;
    if (!digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !digits(s, pos + 4, 2, om) || oh > 23 || om > 59) {
      return bad;
    }
    offset_s = (oh * 3600 + om * 60) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return bad;
  }
  if (pos != s.size()) return bad;
  // A leap second is read as the next second's start.
  const std::int64_t seconds =
      days_from_civil(year, month, day) * 86'400 + hour * 3600 + minute * 60 + second - offset_s;
  if (seconds < 0) return bad;
  return seconds * 1000 + fraction_ms;
}

Status validate_event(const Event& e) {
  if (!valid_event_kind(e.kind)) {
    return invalid("kind", "kind must be dot-separated [a-z][a-z0-9_]* segments, at most 64 bytes");
  }
  WARDEN_RETURN_IF_ERROR(check_text("source", e.source, kEventSourceBytesMax, false));
  WARDEN_RETURN_IF_ERROR(check_text("subject", e.subject, kEventSubjectBytesMax, true));
  if (!is_uuid(e.id)) return invalid("id", "id must be a lower-case UUID");
  if (e.occurred_at_ms < 0) return invalid("occurred_at", "occurred_at is before 1970");
  if (e.attributes.size() > kEventAttributesMax) {
    return invalid("attributes",
                   fmt::format("attributes has more than {} keys", kEventAttributesMax));
  }
  if (depth_of(e.attributes) > kEventAttributeDepthMax) {
    return invalid("attributes",
                   fmt::format("attributes nest deeper than {}", kEventAttributeDepthMax));
  }
  return Status();
}

Result<Event> parse_event(const boost::json::value& body, const EventDefaults& defaults,
                          const Clock& clock, IdGenerator& ids) {
  if (!body.is_object()) return invalid("body", "an event is a JSON object");
  const boost::json::object& o = body.get_object();
  for (const auto& kv : o) {
    if (std::find(kFields.begin(), kFields.end(), kv.key()) == kFields.end()) {
      return invalid(kv.key(), fmt::format("unknown field '{}'", std::string_view(kv.key())));
    }
  }
  Event e;
  const auto* kind = o.if_contains("kind");
  if (kind == nullptr) return invalid("kind", "kind is required");
  WARDEN_ASSIGN_OR_RETURN(e.kind, text_field(*kind, "kind"));
  e.source = defaults.source;
  if (const auto* v = o.if_contains("source")) {
    WARDEN_ASSIGN_OR_RETURN(e.source, text_field(*v, "source"));
  }
  e.subject = defaults.subject;
  if (const auto* v = o.if_contains("subject")) {
    WARDEN_ASSIGN_OR_RETURN(e.subject, text_field(*v, "subject"));
  }
  e.occurred_at_ms = clock.now_ms();
  if (const auto* v = o.if_contains("occurred_at")) {
    WARDEN_ASSIGN_OR_RETURN(e.occurred_at_ms, occurred_at(*v));
  }
  if (const auto* v = o.if_contains("attributes")) {
    if (!v->is_object()) return invalid("attributes", "attributes must be an object");
    e.attributes = v->get_object();
  }
  if (const auto* v = o.if_contains("id")) {
    WARDEN_ASSIGN_OR_RETURN(e.id, text_field(*v, "id"));
  } else {
    e.id = ids.next();
  }
  WARDEN_RETURN_IF_ERROR(validate_event(e));
  return e;
}

Result<Event> parse_event_text(std::string_view body, const EventDefaults& defaults,
                               const Clock& clock, IdGenerator& ids) {
  if (body.size() > kEventBytesMax) {
    return invalid("body", fmt::format("an event is at most {} bytes", kEventBytesMax));
  }
  Result<boost::json::value> doc = parse_json(body);
  if (!doc.ok()) return invalid("body", doc.status().message());
  return parse_event(*doc, defaults, clock, ids);
}

Event make_warden_event(std::string_view kind, std::string subject, boost::json::object attributes,
                        const Clock& clock, IdGenerator& ids) {
  Event e;
  e.id = ids.next();
  e.kind = std::string(kind);
  e.source = std::string(kWardenSource);
  e.subject = std::move(subject);
  e.occurred_at_ms = clock.now_ms();
  e.attributes = std::move(attributes);
  return e;
}

}  // namespace warden::automation
