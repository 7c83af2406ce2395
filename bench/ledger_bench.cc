// Durable ledger operations in process: debits (one owner, and 10,000 owners) and hold + post
// pairs through the LedgerService (balances reserved in memory, entries, op rows and audit rows
// group-committed by the writer, every answer after its commit, full durability), against a
// baseline measured in the same run: the ledger done in the database alone, one SQLite
// transaction per debit that reads the owner's balance from the lot_balances view and writes
// its entries (what a ledger without the in-memory book does).
//
// One issuing thread keeps up to 8,192 operations in flight (like many clients); a completion
// only decrements a counter, and the post of a hold is issued from the issuing thread, as a
// server's I/O thread would, never from the writer's. Each case also prints, on stderr, the CPU
// each thread used per operation and the writer's batches.
//
//   build/bench/ledger_bench [seconds per case, default 3] [cases: one,many,pairs,baseline]
//   WARDEN_BENCH_BATCH=N   the writer's batch_size_max (default: BatchOptions{})
//   WARDEN_BENCH_KEEP=1    keep the databases in $TMPDIR
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/ids.h"
#include "core/thread_name.h"
#include "ledger/service.h"
#include "store/batch_writer.h"
#include "store/sqlite/sqlite_store.h"

namespace {

using namespace warden;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kInFlightMax = 8192;  // outstanding operations (like many clients)

// The first failure, to say why a run failed.
void note_failure(const Status& s) {
  static std::once_flag once;
  std::call_once(once, [&] { std::fprintf(stderr, "first failure: %s\n", s.to_string().c_str()); });
}

void die(const Status& s, const char* what) {
  if (s.ok()) return;
  std::fprintf(stderr, "%s: %s\n", what, s.to_string().c_str());
  std::exit(1);
}

constexpr std::size_t kIssuers = 1;  // issuing threads (the server has 2 I/O threads)
// An issuer that ran out of room sleeps until this many of its operations are left: close to
// the limit, so that about kInFlightMax stay in flight, yet only one completion in 1,024 wakes
// it.
constexpr std::size_t kInFlightResume = kInFlightMax / kIssuers - 1024;

// One issuing thread's operations in flight and the work completions hand back to it.
struct Flow {
  std::atomic<std::size_t> in_flight{0};
  std::atomic<std::uint64_t> completed{0}, failed{0};
  std::mutex mu;
  std::condition_variable cv;
  bool sleeping = false;                           // guarded by mu
  std::vector<std::function<void()>> handed_back;  // guarded by mu
  std::atomic<bool> has_handed_back{false};

  bool room() const { return in_flight.load(std::memory_order_relaxed) < kInFlightMax / kIssuers; }

  // On the writer thread, once per finished operation.
  void finished(bool ok) {
    (ok ? completed : failed).fetch_add(1, std::memory_order_relaxed);
    const std::size_t left = in_flight.fetch_sub(1, std::memory_order_acq_rel) - 1;
    if (left == kInFlightResume || left == 0) {
      std::lock_guard lock(mu);
      if (sleeping) cv.notify_one();
    }
  }

  void hand_back(std::function<void()> work) {
    std::lock_guard lock(mu);
    handed_back.push_back(std::move(work));
    has_handed_back.store(true, std::memory_order_release);
    if (sleeping) cv.notify_one();
  }

  void run_handed_back() {
    if (!has_handed_back.load(std::memory_order_acquire)) return;
    std::vector<std::function<void()>> work;
    {
      std::lock_guard lock(mu);
      work.swap(handed_back);
      has_handed_back.store(false, std::memory_order_relaxed);
    }
    for (auto& w : work) w();
  }

  // Sleeps until there is room again (`issuing`) or everything finished, or work was handed
  // back. False when everything finished and nothing is left to do.
  bool wait(bool issuing) {
    std::unique_lock lock(mu);
    auto ready = [&] {
      const std::size_t n = in_flight.load(std::memory_order_acquire);
      return !handed_back.empty() || n == 0 || (issuing && n <= kInFlightResume);
    };
    sleeping = true;
    cv.wait(lock, ready);
    sleeping = false;
    return !handed_back.empty() || in_flight.load(std::memory_order_acquire) != 0 || issuing;
  }
};

// CPU seconds (user + system) per thread name, summed over the process's threads.
using CpuTimes = std::map<std::string, double>;

CpuTimes thread_cpu_times() {
  CpuTimes out;
  const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream in(task.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto open = stat.find('('), close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    const std::string name = stat.substr(open + 1, close - open - 1);
    std::istringstream rest(stat.substr(close + 2));
    std::string field;
    std::uint64_t utime = 0, stime = 0;
    // After the name: state (3) ... utime (14), stime (15).
    for (int f = 3; f <= 15 && rest >> field; ++f) {
      if (f == 14) utime = std::stoull(field);
      if (f == 15) stime = std::stoull(field);
    }
    out[name] += static_cast<double>(utime + stime) / tick;
  }
  return out;
}

double this_thread_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// The issuers have ended by the time `after` is read, so they report their own time in it.
void print_cpu_per_op(const char* name, const CpuTimes& before, const CpuTimes& after,
                      std::uint64_t ops) {
  if (ops == 0) return;
  std::string line;
  for (const auto& [thread, seconds] : after) {
    const auto it = before.find(thread);
    const double used = seconds - (it == before.end() ? 0.0 : it->second);
    if (used <= 0) continue;
    char figure[32];
    std::snprintf(figure, sizeof figure, " %.1f", used * 1e6 / static_cast<double>(ops));
    line += " " + thread + figure;
  }
  std::fprintf(stderr, "%s: CPU us per op:%s\n", name, line.c_str());
}

struct Bench {
  std::filesystem::path dir;
  std::unique_ptr<store::SqliteStore> store;
  std::unique_ptr<store::BatchWriter> writer;
  std::unique_ptr<ledger::LedgerService> ledger;
  SystemClock clock;
  IdGenerator ids{clock};
  std::vector<std::string> owners;

  Bench(const std::string& name, std::size_t owner_count) {
    dir = std::filesystem::temp_directory_path() /
          ("warden-ledger-bench-" + std::to_string(::getpid()) + "-" + name);
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    auto opened = store::SqliteStore::open((dir / "bench.db").string(),
                                           {.create_if_missing = true,
                                            .durability = store::Durability::kFull});
    die(opened.status(), "open");
    store = std::move(*opened);
    const std::int64_t now = clock.now_seconds();
    die(store->write([&](store::WriteTxn& tx) -> Status {
          for (std::size_t i = 0; i < owner_count; ++i) {
            store::AgentRow a;
            a.id = ids.next();
            a.name = "bench-" + std::to_string(i);
            a.chain = "ethereum";
            a.network = "mainnet";
            a.created_at = a.updated_at = now;
            WARDEN_RETURN_IF_ERROR(tx.insert_agent(a));
            owners.push_back(a.id);
          }
          return Status();
        }),
        "agents");
    // WARDEN_BENCH_BATCH=N runs the writer with batch_size_max N instead of its default.
    store::BatchOptions batch;
    if (const char* n = std::getenv("WARDEN_BENCH_BATCH")) {
      batch.batch_size_max = std::strtoul(n, nullptr, 10);
    }
    writer = std::make_unique<store::BatchWriter>(*store, batch);
    ledger = std::make_unique<ledger::LedgerService>(*store, *writer, clock, ids,
                                                     ledger::LedgerOptions{.start_sweeper = false});
    die(ledger->start(), "ledger start");
    // Two lots per owner, so debits split and pick FIFO.
    for (const auto& owner : owners) {
      for (int lot = 0; lot < 2; ++lot) {
        ledger::MintRequest m{owner, Amount(1'000'000'000'000ULL), "USD", "grant", {}, {},
                              "mint-" + owner + "-" + std::to_string(lot)};
        std::promise<Status> done;
        ledger->mint(m, {}, [&](Result<ledger::Answer> r) { done.set_value(r.status()); });
        die(done.get_future().get(), "mint");
      }
    }
  }

  ~Bench() {
    ledger->stop();
    writer->stop();
    ledger.reset();
    writer.reset();
    store.reset();
    // WARDEN_BENCH_KEEP=1 keeps the database for a look at what the operations wrote.
    if (std::getenv("WARDEN_BENCH_KEEP") == nullptr) std::filesystem::remove_all(dir);
  }

  // Runs `issue(i, flow)` on kIssuers threads for `seconds`, each with at most
  // kInFlightMax / kIssuers operations outstanding (like many clients spread over the server's
  // I/O threads); returns ops/s of completed (committed) operations. A completion costs one
  // atomic decrement: only the one that frees room for a waiting issuer (or ends the run)
  // takes the issuer's lock. Work a completion hands back (a hold to post) goes through the
  // issuer's mailbox and is done on the issuing thread, as a server would do it on an I/O
  // thread, never on the writer.
  template <class Issue>
  double run(const char* name, double seconds, Issue issue) {
    std::vector<std::unique_ptr<Flow>> flows;
    for (std::size_t t = 0; t < kIssuers; ++t) flows.push_back(std::make_unique<Flow>());
    const CpuTimes cpu_before = thread_cpu_times();
    const std::uint64_t batches_before = writer->batches_committed();
    std::mutex cpu_mu;
    double issuers_cpu_s = 0;
    const auto start = Clock::now();
    const auto end = start + std::chrono::duration<double>(seconds);
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < kIssuers; ++t) {
      threads.emplace_back([&, t] {
        name_this_thread("bench-issuer");
        const double cpu_start = this_thread_cpu_seconds();
        Flow& flow = *flows[t];
        std::uint64_t i = t;
        bool issuing = true;
        for (;;) {
          flow.run_handed_back();
          if (issuing && Clock::now() >= end) issuing = false;
          if (issuing && flow.room()) {
            flow.in_flight.fetch_add(1, std::memory_order_relaxed);
            issue(i, flow);
            i += kIssuers;
            continue;
          }
          if (!flow.wait(issuing)) break;  // drained
        }
        std::lock_guard lock(cpu_mu);
        issuers_cpu_s += this_thread_cpu_seconds() - cpu_start;
      });
    }
    for (auto& t : threads) t.join();
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    std::uint64_t completed = 0, failed = 0;
    for (const auto& f : flows) {
      completed += f->completed.load();
      failed += f->failed.load();
    }
    if (failed != 0) {
      std::fprintf(stderr, "%llu operations failed\n", static_cast<unsigned long long>(failed));
      std::exit(1);
    }
    CpuTimes cpu_after = thread_cpu_times();
    cpu_after["bench-issuer"] = issuers_cpu_s;
    print_cpu_per_op(name, cpu_before, cpu_after, completed);
    const std::uint64_t batches = writer->batches_committed() - batches_before;
    std::fprintf(stderr, "%s: %llu batches, %.0f operations each, %.2f ms each\n", name,
                 static_cast<unsigned long long>(batches),
                 static_cast<double>(completed) / std::max<std::uint64_t>(batches, 1),
                 elapsed * 1e3 / std::max<std::uint64_t>(batches, 1));
    return static_cast<double>(completed) / elapsed;
  }

  double debits(const char* name, double seconds) {
    const std::string run_id = ids.next();
    return run(name, seconds, [&](std::uint64_t i, Flow& flow) {
      ledger::DebitRequest d{owners[i % owners.size()], Amount(7), "USD",
                             run_id + "-" + std::to_string(i)};
      ledger->debit(std::move(d), {}, [&flow](Result<ledger::Answer> r) {
        if (!r.ok()) note_failure(r.status());
        flow.finished(r.ok());
      });
    });
  }

  double hold_post_pairs(const char* name, double seconds) {
    const std::string run_id = ids.next();
    return run(name, seconds, [&](std::uint64_t i, Flow& flow) {
      ledger::HoldRequest h{owners[i % owners.size()], Amount(10), "USD", 600,
                            run_id + "-" + std::to_string(i)};
      ledger->hold(std::move(h), {}, [this, &flow](Result<ledger::Answer> r) {
        if (!r.ok()) {
          note_failure(r.status());
          return flow.finished(false);
        }
        flow.hand_back([this, &flow, id = std::string(r->body.at("id").as_string())] {
          ledger->post(id, Amount(6), {}, [&flow](Result<ledger::Answer> p) {
            if (!p.ok()) note_failure(p.status());
            flow.finished(p.ok());
          });
        });
      });
    });
  }

  // The baseline: each debit is one SQLite transaction that reads the owner's lots and their
  // balances from the view, picks FIFO, and writes its op row, entries and audit row.
  double debits_in_the_database(double seconds) {
    const std::string run_id = ids.next();
    std::uint64_t done = 0;
    const auto start = Clock::now();
    const auto end = start + std::chrono::duration<double>(seconds);
    while (Clock::now() < end) {
      const std::string owner = owners[done % owners.size()];
      const std::string op_id = ids.next();
      const std::int64_t now = clock.now_seconds();
      die(store->write([&](store::WriteTxn& tx) -> Status {
            std::vector<store::LotBalanceRow> lots;
            WARDEN_RETURN_IF_ERROR(tx.scan_lot_balances(
                {.owner = owner, .currency = "USD"}, [&](const store::LotBalanceRow& row) {
                  lots.push_back(row);
                  return Status();
                }));
            store::LedgerOpRow op;
            op.id = op_id;
            op.kind = "debit";
            op.idempotency_key = run_id + "-" + std::to_string(done);
            op.request_hash = op_id;
            op.result = "{}";
            op.created_at = now;
            WARDEN_RETURN_IF_ERROR(tx.insert_ledger_op(op));
            Amount left(7);
            for (const auto& lot : lots) {
              const Amount remaining = Amount::parse(lot.remaining).value();
              if (remaining.is_zero() || left.is_zero()) continue;
              const Amount take = std::min(remaining, left);
              left = left.checked_sub(take).value();
              store::LotEntryRow e;
              e.lot_id = lot.lot.id;
              e.owner = owner;
              e.currency = "USD";
              e.entry_type = "debit";
              e.amount = take.to_string();
              e.op_id = op_id;
              e.created_at = now;
              WARDEN_RETURN_IF_ERROR(tx.insert_lot_entry(e));
            }
            store::AuditEvent a;
            a.timestamp = now;
            a.event_type = "LEDGER_DEBIT";
            a.actor = "master";
            a.agent_id = owner;
            return tx.append_audit(a).take_status();
          }),
          "baseline debit");
      ++done;
    }
    return static_cast<double>(done) /
           std::chrono::duration<double>(Clock::now() - start).count();
  }
};

}  // namespace

// ledger_bench [seconds per case] [cases: one,many,pairs,baseline; default all of them]
int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 3.0;
  const std::string cases = argc > 2 ? argv[2] : "one,many,pairs,baseline";
  auto wanted = [&](std::string_view c) { return cases.find(c) != std::string::npos; };
  double one = 0, many = 0, pairs = 0, baseline = 0;
  if (wanted("one") || wanted("pairs") || wanted("baseline")) {
    Bench b("one", 1);
    if (wanted("one")) one = b.debits("debits, one owner", seconds);
    if (wanted("pairs")) pairs = b.hold_post_pairs("hold+post pairs", seconds);
    if (wanted("baseline")) baseline = b.debits_in_the_database(seconds);
  }
  if (wanted("many")) {
    Bench b("many", 10'000);
    many = b.debits("debits, 10,000 owners", seconds);
  }
  std::printf("durable debits/s, one owner:          %10.0f\n", one);
  std::printf("durable debits/s, 10,000 owners:      %10.0f\n", many);
  std::printf("durable hold+post pairs/s, one owner: %10.0f\n", pairs);
  std::printf("baseline (a transaction per debit that reads the view): %10.0f debits/s\n",
              baseline);
  if (baseline > 0) std::printf("ratio, one owner against the baseline: %.1fx\n", one / baseline);
  return 0;
}
