// Operating a live data directory (docs/operations.md): `warden backup` while decisions keep
// arriving over HTTP, `warden restore` of that backup into a new directory, `warden db stats`,
// and the storage gauges of /metrics, all against the real binary.
#include <sqlite3.h>
#include <sys/stat.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <sstream>
#include <thread>

#include "store/sqlite/compact.h"
#include "support/fixture.h"

namespace warden::testing {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr int kShutdownTimeoutMs = 10000;
constexpr const char* kTo = "0x1111111111111111111111111111111111111111";

// A database file through the SQLite C API, as an operator with file access has it.
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
  bool exec(const std::string& sql) {
    return sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK;
  }
  std::string first(const std::string& sql, const std::string& param = "") {
    std::string out;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) return "<error>";
    if (!param.empty()) {
      // A decision's id is stored in its compact form (store/sqlite/compact.h).
      if (auto id = store::sqlite::compact_id(param)) {
        sqlite3_bind_blob(stmt, 1, id->data(), static_cast<int>(id->size()), SQLITE_TRANSIENT);
      } else {
        sqlite3_bind_text(stmt, 1, param.c_str(), -1, SQLITE_TRANSIENT);
      }
    }
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

// Value of an unlabelled sample, or nullopt.
std::optional<double> metric(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + " ", 0) == 0) return std::strtod(line.c_str() + name.size() + 1, nullptr);
  }
  return std::nullopt;
}

std::int64_t file_size_or_zero(const std::string& path) {
  std::error_code ec;
  const auto n = fs::file_size(path, ec);
  return ec ? 0 : static_cast<std::int64_t>(n);
}

class OperationsTest : public WardenTest {
 protected:
  void SetUp() override {
    WardenTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_EQ(master("POST", "/v1/policies", spending_policy_body(1'000'000)).status, 201);
    agent_ = new_agent("ops");
    ASSERT_FALSE(agent_.empty());
    token_ = str_at(new_session(agent_), "token");
    ASSERT_FALSE(token_.empty());
  }

  // One decision over HTTP; its id once acknowledged (201), "" otherwise.
  static std::string decide(HttpClient& c, const std::string& token) {
    Response r =
        c.request("POST", "/v1/transactions",
                  json::serialize(json::object{{"type", "TRANSFER"}, {"to", kTo}, {"amount", "1"}}),
                  bearer_headers(token));
    return r.status == 201 ? str_at(r.json(), "id") : "";
  }

  std::string db_path() const { return (fs::path(warden_->data_dir()) / "warden.db").string(); }

  std::string agent_;
  std::string token_;
};

// Decisions acknowledged by HTTP threads, in order.
class Acked {
 public:
  void add(std::string id) {
    std::lock_guard lock(mu_);
    ids_.push_back(std::move(id));
  }
  std::vector<std::string> snapshot() const {
    std::lock_guard lock(mu_);
    return ids_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> ids_;
};

TEST_F(OperationsTest, BackupOfALiveDataDirHoldsEveryAcknowledgedDecisionAndRestores) {
  constexpr std::size_t kBeforeMin = 300;
  constexpr int kThreads = 2;
  Acked acked;
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, port = warden_->port(), token = token_] {
      HttpClient c(port);
      while (!stop) {
        std::string id = decide(c, token);
        if (id.empty()) {
          ++failures;
          return;
        }
        acked.add(std::move(id));
      }
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (acked.snapshot().size() < kBeforeMin && std::chrono::steady_clock::now() < deadline &&
         failures == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Everything acknowledged up to here must be in the backup; the threads keep deciding.
  const std::vector<std::string> before = acked.snapshot();
  const std::string backup = warden_->data_dir() + "-backup.db";
  const CliResult run = run_cli({"backup", "--data-dir", warden_->data_dir(), "--to", backup});
  const std::size_t during = acked.snapshot().size();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  stop = true;
  for (auto& th : threads) th.join();
  ASSERT_EQ(failures.load(), 0);
  ASSERT_GE(before.size(), kBeforeMin);
  ASSERT_EQ(run.exit_code, 0) << run.output();
  EXPECT_GE(acked.snapshot().size(), during);  // the daemon kept answering
  std::smatch m;
  ASSERT_TRUE(
      std::regex_search(run.stdout_text, m, std::regex(R"((\d+) transactions, (\d+) audit rows)")))
      << run.stdout_text;
  const std::size_t copied = std::stoul(m[1]);
  EXPECT_GE(copied, before.size());
  EXPECT_LE(copied, acked.snapshot().size());
  EXPECT_FALSE(fs::exists(backup + ".tmp"));
  struct stat st {};
  ASSERT_EQ(::stat(backup.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  {
    Database copy(backup);
    ASSERT_TRUE(copy.ok());
    EXPECT_EQ(copy.first("PRAGMA integrity_check"), "ok");
    EXPECT_EQ(copy.first("SELECT COUNT(*) FROM transactions"), std::to_string(copied));
    std::size_t missing = 0;
    for (const std::string& id : before) {
      if (copy.first("SELECT COUNT(*) FROM transactions WHERE id = ?", id) != "1") ++missing;
    }
    EXPECT_EQ(missing, 0u) << "of " << before.size() << " decisions acknowledged before";
  }
  // A second backup to the same file is refused without --force, and leaves it as it was.
  const auto size = fs::file_size(backup);
  const CliResult again = run_cli({"backup", "--data-dir", warden_->data_dir(), "--to", backup});
  EXPECT_EQ(again.exit_code, 2) << again.output();
  EXPECT_NE(again.stderr_text.find("--force"), std::string::npos) << again.output();
  EXPECT_EQ(fs::file_size(backup), size);

  // Not over a directory a daemon serves.
  const CliResult busy =
      run_cli({"restore", "--from", backup, "--data-dir", warden_->data_dir(), "--force"});
  EXPECT_EQ(busy.exit_code, 1) << busy.output();
  EXPECT_NE(busy.stderr_text.find("stop it first"), std::string::npos) << busy.output();

  // Into a new directory, with the original's master.secret beside it (docs/operations.md).
  const std::string restored = make_temp_dir();
  ASSERT_FALSE(restored.empty());
  fs::copy_file(fs::path(warden_->data_dir()) / "master.secret",
                fs::path(restored) / "master.secret");
  const CliResult put = run_cli({"restore", "--from", backup, "--data-dir", restored});
  ASSERT_EQ(put.exit_code, 0) << put.output();
  EXPECT_NE(put.stdout_text.find(std::to_string(copied) + " transactions"), std::string::npos)
      << put.output();
  EXPECT_EQ(put.stderr_text, "");          // master.secret is there: no note
  EXPECT_EQ(fs::file_size(backup), size);  // only read
  EXPECT_FALSE(fs::exists(backup + "-wal"));
  const CliResult twice = run_cli({"restore", "--from", backup, "--data-dir", restored});
  EXPECT_EQ(twice.exit_code, 2) << twice.output();
  EXPECT_NE(twice.stderr_text.find("--force"), std::string::npos) << twice.output();
  fs::remove(backup);
  const CliResult verify = run_cli({"audit", "verify", "--data-dir", restored});
  EXPECT_EQ(verify.exit_code, 0) << verify.output();
  EXPECT_EQ(verify.stdout_text.rfind("ok: ", 0), 0u) << verify.output();
  WardenProcess second(WardenOptions{{}, restored});
  ASSERT_TRUE(second.started()) << second.error();
  HttpClient c(second.port());
  Response got = c.request("GET", "/v1/transactions/" + before.back(), {}, master_headers());
  EXPECT_EQ(got.status, 200) << got.describe();
  // The restored daemon decides, on the restored session.
  EXPECT_FALSE(decide(c, token_).empty());
}

TEST_F(OperationsTest, DbStatsReportsRowsAndSizesOfALiveDataDir) {
  constexpr int kDecisions = 50;
  for (int i = 0; i < kDecisions; ++i) ASSERT_FALSE(decide(*client_, token_).empty());
  const fs::path archive = fs::path(warden_->data_dir()) / "archive";
  fs::create_directories(archive / "2026");
  { std::ofstream(archive / "seg-1.zst") << std::string(1000, 'a'); }
  { std::ofstream(archive / "2026" / "seg-2.zst") << std::string(500, 'b'); }

  const auto check = [&](bool live) {
    SCOPED_TRACE(live ? "live" : "stopped");
    const CliResult r = run_cli({"db", "stats", "--data-dir", warden_->data_dir(), "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.output();
    const json::value v = json::parse(r.stdout_text);
    const json::object& db = v.at("database").as_object();
    const std::int64_t page_size = db.at("page_size_bytes").as_int64();
    const std::int64_t bytes = db.at("bytes").as_int64();
    EXPECT_EQ(bytes, db.at("pages").as_int64() * page_size);
    EXPECT_EQ(db.at("file_bytes").as_int64(), file_size_or_zero(db_path()));
    std::int64_t sum = 0;
    std::map<std::string, json::object> objects;
    for (const json::value& o : v.at("objects").as_array()) {
      sum += o.at("bytes").as_int64();
      EXPECT_GT(o.at("bytes").as_int64(), 0);
      objects[std::string(o.at("name").as_string())] = o.as_object();
    }
    // The b-trees and the free pages are the whole database, which is in the file and its WAL.
    EXPECT_EQ(sum + db.at("free_pages").as_int64() * page_size, bytes);
    EXPECT_LE(bytes, db.at("file_bytes").as_int64() + db.at("wal_bytes").as_int64());
    if (!live) {
      EXPECT_EQ(bytes, db.at("file_bytes").as_int64());  // checkpointed at exit
      EXPECT_EQ(db.at("wal_bytes").as_int64(), 0);
    }
    ASSERT_TRUE(objects.count("transactions"));
    EXPECT_EQ(objects["transactions"].at("rows").as_int64(), kDecisions);
    EXPECT_EQ(objects["transactions"].at("kind").as_string(), "table");
    ASSERT_TRUE(objects.count("idx_transactions_created_at"));
    EXPECT_EQ(objects["idx_transactions_created_at"].at("table").as_string(), "transactions");
    EXPECT_FALSE(objects["idx_transactions_created_at"].contains("rows"));
    EXPECT_EQ(v.at("decisions").as_int64(), kDecisions);
    EXPECT_EQ(v.at("bytes_per_decision").as_int64(), bytes / kDecisions);
    EXPECT_EQ(v.at("archive").at("files").as_int64(), 2);
    EXPECT_EQ(v.at("archive").at("bytes").as_int64(), 1500);

    const CliResult text = run_cli({"db", "stats", "--data-dir", warden_->data_dir()});
    ASSERT_EQ(text.exit_code, 0) << text.output();
    EXPECT_TRUE(std::regex_search(text.stdout_text,
                                  std::regex("\\ntransactions +table +transactions +" +
                                             std::to_string(kDecisions) + " +[0-9]+ +[0-9]+\\n")))
        << text.stdout_text;
    EXPECT_NE(text.stdout_text.find("archive    " + archive.string() + ": 2 files, 1500 bytes"),
              std::string::npos)
        << text.stdout_text;
  };
  check(true);
  client_.reset();
  warden_->sigterm();
  ASSERT_EQ(warden_->wait_exit(kShutdownTimeoutMs), std::optional<int>(0));
  check(false);
}

TEST_F(OperationsTest, MetricsShowDatabaseWalAndArchiveSizesAndTheOldestDecisionsAge) {
  constexpr std::int64_t kAgeSeconds = 3600;
  const std::string id = decide(*client_, token_);
  ASSERT_FALSE(id.empty());
  {
    // Its created_at made an hour older behind the daemon's back, before the first scrape reads
    // (and caches) the oldest row.
    Database db(db_path());
    ASSERT_TRUE(db.ok());
    ASSERT_EQ(db.first("SELECT COUNT(*) FROM transactions"), "1");
    ASSERT_TRUE(db.exec("UPDATE transactions SET created_at = created_at - " +
                        std::to_string(kAgeSeconds)));
  }
  const auto wal = db_path() + "-wal";
  const std::int64_t db_before = file_size_or_zero(db_path());
  const std::int64_t wal_before = file_size_or_zero(wal);
  Response r = client_->request("GET", "/metrics");
  ASSERT_EQ(r.status, 200) << r.describe();
  const std::int64_t db_after = file_size_or_zero(db_path());
  const std::int64_t wal_after = file_size_or_zero(wal);
  const auto db_bytes = metric(r.body, "warden_db_size_bytes");
  const auto wal_bytes = metric(r.body, "warden_db_wal_size_bytes");
  ASSERT_TRUE(db_bytes && wal_bytes) << r.body;
  EXPECT_GT(*db_bytes, 0);
  // Idle daemon: the files only change through a background checkpoint, which moves pages
  // from the WAL into the file; the scrape saw the sizes of one moment between the two reads.
  EXPECT_GE(*db_bytes, static_cast<double>(std::min(db_before, db_after)));
  EXPECT_LE(*db_bytes, static_cast<double>(std::max(db_before, db_after)));
  EXPECT_GE(*wal_bytes, static_cast<double>(std::min(wal_before, wal_after)));
  EXPECT_LE(*wal_bytes, static_cast<double>(std::max(wal_before, wal_after)));
  EXPECT_EQ(metric(r.body, "warden_archive_size_bytes"), std::optional<double>(0));
  const auto age = metric(r.body, "warden_oldest_hot_decision_age_seconds");
  ASSERT_TRUE(age) << r.body;
  EXPECT_GE(*age, kAgeSeconds);
  EXPECT_LE(*age, kAgeSeconds + 30);  // the time this test took so far, generously

  const fs::path archive = fs::path(warden_->data_dir()) / "archive";
  fs::create_directories(archive);
  { std::ofstream(archive / "seg-1.zst") << std::string(777, 'x'); }
  Response later = client_->request("GET", "/metrics");
  EXPECT_EQ(metric(later.body, "warden_archive_size_bytes"), std::optional<double>(777));
}

}  // namespace
}  // namespace warden::testing
