// Deterministic mutation testing of the adapters, run in CTest over many seeds: mutated
// requests, responses and SSE streams must never crash and must either parse or fail with a
// validation code; a stream must give the same answer however its bytes are split; and the
// valid bodies, split at random, must still parse to their values. fuzz/gateway_fuzz.cc is the
// libFuzzer counterpart (scripts/fuzz-gateway.sh).
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "gateway/adapters.h"
#include "gateway/test_bodies.h"

namespace warden::gateway {
namespace {

using namespace testing;

constexpr int kSeeds = 20000;

// Bytes that matter to JSON and SSE, spliced in by the mutator.
const char* const kTokens[] = {"\"",
                               "{",
                               "}",
                               "[",
                               "]",
                               ":",
                               ",",
                               "null",
                               "true",
                               "-1",
                               "1e400",
                               "0.5",
                               "18446744073709551616",
                               "\n",
                               "\r",
                               "\r\n",
                               "\n\n",
                               "data: ",
                               "data:",
                               "event: ",
                               ": ",
                               "[DONE]",
                               "\\u0000",
                               "\\ud800",
                               "\xff",
                               "\xC3",
                               "\xF0\x9F",
                               "\"usage\":",
                               "\"prompt_tokens\":",
                               "\"text\":",
                               "{\"a\":"};

std::string mutate(std::string s, std::mt19937& rng) {
  const int ops = 1 + static_cast<int>(rng() % 4);
  for (int op = 0; op < ops; ++op) {
    const std::size_t at = s.empty() ? 0 : rng() % (s.size() + 1);
    switch (rng() % 6) {
      case 0:
        if (!s.empty() && at < s.size()) s[at] = static_cast<char>(rng() % 256);
        break;
      case 1:
        s.insert(at, kTokens[rng() % std::size(kTokens)]);
        break;
      case 2:
        s.erase(at, rng() % 16);
        break;
      case 3:
        s.resize(at);
        break;
      case 4: {
        const std::size_t len =
            std::min<std::size_t>(rng() % 64, s.size() - std::min(at, s.size()));
        s.insert(at, s.substr(at, len));
        break;
      }
      default:
        if (at < s.size()) s.insert(at, 1, s[at]);
        break;
    }
  }
  return s;
}

bool is_validation_code(ErrorCode code) {
  switch (code) {
    case ErrorCode::VALIDATION_MALFORMED_JSON:
    case ErrorCode::VALIDATION_DUPLICATE_KEY:
    case ErrorCode::VALIDATION_WRONG_TYPE:
    case ErrorCode::VALIDATION_MISSING_FIELD:
    case ErrorCode::VALIDATION_INVALID_VALUE:
    case ErrorCode::VALIDATION_BODY_TOO_LARGE:
      return true;
    default:
      return false;
  }
}

void check_usage(const std::optional<Usage>& u) {
  if (!u) return;
  ASSERT_GE(u->prompt_tokens, 0);
  ASSERT_GE(u->completion_tokens, 0);
  ASSERT_GE(u->total_tokens, 0);
  ASSERT_FALSE(u->estimated);
}

struct StreamRun {
  Status status;
  StreamSummary summary;
};

StreamRun run_stream(Provider p, std::string_view body, std::mt19937* rng) {
  StreamParser parser(p);
  StreamRun out;
  std::size_t from = 0;
  while (from < body.size() && out.status.ok()) {
    const std::size_t len = rng == nullptr ? body.size() : 1 + (*rng)() % 40;
    out.status = parser.feed(body.substr(from, len), nullptr);
    from += len;
  }
  if (!out.status.ok()) return out;
  auto finished = parser.finish();
  if (!finished.ok()) {
    out.status = finished.status();
  } else {
    out.summary = *finished;
  }
  return out;
}

TEST(GatewayFuzz, MutatedRequestsParseOrFailWithAValidationCode) {
  struct Body {
    RequestTarget target;
    const char* text;
  };
  RequestTarget embeddings;
  embeddings.operation = Operation::kEmbeddings;
  RequestTarget gemini;
  gemini.provider = Provider::kGemini;
  gemini.path_model = "gemini-2.5-flash";
  RequestTarget anthropic;
  anthropic.provider = Provider::kAnthropic;
  RequestTarget cohere;
  cohere.provider = Provider::kCohere;
  const Body bodies[] = {{RequestTarget{}, kOpenAiChatRequest},
                         {embeddings, kOpenAiEmbeddingsRequest},
                         {anthropic, kAnthropicRequest},
                         {cohere, kCohereRequest},
                         {gemini, kGeminiRequest}};
  std::mt19937 rng(1);
  for (const Body& b : bodies) {
    int parsed = 0;
    for (int seed = 0; seed < kSeeds; ++seed) {
      const std::string input = mutate(b.text, rng);
      auto r = parse_request(b.target, input);
      parsed += r.ok();
      if (r.ok()) {
        ASSERT_EQ(r->body_bytes, input.size());
        if (r->max_output_tokens) {
          ASSERT_GE(*r->max_output_tokens, 1);
        }
      } else {
        ASSERT_TRUE(is_validation_code(r.status().code())) << r.status().to_string();
      }
    }
    // The mutations reach past the JSON syntax into the adapters' own checks.
    EXPECT_GT(parsed, kSeeds / 20) << b.text;
    EXPECT_LT(parsed, kSeeds - kSeeds / 20) << b.text;
  }
}

TEST(GatewayFuzz, MutatedResponsesParseOrFailWithAValidationCode) {
  const std::pair<Provider, const char*> bodies[] = {
      {Provider::kOpenAI,
       R"({"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"Hi",
       "tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]}}],
       "usage":{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29}})"},
      {Provider::kAnthropic,
       R"({"id":"m","type":"message","model":"claude","content":[{"type":"text","text":"P"},
       {"type":"tool_use","id":"t","name":"n","input":{"a":[1]}}],
       "usage":{"input_tokens":12,"cache_read_input_tokens":3,"output_tokens":7}})"},
      {Provider::kCohere,
       R"({"id":"c","finish_reason":"COMPLETE","message":{"role":"assistant","content":[
       {"type":"text","text":"T"}]},"usage":{"billed_units":{"input_tokens":5,"output_tokens":2}}})"},
      {Provider::kGemini,
       R"({"candidates":[{"content":{"parts":[{"text":"M"},{"functionCall":{"name":"f","args":{}}}],
       "role":"model"},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":11,
       "candidatesTokenCount":2,"totalTokenCount":13},"modelVersion":"g"})"}};
  std::mt19937 rng(2);
  for (const auto& [provider, text] : bodies) {
    auto valid = parse_response(provider, Operation::kChat, text);
    ASSERT_TRUE(valid.ok()) << valid.status().to_string();
    ASSERT_TRUE(valid->usage.has_value());
    for (int seed = 0; seed < kSeeds; ++seed) {
      auto r = parse_response(provider, Operation::kChat, mutate(text, rng));
      if (r.ok()) {
        check_usage(r->usage);
      } else {
        ASSERT_TRUE(is_validation_code(r.status().code())) << r.status().to_string();
      }
    }
  }
}

TEST(GatewayFuzz, MutatedStreamsGiveTheSameAnswerHoweverSplit) {
  std::mt19937 rng(3);
  for (const StreamCase& c : stream_cases()) {
    int parsed = 0;
    for (int seed = 0; seed < kSeeds; ++seed) {
      const std::string input = mutate(c.body, rng);
      StreamRun whole = run_stream(c.provider, input, nullptr);
      StreamRun split = run_stream(c.provider, input, &rng);
      ASSERT_EQ(whole.status.code(), split.status.code())
          << c.name << " seed " << seed << ": " << whole.status.to_string() << " vs "
          << split.status.to_string();
      if (!whole.status.ok()) {
        ASSERT_TRUE(is_validation_code(whole.status.code())) << whole.status.to_string();
        continue;
      }
      ++parsed;
      check_usage(whole.summary.usage);
      ASSERT_EQ(whole.summary.usage, split.summary.usage) << c.name << " seed " << seed;
      ASSERT_EQ(whole.summary.text, split.summary.text) << c.name << " seed " << seed;
      ASSERT_EQ(whole.summary.events, split.summary.events) << c.name << " seed " << seed;
      ASSERT_EQ(whole.summary.truncated, split.summary.truncated) << c.name << " seed " << seed;
    }
    EXPECT_GT(parsed, kSeeds / 20) << c.name;
    EXPECT_LT(parsed, kSeeds - kSeeds / 20) << c.name;
  }
}

TEST(GatewayFuzz, ValidStreamsSplitAtRandomKeepTheirValues) {
  std::mt19937 rng(4);
  for (const StreamCase& c : stream_cases()) {
    for (int seed = 0; seed < kSeeds / 4; ++seed) {
      StreamRun r = run_stream(c.provider, c.body, &rng);
      ASSERT_TRUE(r.status.ok()) << c.name << ": " << r.status.to_string();
      ASSERT_EQ(r.summary.usage, c.usage) << c.name;
      ASSERT_EQ(r.summary.text, c.text) << c.name;
      ASSERT_TRUE(r.summary.done) << c.name;
      ASSERT_FALSE(r.summary.truncated) << c.name;
    }
  }
}

TEST(GatewayFuzz, RandomBytesNeverCrash) {
  std::mt19937 rng(5);
  for (int seed = 0; seed < kSeeds; ++seed) {
    std::string bytes(rng() % 200, '\0');
    for (char& ch : bytes) ch = static_cast<char>(rng() % 256);
    for (Provider p :
         {Provider::kOpenAI, Provider::kAnthropic, Provider::kCohere, Provider::kGemini}) {
      RequestTarget t;
      t.provider = p;
      t.path_model = "m";
      auto req = parse_request(t, bytes);
      if (!req.ok()) {
        ASSERT_TRUE(is_validation_code(req.status().code()));
      }
      auto resp = parse_response(p, Operation::kChat, bytes);
      if (!resp.ok()) {
        ASSERT_TRUE(is_validation_code(resp.status().code()));
      }
      StreamRun s = run_stream(p, bytes, &rng);
      if (!s.status.ok()) {
        ASSERT_TRUE(is_validation_code(s.status.code()));
      }
    }
  }
}

}  // namespace
}  // namespace warden::gateway
