#include "automation/cron.h"

#include <date/date.h>
#include <gtest/gtest.h>

namespace warden::automation {
namespace {

using namespace date::literals;

// Unix ms of a UTC wall time.
std::int64_t utc_ms(date::year_month_day day, int hour, int minute) {
  const auto t = date::sys_days{day} + std::chrono::hours{hour} + std::chrono::minutes{minute};
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

Cron parse_ok(std::string_view expr, std::string_view zone = "UTC") {
  auto c = parse_cron(expr, zone);
  EXPECT_TRUE(c.ok()) << expr << ": " << c.status().message();
  return c.ok() ? *c : Cron{};
}

TEST(CronTest, FieldsListsRangesStepsAndNames) {
  const Cron c = parse_ok("*/15  9-17 * JAN,jul/2 mon-fri");
  EXPECT_EQ(c.expr, "*/15 9-17 * JAN,jul/2 mon-fri");
  EXPECT_TRUE(c.minutes[0] && c.minutes[15] && c.minutes[30] && c.minutes[45]);
  EXPECT_EQ(c.minutes.count(), 4u);
  EXPECT_EQ(c.hours.count(), 9u);
  EXPECT_TRUE(c.hours[9] && c.hours[17] && !c.hours[18]);
  // jan alone, jul/2 = jul, sep, nov
  EXPECT_EQ(c.months.count(), 4u);
  EXPECT_TRUE(c.months[1] && c.months[7] && c.months[9] && c.months[11] && !c.months[8]);
  EXPECT_EQ(c.days_of_week.count(), 5u);
  EXPECT_FALSE(c.days_of_week[0]);
  EXPECT_FALSE(c.dom_restricted);
  EXPECT_TRUE(c.dow_restricted);
  const Cron range_step = parse_ok("10-30/10 0 1 * 7");
  EXPECT_EQ(range_step.minutes.count(), 3u);
  EXPECT_TRUE(range_step.minutes[10] && range_step.minutes[20] && range_step.minutes[30]);
  EXPECT_TRUE(range_step.days_of_week[0]);  // 7 is Sunday
}

TEST(CronTest, RejectsBadExpressionsAndZones) {
  for (std::string_view bad :
       {"", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *",
        "* * * * 8", "5-1 * * * *", "*/0 * * * *", "*/61 * * * *", "a * * * *", "1,,2 * * * *",
        "* * * foo *", "0 0 30 2 *", "0 0 31 4,6 *", "1- * * * *"}) {
    EXPECT_FALSE(parse_cron(bad, "UTC").ok()) << bad;
  }
  // A day that exists in no chosen month is fine when the day of the week may match instead.
  EXPECT_TRUE(parse_cron("0 0 30 2 mon", "UTC").ok());
  const auto zone = parse_cron("* * * * *", "Mars/Olympus_Mons");
  ASSERT_FALSE(zone.ok());
  EXPECT_NE(zone.status().message().find("time zone"), std::string::npos);
  EXPECT_FALSE(parse_cron("* * * * *", "").ok());
}

TEST(CronTest, NextFireInUtc) {
  const std::int64_t start = utc_ms(2026_y / 11 / 30, 11, 32);  // a Monday
  EXPECT_EQ(next_fire_ms(parse_ok("*/15 9-17 * * mon-fri"), start),
            utc_ms(2026_y / 11 / 30, 11, 45));
  EXPECT_EQ(next_fire_ms(parse_ok("* * * * *"), start), utc_ms(2026_y / 11 / 30, 11, 33));
  // Strictly after: a fire time is not returned for itself.
  EXPECT_EQ(next_fire_ms(parse_ok("33 11 * * *"), utc_ms(2026_y / 11 / 30, 11, 33)),
            utc_ms(2026_y / 12 / 1, 11, 33));
  EXPECT_EQ(next_fire_ms(parse_ok("33 11 * * *"), utc_ms(2026_y / 11 / 30, 11, 33) - 1),
            utc_ms(2026_y / 11 / 30, 11, 33));
  EXPECT_EQ(next_fire_ms(parse_ok("0 12 1 jan,JUL *"), start), utc_ms(2027_y / 1 / 1, 12, 0));
  EXPECT_EQ(next_fire_ms(parse_ok("0 0 29 2 *"), start), utc_ms(2028_y / 2 / 29, 0, 0));
  EXPECT_EQ(next_fire_ms(parse_ok("0 0 * * 7"), start), utc_ms(2026_y / 12 / 6, 0, 0));
}

TEST(CronTest, DayOfMonthAndDayOfWeekCombineLikeVixieCron) {
  const std::int64_t start = utc_ms(2026_y / 11 / 30, 0, 0);
  // Both restricted: either matches (Friday Dec 4 comes before the 13th).
  EXPECT_EQ(next_fire_ms(parse_ok("0 0 13 * fri"), start), utc_ms(2026_y / 12 / 4, 0, 0));
  EXPECT_EQ(next_fire_ms(parse_ok("0 0 13 * *"), start), utc_ms(2026_y / 12 / 13, 0, 0));
  // A day-of-month starting with '*' is unrestricted: both must hold (odd days that are
  // Fridays: Dec 4 is even, Dec 11 is odd).
  EXPECT_EQ(next_fire_ms(parse_ok("0 0 */2 * fri"), start), utc_ms(2026_y / 12 / 11, 0, 0));
}

TEST(CronTest, ZoneWithoutDaylightSaving) {
  const Cron c = parse_ok("0 9 * * *", "Asia/Tokyo");
  EXPECT_EQ(next_fire_ms(c, utc_ms(2026_y / 11 / 30, 0, 0)), utc_ms(2026_y / 12 / 1, 0, 0));
  EXPECT_EQ(next_fire_ms(c, utc_ms(2026_y / 11 / 29, 23, 59)), utc_ms(2026_y / 11 / 30, 0, 0));
}

TEST(CronTest, UsSpringForwardSkipsTheMissingTime) {
  // New York, 2026-03-08: 02:00 EST jumps to 03:00 EDT, so 02:30 does not exist that day.
  const Cron c = parse_ok("30 2 * * *", "America/New_York");
  EXPECT_EQ(next_fire_ms(c, utc_ms(2026_y / 3 / 6, 12, 0)), utc_ms(2026_y / 3 / 7, 7, 30));
  EXPECT_EQ(next_fire_ms(c, utc_ms(2026_y / 3 / 7, 7, 30)), utc_ms(2026_y / 3 / 9, 6, 30));
  // 03:30 exists: EST before, EDT after.
  const Cron later = parse_ok("30 3 * * *", "America/New_York");
  EXPECT_EQ(next_fire_ms(later, utc_ms(2026_y / 3 / 7, 12, 0)), utc_ms(2026_y / 3 / 8, 7, 30));
}

TEST(CronTest, UsFallBackFiresARepeatedTimeOnce) {
  // New York, 2026-11-01: 02:00 EDT falls back to 01:00 EST, so 01:30 happens twice.
  const Cron c = parse_ok("30 1 * * *", "America/New_York");
  const std::int64_t first = next_fire_ms(c, utc_ms(2026_y / 10 / 31, 12, 0));
  EXPECT_EQ(first, utc_ms(2026_y / 11 / 1, 5, 30));                   // 01:30 EDT
  EXPECT_EQ(next_fire_ms(c, first), utc_ms(2026_y / 11 / 2, 6, 30));  // not 06:30Z (01:30 EST)
  // Hourly: 01:00 EDT fires, the repeated 01:00 EST does not, 02:00 EST does.
  const Cron hourly = parse_ok("0 * * * *", "America/New_York");
  std::int64_t t = utc_ms(2026_y / 11 / 1, 4, 30);
  t = next_fire_ms(hourly, t);
  EXPECT_EQ(t, utc_ms(2026_y / 11 / 1, 5, 0));
  t = next_fire_ms(hourly, t);
  EXPECT_EQ(t, utc_ms(2026_y / 11 / 1, 7, 0));
  t = next_fire_ms(hourly, t);
  EXPECT_EQ(t, utc_ms(2026_y / 11 / 1, 8, 0));
  // From inside the repeated hour (01:10 EST): its times already fired in EDT.
  EXPECT_EQ(
      next_fire_ms(parse_ok("*/15 * * * *", "America/New_York"), utc_ms(2026_y / 11 / 1, 6, 10)),
      utc_ms(2026_y / 11 / 1, 7, 0));
}

TEST(CronTest, EuChangesInBerlin) {
  // 2026-03-29: 02:00 CET jumps to 03:00 CEST; 2026-10-25: 03:00 CEST falls back to 02:00 CET.
  const Cron c = parse_ok("30 2 * * *", "Europe/Berlin");
  EXPECT_EQ(next_fire_ms(c, utc_ms(2026_y / 3 / 28, 12, 0)), utc_ms(2026_y / 3 / 30, 0, 30));
  const std::int64_t autumn = next_fire_ms(c, utc_ms(2026_y / 10 / 24, 12, 0));
  EXPECT_EQ(autumn, utc_ms(2026_y / 10 / 25, 0, 30));                   // 02:30 CEST
  EXPECT_EQ(next_fire_ms(c, autumn), utc_ms(2026_y / 10 / 26, 1, 30));  // next day, CET
  // Every 30 minutes through the spring gap: 01:30 CET, then 03:00 CEST.
  const Cron half = parse_ok("*/30 * * * *", "Europe/Berlin");
  const std::int64_t before_gap = utc_ms(2026_y / 3 / 29, 0, 30);            // 01:30 CET
  EXPECT_EQ(next_fire_ms(half, before_gap), utc_ms(2026_y / 3 / 29, 1, 0));  // 03:00 CEST
}

TEST(CronTest, FarFutureUsesTheZoneRule) {
  // Past 2037 the system's TZif tables list no transitions; the zone's rule still applies:
  // noon in New York is 16:00Z in July 2040 (EDT) and 17:00Z in January 2041 (EST).
  const Cron c = parse_ok("0 12 * * *", "America/New_York");
  EXPECT_EQ(next_fire_ms(c, utc_ms(2040_y / 7 / 1, 0, 0)), utc_ms(2040_y / 7 / 1, 16, 0));
  EXPECT_EQ(next_fire_ms(c, utc_ms(2041_y / 1 / 1, 0, 0)), utc_ms(2041_y / 1 / 1, 17, 0));
}

}  // namespace
}  // namespace warden::automation
