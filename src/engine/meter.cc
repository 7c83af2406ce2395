// Window arithmetic and bucket bookkeeping for meters.
#include "engine/meter.h"

#include <cassert>
#include <chrono>
#include <date/date.h>

#include "policy/policy.h"

namespace warden::engine {

namespace {
constexpr std::int64_t kMinuteMs = 60'000;
constexpr std::int64_t kHourMs = 60 * kMinuteMs;
constexpr std::int64_t kDayMs = 24 * kHourMs;
constexpr std::int64_t kExactUpToMs = kDayMs;
constexpr std::int64_t kMinuteBucketsUpToMs = 60 * kDayMs;

std::int64_t floor_div(std::int64_t a, std::int64_t b) { return a / b - ((a % b != 0) && (a < 0)); }
}  // namespace

std::int64_t meter_resolution_ms(const WindowLimit& def) {
  if (def.window_ms <= kExactUpToMs) return 1;
  if (def.window_ms <= kMinuteBucketsUpToMs) return kMinuteMs;
  return kHourMs;
}

Meter::Meter(const WindowLimit& def) : Meter(def, def.usage) {}

Meter::Meter(const WindowLimit& def, std::string usage)
    : usage_(std::move(usage)),
      calendar_(def.calendar),
      calendar_unit_(def.calendar_unit),
      window_ms_(def.window_ms),
      resolution_ms_(meter_resolution_ms(def)) {}

std::int64_t Meter::bucket_of(std::int64_t ts_ms) const {
  return floor_div(ts_ms, resolution_ms_) * resolution_ms_;
}

std::int64_t Meter::window_start_ms(std::int64_t now_ms) const {
  using namespace std::chrono;
  if (!calendar_) return now_ms - window_ms_ + 1;
  const date::sys_time<milliseconds> now{milliseconds{now_ms}};
  const date::sys_days today = date::floor<date::days>(now);
  date::sys_days start = today;
  switch (static_cast<policy::WindowUnit>(calendar_unit_)) {
    case policy::WindowUnit::kCalendarWeek: {
      // ISO weeks start on Monday.
      const date::weekday wd{today};
      start = today - date::days{(wd.c_encoding() + 6) % 7};
      break;
    }
    case policy::WindowUnit::kCalendarMonth: {
      const date::year_month_day ymd{today};
      start = date::sys_days{ymd.year() / ymd.month() / date::day{1}};
      break;
    }
    default:
      break;
  }
  return duration_cast<milliseconds>(start.time_since_epoch()).count();
}

const Amount& Meter::total(std::int64_t now_ms) {
  // A bucket counts while its last millisecond is inside the window.
  const std::int64_t first_counted = first_counted_bucket(now_ms);
  while (!buckets_.empty() && buckets_.begin()->first < first_counted) {
    total_ = *total_.checked_sub(buckets_.begin()->second);
    buckets_.erase(buckets_.begin());
  }
  return total_;
}

void Meter::add(std::int64_t ts_ms, const Amount& amount) {
  if (amount.is_zero()) return;
  Amount& bucket = buckets_[bucket_of(ts_ms)];
  auto sum = total_.checked_add(amount);
  if (!sum.ok()) {
    // Saturate both so that total_ stays the sum of the buckets as far as it can be counted.
    const Amount room = *Amount::max().checked_sub(total_);
    total_ = Amount::max();
    bucket = *bucket.checked_add(room);
    return;
  }
  total_ = *sum;
  bucket = *bucket.checked_add(amount);
}

void Meter::subtract(std::int64_t ts_ms, const Amount& amount) {
  auto it = buckets_.find(bucket_of(ts_ms));
  if (it == buckets_.end()) return;  // already out of the window
  const Amount taken = amount <= it->second ? amount : it->second;
  it->second = *it->second.checked_sub(taken);
  total_ = *total_.checked_sub(taken);
  if (it->second.is_zero()) buckets_.erase(it);
}

}  // namespace warden::engine
