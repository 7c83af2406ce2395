// RFC 3339 formatting against known instants, including leap days and the fallback range.
#include <gtest/gtest.h>

#include <date/date.h>

#include "core/clock.h"

namespace warden {
namespace {

TEST(FormatRfc3339, KnownInstants) {
  EXPECT_EQ(format_rfc3339(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(format_rfc3339(951'782'400), "2000-02-29T00:00:00Z");     // leap day of a /400 year
  EXPECT_EQ(format_rfc3339(1'709'251'199), "2024-02-29T23:59:59Z");   // last second of a leap day
  EXPECT_EQ(format_rfc3339(1'798'761'599), "2026-12-31T23:59:59Z");
  EXPECT_EQ(format_rfc3339(-1), "1969-12-31T23:59:59Z");              // before the epoch
  EXPECT_EQ(format_rfc3339(253'402'300'799), "9999-12-31T23:59:59Z");  // last four-digit year
}

TEST(FormatRfc3339, OutsideFourDigitYearsStillFormats) {
  EXPECT_EQ(format_rfc3339(253'402'300'800), "10000-01-01T00:00:00Z");
}

TEST(FormatRfc3339, AgreesWithDateFormatOverALeapCycle) {
  // Steps of a day and 37 s walk every date of 2024-2027 at drifting times of day.
  for (std::int64_t t = 1'704'067'200; t < 1'704'067'200 + 4 * 366 * 86'400; t += 86'400 + 37) {
    const std::chrono::sys_seconds tp{std::chrono::seconds{t}};
    ASSERT_EQ(format_rfc3339(t), date::format("%Y-%m-%dT%H:%M:%SZ", tp)) << t;
  }
}

}  // namespace
}  // namespace warden
