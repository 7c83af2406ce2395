// Code point classes from the generated ranges in unicode_tables.inc, with a flat table for the
// Basic Multilingual Plane so that the common case is one load.
#include "tokenize/unicode.h"

#include <algorithm>
#include <array>
#include <vector>

namespace warden::tokenize {
namespace {

struct Range {
  char32_t first;
  char32_t last;
  CodePointClass cls;
};

constexpr Range kRanges[] = {
#include "tokenize/unicode_tables.inc"
};

constexpr char32_t kBmpEnd = 0x10000;
constexpr char32_t kCodePointMax = 0x10FFFF;

const std::vector<CodePointClass>& bmp_table() {
  static const std::vector<CodePointClass> table = [] {
    std::vector<CodePointClass> t(kBmpEnd, CodePointClass::kOther);
    for (const Range& r : kRanges) {
      if (r.first >= kBmpEnd) break;
      for (char32_t cp = r.first; cp <= r.last && cp < kBmpEnd; ++cp) t[cp] = r.cls;
    }
    return t;
  }();
  return table;
}

}  // namespace

CodePointClass code_point_class(char32_t cp) {
  if (cp < kBmpEnd) return bmp_table()[cp];
  if (cp > kCodePointMax) return CodePointClass::kOther;
  const Range* end = std::end(kRanges);
  const Range* it = std::upper_bound(std::begin(kRanges), end, cp,
                                     [](char32_t v, const Range& r) { return v < r.first; });
  if (it == std::begin(kRanges)) return CodePointClass::kOther;
  --it;
  return cp <= it->last ? it->cls : CodePointClass::kOther;
}

Decoded decode_utf8(std::string_view text, std::size_t pos) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char b0 = byte(pos);
  if (b0 < 0x80) return {b0, 1};
  std::size_t length;
  char32_t cp;
  char32_t min;
  if ((b0 & 0xE0) == 0xC0) {
    length = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    length = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    length = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return {};
  }
  if (pos + length > text.size()) return {};
  for (std::size_t k = 1; k < length; ++k) {
    const unsigned char b = byte(pos + k);
    if ((b & 0xC0) != 0x80) return {};
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > kCodePointMax || (cp >= 0xD800 && cp <= 0xDFFF)) return {};
  return {cp, length};
}

}  // namespace warden::tokenize
