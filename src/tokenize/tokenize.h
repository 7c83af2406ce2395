// Byte-level BPE tokenizers producing the same token ids as OpenAI's cl100k_base and o200k_base
// encodings, the model -> encoding map, and chat-message counting (docs/tokenize.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace warden::tokenize {

enum class Pattern : std::uint8_t { kCl100k, kO200k };

struct EncodingData;

// One encoding: its ranks, special tokens and pre-tokenisation pattern. Immutable once built;
// every method is safe to call from any number of threads at once.
class Encoding {
 public:
  // "cl100k_base" or "o200k_base"; the tables are built on the first call for that name and
  // live until exit. VALIDATION_INVALID_VALUE for any other name.
  static Result<const Encoding*> by_name(std::string_view name);
  static const Encoding& cl100k_base();
  static const Encoding& o200k_base();

  ~Encoding();
  Encoding(const Encoding&) = delete;
  Encoding& operator=(const Encoding&) = delete;

  std::string_view name() const;

  // Token ids of `text` (any bytes). With allow_special the exact text of a special token
  // (e.g. "<|endoftext|>") becomes that token; without it, it is ordinary text. Bytes that are
  // not valid UTF-8 are each their own single-byte token, and they split the text: the valid
  // runs between them are encoded as separate texts (docs/tokenize.md, "Invalid UTF-8").
  // Piece offsets are 32-bit: one piece (a run of letters, digits or spaces) stays under 4 GiB.
  std::vector<std::uint32_t> encode(std::string_view text, bool allow_special = false) const;
  // encode(text, allow_special).size(), without building the vector.
  std::size_t count(std::string_view text, bool allow_special = false) const;
  // The bytes the ids stand for (not necessarily UTF-8 when a multi-byte character is split
  // across ids that are not all given). VALIDATION_INVALID_VALUE names the first unknown id.
  Result<std::string> decode(std::span<const std::uint32_t> ids) const;

  std::optional<std::uint32_t> special_token(std::string_view text) const;
  // The id of a token that is exactly these bytes, if there is one (ranks only, no specials).
  std::optional<std::uint32_t> token_for_bytes(std::string_view bytes) const;

 private:
  explicit Encoding(std::unique_ptr<EncodingData> data);
  template <class Sink>
  void encode_into(std::string_view text, bool allow_special, Sink& sink) const;
  template <class Sink>
  void encode_ordinary_into(std::string_view text, Sink& sink) const;

  std::unique_ptr<EncodingData> data_;
};

// How a model's text is counted: with the model's own encoding (exact), or, for models whose
// tokenizer is not public (Anthropic, Google, Cohere, ...), with cl100k_base as an estimate.
struct ModelEncoding {
  const Encoding* encoding = nullptr;
  bool exact = false;
};
// gpt-4o*, chatgpt-4o*, gpt-4.1*, gpt-4.5*, gpt-5*, o1*, o3*, o4* -> o200k_base; gpt-4*,
// gpt-3.5*, gpt-35* (Azure's spelling), text-embedding-3*, text-embedding-ada-002,
// davinci-002, babbage-002 -> cl100k_base; anything else -> cl100k_base, not exact.
ModelEncoding encoding_for_model(std::string_view model);

struct TokenCount {
  std::uint64_t tokens = 0;
  bool estimated = false;  // counted with a stand-in encoding, not the model's own
};

// Ordinary text (special-token text counts as text).
TokenCount count_text(std::string_view model, std::string_view text);

struct ChatMessage {
  std::string role;
  std::string content;
  std::string name;  // empty: no name
};
// Prompt tokens of a chat request as OpenAI's chat format counts them (tokenize.cc says how).
TokenCount count_chat(std::string_view model, std::span<const ChatMessage> messages);

}  // namespace warden::tokenize
