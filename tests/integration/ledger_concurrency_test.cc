// Races on one account over HTTP against the real daemon: 32 threads taking holds on credit for
// exactly N of them, then posting and voiding each hold from two threads at once; and BUDGET
// decisions from an agent's session racing direct debits for the same credit, then confirmed
// or cancelled. Every count and balance is exact, and stays so across a restart.
#include <boost/json.hpp>
#include <latch>
#include <set>
#include <thread>

#include "support/fixture.h"

namespace warden::testing {
namespace {

namespace json = boost::json;

constexpr int kThreads = 32;
constexpr int kShutdownTimeoutMs = 10000;
constexpr int kHoldTtlSeconds = 600;

// Runs request(client, i) for i in [0, count) on `count` threads, each on a connection of its
// own that has already answered one request, all released at once so that they really race.
template <class Fn>
auto at_once(std::uint16_t port, int count, const Fn& request) {
  using Out = decltype(request(std::declval<HttpClient&>(), 0));
  std::vector<Out> out(static_cast<std::size_t>(count));
  std::latch ready(count);
  std::vector<std::thread> threads;
  for (int i = 0; i < count; ++i) {
    threads.emplace_back([&, i] {
      HttpClient c(port);
      c.request("GET", "/healthz");  // connected before the race starts
      ready.arrive_and_wait();
      out[static_cast<std::size_t>(i)] = request(c, i);
    });
  }
  for (auto& t : threads) t.join();
  return out;
}

std::string body_of(const json::object& o) { return json::serialize(o); }

class LedgerConcurrencyTest : public WardenTest {
 protected:
  Response mint(const std::string& owner, std::int64_t amount, const std::string& key) {
    return master("POST", "/v1/ledger/mint",
                  body_of({{"owner", owner},
                           {"amount", std::to_string(amount)},
                           {"currency", "USD"},
                           {"source", "grant"},
                           {"idempotency_key", key}}));
  }

  // "available/held" of the owner's USD account, "?" when it cannot be read.
  std::string balance(const std::string& owner) {
    Response r = master("GET", "/v1/ledger/balances?owner=" + owner + "&currency=USD");
    EXPECT_EQ(r.status, 200) << r.describe();
    if (r.status != 200) return "?";
    return str_at(r.json(), "available") + "/" + str_at(r.json(), "held");
  }

  static std::string expected(std::int64_t available, std::int64_t held) {
    return std::to_string(available) + "/" + std::to_string(held);
  }

  void restart_daemon() {
    client_->close();
    warden_->sigterm();
    ASSERT_EQ(warden_->wait_exit(kShutdownTimeoutMs), 0);
    ASSERT_TRUE(warden_->restart()) << warden_->error();
    client_ = std::make_unique<HttpClient>(warden_->port());
  }

  // `warden ledger reconcile` passes and its summary starts with `summary`.
  void expect_reconciles(const std::string& summary) {
    CliResult r = warden_->cli({"ledger", "reconcile"});
    EXPECT_EQ(r.exit_code, 0) << r.output();
    EXPECT_EQ(r.stdout_text.rfind("ok: " + summary, 0), 0u) << r.output();
  }

  std::string hold_status(const std::string& hold_id) {
    Response r = master("GET", "/v1/ledger/holds/" + hold_id);
    EXPECT_EQ(r.status, 200) << r.describe();
    return str_at(r.json(), "status");
  }
};

TEST_F(LedgerConcurrencyTest, ThirtyTwoHoldsOnCreditForTwelveThenRacingPostsAndVoids) {
  constexpr int kFit = 12;
  constexpr std::int64_t kHold = 100;
  constexpr std::int64_t kPosted = 60;
  const std::string a = new_agent("hold-racer");
  ASSERT_EQ(mint(a, kFit * kHold, "seed").status, 201);

  auto answers = at_once(warden_->port(), kThreads, [&](HttpClient& c, int i) {
    return c.request("POST", "/v1/ledger/holds",
                     body_of({{"owner", a},
                              {"amount", std::to_string(kHold)},
                              {"currency", "USD"},
                              {"ttl_seconds", kHoldTtlSeconds},
                              {"idempotency_key", "hold-" + std::to_string(i)}}),
                     master_headers());
  });
  std::vector<std::string> holds;
  int refused = 0;
  for (const auto& r : answers) {
    if (r.status == 201) {
      EXPECT_EQ(str_at(r.json(), "status"), "pending") << r.body;
      EXPECT_EQ(str_at(r.json(), "amount"), "100") << r.body;
      holds.push_back(str_at(r.json(), "id"));
      continue;
    }
    EXPECT_EQ(r.status, 402) << r.describe();
    EXPECT_EQ(r.error_code(), "LEDGER_BUDGET_EXCEEDED") << r.body;
    // Every hold is 100 of a multiple of 100: a refused one found nothing at all.
    EXPECT_EQ(str_at(error_field(r, "details"), "available"), "0") << r.body;
    EXPECT_EQ(str_at(error_field(r, "details"), "shortfall"), "100") << r.body;
    ++refused;
  }
  ASSERT_EQ(holds.size(), static_cast<std::size_t>(kFit));
  EXPECT_EQ(refused, kThreads - kFit);
  EXPECT_EQ(std::set<std::string>(holds.begin(), holds.end()).size(), holds.size());
  EXPECT_EQ(balance(a), expected(0, kFit * kHold));

  // The holds still count after a restart: nothing more fits.
  restart_daemon();
  if (HasFatalFailure()) return;
  EXPECT_EQ(balance(a), expected(0, kFit * kHold));
  Response more = master("POST", "/v1/ledger/holds",
                         body_of({{"owner", a},
                                  {"amount", "1"},
                                  {"currency", "USD"},
                                  {"idempotency_key", "after-restart"}}));
  EXPECT_EQ(more.status, 402) << more.describe();
  for (const auto& id : holds) EXPECT_EQ(hold_status(id), "pending");

  // Two threads per hold: one posts 60, the other voids. Exactly one of them closes it.
  auto settles = at_once(warden_->port(), 2 * kFit, [&](HttpClient& c, int i) {
    const std::string path = "/v1/ledger/holds/" + holds[static_cast<std::size_t>(i / 2)];
    if (i % 2 == 0) {
      return c.request("POST", path + "/post", body_of({{"amount", std::to_string(kPosted)}}),
                       master_headers());
    }
    return c.request("POST", path + "/void", "", master_headers());
  });
  std::int64_t available = 0;
  int posted = 0;
  for (int h = 0; h < kFit; ++h) {
    SCOPED_TRACE("hold " + holds[static_cast<std::size_t>(h)]);
    const Response& post = settles[static_cast<std::size_t>(2 * h)];
    const Response& void_ = settles[static_cast<std::size_t>(2 * h + 1)];
    const bool post_won = post.status == 200;
    const Response& winner = post_won ? post : void_;
    const Response& loser = post_won ? void_ : post;
    ASSERT_EQ(winner.status, 200) << post.describe() << " / " << void_.describe();
    EXPECT_EQ(loser.status, 409) << loser.describe();
    EXPECT_EQ(loser.error_code(), "LEDGER_HOLD_NOT_PENDING") << loser.body;
    EXPECT_EQ(str_at(error_field(loser, "details"), "hold_id"), holds[static_cast<std::size_t>(h)])
        << loser.body;
    EXPECT_EQ(str_at(winner.json(), "status"), post_won ? "posted" : "voided") << winner.body;
    EXPECT_EQ(hold_status(holds[static_cast<std::size_t>(h)]), post_won ? "posted" : "voided");
    if (post_won) {
      EXPECT_EQ(str_at(winner.json(), "posted_amount"), std::to_string(kPosted));
      ++posted;
    }
    available += post_won ? kHold - kPosted : kHold;
  }
  RecordProperty("posts_won", posted);
  EXPECT_EQ(balance(a), expected(available, 0));

  restart_daemon();
  if (HasFatalFailure()) return;
  EXPECT_EQ(balance(a), expected(available, 0));
  expect_reconciles("1 lots, " + std::to_string(1 + kFit + 2 * posted + (kFit - posted)) +
                    " entries, " + std::to_string(kFit) + " holds (0 pending), 1 balances");
}

TEST_F(LedgerConcurrencyTest, BudgetDecisionsAndDebitsRaceForTheSameCredit) {
  // Each thread asks several times, so that the slower decisions and the faster debits overlap
  // for the whole race and both kinds are refused once the credit is gone.
  constexpr int kAsksPerThread = 4;
  constexpr int kFit = kThreads * kAsksPerThread / 2;
  const std::string a = new_agent("budget-racer");
  Response policy = master("POST", "/v1/policies",
                           body_of({{"type", "BUDGET"},
                                    {"agent_id", a},
                                    {"rules", {{"asset", "USD"}, {"allow_negative", false}}}}));
  ASSERT_EQ(policy.status, 201) << policy.describe();
  const std::string token = str_at(new_session(a), "token");
  ASSERT_FALSE(token.empty());
  ASSERT_EQ(mint(a, kFit, "seed").status, 201);

  // Even threads decide (the agent's session), odd ones debit (the master).
  auto per_thread = at_once(warden_->port(), kThreads, [&](HttpClient& c, int i) {
    std::vector<Response> out;
    for (int k = 0; k < kAsksPerThread; ++k) {
      const std::string key = "race-" + std::to_string(i) + "-" + std::to_string(k);
      if (i % 2 == 0) {
        out.push_back(c.request(
            "POST", "/v1/decisions",
            body_of(
                {{"action", "llm.call"}, {"amounts", {{"USD", "1"}}}, {"idempotency_key", key}}),
            bearer_headers(token)));
      } else {
        out.push_back(c.request(
            "POST", "/v1/ledger/debit",
            body_of({{"owner", a}, {"amount", "1"}, {"currency", "USD"}, {"idempotency_key", key}}),
            master_headers()));
      }
    }
    return out;
  });
  std::vector<std::string> allowed;  // transaction ids
  std::vector<std::string> allowed_holds;
  int denied = 0;
  int debited = 0;
  int refused = 0;
  for (int i = 0; i < kThreads; ++i) {
    for (const Response& r : per_thread[static_cast<std::size_t>(i)]) {
      SCOPED_TRACE("thread " + std::to_string(i));
      if (i % 2 == 1) {
        if (r.status == 201) {
          ++debited;
          continue;
        }
        EXPECT_EQ(r.status, 402) << r.describe();
        EXPECT_EQ(r.error_code(), "LEDGER_BUDGET_EXCEEDED") << r.body;
        ++refused;
        continue;
      }
      ASSERT_EQ(r.status, 201) << r.describe();
      const json::value v = r.json();
      if (str_at(v, "effect") == "ALLOW") {
        EXPECT_EQ(str_at(v, "status"), "PENDING") << r.body;
        const json::value holds = field(v, "holds");
        ASSERT_TRUE(holds.is_array() && holds.as_array().size() == 1) << r.body;
        EXPECT_EQ(str_at(holds.as_array()[0], "asset"), "USD") << r.body;
        EXPECT_EQ(str_at(holds.as_array()[0], "requested"), "1") << r.body;
        EXPECT_EQ(str_at(holds.as_array()[0], "held"), "1") << r.body;
        allowed.push_back(str_at(v, "id"));
        allowed_holds.push_back(str_at(holds.as_array()[0], "hold_id"));
        continue;
      }
      EXPECT_EQ(str_at(v, "effect"), "DENY") << r.body;
      EXPECT_EQ(str_at(v, "status"), "DENIED") << r.body;
      const json::value reasons = field(v, "reasons");
      bool budget_exceeded = false;
      if (reasons.is_array()) {
        for (const auto& reason : reasons.as_array()) {
          budget_exceeded = budget_exceeded || str_at(reason, "code") == "BUDGET_EXCEEDED";
        }
      }
      EXPECT_TRUE(budget_exceeded) << r.body;
      const json::value holds = field(v, "holds");
      EXPECT_TRUE(holds.is_null() || (holds.is_array() && holds.as_array().empty())) << r.body;
      ++denied;
    }
  }
  const int held = static_cast<int>(allowed.size());
  RecordProperty("decisions_allowed", held);
  RecordProperty("debits_done", debited);
  EXPECT_EQ(held + debited, kFit);
  EXPECT_EQ(denied + refused, kThreads * kAsksPerThread - kFit);
  RecordProperty("decisions_denied", denied);
  RecordProperty("debits_refused", refused);
  EXPECT_EQ(balance(a), expected(0, held));

  // The decisions' holds are rebuilt at start-up and still block spending.
  restart_daemon();
  if (HasFatalFailure()) return;
  EXPECT_EQ(balance(a), expected(0, held));
  Response one_more = client_->request("POST", "/v1/decisions",
                                       body_of({{"action", "llm.call"},
                                                {"amounts", {{"USD", "1"}}},
                                                {"idempotency_key", "after-restart"}}),
                                       bearer_headers(token));
  ASSERT_EQ(one_more.status, 201) << one_more.describe();
  EXPECT_EQ(str_at(one_more.json(), "effect"), "DENY") << one_more.body;
  for (std::size_t i = 0; i < allowed.size(); ++i) {
    Response tx = master("GET", "/v1/transactions/" + allowed[i]);
    EXPECT_EQ(str_at(tx.json(), "status"), "PENDING") << tx.describe();
    Response hold = master("GET", "/v1/ledger/holds/" + allowed_holds[i]);
    EXPECT_EQ(str_at(hold.json(), "status"), "pending") << hold.describe();
    EXPECT_EQ(str_at(hold.json(), "tx_id"), allowed[i]) << hold.body;
  }

  // The first half is confirmed, the rest cancelled, all at once, from the agent's session.
  const int confirmed = held / 2;
  const int cancelled = held - confirmed;
  auto settles = at_once(warden_->port(), held, [&](HttpClient& c, int i) {
    const std::string path = "/v1/transactions/" + allowed[static_cast<std::size_t>(i)];
    return c.request("POST", path + (i < confirmed ? "/confirm" : "/cancel"),
                     i < confirmed ? "{}" : "", bearer_headers(token));
  });
  for (int i = 0; i < held; ++i) {
    const Response& r = settles[static_cast<std::size_t>(i)];
    EXPECT_EQ(r.status, 200) << r.describe();
    EXPECT_EQ(str_at(r.json(), "status"), i < confirmed ? "CONFIRMED" : "CANCELLED") << r.body;
  }
  EXPECT_EQ(balance(a), expected(cancelled, 0));

  restart_daemon();
  if (HasFatalFailure()) return;
  EXPECT_EQ(balance(a), expected(cancelled, 0));
  for (int i = 0; i < held; ++i) {
    EXPECT_EQ(hold_status(allowed_holds[static_cast<std::size_t>(i)]),
              i < confirmed ? "posted" : "voided");
    Response tx = master("GET", "/v1/transactions/" + allowed[static_cast<std::size_t>(i)]);
    EXPECT_EQ(str_at(tx.json(), "status"), i < confirmed ? "CONFIRMED" : "CANCELLED")
        << tx.describe();
  }
  // seed credit, a debit per debit, a hold and a debit or release per decision.
  expect_reconciles("1 lots, " + std::to_string(1 + debited + 2 * held) + " entries, " +
                    std::to_string(held) + " holds (0 pending), 1 balances");
}

}  // namespace
}  // namespace warden::testing
