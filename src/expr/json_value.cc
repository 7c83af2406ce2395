// Conversions between CEL values and JSON: activation attributes in, results out.
#include <cmath>

#include "expr/expr.h"
#include "expr/runtime.h"

namespace warden::expr {

std::string net_to_string(const NetRep& n, bool cidr);

namespace {

Status wrong(const Type& t, const boost::json::value& j) {
  return Status(
      ErrorCode::VALIDATION_WRONG_TYPE,
      "expected " + t.to_string() + ", got JSON " + std::string(boost::json::to_string(j.kind())));
}

std::string b64_decode(std::string_view s, bool& ok) {
  static const std::string_view kAlpha =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  while (!s.empty() && s.back() == '=') s.remove_suffix(1);
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  ok = true;
  for (char c : s) {
    std::size_t p = kAlpha.find(c);
    if (p == std::string_view::npos) {
      ok = false;
      return {};
    }
    acc = (acc << 6) | static_cast<std::uint32_t>(p);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return out;
}

std::string b64_encode(std::string_view s) {
  static const char kAlpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < s.size(); i += 3) {
    std::uint32_t v = (static_cast<unsigned char>(s[i]) << 16) |
                      (static_cast<unsigned char>(s[i + 1]) << 8) |
                      static_cast<unsigned char>(s[i + 2]);
    for (int k = 18; k >= 0; k -= 6) out += kAlpha[(v >> k) & 63];
  }
  if (i < s.size()) {
    std::uint32_t v = static_cast<unsigned char>(s[i]) << 16;
    if (i + 1 < s.size()) v |= static_cast<unsigned char>(s[i + 1]) << 8;
    out += kAlpha[v >> 18];
    out += kAlpha[(v >> 12) & 63];
    out += i + 1 < s.size() ? kAlpha[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

Result<Value> number(const boost::json::value& j, const Type& t) {
  double d = j.is_double() ? j.get_double() : 0;
  switch (t.kind()) {
    case TypeKind::kDouble:
      return Value::dbl(j.is_int64()    ? static_cast<double>(j.get_int64())
                        : j.is_uint64() ? static_cast<double>(j.get_uint64())
                                        : d);
    case TypeKind::kUint:
      if (j.is_uint64()) return Value::uinteger(j.get_uint64());
      if (j.is_int64() && j.get_int64() >= 0)
        return Value::uinteger(static_cast<std::uint64_t>(j.get_int64()));
      if (j.is_double() && d >= 0 && d < 1.8e19 && d == std::trunc(d))
        return Value::uinteger(static_cast<std::uint64_t>(d));
      return wrong(t, j);
    case TypeKind::kInt:
    case TypeKind::kDyn:
      if (j.is_int64()) return Value::integer(j.get_int64());
      if (j.is_uint64()) {
        if (j.get_uint64() <= static_cast<std::uint64_t>(INT64_MAX))
          return Value::integer(static_cast<std::int64_t>(j.get_uint64()));
        if (t.is_dyn()) return Value::uinteger(j.get_uint64());
        return wrong(t, j);
      }
      if (d == std::trunc(d) && std::fabs(d) < 9007199254740992.0)
        return Value::integer(static_cast<std::int64_t>(d));
      if (t.is_dyn()) return Value::dbl(d);
      return wrong(t, j);
    default:
      return wrong(t, j);
  }
}

}  // namespace

Result<Value> value_from_json(const boost::json::value& j, const Type& t, Arena& arena) {
  switch (j.kind()) {
    case boost::json::kind::null:
      return Value::null();
    case boost::json::kind::bool_:
      if (!t.is_dyn() && t.kind() != TypeKind::kBool) return wrong(t, j);
      return Value::boolean(j.get_bool());
    case boost::json::kind::int64:
    case boost::json::kind::uint64:
    case boost::json::kind::double_:
      return number(j, t);
    case boost::json::kind::string: {
      std::string_view s = j.get_string();
      switch (t.kind()) {
        case TypeKind::kDyn:
        case TypeKind::kString:
          return make_string(arena, s);
        case TypeKind::kTimestamp: {
          std::int64_t secs;
          std::int32_t nanos;
          if (!parse_timestamp(s, secs, nanos)) return wrong(t, j);
          return Value::timestamp(secs, nanos);
        }
        case TypeKind::kDuration: {
          std::int64_t secs;
          std::int32_t nanos;
          if (!parse_duration(s, secs, nanos)) return wrong(t, j);
          return Value::duration(secs, nanos);
        }
        case TypeKind::kBytes: {
          bool ok;
          std::string raw = b64_decode(s, ok);
          if (!ok) return wrong(t, j);
          return make_bytes(arena, raw);
        }
        default:
          return wrong(t, j);
      }
    }
    case boost::json::kind::array: {
      if (!t.is_dyn() && t.kind() != TypeKind::kList) return wrong(t, j);
      const auto& arr = j.get_array();
      std::vector<Value> items;
      items.reserve(arr.size());
      for (const auto& e : arr) {
        WARDEN_ASSIGN_OR_RETURN(Value v, value_from_json(e, t.param(0), arena));
        items.push_back(v);
      }
      return make_list(arena, items.data(), items.size());
    }
    case boost::json::kind::object: {
      if (!t.is_dyn() && t.kind() != TypeKind::kMap) return wrong(t, j);
      const auto& obj = j.get_object();
      std::vector<Value> keys, vals;
      for (const auto& kv : obj) {
        keys.push_back(make_string(arena, kv.key()));
        WARDEN_ASSIGN_OR_RETURN(Value v, value_from_json(kv.value(), t.param(1), arena));
        vals.push_back(v);
      }
      return make_map(arena, keys.data(), vals.data(), keys.size());
    }
  }
  return wrong(t, j);
}

boost::json::value to_json(const Value& v) {
  switch (v.kind) {
    case Kind::kNull:
      return nullptr;
    case Kind::kBool:
      return v.b;
    case Kind::kInt:
      return v.i;
    case Kind::kUint:
      return v.u;
    case Kind::kDouble:
      if (!std::isfinite(v.d)) return boost::json::string(format_double(v.d));
      return v.d;
    case Kind::kString:
      return boost::json::string(v.sv());
    case Kind::kBytes:
      return boost::json::string(b64_encode(v.sv()));
    case Kind::kList: {
      boost::json::array a;
      for (std::uint32_t k = 0; k < v.list->size; ++k) a.push_back(to_json(v.list->items[k]));
      return a;
    }
    case Kind::kMap: {
      boost::json::object o;
      for (std::uint32_t k = 0; k < v.map->size; ++k)
        o[to_plain_string(v.map->keys[k])] = to_json(v.map->values[k]);
      return o;
    }
    case Kind::kTimestamp:
      return boost::json::string(format_timestamp(v.i, v.nanos()));
    case Kind::kDuration:
      return boost::json::string(format_duration(v.i, v.nanos()));
    case Kind::kType:
      return boost::json::string(v.sv());
    case Kind::kIp:
      return boost::json::string(net_to_string(*v.net, false));
    case Kind::kCidr:
      return boost::json::string(net_to_string(*v.net, true));
    case Kind::kError:
      return boost::json::object{{"error", std::string(v.sv())}};
  }
  return nullptr;
}

}  // namespace warden::expr
