// The scanner follows each pattern's alternatives in order, with the regex engine's
// leftmost-first, greedy-with-backtracking semantics worked out by hand for each alternative:
//
// cl100k_base:
//   (?i:'s|'t|'re|'ve|'m|'ll|'d) | [^\r\n\p{L}\p{N}]?\p{L}+ | \p{N}{1,3}
//   | ' '?[^\s\p{L}\p{N}]+[\r\n]* | \s*[\r\n]+ | \s+(?!\S) | \s+
// o200k_base (U = [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}], W = [\p{Ll}\p{Lm}\p{Lo}\p{M}], C = the
// contractions above):
//   [^\r\n\p{L}\p{N}]?U*W+C? | [^\r\n\p{L}\p{N}]?U+W*C? | \p{N}{1,3}
//   | ' '?[^\s\p{L}\p{N}]+[\r\n/]* | \s*[\r\n]+ | \s+(?!\S) | \s+
#include "tokenize/pretokenize.h"

#include "tokenize/unicode.h"

namespace warden::tokenize {
namespace {

constexpr std::uint8_t kFlagLetter = 1;
constexpr std::uint8_t kFlagNumber = 2;
constexpr std::uint8_t kFlagSpace = 4;
constexpr std::uint8_t kFlagNewline = 8;  // \r or \n
constexpr std::uint8_t kFlagUpper = 16;   // o200k's U class
constexpr std::uint8_t kFlagLower = 32;   // o200k's W class

constexpr std::size_t kDigitRunMax = 3;
// Code points decoded per round; a piece that reaches the end of a round's code points is
// scanned again in the next round (or a round twice as long), so memory stays bounded.
constexpr std::size_t kChunkCodePoints = 16384;
constexpr char32_t kBmpEnd = 0x10000;

std::uint8_t flags_of(char32_t cp) {
  if (cp == '\r' || cp == '\n') return kFlagSpace | kFlagNewline;
  switch (code_point_class(cp)) {
    case CodePointClass::kLu:
    case CodePointClass::kLt:
      return kFlagLetter | kFlagUpper;
    case CodePointClass::kLl:
      return kFlagLetter | kFlagLower;
    case CodePointClass::kLm:
    case CodePointClass::kLo:
      return kFlagLetter | kFlagUpper | kFlagLower;
    case CodePointClass::kMark:
      return kFlagUpper | kFlagLower;
    case CodePointClass::kNumber:
      return kFlagNumber;
    case CodePointClass::kSpace:
      return kFlagSpace;
    case CodePointClass::kOther:
      break;
  }
  return 0;
}

// flags_of for the Basic Multilingual Plane, looked up once per code point.
const std::vector<std::uint8_t>& bmp_flags() {
  static const std::vector<std::uint8_t> table = [] {
    std::vector<std::uint8_t> t(kBmpEnd);
    for (char32_t cp = 0; cp < kBmpEnd; ++cp) t[cp] = flags_of(cp);
    return t;
  }();
  return table;
}

// Finds pieces in a window of decoded code points. touched_end() says whether the last piece's
// matching looked at (or past) the window's end: then more text could change it.
class Scanner {
 public:
  explicit Scanner(const std::vector<ScannedCodePoint>& cps) : cps_(cps), n_(cps.size()) {}

  bool touched_end() const { return touched_end_; }
  void reset_touched() { touched_end_ = false; }

  // Index one past the piece that starts at code point i.
  std::size_t next_cl100k(std::size_t i) const {
    if (cps_[i].cp == '\'') {
      if (std::size_t len = contraction(i); len > 0) return i + len;
    }
    if (std::size_t end = letters_cl100k(i); end > i) return end;
    if (std::size_t end = digits(i); end > i) return end;
    if (std::size_t end = punctuation(i, false); end > i) return end;
    return whitespace(i);
  }

  std::size_t next_o200k(std::size_t i) const {
    const bool prefix = in_range(i + 1) && is_prefix(i);
    if (prefix) {
      if (std::size_t end = word_lower(i + 1); end > 0) return end;
    }
    if (std::size_t end = word_lower(i); end > 0) return end;
    if (prefix) {
      if (std::size_t end = word_upper(i + 1); end > 0) return end;
    }
    if (std::size_t end = word_upper(i); end > 0) return end;
    if (std::size_t end = digits(i); end > i) return end;
    if (std::size_t end = punctuation(i, true); end > i) return end;
    return whitespace(i);
  }

 private:
  bool in_range(std::size_t i) const {
    if (i < n_) return true;
    touched_end_ = true;
    return false;
  }
  bool has(std::size_t i, std::uint8_t flag) const { return in_range(i) && (cps_[i].flags & flag); }
  // [^\r\n\p{L}\p{N}]
  bool is_prefix(std::size_t i) const {
    return !(cps_[i].flags & (kFlagNewline | kFlagLetter | kFlagNumber));
  }
  // [^\s\p{L}\p{N}]
  bool is_punct(std::size_t i) const {
    return in_range(i) && !(cps_[i].flags & (kFlagSpace | kFlagLetter | kFlagNumber));
  }

  // Length in code points of (?i:'s|'t|'re|'ve|'m|'ll|'d) at i, 0 when none matches. The case
  // folding is Unicode's simple folding, as the reference's regex engine applies it: 's' also
  // matches U+017F LATIN SMALL LETTER LONG S.
  std::size_t contraction(std::size_t i) const {
    if (!in_range(i) || cps_[i].cp != '\'') return 0;
    static constexpr std::string_view kSuffixes[] = {"s", "t", "re", "ve", "m", "ll", "d"};
    for (std::string_view suffix : kSuffixes) {
      std::size_t k = 0;
      while (k < suffix.size() && in_range(i + 1 + k) && folds_to(cps_[i + 1 + k].cp, suffix[k])) {
        ++k;
      }
      if (k == suffix.size()) return 1 + k;
    }
    return 0;
  }
  static bool folds_to(char32_t cp, char lower) {
    if (cp == static_cast<char32_t>(lower) || cp == static_cast<char32_t>(lower - 'a' + 'A')) {
      return true;
    }
    return lower == 's' && cp == 0x017F;
  }

  // [^\r\n\p{L}\p{N}]?\p{L}+
  std::size_t letters_cl100k(std::size_t i) const {
    std::size_t j = i;
    if (is_prefix(i) && has(i + 1, kFlagLetter)) j = i + 1;
    if (!has(j, kFlagLetter)) return i;
    while (has(j, kFlagLetter)) ++j;
    return j;
  }

  // U*W+C? from s; 0 when W+ cannot match. U* gives back code points one at a time until W+
  // can start, so W+ starts at the end of the U run or at the last U∩W code point before it.
  std::size_t word_lower(std::size_t s) const {
    std::size_t u = s;
    while (has(u, kFlagUpper)) ++u;
    std::size_t k = u;
    if (!has(u, kFlagLower)) {
      k = s;
      bool found = false;
      for (std::size_t back = u; back > s; --back) {
        if (cps_[back - 1].flags & kFlagLower) {
          k = back - 1;
          found = true;
          break;
        }
      }
      if (!found) return 0;
    }
    std::size_t w = k;
    while (has(w, kFlagLower)) ++w;
    return w + contraction(w);
  }

  // U+W*C? from s; 0 when U+ cannot match.
  std::size_t word_upper(std::size_t s) const {
    if (!has(s, kFlagUpper)) return 0;
    std::size_t u = s;
    while (has(u, kFlagUpper)) ++u;
    while (has(u, kFlagLower)) ++u;
    return u + contraction(u);
  }

  // \p{N}{1,3}
  std::size_t digits(std::size_t i) const {
    std::size_t j = i;
    while (j - i < kDigitRunMax && has(j, kFlagNumber)) ++j;
    return j;
  }

  // ' '?[^\s\p{L}\p{N}]+[\r\n]* (o200k: [\r\n/]*)
  std::size_t punctuation(std::size_t i, bool slash_trails) const {
    std::size_t j = i;
    if (cps_[i].cp == ' ' && is_punct(i + 1)) j = i + 1;
    if (!is_punct(j)) return i;
    while (is_punct(j)) ++j;
    while (in_range(j) && (cps_[j].flags & kFlagNewline || (slash_trails && cps_[j].cp == '/'))) {
      ++j;
    }
    return j;
  }

  // \s*[\r\n]+ | \s+(?!\S) | \s+ at a whitespace code point (every other class matched above).
  std::size_t whitespace(std::size_t i) const {
    std::size_t j = i;
    while (has(j, kFlagSpace)) ++j;
    for (std::size_t k = j; k > i; --k) {
      if (cps_[k - 1].flags & kFlagNewline) return k;  // ends after the run's last newline
    }
    if (j == n_) return j;
    if (j - i >= 2) return j - 1;  // leaves the last space to the piece that follows
    return j;
  }

  const std::vector<ScannedCodePoint>& cps_;
  const std::size_t n_;
  mutable bool touched_end_ = false;
};

}  // namespace

std::size_t split_pieces(Pattern pattern, std::string_view text,
                         std::vector<ScannedCodePoint>& scratch,
                         std::vector<std::uint32_t>& piece_ends) {
  const std::uint8_t* const bmp = bmp_flags().data();
  for (std::size_t window = kChunkCodePoints;; window *= 2) {
    scratch.clear();
    std::size_t pos = 0;
    while (pos < text.size() && scratch.size() < window) {
      const auto b = static_cast<unsigned char>(text[pos]);
      if (b < 0x80) {
        scratch.push_back({b, static_cast<std::uint32_t>(pos), bmp[b]});
        ++pos;
        continue;
      }
      const Decoded d = decode_utf8(text, pos);  // valid: the caller guarantees it
      scratch.push_back(
          {d.cp, static_cast<std::uint32_t>(pos), d.cp < kBmpEnd ? bmp[d.cp] : flags_of(d.cp)});
      pos += d.length;
    }
    const bool final = pos == text.size();
    Scanner scanner(scratch);
    const std::size_t n = scratch.size();
    std::size_t accepted = 0;
    for (std::size_t i = 0; i < n;) {
      scanner.reset_touched();
      const std::size_t end =
          pattern == Pattern::kCl100k ? scanner.next_cl100k(i) : scanner.next_o200k(i);
      if (!final && scanner.touched_end()) break;
      i = end;
      accepted = end < n ? scratch[end].offset : pos;
      piece_ends.push_back(static_cast<std::uint32_t>(accepted));
    }
    if (accepted > 0 || final) return final ? text.size() : accepted;
    // One piece longer than the window: decode a longer one.
  }
}

}  // namespace warden::tokenize
