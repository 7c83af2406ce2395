#include "core/ids.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

namespace warden {
namespace {

TEST(IdGenerator, TenThousandIdsSortInCreationOrder) {
  SystemClock clock;
  IdGenerator gen(clock);
  std::vector<std::string> ids;
  for (int i = 0; i < 10'000; ++i) ids.push_back(gen.next());
  std::vector<std::string> sorted = ids;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, ids);
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size());
}

TEST(IdGenerator, MonotonicWithinOneMillisecondAndWhenClockGoesBack) {
  FakeClock clock(1'700'000'000'000);
  IdGenerator gen(clock);
  std::string prev = gen.next();
  for (int i = 0; i < 5000; ++i) {  // more than the 12-bit counter holds
    std::string id = gen.next();
    ASSERT_LT(prev, id);
    prev = id;
  }
  clock.set_ms(1'600'000'000'000);
  EXPECT_LT(prev, gen.next());
}

TEST(IdGenerator, HasVersionVariantAndTimestamp) {
  FakeClock clock(1'700'000'000'123);
  IdGenerator gen(clock);
  const std::string id = gen.next();
  ASSERT_TRUE(is_uuid(id));
  EXPECT_EQ(id[14], '7');
  EXPECT_NE(std::string("89ab").find(id[19]), std::string::npos);
  EXPECT_EQ(uuid_v7_ms(id), 1'700'000'000'123);
}

TEST(Ids, RejectsNonCanonical) {
  EXPECT_FALSE(is_uuid("0193A4F0-7C1E-7B3A-9D2E-5F1C0A9B8E7D"));
  EXPECT_FALSE(is_uuid("not-a-uuid"));
  EXPECT_FALSE(is_uuid("0193a4f07c1e7b3a9d2e5f1c0a9b8e7d0000"));
  EXPECT_TRUE(is_uuid("0193a4f0-7c1e-7b3a-9d2e-5f1c0a9b8e7d"));
}

}  // namespace
}  // namespace warden
