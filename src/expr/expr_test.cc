// Unit tests for the CEL implementation: parser errors, checker errors with positions,
// evaluation semantics, limits and JSON activations.
#include "expr/expr.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <thread>

namespace warden::expr {
namespace {

struct Fixture {
  Env env;
  Limits limits;
  Fixture() {
    env.declare("amount", Type(TypeKind::kInt));
    env.declare("model", Type(TypeKind::kString));
    env.declare("tags", Type::list(Type(TypeKind::kString)));
    env.declare("req", Type::map(Type(TypeKind::kString), Type()));
    env.declare("when", Type(TypeKind::kTimestamp));
    env.declare("price", Type(TypeKind::kDouble));
  }
  // Evaluates with the given JSON attributes; returns the CEL text of the result.
  std::string eval(std::string_view src, std::string_view json = "{}") {
    auto p = compile(src, env, limits);
    if (!p.ok()) return "COMPILE: " + p.status().message();
    Activation act(*p);
    Status st = act.bind_json(boost::json::parse(json).as_object());
    if (!st.ok()) return "BIND: " + st.message();
    return to_text(p->eval(act));
  }
};

TEST(ExprParse, Literals) {
  Fixture f;
  EXPECT_EQ(f.eval("0x1F + 1"), "32");
  EXPECT_EQ(f.eval("18446744073709551615u"), "18446744073709551615u");
  EXPECT_EQ(f.eval("-9223372036854775808"), "-9223372036854775808");
  EXPECT_EQ(f.eval("r'a\\n' + '\\x41\\u00e9'"), "\"a\\\\nA\xC3\xA9\"");
  EXPECT_EQ(f.eval("'''multi\nline'''"), "\"multi\\nline\"");
  EXPECT_EQ(f.eval("b'\\xff\\000'"), "b\"\\xff\\x00\"");
  EXPECT_EQ(f.eval("1.5e3"), "1500.0");
  EXPECT_EQ(f.eval("true ? 'a' : 'b'"), "\"a\"");
}

// to_text (what `warden expr eval` prints) is CEL literal syntax: the text evaluates back to the
// value. NaN and the infinities have no literal, so they print as their conversions.
TEST(ExprText, CelLiteralSyntax) {
  Fixture f;
  EXPECT_EQ(f.eval("double('NaN')"), "double(\"NaN\")");
  EXPECT_EQ(f.eval("[1.0 / 0.0, -1.0 / 0.0, -0.0, 1e21]"),
            "[double(\"Infinity\"), double(\"-Infinity\"), -0.0, 1e+21]");
  EXPECT_EQ(f.eval("'a\\x7f\\u00e9' + string(b'\\t')"), "\"a\\x7f\u00e9\\t\"");
  EXPECT_EQ(f.eval("{'k': [b'\\x00z', null]}"), "{\"k\": [b\"\\x00z\", null]}");
  for (const char* src :
       {"double('NaN')", "-double('Infinity')", "'a\\x7f\\u00e9\\n\"'",
        "[1u, 2.5, b'\\xff', duration('-1.5s'), timestamp('2024-01-01T00:00:00Z')]"}) {
    std::string text = f.eval(src);
    EXPECT_EQ(f.eval(text), text) << src;
  }
}

TEST(ExprParse, ErrorsCarryPositions) {
  Fixture f;
  EXPECT_EQ(f.eval("1 +"), "COMPILE: 1:4: unexpected end of expression");
  EXPECT_EQ(f.eval("a.\n  if"), "COMPILE: 1:1: undeclared reference to 'a'");
  EXPECT_EQ(f.eval("Msg{a: 1}"), "COMPILE: 1:4: message construction is not supported");
  EXPECT_EQ(f.eval("9223372036854775808"), "COMPILE: 1:1: integer literal out of range");
  EXPECT_EQ(f.eval("'abc"), "COMPILE: 1:1: unterminated string literal");
}

// The lexer and parser follow cel-go's grammar: a bytes prefix takes the raw marker after it,
// hex literals are "0x" only, true/false/null are no field names, a double literal beyond the
// double range is an error and __result__ (the macro accumulator) is no iteration variable.
TEST(ExprParse, GrammarFollowsCelGo) {
  Fixture f;
  EXPECT_EQ(f.eval("br'\\n' == b'\\\\n'"), "true");
  EXPECT_EQ(f.eval("BR'a' == b'a' && Br'a' == b'a' && R'a' == 'a'"), "true");
  EXPECT_EQ(f.eval("rb'\\n'").substr(0, 8), "COMPILE:");
  EXPECT_EQ(f.eval("RB'a'").substr(0, 8), "COMPILE:");
  EXPECT_EQ(f.eval("0X1F").substr(0, 8), "COMPILE:");
  EXPECT_EQ(f.eval("req.true").substr(0, 8), "COMPILE:");
  EXPECT_EQ(f.eval("req.null").substr(0, 8), "COMPILE:");
  EXPECT_EQ(f.eval("1.99e90000009"), "COMPILE: 1:1: double literal out of range");
  EXPECT_EQ(f.eval("1e-400"), "0.0");
  EXPECT_EQ(f.eval("[1].exists(__result__, __result__ > 0)"),
            "COMPILE: 1:12: iteration variable overwrites accumulator variable");
  EXPECT_EQ(f.eval("[1].map(x, x + 1)"), "[2]");
}

TEST(ExprCheck, TypeErrorsWithLineColumn) {
  Fixture f;
  EXPECT_EQ(f.eval("amount + 'x'"),
            "COMPILE: 1:8: found no matching overload for '_+_' applied to (int, string)");
  std::string e = f.eval("amount > 1 &&\n model + 1 == 2");
  EXPECT_NE(e.find("2:8: found no matching overload for '_+_'"), std::string::npos) << e;
  EXPECT_NE(f.eval("nope > 1").find("1:1: undeclared reference to 'nope'"), std::string::npos);
  EXPECT_NE(f.eval("tags.startsWith('a')").find("no matching overload"), std::string::npos);
  EXPECT_NE(f.eval("amount.all(x, x > 0)").find("cannot be range"), std::string::npos);
  EXPECT_EQ(f.eval("model == 1"),
            "COMPILE: 1:7: found no matching overload for '_==_' applied to (string, int)");
  EXPECT_EQ(f.eval("amount == dyn(1.0) && req.x != 'a' && model != null"),
            "error(\"no value bound "
            "for a declared variable\")");
}

TEST(ExprEval, PolicyExpression) {
  Fixture f;
  const char* src = "amount > 1000 && model.startsWith('gpt-')";
  EXPECT_EQ(f.eval(src, R"({"amount": 1500, "model": "gpt-4"})"), "true");
  EXPECT_EQ(f.eval(src, R"({"amount": 999, "model": "gpt-4"})"), "false");
  EXPECT_EQ(f.eval(src, R"({"amount": 1500, "model": "claude"})"), "false");
}

TEST(ExprEval, ArithmeticErrorsAreValues) {
  Fixture f;
  EXPECT_EQ(f.eval("9223372036854775807 + 1"), "error(\"integer overflow\")");
  EXPECT_EQ(f.eval("1 / 0"), "error(\"division by zero\")");
  EXPECT_EQ(f.eval("0u - 1u"), "error(\"unsigned integer overflow\")");
  EXPECT_EQ(f.eval("-9223372036854775807 - 2"), "error(\"integer overflow\")");
  EXPECT_EQ(f.eval("7 % 3 + 7 / 2"), "4");
}

TEST(ExprEval, LogicAbsorbsErrors) {
  Fixture f;
  EXPECT_EQ(f.eval("1/0 == 1 && false"), "false");
  EXPECT_EQ(f.eval("false && 1/0 == 1"), "false");
  EXPECT_EQ(f.eval("1/0 == 1 || true"), "true");
  EXPECT_EQ(f.eval("1/0 == 1 || false"), "error(\"division by zero\")");
}

TEST(ExprEval, HeterogeneousEquality) {
  Fixture f;
  EXPECT_EQ(f.eval("dyn(1) == 1u && dyn(1u) == 1.0 && dyn(1) != 'a'"), "true");
  EXPECT_EQ(f.eval("[1, 2] == [1.0, 2u]"), "true");  // [1.0, 2u] is a list(dyn)
  EXPECT_EQ(f.eval("{'a': 1} == dyn({'a': 1.0})"), "true");
  EXPECT_EQ(f.eval("dyn(2) in [1.0, 2.0] && 'a' in {'a': 1}"), "true");
  EXPECT_EQ(f.eval("[1, 2, 3][dyn(0u)] + [1, 2, 3][dyn(1.0)]"), "3");
}

// cel-go's checker rejects equality and indexing across types that do not agree without dyn().
TEST(ExprCheck, EqualityAndIndexTypesFollowCelGo) {
  Fixture f;
  EXPECT_EQ(f.eval("1 == 1.0"),
            "COMPILE: 1:3: found no matching overload for '_==_' applied to (int, double)");
  EXPECT_EQ(f.eval("0 == 1u"),
            "COMPILE: 1:3: found no matching overload for '_==_' applied to (int, uint)");
  EXPECT_EQ(f.eval("0 != 1u"),
            "COMPILE: 1:3: found no matching overload for '_!=_' applied to (int, uint)");
  EXPECT_EQ(f.eval("[1, 2, 3][0u]"),
            "COMPILE: 1:10: found no matching overload for '_[_]' applied to (list(int), uint)");
  EXPECT_EQ(f.eval("{'a': 1} == {'a': 1.0}").substr(0, 8), "COMPILE:");
  EXPECT_EQ(f.eval("2 in [1.0]").substr(0, 8), "COMPILE:");
  EXPECT_EQ(f.eval("amount == 2 && req.x == 1.0 && model != null && [1] != []",
                   R"({"amount": 2, "req": {"x": 1}, "model": "m"})"),
            "true");
}

TEST(ExprEval, MacrosAndHas) {
  Fixture f;
  std::string vars = R"({"tags": ["a", "bb", "ccc"], "req": {"user": {"id": 7}}})";
  EXPECT_EQ(f.eval("tags.all(t, size(t) > 0)", vars), "true");
  EXPECT_EQ(f.eval("tags.exists(t, t == 'bb')", vars), "true");
  EXPECT_EQ(f.eval("tags.exists_one(t, size(t) > 1)", vars), "false");
  EXPECT_EQ(f.eval("tags.map(t, size(t))", vars), "[1, 2, 3]");
  EXPECT_EQ(f.eval("tags.map(t, size(t) > 1, t + '!')", vars), "[\"bb!\", \"ccc!\"]");
  EXPECT_EQ(f.eval("tags.filter(t, t != 'a')", vars), "[\"bb\", \"ccc\"]");
  EXPECT_EQ(f.eval("has(req.user) && !has(req.admin) && req.user.id == 7", vars), "true");
  EXPECT_EQ(f.eval("req.admin", vars), "error(\"no such key: admin\")");
}

TEST(ExprEval, FastPathsKeepGenericSemantics) {
  Fixture f;
  EXPECT_EQ(f.eval("[1, 'a', 2].exists(x, x == 2)"), "true");
  EXPECT_EQ(f.eval("['b', 1].all(x, x.startsWith('a'))"), "false");
  EXPECT_EQ(f.eval("['a', 1].all(x, x.startsWith('a'))"), "error(\"no matching overload\")");
  EXPECT_EQ(f.eval("[1, 2.0, 3u].filter(x, x == 2)"), "[2.0]");
  EXPECT_EQ(f.eval("[2.0, 3u].map(x, x) == [2, 3]"), "true");
  EXPECT_EQ(f.eval("dyn(2.0) in [1, 2, 3, 4, 5] && !(dyn('a') in [1, 2, 3, 4, 5])"), "true");
  EXPECT_EQ(f.eval("amount > 1.5 && amount < 2u", R"({"amount": 2})"), "false");
  EXPECT_EQ(f.eval("amount >= 1.5 && 3 > amount", R"({"amount": 2})"), "true");
  EXPECT_EQ(f.eval("tags.filter(t, t.endsWith('b')).size()", R"({"tags": ["ab", "b", "c"]})"), "2");
}

TEST(ExprEval, StringsAndRegex) {
  Fixture f;
  EXPECT_EQ(f.eval("size('héllo') == 5 && 'hello'.contains('ell') && 'abc'.endsWith('bc')"),
            "true");
  EXPECT_EQ(f.eval("'gpt-4o'.matches('^gpt-[0-9]')"), "true");
  EXPECT_EQ(f.eval("'x'.matches('(')").substr(0, 6), "error(");
  EXPECT_EQ(f.eval("'a,b,c'.split(',')"), "[\"a\", \"b\", \"c\"]");
  EXPECT_EQ(f.eval("'%.99999999999999f|%d'.format([0.5, 3])").size(),
            106u);  // precision clamps to 100
}

TEST(ExprEval, Conversions) {
  Fixture f;
  EXPECT_EQ(f.eval("int('42') + int(2.9) + int(3u)"), "47");
  EXPECT_EQ(f.eval("uint(-1)"), "error(\"uint range error\")");
  EXPECT_EQ(f.eval("string(1.5) + string(true) + string(b'ok')"), "\"1.5trueok\"");
  EXPECT_EQ(f.eval("double('1e3')"), "1000.0");
  EXPECT_EQ(f.eval("type(1) == int && type('a') == string && type([]) == list"), "true");
}

TEST(ExprEval, TimeAndZones) {
  Fixture f;
  std::string vars = R"({"when": "2024-03-10T12:30:00Z"})";
  EXPECT_EQ(f.eval("when.getHours()", vars), "12");
  EXPECT_EQ(f.eval("when.getHours('Asia/Seoul')", vars), "21");
  EXPECT_EQ(f.eval("when.getHours('-05:30')", vars), "7");
  EXPECT_EQ(f.eval("when.getDayOfWeek()", vars), "0");
  // Found by the fuzzer: an absurd offset used to overflow int arithmetic.
  EXPECT_EQ(f.eval("when.getSeconds('4444444{}[4444:00')", vars).substr(0, 6), "error(");
  EXPECT_EQ(f.eval("when.getHours('+24:00')", vars).substr(0, 6), "error(");
  EXPECT_EQ(f.eval("when + duration('1h30m') > timestamp('2024-03-10T13:59:00Z')", vars), "true");
  EXPECT_EQ(f.eval("string(when - timestamp('2024-03-10T00:00:00Z'))", vars), "\"45000s\"");
  EXPECT_EQ(f.eval("timestamp('9999-12-31T23:59:59Z') + duration('1s')"),
            "error(\"timestamp out of range\")");
}

// duration() parses as Go's time.ParseDuration does (cel-go): digits below a nanosecond are
// truncated, malformed numbers are rejected and the range is int64 nanoseconds.
TEST(ExprEval, DurationParsingFollowsGo) {
  Fixture f;
  EXPECT_EQ(f.eval("string(duration('1.9999999999s'))"), "\"1.999999999s\"");
  EXPECT_EQ(f.eval("duration('1.9999999999s').getMilliseconds()"), "999");
  EXPECT_EQ(f.eval("duration('1.5ns') == duration('1ns')"), "true");
  EXPECT_EQ(f.eval("duration('0.0000000005s') == duration('0s')"), "true");
  EXPECT_EQ(f.eval("string(duration('-1.5h'))"), "\"-5400s\"");
  EXPECT_EQ(f.eval("duration('1..5s')"), "error(\"cannot parse duration '1..5s'\")");
  EXPECT_EQ(f.eval("duration('1.5.5s')"), "error(\"cannot parse duration '1.5.5s'\")");
  EXPECT_EQ(f.eval("duration('.s')"), "error(\"cannot parse duration '.s'\")");
  EXPECT_EQ(f.eval("duration('9223372036854775808ns')"),
            "error(\"cannot parse duration '9223372036854775808ns'\")");
  EXPECT_EQ(f.eval("string(duration('9223372036854775807ns'))"), "\"9223372036.854775807s\"");
  EXPECT_EQ(f.eval("string(duration('-9223372036854775808ns'))"), "\"-9223372036.854775808s\"");
  EXPECT_EQ(f.eval("duration('2562048h')"), "error(\"cannot parse duration '2562048h'\")");
}

// cel-go: uint() of any double below zero is an error; int() takes a leading '+' as Go's
// strconv.ParseInt does, uint() does not (strconv.ParseUint).
TEST(ExprEval, ConversionSignsFollowGo) {
  Fixture f;
  EXPECT_EQ(f.eval("uint(-0.5)"), "error(\"uint range error\")");
  EXPECT_EQ(f.eval("uint(-0.0)"), "0u");
  EXPECT_EQ(f.eval("uint(0.5)"), "0u");
  EXPECT_EQ(f.eval("int('+5')"), "5");
  EXPECT_EQ(f.eval("int('-5')"), "-5");
  EXPECT_EQ(f.eval("int('+-5')"), "error(\"cannot convert '+-5' to int\")");
  EXPECT_EQ(f.eval("int('+')"), "error(\"cannot convert '+' to int\")");
  EXPECT_EQ(f.eval("uint('+5')"), "error(\"cannot convert '+5' to uint\")");
}

// timestamp() accepts what Go's time.Parse(time.RFC3339) accepts (cel-go): no leap second, an
// upper-case 'T' and 'Z', offsets up to 24:00 and minutes up to 60; a zone argument is an IANA
// name or an offset, and "Z" is neither.
TEST(ExprEval, TimestampParsingFollowsGo) {
  Fixture f;
  auto bad = [](std::string_view s) {
    return "error(\"cannot parse timestamp '" + std::string(s) + "'\")";
  };
  EXPECT_EQ(f.eval("timestamp('2016-12-31T23:59:60Z')"), bad("2016-12-31T23:59:60Z"));
  EXPECT_EQ(f.eval("timestamp('2016-12-31T23:59:59+25:00')"), bad("2016-12-31T23:59:59+25:00"));
  EXPECT_EQ(f.eval("timestamp('2016-12-31T23:59:59+05:61')"), bad("2016-12-31T23:59:59+05:61"));
  EXPECT_EQ(f.eval("timestamp('2016-12-31t23:59:59Z')"), bad("2016-12-31t23:59:59Z"));
  EXPECT_EQ(f.eval("timestamp('2016-12-31T23:59:59z')"), bad("2016-12-31T23:59:59z"));
  EXPECT_EQ(f.eval("timestamp('2016-12-31T23:00:00+24:00').getHours()"), "23");
  EXPECT_EQ(f.eval("timestamp('2016-12-31T23:00:00-05:60').getHours()"), "5");
  EXPECT_EQ(f.eval("timestamp('2016-12-31T23:59:59Z').getHours('Z')"),
            "error(\"unknown time zone 'Z'\")");
  EXPECT_EQ(f.eval("timestamp('2016-12-31T23:59:59Z').getHours('UTC')"), "23");
}

// Past the last transition listed in the system's TZif files (2037 in Debian's) the zone's
// POSIX rule decides daylight saving time; cel-go (Go's time package) honours it.
TEST(ExprEval, ZonesKeepDaylightSavingTimeAfter2037) {
  Fixture f;
  EXPECT_EQ(f.eval("timestamp('2037-07-01T12:00:00Z').getHours('America/New_York')"), "8");
  EXPECT_EQ(f.eval("timestamp('2038-07-01T12:00:00Z').getHours('America/New_York')"), "8");
  EXPECT_EQ(f.eval("timestamp('2038-01-15T12:00:00Z').getHours('America/New_York')"), "7");
  // 2040-03-11 is the second Sunday of March: 06:59Z is 01:59 EST, 07:00Z is 03:00 EDT.
  EXPECT_EQ(f.eval("timestamp('2040-03-11T06:59:00Z').getHours('America/New_York')"), "1");
  EXPECT_EQ(f.eval("timestamp('2040-03-11T07:00:00Z').getHours('America/New_York')"), "3");
  EXPECT_EQ(f.eval("timestamp('2040-07-01T12:00:00Z').getHours('Europe/London')"), "13");
  EXPECT_EQ(f.eval("timestamp('2040-12-01T12:00:00Z').getHours('Europe/London')"), "12");
  // Southern hemisphere: daylight saving time spans the new year.
  EXPECT_EQ(f.eval("timestamp('2040-01-15T00:00:00Z').getHours('Australia/Sydney')"), "11");
  EXPECT_EQ(f.eval("timestamp('2040-07-01T00:00:00Z').getHours('Australia/Sydney')"), "10");
  EXPECT_EQ(f.eval("timestamp('2040-07-01T00:00:00Z').getHours('Asia/Seoul')"), "9");
}

TEST(ExprEval, BindingsMatchDeclaredTypes) {
  Fixture f;
  EXPECT_EQ(f.eval("price * 2.0", R"({"price": 3})"), "6.0");
  EXPECT_EQ(f.eval("amount", R"({"amount": "x"})").substr(0, 5), "BIND:");
  EXPECT_EQ(f.eval("amount + 1"), "error(\"no value bound for a declared variable\")");
}

TEST(ExprLimits, LengthDepthAndCost) {
  Fixture f;
  f.limits.source_bytes_max = 10;
  EXPECT_NE(f.eval("1 + 2 + 3 + 4 + 5").find("more than the limit"), std::string::npos);
  f.limits = Limits();
  std::string deep(200, '(');
  deep += "1" + std::string(200, ')');
  EXPECT_NE(f.eval(deep).find("nesting exceeds"), std::string::npos);
  f.limits.cost_max = 1000;
  EXPECT_EQ(f.eval("[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, "
                   "[1,2,3,4,5,6,7,8,9,10].all(c, a + b + c > 0)))"),
            "error(\"evaluation cost budget exceeded\")");
  f.limits = Limits();
  EXPECT_EQ(f.eval("[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, "
                   "[1,2,3,4,5,6,7,8,9,10].all(c, a + b + c > 0)))"),
            "true");
  const char* blowup =
      "cel.bind(a, 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', "
      "cel.bind(b, a + a + a + a + a + a + a + a, cel.bind(c, b + b + b + b + b + b + b + b, "
      "size(c + c))))";
  EXPECT_EQ(f.eval(blowup), "6144");
  f.limits.alloc_bytes_max = 1000;
  EXPECT_EQ(f.eval(blowup), "error(\"evaluation cost budget exceeded\")");
  f.limits = Limits();
  std::string chain = "1";
  for (int k = 0; k < 1200; ++k) chain += "+1";
  EXPECT_NE(f.eval(chain).find("operator chain longer than 1000"), std::string::npos);
}

TEST(ExprEval, ConstantRegexIsPrecompiled) {
  Fixture f;
  EXPECT_EQ(f.eval("model.matches('^gpt-[0-9]+o?$')", R"({"model": "gpt-4o"})"), "true");
  EXPECT_EQ(f.eval("model.matches('^gpt-[0-9]+o?$')", R"({"model": "gpt-4x"})"), "false");
  EXPECT_EQ(f.eval("model.matches('[')", R"({"model": "a"})").substr(0, 6), "error(");
}

TEST(ExprJson, TypedBindings) {
  Env env;
  ASSERT_TRUE(env.declare("n", "uint").ok());
  ASSERT_TRUE(env.declare("at", "timestamp").ok());
  ASSERT_TRUE(env.declare("ttl", "duration").ok());
  ASSERT_TRUE(env.declare("raw", "bytes").ok());
  ASSERT_TRUE(env.declare("req.tags", "list(string)").ok());
  EXPECT_FALSE(env.declare("bad", "list(").ok());
  auto p = compile("[n, at + ttl, raw, req.tags]", env);
  ASSERT_TRUE(p.ok()) << p.status().message();
  Activation act(*p);
  ASSERT_TRUE(act.bind_json(boost::json::parse(R"({"n": 5, "at": "2024-01-01T00:00:00Z",
      "ttl": "1h", "raw": "aGk=", "req": {"tags": ["x"]}})")
                                .as_object())
                  .ok());
  EXPECT_EQ(to_text(p->eval(act)), "[5u, timestamp(\"2024-01-01T01:00:00Z\"), b\"hi\", [\"x\"]]");
  EXPECT_EQ(p->result_type().to_string(), "list(dyn)");
  Activation bad(*p);
  EXPECT_EQ(bad.bind_json(boost::json::parse(R"({"n": -1})").as_object()).code(),
            ErrorCode::VALIDATION_WRONG_TYPE);
}

TEST(ExprJson, DynKeysAndConcurrentEval) {
  boost::json::object vars = boost::json::parse(R"({"a": 2, "b": [1, 2, 3]})").as_object();
  Env env;
  env.declare_dyn_keys(vars);
  auto p = compile("b.map(x, x * a).filter(y, y > 2)", env);
  ASSERT_TRUE(p.ok()) << p.status().message();
  auto worker = [&] {
    Activation act(*p);
    EXPECT_TRUE(act.bind_json(vars).ok());
    for (int k = 0; k < 2000; ++k) {
      EXPECT_EQ(to_text(p->eval(act)), "[4, 6]");
      act.reset_scratch();
    }
  };
  std::thread t1(worker), t2(worker);
  t1.join();
  t2.join();
}

TEST(ExprJson, ResultToJson) {
  Fixture f;
  auto p = compile("{'a': [1, 2.5, 'x', b'hi', null, true]}", f.env);
  ASSERT_TRUE(p.ok());
  Activation act(*p);
  EXPECT_EQ(boost::json::serialize(to_json(p->eval(act))),
            R"({"a":[1,2.5E0,"x","aGk=",null,true]})");
}

}  // namespace
}  // namespace warden::expr
