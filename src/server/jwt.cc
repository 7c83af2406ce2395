// ES256 JWTs on OpenSSL 3 (see jwt.h).
#include "server/jwt.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include <array>
#include <boost/json.hpp>

namespace warden::server {

namespace json = boost::json;

namespace {

constexpr std::size_t kCoordinateBytes = 32;  // P-256 field elements
constexpr std::size_t kSignatureBytes = 2 * kCoordinateBytes;
constexpr std::string_view kCurveName = "prime256v1";
constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

Status crypto_error(std::string_view what) {
  return Status(ErrorCode::INTERNAL_ERROR, std::string("openssl: ") + std::string(what));
}

std::shared_ptr<EVP_PKEY> own(EVP_PKEY* k) { return {k, EVP_PKEY_free}; }

bool is_p256(EVP_PKEY* k) {
  if (k == nullptr || EVP_PKEY_is_a(k, "EC") != 1) return false;
  std::array<char, 64> group{};
  std::size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group.data(), group.size(),
                                     &len) != 1) {
    return false;
  }
  return std::string_view(group.data(), len) == kCurveName;
}

std::optional<std::string> bn_bytes(const BIGNUM* bn) {
  std::string out(kCoordinateBytes, '\0');
  if (BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), kCoordinateBytes) !=
      static_cast<int>(kCoordinateBytes)) {
    return std::nullopt;
  }
  return out;
}

std::optional<json::object> parse_object(std::string_view b64) {
  auto text = base64url_decode(b64);
  if (!text) return std::nullopt;
  boost::system::error_code ec;
  json::value v = json::parse(*text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

std::optional<std::string> string_field(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (v == nullptr || !v->is_string()) return std::nullopt;
  return std::string(v->as_string());
}

std::optional<std::int64_t> int_field(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (v == nullptr || !v->is_int64()) return std::nullopt;
  return v->as_int64();
}

}  // namespace

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 0x3f]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 0x3f]);
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    const auto pos = kAlphabet.find(c);
    if (pos == std::string_view::npos) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(pos);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  // Leftover bits must be zero, so each byte string has exactly one encoding.
  if ((acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

Result<EcKey> EcKey::generate() {
  EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  if (k == nullptr) return crypto_error("P-256 key generation failed");
  return EcKey(own(k));
}

Result<EcKey> EcKey::from_private_der(std::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  auto k = own(d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(der.size())));
  if (!k || !is_p256(k.get())) return crypto_error("not a P-256 private key");
  return EcKey(std::move(k));
}

Result<EcKey> EcKey::from_public_xy(std::string_view x, std::string_view y) {
  if (x.size() != kCoordinateBytes || y.size() != kCoordinateBytes) {
    return crypto_error("P-256 coordinates must be 32 bytes");
  }
  std::string point = "\x04" + std::string(x) + std::string(y);
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  if (bld == nullptr) return crypto_error("OSSL_PARAM_BLD_new");
  OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, kCurveName.data(), 0);
  OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  OSSL_PARAM_BLD_free(bld);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
  EVP_PKEY* k = nullptr;
  const bool ok = params != nullptr && ctx != nullptr && EVP_PKEY_fromdata_init(ctx) == 1 &&
                  EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params) == 1;
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  if (!ok) return crypto_error("not a point on P-256");
  return EcKey(own(k));
}

Result<std::string> EcKey::private_der() const {
  PKCS8_PRIV_KEY_INFO* info = EVP_PKEY2PKCS8(key_.get());
  if (info == nullptr) return crypto_error("EVP_PKEY2PKCS8");
  unsigned char* der = nullptr;
  const int len = i2d_PKCS8_PRIV_KEY_INFO(info, &der);
  PKCS8_PRIV_KEY_INFO_free(info);
  if (len <= 0) return crypto_error("i2d_PKCS8_PRIV_KEY_INFO");
  std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(len));
  OPENSSL_clear_free(der, static_cast<std::size_t>(len));
  return out;
}

Result<std::pair<std::string, std::string>> EcKey::public_xy() const {
  BIGNUM* x = nullptr;
  BIGNUM* y = nullptr;
  std::optional<std::string> xs, ys;
  if (EVP_PKEY_get_bn_param(key_.get(), OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1 &&
      EVP_PKEY_get_bn_param(key_.get(), OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 1) {
    xs = bn_bytes(x);
    ys = bn_bytes(y);
  }
  BN_free(x);
  BN_free(y);
  if (!xs || !ys) return crypto_error("cannot read the public point");
  return std::pair{*xs, *ys};
}

Result<std::string> EcKey::public_jwk(std::string_view kid) const {
  WARDEN_ASSIGN_OR_RETURN(auto xy, public_xy());
  json::object jwk{{"kty", "EC"},
                   {"crv", "P-256"},
                   {"x", base64url_encode(xy.first)},
                   {"y", base64url_encode(xy.second)},
                   {"kid", kid},
                   {"use", "sig"},
                   {"alg", "ES256"}};
  return json::serialize(jwk);
}

Result<std::string> EcKey::sign(std::string_view data) const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::string der(EVP_PKEY_get_size(key_.get()), '\0');
  std::size_t len = der.size();
  const bool ok =
      ctx != nullptr && EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key_.get()) == 1 &&
      EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(der.data()), &len,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) return crypto_error("ECDSA signing failed");
  // OpenSSL gives DER (SEQUENCE of r and s); JOSE wants both as fixed-width big-endian bytes.
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len));
  if (sig == nullptr) return crypto_error("d2i_ECDSA_SIG");
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig, &r, &s);
  auto rb = bn_bytes(r);
  auto sb = bn_bytes(s);
  ECDSA_SIG_free(sig);
  if (!rb || !sb) return crypto_error("signature component too long");
  return *rb + *sb;
}

bool EcKey::verify(std::string_view data, std::string_view raw) const {
  if (raw.size() != kSignatureBytes) return false;
  const auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(bytes, kCoordinateBytes, nullptr);
  BIGNUM* s = BN_bin2bn(bytes + kCoordinateBytes, kCoordinateBytes, nullptr);
  if (sig == nullptr || r == nullptr || s == nullptr || ECDSA_SIG_set0(sig, r, s) != 1) {
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return false;
  }
  unsigned char* der = nullptr;
  const int der_len = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  if (der_len <= 0) return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok =
      ctx != nullptr &&
      EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key_.get()) == 1 &&
      EVP_DigestVerify(ctx, der, static_cast<std::size_t>(der_len),
                       reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
  EVP_MD_CTX_free(ctx);
  OPENSSL_free(der);
  return ok;
}

std::string_view jwt_error_name(JwtError e) {
  switch (e) {
    case JwtError::kMalformed:
      return "malformed";
    case JwtError::kAlgorithm:
      return "algorithm_not_allowed";
    case JwtError::kUnknownKey:
      return "unknown_key";
    case JwtError::kKeyRetired:
      return "key_retired";
    case JwtError::kBadSignature:
      return "bad_signature";
    case JwtError::kExpired:
      return "expired";
    case JwtError::kNotYetValid:
      return "not_yet_valid";
  }
  return "malformed";
}

Status jwt_error_status(JwtError e) {
  const ErrorCode code =
      e == JwtError::kExpired ? ErrorCode::AUTH_SESSION_EXPIRED : ErrorCode::AUTH_SESSION_INVALID;
  return Status(code, "session token refused: " + std::string(jwt_error_name(e)),
                json::object{{"reason", jwt_error_name(e)}});
}

Result<std::string> jwt_sign(const EcKey& key, std::string_view kid, const JwtClaims& c) {
  const json::object header{{"alg", "ES256"}, {"typ", "JWT"}, {"kid", kid}};
  json::object claims{{"sub", c.sub}, {"sid", c.sid}, {"iat", c.iat},
                      {"nbf", c.nbf}, {"exp", c.exp}, {"jti", c.jti}};
  claims["org"] = c.org ? json::value(*c.org) : json::value(nullptr);
  const std::string input =
      base64url_encode(json::serialize(header)) + "." + base64url_encode(json::serialize(claims));
  WARDEN_ASSIGN_OR_RETURN(std::string sig, key.sign(input));
  return input + "." + base64url_encode(sig);
}

JwtVerifyResult jwt_verify(std::string_view token,
                           const std::function<VerifyKey(std::string_view kid)>& find_key,
                           std::int64_t now_s, std::int64_t leeway_s) {
  JwtVerifyResult out;
  const auto fail = [&out](JwtError e) {
    out.error = e;
    return out;
  };
  const auto dot1 = token.find('.');
  const auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return fail(JwtError::kMalformed);
  }
  const auto header = parse_object(token.substr(0, dot1));
  if (!header) return fail(JwtError::kMalformed);
  // The algorithm is fixed by us, never chosen by the token: anything but ES256 is refused
  // before a key is looked up, which is what defeats "none" and the HS256 key confusion.
  const auto alg = string_field(*header, "alg");
  if (!alg || *alg != "ES256" || header->contains("crit")) return fail(JwtError::kAlgorithm);
  const auto typ = header->if_contains("typ");
  if (typ != nullptr && !(typ->is_string() && typ->as_string() == "JWT")) {
    return fail(JwtError::kMalformed);
  }
  const auto kid = string_field(*header, "kid");
  if (!kid || kid->empty()) return fail(JwtError::kUnknownKey);
  out.kid = *kid;
  VerifyKey vk = find_key(*kid);
  if (!vk.key) return fail(vk.missing);
  const auto sig = base64url_decode(token.substr(dot2 + 1));
  if (!sig) return fail(JwtError::kMalformed);
  if (!vk.key->verify(token.substr(0, dot2), *sig)) return fail(JwtError::kBadSignature);
  const auto payload = parse_object(token.substr(dot1 + 1, dot2 - dot1 - 1));
  if (!payload) return fail(JwtError::kMalformed);
  JwtClaims c;
  auto sub = string_field(*payload, "sub");
  auto sid = string_field(*payload, "sid");
  auto jti = string_field(*payload, "jti");
  auto iat = int_field(*payload, "iat");
  auto nbf = int_field(*payload, "nbf");
  auto exp = int_field(*payload, "exp");
  const auto* org = payload->if_contains("org");
  if (!sub || !sid || !jti || !iat || !nbf || !exp || org == nullptr ||
      !(org->is_null() || org->is_string())) {
    return fail(JwtError::kMalformed);
  }
  c.sub = std::move(*sub);
  c.sid = std::move(*sid);
  c.jti = std::move(*jti);
  c.iat = *iat;
  c.nbf = *nbf;
  c.exp = *exp;
  if (org->is_string()) c.org = std::string(org->as_string());
  if (now_s >= c.exp + leeway_s) return fail(JwtError::kExpired);
  if (c.nbf > now_s + leeway_s || c.iat > now_s + leeway_s) return fail(JwtError::kNotYetValid);
  out.claims = std::move(c);
  return out;
}

}  // namespace warden::server
