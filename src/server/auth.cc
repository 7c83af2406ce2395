// Master password hashing and verification, throttling, session tokens.
#include "server/auth.h"

#include <argon2.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <vector>

#include "core/sha256.h"

namespace warden::server {
namespace {

// OWASP's minimum Argon2id configuration: 19 MiB, 2 passes, 1 lane.
constexpr std::uint32_t kArgonMemoryKib = 19 * 1024;
constexpr std::uint32_t kArgonPasses = 2;
constexpr std::uint32_t kArgonLanes = 1;
constexpr std::size_t kSaltBytes = 16;
constexpr std::size_t kHashBytes = 32;

std::string random_bytes(std::size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    std::abort();  // the process cannot run safely without a random source
  }
  return out;
}

std::string base64url(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 0x3F]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 0x3F]);
  return out;
}

}  // namespace

Result<std::string> hash_master_password(std::string_view password) {
  if (password.empty()) return Status(ErrorCode::CONFIG_INVALID, "master password is empty");
  const std::string salt = random_bytes(kSaltBytes);
  const std::size_t len = argon2_encodedlen(kArgonPasses, kArgonMemoryKib, kArgonLanes,
                                            kSaltBytes, kHashBytes, Argon2_id);
  std::vector<char> encoded(len);
  const int rc = argon2id_hash_encoded(kArgonPasses, kArgonMemoryKib, kArgonLanes,
                                       password.data(), password.size(), salt.data(),
                                       salt.size(), kHashBytes, encoded.data(), encoded.size());
  if (rc != ARGON2_OK) {
    return Status(ErrorCode::INTERNAL_ERROR, std::string("argon2: ") + argon2_error_message(rc));
  }
  return std::string(encoded.data());
}

std::string generate_secret(std::size_t bytes) { return base64url(random_bytes(bytes)); }
std::string generate_session_token() { return "wdn_" + generate_secret(32); }
std::string token_hash(std::string_view token) { return sha256_hex(token); }

MasterVerifier::MasterVerifier(std::string encoded_hash)
    : encoded_hash_(std::move(encoded_hash)), salt_(random_bytes(kSaltBytes)) {}

bool MasterVerifier::verify(std::string_view password) {
  const std::string digest = sha256_hex(salt_ + std::string(password));
  {
    std::lock_guard lock(mu_);
    if (verified_digest_) {
      return CRYPTO_memcmp(verified_digest_->data(), digest.data(), digest.size()) == 0;
    }
  }
  const std::string pw(password);  // argon2 wants a NUL-free buffer with explicit length
  if (argon2id_verify(encoded_hash_.c_str(), pw.data(), pw.size()) != ARGON2_OK) return false;
  std::lock_guard lock(mu_);
  verified_digest_ = digest;
  return true;
}

FailureThrottle::FailureThrottle(const Clock& clock, int failures_max,
                                 std::int64_t window_seconds)
    : clock_(clock), failures_max_(failures_max), window_ms_(window_seconds * 1000) {}

void FailureThrottle::prune(std::deque<std::int64_t>& times, std::int64_t now_ms) const {
  while (!times.empty() && times.front() <= now_ms - window_ms_) times.pop_front();
}

std::int64_t FailureThrottle::retry_after_seconds(const std::string& address) {
  const std::int64_t now = clock_.now_ms();
  std::lock_guard lock(mu_);
  auto it = failures_.find(address);
  if (it == failures_.end()) return 0;
  prune(it->second, now);
  if (it->second.empty()) {
    failures_.erase(it);
    return 0;
  }
  if (static_cast<int>(it->second.size()) < failures_max_) return 0;
  const std::int64_t wait_ms = it->second.front() + window_ms_ - now;
  return wait_ms <= 0 ? 1 : (wait_ms + 999) / 1000;
}

void FailureThrottle::record_failure(const std::string& address) {
  const std::int64_t now = clock_.now_ms();
  std::lock_guard lock(mu_);
  if (failures_.size() >= kAddressesMax && !failures_.contains(address)) {
    for (auto it = failures_.begin(); it != failures_.end();) {
      prune(it->second, now);
      it = it->second.empty() ? failures_.erase(it) : std::next(it);
    }
    if (failures_.size() >= kAddressesMax) failures_.erase(failures_.begin());
  }
  auto& times = failures_[address];
  prune(times, now);
  times.push_back(now);
  // Keep only what decides throttling: the newest failures_max_ entries.
  while (static_cast<int>(times.size()) > failures_max_) times.pop_front();
}

SessionCache::Shard& SessionCache::shard(const std::string& token_hash) {
  return shards_[std::hash<std::string>{}(token_hash) % kShards];
}

std::optional<SessionCache::Entry> SessionCache::find(const std::string& token_hash) {
  const std::int64_t now = clock_.now_ms();
  Shard& s = shard(token_hash);
  std::lock_guard lock(s.mu);
  auto it = s.entries.find(token_hash);
  if (it == s.entries.end()) return std::nullopt;
  if (now - it->second.cached_at_ms >= ttl_ms_) {
    s.entries.erase(it);
    return std::nullopt;
  }
  return it->second;
}

void SessionCache::put(const std::string& token_hash, store::SessionRow session,
                       store::AgentRow agent) {
  const std::int64_t now = clock_.now_ms();
  Shard& s = shard(token_hash);
  std::lock_guard lock(s.mu);
  if (s.entries.size() >= kEntriesPerShardMax) s.entries.clear();  // bounded; refills on demand
  s.entries[token_hash] = Entry{std::move(session), std::move(agent), now};
}

template <class Pred>
void SessionCache::erase_if(Pred pred) {
  for (auto& s : shards_) {
    std::lock_guard lock(s.mu);
    std::erase_if(s.entries, [&](const auto& kv) { return pred(kv.second); });
  }
}

void SessionCache::invalidate_session(const std::string& session_id) {
  erase_if([&](const Entry& e) { return e.session.id == session_id; });
}

void SessionCache::invalidate_agent(const std::string& agent_id) {
  erase_if([&](const Entry& e) { return e.agent.id == agent_id; });
}

}  // namespace warden::server
