// Request adapters: the model, the output bound, the text to estimate and the stream flag of
// each provider's request body.
#include <boost/json/value.hpp>

#include "core/json.h"
#include "gateway/adapters.h"
#include "gateway/json_read.h"

namespace warden::gateway {

using namespace internal;

std::string_view provider_name(Provider provider) {
  switch (provider) {
    case Provider::kOpenAI:
      return "openai";
    case Provider::kAzureOpenAI:
      return "azure_openai";
    case Provider::kAnthropic:
      return "anthropic";
    case Provider::kCohere:
      return "cohere";
    case Provider::kGemini:
      return "gemini";
  }
  return "unknown";
}

Result<Provider> parse_provider(std::string_view name) {
  for (Provider p : {Provider::kOpenAI, Provider::kAzureOpenAI, Provider::kAnthropic,
                     Provider::kCohere, Provider::kGemini}) {
    if (provider_name(p) == name) return p;
  }
  return invalid_value("provider", "unknown provider \"" + std::string(name) +
                                       "\" (openai, azure_openai, anthropic, cohere, gemini)");
}

std::string RequestFacts::all_text() const {
  std::string out;
  for (const MessageText& m : messages) append_piece(out, m.text);
  append_piece(out, tools_text);
  for (const std::string& s : inputs) append_piece(out, s);
  return out;
}

namespace {

// name, description and a schema under schema_key, as one declaration's text.
Status append_declaration(const json::object& decl, std::string_view schema_key,
                          std::string_view path, std::string& out) {
  WARDEN_RETURN_IF_ERROR(append_string(decl, "name", path, out));
  WARDEN_RETURN_IF_ERROR(append_string(decl, "description", path, out));
  if (const json::value* schema = decl.if_contains(schema_key);
      schema != nullptr && !schema->is_null()) {
    append_piece(out, value_text(*schema));
  }
  return Status();
}

Status check_count(const json::array& a, std::string_view path) {
  if (a.size() > kMessageCountMax) {
    return invalid_value(path, "more than " + std::to_string(kMessageCountMax) + " entries");
  }
  return Status();
}

// The output bound: at least one token when given.
Status read_max_tokens(const json::object& o, std::string_view key, std::string_view path,
                       RequestFacts& facts) {
  WARDEN_ASSIGN_OR_RETURN(std::optional<std::int64_t> n, get_count(o, key, path));
  if (!n) return Status();
  if (*n < 1) return invalid_value(join_path(path, key), "must be at least 1");
  facts.max_output_tokens = n;
  return Status();
}

Status read_model(const RequestTarget& target, const json::object& body, RequestFacts& facts) {
  WARDEN_ASSIGN_OR_RETURN(const json::string* model, get_string(body, "model", ""));
  if (!target.path_model.empty()) {
    facts.model = target.path_model;
    return Status();
  }
  if (target.provider == Provider::kAzureOpenAI) return missing_field("deployment");
  if (target.provider == Provider::kGemini) return missing_field("model");
  if (model == nullptr) return missing_field("model");
  if (model->empty()) return invalid_value("model", "must not be empty");
  facts.model = std::string(*model);
  return Status();
}

Status read_stream(const json::object& body, RequestFacts& facts) {
  WARDEN_ASSIGN_OR_RETURN(std::optional<bool> stream, get_bool(body, "stream", ""));
  facts.stream = stream.value_or(false);
  return Status();
}

Result<const json::array*> required_array(const json::object& o, std::string_view key) {
  WARDEN_ASSIGN_OR_RETURN(const json::array* a, get_array(o, key, ""));
  if (a == nullptr) return missing_field(key);
  WARDEN_RETURN_IF_ERROR(check_count(*a, key));
  return a;
}

// ---- OpenAI and Azure OpenAI (and Cohere v2, whose content parts have the same shape) ----

// A content part that is not text; Cohere's documents carry text under document.data.
Status read_part(const json::object& part, std::string_view path, MessageText& m,
                 RequestFacts& facts) {
  WARDEN_ASSIGN_OR_RETURN(const json::string* type, get_string(part, "type", path));
  if (type == nullptr) return missing_field(join_path(path, "type"));
  if (*type == "text") return append_string(part, "text", path, m.text);
  if (*type == "refusal") return append_string(part, "refusal", path, m.text);
  if (*type == "document") {
    WARDEN_ASSIGN_OR_RETURN(const json::object* doc, get_object(part, "document", path));
    const json::value* data = doc ? doc->if_contains("data") : nullptr;
    if (data != nullptr && !data->is_null()) {
      append_piece(m.text, value_text(*data));
      return Status();
    }
  }
  ++facts.non_text_parts_ignored;  // image_url, input_audio, file, ...
  return Status();
}

Status read_content(const json::object& msg, std::string_view path, MessageText& m,
                    RequestFacts& facts) {
  const json::value* content = msg.if_contains("content");
  if (content == nullptr || content->is_null()) return Status();
  const std::string content_path = join_path(path, "content");
  if (content->is_string()) {
    append_piece(m.text, content->as_string());
    return Status();
  }
  if (!content->is_array()) return wrong_type(content_path, "a string or an array");
  const json::array& parts = content->as_array();
  WARDEN_RETURN_IF_ERROR(check_count(parts, content_path));
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const std::string part_path = join_path(content_path, i);
    const json::object* part = object_or_null(parts[i]);
    if (part == nullptr) return wrong_type(part_path, "an object");
    WARDEN_RETURN_IF_ERROR(read_part(*part, part_path, m, facts));
  }
  return Status();
}

// {"name": ..., "arguments": "..."} of a tool call or a legacy function_call.
Status read_tool_calls(const json::object& msg, std::string_view path, MessageText& m) {
  WARDEN_ASSIGN_OR_RETURN(const json::array* calls, get_array(msg, "tool_calls", path));
  if (calls != nullptr) {
    const std::string calls_path = join_path(path, "tool_calls");
    WARDEN_RETURN_IF_ERROR(check_count(*calls, calls_path));
    for (std::size_t i = 0; i < calls->size(); ++i) {
      const std::string call_path = join_path(calls_path, i);
      const json::object* call = object_or_null((*calls)[i]);
      if (call == nullptr) return wrong_type(call_path, "an object");
      WARDEN_ASSIGN_OR_RETURN(const json::object* fn, get_object(*call, "function", call_path));
      if (fn != nullptr) {
        WARDEN_RETURN_IF_ERROR(append_function_call(*fn, join_path(call_path, "function"), m.text));
      }
    }
  }
  WARDEN_ASSIGN_OR_RETURN(const json::object* legacy, get_object(msg, "function_call", path));
  if (legacy != nullptr) {
    WARDEN_RETURN_IF_ERROR(append_function_call(*legacy, join_path(path, "function_call"), m.text));
  }
  return Status();
}

Status read_chat_messages(const json::array& messages, RequestFacts& facts) {
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const std::string path = join_path("messages", i);
    const json::object* msg = object_or_null(messages[i]);
    if (msg == nullptr) return wrong_type(path, "an object");
    MessageText m;
    WARDEN_ASSIGN_OR_RETURN(const json::string* role, get_string(*msg, "role", path));
    if (role == nullptr) return missing_field(join_path(path, "role"));
    m.role = std::string(*role);
    WARDEN_ASSIGN_OR_RETURN(const json::string* name, get_string(*msg, "name", path));
    if (name != nullptr) m.name = std::string(*name);
    WARDEN_RETURN_IF_ERROR(read_content(*msg, path, m, facts));
    WARDEN_RETURN_IF_ERROR(append_string(*msg, "refusal", path, m.text));
    WARDEN_RETURN_IF_ERROR(append_string(*msg, "tool_plan", path, m.text));  // Cohere
    WARDEN_RETURN_IF_ERROR(read_tool_calls(*msg, path, m));
    facts.messages.push_back(std::move(m));
  }
  return Status();
}

// tools: [{"type": "function", "function": {name, description, parameters}}] (OpenAI, Cohere)
// when wrapped, else [{name, description, <schema_key>}] (OpenAI's legacy functions, Anthropic).
Status read_function_tools(const json::object& body, std::string_view key, bool wrapped,
                           std::string_view schema_key, RequestFacts& facts) {
  WARDEN_ASSIGN_OR_RETURN(const json::array* tools, get_array(body, key, ""));
  if (tools == nullptr) return Status();
  WARDEN_RETURN_IF_ERROR(check_count(*tools, key));
  for (std::size_t i = 0; i < tools->size(); ++i) {
    const std::string path = join_path(key, i);
    const json::object* tool = object_or_null((*tools)[i]);
    if (tool == nullptr) return wrong_type(path, "an object");
    const json::object* decl = tool;
    std::string decl_path = path;
    if (wrapped) {
      WARDEN_ASSIGN_OR_RETURN(decl, get_object(*tool, "function", path));
      decl_path = join_path(path, "function");
      if (decl == nullptr) continue;  // a built-in tool without a declaration
    }
    WARDEN_RETURN_IF_ERROR(append_declaration(*decl, schema_key, decl_path, facts.tools_text));
  }
  return Status();
}

Status read_openai_chat(const json::object& body, RequestFacts& facts) {
  WARDEN_ASSIGN_OR_RETURN(const json::array* messages, required_array(body, "messages"));
  WARDEN_RETURN_IF_ERROR(read_chat_messages(*messages, facts));
  WARDEN_RETURN_IF_ERROR(read_function_tools(body, "tools", true, "parameters", facts));
  WARDEN_RETURN_IF_ERROR(read_function_tools(body, "functions", false, "parameters", facts));
  WARDEN_ASSIGN_OR_RETURN(const json::object* format, get_object(body, "response_format", ""));
  if (format != nullptr) {
    WARDEN_ASSIGN_OR_RETURN(const json::object* schema,
                            get_object(*format, "json_schema", "response_format"));
    if (schema != nullptr) append_piece(facts.tools_text, canonical_json(*schema));
  }
  // max_completion_tokens replaced max_tokens (which reasoning models refuse); it wins.
  WARDEN_RETURN_IF_ERROR(read_max_tokens(body, "max_tokens", "", facts));
  WARDEN_RETURN_IF_ERROR(read_max_tokens(body, "max_completion_tokens", "", facts));
  WARDEN_RETURN_IF_ERROR(read_stream(body, facts));
  WARDEN_ASSIGN_OR_RETURN(const json::object* options, get_object(body, "stream_options", ""));
  if (options != nullptr) {
    WARDEN_ASSIGN_OR_RETURN(std::optional<bool> include,
                            get_bool(*options, "include_usage", "stream_options"));
    facts.include_usage = include.value_or(false);
  }
  return Status();
}

// input: a string, an array of strings, an array of token ids, or an array of such arrays.
Status read_embedding_input(const json::object& body, RequestFacts& facts) {
  const json::value* input = body.if_contains("input");
  if (input == nullptr || input->is_null()) return missing_field("input");
  if (input->is_string()) {
    facts.inputs.emplace_back(input->as_string());
    return Status();
  }
  if (!input->is_array()) return wrong_type("input", "a string or an array");
  const json::array& items = input->as_array();
  WARDEN_RETURN_IF_ERROR(check_count(items, "input"));
  for (std::size_t i = 0; i < items.size(); ++i) {
    const json::value& item = items[i];
    if (item.is_string()) {
      facts.inputs.emplace_back(item.as_string());
    } else if (item.is_int64()) {
      ++facts.input_token_ids;
    } else if (item.is_array()) {
      for (const json::value& id : item.as_array()) {
        if (!id.is_int64()) return wrong_type(join_path("input", i), "an array of token ids");
        ++facts.input_token_ids;
      }
    } else {
      return wrong_type(join_path("input", i), "a string, a token id or an array of token ids");
    }
  }
  return Status();
}

// ---- Anthropic ----

Status read_anthropic_blocks(const json::value& content, std::string_view path, MessageText& m,
                             RequestFacts& facts);

Status read_anthropic_block(const json::object& block, std::string_view path, MessageText& m,
                            RequestFacts& facts) {
  WARDEN_ASSIGN_OR_RETURN(const json::string* type, get_string(block, "type", path));
  if (type == nullptr) return missing_field(join_path(path, "type"));
  if (*type == "text") return append_string(block, "text", path, m.text);
  if (*type == "thinking") return append_string(block, "thinking", path, m.text);
  if (*type == "tool_use") {
    WARDEN_RETURN_IF_ERROR(append_string(block, "name", path, m.text));
    if (const json::value* in = block.if_contains("input"); in && !in->is_null()) {
      append_piece(m.text, value_text(*in));
    }
    return Status();
  }
  if (*type == "tool_result") {
    const json::value* inner = block.if_contains("content");
    if (inner == nullptr || inner->is_null()) return Status();
    return read_anthropic_blocks(*inner, join_path(path, "content"), m, facts);
  }
  ++facts.non_text_parts_ignored;  // image, document, redacted_thinking, ...
  return Status();
}

// content: a string or an array of blocks.
Status read_anthropic_blocks(const json::value& content, std::string_view path, MessageText& m,
                             RequestFacts& facts) {
  if (content.is_string()) {
    append_piece(m.text, content.as_string());
    return Status();
  }
  if (!content.is_array()) return wrong_type(path, "a string or an array");
  const json::array& blocks = content.as_array();
  WARDEN_RETURN_IF_ERROR(check_count(blocks, path));
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    const std::string block_path = join_path(path, i);
    const json::object* block = object_or_null(blocks[i]);
    if (block == nullptr) return wrong_type(block_path, "an object");
    WARDEN_RETURN_IF_ERROR(read_anthropic_block(*block, block_path, m, facts));
  }
  return Status();
}

Status read_anthropic(const json::object& body, RequestFacts& facts) {
  if (const json::value* system = body.if_contains("system"); system && !system->is_null()) {
    MessageText m{"system", "", ""};
    WARDEN_RETURN_IF_ERROR(read_anthropic_blocks(*system, "system", m, facts));
    facts.messages.push_back(std::move(m));
  }
  WARDEN_ASSIGN_OR_RETURN(const json::array* messages, required_array(body, "messages"));
  for (std::size_t i = 0; i < messages->size(); ++i) {
    const std::string path = join_path("messages", i);
    const json::object* msg = object_or_null((*messages)[i]);
    if (msg == nullptr) return wrong_type(path, "an object");
    MessageText m;
    WARDEN_ASSIGN_OR_RETURN(const json::string* role, get_string(*msg, "role", path));
    if (role == nullptr) return missing_field(join_path(path, "role"));
    m.role = std::string(*role);
    const json::value* content = msg->if_contains("content");
    if (content == nullptr || content->is_null()) return missing_field(join_path(path, "content"));
    WARDEN_RETURN_IF_ERROR(read_anthropic_blocks(*content, join_path(path, "content"), m, facts));
    facts.messages.push_back(std::move(m));
  }
  // Anthropic's tools carry their schema as input_schema.
  WARDEN_RETURN_IF_ERROR(read_function_tools(body, "tools", false, "input_schema", facts));
  WARDEN_RETURN_IF_ERROR(read_max_tokens(body, "max_tokens", "", facts));
  if (!facts.max_output_tokens) return missing_field("max_tokens");
  return read_stream(body, facts);
}

// ---- Cohere v2 chat ----

Status read_cohere(const json::object& body, RequestFacts& facts) {
  WARDEN_ASSIGN_OR_RETURN(const json::array* messages, required_array(body, "messages"));
  WARDEN_RETURN_IF_ERROR(read_chat_messages(*messages, facts));
  WARDEN_RETURN_IF_ERROR(read_function_tools(body, "tools", true, "parameters", facts));
  WARDEN_ASSIGN_OR_RETURN(const json::array* documents, get_array(body, "documents", ""));
  if (documents != nullptr) {
    WARDEN_RETURN_IF_ERROR(check_count(*documents, "documents"));
    for (const json::value& d : *documents) append_piece(facts.tools_text, value_text(d));
  }
  WARDEN_ASSIGN_OR_RETURN(const json::object* format, get_object(body, "response_format", ""));
  if (format != nullptr) {
    if (const json::value* s = format->if_contains("json_schema"); s && !s->is_null()) {
      append_piece(facts.tools_text, value_text(*s));
    }
  }
  WARDEN_RETURN_IF_ERROR(read_max_tokens(body, "max_tokens", "", facts));
  return read_stream(body, facts);
}

// ---- Google Gemini ----

Status read_gemini_parts(const json::object& content, std::string_view path, MessageText& m,
                         RequestFacts& facts) {
  WARDEN_ASSIGN_OR_RETURN(const json::array* parts, get_array(content, "parts", path));
  if (parts == nullptr) return Status();
  const std::string parts_path = join_path(path, "parts");
  WARDEN_RETURN_IF_ERROR(check_count(*parts, parts_path));
  for (std::size_t i = 0; i < parts->size(); ++i) {
    const std::string part_path = join_path(parts_path, i);
    const json::object* part = object_or_null((*parts)[i]);
    if (part == nullptr) return wrong_type(part_path, "an object");
    if (part->contains("text")) {
      WARDEN_RETURN_IF_ERROR(append_string(*part, "text", part_path, m.text));
      continue;
    }
    WARDEN_ASSIGN_OR_RETURN(std::string_view call_key,
                            either_key(*part, "functionCall", "function_call", part_path));
    WARDEN_ASSIGN_OR_RETURN(std::string_view resp_key,
                            either_key(*part, "functionResponse", "function_response", part_path));
    std::string_view key = call_key.empty() ? resp_key : call_key;
    if (key.empty()) {
      ++facts.non_text_parts_ignored;  // inlineData, fileData, ...
      continue;
    }
    WARDEN_ASSIGN_OR_RETURN(const json::object* call, get_object(*part, key, part_path));
    const std::string call_path = join_path(part_path, key);
    WARDEN_RETURN_IF_ERROR(append_string(*call, "name", call_path, m.text));
    for (std::string_view payload : {"args", "response"}) {
      if (const json::value* v = call->if_contains(payload); v && !v->is_null()) {
        append_piece(m.text, value_text(*v));
      }
    }
  }
  return Status();
}

Status read_gemini_tools(const json::object& body, RequestFacts& facts) {
  WARDEN_ASSIGN_OR_RETURN(const json::array* tools, get_array(body, "tools", ""));
  if (tools == nullptr) return Status();
  WARDEN_RETURN_IF_ERROR(check_count(*tools, "tools"));
  for (std::size_t i = 0; i < tools->size(); ++i) {
    const std::string path = join_path("tools", i);
    const json::object* tool = object_or_null((*tools)[i]);
    if (tool == nullptr) return wrong_type(path, "an object");
    WARDEN_ASSIGN_OR_RETURN(std::string_view key, either_key(*tool, "functionDeclarations",
                                                             "function_declarations", path));
    if (key.empty()) continue;  // googleSearch, codeExecution: no declaration text
    WARDEN_ASSIGN_OR_RETURN(const json::array* decls, get_array(*tool, key, path));
    const std::string decls_path = join_path(path, key);
    WARDEN_RETURN_IF_ERROR(check_count(*decls, decls_path));
    for (std::size_t j = 0; j < decls->size(); ++j) {
      const json::object* decl = object_or_null((*decls)[j]);
      if (decl == nullptr) return wrong_type(join_path(decls_path, j), "an object");
      WARDEN_RETURN_IF_ERROR(
          append_declaration(*decl, "parameters", join_path(decls_path, j), facts.tools_text));
    }
  }
  return Status();
}

Status read_gemini_config(const json::object& body, RequestFacts& facts) {
  WARDEN_ASSIGN_OR_RETURN(std::string_view key,
                          either_key(body, "generationConfig", "generation_config", ""));
  if (key.empty()) return Status();
  WARDEN_ASSIGN_OR_RETURN(const json::object* config, get_object(body, key, ""));
  WARDEN_ASSIGN_OR_RETURN(std::string_view max_key,
                          either_key(*config, "maxOutputTokens", "max_output_tokens", key));
  if (!max_key.empty()) WARDEN_RETURN_IF_ERROR(read_max_tokens(*config, max_key, key, facts));
  WARDEN_ASSIGN_OR_RETURN(std::string_view schema_key,
                          either_key(*config, "responseSchema", "response_schema", key));
  if (!schema_key.empty()) append_piece(facts.tools_text, value_text(config->at(schema_key)));
  return Status();
}

Status read_gemini(const RequestTarget& target, const json::object& body, RequestFacts& facts) {
  WARDEN_ASSIGN_OR_RETURN(std::string_view system_key,
                          either_key(body, "systemInstruction", "system_instruction", ""));
  if (!system_key.empty()) {
    WARDEN_ASSIGN_OR_RETURN(const json::object* system, get_object(body, system_key, ""));
    MessageText m{"system", "", ""};
    WARDEN_RETURN_IF_ERROR(read_gemini_parts(*system, system_key, m, facts));
    facts.messages.push_back(std::move(m));
  }
  WARDEN_ASSIGN_OR_RETURN(const json::array* contents, required_array(body, "contents"));
  for (std::size_t i = 0; i < contents->size(); ++i) {
    const std::string path = join_path("contents", i);
    const json::object* content = object_or_null((*contents)[i]);
    if (content == nullptr) return wrong_type(path, "an object");
    MessageText m;
    WARDEN_ASSIGN_OR_RETURN(const json::string* role, get_string(*content, "role", path));
    m.role = role != nullptr ? std::string(*role) : "user";
    WARDEN_RETURN_IF_ERROR(read_gemini_parts(*content, path, m, facts));
    facts.messages.push_back(std::move(m));
  }
  WARDEN_RETURN_IF_ERROR(read_gemini_tools(body, facts));
  WARDEN_RETURN_IF_ERROR(read_gemini_config(body, facts));
  facts.stream = target.path_stream;
  return Status();
}

}  // namespace

Result<RequestFacts> parse_request(const RequestTarget& target, std::string_view body) {
  const bool openai_like =
      target.provider == Provider::kOpenAI || target.provider == Provider::kAzureOpenAI;
  if (target.operation == Operation::kEmbeddings && !openai_like) {
    return invalid_value("operation", "embeddings are read for openai and azure_openai only");
  }
  WARDEN_ASSIGN_OR_RETURN(json::object obj, parse_object(body, kRequestBodyBytesMax, "request"));
  RequestFacts facts;
  facts.body_bytes = body.size();
  WARDEN_RETURN_IF_ERROR(read_model(target, obj, facts));
  if (target.operation == Operation::kEmbeddings) {
    WARDEN_RETURN_IF_ERROR(read_embedding_input(obj, facts));
    return facts;
  }
  switch (target.provider) {
    case Provider::kOpenAI:
    case Provider::kAzureOpenAI:
      WARDEN_RETURN_IF_ERROR(read_openai_chat(obj, facts));
      break;
    case Provider::kAnthropic:
      WARDEN_RETURN_IF_ERROR(read_anthropic(obj, facts));
      break;
    case Provider::kCohere:
      WARDEN_RETURN_IF_ERROR(read_cohere(obj, facts));
      break;
    case Provider::kGemini:
      WARDEN_RETURN_IF_ERROR(read_gemini(target, obj, facts));
      break;
  }
  return facts;
}

}  // namespace warden::gateway
