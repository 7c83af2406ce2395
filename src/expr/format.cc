// The strings extension's "fmt".format([args]) function: %s %d %f %e %b %o %x %X %% clauses.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "expr/runtime.h"

namespace warden::expr {
namespace {

bool is_int(const Value& v) { return v.kind == Kind::kInt || v.kind == Kind::kUint; }

// Non-finite doubles print as NaN/Infinity in every numeric clause.
bool special_double(const Value& v, std::string& out) {
  if (v.kind != Kind::kDouble || std::isfinite(v.d)) return false;
  out += format_double(v.d);
  return true;
}

bool format_s(const Value& v, std::string& out) {
  switch (v.kind) {
    case Kind::kList:
      out += '[';
      for (std::uint32_t k = 0; k < v.list->size; ++k) {
        if (k) out += ", ";
        if (!format_s(v.list->items[k], out)) return false;
      }
      out += ']';
      return true;
    case Kind::kMap: {
      std::vector<std::pair<std::string, std::string>> entries;
      for (std::uint32_t k = 0; k < v.map->size; ++k) {
        std::string key, val;
        if (!format_s(v.map->keys[k], key) || !format_s(v.map->values[k], val)) return false;
        entries.emplace_back(std::move(key), std::move(val));
      }
      std::sort(entries.begin(), entries.end());
      out += '{';
      for (std::size_t k = 0; k < entries.size(); ++k) {
        if (k) out += ", ";
        out += entries[k].first + ": " + entries[k].second;
      }
      out += '}';
      return true;
    }
    case Kind::kTimestamp:
      out += format_timestamp(v.i, v.nanos());
      return true;
    case Kind::kDuration:
      out += format_duration(v.i, v.nanos());
      return true;
    case Kind::kUint:
      out += std::to_string(v.u);
      return true;
    case Kind::kIp:
    case Kind::kCidr: {
      std::string t = to_text(v);
      out += t.substr(t.find('"') + 1, t.size() - t.find('"') - 3);
      return true;
    }
    default:
      out += to_plain_string(v);
      return true;
  }
}

std::string to_base(std::uint64_t u, int base, bool upper) {
  if (u == 0) return "0";
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string s;
  while (u) {
    s += digits[u % static_cast<unsigned>(base)];
    u /= static_cast<unsigned>(base);
  }
  std::reverse(s.begin(), s.end());
  return s;
}

// Formats an integer in a base, negative ints with a leading '-'.
std::string int_base(const Value& v, int base, bool upper) {
  if (v.kind == Kind::kInt && v.i < 0)
    return std::string(1, '-').append(
        to_base(static_cast<std::uint64_t>(-(v.i + 1)) + 1, base, upper));
  return to_base(v.u, base, upper);
}

Value fail(Ctx& ctx, const std::string& clause_msg, const Value& v) {
  return err(ctx,
             "error during formatting: " + clause_msg + ", was given " + std::string(type_name(v)));
}

Value fn_format(Ctx& ctx, const Value* a, std::size_t) {
  std::string_view f = a[0].sv();
  if (a[1].kind != Kind::kList) return no_overload("format");
  const ListRep& args = *a[1].list;
  std::string out;
  std::size_t next_arg = 0;
  for (std::size_t i = 0; i < f.size(); ++i) {
    if (f[i] != '%') {
      out += f[i];
      continue;
    }
    ++i;
    if (i >= f.size()) return err(ctx, "could not parse formatting clause: unexpected end");
    if (f[i] == '%') {
      out += '%';
      continue;
    }
    int precision = -1;
    if (f[i] == '.') {
      precision = 0;
      ++i;
      while (i < f.size() && std::isdigit(static_cast<unsigned char>(f[i])))
        precision = std::min(precision * 10 + (f[i++] - '0'), 1000);  // clamped below anyway
      if (i >= f.size()) return err(ctx, "could not parse formatting clause: unexpected end");
    }
    char c = f[i];
    if (std::string_view("sdfeboxX").find(c) == std::string_view::npos)
      return err(ctx, std::string("could not parse formatting clause: unrecognized formatting "
                                  "clause \"") +
                          c + "\"");
    if (next_arg >= args.size)
      return err(ctx, "index " + std::to_string(next_arg) + " out of range");
    const Value& v = args.items[next_arg++];
    switch (c) {
      case 's':
        format_s(v, out);
        break;
      case 'd':
        if (special_double(v, out)) break;
        if (!is_int(v)) return fail(ctx, "decimal clause can only be used on integers", v);
        out += v.kind == Kind::kInt ? std::to_string(v.i) : std::to_string(v.u);
        break;
      case 'f':
      case 'e': {
        if (special_double(v, out)) break;
        double d;
        if (v.kind == Kind::kDouble)
          d = v.d;
        else if (v.kind == Kind::kInt)
          d = static_cast<double>(v.i);
        else if (v.kind == Kind::kUint)
          d = static_cast<double>(v.u);
        else
          return fail(ctx,
                      c == 'f' ? "fixed-point clause can only be used on doubles"
                               : "scientific clause can only be used on doubles",
                      v);
        char buf[512];
        char spec[16];
        std::snprintf(spec, sizeof spec, "%%.%d%c", precision < 0 ? 6 : std::min(precision, 100),
                      c);
        std::snprintf(buf, sizeof buf, spec, d);
        out += buf;
        break;
      }
      case 'b':
        if (v.kind == Kind::kBool) {
          out += v.b ? "1" : "0";
          break;
        }
        if (!is_int(v)) return fail(ctx, "only integers and bools can be formatted as binary", v);
        out += int_base(v, 2, false);
        break;
      case 'o':
        if (!is_int(v)) return fail(ctx, "octal clause can only be used on integers", v);
        out += int_base(v, 8, false);
        break;
      default: {  // x, X
        bool upper = c == 'X';
        if (is_int(v)) {
          out += int_base(v, 16, upper);
        } else if (v.kind == Kind::kString || v.kind == Kind::kBytes) {
          for (char ch : v.sv()) {
            std::string h = to_base(static_cast<unsigned char>(ch), 16, upper);
            if (h.size() < 2) h = "0" + h;
            out += h;
          }
        } else {
          return fail(ctx, "only integers, byte buffers, and strings can be formatted as hex", v);
        }
      }
    }
    if (out.size() > ctx.alloc_bytes_max) return Value::error(kCostExceeded);
  }
  if (!ctx.charge(out.size() / 16 + 1)) return Value::error(kCostExceeded);
  return make_string(*ctx.arena, out);
}

}  // namespace

extern const FnDef kFormatFunctions[] = {
    {"format", true, 2, fn_format, "string list(dyn):string"},
};
extern const std::size_t kFormatFunctionCount = 1;

}  // namespace warden::expr
