// The rank files of data/ linked into the binary, so that neither the daemon nor the CLI looks
// for data files at run time. The assembler copies each file in (.incbin); CMakeLists.txt puts
// the files' hashes on this file's command line so a changed file is never a stale cache hit.
#include "tokenize/embed.h"

// clang-format off
#define WARDEN_TOKENIZE_INCBIN(symbol, file)                \
  asm(".section .rodata\n"                                  \
      ".balign 16\n"                                        \
      ".global " #symbol "\n"                               \
      ".hidden " #symbol "\n"                               \
      #symbol ":\n"                                         \
      ".incbin \"" WARDEN_TOKENIZE_DATA_DIR "/" file "\"\n" \
      ".global " #symbol "_end\n"                           \
      ".hidden " #symbol "_end\n"                           \
      #symbol "_end:\n"                                     \
      ".byte 0\n"                                           \
      ".previous\n")
// clang-format on

WARDEN_TOKENIZE_INCBIN(warden_tokenize_cl100k_base, "cl100k_base.bin");
WARDEN_TOKENIZE_INCBIN(warden_tokenize_o200k_base, "o200k_base.bin");

extern "C" {
extern const unsigned char warden_tokenize_cl100k_base[];
extern const unsigned char warden_tokenize_cl100k_base_end[];
extern const unsigned char warden_tokenize_o200k_base[];
extern const unsigned char warden_tokenize_o200k_base_end[];
}

namespace warden::tokenize {

// Data-file hashes (see above); referenced so that they are part of this object.
[[maybe_unused]] static const char* const kDataHashes = WARDEN_TOKENIZE_DATA_HASHES;

std::string_view embedded_ranks(std::string_view encoding_name) {
  const auto view = [](const unsigned char* begin, const unsigned char* end) {
    return std::string_view(reinterpret_cast<const char*>(begin), end - begin);
  };
  if (encoding_name == "cl100k_base") {
    return view(warden_tokenize_cl100k_base, warden_tokenize_cl100k_base_end);
  }
  if (encoding_name == "o200k_base") {
    return view(warden_tokenize_o200k_base, warden_tokenize_o200k_base_end);
  }
  return {};
}

}  // namespace warden::tokenize
