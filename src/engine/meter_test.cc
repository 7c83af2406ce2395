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

TEST(Meter, LowerAndRemoveKeepTheTotalExact) {
  Meter m(window("1h"));
  const auto a = m.add(kJan1Ms, Amount(100));
  const auto b = m.add(kJan1Ms, Amount(40));
  m.lower(a, Amount(60));
  EXPECT_EQ(m.total(kJan1Ms), Amount(100));
  m.remove(b);
  EXPECT_EQ(m.total(kJan1Ms), Amount(60));
  m.remove(b);  // twice is harmless
  EXPECT_EQ(m.total(kJan1Ms), Amount(60));
  EXPECT_EQ(m.entries(), 1u);
}

}  // namespace
}  // namespace warden::engine
