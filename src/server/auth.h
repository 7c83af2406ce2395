// Authentication: the master password (Argon2id hash in key_value_store, constant-time checks,
// per-address throttling of failures) and agent session tokens (only their SHA-256 is stored).
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/clock.h"
#include "core/status.h"
#include "store/store.h"

namespace warden::server {

inline constexpr std::string_view kMasterPasswordHashKey = "master_password_hash";

// Argon2id encoded hash ("$argon2id$v=19$m=19456,t=2,p=1$...") of a password.
Result<std::string> hash_master_password(std::string_view password);
// A random password for `warden init` when none is given (43 base64url characters).
std::string generate_secret(std::size_t bytes = 32);
// "wdn_" + 43 base64url characters.
std::string generate_session_token();
std::string token_hash(std::string_view token);

// Verifies X-Master-Password values against the stored Argon2id hash. Argon2id is deliberately
// slow, so after one successful check the verifier remembers a salted SHA-256 of the password
// and compares later attempts against it in constant time. Thread-safe.
class MasterVerifier {
 public:
  explicit MasterVerifier(std::string encoded_hash);
  bool verify(std::string_view password);

 private:
  std::string encoded_hash_;
  std::string salt_;
  std::mutex mu_;
  std::optional<std::string> verified_digest_;  // guarded by mu_
};

// Counts failed master-auth attempts per client address in a sliding window. Thread-safe;
// holds at most kAddressesMax addresses (oldest dropped first when full).
class FailureThrottle {
 public:
  FailureThrottle(const Clock& clock, int failures_max, std::int64_t window_seconds);
  // Seconds until the address may try again, or 0 when it is not throttled.
  std::int64_t retry_after_seconds(const std::string& address);
  void record_failure(const std::string& address);

 private:
  static constexpr std::size_t kAddressesMax = 10'000;
  void prune(std::deque<std::int64_t>& times, std::int64_t now_ms) const;

  const Clock& clock_;
  const int failures_max_;
  const std::int64_t window_ms_;
  std::mutex mu_;
  std::unordered_map<std::string, std::deque<std::int64_t>> failures_;  // guarded by mu_
};

// Recently authenticated sessions, so the decision path does not read the store for every
// request. Entries live at most ttl_ms; revocation, renewal and agent changes in this process
// invalidate at once (other replicas see them within ttl_ms). Thread-safe; sharded so that
// concurrent requests rarely share a lock.
class SessionCache {
 public:
  struct Entry {
    store::SessionRow session;
    store::AgentRow agent;
    std::int64_t cached_at_ms = 0;
  };
  SessionCache(const Clock& clock, std::int64_t ttl_ms) : clock_(clock), ttl_ms_(ttl_ms) {}

  std::optional<Entry> find(const std::string& token_hash);
  void put(const std::string& token_hash, store::SessionRow session, store::AgentRow agent);
  void invalidate_session(const std::string& session_id);
  void invalidate_agent(const std::string& agent_id);

 private:
  static constexpr std::size_t kShards = 16;
  static constexpr std::size_t kEntriesPerShardMax = 4096;
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, Entry> entries;  // guarded by mu
  };
  Shard& shard(const std::string& token_hash);
  template <class Pred>
  void erase_if(Pred pred);

  const Clock& clock_;
  const std::int64_t ttl_ms_;
  std::array<Shard, kShards> shards_;
};

}  // namespace warden::server
