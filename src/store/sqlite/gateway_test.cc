// The gateway's rows in the SQLite store (migration 6): model deployments and agents' API keys
// round-trip every field, names and key hashes are unique, the schema refuses what the HTTP layer
// would never write (a bad provider, URL, key reference or price; an edited key hash), and an
// agent's org survives an update.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "store/sqlite/schema.h"
#include "store/sqlite/sqlite_store.h"
#include "store/sqlite/test_util.h"

namespace warden::store {
namespace {

using testing::open_store;
using testing::RawDb;
using testing::sample_agent;
using testing::TempDir;

ModelRow sample_model(std::string id, std::string name) {
  ModelRow m;
  m.id = std::move(id);
  m.name = std::move(name);
  m.provider = "openai";
  m.base_url = "https://api.openai.com/v1";
  m.upstream_model = "gpt-4o-mini";
  m.input_price_micros_per_1k = "150";
  m.output_price_micros_per_1k = "600";
  m.currency = "USD";
  m.key_ref = "env:OPENAI_API_KEY";
  m.created_at = 1'767'300'000;
  m.updated_at = 1'767'300'000;
  return m;
}

ApiKeyRow sample_key(std::string id, std::string agent_id, std::string hash) {
  ApiKeyRow k;
  k.id = std::move(id);
  k.agent_id = std::move(agent_id);
  k.key_hash = std::move(hash);
  k.prefix = "wk_abcd";
  k.created_at = 1'767'300'100;
  return k;
}

class GatewayStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = open_store(path_);
    ASSERT_NE(store_, nullptr);
    raw_ = std::make_unique<RawDb>(path_);
    ASSERT_TRUE(run([](WriteTxn& t) -> Status {
                  WARDEN_RETURN_IF_ERROR(t.insert_agent(sample_agent("a1", "pk-1")));
                  return t.insert_agent(sample_agent("a2", "pk-2"));
                }).ok());
  }
  Status run(const std::function<Status(WriteTxn&)>& fn) { return store_->write(fn); }
  void refused(const std::string& sql, std::string_view message) {
    const int rc = raw_->exec(sql);
    EXPECT_EQ(rc & 0xff, SQLITE_CONSTRAINT) << sql;
    EXPECT_NE(raw_->error().find(message), std::string::npos) << sql << ": " << raw_->error();
  }

  TempDir dir_;
  std::string path_ = dir_.file("gateway.db");
  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<RawDb> raw_;
};

TEST_F(GatewayStoreTest, SchemaHasTheTablesColumnsAndIndexes) {
  EXPECT_EQ(
      raw_->column("SELECT name FROM pragma_table_info('models') ORDER BY cid"),
      (std::vector<std::string>{"id", "name", "provider", "base_url", "upstream_model",
                                "input_price_micros_per_1k", "output_price_micros_per_1k",
                                "currency", "key_ref", "enabled", "created_at", "updated_at"}));
  EXPECT_EQ(raw_->column("SELECT name FROM pragma_table_info('api_keys') ORDER BY cid"),
            (std::vector<std::string>{"id", "agent_id", "key_hash", "prefix", "name", "created_at",
                                      "revoked_at", "last_used_at"}));
  EXPECT_EQ(raw_->text("SELECT name FROM pragma_table_info('agents') ORDER BY cid DESC LIMIT 1"),
            "org");
  EXPECT_EQ(raw_->text("SELECT \"notnull\" FROM pragma_table_info('agents') WHERE name = 'org'"),
            "0");
  EXPECT_EQ(raw_->column("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = "
                         "'api_keys' AND sql IS NOT NULL"),
            (std::vector<std::string>{"idx_api_keys_agent"}));
  // The UNIQUE columns' automatic indexes: the proxy's lookups by key hash and by model name.
  EXPECT_EQ(raw_->integer("SELECT COUNT(*) FROM pragma_index_list('api_keys') WHERE \"unique\""),
            2);  // id, key_hash
  EXPECT_EQ(raw_->integer("SELECT COUNT(*) FROM pragma_index_list('models') WHERE \"unique\""),
            2);  // id, name
}

TEST_F(GatewayStoreTest, ModelRoundTripsEveryFieldByIdAndName) {
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

TEST_F(GatewayStoreTest, ModelNamesAreUniqueAndUpdatesAndDeletesWork) {
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

TEST_F(GatewayStoreTest, SchemaRefusesBadModelColumns) {
  auto insert = [](std::string_view column, std::string_view value) {
    std::map<std::string, std::string> v = {{"provider", "'openai'"},
                                            {"base_url", "'https://x'"},
                                            {"upstream_model", "'m'"},
                                            {"input_price_micros_per_1k", "'1'"},
                                            {"output_price_micros_per_1k", "'2'"},
                                            {"key_ref", "'env:K'"},
                                            {"enabled", "1"}};
    v[std::string(column)] = value;
    return fmt::format(
        "INSERT INTO models (id, name, provider, base_url, upstream_model, "
        "input_price_micros_per_1k, output_price_micros_per_1k, currency, key_ref, enabled, "
        "created_at, updated_at) VALUES ('x', 'x', {}, {}, {}, {}, {}, 'USD', {}, {}, 1, 1)",
        v["provider"], v["base_url"], v["upstream_model"], v["input_price_micros_per_1k"],
        v["output_price_micros_per_1k"], v["key_ref"], v["enabled"]);
  };
  ASSERT_EQ(raw_->exec(insert("enabled", "1")), SQLITE_OK) << raw_->error();
  ASSERT_EQ(raw_->exec("DELETE FROM models"), SQLITE_OK);
  refused(insert("provider", "'OpenAI'"), "CHECK");
  refused(insert("provider", "'mistral'"), "CHECK");
  refused(insert("base_url", "'ftp://x'"), "CHECK");
  refused(insert("base_url", "'https://'"), "CHECK");
  refused(insert("upstream_model", "''"), "CHECK");
  refused(insert("input_price_micros_per_1k", "'01'"), "CHECK");
  refused(insert("input_price_micros_per_1k", "'-1'"), "CHECK");
  refused(insert("output_price_micros_per_1k", "'1.5'"), "CHECK");
  refused(insert("key_ref", "'sk-live-secret'"), "CHECK");
  refused(insert("key_ref", "'file:relative'"), "CHECK");
  refused(insert("key_ref", "'env:'"), "CHECK");
  refused(insert("enabled", "2"), "CHECK");
  EXPECT_EQ(raw_->integer("SELECT COUNT(*) FROM models"), 0);
}

TEST_F(GatewayStoreTest, ApiKeysRoundTripPerAgentAndOnlyMutableColumnsChange) {
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
  refused("UPDATE api_keys SET key_hash = 'x' WHERE id = 'k1'", "api_keys: only name");
  refused("UPDATE api_keys SET agent_id = 'a2' WHERE id = 'k1'", "api_keys: only name");
  EXPECT_EQ(store_->get_api_key("k1")->value().key_hash, std::string(64, 'a'));

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

TEST_F(GatewayStoreTest, AgentOrgIsStoredAndUpdated) {
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

TEST(GatewayMigrationTest, AVersionFiveFileGainsTheTablesAndKeepsItsAgents) {
  TempDir dir;
  const std::string path = dir.file("v5.db");
  std::ofstream(path).flush();
  {
    RawDb raw(path);
    ASSERT_EQ(raw.exec(sqlite::kSchemaVersionDdl), SQLITE_OK) << raw.error();
    for (const auto& m : sqlite::migrations()) {
      if (m.version > 5) break;
      ASSERT_EQ(raw.exec(m.sql()), SQLITE_OK) << m.version << ": " << raw.error();
      ASSERT_EQ(raw.exec(fmt::format("INSERT INTO schema_version VALUES ({}, 'v', 0)", m.version)),
                SQLITE_OK);
    }
    ASSERT_EQ(raw.exec("INSERT INTO agents (id, name, chain, network, status, created_at, "
                       "updated_at) VALUES ('a1', 'old', 'solana', 'devnet', 'ACTIVE', 1, 2)"),
              SQLITE_OK)
        << raw.error();
  }
  auto opened = SqliteStore::open(path, {});
  ASSERT_TRUE(opened.ok()) << opened.status().to_string();
  SqliteStore& store = **opened;
  EXPECT_EQ(store.schema_version(), latest_schema_version());
  EXPECT_EQ(store.migrations_applied_at_open(), latest_schema_version() - 5);
  AgentRow a = store.get_agent("a1")->value();
  EXPECT_EQ(a.name, "old");
  EXPECT_FALSE(a.org.has_value());
  EXPECT_TRUE(store.list_models({})->empty());
  ASSERT_TRUE(
      store.write([](WriteTxn& t) { return t.insert_api_key(sample_key("k1", "a1", "h1")); }).ok());
  EXPECT_EQ(store.list_api_keys("a1", {})->size(), 1u);
}

}  // namespace
}  // namespace warden::store
