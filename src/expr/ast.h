// CEL abstract syntax tree produced by the parser (macros already recognised) and annotated
// with types by the checker. Internal to src/expr.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "expr/types.h"

namespace warden::expr {

enum class MacroKind : std::uint8_t {
  kNone,
  kHas,
  kAll,
  kExists,
  kExistsOne,
  kMap,  // x.map(v, t) or x.map(v, f, t)
  kFilter,
  kTransformList,  // x.transformList(i, v, [f,] t)
  kTransformMap,   // x.transformMap(k, v, [f,] t)
  kBind,           // cel.bind(v, init, body)
  kBlock,          // cel.block([e0, ...], result)
};

enum class LitKind : std::uint8_t { kNull, kBool, kInt, kUint, kDouble, kString, kBytes };

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class K : std::uint8_t { kLit, kIdent, kSelect, kCall, kList, kMap, kMacro };
  K k = K::kLit;
  std::uint32_t pos = 0;  // byte offset in the source
  // Literal.
  LitKind lit = LitKind::kNull;
  bool b = false;
  std::int64_t i = 0;
  std::uint64_t u = 0;
  double d = 0;
  std::string text;  // string/bytes literal, ident name, select field, call function name
  // Select: operand = args[0]. Call: receiver-style when has_target (args[0] is the target).
  bool has_target = false;
  bool test_only = false;     // has(a.b)
  std::vector<ExprPtr> args;  // call args, list items, map entries as key,value pairs
  // Macros: args[0] = range, args[1..] = predicate/filter/transform; var names below.
  MacroKind macro = MacroKind::kNone;
  std::string var1, var2;
  Type type;  // set by the checker
};

struct ParseLimits {
  std::size_t source_bytes_max = 100 * 1024;
  int depth_max = 100;
};

// Parses CEL source; errors carry "line:column: message".
Result<ExprPtr> parse(std::string_view source, const ParseLimits& limits);
// "line:col" for a byte offset.
std::string position_text(std::string_view source, std::uint32_t pos);

}  // namespace warden::expr
