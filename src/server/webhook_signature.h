// Inbound payment webhooks (POST /v1/webhooks/{provider}): provider names and the
// Warden-Signature header, an HMAC-SHA256 of "<t>.<raw body>" under the provider's secret.
// docs/http-api.md#payment-webhooks has the format.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace warden::server {

// A signed timestamp further than this from now, either way, is a replay (or a wrong clock).
inline constexpr std::int64_t kWebhookToleranceSeconds = 300;
inline constexpr std::size_t kSignatureHeaderBytesMax = 2048;
// v1= entries one header may carry (a provider rotating its secret signs with both).
inline constexpr std::size_t kSignaturesMax = 8;
inline constexpr std::size_t kWebhookProviderBytesMax = 32;
inline constexpr std::size_t kWebhookSecretBytesMin = 16;
inline constexpr std::size_t kWebhookSecretBytesMax = 1024;

// [a-z0-9_-]{1,32}.
bool valid_webhook_provider(std::string_view name);

// OK when one v1= of `header` ("t=<unix seconds>,v1=<hex>[,v1=<hex>...]") is the HMAC-SHA256 of
// "<t>.<body>" under `secret` (compared in constant time) and t is within
// kWebhookToleranceSeconds of now_s. Otherwise WEBHOOK_SIGNATURE_INVALID with details.reason
// "header_missing", "header_malformed" or "no_match", or, for a matching signature with a
// timestamp out of range, WEBHOOK_TIMESTAMP_STALE with details {reason "too_old" or
// "in_future", tolerance_seconds}. The signature is checked first, so an unsigned request
// learns nothing about the clock.
Status verify_webhook_signature(std::string_view header, std::string_view body,
                                std::string_view secret, std::int64_t now_s);

// Lower-case hex HMAC-SHA256 of "<t>.<body>" under secret: what a sender puts after v1=.
std::string webhook_signature(std::string_view secret, std::int64_t t, std::string_view body);

}  // namespace warden::server
