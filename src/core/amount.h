// Amount: an exact unsigned 256-bit integer (lamports, wei, micro-USD). Parsed from and printed
// as a plain decimal string; arithmetic that would overflow or go below zero is an error.
#pragma once

#include <boost/multiprecision/cpp_int.hpp>
#include <compare>
#include <string>
#include <string_view>

#include "core/status.h"

namespace warden {

class Amount {
 public:
  using Rep = boost::multiprecision::number<boost::multiprecision::cpp_int_backend<
      256, 256, boost::multiprecision::unsigned_magnitude, boost::multiprecision::unchecked,
      void>>;

  Amount() = default;
  explicit Amount(std::uint64_t v) : v_(v) {}

  // Accepts only [0-9]+ without a leading zero (except "0") and at most 2^256-1.
  static Result<Amount> parse(std::string_view text);
  static Amount max();  // 2^256 - 1

  std::string to_string() const;
  bool is_zero() const { return v_.is_zero(); }
  const Rep& rep() const { return v_; }

  Result<Amount> checked_add(const Amount& other) const;
  Result<Amount> checked_sub(const Amount& other) const;
  Result<Amount> checked_mul(const Amount& other) const;

  friend bool operator==(const Amount& a, const Amount& b) { return a.v_ == b.v_; }
  friend std::strong_ordering operator<=>(const Amount& a, const Amount& b) {
    if (a.v_ < b.v_) return std::strong_ordering::less;
    if (a.v_ > b.v_) return std::strong_ordering::greater;
    return std::strong_ordering::equal;
  }

 private:
  explicit Amount(Rep v) : v_(std::move(v)) {}
  Rep v_;
};

}  // namespace warden
