// Encodings: the embedded rank files loaded into a hash map, byte-pair merging of each
// pre-tokenised piece, special tokens, decoding.
#include "tokenize/tokenize.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <cstring>
#include <functional>
#include <limits>
#include <queue>
#include <tuple>

#include "tokenize/embed.h"
#include "tokenize/pretokenize.h"
#include "tokenize/unicode.h"

namespace warden::tokenize {

namespace {

constexpr std::uint32_t kNoRank = std::numeric_limits<std::uint32_t>::max();
constexpr std::string_view kRankFileMagic = "WTOKRNK1";
// Pieces up to this many bytes are merged by rescanning every pair after each merge (fast for
// the short pieces text is made of); longer ones (long whitespace or symbol runs, base64) use
// a heap, so a hostile 1 MB piece costs n log n, not n^2.
constexpr std::size_t kLinearMergeBytesMax = 128;

std::uint64_t hash_bytes(std::string_view s) {
  std::uint64_t h = 0x9E3779B97F4A7C15ULL ^ s.size();
  const char* p = s.data();
  std::size_t n = s.size();
  while (n >= 8) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    h = (h ^ v) * 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 31;
    p += 8;
    n -= 8;
  }
  std::uint64_t v = 0;
  std::memcpy(&v, p, n);
  h = (h ^ v) * 0x94D049BB133111EBULL;
  return h ^ (h >> 29);
}

}  // namespace

// Everything an Encoding holds; built once by load() and never changed after.
struct EncodingData {
  std::string name;
  Pattern pattern = Pattern::kCl100k;
  std::string_view file;                   // the embedded rank file (static storage)
  std::vector<std::uint32_t> token_start;  // rank -> offset of its bytes in `file`
  std::vector<std::uint8_t> token_length;  // rank -> length (0: no token)
  // Open addressing with linear probing. A slot holds a token's first 8 bytes, so that most
  // lookups (short byte pairs) are answered by the one cache line the slot is in.
  struct Slot {
    std::uint64_t head = 0;        // the first 8 bytes, zero-padded
    std::uint32_t rank_plus1 = 0;  // 0: empty
    std::uint32_t tag_length = 0;  // upper 24 bits of the hash << 8 | byte length
  };
  std::vector<Slot> slots;
  std::uint64_t slot_mask = 0;
  std::array<std::uint32_t, 256> byte_rank{};
  std::vector<std::pair<std::string, std::uint32_t>> specials;
  std::string special_first_bytes;  // where a special token can start

  std::string_view token(std::uint32_t rank) const {
    return file.substr(token_start[rank], token_length[rank]);
  }

  static std::uint64_t head_of(std::string_view bytes) {
    std::uint64_t head = 0;
    std::memcpy(&head, bytes.data(), std::min<std::size_t>(bytes.size(), 8));
    return head;
  }
  static std::uint32_t tag_length_of(std::uint64_t hash, std::size_t length) {
    return static_cast<std::uint32_t>(hash >> 40) << 8 | static_cast<std::uint32_t>(length);
  }

  // Tokens are at most 255 bytes (the file's u8 lengths); a longer key is never a token.
  std::uint32_t find(std::string_view bytes) const {
    if (bytes.size() > 255) return kNoRank;
    const std::uint64_t h = hash_bytes(bytes);
    const std::uint32_t tag_length = tag_length_of(h, bytes.size());
    const std::uint64_t head = head_of(bytes);
    for (std::uint64_t i = h & slot_mask;; i = (i + 1) & slot_mask) {
      const Slot& slot = slots[i];
      if (slot.rank_plus1 == 0) return kNoRank;
      if (slot.tag_length != tag_length || slot.head != head) continue;
      const std::uint32_t rank = slot.rank_plus1 - 1;
      if (bytes.size() <= 8 || token(rank).substr(8) == bytes.substr(8)) return rank;
    }
  }

  void insert(std::uint32_t rank) {
    const std::string_view bytes = token(rank);
    const std::uint64_t h = hash_bytes(bytes);
    std::uint64_t i = h & slot_mask;
    while (slots[i].rank_plus1 != 0) i = (i + 1) & slot_mask;
    slots[i] = {head_of(bytes), rank + 1, tag_length_of(h, bytes.size())};
  }
};

namespace {

// Reads a rank file (format in data/convert.mjs). The files are part of the source tree, so a
// malformed one is a build defect: it is asserted, not reported.
std::unique_ptr<EncodingData> load(std::string_view name, Pattern pattern) {
  auto d = std::make_unique<EncodingData>();
  d->name = std::string(name);
  d->pattern = pattern;
  d->file = embedded_ranks(name);
  std::string_view f = d->file;
  if (f.substr(0, kRankFileMagic.size()) != kRankFileMagic) std::abort();
  std::size_t pos = kRankFileMagic.size();
  const auto u32 = [&] {
    if (pos + 4 > f.size()) std::abort();
    std::uint32_t v = 0;
    for (int k = 3; k >= 0; --k) v = (v << 8) | static_cast<unsigned char>(f[pos + k]);
    pos += 4;
    return v;
  };
  const auto u8 = [&] {
    if (pos >= f.size()) std::abort();
    return static_cast<unsigned char>(f[pos++]);
  };
  const std::uint32_t count = u32();
  d->token_start.resize(count);
  d->token_length.resize(count);
  for (std::uint32_t rank = 0; rank < count; ++rank) {
    d->token_length[rank] = u8();
    d->token_start[rank] = static_cast<std::uint32_t>(pos);
    pos += d->token_length[rank];
  }
  std::uint64_t slots = 1;
  while (slots < 2ULL * count) slots <<= 1;
  d->slots.assign(slots, {});
  d->slot_mask = slots - 1;
  for (std::uint32_t rank = 0; rank < count; ++rank) {
    if (d->token_length[rank] > 0) d->insert(rank);
  }
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    d->byte_rank[b] = d->find(std::string_view(&c, 1));
    if (d->byte_rank[b] == kNoRank) std::abort();  // byte-level BPE has a token for each byte
  }
  const std::uint32_t special_count = u32();
  for (std::uint32_t k = 0; k < special_count; ++k) {
    const std::uint32_t id = u32();
    const std::size_t length = u8();
    if (pos + length > f.size()) std::abort();
    if (length == 0) std::abort();
    d->specials.emplace_back(std::string(f.substr(pos, length)), id);
    if (d->special_first_bytes.find(f[pos]) == std::string::npos) d->special_first_bytes += f[pos];
    pos += length;
  }
  return d;
}

struct Part {
  std::uint32_t start;
  std::uint32_t pair_rank;  // rank of this part joined with the next; kNoRank if none
};

// Byte-pair merge: repeatedly joins the adjacent pair whose joined bytes have the lowest rank
// (the leftmost of equals) until no joined pair is a token. Emits each final part's rank.
template <class Sink>
void merge_linear(const EncodingData& d, std::string_view piece, std::vector<Part>& parts,
                  Sink& sink) {
  const auto n = static_cast<std::uint32_t>(piece.size());
  parts.clear();
  for (std::uint32_t i = 0; i <= n; ++i) parts.push_back({i, kNoRank});
  // parts.back() is a sentinel marking the end; pair i joins parts i and i+1.
  const auto pair_rank = [&](std::size_t i) {
    if (i + 2 >= parts.size()) return kNoRank;
    return d.find(piece.substr(parts[i].start, parts[i + 2].start - parts[i].start));
  };
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) parts[i].pair_rank = pair_rank(i);
  while (true) {
    std::uint32_t best = kNoRank;
    std::size_t at = 0;
    for (std::size_t i = 0; i + 2 < parts.size(); ++i) {
      if (parts[i].pair_rank < best) best = parts[i].pair_rank, at = i;
    }
    if (best == kNoRank) break;
    parts.erase(parts.begin() + static_cast<std::ptrdiff_t>(at) + 1);
    parts[at].pair_rank = pair_rank(at);
    if (at > 0) parts[at - 1].pair_rank = pair_rank(at - 1);
  }
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    const std::uint32_t rank =
        d.find(piece.substr(parts[i].start, parts[i + 1].start - parts[i].start));
    assert(rank != kNoRank);
    sink(rank);
  }
}

// The same merge order with a heap of candidate pairs (rank, left start, right end); a popped
// pair whose parts have changed since it was pushed is skipped.
template <class Sink>
void merge_heap(const EncodingData& d, std::string_view piece, Sink& sink) {
  const auto n = static_cast<std::uint32_t>(piece.size());
  std::vector<std::uint32_t> next(n), prev(n);
  std::vector<bool> alive(n, true);
  for (std::uint32_t i = 0; i < n; ++i) next[i] = i + 1, prev[i] = i == 0 ? n : i - 1;
  using Candidate = std::tuple<std::uint32_t, std::uint32_t, std::uint32_t>;
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
  const auto push = [&](std::uint32_t left) {
    if (left >= n || next[left] >= n) return;
    const std::uint32_t end = next[next[left]];
    const std::uint32_t rank = d.find(piece.substr(left, end - left));
    if (rank != kNoRank) heap.emplace(rank, left, end);
  };
  for (std::uint32_t i = 0; i < n; ++i) push(i);
  while (!heap.empty()) {
    const auto [rank, left, end] = heap.top();
    heap.pop();
    if (!alive[left] || next[left] >= n || next[next[left]] != end) continue;
    const std::uint32_t right = next[left];
    alive[right] = false;
    next[left] = end;
    if (end < n) prev[end] = left;
    push(left);
    if (prev[left] < n) push(prev[left]);
  }
  for (std::uint32_t s = 0; s < n; s = next[s]) {
    const std::uint32_t token = d.find(piece.substr(s, next[s] - s));
    assert(token != kNoRank);
    sink(token);
  }
}

template <class Sink>
void encode_piece(const EncodingData& d, std::string_view piece, std::vector<Part>& parts,
                  Sink& sink) {
  if (piece.size() == 1) return sink(d.byte_rank[static_cast<unsigned char>(piece[0])]);
  if (const std::uint32_t rank = d.find(piece); rank != kNoRank) return sink(rank);
  if (piece.size() <= kLinearMergeBytesMax) return merge_linear(d, piece, parts, sink);
  merge_heap(d, piece, sink);
}

// Length of the valid UTF-8 prefix of text.substr(pos).
std::size_t valid_run(std::string_view text, std::size_t pos) {
  std::size_t i = pos;
  while (i < text.size()) {
    if (static_cast<unsigned char>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    const Decoded dec = decode_utf8(text, i);
    if (dec.length == 0) break;
    i += dec.length;
  }
  return i - pos;
}

struct VectorSink {
  std::vector<std::uint32_t>& out;
  void operator()(std::uint32_t id) { out.push_back(id); }
};
struct CountSink {
  std::size_t n = 0;
  void operator()(std::uint32_t) { ++n; }
};

}  // namespace

Encoding::Encoding(std::unique_ptr<EncodingData> data) : data_(std::move(data)) {}
Encoding::~Encoding() = default;

const Encoding& Encoding::cl100k_base() {
  static const Encoding* const encoding = new Encoding(load("cl100k_base", Pattern::kCl100k));
  return *encoding;
}

const Encoding& Encoding::o200k_base() {
  static const Encoding* const encoding = new Encoding(load("o200k_base", Pattern::kO200k));
  return *encoding;
}

Result<const Encoding*> Encoding::by_name(std::string_view name) {
  if (name == "cl100k_base") return &cl100k_base();
  if (name == "o200k_base") return &o200k_base();
  return Status(ErrorCode::VALIDATION_INVALID_VALUE,
                "unknown encoding '" + std::string(name) + "' (cl100k_base, o200k_base)");
}

std::string_view Encoding::name() const { return data_->name; }

template <class Sink>
void Encoding::encode_ordinary_into(std::string_view text, Sink& sink) const {
  std::vector<ScannedCodePoint> scratch;
  std::vector<std::uint32_t> piece_ends;
  std::vector<Part> parts;
  for (std::size_t pos = 0; pos < text.size();) {
    const std::size_t run = valid_run(text, pos);
    if (run == 0) {
      sink(data_->byte_rank[static_cast<unsigned char>(text[pos])]);
      ++pos;
      continue;
    }
    std::string_view segment = text.substr(pos, run);
    while (!segment.empty()) {
      piece_ends.clear();
      const std::size_t consumed = split_pieces(data_->pattern, segment, scratch, piece_ends);
      std::uint32_t start = 0;
      for (const std::uint32_t end : piece_ends) {
        encode_piece(*data_, segment.substr(start, end - start), parts, sink);
        start = end;
      }
      segment.remove_prefix(consumed);
    }
    pos += run;
  }
}

template <class Sink>
void Encoding::encode_into(std::string_view text, bool allow_special, Sink& sink) const {
  if (!allow_special || data_->specials.empty()) return encode_ordinary_into(text, sink);
  std::size_t segment_start = 0;
  for (std::size_t pos = 0; pos < text.size();) {
    pos = text.find_first_of(data_->special_first_bytes, pos);
    if (pos == std::string_view::npos) break;
    const std::pair<std::string, std::uint32_t>* found = nullptr;
    for (const auto& special : data_->specials) {
      if (text.substr(pos).starts_with(special.first)) {
        found = &special;
        break;
      }
    }
    if (found == nullptr) {
      ++pos;
      continue;
    }
    encode_ordinary_into(text.substr(segment_start, pos - segment_start), sink);
    sink(found->second);
    pos += found->first.size();
    segment_start = pos;
  }
  encode_ordinary_into(text.substr(segment_start), sink);
}

std::vector<std::uint32_t> Encoding::encode(std::string_view text, bool allow_special) const {
  std::vector<std::uint32_t> out;
  out.reserve(text.size() / 4 + 1);
  VectorSink sink{out};
  encode_into(text, allow_special, sink);
  return out;
}

std::size_t Encoding::count(std::string_view text, bool allow_special) const {
  CountSink sink;
  encode_into(text, allow_special, sink);
  return sink.n;
}

Result<std::string> Encoding::decode(std::span<const std::uint32_t> ids) const {
  std::string out;
  for (const std::uint32_t id : ids) {
    if (id < data_->token_length.size() && data_->token_length[id] > 0) {
      out.append(data_->token(id));
      continue;
    }
    const auto special = std::find_if(data_->specials.begin(), data_->specials.end(),
                                      [&](const auto& s) { return s.second == id; });
    if (special == data_->specials.end()) {
      return Status(ErrorCode::VALIDATION_INVALID_VALUE,
                    "token id " + std::to_string(id) + " is not in " + data_->name);
    }
    out.append(special->first);
  }
  return out;
}

std::optional<std::uint32_t> Encoding::special_token(std::string_view text) const {
  for (const auto& [special, id] : data_->specials) {
    if (special == text) return id;
  }
  return std::nullopt;
}

std::optional<std::uint32_t> Encoding::token_for_bytes(std::string_view bytes) const {
  if (bytes.empty()) return std::nullopt;
  const std::uint32_t rank = data_->find(bytes);
  if (rank == kNoRank) return std::nullopt;
  return rank;
}

}  // namespace warden::tokenize
