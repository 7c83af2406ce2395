// Durable ledger operations in process: debits (one owner, and 10,000 owners) and hold + post
// pairs through the LedgerService (balances reserved in memory, entries, op rows and audit rows
// group-committed by the writer, every answer after its commit, full durability), against a
// baseline measured in the same run: the ledger done in the database alone, one SQLite
// transaction per debit that reads the owner's balance from the lot_balances view and writes
// its entries (what a ledger without the in-memory book does).
//
//   build/bench/ledger_bench [seconds per case, default 3]
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/ids.h"
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
    writer = std::make_unique<store::BatchWriter>(*store, store::BatchOptions{});
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
    std::filesystem::remove_all(dir);
  }

  // Runs `issue(i, done)` for `seconds` with at most kInFlightMax outstanding; returns ops/s
  // of completed (committed) operations.
  template <class Issue>
  double run(double seconds, Issue issue) {
    std::mutex mu;
    std::condition_variable cv;
    std::size_t in_flight = 0;
    std::atomic<std::uint64_t> completed{0}, failed{0};
    const auto start = Clock::now();
    const auto end = start + std::chrono::duration<double>(seconds);
    std::uint64_t i = 0;
    while (Clock::now() < end) {
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return in_flight < kInFlightMax; });
        ++in_flight;
      }
      issue(i++, [&](bool ok) {
        (ok ? completed : failed).fetch_add(1, std::memory_order_relaxed);
        std::lock_guard lock(mu);
        --in_flight;
        cv.notify_one();
      });
    }
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return in_flight == 0; });
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    if (failed.load() != 0) {
      std::fprintf(stderr, "%llu operations failed\n",
                   static_cast<unsigned long long>(failed.load()));
      std::exit(1);
    }
    return static_cast<double>(completed.load()) / elapsed;
  }

  double debits(double seconds) {
    const std::string run_id = ids.next();
    return run(seconds, [&](std::uint64_t i, auto finished) {
      ledger::DebitRequest d{owners[i % owners.size()], Amount(7), "USD",
                             run_id + "-" + std::to_string(i)};
      ledger->debit(std::move(d), {}, [finished](Result<ledger::Answer> r) {
        if (!r.ok()) note_failure(r.status());
        finished(r.ok());
      });
    });
  }

  double hold_post_pairs(double seconds) {
    const std::string run_id = ids.next();
    return run(seconds, [&](std::uint64_t i, auto finished) {
      ledger::HoldRequest h{owners[i % owners.size()], Amount(10), "USD", 600,
                            run_id + "-" + std::to_string(i)};
      ledger->hold(std::move(h), {}, [this, finished](Result<ledger::Answer> r) {
        if (!r.ok()) {
          note_failure(r.status());
          return finished(false);
        }
        const std::string id(r->body.at("id").as_string());
        ledger->post(id, Amount(6), {}, [finished](Result<ledger::Answer> p) {
          if (!p.ok()) note_failure(p.status());
          finished(p.ok());
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

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 3.0;
  double one, many, pairs, baseline;
  {
    Bench b("one", 1);
    one = b.debits(seconds);
    pairs = b.hold_post_pairs(seconds);
    baseline = b.debits_in_the_database(seconds);
  }
  {
    Bench b("many", 10'000);
    many = b.debits(seconds);
  }
  std::printf("durable debits/s, one owner:          %10.0f\n", one);
  std::printf("durable debits/s, 10,000 owners:      %10.0f\n", many);
  std::printf("durable hold+post pairs/s, one owner: %10.0f\n", pairs);
  std::printf("baseline (a transaction per debit that reads the view): %10.0f debits/s\n",
              baseline);
  std::printf("ratio, one owner against the baseline: %.1fx\n", one / baseline);
  return 0;
}
