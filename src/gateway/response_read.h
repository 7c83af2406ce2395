// Usage objects and output text of provider responses, shared by the whole-body and the
// streamed response adapters.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"
#include "gateway/adapters.h"
#include "gateway/json_read.h"

namespace warden::gateway::internal {

// OpenAI/Azure "usage": prompt_tokens, completion_tokens (absent for embeddings), total_tokens.
Result<Usage> openai_usage(const json::object& usage, std::string_view path);
// Anthropic "usage": input_tokens plus the cache's creation and read tokens (billed as input,
// reported apart), output_tokens. Fields absent count zero.
Result<Usage> anthropic_usage(const json::object& usage, std::string_view path);
// Cohere "usage": billed_units (what is charged), else tokens (what the model processed).
Result<std::optional<Usage>> cohere_usage(const json::object& usage, std::string_view path);
// Gemini "usageMetadata": prompt = promptTokenCount + toolUsePromptTokenCount, completion =
// candidatesTokenCount + thoughtsTokenCount (thinking is billed as output), total as reported.
Result<Usage> gemini_usage(const json::object& usage, std::string_view path);

// The text of an OpenAI message or stream delta: content, refusal, tool-call names and
// arguments, a legacy function_call.
Status append_openai_message_text(const json::object& message, std::string_view path,
                                  std::string& out);
// The text of Anthropic content blocks: text, thinking, tool_use name and input.
Status append_anthropic_blocks_text(const json::array& blocks, std::string_view path,
                                    std::string& out);
// The text of a Gemini response's candidates; *finished is set when one has a finishReason.
Status append_gemini_candidates_text(const json::object& response, std::string& out,
                                     bool* finished);

// The message of an error body ({"error": {"message": ...}} or {"error": "..."}); "" when none.
std::string error_message(const json::object& body);

}  // namespace warden::gateway::internal
