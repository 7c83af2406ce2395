// Round trips through the store for agents, sessions, policies and the key-value store,
// including constraint mapping, not-found codes and cursor pagination.
#include <gtest/gtest.h>

#include "core/ids.h"
#include "store/suite/helpers.h"
#include "store/suite/store_suite.h"

namespace warden::store {
namespace {

using testing::sample_agent;
using testing::sample_policy;
using testing::sample_session;

class CrudTest : public suite::StoreTest {
 protected:
  FakeClock clock_;
  IdGenerator ids_{clock_};
};

TEST_P(CrudTest, AgentRoundTripsEveryField) {
  AgentRow a = sample_agent(ids_.next(), "pk-1");
  a.chain = "ethereum";
  a.network = "testnet";
  a.status = "SUSPENDED";
  a.owner_address = "0xabc";
  a.owner_verified = true;
  a.suspended_at = 1'767'300'000;
  a.suspension_reason = "manual";
  ASSERT_TRUE(run([&](WriteTxn& t) { return t.insert_agent(a); }).ok());
  auto got = store_->get_agent(a.id);
  ASSERT_TRUE(got.ok() && got->has_value());
  const AgentRow& g = **got;
  EXPECT_EQ(g.name, a.name);
  EXPECT_EQ(g.chain, "ethereum");
  EXPECT_EQ(g.network, "testnet");
  EXPECT_EQ(g.public_key, a.public_key);
  EXPECT_EQ(g.status, "SUSPENDED");
  EXPECT_EQ(g.owner_address, a.owner_address);
  EXPECT_TRUE(g.owner_verified);
  EXPECT_EQ(g.created_at, a.created_at);
  EXPECT_EQ(g.suspended_at, a.suspended_at);
  EXPECT_EQ(g.suspension_reason, a.suspension_reason);
  EXPECT_FALSE(store_->get_agent("missing")->has_value());
}

TEST_P(CrudTest, NullPublicKeysMayRepeatButKeysMayNot) {
  ASSERT_TRUE(run([&](WriteTxn& t) -> Status {
                WARDEN_RETURN_IF_ERROR(t.insert_agent(sample_agent("a1", std::nullopt)));
                WARDEN_RETURN_IF_ERROR(t.insert_agent(sample_agent("a2", std::nullopt)));
                return t.insert_agent(sample_agent("a3", "pk"));
              }).ok());
  Status dup = run([&](WriteTxn& t) { return t.insert_agent(sample_agent("a4", "pk")); });
  EXPECT_EQ(dup.code(), ErrorCode::STORE_CONSTRAINT);
  EXPECT_NE(dup.message().find("agents.public_key"), std::string::npos) << dup.message();
  EXPECT_FALSE(store_->get_agent("a4")->has_value());
  EXPECT_FALSE(store_->get_agent("a1")->value().public_key.has_value());

  Status same_id = run([&](WriteTxn& t) { return t.insert_agent(sample_agent("a1", "pk9")); });
  EXPECT_EQ(same_id.code(), ErrorCode::STORE_CONSTRAINT);
  EXPECT_NE(same_id.message().find("agents.id"), std::string::npos) << same_id.message();
}

TEST_P(CrudTest, UpdateAgentChangesFieldsAndReportsMissing) {
  AgentRow a = sample_agent("a1", "pk");
  ASSERT_TRUE(run([&](WriteTxn& t) { return t.insert_agent(a); }).ok());
  a.status = "TERMINATED";
  a.public_key.reset();
  a.updated_at += 60;
  ASSERT_TRUE(run([&](WriteTxn& t) { return t.update_agent(a); }).ok());
  AgentRow g = store_->get_agent("a1")->value();
  EXPECT_EQ(g.status, "TERMINATED");
  EXPECT_FALSE(g.public_key.has_value());
  EXPECT_EQ(g.updated_at, a.updated_at);

  EXPECT_EQ(run([&](WriteTxn& t) { return t.update_agent(sample_agent("nope", {})); }).code(),
            ErrorCode::AGENT_NOT_FOUND);
}

TEST_P(CrudTest, ListAgentsPagesByIdCursor) {
  std::vector<std::string> created;
  for (int i = 0; i < 7; ++i) {
    clock_.advance_ms(1);
    created.push_back(ids_.next());
  }
  // Insert out of order: listing must follow the time-ordered ids, not insertion.
  ASSERT_TRUE(run([&](WriteTxn& t) -> Status {
                for (auto it = created.rbegin(); it != created.rend(); ++it) {
                  WARDEN_RETURN_IF_ERROR(t.insert_agent(sample_agent(*it, std::nullopt)));
                }
                return Status();
              }).ok());
  std::vector<std::string> seen;
  Page page{.limit = 3};
  for (;;) {
    auto rows = store_->list_agents(page);
    ASSERT_TRUE(rows.ok());
    for (const AgentRow& r : *rows) seen.push_back(r.id);
    if (rows->size() < page.limit) break;
    page.after_id = rows->back().id;
  }
  EXPECT_EQ(seen, created);
}

TEST_P(CrudTest, SessionsRoundTripFindByTokenAndRevoke) {
  ASSERT_TRUE(run([&](WriteTxn& t) -> Status {
                WARDEN_RETURN_IF_ERROR(t.insert_agent(sample_agent("a1", {})));
                WARDEN_RETURN_IF_ERROR(t.insert_agent(sample_agent("a2", {})));
                SessionRow s1 = sample_session("s1", "a1", "hash-1");
                s1.constraints = R"({"max":"5"})";
                WARDEN_RETURN_IF_ERROR(t.insert_session(s1));
                WARDEN_RETURN_IF_ERROR(t.insert_session(sample_session("s2", "a1", "hash-2")));
                SessionRow s3 = sample_session("s3", "a1", "hash-3");
                s3.revoked_at = 100;
                WARDEN_RETURN_IF_ERROR(t.insert_session(s3));
                return t.insert_session(sample_session("s4", "a2", "hash-4"));
              }).ok());
  auto by_token = store_->find_session_by_token_hash("hash-1");
  ASSERT_TRUE(by_token->has_value());
  EXPECT_EQ((*by_token)->id, "s1");
  EXPECT_EQ((*by_token)->constraints.value_or(""), R"({"max":"5"})");
  EXPECT_EQ((*by_token)->max_renewals, 30);
  EXPECT_FALSE(store_->find_session_by_token_hash("hash-x")->has_value());

  SessionRow renewed = store_->get_session("s2")->value();
  renewed.renewal_count = 1;
  renewed.last_renewed_at = 500;
  renewed.expires_at += 3600;
  ASSERT_TRUE(run([&](WriteTxn& t) { return t.update_session(renewed); }).ok());
  SessionRow g = store_->get_session("s2")->value();
  EXPECT_EQ(g.renewal_count, 1);
  EXPECT_EQ(g.last_renewed_at, 500);
  EXPECT_EQ(g.expires_at, renewed.expires_at);
  EXPECT_EQ(
      run([](WriteTxn& t) { return t.update_session(sample_session("nope", "a1", "h")); }).code(),
      ErrorCode::SESSION_NOT_FOUND);

  std::int64_t revoked = -1;
  ASSERT_TRUE(run([&](WriteTxn& t) -> Status {
                WARDEN_ASSIGN_OR_RETURN(revoked, t.revoke_agent_sessions("a1", 900));
                return Status();
              }).ok());
  EXPECT_EQ(revoked, 2);  // s1 and s2; s3 was already revoked
  EXPECT_EQ(store_->get_session("s1")->value().revoked_at, 900);
  EXPECT_EQ(store_->get_session("s3")->value().revoked_at, 100);
  EXPECT_FALSE(store_->get_session("s4")->value().revoked_at.has_value());
  ASSERT_TRUE(run([&](WriteTxn& t) -> Status {
                WARDEN_ASSIGN_OR_RETURN(revoked, t.revoke_agent_sessions("a1", 901));
                return Status();
              }).ok());
  EXPECT_EQ(revoked, 0);
}

TEST_P(CrudTest, PoliciesRoundTripFindByHashUpdateDelete) {
  ASSERT_TRUE(run([](WriteTxn& t) -> Status {
                WARDEN_RETURN_IF_ERROR(t.insert_agent(sample_agent("a1", {})));
                PolicyRow p = sample_policy("p1", "a1", "SPENDING_LIMIT", "h1");
                p.priority = 7;
                p.enabled = false;
                return t.insert_policy(p);
              }).ok());
  auto by_hash = store_->find_policy_by_hash("h1");
  ASSERT_TRUE(by_hash->has_value());
  const PolicyRow& p = **by_hash;
  EXPECT_EQ(p.id, "p1");
  EXPECT_EQ(p.agent_id.value_or(""), "a1");
  EXPECT_EQ(p.priority, 7);
  EXPECT_FALSE(p.enabled);
  EXPECT_EQ(p.version, 1);
  EXPECT_EQ(p.rules, R"({"max_amount":"1000"})");

  Status dup = run([](WriteTxn& t) {
    return t.insert_policy(sample_policy("p2", std::nullopt, "WHITELIST", "h1"));
  });
  EXPECT_EQ(dup.code(), ErrorCode::STORE_CONSTRAINT);
  EXPECT_NE(dup.message().find("policies.hash"), std::string::npos) << dup.message();

  PolicyRow changed = p;
  changed.version = 2;
  changed.hash = "h1b";
  changed.rules = R"({"max_amount":"2000"})";
  ASSERT_TRUE(run([&](WriteTxn& t) { return t.update_policy(changed); }).ok());
  PolicyRow g = store_->get_policy("p1")->value();
  EXPECT_EQ(g.version, 2);
  EXPECT_EQ(g.rules, changed.rules);
  EXPECT_FALSE(store_->find_policy_by_hash("h1")->has_value());

  EXPECT_EQ(run([](WriteTxn& t) {
              return t.update_policy(sample_policy("nope", std::nullopt, "WHITELIST", "z"));
            }).code(),
            ErrorCode::POLICY_NOT_FOUND);
  ASSERT_TRUE(run([](WriteTxn& t) { return t.delete_policy("p1"); }).ok());
  EXPECT_FALSE(store_->get_policy("p1")->has_value());
  EXPECT_EQ(run([](WriteTxn& t) { return t.delete_policy("p1"); }).code(),
            ErrorCode::POLICY_NOT_FOUND);
}

TEST_P(CrudTest, ListPoliciesFiltersAndPages) {
  // p0..p9: even ones belong to a1, odd ones are global; type alternates by i % 3;
  // every fourth is disabled.
  const char* types[] = {"WHITELIST", "SPENDING_LIMIT", "RATE_LIMIT"};
  ASSERT_TRUE(run([&](WriteTxn& t) -> Status {
                WARDEN_RETURN_IF_ERROR(t.insert_agent(sample_agent("a1", {})));
                for (int i = 0; i < 10; ++i) {
                  PolicyRow p =
                      sample_policy("p" + std::to_string(i),
                                    i % 2 == 0 ? std::optional<std::string>("a1") : std::nullopt,
                                    types[i % 3], "h" + std::to_string(i));
                  p.enabled = i % 4 != 0;
                  WARDEN_RETURN_IF_ERROR(t.insert_policy(p));
                }
                return Status();
              }).ok());
  auto ids = [&](const PolicyFilter& f, const Page& page) {
    std::vector<std::string> out;
    auto rows = store_->list_policies(f, page);
    EXPECT_TRUE(rows.ok());
    if (rows.ok()) {
      for (const PolicyRow& p : *rows) out.push_back(p.id);
    }
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(ids({}, {}).size(), 10u);
  EXPECT_EQ(ids({.agent_id = "a1"}, {}), (V{"p0", "p2", "p4", "p6", "p8"}));
  EXPECT_EQ(ids({.global_only = true}, {}), (V{"p1", "p3", "p5", "p7", "p9"}));
  EXPECT_EQ(ids({.type = "WHITELIST"}, {}), (V{"p0", "p3", "p6", "p9"}));
  EXPECT_EQ(ids({.enabled = false}, {}), (V{"p0", "p4", "p8"}));
  EXPECT_EQ(ids({.agent_id = "a1", .type = "WHITELIST", .enabled = true}, {}), (V{"p6"}));
  EXPECT_EQ(ids({}, {.after_id = "p3", .limit = 2}), (V{"p4", "p5"}));
  EXPECT_EQ(ids({.global_only = true}, {.after_id = "p5", .limit = 10}), (V{"p7", "p9"}));
}

TEST_P(CrudTest, KeyValuePutGetOverwrite) {
  EXPECT_FALSE(store_->get_kv("master_hash")->has_value());
  ASSERT_TRUE(run([](WriteTxn& t) { return t.put_kv("master_hash", "$argon2id$a", 10); }).ok());
  EXPECT_EQ(store_->get_kv("master_hash")->value_or(""), "$argon2id$a");
  ASSERT_TRUE(run([](WriteTxn& t) { return t.put_kv("master_hash", "$argon2id$b", 20); }).ok());
  EXPECT_EQ(store_->get_kv("master_hash")->value_or(""), "$argon2id$b");
  std::optional<std::string> inside;
  ASSERT_TRUE(run([&](WriteTxn& t) -> Status {
                WARDEN_RETURN_IF_ERROR(t.put_kv("k2", "v2", 30));
                WARDEN_ASSIGN_OR_RETURN(inside, t.get_kv("k2"));
                return Status();
              }).ok());
  EXPECT_EQ(inside.value_or(""), "v2");
}

// Start-up reads a time range of transactions as a range of ids (decisions/recovery.cc): a UUID v7
// whose version and random bits are zero sorts before every id made in its millisecond or later
// and after every earlier one, in the store's id order as in the text's.
TEST_P(CrudTest, AUuidV7FloorStartsTheTransactionsOfItsMillisecond) {
  auto floor_of = [](std::int64_t ms) { return uuid_v7_floor(ms); };
  std::vector<std::string> made;
  std::int64_t third_ms = 0;
  ASSERT_TRUE(run([&](WriteTxn& t) -> Status {
                WARDEN_RETURN_IF_ERROR(t.insert_agent(sample_agent("a1", "pk-a1")));
                for (int i = 0; i < 5; ++i) {
                  clock_.advance_ms(1000);
                  if (i == 2) third_ms = clock_.now_ms();
                  TransactionRow r;
                  r.id = ids_.next();
                  r.agent_id = "a1";
                  r.chain = "solana";
                  r.type = "TRANSFER";
                  r.status = "CONFIRMED";
                  r.created_at = r.updated_at = clock_.now_seconds();
                  made.push_back(r.id);
                  WARDEN_RETURN_IF_ERROR(t.insert_transaction(r));
                }
                return Status();
              }).ok());
  auto rows = store_->list_transactions({}, Page{floor_of(third_ms), 10});
  ASSERT_TRUE(rows.ok()) << rows.status().to_string();
  std::vector<std::string> seen;
  for (const auto& r : *rows) seen.push_back(r.id);
  EXPECT_EQ(seen, std::vector<std::string>(made.begin() + 2, made.end()));
  rows = store_->list_transactions({}, Page{floor_of(third_ms + 1), 10});
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->size(), 2u);
}

// What a sweeping replica reads (TransactionFilter::due_before): open rows with a timer due by
// then, of each kind, and nothing else, page by page.
TEST_P(CrudTest, DueBeforeListsOpenTransactionsWithATimerDueByThen) {
  constexpr std::int64_t kT = 1'800'000'000;
  auto tx = [](std::string id, std::string status) {
    TransactionRow r;
    r.id = std::move(id);
    r.agent_id = "a1";
    r.chain = "solana";
    r.type = "TRANSFER";
    r.status = std::move(status);
    r.created_at = r.updated_at = kT - 100;
    return r;
  };
  ASSERT_TRUE(run([&](WriteTxn& t) -> Status {
                WARDEN_RETURN_IF_ERROR(t.insert_agent(sample_agent("a1", "pk-a1")));
                TransactionRow r = tx("t1-expires", "PENDING");
                r.expires_at = kT - 1;
                WARDEN_RETURN_IF_ERROR(t.insert_transaction(r));
                r = tx("t2-expires-later", "PENDING");
                r.expires_at = kT + 1;
                WARDEN_RETURN_IF_ERROR(t.insert_transaction(r));
                r = tx("t3-settled", "CONFIRMED");
                r.expires_at = kT - 50;
                WARDEN_RETURN_IF_ERROR(t.insert_transaction(r));
                r = tx("t4-delay", "QUEUED");
                r.executable_at = kT;
                r.expires_at = kT + 3600;
                WARDEN_RETURN_IF_ERROR(t.insert_transaction(r));
                r = tx("t5-approval", "QUEUED");
                WARDEN_RETURN_IF_ERROR(t.insert_transaction(r));
                WARDEN_RETURN_IF_ERROR(t.insert_approval(
                    ApprovalRow{"ap5", "t5-approval", kT - 100, kT - 10, {}, {}, {}, kT - 100}));
                r = tx("t6-approved", "QUEUED");
                WARDEN_RETURN_IF_ERROR(t.insert_transaction(r));
                WARDEN_RETURN_IF_ERROR(t.insert_approval(
                    ApprovalRow{"ap6", "t6-approved", kT - 100, kT - 10, kT - 20, {}, {}, kT - 100}));
                r = tx("t7-no-timer", "PENDING");
                return t.insert_transaction(r);
              }).ok());
  auto ids = [&](std::optional<std::string> after, std::size_t limit) {
    TransactionFilter due;
    due.statuses = {"PENDING", "QUEUED"};
    due.due_before = kT;
    std::vector<std::string> out;
    auto rows = store_->list_transactions(due, Page{std::move(after), limit});
    EXPECT_TRUE(rows.ok()) << rows.status().to_string();
    if (rows.ok()) {
      for (const auto& r : *rows) out.push_back(r.id);
    }
    return out;
  };
  EXPECT_EQ(ids(std::nullopt, 10),
            (std::vector<std::string>{"t1-expires", "t4-delay", "t5-approval"}));
  EXPECT_EQ(ids(std::nullopt, 2), (std::vector<std::string>{"t1-expires", "t4-delay"}));
  EXPECT_EQ(ids("t4-delay", 2), (std::vector<std::string>{"t5-approval"}));
}

// What a decision refused by the unique key index reads (TransactionFilter::idempotency_key):
// the one row of that agent that holds the key; the same key of another agent, and rows
// without a key, are not it.
TEST_P(CrudTest, AnIdempotencyKeyFindsTheAgentsRowThatHoldsIt) {
  auto row = [](int i, std::string agent, std::optional<std::string> key) {
    TransactionRow r;
    r.id = "t" + std::to_string(i);
    r.agent_id = std::move(agent);
    r.chain = "solana";
    r.type = "TRANSFER";
    r.status = "CONFIRMED";
    r.created_at = r.updated_at = 1'800'000'000 + i;
    if (key) {
      r.idempotency_key = std::move(key);
      r.request_hash = std::string(64, static_cast<char>('a' + i % 6));  // hex
    }
    return r;
  };
  ASSERT_TRUE(run([&](WriteTxn& t) -> Status {
                WARDEN_RETURN_IF_ERROR(t.insert_agent(sample_agent("a1", "pk-a1")));
                WARDEN_RETURN_IF_ERROR(t.insert_agent(sample_agent("a2", "pk-a2")));
                // t1 (a1) and t5 (a2) share a key: unique per agent only.
                for (const auto& r : {row(1, "a1", "key-1"), row(2, "a1", std::nullopt),
                                      row(3, "a1", "key-3"), row(4, "a1", std::nullopt),
                                      row(5, "a2", "key-1")}) {
                  WARDEN_RETURN_IF_ERROR(t.insert_transaction(r));
                }
                return Status();
              }).ok());
  auto holder = [&](std::string agent, std::string key) {
    std::vector<std::string> out;
    auto rows = store_->list_transactions({.agent_id = agent, .idempotency_key = key},
                                          Page{std::nullopt, 10});
    EXPECT_TRUE(rows.ok()) << rows.status().to_string();
    if (rows.ok()) {
      for (const auto& r : *rows) {
        EXPECT_EQ(r.idempotency_key, key) << r.id;
        EXPECT_EQ(r.agent_id, agent) << r.id;
        out.push_back(r.id + ":" + r.request_hash.value_or("-").substr(0, 1));
      }
    }
    return out;
  };
  EXPECT_EQ(holder("a1", "key-1"), (std::vector<std::string>{"t1:b"}));
  EXPECT_EQ(holder("a1", "key-3"), (std::vector<std::string>{"t3:d"}));
  EXPECT_EQ(holder("a2", "key-1"), (std::vector<std::string>{"t5:f"}));
  EXPECT_TRUE(holder("a2", "key-3").empty());
  EXPECT_TRUE(holder("a1", "key-2").empty());
  // A second row of a1 with key-1 is refused by the unique index, and t1 still holds it.
  const TransactionRow dup = row(6, "a1", "key-1");
  const Status refused = run([&](WriteTxn& t) { return t.insert_transaction(dup); });
  EXPECT_EQ(refused.code(), ErrorCode::STORE_CONSTRAINT) << refused.to_string();
  EXPECT_EQ(holder("a1", "key-1"), (std::vector<std::string>{"t1:b"}));
}

WARDEN_STORE_SUITE(CrudTest);

}  // namespace
}  // namespace warden::store
