// kill -9 under mixed ledger load, three times at different moments, restarting on the same
// data dir each time: `warden ledger reconcile` passes on the dead daemon's files and on the
// restarted daemon; every acknowledged mint, debit, hold and BUDGET decision answers its retry
// with the first answer (Idempotent-Replay), every acknowledged post, void, confirm and cancel
// shows its hold or transaction closed that way, and the balances are exactly what the
// acknowledged operations plus the in-flight ones that committed imply.
#include <atomic>
#include <boost/json.hpp>
#include <charconv>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

#include "support/fixture.h"

namespace warden::testing {
namespace {

namespace json = boost::json;

constexpr int kExitTimeoutMs = 10000;
constexpr int kClientTimeoutMs = 5000;
// Load runs this long before each kill: the kills land in different phases of the load.
constexpr int kLoadBeforeKillMs[] = {700, 1300, 1900};
constexpr int kKillJitterMsMax = 200;
constexpr std::size_t kAckedBeforeKillMin = 30;
constexpr int kAckedWaitMs = 10000;
constexpr int kOpsPerWorkerPerRoundMax = 20000;
// Each set is a minter, two debiters, a holder and two deciders.
constexpr int kWorkerSets = 2;
constexpr int kVerifyThreads = 4;
constexpr std::size_t kFailuresShownMax = 20;
constexpr std::int64_t kSeedCredit = 1'000'000'000'000;
constexpr std::int64_t kMintMax = 500;
constexpr std::int64_t kDebitMax = 50;
constexpr std::int64_t kHoldMax = 200;
constexpr std::int64_t kDecisionMax = 50;
constexpr int kHoldTtlSeconds = 3600;

enum class Kind { kMint, kDebit, kHold, kPost, kVoid, kDecide, kConfirm, kCancel };

const char* name_of(Kind k) {
  switch (k) {
    case Kind::kMint:
      return "mint";
    case Kind::kDebit:
      return "debit";
    case Kind::kHold:
      return "hold";
    case Kind::kPost:
      return "post";
    case Kind::kVoid:
      return "void";
    case Kind::kDecide:
      return "decide";
    case Kind::kConfirm:
      return "confirm";
    case Kind::kCancel:
      return "cancel";
  }
  return "?";
}

bool opens(Kind k) {
  return k == Kind::kMint || k == Kind::kDebit || k == Kind::kHold || k == Kind::kDecide;
}

// One request of the load and what became of it.
struct Op {
  Kind kind = Kind::kMint;
  int round = 0;
  std::int64_t amount = 0;  // mint, debit, hold, decide: asked; post: the amount posted
  std::string key;          // mint, debit, hold, decide: the idempotency key
  std::string path;
  std::string body;
  bool as_agent = false;       // decide, confirm, cancel: the agent's session; else the master
  std::shared_ptr<Op> target;  // post, void, confirm, cancel: the hold or decision it closes

  // Before the kill: the answer, if one came (status 0: the kill caught it in flight).
  int status = 0;
  json::value answer;
  bool acked() const { return status >= 200 && status < 300; }

  // Resolved after the restart.
  bool at_kill = false;     // committed when the daemon last died
  bool committed = false;   // committed now (an in-flight open re-sent after the restart ran)
  std::string id;           // hold: the hold id; decide: the transaction id
  std::string hold_id;      // decide (ALLOW): its hold
  std::int64_t held = 0;    // decide: what its ALLOW held (0 for a DENY)
  Op* closed_by = nullptr;  // hold, decide: the committed post/void/confirm/cancel

  std::string describe() const {
    return std::string(name_of(kind)) + " r" + std::to_string(round) + " " + key + " " + path +
           " " + body;
  }
};
using OpPtr = std::shared_ptr<Op>;

// Effect of one committed op on the account: (available, held).
std::pair<std::int64_t, std::int64_t> effect(const Op& op) {
  switch (op.kind) {
    case Kind::kMint:
      return {op.amount, 0};
    case Kind::kDebit:
      return {-op.amount, 0};
    case Kind::kHold:
      return {-op.amount, op.amount};
    case Kind::kPost:
      return {op.target->amount - op.amount, -op.target->amount};
    case Kind::kVoid:
      return {op.target->amount, -op.target->amount};
    case Kind::kDecide:
      return {-op.held, op.held};
    case Kind::kConfirm:
      return {0, -op.target->held};
    case Kind::kCancel:
      return {op.target->held, -op.target->held};
  }
  return {0, 0};
}

struct Failures {
  std::mutex mu;
  std::vector<std::string> items;
  void add(std::string s) {
    std::lock_guard lock(mu);
    items.push_back(std::move(s));
  }
};

std::string body_of(const json::object& o) { return json::serialize(o); }

// A decimal string that fits in int64; -1 for anything else (never a match for the model).
std::int64_t to_int(const std::string& text) {
  std::int64_t out = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty() ? out : -1;
}

enum class Role { kMinter, kDebiter, kHolder, kDecider };

// One load thread's round: its own connection, ops in order, stops at the first transport
// failure (the daemon is gone) leaving that op in flight.
struct Worker {
  Role role;
  int index = 0;
  std::vector<OpPtr> ops;        // this round's
  std::vector<OpPtr> leftovers;  // pending holds or decisions of earlier rounds to close
  std::mt19937_64 rng;
};

class LedgerCrashTest : public WardenTest {
 protected:
  void SetUp() override {
    WardenTest::SetUp();
    if (HasFatalFailure()) return;
    owner_ = new_agent("crash-ledger");
    ASSERT_FALSE(owner_.empty());
    Response policy =
        master("POST", "/v1/policies",
               body_of({{"type", "BUDGET"}, {"agent_id", owner_}, {"rules", {{"asset", "USD"}}}}));
    ASSERT_EQ(policy.status, 201) << policy.describe();
    token_ = str_at(new_session(owner_), "token");
    ASSERT_FALSE(token_.empty());
    auto seed = std::make_shared<Op>();
    *seed = new_mint(0, "seed", kSeedCredit, false);
    Response r = send(*client_, *seed);
    ASSERT_EQ(r.status, 201) << r.describe();
    seed->status = r.status;
    seed->answer = r.json();
    seed->at_kill = seed->committed = true;
    history_.push_back(seed);
  }

  Op new_mint(int round, const std::string& key, std::int64_t amount, bool with_payment) {
    Op op;
    op.kind = Kind::kMint;
    op.round = round;
    op.key = key;
    op.amount = amount;
    op.path = "/v1/ledger/mint";
    json::object o{{"owner", owner_},
                   {"amount", std::to_string(amount)},
                   {"currency", "USD"},
                   {"source", with_payment ? "payment" : "grant"},
                   {"idempotency_key", key}};
    if (with_payment) o["payment_id"] = "pay-" + key;
    op.body = body_of(o);
    return op;
  }

  Op new_spend(Kind kind, int round, const std::string& key, std::int64_t amount) {
    Op op;
    op.kind = kind;
    op.round = round;
    op.key = key;
    op.amount = amount;
    if (kind == Kind::kDecide) {
      op.as_agent = true;
      op.path = "/v1/decisions";
      op.body = body_of({{"action", "llm.call"},
                         {"amounts", {{"USD", std::to_string(amount)}}},
                         {"idempotency_key", key}});
      return op;
    }
    json::object o{{"owner", owner_},
                   {"amount", std::to_string(amount)},
                   {"currency", "USD"},
                   {"idempotency_key", key}};
    if (kind == Kind::kHold) o["ttl_seconds"] = kHoldTtlSeconds;
    op.path = kind == Kind::kHold ? "/v1/ledger/holds" : "/v1/ledger/debit";
    op.body = body_of(o);
    return op;
  }

  // A close of target (a committed hold or ALLOW decision).
  static Op new_close(int round, const OpPtr& target, bool spend, std::mt19937_64& rng) {
    Op op;
    op.round = round;
    op.target = target;
    if (target->kind == Kind::kHold) {
      op.kind = spend ? Kind::kPost : Kind::kVoid;
      op.path = "/v1/ledger/holds/" + target->id + (spend ? "/post" : "/void");
      if (spend) {
        op.amount = std::uniform_int_distribution<std::int64_t>(1, target->amount)(rng);
        op.body = body_of({{"amount", std::to_string(op.amount)}});
      }
      return op;
    }
    op.kind = spend ? Kind::kConfirm : Kind::kCancel;
    op.as_agent = true;
    op.path = "/v1/transactions/" + target->id + (spend ? "/confirm" : "/cancel");
    if (spend) op.body = "{}";
    return op;
  }

  Response send(HttpClient& c, const Op& op) {
    return c.request("POST", op.path, op.body,
                     op.as_agent ? bearer_headers(token_) : master_headers());
  }

  // Fills id, hold_id and held of an open from its answer.
  static void read_answer(Op& op, const json::value& v) {
    if (op.kind == Kind::kHold) op.id = str_at(v, "id");
    if (op.kind != Kind::kDecide) return;
    op.id = str_at(v, "id");
    op.held = 0;
    const json::value holds = field(v, "holds");
    if (str_at(v, "effect") == "ALLOW" && holds.is_array() && holds.as_array().size() == 1) {
      op.hold_id = str_at(holds.as_array()[0], "hold_id");
      op.held = to_int(str_at(holds.as_array()[0], "held"));
    }
  }

  void run_worker(Worker& w, int round, std::atomic<bool>& stop, std::atomic<std::size_t>& acked,
                  Failures& failures) {
    HttpClient c(warden_->port(), kClientTimeoutMs);
    OpPtr close_next;  // the hold or decision this worker just opened and closes next
    bool spend_next = false;
    for (int i = 0; i < kOpsPerWorkerPerRoundMax && !stop.load(); ++i) {
      auto op = std::make_shared<Op>();
      std::string key = "r";  // appended piecewise: GCC 12 misreports "lit" + string (-Wrestrict)
      key.append(std::to_string(round)).append("-w").append(std::to_string(w.index));
      key.append("-").append(std::to_string(i));
      auto pick = [&](std::int64_t max) {
        return std::uniform_int_distribution<std::int64_t>(1, max)(w.rng);
      };
      if (close_next) {
        *op = new_close(round, close_next, spend_next, w.rng);
        close_next.reset();
      } else if (!w.leftovers.empty() && i % 2 == 0) {
        *op = new_close(round, w.leftovers.back(), w.leftovers.size() % 2 == 0, w.rng);
        w.leftovers.pop_back();
      } else if (w.role == Role::kMinter) {
        *op = new_mint(round, key, pick(kMintMax), i % 2 == 0);
      } else if (w.role == Role::kDebiter) {
        *op = new_spend(Kind::kDebit, round, key, pick(kDebitMax));
      } else if (w.role == Role::kHolder) {
        *op = new_spend(Kind::kHold, round, key, pick(kHoldMax));
      } else {
        *op = new_spend(Kind::kDecide, round, key, pick(kDecisionMax));
      }
      w.ops.push_back(op);
      Response r = send(c, *op);
      if (r.status == 0) return;  // the daemon is gone: this one is in flight
      if (r.status < 200 || r.status >= 300) {
        // Nothing in this load may be refused; what became of it is resolved like an in-flight op.
        failures.add("refused during the load: " + op->describe() + " -> " + r.describe());
        return;
      }
      if (r.has_header("Idempotent-Replay")) {
        failures.add("a first request answered as a replay: " + op->describe());
      }
      op->status = r.status;
      op->answer = r.json();
      read_answer(*op, op->answer);
      acked.fetch_add(1);
      // Of what it opens, a third is posted or confirmed next, a third voided or cancelled, and a
      // third stays pending into the next round (closed there, after the restart).
      const bool closable = op->kind == Kind::kHold || (op->kind == Kind::kDecide && op->held > 0);
      if (closable && i % 3 != 2) {
        close_next = op;
        spend_next = i % 3 == 0;
      }
    }
  }

  // Sum of the effects of the ops that satisfy `counted`.
  std::pair<std::int64_t, std::int64_t> model(const std::function<bool(const Op&)>& counted) {
    std::pair<std::int64_t, std::int64_t> sum{0, 0};
    for (const auto& op : history_) {
      if (!counted(*op)) continue;
      auto [a, h] = effect(*op);
      sum.first += a;
      sum.second += h;
    }
    return sum;
  }

  std::pair<std::int64_t, std::int64_t> read_balance(HttpClient& c) {
    Response r = c.request("GET", "/v1/ledger/balances?owner=" + owner_ + "&currency=USD", {},
                           master_headers());
    EXPECT_EQ(r.status, 200) << r.describe();
    return {to_int(str_at(r.json(), "available")), to_int(str_at(r.json(), "held"))};
  }

  // Runs check(client, op) for every op on kVerifyThreads connections.
  void for_each_parallel(const std::vector<OpPtr>& ops,
                         const std::function<void(HttpClient&, Op&)>& check) {
    std::vector<std::thread> threads;
    for (int t = 0; t < kVerifyThreads; ++t) {
      threads.emplace_back([&, t] {
        HttpClient c(warden_->port());
        for (std::size_t i = t; i < ops.size(); i += kVerifyThreads) check(c, *ops[i]);
      });
    }
    for (auto& th : threads) th.join();
  }

  void report(Failures& failures, const std::string& what) {
    EXPECT_TRUE(failures.items.empty()) << failures.items.size() << " " << what << ", e.g.:";
    for (std::size_t i = 0; i < failures.items.size() && i < kFailuresShownMax; ++i) {
      ADD_FAILURE() << failures.items[i];
    }
  }

  // One round: load, kill -9, reconcile the dead daemon's files, restart, account for everything.
  void crash_round(int round, std::uint64_t seed) {
    SCOPED_TRACE("round " + std::to_string(round));
    std::vector<Worker> workers;
    for (int set = 0; set < kWorkerSets; ++set) {
      for (Role role : {Role::kMinter, Role::kDebiter, Role::kDebiter, Role::kHolder,
                        Role::kDecider, Role::kDecider}) {
        const int index = static_cast<int>(workers.size());
        workers.push_back(
            Worker{role, index, {}, {}, std::mt19937_64(seed + 1000 * round + index)});
      }
    }
    // What is still pending from earlier rounds is closed in this one, by the workers that open
    // such things, in turn.
    std::size_t next_holder = 0, next_decider = 0;
    auto next_of = [&](Role role, std::size_t& next) -> Worker& {
      while (workers[next % workers.size()].role != role) ++next;
      return workers[next++ % workers.size()];
    };
    for (const auto& op : history_) {
      if (!op->committed || op->closed_by != nullptr) continue;
      if (op->kind == Kind::kHold) next_of(Role::kHolder, next_holder).leftovers.push_back(op);
      if (op->kind == Kind::kDecide && op->held > 0) {
        next_of(Role::kDecider, next_decider).leftovers.push_back(op);
      }
    }

    Failures load_failures;
    std::atomic<bool> stop{false};
    std::atomic<std::size_t> acked{0};
    std::vector<std::thread> threads;
    for (auto& w : workers) {
      threads.emplace_back([&, wp = &w] { run_worker(*wp, round, stop, acked, load_failures); });
    }
    std::mt19937_64 jitter(seed + round);
    const int load_ms =
        kLoadBeforeKillMs[round] + std::uniform_int_distribution<int>(0, kKillJitterMsMax)(jitter);
    std::this_thread::sleep_for(std::chrono::milliseconds(load_ms));
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(kAckedWaitMs);
    while (acked.load() < kAckedBeforeKillMin && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    warden_->kill9();  // while every worker is writing
    ASSERT_TRUE(warden_->wait_exit(kExitTimeoutMs).has_value());
    stop = true;
    for (auto& t : threads) t.join();
    report(load_failures, "load failures");
    ASSERT_GE(acked.load(), kAckedBeforeKillMin) << "load too slow to test anything";

    std::vector<OpPtr> round_ops;
    for (auto& w : workers) round_ops.insert(round_ops.end(), w.ops.begin(), w.ops.end());
    std::size_t in_flight = 0;
    for (const auto& op : round_ops) {
      if (op->acked()) op->at_kill = op->committed = true;
      if (!op->acked()) ++in_flight;
      history_.push_back(op);
    }
    RecordProperty("round" + std::to_string(round) + "_acked", static_cast<int>(acked.load()));
    RecordProperty("round" + std::to_string(round) + "_in_flight", static_cast<int>(in_flight));

    // The files the dead daemon left reconcile.
    CliResult dead = warden_->cli({"ledger", "reconcile"});
    EXPECT_EQ(dead.exit_code, 0) << dead.output();

    client_->close();
    ASSERT_TRUE(warden_->restart()) << warden_->error();
    client_ = std::make_unique<HttpClient>(warden_->port());

    // The balances before anything is re-sent: within what the in-flight ops could have done.
    const auto at_restart = read_balance(*client_);
    {
      auto [available, held] = model([](const Op& op) { return op.at_kill; });
      std::int64_t a_lo = available, a_hi = available, h_lo = held, h_hi = held;
      for (const auto& op : round_ops) {
        if (op->acked()) continue;
        Op as_if = *op;
        if (op->kind == Kind::kDecide) as_if.held = op->amount;  // an ALLOW holds all it asks
        auto [da, dh] = effect(as_if);
        (da < 0 ? a_lo : a_hi) += da;
        (dh < 0 ? h_lo : h_hi) += dh;
      }
      EXPECT_TRUE(at_restart.first >= a_lo && at_restart.first <= a_hi)
          << "available " << at_restart.first << " outside [" << a_lo << ", " << a_hi << "]";
      EXPECT_TRUE(at_restart.second >= h_lo && at_restart.second <= h_hi)
          << "held " << at_restart.second << " outside [" << h_lo << ", " << h_hi << "]";
    }

    // Each in-flight op either committed before the kill or did not: closes are looked up,
    // opens re-sent (a replay means it had committed; otherwise it runs now, once).
    Failures resolve_failures;
    std::string resolved;  // how each in-flight op was resolved, for a failure's message
    for (const auto& op : round_ops) {
      if (op->acked()) continue;
      if (opens(op->kind)) {
        Response r = send(*client_, *op);
        if (r.status < 200 || r.status >= 300) {
          resolve_failures.add("in-flight " + op->describe() + " re-sent: " + r.describe());
          continue;
        }
        op->at_kill = r.header("Idempotent-Replay") == "true";
        resolved += "\n  " + op->describe() + " re-sent: " + std::to_string(r.status) +
                    (op->at_kill ? " replay " : " ran now ") + r.body;
        op->committed = true;
        op->answer = r.json();
        read_answer(*op, op->answer);
        continue;
      }
      const bool ledger_hold = op->target->kind == Kind::kHold;
      Response r = master("GET", ledger_hold ? "/v1/ledger/holds/" + op->target->id
                                             : "/v1/transactions/" + op->target->id);
      const std::string status = str_at(r.json(), "status");
      const std::string pending = ledger_hold ? "pending" : "PENDING";
      const std::string closed = op->kind == Kind::kPost      ? "posted"
                                 : op->kind == Kind::kVoid    ? "voided"
                                 : op->kind == Kind::kConfirm ? "CONFIRMED"
                                                              : "CANCELLED";
      if (status != pending && status != closed) {
        resolve_failures.add("in-flight " + op->describe() + ": its target is " + r.describe());
        continue;
      }
      op->at_kill = op->committed = status == closed;
      resolved += "\n  " + op->describe() + ": target " + status;
      if (op->committed) op->target->closed_by = op.get();
      if (op->kind == Kind::kPost && op->committed &&
          str_at(r.json(), "posted_amount") != std::to_string(op->amount)) {
        resolve_failures.add("in-flight " + op->describe() + " posted " + r.body);
      }
    }
    for (const auto& op : round_ops) {
      if (op->acked() && !opens(op->kind)) op->target->closed_by = op.get();
    }
    report(resolve_failures, "in-flight ops unresolved");
    int in_flight_committed = 0;
    for (const auto& op : round_ops) in_flight_committed += !op->acked() && op->at_kill;
    RecordProperty("round" + std::to_string(round) + "_in_flight_committed", in_flight_committed);

    // Exactly what committed before the kill.
    EXPECT_EQ(at_restart, model([](const Op& op) { return op.at_kill; }))
        << "(available, held) right after the restart; the in-flight ops:" << resolved;

    // Every acknowledged open answers its retry with its first answer.
    std::vector<OpPtr> acked_opens;
    for (const auto& op : round_ops) {
      if (op->acked() && opens(op->kind)) acked_opens.push_back(op);
    }
    Failures replay_failures;
    for_each_parallel(acked_opens, [&](HttpClient& c, Op& op) {
      Response r = send(c, op);
      const bool replay = r.header("Idempotent-Replay") == "true";
      if (op.kind == Kind::kDecide) {
        if (r.status != 200 || !replay || str_at(r.json(), "id") != op.id) {
          replay_failures.add("acknowledged " + op.describe() + " (" + op.id +
                              ") retried: " + r.describe());
        }
        return;
      }
      if (r.status != op.status || !replay || r.json() != op.answer) {
        replay_failures.add("acknowledged " + op.describe() + " answered " +
                            json::serialize(op.answer) + ", retried: " + r.describe());
      }
    });
    report(replay_failures, "acknowledged ops not replayed");

    // Every hold and decision ever committed is in the state its closes say.
    std::vector<OpPtr> targets;
    for (const auto& op : history_) {
      if (op->committed && (op->kind == Kind::kHold || op->kind == Kind::kDecide)) {
        targets.push_back(op);
      }
    }
    Failures state_failures;
    for_each_parallel(targets, [&](HttpClient& c, Op& op) {
      const Kind closed = op.closed_by ? op.closed_by->kind : Kind::kMint;
      if (op.kind == Kind::kDecide) {
        const std::string want = op.held == 0               ? "DENIED"
                                 : closed == Kind::kConfirm ? "CONFIRMED"
                                 : closed == Kind::kCancel  ? "CANCELLED"
                                                            : "PENDING";
        Response r = c.request("GET", "/v1/transactions/" + op.id, {}, master_headers());
        if (r.status != 200 || str_at(r.json(), "status") != want) {
          state_failures.add(op.describe() + ": want " + want + ", got " + r.describe());
        }
        if (op.held == 0) return;
        const std::string hold_want = closed == Kind::kConfirm  ? "posted"
                                      : closed == Kind::kCancel ? "voided"
                                                                : "pending";
        Response h = c.request("GET", "/v1/ledger/holds/" + op.hold_id, {}, master_headers());
        if (h.status != 200 || str_at(h.json(), "status") != hold_want ||
            str_at(h.json(), "tx_id") != op.id) {
          state_failures.add(op.describe() + ": its hold should be " + hold_want + ", got " +
                             h.describe());
        }
        return;
      }
      const std::string want = closed == Kind::kPost   ? "posted"
                               : closed == Kind::kVoid ? "voided"
                                                       : "pending";
      Response r = c.request("GET", "/v1/ledger/holds/" + op.id, {}, master_headers());
      const bool amount_ok = closed != Kind::kPost || str_at(r.json(), "posted_amount") ==
                                                          std::to_string(op.closed_by->amount);
      if (r.status != 200 || str_at(r.json(), "status") != want || !amount_ok) {
        state_failures.add(op.describe() + ": want " + want + ", got " + r.describe());
      }
    });
    report(state_failures, "holds or transactions in the wrong state");

    // Now every open of the round has committed once: that is the state the next kill starts from.
    EXPECT_EQ(read_balance(*client_), model([](const Op& op) { return op.committed; }))
        << "(available, held) after the in-flight opens were re-sent";
    for (const auto& op : round_ops) op->at_kill = op->committed;
  }

  std::string owner_;
  std::string token_;
  std::vector<OpPtr> history_;
};

TEST_F(LedgerCrashTest, Kill9UnderMixedLoadLosesNoAcknowledgedOperation) {
  const std::uint64_t seed =
      static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  RecordProperty("seed", std::to_string(seed));
  SCOPED_TRACE("seed " + std::to_string(seed));
  for (int round = 0; round < static_cast<int>(std::size(kLoadBeforeKillMs)); ++round) {
    crash_round(round, seed);
    if (HasFatalFailure()) return;
  }
  CliResult r = warden_->cli({"ledger", "reconcile"});
  EXPECT_EQ(r.exit_code, 0) << r.output();
  // Lots: the seed and every mint. Holds: the ledger's and the ALLOW decisions'.
  std::size_t lots = 0, holds = 0, pending = 0;
  for (const auto& op : history_) {
    if (!op->committed) continue;
    if (op->kind == Kind::kMint) ++lots;
    const bool is_hold = op->kind == Kind::kHold || (op->kind == Kind::kDecide && op->held > 0);
    if (is_hold) ++holds;
    if (is_hold && op->closed_by == nullptr) ++pending;
  }
  const std::string lots_text = "ok: " + std::to_string(lots) + " lots, ";
  const std::string holds_text =
      " entries, " + std::to_string(holds) + " holds (" + std::to_string(pending) + " pending)";
  EXPECT_EQ(r.stdout_text.rfind(lots_text, 0), 0u) << r.output();
  EXPECT_NE(r.stdout_text.find(holds_text), std::string::npos) << holds_text << "\n" << r.output();
}

}  // namespace
}  // namespace warden::testing
