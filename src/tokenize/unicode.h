// Unicode classes of code points as the encodings' pre-tokenisation patterns use them, and a
// strict UTF-8 decoder.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace warden::tokenize {

enum class CodePointClass : std::uint8_t {
  kOther,
  kLu,      // uppercase letter
  kLl,      // lowercase letter
  kLt,      // titlecase letter
  kLm,      // modifier letter
  kLo,      // other letter
  kMark,    // M*: nonspacing, spacing and enclosing marks
  kNumber,  // N*
  kSpace,   // the White_Space property (what `\s` means in the patterns)
};

CodePointClass code_point_class(char32_t cp);

// Decodes the UTF-8 sequence at text[pos]: its code point and length in bytes, or length 0 when
// the bytes there are not a valid sequence (overlong, surrogate, above U+10FFFF, truncated).
struct Decoded {
  char32_t cp = 0;
  std::size_t length = 0;
};
Decoded decode_utf8(std::string_view text, std::size_t pos);

}  // namespace warden::tokenize
