// UUID v7 generation.
#include "core/ids.h"

#include <algorithm>
#include <array>
#include <cstdio>

namespace warden {
namespace {

constexpr std::uint16_t kCounterMask = 0x0FFF;
// A fresh millisecond seeds the counter below half its range, leaving room to increment.
constexpr std::uint16_t kCounterSeedMask = 0x07FF;

}  // namespace

IdGenerator::IdGenerator(const Clock& clock) : clock_(clock), rng_(std::random_device{}()) {}

std::string IdGenerator::next() {
  std::int64_t ms;
  std::uint64_t rand_b;
  std::uint16_t counter;
  {
    std::lock_guard lock(mu_);
    ms = clock_.now_ms();
    if (ms > last_ms_) {
      last_ms_ = ms;
      counter_ = static_cast<std::uint16_t>(rng_() & kCounterSeedMask);
    } else {
      // Same millisecond or the clock went back: stay on last_ms_ and count up; when the
      // counter is exhausted, borrow the next millisecond.
      ms = last_ms_;
      if (counter_ == kCounterMask) {
        ms = ++last_ms_;
        counter_ = static_cast<std::uint16_t>(rng_() & kCounterSeedMask);
      } else {
        ++counter_;
      }
    }
    counter = counter_;
    rand_b = rng_();
  }
  std::array<std::uint8_t, 16> b{};
  const auto ums = static_cast<std::uint64_t>(ms);
  for (int i = 0; i < 6; ++i) b[i] = static_cast<std::uint8_t>(ums >> (40 - 8 * i));
  b[6] = static_cast<std::uint8_t>(0x70 | ((counter >> 8) & 0x0F));
  b[7] = static_cast<std::uint8_t>(counter & 0xFF);
  b[8] = static_cast<std::uint8_t>(0x80 | ((rand_b >> 56) & 0x3F));
  for (int i = 9; i < 16; ++i) b[i] = static_cast<std::uint8_t>(rand_b >> (8 * (15 - i)));

  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[b[i] >> 4]);
    out.push_back(kHex[b[i] & 0x0F]);
  }
  return out;
}

bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

std::int64_t uuid_v7_ms(std::string_view id) {
  if (!is_uuid(id) || id[14] != '7') return -1;
  std::int64_t ms = 0;
  for (char c : id.substr(0, 13)) {
    if (c == '-') continue;
    ms = ms * 16 + (c <= '9' ? c - '0' : c - 'a' + 10);
  }
  return ms;
}

std::string uuid_v7_floor(std::int64_t ms) {
  const auto bits = static_cast<unsigned long long>(std::max<std::int64_t>(ms, 0));
  std::array<char, 37> out{};
  std::snprintf(out.data(), out.size(), "%08llx-%04llx-0000-0000-000000000000",
                (bits >> 16) & 0xffffffffULL, bits & 0xffffULL);
  return std::string(out.data(), 36);
}

}  // namespace warden
