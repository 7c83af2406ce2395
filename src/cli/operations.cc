// `warden backup`, `warden restore` and `warden db stats` (docs/operations.md). Backup and stats
// only read the database and run beside the daemon, without the data directory's lock; restore
// takes the lock, so it runs only while no daemon serves the directory.
#include <fmt/format.h>

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <filesystem>
#include <iostream>

#include "archive/archive.h"
#include "cli/commands.h"
#include "cli/data_dir_lock.h"
#include "core/clock.h"
#include "core/errors.h"
#include "server/session_tokens.h"
#include "store/sqlite/maintenance.h"

namespace warden::cli {

namespace fs = std::filesystem;
namespace sq = store::sqlite;

namespace {

int exit_for(const Status& s) {
  std::cerr << "error: " << s.to_string() << "\n";
  return s.code() == ErrorCode::CONFIG_INVALID ? kExitUsage : kExitFailed;
}

// Everything `db stats` prints, in both forms.
struct StatsView {
  std::string db_path;
  std::int64_t file_bytes = 0;
  std::int64_t wal_bytes = 0;
  std::string archive_dir;
  bool archive_exists = false;
  sq::DirectorySize archive;
  sq::DatabaseStats db;
  std::int64_t decisions = 0;
  std::int64_t database_bytes() const { return db.pages * db.page_size_bytes; }
  std::optional<std::int64_t> bytes_per_decision() const {
    if (decisions == 0) return std::nullopt;
    return database_bytes() / decisions;
  }
};

void print_stats_json(const StatsView& v) {
  boost::json::array objects;
  for (const sq::ObjectStats& o : v.db.objects) {
    boost::json::object row{{"name", o.name},
                            {"kind", o.kind},
                            {"table", o.table},
                            {"pages", o.pages},
                            {"bytes", o.bytes}};
    if (o.rows) row["rows"] = *o.rows;
    objects.push_back(std::move(row));
  }
  const auto per_decision = v.bytes_per_decision();
  boost::json::object out{{"database",
                           {{"path", v.db_path},
                            {"file_bytes", v.file_bytes},
                            {"wal_bytes", v.wal_bytes},
                            {"page_size_bytes", v.db.page_size_bytes},
                            {"pages", v.db.pages},
                            {"free_pages", v.db.free_pages},
                            {"bytes", v.database_bytes()}}},
                          {"archive",
                           {{"path", v.archive_dir},
                            {"exists", v.archive_exists},
                            {"files", v.archive.files},
                            {"bytes", v.archive.bytes}}},
                          {"decisions", v.decisions},
                          {"bytes_per_decision", per_decision ? boost::json::value(*per_decision)
                                                              : boost::json::value(nullptr)},
                          {"objects", std::move(objects)}};
  std::cout << boost::json::serialize(out) << "\n";
}

void print_stats_text(const StatsView& v) {
  std::cout << fmt::format("database   {}: {} bytes in the file, {} in the WAL\n", v.db_path,
                           v.file_bytes, v.wal_bytes);
  std::cout << fmt::format(
      "           {} pages of {} bytes = {} bytes ({} free pages; the file's size after a "
      "checkpoint)\n",
      v.db.pages, v.db.page_size_bytes, v.database_bytes(), v.db.free_pages);
  std::cout << fmt::format("archive    {}: {}\n", v.archive_dir,
                           v.archive_exists
                               ? fmt::format("{} files, {} bytes", v.archive.files, v.archive.bytes)
                               : std::string("none"));
  const auto per_decision = v.bytes_per_decision();
  std::cout << fmt::format(
      "decisions  {} stored, {} bytes per decision (database bytes / rows "
      "of transactions)\n\n",
      v.decisions, per_decision ? std::to_string(*per_decision) : std::string("-"));
  std::size_t name_width = 4;
  std::size_t table_width = 5;
  for (const sq::ObjectStats& o : v.db.objects) {
    name_width = std::max(name_width, o.name.size());
    table_width = std::max(table_width, o.table.size());
  }
  constexpr int kNumberWidth = 12;
  std::cout << fmt::format("{:<{}}  {:<5}  {:<{}}  {:>{}}  {:>{}}  {:>{}}\n", "name", name_width,
                           "kind", "table", table_width, "rows", kNumberWidth, "bytes",
                           kNumberWidth, "pages", kNumberWidth);
  for (const sq::ObjectStats& o : v.db.objects) {
    std::cout << fmt::format("{:<{}}  {:<5}  {:<{}}  {:>{}}  {:>{}}  {:>{}}\n", o.name, name_width,
                             o.kind, o.table, table_width,
                             o.rows ? std::to_string(*o.rows) : std::string("-"), kNumberWidth,
                             o.bytes, kNumberWidth, o.pages, kNumberWidth);
  }
}

}  // namespace

int run_backup(const BackupArgs& args) {
  const std::string db = database_path(args.data_dir);
  auto report = sq::backup_database(db, args.target, {.overwrite = args.force});
  if (!report.ok()) return exit_for(report.status());
  std::cout << fmt::format(
      "backup {}: {} pages of {} bytes ({} bytes) copied in {} steps; {} transactions, {} audit "
      "rows\n",
      args.target, report->pages, report->page_size_bytes, report->pages * report->page_size_bytes,
      report->steps, report->transactions_rows, report->audit_rows);
  return kExitOk;
}

int run_restore(const RestoreArgs& args) {
  std::error_code ec;
  if (!fs::is_directory(args.data_dir, ec)) {
    fs::create_directories(args.data_dir, ec);
    fs::permissions(args.data_dir, fs::perms::owner_all, fs::perm_options::replace, ec);
    if (ec) {
      std::cerr << "error: cannot create " << args.data_dir << ": " << ec.message() << "\n";
      return kExitFailed;
    }
  }
  DataDirLock lock;
  std::string lock_error;
  switch (lock.acquire(args.data_dir, &lock_error)) {
    case DataDirLock::Outcome::kTaken:
      break;
    case DataDirLock::Outcome::kBusy:
      std::cerr << "error: a daemon is serving " << args.data_dir << " ("
                << DataDirLock::path(args.data_dir) << " is locked); stop it first\n";
      return kExitFailed;
    case DataDirLock::Outcome::kFailed:
      std::cerr << "error: " << lock_error << "\n";
      return kExitFailed;
  }
  const std::string db = database_path(args.data_dir);
  std::string replaced_dir;
  if (args.force) {
    const SystemClock clock;
    replaced_dir =
        (fs::path(args.data_dir) / fmt::format("replaced-{}", clock.now_seconds())).string();
  }
  auto report = sq::restore_database(args.backup, db, {.replaced_dir = replaced_dir});
  if (!report.ok()) return exit_for(report.status());
  std::cout << fmt::format("restored {} as {}: {} transactions, {} audit rows\n", args.backup, db,
                           report->transactions_rows, report->audit_rows);
  if (report->replaced) std::cout << "the replaced database files are in " << replaced_dir << "\n";
  const char* secret_env = std::getenv(std::string(server::kMasterSecretEnv).c_str());
  if (!fs::exists(fs::path(args.data_dir) / server::kMasterSecretFile, ec) &&
      (secret_env == nullptr || *secret_env == '\0')) {
    std::cerr << "note: " << args.data_dir << " has no " << server::kMasterSecretFile
              << ": put the original's beside the database (or set " << server::kMasterSecretEnv
              << ") before `warden serve`, or no session can be "
              << "created with the restored signing keys\n";
  }
  return kExitOk;
}

int run_db_stats(const DbStatsArgs& args) {
  StatsView v;
  v.db_path = database_path(args.data_dir);
  auto stats = sq::database_stats(v.db_path);
  if (!stats.ok()) return exit_for(stats.status());
  v.db = std::move(stats).value();
  v.file_bytes = sq::file_size_or_zero(v.db_path);
  v.wal_bytes = sq::file_size_or_zero(v.db_path + "-wal");
  v.archive_dir = archive::archive_dir(args.data_dir);
  std::error_code ec;
  v.archive_exists = fs::is_directory(v.archive_dir, ec);
  auto archive = sq::directory_size(v.archive_dir);
  if (!archive.ok()) return exit_for(archive.status());
  v.archive = *archive;
  for (const sq::ObjectStats& o : v.db.objects) {
    if (o.name == "transactions" && o.rows) v.decisions = *o.rows;
  }
  if (args.json) {
    print_stats_json(v);
  } else {
    print_stats_text(v);
  }
  return kExitOk;
}

}  // namespace warden::cli
