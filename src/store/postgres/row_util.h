// Internal to the PostgreSQL store: what the query files share to bind parameters and read rows
// in libpq's text format (integers in decimal, booleans as "t"/"f", NULL as no value).
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/amount.h"
#include "store/postgres/pg.h"

namespace warden::store::postgres {

inline Param param(std::string_view v) { return std::string(v); }
inline Param param(const std::string& v) { return v; }
inline Param param(const char* v) { return std::string(v); }
inline Param param(const std::optional<std::string>& v) { return v; }
inline Param param(std::int64_t v) { return std::to_string(v); }
inline Param param(bool v) { return std::string(v ? "true" : "false"); }
inline Param param(const std::optional<std::int64_t>& v) {
  return v ? Param(std::to_string(*v)) : Param();
}

// An amount column's text, refused as SQLite's check_amount() refuses it: only what
// Amount::parse reads (canonical decimal digits, "0" or no leading zero, at most 2^256 - 1).
// PostgreSQL's NUMERIC would read "007", " 1" or "1e3" as numbers.
inline Result<Param> amount_param(std::string_view column, const std::optional<std::string>& v) {
  if (!v) return Param();
  if (Result<Amount> parsed = Amount::parse(*v); !parsed.ok()) {
    return Status(ErrorCode::STORE_CONSTRAINT, "CHECK constraint failed: " + std::string(column) +
                                                   ": " + parsed.status().message());
  }
  return Param(*v);
}

// LIMIT takes a BIGINT: a size past its range means "no limit" and is clamped.
inline Param limit_param(std::size_t limit) {
  constexpr auto kMax = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
  return std::to_string(std::min(limit, kMax));
}

// One row of a result, its columns counted from `first` (so a reader can start past a prefix).
class Cells {
 public:
  Cells(const Rows& rows, int row, int first = 0) : rows_(rows), row_(row), first_(first) {}
  Cells at(int first) const { return Cells(rows_, row_, first_ + first); }

  std::string text(int c) const { return rows_.text(row_, first_ + c); }
  std::optional<std::string> opt_text(int c) const {
    if (rows_.is_null(row_, first_ + c)) return std::nullopt;
    return text(c);
  }
  // The columns read as integers are BIGINT or INTEGER (or a count cast to BIGINT), whose text
  // always parses; NULL reads as 0 only where the column is NOT NULL anyway.
  std::int64_t int64(int c) const {
    const std::string t = text(c);
    std::int64_t v = 0;
    std::from_chars(t.data(), t.data() + t.size(), v);
    return v;
  }
  std::optional<std::int64_t> opt_int64(int c) const {
    if (rows_.is_null(row_, first_ + c)) return std::nullopt;
    return int64(c);
  }
  bool boolean(int c) const { return text(c) == "t"; }

 private:
  const Rows& rows_;
  int row_;
  int first_;
};

template <class Row, class ReadFn>
std::vector<Row> collect(const Rows& rows, ReadFn read) {
  std::vector<Row> out;
  out.reserve(static_cast<std::size_t>(rows.size()));
  for (int i = 0; i < rows.size(); ++i) out.push_back(read(Cells(rows, i)));
  return out;
}

template <class Row, class ReadFn>
std::optional<Row> first(const Rows& rows, ReadFn read) {
  if (rows.size() == 0) return std::nullopt;
  return read(Cells(rows, 0));
}

// An UPDATE or DELETE by id that touched no row: `missing` (the caller named no such row).
inline Status on_existing(const Rows& rows, ErrorCode missing, std::string_view id) {
  if (rows.affected() == 0) return Status(missing, fmt::format("no row with id {}", id));
  return Status();
}

}  // namespace warden::store::postgres
