// The SQL behind the credit ledger's store operations: lots, entries, holds, operations,
// payments, webhook and usage events. The schema (migration 5) refuses the writes the WriteTxn
// contract forbids; the statements here are cached per connection and bind the row's strings in
// place, since a debit writes an operation and its entries in the same batch as every other.
#include <fmt/format.h>

#include "store/sqlite/queries.h"
#include "store/sqlite/query_util.h"

namespace warden::store::sqlite {
namespace {

constexpr std::string_view kLotColumns =
    "id, owner, source, amount, currency, expires_at, status, payment_id, created_at";
constexpr std::string_view kEntryColumns =
    "id, lot_id, owner, currency, entry_type, amount, op_id, hold_id, tx_id, created_at";
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

// The columns of kEntryColumns, each qualified with the alias "e.".
std::string entry_columns_of_e() {
  std::string out;
  std::string_view rest = kEntryColumns;
  while (!rest.empty()) {
    const std::size_t comma = rest.find(", ");
    out += fmt::format("{}e.{}", out.empty() ? "" : ", ", rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 2);
  }
  return out;
}

// Reads the lot columns starting at column `at`.
LotRow read_lot(const Stmt& st, int at = 0) {
  LotRow r;
  r.id = st.text(at + 0);
  r.owner = st.text(at + 1);
  r.source = st.text(at + 2);
  r.amount = st.text(at + 3);
  r.currency = st.text(at + 4);
  r.expires_at = st.opt_int64(at + 5);
  r.status = st.text(at + 6);
  r.payment_id = st.opt_text(at + 7);
  r.created_at = st.int64(at + 8);
  return r;
}

LotEntryRow read_entry(const Stmt& st) {
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

HoldRow read_hold(const Stmt& st) {
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

LedgerOpRow read_op(const Stmt& st) {
  LedgerOpRow r;
  r.id = st.text(0);
  r.kind = st.text(1);
  r.idempotency_key = st.opt_text(2);
  r.request_hash = st.text(3);
  r.result = st.text(4);
  r.created_at = st.int64(5);
  return r;
}

PaymentRow read_payment(const Stmt& st) {
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

WebhookEventRow read_webhook(const Stmt& st) {
  WebhookEventRow r;
  r.provider = st.text(0);
  r.event_id = st.text(1);
  r.payload = st.text(2);
  r.received_at = st.int64(3);
  r.processed_at = st.opt_int64(4);
  return r;
}

// Steps through a bound statement, calling each with every row read by `read`.
template <class Row, class ReadFn>
Status scan(Stmt& st, ReadFn read, const std::function<Status(const Row&)>& each) {
  for (;;) {
    WARDEN_ASSIGN_OR_RETURN(bool more, st.step());
    if (!more) return Status();
    WARDEN_RETURN_IF_ERROR(each(read(st)));
  }
}

// " AND owner = ? AND currency = ?" for the filter's fields that are set, and their binding.
std::string lot_filter_sql(const LotFilter& f) {
  std::string sql;
  if (f.owner) sql += " AND owner = ?";
  if (f.currency) sql += " AND currency = ?";
  return sql;
}

void bind_lot_filter(Stmt& st, const LotFilter& f) {
  if (f.owner) st.bind(*f.owner);
  if (f.currency) st.bind(*f.currency);
}

}  // namespace

Result<std::optional<LotRow>> get_lot(Connection& c, std::string_view id) {
  static const std::string sql =
      fmt::format("SELECT {} FROM credit_lots WHERE id = ?", kLotColumns);
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare(sql));
  st.bind(id);
  return first<LotRow>(st, [](const Stmt& s) { return read_lot(s); });
}

Result<std::vector<LotRow>> list_lots(Connection& c, const LotFilter& filter, const Page& page) {
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st,
      c.prepare(fmt::format("SELECT {} FROM credit_lots WHERE id > ?{} ORDER BY id LIMIT ?",
                            kLotColumns, lot_filter_sql(filter))));
  st.bind(page.after_id.value_or(""));
  bind_lot_filter(st, filter);
  st.bind(sql_limit(page.limit));
  return collect<LotRow>(st, [](const Stmt& s) { return read_lot(s); });
}

Status scan_lot_balances(Connection& c, const LotFilter& filter,
                         const std::function<Status(const LotBalanceRow&)>& each) {
  // The view groups by (owner, currency, id), so the filter is pushed into it and reads one
  // range of idx_credit_lots_owner_currency; only the lots themselves are sorted by id.
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st, c.prepare(fmt::format("SELECT {}, remaining, held FROM lot_balances WHERE 1{} "
                                     "ORDER BY id",
                                     kLotColumns, lot_filter_sql(filter))));
  bind_lot_filter(st, filter);
  return scan<LotBalanceRow>(
      st,
      [](const Stmt& s) {
        return LotBalanceRow{read_lot(s), s.text(9), s.text(10)};
      },
      each);
}

Result<std::vector<LotEntryRow>> list_lot_entries(Connection& c, const LotEntryFilter& filter) {
  std::string sql = fmt::format("SELECT {} FROM lot_entries WHERE id > ?", kEntryColumns);
  if (filter.owner) sql += " AND owner = ?";
  if (filter.lot_id) sql += " AND lot_id = ?";
  sql += " ORDER BY id LIMIT ?";
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare(sql));
  st.bind(filter.after_id);
  if (filter.owner) st.bind(*filter.owner);
  if (filter.lot_id) st.bind(*filter.lot_id);
  st.bind(sql_limit(filter.limit));
  return collect<LotEntryRow>(st, read_entry);
}

Status scan_lot_entries(Connection& c, const std::function<Status(const LotEntryRow&)>& each) {
  static const std::string sql =
      fmt::format("SELECT {} FROM lot_entries ORDER BY id", kEntryColumns);
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare(sql));
  return scan<LotEntryRow>(st, read_entry, each);
}

Result<std::optional<HoldRow>> get_hold(Connection& c, std::string_view id) {
  static const std::string sql =
      fmt::format("SELECT {} FROM ledger_holds WHERE id = ?", kHoldColumns);
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare(sql));
  st.bind(id);
  return first<HoldRow>(st, read_hold);
}

Result<std::vector<HoldRow>> list_pending_holds(Connection& c) {
  static const std::string sql =
      fmt::format("SELECT {} FROM ledger_holds WHERE status = 'pending' ORDER BY id", kHoldColumns);
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare(sql));
  return collect<HoldRow>(st, read_hold);
}

Status scan_pending_hold_entries(Connection& c,
                                 const std::function<Status(const LotEntryRow&)>& each) {
  // The pending holds (a partial index), then each one's entries (idx_lot_entries_hold_id);
  // only those are sorted. CROSS JOIN fixes that order: without statistics SQLite would rather
  // walk every entry and look its hold up.
  static const std::string sql = fmt::format(
      "SELECT {} FROM ledger_holds h CROSS JOIN lot_entries e ON e.hold_id = h.id "
      "WHERE h.status = 'pending' ORDER BY e.id",
      entry_columns_of_e());
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare(sql));
  return scan<LotEntryRow>(st, read_entry, each);
}

Result<std::optional<LedgerOpRow>> find_ledger_op(Connection& c, std::string_view idempotency_key) {
  static const std::string sql =
      fmt::format("SELECT {} FROM ledger_ops WHERE idempotency_key = ?", kOpColumns);
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare(sql));
  st.bind(idempotency_key);
  return first<LedgerOpRow>(st, read_op);
}

Status scan_ledger_ops_since(Connection& c, std::int64_t since,
                             const std::function<Status(const LedgerOpRow&)>& each) {
  // idx_ledger_ops_created_at covers only keyed operations: one range of it, in time order.
  static const std::string sql = fmt::format(
      "SELECT {} FROM ledger_ops WHERE idempotency_key IS NOT NULL AND created_at >= ? "
      "ORDER BY created_at",
      kOpColumns);
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare(sql));
  st.bind(since);
  return scan<LedgerOpRow>(st, read_op, each);
}

Result<std::optional<PaymentRow>> get_payment(Connection& c, std::string_view id) {
  static const std::string sql =
      fmt::format("SELECT {} FROM payments WHERE id = ?", kPaymentColumns);
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare(sql));
  st.bind(id);
  return first<PaymentRow>(st, read_payment);
}

Result<std::optional<WebhookEventRow>> get_webhook_event(Connection& c, std::string_view provider,
                                                         std::string_view event_id) {
  static const std::string sql = fmt::format(
      "SELECT {} FROM webhook_events WHERE provider = ? AND event_id = ?", kWebhookColumns);
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare(sql));
  st.bind(provider).bind(event_id);
  return first<WebhookEventRow>(st, read_webhook);
}

Status insert_lot(Connection& c, const LotRow& r) {
  static const std::string sql =
      fmt::format("INSERT INTO credit_lots ({}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", kLotColumns);
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare(sql));
  st.borrow_strings().bind(r.id).bind(r.owner).bind(r.source).bind(r.amount).bind(r.currency);
  st.bind(r.expires_at).bind(r.status).bind(r.payment_id).bind(r.created_at);
  return st.run();
}

Status update_lot_status(Connection& c, std::string_view id, std::string_view status) {
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare("UPDATE credit_lots SET status = ? WHERE id = ?"));
  st.borrow_strings().bind(status).bind(id);
  return run_on_existing(c, st, ErrorCode::INTERNAL_ERROR, id);
}

Status insert_lot_entry(Connection& c, LotEntryRow& r) {
  // Once or more per debit: no id bound, SQLite assigns the next rowid (rows are never deleted,
  // so it is one past the largest).
  static const std::string sql =
      "INSERT INTO lot_entries (lot_id, owner, currency, entry_type, amount, op_id, hold_id, "
      "tx_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare(sql));
  st.borrow_strings().bind(r.lot_id).bind(r.owner).bind(r.currency).bind(r.entry_type);
  st.bind(r.amount).bind(r.op_id).bind(r.hold_id).bind(r.tx_id).bind(r.created_at);
  WARDEN_RETURN_IF_ERROR(st.run());
  r.id = c.last_insert_rowid();
  return Status();
}

Status insert_hold(Connection& c, const HoldRow& r) {
  static const std::string sql = fmt::format(
      "INSERT INTO ledger_holds ({}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", kHoldColumns);
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare(sql));
  st.borrow_strings().bind(r.id).bind(r.owner).bind(r.currency).bind(r.amount).bind(r.status);
  st.bind(r.posted_amount).bind(r.tx_id).bind(r.expires_at).bind(r.created_at).bind(r.updated_at);
  return st.run();
}

Status update_hold(Connection& c, const HoldRow& r) {
  // Every column is written, so a change the contract forbids reaches the trigger that refuses
  // it instead of being dropped here.
  static const std::string sql =
      "UPDATE ledger_holds SET owner = ?, currency = ?, amount = ?, status = ?, "
      "posted_amount = ?, tx_id = ?, expires_at = ?, created_at = ?, updated_at = ? WHERE id = ?";
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare(sql));
  st.borrow_strings().bind(r.owner).bind(r.currency).bind(r.amount).bind(r.status);
  st.bind(r.posted_amount).bind(r.tx_id).bind(r.expires_at).bind(r.created_at).bind(r.updated_at);
  st.bind(r.id);
  return run_on_existing(c, st, ErrorCode::LEDGER_HOLD_NOT_FOUND, r.id);
}

Status insert_ledger_op(Connection& c, const LedgerOpRow& r) {
  static const std::string sql =
      fmt::format("INSERT INTO ledger_ops ({}) VALUES (?, ?, ?, ?, ?, ?)", kOpColumns);
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare(sql));
  st.borrow_strings().bind(r.id).bind(r.kind).bind(r.idempotency_key).bind(r.request_hash);
  st.bind(r.result).bind(r.created_at);
  return st.run();
}

Status insert_payment(Connection& c, const PaymentRow& r) {
  static const std::string sql =
      fmt::format("INSERT INTO payments ({}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", kPaymentColumns);
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare(sql));
  st.borrow_strings().bind(r.id).bind(r.provider).bind(r.owner).bind(r.amount).bind(r.currency);
  st.bind(r.status).bind(r.lot_id).bind(r.created_at).bind(r.updated_at);
  return st.run();
}

Status update_payment(Connection& c, const PaymentRow& r) {
  // Every column is written: the trigger decides what may change (see update_hold).
  static const std::string sql =
      "UPDATE payments SET provider = ?, owner = ?, amount = ?, currency = ?, status = ?, "
      "lot_id = ?, created_at = ?, updated_at = ? WHERE id = ?";
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare(sql));
  st.borrow_strings().bind(r.provider).bind(r.owner).bind(r.amount).bind(r.currency);
  st.bind(r.status).bind(r.lot_id).bind(r.created_at).bind(r.updated_at).bind(r.id);
  return run_on_existing(c, st, ErrorCode::INTERNAL_ERROR, r.id);
}

Result<bool> insert_webhook_event(Connection& c, const WebhookEventRow& r) {
  static const std::string sql = fmt::format(
      "INSERT INTO webhook_events ({}) VALUES (?, ?, ?, ?, ?) "
      "ON CONFLICT (provider, event_id) DO NOTHING",
      kWebhookColumns);
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare(sql));
  st.borrow_strings().bind(r.provider).bind(r.event_id).bind(r.payload).bind(r.received_at);
  st.bind(r.processed_at);
  WARDEN_RETURN_IF_ERROR(st.run());
  return c.changes() == 1;
}

Status insert_usage_event(Connection& c, const UsageEventRow& r) {
  static const std::string sql = fmt::format(
      "INSERT INTO usage_events ({}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", kUsageColumns);
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare(sql));
  st.borrow_strings().bind(r.id).bind(r.agent_id).bind(r.tx_id).bind(r.provider).bind(r.model);
  st.bind(r.prompt_tokens).bind(r.completion_tokens).bind(r.cost).bind(r.currency);
  st.bind(r.created_at);
  return st.run();
}

Result<std::vector<UsageRollupRow>> usage_rollup(Connection& c, const UsageRollupFilter& f) {
  // One statement per grouping, each cached; the key is text so the row type is one.
  static const std::string kSelect =
      "SELECT {} AS k, currency, count(*), sum(prompt_tokens), sum(completion_tokens), "
      "amount_sum(cost) FROM usage_events WHERE created_at >= ? AND created_at < ? "
      "AND (? IS NULL OR agent_id = ?) AND (? IS NULL OR model = ?) "
      "GROUP BY k, currency ORDER BY k, currency";
  static const std::string by_hour =
      fmt::format(fmt::runtime(kSelect), "CAST(created_at / 3600 * 3600 AS TEXT)");
  static const std::string by_day =
      fmt::format(fmt::runtime(kSelect), "CAST(created_at / 86400 * 86400 AS TEXT)");
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
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare(*sql));
  st.bind(f.from).bind(f.to).bind(f.agent_id).bind(f.agent_id).bind(f.model).bind(f.model);
  std::vector<UsageRollupRow> out;
  for (;;) {
    WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
    if (!row) break;
    UsageRollupRow r;
    r.key = st.text(0);
    r.currency = st.opt_text(1);
    r.requests = st.int64(2);
    r.prompt_tokens = st.int64(3);
    r.completion_tokens = st.int64(4);
    r.cost = st.text(5);
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace warden::store::sqlite
