// libFuzzer target for the CEL implementation: the input is an expression, parsed, checked,
// compiled and evaluated (with and without the checker) against a fixed set of variables.
// Built only by scripts/fuzz-expr.sh (clang, -fsanitize=fuzzer,address,undefined).
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "expr/expr.h"

namespace {

using namespace warden::expr;

const Env& fuzz_env() {
  static const Env env = [] {
    Env e;
    e.declare("i", Type(TypeKind::kInt));
    e.declare("u", Type(TypeKind::kUint));
    e.declare("f", Type(TypeKind::kDouble));
    e.declare("s", Type(TypeKind::kString));
    e.declare("b", Type(TypeKind::kBytes));
    e.declare("t", Type(TypeKind::kTimestamp));
    e.declare("d", Type(TypeKind::kDuration));
    e.declare("l", Type::list(Type(TypeKind::kString)));
    e.declare("m", Type::map(Type(TypeKind::kString), Type()));
    e.declare("x", Type());
    return e;
  }();
  return env;
}

const boost::json::object& fuzz_vars() {
  static const boost::json::object vars = boost::json::parse(R"({
    "i": -42, "u": 7, "f": 2.5, "s": "gpt-4o", "b": "aGVsbG8=",
    "t": "2024-03-10T12:30:00Z", "d": "90m", "l": ["a", "bb", "ccc"],
    "m": {"k": 1, "n": {"z": [1, 2.5, "x"]}}, "x": [1, {"y": null}]})")
                                              .as_object();
  return vars;
}

void run(std::string_view src, bool check) {
  Limits limits;
  limits.source_bytes_max = 4096;
  limits.cost_max = 20000;
  limits.alloc_bytes_max = 1 << 20;
  limits.type_check = check;
  auto program = compile(src, fuzz_env(), limits);
  if (!program.ok()) return;
  Activation act(*program);
  if (!act.bind_json(fuzz_vars()).ok()) __builtin_trap();
  Value v = program->eval(act);
  std::string text = to_text(v);
  std::string json = boost::json::serialize(to_json(v));
  if (text.empty() || json.empty()) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view src(reinterpret_cast<const char*>(data), size);
  run(src, true);
  run(src, false);
  return 0;
}
