// SHA-256 over OpenSSL's EVP interface, with the digest fetched once: an implicit fetch
// (EVP_sha256() inside EVP_Digest) costs a provider lookup on every call.
#include "core/sha256.h"

#include <openssl/evp.h>

#include <cassert>
#include <memory>

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

namespace {

const EVP_MD* sha256_md() {
  static const std::unique_ptr<EVP_MD, decltype(&EVP_MD_free)> md(
      EVP_MD_fetch(nullptr, "SHA2-256", nullptr), &EVP_MD_free);
  return md.get();
}

}  // namespace

std::string sha256_hex(std::string_view data) {
  thread_local const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                                                 &EVP_MD_CTX_free);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  const bool ok = EVP_DigestInit_ex2(ctx.get(), sha256_md(), nullptr) == 1 &&
                  EVP_DigestUpdate(ctx.get(), data.data(), data.size()) == 1 &&
                  EVP_DigestFinal_ex(ctx.get(), md, &len) == 1;
  assert(ok && len == 32);
  (void)ok;
  return to_hex(md, len);
}

}  // namespace warden
