#include "server/auth.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "core/json.h"
#include "store/sqlite/sqlite_store.h"

namespace warden::server {
namespace {

TEST(MasterVerifier, AcceptsOnlyTheHashedPassword) {
  auto hash = hash_master_password("correct horse");
  ASSERT_TRUE(hash.ok());
  EXPECT_EQ(hash->rfind("$argon2id$", 0), 0u);
  MasterVerifier v(*hash);
  EXPECT_FALSE(v.verify("wrong"));
  EXPECT_TRUE(v.verify("correct horse"));
  // After the first success the cached digest answers; it must still refuse others.
  EXPECT_TRUE(v.verify("correct horse"));
  EXPECT_FALSE(v.verify("correct horse "));
  EXPECT_FALSE(v.verify(""));
}

TEST(MasterVerifier, EmptyPasswordCannotBeHashed) {
  EXPECT_EQ(hash_master_password("").status().code(), ErrorCode::CONFIG_INVALID);
}

TEST(FailureThrottle, BlocksAfterMaxFailuresUntilWindowPasses) {
  FakeClock clock;
  FailureThrottle t(clock, 3, 60);
  const std::string a = "1.2.3.4";
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(t.admit(a).admitted);
    t.release(a, true);
  }
  clock.advance_ms(10'000);
  ASSERT_TRUE(t.admit(a).admitted);
  t.release(a, true);
  const auto blocked = t.admit(a);
  EXPECT_FALSE(blocked.admitted);
  EXPECT_EQ(blocked.retry_after_seconds, 50);  // the first failure leaves the window at 60 s
  EXPECT_TRUE(t.admit("5.6.7.8").admitted);    // other addresses are unaffected
  clock.advance_ms(50'000);
  EXPECT_TRUE(t.admit(a).admitted);
}

TEST(FailureThrottle, SlotsInFlightCountUntilReleased) {
  FakeClock clock;
  FailureThrottle t(clock, 2, 60);
  ASSERT_TRUE(t.admit("a").admitted);
  ASSERT_TRUE(t.admit("a").admitted);
  // Both slots are being verified: a third attempt waits although nothing has failed yet.
  const auto third = t.admit("a");
  EXPECT_FALSE(third.admitted);
  EXPECT_EQ(third.retry_after_seconds, 1);
  t.release("a", false);  // a success frees its slot without counting
  EXPECT_TRUE(t.admit("a").admitted);
  t.release("a", false);
  t.release("a", false);
  EXPECT_EQ(t.addresses(), 0u);  // nothing left to remember about a clean address
}

TEST(FailureThrottle, RecordCountsUnderTheLimitAndOnlyAnswersAboveIt) {
  FakeClock clock;
  FailureThrottle t(clock, 2, 30);
  EXPECT_TRUE(t.record("a", true).admitted);
  clock.advance_ms(1000);
  EXPECT_TRUE(t.record("a", true).admitted);
  const auto over = t.record("a", true);
  EXPECT_FALSE(over.admitted);
  EXPECT_EQ(over.retry_after_seconds, 29);  // the first failure (1 s ago) leaves in 29 s
  // Failures above the limit are not counted, so they do not push the window out.
  clock.advance_ms(28'000);
  EXPECT_FALSE(t.record("a", true).admitted);
  clock.advance_ms(1000);
  EXPECT_TRUE(t.record("a", true).admitted);
}

// Many threads guessing at once from one client: check and record are one step, so no more
// than failures_max guesses are ever verified in a window.
TEST(FailureThrottle, ConcurrentGuessesNeverPassTheLimit) {
  constexpr int kFailuresMax = 5;
  constexpr int kThreads = 32;
  constexpr int kAttemptsPerThread = 50;
  FakeClock clock;
  FailureThrottle t(clock, kFailuresMax, 60);
  std::atomic<int> verified{0};
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      for (int n = 0; n < kAttemptsPerThread; ++n) {
        if (!t.admit("198.51.100.9").admitted) {
          ++refused;
          continue;
        }
        ++verified;
        std::this_thread::sleep_for(std::chrono::microseconds(200));  // the slow check
        t.release("198.51.100.9", true);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(verified.load(), kFailuresMax);
  EXPECT_EQ(refused.load(), kThreads * kAttemptsPerThread - kFailuresMax);
}

// The same for outcomes learnt before asking (a session token, a cached master digest): no more
// than failures_max failures are answered as such, whatever the interleaving.
TEST(FailureThrottle, ConcurrentKnownFailuresAreAnsweredAtMostFailuresMaxTimes) {
  constexpr int kFailuresMax = 5;
  constexpr int kThreads = 32;
  constexpr int kAttemptsPerThread = 100;
  FakeClock clock;
  FailureThrottle t(clock, kFailuresMax, 60);
  std::atomic<int> answered{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      for (int n = 0; n < kAttemptsPerThread; ++n) {
        if (t.record("198.51.100.9", true).admitted) ++answered;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(answered.load(), kFailuresMax);
  EXPECT_FALSE(t.record("198.51.100.9", false).admitted);  // even a success is not answered
}

// At the address cap the least recently active address is forgotten, not an arbitrary one.
TEST(FailureThrottle, EvictsTheLeastRecentlyFailedAddress) {
  FakeClock clock;
  FailureThrottle t(clock, 2, 3600);
  const auto name = [](std::size_t i) {
    return "10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256);
  };
  for (std::size_t i = 0; i < FailureThrottle::kAddressesMax; ++i) {
    ASSERT_TRUE(t.record(name(i), true).admitted);
    clock.advance_ms(1);
  }
  ASSERT_TRUE(t.record(name(0), true).admitted);  // address 0 failed again: now the most recent
  EXPECT_FALSE(t.admit(name(0)).admitted);
  ASSERT_EQ(t.addresses(), FailureThrottle::kAddressesMax);
  ASSERT_TRUE(t.record("192.0.2.1", true).admitted);  // a new address at the cap
  EXPECT_EQ(t.addresses(), FailureThrottle::kAddressesMax);
  // Address 2 is remembered: its second failure blocks it. Address 0 stays blocked.
  EXPECT_TRUE(t.record(name(2), true).admitted);
  EXPECT_FALSE(t.admit(name(2)).admitted);
  EXPECT_FALSE(t.admit(name(0)).admitted);
  // Address 1 was the least recently failed: forgotten, one more failure does not block it.
  EXPECT_TRUE(t.record(name(1), true).admitted);
  EXPECT_TRUE(t.admit(name(1)).admitted);
}

TEST(FailureThrottle, ForgetsAddressesIdleForAWindow) {
  FakeClock clock;
  FailureThrottle t(clock, 3, 60);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(t.record("10.1.0." + std::to_string(i), true).admitted);
  EXPECT_EQ(t.addresses(), 100u);
  clock.advance_ms(60'000);
  EXPECT_TRUE(t.admit("10.2.0.1").admitted);
  EXPECT_EQ(t.addresses(), 1u);
}

TEST(TrustedProxies, RejectsWhatIsNotAnAddressOrCidr) {
  for (const char* bad : {"", "proxy.local", "10.0.0.0/33", "::1/129", "10.0.0.1/x", "10.0.0.1/",
                          "1.2.3.4.5", "fe80::1%eth0"}) {
    auto r = TrustedProxies::parse({bad});
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), ErrorCode::CONFIG_INVALID) << bad;
    }
  }
  std::vector<std::string> many(TrustedProxies::kEntriesMax + 1, "10.0.0.1");
  EXPECT_FALSE(TrustedProxies::parse(many).ok());
  auto ok = TrustedProxies::parse({"10.0.0.0/8", " 192.168.1.5 ", "::1", "fd00::/8", "0.0.0.0/0"});
  ASSERT_TRUE(ok.ok()) << ok.status().to_string();
}

TEST(TrustedProxies, NoneTrustedMeansThePeerWhateverTheHeaderSays) {
  TrustedProxies none;
  EXPECT_EQ(none.client_address("127.0.0.1", "203.0.113.7"), "127.0.0.1");
  auto t = TrustedProxies::parse({"10.0.0.0/8"});
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->client_address("192.0.2.10", "203.0.113.7"), "192.0.2.10");
}

TEST(TrustedProxies, TakesTheRightMostEntryThatIsNotATrustedProxy) {
  auto t = TrustedProxies::parse({"10.0.0.0/8", "2001:db8:ffff::/48"});
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->client_address("10.0.0.1", "203.0.113.7"), "203.0.113.7");
  // The client wrote the left part itself: a spoofed entry there is never believed.
  EXPECT_EQ(t->client_address("10.0.0.1", "6.6.6.6, 203.0.113.7, 10.0.0.2"), "203.0.113.7");
  EXPECT_EQ(t->client_address("10.0.0.1", "garbage,203.0.113.7"), "203.0.113.7");
  EXPECT_EQ(t->client_address("10.0.0.1", "203.0.113.7:4711"), "203.0.113.7");
  EXPECT_EQ(t->client_address("10.0.0.1", "[2001:DB8::1]:443"), "2001:db8::1");
  EXPECT_EQ(t->client_address("10.0.0.1", "2001:DB8:0::1"), "2001:db8::1");
  EXPECT_EQ(t->client_address("2001:db8:ffff::5", "198.51.100.2"), "198.51.100.2");
  // A dual-stack socket reports IPv4 peers as IPv4-mapped IPv6.
  EXPECT_EQ(t->client_address("::ffff:10.0.0.1", "198.51.100.2"), "198.51.100.2");
  // Every hop trusted: the furthest one is the client.
  EXPECT_EQ(t->client_address("10.0.0.1", "10.9.9.9, 10.0.0.2"), "10.9.9.9");
}

TEST(TrustedProxies, FailsClosedToTheProxyOnAMalformedChain) {
  auto t = TrustedProxies::parse({"10.0.0.0/8"});
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->client_address("10.0.0.1", ""), "10.0.0.1");
  EXPECT_EQ(t->client_address("10.0.0.1", "203.0.113.7, unknown"), "10.0.0.1");
  EXPECT_EQ(t->client_address("10.0.0.1", "203.0.113.7,"), "10.0.0.1");
  EXPECT_EQ(t->client_address("10.0.0.1", "203.0.113.7:port"), "10.0.0.1");
  EXPECT_EQ(t->client_address("10.0.0.1", "[203.0.113.7]"), "10.0.0.1");
  EXPECT_EQ(t->client_address("::ffff:10.0.0.1", "nonsense"), "10.0.0.1");
  std::string hops = "203.0.113.7";
  for (std::size_t i = 0; i < TrustedProxies::kForwardedHopsMax; ++i) hops += ", 10.0.0.3";
  EXPECT_EQ(t->client_address("10.0.0.1", hops), "10.0.0.1");
}

TEST(Tarpit, RunsEachCallAfterTheDelayInOrder) {
  constexpr std::int64_t kDelayMs = 50;
  Tarpit tarpit(kDelayMs);
  std::mutex mu;
  std::vector<std::pair<int, std::chrono::steady_clock::duration>> ran;
  std::promise<void> all;
  for (int i = 0; i < 3; ++i) {
    const auto queued = std::chrono::steady_clock::now();
    ASSERT_TRUE(tarpit.later([&, i, queued] {
      std::lock_guard lock(mu);
      ran.emplace_back(i, std::chrono::steady_clock::now() - queued);
      if (ran.size() == 3) all.set_value();
    }));
  }
  ASSERT_EQ(all.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  std::lock_guard lock(mu);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(ran[i].first, i);
    EXPECT_GE(ran[i].second, std::chrono::milliseconds(kDelayMs));
  }
}

TEST(Tarpit, IsBoundedAndStopDropsWhatWaits) {
  Tarpit tarpit(60'000);
  std::atomic<int> ran{0};
  for (std::size_t i = 0; i < Tarpit::kPendingMax; ++i) {
    ASSERT_TRUE(tarpit.later([&] { ++ran; }));
  }
  EXPECT_FALSE(tarpit.later([&] { ++ran; }));  // full: the caller answers at once
  tarpit.stop();
  EXPECT_EQ(ran.load(), 0);
  EXPECT_FALSE(tarpit.later([&] { ++ran; }));
}

TEST(MasterVerifier, VerifiesOffTheCallingThreadThenFromTheCache) {
  auto hash = hash_master_password("correct horse");
  ASSERT_TRUE(hash.ok());
  MasterVerifier v(*hash);
  EXPECT_FALSE(v.check_cached("correct horse").has_value());  // nothing verified yet
  std::promise<std::pair<bool, std::thread::id>> wrong, right;
  ASSERT_TRUE(v.verify_async("nope", [&](bool ok) {
                 wrong.set_value({ok, std::this_thread::get_id()});
               }).ok());
  ASSERT_TRUE(v.verify_async("correct horse", [&](bool ok) {
                 right.set_value({ok, std::this_thread::get_id()});
               }).ok());
  const auto [wrong_ok, wrong_thread] = wrong.get_future().get();
  const auto [right_ok, right_thread] = right.get_future().get();
  EXPECT_FALSE(wrong_ok);
  EXPECT_TRUE(right_ok);
  EXPECT_NE(wrong_thread, std::this_thread::get_id());
  EXPECT_EQ(wrong_thread, right_thread);
  EXPECT_EQ(v.check_cached("correct horse"), std::optional<bool>(true));
  EXPECT_EQ(v.check_cached("nope"), std::optional<bool>(false));
}

TEST(MasterVerifier, ConcurrentChecksOfOnePasswordShareOneRun) {
  auto hash = hash_master_password("correct horse");
  ASSERT_TRUE(hash.ok());
  MasterVerifier v(*hash);
  EXPECT_FALSE(v.join("correct horse", [](bool) {}));  // nothing pending to join
  std::promise<bool> first, second;
  ASSERT_TRUE(v.verify_async("correct horse", [&](bool ok) { first.set_value(ok); }).ok());
  const bool joined = v.join("correct horse", [&](bool ok) { second.set_value(ok); });
  EXPECT_FALSE(v.join("another", [](bool) {}));
  EXPECT_TRUE(first.get_future().get());
  // Joined while the first check was pending (Argon2id takes milliseconds), or too late.
  if (joined) {
    EXPECT_TRUE(second.get_future().get());
  } else {
    EXPECT_EQ(v.check_cached("correct horse"), std::optional<bool>(true));
  }
}

TEST(MasterVerifier, BoundedQueueRefusesWithRetryAfter) {
  auto hash = hash_master_password("correct horse");
  ASSERT_TRUE(hash.ok());
  MasterVerifier v(*hash);
  std::atomic<int> answered{0};
  int queued = 0;
  int refused = 0;
  for (std::size_t i = 0; i < MasterVerifier::kQueueMax + 8; ++i) {
    Status s = v.verify_async("guess-" + std::to_string(i), [&](bool) { ++answered; });
    if (s.ok()) {
      ++queued;
    } else {
      ++refused;
      EXPECT_EQ(s.code(), ErrorCode::SERVER_OVERLOADED);
      const auto* wait = s.details().if_contains("retry_after_seconds");
      ASSERT_NE(wait, nullptr);
      EXPECT_EQ(wait->as_int64(), 1);
    }
  }
  // Argon2id takes tens of ms per guess, so at most a few left the queue while it was filled.
  EXPECT_GE(refused, 4);
  EXPECT_LE(queued, static_cast<int>(MasterVerifier::kQueueMax) + 4);
  v.stop();  // drops what is still queued
  EXPECT_LT(answered.load(), queued);
  EXPECT_EQ(v.verify_async("late", [](bool) {}).code(), ErrorCode::INTERNAL_SHUTTING_DOWN);
}

TEST(SessionToken, IsRandomPrefixedAndHashed) {
  const std::string a = generate_session_token();
  const std::string b = generate_session_token();
  EXPECT_EQ(a.rfind("wdn_", 0), 0u);
  EXPECT_EQ(a.size(), 4u + 43u);
  EXPECT_NE(a, b);
  EXPECT_EQ(token_hash(a).size(), 64u);
  EXPECT_NE(token_hash(a), token_hash(b));
}

}  // namespace
}  // namespace warden::server

namespace warden::server {
namespace {

TEST(SessionCache, ExpiresAndInvalidates) {
  FakeClock clock;
  SessionCache cache(clock, 1000);
  store::SessionRow s;
  s.id = "s1";
  s.agent_id = "a1";
  store::AgentRow a;
  a.id = "a1";
  cache.put("h1", s, a);
  ASSERT_TRUE(cache.find("h1").has_value());
  EXPECT_EQ(cache.find("h1")->session.id, "s1");
  clock.advance_ms(1000);
  EXPECT_FALSE(cache.find("h1").has_value());  // older than the TTL
  cache.put("h1", s, a);
  cache.invalidate_session("s1");
  EXPECT_FALSE(cache.find("h1").has_value());
  cache.put("h1", s, a);
  cache.invalidate_agent("a1");
  EXPECT_FALSE(cache.find("h1").has_value());
  EXPECT_FALSE(cache.find("unknown").has_value());
}

}  // namespace
}  // namespace warden::server

namespace warden::server {
namespace {

std::string str(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

// The auditor on a real store and group-commit writer, with a fake clock and hand-driven flushes.
class AuthFailureAuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "warden-authaudit-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto opened = store::SqliteStore::open(dir_ + "/a.db", {.create_if_missing = true});
    ASSERT_TRUE(opened.ok()) << opened.status().to_string();
    store_ = std::move(*opened);
    writer_ = std::make_unique<store::BatchWriter>(*store_, store::BatchOptions{});
    audit_ = std::make_unique<AuthFailureAudit>(*writer_, clock_);
  }
  void TearDown() override {
    audit_.reset();
    writer_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  AuthFailure failure(std::string address, ErrorCode reason = ErrorCode::AUTH_SESSION_INVALID) {
    return AuthFailure{std::move(address),
                       "session",
                       reason,
                       "POST",
                       "/v1/transactions",
                       "corr-" + std::to_string(++n_)};
  }

  // Every AUTH_FAILED row, after everything submitted so far has committed.
  std::vector<store::AuditRow> rows() {
    EXPECT_TRUE(writer_->run([](store::WriteTxn&) { return Status(); }).ok());
    std::vector<store::AuditRow> out;
    store::AuditFilter f;
    f.event_type = "AUTH_FAILED";
    f.limit = 1000;
    for (;;) {
      auto page = store_->list_audit(f);
      EXPECT_TRUE(page.ok());
      if (!page.ok() || page->empty()) return out;
      f.after_id = page->back().id;
      out.insert(out.end(), page->begin(), page->end());
    }
  }

  static boost::json::object details(const store::AuditRow& r) {
    auto v = parse_json(r.event.details);
    return v.ok() && v->is_object() ? v->as_object() : boost::json::object();
  }
  static std::int64_t count(const store::AuditRow& r) {
    const auto* c = details(r).if_contains("count");
    return c ? c->as_int64() : 0;
  }
  static std::int64_t sum_counts(const std::vector<store::AuditRow>& rs, const std::string& ip) {
    std::int64_t sum = 0;
    for (const auto& r : rs) {
      if (r.event.ip_address == ip) sum += count(r);
    }
    return sum;
  }

  FakeClock clock_{1'767'225'600'000};  // on a minute boundary
  std::string dir_;
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<store::BatchWriter> writer_;
  std::unique_ptr<AuthFailureAudit> audit_;
  int n_ = 0;
};

TEST_F(AuthFailureAuditTest, AFloodBecomesAFewRowsWhoseCountsSumToIt) {
  constexpr int kFlood = 200;
  for (int i = 0; i < kFlood; ++i) {
    audit_->record(failure("203.0.113.7", i % 2 ? ErrorCode::AUTH_SESSION_INVALID
                                                : ErrorCode::AUTH_TOO_MANY_ATTEMPTS));
    clock_.advance_ms(100);  // 20 s in all, inside one minute
  }
  for (int i = 0; i < 3; ++i) audit_->record(failure("198.51.100.4"));
  // Before the minute ends only the first failures of each client have rows.
  auto early = rows();
  EXPECT_EQ(early.size(), static_cast<std::size_t>(AuthFailureAudit::kRowsPerClientMinuteMax + 3));
  EXPECT_EQ(early.front().event.correlation_id, std::optional<std::string>("corr-1"));
  EXPECT_EQ(str(details(early.front()), "reason"), "AUTH_TOO_MANY_ATTEMPTS");
  EXPECT_EQ(str(details(early.front()), "path"), "/v1/transactions");

  audit_->flush_ended();  // the minute is still open: nothing more
  EXPECT_EQ(rows().size(), early.size());
  clock_.advance_ms(60'000);
  audit_->flush_ended();
  auto all = rows();
  ASSERT_EQ(all.size(), early.size() + 1);
  const store::AuditRow& agg = all.back();
  const auto d = details(agg);
  EXPECT_EQ(agg.event.ip_address, std::optional<std::string>("203.0.113.7"));
  EXPECT_EQ(agg.event.actor, "ip:203.0.113.7");
  EXPECT_EQ(agg.event.severity, "warning");
  EXPECT_TRUE(d.at("aggregated").as_bool());
  EXPECT_EQ(str(d, "kind"), "session");
  EXPECT_EQ(count(agg), kFlood - AuthFailureAudit::kRowsPerClientMinuteMax);
  EXPECT_EQ(str(d, "minute"), "2026-01-01T00:00:00Z");
  EXPECT_EQ(str(d, "first_at"), "2026-01-01T00:00:00Z");  // failure 6 at 0.5 s
  EXPECT_EQ(str(d, "last_at"), "2026-01-01T00:00:19Z");   // failure 200 at 19.9 s
  const auto& reasons = d.at("reasons").as_object();
  EXPECT_EQ(reasons.at("AUTH_SESSION_INVALID").as_int64() +
                reasons.at("AUTH_TOO_MANY_ATTEMPTS").as_int64(),
            count(agg));
  EXPECT_EQ(sum_counts(all, "203.0.113.7"), kFlood);
  EXPECT_EQ(sum_counts(all, "198.51.100.4"), 3);
}

// A refusal with a row of its own is answered after the row commits; a counted one at once.
TEST_F(AuthFailureAuditTest, SaysWhenAFailureHasItsOwnRowAndCallsBackAfterItsCommit) {
  std::vector<std::promise<void>> committed(AuthFailureAudit::kRowsPerClientMinuteMax);
  for (auto& p : committed) {
    EXPECT_TRUE(audit_->record(failure("203.0.113.7"), [&p] { p.set_value(); }));
  }
  for (auto& p : committed) {
    EXPECT_EQ(p.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  }
  std::atomic<bool> called{false};
  EXPECT_FALSE(audit_->record(failure("203.0.113.7"), [&] { called = true; }));
  EXPECT_EQ(rows().size(), static_cast<std::size_t>(AuthFailureAudit::kRowsPerClientMinuteMax));
  EXPECT_FALSE(called.load());
}

TEST_F(AuthFailureAuditTest, EachMinuteHasItsOwnRowsAndStopWritesTheOpenOne) {
  for (int minute = 0; minute < 3; ++minute) {
    for (int i = 0; i < 50; ++i) audit_->record(failure("203.0.113.7"));
    clock_.advance_ms(60'000);
  }
  for (int i = 0; i < 10; ++i) audit_->record(failure("203.0.113.7"));
  audit_->stop();  // shutdown: the current minute's aggregate is written too
  auto all = rows();
  EXPECT_EQ(all.size(), 4 * (AuthFailureAudit::kRowsPerClientMinuteMax + 1));
  EXPECT_EQ(sum_counts(all, "203.0.113.7"), 3 * 50 + 10);
}

TEST_F(AuthFailureAuditTest, RowsForAllClientsAreCappedPerMinute) {
  constexpr int kClients = 250;
  constexpr int kEach = 5;
  for (int c = 0; c < kClients; ++c) {
    for (int i = 0; i < kEach; ++i)
      audit_->record(failure("10.3." + std::to_string(c / 256) + "." + std::to_string(c % 256)));
  }
  EXPECT_EQ(rows().size(), static_cast<std::size_t>(AuthFailureAudit::kRowsPerMinuteMax));
  audit_->stop();
  auto all = rows();
  std::int64_t sum = 0;
  for (const auto& r : all) sum += count(r);
  EXPECT_EQ(sum, kClients * kEach);
  // The clients past the cap have one aggregated row each.
  EXPECT_EQ(all.size(), static_cast<std::size_t>(AuthFailureAudit::kRowsPerMinuteMax) +
                            (kClients * kEach - AuthFailureAudit::kRowsPerMinuteMax) / kEach);
}

TEST_F(AuthFailureAuditTest, BucketCapWritesTheOldestEarlyAndLosesNothing) {
  // Past the per-minute row cap every new client is only counted; the bucket map stays bounded.
  const std::size_t clients = AuthFailureAudit::kBucketsMax + 10;
  for (std::size_t c = 0; c < clients; ++c) {
    audit_->record(failure("10.4." + std::to_string(c / 256) + "." + std::to_string(c % 256)));
  }
  audit_->stop();
  auto all = rows();
  std::int64_t sum = 0;
  for (const auto& r : all) sum += count(r);
  EXPECT_EQ(sum, static_cast<std::int64_t>(clients));
  EXPECT_EQ(all.size(), clients);  // one row per client: its own or its aggregate of one
}

}  // namespace
}  // namespace warden::server
