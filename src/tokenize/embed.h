// The rank files (data/*.bin, format in data/convert.mjs) embedded in the binary.
#pragma once

#include <string_view>

namespace warden::tokenize {

// The file's bytes for "cl100k_base" or "o200k_base"; empty for any other name.
std::string_view embedded_ranks(std::string_view encoding_name);

}  // namespace warden::tokenize
