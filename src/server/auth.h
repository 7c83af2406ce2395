// Authentication: the master password (Argon2id hash in key_value_store, verified off the I/O
// threads, constant-time checks), per-client throttling of failures, the client address behind
// trusted proxies, aggregated audit of failures, and agent session tokens (only their SHA-256
// is stored).
#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "store/batch_writer.h"
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

// A credential shown once and stored only as its SHA-256 hex: `scheme` ("wk_" for gateway API
// keys, "wo_" for org admin keys) + 43 base64url characters (256 random bits). `prefix` is what
// listings show to tell keys apart: the scheme and 8 characters (48 bits; the other 208 stay
// unknown).
struct IssuedKey {
  std::string secret;
  std::string hash;
  std::string prefix;
};
IssuedKey issue_key(std::string_view scheme);
// An organization's admin key; a bearer token with this scheme is never a session token.
inline constexpr std::string_view kOrgAdminKeyScheme = "wo_";

// The address a request came from. With no trusted proxies that is the socket peer. When the
// peer is a trusted proxy (an address or CIDR in the list), X-Forwarded-For is read from the
// right: the first entry that is not itself a trusted proxy is the client. Entries left of it
// were written by the client and are never read. A malformed entry among those read, more than
// kForwardedHopsMax trusted hops, or no X-Forwarded-For at all gives the proxy's own address
// (fail closed: a broken proxy chain throttles the proxy, never an address picked by the
// client). Immutable after parse(), so safe to share across threads.
class TrustedProxies {
 public:
  static constexpr std::size_t kEntriesMax = 256;
  static constexpr std::size_t kForwardedHopsMax = 32;

  TrustedProxies() = default;
  // Each entry is an IPv4/IPv6 address or CIDR ("10.0.0.0/8", "::1", "fd00::/8").
  static Result<TrustedProxies> parse(const std::vector<std::string>& entries);

  bool empty() const { return ranges_.empty(); }
  bool contains(std::string_view address) const;
  // The client address for a request from `peer` carrying `forwarded_for` (may be empty).
  std::string client_address(std::string_view peer, std::string_view forwarded_for) const;

 private:
  struct Range {
    std::array<std::uint8_t, 16> prefix{};  // IPv4 as IPv4-mapped IPv6
    int bits = 0;
  };
  std::vector<Range> ranges_;
};

// Verifies X-Master-Password values against the stored Argon2id hash. Argon2id is deliberately
// slow (tens of ms and 19 MiB per call), so after one successful check the verifier remembers a
// salted SHA-256 of the password and compares later attempts against it in constant time
// (check_cached()). Until then verify_async() runs Argon2id on its own thread
// (`warden-argon2`), one password at a time from a bounded queue, so a flood of guesses never
// holds an I/O thread; concurrent checks of the same password share one run. Thread-safe.
class MasterVerifier {
 public:
  static constexpr std::size_t kQueueMax = 64;  // distinct passwords waiting or being checked
  using Done = std::function<void(bool ok)>;

  explicit MasterVerifier(std::string encoded_hash);
  ~MasterVerifier();  // stop()
  MasterVerifier(const MasterVerifier&) = delete;
  MasterVerifier& operator=(const MasterVerifier&) = delete;

  // The answer without Argon2id when a password was verified before; nullopt otherwise.
  std::optional<bool> check_cached(std::string_view password);
  // Waits for a check of the same password already queued or running (done runs on the Argon2id
  // thread with its outcome); false when there is none.
  bool join(std::string_view password, Done done);
  // Verifies on the Argon2id thread and calls done there. SERVER_OVERLOADED (with
  // retry_after_seconds) when kQueueMax passwords are already waiting, INTERNAL_SHUTTING_DOWN
  // after stop(); done is then never called.
  Status verify_async(std::string password, Done done);
  // Blocking check on the calling thread (offline tools and tests).
  bool verify(std::string_view password);
  // Drops what is still queued (its callbacks never run) and joins the thread.
  void stop();

 private:
  struct Job {
    std::string password;
    std::vector<Done> waiters;
  };
  void loop();
  std::string digest(std::string_view password) const;

  const std::string encoded_hash_;
  const std::string salt_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<std::string> verified_digest_;    // guarded by mu_
  std::unordered_map<std::string, Job> pending_;  // guarded by mu_; by digest, until answered
  std::deque<std::string> queue_;                 // guarded by mu_; digests not yet started
  bool stopping_ = false;                         // guarded by mu_
  std::thread thread_;                            // started by the first verify_async()
};

// Counts failed authentication attempts per client address in a sliding window, with check and
// record in one step under one lock. An outcome that is slow to learn (Argon2id) takes a slot
// first: admit() succeeds only while failures plus attempts still being verified stay under
// failures_max, so N concurrent guesses from one client are never verified past the limit. An
// outcome that is cheap to learn is settled by record(), which refuses (and the caller then
// does not reveal the outcome) once the address is at the limit. Holds at most kAddressesMax
// addresses; when full, the least recently active one (last admitted or failed) is forgotten
// first. Thread-safe.
class FailureThrottle {
 public:
  static constexpr std::size_t kAddressesMax = 10'000;

  struct Admission {
    bool admitted = false;
    std::int64_t retry_after_seconds = 0;  // > 0 when not admitted
  };

  FailureThrottle(const Clock& clock, int failures_max, std::int64_t window_seconds);
  // Reserves one attempt slot for address, or says how long to wait.
  Admission admit(const std::string& address);
  // Settles a slot reserved by admit(): a failure counts in the window, a success only frees it.
  void release(const std::string& address, bool failed);
  // An attempt whose outcome is already known: refused while the address has failures_max
  // failures in the window; otherwise admitted, and counted when it failed.
  Admission record(const std::string& address, bool failed);
  std::size_t addresses() const;

 private:
  struct Entry {
    std::deque<std::int64_t> failures_ms;  // the newest failures_max_ at most, oldest first
    int in_flight = 0;                     // admitted, not yet released
    std::int64_t active_ms = 0;            // last admit or failure
    std::list<std::string>::iterator lru;  // position in lru_
  };
  void prune(Entry& e, std::int64_t now_ms) const;
  void touch(Entry& e, std::int64_t now_ms);
  void forget_idle(std::int64_t now_ms);
  Entry& entry(const std::string& address, std::int64_t now_ms);

  const Clock& clock_;
  const int failures_max_;
  const std::int64_t window_ms_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;  // guarded by mu_
  std::list<std::string> lru_;                      // guarded by mu_; least recently active first
};

// Answers throttled attempts late: each queued call runs delay_ms after it was queued, in order,
// on its own thread (`warden-tarpit`, started by the first call). A client over the limit that
// keeps its connections busy then gets 1000 / delay_ms answers per second and connection
// instead of as many as the daemon can make, while nothing waits on an I/O thread. Thread-safe.
class Tarpit {
 public:
  static constexpr std::size_t kPendingMax = 10'000;

  explicit Tarpit(std::int64_t delay_ms) : delay_ms_(delay_ms) {}
  ~Tarpit();  // stop()
  Tarpit(const Tarpit&) = delete;
  Tarpit& operator=(const Tarpit&) = delete;

  // Queues f; false (f dropped, the caller answers at once) when kPendingMax calls already wait
  // or after stop().
  bool later(std::function<void()> f);
  // Drops what waits (those calls never run) and joins the thread.
  void stop();

 private:
  using Deadline = std::chrono::steady_clock::time_point;
  void loop();

  const std::int64_t delay_ms_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<Deadline, std::function<void()>>> pending_;  // guarded by mu_; in order
  bool stopping_ = false;                                           // guarded by mu_
  std::thread thread_;
};

// One refused authentication attempt, as the auditor needs it.
struct AuthFailure {
  std::string address;                                 // the client address (see TrustedProxies)
  std::string kind;                                    // "master" or "session"
  ErrorCode reason = ErrorCode::AUTH_SESSION_INVALID;  // the code the client was answered
  std::string method;
  std::string path;
  std::string correlation_id;
};

// Writes AUTH_FAILED audit rows through the group-commit writer, never on the calling thread.
// The first kRowsPerClientMinuteMax failures of a (client address, kind) in a minute get a row
// each (details: reason, method, path, count 1, with the correlation id); beyond that, or beyond
// kRowsPerMinuteMax rows for all clients together, failures are only counted, and one row per
// (client address, kind, minute) is written when the minute ends, with details {aggregated,
// count, first_at, last_at, minute, kind, reasons}. Every failure is counted exactly once: the
// counts of a client's rows sum to its failures. stop() writes what is still open. Thread-safe.
class AuthFailureAudit {
 public:
  static constexpr std::int64_t kRowsPerClientMinuteMax = 5;
  static constexpr std::int64_t kRowsPerMinuteMax = 1'000;
  static constexpr std::size_t kBucketsMax = 10'000;
  static constexpr std::int64_t kFlushIntervalMs = 1'000;

  AuthFailureAudit(store::BatchWriter& writer, const Clock& clock);
  ~AuthFailureAudit();  // stop()
  AuthFailureAudit(const AuthFailureAudit&) = delete;
  AuthFailureAudit& operator=(const AuthFailureAudit&) = delete;

  // Starts `warden-authlog`, which writes the rows of minutes that ended every kFlushIntervalMs.
  void start();
  // Counts one failure. When it gets a row of its own, returns true and calls `written` on the
  // writer thread once the row has committed (or failed to: that is logged), so the refusal can
  // be answered after its audit row, like any other change; otherwise (counted for an
  // aggregate) returns false and never calls `written`.
  bool record(const AuthFailure& failure, std::function<void()> written = {});
  // Writes the aggregated rows of every minute before the current one.
  void flush_ended();
  // Writes every open aggregate (also the current minute's) and joins the thread.
  void stop();

 private:
  struct Key {
    std::int64_t minute = 0;  // unix seconds / 60
    std::string address;
    std::string kind;
    auto operator<=>(const Key&) const = default;
  };
  struct Bucket {
    std::int64_t seen = 0;     // failures in this minute, audited one by one or not
    std::int64_t counted = 0;  // failures not yet written (aggregated)
    std::int64_t first_ms = 0;
    std::int64_t last_ms = 0;
    std::map<ErrorCode, std::int64_t> reasons;
  };
  void flush_before(std::int64_t minute);  // minute: exclusive bound
  void write_aggregate(const Key& key, const Bucket& bucket);
  void count(Bucket& b, const AuthFailure& f, std::int64_t now_ms);
  // Submits one row; `written` runs after its commit. False when the writer refused it.
  bool write(store::AuditEvent event, std::function<void()> written = {});

  store::BatchWriter& writer_;
  const Clock& clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<Key, Bucket> buckets_;    // guarded by mu_; oldest minute first
  std::int64_t rows_minute_ = 0;     // guarded by mu_; the minute rows_in_minute_ counts
  std::int64_t rows_in_minute_ = 0;  // guarded by mu_
  bool stopping_ = false;            // guarded by mu_
  std::thread thread_;
};

// Recently authenticated sessions by session id, so the decision path does not read the
// store for every request. Entries live at most ttl_ms; revocation, renewal and agent changes in
// this process invalidate at once (other replicas see them within ttl_ms). Thread-safe; sharded so
// that concurrent requests rarely share a lock.
class SessionCache {
 public:
  struct Entry {
    store::SessionRow session;
    store::AgentRow agent;
    std::int64_t cached_at_ms = 0;
  };
  SessionCache(const Clock& clock, std::int64_t ttl_ms) : clock_(clock), ttl_ms_(ttl_ms) {}

  std::optional<Entry> find(const std::string& session_id);
  void put(const std::string& session_id, store::SessionRow session, store::AgentRow agent);
  void invalidate_session(const std::string& session_id);
  void invalidate_agent(const std::string& agent_id);
  void clear();  // every entry (changes may have been missed)

 private:
  static constexpr std::size_t kShards = 16;
  static constexpr std::size_t kEntriesPerShardMax = 4096;
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, Entry> entries;  // guarded by mu
  };
  Shard& shard(const std::string& session_id);
  template <class Pred>
  void erase_if(Pred pred);

  const Clock& clock_;
  const std::int64_t ttl_ms_;
  std::array<Shard, kShards> shards_;
};

}  // namespace warden::server
