// Internal runtime pieces shared by the compiler, the checker and the builtin functions:
// the evaluation context and the function registry. Not part of the public API.
#pragma once

#include <cstdint>
#include <string_view>

#include "expr/value.h"

namespace warden::expr {

struct Ctx {
  Arena* arena;
  Value* slots;
  std::uint64_t cost = 0;
  std::uint64_t cost_max = 0;
  std::size_t alloc_bytes_max = 0;

  // Charges `units` to the cost budget; false once the budget is exhausted.
  bool charge(std::uint64_t units) {
    cost += units;
    return cost <= cost_max;
  }
};

inline constexpr std::string_view kCostExceeded = "evaluation cost budget exceeded";
inline constexpr std::string_view kNoOverload = "no matching overload";

// A builtin: args have already been evaluated and are never errors (strict functions).
using Fn = Value (*)(Ctx& ctx, const Value* args, std::size_t n);

struct FnDef {
  const char* name;  // "size", "_+_", "math.greatest", ...
  bool receiver;     // called as target.name(...): args[0] is the target
  int arity;         // including the receiver; -1 = any number >= 1
  Fn fn;
  const char* sigs;  // checker overloads: "string string:bool|bytes bytes:bool", A/B params
};

// Looks a builtin up by name, call style and argument count; null when there is none.
const FnDef* find_function(std::string_view name, bool receiver, std::size_t arity);
// True when any builtin has this name (used to resolve namespaced calls such as math.abs).
bool function_name_exists(std::string_view name);

// Shared helpers used by several builtin groups.
Value no_overload(std::string_view fn);
Value err(Ctx& ctx, std::string_view message);
int compare_numbers(const Value& a, const Value& b);  // -2 when unordered

// The result of relation `op` (0 <, 1 <=, 2 >, 3 >=) given a three-way comparison c.
inline Value relation_result(int op, int c) {
  switch (op) {
    case 0:
      return Value::boolean(c < 0);
    case 1:
      return Value::boolean(c <= 0);
    case 2:
      return Value::boolean(c > 0);
    default:
      return Value::boolean(c >= 0);
  }
}
Value make_ip(Arena& arena, const NetRep& rep, Kind kind);
bool parse_timestamp(std::string_view s, std::int64_t& seconds, std::int32_t& nanos);
bool parse_duration(std::string_view s, std::int64_t& seconds, std::int32_t& nanos);

inline constexpr std::int64_t kTimestampSecondsMin = -62135596800;  // 0001-01-01T00:00:00Z
inline constexpr std::int64_t kTimestampSecondsMax = 253402300799;  // 9999-12-31T23:59:59Z
// Durations are bounded by int64 nanoseconds (about 292 years), as cel-go does.
inline constexpr std::int64_t kDurationSecondsMax = 9223372036;

}  // namespace warden::expr
