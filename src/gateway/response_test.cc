// Response adapters: usage and output text of whole (non-streamed) response bodies.
#include <gtest/gtest.h>

#include <string>

#include "gateway/adapters.h"

namespace warden::gateway {
namespace {

std::string field_of(const Status& s) {
  const auto* f = s.details().if_contains("field");
  return f != nullptr && f->is_string() ? std::string(f->as_string()) : "";
}

ResponseFacts parse_ok(Provider p, std::string_view body, Operation op = Operation::kChat) {
  auto r = parse_response(p, op, body);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? *r : ResponseFacts{};
}

void expect_error(Provider p, std::string_view body, ErrorCode code, std::string_view field) {
  auto r = parse_response(p, Operation::kChat, body);
  ASSERT_FALSE(r.ok()) << body;
  EXPECT_EQ(r.status().code(), code) << r.status().to_string();
  EXPECT_EQ(field_of(r.status()), field) << r.status().to_string();
}

TEST(GatewayResponse, OpenAiChatUsageAndText) {
  const char* body = R"({
    "id": "chatcmpl-9", "object": "chat.completion", "created": 1741569952,
    "model": "gpt-4o-2024-08-06",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi there.",
      "refusal": null, "tool_calls": [{"id": "call_1", "type": "function",
      "function": {"name": "f", "arguments": "{\"a\":1}"}}]}, "logprobs": null,
      "finish_reason": "tool_calls"}],
    "usage": {"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29,
      "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
      "completion_tokens_details": {"reasoning_tokens": 0}},
    "service_tier": "default"})";
  for (Provider p : {Provider::kOpenAI, Provider::kAzureOpenAI}) {
    ResponseFacts r = parse_ok(p, body);
    EXPECT_EQ(r.model, "gpt-4o-2024-08-06");
    ASSERT_TRUE(r.usage.has_value());
    EXPECT_EQ(*r.usage, (Usage{19, 10, 29, false}));
    EXPECT_EQ(r.text, "Hi there.\nf\n{\"a\":1}");
  }
}

TEST(GatewayResponse, OpenAiEmbeddingsHaveNoCompletionTokens) {
  ResponseFacts r = parse_ok(Provider::kOpenAI, R"({"object": "list",
    "data": [{"object": "embedding", "index": 0, "embedding": [0.0023, -0.0094]}],
    "model": "text-embedding-3-small", "usage": {"prompt_tokens": 8, "total_tokens": 8}})",
                             Operation::kEmbeddings);
  ASSERT_TRUE(r.usage.has_value());
  EXPECT_EQ(*r.usage, (Usage{8, 0, 8, false}));
  EXPECT_EQ(r.text, "");
}

TEST(GatewayResponse, AnthropicCountsCacheTokensAsPrompt) {
  ResponseFacts r = parse_ok(Provider::kAnthropic, R"({
    "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
    "content": [{"type": "thinking", "thinking": "Hmm.", "signature": "x"},
                {"type": "text", "text": "Paris."},
                {"type": "tool_use", "id": "t", "name": "map", "input": {"z": 2}}],
    "stop_reason": "end_turn", "stop_sequence": null,
    "usage": {"input_tokens": 12, "cache_creation_input_tokens": 100,
              "cache_read_input_tokens": 30, "output_tokens": 7}})");
  EXPECT_EQ(r.model, "claude-sonnet-4-5");
  ASSERT_TRUE(r.usage.has_value());
  EXPECT_EQ(*r.usage, (Usage{142, 7, 149, false}));
  EXPECT_EQ(r.text, "Hmm.\nParis.\nmap\n{\"z\":2}");
}

TEST(GatewayResponse, CohereUsesBilledUnitsThenTokens) {
  ResponseFacts billed = parse_ok(Provider::kCohere, R"({
    "id": "c0", "finish_reason": "COMPLETE",
    "message": {"role": "assistant", "content": [{"type": "text", "text": "Tokyo."}]},
    "usage": {"billed_units": {"input_tokens": 5, "output_tokens": 2},
              "tokens": {"input_tokens": 71, "output_tokens": 2}}})");
  ASSERT_TRUE(billed.usage.has_value());
  EXPECT_EQ(*billed.usage, (Usage{5, 2, 7, false}));
  EXPECT_EQ(billed.text, "Tokyo.");
  ResponseFacts tokens = parse_ok(Provider::kCohere, R"({"id": "c1", "finish_reason": "TOOL_CALL",
    "message": {"role": "assistant", "tool_plan": "Search.", "tool_calls": [
      {"id": "t", "type": "function", "function": {"name": "s", "arguments": "{}"}}]},
    "usage": {"tokens": {"input_tokens": 40.0, "output_tokens": 3}}})");
  ASSERT_TRUE(tokens.usage.has_value());
  EXPECT_EQ(*tokens.usage, (Usage{40, 3, 43, false}));
  EXPECT_EQ(tokens.text, "Search.\ns\n{}");
}

TEST(GatewayResponse, GeminiCountsThoughtsAsOutputAndTakesTheReportedTotal) {
  ResponseFacts r = parse_ok(Provider::kGemini, R"({
    "candidates": [{"content": {"parts": [{"text": "Meow."}], "role": "model"},
                    "finishReason": "STOP", "index": 0}],
    "usageMetadata": {"promptTokenCount": 11, "candidatesTokenCount": 2,
                      "thoughtsTokenCount": 20, "totalTokenCount": 33},
    "modelVersion": "gemini-2.5-flash", "responseId": "abc"})");
  EXPECT_EQ(r.model, "gemini-2.5-flash");
  ASSERT_TRUE(r.usage.has_value());
  EXPECT_EQ(*r.usage, (Usage{11, 22, 33, false}));
  EXPECT_EQ(r.text, "Meow.");
}

TEST(GatewayResponse, MissingUsageLeavesTheTextForAnEstimate) {
  ResponseFacts r = parse_ok(Provider::kOpenAI, R"({"model": "local",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}]})");
  EXPECT_FALSE(r.usage.has_value());
  EXPECT_EQ(r.text, "ok");
}

TEST(GatewayResponse, ErrorBodiesAreReportedNotParsedForUsage) {
  EXPECT_EQ(parse_ok(Provider::kOpenAI, R"({"error": {"message": "Rate limit reached",
    "type": "requests", "param": null, "code": "rate_limit_exceeded"}})")
                .upstream_error,
            "Rate limit reached");
  EXPECT_EQ(parse_ok(Provider::kAnthropic, R"({"type": "error", "error": {
    "type": "overloaded_error", "message": "Overloaded"}})")
                .upstream_error,
            "Overloaded");
  EXPECT_EQ(
      parse_ok(Provider::kCohere, R"({"id": "e", "message": "invalid api token"})").upstream_error,
      "invalid api token");
  EXPECT_EQ(parse_ok(Provider::kGemini, R"({"error": {"code": 400, "message": "API key not valid.",
    "status": "INVALID_ARGUMENT"}})")
                .upstream_error,
            "API key not valid.");
}

TEST(GatewayResponse, WrongTypesAndBadCountsNameTheField) {
  expect_error(Provider::kOpenAI, R"({"usage": {"prompt_tokens": "12"}})",
               ErrorCode::VALIDATION_WRONG_TYPE, "usage/prompt_tokens");
  expect_error(Provider::kOpenAI, R"({"usage": {"completion_tokens": 1}})",
               ErrorCode::VALIDATION_MISSING_FIELD, "usage/prompt_tokens");
  expect_error(Provider::kOpenAI, R"({"usage": {"prompt_tokens": -1}})",
               ErrorCode::VALIDATION_INVALID_VALUE, "usage/prompt_tokens");
  expect_error(Provider::kOpenAI, R"({"usage": {"prompt_tokens": 1.5}})",
               ErrorCode::VALIDATION_WRONG_TYPE, "usage/prompt_tokens");
  expect_error(Provider::kOpenAI, R"({"usage": [1]})", ErrorCode::VALIDATION_WRONG_TYPE, "usage");
  expect_error(Provider::kOpenAI, R"({"choices": [{"message": {"content": 3}}]})",
               ErrorCode::VALIDATION_WRONG_TYPE, "choices/0/message/content");
  expect_error(Provider::kAnthropic, R"({"usage": {"input_tokens": 1099511627777}})",
               ErrorCode::VALIDATION_INVALID_VALUE, "usage/input_tokens");
  expect_error(Provider::kAnthropic, R"({"content": "text"})", ErrorCode::VALIDATION_WRONG_TYPE,
               "content");
  expect_error(Provider::kCohere, R"({"usage": {"billed_units": {"output_tokens": true}}})",
               ErrorCode::VALIDATION_WRONG_TYPE, "usage/billed_units/output_tokens");
  expect_error(Provider::kGemini, R"({"candidates": [{"content": {"parts": [7]}}]})",
               ErrorCode::VALIDATION_WRONG_TYPE, "candidates/0/content/parts/0");
  expect_error(Provider::kGemini, R"({"usageMetadata": {"totalTokenCount": null,
    "promptTokenCount": {}}})",
               ErrorCode::VALIDATION_WRONG_TYPE, "usageMetadata/promptTokenCount");
  expect_error(Provider::kGemini, "{\"candidates\": [}", ErrorCode::VALIDATION_MALFORMED_JSON, "");
  expect_error(Provider::kGemini, "\"text\"", ErrorCode::VALIDATION_WRONG_TYPE, "");
}

}  // namespace
}  // namespace warden::gateway
