// Estimates join the adapters and the tokenizer exactly as each counts alone; costs are exact
// and round up.
#include "gateway/estimate.h"

#include <gtest/gtest.h>

#include "tokenize/tokenize.h"

namespace warden::gateway {
namespace {

RequestFacts chat_facts(const std::string& provider_body, Provider provider = Provider::kOpenAI) {
  RequestTarget target;
  target.provider = provider;
  auto facts = parse_request(target, provider_body);
  EXPECT_TRUE(facts.ok()) << facts.status().to_string();
  return facts.ok() ? *facts : RequestFacts{};
}

TEST(Estimate, AChatRequestIsItsMessagesAsTheChatFormatCountsThemPlusItsMostOutput) {
  const RequestFacts f = chat_facts(
      R"({"model":"gpt-4o","max_tokens":256,"messages":[)"
      R"({"role":"system","content":"You are terse."},)"
      R"({"role":"user","name":"ann","content":"How many tokens is this sentence?"}]})");
  const Estimate e = estimate_request(f, 4096, std::nullopt);
  const std::vector<tokenize::ChatMessage> chat = {
      {"system", "You are terse.", ""}, {"user", "How many tokens is this sentence?", "ann"}};
  EXPECT_EQ(e.prompt_tokens, tokenize::count_chat("gpt-4o", chat).tokens);
  EXPECT_GT(e.prompt_tokens, 10u);
  EXPECT_EQ(e.max_output_tokens, 256u);
  EXPECT_EQ(e.total_tokens(), e.prompt_tokens + 256);
  EXPECT_TRUE(e.exact);
  EXPECT_FALSE(e.cost.has_value());
}

TEST(Estimate, WithoutAMaxTheDefaultAppliesAndOtherProvidersAreEstimated) {
  const RequestFacts f = chat_facts(
      R"({"model":"claude-sonnet-4","max_tokens":100,"messages":[{"role":"user","content":"hi"}]})",
      Provider::kAnthropic);
  const Estimate e = estimate_request(f, 4096, std::nullopt);
  EXPECT_FALSE(e.exact);
  EXPECT_EQ(e.max_output_tokens, 100u);
  RequestFacts no_max = chat_facts(R"({"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]})");
  EXPECT_EQ(estimate_request(no_max, 4096, std::nullopt).max_output_tokens, 4096u);
}

TEST(Estimate, EmbeddingInputsCountAsTextAndTokenIdsAsThemselves) {
  RequestTarget target;
  target.operation = Operation::kEmbeddings;
  auto f = parse_request(target, R"({"model":"text-embedding-3-small","input":["hello world","bye"]})");
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  const Estimate e = estimate_request(*f, 0, std::nullopt);
  EXPECT_EQ(e.prompt_tokens, tokenize::count_text("text-embedding-3-small", "hello world").tokens +
                                 tokenize::count_text("text-embedding-3-small", "bye").tokens);
  EXPECT_EQ(e.max_output_tokens, 0u);
  auto ids = parse_request(target, R"({"model":"text-embedding-3-small","input":[[1,2,3]]})");
  ASSERT_TRUE(ids.ok()) << ids.status().to_string();
  EXPECT_EQ(estimate_request(*ids, 0, std::nullopt).prompt_tokens, 3u);
}

TEST(Estimate, CostsAreExactAndRoundUp) {
  const Prices p{Amount(150), Amount(600)};  // micro-USD per 1k tokens
  EXPECT_EQ(cost_of(1000, 1000, p), Amount(750));
  EXPECT_EQ(cost_of(1, 0, p), Amount(1));  // 0.15 rounds up to 1
  EXPECT_EQ(cost_of(0, 0, p), Amount(0));
  EXPECT_EQ(cost_of(2000, 1, p), Amount(301));  // 300.6
  const Prices huge{Amount::parse("100000000000000000000000").value(), Amount(0)};
  EXPECT_EQ(cost_of(3000, 0, huge), Amount::parse("300000000000000000000000").value());
  const RequestFacts f = chat_facts(
      R"({"model":"gpt-4o","max_tokens":1000,"messages":[{"role":"user","content":"hi"}]})");
  const Estimate e = estimate_request(f, 0, p);
  ASSERT_TRUE(e.cost.has_value());
  EXPECT_EQ(*e.cost, cost_of(e.prompt_tokens, 1000, p));
}

}  // namespace
}  // namespace warden::gateway
