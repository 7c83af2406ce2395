// Automation matching and compilation in process (docs/benchmarks.md, "Automation matching"):
// events matched per second against 1,000 enabled automations (AutomationEngine::matching: the
// shortlist by event kind, then each candidate's CEL filter), and compile() latency of a typical
// spec (p50, p95, p99). Each against a baseline measured in the same run: matching against a
// plain scan of every automation that binds the event's variables per filter (what matching
// would cost without the kind index and the once-per-event variables), compiling against
// parsing and canonically serialising the same spec text (the floor any save pays).
//
//   build/bench/automation_bench [seconds, default 3]
//
// The automations: 100 event kinds, 10 automations per kind, each with a filter over the
// event's attributes and subject, a {{event.subject}} target and one action. Events cycle over
// the kinds with varying amounts, so about half of each kind's filters hold.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "automation/engine.h"
#include "automation/ir.h"
#include "expr/expr.h"
#include "automation/spec.h"
#include "core/json.h"
#include "store/batch_writer.h"
#include "store/sqlite/sqlite_store.h"

namespace {

using namespace warden;
using namespace warden::automation;
namespace json = boost::json;
using Steady = std::chrono::steady_clock;

constexpr int kKinds = 100;
constexpr int kPerKind = 10;

void die(const Status& s, const char* what) {
  if (s.ok()) return;
  std::fprintf(stderr, "%s: %s\n", what, s.to_string().c_str());
  std::exit(1);
}

// A host with one verb and 100 agents, answering without doing anything.
class NullDriver final : public Driver {
 public:
  NullDriver() {
    info_.id = "bench";
    info_.name = "bench";
    info_.verbs.push_back(VerbInfo{"agent", "notify", json::object{{"type", "object"}}, false,
                                   "", {}});
    for (int i = 0; i < 100; ++i) {
      items_.push_back(InventoryItem{fmt::format("agent-{:03}", i), "", "agent", {}});
    }
  }
  const HostInfo& info() const override { return info_; }
  Result<std::vector<InventoryItem>> inventory(bool) override { return items_; }
  Result<DryRun> dry_run(const ActionCall&) override { return DryRun{}; }
  Result<ExecuteResult> execute(const ActionCall&) override { return ExecuteResult{true, {}, ""}; }

 private:
  HostInfo info_;
  std::vector<InventoryItem> items_;
};

std::string spec_text(int kind, int n) {
  return fmt::format(
      R"J({{"name":"a{0}-{1}","priority":{1},
          "trigger_group":{{"triggers":[{{"kind":"event","event":"spend.k{0}",
            "filter":"event.attributes.amount > {2} && event.subject.startsWith('agent-')"}}]}},
          "conditions":["event.attributes.amount < 1000000"],
          "targets":[{{"host":"bench","selector":"{{{{event.subject}}}}"}}],
          "actions":[{{"host":"bench","capability":"agent","verb":"notify",
                       "params":{{"note":"{{{{event.attributes.amount}}}}"}}}}],
          "suppression_window":"5m"}})J",
      kind, n, n * 100);
}

double percentile(std::vector<double>& v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * v.size()))];
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 3.0;
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / fmt::format("automation_bench_{}", ::getpid());
  std::filesystem::create_directories(dir);
  SystemClock clock;
  IdGenerator ids(clock);
  auto opened = store::SqliteStore::open(
      (dir / "bench.db").string(),
      {.create_if_missing = true, .durability = store::Durability::kNormal});
  die(opened.status(), "open");
  std::unique_ptr<store::SqliteStore> db = std::move(*opened);
  store::BatchWriter writer(*db, {});
  DriverRegistry drivers;
  drivers.add(std::make_unique<NullDriver>());
  Inventory inventory(drivers, clock);
  die(inventory.refresh("bench", true).status(), "inventory");
  const std::vector<HostInfo> hosts = drivers.hosts();

  // Compile latency of a typical spec (validation + compilation, as a save does).
  std::vector<double> compile_us;
  for (int i = 0; i < 2000; ++i) {
    const json::value doc = json::parse(spec_text(i % kKinds, i % kPerKind));
    const auto t0 = Steady::now();
    const SpecCheck check = validate_spec(doc, &hosts, validate_params);
    auto compiled = compile(check.normalized, inventory.all(), clock.now_ms());
    const auto t1 = Steady::now();
    die(compiled.status(), "compile");
    compile_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }

  for (int k = 0; k < kKinds; ++k) {
    for (int n = 0; n < kPerKind; ++n) {
      const SpecCheck check = validate_spec(json::parse(spec_text(k, n)), &hosts, validate_params);
      store::AutomationRow row;
      row.id = ids.next();
      row.name = fmt::format("a{}-{}", k, n);
      row.spec = canonical_json(check.normalized);
      row.ir = "{}";
      row.hash = check.hash;
      row.enabled = true;
      row.priority = n;
      die(writer.run([row](store::WriteTxn& t) { return t.insert_automation(row); }), "save");
    }
  }
  AutomationEngine engine(*db, writer, drivers, inventory, clock, ids,
                          EngineOptions{.scheduler_period_ms = 0});
  die(engine.reload(), "reload");

  std::vector<Event> events;
  for (int i = 0; i < 1000; ++i) {
    events.push_back(make_warden_event(fmt::format("spend.k{}", i % kKinds),
                                       fmt::format("agent-{:03}", i % 100),
                                       json::object{{"amount", (i * 37) % 1000}}, clock, ids));
  }
  std::size_t matched = 0;
  std::size_t n = 0;
  const auto start = Steady::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  while (Steady::now() < end) {
    for (const Event& e : events) matched += engine.matching(e).size();
    n += events.size();
  }
  const double elapsed = std::chrono::duration<double>(Steady::now() - start).count();

  // Baseline: the same 1,000 automations compiled, every one looked at for every event, the
  // event's variables bound again for each filter that runs.
  std::vector<CompiledAutomation> all;
  for (int k = 0; k < kKinds; ++k) {
    for (int j = 0; j < kPerKind; ++j) {
      const SpecCheck check = validate_spec(json::parse(spec_text(k, j)), &hosts, validate_params);
      auto c = compile(check.normalized, inventory.all(), clock.now_ms());
      die(c.status(), "compile baseline");
      all.push_back(std::move(*c));
    }
  }
  std::size_t scan_matched = 0;
  std::size_t scan_n = 0;
  const auto scan_start = Steady::now();
  const auto scan_end = scan_start + std::chrono::duration<double>(seconds);
  while (Steady::now() < scan_end) {
    for (const Event& e : events) {
      for (const CompiledAutomation& a : all) {
        for (const CompiledTrigger& t : a.triggers) {
          if (t.event != e.kind) continue;
          bool hit = !t.filter;
          if (t.filter) {
            expr::Activation act(*t.filter);
            die(bind_automation_vars(act, &e, nullptr, clock.now_ms()), "bind");
            const expr::Value v = t.filter->eval(act);
            hit = expr::to_json(v).is_bool() && expr::to_json(v).as_bool();
          }
          if (hit) {
            ++scan_matched;
            break;
          }
        }
      }
    }
    scan_n += events.size();
  }
  const double scan_elapsed = std::chrono::duration<double>(Steady::now() - scan_start).count();

  // Baseline for compile: parse the text and serialise it canonically.
  std::vector<double> parse_us;
  for (int i = 0; i < 2000; ++i) {
    const std::string text = spec_text(i % kKinds, i % kPerKind);
    const auto t0 = Steady::now();
    const json::value doc = json::parse(text);
    const std::string canonical = canonical_json(doc.as_object());
    const auto t1 = Steady::now();
    if (canonical.empty()) std::exit(1);
    parse_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  std::printf("automations: %d enabled (%d kinds x %d)\n", kKinds * kPerKind, kKinds, kPerKind);
  std::printf("matching: %.0f events/s (%zu events, %.2f automations fired per event)\n",
              n / elapsed, n, static_cast<double>(matched) / n);
  std::printf("baseline scan: %.0f events/s (%.2f automations fired per event)\n",
              scan_n / scan_elapsed, static_cast<double>(scan_matched) / scan_n);
  std::printf("matching / baseline scan: %.1fx\n", (n / elapsed) / (scan_n / scan_elapsed));
  const double c95 = percentile(compile_us, 0.95);
  std::printf("compile (validate + compile): p50 %.1f us, p95 %.1f us, p99 %.1f us\n",
              percentile(compile_us, 0.50), c95, percentile(compile_us, 0.99));
  const double p95 = percentile(parse_us, 0.95);
  std::printf("baseline parse + canonical JSON: p50 %.1f us, p95 %.1f us\n",
              percentile(parse_us, 0.50), p95);
  std::printf("compile p95 / baseline p95: %.1fx\n", c95 / p95);
  std::filesystem::remove_all(dir);
  return 0;
}
