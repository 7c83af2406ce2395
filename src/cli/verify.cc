// `warden policy validate FILE` and `warden audit verify`: offline checks, no daemon needed.
#include <boost/json/serialize.hpp>
#include <filesystem>
#include <iostream>

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

int run_audit_verify(const CheckStoreArgs& args) {
  auto store = open_checked_store(args);
  if (!store.ok()) {
    std::cerr << "error: " << store.status().to_string() << "\n";
    return store.status().code() == ErrorCode::CONFIG_INVALID ? kExitUsage : kExitFailed;
  }
  auto report = (*store)->verify_audit();
  if (!report.ok()) {
    std::cerr << "error: " << report.status().to_string() << "\n";
    return kExitFailed;
  }
  if (report->first_broken_id) {
    std::cout << "broken: row " << *report->first_broken_id << ": " << report->problem << " ("
              << report->rows_checked << " rows checked)\n";
    return kExitFailed;
  }
  std::cout << "ok: " << report->rows_checked << " rows\n";
  return kExitOk;
}

}  // namespace warden::cli
