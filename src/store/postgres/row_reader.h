// Internal to the PostgreSQL store: what the query files share to pass parameters and map rows.
// Every value travels as text (pg.h): integers in decimal, booleans as true/false, NULL as
// nullopt.
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

#include "store/postgres/pg.h"

namespace warden::store::postgres {

inline Param num(std::int64_t v) { return std::to_string(v); }
inline Param num(const std::optional<std::int64_t>& v) {
  return v ? Param(std::to_string(*v)) : std::nullopt;
}
inline Param flag(bool v) { return std::string(v ? "true" : "false"); }
inline Param str(std::string_view v) { return std::string(v); }

// LIMIT takes a signed 64-bit value.
inline Param limit_param(std::size_t limit) {
  constexpr auto kMax = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
  return std::to_string(std::min(limit, kMax));
}

// One row of a result, read by column number.
class RowView {
 public:
  RowView(const Rows& rows, int row) : rows_(rows), row_(row) {}
  std::string text(int column) const { return rows_.text(row_, column); }
  std::optional<std::string> opt_text(int column) const {
    if (rows_.is_null(row_, column)) return std::nullopt;
    return rows_.text(row_, column);
  }
  std::int64_t int64(int column) const {
    std::string_view v = rows_.view(row_, column);
    std::int64_t out = 0;
    std::from_chars(v.data(), v.data() + v.size(), out);
    return out;
  }
  std::optional<std::int64_t> opt_int64(int column) const {
    if (rows_.is_null(row_, column)) return std::nullopt;
    return int64(column);
  }
  bool boolean(int column) const { return rows_.view(row_, column) == "t"; }

 private:
  const Rows& rows_;
  int row_;
};

// Every row of a statement's result, mapped with `read`.
template <class Row, class ReadFn>
Result<std::vector<Row>> collect(Result<Rows> result, ReadFn read) {
  if (!result.ok()) return result.take_status();
  const Rows& rows = *result;
  std::vector<Row> out;
  out.reserve(static_cast<std::size_t>(rows.size()));
  for (int i = 0; i < rows.size(); ++i) out.push_back(read(RowView(rows, i)));
  return out;
}

// The first row, if any.
template <class Row, class ReadFn>
Result<std::optional<Row>> first(Result<Rows> result, ReadFn read) {
  if (!result.ok()) return result.take_status();
  if (result->size() == 0) return std::optional<Row>();
  return std::optional<Row>(read(RowView(*result, 0)));
}

// Calls each for every row; stops at its first error.
template <class Row, class ReadFn, class EachFn>
Status for_each_row(Result<Rows> result, ReadFn read, const EachFn& each) {
  if (!result.ok()) return result.take_status();
  for (int i = 0; i < result->size(); ++i) {
    WARDEN_RETURN_IF_ERROR(each(read(RowView(*result, i))));
  }
  return Status();
}

// An UPDATE/DELETE by id whose "no such row" is `missing`.
inline Status on_existing(Result<Rows> result, ErrorCode missing, std::string_view id) {
  if (!result.ok()) return result.take_status();
  if (result->affected() == 0) return Status(missing, fmt::format("no row with id {}", id));
  return Status();
}

// Statement texts chosen by which optional filters are set: variant i has filter b when bit b of
// i is set. Built once per process, so each variant is one prepared statement per connection.
template <std::size_t N>
struct SqlVariants {
  std::vector<std::string> texts;
  template <class BuildFn>
  explicit SqlVariants(BuildFn build) {
    texts.reserve(std::size_t{1} << N);
    for (unsigned i = 0; i < (1u << N); ++i) texts.push_back(build(i));
  }
  const std::string& operator[](unsigned i) const { return texts[i]; }
};

}  // namespace warden::store::postgres
