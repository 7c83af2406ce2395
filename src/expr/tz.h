// UTC offsets of IANA time zones, shared by CEL's timestamp accessors and the engine's
// TIME_RESTRICTION so that both see the same local time.
#pragma once

#include <date/tz.h>

#include <chrono>

namespace warden::expr {

// The UTC offset of `zone` at instant `t`. date/tz built with USE_OS_TZDB reads only the
// transition table of the system's TZif files and ignores their footer, the POSIX TZ rule
// ("EST5EDT,M3.2.0,M11.1.0") that governs every instant after the last listed transition.
// Debian's files list transitions up to 2037 only, so without the footer every zone would
// keep its 2037 winter offset forever; this evaluates the footer past the last transition.
std::chrono::seconds zone_offset(const date::time_zone& zone, date::sys_seconds t);

}  // namespace warden::expr
