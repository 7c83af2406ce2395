// Provider bodies built from the providers' documented formats, shared by the adapter tests
// and the mutation test: requests, whole responses and SSE streams, with the values each must
// parse to.
#pragma once

#include <string>
#include <vector>

#include "gateway/adapters.h"

namespace warden::gateway::testing {

inline const char kOpenAiChatRequest[] = R"({
  "model": "gpt-4o-mini",
  "messages": [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "name": "ana", "content": [
      {"type": "text", "text": "What is in this image?"},
      {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}}
    ]},
    {"role": "assistant", "content": null, "tool_calls": [
      {"id": "call_1", "type": "function",
       "function": {"name": "lookup", "arguments": "{\"q\":\"cat\"}"}}
    ]},
    {"role": "tool", "tool_call_id": "call_1", "content": "A cat."}
  ],
  "tools": [{"type": "function", "function": {"name": "lookup", "description": "Search.",
    "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}],
  "max_completion_tokens": 256,
  "temperature": 0.2,
  "stream": true,
  "stream_options": {"include_usage": true}
})";

inline const char kAnthropicRequest[] = R"({
  "model": "claude-sonnet-4-5",
  "max_tokens": 1024,
  "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
  "messages": [
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": [
      {"type": "text", "text": "Checking."},
      {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
    ]},
    {"role": "user", "content": [
      {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "18C"}]},
      {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0K"}}
    ]}
  ],
  "tools": [{"name": "get_weather", "description": "Current weather.",
             "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
  "stream": true
})";

inline const char kCohereRequest[] = R"({
  "model": "command-a-03-2025",
  "messages": [
    {"role": "system", "content": "Answer in French."},
    {"role": "user", "content": [{"type": "text", "text": "Capital of Japan?"}]},
    {"role": "assistant", "tool_plan": "I will search.", "tool_calls": [
      {"id": "c1", "type": "function", "function": {"name": "search", "arguments": "{\"q\":\"Japan\"}"}}
    ]},
    {"role": "tool", "tool_call_id": "c1", "content": [
      {"type": "document", "document": {"data": {"capital": "Tokyo"}}}
    ]}
  ],
  "tools": [{"type": "function", "function": {"name": "search", "description": "Web search.",
             "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}],
  "max_tokens": 300,
  "stream": false
})";

inline const char kGeminiRequest[] = R"({
  "systemInstruction": {"parts": [{"text": "You are a cat."}]},
  "contents": [
    {"role": "user", "parts": [
      {"text": "Describe this."},
      {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/4AAQ"}}
    ]},
    {"role": "model", "parts": [{"functionCall": {"name": "look", "args": {"at": "box"}}}]},
    {"role": "user", "parts": [{"functionResponse": {"name": "look", "response": {"seen": "fish"}}}]}
  ],
  "tools": [{"functionDeclarations": [{"name": "look", "description": "Look at a thing.",
             "parameters": {"type": "object", "properties": {"at": {"type": "string"}}}}]}],
  "generationConfig": {"maxOutputTokens": 800, "temperature": 1.0}
})";

inline const char kOpenAiEmbeddingsRequest[] =
    R"({"model": "text-embedding-3-small", "input": ["first text", "second"], "dimensions": 256})";

// Streams: chunk JSON as each provider documents it, with the usage they must yield.
inline const char kOpenAiStream[] =
    "data: "
    "{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\","
    "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_"
    "reason\":null}],"
    "\"usage\":null}\n\n"
    "data: "
    "{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\","
    "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"},\"finish_reason\":null}],"
    "\"usage\":null}\n\n"
    "data: "
    "{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\","
    "\"choices\":[{\"index\":0,\"delta\":{\"content\":\" w\xC3\xB6rld \xF0\x9F\x91\x8B\"},"
    "\"finish_reason\":null}],\"usage\":null}\n\n"
    "data: "
    "{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\","
    "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n"
    "data: "
    "{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\","
    "\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":4,\"total_tokens\":13}}"
    "\n\n"
    "data: [DONE]\n\n";
inline const char kOpenAiStreamText[] = "Hello w\xC3\xB6rld \xF0\x9F\x91\x8B";

// Azure OpenAI opens a stream with the prompt's content-filter results and no choices.
inline const std::string kAzureStream =
    std::string(
        "data: {\"choices\":[],\"created\":0,\"id\":\"\",\"model\":\"\",\"object\":\"\","
        "\"prompt_filter_results\":[{\"prompt_index\":0,\"content_filter_results\":{\"hate\":"
        "{\"filtered\":false,\"severity\":\"safe\"}}}]}\n\n") +
    kOpenAiStream;

inline const char kAnthropicStream[] =
    "event: message_start\r\n"
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\","
    "\"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-5\",\"stop_reason\":null,"
    "\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,\"cache_creation_input_tokens\":0,"
    "\"cache_read_input_tokens\":10,\"output_tokens\":1}}}\r\n\r\n"
    "event: content_block_start\r\n"
    "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\","
    "\"text\":\"\"}}\r\n\r\n"
    "event: ping\r\ndata: {\"type\": \"ping\"}\r\n\r\n"
    "event: content_block_delta\r\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
    "\"text\":\"Hello\"}}\r\n\r\n"
    "event: content_block_delta\r\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
    "\"text\":\"! \xE6\x97\xA5\xE6\x9C\xAC\"}}\r\n\r\n"
    "event: content_block_stop\r\ndata: {\"type\":\"content_block_stop\",\"index\":0}\r\n\r\n"
    "event: content_block_start\r\n"
    "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\","
    "\"id\":\"toolu_1\",\"name\":\"get_weather\",\"input\":{}}}\r\n\r\n"
    "event: content_block_delta\r\n"
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\","
    "\"partial_json\":\"{\\\"city\\\": \\\"Par\"}}\r\n\r\n"
    "event: content_block_delta\r\n"
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\","
    "\"partial_json\":\"is\\\"}\"}}\r\n\r\n"
    "event: content_block_stop\r\ndata: {\"type\":\"content_block_stop\",\"index\":1}\r\n\r\n"
    "event: message_delta\r\n"
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\","
    "\"stop_sequence\":null},\"usage\":{\"output_tokens\":15}}\r\n\r\n"
    "event: message_stop\r\ndata: {\"type\":\"message_stop\"}\r\n\r\n";
inline const char kAnthropicStreamText[] =
    "Hello! \xE6\x97\xA5\xE6\x9C\xAC"
    "get_weather{\"city\": \"Paris\"}";

inline const char kCohereStream[] =
    "event: message-start\n"
    "data: "
    "{\"id\":\"5a5c\",\"type\":\"message-start\",\"delta\":{\"message\":{\"role\":\"assistant\","
    "\"content\":[],\"tool_plan\":\"\",\"tool_calls\":[],\"citations\":[]}}}\n\n"
    "event: content-start\n"
    "data: {\"type\":\"content-start\",\"index\":0,\"delta\":{\"message\":{\"content\":"
    "{\"type\":\"text\",\"text\":\"\"}}}}\n\n"
    "event: content-delta\n"
    "data: {\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":"
    "{\"text\":\"Tokyo\"}}}}\n\n"
    "event: content-delta\n"
    "data: {\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":"
    "{\"text\":\" est la capitale.\"}}}}\n\n"
    "event: content-end\ndata: {\"type\":\"content-end\",\"index\":0}\n\n"
    "event: message-end\n"
    "data: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"COMPLETE\",\"usage\":"
    "{\"billed_units\":{\"input_tokens\":12,\"output_tokens\":6},"
    "\"tokens\":{\"input_tokens\":210,\"output_tokens\":6}}}}\n\n";
inline const char kCohereStreamText[] = "Tokyo est la capitale.";

inline const char kGeminiStream[] =
    "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Once\"}],\"role\": \"model\"},"
    "\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 8,\"totalTokenCount\": 8},"
    "\"modelVersion\": \"gemini-2.5-flash\"}\r\n\r\n"
    "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \" upon a time\"}],"
    "\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": "
    "{\"promptTokenCount\": 8,\"candidatesTokenCount\": 12,\"thoughtsTokenCount\": 3,"
    "\"totalTokenCount\": 23},\"modelVersion\": \"gemini-2.5-flash\"}\r\n\r\n";
inline const char kGeminiStreamText[] = "Once upon a time";

struct StreamCase {
  const char* name;
  Provider provider;
  std::string body;
  std::string text;
  Usage usage;
};

inline std::vector<StreamCase> stream_cases() {
  return {
      {"openai", Provider::kOpenAI, kOpenAiStream, kOpenAiStreamText, Usage{9, 4, 13, false}},
      {"azure_openai", Provider::kAzureOpenAI, kAzureStream, kOpenAiStreamText,
       Usage{9, 4, 13, false}},
      {"anthropic", Provider::kAnthropic, kAnthropicStream, kAnthropicStreamText,
       Usage{35, 15, 50, false}},
      {"cohere", Provider::kCohere, kCohereStream, kCohereStreamText, Usage{12, 6, 18, false}},
      {"gemini", Provider::kGemini, kGeminiStream, kGeminiStreamText, Usage{8, 15, 23, false}},
  };
}

}  // namespace warden::gateway::testing
