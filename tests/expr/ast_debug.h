// Prints a parsed Warden CEL AST the way cel-go's debug.ToAdornedDebugString prints a parsed
// expression with the kind adorner (`1^#*expr.Constant_Int64Value#`), which is the form of the
// `ast` strings in cel-go's parsing and comprehension suites (@bufbuild/cel-spec).
//
// Those strings come from cel-go's parser with the standard macros only: has(), the one-variable
// all/exists/exists_one/existsOne, map and filter appear expanded into `__comprehension__`, while
// the macros of CEL extensions that Warden's parser also recognises (two-variable comprehensions,
// transformList/transformMap, cel.bind, cel.block) appear as the plain calls they were written
// as. The printer does the same, so that the two strings are comparable.
#pragma once

#include <string>
#include <string_view>

#include "expr/ast.h"

namespace warden::expr::testing {

// `source` is the text `root` was parsed from (the name of a macro spelled two ways, such as
// exists_one/existsOne, is read back from it).
//
// `canonical` also prints two choices of cel-go's parser that change no meaning, where Warden's
// parser chose otherwise: a chain of one logical operator (`a || b || c || d`) as cel-go's
// balanced tree instead of left-deep (&& and || are associative), and a minus before a double
// literal as a negative literal (`-4.1`) instead of `-_(4.1)`. Grouping that parentheses
// forced is not recoverable from the AST, so a parenthesised chain can only compare unequal,
// never equal by accident.
std::string ast_debug_string(const Expr& root, std::string_view source, bool canonical = false);

// Go's strconv.Quote (printable runes kept, the rest escaped), as cel-go prints string literals.
std::string go_quote(std::string_view bytes);

// Go's strconv.FormatFloat(d, 'g', -1, 64), as cel-go prints double literals.
std::string go_float(double d);

}  // namespace warden::expr::testing
