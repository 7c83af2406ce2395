// Streamed responses: each provider's SSE events turned into text deltas and usage.
#include "core/json.h"
#include "gateway/adapters.h"
#include "gateway/json_read.h"
#include "gateway/response_read.h"
#include "gateway/sse.h"

namespace warden::gateway {

using namespace internal;

struct StreamParser::Impl {
  Provider provider;
  SseDecoder decoder;
  StreamSummary summary;
  Status failed;
  // Gemini: the latest usageMetadata, final once a candidate finished.
  std::optional<Usage> gemini_latest;

  Status on_event(std::string_view event, std::string_view data, StreamEvent& out);
  Status openai_event(std::string_view data, StreamEvent& out);
  Status anthropic_event(const json::object& body, StreamEvent& out);
  Status cohere_event(const json::object& body, StreamEvent& out);
  Status gemini_event(const json::object& body, StreamEvent& out);
  void set_usage(const Usage& usage, StreamEvent& out) {
    summary.usage = usage;
    out.usage = usage;
  }
};

namespace {

// Each event's data is one JSON object; its offset in the stream is the event's number.
Result<json::object> event_object(std::string_view data, std::int64_t index) {
  auto parsed = parse_json(data);
  if (!parsed.ok()) {
    json::object d;
    d["field"] = "data";
    d["event_index"] = index;
    return Status(ErrorCode::VALIDATION_MALFORMED_JSON,
                  "event " + std::to_string(index) + ": " + parsed.status().message(),
                  std::move(d));
  }
  if (!parsed->is_object()) return wrong_type("data", "a JSON object");
  return std::move(parsed->as_object());
}

const json::object* object_at(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return (v != nullptr && v->is_object()) ? &v->as_object() : nullptr;
}

// A streamed text delta: appended as it is (deltas continue each other; no separator).
Status append_delta(const json::object& o, std::string_view key, std::string_view path,
                    std::string& out) {
  WARDEN_ASSIGN_OR_RETURN(const json::string* s, get_string(o, key, path));
  if (s != nullptr) out += *s;
  return Status();
}

}  // namespace

Status StreamParser::Impl::openai_event(std::string_view data, StreamEvent& out) {
  if (data == "[DONE]") {
    out.terminal = true;
    summary.done = true;
    return Status();
  }
  WARDEN_ASSIGN_OR_RETURN(json::object body, event_object(data, summary.events));
  out.upstream_error = error_message(body);
  if (!out.upstream_error.empty()) return Status();
  WARDEN_ASSIGN_OR_RETURN(const json::string* model, get_string(body, "model", ""));
  if (model != nullptr) summary.model = std::string(*model);
  WARDEN_ASSIGN_OR_RETURN(const json::array* choices, get_array(body, "choices", ""));
  if (choices != nullptr) {
    for (std::size_t i = 0; i < choices->size(); ++i) {
      const std::string path = join_path("choices", i);
      if (!(*choices)[i].is_object()) return wrong_type(path, "an object");
      WARDEN_ASSIGN_OR_RETURN(const json::object* delta,
                              get_object((*choices)[i].as_object(), "delta", path));
      if (delta == nullptr) continue;
      // Deltas are pieces of one text: joined as they come, without separators.
      std::string piece;
      WARDEN_RETURN_IF_ERROR(append_openai_message_text(*delta, join_path(path, "delta"), piece));
      out.text += piece;
    }
  }
  WARDEN_ASSIGN_OR_RETURN(const json::object* usage, get_object(body, "usage", ""));
  if (usage != nullptr) {
    WARDEN_ASSIGN_OR_RETURN(Usage u, openai_usage(*usage, "usage"));
    set_usage(u, out);
  }
  return Status();
}

Status StreamParser::Impl::anthropic_event(const json::object& body, StreamEvent& out) {
  WARDEN_ASSIGN_OR_RETURN(const json::string* type_field, get_string(body, "type", ""));
  const std::string_view type = type_field ? std::string_view(*type_field) : out.event;
  if (type == "message_start") {
    WARDEN_ASSIGN_OR_RETURN(const json::object* message, get_object(body, "message", ""));
    if (message == nullptr) return missing_field("message");
    WARDEN_ASSIGN_OR_RETURN(const json::string* model, get_string(*message, "model", "message"));
    if (model != nullptr) summary.model = std::string(*model);
    WARDEN_ASSIGN_OR_RETURN(const json::object* usage, get_object(*message, "usage", "message"));
    if (usage != nullptr) {
      WARDEN_ASSIGN_OR_RETURN(Usage u, anthropic_usage(*usage, "message/usage"));
      summary.prompt_tokens = u.prompt_tokens;
    }
  } else if (type == "content_block_start") {
    WARDEN_ASSIGN_OR_RETURN(const json::object* block, get_object(body, "content_block", ""));
    if (block != nullptr) {
      WARDEN_RETURN_IF_ERROR(append_delta(*block, "text", "content_block", out.text));
      WARDEN_ASSIGN_OR_RETURN(const json::string* block_type,
                              get_string(*block, "type", "content_block"));
      if (block_type != nullptr && *block_type == "tool_use") {
        WARDEN_RETURN_IF_ERROR(append_delta(*block, "name", "content_block", out.text));
      }
    }
  } else if (type == "content_block_delta") {
    WARDEN_ASSIGN_OR_RETURN(const json::object* delta, get_object(body, "delta", ""));
    if (delta != nullptr) {
      // text_delta, input_json_delta and thinking_delta each carry one of these.
      for (std::string_view key : {"text", "partial_json", "thinking"}) {
        WARDEN_RETURN_IF_ERROR(append_delta(*delta, key, "delta", out.text));
      }
    }
  } else if (type == "message_delta") {
    WARDEN_ASSIGN_OR_RETURN(const json::object* usage, get_object(body, "usage", ""));
    if (usage != nullptr) {
      // output_tokens is the running total; input counts, when repeated here, are too.
      WARDEN_ASSIGN_OR_RETURN(Usage u, anthropic_usage(*usage, "usage"));
      const json::value* input = usage->if_contains("input_tokens");
      if (input == nullptr || input->is_null()) u.prompt_tokens = summary.prompt_tokens.value_or(0);
      summary.prompt_tokens = u.prompt_tokens;
      u.total_tokens = u.prompt_tokens + u.completion_tokens;
      set_usage(u, out);
    }
  } else if (type == "message_stop") {
    out.terminal = true;
    summary.done = true;
  } else if (type == "error") {
    out.upstream_error = error_message(body);
  }
  return Status();  // ping and event types added later carry nothing counted
}

Status StreamParser::Impl::cohere_event(const json::object& body, StreamEvent& out) {
  WARDEN_ASSIGN_OR_RETURN(const json::string* type_field, get_string(body, "type", ""));
  const std::string_view type = type_field ? std::string_view(*type_field) : out.event;
  WARDEN_ASSIGN_OR_RETURN(const json::object* delta, get_object(body, "delta", ""));
  if (type == "message-end") {
    out.terminal = true;
    summary.done = true;
    if (delta == nullptr) return Status();
    WARDEN_ASSIGN_OR_RETURN(const json::object* usage, get_object(*delta, "usage", "delta"));
    if (usage == nullptr) return Status();
    WARDEN_ASSIGN_OR_RETURN(std::optional<Usage> u, cohere_usage(*usage, "delta/usage"));
    if (u) set_usage(*u, out);
    return Status();
  }
  const json::object* message = delta ? object_at(*delta, "message") : nullptr;
  if (message == nullptr) return Status();
  if (type == "content-start" || type == "content-delta") {
    if (const json::object* content = object_at(*message, "content")) {
      WARDEN_RETURN_IF_ERROR(append_delta(*content, "text", "delta/message/content", out.text));
    }
  } else if (type == "tool-plan-delta") {
    WARDEN_RETURN_IF_ERROR(append_delta(*message, "tool_plan", "delta/message", out.text));
  } else if (type == "tool-call-start" || type == "tool-call-delta") {
    if (const json::object* call = object_at(*message, "tool_calls")) {
      if (const json::object* fn = object_at(*call, "function")) {
        const char* path = "delta/message/tool_calls/function";
        WARDEN_RETURN_IF_ERROR(append_delta(*fn, "name", path, out.text));
        WARDEN_RETURN_IF_ERROR(append_delta(*fn, "arguments", path, out.text));
      }
    }
  }
  return Status();
}

Status StreamParser::Impl::gemini_event(const json::object& body, StreamEvent& out) {
  out.upstream_error = error_message(body);
  if (!out.upstream_error.empty()) return Status();
  WARDEN_ASSIGN_OR_RETURN(const json::string* model, get_string(body, "modelVersion", ""));
  if (model != nullptr) summary.model = std::string(*model);
  bool finished = false;
  std::string piece;
  WARDEN_RETURN_IF_ERROR(append_gemini_candidates_text(body, piece, &finished));
  out.text += piece;
  if (finished) summary.done = true;
  WARDEN_ASSIGN_OR_RETURN(const json::object* usage, get_object(body, "usageMetadata", ""));
  if (usage != nullptr) {
    WARDEN_ASSIGN_OR_RETURN(Usage u, gemini_usage(*usage, "usageMetadata"));
    gemini_latest = u;
    summary.prompt_tokens = u.prompt_tokens;
  }
  // A chunk before the finish reports the prompt and the output so far, not the final count.
  if (summary.done && gemini_latest && summary.usage != gemini_latest) {
    set_usage(*gemini_latest, out);
  }
  return Status();
}

Status StreamParser::Impl::on_event(std::string_view event, std::string_view data,
                                    StreamEvent& out) {
  out.event = std::string(event);
  if (provider == Provider::kOpenAI || provider == Provider::kAzureOpenAI) {
    return openai_event(data, out);
  }
  WARDEN_ASSIGN_OR_RETURN(json::object body, event_object(data, summary.events));
  switch (provider) {
    case Provider::kAnthropic:
      return anthropic_event(body, out);
    case Provider::kCohere:
      return cohere_event(body, out);
    case Provider::kGemini:
      return gemini_event(body, out);
    default:
      return Status();
  }
}

StreamParser::StreamParser(Provider provider) : impl_(std::make_unique<Impl>()) {
  impl_->provider = provider;
}
StreamParser::~StreamParser() = default;
StreamParser::StreamParser(StreamParser&&) noexcept = default;
StreamParser& StreamParser::operator=(StreamParser&&) noexcept = default;

Status StreamParser::feed(std::string_view bytes, std::vector<StreamEvent>* events) {
  Impl& s = *impl_;
  if (!s.failed.ok()) return s.failed;
  s.failed = s.decoder.feed(bytes, [&](std::string_view event, std::string_view data) -> Status {
    StreamEvent out;
    WARDEN_RETURN_IF_ERROR(s.on_event(event, data, out));
    ++s.summary.events;
    if (s.summary.text.size() + out.text.size() > kStreamTextBytesMax) {
      json::object d;
      d["field"] = "text";
      return Status(ErrorCode::VALIDATION_BODY_TOO_LARGE,
                    "streamed text longer than " + std::to_string(kStreamTextBytesMax) + " bytes",
                    std::move(d));
    }
    s.summary.text += out.text;
    if (!out.upstream_error.empty()) s.summary.upstream_error = out.upstream_error;
    if (events != nullptr) events->push_back(std::move(out));
    return Status();
  });
  return s.failed;
}

const StreamSummary& StreamParser::summary() const { return impl_->summary; }

Result<StreamSummary> StreamParser::finish() {
  Impl& s = *impl_;
  if (!s.failed.ok()) return s.failed;
  s.summary.truncated = !s.summary.done || s.decoder.has_pending();
  return s.summary;
}

}  // namespace warden::gateway
