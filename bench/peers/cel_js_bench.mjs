// Measures @marcbachmann/cel-js on the same expressions and variables as bench/expr_bench.cc:
// each expression is parsed once with parse(), then the returned function is called in a loop.
// Prints one JSON line per expression: {"name": ..., "ns_per_eval": ..., "result": ...}, where
// ns_per_eval is process CPU time (user + system) per call, comparable to Google Benchmark's
// CPU column on a shared machine; wall_ns_per_eval is the wall-clock figure.
import {parse} from '@marcbachmann/cel-js'
import {readFileSync} from 'node:fs'

const cases = JSON.parse(readFileSync(process.argv[2], 'utf8'))
const minMs = Number(process.argv[3] || 500)

// Integral JSON numbers are CEL ints (BigInt in cel-js), the rest doubles; as in Warden.
function toCel(v) {
  if (typeof v === 'number') return Number.isInteger(v) ? BigInt(v) : v
  if (Array.isArray(v)) return v.map(toCel)
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toCel(x)]))
  return v
}

for (const c of cases) {
  const fn = parse(c.expr)
  const vars = toCel(c.vars)
  let result = fn(vars)
  for (let i = 0; i < 20000; i++) result = fn(vars)  // warm up the JIT
  let iters = 1000
  let ns = 0
  let wallNs = 0
  for (;;) {
    const c0 = process.cpuUsage()
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < iters; i++) result = fn(vars)
    const elapsed = Number(process.hrtime.bigint() - t0)
    const cpu = process.cpuUsage(c0)
    if (elapsed / 1e6 >= minMs) {
      ns = ((cpu.user + cpu.system) * 1000) / iters
      wallNs = elapsed / iters
      break
    }
    iters *= 2
  }
  console.log(JSON.stringify({name: c.name, ns_per_eval: ns, wall_ns_per_eval: wallNs,
                              result: String(result)}))
}
