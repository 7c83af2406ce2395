// CEL lexer and recursive-descent parser (cel-spec langdef grammar), with macro recognition.
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>

#include "expr/ast.h"

namespace warden::expr {
namespace {

enum class Tok : std::uint8_t {
  kEof,
  kIdent,
  kInt,
  kUint,
  kDouble,
  kString,
  kBytes,
  kLParen,
  kRParen,
  kLBracket,
  kRBracket,
  kLBrace,
  kRBrace,
  kDot,
  kComma,
  kColon,
  kQuestion,
  kPlus,
  kMinus,
  kStar,
  kSlash,
  kPercent,
  kBang,
  kEq,
  kNe,
  kLt,
  kLe,
  kGt,
  kGe,
  kAnd,
  kOr,
  kIn,
  kQuoted,  // `backquoted` field name
};

struct Token {
  Tok t = Tok::kEof;
  std::uint32_t pos = 0;
  std::string text;  // identifier or decoded literal
  std::uint64_t u = 0;
  double d = 0;
};

bool is_reserved(std::string_view s) {
  static const char* const kWords[] = {
      "as",  "break", "const",   "continue",  "else",   "for", "function", "if",   "import",
      "let", "loop",  "package", "namespace", "return", "var", "void",     "while"};
  for (const char* w : kWords)
    if (s == w) return true;
  return false;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

int hex_val(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class Parser {
 public:
  Parser(std::string_view src, const ParseLimits& limits) : src_(src), limits_(limits) {}

  Result<ExprPtr> run() {
    if (src_.size() > limits_.source_bytes_max)
      return fail(0, "expression is " + std::to_string(src_.size()) +
                         " bytes, more than the limit of " +
                         std::to_string(limits_.source_bytes_max));
    next();
    ExprPtr e = expr();
    if (error_.empty() && tok_.t != Tok::kEof) set_error(tok_.pos, "unexpected token");
    if (!error_.empty()) return Status(ErrorCode::VALIDATION_FAILED, error_);
    return e;
  }

 private:
  Status fail(std::uint32_t pos, const std::string& msg) {
    return Status(ErrorCode::VALIDATION_FAILED, position_text(src_, pos) + ": " + msg);
  }
  void set_error(std::uint32_t pos, const std::string& msg) {
    if (error_.empty()) error_ = position_text(src_, pos) + ": " + msg;
    tok_.t = Tok::kEof;  // stop consuming
    pos_ = src_.size();
  }
  bool failed() const { return !error_.empty(); }

  // ---- lexer ----
  void skip_space() {
    while (pos_ < src_.size()) {
      char c = src_[pos_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f') {
        ++pos_;
      } else if (c == '/' && pos_ + 1 < src_.size() && src_[pos_ + 1] == '/') {
        while (pos_ < src_.size() && src_[pos_] != '\n') ++pos_;
      } else {
        break;
      }
    }
  }

  void next() {
    if (failed()) return;
    skip_space();
    tok_ = Token();
    tok_.pos = static_cast<std::uint32_t>(pos_);
    if (pos_ >= src_.size()) return;
    char c = src_[pos_];
    char n = pos_ + 1 < src_.size() ? src_[pos_ + 1] : '\0';
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      // String prefixes (any case): r, b, and br; the grammar puts the raw marker after the
      // bytes one (BYTES: [bB] STRING, STRING: [rR]? quoted), so "rb" is no prefix.
      std::size_t p = pos_;
      bool raw = false, bytes = false;
      if (src_[p] == 'b' || src_[p] == 'B') {
        bytes = true;
        ++p;
      }
      if (p < src_.size() && (src_[p] == 'r' || src_[p] == 'R')) {
        raw = true;
        ++p;
      }
      if ((raw || bytes) && p < src_.size() && (src_[p] == '"' || src_[p] == '\'')) {
        pos_ = p;
        lex_string(raw, bytes);
        return;
      }
      std::size_t start = pos_;
      while (pos_ < src_.size() &&
             (std::isalnum(static_cast<unsigned char>(src_[pos_])) || src_[pos_] == '_'))
        ++pos_;
      tok_.text = std::string(src_.substr(start, pos_ - start));
      tok_.t = tok_.text == "in" ? Tok::kIn : Tok::kIdent;
      return;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) ||
        (c == '.' && std::isdigit(static_cast<unsigned char>(n)))) {
      lex_number();
      return;
    }
    if (c == '"' || c == '\'') {
      lex_string(false, false);
      return;
    }
    if (c == '`') {
      std::size_t end = src_.find('`', pos_ + 1);
      if (end == std::string_view::npos) return set_error(tok_.pos, "unterminated `");
      tok_.text = std::string(src_.substr(pos_ + 1, end - pos_ - 1));
      tok_.t = Tok::kQuoted;
      pos_ = end + 1;
      return;
    }
    auto two = [&](char a, char b) { return c == a && n == b; };
    Tok t = Tok::kEof;
    int len = 1;
    if (two('=', '=')) {
      t = Tok::kEq;
      len = 2;
    } else if (two('!', '=')) {
      t = Tok::kNe;
      len = 2;
    } else if (two('<', '=')) {
      t = Tok::kLe;
      len = 2;
    } else if (two('>', '=')) {
      t = Tok::kGe;
      len = 2;
    } else if (two('&', '&')) {
      t = Tok::kAnd;
      len = 2;
    } else if (two('|', '|')) {
      t = Tok::kOr;
      len = 2;
    } else {
      switch (c) {
        case '(':
          t = Tok::kLParen;
          break;
        case ')':
          t = Tok::kRParen;
          break;
        case '[':
          t = Tok::kLBracket;
          break;
        case ']':
          t = Tok::kRBracket;
          break;
        case '{':
          t = Tok::kLBrace;
          break;
        case '}':
          t = Tok::kRBrace;
          break;
        case '.':
          t = Tok::kDot;
          break;
        case ',':
          t = Tok::kComma;
          break;
        case ':':
          t = Tok::kColon;
          break;
        case '?':
          t = Tok::kQuestion;
          break;
        case '+':
          t = Tok::kPlus;
          break;
        case '-':
          t = Tok::kMinus;
          break;
        case '*':
          t = Tok::kStar;
          break;
        case '/':
          t = Tok::kSlash;
          break;
        case '%':
          t = Tok::kPercent;
          break;
        case '!':
          t = Tok::kBang;
          break;
        case '<':
          t = Tok::kLt;
          break;
        case '>':
          t = Tok::kGt;
          break;
        default:
          return set_error(tok_.pos, std::string("unexpected character '") + c + "'");
      }
    }
    tok_.t = t;
    pos_ += len;
  }

  void lex_number() {
    std::size_t start = pos_;
    auto digits = [&](bool hex) {
      std::size_t s = pos_;
      while (pos_ < src_.size() && (hex ? std::isxdigit(static_cast<unsigned char>(src_[pos_]))
                                        : std::isdigit(static_cast<unsigned char>(src_[pos_]))))
        ++pos_;
      return pos_ - s;
    };
    // The grammar's HEX_LIT is '0x' HEXDIGIT+: "0X1F" is 0 followed by the identifier X1F.
    if (src_[pos_] == '0' && pos_ + 1 < src_.size() && src_[pos_ + 1] == 'x') {
      pos_ += 2;
      if (digits(true) == 0) return set_error(tok_.pos, "invalid hex literal");
      std::string_view h = src_.substr(start + 2, pos_ - start - 2);
      auto r = std::from_chars(h.data(), h.data() + h.size(), tok_.u, 16);
      if (r.ec != std::errc()) return set_error(tok_.pos, "integer literal out of range");
      finish_int();
      return;
    }
    digits(false);
    bool is_double = false;
    if (pos_ + 1 < src_.size() && src_[pos_] == '.' &&
        std::isdigit(static_cast<unsigned char>(src_[pos_ + 1]))) {
      is_double = true;
      ++pos_;
      digits(false);
    }
    if (pos_ < src_.size() && (src_[pos_] == 'e' || src_[pos_] == 'E')) {
      std::size_t save = pos_;
      ++pos_;
      if (pos_ < src_.size() && (src_[pos_] == '+' || src_[pos_] == '-')) ++pos_;
      if (digits(false) == 0) {
        pos_ = save;
      } else {
        is_double = true;
      }
    }
    std::string text(src_.substr(start, pos_ - start));
    if (is_double) {
      tok_.t = Tok::kDouble;
      tok_.d = std::strtod(text.c_str(), nullptr);
      // Like Go's strconv.ParseFloat in cel-go: beyond the double range is an error, not
      // infinity (an underflow to zero is not).
      if (std::isinf(tok_.d)) return set_error(tok_.pos, "double literal out of range");
      return;
    }
    auto r = std::from_chars(text.data(), text.data() + text.size(), tok_.u, 10);
    if (r.ec != std::errc()) return set_error(tok_.pos, "integer literal out of range");
    finish_int();
  }

  void finish_int() {
    if (pos_ < src_.size() && (src_[pos_] == 'u' || src_[pos_] == 'U')) {
      ++pos_;
      tok_.t = Tok::kUint;
    } else {
      tok_.t = Tok::kInt;
    }
    if (pos_ < src_.size() &&
        (std::isalnum(static_cast<unsigned char>(src_[pos_])) || src_[pos_] == '_'))
      set_error(tok_.pos, "invalid number literal");
  }

  void lex_string(bool raw, bool bytes) {
    char q = src_[pos_];
    bool triple = src_.substr(pos_, 3) == std::string(3, q);
    pos_ += triple ? 3 : 1;
    std::string out;
    while (true) {
      if (pos_ >= src_.size()) return set_error(tok_.pos, "unterminated string literal");
      char c = src_[pos_];
      if (triple) {
        if (src_.substr(pos_, 3) == std::string(3, q)) {
          pos_ += 3;
          break;
        }
      } else {
        if (c == q) {
          ++pos_;
          break;
        }
        if (c == '\n' || c == '\r') return set_error(tok_.pos, "newline in string literal");
      }
      if (c == '\\' && !raw) {
        if (!lex_escape(out, bytes)) return;
        continue;
      }
      if (c == '\\' && raw) {
        // A raw string keeps the backslash; an escaped quote still does not end it.
        out += c;
        ++pos_;
        if (pos_ < src_.size() && src_[pos_] == q) {
          out += q;
          ++pos_;
        }
        continue;
      }
      out += c;
      ++pos_;
    }
    if (!bytes && !valid_utf8(out)) return set_error(tok_.pos, "invalid UTF-8 in string literal");
    tok_.t = bytes ? Tok::kBytes : Tok::kString;
    tok_.text = std::move(out);
  }

  static bool valid_utf8(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
      unsigned char c = static_cast<unsigned char>(s[i]);
      int n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
      if (n < 0 || i + n >= s.size() + (n == 0 ? 1 : 0)) {
        if (n != 0) return false;
      }
      for (int k = 1; k <= n; ++k)
        if (i + k >= s.size() || (static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
      i += n + 1;
    }
    return true;
  }

  bool lex_escape(std::string& out, bool bytes) {
    std::uint32_t epos = static_cast<std::uint32_t>(pos_);
    ++pos_;
    if (pos_ >= src_.size()) {
      set_error(epos, "invalid escape");
      return false;
    }
    char c = src_[pos_++];
    switch (c) {
      case 'a':
        out += '\a';
        return true;
      case 'b':
        out += '\b';
        return true;
      case 'f':
        out += '\f';
        return true;
      case 'n':
        out += '\n';
        return true;
      case 'r':
        out += '\r';
        return true;
      case 't':
        out += '\t';
        return true;
      case 'v':
        out += '\v';
        return true;
      case '\\':
        out += '\\';
        return true;
      case '\'':
        out += '\'';
        return true;
      case '"':
        out += '"';
        return true;
      case '`':
        out += '`';
        return true;
      case '?':
        out += '?';
        return true;
      default:
        break;
    }
    auto read_hex = [&](int n, std::uint32_t& v) {
      v = 0;
      for (int k = 0; k < n; ++k) {
        if (pos_ >= src_.size() || hex_val(src_[pos_]) < 0) return false;
        v = v * 16 + static_cast<std::uint32_t>(hex_val(src_[pos_++]));
      }
      return true;
    };
    std::uint32_t v = 0;
    if (c == 'x' || c == 'X') {
      if (!read_hex(2, v)) {
        set_error(epos, "invalid \\x escape");
        return false;
      }
      if (bytes)
        out += static_cast<char>(v);
      else
        append_utf8(out, v);
      return true;
    }
    if (c == 'u' || c == 'U') {
      if (bytes) {
        set_error(epos, "\\u escape in bytes literal");
        return false;
      }
      if (!read_hex(c == 'u' ? 4 : 8, v) || v > 0x10FFFF || (v >= 0xD800 && v < 0xE000)) {
        set_error(epos, "invalid unicode escape");
        return false;
      }
      append_utf8(out, v);
      return true;
    }
    if (c >= '0' && c <= '3') {
      v = static_cast<std::uint32_t>(c - '0');
      for (int k = 0; k < 2; ++k) {
        if (pos_ >= src_.size() || src_[pos_] < '0' || src_[pos_] > '7') {
          set_error(epos, "invalid octal escape");
          return false;
        }
        v = v * 8 + static_cast<std::uint32_t>(src_[pos_++] - '0');
      }
      if (bytes)
        out += static_cast<char>(v);
      else
        append_utf8(out, v);
      return true;
    }
    set_error(epos, std::string("invalid escape sequence \\") + c);
    return false;
  }

  // ---- parser ----
  ExprPtr node(Expr::K k, std::uint32_t pos) {
    auto e = std::make_unique<Expr>();
    e->k = k;
    e->pos = pos;
    return e;
  }
  ExprPtr call(std::string fn, std::uint32_t pos, std::vector<ExprPtr> args) {
    auto e = node(Expr::K::kCall, pos);
    e->text = std::move(fn);
    e->args = std::move(args);
    return e;
  }
  ExprPtr binary(const char* fn, std::uint32_t pos, ExprPtr a, ExprPtr b) {
    std::vector<ExprPtr> args;
    args.push_back(std::move(a));
    args.push_back(std::move(b));
    return call(fn, pos, std::move(args));
  }
  bool expect(Tok t, const char* what) {
    if (failed()) return false;
    if (tok_.t != t) {
      set_error(tok_.pos, std::string("expected ") + what);
      return false;
    }
    next();
    return true;
  }

  struct DepthGuard {
    Parser* p;
    explicit DepthGuard(Parser* parser) : p(parser) { ++p->depth_; }
    ~DepthGuard() { --p->depth_; }
  };

  ExprPtr expr() {
    DepthGuard g(this);
    if (depth_ > limits_.depth_max) {
      set_error(tok_.pos,
                "expression nesting exceeds the limit of " + std::to_string(limits_.depth_max));
      return node(Expr::K::kLit, tok_.pos);
    }
    ExprPtr c = or_expr();
    if (tok_.t == Tok::kQuestion) {
      std::uint32_t pos = tok_.pos;
      next();
      ExprPtr a = or_expr();
      expect(Tok::kColon, "':'");
      ExprPtr b = expr();
      std::vector<ExprPtr> args;
      args.push_back(std::move(c));
      args.push_back(std::move(a));
      args.push_back(std::move(b));
      return call("_?_:_", pos, std::move(args));
    }
    return c;
  }

  // Operator chains build left-deep trees without recursing here, but every later pass
  // recurses over them: bound their length like nesting.
  bool chain_ok(int& n) {
    if (++n <= kChainMax) return true;
    set_error(tok_.pos, "operator chain longer than " + std::to_string(kChainMax));
    return false;
  }
  static constexpr int kChainMax = 1000;

  ExprPtr or_expr() {
    ExprPtr l = and_expr();
    int n = 0;
    while (tok_.t == Tok::kOr && !failed() && chain_ok(n)) {
      std::uint32_t pos = tok_.pos;
      next();
      l = binary("_||_", pos, std::move(l), and_expr());
    }
    return l;
  }
  ExprPtr and_expr() {
    ExprPtr l = relation();
    int n = 0;
    while (tok_.t == Tok::kAnd && !failed() && chain_ok(n)) {
      std::uint32_t pos = tok_.pos;
      next();
      l = binary("_&&_", pos, std::move(l), relation());
    }
    return l;
  }
  ExprPtr relation() {
    ExprPtr l = addition();
    int n = 0;
    while (!failed() && chain_ok(n)) {
      const char* fn = nullptr;
      switch (tok_.t) {
        case Tok::kEq:
          fn = "_==_";
          break;
        case Tok::kNe:
          fn = "_!=_";
          break;
        case Tok::kLt:
          fn = "_<_";
          break;
        case Tok::kLe:
          fn = "_<=_";
          break;
        case Tok::kGt:
          fn = "_>_";
          break;
        case Tok::kGe:
          fn = "_>=_";
          break;
        case Tok::kIn:
          fn = "@in";
          break;
        default:
          return l;
      }
      std::uint32_t pos = tok_.pos;
      next();
      l = binary(fn, pos, std::move(l), addition());
    }
    return l;
  }
  ExprPtr addition() {
    ExprPtr l = multiplication();
    int n = 0;
    while ((tok_.t == Tok::kPlus || tok_.t == Tok::kMinus) && !failed() && chain_ok(n)) {
      const char* fn = tok_.t == Tok::kPlus ? "_+_" : "_-_";
      std::uint32_t pos = tok_.pos;
      next();
      l = binary(fn, pos, std::move(l), multiplication());
    }
    return l;
  }
  ExprPtr multiplication() {
    ExprPtr l = unary();
    int n = 0;
    while ((tok_.t == Tok::kStar || tok_.t == Tok::kSlash || tok_.t == Tok::kPercent) &&
           !failed() && chain_ok(n)) {
      const char* fn = tok_.t == Tok::kStar ? "_*_" : tok_.t == Tok::kSlash ? "_/_" : "_%_";
      std::uint32_t pos = tok_.pos;
      next();
      l = binary(fn, pos, std::move(l), unary());
    }
    return l;
  }
  ExprPtr unary() {
    if (tok_.t == Tok::kBang || tok_.t == Tok::kMinus) {
      DepthGuard g(this);
      if (depth_ > limits_.depth_max) {
        set_error(tok_.pos,
                  "expression nesting exceeds the limit of " + std::to_string(limits_.depth_max));
        return node(Expr::K::kLit, tok_.pos);
      }
      return unary_op();
    }
    return member_suffix(primary());
  }

  ExprPtr unary_op() {
    if (tok_.t == Tok::kBang) {
      std::uint32_t pos = tok_.pos;
      next();
      std::vector<ExprPtr> args;
      args.push_back(unary());
      return call("!_", pos, std::move(args));
    }
    if (tok_.t == Tok::kMinus) {
      std::uint32_t pos = tok_.pos;
      next();
      // A minus directly before an int literal makes a negative literal, so that
      // -9223372036854775808 is representable.
      if (tok_.t == Tok::kInt) {
        std::uint64_t mag = tok_.u;
        std::uint32_t lpos = tok_.pos;
        next();
        if (tok_.t != Tok::kDot && tok_.t != Tok::kLBracket) {
          if (mag > 9223372036854775808ull) {
            set_error(lpos, "integer literal out of range");
            return node(Expr::K::kLit, pos);
          }
          auto e = node(Expr::K::kLit, pos);
          e->lit = LitKind::kInt;
          e->i = mag == 9223372036854775808ull ? INT64_MIN : -static_cast<std::int64_t>(mag);
          return e;
        }
        if (mag > 9223372036854775807ull) {
          set_error(lpos, "integer literal out of range");
          return node(Expr::K::kLit, pos);
        }
        auto lit = node(Expr::K::kLit, lpos);
        lit->lit = LitKind::kInt;
        lit->i = static_cast<std::int64_t>(mag);
        std::vector<ExprPtr> args;
        args.push_back(member_suffix(std::move(lit)));
        return call("-_", pos, std::move(args));
      }
      std::vector<ExprPtr> args;
      args.push_back(unary());
      return call("-_", pos, std::move(args));
    }
    return member_suffix(primary());
  }

  std::vector<ExprPtr> expr_list(Tok close, const char* what) {
    std::vector<ExprPtr> out;
    if (tok_.t == close) {
      next();
      return out;
    }
    while (!failed()) {
      out.push_back(expr());
      if (tok_.t == Tok::kComma) {
        next();
        if (tok_.t == close) {
          next();
          break;
        }
        continue;
      }
      expect(close, what);
      break;
    }
    return out;
  }

  ExprPtr member_suffix(ExprPtr e) {
    while (!failed()) {
      if (tok_.t == Tok::kDot) {
        std::uint32_t pos = tok_.pos;
        next();
        if (tok_.t != Tok::kIdent && tok_.t != Tok::kQuoted && tok_.t != Tok::kIn) {
          set_error(tok_.pos, "expected a field name after '.'");
          return e;
        }
        std::string name = tok_.t == Tok::kIn ? "in" : tok_.text;
        bool quoted = tok_.t == Tok::kQuoted;
        // true, false and null are literals, not identifiers, in the grammar.
        if (!quoted && (name == "true" || name == "false" || name == "null")) {
          set_error(tok_.pos, "reserved identifier '" + name + "'");
          return e;
        }
        next();
        if (tok_.t == Tok::kLParen && !quoted) {
          next();
          std::vector<ExprPtr> args = expr_list(Tok::kRParen, "')'");
          e = member_call(std::move(e), std::move(name), pos, std::move(args));
        } else {
          auto s = node(Expr::K::kSelect, pos);
          s->text = std::move(name);
          s->args.push_back(std::move(e));
          e = std::move(s);
        }
      } else if (tok_.t == Tok::kLBracket) {
        std::uint32_t pos = tok_.pos;
        next();
        ExprPtr idx = expr();
        expect(Tok::kRBracket, "']'");
        e = binary("_[_]", pos, std::move(e), std::move(idx));
      } else {
        return e;
      }
    }
    return e;
  }

  static bool is_ident(const ExprPtr& e, std::string_view name) {
    return e->k == Expr::K::kIdent && e->text == name;
  }

  bool take_var(ExprPtr& e, std::string& out) {
    if (e->k != Expr::K::kIdent) {
      set_error(e->pos, "argument must be a simple name");
      return false;
    }
    out = e->text;
    return true;
  }

  ExprPtr member_call(ExprPtr target, std::string name, std::uint32_t pos,
                      std::vector<ExprPtr> args) {
    std::size_t n = args.size();
    if (is_ident(target, "cel")) {
      if (name == "index" || name == "iterVar" || name == "accuVar") {
        std::string id = "@" + name;
        for (auto& a : args) {
          if (a->k != Expr::K::kLit || a->lit != LitKind::kInt) {
            set_error(a->pos, "cel." + name + " takes int literals");
            return node(Expr::K::kLit, pos);
          }
          id += ':';
          id += std::to_string(a->i);
        }
        auto e = node(Expr::K::kIdent, pos);
        e->text = std::move(id);
        return e;
      }
      if (name == "bind" && n == 3) {
        auto m = node(Expr::K::kMacro, pos);
        m->macro = MacroKind::kBind;
        if (!take_var(args[0], m->var1)) return m;
        m->args.push_back(std::move(args[1]));
        m->args.push_back(std::move(args[2]));
        return m;
      }
      if (name == "block" && n == 2) {
        auto m = node(Expr::K::kMacro, pos);
        m->macro = MacroKind::kBlock;
        if (args[0]->k != Expr::K::kList) {
          set_error(args[0]->pos, "cel.block takes a list literal");
          return m;
        }
        m->args.push_back(std::move(args[0]));
        m->args.push_back(std::move(args[1]));
        return m;
      }
    }
    MacroKind mk = MacroKind::kNone;
    int vars = 0;
    if ((name == "all" || name == "exists" || name == "exists_one" || name == "existsOne") &&
        (n == 2 || n == 3)) {
      mk = name == "all"      ? MacroKind::kAll
           : name == "exists" ? MacroKind::kExists
                              : MacroKind::kExistsOne;
      vars = static_cast<int>(n) - 1;
    } else if (name == "map" && (n == 2 || n == 3)) {
      mk = MacroKind::kMap;
      vars = 1;
    } else if (name == "filter" && n == 2) {
      mk = MacroKind::kFilter;
      vars = 1;
    } else if ((name == "transformList" || name == "transformMap") && (n == 3 || n == 4)) {
      mk = name == "transformList" ? MacroKind::kTransformList : MacroKind::kTransformMap;
      vars = 2;
    }
    if (mk != MacroKind::kNone) {
      auto m = node(Expr::K::kMacro, pos);
      m->macro = mk;
      if (!take_var(args[0], m->var1)) return m;
      if (vars == 2 && !take_var(args[1], m->var2)) return m;
      // cel-go names the accumulator of every comprehension macro __result__.
      for (const std::string* v : {&m->var1, &m->var2}) {
        if (*v == "__result__") {
          set_error(args[0]->pos, "iteration variable overwrites accumulator variable");
          return m;
        }
      }
      m->args.push_back(std::move(target));
      for (std::size_t k = static_cast<std::size_t>(vars); k < n; ++k)
        m->args.push_back(std::move(args[k]));
      return m;
    }
    auto c = node(Expr::K::kCall, pos);
    c->text = std::move(name);
    c->has_target = true;
    c->args.push_back(std::move(target));
    for (auto& a : args) c->args.push_back(std::move(a));
    return c;
  }

  ExprPtr primary() {
    std::uint32_t pos = tok_.pos;
    switch (tok_.t) {
      case Tok::kInt: {
        if (tok_.u > 9223372036854775807ull) {
          set_error(pos, "integer literal out of range");
          return node(Expr::K::kLit, pos);
        }
        auto e = node(Expr::K::kLit, pos);
        e->lit = LitKind::kInt;
        e->i = static_cast<std::int64_t>(tok_.u);
        next();
        return e;
      }
      case Tok::kUint: {
        auto e = node(Expr::K::kLit, pos);
        e->lit = LitKind::kUint;
        e->u = tok_.u;
        next();
        return e;
      }
      case Tok::kDouble: {
        auto e = node(Expr::K::kLit, pos);
        e->lit = LitKind::kDouble;
        e->d = tok_.d;
        next();
        return e;
      }
      case Tok::kString:
      case Tok::kBytes: {
        auto e = node(Expr::K::kLit, pos);
        e->lit = tok_.t == Tok::kString ? LitKind::kString : LitKind::kBytes;
        e->text = std::move(tok_.text);
        next();
        return e;
      }
      case Tok::kLParen: {
        next();
        ExprPtr e = expr();
        expect(Tok::kRParen, "')'");
        return e;
      }
      case Tok::kLBracket: {
        next();
        auto e = node(Expr::K::kList, pos);
        e->args = expr_list(Tok::kRBracket, "']'");
        return e;
      }
      case Tok::kLBrace: {
        next();
        auto e = node(Expr::K::kMap, pos);
        while (!failed() && tok_.t != Tok::kRBrace) {
          e->args.push_back(expr());
          expect(Tok::kColon, "':'");
          e->args.push_back(expr());
          if (tok_.t == Tok::kComma) {
            next();
            continue;
          }
          break;
        }
        expect(Tok::kRBrace, "'}'");
        return e;
      }
      case Tok::kDot:
      case Tok::kIdent: {
        bool leading_dot = tok_.t == Tok::kDot;
        if (leading_dot) {
          next();
          if (tok_.t != Tok::kIdent) {
            set_error(tok_.pos, "expected identifier after '.'");
            return node(Expr::K::kLit, pos);
          }
        }
        std::string name = tok_.text;
        next();
        if (name == "true" || name == "false") {
          auto e = node(Expr::K::kLit, pos);
          e->lit = LitKind::kBool;
          e->b = name == "true";
          return e;
        }
        if (name == "null") return node(Expr::K::kLit, pos);
        if (is_reserved(name)) {
          set_error(pos, "reserved identifier '" + name + "'");
          return node(Expr::K::kLit, pos);
        }
        if (tok_.t == Tok::kLParen) {
          next();
          std::vector<ExprPtr> args = expr_list(Tok::kRParen, "')'");
          if (name == "has" && !leading_dot) {
            if (args.size() != 1 || args[0]->k != Expr::K::kSelect) {
              set_error(pos, "invalid argument to has() macro");
              return node(Expr::K::kLit, pos);
            }
            args[0]->test_only = true;
            return std::move(args[0]);
          }
          return call(std::move(name), pos, std::move(args));
        }
        if (tok_.t == Tok::kLBrace) {
          set_error(tok_.pos, "message construction is not supported");
          return node(Expr::K::kLit, pos);
        }
        auto e = node(Expr::K::kIdent, pos);
        e->text = std::move(name);
        return e;
      }
      case Tok::kEof:
        set_error(pos, "unexpected end of expression");
        return node(Expr::K::kLit, pos);
      default:
        set_error(pos, "unexpected token");
        return node(Expr::K::kLit, pos);
    }
  }

  std::string_view src_;
  ParseLimits limits_;
  std::size_t pos_ = 0;
  Token tok_;
  std::string error_;
  int depth_ = 0;
};

}  // namespace

std::string position_text(std::string_view source, std::uint32_t pos) {
  int line = 1, col = 1;
  for (std::size_t k = 0; k < pos && k < source.size(); ++k) {
    if (source[k] == '\n') {
      ++line;
      col = 1;
    } else if ((static_cast<unsigned char>(source[k]) & 0xC0) != 0x80) {
      ++col;
    }
  }
  return std::to_string(line) + ":" + std::to_string(col);
}

Result<ExprPtr> parse(std::string_view source, const ParseLimits& limits) {
  Parser p(source, limits);
  return p.run();
}

}  // namespace warden::expr
