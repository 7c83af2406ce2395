// A meter: the usage (reserved or settled amounts, or request counts) of one limit for one
// agent, kept in time buckets and summed over a rolling or calendar (UTC) window.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "core/amount.h"
#include "engine/ir.h"

namespace warden::engine {

// A meter counts whole buckets: a bucket counts while any of it is inside the window, so a
// charge leaves a rolling window at the end of its bucket, never earlier. Windows up to a day
// count to the millisecond; up to 60 days, in minutes; beyond, in hours (at most ~88,000
// buckets a meter). Calendar windows start on bucket boundaries and are exact.
std::int64_t meter_resolution_ms(const WindowLimit& def);

// Not thread-safe: the owning agent's mutex guards it.
class Meter {
 public:
  explicit Meter(const WindowLimit& def);
  // A per-model window's meter counts its own usage key (def.usage + "@<model>").
  Meter(const WindowLimit& def, std::string usage);

  // The usage key the meter counts (WindowLimit::usage).
  const std::string& usage() const { return usage_; }
  // Confirmed + reserved total of the buckets inside the window that contains now_ms. Drops
  // buckets that have left the window.
  const Amount& total(std::int64_t now_ms);
  // Adds to the bucket of ts_ms. A sum past 2^256 - 1 saturates (the limit check refuses such
  // a reservation first; only a settlement that already happened can get there).
  void add(std::int64_t ts_ms, const Amount& amount);
  // Takes back what add(ts_ms, ...) put in; a bucket the window already dropped is left alone.
  void subtract(std::int64_t ts_ms, const Amount& amount);
  std::size_t buckets() const { return buckets_.size(); }

  // First millisecond that still counts at now_ms.
  std::int64_t window_start_ms(std::int64_t now_ms) const;
  // The start of the bucket ts_ms falls in, and the first bucket that counts at now_ms.
  std::int64_t bucket_of(std::int64_t ts_ms) const;
  std::int64_t first_counted_bucket(std::int64_t now_ms) const {
    return bucket_of(window_start_ms(now_ms));
  }

 private:

  std::string usage_;
  bool calendar_;
  int calendar_unit_;
  std::int64_t window_ms_;
  std::int64_t resolution_ms_;
  std::map<std::int64_t, Amount> buckets_;  // bucket start ms -> sum
  Amount total_;                            // sum of buckets_
};

}  // namespace warden::engine
