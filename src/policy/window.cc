// Window durations: strict parsing of "24h"-style rolling lengths and calendar names, and their
// canonical text (so "1440m" and "1d" normalise, and hash, the same).
#include <array>
#include <string>

#include "policy/policy.h"

namespace warden::policy {
namespace {

constexpr std::int64_t kDaySeconds = 86400;

struct UnitInfo {
  char suffix;
  WindowUnit unit;
  std::int64_t seconds;
};
// Largest first, so window_text can pick the largest exact unit.
constexpr std::array<UnitInfo, 4> kRollingUnits = {{{'d', WindowUnit::kDay, kDaySeconds},
                                                    {'h', WindowUnit::kHour, 3600},
                                                    {'m', WindowUnit::kMinute, 60},
                                                    {'s', WindowUnit::kSecond, 1}}};

struct CalendarInfo {
  std::string_view name;
  WindowUnit unit;
  std::int64_t seconds;
};
constexpr std::array<CalendarInfo, 3> kCalendarUnits = {
    {{"day", WindowUnit::kCalendarDay, kDaySeconds},
     {"week", WindowUnit::kCalendarWeek, 7 * kDaySeconds},
     {"month", WindowUnit::kCalendarMonth, 30 * kDaySeconds}}};

Status invalid(std::string_view text, std::string_view why) {
  return Status(ErrorCode::VALIDATION_INVALID_VALUE,
                "invalid window \"" + std::string(text) + "\": " + std::string(why));
}

}  // namespace

Result<Window> parse_window(std::string_view text) {
  for (const auto& c : kCalendarUnits) {
    if (text == c.name) return Window{true, c.seconds, c.unit};
  }
  if (text.size() < 2) {
    return invalid(text, "expected a count and a unit (s, m, h, d) or day, week, month");
  }
  const char suffix = text.back();
  const UnitInfo* unit = nullptr;
  for (const auto& u : kRollingUnits) {
    if (u.suffix == suffix) unit = &u;
  }
  if (unit == nullptr) return invalid(text, "unit must be one of s, m, h, d");
  const std::string_view digits = text.substr(0, text.size() - 1);
  if (digits[0] == '0') return invalid(text, "count must be positive without a leading zero");
  std::int64_t count = 0;
  const std::int64_t count_max = kWindowSecondsMax / unit->seconds;
  for (char ch : digits) {
    if (ch < '0' || ch > '9') return invalid(text, "count must be decimal digits");
    count = count * 10 + (ch - '0');
    // Checked per digit so that no intermediate value can overflow.
    if (count > count_max) return invalid(text, "longer than the maximum of 3660 days");
  }
  return Window{false, count * unit->seconds, unit->unit};
}

std::string window_text(const Window& window) {
  if (window.calendar) {
    for (const auto& c : kCalendarUnits) {
      if (c.unit == window.unit) return std::string(c.name);
    }
  }
  for (const auto& u : kRollingUnits) {
    if (window.seconds % u.seconds == 0) {
      return std::to_string(window.seconds / u.seconds) + u.suffix;
    }
  }
  return std::to_string(window.seconds) + "s";  // unreachable: every length divides by 1
}

}  // namespace warden::policy
