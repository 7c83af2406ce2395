// The Warden-Signature check of inbound payment webhooks.
#include "server/webhook_signature.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <array>
#include <optional>
#include <vector>

#include "core/sha256.h"

namespace warden::server {
namespace {

constexpr std::size_t kDigestBytes = 32;
constexpr std::size_t kTimestampDigitsMax = 12;  // Unix seconds until the year 33658
using Digest = std::array<unsigned char, kDigestBytes>;

// HMAC-SHA256 of "<t>.<body>" without copying the body; nullopt only if OpenSSL fails.
std::optional<Digest> hmac(std::string_view secret, std::int64_t t, std::string_view body) {
  static EVP_MAC* const kMac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (kMac == nullptr) return std::nullopt;
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(kMac);
  if (ctx == nullptr) return std::nullopt;
  char digest_name[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
      OSSL_PARAM_construct_end()};
  const std::string prefix = std::to_string(t) + ".";
  Digest out{};
  std::size_t out_bytes = 0;
  const bool ok =
      EVP_MAC_init(ctx, reinterpret_cast<const unsigned char*>(secret.data()), secret.size(),
                   params) == 1 &&
      EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(prefix.data()), prefix.size()) ==
          1 &&
      EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(body.data()), body.size()) == 1 &&
      EVP_MAC_final(ctx, out.data(), &out_bytes, out.size()) == 1 && out_bytes == kDigestBytes;
  EVP_MAC_CTX_free(ctx);
  if (!ok) return std::nullopt;
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// 64 hex digits -> 32 bytes; nullopt for anything else (it can match nothing).
std::optional<Digest> decode_digest(std::string_view hex) {
  if (hex.size() != 2 * kDigestBytes) return std::nullopt;
  Digest out{};
  for (std::size_t i = 0; i < kDigestBytes; ++i) {
    const int hi = hex_value(hex[2 * i]);
    const int lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<unsigned char>(hi * 16 + lo);
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

Status invalid(std::string_view reason, std::string message) {
  return Status(ErrorCode::WEBHOOK_SIGNATURE_INVALID, std::move(message), {{"reason", reason}});
}

struct Parsed {
  std::int64_t t = 0;
  std::vector<std::string_view> v1;
};

// "t=<digits>,v1=<hex>,...": exactly one t and at least one v1; other schemes (v0=, a future
// v2=) are skipped, as senders may add them.
Result<Parsed> parse_header(std::string_view header) {
  if (trim(header).empty()) return invalid("header_missing", "Warden-Signature header is missing");
  const auto malformed = [](std::string what) {
    return invalid("header_malformed", "Warden-Signature header: " + what);
  };
  if (header.size() > kSignatureHeaderBytesMax) {
    return malformed("longer than " + std::to_string(kSignatureHeaderBytesMax) + " bytes");
  }
  Parsed p;
  bool has_t = false;
  while (!header.empty()) {
    const auto comma = header.find(',');
    const std::string_view item = trim(header.substr(0, comma));
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    const auto eq = item.find('=');
    if (eq == std::string_view::npos) return malformed("items are key=value");
    const std::string_view key = item.substr(0, eq);
    const std::string_view value = item.substr(eq + 1);
    if (key == "t") {
      if (has_t) return malformed("t appears twice");
      if (value.empty() || value.size() > kTimestampDigitsMax) return malformed("t is not a time");
      for (char c : value) {
        if (c < '0' || c > '9') return malformed("t is not a time");
        p.t = p.t * 10 + (c - '0');
      }
      has_t = true;
    } else if (key == "v1") {
      if (p.v1.size() == kSignaturesMax) {
        return malformed("more than " + std::to_string(kSignaturesMax) + " v1 signatures");
      }
      p.v1.push_back(value);
    }
  }
  if (!has_t) return malformed("no t=");
  if (p.v1.empty()) return malformed("no v1=");
  return p;
}

}  // namespace

bool valid_webhook_provider(std::string_view name) {
  if (name.empty() || name.size() > kWebhookProviderBytesMax) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  }
  return true;
}

Status verify_webhook_signature(std::string_view header, std::string_view body,
                                std::string_view secret, std::int64_t now_s) {
  WARDEN_ASSIGN_OR_RETURN(Parsed p, parse_header(header));
  const auto expected = hmac(secret, p.t, body);
  if (!expected) return Status(ErrorCode::INTERNAL_ERROR, "HMAC-SHA256 failed");
  bool matched = false;
  // Every candidate is compared, in constant time each, whatever the first ones gave.
  for (std::string_view hex : p.v1) {
    const auto given = decode_digest(hex);
    if (given && CRYPTO_memcmp(given->data(), expected->data(), kDigestBytes) == 0) {
      matched = true;
    }
  }
  if (!matched) return invalid("no_match", "no v1 signature matches the body");
  if (p.t < now_s - kWebhookToleranceSeconds || p.t > now_s + kWebhookToleranceSeconds) {
    return Status(ErrorCode::WEBHOOK_TIMESTAMP_STALE,
                  "the signed timestamp " + std::to_string(p.t) + " is more than " +
                      std::to_string(kWebhookToleranceSeconds) + " s from now",
                  {{"reason", p.t < now_s ? "too_old" : "in_future"},
                   {"tolerance_seconds", kWebhookToleranceSeconds}});
  }
  return Status();
}

std::string webhook_signature(std::string_view secret, std::int64_t t, std::string_view body) {
  const auto d = hmac(secret, t, body);
  return d ? to_hex(d->data(), d->size()) : std::string();
}

}  // namespace warden::server
