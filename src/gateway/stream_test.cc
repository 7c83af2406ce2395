// Streamed responses: every provider's SSE stream gives the same text and usage however its
// bytes are split; missing usage, truncation, malformed events and SSE edge cases.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "gateway/adapters.h"
#include "gateway/test_bodies.h"

namespace warden::gateway {
namespace {

using namespace testing;

struct Outcome {
  StreamSummary summary;
  std::string deltas;  // the events' text joined
  std::vector<std::string> event_names;
  int usage_events = 0;
};

// Feeds the stream in the pieces cut at `cuts` (ascending offsets).
Result<Outcome> run(Provider p, std::string_view body, const std::vector<std::size_t>& cuts) {
  StreamParser parser(p);
  Outcome o;
  std::vector<StreamEvent> events;
  std::size_t from = 0;
  for (std::size_t i = 0; i <= cuts.size(); ++i) {
    const std::size_t to = i < cuts.size() ? cuts[i] : body.size();
    WARDEN_RETURN_IF_ERROR(parser.feed(body.substr(from, to - from), &events));
    from = to;
  }
  WARDEN_ASSIGN_OR_RETURN(o.summary, parser.finish());
  for (const StreamEvent& e : events) {
    o.deltas += e.text;
    o.event_names.push_back(e.event);
    if (e.usage) ++o.usage_events;
  }
  return o;
}

void expect_same(const Outcome& a, const Outcome& b, const std::string& where) {
  EXPECT_EQ(a.summary.usage, b.summary.usage) << where;
  EXPECT_EQ(a.summary.prompt_tokens, b.summary.prompt_tokens) << where;
  EXPECT_EQ(a.summary.text, b.summary.text) << where;
  EXPECT_EQ(a.summary.events, b.summary.events) << where;
  EXPECT_EQ(a.summary.done, b.summary.done) << where;
  EXPECT_EQ(a.summary.truncated, b.summary.truncated) << where;
  EXPECT_EQ(a.summary.model, b.summary.model) << where;
  EXPECT_EQ(a.deltas, b.deltas) << where;
  EXPECT_EQ(a.event_names, b.event_names) << where;
  EXPECT_EQ(a.usage_events, b.usage_events) << where;
}

TEST(GatewayStream, EachProviderYieldsItsTextAndFinalUsage) {
  for (const StreamCase& c : stream_cases()) {
    auto o = run(c.provider, c.body, {});
    ASSERT_TRUE(o.ok()) << c.name << ": " << o.status().to_string();
    ASSERT_TRUE(o->summary.usage.has_value()) << c.name;
    EXPECT_EQ(*o->summary.usage, c.usage) << c.name;
    EXPECT_EQ(o->summary.text, c.text) << c.name;
    EXPECT_EQ(o->deltas, c.text) << c.name;
    EXPECT_TRUE(o->summary.done) << c.name;
    EXPECT_FALSE(o->summary.truncated) << c.name;
    EXPECT_EQ(o->usage_events, 1) << c.name;
  }
}

TEST(GatewayStream, ProviderDetailsOfEachStream) {
  auto openai = run(Provider::kOpenAI, kOpenAiStream, {});
  ASSERT_TRUE(openai.ok());
  EXPECT_EQ(openai->summary.events, 6);
  EXPECT_EQ(openai->summary.model, "gpt-4o-mini");
  auto anthropic = run(Provider::kAnthropic, kAnthropicStream, {});
  ASSERT_TRUE(anthropic.ok());
  EXPECT_EQ(anthropic->summary.prompt_tokens, 35);
  EXPECT_EQ(anthropic->summary.model, "claude-sonnet-4-5");
  EXPECT_EQ(anthropic->event_names.front(), "message_start");
  EXPECT_EQ(anthropic->event_names.back(), "message_stop");
  auto gemini = run(Provider::kGemini, kGeminiStream, {});
  ASSERT_TRUE(gemini.ok());
  EXPECT_EQ(gemini->summary.model, "gemini-2.5-flash");
  EXPECT_EQ(gemini->summary.events, 2);
}

TEST(GatewayStream, SplittingAtEveryByteBoundaryChangesNothing) {
  for (const StreamCase& c : stream_cases()) {
    auto whole = run(c.provider, c.body, {});
    ASSERT_TRUE(whole.ok()) << c.name;
    for (std::size_t cut = 0; cut <= c.body.size(); ++cut) {
      auto split = run(c.provider, c.body, {cut});
      ASSERT_TRUE(split.ok()) << c.name << " cut " << cut << ": " << split.status().to_string();
      expect_same(*whole, *split, std::string(c.name) + " cut at " + std::to_string(cut));
      if (::testing::Test::HasFailure()) return;
    }
    std::vector<std::size_t> every;
    for (std::size_t i = 1; i < c.body.size(); ++i) every.push_back(i);
    auto bytewise = run(c.provider, c.body, every);
    ASSERT_TRUE(bytewise.ok()) << c.name;
    expect_same(*whole, *bytewise, std::string(c.name) + " one byte at a time");
    std::mt19937 rng(20261130);
    for (int round = 0; round < 200; ++round) {
      std::vector<std::size_t> cuts;
      for (std::size_t i = 1; i < c.body.size(); ++i) {
        if (rng() % 7 == 0) cuts.push_back(i);
      }
      auto random = run(c.provider, c.body, cuts);
      ASSERT_TRUE(random.ok()) << c.name;
      expect_same(*whole, *random, std::string(c.name) + " random round " + std::to_string(round));
    }
  }
}

TEST(GatewayStream, OpenAiWithoutIncludeUsageEndsWithoutUsage) {
  std::string body = kOpenAiStream;
  const std::size_t usage_chunk = body.find("data: {", body.find("\"finish_reason\":\"stop\""));
  body.erase(usage_chunk, body.find("data: [DONE]") - usage_chunk);
  auto o = run(Provider::kOpenAI, body, {});
  ASSERT_TRUE(o.ok()) << o.status().to_string();
  EXPECT_FALSE(o->summary.usage.has_value());
  EXPECT_FALSE(o->summary.prompt_tokens.has_value());
  EXPECT_TRUE(o->summary.done);
  EXPECT_FALSE(o->summary.truncated);
  EXPECT_EQ(o->summary.text, kOpenAiStreamText);
}

TEST(GatewayStream, TruncatedStreamsSayWhatTheyKnow) {
  const std::string anthropic = kAnthropicStream;
  // Cut inside message_delta: only message_start's prompt count is known.
  auto mid =
      run(Provider::kAnthropic, anthropic.substr(0, anthropic.find("output_tokens\":15")), {});
  ASSERT_TRUE(mid.ok());
  EXPECT_FALSE(mid->summary.usage.has_value());
  EXPECT_EQ(mid->summary.prompt_tokens, 35);
  EXPECT_FALSE(mid->summary.done);
  EXPECT_TRUE(mid->summary.truncated);
  // Cut before message_stop: the usage came, the end marker did not.
  auto late =
      run(Provider::kAnthropic, anthropic.substr(0, anthropic.find("event: message_stop")), {});
  ASSERT_TRUE(late.ok());
  ASSERT_TRUE(late->summary.usage.has_value());
  EXPECT_EQ(late->summary.usage->completion_tokens, 15);
  EXPECT_TRUE(late->summary.truncated);
  // Gemini: usage before the finish is not final.
  const std::string gemini = kGeminiStream;
  auto first = run(Provider::kGemini, gemini.substr(0, gemini.find("data:", 10)), {});
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(first->summary.usage.has_value());
  EXPECT_EQ(first->summary.prompt_tokens, 8);
  EXPECT_EQ(first->summary.text, "Once");
  EXPECT_TRUE(first->summary.truncated);
  // OpenAI cut inside the last event: the event is not dispatched, and the cut is reported.
  const std::string openai = kOpenAiStream;
  auto cut = run(Provider::kOpenAI, openai.substr(0, openai.size() - 3), {});
  ASSERT_TRUE(cut.ok());
  EXPECT_TRUE(cut->summary.usage.has_value());
  EXPECT_FALSE(cut->summary.done);
  EXPECT_TRUE(cut->summary.truncated);
}

TEST(GatewayStream, MalformedEventIsAnErrorThatStays) {
  StreamParser parser(Provider::kOpenAI);
  std::vector<StreamEvent> events;
  ASSERT_TRUE(parser.feed("data: {\"choices\":[]}\n\n", &events).ok());
  Status bad = parser.feed("data: {\"choices\":[\n\n", &events);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.code(), ErrorCode::VALIDATION_MALFORMED_JSON);
  EXPECT_EQ(bad.details().at("field").as_string(), "data");
  EXPECT_EQ(bad.details().at("event_index").as_int64(), 1);
  EXPECT_EQ(parser.feed("data: [DONE]\n\n", &events).code(), ErrorCode::VALIDATION_MALFORMED_JSON);
  EXPECT_EQ(parser.finish().status().code(), ErrorCode::VALIDATION_MALFORMED_JSON);
  EXPECT_EQ(events.size(), 1u);
}

TEST(GatewayStream, WrongTypesInEventsNameTheField) {
  struct Case {
    Provider p;
    const char* stream;
    ErrorCode code;
    const char* field;
  };
  const Case cases[] = {
      {Provider::kOpenAI, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":\"9\"}}\n\n",
       ErrorCode::VALIDATION_WRONG_TYPE, "usage/prompt_tokens"},
      {Provider::kOpenAI, "data: {\"choices\":[{\"delta\":{\"content\":[1]}}]}\n\n",
       ErrorCode::VALIDATION_WRONG_TYPE, "choices/0/delta/content"},
      {Provider::kOpenAI, "data: [1]\n\n", ErrorCode::VALIDATION_WRONG_TYPE, "data"},
      {Provider::kAnthropic,
       "event: message_delta\ndata: "
       "{\"type\":\"message_delta\",\"usage\":{\"output_tokens\":-2}}\n\n",
       ErrorCode::VALIDATION_INVALID_VALUE, "usage/output_tokens"},
      {Provider::kAnthropic, "data: {\"type\":\"message_start\"}\n\n",
       ErrorCode::VALIDATION_MISSING_FIELD, "message"},
      {Provider::kCohere,
       "data: {\"type\":\"content-delta\",\"delta\":{\"message\":{\"content\":{\"text\":5}}}}\n\n",
       ErrorCode::VALIDATION_WRONG_TYPE, "delta/message/content/text"},
      {Provider::kGemini, "data: {\"usageMetadata\":{\"promptTokenCount\":true}}\n\n",
       ErrorCode::VALIDATION_WRONG_TYPE, "usageMetadata/promptTokenCount"},
      {Provider::kGemini, "data: not json\n\n", ErrorCode::VALIDATION_MALFORMED_JSON, "data"},
  };
  for (const Case& c : cases) {
    StreamParser parser(c.p);
    Status s = parser.feed(c.stream, nullptr);
    ASSERT_FALSE(s.ok()) << c.stream;
    EXPECT_EQ(s.code(), c.code) << s.to_string();
    EXPECT_EQ(s.details().at("field").as_string(), c.field) << s.to_string();
  }
}

TEST(GatewayStream, SseEdgeCasesFollowTheFormat) {
  // A BOM, comments, CR-only line ends, "data:" without a space, an id and retry field, and an
  // event split over two data lines (joined with a newline).
  const std::string body =
      "\xEF\xBB\xBF: keep-alive\r"
      "id: 1\rretry: 100\r"
      "data:{\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\r\r"
      "data: {\"choices\":[{\"delta\":\r"
      "data: {\"content\":\"b\"}}]}\n\n"
      "event: ignored-without-data\n\n"
      "data: [DONE]\n\n";
  auto o = run(Provider::kOpenAI, body, {});
  ASSERT_TRUE(o.ok()) << o.status().to_string();
  EXPECT_EQ(o->summary.text, "ab");
  EXPECT_EQ(o->summary.events, 3);
  EXPECT_TRUE(o->summary.done);
  EXPECT_FALSE(o->summary.truncated);
  for (std::size_t cut = 0; cut <= body.size(); ++cut) {
    auto split = run(Provider::kOpenAI, body, {cut});
    ASSERT_TRUE(split.ok()) << cut;
    expect_same(*o, *split, "cut at " + std::to_string(cut));
  }
}

TEST(GatewayStream, UpstreamErrorEventsAreReported) {
  auto anthropic = run(Provider::kAnthropic,
                       "event: error\ndata: {\"type\": \"error\", \"error\": {\"type\": "
                       "\"overloaded_error\", \"message\": \"Overloaded\"}}\n\n",
                       {});
  ASSERT_TRUE(anthropic.ok());
  EXPECT_EQ(anthropic->summary.upstream_error, "Overloaded");
  EXPECT_TRUE(anthropic->summary.truncated);
  auto openai = run(Provider::kOpenAI,
                    "data: {\"error\": {\"message\": \"server_error\", \"type\": \"x\"}}\n\n", {});
  ASSERT_TRUE(openai.ok());
  EXPECT_EQ(openai->summary.upstream_error, "server_error");
}

TEST(GatewayStream, ToolCallsAndPlansAreStreamedText) {
  auto openai = run(Provider::kOpenAI,
                    "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
                    "\"content\":null,\"tool_calls\":[{\"index\":0,\"id\":\"call_1\","
                    "\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
                    "\"arguments\":\"\"}}]}}]}\n\n"
                    "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
                    "\"function\":{\"arguments\":\"{\\\"loc\"}}]}}]}\n\n"
                    "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
                    "\"function\":{\"arguments\":\"\\\":1}\"}}]}}]}\n\n"
                    "data: [DONE]\n\n",
                    {});
  ASSERT_TRUE(openai.ok()) << openai.status().to_string();
  EXPECT_EQ(openai->summary.text, "get_weather{\"loc\":1}");
  auto cohere = run(Provider::kCohere,
                    "event: tool-plan-delta\n"
                    "data: {\"type\":\"tool-plan-delta\",\"delta\":{\"message\":{\"tool_plan\":"
                    "\"I will\"}}}\n\n"
                    "event: tool-call-start\n"
                    "data: {\"type\":\"tool-call-start\",\"index\":0,\"delta\":{\"message\":"
                    "{\"tool_calls\":{\"id\":\"t1\",\"type\":\"function\",\"function\":"
                    "{\"name\":\"search\",\"arguments\":\"\"}}}}}\n\n"
                    "event: tool-call-delta\n"
                    "data: {\"type\":\"tool-call-delta\",\"index\":0,\"delta\":{\"message\":"
                    "{\"tool_calls\":{\"function\":{\"arguments\":\"{}\"}}}}}\n\n"
                    "event: tool-call-end\ndata: {\"type\":\"tool-call-end\",\"index\":0}\n\n"
                    "event: message-end\n"
                    "data: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"TOOL_CALL\","
                    "\"usage\":{\"tokens\":{\"input_tokens\":30,\"output_tokens\":9}}}}\n\n",
                    {});
  ASSERT_TRUE(cohere.ok()) << cohere.status().to_string();
  EXPECT_EQ(cohere->summary.text, "I willsearch{}");
  EXPECT_EQ(cohere->summary.usage, (Usage{30, 9, 39, false}));
}

TEST(GatewayStream, AnthropicMessageDeltaInputCountsReplaceTheStartCounts) {
  // Server tools can add input after message_start; message_delta then repeats the counts.
  auto o = run(Provider::kAnthropic,
               "event: message_start\n"
               "data: {\"type\":\"message_start\",\"message\":{\"model\":\"claude\","
               "\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}\n\n"
               "event: message_delta\n"
               "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},"
               "\"usage\":{\"input_tokens\":470,\"cache_read_input_tokens\":2,"
               "\"output_tokens\":40}}\n\n"
               "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
               {});
  ASSERT_TRUE(o.ok()) << o.status().to_string();
  EXPECT_EQ(o->summary.usage, (Usage{472, 40, 512, false}));
  EXPECT_EQ(o->summary.prompt_tokens, 472);
}

TEST(GatewayStream, LinesPastTheBoundAreRefused) {
  StreamParser parser(Provider::kOpenAI);
  const std::string chunk(1 << 20, 'x');
  Status s;
  for (std::size_t fed = 0; fed <= kSseLineBytesMax && s.ok(); fed += chunk.size()) {
    s = parser.feed(fed == 0 ? "data: " + chunk : chunk, nullptr);
  }
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), ErrorCode::VALIDATION_BODY_TOO_LARGE);
  EXPECT_EQ(s.details().at("field").as_string(), "sse_line");
}

}  // namespace
}  // namespace warden::gateway
