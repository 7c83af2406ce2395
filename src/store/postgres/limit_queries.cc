// Limits shared by replicas: one round trip each, to the functions migrate.cc keeps current
// (docs/cluster.md, "Exact limits across replicas").
#include "store/postgres/queries.h"

namespace warden::store::postgres {

Result<WindowState> reserve_window_state(Connection& c, const WindowReservation& w) {
  static const std::string kSql =
      "SELECT ok, first_bucket_ms, total, oldest_bucket_ms "
      "FROM reserve_window_state($1, $2, $3, $4, $5, $6)";
  WARDEN_ASSIGN_OR_RETURN(Rows rows, c.exec_prepared(kSql, {w.agent_id, w.meter,
                                                            std::to_string(w.bucket_ms),
                                                            std::to_string(w.first_bucket_ms),
                                                            w.amount, w.max}));
  if (rows.size() != 1) {
    return Status(ErrorCode::INTERNAL_STORE_ERROR, "reserve_window_state returned no row");
  }
  WindowState state;
  state.ok = rows.text(0, 0) == "t";
  state.first_bucket_ms = std::stoll(rows.text(0, 1));
  state.total = rows.text(0, 2);
  if (!rows.is_null(0, 3)) state.oldest_bucket = std::stoll(rows.text(0, 3));
  return state;
}

Result<bool> reserve_window(Connection& c, const WindowReservation& w) {
  WARDEN_ASSIGN_OR_RETURN(WindowState state, reserve_window_state(c, w));
  return state.ok;
}

void queue_window_add(Connection& c, std::string_view agent_id, std::string_view meter,
                      std::int64_t bucket_ms, std::int64_t first_bucket_ms,
                      std::string_view amount) {
  static const std::string kSql = "SELECT window_add($1, $2, $3, $4, $5)";
  c.defer_prepared(kSql, {std::string(agent_id), std::string(meter), std::to_string(bucket_ms),
                          std::to_string(first_bucket_ms), std::string(amount)});
}

Status adjust_window(Connection& c, std::string_view agent_id, std::string_view meter,
                     std::int64_t bucket_ms, std::string_view amount, bool subtract) {
  static const std::string kSql = "SELECT adjust_window($1, $2, $3, $4)";
  std::string delta = subtract ? "-" : "";
  delta += amount;
  return c.exec_prepared(kSql, {std::string(agent_id), std::string(meter),
                                std::to_string(bucket_ms), std::move(delta)})
      .status();
}

Result<bool> lots_within_credit(Connection& c, const std::vector<std::string>& lot_ids) {
  static const std::string kSql = "SELECT lots_within_credit($1::text[])";
  WARDEN_ASSIGN_OR_RETURN(Rows rows, c.exec_prepared(kSql, {text_array_param(lot_ids)}));
  return rows.text(0, 0) == "t";
}

}  // namespace warden::store::postgres
