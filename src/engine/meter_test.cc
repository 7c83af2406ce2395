#include "engine/meter.h"

#include <gtest/gtest.h>

#include "policy/policy.h"

namespace warden::engine {
namespace {

constexpr std::int64_t kHourMs = 3'600'000;
constexpr std::int64_t kDayMs = 24 * kHourMs;
// 2026-01-01T00:00:00Z, a Thursday.
constexpr std::int64_t kJan1Ms = 1'767'225'600'000;

WindowLimit window(std::string_view text) {
  auto w = policy::parse_window(text);
  EXPECT_TRUE(w.ok()) << text;
  WindowLimit l;
  l.calendar = w->calendar;
  l.window_ms = w->seconds * 1000;
  l.calendar_unit = static_cast<int>(w->unit);
  return l;
}

TEST(Meter, RollingWindowDropsEntriesOlderThanItsLength) {
  Meter m(window("24h"));
  m.add(kJan1Ms, Amount(100));
  m.add(kJan1Ms + 10 * kHourMs, Amount(50));
  EXPECT_EQ(m.total(kJan1Ms + 23 * kHourMs), Amount(150));
  EXPECT_EQ(m.total(kJan1Ms + kDayMs - 1), Amount(150));
  EXPECT_EQ(m.total(kJan1Ms + kDayMs), Amount(50));  // the first entry is exactly 24h old
  EXPECT_EQ(m.total(kJan1Ms + 10 * kHourMs + kDayMs), Amount(0));
}

TEST(Meter, CalendarDayResetsAtUtcMidnight) {
  Meter m(window("day"));
  m.add(kJan1Ms + 23 * kHourMs, Amount(7));
  EXPECT_EQ(m.total(kJan1Ms + 23 * kHourMs + 59 * 60'000), Amount(7));
  EXPECT_EQ(m.total(kJan1Ms + kDayMs), Amount(0));
}

TEST(Meter, CalendarMonthAndWeekBoundaries) {
  Meter month(window("month"));
  month.add(kJan1Ms + 30 * kDayMs, Amount(5));  // Jan 31
  EXPECT_EQ(month.total(kJan1Ms + 30 * kDayMs + kHourMs), Amount(5));
  EXPECT_EQ(month.total(kJan1Ms + 31 * kDayMs), Amount(0));  // Feb 1
  Meter week(window("week"));
  EXPECT_EQ(week.window_start_ms(kJan1Ms), kJan1Ms - 3 * kDayMs);  // Monday Dec 29
  week.add(kJan1Ms, Amount(3));
  EXPECT_EQ(week.total(kJan1Ms + 3 * kDayMs + kHourMs), Amount(3));   // Sunday Jan 4
  EXPECT_EQ(week.total(kJan1Ms + 4 * kDayMs), Amount(0));             // Monday Jan 5
}

TEST(Meter, SubtractTakesBackWhatWasAddedAndIgnoresDroppedBuckets) {
  Meter m(window("1h"));
  m.add(kJan1Ms, Amount(100));
  m.add(kJan1Ms + 400, Amount(40));
  m.subtract(kJan1Ms + 400, Amount(40));
  EXPECT_EQ(m.total(kJan1Ms), Amount(100));
  EXPECT_EQ(m.buckets(), 1u);
  m.subtract(kJan1Ms, Amount(100));
  EXPECT_EQ(m.total(kJan1Ms), Amount(0));
  EXPECT_EQ(m.buckets(), 0u);
  m.add(kJan1Ms, Amount(5));
  EXPECT_EQ(m.total(kJan1Ms + 2 * kHourMs), Amount(0));  // dropped
  m.subtract(kJan1Ms, Amount(5));                      // harmless
  EXPECT_EQ(m.total(kJan1Ms + 2 * kHourMs), Amount(0));
}

TEST(Meter, ResolutionGrowsWithTheWindowAndAChargeLeavesAtTheEndOfItsBucket) {
  EXPECT_EQ(meter_resolution_ms(window("24h")), 1);
  EXPECT_EQ(meter_resolution_ms(window("30d")), 60'000);
  EXPECT_EQ(meter_resolution_ms(window("365d")), kHourMs);
  // 365 days at one-hour buckets: a charge at 10:20 still counts until 11:00 a year later.
  Meter year(window("365d"));
  year.add(kJan1Ms + 10 * kHourMs + 20 * 60'000, Amount(9));
  const std::int64_t year_later = kJan1Ms + 365 * kDayMs;
  EXPECT_EQ(year.total(year_later + 10 * kHourMs + 30 * 60'000), Amount(9));
  EXPECT_EQ(year.total(year_later + 11 * kHourMs), Amount(0));
  EXPECT_EQ(year.buckets(), 0u);
}

TEST(Meter, ASumPastTheMaximumSaturatesInsteadOfWrapping) {
  Meter m(window("1h"));
  m.add(kJan1Ms, Amount::max());
  m.add(kJan1Ms + 1000, Amount(3));
  EXPECT_EQ(m.total(kJan1Ms + 1000), Amount::max());
}

}  // namespace
}  // namespace warden::engine
