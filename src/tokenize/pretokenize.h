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

// Splits a prefix of `text`, which must be valid UTF-8 (Encoding::encode cuts invalid bytes out
// first): appends the byte offset where each piece ends to piece_ends (the first piece starts at
// 0, each next one where the previous ended) and returns the offset where the last one ends,
// which is > 0 unless text is empty. Call again on the rest; memory stays bounded by a window of
// code points however long the text. `scratch` is reused between calls.
std::size_t split_pieces(Pattern pattern, std::string_view text,
                         std::vector<ScannedCodePoint>& scratch,
                         std::vector<std::uint32_t>& piece_ends);

}  // namespace warden::tokenize
