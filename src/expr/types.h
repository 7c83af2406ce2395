// CEL static types used by the checker and by variable declarations: primitives, list(T),
// map(K, V), timestamp, duration, type(T), dyn.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace warden::expr {

enum class TypeKind : std::uint8_t {
  kDyn,
  kNull,
  kBool,
  kInt,
  kUint,
  kDouble,
  kString,
  kBytes,
  kList,
  kMap,
  kTimestamp,
  kDuration,
  kType,  // the type of a type value; param 0 (if any) is the type it denotes
  kIp,
  kCidr,
  kError,  // checker-internal: an expression that already failed
  kParam,  // checker-internal: a type parameter in an overload signature
};

// Type parameter id of an empty list's element type: joins with anything.
inline constexpr int kFreeParam = 99;

class Type {
 public:
  Type() = default;
  explicit Type(TypeKind k) : kind_(k) {}
  static Type list(Type elem);
  static Type map(Type key, Type value);
  static Type type_of(Type t);
  static Type type_param(int id) {
    Type t(TypeKind::kParam);
    t.id_ = id;
    return t;
  }
  int param_id() const { return id_; }

  TypeKind kind() const { return kind_; }
  bool is_dyn() const { return kind_ == TypeKind::kDyn; }
  // list elem / map key / type param; dyn when absent.
  const Type& param(std::size_t i) const;
  std::size_t param_count() const { return params_ ? params_->size() : 0; }

  // "int", "list(string)", "map(string, dyn)", "google.protobuf.Timestamp", ...
  std::string to_string() const;
  // Parses the to_string() form; also accepts "timestamp" and "duration".
  static Result<Type> parse(std::string_view text);

  friend bool operator==(const Type& a, const Type& b);
  friend bool operator!=(const Type& a, const Type& b) { return !(a == b); }

 private:
  TypeKind kind_ = TypeKind::kDyn;
  std::shared_ptr<const std::vector<Type>> params_;
  int id_ = 0;
};

// True when a value of type `from` may be used where `to` is expected (dyn matches anything).
bool assignable(const Type& to, const Type& from);
// The most specific common type of two types, or dyn.
Type join(const Type& a, const Type& b);

}  // namespace warden::expr
