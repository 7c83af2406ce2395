// Internal to the SQLite store: small helpers the query files share for running a bound
// statement and mapping its rows.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>
#include <vector>

#include "store/sqlite/connection.h"

namespace warden::store::sqlite {

// SQLite LIMIT takes a signed 64-bit value.
inline std::int64_t sql_limit(std::size_t limit) {
  constexpr auto kMax = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
  return static_cast<std::int64_t>(std::min(limit, kMax));
}

// Runs a bound statement and maps each row with `read`.
template <class Row, class ReadFn>
Result<std::vector<Row>> collect(Stmt& st, ReadFn read) {
  std::vector<Row> rows;
  for (;;) {
    WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
    if (!row) return rows;
    rows.push_back(read(st));
    if (!st.read_status().ok()) return st.read_status();
  }
}

template <class Row, class ReadFn>
Result<std::optional<Row>> first(Stmt& st, ReadFn read) {
  WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
  if (!row) return std::optional<Row>();
  Row r = read(st);
  if (!st.read_status().ok()) return st.read_status();
  return std::optional<Row>(std::move(r));
}

// Runs an UPDATE/DELETE by id and turns "no such row" into `missing`.
inline Status run_on_existing(Connection& c, Stmt& st, ErrorCode missing, std::string_view id) {
  WARDEN_RETURN_IF_ERROR(st.run());
  if (c.changes() == 0) return Status(missing, fmt::format("no row with id {}", id));
  return Status();
}

}  // namespace warden::store::sqlite
