// ES256 JSON Web Tokens (RFC 7515/7519 with the JWA ES256 algorithm: ECDSA on P-256 with
// SHA-256, the signature as raw r||s) and P-256 keys as JWKs, on OpenSSL 3's EVP API.
// Verification is strict: the header must say alg "ES256" and nothing else is tried, so "none",
// HS256 (also with the public key as its secret) and every other algorithm are refused before
// any key is touched.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

using EVP_PKEY = struct evp_pkey_st;

namespace warden::server {

// Unpadded base64url (RFC 4648 §5). decode refuses padding, other characters and impossible
// lengths.
std::string base64url_encode(std::string_view bytes);
std::optional<std::string> base64url_decode(std::string_view text);

// A P-256 key pair (or a public key only). Copies share the key, which is immutable.
class EcKey {
 public:
  static Result<EcKey> generate();
  static Result<EcKey> from_private_der(std::string_view pkcs8_der);
  // From the JWK coordinates (32 bytes each, big-endian).
  static Result<EcKey> from_public_xy(std::string_view x, std::string_view y);

  Result<std::string> private_der() const;  // PKCS#8 DER
  // The public point's coordinates, 32 bytes each.
  Result<std::pair<std::string, std::string>> public_xy() const;
  // {"kty":"EC","crv":"P-256","x":..,"y":..,"kid":kid,"use":"sig","alg":"ES256"}
  Result<std::string> public_jwk(std::string_view kid) const;

  // ES256 over data: 64 bytes r||s.
  Result<std::string> sign(std::string_view data) const;
  bool verify(std::string_view data, std::string_view raw_signature) const;

  EVP_PKEY* get() const { return key_.get(); }

 private:
  explicit EcKey(std::shared_ptr<EVP_PKEY> key) : key_(std::move(key)) {}
  std::shared_ptr<EVP_PKEY> key_;
};

struct JwtClaims {
  std::string sub;                 // agent id
  std::string sid;                 // session id
  std::optional<std::string> org;  // the agent's org, null when it has none
  std::int64_t iat = 0;
  std::int64_t nbf = 0;
  std::int64_t exp = 0;
  std::string jti;
};

// Why a token was refused: the `reason` named in the refusal's message, stable for clients.
enum class JwtError {
  kMalformed,     // not three base64url parts of JSON objects with the required claims
  kAlgorithm,     // alg is not exactly "ES256" (none, HS256, RS256, ...), or crit is present
  kUnknownKey,    // kid names no key this daemon knows
  kKeyRetired,    // the key's verify_until has passed
  kBadSignature,  // the signature does not verify (tampered header, payload or signature)
  kExpired,       // exp is past (with the leeway)
  kNotYetValid,   // nbf or iat is in the future (with the leeway)
};
std::string_view jwt_error_name(JwtError e);
// AUTH_SESSION_EXPIRED for kExpired, AUTH_SESSION_INVALID otherwise, with the message
// "session token refused: <reason>" and details {"reason": <reason>}.
Status jwt_error_status(JwtError e);

Result<std::string> jwt_sign(const EcKey& key, std::string_view kid, const JwtClaims& claims);

// A verification key for a kid, or why there is none.
struct VerifyKey {
  std::optional<EcKey> key;
  JwtError missing = JwtError::kUnknownKey;  // when key is empty
};

struct JwtVerifyResult {
  std::optional<JwtClaims> claims;
  JwtError error = JwtError::kMalformed;  // when claims is empty
  std::string kid;
};

// Checks the header, finds the key by kid, checks the signature, then exp and nbf against
// now_s with leeway_s either way.
JwtVerifyResult jwt_verify(std::string_view token,
                           const std::function<VerifyKey(std::string_view kid)>& find_key,
                           std::int64_t now_s, std::int64_t leeway_s);

}  // namespace warden::server
