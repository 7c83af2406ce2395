// UUID v7 identifiers (RFC 9562): 48-bit Unix milliseconds, then a 12-bit counter that keeps
// ids monotonic within one millisecond, then 62 random bits. Lexical order = creation order.
#pragma once

#include <cstdint>
#include <mutex>
#include <random>
#include <string>
#include <string_view>

#include "core/clock.h"

namespace warden {

// Thread-safe.
class IdGenerator {
 public:
  explicit IdGenerator(const Clock& clock);
  std::string next();  // "0193a4f0-7c1e-7b3a-9d2e-5f1c0a9b8e7d"

 private:
  const Clock& clock_;
  std::mutex mu_;
  std::int64_t last_ms_ = 0;   // guarded by mu_
  std::uint16_t counter_ = 0;  // guarded by mu_; 12 bits used
  std::mt19937_64 rng_;        // guarded by mu_
};

bool is_uuid(std::string_view s);  // canonical lower-case 8-4-4-4-12 hex form
// Milliseconds since the epoch encoded in a v7 id, or -1 when it is not one.
std::int64_t uuid_v7_ms(std::string_view id);
// The lowest id a UUID v7 made at or after `ms` can have (version and random bits zero, so not
// itself a v7 id), in the canonical form: where a key range of ids starting at a time begins.
std::string uuid_v7_floor(std::int64_t ms);

}  // namespace warden
