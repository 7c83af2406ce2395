// Compares Warden's token ids with the reference tokenizer's over the corpus generate.mjs wrote
// (CTest fixture tokenize_reference_data): every case identical, or the test fails showing the
// first difference of each failing case.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "tokenize/tokenize.h"

namespace warden::tokenize {
namespace {

constexpr std::size_t kCasesMin = 1000;  // fewer means the data file is not the corpus
constexpr std::size_t kReportedFailuresMax = 20;
constexpr std::size_t kContextIds = 4;

struct Case {
  std::string encoding;
  bool allow_special = false;
  std::string text;
  std::vector<std::uint32_t> ids;
};

std::string from_hex(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

std::vector<Case> read_cases() {
  std::ifstream in(WARDEN_TOKENIZE_CASES);
  std::vector<Case> cases;
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> fields;
    std::stringstream ss(line);
    std::string field;
    while (std::getline(ss, field, '\t')) fields.push_back(field);
    if (fields.size() == 3) fields.emplace_back();  // an empty text has no ids
    if (fields.size() != 4) continue;
    Case c{fields[0], fields[1] == "1", from_hex(fields[2]), {}};
    std::stringstream ids(fields[3]);
    while (std::getline(ids, field, ','))
      c.ids.push_back(static_cast<std::uint32_t>(std::stoul(field)));
    cases.push_back(std::move(c));
  }
  return cases;
}

// The text with non-printable and non-ASCII bytes escaped, for the failure message.
std::string escaped(std::string_view s) {
  std::string out;
  char buf[8];
  for (const char ch : s) {
    const auto b = static_cast<unsigned char>(ch);
    if (b >= 0x20 && b < 0x7f && b != '\\') {
      out.push_back(ch);
    } else {
      std::snprintf(buf, sizeof buf, "\\x%02x", b);
      out += buf;
    }
  }
  return out;
}

std::string window(const Encoding& e, const std::vector<std::uint32_t>& ids, std::size_t at) {
  std::string out;
  const std::size_t from = at > kContextIds ? at - kContextIds : 0;
  for (std::size_t i = from; i < ids.size() && i < at + kContextIds; ++i) {
    const auto bytes = e.decode(std::span(&ids[i], 1));
    if (i == at) out += '[';
    out += std::to_string(ids[i]);
    out += '"';
    out += escaped(bytes.ok() ? *bytes : "?");
    out += '"';
    if (i == at) out += ']';
    out += ' ';
  }
  return out;
}

TEST(TokenizeReference, IdsMatchTiktokenOnTheGeneratedCorpus) {
  const std::vector<Case> cases = read_cases();
  ASSERT_GE(cases.size(), kCasesMin) << "no corpus at " << WARDEN_TOKENIZE_CASES
                                     << " (the fixture tokenize_reference_data writes it)";
  std::size_t failures = 0;
  std::size_t ids_compared = 0;
  for (std::size_t n = 0; n < cases.size(); ++n) {
    const Case& c = cases[n];
    const Encoding& e = **Encoding::by_name(c.encoding);
    const std::vector<std::uint32_t> got = e.encode(c.text, c.allow_special);
    ids_compared += c.ids.size();
    if (got == c.ids) continue;
    if (++failures > kReportedFailuresMax) continue;
    std::size_t at = 0;
    while (at < got.size() && at < c.ids.size() && got[at] == c.ids[at]) ++at;
    ADD_FAILURE() << "case " << n + 1 << " (" << c.encoding << ", allow_special " << c.allow_special
                  << "): first difference at id " << at << "\n  text: \"" << escaped(c.text)
                  << "\"\n  expected: " << window(e, c.ids, at)
                  << "\n  got:      " << window(e, got, at);
  }
  EXPECT_EQ(failures, 0u) << "of " << cases.size() << " cases";
  EXPECT_GT(ids_compared, cases.size());
}

}  // namespace
}  // namespace warden::tokenize
