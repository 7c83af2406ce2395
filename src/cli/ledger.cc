// `warden ledger balance|mint|reconcile`: the credit ledger from the command line, on the data
// directory itself (reconcile also on a cluster's PostgreSQL store). balance and reconcile only
// read; mint writes through a LedgerService of its own and so refuses while a daemon serves the
// directory.
#include <sqlite3.h>
#include <stdlib.h>

#include <boost/json/serialize.hpp>
#include <filesystem>
#include <future>
#include <iostream>
#include <map>
#include <set>

#include "cli/commands.h"
#include "cli/data_dir_lock.h"
#include "cli/store_url.h"
#include "core/errors.h"
#include "ledger/service.h"
#include "store/batch_writer.h"
#include "store/sqlite/sqlite_store.h"

namespace warden::cli {
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

// A busy source (the daemon checkpointing) is retried this often, this long apart.
constexpr int kBackupAttemptsMax = 50;
constexpr int kBackupRetryMs = 100;
constexpr std::size_t kLotsPageMax = 1000;

// Input refused as a request would be (400) is a usage error; anything else a failure.
int report_error(const Status& s) {
  std::cerr << "error: " << error_code_name(s.code()) << ": " << s.message() << "\n";
  return error_http_status(s.code()) == 400 ? kExitUsage : kExitFailed;
}

int report_failure(const Status& s) {
  std::cerr << "error: " << error_code_name(s.code()) << ": " << s.message() << "\n";
  return kExitFailed;
}

// The store and a LedgerService rebuilt from it exactly as the daemon's start-up does (no
// sweeper: nothing expires or times out behind the caller's back).
struct LedgerOnStore {
  std::unique_ptr<store::Store> store;
  SystemClock clock;
  IdGenerator ids{clock};
  std::unique_ptr<store::BatchWriter> writer;
  std::unique_ptr<ledger::LedgerService> service;

  ~LedgerOnStore() {
    service.reset();
    writer.reset();
  }

  // Opens the store; then start() rebuilds the ledger.
  Status open(const std::string& db, bool read_only) {
    if (!fs::exists(db)) {
      return Status(ErrorCode::STORE_NOT_INITIALIZED, "no database at " + db);
    }
    WARDEN_ASSIGN_OR_RETURN(store, store::SqliteStore::open(db, {.read_only = read_only}));
    return adopt();
  }
  // Opens a cluster's PostgreSQL store (only read: reconcile).
  Status open_postgres(const std::string& url, const std::string& password_file) {
    WARDEN_ASSIGN_OR_RETURN(store, open_postgres_store(url, password_file));
    return adopt();
  }
  Status start() { return service->start(); }

 private:
  Status adopt() {
    writer = std::make_unique<store::BatchWriter>(*store, store::BatchOptions{});
    ledger::LedgerOptions options;
    options.start_sweeper = false;
    service = std::make_unique<ledger::LedgerService>(*store, *writer, clock, ids, options);
    return Status();
  }
};

// A consistent copy of the database in a private temporary directory, removed with it. SQLite's
// online backup copies every page inside one read transaction of the source, so the copy is one
// committed state even while the daemon writes (separate queries on the live file would each
// see a different one).
class Snapshot {
 public:
  ~Snapshot() {
    std::error_code ignored;
    if (!dir_.empty()) fs::remove_all(dir_, ignored);
  }

  Status take(const std::string& db) {
    if (!fs::exists(db)) return Status(ErrorCode::STORE_NOT_INITIALIZED, "no database at " + db);
    std::string pattern = (fs::temp_directory_path() / "warden-reconcile-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      return Status(ErrorCode::INTERNAL_ERROR, "cannot create a temporary directory");
    }
    dir_ = pattern;
    path_ = (fs::path(dir_) / "warden.db").string();
    sqlite3* src = nullptr;
    sqlite3* dst = nullptr;
    int rc = sqlite3_open_v2(db.c_str(), &src, SQLITE_OPEN_READONLY, nullptr);
    if (rc == SQLITE_OK) {
      rc =
          sqlite3_open_v2(path_.c_str(), &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    }
    std::string error;
    if (rc == SQLITE_OK) {
      sqlite3_backup* backup = sqlite3_backup_init(dst, "main", src, "main");
      if (backup == nullptr) {
        rc = sqlite3_errcode(dst);
      } else {
        for (int attempt = 0; attempt < kBackupAttemptsMax; ++attempt) {
          rc = sqlite3_backup_step(backup, -1);
          if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED) break;
          sqlite3_sleep(kBackupRetryMs);
        }
        sqlite3_backup_finish(backup);
        if (rc == SQLITE_DONE) rc = SQLITE_OK;
      }
    }
    if (rc != SQLITE_OK) error = sqlite3_errstr(rc);
    sqlite3_close(dst);
    sqlite3_close(src);
    if (!error.empty()) {
      return Status(ErrorCode::INTERNAL_STORE_ERROR, "cannot copy " + db + ": " + error);
    }
    return Status();
  }

  const std::string& path() const { return path_; }

 private:
  std::string dir_;
  std::string path_;
};

// ---- reconcile ----

// Sums of one lot's entries by kind (store.h, LotEntryRow).
struct LotSums {
  std::string owner;
  std::string currency;
  Amount credit, expire, debit_free, hold, release, debit_held;
};

// Sums of one hold's entries.
struct HoldSums {
  std::string first_lot;  // to name the hold's account in a difference
  Amount hold, release, debit;
};

// What the entries say a lot has; nullopt when they take more than they give.
struct Derived {
  std::optional<Amount> remaining;
  std::optional<Amount> held;
};

class Reconciler {
 public:
  // Without a book (its start-up failed) only the entries and the view are compared.
  Reconciler(store::Store& store, const ledger::Book* book, std::int64_t now_s)
      : store_(store), book_(book), now_s_(now_s) {}

  Status run() {
    WARDEN_RETURN_IF_ERROR(sum_entries());
    const Status view = store_.scan_lot_balances({}, [&](const store::LotBalanceRow& row) {
      view_.emplace(row.lot.id, row);
      return Status();
    });
    if (!view.ok()) {
      // The view refuses entries that leave a lot below zero: the lots are still checked one
      // by one from their entries.
      differ("lot_balances view: cannot be read: " + view.message());
      view_readable_ = false;
      view_.clear();
      WARDEN_RETURN_IF_ERROR(read_lots());
    }
    check_lots();
    if (book_ != nullptr) {
      check_book_lots();
      check_balances();
    }
    WARDEN_RETURN_IF_ERROR(check_holds());
    return Status();
  }

  const std::vector<std::string>& differences() const { return diffs_; }
  std::string summary() const {
    return std::to_string(view_.size()) + " lots, " + std::to_string(entries_) + " entries, " +
           std::to_string(holds_.size()) + " holds (" + std::to_string(pending_) + " pending), " +
           std::to_string(balances_) + " balances";
  }

 private:
  void differ(std::string line) { diffs_.push_back(std::move(line)); }

  // The lots without their balances, page by page.
  Status read_lots() {
    store::Page page;
    page.limit = kLotsPageMax;
    for (;;) {
      WARDEN_ASSIGN_OR_RETURN(auto rows, store_.list_lots({}, page));
      if (rows.size() < page.limit) page.limit = 0;  // the last page
      if (!rows.empty()) page.after_id = rows.back().id;
      for (auto& lot : rows) {
        store::LotBalanceRow row;
        row.lot = std::move(lot);
        view_.emplace(row.lot.id, std::move(row));
      }
      if (page.limit == 0) return Status();
    }
  }

  void add(Amount& to, const Amount& a, const std::string& what) {
    auto r = to.checked_add(a);
    if (!r.ok()) {
      differ(what + ": sum past 2^256");
      return;
    }
    to = *r;
  }

  Status sum_entries() {
    return store_.scan_lot_entries([&](const store::LotEntryRow& e) {
      ++entries_;
      const std::string where = "entry " + std::to_string(e.id) + " (lot " + e.lot_id + ")";
      auto parsed = Amount::parse(e.amount);
      if (!parsed.ok() || parsed->is_zero()) {
        differ(where + ": amount '" + e.amount + "' is not above zero");
        return Status();
      }
      const Amount& a = *parsed;
      auto [it, first] = lots_.try_emplace(e.lot_id);
      LotSums& l = it->second;
      if (first) {
        l.owner = e.owner;
        l.currency = e.currency;
      } else if (l.owner != e.owner || l.currency != e.currency) {
        differ(where + ": owner/currency " + e.owner + "/" + e.currency + ", its lot's entries " +
               l.owner + "/" + l.currency);
      }
      HoldSums* h = nullptr;
      if (e.hold_id) {
        auto [hit, hfirst] = holds_.try_emplace(*e.hold_id);
        if (hfirst) hit->second.first_lot = e.lot_id;
        h = &hit->second;
      }
      const std::string& t = e.entry_type;
      if (t == "credit" && !h) {
        add(l.credit, a, where);
      } else if (t == "expire" && !h) {
        add(l.expire, a, where);
      } else if (t == "debit") {
        add(h ? l.debit_held : l.debit_free, a, where);
        if (h) add(h->debit, a, where);
      } else if (t == "hold" && h) {
        add(l.hold, a, where);
        add(h->hold, a, where);
      } else if (t == "release" && h) {
        add(l.release, a, where);
        add(h->release, a, where);
      } else {
        differ(where + ": a " + t + " entry " + (h ? "with" : "without") + " a hold id");
      }
      return Status();
    });
  }

  // remaining = credit - expire - debit (without hold) - hold + release;
  // held = hold - release - debit (with hold).
  Derived derive(const std::string& lot_id, const LotSums& s) {
    Derived d;
    const std::string where = "lot " + lot_id + " (owner " + s.owner + ", " + s.currency + ")";
    auto gives = s.credit.checked_add(s.release);
    auto takes = s.expire.checked_add(s.debit_free);
    if (takes.ok()) takes = takes->checked_add(s.hold);
    if (gives.ok() && takes.ok()) {
      if (*takes > *gives) {
        differ(where + ": below zero: entries give " + gives->to_string() + " and take " +
               takes->to_string());
      } else {
        d.remaining = gives->checked_sub(*takes).value();
      }
    }
    auto released = s.release.checked_add(s.debit_held);
    if (released.ok()) {
      if (*released > s.hold) {
        differ(where + ": held below zero: holds " + s.hold.to_string() + ", released or posted " +
               released->to_string());
      } else {
        d.held = s.hold.checked_sub(*released).value();
      }
    }
    return d;
  }

  void check_lots() {
    for (const auto& [id, row] : view_) {
      LotSums sums;
      if (auto it = lots_.find(id); it != lots_.end()) {
        sums = it->second;
      } else {
        sums.owner = row.lot.owner;
        sums.currency = row.lot.currency;
      }
      const std::string where =
          "lot " + id + " (owner " + row.lot.owner + ", " + row.lot.currency + ")";
      if (sums.owner != row.lot.owner || sums.currency != row.lot.currency) {
        differ(where + ": its entries are for " + sums.owner + "/" + sums.currency);
      }
      if (sums.credit.to_string() != row.lot.amount) {
        differ(where + ": credit entries total " + sums.credit.to_string() + ", lot amount " +
               row.lot.amount);
      }
      const Derived d = derive(id, sums);
      derived_.emplace(id, d);
      if (view_readable_ && d.remaining && d.remaining->to_string() != row.remaining) {
        differ(where + ": remaining from entries " + d.remaining->to_string() +
               ", lot_balances view " + row.remaining);
      }
      if (view_readable_ && d.held && d.held->to_string() != row.held) {
        differ(where + ": held from entries " + d.held->to_string() + ", lot_balances view " +
               row.held);
      }
      const bool emptied = d.remaining && d.remaining->is_zero();
      if ((row.lot.status == "expired" || row.lot.status == "depleted") && !emptied) {
        differ(where + ": status " + row.lot.status + " with remaining " +
               (d.remaining ? d.remaining->to_string() : "below zero"));
      }
      if (row.lot.status == "depleted" && !(d.held && d.held->is_zero())) {
        differ(where + ": status depleted with credit still held");
      }
    }
    for (const auto& [id, sums] : lots_) {
      if (!view_.contains(id)) differ("lot " + id + ": entries name a lot that does not exist");
    }
  }

  // The daemon's start-up state (the Book rebuilt from the rows) against the entries.
  void check_book_lots() {
    std::set<std::string> in_book;
    for (const ledger::Lot& lot : book_->lots()) {
      in_book.insert(lot.id);
      const std::string where =
          "lot " + lot.id + " (owner " + lot.owner + ", " + lot.currency + ")";
      auto row = view_.find(lot.id);
      if (row == view_.end()) {
        differ(where + ": in the start-up state but not in the store");
        continue;
      }
      const Derived& d = derived_.at(lot.id);
      if (d.remaining && *d.remaining != lot.remaining) {
        differ(where + ": remaining from entries " + d.remaining->to_string() +
               ", start-up state " + lot.remaining.to_string());
      }
      if (d.held && *d.held != lot.held) {
        differ(where + ": held from entries " + d.held->to_string() + ", start-up state " +
               lot.held.to_string());
      }
      if (ledger::lot_status_name(lot.status) != row->second.lot.status) {
        differ(where + ": status " + row->second.lot.status + ", start-up state " +
               std::string(ledger::lot_status_name(lot.status)));
      }
    }
    for (const auto& [id, row] : view_) {
      if (!in_book.contains(id)) differ("lot " + id + ": missing from the start-up state");
    }
  }

  // Per (owner, currency): available = remaining of active lots not past their expiry; held =
  // held of every lot.
  void check_balances() {
    std::map<std::pair<std::string, std::string>, ledger::Balance> sums;
    for (const auto& [id, row] : view_) {
      const Derived& d = derived_.at(id);
      ledger::Balance& b = sums[{row.lot.owner, row.lot.currency}];
      const bool spendable =
          row.lot.status == "active" && (!row.lot.expires_at || *row.lot.expires_at > now_s_);
      if (spendable && d.remaining) add(b.available, *d.remaining, "balance of " + row.lot.owner);
      if (d.held) add(b.held, *d.held, "balance of " + row.lot.owner);
    }
    for (const auto& [account, b] : sums) {
      ++balances_;
      const auto& [owner, currency] = account;
      const ledger::Balance live = book_->balance(owner, currency, now_s_);
      const std::string where = "balance of " + owner + " in " + currency;
      if (live.available != b.available) {
        differ(where + ": available from entries " + b.available.to_string() + ", start-up state " +
               live.available.to_string());
      }
      if (live.held != b.held) {
        differ(where + ": held from entries " + b.held.to_string() + ", start-up state " +
               live.held.to_string());
      }
    }
  }

  Status check_holds() {
    WARDEN_ASSIGN_OR_RETURN(auto pending, store_.list_pending_holds());
    std::set<std::string> pending_ids;
    for (const store::HoldRow& row : pending) {
      ++pending_;
      pending_ids.insert(row.id);
      holds_.try_emplace(row.id);  // a hold of nothing (allow_negative) has no entries
      const HoldSums& s = holds_.at(row.id);
      const std::string where =
          "hold " + row.id + " (owner " + row.owner + ", " + row.currency + ")";
      if (s.hold.to_string() != row.amount) {
        differ(where + ": pending for " + row.amount + ", its hold entries total " +
               s.hold.to_string());
      }
      if (!s.release.is_zero() || !s.debit.is_zero()) {
        differ(where + ": pending, yet entries released " + s.release.to_string() + " and posted " +
               s.debit.to_string());
      }
      if (book_ == nullptr) continue;
      auto live = book_->find_hold(row.id);
      if (!live) {
        differ(where + ": pending in the store, missing from the start-up state");
      } else if (live->amount.to_string() != row.amount) {
        differ(where + ": pending for " + row.amount + ", start-up state " +
               live->amount.to_string());
      }
    }
    for (const ledger::Hold& h : book_ ? book_->holds() : std::vector<ledger::Hold>{}) {
      if (!pending_ids.contains(h.id)) {
        differ("hold " + h.id + ": pending in the start-up state, not in the store");
      }
    }
    for (const auto& [id, s] : holds_) {
      if (pending_ids.contains(id)) continue;
      WARDEN_ASSIGN_OR_RETURN(auto row, store_.get_hold(id));
      const std::string where = "hold " + id + " (lot " + s.first_lot + ")";
      if (!row) {
        differ(where + ": entries name a hold that does not exist");
        continue;
      }
      check_closed_hold(where, *row, s);
    }
    return Status();
  }

  // Posted: debits = posted_amount and debits + releases = what it held. Voided or expired:
  // everything released.
  void check_closed_hold(const std::string& where, const store::HoldRow& row, const HoldSums& s) {
    if (s.hold.to_string() != row.amount) {
      differ(where + ": held " + row.amount + ", its hold entries total " + s.hold.to_string());
    }
    const std::string posted = row.posted_amount.value_or("0");
    if (s.debit.to_string() != (row.status == "posted" ? posted : "0")) {
      differ(where + ": " + row.status + " with posted amount " + posted +
             ", its debit entries total " + s.debit.to_string());
    }
    auto closed = s.debit.checked_add(s.release);
    if (!closed.ok() || *closed != s.hold) {
      differ(where + ": " + row.status + ", yet its entries held " + s.hold.to_string() +
             " and released or posted " + (closed.ok() ? closed->to_string() : "past 2^256"));
    }
  }

  store::Store& store_;
  const ledger::Book* book_;
  const std::int64_t now_s_;
  std::map<std::string, LotSums> lots_;
  std::map<std::string, HoldSums> holds_;
  std::map<std::string, store::LotBalanceRow> view_;
  std::map<std::string, Derived> derived_;
  bool view_readable_ = true;
  std::vector<std::string> diffs_;
  std::int64_t entries_ = 0;
  std::int64_t pending_ = 0;
  std::int64_t balances_ = 0;
};

}  // namespace

int run_ledger_balance(const LedgerBalanceArgs& args) {
  std::optional<std::string> currency;
  if (!args.currency.empty()) {
    currency = ledger::canonical_currency(args.currency);
    if (!currency) {
      return report_error(
          Status(ErrorCode::LEDGER_CURRENCY_UNKNOWN, "'" + args.currency + "' is not a currency"));
    }
  }
  LedgerOnStore l;
  if (Status s = l.open(database_path(args.data_dir), true); !s.ok()) return report_failure(s);
  if (Status s = l.start(); !s.ok()) return report_failure(s);
  auto agent = l.store->get_agent(args.owner);
  if (!agent.ok()) return report_failure(agent.status());
  if (!*agent) {
    std::cerr << "error: LEDGER_OWNER_UNKNOWN: no agent " << args.owner << "\n";
    return kExitFailed;
  }
  if (currency) {
    std::cout << json::serialize(l.service->balance(args.owner, *currency)) << "\n";
    return kExitOk;
  }
  json::array items;
  for (const auto& [c, b] : l.service->balances(args.owner)) {
    items.push_back(ledger::balance_json(args.owner, c, b));
  }
  std::cout << json::serialize(json::object{{"owner", args.owner}, {"items", std::move(items)}})
            << "\n";
  return kExitOk;
}

int run_ledger_mint(const LedgerMintArgs& args) {
  auto amount = Amount::parse(args.amount);
  if (!amount.ok()) {
    return report_error(
        Status(ErrorCode::VALIDATION_INVALID_AMOUNT, "--amount: " + amount.status().message()));
  }
  // Held until the lot is written, so a daemon cannot start meanwhile either.
  DataDirLock lock;
  std::string lock_error;
  switch (lock.acquire(args.data_dir, &lock_error)) {
    case DataDirLock::Outcome::kTaken:
      break;
    case DataDirLock::Outcome::kBusy:
      std::cerr << "error: a warden daemon is serving " << args.data_dir
                << " and would not see this lot; mint through POST /v1/ledger/mint instead\n";
      return kExitUsage;
    case DataDirLock::Outcome::kFailed:
      std::cerr << "error: " << lock_error << "\n";
      return kExitFailed;
  }
  LedgerOnStore l;
  if (Status s = l.open(database_path(args.data_dir), false); !s.ok()) return report_failure(s);
  if (Status s = l.start(); !s.ok()) return report_failure(s);
  ledger::MintRequest req;
  req.owner = args.owner;
  req.amount = *amount;
  req.currency = ledger::canonical_currency(args.currency).value_or(args.currency);
  req.source = args.source;
  req.payment_id = args.payment_id;
  req.expires_at = args.expires_at;
  req.idempotency_key = args.idempotency_key;
  std::promise<Result<ledger::Answer>> answered;
  l.service->mint(std::move(req), ledger::Caller{"cli", "", ""},
                  [&](Result<ledger::Answer> r) { answered.set_value(std::move(r)); });
  Result<ledger::Answer> r = answered.get_future().get();
  if (!r.ok()) return report_error(r.status());
  if (r->replay) std::cerr << "replayed: this key already minted this lot\n";
  std::cout << json::serialize(r->body) << "\n";
  l.writer->stop();
  if (Status s = l.store->checkpoint(); !s.ok()) return report_failure(s);
  return kExitOk;
}

int run_ledger_reconcile(const CheckStoreArgs& args) {
  Snapshot snapshot;
  LedgerOnStore l;
  if (!args.store_url.empty()) {
    // PostgreSQL has no file to copy: each query reads the latest committed state, so the
    // comparison is of one state only while no replica writes to the ledger meanwhile (a
    // difference found under load may be a write that landed between two reads: run again).
    if (Status s = l.open_postgres(args.store_url, args.store_password_file); !s.ok()) {
      return report_error(s);  // CONFIG_INVALID (the URL or password) is a usage error
    }
  } else {
    if (Status s = snapshot.take(database_path(args.data_dir)); !s.ok()) return report_failure(s);
    if (Status s = l.open(snapshot.path(), true); !s.ok()) return report_failure(s);
  }
  // A start-up that fails is itself a difference: the daemon would not start on these rows.
  const Status started = l.start();
  Reconciler r(*l.store, started.ok() ? &l.service->book() : nullptr, l.clock.now_seconds());
  if (Status s = r.run(); !s.ok()) return report_failure(s);
  std::vector<std::string> lines = r.differences();
  if (!started.ok()) lines.push_back("start-up state: cannot be built: " + started.message());
  for (const std::string& line : lines) std::cout << line << "\n";
  if (!lines.empty()) {
    std::cout << lines.size() << " difference(s) in " << r.summary() << "\n";
    return kExitFailed;
  }
  std::cout << "ok: " << r.summary() << "\n";
  return kExitOk;
}

}  // namespace warden::cli
