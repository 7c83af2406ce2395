// `warden policy validate FILE`, `warden audit verify` and `warden audit export`: offline tools,
// no daemon needed (safe beside a running one).
#include <boost/json/serialize.hpp>
#include <charconv>
#include <ctime>
#include <filesystem>
#include <iomanip>
#include <sstream>
#include <tuple>
#include <iostream>

#include "archive/archive.h"
#include "cli/commands.h"
#include "cli/store_url.h"
#include "core/errors.h"
#include "engine/ir.h"
#include "policy/policy.h"
#include "store/sqlite/sqlite_store.h"

namespace warden::cli {

int run_policy_validate(const std::string& file) {
  auto spec = policy::load_policy_file(file);
  if (!spec.ok()) {
    std::cerr << "error: " << spec.status().to_string() << "\n";
    return kExitFailed;
  }
  const policy::Validation v = policy::validate(*spec, engine::custom_validate_options());
  for (const auto& issue : v.issues) {
    std::cout << policy::severity_name(issue.severity) << " " << issue.pointer << " "
              << issue.code << ": " << issue.message << "\n";
  }
  if (v.has_blocker()) {
    std::cout << "invalid: " << v.issues.size() << " issue(s), blocked\n";
    return kExitFailed;
  }
  std::cout << "hash " << v.hash << "\n";
  std::cout << "ok: " << v.issues.size() << " issue(s)\n";
  return kExitOk;
}

namespace {

// The store `audit verify` reads: the SQLite file read-only, or the cluster's PostgreSQL store.
Result<std::unique_ptr<store::Store>> open_checked_store(const CheckStoreArgs& args) {
  if (!args.store_url.empty()) {
    WARDEN_ASSIGN_OR_RETURN(auto pg, open_postgres_store(args.store_url, args.store_password_file));
    return std::unique_ptr<store::Store>(std::move(pg));
  }
  const std::string db = database_path(args.data_dir);
  if (!std::filesystem::exists(db)) {
    return Status(ErrorCode::STORE_NOT_INITIALIZED, "no database at " + db);
  }
  WARDEN_ASSIGN_OR_RETURN(auto lite, store::SqliteStore::open(db, {.read_only = true}));
  return std::unique_ptr<store::Store>(std::move(lite));
}

}  // namespace

// The archive's directory beside the SQLite file; a PostgreSQL store archives nothing.
std::string archive_dir_of(const CheckStoreArgs& args) {
  return args.store_url.empty() ? archive::archive_dir(args.data_dir) : std::string();
}

int run_audit_verify(const CheckStoreArgs& args) {
  auto store = open_checked_store(args);
  if (!store.ok()) {
    std::cerr << "error: " << store.status().to_string() << "\n";
    return store.status().code() == ErrorCode::CONFIG_INVALID ? kExitUsage : kExitFailed;
  }
  auto report = archive::verify_archive(**store, archive_dir_of(args));
  if (!report.ok()) {
    std::cerr << "error: " << report.status().to_string() << "\n";
    return kExitFailed;
  }
  if (!report->ok) {
    std::cout << "broken: ";
    if (report->broken_row) std::cout << "row " << *report->broken_row;
    if (report->broken_row && !report->broken_segment.empty()) std::cout << " in ";
    if (!report->broken_segment.empty()) std::cout << "segment " << report->broken_segment;
    if (!report->broken_row && report->broken_segment.empty()) std::cout << "archive";
    std::cout << ": " << report->problem << " (" << report->rows_checked << " rows checked)\n";
    return kExitFailed;
  }
  std::cout << "ok: " << report->rows_checked << " rows";
  if (report->segments_checked > 0) {
    std::cout << " (" << report->segments_checked << " archive segments)";
  }
  std::cout << "\n";
  return kExitOk;
}

namespace {

// Unix seconds, "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SSZ" (UTC).
std::optional<std::int64_t> parse_time(const std::string& text) {
  std::int64_t seconds = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
  if (ec == std::errc() && end == text.data() + text.size()) return seconds;
  std::tm tm{};
  std::istringstream in(text);
  if (text.size() == 10) {
    in >> std::get_time(&tm, "%Y-%m-%d");
  } else {
    in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%SZ");
  }
  if (in.fail() || in.peek() != std::char_traits<char>::eof()) return std::nullopt;
  return static_cast<std::int64_t>(timegm(&tm));
}

}  // namespace

int run_audit_export(const AuditExportArgs& args) {
  archive::ExportFilter filter;
  for (const auto& [text, field, name] :
       {std::tuple{&args.from, &filter.from, "--from"}, std::tuple{&args.to, &filter.to, "--to"}}) {
    if (text->empty()) continue;
    const auto t = parse_time(*text);
    if (!t) {
      std::cerr << "error: " << name << " must be Unix seconds, YYYY-MM-DD or "
                << "YYYY-MM-DDTHH:MM:SSZ, got '" << *text << "'\n";
      return kExitUsage;
    }
    *field = *t;
  }
  filter.agent_id = args.agent_id;
  auto store = open_checked_store(args.store);
  if (!store.ok()) {
    std::cerr << "error: " << store.status().to_string() << "\n";
    return store.status().code() == ErrorCode::CONFIG_INVALID ? kExitUsage : kExitFailed;
  }
  auto written = archive::export_audit(**store, archive_dir_of(args.store), filter, std::cout);
  if (!written.ok()) {
    std::cerr << "error: " << written.status().to_string() << "\n";
    return kExitFailed;
  }
  std::cerr << "exported " << *written << " rows\n";
  return kExitOk;
}

}  // namespace warden::cli
