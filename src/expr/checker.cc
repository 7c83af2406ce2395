// CEL type checker: infers a type for every node, resolves overloads against the builtin
// signatures, and reports errors with positions. dyn is accepted wherever a type is expected.
#include "expr/checker.h"

#include <map>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "expr/expr.h"
#include "expr/runtime.h"

namespace warden::expr {
namespace {

struct Overload {
  std::vector<Type> params;
  Type result;
};

Type sig_type(std::string_view t) {
  if (t == "A") return Type::type_param(0);
  if (t == "B") return Type::type_param(1);
  if (t.substr(0, 5) == "list(") return Type::list(sig_type(t.substr(5, t.size() - 6)));
  if (t.substr(0, 4) == "map(") {
    std::string_view in = t.substr(4, t.size() - 5);
    std::size_t comma = in.find(',');
    return Type::map(sig_type(in.substr(0, comma)), sig_type(in.substr(comma + 1)));
  }
  Result<Type> r = Type::parse(t);
  return r.ok() ? *r : Type();
}

std::vector<Overload> parse_sigs(std::string_view sigs) {
  std::vector<Overload> out;
  while (!sigs.empty()) {
    std::size_t bar = sigs.find('|');
    std::string_view sig = sigs.substr(0, bar);
    sigs = bar == std::string_view::npos ? std::string_view() : sigs.substr(bar + 1);
    std::size_t colon = sig.rfind(':');
    Overload o;
    std::string_view params = sig.substr(0, colon);
    while (!params.empty()) {
      std::size_t sp = params.find(' ');
      o.params.push_back(sig_type(params.substr(0, sp)));
      params = sp == std::string_view::npos ? std::string_view() : params.substr(sp + 1);
    }
    o.result = sig_type(sig.substr(colon + 1));
    out.push_back(std::move(o));
  }
  return out;
}

const std::vector<Overload>& overloads_of(const FnDef* f) {
  static std::mutex mu;
  static std::unordered_map<const FnDef*, std::vector<Overload>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(f);
  if (it == cache.end()) it = cache.emplace(f, parse_sigs(f->sigs)).first;
  return it->second;
}

using Bindings = std::map<int, Type>;

bool unify(const Type& sig, const Type& actual, Bindings& b) {
  if (actual.kind() == TypeKind::kError) return true;
  if (actual.kind() == TypeKind::kParam) return unify(sig, Type(), b);
  if (sig.kind() == TypeKind::kParam) {
    auto it = b.find(sig.param_id());
    if (it == b.end()) {
      b[sig.param_id()] = actual;
      return true;
    }
    if (it->second.is_dyn()) return true;
    if (actual.is_dyn()) return true;
    if (!assignable(it->second, actual) && !assignable(actual, it->second)) return false;
    it->second = join(it->second, actual);
    return true;
  }
  if (actual.is_dyn()) {
    if (sig.kind() == TypeKind::kList) return unify(sig.param(0), Type(), b);
    if (sig.kind() == TypeKind::kMap)
      return unify(sig.param(0), Type(), b) && unify(sig.param(1), Type(), b);
    return true;
  }
  if (sig.is_dyn()) return true;
  if (sig.kind() != actual.kind()) return false;
  for (std::size_t k = 0; k < sig.param_count(); ++k)
    if (!unify(sig.param(k), actual.param(k), b)) return false;
  return true;
}

Type substitute(const Type& t, const Bindings& b) {
  if (t.kind() == TypeKind::kParam) {
    auto it = b.find(t.param_id());
    return it == b.end() ? Type() : it->second;
  }
  if (t.kind() == TypeKind::kList) return Type::list(substitute(t.param(0), b));
  if (t.kind() == TypeKind::kMap)
    return Type::map(substitute(t.param(0), b), substitute(t.param(1), b));
  return t;
}

bool is_numeric(TypeKind k) {
  return k == TypeKind::kInt || k == TypeKind::kUint || k == TypeKind::kDouble;
}
bool loose(const Type& t) {
  return t.is_dyn() || t.kind() == TypeKind::kError || t.kind() == TypeKind::kParam;
}

Type type_name_type(std::string_view n) {
  static const std::pair<const char*, TypeKind> kNames[] = {
      {"int", TypeKind::kInt},
      {"uint", TypeKind::kUint},
      {"double", TypeKind::kDouble},
      {"bool", TypeKind::kBool},
      {"string", TypeKind::kString},
      {"bytes", TypeKind::kBytes},
      {"null_type", TypeKind::kNull},
      {"type", TypeKind::kType},
      {"google.protobuf.Timestamp", TypeKind::kTimestamp},
      {"google.protobuf.Duration", TypeKind::kDuration},
      {"net.IP", TypeKind::kIp},
      {"net.CIDR", TypeKind::kCidr}};
  for (const auto& [name, k] : kNames)
    if (n == name) return Type::type_of(Type(k));
  if (n == "list") return Type::type_of(Type::list(Type()));
  if (n == "map") return Type::type_of(Type::map(Type(), Type()));
  return Type(TypeKind::kError);
}

std::string qualified(const Expr& e) {
  if (e.k == Expr::K::kIdent) return e.text;
  if (e.k == Expr::K::kSelect && !e.test_only) {
    std::string base = qualified(*e.args[0]);
    if (!base.empty()) return base + "." + e.text;
  }
  return {};
}

class Checker {
 public:
  Checker(const Env& env, std::string_view src) : env_(env), src_(src) {}

  Type run(Expr& e) {
    e.type = visit(e);
    return e.type;
  }
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  Type error(const Expr& e, const std::string& msg) {
    errors_.push_back(position_text(src_, e.pos) + ": " + msg);
    return Type(TypeKind::kError);
  }

  const Type* local(std::string_view name) const {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it)
      if (it->first == name) return &it->second;
    return nullptr;
  }

  Type visit(Expr& e) {
    switch (e.k) {
      case Expr::K::kLit:
        switch (e.lit) {
          case LitKind::kNull:
            return Type(TypeKind::kNull);
          case LitKind::kBool:
            return Type(TypeKind::kBool);
          case LitKind::kInt:
            return Type(TypeKind::kInt);
          case LitKind::kUint:
            return Type(TypeKind::kUint);
          case LitKind::kDouble:
            return Type(TypeKind::kDouble);
          case LitKind::kString:
            return Type(TypeKind::kString);
          case LitKind::kBytes:
            return Type(TypeKind::kBytes);
        }
        return Type();
      case Expr::K::kIdent:
        return ident(e);
      case Expr::K::kSelect:
        return select(e);
      case Expr::K::kCall:
        return call(e);
      case Expr::K::kList: {
        Type elem(TypeKind::kError);
        bool first = true;
        for (auto& a : e.args) {
          Type t = run(*a);
          elem = first ? t : join(elem, t);
          first = false;
        }
        return Type::list(first ? Type::type_param(kFreeParam) : elem);
      }
      case Expr::K::kMap: {
        Type k(TypeKind::kError), v(TypeKind::kError);
        for (std::size_t i = 0; i + 1 < e.args.size(); i += 2) {
          Type kt = run(*e.args[i]);
          Type vt = run(*e.args[i + 1]);
          TypeKind kk = kt.kind();
          if (kk != TypeKind::kString && kk != TypeKind::kInt && kk != TypeKind::kUint &&
              kk != TypeKind::kBool && !loose(kt))
            error(*e.args[i], "unsupported map key type " + kt.to_string());
          k = i == 0 ? kt : join(k, kt);
          v = i == 0 ? vt : join(v, vt);
        }
        if (e.args.empty()) return Type::map(Type(), Type());
        return Type::map(k, v);
      }
      case Expr::K::kMacro:
        return macro(e);
    }
    return Type();
  }

  Type ident(const Expr& e) {
    if (const Type* t = local(e.text)) return *t;
    if (const Type* t = env_.find(e.text)) return *t;
    Type tn = type_name_type(e.text);
    if (tn.kind() != TypeKind::kError) return tn;
    return error(e, "undeclared reference to '" + e.text + "'");
  }

  Type select(Expr& e) {
    if (!e.test_only) {
      std::string q = qualified(e);
      if (!q.empty() && local(q.substr(0, q.find('.'))) == nullptr) {
        if (const Type* t = env_.find(q)) return *t;
        Type tn = type_name_type(q);
        if (tn.kind() != TypeKind::kError) return tn;
      }
    }
    Type op = run(*e.args[0]);
    Type field;
    if (op.kind() == TypeKind::kMap) {
      if (!loose(op.param(0)) && op.param(0).kind() != TypeKind::kString)
        return error(e, "type '" + op.to_string() + "' does not support field selection");
      field = op.param(1);
    } else if (!loose(op)) {
      return error(e, "type '" + op.to_string() + "' does not support field selection");
    }
    return e.test_only ? Type(TypeKind::kBool) : field;
  }

  std::string arg_list(const std::vector<Type>& ts) {
    std::string s = "(";
    for (std::size_t k = 0; k < ts.size(); ++k) s += (k ? ", " : "") + ts[k].to_string();
    return s + ")";
  }

  Type call(Expr& e) {
    const std::string& fn = e.text;
    if (e.has_target) {
      std::string q = qualified(*e.args[0]);
      if (!q.empty() && local(q.substr(0, q.find('.'))) == nullptr && env_.find(q) == nullptr &&
          function_name_exists(q + "." + fn)) {
        std::vector<Type> ts;
        for (std::size_t k = 1; k < e.args.size(); ++k) ts.push_back(run(*e.args[k]));
        return resolve(e, q + "." + fn, false, ts);
      }
    }
    std::vector<Type> ts;
    for (auto& a : e.args) ts.push_back(run(*a));
    if (fn == "_&&_" || fn == "_||_") {
      for (std::size_t k = 0; k < 2; ++k)
        if (!assignable(Type(TypeKind::kBool), ts[k]))
          return error(e, "found no matching overload for '" + fn + "' applied to " + arg_list(ts));
      return Type(TypeKind::kBool);
    }
    if (fn == "_?_:_") {
      if (!assignable(Type(TypeKind::kBool), ts[0]))
        return error(e, "found no matching overload for '_?_:_' applied to " + arg_list(ts));
      return join(ts[1], ts[2]);
    }
    if (fn == "_==_" || fn == "_!=_") {
      // cel-go's checker types equality as (A, A) -> bool: both sides must agree up to dyn, so
      // 1 == 1.0 is rejected and dyn(1) == 1.0 is not; at run time equality stays
      // heterogeneous across numeric kinds, as the spec wants for dyn values. Null compares
      // with anything here (cel-go only allows it with nullable types).
      TypeKind a = ts[0].kind(), b = ts[1].kind();
      bool comparable = assignable(ts[0], ts[1]) || a == TypeKind::kNull || b == TypeKind::kNull;
      if (!comparable)
        return error(e, "found no matching overload for '" + fn + "' applied to " + arg_list(ts));
      return Type(TypeKind::kBool);
    }
    if (fn == "@in") {
      // (A, list(A)) and (A, map(A, B)) as in cel-go: 2 in [1.0] wants dyn(2).
      TypeKind c = ts[1].kind();
      bool ok =
          loose(ts[1]) || ((c == TypeKind::kList || c == TypeKind::kMap) &&
                           (assignable(ts[1].param(0), ts[0]) || ts[0].kind() == TypeKind::kNull));
      if (!ok) return error(e, "found no matching overload for '@in' applied to " + arg_list(ts));
      return Type(TypeKind::kBool);
    }
    return resolve(e, fn, e.has_target, ts);
  }

  Type resolve(const Expr& e, const std::string& fn, bool receiver, const std::vector<Type>& ts) {
    const FnDef* f = find_function(fn, receiver, ts.size());
    if (f == nullptr) {
      if (!function_name_exists(fn)) return error(e, "undeclared reference to '" + fn + "'");
      return error(e, "found no matching overload for '" + fn + "' applied to " + arg_list(ts));
    }
    std::string_view sigs = f->sigs;
    bool all_loose = true;
    for (const Type& t : ts) all_loose = all_loose && loose(t);
    if (!sigs.empty() && sigs[0] == '*') return special(e, fn, sigs, ts);
    std::optional<Type> result;
    bool ambiguous = false;
    for (const Overload& o : overloads_of(f)) {
      if (o.params.size() != ts.size()) continue;
      Bindings b;
      bool ok = true;
      for (std::size_t k = 0; k < ts.size() && ok; ++k) ok = unify(o.params[k], ts[k], b);
      if (!ok) continue;
      Type r = substitute(o.result, b);
      if (!result)
        result = r;
      else if (*result != r)
        ambiguous = true;
    }
    if (!result)
      return error(e, "found no matching overload for '" + fn + "' applied to " + arg_list(ts));
    if (ambiguous || all_loose) {
      // With dyn arguments several overloads may apply; keep the result only if they agree.
      return ambiguous ? Type() : *result;
    }
    return *result;
  }

  Type special(const Expr& e, const std::string& fn, std::string_view sig,
               const std::vector<Type>& ts) {
    auto fail = [&] {
      return error(e, "found no matching overload for '" + fn + "' applied to " + arg_list(ts));
    };
    if (sig == "*rel") {
      const Type& a = ts[0];
      const Type& b = ts[1];
      if (loose(a) || loose(b)) return Type(TypeKind::kBool);
      if (is_numeric(a.kind()) && is_numeric(b.kind())) return Type(TypeKind::kBool);
      TypeKind k = a.kind();
      if (k == b.kind() &&
          (k == TypeKind::kString || k == TypeKind::kBytes || k == TypeKind::kBool ||
           k == TypeKind::kTimestamp || k == TypeKind::kDuration))
        return Type(TypeKind::kBool);
      return fail();
    }
    if (sig == "*ts" || sig == "*tsd") {
      TypeKind r = ts[0].kind();
      bool ok = loose(ts[0]) || r == TypeKind::kTimestamp ||
                (sig == "*tsd" && r == TypeKind::kDuration && ts.size() == 1);
      if (ts.size() > 2 || !ok) return fail();
      if (ts.size() == 2 && !assignable(Type(TypeKind::kString), ts[1])) return fail();
      return Type(TypeKind::kInt);
    }
    if (sig == "*minmax") {
      if (ts.size() == 1 && ts[0].kind() == TypeKind::kList) {
        const Type& el = ts[0].param(0);
        if (!loose(el) && !is_numeric(el.kind())) return fail();
        return el;
      }
      Type r = ts[0];
      for (const Type& t : ts) {
        if (!loose(t) && !is_numeric(t.kind())) return fail();
        r = join(r, t);
      }
      return r;
    }
    return Type();
  }

  Type macro(Expr& e) {
    if (e.macro == MacroKind::kBind) {
      Type init = run(*e.args[0]);
      scopes_.emplace_back(e.var1, init);
      Type body = run(*e.args[1]);
      scopes_.pop_back();
      return body;
    }
    if (e.macro == MacroKind::kBlock) {
      Expr& list = *e.args[0];
      std::vector<Type> elems;
      for (std::size_t k = 0; k < list.args.size(); ++k) {
        Type t = run(*list.args[k]);
        scopes_.emplace_back("@index:" + std::to_string(k), t);
      }
      list.type = Type::list(Type());
      Type r = run(*e.args[1]);
      scopes_.resize(scopes_.size() - list.args.size());
      return r;
    }
    Type range = run(*e.args[0]);
    bool two = !e.var2.empty();
    Type v1, v2;
    if (range.kind() == TypeKind::kList) {
      v1 = two ? Type(TypeKind::kInt) : range.param(0);
      v2 = range.param(0);
    } else if (range.kind() == TypeKind::kMap) {
      v1 = range.param(0);
      v2 = range.param(1);
    } else if (!loose(range)) {
      return error(*e.args[0], "expression of type '" + range.to_string() +
                                   "' cannot be range of a comprehension");
    }
    scopes_.emplace_back(e.var1, v1);
    if (two) scopes_.emplace_back(e.var2, v2);
    std::vector<Type> rest;
    for (std::size_t k = 1; k < e.args.size(); ++k) rest.push_back(run(*e.args[k]));
    scopes_.resize(scopes_.size() - (two ? 2 : 1));
    auto need_bool = [&](std::size_t k) {
      if (!assignable(Type(TypeKind::kBool), rest[k]))
        error(*e.args[k + 1], "expected type 'bool' but found '" + rest[k].to_string() + "'");
    };
    switch (e.macro) {
      case MacroKind::kAll:
      case MacroKind::kExists:
      case MacroKind::kExistsOne:
        need_bool(0);
        return Type(TypeKind::kBool);
      case MacroKind::kFilter:
        need_bool(0);
        return range.kind() == TypeKind::kList  ? Type::list(range.param(0))
               : range.kind() == TypeKind::kMap ? Type::list(range.param(0))
                                                : Type::list(Type());
      case MacroKind::kMap:
      case MacroKind::kTransformList:
        if (rest.size() == 2) need_bool(0);
        return Type::list(rest.back());
      case MacroKind::kTransformMap:
        if (rest.size() == 2) need_bool(0);
        return Type::map(v1, rest.back());
      default:
        return Type();
    }
  }

  const Env& env_;
  std::string_view src_;
  std::vector<std::pair<std::string, Type>> scopes_;
  std::vector<std::string> errors_;
};

}  // namespace

Status check(Expr& root, const Env& env, std::string_view source) {
  Checker c(env, source);
  c.run(root);
  if (c.errors().empty()) return Status();
  std::string msg;
  for (const auto& e : c.errors()) msg += (msg.empty() ? "" : "\n") + e;
  return Status(ErrorCode::VALIDATION_FAILED, msg);
}

}  // namespace warden::expr
