// Session tokens as ES256 JWTs (docs/sessions.md): the signing keys, sealed at rest under the
// master secret and shared through the store, their rotation, the JWKS document, and the
// in-memory set of revoked sessions that makes revocation immediate without a store read.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "server/jwt.h"
#include "store/store.h"

namespace warden::server {

inline constexpr std::size_t kMasterSecretBytes = 32;
inline constexpr std::string_view kMasterSecretFile = "master.secret";
inline constexpr std::string_view kMasterSecretEnv = "WARDEN_MASTER_SECRET";  // 64 hex digits

// WARDEN_MASTER_SECRET when set, else DATA_DIR/master.secret (32 random bytes), created with
// mode 0600 when missing (`warden init` creates it; a data directory from before gets one at
// its first start).
Result<std::string> load_or_create_master_secret(const std::string& data_dir);

// AES-256-GCM under HKDF-SHA256(master secret), the kid as associated data so a sealed key
// cannot be moved to another row. Output: base64url of 0x01, 12-byte nonce, ciphertext, tag.
Result<std::string> seal_private_key(std::string_view master_secret, std::string_view kid,
                                     std::string_view plaintext);
// INTERNAL_ERROR when the master secret (or kid) is not the one it was sealed with.
Result<std::string> open_private_key(std::string_view master_secret, std::string_view kid,
                                     std::string_view sealed);

struct SessionKeysOptions {
  std::int64_t rotation_seconds = 24 * 3600;  // a new signing key this often
  // A retired key keeps verifying at least this long after it stops signing, and in any case
  // until the last token it signed expires.
  std::int64_t overlap_seconds = 15 * 60;
  std::int64_t leeway_seconds = 30;  // clock skew allowed on exp, nbf and iat
  // A token naming a kid not in memory reloads the keys from the store at most this often
  // (another replica may have rotated).
  std::int64_t reload_interval_ms = 1000;
};

struct SignedToken {
  std::string token;
  std::string kid;
};

// Thread-safe.
class SessionKeys {
 public:
  // Loads the keys from the store and makes a signing key if none may sign now.
  static Result<std::unique_ptr<SessionKeys>> open(store::Store& store, std::string master_secret,
                                                   const Clock& clock, SessionKeysOptions options);

  // Signs claims with the current key, first rotating (one store write) when it has stopped
  // signing. The caller extends the key's verify_until to claims.exp in the same transaction
  // that records the session (store::WriteTxn::extend_signing_key), then calls signed_until().
  Result<SignedToken> sign(const JwtClaims& claims);
  void signed_until(const std::string& kid, std::int64_t exp);
  // Rotates when the current key has stopped signing; the daemon calls it periodically too.
  Status rotate_if_due();

  JwtVerifyResult verify(std::string_view token);
  // {"keys":[...]}: every key whose verify_until has not passed.
  std::string jwks();
  const SessionKeysOptions& options() const { return options_; }

 private:
  struct Key {
    store::SigningKeyRow row;
    EcKey public_key;
    std::optional<EcKey> private_key;  // opened lazily: only the signing key needs it
  };
  SessionKeys(store::Store& store, std::string master_secret, const Clock& clock,
              SessionKeysOptions options);
  Status reload();  // holds mu_ exclusively
  Status rotate_locked(std::int64_t now);
  Key* signing_key_locked(std::int64_t now);

  store::Store& store_;
  const std::string master_secret_;
  const Clock& clock_;
  const SessionKeysOptions options_;
  std::shared_mutex mu_;
  std::map<std::string, Key> keys_;  // guarded by mu_; by kid
  std::int64_t last_reload_ms_ = 0;  // guarded by mu_
};

// Ids of revoked sessions until their absolute expiry (after it, their tokens are refused as
// expired anyway). Thread-safe.
class RevokedSessions {
 public:
  explicit RevokedSessions(const Clock& clock) : clock_(clock) {}
  Status load(store::Reader& store);
  void add(const std::string& session_id, std::int64_t until_s);
  bool contains(const std::string& session_id);

 private:
  static constexpr std::int64_t kPruneIntervalS = 60;
  const Clock& clock_;
  std::mutex mu_;
  std::unordered_map<std::string, std::int64_t> until_s_;  // guarded by mu_
  std::int64_t last_prune_s_ = 0;                          // guarded by mu_
};

}  // namespace warden::server
