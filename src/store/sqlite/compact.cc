#include "store/sqlite/compact.h"

#include <fmt/format.h>

#include <array>
#include <cstdint>

namespace warden::store::sqlite {
namespace {

constexpr char kUuidTag = 0x01;
constexpr char kHexTag = 0x02;
constexpr char kDecimalTag = 0x03;
constexpr std::size_t kUuidChars = 36;
constexpr std::size_t kUuidBytes = 16;
constexpr std::size_t kHexBytesMin = 8;  // shorter runs save too little to be worth a tag
constexpr std::size_t kHexBytesMax = 255;
constexpr std::size_t kDecimalDigitsMin = 4;
constexpr std::size_t kDecimalDigitsMax = 19;  // always fits in 64 bits

struct Fragment {
  char byte;
  std::string_view text;
};

// What the decision service writes into a transaction's metadata and a decision's audit
// details (decisions/submit.cc, records.cc, lifecycle.cc), most specific first: at each
// position the first fragment that matches is taken. Frozen: see compact.h.
constexpr std::array<Fragment, 25> kFragments = {{
    {0x04, R"({"effect":"ALLOW","tier":"INSTANT","status":"PENDING","reasons":[],"amount":")"},
    {0x05, R"({"effect":"DENY","tier":null,"status":"DENIED","reasons":[{"policy_id":")"},
    {0x06, R"({"network":")"},
    {0x07, R"(","charges":[{"usage":")"},
    {0x08, R"(","kind":"amount","amount":")"},
    {0x0b, R"(","kind":"requests","amount":")"},
    {0x0c, R"(","ts_ms":)"},
    {0x0e, R"(,"asset":"native"})"},
    {0x0f, R"(],"effect":"ALLOW","reasons":[]})"},
    {0x10, R"(,"windows":[{"meter":")"},
    {0x11, R"(","bucket_ms":)"},
    {0x12, R"({"final_amount":")"},
    {0x13, R"(","reserved_amount":")"},
    {0x14, R"(","code":")"},
    {0x15, R"(","message":")"},
    {0x16, R"(","outcome":")"},
    {0x17, R"(,"asset":")"},
    {0x18, R"("effect":")"},
    {0x19, R"("reasons":[)"},
    {0x1a, R"("status":")"},
    {0x1b, R"("amount":")"},
    {0x1c, R"("tier":")"},
    {0x1d, R"(,"usage":")"},
    {0x1e, "/native"},
    {0x1f, R"("})"},
}};

// The first bytes of kFragments: other bytes skip the table.
constexpr bool fragment_start(unsigned char c) {
  for (const Fragment& f : kFragments) {
    if (static_cast<unsigned char>(f.text.front()) == c) return true;
  }
  return false;
}

constexpr bool reserved(unsigned char c) { return c < 0x20 && c != 0x09 && c != 0x0a && c != 0x0d; }

constexpr bool lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
constexpr bool digit(char c) { return c >= '0' && c <= '9'; }

int hex_value(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

bool is_uuid_at(std::string_view s, std::size_t i) {
  if (s.size() - i < kUuidChars) return false;
  for (std::size_t k = 0; k < kUuidChars; ++k) {
    const char c = s[i + k];
    const bool dash = k == 8 || k == 13 || k == 18 || k == 23;
    if (dash ? c != '-' : !lower_hex(c)) return false;
  }
  return true;
}

void put_uuid(std::string& out, std::string_view s, std::size_t i) {
  out += kUuidTag;
  for (std::size_t k = 0; k < kUuidChars;) {
    if (s[i + k] == '-') {
      ++k;
      continue;
    }
    out += static_cast<char>(hex_value(s[i + k]) << 4 | hex_value(s[i + k + 1]));
    k += 2;
  }
}

std::size_t run_length(std::string_view s, std::size_t i, bool (*in)(char)) {
  std::size_t n = 0;
  while (i + n < s.size() && in(s[i + n])) ++n;
  return n;
}

}  // namespace

std::optional<std::string> compact_id(std::string_view id) {
  if (id.size() != kUuidChars || !is_uuid_at(id, 0)) return std::nullopt;
  std::string out;
  out.reserve(1 + kUuidBytes);
  put_uuid(out, id, 0);
  return out;
}

std::optional<std::string> compact_text(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (reserved(c)) return std::nullopt;
    if (lower_hex(static_cast<char>(c)) && is_uuid_at(s, i)) {
      put_uuid(out, s, i);
      i += kUuidChars;
      continue;
    }
    const std::size_t digits = run_length(s, i, digit);
    const std::size_t hex = run_length(s, i, lower_hex);
    if (digits == hex && digits >= kDecimalDigitsMin && digits <= kDecimalDigitsMax &&
        s[i] != '0') {
      std::uint64_t v = 0;
      for (std::size_t k = 0; k < digits; ++k)
        v = v * 10 + static_cast<std::uint64_t>(s[i + k] - '0');
      int n = 1;
      while (n < 8 && (v >> (8 * n)) != 0) ++n;
      out += kDecimalTag;
      out += static_cast<char>(n);
      for (int b = n - 1; b >= 0; --b) out += static_cast<char>((v >> (8 * b)) & 0xff);
      i += digits;
      continue;
    }
    if (hex / 2 >= kHexBytesMin) {
      const std::size_t bytes = std::min(hex / 2, kHexBytesMax);
      out += kHexTag;
      out += static_cast<char>(bytes);
      for (std::size_t k = 0; k < bytes; ++k) {
        out += static_cast<char>(hex_value(s[i + 2 * k]) << 4 | hex_value(s[i + 2 * k + 1]));
      }
      i += 2 * bytes;
      continue;
    }
    const Fragment* match = nullptr;
    if (fragment_start(c)) {
      for (const Fragment& f : kFragments) {
        if (s.substr(i).starts_with(f.text)) {
          match = &f;
          break;
        }
      }
    }
    if (match != nullptr) {
      out += match->byte;
      i += match->text.size();
      continue;
    }
    out += static_cast<char>(c);
    ++i;
  }
  if (out.size() >= s.size()) return std::nullopt;
  return out;
}

Result<std::string> expand_text(std::string_view b) {
  auto malformed = [&](std::size_t at) {
    return Status(ErrorCode::INTERNAL_STORE_ERROR,
                  fmt::format("compacted column value malformed at byte {} of {}", at, b.size()));
  };
  static constexpr char kHexDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(b.size() * 3);
  for (std::size_t i = 0; i < b.size();) {
    const unsigned char c = static_cast<unsigned char>(b[i]);
    if (!reserved(c)) {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    if (c == kUuidTag) {
      if (b.size() - i < 1 + kUuidBytes) return malformed(i);
      for (std::size_t k = 0; k < kUuidBytes; ++k) {
        if (k == 4 || k == 6 || k == 8 || k == 10) out += '-';
        const auto v = static_cast<unsigned char>(b[i + 1 + k]);
        out += kHexDigits[v >> 4];
        out += kHexDigits[v & 0xf];
      }
      i += 1 + kUuidBytes;
    } else if (c == kHexTag || c == kDecimalTag) {
      if (b.size() - i < 2) return malformed(i);
      const auto n = static_cast<unsigned char>(b[i + 1]);
      if (b.size() - i - 2 < n || n == 0 || (c == kDecimalTag && n > 8)) return malformed(i);
      if (c == kHexTag) {
        for (std::size_t k = 0; k < n; ++k) {
          const auto v = static_cast<unsigned char>(b[i + 2 + k]);
          out += kHexDigits[v >> 4];
          out += kHexDigits[v & 0xf];
        }
      } else {
        std::uint64_t v = 0;
        for (std::size_t k = 0; k < n; ++k) v = v << 8 | static_cast<unsigned char>(b[i + 2 + k]);
        out += std::to_string(v);
      }
      i += 2 + n;
    } else {
      const Fragment* match = nullptr;
      for (const Fragment& f : kFragments) {
        if (static_cast<unsigned char>(f.byte) == c) match = &f;
      }
      if (match == nullptr) return malformed(i);
      out += match->text;
      ++i;
    }
  }
  return out;
}

}  // namespace warden::store::sqlite
