// Response adapters: usage and output text of each provider's (non-streamed) response body.
#include "core/json.h"
#include "gateway/adapters.h"
#include "gateway/json_read.h"
#include "gateway/response_read.h"

namespace warden::gateway {
namespace internal {

namespace {

Result<std::int64_t> count_or_zero(const json::object& o, std::string_view key,
                                   std::string_view path) {
  WARDEN_ASSIGN_OR_RETURN(std::optional<std::int64_t> n, get_count(o, key, path));
  return n.value_or(0);
}

Usage make_usage(std::int64_t prompt, std::int64_t completion, std::optional<std::int64_t> total) {
  Usage u;
  u.prompt_tokens = prompt;
  u.completion_tokens = completion;
  u.total_tokens = total.value_or(prompt + completion);
  return u;
}



}  // namespace

Result<Usage> openai_usage(const json::object& usage, std::string_view path) {
  WARDEN_ASSIGN_OR_RETURN(std::optional<std::int64_t> prompt,
                          get_count(usage, "prompt_tokens", path));
  if (!prompt) return missing_field(join_path(path, "prompt_tokens"));
  WARDEN_ASSIGN_OR_RETURN(std::int64_t completion, count_or_zero(usage, "completion_tokens", path));
  WARDEN_ASSIGN_OR_RETURN(std::optional<std::int64_t> total,
                          get_count(usage, "total_tokens", path));
  return make_usage(*prompt, completion, total);
}

Result<Usage> anthropic_usage(const json::object& usage, std::string_view path) {
  std::int64_t prompt = 0;
  for (std::string_view key :
       {"input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"}) {
    WARDEN_ASSIGN_OR_RETURN(std::int64_t n, count_or_zero(usage, key, path));
    prompt += n;
  }
  WARDEN_ASSIGN_OR_RETURN(std::int64_t completion, count_or_zero(usage, "output_tokens", path));
  return make_usage(prompt, completion, std::nullopt);
}

Result<std::optional<Usage>> cohere_usage(const json::object& usage, std::string_view path) {
  for (std::string_view key : {"billed_units", "tokens"}) {
    WARDEN_ASSIGN_OR_RETURN(const json::object* counts, get_object(usage, key, path));
    if (counts == nullptr) continue;
    const std::string counts_path = join_path(path, key);
    WARDEN_ASSIGN_OR_RETURN(std::int64_t in, count_or_zero(*counts, "input_tokens", counts_path));
    WARDEN_ASSIGN_OR_RETURN(std::int64_t out, count_or_zero(*counts, "output_tokens", counts_path));
    return std::optional<Usage>(make_usage(in, out, std::nullopt));
  }
  return std::optional<Usage>();
}

Result<Usage> gemini_usage(const json::object& usage, std::string_view path) {
  WARDEN_ASSIGN_OR_RETURN(std::int64_t prompt, count_or_zero(usage, "promptTokenCount", path));
  WARDEN_ASSIGN_OR_RETURN(std::int64_t tool_prompt,
                          count_or_zero(usage, "toolUsePromptTokenCount", path));
  WARDEN_ASSIGN_OR_RETURN(std::int64_t candidates,
                          count_or_zero(usage, "candidatesTokenCount", path));
  WARDEN_ASSIGN_OR_RETURN(std::int64_t thoughts, count_or_zero(usage, "thoughtsTokenCount", path));
  WARDEN_ASSIGN_OR_RETURN(std::optional<std::int64_t> total,
                          get_count(usage, "totalTokenCount", path));
  return make_usage(prompt + tool_prompt, candidates + thoughts, total);
}

namespace {


}  // namespace

Status append_openai_message_text(const json::object& message, std::string_view path,
                                  std::string& out) {
  const json::value* content = message.if_contains("content");
  if (content != nullptr && content->is_string()) {
    append_piece(out, content->as_string());
  } else if (content != nullptr && !content->is_null()) {
    return wrong_type(join_path(path, "content"), "a string");
  }
  WARDEN_RETURN_IF_ERROR(append_string(message, "refusal", path, out));
  WARDEN_ASSIGN_OR_RETURN(const json::array* calls, get_array(message, "tool_calls", path));
  if (calls != nullptr) {
    for (std::size_t i = 0; i < calls->size(); ++i) {
      const std::string call_path = join_path(join_path(path, "tool_calls"), i);
      const json::object* call = object_or_null((*calls)[i]);
      if (call == nullptr) return wrong_type(call_path, "an object");
      WARDEN_ASSIGN_OR_RETURN(const json::object* fn, get_object(*call, "function", call_path));
      if (fn != nullptr) {
        WARDEN_RETURN_IF_ERROR(append_function_call(*fn, join_path(call_path, "function"), out));
      }
    }
  }
  WARDEN_ASSIGN_OR_RETURN(const json::object* legacy, get_object(message, "function_call", path));
  if (legacy != nullptr) {
    WARDEN_RETURN_IF_ERROR(append_function_call(*legacy, join_path(path, "function_call"), out));
  }
  return Status();
}

Status append_anthropic_blocks_text(const json::array& blocks, std::string_view path,
                                    std::string& out) {
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    const std::string block_path = join_path(path, i);
    const json::object* block = object_or_null(blocks[i]);
    if (block == nullptr) return wrong_type(block_path, "an object");
    WARDEN_ASSIGN_OR_RETURN(const json::string* type, get_string(*block, "type", block_path));
    if (type == nullptr) return missing_field(join_path(block_path, "type"));
    if (*type == "text") {
      WARDEN_RETURN_IF_ERROR(append_string(*block, "text", block_path, out));
    } else if (*type == "thinking") {
      WARDEN_RETURN_IF_ERROR(append_string(*block, "thinking", block_path, out));
    } else if (*type == "tool_use") {
      WARDEN_RETURN_IF_ERROR(append_string(*block, "name", block_path, out));
      if (const json::value* in = block->if_contains("input"); in && !in->is_null()) {
        append_piece(out, value_text(*in));
      }
    }
  }
  return Status();
}

Status append_gemini_candidates_text(const json::object& response, std::string& out,
                                     bool* finished) {
  WARDEN_ASSIGN_OR_RETURN(const json::array* candidates, get_array(response, "candidates", ""));
  if (candidates == nullptr) return Status();
  for (std::size_t i = 0; i < candidates->size(); ++i) {
    const std::string path = join_path("candidates", i);
    const json::object* candidate = object_or_null((*candidates)[i]);
    if (candidate == nullptr) return wrong_type(path, "an object");
    WARDEN_ASSIGN_OR_RETURN(const json::string* reason,
                            get_string(*candidate, "finishReason", path));
    if (reason != nullptr && finished != nullptr) *finished = true;
    WARDEN_ASSIGN_OR_RETURN(const json::object* content, get_object(*candidate, "content", path));
    if (content == nullptr) continue;
    const std::string content_path = join_path(path, "content");
    WARDEN_ASSIGN_OR_RETURN(const json::array* parts, get_array(*content, "parts", content_path));
    if (parts == nullptr) continue;
    for (std::size_t j = 0; j < parts->size(); ++j) {
      const std::string part_path = join_path(join_path(content_path, "parts"), j);
      const json::object* part = object_or_null((*parts)[j]);
      if (part == nullptr) return wrong_type(part_path, "an object");
      WARDEN_RETURN_IF_ERROR(append_string(*part, "text", part_path, out));
      WARDEN_ASSIGN_OR_RETURN(const json::object* call,
                              get_object(*part, "functionCall", part_path));
      if (call != nullptr) {
        WARDEN_RETURN_IF_ERROR(append_string(*call, "name", part_path, out));
        if (const json::value* args = call->if_contains("args"); args && !args->is_null()) {
          append_piece(out, value_text(*args));
        }
      }
    }
  }
  return Status();
}

std::string error_message(const json::object& body) {
  const json::value* error = body.if_contains("error");
  if (error == nullptr || error->is_null()) return "";
  if (error->is_string()) return std::string(error->as_string());
  if (const json::object* o = object_or_null(*error)) {
    if (const json::value* m = o->if_contains("message"); m && m->is_string()) {
      return std::string(m->as_string());
    }
  }
  return canonical_json(*error);
}

}  // namespace internal

using namespace internal;

namespace {

Status read_model_name(const json::object& body, std::string_view key, ResponseFacts& facts) {
  WARDEN_ASSIGN_OR_RETURN(const json::string* model, get_string(body, key, ""));
  if (model != nullptr) facts.model = std::string(*model);
  return Status();
}

Status read_openai(const json::object& body, ResponseFacts& facts) {
  WARDEN_RETURN_IF_ERROR(read_model_name(body, "model", facts));
  WARDEN_ASSIGN_OR_RETURN(const json::object* usage, get_object(body, "usage", ""));
  if (usage != nullptr) {
    WARDEN_ASSIGN_OR_RETURN(facts.usage, openai_usage(*usage, "usage"));
  }
  WARDEN_ASSIGN_OR_RETURN(const json::array* choices, get_array(body, "choices", ""));
  if (choices == nullptr) return Status();
  for (std::size_t i = 0; i < choices->size(); ++i) {
    const std::string path = join_path("choices", i);
    const json::object* choice = object_or_null((*choices)[i]);
    if (choice == nullptr) return wrong_type(path, "an object");
    WARDEN_ASSIGN_OR_RETURN(const json::object* message, get_object(*choice, "message", path));
    if (message != nullptr) {
      WARDEN_RETURN_IF_ERROR(
          append_openai_message_text(*message, join_path(path, "message"), facts.text));
    }
  }
  return Status();
}

Status read_anthropic(const json::object& body, ResponseFacts& facts) {
  WARDEN_RETURN_IF_ERROR(read_model_name(body, "model", facts));
  WARDEN_ASSIGN_OR_RETURN(const json::object* usage, get_object(body, "usage", ""));
  if (usage != nullptr) {
    WARDEN_ASSIGN_OR_RETURN(facts.usage, anthropic_usage(*usage, "usage"));
  }
  WARDEN_ASSIGN_OR_RETURN(const json::array* content, get_array(body, "content", ""));
  if (content != nullptr) {
    WARDEN_RETURN_IF_ERROR(append_anthropic_blocks_text(*content, "content", facts.text));
  }
  return Status();
}

Status read_cohere(const json::object& body, ResponseFacts& facts) {
  WARDEN_ASSIGN_OR_RETURN(const json::object* usage, get_object(body, "usage", ""));
  if (usage != nullptr) {
    WARDEN_ASSIGN_OR_RETURN(facts.usage, cohere_usage(*usage, "usage"));
  }
  WARDEN_ASSIGN_OR_RETURN(const json::object* message, get_object(body, "message", ""));
  if (message == nullptr) return Status();
  const json::value* content = message->if_contains("content");
  if (content != nullptr && content->is_array()) {
    const json::array& parts = content->as_array();
    for (std::size_t i = 0; i < parts.size(); ++i) {
      const std::string path = join_path("message/content", i);
      const json::object* part = object_or_null(parts[i]);
      if (part == nullptr) return wrong_type(path, "an object");
      WARDEN_RETURN_IF_ERROR(append_string(*part, "text", path, facts.text));
    }
  } else if (content != nullptr && !content->is_null()) {
    return wrong_type("message/content", "an array");
  }
  WARDEN_RETURN_IF_ERROR(append_string(*message, "tool_plan", "message", facts.text));
  WARDEN_ASSIGN_OR_RETURN(const json::array* calls, get_array(*message, "tool_calls", "message"));
  if (calls != nullptr) {
    json::object shell;  // the tool calls have OpenAI's shape
    shell["tool_calls"] = *calls;
    WARDEN_RETURN_IF_ERROR(append_openai_message_text(shell, "message", facts.text));
  }
  return Status();
}

Status read_gemini(const json::object& body, ResponseFacts& facts) {
  WARDEN_RETURN_IF_ERROR(read_model_name(body, "modelVersion", facts));
  WARDEN_ASSIGN_OR_RETURN(const json::object* usage, get_object(body, "usageMetadata", ""));
  if (usage != nullptr) {
    WARDEN_ASSIGN_OR_RETURN(facts.usage, gemini_usage(*usage, "usageMetadata"));
  }
  return append_gemini_candidates_text(body, facts.text, nullptr);
}

}  // namespace

Result<ResponseFacts> parse_response(Provider provider, Operation operation,
                                     std::string_view body) {
  if (operation == Operation::kEmbeddings && provider != Provider::kOpenAI &&
      provider != Provider::kAzureOpenAI) {
    return invalid_value("operation", "embeddings are read for openai and azure_openai only");
  }
  WARDEN_ASSIGN_OR_RETURN(json::object obj, parse_object(body, kResponseBodyBytesMax, "response"));
  ResponseFacts facts;
  facts.upstream_error = error_message(obj);
  // Cohere's error body is {"message": "..."}; its answers carry a message object.
  if (provider == Provider::kCohere) {
    if (const json::value* m = obj.if_contains("message"); m && m->is_string()) {
      facts.upstream_error = std::string(m->as_string());
      return facts;
    }
  }
  if (!facts.upstream_error.empty()) return facts;
  switch (provider) {
    case Provider::kOpenAI:
    case Provider::kAzureOpenAI:
      WARDEN_RETURN_IF_ERROR(read_openai(obj, facts));
      break;
    case Provider::kAnthropic:
      WARDEN_RETURN_IF_ERROR(read_anthropic(obj, facts));
      break;
    case Provider::kCohere:
      WARDEN_RETURN_IF_ERROR(read_cohere(obj, facts));
      break;
    case Provider::kGemini:
      WARDEN_RETURN_IF_ERROR(read_gemini(obj, facts));
      break;
  }
  return facts;
}

}  // namespace warden::gateway
