// Store::tenant() on every backend (issue 12): with agents in org A, org B and no org, and rows of
// each, the reader of org A answers exactly A's rows, get by get and list by list, nothing of B's
// or of the org-less agent's, and nothing of the tables that belong to no tenant. An unknown org,
// "*" and "" see nothing. PostgreSQL answers through its row-level security, SQLite through the
// store's filter: the same expectations hold for both.
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "store/suite/helpers.h"
#include "store/suite/store_suite.h"

namespace warden::store {
namespace {

using testing::entry;
using testing::hold;
using testing::kLedgerNow;
using testing::lot;
using testing::op;
using testing::sample_agent;
using testing::sample_automation;
using testing::sample_event;
using testing::sample_key;
using testing::sample_model;
using testing::sample_org;
using testing::sample_policy;
using testing::sample_session;

constexpr std::int64_t kNow = 1'767'300'000;
const Page kAll{std::nullopt, 50};

template <class Row>
std::vector<std::string> ids(const Result<std::vector<Row>>& rows) {
  std::vector<std::string> out;
  if (!rows.ok()) {
    ADD_FAILURE() << rows.status().to_string();
    return out;
  }
  for (const Row& r : *rows) out.push_back(r.id);
  return out;
}

template <class Row>
bool found(const Result<std::optional<Row>>& row) {
  EXPECT_TRUE(row.ok()) << row.status().to_string();
  return row.ok() && row->has_value();
}

class TenantStoreTest : public suite::StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (HasFatalFailure()) return;
    const Status seeded = run([](WriteTxn& t) { return seed(t); });
    ASSERT_TRUE(seeded.ok()) << seeded.to_string();
  }

  static TransactionRow tx(std::string id, std::string agent) {
    TransactionRow r;
    r.id = std::move(id);
    r.agent_id = std::move(agent);
    r.chain = "solana";
    r.type = "TRANSFER";
    r.created_at = r.updated_at = kNow;
    return r;
  }
  static ApprovalRow approval(std::string id, std::string tx_id) {
    return ApprovalRow{std::move(id), std::move(tx_id), kNow, kNow + 600, {}, {}, {}, kNow};
  }
  static PaymentRow payment(std::string id, std::string owner) {
    return PaymentRow{std::move(id), "stripe", std::move(owner),
                      "5000",        "USD",    "confirmed",
                      std::nullopt,  kNow,     kNow};
  }
  static UsageEventRow usage(std::string id, std::string agent, std::string cost) {
    return UsageEventRow{std::move(id),
                         std::move(agent),
                         std::nullopt,
                         "openai",
                         "gpt-x",
                         10,
                         5,
                         std::move(cost),
                         "USD",
                         kNow};
  }
  static OrgAdminKeyRow admin_key(std::string id, std::string org) {
    OrgAdminKeyRow k;
    k.id = id;
    k.org_id = std::move(org);
    k.key_hash = "hash-" + id;
    k.prefix = "wo_" + id;
    k.created_at = kNow;
    return k;
  }

  // Org oa has agents a1 and a2, org ob has b1, n1 has no org. Each agent-linked kind has a row
  // of a1 (some of a2) and one of b1 or n1 beside it.
  static Status seed(WriteTxn& t) {
    WARDEN_RETURN_IF_ERROR(t.insert_org(sample_org("oa", "org a")));
    WARDEN_RETURN_IF_ERROR(t.insert_org(sample_org("ob", "org b")));
    WARDEN_RETURN_IF_ERROR(t.insert_org_admin_key(admin_key("ka", "oa")));
    WARDEN_RETURN_IF_ERROR(t.insert_org_admin_key(admin_key("kb", "ob")));
    for (const auto& [id, org] : std::vector<std::pair<std::string, std::optional<std::string>>>{
             {"a1", "oa"}, {"a2", "oa"}, {"b1", "ob"}, {"n1", std::nullopt}}) {
      AgentRow a = sample_agent(id, "pk-" + id);
      a.org = org;
      WARDEN_RETURN_IF_ERROR(t.insert_agent(a));
    }
    for (const char* agent : {"a1", "b1", "n1"}) {
      const std::string a = agent;
      SessionRow s = sample_session("s-" + a, a, "th-" + a);
      s.revoked_at = kNow;  // absolute expiry 1'769'817'600: still listed as revoked at kNow
      WARDEN_RETURN_IF_ERROR(t.insert_session(s));
      WARDEN_RETURN_IF_ERROR(
          t.insert_policy(sample_policy("p-" + a, a, "SPENDING_LIMIT", "ph-" + a)));
      WARDEN_RETURN_IF_ERROR(t.insert_transaction(tx("t-" + a, a)));
      WARDEN_RETURN_IF_ERROR(t.insert_approval(approval("ap-" + a, "t-" + a)));
      WARDEN_RETURN_IF_ERROR(t.insert_api_key(sample_key("k-" + a, a, "kh-" + a)));
      WARDEN_RETURN_IF_ERROR(t.insert_payment(payment("pay-" + a, a)));
      WARDEN_RETURN_IF_ERROR(t.insert_hold(hold("h-" + a, a, "10")));
      WARDEN_RETURN_IF_ERROR(t.insert_usage_event(usage("u-" + a, a, "100")));
      WARDEN_RETURN_IF_ERROR(t.append_audit(sample_event("AGENT_UPDATED", a)).status());
      WARDEN_RETURN_IF_ERROR(t.add_meter_usage({a, "p/requests", 100, "1"}));
    }
    WARDEN_RETURN_IF_ERROR(t.insert_transaction(tx("t-a2", "a2")));
    WARDEN_RETURN_IF_ERROR(t.insert_usage_event(usage("u-a2", "a2", "50")));
    WARDEN_RETURN_IF_ERROR(
        t.insert_policy(sample_policy("p-global", std::nullopt, "SPENDING_LIMIT", "ph-g")));
    WARDEN_RETURN_IF_ERROR(t.append_audit(sample_event("CONFIG_CHANGED")).status());
    // Ledger: one lot each, credited and partly held under the owner's hold.
    WARDEN_RETURN_IF_ERROR(t.insert_ledger_op(op("op-1", "mint", "key-1")));
    for (const char* agent : {"a1", "b1", "n1"}) {
      const std::string a = agent;
      const LotRow l = lot("l-" + a, a, "1000");
      WARDEN_RETURN_IF_ERROR(t.insert_lot(l));
      LotEntryRow credit = entry(l, "credit", "1000", "op-1");
      WARDEN_RETURN_IF_ERROR(t.insert_lot_entry(credit));
      LotEntryRow held = entry(l, "hold", "10", "op-1", "h-" + a);
      WARDEN_RETURN_IF_ERROR(t.insert_lot_entry(held));
    }
    // Rows of no tenant.
    WARDEN_RETURN_IF_ERROR(t.put_kv("k", "v", kNow));
    WARDEN_RETURN_IF_ERROR(t.insert_automation(sample_automation("au-1", "auh-1")));
    WARDEN_RETURN_IF_ERROR(t.insert_model(sample_model("m-1", "gpt-x")));
    WARDEN_RETURN_IF_ERROR(t.insert_outbox(OutboxRow{"ev-1", "{}", kNow, 0, kNow}));
    WARDEN_RETURN_IF_ERROR(
        t.insert_webhook_event(WebhookEventRow{"stripe", "evt-1", "{}", kNow, kNow}).status());
    return t.insert_signing_key(
        SigningKeyRow{"kid-1", R"({"kty":"OKP"})", "sealed", kNow, kNow + 3600, kNow + 7200});
  }
};

TEST_P(TenantStoreTest, AnOrgSeesItsAgentsAndTheirSessionsOnly) {
  std::unique_ptr<Reader> a = store_->tenant("oa");
  EXPECT_TRUE(found(a->get_agent("a1")));
  EXPECT_TRUE(found(a->get_agent("a2")));
  EXPECT_FALSE(found(a->get_agent("b1")));
  EXPECT_FALSE(found(a->get_agent("n1")));
  EXPECT_EQ(ids(a->list_agents(kAll)), (std::vector<std::string>{"a1", "a2"}));
  EXPECT_EQ(ids(a->list_agents(Page{"a1", 50})), (std::vector<std::string>{"a2"}));
  EXPECT_EQ(ids(a->list_org_agents("oa", kAll)), (std::vector<std::string>{"a1", "a2"}));
  EXPECT_TRUE(ids(a->list_org_agents("ob", kAll)).empty());

  EXPECT_TRUE(found(a->get_session("s-a1")));
  EXPECT_FALSE(found(a->get_session("s-b1")));
  EXPECT_FALSE(found(a->get_session("s-n1")));
  EXPECT_TRUE(found(a->find_session_by_token_hash("th-a1")));
  EXPECT_FALSE(found(a->find_session_by_token_hash("th-b1")));
  EXPECT_EQ(ids(a->list_revoked_sessions(kNow)), (std::vector<std::string>{"s-a1"}));
  EXPECT_EQ(ids(store_->list_revoked_sessions(kNow)).size(), 3u);  // the daemon sees all

  EXPECT_TRUE(found(a->get_api_key("k-a1")));
  EXPECT_FALSE(found(a->get_api_key("k-b1")));
  EXPECT_TRUE(found(a->find_api_key_by_hash("kh-a1")));
  EXPECT_FALSE(found(a->find_api_key_by_hash("kh-n1")));
  EXPECT_EQ(ids(a->list_api_keys("a1", kAll)), (std::vector<std::string>{"k-a1"}));
  EXPECT_TRUE(ids(a->list_api_keys("b1", kAll)).empty());
}

TEST_P(TenantStoreTest, AnOrgSeesItsOwnOrgRowAndAdminKeysOnly) {
  std::unique_ptr<Reader> a = store_->tenant("oa");
  EXPECT_TRUE(found(a->get_org("oa")));
  EXPECT_FALSE(found(a->get_org("ob")));
  EXPECT_EQ(ids(a->list_orgs(kAll)), (std::vector<std::string>{"oa"}));
  EXPECT_TRUE(ids(a->list_orgs(Page{"oa", 50})).empty());
  EXPECT_TRUE(found(a->get_org_admin_key("ka")));
  EXPECT_FALSE(found(a->get_org_admin_key("kb")));
  EXPECT_TRUE(found(a->find_org_admin_key_by_hash("hash-ka")));
  EXPECT_FALSE(found(a->find_org_admin_key_by_hash("hash-kb")));
}

TEST_P(TenantStoreTest, AnOrgSeesItsAgentsPoliciesButNoGlobalOne) {
  std::unique_ptr<Reader> a = store_->tenant("oa");
  EXPECT_TRUE(found(a->get_policy("p-a1")));
  EXPECT_FALSE(found(a->get_policy("p-b1")));
  EXPECT_FALSE(found(a->get_policy("p-n1")));
  EXPECT_FALSE(found(a->get_policy("p-global")));
  EXPECT_TRUE(found(a->find_policy_by_hash("ph-a1")));
  EXPECT_FALSE(found(a->find_policy_by_hash("ph-g")));
  EXPECT_EQ(ids(a->list_policies({}, kAll)), (std::vector<std::string>{"p-a1"}));
  EXPECT_EQ(ids(a->list_policies({.agent_id = "a1"}, kAll)), (std::vector<std::string>{"p-a1"}));
  EXPECT_TRUE(ids(a->list_policies({.agent_id = "b1"}, kAll)).empty());
  EXPECT_TRUE(ids(a->list_policies({.global_only = true}, kAll)).empty());
}

TEST_P(TenantStoreTest, AnOrgSeesItsTransactionsApprovalsAndAuditRowsPageByPage) {
  std::unique_ptr<Reader> a = store_->tenant("oa");
  EXPECT_TRUE(found(a->get_transaction("t-a1")));
  EXPECT_FALSE(found(a->get_transaction("t-b1")));
  EXPECT_FALSE(found(a->get_transaction("t-n1")));
  EXPECT_EQ(ids(a->list_transactions({}, kAll)), (std::vector<std::string>{"t-a1", "t-a2"}));
  // A page holds `limit` of the org's rows, other orgs' rows in between or not ("t-a1" < "t-a2"
  // < "t-b1" < "t-n1" in the base).
  EXPECT_EQ(ids(a->list_transactions({}, Page{std::nullopt, 1})),
            (std::vector<std::string>{"t-a1"}));
  EXPECT_EQ(ids(a->list_transactions({}, Page{"t-a1", 1})), (std::vector<std::string>{"t-a2"}));
  EXPECT_TRUE(ids(a->list_transactions({}, Page{"t-a2", 1})).empty());
  EXPECT_EQ(ids(a->list_transactions({.agent_id = "a2"}, kAll)),
            (std::vector<std::string>{"t-a2"}));
  EXPECT_TRUE(ids(a->list_transactions({.agent_id = "b1"}, kAll)).empty());

  EXPECT_TRUE(found(a->get_approval("ap-a1")));
  EXPECT_FALSE(found(a->get_approval("ap-b1")));
  EXPECT_TRUE(found(a->find_approval_by_tx("t-a1")));
  EXPECT_FALSE(found(a->find_approval_by_tx("t-n1")));
  EXPECT_EQ(ids(a->list_approvals(true, kAll)), (std::vector<std::string>{"ap-a1"}));

  auto audit = a->list_audit({});
  ASSERT_TRUE(audit.ok()) << audit.status().to_string();
  ASSERT_EQ(audit->size(), 1u);
  EXPECT_EQ((*audit)[0].event.agent_id, "a1");
  auto audit_b = a->list_audit({.agent_id = "b1"});
  ASSERT_TRUE(audit_b.ok());
  EXPECT_TRUE(audit_b->empty());
}

// More of another org's rows before the org's first than one base read takes: the page still
// holds the org's rows, found past them.
TEST_P(TenantStoreTest, APageSkipsAnyNumberOfOtherOrgsRowsBeforeTheOrgsOwn) {
  ASSERT_TRUE(run([](WriteTxn& t) -> Status {
                for (int i = 0; i < 250; ++i) {
                  // "t-0000" ... "t-0249" sort before "t-a1".
                  std::string id = std::to_string(i);
                  id = "t-" + std::string(4 - id.size(), '0') + id;
                  WARDEN_RETURN_IF_ERROR(t.insert_transaction(tx(id, i % 2 == 0 ? "b1" : "n1")));
                }
                return Status();
              }).ok());
  std::unique_ptr<Reader> a = store_->tenant("oa");
  EXPECT_EQ(ids(a->list_transactions({}, Page{std::nullopt, 1})),
            (std::vector<std::string>{"t-a1"}));
  EXPECT_EQ(ids(a->list_transactions({}, Page{"t-0120", 2})),
            (std::vector<std::string>{"t-a1", "t-a2"}));
  EXPECT_EQ(ids(a->list_transactions({}, Page{"t-a1", 5})), (std::vector<std::string>{"t-a2"}));
  EXPECT_EQ(ids(store_->list_transactions({}, Page{std::nullopt, 300})).size(), 254u);
}

TEST_P(TenantStoreTest, AnOrgSeesItsAgentsLedgerRowsOnly) {
  std::unique_ptr<Reader> a = store_->tenant("oa");
  EXPECT_TRUE(found(a->get_lot("l-a1")));
  EXPECT_FALSE(found(a->get_lot("l-b1")));
  EXPECT_EQ(ids(a->list_lots({}, kAll)), (std::vector<std::string>{"l-a1"}));
  EXPECT_TRUE(ids(a->list_lots({.owner = "n1"}, kAll)).empty());
  std::vector<std::string> balances;
  ASSERT_TRUE(a->scan_lot_balances({}, [&](const LotBalanceRow& b) {
                 balances.push_back(b.lot.id + ":" + b.remaining + ":" + b.held);
                 return Status();
               }).ok());
  EXPECT_EQ(balances, (std::vector<std::string>{"l-a1:990:10"}));

  auto entries = a->list_lot_entries({});
  ASSERT_TRUE(entries.ok()) << entries.status().to_string();
  ASSERT_EQ(entries->size(), 2u);
  for (const LotEntryRow& e : *entries) EXPECT_EQ(e.owner, "a1");
  auto one = a->list_lot_entries({.limit = 1});
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].entry_type, "credit");
  std::set<std::string> owners;
  ASSERT_TRUE(a->scan_lot_entries([&](const LotEntryRow& e) {
                 owners.insert(e.owner);
                 return Status();
               }).ok());
  EXPECT_EQ(owners, (std::set<std::string>{"a1"}));

  EXPECT_TRUE(found(a->get_hold("h-a1")));
  EXPECT_FALSE(found(a->get_hold("h-b1")));
  EXPECT_EQ(ids(a->list_pending_holds()), (std::vector<std::string>{"h-a1"}));
  std::vector<std::string> hold_entries;
  ASSERT_TRUE(a->scan_pending_hold_entries([&](const LotEntryRow& e) {
                 hold_entries.push_back(*e.hold_id);
                 return Status();
               }).ok());
  EXPECT_EQ(hold_entries, (std::vector<std::string>{"h-a1"}));

  EXPECT_TRUE(found(a->get_payment("pay-a1")));
  EXPECT_FALSE(found(a->get_payment("pay-b1")));
  EXPECT_FALSE(found(a->get_payment("pay-n1")));
}

TEST_P(TenantStoreTest, AnOrgsUsageRollupCountsItsAgentsOnly) {
  std::unique_ptr<Reader> a = store_->tenant("oa");
  auto by_app = a->usage_rollup({.group_by = "app", .from = kNow, .to = kNow + 1});
  ASSERT_TRUE(by_app.ok()) << by_app.status().to_string();
  ASSERT_EQ(by_app->size(), 2u);
  EXPECT_EQ((*by_app)[0].key, "a1");
  EXPECT_EQ((*by_app)[0].cost, "100");
  EXPECT_EQ((*by_app)[1].key, "a2");
  EXPECT_EQ((*by_app)[1].cost, "50");
  auto by_day = a->usage_rollup({.group_by = "day", .from = kNow, .to = kNow + 1});
  ASSERT_TRUE(by_day.ok()) << by_day.status().to_string();
  ASSERT_EQ(by_day->size(), 1u);
  EXPECT_EQ((*by_day)[0].requests, 2);
  EXPECT_EQ((*by_day)[0].prompt_tokens, 20);
  EXPECT_EQ((*by_day)[0].completion_tokens, 10);
  EXPECT_EQ((*by_day)[0].cost, "150");
  auto of_b1 = a->usage_rollup({.group_by = "day", .from = kNow, .to = kNow + 1, .agent_id = "b1"});
  ASSERT_TRUE(of_b1.ok());
  EXPECT_TRUE(of_b1->empty());
}

TEST_P(TenantStoreTest, AnOrgSeesNothingOfTheTablesThatBelongToNoTenant) {
  std::unique_ptr<Reader> a = store_->tenant("oa");
  EXPECT_FALSE(found(a->get_kv("k")));
  EXPECT_TRUE(ids(a->list_automations(kAll)).empty());
  EXPECT_FALSE(found(a->get_automation("au-1")));
  EXPECT_FALSE(found(a->find_automation_by_hash("auh-1")));
  EXPECT_FALSE(found(a->get_model("m-1")));
  EXPECT_FALSE(found(a->find_model_by_name("gpt-x")));
  EXPECT_TRUE(ids(a->list_models(kAll)).empty());
  EXPECT_TRUE(ids(a->list_outbox_due(kNow, 10)).empty());
  EXPECT_FALSE(found(a->find_ledger_op("key-1")));
  int ops = 0;
  ASSERT_TRUE(a->scan_ledger_ops_since(0, [&](const LedgerOpRow&) {
                 ++ops;
                 return Status();
               }).ok());
  EXPECT_EQ(ops, 0);
  EXPECT_FALSE(found(a->get_webhook_event("stripe", "evt-1")));
  auto keys = a->list_signing_keys();
  ASSERT_TRUE(keys.ok());
  EXPECT_TRUE(keys->empty());
  // Meter usage names its agent through usage_names on PostgreSQL, which no tenant reads.
  int meters = 0;
  ASSERT_TRUE(a->scan_meter_usage({}, [&](const MeterUsageRow&) {
                 ++meters;
                 return Status();
               }).ok());
  EXPECT_EQ(meters, 0);
  // The daemon's own reads still see them all.
  EXPECT_TRUE(found(store_->get_kv("k")));
  EXPECT_EQ(ids(store_->list_automations(kAll)).size(), 1u);
}

// An org's automations (and their executions) are its own; the operator's (no org) and another
// org's are not there.
TEST_P(TenantStoreTest, AnOrgSeesItsOwnAutomationsAndTheirExecutionsOnly) {
  ASSERT_TRUE(run([](WriteTxn& t) -> Status {
                for (const char* org : {"oa", "ob"}) {
                  AutomationRow au = sample_automation(std::string("au-") + org,
                                                       std::string("auh-") + org);
                  au.org = org;
                  WARDEN_RETURN_IF_ERROR(t.insert_automation(au));
                  WARDEN_RETURN_IF_ERROR(
                      t.insert_execution(testing::sample_execution(au.id, org[1] == 'a' ? 1 : 2)));
                }
                return Status();
              }).ok());
  std::unique_ptr<Reader> a = store_->tenant("oa");
  EXPECT_EQ(ids(a->list_automations(kAll)), (std::vector<std::string>{"au-oa"}));
  EXPECT_EQ(ids(a->list_automations(Page{std::nullopt, 1})), (std::vector<std::string>{"au-oa"}));
  auto own = a->get_automation("au-oa");
  ASSERT_TRUE(own.ok() && own->has_value());
  EXPECT_EQ((*own)->org, std::optional<std::string>("oa"));
  EXPECT_TRUE(found(a->find_automation_by_hash("auh-oa")));
  EXPECT_FALSE(found(a->get_automation("au-ob")));
  EXPECT_FALSE(found(a->find_automation_by_hash("auh-ob")));
  EXPECT_FALSE(found(a->get_automation("au-1")));  // the operator's
  auto executions = a->list_executions("au-oa", std::nullopt, 10);
  ASSERT_TRUE(executions.ok());
  EXPECT_EQ(executions->size(), 1u);
  auto others = a->list_executions("au-ob", std::nullopt, 10);
  ASSERT_TRUE(others.ok());
  EXPECT_TRUE(others->empty());
  EXPECT_EQ(ids(store_->tenant("ob")->list_automations(kAll)),
            (std::vector<std::string>{"au-ob"}));
  // The daemon's own reads see all three, each with its owner.
  auto all = store_->list_automations(kAll);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].org, std::nullopt);  // "au-1" sorts first
}

TEST_P(TenantStoreTest, AnUnknownOrgAndIdsThatNameNoOrgSeeNothing) {
  for (const char* org : {"no-such-org", "*", "", "oa' OR true --"}) {
    SCOPED_TRACE(org);
    std::unique_ptr<Reader> r = store_->tenant(org);
    EXPECT_FALSE(found(r->get_agent("a1")));
    EXPECT_FALSE(found(r->get_agent("n1")));
    EXPECT_TRUE(ids(r->list_agents(kAll)).empty());
    EXPECT_FALSE(found(r->get_session("s-a1")));
    EXPECT_TRUE(ids(r->list_transactions({}, kAll)).empty());
    EXPECT_TRUE(ids(r->list_lots({}, kAll)).empty());
    EXPECT_TRUE(ids(r->list_orgs(kAll)).empty());
    EXPECT_FALSE(found(r->get_org("oa")));
    EXPECT_FALSE(found(r->get_kv("k")));
    auto audit = r->list_audit({});
    ASSERT_TRUE(audit.ok()) << audit.status().to_string();
    EXPECT_TRUE(audit->empty());
  }
}

TEST_P(TenantStoreTest, TheOtherOrgSeesItsOwnRows) {
  std::unique_ptr<Reader> b = store_->tenant("ob");
  EXPECT_EQ(ids(b->list_agents(kAll)), (std::vector<std::string>{"b1"}));
  EXPECT_EQ(ids(b->list_transactions({}, kAll)), (std::vector<std::string>{"t-b1"}));
  EXPECT_EQ(ids(b->list_lots({}, kAll)), (std::vector<std::string>{"l-b1"}));
  EXPECT_EQ(ids(b->list_policies({}, kAll)), (std::vector<std::string>{"p-b1"}));
  EXPECT_FALSE(found(b->get_agent("a1")));
  EXPECT_FALSE(found(b->get_org("oa")));
}

WARDEN_STORE_SUITE(TenantStoreTest);

}  // namespace
}  // namespace warden::store
