// SHA-256 over OpenSSL's one-shot digest.
#include "core/sha256.h"

#include <openssl/evp.h>

#include <cassert>

namespace warden {

std::string to_hex(const unsigned char* data, std::size_t size) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(size * 2, '0');
  for (std::size_t i = 0; i < size; ++i) {
    out[2 * i] = kHex[data[i] >> 4];
    out[2 * i + 1] = kHex[data[i] & 0x0F];
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  const int rc = EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  assert(rc == 1 && len == 32);
  (void)rc;
  return to_hex(md, len);
}

}  // namespace warden
