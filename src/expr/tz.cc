#include "expr/tz.h"

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace warden::expr {
namespace {

using std::chrono::seconds;

// One end of a daylight saving period: a day rule and the local time of day of the change.
struct DayRule {
  char kind = 'M';  // 'J' Julian day 1..365 without Feb 29, 'N' zero-based day, 'M' m.w.d
  int a = 0, b = 0, c = 0;
  int time = 2 * 3600;  // seconds after local midnight; may be negative or past 24h (RFC 8536)
};

// A POSIX TZ string as found in a TZif footer (RFC 8536 section 3.3).
struct PosixRule {
  int std_offset = 0;  // seconds east of UTC (POSIX writes west as positive)
  bool has_dst = false;
  int dst_offset = 0;
  DayRule start, end;
};

class Reader {
 public:
  explicit Reader(std::string_view s) : s_(s) {}
  bool done() const { return p_ == s_.size(); }
  bool eat(char c) {
    if (p_ < s_.size() && s_[p_] == c) return ++p_, true;
    return false;
  }
  bool peek_digit_or_sign() const {
    return p_ < s_.size() &&
           (std::isdigit(static_cast<unsigned char>(s_[p_])) || s_[p_] == '+' || s_[p_] == '-');
  }
  bool name() {
    if (eat('<')) {
      std::size_t close = s_.find('>', p_);
      if (close == std::string_view::npos) return false;
      p_ = close + 1;
      return true;
    }
    std::size_t start = p_;
    while (p_ < s_.size() && std::isalpha(static_cast<unsigned char>(s_[p_]))) ++p_;
    return p_ - start >= 3;
  }
  bool number(int& out) {
    std::size_t start = p_;
    out = 0;
    while (p_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[p_])) && p_ - start < 4)
      out = out * 10 + (s_[p_++] - '0');
    return p_ > start;
  }
  // [+-]hh[:mm[:ss]] in seconds.
  bool hms(int& out) {
    int sign = 1;
    if (eat('-'))
      sign = -1;
    else
      eat('+');
    int h = 0, m = 0, sec = 0;
    if (!number(h)) return false;
    if (eat(':') && !number(m)) return false;
    if (eat(':') && !number(sec)) return false;
    out = sign * (h * 3600 + m * 60 + sec);
    return true;
  }
  bool day_rule(DayRule& r) {
    if (eat('M')) {
      r.kind = 'M';
      if (!number(r.a) || !eat('.') || !number(r.b) || !eat('.') || !number(r.c)) return false;
      if (r.a < 1 || r.a > 12 || r.b < 1 || r.b > 5 || r.c > 6) return false;
    } else if (eat('J')) {
      r.kind = 'J';
      if (!number(r.a) || r.a < 1 || r.a > 365) return false;
    } else {
      r.kind = 'N';
      if (!number(r.a) || r.a > 365) return false;
    }
    if (eat('/') && !hms(r.time)) return false;
    return true;
  }

 private:
  std::string_view s_;
  std::size_t p_ = 0;
};

std::optional<PosixRule> parse_posix(std::string_view s) {
  Reader r(s);
  PosixRule rule;
  int off = 0;
  if (!r.name() || !r.hms(off)) return std::nullopt;
  rule.std_offset = -off;
  if (r.done()) return rule;
  if (!r.name()) return std::nullopt;
  rule.has_dst = true;
  rule.dst_offset = rule.std_offset + 3600;
  if (r.peek_digit_or_sign()) {
    if (!r.hms(off)) return std::nullopt;
    rule.dst_offset = -off;
  }
  // Without dates POSIX leaves the rule to the implementation; TZif footers always give them.
  if (!r.eat(',') || !r.day_rule(rule.start) || !r.eat(',') || !r.day_rule(rule.end) || !r.done())
    return std::nullopt;
  return rule;
}

// Local midnight (as a count of days since the epoch) of the day `r` names in year `y`.
date::sys_days rule_day(const DayRule& r, int y) {
  const date::year year{y};
  const date::sys_days jan1{year / date::January / 1};
  switch (r.kind) {
    case 'J':  // Feb 29 is never counted, so days from March on shift by one in leap years
      return jan1 + date::days{r.a - 1 + (year.is_leap() && r.a >= 60 ? 1 : 0)};
    case 'N':
      return jan1 + date::days{r.a};
    default: {
      const date::month m{static_cast<unsigned>(r.a)};
      const date::weekday wd{static_cast<unsigned>(r.c)};
      if (r.b == 5) return date::sys_days{year / m / wd[date::last]};
      return date::sys_days{year / m / wd[static_cast<unsigned>(r.b)]};
    }
  }
}

seconds posix_offset(const PosixRule& rule, date::sys_seconds t) {
  if (!rule.has_dst) return seconds{rule.std_offset};
  const auto local_std = t + seconds{rule.std_offset};
  const int y = static_cast<int>(date::year_month_day{date::floor<date::days>(local_std)}.year());
  // The start is written in standard local time, the end in daylight saving local time.
  const date::sys_seconds start =
      rule_day(rule.start, y) + seconds{rule.start.time - rule.std_offset};
  const date::sys_seconds end = rule_day(rule.end, y) + seconds{rule.end.time - rule.dst_offset};
  const bool dst = start < end ? (start <= t && t < end) : !(end <= t && t < start);
  return seconds{dst ? rule.dst_offset : rule.std_offset};
}

// The footer of the zone's TZif file: the text between the last two newlines of a version 2+
// file (RFC 8536 section 3.3). The transition data before it is binary but the footer holds no
// newline, so the last line is the footer.
std::optional<PosixRule> load_footer(const std::string& name) {
  const char* dir = std::getenv("TZDIR");
  std::ifstream in(std::string(dir && *dir ? dir : "/usr/share/zoneinfo") + "/" + name,
                   std::ios::binary);
  if (!in) return std::nullopt;
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (data.size() < 6 || data.compare(0, 4, "TZif") != 0 || data[4] < '2' || data.back() != '\n')
    return std::nullopt;
  std::size_t nl = data.rfind('\n', data.size() - 2);
  if (nl == std::string::npos) return std::nullopt;
  return parse_posix(std::string_view(data).substr(nl + 1, data.size() - nl - 2));
}

const std::optional<PosixRule>& footer_of(const date::time_zone& zone) {
  static std::mutex mu;
  static std::unordered_map<const date::time_zone*, std::optional<PosixRule>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(&zone);
  if (it == cache.end()) it = cache.emplace(&zone, load_footer(std::string(zone.name()))).first;
  return it->second;  // entries are never erased, so the reference outlives the lock
}

}  // namespace

seconds zone_offset(const date::time_zone& zone, date::sys_seconds t) {
  const date::sys_info info = zone.get_info(t);
  // date/tz ends the last listed period at a far-future sentinel; only then does the footer
  // apply. Year 10000 is beyond every real transition table and CEL's timestamp range.
  static const date::sys_seconds kFarFuture{date::sys_days{date::year{10000} / 1 / 1}};
  if (info.end < kFarFuture) return info.offset;
  const auto& footer = footer_of(zone);
  if (!footer) return info.offset;
  return posix_offset(*footer, t);
}

}  // namespace warden::expr
