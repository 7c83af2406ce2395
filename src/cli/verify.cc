// `warden policy validate FILE` and `warden audit verify`: offline checks, no daemon needed.
#include <boost/json/serialize.hpp>
#include <filesystem>
#include <iostream>

#include "cli/commands.h"
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

int run_audit_verify(const std::string& data_dir) {
  const std::string db = database_path(data_dir);
  if (!std::filesystem::exists(db)) {
    std::cerr << "error: no database at " << db << "\n";
    return kExitFailed;
  }
  auto store = store::SqliteStore::open(db, {.read_only = true});
  if (!store.ok()) {
    std::cerr << "error: " << store.status().to_string() << "\n";
    return kExitFailed;
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
