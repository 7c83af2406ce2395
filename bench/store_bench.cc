// Durable decision writes on the embedded store: one transactions row plus its TX_DECIDED audit
// row per decision, committed in batches of 1 (every decision its own SQLite transaction) and
// of 32 and 128 (group commit). Prints µs per decision and the group-commit speed-up against
// the batch-of-1 baseline measured in the same run.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <string>

#include "core/clock.h"
#include "core/ids.h"
#include "store/sqlite/sqlite_store.h"

namespace {

using namespace warden;
using namespace warden::store;

constexpr std::int64_t kNow = 1'790'000'000;

struct Fixture {
  std::filesystem::path dir;
  std::unique_ptr<SqliteStore> store;
  SystemClock clock;
  IdGenerator ids{clock};
  std::string agent_id;
  std::string session_id;

  Fixture() {
    dir = std::filesystem::temp_directory_path() /
          ("warden-store-bench-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    auto opened = SqliteStore::open((dir / "bench.db").string(), {.create_if_missing = true});
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

Fixture& fixture() {
  static Fixture f;
  return f;
}

std::map<int, double> g_us_per_decision;

void BM_DecisionWrites(benchmark::State& state) {
  Fixture& f = fixture();
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
BENCHMARK(BM_DecisionWrites)->Arg(1)->Arg(32)->Arg(128)->UseRealTime()->Unit(benchmark::kMicrosecond);

// Collects µs per decision by batch size for the ratio printed at the end.
class Collector : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const auto& run : runs) {
      if (run.error_occurred || run.iterations == 0) continue;
      const auto it = run.counters.find("us_per_decision");
      if (it == run.counters.end()) continue;
      const std::string name = run.benchmark_name();
      const int batch = std::stoi(name.substr(name.find('/') + 1));  // "BM_.../32/real_time"
      g_us_per_decision[batch] = it->second.value * 1e6;
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  Collector reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  if (g_us_per_decision.count(1) == 0) return 0;
  const double alone = g_us_per_decision[1];
  std::printf("durable decision writes (transactions row + audit row), µs per decision:\n");
  for (const auto& [batch, us] : g_us_per_decision) {
    std::printf("  batch %4d: %8.2f µs  (%.1fx the batch-of-1 baseline)\n", batch, us, alone / us);
  }
  return 0;
}
