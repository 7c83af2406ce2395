// `warden ledger balance|mint|reconcile` as an operator runs them on a real data dir: balances
// that match the API, an offline mint refused while the daemon serves, and reconcile that passes
// on a healthy ledger (also while the daemon runs) and names the lot after entries were forged
// with raw SQL through the SQLite C API.
#include <sqlite3.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <thread>

#include "support/fixture.h"

namespace warden::testing {
namespace {

namespace json = boost::json;

constexpr int kShutdownTimeoutMs = 10000;

// The daemon's database through the SQLite C API, as an attacker with file access has it.
class Database {
 public:
  explicit Database(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
      sqlite3_close(db_);
      db_ = nullptr;
    }
    if (db_ != nullptr) sqlite3_busy_timeout(db_, 5000);
  }
  ~Database() { sqlite3_close(db_); }
  bool ok() const { return db_ != nullptr; }
  std::string error() const { return db_ ? sqlite3_errmsg(db_) : "no handle"; }
  bool exec(const std::string& sql) {
    return sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK;
  }
  std::string first(const std::string& sql) {
    std::string out;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) return out;
    if (sqlite3_step(stmt) == SQLITE_ROW) {
      const unsigned char* text = sqlite3_column_text(stmt, 0);
      out = text ? reinterpret_cast<const char*>(text) : "";
    }
    sqlite3_finalize(stmt);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

class LedgerCliTest : public WardenTest {
 protected:
  void SetUp() override {
    WardenTest::SetUp();
    if (HasFatalFailure()) return;
    owner_ = new_agent("cli-ledger");
    ASSERT_FALSE(owner_.empty());
  }

  Response post(const std::string& path, const json::object& body) {
    return master("POST", path, json::serialize(body));
  }

  // Two lots, a debit across them, a posted hold and a pending one.
  void make_history() {
    ASSERT_EQ(post("/v1/ledger/mint", {{"owner", owner_},
                                       {"amount", "300"},
                                       {"currency", "USD"},
                                       {"source", "grant"},
                                       {"idempotency_key", "m1"}})
                  .status,
              201);
    Response lot = post("/v1/ledger/mint", {{"owner", owner_},
                                            {"amount", "200"},
                                            {"currency", "USD"},
                                            {"source", "payment"},
                                            {"payment_id", "pay-1"},
                                            {"idempotency_key", "m2"}});
    ASSERT_EQ(lot.status, 201) << lot.describe();
    second_lot_ = str_at(lot.json(), "id");
    ASSERT_EQ(
        post("/v1/ledger/debit",
             {{"owner", owner_}, {"amount", "350"}, {"currency", "USD"}, {"idempotency_key", "d1"}})
            .status,
        201);
    Response h =
        post("/v1/ledger/holds",
             {{"owner", owner_}, {"amount", "60"}, {"currency", "USD"}, {"idempotency_key", "h1"}});
    ASSERT_EQ(h.status, 201) << h.describe();
    ASSERT_EQ(
        master("POST", "/v1/ledger/holds/" + str_at(h.json(), "id") + "/post", R"({"amount":"25"})")
            .status,
        200);
    Response pending =
        post("/v1/ledger/holds",
             {{"owner", owner_}, {"amount", "40"}, {"currency", "USD"}, {"idempotency_key", "h2"}});
    ASSERT_EQ(pending.status, 201) << pending.describe();
    pending_hold_ = str_at(pending.json(), "id");
    // 500 - 350 - 25 = 125, of which 40 held.
    Response b = master("GET", "/v1/ledger/balances?owner=" + owner_ + "&currency=USD");
    ASSERT_EQ(str_at(b.json(), "available"), "85") << b.body;
    ASSERT_EQ(str_at(b.json(), "held"), "40") << b.body;
  }

  void stop_daemon() {
    client_->close();
    warden_->sigterm();
    ASSERT_EQ(warden_->wait_exit(kShutdownTimeoutMs), 0);
  }

  // Appends an entry the daemon never wrote (inserts are what the triggers allow).
  void forge_entry(const std::string& lot_id, const std::string& type, const std::string& amount,
                   const std::string& hold_id = "") {
    Database db(warden_->database_path());
    ASSERT_TRUE(db.ok()) << db.error();
    const std::string op = db.first("SELECT op_id FROM lot_entries ORDER BY id LIMIT 1");
    ASSERT_FALSE(op.empty()) << db.error();
    const std::string sql =
        "INSERT INTO lot_entries (lot_id, owner, currency, entry_type, amount, op_id, hold_id, "
        "created_at) VALUES ('" +
        lot_id + "', '" + owner_ + "', 'USD', '" + type + "', '" + amount + "', '" + op + "', " +
        (hold_id.empty() ? std::string("NULL") : "'" + hold_id + "'") + ", 1)";
    ASSERT_TRUE(db.exec(sql)) << sql << ": " << db.error();
  }

  std::string owner_;
  std::string second_lot_;
  std::string pending_hold_;
};

TEST_F(LedgerCliTest, BalanceMatchesTheApiAndReconcilePassesWhileTheDaemonRuns) {
  make_history();
  if (HasFatalFailure()) return;
  CliResult one = warden_->cli({"ledger", "balance", "--owner", owner_, "--currency", "USD"});
  ASSERT_EQ(one.exit_code, 0) << one.output();
  Response api = master("GET", "/v1/ledger/balances?owner=" + owner_ + "&currency=USD");
  EXPECT_EQ(json::parse(one.stdout_text), api.json()) << one.stdout_text;
  CliResult all = warden_->cli({"ledger", "balance", "--owner", owner_});
  ASSERT_EQ(all.exit_code, 0) << all.output();
  EXPECT_EQ(json::parse(all.stdout_text),
            master("GET", "/v1/ledger/balances?owner=" + owner_).json());

  CliResult r = warden_->cli({"ledger", "reconcile"});
  EXPECT_EQ(r.exit_code, 0) << r.output();
  EXPECT_NE(r.stdout_text.find("ok: 2 lots, 8 entries, 2 holds (1 pending), 1 balances"),
            std::string::npos)
      << r.output();

  // Unknown owner or currency: refused, with the code.
  CliResult nobody = warden_->cli({"ledger", "balance", "--owner", "nobody"});
  EXPECT_EQ(nobody.exit_code, 1) << nobody.output();
  EXPECT_NE(nobody.stderr_text.find("LEDGER_OWNER_UNKNOWN"), std::string::npos);
  CliResult bad = warden_->cli({"ledger", "balance", "--owner", owner_, "--currency", "usd"});
  EXPECT_EQ(bad.exit_code, 2) << bad.output();
  EXPECT_NE(bad.stderr_text.find("LEDGER_CURRENCY_UNKNOWN"), std::string::npos);
}

// Reconcile reads one snapshot: debits, holds and posts committing meanwhile never show up as
// a difference between its reads.
TEST_F(LedgerCliTest, ReconcilePassesWhileTheDaemonWrites) {
  constexpr int kWriters = 4;
  constexpr int kOpsPerWriterMax = 2000;
  constexpr int kPasses = 4;
  ASSERT_EQ(post("/v1/ledger/mint", {{"owner", owner_},
                                     {"amount", "1000000"},
                                     {"currency", "USD"},
                                     {"source", "grant"},
                                     {"idempotency_key", "big"}})
                .status,
            201);
  std::atomic<bool> stop{false};
  std::atomic<bool> failed{false};
  std::atomic<int> entries{1};  // the credit
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      HttpClient c(warden_->port());
      for (int i = 0; i < kOpsPerWriterMax && !stop && !failed; ++i) {
        const std::string key = std::to_string(w) + "-" + std::to_string(i);
        const bool debit = i % 2 == 0;
        Response r = c.request(
            "POST", debit ? "/v1/ledger/debit" : "/v1/ledger/holds",
            json::serialize(json::object{
                {"owner", owner_}, {"amount", "3"}, {"currency", "USD"}, {"idempotency_key", key}}),
            master_headers());
        if (r.status != 201) failed = true;
        if (r.status == 201) entries += 1;
        if (debit || r.status != 201) continue;
        Response p = c.request("POST", "/v1/ledger/holds/" + str_at(r.json(), "id") + "/post",
                               R"({"amount":"1"})", master_headers());
        if (p.status != 200) failed = true;
        if (p.status == 200) entries += 2;  // debit 1, release 2
      }
    });
  }
  // Every pass overlaps the writers: they stop only after the last one.
  for (int pass = 0; pass < kPasses; ++pass) {
    CliResult r = warden_->cli({"ledger", "reconcile"});
    EXPECT_EQ(r.exit_code, 0) << r.output();
  }
  stop = true;
  for (auto& t : writers) t.join();
  EXPECT_FALSE(failed);
  CliResult last = warden_->cli({"ledger", "reconcile"});
  EXPECT_EQ(last.exit_code, 0) << last.output();
  EXPECT_NE(last.stdout_text.find("ok: 1 lots, " + std::to_string(entries.load()) + " entries"),
            std::string::npos)
      << last.output();
}

TEST_F(LedgerCliTest, MintIsRefusedWhileTheDaemonServesAndIdempotentOffline) {
  const std::vector<std::string> mint = {"ledger",   "mint", "--owner",           owner_,
                                         "--amount", "700",  "--currency",        "USD",
                                         "--source", "seed", "--idempotency-key", "offline-1"};
  CliResult refused = warden_->cli(mint);
  EXPECT_EQ(refused.exit_code, 2) << refused.output();
  EXPECT_NE(refused.stderr_text.find("daemon is serving"), std::string::npos) << refused.output();
  Response before = master("GET", "/v1/ledger/balances?owner=" + owner_ + "&currency=USD");
  EXPECT_EQ(str_at(before.json(), "available"), "0");

  // A second daemon on the same data dir is refused too.
  CliResult second =
      run_cli({"serve", "--data-dir", warden_->data_dir(), "--listen", "127.0.0.1:0"}, {},
              kShutdownTimeoutMs);
  EXPECT_EQ(second.exit_code, 1) << second.output();
  EXPECT_NE(second.output().find("warden.lock"), std::string::npos) << second.output();

  stop_daemon();
  if (HasFatalFailure()) return;
  CliResult first = warden_->cli(mint);
  ASSERT_EQ(first.exit_code, 0) << first.output();
  json::value lot = json::parse(first.stdout_text);
  EXPECT_EQ(str_at(lot, "amount"), "700");
  EXPECT_EQ(str_at(lot, "source"), "seed");
  CliResult again = warden_->cli(mint);
  ASSERT_EQ(again.exit_code, 0) << again.output();
  EXPECT_EQ(json::parse(again.stdout_text), lot);
  std::vector<std::string> other = mint;
  other[5] = "701";
  CliResult reused = warden_->cli(other);
  EXPECT_EQ(reused.exit_code, 1) << reused.output();
  EXPECT_NE(reused.stderr_text.find("IDEMPOTENCY_KEY_REUSED"), std::string::npos);
  std::vector<std::string> zero = mint;
  zero[5] = "0";
  zero.back() = "offline-2";
  EXPECT_EQ(warden_->cli(zero).exit_code, 2);
  std::vector<std::string> negative = mint;
  negative[5] = "-3";
  EXPECT_EQ(warden_->cli(negative).exit_code, 2);

  // The daemon starts with the lot, once.
  ASSERT_TRUE(warden_->restart()) << warden_->error();
  client_ = std::make_unique<HttpClient>(warden_->port());
  Response after = master("GET", "/v1/ledger/balances?owner=" + owner_ + "&currency=USD");
  EXPECT_EQ(str_at(after.json(), "available"), "700") << after.body;
  Response lots = master("GET", "/v1/ledger/lots?owner=" + owner_);
  ASSERT_EQ(lots.json().at("items").as_array().size(), 1u) << lots.body;
  EXPECT_EQ(str_at(lots.json().at("items").at(0), "id"), str_at(lot, "id"));
  // Audited like any write.
  auto rows = audit_all(*client_, "event_type=LEDGER_MINT");
  ASSERT_TRUE(rows.has_value());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(str_at(rows->front(), "actor"), "cli");
}

TEST_F(LedgerCliTest, ReconcileNamesTheLotOfAForgedCredit) {
  make_history();
  if (HasFatalFailure()) return;
  stop_daemon();
  if (HasFatalFailure()) return;
  ASSERT_EQ(warden_->cli({"ledger", "reconcile"}).exit_code, 0);
  forge_entry(second_lot_, "credit", "1000");
  CliResult r = warden_->cli({"ledger", "reconcile"});
  EXPECT_EQ(r.exit_code, 1) << r.output();
  EXPECT_NE(r.stdout_text.find("lot " + second_lot_), std::string::npos) << r.output();
  EXPECT_NE(r.stdout_text.find("credit entries total 1200, lot amount 200"), std::string::npos)
      << r.output();
}

TEST_F(LedgerCliTest, ReconcileNamesALotTakenBelowZero) {
  make_history();
  if (HasFatalFailure()) return;
  stop_daemon();
  if (HasFatalFailure()) return;
  // The second lot has 125 left, 40 of it held: a forged debit of 1000 takes it below zero.
  forge_entry(second_lot_, "debit", "1000");
  CliResult r = warden_->cli({"ledger", "reconcile"});
  EXPECT_EQ(r.exit_code, 1) << r.output();
  EXPECT_NE(r.stdout_text.find("lot " + second_lot_ + " (owner " + owner_ + ", USD): below zero"),
            std::string::npos)
      << r.output();
}

TEST_F(LedgerCliTest, ReconcileNamesAPendingHoldWhoseEntriesDoNotAddUp) {
  make_history();
  if (HasFatalFailure()) return;
  stop_daemon();
  if (HasFatalFailure()) return;
  forge_entry(second_lot_, "hold", "5", pending_hold_);
  CliResult r = warden_->cli({"ledger", "reconcile"});
  EXPECT_EQ(r.exit_code, 1) << r.output();
  EXPECT_NE(r.stdout_text.find("hold " + pending_hold_), std::string::npos) << r.output();
  EXPECT_NE(r.stdout_text.find("pending for 40, its hold entries total 45"), std::string::npos)
      << r.output();
}

}  // namespace
}  // namespace warden::testing
