// Test-only helpers for the policy module's unit tests: run a JSON document through
// parse_spec + validate and look issues up by code and pointer.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <string>
#include <string_view>

#include "core/json.h"
#include "policy/policy.h"

namespace warden::policy::testing {

inline PolicySpec spec_of(std::string_view text) {
  auto doc = parse_json(text);
  EXPECT_TRUE(doc.ok()) << doc.status().to_string();
  if (!doc.ok()) return {};
  auto spec = parse_spec(*doc);
  EXPECT_TRUE(spec.ok()) << spec.status().to_string();
  return spec.ok() ? *spec : PolicySpec{};
}

inline Validation check(std::string_view text, const ValidateOptions& options = {}) {
  return validate(spec_of(text), options);
}

inline std::string canonical_of(std::string_view text) {
  const PolicySpec spec = spec_of(text);
  return canonical_json(normalized_spec(spec, validate(spec).normalized_rules));
}

// "severity code pointer" per issue, one per line: failures then show every issue at once.
inline std::string summary(const Validation& v) {
  std::string out;
  for (const auto& i : v.issues) {
    out += std::string(severity_name(i.severity)) + " " + i.code + " " + i.pointer + "\n";
  }
  return out;
}

inline bool has_issue(const Validation& v, Severity severity, std::string_view code,
                      std::string_view pointer) {
  return std::any_of(v.issues.begin(), v.issues.end(), [&](const Issue& i) {
    return i.severity == severity && i.code == code && i.pointer == pointer;
  });
}

}  // namespace warden::policy::testing
