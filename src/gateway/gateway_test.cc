// The gateway's pure pieces: routes, refusals and their bodies, SSE event boundaries.
#include "gateway/gateway.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace warden::gateway {
namespace {

namespace json = boost::json;

json::object decided(const std::string& status, const std::string& code = "") {
  json::object o{{"id", "tx"}, {"status", status}};
  json::array reasons;
  if (!code.empty()) reasons.push_back(json::object{{"code", code}, {"message", "why " + code}});
  o["reasons"] = std::move(reasons);
  return o;
}

TEST(GatewayRoute, KnowsEachProvidersPaths) {
  std::string model;
  bool stream = false;
  EXPECT_EQ(route_of("POST", "/v1/chat/completions", &model, &stream), Route::kChatCompletions);
  EXPECT_EQ(route_of("POST", "/chat/completions", &model, &stream), Route::kChatCompletions);
  EXPECT_EQ(route_of("POST", "/v1/embeddings", &model, &stream), Route::kEmbeddings);
  EXPECT_EQ(route_of("POST", "/v1/messages", &model, &stream), Route::kMessages);
  EXPECT_EQ(route_of("POST", "/v2/chat", &model, &stream), Route::kCohereChat);
  EXPECT_EQ(route_of("POST", "/v1beta/models/gemini-2.0-flash:streamGenerateContent", &model,
                     &stream),
            Route::kGemini);
  EXPECT_EQ(model, "gemini-2.0-flash");
  EXPECT_TRUE(stream);
  EXPECT_EQ(route_of("POST", "/v1beta/models/g:generateContent", &model, &stream), Route::kGemini);
  EXPECT_FALSE(stream);
  EXPECT_EQ(route_of("POST", "/v1beta/models/g:countTokens", &model, &stream), std::nullopt);
  EXPECT_EQ(route_of("POST", "/v1beta/models/:generateContent", &model, &stream), std::nullopt);
  EXPECT_EQ(route_of("GET", "/v1/chat/completions", &model, &stream), std::nullopt);
  EXPECT_EQ(route_of("POST", "/v1/completions", &model, &stream), std::nullopt);
}

TEST(GatewayRefusal, LimitsAre429SizeIs413PoliciesAre403) {
  EXPECT_EQ(Gateway::refusal_of(decided("PENDING")), std::nullopt);
  auto rate = Gateway::refusal_of(decided("DENIED", "RATE_LIMIT_EXCEEDED"));
  ASSERT_TRUE(rate);
  EXPECT_EQ(rate->status, 429);
  EXPECT_EQ(rate->code, "rate_limit_exceeded");
  EXPECT_EQ(rate->retry_after_seconds, 1);
  EXPECT_EQ(rate->message, "why RATE_LIMIT_EXCEEDED");
  auto tokens = Gateway::refusal_of(decided("DENIED", "TOKEN_LIMIT_EXCEEDED"));
  EXPECT_EQ(tokens->status, 429);
  EXPECT_EQ(tokens->code, "token_limit_exceeded");
  auto budget = Gateway::refusal_of(decided("DENIED", "BUDGET_EXCEEDED"));
  EXPECT_EQ(budget->status, 429);
  EXPECT_EQ(budget->type, "insufficient_quota");
  EXPECT_EQ(budget->retry_after_seconds, std::nullopt);  // credit does not come back by waiting
  auto size = Gateway::refusal_of(decided("DENIED", "REQUEST_TOO_LARGE"));
  EXPECT_EQ(size->status, 413);
  auto model = Gateway::refusal_of(decided("DENIED", "MODEL_NOT_ALLOWED"));
  EXPECT_EQ(model->status, 403);
  EXPECT_EQ(model->code, "model_not_allowed");
  auto custom = Gateway::refusal_of(decided("DENIED", "CUSTOM_CONDITION"));
  EXPECT_EQ(custom->status, 403);
  EXPECT_EQ(custom->code, "custom_condition");
  auto queued = Gateway::refusal_of(decided("QUEUED"));
  EXPECT_EQ(queued->status, 403);
  EXPECT_EQ(queued->code, "approval_required");
}

TEST(GatewayRefusal, BodiesAreOpenAiShapedAndAnthropicReadable) {
  const ClientError e{429, "rate_limit_error", "rate_limit_exceeded", "slow down", 1};
  EXPECT_EQ(json::parse(error_body(e, Route::kChatCompletions)),
            json::parse(R"({"error":{"message":"slow down","type":"rate_limit_error",)"
                        R"("code":"rate_limit_exceeded"}})"));
  EXPECT_EQ(json::parse(error_body(e, Route::kMessages)),
            json::parse(R"({"type":"error","error":{"message":"slow down",)"
                        R"("type":"rate_limit_error","code":"rate_limit_exceeded"}})"));
}

TEST(GatewaySse, EventEndsAtTheFirstBlankLineOfAnyLineEnding) {
  EXPECT_EQ(sse_event_end("data: a\n\ndata: b\n\n"), 9u);
  EXPECT_EQ(sse_event_end("data: a\r\n\r\ndata: b"), 11u);
  EXPECT_EQ(sse_event_end("data: a\r\rx"), 9u);
  EXPECT_EQ(sse_event_end("event: x\ndata: a\n\n"), 18u);
  EXPECT_EQ(sse_event_end("data: a\n"), std::string::npos);
  EXPECT_EQ(sse_event_end("data: a\r\n\r"), std::string::npos);  // "\r" may be half of "\r\n"
  EXPECT_EQ(sse_event_end("data: a"), std::string::npos);
  EXPECT_EQ(sse_event_end("\n"), 1u);
  EXPECT_EQ(sse_event_end(""), std::string::npos);
}

}  // namespace
}  // namespace warden::gateway
