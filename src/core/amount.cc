// Exact decimal parsing and overflow-checked arithmetic for Amount.
#include "core/amount.h"

namespace warden {
namespace {

constexpr std::size_t kDigitsMax = 78;  // 2^256-1 has 78 decimal digits

Status invalid(std::string why) { return Status(ErrorCode::VALIDATION_INVALID_AMOUNT, std::move(why)); }

}  // namespace

Result<Amount> Amount::parse(std::string_view text) {
  if (text.empty()) return invalid("amount is empty");
  if (text.size() > kDigitsMax) return invalid("amount exceeds 2^256-1");
  if (text.size() > 1 && text[0] == '0') return invalid("amount has a leading zero");
  Rep v = 0;
  const Rep max_div10 = max().v_ / 10;
  for (char c : text) {
    if (c < '0' || c > '9') return invalid("amount must contain only the digits 0-9");
    const unsigned d = static_cast<unsigned>(c - '0');
    if (v > max_div10 || (v == max_div10 && d > 5)) {  // 2^256-1 ends in ...935; 5 is max
      return invalid("amount exceeds 2^256-1");
    }
    v = v * 10 + d;
  }
  return Amount(std::move(v));
}

Amount Amount::max() {
  static const Rep kMax = ~Rep(0);
  return Amount(kMax);
}

std::string Amount::to_string() const { return v_.str(); }

Result<Amount> Amount::checked_add(const Amount& other) const {
  Rep r = v_ + other.v_;
  if (r < v_) return invalid("amount addition overflows 2^256-1");
  return Amount(std::move(r));
}

Result<Amount> Amount::checked_sub(const Amount& other) const {
  if (other.v_ > v_) return invalid("amount subtraction goes below zero");
  return Amount(Rep(v_ - other.v_));
}

Result<Amount> Amount::checked_mul(const Amount& other) const {
  if (v_.is_zero() || other.v_.is_zero()) return Amount();
  if (other.v_ > max().v_ / v_) return invalid("amount multiplication overflows 2^256-1");
  return Amount(Rep(v_ * other.v_));
}

}  // namespace warden
