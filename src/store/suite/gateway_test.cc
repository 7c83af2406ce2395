// The gateway's rows in the store (migration 6): model deployments and agents' API keys
// round-trip every field, names and key hashes are unique (STORE_CONSTRAINT naming the column,
// which the routes rely on), and an agent's org survives an update.
#include <gtest/gtest.h>

#include <memory>

#include "store/suite/helpers.h"
#include "store/suite/store_suite.h"

namespace warden::store {
namespace {

using testing::sample_agent;
using testing::sample_key;
using testing::sample_model;

class GatewayStoreTest : public suite::StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(run([](WriteTxn& t) -> Status {
                  WARDEN_RETURN_IF_ERROR(t.insert_agent(sample_agent("a1", "pk-1")));
                  return t.insert_agent(sample_agent("a2", "pk-2"));
                }).ok());
  }
};

TEST_P(GatewayStoreTest, ModelRoundTripsEveryFieldByIdAndName) {
  ModelRow m = sample_model("m1", "gpt-4o-mini");
  m.provider = "azure_openai";
  m.enabled = false;
  m.key_ref = "file:/etc/warden/azure.key";
  m.input_price_micros_per_1k = "0";
  m.output_price_micros_per_1k =
      "115792089237316195423570985008687907853269984665640564039457584007913129639935";
  ASSERT_TRUE(run([&](WriteTxn& t) { return t.insert_model(m); }).ok());
  for (auto got : {store_->get_model("m1"), store_->find_model_by_name("gpt-4o-mini")}) {
    ASSERT_TRUE(got.ok() && got->has_value());
    const ModelRow& g = **got;
    EXPECT_EQ(g.id, "m1");
    EXPECT_EQ(g.name, "gpt-4o-mini");
    EXPECT_EQ(g.provider, "azure_openai");
    EXPECT_EQ(g.base_url, m.base_url);
    EXPECT_EQ(g.upstream_model, "gpt-4o-mini");
    EXPECT_EQ(g.input_price_micros_per_1k, "0");
    EXPECT_EQ(g.output_price_micros_per_1k, m.output_price_micros_per_1k);
    EXPECT_EQ(g.currency, "USD");
    EXPECT_EQ(g.key_ref, "file:/etc/warden/azure.key");
    EXPECT_FALSE(g.enabled);
    EXPECT_EQ(g.created_at, m.created_at);
    EXPECT_EQ(g.updated_at, m.updated_at);
  }
  EXPECT_FALSE(store_->get_model("m2")->has_value());
  EXPECT_FALSE(store_->find_model_by_name("gpt-4o")->has_value());
}

TEST_P(GatewayStoreTest, ModelNamesAreUniqueAndUpdatesAndDeletesWork) {
  ASSERT_TRUE(run([](WriteTxn& t) { return t.insert_model(sample_model("m1", "a")); }).ok());
  Status dup = run([](WriteTxn& t) { return t.insert_model(sample_model("m2", "a")); });
  EXPECT_EQ(dup.code(), ErrorCode::STORE_CONSTRAINT);
  EXPECT_NE(dup.message().find("models.name"), std::string::npos) << dup.message();
  EXPECT_FALSE(store_->get_model("m2")->has_value());

  ASSERT_TRUE(run([](WriteTxn& t) { return t.insert_model(sample_model("m2", "b")); }).ok());
  ModelRow m = store_->get_model("m2")->value();
  m.name = "c";
  m.provider = "anthropic";
  m.output_price_micros_per_1k = "15000";
  m.updated_at += 60;
  ASSERT_TRUE(run([&](WriteTxn& t) { return t.update_model(m); }).ok());
  ModelRow g = store_->get_model("m2")->value();
  EXPECT_EQ(g.name, "c");
  EXPECT_EQ(g.provider, "anthropic");
  EXPECT_EQ(g.output_price_micros_per_1k, "15000");
  EXPECT_EQ(g.updated_at, m.updated_at);
  EXPECT_EQ(g.created_at, sample_model("", "").created_at);

  m.name = "a";  // renaming onto another model's name
  EXPECT_EQ(run([&](WriteTxn& t) { return t.update_model(m); }).code(),
            ErrorCode::STORE_CONSTRAINT);
  ModelRow ghost = sample_model("m9", "z");
  EXPECT_EQ(run([&](WriteTxn& t) { return t.update_model(ghost); }).code(),
            ErrorCode::INTERNAL_ERROR);

  auto page = store_->list_models({std::nullopt, 1});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ((*page)[0].id, "m1");
  page = store_->list_models({"m1", 10});
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ((*page)[0].id, "m2");

  ASSERT_TRUE(run([](WriteTxn& t) { return t.delete_model("m1"); }).ok());
  EXPECT_FALSE(store_->get_model("m1")->has_value());
  EXPECT_EQ(run([](WriteTxn& t) { return t.delete_model("m1"); }).code(),
            ErrorCode::INTERNAL_ERROR);
  // The name is free again.
  EXPECT_TRUE(run([](WriteTxn& t) { return t.insert_model(sample_model("m3", "a")); }).ok());
}

TEST_P(GatewayStoreTest, ApiKeysRoundTripPerAgentAndAreRevoked) {
  ApiKeyRow k1 = sample_key("k1", "a1", std::string(64, 'a'));
  k1.name = "ci";
  ApiKeyRow k2 = sample_key("k2", "a2", std::string(64, 'b'));
  ApiKeyRow k3 = sample_key("k3", "a1", std::string(64, 'c'));
  ASSERT_TRUE(run([&](WriteTxn& t) -> Status {
                WARDEN_RETURN_IF_ERROR(t.insert_api_key(k1));
                WARDEN_RETURN_IF_ERROR(t.insert_api_key(k2));
                return t.insert_api_key(k3);
              }).ok());
  auto got = store_->find_api_key_by_hash(std::string(64, 'a'));
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->id, "k1");
  EXPECT_EQ((*got)->agent_id, "a1");
  EXPECT_EQ((*got)->prefix, "wk_abcd");
  EXPECT_EQ((*got)->name, "ci");
  EXPECT_EQ((*got)->created_at, k1.created_at);
  EXPECT_FALSE((*got)->revoked_at.has_value());
  EXPECT_FALSE((*got)->last_used_at.has_value());
  EXPECT_FALSE(store_->get_api_key("k2")->value().name.has_value());

  auto mine = store_->list_api_keys("a1", {});
  ASSERT_TRUE(mine.ok());
  ASSERT_EQ(mine->size(), 2u);
  EXPECT_EQ((*mine)[0].id, "k1");
  EXPECT_EQ((*mine)[1].id, "k3");
  EXPECT_EQ(store_->list_api_keys("a1", {"k1", 10})->size(), 1u);

  Status dup = run(
      [](WriteTxn& t) { return t.insert_api_key(sample_key("k4", "a2", std::string(64, 'a'))); });
  EXPECT_EQ(dup.code(), ErrorCode::STORE_CONSTRAINT);
  EXPECT_NE(dup.message().find("api_keys.key_hash"), std::string::npos) << dup.message();
  Status orphan =
      run([](WriteTxn& t) { return t.insert_api_key(sample_key("k5", "nobody", "h5")); });
  EXPECT_EQ(orphan.code(), ErrorCode::STORE_CONSTRAINT);

  k1.revoked_at = 1'767'300'500;
  k1.last_used_at = 1'767'300'400;
  ASSERT_TRUE(run([&](WriteTxn& t) { return t.update_api_key(k1); }).ok());
  ApiKeyRow g = store_->get_api_key("k1")->value();
  EXPECT_EQ(g.revoked_at, 1'767'300'500);
  EXPECT_EQ(g.last_used_at, 1'767'300'400);
  EXPECT_EQ(g.key_hash, std::string(64, 'a'));
  EXPECT_EQ(g.agent_id, "a1");

  auto revoked = std::make_shared<std::int64_t>(-1);
  ASSERT_TRUE(run([&](WriteTxn& t) -> Status {
                WARDEN_ASSIGN_OR_RETURN(*revoked, t.revoke_agent_api_keys("a1", 1'767'300'900));
                return Status();
              }).ok());
  EXPECT_EQ(*revoked, 1);  // k3; k1 was already revoked and keeps its time
  EXPECT_EQ(store_->get_api_key("k1")->value().revoked_at, 1'767'300'500);
  EXPECT_EQ(store_->get_api_key("k3")->value().revoked_at, 1'767'300'900);
  EXPECT_FALSE(store_->get_api_key("k2")->value().revoked_at.has_value());
}

TEST_P(GatewayStoreTest, AgentOrgIsStoredAndUpdated) {
  AgentRow a = store_->get_agent("a1")->value();
  EXPECT_FALSE(a.org.has_value());
  a.org = "acme";
  ASSERT_TRUE(run([&](WriteTxn& t) { return t.update_agent(a); }).ok());
  EXPECT_EQ(store_->get_agent("a1")->value().org, "acme");
  AgentRow b = sample_agent("a3", std::nullopt);
  b.org = "globex";
  ASSERT_TRUE(run([&](WriteTxn& t) { return t.insert_agent(b); }).ok());
  EXPECT_EQ(store_->get_agent("a3")->value().org, "globex");
  a.org.reset();
  ASSERT_TRUE(run([&](WriteTxn& t) { return t.update_agent(a); }).ok());
  EXPECT_FALSE(store_->get_agent("a1")->value().org.has_value());
}

WARDEN_STORE_SUITE(GatewayStoreTest);

}  // namespace
}  // namespace warden::store
