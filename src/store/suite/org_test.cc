// Organizations and their admin keys in the store (migration 9): rows round-trip, names and key
// hashes are unique, a deleted org leaves the listing but not get_org, an admin key's revoked_at
// is written, and an org's agents are listed by their org.
#include <gtest/gtest.h>

#include "store/suite/helpers.h"
#include "store/suite/store_suite.h"

namespace warden::store {
namespace {

using testing::sample_agent;
using testing::sample_org;

class OrgStoreTest : public suite::StoreTest {};

TEST_P(OrgStoreTest, OrgsRoundTripNamesAreUniqueAndDeletedOnesLeaveTheListing) {
  ASSERT_TRUE(run([](WriteTxn& t) -> Status {
                WARDEN_RETURN_IF_ERROR(t.insert_org(sample_org("o1", "acme")));
                return t.insert_org(sample_org("o2", "globex"));
              }).ok());
  const Status dup = run([](WriteTxn& t) { return t.insert_org(sample_org("o3", "acme")); });
  EXPECT_EQ(dup.code(), ErrorCode::STORE_CONSTRAINT);

  auto o1 = store_->get_org("o1");
  ASSERT_TRUE(o1.ok());
  ASSERT_TRUE(o1->has_value());
  EXPECT_EQ((*o1)->name, "acme");
  EXPECT_EQ((*o1)->created_at, 1'767'300'000);
  EXPECT_FALSE((*o1)->deleted_at.has_value());

  ASSERT_TRUE(run([](WriteTxn& t) {
                OrgRow o = sample_org("o1", "acme");
                o.deleted_at = 1'767'300'500;
                return t.update_org(o);
              }).ok());
  auto listed = store_->list_orgs(Page{std::nullopt, 10});
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1U);
  EXPECT_EQ((*listed)[0].id, "o2");
  auto deleted = store_->get_org("o1");
  ASSERT_TRUE(deleted.ok() && deleted->has_value());
  EXPECT_EQ((*deleted)->deleted_at, 1'767'300'500);
}

TEST_P(OrgStoreTest, AdminKeysAreFoundByHashAndRevoked) {
  OrgAdminKeyRow k;
  k.id = "k1";
  k.org_id = "o1";
  k.key_hash = "h1";
  k.prefix = "wo_abcdefgh";
  k.created_at = 1'767'300'100;
  ASSERT_TRUE(run([&](WriteTxn& t) -> Status {
                WARDEN_RETURN_IF_ERROR(t.insert_org(sample_org("o1", "acme")));
                return t.insert_org_admin_key(k);
              }).ok());
  OrgAdminKeyRow same_hash = k;
  same_hash.id = "k2";
  EXPECT_EQ(run([&](WriteTxn& t) { return t.insert_org_admin_key(same_hash); }).code(),
            ErrorCode::STORE_CONSTRAINT);

  auto found = store_->find_org_admin_key_by_hash("h1");
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->id, "k1");
  EXPECT_EQ((*found)->org_id, "o1");
  EXPECT_EQ((*found)->prefix, "wo_abcdefgh");

  k.revoked_at = 1'767'300'200;
  ASSERT_TRUE(run([&](WriteTxn& t) { return t.update_org_admin_key(k); }).ok());
  auto by_id = store_->get_org_admin_key("k1");
  ASSERT_TRUE(by_id.ok() && by_id->has_value());
  EXPECT_EQ((*by_id)->revoked_at, 1'767'300'200);
  EXPECT_EQ((*by_id)->key_hash, "h1");
}

TEST_P(OrgStoreTest, AnOrgsAgentsAreListedByTheirOrg) {
  ASSERT_TRUE(run([](WriteTxn& t) -> Status {
                WARDEN_RETURN_IF_ERROR(t.insert_org(sample_org("o1", "acme")));
                AgentRow a = sample_agent("a1", "pk-1");
                a.org = "o1";
                WARDEN_RETURN_IF_ERROR(t.insert_agent(a));
                AgentRow b = sample_agent("a2", "pk-2");
                b.org = "o2";
                WARDEN_RETURN_IF_ERROR(t.insert_agent(b));
                AgentRow c = sample_agent("a3", "pk-3");
                c.org = "o1";
                return t.insert_agent(c);
              }).ok());
  auto of_o1 = store_->list_org_agents("o1", Page{std::nullopt, 10});
  ASSERT_TRUE(of_o1.ok());
  ASSERT_EQ(of_o1->size(), 2U);
  EXPECT_EQ((*of_o1)[0].id, "a1");
  EXPECT_EQ((*of_o1)[1].id, "a3");
  auto after = store_->list_org_agents("o1", Page{std::string("a1"), 10});
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->size(), 1U);
  EXPECT_EQ((*after)[0].id, "a3");
}

WARDEN_STORE_SUITE(OrgStoreTest);

}  // namespace
}  // namespace warden::store
