// Signing keys, their rotation and sealing, and the revocation set (see session_tokens.h).
#include "server/session_tokens.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <sys/stat.h>

#include <array>
#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace warden::server {

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kAesKeyBytes = 32;
constexpr std::size_t kNonceBytes = 12;
constexpr std::size_t kTagBytes = 16;
constexpr std::size_t kKidBytes = 12;
constexpr char kSealVersion = 0x01;
constexpr std::string_view kHkdfSalt = "warden session signing keys";
constexpr std::string_view kHkdfInfo = "aes-256-gcm v1";

Status crypto_error(std::string_view what) {
  return Status(ErrorCode::INTERNAL_ERROR, std::string(what));
}

Result<std::string> random_bytes(std::size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    return crypto_error("RAND_bytes failed");
  }
  return out;
}

Result<std::string> derive_key(std::string_view master_secret) {
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  EVP_KDF_CTX* ctx = kdf != nullptr ? EVP_KDF_CTX_new(kdf) : nullptr;
  EVP_KDF_free(kdf);
  if (ctx == nullptr) return crypto_error("HKDF unavailable");
  std::string digest = "SHA256";
  std::string key(master_secret), salt(kHkdfSalt), info(kHkdfInfo);
  const std::array<OSSL_PARAM, 5> params = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest.data(), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, key.data(), key.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt.data(), salt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info.data(), info.size()),
      OSSL_PARAM_construct_end()};
  std::string out(kAesKeyBytes, '\0');
  const bool ok = EVP_KDF_derive(ctx, reinterpret_cast<unsigned char*>(out.data()), out.size(),
                                 params.data()) == 1;
  EVP_KDF_CTX_free(ctx);
  OPENSSL_cleanse(key.data(), key.size());
  if (!ok) return crypto_error("HKDF derivation failed");
  return out;
}

std::optional<std::string> parse_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const auto nibble = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    const int hi = nibble(hex[i]);
    const int lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

Result<EcKey> public_key_of(const store::SigningKeyRow& row) {
  boost::system::error_code ec;
  json::value v = json::parse(row.public_jwk, ec);
  if (ec || !v.is_object()) return crypto_error("signing key " + row.kid + ": bad public JWK");
  const auto* x = v.as_object().if_contains("x");
  const auto* y = v.as_object().if_contains("y");
  if (x == nullptr || y == nullptr || !x->is_string() || !y->is_string()) {
    return crypto_error("signing key " + row.kid + ": JWK without x and y");
  }
  auto xb = base64url_decode(x->as_string());
  auto yb = base64url_decode(y->as_string());
  if (!xb || !yb) return crypto_error("signing key " + row.kid + ": bad coordinates");
  return EcKey::from_public_xy(*xb, *yb);
}

}  // namespace

Result<std::string> load_or_create_master_secret(const std::string& data_dir) {
  if (const char* env = std::getenv(kMasterSecretEnv.data()); env != nullptr && *env != '\0') {
    auto bytes = parse_hex(env);
    if (!bytes || bytes->size() != kMasterSecretBytes) {
      return Status(ErrorCode::VALIDATION_INVALID_VALUE,
                    std::string(kMasterSecretEnv) + " must be 64 hex digits");
    }
    return *bytes;
  }
  const fs::path path = fs::path(data_dir) / kMasterSecretFile;
  std::error_code ec;
  if (fs::exists(path, ec)) {
    std::ifstream in(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) return crypto_error("cannot read " + path.string());
    if (bytes.size() != kMasterSecretBytes) {
      return Status(ErrorCode::VALIDATION_INVALID_VALUE,
                    path.string() + " must hold exactly 32 bytes");
    }
    return bytes;
  }
  WARDEN_ASSIGN_OR_RETURN(std::string secret, random_bytes(kMasterSecretBytes));
  const fs::path tmp = path.string() + ".tmp";
  {
    // Created 0600 before a byte is written, so the secret is never readable by others.
    const mode_t old_mask = ::umask(077);
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    ::umask(old_mask);
    out.write(secret.data(), static_cast<std::streamsize>(secret.size()));
    out.flush();
    if (!out) return crypto_error("cannot write " + tmp.string());
  }
  fs::permissions(tmp, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace,
                  ec);
  fs::rename(tmp, path, ec);
  if (ec) return crypto_error("cannot create " + path.string() + ": " + ec.message());
  return secret;
}

Result<std::string> seal_private_key(std::string_view master_secret, std::string_view kid,
                                     std::string_view plaintext) {
  WARDEN_ASSIGN_OR_RETURN(std::string key, derive_key(master_secret));
  WARDEN_ASSIGN_OR_RETURN(std::string nonce, random_bytes(kNonceBytes));
  std::string cipher(plaintext.size(), '\0');
  std::string tag(kTagBytes, '\0');
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  int len = 0;
  int final_len = 0;
  const auto* k = reinterpret_cast<const unsigned char*>(key.data());
  const auto* iv = reinterpret_cast<const unsigned char*>(nonce.data());
  const bool ok =
      ctx != nullptr && EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, k, iv) == 1 &&
      EVP_EncryptUpdate(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(kid.data()),
                        static_cast<int>(kid.size())) == 1 &&
      EVP_EncryptUpdate(ctx, reinterpret_cast<unsigned char*>(cipher.data()), &len,
                        reinterpret_cast<const unsigned char*>(plaintext.data()),
                        static_cast<int>(plaintext.size())) == 1 &&
      EVP_EncryptFinal_ex(ctx, reinterpret_cast<unsigned char*>(cipher.data()) + len, &final_len) ==
          1 &&
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, kTagBytes, tag.data()) == 1;
  EVP_CIPHER_CTX_free(ctx);
  OPENSSL_cleanse(key.data(), key.size());
  if (!ok) return crypto_error("AES-256-GCM sealing failed");
  return base64url_encode(std::string(1, kSealVersion) + nonce + cipher + tag);
}

Result<std::string> open_private_key(std::string_view master_secret, std::string_view kid,
                                     std::string_view sealed) {
  auto bytes = base64url_decode(sealed);
  if (!bytes || bytes->size() < 1 + kNonceBytes + kTagBytes || (*bytes)[0] != kSealVersion) {
    return crypto_error("sealed signing key " + std::string(kid) + " is malformed");
  }
  WARDEN_ASSIGN_OR_RETURN(std::string key, derive_key(master_secret));
  const std::string nonce = bytes->substr(1, kNonceBytes);
  const std::string cipher =
      bytes->substr(1 + kNonceBytes, bytes->size() - 1 - kNonceBytes - kTagBytes);
  std::string tag = bytes->substr(bytes->size() - kTagBytes);
  std::string plain(cipher.size(), '\0');
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  int len = 0;
  int final_len = 0;
  const bool ok =
      ctx != nullptr &&
      EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr,
                         reinterpret_cast<const unsigned char*>(key.data()),
                         reinterpret_cast<const unsigned char*>(nonce.data())) == 1 &&
      EVP_DecryptUpdate(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(kid.data()),
                        static_cast<int>(kid.size())) == 1 &&
      EVP_DecryptUpdate(ctx, reinterpret_cast<unsigned char*>(plain.data()), &len,
                        reinterpret_cast<const unsigned char*>(cipher.data()),
                        static_cast<int>(cipher.size())) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, kTagBytes, tag.data()) == 1 &&
      EVP_DecryptFinal_ex(ctx, reinterpret_cast<unsigned char*>(plain.data()) + len, &final_len) ==
          1;
  EVP_CIPHER_CTX_free(ctx);
  OPENSSL_cleanse(key.data(), key.size());
  if (!ok) {
    OPENSSL_cleanse(plain.data(), plain.size());
    return crypto_error("signing key " + std::string(kid) +
                        " does not open with this master secret");
  }
  return plain;
}

SessionKeys::SessionKeys(store::Store& store, std::string master_secret, const Clock& clock,
                         SessionKeysOptions options)
    : store_(store), master_secret_(std::move(master_secret)), clock_(clock), options_(options) {}

Result<std::unique_ptr<SessionKeys>> SessionKeys::open(store::Store& store,
                                                       std::string master_secret,
                                                       const Clock& clock,
                                                       SessionKeysOptions options) {
  if (master_secret.size() != kMasterSecretBytes) {
    return Status(ErrorCode::VALIDATION_INVALID_VALUE, "the master secret must be 32 bytes");
  }
  std::unique_ptr<SessionKeys> keys(
      new SessionKeys(store, std::move(master_secret), clock, options));
  std::unique_lock lock(keys->mu_);
  WARDEN_RETURN_IF_ERROR(keys->reload());
  if (keys->signing_key_locked(clock.now_seconds()) == nullptr) {
    WARDEN_RETURN_IF_ERROR(keys->rotate_locked(clock.now_seconds()));
  }
  return keys;
}

Status SessionKeys::reload() {
  WARDEN_ASSIGN_OR_RETURN(auto rows, store_.list_signing_keys());
  for (auto& row : rows) {
    auto it = keys_.find(row.kid);
    if (it != keys_.end()) {
      it->second.row = std::move(row);
      continue;
    }
    WARDEN_ASSIGN_OR_RETURN(EcKey pub, public_key_of(row));
    const std::string kid = row.kid;
    keys_.emplace(kid, Key{std::move(row), std::move(pub), std::nullopt});
  }
  last_reload_ms_ = clock_.now_ms();
  return Status();
}

SessionKeys::Key* SessionKeys::signing_key_locked(std::int64_t now) {
  Key* best = nullptr;
  for (auto& [kid, key] : keys_) {
    if (key.row.created_at > now || now >= key.row.not_after_sign) continue;
    if (best == nullptr || key.row.created_at > best->row.created_at) best = &key;
  }
  return best;
}

Status SessionKeys::rotate_locked(std::int64_t now) {
  WARDEN_ASSIGN_OR_RETURN(EcKey key, EcKey::generate());
  WARDEN_ASSIGN_OR_RETURN(std::string kid_bytes, random_bytes(kKidBytes));
  store::SigningKeyRow row;
  row.kid = base64url_encode(kid_bytes);
  WARDEN_ASSIGN_OR_RETURN(row.public_jwk, key.public_jwk(row.kid));
  WARDEN_ASSIGN_OR_RETURN(std::string der, key.private_der());
  auto sealed = seal_private_key(master_secret_, row.kid, der);
  OPENSSL_cleanse(der.data(), der.size());
  WARDEN_ASSIGN_OR_RETURN(row.private_key_enc, std::move(sealed));
  row.created_at = now;
  row.not_after_sign = now + options_.rotation_seconds;
  row.verify_until = row.not_after_sign + options_.overlap_seconds;
  WARDEN_RETURN_IF_ERROR(
      store_.write([&](store::WriteTxn& tx) { return tx.insert_signing_key(row); }));
  const std::string kid = row.kid;
  keys_.insert_or_assign(kid, Key{std::move(row), key, key});
  return Status();
}

Status SessionKeys::rotate_if_due() {
  std::unique_lock lock(mu_);
  const std::int64_t now = clock_.now_seconds();
  if (signing_key_locked(now) != nullptr) return Status();
  // Another replica may have rotated already: use its key rather than add one more.
  WARDEN_RETURN_IF_ERROR(reload());
  if (signing_key_locked(now) != nullptr) return Status();
  return rotate_locked(now);
}

Result<SignedToken> SessionKeys::sign(const JwtClaims& claims) {
  WARDEN_RETURN_IF_ERROR(rotate_if_due());
  std::unique_lock lock(mu_);
  Key* key = signing_key_locked(clock_.now_seconds());
  if (key == nullptr) return crypto_error("no signing key");
  if (!key->private_key) {
    WARDEN_ASSIGN_OR_RETURN(
        std::string der, open_private_key(master_secret_, key->row.kid, key->row.private_key_enc));
    auto opened = EcKey::from_private_der(der);
    OPENSSL_cleanse(der.data(), der.size());
    WARDEN_ASSIGN_OR_RETURN(key->private_key, std::move(opened));
  }
  WARDEN_ASSIGN_OR_RETURN(std::string token, jwt_sign(*key->private_key, key->row.kid, claims));
  return SignedToken{std::move(token), key->row.kid};
}

void SessionKeys::signed_until(const std::string& kid, std::int64_t exp) {
  std::unique_lock lock(mu_);
  auto it = keys_.find(kid);
  if (it != keys_.end() && exp > it->second.row.verify_until) it->second.row.verify_until = exp;
}

JwtVerifyResult SessionKeys::verify(std::string_view token) {
  const std::int64_t now = clock_.now_seconds();
  const auto lookup = [&](std::string_view kid) -> VerifyKey {
    auto it = keys_.find(std::string(kid));
    if (it == keys_.end()) return {std::nullopt, JwtError::kUnknownKey};
    if (now > it->second.row.verify_until) return {std::nullopt, JwtError::kKeyRetired};
    return {it->second.public_key, JwtError::kUnknownKey};
  };
  {
    std::shared_lock lock(mu_);
    JwtVerifyResult r = jwt_verify(token, lookup, now, options_.leeway_seconds);
    const bool key_missing =
        !r.claims && (r.error == JwtError::kUnknownKey || r.error == JwtError::kKeyRetired);
    if (!key_missing || clock_.now_ms() - last_reload_ms_ < options_.reload_interval_ms) {
      return r;
    }
  }
  // Another replica may have made the key, or extended it; one store read, rate-limited.
  std::unique_lock lock(mu_);
  if (clock_.now_ms() - last_reload_ms_ >= options_.reload_interval_ms) {
    if (Status s = reload(); !s.ok()) last_reload_ms_ = clock_.now_ms();
  }
  return jwt_verify(token, lookup, now, options_.leeway_seconds);
}

std::string SessionKeys::jwks() {
  const std::int64_t now = clock_.now_seconds();
  std::shared_lock lock(mu_);
  json::array keys;
  for (const auto& [kid, key] : keys_) {
    if (now > key.row.verify_until) continue;
    boost::system::error_code ec;
    json::value jwk = json::parse(key.row.public_jwk, ec);
    if (!ec) keys.push_back(std::move(jwk));
  }
  return json::serialize(json::object{{"keys", std::move(keys)}});
}

Status RevokedSessions::load(store::Reader& store) {
  WARDEN_ASSIGN_OR_RETURN(auto rows, store.list_revoked_sessions(clock_.now_seconds()));
  std::lock_guard lock(mu_);
  for (const auto& r : rows) until_s_[r.id] = r.absolute_expires_at;
  return Status();
}

void RevokedSessions::add(const std::string& session_id, std::int64_t until_s) {
  std::lock_guard lock(mu_);
  auto& u = until_s_[session_id];
  u = std::max(u, until_s);
}

bool RevokedSessions::contains(const std::string& session_id) {
  const std::int64_t now = clock_.now_seconds();
  std::lock_guard lock(mu_);
  if (now - last_prune_s_ >= kPruneIntervalS) {
    std::erase_if(until_s_, [now](const auto& e) { return e.second < now; });
    last_prune_s_ = now;
  }
  return until_s_.contains(session_id);
}

}  // namespace warden::server
