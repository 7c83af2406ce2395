// Clock: the one source of time. The engine and store never read the system clock directly,
// so windows, expiry and throttling can be tested without sleeping.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace warden {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::int64_t now_ms() const = 0;  // milliseconds since the Unix epoch
  std::int64_t now_seconds() const { return now_ms() / 1000; }
};

class SystemClock final : public Clock {
 public:
  std::int64_t now_ms() const override;
};

// Thread-safe manual clock for tests.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(std::int64_t start_ms = 1'767'225'600'000) : now_ms_(start_ms) {}
  std::int64_t now_ms() const override { return now_ms_.load(std::memory_order_acquire); }
  void set_ms(std::int64_t ms) { now_ms_.store(ms, std::memory_order_release); }
  void advance_ms(std::int64_t ms) { now_ms_.fetch_add(ms, std::memory_order_acq_rel); }

 private:
  std::atomic<std::int64_t> now_ms_;
};

// RFC 3339 UTC with second precision: "2026-11-24T03:05:07Z".
std::string format_rfc3339(std::int64_t unix_seconds);

}  // namespace warden
