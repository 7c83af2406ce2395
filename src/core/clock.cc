// System clock and RFC 3339 formatting.
#include "core/clock.h"

#include <chrono>
#include <date/date.h>

namespace warden {

std::int64_t SystemClock::now_ms() const {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string format_rfc3339(std::int64_t unix_seconds) {
  using namespace std::chrono;
  const sys_seconds tp{seconds{unix_seconds}};
  return date::format("%Y-%m-%dT%H:%M:%SZ", tp);
}

}  // namespace warden
