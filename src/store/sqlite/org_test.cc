// The SQLite schema's guard on organizations' admin keys (migration 9): a key's only mutable
// column is revoked_at, whoever writes. The org rows' behaviour through the Store interface is in
// store/suite/org_test.cc, run on every backend.
#include <gtest/gtest.h>

#include "store/sqlite/sqlite_store.h"
#include "store/sqlite/test_util.h"

namespace warden::store {
namespace {

using testing::open_store;
using testing::RawDb;
using testing::TempDir;

TEST(SqliteOrgSchema, AnAdminKeysOnlyMutableColumnIsRevokedAt) {
  TempDir dir;
  const std::string path = dir.file("orgs.db");
  auto store = open_store(path);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store
                  ->write([](WriteTxn& t) -> Status {
                    WARDEN_RETURN_IF_ERROR(
                        t.insert_org({.id = "o1", .name = "acme", .created_at = 1'767'300'000}));
                    return t.insert_org_admin_key({.id = "k1",
                                                   .org_id = "o1",
                                                   .key_hash = "h1",
                                                   .prefix = "wo_abcdefgh",
                                                   .created_at = 1'767'300'100});
                  })
                  .ok());
  RawDb raw(path);
  EXPECT_NE(raw.exec("UPDATE org_admin_keys SET key_hash = 'other' WHERE id = 'k1'"), SQLITE_OK);
  EXPECT_NE(raw.error().find("only revoked_at changes"), std::string::npos) << raw.error();
  EXPECT_EQ(raw.exec("UPDATE org_admin_keys SET revoked_at = 5 WHERE id = 'k1'"), SQLITE_OK)
      << raw.error();
  EXPECT_EQ(store->get_org_admin_key("k1")->value().revoked_at, 5);
  EXPECT_EQ(store->get_org_admin_key("k1")->value().key_hash, "h1");
}

}  // namespace
}  // namespace warden::store
