// Master password hashing and verification, client addresses behind proxies, throttling,
// audit of failures, session tokens.
#include "server/auth.h"

#include <argon2.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <cstring>
#include <limits>
#include <vector>

#include "core/sha256.h"
#include "core/thread_name.h"
#include "server/jwt.h"
#include "server/log.h"

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

std::string generate_secret(std::size_t bytes) { return base64url_encode(random_bytes(bytes)); }
std::string generate_session_token() { return "wdn_" + generate_secret(32); }
std::string token_hash(std::string_view token) { return sha256_hex(token); }

IssuedKey issue_key(std::string_view scheme) {
  constexpr std::size_t kSecretBytes = 32;
  constexpr std::size_t kPrefixSecretChars = 8;
  IssuedKey k;
  k.secret = std::string(scheme) + generate_secret(kSecretBytes);
  k.hash = token_hash(k.secret);
  k.prefix = k.secret.substr(0, scheme.size() + kPrefixSecretChars);
  return k;
}

// --- Client address ---------------------------------------------------------------------------

namespace {

using IpBytes = std::array<std::uint8_t, 16>;  // IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d)
constexpr std::size_t kIpTextBytesMax = 64;
constexpr int kIpv4MappedPrefixBits = 96;

// An IPv4 or IPv6 literal; a zone suffix ("fe80::1%eth0") is ignored.
std::optional<IpBytes> parse_ip(std::string_view text) {
  if (const auto pct = text.find('%'); pct != std::string_view::npos) text = text.substr(0, pct);
  if (text.empty() || text.size() > kIpTextBytesMax) return std::nullopt;
  const std::string z(text);  // inet_pton wants a NUL-terminated string
  IpBytes ip{};
  if (z.find(':') == std::string::npos) {
    in_addr v4{};
    if (inet_pton(AF_INET, z.c_str(), &v4) != 1) return std::nullopt;
    ip[10] = ip[11] = 0xff;
    std::memcpy(ip.data() + 12, &v4, 4);
    return ip;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, z.c_str(), &v6) != 1) return std::nullopt;
  std::memcpy(ip.data(), &v6, 16);
  return ip;
}

bool is_v4_mapped(const IpBytes& ip) {
  static constexpr std::uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(ip.data(), kPrefix, sizeof kPrefix) == 0;
}

// One spelling per address, so "::ffff:10.0.0.1" and "10.0.0.1" share a throttle entry.
std::string format_ip(const IpBytes& ip) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (is_v4_mapped(ip)) {
    inet_ntop(AF_INET, ip.data() + 12, buf, sizeof buf);
  } else {
    inet_ntop(AF_INET6, ip.data(), buf, sizeof buf);
  }
  return buf;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// An X-Forwarded-For entry: "1.2.3.4", "1.2.3.4:5678", "2001:db8::1", "[2001:db8::1]" or
// "[2001:db8::1]:5678". Anything else ("unknown", an obfuscated name) is malformed.
std::optional<IpBytes> parse_forwarded_entry(std::string_view entry) {
  entry = trim(entry);
  if (!entry.empty() && entry.front() == '[') {
    const auto close = entry.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    const std::string_view after = entry.substr(close + 1);
    if (!after.empty() && !(after.front() == ':' && all_digits(after.substr(1)))) {
      return std::nullopt;
    }
    auto ip = parse_ip(entry.substr(1, close - 1));
    if (ip && is_v4_mapped(*ip) && entry.substr(1, close - 1).find(':') == std::string::npos) {
      return std::nullopt;  // "[1.2.3.4]" is not a bracketed IPv6 literal
    }
    return ip;
  }
  if (const auto colon = entry.find(':');
      colon != std::string_view::npos && entry.find(':', colon + 1) == std::string_view::npos) {
    if (!all_digits(entry.substr(colon + 1))) return std::nullopt;
    entry = entry.substr(0, colon);
    if (entry.find('.') == std::string_view::npos) return std::nullopt;
  }
  return parse_ip(entry);
}

bool prefix_matches(const IpBytes& ip, const IpBytes& prefix, int bits) {
  const int whole = bits / 8;
  if (std::memcmp(ip.data(), prefix.data(), static_cast<std::size_t>(whole)) != 0) return false;
  if (bits % 8 == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff << (8 - bits % 8));
  return (ip[whole] & mask) == (prefix[whole] & mask);
}

}  // namespace

Result<TrustedProxies> TrustedProxies::parse(const std::vector<std::string>& entries) {
  if (entries.size() > kEntriesMax) {
    return Status(ErrorCode::CONFIG_INVALID,
                  "trusted_proxies has more than " + std::to_string(kEntriesMax) + " entries");
  }
  TrustedProxies out;
  for (const std::string& raw : entries) {
    const std::string_view entry = trim(raw);
    const auto slash = entry.find('/');
    const std::string_view host = entry.substr(0, slash);
    auto ip = host.find('%') == std::string_view::npos ? parse_ip(host) : std::nullopt;
    if (!ip) {
      return Status(ErrorCode::CONFIG_INVALID,
                    "trusted_proxies: '" + raw + "' is not an IP address or CIDR");
    }
    const bool v4 = is_v4_mapped(*ip) && host.find(':') == std::string_view::npos;
    const int family_bits = v4 ? 32 : 128;
    int bits = family_bits;
    if (slash != std::string_view::npos) {
      const std::string_view len = entry.substr(slash + 1);
      if (!all_digits(len) || len.size() > 3 || std::stoi(std::string(len)) > family_bits) {
        return Status(ErrorCode::CONFIG_INVALID, "trusted_proxies: '" + raw +
                                                     "' has a prefix length outside 0.." +
                                                     std::to_string(family_bits));
      }
      bits = std::stoi(std::string(len));
    }
    out.ranges_.push_back({*ip, v4 ? bits + kIpv4MappedPrefixBits : bits});
  }
  return out;
}

bool TrustedProxies::contains(std::string_view address) const {
  const auto ip = parse_ip(address);
  if (!ip) return false;
  return std::any_of(ranges_.begin(), ranges_.end(),
                     [&](const Range& r) { return prefix_matches(*ip, r.prefix, r.bits); });
}

std::string TrustedProxies::client_address(std::string_view peer,
                                           std::string_view forwarded_for) const {
  if (ranges_.empty()) return std::string(peer);
  const auto peer_ip = parse_ip(peer);
  const auto trusted = [&](const IpBytes& ip) {
    return std::any_of(ranges_.begin(), ranges_.end(),
                       [&](const Range& r) { return prefix_matches(ip, r.prefix, r.bits); });
  };
  if (!peer_ip || !trusted(*peer_ip)) return std::string(peer);
  // Right to left: each trusted proxy appended the address it received the request from.
  IpBytes furthest = *peer_ip;
  std::string_view rest = trim(forwarded_for);
  for (std::size_t hops = 0; !rest.empty(); ++hops) {
    if (hops == kForwardedHopsMax) return format_ip(*peer_ip);
    const auto comma = rest.rfind(',');
    const std::string_view entry = comma == std::string_view::npos ? rest : rest.substr(comma + 1);
    rest = comma == std::string_view::npos ? std::string_view() : trim(rest.substr(0, comma));
    const auto ip = parse_forwarded_entry(entry);
    if (!ip) return format_ip(*peer_ip);  // fail closed: the proxy itself is accountable
    if (!trusted(*ip)) return format_ip(*ip);
    furthest = *ip;
  }
  // Every hop is a trusted proxy: the furthest one known is the client.
  return format_ip(furthest);
}

// --- Master password -----------------------------------------------------------------------

MasterVerifier::MasterVerifier(std::string encoded_hash)
    : encoded_hash_(std::move(encoded_hash)), salt_(random_bytes(kSaltBytes)) {}

MasterVerifier::~MasterVerifier() { stop(); }

std::string MasterVerifier::digest(std::string_view password) const {
  return sha256_hex(salt_ + std::string(password));
}

std::optional<bool> MasterVerifier::check_cached(std::string_view password) {
  const std::string d = digest(password);
  std::lock_guard lock(mu_);
  if (!verified_digest_) return std::nullopt;
  return CRYPTO_memcmp(verified_digest_->data(), d.data(), d.size()) == 0;
}

bool MasterVerifier::verify(std::string_view password) {
  if (auto cached = check_cached(password)) return *cached;
  const std::string pw(password);  // argon2 wants a NUL-free buffer with explicit length
  if (argon2id_verify(encoded_hash_.c_str(), pw.data(), pw.size()) != ARGON2_OK) return false;
  const std::string d = digest(password);
  std::lock_guard lock(mu_);
  verified_digest_ = d;
  return true;
}

bool MasterVerifier::join(std::string_view password, Done done) {
  const std::string d = digest(password);
  std::lock_guard lock(mu_);
  auto it = pending_.find(d);
  if (stopping_ || it == pending_.end()) return false;
  it->second.waiters.push_back(std::move(done));
  return true;
}

Status MasterVerifier::verify_async(std::string password, Done done) {
  const std::string d = digest(password);
  std::lock_guard lock(mu_);
  if (stopping_) return Status(ErrorCode::INTERNAL_SHUTTING_DOWN);
  if (auto it = pending_.find(d); it != pending_.end()) {
    it->second.waiters.push_back(std::move(done));
    return Status();
  }
  if (pending_.size() >= kQueueMax) {
    boost::json::object details;
    details["retry_after_seconds"] = 1;
    return Status(ErrorCode::SERVER_OVERLOADED, "too many master-password checks are waiting",
                  std::move(details));
  }
  if (!thread_.joinable()) {
    thread_ = std::thread([this] {
      name_this_thread("warden-argon2");
      loop();
    });
  }
  Job& job = pending_[d];
  job.password = std::move(password);
  job.waiters.push_back(std::move(done));
  queue_.push_back(d);
  cv_.notify_one();
  return Status();
}

void MasterVerifier::loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    const std::string d = std::move(queue_.front());
    queue_.pop_front();
    std::string password = pending_.at(d).password;
    lock.unlock();
    // verify() looks at the cache first: a password verified while this one waited costs no
    // second Argon2id run.
    const bool ok = verify(password);
    OPENSSL_cleanse(password.data(), password.size());
    lock.lock();
    auto it = pending_.find(d);
    if (it == pending_.end()) continue;  // dropped by stop()
    std::vector<Done> waiters = std::move(it->second.waiters);
    OPENSSL_cleanse(it->second.password.data(), it->second.password.size());
    pending_.erase(it);
    lock.unlock();
    for (auto& w : waiters) w(ok);
    waiters.clear();  // the callbacks' captures go before the lock is taken again
    lock.lock();
  }
}

void MasterVerifier::stop() {
  std::unordered_map<std::string, Job> dropped;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    dropped.swap(pending_);
    queue_.clear();
  }
  cv_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

// --- Failure throttle ----------------------------------------------------------------------

FailureThrottle::FailureThrottle(const Clock& clock, int failures_max, std::int64_t window_seconds)
    // A limit below one would refuse every attempt for ever; one is the strictest that works.
    : clock_(clock), failures_max_(std::max(1, failures_max)), window_ms_(window_seconds * 1000) {}

void FailureThrottle::prune(Entry& e, std::int64_t now_ms) const {
  while (!e.failures_ms.empty() && e.failures_ms.front() <= now_ms - window_ms_) {
    e.failures_ms.pop_front();
  }
}

void FailureThrottle::touch(Entry& e, std::int64_t now_ms) {
  e.active_ms = now_ms;
  lru_.splice(lru_.end(), lru_, e.lru);
}

// Entries idle for a whole window hold no failure and no slot: drop them, oldest first.
void FailureThrottle::forget_idle(std::int64_t now_ms) {
  while (!lru_.empty()) {
    auto it = entries_.find(lru_.front());
    if (it->second.in_flight > 0 || it->second.active_ms > now_ms - window_ms_) return;
    lru_.pop_front();
    entries_.erase(it);
  }
}

FailureThrottle::Entry& FailureThrottle::entry(const std::string& address, std::int64_t now_ms) {
  if (auto it = entries_.find(address); it != entries_.end()) return it->second;
  if (entries_.size() >= kAddressesMax) {
    entries_.erase(lru_.front());  // the least recently active address
    lru_.pop_front();
  }
  lru_.push_back(address);
  Entry& e = entries_[address];
  e.lru = std::prev(lru_.end());
  e.active_ms = now_ms;
  return e;
}

FailureThrottle::Admission FailureThrottle::admit(const std::string& address) {
  const std::int64_t now = clock_.now_ms();
  std::lock_guard lock(mu_);
  forget_idle(now);
  Entry& e = entry(address, now);
  prune(e, now);
  const int failures = static_cast<int>(e.failures_ms.size());
  if (failures + e.in_flight < failures_max_) {
    ++e.in_flight;
    touch(e, now);
    return {true, 0};
  }
  // Only attempts still being verified hold the last slots: one of them may free it soon.
  if (failures < failures_max_) return {false, 1};
  const std::int64_t wait_ms = e.failures_ms.front() + window_ms_ - now;
  return {false, std::max<std::int64_t>(1, (wait_ms + 999) / 1000)};
}

void FailureThrottle::release(const std::string& address, bool failed) {
  const std::int64_t now = clock_.now_ms();
  std::lock_guard lock(mu_);
  auto it = entries_.find(address);
  if (it == entries_.end()) {
    if (!failed) return;  // forgotten while in flight (address cap) and nothing to count
    entry(address, now);
    it = entries_.find(address);
  }
  Entry& e = it->second;
  if (e.in_flight > 0) --e.in_flight;
  prune(e, now);
  if (failed) {
    e.failures_ms.push_back(now);
    // Keep only what decides throttling: the newest failures_max_ entries.
    while (static_cast<int>(e.failures_ms.size()) > failures_max_) e.failures_ms.pop_front();
    touch(e, now);
  } else if (e.failures_ms.empty() && e.in_flight == 0) {
    lru_.erase(e.lru);
    entries_.erase(it);
  }
}

FailureThrottle::Admission FailureThrottle::record(const std::string& address, bool failed) {
  const std::int64_t now = clock_.now_ms();
  std::lock_guard lock(mu_);
  forget_idle(now);
  auto it = entries_.find(address);
  if (it == entries_.end() && !failed) return {true, 0};  // nothing to count, nothing to check
  Entry& e = it == entries_.end() ? entry(address, now) : it->second;
  prune(e, now);
  if (static_cast<int>(e.failures_ms.size()) >= failures_max_) {
    const std::int64_t wait_ms = e.failures_ms.front() + window_ms_ - now;
    return {false, std::max<std::int64_t>(1, (wait_ms + 999) / 1000)};
  }
  if (failed) {
    e.failures_ms.push_back(now);
    touch(e, now);
  }
  return {true, 0};
}

std::size_t FailureThrottle::addresses() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

// --- Tarpit --------------------------------------------------------------------------------

Tarpit::~Tarpit() { stop(); }

bool Tarpit::later(std::function<void()> f) {
  const Deadline due = std::chrono::steady_clock::now() + std::chrono::milliseconds(delay_ms_);
  std::lock_guard lock(mu_);
  if (stopping_ || pending_.size() >= kPendingMax) return false;
  if (!thread_.joinable()) {
    thread_ = std::thread([this] {
      name_this_thread("warden-tarpit");
      loop();
    });
  }
  pending_.emplace_back(due, std::move(f));
  if (pending_.size() == 1) cv_.notify_one();
  return true;
}

void Tarpit::loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
    if (stopping_) return;
    // One delay for all, so the front is always due first.
    const Deadline due = pending_.front().first;
    if (cv_.wait_until(lock, due, [this] { return stopping_; })) return;
    std::function<void()> f = std::move(pending_.front().second);
    pending_.pop_front();
    lock.unlock();
    f();
    f = nullptr;  // its captures go before the lock is taken again
    lock.lock();
  }
}

void Tarpit::stop() {
  std::deque<std::pair<Deadline, std::function<void()>>> dropped;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    dropped.swap(pending_);
  }
  cv_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

// --- Audit of failures ---------------------------------------------------------------------

namespace {

constexpr std::int64_t kMsPerMinute = 60'000;

store::AuditEvent failure_event(const std::string& address, std::int64_t now_seconds) {
  store::AuditEvent e;
  e.timestamp = now_seconds;
  e.event_type = "AUTH_FAILED";
  e.actor = "ip:" + address;
  e.severity = "warning";
  e.ip_address = address;
  return e;
}

}  // namespace

AuthFailureAudit::AuthFailureAudit(store::BatchWriter& writer, const Clock& clock)
    : writer_(writer), clock_(clock) {}

AuthFailureAudit::~AuthFailureAudit() { stop(); }

void AuthFailureAudit::start() {
  std::lock_guard lock(mu_);
  if (stopping_ || thread_.joinable()) return;
  thread_ = std::thread([this] {
    name_this_thread("warden-authlog");
    std::unique_lock lock(mu_);
    while (!stopping_) {
      cv_.wait_for(lock, std::chrono::milliseconds(kFlushIntervalMs), [this] { return stopping_; });
      if (stopping_) return;
      lock.unlock();
      flush_ended();
      lock.lock();
    }
  });
}

void AuthFailureAudit::count(Bucket& b, const AuthFailure& f, std::int64_t now_ms) {
  if (b.counted == 0) b.first_ms = now_ms;
  ++b.counted;
  b.last_ms = now_ms;
  ++b.reasons[f.reason];
}

bool AuthFailureAudit::record(const AuthFailure& f, std::function<void()> written) {
  const std::int64_t now_ms = clock_.now_ms();
  const Key key{now_ms / kMsPerMinute, f.address, f.kind};
  std::optional<std::pair<Key, Bucket>> evicted;
  bool row = false;
  {
    std::lock_guard lock(mu_);
    if (rows_minute_ != key.minute) {
      rows_minute_ = key.minute;
      rows_in_minute_ = 0;
    }
    auto it = buckets_.find(key);
    if (it == buckets_.end()) {
      if (buckets_.size() >= kBucketsMax) {
        // Bounded memory: the oldest bucket is written early rather than forgotten.
        evicted.emplace(buckets_.begin()->first, std::move(buckets_.begin()->second));
        buckets_.erase(buckets_.begin());
      }
      it = buckets_.emplace(key, Bucket{}).first;
    }
    Bucket& b = it->second;
    ++b.seen;
    row = b.seen <= kRowsPerClientMinuteMax && rows_in_minute_ < kRowsPerMinuteMax;
    if (row) {
      ++rows_in_minute_;
    } else {
      count(b, f, now_ms);
    }
  }
  if (evicted) write_aggregate(evicted->first, evicted->second);
  if (!row) return false;
  store::AuditEvent e = failure_event(f.address, now_ms / 1000);
  e.correlation_id = f.correlation_id;
  boost::json::object details;
  details["reason"] = error_code_name(f.reason);
  details["kind"] = f.kind;
  details["method"] = f.method;
  details["path"] = f.path;
  details["count"] = 1;
  e.details = boost::json::serialize(details);
  if (write(std::move(e), std::move(written))) return true;
  // The writer's queue is full: the failure is still counted, in its minute's aggregate.
  std::lock_guard lock(mu_);
  count(buckets_[key], f, now_ms);
  return false;
}

void AuthFailureAudit::flush_ended() { flush_before(clock_.now_ms() / kMsPerMinute); }

void AuthFailureAudit::flush_before(std::int64_t minute) {
  std::vector<std::pair<Key, Bucket>> ended;
  {
    std::lock_guard lock(mu_);
    while (!buckets_.empty() && buckets_.begin()->first.minute < minute) {
      ended.emplace_back(buckets_.begin()->first, std::move(buckets_.begin()->second));
      buckets_.erase(buckets_.begin());
    }
  }
  for (const auto& [key, bucket] : ended) write_aggregate(key, bucket);
}

void AuthFailureAudit::write_aggregate(const Key& key, const Bucket& b) {
  if (b.counted == 0) return;  // every failure of this bucket already has its own row
  store::AuditEvent e = failure_event(key.address, clock_.now_seconds());
  boost::json::object details;
  details["aggregated"] = true;
  details["kind"] = key.kind;
  details["count"] = b.counted;
  details["minute"] = format_rfc3339(key.minute * 60);
  details["first_at"] = format_rfc3339(b.first_ms / 1000);
  details["last_at"] = format_rfc3339(b.last_ms / 1000);
  boost::json::object reasons;
  for (const auto& [code, n] : b.reasons) reasons[error_code_name(code)] = n;
  details["reasons"] = std::move(reasons);
  e.details = boost::json::serialize(details);
  if (!write(e)) {
    log_event(LogLevel::kError, "auth failure audit row not written",
              {{"error", "the write queue refused it"}, {"details", e.details}});
  }
}

bool AuthFailureAudit::write(store::AuditEvent event, std::function<void()> written) {
  auto row = std::make_shared<store::AuditEvent>(std::move(event));
  return writer_
      .submit([row](store::WriteTxn& tx) { return tx.append_audit(*row).take_status(); },
              [row, written = std::move(written)](const Status& s) {
                if (!s.ok()) {
                  log_event(LogLevel::kError, "auth failure audit row not written",
                            {{"error", s.to_string()}, {"details", row->details}});
                }
                if (written) written();
              })
      .ok();
}

void AuthFailureAudit::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
  flush_before(std::numeric_limits<std::int64_t>::max());
}

SessionCache::Shard& SessionCache::shard(const std::string& session_id) {
  return shards_[std::hash<std::string>{}(session_id) % kShards];
}

std::optional<SessionCache::Entry> SessionCache::find(const std::string& session_id) {
  const std::int64_t now = clock_.now_ms();
  Shard& s = shard(session_id);
  std::lock_guard lock(s.mu);
  auto it = s.entries.find(session_id);
  if (it == s.entries.end()) return std::nullopt;
  if (now - it->second.cached_at_ms >= ttl_ms_) {
    s.entries.erase(it);
    return std::nullopt;
  }
  return it->second;
}

void SessionCache::put(const std::string& session_id, store::SessionRow session,
                       store::AgentRow agent) {
  const std::int64_t now = clock_.now_ms();
  Shard& s = shard(session_id);
  std::lock_guard lock(s.mu);
  if (s.entries.size() >= kEntriesPerShardMax) s.entries.clear();  // bounded; refills on demand
  s.entries[session_id] = Entry{std::move(session), std::move(agent), now};
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

void SessionCache::clear() {
  erase_if([](const Entry&) { return true; });
}

}  // namespace warden::server
