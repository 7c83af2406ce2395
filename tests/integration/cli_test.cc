// The `warden` command line as a user runs it: init (twice, generated or file password),
// --version, --help, usage errors, `policy validate` and `audit verify` (including after the
// database file was tampered with through the SQLite C API).
#include <sqlite3.h>
#include <sys/stat.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "support/fixture.h"

namespace warden::testing {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr int kShutdownTimeoutMs = 10000;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Removes a temp dir when the test ends.
struct TempDir {
  std::string path = make_temp_dir();
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

// Every file in a directory with its bytes (to show that a command changed nothing).
std::map<std::string, std::string> snapshot(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file()) files[e.path().filename().string()] = slurp(e.path().string());
  }
  return files;
}

TEST(CliTest, VersionAndHelpExitZero) {
  CliResult version = run_cli({"--version"});
  EXPECT_EQ(version.exit_code, 0) << version.output();
  EXPECT_TRUE(std::regex_search(version.output(), std::regex(R"(\d+\.\d+\.\d+)")))
      << version.output();

  const std::vector<std::vector<std::string>> helps = {{"--help"},
                                                       {"init", "--help"},
                                                       {"serve", "--help"},
                                                       {"policy", "validate", "--help"},
                                                       {"audit", "verify", "--help"}};
  for (const auto& args : helps) {
    CliResult r = run_cli(args);
    EXPECT_EQ(r.exit_code, 0) << args[0] << ": " << r.output();
    EXPECT_FALSE(r.output().empty()) << args[0];
  }
  EXPECT_NE(run_cli({"serve", "--help"}).output().find("--listen"), std::string::npos);
  EXPECT_NE(run_cli({"init", "--help"}).output().find("--data-dir"), std::string::npos);
}

TEST(CliTest, UsageErrorsExitTwo) {
  CliResult unknown_command = run_cli({"frobnicate"});
  EXPECT_EQ(unknown_command.exit_code, 2) << unknown_command.output();
  CliResult unknown_flag = run_cli({"serve", "--no-such-flag"});
  EXPECT_EQ(unknown_flag.exit_code, 2) << unknown_flag.output();
  CliResult missing_file = run_cli({"policy", "validate"});
  EXPECT_EQ(missing_file.exit_code, 2) << missing_file.output();
}

TEST(CliTest, ExprEvalPrintsCelLiteralSyntax) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"1u + 2u", "3u"},
      {"2.0 * 3.0", "6.0"},
      {"double('NaN')", "double(\"NaN\")"},
      {"0.0 - double('Infinity')", "double(\"-Infinity\")"},
      {"'a\"b\\n' + '\\u00e9'", "\"a\\\"b\\n\u00e9\""},
      {"b'\\xff' + bytes('a')", "b\"\\xffa\""},
      {"[1, 2].map(x, x * 2)", "[2, 4]"},
      {"{'a': 1, 'b': [true, null]}", "{\"a\": 1, \"b\": [true, null]}"},
      {"duration('1m30.5s')", "duration(\"90.5s\")"},
      {"timestamp('2024-01-01T00:00:00+01:00')", "timestamp(\"2023-12-31T23:00:00Z\")"},
      {"type(1)", "int"},
  };
  for (const auto& [source, want] : cases) {
    CliResult r = run_cli({"expr", "eval", source});
    EXPECT_EQ(r.exit_code, 0) << source << ": " << r.output();
    EXPECT_EQ(r.stdout_text, want + "\n") << source;
  }
}

TEST(CliTest, SecondInitSaysSoAndChangesNothing) {
  TempDir dir;
  ASSERT_FALSE(dir.path.empty());
  CliResult first = run_cli({"init", "--data-dir", dir.path},
                            {{"WARDEN_MASTER_PASSWORD", std::string(kTestMasterPassword)}});
  ASSERT_EQ(first.exit_code, 0) << first.output();
  auto before = snapshot(dir.path);
  ASSERT_FALSE(before.empty()) << "init created no files";

  CliResult second = run_cli({"init", "--data-dir", dir.path},
                             {{"WARDEN_MASTER_PASSWORD", std::string("another-password")}});
  EXPECT_EQ(second.exit_code, 0) << second.output();
  EXPECT_NE(lower(second.output()).find("already"), std::string::npos) << second.output();
  EXPECT_EQ(snapshot(dir.path), before) << "second init modified the data dir";
}

TEST(CliTest, SecondInitKeepsTheFirstPassword) {
  WardenProcess w;
  ASSERT_TRUE(w.started()) << w.error();
  w.sigterm();
  ASSERT_EQ(w.wait_exit(kShutdownTimeoutMs), 0);
  CliResult again = run_cli({"init", "--data-dir", w.data_dir()},
                            {{"WARDEN_MASTER_PASSWORD", std::string("another-password")}});
  EXPECT_EQ(again.exit_code, 0) << again.output();
  ASSERT_TRUE(w.restart()) << w.error();
  HttpClient c(w.port());
  EXPECT_EQ(c.request("GET", "/v1/agents", {}, master_headers()).status, 200);
  EXPECT_EQ(c.request("GET", "/v1/agents", {}, {{"X-Master-Password", "another-password"}}).status,
            401);
}

TEST(CliTest, InitWithoutPasswordGeneratesA0600File) {
  std::string dir = make_temp_dir();
  ASSERT_FALSE(dir.empty());
  CliResult init = run_cli({"init", "--data-dir", dir});
  ASSERT_EQ(init.exit_code, 0) << init.output();
  const std::string path = dir + "/master-password";
  EXPECT_NE(init.output().find(path), std::string::npos) << "path not printed: " << init.output();
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0) << "no " << path;
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string password = slurp(path);
  while (!password.empty() && (password.back() == '\n' || password.back() == '\r')) {
    password.pop_back();
  }
  ASSERT_GE(password.size(), 16u) << "generated password too short";

  WardenProcess w(WardenOptions{{}, dir});  // serves and then removes `dir`
  ASSERT_TRUE(w.started()) << w.error();
  HttpClient c(w.port());
  EXPECT_EQ(c.request("GET", "/v1/agents", {}, {{"X-Master-Password", password}}).status, 200);
  EXPECT_EQ(c.request("GET", "/v1/agents", {}, master_headers()).status, 401);
}

TEST(CliTest, InitWithPasswordFile) {
  std::string dir = make_temp_dir();
  TempDir secrets;
  ASSERT_FALSE(dir.empty());
  const std::string file = secrets.path + "/pw.txt";
  write_file(file, "from-a-file-Pw-991\n");
  CliResult init = run_cli({"init", "--data-dir", dir, "--master-password-file", file},
                           {{"WARDEN_MASTER_PASSWORD", std::string("env-loses")}});
  ASSERT_EQ(init.exit_code, 0) << init.output();
  EXPECT_FALSE(fs::exists(dir + "/master-password")) << "no generated file when one is given";
  WardenProcess w(WardenOptions{{}, dir});
  ASSERT_TRUE(w.started()) << w.error();
  HttpClient c(w.port());
  EXPECT_EQ(
      c.request("GET", "/v1/agents", {}, {{"X-Master-Password", "from-a-file-Pw-991"}}).status,
      200);
  EXPECT_EQ(c.request("GET", "/v1/agents", {}, {{"X-Master-Password", "env-loses"}}).status, 401);
}

TEST(CliTest, PolicyValidateGoodFileExitsZeroWithTheServersHash) {
  WardenProcess w;
  ASSERT_TRUE(w.started()) << w.error();
  TempDir dir;
  const std::string file = dir.path + "/good.json";
  const std::string body = spending_policy_body(1234, 2);
  write_file(file, body);
  CliResult r = run_cli({"policy", "validate", file});
  EXPECT_EQ(r.exit_code, 0) << r.output();
  std::smatch m;
  const std::string out = r.stdout_text;
  ASSERT_TRUE(std::regex_search(out, m, std::regex("[0-9a-f]{64}"))) << r.output();

  HttpClient c(w.port());
  Response server = c.request("POST", "/v1/policies/validate", body, master_headers());
  ASSERT_EQ(server.status, 200) << server.describe();
  EXPECT_EQ(m.str(), str_at(server.json(), "hash")) << "CLI and server disagree on the hash";
}

TEST(CliTest, PolicyValidateBadFileExitsOneAndNamesTheProblem) {
  TempDir dir;
  const std::string file = dir.path + "/bad.json";
  json::object rules = spending_limit_rules(1);
  rules["instant_max"] = "-5";
  write_file(file, json::serialize(json::object{{"type", "SPENDING_LIMIT"}, {"rules", rules}}));
  CliResult r = run_cli({"policy", "validate", file});
  EXPECT_EQ(r.exit_code, 1) << r.output();
  EXPECT_NE(r.output().find("/rules/instant_max"), std::string::npos) << r.output();
  EXPECT_NE(r.output().find("AMOUNT_INVALID"), std::string::npos) << r.output();

  const std::string missing = dir.path + "/absent.json";
  CliResult absent = run_cli({"policy", "validate", missing});
  EXPECT_NE(absent.exit_code, 0) << absent.output();
}

TEST(CliTest, ServeRefusesAnUninitializedDataDir) {
  TempDir dir;
  CliResult r = run_cli({"serve", "--data-dir", dir.path, "--listen", "127.0.0.1:0"}, {}, 10000);
  EXPECT_NE(r.exit_code, 0) << r.output();
  EXPECT_NE(r.exit_code, -1) << "still running after 10 s: " << r.output();
  EXPECT_NE(lower(r.output()).find("init"), std::string::npos) << r.output();
  EXPECT_FALSE(fs::exists(dir.path + "/warden.addr"));
}

// Opens the daemon's database with the SQLite C API.
class Database {
 public:
  explicit Database(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
      sqlite3_close(db_);
      db_ = nullptr;
    }
  }
  ~Database() { sqlite3_close(db_); }
  bool ok() const { return db_ != nullptr; }
  std::string error() const { return db_ ? sqlite3_errmsg(db_) : "no handle"; }

  bool exec(const std::string& sql) {
    return sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK;
  }
  // First column of every row of a query, as text.
  std::vector<std::string> column(const std::string& sql) {
    std::vector<std::string> out;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) return out;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      const unsigned char* text = sqlite3_column_text(stmt, 0);
      out.emplace_back(text ? reinterpret_cast<const char*>(text) : "");
    }
    sqlite3_finalize(stmt);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

class AuditVerifyTest : public WardenTest {
 protected:
  // Creates some history, stops the daemon cleanly and returns the audit row ids.
  std::vector<std::string> make_history() {
    baseline_ = audit_count();  // rows `warden init` may have written
    for (int i = 0; i < 3; ++i) EXPECT_FALSE(new_agent("hist-" + std::to_string(i)).empty());
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(master("POST", "/v1/policies", spending_policy_body(50 + i)).status, 201);
    }
    client_->close();
    warden_->sigterm();
    EXPECT_EQ(warden_->wait_exit(kShutdownTimeoutMs), 0);
    Database db(warden_->database_path());
    return db.column("SELECT id FROM audit_log ORDER BY id");
  }

  std::size_t baseline_ = 0;

  // An attacker with file access: drop whatever guards the table, then run `sql`.
  void tamper(const std::string& sql) {
    Database db(warden_->database_path());
    ASSERT_TRUE(db.ok()) << db.error();
    for (const auto& trigger : db.column(
             "SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name='audit_log'")) {
      ASSERT_TRUE(db.exec("DROP TRIGGER \"" + trigger + "\"")) << db.error();
    }
    ASSERT_TRUE(db.exec(sql)) << sql << ": " << db.error();
  }
};

// A database written by a newer Warden (a higher schema_version) is refused, not downgraded.
TEST_F(AuditVerifyTest, ServeRefusesANewerSchema) {
  warden_->sigterm();
  ASSERT_EQ(warden_->wait_exit(kShutdownTimeoutMs), 0);
  {
    Database db(warden_->database_path());
    ASSERT_TRUE(db.ok()) << db.error();
    ASSERT_TRUE(
        db.exec("CREATE TEMP TABLE newest AS SELECT * FROM schema_version "
                "ORDER BY version DESC LIMIT 1;"
                "UPDATE newest SET version = version + 100;"
                "INSERT INTO schema_version SELECT * FROM newest;"))
        << db.error();
  }
  const auto before = slurp(warden_->database_path());
  CliResult r =
      run_cli({"serve", "--data-dir", warden_->data_dir(), "--listen", "127.0.0.1:0"}, {}, 10000);
  EXPECT_NE(r.exit_code, 0) << r.output();
  EXPECT_NE(r.exit_code, -1) << "still running after 10 s: " << r.output();
  const std::string out = lower(r.output());
  EXPECT_TRUE(out.find("newer") != std::string::npos ||
              out.find("schema_too_new") != std::string::npos)
      << r.output();
  EXPECT_EQ(slurp(warden_->database_path()), before) << "the newer database was modified";
}

TEST_F(AuditVerifyTest, VerifyPassesOnAnIntactChain) {
  auto ids = make_history();
  ASSERT_EQ(ids.size(), baseline_ + 6);
  CliResult r = warden_->cli({"audit", "verify"});
  EXPECT_EQ(r.exit_code, 0) << r.output();
  EXPECT_NE(r.stdout_text.find("ok: " + std::to_string(ids.size()) + " rows"), std::string::npos)
      << r.output();
}

TEST_F(AuditVerifyTest, EditedRowIsNamed) {
  auto ids = make_history();
  ASSERT_EQ(ids.size(), baseline_ + 6);
  const std::string victim = ids[baseline_ + 3];
  tamper("UPDATE audit_log SET details = '{\"tampered\":true}' WHERE id = " + victim);
  CliResult r = warden_->cli({"audit", "verify"});
  EXPECT_EQ(r.exit_code, 1) << r.output();
  EXPECT_TRUE(std::regex_search(r.output(), std::regex("(^|[^0-9])" + victim + "([^0-9]|$)")))
      << "row " << victim << " not named: " << r.output();
  EXPECT_EQ(r.stdout_text.find("ok:"), std::string::npos) << r.output();
}

TEST_F(AuditVerifyTest, DeletedRowBreaksTheChain) {
  auto ids = make_history();
  ASSERT_EQ(ids.size(), baseline_ + 6);
  const std::size_t gap = baseline_ + 2;
  tamper("DELETE FROM audit_log WHERE id = " + ids[gap]);
  CliResult r = warden_->cli({"audit", "verify"});
  EXPECT_EQ(r.exit_code, 1) << r.output();
  // Either the missing id or the first row that no longer links (the one after the gap).
  const std::regex named("(^|[^0-9])(" + ids[gap] + "|" + ids[gap + 1] + ")([^0-9]|$)");
  EXPECT_TRUE(std::regex_search(r.output(), named))
      << "neither row " << ids[gap] << " nor " << ids[gap + 1] << " named: " << r.output();
}

}  // namespace
}  // namespace warden::testing
