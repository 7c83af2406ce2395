// The network extension: ip() and cidr() values, their predicates and containment tests.
#include <arpa/inet.h>

#include <cstring>
#include <string>

#include "expr/runtime.h"

namespace warden::expr {

Value make_ip(Arena& arena, const NetRep& rep, Kind kind) {
  auto* p = static_cast<NetRep*>(arena.alloc(sizeof(NetRep), alignof(NetRep)));
  *p = rep;
  Value v;
  v.kind = kind;
  v.net = p;
  return v;
}

std::string net_to_string(const NetRep& n, bool cidr) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(n.v4 ? AF_INET : AF_INET6, n.addr, buf, sizeof buf);
  std::string s = buf;
  if (cidr) s.append(1, '/').append(std::to_string(n.prefix));
  return s;
}

namespace {

// Parses an address; returns an error message or empty.
std::string parse_addr(std::string_view text, NetRep& out, const char* what) {
  std::string s(text);
  if (s.find('%') != std::string::npos)
    return std::string(what) + " with zone value is not allowed";
  std::memset(&out, 0, sizeof out);
  if (s.find(':') == std::string::npos) {
    if (inet_pton(AF_INET, s.c_str(), out.addr) != 1) return "parse error";
    out.v4 = true;
    return {};
  }
  if (s.find('.') != std::string::npos) return "IPv4-mapped IPv6 address is not allowed";
  if (inet_pton(AF_INET6, s.c_str(), out.addr) != 1) return "parse error";
  static const std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(out.addr, kMapped, 12) == 0) {
    std::memmove(out.addr, out.addr + 12, 4);
    std::memset(out.addr + 4, 0, 12);
    out.v4 = true;
  }
  return {};
}

Value ip_error(Ctx& ctx, std::string_view s, const std::string& msg) {
  if (msg == "parse error")
    return err(ctx,
               "IP Address '" + std::string(s) + "' parse error during conversion from string");
  return err(ctx, msg);
}

Value fn_ip(Ctx& ctx, const Value* a, std::size_t) {
  NetRep rep;
  std::string e = parse_addr(a[0].sv(), rep, "IP Address");
  if (!e.empty()) return ip_error(ctx, a[0].sv(), e);
  return make_ip(*ctx.arena, rep, Kind::kIp);
}

Value fn_is_ip(Ctx&, const Value* a, std::size_t) {
  NetRep rep;
  return Value::boolean(parse_addr(a[0].sv(), rep, "IP Address").empty());
}

Value fn_is_canonical(Ctx& ctx, const Value* a, std::size_t) {
  NetRep rep;
  std::string e = parse_addr(a[0].sv(), rep, "IP Address");
  if (!e.empty()) return ip_error(ctx, a[0].sv(), e);
  return Value::boolean(net_to_string(rep, false) == a[0].sv());
}

bool parse_cidr(std::string_view s, NetRep& rep, std::string& error) {
  std::size_t slash = s.find('/');
  if (slash == std::string_view::npos || slash + 1 >= s.size()) {
    error = "network address parse error during conversion from string";
    return false;
  }
  error = parse_addr(s.substr(0, slash), rep, "CIDR");
  if (!error.empty()) {
    if (error == "parse error") error = "network address parse error during conversion from string";
    return false;
  }
  int prefix = 0;
  for (char c : s.substr(slash + 1)) {
    if (!std::isdigit(static_cast<unsigned char>(c)) || prefix > 200) {
      error = "network address parse error during conversion from string";
      return false;
    }
    prefix = prefix * 10 + (c - '0');
  }
  if (prefix > (rep.v4 ? 32 : 128)) {
    error = "network address parse error during conversion from string";
    return false;
  }
  rep.prefix = prefix;
  return true;
}

Value fn_cidr(Ctx& ctx, const Value* a, std::size_t) {
  NetRep rep;
  std::string e;
  if (!parse_cidr(a[0].sv(), rep, e)) return err(ctx, e);
  return make_ip(*ctx.arena, rep, Kind::kCidr);
}

bool prefix_match(const NetRep& net, const std::uint8_t* addr, int bits) {
  for (int k = 0; k < bits; ++k) {
    int byte = k / 8, bit = 7 - k % 8;
    if (((net.addr[byte] >> bit) & 1) != ((addr[byte] >> bit) & 1)) return false;
  }
  return true;
}

Value fn_contains_ip(Ctx& ctx, const Value* a, std::size_t) {
  NetRep other;
  if (a[1].kind == Kind::kString) {
    std::string e = parse_addr(a[1].sv(), other, "IP Address");
    if (!e.empty()) return ip_error(ctx, a[1].sv(), e);
  } else if (a[1].kind == Kind::kIp) {
    other = *a[1].net;
  } else {
    return no_overload("containsIP");
  }
  const NetRep& net = *a[0].net;
  if (net.v4 != other.v4) return Value::boolean(false);
  return Value::boolean(prefix_match(net, other.addr, net.prefix));
}

Value fn_contains_cidr(Ctx& ctx, const Value* a, std::size_t) {
  NetRep other;
  if (a[1].kind == Kind::kString) {
    std::string e;
    if (!parse_cidr(a[1].sv(), other, e)) return err(ctx, e);
  } else if (a[1].kind == Kind::kCidr) {
    other = *a[1].net;
  } else {
    return no_overload("containsCIDR");
  }
  const NetRep& net = *a[0].net;
  if (net.v4 != other.v4 || other.prefix < net.prefix) return Value::boolean(false);
  return Value::boolean(prefix_match(net, other.addr, net.prefix));
}

Value fn_cidr_ip(Ctx& ctx, const Value* a, std::size_t) {
  NetRep rep = *a[0].net;
  rep.prefix = 0;
  return make_ip(*ctx.arena, rep, Kind::kIp);
}

Value fn_masked(Ctx& ctx, const Value* a, std::size_t) {
  NetRep rep = *a[0].net;
  int total = rep.v4 ? 32 : 128;
  for (int k = rep.prefix; k < total; ++k)
    rep.addr[k / 8] &= static_cast<std::uint8_t>(~(1 << (7 - k % 8)));
  return make_ip(*ctx.arena, rep, Kind::kCidr);
}

Value fn_prefix_length(Ctx&, const Value* a, std::size_t) {
  return Value::integer(a[0].net->prefix);
}

Value fn_family(Ctx&, const Value* a, std::size_t) { return Value::integer(a[0].net->v4 ? 4 : 6); }

bool all_zero(const NetRep& n) {
  for (int k = 0; k < (n.v4 ? 4 : 16); ++k)
    if (n.addr[k]) return false;
  return true;
}
bool loopback(const NetRep& n) {
  if (n.v4) return n.addr[0] == 127;
  for (int k = 0; k < 15; ++k)
    if (n.addr[k]) return false;
  return n.addr[15] == 1;
}
bool multicast(const NetRep& n) { return n.v4 ? (n.addr[0] & 0xF0) == 0xE0 : n.addr[0] == 0xFF; }
bool ll_multicast(const NetRep& n) {
  if (n.v4) return n.addr[0] == 224 && n.addr[1] == 0 && n.addr[2] == 0;
  return n.addr[0] == 0xFF && (n.addr[1] & 0x0F) == 0x02;
}
bool ll_unicast(const NetRep& n) {
  if (n.v4) return n.addr[0] == 169 && n.addr[1] == 254;
  return n.addr[0] == 0xFE && (n.addr[1] & 0xC0) == 0x80;
}

template <int kWhich>
Value fn_ip_pred(Ctx&, const Value* a, std::size_t) {
  const NetRep& n = *a[0].net;
  switch (kWhich) {
    case 0:
      return Value::boolean(all_zero(n));
    case 1:
      return Value::boolean(loopback(n));
    case 2:
      return Value::boolean(ll_multicast(n));
    case 3:
      return Value::boolean(ll_unicast(n));
    default: {
      bool broadcast =
          n.v4 && n.addr[0] == 255 && n.addr[1] == 255 && n.addr[2] == 255 && n.addr[3] == 255;
      return Value::boolean(!all_zero(n) && !loopback(n) && !multicast(n) && !ll_unicast(n) &&
                            !broadcast);
    }
  }
}

}  // namespace

extern const FnDef kNetFunctions[] = {
    {"ip", false, 1, fn_ip, "string:net.IP"},
    {"isIP", false, 1, fn_is_ip, "string:bool"},
    {"ip.isCanonical", false, 1, fn_is_canonical, "string:bool"},
    {"cidr", false, 1, fn_cidr, "string:net.CIDR"},
    {"family", true, 1, fn_family, "net.IP:int"},
    {"isUnspecified", true, 1, fn_ip_pred<0>, "net.IP:bool"},
    {"isLoopback", true, 1, fn_ip_pred<1>, "net.IP:bool"},
    {"isLinkLocalMulticast", true, 1, fn_ip_pred<2>, "net.IP:bool"},
    {"isLinkLocalUnicast", true, 1, fn_ip_pred<3>, "net.IP:bool"},
    {"isGlobalUnicast", true, 1, fn_ip_pred<4>, "net.IP:bool"},
    {"containsIP", true, 2, fn_contains_ip, "net.CIDR net.IP:bool|net.CIDR string:bool"},
    {"containsCIDR", true, 2, fn_contains_cidr, "net.CIDR net.CIDR:bool|net.CIDR string:bool"},
    {"ip", true, 1, fn_cidr_ip, "net.CIDR:net.IP"},
    {"masked", true, 1, fn_masked, "net.CIDR:net.CIDR"},
    {"prefixLength", true, 1, fn_prefix_length, "net.CIDR:int"},
};
extern const std::size_t kNetFunctionCount = sizeof(kNetFunctions) / sizeof(kNetFunctions[0]);

}  // namespace warden::expr
