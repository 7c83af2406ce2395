// Request adapters: what each provider's request body yields, and how bad bodies are refused.
#include <gtest/gtest.h>

#include <string>

#include "gateway/adapters.h"
#include "gateway/test_bodies.h"

namespace warden::gateway {
namespace {

using namespace testing;

std::string field_of(const Status& s) {
  const auto* f = s.details().if_contains("field");
  return f != nullptr && f->is_string() ? std::string(f->as_string()) : "";
}

RequestTarget target(Provider p, std::string path_model = "", bool path_stream = false) {
  RequestTarget t;
  t.provider = p;
  t.path_model = std::move(path_model);
  t.path_stream = path_stream;
  return t;
}

void expect_error(const RequestTarget& t, std::string_view body, ErrorCode code,
                  std::string_view field) {
  auto r = parse_request(t, body);
  ASSERT_FALSE(r.ok()) << body;
  EXPECT_EQ(r.status().code(), code) << r.status().to_string();
  EXPECT_EQ(field_of(r.status()), field) << r.status().to_string();
}

TEST(GatewayRequest, OpenAiChatReadsEveryTextModelBoundAndStreamFlags) {
  auto r = parse_request(target(Provider::kOpenAI), kOpenAiChatRequest);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->model, "gpt-4o-mini");
  EXPECT_EQ(r->max_output_tokens, 256);
  EXPECT_TRUE(r->stream);
  EXPECT_TRUE(r->include_usage);
  EXPECT_EQ(r->body_bytes, std::string_view(kOpenAiChatRequest).size());
  ASSERT_EQ(r->messages.size(), 4u);
  EXPECT_EQ(r->messages[0].role, "system");
  EXPECT_EQ(r->messages[0].text, "You are terse.");
  EXPECT_EQ(r->messages[1].name, "ana");
  EXPECT_EQ(r->messages[1].text, "What is in this image?");
  EXPECT_EQ(r->messages[2].text, "lookup\n{\"q\":\"cat\"}");
  EXPECT_EQ(r->messages[3].role, "tool");
  EXPECT_EQ(r->messages[3].text, "A cat.");
  EXPECT_EQ(r->non_text_parts_ignored, 1);
  EXPECT_EQ(r->tools_text,
            "lookup\nSearch.\n{\"properties\":{\"q\":{\"type\":\"string\"}},\"type\":\"object\"}");
  EXPECT_EQ(
      r->all_text(),
      "You are terse.\nWhat is in this image?\nlookup\n{\"q\":\"cat\"}\nA cat.\n" + r->tools_text);
}

TEST(GatewayRequest, OpenAiMaxCompletionTokensWinsOverMaxTokensAndDefaultsAreOff) {
  auto both =
      parse_request(target(Provider::kOpenAI),
                    R"({"model":"o3","messages":[],"max_tokens":50,"max_completion_tokens":70})");
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both->max_output_tokens, 70);
  auto legacy = parse_request(target(Provider::kOpenAI),
                              R"({"model":"gpt-4","messages":[],"max_tokens":50})");
  ASSERT_TRUE(legacy.ok());
  EXPECT_EQ(legacy->max_output_tokens, 50);
  auto none = parse_request(target(Provider::kOpenAI),
                            R"({"model":"gpt-4","messages":[{"role":"user","content":"hi"}],
                                "stream":true})");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->max_output_tokens.has_value());
  EXPECT_TRUE(none->stream);
  EXPECT_FALSE(none->include_usage);
}

TEST(GatewayRequest, AzureTakesTheDeploymentFromThePath) {
  auto r = parse_request(target(Provider::kAzureOpenAI, "prod-gpt4o"), kOpenAiChatRequest);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->model, "prod-gpt4o");
  EXPECT_EQ(r->max_output_tokens, 256);
  expect_error(target(Provider::kAzureOpenAI), kOpenAiChatRequest,
               ErrorCode::VALIDATION_MISSING_FIELD, "deployment");
}

TEST(GatewayRequest, EmbeddingsReadTextInputsAndCountTokenIdInputs) {
  RequestTarget t = target(Provider::kOpenAI);
  t.operation = Operation::kEmbeddings;
  auto r = parse_request(t, kOpenAiEmbeddingsRequest);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->model, "text-embedding-3-small");
  EXPECT_EQ(r->inputs, (std::vector<std::string>{"first text", "second"}));
  EXPECT_FALSE(r->stream);
  auto ids = parse_request(t, R"({"model":"m","input":[[1,2,3],[4]]})");
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(ids->input_token_ids, 4);
  EXPECT_TRUE(ids->inputs.empty());
  auto one = parse_request(t, R"({"model":"m","input":"solo"})");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->all_text(), "solo");
  expect_error(t, R"({"model":"m"})", ErrorCode::VALIDATION_MISSING_FIELD, "input");
  expect_error(t, R"({"model":"m","input":[true]})", ErrorCode::VALIDATION_WRONG_TYPE, "input/0");
  expect_error(t, R"({"model":"m","input":[["a"]]})", ErrorCode::VALIDATION_WRONG_TYPE, "input/0");
  RequestTarget anthropic = target(Provider::kAnthropic);
  anthropic.operation = Operation::kEmbeddings;
  expect_error(anthropic, kOpenAiEmbeddingsRequest, ErrorCode::VALIDATION_INVALID_VALUE,
               "operation");
}

TEST(GatewayRequest, AnthropicReadsSystemBlocksToolsAndRequiresMaxTokens) {
  auto r = parse_request(target(Provider::kAnthropic), kAnthropicRequest);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->model, "claude-sonnet-4-5");
  EXPECT_EQ(r->max_output_tokens, 1024);
  EXPECT_TRUE(r->stream);
  ASSERT_EQ(r->messages.size(), 4u);
  EXPECT_EQ(r->messages[0].role, "system");
  EXPECT_EQ(r->messages[0].text, "Be brief.");
  EXPECT_EQ(r->messages[1].text, "Weather in Paris?");
  EXPECT_EQ(r->messages[2].text, "Checking.\nget_weather\n{\"city\":\"Paris\"}");
  EXPECT_EQ(r->messages[3].text, "18C");
  EXPECT_EQ(r->non_text_parts_ignored, 1);
  EXPECT_EQ(r->tools_text,
            "get_weather\nCurrent weather.\n"
            "{\"properties\":{\"city\":{\"type\":\"string\"}},\"type\":\"object\"}");
  expect_error(target(Provider::kAnthropic),
               R"({"model":"claude","messages":[{"role":"user","content":"hi"}]})",
               ErrorCode::VALIDATION_MISSING_FIELD, "max_tokens");
  expect_error(
      target(Provider::kAnthropic),
      R"({"model":"claude","max_tokens":5,"messages":[{"role":"user","content":[{"text":"x"}]}]})",
      ErrorCode::VALIDATION_MISSING_FIELD, "messages/0/content/0/type");
}

TEST(GatewayRequest, CohereV2ReadsToolPlansCallsAndDocuments) {
  auto r = parse_request(target(Provider::kCohere), kCohereRequest);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->model, "command-a-03-2025");
  EXPECT_EQ(r->max_output_tokens, 300);
  EXPECT_FALSE(r->stream);
  ASSERT_EQ(r->messages.size(), 4u);
  EXPECT_EQ(r->messages[0].text, "Answer in French.");
  EXPECT_EQ(r->messages[1].text, "Capital of Japan?");
  EXPECT_EQ(r->messages[2].text, "I will search.\nsearch\n{\"q\":\"Japan\"}");
  EXPECT_EQ(r->messages[3].text, "{\"capital\":\"Tokyo\"}");
  EXPECT_EQ(r->non_text_parts_ignored, 0);
  EXPECT_NE(r->tools_text.find("Web search."), std::string::npos);
}

TEST(GatewayRequest, GeminiTakesModelAndStreamFromThePath) {
  auto r = parse_request(target(Provider::kGemini, "gemini-2.5-flash", true), kGeminiRequest);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->model, "gemini-2.5-flash");
  EXPECT_TRUE(r->stream);
  EXPECT_EQ(r->max_output_tokens, 800);
  ASSERT_EQ(r->messages.size(), 4u);
  EXPECT_EQ(r->messages[0].role, "system");
  EXPECT_EQ(r->messages[0].text, "You are a cat.");
  EXPECT_EQ(r->messages[1].text, "Describe this.");
  EXPECT_EQ(r->messages[2].role, "model");
  EXPECT_EQ(r->messages[2].text, "look\n{\"at\":\"box\"}");
  EXPECT_EQ(r->messages[3].text, "look\n{\"seen\":\"fish\"}");
  EXPECT_EQ(r->non_text_parts_ignored, 1);
  EXPECT_NE(r->tools_text.find("Look at a thing."), std::string::npos);
  expect_error(target(Provider::kGemini), kGeminiRequest, ErrorCode::VALIDATION_MISSING_FIELD,
               "model");
}

TEST(GatewayRequest, GeminiAcceptsSnakeCaseButNotBothSpellings) {
  auto snake = parse_request(
      target(Provider::kGemini, "g"),
      R"({"system_instruction":{"parts":[{"text":"s"}]},"contents":[{"parts":[{"text":"u"}]}],
          "generation_config":{"max_output_tokens":64}})");
  ASSERT_TRUE(snake.ok()) << snake.status().to_string();
  EXPECT_EQ(snake->max_output_tokens, 64);
  EXPECT_EQ(snake->all_text(), "s\nu");
  EXPECT_EQ(snake->messages[1].role, "user");
  expect_error(
      target(Provider::kGemini, "g"),
      R"({"contents":[],"generationConfig":{"maxOutputTokens":1,"max_output_tokens":900}})",
      ErrorCode::VALIDATION_INVALID_VALUE, "generationConfig/maxOutputTokens");
}

TEST(GatewayRequest, MalformedBodiesAndWrongTypesNameTheField) {
  const RequestTarget openai = target(Provider::kOpenAI);
  expect_error(openai, R"({"model":"m","messages":[)", ErrorCode::VALIDATION_MALFORMED_JSON, "");
  expect_error(openai, "", ErrorCode::VALIDATION_MALFORMED_JSON, "");
  expect_error(openai, "[1,2]", ErrorCode::VALIDATION_WRONG_TYPE, "");
  expect_error(openai, R"({"model":"m","model":"n","messages":[]})",
               ErrorCode::VALIDATION_DUPLICATE_KEY, "model");
  expect_error(openai, R"({"messages":[]})", ErrorCode::VALIDATION_MISSING_FIELD, "model");
  expect_error(openai, R"({"model":7,"messages":[]})", ErrorCode::VALIDATION_WRONG_TYPE, "model");
  expect_error(openai, R"({"model":"m"})", ErrorCode::VALIDATION_MISSING_FIELD, "messages");
  expect_error(openai, R"({"model":"m","messages":{}})", ErrorCode::VALIDATION_WRONG_TYPE,
               "messages");
  expect_error(openai, R"({"model":"m","messages":["hi"]})", ErrorCode::VALIDATION_WRONG_TYPE,
               "messages/0");
  expect_error(openai, R"({"model":"m","messages":[{"role":"user","content":5}]})",
               ErrorCode::VALIDATION_WRONG_TYPE, "messages/0/content");
  expect_error(openai,
               R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":1}]}]})",
               ErrorCode::VALIDATION_WRONG_TYPE, "messages/0/content/0/text");
  expect_error(openai, R"({"model":"m","messages":[],"max_tokens":"10"})",
               ErrorCode::VALIDATION_WRONG_TYPE, "max_tokens");
  expect_error(openai, R"({"model":"m","messages":[],"max_tokens":10.5})",
               ErrorCode::VALIDATION_WRONG_TYPE, "max_tokens");
  expect_error(openai, R"({"model":"m","messages":[],"max_tokens":0})",
               ErrorCode::VALIDATION_INVALID_VALUE, "max_tokens");
  expect_error(openai, R"({"model":"m","messages":[],"max_tokens":-3})",
               ErrorCode::VALIDATION_INVALID_VALUE, "max_tokens");
  expect_error(openai, R"({"model":"m","messages":[],"max_tokens":18446744073709551615})",
               ErrorCode::VALIDATION_INVALID_VALUE, "max_tokens");
  expect_error(openai, R"({"model":"m","messages":[],"stream":"yes"})",
               ErrorCode::VALIDATION_WRONG_TYPE, "stream");
  expect_error(openai, R"({"model":"m","messages":[],"stream_options":{"include_usage":1}})",
               ErrorCode::VALIDATION_WRONG_TYPE, "stream_options/include_usage");
  expect_error(
      openai,
      R"({"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":3}}]})",
      ErrorCode::VALIDATION_WRONG_TYPE, "tools/0/function/name");
  expect_error(target(Provider::kGemini, "g"), R"({"contents":[{"parts":[{"text":["a"]}]}]})",
               ErrorCode::VALIDATION_WRONG_TYPE, "contents/0/parts/0/text");
  expect_error(target(Provider::kCohere),
               R"({"model":"c","messages":[{"role":"user"}],"max_tokens":true})",
               ErrorCode::VALIDATION_WRONG_TYPE, "max_tokens");
}

TEST(GatewayRequest, BodiesPastTheBoundAreRefused) {
  std::string body = R"({"model":"m","messages":[{"role":"user","content":")";
  body.append(kRequestBodyBytesMax, 'a');
  body += R"("}]})";
  auto r = parse_request(target(Provider::kOpenAI), body);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::VALIDATION_BODY_TOO_LARGE);
  EXPECT_EQ(field_of(r.status()), "request");
}

TEST(GatewayRequest, ProviderNamesRoundTrip) {
  for (Provider p : {Provider::kOpenAI, Provider::kAzureOpenAI, Provider::kAnthropic,
                     Provider::kCohere, Provider::kGemini}) {
    auto back = parse_provider(provider_name(p));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, p);
  }
  auto bad = parse_provider("OpenAI");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), ErrorCode::VALIDATION_INVALID_VALUE);
}

}  // namespace
}  // namespace warden::gateway
