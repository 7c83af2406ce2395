// Bytes per decision: writes N durable ALLOW decisions into a new SQLite data file through the
// path a decision takes in the daemon (DecisionService::submit: engine decision and reservation,
// the transaction row and its TX_DECIDED audit row written by the group-commit BatchWriter over
// SqliteStore at full durability), checkpoints the WAL into the file, and prints the file size
// divided by N, the share of each table and index (SQLite's dbstat, through database_stats() as
// `warden db stats` reads it), and the ratio against the 400-byte target of issue 14.
//
// Each decision is what the HTTP route submits for a wallet TRANSFER by an agent's session (the
// mapping and the submission are built as routes_transactions.cc builds them): 100 agents, one
// session each, a recipient out of 1,000, an amount between 0.001 and 1 ETH in wei, half of
// the requests with an idempotency key, a client address and a correlation id per request. One
// global SPENDING_LIMIT policy with an instant tier and a rolling day and year that no agent
// fills, so every decision is an INSTANT allow that reserves (and is left unsettled, as in the
// measurement of issue 14).
//
// Usage: warden_disk_bench [--decisions N] [--dir DIR] [--keep]
//   N defaults to 1,000,000; DIR to $TMPDIR/warden_disk_bench (emptied first, removed after
//   unless --keep).
#include <fmt/format.h>

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/ids.h"
#include "core/json.h"
#include "decisions/decisions.h"
#include "engine/request_mapping.h"
#include "policy/policy.h"
#include "store/batch_writer.h"
#include "store/sqlite/maintenance.h"
#include "store/sqlite/sqlite_store.h"

namespace {

using namespace warden;
namespace json = boost::json;
namespace fs = std::filesystem;

constexpr std::int64_t kDecisionsDefault = 1'000'000;
constexpr double kTargetBytesPerDecision = 400;  // issue 14
constexpr int kAgents = 100;
constexpr int kAddresses = 1000;
constexpr std::uint64_t kAmountMinWei = 1'000'000'000'000'000;     // 0.001 ETH
constexpr std::uint64_t kAmountSpanWei = 999'000'000'000'000'000;  // up to 1 ETH
constexpr std::size_t kInFlightMax = 4096;            // submissions waiting for their commit
constexpr std::int64_t kStartMs = 1'790'000'000'000;  // 2026-09-21T22:13:20Z
constexpr std::int64_t kMsPerDecision = 1;            // 1,000 decisions a second
constexpr std::int64_t kProgressEvery = 100'000;
constexpr std::uint64_t kSeed = 0x5eed'2026'1130;
constexpr std::string_view kChain = "ethereum";
constexpr std::string_view kNetwork = "mainnet";
constexpr std::string_view kClientAddress = "203.0.113.7";
constexpr std::string_view kPolicyRules =
    R"({"instant_max":"1000000000000000000000","windows":[)"
    R"({"duration":"24h","max":"1000000000000000000000000000"},)"
    R"({"duration":"365d","max":"1000000000000000000000000000"}]})";

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "warden_disk_bench: %s\n", what.c_str());
  std::exit(1);
}

void check(const Status& s, std::string_view what) {
  if (!s.ok()) die(fmt::format("{}: {}", what, s.to_string()));
}

struct Args {
  std::int64_t decisions = kDecisionsDefault;
  fs::path dir;
  bool keep = false;
};

Args parse_args(int argc, char** argv) {
  Args a;
  const char* tmp = std::getenv("TMPDIR");
  a.dir = fs::path(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") / "warden_disk_bench";
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--decisions" && i + 1 < argc) {
      a.decisions = std::strtoll(argv[++i], nullptr, 10);
      if (a.decisions <= 0) die("--decisions wants a positive count");
    } else if (arg == "--dir" && i + 1 < argc) {
      a.dir = argv[++i];
    } else if (arg == "--keep") {
      a.keep = true;
    } else {
      die(
          fmt::format("unknown argument '{}' (usage: warden_disk_bench [--decisions N] "
                      "[--dir DIR] [--keep])",
                      arg));
    }
  }
  return a;
}

struct Fixed {
  std::vector<store::AgentRow> agents;
  std::vector<store::SessionRow> sessions;
  std::vector<std::string> addresses;
};

// Agents, their sessions and the policy, written as the API writes them.
Fixed write_fixed(store::Store& st, IdGenerator& ids, std::int64_t now) {
  Fixed f;
  std::mt19937_64 rng(kSeed);
  for (int i = 0; i < kAgents; ++i) {
    store::AgentRow a;
    a.id = ids.next();
    a.name = fmt::format("agent-{}", i);
    a.chain = kChain;
    a.network = kNetwork;
    a.status = "ACTIVE";
    a.created_at = a.updated_at = now;
    store::SessionRow s;
    s.id = ids.next();
    s.agent_id = a.id;
    s.token_hash = fmt::format("{:016x}{:016x}{:016x}{:016x}", rng(), rng(), rng(), rng());
    s.created_at = now;
    s.expires_at = s.absolute_expires_at = now + 30 * 86'400;
    f.agents.push_back(std::move(a));
    f.sessions.push_back(std::move(s));
  }
  for (int i = 0; i < kAddresses; ++i) {
    f.addresses.push_back(
        fmt::format("0x{:016x}{:016x}{:08x}", rng(), rng(), static_cast<std::uint32_t>(rng())));
  }
  auto rules = parse_json(kPolicyRules);
  if (!rules.ok()) die("policy rules: " + rules.status().to_string());
  policy::PolicySpec spec{std::nullopt, "SPENDING_LIMIT", *rules, 0, true};
  const policy::Validation v = policy::validate(spec);
  if (v.has_error()) die("the policy does not validate");
  store::PolicyRow p;
  p.id = ids.next();
  p.type = spec.type;
  p.rules = canonical_json(v.normalized_rules);
  p.hash = v.hash;
  p.created_at = p.updated_at = now;
  check(st.write([&](store::WriteTxn& t) -> Status {
    for (const auto& a : f.agents) WARDEN_RETURN_IF_ERROR(t.insert_agent(a));
    for (const auto& s : f.sessions) WARDEN_RETURN_IF_ERROR(t.insert_session(s));
    return t.insert_policy(p);
  }),
        "setup");
  return f;
}

// Bounds the submissions waiting for their commit, as a server's connections do.
class InFlight {
 public:
  void acquire() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return count_ < kInFlightMax; });
    ++count_;
  }
  void release(const Result<decisions::Answer>& r) {
    std::lock_guard lock(mu_);
    --count_;
    if (!r.ok()) {
      failed_ = r.status().to_string();
    } else if (r->body.at("status").as_string() != "PENDING") {
      failed_ = "a decision was not an INSTANT allow: " + json::serialize(r->body);
    }
    cv_.notify_all();
  }
  void drain() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return count_ == 0; });
  }
  std::string failed() {
    std::lock_guard lock(mu_);
    return failed_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::size_t count_ = 0;
  std::string failed_;
};

void submit_all(const Args& args, store::Store& st, FakeClock& clock, IdGenerator& ids,
                const Fixed& f) {
  store::BatchWriter writer(st, store::BatchOptions{});
  decisions::DecisionOptions options;
  options.start_sweeper = false;  // nothing expires: the decisions stay as written
  decisions::DecisionService service(st, writer, clock, ids, options, nullptr);
  check(service.start(), "start");
  std::mt19937_64 rng(kSeed + 1);
  InFlight in_flight;
  const auto t0 = std::chrono::steady_clock::now();
  for (std::int64_t i = 0; i < args.decisions; ++i) {
    clock.advance_ms(kMsPerDecision);
    const int agent = static_cast<int>(rng() % kAgents);
    json::object body{{"type", "TRANSFER"},
                      {"to", f.addresses[rng() % kAddresses]},
                      {"amount", std::to_string(kAmountMinWei + rng() % kAmountSpanWei)}};
    if (rng() % 2 == 0) body["idempotency_key"] = fmt::format("order-{:016x}", rng());
    auto mapped = engine::map_wallet_request(body, {std::string(kChain), std::string(kNetwork)});
    if (!mapped.ok()) die("mapping: " + mapped.status().to_string());
    // routes_transactions.cc: submission_of(), then what submit() sets
    decisions::Submission sub = decisions::submission_of(std::move(*mapped), body);
    sub.agent_id = f.agents[agent].id;
    sub.session_id = f.sessions[agent].id;
    decisions::Actor actor;
    actor.agent_id = sub.agent_id;
    actor.session_id = sub.session_id;
    actor.ip_address = kClientAddress;
    actor.correlation_id = ids.next();  // the server's own when the client sends none
    in_flight.acquire();
    service.submit(std::move(sub), actor,
                   [&in_flight](Result<decisions::Answer> r) { in_flight.release(r); });
    if ((i + 1) % kProgressEvery == 0) {
      std::fprintf(stderr, "  %lld decisions submitted\n", static_cast<long long>(i + 1));
    }
  }
  in_flight.drain();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (const std::string failed = in_flight.failed(); !failed.empty()) die(failed);
  std::printf("wrote %lld decisions in %.1f s (%.0f decisions/s, in process)\n",
              static_cast<long long>(args.decisions), seconds,
              static_cast<double>(args.decisions) / seconds);
  service.stop();
  writer.stop();
}

// The rows of a table database_stats() counted; -1 when it has no such table.
std::int64_t rows_of(const store::sqlite::DatabaseStats& stats, std::string_view table) {
  for (const store::sqlite::ObjectStats& o : stats.objects) {
    if (o.kind == "table" && o.name == table) return o.rows.value_or(-1);
  }
  return -1;
}

// After the store's own checkpoint and close: sizes and row counts as `warden db stats` reads
// them.
void report(const Args& args, const fs::path& db) {
  auto stats = store::sqlite::database_stats(db.string());
  if (!stats.ok()) die("database stats: " + stats.status().to_string());
  const std::int64_t transactions = rows_of(*stats, "transactions");
  const std::int64_t audit_rows = rows_of(*stats, "audit_log");
  if (transactions != args.decisions || audit_rows != args.decisions) {
    die(fmt::format("expected {} transactions and audit rows, found {} and {}", args.decisions,
                    transactions, audit_rows));
  }
  const std::vector<store::sqlite::ObjectStats>& usage = stats->objects;
  const auto file_bytes = static_cast<std::int64_t>(fs::file_size(db));
  const std::int64_t wal_bytes = store::sqlite::file_size_or_zero(db.string() + "-wal");
  const double n = static_cast<double>(args.decisions);
  const double per_decision = static_cast<double>(file_bytes) / n;
  std::printf("file %lld bytes after the checkpoint (WAL %lld bytes), %lld decisions\n",
              static_cast<long long>(file_bytes), static_cast<long long>(wal_bytes),
              static_cast<long long>(args.decisions));
  std::printf("bytes per decision: %.1f (target %.0f: %.2fx the target)\n", per_decision,
              kTargetBytesPerDecision, per_decision / kTargetBytesPerDecision);
  // Tables with their indexes, then each b-tree; what is under 0.5 B per decision is summed.
  std::map<std::string, std::int64_t> per_table;
  for (const store::sqlite::ObjectStats& u : usage) per_table[u.table] += u.bytes;
  std::vector<std::pair<std::string, std::int64_t>> tables(per_table.begin(), per_table.end());
  std::sort(tables.begin(), tables.end(), [](auto& a, auto& b) { return a.second > b.second; });
  std::printf("\n%-44s %12s %10s\n", "table (with its indexes)", "bytes", "B/decision");
  for (const auto& [name, bytes] : tables) {
    if (static_cast<double>(bytes) / n < 0.5) continue;
    std::printf("%-44s %12lld %10.1f\n", name.c_str(), static_cast<long long>(bytes),
                static_cast<double>(bytes) / n);
  }
  std::printf("\n%-44s %12s %10s %10s\n", "b-tree", "bytes", "B/decision", "payload/d");
  std::int64_t small = 0;
  for (const store::sqlite::ObjectStats& u : usage) {
    if (static_cast<double>(u.bytes) / n < 0.5) {
      small += u.bytes;
      continue;
    }
    std::printf("%-44s %12lld %10.1f %10.1f\n",
                (u.kind == "index" ? "  " + u.name : u.name).c_str(),
                static_cast<long long>(u.bytes), static_cast<double>(u.bytes) / n,
                static_cast<double>(u.payload) / n);
  }
  std::printf("%-44s %12lld %10.1f\n", "(the rest)", static_cast<long long>(small),
              static_cast<double>(small) / n);
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse_args(argc, argv);
  std::error_code ec;
  fs::remove_all(args.dir, ec);
  fs::create_directories(args.dir);
  const fs::path db = args.dir / "warden.db";
  FakeClock clock(kStartMs);
  IdGenerator ids(clock);
  {
    auto opened =
        store::SqliteStore::open(db.string(), {.create_if_missing = true, .clock = &clock});
    if (!opened.ok()) die("open: " + opened.status().to_string());
    std::unique_ptr<store::SqliteStore> st = std::move(*opened);
    const Fixed f = write_fixed(*st, ids, kStartMs / 1000);
    submit_all(args, *st, clock, ids, f);
    check(st->checkpoint(), "checkpoint");
  }
  report(args, db);
  if (!args.keep) fs::remove_all(args.dir, ec);
  return 0;
}
