// Google Benchmark for the CEL implementation: parse+check+compile per expression and
// evaluation per call, over the realistic policy expressions in bench/expr_cases.json (the same
// file the JavaScript peer in bench/peers/ measures; scripts/bench-expr.sh prints the ratios).
#include <benchmark/benchmark.h>

#include <boost/json.hpp>
#include <fstream>
#include <iostream>
#include <sstream>

#include "expr/expr.h"

namespace {

using warden::expr::Activation;
using warden::expr::Env;

struct Case {
  std::string name;
  std::string expr;
  Env env;
  boost::json::object vars;
};

std::vector<Case> load_cases() {
  std::ifstream in(WARDEN_EXPR_BENCH_CASES);
  std::stringstream ss;
  ss << in.rdbuf();
  std::vector<Case> out;
  boost::json::value doc = boost::json::parse(ss.str());
  for (const auto& v : doc.as_array()) {
    const auto& o = v.as_object();
    Case c;
    c.name = std::string(o.at("name").as_string());
    c.expr = std::string(o.at("expr").as_string());
    for (const auto& t : o.at("types").as_object()) {
      warden::Status st =
          c.env.declare(std::string(t.key()), std::string_view(t.value().as_string()));
      if (!st.ok()) std::cerr << c.name << ": " << st.to_string() << "\n";
    }
    c.vars = o.at("vars").as_object();
    out.push_back(std::move(c));
  }
  return out;
}

void bm_compile(benchmark::State& state, const Case* c) {
  for (auto _ : state) {
    auto p = warden::expr::compile(c->expr, c->env);
    benchmark::DoNotOptimize(p);
  }
}

void bm_eval(benchmark::State& state, const Case* c) {
  auto p = warden::expr::compile(c->expr, c->env);
  if (!p.ok()) {
    state.SkipWithError(p.status().message().c_str());
    return;
  }
  Activation act(*p);
  if (!act.bind_json(c->vars).ok()) {
    state.SkipWithError("bind failed");
    return;
  }
  warden::expr::Value v = p->eval(act);
  state.SetLabel(warden::expr::to_text(v));
  for (auto _ : state) {
    v = p->eval(act);
    benchmark::DoNotOptimize(v);
    act.reset_scratch();
  }
}

}  // namespace

int main(int argc, char** argv) {
  static std::vector<Case> cases = load_cases();
  for (const Case& c : cases) {
    benchmark::RegisterBenchmark(("compile/" + c.name).c_str(), bm_compile, &c);
    benchmark::RegisterBenchmark(("eval/" + c.name).c_str(), bm_eval, &c);
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
