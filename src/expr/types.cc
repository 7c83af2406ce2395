// CEL static types: construction, printing, parsing and the assignability rules.
#include "expr/types.h"

namespace warden::expr {

Type Type::list(Type elem) {
  Type t(TypeKind::kList);
  t.params_ = std::make_shared<const std::vector<Type>>(std::vector<Type>{std::move(elem)});
  return t;
}
Type Type::map(Type key, Type value) {
  Type t(TypeKind::kMap);
  t.params_ = std::make_shared<const std::vector<Type>>(
      std::vector<Type>{std::move(key), std::move(value)});
  return t;
}
Type Type::type_of(Type inner) {
  Type t(TypeKind::kType);
  t.params_ = std::make_shared<const std::vector<Type>>(std::vector<Type>{std::move(inner)});
  return t;
}

const Type& Type::param(std::size_t i) const {
  static const Type kDynType;
  return params_ && i < params_->size() ? (*params_)[i] : kDynType;
}

std::string Type::to_string() const {
  switch (kind_) {
    case TypeKind::kDyn:
      return "dyn";
    case TypeKind::kNull:
      return "null_type";
    case TypeKind::kBool:
      return "bool";
    case TypeKind::kInt:
      return "int";
    case TypeKind::kUint:
      return "uint";
    case TypeKind::kDouble:
      return "double";
    case TypeKind::kString:
      return "string";
    case TypeKind::kBytes:
      return "bytes";
    case TypeKind::kList:
      return "list(" + param(0).to_string() + ")";
    case TypeKind::kMap:
      return "map(" + param(0).to_string() + ", " + param(1).to_string() + ")";
    case TypeKind::kTimestamp:
      return "google.protobuf.Timestamp";
    case TypeKind::kDuration:
      return "google.protobuf.Duration";
    case TypeKind::kType:
      return param_count() ? "type(" + param(0).to_string() + ")" : "type";
    case TypeKind::kIp:
      return "net.IP";
    case TypeKind::kCidr:
      return "net.CIDR";
    case TypeKind::kError:
      return "*error*";
    case TypeKind::kParam:
      return id_ == kFreeParam ? "dyn" : std::string(1, static_cast<char>('A' + id_));
  }
  return "dyn";
}

namespace {

class TypeParser {
 public:
  explicit TypeParser(std::string_view s) : s_(s) {}
  Result<Type> run() {
    Result<Type> t = one();
    if (!t.ok()) return t;
    skip();
    if (pos_ != s_.size()) return err();
    return t;
  }

 private:
  Status err() const {
    return Status(ErrorCode::VALIDATION_INVALID_VALUE,
                  "invalid type '" + std::string(s_) + "' at offset " + std::to_string(pos_));
  }
  void skip() {
    while (pos_ < s_.size() && s_[pos_] == ' ') ++pos_;
  }
  bool eat(char c) {
    skip();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  Result<Type> one() {
    skip();
    std::size_t start = pos_;
    while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) ||
                                s_[pos_] == '_' || s_[pos_] == '.'))
      ++pos_;
    std::string_view name = s_.substr(start, pos_ - start);
    if (name == "list") {
      if (!eat('(')) return err();
      WARDEN_ASSIGN_OR_RETURN(Type e, one());
      if (!eat(')')) return err();
      return Type::list(e);
    }
    if (name == "map") {
      if (!eat('(')) return err();
      WARDEN_ASSIGN_OR_RETURN(Type k, one());
      if (!eat(',')) return err();
      WARDEN_ASSIGN_OR_RETURN(Type v, one());
      if (!eat(')')) return err();
      return Type::map(k, v);
    }
    static const std::pair<const char*, TypeKind> kNames[] = {
        {"dyn", TypeKind::kDyn},
        {"any", TypeKind::kDyn},
        {"null", TypeKind::kNull},
        {"null_type", TypeKind::kNull},
        {"bool", TypeKind::kBool},
        {"int", TypeKind::kInt},
        {"uint", TypeKind::kUint},
        {"double", TypeKind::kDouble},
        {"string", TypeKind::kString},
        {"bytes", TypeKind::kBytes},
        {"timestamp", TypeKind::kTimestamp},
        {"google.protobuf.Timestamp", TypeKind::kTimestamp},
        {"duration", TypeKind::kDuration},
        {"google.protobuf.Duration", TypeKind::kDuration},
        {"type", TypeKind::kType},
        {"net.IP", TypeKind::kIp},
        {"net.CIDR", TypeKind::kCidr}};
    for (const auto& [n, k] : kNames)
      if (name == n) return Type(k);
    return err();
  }
  std::string_view s_;
  std::size_t pos_ = 0;
};

}  // namespace

Result<Type> Type::parse(std::string_view text) { return TypeParser(text).run(); }

bool operator==(const Type& a, const Type& b) {
  if (a.kind_ != b.kind_ || a.id_ != b.id_) return false;
  std::size_t n = std::max(a.param_count(), b.param_count());
  for (std::size_t i = 0; i < n; ++i)
    if (!(a.param(i) == b.param(i))) return false;
  return true;
}

bool assignable(const Type& to, const Type& from) {
  if (to.is_dyn() || from.is_dyn() || to.kind() == TypeKind::kError ||
      from.kind() == TypeKind::kError || to.kind() == TypeKind::kParam ||
      from.kind() == TypeKind::kParam)
    return true;
  if (to.kind() != from.kind()) return false;
  std::size_t n = std::max(to.param_count(), from.param_count());
  for (std::size_t i = 0; i < n; ++i)
    if (!assignable(to.param(i), from.param(i))) return false;
  return true;
}

Type join(const Type& a, const Type& b) {
  if (a.kind() == TypeKind::kParam && a.param_id() == kFreeParam) return b;
  if (b.kind() == TypeKind::kParam && b.param_id() == kFreeParam) return a;
  if (a.kind() == TypeKind::kError) return b;
  if (b.kind() == TypeKind::kError) return a;
  if (a.kind() != b.kind()) return Type();
  if (a.kind() == TypeKind::kList) return Type::list(join(a.param(0), b.param(0)));
  if (a.kind() == TypeKind::kMap)
    return Type::map(join(a.param(0), b.param(0)), join(a.param(1), b.param(1)));
  if (a.kind() == TypeKind::kType) return Type(TypeKind::kType);
  return a;
}

}  // namespace warden::expr
