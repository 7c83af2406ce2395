// The CEL type checker: annotates each AST node with a type and reports undeclared names and
// calls with no matching overload, with line:column positions. Internal to src/expr.
#pragma once

#include <string_view>

#include "core/status.h"
#include "expr/ast.h"

namespace warden::expr {

class Env;

// Checks `root` (parsed from `source`) against `env`; VALIDATION_FAILED lists every error
// found, one per line, each "line:col: message".
Status check(Expr& root, const Env& env, std::string_view source);

}  // namespace warden::expr
