// CEL runtime values: arena, constructors, equality, and text formatting.
#include "expr/value.h"

#include <date/date.h>

#include <charconv>
#include <cmath>
#include <cstdio>

namespace warden::expr {

void Arena::reset() {
  if (blocks_.empty()) return;
  blocks_.resize(1);
  cur_ = blocks_[0].get();
  used_ = 0;
  total_ = cap_;
}

void* Arena::alloc_slow(std::size_t bytes, std::size_t align) {
  std::size_t size = std::max<std::size_t>(bytes + align, cap_ == 0 ? 4096 : cap_ * 2);
  size = std::min<std::size_t>(size, std::max<std::size_t>(bytes + align, 1 << 20));
  blocks_.push_back(std::make_unique<char[]>(size));
  cur_ = blocks_.back().get();
  cap_ = size;
  used_ = 0;
  total_ += size;
  std::size_t at = (reinterpret_cast<std::uintptr_t>(cur_) + align - 1) & ~(align - 1);
  at -= reinterpret_cast<std::uintptr_t>(cur_);
  used_ = at + bytes;
  return cur_ + at;
}

Value make_list(Arena& arena, const Value* items, std::size_t n) {
  auto* rep = static_cast<ListRep*>(arena.alloc(sizeof(ListRep), alignof(ListRep)));
  Value* copy = arena.alloc_array<Value>(n);
  for (std::size_t k = 0; k < n; ++k) copy[k] = items[k];
  rep->size = static_cast<std::uint32_t>(n);
  rep->items = copy;
  Value v;
  v.kind = Kind::kList;
  v.list = rep;
  return v;
}

Value make_map(Arena& arena, const Value* keys, const Value* values, std::size_t n) {
  auto* rep = static_cast<MapRep*>(arena.alloc(sizeof(MapRep), alignof(MapRep)));
  Value* k = arena.alloc_array<Value>(n);
  Value* v = arena.alloc_array<Value>(n);
  for (std::size_t i = 0; i < n; ++i) {
    k[i] = keys[i];
    v[i] = values[i];
  }
  rep->size = static_cast<std::uint32_t>(n);
  rep->keys = k;
  rep->values = v;
  Value out;
  out.kind = Kind::kMap;
  out.map = rep;
  return out;
}

Value make_string(Arena& arena, std::string_view s) {
  return Value::str({arena.copy(s), s.size()});
}
Value make_bytes(Arena& arena, std::string_view s) {
  return Value::bytes({arena.copy(s), s.size()});
}
Value make_error(Arena& arena, std::string_view m) {
  return Value::error({arena.copy(m), m.size()});
}

namespace {

// Numeric comparison across int/uint/double; returns -2 when unordered (NaN).
int num_cmp(const Value& a, const Value& b) {
  auto cmp = [](auto x, auto y) { return x < y ? -1 : (x > y ? 1 : 0); };
  if (a.kind == b.kind) {
    switch (a.kind) {
      case Kind::kInt:
        return cmp(a.i, b.i);
      case Kind::kUint:
        return cmp(a.u, b.u);
      default:
        if (std::isnan(a.d) || std::isnan(b.d)) return -2;
        return cmp(a.d, b.d);
    }
  }
  if (a.kind == Kind::kInt && b.kind == Kind::kUint)
    return a.i < 0 ? -1 : cmp(static_cast<std::uint64_t>(a.i), b.u);
  if (a.kind == Kind::kUint && b.kind == Kind::kInt)
    return b.i < 0 ? 1 : cmp(a.u, static_cast<std::uint64_t>(b.i));
  // One side is a double: CEL compares after converting the integer to double.
  double x = a.kind == Kind::kDouble ? a.d
             : a.kind == Kind::kInt  ? static_cast<double>(a.i)
                                     : static_cast<double>(a.u);
  double y = b.kind == Kind::kDouble ? b.d
             : b.kind == Kind::kInt  ? static_cast<double>(b.i)
                                     : static_cast<double>(b.u);
  if (std::isnan(x) || std::isnan(y)) return -2;
  return cmp(x, y);
}

bool is_num(Kind k) { return k == Kind::kInt || k == Kind::kUint || k == Kind::kDouble; }

}  // namespace

int values_equal(const Value& a, const Value& b) {
  if (a.kind == Kind::kError || b.kind == Kind::kError) return -1;
  if (a.kind != b.kind) {
    if (is_num(a.kind) && is_num(b.kind)) return num_cmp(a, b) == 0;
    return 0;
  }
  switch (a.kind) {
    case Kind::kNull:
      return 1;
    case Kind::kBool:
      return a.b == b.b;
    case Kind::kInt:
    case Kind::kUint:
    case Kind::kDouble:
      return num_cmp(a, b) == 0;
    case Kind::kString:
    case Kind::kBytes:
    case Kind::kType:
      return a.sv() == b.sv();
    case Kind::kTimestamp:
    case Kind::kDuration:
      return a.i == b.i && a.aux == b.aux;
    case Kind::kIp:
    case Kind::kCidr: {
      const NetRep& x = *a.net;
      const NetRep& y = *b.net;
      if (x.v4 != y.v4 || x.prefix != y.prefix) return 0;
      return std::memcmp(x.addr, y.addr, x.v4 ? 4 : 16) == 0;
    }
    case Kind::kList: {
      if (a.list->size != b.list->size) return 0;
      int result = 1;
      for (std::uint32_t k = 0; k < a.list->size; ++k) {
        int e = values_equal(a.list->items[k], b.list->items[k]);
        if (e == 0) return 0;
        if (e < 0) result = -1;
      }
      return result;
    }
    case Kind::kMap: {
      if (a.map->size != b.map->size) return 0;
      int result = 1;
      for (std::uint32_t k = 0; k < a.map->size; ++k) {
        const Value* other = map_find(*b.map, a.map->keys[k]);
        if (other == nullptr) return 0;
        int e = values_equal(a.map->values[k], *other);
        if (e == 0) return 0;
        if (e < 0) result = -1;
      }
      return result;
    }
    default:
      return 0;
  }
}

int compare_numbers(const Value& a, const Value& b) { return num_cmp(a, b); }

const Value* map_find(const MapRep& m, const Value& key) {
  for (std::uint32_t k = 0; k < m.size; ++k) {
    const Value& mk = m.keys[k];
    if (mk.kind == key.kind) {
      switch (key.kind) {
        case Kind::kString:
          if (mk.aux == key.aux && std::memcmp(mk.s, key.s, key.aux) == 0) return &m.values[k];
          continue;
        case Kind::kInt:
        case Kind::kUint:
          if (mk.i == key.i) return &m.values[k];
          continue;
        case Kind::kBool:
          if (mk.b == key.b) return &m.values[k];
          continue;
        default:
          break;
      }
    }
    if (values_equal(mk, key) == 1) return &m.values[k];
  }
  return nullptr;
}

std::string_view type_name(const Value& v) {
  switch (v.kind) {
    case Kind::kNull:
      return "null_type";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kUint:
      return "uint";
    case Kind::kDouble:
      return "double";
    case Kind::kString:
      return "string";
    case Kind::kBytes:
      return "bytes";
    case Kind::kList:
      return "list";
    case Kind::kMap:
      return "map";
    case Kind::kTimestamp:
      return "google.protobuf.Timestamp";
    case Kind::kDuration:
      return "google.protobuf.Duration";
    case Kind::kType:
      return "type";
    case Kind::kIp:
      return "net.IP";
    case Kind::kCidr:
      return "net.CIDR";
    case Kind::kError:
      return "error";
  }
  return "dyn";
}

std::string format_double(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, r.ptr);
  // sci = [-]D[.DDD]e[+-]XX
  std::size_t e = sci.find('e');
  int exp = std::atoi(sci.c_str() + e + 1);
  bool neg = sci[0] == '-';
  std::string digits;
  for (std::size_t k = neg ? 1 : 0; k < e; ++k)
    if (sci[k] != '.') digits += sci[k];
  std::string out = neg ? "-" : "";
  if (exp < -4 || exp >= 21) {
    out += digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char eb[16];
    std::snprintf(eb, sizeof eb, "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
    return out + eb;
  }
  if (exp < 0) return out + "0." + std::string(static_cast<std::size_t>(-exp - 1), '0') + digits;
  auto ip = static_cast<std::size_t>(exp) + 1;
  if (digits.size() <= ip) return out + digits + std::string(ip - digits.size(), '0');
  return out + digits.substr(0, ip) + "." + digits.substr(ip);
}

std::string format_timestamp(std::int64_t seconds, std::int32_t nanos) {
  using namespace std::chrono;
  sys_seconds tp{std::chrono::seconds{seconds}};
  auto day = floor<date::days>(tp);
  date::year_month_day ymd{day};
  date::hh_mm_ss<std::chrono::seconds> hms{tp - day};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  std::string out = buf;
  if (nanos != 0) {
    char nb[16];
    if (nanos % 1000000 == 0)
      std::snprintf(nb, sizeof nb, ".%03d", nanos / 1000000);
    else if (nanos % 1000 == 0)
      std::snprintf(nb, sizeof nb, ".%06d", nanos / 1000);
    else
      std::snprintf(nb, sizeof nb, ".%09d", nanos);
    out += nb;
  }
  return out + "Z";
}

std::string format_duration(std::int64_t seconds, std::int32_t nanos) {
  std::string out;
  if (seconds < 0 || nanos < 0) {
    out = "-";
    seconds = -seconds;
    nanos = -nanos;
  }
  out += std::to_string(seconds);
  if (nanos != 0) {
    char nb[16];
    std::snprintf(nb, sizeof nb, ".%09d", nanos);
    std::string frac = nb;
    while (frac.back() == '0') frac.pop_back();
    out += frac;
  }
  return out + "s";
}

std::string net_to_string(const NetRep& n, bool cidr);

std::string to_plain_string(const Value& v) {
  switch (v.kind) {
    case Kind::kString:
    case Kind::kBytes:
    case Kind::kType:
    case Kind::kError:
      return std::string(v.sv());
    case Kind::kDouble:
      return format_double(v.d);
    default:
      return to_text(v);
  }
}

namespace {
std::string quote(std::string_view s, char q, bool bytes) {
  std::string out(1, q);
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == q || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (u < 0x20 || u == 0x7f || (bytes && u >= 0x80)) {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", u);
      out += b;
    } else {
      out += c;
    }
  }
  out += q;
  return out;
}
}  // namespace

std::string to_text(const Value& v) {
  switch (v.kind) {
    case Kind::kNull:
      return "null";
    case Kind::kBool:
      return v.b ? "true" : "false";
    case Kind::kInt:
      return std::to_string(v.i);
    case Kind::kUint:
      return std::to_string(v.u) + "u";
    case Kind::kDouble: {
      // CEL has no literal for NaN and the infinities; their conversions are the literal form.
      if (!std::isfinite(v.d)) return "double(\"" + format_double(v.d) + "\")";
      // Keep a double recognisable as one: 2.0, not 2.
      std::string t = format_double(v.d);
      if (t.find_first_of(".eNI") == std::string::npos) t += ".0";
      return t;
    }
    case Kind::kString:
      return quote(v.sv(), '"', false);
    case Kind::kBytes:
      return "b" + quote(v.sv(), '"', true);
    case Kind::kList: {
      std::string out = "[";
      for (std::uint32_t k = 0; k < v.list->size; ++k) {
        if (k) out += ", ";
        out += to_text(v.list->items[k]);
      }
      return out + "]";
    }
    case Kind::kMap: {
      std::string out = "{";
      for (std::uint32_t k = 0; k < v.map->size; ++k) {
        if (k) out += ", ";
        out += to_text(v.map->keys[k]) + ": " + to_text(v.map->values[k]);
      }
      return out + "}";
    }
    case Kind::kTimestamp:
      return "timestamp(\"" + format_timestamp(v.i, v.nanos()) + "\")";
    case Kind::kDuration:
      return "duration(\"" + format_duration(v.i, v.nanos()) + "\")";
    case Kind::kType:
      return std::string(v.sv());
    case Kind::kIp:
      return "ip(\"" + net_to_string(*v.net, false) + "\")";
    case Kind::kCidr:
      return "cidr(\"" + net_to_string(*v.net, true) + "\")";
    case Kind::kError:
      return "error(" + quote(v.sv(), '"', false) + ")";
  }
  return "?";
}

}  // namespace warden::expr
