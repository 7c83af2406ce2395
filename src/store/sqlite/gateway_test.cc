// The gateway's tables in the SQLite schema (migration 6): their columns and indexes, the CHECKs
// and triggers that refuse what the HTTP layer would never write (a bad provider, URL, key
// reference or price; an edited key hash), and a version-five file gaining them. The rows'
// behaviour through the Store interface is in store/suite/gateway_test.cc, run on every backend.
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
using testing::sample_key;
using testing::TempDir;

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
  // org, then the integer key migration 13 added (schema.cc).
  EXPECT_EQ(raw_->column("SELECT name FROM pragma_table_info('agents') ORDER BY cid DESC LIMIT 2"),
            (std::vector<std::string>{"id_key", "org"}));
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

TEST_F(GatewayStoreTest, AnApiKeysHashAndAgentNeverChange) {
  ASSERT_TRUE(run([](WriteTxn& t) {
                return t.insert_api_key(sample_key("k1", "a1", std::string(64, 'a')));
              }).ok());
  refused("UPDATE api_keys SET key_hash = 'x' WHERE id = 'k1'", "api_keys: only name");
  refused("UPDATE api_keys SET agent_id = 'a2' WHERE id = 'k1'", "api_keys: only name");
  EXPECT_EQ(raw_->exec("UPDATE api_keys SET revoked_at = 5, last_used_at = 4, name = 'n' "
                       "WHERE id = 'k1'"),
            SQLITE_OK)
      << raw_->error();
  const ApiKeyRow g = store_->get_api_key("k1")->value();
  EXPECT_EQ(g.key_hash, std::string(64, 'a'));
  EXPECT_EQ(g.agent_id, "a1");
  EXPECT_EQ(g.revoked_at, 5);
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
