// The SQL behind the automation store operations (migration 7): automations, their executions
// (the newest kExecutionsKeptMax per automation), accepted events and host inventories.
#include <fmt/format.h>

#include "store/sqlite/queries.h"
#include "store/sqlite/query_util.h"

namespace warden::store::sqlite {
namespace {

constexpr std::string_view kAutomationColumns =
    "id, name, spec, ir, hash, version, enabled, priority, last_validation, last_dry_run, "
    "created_at, updated_at, org";
constexpr std::string_view kExecutionColumns =
    "id, automation_id, event_id, host, target_id, capability, verb, outcome, idempotency_key, "
    "effects, reason, correlation_id, started_at_ms, finished_at_ms";
constexpr std::string_view kEventColumns =
    "id, kind, source, subject, occurred_at_ms, attributes, received_at_ms";

AutomationRow read_automation(const Stmt& st) {
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
  r.org = st.opt_text(12);
  return r;
}

AutomationExecutionRow read_execution(const Stmt& st) {
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

EventRow read_event(const Stmt& st) {
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
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare(fmt::format("SELECT {} FROM automations WHERE id = ?",
                                                         kAutomationColumns)));
  st.bind(id);
  return first<AutomationRow>(st, read_automation);
}

Result<std::optional<AutomationRow>> find_automation_by_hash(Connection& c, std::string_view hash) {
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st,
      c.prepare(fmt::format("SELECT {} FROM automations WHERE hash = ?", kAutomationColumns)));
  st.bind(hash);
  return first<AutomationRow>(st, read_automation);
}

Result<std::vector<AutomationRow>> list_automations(Connection& c, const Page& page) {
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st, c.prepare(fmt::format("SELECT {} FROM automations WHERE id > ? ORDER BY id LIMIT ?",
                                     kAutomationColumns)));
  st.bind(page.after_id.value_or("")).bind(sql_limit(page.limit));
  return collect<AutomationRow>(st, read_automation);
}

Result<std::vector<AutomationExecutionRow>> list_executions(
    Connection& c, std::string_view automation_id, const std::optional<std::string>& cursor,
    std::size_t limit) {
  // Ids are UUID v7 in lower-case hex, so "~" sorts after every one of them: no cursor = all.
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st, c.prepare(fmt::format("SELECT {} FROM automation_executions WHERE automation_id = "
                                     "? AND id < ? ORDER BY id DESC LIMIT ?",
                                     kExecutionColumns)));
  st.bind(automation_id).bind(cursor.value_or("~")).bind(sql_limit(limit));
  return collect<AutomationExecutionRow>(st, read_execution);
}

Result<std::optional<EventRow>> get_event(Connection& c, std::string_view id) {
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st, c.prepare(fmt::format("SELECT {} FROM events WHERE id = ?", kEventColumns)));
  st.bind(id);
  return first<EventRow>(st, read_event);
}

Result<std::optional<InventoryRow>> get_inventory(Connection& c, std::string_view host) {
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st,
      c.prepare("SELECT host, items, refreshed_at_ms, full FROM inventory WHERE host = ?"));
  st.bind(host);
  return first<InventoryRow>(st, [](const Stmt& s) {
    InventoryRow r;
    r.host = s.text(0);
    r.items = s.text(1);
    r.refreshed_at_ms = s.int64(2);
    r.full = s.boolean(3);
    return r;
  });
}

Status insert_automation(Connection& c, const AutomationRow& r) {
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare(fmt::format("INSERT INTO automations ({}) VALUES "
                                                         "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                                         kAutomationColumns)));
  st.bind(r.id).bind(r.name).bind(r.spec).bind(r.ir).bind(r.hash).bind(r.version);
  st.bind(r.enabled).bind(r.priority).bind(r.last_validation).bind(r.last_dry_run);
  st.bind(r.created_at).bind(r.updated_at).bind(r.org);
  return st.run();
}

Status update_automation(Connection& c, const AutomationRow& r) {
  WARDEN_ASSIGN_OR_RETURN(Stmt st,
                          c.prepare("UPDATE automations SET name = ?, spec = ?, ir = ?, hash = ?, "
                                    "version = ?, enabled = ?, priority = ?, last_validation = ?, "
                                    "last_dry_run = ?, updated_at = ? WHERE id = ?"));
  st.bind(r.name).bind(r.spec).bind(r.ir).bind(r.hash).bind(r.version).bind(r.enabled);
  st.bind(r.priority).bind(r.last_validation).bind(r.last_dry_run).bind(r.updated_at).bind(r.id);
  return run_on_existing(c, st, ErrorCode::INTERNAL_ERROR, r.id);
}

Status delete_automation(Connection& c, std::string_view id) {
  WARDEN_ASSIGN_OR_RETURN(Stmt st, c.prepare("DELETE FROM automations WHERE id = ?"));
  st.bind(id);
  return run_on_existing(c, st, ErrorCode::INTERNAL_ERROR, id);
}

Status insert_execution(Connection& c, const AutomationExecutionRow& r) {
  WARDEN_ASSIGN_OR_RETURN(Stmt st,
                          c.prepare(fmt::format("INSERT INTO automation_executions ({}) VALUES "
                                                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                                kExecutionColumns)));
  st.bind(r.id).bind(r.automation_id).bind(r.event_id).bind(r.host).bind(r.target_id);
  st.bind(r.capability).bind(r.verb).bind(r.outcome).bind(r.idempotency_key).bind(r.effects);
  st.bind(r.reason).bind(r.correlation_id).bind(r.started_at_ms).bind(r.finished_at_ms);
  WARDEN_RETURN_IF_ERROR(st.run());
  // Trimmed in the same transaction, so no reader ever sees more than the kept number.
  WARDEN_ASSIGN_OR_RETURN(
      Stmt trim, c.prepare("DELETE FROM automation_executions WHERE automation_id = ? AND id NOT "
                           "IN (SELECT id FROM automation_executions WHERE automation_id = ? "
                           "ORDER BY id DESC LIMIT ?)"));
  trim.bind(r.automation_id).bind(r.automation_id);
  trim.bind(static_cast<std::int64_t>(kExecutionsKeptMax));
  return trim.run();
}

Status insert_event(Connection& c, const EventRow& r) {
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st, c.prepare(fmt::format("INSERT INTO events ({}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                     kEventColumns)));
  st.bind(r.id).bind(r.kind).bind(r.source).bind(r.subject).bind(r.occurred_at_ms);
  st.bind(r.attributes).bind(r.received_at_ms);
  return st.run();
}

Result<std::int64_t> delete_events_before(Connection& c, std::int64_t received_at_ms,
                                          std::size_t limit) {
  WARDEN_ASSIGN_OR_RETURN(Stmt st,
                          c.prepare("DELETE FROM events WHERE id IN (SELECT id FROM events WHERE "
                                    "received_at_ms < ? ORDER BY received_at_ms LIMIT ?)"));
  st.bind(received_at_ms).bind(sql_limit(limit));
  WARDEN_RETURN_IF_ERROR(st.run());
  return c.changes();
}

Status put_inventory(Connection& c, const InventoryRow& r) {
  WARDEN_ASSIGN_OR_RETURN(
      Stmt st, c.prepare("INSERT INTO inventory (host, items, refreshed_at_ms, full) VALUES "
                         "(?, ?, ?, ?) ON CONFLICT(host) DO UPDATE SET items = excluded.items, "
                         "refreshed_at_ms = excluded.refreshed_at_ms, full = excluded.full"));
  st.bind(r.host).bind(r.items).bind(r.refreshed_at_ms).bind(r.full);
  return st.run();
}

}  // namespace warden::store::sqlite
