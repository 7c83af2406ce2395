// The gateway's policy side, without I/O: what a proxied LLM request is (route, key, model,
// estimate), the decision it asks for, the OpenAI-style answer to a refusal, and the
// settlement of what the upstream really used. proxy.cc moves the bytes; this decides.
#pragma once

#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/status.h"
#include "decisions/decisions.h"
#include "gateway/adapters.h"
#include "gateway/estimate.h"
#include "store/store.h"

namespace warden::gateway {

struct GatewayOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;     // 0 picks a free port (see addr_file)
  int threads = 2;            // I/O threads of the gateway
  std::size_t body_bytes_max = 4u << 20;
  std::int64_t request_timeout_ms = 30'000;      // receiving a request; keep-alive idle time
  std::int64_t connect_timeout_ms = 5'000;       // resolving and connecting to an upstream
  std::int64_t first_byte_timeout_ms = 120'000;  // the upstream's status line after the request
  std::int64_t idle_timeout_ms = 60'000;         // between two reads of an upstream body
  // Output a request may produce when it does not say (max_tokens absent): what is reserved
  // for it, and where a metered stream is cut.
  std::uint64_t default_output_tokens = 4096;
  std::size_t pool_idle_per_origin_max = 64;     // kept-alive upstream connections per thread
  // Settlements waiting for the writer; past this, new requests wait (backpressure).
  std::size_t settlements_in_flight_max = 10'000;
  std::string ca_file;    // extra PEM trust anchors for HTTPS upstreams (system store always)
  std::string addr_file;  // when set, "host:port\n" is written here once listening
};

// The client-facing shapes the gateway accepts.
enum class Route {
  kChatCompletions,  // POST /v1/chat/completions (OpenAI)
  kEmbeddings,       // POST /v1/embeddings (OpenAI)
  kMessages,         // POST /v1/messages (Anthropic)
  kCohereChat,       // POST /v2/chat (Cohere v2)
  kGemini,           // POST /v1beta/models/{model}:generateContent | :streamGenerateContent
};

// The route of a method and path (the query is not part of `path`); nullopt: not a gateway
// route. `gemini_model` and `gemini_stream` are filled for kGemini.
std::optional<Route> route_of(std::string_view method, std::string_view path,
                              std::string* gemini_model, bool* gemini_stream);

// A refusal as the client sees it: OpenAI's {"error": {"message", "type", "code"}} (with the
// Anthropic route's {"type": "error"} beside it, so both SDKs read it).
struct ClientError {
  int status = 400;
  std::string type;  // invalid_request_error, authentication_error, rate_limit_error, ...
  std::string code;  // stable: model_not_found, token_limit_exceeded, ...
  std::string message;
  std::optional<std::int64_t> retry_after_seconds;
};
std::string error_body(const ClientError& e, Route route);

// The end of the first complete server-sent event in `s` (just past the blank line that ends
// it), or npos. A '\r' at the very end may be the first half of "\r\n": it waits for more.
std::size_t sse_event_end(std::string_view s);

// Where and how to reach a model's upstream.
struct Upstream {
  bool tls = false;
  std::string host;
  std::string port;
  std::string target;  // path and query
  std::vector<std::pair<std::string, std::string>> headers;  // auth and version headers
  std::string body;  // the client's body, with the model renamed when the upstream's differs
};

// One request, read and checked, ready to be decided.
struct Prepared {
  Route route = Route::kChatCompletions;
  Provider provider = Provider::kOpenAI;  // the model's provider: how the upstream answers
  Operation operation = Operation::kChat;
  store::AgentRow agent;
  std::string api_key_id;
  store::ModelRow model;
  Prices prices;
  bool priced = false;  // the model has a price: BUDGET and costs apply
  RequestFacts facts;
  Estimate estimate;
  Upstream upstream;
  decisions::Submission submission;
};

// What the upstream used, as the proxy saw it.
struct Observed {
  bool answered = false;  // the upstream sent a success status (2xx)
  std::optional<Usage> usage;  // the provider's numbers, or counted (estimated) when it said none
  std::int64_t latency_ms = 0;
  std::int64_t response_bytes = 0;
  std::string error;  // why it failed or was cut
};

class Gateway {
 public:
  Gateway(store::Store& store, decisions::DecisionService& decisions, const Clock& clock,
          IdGenerator& ids, GatewayOptions options);

  const GatewayOptions& options() const { return options_; }

  // Authenticates the key, reads the body with the client's adapter, finds the model and
  // estimates; the refusal otherwise. `headers` are lower-cased names.
  Result<Prepared> prepare(Route route, const std::map<std::string, std::string>& headers,
                           std::string body, std::string gemini_model, bool gemini_stream,
                           ClientError* refusal);

  // The refusal for a decided transaction that may not be forwarded (DENIED, or QUEUED for a
  // delay or an approval), nullopt when it may.
  static std::optional<ClientError> refusal_of(const boost::json::object& decided);

  // The settlement of a forwarded request: tokens and cost at the usage, or nothing used.
  decisions::UsageSettlement settlement(const Prepared& p, const std::string& tx_id,
                                        const Observed& seen) const;

  // The completion tokens a metered stream may produce before it is cut: the output that was
  // reserved.
  std::uint64_t output_allowance(const Prepared& p) const {
    return p.estimate.max_output_tokens;
  }

 private:
  // The upstream key of a model: "env:NAME" or "file:PATH" (file contents cached briefly).
  Result<std::string> upstream_key(const std::string& key_ref);
  Result<Upstream> upstream_of(const Prepared& p, std::string body,
                               const std::map<std::string, std::string>& headers);

  // The key's agent, read through a cache: a call costs no store read while its entry is fresh.
  struct Caller {
    store::ApiKeyRow key;
    store::AgentRow agent;
  };
  Result<std::optional<Caller>> caller(const std::string& key_hash);
  Result<std::optional<store::ModelRow>> model(const std::string& name);

  store::Store& store_;
  decisions::DecisionService& decisions_;
  const Clock& clock_;
  IdGenerator& ids_;
  const GatewayOptions options_;

  struct CachedKey {
    std::string value;
    std::chrono::steady_clock::time_point loaded;
  };
  std::mutex keys_mu_;
  std::unordered_map<std::string, CachedKey> file_keys_;  // guarded by keys_mu_

  // Keys, their agents and models as last read, for kLookupTtl. Only what exists is kept (an
  // unknown key or model is read again each time, so guesses cannot fill the cache).
  template <class T>
  struct Fresh {
    T value;
    std::chrono::steady_clock::time_point read;
  };
  std::mutex cache_mu_;
  std::unordered_map<std::string, Fresh<Caller>> callers_;          // by key hash; cache_mu_
  std::unordered_map<std::string, Fresh<store::ModelRow>> models_;  // by name; cache_mu_
};

}  // namespace warden::gateway
