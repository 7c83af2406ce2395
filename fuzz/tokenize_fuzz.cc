// libFuzzer target for the tokenizer: any bytes, both encodings, with and without special
// tokens; the ids must decode back to the input and count() must agree with encode().
// Built only by scripts/fuzz-tokenize.sh (clang, -fsanitize=fuzzer,address,undefined).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "tokenize/tokenize.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const auto* encoding :
       {&warden::tokenize::Encoding::cl100k_base(), &warden::tokenize::Encoding::o200k_base()}) {
    for (const bool allow_special : {false, true}) {
      const auto ids = encoding->encode(text, allow_special);
      const auto decoded = encoding->decode(ids);
      if (!decoded.ok() || *decoded != text) std::abort();
      if (encoding->count(text, allow_special) != ids.size()) std::abort();
    }
  }
  return 0;
}
