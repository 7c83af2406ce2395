// Strict JSON parsing and canonical serialisation.
#include "core/json.h"

#include <boost/json/stream_parser.hpp>
#include <boost/json/serialize.hpp>
#include <algorithm>
#include <vector>

#include "core/clock.h"
#include "core/sha256.h"

namespace warden {
namespace json = boost::json;

void append_json_string(std::string& out, std::string_view s) {
  // Printable ASCII needs only quote and backslash escaped, as any JSON serialiser writes them;
  // the rest (control characters, UTF-8) goes through Boost.JSON's serialiser.
  const bool ascii = std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c <= 0x7E; });
  if (!ascii) {
    out += json::serialize(json::string_view(s.data(), s.size()));
    return;
  }
  out += '"';
  for (const char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}

namespace {

void write_canonical(std::string& out, const json::value& v) {
  switch (v.kind()) {
    case json::kind::object: {
      const auto& obj = v.as_object();
      std::vector<const json::key_value_pair*> items;
      items.reserve(obj.size());
      for (const auto& kv : obj) items.push_back(&kv);
      std::sort(items.begin(), items.end(),
                [](auto* a, auto* b) { return a->key() < b->key(); });
      out.push_back('{');
      for (std::size_t i = 0; i < items.size(); ++i) {
        if (i) out.push_back(',');
        append_json_string(out, items[i]->key());
        out.push_back(':');
        write_canonical(out, items[i]->value());
      }
      out.push_back('}');
      return;
    }
    case json::kind::array: {
      out.push_back('[');
      bool first = true;
      for (const auto& e : v.as_array()) {
        if (!first) out.push_back(',');
        first = false;
        write_canonical(out, e);
      }
      out.push_back(']');
      return;
    }
    case json::kind::string:
      append_json_string(out, v.as_string());
      return;
    default:
      out += json::serialize(v);
      return;
  }
}

}  // namespace

Result<json::value> parse_json(std::string_view text) {
  json::parse_options opt;
  opt.allow_comments = false;
  opt.allow_trailing_commas = false;
  opt.allow_invalid_utf8 = false;
  opt.max_depth = 64;
  json::stream_parser p({}, opt);
  boost::system::error_code ec;
  const std::size_t n = p.write_some(text.data(), text.size(), ec);
  if (!ec && n != text.size()) ec = json::error::extra_data;
  if (!ec) p.finish(ec);
  if (ec) {
    return Status(ErrorCode::VALIDATION_MALFORMED_JSON,
                  "malformed JSON at byte " + std::to_string(n) + ": " + ec.message());
  }
  return p.release();
}

std::string canonical_json(const json::value& v) {
  std::string out;
  write_canonical(out, v);
  return out;
}

std::string canonical_hash(const json::value& v) { return sha256_hex(canonical_json(v)); }

json::value nullable(const std::optional<std::string>& v) {
  return v ? json::value(*v) : json::value(nullptr);
}

json::value nullable_time(const std::optional<std::int64_t>& t) {
  return t ? json::value(format_rfc3339(*t)) : json::value(nullptr);
}

}  // namespace warden
