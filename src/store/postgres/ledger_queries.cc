// The SQL behind the credit ledger's store operations on PostgreSQL: lots, entries, holds,
// operations, payments, webhook and usage events, twins of store/sqlite/ledger_queries.cc. The
// schema (migration 5) refuses the writes the WriteTxn contract forbids.
#include <fmt/format.h>

#include "store/postgres/queries.h"
#include "store/postgres/row_reader.h"

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

LotRow read_lot(const RowView& st) {
  LotRow r;
  r.id = st.text(0);
  r.owner = st.text(1);
  r.source = st.text(2);
  r.amount = st.text(3);
  r.currency = st.text(4);
  r.expires_at = st.opt_int64(5);
  r.status = st.text(6);
  r.payment_id = st.opt_text(7);
  r.created_at = st.int64(8);
  return r;
}

LotEntryRow read_entry(const RowView& st) {
  LotEntryRow r;
  r.id = st.int64(0);
  r.lot_id = st.text(1);
  r.owner = st.text(2);
  r.currency = st.text(3);
  r.entry_type = st.text(4);
  r.amount = st.text(5);
  r.op_id = st.text(6);
  r.hold_id = st.opt_text(7);
  r.tx_id = st.opt_text(8);
  r.created_at = st.int64(9);
  return r;
}

HoldRow read_hold(const RowView& st) {
  HoldRow r;
  r.id = st.text(0);
  r.owner = st.text(1);
  r.currency = st.text(2);
  r.amount = st.text(3);
  r.status = st.text(4);
  r.posted_amount = st.opt_text(5);
  r.tx_id = st.opt_text(6);
  r.expires_at = st.int64(7);
  r.created_at = st.int64(8);
  r.updated_at = st.int64(9);
  return r;
}

LedgerOpRow read_op(const RowView& st) {
  LedgerOpRow r;
  r.id = st.text(0);
  r.kind = st.text(1);
  r.idempotency_key = st.opt_text(2);
  r.request_hash = st.text(3);
  r.result = st.text(4);
  r.created_at = st.int64(5);
  return r;
}

PaymentRow read_payment(const RowView& st) {
  PaymentRow r;
  r.id = st.text(0);
  r.provider = st.text(1);
  r.owner = st.text(2);
  r.amount = st.text(3);
  r.currency = st.text(4);
  r.status = st.text(5);
  r.lot_id = st.opt_text(6);
  r.created_at = st.int64(7);
  r.updated_at = st.int64(8);
  return r;
}

WebhookEventRow read_webhook(const RowView& st) {
  WebhookEventRow r;
  r.provider = st.text(0);
  r.event_id = st.text(1);
  r.payload = st.text(2);
  r.received_at = st.int64(3);
  r.processed_at = st.opt_int64(4);
  return r;
}

// Bits: 0 owner, 1 currency; their parameters follow `n`.
std::string lot_filter_sql(unsigned v, int& n) {
  std::string sql;
  if (v & 1u) sql += fmt::format(" AND owner = ${}", ++n);
  if (v & 2u) sql += fmt::format(" AND currency = ${}", ++n);
  return sql;
}

unsigned lot_filter_params(const LotFilter& f, std::vector<Param>& params) {
  unsigned v = 0;
  if (f.owner) {
    v |= 1u;
    params.emplace_back(*f.owner);
  }
  if (f.currency) {
    v |= 2u;
    params.emplace_back(*f.currency);
  }
  return v;
}

}  // namespace

Result<std::optional<LotRow>> get_lot(Connection& c, std::string_view id) {
  static const std::string sql =
      fmt::format("SELECT {} FROM credit_lots WHERE id = $1", kLotColumns);
  return first<LotRow>(c.exec_prepared(sql, {str(id)}), read_lot);
}

Result<std::vector<LotRow>> list_lots(Connection& c, const LotFilter& filter, const Page& page) {
  static const SqlVariants<2> variants([](unsigned v) {
    int n = 1;
    std::string sql = fmt::format("SELECT {} FROM credit_lots WHERE id > $1", kLotColumns);
    sql += lot_filter_sql(v, n);
    return sql + fmt::format(" ORDER BY id LIMIT ${}", ++n);
  });
  std::vector<Param> params{page.after_id.value_or("")};
  const unsigned v = lot_filter_params(filter, params);
  params.push_back(limit_param(page.limit));
  return collect<LotRow>(c.exec_prepared(variants[v], params), read_lot);
}

Status scan_lot_balances(Connection& c, const LotFilter& filter,
                         const std::function<Status(const LotBalanceRow&)>& each) {
  static const SqlVariants<2> variants([](unsigned v) {
    int n = 0;
    return fmt::format("SELECT {}, remaining, held FROM lot_balances WHERE true{} ORDER BY id",
                       kLotColumns, lot_filter_sql(v, n));
  });
  std::vector<Param> params;
  const unsigned v = lot_filter_params(filter, params);
  return for_each_row<LotBalanceRow>(
      c.exec_prepared(variants[v], params),
      [](const RowView& s) {
        return LotBalanceRow{read_lot(s), s.text(9), s.text(10)};
      },
      each);
}

Result<std::vector<LotEntryRow>> list_lot_entries(Connection& c, const LotEntryFilter& filter) {
  static const SqlVariants<2> variants([](unsigned v) {
    int n = 1;
    std::string sql = fmt::format("SELECT {} FROM lot_entries WHERE id > $1", kEntryColumns);
    if (v & 1u) sql += fmt::format(" AND owner = ${}", ++n);
    if (v & 2u) sql += fmt::format(" AND lot_id = ${}", ++n);
    return sql + fmt::format(" ORDER BY id LIMIT ${}", ++n);
  });
  unsigned v = 0;
  std::vector<Param> params{num(filter.after_id)};
  if (filter.owner) {
    v |= 1u;
    params.emplace_back(*filter.owner);
  }
  if (filter.lot_id) {
    v |= 2u;
    params.emplace_back(*filter.lot_id);
  }
  params.push_back(limit_param(filter.limit));
  return collect<LotEntryRow>(c.exec_prepared(variants[v], params), read_entry);
}

Status scan_lot_entries(Connection& c, const std::function<Status(const LotEntryRow&)>& each) {
  // Pages in id order, so the whole ledger is never one result in memory.
  static const std::string sql =
      fmt::format("SELECT {} FROM lot_entries WHERE id > $1 ORDER BY id LIMIT 5000", kEntryColumns);
  std::int64_t after = 0;
  for (;;) {
    WARDEN_ASSIGN_OR_RETURN(Rows rows, c.exec_prepared(sql, {num(after)}));
    if (rows.size() == 0) return Status();
    for (int i = 0; i < rows.size(); ++i) {
      LotEntryRow row = read_entry(RowView(rows, i));
      after = row.id;
      WARDEN_RETURN_IF_ERROR(each(row));
    }
  }
}

Result<std::optional<HoldRow>> get_hold(Connection& c, std::string_view id) {
  static const std::string sql =
      fmt::format("SELECT {} FROM ledger_holds WHERE id = $1", kHoldColumns);
  return first<HoldRow>(c.exec_prepared(sql, {str(id)}), read_hold);
}

Result<std::vector<HoldRow>> list_pending_holds(Connection& c) {
  static const std::string sql =
      fmt::format("SELECT {} FROM ledger_holds WHERE status = 'pending' ORDER BY id", kHoldColumns);
  return collect<HoldRow>(c.exec_prepared(sql), read_hold);
}

Status scan_pending_hold_entries(Connection& c,
                                 const std::function<Status(const LotEntryRow&)>& each) {
  static const std::string sql = fmt::format(
      "SELECT {} FROM ledger_holds h JOIN lot_entries e ON e.hold_id = h.id "
      "WHERE h.status = 'pending' ORDER BY e.id",
      kEntryColumnsOfE);
  return for_each_row<LotEntryRow>(c.exec_prepared(sql), read_entry, each);
}

Result<std::optional<LedgerOpRow>> find_ledger_op(Connection& c, std::string_view idempotency_key) {
  static const std::string sql =
      fmt::format("SELECT {} FROM ledger_ops WHERE idempotency_key = $1", kOpColumns);
  return first<LedgerOpRow>(c.exec_prepared(sql, {str(idempotency_key)}), read_op);
}

Status scan_ledger_ops_since(Connection& c, std::int64_t since,
                             const std::function<Status(const LedgerOpRow&)>& each) {
  static const std::string sql = fmt::format(
      "SELECT {} FROM ledger_ops WHERE idempotency_key IS NOT NULL AND created_at >= $1 "
      "ORDER BY created_at",
      kOpColumns);
  return for_each_row<LedgerOpRow>(c.exec_prepared(sql, {num(since)}), read_op, each);
}

Result<std::optional<PaymentRow>> get_payment(Connection& c, std::string_view id) {
  static const std::string sql =
      fmt::format("SELECT {} FROM payments WHERE id = $1", kPaymentColumns);
  return first<PaymentRow>(c.exec_prepared(sql, {str(id)}), read_payment);
}

Result<std::optional<WebhookEventRow>> get_webhook_event(Connection& c, std::string_view provider,
                                                         std::string_view event_id) {
  static const std::string sql = fmt::format(
      "SELECT {} FROM webhook_events WHERE provider = $1 AND event_id = $2", kWebhookColumns);
  return first<WebhookEventRow>(c.exec_prepared(sql, {str(provider), str(event_id)}), read_webhook);
}

Status insert_lot(Connection& c, const LotRow& r) {
  static const std::string sql = fmt::format(
      "INSERT INTO credit_lots ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)", kLotColumns);
  return c
      .exec_prepared(sql, {r.id, r.owner, r.source, r.amount, r.currency, num(r.expires_at),
                           r.status, r.payment_id, num(r.created_at)})
      .status();
}

Status update_lot_status(Connection& c, std::string_view id, std::string_view status) {
  static const std::string sql = "UPDATE credit_lots SET status = $1 WHERE id = $2";
  return on_existing(c.exec_prepared(sql, {str(status), str(id)}), ErrorCode::INTERNAL_ERROR, id);
}

Status insert_lot_entry(Connection& c, LotEntryRow& r) {
  static const std::string sql =
      "INSERT INTO lot_entries (lot_id, owner, currency, entry_type, amount, op_id, hold_id, "
      "tx_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id";
  WARDEN_ASSIGN_OR_RETURN(
      Rows rows, c.exec_prepared(sql, {r.lot_id, r.owner, r.currency, r.entry_type, r.amount,
                                       r.op_id, r.hold_id, r.tx_id, num(r.created_at)}));
  if (rows.size() != 1) {
    return Status(ErrorCode::INTERNAL_STORE_ERROR, "lot_entries insert returned no id");
  }
  r.id = RowView(rows, 0).int64(0);
  return Status();
}

Status insert_hold(Connection& c, const HoldRow& r) {
  static const std::string sql =
      fmt::format("INSERT INTO ledger_holds ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                  kHoldColumns);
  return c
      .exec_prepared(sql, {r.id, r.owner, r.currency, r.amount, r.status, r.posted_amount, r.tx_id,
                           num(r.expires_at), num(r.created_at), num(r.updated_at)})
      .status();
}

Status update_hold(Connection& c, const HoldRow& r) {
  // Every column is written, so a change the contract forbids reaches the trigger that refuses
  // it instead of being dropped here.
  static const std::string sql =
      "UPDATE ledger_holds SET owner = $1, currency = $2, amount = $3, status = $4, "
      "posted_amount = $5, tx_id = $6, expires_at = $7, created_at = $8, updated_at = $9 "
      "WHERE id = $10";
  return on_existing(
      c.exec_prepared(sql, {r.owner, r.currency, r.amount, r.status, r.posted_amount, r.tx_id,
                            num(r.expires_at), num(r.created_at), num(r.updated_at), r.id}),
      ErrorCode::LEDGER_HOLD_NOT_FOUND, r.id);
}

Status insert_ledger_op(Connection& c, const LedgerOpRow& r) {
  static const std::string sql =
      fmt::format("INSERT INTO ledger_ops ({}) VALUES ($1, $2, $3, $4, $5, $6)", kOpColumns);
  return c
      .exec_prepared(sql,
                     {r.id, r.kind, r.idempotency_key, r.request_hash, r.result, num(r.created_at)})
      .status();
}

Status insert_payment(Connection& c, const PaymentRow& r) {
  static const std::string sql = fmt::format(
      "INSERT INTO payments ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)", kPaymentColumns);
  return c
      .exec_prepared(sql, {r.id, r.provider, r.owner, r.amount, r.currency, r.status, r.lot_id,
                           num(r.created_at), num(r.updated_at)})
      .status();
}

Status update_payment(Connection& c, const PaymentRow& r) {
  static const std::string sql =
      "UPDATE payments SET provider = $1, owner = $2, amount = $3, currency = $4, status = $5, "
      "lot_id = $6, created_at = $7, updated_at = $8 WHERE id = $9";
  return on_existing(c.exec_prepared(sql, {r.provider, r.owner, r.amount, r.currency, r.status,
                                           r.lot_id, num(r.created_at), num(r.updated_at), r.id}),
                     ErrorCode::INTERNAL_ERROR, r.id);
}

Result<bool> insert_webhook_event(Connection& c, const WebhookEventRow& r) {
  static const std::string sql = fmt::format(
      "INSERT INTO webhook_events ({}) VALUES ($1, $2, $3, $4, $5) "
      "ON CONFLICT (provider, event_id) DO NOTHING",
      kWebhookColumns);
  WARDEN_ASSIGN_OR_RETURN(
      Rows rows, c.exec_prepared(sql, {r.provider, r.event_id, r.payload, num(r.received_at),
                                       num(r.processed_at)}));
  return rows.affected() == 1;
}

Status insert_usage_event(Connection& c, const UsageEventRow& r) {
  static const std::string sql =
      fmt::format("INSERT INTO usage_events ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                  kUsageColumns);
  return c
      .exec_prepared(sql, {r.id, r.agent_id, r.tx_id, r.provider, r.model, num(r.prompt_tokens),
                           num(r.completion_tokens), r.cost, r.currency, num(r.created_at)})
      .status();
}

Result<std::vector<UsageRollupRow>> usage_rollup(Connection& c, const UsageRollupFilter& f) {
  // One statement per grouping; the key is text so the row type is one.
  static constexpr std::string_view kSelect =
      "SELECT {} AS k, currency, count(*), sum(prompt_tokens), sum(completion_tokens), "
      "amount_sum(cost) FROM usage_events WHERE created_at >= $1 AND created_at < $2 "
      "AND ($3::text IS NULL OR agent_id = $3) AND ($4::text IS NULL OR model = $4) "
      "GROUP BY 1, 2 ORDER BY 1, 2 NULLS FIRST";  // SQLite sorts NULL first
  static const std::string by_hour =
      fmt::format(fmt::runtime(kSelect), "(created_at / 3600 * 3600)::text");
  static const std::string by_day =
      fmt::format(fmt::runtime(kSelect), "(created_at / 86400 * 86400)::text");
  static const std::string by_model = fmt::format(fmt::runtime(kSelect), "model");
  static const std::string by_app = fmt::format(fmt::runtime(kSelect), "agent_id");
  const std::string* sql = f.group_by == "hour"    ? &by_hour
                           : f.group_by == "day"   ? &by_day
                           : f.group_by == "model" ? &by_model
                           : f.group_by == "app"   ? &by_app
                                                   : nullptr;
  if (sql == nullptr) {
    return Status(ErrorCode::VALIDATION_INVALID_VALUE, "group_by must be hour, day, model or app");
  }
  return collect<UsageRollupRow>(
      c.exec_prepared(*sql, {num(f.from), num(f.to), f.agent_id, f.model}), [](const RowView& s) {
        UsageRollupRow r;
        r.key = s.text(0);
        r.currency = s.opt_text(1);
        r.requests = s.int64(2);
        r.prompt_tokens = s.int64(3);
        r.completion_tokens = s.int64(4);
        r.cost = s.text(5);
        return r;
      });
}

}  // namespace warden::store::postgres
