// Internal to the SQLite store: the numbered migrations that build the schema, with enum CHECK
// constraints generated from the lists in core/enums.h.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace warden::store::sqlite {

struct Migration {
  int version;            // 1, 2, ... without gaps; applied in this order
  std::string_view name;  // recorded in schema_version.name
  std::string (*sql)();   // the DDL; run inside the migration's transaction
  // Rebuilds a table other tables reference: run with foreign keys off (so dropping the old
  // table neither fails nor cascades), every foreign key checked before the commit.
  bool foreign_keys_off = false;
};

// Every migration this binary knows, in version order. Append only: never edit one that has
// shipped, add a new one instead.
std::span<const Migration> migrations();

// Created before anything else so the applied version can be read.
inline constexpr std::string_view kSchemaVersionDdl =
    "CREATE TABLE IF NOT EXISTS schema_version ("
    "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)";

// "CHECK (column IN ('A', 'B'))", quoting each value as an SQL literal.
// With `nullable`, NULL is accepted as well.
std::string check_in(std::string_view column, std::span<const std::string_view> values,
                     bool nullable = false);
// The same constraint as "CHECK (column = 'A' OR column = 'B')". SQLite evaluates an IN list of
// three or more values through a scratch b-tree built on every row it checks; comparisons cost
// nothing like that. Used on the tables every decision writes (migration 3).
std::string check_any(std::string_view column, std::span<const std::string_view> values,
                      bool nullable = false);

}  // namespace warden::store::sqlite
