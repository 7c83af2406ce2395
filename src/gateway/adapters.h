// Provider adapters: what the gateway reads from LLM provider request and response bodies
// (OpenAI, Azure OpenAI, Anthropic, Cohere v2, Google Gemini). Pure parsers over bytes: no I/O,
// no HTTP; the proxy hands them the body it holds or the stream chunks as they pass.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace warden::gateway {

// Bounds on what an adapter reads. A body or line past its bound is refused with
// VALIDATION_BODY_TOO_LARGE (details.field names the bound), not truncated.
inline constexpr std::size_t kRequestBodyBytesMax = 32u << 20;
inline constexpr std::size_t kResponseBodyBytesMax = 32u << 20;
// One SSE line and one event's joined data: a provider sends one JSON chunk per event.
inline constexpr std::size_t kSseLineBytesMax = 4u << 20;
inline constexpr std::size_t kSseEventBytesMax = 8u << 20;
// The streamed output text kept for a later estimate (an answer of 128k tokens is ~0.5 MiB).
inline constexpr std::size_t kStreamTextBytesMax = 16u << 20;
inline constexpr std::size_t kMessageCountMax = 100'000;
// A token count a provider reports; larger values are refused so sums cannot overflow.
inline constexpr std::int64_t kTokenCountMax = std::int64_t{1} << 40;

enum class Provider { kOpenAI, kAzureOpenAI, kAnthropic, kCohere, kGemini };
// kChat: OpenAI/Azure chat completions, Anthropic messages, Cohere v2 chat, Gemini
// generateContent / streamGenerateContent. kEmbeddings: OpenAI/Azure embeddings only.
enum class Operation { kChat, kEmbeddings };

// "openai", "azure_openai", "anthropic", "cohere", "gemini".
std::string_view provider_name(Provider provider);
// The inverse of provider_name(); anything else is VALIDATION_INVALID_VALUE.
Result<Provider> parse_provider(std::string_view name);

// What the URL (not the body) says about a request.
struct RequestTarget {
  Provider provider = Provider::kOpenAI;
  Operation operation = Operation::kChat;
  // The model named by the path: Azure's deployment (/openai/deployments/{deployment}/...) and
  // Gemini's /models/{model}:generateContent. Required for those two; when set it wins over a
  // body's "model" (the upstream bills the path's deployment).
  std::string path_model;
  // Gemini streams when the method is streamGenerateContent; its body has no stream flag.
  bool path_stream = false;
};

// One conversation turn as plain text, for a tokenizer that adds per-message overhead.
struct MessageText {
  std::string role;  // as the provider spells it ("system", "user", "assistant", "model", ...)
  std::string name;  // OpenAI's optional participant name, else empty
  std::string text;  // every text part of the turn, tool calls and results included, joined by '\n'
};

struct RequestFacts {
  std::string model;
  // The most output the request allows, when it says (max_completion_tokens, max_tokens,
  // generationConfig.maxOutputTokens); nullopt when the provider default applies.
  std::optional<std::int64_t> max_output_tokens;
  // System prompts kept outside the messages (Anthropic "system", Gemini "systemInstruction")
  // come first as a turn with role "system".
  std::vector<MessageText> messages;
  // Tool and function declarations (name, description, parameter schema as canonical JSON) and
  // response schemas, which the provider also counts as input.
  std::string tools_text;
  // Embedding inputs given as text, and the count of inputs given already as token ids.
  std::vector<std::string> inputs;
  std::int64_t input_token_ids = 0;
  // Parts that are not text (images, audio, files, documents by reference): not estimated.
  std::int64_t non_text_parts_ignored = 0;
  bool stream = false;
  // OpenAI/Azure: stream_options.include_usage, so the stream ends with a usage chunk.
  bool include_usage = false;
  std::size_t body_bytes = 0;

  // Everything to estimate, pieces joined by '\n' (messages, then tools, then inputs).
  std::string all_text() const;
};

// Reads a request body. Malformed JSON is VALIDATION_MALFORMED_JSON; a field of the wrong JSON
// type VALIDATION_WRONG_TYPE; a missing model or messages VALIDATION_MISSING_FIELD; a bad value
// (max tokens below 1, an operation the provider lacks) VALIDATION_INVALID_VALUE. details.field
// is the path of the field ("messages/2/content"). Fields the adapter does not need are ignored:
// the body is the provider's, forwarded as it is.
Result<RequestFacts> parse_request(const RequestTarget& target, std::string_view body);

struct Usage {
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  std::int64_t total_tokens = 0;
  // Set by the caller when it counted the tokens itself because the provider did not say.
  bool estimated = false;

  friend bool operator==(const Usage&, const Usage&) = default;
};

struct ResponseFacts {
  std::string model;
  // nullopt when the body carries no usage (a caller then estimates from `text`).
  std::optional<Usage> usage;
  // The output text: message contents, refusals, tool-call names and arguments, thinking.
  std::string text;
  // The provider's error message when the body is an error object ({"error": ...}).
  std::string upstream_error;
};

// Reads a whole (non-streamed) response body; errors as parse_request().
Result<ResponseFacts> parse_response(Provider provider, Operation operation, std::string_view body);

// One server-sent event as it arrives.
struct StreamEvent {
  std::string event;  // the SSE "event:" field, empty when absent (OpenAI, Gemini)
  std::string text;   // the output text this event added, possibly empty
  // Set on the event that completed the usage (see StreamSummary::usage).
  std::optional<Usage> usage;
  bool terminal = false;       // "[DONE]", message_stop, message-end
  std::string upstream_error;  // an error event's message
};

struct StreamSummary {
  // The provider's final usage: OpenAI's usage chunk (stream_options.include_usage); Anthropic's
  // message_start input with the last message_delta output; Gemini's usageMetadata on the chunk
  // that finished the candidate; Cohere's message-end usage. nullopt when the stream carried
  // none: the caller then counts `text` with the tokenizer and sets Usage::estimated.
  std::optional<Usage> usage;
  // The prompt tokens the provider reported early (Anthropic's message_start, a Gemini chunk)
  // even when the final usage never came, so an estimate needs only the output side.
  std::optional<std::int64_t> prompt_tokens;
  std::string text;  // all output text streamed so far
  std::int64_t events = 0;
  bool done = false;  // the provider's end marker was seen (Gemini: a finishReason)
  // Bytes after the last complete event, or no end marker, when the stream ended.
  bool truncated = false;
  std::string upstream_error;
  std::string model;
};

// Parses a provider's SSE stream fed in chunks split anywhere (inside a line, a UTF-8 sequence,
// the "data:" field name or a CRLF). Lines end with CRLF, LF or CR as the SSE format allows;
// comments (":") and unknown fields are skipped. After an error every later call returns it.
// Not thread-safe: one parser per stream. A moved-from parser may only be destroyed or assigned.
class StreamParser {
 public:
  // Chat streams only: no provider streams embeddings.
  explicit StreamParser(Provider provider);
  ~StreamParser();
  StreamParser(StreamParser&&) noexcept;
  StreamParser& operator=(StreamParser&&) noexcept;

  // Appends to *events each event this chunk completed.
  Status feed(std::string_view bytes, std::vector<StreamEvent>* events);
  // What the stream said so far.
  const StreamSummary& summary() const;
  // The stream ended (the upstream closed): sets `truncated` and returns the summary.
  Result<StreamSummary> finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace warden::gateway
