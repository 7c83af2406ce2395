// Model names -> encodings, and counting chat prompts the way OpenAI's chat format does.
#include <array>

#include "tokenize/tokenize.h"

namespace warden::tokenize {
namespace {

// Per-message framing of OpenAI's chat format: each message is wrapped in
// <|start|>{role/name}\n{content}<|end|>\n, which costs 3 tokens beyond the role and content,
// a name 1 more, and the reply is primed with <|start|>assistant<|message|>, 3 tokens. The rule
// and its numbers are those of the OpenAI Cookbook notebook "How to count tokens with tiktoken"
// (github.com/openai/openai-cookbook, examples/How_to_count_tokens_with_tiktoken.ipynb), which
// checks them against the API's reported prompt_tokens; gpt-3.5-turbo-0301 used 4 per message
// and a name replaced the role (-1).
constexpr std::int64_t kTokensPerMessage = 3;
constexpr std::int64_t kTokensPerName = 1;
constexpr std::int64_t kReplyPrimingTokens = 3;
constexpr std::int64_t kTokensPerMessage0301 = 4;
constexpr std::int64_t kTokensPerName0301 = -1;

struct Prefix {
  std::string_view prefix;
  bool o200k;
};
// Checked in order: the longer spellings first (gpt-4o before gpt-4).
constexpr std::array kPrefixes = {
    Prefix{"gpt-4o", true},
    Prefix{"chatgpt-4o", true},
    Prefix{"gpt-4.1", true},
    Prefix{"gpt-4.5", true},
    Prefix{"gpt-5", true},
    Prefix{"o1", true},
    Prefix{"o3", true},
    Prefix{"o4", true},
    Prefix{"gpt-4", false},
    Prefix{"gpt-3.5", false},
    Prefix{"gpt-35", false},
    Prefix{"text-embedding-3", false},
    Prefix{"text-embedding-ada-002", false},
    Prefix{"davinci-002", false},
    Prefix{"babbage-002", false},
};

// "o1" is a family only when followed by nothing or '-' ("o1-mini"), not "o100".
bool matches(std::string_view model, const Prefix& p) {
  if (!model.starts_with(p.prefix)) return false;
  if (p.prefix.size() != 2) return true;
  return model.size() == 2 || model[2] == '-';
}

}  // namespace

ModelEncoding encoding_for_model(std::string_view model) {
  for (const Prefix& p : kPrefixes) {
    if (matches(model, p)) {
      return {p.o200k ? &Encoding::o200k_base() : &Encoding::cl100k_base(), true};
    }
  }
  // Anthropic, Google, Cohere and others do not publish their tokenizers. cl100k_base stands in:
  // a byte-level BPE trained on similar text, so its count is of the right size, and the
  // provider's own usage report settles the real number afterwards (docs/tokenize.md).
  return {&Encoding::cl100k_base(), false};
}

TokenCount count_text(std::string_view model, std::string_view text) {
  const ModelEncoding m = encoding_for_model(model);
  return {m.encoding->count(text), !m.exact};
}

TokenCount count_chat(std::string_view model, std::span<const ChatMessage> messages) {
  const ModelEncoding m = encoding_for_model(model);
  const bool legacy = model.starts_with("gpt-3.5-turbo-0301");
  const std::int64_t per_message = legacy ? kTokensPerMessage0301 : kTokensPerMessage;
  const std::int64_t per_name = legacy ? kTokensPerName0301 : kTokensPerName;
  std::int64_t tokens = kReplyPrimingTokens;
  for (const ChatMessage& message : messages) {
    tokens += per_message;
    tokens += static_cast<std::int64_t>(m.encoding->count(message.role));
    tokens += static_cast<std::int64_t>(m.encoding->count(message.content));
    if (!message.name.empty()) {
      tokens += static_cast<std::int64_t>(m.encoding->count(message.name)) + per_name;
    }
  }
  return {static_cast<std::uint64_t>(tokens), !m.exact};
}

}  // namespace warden::tokenize
