#include "server/webhook_signature.h"

#include <gtest/gtest.h>

namespace warden::server {
namespace {

constexpr std::string_view kSecret = "whsec_test_secret_0123456789";
constexpr std::string_view kOtherSecret = "whsec_other_secret_9876543210";
constexpr std::string_view kBody = R"({"a":1})";
constexpr std::int64_t kNow = 1'700'000'000;

std::string header(std::int64_t t, std::string_view secret, std::string_view body = kBody) {
  return "t=" + std::to_string(t) + ",v1=" + webhook_signature(secret, t, body);
}

std::string reason(const Status& s) {
  const auto* r = s.details().if_contains("reason");
  return r != nullptr && r->is_string() ? std::string(r->as_string()) : "";
}

// The digest is HMAC-SHA256 of "<t>.<body>": pinned to a value computed elsewhere (Python's
// hmac module), so the sender's side can be checked against any implementation.
TEST(WebhookSignature, MatchesAnIndependentHmacSha256) {
  EXPECT_EQ(webhook_signature(kSecret, kNow, kBody),
            "10fb0e5eb2c2204d471e7d252958fb5af663638b8d24fc8dc03090a74bcc366c");
}

TEST(WebhookSignature, ValidSignaturePasses) {
  EXPECT_TRUE(verify_webhook_signature(header(kNow, kSecret), kBody, kSecret, kNow).ok());
  // Upper-case hex, spaces after commas and unknown schemes are accepted.
  std::string upper = webhook_signature(kSecret, kNow, kBody);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_TRUE(verify_webhook_signature("t=" + std::to_string(kNow) + ", v0=abc, v1=" + upper, kBody,
                                       kSecret, kNow)
                  .ok());
}

TEST(WebhookSignature, WrongSecretIsInvalid) {
  Status s = verify_webhook_signature(header(kNow, kOtherSecret), kBody, kSecret, kNow);
  EXPECT_EQ(s.code(), ErrorCode::WEBHOOK_SIGNATURE_INVALID);
  EXPECT_EQ(reason(s), "no_match");
}

TEST(WebhookSignature, TamperedBodyOrTimestampIsInvalid) {
  Status body = verify_webhook_signature(header(kNow, kSecret), R"({"a":2})", kSecret, kNow);
  EXPECT_EQ(body.code(), ErrorCode::WEBHOOK_SIGNATURE_INVALID);
  EXPECT_EQ(reason(body), "no_match");
  // The signature of one time moved to another: the timestamp is signed too.
  const std::string moved =
      "t=" + std::to_string(kNow + 1) + ",v1=" + webhook_signature(kSecret, kNow, kBody);
  EXPECT_EQ(verify_webhook_signature(moved, kBody, kSecret, kNow).code(),
            ErrorCode::WEBHOOK_SIGNATURE_INVALID);
  // One flipped hex digit.
  std::string flipped = header(kNow, kSecret);
  flipped.back() = flipped.back() == '0' ? '1' : '0';
  EXPECT_EQ(verify_webhook_signature(flipped, kBody, kSecret, kNow).code(),
            ErrorCode::WEBHOOK_SIGNATURE_INVALID);
}

TEST(WebhookSignature, StaleAndFutureTimestampsAreReplays) {
  const std::int64_t edge = kWebhookToleranceSeconds;
  EXPECT_TRUE(verify_webhook_signature(header(kNow - edge, kSecret), kBody, kSecret, kNow).ok());
  EXPECT_TRUE(verify_webhook_signature(header(kNow + edge, kSecret), kBody, kSecret, kNow).ok());
  Status old = verify_webhook_signature(header(kNow - edge - 1, kSecret), kBody, kSecret, kNow);
  EXPECT_EQ(old.code(), ErrorCode::WEBHOOK_TIMESTAMP_STALE);
  EXPECT_EQ(reason(old), "too_old");
  EXPECT_EQ(old.details().at("tolerance_seconds").as_int64(), 300);
  Status future = verify_webhook_signature(header(kNow + edge + 1, kSecret), kBody, kSecret, kNow);
  EXPECT_EQ(future.code(), ErrorCode::WEBHOOK_TIMESTAMP_STALE);
  EXPECT_EQ(reason(future), "in_future");
  // A stale timestamp with a wrong signature says only that the signature is wrong.
  EXPECT_EQ(
      verify_webhook_signature(header(kNow - 3600, kOtherSecret), kBody, kSecret, kNow).code(),
      ErrorCode::WEBHOOK_SIGNATURE_INVALID);
}

TEST(WebhookSignature, MalformedHeadersAreInvalid) {
  const std::string v1 = ",v1=" + webhook_signature(kSecret, kNow, kBody);
  const std::string t = "t=" + std::to_string(kNow);
  EXPECT_EQ(reason(verify_webhook_signature("", kBody, kSecret, kNow)), "header_missing");
  EXPECT_EQ(reason(verify_webhook_signature("  ", kBody, kSecret, kNow)), "header_missing");
  const std::vector<std::string> malformed = {
      "garbage",
      v1.substr(1),                                    // no t
      t,                                               // no v1
      "t=" + v1,                                       // empty t
      "t=12a4" + v1,                                   // not digits
      "t=-1" + v1,                                     // not digits
      "t=1234567890123" + v1,                          // too many digits
      t + "," + t + v1,                                // t twice
      t + ",v1" + v1,                                  // an item without '='
      t + v1 + v1 + v1 + v1 + v1 + v1 + v1 + v1 + v1,  // nine v1
      t + v1 + std::string(kSignatureHeaderBytesMax, ' '),
  };
  for (const std::string& h : malformed) {
    Status s = verify_webhook_signature(h, kBody, kSecret, kNow);
    EXPECT_EQ(s.code(), ErrorCode::WEBHOOK_SIGNATURE_INVALID) << h;
    EXPECT_EQ(reason(s), "header_malformed") << h;
  }
  // A v1 that is not 64 hex digits can match nothing.
  EXPECT_EQ(reason(verify_webhook_signature(t + ",v1=zz", kBody, kSecret, kNow)), "no_match");
  EXPECT_EQ(
      reason(verify_webhook_signature(t + ",v1=" + std::string(66, 'a'), kBody, kSecret, kNow)),
      "no_match");
}

// A provider rotating its secret signs with the old and the new one: either configured secret
// accepts the delivery, and a third does not.
TEST(WebhookSignature, RotatedSecretsAnyMatchPasses) {
  const std::string both =
      header(kNow, kOtherSecret) + ",v1=" + webhook_signature(kSecret, kNow, kBody);
  EXPECT_TRUE(verify_webhook_signature(both, kBody, kSecret, kNow).ok());
  EXPECT_TRUE(verify_webhook_signature(both, kBody, kOtherSecret, kNow).ok());
  EXPECT_EQ(verify_webhook_signature(both, kBody, "whsec_third_secret_000000000", kNow).code(),
            ErrorCode::WEBHOOK_SIGNATURE_INVALID);
  // Eight signatures are allowed; the match may be the last.
  std::string eight = "t=" + std::to_string(kNow);
  for (int i = 0; i < 7; ++i) eight += ",v1=" + std::string(64, '0');
  eight += ",v1=" + webhook_signature(kSecret, kNow, kBody);
  EXPECT_TRUE(verify_webhook_signature(eight, kBody, kSecret, kNow).ok());
}

TEST(WebhookSignature, ProviderNames) {
  const std::vector<std::string> good = {"stripe", "pay_pal", "x-1", "a",
                                         "abcdefghijklmnopqrstuvwxyz012345"};
  for (const std::string& name : good) EXPECT_TRUE(valid_webhook_provider(name)) << name;
  const std::vector<std::string> bad = {
      "", "Stripe", "a b", "a.b", "a/b", "\xc3\xbc", "abcdefghijklmnopqrstuvwxyz0123456"};
  for (const std::string& name : bad) EXPECT_FALSE(valid_webhook_provider(name)) << name;
}

}  // namespace
}  // namespace warden::server
