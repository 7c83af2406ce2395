// CEL builtin functions and operators: arithmetic with overflow checks, comparisons,
// conversions, strings, timestamps/durations, and the function registry.
#include <date/date.h>
#include <date/tz.h>
#include <re2/re2.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <unordered_map>

#include "expr/runtime.h"
#include "expr/tz.h"

namespace warden::expr {

Value no_overload(std::string_view fn) { return Value::error(kNoOverload); }
Value err(Ctx& ctx, std::string_view message) { return make_error(*ctx.arena, message); }

namespace {

using std::int64_t;
using std::uint64_t;

bool is_num(Kind k) { return k == Kind::kInt || k == Kind::kUint || k == Kind::kDouble; }

// ---------- arithmetic ----------

Value duration_checked(std::int64_t secs, std::int64_t nanos) {
  secs += nanos / 1000000000;
  nanos %= 1000000000;
  if (secs > 0 && nanos < 0) {
    --secs;
    nanos += 1000000000;
  }
  if (secs < 0 && nanos > 0) {
    ++secs;
    nanos -= 1000000000;
  }
  if (secs > kDurationSecondsMax || secs < -kDurationSecondsMax)
    return Value::error("duration out of range");
  return Value::duration(secs, static_cast<std::int32_t>(nanos));
}
Value timestamp_checked(std::int64_t secs, std::int64_t nanos) {
  secs += nanos / 1000000000;
  nanos %= 1000000000;
  if (nanos < 0) {
    --secs;
    nanos += 1000000000;
  }
  if (secs < kTimestampSecondsMin || secs > kTimestampSecondsMax)
    return Value::error("timestamp out of range");
  return Value::timestamp(secs, static_cast<std::int32_t>(nanos));
}

Value concat(Ctx& ctx, Kind k, std::string_view a, std::string_view b) {
  if (!ctx.charge((a.size() + b.size()) / 16 + 1) || a.size() + b.size() > ctx.alloc_bytes_max)
    return Value::error(kCostExceeded);
  char* p = static_cast<char*>(ctx.arena->alloc(a.size() + b.size() + 1, 1));
  std::memcpy(p, a.data(), a.size());
  std::memcpy(p + a.size(), b.data(), b.size());
  return Value::text(k, {p, a.size() + b.size()});
}

Value op_add(Ctx& ctx, const Value* a, std::size_t) {
  const Value& x = a[0];
  const Value& y = a[1];
  if (x.kind == y.kind) {
    switch (x.kind) {
      case Kind::kInt: {
        int64_t r;
        if (__builtin_add_overflow(x.i, y.i, &r)) return Value::error("integer overflow");
        return Value::integer(r);
      }
      case Kind::kUint: {
        uint64_t r;
        if (__builtin_add_overflow(x.u, y.u, &r)) return Value::error("unsigned integer overflow");
        return Value::uinteger(r);
      }
      case Kind::kDouble:
        return Value::dbl(x.d + y.d);
      case Kind::kString:
      case Kind::kBytes:
        return concat(ctx, x.kind, x.sv(), y.sv());
      case Kind::kList: {
        std::size_t n = x.list->size + y.list->size;
        if (!ctx.charge(n / 2 + 1) || n * sizeof(Value) > ctx.alloc_bytes_max)
          return Value::error(kCostExceeded);
        Value* items = ctx.arena->alloc_array<Value>(n);
        std::copy(x.list->items, x.list->items + x.list->size, items);
        std::copy(y.list->items, y.list->items + y.list->size, items + x.list->size);
        auto* rep = static_cast<ListRep*>(ctx.arena->alloc(sizeof(ListRep), alignof(ListRep)));
        rep->size = static_cast<std::uint32_t>(n);
        rep->items = items;
        Value v;
        v.kind = Kind::kList;
        v.list = rep;
        return v;
      }
      case Kind::kDuration:
        return duration_checked(x.i + y.i, static_cast<int64_t>(x.nanos()) + y.nanos());
      default:
        break;
    }
  }
  if (x.kind == Kind::kTimestamp && y.kind == Kind::kDuration) {
    int64_t s;
    if (__builtin_add_overflow(x.i, y.i, &s)) return Value::error("timestamp out of range");
    return timestamp_checked(s, static_cast<int64_t>(x.nanos()) + y.nanos());
  }
  if (x.kind == Kind::kDuration && y.kind == Kind::kTimestamp) {
    Value swapped[2] = {y, x};
    return op_add(ctx, swapped, 2);
  }
  return no_overload("_+_");
}

Value op_sub(Ctx&, const Value* a, std::size_t) {
  const Value& x = a[0];
  const Value& y = a[1];
  if (x.kind == y.kind) {
    switch (x.kind) {
      case Kind::kInt: {
        int64_t r;
        if (__builtin_sub_overflow(x.i, y.i, &r)) return Value::error("integer overflow");
        return Value::integer(r);
      }
      case Kind::kUint: {
        uint64_t r;
        if (__builtin_sub_overflow(x.u, y.u, &r)) return Value::error("unsigned integer overflow");
        return Value::uinteger(r);
      }
      case Kind::kDouble:
        return Value::dbl(x.d - y.d);
      case Kind::kDuration:
        return duration_checked(x.i - y.i, static_cast<int64_t>(x.nanos()) - y.nanos());
      case Kind::kTimestamp:
        return duration_checked(x.i - y.i, static_cast<int64_t>(x.nanos()) - y.nanos());
      default:
        break;
    }
  }
  if (x.kind == Kind::kTimestamp && y.kind == Kind::kDuration) {
    int64_t s;
    if (__builtin_sub_overflow(x.i, y.i, &s)) return Value::error("timestamp out of range");
    return timestamp_checked(s, static_cast<int64_t>(x.nanos()) - y.nanos());
  }
  return no_overload("_-_");
}

Value op_mul(Ctx&, const Value* a, std::size_t) {
  const Value& x = a[0];
  const Value& y = a[1];
  if (x.kind != y.kind) return no_overload("_*_");
  switch (x.kind) {
    case Kind::kInt: {
      int64_t r;
      if (__builtin_mul_overflow(x.i, y.i, &r)) return Value::error("integer overflow");
      return Value::integer(r);
    }
    case Kind::kUint: {
      uint64_t r;
      if (__builtin_mul_overflow(x.u, y.u, &r)) return Value::error("unsigned integer overflow");
      return Value::uinteger(r);
    }
    case Kind::kDouble:
      return Value::dbl(x.d * y.d);
    default:
      return no_overload("_*_");
  }
}

Value op_div(Ctx&, const Value* a, std::size_t) {
  const Value& x = a[0];
  const Value& y = a[1];
  if (x.kind != y.kind) return no_overload("_/_");
  switch (x.kind) {
    case Kind::kInt:
      if (y.i == 0) return Value::error("division by zero");
      if (x.i == INT64_MIN && y.i == -1) return Value::error("integer overflow");
      return Value::integer(x.i / y.i);
    case Kind::kUint:
      if (y.u == 0) return Value::error("division by zero");
      return Value::uinteger(x.u / y.u);
    case Kind::kDouble:
      return Value::dbl(x.d / y.d);
    default:
      return no_overload("_/_");
  }
}

Value op_mod(Ctx&, const Value* a, std::size_t) {
  const Value& x = a[0];
  const Value& y = a[1];
  if (x.kind != y.kind) return no_overload("_%_");
  switch (x.kind) {
    case Kind::kInt:
      if (y.i == 0) return Value::error("modulus by zero");
      if (x.i == INT64_MIN && y.i == -1) return Value::error("integer overflow");
      return Value::integer(x.i % y.i);
    case Kind::kUint:
      if (y.u == 0) return Value::error("modulus by zero");
      return Value::uinteger(x.u % y.u);
    default:
      return no_overload("_%_");
  }
}

Value op_neg(Ctx&, const Value* a, std::size_t) {
  switch (a[0].kind) {
    case Kind::kInt:
      if (a[0].i == INT64_MIN) return Value::error("integer overflow");
      return Value::integer(-a[0].i);
    case Kind::kDouble:
      return Value::dbl(-a[0].d);
    case Kind::kDuration:
      return Value::duration(-a[0].i, -a[0].nanos());
    default:
      return no_overload("-_");
  }
}

Value op_not(Ctx&, const Value* a, std::size_t) {
  if (a[0].kind != Kind::kBool) return no_overload("!_");
  return Value::boolean(!a[0].b);
}

// ---------- comparison ----------

// -1/0/1, -2 unordered (NaN), -3 no overload.
int compare(const Value& x, const Value& y) {
  if (is_num(x.kind) && is_num(y.kind)) return compare_numbers(x, y);
  if (x.kind != y.kind) return -3;
  auto cmp = [](auto p, auto q) { return p < q ? -1 : (p > q ? 1 : 0); };
  switch (x.kind) {
    case Kind::kBool:
      return cmp(x.b, y.b);
    case Kind::kString:
    case Kind::kBytes: {
      int c = x.sv().compare(y.sv());
      return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
    case Kind::kTimestamp:
    case Kind::kDuration:
      if (x.i != y.i) return cmp(x.i, y.i);
      return cmp(x.nanos(), y.nanos());
    default:
      return -3;
  }
}

template <int kOp>
Value op_rel(Ctx&, const Value* a, std::size_t) {
  int c = compare(a[0], a[1]);
  if (c == -3) return no_overload("relation");
  if (c == -2) return Value::boolean(false);
  return relation_result(kOp, c);
}

Value op_eq(Ctx&, const Value* a, std::size_t) {
  return Value::boolean(values_equal(a[0], a[1]) == 1);
}
Value op_ne(Ctx&, const Value* a, std::size_t) {
  return Value::boolean(values_equal(a[0], a[1]) != 1);
}

bool to_index(const Value& v, int64_t& out) {
  switch (v.kind) {
    case Kind::kInt:
      out = v.i;
      return true;
    case Kind::kUint:
      if (v.u > static_cast<uint64_t>(INT64_MAX)) {
        out = -1;
        return true;
      }
      out = static_cast<int64_t>(v.u);
      return true;
    case Kind::kDouble:
      if (v.d != std::trunc(v.d) || !(std::fabs(v.d) < 9.2e18)) return false;
      out = static_cast<int64_t>(v.d);
      return true;
    default:
      return false;
  }
}

Value op_index(Ctx& ctx, const Value* a, std::size_t) {
  const Value& c = a[0];
  if (c.kind == Kind::kList) {
    int64_t k;
    if (!to_index(a[1], k)) return no_overload("_[_]");
    if (k < 0 || k >= static_cast<int64_t>(c.list->size))
      return err(ctx, "index out of range: " + std::to_string(k));
    return c.list->items[k];
  }
  if (c.kind == Kind::kMap) {
    Kind kk = a[1].kind;
    if (kk != Kind::kString && kk != Kind::kInt && kk != Kind::kUint && kk != Kind::kBool &&
        kk != Kind::kDouble)
      return no_overload("_[_]");
    const Value* v = map_find(*c.map, a[1]);
    if (v == nullptr) return err(ctx, "no such key: " + to_plain_string(a[1]));
    return *v;
  }
  return no_overload("_[_]");
}

Value op_in(Ctx&, const Value* a, std::size_t) {
  const Value& c = a[1];
  if (c.kind == Kind::kList) {
    for (std::uint32_t k = 0; k < c.list->size; ++k)
      if (values_equal(a[0], c.list->items[k]) == 1) return Value::boolean(true);
    return Value::boolean(false);
  }
  if (c.kind == Kind::kMap) return Value::boolean(map_find(*c.map, a[0]) != nullptr);
  return no_overload("@in");
}

// ---------- strings ----------

std::size_t utf8_len(std::string_view s) {
  std::size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// Byte offset of code point `cp` (may equal the length); npos if beyond.
std::size_t cp_offset(std::string_view s, int64_t cp) {
  std::size_t i = 0;
  for (int64_t k = 0; k < cp; ++k) {
    if (i >= s.size()) return std::string_view::npos;
    ++i;
    while (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) ++i;
  }
  return i;
}

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    int n;
    std::uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if ((c >> 5) == 6) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c >> 4) == 14) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c >> 3) == 30) {
      n = 3;
      cp = c & 0x07;
    } else
      return false;
    if (i + n >= s.size() + 0 && i + n > s.size() - 1 + 1) return false;
    for (int k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return false;
      unsigned char d = static_cast<unsigned char>(s[i + k]);
      if ((d >> 6) != 2) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000))
      return false;
    i += n + 1;
  }
  return true;
}

Value fn_size(Ctx&, const Value* a, std::size_t) {
  switch (a[0].kind) {
    case Kind::kString:
      return Value::integer(static_cast<int64_t>(utf8_len(a[0].sv())));
    case Kind::kBytes:
      return Value::integer(a[0].aux);
    case Kind::kList:
      return Value::integer(a[0].list->size);
    case Kind::kMap:
      return Value::integer(a[0].map->size);
    default:
      return no_overload("size");
  }
}

Value fn_contains(Ctx&, const Value* a, std::size_t) {
  return Value::boolean(a[0].sv().find(a[1].sv()) != std::string_view::npos);
}
Value fn_starts_with(Ctx&, const Value* a, std::size_t) {
  std::string_view s = a[0].sv(), p = a[1].sv();
  return Value::boolean(s.size() >= p.size() && std::memcmp(s.data(), p.data(), p.size()) == 0);
}
Value fn_ends_with(Ctx&, const Value* a, std::size_t) {
  std::string_view s = a[0].sv(), p = a[1].sv();
  return Value::boolean(s.size() >= p.size() &&
                        std::memcmp(s.data() + s.size() - p.size(), p.data(), p.size()) == 0);
}

Value fn_matches(Ctx& ctx, const Value* a, std::size_t) {
  // A pattern only known at run time is compiled per call: charge for it.
  if (!ctx.charge(a[1].aux / 4 + 16)) return Value::error(kCostExceeded);
  RE2::Options opts;
  opts.set_log_errors(false);
  RE2 re(re2::StringPiece(a[1].s, a[1].aux), opts);
  if (!re.ok()) return err(ctx, "invalid regular expression: " + re.error());
  return Value::boolean(RE2::PartialMatch(re2::StringPiece(a[0].s, a[0].aux), re));
}

// ---------- conversions ----------

Value fn_int(Ctx& ctx, const Value* a, std::size_t) {
  const Value& v = a[0];
  switch (v.kind) {
    case Kind::kInt:
      return v;
    case Kind::kUint:
      if (v.u > static_cast<uint64_t>(INT64_MAX)) return Value::error("int range error");
      return Value::integer(static_cast<int64_t>(v.u));
    case Kind::kDouble:
      if (!(v.d > -9223372036854775808.0 && v.d < 9223372036854775807.0))
        return Value::error("int range error");
      return Value::integer(static_cast<int64_t>(v.d));
    case Kind::kString: {
      int64_t r;
      std::string_view s = v.sv();
      // Go's strconv.ParseInt, which cel-go uses, takes one leading '+' (ParseUint does not).
      std::string_view digits = s;
      if (s.size() > 1 && s[0] == '+' && s[1] != '-') digits.remove_prefix(1);
      auto res = std::from_chars(digits.data(), digits.data() + digits.size(), r);
      if (res.ec != std::errc() || res.ptr != digits.data() + digits.size() || s.empty())
        return err(ctx, "cannot convert '" + std::string(s) + "' to int");
      return Value::integer(r);
    }
    case Kind::kTimestamp:
      return Value::integer(v.i);
    default:
      return no_overload("int");
  }
}

Value fn_uint(Ctx& ctx, const Value* a, std::size_t) {
  const Value& v = a[0];
  switch (v.kind) {
    case Kind::kUint:
      return v;
    case Kind::kInt:
      if (v.i < 0) return Value::error("uint range error");
      return Value::uinteger(static_cast<uint64_t>(v.i));
    case Kind::kDouble:
      // cel-go rejects every value below zero, -0.5 too, although it truncates to 0.
      if (!(v.d >= 0.0 && v.d < 18446744073709551615.0)) return Value::error("uint range error");
      return Value::uinteger(static_cast<uint64_t>(v.d));
    case Kind::kString: {
      uint64_t r;
      std::string_view s = v.sv();
      auto res = std::from_chars(s.data(), s.data() + s.size(), r);
      if (res.ec != std::errc() || res.ptr != s.data() + s.size() || s.empty())
        return err(ctx, "cannot convert '" + std::string(s) + "' to uint");
      return Value::uinteger(r);
    }
    default:
      return no_overload("uint");
  }
}

Value fn_double(Ctx& ctx, const Value* a, std::size_t) {
  const Value& v = a[0];
  switch (v.kind) {
    case Kind::kDouble:
      return v;
    case Kind::kInt:
      return Value::dbl(static_cast<double>(v.i));
    case Kind::kUint:
      return Value::dbl(static_cast<double>(v.u));
    case Kind::kString: {
      std::string s(v.sv());
      std::string lower = s;
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string_view body = lower;
      if (!body.empty() && (body[0] == '+' || body[0] == '-')) body.remove_prefix(1);
      if (body == "inf" || body == "infinity")
        return Value::dbl(s[0] == '-' ? -INFINITY : INFINITY);
      if (body == "nan") return Value::dbl(NAN);
      char* end = nullptr;
      double d = std::strtod(s.c_str(), &end);
      if (s.empty() || end != s.c_str() + s.size() ||
          std::isspace(static_cast<unsigned char>(s[0])))
        return err(ctx, "cannot convert '" + s + "' to double");
      return Value::dbl(d);
    }
    default:
      return no_overload("double");
  }
}

Value fn_string(Ctx& ctx, const Value* a, std::size_t) {
  const Value& v = a[0];
  switch (v.kind) {
    case Kind::kString:
      return v;
    case Kind::kBytes:
      if (!valid_utf8(v.sv())) return Value::error("invalid UTF-8 in bytes");
      return Value::str(v.sv());
    case Kind::kInt:
    case Kind::kUint:
    case Kind::kDouble:
    case Kind::kBool:
    case Kind::kIp:
    case Kind::kCidr: {
      std::string s = v.kind == Kind::kUint ? std::to_string(v.u) : to_plain_string(v);
      if (v.kind == Kind::kIp || v.kind == Kind::kCidr)
        s = s.substr(s.find('"') + 1), s.resize(s.size() - 2);
      return make_string(*ctx.arena, s);
    }
    case Kind::kTimestamp:
      return make_string(*ctx.arena, format_timestamp(v.i, v.nanos()));
    case Kind::kDuration:
      return make_string(*ctx.arena, format_duration(v.i, v.nanos()));
    default:
      return no_overload("string");
  }
}

Value fn_bytes(Ctx&, const Value* a, std::size_t) {
  if (a[0].kind == Kind::kBytes) return a[0];
  if (a[0].kind == Kind::kString) return Value::bytes(a[0].sv());
  return no_overload("bytes");
}

Value fn_bool(Ctx& ctx, const Value* a, std::size_t) {
  if (a[0].kind == Kind::kBool) return a[0];
  if (a[0].kind != Kind::kString) return no_overload("bool");
  std::string_view s = a[0].sv();
  if (s == "1" || s == "t" || s == "T" || s == "true" || s == "TRUE" || s == "True")
    return Value::boolean(true);
  if (s == "0" || s == "f" || s == "F" || s == "false" || s == "FALSE" || s == "False")
    return Value::boolean(false);
  return err(ctx, "cannot convert '" + std::string(s) + "' to bool");
}

Value fn_dyn(Ctx&, const Value* a, std::size_t) { return a[0]; }

Value fn_type(Ctx&, const Value* a, std::size_t) { return Value::type(type_name(a[0])); }

// ---------- time ----------

}  // namespace

bool parse_timestamp(std::string_view s, int64_t& seconds, std::int32_t& nanos) {
  // RFC 3339: YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)
  auto num = [&](std::size_t at, std::size_t len, int& out) {
    if (at + len > s.size()) return false;
    out = 0;
    for (std::size_t k = at; k < at + len; ++k) {
      if (!std::isdigit(static_cast<unsigned char>(s[k]))) return false;
      out = out * 10 + (s[k] - '0');
    }
    return true;
  };
  int y, mo, d, h, mi, se;
  if (!num(0, 4, y) || s.size() < 20 || s[4] != '-' || !num(5, 2, mo) || s[7] != '-' ||
      !num(8, 2, d) || s[10] != 'T' || !num(11, 2, h) || s[13] != ':' || !num(14, 2, mi) ||
      s[16] != ':' || !num(17, 2, se))
    return false;
  std::size_t p = 19;
  int64_t frac = 0;
  if (p < s.size() && s[p] == '.') {
    ++p;
    int digits = 0;
    while (p < s.size() && std::isdigit(static_cast<unsigned char>(s[p]))) {
      if (digits < 9) frac = frac * 10 + (s[p] - '0');
      ++digits;
      ++p;
    }
    if (digits == 0) return false;
    for (int k = digits; k < 9; ++k) frac *= 10;
  }
  int offset_s = 0;
  if (p < s.size() && s[p] == 'Z') {
    ++p;
  } else if (p < s.size() && (s[p] == '+' || s[p] == '-')) {
    int oh, om;
    if (!num(p + 1, 2, oh) || p + 3 >= s.size() || s[p + 3] != ':' || !num(p + 4, 2, om))
      return false;
    // Go's time.Parse (cel-go) tests offsets with > rather than >= (24 hours and 60 minutes
    // are written by some), but nothing beyond.
    if (oh > 24 || om > 60) return false;
    offset_s = (oh * 3600 + om * 60) * (s[p] == '-' ? -1 : 1);
    p += 6;
  } else {
    return false;
  }
  if (p != s.size() || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59) return false;
  date::year_month_day ymd{date::year{y}, date::month{static_cast<unsigned>(mo)},
                           date::day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return false;
  int64_t days = date::sys_days(ymd).time_since_epoch().count();
  seconds = days * 86400 + h * 3600 + mi * 60 + se - offset_s;
  nanos = static_cast<std::int32_t>(frac);
  return seconds >= kTimestampSecondsMin && seconds <= kTimestampSecondsMax;
}

bool parse_duration(std::string_view s, int64_t& seconds, std::int32_t& nanos) {
  // Go's time.ParseDuration, which cel-go uses: [-+]?([0-9]*(\.[0-9]*)?[a-z]+)+ or "0", summed
  // exactly in nanoseconds within int64, fractions truncated below a nanosecond the way Go
  // computes them (in float64).
  constexpr uint64_t kLimit = uint64_t{1} << 63;  // magnitude of the most negative duration
  bool neg = false;
  std::size_t p = 0;
  if (p < s.size() && (s[p] == '-' || s[p] == '+')) neg = s[p++] == '-';
  if (s.substr(p) == "0") {
    seconds = 0;
    nanos = 0;
    return true;
  }
  if (p >= s.size()) return false;
  auto is_digit = [&](std::size_t i) {
    return i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]));
  };
  uint64_t total = 0;
  while (p < s.size()) {
    if (s[p] != '.' && !is_digit(p)) return false;
    uint64_t whole = 0;
    const std::size_t int_start = p;
    for (; is_digit(p); ++p) {
      if (whole > kLimit / 10) return false;
      whole = whole * 10 + static_cast<uint64_t>(s[p] - '0');
      if (whole > kLimit) return false;
    }
    const bool pre = p != int_start;
    bool post = false;
    uint64_t frac = 0;
    double scale = 1;
    if (p < s.size() && s[p] == '.') {
      ++p;
      const std::size_t frac_start = p;
      bool overflow = false;  // digits past int64 precision are read but ignored
      for (; is_digit(p); ++p) {
        if (overflow) continue;
        if (frac > (kLimit - 1) / 10) {
          overflow = true;
          continue;
        }
        uint64_t next = frac * 10 + static_cast<uint64_t>(s[p] - '0');
        if (next > kLimit) {
          overflow = true;
          continue;
        }
        frac = next;
        scale *= 10;
      }
      post = p != frac_start;
    }
    if (!pre && !post) return false;
    const std::size_t unit_start = p;
    while (p < s.size() && s[p] != '.' && !is_digit(p)) ++p;
    std::string_view unit = s.substr(unit_start, p - unit_start);
    uint64_t mult;
    if (unit == "h")
      mult = 3600'000'000'000;
    else if (unit == "m")
      mult = 60'000'000'000;
    else if (unit == "s")
      mult = 1'000'000'000;
    else if (unit == "ms")
      mult = 1'000'000;
    else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs")
      mult = 1'000;
    else if (unit == "ns")
      mult = 1;
    else
      return false;  // also a missing unit, as in "1..5s"
    if (whole > kLimit / mult) return false;
    uint64_t v = whole * mult;
    if (frac > 0) {
      v += static_cast<uint64_t>(static_cast<double>(frac) * (static_cast<double>(mult) / scale));
      if (v > kLimit) return false;
    }
    total += v;
    if (total > kLimit) return false;
  }
  if (!neg && total > kLimit - 1) return false;
  const int64_t ns = neg ? static_cast<int64_t>(0 - total) : static_cast<int64_t>(total);
  seconds = ns / 1'000'000'000;
  nanos = static_cast<std::int32_t>(ns % 1'000'000'000);
  return true;
}

namespace {

Value fn_timestamp(Ctx& ctx, const Value* a, std::size_t) {
  const Value& v = a[0];
  if (v.kind == Kind::kTimestamp) return v;
  if (v.kind == Kind::kInt) return timestamp_checked(v.i, 0);
  if (v.kind != Kind::kString) return no_overload("timestamp");
  int64_t s;
  std::int32_t n;
  if (!parse_timestamp(v.sv(), s, n))
    return err(ctx, "cannot parse timestamp '" + std::string(v.sv()) + "'");
  return Value::timestamp(s, n);
}

Value fn_duration(Ctx& ctx, const Value* a, std::size_t) {
  const Value& v = a[0];
  if (v.kind == Kind::kDuration) return v;
  if (v.kind == Kind::kInt) return duration_checked(v.i, 0);
  if (v.kind != Kind::kString) return no_overload("duration");
  int64_t s;
  std::int32_t n;
  if (!parse_duration(v.sv(), s, n))
    return err(ctx, "cannot parse duration '" + std::string(v.sv()) + "'");
  return Value::duration(s, n);
}

// Offset in seconds of time zone `tz` at instant `secs`; false when the zone is unknown.
bool tz_offset(std::string_view tz, int64_t secs, int64_t& offset) {
  if (tz.empty()) return false;
  if (tz[0] == '+' || tz[0] == '-' || std::isdigit(static_cast<unsigned char>(tz[0]))) {
    std::string_view t = tz;
    int sign = 1;
    if (t[0] == '+' || t[0] == '-') {
      sign = t[0] == '-' ? -1 : 1;
      t.remove_prefix(1);
    }
    std::size_t colon = t.find(':');
    if (colon == std::string_view::npos) return false;
    int h = 0, m = 0;
    auto r1 = std::from_chars(t.data(), t.data() + colon, h);
    auto r2 = std::from_chars(t.data() + colon + 1, t.data() + t.size(), m);
    if (r1.ec != std::errc() || r1.ptr != t.data() + colon || r2.ec != std::errc() ||
        r2.ptr != t.data() + t.size() || h > 23 || m > 59)
      return false;
    offset = sign * (h * 3600 + m * 60);
    return true;
  }
  if (tz == "UTC") {  // not "Z": cel-go takes only IANA names and offsets
    offset = 0;
    return true;
  }
  try {
    const date::time_zone* zone = date::locate_zone(std::string(tz));
    offset = zone_offset(*zone, date::sys_seconds{std::chrono::seconds{secs}}).count();
    return true;
  } catch (...) {
    return false;
  }
}

enum class Part {
  kYear,
  kMonth,
  kDate,
  kDayOfMonth,
  kDayOfWeek,
  kDayOfYear,
  kHours,
  kMinutes,
  kSeconds,
  kMillis
};

template <Part kPart>
Value fn_time_part(Ctx& ctx, const Value* a, std::size_t n) {
  const Value& v = a[0];
  if (v.kind == Kind::kDuration) {
    if (n != 1) return no_overload("duration accessor");
    int64_t total_s = v.i;
    switch (kPart) {
      case Part::kHours:
        return Value::integer(total_s / 3600);
      case Part::kMinutes:
        return Value::integer(total_s / 60);
      case Part::kSeconds:
        return Value::integer(total_s);
      case Part::kMillis:
        return Value::integer(v.nanos() / 1000000);
      default:
        return no_overload("duration accessor");
    }
  }
  if (v.kind != Kind::kTimestamp) return no_overload("timestamp accessor");
  int64_t secs = v.i;
  if (n == 2) {
    if (a[1].kind != Kind::kString) return no_overload("timestamp accessor");
    int64_t off;
    if (!tz_offset(a[1].sv(), secs, off))
      return err(ctx, "unknown time zone '" + std::string(a[1].sv()) + "'");
    secs += off;
  }
  using namespace std::chrono;
  sys_seconds tp{seconds{secs}};
  auto day = floor<date::days>(tp);
  date::year_month_day ymd{day};
  int64_t sod = (tp - day).count();
  switch (kPart) {
    case Part::kYear:
      return Value::integer(static_cast<int>(ymd.year()));
    case Part::kMonth:
      return Value::integer(static_cast<unsigned>(ymd.month()) - 1);
    case Part::kDate:
      return Value::integer(static_cast<unsigned>(ymd.day()));
    case Part::kDayOfMonth:
      return Value::integer(static_cast<unsigned>(ymd.day()) - 1);
    case Part::kDayOfWeek:
      return Value::integer(date::weekday{day}.c_encoding());
    case Part::kDayOfYear: {
      auto jan1 = date::sys_days{ymd.year() / date::January / 1};
      return Value::integer((day - jan1).count());
    }
    case Part::kHours:
      return Value::integer(sod / 3600);
    case Part::kMinutes:
      return Value::integer(sod / 60 % 60);
    case Part::kSeconds:
      return Value::integer(sod % 60);
    case Part::kMillis:
      return Value::integer(v.nanos() / 1000000);
  }
  return no_overload("timestamp accessor");
}

// ---------- string extensions ----------

Value fn_char_at(Ctx& ctx, const Value* a, std::size_t) {
  std::string_view s = a[0].sv();
  int64_t i = a[1].i;
  if (i < 0) return err(ctx, "index out of range: " + std::to_string(i));
  std::size_t off = cp_offset(s, i);
  if (off == std::string_view::npos) return err(ctx, "index out of range: " + std::to_string(i));
  if (off == s.size()) return Value::str("");
  std::size_t end = cp_offset(s.substr(off), 1);
  return Value::str(s.substr(off, end));
}

Value fn_index_of(Ctx& ctx, const Value* a, std::size_t n) {
  std::string_view s = a[0].sv(), sub = a[1].sv();
  int64_t start = n == 3 ? a[2].i : 0;
  std::size_t len = utf8_len(s);
  if (start < 0 || static_cast<std::size_t>(start) > len)
    return err(ctx, "index out of range: " + std::to_string(start));
  std::size_t off = cp_offset(s, start);
  std::size_t at = s.find(sub, off);
  if (at == std::string_view::npos) return Value::integer(-1);
  return Value::integer(static_cast<int64_t>(utf8_len(s.substr(0, at))));
}

Value fn_last_index_of(Ctx& ctx, const Value* a, std::size_t n) {
  std::string_view s = a[0].sv(), sub = a[1].sv();
  std::size_t len = utf8_len(s);
  int64_t start = n == 3 ? a[2].i : static_cast<int64_t>(len);
  if (start < 0 || static_cast<std::size_t>(start) > len)
    return err(ctx, "index out of range: " + std::to_string(start));
  std::size_t off = cp_offset(s, start);
  std::size_t at = s.rfind(sub, off);
  if (at == std::string_view::npos) return Value::integer(-1);
  return Value::integer(static_cast<int64_t>(utf8_len(s.substr(0, at))));
}

template <bool kUpper>
Value fn_ascii_case(Ctx& ctx, const Value* a, std::size_t) {
  std::string s(a[0].sv());
  for (char& c : s)
    if (kUpper ? (c >= 'a' && c <= 'z') : (c >= 'A' && c <= 'Z')) c ^= 0x20;
  return make_string(*ctx.arena, s);
}

Value fn_replace(Ctx& ctx, const Value* a, std::size_t n) {
  std::string_view s = a[0].sv(), from = a[1].sv(), to = a[2].sv();
  int64_t limit = n == 4 ? a[3].i : -1;
  std::string out;
  std::size_t p = 0;
  int64_t done = 0;
  while (limit < 0 || done < limit) {
    std::size_t at;
    if (from.empty()) {
      if (p > s.size()) break;
      at = p;
    } else {
      at = s.find(from, p);
      if (at == std::string_view::npos) break;
    }
    out.append(s.substr(p, at - p));
    out.append(to);
    ++done;
    if (from.empty()) {
      if (at >= s.size()) {
        p = s.size() + 1;
        break;
      }
      std::size_t step = cp_offset(s.substr(at), 1);
      out.append(s.substr(at, step));
      p = at + step;
    } else {
      p = at + from.size();
    }
    if (out.size() > ctx.alloc_bytes_max) return Value::error(kCostExceeded);
  }
  if (p <= s.size()) out.append(s.substr(p));
  if (!ctx.charge(out.size() / 16 + 1)) return Value::error(kCostExceeded);
  return make_string(*ctx.arena, out);
}

Value fn_split(Ctx& ctx, const Value* a, std::size_t n) {
  std::string_view s = a[0].sv(), sep = a[1].sv();
  int64_t limit = n == 3 ? a[2].i : -1;
  std::vector<Value> parts;
  if (limit == 0) return make_list(*ctx.arena, nullptr, 0);
  if (sep.empty()) {
    std::size_t p = 0;
    while (p < s.size()) {
      if (limit > 0 && static_cast<int64_t>(parts.size()) == limit - 1) {
        parts.push_back(Value::str(s.substr(p)));
        p = s.size();
        break;
      }
      std::size_t step = cp_offset(s.substr(p), 1);
      parts.push_back(Value::str(s.substr(p, step)));
      p += step;
    }
  } else {
    std::size_t p = 0;
    while (true) {
      if (limit > 0 && static_cast<int64_t>(parts.size()) == limit - 1) {
        parts.push_back(Value::str(s.substr(p)));
        break;
      }
      std::size_t at = s.find(sep, p);
      if (at == std::string_view::npos) {
        parts.push_back(Value::str(s.substr(p)));
        break;
      }
      parts.push_back(Value::str(s.substr(p, at - p)));
      p = at + sep.size();
    }
  }
  if (!ctx.charge(parts.size() / 2 + 1)) return Value::error(kCostExceeded);
  return make_list(*ctx.arena, parts.data(), parts.size());
}

Value fn_substring(Ctx& ctx, const Value* a, std::size_t n) {
  std::string_view s = a[0].sv();
  int64_t len = static_cast<int64_t>(utf8_len(s));
  int64_t b = a[1].i;
  int64_t e = n == 3 ? a[2].i : len;
  if (b < 0 || b > len) return err(ctx, "index out of range: " + std::to_string(b));
  if (e < 0 || e > len) return err(ctx, "index out of range: " + std::to_string(e));
  if (e < b)
    return err(ctx, "invalid substring range. start: " + std::to_string(b) +
                        ", end: " + std::to_string(e));
  std::size_t ob = cp_offset(s, b), oe = cp_offset(s, e);
  return Value::str(s.substr(ob, oe - ob));
}

// Decodes one UTF-8 code point at s[i]; advances i.
std::uint32_t decode_cp(std::string_view s, std::size_t& i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  int n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : 3;
  std::uint32_t cp = n == 0 ? c : n == 1 ? (c & 0x1F) : n == 2 ? (c & 0x0F) : (c & 0x07);
  ++i;
  for (int k = 0; k < n && i < s.size(); ++k, ++i)
    cp = (cp << 6) | (static_cast<unsigned char>(s[i]) & 0x3F);
  return cp;
}

bool is_unicode_space(std::uint32_t cp) {
  return cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

Value fn_trim(Ctx&, const Value* a, std::size_t) {
  std::string_view s = a[0].sv();
  std::size_t b = 0;
  while (b < s.size()) {
    std::size_t i = b;
    if (!is_unicode_space(decode_cp(s, i))) break;
    b = i;
  }
  std::size_t e = s.size();
  while (e > b) {
    std::size_t start = e - 1;
    while (start > b && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    std::size_t i = start;
    if (!is_unicode_space(decode_cp(s, i))) break;
    e = start;
  }
  return Value::str(s.substr(b, e - b));
}

Value fn_join(Ctx& ctx, const Value* a, std::size_t n) {
  if (a[0].kind != Kind::kList) return no_overload("join");
  std::string_view sep = n == 2 ? a[1].sv() : std::string_view();
  std::string out;
  for (std::uint32_t k = 0; k < a[0].list->size; ++k) {
    const Value& v = a[0].list->items[k];
    if (v.kind != Kind::kString) return no_overload("join");
    if (k) out.append(sep);
    out.append(v.sv());
  }
  if (!ctx.charge(out.size() / 16 + 1)) return Value::error(kCostExceeded);
  return make_string(*ctx.arena, out);
}

Value fn_reverse(Ctx& ctx, const Value* a, std::size_t) {
  std::string_view s = a[0].sv();
  std::string out;
  std::size_t e = s.size();
  while (e > 0) {
    std::size_t start = e - 1;
    while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    out.append(s.substr(start, e - start));
    e = start;
  }
  return make_string(*ctx.arena, out);
}

Value fn_quote(Ctx& ctx, const Value* a, std::size_t) {
  std::string_view s = a[0].sv();
  std::string out = "\"";
  std::size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '\a':
          out += "\\a";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\v':
          out += "\\v";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '"':
          out += "\\\"";
          break;
        default:
          out += static_cast<char>(c);
      }
      ++i;
      continue;
    }
    std::size_t start = i;
    std::size_t check = i;
    decode_cp(s, check);
    if (!valid_utf8(s.substr(start, check - start))) {
      out += "\xEF\xBF\xBD";
      i = start + 1;
      continue;
    }
    out.append(s.substr(start, check - start));
    i = check;
  }
  out += "\"";
  return make_string(*ctx.arena, out);
}

// ---------- encoders ----------

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

Value fn_b64_encode(Ctx& ctx, const Value* a, std::size_t) {
  std::string_view s = a[0].sv();
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < s.size(); i += 3) {
    std::uint32_t v = (static_cast<unsigned char>(s[i]) << 16) |
                      (static_cast<unsigned char>(s[i + 1]) << 8) |
                      static_cast<unsigned char>(s[i + 2]);
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += kB64[v & 63];
  }
  if (i < s.size()) {
    std::uint32_t v = static_cast<unsigned char>(s[i]) << 16;
    if (i + 1 < s.size()) v |= static_cast<unsigned char>(s[i + 1]) << 8;
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += i + 1 < s.size() ? kB64[(v >> 6) & 63] : '=';
    out += '=';
  }
  return make_string(*ctx.arena, out);
}

Value fn_b64_decode(Ctx& ctx, const Value* a, std::size_t) {
  std::string_view s = a[0].sv();
  while (!s.empty() && s.back() == '=') s.remove_suffix(1);
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    const char* p = std::strchr(kB64, c);
    if (c == '\0' || p == nullptr) return err(ctx, "illegal base64 data");
    acc = (acc << 6) | static_cast<std::uint32_t>(p - kB64);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  if (s.size() % 4 == 1) return err(ctx, "illegal base64 data");
  return make_bytes(*ctx.arena, out);
}

// ---------- math extensions ----------

Value minmax(Ctx& ctx, const Value* a, std::size_t n, bool greatest) {
  const Value* items = a;
  if (n == 1 && a[0].kind == Kind::kList) {
    items = a[0].list->items;
    n = a[0].list->size;
    if (n == 0) return err(ctx, "math.@max(list) argument must not be empty");
  }
  const Value* best = nullptr;
  for (std::size_t k = 0; k < n; ++k) {
    if (!is_num(items[k].kind)) return no_overload(greatest ? "math.greatest" : "math.least");
    if (best == nullptr) {
      best = &items[k];
      continue;
    }
    int c = compare_numbers(items[k], *best);
    if (greatest ? c > 0 : (c < 0 && c != -2)) best = &items[k];
  }
  return *best;
}
Value fn_greatest(Ctx& ctx, const Value* a, std::size_t n) { return minmax(ctx, a, n, true); }
Value fn_least(Ctx& ctx, const Value* a, std::size_t n) { return minmax(ctx, a, n, false); }

template <double (*kF)(double)>
Value fn_round_like(Ctx&, const Value* a, std::size_t) {
  if (a[0].kind != Kind::kDouble) return no_overload("math");
  return Value::dbl(kF(a[0].d));
}
double round_half_away(double d) { return std::round(d); }

Value fn_abs(Ctx&, const Value* a, std::size_t) {
  switch (a[0].kind) {
    case Kind::kInt:
      if (a[0].i == INT64_MIN) return Value::error("integer overflow");
      return Value::integer(a[0].i < 0 ? -a[0].i : a[0].i);
    case Kind::kUint:
      return a[0];
    case Kind::kDouble:
      return Value::dbl(std::fabs(a[0].d));
    default:
      return no_overload("math.abs");
  }
}
Value fn_sign(Ctx&, const Value* a, std::size_t) {
  switch (a[0].kind) {
    case Kind::kInt:
      return Value::integer((a[0].i > 0) - (a[0].i < 0));
    case Kind::kUint:
      return Value::uinteger(a[0].u > 0);
    case Kind::kDouble:
      if (std::isnan(a[0].d)) return a[0];
      return Value::dbl((a[0].d > 0) - (a[0].d < 0));
    default:
      return no_overload("math.sign");
  }
}
template <int kWhich>
Value fn_fp_class(Ctx&, const Value* a, std::size_t) {
  if (a[0].kind != Kind::kDouble) return no_overload("math");
  double d = a[0].d;
  return Value::boolean(kWhich == 0   ? std::isnan(d)
                        : kWhich == 1 ? std::isinf(d)
                                      : std::isfinite(d));
}
template <int kOp>
Value fn_bit(Ctx&, const Value* a, std::size_t) {
  const Value& x = a[0];
  const Value& y = a[1];
  if (x.kind != y.kind || (x.kind != Kind::kInt && x.kind != Kind::kUint))
    return no_overload("math.bit");
  uint64_t r = kOp == 0 ? (x.u & y.u) : kOp == 1 ? (x.u | y.u) : (x.u ^ y.u);
  Value v = x;
  v.u = r;
  return v;
}
Value fn_bit_not(Ctx&, const Value* a, std::size_t) {
  if (a[0].kind != Kind::kInt && a[0].kind != Kind::kUint) return no_overload("math.bitNot");
  Value v = a[0];
  v.u = ~v.u;
  return v;
}
template <bool kLeft>
Value fn_shift(Ctx& ctx, const Value* a, std::size_t) {
  const Value& x = a[0];
  if ((x.kind != Kind::kInt && x.kind != Kind::kUint) || a[1].kind != Kind::kInt)
    return no_overload("math.bitShift");
  int64_t n = a[1].i;
  if (n < 0) return err(ctx, "math.bitShift() negative offset: " + std::to_string(n));
  Value v = x;
  if (n >= 64) {
    v.u = 0;
    return v;
  }
  v.u = kLeft ? (x.u << n) : (x.u >> n);  // logical shift for int, as the spec requires
  return v;
}

// ---------- the registry ----------

const FnDef kFunctions[] = {
    {"_+_", false, 2, op_add,
     "int int:int|uint uint:uint|double double:double|string string:string|bytes bytes:bytes|"
     "list(A) list(A):list(A)|google.protobuf.Timestamp google.protobuf.Duration:"
     "google.protobuf.Timestamp|google.protobuf.Duration google.protobuf.Timestamp:"
     "google.protobuf.Timestamp|google.protobuf.Duration google.protobuf.Duration:"
     "google.protobuf.Duration"},
    {"_-_", false, 2, op_sub,
     "int int:int|uint uint:uint|double double:double|google.protobuf.Timestamp "
     "google.protobuf.Timestamp:google.protobuf.Duration|google.protobuf.Timestamp "
     "google.protobuf.Duration:google.protobuf.Timestamp|google.protobuf.Duration "
     "google.protobuf.Duration:google.protobuf.Duration"},
    {"_*_", false, 2, op_mul, "int int:int|uint uint:uint|double double:double"},
    {"_/_", false, 2, op_div, "int int:int|uint uint:uint|double double:double"},
    {"_%_", false, 2, op_mod, "int int:int|uint uint:uint"},
    {"-_", false, 1, op_neg, "int:int|double:double"},
    {"!_", false, 1, op_not, "bool:bool"},
    {"_==_", false, 2, op_eq, "A A:bool"},
    {"_!=_", false, 2, op_ne, "A A:bool"},
    {"_<_", false, 2, op_rel<0>, "*rel"},
    {"_<=_", false, 2, op_rel<1>, "*rel"},
    {"_>_", false, 2, op_rel<2>, "*rel"},
    {"_>=_", false, 2, op_rel<3>, "*rel"},
    // Lists are indexed by int only at check time, as in cel-go; op_index still takes a uint
    // or an integral double that arrives as dyn.
    {"_[_]", false, 2, op_index, "list(A) int:A|map(A,B) A:B"},
    {"@in", false, 2, op_in, "A list(A):bool|A map(A,B):bool"},
    {"size", false, 1, fn_size, "string:int|bytes:int|list(A):int|map(A,B):int"},
    {"size", true, 1, fn_size, "string:int|bytes:int|list(A):int|map(A,B):int"},
    {"contains", true, 2, fn_contains, "string string:bool"},
    {"startsWith", true, 2, fn_starts_with, "string string:bool"},
    {"endsWith", true, 2, fn_ends_with, "string string:bool"},
    {"matches", true, 2, fn_matches, "string string:bool"},
    {"matches", false, 2, fn_matches, "string string:bool"},
    {"int", false, 1, fn_int,
     "int:int|uint:int|double:int|string:int|google.protobuf.Timestamp:int"},
    {"uint", false, 1, fn_uint, "uint:uint|int:uint|double:uint|string:uint"},
    {"double", false, 1, fn_double, "double:double|int:double|uint:double|string:double"},
    {"string", false, 1, fn_string,
     "string:string|int:string|uint:string|double:string|bool:string|bytes:string|"
     "google.protobuf.Timestamp:string|google.protobuf.Duration:string|net.IP:string|"
     "net.CIDR:string"},
    {"bytes", false, 1, fn_bytes, "bytes:bytes|string:bytes"},
    {"bool", false, 1, fn_bool, "bool:bool|string:bool"},
    {"dyn", false, 1, fn_dyn, "A:dyn"},
    {"type", false, 1, fn_type, "A:type"},
    {"timestamp", false, 1, fn_timestamp,
     "string:google.protobuf.Timestamp|int:google.protobuf.Timestamp|"
     "google.protobuf.Timestamp:google.protobuf.Timestamp"},
    {"duration", false, 1, fn_duration,
     "string:google.protobuf.Duration|google.protobuf.Duration:google.protobuf.Duration"},
    {"getFullYear", true, -1, fn_time_part<Part::kYear>, "*ts"},
    {"getMonth", true, -1, fn_time_part<Part::kMonth>, "*ts"},
    {"getDate", true, -1, fn_time_part<Part::kDate>, "*ts"},
    {"getDayOfMonth", true, -1, fn_time_part<Part::kDayOfMonth>, "*ts"},
    {"getDayOfWeek", true, -1, fn_time_part<Part::kDayOfWeek>, "*ts"},
    {"getDayOfYear", true, -1, fn_time_part<Part::kDayOfYear>, "*ts"},
    {"getHours", true, -1, fn_time_part<Part::kHours>, "*tsd"},
    {"getMinutes", true, -1, fn_time_part<Part::kMinutes>, "*tsd"},
    {"getSeconds", true, -1, fn_time_part<Part::kSeconds>, "*tsd"},
    {"getMilliseconds", true, -1, fn_time_part<Part::kMillis>, "*tsd"},
    {"charAt", true, 2, fn_char_at, "string int:string"},
    {"indexOf", true, 2, fn_index_of, "string string:int"},
    {"indexOf", true, 3, fn_index_of, "string string int:int"},
    {"lastIndexOf", true, 2, fn_last_index_of, "string string:int"},
    {"lastIndexOf", true, 3, fn_last_index_of, "string string int:int"},
    {"lowerAscii", true, 1, fn_ascii_case<false>, "string:string"},
    {"upperAscii", true, 1, fn_ascii_case<true>, "string:string"},
    {"replace", true, 3, fn_replace, "string string string:string"},
    {"replace", true, 4, fn_replace, "string string string int:string"},
    {"split", true, 2, fn_split, "string string:list(string)"},
    {"split", true, 3, fn_split, "string string int:list(string)"},
    {"substring", true, 2, fn_substring, "string int:string"},
    {"substring", true, 3, fn_substring, "string int int:string"},
    {"trim", true, 1, fn_trim, "string:string"},
    {"join", true, 1, fn_join, "list(string):string"},
    {"join", true, 2, fn_join, "list(string) string:string"},
    {"reverse", true, 1, fn_reverse, "string:string"},
    {"strings.quote", false, 1, fn_quote, "string:string"},
    {"base64.encode", false, 1, fn_b64_encode, "bytes:string"},
    {"base64.decode", false, 1, fn_b64_decode, "string:bytes"},
    {"math.greatest", false, -1, fn_greatest, "*minmax"},
    {"math.least", false, -1, fn_least, "*minmax"},
    {"math.ceil", false, 1, fn_round_like<std::ceil>, "double:double"},
    {"math.floor", false, 1, fn_round_like<std::floor>, "double:double"},
    {"math.round", false, 1, fn_round_like<round_half_away>, "double:double"},
    {"math.trunc", false, 1, fn_round_like<std::trunc>, "double:double"},
    {"math.abs", false, 1, fn_abs, "int:int|uint:uint|double:double"},
    {"math.sign", false, 1, fn_sign, "int:int|uint:uint|double:double"},
    {"math.isNaN", false, 1, fn_fp_class<0>, "double:bool"},
    {"math.isInf", false, 1, fn_fp_class<1>, "double:bool"},
    {"math.isFinite", false, 1, fn_fp_class<2>, "double:bool"},
    {"math.bitAnd", false, 2, fn_bit<0>, "int int:int|uint uint:uint"},
    {"math.bitOr", false, 2, fn_bit<1>, "int int:int|uint uint:uint"},
    {"math.bitXor", false, 2, fn_bit<2>, "int int:int|uint uint:uint"},
    {"math.bitNot", false, 1, fn_bit_not, "int:int|uint:uint"},
    {"math.bitShiftLeft", false, 2, fn_shift<true>, "int int:int|uint int:uint"},
    {"math.bitShiftRight", false, 2, fn_shift<false>, "int int:int|uint int:uint"},
};

}  // namespace

// Defined in format.cc and net.cc.
extern const FnDef kFormatFunctions[];
extern const std::size_t kFormatFunctionCount;
extern const FnDef kNetFunctions[];
extern const std::size_t kNetFunctionCount;

namespace {
struct Registry {
  std::unordered_multimap<std::string_view, const FnDef*> by_name;
  Registry() {
    for (const FnDef& f : kFunctions) by_name.emplace(f.name, &f);
    for (std::size_t k = 0; k < kFormatFunctionCount; ++k)
      by_name.emplace(kFormatFunctions[k].name, &kFormatFunctions[k]);
    for (std::size_t k = 0; k < kNetFunctionCount; ++k)
      by_name.emplace(kNetFunctions[k].name, &kNetFunctions[k]);
  }
};
const Registry& registry() {
  static const Registry r;
  return r;
}
}  // namespace

const FnDef* find_function(std::string_view name, bool receiver, std::size_t arity) {
  auto [b, e] = registry().by_name.equal_range(name);
  for (auto it = b; it != e; ++it) {
    const FnDef* f = it->second;
    if (f->receiver != receiver) continue;
    if (f->arity == static_cast<int>(arity) || (f->arity < 0 && arity >= 1)) return f;
  }
  return nullptr;
}

bool function_name_exists(std::string_view name) { return registry().by_name.count(name) > 0; }

}  // namespace warden::expr
