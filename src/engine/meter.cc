// Window arithmetic and entry bookkeeping for meters.
#include "engine/meter.h"

#include <cassert>
#include <chrono>
#include <date/date.h>

#include "policy/policy.h"

namespace warden::engine {

Meter::Meter(const WindowLimit& def)
    : calendar_(def.calendar), calendar_unit_(def.calendar_unit), window_ms_(def.window_ms) {}

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
  const std::int64_t start = window_start_ms(now_ms);
  while (!entries_.empty() && entries_.begin()->first.first < start) {
    total_ = *total_.checked_sub(entries_.begin()->second);
    entries_.erase(entries_.begin());
  }
  return total_;
}

EntryKey Meter::add(std::int64_t ts_ms, const Amount& amount) {
  const EntryKey key{ts_ms, next_seq_++};
  auto sum = total_.checked_add(amount);
  assert(sum.ok() && "caller checks the limit before adding");
  total_ = sum.ok() ? *sum : Amount::max();
  entries_.emplace(key, amount);
  return key;
}

void Meter::lower(const EntryKey& key, const Amount& amount) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  assert(amount <= it->second);
  total_ = *total_.checked_sub(*it->second.checked_sub(amount));
  it->second = amount;
}

void Meter::remove(const EntryKey& key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  total_ = *total_.checked_sub(it->second);
  entries_.erase(it);
}

}  // namespace warden::engine
