// The PostgreSQL schema: the SQLite store's migrations 1..N in PostgreSQL dialect (one twin per
// SQLite migration, same tables and columns), applied by the owner role under an advisory lock so
// replicas starting together migrate once, then the grants of the application role
// (docs/cluster.md, "PostgreSQL schema and roles").
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/status.h"
#include "store/postgres/pg.h"

namespace warden::store::postgres {

struct Migration {
  int version;            // 1, 2, ... without gaps; the same numbers as the SQLite migrations
  std::string_view name;  // recorded in schema_version.name
  std::string (*sql)();   // the DDL; run inside the migrating transaction
};

// Append only, like the SQLite list: a shipped migration is never edited.
std::span<const Migration> migrations();
int latest_schema_version();

// The role the daemon connects as, and the owner role that runs the migrations (scripts/pg.sh
// creates both).
inline constexpr std::string_view kAppRole = "warden";
inline constexpr std::string_view kOwnerRole = "warden_owner";

// The pg_advisory_xact_lock key every migrating transaction takes first ("wardenmg").
inline constexpr std::int64_t kMigrationLockKey = 0x77617264656e6d67;

// The highest version recorded in schema_version; 0 when the table does not exist yet.
Result<int> applied_schema_version(Connection& conn);

// Brings the schema to latest_schema_version() in one transaction that holds the advisory lock:
// creates schema_version, applies each missing migration and records it, the cluster objects, and
// the tenant isolation (row-level security, schema app) when it changed, then sets the grants of
// `app_role` (exactly those the store needs: earlier grants on these tables are revoked first).
// Returns how many migrations this call applied (0 when another replica already did). A
// schema newer than this binary is STORE_SCHEMA_TOO_NEW. `conn` must be the owner role's.
Result<int> migrate(Connection& conn, std::string_view app_role = kAppRole);

}  // namespace warden::store::postgres
