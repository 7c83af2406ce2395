#include "store/sqlite/compact.h"

#include <fmt/format.h>

#include <array>
#include <cstdint>

namespace warden::store::sqlite {
namespace {

constexpr char kUuidTag = 0x01;
constexpr char kHexTag = 0x02;
constexpr char kDecimalTag = 0x03;
constexpr char kEscapeTag = 0x00;  // then one of the kinds below
constexpr char kIpv4Kind = 0x01;
constexpr char kEvmAddressKind = 0x02;
constexpr std::size_t kIpv4Bytes = 4;
constexpr std::size_t kEvmAddressBytes = 20;
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

// Two-byte fragments after kEscapeTag, tried before kFragments: how the decision service's
// metadata of a charged decision starts, per network. Frozen like kFragments.
constexpr std::array<Fragment, 3> kLongFragments = {{
    {0x03, R"({"network":"mainnet","charges":[{"usage":")"},
    {0x04, R"({"network":"devnet","charges":[{"usage":")"},
    {0x05, R"({"network":"testnet","charges":[{"usage":")"},
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

// The dotted quad at i, as its length and 4 bytes, when every part prints back as it is written
// (0..255, no leading zero); 0 otherwise.
std::size_t ipv4_at(std::string_view s, std::size_t i, unsigned char (&bytes)[kIpv4Bytes]) {
  std::size_t at = i;
  for (std::size_t part = 0; part < kIpv4Bytes; ++part) {
    if (part > 0) {
      if (at >= s.size() || s[at] != '.') return 0;
      ++at;
    }
    const std::size_t n = std::min<std::size_t>(run_length(s, at, digit), 3);
    if (n == 0 || (n > 1 && s[at] == '0')) return 0;
    int v = 0;
    for (std::size_t k = 0; k < n; ++k) v = v * 10 + (s[at + k] - '0');
    if (v > 255) return 0;
    bytes[part] = static_cast<unsigned char>(v);
    at += n;
  }
  return at - i;
}

bool is_evm_address_at(std::string_view s, std::size_t i) {
  return s.size() - i >= 2 && s[i] == '0' && s[i + 1] == 'x' &&
         run_length(s, i + 2, lower_hex) == 2 * kEvmAddressBytes;
}

}  // namespace

std::optional<std::string> compact_id(std::string_view id) {
  if (id.size() != kUuidChars || !is_uuid_at(id, 0)) return std::nullopt;
  std::string out;
  out.reserve(1 + kUuidBytes);
  put_uuid(out, id, 0);
  return out;
}

namespace {

std::optional<std::string> compact(std::string_view s, bool fragments) {
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
    if (c == '0' && is_evm_address_at(s, i)) {
      out += kEscapeTag;
      out += kEvmAddressKind;
      for (std::size_t k = 0; k < kEvmAddressBytes; ++k) {
        out += static_cast<char>(hex_value(s[i + 2 + 2 * k]) << 4 | hex_value(s[i + 3 + 2 * k]));
      }
      i += 2 + 2 * kEvmAddressBytes;
      continue;
    }
    if (digit(static_cast<char>(c))) {
      unsigned char quad[kIpv4Bytes];
      if (const std::size_t n = ipv4_at(s, i, quad); n > 0) {
        out += kEscapeTag;
        out += kIpv4Kind;
        for (unsigned char b : quad) out += static_cast<char>(b);
        i += n;
        continue;
      }
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
    if (fragments && c == '{') {
      const Fragment* long_match = nullptr;
      for (const Fragment& f : kLongFragments) {
        if (s.substr(i).starts_with(f.text)) {
          long_match = &f;
          break;
        }
      }
      if (long_match != nullptr) {
        out += kEscapeTag;
        out += long_match->byte;
        i += long_match->text.size();
        continue;
      }
    }
    const Fragment* match = nullptr;
    if (fragments && fragment_start(c)) {
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

}  // namespace

std::optional<std::string> compact_text(std::string_view s) { return compact(s, true); }

std::optional<std::string> compact_key(std::string_view key) { return compact(key, false); }

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
    if (c == static_cast<unsigned char>(kEscapeTag)) {
      if (b.size() - i < 2) return malformed(i);
      if (b[i + 1] == kIpv4Kind && b.size() - i >= 2 + kIpv4Bytes) {
        for (std::size_t k = 0; k < kIpv4Bytes; ++k) {
          if (k > 0) out += '.';
          out += std::to_string(static_cast<unsigned char>(b[i + 2 + k]));
        }
        i += 2 + kIpv4Bytes;
      } else if (b[i + 1] == kEvmAddressKind && b.size() - i >= 2 + kEvmAddressBytes) {
        out += "0x";
        for (std::size_t k = 0; k < kEvmAddressBytes; ++k) {
          const auto v = static_cast<unsigned char>(b[i + 2 + k]);
          out += kHexDigits[v >> 4];
          out += kHexDigits[v & 0xf];
        }
        i += 2 + kEvmAddressBytes;
      } else {
        const Fragment* match = nullptr;
        for (const Fragment& f : kLongFragments) {
          if (f.byte == b[i + 1]) match = &f;
        }
        if (match == nullptr) return malformed(i);
        out += match->text;
        i += 2;
      }
    } else if (c == kUuidTag) {
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

namespace {

// Frozen (compact.h): the order of core/enums.h when they were made, the audit event types a
// decision's life writes first.
constexpr std::array<std::string_view, 2> kCodedChains = {"solana", "ethereum"};
constexpr std::array<std::string_view, 6> kCodedTransactionTypes = {
    "TRANSFER", "TOKEN_TRANSFER", "CONTRACT_CALL", "APPROVE", "BATCH", "DECISION"};
constexpr std::array<std::string_view, 10> kCodedTransactionStatuses = {
    "PENDING", "QUEUED",    "EXECUTING", "SUBMITTED",       "CONFIRMED",
    "FAILED",  "CANCELLED", "EXPIRED",   "PARTIAL_FAILURE", "DENIED"};
constexpr std::array<std::string_view, 4> kCodedTiers = {"INSTANT", "NOTIFY", "DELAY",
                                                         "APPROVAL"};
constexpr std::array<std::string_view, 20> kCodedAuditEventTypes = {
    "TX_DECIDED",       "TX_CONFIRMED",      "TX_FAILED",           "TX_EXPIRED",
    "TX_CANCELLED",     "TX_EXECUTABLE",     "APPROVAL_GRANTED",    "APPROVAL_REJECTED",
    "APPROVAL_EXPIRED", "LEDGER_DEBIT",      "LEDGER_HOLD",         "LEDGER_POST",
    "LEDGER_VOID",      "LEDGER_MINT",       "LEDGER_HOLD_EXPIRED", "LEDGER_LOT_EXPIRED",
    "SESSION_CREATED",  "SESSION_RENEWED",   "AGENT_CREATED",       "AGENT_UPDATED"};
constexpr std::array<std::string_view, 3> kCodedAuditSeverities = {"info", "warning", "critical"};

}  // namespace

std::span<const std::string_view> coded_values(Coded column) {
  switch (column) {
    case Coded::kChain:
      return kCodedChains;
    case Coded::kTransactionType:
      return kCodedTransactionTypes;
    case Coded::kTransactionStatus:
      return kCodedTransactionStatuses;
    case Coded::kTier:
      return kCodedTiers;
    case Coded::kAuditEventType:
      return kCodedAuditEventTypes;
    case Coded::kAuditSeverity:
      return kCodedAuditSeverities;
  }
  return {};
}

std::optional<std::int64_t> code_of(Coded column, std::string_view value) {
  const std::span<const std::string_view> values = coded_values(column);
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (values[i] == value) return static_cast<std::int64_t>(i);
  }
  return std::nullopt;
}

Result<std::string> value_of(Coded column, std::int64_t code) {
  const std::span<const std::string_view> values = coded_values(column);
  if (code < 0 || static_cast<std::uint64_t>(code) >= values.size()) {
    return Status(ErrorCode::INTERNAL_STORE_ERROR,
                  fmt::format("stored enum code {} is not one of the {} known", code,
                              values.size()));
  }
  return std::string(values[static_cast<std::size_t>(code)]);
}

}  // namespace warden::store::sqlite
