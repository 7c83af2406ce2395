// Tokenizer throughput: encodes a corpus file with cl100k_base and o200k_base, REPS times each,
// and prints one JSON line per encoding with the fastest round's MB/s and tokens/s, the token
// count and an FNV-1a hash of the ids (scripts/bench-tokenize.sh compares both with the peers).
//
//   tokenize_bench CORPUS [REPS]
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

#include "tokenize/tokenize.h"

namespace {

constexpr int kRepsDefault = 5;

std::uint64_t fnv1a(const std::vector<std::uint32_t>& ids) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const std::uint32_t id : ids) {
    h ^= id;
    h *= 0x100000001b3ULL;
  }
  return h;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: tokenize_bench CORPUS [REPS]\n");
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const int reps = argc > 2 ? std::atoi(argv[2]) : kRepsDefault;
  for (const char* name : {"cl100k_base", "o200k_base"}) {
    const auto& encoding = **warden::tokenize::Encoding::by_name(name);
    std::vector<std::uint32_t> ids = encoding.encode(text);  // warm-up, builds the tables
    double best_s = 1e300;
    for (int r = 0; r < reps; ++r) {
      const auto start = std::chrono::steady_clock::now();
      ids = encoding.encode(text);
      const double s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      best_s = std::min(best_s, s);
    }
    std::printf(
        "{\"impl\":\"warden\",\"encoding\":\"%s\",\"bytes\":%zu,\"tokens\":%zu,\"seconds\":%.6f,"
        "\"mb_per_s\":%.3f,\"tokens_per_s\":%.0f,\"ids_fnv1a\":\"%016llx\"}\n",
        name, text.size(), ids.size(), best_s, text.size() / best_s / 1e6, ids.size() / best_s,
        static_cast<unsigned long long>(fnv1a(ids)));
  }
  return 0;
}
