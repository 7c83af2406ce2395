// Internal to the SQLite store: the SQL for each Reader / WriteTxn operation, run on whichever
// connection the caller holds (a pooled reader, or the writer inside a transaction).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/sqlite/connection.h"
#include "store/store.h"

namespace warden::store::sqlite {

Result<std::optional<std::string>> get_kv(Connection& c, std::string_view key);
Result<std::optional<AgentRow>> get_agent(Connection& c, std::string_view id);
Result<std::vector<AgentRow>> list_agents(Connection& c, const Page& page);
Result<std::optional<SessionRow>> get_session(Connection& c, std::string_view id);
Result<std::vector<RevokedSessionRow>> list_revoked_sessions(Connection& c, std::int64_t now);
Result<std::vector<SigningKeyRow>> list_signing_keys(Connection& c);
Result<std::optional<SessionRow>> find_session_by_token_hash(Connection& c,
                                                             std::string_view token_hash);
Result<std::optional<PolicyRow>> get_policy(Connection& c, std::string_view id);
Result<std::optional<PolicyRow>> find_policy_by_hash(Connection& c, std::string_view hash);
Result<std::vector<PolicyRow>> list_policies(Connection& c, const PolicyFilter& filter,
                                             const Page& page);
Result<std::vector<AuditRow>> list_audit(Connection& c, const AuditFilter& filter);
// Walks audit_log from the row after (prev_id, prev_hash): the genesis, or the newest archived.
Result<AuditVerifyReport> verify_audit(Connection& c, std::int64_t prev_id = 0,
                                       std::string_view prev_hash = kAuditGenesisHash);
Result<std::optional<TransactionRow>> get_transaction(Connection& c, std::string_view id);
Result<std::vector<TransactionRow>> list_transactions(Connection& c,
                                                      const TransactionFilter& filter,
                                                      const Page& page);
Result<std::optional<ApprovalRow>> get_approval(Connection& c, std::string_view id);
Result<std::optional<ApprovalRow>> find_approval_by_tx(Connection& c, std::string_view tx_id);
Result<std::vector<ApprovalRow>> list_approvals(Connection& c, bool pending_only,
                                                const Page& page);
Status scan_meter_usage(Connection& c, const MeterUsageFilter& filter,
                        const std::function<Status(const MeterUsageRow&)>& each);
Result<std::vector<OutboxRow>> list_outbox_due(Connection& c, std::int64_t now,
                                               std::size_t limit);
// Archival (archive_queries.cc).
Result<std::vector<ArchiveSegmentRow>> list_archive_segments(Connection& c);
// The newest audit segment (audit segments' ids grow with their rows' ids).
Result<std::optional<ArchiveSegmentRow>> last_audit_segment(Connection& c);
Result<ArchiveSummary> archive_summary(Connection& c);
Result<std::vector<ArchivedDecision>> list_archivable_decisions(Connection& c,
                                                                std::int64_t before,
                                                                std::size_t limit);
Status insert_archive_segment(Connection& c, const ArchiveSegmentRow& row);
Result<std::int64_t> delete_audit_range(Connection& c, std::int64_t first_id,
                                        std::int64_t last_id);
Result<bool> delete_archived_transaction(Connection& c, const TransactionRow& row);
// Ledger (ledger_queries.cc).
Result<std::optional<LotRow>> get_lot(Connection& c, std::string_view id);
Result<std::vector<LotRow>> list_lots(Connection& c, const LotFilter& filter, const Page& page);
Status scan_lot_balances(Connection& c, const LotFilter& filter,
                         const std::function<Status(const LotBalanceRow&)>& each);
Result<std::vector<LotEntryRow>> list_lot_entries(Connection& c, const LotEntryFilter& filter);
Status scan_lot_entries(Connection& c, const std::function<Status(const LotEntryRow&)>& each);
Result<std::optional<HoldRow>> get_hold(Connection& c, std::string_view id);
Result<std::vector<HoldRow>> list_pending_holds(Connection& c);
Status scan_pending_hold_entries(Connection& c,
                                 const std::function<Status(const LotEntryRow&)>& each);
Result<std::optional<LedgerOpRow>> find_ledger_op(Connection& c, std::string_view idempotency_key);
Status scan_ledger_ops_since(Connection& c, std::int64_t since,
                             const std::function<Status(const LedgerOpRow&)>& each);
Result<std::optional<PaymentRow>> get_payment(Connection& c, std::string_view id);
Result<std::optional<WebhookEventRow>> get_webhook_event(Connection& c, std::string_view provider,
                                                         std::string_view event_id);
// Gateway (gateway_queries.cc).
Result<std::optional<ModelRow>> get_model(Connection& c, std::string_view id);
Result<std::optional<ModelRow>> find_model_by_name(Connection& c, std::string_view name);
Result<std::vector<ModelRow>> list_models(Connection& c, const Page& page);
Result<std::optional<ApiKeyRow>> get_api_key(Connection& c, std::string_view id);
Result<std::optional<ApiKeyRow>> find_api_key_by_hash(Connection& c, std::string_view key_hash);
Result<std::vector<ApiKeyRow>> list_api_keys(Connection& c, std::string_view agent_id,
                                             const Page& page);
// Automations (automation_queries.cc).
Result<std::optional<AutomationRow>> get_automation(Connection& c, std::string_view id);
Result<std::optional<AutomationRow>> find_automation_by_hash(Connection& c, std::string_view hash);
Result<std::vector<AutomationRow>> list_automations(Connection& c, const Page& page);
Result<std::vector<AutomationExecutionRow>> list_executions(
    Connection& c, std::string_view automation_id, const std::optional<std::string>& cursor,
    std::size_t limit);
Result<std::optional<EventRow>> get_event(Connection& c, std::string_view id);
Result<std::optional<InventoryRow>> get_inventory(Connection& c, std::string_view host);
Status insert_automation(Connection& c, const AutomationRow& row);
Status update_automation(Connection& c, const AutomationRow& row);
Status delete_automation(Connection& c, std::string_view id);
Status insert_execution(Connection& c, const AutomationExecutionRow& row);
Status insert_event(Connection& c, const EventRow& row);
Result<std::int64_t> delete_events_before(Connection& c, std::int64_t received_at_ms,
                                          std::size_t limit);
Status put_inventory(Connection& c, const InventoryRow& row);
// Highest version in schema_version, 0 when none.
Result<int> applied_schema_version(Connection& c);

// Writes: the caller runs these inside a transaction on the writer connection.
Status put_kv(Connection& c, std::string_view key, std::string_view value, std::int64_t now);
Status insert_agent(Connection& c, const AgentRow& row);
Status update_agent(Connection& c, const AgentRow& row);
Status insert_session(Connection& c, const SessionRow& row);
Status insert_signing_key(Connection& c, const SigningKeyRow& row);
Status extend_signing_key(Connection& c, std::string_view kid, std::int64_t verify_until);
Status update_session(Connection& c, const SessionRow& row);
Result<std::int64_t> revoke_agent_sessions(Connection& c, std::string_view agent_id,
                                           std::int64_t now);
Status insert_policy(Connection& c, const PolicyRow& row);
Status update_policy(Connection& c, const PolicyRow& row);
Status delete_policy(Connection& c, std::string_view id);
// The newest audit row as one write transaction last saw it: lets a batch of appends skip
// re-reading the tail. Valid only inside the transaction that filled it.
struct AuditTail {
  bool known = false;
  std::int64_t id = 0;
  std::string hash;
};
// tail, when given, is read from and updated (only after a successful insert).
Result<std::int64_t> append_audit(Connection& c, const AuditEvent& event,
                                  AuditTail* tail = nullptr);
Status insert_transaction(Connection& c, const TransactionRow& row);
Status update_transaction(Connection& c, const TransactionRow& row);
Status insert_approval(Connection& c, const ApprovalRow& row);
Status update_approval(Connection& c, const ApprovalRow& row);
Status add_meter_usage(Connection& c, const MeterUsageRow& row);
Status insert_outbox(Connection& c, const OutboxRow& row);
Status update_outbox(Connection& c, const OutboxRow& row);
Status delete_outbox(Connection& c, std::string_view id);
// Ledger writes. The schema's triggers refuse what the WriteTxn contract forbids
// (STORE_CONSTRAINT); an update of a row that does not exist is a programmer error
// (INTERNAL_ERROR), except a hold's (LEDGER_HOLD_NOT_FOUND).
Status insert_lot(Connection& c, const LotRow& row);
Status update_lot_status(Connection& c, std::string_view id, std::string_view status);
Status insert_lot_entry(Connection& c, LotEntryRow& row);  // sets row.id
Status insert_hold(Connection& c, const HoldRow& row);
Status update_hold(Connection& c, const HoldRow& row);
Status insert_ledger_op(Connection& c, const LedgerOpRow& row);
Status insert_payment(Connection& c, const PaymentRow& row);
Status update_payment(Connection& c, const PaymentRow& row);
Result<bool> insert_webhook_event(Connection& c, const WebhookEventRow& row);
Status insert_usage_event(Connection& c, const UsageEventRow& row);
Result<std::vector<UsageRollupRow>> usage_rollup(Connection& c, const UsageRollupFilter& filter);
// Gateway writes.
Status insert_model(Connection& c, const ModelRow& row);
Status update_model(Connection& c, const ModelRow& row);
Status delete_model(Connection& c, std::string_view id);
Status insert_api_key(Connection& c, const ApiKeyRow& row);
// Organizations (org_queries.cc).
Result<std::optional<OrgRow>> get_org(Connection& c, std::string_view id);
Result<std::vector<OrgRow>> list_orgs(Connection& c, const Page& page);
Result<std::vector<AgentRow>> list_org_agents(Connection& c, std::string_view org_id,
                                              const Page& page);
Result<std::optional<OrgAdminKeyRow>> get_org_admin_key(Connection& c, std::string_view id);
Result<std::optional<OrgAdminKeyRow>> find_org_admin_key_by_hash(Connection& c,
                                                                 std::string_view key_hash);
Status insert_org(Connection& c, const OrgRow& row);
Status update_org(Connection& c, const OrgRow& row);
Status insert_org_admin_key(Connection& c, const OrgAdminKeyRow& row);
Status update_org_admin_key(Connection& c, const OrgAdminKeyRow& row);
Status update_api_key(Connection& c, const ApiKeyRow& row);
Result<std::int64_t> revoke_agent_api_keys(Connection& c, std::string_view agent_id,
                                           std::int64_t now);

}  // namespace warden::store::sqlite
