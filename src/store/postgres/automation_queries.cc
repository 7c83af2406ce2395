// The SQL behind the automation store operations on PostgreSQL (migration 7): automations, their
// executions (the newest kExecutionsKeptMax per automation), accepted events and host
// inventories; the twins of store/sqlite/automation_queries.cc. JSON columns keep their text as
// written, so they read back byte for byte.
#include <fmt/format.h>

#include "store/postgres/queries.h"
#include "store/postgres/row_util.h"

namespace warden::store::postgres {
namespace {

constexpr std::string_view kAutomationColumns =
    "id, name, spec, ir, hash, version, enabled, priority, last_validation, last_dry_run, "
    "created_at, updated_at, org";
constexpr std::string_view kExecutionColumns =
    "id, automation_id, event_id, host, target_id, capability, verb, outcome, idempotency_key, "
    "effects, reason, correlation_id, started_at_ms, finished_at_ms";
constexpr std::string_view kEventColumns =
    "id, kind, source, subject, occurred_at_ms, attributes, received_at_ms";

AutomationRow read_automation(const Cells& c) {
  AutomationRow r;
  r.id = c.text(0);
  r.name = c.text(1);
  r.spec = c.text(2);
  r.ir = c.text(3);
  r.hash = c.text(4);
  r.version = c.int64(5);
  r.enabled = c.boolean(6);
  r.priority = c.int64(7);
  r.last_validation = c.opt_text(8);
  r.last_dry_run = c.opt_text(9);
  r.created_at = c.int64(10);
  r.updated_at = c.int64(11);
  r.org = c.opt_text(12);
  return r;
}

AutomationExecutionRow read_execution(const Cells& c) {
  AutomationExecutionRow r;
  r.id = c.text(0);
  r.automation_id = c.text(1);
  r.event_id = c.opt_text(2);
  r.host = c.text(3);
  r.target_id = c.text(4);
  r.capability = c.text(5);
  r.verb = c.text(6);
  r.outcome = c.text(7);
  r.idempotency_key = c.text(8);
  r.effects = c.text(9);
  r.reason = c.text(10);
  r.correlation_id = c.text(11);
  r.started_at_ms = c.int64(12);
  r.finished_at_ms = c.int64(13);
  return r;
}

EventRow read_event(const Cells& c) {
  EventRow r;
  r.id = c.text(0);
  r.kind = c.text(1);
  r.source = c.text(2);
  r.subject = c.text(3);
  r.occurred_at_ms = c.int64(4);
  r.attributes = c.text(5);
  r.received_at_ms = c.int64(6);
  return r;
}

}  // namespace

Result<std::optional<AutomationRow>> get_automation(Connection& c, std::string_view id) {
  static const std::string sql =
      fmt::format("SELECT {} FROM automations WHERE id = $1", kAutomationColumns);
  WARDEN_ASSIGN_OR_RETURN(Rows rows, c.exec_prepared(sql, {param(id)}));
  return first<AutomationRow>(rows, read_automation);
}

Result<std::optional<AutomationRow>> find_automation_by_hash(Connection& c, std::string_view hash) {
  static const std::string sql =
      fmt::format("SELECT {} FROM automations WHERE hash = $1", kAutomationColumns);
  WARDEN_ASSIGN_OR_RETURN(Rows rows, c.exec_prepared(sql, {param(hash)}));
  return first<AutomationRow>(rows, read_automation);
}

Result<std::vector<AutomationRow>> list_automations(Connection& c, const Page& page) {
  static const std::string sql = fmt::format(
      "SELECT {} FROM automations WHERE id > $1 ORDER BY id LIMIT $2", kAutomationColumns);
  WARDEN_ASSIGN_OR_RETURN(
      Rows rows, c.exec_prepared(sql, {page.after_id.value_or(""), limit_param(page.limit)}));
  return collect<AutomationRow>(rows, read_automation);
}

Result<std::vector<AutomationExecutionRow>> list_executions(
    Connection& c, std::string_view automation_id, const std::optional<std::string>& cursor,
    std::size_t limit) {
  // Newest first, from the start or below the cursor. SQLite bounds the first page by "~",
  // which sorts after every lower-case hex id in bytes; a database collation need not sort it
  // so, hence a statement without the bound.
  static const std::string first_page = fmt::format(
      "SELECT {} FROM automation_executions WHERE automation_id = $1 "
      "ORDER BY id DESC LIMIT $2",
      kExecutionColumns);
  static const std::string next_page = fmt::format(
      "SELECT {} FROM automation_executions WHERE automation_id = $1 AND id < $3 "
      "ORDER BY id DESC LIMIT $2",
      kExecutionColumns);
  std::vector<Param> params{param(automation_id), limit_param(limit)};
  if (cursor) params.push_back(*cursor);
  WARDEN_ASSIGN_OR_RETURN(Rows rows, c.exec_prepared(cursor ? next_page : first_page, params));
  return collect<AutomationExecutionRow>(rows, read_execution);
}

Result<std::optional<EventRow>> get_event(Connection& c, std::string_view id) {
  static const std::string sql = fmt::format("SELECT {} FROM events WHERE id = $1", kEventColumns);
  WARDEN_ASSIGN_OR_RETURN(Rows rows, c.exec_prepared(sql, {param(id)}));
  return first<EventRow>(rows, read_event);
}

Result<std::optional<InventoryRow>> get_inventory(Connection& c, std::string_view host) {
  static const std::string sql =
      "SELECT host, items, refreshed_at_ms, \"full\" FROM inventory WHERE host = $1";
  WARDEN_ASSIGN_OR_RETURN(Rows rows, c.exec_prepared(sql, {param(host)}));
  return first<InventoryRow>(rows, [](const Cells& r) {
    InventoryRow out;
    out.host = r.text(0);
    out.items = r.text(1);
    out.refreshed_at_ms = r.int64(2);
    out.full = r.boolean(3);
    return out;
  });
}

Status insert_automation(Connection& c, const AutomationRow& r) {
  static const std::string sql = fmt::format(
      "INSERT INTO automations ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, "
      "$13)",
      kAutomationColumns);
  return c
      .exec_prepared(
          sql, {param(r.id), param(r.name), param(r.spec), param(r.ir), param(r.hash),
                param(r.version), param(r.enabled), param(r.priority), param(r.last_validation),
                param(r.last_dry_run), param(r.created_at), param(r.updated_at),
                param(r.org)})
      .status();
}

Status update_automation(Connection& c, const AutomationRow& r) {
  static const std::string sql =
      "UPDATE automations SET name = $1, spec = $2, ir = $3, hash = $4, version = $5, "
      "enabled = $6, priority = $7, last_validation = $8, last_dry_run = $9, updated_at = $10 "
      "WHERE id = $11";
  WARDEN_ASSIGN_OR_RETURN(
      Rows rows, c.exec_prepared(sql, {param(r.name), param(r.spec), param(r.ir), param(r.hash),
                                       param(r.version), param(r.enabled), param(r.priority),
                                       param(r.last_validation), param(r.last_dry_run),
                                       param(r.updated_at), param(r.id)}));
  return on_existing(rows, ErrorCode::INTERNAL_ERROR, r.id);
}

Status delete_automation(Connection& c, std::string_view id) {
  // Its executions go with it (ON DELETE CASCADE).
  static const std::string sql = "DELETE FROM automations WHERE id = $1";
  WARDEN_ASSIGN_OR_RETURN(Rows rows, c.exec_prepared(sql, {param(id)}));
  return on_existing(rows, ErrorCode::INTERNAL_ERROR, id);
}

Status insert_execution(Connection& c, const AutomationExecutionRow& r) {
  // The insert and the trim in one statement, so no reader ever sees more than the kept number
  // and it costs one round trip. Its parts share one snapshot, which does not hold the new row:
  // `kept` is the newest of the old rows and the new one together, and the DELETE removes the
  // old rows outside it. The new row itself is outside only when it is older than the kept
  // number of rows (ids are UUID v7, so only when replicas race); the DELETE cannot see it, so
  // the statement says so and a second one removes it, as SQLite's trim would.
  static const std::string sql = fmt::format(
      "WITH ins AS (INSERT INTO automation_executions ({0}) VALUES ($1, $2, $3, $4, $5, $6, $7, "
      "$8, $9, $10, $11, $12, $13, $14) RETURNING id), "
      "kept AS (SELECT id FROM (SELECT id FROM automation_executions WHERE automation_id = $2 "
      "UNION ALL SELECT id FROM ins) a ORDER BY id DESC LIMIT {1}), "
      "gone AS (DELETE FROM automation_executions WHERE automation_id = $2 "
      "AND id NOT IN (SELECT id FROM kept) RETURNING id) "
      "SELECT NOT EXISTS (SELECT 1 FROM kept WHERE id = $1)",
      kExecutionColumns, kExecutionsKeptMax);
  static const std::string drop_new = "DELETE FROM automation_executions WHERE id = $1";
  WARDEN_ASSIGN_OR_RETURN(
      Rows rows, c.exec_prepared(sql, {param(r.id), param(r.automation_id), param(r.event_id),
                                       param(r.host), param(r.target_id), param(r.capability),
                                       param(r.verb), param(r.outcome), param(r.idempotency_key),
                                       param(r.effects), param(r.reason), param(r.correlation_id),
                                       param(r.started_at_ms), param(r.finished_at_ms)}));
  if (rows.size() == 1 && Cells(rows, 0).boolean(0)) {
    return c.exec_prepared(drop_new, {param(r.id)}).status();
  }
  return Status();
}

Status insert_event(Connection& c, const EventRow& r) {
  static const std::string sql =
      fmt::format("INSERT INTO events ({}) VALUES ($1, $2, $3, $4, $5, $6, $7)", kEventColumns);
  return c
      .exec_prepared(sql, {param(r.id), param(r.kind), param(r.source), param(r.subject),
                           param(r.occurred_at_ms), param(r.attributes), param(r.received_at_ms)})
      .status();
}

Result<std::int64_t> delete_events_before(Connection& c, std::int64_t received_at_ms,
                                          std::size_t limit) {
  // Oldest first through idx_events_received, at most `limit` of them.
  static const std::string sql =
      "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE received_at_ms < $1 "
      "ORDER BY received_at_ms LIMIT $2)";
  WARDEN_ASSIGN_OR_RETURN(Rows rows,
                          c.exec_prepared(sql, {param(received_at_ms), limit_param(limit)}));
  return static_cast<std::int64_t>(rows.affected());
}

Status put_inventory(Connection& c, const InventoryRow& r) {
  static const std::string sql =
      "INSERT INTO inventory (host, items, refreshed_at_ms, \"full\") VALUES ($1, $2, $3, $4) "
      "ON CONFLICT (host) DO UPDATE SET items = EXCLUDED.items, "
      "refreshed_at_ms = EXCLUDED.refreshed_at_ms, \"full\" = EXCLUDED.\"full\"";
  return c
      .exec_prepared(sql, {param(r.host), param(r.items), param(r.refreshed_at_ms), param(r.full)})
      .status();
}

}  // namespace warden::store::postgres
