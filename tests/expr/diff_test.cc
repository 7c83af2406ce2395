// Differential test: random well-typed CEL expressions evaluated by Warden's CEL and by the
// reference @bufbuild/cel (tests/expr/diff/generate.mjs wrote `expr<TAB>result` lines), values
// compared in one canonical text form (CEL literal syntax; maps sorted by key, doubles as
// shortest round-trip d.ddde±x, every error just `error`).
//
// A disagreement fails the test unless a line of tests/expr/diff/known_deviations.txt matches
// the expression (`<ECMAScript regex><TAB><reason>`, '#' comments); a listed deviation that
// matched nothing is reported, not fatal (another seed may still hit it).
#include <gtest/gtest.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "expr/expr.h"

namespace warden::expr {
namespace {

void quote_string(std::string_view s, std::string& out) {
  out += '"';
  for (std::size_t k = 0; k < s.size();) {
    auto c = static_cast<unsigned char>(s[k]);
    std::uint32_t cp = c;
    std::size_t len = 1;
    if (c >= 0xf0 && k + 3 < s.size()) {
      cp = ((c & 0x07u) << 18) | ((s[k + 1] & 0x3fu) << 12) | ((s[k + 2] & 0x3fu) << 6) |
           (s[k + 3] & 0x3fu);
      len = 4;
    } else if (c >= 0xe0 && k + 2 < s.size()) {
      cp = ((c & 0x0fu) << 12) | ((s[k + 1] & 0x3fu) << 6) | (s[k + 2] & 0x3fu);
      len = 3;
    } else if (c >= 0xc0 && k + 1 < s.size()) {
      cp = ((c & 0x1fu) << 6) | (s[k + 1] & 0x3fu);
      len = 2;
    }
    k += len;
    char buf[16];
    if (cp == '"' || cp == '\\') {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp >= 0x20 && cp < 0x7f) {
      out += static_cast<char>(cp);
    } else {
      if (cp < 0x80)
        std::snprintf(buf, sizeof buf, "\\x%02x", cp);
      else if (cp <= 0xffff)
        std::snprintf(buf, sizeof buf, "\\u%04x", cp);
      else
        std::snprintf(buf, sizeof buf, "\\U%08x", cp);
      out += buf;
    }
  }
  out += '"';
}

void quote_bytes(std::string_view s, std::string& out) {
  out += "b\"";
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c >= 0x20 && c < 0x7f) {
      out += ch;
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  out += '"';
}

std::string canonical_double(double d) {
  if (std::isnan(d)) return "double(\"NaN\")";
  if (std::isinf(d)) return d > 0 ? "double(\"Infinity\")" : "double(\"-Infinity\")";
  if (d == 0) return std::signbit(d) ? "-0e0" : "0e0";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, r.ptr);
  std::size_t e = sci.find('e');
  return sci.substr(0, e) + "e" + std::to_string(std::atoi(sci.c_str() + e + 1));
}

std::string canonical(const Value& v) {
  std::string out;
  switch (v.kind) {
    case Kind::kDouble:
      return canonical_double(v.d);
    case Kind::kString:
      quote_string(v.sv(), out);
      return out;
    case Kind::kBytes:
      quote_bytes(v.sv(), out);
      return out;
    case Kind::kList:
      out = "[";
      for (std::uint32_t k = 0; k < v.list->size; ++k) {
        if (k) out += ", ";
        out += canonical(v.list->items[k]);
      }
      return out + "]";
    case Kind::kMap: {
      std::vector<std::pair<std::string, std::string>> entries;
      for (std::uint32_t k = 0; k < v.map->size; ++k)
        entries.emplace_back(canonical(v.map->keys[k]), canonical(v.map->values[k]));
      std::sort(entries.begin(), entries.end());
      out = "{";
      for (std::size_t k = 0; k < entries.size(); ++k) {
        if (k) out += ", ";
        out += entries[k].first + ": " + entries[k].second;
      }
      return out + "}";
    }
    case Kind::kType:
      return "type(" + std::string(v.sv()) + ")";
    case Kind::kError:
      return "error";
    default:
      return to_text(v);  // null, bool, int, 1u, timestamp("..."), duration("...")
  }
}

std::string evaluate(const std::string& source) {
  Env env;
  auto program = compile(source, env);
  if (!program.ok()) return "error (compile: " + program.status().message() + ")";
  Activation act(*program);
  Value v = program->eval(act);
  if (v.is_error()) return "error";
  return canonical(v);
}

struct Deviation {
  std::string pattern;
  std::regex re;
  std::string reason;
  int hits = 0;
};

std::vector<Deviation> read_deviations(const std::string& path) {
  std::vector<Deviation> out;
  std::ifstream in(path);
  EXPECT_TRUE(in) << "cannot read " << path;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto tab = line.find('\t');
    EXPECT_NE(tab, std::string::npos) << "known_deviations.txt: no TAB in: " << line;
    if (tab == std::string::npos) continue;
    std::string pattern = line.substr(0, tab);
    out.push_back({pattern, std::regex(pattern), line.substr(line.find_first_not_of('\t', tab))});
  }
  return out;
}

TEST(CelDiff, AgreesWithReference) {
  std::ifstream in(WARDEN_CEL_DIFF_CASES);
  ASSERT_TRUE(in) << "no cases at " << WARDEN_CEL_DIFF_CASES
                  << " (the CTest fixture expr_cel_diff_data writes them)";
  auto deviations = read_deviations(WARDEN_CEL_DIFF_KNOWN);
  std::string line;
  int total = 0, agree = 0, known = 0, unknown = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto tab = line.rfind('\t');
    ASSERT_NE(tab, std::string::npos) << line;
    std::string expr = line.substr(0, tab), want = line.substr(tab + 1);
    std::string got = evaluate(expr);
    ++total;
    if (got == want || (want == "error" && got.rfind("error", 0) == 0)) {
      ++agree;
      continue;
    }
    Deviation* dev = nullptr;
    for (auto& d : deviations)
      if (std::regex_search(expr, d.re)) {
        dev = &d;
        break;
      }
    if (dev) {
      ++dev->hits;
      ++known;
      continue;
    }
    ++unknown;
    ADD_FAILURE() << "disagreement with @bufbuild/cel\n  expr:      " << expr
                  << "\n  warden:    " << got << "\n  reference: " << want
                  << "\n  hint: fix src/expr if Warden is wrong per the CEL spec / cel-go, else "
                     "add a line `<regex matching the expression><TAB><reason>` to "
                     "tests/expr/diff/known_deviations.txt";
  }
  for (const auto& d : deviations)
    if (d.hits == 0)
      std::cout << "note: known deviation not seen in this run (fixed, or not generated by this "
                   "seed): "
                << d.pattern << "\n";
    else
      std::cout << "known deviation, " << d.hits << " case(s): " << d.pattern << "  (" << d.reason
                << ")\n";
  std::cout << total << " expressions: " << agree << " agree, " << known << " known deviations, "
            << unknown << " new disagreements\n";
  EXPECT_GE(total, 100) << "too few cases; did the generator run?";
}

}  // namespace
}  // namespace warden::expr
