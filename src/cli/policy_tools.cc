// `warden eval`, `warden policy test` and `warden expr eval|check`: offline policy tools that
// need no daemon and no database.
#include <boost/json/serialize.hpp>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>

#include "cli/commands.h"
#include "cli/policytest/policytest.h"
#include "core/json.h"
#include "expr/expr.h"

namespace warden::cli {
namespace json = boost::json;

namespace {

Result<std::string> read_text(const std::string& path) {
  if (path == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(ErrorCode::VALIDATION_INVALID_VALUE, "cannot read '" + path + "'");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// --vars: a JSON object given inline, or "@FILE".
Result<json::object> parse_vars(const std::string& vars) {
  if (vars.empty()) return json::object();
  std::string text = vars;
  if (vars.front() == '@') {
    WARDEN_ASSIGN_OR_RETURN(text, read_text(vars.substr(1)));
  }
  WARDEN_ASSIGN_OR_RETURN(json::value v, parse_json(text));
  if (!v.is_object()) {
    return Status(ErrorCode::VALIDATION_WRONG_TYPE, "--vars must be a JSON object");
  }
  return v.as_object();
}

Result<expr::Env> env_for(const ExprArgs& args, const json::object& vars) {
  expr::Env env;
  env.declare_dyn_keys(vars);
  for (const auto& d : args.decls) {
    const std::size_t eq = d.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Status(ErrorCode::VALIDATION_INVALID_VALUE,
                    "--decl '" + d + "': expected NAME=TYPE, e.g. amount=int");
    }
    if (Status s = env.declare(d.substr(0, eq), d.substr(eq + 1)); !s.ok()) {
      return Status(s.code(), "--decl '" + d + "': " + s.message());
    }
  }
  return env;
}

int report_error(const Status& s) {
  std::cerr << "error: " << s.to_string() << "\n";
  return kExitFailed;
}

}  // namespace

int run_eval(const EvalArgs& args) {
  auto text = read_text(args.request_file);
  if (!text.ok()) return report_error(text.status());
  auto request = parse_json(*text);
  if (!request.ok()) {
    return report_error(
        Status(request.status().code(), args.request_file + ": " + request.status().message()));
  }
  auto out = policytest::eval_offline(args.policies_dir, *request, args.explain);
  if (!out.ok()) return report_error(out.status());
  std::cout << json::serialize(out->decision) << "\n";
  return kExitOk;
}

int run_policy_test(const std::string& dir) {
  auto report = policytest::run_policy_tests(dir);
  if (!report.ok()) return report_error(report.status());
  std::cout << report->to_text();
  return report->failed() == 0 ? kExitOk : kExitFailed;
}

namespace {

// Parses --vars and the declarations and compiles the expression; prints the problem and
// returns nullopt (with *exit_code set) when any step fails.
std::optional<expr::Program> compile_cli_expression(const ExprArgs& args,
                                                    boost::json::object* vars, int* exit_code) {
  auto parsed = parse_vars(args.vars);
  if (!parsed.ok()) {
    *exit_code = report_error(parsed.status());
    return std::nullopt;
  }
  *vars = std::move(parsed).value();
  auto env = env_for(args, *vars);
  if (!env.ok()) {
    *exit_code = report_error(env.status());
    return std::nullopt;
  }
  auto program = expr::compile(args.source, *env);
  if (!program.ok()) {
    std::cerr << program.status().message() << "\n";
    *exit_code = kExitFailed;
    return std::nullopt;
  }
  return std::move(program).value();
}

}  // namespace

int run_expr_eval(const ExprArgs& args) {
  boost::json::object vars;
  int exit_code = kExitOk;
  auto program = compile_cli_expression(args, &vars, &exit_code);
  if (!program) return exit_code;
  expr::Activation act(*program);
  if (Status s = act.bind_json(vars); !s.ok()) return report_error(s);
  const expr::Value v = program->eval(act);
  if (v.is_error()) {
    std::cerr << "error: " << v.sv() << "\n";
    return kExitFailed;
  }
  std::cout << expr::to_text(v) << "\n";
  return kExitOk;
}

int run_expr_check(const ExprArgs& args) {
  boost::json::object vars;
  int exit_code = kExitOk;
  auto program = compile_cli_expression(args, &vars, &exit_code);
  if (!program) return exit_code;
  std::cout << program->result_type().to_string() << "\n";
  return kExitOk;
}

}  // namespace warden::cli
