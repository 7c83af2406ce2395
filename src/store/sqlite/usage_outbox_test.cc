// How SQLite stores migration 4's meter usage (its behaviour through the Store interface is in
// store/suite/usage_outbox_test.cc, run on every backend).
#include <gtest/gtest.h>

#include "store/sqlite/sqlite_store.h"
#include "store/sqlite/test_util.h"

namespace warden::store {
namespace {

using testing::open_store;
using testing::RawDb;
using testing::sample_agent;
using testing::TempDir;

TEST(SqliteUsageStorage, MeterUsageIsStoredCompactly) {
  TempDir dir;
  const std::string path = dir.file("usage.db");
  auto store = open_store(path);
  ASSERT_NE(store, nullptr);
  const std::string big =
      "115792089237316195423570985008687907853269984665640564039457584007913129639934";
  ASSERT_TRUE(store
                  ->write([&](WriteTxn& t) -> Status {
                    WARDEN_RETURN_IF_ERROR(t.insert_agent(sample_agent("a1", "pk-1")));
                    WARDEN_RETURN_IF_ERROR(t.insert_agent(sample_agent("a2", "pk-2")));
                    WARDEN_RETURN_IF_ERROR(t.add_meter_usage({"a1", "p/native", 100, "7"}));
                    WARDEN_RETURN_IF_ERROR(t.add_meter_usage({"a1", "p/native", 100, "5"}));
                    WARDEN_RETURN_IF_ERROR(t.add_meter_usage({"a1", "p/native", 160, big}));
                    return t.add_meter_usage({"a2", "p/requests", 90, "1"});
                  })
                  .ok());
  // Names once each, amounts as integers while they fit in 64 bits.
  RawDb raw(path);
  EXPECT_EQ(raw.integer("SELECT count(*) FROM usage_names"), 4);  // 2 meters, 2 agents
  EXPECT_EQ(raw.column("SELECT typeof(amount) FROM meter_usage ORDER BY meter, bucket, agent"),
            (std::vector<std::string>{"integer", "text", "integer"}));
  EXPECT_EQ(raw.column("SELECT amount FROM meter_usage ORDER BY meter, bucket, agent"),
            (std::vector<std::string>{"12", big, "1"}));
}

}  // namespace
}  // namespace warden::store
