// Retention and archival with the real daemon (docs/retention.md): kill -9 in the middle of
// moves leaves every decision in exactly one place and an audit chain that verifies across
// segments and the database; a window keeps counting what moved out of the hot tables; the
// settings refuse what they cannot honour.
//
// WARDEN_TEST_ARCHIVE_CLOCK_SKEW_SECONDS runs the mover's clock 200 days ahead, so today's rows
// are past both default horizons; WARDEN_TEST_ARCHIVE_PAUSE_MS holds each move before its rename
// and before its commit, so a kill lands between the steps.
#include "archive/archive.h"

#include <sqlite3.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "archive/segment.h"
#include "store/sqlite/sqlite_store.h"
#include "support/fixture.h"

namespace warden::testing {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr const char* kTo = "0x00000000000000000000000000000000000000aa";
constexpr std::int64_t kSkewSeconds = 200 * 86'400;

EnvOverrides archive_env(int pause_ms) {
  return {{"WARDEN_TEST_ARCHIVE_CLOCK_SKEW_SECONDS", std::to_string(kSkewSeconds)},
          {"WARDEN_TEST_ARCHIVE_PAUSE_MS", std::to_string(pause_ms)}};
}

std::vector<std::string> archive_flags(int batch_rows) {
  return {"--retention-interval-seconds", "1", "--retention-batch-rows",
          std::to_string(batch_rows)};
}

// One integer from the database file, read behind the daemon's back (WAL lets it).
std::int64_t count_rows(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::int64_t n = -1;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
      n = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return n;
}

// Decision ids in the hot table and in the archive's segments, each with how often it appears.
std::map<std::string, int> decisions_everywhere(const std::string& data_dir) {
  std::map<std::string, int> seen;
  auto store = store::SqliteStore::open(data_dir + "/warden.db", {.read_only = true});
  EXPECT_TRUE(store.ok()) << store.status().to_string();
  if (!store.ok()) return seen;
  store::Page page;
  page.limit = 1000;
  for (;;) {
    auto rows = (*store)->list_transactions({}, page);
    EXPECT_TRUE(rows.ok());
    if (!rows.ok() || rows->empty()) break;
    for (const auto& r : *rows) ++seen[r.id];
    page.after_id = rows->back().id;
  }
  Status scanned = archive::scan_archived_decisions(**store, archive::archive_dir(data_dir),
                                                    [&](const store::ArchivedDecision& d) {
                                                      ++seen[d.tx.id];
                                                      return Status();
                                                    });
  EXPECT_TRUE(scanned.ok()) << scanned.to_string();
  return seen;
}

// Files under DATA_DIR/archive that no archive_segments row names (a move that did not commit).
int unrecorded_files(const std::string& data_dir) {
  auto store = store::SqliteStore::open(data_dir + "/warden.db", {.read_only = true});
  if (!store.ok()) return -1;
  std::set<std::string> recorded;
  auto segments = (*store)->list_archive_segments();
  if (!segments.ok()) return -1;
  for (const auto& s : *segments) recorded.insert(s.file);
  int stray = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(archive::archive_dir(data_dir), ec)) {
    if (!recorded.contains(e.path().filename().string())) ++stray;
  }
  return stray;
}

constexpr std::string_view kStartedLine = "\"msg\":\"archive started\"";

int started_lines(const std::string& log) {
  int n = 0;
  for (auto at = log.find(kStartedLine); at != std::string::npos;
       at = log.find(kStartedLine, at + 1)) {
    ++n;
  }
  return n;
}

// unrecorded_files_removed of the start-up line after the first `before` ones, waiting for the
// log's once-a-second flush (-1: no such line).
int removed_at_start(WardenProcess& w, int before) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  std::string log = w.log();
  while (started_lines(log) <= before && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    log = w.log();
  }
  const auto line = log.rfind(kStartedLine);
  if (started_lines(log) <= before || line == std::string::npos) return -1;
  const std::string key = "\"unrecorded_files_removed\":";
  const auto at = log.find(key, line);
  if (at == std::string::npos) return -1;
  return std::atoi(log.c_str() + at + key.size());
}

class ArchiveDaemon {
 public:
  ArchiveDaemon(std::vector<std::string> flags, EnvOverrides env)
      : warden_(WardenOptions{std::move(flags), "", std::move(env)}) {}

  WardenProcess& process() { return warden_; }
  HttpClient& client() {
    if (!client_ || client_port_ != warden_.port()) {
      client_ = std::make_unique<HttpClient>(warden_.port());
      client_port_ = warden_.port();
    }
    return *client_;
  }
  Response master(const std::string& method, const std::string& target,
                  const std::string& body = {}) {
    return client().request(method, target, body, master_headers());
  }
  // An ethereum agent, a native SPENDING_LIMIT of window_max per 24 h (INSTANT below it), and a
  // session token for it.
  std::string agent_token(std::uint64_t window_max) {
    agent_ = create_capped_eth_agent(client(), "archived", window_max);
    return session_token();
  }
  std::string session_token() {
    Response s = create_session(client(), agent_);
    EXPECT_EQ(s.status, 201) << s.describe();
    return str_at(s.json(), "token");
  }
  // A transfer, confirmed when allowed; returns the 201 body.
  json::value spend(const std::string& token, const std::string& amount, bool confirm = true) {
    Response r = client().request(
        "POST", "/v1/transactions",
        json::serialize(json::object{{"type", "TRANSFER"}, {"to", kTo}, {"amount", amount}}),
        bearer_headers(token));
    EXPECT_EQ(r.status, 201) << r.describe();
    if (r.status != 201) return {};
    json::value body = r.json();
    if (confirm && str_at(body, "effect") == "ALLOW") {
      Response c = client().request("POST", "/v1/transactions/" + str_at(body, "id") + "/confirm",
                                    "{}", bearer_headers(token));
      EXPECT_EQ(c.status, 200) << c.describe();
    }
    return body;
  }

 private:
  WardenProcess warden_;
  std::unique_ptr<HttpClient> client_;
  std::uint16_t client_port_ = 0;
  std::string agent_;
};

// Waits up to timeout for `done`, polling.
template <class Pred>
bool eventually(Pred done, std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return done();
}

TEST(Archive, KillNineDuringMovesLeavesEveryRowInExactlyOnePlace) {
  ArchiveDaemon d(archive_flags(15), archive_env(200));
  ASSERT_TRUE(d.process().started()) << d.process().error();
  const std::string token = d.agent_token(1'000'000);
  std::vector<std::string> acknowledged;
  for (int i = 0; i < 90; ++i) {
    json::value body = d.spend(token, "1");
    ASSERT_FALSE(body.is_null());
    acknowledged.push_back(str_at(body, "id"));
  }
  const std::string dir = d.process().data_dir();
  const std::string db = d.process().database_path();
  // Verify and export read beside the daemon while it moves: a segment committed meanwhile is
  // read from the file, the rest from the table, the chain linking across.
  for (int i = 0; i < 3; ++i) {
    CliResult live = d.process().cli({"audit", "verify"});
    EXPECT_EQ(live.exit_code, 0) << live.output();
    CliResult live_export = d.process().cli({"audit", "export"});
    ASSERT_EQ(live_export.exit_code, 0) << live_export.output();
    std::istringstream rows(live_export.stdout_text);
    std::int64_t id = 1;
    for (std::string line; std::getline(rows, line); ++id) {
      ASSERT_EQ(json::parse(line).at("id").as_int64(), id) << line;
    }
    EXPECT_GT(id, 180);  // 90 decisions and 90 confirmations at least
  }
  // Kills at different points of the moves under way; each restart first deletes what did not
  // commit.
  int kills_mid_move = 0;
  for (int delay_ms : {150, 330, 520, 700, 880, 1060}) {
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    d.process().kill9();
    ASSERT_TRUE(d.process().wait_exit(5000).has_value());
    const int stray = unrecorded_files(dir);
    ASSERT_GE(stray, 0);
    kills_mid_move += stray > 0;
    const int starts = started_lines(d.process().log());
    ASSERT_TRUE(d.process().restart()) << d.process().error();
    // The new process is already moving, so its own files may be unrecorded yet: its start-up
    // line says how many of the dead one's it deleted.
    EXPECT_EQ(removed_at_start(d.process(), starts), stray);
  }
  EXPECT_GE(kills_mid_move, 1) << "no kill landed between a segment's write and its commit";
  // Every settled decision leaves the hot table in the end.
  EXPECT_TRUE(eventually([&] { return count_rows(db, "SELECT count(*) FROM transactions") == 0; }))
      << count_rows(db, "SELECT count(*) FROM transactions") << " decisions still hot";
  d.process().sigterm();
  ASSERT_EQ(d.process().wait_exit(10000), std::optional<int>(0));
  EXPECT_EQ(unrecorded_files(dir), 0) << "a clean stop left a segment that did not commit";

  const auto seen = decisions_everywhere(dir);
  for (const auto& id : acknowledged) {
    const auto it = seen.find(id);
    ASSERT_NE(it, seen.end()) << "decision " << id << " is nowhere";
    EXPECT_EQ(it->second, 1) << "decision " << id << " is in " << it->second << " places";
  }
  EXPECT_EQ(seen.size(), acknowledged.size());

  CliResult verify = d.process().cli({"audit", "verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.output();
  EXPECT_EQ(verify.stdout_text.rfind("ok: ", 0), 0u) << verify.output();
  EXPECT_NE(verify.stdout_text.find("archive segments"), std::string::npos) << verify.output();

  // The audit export holds every row once, in id order, the archived ones and the hot ones.
  CliResult exported = d.process().cli({"audit", "export", "--format", "jsonl"});
  ASSERT_EQ(exported.exit_code, 0) << exported.output();
  std::istringstream lines(exported.stdout_text);
  std::int64_t expected_id = 1;
  std::int64_t decided = 0;
  for (std::string line; std::getline(lines, line); ++expected_id) {
    const json::value row = json::parse(line);
    ASSERT_EQ(row.at("id").as_int64(), expected_id) << line;
    decided += str_at(row, "event_type") == "TX_DECIDED";
  }
  EXPECT_EQ(decided, 90);
  const std::int64_t hot_audit = count_rows(db, "SELECT count(*) FROM audit_log");
  EXPECT_GE(hot_audit, 1);
  EXPECT_LT(hot_audit, expected_id - 1) << "nothing was archived";
}

// A window counts settled usage from its buckets, not from transactions: moving the decisions
// out (and restarting, which rebuilds every window) leaves its remaining amount as it was.
TEST(Archive, AWindowKeepsCountingWhatMovedOut) {
  ArchiveDaemon d(archive_flags(100), archive_env(0));
  ASSERT_TRUE(d.process().started()) << d.process().error();
  const std::string token = d.agent_token(100);
  const json::value spent = d.spend(token, "60");
  ASSERT_EQ(str_at(spent, "effect"), "ALLOW") << spent;
  const std::string db = d.process().database_path();
  ASSERT_TRUE(eventually([&] { return count_rows(db, "SELECT count(*) FROM transactions") == 0; }))
      << "the confirmed decision was not archived";
  Response gone = d.master("GET", "/v1/transactions/" + str_at(spent, "id"));
  EXPECT_EQ(gone.status, 404) << gone.describe();

  // 60 of 100 used: 41 does not fit, before and after a restart.
  EXPECT_EQ(str_at(d.spend(token, "41", false), "effect"), "DENY");
  d.process().sigterm();
  ASSERT_EQ(d.process().wait_exit(10000), std::optional<int>(0));
  ASSERT_TRUE(d.process().restart()) << d.process().error();
  const std::string again = d.session_token();
  EXPECT_EQ(str_at(d.spend(again, "41", false), "effect"), "DENY");
  const json::value rest = d.spend(again, "40", false);
  EXPECT_EQ(str_at(rest, "effect"), "ALLOW") << rest;
  EXPECT_EQ(str_at(d.spend(again, "1", false), "effect"), "DENY");
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// `warden audit verify` names the segment whose bytes changed, and the row whose field changed
// inside a segment.
TEST(Archive, VerifyNamesATamperedSegmentOrRow) {
  ArchiveDaemon d(archive_flags(4), archive_env(0));
  ASSERT_TRUE(d.process().started()) << d.process().error();
  const std::string token = d.agent_token(1000);
  for (int i = 0; i < 3; ++i) d.spend(token, "1");
  const std::string db = d.process().database_path();
  ASSERT_TRUE(eventually([&] { return count_rows(db, "SELECT count(*) FROM transactions") == 0; }));
  d.process().sigterm();
  ASSERT_EQ(d.process().wait_exit(10000), std::optional<int>(0));
  CliResult clean = d.process().cli({"audit", "verify"});
  ASSERT_EQ(clean.exit_code, 0) << clean.output();

  // The second audit segment, and the second row in it.
  auto store = store::SqliteStore::open(db, {.read_only = true});
  ASSERT_TRUE(store.ok());
  auto segments = (*store)->list_archive_segments();
  ASSERT_TRUE(segments.ok());
  std::vector<store::ArchiveSegmentRow> audit_segments;
  for (const auto& seg : *segments) {
    if (seg.kind == store::kArchiveKindAudit) audit_segments.push_back(seg);
  }
  ASSERT_GE(audit_segments.size(), 2u);
  const std::string name = audit_segments[1].file;
  const std::int64_t row_id = audit_segments[1].first_audit_id + 1;
  store->reset();
  const std::string path = d.process().data_dir() + "/archive/" + name;
  ASSERT_TRUE(fs::exists(path));
  const std::string original = read_bytes(path);

  std::string flipped = original;
  flipped[flipped.size() / 2] = static_cast<char>(flipped[flipped.size() / 2] ^ 0x20);
  write_bytes(path, flipped);
  CliResult by_byte = d.process().cli({"audit", "verify"});
  EXPECT_EQ(by_byte.exit_code, 1) << by_byte.output();
  EXPECT_EQ(by_byte.stdout_text.rfind("broken: segment " + name + ": ", 0), 0u) << by_byte.output();

  std::string text = *archive::zstd_decompress(original);
  const auto row = text.find("{\"id\":" + std::to_string(row_id) + ",");
  ASSERT_NE(row, std::string::npos);
  const auto actor = text.find("\"actor\":\"", row);
  text.replace(actor, 9, "\"actor\":\"x");  // one more character in the row's actor
  write_bytes(path, *archive::zstd_compress(text));
  CliResult by_row = d.process().cli({"audit", "verify"});
  EXPECT_EQ(by_row.exit_code, 1) << by_row.output();
  EXPECT_EQ(by_row.stdout_text.rfind(
                "broken: row " + std::to_string(row_id) + " in segment " + name + ": ", 0),
            0u)
      << by_row.output();

  write_bytes(path, original);
  EXPECT_EQ(d.process().cli({"audit", "verify"}).exit_code, 0);

  // Export's time range: a day ahead holds nothing; an unreadable time is a usage error.
  CliResult none = d.process().cli({"audit", "export", "--from", "2100-01-01"});
  EXPECT_EQ(none.exit_code, 0) << none.output();
  EXPECT_EQ(none.stdout_text, "");
  CliResult all = d.process().cli(
      {"audit", "export", "--from", "2000-01-01T00:00:00Z", "--to", "4102444800"});
  EXPECT_EQ(all.exit_code, 0) << all.output();
  EXPECT_NE(all.stdout_text.find("{\"id\":1,"), std::string::npos) << all.output();
  CliResult bad = d.process().cli({"audit", "export", "--from", "yesterday"});
  EXPECT_EQ(bad.exit_code, 2) << bad.output();
  EXPECT_NE(bad.output().find("--from must be Unix seconds"), std::string::npos) << bad.output();
}

TEST(Archive, MetricsCountRowsMovedAndSegments) {
  ArchiveDaemon d(archive_flags(1000), archive_env(0));
  ASSERT_TRUE(d.process().started()) << d.process().error();
  const std::string token = d.agent_token(1000);
  for (int i = 0; i < 3; ++i) d.spend(token, "1");
  const std::string db = d.process().database_path();
  ASSERT_TRUE(eventually([&] { return count_rows(db, "SELECT count(*) FROM transactions") == 0; }));
  Response m = d.client().request("GET", "/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.body.find("warden_archive_rows_moved_total{kind=\"decisions\"} 3\n"),
            std::string::npos)
      << m.body;
  const std::int64_t segments = count_rows(db, "SELECT count(*) FROM archive_segments");
  EXPECT_GE(segments, 2);  // audit and decisions
  EXPECT_NE(m.body.find("warden_archive_segments " + std::to_string(segments) + "\n"),
            std::string::npos)
      << m.body;
}

// Without retention nothing moves, and the default horizons are days away.
TEST(Archive, RetentionOffKeepsEverything) {
  std::vector<std::string> flags = archive_flags(10);
  flags.insert(flags.end(), {"--retention-decisions", "off", "--retention-audit", "0"});
  ArchiveDaemon d(flags, archive_env(0));
  ASSERT_TRUE(d.process().started()) << d.process().error();
  const std::string token = d.agent_token(1000);
  for (int i = 0; i < 3; ++i) d.spend(token, "1");
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const std::string db = d.process().database_path();
  EXPECT_EQ(count_rows(db, "SELECT count(*) FROM transactions"), 3);
  EXPECT_EQ(count_rows(db, "SELECT count(*) FROM archive_segments"), 0);
  EXPECT_EQ(count_rows(db, "SELECT min(id) FROM audit_log"), 1);
}

TEST(Archive, DefaultHorizonsMoveNothingRecent) {
  ArchiveDaemon d({"--retention-interval-seconds", "1"}, {});
  ASSERT_TRUE(d.process().started()) << d.process().error();
  const std::string token = d.agent_token(1000);
  d.spend(token, "1");
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const std::string db = d.process().database_path();
  EXPECT_EQ(count_rows(db, "SELECT count(*) FROM transactions"), 1);
  EXPECT_EQ(count_rows(db, "SELECT count(*) FROM archive_segments"), 0);
  EXPECT_TRUE(fs::is_directory(d.process().data_dir() + "/archive"));
}

}  // namespace
}  // namespace warden::testing
