// A version-six SQLite file gains the automation tables (migration 7). The rows' behaviour through
// the Store interface is in store/suite/automation_test.cc, run on every backend.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fstream>

#include "store/sqlite/schema.h"
#include "store/sqlite/sqlite_store.h"
#include "store/sqlite/test_util.h"

namespace warden::store {
namespace {

using testing::RawDb;
using testing::sample_automation;
using testing::TempDir;

TEST(AutomationMigrationTest, AVersionSixFileGainsTheTables) {
  TempDir dir;
  const std::string path = dir.file("v6.db");
  std::ofstream(path).flush();
  {
    RawDb raw(path);
    ASSERT_EQ(raw.exec(sqlite::kSchemaVersionDdl), SQLITE_OK) << raw.error();
    for (const auto& m : sqlite::migrations()) {
      if (m.version > 6) break;
      ASSERT_EQ(raw.exec(m.sql()), SQLITE_OK) << m.version << ": " << raw.error();
      ASSERT_EQ(raw.exec(fmt::format("INSERT INTO schema_version VALUES ({}, 'v', 0)", m.version)),
                SQLITE_OK);
    }
  }
  auto opened = SqliteStore::open(path, {});
  ASSERT_TRUE(opened.ok()) << opened.status().to_string();
  SqliteStore& store = **opened;
  EXPECT_EQ(store.schema_version(), latest_schema_version());
  EXPECT_EQ(store.migrations_applied_at_open(), latest_schema_version() - 6);
  EXPECT_TRUE(store.list_automations({})->empty());
  ASSERT_TRUE(
      store.write([](WriteTxn& t) { return t.insert_automation(sample_automation("au1", "h1")); })
          .ok());
  EXPECT_EQ(store.list_automations({})->size(), 1u);
}

}  // namespace
}  // namespace warden::store
