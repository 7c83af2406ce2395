// Pre-tokenisation: splits text into the pieces that the encodings' regular expressions would
// match, by a hand-written scanner (the patterns' `\s+(?!\S)` needs a lookahead RE2 lacks).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenize/tokenize.h"

namespace warden::tokenize {

// One decoded code point of the text being split.
struct ScannedCodePoint {
  char32_t cp;
  std::uint32_t offset;  // byte offset in the text
  std::uint8_t flags;    // kFlag* in pretokenize.cc
};

// `text` must be valid UTF-8 (Encoding::encode cuts invalid bytes out first). Appends the byte
// offset where each piece ends to piece_ends (the first piece starts at 0, each next one where
// the previous ended; the last ends at text.size()). `scratch` is reused between calls.
void split_pieces(Pattern pattern, std::string_view text, std::vector<ScannedCodePoint>& scratch,
                  std::vector<std::uint32_t>& piece_ends);

}  // namespace warden::tokenize
