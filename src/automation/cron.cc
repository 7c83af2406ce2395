// Cron schedules: parsing of the 5-field grammar and the next fire time in an IANA zone.
#include "automation/cron.h"

#include <date/date.h>
#include <date/tz.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <optional>
#include <vector>

#include "expr/tz.h"

namespace warden::automation {
namespace {

constexpr std::int64_t kDaySeconds = 86400;
constexpr std::int64_t kMinuteSeconds = 60;

constexpr std::array<std::string_view, 12> kMonthNames = {"jan", "feb", "mar", "apr", "may", "jun",
                                                          "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr std::array<std::string_view, 7> kDayNames = {"sun", "mon", "tue", "wed",
                                                       "thu", "fri", "sat"};
constexpr std::array<int, 13> kMonthDaysMax = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

struct FieldSpec {
  std::string_view name;
  int lo;
  int hi;
  const std::string_view* names;  // names[i] is the value lo + i (or nullptr)
  std::size_t names_count;
  int names_base;
};

Status invalid(std::string_view expr, std::string_view why) {
  return Status(ErrorCode::VALIDATION_INVALID_VALUE,
                "invalid cron \"" + std::string(expr.substr(0, 100)) + "\": " + std::string(why));
}

Result<int> parse_value(std::string_view expr, const FieldSpec& f, std::string_view text) {
  if (text.empty()) return invalid(expr, std::string(f.name) + ": empty value");
  if (f.names != nullptr && std::isalpha(static_cast<unsigned char>(text[0]))) {
    std::string lower;
    for (char c : text)
      lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    for (std::size_t i = 0; i < f.names_count; ++i) {
      if (f.names[i] == lower) return static_cast<int>(i) + f.names_base;
    }
    return invalid(expr, std::string(f.name) + ": unknown name \"" + std::string(text) + "\"");
  }
  int v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return invalid(expr, std::string(f.name) + ": \"" + std::string(text) + "\" is not a number");
  }
  if (v < f.lo || v > f.hi) {
    return invalid(expr, std::string(f.name) + ": " + std::to_string(v) + " outside " +
                             std::to_string(f.lo) + "-" + std::to_string(f.hi));
  }
  return v;
}

// Sets bits[v] for every value the field names. Returns whether the field is restricted (does
// not start with '*'), which decides how day-of-month and day-of-week combine.
Result<bool> parse_field(std::string_view expr, const FieldSpec& f, std::string_view text,
                         std::vector<bool>& bits) {
  bits.assign(static_cast<std::size_t>(f.hi) + 1, false);
  std::size_t start = 0;
  while (true) {
    const auto comma = text.find(',', start);
    const std::string_view item =
        text.substr(start, comma == std::string_view::npos ? text.npos : comma - start);
    if (item.empty()) return invalid(expr, std::string(f.name) + ": empty list element");
    std::string_view base = item;
    int step = 1;
    const auto slash = item.find('/');
    if (slash != std::string_view::npos) {
      base = item.substr(0, slash);
      const std::string_view step_text = item.substr(slash + 1);
      const auto [end, ec] =
          std::from_chars(step_text.data(), step_text.data() + step_text.size(), step);
      if (step_text.empty() || ec != std::errc() || end != step_text.data() + step_text.size() ||
          step < 1 || step > f.hi) {
        return invalid(expr, std::string(f.name) + ": bad step \"" + std::string(step_text) + "\"");
      }
    }
    int lo = f.lo;
    int hi = f.hi;
    if (base != "*") {
      const auto dash = base.find('-');
      if (dash == std::string_view::npos) {
        WARDEN_ASSIGN_OR_RETURN(lo, parse_value(expr, f, base));
        // "n/s" runs from n to the end of the range; a lone "n" is just n.
        hi = slash == std::string_view::npos ? lo : f.hi;
      } else {
        WARDEN_ASSIGN_OR_RETURN(lo, parse_value(expr, f, base.substr(0, dash)));
        WARDEN_ASSIGN_OR_RETURN(hi, parse_value(expr, f, base.substr(dash + 1)));
        if (lo > hi) {
          return invalid(
              expr, std::string(f.name) + ": range \"" + std::string(base) + "\" runs backwards");
        }
      }
    }
    for (int v = lo; v <= hi; v += step) bits[static_cast<std::size_t>(v)] = true;
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return text[0] != '*';
}

template <std::size_t N>
void copy_bits(const std::vector<bool>& from, std::bitset<N>& to) {
  for (std::size_t i = 0; i < N && i < from.size(); ++i) to[i] = from[i];
}

bool day_matches(const Cron& c, date::sys_days day) {
  const date::year_month_day ymd{day};
  if (!c.months[static_cast<unsigned>(ymd.month())]) return false;
  const bool dom = c.days_of_month[static_cast<unsigned>(ymd.day())];
  const bool dow = c.days_of_week[date::weekday{day}.c_encoding()];
  if (c.dom_restricted && c.dow_restricted) return dom || dow;
  return dom && dow;
}

std::int64_t offset_s(const date::time_zone& zone, std::int64_t t) {
  return expr::zone_offset(zone, date::sys_seconds{std::chrono::seconds{t}}).count();
}

// The first instant whose local wall time is `local` (seconds of a local clock read as UTC),
// or nullopt when a transition skips it.
std::optional<std::int64_t> first_instant(const date::time_zone& zone, std::int64_t local) {
  // The offsets a day before and after bracket any transition near `local`.
  const std::int64_t before = offset_s(zone, local - kDaySeconds);
  const std::int64_t after = offset_s(zone, local + kDaySeconds);
  std::optional<std::int64_t> best;
  for (std::int64_t off : {before, after}) {
    const std::int64_t u = local - off;
    if (offset_s(zone, u) == off && (!best || u < *best)) best = u;
  }
  return best;
}

}  // namespace

Result<Cron> parse_cron(std::string_view expr, std::string_view time_zone) {
  if (expr.size() > 256) return invalid(expr, "longer than 256 bytes");
  std::vector<std::string_view> fields;
  std::size_t i = 0;
  while (i < expr.size()) {
    while (i < expr.size() && (expr[i] == ' ' || expr[i] == '\t')) ++i;
    if (i == expr.size()) break;
    std::size_t j = i;
    while (j < expr.size() && expr[j] != ' ' && expr[j] != '\t') ++j;
    fields.push_back(expr.substr(i, j - i));
    i = j;
  }
  if (fields.size() != 5) {
    return invalid(expr, "expected 5 fields (minute hour day-of-month month day-of-week)");
  }
  const std::array<FieldSpec, 5> specs = {{
      {"minute", 0, 59, nullptr, 0, 0},
      {"hour", 0, 23, nullptr, 0, 0},
      {"day-of-month", 1, 31, nullptr, 0, 0},
      {"month", 1, 12, kMonthNames.data(), kMonthNames.size(), 1},
      {"day-of-week", 0, 7, kDayNames.data(), kDayNames.size(), 0},
  }};
  Cron c;
  std::vector<bool> bits;
  WARDEN_RETURN_IF_ERROR(parse_field(expr, specs[0], fields[0], bits).status());
  copy_bits(bits, c.minutes);
  WARDEN_RETURN_IF_ERROR(parse_field(expr, specs[1], fields[1], bits).status());
  copy_bits(bits, c.hours);
  WARDEN_ASSIGN_OR_RETURN(c.dom_restricted, parse_field(expr, specs[2], fields[2], bits));
  copy_bits(bits, c.days_of_month);
  WARDEN_RETURN_IF_ERROR(parse_field(expr, specs[3], fields[3], bits).status());
  copy_bits(bits, c.months);
  WARDEN_ASSIGN_OR_RETURN(c.dow_restricted, parse_field(expr, specs[4], fields[4], bits));
  copy_bits(bits, c.days_of_week);
  if (bits[7]) c.days_of_week[0] = true;  // 7 is Sunday too

  if (!(c.dom_restricted && c.dow_restricted)) {
    // Day-of-week alone always matches some day; day-of-month must exist in a chosen month.
    bool exists = false;
    for (int m = 1; m <= 12 && !exists; ++m) {
      if (!c.months[m]) continue;
      for (int d = 1; d <= kMonthDaysMax[m] && !exists; ++d) exists = c.days_of_month[d];
    }
    if (!exists) return invalid(expr, "no month has the chosen day of the month");
  }

  try {
    c.zone = date::locate_zone(std::string(time_zone));
  } catch (const std::exception&) {  // date/tz reports an unknown zone by throwing
    c.zone = nullptr;
  }
  if (c.zone == nullptr || time_zone.empty()) {
    return Status(ErrorCode::VALIDATION_INVALID_VALUE,
                  "unknown time zone \"" + std::string(time_zone.substr(0, 64)) + "\"");
  }
  for (std::size_t k = 0; k < fields.size(); ++k) {
    if (k != 0) c.expr += ' ';
    c.expr += std::string(fields[k]);
  }
  c.time_zone = std::string(time_zone);
  return c;
}

std::int64_t next_fire_ms(const Cron& c, std::int64_t after_ms) {
  if (c.zone == nullptr) return kCronNever;
  const date::time_zone& zone = *c.zone;
  // Floor division: fire times are whole minutes strictly after `after_ms`.
  const std::int64_t after_s = after_ms >= 0 ? after_ms / 1000 : -((-after_ms + 999) / 1000);
  // A fire instant u > after_s (within a day, where the answer is when the schedule is dense)
  // reads as local time u + offset(u) >= after_s + the smallest offset around it: earlier local
  // times need not be tried.
  const std::int64_t offset_min =
      std::min({offset_s(zone, after_s - kDaySeconds), offset_s(zone, after_s),
                offset_s(zone, after_s + kDaySeconds)});
  const std::int64_t local_floor = after_s + offset_min;
  std::int64_t day = local_floor >= 0 ? local_floor / kDaySeconds
                                      : -((-local_floor + kDaySeconds - 1) / kDaySeconds);
  for (int n = 0; n <= kCronSearchDays; ++n, ++day) {
    const date::sys_days d{date::days{day}};
    if (!day_matches(c, d)) continue;
    for (int h = 0; h < 24; ++h) {
      if (!c.hours[h]) continue;
      const std::int64_t hour_local = day * kDaySeconds + h * 3600;
      if (hour_local + 3600 <= local_floor) continue;
      for (int m = 0; m < 60; ++m) {
        if (!c.minutes[m]) continue;
        const std::int64_t local = hour_local + m * kMinuteSeconds;
        if (local < local_floor) continue;
        const std::optional<std::int64_t> u = first_instant(zone, local);
        if (u && *u * 1000 > after_ms) return *u * 1000;
      }
    }
  }
  return kCronNever;
}

}  // namespace warden::automation
