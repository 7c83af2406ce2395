// System clock and RFC 3339 formatting.
#include "core/clock.h"

#include <chrono>
#include <date/date.h>

namespace warden {

std::int64_t SystemClock::now_ms() const {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

namespace {

// Writes v as exactly `width` decimal digits ending just before `end`.
void put_digits(char* end, std::int64_t v, int width) {
  for (int i = 0; i < width; ++i) {
    *--end = static_cast<char>('0' + v % 10);
    v /= 10;
  }
}

}  // namespace

// On every response path (created_at, updated_at, ...): plain digit arithmetic instead of a
// formatting stream. Years outside 0000-9999 fall back to date::format.
std::string format_rfc3339(std::int64_t unix_seconds) {
  using namespace std::chrono;
  const sys_seconds tp{seconds{unix_seconds}};
  const auto day = floor<days>(tp);
  const date::year_month_day ymd{day};
  const int year = static_cast<int>(ymd.year());
  if (year < 0 || year > 9999) return date::format("%Y-%m-%dT%H:%M:%SZ", tp);
  const std::int64_t secs = (tp - day).count();
  std::string out = "0000-00-00T00:00:00Z";
  char* p = out.data();
  put_digits(p + 4, year, 4);
  put_digits(p + 7, static_cast<unsigned>(ymd.month()), 2);
  put_digits(p + 10, static_cast<unsigned>(ymd.day()), 2);
  put_digits(p + 13, secs / 3600, 2);
  put_digits(p + 16, secs / 60 % 60, 2);
  put_digits(p + 19, secs % 60, 2);
  return out;
}

}  // namespace warden
