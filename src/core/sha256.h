// SHA-256 digests (OpenSSL) as lower-case hex.
#pragma once

#include <string>
#include <string_view>

namespace warden {

std::string sha256_hex(std::string_view data);
std::string to_hex(const unsigned char* data, std::size_t size);

}  // namespace warden
