// Durable decision writes on the embedded store: one transactions row plus its TX_DECIDED audit
// row per decision, committed in batches of 1 (every decision its own SQLite transaction) and
// of 32 and 128 (group commit), under each durability setting (full: the log is fsynced at
// every commit; normal: only around checkpoints). Prints µs per decision, the group-commit
// speed-up against batch 1 and the cost of full against normal, all measured in the same run.
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "core/clock.h"
#include "core/ids.h"
#include "store/sqlite/sqlite_store.h"

namespace {

using namespace warden;
using namespace warden::store;

constexpr std::int64_t kNow = 1'790'000'000;

std::string durability_name(Durability d) { return d == Durability::kFull ? "full" : "normal"; }

struct Fixture {
  std::filesystem::path dir;
  std::unique_ptr<SqliteStore> store;
  SystemClock clock;
  IdGenerator ids{clock};
  std::string agent_id;
  std::string session_id;

  explicit Fixture(Durability durability) {
    dir = std::filesystem::temp_directory_path() /
          ("warden-store-bench-" + std::to_string(::getpid()) + "-" + durability_name(durability));
    std::filesystem::create_directories(dir);
    auto opened = SqliteStore::open((dir / "bench.db").string(),
                                    {.create_if_missing = true, .durability = durability});
    if (!opened.ok()) {
      std::fprintf(stderr, "open: %s\n", opened.status().to_string().c_str());
      std::exit(1);
    }
    store = std::move(*opened);
    agent_id = ids.next();
    session_id = ids.next();
    AgentRow a;
    a.id = agent_id;
    a.name = "bench";
    a.chain = "ethereum";
    a.network = "mainnet";
    a.status = "ACTIVE";
    a.created_at = a.updated_at = kNow;
    SessionRow s;
    s.id = session_id;
    s.agent_id = agent_id;
    s.token_hash = std::string(64, 'a');
    s.expires_at = s.absolute_expires_at = kNow + 3600;
    s.created_at = kNow;
    Status st = store->write([&](WriteTxn& t) -> Status {
      WARDEN_RETURN_IF_ERROR(t.insert_agent(a));
      return t.insert_session(s);
    });
    if (!st.ok()) {
      std::fprintf(stderr, "setup: %s\n", st.to_string().c_str());
      std::exit(1);
    }
  }
  ~Fixture() {
    store.reset();
    std::filesystem::remove_all(dir);
  }

  // What POST /v1/transactions writes for an INSTANT allow.
  Status decide_one(WriteTxn& t) {
    TransactionRow r;
    r.id = ids.next();
    r.agent_id = agent_id;
    r.session_id = session_id;
    r.chain = "ethereum";
    r.type = "TRANSFER";
    r.amount = "1";
    r.to_address = "0x00000000000000000000000000000000000000aa";
    r.status = "PENDING";
    r.tier = "INSTANT";
    r.created_at = r.updated_at = kNow;
    r.reserved_amount = "1";
    r.expires_at = kNow + 900;
    r.metadata = R"({"charges":[{"meter":"p1/w0","kind":"amount","amount":"1","ts_ms":1790000000000}],)"
                 R"("effect":"ALLOW","reasons":[]})";
    WARDEN_RETURN_IF_ERROR(t.insert_transaction(r));
    AuditEvent e;
    e.timestamp = kNow;
    e.event_type = "TX_DECIDED";
    e.actor = "session:" + session_id;
    e.agent_id = agent_id;
    e.session_id = session_id;
    e.tx_id = r.id;
    e.ip_address = "127.0.0.1";
    e.correlation_id = r.id;
    e.details = R"({"amount":"1","effect":"ALLOW","reasons":[],"status":"PENDING","tier":"INSTANT"})";
    return t.append_audit(e).status();
  }
};

Fixture& fixture(Durability durability) {
  static std::map<Durability, std::unique_ptr<Fixture>> fixtures;  // one file per setting
  auto& f = fixtures[durability];
  if (!f) f = std::make_unique<Fixture>(durability);
  return *f;
}

// µs per decision by durability and batch size, for the summary printed at the end.
std::map<std::pair<std::string, int>, double> g_us_per_decision;

void decision_writes(benchmark::State& state, Durability durability) {
  Fixture& f = fixture(durability);
  const int batch = static_cast<int>(state.range(0));
  for (auto _ : state) {
    Status s = f.store->write([&](WriteTxn& t) -> Status {
      for (int i = 0; i < batch; ++i) WARDEN_RETURN_IF_ERROR(f.decide_one(t));
      return Status();
    });
    if (!s.ok()) state.SkipWithError(s.to_string().c_str());
  }
  state.SetItemsProcessed(state.iterations() * batch);
  state.counters["us_per_decision"] = benchmark::Counter(
      static_cast<double>(state.iterations() * batch),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

class Collector : public benchmark::ConsoleReporter {
 public:
  // Colours only on a terminal, so output piped to a file (scripts/bench.sh) stays plain.
  Collector() : ConsoleReporter(::isatty(::fileno(stdout)) ? OO_Defaults : OO_Tabular) {}
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const auto& run : runs) {
      if (run.error_occurred || run.iterations == 0) continue;
      const auto it = run.counters.find("us_per_decision");
      if (it == run.counters.end()) continue;
      // "decision_writes/full/32/real_time"
      const std::string name = run.benchmark_name();
      const auto first = name.find('/');
      const auto second = name.find('/', first + 1);
      const std::string durability = name.substr(first + 1, second - first - 1);
      const int batch = std::stoi(name.substr(second + 1));
      g_us_per_decision[{durability, batch}] = it->second.value * 1e6;
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  for (Durability d : {Durability::kFull, Durability::kNormal}) {
    benchmark::RegisterBenchmark(("decision_writes/" + durability_name(d)).c_str(), decision_writes,
                                 d)
        ->Arg(1)
        ->Arg(32)
        ->Arg(128)
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
  }
  benchmark::Initialize(&argc, argv);
  Collector reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  std::printf("durable decision writes (transactions row + audit row), µs per decision:\n");
  for (const std::string durability : {"full", "normal"}) {
    const auto alone = g_us_per_decision.find({durability, 1});
    for (const auto& [key, us] : g_us_per_decision) {
      if (key.first != durability) continue;
      std::printf("  %-6s batch %4d: %8.2f µs", durability.c_str(), key.second, us);
      if (alone != g_us_per_decision.end()) {
        std::printf("  (%.1fx the batch-of-1 baseline)", alone->second / us);
      }
      std::printf("\n");
    }
  }
  for (const auto& [key, us] : g_us_per_decision) {
    if (key.first != "full") continue;
    const auto normal = g_us_per_decision.find({"normal", key.second});
    if (normal == g_us_per_decision.end()) continue;
    std::printf("  batch %4d: full/normal = %.2f\n", key.second, us / normal->second);
  }
  return 0;
}
