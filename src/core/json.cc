// Strict JSON parsing and canonical serialisation.
#include "core/json.h"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value_stack.hpp>
#include <algorithm>
#include <vector>

#include "core/clock.h"
#include "core/sha256.h"

namespace warden {
namespace json = boost::json;
using error_code = boost::system::error_code;

void append_json_string(std::string& out, std::string_view s) {
  // Printable ASCII needs only quote and backslash escaped, as any JSON serialiser writes them,
  // and runs without either are appended whole (the audit chain escapes every event's details,
  // itself JSON, this way on the writer's thread). The rest (control characters, UTF-8) goes
  // through Boost.JSON's serialiser.
  const std::size_t start_size = out.size();
  out += '"';
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c < 0x20 || c > 0x7E) {
      out.resize(start_size);
      out += json::serialize(json::string_view(s.data(), s.size()));
      return;
    }
    if (c != '"' && c != '\\') continue;
    out.append(s, run, i - run);
    out += '\\';
    run = i;
  }
  out.append(s, run, std::string_view::npos);
  out += '"';
}

namespace {

constexpr std::size_t kDepthMax = 64;

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


json::parse_options strict_options() {
  json::parse_options opt;
  opt.allow_comments = false;
  opt.allow_trailing_commas = false;
  opt.allow_invalid_utf8 = false;
  opt.max_depth = kDepthMax;
  return opt;
}

// SAX handler for json::basic_parser that builds the value as Boost.JSON's own parser does and
// counts the object members it saw.
struct ValueBuilder {
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();

  json::value_stack stack;
  std::size_t members = 0;

  bool on_document_begin(error_code&) { return true; }
  bool on_document_end(error_code&) { return true; }
  bool on_object_begin(error_code&) { return true; }
  bool on_object_end(std::size_t n, error_code&) {
    members += n;
    stack.push_object(n);
    return true;
  }
  bool on_array_begin(error_code&) { return true; }
  bool on_array_end(std::size_t n, error_code&) {
    stack.push_array(n);
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t, error_code&) {
    stack.push_chars(s);
    return true;
  }
  bool on_key(json::string_view s, std::size_t, error_code&) {
    stack.push_key(s);
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, error_code&) {
    stack.push_chars(s);
    return true;
  }
  bool on_string(json::string_view s, std::size_t, error_code&) {
    stack.push_string(s);
    return true;
  }
  bool on_number_part(json::string_view, error_code&) { return true; }
  bool on_int64(std::int64_t i, json::string_view, error_code&) {
    stack.push_int64(i);
    return true;
  }
  bool on_uint64(std::uint64_t u, json::string_view, error_code&) {
    stack.push_uint64(u);
    return true;
  }
  bool on_double(double d, json::string_view, error_code&) {
    stack.push_double(d);
    return true;
  }
  bool on_bool(bool b, error_code&) {
    stack.push_bool(b);
    return true;
  }
  bool on_null(error_code&) {
    stack.push_null();
    return true;
  }
  bool on_comment_part(json::string_view, error_code&) { return true; }
  bool on_comment(json::string_view, error_code&) { return true; }
};

std::size_t object_members(const json::value& v) {
  std::size_t n = 0;
  if (const auto* o = v.if_object()) {
    n += o->size();
    for (const auto& kv : *o) n += object_members(kv.value());
  } else if (const auto* a = v.if_array()) {
    for (const auto& e : *a) n += object_members(e);
  }
  return n;
}

void append_pointer_token(std::string& out, std::string_view token) {
  out += '/';
  for (const char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
}

// SAX handler that builds nothing and stops at the first key repeated within its object,
// remembering its JSON pointer. Run only on a document known to hold one.
struct DuplicateFinder {
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();

  // An open object (its keys so far; the last is the member being read) or array (the index
  // of the element being read).
  struct Frame {
    bool object = false;
    std::vector<std::string> keys;
    std::size_t index = 0;
  };
  std::vector<Frame> frames;
  std::string key;  // the key being read, which may arrive in parts
  std::string duplicate;
  std::string pointer;

  void value_done() {
    if (!frames.empty() && !frames.back().object) ++frames.back().index;
  }
  std::string path() const {
    std::string out;
    for (const auto& f : frames) {
      if (f.object) {
        append_pointer_token(out, f.keys.back());
      } else {
        out += '/';
        out += std::to_string(f.index);
      }
    }
    return out;
  }

  bool on_document_begin(error_code&) { return true; }
  bool on_document_end(error_code&) { return true; }
  bool on_object_begin(error_code&) {
    frames.push_back({true, {}, 0});
    return true;
  }
  bool on_object_end(std::size_t, error_code&) {
    frames.pop_back();
    value_done();
    return true;
  }
  bool on_array_begin(error_code&) {
    frames.push_back({false, {}, 0});
    return true;
  }
  bool on_array_end(std::size_t, error_code&) {
    frames.pop_back();
    value_done();
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t, error_code&) {
    key.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, std::size_t, error_code& ec) {
    key.append(s.data(), s.size());
    auto& keys = frames.back().keys;
    if (std::find(keys.begin(), keys.end(), key) != keys.end()) {
      frames.pop_back();
      pointer = path();
      append_pointer_token(pointer, key);
      duplicate = std::move(key);
      ec = json::error::exception;  // any error stops the parser; the caller reads `pointer`
      return false;
    }
    keys.push_back(std::move(key));
    key.clear();
    return true;
  }
  bool on_string_part(json::string_view, std::size_t, error_code&) { return true; }
  bool on_string(json::string_view, std::size_t, error_code&) { return scalar(); }
  bool on_number_part(json::string_view, error_code&) { return true; }
  bool on_int64(std::int64_t, json::string_view, error_code&) { return scalar(); }
  bool on_uint64(std::uint64_t, json::string_view, error_code&) { return scalar(); }
  bool on_double(double, json::string_view, error_code&) { return scalar(); }
  bool on_bool(bool, error_code&) { return scalar(); }
  bool on_null(error_code&) { return scalar(); }
  bool on_comment_part(json::string_view, error_code&) { return true; }
  bool on_comment(json::string_view, error_code&) { return true; }

 private:
  bool scalar() {
    value_done();
    return true;
  }
};

// SAX handler that builds nothing and fails on a key repeated within its object. The keys of
// every open object sit in one vector (short keys need no allocation); an object's are compared
// once it ends, pairwise when it has a few, sorted when it has many (n log n, never n squared).
struct ObjectChecker {
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();
  static constexpr std::size_t kPairwiseKeysMax = 8;

  std::vector<std::string> keys;    // the keys of the open objects, innermost last
  std::vector<std::size_t> starts;  // where each open object's keys begin
  std::string key;                  // the key being read, which may arrive in parts
  bool top_is_object = false;
  bool started = false;

  ObjectChecker() {
    keys.reserve(32);
    starts.reserve(8);
  }

  void begin_value(bool object) {
    if (!started) top_is_object = object;
    started = true;
  }
  bool repeats(std::size_t first) {
    const auto begin = keys.begin() + static_cast<std::ptrdiff_t>(first);
    const std::size_t n = keys.size() - first;
    if (n <= kPairwiseKeysMax) {
      for (auto a = begin; a != keys.end(); ++a) {
        for (auto b = a + 1; b != keys.end(); ++b) {
          if (*a == *b) return true;
        }
      }
      return false;
    }
    std::sort(begin, keys.end());
    return std::adjacent_find(begin, keys.end()) != keys.end();
  }

  bool on_document_begin(error_code&) { return true; }
  bool on_document_end(error_code&) { return true; }
  bool on_object_begin(error_code&) {
    begin_value(true);
    starts.push_back(keys.size());
    return true;
  }
  bool on_object_end(std::size_t, error_code& ec) {
    const std::size_t first = starts.back();
    if (repeats(first)) {
      ec = json::error::exception;
      return false;
    }
    keys.resize(first);
    starts.pop_back();
    return true;
  }
  bool on_array_begin(error_code&) {
    begin_value(false);
    return true;
  }
  bool on_array_end(std::size_t, error_code&) { return true; }
  bool on_key_part(json::string_view s, std::size_t, error_code&) {
    key.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, std::size_t, error_code&) {
    if (key.empty()) {
      keys.emplace_back(s.data(), s.size());
    } else {
      key.append(s.data(), s.size());
      keys.push_back(std::move(key));
      key.clear();
    }
    return true;
  }
  bool on_string_part(json::string_view, std::size_t, error_code&) { return true; }
  bool on_string(json::string_view, std::size_t, error_code&) { return scalar(); }
  bool on_number_part(json::string_view, error_code&) { return true; }
  bool on_int64(std::int64_t, json::string_view, error_code&) { return scalar(); }
  bool on_uint64(std::uint64_t, json::string_view, error_code&) { return scalar(); }
  bool on_double(double, json::string_view, error_code&) { return scalar(); }
  bool on_bool(bool, error_code&) { return scalar(); }
  bool on_null(error_code&) { return scalar(); }
  bool on_comment_part(json::string_view, error_code&) { return true; }
  bool on_comment(json::string_view, error_code&) { return true; }

 private:
  bool scalar() {
    begin_value(false);
    return true;
  }
};

Status duplicate_key_error(std::string_view text) {
  json::basic_parser<DuplicateFinder> p(strict_options());
  error_code ec;
  p.write_some(false, text.data(), text.size(), ec);
  const DuplicateFinder& found = p.handler();
  json::object details;
  details["field"] = found.duplicate;
  details["pointer"] = found.pointer;
  return Status(ErrorCode::VALIDATION_DUPLICATE_KEY,
                "duplicate key '" + found.duplicate + "' at '" + found.pointer + "'",
                std::move(details));
}

}  // namespace

std::string json_pointer_join(std::string_view base, std::string_view token) {
  std::string out(base);
  append_pointer_token(out, token);
  return out;
}

Result<json::value> parse_json(std::string_view text) {
  json::basic_parser<ValueBuilder> p(strict_options());
  p.handler().stack.reset();
  boost::system::error_code ec;
  const std::size_t n = p.write_some(false, text.data(), text.size(), ec);
  if (!ec && n != text.size()) ec = json::error::extra_data;
  if (ec) {
    return Status(ErrorCode::VALIDATION_MALFORMED_JSON,
                  "malformed JSON at byte " + std::to_string(n) + ": " + ec.message());
  }
  json::value v = p.handler().stack.release();
  // json::object keeps the last of repeated keys, so a repeat shows as fewer members than the
  // parser saw. Only then is the document read again to name the key.
  if (object_members(v) != p.handler().members) return duplicate_key_error(text);
  return v;
}

bool is_json_object(std::string_view text) {
  json::basic_parser<ObjectChecker> p(strict_options());
  error_code ec;
  const std::size_t n = p.write_some(false, text.data(), text.size(), ec);
  return !ec && n == text.size() && p.handler().top_is_object;
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

json::value nullable(const std::optional<std::int64_t>& v) {
  return v ? json::value(*v) : json::value(nullptr);
}

json::value nullable_time(const std::optional<std::int64_t>& t) {
  return t ? json::value(format_rfc3339(*t)) : json::value(nullptr);
}

}  // namespace warden
