// Route handlers, one file per resource (routes_*.cc), and the JSON helpers they share.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "core/clock.h"
#include "core/ids.h"
#include "core/json.h"
#include "core/status.h"
#include "server/api.h"
#include "server/http_types.h"
#include "server/metrics.h"
#include "store/batch_writer.h"
#include "store/store.h"

namespace warden::decisions {
class DecisionService;
}  // namespace warden::decisions
namespace warden::ledger {
class LedgerService;
}  // namespace warden::ledger
namespace warden::automation {
class AutomationEngine;
class DriverRegistry;
class Inventory;
}  // namespace warden::automation

namespace warden::server {

using decisions::DecisionService;
class WardenEvents;
class BlockingRunner;

// The automation module's services (docs/automation.md); all null when the daemon runs
// without them (unit tests of other routes), and the automation routes then answer 503.
struct AutomationDeps {
  automation::AutomationEngine* engine = nullptr;
  automation::DriverRegistry* drivers = nullptr;
  automation::Inventory* inventory = nullptr;
  WardenEvents* events = nullptr;  // Warden's own events (policy.changed, auth.failed, ...)
  BlockingRunner* runner = nullptr;  // for route work that waits on a driver; null: inline
};

struct Deps {
  store::Store& store;
  const Clock& clock;
  IdGenerator& ids;
  Metrics& metrics;
  DecisionService& decisions;
  ledger::LedgerService& ledger;
  SessionCache& sessions;
  store::BatchWriter& writer;  // every route's write goes through it (one write path)
  std::map<std::string, std::string> webhook_secrets = {};  // provider -> secret
  AutomationDeps automation = {};
  SessionKeys* session_keys = nullptr;  // signs session tokens (ES256 JWTs)
  RevokedSessions* revoked = nullptr;   // revocations take effect here at once
  store::ChangeFeed* feed = nullptr;    // committed changes are announced to other replicas
};

using Handler = Result<HttpResponse> (*)(const Deps&, RequestContext&);

HttpResponse json_response(int status, const boost::json::value& body);
HttpResponse no_content();

// Runs on the writer thread with the commit's outcome, before the answer: maps a failure to the
// route's error, or applies what the client must see once it has its answer (policy reload,
// session cache). The next batch waits for it, so it stays short.
using AfterCommit = std::function<Status(Status committed)>;
// Builds the response on the connection's thread once the write committed.
using BuildResponse = std::function<HttpResponse()>;
// Work after a successful commit that itself goes through the writer (a policy reload): it
// calls `next` with its outcome, and the answer waits for that.
using ThenAsync = std::function<void(std::function<void(const Status&)> next)>;
// Queues `op` on the group-commit writer and answers the request after its batch committed; the
// I/O thread never waits for the store. `op` may run twice (alone, after a batch it shared rolled
// back), so it captures its inputs by value and overwrites what it produces. Returns deferred(),
// or the writer's refusal (queue full, shutting down) to answer at once.
Result<HttpResponse> commit_then_answer(const Deps& d, const RequestContext& ctx,
                                        store::BatchWriter::Op op, AfterCommit after_commit,
                                        BuildResponse respond, ThenAsync then = {});
// The query parameter `key`; nullopt when absent or empty.
std::optional<std::string> query_text(const HttpRequest& req, const std::string& key);
// The query parameter `key` as an integer in [min, max]; `fallback` when absent or empty.
// VALIDATION_INVALID_VALUE names the parameter otherwise.
Result<std::int64_t> query_int(const HttpRequest& req, const std::string& key,
                               std::int64_t fallback, std::int64_t min, std::int64_t max);
// Reads ?limit= (1..limit_max, default limit_default) and ?cursor= (a UUID) into a Page.
Result<store::Page> page_from_query(const HttpRequest& req, std::size_t limit_default,
                                    std::size_t limit_max);
// {"items": [...], "next_cursor": last id or null when the page was not full}.
template <class Row, class ToJson>
boost::json::object page_json(const std::vector<Row>& rows, std::size_t limit, ToJson to_json) {
  boost::json::array items;
  for (const auto& r : rows) items.push_back(to_json(r));
  boost::json::object out;
  out["items"] = std::move(items);
  out["next_cursor"] =
      rows.size() == limit && !rows.empty() ? boost::json::value(rows.back().id) : nullptr;
  return out;
}

// What a request reads through: the whole store, or for an org admin its org's tenant reader
// (Store::tenant), where another org's rows and the rows of no org are not there at all. The
// writes of an org admin's request check the org inside the write instead.
class ScopedReader {
 public:
  ScopedReader(store::Store& store, const std::optional<std::string>& org_admin_org)
      : tenant_(org_admin_org ? store.tenant(*org_admin_org) : nullptr),
        reader_(tenant_ ? *tenant_ : store) {}
  store::Reader* operator->() const { return &reader_; }
  store::Reader* get() const { return &reader_; }

 private:
  std::unique_ptr<store::Reader> tenant_;  // set for an org admin
  store::Reader& reader_;
};

// The agent as a request may see it inside its write: for an org admin's (`org_admin_org`),
// another org's agent, or one of no org, is as absent as a missing one; the master's sees every
// agent.
Result<std::optional<store::AgentRow>> agent_for(store::Reader& tx, const std::string& agent_id,
                                                 const std::optional<std::string>& org_admin_org);

// Changes that a route and the automation's built-in host "warden" (warden_actions.cc) both
// make, so both take one path. Each runs inside an operation of the group-commit writer and
// appends its audit row (`audit` with details filled in).
struct AgentChanges {
  std::optional<std::string> name;
  std::optional<std::string> status;  // ACTIVE or SUSPENDED
  std::optional<std::string> suspension_reason;
  std::optional<std::string> owner_address;
  bool org_given = false;  // `org` applies (nullopt removes the agent from its org)
  std::optional<std::string> org;  // must name a live org (checked in the write)
  // Set for an org admin's request: an agent of another org is AGENT_NOT_FOUND.
  std::optional<std::string> org_admin_org;
};
// AGENT_NOT_FOUND, AGENT_INVALID_TRANSITION (terminated); `after` gets the row as written.
Status change_agent(store::WriteTxn& tx, const std::string& id, const AgentChanges& changes,
                    std::int64_t now, const store::AuditEvent& audit, store::AgentRow* after);
// Applies `changes` (fields of the policy document) over the stored policy, validates and
// rehashes it as PUT /v1/policies/{id} does; `after` gets the row as written. For an org admin
// (`org_admin_org`), a policy that is not of one of its org's agents is POLICY_NOT_FOUND, and it
// cannot move to an agent outside the org (AGENT_NOT_FOUND) nor become global (AUTH_FORBIDDEN).
Status change_policy(store::WriteTxn& tx, const std::string& id,
                     const boost::json::object& changes, std::int64_t now,
                     const store::AuditEvent& audit, store::PolicyRow* after,
                     const std::optional<std::string>& org_admin_org = std::nullopt);

// System
Result<HttpResponse> get_healthz(const Deps&, RequestContext&);
Result<HttpResponse> get_readyz(const Deps&, RequestContext&);
Result<HttpResponse> get_metrics(const Deps&, RequestContext&);
Result<HttpResponse> list_audit(const Deps&, RequestContext&);
// Agents
Result<HttpResponse> create_agent(const Deps&, RequestContext&);
Result<HttpResponse> list_agents(const Deps&, RequestContext&);
Result<HttpResponse> get_agent(const Deps&, RequestContext&);
Result<HttpResponse> update_agent(const Deps&, RequestContext&);
Result<HttpResponse> delete_agent(const Deps&, RequestContext&);
// Gateway API keys of an agent (routes_api_keys.cc)
Result<HttpResponse> create_api_key(const Deps&, RequestContext&);
Result<HttpResponse> list_api_keys(const Deps&, RequestContext&);
Result<HttpResponse> revoke_api_key(const Deps&, RequestContext&);
// Gateway model deployments (routes_models.cc)
Result<HttpResponse> create_org(const Deps&, RequestContext&);
Result<HttpResponse> list_orgs(const Deps&, RequestContext&);
Result<HttpResponse> get_org(const Deps&, RequestContext&);
Result<HttpResponse> delete_org(const Deps&, RequestContext&);
Result<HttpResponse> create_org_admin_key(const Deps&, RequestContext&);
Result<HttpResponse> revoke_org_admin_key(const Deps&, RequestContext&);
// The org an agent's "org" names, checked inside the write: it must exist and not be deleted
// (400 VALIDATION_INVALID_VALUE otherwise).
Status check_agent_org(store::WriteTxn& tx, const std::optional<std::string>& org);
Result<HttpResponse> create_model(const Deps&, RequestContext&);
Result<HttpResponse> list_models(const Deps&, RequestContext&);
Result<HttpResponse> get_model(const Deps&, RequestContext&);
Result<HttpResponse> update_model(const Deps&, RequestContext&);
Result<HttpResponse> delete_model(const Deps&, RequestContext&);
// Sessions
Result<HttpResponse> create_session(const Deps&, RequestContext&);
Result<HttpResponse> get_current_session(const Deps&, RequestContext&);
Result<HttpResponse> get_session(const Deps&, RequestContext&);
Result<HttpResponse> get_jwks(const Deps&, RequestContext&);
Result<HttpResponse> renew_session(const Deps&, RequestContext&);
Result<HttpResponse> revoke_session(const Deps&, RequestContext&);
// Policies
Result<HttpResponse> create_policy(const Deps&, RequestContext&);
Result<HttpResponse> validate_policy(const Deps&, RequestContext&);
Result<HttpResponse> list_policies(const Deps&, RequestContext&);
Result<HttpResponse> get_policy(const Deps&, RequestContext&);
Result<HttpResponse> update_policy(const Deps&, RequestContext&);
Result<HttpResponse> delete_policy(const Deps&, RequestContext&);
// Transactions, decisions and approvals
Result<HttpResponse> create_transaction(const Deps&, RequestContext&);
Result<HttpResponse> create_decision(const Deps&, RequestContext&);
Result<HttpResponse> get_transaction(const Deps&, RequestContext&);
Result<HttpResponse> confirm_transaction(const Deps&, RequestContext&);
Result<HttpResponse> fail_transaction(const Deps&, RequestContext&);
Result<HttpResponse> cancel_transaction(const Deps&, RequestContext&);
Result<HttpResponse> list_approvals(const Deps&, RequestContext&);
Result<HttpResponse> approve_approval(const Deps&, RequestContext&);
Result<HttpResponse> reject_approval(const Deps&, RequestContext&);
// Credit ledger (routes_ledger.cc)
Result<HttpResponse> ledger_mint(const Deps&, RequestContext&);
Result<HttpResponse> ledger_debit(const Deps&, RequestContext&);
Result<HttpResponse> ledger_hold(const Deps&, RequestContext&);
Result<HttpResponse> ledger_post_hold(const Deps&, RequestContext&);
Result<HttpResponse> ledger_void_hold(const Deps&, RequestContext&);
Result<HttpResponse> ledger_get_hold(const Deps&, RequestContext&);
Result<HttpResponse> ledger_balances(const Deps&, RequestContext&);
// Usage
Result<HttpResponse> get_usage(const Deps&, RequestContext&);
Result<HttpResponse> ledger_lots(const Deps&, RequestContext&);
Result<HttpResponse> ledger_entries(const Deps&, RequestContext&);
// Automations, their hosts and events (routes_automation.cc)
Result<HttpResponse> validate_automation(const Deps&, RequestContext&);
Result<HttpResponse> create_automation(const Deps&, RequestContext&);
Result<HttpResponse> list_automations(const Deps&, RequestContext&);
Result<HttpResponse> get_automation(const Deps&, RequestContext&);
Result<HttpResponse> update_automation(const Deps&, RequestContext&);
Result<HttpResponse> delete_automation(const Deps&, RequestContext&);
Result<HttpResponse> enable_automation(const Deps&, RequestContext&);
Result<HttpResponse> disable_automation(const Deps&, RequestContext&);
Result<HttpResponse> dry_run_automation(const Deps&, RequestContext&);
Result<HttpResponse> inverse_automation(const Deps&, RequestContext&);
Result<HttpResponse> list_executions(const Deps&, RequestContext&);
Result<HttpResponse> list_hosts(const Deps&, RequestContext&);
Result<HttpResponse> get_host_capabilities(const Deps&, RequestContext&);
Result<HttpResponse> get_host_inventory(const Deps&, RequestContext&);
Result<HttpResponse> create_event(const Deps&, RequestContext&);
// Payment webhooks (authenticated by their signature)
Result<HttpResponse> receive_webhook(const Deps&, RequestContext&);

}  // namespace warden::server
