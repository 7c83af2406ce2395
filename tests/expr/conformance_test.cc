// Runs the CEL test data of the pinned npm package @bufbuild/cel-spec (tests/expr/cel-spec),
// converted into the build tree by the CTest fixture that tests/expr/CMakeLists.txt sets up:
//
//   conformance    cel-spec's conformance suite: compile and evaluate, compare the value
//   parsing        cel-go's parser cases: accept/reject, and the AST as cel-go prints it
//   comprehension  cel-go's comprehension-extension cases, checked like the parser cases
//
// A case whose `needs` tags are not all supported is out of scope and only counted. Every
// in-scope case must pass unless tests/expr/known_failures.txt lists it (with the reason), a
// listed case that passes is a stale entry, and each suite must pass at least 95 % of its
// in-scope cases. Missing or incomplete data fails the test.
//
// Environment: CEL_CONFORMANCE_DIR=<dir> reads converted data from elsewhere;
// CEL_CONFORMANCE_WRITE=<file> rewrites that suite's entries of a known-failure list from this
// run; CEL_CONFORMANCE_VERBOSE=1 also prints the out-of-scope cases (the report file that each
// suite writes into the build tree lists every case's status);
// CEL_CONFORMANCE_EXTRA_NEEDS=tag,... widens the scope (exploration only).
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "ast_debug.h"
#include "expr/ast.h"
#include "expr/expr.h"

namespace warden::expr {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

// Tags the evaluator handles (escaped_ident: `backquoted` field names).
const std::set<std::string> kEvalNeeds = {"uint",         "bytes",      "timestamp",    "duration",
                                          "typed_result", "check_only", "escaped_ident"};
// The parser suites have no supported tag: each of theirs marks a case whose reference outcome
// depends on something Warden's CEL does not have (messages, optional syntax) or on how the
// reference parser was configured (backquoted names off, nesting limit 32, the comprehension
// extension off).
const std::set<std::string> kParseNeeds = {};
constexpr double kPassRateMin = 0.95;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string b64_decode(std::string_view s) {
  static const std::string_view kAlpha =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    std::size_t p = kAlpha.find(c);
    if (p == std::string_view::npos) continue;
    acc = (acc << 6) | static_cast<std::uint32_t>(p);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return out;
}

// Decodes the tagged cel.expr.Value JSON; false for values we cannot represent.
bool decode_value(const json::value& j, Arena& arena, Value& out) {
  const json::object& o = j.as_object();
  if (o.contains("int")) {
    out = Value::integer(std::stoll(std::string(o.at("int").as_string())));
  } else if (o.contains("uint")) {
    out = Value::uinteger(std::stoull(std::string(o.at("uint").as_string())));
  } else if (o.contains("double")) {
    const json::value& d = o.at("double");
    if (d.is_string()) {
      std::string_view s = d.as_string();
      out = Value::dbl(s == "NaN" ? NAN : s == "Infinity" ? INFINITY : -INFINITY);
    } else {
      out = Value::dbl(d.to_number<double>());
    }
  } else if (o.contains("string")) {
    out = make_string(arena, o.at("string").as_string());
  } else if (o.contains("bytes_b64")) {
    out = make_bytes(arena, b64_decode(o.at("bytes_b64").as_string()));
  } else if (o.contains("bool")) {
    out = Value::boolean(o.at("bool").as_bool());
  } else if (o.contains("null")) {
    out = Value::null();
  } else if (o.contains("list")) {
    std::vector<Value> items;
    for (const auto& e : o.at("list").as_array()) {
      Value v;
      if (!decode_value(e, arena, v)) return false;
      items.push_back(v);
    }
    out = make_list(arena, items.data(), items.size());
  } else if (o.contains("map")) {
    std::vector<Value> keys, vals;
    for (const auto& e : o.at("map").as_array()) {
      Value k, v;
      if (!decode_value(e.as_array()[0], arena, k) || !decode_value(e.as_array()[1], arena, v))
        return false;
      keys.push_back(k);
      vals.push_back(v);
    }
    out = make_map(arena, keys.data(), vals.data(), keys.size());
  } else if (o.contains("type")) {
    std::string_view name = o.at("type").as_string();
    out = Value::type({arena.copy(name), name.size()});
  } else {
    return false;
  }
  return true;
}

// Equality that also requires the same kinds (1 is not 1u), NaN equal to NaN.
bool strict_equal(const Value& a, const Value& b) {
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Kind::kDouble:
      return (std::isnan(a.d) && std::isnan(b.d)) || a.d == b.d;
    case Kind::kList:
      if (a.list->size != b.list->size) return false;
      for (std::uint32_t k = 0; k < a.list->size; ++k)
        if (!strict_equal(a.list->items[k], b.list->items[k])) return false;
      return true;
    case Kind::kMap:
      if (a.map->size != b.map->size) return false;
      for (std::uint32_t k = 0; k < a.map->size; ++k) {
        bool found = false;
        for (std::uint32_t m = 0; m < b.map->size && !found; ++m) {
          if (strict_equal(a.map->keys[k], b.map->keys[m])) {
            if (!strict_equal(a.map->values[k], b.map->values[m])) return false;
            found = true;
          }
        }
        if (!found) return false;
      }
      return true;
    default:
      return values_equal(a, b) == 1;
  }
}

std::string type_text(const json::value& j) {
  const json::object& o = j.as_object();
  if (o.contains("primitive")) {
    std::string_view p = o.at("primitive").as_string();
    if (p == "INT64") return "int";
    if (p == "UINT64") return "uint";
    if (p == "DOUBLE") return "double";
    if (p == "BOOL") return "bool";
    if (p == "STRING") return "string";
    if (p == "BYTES") return "bytes";
  }
  if (o.contains("null")) return "null_type";
  if (o.contains("dyn")) return "dyn";
  if (o.contains("list_type")) return "list(" + type_text(o.at("list_type").at("elem_type")) + ")";
  if (o.contains("map_type"))
    return "map(" + type_text(o.at("map_type").at("key_type")) + ", " +
           type_text(o.at("map_type").at("value_type")) + ")";
  if (o.contains("well_known")) {
    std::string_view w = o.at("well_known").as_string();
    if (w == "TIMESTAMP") return "google.protobuf.Timestamp";
    if (w == "DURATION") return "google.protobuf.Duration";
  }
  if (o.contains("type")) return "type(" + type_text(o.at("type")) + ")";
  return "?";
}

struct Outcome {
  bool pass = false;
  std::string detail;  // why it failed; for a pass, a note worth reporting (or empty)
};

Outcome run_case(const json::object& c) {
  Outcome out;
  Env env;
  for (const auto& d : c.at("type_env").as_array()) {
    const json::object& decl = d.as_object();
    if (!decl.contains("ident")) continue;
    auto t = Type::parse(type_text(decl.at("ident").at("type")));
    if (!t.ok()) return {false, "unsupported declaration"};
    env.declare(std::string(decl.at("name").as_string()), *t);
  }
  const json::object& bindings = c.at("bindings").as_object();
  for (const auto& b : bindings)
    if (env.find(b.key()) == nullptr) env.declare(std::string(b.key()), Type());
  Limits limits;
  limits.type_check = !c.at("disable_check").as_bool();
  const json::object& expect = c.at("expect").as_object();
  bool want_error = expect.contains("error");
  auto program = compile(std::string(c.at("expr").as_string()), env, limits);
  if (!program.ok()) {
    if (want_error) return {true, ""};
    return {false, "compile: " + program.status().message()};
  }
  if (expect.contains("deduced_type")) {
    std::string want = type_text(expect.at("deduced_type"));
    std::string got = program->result_type().to_string();
    if (want != got) return {false, "deduced type " + got + ", want " + want};
  }
  if (c.at("check_only").as_bool()) return {true, ""};
  Activation act(*program);
  for (const auto& b : bindings) {
    Value v;
    if (!decode_value(b.value(), act.arena(), v)) return {false, "unsupported binding"};
    if (!act.set(b.key(), v).ok()) return {false, "binding"};
  }
  Value got = program->eval(act);
  if (want_error) {
    if (got.is_error()) return {true, ""};
    return {false, "got " + to_text(got) + ", want an error"};
  }
  if (got.is_error()) return {false, "error: " + std::string(got.sv())};
  Arena arena;
  Value want;
  if (!decode_value(expect.at("value"), arena, want)) return {false, "unsupported expectation"};
  if (!strict_equal(got, want)) return {false, "got " + to_text(got) + ", want " + to_text(want)};
  return {true, ""};
}

// What the reference parser printed vs what we print: the first line that differs.
std::string first_difference(const std::string& want, const std::string& got) {
  std::istringstream w(want), g(got);
  std::string wl, gl;
  for (int n = 1;; ++n) {
    bool more_w = static_cast<bool>(std::getline(w, wl));
    bool more_g = static_cast<bool>(std::getline(g, gl));
    if (!more_w && !more_g) return "same text";
    if (!more_w || !more_g || wl != gl)
      return "AST line " + std::to_string(n) + ": got `" + (more_g ? gl : "<end>") + "`, want `" +
             (more_w ? wl : "<end>") + "`";
  }
}

Outcome run_parse_case(const json::object& c) {
  std::string_view source = c.at("expr").as_string();
  // The limits Warden compiles policy conditions with.
  Limits defaults;
  ParseLimits limits;
  limits.source_bytes_max = defaults.source_bytes_max;
  limits.depth_max = defaults.depth_max;
  auto ast = parse(source, limits);
  const json::value& want = c.at("ast");
  if (want.is_null()) {
    if (!ast.ok()) return {true, ""};
    return {false, "parsed, but the reference rejects it: " +
                       std::string(c.at("reference_error").as_string())};
  }
  if (!ast.ok()) return {false, "rejected: " + ast.status().message()};
  std::string got = testing::ast_debug_string(**ast, source);
  if (got == want.as_string()) return {true, ""};
  std::string canonical = testing::ast_debug_string(**ast, source, /*canonical=*/true);
  if (canonical == want.as_string())
    return {true, "same AST up to && / || grouping or a minus folded into a double literal (" +
                      first_difference(std::string(want.as_string()), got) + ")"};
  return {false, first_difference(std::string(want.as_string()), canonical)};
}

fs::path cases_dir() {
  if (const char* env = std::getenv("CEL_CONFORMANCE_DIR")) return env;
  return WARDEN_CEL_CASES_DIR;
}

// known_failures.txt: "<id> <reason>" per line, '#' comments.
std::map<std::string, std::string> read_known_failures(const fs::path& file) {
  std::map<std::string, std::string> out;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::size_t sp = line.find(' ');
    std::string id = line.substr(0, sp);
    std::string reason = sp == std::string::npos ? "" : line.substr(sp + 1);
    reason.erase(0, reason.find_first_not_of(' '));
    out[id] = reason;
  }
  return out;
}

std::string one_line(std::string s, std::size_t max = 240) {
  for (char& ch : s)
    if (ch == '\n' || ch == '\t') ch = ' ';
  if (s.size() > max) s = s.substr(0, max) + "...";
  return s;
}

// Rewrites `file` with this suite's entries replaced by `failures` (id -> detail).
void write_known_failures(const fs::path& file, const std::string& suite,
                          const std::map<std::string, std::string>& failures) {
  std::vector<std::string> keep;
  {
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line))
      if (line.rfind(suite + "/", 0) != 0) keep.push_back(line);
  }
  while (!keep.empty() && keep.back().empty()) keep.pop_back();
  std::ofstream out(file);
  for (const auto& l : keep) out << l << "\n";
  for (const auto& [id, detail] : failures) out << id << " " << one_line(detail) << "\n";
}

struct Case {
  std::string id;
  std::string group;  // conformance: the cel-spec file; otherwise the suite
  std::vector<std::string> needs;
  json::object data;
};

struct Counts {
  int pass = 0, fail = 0, out = 0;
};

// Reads <dir>/manifest.json; fails the test when the data set is missing.
bool read_manifest(const fs::path& dir, json::object& manifest) {
  fs::path file = dir / "manifest.json";
  if (!fs::exists(file)) {
    ADD_FAILURE() << "no converted CEL test data at " << dir
                  << " (manifest.json missing). CTest's fixture test expr_cel_data creates it "
                     "(tests/expr/cel-spec/prepare.sh: npm ci of the pinned @bufbuild/cel-spec, "
                     "then convert.mjs); run the conformance tests through ctest, or run "
                     "prepare.sh with the paths given in tests/expr/CMakeLists.txt.";
    return false;
  }
  manifest = json::parse(read_file(file)).as_object();
  return true;
}

std::vector<Case> read_cases(const fs::path& file, const std::string& group) {
  std::vector<Case> out;
  json::value doc = json::parse(read_file(file));
  for (const auto& cv : doc.as_array()) {
    Case c;
    c.data = cv.as_object();
    c.id = std::string(c.data.at("id").as_string());
    c.group = c.data.contains("file") ? std::string(c.data.at("file").as_string()) : group;
    for (const auto& n : c.data.at("needs").as_array()) c.needs.emplace_back(n.as_string());
    out.push_back(std::move(c));
  }
  return out;
}

void run_suite(const std::string& suite, const std::vector<Case>& cases,
               const std::set<std::string>& supported_needs, Outcome (*run)(const json::object&),
               const json::object& manifest) {
  ASSERT_FALSE(cases.empty()) << suite << ": no cases";
  std::set<std::string> supported = supported_needs;
  if (const char* extra = std::getenv("CEL_CONFORMANCE_EXTRA_NEEDS")) {
    std::stringstream ss(extra);
    std::string item;
    while (std::getline(ss, item, ',')) supported.insert(item);
  }
  bool verbose = std::getenv("CEL_CONFORMANCE_VERBOSE") != nullptr;
  const auto known = read_known_failures(WARDEN_CEL_KNOWN_FAILURES);

  std::map<std::string, Counts> by_group;
  std::map<std::string, int> out_by_tag;
  std::map<std::string, std::string> failures;  // id -> detail
  std::map<std::string, std::string> notes;     // passing id -> note
  std::set<std::string> in_scope;
  std::vector<std::string> out_of_scope;
  Counts total;
  for (const Case& c : cases) {
    Counts& g = by_group[c.group];
    std::vector<std::string> missing;
    for (const auto& n : c.needs)
      if (!supported.count(n)) missing.push_back(n);
    if (!missing.empty()) {
      ++g.out;
      ++total.out;
      std::string tags;
      for (const auto& n : missing) {
        ++out_by_tag[n];
        tags += (tags.empty() ? "" : ",") + n;
      }
      out_of_scope.push_back(c.id + " [" + tags + "]");
      continue;
    }
    in_scope.insert(c.id);
    Outcome o = run(c.data);
    if (o.pass) {
      ++g.pass;
      ++total.pass;
      if (!o.detail.empty()) notes[c.id] = o.detail;
    } else {
      ++g.fail;
      ++total.fail;
      failures[c.id] = o.detail;
    }
  }

  std::printf("CEL %s suite: %s@%s (cel-spec %s)\n", suite.c_str(),
              std::string(manifest.at("package").as_string()).c_str(),
              std::string(manifest.at("version").as_string()).c_str(),
              manifest.at("cel_spec").is_string()
                  ? std::string(manifest.at("cel_spec").as_string()).c_str()
                  : "?");
  std::printf("  %-22s %7s %7s %13s\n", "", "passed", "failed", "out of scope");
  for (const auto& [group, n] : by_group)
    std::printf("  %-22s %7d %7d %13d\n", group.c_str(), n.pass, n.fail, n.out);
  int scope = total.pass + total.fail;
  double rate = scope == 0 ? 0 : static_cast<double>(total.pass) / scope;
  std::printf("  %-22s %7d %7d %13d   %.1f%% of %d in-scope cases pass (bar %.0f%%)\n", "TOTAL",
              total.pass, total.fail, total.out, 100.0 * rate, scope, 100.0 * kPassRateMin);
  if (!out_by_tag.empty()) {
    std::printf("  out of scope by tag (a case may have several):");
    for (const auto& [tag, n] : out_by_tag) std::printf(" %s %d", tag.c_str(), n);
    std::printf("\n");
  }
  for (const auto& [id, note] : notes)
    std::printf("  pass %s: %s\n", id.c_str(), one_line(note).c_str());
  for (const auto& [id, detail] : failures)
    std::printf("  %s %s: %s\n", known.count(id) ? "known failure" : "FAIL", id.c_str(),
                one_line(detail).c_str());
  if (verbose)
    for (const auto& id : out_of_scope) std::printf("  out of scope %s\n", id.c_str());
  // Every case's status, for the record: the output above lists only the failures.
  fs::path report = fs::path(WARDEN_CEL_REPORT_DIR) / (suite + ".txt");
  std::error_code ec;
  fs::create_directories(report.parent_path(), ec);
  std::ofstream rep(report);
  for (const Case& c : cases) {
    if (!in_scope.count(c.id)) continue;
    auto f = failures.find(c.id);
    if (f == failures.end())
      rep << "pass " << c.id << "\n";
    else
      rep << (known.count(c.id) ? "known-failure " : "FAIL ") << c.id << " " << one_line(f->second)
          << "\n";
  }
  for (const auto& id : out_of_scope) rep << "out-of-scope " << id << "\n";
  if (rep) std::printf("  every case's status: %s\n", report.c_str());

  for (const auto& [id, detail] : failures) {
    if (known.count(id)) continue;
    auto it = std::find_if(cases.begin(), cases.end(), [&](const Case& c) { return c.id == id; });
    ADD_FAILURE() << "regression: " << id << ": " << one_line(detail)
                  << "\n  expression: " << one_line(std::string(it->data.at("expr").as_string()));
  }
  for (const auto& [id, reason] : known) {
    if (id.rfind(suite + "/", 0) != 0) continue;
    if (!in_scope.count(id))
      ADD_FAILURE() << "stale entry in known_failures.txt: " << id
                    << " is not an in-scope case of the data set";
    else if (!failures.count(id))
      ADD_FAILURE() << "stale entry in known_failures.txt: " << id << " passes now; remove it";
  }
  EXPECT_GE(rate, kPassRateMin) << suite << ": " << total.pass << " of " << scope
                                << " in-scope cases pass";
  if (const char* w = std::getenv("CEL_CONFORMANCE_WRITE"))
    write_known_failures(w, suite, failures);
}

// The manifest's count for a suite (conformance: summed over its files) must match what was
// read, so that a truncated conversion cannot pass as a smaller suite.
void expect_complete(const json::object& manifest, const std::string& suite, std::size_t read) {
  const json::value& n = manifest.at("counts").at(suite);
  std::int64_t want = 0;
  if (n.is_object()) {
    for (const auto& kv : n.as_object()) want += kv.value().to_number<std::int64_t>();
  } else {
    want = n.to_number<std::int64_t>();
  }
  EXPECT_EQ(static_cast<std::int64_t>(read), want) << suite << ": cases read vs manifest.json";
}

TEST(CelConformance, Conformance) {
  fs::path dir = cases_dir();
  json::object manifest;
  if (!read_manifest(dir, manifest)) return;
  std::vector<Case> cases;
  std::vector<fs::path> files;
  if (fs::exists(dir / "conformance"))
    for (const auto& e : fs::directory_iterator(dir / "conformance"))
      if (e.path().extension() == ".json") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    auto more = read_cases(f, f.stem().string());
    cases.insert(cases.end(), std::make_move_iterator(more.begin()),
                 std::make_move_iterator(more.end()));
  }
  expect_complete(manifest, "conformance", cases.size());
  run_suite("conformance", cases, kEvalNeeds, run_case, manifest);
}

void run_parse_suite(const std::string& suite) {
  fs::path dir = cases_dir();
  json::object manifest;
  if (!read_manifest(dir, manifest)) return;
  fs::path file = dir / (suite + ".json");
  ASSERT_TRUE(fs::exists(file)) << file << " is missing";
  std::vector<Case> cases = read_cases(file, suite);
  expect_complete(manifest, suite, cases.size());
  run_suite(suite, cases, kParseNeeds, run_parse_case, manifest);
}

TEST(CelConformance, Parsing) { run_parse_suite("parsing"); }

TEST(CelConformance, Comprehension) { run_parse_suite("comprehension"); }

// The printer itself, on forms the suites do not pin down.
TEST(CelAstDebug, CanonicalFormOnlyRegroups) {
  auto print = [](std::string_view src, bool canonical) {
    auto ast = parse(src, ParseLimits{});
    EXPECT_TRUE(ast.ok()) << src;
    return ast.ok() ? testing::ast_debug_string(**ast, src, canonical) : std::string();
  };
  // Four terms: cel-go's balancer groups (a || b) || (c || d); the parser built it left-deep.
  std::string strict = print("a || b || c || d", false);
  std::string canonical = print("a || b || c || d", true);
  EXPECT_NE(strict, canonical);
  EXPECT_EQ(canonical.rfind("_||_(\n  _||_(\n    a", 0), 0u) << canonical;
  EXPECT_NE(canonical.find("  _||_(\n    c^#*expr.Expr_IdentExpr#,\n    d"), std::string::npos)
      << canonical;
  // Three terms balance to the left-deep shape, so nothing changes.
  EXPECT_EQ(print("a && b && c", false), print("a && b && c", true));
  EXPECT_EQ(print("-4.1", true), "-4.1^#*expr.Constant_DoubleValue#");
  EXPECT_EQ(print("-4.1", false).rfind("-_(", 0), 0u);
  // Other operators are never regrouped.
  EXPECT_EQ(print("a + b + c + d", false), print("a + b + c + d", true));
}

TEST(CelAstDebug, GoFormatting) {
  EXPECT_EQ(testing::go_float(23.39), "23.39");
  EXPECT_EQ(testing::go_float(-4.1), "-4.1");
  EXPECT_EQ(testing::go_float(2.0), "2");
  EXPECT_EQ(testing::go_float(999999.0), "999999");
  EXPECT_EQ(testing::go_float(1e6), "1e+06");
  EXPECT_EQ(testing::go_float(1234567.0), "1.234567e+06");
  EXPECT_EQ(testing::go_float(0.0001), "0.0001");
  EXPECT_EQ(testing::go_float(0.00001), "1e-05");
  EXPECT_EQ(testing::go_float(1e300), "1e+300");
  EXPECT_EQ(testing::go_quote("a\"b\\\n\x01\xff"), "\"a\\\"b\\\\\\n\\x01\\xff\"");
  EXPECT_EQ(testing::go_quote("\xe2\x9d\xa4"), "\"\xe2\x9d\xa4\"");  // U+2764 stays
  EXPECT_EQ(testing::go_quote("\xc2\x85"), "\"\\u0085\"");           // C1 control
}

}  // namespace
}  // namespace warden::expr
