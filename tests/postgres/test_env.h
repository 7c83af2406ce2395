// What the PostgreSQL tests know of the server tests/postgres/server.sh started: its key=value
// file (WARDEN_PG_TEST_ENV) and a connection config for a role and a fixture database.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "store/postgres/pg.h"

namespace warden::store::postgres {

// The key=value lines of the server's file; empty when the variable is unset (no server).
std::map<std::string, std::string> server_env();

// "owner" (warden_owner, runs migrations) or "app" (the warden role, as the daemon connects),
// on `database`. A password that cannot be read is recorded as a test failure.
ConnectionConfig test_config(const std::string& role, std::string_view database);

// Sets the daemon's tenant context ('*', every org) for the rest of the session, as
// PostgresStore's read pool does: for tests that run SQL or the store's queries as the
// application role on a connection of their own (row-level security needs a context).
Status act_for_all_orgs(Connection& conn);

}  // namespace warden::store::postgres
