// The SQL behind the automation store operations on PostgreSQL (migration 7): automations, their
// executions (the newest kExecutionsKeptMax per automation), accepted events and host
// inventories; twins of store/sqlite/automation_queries.cc.
#include <fmt/format.h>

#include "store/postgres/queries.h"
#include "store/postgres/row_reader.h"

namespace warden::store::postgres {
namespace {

constexpr std::string_view kAutomationColumns =
    "id, name, spec, ir, hash, version, enabled, priority, last_validation, last_dry_run, "
    "created_at, updated_at";
constexpr std::string_view kExecutionColumns =
    "id, automation_id, event_id, host, target_id, capability, verb, outcome, idempotency_key, "
    "effects, reason, correlation_id, started_at_ms, finished_at_ms";
constexpr std::string_view kEventColumns =
    "id, kind, source, subject, occurred_at_ms, attributes, received_at_ms";

AutomationRow read_automation(const RowView& st) {
  AutomationRow r;
  r.id = st.text(0);
  r.name = st.text(1);
  r.spec = st.text(2);
  r.ir = st.text(3);
  r.hash = st.text(4);
  r.version = st.int64(5);
  r.enabled = st.boolean(6);
  r.priority = st.int64(7);
  r.last_validation = st.opt_text(8);
  r.last_dry_run = st.opt_text(9);
  r.created_at = st.int64(10);
  r.updated_at = st.int64(11);
  return r;
}

AutomationExecutionRow read_execution(const RowView& st) {
  AutomationExecutionRow r;
  r.id = st.text(0);
  r.automation_id = st.text(1);
  r.event_id = st.opt_text(2);
  r.host = st.text(3);
  r.target_id = st.text(4);
  r.capability = st.text(5);
  r.verb = st.text(6);
  r.outcome = st.text(7);
  r.idempotency_key = st.text(8);
  r.effects = st.text(9);
  r.reason = st.text(10);
  r.correlation_id = st.text(11);
  r.started_at_ms = st.int64(12);
  r.finished_at_ms = st.int64(13);
  return r;
}

EventRow read_event(const RowView& st) {
  EventRow r;
  r.id = st.text(0);
  r.kind = st.text(1);
  r.source = st.text(2);
  r.subject = st.text(3);
  r.occurred_at_ms = st.int64(4);
  r.attributes = st.text(5);
  r.received_at_ms = st.int64(6);
  return r;
}

}  // namespace

Result<std::optional<AutomationRow>> get_automation(Connection& c, std::string_view id) {
  static const std::string sql =
      fmt::format("SELECT {} FROM automations WHERE id = $1", kAutomationColumns);
  return first<AutomationRow>(c.exec_prepared(sql, {str(id)}), read_automation);
}

Result<std::optional<AutomationRow>> find_automation_by_hash(Connection& c, std::string_view hash) {
  static const std::string sql =
      fmt::format("SELECT {} FROM automations WHERE hash = $1", kAutomationColumns);
  return first<AutomationRow>(c.exec_prepared(sql, {str(hash)}), read_automation);
}

Result<std::vector<AutomationRow>> list_automations(Connection& c, const Page& page) {
  static const std::string sql = fmt::format(
      "SELECT {} FROM automations WHERE id > $1 ORDER BY id LIMIT $2", kAutomationColumns);
  return collect<AutomationRow>(
      c.exec_prepared(sql, {page.after_id.value_or(""), limit_param(page.limit)}), read_automation);
}

Result<std::vector<AutomationExecutionRow>> list_executions(
    Connection& c, std::string_view automation_id, const std::optional<std::string>& cursor,
    std::size_t limit) {
  // Ids are UUID v7 in lower-case hex, so "~" sorts after every one of them: no cursor = all.
  static const std::string sql = fmt::format(
      "SELECT {} FROM automation_executions WHERE automation_id = $1 AND id < $2 "
      "ORDER BY id DESC LIMIT $3",
      kExecutionColumns);
  return collect<AutomationExecutionRow>(
      c.exec_prepared(sql, {str(automation_id), cursor.value_or("~"), limit_param(limit)}),
      read_execution);
}

Result<std::optional<EventRow>> get_event(Connection& c, std::string_view id) {
  static const std::string sql = fmt::format("SELECT {} FROM events WHERE id = $1", kEventColumns);
  return first<EventRow>(c.exec_prepared(sql, {str(id)}), read_event);
}

Result<std::optional<InventoryRow>> get_inventory(Connection& c, std::string_view host) {
  static const std::string sql =
      "SELECT host, items, refreshed_at_ms, \"full\" FROM inventory WHERE host = $1";
  return first<InventoryRow>(c.exec_prepared(sql, {str(host)}), [](const RowView& s) {
    InventoryRow r;
    r.host = s.text(0);
    r.items = s.text(1);
    r.refreshed_at_ms = s.int64(2);
    r.full = s.boolean(3);
    return r;
  });
}

Status insert_automation(Connection& c, const AutomationRow& r) {
  static const std::string sql = fmt::format(
      "INSERT INTO automations ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
      kAutomationColumns);
  return c
      .exec_prepared(sql, {r.id, r.name, r.spec, r.ir, r.hash, num(r.version), flag(r.enabled),
                           num(r.priority), r.last_validation, r.last_dry_run, num(r.created_at),
                           num(r.updated_at)})
      .status();
}

Status update_automation(Connection& c, const AutomationRow& r) {
  static const std::string sql =
      "UPDATE automations SET name = $1, spec = $2, ir = $3, hash = $4, version = $5, "
      "enabled = $6, priority = $7, last_validation = $8, last_dry_run = $9, updated_at = $10 "
      "WHERE id = $11";
  return on_existing(c.exec_prepared(sql, {r.name, r.spec, r.ir, r.hash, num(r.version),
                                           flag(r.enabled), num(r.priority), r.last_validation,
                                           r.last_dry_run, num(r.updated_at), r.id}),
                     ErrorCode::INTERNAL_ERROR, r.id);
}

Status delete_automation(Connection& c, std::string_view id) {
  static const std::string sql = "DELETE FROM automations WHERE id = $1";
  return on_existing(c.exec_prepared(sql, {str(id)}), ErrorCode::INTERNAL_ERROR, id);
}

Status insert_execution(Connection& c, const AutomationExecutionRow& r) {
  static const std::string sql = fmt::format(
      "INSERT INTO automation_executions ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
      "$11, $12, $13, $14)",
      kExecutionColumns);
  WARDEN_RETURN_IF_ERROR(
      c.exec_prepared(sql, {r.id, r.automation_id, r.event_id, r.host, r.target_id, r.capability,
                            r.verb, r.outcome, r.idempotency_key, r.effects, r.reason,
                            r.correlation_id, num(r.started_at_ms), num(r.finished_at_ms)})
          .status());
  // Trimmed in the same transaction, so no reader ever sees more than the kept number.
  static const std::string trim =
      "DELETE FROM automation_executions WHERE automation_id = $1 AND id NOT IN (SELECT id FROM "
      "automation_executions WHERE automation_id = $1 ORDER BY id DESC LIMIT $2)";
  return c
      .exec_prepared(trim, {r.automation_id, num(static_cast<std::int64_t>(kExecutionsKeptMax))})
      .status();
}

Status insert_event(Connection& c, const EventRow& r) {
  static const std::string sql =
      fmt::format("INSERT INTO events ({}) VALUES ($1, $2, $3, $4, $5, $6, $7)", kEventColumns);
  return c
      .exec_prepared(sql, {r.id, r.kind, r.source, r.subject, num(r.occurred_at_ms), r.attributes,
                           num(r.received_at_ms)})
      .status();
}

Result<std::int64_t> delete_events_before(Connection& c, std::int64_t received_at_ms,
                                          std::size_t limit) {
  static const std::string sql =
      "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE received_at_ms < $1 "
      "ORDER BY received_at_ms LIMIT $2)";
  WARDEN_ASSIGN_OR_RETURN(Rows rows,
                          c.exec_prepared(sql, {num(received_at_ms), limit_param(limit)}));
  return static_cast<std::int64_t>(rows.affected());
}

Status put_inventory(Connection& c, const InventoryRow& r) {
  static const std::string sql =
      "INSERT INTO inventory (host, items, refreshed_at_ms, \"full\") VALUES ($1, $2, $3, $4) "
      "ON CONFLICT (host) DO UPDATE SET items = excluded.items, "
      "refreshed_at_ms = excluded.refreshed_at_ms, \"full\" = excluded.\"full\"";
  return c.exec_prepared(sql, {r.host, r.items, num(r.refreshed_at_ms), flag(r.full)}).status();
}

}  // namespace warden::store::postgres
