// Compiles a checked CEL AST into a tree of pre-resolved evaluation nodes (variables as slots,
// functions as pointers, constants folded) and evaluates it; also Env and Activation.
#include <re2/re2.h>

#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "expr/checker.h"
#include "expr/expr.h"
#include "expr/runtime.h"

namespace warden::expr {

// ---------------- nodes ----------------

class Node {
 public:
  virtual ~Node() = default;
  virtual Value eval(Ctx& ctx) const = 0;
  virtual bool is_const() const { return false; }
};

namespace {

class ConstNode final : public Node {
 public:
  explicit ConstNode(Value v) : v_(v) {}
  Value eval(Ctx&) const override { return v_; }
  bool is_const() const override { return true; }
  Value v_;
};

class LocalNode final : public Node {
 public:
  explicit LocalNode(std::uint32_t slot) : slot_(slot) {}
  Value eval(Ctx& ctx) const override { return ctx.slots[slot_]; }
  std::uint32_t slot_;
};

// A child operand read inline when it is a slot or a constant, through the node otherwise;
// saves a virtual call on the hottest paths (variables and literals).
// The most common comparison nodes are also dispatched by tag so their code inlines here.
struct Operand {
  enum class K : std::uint8_t { kNode, kSlot, kConst, kRelConst, kStrConst, kEqConst };
  K k = K::kNode;
  std::uint32_t slot = 0;
  const Node* node = nullptr;
  Value v;
  Operand(const Node* n);  // NOLINT(implicit); defined after the node classes
  Value get(Ctx& ctx) const;
  bool is_const() const { return k == K::kConst; }
};

class ErrorNode final : public Node {
 public:
  explicit ErrorNode(std::string msg) : msg_(std::move(msg)) {}
  Value eval(Ctx&) const override { return Value::error(msg_); }
  std::string msg_;
};

// a && b && c (or ||), flattened: the first decisive operand wins; otherwise the first error.
template <bool kIsAnd>
class LogicNode final : public Node {
 public:
  explicit LogicNode(std::vector<Operand> ops) : ops_(std::move(ops)) {}
  Value eval(Ctx& ctx) const override {
    Value pending;
    bool have_pending = false;
    for (const Operand& op : ops_) {
      Value v = op.get(ctx);
      if (v.kind == Kind::kBool) {
        if (v.b != kIsAnd) return v;
      } else if (!have_pending) {
        pending = v.is_error() ? v : no_overload(kIsAnd ? "_&&_" : "_||_");
        have_pending = true;
      }
    }
    if (have_pending) return pending;
    return Value::boolean(kIsAnd);
  }
  std::vector<Operand> ops_;
};

// x < CONST and friends: int/int and double/double inline, everything else generic.
class RelConstNode final : public Node {
 public:
  RelConstNode(Fn fn, int op, const Node* x, Value k, bool const_left)
      : fn_(fn), op_(op), x_(x), k_(k), const_left_(const_left) {}
  Value eval(Ctx& ctx) const override {
    Value x = x_.get(ctx);
    if (x.kind == k_.kind && (x.kind == Kind::kInt || x.kind == Kind::kDouble)) {
      int c;
      if (x.kind == Kind::kInt) {
        c = x.i < k_.i ? -1 : (x.i > k_.i ? 1 : 0);
      } else {
        if (x.d != x.d || k_.d != k_.d) return Value::boolean(false);
        c = x.d < k_.d ? -1 : (x.d > k_.d ? 1 : 0);
      }
      if (const_left_) c = -c;
      return relation_result(op_, c);
    }
    if (x.is_error()) return x;
    Value args[2] = {const_left_ ? k_ : x, const_left_ ? x : k_};
    return fn_(ctx, args, 2);
  }
  Fn fn_;
  int op_;
  Operand x_;
  Value k_;
  bool const_left_;
};

class CondNode final : public Node {
 public:
  CondNode(const Node* c, const Node* t, const Node* f) : c_(c), t_(t), f_(f) {}
  Value eval(Ctx& ctx) const override {
    Value c = c_.get(ctx);
    if (c.kind != Kind::kBool) return c.is_error() ? c : no_overload("_?_:_");
    return c.b ? t_.get(ctx) : f_.get(ctx);
  }
  Operand c_;
  Operand t_;
  Operand f_;
};

constexpr std::uint8_t kAnyKind = 0xFF;

// Byte equality that stays inline for the short strings policies compare.
inline bool bytes_eq(const char* a, const char* b, std::size_t n) {
  if (n > 16) return std::memcmp(a, b, n) == 0;
  for (std::size_t k = 0; k < n; ++k)
    if (a[k] != b[k]) return false;
  return true;
}

inline bool kinds_ok(const std::uint8_t* kinds, const Value* args, std::size_t n) {
  for (std::size_t k = 0; k < n; ++k)
    if (kinds[k] != kAnyKind && static_cast<std::uint8_t>(args[k].kind) != kinds[k]) return false;
  return true;
}

class Call1Node final : public Node {
 public:
  Call1Node(Fn fn, const Node* a, std::uint8_t k0) : fn_(fn), a_(a), k0_(k0) {}
  Value eval(Ctx& ctx) const override {
    Value v = a_.get(ctx);
    if (v.is_error()) return v;
    if (k0_ != kAnyKind && static_cast<std::uint8_t>(v.kind) != k0_) return no_overload("");
    return fn_(ctx, &v, 1);
  }
  Fn fn_;
  Operand a_;
  std::uint8_t k0_;
};

class Call2Node final : public Node {
 public:
  Call2Node(Fn fn, const Node* a, const Node* b, std::uint8_t k0, std::uint8_t k1)
      : fn_(fn), a_(a), b_(b), k0_(k0), k1_(k1) {}
  Value eval(Ctx& ctx) const override {
    Value v[2];
    v[0] = a_.get(ctx);
    if (v[0].is_error()) return v[0];
    v[1] = b_.get(ctx);
    if (v[1].is_error()) return v[1];
    if ((k0_ != kAnyKind && static_cast<std::uint8_t>(v[0].kind) != k0_) ||
        (k1_ != kAnyKind && static_cast<std::uint8_t>(v[1].kind) != k1_))
      return no_overload("");
    return fn_(ctx, v, 2);
  }
  Fn fn_;
  Operand a_;
  Operand b_;
  std::uint8_t k0_, k1_;
};

// f(x, CONST) for any strict builtin: one virtual call fewer.
class Call2ConstNode final : public Node {
 public:
  Call2ConstNode(Fn fn, const Node* a, Value b, std::uint8_t k0, std::uint8_t k1)
      : fn_(fn), a_(a), k0_(k0) {
    v_[1] = b;
    ok1_ = k1 == kAnyKind || static_cast<std::uint8_t>(b.kind) == k1;
  }
  Value eval(Ctx& ctx) const override {
    Value v[2];
    v[0] = a_.get(ctx);
    if (v[0].is_error()) return v[0];
    if (!ok1_ || (k0_ != kAnyKind && static_cast<std::uint8_t>(v[0].kind) != k0_))
      return no_overload("");
    v[1] = v_[1];
    return fn_(ctx, v, 2);
  }
  Fn fn_;
  Operand a_;
  Value v_[2];
  std::uint8_t k0_;
  bool ok1_;
};

// s.startsWith("lit") / endsWith / contains: inline, no call through the registry.
class StrConstNode final : public Node {
 public:
  enum Op { kStarts, kEnds, kContains };
  StrConstNode(Op op, const Node* a, Value lit) : op_(op), a_(a), lit_(lit.sv()) {}
  Value eval(Ctx& ctx) const override { return apply(a_.get(ctx)); }
  Value apply(const Value& s) const {
    if (s.kind != Kind::kString) return s.is_error() ? s : no_overload("");
    std::string_view v = s.sv();
    switch (op_) {
      case kStarts:
        return Value::boolean(v.size() >= lit_.size() &&
                              bytes_eq(v.data(), lit_.data(), lit_.size()));
      case kEnds:
        return Value::boolean(v.size() >= lit_.size() && bytes_eq(v.data() + v.size() - lit_.size(),
                                                                  lit_.data(), lit_.size()));
      default:
        return Value::boolean(v.find(lit_) != std::string_view::npos);
    }
  }
  Op op_;
  Operand a_;
  std::string_view lit_;
};

// s.matches("literal"): the pattern is compiled once, with the program.
class MatchesConstNode final : public Node {
 public:
  MatchesConstNode(const Node* a, std::unique_ptr<RE2> re) : a_(a), re_(std::move(re)) {}
  Value eval(Ctx& ctx) const override {
    Value s = a_.get(ctx);
    if (s.kind != Kind::kString) return s.is_error() ? s : no_overload("matches");
    return Value::boolean(RE2::PartialMatch(re2::StringPiece(s.s, s.aux), *re_));
  }
  Operand a_;
  std::unique_ptr<RE2> re_;
};

class CallNNode final : public Node {
 public:
  CallNNode(Fn fn, std::vector<const Node*> args, std::vector<std::uint8_t> kinds)
      : fn_(fn), args_(std::move(args)), kinds_(std::move(kinds)) {}
  Value eval(Ctx& ctx) const override {
    Value stack[8];
    std::vector<Value> heap;
    Value* v = stack;
    if (args_.size() > 8) {
      heap.resize(args_.size());
      v = heap.data();
    }
    for (std::size_t k = 0; k < args_.size(); ++k) {
      v[k] = args_[k]->eval(ctx);
      if (v[k].is_error()) return v[k];
    }
    if (!kinds_ok(kinds_.data(), v, std::min(args_.size(), kinds_.size()))) return no_overload("");
    return fn_(ctx, v, args_.size());
  }
  Fn fn_;
  std::vector<const Node*> args_;
  std::vector<std::uint8_t> kinds_;
};

// x in [constant list]: a hash lookup for strings and ints, the generic scan otherwise.
class InConstNode final : public Node {
 public:
  InConstNode(const Node* x, Value list) : x_(x), list_(list) {
    for (std::uint32_t k = 0; k < list.list->size; ++k) {
      const Value& e = list.list->items[k];
      if (e.kind == Kind::kString)
        strings_.insert(e.sv());
      else if (e.kind == Kind::kInt)
        ints_.insert(e.i);
      else
        mixed_ = true;
    }
  }
  Value eval(Ctx& ctx) const override {
    Value x = x_.get(ctx);
    if (x.is_error()) return x;
    if (!mixed_) {
      if (x.kind == Kind::kString) return Value::boolean(strings_.count(x.sv()) > 0);
      if (x.kind == Kind::kInt) return Value::boolean(ints_.count(x.i) > 0);
    }
    for (std::uint32_t k = 0; k < list_.list->size; ++k)
      if (values_equal(x, list_.list->items[k]) == 1) return Value::boolean(true);
    return Value::boolean(false);
  }
  Operand x_;
  Value list_;
  std::unordered_set<std::string_view> strings_;
  std::unordered_set<std::int64_t> ints_;
  bool mixed_ = false;
};

class EqNode final : public Node {
 public:
  EqNode(const Node* a, const Node* b, bool negate) : a_(a), b_(b), negate_(negate) {}
  Value eval(Ctx& ctx) const override {
    Value x = a_.get(ctx);
    if (x.is_error()) return x;
    Value y = b_.get(ctx);
    if (y.is_error()) return y;
    int e = values_equal(x, y);
    if (e < 0) return Value::error("error in equality");
    return Value::boolean((e == 1) != negate_);
  }
  Operand a_;
  Operand b_;
  bool negate_;
};

// x == "literal" / x == 42: the common policy comparison, without the generic dispatch.
class EqConstNode final : public Node {
 public:
  EqConstNode(const Node* a, Value k, bool negate) : a_(a), k_(k), negate_(negate) {}
  Value eval(Ctx& ctx) const override { return apply(a_.get(ctx)); }
  Value apply(const Value& x) const {
    if (x.kind == k_.kind) {
      bool eq =
          k_.kind == Kind::kString ? x.aux == k_.aux && bytes_eq(x.s, k_.s, k_.aux) : x.i == k_.i;
      return Value::boolean(eq != negate_);
    }
    if (x.is_error()) return x;
    return Value::boolean((values_equal(x, k_) == 1) != negate_);
  }
  Operand a_;
  Value k_;
  bool negate_;
};

Operand::Operand(const Node* n) : node(n) {
  if (auto* c = dynamic_cast<const ConstNode*>(n)) {
    k = K::kConst;
    v = c->v_;
  } else if (auto* l = dynamic_cast<const LocalNode*>(n)) {
    k = K::kSlot;
    slot = l->slot_;
  } else if (dynamic_cast<const RelConstNode*>(n) != nullptr) {
    k = K::kRelConst;
  } else if (dynamic_cast<const StrConstNode*>(n) != nullptr) {
    k = K::kStrConst;
  } else if (dynamic_cast<const EqConstNode*>(n) != nullptr) {
    k = K::kEqConst;
  }
}

inline Value Operand::get(Ctx& ctx) const {
  switch (k) {
    case K::kSlot:
      return ctx.slots[slot];
    case K::kConst:
      return v;
    case K::kRelConst:
      return static_cast<const RelConstNode*>(node)->RelConstNode::eval(ctx);
    case K::kStrConst:
      return static_cast<const StrConstNode*>(node)->StrConstNode::eval(ctx);
    case K::kEqConst:
      return static_cast<const EqConstNode*>(node)->EqConstNode::eval(ctx);
    default:
      return node->eval(ctx);
  }
}

class ListNode final : public Node {
 public:
  explicit ListNode(std::vector<const Node*> items) : items_(std::move(items)) {}
  Value eval(Ctx& ctx) const override {
    Value* out = ctx.arena->alloc_array<Value>(items_.size());
    for (std::size_t k = 0; k < items_.size(); ++k) {
      out[k] = items_[k]->eval(ctx);
      if (out[k].is_error()) return out[k];
    }
    if (!ctx.charge(items_.size() / 2 + 1)) return Value::error(kCostExceeded);
    auto* rep = static_cast<ListRep*>(ctx.arena->alloc(sizeof(ListRep), alignof(ListRep)));
    rep->size = static_cast<std::uint32_t>(items_.size());
    rep->items = out;
    Value v;
    v.kind = Kind::kList;
    v.list = rep;
    return v;
  }
  std::vector<const Node*> items_;
};

bool valid_key(const Value& k) {
  return k.kind == Kind::kString || k.kind == Kind::kInt || k.kind == Kind::kUint ||
         k.kind == Kind::kBool;
}

class MapNode final : public Node {
 public:
  explicit MapNode(std::vector<const Node*> kv) : kv_(std::move(kv)) {}
  Value eval(Ctx& ctx) const override {
    std::size_t n = kv_.size() / 2;
    Value* keys = ctx.arena->alloc_array<Value>(n);
    Value* vals = ctx.arena->alloc_array<Value>(n);
    auto* rep = static_cast<MapRep*>(ctx.arena->alloc(sizeof(MapRep), alignof(MapRep)));
    rep->keys = keys;
    rep->values = vals;
    rep->size = 0;
    for (std::size_t k = 0; k < n; ++k) {
      Value key = kv_[2 * k]->eval(ctx);
      if (key.is_error()) return key;
      Value val = kv_[2 * k + 1]->eval(ctx);
      if (val.is_error()) return val;
      if (!valid_key(key)) return Value::error("unsupported key type");
      if (map_find(*rep, key) != nullptr) return Value::error("Failed with repeated key");
      keys[k] = key;
      vals[k] = val;
      rep->size = static_cast<std::uint32_t>(k + 1);
    }
    if (!ctx.charge(n + 1)) return Value::error(kCostExceeded);
    Value v;
    v.kind = Kind::kMap;
    v.map = rep;
    return v;
  }
  std::vector<const Node*> kv_;
};

class SelectNode final : public Node {
 public:
  SelectNode(const Node* operand, std::string field, bool test_only)
      : operand_(operand), field_(std::move(field)), test_only_(test_only) {}
  Value eval(Ctx& ctx) const override {
    Value o = operand_.get(ctx);
    if (o.is_error()) return o;
    if (o.kind != Kind::kMap) return Value::error("no such field: type has no fields");
    const Value* v = map_find(*o.map, Value::str(field_));
    if (test_only_) return Value::boolean(v != nullptr);
    if (v == nullptr) return err(ctx, "no such key: " + field_);
    return *v;
  }
  Operand operand_;
  std::string field_;
  bool test_only_;
};

class BindNode final : public Node {
 public:
  BindNode(std::uint32_t slot, const Node* init, const Node* body)
      : slot_(slot), init_(init), body_(body) {}
  Value eval(Ctx& ctx) const override {
    ctx.slots[slot_] = init_->eval(ctx);
    return body_->eval(ctx);
  }
  std::uint32_t slot_;
  const Node* init_;
  const Node* body_;
};

class BlockNode final : public Node {
 public:
  BlockNode(std::vector<std::uint32_t> slots, std::vector<const Node*> inits, const Node* result)
      : slots_(std::move(slots)), inits_(std::move(inits)), result_(result) {}
  Value eval(Ctx& ctx) const override {
    for (std::size_t k = 0; k < inits_.size(); ++k) ctx.slots[slots_[k]] = inits_[k]->eval(ctx);
    return result_->eval(ctx);
  }
  std::vector<std::uint32_t> slots_;
  std::vector<const Node*> inits_;
  const Node* result_;
};

class ComprehensionNode final : public Node {
 public:
  MacroKind kind;
  const Node* range;
  std::uint32_t slot1, slot2;  // slot2 only for two-variable forms
  bool two_vars;
  const Node* filter;  // may be null
  const Node* step;    // predicate or transform
  // Set when the predicate is `v == CONST` / `v.startsWith(CONST)`... on the iteration
  // variable itself: the loop then tests items directly, without a virtual call each.
  const EqConstNode* eq_pred = nullptr;
  const StrConstNode* str_pred = nullptr;

  void find_fast_predicate() {
    if (two_vars) return;
    auto on_var = [&](const Operand& o) { return o.k == Operand::K::kSlot && o.slot == slot1; };
    if (auto* e = dynamic_cast<const EqConstNode*>(step); e && on_var(e->a_)) eq_pred = e;
    if (auto* t = dynamic_cast<const StrConstNode*>(step); t && on_var(t->a_)) str_pred = t;
  }

  Value eval(Ctx& ctx) const override {
    Value r = range->eval(ctx);
    if (r.is_error()) return r;
    std::uint32_t n;
    if (r.kind == Kind::kList)
      n = r.list->size;
    else if (r.kind == Kind::kMap)
      n = r.map->size;
    else
      return no_overload("comprehension");
    if (!ctx.charge(n)) return Value::error(kCostExceeded);
    switch (kind) {
      case MacroKind::kAll:
        return quantify(ctx, r, n, false);
      case MacroKind::kExists:
        return quantify(ctx, r, n, true);
      case MacroKind::kExistsOne:
        return exists_one(ctx, r, n);
      default:
        return build(ctx, r, n);
    }
  }

 private:
  void bind(Ctx& ctx, const Value& r, std::uint32_t k) const {
    if (r.kind == Kind::kList) {
      if (two_vars) {
        ctx.slots[slot1] = Value::integer(k);
        ctx.slots[slot2] = r.list->items[k];
      } else {
        ctx.slots[slot1] = r.list->items[k];
      }
    } else {
      ctx.slots[slot1] = r.map->keys[k];
      if (two_vars) ctx.slots[slot2] = r.map->values[k];
    }
  }

  // all() / exists(): a decisive element wins over errors seen elsewhere (commutative).
  // scan() takes the predicate (of the element index) as a template parameter so the common
  // ones inline. The first error is kept and returned only if no element decides the result.
  template <class Pred>
  static Value scan(std::uint32_t n, bool want, Pred pred) {
    Value pending;
    bool have_error = false;
    for (std::uint32_t k = 0; k < n; ++k) {
      Value p = pred(k);
      if (p.kind == Kind::kBool) {
        if (p.b == want) return p;
      } else if (!have_error) {
        pending = p.is_error() ? p : no_overload("predicate");
        have_error = true;
      }
    }
    if (have_error) return pending;
    return Value::boolean(!want);
  }

  Value quantify(Ctx& ctx, const Value& r, std::uint32_t n, bool want) const {
    if (r.kind == Kind::kList && !two_vars) {
      const Value* items = r.list->items;
      if (eq_pred != nullptr) {
        return scan(n, want, [&](std::uint32_t k) { return eq_pred->apply(items[k]); });
      }
      if (str_pred != nullptr) {
        return scan(n, want, [&](std::uint32_t k) { return str_pred->apply(items[k]); });
      }
      return scan(n, want, [&](std::uint32_t k) {
        ctx.slots[slot1] = items[k];
        return step->eval(ctx);
      });
    }
    return scan(n, want, [&](std::uint32_t k) {
      bind(ctx, r, k);
      return step->eval(ctx);
    });
  }

  Value exists_one(Ctx& ctx, const Value& r, std::uint32_t n) const {
    std::int64_t count = 0;
    for (std::uint32_t k = 0; k < n; ++k) {
      bind(ctx, r, k);
      Value p = step->eval(ctx);
      if (p.kind != Kind::kBool) return p.is_error() ? p : no_overload("predicate");
      count += p.b;
    }
    return Value::boolean(count == 1);
  }

  template <class Pred>
  static Value filter_list(Ctx& ctx, const Value* items, std::uint32_t n, Pred pred) {
    Value* vals = ctx.arena->alloc_array<Value>(n);
    std::uint32_t out = 0;
    for (std::uint32_t k = 0; k < n; ++k) {
      Value t = pred(items[k]);
      if (t.kind != Kind::kBool) return t.is_error() ? t : no_overload("filter");
      if (t.b) vals[out++] = items[k];
    }
    auto* rep = static_cast<ListRep*>(ctx.arena->alloc(sizeof(ListRep), alignof(ListRep)));
    *rep = ListRep{out, vals};
    Value v;
    v.kind = Kind::kList;
    v.list = rep;
    return v;
  }

  Value build(Ctx& ctx, const Value& r, std::uint32_t n) const {
    if (kind == MacroKind::kFilter && r.kind == Kind::kList && !two_vars) {
      const Value* items = r.list->items;
      if (eq_pred != nullptr)
        return filter_list(ctx, items, n, [this](const Value& v) { return eq_pred->apply(v); });
      if (str_pred != nullptr)
        return filter_list(ctx, items, n, [this](const Value& v) { return str_pred->apply(v); });
      return filter_list(ctx, items, n, [&](const Value& v) {
        ctx.slots[slot1] = v;
        return step->eval(ctx);
      });
    }
    // Results go straight into the arena: at most n of them.
    Value* vals = ctx.arena->alloc_array<Value>(n);
    Value* keys = kind == MacroKind::kTransformMap ? ctx.arena->alloc_array<Value>(n) : nullptr;
    std::uint32_t out = 0;
    bool simple_list = r.kind == Kind::kList && !two_vars;
    for (std::uint32_t k = 0; k < n; ++k) {
      if (simple_list)
        ctx.slots[slot1] = r.list->items[k];
      else
        bind(ctx, r, k);
      if (filter != nullptr) {
        Value f = filter->eval(ctx);
        if (f.kind != Kind::kBool) return f.is_error() ? f : no_overload("filter");
        if (!f.b) continue;
      }
      Value t = step->eval(ctx);
      if (kind == MacroKind::kFilter) {
        if (t.kind != Kind::kBool) return t.is_error() ? t : no_overload("filter");
        if (t.b) vals[out++] = ctx.slots[slot1];
        continue;
      }
      if (t.is_error()) return t;
      if (keys != nullptr) keys[out] = ctx.slots[slot1];
      vals[out++] = t;
    }
    if (kind == MacroKind::kTransformMap) {
      auto* rep = static_cast<MapRep*>(ctx.arena->alloc(sizeof(MapRep), alignof(MapRep)));
      *rep = MapRep{out, keys, vals};
      Value v;
      v.kind = Kind::kMap;
      v.map = rep;
      return v;
    }
    auto* rep = static_cast<ListRep*>(ctx.arena->alloc(sizeof(ListRep), alignof(ListRep)));
    *rep = ListRep{out, vals};
    Value v;
    v.kind = Kind::kList;
    v.list = rep;
    return v;
  }
};

std::uint8_t kind_of_type_text(std::string_view t) {
  static const std::pair<std::string_view, Kind> kMap[] = {
      {"int", Kind::kInt},
      {"uint", Kind::kUint},
      {"double", Kind::kDouble},
      {"string", Kind::kString},
      {"bytes", Kind::kBytes},
      {"bool", Kind::kBool},
      {"google.protobuf.Timestamp", Kind::kTimestamp},
      {"google.protobuf.Duration", Kind::kDuration},
      {"net.IP", Kind::kIp},
      {"net.CIDR", Kind::kCidr}};
  for (const auto& [name, k] : kMap)
    if (t == name) return static_cast<std::uint8_t>(k);
  if (t.substr(0, 5) == "list(") return static_cast<std::uint8_t>(Kind::kList);
  if (t.substr(0, 4) == "map(") return static_cast<std::uint8_t>(Kind::kMap);
  return kAnyKind;
}

// Per-argument kinds that every overload of `f` agrees on (kAnyKind where they differ).
std::vector<std::uint8_t> arg_kinds(const FnDef& f, std::size_t n) {
  std::vector<std::uint8_t> kinds(n, kAnyKind);
  std::string_view sigs = f.sigs;
  if (sigs.empty() || sigs[0] == '*') return kinds;
  bool first = true;
  while (!sigs.empty()) {
    std::size_t bar = sigs.find('|');
    std::string_view sig = sigs.substr(0, bar);
    sigs = bar == std::string_view::npos ? std::string_view() : sigs.substr(bar + 1);
    std::string_view params = sig.substr(0, sig.rfind(':'));
    std::vector<std::uint8_t> these;
    while (!params.empty()) {
      std::size_t sp = params.find(' ');
      these.push_back(kind_of_type_text(params.substr(0, sp)));
      params = sp == std::string_view::npos ? std::string_view() : params.substr(sp + 1);
    }
    for (std::size_t k = 0; k < n; ++k) {
      std::uint8_t t = k < these.size() ? these[k] : kAnyKind;
      if (first)
        kinds[k] = t;
      else if (kinds[k] != t)
        kinds[k] = kAnyKind;
    }
    first = false;
  }
  return kinds;
}

bool is_type_name(std::string_view n) {
  static const char* const kNames[] = {"int",
                                       "uint",
                                       "double",
                                       "bool",
                                       "string",
                                       "bytes",
                                       "list",
                                       "map",
                                       "null_type",
                                       "type",
                                       "google.protobuf.Timestamp",
                                       "google.protobuf.Duration",
                                       "net.IP",
                                       "net.CIDR"};
  for (const char* k : kNames)
    if (n == k) return true;
  return false;
}

// Dotted name of an ident/select chain ("a.b.c"), or empty when it is not one.
std::string qualified_name(const Expr& e) {
  if (e.k == Expr::K::kIdent) return e.text;
  if (e.k == Expr::K::kSelect && !e.test_only) {
    std::string base = qualified_name(*e.args[0]);
    if (!base.empty()) return base + "." + e.text;
  }
  return {};
}

}  // namespace

// ---------------- program ----------------

struct ProgramImpl {
  std::vector<std::unique_ptr<Node>> nodes;
  const Node* root = nullptr;
  std::vector<std::string> var_names;
  std::vector<Type> var_types;
  std::uint32_t slot_count = 0;
  Arena constants;
  Limits limits;
  Type result_type;
};

namespace {

class Compiler {
 public:
  Compiler(ProgramImpl& p, const Env& env, bool checked) : p_(p), env_(env), checked_(checked) {
    for (const auto& [name, type] : env.variables()) {
      p_.var_names.push_back(name);
      p_.var_types.push_back(type);
    }
    p_.slot_count = static_cast<std::uint32_t>(p_.var_names.size());
  }

  const Node* compile(const Expr& e) {
    switch (e.k) {
      case Expr::K::kLit:
        return add<ConstNode>(literal(e));
      case Expr::K::kIdent:
        return ident(e.text);
      case Expr::K::kSelect:
        return select(e);
      case Expr::K::kCall:
        return call(e);
      case Expr::K::kList: {
        std::vector<const Node*> items;
        for (const auto& a : e.args) items.push_back(compile(*a));
        return fold(add<ListNode>(std::move(items)));
      }
      case Expr::K::kMap: {
        std::vector<const Node*> kv;
        for (const auto& a : e.args) kv.push_back(compile(*a));
        return fold(add<MapNode>(std::move(kv)));
      }
      case Expr::K::kMacro:
        return macro(e);
    }
    return add<ErrorNode>("unsupported expression");
  }

 private:
  template <class T, class... A>
  const Node* add(A&&... args) {
    p_.nodes.push_back(std::make_unique<T>(std::forward<A>(args)...));
    return p_.nodes.back().get();
  }

  bool all_const(const std::vector<const Node*>& ns) {
    for (const Node* n : ns)
      if (!n->is_const()) return false;
    return true;
  }

  // Evaluates a node whose inputs are all constants once, at compile time.
  const Node* fold(const Node* n) {
    bool foldable = false;
    if (auto* l = dynamic_cast<const ListNode*>(n))
      foldable = all_const(l->items_);
    else if (auto* m = dynamic_cast<const MapNode*>(n))
      foldable = all_const(m->kv_);
    else if (auto* c1 = dynamic_cast<const Call1Node*>(n))
      foldable = c1->a_.is_const();
    else if (auto* c2 = dynamic_cast<const Call2Node*>(n))
      foldable = c2->a_.is_const() && c2->b_.is_const();
    else if (auto* cn = dynamic_cast<const CallNNode*>(n))
      foldable = all_const(cn->args_);
    if (!foldable) return n;
    Ctx ctx{&p_.constants, nullptr, 0, p_.limits.cost_max, p_.limits.alloc_bytes_max};
    Value v = n->eval(ctx);
    if (v.is_error()) return n;  // keep the error for run time, where it belongs
    return add<ConstNode>(v);
  }

  Value literal(const Expr& e) {
    switch (e.lit) {
      case LitKind::kNull:
        return Value::null();
      case LitKind::kBool:
        return Value::boolean(e.b);
      case LitKind::kInt:
        return Value::integer(e.i);
      case LitKind::kUint:
        return Value::uinteger(e.u);
      case LitKind::kDouble:
        return Value::dbl(e.d);
      case LitKind::kString:
        return make_string(p_.constants, e.text);
      case LitKind::kBytes:
        return make_bytes(p_.constants, e.text);
    }
    return Value::null();
  }

  const std::uint32_t* find_local(std::string_view name) const {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it)
      if (it->first == name) return &it->second;
    return nullptr;
  }

  const Node* var_node(std::string_view name) {
    for (std::size_t k = 0; k < p_.var_names.size(); ++k)
      if (p_.var_names[k] == name) return add<LocalNode>(static_cast<std::uint32_t>(k));
    return nullptr;
  }

  const Node* ident(const std::string& name) {
    if (const std::uint32_t* slot = find_local(name)) return add<LocalNode>(*slot);
    if (const Node* v = var_node(name)) return v;
    if (is_type_name(name)) return add<ConstNode>(Value::type(intern(name)));
    return add<ErrorNode>("undeclared reference to '" + name + "'");
  }

  std::string_view intern(const std::string& s) {
    Value v = make_string(p_.constants, s);
    return v.sv();
  }

  const Node* select(const Expr& e) {
    if (!e.test_only) {
      std::string q = qualified_name(e);
      if (!q.empty()) {
        std::string root = q.substr(0, q.find('.'));
        if (find_local(root) == nullptr) {
          if (const Node* v = var_node(q)) return v;
          if (is_type_name(q)) return add<ConstNode>(Value::type(intern(q)));
        }
      }
    }
    return add<SelectNode>(compile(*e.args[0]), e.text, e.test_only);
  }

  const Node* call(const Expr& e) {
    const std::string& fn = e.text;
    std::size_t n = e.args.size();
    if (fn == "_&&_" || fn == "_||_") {
      std::vector<Operand> ops;
      flatten_logic(e, fn, ops);
      if (fn == "_&&_") return add<LogicNode<true>>(std::move(ops));
      return add<LogicNode<false>>(std::move(ops));
    }
    if (fn == "_<_" || fn == "_<=_" || fn == "_>_" || fn == "_>=_") {
      const Node* a = compile(*e.args[0]);
      const Node* b = compile(*e.args[1]);
      int op = fn == "_<_" ? 0 : fn == "_<=_" ? 1 : fn == "_>_" ? 2 : 3;
      const FnDef* f = find_function(fn, false, 2);
      if (a->is_const() != b->is_const()) {
        const Node* k = a->is_const() ? a : b;
        const Node* x = a->is_const() ? b : a;
        return add<RelConstNode>(f->fn, op, x, static_cast<const ConstNode*>(k)->v_, a->is_const());
      }
      return fold(add<Call2Node>(f->fn, a, b, kAnyKind, kAnyKind));
    }
    if (fn == "_?_:_")
      return add<CondNode>(compile(*e.args[0]), compile(*e.args[1]), compile(*e.args[2]));
    if (fn == "_==_" || fn == "_!=_") {
      const Node* a = compile(*e.args[0]);
      const Node* b = compile(*e.args[1]);
      bool ne = fn == "_!=_";
      if (a->is_const() && b->is_const()) return fold_eq(add<EqNode>(a, b, ne));
      for (int side = 0; side < 2; ++side) {
        const Node* k = side == 0 ? b : a;
        const Node* x = side == 0 ? a : b;
        if (!k->is_const()) continue;
        Value kv = static_cast<const ConstNode*>(k)->v_;
        if (kv.kind == Kind::kString || kv.kind == Kind::kInt || kv.kind == Kind::kBool)
          return add<EqConstNode>(x, kv, ne);
      }
      return add<EqNode>(a, b, ne);
    }
    // Namespaced global function written as a receiver call: math.abs(x), base64.encode(b).
    if (e.has_target) {
      std::string q = qualified_name(*e.args[0]);
      if (!q.empty() && find_local(q.substr(0, q.find('.'))) == nullptr &&
          var_node_exists(q) == false && function_name_exists(q + "." + fn)) {
        std::vector<const Node*> args;
        for (std::size_t k = 1; k < n; ++k) args.push_back(compile(*e.args[k]));
        return builtin(q + "." + fn, false, std::move(args));
      }
    }
    std::vector<const Node*> args;
    for (const auto& a : e.args) args.push_back(compile(*a));
    if (fn == "@in" && args[1]->is_const()) {
      Value c = static_cast<const ConstNode*>(args[1])->v_;
      if (c.kind == Kind::kList && c.list->size >= 4) return add<InConstNode>(args[0], c);
    }
    return builtin(fn, e.has_target, std::move(args));
  }

  void flatten_logic(const Expr& e, const std::string& fn, std::vector<Operand>& ops) {
    for (const auto& a : e.args) {
      if (a->k == Expr::K::kCall && a->text == fn)
        flatten_logic(*a, fn, ops);
      else
        ops.emplace_back(compile(*a));
    }
  }

  bool var_node_exists(const std::string& name) const {
    for (const auto& v : p_.var_names)
      if (v == name || v.rfind(name + ".", 0) == 0) return true;
    return false;
  }

  const Node* fold_eq(const Node* eq) {
    Ctx ctx{&p_.constants, nullptr, 0, p_.limits.cost_max, p_.limits.alloc_bytes_max};
    Value v = eq->eval(ctx);
    if (v.is_error()) return eq;
    return add<ConstNode>(v);
  }

  const Node* builtin(const std::string& fn, bool receiver, std::vector<const Node*> args) {
    const FnDef* f = find_function(fn, receiver, args.size());
    if (f == nullptr && !receiver && args.size() == 2) {
      // Some functions exist only in one call style; CEL treats f(a, b) and a.f(b) apart.
    }
    if (f == nullptr) return add<ErrorNode>(std::string(kNoOverload) + " for '" + fn + "'");
    std::vector<std::uint8_t> kinds = arg_kinds(*f, args.size());
    const Node* node;
    if (args.size() == 1)
      node = add<Call1Node>(f->fn, args[0], kinds[0]);
    else if (args.size() == 2 && args[1]->is_const() && !args[0]->is_const()) {
      Value k = static_cast<const ConstNode*>(args[1])->v_;
      if (receiver && k.kind == Kind::kString &&
          (fn == "startsWith" || fn == "endsWith" || fn == "contains")) {
        auto op = fn == "startsWith" ? StrConstNode::kStarts
                  : fn == "endsWith" ? StrConstNode::kEnds
                                     : StrConstNode::kContains;
        return add<StrConstNode>(op, args[0], k);
      }
      if (fn == "matches" && k.kind == Kind::kString) {
        RE2::Options opts;
        opts.set_log_errors(false);
        auto re = std::make_unique<RE2>(re2::StringPiece(k.s, k.aux), opts);
        // An invalid pattern stays a run-time error value, reported by the generic path.
        if (re->ok()) return add<MatchesConstNode>(args[0], std::move(re));
      }
      node = add<Call2ConstNode>(f->fn, args[0], k, kinds[0], kinds[1]);
    } else if (args.size() == 2) {
      node = add<Call2Node>(f->fn, args[0], args[1], kinds[0], kinds[1]);
    } else
      node = add<CallNNode>(f->fn, std::move(args), std::move(kinds));
    return fold(node);
  }

  std::uint32_t new_slot() { return p_.slot_count++; }

  const Node* macro(const Expr& e) {
    switch (e.macro) {
      case MacroKind::kBind: {
        const Node* init = compile(*e.args[0]);
        std::uint32_t slot = new_slot();
        scopes_.emplace_back(e.var1, slot);
        const Node* body = compile(*e.args[1]);
        scopes_.pop_back();
        return add<BindNode>(slot, init, body);
      }
      case MacroKind::kBlock: {
        std::vector<std::uint32_t> slots;
        std::vector<const Node*> inits;
        const Expr& list = *e.args[0];
        std::size_t pushed = 0;
        for (std::size_t k = 0; k < list.args.size(); ++k) {
          inits.push_back(compile(*list.args[k]));
          std::uint32_t slot = new_slot();
          slots.push_back(slot);
          scopes_.emplace_back("@index:" + std::to_string(k), slot);
          ++pushed;
        }
        const Node* result = compile(*e.args[1]);
        scopes_.resize(scopes_.size() - pushed);
        return add<BlockNode>(std::move(slots), std::move(inits), result);
      }
      default:
        break;
    }
    auto node = std::make_unique<ComprehensionNode>();
    node->kind = e.macro;
    node->range = compile(*e.args[0]);
    node->two_vars = !e.var2.empty();
    node->slot1 = new_slot();
    node->slot2 = node->two_vars ? new_slot() : 0;
    scopes_.emplace_back(e.var1, node->slot1);
    if (node->two_vars) scopes_.emplace_back(e.var2, node->slot2);
    node->filter = nullptr;
    if (e.args.size() == 3) {
      node->filter = compile(*e.args[1]);
      node->step = compile(*e.args[2]);
    } else {
      node->step = compile(*e.args[1]);
    }
    scopes_.resize(scopes_.size() - (node->two_vars ? 2 : 1));
    node->find_fast_predicate();
    p_.nodes.push_back(std::move(node));
    return p_.nodes.back().get();
  }

  ProgramImpl& p_;
  const Env& env_;
  bool checked_;
  std::vector<std::pair<std::string, std::uint32_t>> scopes_;
};

}  // namespace

// ---------------- public API ----------------

Env& Env::declare(std::string name, Type type) {
  for (auto& v : vars_) {
    if (v.first == name) {
      v.second = std::move(type);
      return *this;
    }
  }
  vars_.emplace_back(std::move(name), std::move(type));
  return *this;
}

Status Env::declare(std::string name, std::string_view type_text) {
  WARDEN_ASSIGN_OR_RETURN(Type t, Type::parse(type_text));
  declare(std::move(name), std::move(t));
  return Status();
}

Env& Env::declare_dyn_keys(const boost::json::object& attributes) {
  for (const auto& kv : attributes)
    if (find(kv.key()) == nullptr) declare(std::string(kv.key()), Type());
  return *this;
}

const Type* Env::find(std::string_view name) const {
  for (const auto& v : vars_)
    if (v.first == name) return &v.second;
  return nullptr;
}

Result<Program> compile(std::string_view source, const Env& env, const Limits& limits) {
  ParseLimits pl;
  pl.source_bytes_max = limits.source_bytes_max;
  pl.depth_max = limits.depth_max;
  WARDEN_ASSIGN_OR_RETURN(ExprPtr ast, parse(source, pl));
  if (limits.type_check) WARDEN_RETURN_IF_ERROR(check(*ast, env, source));
  auto impl = std::make_shared<ProgramImpl>();
  impl->limits = limits;
  impl->result_type = ast->type;
  Compiler c(*impl, env, limits.type_check);
  impl->root = c.compile(*ast);
  Program p;
  p.impl_ = std::move(impl);
  return p;
}

Value Program::eval(Activation& act) const {
  const ProgramImpl& p = *impl_;
  Ctx ctx{&act.scratch_, act.slots_.data(), 0, p.limits.cost_max, p.limits.alloc_bytes_max};
  return p.root->eval(ctx);
}

const Type& Program::result_type() const { return impl_->result_type; }
const std::vector<std::string>& Program::variable_names() const { return impl_->var_names; }

Activation::Activation(const Program& program) : program_(program.impl_) {
  // An unbound variable reads as an error value, so evaluation needs no extra check.
  slots_.assign(program_->slot_count, Value::error("no value bound for a declared variable"));
}

Activation::~Activation() = default;

void Activation::reset_scratch() { scratch_.reset(); }

Status Activation::set(std::string_view name, Value v) {
  for (std::size_t k = 0; k < program_->var_names.size(); ++k) {
    if (program_->var_names[k] == name) {
      slots_[k] = v;
      return Status();
    }
  }
  return Status(ErrorCode::VALIDATION_UNKNOWN_FIELD,
                "undeclared variable '" + std::string(name) + "'");
}

namespace {
const boost::json::value* lookup_path(const boost::json::object& obj, std::string_view name) {
  if (auto it = obj.find(name); it != obj.end()) return &it->value();
  std::size_t dot = name.find('.');
  while (dot != std::string_view::npos) {
    auto it = obj.find(name.substr(0, dot));
    if (it != obj.end() && it->value().is_object()) {
      if (const auto* v = lookup_path(it->value().get_object(), name.substr(dot + 1))) return v;
    }
    dot = name.find('.', dot + 1);
  }
  return nullptr;
}
}  // namespace

Status Activation::bind_json(const boost::json::object& attributes) {
  for (std::size_t k = 0; k < program_->var_names.size(); ++k) {
    const boost::json::value* j = lookup_path(attributes, program_->var_names[k]);
    if (j == nullptr) continue;
    Result<Value> v = value_from_json(*j, program_->var_types[k], arena_);
    if (!v.ok())
      return Status(v.status().code(),
                    "variable '" + program_->var_names[k] + "': " + v.status().message());
    slots_[k] = *v;
  }
  return Status();
}

}  // namespace warden::expr
