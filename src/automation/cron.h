// Schedules (docs/automation.md, "Schedules"): 5-field cron expressions (minute hour
// day-of-month month day-of-week) evaluated in an IANA time zone.
//   fields: '*', 'n', 'a-b', lists 'a,b', steps '*/n' and 'a-b/n', 'n/s' (n to the end by s),
//   month names jan-dec, day names sun-sat (0 and 7 are Sunday), case-insensitive.
//   Day-of-month and day-of-week: when both are restricted (neither starts with '*'), a day
//   matches if either matches (Vixie cron); otherwise the restricted one decides.
//   Daylight saving: a local time that does not exist (spring forward) does not fire that day;
//   a local time that occurs twice (fall back) fires once, at its first occurrence.
#pragma once

#include <bitset>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "core/status.h"

namespace date {
class time_zone;
}

namespace warden::automation {

struct Cron {
  std::bitset<60> minutes;
  std::bitset<24> hours;
  std::bitset<32> days_of_month;  // 1..31
  std::bitset<13> months;         // 1..12
  std::bitset<7> days_of_week;    // 0 = Sunday
  bool dom_restricted = false;
  bool dow_restricted = false;
  std::string expr;       // as given, whitespace collapsed to single spaces
  std::string time_zone;  // IANA name
  const date::time_zone* zone = nullptr;
};

// CRON_INVALID / TIME_ZONE_UNKNOWN reasons as VALIDATION_INVALID_VALUE with a message. A
// day-of-month/month combination that never exists ("0 0 30 2 *") is refused.
Result<Cron> parse_cron(std::string_view expr, std::string_view time_zone);

// The first fire time strictly after `after_ms` (Unix ms, a whole minute), or kCronNever when
// none exists within kCronSearchDays (cannot happen for a schedule parse_cron accepted).
inline constexpr std::int64_t kCronNever = std::numeric_limits<std::int64_t>::max();
inline constexpr int kCronSearchDays = 366 * 9;  // Feb 29 can be 8 years apart (2096 -> 2104)
std::int64_t next_fire_ms(const Cron& c, std::int64_t after_ms);

}  // namespace warden::automation
