// Names the calling thread (as `top -H`, `perf` and /proc/PID/task/*/comm show it).
#pragma once

#include <string_view>

namespace warden {

// Linux keeps at most 15 bytes; longer names are cut.
void name_this_thread(std::string_view name);

}  // namespace warden
