// Store::tenant() over any Reader: one org's rows, filtered after reading (tenant_reader.h).
#include "store/tenant_reader.h"

#include <algorithm>
#include <cstddef>
#include <functional>
#include <map>
#include <set>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/amount.h"

namespace warden::store {
namespace {

// Base rows read per round while a filtered page fills, at least: a small page among many other
// orgs' rows should not cost a read per row.
constexpr std::size_t kFilterBatchRowsMin = 100;
// An org's agents read per round when collecting their ids.
constexpr std::size_t kAgentBatchRows = 500;

using AgentIds = std::set<std::string, std::less<>>;

// Reads base pages after `cursor` until `limit` rows pass `keep` or the base has no more.
// fetch(cursor, n) reads at most n rows after cursor in the base's order; cursor_of(row) is the
// cursor that follows a row.
template <class Row, class Cursor, class Fetch, class Keep, class CursorOf>
Result<std::vector<Row>> filtered_page(Cursor cursor, std::size_t limit, const Fetch& fetch,
                                       const Keep& keep, const CursorOf& cursor_of) {
  std::vector<Row> out;
  const std::size_t batch = std::max(limit, kFilterBatchRowsMin);
  while (out.size() < limit) {
    WARDEN_ASSIGN_OR_RETURN(std::vector<Row> rows, fetch(cursor, batch));
    if (rows.empty()) break;
    Cursor next = cursor_of(rows.back());
    for (Row& row : rows) {
      WARDEN_ASSIGN_OR_RETURN(const bool keep_row, keep(row));
      if (!keep_row) continue;
      out.push_back(std::move(row));
      if (out.size() == limit) break;
    }
    if (rows.size() < batch) break;
    cursor = std::move(next);
  }
  return out;
}

template <class Row>
std::vector<Row> kept(std::vector<Row> rows, const std::function<bool(const Row&)>& keep) {
  std::erase_if(rows, [&](const Row& row) { return !keep(row); });
  return rows;
}

class TenantReader final : public Reader {
 public:
  TenantReader(Reader& base, std::string org_id)
      : base_(base), org_(std::move(org_id)), valid_(is_tenant_org_id(org_)) {}

  Result<std::optional<std::string>> get_kv(std::string_view) override {
    return std::optional<std::string>();
  }

  Result<std::optional<AgentRow>> get_agent(std::string_view id) override {
    if (!valid_) return std::optional<AgentRow>();
    WARDEN_ASSIGN_OR_RETURN(auto agent, base_.get_agent(id));
    if (!agent || !is_org_of(agent->org)) return std::optional<AgentRow>();
    return agent;
  }
  Result<std::vector<AgentRow>> list_agents(const Page& page) override {
    return list_org_agents(org_, page);
  }

  Result<std::optional<SessionRow>> get_session(std::string_view id) override {
    return owned(base_.get_session(id), [](const SessionRow& s) { return s.agent_id; });
  }
  Result<std::optional<SessionRow>> find_session_by_token_hash(
      std::string_view token_hash) override {
    return owned(base_.find_session_by_token_hash(token_hash),
                 [](const SessionRow& s) { return s.agent_id; });
  }
  Result<std::vector<RevokedSessionRow>> list_revoked_sessions(std::int64_t now) override {
    // RevokedSessionRow has no agent: the ids of the org's agents' revoked sessions are those
    // whose session row is the org's.
    WARDEN_ASSIGN_OR_RETURN(AgentIds ids, agents());
    WARDEN_ASSIGN_OR_RETURN(auto rows, base_.list_revoked_sessions(now));
    std::vector<RevokedSessionRow> out;
    for (RevokedSessionRow& row : rows) {
      WARDEN_ASSIGN_OR_RETURN(auto session, base_.get_session(row.id));
      if (session && ids.contains(session->agent_id)) out.push_back(std::move(row));
    }
    return out;
  }
  Result<std::vector<SigningKeyRow>> list_signing_keys() override {
    return std::vector<SigningKeyRow>();
  }

  Result<std::optional<PolicyRow>> get_policy(std::string_view id) override {
    return owned_policy(base_.get_policy(id));
  }
  Result<std::optional<PolicyRow>> find_policy_by_hash(std::string_view hash) override {
    return owned_policy(base_.find_policy_by_hash(hash));
  }
  Result<std::vector<PolicyRow>> list_policies(const PolicyFilter& filter,
                                               const Page& page) override {
    if (filter.global_only) return std::vector<PolicyRow>();
    if (filter.agent_id)
      return if_owned(*filter.agent_id, [&] { return base_.list_policies(filter, page); });
    WARDEN_ASSIGN_OR_RETURN(AgentIds ids, agents());
    return filtered_page<PolicyRow>(
        page.after_id, page.limit,
        [&](const std::optional<std::string>& after, std::size_t n) {
          return base_.list_policies(filter, Page{after, n});
        },
        [&](const PolicyRow& p) -> Result<bool> { return p.agent_id && ids.contains(*p.agent_id); },
        [](const PolicyRow& p) { return std::optional<std::string>(p.id); });
  }

  Result<std::vector<AuditRow>> list_audit(const AuditFilter& filter) override {
    if (filter.agent_id)
      return if_owned(*filter.agent_id, [&] { return base_.list_audit(filter); });
    WARDEN_ASSIGN_OR_RETURN(AgentIds ids, agents());
    return filtered_page<AuditRow>(
        filter.after_id, filter.limit,
        [&](std::int64_t after, std::size_t n) {
          AuditFilter f = filter;
          f.after_id = after;
          f.limit = n;
          return base_.list_audit(f);
        },
        [&](const AuditRow& r) -> Result<bool> {
          return r.event.agent_id && ids.contains(*r.event.agent_id);
        },
        [](const AuditRow& r) { return r.id; });
  }

  Result<std::optional<TransactionRow>> get_transaction(std::string_view id) override {
    return owned(base_.get_transaction(id), [](const TransactionRow& t) { return t.agent_id; });
  }
  // Without an agent in the filter, every transaction after the cursor is read until the page
  // has `limit` of the org's (filtered_page): a list across agents costs what the other orgs'
  // rows in between cost.
  Result<std::vector<TransactionRow>> list_transactions(const TransactionFilter& filter,
                                                        const Page& page) override {
    if (filter.agent_id)
      return if_owned(*filter.agent_id, [&] { return base_.list_transactions(filter, page); });
    WARDEN_ASSIGN_OR_RETURN(AgentIds ids, agents());
    return filtered_page<TransactionRow>(
        page.after_id, page.limit,
        [&](const std::optional<std::string>& after, std::size_t n) {
          return base_.list_transactions(filter, Page{after, n});
        },
        [&](const TransactionRow& t) -> Result<bool> { return ids.contains(t.agent_id); },
        [](const TransactionRow& t) { return std::optional<std::string>(t.id); });
  }

  Result<std::optional<ApprovalRow>> get_approval(std::string_view id) override {
    return owned_approval(base_.get_approval(id));
  }
  Result<std::optional<ApprovalRow>> find_approval_by_tx(std::string_view tx_id) override {
    return owned_approval(base_.find_approval_by_tx(tx_id));
  }
  Result<std::vector<ApprovalRow>> list_approvals(bool pending_only, const Page& page) override {
    WARDEN_ASSIGN_OR_RETURN(AgentIds ids, agents());
    return filtered_page<ApprovalRow>(
        page.after_id, page.limit,
        [&](const std::optional<std::string>& after, std::size_t n) {
          return base_.list_approvals(pending_only, Page{after, n});
        },
        [&](const ApprovalRow& a) -> Result<bool> {
          WARDEN_ASSIGN_OR_RETURN(auto tx, base_.get_transaction(a.tx_id));
          return tx && ids.contains(tx->agent_id);
        },
        [](const ApprovalRow& a) { return std::optional<std::string>(a.id); });
  }

  // Not a tenant's (tenant_reader.h): PostgreSQL's meter rows name their meter and agent through
  // usage_names, which only the daemon's context reads.
  Status scan_meter_usage(const MeterUsageFilter&,
                          const std::function<Status(const MeterUsageRow&)>&) override {
    return Status();
  }
  Result<std::vector<OutboxRow>> list_outbox_due(std::int64_t, std::size_t) override {
    return std::vector<OutboxRow>();
  }

  Result<std::optional<LotRow>> get_lot(std::string_view id) override {
    return owned(base_.get_lot(id), [](const LotRow& l) { return l.owner; });
  }
  Result<std::vector<LotRow>> list_lots(const LotFilter& filter, const Page& page) override {
    if (filter.owner) return if_owned(*filter.owner, [&] { return base_.list_lots(filter, page); });
    WARDEN_ASSIGN_OR_RETURN(AgentIds ids, agents());
    return filtered_page<LotRow>(
        page.after_id, page.limit,
        [&](const std::optional<std::string>& after, std::size_t n) {
          return base_.list_lots(filter, Page{after, n});
        },
        [&](const LotRow& l) -> Result<bool> { return ids.contains(l.owner); },
        [](const LotRow& l) { return std::optional<std::string>(l.id); });
  }
  Status scan_lot_balances(const LotFilter& filter,
                           const std::function<Status(const LotBalanceRow&)>& each) override {
    WARDEN_ASSIGN_OR_RETURN(AgentIds ids, agents());
    return base_.scan_lot_balances(filter, [&](const LotBalanceRow& row) {
      return ids.contains(row.lot.owner) ? each(row) : Status();
    });
  }
  Result<std::vector<LotEntryRow>> list_lot_entries(const LotEntryFilter& filter) override {
    if (filter.owner)
      return if_owned(*filter.owner, [&] { return base_.list_lot_entries(filter); });
    WARDEN_ASSIGN_OR_RETURN(AgentIds ids, agents());
    return filtered_page<LotEntryRow>(
        filter.after_id, filter.limit,
        [&](std::int64_t after, std::size_t n) {
          LotEntryFilter f = filter;
          f.after_id = after;
          f.limit = n;
          return base_.list_lot_entries(f);
        },
        [&](const LotEntryRow& e) -> Result<bool> { return ids.contains(e.owner); },
        [](const LotEntryRow& e) { return e.id; });
  }
  Status scan_lot_entries(const std::function<Status(const LotEntryRow&)>& each) override {
    WARDEN_ASSIGN_OR_RETURN(AgentIds ids, agents());
    return base_.scan_lot_entries(
        [&](const LotEntryRow& row) { return ids.contains(row.owner) ? each(row) : Status(); });
  }
  Result<std::optional<HoldRow>> get_hold(std::string_view id) override {
    return owned(base_.get_hold(id), [](const HoldRow& h) { return h.owner; });
  }
  Result<std::vector<HoldRow>> list_pending_holds() override {
    WARDEN_ASSIGN_OR_RETURN(AgentIds ids, agents());
    WARDEN_ASSIGN_OR_RETURN(auto rows, base_.list_pending_holds());
    return kept<HoldRow>(std::move(rows), [&](const HoldRow& h) { return ids.contains(h.owner); });
  }
  Status scan_pending_hold_entries(const std::function<Status(const LotEntryRow&)>& each) override {
    WARDEN_ASSIGN_OR_RETURN(AgentIds ids, agents());
    return base_.scan_pending_hold_entries(
        [&](const LotEntryRow& row) { return ids.contains(row.owner) ? each(row) : Status(); });
  }
  Result<std::optional<LedgerOpRow>> find_ledger_op(std::string_view) override {
    return std::optional<LedgerOpRow>();
  }
  Status scan_ledger_ops_since(std::int64_t,
                               const std::function<Status(const LedgerOpRow&)>&) override {
    return Status();
  }
  Result<std::optional<PaymentRow>> get_payment(std::string_view id) override {
    return owned(base_.get_payment(id), [](const PaymentRow& p) { return p.owner; });
  }
  Result<std::optional<WebhookEventRow>> get_webhook_event(std::string_view,
                                                           std::string_view) override {
    return std::optional<WebhookEventRow>();
  }
  Result<std::vector<UsageRollupRow>> usage_rollup(const UsageRollupFilter& filter) override;

  Result<std::optional<ModelRow>> get_model(std::string_view) override {
    return std::optional<ModelRow>();
  }
  Result<std::optional<ModelRow>> find_model_by_name(std::string_view) override {
    return std::optional<ModelRow>();
  }
  Result<std::vector<ModelRow>> list_models(const Page&) override {
    return std::vector<ModelRow>();
  }
  Result<std::optional<ApiKeyRow>> get_api_key(std::string_view id) override {
    return owned(base_.get_api_key(id), [](const ApiKeyRow& k) { return k.agent_id; });
  }
  Result<std::optional<ApiKeyRow>> find_api_key_by_hash(std::string_view key_hash) override {
    return owned(base_.find_api_key_by_hash(key_hash),
                 [](const ApiKeyRow& k) { return k.agent_id; });
  }
  Result<std::vector<ApiKeyRow>> list_api_keys(std::string_view agent_id,
                                               const Page& page) override {
    return if_owned(agent_id, [&] { return base_.list_api_keys(agent_id, page); });
  }

  Result<std::optional<OrgRow>> get_org(std::string_view id) override {
    if (!is_org(id)) return std::optional<OrgRow>();
    return base_.get_org(id);
  }
  // The org's own row at most: the listing's rules (deleted ones skipped, ids after the cursor,
  // at most `limit`) applied to it.
  Result<std::vector<OrgRow>> list_orgs(const Page& page) override {
    std::vector<OrgRow> out;
    if (!valid_ || page.limit == 0 || (page.after_id && org_ <= *page.after_id)) return out;
    WARDEN_ASSIGN_OR_RETURN(auto org, base_.get_org(org_));
    if (org && !org->deleted_at) out.push_back(std::move(*org));
    return out;
  }
  Result<std::vector<AgentRow>> list_org_agents(std::string_view org_id,
                                                const Page& page) override {
    if (!is_org(org_id)) return std::vector<AgentRow>();
    return base_.list_org_agents(org_id, page);
  }
  Result<std::optional<OrgAdminKeyRow>> get_org_admin_key(std::string_view id) override {
    return owned_admin_key(base_.get_org_admin_key(id));
  }
  Result<std::optional<OrgAdminKeyRow>> find_org_admin_key_by_hash(
      std::string_view key_hash) override {
    return owned_admin_key(base_.find_org_admin_key_by_hash(key_hash));
  }

  // The org's own automations (the operator's, with no org, are not there) and their executions.
  Result<std::optional<AutomationRow>> get_automation(std::string_view id) override {
    return owned_automation(base_.get_automation(id));
  }
  Result<std::optional<AutomationRow>> find_automation_by_hash(std::string_view hash) override {
    return owned_automation(base_.find_automation_by_hash(hash));
  }
  Result<std::vector<AutomationRow>> list_automations(const Page& page) override {
    return filtered_page<AutomationRow>(
        page.after_id, page.limit,
        [&](const std::optional<std::string>& after, std::size_t n) {
          return base_.list_automations(Page{after, n});
        },
        [&](const AutomationRow& a) -> Result<bool> { return is_org_of(a.org); },
        [](const AutomationRow& a) { return std::optional<std::string>(a.id); });
  }
  Result<std::vector<AutomationExecutionRow>> list_executions(
      std::string_view automation_id, const std::optional<std::string>& before,
      std::size_t limit) override {
    WARDEN_ASSIGN_OR_RETURN(auto automation, get_automation(automation_id));
    if (!automation) return std::vector<AutomationExecutionRow>();
    return base_.list_executions(automation_id, before, limit);
  }
  Result<std::optional<EventRow>> get_event(std::string_view) override {
    return std::optional<EventRow>();
  }
  Result<std::optional<InventoryRow>> get_inventory(std::string_view) override {
    return std::optional<InventoryRow>();
  }

 private:
  Result<std::optional<AutomationRow>> owned_automation(Result<std::optional<AutomationRow>> row) {
    if (!row.ok() || !*row || is_org_of((*row)->org)) return row;
    return std::optional<AutomationRow>();
  }
  bool is_org(std::string_view org) const { return valid_ && org == org_; }
  bool is_org_of(const std::optional<std::string>& org) const { return org && is_org(*org); }

  // Whether the agent is one of the org's (one read).
  Result<bool> owns(std::string_view agent_id) {
    WARDEN_ASSIGN_OR_RETURN(auto agent, get_agent(agent_id));
    return agent.has_value();
  }

  // The ids of the org's agents, read once per call and before the rows it filters: a scan's
  // callback runs while the base holds a read connection, and a read from inside it would take
  // another from the same pool.
  Result<AgentIds> agents() {
    AgentIds ids;
    if (!valid_) return ids;
    Page page{std::nullopt, kAgentBatchRows};
    for (;;) {
      WARDEN_ASSIGN_OR_RETURN(auto rows, base_.list_org_agents(org_, page));
      for (AgentRow& a : rows) ids.insert(std::move(a.id));
      if (rows.size() < kAgentBatchRows) return ids;
      page.after_id = *ids.rbegin();  // list_org_agents is in id order
    }
  }

  // A read restricted to one agent: the base's answer when the agent is the org's, else empty.
  template <class Read>
  auto if_owned(std::string_view agent_id, const Read& read) -> decltype(read()) {
    WARDEN_ASSIGN_OR_RETURN(const bool mine, owns(agent_id));
    using Rows = std::decay_t<decltype(read().value())>;
    if (!mine) return Rows();
    return read();
  }

  // A single row kept when the agent agent_of(row) names is the org's.
  template <class Row, class AgentOf>
  Result<std::optional<Row>> owned(Result<std::optional<Row>> row, const AgentOf& agent_of) {
    if (!row.ok() || !row->has_value()) return row;
    WARDEN_ASSIGN_OR_RETURN(const bool mine, owns(agent_of(**row)));
    if (!mine) return std::optional<Row>();
    return row;
  }
  // Global policies belong to no agent, so to no tenant.
  Result<std::optional<PolicyRow>> owned_policy(Result<std::optional<PolicyRow>> row) {
    if (row.ok() && row->has_value() && !(*row)->agent_id) return std::optional<PolicyRow>();
    return owned(std::move(row), [](const PolicyRow& p) { return *p.agent_id; });
  }
  // An approval is its transaction's.
  Result<std::optional<ApprovalRow>> owned_approval(Result<std::optional<ApprovalRow>> row) {
    if (!row.ok() || !row->has_value()) return row;
    WARDEN_ASSIGN_OR_RETURN(auto tx, get_transaction((*row)->tx_id));
    if (!tx) return std::optional<ApprovalRow>();
    return row;
  }
  Result<std::optional<OrgAdminKeyRow>> owned_admin_key(Result<std::optional<OrgAdminKeyRow>> row) {
    if (row.ok() && row->has_value() && !is_org((*row)->org_id)) {
      return std::optional<OrgAdminKeyRow>();
    }
    return row;
  }

  Reader& base_;
  const std::string org_;
  const bool valid_;  // is_tenant_org_id(org_): otherwise no row is the org's
};

// The org's rollup is the sum of its agents' rollups: the base rolls up one agent at a time and
// the groups are added up by (key, currency), kept in the base's order.
Result<std::vector<UsageRollupRow>> TenantReader::usage_rollup(const UsageRollupFilter& filter) {
  if (filter.agent_id)
    return if_owned(*filter.agent_id, [&] { return base_.usage_rollup(filter); });
  WARDEN_ASSIGN_OR_RETURN(AgentIds ids, agents());
  std::map<std::pair<std::string, std::optional<std::string>>, UsageRollupRow> groups;
  for (const std::string& agent_id : ids) {
    UsageRollupFilter one = filter;
    one.agent_id = agent_id;
    WARDEN_ASSIGN_OR_RETURN(auto rows, base_.usage_rollup(one));
    for (UsageRollupRow& row : rows) {
      auto [it, inserted] = groups.try_emplace({row.key, row.currency}, row);
      if (inserted) continue;
      UsageRollupRow& sum = it->second;
      sum.requests += row.requests;
      sum.prompt_tokens += row.prompt_tokens;
      sum.completion_tokens += row.completion_tokens;
      WARDEN_ASSIGN_OR_RETURN(const Amount a, Amount::parse(sum.cost));
      WARDEN_ASSIGN_OR_RETURN(const Amount b, Amount::parse(row.cost));
      WARDEN_ASSIGN_OR_RETURN(const Amount total, a.checked_add(b));
      sum.cost = total.to_string();
    }
  }
  std::vector<UsageRollupRow> out;
  out.reserve(groups.size());
  for (auto& [key, row] : groups) out.push_back(std::move(row));
  return out;
}

}  // namespace

std::unique_ptr<Reader> make_tenant_reader(Reader& base, std::string org_id) {
  return std::make_unique<TenantReader>(base, std::move(org_id));
}

}  // namespace warden::store
