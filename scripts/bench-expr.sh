#!/usr/bin/env bash
# CEL benchmark: builds bench/expr_bench, installs the JavaScript peer @marcbachmann/cel-js
# into bench/peers/node_modules (npm registry), runs both on bench/expr_cases.json and prints
# per-expression CPU ns/eval and the speed-up over the peer. Both sides run REPS rounds and
# report their fastest (the least disturbed on a shared machine).
# Usage: scripts/bench-expr.sh [build-dir]   (default: build); BENCH_MIN_TIME (s), PEER_MIN_MS,
# REPS (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
min_time="${BENCH_MIN_TIME:-0.5}"
peer_ms="${PEER_MIN_MS:-500}"
reps="${REPS:-3}"

if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
ninja -C "$build" -j2 expr_bench >/dev/null

if [ ! -d bench/peers/node_modules/@marcbachmann/cel-js ]; then
  (cd bench/peers && npm install --no-audit --no-fund --loglevel=error >/dev/null)
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$build/bench/expr_bench" --benchmark_min_time="$min_time" --benchmark_repetitions="$reps" \
  --benchmark_format=json >"$tmp/warden.json"
for _ in $(seq "$reps"); do
  (cd bench/peers && node cel_js_bench.mjs ../expr_cases.json "$peer_ms") >>"$tmp/peer.jsonl"
done

python3 - "$tmp/warden.json" "$tmp/peer.jsonl" <<'PY'
import json, sys
warden = json.load(open(sys.argv[1]))
peer = {}
for j in map(json.loads, open(sys.argv[2])):
    if j["name"] not in peer or j["ns_per_eval"] < peer[j["name"]]["ns_per_eval"]:
        peer[j["name"]] = j
rows = {}
for b in warden["benchmarks"]:
    if b.get("run_type", "iteration") != "iteration":
        continue
    kind, name = b["run_name"].split("/", 1) if "run_name" in b else b["name"].split("/", 1)
    unit = {"ns": 1, "us": 1e3, "ms": 1e6}[b["time_unit"]]
    ns = b["cpu_time"] * unit
    row = rows.setdefault(name, {})
    row[kind] = min(ns, row.get(kind, float("inf")))
    if kind == "eval":
        row["label"] = b.get("label", "")
print(f'{"expression":24} {"compile ns":>11} {"eval ns":>9} {"cel-js ns":>10} {"speed-up":>9}  result (warden / cel-js)')
for name, r in rows.items():
    p = peer.get(name, {})
    pn = p.get("ns_per_eval", float("nan"))
    print(f'{name:24} {r["compile"]:11.0f} {r["eval"]:9.1f} {pn:10.1f} {pn / r["eval"]:8.1f}x  '
          f'{r["label"]} / {p.get("result", "?")}')
PY
