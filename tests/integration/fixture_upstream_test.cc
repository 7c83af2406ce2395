// The fake LLM provider (tests/fixtures/llm_upstream.mjs) over loopback, read with the gateway's
// own adapters: each provider's JSON and streamed answers give the text and usage the request
// headers asked for, and the failure modes look to the adapters as real failures do.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <iostream>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gateway/adapters.h"
#include "support/http_client.h"
#include "support/raw_http.h"
#include "support/upstream_fixture.h"

namespace warden::testing {
namespace {

using gateway::Operation;
using gateway::Provider;
using gateway::StreamEvent;
using gateway::StreamParser;
using gateway::StreamSummary;
using gateway::Usage;

constexpr int kWords = 7;
constexpr int kPromptTokens = 23;
constexpr int kWaitMs = 5000;

std::string expected_text(int words) {
  std::string out;
  for (int i = 0; i < words; ++i) out += i == 0 ? "hello" : " hello";
  return out;
}

Usage expected_usage(int prompt, int completion) {
  Usage u;
  u.prompt_tokens = prompt;
  u.completion_tokens = completion;
  u.total_tokens = prompt + completion;
  return u;
}

struct ProviderCase {
  const char* name;
  Provider provider;
  const char* model;  // what the answer names
  std::string json_target;
  std::string json_body;
  std::string stream_target;
  std::string stream_body;
};

const char* kChatMessages = R"("messages":[{"role":"user","content":"Say hello."}])";

std::vector<ProviderCase> provider_cases() {
  const std::string messages = kChatMessages;
  const std::string gemini_body =
      R"({"contents":[{"role":"user","parts":[{"text":"Say hello."}]}]})";
  return {
      {"OpenAI", Provider::kOpenAI, "gpt-4o-mini", "/v1/chat/completions",
       R"({"model":"gpt-4o-mini",)" + messages + "}", "/v1/chat/completions",
       R"({"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},)" +
           messages + "}"},
      {"Azure", Provider::kAzureOpenAI, "chat-prod",
       "/openai/deployments/chat-prod/chat/completions?api-version=2024-10-21",
       "{" + messages + "}",
       "/openai/deployments/chat-prod/chat/completions?api-version=2024-10-21",
       R"({"stream":true,"stream_options":{"include_usage":true},)" + messages + "}"},
      {"Anthropic", Provider::kAnthropic, "claude-3-5-haiku-latest", "/v1/messages",
       R"({"model":"claude-3-5-haiku-latest","max_tokens":64,)" + messages + "}", "/v1/messages",
       R"({"model":"claude-3-5-haiku-latest","max_tokens":64,"stream":true,)" + messages + "}"},
      {"Cohere", Provider::kCohere, "", "/v2/chat",
       R"({"model":"command-r-plus",)" + messages + "}", "/v2/chat",
       R"({"model":"command-r-plus","stream":true,)" + messages + "}"},
      {"Gemini", Provider::kGemini, "gemini-2.0-flash",
       "/v1beta/models/gemini-2.0-flash:generateContent", gemini_body,
       "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse", gemini_body},
  };
}

Headers fixture_headers(std::string mode = "ok", int words = kWords) {
  return {{"x-fixture-mode", std::move(mode)},
          {"x-fixture-words", std::to_string(words)},
          {"x-fixture-prompt-tokens", std::to_string(kPromptTokens)}};
}

struct StreamResult {
  Status feed_status;  // the first feed() error, if any
  std::vector<StreamEvent> events;
  Result<StreamSummary> summary = Status(ErrorCode::INTERNAL_ERROR, "not finished");
};

// Feeds the body in the pieces it arrived in, as a proxy would.
StreamResult parse_stream(Provider provider, const RawResponse& r) {
  StreamResult out;
  StreamParser parser(provider);
  for (const std::string& piece : r.pieces) {
    Status s = parser.feed(piece, &out.events);
    if (!s.ok()) {
      out.feed_status = s;
      break;
    }
  }
  out.summary = parser.finish();
  return out;
}

class FixtureUpstream : public ::testing::Test {
 protected:
  void SetUp() override {
    upstream_ = std::make_unique<UpstreamFixture>();
    ASSERT_TRUE(upstream_->started()) << upstream_->error();
  }
  void TearDown() override {
    if (HasFailure() && upstream_) std::cerr << "--- fixture log ---\n" << upstream_->log();
  }

  RawResponse raw(const std::string& target, const std::string& body, Headers headers,
                  int idle_timeout_ms = kWaitMs) {
    RawRequest req;
    req.target = target;
    req.body = body;
    req.headers = std::move(headers);
    req.idle_timeout_ms = idle_timeout_ms;
    return raw_exchange(upstream_->port(), req);
  }

  // Polls the disconnect count until it reaches `want` (the fixture sees the close a moment
  // after the client made it).
  int wait_disconnects(int want) {
    int n = -1;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kWaitMs);
    while (std::chrono::steady_clock::now() < deadline) {
      n = upstream_->disconnects();
      if (n >= want) return n;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return n;
  }

  std::unique_ptr<UpstreamFixture> upstream_;
};

TEST_F(FixtureUpstream, EachProviderJsonAnswerParses) {
  HttpClient client(upstream_->port());
  for (const ProviderCase& c : provider_cases()) {
    SCOPED_TRACE(c.name);
    Response r = client.request("POST", c.json_target, c.json_body, fixture_headers());
    ASSERT_EQ(r.status, 200) << r.describe();
    EXPECT_EQ(r.header("content-type"), "application/json");
    auto facts = gateway::parse_response(c.provider, Operation::kChat, r.body);
    ASSERT_TRUE(facts.ok()) << facts.status().message() << "\n" << r.body;
    EXPECT_EQ(facts->text, expected_text(kWords));
    ASSERT_TRUE(facts->usage.has_value()) << r.body;
    EXPECT_EQ(*facts->usage, expected_usage(kPromptTokens, kWords));
    EXPECT_EQ(facts->model, c.model);
    EXPECT_EQ(facts->upstream_error, "");
  }
  // Every answer came on one kept-alive connection.
  EXPECT_EQ(client.connects(), 1);
}

TEST_F(FixtureUpstream, EachProviderStreamParsesOneWordPerEvent) {
  for (const ProviderCase& c : provider_cases()) {
    SCOPED_TRACE(c.name);
    RawResponse r = raw(c.stream_target, c.stream_body, fixture_headers());
    ASSERT_EQ(r.status, 200) << r.error << r.body;
    ASSERT_TRUE(r.complete) << r.body;
    EXPECT_EQ(r.header("content-type"), "text/event-stream");
    StreamResult s = parse_stream(c.provider, r);
    ASSERT_TRUE(s.feed_status.ok()) << s.feed_status.message();
    ASSERT_TRUE(s.summary.ok()) << s.summary.status().message();
    EXPECT_FALSE(s.summary->truncated);
    EXPECT_TRUE(s.summary->done);
    EXPECT_EQ(s.summary->text, expected_text(kWords));
    ASSERT_TRUE(s.summary->usage.has_value()) << r.body;
    EXPECT_EQ(*s.summary->usage, expected_usage(kPromptTokens, kWords));
    EXPECT_EQ(s.summary->model, c.model);
    std::vector<std::string> words;
    for (const StreamEvent& e : s.events) {
      if (!e.text.empty()) words.push_back(e.text);
    }
    ASSERT_EQ(words.size(), static_cast<std::size_t>(kWords));
    EXPECT_EQ(words.front(), "hello");
    EXPECT_EQ(words.back(), " hello");
  }
}

TEST_F(FixtureUpstream, WordCountComesFromTheHeaderAndDefaultsToFive) {
  RawResponse many = raw("/v1/messages", R"({"model":"m","max_tokens":9,"stream":true})",
                         fixture_headers("ok", 200));
  StreamResult s = parse_stream(Provider::kAnthropic, many);
  ASSERT_TRUE(s.summary.ok()) << s.summary.status().message();
  EXPECT_EQ(s.summary->text, expected_text(200));
  EXPECT_EQ(s.summary->usage->completion_tokens, 200);

  HttpClient client(upstream_->port());
  Response r = client.request("POST", "/v1/chat/completions", R"({"model":"m"})");
  auto facts = gateway::parse_response(Provider::kOpenAI, Operation::kChat, r.body);
  ASSERT_TRUE(facts.ok()) << r.describe();
  EXPECT_EQ(facts->text, expected_text(5));
  EXPECT_EQ(*facts->usage, expected_usage(10, 5));
}

TEST_F(FixtureUpstream, OpenAIStreamHasUsageOnlyWhenAsked) {
  RawResponse r =
      raw("/v1/chat/completions", R"({"model":"gpt-4o","stream":true})", fixture_headers());
  StreamResult s = parse_stream(Provider::kOpenAI, r);
  ASSERT_TRUE(s.summary.ok()) << s.summary.status().message();
  EXPECT_FALSE(s.summary->truncated);
  EXPECT_EQ(s.summary->text, expected_text(kWords));
  EXPECT_FALSE(s.summary->usage.has_value());
  EXPECT_EQ(r.body.find("usage"), std::string::npos) << r.body;
}

TEST_F(FixtureUpstream, NoUsageModeLeavesEveryUsageFieldOut) {
  HttpClient client(upstream_->port());
  for (const ProviderCase& c : provider_cases()) {
    SCOPED_TRACE(c.name);
    RawResponse r = raw(c.stream_target, c.stream_body, fixture_headers("no_usage"));
    StreamResult s = parse_stream(c.provider, r);
    ASSERT_TRUE(s.summary.ok()) << s.summary.status().message();
    EXPECT_FALSE(s.summary->truncated);
    EXPECT_EQ(s.summary->text, expected_text(kWords));
    EXPECT_FALSE(s.summary->usage.has_value()) << r.body;
    EXPECT_FALSE(s.summary->prompt_tokens.has_value()) << r.body;

    Response j = client.request("POST", c.json_target, c.json_body, fixture_headers("no_usage"));
    auto facts = gateway::parse_response(c.provider, Operation::kChat, j.body);
    ASSERT_TRUE(facts.ok()) << j.describe();
    EXPECT_FALSE(facts->usage.has_value()) << j.body;
    EXPECT_EQ(facts->text, expected_text(kWords));
  }
}

TEST_F(FixtureUpstream, GeminiStreamWithoutSseIsOneJsonArray) {
  RawResponse r =
      raw("/v1beta/models/gemini-2.0-flash:streamGenerateContent", "{}", fixture_headers("ok", 3));
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.header("content-type"), "application/json");
  boost::json::error_code ec;
  boost::json::value v = boost::json::parse(r.body, ec);
  ASSERT_FALSE(ec) << r.body;
  ASSERT_TRUE(v.is_array());
  ASSERT_EQ(v.as_array().size(), 3u);
  std::string text;
  for (const boost::json::value& chunk : v.as_array()) {
    auto facts =
        gateway::parse_response(Provider::kGemini, Operation::kChat, boost::json::serialize(chunk));
    ASSERT_TRUE(facts.ok()) << facts.status().message();
    text += facts->text;
  }
  EXPECT_EQ(text, expected_text(3));
  // The last element carries the final counts.
  auto last = gateway::parse_response(Provider::kGemini, Operation::kChat,
                                      boost::json::serialize(v.as_array().back()));
  ASSERT_TRUE(last.ok() && last->usage.has_value());
  EXPECT_EQ(*last->usage, expected_usage(kPromptTokens, 3));
}

TEST_F(FixtureUpstream, EmbeddingsGiveOneVectorPerInput) {
  HttpClient client(upstream_->port());
  for (const char* target :
       {"/v1/embeddings", "/openai/deployments/embed-prod/embeddings?api-version=2024-10-21"}) {
    SCOPED_TRACE(target);
    Response r = client.request("POST", target,
                                R"({"model":"text-embedding-3-small","input":["a","b","c"]})",
                                fixture_headers());
    ASSERT_EQ(r.status, 200) << r.describe();
    const boost::json::value body = r.json();
    const boost::json::array& data = body.at("data").as_array();
    ASSERT_EQ(data.size(), 3u);
    for (std::size_t i = 0; i < data.size(); ++i) {
      EXPECT_EQ(data[i].at("index").as_int64(), static_cast<std::int64_t>(i));
      EXPECT_EQ(data[i].at("embedding").as_array().size(), 8u);
    }
    auto facts = gateway::parse_response(Provider::kOpenAI, Operation::kEmbeddings, r.body);
    ASSERT_TRUE(facts.ok()) << facts.status().message();
    ASSERT_TRUE(facts->usage.has_value());
    EXPECT_EQ(*facts->usage, expected_usage(kPromptTokens, 0));
  }
  Response ids = client.request("POST", "/v1/embeddings", R"({"model":"e","input":[1,2,3]})");
  EXPECT_EQ(ids.json().at("data").as_array().size(), 1u) << ids.describe();
}

TEST_F(FixtureUpstream, ErrorModeSendsEachProvidersErrorBody) {
  HttpClient client(upstream_->port());
  for (const ProviderCase& c : provider_cases()) {
    SCOPED_TRACE(c.name);
    Headers h = fixture_headers("error");
    h.emplace_back("x-fixture-status", "429");
    // An error answers with JSON even when the request streams, as the providers do.
    Response r = client.request("POST", c.stream_target, c.stream_body, h);
    ASSERT_EQ(r.status, 429) << r.describe();
    EXPECT_EQ(r.header("retry-after"), "1");
    auto facts = gateway::parse_response(c.provider, Operation::kChat, r.body);
    ASSERT_TRUE(facts.ok()) << facts.status().message();
    EXPECT_EQ(facts->upstream_error, "fixture error 429") << r.body;
    EXPECT_FALSE(facts->usage.has_value());
  }
  Response plain =
      client.request("POST", "/v1/chat/completions", R"({"model":"m"})", fixture_headers("error"));
  EXPECT_EQ(plain.status, 500) << plain.describe();
  EXPECT_EQ(plain.json().at("error").at("type").as_string(), "server_error");
}

TEST_F(FixtureUpstream, MalformedModeIsRefusedByTheParsers) {
  HttpClient client(upstream_->port());
  for (const ProviderCase& c : provider_cases()) {
    SCOPED_TRACE(c.name);
    Response j = client.request("POST", c.json_target, c.json_body, fixture_headers("malformed"));
    ASSERT_EQ(j.status, 200) << j.describe();
    auto facts = gateway::parse_response(c.provider, Operation::kChat, j.body);
    ASSERT_FALSE(facts.ok());
    EXPECT_EQ(facts.status().code(), ErrorCode::VALIDATION_MALFORMED_JSON);

    RawResponse r = raw(c.stream_target, c.stream_body, fixture_headers("malformed"));
    ASSERT_EQ(r.status, 200) << r.error;
    EXPECT_TRUE(r.complete);
    StreamResult s = parse_stream(c.provider, r);
    EXPECT_EQ(s.feed_status.code(), ErrorCode::VALIDATION_MALFORMED_JSON)
        << s.feed_status.message() << "\n"
        << r.body;
  }
}

TEST_F(FixtureUpstream, TruncateModeCutsAnEventAndTheConnection) {
  for (const ProviderCase& c : provider_cases()) {
    SCOPED_TRACE(c.name);
    RawResponse r = raw(c.stream_target, c.stream_body, fixture_headers("truncate"));
    ASSERT_EQ(r.status, 200) << r.error;
    EXPECT_FALSE(r.complete);
    EXPECT_TRUE(r.closed_by_server);
    StreamResult s = parse_stream(c.provider, r);
    ASSERT_TRUE(s.feed_status.ok()) << s.feed_status.message();
    ASSERT_TRUE(s.summary.ok()) << s.summary.status().message();
    EXPECT_TRUE(s.summary->truncated) << r.body;
    EXPECT_FALSE(s.summary->done);
    EXPECT_LT(s.summary->text.size(), expected_text(kWords).size());

    RawResponse j = raw(c.json_target, c.json_body, fixture_headers("truncate"));
    ASSERT_EQ(j.status, 200) << j.error;
    EXPECT_TRUE(j.closed_by_server);
    EXPECT_LT(j.body.size(), std::stoul(j.header("content-length")));
    EXPECT_FALSE(gateway::parse_response(c.provider, Operation::kChat, j.body).ok());
  }
  // The fixture cut those itself: they are not client disconnects.
  EXPECT_EQ(upstream_->disconnects(), 0);
}

TEST_F(FixtureUpstream, StallModeSendsTheFirstEventThenNothing) {
  constexpr int kIdleMs = 300;
  RawResponse r = raw("/v1/messages", R"({"model":"m","max_tokens":9,"stream":true})",
                      fixture_headers("stall"), kIdleMs);
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_TRUE(r.timed_out);
  EXPECT_FALSE(r.closed_by_server);
  StreamResult s = parse_stream(Provider::kAnthropic, r);
  ASSERT_TRUE(s.summary.ok());
  ASSERT_EQ(s.events.size(), 1u) << r.body;
  EXPECT_EQ(s.events[0].event, "message_start");
  EXPECT_EQ(s.summary->prompt_tokens, kPromptTokens);
  // The client gave up (raw_exchange closed the socket): one disconnect.
  EXPECT_EQ(wait_disconnects(1), 1);

  RawResponse j =
      raw("/v1/chat/completions", R"({"model":"m"})", fixture_headers("stall"), kIdleMs);
  EXPECT_TRUE(j.timed_out);
  EXPECT_GT(j.body.size(), 0u);
  EXPECT_LT(j.body.size(), std::stoul(j.header("content-length")));
  EXPECT_EQ(wait_disconnects(2), 2);
}

TEST_F(FixtureUpstream, SlowModesDelayTheAnswerAndTheChunks) {
  constexpr int kDelayMs = 150;
  using Clock = std::chrono::steady_clock;
  Headers slow = fixture_headers("slow", 3);
  slow.emplace_back("x-fixture-delay-ms", std::to_string(kDelayMs));
  auto t0 = Clock::now();
  RawResponse r = raw("/v2/chat", R"({"model":"c","stream":true})", slow);
  auto slow_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  EXPECT_GE(slow_ms, kDelayMs);
  StreamResult s = parse_stream(Provider::kCohere, r);
  ASSERT_TRUE(s.summary.ok());
  EXPECT_EQ(s.summary->text, expected_text(3));

  Headers slow_stream = fixture_headers("slow_stream", 3);
  slow_stream.emplace_back("x-fixture-delay-ms", std::to_string(kDelayMs));
  t0 = Clock::now();
  r = raw("/v1/chat/completions", R"({"model":"g","stream":true})", slow_stream);
  auto stream_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  // role chunk, 3 words, finish chunk, [DONE]: 5 gaps.
  EXPECT_GE(stream_ms, 5 * kDelayMs);
  EXPECT_GE(r.pieces.size(), 6u);
  s = parse_stream(Provider::kOpenAI, r);
  ASSERT_TRUE(s.summary.ok());
  EXPECT_FALSE(s.summary->truncated);
  EXPECT_EQ(s.summary->text, expected_text(3));
  EXPECT_EQ(upstream_->disconnects(), 0);
}

TEST_F(FixtureUpstream, ClientThatHangsUpMidStreamIsCounted) {
  RawRequest req;
  req.target = "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse";
  req.body = "{}";
  req.headers = fixture_headers("slow_stream", 20);
  req.headers.emplace_back("x-fixture-delay-ms", "50");
  req.stop_after_body_bytes = 1;
  RawResponse r = raw_exchange(upstream_->port(), req);
  ASSERT_TRUE(r.hung_up) << r.error << r.body;
  EXPECT_FALSE(r.complete);
  EXPECT_EQ(wait_disconnects(1), 1);
  // A finished exchange is not a disconnect.
  req.headers = fixture_headers();
  req.stop_after_body_bytes = std::numeric_limits<std::size_t>::max();
  ASSERT_TRUE(raw_exchange(upstream_->port(), req).complete);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(upstream_->disconnects(), 1);
}

TEST_F(FixtureUpstream, RequestLogKeepsArrivalOrderAndResets) {
  HttpClient client(upstream_->port());
  ASSERT_EQ(client
                .request("POST", "/v1/messages", R"({"model":"a","max_tokens":5})",
                         {{"X-Api-Key", "sk-upstream"}, {"anthropic-version", "2023-06-01"}})
                .status,
            200);
  const std::string azure = "/openai/deployments/d1/embeddings?api-version=2024-10-21";
  ASSERT_EQ(client.request("POST", azure, R"({"input":"x"})").status, 200);
  boost::json::array log = upstream_->requests();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].at("method").as_string(), "POST");
  EXPECT_EQ(log[0].at("path").as_string(), "/v1/messages");
  EXPECT_EQ(log[0].at("headers").at("x-api-key").as_string(), "sk-upstream");
  EXPECT_EQ(log[0].at("headers").at("anthropic-version").as_string(), "2023-06-01");
  EXPECT_EQ(log[0].at("body").as_string(), R"({"model":"a","max_tokens":5})");
  EXPECT_EQ(log[1].at("path").as_string(), azure);
  // The control routes are not logged.
  EXPECT_EQ(upstream_->requests().size(), 2u);
  ASSERT_TRUE(upstream_->reset());
  EXPECT_EQ(upstream_->requests().size(), 0u);
  Response unknown = client.request("POST", "/v1/nothing", "{}");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(upstream_->requests().size(), 1u);
}

TEST_F(FixtureUpstream, SigtermExitsZero) { EXPECT_EQ(upstream_->stop(), 0); }

}  // namespace
}  // namespace warden::testing
