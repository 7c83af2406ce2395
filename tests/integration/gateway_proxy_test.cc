// The LLM gateway's proxy end to end: a real `warden serve --gateway-listen`, a real fake
// provider over loopback (tests/fixtures/llm_upstream.mjs) and real HTTP clients. Each test
// asserts the client's answer, what the upstream received, the transaction's settlement, the
// usage rows and, where money is involved, the ledger.
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "support/fixture.h"
#include "support/upstream_fixture.h"

namespace warden::testing {
namespace {

namespace json = boost::json;

constexpr const char* kUpstreamSecret = "upstream-secret-1234";

std::string body_of(const json::object& o) { return json::serialize(o); }

// The port a listener wrote to `path` ("HOST:PORT\n"), once it appears; 0 after timeout_ms.
std::uint16_t port_from_file(const std::string& path, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(path);
    std::string line;
    if (in && std::getline(in, line)) {
      if (const auto colon = line.rfind(':'); colon != std::string::npos) {
        const int port = std::atoi(line.c_str() + colon + 1);
        if (port > 0 && port < 65536) return static_cast<std::uint16_t>(port);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return 0;
}

json::object chat_body(const std::string& model, std::optional<int> max_tokens = std::nullopt,
                       bool stream = false) {
  json::object b{{"model", model},
                 {"messages", json::array{json::object{{"role", "user"}, {"content", "Say hello"}}}}};
  if (max_tokens) b["max_tokens"] = *max_tokens;
  if (stream) b["stream"] = true;
  return b;
}

// The data: payloads of an SSE body, in order.
std::vector<std::string> sse_data(const std::string& body) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while ((pos = body.find("data: ", pos)) != std::string::npos) {
    const auto end = body.find('\n', pos);
    out.push_back(body.substr(pos + 6, end - pos - 6));
    pos = end;
  }
  return out;
}

class GatewayProxyTest : public ::testing::Test {
 protected:
  virtual std::vector<std::string> extra_flags() const { return {}; }
  virtual std::vector<std::string> upstream_args() { return {}; }
  virtual std::string upstream_base() const {
    return "http://127.0.0.1:" + std::to_string(upstream_->port());
  }

  void SetUp() override {
    upstream_ = std::make_unique<UpstreamFixture>(upstream_args());
    ASSERT_TRUE(upstream_->started()) << upstream_->error();
    std::vector<std::string> flags = {"--gateway-listen", "127.0.0.1:0"};
    for (const auto& f : extra_flags()) flags.push_back(f);
    warden_ = std::make_unique<WardenProcess>(
        WardenOptions{flags, "", {{"FIXTURE_UPSTREAM_KEY", std::string(kUpstreamSecret)}}});
    ASSERT_TRUE(warden_->started()) << warden_->error();
    gateway_port_ = port_from_file(warden_->data_dir() + "/gateway.addr", 5000);
    ASSERT_NE(gateway_port_, 0) << warden_->log();
    admin_ = std::make_unique<HttpClient>(warden_->port());
    gw_ = std::make_unique<HttpClient>(gateway_port_, 20000);
    agent_ = new_agent("app-one");
    key_ = new_key(agent_);
    add_model("gpt-4o-mini", "openai", "/v1", "fixture-gpt");
  }

  void TearDown() override {
    if (HasFailure() && warden_) {
      std::string log = warden_->log();
      if (log.size() > 6000) log = "..." + log.substr(log.size() - 6000);
      std::cerr << "--- warden log ---\n" << log << "\n";
    }
    gw_.reset();
    admin_.reset();
    warden_.reset();
    upstream_.reset();
  }

  Response master(const std::string& method, const std::string& target,
                  const std::string& body = {}) {
    return admin_->request(method, target, body, master_headers());
  }

  std::string new_agent(const std::string& name) {
    Response r = create_agent(*admin_, name);
    EXPECT_EQ(r.status, 201) << r.describe();
    return str_at(r.json(), "id");
  }

  std::string new_key(const std::string& agent) {
    Response r = master("POST", "/v1/agents/" + agent + "/api-keys");
    EXPECT_EQ(r.status, 201) << r.describe();
    return str_at(r.json(), "key");
  }

  void add_model(const std::string& name, const std::string& provider, const std::string& path,
                 const std::string& upstream_model, const std::string& input_price = "0",
                 const std::string& output_price = "0") {
    Response r = master(
        "POST", "/v1/models",
        body_of({{"name", name},
                 {"provider", provider},
                 {"base_url", upstream_base() + path},
                 {"upstream_model", upstream_model},
                 {"input_price_micros_per_1k", input_price},
                 {"output_price_micros_per_1k", output_price},
                 {"currency", "USD"},
                 {"key_ref", "env:FIXTURE_UPSTREAM_KEY"}}));
    ASSERT_EQ(r.status, 201) << r.describe();
  }

  void add_policy(const std::string& type, const json::object& rules) {
    Response r = master("POST", "/v1/policies",
                        body_of({{"agent_id", agent_}, {"type", type}, {"rules", rules}}));
    ASSERT_EQ(r.status, 201) << r.describe();
  }

  Headers key_headers(Headers extra = {}, const std::string& key = "") {
    extra.emplace_back("Authorization", "Bearer " + (key.empty() ? key_ : key));
    return extra;
  }

  Response chat(const json::object& body, Headers extra = {}) {
    return gw_->request("POST", "/v1/chat/completions", body_of(body), key_headers(std::move(extra)));
  }

  // What the upstream received, in order.
  json::array upstream_requests() { return upstream_->requests(); }

  json::value transaction(const std::string& id) {
    Response r = master("GET", "/v1/transactions/" + id);
    EXPECT_EQ(r.status, 200) << r.describe();
    return r.json();
  }

  // The transaction settles after the answer: waits until it left PENDING.
  json::value settled(const std::string& id) {
    for (int i = 0; i < 200; ++i) {
      json::value t = transaction(id);
      if (str_at(t, "status") != "PENDING") return t;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return transaction(id);
  }

  // Usage rollup per model: {model -> row}.
  std::map<std::string, json::object> usage_by_model() {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    Response r = master("GET", "/v1/usage?group_by=model&from=" + std::to_string(now - 3600) +
                                   "&to=" + std::to_string(now + 60));
    EXPECT_EQ(r.status, 200) << r.describe();
    std::map<std::string, json::object> out;
    json::value v = r.json();
    if (!v.is_object()) return out;
    for (const auto& item : v.at("items").as_array()) {
      out[str_at(item, "model")] = item.as_object();
    }
    return out;
  }

  std::int64_t usage_int(const std::string& model, const char* field) {
    auto rows = usage_by_model();
    auto it = rows.find(model);
    if (it == rows.end()) return -1;
    const auto& v = it->second.at(field);
    return v.is_int64() ? v.as_int64() : v.is_string() ? std::stoll(std::string(v.as_string())) : -1;
  }

  std::unique_ptr<UpstreamFixture> upstream_;
  std::unique_ptr<WardenProcess> warden_;
  std::uint16_t gateway_port_ = 0;
  std::unique_ptr<HttpClient> admin_;
  std::unique_ptr<HttpClient> gw_;
  std::string agent_;
  std::string key_;
};

TEST_F(GatewayProxyTest, ChatCompletionIsForwardedWithTheUpstreamKeyAndSettled) {
  Response r = chat(chat_body("gpt-4o-mini", 20), {{"x-fixture-words", "7"},
                                                    {"x-fixture-prompt-tokens", "12"}});
  ASSERT_EQ(r.status, 200) << r.describe();
  const json::value body = r.json();
  EXPECT_EQ(str_at(body.at("choices").at(0).at("message"), "content"),
            "hello hello hello hello hello hello hello");
  EXPECT_EQ(body.at("usage").at("prompt_tokens").as_int64(), 12);
  const std::string tx = r.header("x-warden-transaction-id");
  ASSERT_FALSE(tx.empty());

  const json::array seen = upstream_requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(str_at(seen[0], "path"), "/v1/chat/completions");
  EXPECT_EQ(str_at(seen[0].at("headers"), "authorization"), std::string("Bearer ") + kUpstreamSecret);
  // The gateway key never reaches the provider; the model is renamed to the upstream's.
  EXPECT_EQ(str_at(seen[0], "body").find(key_), std::string::npos);
  EXPECT_EQ(str_at(json::parse(str_at(seen[0], "body")), "model"), "fixture-gpt");
  EXPECT_EQ(str_at(seen[0].at("headers"), "x-fixture-words"), "7");

  const json::value t = settled(tx);
  EXPECT_EQ(str_at(t, "status"), "CONFIRMED") << t;
  EXPECT_EQ(str_at(t, "action"), "LLM_CHAT");
  EXPECT_EQ(usage_int("gpt-4o-mini", "requests"), 1);
  EXPECT_EQ(usage_int("gpt-4o-mini", "prompt_tokens"), 12);
  EXPECT_EQ(usage_int("gpt-4o-mini", "completion_tokens"), 7);
}

TEST_F(GatewayProxyTest, StreamPassesEveryChunkAndCountsTheOutput) {
  Response r = chat(chat_body("gpt-4o-mini", 50, true), {{"x-fixture-words", "9"}});
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.header("content-type").rfind("text/event-stream", 0), 0u) << r.describe();
  const auto data = sse_data(r.body);
  ASSERT_GE(data.size(), 10u) << r.body;
  EXPECT_EQ(data.back(), "[DONE]");
  std::string text;
  for (const auto& d : data) {
    if (d == "[DONE]") continue;
    json::value chunk = json::parse(d);
    const auto& choices = chunk.at("choices").as_array();
    if (choices.empty()) continue;
    if (const auto* c = choices[0].at("delta").as_object().if_contains("content")) {
      text += std::string(c->as_string());
    }
  }
  EXPECT_EQ(text, "hello hello hello hello hello hello hello hello hello");
  settled(r.header("x-warden-transaction-id"));
  // No usage chunk was asked for: the output is counted with the tokenizer (9 tokens).
  EXPECT_EQ(usage_int("gpt-4o-mini", "completion_tokens"), 9);
}

TEST_F(GatewayProxyTest, AnthropicMessagesJsonAndStream) {
  add_model("claude-test", "anthropic", "", "fixture-claude");
  json::object body{{"model", "claude-test"},
                    {"max_tokens", 64},
                    {"messages", json::array{json::object{{"role", "user"}, {"content", "Hi"}}}}};
  Response r = gw_->request("POST", "/v1/messages", body_of(body),
                            {{"x-api-key", key_}, {"x-fixture-words", "4"}});
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(str_at(r.json(), "type"), "message");
  body["stream"] = true;
  Response s = gw_->request("POST", "/v1/messages", body_of(body),
                            {{"x-api-key", key_}, {"x-fixture-words", "6"}});
  ASSERT_EQ(s.status, 200) << s.describe();
  EXPECT_NE(s.body.find("event: message_stop"), std::string::npos) << s.body;
  const json::array seen = upstream_requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(str_at(seen[0], "path"), "/v1/messages");
  EXPECT_EQ(str_at(seen[0].at("headers"), "x-api-key"), kUpstreamSecret);
  EXPECT_EQ(str_at(seen[0].at("headers"), "anthropic-version"), "2023-06-01");
  settled(s.header("x-warden-transaction-id"));
  EXPECT_EQ(usage_int("claude-test", "requests"), 2);
  EXPECT_EQ(usage_int("claude-test", "completion_tokens"), 10);
}

TEST_F(GatewayProxyTest, EmbeddingsAreForwarded) {
  add_model("embed-test", "openai", "/v1", "fixture-embed");
  Response r = gw_->request("POST", "/v1/embeddings",
                            body_of({{"model", "embed-test"}, {"input", json::array{"a", "b"}}}),
                            key_headers({{"x-fixture-prompt-tokens", "2"}}));
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.json().at("data").as_array().size(), 2u);
  settled(r.header("x-warden-transaction-id"));
  EXPECT_EQ(usage_int("embed-test", "prompt_tokens"), 2);
}

TEST_F(GatewayProxyTest, AzureCohereAndGeminiReachTheirOwnPaths) {
  add_model("azure-test", "azure_openai", "", "deployment-one");
  add_model("command-test", "cohere", "", "fixture-command");
  add_model("gemini-test", "google", "", "fixture-gemini");
  Response azure = chat(chat_body("azure-test", 10), {{"x-fixture-words", "2"}});
  ASSERT_EQ(azure.status, 200) << azure.describe();
  const json::object user{{"role", "user"}, {"content", "hi"}};
  Response cohere = gw_->request("POST", "/v2/chat",
                                 body_of({{"model", "command-test"}, {"messages", json::array{user}}}),
                                 key_headers({{"x-fixture-words", "3"}}));
  ASSERT_EQ(cohere.status, 200) << cohere.describe();
  const json::object contents{{"role", "user"},
                              {"parts", json::array{json::object{{"text", "hi"}}}}};
  Response gemini = gw_->request("POST", "/v1beta/models/gemini-test:generateContent",
                                 body_of({{"contents", json::array{contents}}}),
                                 {{"x-goog-api-key", key_}, {"x-fixture-words", "4"}});
  ASSERT_EQ(gemini.status, 200) << gemini.describe();
  Response gemini_stream =
      gw_->request("POST", "/v1beta/models/gemini-test:streamGenerateContent?alt=sse",
                   body_of({{"contents", json::array{contents}}}),
                   {{"x-goog-api-key", key_}, {"x-fixture-words", "6"}});
  ASSERT_EQ(gemini_stream.status, 200) << gemini_stream.describe();
  EXPECT_GE(sse_data(gemini_stream.body).size(), 2u) << gemini_stream.body;

  const json::array seen = upstream_requests();
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(str_at(seen[0], "path"),
            "/openai/deployments/deployment-one/chat/completions?api-version=2024-10-21");
  EXPECT_EQ(str_at(seen[0].at("headers"), "api-key"), kUpstreamSecret);
  EXPECT_EQ(str_at(seen[1], "path"), "/v2/chat");
  EXPECT_EQ(str_at(json::parse(str_at(seen[1], "body")), "model"), "fixture-command");
  EXPECT_EQ(str_at(seen[2], "path"), "/v1beta/models/fixture-gemini:generateContent");
  EXPECT_EQ(str_at(seen[2].at("headers"), "x-goog-api-key"), kUpstreamSecret);
  EXPECT_EQ(str_at(seen[3], "path"), "/v1beta/models/fixture-gemini:streamGenerateContent?alt=sse");
  settled(gemini_stream.header("x-warden-transaction-id"));
  EXPECT_EQ(usage_int("azure-test", "completion_tokens"), 2);
  EXPECT_EQ(usage_int("command-test", "completion_tokens"), 3);
  EXPECT_EQ(usage_int("gemini-test", "completion_tokens"), 10);
}

TEST_F(GatewayProxyTest, PostCheckWithCooldownStopsTheNextCalls) {
  add_policy("CUSTOM", {{"post", "total_tokens > 12"},
                        {"effect", "DENY"},
                        {"cooldown", "1m"},
                        {"message", "too many tokens in one call"}});
  Response first = chat(chat_body("gpt-4o-mini", 10));  // 10 + 5 tokens: the post matches
  ASSERT_EQ(first.status, 200) << first.describe();
  const json::value t = settled(first.header("x-warden-transaction-id"));
  EXPECT_EQ(str_at(t.at("post_reasons").at(0), "code"), "CUSTOM_POST_CONDITION") << t;
  Response next = chat(chat_body("gpt-4o-mini", 10));
  EXPECT_EQ(next.status, 403) << next.describe();
  EXPECT_EQ(next.error_code(), "custom_post_condition");
  EXPECT_EQ(upstream_requests().size(), 1u);
}

TEST_F(GatewayProxyTest, BadKeysUnknownModelsAndBadBodiesAreRefusedInOpenAiShape) {
  Response none = gw_->request("POST", "/v1/chat/completions", body_of(chat_body("gpt-4o-mini")));
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.error_code(), "invalid_api_key");
  EXPECT_EQ(str_at(none.json().at("error"), "type"), "authentication_error");
  Response wrong = gw_->request("POST", "/v1/chat/completions", body_of(chat_body("gpt-4o-mini")),
                                {{"Authorization", "Bearer wk_not-a-real-key"}});
  EXPECT_EQ(wrong.status, 401);

  Response unknown = chat(chat_body("no-such-model"));
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.error_code(), "model_not_found");
  Response malformed = gw_->request("POST", "/v1/chat/completions", "{\"model\":",
                                    key_headers());
  EXPECT_EQ(malformed.status, 400);
  EXPECT_EQ(malformed.error_code(), "invalid_request");
  Response route = gw_->request("POST", "/v1/nothing", "{}", key_headers());
  EXPECT_EQ(route.status, 404);
  EXPECT_EQ(route.error_code(), "unknown_route");
  // A route that speaks another provider's format than the model's.
  Response mismatch = gw_->request(
      "POST", "/v1/messages",
      body_of({{"model", "gpt-4o-mini"}, {"max_tokens", 5},
               {"messages", json::array{json::object{{"role", "user"}, {"content", "x"}}}}}),
      {{"x-api-key", key_}});
  EXPECT_EQ(mismatch.status, 400);
  EXPECT_EQ(mismatch.error_code(), "model_route_mismatch");
  EXPECT_EQ(upstream_requests().size(), 0u);
  // A suspended application is refused (once its cached row is a second old).
  ASSERT_EQ(master("PUT", "/v1/agents/" + agent_, R"({"status":"SUSPENDED"})").status, 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  Response suspended = chat(chat_body("gpt-4o-mini", 5));
  EXPECT_EQ(suspended.status, 403) << suspended.describe();
  EXPECT_EQ(suspended.error_code(), "app_suspended");
  ASSERT_EQ(master("PUT", "/v1/agents/" + agent_, R"({"status":"ACTIVE"})").status, 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));

  // A revoked key stops within the gateway's one-second lookup cache.
  ASSERT_EQ(chat(chat_body("gpt-4o-mini", 5)).status, 200);  // the key is cached now
  Response keys = master("GET", "/v1/agents/" + agent_ + "/api-keys");
  const std::string key_id = str_at(keys.json().at("items").at(0), "id");
  ASSERT_EQ(master("DELETE", "/v1/agents/" + agent_ + "/api-keys/" + key_id).status, 204);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  Response revoked = chat(chat_body("gpt-4o-mini"));
  EXPECT_EQ(revoked.status, 401) << revoked.describe();
}

TEST_F(GatewayProxyTest, RateLimitAnswers429WithRetryAfter) {
  add_policy("RATE_LIMIT", {{"max_requests", 2}, {"window", "1m"}});
  EXPECT_EQ(chat(chat_body("gpt-4o-mini", 5)).status, 200);
  EXPECT_EQ(chat(chat_body("gpt-4o-mini", 5)).status, 200);
  Response third = chat(chat_body("gpt-4o-mini", 5));
  EXPECT_EQ(third.status, 429) << third.describe();
  EXPECT_EQ(third.error_code(), "rate_limit_exceeded");
  EXPECT_EQ(third.header("retry-after"), "1");
  EXPECT_EQ(upstream_requests().size(), 2u);
  // The denial is a transaction of its own, audited.
  EXPECT_EQ(str_at(transaction(third.header("x-warden-transaction-id")), "status"), "DENIED");
}

TEST_F(GatewayProxyTest, AllowlistAndRequestSizeRefuseWith403And413) {
  add_model("gpt-other", "openai", "/v1", "fixture-other");
  add_policy("MODEL_ALLOWLIST", {{"models", json::array{"gpt-4o*"}}});
  add_policy("REQUEST_SIZE", {{"max_bytes", 400}});
  EXPECT_EQ(chat(chat_body("gpt-4o-mini", 5)).status, 200);
  Response other = chat(chat_body("gpt-other", 5));
  EXPECT_EQ(other.status, 403) << other.describe();
  EXPECT_EQ(other.error_code(), "model_not_allowed");
  json::object big = chat_body("gpt-4o-mini", 5);
  big["messages"].as_array()[0].as_object()["content"] = std::string(600, 'x');
  Response large = chat(big);
  EXPECT_EQ(large.status, 413) << large.describe();
  EXPECT_EQ(large.error_code(), "request_too_large");
  EXPECT_EQ(upstream_requests().size(), 1u);
}

TEST_F(GatewayProxyTest, TokenLimitReservesTheEstimateAndSettlesToTheUsage) {
  // Each call reserves its prompt as counted (about 10 tokens) plus max_tokens 40; the upstream
  // reports 10 + 5 = 15. Settled calls hold 15 each in the window, not their 50 reserved:
  // after 4 calls (60 used) a 5th needing ~50 more would pass 100.
  add_policy("TOKEN_LIMIT", {{"max_tokens", 100}, {"window", "1h"}});
  for (int i = 0; i < 4; ++i) {
    Response r = chat(chat_body("gpt-4o-mini", 40));
    ASSERT_EQ(r.status, 200) << "call " << i << ": " << r.describe();
    EXPECT_EQ(str_at(settled(r.header("x-warden-transaction-id")), "status"), "CONFIRMED");
  }
  Response over = chat(chat_body("gpt-4o-mini", 40));
  EXPECT_EQ(over.status, 429) << over.describe();
  EXPECT_EQ(over.error_code(), "token_limit_exceeded");
  EXPECT_EQ(over.header("retry-after"), "1");
  EXPECT_EQ(usage_int("gpt-4o-mini", "prompt_tokens") + usage_int("gpt-4o-mini", "completion_tokens"),
            60);
  // A small call still fits what is left.
  EXPECT_EQ(chat(chat_body("gpt-4o-mini", 5)).status, 200);
}

TEST_F(GatewayProxyTest, ConcurrentRequestsNeverPassTheTokenLimit) {
  add_policy("TOKEN_LIMIT", {{"max_tokens", 1000}, {"window", "1h"}});
  // Every request reserves its prompt as counted (about 10) + 40 and really uses 5 + 40: the
  // reservation bounds the usage, so the total can never pass 1000.
  const std::string key = key_;
  const std::string body = body_of(chat_body("gpt-4o-mini", 40));
  auto answers = concurrently(gateway_port_, 64, [&](HttpClient& c, int) {
    return c.request("POST", "/v1/chat/completions", body,
                     {{"Authorization", "Bearer " + key},
                      {"x-fixture-words", "40"},
                      {"x-fixture-prompt-tokens", "5"}});
  });
  int ok = 0, limited = 0;
  for (const auto& a : answers) {
    if (a.status == 200) ++ok;
    if (a.status == 429) ++limited;
  }
  EXPECT_EQ(ok + limited, 64);
  EXPECT_GE(ok, 1);
  EXPECT_GE(limited, 1);
  for (const auto& a : answers) {
    if (a.status == 200) settled(a.header("x-warden-transaction-id"));
  }
  const std::int64_t used = usage_int("gpt-4o-mini", "prompt_tokens") +
                            usage_int("gpt-4o-mini", "completion_tokens");
  EXPECT_LE(used, 1000);
  EXPECT_EQ(used, ok * 45);
}

TEST_F(GatewayProxyTest, MeteredStreamIsCutAtItsReservedOutput) {
  add_policy("TOKEN_LIMIT", {{"max_tokens", 100000}, {"window", "1h"}});
  // max_tokens 5, but this upstream ignores it and would send 60 words.
  Response r = chat(chat_body("gpt-4o-mini", 5, true), {{"x-fixture-words", "60"}});
  ASSERT_EQ(r.status, 200) << r.describe();
  const auto data = sse_data(r.body);
  ASSERT_GE(data.size(), 2u);
  const std::string last = data.back() == "[DONE]" ? data[data.size() - 2] : data.back();
  const json::value err = json::parse(last);
  EXPECT_EQ(str_at(err.at("error"), "code"), "token_limit_exceeded") << r.body;
  EXPECT_LT(data.size(), 30u) << "the stream ran on";
  settled(r.header("x-warden-transaction-id"));
  const std::int64_t completion = usage_int("gpt-4o-mini", "completion_tokens");
  EXPECT_GE(completion, 6);
  EXPECT_LT(completion, 30);
}

TEST_F(GatewayProxyTest, BudgetHoldsTheEstimatedCostAndPostsTheRealOne) {
  // 1,000 micro-USD per 1k tokens in and out: a call of 10 + 5 tokens costs 15 micro-USD.
  add_model("priced", "openai", "/v1", "fixture-priced", "1000", "1000");
  add_policy("BUDGET", {{"asset", "USD"}});
  Response none = chat(chat_body("priced", 20));
  EXPECT_EQ(none.status, 429) << none.describe();
  EXPECT_EQ(none.error_code(), "budget_exceeded");
  ASSERT_EQ(master("POST", "/v1/ledger/mint",
                   body_of({{"owner", agent_}, {"amount", "1000"}, {"currency", "USD"},
                            {"source", "grant"}, {"idempotency_key", "grant-1"}}))
                .status,
            201);
  Response r = chat(chat_body("priced", 20));
  ASSERT_EQ(r.status, 200) << r.describe();
  const json::value t = settled(r.header("x-warden-transaction-id"));
  EXPECT_EQ(str_at(t, "status"), "CONFIRMED");
  Response b = master("GET", "/v1/ledger/balances?owner=" + agent_ + "&currency=USD");
  ASSERT_EQ(b.status, 200) << b.describe();
  EXPECT_NE(b.body.find("\"985\""), std::string::npos) << b.body;
  EXPECT_EQ(usage_by_model()["priced"].at("cost"), "15");
}

TEST_F(GatewayProxyTest, UpstreamErrorsPassThroughAndReleaseTheReservation) {
  add_policy("TOKEN_LIMIT", {{"max_tokens", 60}, {"window", "1h"}});
  Response failed = chat(chat_body("gpt-4o-mini", 40),
                         {{"x-fixture-mode", "error"}, {"x-fixture-status", "503"}});
  EXPECT_EQ(failed.status, 503) << failed.describe();
  const json::value t = settled(failed.header("x-warden-transaction-id"));
  EXPECT_EQ(str_at(t, "status"), "FAILED");
  EXPECT_EQ(usage_int("gpt-4o-mini", "requests"), -1);  // nothing used, no usage row
  // The ~50 reserved were released: the next call fits.
  EXPECT_EQ(chat(chat_body("gpt-4o-mini", 40)).status, 200);
}

TEST_F(GatewayProxyTest, MalformedAnswerIs502AndKeepsTheReservationAsSpent) {
  Response r = chat(chat_body("gpt-4o-mini", 30), {{"x-fixture-mode", "malformed"}});
  EXPECT_EQ(r.status, 502) << r.describe();
  EXPECT_EQ(r.error_code(), "upstream_malformed");
  const json::value t = settled(r.header("x-warden-transaction-id"));
  EXPECT_EQ(str_at(t, "status"), "CONFIRMED");
  EXPECT_EQ(usage_int("gpt-4o-mini", "completion_tokens"), 30);
}

TEST_F(GatewayProxyTest, TruncatedStreamEndsWithAnErrorEventAndCountsWhatPassed) {
  Response r = chat(chat_body("gpt-4o-mini", 50, true),
                    {{"x-fixture-mode", "truncate"}, {"x-fixture-words", "8"}});
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_NE(r.body.find("upstream_error"), std::string::npos) << r.body;
  const json::value t = settled(r.header("x-warden-transaction-id"));
  EXPECT_EQ(str_at(t, "status"), "CONFIRMED");
  EXPECT_GE(usage_int("gpt-4o-mini", "requests"), 1);
}

class GatewayTimeoutTest : public GatewayProxyTest {
 protected:
  std::vector<std::string> extra_flags() const override {
    return {"--gateway-first-byte-timeout-ms", "300", "--gateway-idle-timeout-ms", "300"};
  }
};

TEST_F(GatewayTimeoutTest, SlowUpstreamIs504AndStalledStreamEnds) {
  Response slow = chat(chat_body("gpt-4o-mini", 5),
                       {{"x-fixture-mode", "slow"}, {"x-fixture-delay-ms", "1500"}});
  EXPECT_EQ(slow.status, 504) << slow.describe();
  EXPECT_EQ(slow.error_code(), "upstream_timeout");
  EXPECT_EQ(str_at(settled(slow.header("x-warden-transaction-id")), "status"), "FAILED");

  const auto started = std::chrono::steady_clock::now();
  Response stalled = chat(chat_body("gpt-4o-mini", 50, true), {{"x-fixture-mode", "stall"}});
  ASSERT_EQ(stalled.status, 200) << stalled.describe();
  EXPECT_NE(stalled.body.find("idle timeout"), std::string::npos) << stalled.body;
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  EXPECT_EQ(str_at(settled(stalled.header("x-warden-transaction-id")), "status"), "CONFIRMED");
}

TEST_F(GatewayProxyTest, ClientThatLeavesMidStreamStopsTheUpstreamAndIsSettled) {
  HttpClient raw(gateway_port_);
  const std::string body = body_of(chat_body("gpt-4o-mini", 200, true));
  ASSERT_TRUE(raw.send_raw("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                           key_ +
                           "\r\nx-fixture-mode: slow_stream\r\nx-fixture-delay-ms: 50\r\n"
                           "x-fixture-words: 100\r\nContent-Type: application/json\r\n"
                           "Content-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n" + body));
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  raw.close();
  // The upstream sees its client (the gateway) go within a chunk or two.
  std::int64_t disconnects = 0;
  for (int i = 0; i < 100 && disconnects == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    disconnects = upstream_->disconnects();
  }
  EXPECT_EQ(disconnects, 1);
  // What streamed before the client left is recorded.
  std::int64_t completion = -1;
  for (int i = 0; i < 100 && completion < 0; ++i) {
    completion = usage_int("gpt-4o-mini", "completion_tokens");
    if (completion < 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_GT(completion, 0);
  EXPECT_LT(completion, 100);
}

TEST_F(GatewayProxyTest, MetricsShowGatewaySeriesAndOnePooledConnection) {
  ASSERT_EQ(chat(chat_body("gpt-4o-mini", 5)).status, 200);
  ASSERT_EQ(chat(chat_body("gpt-4o-mini", 5, true)).status, 200);
  ASSERT_EQ(chat(chat_body("gpt-4o-mini", 5)).status, 200);
  Response m = admin_->request("GET", "/metrics", {}, master_headers());
  ASSERT_EQ(m.status, 200) << m.describe();
  EXPECT_NE(m.body.find("warden_gateway_requests_total{route=\"/v1/chat/completions\",status=\"200\"} 3"),
            std::string::npos)
      << m.body;
  EXPECT_NE(m.body.find("warden_gateway_upstream_responses_total{provider=\"openai\",status=\"200\"} 3"),
            std::string::npos);
  EXPECT_NE(m.body.find("warden_gateway_added_latency_seconds_count 3"), std::string::npos);
  // Three calls one after another, streamed or not, over one kept-alive upstream connection.
  EXPECT_NE(m.body.find("warden_gateway_upstream_connections_total 1\n"), std::string::npos);
}

// An HTTPS upstream with a certificate for "localhost" made here: trusted through
// --gateway-ca-file it answers; without it the handshake is refused and nothing is forwarded.
class GatewayHttpsTest : public GatewayProxyTest {
 protected:
  static std::string cert_dir() {
    static const std::string dir = [] {
      const std::string d = make_temp_dir();
      const std::string cmd =
          "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
          "-subj /CN=localhost -addext subjectAltName=DNS:localhost -keyout " + d +
          "/key.pem -out " + d + "/cert.pem > /dev/null 2>&1";
      return std::system(cmd.c_str()) == 0 ? d : std::string();
    }();
    return dir;
  }
  std::vector<std::string> upstream_args() override {
    return {"--tls-cert", cert_dir() + "/cert.pem", "--tls-key", cert_dir() + "/key.pem"};
  }
  std::string upstream_base() const override {
    return "https://localhost:" + std::to_string(upstream_->port());
  }
  std::vector<std::string> extra_flags() const override {
    return {"--gateway-ca-file", cert_dir() + "/cert.pem"};
  }
};

TEST_F(GatewayHttpsTest, TrustedCertificateIsVerifiedAndUsed) {
  ASSERT_FALSE(cert_dir().empty()) << "openssl could not make a certificate";
  Response r = chat(chat_body("gpt-4o-mini", 10), {{"x-fixture-words", "3"}});
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(str_at(r.json().at("choices").at(0).at("message"), "content"), "hello hello hello");
  // The pooled connection serves the next call too.
  EXPECT_EQ(chat(chat_body("gpt-4o-mini", 10)).status, 200);
}

class GatewayUntrustedTest : public GatewayHttpsTest {
 protected:
  std::vector<std::string> extra_flags() const override { return {}; }
};

TEST_F(GatewayUntrustedTest, UnknownCertificateIsRefused) {
  ASSERT_FALSE(cert_dir().empty()) << "openssl could not make a certificate";
  Response r = chat(chat_body("gpt-4o-mini", 10));
  EXPECT_EQ(r.status, 502) << r.describe();
  EXPECT_EQ(r.error_code(), "upstream_tls");
  EXPECT_EQ(str_at(settled(r.header("x-warden-transaction-id")), "status"), "FAILED");
}

}  // namespace
}  // namespace warden::testing
