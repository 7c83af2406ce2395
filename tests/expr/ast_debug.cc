#include "ast_debug.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <system_error>
#include <vector>

namespace warden::expr::testing {
namespace {

constexpr std::string_view kAccumulator = "@result";

// Go's unicode.IsPrint, approximated without Unicode tables: the runes it rejects that can
// occur in CEL source are controls, the C1 block, non-ASCII spaces and separators, format
// characters, surrogates, private use and noncharacters.
bool is_print(std::uint32_t r) {
  if (r < 0x20 || r == 0x7F || (r >= 0x80 && r < 0xA0)) return false;
  if (r == 0xA0 || r == 0xAD || r == 0x1680 || r == 0x180E || r == 0x3000 || r == 0xFEFF)
    return false;
  if ((r >= 0x2000 && r <= 0x200F) || (r >= 0x2028 && r <= 0x202F) || (r >= 0x205F && r <= 0x206F))
    return false;
  if ((r >= 0xD800 && r <= 0xF8FF) || (r >= 0xFFF9 && r <= 0xFFFB)) return false;
  if ((r & 0xFFFE) == 0xFFFE || (r >= 0xFDD0 && r <= 0xFDEF)) return false;
  if (r >= 0xE0000) return false;  // tags, variation selectors supplement, private use planes
  return r <= 0x10FFFF;
}

// Decodes one UTF-8 rune at s[i]; returns its length, 0 for an invalid sequence.
std::size_t decode_rune(std::string_view s, std::size_t i, std::uint32_t& r) {
  auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  unsigned char c = b(0);
  std::size_t n = c < 0x80                ? 1
                  : c >= 0xC2 && c < 0xE0 ? 2
                  : c >= 0xE0 && c < 0xF0 ? 3
                  : c >= 0xF0 && c < 0xF5 ? 4
                                          : 0;
  if (n == 0 || i + n > s.size()) return 0;
  r = n == 1 ? c : n == 2 ? c & 0x1F : n == 3 ? c & 0x0F : c & 0x07;
  for (std::size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 0;
    r = (r << 6) | (b(k) & 0x3F);
  }
  // Overlong forms and surrogates are invalid UTF-8, as Go decodes them.
  if ((n == 3 && r < 0x800) || (n == 4 && (r < 0x10000 || r > 0x10FFFF)) ||
      (r >= 0xD800 && r < 0xE000))
    return 0;
  return n;
}

void append_hex(std::string& out, std::uint32_t v, int digits) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%0*x", digits, v);
  out += buf;
}

// What the printer walks: a node of the parsed AST, or a node of a macro expansion (cel-go's
// parser/macro.go) that has no counterpart in Warden's AST.
struct Node {
  enum class K { kExisting, kCall, kList, kIdent, kBool, kInt } k = K::kExisting;
  const Expr* expr = nullptr;
  std::string text;  // call function or identifier
  std::vector<Node> args;
  std::int64_t i = 0;  // kBool, kInt

  static Node of(const Expr* e) { return Node{K::kExisting, e, {}, {}, 0}; }
  static Node call(std::string fn, std::vector<Node> args) {
    return Node{K::kCall, nullptr, std::move(fn), std::move(args), 0};
  }
  static Node list(std::vector<Node> items) {
    return Node{K::kList, nullptr, {}, std::move(items), 0};
  }
  static Node ident(std::string name) { return Node{K::kIdent, nullptr, std::move(name), {}, 0}; }
  static Node boolean(bool b) { return Node{K::kBool, nullptr, {}, {}, b ? 1 : 0}; }
  static Node integer(std::int64_t v) { return Node{K::kInt, nullptr, {}, {}, v}; }
};

class Writer {
 public:
  Writer(std::string_view source, bool canonical) : source_(source), canonical_(canonical) {}

  void expr(const Expr& e) {
    switch (e.k) {
      case Expr::K::kLit:
        append(literal(e));
        adorn(literal_kind(e.lit));
        return;
      case Expr::K::kIdent:
        append(e.text);
        adorn("*expr.Expr_IdentExpr");
        return;
      case Expr::K::kSelect:
        expr(*e.args[0]);
        append(".");
        append(e.text);
        if (e.test_only) append("~test-only~");
        adorn("*expr.Expr_SelectExpr");
        return;
      case Expr::K::kCall: {
        if (canonical_ && canonical_call(e)) return;
        std::size_t first = e.has_target ? 1 : 0;
        std::vector<Node> args;
        for (std::size_t k = first; k < e.args.size(); ++k)
          args.push_back(Node::of(e.args[k].get()));
        Node target = e.has_target ? Node::of(e.args[0].get()) : Node();
        call(e.has_target ? &target : nullptr, e.text, args);
        return;
      }
      case Expr::K::kList: {
        std::vector<Node> items;
        for (const auto& a : e.args) items.push_back(Node::of(a.get()));
        list(items);
        return;
      }
      case Expr::K::kMap:
        map(e);
        return;
      case Expr::K::kMacro:
        macro(e);
        return;
    }
  }

  std::string take() { return std::move(out_); }

 private:
  static std::string literal(const Expr& e) {
    switch (e.lit) {
      case LitKind::kNull:
        return "null";
      case LitKind::kBool:
        return e.b ? "true" : "false";
      case LitKind::kInt:
        return std::to_string(e.i);
      case LitKind::kUint:
        return std::to_string(e.u) + "u";
      case LitKind::kDouble:
        return go_float(e.d);
      case LitKind::kString:
        return go_quote(e.text);
      case LitKind::kBytes: {
        std::string out = "b";
        out += go_quote(e.text);
        return out;
      }
    }
    return "?";
  }

  static const char* literal_kind(LitKind k) {
    switch (k) {
      case LitKind::kNull:
        return "*expr.Constant_NullValue";
      case LitKind::kBool:
        return "*expr.Constant_BoolValue";
      case LitKind::kInt:
        return "*expr.Constant_Int64Value";
      case LitKind::kUint:
        return "*expr.Constant_Uint64Value";
      case LitKind::kDouble:
        return "*expr.Constant_DoubleValue";
      case LitKind::kString:
        return "*expr.Constant_StringValue";
      case LitKind::kBytes:
        return "*expr.Constant_BytesValue";
    }
    return "?";
  }

  static bool is_logical_pair(const Expr& e, std::string_view fn) {
    return e.k == Expr::K::kCall && !e.has_target && e.args.size() == 2 && e.text == fn;
  }

  static void chain_terms(const Expr& e, std::string_view fn, std::vector<Node>& terms) {
    if (!is_logical_pair(e, fn)) {
      terms.push_back(Node::of(&e));
      return;
    }
    chain_terms(*e.args[0], fn, terms);
    chain_terms(*e.args[1], fn, terms);
  }

  // cel-go's parser/helper.go balancer: terms[lo..hi+1] joined by the operator.
  static Node balanced(const std::string& fn, const std::vector<Node>& terms, std::size_t lo,
                       std::size_t hi) {
    std::size_t mid = (lo + hi + 1) / 2;
    Node left = mid == lo ? terms[mid] : balanced(fn, terms, lo, mid - 1);
    Node right = mid == hi ? terms[mid + 1] : balanced(fn, terms, mid + 1, hi);
    return Node::call(fn, {left, right});
  }

  bool canonical_call(const Expr& e) {
    if (e.text == "-_" && !e.has_target && e.args.size() == 1 && e.args[0]->k == Expr::K::kLit &&
        e.args[0]->lit == LitKind::kDouble) {
      append(go_float(-e.args[0]->d));
      adorn("*expr.Constant_DoubleValue");
      return true;
    }
    for (const char* fn : {"_&&_", "_||_"}) {
      if (!is_logical_pair(e, fn)) continue;
      std::vector<Node> terms;
      chain_terms(e, fn, terms);
      if (terms.size() < 4) return false;  // three terms balance to the left-deep shape
      node(balanced(fn, terms, 0, terms.size() - 2));
      return true;
    }
    return false;
  }

  void node(const Node& n) {
    switch (n.k) {
      case Node::K::kExisting:
        expr(*n.expr);
        return;
      case Node::K::kCall:
        call(nullptr, n.text, n.args);
        return;
      case Node::K::kList:
        list(n.args);
        return;
      case Node::K::kIdent:
        append(n.text);
        adorn("*expr.Expr_IdentExpr");
        return;
      case Node::K::kBool:
        append(n.i != 0 ? "true" : "false");
        adorn("*expr.Constant_BoolValue");
        return;
      case Node::K::kInt:
        append(std::to_string(n.i));
        adorn("*expr.Constant_Int64Value");
        return;
    }
  }

  void call(const Node* target, std::string_view fn, const std::vector<Node>& args) {
    if (target != nullptr) {
      node(*target);
      append(".");
    }
    append(fn);
    append("(");
    if (!args.empty()) {
      ++indent_;
      line();
      for (std::size_t k = 0; k < args.size(); ++k) {
        if (k > 0) {
          append(",");
          line();
        }
        node(args[k]);
      }
      --indent_;
      line();
    }
    append(")");
    adorn("*expr.Expr_CallExpr");
  }

  void list(const std::vector<Node>& items) {
    append("[");
    if (!items.empty()) {
      line();
      ++indent_;
      for (std::size_t k = 0; k < items.size(); ++k) {
        if (k > 0) {
          append(",");
          line();
        }
        node(items[k]);
      }
      --indent_;
      line();
    }
    append("]");
    adorn("*expr.Expr_ListExpr");
  }

  void map(const Expr& e) {
    append("{");
    if (!e.args.empty()) {
      line();
      ++indent_;
      for (std::size_t k = 0; k + 1 < e.args.size(); k += 2) {
        if (k > 0) {
          append(",");
          line();
        }
        expr(*e.args[k]);
        append(":");
        expr(*e.args[k + 1]);
        adorn("*expr.Expr_CreateStruct_Entry");
      }
      --indent_;
      line();
    }
    append("}");
    adorn("*expr.Expr_StructExpr");
  }

  // The name a member macro was written with (exists_one and existsOne are one MacroKind): the
  // node's position is the '.' before it.
  std::string written_name(const Expr& m) const {
    std::size_t p = m.pos;
    if (p < source_.size() && source_[p] == '.') ++p;
    while (p < source_.size() && std::isspace(static_cast<unsigned char>(source_[p]))) ++p;
    std::size_t start = p;
    while (p < source_.size() &&
           (std::isalnum(static_cast<unsigned char>(source_[p])) || source_[p] == '_'))
      ++p;
    return std::string(source_.substr(start, p - start));
  }

  void macro(const Expr& m) {
    bool two_vars = !m.var2.empty();
    switch (m.macro) {
      case MacroKind::kAll:
      case MacroKind::kExists:
      case MacroKind::kExistsOne:
        if (two_vars) return extension_call(m);
        return comprehension(m);
      case MacroKind::kMap:
      case MacroKind::kFilter:
        return comprehension(m);
      case MacroKind::kTransformList:
      case MacroKind::kTransformMap:
        return extension_call(m);
      case MacroKind::kBind: {
        Node cel = Node::ident("cel");
        return call(&cel, "bind",
                    {Node::ident(m.var1), Node::of(m.args[0].get()), Node::of(m.args[1].get())});
      }
      case MacroKind::kBlock: {
        Node cel = Node::ident("cel");
        return call(&cel, "block", {Node::of(m.args[0].get()), Node::of(m.args[1].get())});
      }
      case MacroKind::kHas:
      case MacroKind::kNone:
        break;
    }
    append("<unknown macro>");
  }

  // range.name(var1, var2, rest...) as a parser without the extension sees it.
  void extension_call(const Expr& m) {
    std::vector<Node> args = {Node::ident(m.var1), Node::ident(m.var2)};
    for (std::size_t k = 1; k < m.args.size(); ++k) args.push_back(Node::of(m.args[k].get()));
    Node range = Node::of(m.args[0].get());
    call(&range, written_name(m), args);
  }

  // cel-go's expansion of the standard macros (parser/macro.go).
  void comprehension(const Expr& m) {
    const Node acc = Node::ident(std::string(kAccumulator));
    Node init, cond = Node::boolean(true), step, result = acc;
    switch (m.macro) {
      case MacroKind::kAll:
        init = Node::boolean(true);
        cond = Node::call("@not_strictly_false", {acc});
        step = Node::call("_&&_", {acc, Node::of(m.args[1].get())});
        break;
      case MacroKind::kExists:
        init = Node::boolean(false);
        cond = Node::call("@not_strictly_false", {Node::call("!_", {acc})});
        step = Node::call("_||_", {acc, Node::of(m.args[1].get())});
        break;
      case MacroKind::kExistsOne:
        init = Node::integer(0);
        step = Node::call(
            "_?_:_", {Node::of(m.args[1].get()), Node::call("_+_", {acc, Node::integer(1)}), acc});
        result = Node::call("_==_", {acc, Node::integer(1)});
        break;
      case MacroKind::kMap:
      case MacroKind::kFilter: {
        init = Node::list({});
        Node item =
            m.macro == MacroKind::kFilter ? Node::ident(m.var1) : Node::of(m.args.back().get());
        Node append_item = Node::call("_+_", {acc, Node::list({item})});
        bool filtered = m.macro == MacroKind::kFilter || m.args.size() == 3;
        step = filtered ? Node::call("_?_:_", {Node::of(m.args[1].get()), append_item, acc})
                        : append_item;
        break;
      }
      default:
        append("<unknown macro>");
        return;
    }
    append("__comprehension__(");
    ++indent_;
    line();
    append("// Variable");
    line();
    append(m.var1);
    append(",");
    line();
    append("// Target");
    line();
    expr(*m.args[0]);
    append(",");
    line();
    append("// Accumulator");
    line();
    append(kAccumulator);
    append(",");
    line();
    append("// Init");
    line();
    node(init);
    append(",");
    line();
    append("// LoopCondition");
    line();
    node(cond);
    append(",");
    line();
    append("// LoopStep");
    line();
    node(step);
    append(",");
    line();
    append("// Result");
    line();
    node(result);
    append(")");
    --indent_;
    adorn("*expr.Expr_ComprehensionExpr");
  }

  void append(std::string_view s) {
    if (line_start_) {
      line_start_ = false;
      out_.append(2 * static_cast<std::size_t>(indent_), ' ');
    }
    out_ += s;
  }
  void adorn(std::string_view kind) {
    append("^#");
    append(kind);
    append("#");
  }
  void line() {
    out_ += '\n';
    line_start_ = true;
  }

  std::string_view source_;
  bool canonical_;
  std::string out_;
  int indent_ = 0;
  bool line_start_ = true;
};

}  // namespace

std::string go_quote(std::string_view s) {
  std::string out = "\"";
  std::size_t i = 0;
  while (i < s.size()) {
    std::uint32_t r = 0;
    std::size_t n = decode_rune(s, i, r);
    if (n == 0) {
      out += "\\x";
      append_hex(out, static_cast<unsigned char>(s[i]), 2);
      ++i;
      continue;
    }
    if (r == '"' || r == '\\') {
      out += '\\';
      out += static_cast<char>(r);
    } else if (is_print(r)) {
      out.append(s.substr(i, n));
    } else {
      switch (r) {
        case '\a':
          out += "\\a";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\v':
          out += "\\v";
          break;
        default:
          if (r < ' ' || r == 0x7F) {
            out += "\\x";
            append_hex(out, r, 2);
          } else if (r < 0x10000) {
            out += "\\u";
            append_hex(out, r, 4);
          } else {
            out += "\\U";
            append_hex(out, r, 8);
          }
      }
    }
    i += n;
  }
  out += '"';
  return out;
}

// strconv.FormatFloat(d, 'g', -1, 64): the shortest digits that round-trip, in exponent form
// when the decimal exponent is below -4 or at least 6 (with at least two exponent digits).
std::string go_float(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "+Inf" : "-Inf";
  if (d == 0) return std::signbit(d) ? "-0" : "0";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);  // "-1.2345e+07"
  bool neg = sci[0] == '-';
  if (neg) sci.erase(0, 1);
  std::size_t e = sci.find('e');
  std::string digits = sci.substr(0, e);
  int exp = std::atoi(sci.c_str() + e + 1);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  std::string out = neg ? "-" : "";
  if (exp < -4 || exp >= 6) {
    out += digits[0];
    if (digits.size() > 1) {
      out += '.';
      out += digits.substr(1);
    }
    out += exp < 0 ? "e-" : "e+";
    int a = std::abs(exp);
    if (a < 10) out += '0';
    out += std::to_string(a);
    return out;
  }
  int point = exp + 1;  // digits before the decimal point
  if (point <= 0) {
    out += "0.";
    out.append(static_cast<std::size_t>(-point), '0');
    out += digits;
  } else if (static_cast<std::size_t>(point) >= digits.size()) {
    out += digits;
    out.append(static_cast<std::size_t>(point) - digits.size(), '0');
  } else {
    out += digits.substr(0, static_cast<std::size_t>(point));
    out += '.';
    out += digits.substr(static_cast<std::size_t>(point));
  }
  return out;
}

std::string ast_debug_string(const Expr& root, std::string_view source, bool canonical) {
  Writer w(source, canonical);
  w.expr(root);
  return w.take();
}

}  // namespace warden::expr::testing
