// parse_window and window_text: the duration grammar shared by every windowed limit.
#include <gtest/gtest.h>

#include "policy/policy.h"

namespace warden::policy {
namespace {

TEST(ParseWindow, RollingUnits) {
  struct Case {
    std::string_view text;
    std::int64_t seconds;
    WindowUnit unit;
  };
  const Case cases[] = {
      {"30s", 30, WindowUnit::kSecond},  {"15m", 900, WindowUnit::kMinute},
      {"24h", 86400, WindowUnit::kHour}, {"7d", 604800, WindowUnit::kDay},
      {"1s", 1, WindowUnit::kSecond},    {"3660d", kWindowSecondsMax, WindowUnit::kDay}};
  for (const auto& c : cases) {
    auto w = parse_window(c.text);
    ASSERT_TRUE(w.ok()) << c.text << ": " << w.status().to_string();
    EXPECT_FALSE(w->calendar) << c.text;
    EXPECT_EQ(w->seconds, c.seconds) << c.text;
    EXPECT_EQ(w->unit, c.unit) << c.text;
  }
}

TEST(ParseWindow, CalendarNames) {
  auto day = parse_window("day");
  auto week = parse_window("week");
  auto month = parse_window("month");
  ASSERT_TRUE(day.ok() && week.ok() && month.ok());
  EXPECT_EQ(*day, (Window{true, 86400, WindowUnit::kCalendarDay}));
  EXPECT_EQ(*week, (Window{true, 604800, WindowUnit::kCalendarWeek}));
  EXPECT_EQ(*month, (Window{true, 2592000, WindowUnit::kCalendarMonth}));
}

TEST(ParseWindow, RejectsMalformedText) {
  for (std::string_view bad :
       {"0h", "-1h", "24x", "", "99999999999d", "3661d", "h", "1", "01h", "+1h", " 1h", "1h ", "1H",
        "1.5h", "1hh", "days", "Day", "MONTH", "99999999999999999999999s"}) {
    auto w = parse_window(bad);
    EXPECT_FALSE(w.ok()) << "accepted \"" << bad << "\"";
    if (!w.ok()) {
      EXPECT_EQ(w.status().code(), ErrorCode::VALIDATION_INVALID_VALUE) << bad;
    }
  }
}

TEST(ParseWindow, ErrorNamesTheText) {
  auto w = parse_window("24x");
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.status().message().find("\"24x\""), std::string::npos) << w.status().message();
}

TEST(WindowText, UsesTheLargestExactUnit) {
  EXPECT_EQ(window_text(*parse_window("1440m")), "1d");
  EXPECT_EQ(window_text(*parse_window("60s")), "1m");
  EXPECT_EQ(window_text(*parse_window("90s")), "90s");
  EXPECT_EQ(window_text(*parse_window("36h")), "36h");
  EXPECT_EQ(window_text(*parse_window("168h")), "7d");
  EXPECT_EQ(window_text(*parse_window("week")), "week");
  EXPECT_EQ(window_text(*parse_window("month")), "month");
  EXPECT_EQ(window_text(*parse_window("day")), "day");
}

TEST(WindowText, RoundTrips) {
  for (std::string_view text : {"1s", "59s", "1m", "1h", "1d", "3660d", "day", "week"}) {
    EXPECT_EQ(window_text(*parse_window(text)), text);
  }
}

}  // namespace
}  // namespace warden::policy
