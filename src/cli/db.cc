// `warden db migrate`: the PostgreSQL schema of cluster mode, applied by the owner role
// (docs/cluster.md, "Migrations"). Replicas never migrate: they refuse a schema that is not
// this binary's.
#include <iostream>

#include "cli/commands.h"
#include "cli/store_url.h"
#include "store/postgres/migrate.h"

namespace warden::cli {

int run_db_migrate(const DbMigrateArgs& args) {
  auto config = postgres_config(args.store_url, args.store_password_file);
  if (!config.ok()) {
    std::cerr << "error: " << config.status().message() << "\n";
    return kExitUsage;
  }
  auto conn = store::postgres::Connection::connect(*config);
  if (!conn.ok()) {
    std::cerr << "error: " << conn.status().to_string() << "\n";
    return kExitFailed;
  }
  auto applied = store::postgres::migrate(**conn);
  if (!applied.ok()) {
    std::cerr << "error: " << applied.status().to_string() << "\n";
    return kExitFailed;
  }
  std::cout << "applied " << *applied << " migration(s); schema version "
            << store::postgres::latest_schema_version() << "\n";
  return kExitOk;
}

}  // namespace warden::cli
