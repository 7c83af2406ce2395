// The suite on PostgreSQL: every test uses the one database the postgres_server fixture made for
// this binary (tests/postgres/CMakeLists.txt), so its cases never run at once (RESOURCE_LOCK).
// The owner role migrates it once per process and empties it before each test; the store then
// connects as the application role, as the daemon does.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <mutex>

#include "store/postgres/migrate.h"
#include "store/postgres/pg.h"
#include "store/postgres/pg_store.h"
#include "store/suite/store_suite.h"
#include "test_env.h"

namespace warden::store::suite {
namespace {

constexpr std::string_view kDatabase = "t_store_suite";

class PostgresInstance final : public StoreInstance {
 public:
  PostgresInstance(std::unique_ptr<postgres::Connection> owner,
                   std::unique_ptr<postgres::PostgresStore> store)
      : owner_(std::move(owner)), store_(std::move(store)) {}
  Store& store() override { return *store_; }
  Status tamper(std::string_view table, std::string_view sql) override {
    // The guard triggers (append-only audit_log and the like) refuse even the owner; the owner
    // may switch them off. One simple query: the three statements commit or fail together.
    return owner_->exec_script(fmt::format(
        "ALTER TABLE {0} DISABLE TRIGGER USER; {1}; ALTER TABLE {0} ENABLE TRIGGER USER", table,
        sql));
  }
  // BYTEA since migration 10.
  std::string stored_hash(std::string_view hex) const override {
    return fmt::format("decode('{}', 'hex')", hex);
  }

 private:
  std::unique_ptr<postgres::Connection> owner_;
  std::unique_ptr<postgres::PostgresStore> store_;
};

// Every table but schema_version, emptied with its identities back at 1 (the tests expect the
// first audit row, the first lot entry... to have id 1, as in a new SQLite file).
Status empty_database(postgres::Connection& owner) {
  WARDEN_ASSIGN_OR_RETURN(
      postgres::Rows tables,
      owner.exec("SELECT string_agg(quote_ident(tablename), ', ' ORDER BY tablename) "
                 "FROM pg_tables WHERE schemaname = current_schema() "
                 "AND tablename <> 'schema_version'"));
  if (tables.size() != 1 || tables.is_null(0, 0)) {
    return Status(ErrorCode::INTERNAL_STORE_ERROR, "the migrated database has no tables");
  }
  return owner.exec_script(fmt::format("TRUNCATE {} RESTART IDENTITY CASCADE", tables.text(0, 0)));
}

class PostgresBackend final : public Backend {
 public:
  std::string name() const override { return "postgres"; }

  std::unique_ptr<StoreInstance> open_empty() override {
    if (postgres::server_env().empty()) {
      ADD_FAILURE() << "WARDEN_PG_TEST_ENV names no server file: run through ctest, whose "
                       "postgres_server fixture starts the server";
      return nullptr;
    }
    auto owner = postgres::Connection::connect(postgres::test_config("owner", kDatabase));
    if (!owner.ok()) {
      ADD_FAILURE() << "owner connection: " << owner.status().to_string();
      return nullptr;
    }
    std::call_once(migrated_, [&] {
      // An earlier test process may have migrated already; then there is nothing to redo.
      Result<int> version = postgres::applied_schema_version(**owner);
      if (!version.ok()) {
        migration_ = version.status();
      } else if (*version < postgres::latest_schema_version()) {
        migration_ = postgres::migrate(**owner).status();
      }
    });
    if (!migration_.ok()) {
      ADD_FAILURE() << "migrate: " << migration_.to_string();
      return nullptr;
    }
    if (Status s = empty_database(**owner); !s.ok()) {
      ADD_FAILURE() << "emptying " << kDatabase << ": " << s.to_string();
      return nullptr;
    }
    auto store = postgres::PostgresStore::open(
        {.config = postgres::test_config("app", kDatabase), .read_connections = 2});
    if (!store.ok()) {
      ADD_FAILURE() << "PostgresStore::open: " << store.status().to_string();
      return nullptr;
    }
    return std::make_unique<PostgresInstance>(std::move(owner).value(), std::move(store).value());
  }

 private:
  std::once_flag migrated_;
  Status migration_;
};

}  // namespace

std::vector<Backend*> backends() {
  static PostgresBackend postgres;
  return {&postgres};
}

}  // namespace warden::store::suite
