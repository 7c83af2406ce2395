// Public API of Warden's CEL implementation: declare variables in an Env, compile source once
// into an immutable Program, evaluate it many times against Activations built from JSON.
//
//   warden::expr::Env env;
//   env.declare("amount", Type(TypeKind::kInt)).declare("model", Type(TypeKind::kString));
//   auto program = warden::expr::compile("amount > 1000 && model.startsWith('gpt-')", env);
//   if (!program.ok()) ...;  // VALIDATION_FAILED, message "1:8: no matching overload ..."
//   warden::expr::Activation act(*program);
//   WARDEN_RETURN_IF_ERROR(act.bind_json(attributes));   // boost::json::object
//   warden::expr::Value v = program->eval(act);
//   if (v.is_error()) ...;  // an evaluation error is a value (docs/architecture.md, "Errors")
//   bool allowed = v.kind == Kind::kBool && v.b;
//
// Thread-safety: a Program is immutable and may be evaluated from many threads at once, each
// with its own Activation. An Activation is single-threaded.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "expr/types.h"
#include "expr/value.h"

namespace warden::expr {

// Bounds on what one expression may cost. Exceeding any is a clean error, never a crash.
struct Limits {
  std::size_t source_bytes_max = 16 * 1024;  // compile: VALIDATION_FAILED beyond this
  int depth_max = 64;                        // compile: parser nesting depth
  std::uint64_t cost_max = 1'000'000;        // eval: comprehension steps + allocation units
  std::size_t alloc_bytes_max = 8 << 20;     // eval: largest string/list one call may build
  bool type_check = true;                    // false: skip the checker (conformance only)
};

// Declared variables and their CEL types. Names may be dotted ("request.amount").
class Env {
 public:
  Env& declare(std::string name, Type type);
  // Declares with a type written as text: "int", "list(string)", "map(string, dyn)", ...
  Status declare(std::string name, std::string_view type_text);
  // Declares every top-level key of `attributes` as dyn (for ad-hoc evaluation, e.g. the CLI).
  Env& declare_dyn_keys(const boost::json::object& attributes);
  const Type* find(std::string_view name) const;
  const std::vector<std::pair<std::string, Type>>& variables() const { return vars_; }

 private:
  std::vector<std::pair<std::string, Type>> vars_;
};

class Activation;
struct ProgramImpl;

class Program {
 public:
  // Evaluates against `act`. The result (and anything it points to) stays valid until the
  // activation is destroyed or reset_scratch() is called on it.
  Value eval(Activation& act) const;
  // The checked result type ("dyn" when unknown or when type checking was off).
  const Type& result_type() const;
  // The declared variables this program can read, in slot order.
  const std::vector<std::string>& variable_names() const;

 private:
  friend Result<Program> compile(std::string_view, const Env&, const Limits&);
  friend class Activation;
  std::shared_ptr<const ProgramImpl> impl_;
};

// Parses, checks and compiles. Errors: VALIDATION_FAILED with "line:column: message".
Result<Program> compile(std::string_view source, const Env& env, const Limits& limits = {});

// Variable values for one evaluation of one Program. Reusable: bind, eval, reset_scratch, ...
class Activation {
 public:
  explicit Activation(const Program& program);
  Activation(const Activation&) = delete;
  Activation& operator=(const Activation&) = delete;
  ~Activation();

  // Binds every declared variable found in `attributes`, converting each JSON value to the
  // declared type (integral numbers → int unless declared uint/double, strings → timestamp or
  // duration when so declared, base64 strings → bytes). A value that does not fit its declared
  // type is VALIDATION_WRONG_TYPE. Dotted names are looked up as nested objects as well.
  Status bind_json(const boost::json::object& attributes);
  // Binds one variable to a value; its heap parts must live in arena() or outlive this object.
  Status set(std::string_view name, Value v);
  Arena& arena() { return arena_; }
  // Frees values built by previous evaluations (bound variables are kept).
  void reset_scratch();

 private:
  friend class Program;
  std::shared_ptr<const ProgramImpl> program_;
  std::vector<Value> slots_;
  Arena arena_;    // bound variables
  Arena scratch_;  // evaluation results
};

// Converts a JSON value to a CEL value of the given type (dyn: natural mapping).
Result<Value> value_from_json(const boost::json::value& json, const Type& type, Arena& arena);
// JSON form of a value: numbers, strings, arrays, objects (keys as text), timestamps and
// durations as their string forms, bytes as base64, errors as {"error": message}.
boost::json::value to_json(const Value& v);

}  // namespace warden::expr
