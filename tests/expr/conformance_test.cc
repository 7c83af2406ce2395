// Runs the CEL conformance cases (cel-spec simple tests converted to JSON) whose `needs` we
// support, reports passed/failed/skipped per file, and fails when a case in the committed pass
// list stops passing. Set CEL_CONFORMANCE_WRITE=<path> to write the current pass list.
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

#include "expr/expr.h"

namespace warden::expr {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

const std::set<std::string> kSupportedNeeds = {"uint",     "bytes",        "timestamp",
                                               "duration", "typed_result", "check_only"};

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
  std::string detail;
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

fs::path cases_dir() {
  if (const char* env = std::getenv("CEL_CONFORMANCE_DIR")) return env;
  return WARDEN_CEL_CONFORMANCE_DIR;
}

TEST(CelConformance, PassListHolds) {
  fs::path dir = cases_dir();
  if (!fs::exists(dir)) GTEST_SKIP() << "no conformance cases at " << dir;
  std::set<std::string> pass_list;
  {
    std::ifstream in(WARDEN_CEL_PASS_LIST);
    std::string line;
    while (std::getline(in, line))
      if (!line.empty() && line[0] != '#') pass_list.insert(line);
  }
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".json") files.push_back(e.path());
  std::sort(files.begin(), files.end());

  std::set<std::string> passing;
  std::vector<std::string> regressions, new_passes;
  int total_pass = 0, total_fail = 0, total_skip = 0;
  bool verbose = std::getenv("CEL_CONFORMANCE_VERBOSE") != nullptr;
  // Exploration only: CEL_CONFORMANCE_EXTRA_NEEDS=type_env,container widens the scope.
  std::set<std::string> extra_needs;
  if (const char* extra = std::getenv("CEL_CONFORMANCE_EXTRA_NEEDS")) {
    std::stringstream ss(extra);
    std::string item;
    while (std::getline(ss, item, ',')) extra_needs.insert(item);
  }
  for (const auto& file : files) {
    json::value doc = json::parse(read_file(file));
    int pass = 0, fail = 0, skip = 0;
    for (const auto& cv : doc.as_array()) {
      const json::object& c = cv.as_object();
      bool supported = true;
      for (const auto& n : c.at("needs").as_array()) {
        std::string need(n.as_string());
        supported = supported && (kSupportedNeeds.count(need) > 0 || extra_needs.count(need) > 0);
      }
      if (!supported) {
        ++skip;
        continue;
      }
      std::string id = std::string(c.at("file").as_string()) + ":" +
                       std::to_string(c.at("line").to_number<int>()) + ":" +
                       std::string(c.at("name").as_string());
      Outcome o = run_case(c);
      if (o.pass) {
        ++pass;
        passing.insert(id);
        if (!pass_list.count(id)) new_passes.push_back(id);
      } else {
        ++fail;
        if (pass_list.count(id)) regressions.push_back(id + " — " + o.detail);
        if (verbose)
          std::cout << "FAIL " << id << ": " << c.at("expr").as_string() << "  [" << o.detail
                    << "]\n";
      }
    }
    std::printf("%-22s passed %4d  failed %4d  skipped %4d\n", file.stem().c_str(), pass, fail,
                skip);
    total_pass += pass;
    total_fail += fail;
    total_skip += skip;
  }
  std::printf("%-22s passed %4d  failed %4d  skipped %4d  (%.1f%% of %d in scope)\n", "TOTAL",
              total_pass, total_fail, total_skip,
              100.0 * total_pass / std::max(1, total_pass + total_fail), total_pass + total_fail);
  for (const auto& n : new_passes) std::printf("new pass (add to the pass list): %s\n", n.c_str());
  if (const char* w = std::getenv("CEL_CONFORMANCE_WRITE")) {
    std::ofstream outf(w);
    outf << "# CEL conformance cases that pass (file:line:name); regenerate with\n"
         << "# CEL_CONFORMANCE_WRITE=<this file> build-*/tests/expr/expr_conformance_test\n";
    for (const auto& id : passing) outf << id << "\n";
  }
  for (const auto& id : pass_list)
    if (!passing.count(id) &&
        std::none_of(regressions.begin(), regressions.end(),
                     [&](const std::string& r) { return r.rfind(id + " ", 0) == 0; }))
      regressions.push_back(id + " — not found among the in-scope cases");
  for (const auto& r : regressions) ADD_FAILURE() << "regression: " << r;
  EXPECT_TRUE(regressions.empty());
}

}  // namespace
}  // namespace warden::expr
