#include "core/amount.h"

#include <gtest/gtest.h>

namespace warden {
namespace {

const char* kMax = "115792089237316195423570985008687907853269984665640564039457584007913129639935";
const char* kMaxPlusOne =
    "115792089237316195423570985008687907853269984665640564039457584007913129639936";

TEST(Amount, ParsesAndPrintsRoundTrip) {
  for (const char* s : {"0", "1", "10", "1000000000000000000", kMax}) {
    auto a = Amount::parse(s);
    ASSERT_TRUE(a.ok()) << s;
    EXPECT_EQ(a->to_string(), s);
  }
  EXPECT_EQ(Amount::max().to_string(), kMax);
}

TEST(Amount, RejectsMalformedText) {
  for (const char* s : {"", "-1", "+1", " 1", "1 ", "01", "00", "1.5", "1e3", "0x10", "abc",
                        "１"}) {
    auto a = Amount::parse(s);
    ASSERT_FALSE(a.ok()) << "accepted '" << s << "'";
    EXPECT_EQ(a.status().code(), ErrorCode::VALIDATION_INVALID_AMOUNT);
  }
}

TEST(Amount, RejectsValuesAtAndAbove2To256) {
  EXPECT_FALSE(Amount::parse(kMaxPlusOne).ok());
  EXPECT_FALSE(Amount::parse(std::string(kMax) + "0").ok());
  EXPECT_FALSE(Amount::parse(std::string(79, '9')).ok());
  // Same digit count as the maximum but larger in a middle digit.
  std::string bigger = kMax;
  bigger[10] = '9';
  EXPECT_FALSE(Amount::parse(bigger).ok());
}

TEST(Amount, CheckedArithmeticDetectsOverflowAndUnderflow) {
  const Amount max = Amount::max();
  const Amount one(1);
  auto sum = max.checked_add(one);
  ASSERT_FALSE(sum.ok());
  EXPECT_EQ(sum.status().code(), ErrorCode::VALIDATION_INVALID_AMOUNT);
  auto back = max.checked_sub(one);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->checked_add(one)->to_string(), kMax);
  EXPECT_FALSE(Amount(3).checked_sub(Amount(4)).ok());
  EXPECT_EQ(Amount(4).checked_sub(Amount(4))->to_string(), "0");
  EXPECT_FALSE(max.checked_mul(Amount(2)).ok());
  EXPECT_EQ(max.checked_mul(one)->to_string(), kMax);
  EXPECT_EQ(Amount(0).checked_mul(max)->to_string(), "0");
}

TEST(Amount, Compares) {
  EXPECT_LT(Amount(5), Amount(6));
  EXPECT_EQ(*Amount::parse("1000"), Amount(1000));
  EXPECT_GT(Amount::max(), Amount(~0ULL));
}

}  // namespace
}  // namespace warden
