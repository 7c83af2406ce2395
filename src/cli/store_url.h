// Which store a command opens: the embedded SQLite file of its data directory (the default), or
// a PostgreSQL database shared by replicas (cluster mode, docs/cluster.md) named by a URL.
#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "store/postgres/pg.h"
#include "store/postgres/pg_store.h"
#include "store/store.h"

namespace warden::cli {

// The environment variable holding the PostgreSQL role's password (else --store-password-file).
inline constexpr const char* kStorePasswordEnv = "WARDEN_STORE_PASSWORD";

// True for postgres:// and postgresql:// URLs.
bool is_postgres_url(const std::string& url);

// The connection settings of a PostgreSQL URL: the URL must carry no password (it would show in
// logs and process lists); the password comes from WARDEN_STORE_PASSWORD or the first line of
// `password_file`. CONFIG_INVALID otherwise; no message ever holds the password.
Result<store::postgres::ConnectionConfig> postgres_config(const std::string& url,
                                                         const std::string& password_file);

// The PostgreSQL store named by url for a one-shot command (one pooled read connection):
// CONFIG_INVALID for the URL or password as postgres_config, else open()'s error.
Result<std::unique_ptr<store::postgres::PostgresStore>> open_postgres_store(
    const std::string& url, const std::string& password_file);

}  // namespace warden::cli
