// The SQL behind the credit ledger's store operations on PostgreSQL: lots, entries, holds,
// operations, payments, webhook and usage events; the twins of store/sqlite/ledger_queries.cc.
// The schema (migration 5) refuses the writes the WriteTxn contract forbids (SQLSTATE 23001,
// STORE_CONSTRAINT). Every statement is prepared once per connection: a statement whose WHERE
// depends on a filter picks one of a few fixed texts, so each keeps a plan that uses its index.
#include <fmt/format.h>

#include <array>

#include "store/postgres/queries.h"
#include "store/postgres/row_util.h"

namespace warden::store::postgres {
namespace {

constexpr std::string_view kLotColumns =
    "id, owner, source, amount, currency, expires_at, status, payment_id, created_at";
constexpr std::string_view kEntryColumns =
    "id, lot_id, owner, currency, entry_type, amount, op_id, hold_id, tx_id, created_at";
constexpr std::string_view kEntryColumnsOfE =
    "e.id, e.lot_id, e.owner, e.currency, e.entry_type, e.amount, e.op_id, e.hold_id, e.tx_id, "
    "e.created_at";
constexpr std::string_view kHoldColumns =
    "id, owner, currency, amount, status, posted_amount, tx_id, expires_at, created_at, "
    "updated_at";
constexpr std::string_view kOpColumns =
    "id, kind, idempotency_key, request_hash, result, created_at";
constexpr std::string_view kPaymentColumns =
    "id, provider, owner, amount, currency, status, lot_id, created_at, updated_at";
constexpr std::string_view kWebhookColumns =
    "provider, event_id, payload, received_at, processed_at";
constexpr std::string_view kUsageColumns =
    "id, agent_id, tx_id, provider, model, prompt_tokens, completion_tokens, cost, currency, "
    "created_at";

LotRow read_lot(const Cells& c) {
  LotRow r;
  r.id = c.text(0);
  r.owner = c.text(1);
  r.source = c.text(2);
  r.amount = c.text(3);
  r.currency = c.text(4);
  r.expires_at = c.opt_int64(5);
  r.status = c.text(6);
  r.payment_id = c.opt_text(7);
  r.created_at = c.int64(8);
  return r;
}

LotEntryRow read_entry(const Cells& c) {
  LotEntryRow r;
  r.id = c.int64(0);
  r.lot_id = c.text(1);
  r.owner = c.text(2);
  r.currency = c.text(3);
  r.entry_type = c.text(4);
  r.amount = c.text(5);
  r.op_id = c.text(6);
  r.hold_id = c.opt_text(7);
  r.tx_id = c.opt_text(8);
  r.created_at = c.int64(9);
  return r;
}

HoldRow read_hold(const Cells& c) {
  HoldRow r;
  r.id = c.text(0);
  r.owner = c.text(1);
  r.currency = c.text(2);
  r.amount = c.text(3);
  r.status = c.text(4);
  r.posted_amount = c.opt_text(5);
  r.tx_id = c.opt_text(6);
  r.expires_at = c.int64(7);
  r.created_at = c.int64(8);
  r.updated_at = c.int64(9);
  return r;
}

LedgerOpRow read_op(const Cells& c) {
  LedgerOpRow r;
  r.id = c.text(0);
  r.kind = c.text(1);
  r.idempotency_key = c.opt_text(2);
  r.request_hash = c.text(3);
  r.result = c.text(4);
  r.created_at = c.int64(5);
  return r;
}

PaymentRow read_payment(const Cells& c) {
  PaymentRow r;
  r.id = c.text(0);
  r.provider = c.text(1);
  r.owner = c.text(2);
  r.amount = c.text(3);
  r.currency = c.text(4);
  r.status = c.text(5);
  r.lot_id = c.opt_text(6);
  r.created_at = c.int64(7);
  r.updated_at = c.int64(8);
  return r;
}

WebhookEventRow read_webhook(const Cells& c) {
  WebhookEventRow r;
  r.provider = c.text(0);
  r.event_id = c.text(1);
  r.payload = c.text(2);
  r.received_at = c.int64(3);
  r.processed_at = c.opt_int64(4);
  return r;
}

// Calls `each` with every row of `rows` read by `read`, stopping at its first error.
template <class Row, class ReadFn>
Status scan(const Rows& rows, ReadFn read, const std::function<Status(const Row&)>& each) {
  for (int i = 0; i < rows.size(); ++i) WARDEN_RETURN_IF_ERROR(each(read(Cells(rows, i))));
  return Status();
}

// Which of two optional equality filters are set, as an index 0..3 into four statement texts.
int variant(bool first, bool second) { return (first ? 1 : 0) | (second ? 2 : 0); }

// The four texts of `format` ({0}: the columns, {1}: the filter's conditions, {2}: the number
// of the parameter after them) for the filters on `a` and `b`, whose parameters start at `next`.
std::array<std::string, 4> filter_variants(std::string_view format, std::string_view columns,
                                           std::string_view a, std::string_view b, int next) {
  std::array<std::string, 4> out;
  for (int v = 0; v < 4; ++v) {
    std::string where;
    int n = next;
    if (v & 1) where += fmt::format(" AND {} = ${}", a, n++);
    if (v & 2) where += fmt::format(" AND {} = ${}", b, n++);
    out[v] = fmt::format(fmt::runtime(format), columns, where, n);
  }
  return out;
}

void add_lot_filter(std::vector<Param>& params, const LotFilter& f) {
  if (f.owner) params.push_back(*f.owner);
  if (f.currency) params.push_back(*f.currency);
}

}  // namespace

Result<std::optional<LotRow>> get_lot(Connection& c, std::string_view id) {
  static const std::string sql =
      fmt::format("SELECT {} FROM credit_lots WHERE id = $1", kLotColumns);
  WARDEN_ASSIGN_OR_RETURN(Rows rows, c.exec_prepared(sql, {param(id)}));
  return first<LotRow>(rows, read_lot);
}

Result<std::vector<LotRow>> list_lots(Connection& c, const LotFilter& filter, const Page& page) {
  static const std::array<std::string, 4> sql =
      filter_variants("SELECT {0} FROM credit_lots WHERE id > $1{1} ORDER BY id LIMIT ${2}",
                      kLotColumns, "owner", "currency", 2);
  std::vector<Param> params{page.after_id.value_or("")};
  add_lot_filter(params, filter);
  params.push_back(limit_param(page.limit));
  WARDEN_ASSIGN_OR_RETURN(
      Rows rows,
      c.exec_prepared(sql[variant(filter.owner.has_value(), filter.currency.has_value())], params));
  return collect<LotRow>(rows, read_lot);
}

Status scan_lot_balances(Connection& c, const LotFilter& filter,
                         const std::function<Status(const LotBalanceRow&)>& each) {
  // The view groups by (owner, currency, id), so the planner pushes the filter into it and
  // reads one range of idx_credit_lots_owner_currency.
  static const std::array<std::string, 4> sql =
      filter_variants("SELECT {0}, remaining, held FROM lot_balances WHERE true{1} ORDER BY id",
                      kLotColumns, "owner", "currency", 1);
  std::vector<Param> params;
  add_lot_filter(params, filter);
  WARDEN_ASSIGN_OR_RETURN(
      Rows rows,
      c.exec_prepared(sql[variant(filter.owner.has_value(), filter.currency.has_value())], params));
  return scan<LotBalanceRow>(
      rows,
      [](const Cells& r) {
        return LotBalanceRow{read_lot(r), r.text(9), r.text(10)};
      },
      each);
}

Result<std::vector<LotEntryRow>> list_lot_entries(Connection& c, const LotEntryFilter& filter) {
  static const std::array<std::string, 4> sql =
      filter_variants("SELECT {0} FROM lot_entries WHERE id > $1{1} ORDER BY id LIMIT ${2}",
                      kEntryColumns, "owner", "lot_id", 2);
  std::vector<Param> params{param(filter.after_id)};
  if (filter.owner) params.push_back(*filter.owner);
  if (filter.lot_id) params.push_back(*filter.lot_id);
  params.push_back(limit_param(filter.limit));
  WARDEN_ASSIGN_OR_RETURN(
      Rows rows,
      c.exec_prepared(sql[variant(filter.owner.has_value(), filter.lot_id.has_value())], params));
  return collect<LotEntryRow>(rows, read_entry);
}

Status scan_lot_entries(Connection& c, const std::function<Status(const LotEntryRow&)>& each) {
  static const std::string sql =
      fmt::format("SELECT {} FROM lot_entries ORDER BY id", kEntryColumns);
  WARDEN_ASSIGN_OR_RETURN(Rows rows, c.exec_prepared(sql));
  return scan<LotEntryRow>(rows, read_entry, each);
}

Result<std::optional<HoldRow>> get_hold(Connection& c, std::string_view id) {
  static const std::string sql =
      fmt::format("SELECT {} FROM ledger_holds WHERE id = $1", kHoldColumns);
  WARDEN_ASSIGN_OR_RETURN(Rows rows, c.exec_prepared(sql, {param(id)}));
  return first<HoldRow>(rows, read_hold);
}

Result<std::vector<HoldRow>> list_pending_holds(Connection& c) {
  // The condition matches idx_ledger_holds_pending's, so the partial index serves it in order.
  static const std::string sql =
      fmt::format("SELECT {} FROM ledger_holds WHERE status = 'pending' ORDER BY id", kHoldColumns);
  WARDEN_ASSIGN_OR_RETURN(Rows rows, c.exec_prepared(sql));
  return collect<HoldRow>(rows, read_hold);
}

Status scan_pending_hold_entries(Connection& c,
                                 const std::function<Status(const LotEntryRow&)>& each) {
  // The pending holds (a partial index), then each one's entries (idx_lot_entries_hold_id).
  static const std::string sql = fmt::format(
      "SELECT {} FROM ledger_holds h JOIN lot_entries e ON e.hold_id = h.id "
      "WHERE h.status = 'pending' ORDER BY e.id",
      kEntryColumnsOfE);
  WARDEN_ASSIGN_OR_RETURN(Rows rows, c.exec_prepared(sql));
  return scan<LotEntryRow>(rows, read_entry, each);
}

Result<std::optional<LedgerOpRow>> find_ledger_op(Connection& c, std::string_view idempotency_key) {
  static const std::string sql =
      fmt::format("SELECT {} FROM ledger_ops WHERE idempotency_key = $1", kOpColumns);
  WARDEN_ASSIGN_OR_RETURN(Rows rows, c.exec_prepared(sql, {param(idempotency_key)}));
  return first<LedgerOpRow>(rows, read_op);
}

Status scan_ledger_ops_since(Connection& c, std::int64_t since,
                             const std::function<Status(const LedgerOpRow&)>& each) {
  // idx_ledger_ops_created_at covers only keyed operations: one range of it, in time order.
  static const std::string sql = fmt::format(
      "SELECT {} FROM ledger_ops WHERE idempotency_key IS NOT NULL AND created_at >= $1 "
      "ORDER BY created_at",
      kOpColumns);
  WARDEN_ASSIGN_OR_RETURN(Rows rows, c.exec_prepared(sql, {param(since)}));
  return scan<LedgerOpRow>(rows, read_op, each);
}

Result<std::optional<PaymentRow>> get_payment(Connection& c, std::string_view id) {
  static const std::string sql =
      fmt::format("SELECT {} FROM payments WHERE id = $1", kPaymentColumns);
  WARDEN_ASSIGN_OR_RETURN(Rows rows, c.exec_prepared(sql, {param(id)}));
  return first<PaymentRow>(rows, read_payment);
}

Result<std::optional<WebhookEventRow>> get_webhook_event(Connection& c, std::string_view provider,
                                                         std::string_view event_id) {
  static const std::string sql = fmt::format(
      "SELECT {} FROM webhook_events WHERE provider = $1 AND event_id = $2", kWebhookColumns);
  WARDEN_ASSIGN_OR_RETURN(Rows rows, c.exec_prepared(sql, {param(provider), param(event_id)}));
  return first<WebhookEventRow>(rows, read_webhook);
}

Status insert_lot(Connection& c, const LotRow& r) {
  static const std::string sql = fmt::format(
      "INSERT INTO credit_lots ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)", kLotColumns);
  WARDEN_ASSIGN_OR_RETURN(Param amount, amount_param("credit_lots.amount", r.amount));
  return c
      .exec_prepared(
          sql, {param(r.id), param(r.owner), param(r.source), amount, param(r.currency),
                param(r.expires_at), param(r.status), param(r.payment_id), param(r.created_at)})
      .status();
}

Status update_lot_status(Connection& c, std::string_view id, std::string_view status) {
  static const std::string sql = "UPDATE credit_lots SET status = $1 WHERE id = $2";
  WARDEN_ASSIGN_OR_RETURN(Rows rows, c.exec_prepared(sql, {param(status), param(id)}));
  return on_existing(rows, ErrorCode::INTERNAL_ERROR, id);
}

Status insert_lot_entry(Connection& c, LotEntryRow& r) {
  // The identity column assigns the id; RETURNING hands it back in the same round trip.
  static const std::string sql =
      "INSERT INTO lot_entries (lot_id, owner, currency, entry_type, amount, op_id, hold_id, "
      "tx_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id";
  WARDEN_ASSIGN_OR_RETURN(Param amount, amount_param("lot_entries.amount", r.amount));
  WARDEN_ASSIGN_OR_RETURN(
      Rows rows, c.exec_prepared(sql, {param(r.lot_id), param(r.owner), param(r.currency),
                                       param(r.entry_type), amount, param(r.op_id),
                                       param(r.hold_id), param(r.tx_id), param(r.created_at)}));
  if (rows.size() != 1) {
    return Status(ErrorCode::INTERNAL_STORE_ERROR, "INSERT INTO lot_entries returned no id");
  }
  r.id = Cells(rows, 0).int64(0);
  return Status();
}

Status insert_hold(Connection& c, const HoldRow& r) {
  static const std::string sql =
      fmt::format("INSERT INTO ledger_holds ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                  kHoldColumns);
  WARDEN_ASSIGN_OR_RETURN(Param amount, amount_param("ledger_holds.amount", r.amount));
  WARDEN_ASSIGN_OR_RETURN(Param posted,
                          amount_param("ledger_holds.posted_amount", r.posted_amount));
  return c
      .exec_prepared(sql, {param(r.id), param(r.owner), param(r.currency), amount,
                           param(r.status), posted, param(r.tx_id),
                           param(r.expires_at), param(r.created_at), param(r.updated_at)})
      .status();
}

Status update_hold(Connection& c, const HoldRow& r) {
  // Every column is written, so a change the contract forbids reaches the trigger that refuses
  // it instead of being dropped here.
  static const std::string sql =
      "UPDATE ledger_holds SET owner = $1, currency = $2, amount = $3, status = $4, "
      "posted_amount = $5, tx_id = $6, expires_at = $7, created_at = $8, updated_at = $9 "
      "WHERE id = $10";
  WARDEN_ASSIGN_OR_RETURN(Param amount, amount_param("ledger_holds.amount", r.amount));
  WARDEN_ASSIGN_OR_RETURN(Param posted,
                          amount_param("ledger_holds.posted_amount", r.posted_amount));
  WARDEN_ASSIGN_OR_RETURN(
      Rows rows,
      c.exec_prepared(sql, {param(r.owner), param(r.currency), amount, param(r.status),
                            posted, param(r.tx_id), param(r.expires_at),
                            param(r.created_at), param(r.updated_at), param(r.id)}));
  return on_existing(rows, ErrorCode::LEDGER_HOLD_NOT_FOUND, r.id);
}

Status insert_ledger_op(Connection& c, const LedgerOpRow& r) {
  static const std::string sql =
      fmt::format("INSERT INTO ledger_ops ({}) VALUES ($1, $2, $3, $4, $5, $6)", kOpColumns);
  return c
      .exec_prepared(sql, {param(r.id), param(r.kind), param(r.idempotency_key),
                           param(r.request_hash), param(r.result), param(r.created_at)})
      .status();
}

Status insert_payment(Connection& c, const PaymentRow& r) {
  static const std::string sql = fmt::format(
      "INSERT INTO payments ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)", kPaymentColumns);
  WARDEN_ASSIGN_OR_RETURN(Param amount, amount_param("payments.amount", r.amount));
  return c
      .exec_prepared(
          sql, {param(r.id), param(r.provider), param(r.owner), amount, param(r.currency),
                param(r.status), param(r.lot_id), param(r.created_at), param(r.updated_at)})
      .status();
}

Status update_payment(Connection& c, const PaymentRow& r) {
  // Every column is written: the trigger decides what may change (see update_hold).
  static const std::string sql =
      "UPDATE payments SET provider = $1, owner = $2, amount = $3, currency = $4, status = $5, "
      "lot_id = $6, created_at = $7, updated_at = $8 WHERE id = $9";
  WARDEN_ASSIGN_OR_RETURN(
      Rows rows, c.exec_prepared(sql, {param(r.provider), param(r.owner), param(r.amount),
                                       param(r.currency), param(r.status), param(r.lot_id),
                                       param(r.created_at), param(r.updated_at), param(r.id)}));
  return on_existing(rows, ErrorCode::INTERNAL_ERROR, r.id);
}

Result<bool> insert_webhook_event(Connection& c, const WebhookEventRow& r) {
  static const std::string sql = fmt::format(
      "INSERT INTO webhook_events ({}) VALUES ($1, $2, $3, $4, $5) "
      "ON CONFLICT (provider, event_id) DO NOTHING",
      kWebhookColumns);
  WARDEN_ASSIGN_OR_RETURN(
      Rows rows, c.exec_prepared(sql, {param(r.provider), param(r.event_id), param(r.payload),
                                       param(r.received_at), param(r.processed_at)}));
  return rows.affected() == 1;
}

Status insert_usage_event(Connection& c, const UsageEventRow& r) {
  static const std::string sql =
      fmt::format("INSERT INTO usage_events ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                  kUsageColumns);
  return c
      .exec_prepared(sql, {param(r.id), param(r.agent_id), param(r.tx_id), param(r.provider),
                           param(r.model), param(r.prompt_tokens), param(r.completion_tokens),
                           param(r.cost), param(r.currency), param(r.created_at)})
      .status();
}

Result<std::vector<UsageRollupRow>> usage_rollup(Connection& c, const UsageRollupFilter& f) {
  // One statement per grouping and agent filter (with it, idx_usage_events_agent_created serves
  // the range). The key is text, as SQLite's, and both it and the currency sort bytewise with
  // NULL first, as SQLite does, whatever the database's collation. The token sums are cast back
  // to BIGINT so that an overflow is an error, as SQLite's integer sum() raises one.
  static const std::array<std::string, 8> sql = [] {
    constexpr std::string_view kSelect =
        "SELECT ({}) COLLATE \"C\", currency COLLATE \"C\", count(*), "
        "sum(prompt_tokens)::BIGINT, sum(completion_tokens)::BIGINT, amount_sum(cost) "
        "FROM usage_events WHERE created_at >= $1 AND created_at < $2 "
        "AND ($3::TEXT IS NULL OR model = $3){} "
        "GROUP BY 1, 2 ORDER BY 1, 2 NULLS FIRST";
    constexpr std::array<std::string_view, 4> kKeys = {"(created_at / 3600 * 3600)::TEXT",
                                                       "(created_at / 86400 * 86400)::TEXT",
                                                       "model", "agent_id"};
    std::array<std::string, 8> out;
    for (std::size_t k = 0; k < kKeys.size(); ++k) {
      out[2 * k] = fmt::format(fmt::runtime(kSelect), kKeys[k], "");
      out[2 * k + 1] = fmt::format(fmt::runtime(kSelect), kKeys[k], " AND agent_id = $4");
    }
    return out;
  }();
  const int key = f.group_by == "hour"    ? 0
                  : f.group_by == "day"   ? 1
                  : f.group_by == "model" ? 2
                  : f.group_by == "app"   ? 3
                                          : -1;
  if (key < 0) {
    return Status(ErrorCode::VALIDATION_INVALID_VALUE, "group_by must be hour, day, model or app");
  }
  std::vector<Param> params{param(f.from), param(f.to), param(f.model)};
  if (f.agent_id) params.push_back(*f.agent_id);
  WARDEN_ASSIGN_OR_RETURN(Rows rows, c.exec_prepared(sql[2 * key + (f.agent_id ? 1 : 0)], params));
  return collect<UsageRollupRow>(rows, [](const Cells& r) {
    UsageRollupRow out;
    out.key = r.text(0);
    out.currency = r.opt_text(1);
    out.requests = r.int64(2);
    out.prompt_tokens = r.int64(3);
    out.completion_tokens = r.int64(4);
    out.cost = r.text(5);
    return out;
  });
}

}  // namespace warden::store::postgres
